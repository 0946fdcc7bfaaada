/*
 * pg.c - the PostgreSQL back end of the store, on libpq (connections are
 * opened in pg_conn.c): statements prepared by name on first use
 * per connection, parameters sent with PQexecPrepared (bytea binary, the
 * rest text), rows read in binary; in a transaction BEGIN, the writes whose
 * result is only success (deferrable()) and a statement sent behind another
 * (store_backend.follow) share one libpq pipeline (pipeline_run), COMMIT
 * going with the last writes; and SQLSTATE mapping: 23505/23503 a
 * conflict; 40001/40P01 retried by store_submit; connection classes, lock
 * timeouts and read-only hosts unavailable with the connection dropped.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gatehouse/alloc.h"
#include "gatehouse/clock.h"
#include "gatehouse/errors.h"
#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/store.h"
#include "gatehouse/store_pg.h"
#include "pg_int.h"

#define CONN(c) ((struct pg_conn *)(void *)(c))
#define STMT(s) ((struct pg_stmt *)(void *)(s))

/* Type oids of the columns read in binary. */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23

/* ---- errors ---- */

void store_pg_note_error(struct pg_conn *c, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(c->sqlstate, sizeof c->sqlstate, "%s", state ? state : "");
	/*
	 * The primary message only: DETAIL can quote a failing row (key
	 * material, a password hash) and must never reach a log line.
	 */
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!msg || !*msg)
		msg = PQerrorMessage(c->pg);
	snprintf(c->errmsg, sizeof c->errmsg, "%s", msg ? msg : "unknown error");
	size_t n = strlen(c->errmsg);
	while (n && (c->errmsg[n - 1] == '\n' || c->errmsg[n - 1] == ' '))
		c->errmsg[--n] = '\0';
	if (PQstatus(c->pg) == CONNECTION_BAD)
		c->bad = true;
	PQclear(res);
}

int store_pg_map_error(struct pg_conn *c, const char *what)
{
	const char *st = c->sqlstate;
	if (!strcmp(st, "23505") || !strcmp(st, "23503"))
		return GH_ECONFLICT;
	metrics_inc(M_STORE_ERRORS);
	if (!strcmp(st, "40001") || !strcmp(st, "40P01")) {
		c->retry = true;
		log_warn("database %s in %s: %s (retried)",
			 !strcmp(st, "40001") ? "serialization failure" : "deadlock", what, c->errmsg);
		return GH_EUNAVAIL;
	}
	int err = GH_EINTERNAL;
	if (!*st || !strncmp(st, "08", 2) || !strcmp(st, "57P01") || !strcmp(st, "57P02") ||
	    !strcmp(st, "57P03") || !strncmp(st, "53", 2) || !strcmp(st, "55P03") ||
	    !strcmp(st, "25006")) {
		/* The server went away, is full, or this host is read-only now: a new connection. */
		c->bad = true;
		err = GH_EUNAVAIL;
	} else if (!strcmp(st, "57014")) {
		err = GH_EUNAVAIL; /* statement_timeout */
	}
	log_error("database error in %s: %s%s%s", what, c->errmsg, *st ? " SQLSTATE " : "", st);
	return err;
}

int store_pg_exec(struct pg_conn *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c->pg, sql);
	ExecStatusType t = PQresultStatus(r);
	if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK) {
		PQclear(r);
		return 0;
	}
	store_pg_note_error(c, r);
	return store_pg_map_error(c, what);
}

static int pg_fail(struct store_conn *c, const char *what)
{
	return store_pg_map_error(CONN(c), what);
}

static bool pg_conn_ok(struct store_conn *c)
{
	if (CONN(c)->bad || PQstatus(CONN(c)->pg) != CONNECTION_OK)
		return false;
	/*
	 * A pooled connection is idle: anything to read means the server ended
	 * it (a restart, a failover) and its next use would fail with a 503
	 * after the database is back. Replaced instead.
	 */
	struct pollfd p = { .fd = PQsocket(CONN(c)->pg), .events = POLLIN };
	return poll(&p, 1, 0) == 0;
}

static bool pg_retryable(struct store_conn *c)
{
	return CONN(c)->retry;
}

static const char *pg_query_text(enum store_query q)
{
	return store_pg_query_sql[q];
}

/* ---- transactions ---- */

/*
 * BEGIN is not sent on its own: it goes with the transaction's first
 * statement, in one pipeline (a round trip less per write).
 */
static int pg_begin(struct store_conn *c)
{
	CONN(c)->retry = false;
	CONN(c)->begin_pending = true;
	CONN(c)->follow = NULL;
	return 0;
}

static PGresult *pipeline_run(struct pg_conn *c, struct pg_stmt *s, const char *final_sql);
static int flush_pending(struct pg_conn *c, const char *what);
static void deferred_clear(struct pg_conn *c);

static int pg_commit(struct store_conn *base)
{
	struct pg_conn *c = CONN(base);
	c->follow = NULL;
	if (c->begin_pending && !c->ndeferred) { /* nothing ran */
		c->begin_pending = false;
		return 0;
	}
	/* The deferred writes go with the COMMIT: one round trip. */
	PGresult *r = c->ndeferred || c->begin_pending ? pipeline_run(c, NULL, "COMMIT")
						       : PQexec(c->pg, "COMMIT");
	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
		if (r)
			store_pg_note_error(c, r);
		int rc = store_pg_map_error(c, "COMMIT");
		/* A deferred write failed: the COMMIT never ran, the transaction is aborted. */
		if (PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
			PGresult *rb = PQexec(c->pg, "ROLLBACK");
			PQclear(rb);
		}
		return rc;
	}
	/* A transaction that failed inside answers COMMIT with ROLLBACK: nothing kept. */
	bool rolled_back = !strcmp(PQcmdStatus(r), "ROLLBACK");
	PQclear(r);
	if (rolled_back) {
		log_error("database transaction was rolled back at COMMIT");
		return GH_EUNAVAIL;
	}
	return 0;
}

static int pg_rollback(struct store_conn *base)
{
	struct pg_conn *c = CONN(base);
	deferred_clear(c); /* never sent */
	c->follow = NULL;
	if (c->begin_pending) {
		c->begin_pending = false;
		return 0;
	}
	return store_pg_exec(c, "ROLLBACK", "ROLLBACK");
}

static int pg_savepoint(struct store_conn *c)
{
	int rc = flush_pending(CONN(c), "SAVEPOINT");
	return rc ? rc : store_pg_exec(CONN(c), "SAVEPOINT w", "SAVEPOINT");
}

static int pg_release(struct store_conn *c)
{
	int rc = flush_pending(CONN(c), "RELEASE");
	return rc ? rc : store_pg_exec(CONN(c), "RELEASE w", "RELEASE");
}

static int pg_rollback_to(struct store_conn *c)
{
	/* Writes deferred since the savepoint are what is rolled back: never sent. */
	deferred_clear(CONN(c));
	int rc = flush_pending(CONN(c), "ROLLBACK TO");
	return rc ? rc : store_pg_exec(CONN(c), "ROLLBACK TO w", "ROLLBACK TO");
}

/* Reads that must agree with each other see one snapshot. */
static int pg_read_begin(struct store_conn *c)
{
	return store_pg_exec(CONN(c), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "BEGIN");
}

static int pg_read_end(struct store_conn *c)
{
	return store_pg_exec(CONN(c), "COMMIT", "COMMIT");
}

static bool pg_in_transaction(struct store_conn *c)
{
	if (CONN(c)->begin_pending || CONN(c)->ndeferred)
		return true;
	PGTransactionStatusType t = PQtransactionStatus(CONN(c)->pg);
	return t == PQTRANS_INTRANS || t == PQTRANS_ACTIVE;
}

/* ---- statements ---- */

static struct store_stmt *pg_prepare(struct store_conn *base, enum store_query q)
{
	struct pg_conn *c = CONN(base);
	struct pg_stmt *s = &c->stmts[q];
	s->conn = c;
	s->q = (int)q;
	return (struct store_stmt *)(void *)s;
}

static void set_param(struct pg_stmt *s, int i, const char *v, int len, int fmt)
{
	if (i < 1 || i > PG_MAX_PARAMS)
		return;
	s->values[i - 1] = v;
	s->lengths[i - 1] = len;
	s->formats[i - 1] = fmt;
	if (i > s->nparams)
		s->nparams = i;
}

static void pg_bind_int64(struct store_stmt *st, int i, int64_t v)
{
	struct pg_stmt *s = STMT(st);
	if (i < 1 || i > PG_MAX_PARAMS)
		return;
	snprintf(s->num[i - 1], sizeof s->num[i - 1], "%lld", (long long)v);
	set_param(s, i, s->num[i - 1], 0, 0);
}

static void pg_bind_text(struct store_stmt *s, int i, const char *v)
{
	set_param(STMT(s), i, v, 0, 0);
}

static void pg_bind_blob(struct store_stmt *s, int i, const void *v, size_t len)
{
	/* A zero-length bytea still needs a non-NULL pointer (NULL means SQL NULL). */
	set_param(STMT(s), i, v ? (const char *)v : "", (int)len, 1);
}

static void pg_bind_null(struct store_stmt *s, int i)
{
	set_param(STMT(s), i, NULL, 0, 0);
}

/* xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex digits either case. */
static bool uuid_ok(const char *v)
{
	if (!v || strlen(v) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		char ch = v[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (ch != '-')
				return false;
		} else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
			     (ch >= 'A' && ch <= 'F'))) {
			return false;
		}
	}
	return true;
}

/* A big-endian integer of n bytes (binary results), sign-extended. */
static int64_t be_int(const char *p, int n)
{
	const unsigned char *u = (const unsigned char *)p;
	uint64_t v = (n > 0 && (u[0] & 0x80)) ? ~(uint64_t)0 : 0;
	for (int i = 0; i < n; i++)
		v = (v << 8) | u[i];
	return (int64_t)v;
}

/* A user id parameter that is not a uuid: no such user, without asking the server. */
static bool bad_uuid(const struct pg_stmt *s)
{
	int up = store_pg_uuid_param[s->q];
	return up && up <= s->nparams && s->values[up - 1] && !uuid_ok(s->values[up - 1]);
}

static void stmt_clear(struct pg_stmt *s)
{
	PQclear(s->res);
	s->res = NULL;
	s->row = s->nrows = 0;
	s->ran = false;
	s->ahead = s->ahead_failed = false;
}

/* The statement's server-side name. */
static void stmt_name(int q, char *name, size_t len)
{
	snprintf(name, len, "q%d", q);
}

static void deferred_clear(struct pg_conn *c)
{
	for (int i = 0; i < c->ndeferred; i++) {
		struct pg_deferred *d = &c->deferred[i];
		for (int j = 0; j < d->nparams; j++)
			free(d->values[j]);
	}
	c->ndeferred = 0;
}

/*
 * Writes whose result the rules read only as success (no rows, no change
 * count), or as the id of the new row once it ran (a session's INSERT:
 * last_id): inside a transaction they wait, and go in one pipeline with the
 * next statement or COMMIT. A failure among them fails that statement or
 * the COMMIT (the transaction rolls back either way).
 */
static bool deferrable(int q)
{
	return q == Q_DOC_UPSERT || q == Q_DOC_USAGE_SET || q == Q_SESSION_ROTATE ||
	       q == Q_SESSION_REISSUE || q == Q_USER_SEEN || q == Q_SESSION_INSERT;
}

/* INSERT ... RETURNING session_id: its one row is last_id. */
static void take_id(struct pg_conn *c, PGresult *r, int64_t *out)
{
	c->last_id = PQntuples(r) ? be_int(PQgetvalue(r, 0, 0), PQgetlength(r, 0, 0)) : 0;
	if (out)
		*out = c->last_id;
}

static void defer(struct pg_conn *c, const struct pg_stmt *s)
{
	struct pg_deferred *d = &c->deferred[c->ndeferred++];
	d->q = s->q;
	d->id_out = NULL;
	d->nparams = s->nparams;
	for (int j = 0; j < s->nparams; j++) {
		d->lengths[j] = s->lengths[j];
		d->formats[j] = s->formats[j];
		d->values[j] = NULL;
		if (!s->values[j])
			continue;
		size_t n = s->formats[j] ? (size_t)s->lengths[j] : strlen(s->values[j]);
		d->values[j] = xmalloc(n + 1);
		memcpy(d->values[j], s->values[j], n);
		d->values[j][n] = '\0';
	}
}

/*
 * One pipeline: the pending BEGIN, the deferred writes, then the statement
 * s (with its PREPARE when new) or the command final_sql, or neither. The
 * last one's result, or NULL with the first failure noted on c (an earlier
 * failure aborts the rest of the pipeline). Without s and final_sql, a
 * success is any non-NULL pointer, freed by the caller with PQclear.
 */
static PGresult *pipeline_run(struct pg_conn *c, struct pg_stmt *s, const char *final_sql)
{
	enum { K_CMD, K_PREP, K_EXEC, K_FINAL, K_FOLLOW };
	struct pg_stmt *f = s ? c->follow : NULL;
	if (s)
		c->follow = NULL;
	struct { int kind, q; int64_t *id_out; } ex[2 * PG_MAX_DEFERRED + 6];
	int nex = 0;
	memset(ex, 0, sizeof ex);
	char name[16];
	bool sent = PQenterPipelineMode(c->pg);
	if (sent && c->begin_pending) {
		sent = PQsendQueryParams(c->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
		ex[nex].kind = K_CMD;
		ex[nex++].q = -1;
	}
	c->begin_pending = false;
	for (int i = 0; sent && i <= c->ndeferred; i++) {
		bool last = i == c->ndeferred;
		if (last && !s)
			break;
		int q = last ? s->q : c->deferred[i].q;
		if (!c->prepared[q]) {
			stmt_name(q, name, sizeof name);
			sent = PQsendPrepare(c->pg, name, store_pg_query_sql[q], 0, NULL);
			ex[nex].kind = K_PREP;
			ex[nex++].q = q;
			c->prepared[q] = true; /* undone below if the PREPARE fails */
		}
		stmt_name(q, name, sizeof name);
		if (last) {
			sent = sent && PQsendQueryPrepared(c->pg, name, s->nparams, s->values, s->lengths,
							   s->formats, 1);
		} else {
			const struct pg_deferred *d = &c->deferred[i];
			sent = sent && PQsendQueryPrepared(c->pg, name, d->nparams,
							   (const char *const *)d->values, d->lengths,
							   d->formats, 1);
		}
		ex[nex].kind = last ? K_FINAL : K_EXEC;
		ex[nex].id_out = last ? NULL : c->deferred[i].id_out;
		ex[nex++].q = q;
	}
	if (sent && f) {
		/* Runs after s has ended (a lock s took is held): its rows wait for its step. */
		stmt_name(f->q, name, sizeof name);
		if (!c->prepared[f->q]) {
			sent = PQsendPrepare(c->pg, name, store_pg_query_sql[f->q], 0, NULL);
			ex[nex].kind = K_PREP;
			ex[nex++].q = f->q;
			c->prepared[f->q] = true;
		}
		sent = sent && PQsendQueryPrepared(c->pg, name, f->nparams, f->values, f->lengths,
						   f->formats, 1);
		ex[nex].kind = K_FOLLOW;
		ex[nex++].q = f->q;
	}
	if (sent && final_sql) {
		sent = PQsendQueryParams(c->pg, final_sql, 0, NULL, NULL, NULL, NULL, 0);
		ex[nex].kind = K_FINAL;
		ex[nex++].q = -1;
	}
	deferred_clear(c);
	sent = sent && PQpipelineSync(c->pg);
	PGresult *out = NULL;
	bool failed = !sent;
	int got = 0;
	if (sent) {
		/* Each query's result then NULL, up to the sync; two NULLs in a row: broken. */
		int nulls = 0;
		for (;;) {
			PGresult *r = PQgetResult(c->pg);
			if (!r) {
				if (++nulls > 1)
					break;
				continue;
			}
			nulls = 0;
			ExecStatusType t = PQresultStatus(r);
			if (t == PGRES_PIPELINE_SYNC) {
				PQclear(r);
				break;
			}
			int i = got++;
			if (i >= nex) {
				PQclear(r);
				continue;
			}
			if (ex[i].kind == K_PREP && t != PGRES_COMMAND_OK)
				c->prepared[ex[i].q] = false;
			if (failed) {
				PQclear(r);
			} else if (ex[i].kind == K_FOLLOW) {
				stmt_clear(f);
				if (t == PGRES_PIPELINE_ABORTED) {
					/* s failed: its error stays the one told; f runs at its step. */
					PQclear(r);
				} else if (t == PGRES_TUPLES_OK || t == PGRES_COMMAND_OK) {
					f->res = r;
					f->nrows = t == PGRES_TUPLES_OK ? PQntuples(r) : 0;
					f->ahead = true;
				} else {
					/* s succeeded; the failure is f's, told at its step. */
					store_pg_note_error(c, r);
					f->ahead_failed = true;
				}
			} else if (ex[i].kind == K_FINAL) {
				out = r;
			} else if (out && t == PGRES_PIPELINE_ABORTED) {
				PQclear(r); /* behind a failed s (f's PREPARE): s's error is told */
			} else if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
				store_pg_note_error(c, r); /* the rest of the pipeline is aborted */
				failed = true;
			} else {
				if (ex[i].kind == K_EXEC && ex[i].q == Q_SESSION_INSERT)
					take_id(c, r, ex[i].id_out);
				PQclear(r);
			}
		}
	}
	PQexitPipelineMode(c->pg);
	for (int i = got; i < nex; i++)
		if (ex[i].kind == K_PREP)
			c->prepared[ex[i].q] = false; /* never answered: unknown */
	if (!failed && got < nex) {
		PQclear(out);
		out = NULL;
		failed = true;
		store_pg_note_error(c, NULL);
	}
	if (failed) {
		if (!sent)
			store_pg_note_error(c, NULL);
		PQclear(out);
		return NULL;
	}
	if (!out)
		out = PQmakeEmptyPGresult(c->pg, PGRES_COMMAND_OK);
	return out;
}

/* Sends a pending BEGIN and the deferred writes (before a savepoint): 0 or the failure. */
static int flush_pending(struct pg_conn *c, const char *what)
{
	if (!c->begin_pending && !c->ndeferred)
		return 0;
	PGresult *r = pipeline_run(c, NULL, NULL);
	if (!r)
		return store_pg_map_error(c, what);
	PQclear(r);
	return 0;
}

static void pg_follow(struct store_conn *base, struct store_stmt *st)
{
	struct pg_stmt *s = STMT(st);
	/* A malformed user id is answered without the server, at its step. */
	CONN(base)->follow = bad_uuid(s) ? NULL : s;
}

static int pg_step(struct store_conn *base, struct store_stmt *st)
{
	struct pg_conn *c = CONN(base);
	struct pg_stmt *s = STMT(st);
	if (s->ahead || s->ahead_failed) { /* sent with the statement before it */
		bool bad = s->ahead_failed;
		s->ahead = s->ahead_failed = false;
		s->ran = true;
		s->row = 0;
		if (bad)
			return STORE_ERR;
		c->changes = strtoll(PQcmdTuples(s->res), NULL, 10);
		return s->nrows ? STORE_ROW : STORE_DONE;
	}
	if (s->ran) {
		s->row++;
		return s->row < s->nrows ? STORE_ROW : STORE_DONE;
	}
	s->ran = true;
	s->row = 0;
	s->nrows = 0;
	c->changes = 0;
	if (c->follow == s)
		c->follow = NULL; /* stepped before its turn: runs on its own */
	if (bad_uuid(s)) {
		/* Not a user id: no such user, without asking the server. */
		if (s->q == Q_USER_INSERT || s->q == Q_SESSION_INSERT || s->q == Q_IDENTITY_INSERT ||
		    s->q == Q_DOC_UPSERT) {
			snprintf(c->sqlstate, sizeof c->sqlstate, "23503");
			snprintf(c->errmsg, sizeof c->errmsg, "malformed user id");
			return STORE_ERR;
		}
		return STORE_DONE;
	}
	if (deferrable(s->q) && pg_in_transaction(base)) {
		if (c->ndeferred == PG_MAX_DEFERRED) {
			PGresult *f = pipeline_run(c, NULL, NULL);
			if (!f)
				return STORE_ERR;
			PQclear(f);
		}
		defer(c, s);
		return STORE_DONE;
	}
	char name[16];
	stmt_name(s->q, name, sizeof name);
	PGresult *r;
	if (c->begin_pending || c->ndeferred || c->follow) {
		r = pipeline_run(c, s, NULL);
		if (!r)
			return STORE_ERR;
	} else {
		if (!c->prepared[s->q]) {
			r = PQprepare(c->pg, name, store_pg_query_sql[s->q], 0, NULL);
			if (PQresultStatus(r) != PGRES_COMMAND_OK) {
				store_pg_note_error(c, r);
				return STORE_ERR;
			}
			PQclear(r);
			c->prepared[s->q] = true;
		}
		r = PQexecPrepared(c->pg, name, s->nparams, s->values, s->lengths, s->formats, 1);
	}
	ExecStatusType t = PQresultStatus(r);
	if (t == PGRES_COMMAND_OK) {
		c->changes = strtoll(PQcmdTuples(r), NULL, 10);
		PQclear(r);
		return STORE_DONE;
	}
	if (t != PGRES_TUPLES_OK) {
		store_pg_note_error(c, r);
		return STORE_ERR;
	}
	s->res = r;
	s->nrows = PQntuples(r);
	c->changes = strtoll(PQcmdTuples(r), NULL, 10);
	if (s->q == Q_SESSION_INSERT) {
		/* Outside a transaction: the row is last_id, the statement is done. */
		take_id(c, r, NULL);
		s->row = s->nrows;
		return STORE_DONE;
	}
	return s->nrows ? STORE_ROW : STORE_DONE;
}

static void pg_reset(struct store_stmt *st)
{
	struct pg_stmt *s = STMT(st);
	if (s->conn && s->conn->follow == s)
		s->conn->follow = NULL;
	stmt_clear(s);
	s->nparams = 0;
	memset(s->values, 0, sizeof s->values);
}

static bool pg_column_null(struct store_stmt *st, int col)
{
	struct pg_stmt *s = STMT(st);
	if (!s->res || s->row >= s->nrows || col >= PQnfields(s->res))
		return true;
	return PQgetisnull(s->res, s->row, col);
}

static int64_t pg_column_int64(struct store_stmt *st, int col)
{
	struct pg_stmt *s = STMT(st);
	if (pg_column_null(st, col))
		return 0;
	const char *v = PQgetvalue(s->res, s->row, col);
	int n = PQgetlength(s->res, s->row, col);
	switch (PQftype(s->res, col)) {
	case OID_BOOL:
		return n == 1 && v[0] != 0;
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
		return be_int(v, n);
	default:
		return strtoll(v, NULL, 10);
	}
}

static const char *pg_column_text(struct store_stmt *st, int col)
{
	struct pg_stmt *s = STMT(st);
	if (pg_column_null(st, col))
		return NULL;
	/* libpq ends every value with a zero byte, binary ones too. */
	return PQgetvalue(s->res, s->row, col);
}

static const void *pg_column_blob(struct store_stmt *st, int col)
{
	return pg_column_text(st, col);
}

static size_t pg_column_bytes(struct store_stmt *st, int col)
{
	struct pg_stmt *s = STMT(st);
	if (pg_column_null(st, col))
		return 0;
	return (size_t)PQgetlength(s->res, s->row, col);
}

static int64_t pg_changes(struct store_conn *c)
{
	return CONN(c)->changes;
}

static void pg_last_id(struct store_conn *base, int64_t *out)
{
	struct pg_conn *c = CONN(base);
	/* Still held back: set when it runs, with the COMMIT at the latest. */
	for (int i = c->ndeferred - 1; i >= 0; i--) {
		if (c->deferred[i].q == Q_SESSION_INSERT) {
			c->deferred[i].id_out = out;
			return;
		}
	}
	*out = c->last_id;
}

/*
 * What other nodes and operator commands change that this node caches: the
 * signing keys (a fingerprint of every kid, activation and material),
 * polled each second (LISTEN/NOTIFY would be quicker).
 */
static int pg_data_version(struct store_conn *base, int64_t *out)
{
	struct pg_conn *c = CONN(base);
	PGresult *r = PQexec(c->pg, "SELECT coalesce(hashtext(string_agg(kid || ':' || "
			     "activate_at || ':' || md5(material), ',' ORDER BY kid)), 0), "
			     "count(*) FROM signing_keys");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		store_pg_note_error(c, r);
		return store_pg_map_error(c, "key change check");
	}
	*out = strtoll(PQgetvalue(r, 0, 0), NULL, 10) * 1000 + strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	if (!*out)
		*out = 1; /* 0 means "not read yet" to the caller */
	PQclear(r);
	return 0;
}

/* ---- connections (opened in pg_conn.c) ---- */

void store_pg_conn_close(struct store_conn *base)
{
	struct pg_conn *c = CONN(base);
	if (!c)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		stmt_clear(&c->stmts[i]);
	deferred_clear(c);
	PQfinish(c->pg);
	free(c);
}

const struct store_backend store_pg_backend = {
	.name = "postgresql",
	.per_call = true,
	.conn_ok = pg_conn_ok,
	.retryable = pg_retryable,
	.open = store_pg_open,
	.close = store_pg_close,
	.conn_open = store_pg_conn_open,
	.conn_close = store_pg_conn_close,
	.migrate = store_pg_migrate,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.savepoint = pg_savepoint,
	.release = pg_release,
	.rollback_to = pg_rollback_to,
	.read_begin = pg_read_begin,
	.read_end = pg_read_end,
	.in_transaction = pg_in_transaction,
	.prepare = pg_prepare,
	.bind_int64 = pg_bind_int64,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.bind_null = pg_bind_null,
	.step = pg_step,
	.reset = pg_reset,
	.follow = pg_follow,
	.column_int64 = pg_column_int64,
	.column_text = pg_column_text,
	.column_blob = pg_column_blob,
	.column_bytes = pg_column_bytes,
	.column_null = pg_column_null,
	.changes = pg_changes,
	.last_id = pg_last_id,
	.fail = pg_fail,
	.query_text = pg_query_text,
	.data_version = pg_data_version,
	.listen_open = store_pg_listen_open,
	.listen_wait = store_pg_listen_wait,
	.listen_close = store_pg_listen_close,
	.backup = store_pg_backup,
	.check_file = store_pg_check_file,
	.file_version = store_pg_file_version,
	.restore = store_pg_restore,
};
