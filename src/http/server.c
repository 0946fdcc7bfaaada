/*
 * server.c - the libmicrohttpd daemon: our own listening socket, the epoll
 * thread pool, per-request contexts created from the raw request target,
 * size limits on target, headers and body, the client's address and
 * request id, suspend/resume for slow work, graceful quiesce, and the
 * access log.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* tcp_info (tcpi_unacked: the accept queue length of a listener) */
#include <pthread.h>
#include <stddef.h>
#include <time.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "gatehouse/http.h"
#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/clock.h"
#include "gatehouse/random.h"
#include "gatehouse/encoding.h"
#include "gatehouse/parse.h"
#include "gatehouse/netaddr.h"
#include "gatehouse/workpool.h"
#include "internal.h"
#include "gatehouse/banned.h"

/* Most request headers accepted, whatever their total size. */
#define MAX_HEADER_COUNT 100

/* ---- libmicrohttpd callbacks ---- */

/*
 * Lines a client can cause, each kind rate-limited (log.h): at most
 * `burst` per 10 s, then one summary line with the count suppressed.
 */
static struct log_limit mhd_limit = LOG_LIMIT_INIT(10, 10, "libmicrohttpd");
static struct log_limit refused_ip_limit =
	LOG_LIMIT_INIT(10, 1, "refused connection (max_connections_per_ip)");
static struct log_limit refused_all_limit =
	LOG_LIMIT_INIT(10, 1, "refused connection (max_connections)");
static struct log_limit malformed_limit =
	LOG_LIMIT_INIT(10, 10, "access line of a malformed or unanswered request");

/*
 * libmicrohttpd's fatal errors (MHD_PANIC): its own handler prints a bare
 * line to stderr and aborts; this one says it as a log line (an operator's
 * log shipper keeps it with the rest) and then aborts just the same.
 */
static void mhd_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
	(void)cls;
	char msg[256];
	snprintf(msg, sizeof msg, "%s", reason ? reason : "");
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_error("libmicrohttpd fatal error at %s:%u: %s", file ? file : "?", line, msg);
	abort();
}

static void set_panic_handler(void)
{
	MHD_set_panic_func(mhd_panic, NULL);
}

void http_log_limits_flush(bool now)
{
	log_limit_flush(&mhd_limit, now);
	log_limit_flush(&refused_ip_limit, now);
	log_limit_flush(&refused_all_limit, now);
	log_limit_flush(&malformed_limit, now);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct http_server *srv = cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	/*
	 * libmicrohttpd says this for its own limit only: the per-address cap is
	 * ours (http_deadline_admit), so this is max_connections.
	 */
	if (strncmp(msg, "Server reached connection limit", 31) == 0) {
		if (log_limit_allow(&refused_all_limit))
			log_warn("refused a connection: the server has max_connections (%u) "
				 "connections open", srv ? srv->opt.max_connections : 0);
		return;
	}
	if (!log_limit_allow(&mhd_limit))
		return;
	/* Its error pages come quoted in the message: keep the words only. */
	char *page = strstr(msg, " ('<html>");
	char *after = page ? strstr(page, "')") : NULL;
	if (page && after)
		memmove(page, after + 2, strlen(after + 2) + 1);
	log_warn("libmicrohttpd: %s", msg);
}

/* libmicrohttpd's accept policy: our per-address cap (max_connections_per_ip). */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	(void)addrlen;
	struct http_server *srv = cls;
	if (atomic_load(&srv->refusing)) {
		atomic_fetch_add(&srv->refused, 1);
		return MHD_NO; /* stopping (http_quiesce): libmicrohttpd closes it at once */
	}
	if (http_deadline_admit(&srv->deadline, addr))
		return MHD_YES;
	if (log_limit_allow(&refused_ip_limit)) {
		char ip[64] = "-";
		if (addr->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)addr)->sin_addr,
				  ip, sizeof ip);
		else if (addr->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr, ip,
				  sizeof ip);
		log_warn("refused a connection from %s: that address has "
			 "max_connections_per_ip (%u) connections open", ip,
			 srv->opt.max_connections_per_ip);
	}
	return MHD_NO;
}

struct header_tally {
	size_t bytes;
	unsigned count;
	unsigned content_length, transfer_encoding;
	bool bad_framing;
};

/* A field name is a token (RFC 9110 5.1): "Transfer-Encoding " is not one. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

static enum MHD_Result tally_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	(void)kind;
	struct header_tally *t = cls;
	t->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
	t->count++;
	if (!is_token(key))
		t->bad_framing = true;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		t->content_length++;
	if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		t->transfer_encoding++;
		if (!value || strcasecmp(value, "chunked") != 0)
			t->bad_framing = true;
	}
	return MHD_YES;
}

/* A request id of our own: the boot prefix and a counter. */
static void new_request_id(struct http_request *req)
{
	uint64_t n = atomic_fetch_add(&req->server->counter, 1);
	snprintf(req->request_id, sizeof req->request_id, "%s-%llx", req->server->id_prefix,
		 (unsigned long long)n);
}

/* Keeps a client-supplied X-Request-Id when it is short and plain. */
static void take_client_request_id(struct http_request *req)
{
	const char *given = http_header(req, "X-Request-Id");
	if (!given)
		return;
	size_t n = strlen(given);
	bool ok = n > 0 && n <= 64 && n < sizeof req->request_id;
	for (size_t i = 0; ok && i < n; i++) {
		char c = given[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '-' || c == '_' || c == '.' || c == ':';
	}
	if (ok)
		snprintf(req->request_id, sizeof req->request_id, "%s", given);
}

static int hexval_lower(char c)
{
	return c >= 'a' ? c - 'a' + 10 : c - '0';
}

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool all_zero(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '0')
			return false;
	return true;
}

static enum MHD_Result count_traceparent(void *cls, enum MHD_ValueKind kind, const char *key,
					 const char *value)
{
	(void)kind;
	(void)value;
	if (strcasecmp(key, "traceparent") == 0)
		(*(unsigned *)cls)++;
	return MHD_YES;
}

/*
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): one
 * traceparent header of version 00, exactly "00-" 32 lowercase hex digits
 * (the trace id, not all zero) "-" 16 (the parent id, not all zero) "-" 2
 * (the flags). Anything else, or the header twice, is ignored, as the
 * specification says. An accepted trace id is logged on the request's lines
 * and returned in traceresponse with a parent id of ours.
 */
static void take_traceparent(struct http_request *req)
{
	const char *tp = http_header(req, "traceparent");
	if (!tp || strlen(tp) != 55)
		return;
	unsigned count = 0;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_traceparent, &count);
	if (count != 1)
		return;
	if (tp[0] != '0' || tp[1] != '0' || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' ||
	    !lower_hex(tp + 3, 32) || !lower_hex(tp + 36, 16) || !lower_hex(tp + 53, 2) ||
	    all_zero(tp + 3, 32) || all_zero(tp + 36, 16))
		return;
	unsigned char span[8];
	if (gh_random(span, sizeof span))
		return;
	span[0] |= 1; /* never all zero */
	gh_hex(span, sizeof span, req->span_id);
	memcpy(req->trace_id, tp + 3, 32);
	req->trace_id[32] = '\0';
	req->trace_sampled = (hexval_lower(tp[54]) & 1) != 0;
}

/* The peer's address, as text and as 16 bytes. */
static void set_client_ip(struct http_request *req)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(req->client_ip, sizeof req->client_ip, "-");
	memset(req->client_addr, 0, sizeof req->client_addr);
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		const struct in_addr *a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		inet_ntop(AF_INET, a, req->client_ip, sizeof req->client_ip);
		req->client_addr[10] = req->client_addr[11] = 0xff;
		memcpy(req->client_addr + 12, a, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		inet_ntop(AF_INET6, a, req->client_ip, sizeof req->client_ip);
		memcpy(req->client_addr, a, 16);
	}
}

static bool is_trusted_proxy(const struct http_server *srv, const unsigned char addr[16])
{
	for (size_t i = 0; i < srv->nproxies; i++)
		if (gh_addr_in_cidr(addr, srv->proxies[i].net, srv->proxies[i].bits))
			return true;
	return false;
}

/*
 * Behind trusted proxies the client is the right-most X-Forwarded-For entry
 * that is not itself a trusted proxy (entries further left are whatever the
 * client chose to send). An unparsable entry ends the walk at the last
 * trusted hop.
 */
static void resolve_forwarded_client(struct http_request *req)
{
	struct http_server *srv = req->server;
	if (!srv->nproxies || !is_trusted_proxy(srv, req->client_addr))
		return;
	const char *xff = http_header(req, "X-Forwarded-For");
	if (!xff)
		return;
	size_t end = strlen(xff);
	while (end > 0) {
		size_t start = end;
		while (start > 0 && xff[start - 1] != ',')
			start--;
		size_t a = start, b = end;
		while (a < b && (xff[a] == ' ' || xff[a] == '\t'))
			a++;
		while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t'))
			b--;
		char text[64];
		unsigned char addr[16];
		if (b - a == 0 || b - a >= sizeof text)
			return;
		memcpy(text, xff + a, b - a);
		text[b - a] = '\0';
		if (gh_parse_ip(text, addr))
			return;
		memcpy(req->client_addr, addr, 16);
		snprintf(req->client_ip, sizeof req->client_ip, "%s", text);
		if (!is_trusted_proxy(srv, addr))
			return;
		end = start > 0 ? start - 1 : 0;
	}
}

/*
 * Called with the raw request target as soon as the request line is in:
 * the per-request context starts here, so even a request refused later for
 * its headers is counted, logged and freed.
 */
static void *uri_logger(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *srv = cls;
	struct http_request *req = xcalloc(1, sizeof *req);
	req->server = srv;
	req->conn = conn;
	req->start_ns = gh_mono_ns();
	req->route = "-";
	new_request_id(req);
	set_client_ip(req);
	size_t n = strlen(uri);
	if (n > srv->opt.max_url_size) {
		/* Keep the path alone, when it fits, so the refusal has its route. */
		size_t pn = strcspn(uri, "?#");
		req->reject = REJECT_URL_TOO_LONG;
		req->raw_target = pn <= srv->opt.max_url_size ? xstrndup(uri, pn) : xstrdup("/");
	} else {
		req->raw_target = xstrndup(uri, n);
	}
	atomic_fetch_add(&srv->in_flight, 1);
	return req;
}

/* First call for a request: headers are in, the body (if any) is not. */
static void begin_request(struct http_request *req, const char *method, const char *version)
{
	struct http_server *srv = req->server;
	snprintf(req->method, sizeof req->method, "%s", strlen(method) < sizeof req->method ?
		 method : "OTHER");
	take_client_request_id(req);
	take_traceparent(req);
	resolve_forwarded_client(req);
	bool outside;
	req->path = http_normalize_path(req->raw_target, srv->base_path, &outside);
	if (req->reject)
		return;
	if (!req->path && !outside) {
		req->reject = REJECT_BAD_PATH;
		return;
	}
	struct header_tally t = { 0 };
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, tally_header, &t);
	if (t.bytes > srv->opt.max_header_size || t.count > MAX_HEADER_COUNT) {
		req->reject = REJECT_HEADERS_TOO_LARGE;
		return;
	}
	/*
	 * Framing that a proxy in front may read otherwise (request smuggling,
	 * RFC 9112 6.1, 6.3): Content-Length with Transfer-Encoding, repeated
	 * ones, a coding other than plain "chunked", Transfer-Encoding in
	 * HTTP/1.0, a field name that is not a token. 400 (REJECT_BAD_PATH is
	 * the plain 400) before the body, so the connection closes and nothing
	 * after the headers is parsed.
	 */
	if (t.bad_framing || t.content_length > 1 || t.transfer_encoding > 1 ||
	    (t.transfer_encoding && (t.content_length || strcmp(version, "HTTP/1.1") != 0))) {
		req->reject = REJECT_BAD_PATH;
		return;
	}
	const char *cl = http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(cl, &end, 10);
		if (errno || end == cl || v > srv->opt.max_body_size)
			req->reject = REJECT_BODY_TOO_LARGE;
	}
}

static void dispatch(struct http_request *req)
{
	struct http_server *srv = req->server;
	http_deadline_answering(req->conn);
	log_set_request_id(req->request_id);
	log_set_trace_id(req->trace_id[0] ? req->trace_id : NULL);
	srv->dispatch(req, srv->ctx);
	if (!req->answered && !req->deferred) {
		log_error("handler for '%s' gave no answer", req->route);
		http_reply_json(req, 500, "{\"error\":\"internal\",\"message\":\"no answer\"}");
	}
	log_set_request_id(NULL);
	log_set_trace_id(NULL);
}

struct deferred_job {
	struct http_request *req;
	void (*fn)(struct http_request *req, void *arg);
	void *arg;
};

void http_suspend(struct http_request *req)
{
	req->deferred = true;
	MHD_suspend_connection(req->conn);
}

void http_resumed_enter(struct http_request *req)
{
	log_set_request_id(req->request_id);
	log_set_trace_id(req->trace_id[0] ? req->trace_id : NULL);
}

void http_resume(struct http_request *req)
{
	if (!req->pending.ready) {
		log_error("deferred handler for '%s' gave no answer", req->route);
		http_reply_json(req, 500, "{\"error\":\"internal\",\"message\":\"no answer\"}");
	}
	log_set_request_id(NULL);
	log_set_trace_id(NULL);
	/* The last touch: from here on the connection's thread owns req again. */
	MHD_resume_connection(req->conn);
}

static void run_deferred(void *arg)
{
	struct deferred_job *j = arg;
	struct http_request *req = j->req;
	http_resumed_enter(req);
	j->fn(req, j->arg);
	free(j);
	http_resume(req);
}

int http_defer(struct http_request *req, struct workpool *pool,
	       void (*fn)(struct http_request *req, void *arg), void *arg)
{
	struct deferred_job *j = xmalloc(sizeof *j);
	j->req = req;
	j->fn = fn;
	j->arg = arg;
	http_suspend(req);
	if (!workpool_submit(pool, run_deferred, j)) {
		MHD_resume_connection(req->conn);
		req->deferred = false;
		free(j);
		return GH_EUNAVAIL;
	}
	return 0;
}

/* Queues a reply a worker made, now that the connection is resumed. */
static void flush_pending(struct http_request *req)
{
	struct http_pending p = req->pending;
	memset(&req->pending, 0, sizeof req->pending); /* now owned by p */
	req->deferred = false;
	http_reply(req, p.status, p.content_type, p.body, p.len);
	free(p.content_type);
	free(p.body);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	(void)url;
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;
	if (!req) {
		/* The URI callback always runs first; be safe if it does not. */
		req = uri_logger(srv, "/", conn);
		*con_cls = req;
	}
	if (!req->started) {
		req->started = true;
		begin_request(req, method, version);
		/*
		 * A request already refused is answered now, before its body:
		 * libmicrohttpd then closes the connection. Otherwise the answer
		 * waits for a later call, which keeps the connection alive.
		 */
		if (req->reject)
			dispatch(req);
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		req->body_received += n;
		if (req->answered)
			return MHD_YES;
		if (!req->reject && req->body.len + n > srv->opt.max_body_size) {
			/* Chunked, with no Content-Length: keep nothing, refuse at the end. */
			req->reject = REJECT_BODY_TOO_LARGE;
			sb_release(&req->body);
		}
		if (req->reject) {
			/* A client that streams on and on is cut off instead. */
			return req->body_received > 4 * srv->opt.max_body_size ? MHD_NO : MHD_YES;
		}
		sb_add(&req->body, upload_data, n);
		return MHD_YES;
	}
	if (req->deferred) {
		/* Called again after http_defer's worker resumed the connection. */
		if (req->pending.ready)
			flush_pending(req);
		return MHD_YES;
	}
	if (!req->answered)
		dispatch(req);
	return MHD_YES;
}

/* Writes v in decimal at p; returns the end (no NUL). The access line's numbers, without printf. */
static char *put_uint(char *p, unsigned long long v)
{
	char t[24];
	int n = 0;
	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = t[--n];
	return p;
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;
	http_deadline_waiting(conn);
	if (!req)
		return;
	*con_cls = NULL;
	uint64_t elapsed = gh_mono_ns() - req->start_ns;
	if (req->status)
		metrics_http_request(req->route, req->status, elapsed);
	/*
	 * outcome: "ok" (answered, status below 400), "client_error" (4xx),
	 * "server_error" (5xx), or "aborted": no complete answer went out (the
	 * client left, a timeout, a refusal by libmicrohttpd, shutdown), with
	 * close_reason saying which. A malformed or unanswered request's line is
	 * rate-limited: a client can make any number of them.
	 */
	bool complete = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && req->status;
	if (atomic_load(&srv->access_log) && log_min_level <= LOG_INFO &&
	    ((complete && req->reject != REJECT_BAD_PATH) || log_limit_allow(&malformed_limit))) {
		char status[24], dur[32];
		*put_uint(status, (unsigned)req->status) = '\0';
		uint64_t us = elapsed / 1000;
		char *p = put_uint(dur, us / 1000);
		unsigned frac = (unsigned)(us % 1000);
		*p++ = '.';
		*p++ = (char)('0' + frac / 100);
		*p++ = (char)('0' + frac / 10 % 10);
		*p++ = (char)('0' + frac % 10);
		*p = '\0';
		const char *outcome = !complete ? "aborted" : req->status >= 500 ? "server_error" :
				      req->status >= 400 ? "client_error" : "ok";
		const char *reason =
			complete ? NULL :
			toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "no_answer" :
			toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "idle_timeout" :
			toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown" :
			toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ? "client_closed" :
			toe == MHD_REQUEST_TERMINATED_READ_ERROR ? "read_error" : "error";
		const char *trace = req->trace_id[0] ? req->trace_id : NULL;
		/* Optional fields last: the NULL of an absent one ends the list. */
		log_fields_deferred(LOG_INFO, "access", "method", req->method[0] ? req->method : "-",
			   "route", req->route, LOG_NUM("status"), req->status ? status : "-",
			   LOG_NUM("duration_ms"), dur,
			   "client", req->client_ip[0] ? req->client_ip : "-",
			   "request_id", req->request_id[0] ? req->request_id : "-",
			   "outcome", outcome,
			   trace ? "trace_id" : reason ? "close_reason" : NULL,
			   trace ? trace : reason,
			   trace ? "span_id" : NULL, req->span_id,
			   reason ? "close_reason" : NULL, reason, NULL);
	}
	for (int i = 0; i < req->nparams; i++) {
		free(req->params[i].name);
		free(req->params[i].value);
	}
	for (int i = 0; i < req->nextra; i++) {
		free(req->extra_names[i]);
		free(req->extra_values[i]);
	}
	sb_release(&req->body);
	free(req->pending.content_type);
	free(req->pending.body);
	free(req->raw_target);
	free(req->path);
	free(req);
	atomic_fetch_sub(&srv->in_flight, 1);
}

/* ---- start and stop ---- */

static int open_listener(const struct http_options *opt, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, opt->listen_address, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)opt->port);
		sslen = sizeof *s4;
	} else if (inet_pton(AF_INET6, opt->listen_address, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)opt->port);
		sslen = sizeof *s6;
	} else {
		snprintf(err, errlen, "listen_address '%s' is not an IPv4 or IPv6 address",
			 opt->listen_address);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, 1024) != 0) {
		snprintf(err, errlen, "cannot listen on %s port %d: %s", opt->listen_address,
			 opt->port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int http_probe(const struct http_options *opt, char *err, size_t errlen)
{
	int fd = open_listener(opt, err, errlen);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* The trusted_proxies list, already validated by the configuration. */
static void parse_proxies(struct http_server *srv, const char *list)
{
	size_t n;
	char **items = gh_list_split(list, &n);
	srv->proxies = xcalloc(n ? n : 1, sizeof *srv->proxies);
	for (size_t i = 0; i < n; i++)
		if (!gh_parse_cidr(items[i], srv->proxies[srv->nproxies].net,
				   &srv->proxies[srv->nproxies].bits))
			srv->nproxies++;
	gh_list_free(items);
}

int http_start(const struct http_options *opt, http_dispatch_fn dispatch_fn, void *ctx,
	       struct http_server **out, char *err, size_t errlen)
{
	*out = NULL;
	int fd = open_listener(opt, err, errlen);
	if (fd < 0)
		return GH_EUNAVAIL;
	struct http_server *srv = xcalloc(1, sizeof *srv);
	srv->opt = *opt;
	srv->base_path = xstrdup(opt->base_path);
	srv->cors_origin = xstrdup(opt->cors_allow_origin);
	srv->opt.base_path = srv->base_path;
	srv->opt.cors_allow_origin = srv->cors_origin;
	srv->dispatch = dispatch_fn;
	atomic_init(&srv->access_log, opt->access_log);
	srv->ctx = ctx;
	srv->listen_fd = fd;
	http_deadline_init(&srv->deadline, opt->request_timeout, opt->write_timeout,
			   opt->max_connections_per_ip);
	unsigned char boot[4];
	if (gh_random(boot, sizeof boot))
		memset(boot, 0, sizeof boot);
	gh_hex(boot, sizeof boot, srv->id_prefix);
	parse_proxies(srv, opt->trusted_proxies);

	/*
	 * libmicrohttpd's own per-connection pool must hold target and headers,
	 * plus its records of up to MAX_HEADER_COUNT headers (about 48 bytes
	 * each) and the answer's header block: 8 KiB. 0.9.75 zeroes the whole
	 * pool after every request, so each byte here is resident in every
	 * kept-alive connection and written once a request; at 32 KiB or less
	 * (the defaults: 8 + 16 + 8) it comes from malloc rather than mmap.
	 */
	size_t pool = opt->max_url_size + opt->max_header_size + 8192;
	static pthread_once_t panic_once = PTHREAD_ONCE_INIT;
	pthread_once(&panic_once, set_panic_handler);
	srv->daemon = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME,
		0, accept_policy, srv, access_handler, srv,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, srv,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)opt->threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)opt->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)opt->idle_timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)pool,
		MHD_OPTION_THREAD_STACK_SIZE, WORKPOOL_STACK_SIZE,
		MHD_OPTION_URI_LOG_CALLBACK, uri_logger, srv,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, http_deadline_notify, &srv->deadline,
		MHD_OPTION_END);
	if (srv->daemon) {
		http_deadline_start(&srv->deadline);
		log_async_start(); /* access lines are written in batches */
	}
	if (!srv->daemon) {
		snprintf(err, errlen, "cannot start the HTTP server on %s port %d",
			 opt->listen_address, opt->port);
		close(fd);
		http_deadline_release(&srv->deadline);
		free(srv->proxies);
		free(srv->base_path);
		free(srv->cors_origin);
		free(srv);
		return GH_EINTERNAL;
	}
	*out = srv;
	return 0;
}

/* Connections the kernel has accepted for us that we have not taken yet. */
static unsigned int accept_queue_length(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	memset(&ti, 0, sizeof ti);
	/* On a listening socket, tcpi_unacked is the accept queue's length (Linux). */
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return 0;
	return ti.tcpi_unacked;
}

void http_quiesce(struct http_server *srv, int64_t max_wait_ms)
{
	atomic_store(&srv->closing, true);
	if (atomic_load(&srv->refusing))
		return;
	uint64_t deadline = gh_mono_ns() + (uint64_t)max_wait_ms * 1000000ull;
	while (accept_queue_length(srv->listen_fd) > 0 && gh_mono_ns() < deadline) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	/*
	 * Not MHD_quiesce_daemon: in libmicrohttpd 0.9.75 it races with its own
	 * epoll worker threads. The quiescing thread and a worker that is awake
	 * both take the listening socket out of the worker's epoll set, and the
	 * loser's epoll_ctl fails with ENOENT, which it treats as fatal ("Failed
	 * to remove listen FD from epoll set", abort). A test program that
	 * quiesces an 8-thread pool while clients connect hit it within a few
	 * hundred rounds (tests/unit/test_http_server.c), and it is the likely
	 * cause of a daemon's abort on SIGTERM in one CI run under
	 * AddressSanitizer. So the socket stays in the epoll sets, and a new
	 * connection is accepted and closed at once (accept_policy): its client
	 * sees the connection closed, where a quiesced daemon left it in the
	 * kernel's queue until the exit reset it. Either way it gets no answer.
	 */
	atomic_store(&srv->refusing, true);
}

void http_set_access_log(struct http_server *srv, bool on)
{
	if (srv)
		atomic_store(&srv->access_log, on);
}

unsigned int http_in_flight(struct http_server *srv)
{
	/*
	 * A connection accepted just before the quiesce may hold its request's
	 * bytes unread for a moment (its thread is busy): count it, or the
	 * drain would stop the daemon under it (seen under load).
	 */
	return atomic_load(&srv->in_flight) + http_deadline_arriving(&srv->deadline);
}

void http_stop(struct http_server *srv)
{
	if (!srv)
		return;
	/* The watcher first: it reads the descriptors of the daemon's connections. */
	http_deadline_stop(&srv->deadline);
	MHD_stop_daemon(srv->daemon);
	http_deadline_release(&srv->deadline);
	http_log_limits_flush(true); /* what was suppressed comes out before the exit */
	unsigned int late = atomic_load(&srv->refused);
	if (late)
		log_warn("%u connection%s came after the drain began and %s closed unanswered "
			 "(is a load balancer still sending to this node after it was told to stop?)",
			 late, late == 1 ? "" : "s", late == 1 ? "was" : "were");
	log_async_stop();
	free(srv->proxies);
	free(srv->base_path);
	free(srv->cors_origin);
	free(srv);
}

