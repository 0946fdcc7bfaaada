/*
 * tokencache.c - verified access tokens (see tokencache.h).
 *
 * Shards of direct-mapped slots, one mutex per shard: a lookup takes one
 * uncontended lock and compares 32 bytes. A new token overwrites whatever
 * its slot held; nothing else is ever evicted, so the memory is fixed at
 * start (about 140 bytes a slot).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "gatehouse/keyring.h"
#include "gatehouse/metrics.h"
#include "gatehouse/tokencache.h"
#include "gatehouse/alloc.h"
#include "gatehouse/encoding.h"

#define SHARDS 64

struct slot {
	unsigned char digest[32];
	bool used;
	char kid[sizeof ((struct signing_key *)0)->kid];
	struct access_claims claims;
};

struct shard {
	pthread_mutex_t lock;
	struct slot *slots;
};

struct token_cache {
	EVP_MD *sha256;
	size_t slots_per_shard; /* a power of two */
	struct shard shards[SHARDS];
	atomic_uint_fast64_t hits, misses;
};

struct token_cache *tokencache_new(size_t entries)
{
	if (!entries)
		return NULL;
	size_t per = 1;
	while (per * SHARDS < entries)
		per <<= 1;
	struct token_cache *c = xcalloc(1, sizeof *c);
	c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!c->sha256) {
		free(c);
		return NULL; /* no cache: every token is verified in full */
	}
	c->slots_per_shard = per;
	for (int i = 0; i < SHARDS; i++) {
		pthread_mutex_init(&c->shards[i].lock, NULL);
		c->shards[i].slots = xcalloc(per, sizeof *c->shards[i].slots);
	}
	atomic_init(&c->hits, 0);
	atomic_init(&c->misses, 0);
	return c;
}

void tokencache_free(struct token_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < SHARDS; i++) {
		pthread_mutex_destroy(&c->shards[i].lock);
		free(c->shards[i].slots);
	}
	EVP_MD_free(c->sha256);
	free(c);
}

/* The kid of a (verified) token's header into kid; false when it will not fit. */
static bool header_kid(const char *tok, size_t len, char *kid, size_t size)
{
	const char *dot = memchr(tok, '.', len);
	unsigned char hdr[1024];
	size_t n = sizeof hdr - 1;
	if (!dot || gh_b64url_decode(tok, (size_t)(dot - tok), hdr, &n))
		return false;
	hdr[n] = 0;
	json_error_t err;
	json_t *h = json_loadb((const char *)hdr, n, 0, &err);
	const char *k = json_string_value(json_object_get(h, "kid"));
	bool ok = k && strlen(k) < size;
	if (ok)
		memcpy(kid, k, strlen(k) + 1);
	json_decref(h);
	return ok;
}

int tokencache_verify_access(struct token_cache *c, const struct token_config *cfg,
			      const struct keyset *ks, const char *token, size_t len,
			      int64_t now, struct access_claims *out, const char **why)
{
	unsigned char d[32];
	if (!c || len == 0 || len > TOKEN_MAX_LEN ||
	    EVP_Digest(token, len, d, NULL, c->sha256, NULL) != 1)
		return token_verify_access(cfg, ks, token, len, now, out, why);

	uint64_t h;
	memcpy(&h, d, sizeof h);
	struct shard *sh = &c->shards[h % SHARDS];
	struct slot *s = &sh->slots[(h / SHARDS) & (c->slots_per_shard - 1)];

	pthread_mutex_lock(&sh->lock);
	bool hit = s->used && memcmp(s->digest, d, sizeof d) == 0;
	struct slot copy;
	if (hit)
		copy = *s;
	pthread_mutex_unlock(&sh->lock);
	if (hit && now < copy.claims.exp &&
	    keyset_find(ks, copy.kid, strlen(copy.kid), KEY_USE_ACCESS)) {
		atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
		metrics_inc(M_TOKEN_CACHE_HITS);
		*out = copy.claims;
		if (why)
			*why = NULL;
		return 0;
	}
	atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);

	int rc = token_verify_access(cfg, ks, token, len, now, out, why);
	struct slot fresh = { .used = true, .claims = *out };
	if (rc || !header_kid(token, len, fresh.kid, sizeof fresh.kid))
		return rc;
	memcpy(fresh.digest, d, sizeof d);
	pthread_mutex_lock(&sh->lock);
	*s = fresh;
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

void tokencache_stats(const struct token_cache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = c ? atomic_load(&c->hits) : 0;
	*misses = c ? atomic_load(&c->misses) : 0;
}
