/*
 * test_ratelimit.c - the per-client token buckets (API.md D.3): the budget,
 * the refill arithmetic with an injected clock, independent buckets per
 * 16-byte address, the memory bound with its least-recently-used eviction,
 * thread safety, and the address helpers the trusted-proxy logic relies on
 * (gh_parse_ip, gh_parse_cidr, gh_addr_in_cidr, gh_list_split).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/ratelimit.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/clock.h"
#include "gatehouse/parse.h"
#include "gatehouse/netaddr.h"
#include "harness.h"

#define SEC 1000000000ull
/* An arbitrary, non-zero starting point for the injected monotonic clock. */
#define T0 (1000 * SEC)

/* ---- helpers ---- */

/* The i-th test address, IPv4-mapped (::ffff:10.x.y.z); distinct for i < 2^24. */
static void addr_v4(uint32_t i, unsigned char a[16])
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = 10;
	a[13] = (unsigned char)(i >> 16);
	a[14] = (unsigned char)(i >> 8);
	a[15] = (unsigned char)i;
}

/* The i-th test address in 2001:db8::/32, IPv6. */
static void addr_v6(uint32_t i, unsigned char a[16])
{
	memset(a, 0, 16);
	a[0] = 0x20;
	a[1] = 0x01;
	a[2] = 0x0d;
	a[3] = 0xb8;
	a[12] = (unsigned char)(i >> 24);
	a[13] = (unsigned char)(i >> 16);
	a[14] = (unsigned char)(i >> 8);
	a[15] = (unsigned char)i;
}

static void ip(const char *s, unsigned char a[16])
{
	if (gh_parse_ip(s, a) != 0) {
		fprintf(stderr, "test bug: cannot parse %s\n", s);
		memset(a, 0, 16);
	}
}

/* How many takes succeed in a row at one instant (stops at the first refusal, max cap). */
static int takes_allowed(struct ratelimit *rl, const unsigned char a[16], uint64_t now, int cap)
{
	int n = 0;
	while (n < cap && ratelimit_take(rl, a, now) == 0)
		n++;
	return n;
}

/* ---- the budget ---- */

TEST(capacity_allows_exactly_n_then_waits)
{
	static const uint32_t caps[] = { 1, 2, 5, 1000 };
	for (size_t c = 0; c < GH_ARRAY_SIZE(caps); c++) {
		struct ratelimit *rl = ratelimit_new(caps[c], 60, 1000);
		unsigned char a[16];
		addr_v4(1, a);
		for (uint32_t i = 0; i < caps[c]; i++)
			CHECK_INT(ratelimit_take(rl, a, T0), 0);
		int64_t w = ratelimit_take(rl, a, T0);
		CHECK(w >= 1);
		CHECK(w <= 60);
		/* A refusal takes nothing and keeps refusing at the same instant. */
		for (int i = 0; i < 5; i++)
			CHECK_INT(ratelimit_take(rl, a, T0), w);
		CHECK_INT(ratelimit_count(rl), 1);
		ratelimit_free(rl);
	}
}

TEST(wait_is_exact_whole_seconds)
{
	/* 5 per 60 s: one token every 12 s; each wait asked of a bucket emptied at T0. */
	static const struct {
		uint64_t after;  /* ns after the bucket was emptied */
		int64_t wait;
	} v[] = {
		{ 0, 12 },
		{ 1 * SEC + SEC / 2, 11 },     /* 10.5 s left -> 11 */
		{ 3 * SEC + 1, 9 },            /* 8.999999999 s left -> 9 */
		{ 11 * SEC + SEC / 2, 1 },     /* 0.5 s left -> 1 */
		{ 12 * SEC - 1, 1 },           /* 1 ns left -> 1 */
		{ 12 * SEC, 0 },
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(v); i++) {
		struct ratelimit *rl = ratelimit_new(5, 60, 1000);
		unsigned char a[16];
		addr_v4(2, a);
		CHECK_INT(takes_allowed(rl, a, T0, 10), 5);
		CHECK_INT(ratelimit_take(rl, a, T0 + v[i].after), v[i].wait);
		ratelimit_free(rl);
	}

	/* 1 per 300 s (the integration test's Retry-After range). */
	struct ratelimit *rl = ratelimit_new(1, 300, 1000);
	unsigned char a[16];
	addr_v4(2, a);
	CHECK_INT(ratelimit_take(rl, a, T0), 0);
	CHECK_INT(ratelimit_take(rl, a, T0), 300);
	ratelimit_free(rl);
	rl = ratelimit_new(1, 300, 1000);
	CHECK_INT(ratelimit_take(rl, a, T0), 0);
	CHECK_INT(ratelimit_take(rl, a, T0 + 299 * SEC + 1), 1);
	ratelimit_free(rl);
	rl = ratelimit_new(1, 300, 1000);
	CHECK_INT(ratelimit_take(rl, a, T0), 0);
	CHECK_INT(ratelimit_take(rl, a, T0 + 300 * SEC + SEC / 100), 0);
	ratelimit_free(rl);

	/* 10 per 1 s: a token every 0.1 s, yet the wait is never below 1. */
	rl = ratelimit_new(10, 1, 1000);
	CHECK_INT(takes_allowed(rl, a, T0, 20), 10);
	CHECK_INT(ratelimit_take(rl, a, T0), 1);
	ratelimit_free(rl);
}

TEST(waiting_exactly_retry_after_is_enough)
{
	/*
	 * ratelimit.h: the wait is "the whole seconds until a token is
	 * available". With capacity 1 per 300 s (the default window), a client
	 * told 300 that comes back exactly 300 s later must get its token.
	 */
	struct ratelimit *rl = ratelimit_new(1, 300, 1000);
	unsigned char a[16];
	addr_v4(2, a);
	CHECK_INT(ratelimit_take(rl, a, T0), 0);
	CHECK_INT(ratelimit_take(rl, a, T0), 300);
	CHECK_INT(ratelimit_take(rl, a, T0 + 300 * SEC), 0);
	ratelimit_free(rl);

	/* A full window restores the full budget: 15 per 1 s, 2 per 300 s. */
	rl = ratelimit_new(15, 1, 1000);
	CHECK_INT(takes_allowed(rl, a, T0, 30), 15);
	CHECK_INT(takes_allowed(rl, a, T0 + 1 * SEC, 30), 15);
	ratelimit_free(rl);
	rl = ratelimit_new(2, 300, 1000);
	CHECK_INT(takes_allowed(rl, a, T0, 30), 2);
	CHECK_INT(takes_allowed(rl, a, T0 + 300 * SEC, 30), 2);
	ratelimit_free(rl);

	/*
	 * A client refused several times, each time told how long to wait:
	 * the refusals must not change the arithmetic. 5 per 60 s (a token
	 * every 12 s), asked at 0, 1, 11 s: waits 12, 11, 1; at 12 s a token.
	 */
	rl = ratelimit_new(5, 60, 1000);
	CHECK_INT(takes_allowed(rl, a, T0, 10), 5);
	CHECK_INT(ratelimit_take(rl, a, T0), 12);
	CHECK_INT(ratelimit_take(rl, a, T0 + 1 * SEC), 11);
	CHECK_INT(ratelimit_take(rl, a, T0 + 11 * SEC), 1);
	CHECK_INT(ratelimit_take(rl, a, T0 + 12 * SEC), 0);
	CHECK_INT(ratelimit_take(rl, a, T0 + 12 * SEC), 12);
	ratelimit_free(rl);

	/* 1 per 300 s: told "1" at 299 s (+1 ns); waiting it (to 300 s) is enough. */
	rl = ratelimit_new(1, 300, 1000);
	CHECK_INT(ratelimit_take(rl, a, T0), 0);
	CHECK_INT(ratelimit_take(rl, a, T0 + 299 * SEC + 1), 1);
	CHECK_INT(ratelimit_take(rl, a, T0 + 300 * SEC), 0);
	ratelimit_free(rl);

	/* 1 per 10 s: refusals at 3 s, 6 s, 9 s say 7, 4, 1; at 10 s a token. */
	rl = ratelimit_new(1, 10, 1000);
	CHECK_INT(ratelimit_take(rl, a, T0), 0);
	CHECK_INT(ratelimit_take(rl, a, T0 + 3 * SEC), 7);
	CHECK_INT(ratelimit_take(rl, a, T0 + 6 * SEC), 4);
	CHECK_INT(ratelimit_take(rl, a, T0 + 9 * SEC), 1);
	CHECK_INT(ratelimit_take(rl, a, T0 + 10 * SEC), 0);
	ratelimit_free(rl);
}

TEST(waiting_the_returned_seconds_is_enough)
{
	/* Awkward rates: after waiting exactly what was returned, a take succeeds. */
	static const struct {
		uint32_t cap;
		int64_t window;
	} v[] = { { 7, 300 }, { 3, 10 }, { 1000, 300 }, { 13, 7 }, { 1, 86400 }, { 4, 60 } };
	for (size_t k = 0; k < GH_ARRAY_SIZE(v); k++) {
		struct ratelimit *rl = ratelimit_new(v[k].cap, v[k].window, 1000);
		unsigned char a[16];
		addr_v4(3, a);
		uint64_t now = T0;
		CHECK_INT(takes_allowed(rl, a, now, (int)v[k].cap + 1), v[k].cap);
		for (int round = 0; round < 20; round++) {
			/* Ask at an odd offset so the remainder is fractional. */
			now += 123456789ull * (uint64_t)(round + 1);
			int64_t w = ratelimit_take(rl, a, now);
			if (w == 0)
				continue; /* refilled by the offset alone */
			CHECK(w >= 1);
			CHECK(w <= v[k].window);
			/* A second short of the wait: still refused (the wait is not a second too long). */
			if (w > 1)
				CHECK(ratelimit_take(rl, a, now + (uint64_t)(w - 1) * SEC) >= 1);
			now += (uint64_t)w * SEC;
			CHECK_INT(ratelimit_take(rl, a, now), 0);
		}
		ratelimit_free(rl);
	}
}

TEST(half_the_window_restores_half_the_tokens)
{
	/* 10 per 10 s. */
	struct ratelimit *rl = ratelimit_new(10, 10, 1000);
	unsigned char a[16];
	addr_v4(4, a);
	CHECK_INT(takes_allowed(rl, a, T0, 20), 10);
	CHECK_INT(takes_allowed(rl, a, T0 + 5 * SEC, 20), 5);
	CHECK_INT(ratelimit_take(rl, a, T0 + 5 * SEC), 1);
	ratelimit_free(rl);

	/* 100 per 300 s: 150 s later, 50 tokens. */
	rl = ratelimit_new(100, 300, 1000);
	CHECK_INT(takes_allowed(rl, a, T0, 200), 100);
	CHECK_INT(takes_allowed(rl, a, T0 + 150 * SEC, 200), 50);
	CHECK(ratelimit_take(rl, a, T0 + 150 * SEC) >= 1);
	/* A quarter window more: 25. */
	CHECK_INT(takes_allowed(rl, a, T0 + 225 * SEC, 200), 25);
	ratelimit_free(rl);

	/* A full window restores the full budget, and no more. */
	rl = ratelimit_new(8, 4, 1000);
	CHECK_INT(takes_allowed(rl, a, T0, 20), 8);
	CHECK_INT(takes_allowed(rl, a, T0 + 4 * SEC, 20), 8);
	ratelimit_free(rl);
}

TEST(refill_accumulates_across_refusals)
{
	/* 1 per 10 s: refusals at 2.5 s, 5.5 s, 8.5 s do not reset the refill. */
	struct ratelimit *rl = ratelimit_new(1, 10, 1000);
	unsigned char a[16];
	addr_v4(5, a);
	CHECK_INT(ratelimit_take(rl, a, T0), 0);
	CHECK_INT(ratelimit_take(rl, a, T0 + 2 * SEC + SEC / 2), 8);
	CHECK_INT(ratelimit_take(rl, a, T0 + 5 * SEC + SEC / 2), 5);
	CHECK_INT(ratelimit_take(rl, a, T0 + 8 * SEC + SEC / 2), 2);
	CHECK_INT(ratelimit_take(rl, a, T0 + 9 * SEC + SEC / 2), 1);
	CHECK_INT(ratelimit_take(rl, a, T0 + 10 * SEC + SEC / 10), 0);
	ratelimit_free(rl);
}

TEST(bucket_never_exceeds_capacity)
{
	struct ratelimit *rl = ratelimit_new(3, 10, 1000);
	unsigned char a[16];
	addr_v4(6, a);
	CHECK_INT(ratelimit_take(rl, a, T0), 0);
	/* Idle for a long time (a million seconds): still 3, not 100000. */
	uint64_t later = T0 + 1000000ull * SEC;
	CHECK_INT(takes_allowed(rl, a, later, 100), 3);
	CHECK(ratelimit_take(rl, a, later) >= 1);
	/* Idle for several windows after a partial use: capped again. */
	CHECK_INT(takes_allowed(rl, a, later + 25 * SEC, 100), 3);
	/* A new address starts full, not above. */
	unsigned char b[16];
	addr_v4(7, b);
	CHECK_INT(takes_allowed(rl, b, later, 100), 3);
	ratelimit_free(rl);
}

TEST(clock_going_backwards_adds_nothing)
{
	struct ratelimit *rl = ratelimit_new(2, 10, 1000);
	unsigned char a[16];
	addr_v4(8, a);
	CHECK_INT(takes_allowed(rl, a, T0 + 100 * SEC, 10), 2);
	CHECK(ratelimit_take(rl, a, T0) >= 1);
	CHECK(ratelimit_take(rl, a, 0) >= 1);
	/* Time counts from the latest instant seen: 6 s after it, 1.2 tokens. */
	CHECK_INT(ratelimit_take(rl, a, T0 + 106 * SEC), 0);
	CHECK(ratelimit_take(rl, a, T0 + 106 * SEC) >= 1);
	ratelimit_free(rl);
}

/* ---- addresses ---- */

TEST(addresses_are_independent)
{
	struct ratelimit *rl = ratelimit_new(4, 60, 1000);
	unsigned char a[16], b[16], c[16];
	addr_v4(10, a);
	addr_v4(11, b);
	addr_v6(10, c);
	CHECK_INT(takes_allowed(rl, a, T0, 10), 4);
	CHECK(ratelimit_take(rl, a, T0) >= 1);
	CHECK_INT(takes_allowed(rl, b, T0, 10), 4);
	CHECK_INT(takes_allowed(rl, c, T0, 10), 4);
	CHECK(ratelimit_take(rl, b, T0) >= 1);
	CHECK(ratelimit_take(rl, c, T0) >= 1);
	CHECK_INT(ratelimit_count(rl), 3);
	/* Addresses differing in one bit of any byte are different clients. */
	for (int byte = 0; byte < 16; byte++) {
		unsigned char d[16];
		memcpy(d, a, 16);
		d[byte] ^= 0x80; /* no other address of this test */
		CHECK_INT(ratelimit_take(rl, d, T0), 0);
	}
	CHECK_INT(ratelimit_count(rl), 3 + 16);
	ratelimit_free(rl);
}

TEST(ipv4_mapped_and_ipv6_are_distinct)
{
	struct ratelimit *rl = ratelimit_new(2, 60, 1000);
	unsigned char v4[16], mapped[16], compat[16], v6[16], nat64[16];
	ip("192.0.2.7", v4);
	ip("::ffff:192.0.2.7", mapped); /* the same client, written as IPv6 */
	ip("::192.0.2.7", compat);      /* IPv4-compatible: another address */
	ip("2001:db8::c000:207", v6);   /* same low 32 bits */
	ip("64:ff9b::192.0.2.7", nat64);
	CHECK(memcmp(v4, mapped, 16) == 0);
	CHECK_INT(takes_allowed(rl, v4, T0, 10), 2);
	CHECK(ratelimit_take(rl, mapped, T0) >= 1);
	CHECK_INT(takes_allowed(rl, compat, T0, 10), 2);
	CHECK_INT(takes_allowed(rl, v6, T0, 10), 2);
	CHECK_INT(takes_allowed(rl, nat64, T0, 10), 2);
	CHECK_INT(ratelimit_count(rl), 4);
	ratelimit_free(rl);
}

/* ---- memory bound and eviction ---- */

TEST(count_bounded_under_100000_addresses)
{
	struct ratelimit *rl = ratelimit_new(5, 300, 1000);
	unsigned char a[16];
	size_t worst = 0;
	for (uint32_t i = 0; i < 100000; i++) {
		addr_v4(i, a);
		CHECK_INT(ratelimit_take(rl, a, T0 + i), 0); /* each new address: a full bucket */
		if (i == 199)
			CHECK_INT(ratelimit_count(rl), 200); /* below the bound, nothing dropped */
		if (i % 500 == 0 || i == 99999) {
			size_t n = ratelimit_count(rl);
			if (n > worst)
				worst = n;
			CHECK(n <= 1000);
		}
	}
	CHECK(worst <= 1000);
	/* The table is really used up to (about) its bound. */
	CHECK(ratelimit_count(rl) >= 500);
	CHECK(ratelimit_count(rl) <= 1000);
	ratelimit_free(rl);
}

TEST(count_bounded_minimum_max_addresses)
{
	/* max_addresses 16 (the configuration's minimum). */
	struct ratelimit *rl = ratelimit_new(1, 60, 16);
	unsigned char a[16];
	for (uint32_t i = 0; i < 5000; i++) {
		addr_v6(i, a);
		ratelimit_take(rl, a, T0);
		CHECK(ratelimit_count(rl) <= 16);
	}
	CHECK(ratelimit_count(rl) >= 1);
	ratelimit_free(rl);
}

TEST(lru_recent_survives_oldest_evicted)
{
	/* Capacity 1 and a frozen clock: a bucket that survives stays empty,
	 * an evicted one comes back full. */
	struct ratelimit *rl = ratelimit_new(1, 3600, 1000);
	unsigned char old_[16], recent[16], a[16];
	ip("198.51.100.1", old_);
	ip("2001:db8:ffff::1", recent);
	CHECK_INT(ratelimit_take(rl, old_, T0), 0);
	CHECK_INT(ratelimit_take(rl, old_, T0), 3600);
	CHECK_INT(ratelimit_take(rl, recent, T0), 0);
	CHECK_INT(ratelimit_take(rl, recent, T0), 3600);

	int recent_lost = 0;
	for (uint32_t i = 0; i < 100000; i++) {
		addr_v4(i, a);
		CHECK_INT(ratelimit_take(rl, a, T0), 0);
		/* The recent client keeps coming back: it must never get a fresh bucket. */
		if (i % 100 == 99 && ratelimit_take(rl, recent, T0) == 0)
			recent_lost++;
		if (i % 1000 == 0)
			CHECK(ratelimit_count(rl) <= 1000);
	}
	CHECK_INT(recent_lost, 0);
	CHECK(ratelimit_take(rl, recent, T0) >= 1);
	/* The client seen first (and never since) was dropped: back with a full bucket. */
	CHECK_INT(ratelimit_take(rl, old_, T0), 0);
	CHECK(ratelimit_take(rl, old_, T0) >= 1);
	/* The first addresses of the flood are gone too... */
	int fresh = 0;
	for (uint32_t i = 0; i < 100; i++) {
		addr_v4(i, a);
		fresh += ratelimit_take(rl, a, T0) == 0;
	}
	CHECK_INT(fresh, 100);
	/* ...while the last few are still remembered (and empty). */
	for (uint32_t i = 99995; i < 100000; i++) {
		addr_v4(i, a);
		CHECK(ratelimit_take(rl, a, T0) >= 1);
	}
	CHECK(ratelimit_count(rl) <= 1000);
	ratelimit_free(rl);
}

TEST(count_bounded_with_default_max)
{
	struct ratelimit *rl = ratelimit_new(1000, 300, 100000);
	unsigned char a[16];
	for (uint32_t i = 0; i < 100000; i++) {
		addr_v6(i, a);
		CHECK_INT(ratelimit_take(rl, a, T0 + i), 0);
		if (i % 5000 == 0)
			CHECK(ratelimit_count(rl) <= 100000);
	}
	CHECK(ratelimit_count(rl) <= 100000);
	/* Beyond the bound as well. */
	for (uint32_t i = 100000; i < 120000; i++) {
		addr_v6(i, a);
		ratelimit_take(rl, a, T0 + i);
	}
	CHECK(ratelimit_count(rl) <= 100000);
	CHECK(ratelimit_count(rl) >= 50000);
	ratelimit_free(rl);
}

TEST(free_null_is_harmless)
{
	ratelimit_free(NULL);
	struct ratelimit *rl = ratelimit_new(1, 1, 16);
	CHECK_INT(ratelimit_count(rl), 0);
	ratelimit_free(rl);
}

/* ---- threads ---- */

struct hammer {
	struct ratelimit *rl;
	int id;
	int iterations;
	int bad_wait;      /* takes that returned neither 0 nor 1..window */
	int over_bound;    /* counts seen above max_addresses */
};

#define HAMMER_THREADS 8
#define HAMMER_MAX 1000
#define HAMMER_WINDOW 60

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	unsigned char a[16];
	uint32_t x = 2463534242u + (uint32_t)h->id * 7919u;
	for (int i = 0; i < h->iterations; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		/* 3000 addresses shared by all threads (3x the bound), half v4, half v6. */
		uint32_t n = x % 3000;
		if (n & 1)
			addr_v6(n, a);
		else
			addr_v4(n, a);
		int64_t w = ratelimit_take(h->rl, a, gh_mono_ns());
		if (w < 0 || w > HAMMER_WINDOW)
			h->bad_wait++;
		if (i % 997 == 0 && ratelimit_count(h->rl) > HAMMER_MAX)
			h->over_bound++;
	}
	return NULL;
}

TEST(threads_hammering_overlapping_addresses)
{
	struct ratelimit *rl = ratelimit_new(3, HAMMER_WINDOW, HAMMER_MAX);
	pthread_t t[HAMMER_THREADS];
	struct hammer h[HAMMER_THREADS];
	for (int i = 0; i < HAMMER_THREADS; i++) {
		h[i] = (struct hammer){ .rl = rl, .id = i, .iterations = 40000 };
		CHECK_INT(pthread_create(&t[i], NULL, hammer_run, &h[i]), 0);
	}
	for (int i = 0; i < HAMMER_THREADS; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT(h[i].bad_wait, 0);
		CHECK_INT(h[i].over_bound, 0);
	}
	CHECK(ratelimit_count(rl) <= HAMMER_MAX);
	CHECK(ratelimit_count(rl) > 0);
	ratelimit_free(rl);
}

struct shared_take {
	struct ratelimit *rl;
	int granted;
};

static void *shared_run(void *arg)
{
	struct shared_take *s = arg;
	unsigned char a[16];
	addr_v4(42, a);
	for (int i = 0; i < 500; i++)
		if (ratelimit_take(s->rl, a, T0) == 0)
			s->granted++;
	return NULL;
}

TEST(threads_share_one_budget_exactly)
{
	/* 8 threads x 500 takes of one address at one instant: exactly 1000 granted. */
	struct ratelimit *rl = ratelimit_new(1000, 3600, 1000);
	pthread_t t[HAMMER_THREADS];
	struct shared_take s[HAMMER_THREADS];
	for (int i = 0; i < HAMMER_THREADS; i++) {
		s[i] = (struct shared_take){ .rl = rl, .granted = 0 };
		CHECK_INT(pthread_create(&t[i], NULL, shared_run, &s[i]), 0);
	}
	int total = 0;
	for (int i = 0; i < HAMMER_THREADS; i++) {
		pthread_join(t[i], NULL);
		total += s[i].granted;
	}
	CHECK_INT(total, 1000);
	CHECK_INT(ratelimit_count(rl), 1);
	ratelimit_free(rl);
}

/* ---- address helpers used by the trusted-proxy logic ---- */

TEST(parse_ip)
{
	unsigned char a[16];
	static const unsigned char v4[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4 };
	CHECK_INT(gh_parse_ip("1.2.3.4", a), 0);
	CHECK(memcmp(a, v4, 16) == 0);
	CHECK_INT(gh_parse_ip("::ffff:1.2.3.4", a), 0);
	CHECK(memcmp(a, v4, 16) == 0);
	static const unsigned char lo6[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	CHECK_INT(gh_parse_ip("::1", a), 0);
	CHECK(memcmp(a, lo6, 16) == 0);
	static const unsigned char db8[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
					       0, 0, 0, 0, 0, 0, 0, 0x05 };
	CHECK_INT(gh_parse_ip("2001:db8::5", a), 0);
	CHECK(memcmp(a, db8, 16) == 0);
	CHECK_INT(gh_parse_ip("2001:DB8:0:0:0:0:0:5", a), 0);
	CHECK(memcmp(a, db8, 16) == 0);
	CHECK_INT(gh_parse_ip("0.0.0.0", a), 0);
	CHECK_INT(gh_parse_ip("255.255.255.255", a), 0);

	static const char *const bad[] = {
		"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4/32",
		"::g", ":::1", "1::2::3", "localhost", "1.2.3.-4", "2001:db8::5%eth0", "[::1]",
		"1.2.3.4:80", "0x7f.0.0.1",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		if (gh_parse_ip(bad[i], a) != GH_EINVAL) {
			fprintf(stderr, "gh_parse_ip accepted '%s'\n", bad[i]);
			CHECK(!"gh_parse_ip rejects");
		}
	}
}

TEST(parse_cidr)
{
	unsigned char a[16], want[16];
	int bits = -1;
	CHECK_INT(gh_parse_cidr("10.0.0.0/8", a, &bits), 0);
	CHECK_INT(bits, 96 + 8);
	ip("10.0.0.0", want);
	CHECK(memcmp(a, want, 16) == 0);
	CHECK_INT(gh_parse_cidr("127.0.0.1", a, &bits), 0); /* a plain address: a /32 */
	CHECK_INT(bits, 128);
	CHECK_INT(gh_parse_cidr("127.0.0.1/32", a, &bits), 0);
	CHECK_INT(bits, 128);
	CHECK_INT(gh_parse_cidr("0.0.0.0/0", a, &bits), 0); /* every IPv4 address, no IPv6 */
	CHECK_INT(bits, 96);
	CHECK_INT(gh_parse_cidr("172.16.0.0/20", a, &bits), 0);
	CHECK_INT(bits, 116);
	CHECK_INT(gh_parse_cidr("::/0", a, &bits), 0);
	CHECK_INT(bits, 0);
	CHECK_INT(gh_parse_cidr("::1", a, &bits), 0);
	CHECK_INT(bits, 128);
	CHECK_INT(gh_parse_cidr("::1/128", a, &bits), 0);
	CHECK_INT(bits, 128);
	CHECK_INT(gh_parse_cidr("2001:db8::/32", a, &bits), 0);
	CHECK_INT(bits, 32);
	ip("2001:db8::", want);
	CHECK(memcmp(a, want, 16) == 0);
	CHECK_INT(gh_parse_cidr("::ffff:0:0/96", a, &bits), 0);
	CHECK_INT(bits, 96);

	static const char *const bad[] = {
		"10.0.0.0/33", "1.2.3", "1.2.3/8", "::1/129", "", "/8", "10.0.0.0/", "10.0.0.0/8x",
		"10.0.0.0/x8", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/8 ",
		"10.0.0.0 /8", " 10.0.0.0/8", "10.0.0.0//8", "10.0.0.0/8/8", "2001:db8::/1000",
		"10.0.0.0 junk", "10.0.0.0/8,", "2001:db8::/32x", "not-an-ip/8",
		"1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee/64",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		if (gh_parse_cidr(bad[i], a, &bits) != GH_EINVAL) {
			fprintf(stderr, "gh_parse_cidr accepted '%s'\n", bad[i]);
			CHECK(!"gh_parse_cidr rejects");
		}
	}
}

/* Is address text `addr` inside CIDR text `cidr`? (-1 when the test data does not parse.) */
static int in_cidr(const char *addr, const char *cidr)
{
	unsigned char a[16], n[16];
	int bits;
	if (gh_parse_ip(addr, a) || gh_parse_cidr(cidr, n, &bits))
		return -1;
	return gh_addr_in_cidr(a, n, bits) ? 1 : 0;
}

TEST(addr_in_cidr)
{
	static const struct {
		const char *addr, *cidr;
		int in;
	} v[] = {
		/* IPv4, within the mapped range. */
		{ "10.0.0.1", "10.0.0.0/8", 1 },
		{ "10.255.255.255", "10.0.0.0/8", 1 },
		{ "11.0.0.0", "10.0.0.0/8", 0 },
		{ "9.255.255.255", "10.0.0.0/8", 0 },
		{ "::ffff:10.1.2.3", "10.0.0.0/8", 1 },
		{ "::10.1.2.3", "10.0.0.0/8", 0 },      /* IPv4-compatible is not mapped */
		{ "2001:db8::a01:203", "10.0.0.0/8", 0 },
		{ "127.0.0.1", "127.0.0.1", 1 },
		{ "127.0.0.2", "127.0.0.1", 0 },
		{ "127.0.0.1", "127.0.0.1/32", 1 },
		{ "127.0.0.1", "127.0.0.0/8", 1 },
		{ "1.2.3.4", "0.0.0.0/0", 1 },
		{ "255.255.255.255", "0.0.0.0/0", 1 },
		{ "::1", "0.0.0.0/0", 0 },
		{ "2001:db8::1", "0.0.0.0/0", 0 },
		{ "200.1.1.1", "128.0.0.0/1", 1 },
		{ "127.255.255.255", "128.0.0.0/1", 0 },
		/* Prefixes not on a byte boundary. */
		{ "172.16.0.0", "172.16.0.0/20", 1 },
		{ "172.16.15.255", "172.16.0.0/20", 1 },
		{ "172.16.16.0", "172.16.0.0/20", 0 },
		{ "172.15.255.255", "172.16.0.0/20", 0 },
		{ "192.168.1.129", "192.168.1.128/25", 1 },
		{ "192.168.1.127", "192.168.1.128/25", 0 },
		{ "100.64.0.1", "100.64.0.0/10", 1 },
		{ "100.127.255.255", "100.64.0.0/10", 1 },
		{ "100.128.0.0", "100.64.0.0/10", 0 },
		/* IPv6. */
		{ "2001:db8::1", "2001:db8::/32", 1 },
		{ "2001:db8:ffff:ffff::1", "2001:db8::/32", 1 },
		{ "2001:db9::1", "2001:db8::/32", 0 },
		{ "2001:0fff::1", "2001::/20", 1 },
		{ "2001:1000::1", "2001::/20", 0 },
		{ "fe80::1", "fe80::/10", 1 },
		{ "febf::1", "fe80::/10", 1 },
		{ "fec0::1", "fe80::/10", 0 },
		{ "::1", "::1/128", 1 },
		{ "::2", "::1/128", 0 },
		{ "::1", "::1", 1 },
		{ "::", "::/127", 1 },
		{ "::1", "::/127", 1 },
		{ "::2", "::/127", 0 },
		{ "::1", "::/0", 1 },
		{ "1.2.3.4", "::/0", 1 },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0", 1 },
		{ "1.2.3.4", "::ffff:0:0/96", 1 },
		{ "::1.2.3.4", "::ffff:0:0/96", 0 },
		/* Host bits set in the network are ignored beyond the prefix. */
		{ "10.9.9.9", "10.1.2.3/8", 1 },
		{ "2001:db8::99", "2001:db8::1/64", 1 },
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(v); i++) {
		int got = in_cidr(v[i].addr, v[i].cidr);
		if (got != v[i].in) {
			fprintf(stderr, "%s in %s: %d, expected %d\n", v[i].addr, v[i].cidr, got,
				v[i].in);
			CHECK(!"gh_addr_in_cidr");
		}
	}
}

TEST(list_split)
{
	size_t n = 99;
	char **l = gh_list_split("10.0.0.0/8,127.0.0.1", &n);
	CHECK_INT(n, 2);
	CHECK_STR(l[0], "10.0.0.0/8");
	CHECK_STR(l[1], "127.0.0.1");
	CHECK(l[2] == NULL);
	gh_list_free(l);

	l = gh_list_split("  10.0.0.0/8 ,\t127.0.0.1\t, ::1  ", &n);
	CHECK_INT(n, 3);
	CHECK_STR(l[0], "10.0.0.0/8");
	CHECK_STR(l[1], "127.0.0.1");
	CHECK_STR(l[2], "::1");
	CHECK(l[3] == NULL);
	gh_list_free(l);

	/* Empty items and a trailing comma are dropped. */
	l = gh_list_split(",a,,b , ,c,", &n);
	CHECK_INT(n, 3);
	CHECK_STR(l[0], "a");
	CHECK_STR(l[1], "b");
	CHECK_STR(l[2], "c");
	CHECK(l[3] == NULL);
	gh_list_free(l);

	/* Inner spaces are kept (the item is then not an address). */
	l = gh_list_split("1.2.3.4 5.6.7.8", &n);
	CHECK_INT(n, 1);
	CHECK_STR(l[0], "1.2.3.4 5.6.7.8");
	gh_list_free(l);

	static const char *const empty[] = { "", ",", ",,,", "   ", " , \t, " };
	for (size_t i = 0; i < GH_ARRAY_SIZE(empty); i++) {
		n = 99;
		l = gh_list_split(empty[i], &n);
		CHECK_INT(n, 0);
		CHECK(l && l[0] == NULL);
		gh_list_free(l);
	}
	n = 99;
	l = gh_list_split(NULL, &n);
	CHECK_INT(n, 0);
	CHECK(l && l[0] == NULL);
	gh_list_free(l);

	/* n may be NULL; many items grow the array. */
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 100; i++)
		sb_addf(&sb, "10.0.0.%d,", i);
	l = gh_list_split(sb.buf, NULL);
	int count = 0;
	for (char **p = l; *p; p++)
		count++;
	CHECK_INT(count, 100);
	CHECK_STR(l[99], "10.0.0.99");
	gh_list_free(l);
	sb_release(&sb);
	gh_list_free(NULL);
}

int main(void)
{
	RUN(capacity_allows_exactly_n_then_waits);
	RUN(wait_is_exact_whole_seconds);
	RUN(waiting_exactly_retry_after_is_enough);
	RUN(waiting_the_returned_seconds_is_enough);
	RUN(half_the_window_restores_half_the_tokens);
	RUN(refill_accumulates_across_refusals);
	RUN(bucket_never_exceeds_capacity);
	RUN(clock_going_backwards_adds_nothing);
	RUN(addresses_are_independent);
	RUN(ipv4_mapped_and_ipv6_are_distinct);
	RUN(count_bounded_under_100000_addresses);
	RUN(count_bounded_minimum_max_addresses);
	RUN(lru_recent_survives_oldest_evicted);
	RUN(count_bounded_with_default_max);
	RUN(free_null_is_harmless);
	RUN(threads_hammering_overlapping_addresses);
	RUN(threads_share_one_budget_exactly);
	RUN(parse_ip);
	RUN(parse_cidr);
	RUN(addr_in_cidr);
	RUN(list_split);
	return REPORT();
}
