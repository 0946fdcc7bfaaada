/*
 * steam.c - Steam web-API tickets (API.md C.1): ISteamUserAuth/
 * AuthenticateUserTicket with the publisher key; the player is steamid.
 */
#include <stdio.h>
#include <string.h>

#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/platform.h"
#include "gatehouse/alloc.h"
#include "gatehouse/banned.h"

#define REJECT "Error: Failed to validate Steam token"
/* Real tickets are a few hundred hex digits; anything past this is not one. */
#define TICKET_MAX 4096

static bool steam_enabled(const struct config *cfg)
{
	return config_steam_enabled(cfg);
}

static void steam_verify(const struct platform_env *env, const struct platform_credential *cred,
			 struct platform_result *out)
{
	const struct config *cfg = env->cfg;
	if (strlen(cred->token) > TICKET_MAX) {
		platform_reject(out, REJECT);
		return;
	}
	char *key = httpc_escape(cfg->steam_web_api_key), *app = httpc_escape(cfg->steam_app_id);
	char *ticket = httpc_escape(cred->token), *identity = httpc_escape(cfg->steam_identity);
	char *url = xasprintf("%s/ISteamUserAuth/AuthenticateUserTicket/v1/?key=%s&appid=%s"
			      "&ticket=%s%s%s", cfg->steam_api_url, key, app, ticket,
			      *cfg->steam_identity ? "&identity=" : "", identity);
	struct httpc_request req = { .method = "GET", .url = url };
	long status = 0;
	json_t *j = platform_call("steam", cfg, &req, &status, out);
	free(key);
	free(app);
	free(ticket);
	free(identity);
	free(url);
	if (!j)
		return;
	platform_steam_interpret(cfg, status, j, out);
	json_decref(j);
}

void platform_steam_interpret(const struct config *cfg, long status, json_t *j,
		     struct platform_result *out)
{
	if (status != 200) {
		/* 401/403 from Steam is about our key or app id, not the player. */
		log_error("steam answered %ld: check steam_app_id and the Web API key", status);
		platform_unavailable(out);
		return;
	}
	json_t *response = json_object_get(j, "response");
	json_t *params = json_object_get(response, "params");
	if (!json_is_object(response)) {
		platform_unavailable(out); /* not Steam's envelope at all */
		return;
	}
	const char *result = json_string_value(json_object_get(params, "result"));
	if (json_object_get(response, "error") || !result || strcmp(result, "OK") != 0) {
		platform_reject(out, REJECT);
		return;
	}
	if (json_is_true(json_object_get(params, "publisherbanned")) ||
	    (cfg->steam_reject_vac_banned && json_is_true(json_object_get(params, "vacbanned")))) {
		platform_reject(out, REJECT);
		return;
	}
	/* steamid, not ownersteamid: right for family sharing (the reference's choice). */
	platform_accept(out, json_string_value(json_object_get(params, "steamid")), REJECT);
}

const struct platform platform_steam = {
	.name = "steam",
	.id_field = "steam_id",
	.required = "steam_auth_token",
	.metrics_method = LOGIN_STEAM,
	.enabled = steam_enabled,
	.verify = steam_verify,
};
