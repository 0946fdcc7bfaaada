/*
 * handlers.h - the route handlers (one .c per route group in src/handlers/).
 * A handler reads parameters, makes one call to the session layer or the
 * store, and renders the answer (errors through reply.h); it holds no SQL,
 * no crypto and no rule of its own.
 */
#ifndef GATEHOUSE_HANDLERS_H
#define GATEHOUSE_HANDLERS_H

#include "gatehouse/app.h"
#include "gatehouse/route.h"

#include <jansson.h>

struct http_request;
struct store_account;
struct session_tokens;

/* Fields of a login answer besides the tokens (API.md A.2). */
struct login_fields {
	const char *guest_secret;  /* echoed on guest logins, else NULL */
	const char *id_field;      /* "steam_id" etc. on platform logins, else NULL */
	const char *id_value;      /* the platform id (also oidc_id) */
	const char *oidc_provider; /* on OIDC logins, else NULL */
};

/* The compat player name's document key (/set-player-data, the admin user page). */
#define HANDLERS_PLAYER_NAME_KEY "player_name"

/* "steam", "apple", "google_play", "facebook", or "oidc:<name>" of a configured provider. */
bool handlers_known_platform(const struct config *cfg, const char *s);

/*
 * Answers a refused unlink (409 not linked, 409 last sign-in method) and
 * returns true; false for UNLINK_DONE, with nothing answered.
 */
bool handlers_reply_unlink_refused(struct http_request *req, int outcome);

/* Answers 200 with a login's fields (f may be NULL) and its token pair. */
void handlers_reply_login(struct http_request *req, const struct session_tokens *t,
			  const struct login_fields *f, int64_t now);

void handle_login_as_guest(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_refresh(struct app *app, struct http_request *req, const struct route_ctx *rc);

/* player.c */
/*
 * For a write's store call: chk filled from the token (R_CHECK_IN_WRITE,
 * route_ctx.check_in_write), or NULL when the router made the whole check.
 * chk->err starts at 0 either way.
 */
struct store_session_check;
struct store_session_check *handlers_session_check(const struct route_ctx *rc,
						   struct store_session_check *chk);
/* After that call: true, with the router's answer given, when the check failed. */
bool handlers_session_failed(struct http_request *req, const struct store_session_check *chk);
/*
 * Before a write that need not wait (R_ASYNC routes: store_doc_write_async,
 * session_refresh with a callback): true, with the connection suspended, when the
 * handler runs on its request thread and the store takes such writes.
 * The write's callback then answers between http_resumed_enter and
 * http_resume; if the store says no after all, the handler writes and
 * answers itself and calls http_resume. False: write and answer as usual.
 */
bool handlers_async_begin(struct app *app, struct http_request *req);
/*
 * The token user's document key: the one read with the token check
 * (route_ctx.doc, R_DOC routes) when it is that key, else store_doc_get.
 * out->value is the caller's to free.
 */
int handlers_doc_get(struct app *app, const struct route_ctx *rc, const char *key,
		     struct store_document *out /* OUT */);
void handle_set_player_data(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_get_player_data(struct app *app, struct http_request *req, const struct route_ctx *rc);

/* platform.c */
void handle_login_with_steam(struct app *app, struct http_request *req,
			     const struct route_ctx *rc);
void handle_login_with_apple(struct app *app, struct http_request *req,
			     const struct route_ctx *rc);
void handle_login_with_google_play(struct app *app, struct http_request *req,
				   const struct route_ctx *rc);
void handle_login_with_facebook(struct app *app, struct http_request *req,
				const struct route_ctx *rc);
void handle_login_with_oidc(struct app *app, struct http_request *req,
			    const struct route_ctx *rc);
void handle_unlink_identity(struct app *app, struct http_request *req,
			    const struct route_ctx *rc);

/* account.c */
void handle_logout(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_logout_all(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_get_user(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_delete_user(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_export_user_data(struct app *app, struct http_request *req,
			     const struct route_ctx *rc);
/* The get-user document of an account (also `gatehouse user show`); a new reference. */
json_t *handlers_account_json(const struct store_account *a, int64_t now);
/* The export-user-data document of a full account read; a new reference. */
json_t *handlers_account_export_json(const struct store_account *a, int64_t now);

/* storage.c */
/* True when the request body is declared as JSON (Content-Type); otherwise answers 415. */
bool handlers_require_json_body(struct http_request *req);
void handle_player_doc(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_player_doc_list(struct app *app, struct http_request *req,
			    const struct route_ctx *rc);
void handle_player_doc_batch(struct app *app, struct http_request *req,
			     const struct route_ctx *rc);

/* wellknown.c */
void handle_jwks(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_openid_configuration(struct app *app, struct http_request *req,
				 const struct route_ctx *rc);

void handle_openapi(struct app *app, struct http_request *req, const struct route_ctx *rc);

/* forwardauth.c */
/*
 * GET|HEAD /forward-auth[?scope=a,b]: the sub-request of a reverse proxy
 * (nginx auth_request, Traefik ForwardAuth, ...), authenticated by the
 * router as every R_AUTH route; answers 200 with X-Gatehouse-* headers.
 */
void handle_forward_auth(struct app *app, struct http_request *req, const struct route_ctx *rc);

/* admin.c: the admin API's user routes (R_ADMIN: route_ctx.actor is set) */
void handle_admin_users(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_admin_user(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_admin_user_documents(struct app *app, struct http_request *req,
				 const struct route_ctx *rc);
void handle_admin_user_export(struct app *app, struct http_request *req,
			      const struct route_ctx *rc);
void handle_admin_ban(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_admin_unban(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_admin_session_end(struct app *app, struct http_request *req,
			      const struct route_ctx *rc);
void handle_admin_sessions_end_all(struct app *app, struct http_request *req,
				   const struct route_ctx *rc);
void handle_admin_user_delete(struct app *app, struct http_request *req,
			      const struct route_ctx *rc);
void handle_admin_unlink(struct app *app, struct http_request *req, const struct route_ctx *rc);
/*
 * One audit line of an admin action: msg=audit actor=NAME action=ACTION
 * user=ID, then up to two more key/value pairs (NULL keys end it early).
 * Never a token: the actor is the admin token's name.
 */
void handlers_admin_audit(const struct route_ctx *rc, const char *action, const char *user,
			  const char *k1, const char *v1, const char *k2, const char *v2);

/* admin_ops.c: keys, stats and the embedded console */
void handle_admin_keys(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_admin_keys_rotate(struct app *app, struct http_request *req,
			      const struct route_ctx *rc);
void handle_admin_stats(struct app *app, struct http_request *req, const struct route_ctx *rc);
/* GET /console (index.html) and /console/<file>: the files under console/, built in. */
void handle_console(struct app *app, struct http_request *req, const struct route_ctx *rc);

/* ops.c */
void handle_health(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_ready(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_metrics(struct app *app, struct http_request *req, const struct route_ctx *rc);

#endif
