/*
 * session.c - guests, token pairs, refresh, logout and platform logins on
 * top of token, keyring and store: the rules of a session that are not
 * the store's own (those live in store_session_refresh and friends).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "gatehouse/clock.h"
#include "gatehouse/digest.h"
#include "gatehouse/encoding.h"
#include "gatehouse/errors.h"
#include "gatehouse/keyring.h"
#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/random.h"
#include "gatehouse/session.h"
#include "gatehouse/tokencache.h"
#include "gatehouse/banned.h"

void session_tokens_release(struct session_tokens *t)
{
	free(t->access);
	free(t->refresh);
	t->access = t->refresh = NULL;
}

bool session_can_sign(struct app *app, int64_t now)
{
	struct keyset *ks = keyset_get(app->keyring);
	bool ok = keyset_signing_key(ks, KEY_USE_ACCESS, now) &&
		  keyset_signing_key(ks, KEY_USE_REFRESH, now);
	keyset_put(ks);
	if (!ok)
		log_error("no signing key is active");
	return ok;
}

/* Signs the pair of session sid whose current refresh token is jti. */
static int sign_pair(struct app *app, const char *user_id, int scope, int64_t sid,
		     const char *jti, int64_t session_expires_at, int64_t now,
		     struct session_tokens *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->user_id, sizeof out->user_id, "%s", user_id);
	out->scope = scope;
	out->session_id = sid;
	out->session_expires_at = session_expires_at;
	struct refresh_claims rc = { .access_scope = scope, .sid = sid, .exp = session_expires_at };
	snprintf(rc.sub, sizeof rc.sub, "%s", user_id);
	snprintf(rc.jti, sizeof rc.jti, "%s", jti);
	struct keyset *ks = keyset_get(app->keyring);
	int err = token_issue_access(&app->tokens, ks, user_id, scope, sid, now, &out->access,
				     &out->access_exp);
	if (!err)
		err = token_issue_refresh(&app->tokens, ks, &rc, now, &out->refresh);
	keyset_put(ks);
	if (err) {
		log_error("cannot sign tokens: %s", gh_strerror(err));
		session_tokens_release(out);
		return GH_EUNAVAIL;
	}
	return 0;
}

bool session_signing_slow(struct app *app, int64_t now)
{
	struct keyset *ks = keyset_get(app->keyring);
	const struct signing_key *k = keyset_signing_key(ks, KEY_USE_ACCESS, now);
	bool slow = !k || k->alg == KEY_RS256;
	keyset_put(ks);
	return slow;
}

int session_guest_new(struct app *app, int64_t now, char secret[SESSION_GUEST_SECRET_LEN + 1],
		      struct session_tokens *out)
{
	char user_id[37], a[37], b[37], jti[JTI_LEN + 1];
	if (!session_can_sign(app, now) || gh_uuid4(a) || gh_uuid4(b) || token_new_jti(jti))
		return GH_EUNAVAIL;
	snprintf(secret, SESSION_GUEST_SECRET_LEN + 1, "%s-%s", a, b);
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
		return err == GH_EUNAVAIL ? GH_EUNAVAIL : GH_EINTERNAL;
	}
	return sign_pair(app, user_id, SCOPE_GUEST, sid, jti, s.expires_at, now, out);
}

int session_guest_login(struct app *app, const char *user_id, const char *secret, int64_t now,
			struct session_tokens *out)
{
	unsigned char digest[32];
	gh_sha256(secret, strlen(secret), digest);
	struct store_user u;
	int err = gh_is_uuid(user_id, strlen(user_id)) ? store_user_get(app->store, user_id, &u)
						       : GH_ENOTFOUND;
	if (err == GH_EUNAVAIL || err == GH_EINTERNAL)
		return GH_EUNAVAIL;
	/* Compare even when the user is unknown, so both take the same time. */
	static const unsigned char nothing[32];
	bool found = !err && u.has_guest_secret;
	bool match = CRYPTO_memcmp(found ? u.guest_secret_hash : nothing, digest, 32) == 0;
	if (!found || !match)
		return GH_EAUTH;
	if (u.banned_until > now)
		return GH_EBANNED;
	char jti[JTI_LEN + 1];
	if (!session_can_sign(app, now) || token_new_jti(jti))
		return GH_EUNAVAIL;
	struct store_session_new s = { .user_id = u.user_id, .access_scope = "guest", .jti = jti,
				       .now = now,
				       .expires_at = now + app->cfg->refresh_token_ttl,
				       .seen_at = u.last_seen_at };
	int64_t sid = 0;
	err = store_session_create(app->store, &s, &sid);
	if (err == GH_ENOTFOUND)
		return GH_EAUTH; /* deleted meanwhile */
	if (err)
		return GH_EUNAVAIL;
	return sign_pair(app, u.user_id, SCOPE_GUEST, sid, jti, s.expires_at, now, out);
}

static int verify_refresh(struct app *app, const char *token, int64_t now,
			  struct refresh_claims *out, const char **why)
{
	struct keyset *ks = keyset_get(app->keyring);
	*why = NULL;
	int err = token_verify_refresh(&app->tokens, ks, token, strlen(token), now, out, why);
	if (err && *why && strcmp(*why, TOKEN_WHY_UNKNOWN_KID) == 0 &&
	    keyring_reload_unknown(app->keyring, ks)) {
		/* A key another node made and this one has not loaded yet. */
		keyset_put(ks);
		ks = keyset_get(app->keyring);
		err = token_verify_refresh(&app->tokens, ks, token, strlen(token), now, out, why);
	}
	keyset_put(ks);
	metrics_token_verification(TOKEN_REFRESH, !err);
	return err;
}

/* What a refresh's durable outcome means; the pair is re-signed only if the one signed before the write does not fit. */
static int refresh_outcome(struct session_refresh *j)
{
	switch (j->res.outcome) {
	case REFRESH_ROTATED:
	case REFRESH_GRACE:
		if (j->tokens.access && j->res.expires_at == j->claims.exp)
			return 0;
		session_tokens_release(&j->tokens);
		return sign_pair(j->app, j->claims.sub, j->claims.access_scope, j->claims.sid,
				 j->new_jti, j->res.expires_at, j->now, &j->tokens);
	case REFRESH_REUSED:
		metrics_inc(M_REFRESH_REUSE);
		log_warn("refresh token reuse: session %lld of user '%s' revoked",
			 (long long)j->claims.sid, j->claims.sub);
		return GH_EAUTH;
	case REFRESH_BANNED:
		return GH_EBANNED;
	default:
		return GH_EAUTH;
	}
}

static void refresh_committed(void *arg, int rc)
{
	struct session_refresh *j = arg;
	j->store_rc = rc;
	j->done(j->arg);
}

bool session_refresh(struct app *app, const char *token, int64_t now_ms,
		     struct session_refresh *job, void (*done)(void *arg), void *arg)
{
	memset(job, 0, sizeof *job);
	job->app = app;
	job->now = now_ms / 1000;
	job->done = done;
	job->arg = arg;
	const char *why = NULL;
	if (verify_refresh(app, token, job->now, &job->claims, &why)) {
		log_debug("refresh token rejected: %s", why);
		job->err = GH_EAUTH;
		return false;
	}
	if (!session_can_sign(app, job->now) || token_new_jti(job->new_jti)) {
		job->err = GH_EUNAVAIL;
		return false;
	}
	job->r = (struct store_refresh){ .session_id = job->claims.sid,
					 .user_id = job->claims.sub,
					 .presented_jti = job->claims.jti, .new_jti = job->new_jti,
					 .now = job->now, .now_ms = now_ms,
					 .grace_ms = app->cfg->refresh_reuse_grace * 1000 };
	if (done && store_async_writes(app->store)) {
		/*
		 * The pair the write makes current is signed first, here, so the
		 * writer's callback only answers (a session's end is fixed at its
		 * start: the presented token's exp). A refused write discards it.
		 */
		job->err = sign_pair(app, job->claims.sub, job->claims.access_scope,
				     job->claims.sid, job->new_jti, job->claims.exp, job->now,
				     &job->tokens);
		if (job->err)
			return false;
		if (store_session_refresh_async(app->store, &job->r, &job->res, refresh_committed,
						job))
			return true;
	}
	job->store_rc = store_session_refresh(app->store, &job->r, &job->res);
	return false;
}

int session_refresh_result(struct session_refresh *job)
{
	if (!job->err)
		job->err = job->store_rc ? GH_EUNAVAIL : refresh_outcome(job);
	if (job->err)
		session_tokens_release(&job->tokens);
	return job->err;
}

int session_logout(struct app *app, const char *token, int64_t now,
		   struct refresh_claims *claims, int64_t *out_ended)
{
	const char *why = NULL;
	*out_ended = 0;
	if (verify_refresh(app, token, now, claims, &why)) {
		log_debug("logout with a bad refresh token: %s", why);
		return GH_EAUTH;
	}
	/* Any token of the session, current or spent, ends it. */
	int err = store_session_end(app->store, claims->sid, claims->sub, now, "logout",
				    out_ended);
	if (!err && !*out_ended) {
		/* Nothing ended: already over, or the user was deleted (then unknown). */
		struct store_user u;
		err = store_user_get(app->store, claims->sub, &u);
	}
	return err;
}

int session_verify_access(struct app *app, const char *token, size_t len, int64_t now,
			  struct access_claims *out, const char **why)
{
	const char *w = NULL;
	struct keyset *ks = keyset_get(app->keyring);
	int err = tokencache_verify_access(app->token_cache, &app->tokens, ks, token, len, now,
					    out, &w);
	if (err && w && strcmp(w, TOKEN_WHY_UNKNOWN_KID) == 0 &&
	    keyring_reload_unknown(app->keyring, ks)) {
		/* A key another node made and this one has not loaded yet. */
		keyset_put(ks);
		ks = keyset_get(app->keyring);
		w = NULL;
		err = tokencache_verify_access(app->token_cache, &app->tokens, ks, token, len, now,
					       out, &w);
	}
	keyset_put(ks);
	if (why)
		*why = w;
	metrics_token_verification(TOKEN_ACCESS, !err);
	return err ? GH_EAUTH : 0;
}

int session_authenticate(struct app *app, const char *token, size_t len, int64_t now,
			 struct access_claims *claims, struct store_user *user)
{
	return session_authenticate_doc(app, token, len, now, NULL, claims, user, NULL, NULL);
}

int session_authenticate_token(struct app *app, const char *token, size_t len, int64_t now,
			       struct access_claims *claims)
{
	const char *why = "no token";
	if (!token || session_verify_access(app, token, len, now, claims, &why)) {
		log_debug("access token rejected: %s", why);
		return GH_EAUTH;
	}
	/* Genuine, but not a scope these routes allow. */
	return claims->scope == SCOPE_OTHER ? GH_EFORBIDDEN : 0;
}

int session_authenticate_doc(struct app *app, const char *token, size_t len, int64_t now,
			     const char *doc_key, struct access_claims *claims,
			     struct store_user *user, struct store_document *doc, int *doc_err)
{
	int terr = session_authenticate_token(app, token, len, now, claims);
	if (terr)
		return terr;
	/*
	 * A valid token is not enough: its user must still exist and not be
	 * banned, and its session (sid) must not have ended. Checking the store
	 * on each request (one indexed read, see README) makes a delete, a ban
	 * or a logout by another process count from the next request on. A
	 * token without sid (signed before access tokens carried it) is checked
	 * against its user only, until it expires (access_token_ttl).
	 */
	bool session_live = false;
	int err = doc_key ? store_user_session_doc_get(app->store, claims->sub, claims->sid,
						       doc_key, user, &session_live, doc, doc_err)
			  : store_user_session_get(app->store, claims->sub, claims->sid, user,
						   &session_live);
	if (!err)
		err = store_session_verdict(user->banned_until, claims->sid != 0, session_live,
					    gh_now());
	if (err && doc_key) {
		free(doc->value); /* read with the check, never shown */
		doc->value = NULL;
	}
	if (err == GH_ENOTFOUND)
		return GH_ENOTFOUND;
	if (err == GH_EENDED)
		log_debug("access token rejected: session ended");
	return err == GH_EBANNED || err == GH_EENDED ? err : err ? GH_EUNAVAIL : 0;
}

/* The user of a link token (an access token, scope guest or authenticated), or false. */
static bool link_user(struct app *app, const char *token, char out[37], int64_t now)
{
	struct access_claims c;
	const char *why = NULL;
	int rc = session_verify_access(app, token, strlen(token), now, &c, &why);
	if (rc || c.scope == SCOPE_OTHER) {
		log_debug("link token rejected: %s", why ? why : "scope");
		return false;
	}
	memcpy(out, c.sub, 37);
	return true;
}

int session_platform_login(struct app *app, const struct session_platform_login *in, int64_t now,
			   struct store_platform_result *out, struct session_tokens *tokens)
{
	char link_uid[37], new_uid[37], jti[JTI_LEN + 1];
	bool link_ok = in->link && link_user(app, in->link_token, link_uid, now);
	if (!session_can_sign(app, now) || gh_uuid4(new_uid) || token_new_jti(jti))
		return GH_EUNAVAIL;
	struct store_platform_login s = {
		.provider = in->provider,
		.subject = in->subject,
		.link_requested = in->link,
		.link_user_id = link_ok ? link_uid : NULL,
		.reject_conflict = in->reject_conflict,
		.new_user_id = new_uid,
		.jti = jti,
		.now = now,
		.expires_at = now + in->session_ttl,
	};
	if (store_platform_login(app->store, &s, out))
		return GH_EUNAVAIL;
	if (out->outcome != PLATFORM_LOGIN_OK)
		return 0;
	if (out->created || out->linked)
		log_info("%s %s user '%s'", in->provider, out->created ? "created" : "linked to",
			 out->user_id);
	return sign_pair(app, out->user_id, SCOPE_AUTHENTICATED, out->session_id, jti,
			 s.expires_at, now, tokens);
}

const char *session_admin_authenticate(const struct config *cfg, const char *token, size_t len)
{
	if (!token || !cfg->nadmin_tokens)
		return NULL;
	unsigned char d[32];
	gh_sha256(token, len, d);
	const char *who = NULL;
	for (size_t i = 0; i < cfg->nadmin_tokens; i++) {
		/* No early exit: each token costs the same whether or not one matched. */
		bool same = CRYPTO_memcmp(d, cfg->admin_tokens[i].digest, sizeof d) == 0;
		who = same ? cfg->admin_tokens[i].name : who;
	}
	OPENSSL_cleanse(d, sizeof d);
	return who;
}
