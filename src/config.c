/*
 * config.c - the settings table and everything derived from it: defaults,
 * parsing of the file, environment and --set overrides, bounds, the sample
 * file, and the effective-settings dump.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/config.h"
#include "gatehouse/log.h"
#include "gatehouse/util.h"
#include "gatehouse/banned.h"

enum setting_type { T_STRING, T_INT, T_BOOL, T_DURATION, T_SIZE, T_ENUM };

struct setting {
	const char *name;
	enum setting_type type;
	size_t offset;
	const char *def;          /* default, in config-file syntax */
	int64_t min, max;         /* bounds for numbers; max length for strings */
	const char *const *choices; /* T_ENUM: NULL-terminated */
	const char *help;
	bool reloadable;          /* SIGHUP applies it to a running daemon */
};

static const char *const alg_choices[] = { "RS256", "ES256", NULL };
static const char *const sync_choices[] = { "full", "normal", NULL };
static const char *const level_choices[] = { "debug", "info", "warn", "error", NULL };
static const char *const format_choices[] = { "text", "json", NULL };

#define OFF(f) offsetof(struct config, f)
#define DAY (86400)

static const struct setting settings[] = {
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
	{ "http_threads", T_INT, OFF(http_threads), "0", 0, 1024, NULL,
	  "Request threads (0 = four per CPU, at least 4).", false },
	{ "shutdown_timeout", T_DURATION, OFF(shutdown_timeout), "10s", 0, 3600, NULL,
	  "On SIGTERM, how long in-flight requests may take before the daemon exits anyway.", false },
	{ "metrics_listen_address", T_STRING, OFF(metrics_listen_address), "", 0, 64, NULL,
	  "An admin address (ip:port, [ipv6]:port) serving /metrics and /health only; then\n"
	  "/metrics is not on the main listener. Empty: /metrics is on the main listener.", false },
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
	{ "database_path", T_STRING, OFF(database_path), "./var/gatehouse.db", 1, 4096, NULL,
	  "The SQLite database file; its directory is created if missing.", false },
	{ "sqlite_synchronous", T_ENUM, OFF(sqlite_synchronous), "full", 0, 0, sync_choices,
	  "full: every acknowledged write survives power loss (default).\n"
	  "normal: survives a crash of the daemon, may lose the last writes on power loss.", false },
	{ "group_commit", T_BOOL, OFF(group_commit), "on", 0, 0, NULL,
	  "Commit the writes that arrive together in one transaction (one fsync for all).\n"
	  "off: one transaction per write (slower with sqlite_synchronous full; for measuring).", false },
	{ "sqlite_busy_timeout", T_DURATION, OFF(sqlite_busy_timeout), "5s", 0, 600, NULL,
	  "How long to wait for a database lock held by another process (an operator command).", false },
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
	{ "refresh_token_ttl", T_DURATION, OFF(refresh_token_ttl), "6d", 60, 365 * (int64_t)DAY, NULL,
	  "Lifetime of a session: refreshing never extends it.", false },
	{ "refresh_reuse_grace", T_DURATION, OFF(refresh_reuse_grace), "10s", 0, 300, NULL,
	  "How long the refresh token spent last may be used again (lost response) without\n"
	  "the reuse revoking the session.", true },
	{ "key_rotation_interval", T_DURATION, OFF(key_rotation_interval), "7d", 10, 365 * (int64_t)DAY, NULL,
	  "A new signing key takes over after this long.", false },
	{ "key_prepublish", T_DURATION, OFF(key_prepublish), "1d", 0, 365 * (int64_t)DAY, NULL,
	  "The next key appears in the JWKS this long before it signs (must be shorter than\n"
	  "key_rotation_interval and at least jwks_max_age).", false },
	{ "jwks_max_age", T_DURATION, OFF(jwks_max_age), "1h", 0, DAY, NULL,
	  "Cache-Control max-age of /.well-known/jwks.json.", false },
	{ "log_level", T_ENUM, OFF(log_level), "info", 0, 0, level_choices,
	  "Lowest level logged: debug, info, warn or error.", true },
	{ "log_format", T_ENUM, OFF(log_format), "text", 0, 0, format_choices,
	  "text (logfmt) or json (one object per line).", true },
	{ "access_log", T_BOOL, OFF(access_log), "on", 0, 0, NULL,
	  "One line per request: method, route, status, duration, request id (never the query).", true },
};

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

static const struct setting *find_setting(const char *name, size_t len)
{
	for (size_t i = 0; i < GH_ARRAY_SIZE(settings); i++)
		if (strlen(settings[i].name) == len && memcmp(settings[i].name, name, len) == 0)
			return &settings[i];
	return NULL;
}

/* Parses value into the field of s in cfg. On error writes a reason. */
static int set_value(struct config *cfg, const struct setting *s, const char *value,
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

static int load_file(struct config *cfg, const char *file, char *err, size_t errlen)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", file, strerror(errno));
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
		const struct setting *s = find_setting(p, nlen);
		if (!s) {
			snprintf(err, errlen, "%s:%d: unknown setting '%.*s'", file, lineno,
				 (int)(nlen > 64 ? 64 : nlen), p);
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
		if (set_value(cfg, s, value, why, sizeof why)) {
			snprintf(err, errlen, "%s:%d: bad value for '%s': %s", file, lineno,
				 s->name, why);
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

static int load_env(struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < GH_ARRAY_SIZE(settings); i++) {
		char var[96] = "GATEHOUSE_";
		size_t n = strlen(var);
		for (const char *p = settings[i].name; *p && n + 1 < sizeof var; p++)
			var[n++] = (char)toupper((unsigned char)*p);
		var[n] = '\0';
		const char *value = getenv(var);
		if (!value)
			continue;
		char why[160];
		if (set_value(cfg, &settings[i], value, why, sizeof why)) {
			snprintf(err, errlen, "environment %s: bad value for '%s': %s", var,
				 settings[i].name, why);
			return -1;
		}
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
		const struct setting *s = find_setting(sets[i], (size_t)(eq - sets[i]));
		if (!s) {
			snprintf(err, errlen, "--set: unknown setting '%.*s'", (int)(eq - sets[i]),
				 sets[i]);
			return -1;
		}
		char why[160];
		if (set_value(cfg, s, eq + 1, why, sizeof why)) {
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
	if (*cfg->metrics_listen_address) {
		char host[64];
		int port;
		if (config_split_hostport(cfg->metrics_listen_address, host, sizeof host, &port)) {
			snprintf(err, errlen, "metrics_listen_address '%s': expected ip:port or "
				 "[ipv6]:port", cfg->metrics_listen_address);
			return -1;
		}
	}
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

int config_load(struct config *cfg, const char *file, char *const *sets, int nsets,
		char *err, size_t errlen)
{
	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < GH_ARRAY_SIZE(settings); i++) {
		char why[160];
		if (set_value(cfg, &settings[i], settings[i].def, why, sizeof why)) {
			snprintf(err, errlen, "built-in default of '%s': %s", settings[i].name, why);
			return -1;
		}
	}
	if (file && load_file(cfg, file, err, errlen))
		return -1;
	if (load_env(cfg, err, errlen) || load_sets(cfg, sets, nsets, err, errlen))
		return -1;
	return finish(cfg, err, errlen);
}

void config_release(struct config *cfg)
{
	for (size_t i = 0; i < GH_ARRAY_SIZE(settings); i++)
		if (settings[i].type == T_STRING) {
			char **p = (char **)((char *)cfg + settings[i].offset);
			free(*p);
			*p = NULL;
		}
}

static void write_value(const struct setting *s, const struct config *cfg, FILE *out)
{
	const char *field = (const char *)cfg + s->offset;
	switch (s->type) {
	case T_STRING: {
		const char *v = *(char *const *)field;
		fprintf(out, (v && *v) ? "%s" : "\"\"", v ? v : "");
		break;
	}
	case T_BOOL:
		fputs(*(const bool *)field ? "on" : "off", out);
		break;
	case T_ENUM:
		fputs(s->choices[*(const int *)field], out);
		break;
	default:
		fprintf(out, "%lld", (long long)*(const int64_t *)field);
	}
}

void config_write_sample(FILE *out)
{
	fputs("# gatehouse.conf - settings of the gatehouse daemon.\n"
	      "#\n"
	      "# One 'name value' per line. '#' at the start of a line, or after white space,\n"
	      "# starts a comment; quote a value to keep a '#' in it; \"\" is an empty value.\n"
	      "# Durations are seconds, or take a unit: 30s, 15m, 12h, 7d.\n"
	      "# Sizes are bytes, or take a unit: 64KiB, 1MiB.\n"
	      "# Any setting can also come from the environment as GATEHOUSE_<NAME>\n"
	      "# (GATEHOUSE_LISTEN_PORT=9000) or from the command line as\n"
	      "# --set name=value; the command line wins over the environment, which wins\n"
	      "# over this file, which wins over the built-in defaults shown here.\n"
	      "# SIGHUP makes a running daemon read its configuration again: the settings\n"
	      "# marked below apply at once; others need a restart (the log says which).\n"
	      "# This file is generated by 'gatehouse check-config --sample'.\n", out);
	for (size_t i = 0; i < GH_ARRAY_SIZE(settings); i++) {
		const struct setting *s = &settings[i];
		fputs("\n", out);
		const char *h = s->help;
		while (*h) {
			size_t n = strcspn(h, "\n");
			fprintf(out, "# %.*s\n", (int)n, h);
			h += n + (h[n] == '\n');
		}
		if (s->type == T_INT || s->type == T_DURATION || s->type == T_SIZE)
			fprintf(out, "# Range: %lld..%lld%s.\n", (long long)s->min, (long long)s->max,
				s->type == T_DURATION ? " seconds" : s->type == T_SIZE ? " bytes" : "");
		if (s->reloadable)
			fputs("# A running daemon applies a change on SIGHUP.\n", out);
		fprintf(out, "#%s %s\n", s->name, *s->def ? s->def : "\"\"");
	}
}

struct config *config_dup(const struct config *cfg)
{
	struct config *c = xmalloc(sizeof *c);
	*c = *cfg;
	for (size_t i = 0; i < GH_ARRAY_SIZE(settings); i++)
		if (settings[i].type == T_STRING) {
			char **p = (char **)((char *)c + settings[i].offset);
			*p = xstrdup(*p ? *p : "");
		}
	return c;
}

/* The value of setting s in cfg as text, for comparing. */
static char *value_text(const struct setting *s, const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return xstrdup("");
	write_value(s, cfg, f);
	fclose(f);
	return buf;
}

void config_merge_reloadable(struct config *dst, const struct config *src,
			     struct strbuf *applied, struct strbuf *restart)
{
	for (size_t i = 0; i < GH_ARRAY_SIZE(settings); i++) {
		const struct setting *s = &settings[i];
		char *a = value_text(s, dst), *b = value_text(s, src);
		if (strcmp(a, b) != 0) {
			struct strbuf *list = s->reloadable ? applied : restart;
			sb_addf(list, "%s%s", list->len ? ", " : "", s->name);
			if (s->reloadable) {
				char why[160];
				set_value(dst, s, b, why, sizeof why);
			}
		}
		free(a);
		free(b);
	}
}

void config_write_effective(const struct config *cfg, FILE *out)
{
	for (size_t i = 0; i < GH_ARRAY_SIZE(settings); i++) {
		fprintf(out, "%s ", settings[i].name);
		write_value(&settings[i], cfg, out);
		fputs("\n", out);
	}
}
