/*
 * ops.c - liveness and readiness for load balancers and systemd.
 */
#include "gatehouse/handlers.h"
#include "gatehouse/http.h"
#include "gatehouse/keyring.h"
#include "gatehouse/store.h"
#include "gatehouse/util.h"
#include "gatehouse/banned.h"

void handle_health(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)app;
	(void)rc;
	http_reply_json(req, 200, "{\"status\":\"ok\"}");
}

void handle_ready(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)rc;
	int64_t now = gh_now();
	struct keyset *ks = keyring_get(app->keyring);
	bool keys = keyset_signing_key(ks, KEY_USE_ACCESS, now) &&
		    keyset_signing_key(ks, KEY_USE_REFRESH, now);
	keyset_put(ks);
	if (!keys) {
		http_reply_json(req, 503, "{\"status\":\"unavailable\",\"reason\":\"no signing key\"}");
		return;
	}
	if (store_ping(app->store)) {
		http_reply_json(req, 503, "{\"status\":\"unavailable\",\"reason\":\"database\"}");
		return;
	}
	http_reply_json(req, 200, "{\"status\":\"ready\"}");
}
