/*
 * token.c - JWS compact tokens on OpenSSL EVP: building and signing access
 * and refresh tokens, and verifying them with the algorithm pinned to the
 * key named by kid. Every OpenSSL context is created per call, so no context
 * is ever re-initialised with another key (the OpenSSL 3.0 pitfall).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gatehouse/keyring.h"
#include "gatehouse/token.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/random.h"
#include "gatehouse/digest.h"
#include "gatehouse/encoding.h"
#include "gatehouse/jsoncheck.h"
#include "gatehouse/banned.h"

static const char *const scope_names[] = { "guest", "authenticated" };

const char *token_scope_name(int scope)
{
	return scope_names[scope == SCOPE_AUTHENTICATED ? 1 : 0];
}

int token_scope_parse(const char *s, size_t len)
{
	for (int i = 0; i < 2; i++)
		if (strlen(scope_names[i]) == len && memcmp(s, scope_names[i], len) == 0)
			return i;
	return -1;
}

void token_config_init(struct token_config *cfg, const char *issuer, int64_t access_ttl)
{
	struct strbuf sb = STRBUF_INIT;
	sb_add_json_str(&sb, issuer);
	cfg->issuer = xstrdup(issuer);
	cfg->issuer_json = sb_detach(&sb, NULL);
	cfg->access_ttl = access_ttl;
}

void token_config_release(struct token_config *cfg)
{
	free(cfg->issuer);
	free(cfg->issuer_json);
	cfg->issuer = cfg->issuer_json = NULL;
}

int token_new_jti(char out[JTI_LEN + 1])
{
	unsigned char b[16];
	if (gh_random(b, sizeof b))
		return GH_EUNAVAIL;
	gh_b64url_encode(b, sizeof b, out);
	return 0;
}

/* ---- signing ---- */

/* ECDSA signatures travel as raw r||s (RFC 7518 3.4), OpenSSL speaks DER. */
static int der_to_raw(const unsigned char *der, size_t len, unsigned char raw[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	if (!sig)
		return -1;
	const BIGNUM *r, *s;
	ECDSA_SIG_get0(sig, &r, &s);
	int ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
	ECDSA_SIG_free(sig);
	return ok ? 0 : -1;
}

static int raw_to_der(const unsigned char raw[64], unsigned char **der, int *der_len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
	if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return -1;
	}
	*der = NULL;
	*der_len = i2d_ECDSA_SIG(sig, der);
	ECDSA_SIG_free(sig);
	return *der_len > 0 ? 0 : -1;
}

/* HMAC-SHA256 of data with k's secret, from its prepared context when it has one. 0 or -1. */
static int hmac_sha256(const struct signing_key *k, const char *data, size_t len,
		       unsigned char out[32])
{
	if (k->mac_ctx) {
		EVP_MAC_CTX *c = EVP_MAC_CTX_dup(k->mac_ctx);
		size_t n = 0;
		int ok = c && EVP_MAC_update(c, (const unsigned char *)data, len) == 1 &&
			 EVP_MAC_final(c, out, &n, 32) == 1 && n == 32;
		EVP_MAC_CTX_free(c);
		return ok ? 0 : -1;
	}
	unsigned int n = 0;
	return HMAC(gh_sha256_md(), k->secret, sizeof k->secret, (const unsigned char *)data, len,
		    out, &n) && n == 32 ? 0 : -1;
}

/* Signs data with k; writes the raw JWS signature into sig (>= 512 bytes). */
static int sign_bytes(const struct signing_key *k, const char *data, size_t len,
		      unsigned char *sig, size_t *sig_len)
{
	if (k->alg == KEY_HS256) {
		if (hmac_sha256(k, data, len, sig))
			return GH_EINTERNAL;
		*sig_len = 32;
		return 0;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char der[80];
	size_t n = k->alg == KEY_ES256 ? sizeof der : 512;
	int rc = GH_EINTERNAL;
	/* From the key's prepared context; copies are independent, the template is only read. */
	if (!ctx || (k->sign_ctx ? EVP_MD_CTX_copy_ex(ctx, k->sign_ctx) :
		     EVP_DigestSignInit(ctx, NULL, gh_sha256_md(), NULL, k->pkey)) != 1)
		goto out;
	if (EVP_DigestSign(ctx, k->alg == KEY_ES256 ? der : sig, &n,
			   (const unsigned char *)data, len) != 1)
		goto out;
	if (k->alg == KEY_ES256) {
		if (der_to_raw(der, n, sig))
			goto out;
		n = 64;
	}
	*sig_len = n;
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* Assembles header.payload.signature for the claims JSON in payload. */
static int assemble(const struct signing_key *k, const char *payload, size_t plen, char **out)
{
	char header[128];
	int hlen = snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
			    keyring_alg_name(k->alg), k->kid);
	if (hlen < 0 || (size_t)hlen >= sizeof header)
		return GH_EINTERNAL;
	size_t h64 = gh_b64url_encoded_len((size_t)hlen), p64 = gh_b64url_encoded_len(plen);
	char *tok = xmalloc(h64 + 1 + p64 + 1 + 700);
	gh_b64url_encode(header, (size_t)hlen, tok);
	tok[h64] = '.';
	gh_b64url_encode(payload, plen, tok + h64 + 1);
	size_t signed_len = h64 + 1 + p64;
	unsigned char sig[512];
	size_t sig_len = 0;
	int rc = sign_bytes(k, tok, signed_len, sig, &sig_len);
	if (rc || gh_b64url_encoded_len(sig_len) > 690) {
		free(tok);
		return rc ? rc : GH_EINTERNAL;
	}
	tok[signed_len] = '.';
	gh_b64url_encode(sig, sig_len, tok + signed_len + 1);
	*out = tok;
	return 0;
}

int token_issue_access(const struct token_config *cfg, const struct keyset *ks, const char *sub,
		       int scope, int64_t sid, int64_t now, char **out, int64_t *out_exp)
{
	*out = NULL;
	const struct signing_key *k = keyset_signing_key(ks, KEY_USE_ACCESS, now);
	if (!k)
		return GH_EUNAVAIL;
	int64_t exp = now + cfg->access_ttl;
	struct strbuf p = STRBUF_INIT;
	/* Claim order follows upstream (PyJWT keeps insertion order). */
	sb_addf(&p, "{\"sub\":\"%s\",\"exp\":%lld,\"iss\":", sub, (long long)exp);
	sb_adds(&p, cfg->issuer_json);
	sb_addf(&p, ",\"kid\":\"%s\",\"aud\":\"gamebackend\",\"nbf\":%lld,\"iat\":%lld,"
		"\"scope\":\"%s\"", k->kid, (long long)now, (long long)now,
		token_scope_name(scope));
	/* Stock verifiers ignore claims they do not know; gatehouse checks the session. */
	if (sid > 0)
		sb_addf(&p, ",\"sid\":%lld", (long long)sid);
	sb_adds(&p, "}");
	int rc = assemble(k, p.buf, p.len, out);
	sb_release(&p);
	*out_exp = exp;
	return rc;
}

int token_issue_refresh(const struct token_config *cfg, const struct keyset *ks,
			const struct refresh_claims *c, int64_t now, char **out)
{
	*out = NULL;
	const struct signing_key *k = keyset_signing_key(ks, KEY_USE_REFRESH, now);
	if (!k)
		return GH_EUNAVAIL;
	struct strbuf p = STRBUF_INIT;
	sb_addf(&p, "{\"sub\":\"%s\",\"exp\":%lld,\"iss\":", c->sub, (long long)c->exp);
	sb_adds(&p, cfg->issuer_json);
	sb_addf(&p, ",\"kid\":\"%s\",\"aud\":\"refresh\",\"nbf\":%lld,\"iat\":%lld,"
		"\"scope\":\"refresh\",\"access_token_scope\":\"%s\",\"jti\":\"%s\",\"sid\":%lld}",
		k->kid, (long long)now, (long long)now, token_scope_name(c->access_scope), c->jti,
		(long long)c->sid);
	int rc = assemble(k, p.buf, p.len, out);
	sb_release(&p);
	return rc;
}

/* ---- verification ---- */

#define FAIL(reason)                                                          \
	do {                                                                  \
		*why = (reason);                                              \
		goto out;                                                     \
	} while (0)

/* Decodes one base64url segment and parses it as a JSON object. */
static json_t *decode_json(const char *seg, size_t len, size_t max)
{
	unsigned char buf[TOKEN_MAX_LEN];
	size_t n = sizeof buf;
	if (len == 0 || len > max || gh_b64url_decode(seg, len, buf, &n))
		return NULL;
	/* A header or claims as this daemon writes them: read without jansson's lexer. */
	json_t *j = json_load_flat((const char *)buf, n);
	if (!j)
		j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Checks a JWS signature of alg (RS256 or ES256) with pkey. 0 or -1. */
static int verify_sig(int alg, EVP_PKEY *pkey, const char *data, size_t len,
		      const unsigned char *sig, size_t sig_len)
{
	unsigned char *der = NULL;
	int der_len = 0;
	if (alg == KEY_ES256) {
		if (sig_len != 64 || raw_to_der(sig, &der, &der_len))
			return -1;
	} else if (sig_len != (size_t)EVP_PKEY_get_size(pkey)) {
		return -1;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, gh_sha256_md(), NULL, pkey) == 1 &&
		 EVP_DigestVerify(ctx, der ? der : sig, der ? (size_t)der_len : sig_len,
				  (const unsigned char *)data, len) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok ? 0 : -1;
}

static int verify_signature(const struct signing_key *k, const char *data, size_t len,
			    const unsigned char *sig, size_t sig_len)
{
	if (k->alg == KEY_HS256) {
		unsigned char mac[32];
		if (sig_len != 32 || hmac_sha256(k, data, len, mac))
			return -1;
		return CRYPTO_memcmp(mac, sig, 32) == 0 ? 0 : -1;
	}
	return verify_sig(k->alg, k->pkey, data, len, sig, sig_len);
}

static bool get_int(json_t *obj, const char *name, int64_t *out)
{
	json_t *v = json_object_get(obj, name);
	if (!json_is_integer(v))
		return false;
	*out = json_integer_value(v);
	return true;
}

static bool str_is(json_t *obj, const char *name, const char *want)
{
	const char *s = json_string_value(json_object_get(obj, name));
	return s && strcmp(s, want) == 0;
}

/*
 * The checks shared by both token types: structure, header, key by kid,
 * pinned algorithm, signature, and the time, issuer, audience, scope and
 * subject claims. On success *claims holds the payload (caller decrefs).
 */
static int verify_common(const struct token_config *cfg, const struct keyset *ks,
			 const char *tok, size_t len, int64_t now, int use, json_t **claims,
			 char sub[37], const char **why)
{
	json_t *hdr = NULL, *pl = NULL;
	int rc = GH_EAUTH;
	*claims = NULL;
	if (len == 0 || len > TOKEN_MAX_LEN)
		FAIL("length");
	const char *d1 = memchr(tok, '.', len);
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
		FAIL("not three segments");

	hdr = decode_json(tok, (size_t)(d1 - tok), 1024);
	if (!hdr)
		FAIL("bad header");
	const char *alg = json_string_value(json_object_get(hdr, "alg"));
	json_t *kid = json_object_get(hdr, "kid");
	json_t *typ = json_object_get(hdr, "typ");
	if (!alg || !json_is_string(kid))
		FAIL("header lacks alg or kid");
	if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
		FAIL("bad typ");
	if (json_object_get(hdr, "crit"))
		FAIL("crit header");
	const struct signing_key *k =
		keyset_find(ks, json_string_value(kid), json_string_length(kid), use);
	if (!k)
		FAIL(TOKEN_WHY_UNKNOWN_KID);
	/* The key decides the algorithm; the header must merely agree, exactly. */
	if (strcmp(alg, keyring_alg_name(k->alg)) != 0)
		FAIL("alg does not match key");

	size_t slen = len - (size_t)(d2 + 1 - tok);
	unsigned char sig[512];
	size_t sig_n = sizeof sig;
	if (slen == 0 || gh_b64url_decode(d2 + 1, slen, sig, &sig_n))
		FAIL("bad signature encoding");
	if (verify_signature(k, tok, (size_t)(d2 - tok), sig, sig_n))
		FAIL("bad signature");

	pl = decode_json(d1 + 1, (size_t)(d2 - d1 - 1), TOKEN_MAX_LEN);
	if (!pl)
		FAIL("bad payload");
	int64_t exp, nbf, iat;
	if (!get_int(pl, "exp", &exp))
		FAIL("no exp");
	if (!get_int(pl, "nbf", &nbf) || !get_int(pl, "iat", &iat))
		FAIL("no nbf or iat");
	if (now >= exp)
		FAIL("expired");
	if (nbf > now)
		FAIL("not yet valid");
	if (!str_is(pl, "iss", cfg->issuer))
		FAIL("wrong issuer");
	const char *want_aud = use == KEY_USE_ACCESS ? "gamebackend" : "refresh";
	if (!str_is(pl, "aud", want_aud))
		FAIL("wrong audience");
	json_t *pkid = json_object_get(pl, "kid");
	if (pkid && !(json_is_string(pkid) && json_equal(pkid, kid)))
		FAIL("payload kid differs");
	json_t *js = json_object_get(pl, "sub");
	if (!json_is_string(js) || !gh_is_uuid(json_string_value(js), json_string_length(js)))
		FAIL("bad sub");
	memcpy(sub, json_string_value(js), 37);
	*claims = pl;
	pl = NULL;
	rc = 0;
	*why = NULL;
out:
	json_decref(hdr);
	json_decref(pl);
	return rc;
}

int token_verify_access(const struct token_config *cfg, const struct keyset *ks,
			const char *token, size_t len, int64_t now, struct access_claims *out,
			const char **why)
{
	const char *reason = NULL;
	json_t *c = NULL;
	memset(out, 0, sizeof *out);
	int rc = verify_common(cfg, ks, token, len, now, KEY_USE_ACCESS, &c, out->sub, &reason);
	if (!rc) {
		json_t *scope = json_object_get(c, "scope");
		out->scope = json_is_string(scope) ?
			     token_scope_parse(json_string_value(scope), json_string_length(scope)) :
			     SCOPE_OTHER;
		get_int(c, "iat", &out->iat);
		get_int(c, "exp", &out->exp);
		/* Optional (tokens signed before it existed), but never malformed. */
		if (json_object_get(c, "sid") && (!get_int(c, "sid", &out->sid) || out->sid <= 0)) {
			reason = "bad sid";
			rc = GH_EAUTH;
		}
	}
	json_decref(c);
	if (why)
		*why = reason;
	return rc;
}

int token_verify_refresh(const struct token_config *cfg, const struct keyset *ks,
			 const char *token, size_t len, int64_t now, struct refresh_claims *out,
			 const char **why)
{
	const char *reason = NULL;
	json_t *c = NULL;
	memset(out, 0, sizeof *out);
	int rc = verify_common(cfg, ks, token, len, now, KEY_USE_REFRESH, &c, out->sub, &reason);
	if (!rc) {
		json_t *as = json_object_get(c, "access_token_scope");
		json_t *jti = json_object_get(c, "jti");
		out->access_scope = json_is_string(as) ?
			token_scope_parse(json_string_value(as), json_string_length(as)) : -1;
		if (!str_is(c, "scope", "refresh")) {
			reason = "bad scope";
			rc = GH_EAUTH;
		} else if (out->access_scope < 0) {
			reason = "bad access_token_scope";
			rc = GH_EAUTH;
		} else if (!json_is_string(jti) || json_string_length(jti) != JTI_LEN) {
			reason = "bad jti";
			rc = GH_EAUTH;
		} else if (!get_int(c, "sid", &out->sid) || out->sid <= 0) {
			reason = "bad sid";
			rc = GH_EAUTH;
		} else {
			memcpy(out->jti, json_string_value(jti), JTI_LEN + 1);
			get_int(c, "exp", &out->exp);
		}
	}
	json_decref(c);
	if (why)
		*why = reason;
	return rc;
}

/* ---- tokens of other issuers (Apple, OIDC providers) ---- */

/* True when the aud claim (a string or an array) names one of the allowed. */
static bool audience_ok(json_t *aud, char *const *allowed)
{
	for (char *const *a = allowed; a && *a; a++) {
		if (json_is_string(aud) && !strcmp(json_string_value(aud), *a))
			return true;
		size_t i;
		json_t *v;
		json_array_foreach(aud, i, v)
			if (json_is_string(v) && !strcmp(json_string_value(v), *a))
				return true;
	}
	return false;
}

/* The key type an algorithm needs: RSA for RS256, P-256 for ES256. */
static bool key_fits(EVP_PKEY *pk, int alg)
{
	if (alg == KEY_RS256)
		return EVP_PKEY_is_a(pk, "RSA") && EVP_PKEY_get_bits(pk) >= 2048;
	char group[32] = "";
	size_t n = 0;
	return EVP_PKEY_is_a(pk, "EC") &&
	       EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof group, &n) &&
	       (!strcmp(group, "prime256v1") || !strcmp(group, "P-256"));
}

int token_verify_foreign(const char *tok, size_t len, const struct foreign_rules *rules,
			 token_key_lookup lookup, void *ctx, int64_t now, char *subject,
			 size_t subject_len, const char **why)
{
	json_t *hdr = NULL, *pl = NULL;
	EVP_PKEY *pk = NULL;
	const char *reason = NULL;
	int rc = GH_EAUTH;
	if (len == 0 || len > TOKEN_MAX_LEN) {
		reason = "length";
		goto out;
	}
	const char *d1 = memchr(tok, '.', len);
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok))) {
		reason = "not three segments";
		goto out;
	}
	hdr = decode_json(tok, (size_t)(d1 - tok), 1024);
	const char *alg_name = json_string_value(json_object_get(hdr, "alg"));
	const char *kid = json_string_value(json_object_get(hdr, "kid"));
	if (!hdr || !alg_name || !kid || json_object_get(hdr, "crit")) {
		reason = "bad header";
		goto out;
	}
	/* The algorithm must be one the provider is configured for, exactly. */
	int alg = -1;
	for (char *const *a = rules->algs; a && *a; a++)
		if (!strcmp(*a, alg_name))
			alg = keyring_alg_parse(alg_name);
	if (alg != KEY_RS256 && alg != KEY_ES256) {
		reason = "algorithm not allowed";
		goto out;
	}
	int key_alg = -1;
	rc = lookup(ctx, kid, &pk, &key_alg);
	if (rc) {
		reason = rc == GH_EUNAVAIL ? "key set unavailable" : "unknown kid";
		goto out;
	}
	rc = GH_EAUTH;
	if ((key_alg >= 0 && key_alg != alg) || !key_fits(pk, alg)) {
		reason = "alg does not match key";
		goto out;
	}
	size_t slen = len - (size_t)(d2 + 1 - tok);
	unsigned char sig[1024];
	size_t sig_n = sizeof sig;
	if (!slen || gh_b64url_decode(d2 + 1, slen, sig, &sig_n) ||
	    verify_sig(alg, pk, tok, (size_t)(d2 - tok), sig, sig_n)) {
		reason = "bad signature";
		goto out;
	}
	pl = decode_json(d1 + 1, (size_t)(d2 - d1 - 1), TOKEN_MAX_LEN);
	int64_t exp, t;
	if (!pl || !get_int(pl, "exp", &exp)) {
		reason = "no exp";
		goto out;
	}
	if (now - rules->leeway >= exp) { /* exp + leeway could overflow */
		reason = "expired";
		goto out;
	}
	if ((json_object_get(pl, "nbf") && (!get_int(pl, "nbf", &t) || t > now + rules->leeway)) ||
	    (json_object_get(pl, "iat") && (!get_int(pl, "iat", &t) || t > now + rules->leeway))) {
		reason = "not yet valid";
		goto out;
	}
	if (!str_is(pl, "iss", rules->issuer)) {
		reason = "wrong issuer";
		goto out;
	}
	if (!audience_ok(json_object_get(pl, "aud"), rules->audiences)) {
		reason = "wrong audience";
		goto out;
	}
	json_t *sub = json_object_get(pl, rules->subject_claim);
	if (!json_is_string(sub) || !json_string_length(sub) ||
	    json_string_length(sub) >= subject_len ||
	    !gh_utf8_valid(json_string_value(sub), json_string_length(sub))) {
		reason = "bad subject";
		goto out;
	}
	memcpy(subject, json_string_value(sub), json_string_length(sub) + 1);
	rc = 0;
out:
	EVP_PKEY_free(pk);
	json_decref(hdr);
	json_decref(pl);
	if (why)
		*why = reason;
	return rc;
}
