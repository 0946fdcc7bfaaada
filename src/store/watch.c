/*
 * watch.c - change notices from other processes (another node's key write),
 * on a thread of their own, for back ends that have them (PostgreSQL's
 * LISTEN/NOTIFY). Each notice moves store_external_generation and calls the
 * owner's function, which wakes whoever reloads (the rotator).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "gatehouse/alloc.h"
#include "gatehouse/store.h"
#include "internal.h"

/* How long one wait lasts: bounds how long store_watch_stop takes. */
#define WAIT_MS 500

struct store_watch {
	struct store *st;
	void *listener;
	void (*fn)(void *arg);
	void *arg;
	atomic_bool stop;
	pthread_t thread;
};

static void *watch_main(void *arg)
{
	struct store_watch *w = arg;
	const struct store_backend *be = w->st->be;
	while (!atomic_load(&w->stop)) {
		int rc = be->listen_wait(w->listener, WAIT_MS);
		if (rc == 1) {
			atomic_fetch_add(&w->st->external_gen, 1);
			w->fn(w->arg);
		} else if (rc < 0) {
			/* Not connected (the database is down): try again a little later. */
			struct timespec ts = { 0, WAIT_MS * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

struct store_watch *store_watch_start(struct store *st, void (*fn)(void *arg), void *arg)
{
	if (!st->be->listen_open)
		return NULL;
	struct store_watch *w = xcalloc(1, sizeof *w);
	w->st = st;
	w->fn = fn;
	w->arg = arg;
	atomic_init(&w->stop, false);
	w->listener = st->be->listen_open(st->ctx);
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		st->be->listen_close(w->listener);
		free(w);
		return NULL;
	}
	return w;
}

void store_watch_stop(struct store_watch *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	w->st->be->listen_close(w->listener);
	free(w);
}
