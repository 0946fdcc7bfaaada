/*
 * app.h - the application context the route handlers and the session layer
 * share: the configuration snapshot and the services started by the daemon.
 */
#ifndef GATEHOUSE_APP_H
#define GATEHOUSE_APP_H

#include "gatehouse/config.h"
#include "gatehouse/store.h"
#include "gatehouse/token.h"

struct keyring;
struct ratelimit;
struct token_cache;
struct workpool;
struct jwkscache;

/*
 * cfg is an immutable snapshot: a reload (SIGHUP) swaps in a new one, and
 * old ones live until exit, so a request may read it without a lock.
 */
struct app {
	const struct config *_Atomic cfg;
	struct store *store;
	struct keyring *keyring;
	struct ratelimit *_Atomic limiter; /* NULL when rate_limit_login is 0 */
	struct token_config tokens;
	struct token_cache *token_cache;   /* verified access tokens (NULL: none) */
	struct workpool *platform_workers; /* where platform logins wait on the network */
	struct workpool *write_workers;    /* where writing requests wait for their commit */
	struct jwkscache *jwks;            /* Apple's and OIDC providers' key sets */
};

/* The per-user player-data quotas of a configuration. */
static inline struct store_doc_limits app_doc_limits(const struct config *cfg)
{
	struct store_doc_limits l = { cfg->player_data_max_keys, cfg->player_data_max_bytes };
	return l;
}

#endif
