/*
 * router.c - the route table and dispatch. Every route of the daemon is
 * listed here, once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "gatehouse/handlers.h"
#include "gatehouse/http.h"
#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/ratelimit.h"
#include "gatehouse/router.h"
#include "gatehouse/reply.h"
#include "gatehouse/session.h"
#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/clock.h"
#include "gatehouse/banned.h"

static const struct route routes[] = {
	{ "/login-as-guest", M_GET | M_POST, STYLE_COMPAT,
	  R_PARAMS | R_NOSTORE | R_LIMIT | R_WRITE,
	  handle_login_as_guest },
	{ "/refresh-access-token", M_GET | M_POST, STYLE_COMPAT,
	  R_PARAMS | R_NOSTORE | R_LIMIT | R_WRITE | R_ASYNC | R_SIGNS,
	  handle_refresh },
	{ "/login-with-steam", M_GET | M_POST, STYLE_COMPAT, R_PARAMS | R_NOSTORE | R_LIMIT,
	  handle_login_with_steam },
	{ "/login-with-apple-id", M_GET | M_POST, STYLE_COMPAT, R_PARAMS | R_NOSTORE | R_LIMIT,
	  handle_login_with_apple },
	{ "/login-with-google-play", M_GET | M_POST, STYLE_COMPAT, R_PARAMS | R_NOSTORE | R_LIMIT,
	  handle_login_with_google_play },
	{ "/login-with-facebook", M_GET | M_POST, STYLE_COMPAT, R_PARAMS | R_NOSTORE | R_LIMIT,
	  handle_login_with_facebook },
	{ "/login-with-oidc", M_GET | M_POST, STYLE_COMPAT, R_PARAMS | R_NOSTORE | R_LIMIT,
	  handle_login_with_oidc },
	{ "/unlink-identity", M_POST, STYLE_JSON, R_AUTH | R_PARAMS | R_LIMIT | R_WRITE,
	  handle_unlink_identity },
	{ "/logout", M_POST, STYLE_JSON, R_PARAMS | R_LIMIT | R_WRITE, handle_logout },
	{ "/logout-all", M_POST, STYLE_JSON, R_AUTH | R_LIMIT | R_WRITE, handle_logout_all },
	{ "/get-user", M_GET, STYLE_JSON, R_AUTH | R_LIMIT | R_NOSTORE, handle_get_user },
	{ "/delete-user", M_POST, STYLE_JSON, R_AUTH | R_LIMIT | R_WRITE, handle_delete_user },
	{ "/export-user-data", M_GET, STYLE_JSON, R_AUTH | R_LIMIT | R_NOSTORE,
	  handle_export_user_data },
	{ "/set-player-data", M_GET | M_POST, STYLE_APIGW,
	  R_PARAMS | R_AUTH | R_WRITE | R_CHECK_IN_WRITE | R_ASYNC, handle_set_player_data },
	{ "/get-player-data", M_GET | M_POST, STYLE_APIGW, R_PARAMS | R_AUTH | R_DOC,
	  handle_get_player_data },
	{ "/player-data", M_GET, STYLE_JSON, R_PARAMS | R_AUTH, handle_player_doc_list },
	{ "/player-data/{key}", M_GET | M_PUT | M_DELETE, STYLE_JSON,
	  R_AUTH | R_DOC | R_WRITE | R_CHECK_IN_WRITE | R_ASYNC, handle_player_doc },
	{ "/player-data-batch", M_POST, STYLE_JSON,
	  R_AUTH | R_WRITE | R_CHECK_IN_WRITE | R_ASYNC, handle_player_doc_batch },
	{ "/forward-auth", M_GET | M_HEAD, STYLE_APIGW, R_PARAMS | R_AUTH | R_NOSTORE,
	  handle_forward_auth },
	{ "/.well-known/jwks.json", M_GET, STYLE_JSON, 0, handle_jwks },
	{ "/.well-known/openid-configuration", M_GET, STYLE_JSON, 0,
	  handle_openid_configuration },
	{ "/health", M_GET, STYLE_JSON, 0, handle_health },
	{ "/ready", M_GET, STYLE_JSON, 0, handle_ready },
	{ "/metrics", M_GET, STYLE_JSON, R_MAIN_METRICS, handle_metrics },
	{ "/openapi.json", M_GET, STYLE_JSON, 0, handle_openapi },
};

/*
 * The admin listener (admin_listen_address) serves only these: the admin
 * API and the console when admin tokens are configured, and the operations
 * routes. No public route.
 */
static const struct route admin_routes[] = {
	{ "/admin/users", M_GET, STYLE_JSON, R_ADMIN | R_PARAMS, handle_admin_users },
	{ "/admin/users/{user_id}", M_GET, STYLE_JSON, R_ADMIN, handle_admin_user },
	{ "/admin/users/{user_id}/documents", M_GET, STYLE_JSON, R_ADMIN | R_PARAMS,
	  handle_admin_user_documents },
	{ "/admin/users/{user_id}/export", M_GET, STYLE_JSON, R_ADMIN, handle_admin_user_export },
	{ "/admin/users/{user_id}/ban", M_POST, STYLE_JSON, R_ADMIN, handle_admin_ban },
	{ "/admin/users/{user_id}/unban", M_POST, STYLE_JSON, R_ADMIN, handle_admin_unban },
	{ "/admin/users/{user_id}/sessions/end-all", M_POST, STYLE_JSON, R_ADMIN,
	  handle_admin_sessions_end_all },
	{ "/admin/users/{user_id}/sessions/{session_id}/end", M_POST, STYLE_JSON, R_ADMIN,
	  handle_admin_session_end },
	{ "/admin/users/{user_id}/delete", M_POST, STYLE_JSON, R_ADMIN, handle_admin_user_delete },
	{ "/admin/users/{user_id}/identities/{provider}/unlink", M_POST, STYLE_JSON, R_ADMIN,
	  handle_admin_unlink },
	{ "/admin/keys", M_GET, STYLE_JSON, R_ADMIN, handle_admin_keys },
	{ "/admin/keys/rotate", M_POST, STYLE_JSON, R_ADMIN, handle_admin_keys_rotate },
	{ "/admin/stats", M_GET, STYLE_JSON, R_ADMIN, handle_admin_stats },
	{ "/console", M_GET, STYLE_JSON, R_CONSOLE, handle_console },
	{ "/console/{key}", M_GET, STYLE_JSON, R_CONSOLE, handle_console },
	{ "/metrics", M_GET, STYLE_JSON, 0, handle_metrics },
	{ "/health", M_GET, STYLE_JSON, 0, handle_health },
	{ "/ready", M_GET, STYLE_JSON, 0, handle_ready },
};

const struct route *router_admin_routes(size_t *n)
{
	*n = GH_ARRAY_SIZE(admin_routes);
	return admin_routes;
}

const struct route *router_routes(size_t *n)
{
	*n = GH_ARRAY_SIZE(routes);
	return routes;
}

static unsigned method_bit(const char *m)
{
	if (!strcmp(m, "GET"))
		return M_GET;
	if (!strcmp(m, "POST"))
		return M_POST;
	if (!strcmp(m, "PUT"))
		return M_PUT;
	if (!strcmp(m, "DELETE"))
		return M_DELETE;
	if (!strcmp(m, "HEAD"))
		return M_HEAD;
	return 0;
}

/* In the order of enum route_method's bits. */
static const char *const method_names[] = { "GET", "POST", "PUT", "DELETE", "HEAD" };

const char *router_method_name(unsigned bit)
{
	return bit < GH_ARRAY_SIZE(method_names) ? method_names[bit] : NULL;
}

static void methods_list(unsigned methods, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < GH_ARRAY_SIZE(method_names); i++)
		if (methods & (1u << i))
			o += (size_t)snprintf(buf + o, len - o, "%s, ", method_names[i]);
	snprintf(buf + o, len - o, "OPTIONS");
}

/*
 * Whether path matches the template tmpl: 1, with the {name} segments in
 * rc->args and a trailing {key}'s rest in rc->key; 0 when it does not; -1
 * when it does but a segment is longer than ROUTE_ARG_MAX.
 */
static int match_one(const char *tmpl, const char *path, struct route_ctx *rc)
{
	int nargs = 0, toolong = 0;
	while (*tmpl) {
		if (*tmpl != '{') {
			if (*tmpl++ != *path++)
				return 0;
			continue;
		}
		const char *close = strchr(tmpl, '}');
		if (!close)
			return 0;
		if (!close[1] && !strncmp(tmpl, "{key}", 5)) {
			if (!*path)
				return 0;
			rc->key = path;
			return toolong ? -1 : 1;
		}
		size_t n = strcspn(path, "/");
		if (!n || nargs == ROUTE_ARGS)
			return 0;
		if (n > ROUTE_ARG_MAX)
			toolong = 1;
		else
			snprintf(rc->args[nargs], sizeof rc->args[nargs], "%.*s", (int)n, path);
		nargs++;
		path += n;
		tmpl = close + 1;
	}
	if (*path)
		return 0;
	return toolong ? -1 : 1;
}

static const struct route *match(const struct route *table, size_t n, const char *path,
				 struct route_ctx *rc, bool *toolong)
{
	*toolong = false;
	if (!path)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int m = match_one(table[i].path, path, rc);
		if (m) {
			*toolong = m < 0;
			return &table[i];
		}
		if (strchr(table[i].path, '{')) /* it may have filled some before failing */
			memset(rc->args, 0, sizeof rc->args);
	}
	return NULL;
}

static void reply_reject(struct http_request *req)
{
	switch (req->reject) {
	case REJECT_URL_TOO_LONG:
		reply_error(req, ERR_URI_TOO_LONG);
		break;
	case REJECT_HEADERS_TOO_LARGE:
		reply_error(req, ERR_HEADERS_TOO_LARGE);
		break;
	case REJECT_BODY_TOO_LARGE:
		reply_error(req, ERR_PAYLOAD_TOO_LARGE);
		break;
	default:
		reply_error(req, ERR_INVALID_REQUEST);
	}
}

/* Longer Authorization headers are refused unread (401), as no token. */
#define AUTHORIZATION_MAX 8192

/* The token from Authorization: the raw JWT (the SDKs) or "Bearer <JWT>". */
static const char *bearer_token(struct http_request *req, size_t *len)
{
	const char *h = http_header(req, "Authorization");
	if (!h || strnlen(h, AUTHORIZATION_MAX + 1) > AUTHORIZATION_MAX)
		return NULL;
	while (*h == ' ')
		h++;
	if (strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		while (*h == ' ')
			h++;
	}
	*len = strlen(h);
	while (*len && h[*len - 1] == ' ')
		(*len)--;
	return *len ? h : NULL;
}

/* Takes a token from the client's bucket; false (429 answered) when empty. */
static bool within_rate_limit(struct app *app, struct http_request *req)
{
	struct ratelimit *limiter = app->limiter;
	if (!limiter)
		return true;
	int64_t wait = ratelimit_take(limiter, req->client_addr, gh_mono_ns());
	if (!wait)
		return true;
	metrics_inc(M_RATE_LIMITED);
	char secs[24];
	snprintf(secs, sizeof secs, "%lld", (long long)wait);
	http_add_header(req, "Retry-After", secs);
	log_debug("rate limit: client %s waits %llds", req->client_ip, (long long)wait);
	reply_error(req, ERR_RATE_LIMITED);
	return false;
}

/*
 * Whether an R_DOC request reads its document: with GET or HEAD, or any
 * method of a route without {key} (the PlayerName document).
 */
static bool reads_doc(const struct route_ctx *rc, const struct http_request *req)
{
	return (rc->route->flags & R_DOC) &&
	       (!rc->key || !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD"));
}

/* Whether this request writes (route_flags R_WRITE): all but an R_DOC route's reads. */
static bool writes(const struct route_ctx *rc, const struct http_request *req)
{
	return (rc->route->flags & R_WRITE) && !reads_doc(rc, req);
}

static bool authenticate(struct app *app, struct http_request *req, struct route_ctx *rc)
{
	size_t len = 0;
	const char *tok = bearer_token(req, &len);
	/* A document read goes with the token's check (route_flags R_DOC). */
	const char *key = NULL;
	if (reads_doc(rc, req))
		key = rc->key ? rc->key : HANDLERS_PLAYER_NAME_KEY;
	int err;
	if ((rc->route->flags & R_CHECK_IN_WRITE) && writes(rc, req)) {
		err = session_authenticate_token(app, tok, len, gh_now(), &rc->claims);
		rc->check_in_write = !err;
	} else if (key) {
		err = session_authenticate_doc(app, tok, len, gh_now(), key, &rc->claims, &rc->user,
					       &rc->doc, &rc->doc_err);
	} else {
		err = session_authenticate(app, tok, len, gh_now(), &rc->claims, &rc->user);
	}
	if (err)
		reply_failure(req, err);
	else if (key) {
		rc->doc_ready = true;
		rc->doc_key = key;
	}
	return !err;
}

/* The admin listener's answers: no framing, no scripts but ours, no caching. */
static void add_console_headers(struct http_request *req)
{
	http_add_header(req, "Content-Security-Policy",
			"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
			"connect-src 'self'; base-uri 'none'; form-action 'none'; "
			"frame-ancestors 'none'");
	http_add_header(req, "X-Frame-Options", "DENY");
	http_add_header(req, "Referrer-Policy", "no-referrer");
	http_add_header(req, "Cache-Control", "no-store");
}

/* The admin token's name, or NULL with 401 answered. */
static const char *admin_authenticate(struct app *app, struct http_request *req)
{
	size_t len = 0;
	const char *h = http_header(req, "Authorization");
	const char *tok = NULL;
	/* Only "Bearer <token>": the raw form is for the SDKs' JWTs. */
	if (h && strncasecmp(h, "Bearer ", 7) == 0)
		tok = bearer_token(req, &len);
	const char *who = session_admin_authenticate(app->cfg, tok, len);
	if (!who) {
		http_add_header(req, "WWW-Authenticate", "Bearer realm=\"gatehouse admin\"");
		reply_error(req, ERR_ADMIN_TOKEN);
	}
	return who;
}

struct deferred_call {
	struct app *app;
	struct route_ctx rc; /* its key points into the request's path, which outlives it */
};

static void run_handler(struct http_request *req, void *arg)
{
	struct deferred_call *d = arg;
	d->rc.route->handler(d->app, req, &d->rc);
	free(d->rc.doc.value);
	free(d);
}

/*
 * Runs the handler on a write worker while the connection is suspended
 * (http_defer): the request thread goes on serving its other connections
 * instead of waiting for the commit, and the writes of many connections
 * share one. False when the pool cannot take it (stopping): run it here.
 */
static bool defer_handler(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	struct deferred_call *d = xmalloc(sizeof *d);
	d->app = app;
	d->rc = *rc;
	if (http_defer(req, app->write_workers, run_handler, d)) {
		free(d);
		return false;
	}
	return true;
}

static void dispatch_in(const struct route *table, size_t n, struct http_request *req,
			struct app *app, bool admin)
{
	/* Every answer of the admin listener, 404s and 401s included. */
	if (admin)
		add_console_headers(req);
	struct route_ctx rc;
	memset(&rc, 0, sizeof rc);
	bool toolong;
	const struct route *r = match(table, n, req->path, &rc, &toolong);
	/* With an admin listener, the metrics are served there only. */
	if (r && (r->flags & R_MAIN_METRICS) && *app->cfg->admin_listen_address)
		r = NULL;
	/* An admin listener without tokens (metrics_listen_address alone): metrics only. */
	if (r && (r->flags & (R_ADMIN | R_CONSOLE)) && !config_admin_api(app->cfg))
		r = NULL;
	if (r) {
		req->route = r->path;
		req->style = r->style;
	}
	if (req->reject) {
		reply_reject(req);
		return;
	}
	if (!r) {
		reply_error(req, ERR_NO_ROUTE);
		return;
	}
	char allow[64];
	methods_list(r->methods, allow, sizeof allow);
	if (strcmp(req->method, "OPTIONS") == 0) {
		http_add_header(req, "Access-Control-Allow-Methods", allow);
		http_add_header(req, "Access-Control-Allow-Headers",
				"Authorization, Content-Type, If-Match, If-None-Match, X-Request-Id");
		http_add_header(req, "Access-Control-Max-Age", "600");
		http_reply(req, 204, NULL, "", 0);
		return;
	}
	if (!(method_bit(req->method) & r->methods)) {
		http_add_header(req, "Allow", allow);
		reply_error(req, ERR_METHOD);
		return;
	}
	/* Before anything else: a refused request must not spend its refresh token. */
	if ((r->flags & R_LIMIT) && !within_rate_limit(app, req))
		return;
	rc.route = r;
	bool unsupported = false;
	/* The token first, as API Gateway's authorizer does, then the parameters. */
	if ((r->flags & R_AUTH) && !authenticate(app, req, &rc))
		return;
	if ((r->flags & R_ADMIN) && !(rc.actor = admin_authenticate(app, req)))
		return;
	if (toolong) {
		reply_error(req, ERR_INVALID_REQUEST);
	} else if ((r->flags & R_PARAMS) && http_parse_params(req, &unsupported)) {
		reply_error(req, unsupported ? ERR_UNSUPPORTED_MEDIA : ERR_INVALID_REQUEST);
	} else {
		if (r->flags & R_NOSTORE)
			http_add_header(req, "Cache-Control", "no-store");
		bool async = (r->flags & R_ASYNC) && store_async_writes(app->store) &&
			     !((r->flags & R_SIGNS) && session_signing_slow(app, gh_now()));
		if (writes(&rc, req) && !async && app->write_workers &&
		    defer_handler(app, req, &rc))
			return; /* the worker frees rc.doc.value */
		r->handler(app, req, &rc);
	}
	free(rc.doc.value);
}

void router_dispatch(struct http_request *req, void *ctx)
{
	dispatch_in(routes, GH_ARRAY_SIZE(routes), req, ctx, false);
}

static int admin_outcome(int status)
{
	return status == 401 ? ADMIN_UNAUTHORIZED : status >= 500 ? ADMIN_SERVER_ERROR :
	       status >= 400 ? ADMIN_CLIENT_ERROR : ADMIN_OK;
}

void router_dispatch_admin(struct http_request *req, void *ctx)
{
	dispatch_in(admin_routes, GH_ARRAY_SIZE(admin_routes), req, ctx, true);
	/* Every request under /admin/ counts, matched or not. */
	if (req->path && !strncmp(req->path, "/admin/", 7) &&
	    config_admin_api(((struct app *)ctx)->cfg))
		metrics_admin_request(admin_outcome(req->status));
}
