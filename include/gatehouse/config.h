/*
 * config.h - the daemon's settings: one typed table (name, type, default,
 * bounds, help) drives parsing, validation, the sample config file and
 * `check-config` output, so they cannot drift apart.
 *
 * Precedence, highest first: --set name=value, GATEHOUSE_<NAME> in the
 * environment, the config file, the built-in default. Bad input is reported
 * with its origin (file:line, the environment variable, or --set) and stops
 * start-up.
 */
#ifndef GATEHOUSE_CONFIG_H
#define GATEHOUSE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "gatehouse/strbuf.h"

enum signing_alg { ALG_RS256 = 0, ALG_ES256 };
enum sync_mode { SYNC_FULL = 0, SYNC_NORMAL };
enum link_conflict { LINK_LOGIN_EXISTING = 0, LINK_REJECT };

/* A generic OIDC provider (API.md C.4), from the oidc_<name>_* settings. */
struct oidc_provider {
	char *name;                /* [a-z0-9_]+ */
	char *issuer;              /* iss, exact */
	char *jwks_url;
	char **audiences;          /* NULL-terminated; aud must contain one */
	char *subject_claim;       /* default "sub" */
	char **algs;               /* NULL-terminated: RS256 and/or ES256 */
};

/* An oidc_<name>_<field> value as given, with where it came from. */
struct oidc_setting {
	char *key, *value, *origin;
};

/* One admin API token: who it is, and the SHA-256 digest of the token itself. */
#define ADMIN_TOKEN_NAME_MAX 64
struct admin_token {
	char name[ADMIN_TOKEN_NAME_MAX + 1];
	unsigned char digest[32];
};

struct config {
	/* network */
	char *listen_address;
	int64_t listen_port;
	char *base_path;          /* "" or "/x[/y]", no trailing slash */
	char *issuer_url;         /* never empty after config_load */
	char *cors_allow_origin;
	int64_t max_url_size;
	int64_t max_header_size;
	int64_t max_body_size;
	int64_t max_connections;
	int64_t max_connections_per_ip;
	int64_t idle_timeout;
	int64_t request_timeout;
	int64_t write_timeout;    /* seconds an answer may take to be read */
	int64_t http_threads;     /* 0 = automatic */
	int64_t write_workers;    /* threads that run writing requests */
	int64_t shutdown_timeout;
	char *trusted_proxies;    /* comma-separated IPs or CIDRs, validated */
	char *admin_listen_address; /* "" or "ip:port" / "[ipv6]:port" (after the alias) */
	char *metrics_listen_address; /* the older name of admin_listen_address */
	char *admin_token_file;   /* "" or the file of the admin API's tokens */
	int64_t rate_limit_login;  /* tokens per window per address; 0 = off */
	int64_t rate_limit_window;
	int64_t rate_limit_max_addresses;
	/* store */
	char *database;           /* after config_load: the effective database, never empty */
	char *database_path;
	char *database_password_file;
	int64_t database_pool_size;
	int64_t database_connect_timeout;
	int64_t database_statement_timeout;
	int64_t database_lock_timeout;
	bool database_auto_migrate;
	int sqlite_synchronous;   /* enum sync_mode */
	int64_t sqlite_busy_timeout;
	int64_t sqlite_cache_size;  /* bytes: the writer connection's page cache */
	bool group_commit;
	int64_t guest_cleanup_after; /* 0 = never */
	int64_t player_data_max_document;
	int64_t player_data_max_keys;
	int64_t player_data_max_bytes;
	int64_t player_data_max_depth;
	/* tokens and keys */
	char *key_encryption_key_file; /* "": signing keys stored unencrypted */
	int signing_alg;          /* enum signing_alg */
	int64_t access_token_ttl;
	int64_t access_token_cache; /* entries of the verified-token cache */
	int64_t refresh_token_ttl;
	int64_t refresh_reuse_grace;
	int64_t key_rotation_interval;
	int64_t key_prepublish;
	int64_t key_propagation;
	int64_t jwks_max_age;
	/* logging */
	int log_level;            /* enum log_level */
	int log_format;           /* enum log_format */
	bool access_log;
	bool config_strict_modes;  /* refuse a config file others can write */
	/* platforms (API.md C) */
	int link_conflict;        /* enum link_conflict */
	char *steam_app_id;
	char *steam_web_api_key_file;
	char *steam_api_url;
	char *steam_identity;
	bool steam_reject_vac_banned;
	char *apple_app_ids;
	char *apple_keys_url;
	char *google_play_client_id;
	char *google_play_client_secret_file;
	char *google_play_app_id;
	char *google_oauth_url;
	char *google_games_url;
	char *facebook_app_id;
	char *facebook_graph_url;
	char *oidc_providers;
	int64_t provider_connect_timeout;
	int64_t provider_timeout;
	int64_t provider_max_response;
	int64_t provider_workers;
	int64_t jwks_cache_ttl;
	int64_t jwks_refetch_interval;
	int64_t clock_leeway;

	/*
	 * Derived by config_load, not settings of their own: the secrets read
	 * from the *_file settings (or GATEHOUSE_STEAM_WEB_API_KEY and
	 * GATEHOUSE_GOOGLE_PLAY_CLIENT_SECRET), never printed; and the OIDC
	 * providers. NULL / 0 when not configured.
	 */
	char *steam_web_api_key;
	char *google_play_client_secret;
	char *database_password;  /* from database_password_file */
	struct oidc_provider *oidc;
	size_t noidc;
	/* The admin API's tokens (admin_token_file), as digests; 0: the API is off. */
	struct admin_token *admin_tokens;
	size_t nadmin_tokens;
	struct oidc_setting *oidc_settings;
	size_t noidc_settings;
};

/* True when the database is PostgreSQL (a postgres:// or postgresql:// URI). */
bool config_database_is_pg(const struct config *cfg);

/* Which platforms a configuration enables. */
bool config_steam_enabled(const struct config *cfg);
bool config_apple_enabled(const struct config *cfg);
bool config_google_play_enabled(const struct config *cfg);
bool config_facebook_enabled(const struct config *cfg);
/* The OIDC provider called name, or NULL. */
const struct oidc_provider *config_oidc(const struct config *cfg, const char *name);

/*
 * Fills cfg from the defaults, then the file (NULL for none), then the
 * environment, then the "name=value" strings of sets. Returns 0, or -1 with
 * a one-line message (origin first) in err. cfg must be released with
 * config_release either way.
 */
int config_load(struct config *cfg, const char *file, char *const *sets, int nsets,
		char *err, size_t errlen);
void config_release(struct config *cfg);

/*
 * Where a *_file setting's file is: a relative name is one of systemd's
 * credentials ($CREDENTIALS_DIRECTORY, LoadCredential=) when that is set.
 * A new string; the caller frees it.
 */
char *config_secret_path(const char *file);

/* A new deep copy; free it with config_free. */
struct config *config_dup(const struct config *cfg);
/*
 * True when the named setting has its built-in default in cfg (compared as
 * the value is written, so "4MiB" and "4194304" are the same), or when no
 * setting has that name. The default is the settings table's, nowhere else.
 */
bool config_is_default(const struct config *cfg, const char *name);
/* Releases and frees a copy made by config_dup (NULL is fine). */
void config_free(struct config *cfg);
/*
 * For a reload: copies into dst every reloadable setting whose value
 * differs in src, naming it in applied; names the other differing
 * settings in restart (comma-separated lists).
 */
void config_merge_reloadable(struct config *dst, const struct config *src,
			     struct strbuf *applied, struct strbuf *restart);

/* Writes the documented sample config file (config/gatehouse.conf). */
void config_write_sample(FILE *out);
/*
 * Writes the man page's SETTINGS and ENVIRONMENT sections as roff, from the
 * same table (docs/gatehouse.8 is docs/gatehouse.8.in with them inserted).
 */
void config_write_man(FILE *out);
/* Writes the effective settings, one "name value" per line. */
void config_write_effective(const struct config *cfg, FILE *out);

/* True when cfg serves the admin API and console (an admin address and tokens). */
bool config_admin_api(const struct config *cfg);

/* Splits "ip:port" or "[ipv6]:port"; 0 or -1. */
int config_split_hostport(const char *s, char *host, size_t hostlen, int *port /* OUT */);

/* "RS256" or "ES256". */
const char *config_alg_name(int alg);

#endif
