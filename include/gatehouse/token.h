/*
 * token.h - issue and verify the daemon's JWTs (API.md A.3) with OpenSSL EVP
 * on keys parsed once by the keyring. libjwt is not used: 1.10 trusts the
 * header's alg and re-parses PEM keys on every call (notes/libraries.md 2).
 *
 * Access tokens: RS256/ES256 with a published key, aud "gamebackend", scope
 * "guest" or "authenticated", and sid (their session, as in the refresh
 * token; tokens signed before sid existed lack it). Refresh tokens: HS256 with an internal key,
 * aud and scope "refresh", plus access_token_scope, jti and sid (session).
 *
 * Verification pins the algorithm to the key found by kid (never the
 * header's say-so), and requires a known kid, a valid signature, integer
 * exp and nbf (no leeway), iat, the exact issuer, the audience and scope of
 * the expected token type, and a UUID sub. Duplicate JSON members, a crit
 * header, or any malformed part reject the token.
 */
#ifndef GATEHOUSE_TOKEN_H
#define GATEHOUSE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

struct keyset;

/* Longest token the verifier looks at; longer ones are rejected unread. */
#define TOKEN_MAX_LEN 4096
#define JTI_LEN 22 /* 128 random bits, base64url */
/* The *why of a token whose kid the key set does not hold (a reload may help). */
#define TOKEN_WHY_UNKNOWN_KID "unknown kid"

/*
 * SCOPE_OTHER: a genuine access token whose scope claim is missing or
 * neither value. Verification still succeeds; each caller decides (the
 * player routes answer 403, as API Gateway's scope check does).
 */
enum token_scope { SCOPE_OTHER = -1, SCOPE_GUEST = 0, SCOPE_AUTHENTICATED };

struct token_config {
	char *issuer;              /* iss, byte-exact */
	char *issuer_json;         /* the issuer as a JSON string literal */
	int64_t access_ttl;
};

/* Prepares cfg for issuer; release with token_config_release. */
void token_config_init(struct token_config *cfg, const char *issuer, int64_t access_ttl);
void token_config_release(struct token_config *cfg);

const char *token_scope_name(int scope);
/* "guest" -> SCOPE_GUEST, "authenticated" -> SCOPE_AUTHENTICATED, else -1. */
int token_scope_parse(const char *s, size_t len);

struct access_claims {
	char sub[37];
	int scope;                 /* enum token_scope, SCOPE_OTHER possible */
	int64_t sid;               /* the session; 0 when the token has no sid claim */
	int64_t iat, exp;
};

struct refresh_claims {
	char sub[37];
	int access_scope;          /* enum token_scope */
	char jti[JTI_LEN + 1];
	int64_t sid;
	int64_t exp;
};

/*
 * Signs an access token for sub with the current access key of ks, carrying
 * its session id sid (> 0; 0 leaves the claim out, for tests of tokens made
 * before sid existed). *out is malloc'd (caller frees); *out_exp is its
 * expiry. 0, GH_EUNAVAIL (no signing key) or GH_EINTERNAL.
 */
int token_issue_access(const struct token_config *cfg, const struct keyset *ks, const char *sub,
		       int scope, int64_t sid, int64_t now, char **out /* OUT */,
		       int64_t *out_exp /* OUT */);

/* Signs a refresh token (exp is fixed by the session). Same returns. */
int token_issue_refresh(const struct token_config *cfg, const struct keyset *ks,
			const struct refresh_claims *claims, int64_t now, char **out /* OUT */);

/* A fresh random jti into out. 0 or GH_EUNAVAIL. */
int token_new_jti(char out[JTI_LEN + 1]);

/*
 * Verify. An access token's sid, when present, must be a positive integer.
 * 0 with the claims, or GH_EAUTH; *why (may be NULL) gets a short
 * static reason for debug logs and tests ("expired", "bad signature", ...).
 */
int token_verify_access(const struct token_config *cfg, const struct keyset *ks,
			const char *token, size_t len, int64_t now,
			struct access_claims *out /* OUT */, const char **why /* OUT */);
int token_verify_refresh(const struct token_config *cfg, const struct keyset *ks,
			 const char *token, size_t len, int64_t now,
			 struct refresh_claims *out /* OUT */, const char **why /* OUT */);

/* ---- tokens of other issuers: Apple, OIDC providers (API.md C.1, C.4) ---- */

struct foreign_rules {
	const char *issuer;        /* iss, exact */
	char *const *audiences;    /* NULL-terminated: aud (string or array) must name one */
	char *const *algs;         /* NULL-terminated: "RS256", "ES256" */
	const char *subject_claim; /* usually "sub" */
	int64_t leeway;            /* seconds allowed on exp, nbf and iat */
};

/*
 * Finds the issuer's key for kid: 0 with *pkey a new reference and *alg the
 * JWK's alg (-1 when it names none), GH_EAUTH for an unknown kid,
 * GH_EUNAVAIL when the key set cannot be had.
 */
typedef int (*token_key_lookup)(void *ctx, const char *kid, EVP_PKEY **pkey, int *alg);

/*
 * Verifies an ID token of another issuer: header alg among rules->algs and
 * equal to the JWK's, a kid, the key's type fitting the alg, the
 * signature, exp (required), nbf and iat with leeway, the exact issuer, an
 * allowed audience, and a non-empty string subject claim copied into
 * subject. 0, GH_EAUTH (bad token) or GH_EUNAVAIL (keys unavailable).
 */
int token_verify_foreign(const char *tok, size_t len, const struct foreign_rules *rules,
			 token_key_lookup lookup, void *ctx, int64_t now, char *subject,
			 size_t subject_len, const char **why /* OUT, may be NULL */);

#endif
