/*
 * test_store_platform.c - platform logins and linking against a real
 * SQLite file (API.md A.2 and C.3): a first login creates a user with the
 * identity and a session, later logins find that user, linking maps an id
 * to the token's user (relinking replaces the old id), conflicts under
 * link_conflict=reject, banned users (nothing written), concurrent first
 * logins of one platform id (one user), and unlinking with the
 * last-login-method rule.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/log.h"
#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "gatehouse/random.h"
#include "harness.h"
#include "fixtures.h"

#define T0 1800000000LL
#define SESSION_TTL (6 * 86400)

static char tmp_dir[64];
static int store_seq;

/* A fresh database for each test, so that user counts mean something. */
static struct store *open_store(void)
{
	char path[160];
	snprintf(path, sizeof path, "%s/s%d/gatehouse.db", tmp_dir, ++store_seq);
	struct fixture_store_opts o = { .sync_normal = true };
	return fixture_store_open(path, &o);
}

static void new_id(char out[37])
{
	if (gh_uuid4(out)) {
		fprintf(stderr, "gh_uuid4 failed\n");
		exit(2);
	}
}

/* A login of provider/subject at now, with a fresh user id and jti ready. */
struct login {
	struct store_platform_login in;
	char new_user_id[37];
	char jti[37];
};

static void login_init(struct login *l, const char *provider, const char *subject, int64_t now)
{
	memset(l, 0, sizeof *l);
	new_id(l->new_user_id);
	new_id(l->jti);
	l->in.provider = provider;
	l->in.subject = subject;
	l->in.new_user_id = l->new_user_id;
	l->in.jti = l->jti;
	l->in.now = now;
	l->in.expires_at = now + SESSION_TTL;
}

/* Logs in; returns the outcome, or the error code when the call failed. */
static int do_login(struct store *st, struct login *l, struct store_platform_result *out)
{
	int rc = store_platform_login(st, &l->in, out);
	return rc ? rc : out->outcome;
}

/* A guest user (with a secret), as /login-as-guest makes one. */
static void make_guest(struct store *st, char user_id[37], int64_t now)
{
	char jti[37];
	new_id(user_id);
	new_id(jti);
	unsigned char hash[32];
	memset(hash, 0x5a, sizeof hash);
	struct store_session_new s = { .user_id = user_id, .access_scope = "guest", .jti = jti,
				       .now = now, .expires_at = now + SESSION_TTL };
	int64_t sid = 0;
	if (store_guest_create(st, user_id, hash, &s, &sid)) {
		fprintf(stderr, "store_guest_create failed\n");
		exit(2);
	}
}

static int64_t user_count(struct store *st)
{
	int64_t users = -1, sessions = -1;
	if (store_counts(st, T0, &users, &sessions))
		return -1;
	return users;
}

/* The subject of user_id's identity of provider into out ("" for none); 0 or an error. */
static int identity_of(struct store *st, const char *user_id, const char *provider,
		       char *out, size_t outlen)
{
	struct store_account a;
	int rc = store_account_get(st, user_id, T0, false, &a);
	out[0] = '\0';
	if (!rc)
		for (size_t i = 0; i < a.nidentities; i++)
			if (!strcmp(a.identities[i].provider, provider))
				snprintf(out, outlen, "%s", a.identities[i].subject);
	store_account_release(&a);
	return rc;
}

static int64_t identity_count(struct store *st, const char *user_id)
{
	struct store_account a;
	int64_t n = store_account_get(st, user_id, T0, false, &a) ? -1 : (int64_t)a.nidentities;
	store_account_release(&a);
	return n;
}

/* All sessions of user_id, live or not (-1 on error). */
static int64_t session_count(struct store *st, const char *user_id)
{
	struct store_account a;
	int64_t n = store_account_get(st, user_id, T0, true, &a) ? -1 : (int64_t)a.nsessions;
	store_account_release(&a);
	return n;
}

TEST(first_login_creates_user_identity_and_session)
{
	struct store *st = open_store();
	struct login l;
	struct store_platform_result r;
	login_init(&l, "steam", "76561198000000001", T0);
	CHECK_INT(do_login(st, &l, &r), PLATFORM_LOGIN_OK);
	CHECK(r.created);
	CHECK(!r.linked);
	CHECK_STR(r.user_id, l.new_user_id);
	CHECK(r.session_id > 0);
	CHECK_INT(user_count(st), 1);

	struct store_user u;
	CHECK_INT(store_user_get(st, r.user_id, &u), 0);
	CHECK(!u.has_guest_secret); /* known only by the platform id */
	CHECK_INT(u.created_at, T0);
	CHECK_INT(u.banned_until, 0);

	char sub[256];
	CHECK_INT(identity_of(st, r.user_id, "steam", sub, sizeof sub), 0);
	CHECK_STR(sub, "76561198000000001");
	CHECK_INT(identity_count(st, r.user_id), 1);

	struct store_account a;
	CHECK_INT(store_account_get(st, r.user_id, T0, true, &a), 0);
	CHECK_INT(a.live_sessions, 1);
	CHECK_INT(a.nsessions, 1);
	if (a.nsessions == 1) {
		CHECK_INT(a.sessions[0].session_id, r.session_id);
		CHECK_INT(a.sessions[0].expires_at, T0 + SESSION_TTL);
		CHECK_INT(a.sessions[0].ended_at, 0);
	}
	store_account_release(&a);

	/* The session's refresh token is live, with scope authenticated. */
	char next_jti[37];
	new_id(next_jti);
	struct store_refresh rf = { .session_id = r.session_id, .user_id = r.user_id,
				    .presented_jti = l.jti, .new_jti = next_jti, .now = T0 + 1,
				    .now_ms = (T0 + 1) * 1000, .grace_ms = 0 };
	struct store_refresh_result rr;
	CHECK_INT(store_session_refresh(st, &rf, &rr), 0);
	CHECK_INT(rr.outcome, REFRESH_ROTATED);
	CHECK_STR(rr.access_scope, "authenticated");
	store_close(st);
}

TEST(second_login_finds_the_same_user)
{
	struct store *st = open_store();
	struct login a, b;
	struct store_platform_result ra, rb;
	login_init(&a, "apple", "001234.abcdef.0999", T0);
	CHECK_INT(do_login(st, &a, &ra), PLATFORM_LOGIN_OK);
	login_init(&b, "apple", "001234.abcdef.0999", T0 + 60);
	CHECK_INT(do_login(st, &b, &rb), PLATFORM_LOGIN_OK);
	CHECK_STR(rb.user_id, ra.user_id);
	CHECK(!rb.created);
	CHECK(!rb.linked);
	CHECK(rb.session_id > 0 && rb.session_id != ra.session_id);
	CHECK_INT(user_count(st), 1);
	CHECK_INT(session_count(st, ra.user_id), 2);

	/* The same subject at another provider is another player. */
	struct login c;
	struct store_platform_result rc;
	login_init(&c, "oidc:epic", "001234.abcdef.0999", T0 + 61);
	CHECK_INT(do_login(st, &c, &rc), PLATFORM_LOGIN_OK);
	CHECK(rc.created);
	CHECK(strcmp(rc.user_id, ra.user_id) != 0);
	CHECK_INT(user_count(st), 2);
	store_close(st);
}

TEST(link_maps_identity_to_token_user)
{
	struct store *st = open_store();
	char guest[37];
	make_guest(st, guest, T0);
	struct login l;
	struct store_platform_result r;
	login_init(&l, "steam", "76561198000000002", T0 + 10);
	l.in.link_requested = true;
	l.in.link_user_id = guest;
	CHECK_INT(do_login(st, &l, &r), PLATFORM_LOGIN_OK);
	CHECK_STR(r.user_id, guest);
	CHECK(r.linked);
	CHECK(!r.created);
	CHECK(r.session_id > 0);
	CHECK_INT(user_count(st), 1); /* no new user */
	char sub[256];
	CHECK_INT(identity_of(st, guest, "steam", sub, sizeof sub), 0);
	CHECK_STR(sub, "76561198000000002");
	CHECK_INT(session_count(st, guest), 2); /* the guest's own, and this one */

	/* A later plain login with that Steam id is the guest user. */
	struct login again;
	struct store_platform_result ra;
	login_init(&again, "steam", "76561198000000002", T0 + 20);
	CHECK_INT(do_login(st, &again, &ra), PLATFORM_LOGIN_OK);
	CHECK_STR(ra.user_id, guest);
	CHECK(!ra.created);
	store_close(st);
}

TEST(relink_replaces_the_old_identity_of_that_provider)
{
	struct store *st = open_store();
	char guest[37];
	make_guest(st, guest, T0);
	struct login l1, l2;
	struct store_platform_result r1, r2;
	login_init(&l1, "facebook", "fb-old", T0 + 1);
	l1.in.link_requested = true;
	l1.in.link_user_id = guest;
	CHECK_INT(do_login(st, &l1, &r1), PLATFORM_LOGIN_OK);
	login_init(&l2, "facebook", "fb-new", T0 + 2);
	l2.in.link_requested = true;
	l2.in.link_user_id = guest;
	CHECK_INT(do_login(st, &l2, &r2), PLATFORM_LOGIN_OK);
	CHECK(r2.linked);
	CHECK_STR(r2.user_id, guest);
	char sub[256];
	CHECK_INT(identity_of(st, guest, "facebook", sub, sizeof sub), 0);
	CHECK_STR(sub, "fb-new");
	CHECK_INT(identity_count(st, guest), 1);

	/* The old id no longer logs in to this user: it makes a new one. */
	struct login old;
	struct store_platform_result ro;
	login_init(&old, "facebook", "fb-old", T0 + 3);
	CHECK_INT(do_login(st, &old, &ro), PLATFORM_LOGIN_OK);
	CHECK(ro.created);
	CHECK(strcmp(ro.user_id, guest) != 0);
	CHECK_INT(user_count(st), 2);

	/* Linking another provider keeps the first one. */
	struct login g;
	struct store_platform_result rg;
	login_init(&g, "google_play", "g-1", T0 + 4);
	g.in.link_requested = true;
	g.in.link_user_id = guest;
	CHECK_INT(do_login(st, &g, &rg), PLATFORM_LOGIN_OK);
	CHECK_INT(identity_count(st, guest), 2);
	CHECK_INT(identity_of(st, guest, "facebook", sub, sizeof sub), 0);
	CHECK_STR(sub, "fb-new");
	store_close(st);
}

TEST(link_without_link_user_fails)
{
	/* link_to_existing_user=Yes, but the auth_token did not verify. */
	struct store *st = open_store();
	struct login l;
	struct store_platform_result r;
	login_init(&l, "steam", "76561198000000003", T0);
	l.in.link_requested = true;
	l.in.link_user_id = NULL;
	CHECK_INT(do_login(st, &l, &r), PLATFORM_LOGIN_LINK_FAILED);
	CHECK_INT(r.session_id, 0);
	CHECK(!r.created && !r.linked);
	CHECK_INT(user_count(st), 0); /* nothing created */

	/* The id is still unmapped: a plain login creates its user now. */
	struct login p;
	struct store_platform_result rp;
	login_init(&p, "steam", "76561198000000003", T0 + 1);
	CHECK_INT(do_login(st, &p, &rp), PLATFORM_LOGIN_OK);
	CHECK(rp.created);
	store_close(st);
}

TEST(link_to_deleted_user_fails)
{
	struct store *st = open_store();
	char guest[37];
	make_guest(st, guest, T0);
	CHECK_INT(store_user_delete(st, guest), 0);
	struct login l;
	struct store_platform_result r;
	login_init(&l, "apple", "apple-sub-1", T0 + 1);
	l.in.link_requested = true;
	l.in.link_user_id = guest;
	CHECK_INT(do_login(st, &l, &r), PLATFORM_LOGIN_LINK_FAILED);
	CHECK_INT(r.session_id, 0);
	CHECK(!r.linked && !r.created);
	CHECK_INT(user_count(st), 0);
	struct store_user u;
	CHECK_INT(store_user_get(st, guest, &u), GH_ENOTFOUND);

	/* Nothing of the attempt stays: a plain login of that id creates a user. */
	struct login p;
	struct store_platform_result rp;
	login_init(&p, "apple", "apple-sub-1", T0 + 2);
	CHECK_INT(do_login(st, &p, &rp), PLATFORM_LOGIN_OK);
	CHECK(rp.created);
	CHECK_STR(rp.user_id, p.new_user_id);
	store_close(st);
}

TEST(conflict_rejected_or_logs_in_as_owner)
{
	struct store *st = open_store();
	struct login own;
	struct store_platform_result ro;
	login_init(&own, "steam", "76561198000000004", T0);
	CHECK_INT(do_login(st, &own, &ro), PLATFORM_LOGIN_OK);
	char other[37];
	make_guest(st, other, T0);

	/* link_conflict=reject: a link request for an id another user holds. */
	struct login rej;
	struct store_platform_result rr;
	login_init(&rej, "steam", "76561198000000004", T0 + 1);
	rej.in.link_requested = true;
	rej.in.link_user_id = other;
	rej.in.reject_conflict = true;
	CHECK_INT(do_login(st, &rej, &rr), PLATFORM_LOGIN_CONFLICT);
	CHECK_INT(rr.session_id, 0);
	CHECK(!rr.linked);
	CHECK_INT(session_count(st, ro.user_id), 1); /* no session for anyone */
	CHECK_INT(session_count(st, other), 1);
	CHECK_INT(identity_count(st, other), 0);
	char sub[256];
	CHECK_INT(identity_of(st, ro.user_id, "steam", sub, sizeof sub), 0);
	CHECK_STR(sub, "76561198000000004");

	/* link_conflict=login_existing (the default): logs in as the owner. */
	struct login le;
	struct store_platform_result rl;
	login_init(&le, "steam", "76561198000000004", T0 + 2);
	le.in.link_requested = true;
	le.in.link_user_id = other;
	le.in.reject_conflict = false;
	CHECK_INT(do_login(st, &le, &rl), PLATFORM_LOGIN_OK);
	CHECK_STR(rl.user_id, ro.user_id);
	CHECK(!rl.linked && !rl.created);
	CHECK(rl.session_id > 0);
	CHECK_INT(identity_count(st, other), 0);

	/* Linking an id to the user who already holds it is no conflict. */
	struct login self;
	struct store_platform_result rs;
	login_init(&self, "steam", "76561198000000004", T0 + 3);
	self.in.link_requested = true;
	self.in.link_user_id = ro.user_id;
	self.in.reject_conflict = true;
	CHECK_INT(do_login(st, &self, &rs), PLATFORM_LOGIN_OK);
	CHECK_STR(rs.user_id, ro.user_id);
	CHECK_INT(user_count(st), 2);
	store_close(st);
}

TEST(banned_user_gets_nothing)
{
	struct store *st = open_store();
	struct login first;
	struct store_platform_result rf;
	login_init(&first, "steam", "76561198000000005", T0);
	CHECK_INT(do_login(st, &first, &rf), PLATFORM_LOGIN_OK);
	CHECK_INT(store_user_set_ban(st, rf.user_id, STORE_BAN_FOREVER, T0 + 1, NULL), 0);

	struct login l;
	struct store_platform_result r;
	login_init(&l, "steam", "76561198000000005", T0 + 2);
	CHECK_INT(do_login(st, &l, &r), PLATFORM_LOGIN_BANNED);
	CHECK_INT(r.session_id, 0);
	CHECK_INT(session_count(st, rf.user_id), 1); /* only the first, now ended */
	struct store_account a;
	CHECK_INT(store_account_get(st, rf.user_id, T0 + 2, false, &a), 0);
	CHECK_INT(a.live_sessions, 0);
	store_account_release(&a);

	/* A ban that has ended lets the user in again. */
	CHECK_INT(store_user_set_ban(st, rf.user_id, T0 + 100, T0 + 3, NULL), 0);
	struct login later;
	struct store_platform_result rl;
	login_init(&later, "steam", "76561198000000005", T0 + 100);
	CHECK_INT(do_login(st, &later, &rl), PLATFORM_LOGIN_OK);
	CHECK_STR(rl.user_id, rf.user_id);
	CHECK(rl.session_id > 0);
	store_close(st);
}

TEST(banned_user_linking_writes_no_identity)
{
	struct store *st = open_store();
	char guest[37];
	make_guest(st, guest, T0);
	CHECK_INT(store_user_set_ban(st, guest, STORE_BAN_FOREVER, T0 + 1, NULL), 0);
	struct login l;
	struct store_platform_result r;
	login_init(&l, "google_play", "g-banned", T0 + 2);
	l.in.link_requested = true;
	l.in.link_user_id = guest;
	CHECK_INT(do_login(st, &l, &r), PLATFORM_LOGIN_BANNED);
	CHECK_INT(r.session_id, 0);
	CHECK_INT(identity_count(st, guest), 0);
	CHECK_INT(session_count(st, guest), 1);

	/* The id stayed unmapped: after the attempt it makes a new user of its own. */
	struct login p;
	struct store_platform_result rp;
	login_init(&p, "google_play", "g-banned", T0 + 3);
	CHECK_INT(do_login(st, &p, &rp), PLATFORM_LOGIN_OK);
	CHECK(rp.created);
	CHECK(strcmp(rp.user_id, guest) != 0);

	/* Relinking a banned user keeps its old identity of the provider. */
	char g2[37];
	make_guest(st, g2, T0 + 4);
	struct login k1;
	struct store_platform_result rk1;
	login_init(&k1, "facebook", "fb-keep", T0 + 5);
	k1.in.link_requested = true;
	k1.in.link_user_id = g2;
	CHECK_INT(do_login(st, &k1, &rk1), PLATFORM_LOGIN_OK);
	CHECK_INT(store_user_set_ban(st, g2, STORE_BAN_FOREVER, T0 + 6, NULL), 0);
	struct login k2;
	struct store_platform_result rk2;
	login_init(&k2, "facebook", "fb-replace", T0 + 7);
	k2.in.link_requested = true;
	k2.in.link_user_id = g2;
	CHECK_INT(do_login(st, &k2, &rk2), PLATFORM_LOGIN_BANNED);
	char sub[256];
	CHECK_INT(identity_of(st, g2, "facebook", sub, sizeof sub), 0);
	CHECK_STR(sub, "fb-keep");
	store_close(st);
}

/* ---- concurrent first logins ---- */

enum { RACERS = 8 };

struct racer {
	struct store *st;
	pthread_barrier_t *start;
	struct login l;
	struct store_platform_result r;
	int rc;
};

static void *race_main(void *arg)
{
	struct racer *x = arg;
	pthread_barrier_wait(x->start);
	x->rc = store_platform_login(x->st, &x->l.in, &x->r);
	return NULL;
}

TEST(concurrent_first_logins_make_one_user)
{
	struct store *st = open_store();
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, RACERS);
	struct racer *x = calloc(RACERS, sizeof *x);
	pthread_t th[RACERS];
	for (int i = 0; i < RACERS; i++) {
		x[i].st = st;
		x[i].start = &start;
		login_init(&x[i].l, "oidc:epic", "epic-account-race", T0);
		CHECK_INT(pthread_create(&th[i], NULL, race_main, &x[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		pthread_join(th[i], NULL);
	int created = 0, ok = 0, same = 0;
	for (int i = 0; i < RACERS; i++) {
		ok += x[i].rc == 0 && x[i].r.outcome == PLATFORM_LOGIN_OK;
		created += x[i].r.created;
		same += !strcmp(x[i].r.user_id, x[0].r.user_id);
	}
	CHECK_INT(ok, RACERS);
	CHECK_INT(created, 1);
	CHECK_INT(same, RACERS);
	CHECK_INT(user_count(st), 1);
	CHECK_INT(identity_count(st, x[0].r.user_id), 1);
	CHECK_INT(session_count(st, x[0].r.user_id), RACERS);
	pthread_barrier_destroy(&start);
	free(x);
	store_close(st);
}

/* ---- unlinking ---- */

TEST(unlink_outcomes)
{
	struct store *st = open_store();
	int outcome = -1;
	char nobody[37];
	new_id(nobody);
	CHECK_INT(store_identity_unlink(st, nobody, "steam", &outcome), GH_ENOTFOUND);

	/* A platform-only user with two identities. */
	struct login a, b;
	struct store_platform_result ra, rb;
	login_init(&a, "steam", "76561198000000006", T0);
	CHECK_INT(do_login(st, &a, &ra), PLATFORM_LOGIN_OK);
	login_init(&b, "apple", "apple-sub-6", T0 + 1);
	b.in.link_requested = true;
	b.in.link_user_id = ra.user_id;
	CHECK_INT(do_login(st, &b, &rb), PLATFORM_LOGIN_OK);
	CHECK_INT(identity_count(st, ra.user_id), 2);

	outcome = -1;
	CHECK_INT(store_identity_unlink(st, ra.user_id, "facebook", &outcome), 0);
	CHECK_INT(outcome, UNLINK_NOT_LINKED);

	outcome = -1;
	CHECK_INT(store_identity_unlink(st, ra.user_id, "steam", &outcome), 0);
	CHECK_INT(outcome, UNLINK_DONE);
	CHECK_INT(identity_count(st, ra.user_id), 1);
	char sub[256];
	CHECK_INT(identity_of(st, ra.user_id, "steam", sub, sizeof sub), 0);
	CHECK_STR(sub, "");

	outcome = -1;
	CHECK_INT(store_identity_unlink(st, ra.user_id, "steam", &outcome), 0);
	CHECK_INT(outcome, UNLINK_NOT_LINKED);

	/* The last way to log in (no guest secret, one identity) stays. */
	outcome = -1;
	CHECK_INT(store_identity_unlink(st, ra.user_id, "apple", &outcome), 0);
	CHECK_INT(outcome, UNLINK_LAST_METHOD);
	CHECK_INT(identity_of(st, ra.user_id, "apple", sub, sizeof sub), 0);
	CHECK_STR(sub, "apple-sub-6");

	/* The unlinked Steam id now logs in as a new user. */
	struct login s;
	struct store_platform_result rs;
	login_init(&s, "steam", "76561198000000006", T0 + 2);
	CHECK_INT(do_login(st, &s, &rs), PLATFORM_LOGIN_OK);
	CHECK(rs.created);
	CHECK(strcmp(rs.user_id, ra.user_id) != 0);
	store_close(st);
}

TEST(unlink_last_identity_of_guest)
{
	struct store *st = open_store();
	char guest[37];
	make_guest(st, guest, T0);
	struct login l;
	struct store_platform_result r;
	login_init(&l, "oidc:twitch", "twitch-7", T0 + 1);
	l.in.link_requested = true;
	l.in.link_user_id = guest;
	CHECK_INT(do_login(st, &l, &r), PLATFORM_LOGIN_OK);
	CHECK_INT(identity_count(st, guest), 1);
	/* The guest secret remains a way to log in. */
	int outcome = -1;
	CHECK_INT(store_identity_unlink(st, guest, "oidc:twitch", &outcome), 0);
	CHECK_INT(outcome, UNLINK_DONE);
	CHECK_INT(identity_count(st, guest), 0);
	struct store_user u;
	CHECK_INT(store_user_get(st, guest, &u), 0);
	CHECK(u.has_guest_secret);
	store_close(st);
}

int main(void)
{
	log_configure(LOG_ERROR, LOG_FORMAT_TEXT);
	fixture_tmpdir(tmp_dir, sizeof tmp_dir, "plat");
	RUN(first_login_creates_user_identity_and_session);
	RUN(second_login_finds_the_same_user);
	RUN(link_maps_identity_to_token_user);
	RUN(relink_replaces_the_old_identity_of_that_provider);
	RUN(link_without_link_user_fails);
	RUN(link_to_deleted_user_fails);
	RUN(conflict_rejected_or_logs_in_as_owner);
	RUN(banned_user_gets_nothing);
	RUN(banned_user_linking_writes_no_identity);
	RUN(concurrent_first_logins_make_one_user);
	RUN(unlink_outcomes);
	RUN(unlink_last_identity_of_guest);

	fixture_rmdir(tmp_dir);
	return REPORT();
}
