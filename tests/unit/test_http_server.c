/*
 * test_http_server.c - the server's stop as the daemon drives it on SIGTERM
 * (http/server.c): after http_quiesce, a kept-alive connection is still
 * answered (and told to close), a new connection is closed unanswered, and
 * the server stops and closes its listening socket. Then the same stop, many times, on eight request
 * threads while clients keep connecting: libmicrohttpd 0.9.75's own
 * MHD_quiesce_daemon aborted the process there now and then (its threads
 * race to take the listening socket out of their epoll sets), which is why
 * http_quiesce no longer calls it. That race is rare (about one stop in a
 * thousand in a test program), so the loop is a smoke test, not proof.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "gatehouse/http.h"
#include "gatehouse/log.h"
#include "harness.h"

/* The server's internals, for the port it bound (STYLE.md: Tests). */
#include "../../src/http/internal.h"

static void answer_ok(struct http_request *req, void *ctx)
{
	(void)ctx;
	http_reply_text(req, 200, "ok");
}

static struct http_server *start(unsigned threads, int *port)
{
	struct http_options opt = {
		.listen_address = "127.0.0.1",
		.port = 0,
		.base_path = "",
		.cors_allow_origin = "",
		.max_url_size = 8192,
		.max_header_size = 16384,
		.max_body_size = 65536,
		.max_connections = 256,
		.idle_timeout = 30,
		.request_timeout = 10,
		.write_timeout = 10,
		.threads = threads,
		.access_log = false,
		.trusted_proxies = "",
	};
	struct http_server *srv = NULL;
	char err[256] = "";
	if (http_start(&opt, answer_ok, NULL, &srv, err, sizeof err)) {
		fprintf(stderr, "http_start: %s\n", err);
		return NULL;
	}
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	getsockname(srv->listen_fd, (struct sockaddr *)&a, &len);
	*port = ntohs(a.sin_port);
	return srv;
}

static int connect_to(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = { 5, 0 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
		close(s);
		return -1;
	}
	return s;
}

static const char GET[] = "GET /x HTTP/1.1\r\nHost: t\r\n\r\n";

/*
 * Sends one GET and reads one answer (it is small: one recv until the
 * body's two bytes are in). Returns the bytes read, 0 when the server
 * closed the connection without a byte, -1 on an error (a reset).
 */
static ssize_t ask(int s, char *buf, size_t cap)
{
	if (send(s, GET, sizeof GET - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof GET - 1))
		return -1;
	size_t got = 0;
	while (got + 1 < cap) {
		ssize_t n = recv(s, buf + got, cap - 1 - got, 0);
		if (n < 0)
			return got ? (ssize_t)got : -1;
		if (n == 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		const char *end = strstr(buf, "\r\n\r\n");
		if (end && strlen(end + 4) >= 2)
			break;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

TEST(quiesce_answers_open_connections_and_closes_new_ones)
{
	int port = 0;
	struct http_server *srv = start(2, &port);
	CHECK(srv != NULL);
	if (!srv)
		return;
	char buf[2048];
	int kept = connect_to(port);
	CHECK(kept >= 0);
	CHECK(ask(kept, buf, sizeof buf) > 0);
	CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	CHECK(strstr(buf, "Connection: close") == NULL);

	http_quiesce(srv, 1000);

	/* A kept-alive connection: its next request is answered, and it is told to close. */
	CHECK(ask(kept, buf, sizeof buf) > 0);
	CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	CHECK(strstr(buf, "Connection: close") != NULL);
	close(kept);

	/* A new connection: the kernel completes it, the server closes it unanswered. */
	int fresh = connect_to(port);
	CHECK(fresh >= 0);
	if (fresh >= 0) {
		ssize_t n = ask(fresh, buf, sizeof buf);
		CHECK(n <= 0);
		close(fresh);
		CHECK_INT(atomic_load(&srv->refused), 1); /* counted, for the warning at stop */
	}
	/* The request is over once its completion is noted, just after the answer went out. */
	for (int spin = 0; spin < 5000 && http_in_flight(srv) > 0; spin++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	CHECK_INT(http_in_flight(srv), 0);
	http_stop(srv);
	/* libmicrohttpd closed the listening socket (it is no longer ours to close). */
	int after = connect_to(port);
	CHECK(after < 0);
	if (after >= 0)
		close(after);
}

struct churn {
	int port;
	atomic_bool run;
	atomic_int answered;
};

static void *churn_client(void *arg)
{
	struct churn *c = arg;
	char buf[1024];
	while (atomic_load(&c->run)) {
		int s = connect_to(c->port);
		if (s < 0)
			continue;
		struct timeval tv = { 0, 50000 }; /* after the quiesce, nobody answers */
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		if (ask(s, buf, sizeof buf) > 0 && strncmp(buf, "HTTP/1.1 200", 12) == 0)
			atomic_fetch_add(&c->answered, 1);
		close(s);
	}
	return NULL;
}

TEST(quiesce_and_stop_while_clients_connect)
{
	enum { ROUNDS = 200, CLIENTS = 4 };
	int stopped = 0, answered_rounds = 0;
	for (int round = 0; round < ROUNDS; round++) {
		struct churn c = { .port = 0 };
		struct http_server *srv = start(8, &c.port);
		CHECK(srv != NULL);
		if (!srv)
			return;
		atomic_init(&c.run, true);
		atomic_init(&c.answered, 0);
		pthread_t t[CLIENTS];
		for (int i = 0; i < CLIENTS; i++)
			pthread_create(&t[i], NULL, churn_client, &c);
		/* Until the clients are being answered, so the request threads are busy. */
		for (int spin = 0; spin < 10000 && atomic_load(&c.answered) < 8; spin++) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
		if (atomic_load(&c.answered) >= 8)
			answered_rounds++;
		http_quiesce(srv, 0);
		atomic_store(&c.run, false);
		for (int i = 0; i < CLIENTS; i++)
			pthread_join(t[i], NULL);
		http_stop(srv);
		stopped++;
	}
	CHECK_INT(stopped, ROUNDS);
	CHECK_INT(answered_rounds, ROUNDS);
}

int main(void)
{
	log_configure(LOG_ERROR, LOG_FORMAT_TEXT); /* each stop of the churn warns */
	RUN(quiesce_answers_open_connections_and_closes_new_ones);
	RUN(quiesce_and_stop_while_clients_connect);
	return REPORT();
}
