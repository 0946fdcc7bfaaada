/*
 * store.c - the public entry points of store.h: opening (picking the back
 * end), closing, argument checks, and each call routed to its rule, as a
 * queued write (store_submit) or on a reader connection. The rules are in
 * sessions.c, accounts.c, identities.c, documents.c and keys.c; the
 * writer and read pool in writer.c; SQLite in sqlite*.c.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "internal.h"

bool store_database_is_url(const char *name)
{
	return !strncmp(name, "postgres://", 11) || !strncmp(name, "postgresql://", 13);
}

char *store_database_redacted(const char *name)
{
	if (!store_database_is_url(name))
		return xstrdup(name);
	struct strbuf sb = STRBUF_INIT;
	const char *p = strstr(name, "://") + 3;
	sb_add(&sb, name, (size_t)(p - name));
	/* user:password@ before the hosts */
	size_t auth = strcspn(p, "@/?");
	if (p[auth] == '@') {
		const char *colon = memchr(p, ':', auth);
		if (colon) {
			sb_add(&sb, p, (size_t)(colon - p));
			sb_adds(&sb, ":***");
		} else {
			sb_add(&sb, p, auth);
		}
		sb_adds(&sb, "@");
		p += auth + 1;
	}
	/* password=... among the parameters */
	while (*p) {
		bool at_param = (p[-1] == '?' || p[-1] == '&') && !strncmp(p, "password=", 9);
		if (at_param) {
			sb_adds(&sb, "password=***");
			p += 9 + strcspn(p + 9, "&");
			continue;
		}
		sb_add(&sb, p, 1);
		p++;
	}
	char *out = xstrdup(sb.buf ? sb.buf : "");
	sb_release(&sb);
	return out;
}

/* The back end for a database name: a postgres:// URI, or a SQLite file. */
static const struct store_backend *backend_for(const char *path)
{
	return store_database_is_url(path) ? &store_pg_backend : &store_sqlite_backend;
}

int store_schema_version(void)
{
	return STORE_SCHEMA_VERSION;
}

const char *store_backend_name(const struct store *st)
{
	return st->be->name;
}

/* ---- open / close ---- */

static void store_free(struct store *st)
{
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->work);
	pthread_mutex_destroy(&st->rlock);
	pthread_cond_destroy(&st->rfree);
	free(st->readers);
	free(st->free_idx);
	free(st);
}

int store_open(const struct store_options *opt, struct store **out, char *err, size_t errlen)
{
	*out = NULL;
	const struct store_backend *be = backend_for(opt->path);
	void *ctx;
	int rc = be->open(opt, &ctx, err, errlen);
	if (rc)
		return rc;
	struct store *st = xcalloc(1, sizeof *st);
	st->be = be;
	st->ctx = ctx;
	/* Before the first connection: a second daemon changes nothing (one file, one daemon). */
	if (opt->exclusive && !be->per_call) {
		rc = store_lock_take(opt->path, &st->db_lock, err, errlen);
		if (rc) {
			be->close(ctx);
			free(st);
			return rc;
		}
	}
	st->group_commit = opt->group_commit;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->work, NULL);
	pthread_mutex_init(&st->rlock, NULL);
	pthread_cond_init(&st->rfree, NULL);
	st->nreaders = opt->readers > 0 ? opt->readers : 4;
	st->readers = xcalloc((size_t)st->nreaders, sizeof *st->readers);
	st->free_idx = xcalloc((size_t)st->nreaders, sizeof *st->free_idx);
	for (int i = 0; i < st->nreaders; i++)
		st->free_idx[st->nfree++] = st->nreaders - 1 - i;

	rc = be->conn_open(ctx, true, &st->writer, err, errlen);
	if (rc)
		goto out_free;
	rc = be->migrate(ctx, st->writer, err, errlen);
	if (rc)
		goto out_close;
	if (be->per_call) {
		/*
		 * No writer thread: every write takes a pooled connection of
		 * its own. The migration's connection is the pool's first.
		 * Those are a server's connections, costly to open (a backend's
		 * fork, authentication): the pool is opened ahead of use. A
		 * SQLite reader opens in well under a millisecond, on demand.
		 */
		store_check_data_version(st);
		st->readers[0] = st->writer;
		st->readers[0]->slot = 0;
		st->writer = NULL;
		if (opt->warm)
			store_pool_warm_start(st);
		*out = st;
		return 0;
	}
	store_check_data_version(st);
	if (store_writer_start(st)) {
		snprintf(err, errlen, "cannot start the database writer thread");
		rc = GH_EINTERNAL;
		goto out_close;
	}
	*out = st;
	return 0;

out_close:
	be->conn_close(st->writer);
out_free:
	be->close(ctx);
	store_lock_drop(st->db_lock);
	store_free(st);
	return rc;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	store_pool_warm_stop(st);
	if (!st->be->per_call)
		store_writer_stop(st);
	for (int i = 0; i < st->nreaders; i++)
		st->be->conn_close(st->readers[i]);
	st->be->conn_close(st->writer);
	st->be->close(st->ctx);
	store_lock_drop(st->db_lock);
	store_free(st);
}

uint64_t store_external_generation(struct store *st)
{
	/* No writer thread polls: the caller's (the rotator's, each second) poll does. */
	if (st->be->per_call)
		store_check_data_version(st);
	return atomic_load(&st->external_gen);
}

static int ping_writer(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)arg;
	(void)end;
	return store_db_exec(c, Q_PING);
}

int store_ping(struct store *st)
{
	struct store_conn *c = store_reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int rc = store_db_exec(c, Q_PING);
	store_reader_put(st, c);
	if (rc)
		return GH_EUNAVAIL;
	return store_submit(st, ping_writer, NULL) ? GH_EUNAVAIL : 0;
}

/* ---- users and accounts ---- */

int store_user_get(struct store *st, const char *user_id, struct store_user *out)
{
	memset(out, 0, sizeof *out);
	struct store_conn *c = store_reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int rc = store_rule_user_get(c, user_id, out);
	store_reader_put(st, c);
	return rc;
}

int store_user_session_get(struct store *st, const char *user_id, int64_t session_id,
			   struct store_user *out, bool *out_session_live)
{
	memset(out, 0, sizeof *out);
	*out_session_live = false;
	struct store_conn *c = store_reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int rc = store_rule_user_session_get(c, user_id, session_id, out, out_session_live);
	store_reader_put(st, c);
	return rc;
}

int store_user_session_doc_get(struct store *st, const char *user_id, int64_t session_id,
			       const char *key, struct store_user *out, bool *out_session_live,
			       struct store_document *doc, int *doc_err)
{
	memset(out, 0, sizeof *out);
	memset(doc, 0, sizeof *doc);
	*out_session_live = false;
	struct store_conn *c = store_reader_get(st);
	if (!c)
		return *doc_err = GH_EUNAVAIL;
	int rc = store_rule_user_session_doc_get(c, user_id, session_id, key, out,
						 out_session_live, doc, doc_err);
	store_reader_put(st, c);
	return rc;
}

int store_user_delete(struct store *st, const char *user_id)
{
	return store_submit(st, store_rule_user_delete, (void *)user_id);
}

int store_user_set_ban(struct store *st, const char *user_id, int64_t banned_until, int64_t now,
		       int64_t *out_sessions_ended)
{
	struct ban_op op = { user_id, banned_until, now, 0 };
	int rc = store_submit(st, store_rule_ban, &op);
	if (out_sessions_ended)
		*out_sessions_ended = op.ended;
	return rc;
}

void store_account_release(struct store_account *a)
{
	free(a->identities);
	free(a->sessions);
	for (size_t i = 0; i < a->ndocs; i++)
		free(a->docs[i].value);
	free(a->docs);
	memset(a, 0, sizeof *a);
}

int store_account_get(struct store *st, const char *user_id, int64_t now, bool full,
		      struct store_account *out)
{
	memset(out, 0, sizeof *out);
	struct store_conn *c = store_reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int rc = store_rule_account_get(c, user_id, now, full, out);
	store_reader_put(st, c);
	if (rc)
		store_account_release(out);
	return rc;
}

int store_counts(struct store *st, int64_t now, int64_t *out_users, int64_t *out_sessions)
{
	struct store_conn *c = store_reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int rc = store_rule_counts(c, now, out_users, out_sessions);
	store_reader_put(st, c);
	return rc;
}

int store_guests_cleanup(struct store *st, int64_t idle_before, int limit, int64_t *out_deleted)
{
	struct cleanup_op op = { idle_before, limit, 0 };
	int rc = store_submit(st, store_rule_guest_cleanup, &op);
	*out_deleted = op.deleted;
	return rc;
}

int store_lease_claim(struct store *st, const char *name, const char *holder, int64_t now,
		      int64_t until, bool *out_held)
{
	struct lease_op op = { name, holder, now, until, false };
	int rc = store_submit(st, store_rule_lease_claim, &op);
	*out_held = !rc && op.held;
	return rc;
}

/* ---- sessions ---- */

int store_guest_create(struct store *st, const char *user_id, const unsigned char secret_hash[32],
		       const struct store_session_new *s, int64_t *out_session_id)
{
	*out_session_id = 0;
	struct session_create_op op = { user_id, secret_hash, s, out_session_id };
	return store_submit(st, store_rule_session_create, &op);
}

int store_session_create(struct store *st, const struct store_session_new *s,
			 int64_t *out_session_id)
{
	*out_session_id = 0;
	struct session_create_op op = { s->user_id, NULL, s, out_session_id };
	int rc = store_submit(st, store_rule_session_create, &op);
	/*
	 * The session's row refers to the user's: a conflict is the user gone
	 * meanwhile, whether the INSERT told it or, held back, the COMMIT.
	 */
	return rc == GH_ECONFLICT ? GH_ENOTFOUND : rc;
}

int store_session_refresh(struct store *st, const struct store_refresh *r,
			  struct store_refresh_result *out)
{
	memset(out, 0, sizeof *out);
	struct refresh_op op = { r, out };
	return store_submit(st, store_rule_refresh, &op);
}

struct refresh_async {
	struct refresh_op op;
	store_done_fn *done;
	void *arg;
};

static void refresh_async_done(void *arg, int rc)
{
	struct refresh_async *a = arg;
	a->done(a->arg, rc);
	free(a);
}

bool store_session_refresh_async(struct store *st, const struct store_refresh *r,
				 struct store_refresh_result *out, store_done_fn *done, void *arg)
{
	memset(out, 0, sizeof *out);
	struct refresh_async *a = xcalloc(1, sizeof *a);
	*a = (struct refresh_async){ { r, out }, done, arg };
	if (!store_submit_async(st, store_rule_refresh, &a->op, refresh_async_done, a)) {
		free(a);
		return false;
	}
	return true;
}

int store_sessions_purge(struct store *st, int64_t cutoff, int limit, int64_t *out_count)
{
	struct purge_op op = { cutoff, limit, 0 };
	int rc = store_submit(st, store_rule_purge, &op);
	*out_count = op.count;
	return rc;
}

int store_session_end(struct store *st, int64_t session_id, const char *user_id, int64_t now,
		      const char *reason, int64_t *out_ended)
{
	struct end_op op = { session_id > 0 ? session_id : -1, user_id, now, reason, 0 };
	int rc = store_submit(st, store_rule_session_end, &op);
	*out_ended = op.ended;
	return rc;
}

int store_sessions_end_all(struct store *st, const char *user_id, int64_t now,
			   const char *reason, int64_t *out_ended)
{
	struct end_op op = { 0, user_id, now, reason, 0 };
	int rc = store_submit(st, store_rule_session_end, &op);
	*out_ended = op.ended;
	return rc;
}

/* ---- platform identities ---- */

int store_platform_login(struct store *st, const struct store_platform_login *in,
			 struct store_platform_result *out)
{
	memset(out, 0, sizeof *out);
	struct platform_op op = { in, out };
	return store_submit(st, store_rule_platform_login, &op);
}

int store_identity_unlink(struct store *st, const char *user_id, const char *provider,
			  int *out_outcome)
{
	struct unlink_op op = { user_id, provider, 0 };
	int rc = store_submit(st, store_rule_unlink, &op);
	*out_outcome = op.outcome;
	return rc;
}

/* ---- signing keys ---- */

int store_keys_list(struct store *st, struct store_key **out, size_t *out_n)
{
	*out = NULL;
	*out_n = 0;
	struct store_conn *c = store_reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int rc = store_rule_keys_list(c, out, out_n);
	store_reader_put(st, c);
	return rc;
}

void store_keys_free(struct store_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		OPENSSL_cleanse(keys[i].material, keys[i].material_len);
		free(keys[i].material);
	}
	free(keys);
}

int store_key_insert(struct store *st, const struct store_key *key)
{
	return store_submit(st, store_rule_key_insert, (void *)key);
}

int store_key_delete(struct store *st, const char *kid)
{
	return store_submit(st, store_rule_key_delete, (void *)kid);
}

int store_keys_set_material(struct store *st, const struct store_key *keys, size_t n)
{
	struct store_keys_batch b = { keys, n };
	return store_submit(st, store_rule_keys_set_material, &b);
}

/* ---- player data ---- */

int store_doc_get(struct store *st, const char *user_id, const char *key,
		  struct store_document *out)
{
	memset(out, 0, sizeof *out);
	struct store_conn *c = store_reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int rc = store_rule_doc_get(c, user_id, key, out);
	store_reader_put(st, c);
	return rc;
}

/* A document write's op, for store_doc_write and store_doc_write_async; GH_ETOOBIG for a value too long to bind. */
static int doc_write_init(struct doc_write_op *op, const char *user_id,
			  const struct store_doc_write *w, size_t n, int64_t now,
			  const struct store_doc_limits *lim, struct store_doc_result *out,
			  struct store_session_check *chk)
{
	memset(out, 0, n * sizeof *out);
	for (size_t i = 0; i < n; i++)
		if (w[i].len > INT_MAX)
			return GH_ETOOBIG;
	if (chk)
		chk->err = 0;
	*op = (struct doc_write_op){ user_id, w, n, now, { 0, 0 }, out, 0, chk };
	if (lim)
		op->lim = *lim;
	return 0;
}

int store_doc_write(struct store *st, const char *user_id, const struct store_doc_write *w,
		    size_t n, int64_t now, const struct store_doc_limits *lim,
		    struct store_doc_result *out, size_t *out_failed, struct store_session_check *chk)
{
	struct doc_write_op op;
	int rc = doc_write_init(&op, user_id, w, n, now, lim, out, chk);
	if (rc)
		return rc;
	rc = store_submit(st, store_rule_doc_write, &op);
	if (out_failed)
		*out_failed = op.failed;
	return rc;
}

struct doc_async {
	struct doc_write_op op;
	size_t *out_failed;
	store_done_fn *done;
	void *arg;
};

static void doc_async_done(void *arg, int rc)
{
	struct doc_async *a = arg;
	if (a->out_failed)
		*a->out_failed = a->op.failed;
	a->done(a->arg, rc);
	free(a);
}

bool store_doc_write_async(struct store *st, const char *user_id, const struct store_doc_write *w,
			   size_t n, int64_t now, const struct store_doc_limits *lim,
			   struct store_doc_result *out, size_t *out_failed,
			   struct store_session_check *chk, store_done_fn *done, void *arg)
{
	struct doc_async *a = xcalloc(1, sizeof *a);
	if (doc_write_init(&a->op, user_id, w, n, now, lim, out, chk)) {
		free(a);
		return false; /* store_doc_write answers it */
	}
	a->out_failed = out_failed;
	a->done = done;
	a->arg = arg;
	if (!store_submit_async(st, store_rule_doc_write, &a->op, doc_async_done, a)) {
		free(a);
		return false;
	}
	return true;
}

struct doc_delete_async {
	struct doc_delete_op op;
	int64_t *out_current;
	store_done_fn *done;
	void *arg;
};

static void doc_delete_async_done(void *arg, int rc)
{
	struct doc_delete_async *a = arg;
	if (a->out_current)
		*a->out_current = a->op.current;
	a->done(a->arg, rc);
	free(a);
}

bool store_doc_delete_async(struct store *st, const char *user_id, const char *key,
			    int64_t if_version, int64_t *out_current,
			    struct store_session_check *chk, store_done_fn *done, void *arg)
{
	if (chk)
		chk->err = 0;
	struct doc_delete_async *a = xcalloc(1, sizeof *a);
	a->op = (struct doc_delete_op){ user_id, key, if_version, 0, chk };
	a->out_current = out_current;
	a->done = done;
	a->arg = arg;
	if (!store_submit_async(st, store_rule_doc_delete, &a->op, doc_delete_async_done, a)) {
		free(a);
		return false;
	}
	return true;
}

bool store_async_writes(struct store *st)
{
	return !st->be->per_call && !atomic_load(&st->async_closed);
}

int store_doc_delete(struct store *st, const char *user_id, const char *key, int64_t if_version,
		     int64_t *out_current, struct store_session_check *chk)
{
	if (chk)
		chk->err = 0;
	struct doc_delete_op op = { user_id, key, if_version, 0, chk };
	int rc = store_submit(st, store_rule_doc_delete, &op);
	if (out_current)
		*out_current = op.current;
	return rc;
}

int store_doc_list(struct store *st, const char *user_id, const char *after, int limit,
		   struct store_doc_info **out, size_t *out_n)
{
	*out = NULL;
	*out_n = 0;
	struct store_conn *c = store_reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int rc = store_rule_doc_list(c, user_id, after, limit, out, out_n);
	store_reader_put(st, c);
	return rc;
}

/* ---- backups and checks ---- */

int store_backup(struct store *st, const char *dest, char *err, size_t errlen)
{
	return st->be->backup(st->ctx, dest, err, errlen);
}

int store_check_file(const char *path, struct strbuf *report)
{
	return backend_for(path)->check_file(path, report);
}

int store_file_schema_version(const char *path, int *out, char *err, size_t errlen)
{
	*out = 0;
	return backend_for(path)->file_version(path, out, err, errlen);
}

int store_restore(const struct store_options *opt, const char *from, char *kept_aside,
		  size_t kept_len, char *err, size_t errlen)
{
	const struct store_backend *be = backend_for(opt->path);
	if (kept_len)
		kept_aside[0] = '\0';
	if (be->per_call) /* a database server: its own tools restore it (err says which) */
		return be->restore(NULL, from, kept_aside, kept_len, err, errlen);
	struct strbuf report = STRBUF_INIT;
	int rc = be->check_file(from, &report);
	if (rc) {
		snprintf(err, errlen, "'%s' is not a usable backup, nothing was replaced: %s",
			 from, report.buf ? report.buf : "");
		sb_release(&report);
		return rc;
	}
	sb_release(&report);
	int version;
	rc = be->file_version(from, &version, err, errlen);
	if (rc)
		return rc;
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "'%s' has schema version %d, newer than this build's %d: "
			 "restore it with the gatehouse that wrote it", from, version,
			 STORE_SCHEMA_VERSION);
		return GH_EINTERNAL;
	}
	struct store_options o = *opt;
	o.must_exist = false;
	void *ctx;
	rc = be->open(&o, &ctx, err, errlen);
	if (rc)
		return rc;
	struct store_lock *lock;
	rc = store_lock_take(opt->path, &lock, err, errlen);
	if (!rc) {
		rc = be->restore(ctx, from, kept_aside, kept_len, err, errlen);
		store_lock_drop(lock);
	}
	be->close(ctx);
	return rc;
}
