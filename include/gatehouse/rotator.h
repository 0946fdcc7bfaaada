/*
 * rotator.h - the background thread that keeps keys and sessions tidy: once
 * a second it reloads the key set when an operator command changed the
 * database, and runs one step of timed key rotation (keyring_maintain);
 * once an hour it purges long-dead sessions. It wakes at once to stop.
 */
#ifndef GATEHOUSE_ROTATOR_H
#define GATEHOUSE_ROTATOR_H

#include <stdint.h>

struct keyring;
struct store;
struct rotator;

/* Starts the thread; NULL when it cannot be started. */
struct rotator *rotator_start(struct keyring *kr, struct store *st, int64_t session_retention);
/* Stops and joins the thread (NULL is fine). */
void rotator_stop(struct rotator *r);

#endif
