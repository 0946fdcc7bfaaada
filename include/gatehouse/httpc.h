/*
 * httpc.h - outbound HTTP(S) for the platform verifiers, on libcurl: a
 * connect timeout and a total timeout on every call, a cap on the answer's
 * size, certificate verification for https, no redirects, and one handle
 * per thread (kept, so that calls to the same host reuse a connection).
 * Call it only from threads that may block (the platform workers).
 */
#ifndef GATEHOUSE_HTTPC_H
#define GATEHOUSE_HTTPC_H

#include <stddef.h>
#include <stdint.h>

struct httpc_options {
	int64_t connect_timeout_ms;
	int64_t timeout_ms;
	size_t max_response;
};

struct httpc_request {
	const char *method;        /* "GET" or "POST" */
	const char *url;           /* may hold secrets: never logged */
	const char *const *headers; /* NULL-terminated "Name: value", or NULL */
	const char *body;          /* POST body (form-urlencoded), or NULL */
	size_t body_len;
	const char *userpwd;       /* HTTP Basic "user:password", or NULL */
};

struct httpc_response {
	long status;
	char *body;                /* NUL-terminated; free with httpc_response_release */
	size_t len;
};

/* Once, before any thread starts (libcurl's global init). */
int httpc_global_init(void);
void httpc_global_cleanup(void);

/*
 * Performs the request. 0 with the answer (whatever its status), or
 * GH_EUNAVAIL when no complete answer came (unreachable, timed out, TLS,
 * larger than max_response), with a short reason in err that names no URL.
 */
int httpc_do(const struct httpc_options *opt, const struct httpc_request *req,
	     struct httpc_response *out /* OUT */, char *err, size_t errlen);
void httpc_response_release(struct httpc_response *r);

/*
 * Percent-encodes s for a query string or form value into a new string
 * (caller frees).
 */
char *httpc_escape(const char *s);

#endif
