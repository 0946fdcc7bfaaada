/*
 * apple.c - Sign in with Apple identity tokens (API.md C.1): RS256 against
 * Apple's JWKS, issuer https://appleid.apple.com, an audience among the
 * configured bundle and Services ids, exp; the player is sub.
 */
#include "gatehouse/metrics.h"
#include "gatehouse/platform.h"
#include "gatehouse/parse.h"
#include "gatehouse/banned.h"

static bool apple_enabled(const struct config *cfg)
{
	return config_apple_enabled(cfg);
}

static void apple_verify(const struct platform_env *env, const struct platform_credential *cred,
			 struct platform_result *out)
{
	static char rs256[] = "RS256";
	char *const algs[] = { rs256, NULL };
	char **audiences = gh_list_split(env->cfg->apple_app_ids, NULL);
	platform_verify_id_token(env, env->cfg->apple_keys_url, "https://appleid.apple.com",
				 audiences, algs, "sub", cred->token,
				 "Error: Token validation error", out);
	gh_list_free(audiences);
}

const struct platform platform_apple = {
	.name = "apple",
	.id_field = "apple_id",
	.required = "apple_auth_token",
	.metrics_method = LOGIN_APPLE,
	.enabled = apple_enabled,
	.verify = apple_verify,
};
