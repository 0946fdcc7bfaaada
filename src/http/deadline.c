/*
 * deadline.c - the request and write deadlines (see internal.h): a watcher
 * thread that shuts down connections whose request takes longer than
 * request_timeout to arrive, whatever trickle keeps them active, or whose
 * answer the client has not taken within write_timeout; and the count of
 * open connections per address behind max_connections_per_ip.
 */
#include <linux/tcp.h> /* tcp_info with tcpi_bytes_received (glibc's lacks it) */
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "gatehouse/alloc.h"
#include "gatehouse/clock.h"
#include "gatehouse/log.h"
#include "internal.h"
#include "gatehouse/banned.h"

enum { W_WAITING, W_RECEIVING, W_ANSWERING, W_SENDING };

#define IP_BUCKETS 1024
struct ip_count {
	unsigned char addr[16];
	unsigned int n;
	struct ip_count *next;
};

struct conn_watch {
	int fd;
	bool counted;              /* holds one count of addr in the address table */
	unsigned char addr[16];
	_Atomic uint64_t sending_ns; /* when the answer was queued (W_SENDING) */
	/* Set by the request threads without the lock (which guards the list
	 * only); the watcher moves the state on by compare-and-swap, so it never
	 * undoes a request thread's change. */
	_Atomic int state;         /* W_* */
	_Atomic uint64_t base_bytes; /* bytes received when the wait for a request began */
	uint64_t since_ns;         /* the watcher's: when the request's bytes were first seen */
	struct conn_watch *prev, *next;
};


static uint64_t bytes_received(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	memset(&ti, 0, sizeof ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
		return 0;
	return ti.tcpi_bytes_received;
}

/* The address as 16 bytes (IPv4 mapped into IPv6); false for other families. */
static bool addr16(const struct sockaddr *sa, unsigned char out[16])
{
	memset(out, 0, 16);
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

static struct ip_count **ip_slot(struct http_deadline *d, const unsigned char addr[16])
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	struct ip_count **pp = &d->ip_table[h % IP_BUCKETS];
	while (*pp && memcmp((*pp)->addr, addr, 16) != 0)
		pp = &(*pp)->next;
	return pp;
}

bool http_deadline_admit(struct http_deadline *d, const struct sockaddr *addr)
{
	unsigned char a[16];
	if (!d->per_ip_limit || !addr16(addr, a))
		return true;
	pthread_mutex_lock(&d->lock);
	struct ip_count *c = *ip_slot(d, a);
	bool ok = !c || c->n < d->per_ip_limit;
	pthread_mutex_unlock(&d->lock);
	return ok;
}

/* With d->lock held: counts w's address in (delta 1) or out (-1). */
static void ip_count_add(struct http_deadline *d, struct conn_watch *w, int delta)
{
	struct ip_count **pp = ip_slot(d, w->addr);
	if (delta > 0) {
		if (!*pp) {
			*pp = xcalloc(1, sizeof **pp);
			memcpy((*pp)->addr, w->addr, 16);
		}
		(*pp)->n++;
	} else if (*pp && --(*pp)->n == 0) {
		struct ip_count *c = *pp;
		*pp = c->next;
		free(c);
	}
}

void http_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_deadline *d = cls;
	struct conn_watch *w = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci)
			return;
		w = xcalloc(1, sizeof *w);
		w->fd = ci->connect_fd;
		atomic_init(&w->state, W_WAITING);
		atomic_init(&w->base_bytes, 0);
		atomic_init(&w->sending_ns, 0);
		const union MHD_ConnectionInfo *ai =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		w->counted = d->per_ip_limit && ai && addr16(ai->client_addr, w->addr);
		pthread_mutex_lock(&d->lock);
		if (w->counted)
			ip_count_add(d, w, 1);
		w->next = d->watched;
		if (w->next)
			w->next->prev = w;
		d->watched = w;
		pthread_mutex_unlock(&d->lock);
		*socket_context = w;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && w) {
		/* Before libmicrohttpd closes the socket: the watcher never
		 * touches a descriptor that may already be someone else's. */
		pthread_mutex_lock(&d->lock);
		if (w->counted)
			ip_count_add(d, w, -1);
		if (w->prev)
			w->prev->next = w->next;
		else
			d->watched = w->next;
		if (w->next)
			w->next->prev = w->prev;
		pthread_mutex_unlock(&d->lock);
		free(w);
		*socket_context = NULL;
	}
}

static struct conn_watch *watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

void http_deadline_answering(struct MHD_Connection *conn)
{
	struct conn_watch *w = conn ? watch_of(conn) : NULL;
	if (w)
		atomic_store(&w->state, W_ANSWERING);
}

void http_deadline_sending(struct MHD_Connection *conn)
{
	struct conn_watch *w = conn ? watch_of(conn) : NULL;
	if (!w)
		return;
	atomic_store(&w->sending_ns, gh_mono_ns());
	atomic_store(&w->state, W_SENDING);
}

void http_deadline_waiting(struct MHD_Connection *conn)
{
	struct conn_watch *w = watch_of(conn);
	if (!w)
		return;
	atomic_store(&w->base_bytes, bytes_received(w->fd));
	atomic_store(&w->state, W_WAITING);
}

unsigned int http_deadline_arriving(struct http_deadline *d)
{
	unsigned int n = 0;
	pthread_mutex_lock(&d->lock);
	for (struct conn_watch *w = d->watched; w; w = w->next) {
		int st = atomic_load(&w->state);
		if (st == W_RECEIVING ||
		    (st == W_WAITING && bytes_received(w->fd) > atomic_load(&w->base_bytes)))
			n++;
	}
	pthread_mutex_unlock(&d->lock);
	return n;
}

/* How long w's answer has been queued (0 when it was queued after now was read). */
static uint64_t sending_for(struct conn_watch *w, uint64_t now)
{
	uint64_t since = atomic_load(&w->sending_ns);
	return now > since ? now - since : 0;
}

static void *watch_main(void *arg)
{
	struct http_deadline *d = arg;
	uint64_t limit = (uint64_t)d->timeout * 1000000000ull;
	uint64_t write_limit = (uint64_t)d->write_timeout * 1000000000ull;
	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&d->cond, &d->lock, &ts);
		if (d->stop)
			break;
		uint64_t now = gh_mono_ns();
		unsigned cut = 0, stalled = 0;
		for (struct conn_watch *w = d->watched; w; w = w->next) {
			int st = atomic_load(&w->state);
			if (st == W_WAITING &&
			    bytes_received(w->fd) > atomic_load(&w->base_bytes)) {
				w->since_ns = now;
				atomic_compare_exchange_strong(&w->state, &st, W_RECEIVING);
			} else if (st == W_RECEIVING && now - w->since_ns > limit &&
				   atomic_compare_exchange_strong(&w->state, &st, W_ANSWERING)) {
				shutdown(w->fd, SHUT_RDWR); /* once: the state is no longer RECEIVING */
				cut++;
			} else if (st == W_SENDING && sending_for(w, now) > write_limit &&
				   atomic_compare_exchange_strong(&w->state, &st, W_ANSWERING)) {
				/* The client left the answer unread: its bytes stay queued
				 * in the socket (SIOCOUTQ) and in libmicrohttpd's buffer. */
				shutdown(w->fd, SHUT_RDWR);
				stalled++;
			}
		}
		if (cut)
			log_info("closed %u connection(s) that took longer than request_timeout "
				 "(%us) to send a request", cut, d->timeout);
		if (stalled)
			log_info("closed %u connection(s) whose client did not read its answer "
				 "within write_timeout (%us)", stalled, d->write_timeout);
		pthread_mutex_unlock(&d->lock);
		http_log_limits_flush(false);
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

void http_deadline_init(struct http_deadline *d, unsigned int timeout,
			unsigned int write_timeout, unsigned int per_ip_limit)
{
	memset(d, 0, sizeof *d);
	d->timeout = timeout;
	d->write_timeout = write_timeout ? write_timeout : 30;
	d->per_ip_limit = per_ip_limit;
	d->ip_table = xcalloc(IP_BUCKETS, sizeof *d->ip_table);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
}

bool http_deadline_start(struct http_deadline *d)
{
	d->watching = pthread_create(&d->watcher, NULL, watch_main, d) == 0;
	if (!d->watching)
		log_error("cannot start the request-deadline thread: slow clients are "
			  "cut off by idle_timeout only");
	return d->watching;
}

void http_deadline_stop(struct http_deadline *d)
{
	if (d->watching) {
		pthread_mutex_lock(&d->lock);
		d->stop = true;
		pthread_cond_signal(&d->cond);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->watcher, NULL);
		d->watching = false;
	}
}

void http_deadline_release(struct http_deadline *d)
{
	http_deadline_stop(d);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	for (size_t i = 0; i < IP_BUCKETS; i++)
		while (d->ip_table[i]) {
			struct ip_count *c = d->ip_table[i];
			d->ip_table[i] = c->next;
			free(c);
		}
	free(d->ip_table);
	d->ip_table = NULL;
}
