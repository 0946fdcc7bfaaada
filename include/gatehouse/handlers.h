/*
 * handlers.h - the route handlers (one .c per route group in src/handlers/)
 * and the application context they share. A handler reads parameters,
 * calls the token, keyring and store services, and renders the answer; it
 * holds no SQL and no crypto of its own.
 */
#ifndef GATEHOUSE_HANDLERS_H
#define GATEHOUSE_HANDLERS_H

#include "gatehouse/config.h"
#include "gatehouse/router.h"
#include "gatehouse/store.h"
#include "gatehouse/token.h"

#include <jansson.h>

struct http_request;
struct store;
struct store_account;
struct keyring;
struct ratelimit;

/*
 * cfg is an immutable snapshot: a reload (SIGHUP) swaps in a new one, and
 * old ones live until exit, so a request may read it without a lock.
 */
struct app {
	const struct config *_Atomic cfg;
	struct store *store;
	struct keyring *keyring;
	struct ratelimit *_Atomic limiter; /* NULL when rate_limit_login is 0 */
	struct token_config tokens;
	struct token_cache *token_cache;   /* verified access tokens (NULL: none) */
	struct workpool *platform_workers; /* where platform logins wait on the network */
	struct jwkscache *jwks;            /* Apple's and OIDC providers' key sets */
};

/* The per-user player-data quotas of a configuration. */
static inline struct store_doc_limits doc_limits_of(const struct config *cfg)
{
	struct store_doc_limits l = { cfg->player_data_max_keys, cfg->player_data_max_bytes };
	return l;
}

/* identity.c */

/* A session's token pair and the fields of the login answer (API.md A.2). */
struct token_pair {
	const char *user_id;
	const char *guest_secret;  /* echoed on guest logins, else NULL */
	int scope;                 /* enum token_scope */
	int64_t session_id;
	const char *jti;
	int64_t session_expires_at;
	const char *id_field;      /* "steam_id" etc. on platform logins, else NULL */
	const char *id_value;      /* the platform id (also oidc_id) */
	const char *oidc_provider; /* on OIDC logins, else NULL */
};

/*
 * Signs the access and refresh tokens of a session and answers 200 with
 * the reference's field set, or 503 when no key can sign.
 */
void reply_tokens(struct app *app, struct http_request *req, const struct token_pair *p,
		  int64_t now);
/* True when the keyring can sign both token types right now. */
bool can_sign(struct app *app, int64_t now);

void handle_login_as_guest(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_refresh(struct app *app, struct http_request *req, const struct route_ctx *rc);

/* player.c */
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
json_t *account_json(const struct store_account *a, int64_t now);
/* The export-user-data document of a full account read; a new reference. */
json_t *account_export_json(const struct store_account *a, int64_t now);

/* storage.c */
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

/* ops.c */
void handle_health(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_ready(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_metrics(struct app *app, struct http_request *req, const struct route_ctx *rc);

#endif
