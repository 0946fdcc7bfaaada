/*
 * google.c - Google Play Games Services v2 (API.md C.1): the one-time
 * server auth code is exchanged for an access token, then the application
 * verify call names the player (player_id) for our application id.
 */
#include <stdio.h>
#include <string.h>

#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/platform.h"
#include "gatehouse/alloc.h"
#include "gatehouse/banned.h"

#define REJECT_CODE "Error: Failed to generate Google Play bearer token"
#define REJECT_VERIFY "Error: Failed to validate Google Play bearer token"

static bool google_enabled(const struct config *cfg)
{
	return config_google_play_enabled(cfg);
}

/* The access token for an auth code, or NULL with out set. Caller frees. */
static char *exchange_code(const struct config *cfg, const char *code,
			   struct platform_result *out)
{
	char *c = httpc_escape(code), *id = httpc_escape(cfg->google_play_client_id);
	char *secret = httpc_escape(cfg->google_play_client_secret);
	char *body = xasprintf("grant_type=authorization_code&code=%s&client_id=%s"
			       "&client_secret=%s", c, id, secret);
	char *url = xasprintf("%s/o/oauth2/token", cfg->google_oauth_url);
	static const char *const headers[] = {
		"Content-Type: application/x-www-form-urlencoded", "Accept: application/json", NULL
	};
	struct httpc_request req = { .method = "POST", .url = url, .headers = headers,
				     .body = body, .body_len = strlen(body) };
	long status = 0;
	json_t *j = platform_call("google_play", cfg, &req, &status, out);
	free(c);
	free(id);
	free(secret);
	free(body);
	free(url);
	if (!j)
		return NULL;
	char *token = platform_google_interpret_token(status, j, out);
	json_decref(j);
	return token;
}

char *platform_google_interpret_token(long status, json_t *j, struct platform_result *out)
{
	const char *error = json_string_value(json_object_get(j, "error"));
	if (status == 401 || (error && !strcmp(error, "invalid_client"))) {
		/* Google refuses us, not the player: our client id or secret is wrong. */
		log_error("google refused the client: check google_play_client_id and its secret");
		platform_unavailable(out);
		return NULL;
	}
	const char *at = json_string_value(json_object_get(j, "access_token"));
	if (status != 200 || !at || !*at || strlen(at) > 4096 || strpbrk(at, "\r\n")) {
		platform_reject(out, REJECT_CODE);
		return NULL;
	}
	return xstrdup(at);
}

void platform_google_interpret_verify(long status, json_t *j, struct platform_result *out)
{
	if (status != 200)
		platform_reject(out, REJECT_VERIFY);
	else
		platform_accept(out, json_string_value(json_object_get(j, "player_id")),
				REJECT_VERIFY);
}

static void google_verify(const struct platform_env *env, const struct platform_credential *cred,
			  struct platform_result *out)
{
	const struct config *cfg = env->cfg;
	char *token = exchange_code(cfg, cred->token, out);
	if (!token)
		return;
	char *app = httpc_escape(cfg->google_play_app_id);
	char *url = xasprintf("%s/games/v1/applications/%s/verify/", cfg->google_games_url, app);
	char *auth = xasprintf("Authorization: Bearer %s", token);
	const char *headers[] = { auth, "Accept: application/json", NULL };
	struct httpc_request req = { .method = "GET", .url = url, .headers = headers };
	long status = 0;
	json_t *j = platform_call("google_play", cfg, &req, &status, out);
	free(app);
	free(url);
	free(auth);
	free(token);
	if (!j)
		return;
	platform_google_interpret_verify(status, j, out);
	json_decref(j);
}

const struct platform platform_google_play = {
	.name = "google_play",
	.id_field = "google_play_id",
	.required = "google_play_auth_token",
	.metrics_method = LOGIN_GOOGLE_PLAY,
	.enabled = google_enabled,
	.verify = google_verify,
};
