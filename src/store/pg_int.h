/*
 * pg_int.h - what the PostgreSQL back end's files share (pg.c, pg_sql.c,
 * pg_admin.c): its state, its connection, its SQL. The only files (with
 * their .c) that include libpq.
 */
#ifndef GATEHOUSE_STORE_PG_INT_H
#define GATEHOUSE_STORE_PG_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "backend.h"

#define PG_MAX_PARAMS 12 /* Q_COPY_SESSION_PUT has 10 */

/* The advisory lock that migrations take (transaction-scoped): "gatehouse" in ASCII. */
#define PG_MIGRATE_LOCK 0x6761746568LL

extern const char *const store_pg_migrations[STORE_SCHEMA_VERSION];
extern const char *const store_pg_query_sql[Q_COUNT];
/*
 * Per query: the parameter (from 1) that is a user id (uuid), 0 for none;
 * a malformed one matches no row without asking the server.
 */
extern const unsigned char store_pg_uuid_param[Q_COUNT];

/* Shared by the connections of one store: where to connect, and the reconnect backoff. */
struct pg_ctx {
	char *url;
	char *shown;               /* url with the password replaced, for messages */
	char *password;            /* NULL: the URL's, or PGPASSFILE */
	char connect_timeout[24];
	char session_sql[160];     /* SET synchronous_commit, statement and lock timeouts */
	bool auto_migrate;
	bool must_exist;
	pthread_mutex_t lock;
	uint64_t next_try_ns;      /* while the database is down: no connect before this */
	int64_t backoff_ms;        /* 0: up; else the current wait, 100 ms doubling to 5 s */
	bool connecting;           /* one connect at a time while down */
};

struct pg_conn;

struct pg_stmt {
	struct pg_conn *conn;
	int q;
	int nparams;
	const char *values[PG_MAX_PARAMS];
	int lengths[PG_MAX_PARAMS];
	int formats[PG_MAX_PARAMS];
	char num[PG_MAX_PARAMS][24];
	PGresult *res;
	int row, nrows;
	bool ran;                  /* executed since the last reset */
	bool ahead;                /* ran ahead (store_backend.follow): res awaits its step */
	bool ahead_failed;         /* ran ahead and failed (noted on the connection) */
};

/*
 * A write inside a transaction whose result nothing reads but success: held
 * (its parameters copied) and sent in one pipeline with the next statement
 * that answers rows, or with COMMIT (pg.c).
 */
#define PG_MAX_DEFERRED 8
struct pg_deferred {
	int q;
	int64_t *id_out;           /* Q_SESSION_INSERT: where its session_id goes (last_id) */
	int nparams;
	char *values[PG_MAX_PARAMS];
	int lengths[PG_MAX_PARAMS];
	int formats[PG_MAX_PARAMS];
};

struct pg_conn {
	struct store_conn base;    /* first: a struct store_conn * points here */
	PGconn *pg;
	bool prepared[Q_COUNT];
	struct pg_stmt stmts[Q_COUNT];
	int64_t changes, last_id;
	char sqlstate[6];          /* of the last failure; "" when libpq's own (connection) */
	char errmsg[256];
	bool bad;                  /* dropped by the pool on its return */
	bool retry;                /* the last failure was 40001 or 40P01 */
	bool begin_pending;        /* BEGIN goes with the next statement (pg.c) */
	int ndeferred;             /* writes waiting to go with the next statement */
	struct pg_stmt *follow;    /* sent after the next statement, in its pipeline */
	struct pg_deferred deferred[PG_MAX_DEFERRED];
};

/* pg_conn.c: the back end's open and close, and a connection's (store_backend). */
int store_pg_open(const struct store_options *opt, void **out_ctx, char *err, size_t errlen);
void store_pg_close(void *ctx);
int store_pg_conn_open(void *ctx, bool writer, struct store_conn **out, char *err, size_t errlen);
void store_pg_conn_close(struct store_conn *c);

/* Runs sql (no parameters, text results) on c: 0, or the mapped failure (logged). */
int store_pg_exec(struct pg_conn *c, const char *sql, const char *what);
/* Records a failed result on c (sqlstate, message, bad connection) and clears it. */
void store_pg_note_error(struct pg_conn *c, PGresult *res);
/* The recorded failure as an enum gh_err, logged (not a conflict) with what. */
int store_pg_map_error(struct pg_conn *c, const char *what);

/* store_backend.listen_open, .listen_wait, .listen_close (pg_listen.c). */
void *store_pg_listen_open(void *ctx);
int store_pg_listen_wait(void *listener, int timeout_ms);
void store_pg_listen_close(void *listener);

/* store_backend.migrate, .backup, .check_file, .file_version, .restore (pg_admin.c). */
int store_pg_migrate(void *ctx, struct store_conn *c, char *err, size_t errlen);
int store_pg_backup(void *ctx, const char *dest, char *err, size_t errlen);
int store_pg_check_file(const char *path, struct strbuf *report);
int store_pg_file_version(const char *path, int *out, char *err, size_t errlen);
int store_pg_restore(void *ctx, const char *from, char *kept_aside, size_t kept_len,
		     char *err, size_t errlen);

#endif
