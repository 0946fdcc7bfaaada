/*
 * backend.h - the seam between the store's rules and a database (private
 * to src/store/). A back end is one table of operations, struct
 * store_backend (Redis' ConnectionType is the model): connections,
 * transactions and savepoints, statements prepared by query id, binds,
 * steps and columns, error mapping, change detection, migrations, backup
 * and check. store_open picks the table; the rules (sessions.c,
 * identities.c, accounts.c, documents.c, keys.c), the writer thread and the
 * read pool (writer.c) only ever call through it.
 *
 * Queries are named by enum store_query; each back end supplies its own
 * text for each (SQLite: sqlite_sql.c). The comment beside each id is the
 * contract: parameters in order ($1, $2... or ?1, ?2...), then the columns
 * a row returns. Statements stay prepared per connection.
 */
#ifndef GATEHOUSE_STORE_BACKEND_H
#define GATEHOUSE_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gatehouse/store.h"

/* The schema version every back end's migrations reach. */
#define STORE_SCHEMA_VERSION 5

enum store_query {
	Q_PING,             /* -> one row */
	Q_USER_GET,         /* user_id -> guest_secret_hash, created_at, last_seen_at, banned_until */
	/*
	 * user_id, session_id -> Q_USER_GET's columns, then 1 when session_id
	 * is one of the user's sessions and has not ended, else 0 (session_id
	 * 0 matches none). The check behind every authenticated request: two
	 * primary-key lookups in one statement.
	 */
	Q_USER_SESSION_GET,
	/*
	 * user_id, session_id, key -> Q_USER_SESSION_GET's columns, then
	 * Q_DOC_GET's (null when the user has no such document): an
	 * authenticated document read in one statement.
	 */
	Q_USER_SESSION_DOC_GET,
	Q_USER_INSERT,      /* user_id, guest_secret_hash (or null), now */
	Q_USER_SEEN,        /* user_id, now, older_than: last_seen_at (store_rule_touch_user) */
	Q_SESSION_INSERT,   /* user_id, access_scope, jti, now, expires_at; last_id: session_id */
	/*
	 * session_id -> user_id, access_scope, current_jti, previous_jti,
	 * rotated_at_ms, expires_at, ended_at, banned_until, last_seen_at
	 * (the user's). Inside a write
	 * this is "the session row, locked": a back end with row locks says
	 * FOR UPDATE OF sessions.
	 */
	Q_SESSION_GET_LOCKED,
	Q_SESSION_ROTATE,   /* session_id, new_jti, now_ms */
	Q_SESSION_REISSUE,  /* session_id, new_jti */
	Q_SESSION_END,      /* session_id, now, reason, user_id; changes = ended */
	/*
	 * cutoff, limit; changes = deleted: up to limit sessions ended or
	 * expired before cutoff. Nodes purging at once split the rows (where
	 * rows lock: FOR UPDATE SKIP LOCKED) rather than queue on each other.
	 */
	Q_SESSION_PURGE,
	Q_SESSIONS_END_ALL, /* user_id, now, reason; changes = ended */
	Q_SESSIONS_LIVE,    /* user_id, now -> count */
	/* user_id -> session_id, created_at, expires_at, ended_at, rotated_at_ms */
	Q_SESSIONS_OF,
	Q_USER_DELETE,      /* user_id; changes */
	Q_USER_BAN,         /* user_id, banned_until (or null); changes */
	Q_IDENTITIES_OF,    /* user_id -> provider, subject */
	Q_DOCS_OF,          /* user_id -> key, version, updated_at, value */
	Q_GUEST_CLEANUP,    /* idle_before, limit; changes = deleted */
	Q_COUNT_USERS,      /* -> count */
	Q_COUNT_SESSIONS,   /* now -> count of live sessions */
	Q_IDENTITY_GET,     /* provider, subject -> user_id */
	/*
	 * provider, subject, user_id, now; changes 0 when (provider, subject)
	 * is someone's already (a concurrent first login won): never an error.
	 */
	Q_IDENTITY_INSERT,
	Q_IDENTITY_DELETE,  /* user_id, provider; changes */
	Q_IDENTITY_COUNT,   /* user_id -> count */
	Q_KEYS_LIST,        /* -> kid, use, alg, material, created_at, activate_at, epoch */
	/*
	 * kid, use, alg, material, created_at, activate_at, epoch. epoch is
	 * unique per use (a constraint): of two nodes rotating at once, the
	 * second insert is a conflict.
	 */
	Q_KEY_INSERT,
	Q_KEY_EPOCH,        /* use -> the highest epoch of use (0 when none) */
	/*
	 * Inside a key write: tells the other nodes at its commit (PostgreSQL:
	 * NOTIFY gatehouse_keys; a back end without notices: no effect).
	 */
	Q_KEYS_NOTIFY,
	Q_KEY_DELETE,       /* kid */
	Q_KEY_SET_MATERIAL, /* kid, material; changes */
	Q_DOC_GET,          /* user_id, key -> value, version, updated_at */
	Q_DOC_HEAD,         /* user_id, key -> the value's size in bytes, version */
	Q_DOC_UPSERT,       /* user_id, key, value, version, updated_at */
	Q_DOC_DELETE,       /* user_id, key */
	/*
	 * user_id -> data_seq, data_keys, data_bytes. Inside a write this is
	 * "the user's usage row, locked" (FOR UPDATE where rows lock): the
	 * version sequence and quotas serialise per user.
	 */
	Q_DOC_USAGE_LOCKED,
	Q_DOC_USAGE_LOCKED_CHECK,  /* with the user's ban and the session's state */
	Q_DOC_USAGE_SET,    /* user_id, data_seq, data_keys, data_bytes */
	Q_DOC_LIST,         /* user_id, after, limit -> key, version, size, updated_at */
	/*
	 * name, holder, now, until; changes = 1 when holder now holds the
	 * lease (new, held already, or the last holder's time ran out): one
	 * conditional upsert of the leases row, so one node at a time wins.
	 */
	Q_LEASE_CLAIM,
	/*
	 * Copying a whole database (copy.c): every row of each table, in the
	 * columns given, and the statement that writes one back as it was.
	 */
	Q_COPY_COUNTS,      /* -> users, identities, sessions, signing keys, documents */
	/* -> user_id, guest_secret_hash, created_at, last_seen_at, banned_until,
	 *    data_seq, data_keys, data_bytes */
	Q_COPY_USERS,
	Q_COPY_USER_PUT,    /* Q_COPY_USERS' columns, as parameters */
	Q_COPY_IDENTITIES,  /* -> provider, subject, user_id, created_at (Q_IDENTITY_INSERT's) */
	/* -> session_id, user_id, access_scope, current_jti, previous_jti,
	 *    rotated_at_ms, created_at, expires_at, ended_at, end_reason */
	Q_COPY_SESSIONS,
	Q_COPY_SESSION_PUT, /* Q_COPY_SESSIONS' columns, as parameters (the id kept) */
	Q_COPY_DOCS,        /* -> user_id, key, value, version, updated_at (Q_DOC_UPSERT's) */
	/* After the copy: whatever makes new rows follow the copied ones (an
	 * identity sequence past the highest session_id); rows ignored. */
	Q_COPY_FINISH,
	/* the admin API (search.c) */
	Q_DOC_PAGE,         /* user_id, after, limit -> key, version, updated_at, value */
	/*
	 * created_after, created_before, cursor_created_at, cursor_user_id,
	 * limit -> user_id, created_at, last_seen_at, banned_until, guest (1
	 * when a guest secret and no identity, else 0); users with created_at
	 * strictly between the bounds and (created_at, user_id) after the
	 * cursor's, in that order
	 */
	Q_USERS_PAGE,
	Q_COUNT_GUESTS,     /* -> count of users with a guest secret and no identity */
	Q_COUNT_DOCS,       /* -> count of player-data documents (the sum of users.data_keys) */
	Q_COUNT
};

/* What store_backend.step returns. */
enum { STORE_DONE = 0, STORE_ROW = 1, STORE_ERR = -1 };

/*
 * A connection. A back end embeds this first in its own connection struct
 * and hands out pointers to it; be lets the rules reach the operations.
 */
struct store_conn {
	const struct store_backend *be;
	int slot;                  /* the read pool's index (writer.c); 0 for the writer */
};

/* A prepared statement, owned by its connection (opaque). */
struct store_stmt;

struct store_backend {
	const char *name;
	/*
	 * No writer thread and no file lock: each write runs as its own short
	 * transaction on a pooled connection (store_submit), retried while
	 * retryable() says so; conn_ok() false drops a pooled connection.
	 * SQLite: false (one writer thread with group commit).
	 */
	bool per_call;
	bool (*conn_ok)(struct store_conn *c);     /* NULL: always fine */
	bool (*retryable)(struct store_conn *c);   /* the last failure was a serialization failure or deadlock */

	/*
	 * Validates options and prepares what connections share (SQLite: the
	 * directory and its file system). *out_ctx goes to conn_open, migrate,
	 * backup and close. err gets a one-line reason on failure.
	 */
	int (*open)(const struct store_options *opt, void **out_ctx, char *err, size_t errlen);
	void (*close)(void *ctx);
	/* A connection: the writer's (read-write, may create), or a reader's. */
	int (*conn_open)(void *ctx, bool writer, struct store_conn **out, char *err, size_t errlen);
	void (*conn_close)(struct store_conn *c); /* NULL is fine */
	/* Brings the schema to STORE_SCHEMA_VERSION on the writer connection. */
	int (*migrate)(void *ctx, struct store_conn *writer, char *err, size_t errlen);

	/* Write transactions, savepoints and read transactions: 0 or an enum gh_err. */
	int (*begin)(struct store_conn *c);
	int (*commit)(struct store_conn *c);
	int (*rollback)(struct store_conn *c);
	int (*savepoint)(struct store_conn *c);
	int (*release)(struct store_conn *c);
	int (*rollback_to)(struct store_conn *c);
	int (*read_begin)(struct store_conn *c);
	int (*read_end)(struct store_conn *c);
	/* False when the database ended the transaction on its own (disk full, I/O). */
	bool (*in_transaction)(struct store_conn *c);

	/* The connection's statement for q, prepared once; NULL on failure (logged). */
	struct store_stmt *(*prepare)(struct store_conn *c, enum store_query q);
	/* Binds parameter i (from 1). Text and blobs are not copied: keep them until reset. */
	void (*bind_int64)(struct store_stmt *s, int i, int64_t v);
	void (*bind_text)(struct store_stmt *s, int i, const char *v);
	void (*bind_blob)(struct store_stmt *s, int i, const void *v, size_t len);
	void (*bind_null)(struct store_stmt *s, int i);
	/* STORE_ROW, STORE_DONE or STORE_ERR (then fail() says which error). */
	int (*step)(struct store_conn *c, struct store_stmt *s);
	/* Ready for the next use: rows dropped, parameters cleared. */
	void (*reset)(struct store_stmt *s);
	/*
	 * NULL, or: s (bound, its parameters kept until reset) is the statement
	 * stepped right after the next one; the back end may send both in one
	 * round trip, s running after the next one ends (it sees what that one
	 * locked). The caller steps s next, or resets it.
	 */
	void (*follow)(struct store_conn *c, struct store_stmt *s);
	/* Columns of the current row, from 0. */
	int64_t (*column_int64)(struct store_stmt *s, int col);
	const char *(*column_text)(struct store_stmt *s, int col);  /* NULL for null */
	const void *(*column_blob)(struct store_stmt *s, int col);
	size_t (*column_bytes)(struct store_stmt *s, int col);
	bool (*column_null)(struct store_stmt *s, int col);
	/* Rows changed by the last statement. */
	int64_t (*changes)(struct store_conn *c);
	/*
	 * The id of the last inserted row, at *out: at once, or, where the
	 * back end holds the INSERT back to send it with the transaction's
	 * other writes (PostgreSQL), when it runs, before the commit returns.
	 * A failure of such a held INSERT is the commit's.
	 */
	void (*last_id)(struct store_conn *c, int64_t *out);
	/*
	 * The last failed step as an enum gh_err (GH_ECONFLICT for a
	 * constraint, GH_EUNAVAIL for busy, full, I/O...), logged and counted
	 * unless a conflict; what names the operation in the log line.
	 */
	int (*fail)(struct store_conn *c, const char *what);
	/* The query's text, for log lines. */
	const char *(*query_text)(enum store_query q);

	/*
	 * Change detection: a number that moves when another process commits.
	 * 0 with *out set, or an error.
	 */
	int (*data_version)(struct store_conn *c, int64_t *out);
	/*
	 * Change notices from other processes, on a connection of their own
	 * (PostgreSQL: LISTEN gatehouse_keys). listen_open never fails (it
	 * connects lazily); listen_wait waits up to timeout_ms: 1 when a notice
	 * arrived (or the connection was just made: one may have been missed),
	 * 0 when none, or an enum gh_err (not connected: try again later).
	 * NULL: the back end has none (SQLite: data_version, polled, serves).
	 */
	void *(*listen_open)(void *ctx);
	int (*listen_wait)(void *listener, int timeout_ms);
	void (*listen_close)(void *listener);
	/* store_backup and store_check_file (store.h). */
	int (*backup)(void *ctx, const char *dest, char *err, size_t errlen);
	int (*check_file)(const char *path, struct strbuf *report);
	/* store_file_schema_version (store.h). */
	int (*file_version)(const char *path, int *out, char *err, size_t errlen);
	/*
	 * store_restore's copy and swap, with the check done and the lock
	 * held by the caller (store.c); ctx from open.
	 */
	int (*restore)(void *ctx, const char *from, char *kept_aside, size_t kept_len,
		       char *err, size_t errlen);
	/*
	 * NULL, or: the writer thread's work before it runs a batch and after
	 * the batch is answered, on its connection (SQLite: the WAL checkpoint
	 * its commits made due; a read transaction held between batches so
	 * that the readers' WAL locks stay in the process, sqlite_ckpt.c).
	 */
	void (*before_batch)(struct store_conn *writer);
	void (*after_batch)(struct store_conn *writer);
};

/* The SQLite back end (sqlite.c). */
extern const struct store_backend store_sqlite_backend;
/* The PostgreSQL back end (pg.c). */
extern const struct store_backend store_pg_backend;

#endif
