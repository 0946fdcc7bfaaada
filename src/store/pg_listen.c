/*
 * pg_listen.c - the PostgreSQL back end's change notices: a connection of
 * its own that LISTENs on gatehouse_keys, so that a key written on one node
 * (NOTIFY in the writing transaction, Q_KEYS_NOTIFY) reaches every other
 * node at its commit rather than at the next poll. Notices sent while the
 * connection was away are lost: a (re)connection counts as a notice, and
 * the one-second poll of data_version stays as the fallback.
 */
#include <poll.h>
#include <stdlib.h>

#include "gatehouse/alloc.h"
#include "gatehouse/errors.h"
#include "gatehouse/log.h"
#include "pg_int.h"

struct pg_listener {
	struct pg_ctx *ctx;
	PGconn *pg;
	bool said_down;            /* logged once per outage */
};

void *store_pg_listen_open(void *ctx)
{
	struct pg_listener *l = xcalloc(1, sizeof *l);
	l->ctx = ctx;
	return l;
}

void store_pg_listen_close(void *lp)
{
	struct pg_listener *l = lp;
	if (!l)
		return;
	if (l->pg)
		PQfinish(l->pg);
	free(l);
}

static void drop(struct pg_listener *l)
{
	PQfinish(l->pg);
	l->pg = NULL;
}

/* Connected and listening: 1 just now (a notice may have been missed), 0 already, or -1. */
static int ensure(struct pg_listener *l)
{
	if (l->pg && PQstatus(l->pg) == CONNECTION_OK)
		return 0;
	if (l->pg)
		drop(l);
	const char *keys[5] = { "fallback_application_name", "connect_timeout", "dbname" };
	const char *vals[5] = { "gatehouse", l->ctx->connect_timeout, l->ctx->url };
	int n = 3;
	if (l->ctx->password) {
		keys[n] = "password";
		vals[n++] = l->ctx->password;
	}
	keys[n] = vals[n] = NULL;
	l->pg = PQconnectdbParams(keys, vals, 1);
	PGresult *r = NULL;
	if (!l->pg || PQstatus(l->pg) != CONNECTION_OK ||
	    PQresultStatus(r = PQexec(l->pg, "LISTEN gatehouse_keys")) != PGRES_COMMAND_OK) {
		PQclear(r);
		if (!l->said_down)
			log_debug("key change notices from %s unavailable: polling only",
				  l->ctx->shown);
		l->said_down = true;
		if (l->pg)
			drop(l);
		return -1;
	}
	PQclear(r);
	l->said_down = false;
	log_debug("listening for key change notices on %s", l->ctx->shown);
	return 1;
}

int store_pg_listen_wait(void *lp, int timeout_ms)
{
	struct pg_listener *l = lp;
	int up = ensure(l);
	if (up < 0)
		return GH_EUNAVAIL;
	if (up > 0)
		return 1;
	struct pollfd p = { .fd = PQsocket(l->pg), .events = POLLIN };
	int rc = poll(&p, 1, timeout_ms);
	if (rc <= 0)
		return 0;   /* timed out (or a signal): the caller asks again */
	if (!PQconsumeInput(l->pg)) {
		drop(l);
		return GH_EUNAVAIL;
	}
	bool notified = false;
	PGnotify *note;
	while ((note = PQnotifies(l->pg))) {
		notified = true;
		PQfreemem(note);
	}
	return notified;
}
