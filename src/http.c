/*
 * http.c - libmicrohttpd glue: our own listening socket, the epoll thread
 * pool, per-request contexts created from the raw request target, size
 * limits on target, headers and body, parameter parsing, replies with the
 * common headers, graceful quiesce, and the access log.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* tcp_info with tcpi_bytes_received (glibc's lacks it) */
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
#include "gatehouse/banned.h"

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
	/* every open connection, for the request deadline (see watch_main) */
	pthread_mutex_t watch_lock;
	pthread_cond_t watch_cond;
	struct conn_watch *watched;
	pthread_t watcher;
	bool watching, watch_stop;
};

/*
 * A connection, as the request deadline sees it. libmicrohttpd's only
 * timeout is for inactivity, which a client that sends one byte a second
 * ("slowloris") never triggers. The watcher thread reads each connection's
 * count of received bytes (TCP_INFO) once a second: once bytes of a request
 * have come, the whole request must be in within request_timeout, or the
 * socket is shut down (libmicrohttpd then closes it). An idle keep-alive
 * connection receives nothing and stays under idle_timeout alone; a request
 * being answered (or waiting on a platform) is not timed.
 */
enum { W_WAITING, W_RECEIVING, W_ANSWERING };
struct conn_watch {
	int fd;
	/* Set by the request threads without the lock (which guards the list
	 * only); the watcher moves the state on by compare-and-swap, so it never
	 * undoes a request thread's change. */
	_Atomic int state;         /* W_* */
	_Atomic uint64_t base_bytes; /* bytes received when the wait for a request began */
	uint64_t since_ns;         /* the watcher's: when the request's bytes were first seen */
	struct conn_watch *prev, *next;
};

/* Most request headers accepted, whatever their total size. */
#define MAX_HEADER_COUNT 100

int http_status_for(int err)
{
	switch (err) {
	case GH_OK: return 200;
	case GH_EINVAL: return 400;
	case GH_EAUTH: return 401;
	case GH_EFORBIDDEN: return 403;
	case GH_EBANNED: return 403;
	case GH_ENOTFOUND: return 404;
	case GH_ECONFLICT: return 409;
	case GH_EPRECOND: return 412;
	case GH_ETOOBIG: return 413;
	case GH_ERATE: return 429;
	case GH_EUNAVAIL: return 503;
	default: return 500;
	}
}

/* ---- decoding ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes n bytes of s into a new string; '+' becomes a space when
 * plus_is_space (query strings and forms). NULL when malformed or when the
 * result is not NUL-free UTF-8.
 */
static char *pct_decode(const char *s, size_t n, bool plus_is_space, size_t *out_len)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
			int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			out[o++] = ' ';
		} else {
			out[o++] = c;
		}
	}
	out[o] = '\0';
	if (!gh_utf8_valid(out, o)) {
		free(out);
		return NULL;
	}
	if (out_len)
		*out_len = o;
	return out;
}

/*
 * The route path of a raw request target: the part before '?', with runs
 * of '/' collapsed, then decoded, and base_path removed. Collapsing comes
 * first, so an encoded slash (%2F) is never merged away: it stays in the
 * path, where no route or key accepts it. Sets *outside when the path is
 * not under base_path. NULL with *outside false when it cannot be decoded.
 */
static char *normalize_path(const char *target, const char *base_path, bool *outside)
{
	*outside = false;
	size_t n = strcspn(target, "?#");
	/* Collapse repeated slashes; make sure the path starts with one. */
	char *raw = xmalloc(n + 2);
	size_t r = 0;
	raw[r++] = '/';
	for (size_t i = 0; i < n; i++) {
		if (target[i] == '/' && raw[r - 1] == '/')
			continue;
		raw[r++] = target[i];
	}
	size_t o;
	char *out = pct_decode(raw, r, false, &o);
	free(raw);
	if (!out)
		return NULL;
	size_t bl = strlen(base_path);
	if (bl) {
		if (strncmp(out, base_path, bl) != 0 || (out[bl] != '\0' && out[bl] != '/')) {
			*outside = true;
			free(out);
			return NULL;
		}
		memmove(out, out + bl, o - bl + 1);
		if (!out[0]) {
			out[0] = '/';
			out[1] = '\0';
		}
	}
	return out;
}

/* ---- parameters ---- */

static int add_param(struct http_request *req, char *name, char *value)
{
	for (int i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			goto bad;
	if (req->nparams == HTTP_MAX_PARAMS)
		goto bad;
	req->params[req->nparams].name = name;
	req->params[req->nparams].value = value;
	req->nparams++;
	return 0;
bad:
	free(name);
	free(value);
	return GH_EINVAL;
}

/* Parses k=v&k2=v2; empty pairs ("?&k=v", Unity) are skipped. */
static int parse_urlencoded(struct http_request *req, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t end = i;
		while (end < n && s[end] != '&')
			end++;
		if (end > i) {
			const char *eq = memchr(s + i, '=', end - i);
			size_t klen = eq ? (size_t)(eq - (s + i)) : end - i;
			if (klen == 0)
				return GH_EINVAL;
			char *name = pct_decode(s + i, klen, true, NULL);
			char *value = eq ? pct_decode(eq + 1, (size_t)(s + end - eq - 1), true, NULL)
					 : xstrdup("");
			if (!name || !value) {
				free(name);
				free(value);
				return GH_EINVAL;
			}
			if (add_param(req, name, value))
				return GH_EINVAL;
		}
		i = end + 1;
	}
	return 0;
}

static int parse_json_object(struct http_request *req)
{
	json_error_t jerr;
	json_t *root = json_loadb(req->body.buf, req->body.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return GH_EINVAL;
	}
	const char *key;
	json_t *v;
	int rc = 0;
	json_object_foreach(root, key, v) {
		if (!json_is_string(v) || !gh_utf8_valid(json_string_value(v), json_string_length(v)) ||
		    !*key) {
			rc = GH_EINVAL;
			break;
		}
		rc = add_param(req, xstrdup(key), xstrndup(json_string_value(v), json_string_length(v)));
		if (rc)
			break;
	}
	json_decref(root);
	return rc;
}

/* True when the Content-Type header names type (parameters ignored). */
static bool content_type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int http_parse_params(struct http_request *req, bool *unsupported)
{
	/* The header is looked up only for a body (tests have no connection). */
	const char *ct = req->body_received ? http_header(req, "Content-Type") : NULL;
	return http_parse_params_ct(req, ct, unsupported);
}

int http_parse_params_ct(struct http_request *req, const char *ct, bool *unsupported)
{
	*unsupported = false;
	const char *q = strchr(req->raw_target, '?');
	if (q) {
		size_t qn = strcspn(q + 1, "#");
		if (parse_urlencoded(req, q + 1, qn))
			return GH_EINVAL;
	}
	if (req->body_received == 0)
		return 0;
	if (ct && content_type_is(ct, "application/json"))
		return parse_json_object(req);
	if (ct && content_type_is(ct, "application/x-www-form-urlencoded"))
		return parse_urlencoded(req, req->body.buf, req->body.len);
	*unsupported = true;
	return GH_EINVAL;
}

const char *http_param(const struct http_request *req, const char *name)
{
	for (int i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

const char *http_header(struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* ---- replies ---- */

void http_add_header(struct http_request *req, const char *name, const char *value)
{
	if (req->nextra == HTTP_MAX_EXTRA_HEADERS) {
		log_error("too many extra headers for one reply");
		return;
	}
	req->extra_names[req->nextra] = xstrdup(name);
	req->extra_values[req->nextra] = xstrdup(value);
	req->nextra++;
}

void http_reply(struct http_request *req, int status, const char *content_type, const char *body,
		size_t len)
{
	if (req->answered || req->pending.ready) {
		log_error("second reply to one request (status %d)", status);
		return;
	}
	if (req->deferred) {
		/* On a worker: keep it for the connection's own thread (see http_defer). */
		req->pending.ready = true;
		req->pending.status = status;
		req->pending.content_type = content_type ? xstrdup(content_type) : NULL;
		req->pending.body = xmalloc(len + 1);
		memcpy(req->pending.body, body, len);
		req->pending.len = len;
		return;
	}
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp) {
		log_error("cannot create a response");
		return;
	}
	struct http_server *srv = req->server;
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(resp, "X-Request-Id", req->request_id);
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", srv->cors_origin);
	MHD_add_response_header(resp, "Access-Control-Expose-Headers", "ETag, X-Request-Id");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	for (int i = 0; i < req->nextra; i++)
		MHD_add_response_header(resp, req->extra_names[i], req->extra_values[i]);
	if (atomic_load(&srv->closing))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if (MHD_queue_response(req->conn, (unsigned int)status, resp) != MHD_YES)
		log_error("cannot queue a %d response", status);
	MHD_destroy_response(resp);
	req->answered = true;
	req->status = status;
}

void http_reply_text(struct http_request *req, int status, const char *text)
{
	http_reply(req, status, "text/plain; charset=utf-8", text, strlen(text));
}

void http_reply_json(struct http_request *req, int status, const char *json)
{
	http_reply(req, status, "application/json", json, strlen(json));
}

/* ---- libmicrohttpd callbacks ---- */

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warn("libmicrohttpd: %s", msg);
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
/* ---- the request deadline ---- */

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

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
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
		pthread_mutex_lock(&srv->watch_lock);
		w->next = srv->watched;
		if (w->next)
			w->next->prev = w;
		srv->watched = w;
		pthread_mutex_unlock(&srv->watch_lock);
		*socket_context = w;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && w) {
		/* Before libmicrohttpd closes the socket: the watcher never
		 * touches a descriptor that may already be someone else's. */
		pthread_mutex_lock(&srv->watch_lock);
		if (w->prev)
			w->prev->next = w->next;
		else
			srv->watched = w->next;
		if (w->next)
			w->next->prev = w->prev;
		pthread_mutex_unlock(&srv->watch_lock);
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

/* The request is all in (or refused): its answer is not timed. */
static void watch_answering(struct http_request *req)
{
	struct conn_watch *w = req->conn ? watch_of(req->conn) : NULL;
	if (w)
		atomic_store(&w->state, W_ANSWERING);
}

/* The answer went out: the connection waits for its next request. */
static void watch_waiting(struct MHD_Connection *conn)
{
	struct conn_watch *w = watch_of(conn);
	if (!w)
		return;
	atomic_store(&w->base_bytes, bytes_received(w->fd));
	atomic_store(&w->state, W_WAITING);
}

static void *watch_main(void *arg)
{
	struct http_server *srv = arg;
	uint64_t limit = (uint64_t)srv->opt.request_timeout * 1000000000ull;
	pthread_mutex_lock(&srv->watch_lock);
	while (!srv->watch_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&srv->watch_cond, &srv->watch_lock, &ts);
		if (srv->watch_stop)
			break;
		uint64_t now = gh_mono_ns();
		unsigned cut = 0;
		for (struct conn_watch *w = srv->watched; w; w = w->next) {
			int st = atomic_load(&w->state);
			if (st == W_WAITING &&
			    bytes_received(w->fd) > atomic_load(&w->base_bytes)) {
				w->since_ns = now;
				atomic_compare_exchange_strong(&w->state, &st, W_RECEIVING);
			} else if (st == W_RECEIVING && now - w->since_ns > limit &&
				   atomic_compare_exchange_strong(&w->state, &st, W_ANSWERING)) {
				shutdown(w->fd, SHUT_RDWR); /* once: the state is no longer RECEIVING */
				cut++;
			}
		}
		if (cut)
			log_info("closed %u connection(s) that took longer than request_timeout "
				 "(%us) to send a request", cut, srv->opt.request_timeout);
	}
	pthread_mutex_unlock(&srv->watch_lock);
	return NULL;
}

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
	resolve_forwarded_client(req);
	bool outside;
	req->path = normalize_path(req->raw_target, srv->base_path, &outside);
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
	watch_answering(req);
	log_set_request_id(req->request_id);
	srv->dispatch(req, srv->ctx);
	if (!req->answered && !req->deferred) {
		log_error("handler for '%s' gave no answer", req->route);
		http_reply_json(req, 500, "{\"error\":\"internal\",\"message\":\"no answer\"}");
	}
	log_set_request_id(NULL);
}

struct deferred_job {
	struct http_request *req;
	void (*fn)(struct http_request *req, void *arg);
	void *arg;
};

static void run_deferred(void *arg)
{
	struct deferred_job *j = arg;
	struct http_request *req = j->req;
	log_set_request_id(req->request_id);
	j->fn(req, j->arg);
	if (!req->pending.ready) {
		log_error("deferred handler for '%s' gave no answer", req->route);
		http_reply_json(req, 500, "{\"error\":\"internal\",\"message\":\"no answer\"}");
	}
	log_set_request_id(NULL);
	free(j);
	/* The last touch: from here on the connection's thread owns req again. */
	MHD_resume_connection(req->conn);
}

int http_defer(struct http_request *req, struct workpool *pool,
	       void (*fn)(struct http_request *req, void *arg), void *arg)
{
	struct deferred_job *j = xmalloc(sizeof *j);
	j->req = req;
	j->fn = fn;
	j->arg = arg;
	req->deferred = true;
	MHD_suspend_connection(req->conn);
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

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;
	watch_waiting(conn);
	if (!req)
		return;
	*con_cls = NULL;
	uint64_t elapsed = gh_mono_ns() - req->start_ns;
	if (req->status)
		metrics_http_request(req->route, req->status, elapsed);
	if (atomic_load(&srv->access_log) && log_min_level <= LOG_INFO) {
		char status[8], dur[32];
		snprintf(status, sizeof status, "%d", req->status);
		snprintf(dur, sizeof dur, "%.3f", (double)elapsed / 1e6);
		log_fields(LOG_INFO, "access", "method", req->method[0] ? req->method : "-",
			   "route", req->route, "status", req->status ? status : "-",
			   "duration_ms", dur, "client", req->client_ip[0] ? req->client_ip : "-",
			   "request_id", req->request_id[0] ? req->request_id : "-",
			   "outcome", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" :
				      toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout" :
				      toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown" :
				      toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ? "client_abort" :
				      "error", NULL);
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
	pthread_mutex_init(&srv->watch_lock, NULL);
	pthread_cond_init(&srv->watch_cond, NULL);
	unsigned char boot[4];
	if (gh_random(boot, sizeof boot))
		memset(boot, 0, sizeof boot);
	gh_hex(boot, sizeof boot, srv->id_prefix);
	parse_proxies(srv, opt->trusted_proxies);

	/* libmicrohttpd's own per-connection pool must hold target and headers. */
	size_t pool = opt->max_url_size + opt->max_header_size + 16384;
	srv->daemon = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME,
		0, NULL, NULL, access_handler, srv,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)opt->threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)opt->max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)opt->max_connections_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)opt->idle_timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)pool,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
		MHD_OPTION_URI_LOG_CALLBACK, uri_logger, srv,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, notify_connection, srv,
		MHD_OPTION_END);
	if (srv->daemon) {
		srv->watching = pthread_create(&srv->watcher, NULL, watch_main, srv) == 0;
		if (!srv->watching)
			log_error("cannot start the request-deadline thread: slow clients are "
				  "cut off by idle_timeout only");
	}
	if (!srv->daemon) {
		snprintf(err, errlen, "cannot start the HTTP server on %s port %d",
			 opt->listen_address, opt->port);
		close(fd);
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
	if (srv->quiesced)
		return;
	uint64_t deadline = gh_mono_ns() + (uint64_t)max_wait_ms * 1000000ull;
	while (accept_queue_length(srv->listen_fd) > 0 && gh_mono_ns() < deadline) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	MHD_quiesce_daemon(srv->daemon);
	srv->quiesced = true;
}

void http_set_access_log(struct http_server *srv, bool on)
{
	if (srv)
		atomic_store(&srv->access_log, on);
}

unsigned int http_in_flight(struct http_server *srv)
{
	return atomic_load(&srv->in_flight);
}

void http_stop(struct http_server *srv)
{
	if (!srv)
		return;
	if (srv->watching) {
		pthread_mutex_lock(&srv->watch_lock);
		srv->watch_stop = true;
		pthread_cond_signal(&srv->watch_cond);
		pthread_mutex_unlock(&srv->watch_lock);
		pthread_join(srv->watcher, NULL);
	}
	MHD_stop_daemon(srv->daemon);
	/*
	 * Quiescing hands the listening socket to us, to close after the stop;
	 * otherwise libmicrohttpd closed it itself.
	 */
	if (srv->quiesced)
		close(srv->listen_fd);
	pthread_mutex_destroy(&srv->watch_lock);
	pthread_cond_destroy(&srv->watch_cond);
	free(srv->proxies);
	free(srv->base_path);
	free(srv->cors_origin);
	free(srv);
}
