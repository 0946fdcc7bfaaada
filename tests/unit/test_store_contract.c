/*
 * test_store_contract.c - the rules every store back end keeps, through
 * store.h only: one table of cases run against each back end in the
 * table below. SQLite always runs; a back end that cannot run here (no
 * server, not built) is skipped with its reason. Cases never assume an
 * empty database: each makes its own users (fresh UUIDs), so a back end
 * may hand every case the same database.
 *
 * PostgreSQL runs when GH_TEST_DATABASE_URL names a server (tests/pg.sh
 * exports it): every case on that database, plus the cases that only a
 * database shared by several connections can show (pg_cases: concurrent
 * refreshes, document writes, migrations of an empty database).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "gatehouse/log.h"
#include "gatehouse/store.h"
#include "gatehouse/store_pg.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/random.h"
#include "gatehouse/digest.h"
#include "harness.h"
#include "fixtures.h"

#define T0 1800000000LL

static char tmp_dir[64];

/* ---- back ends ---- */

struct backend {
	const char *name;
	/* NULL when the back end can run here, else why not. */
	const char *(*unavailable)(void);
	/* A store for one case; exits the program when it cannot open. */
	struct store *(*open)(void);
};

static const char *sqlite_unavailable(void)
{
	return NULL;
}

static struct store *sqlite_open(void)
{
	static int seq;
	char path[160];
	snprintf(path, sizeof path, "%s/c%d/gatehouse.db", tmp_dir, ++seq);
	return fixture_store_open(path, NULL);
}

static const char *postgres_unavailable(void)
{
	const char *url = getenv("GH_TEST_DATABASE_URL");
	if (!url || !*url)
		return "GH_TEST_DATABASE_URL is not set (tests/pg.sh run make unit sets it)";
	return NULL;
}

/* A store on url (8 pooled connections); exits when it cannot open. */
static struct store *pg_open_url(const char *url)
{
	/* Generous: under valgrind a scram login alone takes seconds. */
	struct store_pg_options pg = { .connect_timeout_s = 60, .statement_timeout_ms = 60000,
				       .lock_timeout_ms = 5000, .auto_migrate = true };
	struct store_options opt = { .path = url, .readers = 8, .pg = &pg };
	struct store *st = NULL;
	char err[512] = "";
	if (store_open(&opt, &st, err, sizeof err)) {
		fprintf(stderr, "store_open: %s\n", err);
		exit(2);
	}
	return st;
}

static struct store *postgres_open(void)
{
	return pg_open_url(getenv("GH_TEST_DATABASE_URL"));
}

static const struct backend backends[] = {
	{ "sqlite", sqlite_unavailable, sqlite_open },
	{ "postgresql", postgres_unavailable, postgres_open },
};

/* ---- helpers ---- */

static void new_uuid(char out[37])
{
	if (gh_uuid4(out))
		exit(2);
}

/* Creates a guest user with a first session whose refresh token is jti. */
static int64_t make_guest(struct store *st, char user_id[37], const char *jti, int64_t now,
			  int64_t expires_at)
{
	new_uuid(user_id);
	unsigned char h[32];
	gh_sha256(user_id, strlen(user_id), h);
	struct store_session_new s = {
		.user_id = user_id, .access_scope = "guest", .jti = jti, .now = now,
		.expires_at = expires_at,
	};
	int64_t sid = 0;
	CHECK_INT(store_guest_create(st, user_id, h, &s, &sid), 0);
	CHECK(sid > 0);
	return sid;
}

static int refresh_ms(struct store *st, int64_t sid, const char *user_id, const char *presented,
		      const char *new_jti, int64_t now_ms, int64_t grace_ms,
		      struct store_refresh_result *res)
{
	struct store_refresh r = {
		.session_id = sid, .user_id = user_id, .presented_jti = presented,
		.new_jti = new_jti, .now = now_ms / 1000, .now_ms = now_ms, .grace_ms = grace_ms,
	};
	CHECK_INT(store_session_refresh(st, &r, res), 0);
	return res->outcome;
}

static int refresh(struct store *st, int64_t sid, const char *user_id, const char *presented,
		   const char *new_jti, int64_t now, int64_t grace,
		   struct store_refresh_result *res)
{
	return refresh_ms(st, sid, user_id, presented, new_jti, now * 1000, grace * 1000, res);
}

/* A platform login of (provider, subject); link_user may be NULL. */
static int platform(struct store *st, const char *provider, const char *subject,
		    bool link, const char *link_user, bool reject, int64_t now,
		    struct store_platform_result *out)
{
	char new_id[37], jti[40];
	new_uuid(new_id);
	snprintf(jti, sizeof jti, "p-%s", new_id);
	struct store_platform_login in = {
		.provider = provider, .subject = subject, .link_requested = link,
		.link_user_id = link_user, .reject_conflict = reject, .new_user_id = new_id,
		.jti = jti, .now = now, .expires_at = now + 1000,
	};
	CHECK_INT(store_platform_login(st, &in, out), 0);
	return out->outcome;
}

/* A unique platform subject for this run. */
static void new_subject(char out[48], const char *tag)
{
	char u[37];
	new_uuid(u);
	snprintf(out, 48, "%s-%s", tag, u);
}

/* The subject of user_id's identity of provider ("" when none). */
static void identity_of(struct store *st, const char *user_id, const char *provider,
			char *out, size_t cap)
{
	struct store_account a;
	out[0] = '\0';
	CHECK_INT(store_account_get(st, user_id, T0, false, &a), 0);
	for (size_t i = 0; i < a.nidentities; i++)
		if (!strcmp(a.identities[i].provider, provider))
			snprintf(out, cap, "%s", a.identities[i].subject);
	store_account_release(&a);
}

static size_t identity_count(struct store *st, const char *user_id)
{
	struct store_account a;
	if (store_account_get(st, user_id, T0, false, &a))
		return 0;
	size_t n = a.nidentities;
	store_account_release(&a);
	return n;
}

static int64_t live_sessions(struct store *st, const char *user_id, int64_t now)
{
	struct store_account a;
	if (store_account_get(st, user_id, now, false, &a))
		return -1;
	int64_t n = a.live_sessions;
	store_account_release(&a);
	return n;
}

static int put(struct store *st, const char *user_id, const char *key, const char *value,
	       int cond, int64_t version, const struct store_doc_limits *lim,
	       struct store_doc_result *r)
{
	struct store_doc_write w = { .key = key, .value = value, .len = strlen(value),
				     .cond = cond, .version = version };
	return store_doc_write(st, user_id, &w, 1, T0 + 10, lim, r, NULL, NULL);
}

static int64_t doc_version(struct store *st, const char *user_id, const char *key)
{
	struct store_document d;
	int rc = store_doc_get(st, user_id, key, &d);
	free(d.value);
	return rc ? -1 : d.version;
}

/* ---- guests and users ---- */

static void case_guest_create(struct store *st)
{
	char uid[37];
	make_guest(st, uid, "G0", T0, T0 + 600);
	struct store_user u;
	CHECK_INT(store_user_get(st, uid, &u), 0);
	CHECK_STR(u.user_id, uid);
	CHECK(u.has_guest_secret);
	unsigned char h[32];
	gh_sha256(uid, strlen(uid), h);
	CHECK(memcmp(u.guest_secret_hash, h, 32) == 0);
	CHECK_INT(u.created_at, T0);
	CHECK_INT(u.banned_until, 0);
	/* The same id again: a conflict, and the first user unchanged. */
	struct store_session_new s = { .user_id = uid, .access_scope = "guest", .jti = "G1",
				       .now = T0 + 5, .expires_at = T0 + 600 };
	unsigned char h2[32] = { 1 };
	int64_t sid;
	CHECK_INT(store_guest_create(st, uid, h2, &s, &sid), GH_ECONFLICT);
	CHECK_INT(store_user_get(st, uid, &u), 0);
	CHECK(memcmp(u.guest_secret_hash, h, 32) == 0);
	CHECK_INT(live_sessions(st, uid, T0 + 6), 1);
	/* A session for a user that does not exist. */
	char ghost[37];
	new_uuid(ghost);
	s.user_id = ghost;
	CHECK_INT(store_session_create(st, &s, &sid), GH_ENOTFOUND);
	CHECK_INT(store_user_get(st, ghost, &u), GH_ENOTFOUND);
	CHECK_INT(store_ping(st), 0);
}

static int64_t last_seen(struct store *st, const char *uid)
{
	struct store_user u;
	CHECK_INT(store_user_get(st, uid, &u), 0);
	return u.last_seen_at;
}

/*
 * last_seen_at is kept to the hour: a login or refresh writes it when the
 * stored one is an hour old, whether the caller read it before (seen_at) or
 * not (0); a seen_at that is recent spares the write.
 */
static void case_last_seen_to_the_hour(struct store *st)
{
	char uid[37];
	int64_t sid = make_guest(st, uid, "LS1", T0, T0 + 100000);
	CHECK_INT(last_seen(st, uid), T0);
	struct store_session_new s = { .user_id = uid, .access_scope = "guest", .jti = "LS2",
				       .now = T0 + 3600, .expires_at = T0 + 100000, .seen_at = T0 };
	int64_t sid2;
	CHECK_INT(store_session_create(st, &s, &sid2), 0);
	CHECK(sid2 > sid);
	CHECK_INT(last_seen(st, uid), T0); /* an hour, not more */
	s.now = T0 + 3601;
	s.jti = "LS3";
	CHECK_INT(store_session_create(st, &s, &sid2), 0);
	CHECK_INT(last_seen(st, uid), T0 + 3601);
	/* Not read before: the database decides. */
	s.seen_at = 0;
	s.now = T0 + 3700;
	s.jti = "LS4";
	CHECK_INT(store_session_create(st, &s, &sid2), 0);
	CHECK_INT(last_seen(st, uid), T0 + 3601);
	s.now = T0 + 7202;
	s.jti = "LS5";
	CHECK_INT(store_session_create(st, &s, &sid2), 0);
	CHECK_INT(last_seen(st, uid), T0 + 7202);
	/* A stale seen_at (older than stored) writes nothing older. */
	s.seen_at = T0;
	s.now = T0 + 7300;
	s.jti = "LS6";
	CHECK_INT(store_session_create(st, &s, &sid2), 0);
	CHECK_INT(last_seen(st, uid), T0 + 7202);
	/* A refresh reads it with the session's row. */
	struct store_refresh_result res;
	CHECK_INT(refresh(st, sid, uid, "LS1", "LS1b", T0 + 10000, 0, &res), REFRESH_ROTATED);
	CHECK_INT(last_seen(st, uid), T0 + 7202);
	CHECK_INT(refresh(st, sid, uid, "LS1b", "LS1c", T0 + 10803, 0, &res), REFRESH_ROTATED);
	CHECK_INT(last_seen(st, uid), T0 + 10803);
}

/* The check behind every authenticated request: the user and one session. */
static void case_user_session_get(struct store *st)
{
	char uid[37], other[37], ghost[37];
	int64_t sid = make_guest(st, uid, "US1", T0, T0 + 600);
	int64_t theirs = make_guest(st, other, "US2", T0, T0 + 600);
	new_uuid(ghost);
	struct store_user u;
	bool live = false;

	CHECK_INT(store_user_session_get(st, uid, sid, &u, &live), 0);
	CHECK_STR(u.user_id, uid);
	CHECK_INT(u.created_at, T0);
	CHECK(u.has_guest_secret);
	CHECK(live);
	/* No session (a token without sid), and another user's session: not live. */
	CHECK_INT(store_user_session_get(st, uid, 0, &u, &live), 0);
	CHECK(!live);
	CHECK_INT(store_user_session_get(st, uid, theirs, &u, &live), 0);
	CHECK(!live);
	CHECK_INT(store_user_session_get(st, uid, 999999, &u, &live), 0);
	CHECK(!live);
	/* Past its expires_at but never ended: still live (its last access token may outlive it). */
	CHECK_INT(store_user_session_get(st, uid, sid, &u, &live), 0);
	CHECK(live);
	/* Ended: no longer live; the user is still read. */
	int64_t n = 0;
	CHECK_INT(store_session_end(st, sid, uid, T0 + 10, "logout", &n), 0);
	CHECK_INT(n, 1);
	CHECK_INT(store_user_session_get(st, uid, sid, &u, &live), 0);
	CHECK(!live);
	CHECK_STR(u.user_id, uid);
	/* A ban ends the sessions and shows in the user. */
	CHECK_INT(store_user_set_ban(st, other, STORE_BAN_FOREVER, T0 + 20, NULL), 0);
	CHECK_INT(store_user_session_get(st, other, theirs, &u, &live), 0);
	CHECK(!live);
	CHECK_INT(u.banned_until, STORE_BAN_FOREVER);
	/* Unknown and deleted users. */
	CHECK_INT(store_user_session_get(st, ghost, sid, &u, &live), GH_ENOTFOUND);
	CHECK(!live);
	CHECK_INT(store_user_delete(st, other), 0);
	CHECK_INT(store_user_session_get(st, other, theirs, &u, &live), GH_ENOTFOUND);
}

/*
 * The user and session check with a document read behind it (PostgreSQL:
 * one pipeline): the document of that user, its absence, and no document
 * for an unknown or malformed user; a read not used leaves nothing behind
 * for the connection's next call.
 */
static void case_user_session_doc_get(struct store *st)
{
	char uid[37], ghost[37];
	int64_t sid = make_guest(st, uid, "UD1", T0, T0 + 600);
	new_uuid(ghost);
	struct store_doc_result r;
	CHECK_INT(put(st, uid, "k", "\"v\"", DOC_ANY, 0, NULL, &r), 0);
	struct store_user u;
	struct store_document d;
	bool live = false;
	int derr = 99;
	CHECK_INT(store_user_session_doc_get(st, uid, sid, "k", &u, &live, &d, &derr), 0);
	CHECK(live);
	CHECK_STR(u.user_id, uid);
	CHECK_INT(derr, 0);
	CHECK_INT(d.version, r.version);
	CHECK_INT((int64_t)d.len, 3);
	CHECK(d.value && !memcmp(d.value, "\"v\"", 3));
	free(d.value);
	CHECK_INT(store_user_session_doc_get(st, uid, sid, "none", &u, &live, &d, &derr), 0);
	CHECK_INT(derr, GH_ENOTFOUND);
	CHECK(!d.value);
	for (int i = 0; i < 3; i++) { /* every pooled connection, after an unused read */
		CHECK_INT(store_user_session_doc_get(st, ghost, sid, "k", &u, &live, &d, &derr),
			  GH_ENOTFOUND);
		CHECK_INT(derr, GH_ENOTFOUND);
		CHECK(!d.value);
		CHECK_INT(store_user_session_doc_get(st, "not-a-uuid", sid, "k", &u, &live, &d,
						     &derr), GH_ENOTFOUND);
		CHECK(!d.value);
	}
	/* The next plain reads and writes see their own rows. */
	struct store_document g;
	CHECK_INT(store_doc_get(st, uid, "k", &g), 0);
	CHECK_INT(g.version, r.version);
	free(g.value);
	CHECK_INT(put(st, uid, "k", "\"w\"", DOC_IF_MATCH, r.version, NULL, &r), 0);
	CHECK_INT(store_user_session_doc_get(st, uid, sid, "k", &u, &live, &d, &derr), 0);
	CHECK_INT(d.version, r.version);
	CHECK(d.value && !memcmp(d.value, "\"w\"", 3));
	free(d.value);
}

/*
 * The token's check made by a write in its own transaction
 * (store_session_check): a live session writes; an ended session, a
 * banned or unknown user write nothing and say why; a token without a
 * session checks its user only; a delete is refused the same way.
 */
static void case_document_write_checks_session(struct store *st)
{
	char uid[37], other[37], ghost[37];
	int64_t sid = make_guest(st, uid, "WC1", T0, T0 + 600);
	int64_t theirs = make_guest(st, other, "WC2", T0, T0 + 600);
	new_uuid(ghost);
	struct store_doc_write w = { .key = "k", .value = "\"v\"", .len = 3 };
	struct store_doc_result r;
	struct store_session_check chk = { .session_id = sid, .now = T0 + 5, .err = 99 };
	CHECK_INT(store_doc_write(st, uid, &w, 1, T0 + 5, NULL, &r, NULL, &chk), 0);
	CHECK_INT(chk.err, 0);
	CHECK_INT(r.version, 1);
	/* Another user's session, and no session at all (a token without sid). */
	chk.session_id = theirs;
	CHECK_INT(store_doc_write(st, uid, &w, 1, T0 + 6, NULL, &r, NULL, &chk), GH_EENDED);
	CHECK_INT(chk.err, GH_EENDED);
	chk.session_id = 0;
	CHECK_INT(store_doc_write(st, uid, &w, 1, T0 + 6, NULL, &r, NULL, &chk), 0);
	CHECK_INT(chk.err, 0);
	CHECK_INT(r.version, 2);
	/* A batch and a delete in an ended session: nothing changes. */
	int64_t n = 0;
	CHECK_INT(store_session_end(st, sid, uid, T0 + 7, "logout", &n), 0);
	chk.session_id = sid;
	struct store_doc_write two[2] = { w, { .key = "j", .value = "1", .len = 1 } };
	struct store_doc_result r2[2];
	CHECK_INT(store_doc_write(st, uid, two, 2, T0 + 8, NULL, r2, NULL, &chk), GH_EENDED);
	CHECK_INT(chk.err, GH_EENDED);
	CHECK_INT(store_doc_delete(st, uid, "k", -1, NULL, &chk), GH_EENDED);
	CHECK_INT(chk.err, GH_EENDED);
	struct store_document d;
	CHECK_INT(store_doc_get(st, uid, "k", &d), 0);
	CHECK_INT(d.version, 2);
	free(d.value);
	CHECK_INT(store_doc_get(st, uid, "j", &d), GH_ENOTFOUND);
	/* Banned, until the ban lapses (the ban also ended the session: checked without one). */
	CHECK_INT(store_user_set_ban(st, other, T0 + 100, T0 + 9, NULL), 0);
	struct store_session_check c2 = { .session_id = 0, .now = T0 + 10 };
	CHECK_INT(store_doc_write(st, other, &w, 1, T0 + 10, NULL, &r, NULL, &c2), GH_EBANNED);
	CHECK_INT(c2.err, GH_EBANNED);
	CHECK_INT(store_doc_delete(st, other, "k", -1, NULL, &c2), GH_EBANNED);
	c2.now = T0 + 100;
	CHECK_INT(store_doc_write(st, other, &w, 1, T0 + 100, NULL, &r, NULL, &c2), 0);
	CHECK_INT(c2.err, 0);
	/* An unknown user, and a malformed id: GH_ENOTFOUND, said by the check. */
	struct store_session_check c3 = { .session_id = 0, .now = T0 + 10 };
	CHECK_INT(store_doc_write(st, ghost, &w, 1, T0 + 10, NULL, &r, NULL, &c3), GH_ENOTFOUND);
	CHECK_INT(c3.err, GH_ENOTFOUND);
	c3.err = 0;
	CHECK_INT(store_doc_delete(st, "not-a-uuid", "k", -1, NULL, &c3), GH_ENOTFOUND);
	CHECK_INT(c3.err, GH_ENOTFOUND);
	/* Without a check, a missing document is still only that. */
	CHECK_INT(store_doc_delete(st, uid, "nope", -1, NULL, NULL), GH_ENOTFOUND);
	/* A live session's delete goes through, and the connection serves the next call. */
	chk.session_id = 0;
	CHECK_INT(store_doc_delete(st, uid, "k", -1, NULL, &chk), 0);
	CHECK_INT(chk.err, 0);
	CHECK_INT(store_doc_get(st, uid, "k", &d), GH_ENOTFOUND);
	/* Writes nobody waits for: only with a writer thread (SQLite); PostgreSQL says no. */
	bool sqlite = !strcmp(store_backend_name(st), "sqlite");
	CHECK(store_async_writes(st) == sqlite);
	if (!sqlite)
		CHECK(!store_doc_write_async(st, uid, &w, 1, T0 + 20, NULL, &r, NULL, NULL, NULL, NULL));
}

/* ---- refresh: rotation, grace, reuse ---- */

static void case_refresh_rotate_then_grace(struct store *st)
{
	char uid[37];
	int64_t sid = make_guest(st, uid, "J0", T0, T0 + 1000);
	struct store_refresh_result res;
	/* The current token rotates; the session's end never moves. */
	CHECK_INT(refresh(st, sid, uid, "J0", "J1", T0 + 100, 10, &res), REFRESH_ROTATED);
	CHECK_INT(res.expires_at, T0 + 1000);
	CHECK_STR(res.access_scope, "guest");
	/* The previous token within the grace window: lost response, reissue. */
	CHECK_INT(refresh(st, sid, uid, "J0", "J2", T0 + 105, 10, &res), REFRESH_GRACE);
	CHECK_INT(res.expires_at, T0 + 1000);
	/* J2 is now the current token; J1 was replaced by it and is spent. */
	CHECK_INT(refresh(st, sid, uid, "J2", "J3", T0 + 106, 10, &res), REFRESH_ROTATED);
	CHECK_INT(refresh(st, sid, uid, "J3", "J4", T0 + 107, 10, &res), REFRESH_ROTATED);
}

static void case_refresh_grace_spends_the_token_issued_before(struct store *st)
{
	char uid[37];
	int64_t sid = make_guest(st, uid, "J0", T0, T0 + 1000);
	struct store_refresh_result res;
	CHECK_INT(refresh(st, sid, uid, "J0", "J1", T0 + 100, 10, &res), REFRESH_ROTATED);
	CHECK_INT(refresh(st, sid, uid, "J0", "J2", T0 + 101, 10, &res), REFRESH_GRACE);
	CHECK_INT(refresh(st, sid, uid, "J1", "J3", T0 + 102, 10, &res), REFRESH_REUSED);
	/* The reuse revoked the session: even the current token is dead. */
	CHECK_INT(refresh(st, sid, uid, "J2", "J4", T0 + 103, 10, &res), REFRESH_INVALID);
	CHECK_INT(live_sessions(st, uid, T0 + 103), 0);
}

static void case_refresh_previous_outside_grace_revokes(struct store *st)
{
	char uid[37];
	int64_t sid = make_guest(st, uid, "J0", T0, T0 + 1000);
	struct store_refresh_result res;
	CHECK_INT(refresh(st, sid, uid, "J0", "J1", T0 + 100, 10, &res), REFRESH_ROTATED);
	CHECK_INT(refresh(st, sid, uid, "J0", "J2", T0 + 111, 10, &res), REFRESH_REUSED);
	CHECK_INT(refresh(st, sid, uid, "J1", "J3", T0 + 112, 10, &res), REFRESH_INVALID);
	CHECK_INT(refresh(st, sid, uid, "J2", "J4", T0 + 112, 10, &res), REFRESH_INVALID);
	/* With no grace at all, the previous token is reuse at once. */
	int64_t sid2 = make_guest(st, uid, "K0", T0, T0 + 1000);
	CHECK_INT(refresh(st, sid2, uid, "K0", "K1", T0 + 100, 0, &res), REFRESH_ROTATED);
	CHECK_INT(refresh(st, sid2, uid, "K0", "K2", T0 + 100, 0, &res), REFRESH_REUSED);
	CHECK_INT(refresh(st, sid2, uid, "K1", "K3", T0 + 102, 0, &res), REFRESH_INVALID);
}

static void case_refresh_grace_window_in_milliseconds(struct store *st)
{
	/* The window is inclusive and not rounded to whole seconds. */
	char uid[37];
	int64_t sid = make_guest(st, uid, "M0", T0, T0 + 1000);
	struct store_refresh_result res;
	int64_t t = (T0 + 100) * 1000 + 900;
	CHECK_INT(refresh_ms(st, sid, uid, "M0", "M1", t, 1000, &res), REFRESH_ROTATED);
	CHECK_INT(refresh_ms(st, sid, uid, "M0", "M2", t + 1000, 1000, &res), REFRESH_GRACE);
	CHECK_INT(refresh_ms(st, sid, uid, "M0", "M3", t + 1001, 1000, &res), REFRESH_REUSED);
	CHECK_INT(refresh_ms(st, sid, uid, "M3", "M4", t + 1002, 1000, &res), REFRESH_INVALID);
}

static void case_refresh_unknown_jti_revokes(struct store *st)
{
	char uid[37];
	int64_t sid = make_guest(st, uid, "J0", T0, T0 + 1000);
	struct store_refresh_result res;
	CHECK_INT(refresh(st, sid, uid, "never-issued", "J1", T0 + 10, 10, &res), REFRESH_REUSED);
	CHECK_INT(refresh(st, sid, uid, "J0", "J2", T0 + 11, 10, &res), REFRESH_INVALID);
	/* A jti that is a prefix of the current one is not the current one. */
	int64_t sid2 = make_guest(st, uid, "ABCDEF", T0, T0 + 1000);
	CHECK_INT(refresh(st, sid2, uid, "ABCDE", "X1", T0 + 10, 10, &res), REFRESH_REUSED);
	CHECK_INT(refresh(st, sid2, uid, "ABCDEF", "X2", T0 + 11, 10, &res), REFRESH_INVALID);
}

static void case_refresh_wrong_user_or_expired_is_invalid(struct store *st)
{
	char uid[37], other[37];
	int64_t sid = make_guest(st, uid, "J0", T0, T0 + 100);
	make_guest(st, other, "O0", T0, T0 + 1000);
	struct store_refresh_result res;
	CHECK_INT(refresh(st, sid, other, "J0", "J1", T0 + 10, 10, &res), REFRESH_INVALID);
	/* Another user's attempt neither rotated nor revoked the owner's session. */
	CHECK_INT(refresh(st, sid, uid, "J0", "J1", T0 + 11, 10, &res), REFRESH_ROTATED);
	CHECK_INT(refresh(st, sid + 1000000, uid, "J1", "J2", T0 + 12, 10, &res),
		  REFRESH_INVALID);
	/* At its end the session is over, grace or not. */
	CHECK_INT(refresh(st, sid, uid, "J1", "J2", T0 + 100, 10, &res), REFRESH_INVALID);
	CHECK_INT(refresh(st, sid, uid, "J0", "J2", T0 + 101, 10, &res), REFRESH_INVALID);
}

/* ---- bans, logout, delete ---- */

static void case_bans(struct store *st)
{
	char bystander[37], uid[37];
	int64_t sid = make_guest(st, bystander, "B0", T0, T0 + 100000);
	make_guest(st, uid, "B1", T0, T0 + 100000);
	int64_t sid2;
	struct store_session_new s = { .user_id = uid, .access_scope = "guest", .jti = "B2",
				       .now = T0, .expires_at = T0 + 100000 };
	CHECK_INT(store_session_create(st, &s, &sid2), 0);
	int64_t ended = -1;
	CHECK_INT(store_user_set_ban(st, uid, T0 + 500, T0 + 1, &ended), 0);
	CHECK_INT(ended, 2);
	struct store_user u;
	CHECK_INT(store_user_get(st, uid, &u), 0);
	CHECK_INT(u.banned_until, T0 + 500);
	struct store_refresh_result res;
	CHECK_INT(refresh(st, sid2, uid, "B2", "B3", T0 + 10, 10, &res), REFRESH_BANNED);
	/* The ban ended the sessions: after it lapses they stay ended. */
	CHECK_INT(refresh(st, sid2, uid, "B2", "B3", T0 + 501, 10, &res), REFRESH_INVALID);
	/* A banned user's platform login leaves nothing behind. */
	char sub[48];
	new_subject(sub, "ban");
	struct store_platform_result pr;
	CHECK_INT(platform(st, "facebook", sub, true, uid, false, T0 + 20, &pr),
		  PLATFORM_LOGIN_BANNED);
	CHECK_INT(identity_count(st, uid), 0);
	CHECK_INT(live_sessions(st, uid, T0 + 20), 0);
	/* Lifted: logins work again; forever stays forever. */
	CHECK_INT(store_user_set_ban(st, uid, 0, T0 + 30, NULL), 0);
	CHECK_INT(store_user_get(st, uid, &u), 0);
	CHECK_INT(u.banned_until, 0);
	CHECK_INT(platform(st, "facebook", sub, true, uid, false, T0 + 31, &pr), PLATFORM_LOGIN_OK);
	CHECK_INT(store_user_set_ban(st, uid, STORE_BAN_FOREVER, T0 + 40, &ended), 0);
	CHECK_INT(ended, 1);
	CHECK_INT(platform(st, "facebook", sub, false, NULL, false, T0 + 41, &pr),
		  PLATFORM_LOGIN_BANNED);
	char ghost[37];
	new_uuid(ghost);
	CHECK_INT(store_user_set_ban(st, ghost, T0 + 500, T0, NULL), GH_ENOTFOUND);
	/* Another user's session was untouched. */
	CHECK_INT(refresh(st, sid, bystander, "B0", "B9", T0 + 50, 10, &res), REFRESH_ROTATED);
}

static void case_logout_and_logout_all(struct store *st)
{
	char uid[37], other[37];
	int64_t a = make_guest(st, uid, "L0", T0, T0 + 1000);
	int64_t o = make_guest(st, other, "O0", T0, T0 + 1000);
	struct store_session_new s = { .user_id = uid, .access_scope = "guest", .now = T0,
				       .expires_at = T0 + 1000 };
	int64_t b, c;
	s.jti = "L1";
	CHECK_INT(store_session_create(st, &s, &b), 0);
	s.jti = "L2";
	CHECK_INT(store_session_create(st, &s, &c), 0);
	int64_t ended = -1;
	/* Another user's session is not this user's to end. */
	CHECK_INT(store_session_end(st, o, uid, T0 + 1, "logout", &ended), 0);
	CHECK_INT(ended, 0);
	CHECK_INT(store_session_end(st, a, uid, T0 + 1, "logout", &ended), 0);
	CHECK_INT(ended, 1);
	CHECK_INT(store_session_end(st, a, uid, T0 + 2, "logout", &ended), 0);
	CHECK_INT(ended, 0);
	struct store_refresh_result res;
	CHECK_INT(refresh(st, a, uid, "L0", "L9", T0 + 3, 10, &res), REFRESH_INVALID);
	CHECK_INT(live_sessions(st, uid, T0 + 3), 2);
	CHECK_INT(store_sessions_end_all(st, uid, T0 + 4, "logout-all", &ended), 0);
	CHECK_INT(ended, 2);
	CHECK_INT(live_sessions(st, uid, T0 + 4), 0);
	CHECK_INT(refresh(st, c, uid, "L2", "L8", T0 + 5, 10, &res), REFRESH_INVALID);
	CHECK_INT(refresh(st, o, other, "O0", "O1", T0 + 5, 10, &res), REFRESH_ROTATED);
	/* The ended sessions are still listed, with their end. */
	struct store_account acc;
	CHECK_INT(store_account_get(st, uid, T0 + 5, true, &acc), 0);
	CHECK_INT(acc.nsessions, 3);
	for (size_t i = 0; i < acc.nsessions; i++)
		CHECK(acc.sessions[i].ended_at > 0);
	store_account_release(&acc);
	/* Purge removes what ended before the cutoff, nothing live. */
	int64_t n = -1;
	CHECK_INT(store_sessions_purge(st, T0 + 10, 1000, &n), 0);
	CHECK(n >= 3);
	CHECK_INT(store_account_get(st, uid, T0 + 5, true, &acc), 0);
	CHECK_INT(acc.nsessions, 0);
	store_account_release(&acc);
	CHECK_INT(refresh(st, o, other, "O1", "O2", T0 + 11, 10, &res), REFRESH_ROTATED);
}

static void case_delete(struct store *st)
{
	char uid[37];
	int64_t sid = make_guest(st, uid, "D0", T0, T0 + 1000);
	struct store_doc_result r;
	CHECK_INT(put(st, uid, "save", "{}", DOC_ANY, 0, NULL, &r), 0);
	char sub[48];
	new_subject(sub, "del");
	struct store_platform_result pr;
	CHECK_INT(platform(st, "steam", sub, true, uid, false, T0 + 1, &pr), PLATFORM_LOGIN_OK);
	CHECK_INT(store_user_delete(st, uid), 0);
	struct store_user u;
	CHECK_INT(store_user_get(st, uid, &u), GH_ENOTFOUND);
	struct store_document d;
	CHECK_INT(store_doc_get(st, uid, "save", &d), GH_ENOTFOUND);
	struct store_refresh_result res;
	CHECK_INT(refresh(st, sid, uid, "D0", "D1", T0 + 2, 10, &res), REFRESH_INVALID);
	CHECK_INT(store_user_delete(st, uid), GH_ENOTFOUND);
	struct store_account a;
	CHECK_INT(store_account_get(st, uid, T0, true, &a), GH_ENOTFOUND);
	store_account_release(&a);
	/* The platform id went with the user: it now makes a new one. */
	CHECK_INT(platform(st, "steam", sub, false, NULL, false, T0 + 3, &pr), PLATFORM_LOGIN_OK);
	CHECK(pr.created);
	CHECK(strcmp(pr.user_id, uid) != 0);
}

/* ---- platform identities ---- */

static void case_platform_logins_and_link_conflicts(struct store *st)
{
	char sub[48];
	new_subject(sub, "steam");
	struct store_platform_result first, again;
	CHECK_INT(platform(st, "steam", sub, false, NULL, false, T0, &first), PLATFORM_LOGIN_OK);
	CHECK(first.created && !first.linked && first.session_id > 0);
	CHECK_INT(platform(st, "steam", sub, false, NULL, false, T0 + 1, &again),
		  PLATFORM_LOGIN_OK);
	CHECK(!again.created);
	CHECK_STR(again.user_id, first.user_id);
	CHECK(again.session_id != first.session_id);
	struct store_user u;
	CHECK_INT(store_user_get(st, first.user_id, &u), 0);
	CHECK(!u.has_guest_secret);

	/* Linking asked with a bad auth token: nothing happens. */
	char sub2[48];
	new_subject(sub2, "apple");
	struct store_platform_result r;
	CHECK_INT(platform(st, "apple", sub2, true, NULL, false, T0 + 2, &r),
		  PLATFORM_LOGIN_LINK_FAILED);
	/* Linking to a user that is gone. */
	char ghost[37];
	new_uuid(ghost);
	CHECK_INT(platform(st, "apple", sub2, true, ghost, false, T0 + 2, &r),
		  PLATFORM_LOGIN_LINK_FAILED);

	/* Link to a guest; relinking the provider replaces the old id. */
	char guest[37];
	make_guest(st, guest, "X0", T0, T0 + 1000);
	CHECK_INT(platform(st, "apple", sub2, true, guest, true, T0 + 3, &r), PLATFORM_LOGIN_OK);
	CHECK(r.linked && !r.created);
	CHECK_STR(r.user_id, guest);
	char sub3[48], got[256];
	new_subject(sub3, "apple");
	CHECK_INT(platform(st, "apple", sub3, true, guest, true, T0 + 4, &r), PLATFORM_LOGIN_OK);
	identity_of(st, guest, "apple", got, sizeof got);
	CHECK_STR(got, sub3);
	CHECK_INT(identity_count(st, guest), 1);

	/* An id another user holds: reject is a conflict, else log in as the owner. */
	CHECK_INT(platform(st, "steam", sub, true, guest, true, T0 + 5, &r),
		  PLATFORM_LOGIN_CONFLICT);
	CHECK_INT(identity_count(st, guest), 1);
	CHECK_INT(platform(st, "steam", sub, true, guest, false, T0 + 6, &r), PLATFORM_LOGIN_OK);
	CHECK_STR(r.user_id, first.user_id);
	CHECK(!r.linked);
	/* Linking an id one already holds is no conflict. */
	CHECK_INT(platform(st, "steam", sub, true, first.user_id, true, T0 + 7, &r),
		  PLATFORM_LOGIN_OK);
	CHECK_STR(r.user_id, first.user_id);
}

static void case_unlink_last_method(struct store *st)
{
	int outcome = -1;
	char nobody[37];
	new_uuid(nobody);
	CHECK_INT(store_identity_unlink(st, nobody, "steam", &outcome), GH_ENOTFOUND);

	/* A platform-only user with two identities. */
	char s1[48], s2[48];
	new_subject(s1, "steam");
	new_subject(s2, "apple");
	struct store_platform_result a, b;
	CHECK_INT(platform(st, "steam", s1, false, NULL, false, T0, &a), PLATFORM_LOGIN_OK);
	CHECK_INT(platform(st, "apple", s2, true, a.user_id, false, T0, &b), PLATFORM_LOGIN_OK);
	CHECK_INT(store_identity_unlink(st, a.user_id, "google_play", &outcome), 0);
	CHECK_INT(outcome, UNLINK_NOT_LINKED);
	CHECK_INT(store_identity_unlink(st, a.user_id, "apple", &outcome), 0);
	CHECK_INT(outcome, UNLINK_DONE);
	/* The last way to log in stays. */
	CHECK_INT(store_identity_unlink(st, a.user_id, "steam", &outcome), 0);
	CHECK_INT(outcome, UNLINK_LAST_METHOD);
	CHECK_INT(identity_count(st, a.user_id), 1);
	char got[256];
	identity_of(st, a.user_id, "steam", got, sizeof got);
	CHECK_STR(got, s1);

	/* A guest keeps its secret: its only identity may go. */
	char guest[37], s3[48];
	make_guest(st, guest, "U0", T0, T0 + 1000);
	new_subject(s3, "fb");
	struct store_platform_result c;
	CHECK_INT(platform(st, "facebook", s3, true, guest, false, T0, &c), PLATFORM_LOGIN_OK);
	CHECK_INT(store_identity_unlink(st, guest, "facebook", &outcome), 0);
	CHECK_INT(outcome, UNLINK_DONE);
	CHECK_INT(identity_count(st, guest), 0);
}

struct racer {
	struct store *st;
	pthread_barrier_t *start;
	const char *subject;
	struct store_platform_result r;
	int rc;
};

static void *race_main(void *arg)
{
	struct racer *x = arg;
	char new_id[37], jti[40];
	new_uuid(new_id);
	snprintf(jti, sizeof jti, "r-%s", new_id);
	struct store_platform_login in = {
		.provider = "oidc:epic", .subject = x->subject, .new_user_id = new_id,
		.jti = jti, .now = T0, .expires_at = T0 + 1000,
	};
	pthread_barrier_wait(x->start);
	x->rc = store_platform_login(x->st, &in, &x->r);
	return NULL;
}

static void case_concurrent_first_platform_login(struct store *st)
{
	enum { RACERS = 8 };
	char sub[48];
	new_subject(sub, "race");
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, RACERS);
	struct racer x[RACERS];
	pthread_t th[RACERS];
	memset(x, 0, sizeof x);
	for (int i = 0; i < RACERS; i++) {
		x[i].st = st;
		x[i].start = &start;
		x[i].subject = sub;
		CHECK_INT(pthread_create(&th[i], NULL, race_main, &x[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		pthread_join(th[i], NULL);
	int ok = 0, created = 0, same = 0;
	for (int i = 0; i < RACERS; i++) {
		ok += x[i].rc == 0 && x[i].r.outcome == PLATFORM_LOGIN_OK;
		created += x[i].r.created;
		same += !strcmp(x[i].r.user_id, x[0].r.user_id);
	}
	CHECK_INT(ok, RACERS);
	CHECK_INT(created, 1);
	CHECK_INT(same, RACERS);
	CHECK_INT(identity_count(st, x[0].r.user_id), 1);
	CHECK_INT(live_sessions(st, x[0].r.user_id, T0), RACERS);
	pthread_barrier_destroy(&start);
}

/* ---- player documents ---- */

static void case_document_versions_never_reused(struct store *st)
{
	char uid[37], other[37];
	make_guest(st, uid, "V0", T0, T0 + 1000);
	make_guest(st, other, "W0", T0, T0 + 1000);
	struct store_doc_result r;
	CHECK_INT(put(st, uid, "a", "{\"n\":1}", DOC_ANY, 0, NULL, &r), 0);
	CHECK_INT(r.version, 1);
	CHECK(r.created);
	CHECK_INT(put(st, uid, "a", "{\"n\":2}", DOC_ANY, 0, NULL, &r), 0);
	CHECK_INT(r.version, 2);
	CHECK(!r.created);
	CHECK_INT(put(st, uid, "b", "[]", DOC_ANY, 0, NULL, &r), 0);
	CHECK_INT(r.version, 3);
	/* Per user: another user's sequence starts at 1. */
	CHECK_INT(put(st, other, "a", "[]", DOC_ANY, 0, NULL, &r), 0);
	CHECK_INT(r.version, 1);
	/* A delete does not give a version back. */
	CHECK_INT(store_doc_delete(st, uid, "a", -1, NULL, NULL), 0);
	CHECK_INT(doc_version(st, uid, "a"), -1);
	CHECK_INT(store_doc_delete(st, uid, "a", -1, NULL, NULL), GH_ENOTFOUND);
	CHECK_INT(put(st, uid, "a", "{\"n\":3}", DOC_ANY, 0, NULL, &r), 0);
	CHECK_INT(r.version, 4);
	CHECK(r.created);
	struct store_document d;
	CHECK_INT(store_doc_get(st, uid, "a", &d), 0);
	CHECK_STR(d.value, "{\"n\":3}");
	CHECK_INT(d.len, 7);
	CHECK_INT(d.version, 4);
	CHECK_INT(d.updated_at, T0 + 10);
	free(d.value);
	/* Listing: bytewise key order, pages after a key. */
	struct store_doc_info *items;
	size_t n;
	CHECK_INT(store_doc_list(st, uid, "", 10, &items, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(items[0].key, "a");
		CHECK_INT(items[0].size, 7);
		CHECK_STR(items[1].key, "b");
		CHECK_INT(items[1].version, 3);
	}
	free(items);
	CHECK_INT(store_doc_list(st, uid, "a", 10, &items, &n), 0);
	CHECK_INT(n, 1);
	free(items);
	/* No such user: nothing stored. */
	char ghost[37];
	new_uuid(ghost);
	CHECK_INT(put(st, ghost, "a", "{}", DOC_ANY, 0, NULL, &r), GH_ENOTFOUND);
}

static void case_document_preconditions(struct store *st)
{
	char uid[37];
	make_guest(st, uid, "P0", T0, T0 + 1000);
	struct store_doc_result r;
	/* If-Match on an absent key fails, even If-Match: *. */
	CHECK_INT(put(st, uid, "k", "1", DOC_IF_MATCH, 0, NULL, &r), GH_EPRECOND);
	CHECK_INT(r.current_version, 0);
	CHECK_INT(put(st, uid, "k", "1", DOC_IF_NONE_MATCH, 0, NULL, &r), 0);
	CHECK_INT(r.version, 1);
	CHECK_INT(put(st, uid, "k", "2", DOC_IF_NONE_MATCH, 0, NULL, &r), GH_EPRECOND);
	CHECK_INT(r.current_version, 1);
	CHECK_INT(put(st, uid, "k", "2", DOC_IF_MATCH, 7, NULL, &r), GH_EPRECOND);
	CHECK_INT(r.current_version, 1);
	CHECK_INT(put(st, uid, "k", "2", DOC_IF_MATCH, 1, NULL, &r), 0);
	CHECK_INT(r.version, 2);
	CHECK_INT(put(st, uid, "k", "3", DOC_IF_MATCH, 0, NULL, &r), 0);
	CHECK_INT(r.version, 3);
	/* A refused write took no version. */
	CHECK_INT(put(st, uid, "j", "1", DOC_ANY, 0, NULL, &r), 0);
	CHECK_INT(r.version, 4);
	/* Conditional deletes. */
	int64_t cur = -1;
	CHECK_INT(store_doc_delete(st, uid, "k", 2, &cur, NULL), GH_EPRECOND);
	CHECK_INT(cur, 3);
	CHECK_INT(store_doc_delete(st, uid, "nope", 0, &cur, NULL), GH_EPRECOND);
	CHECK_INT(cur, 0);
	CHECK_INT(store_doc_delete(st, uid, "k", 3, &cur, NULL), 0);
	CHECK_INT(store_doc_delete(st, uid, "j", 0, &cur, NULL), 0);
	CHECK_INT(doc_version(st, uid, "j"), -1);
	/* A user that does not exist has no documents. */
	char ghost[37];
	new_uuid(ghost);
	cur = -1;
	CHECK_INT(store_doc_delete(st, ghost, "k", 0, &cur, NULL), GH_EPRECOND);
	CHECK_INT(cur, 0);
	CHECK_INT(store_doc_delete(st, ghost, "k", -1, &cur, NULL), GH_ENOTFOUND);
}

static void case_document_quotas(struct store *st)
{
	char uid[37];
	make_guest(st, uid, "Q0", T0, T0 + 1000);
	struct store_doc_limits keys2 = { .max_keys = 2 };
	struct store_doc_result r;
	CHECK_INT(put(st, uid, "a", "1", DOC_ANY, 0, &keys2, &r), 0);
	CHECK_INT(put(st, uid, "b", "2", DOC_ANY, 0, &keys2, &r), 0);
	CHECK_INT(put(st, uid, "c", "3", DOC_ANY, 0, &keys2, &r), GH_ETOOBIG);
	CHECK_INT(doc_version(st, uid, "c"), -1);
	/* Overwriting a key does not add one. */
	CHECK_INT(put(st, uid, "b", "22", DOC_ANY, 0, &keys2, &r), 0);
	/* After a delete there is room again. */
	CHECK_INT(store_doc_delete(st, uid, "a", -1, NULL, NULL), 0);
	CHECK_INT(put(st, uid, "c", "3", DOC_ANY, 0, &keys2, &r), 0);

	/* Bytes: the sum of the stored values ("22" + "3" = 3 so far). */
	struct store_doc_limits bytes10 = { .max_bytes = 10 };
	CHECK_INT(put(st, uid, "d", "1234567", DOC_ANY, 0, &bytes10, &r), 0);    /* 10 */
	CHECK_INT(put(st, uid, "e", "1", DOC_ANY, 0, &bytes10, &r), GH_ETOOBIG); /* 11 */
	/* Replacing a value counts the difference. */
	CHECK_INT(put(st, uid, "d", "123456", DOC_ANY, 0, &bytes10, &r), 0);     /* 9 */
	CHECK_INT(put(st, uid, "e", "1", DOC_ANY, 0, &bytes10, &r), 0);          /* 10 */
	CHECK_INT(put(st, uid, "d", "1234567", DOC_ANY, 0, &bytes10, &r), GH_ETOOBIG);
}

static void case_document_batch_all_or_none(struct store *st)
{
	char uid[37];
	make_guest(st, uid, "A0", T0, T0 + 1000);
	struct store_doc_result r1;
	CHECK_INT(put(st, uid, "exists", "0", DOC_ANY, 0, NULL, &r1), 0);
	CHECK_INT(r1.version, 1);
	struct store_doc_write w[3] = {
		{ .key = "x", .value = "1", .len = 1 },
		{ .key = "exists", .value = "2", .len = 1, .cond = DOC_IF_MATCH, .version = 1 },
		{ .key = "exists2", .value = "3", .len = 1, .cond = DOC_IF_MATCH, .version = 0 },
	};
	struct store_doc_result r[3];
	size_t failed = 99;
	CHECK_INT(store_doc_write(st, uid, w, 3, T0 + 1, NULL, r, &failed, NULL), GH_EPRECOND);
	CHECK_INT(failed, 2);
	CHECK_INT(r[2].current_version, 0);
	CHECK_INT(doc_version(st, uid, "x"), -1);
	CHECK_INT(doc_version(st, uid, "exists"), 1);
	/* Fixed, the batch goes through with consecutive versions. */
	w[2].cond = DOC_IF_NONE_MATCH;
	CHECK_INT(store_doc_write(st, uid, w, 3, T0 + 2, NULL, r, &failed, NULL), 0);
	CHECK_INT(r[0].version, 2);
	CHECK_INT(r[1].version, 3);
	CHECK_INT(r[2].version, 4);
	CHECK(r[0].created && !r[1].created && r[2].created);
	/* A quota that the whole batch would break: none written. */
	struct store_doc_limits lim = { .max_keys = 4 };
	struct store_doc_write w2[2] = {
		{ .key = "y", .value = "1", .len = 1 },
		{ .key = "z", .value = "1", .len = 1 },
	};
	CHECK_INT(store_doc_write(st, uid, w2, 2, T0 + 3, &lim, r, &failed, NULL), GH_ETOOBIG);
	CHECK_INT(failed, 1);
	CHECK_INT(doc_version(st, uid, "y"), -1);
}

/* ---- signing keys ---- */

/* The admin API's reads: users by creation time with a cursor, owners, counts, pages. */
static void case_admin_reads(struct store *st)
{
	/* A second of its own, far from other cases' users. */
	uint32_t rnd = 0;
	CHECK_INT(gh_random(&rnd, sizeof rnd), 0);
	int64_t base = T0 + 7000000 + (int64_t)(rnd % 1000000) * 10;
	char ids[3][37];
	for (int i = 0; i < 3; i++)
		make_guest(st, ids[i], "j-admin", base + (i == 2), base + 1000);
	/* Users 0 and 1 share a second: the user id orders them. */
	const char *first = strcmp(ids[0], ids[1]) < 0 ? ids[0] : ids[1];
	const char *second = first == ids[0] ? ids[1] : ids[0];
	struct store_users_query q = { .created_after = base - 1, .created_before = base + 2,
				       .cursor_created_at = -1, .cursor_user_id = "", .limit = 2 };
	struct store_user_summary *u;
	size_t n;
	CHECK_INT(store_users_page(st, &q, &u, &n), 0);
	CHECK_INT(n, 2);
	CHECK_STR(u[0].user_id, first);
	CHECK_STR(u[1].user_id, second);
	CHECK(u[0].guest);
	CHECK_INT(u[0].created_at, base);
	q.cursor_created_at = u[1].created_at;
	char cursor[37];
	snprintf(cursor, sizeof cursor, "%s", u[1].user_id);
	q.cursor_user_id = cursor;
	free(u);
	CHECK_INT(store_users_page(st, &q, &u, &n), 0);
	CHECK_INT(n, 1);
	CHECK_STR(u[0].user_id, ids[2]);
	free(u);
	q.created_before = base; /* exclusive */
	q.cursor_created_at = -1;
	q.cursor_user_id = "";
	CHECK_INT(store_users_page(st, &q, &u, &n), 0);
	CHECK_INT(n, 0);
	free(u);

	/* A linked user is no guest, and is found by its identity. */
	char subject[48], owner[37];
	new_subject(subject, "admin");
	struct store_platform_result pr;
	CHECK_INT(platform(st, "steam", subject, false, NULL, false, base, &pr), PLATFORM_LOGIN_OK);
	CHECK_INT(store_identity_owner(st, "steam", subject, owner), 0);
	CHECK_STR(owner, pr.user_id);
	CHECK_INT(store_identity_owner(st, "steam", "nobody-at-all", owner), GH_ENOTFOUND);

	struct store_stats s;
	CHECK_INT(store_stats_get(st, base, &s), 0);
	CHECK(s.users >= 4 && s.guests >= 3 && s.guests < s.users);
	CHECK(s.active_sessions >= 4);

	/* Documents with their values, a page at a time. */
	struct store_doc_result r[3];
	struct store_doc_write w[3] = {
		{ .key = "c", .value = "3", .len = 1 },
		{ .key = "a", .value = "\"one\"", .len = 5 },
		{ .key = "b", .value = "[2]", .len = 3 },
	};
	CHECK_INT(store_doc_write(st, ids[0], w, 3, base, NULL, r, NULL, NULL), 0);
	int64_t docs_before = s.documents;
	CHECK_INT(store_stats_get(st, base, &s), 0);
	CHECK(s.documents >= docs_before + 3);
	struct store_doc_entry *d;
	CHECK_INT(store_doc_page(st, ids[0], "", 2, &d, &n), 0);
	CHECK_INT(n, 2);
	CHECK_STR(d[0].key, "a");
	CHECK_STR(d[0].value, "\"one\"");
	CHECK_INT(d[0].len, 5);
	CHECK_STR(d[1].key, "b");
	store_doc_entries_free(d, n);
	CHECK_INT(store_doc_page(st, ids[0], "b", 2, &d, &n), 0);
	CHECK_INT(n, 1);
	CHECK_STR(d[0].value, "3");
	store_doc_entries_free(d, n);
}

static void case_keys_insert_list_delete(struct store *st)
{
	char tag[37];
	new_uuid(tag);
	char kid[4][64];
	for (int i = 0; i < 4; i++)
		snprintf(kid[i], sizeof kid[i], "%.8s-%d", tag, i);
	unsigned char secret[32];
	for (int i = 0; i < 32; i++)
		secret[i] = (unsigned char)(i * 7); /* a 0 byte too */
	static const char pem[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
	struct store_key ins[4];
	memset(ins, 0, sizeof ins);
	const char *use[4] = { "refresh", "access", "access", "refresh" };
	int64_t act[4] = { T0 + 200, T0 + 300, T0 + 100, T0 + 100 };
	for (int i = 0; i < 4; i++) {
		snprintf(ins[i].kid, sizeof ins[i].kid, "%s", kid[i]);
		snprintf(ins[i].use, sizeof ins[i].use, "%s", use[i]);
		bool hmac = !strcmp(use[i], "refresh");
		snprintf(ins[i].alg, sizeof ins[i].alg, "%s", hmac ? "HS256" : "RS256");
		ins[i].material = hmac ? secret : (unsigned char *)pem;
		ins[i].material_len = hmac ? 32 : sizeof pem - 1;
		ins[i].created_at = T0 + i;
		ins[i].activate_at = act[i];
		CHECK_INT(store_key_insert(st, &ins[i]), 0);
	}
	CHECK_INT(store_key_insert(st, &ins[0]), GH_ECONFLICT);
	struct store_key *keys;
	size_t n;
	CHECK_INT(store_keys_list(st, &keys, &n), 0);
	/* Ours in order: access by activation (2, 1), then refresh (3, 0). */
	static const int order[4] = { 2, 1, 3, 0 };
	int j = 0;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(keys[i].kid, tag, 8))
			continue;
		if (j < 4) {
			const struct store_key *want = &ins[order[j]];
			CHECK_STR(keys[i].kid, want->kid);
			CHECK_STR(keys[i].use, want->use);
			CHECK_STR(keys[i].alg, want->alg);
			CHECK_INT(keys[i].material_len, want->material_len);
			CHECK(!memcmp(keys[i].material, want->material, want->material_len));
			CHECK_INT(keys[i].created_at, want->created_at);
			CHECK_INT(keys[i].activate_at, want->activate_at);
		}
		j++;
	}
	CHECK_INT(j, 4);
	store_keys_free(keys, n);
	CHECK_INT(store_key_delete(st, kid[1]), 0);
	CHECK_INT(store_keys_list(st, &keys, &n), 0);
	j = 0;
	for (size_t i = 0; i < n; i++) {
		CHECK(strcmp(keys[i].kid, kid[1]) != 0);
		j += !strncmp(keys[i].kid, tag, 8);
	}
	CHECK_INT(j, 3);
	store_keys_free(keys, n);
	/* A use other than access or refresh is refused. */
	struct store_key bad = ins[0];
	snprintf(bad.kid, sizeof bad.kid, "%.8s-bad", tag);
	snprintf(bad.use, sizeof bad.use, "other");
	CHECK(store_key_insert(st, &bad) < 0);
}

/* Of two writers inserting the same next epoch (two nodes rotating), one wins. */
static void case_key_epochs(struct store *st)
{
	struct store_key *keys;
	size_t n;
	int64_t top = 0;
	CHECK_INT(store_keys_list(st, &keys, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(keys[i].use, "refresh") && keys[i].epoch > top)
			top = keys[i].epoch;
	store_keys_free(keys, n);
	unsigned char secret[32] = { 9 };
	struct store_key k[3];
	memset(k, 0, sizeof k);
	for (int i = 0; i < 3; i++) {
		new_uuid(k[i].kid);
		snprintf(k[i].use, sizeof k[i].use, "refresh");
		snprintf(k[i].alg, sizeof k[i].alg, "HS256");
		k[i].material = secret;
		k[i].material_len = sizeof secret;
		k[i].created_at = T0;
		k[i].activate_at = T0 + 10 + i;
	}
	k[0].epoch = top + 1;
	k[1].epoch = top + 1;    /* the loser saw the same key set */
	CHECK_INT(store_key_insert(st, &k[0]), 0);
	CHECK_INT(store_key_insert(st, &k[1]), GH_ECONFLICT);
	k[1].epoch = top + 3;    /* a gap is no less a conflict: only current + 1 */
	CHECK_INT(store_key_insert(st, &k[1]), GH_ECONFLICT);
	CHECK_INT(store_key_insert(st, &k[2]), 0);    /* epoch 0: the next free one */
	CHECK_INT(store_keys_list(st, &keys, &n), 0);
	int seen = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(keys[i].kid, k[0].kid)) {
			CHECK_INT(keys[i].epoch, top + 1);
			seen++;
		} else if (!strcmp(keys[i].kid, k[2].kid)) {
			CHECK_INT(keys[i].epoch, top + 2);
			seen++;
		}
		CHECK(strcmp(keys[i].kid, k[1].kid) != 0);
	}
	CHECK_INT(seen, 2);
	store_keys_free(keys, n);
	CHECK_INT(store_key_delete(st, k[2].kid), 0);
	CHECK_INT(store_key_delete(st, k[0].kid), 0);
}

/* A lease has one holder until its time runs out. */
static void case_leases(struct store *st)
{
	char name[48], a[37], b[37];
	new_subject(name, "lease");
	new_uuid(a);
	new_uuid(b);
	bool held = false;
	CHECK_INT(store_lease_claim(st, name, a, T0, T0 + 60, &held), 0);
	CHECK(held);
	CHECK_INT(store_lease_claim(st, name, b, T0 + 1, T0 + 61, &held), 0);
	CHECK(!held);
	CHECK_INT(store_lease_claim(st, name, a, T0 + 30, T0 + 90, &held), 0);  /* renewed */
	CHECK(held);
	CHECK_INT(store_lease_claim(st, name, b, T0 + 89, T0 + 150, &held), 0);
	CHECK(!held);
	CHECK_INT(store_lease_claim(st, name, b, T0 + 90, T0 + 150, &held), 0); /* ran out */
	CHECK(held);
	CHECK_INT(store_lease_claim(st, name, a, T0 + 91, T0 + 151, &held), 0);
	CHECK(!held);
}

/* Purges go in batches of at most the limit, until none remain. */
static void case_purge_in_batches(struct store *st)
{
	char uid[37];
	int64_t sid[5];
	for (int i = 0; i < 5; i++) {
		char jti[8];
		snprintf(jti, sizeof jti, "P%d", i);
		if (i == 0) {
			sid[0] = make_guest(st, uid, jti, T0, T0 + 1000);
		} else {
			struct store_session_new s = { .user_id = uid, .access_scope = "guest",
						       .jti = jti, .now = T0, .expires_at = T0 + 1000 };
			CHECK_INT(store_session_create(st, &s, &sid[i]), 0);
		}
	}
	int64_t ended = 0, n = -1;
	CHECK_INT(store_sessions_end_all(st, uid, T0 + 1, "logout-all", &ended), 0);
	CHECK_INT(ended, 5);
	CHECK_INT(store_sessions_purge(st, T0 + 10, 2, &n), 0);
	CHECK_INT(n, 2);
	CHECK_INT(store_sessions_purge(st, T0 + 10, 2, &n), 0);
	CHECK_INT(n, 2);
	for (int guard = 0; guard < 1000 && n == 2; guard++)
		CHECK_INT(store_sessions_purge(st, T0 + 10, 2, &n), 0);
	CHECK(n < 2);
	struct store_account acc;
	CHECK_INT(store_account_get(st, uid, T0 + 10, true, &acc), 0);
	CHECK_INT(acc.nsessions, 0);
	store_account_release(&acc);
}

/* A key write on one connection reaches a watching store as a notice (PostgreSQL). */
static atomic_int notices;

static void count_notice(void *arg)
{
	(void)arg;
	atomic_fetch_add(&notices, 1);
}

static bool wait_notices_above(int n)
{
	for (int i = 0; i < 1000 && atomic_load(&notices) <= n; i++) {
		struct timespec ts = { 0, 10000000L };
		nanosleep(&ts, NULL);
	}
	return atomic_load(&notices) > n;
}

static void case_key_change_notice(struct store *st)
{
	atomic_store(&notices, 0);
	struct store_watch *w = store_watch_start(st, count_notice, NULL);
	if (!w) {
		/* SQLite pushes nothing: other processes' commits are polled (data_version). */
		CHECK_STR(store_backend_name(st), "sqlite");
		return;
	}
	CHECK(wait_notices_above(0));   /* connected: a notice may have been missed */
	int before = atomic_load(&notices);
	uint64_t gen = store_external_generation(st);
	unsigned char secret[32] = { 7 };
	struct store_key k;
	memset(&k, 0, sizeof k);
	new_uuid(k.kid);
	snprintf(k.use, sizeof k.use, "refresh");
	snprintf(k.alg, sizeof k.alg, "HS256");
	k.material = secret;
	k.material_len = sizeof secret;
	k.created_at = k.activate_at = T0;
	CHECK_INT(store_key_insert(st, &k), 0);
	CHECK(wait_notices_above(before));
	CHECK(store_external_generation(st) != gen);
	before = atomic_load(&notices);
	CHECK_INT(store_key_delete(st, k.kid), 0);
	CHECK(wait_notices_above(before));
	store_watch_stop(w);
}

/* ---- the table ---- */

struct contract_case {
	const char *name;
	void (*run)(struct store *st);
};

/* ---- PostgreSQL only: several connections at once on one database ---- */

struct refresher {
	struct store *st;
	pthread_barrier_t *start;
	int64_t sid;
	const char *user_id;
	char new_jti[48];
	struct store_refresh_result r;
	int rc;
};

static void *refresher_main(void *arg)
{
	struct refresher *x = arg;
	struct store_refresh r = {
		.session_id = x->sid, .user_id = x->user_id, .presented_jti = "CR0",
		.new_jti = x->new_jti, .now = T0 + 5, .now_ms = (T0 + 5) * 1000, .grace_ms = 0,
	};
	pthread_barrier_wait(x->start);
	x->rc = store_session_refresh(x->st, &r, &x->r);
	return NULL;
}

/*
 * One refresh token spent by 8 connections at once: one rotation (the
 * session row's lock orders them); the first one after it is a reuse, which
 * revokes, so the rest find the session ended.
 */
static void case_concurrent_refresh_of_one_pair(struct store *st)
{
	enum { N = 8 };
	char uid[37];
	int64_t sid = make_guest(st, uid, "CR0", T0, T0 + 1000);
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, N);
	struct refresher x[N];
	pthread_t th[N];
	memset(x, 0, sizeof x);
	for (int i = 0; i < N; i++) {
		x[i] = (struct refresher){ .st = st, .start = &start, .sid = sid, .user_id = uid };
		snprintf(x[i].new_jti, sizeof x[i].new_jti, "CR1-%d", i);
		CHECK_INT(pthread_create(&th[i], NULL, refresher_main, &x[i]), 0);
	}
	int rotated = 0, reused = 0, invalid = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(x[i].rc, 0);
		if (x[i].rc)
			continue;
		rotated += x[i].r.outcome == REFRESH_ROTATED;
		reused += x[i].r.outcome == REFRESH_REUSED;
		invalid += x[i].r.outcome == REFRESH_INVALID;
	}
	CHECK_INT(rotated, 1);
	CHECK_INT(reused, 1);
	CHECK_INT(invalid, N - 2);
	/* A reuse revoked the session. */
	CHECK_INT(live_sessions(st, uid, T0 + 5), 0);
	pthread_barrier_destroy(&start);
}

struct writer_arg {
	struct store *st;
	pthread_barrier_t *start;
	const char *user_id;
	int cond;
	int64_t if_version;
	struct store_doc_result r;
	int rc;
};

static void *writer_main(void *arg)
{
	struct writer_arg *x = arg;
	pthread_barrier_wait(x->start);
	struct store_doc_write w = { .key = "race", .value = "{\"n\":1}", .len = 7,
				     .cond = x->cond, .version = x->if_version };
	x->rc = store_doc_write(x->st, x->user_id, &w, 1, T0 + 10, NULL, &x->r, NULL, NULL);
	return NULL;
}

/*
 * 8 writes of one key at once never share a version (the user's row lock
 * orders them); 8 If-Match writes of one version: exactly one wins.
 */
static void case_concurrent_document_writes(struct store *st)
{
	enum { N = 8 };
	char uid[37];
	make_guest(st, uid, "CD0", T0, T0 + 1000);
	for (int round = 0; round < 2; round++) {
		int64_t before = doc_version(st, uid, "race");
		pthread_barrier_t start;
		pthread_barrier_init(&start, NULL, N);
		struct writer_arg x[N];
		pthread_t th[N];
		for (int i = 0; i < N; i++) {
			x[i] = (struct writer_arg){ .st = st, .start = &start, .user_id = uid,
						    .cond = round ? DOC_IF_MATCH : DOC_ANY,
						    .if_version = before };
			CHECK_INT(pthread_create(&th[i], NULL, writer_main, &x[i]), 0);
		}
		int ok = 0, refused = 0;
		int64_t seen[N], top = 0;
		for (int i = 0; i < N; i++) {
			pthread_join(th[i], NULL);
			if (x[i].rc == 0) {
				seen[ok++] = x[i].r.version;
				top = x[i].r.version > top ? x[i].r.version : top;
			}
			refused += x[i].rc == GH_EPRECOND;
		}
		for (int i = 0; i < ok; i++)
			for (int j = i + 1; j < ok; j++)
				CHECK(seen[i] != seen[j]);
		if (round == 0) {
			CHECK_INT(ok, N);
			CHECK_INT(top, N); /* versions 1..N, each once */
			CHECK_INT(doc_version(st, uid, "race"), N);
		} else {
			CHECK_INT(ok, 1);
			CHECK_INT(refused, N - 1);
		}
		pthread_barrier_destroy(&start);
	}
}

/*
 * A document write that waits for its user's usage row past lock_timeout
 * (another session holds the row): 503, nothing written, even though the
 * lock and the document read went in one pipeline; the next write, once
 * the row is free, goes through on the same store.
 */
static void case_document_write_lock_timeout(struct store *st)
{
	const char *url = getenv("GH_TEST_DATABASE_URL");
	char uid[37], sql[160];
	make_guest(st, uid, "LT1", T0, T0 + 600);
	struct store_doc_result r;
	CHECK_INT(put(st, uid, "k", "1", DOC_ANY, 0, NULL, &r), 0);
	struct store_pg_options pg = { .connect_timeout_s = 60, .statement_timeout_ms = 60000,
				       .lock_timeout_ms = 200, .auto_migrate = true };
	struct store_options opt = { .path = url, .readers = 2, .pg = &pg };
	struct store *st2 = NULL;
	char err[512] = "";
	CHECK_INT(store_open(&opt, &st2, err, sizeof err), 0);
	if (!st2)
		return;
	PGconn *h = PQconnectdb(url);
	CHECK(PQstatus(h) == CONNECTION_OK);
	snprintf(sql, sizeof sql, "SELECT 1 FROM users WHERE user_id = '%s' FOR UPDATE", uid);
	PQclear(PQexec(h, "BEGIN"));
	PGresult *locked = PQexec(h, sql);
	CHECK_INT(PQntuples(locked), 1);
	PQclear(locked);
	for (int i = 0; i < 2; i++) { /* both pooled connections */
		CHECK_INT(put(st2, uid, "k", "2", DOC_ANY, 0, NULL, &r), GH_EUNAVAIL);
		CHECK_INT(put(st2, uid, "new", "2", DOC_ANY, 0, NULL, &r), GH_EUNAVAIL);
	}
	PQclear(PQexec(h, "ROLLBACK"));
	PQfinish(h);
	CHECK_INT(put(st2, uid, "k", "3", DOC_ANY, 0, NULL, &r), 0);
	CHECK_INT(r.version, 2); /* the refused writes took no version */
	CHECK_INT(doc_version(st2, uid, "new"), -1);
	struct store_document d;
	CHECK_INT(store_doc_get(st, uid, "k", &d), 0);
	CHECK(d.value && d.len == 1 && d.value[0] == '3');
	free(d.value);
	store_close(st2);
}

struct migrator {
	const char *url;
	pthread_barrier_t *start;
	struct store *st;
};

static void *migrator_main(void *arg)
{
	struct migrator *x = arg;
	pthread_barrier_wait(x->start);
	x->st = pg_open_url(x->url);
	return NULL;
}

/* 20 nodes starting at once on an empty database all come up (one migrates). */
static void case_concurrent_migrations(struct store *st)
{
	(void)st;
	enum { N = 20 };
	char name[40], uid[37], cmd[1024];
	new_uuid(uid);
	snprintf(name, sizeof name, "ghc_%.8s", uid);
	const char *base = getenv("GH_TEST_DATABASE_URL");
	snprintf(cmd, sizeof cmd, "psql '%s' -X -q -c 'CREATE DATABASE %s' >/dev/null", base, name);
	CHECK_INT(system(cmd), 0);
	/* the same URL naming the new database: replace the path after the hosts */
	char url[512];
	const char *hosts = strstr(base, "://") + 3;
	size_t pre = (size_t)(strchr(hosts, '/') ? strchr(hosts, '/') - base : (long)strlen(base));
	const char *query = strchr(base + pre, '?');
	snprintf(url, sizeof url, "%.*s/%s%s", (int)pre, base, name, query ? query : "");
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, N);
	struct migrator x[N];
	pthread_t th[N];
	for (int i = 0; i < N; i++) {
		x[i] = (struct migrator){ .url = url, .start = &start };
		CHECK_INT(pthread_create(&th[i], NULL, migrator_main, &x[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	/* Every one opened (pg_open_url exits otherwise) and works. */
	char g[37];
	for (int i = 0; i < N; i++) {
		make_guest(x[i].st, g, "M0", T0, T0 + 100);
		store_close(x[i].st);
	}
	int version = -1;
	char err[256];
	CHECK_INT(store_file_schema_version(url, &version, err, sizeof err), 0);
	CHECK_INT(version, store_schema_version());
	pthread_barrier_destroy(&start);
	snprintf(cmd, sizeof cmd, "psql '%s' -X -q -c 'DROP DATABASE %s' >/dev/null", base, name);
	CHECK_INT(system(cmd), 0);
}


struct lock_order_arg {
	struct store *st;
	pthread_barrier_t *start;
	const char *user_id;
	int64_t sid;               /* 0: the ban */
	char jti[24], new_jti[24];
	struct store_refresh_result r;
	int rc;
};

static void *lock_order_main(void *arg)
{
	struct lock_order_arg *x = arg;
	int64_t now = T0 + 7200; /* last seen 2 h ago: a refresh updates the user row too */
	pthread_barrier_wait(x->start);
	if (!x->sid) {
		int64_t ended;
		x->rc = store_user_set_ban(x->st, x->user_id, T0 + 100000, now, &ended);
		return NULL;
	}
	struct store_refresh r = {
		.session_id = x->sid, .user_id = x->user_id, .presented_jti = x->jti,
		.new_jti = x->new_jti, .now = now, .now_ms = now * 1000, .grace_ms = 0,
	};
	x->rc = store_session_refresh(x->st, &r, &x->r);
	return NULL;
}

/*
 * Refreshes lock a session and then the user row; a ban locks the user row
 * and then the sessions: opposite orders, so PostgreSQL may pick a
 * deadlock victim (40P01), which is retried. Whatever the interleaving,
 * every call succeeds and the ban wins over every session. (Whether a
 * deadlock happens depends on timing: this does not prove one did.)
 */
static void case_opposite_lock_orders(struct store *st)
{
	enum { N = 6 };
	char uid[37];
	struct lock_order_arg x[N + 1];
	memset(x, 0, sizeof x);
	int64_t sid0 = make_guest(st, uid, "LO-0", T0, T0 + 100000);
	for (int i = 0; i < N; i++) {
		snprintf(x[i].jti, sizeof x[i].jti, "LO-%d", i);
		snprintf(x[i].new_jti, sizeof x[i].new_jti, "LN-%d", i);
		x[i].sid = sid0;
		if (i) {
			struct store_session_new s = { .user_id = uid, .access_scope = "guest",
						       .jti = x[i].jti, .now = T0,
						       .expires_at = T0 + 100000 };
			CHECK_INT(store_session_create(st, &s, &x[i].sid), 0);
		}
	}
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, N + 1);
	pthread_t th[N + 1];
	for (int i = 0; i <= N; i++) {
		x[i].st = st;
		x[i].start = &start;
		x[i].user_id = uid;
		CHECK_INT(pthread_create(&th[i], NULL, lock_order_main, &x[i]), 0);
	}
	for (int i = 0; i <= N; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(x[i].rc, 0);
	}
	/*
	 * Before the ban: rotated; after it: banned, or (PostgreSQL, READ
	 * COMMITTED: the session row is re-read once the ban commits, the
	 * user row it joins is not) invalid. Never a reuse, never an error.
	 */
	for (int i = 0; i < N; i++)
		CHECK(x[i].r.outcome == REFRESH_ROTATED || x[i].r.outcome == REFRESH_BANNED ||
		      x[i].r.outcome == REFRESH_INVALID);
	CHECK_INT(live_sessions(st, uid, T0 + 7200), 0);
	pthread_barrier_destroy(&start);
}

/* A user id that is not a UUID is an unknown user, not a database error. */
static void case_malformed_user_id(struct store *st)
{
	struct store_user u;
	CHECK_INT(store_user_get(st, "not-a-uuid", &u), GH_ENOTFOUND);
	CHECK_INT(store_user_delete(st, "not-a-uuid"), GH_ENOTFOUND);
	struct store_document d;
	CHECK_INT(store_doc_get(st, "x'; DROP TABLE users; --", "k", &d), GH_ENOTFOUND);
}

static const struct contract_case pg_cases[] = {
	{ "concurrent_refresh_of_one_pair", case_concurrent_refresh_of_one_pair },
	{ "concurrent_document_writes", case_concurrent_document_writes },
	{ "concurrent_migrations", case_concurrent_migrations },
	{ "opposite_lock_orders", case_opposite_lock_orders },
	{ "malformed_user_id", case_malformed_user_id },
	{ "document_write_lock_timeout", case_document_write_lock_timeout },
};

static const struct contract_case cases[] = {
	{ "guest_create", case_guest_create },
	{ "user_session_get", case_user_session_get },
	{ "last_seen_to_the_hour", case_last_seen_to_the_hour },
	{ "refresh_rotate_then_grace", case_refresh_rotate_then_grace },
	{ "refresh_grace_spends_the_token_issued_before",
	  case_refresh_grace_spends_the_token_issued_before },
	{ "refresh_previous_outside_grace_revokes", case_refresh_previous_outside_grace_revokes },
	{ "refresh_grace_window_in_milliseconds", case_refresh_grace_window_in_milliseconds },
	{ "refresh_unknown_jti_revokes", case_refresh_unknown_jti_revokes },
	{ "refresh_wrong_user_or_expired_is_invalid",
	  case_refresh_wrong_user_or_expired_is_invalid },
	{ "bans", case_bans },
	{ "logout_and_logout_all", case_logout_and_logout_all },
	{ "delete", case_delete },
	{ "platform_logins_and_link_conflicts", case_platform_logins_and_link_conflicts },
	{ "unlink_last_method", case_unlink_last_method },
	{ "concurrent_first_platform_login", case_concurrent_first_platform_login },
	{ "document_versions_never_reused", case_document_versions_never_reused },
	{ "document_preconditions", case_document_preconditions },
	{ "document_quotas", case_document_quotas },
	{ "document_batch_all_or_none", case_document_batch_all_or_none },
	{ "user_session_doc_get", case_user_session_doc_get },
	{ "document_write_checks_session", case_document_write_checks_session },
	{ "keys_insert_list_delete", case_keys_insert_list_delete },
	{ "key_epochs", case_key_epochs },
	{ "leases", case_leases },
	{ "purge_in_batches", case_purge_in_batches },
	{ "admin_reads", case_admin_reads },
	{ "key_change_notice", case_key_change_notice },
};

int main(void)
{
	log_configure(LOG_ERROR, LOG_FORMAT_TEXT);
	fixture_tmpdir(tmp_dir, sizeof tmp_dir, "contract");
	for (size_t b = 0; b < GH_ARRAY_SIZE(backends); b++) {
		const struct backend *be = &backends[b];
		const char *why = be->unavailable();
		if (why) {
			printf("skipped back end %s: %s\n", be->name, why);
			continue;
		}
		bool pg = !strcmp(be->name, "postgresql");
		size_t ncommon = GH_ARRAY_SIZE(cases), n = ncommon + (pg ? GH_ARRAY_SIZE(pg_cases) : 0);
		for (size_t i = 0; i < n; i++) {
			const struct contract_case *c = i < ncommon ? &cases[i] : &pg_cases[i - ncommon];
			int before = harness_checks_failed;
			struct store *st = be->open();
			CHECK_STR(store_backend_name(st), be->name);
			c->run(st);
			store_close(st);
			if (harness_checks_failed == before) {
				harness_tests_passed++;
			} else {
				harness_tests_failed++;
				fprintf(stderr, "FAIL %s [%s]\n", c->name, be->name);
			}
		}
	}
	fixture_rmdir(tmp_dir);
	return REPORT();
}
