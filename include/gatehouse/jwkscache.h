/*
 * jwkscache.h - remote JSON Web Key Sets (Apple's, OIDC providers'): JWK
 * parsing into OpenSSL keys, and a cache per URL that serves keys by kid,
 * fetches the set again after its TTL, and on an unknown kid at most once
 * per refetch interval. When a fetch fails, cached keys keep working, the
 * set is tried again at most once per refetch interval, and a kid never
 * seen is "unavailable" (fail closed). Thread-safe.
 */
#ifndef GATEHOUSE_JWKSCACHE_H
#define GATEHOUSE_JWKSCACHE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

struct httpc_options;

struct jwk {
	char kid[256];
	int alg;                   /* KEY_RS256 / KEY_ES256 (keyring.h), or -1 when the JWK names none */
	EVP_PKEY *pkey;            /* public key */
};

struct jwk_set {
	struct jwk *keys;
	size_t n;
};

/*
 * Parses {"keys": [...]}: RSA (n, e; 2048 to 8192 bits) and EC P-256 (x, y)
 * keys with a kid; keys of other types, with use other than "sig", or that
 * do not parse are skipped (RFC 7517 section 5). 0, or GH_EINVAL when the
 * document itself is not a key set. Release with jwkscache_set_release.
 */
int jwkscache_set_parse(const char *json, size_t len, struct jwk_set *out /* OUT */);
void jwkscache_set_release(struct jwk_set *set);

struct jwkscache;

struct jwkscache *jwkscache_new(void);
void jwkscache_free(struct jwkscache *c);

struct jwks_policy {
	int64_t ttl;               /* use a fetched set this long */
	int64_t refetch_interval;  /* on an unknown kid, fetch again at most this often */
};

/*
 * The key kid of the set at url, at time now. 0 with *pkey a new
 * reference (EVP_PKEY_free it) and *alg the JWK's alg; GH_EAUTH when the
 * set has no such kid; GH_EUNAVAIL when the set cannot be fetched and the
 * kid is not cached.
 */
int jwkscache_key(struct jwkscache *c, const char *url, const char *kid, int64_t now,
		  const struct jwks_policy *policy, const struct httpc_options *http,
		  EVP_PKEY **pkey /* OUT */, int *alg /* OUT */);

#endif
