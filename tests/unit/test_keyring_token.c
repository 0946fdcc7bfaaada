/*
 * test_keyring_token.c - signing keys and JWTs over a real store: first
 * keys, emergency and timed rotation, issue/verify round trips for RS256,
 * ES256 and HS256 refresh tokens, and the attacks a verifier must refuse
 * (alg none, RS/HS confusion, unknown or missing kid, tampering, expiry,
 * nbf, issuer, token type confusion, oversize, duplicate claims, crit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "gatehouse/keyring.h"
#include "gatehouse/log.h"
#include "gatehouse/store.h"
#include "gatehouse/token.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/random.h"
#include "gatehouse/encoding.h"
#include "harness.h"
#include "fixtures.h"

#define T0 1800000000LL
#define ISSUER "https://id.example.com/prod"
#define ACCESS_TTL 900

static char tmp_dir[64];
static int store_seq;

static struct store *open_store(void)
{
	char path[160];
	snprintf(path, sizeof path, "%s/s%d/gatehouse.db", tmp_dir, ++store_seq);
	struct fixture_store_opts o = { .readers = 2, .sync_normal = true };
	return fixture_store_open(path, &o);
}

static struct key_policy policy(int alg)
{
	struct key_policy p = {
		.access_alg = alg, .rotation_interval = 7 * 86400, .prepublish = 86400,
		.access_token_ttl = ACCESS_TTL, .refresh_token_ttl = 6 * 86400,
	};
	return p;
}

/* ---- small builders ---- */

/* Raw JWS signature of input by k, as the daemon would make it; der keeps ECDSA DER. */
static size_t sign_raw(const struct signing_key *k, const char *input, unsigned char *sig,
		       bool der)
{
	if (k->alg == KEY_HS256) {
		unsigned int n = 0;
		HMAC(EVP_sha256(), k->secret, sizeof k->secret, (const unsigned char *)input,
		     strlen(input), sig, &n);
		return n;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char buf[1024];
	size_t n = sizeof buf;
	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) != 1 ||
	    EVP_DigestSign(ctx, buf, &n, (const unsigned char *)input, strlen(input)) != 1) {
		fprintf(stderr, "signing failed\n");
		exit(2);
	}
	EVP_MD_CTX_free(ctx);
	if (k->alg == KEY_ES256 && !der) {
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

/* A complete token for hdr and pl signed by k. */
static char *forge(const struct signing_key *k, const char *hdr, const char *pl)
{
	char *input = fixture_jws_input(hdr, pl);
	unsigned char sig[1024];
	size_t n = sign_raw(k, input, sig, false);
	char *tok = fixture_jws_with_sig(input, sig, n);
	free(input);
	return tok;
}

static char *std_header(const struct signing_key *k)
{
	return xasprintf("{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", keyring_alg_name(k->alg),
			 k->kid);
}

static char *access_payload(const char *kid, const char *sub, int64_t iat, int64_t exp)
{
	return xasprintf("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
			 "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\"}",
			 sub, (long long)exp, kid, (long long)iat, (long long)iat);
}

static int verify_access(const struct token_config *tc, const struct keyset *ks, const char *tok,
			 int64_t now, const char **why)
{
	struct access_claims c;
	*why = "unset";
	return token_verify_access(tc, ks, tok, strlen(tok), now, &c, why);
}

static int verify_refresh(const struct token_config *tc, const struct keyset *ks, const char *tok,
			  int64_t now, const char **why)
{
	struct refresh_claims c;
	*why = "unset";
	return token_verify_refresh(tc, ks, tok, strlen(tok), now, &c, why);
}

#define REJECTS_ACCESS(tc, ks, tok, now)                                       \
	do {                                                                   \
		const char *why_;                                              \
		int rc_ = verify_access((tc), (ks), (tok), (now), &why_);      \
		CHECK_INT(rc_, GH_EAUTH);                                      \
		CHECK(why_ != NULL && strcmp(why_, "unset") != 0);             \
	} while (0)

#define REJECTS_REFRESH(tc, ks, tok, now)                                      \
	do {                                                                   \
		const char *why_;                                              \
		int rc_ = verify_refresh((tc), (ks), (tok), (now), &why_);     \
		CHECK_INT(rc_, GH_EAUTH);                                      \
		CHECK(why_ != NULL && strcmp(why_, "unset") != 0);             \
	} while (0)

/* The kid in a token's header (static buffer). */
static const char *header_kid(const char *tok)
{
	static char kid[64];
	unsigned char buf[512];
	size_t n = sizeof buf - 1;
	kid[0] = '\0';
	const char *dot = strchr(tok, '.');
	if (!dot || gh_b64url_decode(tok, (size_t)(dot - tok), buf, &n))
		return kid;
	buf[n] = '\0';
	const char *p = strstr((char *)buf, "\"kid\":\"");
	if (p)
		snprintf(kid, sizeof kid, "%.*s", (int)strcspn(p + 7, "\""), p + 7);
	return kid;
}

/* The decoded signature length of a token. */
static size_t sig_len(const char *tok)
{
	const char *dot = strrchr(tok, '.');
	unsigned char buf[1024];
	size_t n = sizeof buf;
	if (!dot || gh_b64url_decode(dot + 1, strlen(dot + 1), buf, &n))
		return 0;
	return n;
}

static size_t count_use(const struct keyset *ks, int use)
{
	size_t n = 0;
	for (size_t i = 0; i < ks->n; i++)
		if (ks->keys[i].use == use)
			n++;
	return n;
}

static void new_sub(char out[37])
{
	if (gh_uuid4(out))
		exit(2);
}

/* ---- shared fixture: one RS256 keyring used by the round-trip and attack tests ---- */

static struct store *rs_store;
static struct keyring *rs_kr;
static struct token_config tc;

TEST(first_maintain_creates_keys)
{
	rs_store = open_store();
	struct key_policy p = policy(KEY_RS256);
	rs_kr = keyring_new(rs_store, &p);
	struct keyset *ks = keyset_get(rs_kr);
	CHECK(ks != NULL);
	CHECK_INT(ks->n, 0);
	CHECK(keyset_signing_key(ks, KEY_USE_ACCESS, T0) == NULL);
	/* No keys yet: nothing can be issued, and the caller is told so. */
	char sub0[37];
	new_sub(sub0);
	char *tok0 = (char *)"unset";
	int64_t exp0 = 0;
	CHECK_INT(token_issue_access(&tc, ks, sub0, SCOPE_GUEST, 0, T0, &tok0, &exp0), GH_EUNAVAIL);
	CHECK(tok0 == NULL);
	struct refresh_claims rc0 = { .access_scope = SCOPE_GUEST, .sid = 1, .exp = T0 + 60 };
	snprintf(rc0.sub, sizeof rc0.sub, "%s", sub0);
	CHECK_INT(token_new_jti(rc0.jti), 0);
	tok0 = (char *)"unset";
	CHECK_INT(token_issue_refresh(&tc, ks, &rc0, T0, &tok0), GH_EUNAVAIL);
	CHECK(tok0 == NULL);
	CHECK_STR(ks->jwks, "{\"keys\":[]}");
	keyset_put(ks);

	bool changed = false;
	CHECK_INT(keyring_maintain(rs_kr, T0, &changed), 0);
	CHECK(changed);
	ks = keyset_get(rs_kr);
	CHECK_INT(count_use(ks, KEY_USE_ACCESS), 1);
	CHECK_INT(count_use(ks, KEY_USE_REFRESH), 1);
	const struct signing_key *a = keyset_signing_key(ks, KEY_USE_ACCESS, T0);
	const struct signing_key *r = keyset_signing_key(ks, KEY_USE_REFRESH, T0);
	CHECK(a && a->alg == KEY_RS256 && a->pkey && EVP_PKEY_is_a(a->pkey, "RSA"));
	CHECK(a && EVP_PKEY_get_bits(a->pkey) == 2048);
	CHECK(r && r->alg == KEY_HS256);
	if (a && r) {
		CHECK(strcmp(a->kid, r->kid) != 0);
		/* The JWKS publishes the access key, public members only. */
		CHECK(strstr(ks->jwks, a->kid) != NULL);
		CHECK(strstr(ks->jwks, r->kid) == NULL);
		CHECK(strstr(ks->jwks, "\"RS256\"") != NULL);
		CHECK(strstr(ks->jwks, "\"n\"") && strstr(ks->jwks, "\"e\""));
		CHECK(strstr(ks->jwks, "\"d\"") == NULL && strstr(ks->jwks, "\"p\"") == NULL);
		CHECK_STR(ks->algs_json, "[\"RS256\"]");
		CHECK(keyset_find(ks, a->kid, strlen(a->kid), KEY_USE_ACCESS) == a);
		CHECK(keyset_find(ks, a->kid, strlen(a->kid), KEY_USE_REFRESH) == NULL);
		CHECK(keyset_find(ks, r->kid, strlen(r->kid), KEY_USE_ACCESS) == NULL);
	}
	keyset_put(ks);

	/* Nothing is due a moment later. */
	CHECK_INT(keyring_maintain(rs_kr, T0 + 1, &changed), 0);
	CHECK(!changed);

	/* The keys are in the store: a second keyring loads the same ones. */
	struct store_key *sk;
	size_t n;
	CHECK_INT(store_keys_list(rs_store, &sk, &n), 0);
	CHECK_INT(n, 2);
	store_keys_free(sk, n);
	struct keyring *kr2 = keyring_new(rs_store, &p);
	CHECK_INT(keyring_reload(kr2), 0);
	struct keyset *k1 = keyset_get(rs_kr), *k2 = keyset_get(kr2);
	const struct signing_key *a1 = keyset_signing_key(k1, KEY_USE_ACCESS, T0);
	const struct signing_key *a2 = keyset_signing_key(k2, KEY_USE_ACCESS, T0);
	CHECK(a1 && a2 && strcmp(a1->kid, a2->kid) == 0);
	CHECK(a1 && a2 && EVP_PKEY_eq(a1->pkey, a2->pkey) == 1);
	keyset_put(k1);
	keyset_put(k2);
	keyring_free(kr2);
}

TEST(access_round_trip)
{
	struct keyset *ks = keyset_get(rs_kr);
	char sub[37];
	new_sub(sub);
	char *tok = NULL;
	int64_t exp = 0;
	CHECK_INT(token_issue_access(&tc, ks, sub, SCOPE_AUTHENTICATED, 0, T0 + 10, &tok, &exp), 0);
	CHECK_INT(exp, T0 + 10 + ACCESS_TTL);
	CHECK(tok && strlen(tok) <= TOKEN_MAX_LEN);
	CHECK_INT(sig_len(tok), 256);
	const struct signing_key *a = keyset_signing_key(ks, KEY_USE_ACCESS, T0 + 10);
	CHECK(a && strcmp(header_kid(tok), a->kid) == 0);

	struct access_claims c;
	const char *why = "unset";
	CHECK_INT(token_verify_access(&tc, ks, tok, strlen(tok), T0 + 10, &c, &why), 0);
	CHECK(why == NULL);
	CHECK_STR(c.sub, sub);
	CHECK_INT(c.scope, SCOPE_AUTHENTICATED);
	CHECK_INT(c.iat, T0 + 10);
	CHECK_INT(c.exp, T0 + 10 + ACCESS_TTL);
	/* Valid up to the last second before exp; why may be NULL. */
	CHECK_INT(token_verify_access(&tc, ks, tok, strlen(tok), exp - 1, &c, NULL), 0);
	REJECTS_ACCESS(&tc, ks, tok, exp);
	free(tok);

	CHECK_INT(token_issue_access(&tc, ks, sub, SCOPE_GUEST, 0, T0 + 10, &tok, &exp), 0);
	CHECK_INT(token_verify_access(&tc, ks, tok, strlen(tok), T0 + 11, &c, &why), 0);
	CHECK_INT(c.scope, SCOPE_GUEST);
	CHECK_INT(c.sid, 0); /* no sid claim: a token from before sessions were carried */
	free(tok);

	/* The session id rides along and comes back. */
	CHECK_INT(token_issue_access(&tc, ks, sub, SCOPE_GUEST, 4242, T0 + 10, &tok, &exp), 0);
	CHECK_INT(token_verify_access(&tc, ks, tok, strlen(tok), T0 + 11, &c, &why), 0);
	CHECK_INT(c.sid, 4242);
	free(tok);
	keyset_put(ks);
}

TEST(refresh_round_trip)
{
	struct keyset *ks = keyset_get(rs_kr);
	struct refresh_claims in = { .access_scope = SCOPE_AUTHENTICATED, .sid = 4242,
				     .exp = T0 + 6 * 86400 };
	new_sub(in.sub);
	CHECK_INT(token_new_jti(in.jti), 0);
	CHECK_INT(strlen(in.jti), JTI_LEN);
	char *tok = NULL;
	CHECK_INT(token_issue_refresh(&tc, ks, &in, T0 + 20, &tok), 0);
	CHECK_INT(sig_len(tok), 32);
	const struct signing_key *r = keyset_signing_key(ks, KEY_USE_REFRESH, T0 + 20);
	CHECK(r && strcmp(header_kid(tok), r->kid) == 0);

	struct refresh_claims out;
	const char *why = "unset";
	CHECK_INT(token_verify_refresh(&tc, ks, tok, strlen(tok), T0 + 21, &out, &why), 0);
	CHECK(why == NULL);
	CHECK_STR(out.sub, in.sub);
	CHECK_STR(out.jti, in.jti);
	CHECK_INT(out.sid, 4242);
	CHECK_INT(out.access_scope, SCOPE_AUTHENTICATED);
	CHECK_INT(out.exp, in.exp);
	/* The session's end is the token's end. */
	REJECTS_REFRESH(&tc, ks, tok, in.exp);
	free(tok);

	in.access_scope = SCOPE_GUEST;
	CHECK_INT(token_issue_refresh(&tc, ks, &in, T0 + 20, &tok), 0);
	CHECK_INT(token_verify_refresh(&tc, ks, tok, strlen(tok), T0 + 21, &out, &why), 0);
	CHECK_INT(out.access_scope, SCOPE_GUEST);
	free(tok);

	/* Two jtis never repeat. */
	char j1[JTI_LEN + 1], j2[JTI_LEN + 1];
	CHECK_INT(token_new_jti(j1), 0);
	CHECK_INT(token_new_jti(j2), 0);
	CHECK(strcmp(j1, j2) != 0);
	keyset_put(ks);
}

TEST(forged_control_token_is_accepted)
{
	/* The attack tests sign with the real key; first prove that signing works. */
	struct keyset *ks = keyset_get(rs_kr);
	const struct signing_key *a = keyset_signing_key(ks, KEY_USE_ACCESS, T0);
	char sub[37];
	new_sub(sub);
	char *h = std_header(a), *p = access_payload(a->kid, sub, T0, T0 + 900);
	char *tok = forge(a, h, p);
	struct access_claims c;
	const char *why = "unset";
	CHECK_INT(token_verify_access(&tc, ks, tok, strlen(tok), T0 + 1, &c, &why), 0);
	CHECK_STR(c.sub, sub);
	free(tok);
	/* Without typ, too (it is optional). */
	char *h2 = xasprintf("{\"alg\":\"RS256\",\"kid\":\"%s\"}", a->kid);
	tok = forge(a, h2, p);
	CHECK_INT(token_verify_access(&tc, ks, tok, strlen(tok), T0 + 1, &c, &why), 0);
	free(tok);
	free(h2);
	free(h);
	free(p);
	keyset_put(ks);
}

TEST(attack_alg_none)
{
	struct keyset *ks = keyset_get(rs_kr);
	const struct signing_key *a = keyset_signing_key(ks, KEY_USE_ACCESS, T0);
	char sub[37];
	new_sub(sub);
	char *p = access_payload(a->kid, sub, T0, T0 + 900);
	static const char *const algs[] = { "none", "None", "NONE", "nOnE" };
	for (size_t i = 0; i < GH_ARRAY_SIZE(algs); i++) {
		char *h = xasprintf("{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", algs[i],
				    a->kid);
		char *input = fixture_jws_input(h, p);
		char *tok = xasprintf("%s.", input); /* empty signature */
		REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
		free(tok);
		/* ... and with the real RS256 signature attached. */
		tok = forge(a, h, p);
		REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
		free(tok);
		free(input);
		free(h);
		/* ... and without a kid at all. */
		h = xasprintf("{\"alg\":\"%s\",\"typ\":\"JWT\"}", algs[i]);
		input = fixture_jws_input(h, p);
		tok = xasprintf("%s.", input);
		REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
		free(tok);
		free(input);
		free(h);
	}
	free(p);
	keyset_put(ks);
}

TEST(attack_hs256_with_public_key)
{
	struct keyset *ks = keyset_get(rs_kr);
	const struct signing_key *a = keyset_signing_key(ks, KEY_USE_ACCESS, T0);
	BIO *bio = BIO_new(BIO_s_mem());
	CHECK(bio && PEM_write_bio_PUBKEY(bio, a->pkey) == 1);
	char *pem = NULL;
	long pem_len = BIO_get_mem_data(bio, &pem);
	CHECK(pem_len > 100 && strstr(pem, "BEGIN PUBLIC KEY") != NULL);
	char sub[37];
	new_sub(sub);
	char *p = access_payload(a->kid, sub, T0, T0 + 900);
	static const char *const algs[] = { "HS256", "HS384", "HS512", "hs256" };
	for (size_t i = 0; i < GH_ARRAY_SIZE(algs); i++) {
		char *h = xasprintf("{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", algs[i],
				    a->kid);
		char *input = fixture_jws_input(h, p);
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int mac_len = 0;
		/* The key as a PEM file holds it, with and without the final newline. */
		for (int trim = 0; trim < 2; trim++) {
			HMAC(EVP_sha256(), pem, (int)pem_len - trim, (const unsigned char *)input,
			     strlen(input), mac, &mac_len);
			char *tok = fixture_jws_with_sig(input, mac, mac_len);
			REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
			free(tok);
		}
		free(input);
		free(h);
	}
	free(p);
	BIO_free(bio);
	keyset_put(ks);
}

TEST(attack_kid)
{
	struct keyset *ks = keyset_get(rs_kr);
	const struct signing_key *a = keyset_signing_key(ks, KEY_USE_ACCESS, T0);
	const struct signing_key *r = keyset_signing_key(ks, KEY_USE_REFRESH, T0);
	char sub[37];
	new_sub(sub);
	char *p = access_payload(a->kid, sub, T0, T0 + 900);
	static const char *const headers[] = {
		"{\"alg\":\"RS256\",\"kid\":\"no-such-kid\",\"typ\":\"JWT\"}",
		"{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"RS256\",\"kid\":\"\",\"typ\":\"JWT\"}",
		"{\"alg\":\"RS256\",\"kid\":null,\"typ\":\"JWT\"}",
		"{\"alg\":\"RS256\",\"kid\":42,\"typ\":\"JWT\"}",
		"{\"alg\":\"RS256\",\"kid\":[\"x\"],\"typ\":\"JWT\"}",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(headers); i++) {
		char *tok = forge(a, headers[i], p);
		REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
		free(tok);
	}
	/* A kid that is a prefix of the real one, or the real one with a suffix. */
	char *h = xasprintf("{\"alg\":\"RS256\",\"kid\":\"%.*s\"}", (int)strlen(a->kid) - 1, a->kid);
	char *tok = forge(a, h, p);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	free(h);
	h = xasprintf("{\"alg\":\"RS256\",\"kid\":\"%sx\"}", a->kid);
	tok = forge(a, h, p);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	free(h);
	/* The refresh key cannot mint access tokens. */
	h = std_header(r);
	tok = forge(r, h, p);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	free(h);
	/* A payload kid that contradicts the header. */
	char *p2 = access_payload("other-kid", sub, T0, T0 + 900);
	h = std_header(a);
	tok = forge(a, h, p2);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	free(h);
	free(p2);
	free(p);
	keyset_put(ks);
}

TEST(attack_tampering)
{
	struct keyset *ks = keyset_get(rs_kr);
	char sub[37], other[37];
	new_sub(sub);
	new_sub(other);
	char *tok = NULL;
	int64_t exp;
	CHECK_INT(token_issue_access(&tc, ks, sub, SCOPE_GUEST, 0, T0, &tok, &exp), 0);
	const struct signing_key *a = keyset_signing_key(ks, KEY_USE_ACCESS, T0);

	/* Another payload (authenticated scope, another sub) under the old signature. */
	char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
	char *p = xasprintf("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
			    "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,"
			    "\"scope\":\"authenticated\"}",
			    other, (long long)exp, a->kid, (long long)T0, (long long)T0);
	char *p64 = fixture_b64(p, strlen(p));
	char *bad = xasprintf("%.*s.%s%s", (int)(d1 - tok), tok, p64, d2);
	REJECTS_ACCESS(&tc, ks, bad, T0 + 1);
	free(bad);
	free(p64);
	free(p);

	/* Any single changed character anywhere. */
	size_t n = strlen(tok);
	int accepted = 0;
	for (size_t i = 0; i < n; i += (i < 60 || i > n - 60) ? 1 : 7) {
		if (tok[i] == '.')
			continue;
		char *t = xstrdup(tok);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		struct access_claims c;
		if (token_verify_access(&tc, ks, t, n, T0 + 1, &c, NULL) != GH_EAUTH) {
			accepted++;
			fprintf(stderr, "  change at %zu accepted\n", i);
		}
		free(t);
	}
	CHECK_INT(accepted, 0);

	/* Extra segments, or the signature moved about. */
	bad = xasprintf("%s.", tok);
	REJECTS_ACCESS(&tc, ks, bad, T0 + 1);
	free(bad);
	bad = xasprintf("%s.%s", tok, d2 + 1);
	REJECTS_ACCESS(&tc, ks, bad, T0 + 1);
	free(bad);
	bad = xasprintf("%s=", tok);
	REJECTS_ACCESS(&tc, ks, bad, T0 + 1);
	free(bad);
	bad = xasprintf(" %s", tok);
	REJECTS_ACCESS(&tc, ks, bad, T0 + 1);
	free(bad);
	free(tok);
	keyset_put(ks);
}

TEST(attack_truncated)
{
	struct keyset *ks = keyset_get(rs_kr);
	char sub[37];
	new_sub(sub);
	char *tok = NULL;
	int64_t exp;
	CHECK_INT(token_issue_access(&tc, ks, sub, SCOPE_GUEST, 0, T0, &tok, &exp), 0);
	size_t n = strlen(tok);
	int accepted = 0;
	for (size_t len = 0; len < n; len++) {
		struct access_claims c;
		const char *why = NULL;
		if (token_verify_access(&tc, ks, tok, len, T0 + 1, &c, &why) != GH_EAUTH || !why)
			accepted++;
	}
	CHECK_INT(accepted, 0);
	/* The length given is the token: a NUL inside it does not end it early. */
	char *t = xstrdup(tok);
	t[n - 3] = '\0';
	struct access_claims c;
	CHECK_INT(token_verify_access(&tc, ks, t, n, T0 + 1, &c, NULL), GH_EAUTH);
	free(t);
	free(tok);
	keyset_put(ks);
}

TEST(attack_oversize)
{
	struct keyset *ks = keyset_get(rs_kr);
	const struct signing_key *a = keyset_signing_key(ks, KEY_USE_ACCESS, T0);
	char sub[37];
	new_sub(sub);
	/* A correctly signed token padded with an extra claim to over 5000 bytes. */
	struct strbuf pad = STRBUF_INIT;
	for (int i = 0; i < 3500; i++)
		sb_adds(&pad, "x");
	char *p = xasprintf("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
			    "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\","
			    "\"pad\":\"%s\"}",
			    sub, (long long)(T0 + 900), a->kid, (long long)T0, (long long)T0, pad.buf);
	char *h = std_header(a);
	char *tok = forge(a, h, p);
	CHECK(strlen(tok) >= 5000);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	free(p);

	/* A 5000-byte string of token characters. */
	char *junk = xmalloc(5001);
	memset(junk, 'A', 5000);
	junk[100] = '.';
	junk[200] = '.';
	junk[5000] = '\0';
	REJECTS_ACCESS(&tc, ks, junk, T0 + 1);
	REJECTS_REFRESH(&tc, ks, junk, T0 + 1);
	free(junk);

	/* Just under the limit, still correctly signed: accepted. */
	sb_reset(&pad);
	for (int i = 0; i < 2400; i++)
		sb_adds(&pad, "x");
	p = xasprintf("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		      "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\","
		      "\"pad\":\"%s\"}",
		      sub, (long long)(T0 + 900), a->kid, (long long)T0, (long long)T0, pad.buf);
	tok = forge(a, h, p);
	CHECK(strlen(tok) <= TOKEN_MAX_LEN);
	struct access_claims c;
	CHECK_INT(token_verify_access(&tc, ks, tok, strlen(tok), T0 + 1, &c, NULL), 0);
	free(tok);
	free(p);
	free(h);
	sb_release(&pad);
	keyset_put(ks);
}

/* Signs a header (std) and a payload given as a format with kid, sub, now, and checks rejection. */
static void reject_signed_payload(const struct signing_key *k, const struct keyset *ks,
				  const char *payload, int64_t now)
{
	char *h = std_header(k);
	char *tok = forge(k, h, payload);
	REJECTS_ACCESS(&tc, ks, tok, now);
	free(tok);
	free(h);
}

TEST(attack_claims)
{
	struct keyset *ks = keyset_get(rs_kr);
	const struct signing_key *a = keyset_signing_key(ks, KEY_USE_ACCESS, T0);
	char sub[37], other[37];
	new_sub(sub);
	new_sub(other);
	const char *kid = a->kid;
	long long now = T0, exp = T0 + 900;
	char *p;

#define REJECT_PAYLOAD(...)                                                    \
	do {                                                                   \
		p = xasprintf(__VA_ARGS__);                                    \
		reject_signed_payload(a, ks, p, T0 + 1);                       \
		free(p);                                                       \
	} while (0)

	/* Duplicate sub: one parser may take the first, another the last. */
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\","
		       "\"sub\":\"%s\"}", sub, exp, kid, now, now, other);
	/* Duplicate exp. */
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\","
		       "\"exp\":99999999999}", sub, exp, kid, now, now);
	/* exp as a string, as a float, missing. */
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":\"%lld\",\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\"}",
		       sub, exp, kid, now, now);
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":%lld.5,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\"}",
		       sub, exp, kid, now, now);
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\"}",
		       sub, kid, now, now);
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":null,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\"}",
		       sub, kid, now, now);
	/* nbf or iat missing or not integers. */
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"iat\":%lld,\"scope\":\"guest\"}",
		       sub, exp, kid, now);
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":\"%lld\",\"iat\":%lld,\"scope\":\"guest\"}",
		       sub, exp, kid, now, now);
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":%lld,\"scope\":\"guest\"}",
		       sub, exp, kid, now);
	/* Wrong, missing or list audience. */
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"refresh\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\"}",
		       sub, exp, kid, now, now);
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\"}",
		       sub, exp, kid, now, now);
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":[\"gamebackend\"],\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\"}",
		       sub, exp, kid, now, now);
	/* Issuer missing or a near miss. */
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":%lld,\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\"}",
		       sub, exp, kid, now, now);
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "/\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\"}",
		       sub, exp, kid, now, now);
	/* sub missing, not a UUID, uppercase. */
	REJECT_PAYLOAD("{\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\"}",
		       exp, kid, now, now);
	REJECT_PAYLOAD("{\"sub\":\"admin\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\"}",
		       exp, kid, now, now);
	REJECT_PAYLOAD("{\"sub\":\"123E4567-E89B-42D3-A456-426614174000\",\"exp\":%lld,"
		       "\"iss\":\"" ISSUER "\",\"kid\":\"%s\",\"aud\":\"gamebackend\","
		       "\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\"}", exp, kid, now, now);
	/* sid present but not a positive integer. */
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\","
		       "\"sid\":\"7\"}", sub, exp, kid, now, now);
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\","
		       "\"sid\":0}", sub, exp, kid, now, now);
	REJECT_PAYLOAD("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		       "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"guest\","
		       "\"sid\":null}", sub, exp, kid, now, now);
	/* Not an object at all. */
	REJECT_PAYLOAD("[\"%s\"]", sub);
	REJECT_PAYLOAD("\"%s\"", sub);
#undef REJECT_PAYLOAD

	/* A crit header, even naming a claim we check. */
	char *pl = access_payload(kid, sub, T0, T0 + 900);
	static const char *const crit_extra[] = {
		",\"typ\":\"JWT\",\"crit\":[\"exp\"]", ",\"crit\":[]",
		",\"crit\":[\"b64\"],\"b64\":false", ",\"crit\":null",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(crit_extra); i++) {
		char *h = xasprintf("{\"alg\":\"RS256\",\"kid\":\"%s\"%s}", kid, crit_extra[i]);
		char *tok = forge(a, h, pl);
		REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
		free(tok);
		free(h);
	}
	/* Duplicate header members, and a typ that is not JWT. */
	char *h = xasprintf("{\"alg\":\"RS256\",\"kid\":\"%s\",\"alg\":\"none\"}", kid);
	char *tok = forge(a, h, pl);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	free(h);
	h = xasprintf("{\"alg\":\"RS256\",\"kid\":\"no-such\",\"kid\":\"%s\"}", kid);
	tok = forge(a, h, pl);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	free(h);
	h = xasprintf("{\"alg\":\"RS256\",\"kid\":\"%s\",\"typ\":\"JWE\"}", kid);
	tok = forge(a, h, pl);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	free(h);
	/* The right key with the wrong alg name. */
	h = xasprintf("{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
	tok = forge(a, h, pl);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	free(h);
	h = xasprintf("{\"alg\":\"rs256\",\"kid\":\"%s\"}", kid);
	tok = forge(a, h, pl);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	free(h);
	h = xasprintf("{\"alg\":\"PS256\",\"kid\":\"%s\"}", kid);
	tok = forge(a, h, pl);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	free(h);
	free(pl);
	keyset_put(ks);
}

TEST(unknown_scope_verifies_as_other)
{
	/* token.h: a genuine token with another scope verifies; callers decide. */
	struct keyset *ks = keyset_get(rs_kr);
	const struct signing_key *a = keyset_signing_key(ks, KEY_USE_ACCESS, T0);
	char sub[37];
	new_sub(sub);
	char *p = xasprintf("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
			    "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"admin\"}",
			    sub, (long long)(T0 + 900), a->kid, (long long)T0, (long long)T0);
	char *h = std_header(a);
	char *tok = forge(a, h, p);
	struct access_claims c;
	CHECK_INT(token_verify_access(&tc, ks, tok, strlen(tok), T0 + 1, &c, NULL), 0);
	CHECK_INT(c.scope, SCOPE_OTHER);
	free(tok);
	free(p);
	p = xasprintf("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		      "\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld}",
		      sub, (long long)(T0 + 900), a->kid, (long long)T0, (long long)T0);
	tok = forge(a, h, p);
	CHECK_INT(token_verify_access(&tc, ks, tok, strlen(tok), T0 + 1, &c, NULL), 0);
	CHECK_INT(c.scope, SCOPE_OTHER);
	free(tok);
	free(p);
	free(h);
	keyset_put(ks);
}

TEST(attack_time_and_issuer)
{
	struct keyset *ks = keyset_get(rs_kr);
	char sub[37];
	new_sub(sub);
	char *tok = NULL;
	int64_t exp;
	CHECK_INT(token_issue_access(&tc, ks, sub, SCOPE_GUEST, 0, T0 + 100, &tok, &exp), 0);
	const char *why;
	/* Expired: exp <= now. */
	REJECTS_ACCESS(&tc, ks, tok, exp);
	REJECTS_ACCESS(&tc, ks, tok, exp + 1);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1000000);
	verify_access(&tc, ks, tok, exp, &why);
	CHECK(why && strstr(why, "expire") != NULL);
	/* Not yet valid: nbf (= iat) after now, no leeway. */
	REJECTS_ACCESS(&tc, ks, tok, T0 + 99);
	REJECTS_ACCESS(&tc, ks, tok, T0);
	CHECK_INT(verify_access(&tc, ks, tok, T0 + 100, &why), 0);

	/* Another issuer's verifier (a different deployment or base path). */
	static const char *const issuers[] = {
		"https://id.example.com/prod2", "https://id.example.com", "http://id.example.com/prod",
		"https://id.example.com/prod/", "https://ID.example.com/prod",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(issuers); i++) {
		struct token_config other;
		token_config_init(&other, issuers[i], ACCESS_TTL);
		REJECTS_ACCESS(&other, ks, tok, T0 + 101);
		token_config_release(&other);
	}
	free(tok);

	/* Refresh tokens: the same time and issuer rules. */
	struct refresh_claims rc = { .access_scope = SCOPE_GUEST, .sid = 7, .exp = T0 + 5000 };
	new_sub(rc.sub);
	CHECK_INT(token_new_jti(rc.jti), 0);
	CHECK_INT(token_issue_refresh(&tc, ks, &rc, T0 + 100, &tok), 0);
	CHECK_INT(verify_refresh(&tc, ks, tok, T0 + 100, &why), 0);
	REJECTS_REFRESH(&tc, ks, tok, T0 + 99);
	REJECTS_REFRESH(&tc, ks, tok, T0 + 5000);
	struct token_config other;
	token_config_init(&other, "https://evil.example.com/prod", ACCESS_TTL);
	REJECTS_REFRESH(&other, ks, tok, T0 + 101);
	token_config_release(&other);
	free(tok);
	keyset_put(ks);
}

TEST(attack_token_type_confusion)
{
	struct keyset *ks = keyset_get(rs_kr);
	char sub[37];
	new_sub(sub);
	char *access = NULL, *refresh = NULL;
	int64_t exp;
	CHECK_INT(token_issue_access(&tc, ks, sub, SCOPE_AUTHENTICATED, 0, T0, &access, &exp), 0);
	struct refresh_claims rc = { .access_scope = SCOPE_AUTHENTICATED, .sid = 9,
				     .exp = T0 + 5000 };
	snprintf(rc.sub, sizeof rc.sub, "%s", sub);
	CHECK_INT(token_new_jti(rc.jti), 0);
	CHECK_INT(token_issue_refresh(&tc, ks, &rc, T0, &refresh), 0);
	REJECTS_ACCESS(&tc, ks, refresh, T0 + 1);
	REJECTS_REFRESH(&tc, ks, access, T0 + 1);

	/*
	 * A refresh-shaped payload signed by the access key, and an access-shaped
	 * payload signed by the refresh key: the key's use decides, not the claims.
	 */
	const struct signing_key *a = keyset_signing_key(ks, KEY_USE_ACCESS, T0);
	const struct signing_key *r = keyset_signing_key(ks, KEY_USE_REFRESH, T0);
	char *p = xasprintf("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
			    "\"aud\":\"refresh\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"refresh\","
			    "\"access_token_scope\":\"authenticated\",\"jti\":\"%s\",\"sid\":9}",
			    sub, (long long)(T0 + 5000), a->kid, (long long)T0, (long long)T0,
			    rc.jti);
	char *h = std_header(a);
	char *tok = forge(a, h, p);
	REJECTS_REFRESH(&tc, ks, tok, T0 + 1);
	free(tok);
	free(h);
	free(p);
	p = access_payload(r->kid, sub, T0, T0 + 900);
	h = std_header(r);
	tok = forge(r, h, p);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	free(h);
	free(p);

	/* Refresh-specific claims, each broken in turn, with a valid HMAC. */
	static const struct {
		const char *before_jti, *after_jti;
	} bad[] = {
		/* scope */
		{ "\"scope\":\"guest\",\"access_token_scope\":\"guest\",\"jti\":\"", "\",\"sid\":9" },
		/* access_token_scope */
		{ "\"scope\":\"refresh\",\"access_token_scope\":\"root\",\"jti\":\"", "\",\"sid\":9" },
		/* jti length */
		{ "\"scope\":\"refresh\",\"access_token_scope\":\"guest\",\"jti\":\"", "-\",\"sid\":9" },
		/* sid zero */
		{ "\"scope\":\"refresh\",\"access_token_scope\":\"guest\",\"jti\":\"", "\",\"sid\":0" },
		/* sid a string */
		{ "\"scope\":\"refresh\",\"access_token_scope\":\"guest\",\"jti\":\"", "\",\"sid\":\"9\"" },
		/* sid missing */
		{ "\"scope\":\"refresh\",\"access_token_scope\":\"guest\",\"jti\":\"", "\"" },
	};
	/* The same template with valid values is accepted (the control). */
	p = xasprintf("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
		      "\"aud\":\"refresh\",\"nbf\":%lld,\"iat\":%lld,\"scope\":\"refresh\","
		      "\"access_token_scope\":\"guest\",\"jti\":\"%s\",\"sid\":9}",
		      sub, (long long)(T0 + 5000), r->kid, (long long)T0, (long long)T0, rc.jti);
	h = std_header(r);
	tok = forge(r, h, p);
	CHECK_INT(verify_refresh(&tc, ks, tok, T0 + 1, &(const char *){ NULL }), 0);
	free(tok);
	free(h);
	free(p);
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		p = xasprintf("{\"sub\":\"%s\",\"exp\":%lld,\"iss\":\"" ISSUER "\",\"kid\":\"%s\","
			      "\"aud\":\"refresh\",\"nbf\":%lld,\"iat\":%lld,%s%s%s}",
			      sub, (long long)(T0 + 5000), r->kid, (long long)T0, (long long)T0,
			      bad[i].before_jti, rc.jti, bad[i].after_jti);
		h = std_header(r);
		tok = forge(r, h, p);
		REJECTS_REFRESH(&tc, ks, tok, T0 + 1);
		free(tok);
		free(h);
		free(p);
	}
	free(access);
	free(refresh);
	keyset_put(ks);
}

TEST(rotate_now_keeps_old_key_verifiable)
{
	struct keyset *ks = keyset_get(rs_kr);
	const struct signing_key *old = keyset_signing_key(ks, KEY_USE_ACCESS, T0 + 50);
	char old_kid[64], old_rkid[64];
	snprintf(old_kid, sizeof old_kid, "%s", old->kid);
	snprintf(old_rkid, sizeof old_rkid, "%s",
		 keyset_signing_key(ks, KEY_USE_REFRESH, T0 + 50)->kid);
	char sub[37];
	new_sub(sub);
	char *before = NULL, *rbefore = NULL;
	int64_t exp;
	CHECK_INT(token_issue_access(&tc, ks, sub, SCOPE_GUEST, 0, T0 + 50, &before, &exp), 0);
	struct refresh_claims rc = { .access_scope = SCOPE_GUEST, .sid = 11, .exp = T0 + 9000 };
	snprintf(rc.sub, sizeof rc.sub, "%s", sub);
	CHECK_INT(token_new_jti(rc.jti), 0);
	CHECK_INT(token_issue_refresh(&tc, ks, &rc, T0 + 50, &rbefore), 0);

	CHECK_INT(keyring_rotate_now(rs_kr, T0 + 60), 0);
	/* A reference taken before the rotation stays valid and unchanged. */
	CHECK(keyset_find(ks, old_kid, strlen(old_kid), KEY_USE_ACCESS) == old);
	keyset_put(ks);

	ks = keyset_get(rs_kr);
	const struct signing_key *cur = keyset_signing_key(ks, KEY_USE_ACCESS, T0 + 60);
	const struct signing_key *rcur = keyset_signing_key(ks, KEY_USE_REFRESH, T0 + 60);
	CHECK(cur && strcmp(cur->kid, old_kid) != 0);
	CHECK(cur && cur->alg == KEY_RS256);
	CHECK(rcur && strcmp(rcur->kid, old_rkid) != 0);
	/* Old tokens still verify; both keys are published. */
	CHECK_INT(verify_access(&tc, ks, before, T0 + 61, &(const char *){ NULL }), 0);
	CHECK_INT(verify_refresh(&tc, ks, rbefore, T0 + 61, &(const char *){ NULL }), 0);
	CHECK(strstr(ks->jwks, old_kid) != NULL);
	CHECK(cur && strstr(ks->jwks, cur->kid) != NULL);
	/* New tokens carry the new kid. */
	char *after = NULL;
	CHECK_INT(token_issue_access(&tc, ks, sub, SCOPE_GUEST, 0, T0 + 60, &after, &exp), 0);
	CHECK(cur && strcmp(header_kid(after), cur->kid) == 0);
	CHECK_INT(verify_access(&tc, ks, after, T0 + 61, &(const char *){ NULL }), 0);
	free(after);
	free(before);
	free(rbefore);
	keyset_put(ks);
}

/* ---- ES256 ---- */

TEST(es256_policy)
{
	struct store *st = open_store();
	struct key_policy p = policy(KEY_ES256);
	struct keyring *kr = keyring_new(st, &p);
	CHECK_INT(keyring_maintain(kr, T0, NULL), 0);
	struct keyset *ks = keyset_get(kr);
	const struct signing_key *a = keyset_signing_key(ks, KEY_USE_ACCESS, T0);
	CHECK(a && a->alg == KEY_ES256 && EVP_PKEY_is_a(a->pkey, "EC"));
	CHECK_STR(ks->algs_json, "[\"ES256\"]");
	CHECK(strstr(ks->jwks, "\"P-256\"") && strstr(ks->jwks, "\"x\"") &&
	      strstr(ks->jwks, "\"y\"") && !strstr(ks->jwks, "\"d\""));

	char sub[37];
	new_sub(sub);
	for (int i = 0; i < 20; i++) {
		char *tok = NULL;
		int64_t exp;
		CHECK_INT(token_issue_access(&tc, ks, sub, SCOPE_GUEST, 0, T0 + i, &tok, &exp), 0);
		/* Raw r||s, 64 bytes: never DER (RFC 7518 3.4). */
		CHECK_INT(sig_len(tok), 64);
		struct access_claims c;
		CHECK_INT(token_verify_access(&tc, ks, tok, strlen(tok), T0 + i, &c, NULL), 0);
		CHECK_STR(c.sub, sub);
		free(tok);
	}

	/* A DER-encoded signature by the right key is not a JWS signature. */
	char *h = std_header(a), *pl = access_payload(a->kid, sub, T0, T0 + 900);
	char *input = fixture_jws_input(h, pl);
	unsigned char sig[256];
	size_t n = sign_raw(a, input, sig, true);
	CHECK(n > 64);
	char *tok = fixture_jws_with_sig(input, sig, n);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	/* The raw form of the same is accepted; flipping s is not. */
	n = sign_raw(a, input, sig, false);
	tok = fixture_jws_with_sig(input, sig, n);
	CHECK_INT(verify_access(&tc, ks, tok, T0 + 1, &(const char *){ NULL }), 0);
	free(tok);
	sig[63] ^= 1;
	tok = fixture_jws_with_sig(input, sig, n);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	/* All-zero r and s. */
	memset(sig, 0, 64);
	tok = fixture_jws_with_sig(input, sig, 64);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	/* alg none and HS256 against an EC key too. */
	free(h);
	h = xasprintf("{\"alg\":\"none\",\"kid\":\"%s\"}", a->kid);
	free(input);
	input = fixture_jws_input(h, pl);
	tok = xasprintf("%s.", input);
	REJECTS_ACCESS(&tc, ks, tok, T0 + 1);
	free(tok);
	free(h);
	free(input);
	free(pl);
	keyset_put(ks);
	keyring_free(kr);
	store_close(st);
}

TEST(signing_alg_change_switches_at_once)
{
	struct store *st = open_store();
	struct key_policy p = policy(KEY_ES256);
	struct keyring *kr = keyring_new(st, &p);
	CHECK_INT(keyring_maintain(kr, T0, NULL), 0);
	struct keyset *ks = keyset_get(kr);
	char sub[37];
	new_sub(sub);
	char *es_tok = NULL;
	int64_t exp;
	CHECK_INT(token_issue_access(&tc, ks, sub, SCOPE_GUEST, 0, T0, &es_tok, &exp), 0);
	keyset_put(ks);

	p = policy(KEY_RS256);
	keyring_set_policy(kr, &p);
	bool changed = false;
	CHECK_INT(keyring_maintain(kr, T0 + 30, &changed), 0);
	CHECK(changed);
	ks = keyset_get(kr);
	const struct signing_key *a = keyset_signing_key(ks, KEY_USE_ACCESS, T0 + 30);
	CHECK(a && a->alg == KEY_RS256);
	CHECK(strstr(ks->algs_json, "\"RS256\"") && strstr(ks->algs_json, "\"ES256\""));
	/* The ES256 token issued before the switch still verifies. */
	CHECK_INT(verify_access(&tc, ks, es_tok, T0 + 31, &(const char *){ NULL }), 0);
	keyset_put(ks);
	CHECK_INT(keyring_maintain(kr, T0 + 31, &changed), 0);
	CHECK(!changed);
	free(es_tok);
	keyring_free(kr);
	store_close(st);
}

TEST(reload_refuses_unusable_keys)
{
	/*
	 * A damaged or mislabelled row makes the reload fail (the daemon then
	 * refuses to start), and the key set in use stays as it was.
	 */
	struct store *st = open_store();
	struct key_policy p = policy(KEY_ES256);
	struct keyring *kr = keyring_new(st, &p);
	CHECK_INT(keyring_maintain(kr, T0, NULL), 0);
	struct keyset *ks = keyset_get(kr);
	const struct signing_key *good = keyset_signing_key(ks, KEY_USE_ACCESS, T0);
	char good_kid[64];
	snprintf(good_kid, sizeof good_kid, "%s", good->kid);
	/* The good key's PEM, relabelled as RSA. */
	struct store_key *sk;
	size_t n;
	CHECK_INT(store_keys_list(st, &sk, &n), 0);
	unsigned char *ec_pem = NULL;
	size_t ec_len = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(sk[i].kid, good_kid) == 0) {
			ec_pem = xmalloc(sk[i].material_len);
			memcpy(ec_pem, sk[i].material, sk[i].material_len);
			ec_len = sk[i].material_len;
		}
	store_keys_free(sk, n);
	keyset_put(ks);
	CHECK(ec_pem != NULL);

	static const char garbage[] = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
	unsigned char short_secret[16] = { 1 };
	struct store_key bad[] = {
		{ "bad-garbage", "access", "RS256", (unsigned char *)garbage, sizeof garbage - 1,
		  T0, T0 + 10, 0 },
		{ "bad-type", "access", "RS256", ec_pem, ec_len, T0, T0 + 11, 0 },
		{ "bad-alg", "access", "HS256", short_secret, 16, T0, T0 + 12, 0 },
		{ "bad-unknown-alg", "access", "XX999", ec_pem, ec_len, T0, T0 + 13, 0 },
		{ "bad-short", "refresh", "HS256", short_secret, 16, T0, T0 + 14, 0 },
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++)
		CHECK_INT(store_key_insert(st, &bad[i]), 0);
	CHECK_INT(keyring_reload(kr), GH_EINTERNAL);
	ks = keyset_get(kr);
	CHECK_INT(ks->n, 2);
	const struct signing_key *a = keyset_signing_key(ks, KEY_USE_ACCESS, T0 + 20);
	CHECK(a && strcmp(a->kid, good_kid) == 0);
	CHECK(keyset_signing_key(ks, KEY_USE_REFRESH, T0 + 20) != NULL);
	CHECK(strstr(ks->jwks, "bad-") == NULL);
	char sub[37];
	new_sub(sub);
	char *tok = NULL;
	int64_t exp;
	CHECK_INT(token_issue_access(&tc, ks, sub, SCOPE_GUEST, 0, T0 + 20, &tok, &exp), 0);
	CHECK_INT(verify_access(&tc, ks, tok, T0 + 21, &(const char *){ NULL }), 0);
	free(tok);
	keyset_put(ks);
	free(ec_pem);
	keyring_free(kr);
	store_close(st);
}

/* ---- timed rotation ---- */

static bool has_kid(const struct keyset *ks, const char *kid)
{
	return keyset_find(ks, kid, strlen(kid), KEY_USE_ACCESS) != NULL;
}

TEST(timed_rotation)
{
	struct store *st = open_store();
	struct key_policy p = {
		.access_alg = KEY_ES256, .rotation_interval = 100, .prepublish = 40,
		.access_token_ttl = 60, .refresh_token_ttl = 1000,
	};
	struct token_config tc60;
	token_config_init(&tc60, ISSUER, 60);
	struct keyring *kr = keyring_new(st, &p);
	bool changed = false;
	const int64_t now = T0;

	CHECK_INT(keyring_maintain(kr, now, &changed), 0);
	CHECK(changed);
	struct keyset *ks = keyset_get(kr);
	CHECK_INT(count_use(ks, KEY_USE_ACCESS), 1);
	char a_kid[64], r_kid[64];
	snprintf(a_kid, sizeof a_kid, "%s", keyset_signing_key(ks, KEY_USE_ACCESS, now)->kid);
	snprintf(r_kid, sizeof r_kid, "%s", keyset_signing_key(ks, KEY_USE_REFRESH, now)->kid);
	keyset_put(ks);

	/* Not yet due for pre-publication. */
	CHECK_INT(keyring_maintain(kr, now + 59, &changed), 0);
	CHECK(!changed);
	ks = keyset_get(kr);
	CHECK_INT(count_use(ks, KEY_USE_ACCESS), 1);
	keyset_put(ks);

	/* At activate_at + interval - prepublish, the next key is published. */
	CHECK_INT(keyring_maintain(kr, now + 60, &changed), 0);
	CHECK(changed);
	ks = keyset_get(kr);
	CHECK_INT(count_use(ks, KEY_USE_ACCESS), 2);
	const struct signing_key *next = NULL;
	for (size_t i = 0; i < ks->n; i++)
		if (ks->keys[i].use == KEY_USE_ACCESS && strcmp(ks->keys[i].kid, a_kid) != 0)
			next = &ks->keys[i];
	CHECK(next != NULL);
	char b_kid[64] = "";
	if (next) {
		snprintf(b_kid, sizeof b_kid, "%s", next->kid);
		CHECK_INT(next->activate_at, now + 100);
		CHECK(strstr(ks->jwks, b_kid) != NULL); /* verifiers can fetch it already */
	}
	/* ... but does not sign yet. */
	const struct signing_key *s60 = keyset_signing_key(ks, KEY_USE_ACCESS, now + 60);
	CHECK(s60 && strcmp(s60->kid, a_kid) == 0);
	CHECK(keyset_signing_key(ks, KEY_USE_ACCESS, now + 99) &&
	      strcmp(keyset_signing_key(ks, KEY_USE_ACCESS, now + 99)->kid, a_kid) == 0);
	char sub[37];
	new_sub(sub);
	char *tok_a = NULL, *tok_r = NULL;
	int64_t exp;
	CHECK_INT(token_issue_access(&tc60, ks, sub, SCOPE_GUEST, 0, now + 99, &tok_a, &exp), 0);
	CHECK_STR(header_kid(tok_a), a_kid);
	struct refresh_claims rc = { .access_scope = SCOPE_GUEST, .sid = 1, .exp = now + 900 };
	snprintf(rc.sub, sizeof rc.sub, "%s", sub);
	CHECK_INT(token_new_jti(rc.jti), 0);
	CHECK_INT(token_issue_refresh(&tc60, ks, &rc, now + 99, &tok_r), 0);
	CHECK_STR(header_kid(tok_r), r_kid);
	keyset_put(ks);

	CHECK_INT(keyring_maintain(kr, now + 99, &changed), 0);
	CHECK(!changed);

	/* At activate_at the new key signs. */
	CHECK_INT(keyring_maintain(kr, now + 100, &changed), 0);
	ks = keyset_get(kr);
	const struct signing_key *s100 = keyset_signing_key(ks, KEY_USE_ACCESS, now + 100);
	CHECK(s100 && strcmp(s100->kid, b_kid) == 0);
	char *tok_b = NULL;
	CHECK_INT(token_issue_access(&tc60, ks, sub, SCOPE_GUEST, 0, now + 100, &tok_b, &exp), 0);
	CHECK_STR(header_kid(tok_b), b_kid);
	/* The refresh key rotated too (no pre-publication for an internal key)... */
	const struct signing_key *r100 = keyset_signing_key(ks, KEY_USE_REFRESH, now + 100);
	CHECK(r100 && strcmp(r100->kid, r_kid) != 0);
	/* ... and tokens of the old keys still verify. */
	CHECK_INT(verify_access(&tc60, ks, tok_a, now + 100, &(const char *){ NULL }), 0);
	CHECK_INT(verify_refresh(&tc60, ks, tok_r, now + 100, &(const char *){ NULL }), 0);
	keyset_put(ks);

	/* The old access key lives while a token it signed can: up to now+99+60. */
	CHECK_INT(keyring_maintain(kr, now + 158, &changed), 0);
	ks = keyset_get(kr);
	CHECK(has_kid(ks, a_kid));
	CHECK_INT(verify_access(&tc60, ks, tok_a, now + 158, &(const char *){ NULL }), 0);
	keyset_put(ks);

	/* superseded_at (now+100) + access_ttl (60) + margin (60): still kept. */
	CHECK_INT(keyring_maintain(kr, now + 220, &changed), 0);
	ks = keyset_get(kr);
	CHECK(has_kid(ks, a_kid));
	keyset_put(ks);

	/* After that, deleted from the key set, the JWKS and the store. */
	CHECK_INT(keyring_maintain(kr, now + 221, &changed), 0);
	CHECK(changed);
	ks = keyset_get(kr);
	CHECK(!has_kid(ks, a_kid));
	CHECK(strstr(ks->jwks, a_kid) == NULL);
	CHECK(has_kid(ks, b_kid));
	/* The refresh key is kept for the refresh lifetime, so the token verifies. */
	CHECK(keyset_find(ks, r_kid, strlen(r_kid), KEY_USE_REFRESH) != NULL);
	CHECK_INT(verify_refresh(&tc60, ks, tok_r, now + 221, &(const char *){ NULL }), 0);
	CHECK_INT(verify_access(&tc60, ks, tok_b, now + 159, &(const char *){ NULL }), 0);
	keyset_put(ks);
	struct store_key *sk;
	size_t n;
	CHECK_INT(store_keys_list(st, &sk, &n), 0);
	for (size_t i = 0; i < n; i++)
		CHECK(strcmp(sk[i].kid, a_kid) != 0);
	store_keys_free(sk, n);

	/* Rotation carries on: the key after B has been published by now. */
	ks = keyset_get(kr);
	CHECK(count_use(ks, KEY_USE_ACCESS) >= 2);
	const struct signing_key *s221 = keyset_signing_key(ks, KEY_USE_ACCESS, now + 221);
	CHECK(s221 != NULL);
	keyset_put(ks);

	free(tok_a);
	free(tok_b);
	free(tok_r);
	token_config_release(&tc60);
	keyring_free(kr);
	store_close(st);
}

TEST(rotate_now_drops_pending_key)
{
	struct store *st = open_store();
	struct key_policy p = {
		.access_alg = KEY_ES256, .rotation_interval = 100, .prepublish = 40,
		.access_token_ttl = 60, .refresh_token_ttl = 1000,
	};
	struct keyring *kr = keyring_new(st, &p);
	CHECK_INT(keyring_maintain(kr, T0, NULL), 0);
	CHECK_INT(keyring_maintain(kr, T0 + 60, NULL), 0);
	struct keyset *ks = keyset_get(kr);
	CHECK_INT(count_use(ks, KEY_USE_ACCESS), 2);
	char a_kid[64], pending[64] = "";
	snprintf(a_kid, sizeof a_kid, "%s", keyset_signing_key(ks, KEY_USE_ACCESS, T0 + 60)->kid);
	for (size_t i = 0; i < ks->n; i++)
		if (ks->keys[i].use == KEY_USE_ACCESS && ks->keys[i].activate_at > T0 + 60)
			snprintf(pending, sizeof pending, "%s", ks->keys[i].kid);
	CHECK(pending[0] != '\0');
	keyset_put(ks);

	CHECK_INT(keyring_rotate_now(kr, T0 + 70), 0);
	ks = keyset_get(kr);
	const struct signing_key *cur = keyset_signing_key(ks, KEY_USE_ACCESS, T0 + 70);
	CHECK(cur && strcmp(cur->kid, a_kid) != 0 && strcmp(cur->kid, pending) != 0);
	CHECK(!has_kid(ks, pending));
	CHECK(has_kid(ks, a_kid));
	/* The emergency key keeps signing after the dropped key's time. */
	const struct signing_key *later = keyset_signing_key(ks, KEY_USE_ACCESS, T0 + 100);
	CHECK(cur && later && strcmp(later->kid, cur->kid) == 0);
	keyset_put(ks);
	keyring_free(kr);
	store_close(st);
}

/*
 * Two nodes on one database (two keyrings over one store): whoever rotates
 * first wins, the other reloads instead of making a second key; a forced
 * rotation signs only after key_propagation; a node meeting a kid it has
 * not loaded reloads once, and not again within 250 ms.
 */
TEST(two_nodes_share_keys)
{
	struct store *st = open_store();
	struct key_policy p = {
		.access_alg = KEY_ES256, .rotation_interval = 100, .prepublish = 40,
		.access_token_ttl = 60, .refresh_token_ttl = 1000, .propagation = 2,
	};
	struct keyring *a = keyring_new(st, &p), *b = keyring_new(st, &p);
	CHECK_INT(keyring_reload(a), 0);
	CHECK_INT(keyring_reload(b), 0);
	CHECK_INT(keyring_maintain(a, T0, NULL), 0);
	bool changed = false;
	CHECK_INT(keyring_maintain(b, T0, &changed), 0);   /* lost the race: loads a's keys */
	CHECK(changed);
	struct keyset *ka = keyset_get(a), *kb = keyset_get(b);
	CHECK_INT(count_use(kb, KEY_USE_ACCESS), 1);
	CHECK_INT(count_use(kb, KEY_USE_REFRESH), 1);
	CHECK_STR(keyset_signing_key(kb, KEY_USE_ACCESS, T0)->kid,
		  keyset_signing_key(ka, KEY_USE_ACCESS, T0)->kid);
	keyset_put(ka);
	keyset_put(kb);
	/* Timed rotation due on both at once: one next key. */
	CHECK_INT(keyring_maintain(a, T0 + 60, NULL), 0);
	CHECK_INT(keyring_maintain(b, T0 + 60, NULL), 0);
	kb = keyset_get(b);
	CHECK_INT(count_use(kb, KEY_USE_ACCESS), 2);
	keyset_put(kb);
	struct store_key *sk;
	size_t n;
	CHECK_INT(store_keys_list(st, &sk, &n), 0);
	CHECK_INT(n, 3);
	store_keys_free(sk, n);

	/* A forced rotation on a: the new key signs key_propagation later. */
	ka = keyset_get(a);
	char before[64];
	snprintf(before, sizeof before, "%s", keyset_signing_key(ka, KEY_USE_ACCESS, T0 + 70)->kid);
	keyset_put(ka);
	CHECK_INT(keyring_rotate_now(a, T0 + 70), 0);
	ka = keyset_get(a);
	CHECK_STR(keyset_signing_key(ka, KEY_USE_ACCESS, T0 + 71)->kid, before);
	const struct signing_key *fresh = keyset_signing_key(ka, KEY_USE_ACCESS, T0 + 200);
	CHECK(fresh && strcmp(fresh->kid, before) != 0 && fresh->activate_at >= T0 + 72);
	char fresh_kid[64];
	snprintf(fresh_kid, sizeof fresh_kid, "%s", fresh ? fresh->kid : "");
	keyset_put(ka);

	/* b has not polled: a token under the new kid makes it reload, once. */
	kb = keyset_get(b);
	CHECK(!keyset_find(kb, fresh_kid, strlen(fresh_kid), KEY_USE_ACCESS));
	CHECK(keyring_reload_unknown(b, kb));
	keyset_put(kb);
	kb = keyset_get(b);
	CHECK(keyset_find(kb, fresh_kid, strlen(fresh_kid), KEY_USE_ACCESS) != NULL);
	CHECK(!keyring_reload_unknown(b, kb));   /* a forged kid right after: no reload */
	keyset_put(kb);
	keyring_free(a);
	keyring_free(b);
	store_close(st);
}

int main(void)
{
	log_configure(LOG_ERROR, LOG_FORMAT_TEXT);
	fixture_tmpdir(tmp_dir, sizeof tmp_dir, "keys");
	token_config_init(&tc, ISSUER, ACCESS_TTL);

	RUN(first_maintain_creates_keys);
	RUN(access_round_trip);
	RUN(refresh_round_trip);
	RUN(forged_control_token_is_accepted);
	RUN(attack_alg_none);
	RUN(attack_hs256_with_public_key);
	RUN(attack_kid);
	RUN(attack_tampering);
	RUN(attack_truncated);
	RUN(attack_oversize);
	RUN(attack_claims);
	RUN(unknown_scope_verifies_as_other);
	RUN(attack_time_and_issuer);
	RUN(attack_token_type_confusion);
	RUN(rotate_now_keeps_old_key_verifiable);
	RUN(es256_policy);
	RUN(signing_alg_change_switches_at_once);
	RUN(reload_refuses_unusable_keys);
	RUN(timed_rotation);
	RUN(rotate_now_drops_pending_key);
	RUN(two_nodes_share_keys);

	keyring_free(rs_kr);
	store_close(rs_store);
	token_config_release(&tc);
	fixture_rmdir(tmp_dir);
	return REPORT();
}
