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
#include "gatehouse/keyring.h"
#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/platform.h"
#include "gatehouse/store.h"
#include "gatehouse/token.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/clock.h"
#include "gatehouse/random.h"
#include "gatehouse/banned.h"

#define ERR_NOT_ENABLED "Error: Platform not enabled"
#define ERR_LINK "Error: Failed to authenticate with existing identity"

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

/* The user of a link token (an access token, scope guest or authenticated), or false. */
static bool link_user(struct app *app, const char *token, char out[37], int64_t now)
{
	struct keyset *ks = keyring_get(app->keyring);
	struct access_claims c;
	const char *why = NULL;
	int rc = token_verify_access(&app->tokens, ks, token, strlen(token), now, &c, &why);
	keyset_put(ks);
	metrics_token_verification(TOKEN_ACCESS, !rc);
	if (rc || c.scope == SCOPE_OTHER) {
		log_debug("link token rejected: %s", why ? why : "scope");
		return false;
	}
	memcpy(out, c.sub, 37);
	return true;
}

static void finish_login(struct platform_job *j, struct http_request *req,
			 const struct platform_result *res, int64_t now)
{
	struct app *app = j->app;
	char link_uid[37], new_uid[37], jti[JTI_LEN + 1];
	bool link_ok = j->link && link_user(app, j->auth_token, link_uid, now);
	if (!can_sign(app, now) || gh_uuid4(new_uid) || token_new_jti(jti)) {
		http_add_header(req, "Retry-After", "1");
		http_reply_text(req, 503, "Error: Service unavailable");
		return;
	}
	char provider[80];
	if (j->oidc)
		snprintf(provider, sizeof provider, "oidc:%s", j->oidc->name);
	else
		snprintf(provider, sizeof provider, "%s", j->platform->name);
	struct store_platform_login in = {
		.provider = provider,
		.subject = res->subject,
		.link_requested = j->link,
		.link_user_id = link_ok ? link_uid : NULL,
		.reject_conflict = j->cfg->link_conflict == LINK_REJECT,
		.new_user_id = new_uid,
		.jti = jti,
		.now = now,
		.expires_at = now + j->cfg->refresh_token_ttl,
	};
	struct store_platform_result out;
	int err = store_platform_login(app->store, &in, &out);
	if (err) {
		http_add_header(req, "Retry-After", "1");
		http_reply_text(req, 503, "Error: Service unavailable");
		return;
	}
	switch (out.outcome) {
	case PLATFORM_LOGIN_CONFLICT:
		http_reply_text(req, 409, "Error: Identity already linked to another user");
		return;
	case PLATFORM_LOGIN_LINK_FAILED:
		http_reply_text(req, 401, ERR_LINK);
		return;
	case PLATFORM_LOGIN_BANNED:
		http_reply_text(req, 403, "Error: User is banned");
		return;
	}
	if (out.created || out.linked)
		log_info("%s %s user '%s'", provider, out.created ? "created" : "linked to",
			 out.user_id);
	struct token_pair p = {
		.user_id = out.user_id, .scope = SCOPE_AUTHENTICATED, .session_id = out.session_id,
		.jti = jti, .session_expires_at = in.expires_at,
		.id_field = j->platform->id_field, .id_value = res->subject,
		.oidc_provider = j->oidc ? j->oidc->name : NULL,
	};
	reply_tokens(app, req, &p, now);
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
		res.error = "Error: Platform unavailable";
	} else {
		j->platform->verify(&env, &cred, &res);
	}
	if (res.status == PLATFORM_UNAVAILABLE) {
		http_add_header(req, "Retry-After", "1");
		http_reply_text(req, 503, res.error);
	} else if (res.status == PLATFORM_REJECTED) {
		http_reply_text(req, 401, res.error);
	} else {
		finish_login(j, req, &res, now);
	}
	int s = req->pending.status;
	metrics_login(j->platform->metrics_method,
		      res.status == PLATFORM_UNAVAILABLE ? OUTCOME_PROVIDER_ERROR :
		      s < 300 ? OUTCOME_SUCCESS : s == 403 ? OUTCOME_BANNED :
		      s >= 500 ? OUTCOME_ERROR : OUTCOME_REJECTED);
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
		http_reply_text(req, 404, ERR_NOT_ENABLED);
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
		reply_missing(req, STYLE_COMPAT, missing.buf);
		sb_release(&missing);
		return;
	}
	const struct oidc_provider *oidc = oidc_name ? config_oidc(cfg, oidc_name) : NULL;
	if (p == &platform_oidc && !oidc) {
		http_reply_text(req, 404, ERR_NOT_ENABLED);
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
		http_add_header(req, "Retry-After", "1");
		http_reply_text(req, 503, "Error: Platform unavailable");
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

/* "steam", "apple", "google_play", "facebook" or "oidc:<name>" of a configured provider. */
static bool known_platform(const struct config *cfg, const char *s)
{
	if (!strcmp(s, "steam") || !strcmp(s, "apple") || !strcmp(s, "google_play") ||
	    !strcmp(s, "facebook"))
		return true;
	return !strncmp(s, "oidc:", 5) && config_oidc(cfg, s + 5) != NULL;
}

void handle_unlink_identity(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	const char *platform = param(req, "platform");
	if (!platform) {
		reply_missing(req, STYLE_JSON, "platform");
		return;
	}
	if (!known_platform(app->cfg, platform)) {
		reply_error(req, STYLE_JSON, 400, "invalid_platform",
			    "platform is steam, apple, google_play, facebook or oidc:<name>");
		return;
	}
	int outcome = 0;
	int err = store_identity_unlink(app->store, rc->claims.sub, platform, &outcome);
	if (err == GH_ENOTFOUND) {
		reply_error(req, STYLE_JSON, 401, "unauthorized", "No such user");
		return;
	}
	if (err) {
		http_add_header(req, "Retry-After", "1");
		reply_error(req, STYLE_JSON, 503, "unavailable", "Try again shortly");
		return;
	}
	if (outcome == UNLINK_NOT_LINKED) {
		reply_error(req, STYLE_JSON, 404, "not_linked", "Nothing of that platform is linked");
		return;
	}
	if (outcome == UNLINK_LAST_METHOD) {
		reply_error(req, STYLE_JSON, 409, "last_login_method",
			    "It is the last way to log in to this account");
		return;
	}
	json_t *j = json_pack("{s:s, s:s}", "user_id", rc->claims.sub, "unlinked", platform);
	char *body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	http_reply_json(req, 200, body);
	free(body);
}
