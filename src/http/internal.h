/*
 * internal.h - what the three parts of the http module share: the server
 * (server.c: the libmicrohttpd daemon and its callbacks), requests and
 * replies (request.c), and the request deadline (deadline.c). Not a
 * contract for other modules: include/gatehouse/http.h is.
 */
#ifndef GATEHOUSE_HTTP_INTERNAL_H
#define GATEHOUSE_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "gatehouse/http.h"

/*
 * The request and write deadlines, and the per-address connection cap.
 * libmicrohttpd's only timeout is for inactivity, which a client that
 * sends one byte a second ("slowloris") never triggers. A watcher thread
 * reads each connection's count of received bytes (TCP_INFO) once a
 * second: once bytes of a request have come, the whole request must be in
 * within the timeout, or the socket is shut down (libmicrohttpd then closes
 * it). An idle keep-alive connection receives nothing and stays under
 * idle_timeout alone; a request being answered (or waiting on a platform)
 * is not timed. Once its answer is queued, the client must take all of it
 * within write_timeout, or the socket is shut down the same way: a client
 * that stops reading holds one answer and libmicrohttpd's pool for that
 * long at most.
 *
 * The per-address cap (max_connections_per_ip) is ours, not
 * libmicrohttpd's, so that a refusal can say which limit refused it:
 * libmicrohttpd words both as "Server reached connection limit".
 */
struct http_deadline {
	unsigned int timeout;      /* seconds */
	unsigned int write_timeout; /* seconds */
	unsigned int per_ip_limit; /* 0: none */
	pthread_mutex_t lock;      /* guards the list and the address table */
	pthread_cond_t cond;
	struct conn_watch *watched; /* every open connection */
	struct ip_count **ip_table; /* open connections by address (per_ip_limit only) */
	pthread_t watcher;
	bool watching, stop;
};

void http_deadline_init(struct http_deadline *d, unsigned int timeout,
			unsigned int write_timeout, unsigned int per_ip_limit);
/* Starts the watcher thread; false (logged) when it cannot. */
bool http_deadline_start(struct http_deadline *d);
/* Stops the watcher (if started); connections may still open and close. */
void http_deadline_stop(struct http_deadline *d);
/* Stops the watcher and releases d, once no connection is left (daemon stopped). */
void http_deadline_release(struct http_deadline *d);
/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback; cls is the deadline. */
void http_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code);
/*
 * False when addr already has per_ip_limit connections open. Checked at
 * accept and counted when the connection starts, so request threads
 * accepting from one address at the same instant may each admit one more.
 */
bool http_deadline_admit(struct http_deadline *d, const struct sockaddr *addr);
/* The request is all in (or refused): its handler's time is not timed. */
void http_deadline_answering(struct MHD_Connection *conn);
/* The answer is queued: the client must take it within write_timeout. */
void http_deadline_sending(struct MHD_Connection *conn);
/*
 * Open connections on which bytes of a request have arrived that
 * libmicrohttpd has not yet turned into a request (or is still reading):
 * requests that reached the server, which a shutdown must still answer.
 */
unsigned int http_deadline_arriving(struct http_deadline *d);
/* The answer went out: the connection waits for its next request. */
void http_deadline_waiting(struct MHD_Connection *conn);
/*
 * Writes pending rate-limit summaries (server.c): those of intervals that
 * are over (the watcher, once a second), or all at once (now, at stop).
 */
void http_log_limits_flush(bool now);

struct http_server {
	struct MHD_Daemon *daemon;
	int listen_fd;
	atomic_bool refusing;      /* http_quiesce: new connections are closed unanswered */
	atomic_uint refused;       /* ... and how many were */
	atomic_bool closing;
	atomic_bool access_log;
	http_dispatch_fn dispatch;
	void *ctx;
	struct http_options opt;
	char *base_path, *cors_origin;
	atomic_uint in_flight;
	atomic_uint_fast64_t counter;
	char id_prefix[9];
	struct cidr {
		unsigned char net[16];
		int bits;
	} *proxies;
	size_t nproxies;
	struct http_deadline deadline;
};

/*
 * The request target's path: percent-decoded, slashes collapsed, base_path
 * removed; NULL (and *outside) when it is not under base_path, NULL alone
 * when it does not decode. Caller frees.
 */
char *http_normalize_path(const char *target, const char *base_path, bool *outside);

#endif
