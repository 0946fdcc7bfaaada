/*
 * platform.h - platform credential verifiers behind one interface (API.md
 * C): Steam, Apple, Google Play Games, Facebook, and generic OIDC issuers.
 * A verifier turns a credential into the platform's id for the player, or
 * a rejection with the reference's error text, or "unavailable" when the
 * platform could not answer properly. Verifiers block on the network:
 * call them from the platform workers only.
 */
#ifndef GATEHOUSE_PLATFORM_H
#define GATEHOUSE_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "gatehouse/config.h"
#include "gatehouse/httpc.h"

struct jwkscache;

struct platform_env {
	const struct config *cfg;
	struct jwkscache *jwks;
	int64_t now;
};

struct platform_credential {
	const char *token;         /* the ticket, identity token, auth code or access token */
	const char *user_id;       /* facebook_user_id */
	const struct oidc_provider *oidc; /* the OIDC provider asked for */
};

enum platform_status {
	PLATFORM_OK = 0,
	PLATFORM_REJECTED,         /* the platform said no: 401 with out->error */
	PLATFORM_UNAVAILABLE,      /* unreachable, timed out, 5xx, malformed: 503 */
};

struct platform_result {
	int status;                /* enum platform_status */
	const char *error;         /* the compat error text of a rejection (static) */
	char subject[256];         /* the platform's id for the player */
};

struct platform {
	const char *name;          /* "steam": the provider in identities and metrics */
	const char *id_field;      /* "steam_id": the answer's field (NULL for OIDC) */
	const char *required;      /* the required parameters, as reply_missing lists them */
	int metrics_method;        /* enum login_method */
	bool (*enabled)(const struct config *cfg);
	void (*verify)(const struct platform_env *env, const struct platform_credential *cred,
		       struct platform_result *out);
};

extern const struct platform platform_steam;
extern const struct platform platform_apple;
extern const struct platform platform_google_play;
extern const struct platform platform_facebook;
extern const struct platform platform_oidc;

/*
 * The reading of each platform's answers, apart from the network (so that
 * tests and fuzzers can feed them anything): status and parsed JSON in,
 * the verdict out. The google and facebook ones return the value found (an
 * access token, an id; caller frees), or NULL with out set.
 */
void platform_steam_interpret(const struct config *cfg, long status, json_t *answer,
		     struct platform_result *out);
char *platform_google_interpret_token(long status, json_t *answer, struct platform_result *out);
void platform_google_interpret_verify(long status, json_t *answer, struct platform_result *out);
char *platform_facebook_interpret(long status, json_t *answer, const char *reject,
			 struct platform_result *out);

/* ---- helpers for the verifiers (platform/common.c) ---- */

struct httpc_options platform_http_options(const struct config *cfg);

/*
 * Performs one call to a platform and parses its JSON answer. Returns the
 * JSON (caller decrefs) with *status set, or NULL with out marked
 * unavailable (unreachable, timed out, oversized, 5xx, not JSON). Counts
 * the call in the metrics under provider.
 */
json_t *platform_call(const char *provider, const struct config *cfg,
		      const struct httpc_request *req, long *status, struct platform_result *out);

void platform_reject(struct platform_result *out, const char *error);
void platform_unavailable(struct platform_result *out);
/* Sets out to OK with subject s (a rejection with error when s is unusable). */
void platform_accept(struct platform_result *out, const char *s, const char *error);

/*
 * Verifies an ID token against the JWKS at jwks_url (Apple, OIDC): the
 * rules of token_verify_foreign; rejects with error, or unavailable when
 * the keys cannot be had.
 */
void platform_verify_id_token(const struct platform_env *env, const char *jwks_url,
			      const char *issuer, char *const *audiences, char *const *algs,
			      const char *subject_claim, const char *token, const char *error,
			      struct platform_result *out);

#endif
