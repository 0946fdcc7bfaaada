/*
 * ratelimit.c - token buckets per client address, kept as GCRA (the
 * "theoretical arrival time" form of a token bucket): one integer per
 * address and exact integer arithmetic, so waiting the announced
 * Retry-After is always enough. Sharded hash tables, each shard with its
 * own LRU list so that its memory never grows past its share of
 * max_addresses. The hash is keyed with a random seed, so nobody can pick
 * addresses that pile into one chain.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/ratelimit.h"
#include "gatehouse/alloc.h"
#include "gatehouse/clock.h"
#include "gatehouse/random.h"
#include "gatehouse/banned.h"

#define SHARDS 16
#define NS 1000000000ull

struct bucket {
	unsigned char addr[16];
	/*
	 * When the bucket would be full again: each request moves it on by one
	 * emission interval; a request is refused while it lies more than
	 * (capacity - 1) intervals ahead of now.
	 */
	uint64_t tat;
	struct bucket *chain;      /* next in the hash chain */
	struct bucket *newer, *older; /* LRU list */
};

struct shard {
	pthread_mutex_t lock;
	struct bucket **table;
	size_t mask;
	size_t count, max;
	struct bucket *newest, *oldest;
};

struct ratelimit {
	_Atomic uint64_t interval;  /* ns per token: window / capacity */
	_Atomic uint64_t tolerance; /* (capacity - 1) intervals: the burst beyond one */
	uint64_t seed[2];
	struct shard shards[SHARDS];
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static uint64_t hash_addr(const struct ratelimit *rl, const unsigned char a[16])
{
	uint64_t hi, lo;
	memcpy(&hi, a, 8);
	memcpy(&lo, a + 8, 8);
	return mix(mix(hi ^ rl->seed[0]) ^ lo ^ rl->seed[1]);
}

void ratelimit_reconfigure(struct ratelimit *rl, uint32_t capacity, int64_t window)
{
	if (capacity < 1)
		capacity = 1;
	uint64_t interval = (uint64_t)window * NS / capacity;
	if (interval < 1)
		interval = 1;
	rl->interval = interval;
	rl->tolerance = interval * (capacity - 1);
}

struct ratelimit *ratelimit_new(uint32_t capacity, int64_t window, size_t max_addresses)
{
	struct ratelimit *rl = xcalloc(1, sizeof *rl);
	ratelimit_reconfigure(rl, capacity, window);
	if (gh_random(rl->seed, sizeof rl->seed))
		rl->seed[0] = gh_mono_ns(); /* still fine: only chain lengths depend on it */
	size_t per = max_addresses / SHARDS;
	if (per < 1)
		per = 1;
	size_t slots = 16;
	while (slots < per * 2)
		slots *= 2;
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &rl->shards[i];
		pthread_mutex_init(&s->lock, NULL);
		s->table = xcalloc(slots, sizeof *s->table);
		s->mask = slots - 1;
		s->max = per;
	}
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &rl->shards[i];
		for (struct bucket *b = s->newest; b;) {
			struct bucket *next = b->older;
			free(b);
			b = next;
		}
		free(s->table);
		pthread_mutex_destroy(&s->lock);
	}
	free(rl);
}

static void lru_unlink(struct shard *s, struct bucket *b)
{
	if (b->newer)
		b->newer->older = b->older;
	else
		s->newest = b->older;
	if (b->older)
		b->older->newer = b->newer;
	else
		s->oldest = b->newer;
	b->newer = b->older = NULL;
}

static void lru_push(struct shard *s, struct bucket *b)
{
	b->older = s->newest;
	b->newer = NULL;
	if (s->newest)
		s->newest->newer = b;
	s->newest = b;
	if (!s->oldest)
		s->oldest = b;
}

static void chain_remove(struct shard *s, struct bucket *b, size_t slot)
{
	for (struct bucket **p = &s->table[slot]; *p; p = &(*p)->chain)
		if (*p == b) {
			*p = b->chain;
			return;
		}
}

int64_t ratelimit_take(struct ratelimit *rl, const unsigned char addr[16], uint64_t now_ns)
{
	uint64_t h = hash_addr(rl, addr);
	struct shard *s = &rl->shards[h % SHARDS];
	size_t slot = (size_t)(h >> 8) & s->mask;
	pthread_mutex_lock(&s->lock);
	struct bucket *b = s->table[slot];
	while (b && memcmp(b->addr, addr, 16) != 0)
		b = b->chain;
	if (b) {
		lru_unlink(s, b);
	} else {
		if (s->count < s->max) {
			b = xmalloc(sizeof *b);
			s->count++;
		} else {
			/* Full: the least recently seen address gives up its bucket. */
			b = s->oldest;
			lru_unlink(s, b);
			chain_remove(s, b, (size_t)(hash_addr(rl, b->addr) >> 8) & s->mask);
		}
		memcpy(b->addr, addr, 16);
		b->tat = now_ns; /* a full bucket */
		b->chain = s->table[slot];
		s->table[slot] = b;
	}
	lru_push(s, b);
	if (b->tat < now_ns)
		b->tat = now_ns;
	int64_t wait = 0;
	uint64_t tolerance = rl->tolerance;
	if (b->tat - now_ns <= tolerance) {
		b->tat += rl->interval;
	} else {
		uint64_t ns = b->tat - now_ns - tolerance;
		wait = (int64_t)((ns + NS - 1) / NS);
	}
	pthread_mutex_unlock(&s->lock);
	return wait;
}

size_t ratelimit_count(struct ratelimit *rl)
{
	size_t n = 0;
	for (int i = 0; i < SHARDS; i++) {
		pthread_mutex_lock(&rl->shards[i].lock);
		n += rl->shards[i].count;
		pthread_mutex_unlock(&rl->shards[i].lock);
	}
	return n;
}
