/*
 * store.h - persistence: users, identities, sessions, signing keys and
 * player data. The only module that holds SQL (src/store/); no database
 * type crosses this header. Two back ends, chosen by store_options.path:
 * SQLite (a file path: one file in WAL mode, its options in store_sqlite.h)
 * and PostgreSQL (a postgres:// or postgresql:// URI, its options in
 * store_pg.h; several daemons may share the database).
 *
 * SQLite: writes go through one writer connection owned by a writer
 * thread, which commits whatever is queued in one transaction (group
 * commit; each write in its own savepoint, so one failing write never
 * undoes another); reads use a small pool of read-only connections.
 * PostgreSQL: every write is one short transaction on a pooled connection
 * (the row it decides on locked), reads use the same pool. Either way a
 * call that writes returns only after its transaction is durable.
 * Every function is safe to call from any thread.
 *
 * Return values: 0, or a negative enum gh_err: GH_ENOTFOUND (no such row),
 * GH_ECONFLICT (a uniqueness rule), GH_EUNAVAIL (disk full, read-only,
 * locked too long, I/O error: retry later), GH_EINTERNAL.
 */
#ifndef GATEHOUSE_STORE_H
#define GATEHOUSE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gatehouse/errors.h"
#include "gatehouse/strbuf.h"

struct store;
struct store_sqlite_options;
struct store_pg_options;

struct store_options {
	const char *path;          /* the database (SQLite: a file path) */
	int readers;               /* size of the read pool */
	bool group_commit;         /* queued writes share a transaction; else one each */
	/*
	 * Open an existing database only (operator commands): when there is
	 * none, fail with GH_ENOTFOUND and create nothing, not even its
	 * directory.
	 */
	bool must_exist;
	/*
	 * Hold the database's lock for the store's life (the daemon, migrate):
	 * one such store per database. When another process holds it, fail
	 * with GH_ECONFLICT naming the file and that process's PID, having
	 * changed nothing. Operator commands (must_exist) never take it.
	 */
	bool exclusive;
	/*
	 * PostgreSQL: open the whole pool as the store opens (the daemon),
	 * one connection at a time on a thread beside the caller, instead of
	 * each connection only at its first use: a node started into live
	 * traffic then does not connect under load, where a connection took
	 * seconds and held a request thread meanwhile. A connection that
	 * cannot be opened then is opened at its first use, as without it.
	 * The same thread opens the pool again whenever a call had to open a
	 * connection itself (after the database restarted or failed over).
	 * SQLite's readers, cheap to open, always open at their first use.
	 */
	bool warm;
	/* SQLite's own options (store_sqlite.h); NULL: their defaults. */
	const struct store_sqlite_options *sqlite;
	/* PostgreSQL's own options (store_pg.h), used when path is a URL; NULL: defaults. */
	const struct store_pg_options *pg;
};

/*
 * True when a database name is a PostgreSQL URI (postgres:// or
 * postgresql://); anything else is a SQLite file path.
 */
bool store_database_is_url(const char *name);
/*
 * The database name fit for a log line or an error message: a URI with its
 * password (user:PASSWORD@ and password=PASSWORD) replaced by "***"; a file
 * path as it is. The caller frees it.
 */
char *store_database_redacted(const char *name);

/*
 * Opens (creating if needed, unless must_exist) the database and its
 * directory, takes its lock when exclusive, applies migrations and starts
 * the writer thread. On failure writes a one-line
 * reason into err and returns GH_EUNAVAIL or GH_EINTERNAL.
 */
int store_open(const struct store_options *opt, struct store **out, char *err, size_t errlen);
/* Finishes queued writes, stops the writer, closes every connection. */
void store_close(struct store *st);

/* The back end's name ("sqlite" or "postgresql"), for logs. */
const char *store_backend_name(const struct store *st);

/* 0 when a read and the writer both work; GH_EUNAVAIL otherwise. */
int store_ping(struct store *st);

/* The schema version this build writes, and the one found in the file. */
int store_schema_version(void);

/*
 * The schema version of the database at path, read without changing it:
 * 0 with *out set (0 for an empty database), GH_ENOTFOUND when there is no
 * such file, GH_EINTERNAL (err says why) when it is not a gatehouse
 * database or cannot be read.
 */
int store_file_schema_version(const char *path, int *out /* OUT */, char *err, size_t errlen);

/*
 * Who holds the lock of the database at path (a running daemon, migrate,
 * restore): 0 when nobody, else that process's PID (-1 when unknown).
 * Takes and drops the lock to find out; creates nothing.
 */
long store_lock_holder(const char *path);

/*
 * Replaces the database opt->path with the backup at from: checks from as
 * store_check_file does (and that its schema is not newer than this
 * build's) before anything is replaced, takes the database's lock (refused
 * while a daemon holds it), copies from beside the database, durably,
 * moves the old file and its companions (-wal, -shm) aside under
 * "<path>.before-restore-<UTC time>" (its name in kept_aside, "" when there
 * was no database) and renames the copy into place. Works when there is no
 * database yet (its directory is created). 0, or an enum gh_err with err
 * saying why; on failure the database is as it was.
 */
int store_restore(const struct store_options *opt, const char *from, char *kept_aside,
		  size_t kept_len, char *err, size_t errlen);

/*
 * Counts commits made by other processes (operator commands) that the
 * daemon noticed; polled at least once a second by the writer. A change
 * means cached state (keys) should be reloaded.
 */
uint64_t store_external_generation(struct store *st);

/*
 * Change notices pushed by the database (PostgreSQL: LISTEN/NOTIFY on a
 * connection of their own): on each, store_external_generation moves and
 * fn(arg) runs, on the watch's thread, at once rather than at the next
 * poll. NULL when the back end has none (SQLite; the poll serves). Stop it
 * (store_watch_stop, NULL is fine) before store_close and before whatever
 * fn uses goes away.
 */
struct store_watch;
struct store_watch *store_watch_start(struct store *st, void (*fn)(void *arg), void *arg);
void store_watch_stop(struct store_watch *w);

/* What a database holds, table by table (store_copy). */
struct store_copy_counts {
	int64_t users, identities, sessions, keys, documents;
};

/*
 * Copies every row of from (users, identities, sessions, signing keys as
 * stored, documents byte for byte) into to, in one write transaction of to,
 * which must be empty: GH_ECONFLICT otherwise, nothing written. Inside that
 * transaction the counts of to must equal those of from, or it rolls back
 * (GH_EINTERNAL). *out gets the counts; err a one-line reason on failure.
 * Both stores must be at this build's schema version.
 */
int store_copy(struct store *from, struct store *to, struct store_copy_counts *out /* OUT */,
	       char *err, size_t errlen);

/* ---- users ---- */

struct store_user {
	char user_id[37];
	bool has_guest_secret;
	unsigned char guest_secret_hash[32];
	int64_t created_at;
	int64_t last_seen_at;
	int64_t banned_until;      /* 0 = not banned; STORE_BAN_FOREVER = for good */
};

int store_user_get(struct store *st, const char *user_id, struct store_user *out /* OUT */);

/*
 * The check of an authenticated request, as one indexed read: the user (as
 * store_user_get) and *out_session_live, true when session_id is one of
 * that user's sessions and has not ended (logout, logout-all, ban, reuse
 * revocation). A session past its expires_at but never ended counts as
 * live: its last access tokens may outlive it by up to their own TTL.
 * session_id 0 matches no session. GH_ENOTFOUND when there is no such user.
 */
int store_user_session_get(struct store *st, const char *user_id, int64_t session_id,
			   struct store_user *out /* OUT */, bool *out_session_live /* OUT */);
/*
 * The rule over that read: 0 when the user may go on; GH_EBANNED while
 * banned_until is after now; GH_EENDED when the token names a session
 * (has_session) that is no longer live. One place for the router's check
 * and for the check a write makes in its own transaction.
 */
int store_session_verdict(int64_t banned_until, bool has_session, bool session_live, int64_t now);

/*
 * The token's check made inside a write's own transaction instead of
 * before it (a round trip less on PostgreSQL, a read transaction less on
 * SQLite): the write reads its user's row with the session, and does
 * nothing unless the user exists, is not banned and the session is live.
 * In: session_id (0: a token without one: its user only) and now. Out:
 * err, 0 when the check passed, else GH_ENOTFOUND (no such user),
 * GH_EBANNED or GH_EENDED, and the write returned it too.
 */
struct store_session_check {
	int64_t session_id;
	int64_t now;
	int err;
};
/*
 * store_user_session_get and then store_doc_get of key for that user, on
 * one connection (PostgreSQL: in one round trip). *doc_err is the document
 * read's result (0, GH_ENOTFOUND, a failure) when the user read succeeded,
 * else that failure too; doc->value is the caller's to free.
 */
struct store_document;
int store_user_session_doc_get(struct store *st, const char *user_id, int64_t session_id,
			       const char *key, struct store_user *out /* OUT */,
			       bool *out_session_live /* OUT */, struct store_document *doc /* OUT */,
			       int *doc_err /* OUT */);

/* ---- sessions ---- */

struct store_session_new {
	const char *user_id;
	const char *access_scope;  /* "guest" or "authenticated" */
	const char *jti;           /* the first refresh token's id */
	int64_t now;
	int64_t expires_at;
	int64_t seen_at;           /* the user's last_seen_at as read before, or 0 */
};

/*
 * Creates a guest user (secret digest given) and its first session in one
 * transaction. GH_ECONFLICT when the user id exists.
 */
int store_guest_create(struct store *st, const char *user_id,
		       const unsigned char secret_hash[32], const struct store_session_new *s,
		       int64_t *out_session_id /* OUT */);

/*
 * Starts a session for an existing user and records the login time.
 * GH_ENOTFOUND when the user no longer exists.
 */
int store_session_create(struct store *st, const struct store_session_new *s,
			 int64_t *out_session_id /* OUT */);

enum store_refresh_outcome {
	REFRESH_ROTATED = 0, /* presented the current token: rotated */
	REFRESH_GRACE,       /* presented the previous token within the grace window */
	REFRESH_REUSED,      /* presented a spent token: the session is now revoked */
	REFRESH_INVALID,     /* no such live session (ended, expired, deleted user) */
	REFRESH_BANNED,      /* the user is banned */
};

struct store_refresh {
	int64_t session_id;
	const char *user_id;       /* from the token; must match the session */
	const char *presented_jti;
	const char *new_jti;       /* becomes the current token on success */
	int64_t now;               /* seconds, for expiry and bans */
	int64_t now_ms;            /* the same instant in milliseconds */
	int64_t grace_ms;          /* how long the previous token stays usable; 0 = not at all */
};

struct store_refresh_result {
	int outcome;               /* enum store_refresh_outcome */
	int64_t expires_at;        /* the session's fixed end */
	char access_scope[16];
};

/*
 * Spends a refresh token atomically (the rotation rules of API.md B/D.1).
 * Returns 0 with the outcome in out (a REUSED revocation is committed), or
 * an error when the store could not decide.
 */
int store_session_refresh(struct store *st, const struct store_refresh *r,
			  struct store_refresh_result *out /* OUT */);
/* Called on the store's writer thread when an asynchronous write is done. */
typedef void store_done_fn(void *arg, int rc);
/*
 * store_session_refresh without waiting for it, as store_doc_write_async:
 * true when queued (done(arg, rc) on the writer thread once the outcome is
 * durable, *out filled; r and out must live until then), false with
 * nothing done when the store cannot take it.
 */
bool store_session_refresh_async(struct store *st, const struct store_refresh *r,
				 struct store_refresh_result *out /* OUT */, store_done_fn *done,
				 void *arg);

/*
 * Deletes up to limit sessions that ended or expired before cutoff (one
 * short transaction; call again while it returns limit). Nodes purging at
 * the same time split the rows. *out_count counts them.
 */
int store_sessions_purge(struct store *st, int64_t cutoff, int limit, int64_t *out_count /* OUT */);

/* ---- accounts ---- */

/* banned_until of a ban without end (9999-12-31T23:59:59Z). */
#define STORE_BAN_FOREVER 253402300799LL

/*
 * Ends one live session of user_id (logout). *out_ended is 1, or 0 when it
 * had already ended, expired, or is not that user's.
 */
int store_session_end(struct store *st, int64_t session_id, const char *user_id, int64_t now,
		      const char *reason, int64_t *out_ended /* OUT */);
/* Ends every live session of user_id; *out_ended counts them. */
int store_sessions_end_all(struct store *st, const char *user_id, int64_t now,
			   const char *reason, int64_t *out_ended /* OUT */);
/*
 * Erases the user with its identities, sessions and player data, in one
 * transaction. GH_ENOTFOUND when there is no such user.
 */
int store_user_delete(struct store *st, const char *user_id);
/*
 * Bans until banned_until (STORE_BAN_FOREVER for good), ending every
 * session in the same transaction; banned_until 0 lifts a ban.
 * GH_ENOTFOUND when there is no such user.
 */
int store_user_set_ban(struct store *st, const char *user_id, int64_t banned_until, int64_t now,
		       int64_t *out_sessions_ended /* OUT, may be NULL */);

struct store_identity {
	char provider[64];         /* "steam", "apple", "google_play", "facebook", "oidc:<name>" */
	char subject[256];
};

struct store_session_info {
	int64_t session_id, created_at, expires_at;
	int64_t ended_at;          /* 0 while live */
	int64_t refreshed_at;      /* its last refresh (0: never refreshed) */
};

struct store_doc_entry {
	char key[129];
	int64_t version, updated_at;
	char *value;               /* the stored JSON text */
	size_t len;
};

struct store_account {
	struct store_user user;
	int64_t live_sessions;
	struct store_identity *identities;
	size_t nidentities;
	struct store_session_info *sessions; /* full reads only */
	size_t nsessions;
	struct store_doc_entry *docs;        /* full reads only */
	size_t ndocs;
};

/*
 * Everything about a user, read in one transaction: the user, its live
 * session count and identities, and with full all its sessions and player
 * documents. GH_ENOTFOUND when there is no such user. Release with
 * store_account_release (also after a failure).
 */
int store_account_get(struct store *st, const char *user_id, int64_t now, bool full,
		      struct store_account *out /* OUT */);
void store_account_release(struct store_account *a);

/* How many users there are, and how many sessions are live (full scans: seldom). */
int store_counts(struct store *st, int64_t now, int64_t *out_users /* OUT */,
		 int64_t *out_sessions /* OUT */);

/*
 * Deletes up to limit guest accounts (a guest secret and no platform
 * identity) idle since before idle_before. *out_deleted counts them.
 */
int store_guests_cleanup(struct store *st, int64_t idle_before, int limit,
			 int64_t *out_deleted /* OUT */);

/*
 * Claims the lease `name` (a job one node at a time runs: "gauges") for
 * holder until `until`: *out_held is true when holder holds it now (it held
 * it already, or the previous holder's time ran out before now).
 */
int store_lease_claim(struct store *st, const char *name, const char *holder, int64_t now,
		      int64_t until, bool *out_held /* OUT */);
/* ---- the admin API's reads (search.c) ---- */

/*
 * A guest: a user with a guest secret and no platform identity (the users
 * guest clean-up may delete; the SQL of Q_GUEST_CLEANUP, Q_USERS_PAGE and
 * Q_COUNT_GUESTS says the same).
 */
static inline bool store_account_is_guest(const struct store_account *a)
{
	return a->user.has_guest_secret && a->nidentities == 0;
}

struct store_user_summary {
	char user_id[37];
	int64_t created_at, last_seen_at;
	int64_t banned_until;      /* 0 = never banned (may be in the past) */
	bool guest;
};

struct store_users_query {
	int64_t created_after;     /* created_at > this (-1: no bound) */
	int64_t created_before;    /* created_at < this (INT64_MAX: no bound) */
	/* The cursor: users after (cursor_created_at, cursor_user_id); -1 and "" for the first page. */
	int64_t cursor_created_at;
	const char *cursor_user_id;
	int limit;
};

/*
 * Up to q->limit users in (created_at, user_id) order, from the cursor on,
 * within the creation bounds. The caller frees *out.
 */
int store_users_page(struct store *st, const struct store_users_query *q,
		     struct store_user_summary **out /* OUT */, size_t *out_n /* OUT */);

/* The user holding identity (provider, subject): 0 with its id, or GH_ENOTFOUND. */
int store_identity_owner(struct store *st, const char *provider, const char *subject,
			 char out_user_id[37] /* OUT */);

struct store_stats {
	int64_t users, guests, active_sessions, documents;
};
/* Counts for the admin overview (full scans: seldom). */
int store_stats_get(struct store *st, int64_t now, struct store_stats *out /* OUT */);

/*
 * Up to limit documents of user_id with keys after `after` ("" for the
 * first page), ordered bytewise by key, with their values. Release each
 * value and the array with store_doc_entries_free.
 */
int store_doc_page(struct store *st, const char *user_id, const char *after, int limit,
		   struct store_doc_entry **out /* OUT */, size_t *out_n /* OUT */);
void store_doc_entries_free(struct store_doc_entry *docs, size_t n);

/* ---- platform identities ---- */

struct store_platform_login {
	const char *provider;      /* "steam", "apple", "google_play", "facebook", "oidc:<name>" */
	const char *subject;       /* the platform's id for the player */
	bool link_requested;       /* link_to_existing_user=Yes with an auth_token */
	const char *link_user_id;  /* that token's user when it verified, else NULL */
	bool reject_conflict;      /* link_conflict=reject */
	const char *new_user_id;   /* a fresh UUID, used when a user must be created */
	const char *jti;           /* the first refresh token of the new session */
	int64_t now, expires_at;
};

enum store_platform_outcome {
	PLATFORM_LOGIN_OK = 0,
	PLATFORM_LOGIN_CONFLICT,    /* linking a platform id another user holds (reject) */
	PLATFORM_LOGIN_LINK_FAILED, /* linking asked, but the auth_token or its user is bad */
	PLATFORM_LOGIN_BANNED,
};

struct store_platform_result {
	int outcome;               /* enum store_platform_outcome */
	char user_id[37];
	int64_t session_id;
	bool created, linked;
};

/*
 * One platform login in one transaction (API.md A.2, C.3): the platform id
 * already mapped logs in as its owner (a conflict when linking elsewhere
 * under reject); else linking maps it to the link user (replacing that
 * user's earlier id of the provider); else a new user is created. Then a
 * session (scope authenticated) starts. Concurrent first logins of one
 * platform id make one user. 0 with the outcome, or an error.
 */
int store_platform_login(struct store *st, const struct store_platform_login *in,
			 struct store_platform_result *out /* OUT */);

enum store_unlink_outcome { UNLINK_DONE = 0, UNLINK_NOT_LINKED, UNLINK_LAST_METHOD };

/*
 * Removes the user's identity of provider, unless it is the last way to
 * log in (no guest secret, no other identity). 0 with the outcome, or
 * GH_ENOTFOUND for an unknown user, or another error.
 */
int store_identity_unlink(struct store *st, const char *user_id, const char *provider,
			  int *out_outcome /* OUT */);

/* ---- signing keys ---- */

struct store_key {
	char kid[64];
	char use[16];              /* "access" (published) or "refresh" (internal HMAC) */
	char alg[16];              /* "RS256", "ES256", "HS256" */
	unsigned char *material;   /* PKCS#8 PEM for asymmetric keys, raw bytes for HMAC */
	size_t material_len;
	int64_t created_at;
	int64_t activate_at;       /* signs from this time until a later key activates */
	/*
	 * The key's place among the keys of its use, unique per use. On
	 * insert: the highest epoch of the use the caller saw + 1, and the
	 * insert is GH_ECONFLICT when another writer (another node) inserted
	 * that epoch first; 0 takes the next free epoch unconditionally.
	 */
	int64_t epoch;
};

/*
 * All keys, ordered by use, then activate_at. The caller frees the array
 * with store_keys_free (material is scrubbed).
 */
int store_keys_list(struct store *st, struct store_key **out /* OUT */, size_t *out_n /* OUT */);
void store_keys_free(struct store_key *keys, size_t n);
int store_key_insert(struct store *st, const struct store_key *key);
int store_key_delete(struct store *st, const char *kid);
/*
 * Replaces the material of each of the n keys (by kid; other fields are
 * ignored) in one transaction: all or none. For moving keys on or off
 * encryption at rest. GH_ENOTFOUND when a kid is gone.
 */
int store_keys_set_material(struct store *st, const struct store_key *keys, size_t n);

/* ---- player data ---- */

struct store_document {
	char *value;               /* the stored JSON text, NUL-terminated; caller frees */
	size_t len;
	int64_t version;
	int64_t updated_at;
};

/* GH_ENOTFOUND when absent. */
int store_doc_get(struct store *st, const char *user_id, const char *key,
		  struct store_document *out /* OUT */);
enum store_doc_cond {
	DOC_ANY = 0,               /* write whatever is there */
	DOC_IF_MATCH,              /* only over version (0: over any existing version) */
	DOC_IF_NONE_MATCH,         /* only when absent */
};

struct store_doc_write {
	const char *key;
	const char *value;         /* JSON text, stored byte for byte */
	size_t len;
	int cond;                  /* enum store_doc_cond */
	int64_t version;           /* for DOC_IF_MATCH */
};

struct store_doc_result {
	int64_t version;           /* the new version */
	int64_t updated_at;
	bool created;              /* the key did not exist before */
	int64_t current_version;   /* the version found before (0: absent); set on GH_EPRECOND */
};

/* Per-user quotas; 0 means no limit. */
struct store_doc_limits {
	int64_t max_keys;
	int64_t max_bytes;
};

/*
 * Writes n documents of user_id in one transaction, all or none. Versions
 * are positive, strictly increasing per user (so per key too), and never
 * reused, even after a delete. On failure *out_failed is the index of the
 * write that failed and out[*out_failed].current_version what was found:
 * GH_EPRECOND (its precondition), GH_ETOOBIG (a quota), GH_ENOTFOUND (the
 * user no longer exists), GH_EUNAVAIL. Keys must be unique within a call.
 * With chk, nothing is written unless its check passes (chk->err).
 */
int store_doc_write(struct store *st, const char *user_id, const struct store_doc_write *w,
		    size_t n, int64_t now, const struct store_doc_limits *lim,
		    struct store_doc_result *out /* OUT: n results */,
		    size_t *out_failed /* OUT, may be NULL */,
		    struct store_session_check *chk /* IN/OUT, may be NULL */);

/*
 * store_doc_write without waiting for it (issue 18: a request that writes
 * then needs no thread to wait for the commit). True when queued: done
 * (arg, rc) is called on the store's writer thread once the write is
 * durable or failed, with *out, *out_failed and *chk filled as
 * store_doc_write fills them; w, its values, out, out_failed and chk must
 * live until then. False, with nothing done, when the store cannot take
 * one (no writer thread, as on PostgreSQL; or after store_async_close):
 * make the same write with store_doc_write. done must be short: the
 * writer's next batch waits for it.
 */
bool store_doc_write_async(struct store *st, const char *user_id, const struct store_doc_write *w,
			   size_t n, int64_t now, const struct store_doc_limits *lim,
			   struct store_doc_result *out, size_t *out_failed,
			   struct store_session_check *chk, store_done_fn *done, void *arg);
/* store_doc_delete the same way (*out_current and *chk filled before done). */
bool store_doc_delete_async(struct store *st, const char *user_id, const char *key,
			    int64_t if_version, int64_t *out_current,
			    struct store_session_check *chk, store_done_fn *done, void *arg);
/* Whether the asynchronous calls can take writes (a writer thread, not closed). */
bool store_async_writes(struct store *st);
/*
 * From now on the asynchronous calls (store_doc_write_async and its
 * kin) say no; returns once the callbacks of every write they took have
 * run. Before the callbacks' world goes away.
 */
void store_async_close(struct store *st);

/*
 * Deletes a document. if_version: -1 unconditionally, 0 when it exists
 * (If-Match: *), else only over that version. GH_ENOTFOUND when absent and
 * unconditional; GH_EPRECOND (with *out_current, 0 when absent) otherwise.
 * With chk, as store_doc_write.
 */
int store_doc_delete(struct store *st, const char *user_id, const char *key, int64_t if_version,
		     int64_t *out_current /* OUT, may be NULL */,
		     struct store_session_check *chk /* IN/OUT, may be NULL */);

struct store_doc_info {
	char key[129];
	int64_t version, size, updated_at;
};

/*
 * Up to limit documents of user_id with keys after `after` ("" for the
 * first page), ordered bytewise by key. The caller frees *out.
 */
int store_doc_list(struct store *st, const char *user_id, const char *after, int limit,
		   struct store_doc_info **out /* OUT */, size_t *out_n /* OUT */);

/* ---- backups and checks ---- */

/*
 * A consistent online copy of the database into dest, which must not
 * exist: VACUUM INTO a temporary file beside it, fsync, integrity check,
 * rename, fsync the directory. On failure err says why and nothing is left
 * behind. Safe while a daemon writes the database.
 */
int store_backup(struct store *st, const char *dest, char *err, size_t errlen);

/*
 * Opens a database file read-only and checks it: integrity, foreign keys,
 * that it is a gatehouse database. 0 (report says what it holds), or
 * GH_EINTERNAL (damaged or foreign: report says how), or GH_EUNAVAIL
 * (unreadable).
 */
int store_check_file(const char *path, struct strbuf *report);

#endif
