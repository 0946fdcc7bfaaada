/*
 * verify-token - how a C game server verifies gatehouse access tokens with
 * libjwt 1.10 (Debian 12's libjwt-dev), libcurl, jansson and OpenSSL 3.
 *
 *   verify-token [options] ISSUER TOKEN
 *   verify-token [options] --stdin ISSUER      (one token per line)
 *
 * The key set comes from the issuer's discovery document (jwks_uri), is kept
 * in memory, and is fetched again when a token names an unknown kid, at most
 * once per --refetch-interval. Each JWK becomes a PEM public key through
 * OpenSSL, and libjwt checks the signature. libjwt 1.10 takes the algorithm
 * from the token's header (an HS256 token keyed with the public PEM passes
 * jwt_decode) and checks no claim at all, so this program:
 *   - pins the algorithm to the key: the JWK's alg (RS256 or ES256, which
 *     must fit its kty) must equal the header's alg, before and after
 *     jwt_decode;
 *   - checks exp (required), nbf, iss (exact), aud ("gamebackend") and
 *     scope (guest or authenticated) itself, with duplicate claims refused.
 * Exit 0 with the verified claims as JSON on stdout, or 1 with the reason on
 * stderr (2 for usage errors). In --stdin mode, one line per token:
 * "ok <claims>" or "refused <reason>".
 *
 * Build: cc -o verify-token verify-token.c -ljwt -ljansson -lcurl -lcrypto
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#define MAX_TOKEN 8192          /* longer tokens are refused unread */
#define MAX_DOCUMENT (1 << 20)  /* discovery document and key set */
#define MAX_KEYS 32

struct key {
	char kid[128];
	jwt_alg_t alg;              /* pinned: RS256 or ES256 */
	char *pem;                  /* BEGIN PUBLIC KEY */
};

static struct {
	const char *issuer;
	const char *audience;
	char scopes[256];           /* comma-separated allowed scopes */
	long leeway;
	long refetch_interval;
	char *jwks_uri;
	struct key keys[MAX_KEYS];
	int nkeys;
	time_t last_refetch;        /* of an unknown-kid refetch; 0: none yet */
	bool verbose;
} V = { .audience = "gamebackend", .scopes = "guest,authenticated", .refetch_interval = 60 };

static const char usage[] =
	"usage: verify-token [options] ISSUER TOKEN\n"
	"       verify-token [options] --stdin ISSUER\n"
	"Verifies a gatehouse access token against the issuer's published keys.\n"
	"Exit 0 and the verified claims as JSON on stdout; exit 1 and the reason\n"
	"on stderr. With --stdin, one token per line, one answer per line:\n"
	"\"ok <claims>\" or \"refused <reason>\" (the key set stays cached).\n"
	"Options:\n"
	"  --audience AUD           required aud (default gamebackend)\n"
	"  --scope A,B              allowed scopes (default guest,authenticated)\n"
	"  --leeway SECONDS         clock leeway on exp and nbf (default 0)\n"
	"  --refetch-interval SECS  least time between key-set refetches on an\n"
	"                           unknown kid (default 60)\n"
	"  --verbose                say on stderr when the key set is fetched\n"
	"  --help                   this text\n";

/* ---- HTTP ---- */

struct buf {
	char *data;
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t add = size * n;
	if (b->len + add > MAX_DOCUMENT)
		return 0; /* too big: abort the transfer */
	char *d = realloc(b->data, b->len + add + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, p, add);
	b->data = d;
	b->len += add;
	d[b->len] = '\0';
	return add;
}

/* GETs url as a JSON object; NULL (and a reason in why) on any failure. */
static json_t *get_json(const char *url, const char **why)
{
	CURL *c = curl_easy_init();
	struct buf b = { NULL, 0 };
	json_t *j = NULL;
	long status = 0;
	if (!c) {
		*why = "cannot start libcurl";
		return NULL;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 2L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(c) != CURLE_OK) {
		*why = "cannot fetch the issuer's keys";
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200 || !b.data) {
		*why = "the issuer's key set is unavailable";
		goto out;
	}
	j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		j = NULL;
		*why = "the issuer sent a malformed document";
	}
out:
	free(b.data);
	curl_easy_cleanup(c);
	return j;
}

/* ---- JWK to PEM ---- */

static int b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap,
			 size_t *out_len)
{
	size_t padded = (len + 3) / 4 * 4;
	if (padded / 4 * 3 > cap || padded > 16384)
		return -1;
	char tmp[16384 + 1];
	for (size_t i = 0; i < len; i++) {
		char ch = in[i];
		if (ch == '-')
			ch = '+';
		else if (ch == '_')
			ch = '/';
		else if (ch == '+' || ch == '/' || ch == '=')
			return -1; /* not base64url */
		tmp[i] = ch;
	}
	for (size_t i = len; i < padded; i++)
		tmp[i] = '=';
	tmp[padded] = '\0';
	if (len % 4 == 1)
		return -1;
	int n = EVP_DecodeBlock(out, (const unsigned char *)tmp, (int)padded);
	if (n < 0)
		return -1;
	*out_len = (size_t)n - (padded - len); /* EVP_DecodeBlock counts the padding */
	return 0;
}

/* A member of jwk decoded from base64url into out. */
static int jwk_bytes(json_t *jwk, const char *name, unsigned char *out, size_t cap,
		     size_t *len)
{
	const char *s = json_string_value(json_object_get(jwk, name));
	return s ? b64url_decode(s, strlen(s), out, cap, len) : -1;
}

static char *pkey_to_pem(EVP_PKEY *pk)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL, *data;
	if (bio && PEM_write_bio_PUBKEY(bio, pk) == 1) {
		long n = BIO_get_mem_data(bio, &data);
		pem = n > 0 ? strndup(data, (size_t)n) : NULL;
	}
	BIO_free(bio);
	return pem;
}

/* The PEM public key of an RSA or P-256 JWK; NULL when it is neither. */
static char *jwk_to_pem(json_t *jwk, jwt_alg_t alg)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	unsigned char a[1024], b[1024];
	size_t alen, blen;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	BIGNUM *n = NULL, *e = NULL;
	char *pem = NULL;
	if (!bld || !kty)
		goto out;
	if (alg == JWT_ALG_RS256 && !strcmp(kty, "RSA")) {
		if (jwk_bytes(jwk, "n", a, sizeof a, &alen) || jwk_bytes(jwk, "e", b, sizeof b, &blen))
			goto out;
		n = BN_bin2bn(a, (int)alen, NULL);
		e = BN_bin2bn(b, (int)blen, NULL);
		if (!n || !e || BN_num_bits(n) < 2048 ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto out;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else if (alg == JWT_ALG_ES256 && !strcmp(kty, "EC")) {
		const char *crv = json_string_value(json_object_get(jwk, "crv"));
		unsigned char point[65] = { 0x04 };
		if (!crv || strcmp(crv, "P-256") ||
		    jwk_bytes(jwk, "x", a, sizeof a, &alen) || alen != 32 ||
		    jwk_bytes(jwk, "y", b, sizeof b, &blen) || blen != 32)
			goto out;
		memcpy(point + 1, a, 32);
		memcpy(point + 33, b, 32);
		if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
						      sizeof point))
			goto out;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	} else {
		goto out;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	if (!ctx || !params || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	pem = pkey_to_pem(pk);
out:
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pem;
}

/* ---- the key set ---- */

static void keys_clear(void)
{
	for (int i = 0; i < V.nkeys; i++)
		free(V.keys[i].pem);
	V.nkeys = 0;
}

/* Fetches the discovery document (once) and the key set. 0 or -1 with why. */
static int keys_fetch(const char **why)
{
	if (!V.jwks_uri) {
		char url[2048];
		snprintf(url, sizeof url, "%s/.well-known/openid-configuration", V.issuer);
		json_t *d = get_json(url, why);
		if (!d)
			return -1;
		const char *iss = json_string_value(json_object_get(d, "issuer"));
		const char *uri = json_string_value(json_object_get(d, "jwks_uri"));
		if (!iss || strcmp(iss, V.issuer) || !uri) {
			*why = "the discovery document does not name this issuer and a jwks_uri";
			json_decref(d);
			return -1;
		}
		V.jwks_uri = strdup(uri);
		json_decref(d);
	}
	json_t *set = get_json(V.jwks_uri, why);
	json_t *arr = json_object_get(set, "keys");
	if (!json_is_array(arr)) {
		json_decref(set);
		if (set)
			*why = "the key set has no keys";
		return -1;
	}
	keys_clear();
	size_t i;
	json_t *jwk;
	json_array_foreach(arr, i, jwk) {
		const char *kid = json_string_value(json_object_get(jwk, "kid"));
		const char *alg = json_string_value(json_object_get(jwk, "alg"));
		const char *use = json_string_value(json_object_get(jwk, "use"));
		if (!kid || strlen(kid) >= sizeof V.keys[0].kid || V.nkeys == MAX_KEYS ||
		    (use && strcmp(use, "sig")))
			continue;
		/* The key's own algorithm, never the token's: RS256 or ES256 only. */
		jwt_alg_t a = !alg ? JWT_ALG_INVAL : !strcmp(alg, "RS256") ? JWT_ALG_RS256 :
			      !strcmp(alg, "ES256") ? JWT_ALG_ES256 : JWT_ALG_INVAL;
		char *pem = a == JWT_ALG_INVAL ? NULL : jwk_to_pem(jwk, a);
		if (!pem)
			continue;
		struct key *k = &V.keys[V.nkeys++];
		snprintf(k->kid, sizeof k->kid, "%s", kid);
		k->alg = a;
		k->pem = pem;
	}
	json_decref(set);
	if (V.verbose)
		fprintf(stderr, "verify-token: fetched the key set (%d keys)\n", V.nkeys);
	return 0;
}

static const struct key *key_find(const char *kid)
{
	for (int i = 0; i < V.nkeys; i++)
		if (!strcmp(V.keys[i].kid, kid))
			return &V.keys[i];
	return NULL;
}

/* The key for kid, refetching the set on a miss at most once per interval. */
static const struct key *key_for(const char *kid, const char **why)
{
	const struct key *k = key_find(kid);
	if (k)
		return k;
	time_t now = time(NULL);
	if (V.last_refetch && now - V.last_refetch < V.refetch_interval) {
		*why = "unknown kid";
		return NULL;
	}
	V.last_refetch = now;
	if (keys_fetch(why))
		return NULL;
	k = key_find(kid);
	if (!k)
		*why = "unknown kid";
	return k;
}

/* ---- verification ---- */

static json_t *segment_json(const char *seg, size_t len)
{
	unsigned char buf[MAX_TOKEN];
	size_t n;
	if (b64url_decode(seg, len, buf, sizeof buf, &n))
		return NULL;
	json_t *j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static bool scope_allowed(const char *scope)
{
	size_t n = strlen(scope);
	for (const char *p = V.scopes; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && n && !strncmp(p, scope, n))
			return true;
		p += len + (end ? 1 : 0);
	}
	return false;
}

/* 0 with the claims in *out (caller decrefs), or -1 with the reason in why. */
static int verify(const char *tok, json_t **out, const char **why)
{
	size_t len = strnlen(tok, MAX_TOKEN + 1);
	json_t *hdr = NULL, *pl = NULL;
	jwt_t *jwt = NULL;
	int rc = -1;
	*out = NULL;
	const char *d1 = memchr(tok, '.', len);
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
	if (len == 0 || len > MAX_TOKEN) {
		*why = "no token, or longer than 8 KiB";
		goto out;
	}
	if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok))) {
		*why = "not a JWS compact token";
		goto out;
	}
	/* 1. The header, read before any verification, to pick the key by kid. */
	hdr = segment_json(tok, (size_t)(d1 - tok));
	const char *alg = json_string_value(json_object_get(hdr, "alg"));
	const char *kid = json_string_value(json_object_get(hdr, "kid"));
	if (!alg || !kid) {
		*why = "malformed header: alg and kid required";
		goto out;
	}
	if (json_object_get(hdr, "crit")) {
		*why = "crit header not supported";
		goto out;
	}
	const struct key *k = key_for(kid, why);
	if (!k)
		goto out;
	/* 2. The algorithm is the key's: libjwt would believe the header. */
	if (strcmp(alg, jwt_alg_str(k->alg)) != 0) {
		*why = "algorithm does not match the key's (alg confusion or alg none)";
		goto out;
	}
	/* 3. The signature, by libjwt, with a key always given (no key = no check). */
	if (jwt_decode(&jwt, tok, (const unsigned char *)k->pem, (int)strlen(k->pem)) != 0) {
		*why = "bad signature";
		goto out;
	}
	if (jwt_get_alg(jwt) != k->alg) {
		*why = "algorithm does not match the key's";
		goto out;
	}
	/* 4. The claims, which libjwt 1.10 does not check, parsed strictly. */
	pl = segment_json(d1 + 1, (size_t)(d2 - d1 - 1));
	json_t *exp = json_object_get(pl, "exp"), *nbf = json_object_get(pl, "nbf");
	time_t now = time(NULL);
	if (!json_is_integer(exp)) {
		*why = "no exp";
		goto out;
	}
	if ((long long)now - V.leeway >= json_integer_value(exp)) {
		*why = "expired";
		goto out;
	}
	if (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) > (long long)now + V.leeway)) {
		*why = "not yet valid";
		goto out;
	}
	const char *iss = json_string_value(json_object_get(pl, "iss"));
	if (!iss || strcmp(iss, V.issuer)) {
		*why = "wrong issuer";
		goto out;
	}
	const char *aud = json_string_value(json_object_get(pl, "aud"));
	if (!aud || strcmp(aud, V.audience)) {
		*why = "wrong audience (a refresh token?)";
		goto out;
	}
	const char *scope = json_string_value(json_object_get(pl, "scope"));
	if (!scope || !scope_allowed(scope)) {
		*why = "scope not allowed";
		goto out;
	}
	if (!json_is_string(json_object_get(pl, "sub"))) {
		*why = "no sub";
		goto out;
	}
	*out = pl;
	pl = NULL;
	rc = 0;
out:
	jwt_free(jwt);
	json_decref(hdr);
	json_decref(pl);
	return rc;
}

int main(int argc, char **argv)
{
	bool from_stdin = false;
	int i = 1;
	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		const char *o = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(o, "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(o, "--stdin")) {
			from_stdin = true;
		} else if (!strcmp(o, "--verbose")) {
			V.verbose = true;
		} else if (val && !strcmp(o, "--audience")) {
			V.audience = val;
			i++;
		} else if (val && !strcmp(o, "--scope") && strlen(val) < sizeof V.scopes) {
			snprintf(V.scopes, sizeof V.scopes, "%s", val);
			i++;
		} else if (val && !strcmp(o, "--leeway")) {
			V.leeway = strtol(val, NULL, 10);
			i++;
		} else if (val && !strcmp(o, "--refetch-interval")) {
			V.refetch_interval = strtol(val, NULL, 10);
			i++;
		} else {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (argc - i != (from_stdin ? 1 : 2)) {
		fputs(usage, stderr);
		return 2;
	}
	V.issuer = argv[i];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const char *why = NULL;
	int ret = 0;
	if (keys_fetch(&why)) {
		fprintf(stderr, "verify-token: %s\n", why);
		ret = 1;
		goto out;
	}
	if (!from_stdin) {
		json_t *claims;
		if (verify(argv[i + 1], &claims, &why)) {
			fprintf(stderr, "verify-token: refused: %s\n", why);
			ret = 1;
			goto out;
		}
		char *s = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
		puts(s ? s : "{}");
		free(s);
		json_decref(claims);
		goto out;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		json_t *claims;
		if (verify(line, &claims, &why)) {
			printf("refused %s\n", why);
		} else {
			char *s = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
			printf("ok %s\n", s ? s : "{}");
			free(s);
			json_decref(claims);
		}
		fflush(stdout);
	}
	free(line);
out:
	keys_clear();
	free(V.jwks_uri);
	curl_global_cleanup();
	return ret;
}
