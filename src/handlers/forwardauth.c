/*
 * forwardauth.c - GET|HEAD /forward-auth (API.md B "Forward auth"): the
 * sub-request a reverse proxy makes before passing a client's request to a
 * backend. The router has already verified the access token, its user and
 * its session (R_AUTH, answering 401/403 with API Gateway's authorizer
 * bodies); this adds the per-location scope rule and the identity headers.
 */
#include <stdio.h>
#include <string.h>

#include "gatehouse/handlers.h"
#include "gatehouse/http.h"
#include "gatehouse/log.h"
#include "gatehouse/token.h"
#include "gatehouse/alloc.h"
#include "gatehouse/reply.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/banned.h"

/* ?scope= is set in the proxy's config: a short list of known scope names. */
#define SCOPE_PARAM_MAX 256
#define SCOPE_ITEMS_MAX 8

/*
 * The original request as proxies describe it (nginx: X-Original-*,
 * Traefik, Caddy: X-Forwarded-*). Read for the debug log only, each bounded:
 * a longer value refuses the request (400), as a proxy never sends one.
 */
static const struct {
	const char *name;
	size_t max;
} forwarded_headers[] = {
	{ "X-Original-Method", 16 },  { "X-Forwarded-Method", 16 },
	{ "X-Original-URI", 8192 },   { "X-Forwarded-Uri", 8192 },
	{ "X-Forwarded-Host", 255 },  { "X-Forwarded-Proto", 16 },
};

/*
 * Parses "a,b" (spaces around items allowed) into a bit set of enum
 * token_scope values. -1 when malformed: too long, too many or empty
 * items, or a name that is no scope of an access token.
 */
static int parse_scopes(const char *v)
{
	size_t len = strnlen(v, SCOPE_PARAM_MAX + 1);
	if (len == 0 || len > SCOPE_PARAM_MAX)
		return -1;
	int set = 0, items = 0;
	const char *p = v, *end = v + len;
	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		const char *a = p, *b = stop;
		while (a < b && *a == ' ')
			a++;
		while (b > a && b[-1] == ' ')
			b--;
		int s = token_scope_parse(a, (size_t)(b - a));
		if (s < 0 || ++items > SCOPE_ITEMS_MAX)
			return -1;
		set |= 1 << s;
		p = stop + 1;
	}
	return set;
}

/* Copies a header value for a log line: printable ASCII only, cut at 120. */
static void log_copy(char *dst, size_t cap, const char *v)
{
	size_t o = 0;
	for (; v && *v && o + 1 < cap && o < 120; v++)
		dst[o++] = (*v > 0x20 && *v < 0x7f) ? *v : '?';
	dst[o] = '\0';
}

void handle_forward_auth(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)app;
	for (size_t i = 0; i < GH_ARRAY_SIZE(forwarded_headers); i++) {
		const char *v = http_header(req, forwarded_headers[i].name);
		if (v && strnlen(v, forwarded_headers[i].max + 1) > forwarded_headers[i].max) {
			log_debug("forward-auth: header '%s' too long", forwarded_headers[i].name);
			reply_error(req, ERR_BAD_FORWARD);
			return;
		}
	}
	const char *scope = http_param(req, "scope");
	if (scope) {
		int allowed = parse_scopes(scope);
		if (allowed < 0) {
			/* The proxy's configuration is wrong: say so to its operator. */
			log_warn("forward-auth: bad scope parameter (want a comma-separated list "
				 "of guest, authenticated)");
			reply_error(req, ERR_BAD_FORWARD);
			return;
		}
		if (rc->claims.scope < 0 || !(allowed & (1 << rc->claims.scope))) {
			reply_error(req, ERR_SCOPE);
			return;
		}
	}

	char num[24];
	http_add_header(req, "X-Gatehouse-User-Id", rc->claims.sub);
	http_add_header(req, "X-Gatehouse-Scope", token_scope_name(rc->claims.scope));
	if (rc->claims.sid) {
		snprintf(num, sizeof num, "%lld", (long long)rc->claims.sid);
		http_add_header(req, "X-Gatehouse-Session-Id", num);
	}
	snprintf(num, sizeof num, "%lld", (long long)rc->claims.exp);
	http_add_header(req, "X-Gatehouse-Token-Expires", num);

	if (LOG_DEBUG >= log_min_level) {
		char method[24], uri[128];
		const char *m = http_header(req, "X-Original-Method");
		const char *u = http_header(req, "X-Original-URI");
		log_copy(method, sizeof method, m ? m : http_header(req, "X-Forwarded-Method"));
		log_copy(uri, sizeof uri, u ? u : http_header(req, "X-Forwarded-Uri"));
		/* The path only: a query string may hold anything. */
		char *q = strchr(uri, '?');
		if (q)
			*q = '\0';
		log_debug("forward-auth: allowed %s %s", method[0] ? method : "-",
			  uri[0] ? uri : "-");
	}

	struct strbuf sb = STRBUF_INIT;
	sb_addf(&sb, "{\"user_id\":\"%s\",\"scope\":\"%s\",\"expires\":%lld", rc->claims.sub,
		token_scope_name(rc->claims.scope), (long long)rc->claims.exp);
	if (rc->claims.sid)
		sb_addf(&sb, ",\"session_id\":%lld", (long long)rc->claims.sid);
	sb_adds(&sb, "}");
	http_reply_json(req, 200, sb.buf);
	sb_release(&sb);
}
