/*
 * internal.h - what the store's own files share (private to src/store/):
 * struct store, the writer queue and the read pool (writer.c), short
 * helpers over the back-end table, and the rules each group file exports
 * to the public entry points in store.c.
 */
#ifndef GATEHOUSE_STORE_INTERNAL_H
#define GATEHOUSE_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gatehouse/store.h"
#include "backend.h"

/*
 * How a write operation ends, beside its return value: COMMIT keeps its
 * writes; ROLLBACK undoes them (its savepoint, or the transaction when it
 * runs alone) while the call still succeeds with the outcome it recorded
 * (a refused platform login, a kept last login method). A negative return
 * always rolls back.
 */
enum store_op_end { STORE_OP_COMMIT = 0, STORE_OP_ROLLBACK };

/* A write operation: 0 or an enum gh_err; *end says whether to keep its writes. */
typedef int store_write_fn(struct store_conn *c, void *arg, enum store_op_end *end);

struct write_op {
	store_write_fn *fn;
	void *arg;
	int rc;
	bool undone;               /* its writes were rolled back: a commit failure cannot change rc */
	_Atomic int state;         /* OP_PENDING, OP_SLEEPING (its submitter waits), OP_DONE (writer.c) */
	/* store_submit_async: called on the writer thread when done; the op is then freed */
	void (*done)(void *done_arg, int rc);
	void *done_arg;
	struct write_op *next;
};

struct store_lock;

struct store {
	const struct store_backend *be;
	void *ctx;                 /* the back end's shared state */
	struct store_lock *db_lock; /* held when opened exclusive (lock.c) */
	struct store_conn *writer;
	pthread_t writer_thread;
	pthread_mutex_t lock;
	pthread_cond_t work;       /* signalled when ops are queued or on stop */
	struct write_op *head, *tail;
	bool stopping;
	atomic_bool async_closed;  /* store_async_close: store_submit_async says no */
	bool group_commit;
	int64_t last_data_version;
	uint64_t last_version_check_ns;
	_Atomic uint64_t external_gen;

	/* the reader pool */
	pthread_mutex_t rlock;
	pthread_cond_t rfree;
	struct store_conn **readers;
	int nreaders;
	int *free_idx;             /* stack of free reader slots */
	int nfree;
	pthread_t warm_thread;     /* store_pool_warm_start's, while warm_started */
	bool warm_started;
	atomic_bool warm_stop;
	pthread_mutex_t warm_lock; /* warm_kicked; while warm_started */
	pthread_cond_t warm_cond;
	bool warm_kicked;          /* a call opened a pooled connection: open the rest */
};

/* ---- lock.c ---- */

/*
 * Takes the exclusive lock of the database at db_path ("<db_path>.lock",
 * created if needed, the PID written in it): 0, GH_ECONFLICT when another
 * process holds it (err names the file and that PID), GH_EUNAVAIL.
 */
int store_lock_take(const char *db_path, struct store_lock **out, char *err, size_t errlen);
/* Releases it (NULL is fine). */
void store_lock_drop(struct store_lock *l);

/* ---- writer.c ---- */

/* Starts the writer thread (after migrations); GH_EINTERNAL when it cannot. */
int store_writer_start(struct store *st);
/* Finishes queued writes and joins the writer thread. */
void store_writer_stop(struct store *st);
/* Queues fn to run in a write transaction and waits for the commit. */
int store_submit(struct store *st, store_write_fn *fn, void *arg);
/*
 * store_submit without waiting: the op goes to the writer thread, which
 * calls done(done_arg, rc) once it is durable or failed. False (nothing
 * queued) when there is no writer thread (per_call) or after
 * store_async_close: the caller then uses store_submit.
 */
bool store_submit_async(struct store *st, store_write_fn *fn, void *arg,
			void (*done)(void *done_arg, int rc), void *done_arg);
/* Notices commits by other processes, at most once a second. */
void store_check_data_version(struct store *st);
/* A reader connection (opened on first use), or NULL (logged). */
struct store_conn *store_reader_get(struct store *st);
void store_reader_put(struct store *st, struct store_conn *c);
/*
 * Opens the pool's closed connections on a thread of its own, one at a
 * time, each while its slot is free (store_options.warm); a request that
 * takes a closed slot meanwhile opens it itself, as always. The thread
 * stays: each time a call had to open a pooled connection itself (after a
 * database restart or failover, or a start short of connections), it
 * opens the closed and broken rest again. _stop ends it (after the
 * connect in progress) and joins it: before the pool closes.
 */
void store_pool_warm_start(struct store *st);
void store_pool_warm_stop(struct store *st);

/* ---- helpers over the back-end table ---- */

static inline struct store_stmt *db_prepare(struct store_conn *c, enum store_query q)
{
	return c->be->prepare(c, q);
}
static inline void db_int64(struct store_conn *c, struct store_stmt *s, int i, int64_t v)
{
	c->be->bind_int64(s, i, v);
}
static inline void db_text(struct store_conn *c, struct store_stmt *s, int i, const char *v)
{
	c->be->bind_text(s, i, v);
}
static inline void db_blob(struct store_conn *c, struct store_stmt *s, int i, const void *v,
			   size_t len)
{
	c->be->bind_blob(s, i, v, len);
}
static inline void db_null(struct store_conn *c, struct store_stmt *s, int i)
{
	c->be->bind_null(s, i);
}
static inline int db_step(struct store_conn *c, struct store_stmt *s)
{
	return c->be->step(c, s);
}
static inline void db_reset(struct store_conn *c, struct store_stmt *s)
{
	c->be->reset(s);
}
/* s is stepped right after the next statement: maybe sent with it (backend.h). */
static inline void db_follow(struct store_conn *c, struct store_stmt *s)
{
	if (c->be->follow)
		c->be->follow(c, s);
}
static inline int64_t col_int64(struct store_conn *c, struct store_stmt *s, int col)
{
	return c->be->column_int64(s, col);
}
static inline const char *col_text(struct store_conn *c, struct store_stmt *s, int col)
{
	return c->be->column_text(s, col);
}
static inline const void *col_blob(struct store_conn *c, struct store_stmt *s, int col)
{
	return c->be->column_blob(s, col);
}
static inline size_t col_bytes(struct store_conn *c, struct store_stmt *s, int col)
{
	return c->be->column_bytes(s, col);
}
static inline bool col_null(struct store_conn *c, struct store_stmt *s, int col)
{
	return c->be->column_null(s, col);
}
static inline int db_fail(struct store_conn *c, const char *what)
{
	return c->be->fail(c, what);
}

/* Runs q with no parameters, ignoring its rows: 0 or an enum gh_err. */
int store_db_exec(struct store_conn *c, enum store_query q);
/* A text column into dst (truncated to cap, "" for null). */
void store_col_copy_text(struct store_conn *c, struct store_stmt *s, int col, char *dst,
			 size_t cap);
/* A column as a NUL-terminated copy (caller frees); *len its length. */
char *store_col_dup(struct store_conn *c, struct store_stmt *s, int col, size_t *len);

/* ---- rules (one group per file) ---- */

/* sessions.c */
struct session_create_op {
	const char *user_id;
	const unsigned char *secret_hash; /* non-NULL: create the guest user too */
	const struct store_session_new *s;
	int64_t *session_id;              /* OUT: set by the time the write is durable (last_id) */
};
int store_rule_touch_user(struct store_conn *c, const char *user_id, int64_t now, int64_t seen_at);
store_write_fn store_rule_session_create;
struct refresh_op {
	const struct store_refresh *r;
	struct store_refresh_result *out;
};
store_write_fn store_rule_refresh;
struct purge_op {
	int64_t cutoff;
	int limit;
	int64_t count;
};
store_write_fn store_rule_purge;
struct end_op {
	int64_t session_id;        /* 0: every session of the user */
	const char *user_id;
	int64_t now;
	const char *reason;
	int64_t ended;
};
store_write_fn store_rule_session_end;
int store_rule_end_all_sessions(struct store_conn *c, const char *user_id, int64_t now,
			   const char *reason, int64_t *ended);

/* accounts.c */
int store_rule_user_get(struct store_conn *c, const char *user_id, struct store_user *out);
int store_rule_user_session_get(struct store_conn *c, const char *user_id, int64_t session_id,
				struct store_user *out, bool *out_session_live);
/* The same and the user's document key in one statement; *doc_err GH_ENOTFOUND without it. */
int store_rule_user_session_doc_get(struct store_conn *c, const char *user_id,
				    int64_t session_id, const char *key, struct store_user *out,
				    bool *out_session_live, struct store_document *doc,
				    int *doc_err);
store_write_fn store_rule_user_delete;  /* arg: the user id */
struct ban_op {
	const char *user_id;
	int64_t banned_until, now;
	int64_t ended;
};
store_write_fn store_rule_ban;
int store_rule_account_get(struct store_conn *c, const char *user_id, int64_t now, bool full,
		      struct store_account *out);
int store_rule_counts(struct store_conn *c, int64_t now, int64_t *users, int64_t *sessions);
struct cleanup_op {
	int64_t idle_before;
	int limit;
	int64_t deleted;
};
store_write_fn store_rule_guest_cleanup;

/* identities.c */
struct platform_op {
	const struct store_platform_login *in;
	struct store_platform_result *out;
};
store_write_fn store_rule_platform_login;
struct unlink_op {
	const char *user_id, *provider;
	int outcome;
};
store_write_fn store_rule_unlink;

/* keys.c */
int store_rule_keys_list(struct store_conn *c, struct store_key **out, size_t *out_n);
store_write_fn store_rule_key_insert;   /* arg: the struct store_key */
store_write_fn store_rule_key_delete;   /* arg: the kid */
store_write_fn store_rule_keys_set_material; /* arg: struct store_keys_batch */
struct lease_op {
	const char *name, *holder;
	int64_t now, until;
	bool held;
};
store_write_fn store_rule_lease_claim;

struct store_keys_batch {
	const struct store_key *keys;
	size_t n;
};

/* documents.c */
/* Q_DOC_GET's columns (value, version, updated_at) from column col on into out. */
void store_doc_row(struct store_conn *c, struct store_stmt *s, int col, struct store_document *out);
int store_rule_doc_get(struct store_conn *c, const char *user_id, const char *key,
		  struct store_document *out);
struct doc_write_op {
	const char *user_id;
	const struct store_doc_write *w;
	size_t n;
	int64_t now;
	struct store_doc_limits lim;
	struct store_doc_result *out;
	size_t failed;
	struct store_session_check *chk;
};
store_write_fn store_rule_doc_write;
struct doc_delete_op {
	const char *user_id, *key;
	int64_t if_version;        /* -1: unconditional; 0: any version; else exact */
	int64_t current;
	struct store_session_check *chk;
};
store_write_fn store_rule_doc_delete;
int store_rule_doc_list(struct store_conn *c, const char *user_id, const char *after, int limit,
		   struct store_doc_info **out, size_t *out_n);

#endif
