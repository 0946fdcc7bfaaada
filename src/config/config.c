/*
 * config.c - the settings table and everything derived from it: defaults,
 * parsing of the file, environment and --set overrides, bounds, the sample
 * file, and the effective-settings dump.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/config.h"
#include "gatehouse/log.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/parse.h"
#include "gatehouse/netaddr.h"
#include "internal.h"
#include "gatehouse/banned.h"


static const char *const alg_choices[] = { "RS256", "ES256", NULL };
static const char *const sync_choices[] = { "full", "normal", NULL };
static const char *const level_choices[] = { "debug", "info", "warn", "error", NULL };
static const char *const format_choices[] = { "text", "json", NULL };
static const char *const link_choices[] = { "login_existing", "reject", NULL };

#define OFF(f) offsetof(struct config, f)
#define DAY (86400)

const struct setting config_settings[] = {
	{ "listen_address", T_STRING, OFF(listen_address), "127.0.0.1", 0, 255, NULL,
	  "IPv4 or IPv6 address to listen on (0.0.0.0 or :: for all).", false },
	{ "listen_port", T_INT, OFF(listen_port), "8080", 1, 65535, NULL,
	  "TCP port to listen on.", false },
	{ "base_path", T_STRING, OFF(base_path), "", 0, 255, NULL,
	  "Path prefix for every route, e.g. /prod (the SDKs' login endpoint ends in /prod/).\n"
	  "Empty serves the routes at the root.", false },
	{ "issuer_url", T_STRING, OFF(issuer_url), "", 0, 1024, NULL,
	  "Public URL under which /.well-known/* is reachable; the exact 'iss' of every token.\n"
	  "No trailing slash. Empty derives http://<listen_address>:<listen_port><base_path>.", false },
	{ "cors_allow_origin", T_STRING, OFF(cors_allow_origin), "*", 1, 1024, NULL,
	  "Value of Access-Control-Allow-Origin on every response.", false },
	{ "max_url_size", T_SIZE, OFF(max_url_size), "8KiB", 256, 1048576, NULL,
	  "Longest request target (path and query) accepted; longer gets 414.", false },
	{ "max_header_size", T_SIZE, OFF(max_header_size), "16KiB", 1024, 1048576, NULL,
	  "Largest total size of the request headers; larger gets 431.", false },
	{ "max_body_size", T_SIZE, OFF(max_body_size), "64KiB", 1024, 16777216, NULL,
	  "Largest request body; larger gets 413.", false },
	{ "max_connections", T_INT, OFF(max_connections), "10000", 16, 1000000, NULL,
	  "Most simultaneous client connections; further ones are refused.", false },
	{ "max_connections_per_ip", T_INT, OFF(max_connections_per_ip), "256", 0, 1000000, NULL,
	  "Most simultaneous connections from one address (0 = no limit).\n"
	  "Behind a load balancer every connection comes from its address: set 0 there.", false },
	{ "idle_timeout", T_DURATION, OFF(idle_timeout), "30s", 1, 3600, NULL,
	  "A connection with no traffic for this long is closed.", false },
	{ "request_timeout", T_DURATION, OFF(request_timeout), "20s", 1, 3600, NULL,
	  "Once a request's first bytes have come, all of it (headers and body) must be in\n"
	  "within this long, or the connection is closed: a client trickling bytes\n"
	  "(slowloris) is cut off. Idle keep-alive connections are under idle_timeout only.",
	  false },
	{ "write_timeout", T_DURATION, OFF(write_timeout), "30s", 1, 3600, NULL,
	  "Once an answer is ready, the client must have taken all of it within this long,\n"
	  "or the connection is closed: a client that stops reading cannot hold the\n"
	  "connection and the answer's memory.",
	  false },
	{ "http_threads", T_INT, OFF(http_threads), "0", 0, 1024, NULL,
	  "Request threads (0 = four per CPU, at least 4).", false },
	{ "write_workers", T_INT, OFF(write_workers), "0", 0, 1024, NULL,
	  "Threads that run the requests which write (logins, refresh, logout; storage\n"
	  "writes on PostgreSQL) while their connection waits, so that a request thread\n"
	  "never waits for a commit; up to this many writes share one commit (fsync). On\n"
	  "SQLite storage writes need no worker: the writer thread answers them. 0 = eight\n"
	  "per CPU, at least 16.", false },
	{ "shutdown_timeout", T_DURATION, OFF(shutdown_timeout), "10s", 0, 3600, NULL,
	  "On SIGTERM, how long in-flight requests may take before the daemon exits anyway.", false },
	{ "admin_listen_address", T_STRING, OFF(admin_listen_address), "", 0, 64, NULL,
	  "The admin address (ip:port, [ipv6]:port; keep it on loopback or a private\n"
	  "network): the admin API under /admin/ (needs admin_token_file), the web console\n"
	  "at /console, and /metrics, /health and /ready; then /metrics is not on the main\n"
	  "listener. Empty: no admin API or console, /metrics is on the main listener.", false },
	{ "metrics_listen_address", T_STRING, OFF(metrics_listen_address), "", 0, 64, NULL,
	  "The older name of admin_listen_address (setting both to different values is an\n"
	  "error). Set alone without admin_token_file, it serves /metrics, /health and /ready\n"
	  "only, as it always did.", false },
	{ "admin_token_file", T_STRING, OFF(admin_token_file), "", 0, 4096, NULL,
	  "File of the admin API's bearer tokens, one per line: NAME:TOKEN (NAME, of\n"
	  "A-Z a-z 0-9 _ . -, is what the audit log calls whoever used it) or a bare TOKEN\n"
	  "(named admin); tokens are 16 to 512 printable characters, at most 64 of them;\n"
	  "blank lines and lines starting with # are skipped. Make one with e.g.\n"
	  "  (umask 077; printf 'alice:%s\\n' \"$(openssl rand -hex 32)\" >> admin-tokens)\n"
	  "A relative name is looked up in $CREDENTIALS_DIRECTORY (systemd's LoadCredential=).\n"
	  "Required with admin_listen_address. Never logged: the log names a token's NAME.", true },
	{ "trusted_proxies", T_STRING, OFF(trusted_proxies), "", 0, 4096, NULL,
	  "Comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed:\n"
	  "from such a peer, the client is the right-most address not in this list.\n"
	  "From any other peer the header is ignored.", false },
	{ "rate_limit_login", T_INT, OFF(rate_limit_login), "1000", 0, 1000000000, NULL,
	  "Requests per rate_limit_window that one client address may make to the login,\n"
	  "refresh and account routes (one shared token bucket); beyond it 429. 0 = no limit.", true },
	{ "rate_limit_window", T_DURATION, OFF(rate_limit_window), "5m", 1, 86400, NULL,
	  "The period in which a client's bucket refills completely.", true },
	{ "rate_limit_max_addresses", T_INT, OFF(rate_limit_max_addresses), "100000", 16, 10000000,
	  NULL, "Most client addresses tracked at once; the least recently seen is forgotten first.", false },
	{ "database", T_STRING, OFF(database), "", 0, 4096, NULL,
	  "The database: a SQLite file path, or a PostgreSQL URI (postgres://... or\n"
	  "postgresql://..., libpq's form: several hosts and parameters allowed), e.g.\n"
	  "  postgres://gatehouse@db1,db2/gatehouse?target_session_attrs=read-write\n"
	  "Several daemons may share one PostgreSQL database. Empty: database_path.\n"
	  "A password in the URI is never logged; prefer database_password_file.", false },
	{ "database_path", T_STRING, OFF(database_path), "./var/gatehouse.db", 1, 4096, NULL,
	  "The SQLite database file; its directory is created if missing. The same as\n"
	  "database given a file path (setting both to different files is an error).", false },
	{ "database_password_file", T_STRING, OFF(database_password_file), "", 0, 4096, NULL,
	  "File holding the PostgreSQL password (a relative name is looked up in\n"
	  "$CREDENTIALS_DIRECTORY, for systemd's LoadCredential=). Empty: the URI's password,\n"
	  "or libpq's PGPASSFILE (~/.pgpass). Never logged.", false },
	{ "database_pool_size", T_INT, OFF(database_pool_size), "8", 1, 1000, NULL,
	  "PostgreSQL: connections this daemon keeps to the database (each write is one short\n"
	  "transaction on one of them; reads use them too).", false },
	{ "database_connect_timeout", T_DURATION, OFF(database_connect_timeout), "2s", 1, 300, NULL,
	  "PostgreSQL: how long a connection attempt may take. While the database is down,\n"
	  "calls answer 503 at once and the daemon reconnects (100 ms doubling to 5 s).", false },
	{ "database_statement_timeout", T_DURATION, OFF(database_statement_timeout), "5s", 1, 3600,
	  NULL, "PostgreSQL: longest a statement may run (statement_timeout); beyond it 503.", false },
	{ "database_lock_timeout", T_DURATION, OFF(database_lock_timeout), "2s", 1, 3600, NULL,
	  "PostgreSQL: longest wait for a row lock (lock_timeout); beyond it 503.", false },
	{ "database_auto_migrate", T_BOOL, OFF(database_auto_migrate), "on", 0, 0, NULL,
	  "PostgreSQL: bring the schema up to date at start (one node at a time, under an\n"
	  "advisory lock). off: a daemon refuses an older schema; run 'gatehouse migrate'.\n"
	  "A schema newer than the build is always refused.", false },
	{ "sqlite_synchronous", T_ENUM, OFF(sqlite_synchronous), "full", 0, 0, sync_choices,
	  "full: every acknowledged write survives power loss (default).\n"
	  "normal: survives a crash of the daemon, may lose the last writes on power loss.", false },
	{ "group_commit", T_BOOL, OFF(group_commit), "on", 0, 0, NULL,
	  "Commit the writes that arrive together in one transaction (one fsync for all).\n"
	  "off: one transaction per write (slower with sqlite_synchronous full; for measuring).", false },
	{ "sqlite_busy_timeout", T_DURATION, OFF(sqlite_busy_timeout), "5s", 0, 600, NULL,
	  "How long to wait for a database lock held by another process (an operator command).", false },
	{ "sqlite_cache_size", T_SIZE, OFF(sqlite_cache_size), "4MiB", 262144, 1073741824, NULL,
	  "The page cache of the connection that writes (each reader keeps 512 KiB; the\n"
	  "kernel's page cache serves the rest). 4 MiB holds the inner pages of about half\n"
	  "a million users; raise it for larger databases (a missed page is one read\n"
	  "from the kernel's cache), at the cost of that much resident memory.", false },
	{ "guest_cleanup_after", T_DURATION, OFF(guest_cleanup_after), "0", 0, 3650 * (int64_t)DAY,
	  NULL, "Delete guest accounts with no platform link that have not logged in or refreshed\n"
	  "for this long, a small batch at a time in the background. 0 = never.", true },
	{ "player_data_max_document", T_SIZE, OFF(player_data_max_document), "64KiB", 16, 16777216,
	  NULL, "Largest player-data document (the JSON as sent); larger gets 413. A request\n"
	  "body is also bounded by max_body_size.", true },
	{ "player_data_max_keys", T_INT, OFF(player_data_max_keys), "1000", 1, 1000000, NULL,
	  "Most player-data keys one user may hold; a write beyond it gets 413.", true },
	{ "player_data_max_bytes", T_SIZE, OFF(player_data_max_bytes), "1MiB", 1024, 1073741824,
	  NULL, "Most player-data bytes one user may hold, all documents together; beyond it 413.", true },
	{ "player_data_max_depth", T_INT, OFF(player_data_max_depth), "32", 1, 1000, NULL,
	  "Deepest nesting of arrays and objects in a player-data document; deeper gets 400.", true },
	{ "signing_alg", T_ENUM, OFF(signing_alg), "RS256", 0, 0, alg_choices,
	  "Algorithm of new access-token signing keys: RS256 (RSA 2048) or ES256 (P-256).", false },
	{ "access_token_ttl", T_DURATION, OFF(access_token_ttl), "900", 60, DAY, NULL,
	  "Lifetime of access tokens (auth_token).", false },
	{ "access_token_cache", T_INT, OFF(access_token_cache), "16384", 0, 4194304, NULL,
	  "How many verified access tokens are remembered, so that a client's next call\n"
	  "with the same token skips the signature check (about 140 bytes each; 0: none).", false },
	{ "refresh_token_ttl", T_DURATION, OFF(refresh_token_ttl), "6d", 60, 365 * (int64_t)DAY, NULL,
	  "Lifetime of a session: refreshing never extends it.", false },
	{ "refresh_reuse_grace", T_DURATION, OFF(refresh_reuse_grace), "10s", 0, 300, NULL,
	  "How long the refresh token spent last may be used again (lost response) without\n"
	  "the reuse revoking the session.", true },
	{ "key_encryption_key_file", T_STRING, OFF(key_encryption_key_file), "", 0, 4096, NULL,
	  "File holding at least 32 random bytes (head -c 32 /dev/urandom > FILE, mode 600):\n"
	  "signing keys are then stored encrypted with a key derived from it (AES-256-GCM),\n"
	  "so a copy of the database or of a backup holds no usable key. A relative name is\n"
	  "looked up in $CREDENTIALS_DIRECTORY (systemd's LoadCredential=). Empty: keys are\n"
	  "stored as they are. 'gatehouse keys encrypt|decrypt|rekey' move a database on or\n"
	  "off it. Keep a copy apart from the database's backups: without it the stored keys\n"
	  "cannot be read and the daemon does not start.", false },
	{ "key_rotation_interval", T_DURATION, OFF(key_rotation_interval), "7d", 10, 365 * (int64_t)DAY, NULL,
	  "A new signing key takes over after this long.", false },
	{ "key_prepublish", T_DURATION, OFF(key_prepublish), "1d", 0, 365 * (int64_t)DAY, NULL,
	  "The next key appears in the JWKS this long before it signs (must be shorter than\n"
	  "key_rotation_interval and at least jwks_max_age).", false },
	{ "key_propagation", T_DURATION, OFF(key_propagation), "2s", 0, 60, NULL,
	  "An emergency rotation ('gatehouse keys rotate') makes a key that signs this long\n"
	  "after it is stored, so that every node sharing the database (each loads new keys\n"
	  "within about a second) publishes it before any node signs with it.", false },
	{ "jwks_max_age", T_DURATION, OFF(jwks_max_age), "1h", 0, DAY, NULL,
	  "Cache-Control max-age of /.well-known/jwks.json.", false },
	{ "log_level", T_ENUM, OFF(log_level), "info", 0, 0, level_choices,
	  "Lowest level logged: debug, info, warn or error.", true },
	{ "log_format", T_ENUM, OFF(log_format), "text", 0, 0, format_choices,
	  "text (logfmt) or json (one object per line).", true },
	{ "link_conflict", T_ENUM, OFF(link_conflict), "login_existing", 0, 0, link_choices,
	  "When a platform id linked to one user is presented to link to another:\n"
	  "login_existing logs in as its owner (the reference's behaviour); reject answers 409.",
	  true },
	{ "steam_app_id", T_STRING, OFF(steam_app_id), "", 0, 32, NULL,
	  "Steam app id; empty leaves /login-with-steam off. Needs the publisher Web API key.",
	  true },
	{ "steam_web_api_key_file", T_STRING, OFF(steam_web_api_key_file), "", 0, 4096, NULL,
	  "File holding the Steam publisher Web API key (a relative name is looked up in\n"
	  "$CREDENTIALS_DIRECTORY, for systemd's LoadCredential=). The environment variable\n"
	  "GATEHOUSE_STEAM_WEB_API_KEY may hold the key instead. Never logged.", true },
	{ "steam_api_url", T_STRING, OFF(steam_api_url), "https://partner.steam-api.com", 1, 1024,
	  NULL, "Base URL of Steam's partner Web API.", true },
	{ "steam_identity", T_STRING, OFF(steam_identity), "", 0, 128, NULL,
	  "The identity string the game passes to GetAuthTicketForWebApi; when set, only\n"
	  "tickets made for it authenticate. Empty: none is sent (the reference's way).", true },
	{ "steam_reject_vac_banned", T_BOOL, OFF(steam_reject_vac_banned), "off", 0, 0, NULL,
	  "Refuse Steam users with a VAC ban (publisher bans are always refused).", true },
	{ "apple_app_ids", T_STRING, OFF(apple_app_ids), "", 0, 4096, NULL,
	  "Comma-separated bundle ids / Services ids accepted as the audience of Sign in with\n"
	  "Apple identity tokens; empty leaves /login-with-apple-id off.", true },
	{ "apple_keys_url", T_STRING, OFF(apple_keys_url), "https://appleid.apple.com/auth/keys",
	  1, 1024, NULL, "Apple's JWKS (a full URL).", true },
	{ "google_play_client_id", T_STRING, OFF(google_play_client_id), "", 0, 256, NULL,
	  "OAuth web client id of the game server (...apps.googleusercontent.com). With the\n"
	  "secret and the app id it turns /login-with-google-play on.", true },
	{ "google_play_client_secret_file", T_STRING, OFF(google_play_client_secret_file), "", 0,
	  4096, NULL, "File holding that client's secret (relative: in $CREDENTIALS_DIRECTORY;\n"
	  "or GATEHOUSE_GOOGLE_PLAY_CLIENT_SECRET in the environment). Never logged.", true },
	{ "google_play_app_id", T_STRING, OFF(google_play_app_id), "", 0, 64, NULL,
	  "The Play Games application id (numeric).", true },
	{ "google_oauth_url", T_STRING, OFF(google_oauth_url), "https://accounts.google.com", 1,
	  1024, NULL, "Base URL of Google's OAuth token endpoint.", true },
	{ "google_games_url", T_STRING, OFF(google_games_url), "https://www.googleapis.com", 1,
	  1024, NULL, "Base URL of the Play Games API.", true },
	{ "facebook_app_id", T_STRING, OFF(facebook_app_id), "", 0, 64, NULL,
	  "Facebook app id; empty leaves /login-with-facebook off.", true },
	{ "facebook_graph_url", T_STRING, OFF(facebook_graph_url), "https://graph.facebook.com", 1,
	  1024, NULL, "Base URL of the Graph API.", true },
	{ "oidc_providers", T_STRING, OFF(oidc_providers), "", 0, 1024, NULL,
	  "Comma-separated names ([a-z0-9_]+) of OpenID Connect providers for /login-with-oidc.\n"
	  "Each name needs oidc_<name>_issuer, oidc_<name>_jwks_url and oidc_<name>_audiences\n"
	  "(comma-separated), and may set oidc_<name>_subject_claim (default sub) and\n"
	  "oidc_<name>_algs (RS256 and/or ES256; default RS256). Examples:\n"
	  "  oidc_providers google,epic,twitch\n"
	  "  oidc_google_issuer https://accounts.google.com\n"
	  "  oidc_google_jwks_url https://www.googleapis.com/oauth2/v3/certs\n"
	  "  oidc_google_audiences 1234-abc.apps.googleusercontent.com\n"
	  "  oidc_epic_issuer https://api.epicgames.dev/epic/oauth/v2\n"
	  "  oidc_epic_jwks_url https://api.epicgames.dev/epic/oauth/v2/.well-known/jwks.json\n"
	  "  oidc_epic_audiences xyza7891EpicClientId\n"
	  "  oidc_twitch_issuer https://id.twitch.tv/oauth2\n"
	  "  oidc_twitch_jwks_url https://id.twitch.tv/oauth2/keys\n"
	  "  oidc_twitch_audiences your-twitch-client-id", true },
	{ "provider_connect_timeout", T_DURATION, OFF(provider_connect_timeout), "2s", 1, 60, NULL,
	  "Connect timeout of each call to a platform.", true },
	{ "provider_timeout", T_DURATION, OFF(provider_timeout), "5s", 1, 120, NULL,
	  "Total time one call to a platform may take.", true },
	{ "provider_max_response", T_SIZE, OFF(provider_max_response), "1MiB", 1024, 16777216,
	  NULL, "Largest answer read from a platform; a larger one counts as a failure.", true },
	{ "provider_workers", T_INT, OFF(provider_workers), "16", 1, 1024, NULL,
	  "Threads that wait on platforms, so that request threads never do.", false },
	{ "jwks_cache_ttl", T_DURATION, OFF(jwks_cache_ttl), "1h", 1, 86400, NULL,
	  "How long Apple's and OIDC providers' key sets are used before being fetched again.",
	  true },
	{ "jwks_refetch_interval", T_DURATION, OFF(jwks_refetch_interval), "60s", 1, 86400, NULL,
	  "An unknown kid fetches the key set again, at most this often.", true },
	{ "clock_leeway", T_DURATION, OFF(clock_leeway), "30s", 0, 300, NULL,
	  "Clock difference allowed on exp/nbf/iat of platform tokens (ours get none).", true },
	{ "access_log", T_BOOL, OFF(access_log), "on", 0, 0, NULL,
	  "One line per request: method, route, status, duration, request id (never the query).", true },
	{ "config_strict_modes", T_BOOL, OFF(config_strict_modes), "on", 0, 0, NULL,
	  "on: a config file that other users can change stops start-up (it could repoint the\n"
	  "database or the platforms' key URLs): one its group or others can write, one owned\n"
	  "by a user other than root and the daemon's, or one in a directory others can write\n"
	  "(without the sticky bit) or own. One they can read gets a warning. Only --set or\n"
	  "GATEHOUSE_CONFIG_STRICT_MODES can turn it off, not this file.",
	  false },
};
const size_t config_nsettings = GH_ARRAY_SIZE(config_settings);

/*
 * GATEHOUSE_* variables that are not settings but are still the daemon's:
 * the config file's name and the two platform secrets.
 */
const struct config_env_var config_env_allowed[] = {
	{ "GATEHOUSE_CONFIG", "The configuration file, when --config is not given." },
	{ "GATEHOUSE_STEAM_WEB_API_KEY",
	  "The Steam publisher Web API key, instead of steam_web_api_key_file." },
	{ "GATEHOUSE_GOOGLE_PLAY_CLIENT_SECRET",
	  "The Google Play OAuth client secret, instead of google_play_client_secret_file." },
};
const size_t config_nenv_allowed = GH_ARRAY_SIZE(config_env_allowed);

int config_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon, *h = s;
	size_t hn;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -1;
		h = s + 1;
		hn = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -1; /* none, or a bare IPv6 address */
		hn = (size_t)(colon - s);
	}
	if (hn == 0 || hn >= hostlen)
		return -1;
	memcpy(host, h, hn);
	host[hn] = '\0';
	unsigned char a[16];
	if (gh_parse_ip(host, a))
		return -1;
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || p < 1 || p > 65535 || colon[1] < '0' || colon[1] > '9')
		return -1;
	*port = (int)p;
	return 0;
}

const char *config_alg_name(int alg)
{
	return alg_choices[alg == ALG_ES256 ? 1 : 0];
}

const struct setting *config_find_setting(const char *name, size_t len)
{
	for (size_t i = 0; i < config_nsettings; i++)
		if (strlen(config_settings[i].name) == len && memcmp(config_settings[i].name, name, len) == 0)
			return &config_settings[i];
	return NULL;
}

/* Edit distance of a (an bytes) and b, case-insensitive; stops counting at 9. */
static size_t edit_distance(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b);
	if (an > 64 || bn > 64)
		return 9;
	size_t row[65];
	for (size_t j = 0; j <= bn; j++)
		row[j] = j;
	for (size_t i = 1; i <= an; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= bn; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) !=
				      tolower((unsigned char)b[j - 1]);
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[bn] > 9 ? 9 : row[bn];
}

/*
 * The setting name closest to name (len bytes), or NULL when none is close
 * enough to be a typo (at most 2 edits, and fewer than a third of it).
 */
static const char *closest_setting(const char *name, size_t len)
{
	const char *best = NULL;
	size_t bestd = 3;
	for (size_t i = 0; i < config_nsettings; i++) {
		size_t d = edit_distance(name, len, config_settings[i].name);
		if (d < bestd && d * 3 < strlen(config_settings[i].name)) {
			bestd = d;
			best = config_settings[i].name;
		}
	}
	return best;
}

/* " (did you mean 'x'?)" when a setting is close to name, else "". */
static void did_you_mean(const char *name, size_t len, char *out, size_t outlen)
{
	const char *c = closest_setting(name, len);
	if (c)
		snprintf(out, outlen, " (did you mean '%s'?)", c);
	else if (outlen)
		*out = '\0';
}

/* Parses value into the field of s in cfg. On error writes a reason. */
int config_set_value(struct config *cfg, const struct setting *s, const char *value,
		     char *why, size_t whylen)
{
	char *field = (char *)cfg + s->offset;
	int64_t v;
	switch (s->type) {
	case T_STRING:
		if ((int64_t)strlen(value) < s->min || (int64_t)strlen(value) > s->max) {
			snprintf(why, whylen, "length must be %lld..%lld", (long long)s->min,
				 (long long)s->max);
			return -1;
		}
		for (const char *p = value; *p; p++)
			if ((unsigned char)*p < 0x20) {
				snprintf(why, whylen, "control character in value");
				return -1;
			}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case T_BOOL:
		if (!strcmp(value, "on") || !strcmp(value, "true") || !strcmp(value, "yes") ||
		    !strcmp(value, "1"))
			*(bool *)field = true;
		else if (!strcmp(value, "off") || !strcmp(value, "false") || !strcmp(value, "no") ||
			 !strcmp(value, "0"))
			*(bool *)field = false;
		else {
			snprintf(why, whylen, "expected on or off");
			return -1;
		}
		return 0;
	case T_ENUM:
		for (int i = 0; s->choices[i]; i++)
			if (!strcmp(value, s->choices[i])) {
				*(int *)field = i;
				return 0;
			}
		{
			struct strbuf sb = STRBUF_INIT;
			for (int i = 0; s->choices[i]; i++)
				sb_addf(&sb, "%s%s", i ? ", " : "", s->choices[i]);
			snprintf(why, whylen, "expected one of %s", sb.buf);
			sb_release(&sb);
		}
		return -1;
	case T_INT:
	case T_DURATION:
	case T_SIZE: {
		int rc;
		if (s->type == T_INT) {
			char *end;
			errno = 0;
			/* Digits only: strtoll would also take white space and signs. */
			long long ll = (*value >= '0' && *value <= '9') ? strtoll(value, &end, 10) : 0;
			rc = (errno || *value < '0' || *value > '9' || *end) ? -1 : 0;
			v = ll;
		} else if (s->type == T_DURATION) {
			rc = gh_parse_duration(value, &v);
		} else {
			rc = gh_parse_size(value, &v);
		}
		if (rc) {
			snprintf(why, whylen, "%s",
				 s->type == T_INT ? "expected an integer" :
				 s->type == T_DURATION ? "expected a duration (e.g. 900, 15m, 6d)" :
				 "expected a size (e.g. 65536, 64KiB)");
			return -1;
		}
		if (v < s->min || v > s->max) {
			snprintf(why, whylen, "out of range %lld..%lld", (long long)s->min,
				 (long long)s->max);
			return -1;
		}
		*(int64_t *)field = v;
		return 0;
	}
	}
	return -1;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/*
 * The value part of a config line: "quoted" (so "" spells an empty value,
 * and '#' may appear inside), or bare text up to a '#' that follows white
 * space (a trailing comment). NULL when a quote is not closed or is
 * followed by anything but a comment.
 */
static char *line_value(char *s)
{
	s = trim(s);
	if (*s == '"') {
		char *close = strchr(s + 1, '"');
		if (!close)
			return NULL;
		*close = '\0';
		char *rest = trim(close + 1);
		return (*rest && *rest != '#') ? NULL : s + 1;
	}
	for (char *p = s + 1; *s && *p; p++)
		if (*p == '#' && (p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	return trim(s);
}

static int load_file(struct config *cfg, const char *file, struct stat *st, char *err,
		     size_t errlen)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", file, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), st)) {
		snprintf(err, errlen, "%s: cannot stat: %s", file, strerror(errno));
		fclose(f);
		return -1;
	}
	char line[8192];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", file, lineno);
			rc = -1;
			break;
		}
		char *p = trim(line);
		if (!*p || *p == '#')
			continue;
		size_t nlen = strcspn(p, " \t");
		const struct setting *s = config_find_setting(p, nlen);
		if (!s && config_oidc_key_split(p, nlen, (char[128]){ 0 }, 128) >= 0) {
			char *value = line_value(p + nlen);
			char origin[4200];
			snprintf(origin, sizeof origin, "%s:%d", file, lineno);
			if (!value) {
				snprintf(err, errlen, "%s: bad quoting", origin);
				rc = -1;
				break;
			}
			config_oidc_setting_add(cfg, p, nlen, value, origin);
			continue;
		}
		const char *eq = memchr(p, '=', nlen);
		if (!s && eq && eq > p) {
			/* name=value: the file takes "name value". */
			size_t kl = (size_t)(eq - p);
			while (kl && (p[kl - 1] == ' ' || p[kl - 1] == '\t'))
				kl--;
			/* The value is not repeated: it may be a secret put in the wrong place. */
			char hint[128] = "";
			if (!config_find_setting(p, kl))
				did_you_mean(p, kl, hint, sizeof hint);
			snprintf(err, errlen, "%s:%d: the file takes 'name value', not name=value: "
				 "write '%.*s <value>'%s", file, lineno, (int)(kl > 64 ? 64 : kl), p,
				 hint);
			rc = -1;
			break;
		}
		if (!s) {
			char hint[128];
			did_you_mean(p, nlen, hint, sizeof hint);
			snprintf(err, errlen, "%s:%d: unknown setting '%.*s'%s", file, lineno,
				 (int)(nlen > 64 ? 64 : nlen), p, hint);
			rc = -1;
			break;
		}
		char *value = line_value(p + nlen);
		if (!value) {
			snprintf(err, errlen, "%s:%d: bad quoting in the value of '%s'", file, lineno,
				 s->name);
			rc = -1;
			break;
		}
		char why[160];
		if (config_set_value(cfg, s, value, why, sizeof why)) {
			snprintf(err, errlen, "%s:%d: bad value for '%s': %s", file, lineno,
				 s->name, why);
			rc = -1;
			break;
		}
		if (s->offset == OFF(config_strict_modes) && !cfg->config_strict_modes) {
			/* Whoever could write the file could also write this line. */
			snprintf(err, errlen, "%s:%d: config_strict_modes off cannot be set in the "
				 "file it guards: use --set or GATEHOUSE_CONFIG_STRICT_MODES", file,
				 lineno);
			rc = -1;
			break;
		}
	}
	if (!rc && ferror(f)) {
		snprintf(err, errlen, "%s: read error", file);
		rc = -1;
	}
	fclose(f);
	return rc;
}

/* " (did you mean GATEHOUSE_X?)" when a setting's variable is close to var. */
static void env_did_you_mean(const char *var, size_t len, char *out, size_t outlen)
{
	*out = '\0';
	if (len <= 10)
		return;
	const char *c = closest_setting(var + 10, len - 10);
	if (c) {
		char up[64];
		size_t n = 0;
		for (; c[n] && n + 1 < sizeof up; n++)
			up[n] = (char)toupper((unsigned char)c[n]);
		up[n] = '\0';
		snprintf(out, outlen, " (did you mean GATEHOUSE_%s?)", up);
		return;
	}
	for (size_t i = 0; i < config_nenv_allowed; i++)
		if (edit_distance(var, len, config_env_allowed[i].name) <= 2) {
			snprintf(out, outlen, " (did you mean %s?)", config_env_allowed[i].name);
			return;
		}
}

/*
 * Every GATEHOUSE_* variable must be a setting (GATEHOUSE_<NAME>, upper
 * case), an OIDC provider's (GATEHOUSE_OIDC_<NAME>_<FIELD>) or one of
 * env_allowed: a typo stops start-up like one in the file.
 */
static int load_env(struct config *cfg, char *err, size_t errlen)
{
	for (char **e = environ; *e; e++) {
		if (strncmp(*e, "GATEHOUSE_", 10) != 0)
			continue;
		const char *eq = strchr(*e, '=');
		if (!eq)
			continue;
		size_t vlen = (size_t)(eq - *e);
		bool allowed = false;
		for (size_t i = 0; i < config_nenv_allowed; i++)
			if (strlen(config_env_allowed[i].name) == vlen && !memcmp(config_env_allowed[i].name, *e, vlen))
				allowed = true;
		if (allowed)
			continue;
		char key[160];
		size_t n = vlen - 10;
		bool upper = n > 0 && n < sizeof key;
		for (size_t i = 0; upper && i < n; i++) {
			unsigned char c = (unsigned char)(*e)[10 + i];
			upper = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
			key[i] = (char)tolower(c);
		}
		if (upper) {
			key[n] = '\0';
			const struct setting *s = config_find_setting(key, n);
			if (s) {
				char why[160];
				if (config_set_value(cfg, s, eq + 1, why, sizeof why)) {
					snprintf(err, errlen, "environment %.*s: bad value for '%s': %s",
						 (int)vlen, *e, s->name, why);
					return -1;
				}
				continue;
			}
			char origin[200];
			snprintf(origin, sizeof origin, "environment %.*s", (int)(vlen > 150 ? 150 : vlen),
				 *e);
			if (config_oidc_setting_add(cfg, key, n, eq + 1, origin))
				continue;
		}
		char hint[128];
		env_did_you_mean(*e, vlen, hint, sizeof hint);
		snprintf(err, errlen, "environment %.*s: unknown variable%s; every GATEHOUSE_* "
			 "variable must name a setting (unset it, or see check-config --sample)",
			 (int)(vlen > 96 ? 96 : vlen), *e, hint);
		return -1;
	}
	return 0;
}

static int load_sets(struct config *cfg, char *const *sets, int nsets, char *err, size_t errlen)
{
	for (int i = 0; i < nsets; i++) {
		const char *eq = strchr(sets[i], '=');
		if (!eq) {
			snprintf(err, errlen, "--set %s: expected name=value", sets[i]);
			return -1;
		}
		const struct setting *s = config_find_setting(sets[i], (size_t)(eq - sets[i]));
		if (!s && config_oidc_setting_add(cfg, sets[i], (size_t)(eq - sets[i]), eq + 1, "--set"))
			continue;
		if (!s) {
			char hint[128];
			did_you_mean(sets[i], (size_t)(eq - sets[i]), hint, sizeof hint);
			snprintf(err, errlen, "--set: unknown setting '%.*s'%s",
				 (int)(eq - sets[i] > 64 ? 64 : eq - sets[i]), sets[i], hint);
			return -1;
		}
		char why[160];
		if (config_set_value(cfg, s, eq + 1, why, sizeof why)) {
			snprintf(err, errlen, "--set: bad value for '%s': %s", s->name, why);
			return -1;
		}
	}
	return 0;
}

/* Checks that relate several settings, and derives issuer_url. */
static int finish(struct config *cfg, char *err, size_t errlen)
{
	const char *bp = cfg->base_path;
	if (*bp && (bp[0] != '/' || bp[strlen(bp) - 1] == '/' || strstr(bp, "//") ||
		    strpbrk(bp, "?#% "))) {
		snprintf(err, errlen, "base_path '%s': must be empty or start with '/', "
			 "without a trailing '/'", bp);
		return -1;
	}
	if (!*cfg->issuer_url) {
		bool v6 = strchr(cfg->listen_address, ':') != NULL;
		free(cfg->issuer_url);
		cfg->issuer_url = xasprintf("http://%s%s%s:%lld%s", v6 ? "[" : "",
					    cfg->listen_address, v6 ? "]" : "",
					    (long long)cfg->listen_port, bp);
	} else {
		const char *u = cfg->issuer_url;
		if ((strncmp(u, "https://", 8) && strncmp(u, "http://", 7)) ||
		    u[strlen(u) - 1] == '/' || strpbrk(u, "?# \"\\")) {
			snprintf(err, errlen, "issuer_url '%s': must be an http(s) URL with no "
				 "trailing '/', query or fragment", u);
			return -1;
		}
	}
	if (config_check_admin(cfg, err, errlen))
		return -1;
	char **proxies = gh_list_split(cfg->trusted_proxies, NULL);
	for (char **p = proxies; *p; p++) {
		unsigned char a[16];
		int bits;
		if (gh_parse_cidr(*p, a, &bits)) {
			snprintf(err, errlen, "trusted_proxies: '%s' is not an IP address or CIDR", *p);
			gh_list_free(proxies);
			return -1;
		}
	}
	gh_list_free(proxies);
	if (config_check_platforms(cfg, err, errlen) || config_check_database(cfg, err, errlen))
		return -1;
	if (cfg->key_prepublish >= cfg->key_rotation_interval) {
		snprintf(err, errlen, "key_prepublish (%llds) must be shorter than "
			 "key_rotation_interval (%llds)", (long long)cfg->key_prepublish,
			 (long long)cfg->key_rotation_interval);
		return -1;
	}
	if (cfg->jwks_max_age > cfg->key_prepublish) {
		/* Verifiers caching the JWKS would meet the new key before seeing it. */
		snprintf(err, errlen, "key_prepublish (%llds) must be at least jwks_max_age "
			 "(%llds)", (long long)cfg->key_prepublish, (long long)cfg->jwks_max_age);
		return -1;
	}
	return 0;
}

/*
 * Like OpenSSH's StrictModes: a config file that someone else can change
 * could repoint the database or the platforms' key URLs, so it stops
 * start-up unless config_strict_modes is off. Someone else can change it
 * when its group or others may write it, when it belongs to a user other
 * than root and us, or when its directory lets others replace it (group- or
 * world-writable without the sticky bit, or another user's). One that
 * others can read gets a warning, when we own it (so tightening it cannot
 * lock us out: a daemon reading a root-owned file as another user needs it
 * readable).
 */
static int check_file_modes(const struct config *cfg, const char *file, const struct stat *st,
			    char *err, size_t errlen)
{
	if (!S_ISREG(st->st_mode))
		return 0;
	unsigned mode = (unsigned)st->st_mode & 07777;
	uid_t me = geteuid();
	if (cfg->config_strict_modes) {
		char why[96] = "", fix[4200] = "";
		char *dir = xstrdup(file), *slash = strrchr(dir, '/');
		if (slash)
			slash[slash == dir] = '\0';
		struct stat ds;
		bool dir_ok = !stat(slash ? dir : ".", &ds);
		if (mode & 022) {
			snprintf(why, sizeof why, "%s can write it (mode %04o)",
				 (mode & 002) ? "every user" : "its group", mode);
			snprintf(fix, sizeof fix, "run 'chmod go-w %s'", file);
		} else if (st->st_uid != 0 && st->st_uid != me) {
			snprintf(why, sizeof why, "another user (uid %u) owns it",
				 (unsigned)st->st_uid);
			snprintf(fix, sizeof fix, "give it to root or to this user (chown)");
		} else if (dir_ok && (ds.st_mode & 022) && !(ds.st_mode & S_ISVTX)) {
			snprintf(why, sizeof why, "its directory (mode %04o) lets other users "
				 "replace it", (unsigned)ds.st_mode & 07777);
			snprintf(fix, sizeof fix, "run 'chmod go-w %s', or move the file",
				 slash ? dir : ".");
		} else if (dir_ok && ds.st_uid != 0 && ds.st_uid != me) {
			snprintf(why, sizeof why, "another user (uid %u) owns its directory",
				 (unsigned)ds.st_uid);
			snprintf(fix, sizeof fix, "move the file to a directory of root's or this "
				 "user's");
		}
		free(dir);
		if (*why) {
			snprintf(err, errlen, "%s: %s, and a config file can repoint the database "
				 "and the platforms' key URLs: %s (or --set config_strict_modes=off)",
				 file, why, fix);
			return -1;
		}
	}
	if ((mode & 044) && st->st_uid == me) {
		char *fix = xasprintf("chmod go-r %s", file);
		log_fields(LOG_WARN, "config file readable by other users", "file", file, "fix",
			   fix, NULL);
		free(fix);
	}
	return 0;
}

int config_load(struct config *cfg, const char *file, char *const *sets, int nsets,
		char *err, size_t errlen)
{
	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < config_nsettings; i++) {
		char why[160];
		if (config_set_value(cfg, &config_settings[i], config_settings[i].def, why, sizeof why)) {
			snprintf(err, errlen, "built-in default of '%s': %s", config_settings[i].name, why);
			return -1;
		}
	}
	struct stat st;
	if (file && load_file(cfg, file, &st, err, errlen))
		return -1;
	if (load_env(cfg, err, errlen) || load_sets(cfg, sets, nsets, err, errlen))
		return -1;
	if (file && check_file_modes(cfg, file, &st, err, errlen))
		return -1;
	return finish(cfg, err, errlen);
}

void config_free_secret(char **secret)
{
	if (*secret) {
		OPENSSL_cleanse(*secret, strlen(*secret));
		free(*secret);
		*secret = NULL;
	}
}

void config_release(struct config *cfg)
{
	config_free_secret(&cfg->steam_web_api_key);
	config_free_secret(&cfg->google_play_client_secret);
	config_free_secret(&cfg->database_password);
	config_admin_tokens_free(cfg);
	config_oidc_free(cfg->oidc, cfg->noidc);
	cfg->oidc = NULL;
	cfg->noidc = 0;
	for (size_t i = 0; i < cfg->noidc_settings; i++) {
		free(cfg->oidc_settings[i].key);
		free(cfg->oidc_settings[i].value);
		free(cfg->oidc_settings[i].origin);
	}
	free(cfg->oidc_settings);
	cfg->oidc_settings = NULL;
	cfg->noidc_settings = 0;
	for (size_t i = 0; i < config_nsettings; i++)
		if (config_settings[i].type == T_STRING) {
			char **p = (char **)((char *)cfg + config_settings[i].offset);
			free(*p);
			*p = NULL;
		}
}
