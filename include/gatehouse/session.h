/*
 * session.h - the session layer between the route handlers and the token,
 * keyring and store services: guests (create, check the secret), token
 * pairs, refresh with rotation, logout, platform logins, and the checks of
 * access and refresh tokens. Each call holds its key set reference and
 * counts its metrics here, once; handlers parse, make one call and render.
 *
 * Returns: 0, or GH_EAUTH (a credential did not verify), GH_EFORBIDDEN (a
 * genuine access token of a scope the routes do not allow), GH_EBANNED,
 * GH_ENOTFOUND (the token's user no longer exists), GH_EENDED (its session
 * has ended), GH_EUNAVAIL (no key
 * can sign, the store or the random generator failed: retry later) or
 * GH_EINTERNAL.
 */
#ifndef GATEHOUSE_SESSION_H
#define GATEHOUSE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gatehouse/app.h"
#include "gatehouse/store.h"
#include "gatehouse/token.h"

/* A guest secret: two UUIDs joined by '-', NUL-terminated. */
#define SESSION_GUEST_SECRET_LEN 73

/* A session's signed token pair. Release with session_tokens_release. */
struct session_tokens {
	char user_id[37];
	int scope;                 /* enum token_scope of the access token */
	int64_t session_id;
	char *access, *refresh;    /* the signed tokens */
	int64_t access_exp;        /* the access token's exp */
	int64_t session_expires_at; /* the refresh token's (and session's) end */
};
void session_tokens_release(struct session_tokens *t);

/* True when the keyring can sign both token types at now (logs when not). */
bool session_can_sign(struct app *app, int64_t now);
/* True when the current access key is RSA: a signature takes hundreds of microseconds. */
bool session_signing_slow(struct app *app, int64_t now);

/*
 * A new guest: a random user id and 244-bit secret (stored as its SHA-256
 * digest), its first session and tokens. secret gets the secret the client
 * must keep (the caller cleanses it). 0, GH_EUNAVAIL or GH_EINTERNAL.
 */
int session_guest_new(struct app *app, int64_t now, char secret[SESSION_GUEST_SECRET_LEN + 1],
		      struct session_tokens *out /* OUT */);
/*
 * A guest's login with its secret (compared in constant time, unknown users
 * included): a new session and tokens. GH_EAUTH for an unknown user or a
 * wrong secret, GH_EBANNED, GH_EUNAVAIL.
 */
int session_guest_login(struct app *app, const char *user_id, const char *secret, int64_t now,
			struct session_tokens *out /* OUT */);

/* One refresh in flight (session_refresh); its caller keeps it until the result is read. */
struct session_refresh {
	struct app *app;
	int64_t now;
	struct refresh_claims claims;
	char new_jti[JTI_LEN + 1];
	struct store_refresh r;
	struct store_refresh_result res;
	int store_rc;
	void (*done)(void *arg);
	void *arg;
	int err;
	struct session_tokens tokens; /* the pair, once session_refresh_result says 0 */
};

/*
 * Spends a refresh token (rotation, the grace window for the previous token,
 * reuse detection that revokes the session: store_session_refresh) and
 * signs the next pair. With done, when the store commits on a writer thread
 * (store_async_writes), the pair is signed first and the write queued:
 * returns true, and done(arg) runs on the writer thread once the outcome
 * is durable (it must be short). Otherwise (done NULL, PostgreSQL, a token
 * refused at once) it finishes here and returns false. Either way the
 * caller then reads session_refresh_result.
 */
bool session_refresh(struct app *app, const char *token, int64_t now_ms,
		     struct session_refresh *job, void (*done)(void *arg), void *arg);
/*
 * A finished refresh's result: 0 with job->tokens (the caller releases
 * them), GH_EAUTH (bad token, ended session, reuse: logged and counted
 * here), GH_EBANNED or GH_EUNAVAIL. Call once.
 */
int session_refresh_result(struct session_refresh *job);

/*
 * Ends the session of a refresh token (current or spent). *out_ended is 1,
 * or 0 when it had already ended; out_claims gets the token's claims.
 * GH_EAUTH (bad token), GH_ENOTFOUND (the user was deleted), GH_EUNAVAIL.
 */
int session_logout(struct app *app, const char *token, int64_t now,
		   struct refresh_claims *out_claims /* OUT */, int64_t *out_ended /* OUT */);

/*
 * Checks an access token (through the verified-token cache): 0 with the
 * claims (scope may be SCOPE_OTHER), or GH_EAUTH; *why a short reason.
 */
int session_verify_access(struct app *app, const char *token, size_t len, int64_t now,
			  struct access_claims *out /* OUT */, const char **why /* OUT */);
/*
 * What an authenticated route asks: the access token verifies, has scope
 * guest or authenticated (else GH_EFORBIDDEN), its user still exists
 * (GH_ENOTFOUND) and is not banned (GH_EBANNED), and its session (sid) has
 * not ended (GH_EENDED); one indexed read, so a ban, delete or logout by
 * any process counts from the next request on.
 */
int session_authenticate(struct app *app, const char *token, size_t len, int64_t now,
			 struct access_claims *out_claims /* OUT */,
			 struct store_user *out_user /* OUT */);
/*
 * The first half of session_authenticate alone: the token verifies (else
 * GH_EAUTH) and has scope guest or authenticated (else GH_EFORBIDDEN). For
 * a write that makes the second half in its own transaction
 * (store_session_check).
 */
int session_authenticate_token(struct app *app, const char *token, size_t len, int64_t now,
			       struct access_claims *out_claims /* OUT */);
/*
 * session_authenticate, and the token user's document doc_key read with the
 * user check (one round trip on PostgreSQL): when it returns 0, *doc_err
 * is store_doc_get's result and doc->value the caller's to free.
 */
struct store_document;
int session_authenticate_doc(struct app *app, const char *token, size_t len, int64_t now,
			     const char *doc_key, struct access_claims *out_claims /* OUT */,
			     struct store_user *out_user /* OUT */,
			     struct store_document *doc /* OUT */, int *doc_err /* OUT */);

/*
 * Who is asking on the admin listener: the name of the admin token (from
 * admin_token_file) that token (len bytes) is, or NULL. Every token of the
 * configuration is compared, by SHA-256 digest and in constant time, with
 * no early exit on a match. The name lives as long as the configuration
 * snapshot cfg.
 */
const char *session_admin_authenticate(const struct config *cfg, const char *token, size_t len);

struct session_platform_login {
	const char *provider;      /* "steam", ..., "oidc:<name>" */
	const char *subject;       /* the platform's id for the player, verified */
	bool link;                 /* link_to_existing_user=Yes with an auth_token */
	const char *link_token;    /* that access token (checked here) */
	bool reject_conflict;      /* link_conflict=reject */
	int64_t session_ttl;
};

/*
 * The store part of a platform login (store_platform_login: find, link or
 * create the user in one transaction) and the new session's tokens. 0 with
 * out->outcome (enum store_platform_outcome; tokens only on
 * PLATFORM_LOGIN_OK), or GH_EUNAVAIL.
 */
int session_platform_login(struct app *app, const struct session_platform_login *in, int64_t now,
			   struct store_platform_result *out /* OUT */,
			   struct session_tokens *tokens /* OUT */);

#endif
