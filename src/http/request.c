/*
 * request.c - one request: decoding of the target, parameters from the
 * query, a form or a JSON object alike, header access, and replies with
 * the common headers (queued at once, or kept for the connection's own
 * thread when a worker answers).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <microhttpd.h>

#include "gatehouse/alloc.h"
#include "gatehouse/encoding.h"
#include "gatehouse/jsoncheck.h"
#include "gatehouse/errors.h"
#include "gatehouse/http.h"
#include "gatehouse/log.h"
#include "gatehouse/strbuf.h"
#include "internal.h"
#include "gatehouse/banned.h"

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
char *http_normalize_path(const char *target, const char *base_path, bool *outside)
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
	/* The SDKs' bodies are flat objects of strings: read without jansson's lexer. */
	json_t *root = json_load_flat(req->body.buf, req->body.len);
	if (!root)
		root = json_loadb(req->body.buf, req->body.len, JSON_REJECT_DUPLICATES, NULL);
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
	if (*srv->cors_origin) { /* "": no CORS (the admin listener) */
		MHD_add_response_header(resp, "Access-Control-Allow-Origin", srv->cors_origin);
		MHD_add_response_header(resp, "Access-Control-Expose-Headers",
					"ETag, X-Request-Id, traceresponse");
	}
	if (req->trace_id[0]) {
		/* W3C Trace Context level 2: the caller's trace, our parent id. */
		char tr[64];
		snprintf(tr, sizeof tr, "00-%s-%s-%s", req->trace_id, req->span_id,
			 req->trace_sampled ? "01" : "00");
		MHD_add_response_header(resp, "traceresponse", tr);
	}
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	for (int i = 0; i < req->nextra; i++)
		MHD_add_response_header(resp, req->extra_names[i], req->extra_values[i]);
	if (atomic_load(&srv->closing))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if (MHD_queue_response(req->conn, (unsigned int)status, resp) != MHD_YES)
		log_error("cannot queue a %d response", status);
	else
		http_deadline_sending(req->conn);
	MHD_destroy_response(resp);
	req->answered = true;
	req->status = status;
}

int http_reply_status(const struct http_request *req)
{
	return req->pending.ready ? req->pending.status : req->status;
}

void http_reply_text(struct http_request *req, int status, const char *text)
{
	http_reply(req, status, "text/plain; charset=utf-8", text, strlen(text));
}

void http_reply_json(struct http_request *req, int status, const char *json)
{
	http_reply(req, status, "application/json", json, strlen(json));
}

