/*
 * test_workpool.c - the platform worker pool as the handlers use it: every
 * job submitted (from several threads at once) runs exactly once, in order
 * of submission on a single worker, workpool_free runs what is still queued
 * before it returns, and a pool that is stopping refuses new jobs (the
 * caller then runs the job itself), also after workpool_stop until it is freed. No sleeps: jobs wait on condition
 * variables that the test opens. The .c is included, so that one test can
 * wait on the pool's own state.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/log.h"
#include "gatehouse/workpool.h"
#include "harness.h"

/* The pool's internals, to see when workpool_free has begun (STYLE.md: Tests). */
#include "../../src/workpool.c"

/* ---- a job that counts itself ---- */

struct tally {
	atomic_int runs;
	atomic_int *per_job;       /* how often each job ran */
};

struct counted_job {
	struct tally *t;
	int index;
};

static void count_job(void *arg)
{
	struct counted_job *j = arg;
	atomic_fetch_add(&j->t->runs, 1);
	atomic_fetch_add(&j->t->per_job[j->index], 1);
}

/* ---- a gate: jobs block on it until the test opens it ---- */

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	int waiting;               /* jobs currently blocked in gate_wait */
};

static void gate_init(struct gate *g)
{
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->open = false;
	g->waiting = 0;
}

static void gate_release(struct gate *g)
{
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
}

static void gate_wait(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->waiting++;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	g->waiting--;
	pthread_mutex_unlock(&g->lock);
}

/* Blocks until n jobs are waiting at the gate. */
static void gate_await_waiters(struct gate *g, int n)
{
	pthread_mutex_lock(&g->lock);
	while (g->waiting < n)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void gate_job(void *arg)
{
	gate_wait(arg);
}

TEST(every_job_runs_once)
{
	enum { N = 200 };
	struct tally t = { 0 };
	t.per_job = calloc(N, sizeof *t.per_job);
	struct counted_job jobs[N];
	struct workpool *p = workpool_new(4);
	CHECK(p != NULL);
	for (int i = 0; i < N; i++) {
		jobs[i] = (struct counted_job){ &t, i };
		CHECK(workpool_submit(p, count_job, &jobs[i]));
	}
	workpool_free(p); /* runs everything queued, then joins */
	CHECK_INT(atomic_load(&t.runs), N);
	int wrong = 0;
	for (int i = 0; i < N; i++)
		wrong += atomic_load(&t.per_job[i]) != 1;
	CHECK_INT(wrong, 0);
	free(t.per_job);
}

/* ---- submitting from several threads at once ---- */

enum { SUBMITTERS = 8, PER_SUBMITTER = 250 };

struct submitter {
	struct workpool *p;
	struct counted_job *jobs;  /* PER_SUBMITTER of them */
	int refused;
};

static void *submit_main(void *arg)
{
	struct submitter *s = arg;
	for (int i = 0; i < PER_SUBMITTER; i++)
		if (!workpool_submit(s->p, count_job, &s->jobs[i]))
			s->refused++;
	return NULL;
}

TEST(jobs_from_several_threads_all_run)
{
	const int total = SUBMITTERS * PER_SUBMITTER;
	struct tally t = { 0 };
	t.per_job = calloc((size_t)total, sizeof *t.per_job);
	struct counted_job *jobs = calloc((size_t)total, sizeof *jobs);
	for (int i = 0; i < total; i++)
		jobs[i] = (struct counted_job){ &t, i };
	struct workpool *p = workpool_new(3);
	pthread_t th[SUBMITTERS];
	struct submitter subs[SUBMITTERS];
	for (int i = 0; i < SUBMITTERS; i++) {
		subs[i] = (struct submitter){ p, jobs + i * PER_SUBMITTER, 0 };
		CHECK_INT(pthread_create(&th[i], NULL, submit_main, &subs[i]), 0);
	}
	int refused = 0;
	for (int i = 0; i < SUBMITTERS; i++) {
		pthread_join(th[i], NULL);
		refused += subs[i].refused;
	}
	workpool_free(p);
	CHECK_INT(refused, 0);
	CHECK_INT(atomic_load(&t.runs), total);
	int wrong = 0;
	for (int i = 0; i < total; i++)
		wrong += atomic_load(&t.per_job[i]) != 1;
	CHECK_INT(wrong, 0);
	free(jobs);
	free(t.per_job);
}

/* ---- order of submission ---- */

struct order_log {
	pthread_mutex_t lock;
	int seen[64];
	int n;
};

struct order_job {
	struct order_log *log;
	int index;
};

static void order_job_fn(void *arg)
{
	struct order_job *j = arg;
	pthread_mutex_lock(&j->log->lock);
	if (j->log->n < 64)
		j->log->seen[j->log->n++] = j->index;
	pthread_mutex_unlock(&j->log->lock);
}

TEST(one_worker_runs_jobs_in_submission_order)
{
	struct gate g;
	gate_init(&g);
	struct order_log log = { .n = 0 };
	pthread_mutex_init(&log.lock, NULL);
	struct order_job jobs[32];
	struct workpool *p = workpool_new(1);
	/* Hold the only worker, so that all 32 jobs are queued before any runs. */
	CHECK(workpool_submit(p, gate_job, &g));
	gate_await_waiters(&g, 1);
	for (int i = 0; i < 32; i++) {
		jobs[i] = (struct order_job){ &log, i };
		CHECK(workpool_submit(p, order_job_fn, &jobs[i]));
	}
	gate_open(&g);
	workpool_free(p);
	CHECK_INT(log.n, 32);
	int out_of_order = 0;
	for (int i = 0; i < log.n; i++)
		out_of_order += log.seen[i] != i;
	CHECK_INT(out_of_order, 0);
	pthread_mutex_destroy(&log.lock);
	gate_release(&g);
}

/* ---- stop drains the queue ---- */

struct stopper {
	struct workpool *p;
	atomic_bool returned;
};

static void *stop_main(void *arg)
{
	struct stopper *s = arg;
	workpool_free(s->p);
	atomic_store(&s->returned, true);
	return NULL;
}

TEST(stop_runs_queued_jobs_before_returning)
{
	enum { QUEUED = 50 };
	struct gate g;
	gate_init(&g);
	struct tally t = { 0 };
	t.per_job = calloc(QUEUED, sizeof *t.per_job);
	struct counted_job jobs[QUEUED];
	struct workpool *p = workpool_new(2);
	/* Both workers are held at the gate; the counted jobs stay queued. */
	CHECK(workpool_submit(p, gate_job, &g));
	CHECK(workpool_submit(p, gate_job, &g));
	gate_await_waiters(&g, 2);
	for (int i = 0; i < QUEUED; i++) {
		jobs[i] = (struct counted_job){ &t, i };
		CHECK(workpool_submit(p, count_job, &jobs[i]));
	}
	CHECK_INT(atomic_load(&t.runs), 0);
	struct stopper s = { .p = p };
	pthread_t th;
	CHECK_INT(pthread_create(&th, NULL, stop_main, &s), 0);
	/*
	 * workpool_free cannot return while both workers are held; whatever it
	 * has done so far, the queued jobs must all have run once it does.
	 */
	CHECK(!atomic_load(&s.returned) || atomic_load(&t.runs) == QUEUED);
	gate_open(&g);
	pthread_join(th, NULL);
	CHECK(atomic_load(&s.returned));
	CHECK_INT(atomic_load(&t.runs), QUEUED);
	free(t.per_job);
	gate_release(&g);
}

/* ---- a stopping pool refuses new jobs ---- */

/*
 * After workpool_free returns the pool is freed, so "after stop" can only
 * mean "once stop has begun": a job still running then (a platform call
 * finishing during shutdown) submits a follow-up. To know that stop has
 * begun without sleeping, the job waits on the pool's own condition
 * variable until the stopping flag is up (hence the #include above).
 */
struct probe {
	struct workpool *p;
	int submitted;             /* -1 until the probe has tried */
	struct tally t;
	atomic_int slot;
	struct counted_job follow_up;
};

static void probe_job(void *arg)
{
	struct probe *pr = arg;
	pthread_mutex_lock(&pr->p->lock);
	while (!pr->p->stopping)
		pthread_cond_wait(&pr->p->work, &pr->p->lock);
	pthread_mutex_unlock(&pr->p->lock);
	pr->submitted = workpool_submit(pr->p, count_job, &pr->follow_up);
}

TEST(submit_while_stopping_is_refused)
{
	struct probe pr = { .submitted = -1 };
	pr.t.per_job = &pr.slot;
	pr.follow_up = (struct counted_job){ &pr.t, 0 };
	pr.p = workpool_new(1);
	CHECK(workpool_submit(pr.p, probe_job, &pr));
	workpool_free(pr.p);
	CHECK_INT(pr.submitted, 0);              /* refused: the caller runs it itself */
	CHECK_INT(atomic_load(&pr.t.runs), 0);   /* and the pool did not run it */
}

TEST(pool_without_threads_refuses)
{
	/* No worker could ever run it: the caller must run the job itself. */
	struct workpool *p = workpool_new(0);
	struct tally t = { 0 };
	atomic_int one = 0;
	t.per_job = &one;
	struct counted_job j = { &t, 0 };
	CHECK(!workpool_submit(p, count_job, &j));
	workpool_free(p);
	CHECK_INT(atomic_load(&t.runs), 0);
}

/*
 * The daemon's stop: workpool_stop while the request threads still run, so
 * the pool must stay valid and refuse; the free comes after the server.
 */
TEST(stopped_pool_refuses_until_freed)
{
	struct workpool *p = workpool_new(2);
	struct tally t = { 0 };
	atomic_int slots[2] = { 0, 0 };
	t.per_job = slots;
	struct counted_job before = { &t, 0 }, after = { &t, 1 };
	CHECK(workpool_submit(p, count_job, &before));
	workpool_stop(p);
	CHECK_INT(atomic_load(&t.runs), 1);   /* what was queued ran before the stop returned */
	CHECK(!workpool_submit(p, count_job, &after));
	workpool_stop(p);                     /* a second stop returns at once */
	CHECK(!workpool_submit(p, count_job, &after));
	workpool_free(p);
	CHECK_INT(atomic_load(&t.runs), 1);
	CHECK_INT(atomic_load(&slots[1]), 0);
}

TEST(stop_null_is_harmless)
{
	workpool_stop(NULL);
	workpool_free(NULL);
}

int main(void)
{
	log_configure(LOG_ERROR, LOG_FORMAT_TEXT);
	RUN(every_job_runs_once);
	RUN(jobs_from_several_threads_all_run);
	RUN(one_worker_runs_jobs_in_submission_order);
	RUN(stop_runs_queued_jobs_before_returning);
	RUN(submit_while_stopping_is_refused);
	RUN(pool_without_threads_refuses);
	RUN(stopped_pool_refuses_until_freed);
	RUN(stop_null_is_harmless);
	return REPORT();
}
