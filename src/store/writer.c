/*
 * writer.c - the writer thread with group commit and the pool of reader
 * connections, back-end neutral. Writes are queued; the writer runs
 * whatever is queued in one transaction, each write in its own savepoint
 * when there are several (so one failing write never undoes another), and
 * wakes the callers when the commit is durable. Between batches, and at
 * least once a second, it asks the back end whether another process
 * committed (store_external_generation). A back end without a writer
 * thread (per_call: PostgreSQL) runs each write as its own transaction on
 * a pooled connection instead (submit_per_call), retried on serialization
 * failures and deadlocks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/clock.h"
#include "internal.h"

int store_db_exec(struct store_conn *c, enum store_query q)
{
	struct store_stmt *s = db_prepare(c, q);
	if (!s)
		return GH_EINTERNAL;
	int rc = db_step(c, s);
	db_reset(c, s);
	if (rc == STORE_ERR)
		return db_fail(c, c->be->query_text(q));
	return 0;
}

void store_col_copy_text(struct store_conn *c, struct store_stmt *s, int col, char *dst, size_t cap)
{
	const char *t = col_text(c, s, col);
	snprintf(dst, cap, "%s", t ? t : "");
}

char *store_col_dup(struct store_conn *c, struct store_stmt *s, int col, size_t *len)
{
	const void *p = col_blob(c, s, col);
	*len = col_bytes(c, s, col);
	char *v = xmalloc(*len + 1);
	if (*len)
		memcpy(v, p, *len);
	v[*len] = '\0';
	return v;
}

void store_check_data_version(struct store *st)
{
	if (!st->be->data_version)
		return;
	uint64_t now = gh_mono_ns();
	if (now - st->last_version_check_ns < 1000000000ull)
		return;
	st->last_version_check_ns = now;
	int64_t v;
	/* Without a writer thread (per_call), on a pooled connection. */
	struct store_conn *c = st->writer ? st->writer : store_reader_get(st);
	if (!c)
		return;
	int rc = st->be->data_version(c, &v);
	if (c != st->writer)
		store_reader_put(st, c);
	if (rc)
		return;
	if (st->last_data_version && v != st->last_data_version)
		atomic_fetch_add(&st->external_gen, 1);
	st->last_data_version = v;
}

/* Runs one operation; true when its writes must be undone. */
static bool run_op(struct store_conn *c, struct write_op *op)
{
	enum store_op_end end = STORE_OP_COMMIT;
	op->rc = op->fn(c, op->arg, &end);
	op->undone = op->rc < 0 || end == STORE_OP_ROLLBACK;
	return op->undone;
}

/* After the transaction failed: every write it was to keep failed with it. */
static void fail_kept(struct write_op *from, struct write_op *end)
{
	for (struct write_op *p = from; p != end; p = p->next)
		if (!p->undone)
			p->rc = GH_EUNAVAIL;
}

/* Begin, each write in its savepoint (when several), commit. */
static void run_transaction(struct store *st, struct write_op *batch, int n)
{
	struct store_conn *c = st->writer;
	const struct store_backend *be = st->be;
	int rc = be->begin(c);
	if (rc) {
		for (struct write_op *op = batch; op; op = op->next)
			op->rc = GH_EUNAVAIL;
		return;
	}
	bool aborted = false;
	for (struct write_op *op = batch; op; op = op->next) {
		if (aborted) {
			op->rc = GH_EUNAVAIL;
			continue;
		}
		if (n > 1 && be->savepoint(c)) {
			op->rc = GH_EUNAVAIL;
			continue;
		}
		bool undo = run_op(c, op);
		if (!be->in_transaction(c)) {
			/* The database rolled the whole transaction back (disk full, I/O). */
			aborted = true;
			fail_kept(batch, op->next);
			continue;
		}
		if (n > 1) {
			if (undo)
				be->rollback_to(c);
			be->release(c);
		} else if (undo) {
			be->rollback(c);
			return;
		}
	}
	if (aborted)
		return;
	rc = be->commit(c);
	if (rc) {
		/* A failed commit (disk full, I/O) may have rolled back already. */
		if (be->in_transaction(c))
			be->rollback(c);
		fail_kept(batch, NULL);
	}
}

/* One writer batch: its transaction, timed for the metrics. */
static void run_batch(struct store *st, struct write_op *batch)
{
	int n = 0;
	for (struct write_op *op = batch; op; op = op->next)
		n++;
	uint64_t t0 = gh_mono_ns();
	run_transaction(st, batch, n);
	metrics_store_commit(gh_mono_ns() - t0, n);
}

/*
 * A write's completion, without store.lock (issue 18): the writer used to
 * signal each submitter's condition variable under the lock it had just
 * taken, so every woken submitter blocked again on that lock and needed a
 * second wake-up; four to five context switches per write were the
 * largest cost of a durable write. Now the submitter sleeps on its op's
 * own futex word, and the writer wakes it only if it is asleep.
 */
enum { OP_PENDING, OP_SLEEPING, OP_DONE };

static void op_wait(struct write_op *op)
{
	int s = OP_PENDING;
	if (!atomic_compare_exchange_strong(&op->state, &s, OP_SLEEPING))
		return; /* already done */
	while (atomic_load(&op->state) != OP_DONE)
		syscall(SYS_futex, (int *)&op->state, FUTEX_WAIT_PRIVATE, OP_SLEEPING, NULL, NULL, 0);
}

/*
 * The writer's last touch of op: once the state is OP_DONE the submitter
 * may return and its stack frame be reused, so the wake-up goes to the
 * address only. A stray wake-up of a later op at the same address is
 * harmless: op_wait sleeps again until its own state is OP_DONE.
 */
static void op_finish(struct write_op *op)
{
	if (atomic_exchange(&op->state, OP_DONE) == OP_SLEEPING)
		syscall(SYS_futex, (int *)&op->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *writer_main(void *arg)
{
	struct store *st = arg;
	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (!st->head && !st->stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&st->work, &st->lock, &ts);
			if (!st->head && !st->stopping) {
				pthread_mutex_unlock(&st->lock);
				store_check_data_version(st);
				pthread_mutex_lock(&st->lock);
			}
		}
		if (!st->head && st->stopping)
			break;
		struct write_op *batch = st->head;
		if (st->group_commit) {
			st->head = st->tail = NULL;
		} else {
			st->head = batch->next;
			if (!st->head)
				st->tail = NULL;
			batch->next = NULL;
		}
		pthread_mutex_unlock(&st->lock);

		if (st->be->before_batch)
			st->be->before_batch(st->writer);
		run_batch(st, batch);
		store_check_data_version(st);

		/*
		 * Wake exactly the batch's submitters: a broadcast also woke every
		 * thread whose write was queued for the next batch, only for it to
		 * sleep again. op->next is read first: op is gone once finished.
		 */
		for (struct write_op *op = batch, *next; op; op = next) {
			next = op->next;
			if (op->done) {
				op->done(op->done_arg, op->rc);
				free(op);
			} else {
				op_finish(op);
			}
		}
		if (st->be->after_batch)
			st->be->after_batch(st->writer);
		pthread_mutex_lock(&st->lock);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

int store_writer_start(struct store *st)
{
	return pthread_create(&st->writer_thread, NULL, writer_main, st) ? GH_EINTERNAL : 0;
}

void store_writer_stop(struct store *st)
{
	pthread_mutex_lock(&st->lock);
	st->stopping = true;
	pthread_cond_signal(&st->work);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->writer_thread, NULL);
}

/*
 * A back end without a writer thread (PostgreSQL): the write runs as one
 * short transaction on a pooled connection; a serialization failure or a
 * deadlock runs it again (up to 5 times, after a short random wait).
 */
static int submit_per_call(struct store *st, store_write_fn *fn, void *arg)
{
	const struct store_backend *be = st->be;
	for (int attempt = 0;; attempt++) {
		struct store_conn *c = store_reader_get(st);
		if (!c)
			return GH_EUNAVAIL;
		struct write_op op = { .fn = fn, .arg = arg, .rc = GH_EINTERNAL };
		uint64_t t0 = gh_mono_ns();
		int rc = be->begin(c);
		if (!rc) {
			if (run_op(c, &op)) {
				be->rollback(c);
				rc = op.rc;
			} else {
				rc = be->commit(c);
				if (rc) {
					if (be->in_transaction(c))
						be->rollback(c);
				} else {
					rc = op.rc;
				}
			}
		}
		bool retry = rc && be->retryable && be->retryable(c);
		store_reader_put(st, c);
		metrics_store_commit(gh_mono_ns() - t0, 1);
		if (!retry || attempt >= 4)
			return rc;
		/* 1-2 ms, doubling each time, randomised so the racers part. */
		uint64_t us = (1000ull << attempt) + gh_mono_ns() % (1000ull << attempt);
		struct timespec ts = { 0, (long)(us * 1000) };
		nanosleep(&ts, NULL);
	}
}

/* Queues op (the caller holds st->lock); the writer is signalled after the unlock. */
static void enqueue(struct store *st, struct write_op *op)
{
	if (st->tail)
		st->tail->next = op;
	else
		st->head = op;
	st->tail = op;
}

bool store_submit_async(struct store *st, store_write_fn *fn, void *arg,
			void (*done)(void *done_arg, int rc), void *done_arg)
{
	if (st->be->per_call)
		return false;
	struct write_op *op = xcalloc(1, sizeof *op);
	op->fn = fn;
	op->arg = arg;
	op->rc = GH_EINTERNAL;
	op->done = done;
	op->done_arg = done_arg;
	pthread_mutex_lock(&st->lock);
	bool open = !st->stopping && !atomic_load(&st->async_closed);
	if (open)
		enqueue(st, op);
	pthread_mutex_unlock(&st->lock);
	if (!open) {
		free(op);
		return false;
	}
	pthread_cond_signal(&st->work);
	return true;
}

static int noop(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)c;
	(void)arg;
	*end = STORE_OP_ROLLBACK;
	return 0;
}

void store_async_close(struct store *st)
{
	if (st->be->per_call)
		return;
	pthread_mutex_lock(&st->lock);
	atomic_store(&st->async_closed, true);
	pthread_mutex_unlock(&st->lock);
	/* Queued behind every asynchronous write: when it returns, their callbacks have run. */
	store_submit(st, noop, NULL);
}

int store_submit(struct store *st, store_write_fn *fn, void *arg)
{
	if (st->be->per_call)
		return submit_per_call(st, fn, arg);
	struct write_op op = { .fn = fn, .arg = arg, .rc = GH_EINTERNAL, .state = OP_PENDING };
	pthread_mutex_lock(&st->lock);
	if (st->stopping) {
		pthread_mutex_unlock(&st->lock);
		return GH_EUNAVAIL;
	}
	enqueue(st, &op);
	pthread_mutex_unlock(&st->lock);
	/* After the unlock, so the writer does not wake only to wait for the lock. */
	pthread_cond_signal(&st->work);
	op_wait(&op);
	return op.rc;
}

/* ---- the reader pool ---- */

static void pool_warm_kick(struct store *st);

struct store_conn *store_reader_get(struct store *st)
{
	pthread_mutex_lock(&st->rlock);
	while (st->nfree == 0)
		pthread_cond_wait(&st->rfree, &st->rlock);
	int idx = st->free_idx[--st->nfree];
	pthread_mutex_unlock(&st->rlock);
	if (st->readers[idx] && st->be->conn_ok && !st->be->conn_ok(st->readers[idx])) {
		/* Broken (the server restarted, failed over...): a new one. */
		st->be->conn_close(st->readers[idx]);
		st->readers[idx] = NULL;
	}
	if (!st->readers[idx]) {
		char err[512];
		if (st->be->conn_open(st->ctx, false, &st->readers[idx], err, sizeof err)) {
			if (*err) /* empty: the back end already said so (a reconnect backoff) */
				log_error("%s", err);
			pthread_mutex_lock(&st->rlock);
			st->free_idx[st->nfree++] = idx;
			pthread_cond_signal(&st->rfree);
			pthread_mutex_unlock(&st->rlock);
			return NULL;
		}
		st->readers[idx]->slot = idx;
		pool_warm_kick(st);
	}
	return st->readers[idx];
}

void store_reader_put(struct store *st, struct store_conn *c)
{
	pthread_mutex_lock(&st->rlock);
	st->free_idx[st->nfree++] = c->slot;
	pthread_cond_signal(&st->rfree);
	pthread_mutex_unlock(&st->rlock);
}

/*
 * Takes slot i out of the free stack when it is free and its connection is
 * closed or broken (a broken one is closed here); false otherwise.
 */
static bool take_slot_to_open(struct store *st, int i)
{
	bool took = false;
	pthread_mutex_lock(&st->rlock);
	for (int k = 0; k < st->nfree; k++) {
		if (st->free_idx[k] == i) {
			/* Free: no call is using the slot, so its connection can be read. */
			struct store_conn *c = st->readers[i];
			took = !c || (st->be->conn_ok && !st->be->conn_ok(c));
			if (took)
				st->free_idx[k] = st->free_idx[--st->nfree];
			break;
		}
	}
	pthread_mutex_unlock(&st->rlock);
	if (took && st->readers[i]) {
		st->be->conn_close(st->readers[i]);
		st->readers[i] = NULL;
	}
	return took;
}

/*
 * One pass over the pool: opens each free slot's connection that is closed
 * or broken. A failure ends the pass (the rest open at their first use, as
 * without it) and puts its slot at the bottom of the free stack, so that
 * the open connections are taken first.
 */
static void pool_warm_pass(struct store *st, bool first)
{
	for (int i = 0; i < st->nreaders && !atomic_load(&st->warm_stop); i++) {
		if (!take_slot_to_open(st, i))
			continue; /* open, or held by a call that opens it if need be */
		char err[512];
		if (!st->be->conn_open(st->ctx, false, &st->readers[i], err, sizeof err)) {
			st->readers[i]->slot = i;
			store_reader_put(st, st->readers[i]);
			continue;
		}
		pthread_mutex_lock(&st->rlock);
		memmove(&st->free_idx[1], &st->free_idx[0], (size_t)st->nfree * sizeof *st->free_idx);
		st->free_idx[0] = i;
		st->nfree++;
		pthread_cond_signal(&st->rfree);
		pthread_mutex_unlock(&st->rlock);
		if (first)
			log_warn("could not open pooled database connection %d of %d ahead of use (%s); "
				 "it and the rest open at their first use", i + 1, st->nreaders,
				 *err ? err : "in a reconnect backoff");
		break;
	}
}

/*
 * The pool opened before load comes (store_options.warm): opened at their
 * first use, under load, PostgreSQL connections took up to seconds each on
 * 2 cores (a backend's fork, SCRAM's rounds on both sides), holding a
 * request thread meanwhile. Opened here, one at a time, off the start-up
 * path; and again whenever a call had to open one itself: after a database
 * restart every pooled connection is broken, and the calls would otherwise
 * reconnect them all under load.
 */
static void *pool_warm(void *arg)
{
	struct store *st = arg;
	for (bool first = true; !atomic_load(&st->warm_stop); first = false) {
		pool_warm_pass(st, first);
		pthread_mutex_lock(&st->warm_lock);
		while (!st->warm_kicked && !atomic_load(&st->warm_stop))
			pthread_cond_wait(&st->warm_cond, &st->warm_lock);
		st->warm_kicked = false;
		pthread_mutex_unlock(&st->warm_lock);
	}
	return NULL;
}

static void pool_warm_kick(struct store *st)
{
	if (!st->warm_started)
		return;
	pthread_mutex_lock(&st->warm_lock);
	st->warm_kicked = true;
	pthread_cond_signal(&st->warm_cond);
	pthread_mutex_unlock(&st->warm_lock);
}

void store_pool_warm_start(struct store *st)
{
	atomic_store(&st->warm_stop, false);
	st->warm_kicked = false;
	pthread_mutex_init(&st->warm_lock, NULL);
	pthread_cond_init(&st->warm_cond, NULL);
	st->warm_started = pthread_create(&st->warm_thread, NULL, pool_warm, st) == 0;
	if (!st->warm_started) {
		pthread_cond_destroy(&st->warm_cond);
		pthread_mutex_destroy(&st->warm_lock);
	}
}

void store_pool_warm_stop(struct store *st)
{
	if (!st->warm_started)
		return;
	pthread_mutex_lock(&st->warm_lock);
	atomic_store(&st->warm_stop, true);
	pthread_cond_signal(&st->warm_cond);
	pthread_mutex_unlock(&st->warm_lock);
	pthread_join(st->warm_thread, NULL);
	st->warm_started = false;
	pthread_cond_destroy(&st->warm_cond);
	pthread_mutex_destroy(&st->warm_lock);
}
