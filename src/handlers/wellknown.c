/*
 * wellknown.c - the published documents: the JWKS (API.md A.4), served from
 * the key set's pre-rendered text, the OpenID discovery document, and the
 * OpenAPI description of every route (docs/openapi.json, compiled in).
 */
#include <stdio.h>

#include <jansson.h>

#include "gatehouse/handlers.h"
#include "gatehouse/http.h"
#include "gatehouse/keyring.h"
#include "gatehouse/alloc.h"
#include "gatehouse/banned.h"

void handle_jwks(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)rc;
	char cc[64];
	snprintf(cc, sizeof cc, "public, max-age=%lld", (long long)app->cfg->jwks_max_age);
	http_add_header(req, "Cache-Control", cc);
	struct keyset *ks = keyset_get(app->keyring);
	http_reply(req, 200, "application/json", ks->jwks, ks->jwks_len);
	keyset_put(ks);
}

void handle_openid_configuration(struct app *app, struct http_request *req,
				 const struct route_ctx *rc)
{
	(void)rc;
	struct keyset *ks = keyset_get(app->keyring);
	json_t *algs = json_loads(ks->algs_json, 0, NULL);
	keyset_put(ks);
	char *jwks_uri = xasprintf("%s/.well-known/jwks.json", app->cfg->issuer_url);
	json_t *doc = json_pack("{s:s, s:s, s:o, s:[s,s]}", "issuer", app->cfg->issuer_url,
				"jwks_uri", jwks_uri, "id_token_signing_alg_values_supported",
				algs ? algs : json_array(), "scopes_supported", "guest",
				"authenticated");
	free(jwks_uri);
	char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	char cc[64];
	snprintf(cc, sizeof cc, "public, max-age=%lld", (long long)app->cfg->jwks_max_age);
	http_add_header(req, "Cache-Control", cc);
	http_reply_json(req, body ? 200 : 500, body ? body : "{\"error\":\"internal\"}");
	free(body);
}

/* Generated from docs/openapi.json by scripts/embed.sh. */
extern const char openapi_json[];
extern const unsigned long openapi_json_len;

void handle_openapi(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)app;
	(void)rc;
	http_add_header(req, "Cache-Control", "public, max-age=3600");
	http_reply(req, 200, "application/json", openapi_json, openapi_json_len);
}
