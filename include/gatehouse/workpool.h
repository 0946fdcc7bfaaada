/*
 * workpool.h - a fixed set of threads for work that waits (calls to
 * platforms, commits), so that the request threads never do. Jobs run in order of
 * submission; the queue is bounded only by what submits to it (each job
 * holds a suspended HTTP connection, bounded by max_connections).
 */
#ifndef GATEHOUSE_WORKPOOL_H
#define GATEHOUSE_WORKPOOL_H

#include <stdbool.h>

struct workpool;

/* The stack of every request thread (server.c) and worker thread: 512 KiB. */
#define WORKPOOL_STACK_SIZE ((size_t)512 * 1024)

struct workpool *workpool_new(int threads);
/* Queues fn(arg); false when the pool is stopping (then run it yourself). */
bool workpool_submit(struct workpool *p, void (*fn)(void *arg), void *arg);
/*
 * Runs every queued job to its end and joins the threads; from then on
 * workpool_submit says false. The pool stays valid for submitters that
 * may still call (the request threads until the server stops). Once only:
 * a second call returns at once.
 */
void workpool_stop(struct workpool *p);
/* workpool_stop, then frees the pool. */
void workpool_free(struct workpool *p);

#endif
