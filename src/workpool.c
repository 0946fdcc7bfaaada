/*
 * workpool.c - threads taking jobs from one mutex-protected FIFO.
 */
#include <pthread.h>
#include <stdlib.h>

#include "gatehouse/log.h"
#include "gatehouse/alloc.h"
#include "gatehouse/workpool.h"
#include "gatehouse/banned.h"

struct job {
	void (*fn)(void *arg);
	void *arg;
	struct job *next;
};

struct workpool {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct job *head, *tail;
	bool stopping;
	int nthreads;
	pthread_t *threads;
};

static void *worker_main(void *arg)
{
	struct workpool *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->work, &p->lock);
		struct job *j = p->head;
		if (!j)
			break; /* stopping, and nothing left */
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		j->fn(j->arg);
		free(j);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct workpool *workpool_new(int threads)
{
	struct workpool *p = xcalloc(1, sizeof *p);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	p->threads = xcalloc((size_t)threads, sizeof *p->threads);
	/*
	 * The request threads' stack size (server.c), not glibc's 8 MiB: the
	 * workers run the same handlers, and libcurl's and OpenSSL's calls.
	 * Under valgrind each new 8 MiB stack was also a few ms of marking.
	 */
	pthread_attr_t attr;
	bool attr_init = pthread_attr_init(&attr) == 0;
	bool attr_ok = attr_init && pthread_attr_setstacksize(&attr, WORKPOOL_STACK_SIZE) == 0;
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&p->threads[i], attr_ok ? &attr : NULL, worker_main, p) != 0) {
			log_error("cannot start worker thread %d", i);
			break;
		}
		p->nthreads++;
	}
	if (attr_init)
		pthread_attr_destroy(&attr);
	return p;
}

bool workpool_submit(struct workpool *p, void (*fn)(void *arg), void *arg)
{
	struct job *j = xmalloc(sizeof *j);
	j->fn = fn;
	j->arg = arg;
	j->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->stopping || p->nthreads == 0) {
		pthread_mutex_unlock(&p->lock);
		free(j);
		return false;
	}
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_mutex_unlock(&p->lock);
	/*
	 * After the unlock: a worker woken while we still held the lock would
	 * only block on it and need a second wake-up (issue 18: context
	 * switches were the largest cost of a deferred write). The pool
	 * outlives its submitters, so the late signal is safe.
	 */
	pthread_cond_signal(&p->work);
	return true;
}

void workpool_stop(struct workpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	bool first = !p->stopping;
	p->stopping = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	if (!first)
		return;
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
}

void workpool_free(struct workpool *p)
{
	if (!p)
		return;
	workpool_stop(p);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	free(p->threads);
	free(p);
}
