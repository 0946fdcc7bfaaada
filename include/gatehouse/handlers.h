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
#include "gatehouse/token.h"

struct http_request;
struct store;
struct keyring;

struct app {
	const struct config *cfg;
	struct store *store;
	struct keyring *keyring;
	struct token_config tokens;
};

/* identity.c */
void handle_login_as_guest(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_refresh(struct app *app, struct http_request *req, const struct route_ctx *rc);

/* player.c */
void handle_set_player_data(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_get_player_data(struct app *app, struct http_request *req, const struct route_ctx *rc);

/* wellknown.c */
void handle_jwks(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_openid_configuration(struct app *app, struct http_request *req,
				 const struct route_ctx *rc);

/* ops.c */
void handle_health(struct app *app, struct http_request *req, const struct route_ctx *rc);
void handle_ready(struct app *app, struct http_request *req, const struct route_ctx *rc);

#endif
