/*
 * facebook.c - Facebook access tokens (API.md C.1): the Graph user call
 * must name the same user as facebook_user_id, and the app call our app
 * id (peers checked one or neither: security.md H).
 */
#include <stdio.h>
#include <string.h>

#include "gatehouse/metrics.h"
#include "gatehouse/platform.h"
#include "gatehouse/alloc.h"
#include "gatehouse/banned.h"

#define REJECT_USER "Error: User validation error"
#define REJECT_APP "Error: Token not linked to correct app"

static bool facebook_enabled(const struct config *cfg)
{
	return config_facebook_enabled(cfg);
}

/* Facebook ids are digits (app-scoped ids too); allow the URL-safe rest. */
static bool user_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' || s[i] == '-'))
			return false;
	return strcmp(s, "app") != 0 && strcmp(s, "me") != 0;
}

/* GET {graph}/{what}?access_token=; the answer's "id", or NULL with out set. */
static char *graph_id(const struct config *cfg, const char *what, const char *token,
		      const char *reject, struct platform_result *out)
{
	char *t = httpc_escape(token);
	char *url = xasprintf("%s/%s?access_token=%s", cfg->facebook_graph_url, what, t);
	struct httpc_request req = { .method = "GET", .url = url };
	long status = 0;
	json_t *j = platform_call("facebook", cfg, &req, &status, out);
	free(t);
	free(url);
	if (!j)
		return NULL;
	char *id = platform_facebook_interpret(status, j, reject, out);
	json_decref(j);
	return id;
}

char *platform_facebook_interpret(long status, json_t *j, const char *reject, struct platform_result *out)
{
	const char *id = json_string_value(json_object_get(j, "id"));
	if (status != 200 || json_object_get(j, "error") || !id || !*id) {
		platform_reject(out, reject);
		return NULL;
	}
	return xstrdup(id);
}

static void facebook_verify(const struct platform_env *env,
			    const struct platform_credential *cred, struct platform_result *out)
{
	const struct config *cfg = env->cfg;
	if (!user_id_ok(cred->user_id)) {
		platform_reject(out, REJECT_USER);
		return;
	}
	char *user = graph_id(cfg, cred->user_id, cred->token, REJECT_USER, out);
	if (!user)
		return;
	if (strcmp(user, cred->user_id) != 0) {
		platform_reject(out, REJECT_USER);
		free(user);
		return;
	}
	char *app = graph_id(cfg, "app", cred->token, REJECT_APP, out);
	if (app && strcmp(app, cfg->facebook_app_id) != 0)
		platform_reject(out, REJECT_APP);
	else if (app)
		platform_accept(out, user, REJECT_USER);
	free(app);
	free(user);
}

const struct platform platform_facebook = {
	.name = "facebook",
	.id_field = "facebook_id",
	.required = "facebook_access_token, facebook_user_id",
	.metrics_method = LOGIN_FACEBOOK,
	.enabled = facebook_enabled,
	.verify = facebook_verify,
};
