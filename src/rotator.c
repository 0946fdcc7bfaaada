/*
 * rotator.c - the maintenance thread: key reloads after operator commands
 * or another node's rotation (store_external_generation), timed key rotation, and session purging, on
 * a one-second tick.
 *
 * Many nodes may share one database, and every node runs this thread: the
 * purges go in short batches that concurrent nodes split (the store skips
 * rows another node holds), and the count gauges (two full scans) come
 * from one node at a time, the holder of the "gauges" lease.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "gatehouse/keyring.h"
#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/rotator.h"
#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/clock.h"
#include "gatehouse/random.h"
#include "gatehouse/banned.h"

#define PURGE_EVERY 3600
#define COUNT_EVERY 60
/* Small batches keep each clean-up transaction short for the writer. */
#define CLEANUP_BATCH 200
#define PURGE_BATCH 1000
/* The gauges lease outlives two missed renewals before another node takes over. */
#define COUNT_LEASE (2 * COUNT_EVERY + 5)

struct rotator {
	struct keyring *kr;
	struct store *st;
	int64_t session_retention;
	_Atomic int64_t guest_cleanup_after;
	int64_t next_purge, next_cleanup, next_count;
	char holder[37];           /* this node's name in leases */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
};

/* One batch of idle guests; the next batch follows a second later while any remain. */
static void cleanup_guests(struct rotator *r, int64_t now)
{
	int64_t n = 0;
	int rc = store_guests_cleanup(r->st, now - r->guest_cleanup_after, CLEANUP_BATCH, &n);
	if (rc)
		log_error("guest clean-up failed: %s (retrying)", gh_strerror(rc));
	else if (n)
		log_info("deleted %lld idle guest accounts", (long long)n);
	r->next_cleanup = (rc || n == CLEANUP_BATCH) ? now + 1 : now + PURGE_EVERY;
}

/* One batch of ended sessions; the next follows a second later while any remain. */
static void purge_sessions(struct rotator *r, int64_t now)
{
	int64_t n = 0;
	int rc = store_sessions_purge(r->st, now - r->session_retention, PURGE_BATCH, &n);
	if (rc)
		log_error("session purge failed: %s (retrying)", gh_strerror(rc));
	else if (n)
		log_info("purged %lld ended sessions", (long long)n);
	r->next_purge = (rc || n == PURGE_BATCH) ? now + 1 : now + PURGE_EVERY;
}

/* Two full scans a minute, off the request threads, by the gauges lease holder. */
static void count(struct rotator *r, int64_t now)
{
	bool held = false;
	int64_t users = 0, sessions = 0;
	if (store_lease_claim(r->st, "gauges", r->holder, now, now + COUNT_LEASE, &held) == 0 &&
	    held && store_counts(r->st, now, &users, &sessions) == 0) {
		metrics_set(G_USERS, users);
		metrics_set(G_SESSIONS_ACTIVE, sessions);
	}
	r->next_count = now + COUNT_EVERY;
}

static void tick(struct rotator *r, uint64_t *seen_gen)
{
	int64_t now = gh_now();
	uint64_t gen = store_external_generation(r->st);
	if (gen != *seen_gen) {
		/* Marked seen only once loaded: a failed reload is tried again next tick. */
		if (keyring_reload(r->kr) == 0) {
			*seen_gen = gen;
			log_debug("reloaded keys after an external change");
		}
	}
	int rc = keyring_maintain(r->kr, now, NULL);
	if (rc)
		log_error("key rotation step failed: %s (retrying)", gh_strerror(rc));
	if (now >= r->next_purge)
		purge_sessions(r, now);
	if (r->guest_cleanup_after > 0 && now >= r->next_cleanup)
		cleanup_guests(r, now);
	if (now >= r->next_count)
		count(r, now);
}

static void *rotator_main(void *arg)
{
	struct rotator *r = arg;
	uint64_t seen_gen = store_external_generation(r->st);
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		pthread_mutex_unlock(&r->lock);
		tick(r, &seen_gen);
		pthread_mutex_lock(&r->lock);
		if (r->stop)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&r->wake, &r->lock, &ts);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

struct rotator *rotator_start(struct keyring *kr, struct store *st,
			      const struct rotator_options *opt)
{
	struct rotator *r = xcalloc(1, sizeof *r);
	r->kr = kr;
	r->st = st;
	r->session_retention = opt->session_retention;
	if (gh_uuid4(r->holder)) {
		free(r);
		return NULL;
	}
	atomic_init(&r->guest_cleanup_after, opt->guest_cleanup_after);
	r->next_purge = gh_now() + 60;
	r->next_cleanup = gh_now();
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	if (pthread_create(&r->thread, NULL, rotator_main, r) != 0) {
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->wake);
		free(r);
		return NULL;
	}
	return r;
}

void rotator_set_guest_cleanup(struct rotator *r, int64_t after)
{
	if (r)
		atomic_store(&r->guest_cleanup_after, after);
}

void rotator_poke(void *arg)
{
	struct rotator *r = arg;
	pthread_mutex_lock(&r->lock);
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

void rotator_stop(struct rotator *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->wake);
	free(r);
}
