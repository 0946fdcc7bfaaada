/*
 * tokencache.h - access tokens already verified, so that a client's second
 * call with the same token costs a hash instead of an RSA verification
 * (which was nearly nine tenths of a get-player-data request).
 *
 * Keyed by the SHA-256 of the whole token; only successes are kept. A hit is
 * still checked against the clock (exp) and against the key set in use: a
 * token whose key has left the set (emergency rotation) misses and fails
 * verification as before. Bans, logouts and deletions are unaffected: the
 * check of the user and the token's session (one indexed read) runs after
 * verification, on every request.
 */
#ifndef GATEHOUSE_TOKENCACHE_H
#define GATEHOUSE_TOKENCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "gatehouse/token.h"

struct token_cache;

/* A cache of about `entries` tokens (rounded up to a power of two); NULL for 0. */
struct token_cache *tokencache_new(size_t entries);
void tokencache_free(struct token_cache *c);

/* token_verify_access through the cache (c may be NULL: no cache). */
int tokencache_verify_access(struct token_cache *c, const struct token_config *cfg,
			      const struct keyset *ks, const char *token, size_t len,
			      int64_t now, struct access_claims *out /* OUT */,
			      const char **why /* OUT */);

/* Hits and misses so far (for metrics and tests). */
void tokencache_stats(const struct token_cache *c, uint64_t *hits, uint64_t *misses);

#endif
