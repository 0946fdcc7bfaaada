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

#include <microhttpd.h>

#include "gatehouse/http.h"

/*
 * The request deadline. libmicrohttpd's only timeout is for inactivity,
 * which a client that sends one byte a second ("slowloris") never
 * triggers. A watcher thread reads each connection's count of received
 * bytes (TCP_INFO) once a second: once bytes of a request have come, the
 * whole request must be in within the timeout, or the socket is shut down
 * (libmicrohttpd then closes it). An idle keep-alive connection receives
 * nothing and stays under idle_timeout alone; a request being answered (or
 * waiting on a platform) is not timed.
 */
struct http_deadline {
	unsigned int timeout;      /* seconds */
	pthread_mutex_t lock;      /* guards the list only */
	pthread_cond_t cond;
	struct conn_watch *watched; /* every open connection */
	pthread_t watcher;
	bool watching, stop;
};

void http_deadline_init(struct http_deadline *d, unsigned int timeout);
/* Starts the watcher thread; false (logged) when it cannot. */
bool http_deadline_start(struct http_deadline *d);
/* Stops the watcher (if started) and releases d. */
void http_deadline_release(struct http_deadline *d);
/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback; cls is the deadline. */
void http_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code);
/* The request is all in (or refused): its answer is not timed. */
void http_deadline_answering(struct MHD_Connection *conn);
/* The answer went out: the connection waits for its next request. */
void http_deadline_waiting(struct MHD_Connection *conn);

struct http_server {
	struct MHD_Daemon *daemon;
	int listen_fd;
	bool quiesced;
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
