/*
 * router.h - the static route table and dispatch: path and method matching
 * (404, 405 with Allow), CORS preflight, rate limits, access-token
 * authentication (through the session layer), parameter parsing, then the
 * route's handler. Error bodies follow the route's style (reply.h).
 */
#ifndef GATEHOUSE_ROUTER_H
#define GATEHOUSE_ROUTER_H

#include <stddef.h>

#include "gatehouse/route.h"

struct http_request;

/* The http dispatch callback; ctx is the struct app. */
void router_dispatch(struct http_request *req, void *ctx);
/*
 * The same for the admin listener: the admin API (/admin/..., an admin
 * token in Authorization: Bearer), the console's files, /metrics, /health
 * and /ready; the API and console only when admin tokens are configured.
 */
void router_dispatch_admin(struct http_request *req, void *ctx);

/* The name of method bit number bit (0: GET, ...), or NULL past the last. */
const char *router_method_name(unsigned bit);

/* The route table, for documentation checks. */
const struct route *router_routes(size_t *n /* OUT */);
/* The admin listener's table. */
const struct route *router_admin_routes(size_t *n /* OUT */);

#endif
