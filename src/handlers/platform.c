/*
 * platform.c - logins with Steam, Apple, Google Play Games, Facebook and
 * generic OIDC issuers, and unlinking (API.md A.2, B, C). The request
 * thread checks the parameters and hands the request to a platform worker
 * (http_defer): the network wait never holds a request thread. The worker
 * verifies the credential, checks a link token, lets the store look up,
 * link or create the user in one transaction, and answers.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "gatehouse/handlers.h"
#include "gatehouse/http.h"
#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/platform.h"
#include "gatehouse/store.h"
#include "gatehouse/reply.h"
#include "gatehouse/session.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/clock.h"
#include "gatehouse/banned.h"


struct platform_job {
	struct app *app;
	const struct platform *platform;
	const struct config *cfg;  /* the snapshot the request started with */
	const struct oidc_provider *oidc;
	char *token, *user_id, *auth_token;
	bool link;
	uint64_t queued_ns;        /* when it was handed to the workers */
};

static void job_free(struct platform_job *j)
{
	free(j->token);
	free(j->user_id);
	free(j->auth_token);
	free(j);
}

static void finish_login(struct platform_job *j, struct http_request *req,
			 const struct platform_result *res, int64_t now)
{
	char provider[80];
	if (j->oidc)
		snprintf(provider, sizeof provider, "oidc:%s", j->oidc->name);
	else
		snprintf(provider, sizeof provider, "%s", j->platform->name);
	struct session_platform_login in = {
		.provider = provider,
		.subject = res->subject,
		.link = j->link,
		.link_token = j->auth_token,
		.reject_conflict = j->cfg->link_conflict == LINK_REJECT,
		.session_ttl = j->cfg->refresh_token_ttl,
	};
	struct store_platform_result out;
	struct session_tokens t;
	if (session_platform_login(j->app, &in, now, &out, &t)) {
		reply_error(req, ERR_UNAVAILABLE);
		return;
	}
	switch (out.outcome) {
	case PLATFORM_LOGIN_CONFLICT:
		reply_error(req, ERR_LINK_CONFLICT);
		return;
	case PLATFORM_LOGIN_LINK_FAILED:
		reply_error(req, ERR_LINK_FAILED);
		return;
	case PLATFORM_LOGIN_BANNED:
		reply_error(req, ERR_BANNED);
		return;
	}
	struct login_fields f = {
		.id_field = j->platform->id_field, .id_value = res->subject,
		.oidc_provider = j->oidc ? j->oidc->name : NULL,
	};
	handlers_reply_login(req, &t, &f, now);
	session_tokens_release(&t);
}

/* On a platform worker: the network part, then the store, then the answer. */
static void run_login(struct http_request *req, void *arg)
{
	struct platform_job *j = arg;
	int64_t now = gh_now();
	struct platform_env env = { j->cfg, j->app->jwks, now };
	struct platform_credential cred = { j->token, j->user_id, j->oidc };
	struct platform_result res;
	memset(&res, 0, sizeof res);
	uint64_t waited = gh_mono_ns() - j->queued_ns;
	if (waited > (uint64_t)j->cfg->provider_timeout * 1000000000ull) {
		/*
		 * Every worker was busy for a whole provider_timeout: platforms are
		 * hanging. Answer at once rather than queue another full timeout
		 * behind them, so that no client waits much past twice the timeout.
		 */
		log_info("%s login waited %.1fs for a platform worker: answered 503",
			 j->platform->name, (double)waited / 1e9);
		res.status = PLATFORM_UNAVAILABLE;
		res.error = reply_row(ERR_PLATFORM_UNAVAILABLE)->compat;
	} else {
		j->platform->verify(&env, &cred, &res);
	}
	/* The provider module's own wording (the reference's strings). */
	if (res.status == PLATFORM_UNAVAILABLE) {
		reply_error_detail(req, ERR_PLATFORM_UNAVAILABLE, res.error, NULL);
	} else if (res.status == PLATFORM_REJECTED) {
		reply_error_detail(req, ERR_PLATFORM_REJECTED, res.error, NULL);
	} else {
		finish_login(j, req, &res, now);
	}
	metrics_login(j->platform->metrics_method,
		      res.status == PLATFORM_UNAVAILABLE ? OUTCOME_PROVIDER_ERROR :
		      metrics_login_outcome(http_reply_status(req)));
	job_free(j);
}

/* A parameter, empty counting as absent. */
static const char *param(struct http_request *req, const char *name)
{
	const char *v = http_param(req, name);
	return (v && *v) ? v : NULL;
}

/*
 * The checks that need no network: the platform is on, the parameters are
 * there (API Gateway's wording for the missing ones), then the worker.
 */
static void login_with(struct app *app, struct http_request *req, const struct platform *p,
		       const char *token_param, const char *user_param)
{
	const struct config *cfg = app->cfg;
	if (!p->enabled(cfg)) {
		reply_error(req, ERR_PLATFORM_DISABLED);
		return;
	}
	const char *token = param(req, token_param);
	const char *user = user_param ? param(req, user_param) : NULL;
	const char *oidc_name = p == &platform_oidc ? param(req, "provider") : NULL;
	struct strbuf missing = STRBUF_INIT;
	if (p == &platform_oidc && !oidc_name)
		sb_adds(&missing, "provider");
	if (!token)
		sb_addf(&missing, "%s%s", missing.len ? ", " : "", token_param);
	if (user_param && !user)
		sb_addf(&missing, "%s%s", missing.len ? ", " : "", user_param);
	if (missing.len) {
		reply_missing(req, missing.buf);
		sb_release(&missing);
		return;
	}
	const struct oidc_provider *oidc = oidc_name ? config_oidc(cfg, oidc_name) : NULL;
	if (p == &platform_oidc && !oidc) {
		reply_error(req, ERR_PLATFORM_DISABLED);
		return;
	}
	const char *link = http_param(req, "link_to_existing_user");
	const char *auth = param(req, "auth_token");
	struct platform_job *j = xcalloc(1, sizeof *j);
	j->app = app;
	j->platform = p;
	j->cfg = cfg;
	j->oidc = oidc;
	j->token = xstrdup(token);
	j->user_id = user ? xstrdup(user) : NULL;
	/* Exactly "Yes" with a token links, as in the reference. */
	j->link = link && !strcmp(link, "Yes") && auth;
	j->auth_token = j->link ? xstrdup(auth) : NULL;
	j->queued_ns = gh_mono_ns();
	if (http_defer(req, app->platform_workers, run_login, j)) {
		job_free(j);
		reply_error(req, ERR_PLATFORM_UNAVAILABLE);
	}
}

void handle_login_with_steam(struct app *app, struct http_request *req,
			     const struct route_ctx *rc)
{
	(void)rc;
	login_with(app, req, &platform_steam, "steam_auth_token", NULL);
}

void handle_login_with_apple(struct app *app, struct http_request *req,
			     const struct route_ctx *rc)
{
	(void)rc;
	login_with(app, req, &platform_apple, "apple_auth_token", NULL);
}

void handle_login_with_google_play(struct app *app, struct http_request *req,
				   const struct route_ctx *rc)
{
	(void)rc;
	login_with(app, req, &platform_google_play, "google_play_auth_token", NULL);
}

void handle_login_with_facebook(struct app *app, struct http_request *req,
				const struct route_ctx *rc)
{
	(void)rc;
	login_with(app, req, &platform_facebook, "facebook_access_token", "facebook_user_id");
}

void handle_login_with_oidc(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)rc;
	login_with(app, req, &platform_oidc, "id_token", NULL);
}

bool handlers_known_platform(const struct config *cfg, const char *s)
{
	if (!strcmp(s, "steam") || !strcmp(s, "apple") || !strcmp(s, "google_play") ||
	    !strcmp(s, "facebook"))
		return true;
	return !strncmp(s, "oidc:", 5) && config_oidc(cfg, s + 5) != NULL;
}

bool handlers_reply_unlink_refused(struct http_request *req, int outcome)
{
	if (outcome == UNLINK_NOT_LINKED)
		reply_error(req, ERR_NOT_LINKED);
	else if (outcome == UNLINK_LAST_METHOD)
		reply_error(req, ERR_LAST_METHOD);
	return outcome != UNLINK_DONE;
}

void handle_unlink_identity(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	const char *platform = param(req, "platform");
	if (!platform) {
		reply_missing(req, "platform");
		return;
	}
	if (!handlers_known_platform(app->cfg, platform)) {
		reply_error(req, ERR_INVALID_PLATFORM);
		return;
	}
	int outcome = 0;
	int err = store_identity_unlink(app->store, rc->claims.sub, platform, &outcome);
	if (err) {
		reply_failure(req, err);
		return;
	}
	if (handlers_reply_unlink_refused(req, outcome))
		return;
	json_t *j = json_pack("{s:s, s:s}", "user_id", rc->claims.sub, "unlinked", platform);
	reply_json(req, 200, j);
}
