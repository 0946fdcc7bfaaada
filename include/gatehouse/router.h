/*
 * router.h - the static route table and dispatch: path and method matching
 * (404, 405 with Allow), CORS preflight, parameter parsing, bearer-token
 * authentication, and error replies in the style of each route family:
 *
 *   STYLE_COMPAT  identity routes of the AWS reference: plain-text
 *                 "Error: ..." bodies (Unreal fires its failure callback
 *                 only on a non-JSON body), API Gateway's JSON for a
 *                 missing parameter.
 *   STYLE_APIGW   the sample backend routes behind API Gateway's JWT
 *                 authorizer: {"message":"..."}.
 *   STYLE_JSON    gatehouse's own routes: {"error":"<slug>","message":"..."}.
 */
#ifndef GATEHOUSE_ROUTER_H
#define GATEHOUSE_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "gatehouse/store.h"
#include "gatehouse/token.h"

struct http_request;
struct app;

enum route_style { STYLE_COMPAT = 0, STYLE_APIGW, STYLE_JSON };

enum route_method {
	M_GET = 1 << 0,
	M_POST = 1 << 1,
	M_PUT = 1 << 2,
	M_DELETE = 1 << 3,
	M_HEAD = 1 << 4,
};

enum route_flags {
	R_PARAMS = 1 << 0,         /* parse query/form/JSON parameters first */
	R_AUTH = 1 << 1,           /* needs an access token (guest or authenticated) */
	R_NOSTORE = 1 << 2,        /* answers carry tokens: Cache-Control: no-store */
	R_LIMIT = 1 << 3,          /* takes a token from the client's rate-limit bucket */
	R_MAIN_METRICS = 1 << 4,   /* served here unless an admin listener is configured */
};

struct route_ctx {
	const struct route *route;
	struct access_claims claims; /* set for R_AUTH routes */
	struct store_user user;      /* the token's user, for R_AUTH routes */
	const char *key;             /* the {key} of the path, decoded */
};

struct route {
	/*
	 * As served under base_path; also the log and metrics label. A path
	 * ending in "{key}" matches any non-empty rest, given as route_ctx.key.
	 */
	const char *path;
	unsigned methods;          /* enum route_method bits */
	int style;                 /* enum route_style */
	unsigned flags;            /* enum route_flags bits */
	void (*handler)(struct app *app, struct http_request *req, const struct route_ctx *rc);
};

/* The http dispatch callback; ctx is the struct app. */
void router_dispatch(struct http_request *req, void *ctx);
/* The same for the admin listener: /metrics and /health only. */
void router_dispatch_admin(struct http_request *req, void *ctx);

/* The route table, for documentation checks. */
const struct route *router_routes(size_t *n /* OUT */);

/*
 * An error reply in the route family's style: compat gets text (the
 * message), apigw {"message":message}, json {"error":slug,"message":message}.
 */
void reply_error(struct http_request *req, int style, int status, const char *slug,
		 const char *message);
/*
 * 400 for missing required parameters, worded as API Gateway's request
 * validator does: {"message": "Missing required request parameters: [a, b]"}
 * on compat and apigw routes, with "error":"missing_parameter" on JSON ones.
 */
void reply_missing(struct http_request *req, int style, const char *names);

#endif
