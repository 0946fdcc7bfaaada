/*
 * ratelimit.h - per-client token buckets (API.md D.3). Each address has a
 * bucket of `capacity` tokens refilled at capacity per window; a request
 * takes one. Memory is bounded: at most max_addresses buckets exist, and
 * when a new address arrives beyond that the least recently used bucket is
 * reused for it. Thread-safe (sharded locks).
 */
#ifndef GATEHOUSE_RATELIMIT_H
#define GATEHOUSE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit;

/* capacity > 0; window in seconds > 0; max_addresses >= 16. */
struct ratelimit *ratelimit_new(uint32_t capacity, int64_t window, size_t max_addresses);
void ratelimit_free(struct ratelimit *rl);
/* New capacity and window (a reload); buckets keep their state. */
void ratelimit_reconfigure(struct ratelimit *rl, uint32_t capacity, int64_t window);

/*
 * Takes a token for addr (an IPv6 address, or an IPv4 address mapped into
 * IPv6) at monotonic time now_ns. Returns 0 when the request may proceed,
 * otherwise the whole seconds (>= 1) until a token is available.
 */
int64_t ratelimit_take(struct ratelimit *rl, const unsigned char addr[16], uint64_t now_ns);

/* How many addresses have a bucket now (never above max_addresses). */
size_t ratelimit_count(struct ratelimit *rl);

#endif
