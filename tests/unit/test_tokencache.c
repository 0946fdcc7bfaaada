/*
 * test_tokencache.c - the verified-token cache: a second call with the same
 * token is a hit with the same claims; a hit still expires with the token,
 * misses once its key has left the key set, and never stands in for a
 * different (tampered) token; failures are never remembered; slots that
 * collide simply replace each other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/keyring.h"
#include "gatehouse/log.h"
#include "gatehouse/store.h"
#include "gatehouse/token.h"
#include "gatehouse/tokencache.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "harness.h"
#include "fixtures.h"

#define T0 1800000000LL
#define ISSUER "https://id.example.com/prod"
#define TTL 900

static char tmp_dir[64];
static struct token_config tc;
static struct store *st_a, *st_b;
static struct keyring *kr_a, *kr_b;

static struct keyring *new_keyring(const char *name, struct store **st)
{
	char path[160];
	snprintf(path, sizeof path, "%s/%s/gatehouse.db", tmp_dir, name);
	struct fixture_store_opts o = { .readers = 1, .sync_normal = true };
	*st = fixture_store_open(path, &o);
	struct key_policy p = { .access_alg = KEY_RS256, .rotation_interval = 7 * 86400,
				.prepublish = 86400, .access_token_ttl = TTL,
				.refresh_token_ttl = 86400 };
	struct keyring *kr = keyring_new(*st, &p);
	if (keyring_reload(kr) || keyring_maintain(kr, T0, NULL)) {
		fprintf(stderr, "no keys\n");
		exit(2);
	}
	return kr;
}

static char *issue(struct keyring *kr, const char *sub, int scope, int64_t now)
{
	struct keyset *ks = keyset_get(kr);
	char *tok = NULL;
	int64_t exp;
	if (token_issue_access(&tc, ks, sub, scope, 0, now, &tok, &exp))
		tok = NULL;
	keyset_put(ks);
	return tok;
}

static int verify(struct token_cache *c, struct keyring *kr, const char *tok, int64_t now,
		  struct access_claims *out)
{
	struct keyset *ks = keyset_get(kr);
	const char *why;
	int rc = tokencache_verify_access(c, &tc, ks, tok, strlen(tok), now, out, &why);
	keyset_put(ks);
	return rc;
}

#define SUB1 "0b6e5f7a-1c2d-4e3f-8a9b-0c1d2e3f4a5b"
#define SUB2 "1c7f6a8b-2d3e-4f40-9bac-1d2e3f4a5b6c"

TEST(hit_gives_the_same_claims)
{
	struct token_cache *c = tokencache_new(64);
	char *tok = issue(kr_a, SUB1, SCOPE_AUTHENTICATED, T0);
	struct access_claims a, b;
	uint64_t hits, misses;
	CHECK_INT(verify(c, kr_a, tok, T0 + 1, &a), 0);
	tokencache_stats(c, &hits, &misses);
	CHECK_INT(hits, 0);
	CHECK_INT(misses, 1);
	CHECK_INT(verify(c, kr_a, tok, T0 + 2, &b), 0);
	tokencache_stats(c, &hits, &misses);
	CHECK_INT(hits, 1);
	CHECK_INT(misses, 1);
	CHECK_STR(b.sub, SUB1);
	CHECK_INT(b.scope, SCOPE_AUTHENTICATED);
	CHECK_INT(b.iat, a.iat);
	CHECK_INT(b.exp, a.exp);
	free(tok);
	tokencache_free(c);
}

TEST(hit_expires_with_the_token)
{
	struct token_cache *c = tokencache_new(64);
	char *tok = issue(kr_a, SUB1, SCOPE_GUEST, T0);
	struct access_claims a;
	CHECK_INT(verify(c, kr_a, tok, T0 + 1, &a), 0);
	CHECK_INT(verify(c, kr_a, tok, T0 + TTL - 1, &a), 0);
	CHECK_INT(verify(c, kr_a, tok, T0 + TTL, &a), GH_EAUTH);
	CHECK_INT(verify(c, kr_a, tok, T0 + TTL + 100, &a), GH_EAUTH);
	free(tok);
	tokencache_free(c);
}

TEST(hit_needs_its_key_in_the_set)
{
	/* As after an emergency rotation: the key set in use lacks the token's key. */
	struct token_cache *c = tokencache_new(64);
	char *tok = issue(kr_a, SUB1, SCOPE_GUEST, T0);
	struct access_claims a;
	uint64_t hits, misses;
	CHECK_INT(verify(c, kr_a, tok, T0 + 1, &a), 0);
	CHECK_INT(verify(c, kr_b, tok, T0 + 2, &a), GH_EAUTH);
	CHECK_INT(verify(c, kr_b, tok, T0 + 3, &a), GH_EAUTH);
	tokencache_stats(c, &hits, &misses);
	CHECK_INT(hits, 0);
	/* And a token of the other set does not disturb it. */
	char *tok_b = issue(kr_b, SUB2, SCOPE_GUEST, T0);
	CHECK_INT(verify(c, kr_b, tok_b, T0 + 4, &a), 0);
	CHECK_STR(a.sub, SUB2);
	CHECK_INT(verify(c, kr_a, tok, T0 + 5, &a), 0);
	CHECK_STR(a.sub, SUB1);
	free(tok);
	free(tok_b);
	tokencache_free(c);
}

TEST(tampered_token_misses_and_fails)
{
	struct token_cache *c = tokencache_new(64);
	char *tok = issue(kr_a, SUB1, SCOPE_GUEST, T0);
	struct access_claims a;
	CHECK_INT(verify(c, kr_a, tok, T0 + 1, &a), 0);
	size_t n = strlen(tok);
	char *bad = xstrdup(tok);
	bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A'; /* the signature */
	CHECK_INT(verify(c, kr_a, bad, T0 + 2, &a), GH_EAUTH);
	char *longer = xasprintf("%sA", tok);
	CHECK_INT(verify(c, kr_a, longer, T0 + 2, &a), GH_EAUTH);
	/* A prefix of the token: not a hit either. */
	struct keyset *ks = keyset_get(kr_a);
	const char *why;
	CHECK_INT(tokencache_verify_access(c, &tc, ks, tok, n - 1, T0 + 2, &a, &why), GH_EAUTH);
	keyset_put(ks);
	uint64_t hits, misses;
	tokencache_stats(c, &hits, &misses);
	CHECK_INT(hits, 0);
	free(bad);
	free(longer);
	free(tok);
	tokencache_free(c);
}

TEST(failures_are_not_remembered)
{
	struct token_cache *c = tokencache_new(64);
	char *tok = issue(kr_a, SUB1, SCOPE_GUEST, T0);
	struct access_claims a;
	/* Not yet valid at first (nbf), valid later: the failure left no trace. */
	CHECK_INT(verify(c, kr_a, tok, T0 - 100, &a), GH_EAUTH);
	CHECK_INT(verify(c, kr_a, tok, T0 + 1, &a), 0);
	uint64_t hits, misses;
	tokencache_stats(c, &hits, &misses);
	CHECK_INT(hits, 0);
	CHECK_INT(misses, 2);
	free(tok);
	tokencache_free(c);
}

TEST(collisions_replace_each_other)
{
	/* 64 slots (one per shard) and 300 tokens: every token still verifies. */
	struct token_cache *c = tokencache_new(1);
	char *toks[300];
	struct access_claims a;
	for (int i = 0; i < 300; i++) {
		char sub[37];
		snprintf(sub, sizeof sub, "%08x-1c2d-4e3f-8a9b-0c1d2e3f4a5b", i);
		toks[i] = issue(kr_a, sub, SCOPE_GUEST, T0);
	}
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 300; i++) {
			char sub[37];
			snprintf(sub, sizeof sub, "%08x-1c2d-4e3f-8a9b-0c1d2e3f4a5b", i);
			CHECK_INT(verify(c, kr_a, toks[i], T0 + 1, &a), 0);
			CHECK_STR(a.sub, sub);
		}
	uint64_t hits, misses;
	tokencache_stats(c, &hits, &misses);
	CHECK(hits < 300);
	CHECK_INT(hits + misses, 600);
	for (int i = 0; i < 300; i++)
		free(toks[i]);
	tokencache_free(c);
}

TEST(no_cache)
{
	CHECK(tokencache_new(0) == NULL);
	char *tok = issue(kr_a, SUB1, SCOPE_GUEST, T0);
	struct access_claims a;
	CHECK_INT(verify(NULL, kr_a, tok, T0 + 1, &a), 0);
	CHECK_INT(verify(NULL, kr_a, tok, T0 + TTL, &a), GH_EAUTH);
	uint64_t hits, misses;
	tokencache_stats(NULL, &hits, &misses);
	CHECK_INT(hits + misses, 0);
	free(tok);
}

int main(void)
{
	log_configure(LOG_ERROR, LOG_FORMAT_TEXT);
	fixture_tmpdir(tmp_dir, sizeof tmp_dir, "tcache");
	token_config_init(&tc, ISSUER, TTL);
	kr_a = new_keyring("a", &st_a);
	kr_b = new_keyring("b", &st_b);

	RUN(hit_gives_the_same_claims);
	RUN(hit_expires_with_the_token);
	RUN(hit_needs_its_key_in_the_set);
	RUN(tampered_token_misses_and_fails);
	RUN(failures_are_not_remembered);
	RUN(collisions_replace_each_other);
	RUN(no_cache);

	keyring_free(kr_a);
	keyring_free(kr_b);
	store_close(st_a);
	store_close(st_b);
	token_config_release(&tc);
	fixture_rmdir(tmp_dir);
	return REPORT();
}
