/*
 * common.c - what every platform verifier shares: HTTP options from the
 * configuration, one JSON call with the failure rules of API.md C.2, and
 * ID-token verification against a cached remote key set.
 */
#include <stdio.h>
#include <string.h>

#include "gatehouse/jwkscache.h"
#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/platform.h"
#include "gatehouse/token.h"
#include "gatehouse/errors.h"
#include "gatehouse/clock.h"
#include "gatehouse/encoding.h"
#include "gatehouse/banned.h"

struct httpc_options platform_http_options(const struct config *cfg)
{
	struct httpc_options o = {
		.connect_timeout_ms = cfg->provider_connect_timeout * 1000,
		.timeout_ms = cfg->provider_timeout * 1000,
		.max_response = (size_t)cfg->provider_max_response,
	};
	return o;
}

void platform_reject(struct platform_result *out, const char *error)
{
	out->status = PLATFORM_REJECTED;
	out->error = error;
}

void platform_unavailable(struct platform_result *out)
{
	out->status = PLATFORM_UNAVAILABLE;
	out->error = "Error: Platform unavailable";
}

void platform_accept(struct platform_result *out, const char *s, const char *error)
{
	size_t n = s ? strlen(s) : 0;
	if (!n || n >= sizeof out->subject || !gh_utf8_valid(s, n)) {
		platform_reject(out, error);
		return;
	}
	memcpy(out->subject, s, n + 1);
	out->status = PLATFORM_OK;
}

json_t *platform_call(const char *provider, const struct config *cfg,
		      const struct httpc_request *req, long *status, struct platform_result *out)
{
	struct httpc_options opt = platform_http_options(cfg);
	struct httpc_response resp;
	char err[160];
	uint64_t t0 = gh_mono_ns();
	int rc = httpc_do(&opt, req, &resp, err, sizeof err);
	uint64_t elapsed = gh_mono_ns() - t0;
	if (rc) {
		metrics_provider_request(provider, false, elapsed);
		log_warn("%s unavailable: %s", provider, err);
		platform_unavailable(out);
		return NULL;
	}
	*status = resp.status;
	json_t *j = NULL;
	if (resp.status < 500)
		j = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, NULL);
	httpc_response_release(&resp);
	if (!json_is_object(j)) {
		metrics_provider_request(provider, false, elapsed);
		log_warn("%s answered %ld %s", provider, *status,
			 *status >= 500 ? "(server error)" : "without a JSON object");
		json_decref(j);
		platform_unavailable(out);
		return NULL;
	}
	metrics_provider_request(provider, true, elapsed);
	return j;
}

struct jwks_lookup {
	const struct platform_env *env;
	const char *url;
};

static int lookup_key(void *ctx, const char *kid, EVP_PKEY **pkey, int *alg)
{
	const struct jwks_lookup *l = ctx;
	const struct config *cfg = l->env->cfg;
	struct jwks_policy policy = { cfg->jwks_cache_ttl, cfg->jwks_refetch_interval };
	struct httpc_options http = platform_http_options(cfg);
	return jwkscache_key(l->env->jwks, l->url, kid, l->env->now, &policy, &http, pkey, alg);
}

void platform_verify_id_token(const struct platform_env *env, const char *jwks_url,
			      const char *issuer, char *const *audiences, char *const *algs,
			      const char *subject_claim, const char *token, const char *error,
			      struct platform_result *out)
{
	struct foreign_rules rules = {
		.issuer = issuer,
		.audiences = audiences,
		.algs = algs,
		.subject_claim = subject_claim,
		.leeway = env->cfg->clock_leeway,
	};
	struct jwks_lookup ctx = { env, jwks_url };
	const char *why = NULL;
	int rc = token_verify_foreign(token, strlen(token), &rules, lookup_key, &ctx, env->now,
				      out->subject, sizeof out->subject, &why);
	if (rc == GH_EUNAVAIL) {
		platform_unavailable(out);
	} else if (rc) {
		log_debug("identity token rejected: %s", why);
		platform_reject(out, error);
	} else {
		out->status = PLATFORM_OK;
	}
}
