/*
 * test_store.c - the store against a real SQLite file in a temp directory,
 * where a case looks at the file itself: guest users and sessions, a ban
 * written behind the store's back, player documents and their versions,
 * signing keys, concurrent writers (group commit), persistence across
 * reopen, a useful error when the directory is unusable, operator stores
 * that never create a database, and the daemon's lock. The rules
 * every back end keeps (rotation, grace, reuse...) are in
 * test_store_contract.c.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "gatehouse/log.h"
#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/random.h"
#include "gatehouse/digest.h"
#include "gatehouse/store_sqlite.h"
#include "harness.h"
#include "fixtures.h"

#define T0 1800000000LL

static char tmp_dir[64];
static char db_path[128];
/* Whether stores opened by open_store() use group commit (the daemon's default). */
static bool group_commit = true;

static void make_tmp_dir(void)
{
	fixture_tmpdir(tmp_dir, sizeof tmp_dir, "store");
	snprintf(db_path, sizeof db_path, "%s/db/gatehouse.db", tmp_dir);
}

static void remove_tmp_dir(void)
{
	fixture_rmdir(tmp_dir);
}

static struct store *open_store(void)
{
	struct fixture_store_opts o = { .one_commit_per_write = !group_commit };
	return fixture_store_open(db_path, &o);
}

/* A second, plain SQLite connection: to inspect or poke at rows directly. */
static sqlite3 *raw_db(void)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "raw open: %s\n", db ? sqlite3_errmsg(db) : "?");
		exit(2);
	}
	sqlite3_busy_timeout(db, 10000);
	return db;
}

static int64_t raw_int(const char *sql)
{
	sqlite3 *db = raw_db();
	sqlite3_stmt *s = NULL;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else
		fprintf(stderr, "raw query failed: %s: %s\n", sql, sqlite3_errmsg(db));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void raw_exec(const char *sql)
{
	sqlite3 *db = raw_db();
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "raw exec failed: %s: %s\n", sql, msg ? msg : "?");
		harness_checks_failed++;
	}
	sqlite3_free(msg);
	sqlite3_close(db);
}

static void new_uuid(char out[37])
{
	if (gh_uuid4(out))
		exit(2);
}

static void hash_of(const char *secret, unsigned char out[32])
{
	gh_sha256(secret, strlen(secret), out);
}

/* Creates a guest user with a first session whose refresh token is jti. */
static int64_t make_guest(struct store *st, char user_id[37], const char *jti, int64_t now,
			  int64_t expires_at)
{
	new_uuid(user_id);
	unsigned char h[32];
	hash_of(user_id, h);
	struct store_session_new s = {
		.user_id = user_id, .access_scope = "guest", .jti = jti, .now = now,
		.expires_at = expires_at,
	};
	int64_t sid = 0;
	int rc = store_guest_create(st, user_id, h, &s, &sid);
	CHECK_INT(rc, 0);
	CHECK(sid > 0);
	return sid;
}

/* now_ms and grace_ms: the store works in milliseconds for the grace window. */
static int refresh_ms(struct store *st, int64_t sid, const char *user_id, const char *presented,
		      const char *new_jti, int64_t now_ms, int64_t grace_ms,
		      struct store_refresh_result *res)
{
	struct store_refresh r = {
		.session_id = sid, .user_id = user_id, .presented_jti = presented,
		.new_jti = new_jti, .now = now_ms / 1000, .now_ms = now_ms, .grace_ms = grace_ms,
	};
	int rc = store_session_refresh(st, &r, res);
	CHECK_INT(rc, 0);
	return res->outcome;
}

/* The same with whole seconds. */
static int refresh(struct store *st, int64_t sid, const char *user_id, const char *presented,
		   const char *new_jti, int64_t now, int64_t grace,
		   struct store_refresh_result *res)
{
	return refresh_ms(st, sid, user_id, presented, new_jti, now * 1000, grace * 1000, res);
}

/* An unconditional write of one document, without quotas. */
static int doc_put(struct store *st, const char *user_id, const char *key, const char *value,
		   size_t len, int64_t now, int64_t *version)
{
	struct store_doc_write w = { .key = key, .value = value, .len = len };
	struct store_doc_result r;
	int rc = store_doc_write(st, user_id, &w, 1, now, NULL, &r, NULL, NULL);
	*version = r.version;
	return rc;
}

/* ---- users and sessions ---- */

TEST(guest_create_and_user_get)
{
	struct store *st = open_store();
	char uid[37];
	new_uuid(uid);
	unsigned char h[32];
	hash_of("the guest secret", h);
	struct store_session_new s = {
		.user_id = uid, .access_scope = "guest", .jti = "jti-guest-000000000000",
		.now = T0, .expires_at = T0 + 600,
	};
	int64_t sid = 0;
	CHECK_INT(store_guest_create(st, uid, h, &s, &sid), 0);
	CHECK(sid > 0);

	struct store_user u;
	CHECK_INT(store_user_get(st, uid, &u), 0);
	CHECK_STR(u.user_id, uid);
	CHECK(u.has_guest_secret);
	CHECK(memcmp(u.guest_secret_hash, h, 32) == 0);
	CHECK_INT(u.created_at, T0);
	CHECK_INT(u.last_seen_at, T0);
	CHECK_INT(u.banned_until, 0);

	/* The same user id again: a conflict, and nothing half-written. */
	unsigned char h2[32];
	hash_of("another secret", h2);
	s.jti = "jti-guest-111111111111";
	s.now = T0 + 5;
	int64_t sid2 = 0;
	CHECK_INT(store_guest_create(st, uid, h2, &s, &sid2), GH_ECONFLICT);
	CHECK_INT(store_user_get(st, uid, &u), 0);
	CHECK(memcmp(u.guest_secret_hash, h, 32) == 0);
	CHECK_INT(u.created_at, T0);
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM sessions WHERE user_id = '%s'", uid);
	CHECK_INT(raw_int(sql), 1);

	char other[37];
	new_uuid(other);
	CHECK_INT(store_user_get(st, other, &u), GH_ENOTFOUND);
	CHECK(!u.has_guest_secret);
	CHECK_INT(store_ping(st), 0);
	store_close(st);
}

TEST(session_create)
{
	struct store *st = open_store();
	char ghost[37];
	new_uuid(ghost);
	struct store_session_new s = {
		.user_id = ghost, .access_scope = "authenticated", .jti = "jti-a",
		.now = T0, .expires_at = T0 + 600,
	};
	int64_t sid = 12345;
	CHECK_INT(store_session_create(st, &s, &sid), GH_ENOTFOUND);
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM sessions WHERE user_id = '%s'", ghost);
	CHECK_INT(raw_int(sql), 0);

	char uid[37];
	int64_t first = make_guest(st, uid, "jti-b", T0, T0 + 600);
	s.user_id = uid;
	s.now = T0 + 100;
	s.jti = "jti-c";
	CHECK_INT(store_session_create(st, &s, &sid), 0);
	CHECK(sid > 0 && sid != first);
	struct store_user u;
	CHECK_INT(store_user_get(st, uid, &u), 0);
	/* Activity is kept to the hour: a login within it writes nothing. */
	CHECK_INT(u.last_seen_at, T0);
	CHECK_INT(u.created_at, T0);
	s.now = T0 + 3601;
	s.jti = "jti-x";
	int64_t later;
	CHECK_INT(store_session_create(st, &s, &later), 0);
	CHECK_INT(store_user_get(st, uid, &u), 0);
	CHECK_INT(u.last_seen_at, T0 + 3601); /* this login is recorded */

	/* The new session has its own scope and refreshes on its own. */
	struct store_refresh_result res;
	CHECK_INT(refresh(st, sid, uid, "jti-c", "jti-d", T0 + 101, 10, &res), REFRESH_ROTATED);
	CHECK_STR(res.access_scope, "authenticated");
	CHECK_INT(res.expires_at, T0 + 600);
	CHECK_INT(refresh(st, first, uid, "jti-b", "jti-e", T0 + 101, 10, &res), REFRESH_ROTATED);
	CHECK_STR(res.access_scope, "guest");
	store_close(st);
}

/* ---- the refresh state machine (the rest: test_store_contract.c) ---- */

TEST(refresh_banned_user)
{
	struct store *st = open_store();
	char uid[37];
	int64_t sid = make_guest(st, uid, "J0", T0, T0 + 100000);
	char sql[256];
	snprintf(sql, sizeof sql, "UPDATE users SET banned_until = %lld WHERE user_id = '%s'",
		 (long long)(T0 + 500), uid);
	raw_exec(sql);
	struct store_user u;
	CHECK_INT(store_user_get(st, uid, &u), 0);
	CHECK_INT(u.banned_until, T0 + 500);

	struct store_refresh_result res;
	CHECK_INT(refresh(st, sid, uid, "J0", "J1", T0 + 10, 10, &res), REFRESH_BANNED);
	CHECK_INT(refresh(st, sid, uid, "J0", "J1", T0 + 499, 10, &res), REFRESH_BANNED);
	/* A ban neither rotates nor revokes: after it lapses the token works. */
	CHECK_INT(refresh(st, sid, uid, "J0", "J1", T0 + 500, 10, &res), REFRESH_ROTATED);

	/* Banned forever. */
	snprintf(sql, sizeof sql,
		 "UPDATE users SET banned_until = 9223372036854775807 WHERE user_id = '%s'", uid);
	raw_exec(sql);
	CHECK_INT(refresh(st, sid, uid, "J1", "J2", T0 + 90000, 10, &res), REFRESH_BANNED);
	store_close(st);
}

static int64_t session_exists(int64_t sid)
{
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM sessions WHERE session_id = %lld",
		 (long long)sid);
	return raw_int(sql);
}

TEST(sessions_purge)
{
	struct store *st = open_store();
	char ua[37], ub[37], uc[37];
	int64_t a = make_guest(st, ua, "P0", T0, T0 + 100);       /* expires */
	int64_t b = make_guest(st, ub, "Q0", T0, T0 + 100000);    /* revoked below */
	int64_t c = make_guest(st, uc, "R0", T0, T0 + 100000);    /* live */
	struct store_refresh_result res;
	CHECK_INT(refresh(st, b, ub, "nope", "Q1", T0 + 10, 10, &res), REFRESH_REUSED);
	int64_t n = -1;
	/* A cutoff before anything ended keeps all three. */
	CHECK_INT(store_sessions_purge(st, T0 + 5, 1000, &n), 0);
	CHECK_INT(session_exists(a) + session_exists(b) + session_exists(c), 3);
	CHECK_INT(store_sessions_purge(st, T0 + 200, 1000, &n), 0);
	CHECK(n >= 2);
	CHECK_INT(session_exists(a), 0);
	CHECK_INT(session_exists(b), 0);
	CHECK_INT(session_exists(c), 1);
	CHECK_INT(refresh(st, c, uc, "R0", "R1", T0 + 300, 10, &res), REFRESH_ROTATED);
	store_close(st);
}

/* ---- documents ---- */

TEST(documents)
{
	struct store *st = open_store();
	char uid[37];
	make_guest(st, uid, "D0", T0, T0 + 1000);
	struct store_document d;
	CHECK_INT(store_doc_get(st, uid, "save", &d), GH_ENOTFOUND);
	CHECK(d.value == NULL);

	int64_t v = 0;
	const char *v1 = "{\"level\":1}";
	CHECK_INT(doc_put(st, uid, "save", v1, strlen(v1), T0 + 1, &v), 0);
	CHECK_INT(v, 1);
	CHECK_INT(store_doc_get(st, uid, "save", &d), 0);
	CHECK_INT(d.len, strlen(v1));
	CHECK_STR(d.value, v1);
	CHECK_INT(d.version, 1);
	CHECK_INT(d.updated_at, T0 + 1);
	free(d.value);

	const char *v2 = "{\"level\":2,\"name\":\"caf\xc3\xa9\"}";
	CHECK_INT(doc_put(st, uid, "save", v2, strlen(v2), T0 + 2, &v), 0);
	CHECK_INT(v, 2);
	CHECK_INT(doc_put(st, uid, "save", v2, strlen(v2), T0 + 3, &v), 0);
	CHECK_INT(v, 3);
	CHECK_INT(store_doc_get(st, uid, "save", &d), 0);
	CHECK_STR(d.value, v2);
	CHECK_INT(d.version, 3);
	CHECK_INT(d.updated_at, T0 + 3);
	free(d.value);

	/* Versions come from the user's sequence: a new key continues it. */
	CHECK_INT(doc_put(st, uid, "settings", "{}", 2, T0 + 4, &v), 0);
	CHECK_INT(v, 4);
	char other[37];
	make_guest(st, other, "E0", T0, T0 + 1000);
	CHECK_INT(store_doc_get(st, other, "save", &d), GH_ENOTFOUND);
	CHECK_INT(doc_put(st, other, "save", "[]", 2, T0 + 5, &v), 0);
	CHECK_INT(v, 1);

	/* Only the given length is stored. */
	CHECK_INT(doc_put(st, other, "cut", "[1,2]garbage", 5, T0 + 6, &v), 0);
	CHECK_INT(store_doc_get(st, other, "cut", &d), 0);
	CHECK_INT(d.len, 5);
	CHECK_STR(d.value, "[1,2]");
	free(d.value);

	/* A large document round-trips byte for byte. */
	size_t big_n = 200000;
	char *big = malloc(big_n + 1);
	CHECK(big != NULL);
	for (size_t i = 0; i < big_n; i++)
		big[i] = (char)('a' + i % 26);
	big[0] = '"';
	big[big_n - 1] = '"';
	big[big_n] = '\0';
	CHECK_INT(doc_put(st, other, "big", big, big_n, T0 + 7, &v), 0);
	CHECK_INT(store_doc_get(st, other, "big", &d), 0);
	CHECK_INT(d.len, big_n);
	CHECK(d.value && memcmp(d.value, big, big_n) == 0 && d.value[big_n] == '\0');
	free(d.value);
	free(big);

	/* No such user: nothing is stored. */
	char ghost[37];
	new_uuid(ghost);
	CHECK_INT(doc_put(st, ghost, "save", "{}", 2, T0, &v), GH_ENOTFOUND);
	CHECK_INT(store_doc_get(st, ghost, "save", &d), GH_ENOTFOUND);
	store_close(st);
}

/* ---- signing keys ---- */

static const struct store_key *find_key(const struct store_key *k, size_t n, const char *kid)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(k[i].kid, kid) == 0)
			return &k[i];
	return NULL;
}

TEST(keys_insert_list_delete)
{
	struct store *st = open_store();
	struct store_key *keys;
	size_t n;
	CHECK_INT(store_keys_list(st, &keys, &n), 0);
	size_t base = n;
	store_keys_free(keys, n);

	unsigned char secret[32];
	for (int i = 0; i < 32; i++)
		secret[i] = (unsigned char)(i * 7); /* includes a 0 byte */
	static const char pem[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
	struct store_key ins[] = {
		{ "kid-r2", "refresh", "HS256", secret, 32, T0, T0 + 200, 0 },
		{ "kid-a3", "access", "RS256", (unsigned char *)pem, sizeof pem - 1, T0, T0 + 300, 0 },
		{ "kid-a1", "access", "ES256", (unsigned char *)pem, sizeof pem - 1, T0 + 5, T0 + 100, 0 },
		{ "kid-r1", "refresh", "HS256", secret, 32, T0, T0 + 100, 0 },
		{ "kid-a2", "access", "RS256", (unsigned char *)pem, sizeof pem - 1, T0, T0 + 200, 0 },
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(ins); i++)
		CHECK_INT(store_key_insert(st, &ins[i]), 0);
	/* kids are unique */
	CHECK_INT(store_key_insert(st, &ins[0]), GH_ECONFLICT);

	CHECK_INT(store_keys_list(st, &keys, &n), 0);
	CHECK_INT(n, base + 5);
	/* Ordered by use (access first), then activate_at. */
	static const char *const order[] = { "kid-a1", "kid-a2", "kid-a3", "kid-r1", "kid-r2" };
	size_t j = 0;
	for (size_t i = 0; i < n && j < 5; i++)
		if (strncmp(keys[i].kid, "kid-", 4) == 0)
			CHECK_STR(keys[i].kid, order[j++]);
	CHECK_INT(j, 5);
	for (size_t i = 1; i < n; i++) {
		int c = strcmp(keys[i - 1].use, keys[i].use);
		CHECK(c < 0 || (c == 0 && keys[i - 1].activate_at <= keys[i].activate_at));
	}
	const struct store_key *k = find_key(keys, n, "kid-r1");
	CHECK(k != NULL);
	if (k) {
		CHECK_STR(k->use, "refresh");
		CHECK_STR(k->alg, "HS256");
		CHECK_INT(k->material_len, 32);
		CHECK(memcmp(k->material, secret, 32) == 0);
		CHECK_INT(k->created_at, T0);
		CHECK_INT(k->activate_at, T0 + 100);
	}
	k = find_key(keys, n, "kid-a1");
	CHECK(k != NULL);
	if (k) {
		CHECK_STR(k->alg, "ES256");
		CHECK_INT(k->material_len, sizeof pem - 1);
		CHECK(memcmp(k->material, pem, sizeof pem - 1) == 0);
		CHECK_INT(k->created_at, T0 + 5);
	}
	store_keys_free(keys, n);

	CHECK_INT(store_key_delete(st, "kid-a2"), 0);
	CHECK_INT(store_key_delete(st, "kid-r2"), 0);
	CHECK_INT(store_keys_list(st, &keys, &n), 0);
	CHECK_INT(n, base + 3);
	CHECK(find_key(keys, n, "kid-a2") == NULL);
	CHECK(find_key(keys, n, "kid-r2") == NULL);
	CHECK(find_key(keys, n, "kid-a1") != NULL);
	store_keys_free(keys, n);

	/* A bad use is refused by the schema. */
	struct store_key bad = { "kid-x", "other", "HS256", secret, 32, T0, T0, 0 };
	CHECK(store_key_insert(st, &bad) < 0);
	store_close(st);
}

/* ---- concurrency ---- */

#define THREADS 8
#define ROUNDS 200

struct worker {
	struct store *st;
	int index;
	char user_id[37];
	const char *ghost;
	int failures;
	int64_t last_own_version;
	int64_t sids[ROUNDS];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char key[32], val[64], jti[32];
	snprintf(key, sizeof key, "slot-%d", w->index);
	for (int i = 0; i < ROUNDS; i++) {
		int64_t v = 0, sid = 0;
		snprintf(val, sizeof val, "{\"t\":%d,\"i\":%d}", w->index, i);
		/* Versions come from the user's sequence: they only rise. */
		if (doc_put(w->st, w->user_id, key, val, strlen(val), T0 + i, &v) != 0 ||
		    v <= w->last_own_version)
			w->failures++;
		w->last_own_version = v;
		if (doc_put(w->st, w->user_id, "shared", val, strlen(val), T0 + i, &v) != 0)
			w->failures++;
		snprintf(jti, sizeof jti, "w%d-%d", w->index, i);
		struct store_session_new s = {
			.user_id = w->user_id, .access_scope = "guest", .jti = jti,
			.now = T0 + i, .expires_at = T0 + 100000,
		};
		if (store_session_create(w->st, &s, &sid) != 0 || sid <= 0)
			w->failures++;
		w->sids[i] = sid;
		/* Readers (a pool smaller than the thread count) run meanwhile. */
		struct store_user u;
		struct store_document d;
		if (store_user_get(w->st, w->user_id, &u) != 0 || u.last_seen_at < T0)
			w->failures++;
		if (store_doc_get(w->st, w->user_id, key, &d) != 0 || d.version < w->last_own_version)
			w->failures++;
		free(d.value);
		/* A failing write in the same batch must not undo the others. */
		if (i % 10 == 0 &&
		    doc_put(w->st, w->ghost, key, val, strlen(val), T0, &v) != GH_ENOTFOUND)
			w->failures++;
	}
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

TEST(concurrent_writers)
{
	struct store *st = open_store();
	char uid[37], ghost[37];
	make_guest(st, uid, "C0", T0, T0 + 100000);
	new_uuid(ghost);
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM sessions WHERE user_id = '%s'", uid);
	int64_t sessions_before = raw_int(sql);

	static struct worker w[THREADS];
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].st = st;
		w[i].index = i;
		w[i].ghost = ghost;
		snprintf(w[i].user_id, sizeof w[i].user_id, "%s", uid);
		CHECK_INT(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	/* Every write took exactly one number of the user's sequence. */
	char seq_sql[256];
	snprintf(seq_sql, sizeof seq_sql, "SELECT data_seq FROM users WHERE user_id = '%s'", uid);
	CHECK_INT(raw_int(seq_sql), THREADS * ROUNDS * 2);

	static int64_t all[THREADS * ROUNDS];
	for (int i = 0; i < THREADS; i++) {
		CHECK_INT(w[i].failures, 0);
		memcpy(all + i * ROUNDS, w[i].sids, sizeof w[i].sids);
		char key[32];
		snprintf(key, sizeof key, "slot-%d", i);
		struct store_document d;
		CHECK_INT(store_doc_get(st, uid, key, &d), 0);
		CHECK_INT(d.version, w[i].last_own_version);
		char want[64];
		snprintf(want, sizeof want, "{\"t\":%d,\"i\":%d}", i, ROUNDS - 1);
		CHECK_STR(d.value, want);
		free(d.value);
	}
	/* At least every put to the shared key came before its last one. */
	struct store_document d;
	CHECK_INT(store_doc_get(st, uid, "shared", &d), 0);
	CHECK(d.version >= THREADS * ROUNDS);
	free(d.value);
	CHECK_INT(raw_int(sql), sessions_before + THREADS * ROUNDS);
	/* Session ids are distinct. */
	qsort(all, THREADS * ROUNDS, sizeof all[0], cmp_i64);
	int dups = 0;
	for (int i = 1; i < THREADS * ROUNDS; i++)
		if (all[i] == all[i - 1])
			dups++;
	CHECK_INT(dups, 0);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM player_data WHERE user_id = '%s'", ghost);
	CHECK_INT(raw_int(sql), 0);
	store_close(st);
}

/* ---- writes nobody waits for (store_doc_write_async) ---- */

struct async_write {
	struct store_doc_write w;
	struct store_doc_result r;
	struct store_session_check chk;
	char key[16];
	int rc;
	_Atomic int done;          /* times its callback ran */
};

static void async_written(void *arg, int rc)
{
	struct async_write *a = arg;
	a->rc = rc;
	atomic_fetch_add(&a->done, 1);
}

/*
 * Asynchronous writes: each callback runs once, after its write is
 * durable, with the results and the session check filled; a failed check
 * writes nothing; store_async_close returns only after every callback of
 * the writes taken, and from then on the store says no (the caller writes
 * synchronously).
 */
TEST(async_writes_and_close)
{
	struct store *st = open_store();
	char uid[37];
	int64_t sid = make_guest(st, uid, "A0", T0, T0 + 100000);
	CHECK(store_async_writes(st));
	enum { N = 40 };
	static struct async_write a[N];
	char sql[256];
	for (int i = 0; i < N; i++) {
		memset(&a[i], 0, sizeof a[i]);
		snprintf(a[i].key, sizeof a[i].key, "k%d", i % 7);
		a[i].w = (struct store_doc_write){ .key = a[i].key, .value = "1", .len = 1 };
		/* Every fifth names a session that is not the user's: refused, nothing written. */
		a[i].chk = (struct store_session_check){ .session_id = i % 5 ? sid : sid + 1000,
							 .now = T0 + 1 };
		CHECK(store_doc_write_async(st, uid, &a[i].w, 1, T0 + 1, NULL, &a[i].r, NULL,
					    &a[i].chk, async_written, &a[i]));
	}
	/* A refresh the same way: rotated, durable before its callback. */
	struct async_write rf;
	memset(&rf, 0, sizeof rf);
	struct store_refresh r = { .session_id = sid, .user_id = uid, .presented_jti = "A0",
				   .new_jti = "A1", .now = T0 + 1, .now_ms = (T0 + 1) * 1000 };
	struct store_refresh_result rr;
	CHECK(store_session_refresh_async(st, &r, &rr, async_written, &rf));
	store_async_close(st);
	CHECK_INT(atomic_load(&rf.done), 1);
	CHECK_INT(rf.rc, 0);
	CHECK_INT(rr.outcome, REFRESH_ROTATED);
	CHECK_INT(rr.expires_at, T0 + 100000);
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM sessions WHERE session_id = %lld AND current_jti = 'A1'",
		 (long long)sid);
	CHECK_INT(raw_int(sql), 1);
	int64_t versions = 0;
	for (int i = 0; i < N; i++) {
		CHECK_INT(atomic_load(&a[i].done), 1);
		if (i % 5) {
			CHECK_INT(a[i].rc, 0);
			CHECK_INT(a[i].chk.err, 0);
			CHECK(a[i].r.version > 0);
			versions++;
		} else {
			CHECK_INT(a[i].rc, GH_EENDED);
			CHECK_INT(a[i].chk.err, GH_EENDED);
		}
	}
	snprintf(sql, sizeof sql, "SELECT data_seq FROM users WHERE user_id = '%s'", uid);
	CHECK_INT(raw_int(sql), versions);
	/* Closed: no more taken, and a synchronous write still goes through. */
	CHECK(!store_async_writes(st));
	struct async_write late = { .w = { .key = "late", .value = "2", .len = 1 } };
	CHECK(!store_doc_write_async(st, uid, &late.w, 1, T0 + 2, NULL, &late.r, NULL, NULL,
				     async_written, &late));
	CHECK(!store_doc_delete_async(st, uid, "k1", -1, NULL, NULL, async_written, &late));
	CHECK(!store_session_refresh_async(st, &r, &rr, async_written, &late));
	CHECK_INT(atomic_load(&late.done), 0);
	int64_t v;
	CHECK_INT(doc_put(st, uid, "late", "2", 1, T0 + 2, &v), 0);
	CHECK_INT(v, versions + 1);
	store_close(st);
}

/* ---- persistence and errors ---- */

TEST(reopen_keeps_data)
{
	struct store *st = open_store();
	char uid[37];
	int64_t sid = make_guest(st, uid, "Z0", T0, T0 + 1000);
	int64_t v;
	CHECK_INT(doc_put(st, uid, "persist", "{\"x\":1}", 7, T0, &v), 0);
	CHECK_INT(doc_put(st, uid, "persist", "{\"x\":2}", 7, T0 + 1, &v), 0);
	unsigned char secret[32] = { 1, 2, 3 };
	struct store_key k = { "kid-persist", "refresh", "HS256", secret, 32, T0, T0, 0 };
	CHECK_INT(store_key_insert(st, &k), 0);
	struct store_refresh_result res;
	CHECK_INT(refresh(st, sid, uid, "Z0", "Z1", T0 + 2, 10, &res), REFRESH_ROTATED);
	store_close(st);

	st = open_store();
	struct store_user u;
	CHECK_INT(store_user_get(st, uid, &u), 0);
	CHECK(u.has_guest_secret);
	struct store_document d;
	CHECK_INT(store_doc_get(st, uid, "persist", &d), 0);
	CHECK_STR(d.value, "{\"x\":2}");
	CHECK_INT(d.version, 2);
	free(d.value);
	struct store_key *keys;
	size_t n;
	CHECK_INT(store_keys_list(st, &keys, &n), 0);
	const struct store_key *pk = find_key(keys, n, "kid-persist");
	CHECK(pk && pk->material_len == 32 && memcmp(pk->material, secret, 32) == 0);
	store_keys_free(keys, n);
	/* The rotation survived: Z1 is current, Z0 is previous (grace). */
	CHECK_INT(refresh(st, sid, uid, "Z1", "Z2", T0 + 3, 10, &res), REFRESH_ROTATED);
	CHECK_INT(store_schema_version() >= 1, 1);
	CHECK_INT(raw_int("SELECT max(version) FROM schema_version"), store_schema_version());
	store_close(st);
}

TEST(open_fails_with_a_message)
{
	/* A path whose "directory" is a regular file (fails even for root). */
	char file[192], path[256];
	snprintf(file, sizeof file, "%s/plainfile", tmp_dir);
	FILE *f = fopen(file, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	snprintf(path, sizeof path, "%s/sub/gatehouse.db", file);
	struct store_sqlite_options sq = { .busy_timeout_ms = 100 };
	struct store_options opt = { .path = path, .sqlite = &sq };
	struct store *st = NULL;
	char err[512] = "";
	int rc = store_open(&opt, &st, err, sizeof err);
	CHECK(rc == GH_EUNAVAIL || rc == GH_EINTERNAL);
	CHECK(st == NULL);
	CHECK(err[0] != '\0');
	CHECK(strstr(err, file) != NULL);

	/* The database path itself is a directory. */
	char dirdb[192];
	snprintf(dirdb, sizeof dirdb, "%s/isadir.db", tmp_dir);
	CHECK_INT(mkdir(dirdb, 0700), 0);
	opt.path = dirdb;
	err[0] = '\0';
	rc = store_open(&opt, &st, err, sizeof err);
	CHECK(rc == GH_EUNAVAIL || rc == GH_EINTERNAL);
	CHECK(st == NULL);
	CHECK(strstr(err, dirdb) != NULL);

	/* A directory without write permission (meaningless for root). */
	if (geteuid() != 0) {
		char ro[192];
		snprintf(ro, sizeof ro, "%s/readonly", tmp_dir);
		CHECK_INT(mkdir(ro, 0500), 0);
		snprintf(path, sizeof path, "%s/gatehouse.db", ro);
		opt.path = path;
		err[0] = '\0';
		rc = store_open(&opt, &st, err, sizeof err);
		CHECK(rc < 0);
		CHECK(st == NULL);
		CHECK(strstr(err, ro) != NULL);
		chmod(ro, 0700);
	}
	/* Not a place anyone may create a directory (fails for root too). */
	opt.path = "/proc/gatehouse-unit-test/db/gatehouse.db";
	err[0] = '\0';
	rc = store_open(&opt, &st, err, sizeof err);
	CHECK(rc < 0);
	CHECK(st == NULL);
	CHECK(strstr(err, "/proc/gatehouse-unit-test") != NULL);
}

TEST(open_refuses_newer_schema)
{
	/* A database written by a newer build must not be touched. */
	raw_exec("INSERT INTO schema_version (version) VALUES (999)");
	struct store_sqlite_options sq = { .busy_timeout_ms = 1000 };
	struct store_options opt = { .path = db_path, .readers = 2, .sqlite = &sq };
	struct store *st = NULL;
	char err[512] = "";
	int rc = store_open(&opt, &st, err, sizeof err);
	CHECK(rc < 0);
	CHECK(st == NULL);
	CHECK(strstr(err, "999") != NULL);
	if (!rc)
		store_close(st);
	raw_exec("DELETE FROM schema_version WHERE version = 999");
}

TEST(must_exist_and_exclusive)
{
	struct store_sqlite_options sq = { .busy_timeout_ms = 1000 };
	char missing_dir[192], missing[256], pid[32];
	snprintf(missing_dir, sizeof missing_dir, "%s/nowhere", tmp_dir);
	snprintf(missing, sizeof missing, "%s/gatehouse.db", missing_dir);
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	/* An operator's store: no database, no file made, not even its directory. */
	struct store_options opt = { .path = missing, .readers = 1, .must_exist = true,
				     .sqlite = &sq };
	struct store *st = NULL, *other = NULL;
	char err[512] = "";
	CHECK_INT(store_open(&opt, &st, err, sizeof err), GH_ENOTFOUND);
	CHECK(st == NULL);
	CHECK(strstr(err, missing) != NULL);
	CHECK(strstr(err, "database_path") != NULL);
	CHECK(access(missing_dir, F_OK) != 0);
	int version = -1;
	CHECK_INT(store_file_schema_version(missing, &version, err, sizeof err), GH_ENOTFOUND);
	CHECK_INT(store_lock_holder(missing), 0);

	/* The daemon's store holds the lock; a second one is refused, naming the PID. */
	struct store_options excl = { .path = db_path, .readers = 1, .exclusive = true,
				      .sqlite = &sq };
	CHECK_INT(store_open(&excl, &st, err, sizeof err), 0);
	CHECK_INT(store_lock_holder(db_path), (long)getpid());
	err[0] = '\0';
	CHECK_INT(store_open(&excl, &other, err, sizeof err), GH_ECONFLICT);
	CHECK(other == NULL);
	CHECK(strstr(err, db_path) != NULL);
	CHECK(strstr(err, pid) != NULL);
	/* Operator commands beside it still open the database. */
	opt.path = db_path;
	CHECK_INT(store_open(&opt, &other, err, sizeof err), 0);
	store_close(other);
	CHECK_INT(store_file_schema_version(db_path, &version, err, sizeof err), 0);
	CHECK_INT(version, store_schema_version());
	store_close(st);
	/* Closed: the lock is free again. */
	CHECK_INT(store_lock_holder(db_path), 0);
	CHECK_INT(store_open(&excl, &st, err, sizeof err), 0);
	store_close(st);
}

int main(void)
{
	log_configure(LOG_ERROR, LOG_FORMAT_TEXT);
	make_tmp_dir();
	RUN(guest_create_and_user_get);
	RUN(session_create);
	RUN(refresh_banned_user);
	RUN(sessions_purge);
	RUN(documents);
	RUN(keys_insert_list_delete);
	RUN(concurrent_writers);
	group_commit = false;
	RUN(concurrent_writers); /* again, one transaction per write */
	group_commit = true;
	RUN(async_writes_and_close);
	RUN(reopen_keeps_data);
	RUN(open_fails_with_a_message);
	RUN(open_refuses_newer_schema);
	RUN(must_exist_and_exclusive);
	remove_tmp_dir();
	return REPORT();
}
