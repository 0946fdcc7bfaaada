/*
 * oidc.c - any OpenID Connect issuer defined in the configuration (API.md
 * C.4): its JWKS, issuer, audiences, algorithms and subject claim. Google
 * Sign-In, Epic Online Services and Twitch are configurations of this.
 */
#include "gatehouse/metrics.h"
#include "gatehouse/platform.h"
#include "gatehouse/banned.h"

static bool oidc_enabled(const struct config *cfg)
{
	return cfg->noidc > 0;
}

static void oidc_verify(const struct platform_env *env, const struct platform_credential *cred,
			struct platform_result *out)
{
	const struct oidc_provider *p = cred->oidc;
	platform_verify_id_token(env, p->jwks_url, p->issuer, p->audiences, p->algs,
				 p->subject_claim, cred->token, "Error: Token validation error", out);
}

const struct platform platform_oidc = {
	.name = "oidc",
	.id_field = NULL,
	.required = "provider, id_token",
	.metrics_method = LOGIN_OIDC,
	.enabled = oidc_enabled,
	.verify = oidc_verify,
};
