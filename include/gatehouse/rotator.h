/*
 * rotator.h - the background thread that keeps keys and accounts tidy: once
 * a second it reloads the key set when an operator command changed the
 * database, and runs one step of timed key rotation (keyring_maintain);
 * once an hour it purges long-dead sessions; and, when guest clean-up is
 * on, it deletes idle guests one small batch per second until none are
 * left, then looks again an hour later; once a minute it counts users and
 * live sessions for the metrics. It wakes at once to stop.
 */
#ifndef GATEHOUSE_ROTATOR_H
#define GATEHOUSE_ROTATOR_H

#include <stdint.h>

struct keyring;
struct store;
struct rotator;

struct rotator_options {
	int64_t session_retention;   /* ended sessions are kept this long */
	int64_t guest_cleanup_after; /* idle guests are deleted after this long; 0 = never */
};

/* Starts the thread; NULL when it cannot be started. */
struct rotator *rotator_start(struct keyring *kr, struct store *st,
			      const struct rotator_options *opt);
/* Changes guest_cleanup_after of a running rotator (a reload). */
void rotator_set_guest_cleanup(struct rotator *r, int64_t after);
/*
 * Runs the next tick now (a change notice from another node: its key is
 * loaded at once). A void * for store_watch_start.
 */
void rotator_poke(void *r);
/* Stops and joins the thread (NULL is fine). */
void rotator_stop(struct rotator *r);

#endif
