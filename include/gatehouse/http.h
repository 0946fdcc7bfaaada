/*
 * http.h - the HTTP core on libmicrohttpd: daemon start/stop, the
 * per-request context, bounded reading of URL, headers and body, parameters
 * read alike from the query string, a form body or a JSON body, reply
 * helpers that add CORS, X-Request-Id and (for a request with a valid W3C
 * traceparent) traceresponse, and the access log, whose outcome is ok,
 * client_error, server_error or aborted.
 *
 * One dispatch callback sees each request once: when it is complete, or
 * earlier when a size limit already decided it (req->reject). It must
 * answer exactly once with one of the http_reply_* functions.
 */
#ifndef GATEHOUSE_HTTP_H
#define GATEHOUSE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gatehouse/errors.h"
#include "gatehouse/strbuf.h"

struct MHD_Connection;
struct http_server;

/* Why the http layer refused a request before its handler could run. */
enum http_reject {
	REJECT_NONE = 0,
	REJECT_URL_TOO_LONG,       /* 414 */
	REJECT_HEADERS_TOO_LARGE,  /* 431 */
	REJECT_BODY_TOO_LARGE,     /* 413 */
	REJECT_BAD_PATH,           /* 400: undecodable path */
};

#define HTTP_MAX_PARAMS 32
#define HTTP_MAX_EXTRA_HEADERS 8

struct http_param {
	char *name, *value;        /* decoded, NUL-free UTF-8 */
};

struct http_request {
	struct MHD_Connection *conn;
	struct http_server *server;
	char method[16];           /* "OTHER" when longer */
	char *raw_target;          /* the request target as received (never logged) */
	char *path;                /* decoded, slashes collapsed, base_path removed; NULL outside it */
	int reject;                /* enum http_reject */
	struct strbuf body;        /* at most max_body_size bytes */
	size_t body_received;      /* all body bytes seen, kept or not */
	bool started;              /* the handler has been called once */
	bool answered;
	bool deferred;             /* suspended while a worker runs its job (http_defer) */
	struct http_pending {      /* a reply made on a worker, queued on resume */
		bool ready;
		int status;
		char *content_type;
		char *body;
		size_t len;
	} pending;
	int status;                /* what was answered, for the access log */
	const char *route;         /* route template for logs and metrics */
	int style;                 /* enum reply_style of the route (0: JSON), for error bodies */
	uint64_t start_ns;
	char request_id[40];
	char trace_id[33];         /* W3C trace context: the caller's trace id, or "" */
	char span_id[17];          /* our parent id for traceresponse, when trace_id is set */
	bool trace_sampled;        /* the caller's sampled flag */
	char client_ip[64];        /* the client: the peer, or X-Forwarded-For from a trusted proxy */
	unsigned char client_addr[16]; /* the same, as an IPv6 or IPv4-mapped address */

	/* parameters, filled by http_parse_params */
	struct http_param params[HTTP_MAX_PARAMS];
	int nparams;

	/* extra response headers, added before the reply */
	char *extra_names[HTTP_MAX_EXTRA_HEADERS];
	char *extra_values[HTTP_MAX_EXTRA_HEADERS];
	int nextra;
};

typedef void (*http_dispatch_fn)(struct http_request *req, void *ctx);

struct http_options {
	const char *listen_address;
	int port;
	const char *base_path;
	const char *cors_allow_origin;
	size_t max_url_size, max_header_size, max_body_size;
	unsigned int max_connections;
	unsigned int max_connections_per_ip; /* enforced by us (accept policy), 0: none */
	unsigned int idle_timeout;
	unsigned int request_timeout; /* seconds from a request's first byte to its last */
	unsigned int write_timeout;   /* seconds from an answer queued to its last byte sent */
	unsigned int threads;
	bool access_log;
	const char *trusted_proxies; /* comma-separated IPs or CIDRs (validated by config) */
};

/*
 * Binds the listening socket and starts the request threads. On failure
 * writes a one-line reason (address in use, ...) into err.
 */
int http_start(const struct http_options *opt, http_dispatch_fn dispatch, void *ctx,
	       struct http_server **out, char *err, size_t errlen);
/*
 * Checks that the listening socket http_start would bind can be bound now
 * (binds it and closes it again): 0, or -1 with the reason (address in use,
 * ...) in err, as http_start would say it. Lets start-up fail before it
 * touches anything.
 */
int http_probe(const struct http_options *opt, char *err, size_t errlen);
/*
 * Stops serving new connections; requests in flight carry on, and every
 * answer from now on closes its connection. Connections already waiting in
 * the kernel's accept queue (their requests reached the server) are still
 * accepted and answered first, for up to max_wait_ms; a connection that
 * arrives after that is closed unanswered. (Not libmicrohttpd's quiesce:
 * see server.c.)
 */
void http_quiesce(struct http_server *srv, int64_t max_wait_ms);
/* Turns the access log on or off (a reload). */
void http_set_access_log(struct http_server *srv, bool on);
/*
 * Requests received but not yet fully answered, counting those whose bytes
 * arrived on an open connection but are not yet read.
 */
unsigned int http_in_flight(struct http_server *srv);
/* Closes every connection and frees the server. */
void http_stop(struct http_server *srv);

/* ---- request accessors ---- */

/* A request header (case-insensitive name), or NULL. */
const char *http_header(struct http_request *req, const char *name);
/*
 * Parses parameters from the query string and, by Content-Type, a form or
 * JSON-object body. Returns 0 or GH_EINVAL (malformed, duplicate, a
 * non-string JSON value, invalid UTF-8 or NUL, more than HTTP_MAX_PARAMS);
 * *unsupported is set when a body came with any other media type.
 */
int http_parse_params(struct http_request *req, bool *unsupported /* OUT */);
/*
 * The same parsing without the connection: ct is the request's Content-Type
 * (NULL when absent); req needs raw_target, body and body_received only.
 * For tests and fuzzing.
 */
int http_parse_params_ct(struct http_request *req, const char *ct, bool *unsupported /* OUT */);
/* A parsed parameter; NULL when absent. Empty strings are returned as such. */
const char *http_param(const struct http_request *req, const char *name);

/*
 * For an answer made later on another thread, without a worker of ours:
 * http_suspend suspends the connection (answers then go to req's pending
 * reply); on the other thread, http_resumed_enter sets the logging ids of
 * req, the answer is made, and http_resume hands the connection back to
 * its thread: the last touch of req.
 */
void http_suspend(struct http_request *req);
void http_resumed_enter(struct http_request *req);
void http_resume(struct http_request *req);

/*
 * Moves the rest of the request to a worker: suspends the connection and
 * runs fn(req, arg) on pool; fn answers with the http_reply_* functions as
 * usual (the reply is queued when the connection resumes, on its own
 * thread). fn must not touch req after it returns. 0, or GH_EUNAVAIL when
 * the pool is stopping (then nothing was suspended: answer directly).
 */
struct workpool;
int http_defer(struct http_request *req, struct workpool *pool,
	       void (*fn)(struct http_request *req, void *arg), void *arg);

/* ---- replies (exactly one per request) ---- */

/* Adds a header to the coming reply (copied). */
void http_add_header(struct http_request *req, const char *name, const char *value);
/* Answers with body (copied) and its media type. */
void http_reply(struct http_request *req, int status, const char *content_type,
		const char *body, size_t len);
/* text/plain; charset=utf-8 */
void http_reply_text(struct http_request *req, int status, const char *text);
/* application/json; body is a complete JSON text */
void http_reply_json(struct http_request *req, int status, const char *json);
/* The status of the answer given (or made on a worker, not yet queued); 0 before. */
int http_reply_status(const struct http_request *req);


#endif
