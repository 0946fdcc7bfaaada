/*
 * fuzz_idtoken.c - the ID-token checks of Sign in with Apple and the
 * generic OIDC providers (platform/apple.c, platform/oidc.c): what
 * platform_verify_id_token runs, token_verify_foreign with each one's
 * rules, the keys coming the way the JWKS cache gets them (a key-set
 * document through jwkscache_set_parse). The document is made at start-up from
 * fresh keys: an RS256 key with alg, an ES256 key without alg.
 *
 * Input: one mode byte, then the token. Mode % 8: 0 and 7, the token as
 * given; 1 and 3 (RS256), 2 (ES256), the text up to its second '.' is
 * re-signed; 4 and 6 (RS256), 5 (ES256), the input is "header
 * JSON\npayload JSON", encoded and signed. Mode bit 3 (8): an OIDC
 * provider's rules (RS256 and ES256, an audience list, subject "sub"),
 * else Apple's. Seeds: 'a' 'd' Apple re-signed / JSON, 'i' 'j' 'l' 'm'
 * OIDC, 'g' 'o' as given.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gatehouse/jwkscache.h"
#include "gatehouse/keyring.h"
#include "gatehouse/token.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/encoding.h"
#include "fuzz_common.h"

#define NOW 1800000000LL

static EVP_PKEY *rs_key, *es_key;
static struct jwk_set set;

static json_t *b64_bn(const BIGNUM *bn, int pad)
{
	int n = pad ? pad : BN_num_bytes(bn);
	unsigned char buf[1024];
	char txt[1400];
	if (n > (int)sizeof buf || (pad ? BN_bn2binpad(bn, buf, n) : BN_bn2bin(bn, buf)) != n)
		fuzz_die("bignum");
	gh_b64url_encode(buf, (size_t)n, txt);
	return json_string(txt);
}

/* {"keys":[...]} with the public halves, as a provider publishes them. */
static char *public_jwks(void)
{
	BIGNUM *n = NULL, *e = NULL, *x = NULL, *y = NULL;
	if (!EVP_PKEY_get_bn_param(rs_key, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(rs_key, OSSL_PKEY_PARAM_RSA_E, &e) ||
	    !EVP_PKEY_get_bn_param(es_key, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
	    !EVP_PKEY_get_bn_param(es_key, OSSL_PKEY_PARAM_EC_PUB_Y, &y))
		fuzz_die("public key parameters");
	json_t *doc = json_pack("{s:[{s:s, s:s, s:s, s:s, s:o, s:o}, {s:s, s:s, s:s, s:o, s:o}]}",
				"keys", "kty", "RSA", "kid", "fuzz-apple-rs", "use", "sig", "alg",
				"RS256", "n", b64_bn(n, 0), "e", b64_bn(e, 0), "kty", "EC", "kid",
				"fuzz-oidc-es", "crv", "P-256", "x", b64_bn(x, 32), "y",
				b64_bn(y, 32));
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	if (!text)
		fuzz_die("jwks");
	json_decref(doc);
	BN_free(n);
	BN_free(e);
	BN_free(x);
	BN_free(y);
	return text;
}

/* The jwkscache_key contract over the parsed set. */
static int lookup(void *ctx, const char *kid, EVP_PKEY **pkey, int *alg)
{
	(void)ctx;
	if (!strcmp(kid, "unavailable"))
		return GH_EUNAVAIL;
	for (size_t i = 0; i < set.n; i++)
		if (!strcmp(set.keys[i].kid, kid)) {
			if (!EVP_PKEY_up_ref(set.keys[i].pkey))
				fuzz_die("up_ref");
			*pkey = set.keys[i].pkey;
			*alg = set.keys[i].alg;
			return 0;
		}
	return GH_EAUTH;
}

static char apple_aud1[] = "com.example.game", apple_aud2[] = "com.example.game.web";
static char *const apple_audiences[] = { apple_aud1, apple_aud2, NULL };
static char rs[] = "RS256", es[] = "ES256";
static char *const apple_algs[] = { rs, NULL };
static char *const oidc_algs[] = { rs, es, NULL };
static char oidc_aud1[] = "1234567890-example.apps.googleusercontent.com", oidc_aud2[] = "xyza";
static char *const oidc_audiences[] = { oidc_aud1, oidc_aud2, NULL };

/* As platform/apple.c and platform_verify_id_token set them (leeway: the default, 30 s). */
static const struct foreign_rules apple_rules = {
	.issuer = "https://appleid.apple.com", .audiences = apple_audiences,
	.algs = apple_algs, .subject_claim = "sub", .leeway = 30,
};
static const struct foreign_rules oidc_rules = {
	.issuer = "https://accounts.google.com", .audiences = oidc_audiences,
	.algs = oidc_algs, .subject_claim = "sub", .leeway = 30,
};

/* A token the harness signs must verify: proves the success path is reachable. */
static void self_check(void)
{
	static const char hdr[] = "{\"alg\":\"RS256\",\"kid\":\"fuzz-apple-rs\"}";
	static const char pl[] = "{\"iss\":\"https://appleid.apple.com\",\"aud\":"
				 "\"com.example.game\",\"exp\":1800000600,\"iat\":1800000000,"
				 "\"sub\":\"001234.abcdef0123456789.1234\"}";
	char h[128], p[512], in[700], subject[256];
	gh_b64url_encode(hdr, strlen(hdr), h);
	gh_b64url_encode(pl, strlen(pl), p);
	snprintf(in, sizeof in, "%s.%s", h, p);
	size_t n;
	char *tok = fuzz_resign(KEY_RS256, rs_key, NULL, in, strlen(in), &n);
	const char *why = NULL;
	if (token_verify_foreign(tok, n, &apple_rules, lookup, NULL, NOW, subject, sizeof subject,
				 &why))
		fuzz_die(why ? why : "apple token");
	free(tok);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logs();
	rs_key = fuzz_keygen(KEY_RS256);
	es_key = fuzz_keygen(KEY_ES256);
	char *jwks = public_jwks();
	if (jwkscache_set_parse(jwks, strlen(jwks), &set) || set.n != 2)
		fuzz_die("jwkscache_set_parse of the test keys");
	free(jwks);
	self_check();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int mode = data[0] % 8;
	const struct foreign_rules *rules = data[0] & 8 ? &oidc_rules : &apple_rules;
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	char *tok;
	int alg = mode == 2 || mode == 5 ? KEY_ES256 : KEY_RS256;
	EVP_PKEY *pk = alg == KEY_ES256 ? es_key : rs_key;
	if (mode == 0 || mode == 7) {
		tok = xmalloc(n + 1);
		memcpy(tok, in, n);
		tok[n] = '\0';
	} else if (mode <= 3) {
		tok = fuzz_resign(alg, pk, NULL, in, n, &n);
	} else {
		tok = fuzz_encode_sign(alg, pk, NULL, in, n, &n);
	}
	char subject[256];
	const char *why;
	if (token_verify_foreign(tok, n, rules, lookup, NULL, NOW, subject, sizeof subject,
				 &why) == 0 &&
	    (!subject[0] || strlen(subject) >= sizeof subject))
		__builtin_trap();
	free(tok);
	return 0;
}
