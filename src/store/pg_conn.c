/*
 * pg_conn.c - the PostgreSQL back end's connections: the options and the
 * session settings every connection gets (synchronous_commit on, statement
 * and lock timeouts), and the reconnect backoff that makes calls fail at
 * once while the database is down, one caller at a time trying again.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/alloc.h"
#include "gatehouse/clock.h"
#include "gatehouse/errors.h"
#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/store.h"
#include "gatehouse/store_pg.h"
#include "pg_int.h"

/*
 * While the database is down (the last connect failed), a connect is tried
 * again only after the backoff, by one caller at a time: every other call
 * fails at once instead of waiting for the connect timeout.
 */
static bool connect_allowed(struct pg_ctx *ctx, bool *retry)
{
	pthread_mutex_lock(&ctx->lock);
	bool ok = !ctx->backoff_ms || (!ctx->connecting && gh_mono_ns() >= ctx->next_try_ns);
	*retry = ok && ctx->backoff_ms;
	if (*retry)
		ctx->connecting = true;
	pthread_mutex_unlock(&ctx->lock);
	return ok;
}

/* retry: this was the one attempt after a backoff (only such failures double it). */
static void connect_done(struct pg_ctx *ctx, bool ok, bool retry)
{
	pthread_mutex_lock(&ctx->lock);
	if (retry)
		ctx->connecting = false;
	if (ok) {
		if (ctx->backoff_ms)
			log_info("database %s reachable again", ctx->shown);
		ctx->backoff_ms = 0;
	} else if (retry || !ctx->backoff_ms) {
		ctx->backoff_ms = ctx->backoff_ms ? ctx->backoff_ms * 2 : 100;
		if (ctx->backoff_ms > 5000)
			ctx->backoff_ms = 5000;
		/* Jitter: between half and all of the backoff, so nodes do not reconnect in step. */
		uint64_t ms = (uint64_t)ctx->backoff_ms / 2 +
			      gh_mono_ns() % (uint64_t)(ctx->backoff_ms / 2 + 1);
		ctx->next_try_ns = gh_mono_ns() + ms * 1000000ull;
	}
	pthread_mutex_unlock(&ctx->lock);
}

int store_pg_conn_open(void *ctxp, bool writer, struct store_conn **out, char *err,
		       size_t errlen)
{
	(void)writer;
	struct pg_ctx *ctx = ctxp;
	*out = NULL;
	bool retry;
	if (!connect_allowed(ctx, &retry)) {
		/* Said once per attempt (below), not once per call. */
		if (errlen)
			err[0] = '\0';
		metrics_inc(M_STORE_ERRORS);
		return GH_EUNAVAIL;
	}
	const char *keys[6], *vals[6];
	int n = 0;
	keys[n] = "fallback_application_name"; vals[n++] = "gatehouse";
	keys[n] = "connect_timeout"; vals[n++] = ctx->connect_timeout;
	keys[n] = "dbname"; vals[n++] = ctx->url;
	if (ctx->password) {
		keys[n] = "password";
		vals[n++] = ctx->password;
	}
	keys[n] = NULL;
	vals[n] = NULL;
	struct pg_conn *c = xcalloc(1, sizeof *c);
	c->base.be = &store_pg_backend;
	c->pg = PQconnectdbParams(keys, vals, 1);
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
		msg[strcspn(msg, "\n")] = '\0';
		snprintf(err, errlen, "cannot connect to database %s: %s", ctx->shown, msg);
		store_pg_conn_close(&c->base);
		connect_done(ctx, false, retry);
		return GH_EUNAVAIL;
	}
	PGresult *r = PQexec(c->pg, ctx->session_sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		store_pg_note_error(c, r);
		snprintf(err, errlen, "cannot configure the connection to %s: %s", ctx->shown,
			 c->errmsg);
		store_pg_conn_close(&c->base);
		connect_done(ctx, false, retry);
		return GH_EUNAVAIL;
	}
	PQclear(r);
	connect_done(ctx, true, retry);
	*out = &c->base;
	return 0;
}

int store_pg_open(const struct store_options *opt, void **out_ctx, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	struct pg_ctx *ctx = xcalloc(1, sizeof *ctx);
	ctx->url = xstrdup(opt->path);
	ctx->shown = store_database_redacted(opt->path);
	const struct store_pg_options *o = opt->pg;
	int64_t connect_s = o ? o->connect_timeout_s : 2;
	int64_t stmt_ms = o ? o->statement_timeout_ms : 5000;
	int64_t lock_ms = o ? o->lock_timeout_ms : 2000;
	ctx->auto_migrate = o ? o->auto_migrate : true;
	if (o && o->password && *o->password)
		ctx->password = xstrdup(o->password);
	snprintf(ctx->connect_timeout, sizeof ctx->connect_timeout, "%lld",
		 (long long)(connect_s < 2 ? 2 : connect_s));
	snprintf(ctx->session_sql, sizeof ctx->session_sql,
		 "SET synchronous_commit = on; SET statement_timeout = %lld; "
		 "SET lock_timeout = %lld", (long long)stmt_ms, (long long)lock_ms);
	ctx->must_exist = opt->must_exist;
	pthread_mutex_init(&ctx->lock, NULL);
	*out_ctx = ctx;
	return 0;
}

void store_pg_close(void *ctxp)
{
	struct pg_ctx *ctx = ctxp;
	if (!ctx)
		return;
	pthread_mutex_destroy(&ctx->lock);
	free(ctx->url);
	free(ctx->shown);
	if (ctx->password) {
		memset(ctx->password, 0, strlen(ctx->password));
		free(ctx->password);
	}
	free(ctx);
}
