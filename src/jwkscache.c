/*
 * jwkscache.c - JWK to EVP_PKEY (OSSL_PARAM_BLD + EVP_PKEY_fromdata), and a
 * small registry of key sets by URL, each with its own lock so that one
 * slow provider never holds up another.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "gatehouse/httpc.h"
#include "gatehouse/jwkscache.h"
#include "gatehouse/keyring.h"
#include "gatehouse/log.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/encoding.h"
#include "gatehouse/banned.h"

#define MAX_KEYS 64

/* A base64url member of a JWK, decoded; NULL when absent or too long. */
static unsigned char *b64_member(json_t *jwk, const char *name, size_t max, size_t *len)
{
	json_t *v = json_object_get(jwk, name);
	if (!json_is_string(v) || json_string_length(v) > max * 4 / 3 + 4)
		return NULL;
	unsigned char *buf = xmalloc(max);
	*len = max;
	if (gh_b64url_decode(json_string_value(v), json_string_length(v), buf, len) || !*len) {
		free(buf);
		return NULL;
	}
	return buf;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pk = NULL;
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pk;
}

static EVP_PKEY *rsa_key(json_t *jwk)
{
	size_t nlen = 0, elen = 0;
	unsigned char *n = b64_member(jwk, "n", 1024, &nlen);
	unsigned char *e = b64_member(jwk, "e", 16, &elen);
	EVP_PKEY *pk = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	if (!n || !e || !bld || nlen < 256)
		goto out; /* RSA below 2048 bits is refused (RFC 7518 3.3) */
	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	if (bn && be && BN_num_bits(bn) >= 2048 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		pk = from_params("RSA", bld);
out:
	BN_free(bn);
	BN_free(be);
	OSSL_PARAM_BLD_free(bld);
	free(n);
	free(e);
	return pk;
}

static EVP_PKEY *ec_key(json_t *jwk)
{
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	if (!crv || strcmp(crv, "P-256") != 0)
		return NULL;
	size_t xl = 0, yl = 0;
	unsigned char *x = b64_member(jwk, "x", 32, &xl), *y = b64_member(jwk, "y", 32, &yl);
	EVP_PKEY *pk = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	/* RFC 7518 6.2.1.2 wants both coordinates at the full 32 bytes, but
	 * common encoders (PyJWT 2.6, Debian 12's) drop leading zero bytes:
	 * one key in 128. Padding them back is safe, the point is still checked
	 * to be on the curve. */
	if (x && y && bld) {
		unsigned char point[65] = { 0x04 };
		memcpy(point + 1 + 32 - xl, x, xl);
		memcpy(point + 33 + 32 - yl, y, yl);
		if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) &&
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 65))
			pk = from_params("EC", bld); /* refuses points not on the curve */
	}
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return pk;
}

int jwkscache_set_parse(const char *json, size_t len, struct jwk_set *out)
{
	memset(out, 0, sizeof *out);
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		json_decref(root);
		return GH_EINVAL;
	}
	size_t count = json_array_size(keys);
	out->keys = xcalloc(count < MAX_KEYS ? (count ? count : 1) : MAX_KEYS, sizeof *out->keys);
	for (size_t i = 0; i < count && out->n < MAX_KEYS; i++) {
		json_t *jwk = json_array_get(keys, i);
		const char *kty = json_string_value(json_object_get(jwk, "kty"));
		const char *kid = json_string_value(json_object_get(jwk, "kid"));
		const char *use = json_string_value(json_object_get(jwk, "use"));
		const char *alg = json_string_value(json_object_get(jwk, "alg"));
		if (!kty || !kid || !*kid || strlen(kid) >= sizeof out->keys[0].kid ||
		    (use && strcmp(use, "sig") != 0))
			continue;
		int a = alg ? keyring_alg_parse(alg) : -1;
		bool rsa = !strcmp(kty, "RSA"), ec = !strcmp(kty, "EC");
		if ((alg && a != (rsa ? KEY_RS256 : KEY_ES256)) || (!rsa && !ec))
			continue; /* an alg we do not verify, or one the key cannot have */
		EVP_PKEY *pk = rsa ? rsa_key(jwk) : ec_key(jwk);
		if (!pk)
			continue;
		struct jwk *k = &out->keys[out->n++];
		snprintf(k->kid, sizeof k->kid, "%s", kid);
		k->alg = a;
		k->pkey = pk;
	}
	json_decref(root);
	return 0;
}

void jwkscache_set_release(struct jwk_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		EVP_PKEY_free(set->keys[i].pkey);
	free(set->keys);
	set->keys = NULL;
	set->n = 0;
}

/* ---- the cache ---- */

struct entry {
	char *url;
	pthread_mutex_t lock;      /* held across a fetch: one fetch per set at a time */
	struct jwk_set set;
	bool loaded;
	bool last_failed;          /* the latest fetch attempt failed */
	int64_t fetched_at, attempted_at;
	struct entry *next;
};

struct jwkscache {
	pthread_mutex_t lock;      /* guards the list */
	struct entry *entries;
};

struct jwkscache *jwkscache_new(void)
{
	struct jwkscache *c = xcalloc(1, sizeof *c);
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void jwkscache_free(struct jwkscache *c)
{
	if (!c)
		return;
	for (struct entry *e = c->entries, *next; e; e = next) {
		next = e->next;
		jwkscache_set_release(&e->set);
		pthread_mutex_destroy(&e->lock);
		free(e->url);
		free(e);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct entry *entry_for(struct jwkscache *c, const char *url)
{
	pthread_mutex_lock(&c->lock);
	struct entry *e = c->entries;
	while (e && strcmp(e->url, url) != 0)
		e = e->next;
	if (!e) {
		e = xcalloc(1, sizeof *e);
		e->url = xstrdup(url);
		pthread_mutex_init(&e->lock, NULL);
		e->next = c->entries;
		c->entries = e;
	}
	pthread_mutex_unlock(&c->lock);
	return e;
}

/* Fetches the set; on success replaces the cached one. Caller holds e->lock. */
static int fetch(struct entry *e, int64_t now, const struct httpc_options *http)
{
	e->attempted_at = now;
	e->last_failed = true;
	struct httpc_request req = { .method = "GET", .url = e->url };
	struct httpc_response resp;
	char err[160];
	int rc = httpc_do(http, &req, &resp, err, sizeof err);
	if (rc) {
		log_warn("cannot fetch a key set: %s", err);
		return rc;
	}
	struct jwk_set set;
	if (resp.status != 200 || jwkscache_set_parse(resp.body, resp.len, &set)) {
		log_warn("key set fetch answered %ld without a usable key set", resp.status);
		httpc_response_release(&resp);
		return GH_EUNAVAIL;
	}
	httpc_response_release(&resp);
	jwkscache_set_release(&e->set);
	e->set = set;
	e->loaded = true;
	e->last_failed = false;
	e->fetched_at = now;
	return 0;
}

static const struct jwk *find(const struct entry *e, const char *kid)
{
	for (size_t i = 0; i < e->set.n; i++)
		if (!strcmp(e->set.keys[i].kid, kid))
			return &e->set.keys[i];
	return NULL;
}

int jwkscache_key(struct jwkscache *c, const char *url, const char *kid, int64_t now,
		  const struct jwks_policy *policy, const struct httpc_options *http,
		  EVP_PKEY **pkey, int *alg)
{
	*pkey = NULL;
	struct entry *e = entry_for(c, url);
	pthread_mutex_lock(&e->lock);
	/*
	 * Expired (or never loaded): fetch again; a failure keeps the old keys
	 * working, and after a failure the set is tried again only once per
	 * refetch interval, so an outage is not met with a fetch per request.
	 */
	bool expired = !e->loaded || now - e->fetched_at >= policy->ttl;
	if (expired && (!e->last_failed || now - e->attempted_at >= policy->refetch_interval))
		fetch(e, now, http);
	const struct jwk *k = find(e, kid);
	if (!k && now - e->attempted_at >= policy->refetch_interval) {
		fetch(e, now, http);
		k = find(e, kid);
	}
	int rc;
	if (k && EVP_PKEY_up_ref(k->pkey)) {
		*pkey = k->pkey;
		*alg = k->alg;
		rc = 0;
	} else {
		/* While the set cannot be fetched, a new kid may be a rotation: fail closed. */
		rc = e->last_failed ? GH_EUNAVAIL : GH_EAUTH;
	}
	pthread_mutex_unlock(&e->lock);
	return rc;
}
