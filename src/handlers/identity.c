/*
 * identity.c - guest login and token refresh (API.md A.2, B, D.1): create or
 * check the guest, start or rotate the stored session, sign the token pair.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "gatehouse/handlers.h"
#include "gatehouse/http.h"
#include "gatehouse/keyring.h"
#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/store.h"
#include "gatehouse/token.h"
#include "gatehouse/util.h"
#include "gatehouse/banned.h"

#define ERR_UNAVAILABLE "Error: Service unavailable"
#define ERR_GUEST "Error: Could not validate user"
#define ERR_REFRESH "Error: Failed to validate refresh token"
#define ERR_BANNED "Error: User is banned"

/* A parameter, with an empty value counted as absent. */
static const char *param(struct http_request *req, const char *name)
{
	const char *v = http_param(req, name);
	return (v && *v) ? v : NULL;
}

static void reply_unavailable(struct http_request *req)
{
	http_add_header(req, "Retry-After", "1");
	http_reply_text(req, 503, ERR_UNAVAILABLE);
}

void reply_tokens(struct app *app, struct http_request *req, const struct token_pair *p,
		  int64_t now)
{
	struct keyset *ks = keyring_get(app->keyring);
	char *access = NULL, *refresh = NULL;
	int64_t access_exp = 0;
	struct refresh_claims rc = { .access_scope = p->scope, .sid = p->session_id,
				     .exp = p->session_expires_at };
	snprintf(rc.sub, sizeof rc.sub, "%s", p->user_id);
	snprintf(rc.jti, sizeof rc.jti, "%s", p->jti);
	int err = token_issue_access(&app->tokens, ks, p->user_id, p->scope, p->session_id, now,
				     &access, &access_exp);
	if (!err)
		err = token_issue_refresh(&app->tokens, ks, &rc, now, &refresh);
	keyset_put(ks);
	if (err) {
		log_error("cannot sign tokens: %s", gh_strerror(err));
		free(access);
		free(refresh);
		reply_unavailable(req);
		return;
	}
	json_t *j = json_object();
	if (p->guest_secret)
		json_object_set_new(j, "guest_secret", json_string(p->guest_secret));
	json_object_set_new(j, "user_id", json_string(p->user_id));
	if (p->id_field)
		json_object_set_new(j, p->id_field, json_string(p->id_value));
	if (p->oidc_provider) {
		json_object_set_new(j, "oidc_provider", json_string(p->oidc_provider));
		json_object_set_new(j, "oidc_id", json_string(p->id_value));
	}
	json_object_set_new(j, "auth_token", json_string(access));
	json_object_set_new(j, "refresh_token", json_string(refresh));
	json_object_set_new(j, "auth_token_expires_in", json_integer(access_exp - now));
	int64_t rexp = p->session_expires_at - now;
	json_object_set_new(j, "refresh_token_expires_in", json_integer(rexp > 0 ? rexp : 1));
	char *body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	http_reply_json(req, 200, body);
	free(body);
	free(access);
	free(refresh);
}

bool can_sign(struct app *app, int64_t now)
{
	struct keyset *ks = keyring_get(app->keyring);
	bool ok = keyset_signing_key(ks, KEY_USE_ACCESS, now) &&
		  keyset_signing_key(ks, KEY_USE_REFRESH, now);
	keyset_put(ks);
	if (!ok)
		log_error("no signing key is active");
	return ok;
}

/* A new guest: random id and 244-bit secret, stored as a SHA-256 digest. */
static void create_guest(struct app *app, struct http_request *req, int64_t now)
{
	char user_id[37], a[37], b[37], secret[74], jti[JTI_LEN + 1];
	if (!can_sign(app, now) || gh_uuid4(a) || gh_uuid4(b) || token_new_jti(jti)) {
		reply_unavailable(req);
		return;
	}
	snprintf(secret, sizeof secret, "%s-%s", a, b);
	unsigned char digest[32];
	gh_sha256(secret, strlen(secret), digest);
	struct store_session_new s = { .access_scope = "guest", .jti = jti, .now = now,
				       .expires_at = now + app->cfg->refresh_token_ttl };
	int64_t sid = 0;
	int err = GH_ECONFLICT;
	/* A UUID collision is astronomically unlikely; retry a little anyway. */
	for (int tries = 0; err == GH_ECONFLICT && tries < 3; tries++) {
		if (gh_uuid4(user_id)) {
			err = GH_EUNAVAIL;
			break;
		}
		s.user_id = user_id;
		err = store_guest_create(app->store, user_id, digest, &s, &sid);
	}
	if (err) {
		log_error("cannot create a guest: %s", gh_strerror(err));
		if (err == GH_EUNAVAIL)
			reply_unavailable(req);
		else
			http_reply_text(req, 500, "Error: Could not create user");
		return;
	}
	struct token_pair p = { .user_id = user_id, .guest_secret = secret, .scope = SCOPE_GUEST,
				.session_id = sid, .jti = jti, .session_expires_at = s.expires_at };
	reply_tokens(app, req, &p, now);
	OPENSSL_cleanse(secret, sizeof secret);
}

/* The login outcome an answer stands for, for gatehouse_logins_total. */
static void count_login(struct http_request *req, int method)
{
	int s = req->status;
	metrics_login(method, s < 300 ? OUTCOME_SUCCESS : s == 403 ? OUTCOME_BANNED :
		      s >= 500 ? OUTCOME_ERROR : OUTCOME_REJECTED);
}

static void guest_login(struct app *app, struct http_request *req, const char *user_id,
			const char *secret, int64_t now)
{
	unsigned char digest[32];
	gh_sha256(secret, strlen(secret), digest);
	struct store_user u;
	int err = gh_is_uuid(user_id, strlen(user_id)) ? store_user_get(app->store, user_id, &u)
						       : GH_ENOTFOUND;
	if (err == GH_EUNAVAIL || err == GH_EINTERNAL) {
		reply_unavailable(req);
		return;
	}
	/* Compare even when the user is unknown, so both take the same time. */
	static const unsigned char nothing[32];
	bool found = !err && u.has_guest_secret;
	bool match = CRYPTO_memcmp(found ? u.guest_secret_hash : nothing, digest, 32) == 0;
	if (!found || !match) {
		http_reply_text(req, 401, ERR_GUEST);
		return;
	}
	if (u.banned_until > now) {
		http_reply_text(req, 403, ERR_BANNED);
		return;
	}
	char jti[JTI_LEN + 1];
	if (!can_sign(app, now) || token_new_jti(jti)) {
		reply_unavailable(req);
		return;
	}
	struct store_session_new s = { .user_id = u.user_id, .access_scope = "guest", .jti = jti,
				       .now = now,
				       .expires_at = now + app->cfg->refresh_token_ttl };
	int64_t sid = 0;
	err = store_session_create(app->store, &s, &sid);
	if (err == GH_ENOTFOUND) {
		http_reply_text(req, 401, ERR_GUEST); /* deleted meanwhile */
		return;
	}
	if (err) {
		reply_unavailable(req);
		return;
	}
	struct token_pair p = { .user_id = u.user_id, .guest_secret = secret, .scope = SCOPE_GUEST,
				.session_id = sid, .jti = jti, .session_expires_at = s.expires_at };
	reply_tokens(app, req, &p, now);
}

void handle_login_as_guest(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)rc;
	int64_t now = gh_now();
	const char *user_id = param(req, "user_id");
	const char *secret = param(req, "guest_secret");
	if (!user_id) {
		create_guest(app, req, now);
		count_login(req, LOGIN_GUEST_NEW);
		return;
	}
	if (!secret) {
		http_reply_text(req, 400, "Error: No guest_secret in query string");
		return;
	}
	guest_login(app, req, user_id, secret, now);
	count_login(req, LOGIN_GUEST);
}

static void refresh(struct app *app, struct http_request *req, const char *tok)
{
	int64_t now_ms = gh_now_ms(), now = now_ms / 1000;
	struct refresh_claims claims;
	const char *why = NULL;
	struct keyset *ks = keyring_get(app->keyring);
	int err = token_verify_refresh(&app->tokens, ks, tok, strlen(tok), now, &claims, &why);
	keyset_put(ks);
	metrics_token_verification(TOKEN_REFRESH, !err);
	if (err) {
		log_debug("refresh token rejected: %s", why);
		http_reply_text(req, 401, ERR_REFRESH);
		return;
	}
	char new_jti[JTI_LEN + 1];
	if (!can_sign(app, now) || token_new_jti(new_jti)) {
		reply_unavailable(req);
		return;
	}
	struct store_refresh r = { .session_id = claims.sid, .user_id = claims.sub,
				   .presented_jti = claims.jti, .new_jti = new_jti, .now = now,
				   .now_ms = now_ms,
				   .grace_ms = app->cfg->refresh_reuse_grace * 1000 };
	struct store_refresh_result res;
	err = store_session_refresh(app->store, &r, &res);
	if (err) {
		reply_unavailable(req);
		return;
	}
	switch (res.outcome) {
	case REFRESH_ROTATED:
	case REFRESH_GRACE: {
		struct token_pair p = { .user_id = claims.sub, .scope = claims.access_scope,
					.session_id = claims.sid, .jti = new_jti,
					.session_expires_at = res.expires_at };
		reply_tokens(app, req, &p, now);
		return;
	}
	case REFRESH_REUSED:
		metrics_inc(M_REFRESH_REUSE);
		log_warn("refresh token reuse: session %lld of user '%s' revoked",
			 (long long)claims.sid, claims.sub);
		break;
	case REFRESH_BANNED:
		http_reply_text(req, 403, ERR_BANNED);
		return;
	default:
		break;
	}
	http_reply_text(req, 401, ERR_REFRESH);
}

void handle_refresh(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)rc;
	const char *tok = param(req, "refresh_token");
	if (!tok) {
		reply_missing(req, STYLE_COMPAT, "refresh_token");
		return;
	}
	refresh(app, req, tok);
	count_login(req, LOGIN_REFRESH);
}
