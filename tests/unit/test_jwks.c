/*
 * test_jwks.c - the keys and tokens of other issuers (Apple, OIDC
 * providers): JWK sets parsed into OpenSSL keys (what is kept, what is
 * skipped, what is not a key set at all), the per-URL key cache and its
 * policy (first use, TTL, unknown kid at most once per refetch interval,
 * failures that keep cached keys working and fail closed on new kids)
 * against a tiny HTTP server in this process, and token_verify_foreign
 * with ID tokens signed here by RS256 and ES256 keys, including the
 * attacks a verifier must refuse. Time is the `now` argument: no sleeps.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "gatehouse/httpc.h"
#include "gatehouse/jwkscache.h"
#include "gatehouse/keyring.h"
#include "gatehouse/log.h"
#include "gatehouse/token.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/encoding.h"
#include "harness.h"
#include "fixtures.h"

#define T0 1800000000LL
#define ISS "https://issuer.example.com"

/* ---- keys, made once ---- */

static EVP_PKEY *rsa_a, *rsa_b, *rsa_small, *ec_a, *ec_b, *ec_p384;

static EVP_PKEY *must(EVP_PKEY *pk, const char *what)
{
	if (!pk) {
		fprintf(stderr, "cannot generate %s\n", what);
		exit(2);
	}
	return pk;
}

static char *bn_param_b64(EVP_PKEY *pk, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	if (!EVP_PKEY_get_bn_param(pk, param, &bn)) {
		fprintf(stderr, "no %s\n", param);
		exit(2);
	}
	int n = pad ? pad : BN_num_bytes(bn);
	unsigned char *buf = xmalloc((size_t)n);
	BN_bn2binpad(bn, buf, n);
	char *s = fixture_b64(buf, (size_t)n);
	free(buf);
	BN_free(bn);
	return s;
}

/* An RSA JWK of pk; extra is appended inside the object (",\"alg\":\"RS256\""). */
static char *rsa_jwk(EVP_PKEY *pk, const char *kid, const char *extra)
{
	char *n = bn_param_b64(pk, OSSL_PKEY_PARAM_RSA_N, 0);
	char *e = bn_param_b64(pk, OSSL_PKEY_PARAM_RSA_E, 0);
	char *j = xasprintf("{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s}", kid, n,
			    e, extra);
	free(n);
	free(e);
	return j;
}

static char *ec_jwk(EVP_PKEY *pk, const char *kid, const char *extra)
{
	char *x = bn_param_b64(pk, OSSL_PKEY_PARAM_EC_PUB_X, 32);
	char *y = bn_param_b64(pk, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
	char *j = xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\",\"x\":\"%s\","
			    "\"y\":\"%s\"%s}", kid, x, y, extra);
	free(x);
	free(y);
	return j;
}

/* {"keys":[a, b, ...]} of n JWKs, which it frees. */
static char *key_set(int n, ...)
{
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "{\"keys\":[");
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		char *k = va_arg(ap, char *);
		sb_addf(&sb, "%s%s", i ? "," : "", k);
		free(k);
	}
	va_end(ap);
	sb_adds(&sb, "]}");
	return sb_detach(&sb, NULL);
}

/* jwkscache_set_parse of a C string. */
static int parse(const char *json, struct jwk_set *out)
{
	return jwkscache_set_parse(json, strlen(json), out);
}

/* ---- signing ---- */

enum sig_form { SIG_PLAIN, SIG_ES_RAW, SIG_ES_DER };

/* Signs input with SHA-256 by pk; ECDSA as raw r||s or DER. Returns the length. */
static size_t sign_input(EVP_PKEY *pk, const char *input, enum sig_form form,
			 unsigned char sig[1024])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char buf[1024];
	size_t n = sizeof buf;
	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk) != 1 ||
	    EVP_DigestSign(ctx, buf, &n, (const unsigned char *)input, strlen(input)) != 1) {
		fprintf(stderr, "signing failed\n");
		exit(2);
	}
	EVP_MD_CTX_free(ctx);
	if (form == SIG_ES_RAW) {
		const unsigned char *p = buf;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
		const BIGNUM *r, *s;
		ECDSA_SIG_get0(es, &r, &s);
		BN_bn2binpad(r, sig, 32);
		BN_bn2binpad(s, sig + 32, 32);
		ECDSA_SIG_free(es);
		return 64;
	}
	memcpy(sig, buf, n);
	return n;
}

/* A token of hdr and payload signed by pk (form as above). */
static char *make_token(const char *hdr, const char *payload, EVP_PKEY *pk, enum sig_form form)
{
	char *input = fixture_jws_input(hdr, payload);
	unsigned char sig[1024];
	size_t n = sign_input(pk, input, form, sig);
	char *t = fixture_jws_with_sig(input, sig, n);
	free(input);
	return t;
}

static char *hdr_of(const char *alg, const char *kid)
{
	return xasprintf("{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid);
}

/* A payload with iss, aud (JSON), sub, iat, exp and extra members. */
static char *claims(const char *iss, const char *aud_json, const char *sub, int64_t iat,
		    int64_t exp, const char *extra)
{
	return xasprintf("{\"iss\":\"%s\",\"aud\":%s,\"sub\":\"%s\",\"iat\":%lld,\"exp\":%lld%s}",
			 iss, aud_json, sub, (long long)iat, (long long)exp, extra);
}

static char *std_claims(void)
{
	return claims(ISS, "\"client-a\"", "user-123", T0 - 10, T0 + 600, "");
}

/* An RS256 token by rsa_a (kid rsa-a) of payload. */
static char *rs_token(const char *payload)
{
	char *h = hdr_of("RS256", "rsa-a");
	char *t = make_token(h, payload, rsa_a, SIG_PLAIN);
	free(h);
	return t;
}

static char *es_token(const char *payload)
{
	char *h = hdr_of("ES256", "ec-a");
	char *t = make_token(h, payload, ec_a, SIG_ES_RAW);
	free(h);
	return t;
}

/* ---- the key lookup given to token_verify_foreign ---- */

struct tab_key {
	const char *kid;
	EVP_PKEY *pk;
	int alg;
};

struct table {
	struct tab_key keys[8];
	int n;
	int force_rc;              /* non-zero: what every lookup answers */
	int calls;
};

static int table_lookup(void *ctx, const char *kid, EVP_PKEY **pkey, int *alg)
{
	struct table *t = ctx;
	t->calls++;
	if (t->force_rc)
		return t->force_rc;
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->keys[i].kid, kid)) {
			if (!EVP_PKEY_up_ref(t->keys[i].pk))
				return GH_EINTERNAL;
			*pkey = t->keys[i].pk;
			*alg = t->keys[i].alg;
			return 0;
		}
	return GH_EAUTH;
}

static void table_std(struct table *t)
{
	memset(t, 0, sizeof *t);
	t->keys[t->n++] = (struct tab_key){ "rsa-a", rsa_a, KEY_RS256 };
	t->keys[t->n++] = (struct tab_key){ "rsa-b", rsa_b, KEY_RS256 };
	t->keys[t->n++] = (struct tab_key){ "ec-a", ec_a, KEY_ES256 };
	t->keys[t->n++] = (struct tab_key){ "ec-b", ec_b, -1 };       /* the JWK names no alg */
	t->keys[t->n++] = (struct tab_key){ "rsa-noalg", rsa_a, -1 };
	t->keys[t->n++] = (struct tab_key){ "rsa-small", rsa_small, -1 };
	t->keys[t->n++] = (struct tab_key){ "ec-384", ec_p384, -1 };
}

static char *auds_std[] = { "client-a", "client-b", NULL };
static char *algs_both[] = { "RS256", "ES256", NULL };
static char *algs_rs[] = { "RS256", NULL };
static char *algs_es[] = { "ES256", NULL };

static struct foreign_rules rules_std(void)
{
	struct foreign_rules r = {
		.issuer = ISS, .audiences = auds_std, .algs = algs_both, .subject_claim = "sub",
		.leeway = 30,
	};
	return r;
}

static char subject_out[256];
static const char *why_out;

/* Verifies tok under r against t at now; the subject lands in subject_out. */
static int verify_with(const char *tok, const struct foreign_rules *r, struct table *t,
		       int64_t now)
{
	memset(subject_out, 0, sizeof subject_out);
	why_out = NULL;
	return token_verify_foreign(tok, strlen(tok), r, table_lookup, t, now, subject_out,
				    sizeof subject_out, &why_out);
}

/* Verifies with the standard rules and keys at T0. */
static int verify_std(const char *tok)
{
	struct table t;
	table_std(&t);
	struct foreign_rules r = rules_std();
	return verify_with(tok, &r, &t, T0);
}

/* Signs payload as RS256 by rsa-a and verifies it with the standard rules at now. */
static int verify_claims(const char *payload, int64_t now)
{
	char *tok = rs_token(payload);
	struct table t;
	table_std(&t);
	struct foreign_rules r = rules_std();
	int rc = verify_with(tok, &r, &t, now);
	free(tok);
	return rc;
}

/* ================= jwkscache_set_parse ================= */

/* True when pub verifies a signature that priv made. */
static bool same_key(EVP_PKEY *priv, EVP_PKEY *pub)
{
	const char *msg = "the quick brown fox";
	unsigned char sig[1024];
	size_t n = sign_input(priv, msg, SIG_PLAIN, sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
		  EVP_DigestVerify(ctx, sig, n, (const unsigned char *)msg, strlen(msg)) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

TEST(jwk_parse_rsa_and_ec)
{
	char *doc = key_set(4, rsa_jwk(rsa_a, "r1", ",\"alg\":\"RS256\",\"use\":\"sig\""),
			    ec_jwk(ec_a, "e1", ",\"alg\":\"ES256\""),
			    rsa_jwk(rsa_b, "r2", ",\"x5t\":\"abc\",\"key_ops\":[\"verify\"]"),
			    ec_jwk(ec_b, "e2", ",\"use\":\"sig\""));
	struct jwk_set set;
	CHECK_INT(parse(doc, &set), 0);
	CHECK_INT(set.n, 4);
	if (set.n == 4) {
		CHECK_STR(set.keys[0].kid, "r1");
		CHECK_INT(set.keys[0].alg, KEY_RS256);
		CHECK(EVP_PKEY_is_a(set.keys[0].pkey, "RSA"));
		CHECK_INT(EVP_PKEY_get_bits(set.keys[0].pkey), 2048);
		CHECK(same_key(rsa_a, set.keys[0].pkey));
		CHECK(!same_key(rsa_b, set.keys[0].pkey));
		CHECK_STR(set.keys[1].kid, "e1");
		CHECK_INT(set.keys[1].alg, KEY_ES256);
		CHECK(EVP_PKEY_is_a(set.keys[1].pkey, "EC"));
		CHECK(same_key(ec_a, set.keys[1].pkey));
		CHECK_STR(set.keys[2].kid, "r2");
		CHECK_INT(set.keys[2].alg, -1);          /* no alg named */
		CHECK(same_key(rsa_b, set.keys[2].pkey));
		CHECK_STR(set.keys[3].kid, "e2");
		CHECK_INT(set.keys[3].alg, -1);
		CHECK(same_key(ec_b, set.keys[3].pkey));
	}
	jwkscache_set_release(&set);
	CHECK_INT(set.n, 0);
	CHECK(set.keys == NULL);
	free(doc);
}

TEST(jwk_parse_empty_and_bounded_input)
{
	struct jwk_set set;
	CHECK_INT(parse("{\"keys\":[]}", &set), 0);
	CHECK_INT(set.n, 0);
	jwkscache_set_release(&set);

	/* Entries that are not objects are skipped, not fatal. */
	CHECK_INT(parse("{\"keys\":[1,\"x\",null,[],true]}", &set), 0);
	CHECK_INT(set.n, 0);
	jwkscache_set_release(&set);

	/* Only len bytes are read. */
	const char *buf = "{\"keys\":[]}{{{not json";
	CHECK_INT(jwkscache_set_parse(buf, 11, &set), 0);
	CHECK_INT(set.n, 0);
	jwkscache_set_release(&set);

	/* Other members beside "keys" do not matter. */
	char *doc = xasprintf("{\"issuer\":\"x\",\"keys\":[%s]}",
			      "{\"kty\":\"oct\",\"kid\":\"h\"}");
	CHECK_INT(parse(doc, &set), 0);
	CHECK_INT(set.n, 0);
	jwkscache_set_release(&set);
	free(doc);
}

TEST(jwk_parse_not_a_key_set)
{
	static const char *const docs[] = {
		"", "not json", "[]", "null", "42", "\"keys\"", "{}", "{\"keys\":{}}",
		"{\"keys\":\"x\"}", "{\"keys\":null}", "{\"key\":[]}", "{\"keys\":[]",
		"{\"keys\":[],\"keys\":[]}", /* duplicate members */
		"[{\"keys\":[]}]",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(docs); i++) {
		struct jwk_set set;
		int rc = parse(docs[i], &set);
		if (rc != GH_EINVAL)
			fprintf(stderr, "  doc %zu: %s -> %d\n", i, docs[i], rc);
		CHECK_INT(rc, GH_EINVAL);
		CHECK_INT(set.n, 0);
		jwkscache_set_release(&set); /* harmless after a failure */
	}
	/* Embedded NUL: not JSON text. */
	struct jwk_set set;
	CHECK_INT(jwkscache_set_parse("{\"keys\":[]}\0", 12, &set), GH_EINVAL);
	jwkscache_set_release(&set);
}

/* Parses a set of exactly one JWK (freed) and returns how many keys were kept. */
static size_t kept(char *jwk)
{
	char *doc = key_set(1, jwk);
	struct jwk_set set;
	size_t n = parse(doc, &set) == 0 ? set.n : 999;
	jwkscache_set_release(&set);
	free(doc);
	return n;
}

/* n bytes of b, base64url. */
static char *b64_bytes(int b, size_t n, int first)
{
	unsigned char *buf = xmalloc(n);
	memset(buf, b, n);
	buf[0] = (unsigned char)first;
	char *s = fixture_b64(buf, n);
	free(buf);
	return s;
}

TEST(jwk_parse_rsa_size_rules)
{
	/* 1024 bits: refused (RFC 7518 3.3 asks for 2048 or more). */
	CHECK_INT(kept(rsa_jwk(rsa_small, "small", "")), 0);
	CHECK_INT(kept(rsa_jwk(rsa_small, "small", ",\"alg\":\"RS256\"")), 0);

	/* 256 bytes but only 2041 significant bits: still below 2048. */
	char *n = b64_bytes(0xab, 256, 0x01);
	CHECK_INT(kept(xasprintf("{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"%s\",\"e\":\"AQAB\"}", n)),
		  0);
	free(n);

	/* A modulus longer than 8192 bits: refused. */
	n = b64_bytes(0xcd, 1025, 0xcd);
	CHECK_INT(kept(xasprintf("{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"%s\",\"e\":\"AQAB\"}", n)),
		  0);
	free(n);

	/* Exactly 2048 and 8192 bits: kept (a public modulus needs no factoring here). */
	n = b64_bytes(0xab, 256, 0xc1);
	CHECK_INT(kept(xasprintf("{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"%s\",\"e\":\"AQAB\"}", n)),
		  1);
	free(n);
	n = b64_bytes(0xab, 1024, 0xc1);
	CHECK_INT(kept(xasprintf("{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"%s\",\"e\":\"AQAB\"}", n)),
		  1);
	free(n);
}

TEST(jwk_parse_ec_rules)
{
	char *x = bn_param_b64(ec_a, OSSL_PKEY_PARAM_EC_PUB_X, 32);
	char *y = bn_param_b64(ec_a, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
	char *y2 = bn_param_b64(ec_b, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
	char *short31 = b64_bytes(0x11, 31, 0x11), *long33 = b64_bytes(0x11, 33, 0x00);
#define EC(crv, xx, yy)                                                      \
	xasprintf("{\"kty\":\"EC\",\"crv\":%s,\"kid\":\"e\",\"x\":\"%s\",\"y\":\"%s\"}", crv, \
		  xx, yy)
	CHECK_INT(kept(EC("\"P-256\"", x, y)), 1);
	CHECK_INT(kept(EC("\"P-384\"", x, y)), 0);
	CHECK_INT(kept(EC("\"secp256k1\"", x, y)), 0);
	CHECK_INT(kept(EC("null", x, y)), 0);
	CHECK_INT(kept(EC("\"P-256\"", short31, y)), 0);   /* padded, still off the curve */
	CHECK_INT(kept(EC("\"P-256\"", x, short31)), 0);
	CHECK_INT(kept(EC("\"P-256\"", long33, y)), 0);
	CHECK_INT(kept(EC("\"P-256\"", x, y2)), 0);        /* not a point of the curve */
	CHECK_INT(kept(EC("\"P-256\"", "", y)), 0);
#undef EC
	CHECK_INT(kept(xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e\","
				 "\"x\":\"%s\"}", x)),
		  0);
	/* A P-384 JWK (with junk coordinates): not a curve we take. */
	CHECK_INT(kept(xasprintf("{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"e\",\"x\":\"AA\","
				 "\"y\":\"AA\"}")),
		  0);
	free(x);
	free(y);
	free(y2);
	free(short31);
	free(long33);
}

/* A coordinate with a leading zero byte, written without it as PyJWT 2.6
 * does (one key in 128): kept, and the key is the same point. */
TEST(jwk_parse_ec_short_coordinate)
{
	EVP_PKEY *pk = NULL;
	for (int i = 0; i < 20000 && !pk; i++) {
		EVP_PKEY *k = must(EVP_EC_gen("P-256"), "ec");
		BIGNUM *bx = NULL;
		if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bx) && BN_num_bytes(bx) < 32)
			pk = k;
		else
			EVP_PKEY_free(k);
		BN_free(bx);
	}
	CHECK(pk != NULL);
	if (!pk)
		return;
	char *x = bn_param_b64(pk, OSSL_PKEY_PARAM_EC_PUB_X, 0);
	char *y = bn_param_b64(pk, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
	CHECK(strlen(x) < 43);
	char *doc = key_set(1, xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e\","
					 "\"x\":\"%s\",\"y\":\"%s\"}", x, y));
	struct jwk_set set;
	CHECK_INT(parse(doc, &set), 0);
	CHECK_INT(set.n, 1);
	if (set.n == 1)
		CHECK_INT(EVP_PKEY_eq(set.keys[0].pkey, pk), 1);
	jwkscache_set_release(&set);
	free(doc);
	free(x);
	free(y);
	EVP_PKEY_free(pk);
}

TEST(jwk_parse_kid_use_alg_kty_rules)
{
	/* kid is required. */
	CHECK_INT(kept(xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}")),
		  0);
	{
		char *j = rsa_jwk(rsa_a, "x", "");
		/* swap the kid for an empty one and for a number */
		char *empty = xasprintf("%.*s\"\"%s", (int)(strstr(j, "\"x\"") - j), j,
					strstr(j, "\"x\"") + 3);
		char *num = xasprintf("%.*s7%s", (int)(strstr(j, "\"x\"") - j), j,
				      strstr(j, "\"x\"") + 3);
		CHECK_INT(kept(empty), 0);
		CHECK_INT(kept(num), 0);
		free(j);
	}
	char *no_kid = rsa_jwk(rsa_a, "k", "");
	/* drop the "kid":"k", member */
	char *p = strstr(no_kid, "\"kid\":\"k\",");
	memmove(p, p + 10, strlen(p + 10) + 1);
	CHECK_INT(kept(no_kid), 0);

	/* use: only "sig" (or none). */
	CHECK_INT(kept(rsa_jwk(rsa_a, "k", ",\"use\":\"sig\"")), 1);
	CHECK_INT(kept(rsa_jwk(rsa_a, "k", ",\"use\":\"enc\"")), 0);
	CHECK_INT(kept(ec_jwk(ec_a, "k", ",\"use\":\"enc\"")), 0);
	CHECK_INT(kept(rsa_jwk(rsa_a, "k", ",\"use\":\"SIG\"")), 0);

	/* alg must fit the key type, and be one we verify. */
	CHECK_INT(kept(rsa_jwk(rsa_a, "k", ",\"alg\":\"RS256\"")), 1);
	CHECK_INT(kept(rsa_jwk(rsa_a, "k", ",\"alg\":\"ES256\"")), 0);
	CHECK_INT(kept(ec_jwk(ec_a, "k", ",\"alg\":\"ES256\"")), 1);
	CHECK_INT(kept(ec_jwk(ec_a, "k", ",\"alg\":\"RS256\"")), 0);
	CHECK_INT(kept(rsa_jwk(rsa_a, "k", ",\"alg\":\"RS512\"")), 0);
	CHECK_INT(kept(rsa_jwk(rsa_a, "k", ",\"alg\":\"PS256\"")), 0);
	CHECK_INT(kept(rsa_jwk(rsa_a, "k", ",\"alg\":\"HS256\"")), 0);
	CHECK_INT(kept(rsa_jwk(rsa_a, "k", ",\"alg\":\"none\"")), 0);
	CHECK_INT(kept(ec_jwk(ec_a, "k", ",\"alg\":\"ES384\"")), 0);
	CHECK_INT(kept(rsa_jwk(rsa_a, "k", ",\"alg\":\"rs256\"")), 0);

	/* kty: RSA or EC only. */
	CHECK_INT(kept(xasprintf("{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"}")), 0);
	CHECK_INT(kept(xasprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"o\","
				 "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}")),
		  0);
	char *rsa = rsa_jwk(rsa_a, "k", "");
	p = strstr(rsa, "\"RSA\"");
	memcpy(p, "\"rsa\"", 5);
	CHECK_INT(kept(rsa), 0);
}

TEST(jwk_parse_unparseable_keys_skipped)
{
	char *n = bn_param_b64(rsa_a, OSSL_PKEY_PARAM_RSA_N, 0);
	/* The same modulus in standard base64 ('+', '/' and padding) is not base64url. */
	char *std = xstrdup(n);
	for (char *c = std; *c; c++)
		*c = *c == '-' ? '+' : *c == '_' ? '/' : *c;
	bool changed = strcmp(std, n) != 0;
	char *padded = xasprintf("%s==", n);
#define RSA(nn, ee) xasprintf("{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":%s,\"e\":%s}", nn, ee)
	char *q = xasprintf("\"%s\"", n);
	CHECK_INT(kept(RSA(q, "\"AQAB\"")), 1);
	if (changed) {
		char *qs = xasprintf("\"%s\"", std);
		CHECK_INT(kept(RSA(qs, "\"AQAB\"")), 0);
		free(qs);
	}
	char *qp = xasprintf("\"%s\"", padded);
	CHECK_INT(kept(RSA(qp, "\"AQAB\"")), 0);
	CHECK_INT(kept(RSA(q, "65537")), 0);         /* e as a number */
	CHECK_INT(kept(RSA(q, "\"\"")), 0);
	CHECK_INT(kept(RSA(q, "\"AQ AB\"")), 0);
	CHECK_INT(kept(RSA("12345", "\"AQAB\"")), 0);
	CHECK_INT(kept(RSA("null", "\"AQAB\"")), 0);
	CHECK_INT(kept(xasprintf("{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":%s}", q)), 0);
	CHECK_INT(kept(xasprintf("{\"kty\":\"RSA\",\"kid\":\"k\",\"e\":\"AQAB\"}")), 0);
#undef RSA

	/* A set mixing good and bad keys keeps the good ones, in order. */
	char *doc = key_set(5, rsa_jwk(rsa_small, "bad-small", ""),
			    rsa_jwk(rsa_a, "good-1", ""),
			    xasprintf("{\"kty\":\"RSA\",\"kid\":\"bad-pad\",\"n\":%s,"
				      "\"e\":\"AQAB\"}", qp),
			    ec_jwk(ec_a, "bad-use", ",\"use\":\"enc\""),
			    ec_jwk(ec_a, "good-2", ""));
	struct jwk_set set;
	CHECK_INT(parse(doc, &set), 0);
	CHECK_INT(set.n, 2);
	if (set.n == 2) {
		CHECK_STR(set.keys[0].kid, "good-1");
		CHECK_STR(set.keys[1].kid, "good-2");
	}
	jwkscache_set_release(&set);
	free(doc);
	free(q);
	free(qp);
	free(n);
	free(std);
	free(padded);
}

TEST(jwk_parse_at_most_64_keys)
{
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "{\"keys\":[");
	for (int i = 0; i < 70; i++) {
		char kid[16];
		snprintf(kid, sizeof kid, "k%02d", i);
		char *j = ec_jwk(i % 2 ? ec_a : ec_b, kid, "");
		sb_addf(&sb, "%s%s", i ? "," : "", j);
		free(j);
	}
	sb_adds(&sb, "]}");
	struct jwk_set set;
	CHECK_INT(jwkscache_set_parse(sb.buf, sb.len, &set), 0);
	CHECK_INT(set.n, 64);
	if (set.n == 64) {
		CHECK_STR(set.keys[0].kid, "k00");
		CHECK_STR(set.keys[63].kid, "k63");
	}
	jwkscache_set_release(&set);
	sb_release(&sb);

	/* Skipped keys do not count against the limit. */
	sb_adds(&sb, "{\"keys\":[");
	for (int i = 0; i < 100; i++)
		sb_addf(&sb, "%s{\"kty\":\"oct\",\"kid\":\"s%d\",\"k\":\"AA\"}", i ? "," : "", i);
	char *j = ec_jwk(ec_a, "last", "");
	sb_addf(&sb, ",%s]}", j);
	free(j);
	CHECK_INT(jwkscache_set_parse(sb.buf, sb.len, &set), 0);
	CHECK_INT(set.n, 1);
	if (set.n == 1)
		CHECK_STR(set.keys[0].kid, "last");
	jwkscache_set_release(&set);
	sb_release(&sb);
}

/* ================= an HTTP server in this process ================= */

struct httpd {
	int fd, port;
	pthread_t thread;
	pthread_mutex_t lock;
	char *answer;              /* the raw response; NULL: close without answering */
	int requests;
	char last_path[128];
	bool quit;
};

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void *httpd_main(void *arg)
{
	struct httpd *h = arg;
	for (;;) {
		int c = accept(h->fd, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		pthread_mutex_lock(&h->lock);
		bool quit = h->quit;
		pthread_mutex_unlock(&h->lock);
		if (quit) {
			close(c);
			break;
		}
		/* The request head (a GET has no body). */
		char buf[4096];
		size_t n = 0;
		buf[0] = '\0';
		while (n < sizeof buf - 1 && !strstr(buf, "\r\n\r\n")) {
			ssize_t r = recv(c, buf + n, sizeof buf - 1 - n, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			n += (size_t)r;
			buf[n] = '\0';
		}
		pthread_mutex_lock(&h->lock);
		h->requests++;
		const char *sp = strchr(buf, ' ');
		snprintf(h->last_path, sizeof h->last_path, "%.*s",
			 sp ? (int)strcspn(sp + 1, " ") : 0, sp ? sp + 1 : "");
		char *answer = h->answer ? xstrdup(h->answer) : NULL;
		pthread_mutex_unlock(&h->lock);
		if (answer)
			write_all(c, answer, strlen(answer));
		free(answer);
		close(c);
	}
	return NULL;
}

static void httpd_start(struct httpd *h)
{
	memset(h, 0, sizeof *h);
	pthread_mutex_init(&h->lock, NULL);
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof a;
	if (h->fd < 0 || bind(h->fd, (struct sockaddr *)&a, sizeof a) ||
	    listen(h->fd, 64) || getsockname(h->fd, (struct sockaddr *)&a, &alen)) {
		perror("httpd");
		exit(2);
	}
	h->port = ntohs(a.sin_port);
	if (pthread_create(&h->thread, NULL, httpd_main, h)) {
		perror("pthread_create");
		exit(2);
	}
}

static void httpd_stop(struct httpd *h)
{
	pthread_mutex_lock(&h->lock);
	h->quit = true;
	pthread_mutex_unlock(&h->lock);
	/* Wake accept(). */
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)h->port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (c >= 0 && connect(c, (struct sockaddr *)&a, sizeof a) == 0)
		close(c);
	else if (c >= 0)
		close(c);
	pthread_join(h->thread, NULL);
	close(h->fd);
	free(h->answer);
	pthread_mutex_destroy(&h->lock);
}

/* From now on, answer status with body. */
static void httpd_answer(struct httpd *h, int status, const char *body)
{
	char *a = xasprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			    status, strlen(body), body);
	pthread_mutex_lock(&h->lock);
	free(h->answer);
	h->answer = a;
	pthread_mutex_unlock(&h->lock);
}

/* From now on, close each connection without a word. */
static void httpd_hang_up(struct httpd *h)
{
	pthread_mutex_lock(&h->lock);
	free(h->answer);
	h->answer = NULL;
	pthread_mutex_unlock(&h->lock);
}

/* The path of the latest request, into out. */
static const char *httpd_last_path(struct httpd *h, char out[128])
{
	pthread_mutex_lock(&h->lock);
	snprintf(out, 128, "%s", h->last_path);
	pthread_mutex_unlock(&h->lock);
	return out;
}

static int httpd_requests(struct httpd *h)
{
	pthread_mutex_lock(&h->lock);
	int n = h->requests;
	pthread_mutex_unlock(&h->lock);
	return n;
}

/* ================= jwkscache ================= */

static struct httpd srv;
static char *jwks_a, *jwks_b;    /* A: rsa-a (RS256), ec-a (ES256); B: rsa-b */

static const struct jwks_policy policy = { .ttl = 3600, .refetch_interval = 60 };
static const struct httpc_options http_opt = {
	.connect_timeout_ms = 5000, .timeout_ms = 20000, .max_response = 1 << 20,
};

static char *url_of(const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", srv.port, path);
}

/* jwkscache_key; on success checks the key is usable and drops the reference. */
static int key(struct jwkscache *c, const char *url, const char *kid, int64_t now, int *alg)
{
	EVP_PKEY *pk = NULL;
	int a = -7;
	int rc = jwkscache_key(c, url, kid, now, &policy, &http_opt, &pk, &a);
	if (rc == 0) {
		CHECK(pk != NULL);
		if (pk)
			CHECK(EVP_PKEY_get_bits(pk) >= 256);
		EVP_PKEY_free(pk);
		if (alg)
			*alg = a;
	}
	return rc;
}

TEST(cache_first_use_ttl_and_unknown_kid)
{
	httpd_answer(&srv, 200, jwks_a);
	int base = httpd_requests(&srv);
	struct jwkscache *c = jwkscache_new();
	char *url = url_of("/policy/jwks");
	char path[128];
	int alg = -9;

	/* First use fetches. */
	CHECK_INT(key(c, url, "rsa-a", T0, &alg), 0);
	CHECK_INT(alg, KEY_RS256);
	CHECK_INT(httpd_requests(&srv) - base, 1);
	CHECK_STR(httpd_last_path(&srv, path), "/policy/jwks");

	/* Within the TTL: from the cache. */
	CHECK_INT(key(c, url, "ec-a", T0 + 10, &alg), 0);
	CHECK_INT(alg, KEY_ES256);
	CHECK_INT(key(c, url, "rsa-a", T0 + 3599, NULL), 0);
	CHECK_INT(httpd_requests(&srv) - base, 1);

	/* TTL over: fetched again. */
	CHECK_INT(key(c, url, "rsa-a", T0 + 3600, NULL), 0);
	CHECK_INT(httpd_requests(&srv) - base, 2);
	CHECK_INT(key(c, url, "rsa-a", T0 + 3601, NULL), 0);
	CHECK_INT(httpd_requests(&srv) - base, 2);

	/* The provider rotates to set B. */
	httpd_answer(&srv, 200, jwks_b);
	int64_t t = T0 + 3600;
	/* An unknown kid within refetch_interval of the last fetch: no fetch, unknown. */
	CHECK_INT(key(c, url, "rsa-b", t + 1, NULL), GH_EAUTH);
	CHECK_INT(key(c, url, "rsa-b", t + 59, NULL), GH_EAUTH);
	CHECK_INT(httpd_requests(&srv) - base, 2);
	/* Once the interval has passed: one fetch, and the new key is there. */
	CHECK_INT(key(c, url, "rsa-b", t + 60, &alg), 0);
	CHECK_INT(alg, -1);
	CHECK_INT(httpd_requests(&srv) - base, 3);
	CHECK_INT(key(c, url, "rsa-b", t + 61, NULL), 0);
	CHECK_INT(httpd_requests(&srv) - base, 3);
	/* The old set is gone with it. */
	CHECK_INT(key(c, url, "rsa-a", t + 62, NULL), GH_EAUTH);
	CHECK_INT(httpd_requests(&srv) - base, 3);

	/* A flood of unknown kids: at most one fetch per refetch interval. */
	t += 60;
	for (int i = 1; i <= 120; i++) {
		char kid[32];
		snprintf(kid, sizeof kid, "random-%d", i);
		CHECK_INT(key(c, url, kid, t + i, NULL), GH_EAUTH);
	}
	CHECK_INT(httpd_requests(&srv) - base, 5); /* at t+60 and t+120 */
	jwkscache_free(c);
	free(url);
}

TEST(cache_separate_urls)
{
	httpd_answer(&srv, 200, jwks_a);
	int base = httpd_requests(&srv);
	struct jwkscache *c = jwkscache_new();
	char *u1 = url_of("/one"), *u2 = url_of("/two");
	char path[128];
	CHECK_INT(key(c, u1, "rsa-a", T0, NULL), 0);
	CHECK_INT(key(c, u2, "rsa-a", T0, NULL), 0);
	CHECK_STR(httpd_last_path(&srv, path), "/two");
	CHECK_INT(key(c, u1, "ec-a", T0 + 1, NULL), 0);
	CHECK_INT(key(c, u2, "ec-a", T0 + 1, NULL), 0);
	CHECK_INT(httpd_requests(&srv) - base, 2);
	/* An unknown kid on one URL refetches that URL only. */
	httpd_answer(&srv, 200, jwks_b);
	CHECK_INT(key(c, u1, "rsa-b", T0 + 100, NULL), 0);
	CHECK_INT(httpd_requests(&srv) - base, 3);
	CHECK_STR(httpd_last_path(&srv, path), "/one");
	CHECK_INT(key(c, u2, "rsa-a", T0 + 101, NULL), 0);
	CHECK_INT(httpd_requests(&srv) - base, 3);
	jwkscache_free(c);
	free(u1);
	free(u2);
}

/* The ways a fetch can fail, each switched on in turn. */
enum failure { FAIL_500, FAIL_NOT_JSON, FAIL_HANG_UP, FAIL_NOT_A_SET, FAIL_EMPTY_BODY };

static void set_failure(enum failure f)
{
	switch (f) {
	case FAIL_500:
		httpd_answer(&srv, 500, jwks_a); /* even with a key set in the body */
		break;
	case FAIL_NOT_JSON:
		httpd_answer(&srv, 200, "<html>maintenance</html>");
		break;
	case FAIL_HANG_UP:
		httpd_hang_up(&srv);
		break;
	case FAIL_NOT_A_SET:
		httpd_answer(&srv, 200, "{\"error\":\"rate limited\"}");
		break;
	case FAIL_EMPTY_BODY:
		httpd_answer(&srv, 200, "");
		break;
	}
}

TEST(cache_fetch_failures_keep_cached_keys)
{
	static const enum failure failures[] = { FAIL_500, FAIL_NOT_JSON, FAIL_HANG_UP,
						 FAIL_NOT_A_SET, FAIL_EMPTY_BODY };
	for (size_t i = 0; i < GH_ARRAY_SIZE(failures); i++) {
		httpd_answer(&srv, 200, jwks_a);
		struct jwkscache *c = jwkscache_new();
		char *url = url_of("/fail/jwks");
		int base = httpd_requests(&srv), failed_before = harness_checks_failed;
		CHECK_INT(key(c, url, "rsa-a", T0, NULL), 0);

		set_failure(failures[i]);
		/* The TTL is over and the refetch fails: the cached keys still work. */
		int alg = -9;
		CHECK_INT(key(c, url, "rsa-a", T0 + 3600, &alg), 0);
		CHECK_INT(alg, KEY_RS256);
		CHECK_INT(httpd_requests(&srv) - base, 2);
		CHECK_INT(key(c, url, "ec-a", T0 + 3600, NULL), 0);
		/* A kid never seen, while the set cannot be had: unavailable, not unknown. */
		CHECK_INT(key(c, url, "rsa-b", T0 + 3600, NULL), GH_EUNAVAIL);
		CHECK_INT(key(c, url, "rsa-b", T0 + 3600 + 60, NULL), GH_EUNAVAIL);
		CHECK_INT(key(c, url, "rsa-a", T0 + 3600 + 61, NULL), 0);

		/* The provider is back with a new set: the new kid works, the old is gone. */
		httpd_answer(&srv, 200, jwks_b);
		CHECK_INT(key(c, url, "rsa-b", T0 + 3600 + 200, NULL), 0);
		CHECK_INT(key(c, url, "rsa-a", T0 + 3600 + 201, NULL), GH_EAUTH);
		if (harness_checks_failed != failed_before)
			fprintf(stderr, "  (failure mode %zu)\n", i);
		jwkscache_free(c);
		free(url);
	}
}

TEST(cache_first_fetch_fails)
{
	set_failure(FAIL_500);
	struct jwkscache *c = jwkscache_new();
	char *url = url_of("/down/jwks");
	int base = httpd_requests(&srv);
	CHECK_INT(key(c, url, "rsa-a", T0, NULL), GH_EUNAVAIL);
	CHECK_INT(httpd_requests(&srv) - base, 1);
	CHECK_INT(key(c, url, "anything", T0, NULL), GH_EUNAVAIL);
	CHECK_INT(httpd_requests(&srv) - base, 1); /* not again at the same instant */

	set_failure(FAIL_HANG_UP);
	CHECK_INT(key(c, url, "rsa-a", T0 + 60, NULL), GH_EUNAVAIL);

	/* Up again: by the next refetch interval the keys are there. */
	httpd_answer(&srv, 200, jwks_a);
	CHECK_INT(key(c, url, "rsa-a", T0 + 120, NULL), 0);
	CHECK_INT(key(c, url, "nope", T0 + 121, NULL), GH_EAUTH); /* fetched fine: unknown */
	jwkscache_free(c);
	free(url);
}

TEST(cache_outage_does_not_fetch_every_second)
{
	/*
	 * After the TTL, with the provider down, logins keep coming every
	 * second with the cached kid and with unknown kids. A failed set is
	 * tried again at most once per refetch interval: not a fetch per
	 * second of traffic, each holding the set's lock for up to
	 * provider_timeout.
	 */
	httpd_answer(&srv, 200, jwks_a);
	struct jwkscache *c = jwkscache_new();
	char *url = url_of("/outage/jwks");
	CHECK_INT(key(c, url, "rsa-a", T0, NULL), 0);
	set_failure(FAIL_HANG_UP);
	int base = httpd_requests(&srv);
	for (int i = 0; i < 60; i++) {
		CHECK_INT(key(c, url, "rsa-a", T0 + 3600 + i, NULL), 0);
		char kid[32];
		snprintf(kid, sizeof kid, "new-%d", i);
		CHECK_INT(key(c, url, kid, T0 + 3600 + i, NULL), GH_EUNAVAIL);
	}
	int fetches = httpd_requests(&srv) - base;
	if (fetches != 1)
		fprintf(stderr, "  %d fetches in 60 s of outage (refetch_interval 60 s)\n",
			fetches);
	CHECK_INT(fetches, 1);

	/* One refetch interval after the failure, the set is tried again. */
	httpd_answer(&srv, 200, jwks_b);
	CHECK_INT(key(c, url, "rsa-b", T0 + 3660, NULL), 0);
	CHECK_INT(httpd_requests(&srv) - base, 2);
	CHECK_INT(key(c, url, "rsa-b", T0 + 3661, NULL), 0);
	CHECK_INT(httpd_requests(&srv) - base, 2);

	/* Never loaded and down: the first fetch, then once per interval. */
	set_failure(FAIL_500);
	char *url2 = url_of("/outage2/jwks");
	base = httpd_requests(&srv);
	for (int i = 0; i < 120; i++)
		CHECK_INT(key(c, url2, "rsa-a", T0 + i, NULL), GH_EUNAVAIL);
	CHECK_INT(httpd_requests(&srv) - base, 2); /* at T0 and T0+60 */
	jwkscache_free(c);
	free(url);
	free(url2);
}

TEST(cache_key_outlives_the_set)
{
	httpd_answer(&srv, 200, jwks_a);
	struct jwkscache *c = jwkscache_new();
	char *url = url_of("/ref/jwks");
	EVP_PKEY *pk = NULL;
	int alg = -9;
	CHECK_INT(jwkscache_key(c, url, "rsa-a", T0, &policy, &http_opt, &pk, &alg), 0);
	/* The set is replaced, then the whole cache freed: the reference stays good. */
	httpd_answer(&srv, 200, jwks_b);
	CHECK_INT(key(c, url, "rsa-b", T0 + 3600, NULL), 0);
	jwkscache_free(c);
	CHECK(pk != NULL);
	if (pk) {
		CHECK_INT(EVP_PKEY_get_bits(pk), 2048);
		CHECK(same_key(rsa_a, pk));
	}
	EVP_PKEY_free(pk);
	free(url);
}

/* Several threads asking for a key of a set not yet fetched, at one instant. */
enum { ASKERS = 8 };

struct asker {
	struct jwkscache *c;
	const char *url;
	pthread_barrier_t *start;
	int rc;
};

static void *ask_main(void *arg)
{
	struct asker *a = arg;
	pthread_barrier_wait(a->start);
	EVP_PKEY *pk = NULL;
	int alg;
	a->rc = jwkscache_key(a->c, a->url, "ec-a", T0, &policy, &http_opt, &pk, &alg);
	EVP_PKEY_free(pk);
	return NULL; /* the thread's libcurl handle is freed as it ends */
}

TEST(cache_concurrent_first_use_fetches_once)
{
	httpd_answer(&srv, 200, jwks_a);
	struct jwkscache *c = jwkscache_new();
	char *url = url_of("/concurrent/jwks");
	int base = httpd_requests(&srv);
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, ASKERS);
	struct asker a[ASKERS];
	pthread_t th[ASKERS];
	for (int i = 0; i < ASKERS; i++) {
		a[i] = (struct asker){ c, url, &start, -99 };
		CHECK_INT(pthread_create(&th[i], NULL, ask_main, &a[i]), 0);
	}
	int ok = 0;
	for (int i = 0; i < ASKERS; i++) {
		pthread_join(th[i], NULL);
		ok += a[i].rc == 0;
	}
	CHECK_INT(ok, ASKERS);
	CHECK_INT(httpd_requests(&srv) - base, 1);
	pthread_barrier_destroy(&start);
	jwkscache_free(c);
	free(url);
}

/* ================= token_verify_foreign ================= */

TEST(foreign_valid_tokens)
{
	char *pl = std_claims();
	char *rs = rs_token(pl), *es = es_token(pl);
	CHECK_INT(verify_std(rs), 0);
	CHECK_STR(subject_out, "user-123");
	CHECK(why_out == NULL);
	CHECK_INT(verify_std(es), 0);
	CHECK_STR(subject_out, "user-123");

	/* A JWK that names no alg fits either algorithm of its type. */
	char *h = hdr_of("RS256", "rsa-noalg");
	char *t = make_token(h, pl, rsa_a, SIG_PLAIN);
	CHECK_INT(verify_std(t), 0);
	free(h);
	free(t);
	h = hdr_of("ES256", "ec-b");
	t = make_token(h, pl, ec_b, SIG_ES_RAW);
	CHECK_INT(verify_std(t), 0);
	free(h);
	free(t);

	/* A header without typ, with extra members, is fine. */
	t = make_token("{\"kid\":\"rsa-a\",\"alg\":\"RS256\",\"x5t\":\"zz\"}", pl, rsa_a,
		       SIG_PLAIN);
	CHECK_INT(verify_std(t), 0);
	free(t);

	/* A NULL why is allowed. */
	struct table tab;
	table_std(&tab);
	struct foreign_rules r = rules_std();
	char sub[64];
	CHECK_INT(token_verify_foreign(rs, strlen(rs), &r, table_lookup, &tab, T0, sub, sizeof sub,
				       NULL),
		  0);
	CHECK_STR(sub, "user-123");
	free(rs);
	free(es);
	free(pl);
}

TEST(foreign_issuer_exact)
{
	static const char *const bad[] = {
		ISS "/", "https://ISSUER.example.com", "HTTPS://issuer.example.com",
		"https://issuer.example.com.evil", "http://issuer.example.com",
		"https://issuer.example.co", "",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		char *pl = claims(bad[i], "\"client-a\"", "u", T0, T0 + 600, "");
		CHECK_INT(verify_claims(pl, T0), GH_EAUTH);
		free(pl);
	}
	/* iss missing or not a string. */
	char *pl = xasprintf("{\"aud\":\"client-a\",\"sub\":\"u\",\"exp\":%lld}",
			     (long long)T0 + 600);
	CHECK_INT(verify_claims(pl, T0), GH_EAUTH);
	free(pl);
	pl = xasprintf("{\"iss\":[\"" ISS "\"],\"aud\":\"client-a\",\"sub\":\"u\",\"exp\":%lld}",
		       (long long)T0 + 600);
	CHECK_INT(verify_claims(pl, T0), GH_EAUTH);
	free(pl);
	/* A trailing slash in the rules does not match a token without one. */
	pl = std_claims();
	char *tok = rs_token(pl);
	struct table t;
	table_std(&t);
	struct foreign_rules r = rules_std();
	r.issuer = ISS "/";
	CHECK_INT(verify_with(tok, &r, &t, T0), GH_EAUTH);
	free(tok);
	free(pl);
}

TEST(foreign_audience)
{
	static const char *const good[] = {
		"\"client-a\"", "\"client-b\"", "[\"client-b\"]", "[\"other\",\"client-a\"]",
		"[\"client-a\",\"client-b\"]", "[1,\"client-b\"]",
	};
	static const char *const bad[] = {
		"\"other\"", "\"Client-A\"", "\"client-a \"", "\"client\"", "[\"x\",\"y\"]", "[]",
		"null", "42", "{\"client-a\":true}", "[[\"client-a\"]]", "\"\"",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(good); i++) {
		char *pl = claims(ISS, good[i], "u", T0, T0 + 600, "");
		int rc = verify_claims(pl, T0);
		if (rc)
			fprintf(stderr, "  aud %s refused\n", good[i]);
		CHECK_INT(rc, 0);
		free(pl);
	}
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		char *pl = claims(ISS, bad[i], "u", T0, T0 + 600, "");
		int rc = verify_claims(pl, T0);
		if (rc != GH_EAUTH)
			fprintf(stderr, "  aud %s accepted\n", bad[i]);
		CHECK_INT(rc, GH_EAUTH);
		free(pl);
	}
	/* No aud at all. */
	char *pl = xasprintf("{\"iss\":\"" ISS "\",\"sub\":\"u\",\"exp\":%lld}",
			     (long long)T0 + 600);
	CHECK_INT(verify_claims(pl, T0), GH_EAUTH);
	free(pl);
	/* An empty allowed list allows nothing. */
	pl = std_claims();
	char *tok = rs_token(pl);
	struct table t;
	table_std(&t);
	struct foreign_rules r = rules_std();
	char *none[] = { NULL };
	r.audiences = none;
	CHECK_INT(verify_with(tok, &r, &t, T0), GH_EAUTH);
	free(tok);
	free(pl);
}

TEST(foreign_algorithms)
{
	char *pl = std_claims();
	char *rs = rs_token(pl), *es = es_token(pl);
	struct table t;
	table_std(&t);
	struct foreign_rules r = rules_std();

	/* Not among the provider's algs. */
	r.algs = algs_es;
	CHECK_INT(verify_with(rs, &r, &t, T0), GH_EAUTH);
	CHECK_INT(verify_with(es, &r, &t, T0), 0);
	r.algs = algs_rs;
	CHECK_INT(verify_with(es, &r, &t, T0), GH_EAUTH);
	CHECK_INT(verify_with(rs, &r, &t, T0), 0);
	char *no_algs[] = { NULL };
	r.algs = no_algs;
	CHECK_INT(verify_with(rs, &r, &t, T0), GH_EAUTH);
	/* Configured, but not an algorithm the verifier knows. */
	char *hs[] = { "HS256", "RS256", NULL };
	r.algs = hs;
	char *h = hdr_of("HS256", "rsa-a");
	char *input = fixture_jws_input(h, pl);
	unsigned char mac[32];
	memset(mac, 0x42, sizeof mac);
	char *t_hs = fixture_jws_with_sig(input, mac, sizeof mac);
	CHECK_INT(verify_with(t_hs, &r, &t, T0), GH_EAUTH);
	free(h);
	free(input);
	free(t_hs);
	r.algs = algs_both;

	/* The header's alg spelled otherwise. */
	static const char *const algs[] = { "rs256", "RS384", "RS512", "PS256", "ES384",
					    "EdDSA", "" };
	for (size_t i = 0; i < GH_ARRAY_SIZE(algs); i++) {
		h = hdr_of(algs[i], "rsa-a");
		char *tok = make_token(h, pl, rsa_a, SIG_PLAIN);
		CHECK_INT(verify_with(tok, &r, &t, T0), GH_EAUTH);
		free(h);
		free(tok);
	}
	free(rs);
	free(es);
	free(pl);
}

TEST(foreign_alg_must_match_the_jwk)
{
	char *pl = std_claims();
	struct table t;
	table_std(&t);
	struct foreign_rules r = rules_std();

	/* The JWK says ES256; the header says RS256 (and the RSA signature is good). */
	t.keys[0].alg = KEY_ES256;
	char *rs = rs_token(pl);
	CHECK_INT(verify_with(rs, &r, &t, T0), GH_EAUTH);
	t.keys[0].alg = KEY_RS256;
	CHECK_INT(verify_with(rs, &r, &t, T0), 0);

	/* The JWK says RS256 of an EC key, the header ES256. */
	t.keys[2].alg = KEY_RS256;
	char *es = es_token(pl);
	CHECK_INT(verify_with(es, &r, &t, T0), GH_EAUTH);
	t.keys[2].alg = KEY_HS256;
	CHECK_INT(verify_with(es, &r, &t, T0), GH_EAUTH);
	free(rs);
	free(es);
	free(pl);
}

TEST(foreign_key_type_must_fit)
{
	char *pl = std_claims();
	/* ES256 header, kid of an RSA key that names no alg; signed by the EC key. */
	char *h = hdr_of("ES256", "rsa-noalg");
	char *tok = make_token(h, pl, ec_a, SIG_ES_RAW);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(h);
	free(tok);
	/* ... and signed (RSA) by that key, in case anything tried it. */
	h = hdr_of("ES256", "rsa-noalg");
	tok = make_token(h, pl, rsa_a, SIG_PLAIN);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(h);
	free(tok);
	/* RS256 header, kid of an EC key. */
	h = hdr_of("RS256", "ec-b");
	tok = make_token(h, pl, ec_b, SIG_PLAIN);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(h);
	free(tok);
	/* ES256 with a P-384 key. */
	h = hdr_of("ES256", "ec-384");
	tok = make_token(h, pl, ec_p384, SIG_PLAIN);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(h);
	free(tok);
	/* RS256 by an RSA key of 1024 bits, correctly signed. */
	h = hdr_of("RS256", "rsa-small");
	tok = make_token(h, pl, rsa_small, SIG_PLAIN);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(h);
	free(tok);
	free(pl);
}

TEST(foreign_time_claims)
{
	/* leeway 30 s */
	char *pl = claims(ISS, "\"client-a\"", "u", T0 - 100, T0 - 31, "");
	CHECK_INT(verify_claims(pl, T0), GH_EAUTH);      /* expired beyond the leeway */
	free(pl);
	pl = claims(ISS, "\"client-a\"", "u", T0 - 100, T0 - 30, "");
	CHECK_INT(verify_claims(pl, T0), GH_EAUTH);      /* now == exp + leeway: expired */
	free(pl);
	pl = claims(ISS, "\"client-a\"", "u", T0 - 100, T0 - 29, "");
	CHECK_INT(verify_claims(pl, T0), 0);             /* within the leeway */
	free(pl);
	pl = claims(ISS, "\"client-a\"", "u", T0 - 100, T0 - 1, "");
	CHECK_INT(verify_claims(pl, T0), 0);
	free(pl);

	/* exp is required, and a number. */
	pl = xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"client-a\",\"sub\":\"u\",\"iat\":%lld}",
		       (long long)T0);
	CHECK_INT(verify_claims(pl, T0), GH_EAUTH);
	free(pl);
	pl = xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"client-a\",\"sub\":\"u\","
		       "\"exp\":\"%lld\"}", (long long)T0 + 600);
	CHECK_INT(verify_claims(pl, T0), GH_EAUTH);
	free(pl);
	pl = xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"client-a\",\"sub\":\"u\",\"exp\":null}");
	CHECK_INT(verify_claims(pl, T0), GH_EAUTH);
	free(pl);

	/* nbf and iat in the future. */
	char extra[64];
	snprintf(extra, sizeof extra, ",\"nbf\":%lld", (long long)T0 + 31);
	pl = claims(ISS, "\"client-a\"", "u", T0, T0 + 600, extra);
	CHECK_INT(verify_claims(pl, T0), GH_EAUTH);
	free(pl);
	snprintf(extra, sizeof extra, ",\"nbf\":%lld", (long long)T0 + 30);
	pl = claims(ISS, "\"client-a\"", "u", T0, T0 + 600, extra);
	CHECK_INT(verify_claims(pl, T0), 0);
	free(pl);
	pl = claims(ISS, "\"client-a\"", "u", T0, T0 + 600, ",\"nbf\":\"soon\"");
	CHECK_INT(verify_claims(pl, T0), GH_EAUTH);
	free(pl);
	pl = claims(ISS, "\"client-a\"", "u", T0 + 31, T0 + 600, "");
	CHECK_INT(verify_claims(pl, T0), GH_EAUTH);      /* iat beyond the leeway */
	free(pl);
	pl = claims(ISS, "\"client-a\"", "u", T0 + 29, T0 + 600, "");
	CHECK_INT(verify_claims(pl, T0), 0);             /* iat within the leeway */
	free(pl);

	/* nbf and iat are optional. */
	pl = xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"client-a\",\"sub\":\"u\",\"exp\":%lld}",
		       (long long)T0 + 600);
	CHECK_INT(verify_claims(pl, T0), 0);
	free(pl);

	/* Leeway 0: exp must be in the future. */
	pl = claims(ISS, "\"client-a\"", "u", T0 - 100, T0, "");
	char *tok = rs_token(pl);
	struct table t;
	table_std(&t);
	struct foreign_rules r = rules_std();
	r.leeway = 0;
	CHECK_INT(verify_with(tok, &r, &t, T0), GH_EAUTH);
	CHECK_INT(verify_with(tok, &r, &t, T0 - 1), 0);
	free(tok);
	free(pl);
}

TEST(foreign_subject_claim)
{
	struct table t;
	table_std(&t);
	struct foreign_rules r = rules_std();
	r.subject_claim = "account_id";

	/* A custom claim is copied, not sub. */
	char *pl = claims(ISS, "\"client-a\"", "the-sub", T0, T0 + 600,
			  ",\"account_id\":\"epic-42\"");
	char *tok = rs_token(pl);
	CHECK_INT(verify_with(tok, &r, &t, T0), 0);
	CHECK_STR(subject_out, "epic-42");
	free(tok);
	free(pl);

	/* Missing (only sub present), empty, or not a string. */
	static const char *const bad[] = {
		"", ",\"account_id\":\"\"", ",\"account_id\":42", ",\"account_id\":null",
		",\"account_id\":[\"a\"]", ",\"account_id\":{\"id\":\"a\"}",
		",\"account_id\":true",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		pl = claims(ISS, "\"client-a\"", "the-sub", T0, T0 + 600, bad[i]);
		tok = rs_token(pl);
		CHECK_INT(verify_with(tok, &r, &t, T0), GH_EAUTH);
		free(tok);
		free(pl);
	}

	/* The subject must fit the buffer with its NUL. */
	r.subject_claim = "sub";
	char small[16];
	pl = claims(ISS, "\"client-a\"", "123456789012345", T0, T0 + 600, ""); /* 15 */
	tok = rs_token(pl);
	memset(small, 'x', sizeof small);
	CHECK_INT(token_verify_foreign(tok, strlen(tok), &r, table_lookup, &t, T0, small,
				       sizeof small, NULL),
		  0);
	CHECK_STR(small, "123456789012345");
	free(tok);
	free(pl);
	pl = claims(ISS, "\"client-a\"", "1234567890123456", T0, T0 + 600, ""); /* 16 */
	tok = rs_token(pl);
	CHECK_INT(token_verify_foreign(tok, strlen(tok), &r, table_lookup, &t, T0, small,
				       sizeof small, NULL),
		  GH_EAUTH);
	free(tok);
	free(pl);
	/* A sub that is not a string. */
	pl = xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"client-a\",\"sub\":12345,\"exp\":%lld}",
		       (long long)T0 + 600);
	tok = rs_token(pl);
	CHECK_INT(verify_with(tok, &r, &t, T0), GH_EAUTH);
	free(tok);
	free(pl);
	/* Non-ASCII UTF-8 subjects are kept byte for byte. */
	pl = claims(ISS, "\"client-a\"", "j\\u00f6rg", T0, T0 + 600, "");
	tok = rs_token(pl);
	CHECK_INT(verify_with(tok, &r, &t, T0), 0);
	CHECK_STR(subject_out, "j\xc3\xb6rg");
	free(tok);
	free(pl);
}

TEST(foreign_lookup_failures)
{
	char *pl = std_claims();
	char *rs = rs_token(pl);
	struct table t;
	table_std(&t);
	struct foreign_rules r = rules_std();
	t.force_rc = GH_EUNAVAIL;
	CHECK_INT(verify_with(rs, &r, &t, T0), GH_EUNAVAIL);
	CHECK(t.calls == 1);
	t.force_rc = GH_EAUTH;
	CHECK_INT(verify_with(rs, &r, &t, T0), GH_EAUTH);
	t.force_rc = 0;

	/* An unknown kid. */
	char *h = hdr_of("RS256", "no-such-kid");
	char *tok = make_token(h, pl, rsa_a, SIG_PLAIN);
	CHECK_INT(verify_with(tok, &r, &t, T0), GH_EAUTH);
	free(h);
	free(tok);

	/* No kid, or one that is not a string. */
	tok = make_token("{\"alg\":\"RS256\"}", pl, rsa_a, SIG_PLAIN);
	CHECK_INT(verify_with(tok, &r, &t, T0), GH_EAUTH);
	free(tok);
	tok = make_token("{\"alg\":\"RS256\",\"kid\":7}", pl, rsa_a, SIG_PLAIN);
	CHECK_INT(verify_with(tok, &r, &t, T0), GH_EAUTH);
	free(tok);
	free(rs);
	free(pl);
}

TEST(foreign_attack_alg_none)
{
	char *pl = std_claims();
	static const char *const hdrs[] = { "{\"alg\":\"none\",\"kid\":\"rsa-a\"}",
					    "{\"alg\":\"None\",\"kid\":\"rsa-a\"}",
					    "{\"alg\":\"none\"}", "{\"kid\":\"rsa-a\"}" };
	for (size_t i = 0; i < GH_ARRAY_SIZE(hdrs); i++) {
		char *input = fixture_jws_input(hdrs[i], pl);
		char *unsigned_tok = xasprintf("%s.", input);
		CHECK_INT(verify_std(unsigned_tok), GH_EAUTH);
		/* With a real RS256 signature by the key too. */
		unsigned char sig[1024];
		size_t n = sign_input(rsa_a, input, SIG_PLAIN, sig);
		char *signed_tok = fixture_jws_with_sig(input, sig, n);
		CHECK_INT(verify_std(signed_tok), GH_EAUTH);
		free(input);
		free(unsigned_tok);
		free(signed_tok);
	}
	/* Even when an operator listed "none". */
	struct table t;
	table_std(&t);
	struct foreign_rules r = rules_std();
	char *with_none[] = { "none", "RS256", NULL };
	r.algs = with_none;
	char *input = fixture_jws_input("{\"alg\":\"none\",\"kid\":\"rsa-a\"}", pl);
	char *tok = xasprintf("%s.", input);
	CHECK_INT(verify_with(tok, &r, &t, T0), GH_EAUTH);
	free(input);
	free(tok);
	free(pl);
}

TEST(foreign_attack_tampering)
{
	char *pl = std_claims();
	char *rs = rs_token(pl), *es = es_token(pl);
	char *evil = claims(ISS, "\"client-a\"", "admin", T0 - 10, T0 + 600, "");
	char *evil_b64 = fixture_b64(evil, strlen(evil));
	const char *toks[] = { rs, es };
	for (size_t i = 0; i < 2; i++) {
		/* Payload swapped, signature kept. */
		const char *d1 = strchr(toks[i], '.'), *d2 = strrchr(toks[i], '.');
		char *swapped = xasprintf("%.*s.%s%s", (int)(d1 - toks[i]), toks[i], evil_b64, d2);
		CHECK_INT(verify_std(swapped), GH_EAUTH);
		free(swapped);
		/* One character of each part changed. */
		size_t len = strlen(toks[i]);
		size_t spots[] = { 5, (size_t)(d1 - toks[i]) + 5, (size_t)(d2 - toks[i]) + 5,
				   len - 2 };
		for (size_t k = 0; k < GH_ARRAY_SIZE(spots); k++) {
			char *m = xstrdup(toks[i]);
			m[spots[k]] = m[spots[k]] == 'A' ? 'B' : 'A';
			CHECK_INT(verify_std(m), GH_EAUTH);
			free(m);
		}
		/* Signature dropped, truncated, or doubled. */
		char *nosig = xasprintf("%.*s.", (int)(d2 - toks[i]), toks[i]);
		CHECK_INT(verify_std(nosig), GH_EAUTH);
		free(nosig);
		char *trunc = xstrndup(toks[i], len - 4);
		CHECK_INT(verify_std(trunc), GH_EAUTH);
		free(trunc);
		char *dbl = xasprintf("%s%s", toks[i], d2 + 1);
		CHECK_INT(verify_std(dbl), GH_EAUTH);
		free(dbl);
	}
	/* The header's kid pointed at another key of the same type. */
	char *h = hdr_of("RS256", "rsa-b");
	char *tok = make_token(h, pl, rsa_a, SIG_PLAIN);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(h);
	free(tok);
	/* Structure. */
	static const char *const junk[] = { "", ".", "..", "a.b", "a.b.c.d", "...", "x.y.z" };
	for (size_t i = 0; i < GH_ARRAY_SIZE(junk); i++)
		CHECK_INT(verify_std(junk[i]), GH_EAUTH);
	/* Four segments: a valid token with a dot and more after it. */
	char *four = xasprintf("%s.AAAA", rs);
	CHECK_INT(verify_std(four), GH_EAUTH);
	free(four);
	/* Over TOKEN_MAX_LEN, padded with a huge claim: refused unread. */
	char *pad = xmalloc(TOKEN_MAX_LEN + 1);
	memset(pad, 'p', TOKEN_MAX_LEN);
	pad[TOKEN_MAX_LEN] = '\0';
	char *extra = xasprintf(",\"pad\":\"%s\"", pad);
	char *big_pl = claims(ISS, "\"client-a\"", "u", T0, T0 + 600, extra);
	char *big = rs_token(big_pl);
	struct table t;
	table_std(&t);
	struct foreign_rules r = rules_std();
	CHECK_INT(verify_with(big, &r, &t, T0), GH_EAUTH);
	CHECK_INT(t.calls, 0);
	free(pad);
	free(extra);
	free(big_pl);
	free(big);
	free(rs);
	free(es);
	free(evil);
	free(evil_b64);
	free(pl);
}

TEST(foreign_attack_crit_and_duplicates)
{
	char *pl = std_claims();
	char *tok = make_token("{\"alg\":\"RS256\",\"kid\":\"rsa-a\",\"crit\":[\"exp\"]}", pl,
			       rsa_a, SIG_PLAIN);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);
	tok = make_token("{\"alg\":\"RS256\",\"kid\":\"rsa-a\",\"crit\":[]}", pl, rsa_a,
			 SIG_PLAIN);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);

	/* Duplicate header members (a verifier and a parser could disagree). */
	tok = make_token("{\"alg\":\"RS256\",\"kid\":\"rsa-a\",\"alg\":\"RS256\"}", pl, rsa_a,
			 SIG_PLAIN);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);
	tok = make_token("{\"alg\":\"RS256\",\"kid\":\"rsa-b\",\"kid\":\"rsa-a\"}", pl, rsa_a,
			 SIG_PLAIN);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);

	/* Duplicate claims, correctly signed ("EXP" stands for a valid exp). */
	static const char *const dups[] = {
		"{\"iss\":\"" ISS "\",\"aud\":\"client-a\",\"sub\":\"victim\",\"sub\":\"attacker\","
		"\"exp\":EXP}",
		"{\"iss\":\"" ISS "\",\"aud\":\"client-a\",\"sub\":\"u\",\"exp\":1,\"exp\":EXP}",
		"{\"iss\":\"https://evil\",\"iss\":\"" ISS "\",\"aud\":\"client-a\",\"sub\":\"u\","
		"\"exp\":EXP}",
		"{\"iss\":\"" ISS "\",\"aud\":\"x\",\"aud\":\"client-a\",\"sub\":\"u\","
		"\"exp\":EXP}",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(dups); i++) {
		const char *at = strstr(dups[i], "EXP");
		char *p = xasprintf("%.*s%lld%s", (int)(at - dups[i]), dups[i],
				    (long long)T0 + 600, at + 3);
		CHECK_INT(verify_claims(p, T0), GH_EAUTH);
		free(p);
	}
	/* A payload that is JSON but not an object. */
	tok = rs_token("[\"sub\",\"u\"]");
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);
	tok = rs_token("not json");
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);
	/* A header that is not an object. */
	tok = make_token("[\"RS256\",\"rsa-a\"]", pl, rsa_a, SIG_PLAIN);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);
	free(pl);
}

TEST(foreign_attack_ecdsa_signatures)
{
	char *pl = std_claims();
	char *h = hdr_of("ES256", "ec-a");
	char *input = fixture_jws_input(h, pl);

	/* CVE-2022-21449 ("psychic signatures"): r = s = 0. */
	unsigned char zeros[64] = { 0 };
	char *tok = fixture_jws_with_sig(input, zeros, sizeof zeros);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);

	/* r = s = n, the group order (reduces to zero). */
	static const unsigned char order[32] = {
		0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17,
		0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
	};
	unsigned char nn[64];
	memcpy(nn, order, 32);
	memcpy(nn + 32, order, 32);
	tok = fixture_jws_with_sig(input, nn, sizeof nn);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);

	/* r = 0 with a real s, and a real r with s = 0. */
	unsigned char sig[1024];
	size_t n = sign_input(ec_a, input, SIG_ES_RAW, sig);
	CHECK_INT(n, 64);
	unsigned char half[64];
	memcpy(half, sig, 64);
	memset(half, 0, 32);
	tok = fixture_jws_with_sig(input, half, 64);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);
	memcpy(half, sig, 64);
	memset(half + 32, 0, 32);
	tok = fixture_jws_with_sig(input, half, 64);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);

	/* The good raw signature, for contrast. */
	tok = fixture_jws_with_sig(input, sig, n);
	CHECK_INT(verify_std(tok), 0);
	free(tok);

	/* The same signature DER-encoded (what OpenSSL gives): not JWS. */
	n = sign_input(ec_a, input, SIG_ES_DER, sig);
	CHECK(n != 64);
	tok = fixture_jws_with_sig(input, sig, n);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);

	/* Raw signature of the wrong length. */
	n = sign_input(ec_a, input, SIG_ES_RAW, sig);
	tok = fixture_jws_with_sig(input, sig, 63);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);
	memset(sig + 64, 0, 1);
	tok = fixture_jws_with_sig(input, sig, 65);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);

	/* An ES256 signature by another P-256 key. */
	n = sign_input(ec_b, input, SIG_ES_RAW, sig);
	tok = fixture_jws_with_sig(input, sig, n);
	CHECK_INT(verify_std(tok), GH_EAUTH);
	free(tok);
	free(input);
	free(h);
	free(pl);
}

/* ---- tokens verified with keys from the in-process JWKS ---- */

struct cache_lookup {
	struct jwkscache *c;
	const char *url;
	int64_t now;
};

static int cache_lookup_fn(void *ctx, const char *kid, EVP_PKEY **pkey, int *alg)
{
	struct cache_lookup *l = ctx;
	return jwkscache_key(l->c, l->url, kid, l->now, &policy, &http_opt, pkey, alg);
}

static int verify_cached(const char *tok, struct cache_lookup *l)
{
	struct foreign_rules r = rules_std();
	char sub[64];
	return token_verify_foreign(tok, strlen(tok), &r, cache_lookup_fn, l, l->now, sub,
				    sizeof sub, NULL);
}

TEST(foreign_with_jwks_cache)
{
	httpd_answer(&srv, 200, jwks_a);
	char *url = url_of("/e2e/jwks");
	struct cache_lookup l = { jwkscache_new(), url, T0 };
	char *pl = std_claims();
	char *rs = rs_token(pl), *es = es_token(pl);
	CHECK_INT(verify_cached(rs, &l), 0);
	CHECK_INT(verify_cached(es, &l), 0);

	/* Signed by B's key before the cache has seen B: unknown until the refetch. */
	char *h = hdr_of("RS256", "rsa-b");
	char *tb = make_token(h, pl, rsa_b, SIG_PLAIN);
	httpd_answer(&srv, 200, jwks_b);
	l.now = T0 + 1;
	CHECK_INT(verify_cached(tb, &l), GH_EAUTH);
	l.now = T0 + 60;
	char *pl_later = claims(ISS, "\"client-a\"", "user-123", T0 + 50, T0 + 660, "");
	char *tb2 = make_token(h, pl_later, rsa_b, SIG_PLAIN);
	CHECK_INT(verify_cached(tb2, &l), 0);

	/* The provider goes down; a kid it never published is unavailable. */
	httpd_hang_up(&srv);
	l.now = T0 + 200;
	char *hx = hdr_of("RS256", "rsa-x");
	char *tx = make_token(hx, pl_later, rsa_a, SIG_PLAIN);
	CHECK_INT(verify_cached(tx, &l), GH_EUNAVAIL);
	CHECK_INT(verify_cached(tb2, &l), 0); /* the cached key still works */

	jwkscache_free(l.c);
	free(url);
	free(pl);
	free(pl_later);
	free(rs);
	free(es);
	free(h);
	free(tb);
	free(tb2);
	free(hx);
	free(tx);
}

int main(void)
{
	log_configure(LOG_ERROR, LOG_FORMAT_TEXT);
	/* The in-process server is on 127.0.0.1: no proxy may come between. */
	setenv("NO_PROXY", "*", 1);
	setenv("no_proxy", "*", 1);
	if (httpc_global_init()) {
		fprintf(stderr, "httpc_global_init failed\n");
		return 2;
	}
	rsa_a = must(EVP_RSA_gen(2048), "rsa_a");
	rsa_b = must(EVP_RSA_gen(2048), "rsa_b");
	rsa_small = must(EVP_RSA_gen(1024), "rsa_small");
	ec_a = must(EVP_EC_gen("P-256"), "ec_a");
	ec_b = must(EVP_EC_gen("P-256"), "ec_b");
	ec_p384 = must(EVP_EC_gen("P-384"), "ec_p384");
	jwks_a = key_set(2, rsa_jwk(rsa_a, "rsa-a", ",\"alg\":\"RS256\",\"use\":\"sig\""),
			 ec_jwk(ec_a, "ec-a", ",\"alg\":\"ES256\",\"use\":\"sig\""));
	jwks_b = key_set(1, rsa_jwk(rsa_b, "rsa-b", ",\"use\":\"sig\""));
	httpd_start(&srv);

	RUN(jwk_parse_rsa_and_ec);
	RUN(jwk_parse_empty_and_bounded_input);
	RUN(jwk_parse_not_a_key_set);
	RUN(jwk_parse_rsa_size_rules);
	RUN(jwk_parse_ec_rules);
	RUN(jwk_parse_ec_short_coordinate);
	RUN(jwk_parse_kid_use_alg_kty_rules);
	RUN(jwk_parse_unparseable_keys_skipped);
	RUN(jwk_parse_at_most_64_keys);

	RUN(cache_first_use_ttl_and_unknown_kid);
	RUN(cache_separate_urls);
	RUN(cache_fetch_failures_keep_cached_keys);
	RUN(cache_first_fetch_fails);
	RUN(cache_outage_does_not_fetch_every_second);
	RUN(cache_key_outlives_the_set);
	RUN(cache_concurrent_first_use_fetches_once);

	RUN(foreign_valid_tokens);
	RUN(foreign_issuer_exact);
	RUN(foreign_audience);
	RUN(foreign_algorithms);
	RUN(foreign_alg_must_match_the_jwk);
	RUN(foreign_key_type_must_fit);
	RUN(foreign_time_claims);
	RUN(foreign_subject_claim);
	RUN(foreign_lookup_failures);
	RUN(foreign_attack_alg_none);
	RUN(foreign_attack_tampering);
	RUN(foreign_attack_crit_and_duplicates);
	RUN(foreign_attack_ecdsa_signatures);
	RUN(foreign_with_jwks_cache);

	httpd_stop(&srv);
	free(jwks_a);
	free(jwks_b);
	EVP_PKEY_free(rsa_a);
	EVP_PKEY_free(rsa_b);
	EVP_PKEY_free(rsa_small);
	EVP_PKEY_free(ec_a);
	EVP_PKEY_free(ec_b);
	EVP_PKEY_free(ec_p384);
	return REPORT();
}
