/*
 * fuzz_token.c - the daemon's own token verifiers (token_verify_access,
 * token_verify_refresh) and token_verify_foreign with generic OIDC rules,
 * over one fixed key set made at start-up: an RS256 and an ES256 access
 * key and an HS256 refresh key.
 *
 * Input: one mode byte, then the token. Mode % 8: 0 and 7, the token as
 * given; 1, 2, 3, the text up to its second '.' is re-signed with the
 * RS256, ES256 or HS256 key first; 4, 5, 6, the input is "header
 * JSON\npayload JSON", encoded and signed with the RS256, ES256 or HS256
 * key. So the fuzzer reaches every claim check behind the signature, and
 * can mutate claims as JSON. Seeds: 'a' 'b' 'c' re-signed, 'd' 'e' 'f'
 * JSON, 'h' as given.
 */
#include <stdlib.h>
#include <string.h>

#include "gatehouse/keyring.h"
#include "gatehouse/token.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/random.h"
#include "fuzz_common.h"

#define NOW 1800000000LL
#define ISSUER "https://id.example.com/prod"

static struct signing_key keys[3];
static struct keyset ks = { .keys = keys, .n = 3 };
static struct token_config tcfg;

static void make_keys(void)
{
	static const char *const kids[] = { "fuzz-rs256", "fuzz-es256", "fuzz-hs256" };
	for (int i = 0; i < 3; i++) {
		struct signing_key *k = &keys[i];
		snprintf(k->kid, sizeof k->kid, "%s", kids[i]);
		k->alg = i; /* KEY_RS256, KEY_ES256, KEY_HS256 */
		k->use = i == KEY_HS256 ? KEY_USE_REFRESH : KEY_USE_ACCESS;
		if (i != KEY_HS256)
			k->pkey = fuzz_keygen(i);
		else if (gh_random(k->secret, sizeof k->secret))
			fuzz_die("random");
		k->created_at = NOW - 86400;
		k->activate_at = NOW - 86400 + i;
		k->superseded_at = INT64_MAX;
	}
}

/* The foreign verifier's key lookup: the access keys by kid. */
static int lookup(void *ctx, const char *kid, EVP_PKEY **pkey, int *alg)
{
	(void)ctx;
	if (!strcmp(kid, "unavailable"))
		return GH_EUNAVAIL;
	const struct signing_key *k = keyset_find(&ks, kid, strlen(kid), KEY_USE_ACCESS);
	if (!k)
		return GH_EAUTH;
	if (!EVP_PKEY_up_ref(k->pkey))
		fuzz_die("up_ref");
	*pkey = k->pkey;
	*alg = k->alg == KEY_ES256 ? -1 : k->alg; /* a JWK may name no alg */
	return 0;
}

static char aud1[] = "gamebackend", aud2[] = "com.example.game";
static char *const audiences[] = { aud1, aud2, NULL };
static char rs[] = "RS256", es[] = "ES256";
static char *const algs[] = { rs, es, NULL };
static const struct foreign_rules rules = {
	.issuer = ISSUER, .audiences = audiences, .algs = algs, .subject_claim = "sub",
	.leeway = 30,
};

/* Proves the harness reaches the success paths: a fresh token must verify. */
static void self_check(void)
{
	char *tok = NULL;
	int64_t exp;
	struct access_claims ac;
	const char *why = NULL;
	if (token_issue_access(&tcfg, &ks, "0b0e7c4e-7f43-4c39-9d2a-3f3d4f0a1b2c", SCOPE_GUEST, 7,
			       NOW, &tok, &exp) ||
	    token_verify_access(&tcfg, &ks, tok, strlen(tok), NOW, &ac, &why) || ac.sid != 7)
		fuzz_die(why ? why : "access token");
	free(tok);
	struct refresh_claims rc = { .sub = "0b0e7c4e-7f43-4c39-9d2a-3f3d4f0a1b2c",
				     .access_scope = SCOPE_AUTHENTICATED, .sid = 7,
				     .exp = NOW + 3600 };
	struct refresh_claims out;
	if (token_new_jti(rc.jti) || token_issue_refresh(&tcfg, &ks, &rc, NOW, &tok) ||
	    token_verify_refresh(&tcfg, &ks, tok, strlen(tok), NOW, &out, &why))
		fuzz_die(why ? why : "refresh token");
	free(tok);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logs();
	make_keys();
	token_config_init(&tcfg, ISSUER, 900);
	self_check();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int mode = data[0] % 8;
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	char *tok;
	if (mode == 0 || mode == 7) {
		tok = xmalloc(n + 1); /* exactly the input, NUL-terminated as callers have it */
		memcpy(tok, in, n);
		tok[n] = '\0';
	} else if (mode <= 3) {
		struct signing_key *k = &keys[mode - 1];
		tok = fuzz_resign(k->alg, k->pkey, k->secret, in, n, &n);
	} else {
		struct signing_key *k = &keys[mode - 4];
		tok = fuzz_encode_sign(k->alg, k->pkey, k->secret, in, n, &n);
	}
	struct access_claims ac;
	struct refresh_claims rc;
	const char *why;
	char subject[256];
	token_verify_access(&tcfg, &ks, tok, n, NOW, &ac, &why);
	token_verify_refresh(&tcfg, &ks, tok, n, NOW, &rc, &why);
	token_verify_foreign(tok, n, &rules, lookup, NULL, NOW, subject, sizeof subject, &why);
	free(tok);
	return 0;
}
