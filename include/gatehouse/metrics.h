/*
 * metrics.h - the daemon's counters, gauges and histograms, rendered in the
 * Prometheus text format (GET /metrics). Process-wide and lock-free: every
 * update is an atomic add, so any thread may record from anywhere.
 *
 * Names follow DESIGN.md: gatehouse_<what>_<unit>, counters end in _total,
 * the route label is the route template, never the raw path.
 */
#ifndef GATEHOUSE_METRICS_H
#define GATEHOUSE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gatehouse/strbuf.h"

/* The route labels, in order; a request's route must be one of these
 * pointers (or anything else, counted as "unmatched"). */
void metrics_init(const char *const *routes, size_t nroutes);

/* One answered HTTP request (from the access-log point). */
void metrics_http_request(const char *route, int status, uint64_t duration_ns);

enum login_method {
	LOGIN_GUEST_NEW = 0, LOGIN_GUEST, LOGIN_REFRESH, LOGIN_STEAM, LOGIN_APPLE,
	LOGIN_GOOGLE_PLAY, LOGIN_FACEBOOK, LOGIN_OIDC, LOGIN_METHOD_COUNT
};
enum login_outcome {
	OUTCOME_SUCCESS = 0,       /* tokens issued */
	OUTCOME_REJECTED,          /* the credential did not verify */
	OUTCOME_BANNED,
	OUTCOME_PROVIDER_ERROR,    /* a platform was unreachable or broken */
	OUTCOME_ERROR,             /* our side failed (store, keys) */
	LOGIN_OUTCOME_COUNT
};
void metrics_login(int method, int outcome);
/* The login outcome (OUTCOME_*) that an answer's HTTP status stands for. */
int metrics_login_outcome(int status);

enum token_kind { TOKEN_ACCESS = 0, TOKEN_REFRESH };
void metrics_token_verification(int kind, bool valid);

enum metrics_counter {
	M_REFRESH_REUSE = 0,       /* a spent refresh token came back: session revoked */
	M_RATE_LIMITED,            /* requests refused with 429 */
	M_STORE_WRITES,            /* write operations committed or failed */
	M_STORE_BUSY,              /* lock waits (gatehouse_store_lock_waits_total): another process held it */
	M_STORE_ERRORS,            /* other store failures */
	M_TOKEN_CACHE_HITS,        /* access tokens found already verified */
	M_COUNTER_COUNT
};
void metrics_inc(int counter);

/* One call to a platform (provider "steam", ...): whether a proper answer came, and how long it took. */
void metrics_provider_request(const char *provider, bool ok, uint64_t duration_ns);

/* One writer transaction: how long BEGIN..COMMIT took, and how many writes it held. */
void metrics_store_commit(uint64_t duration_ns, int writes);

/* Requests to the admin API (/admin/...), by outcome. */
enum admin_outcome {
	ADMIN_OK = 0,              /* answered 2xx */
	ADMIN_UNAUTHORIZED,        /* no valid admin token: 401 */
	ADMIN_CLIENT_ERROR,        /* other 4xx: bad id or parameter, unknown user, ... */
	ADMIN_SERVER_ERROR,        /* 5xx */
	ADMIN_OUTCOME_COUNT
};
void metrics_admin_request(int outcome);

enum metrics_gauge {
	G_USERS = 0,
	G_SESSIONS_ACTIVE,
	G_GAUGE_COUNT
};
void metrics_set(int gauge, int64_t value);

/*
 * Appends the Prometheus text of everything above to sb, plus
 * gatehouse_build_info{version} and the standard process_* families (from
 * /proc/self). Other modules append their own families
 * after it (the keyring's keys).
 */
void metrics_render(struct strbuf *sb, const char *version);

/* Helpers for such families: a HELP and TYPE header, then samples. */
void metrics_family(struct strbuf *sb, const char *name, const char *type, const char *help);

#endif
