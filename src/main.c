/*
 * main.c - the command line (serve, check-config, keys, version), the
 * daemon's start-up and shutdown order, and signal handling. Signals are
 * blocked in every thread and taken synchronously here with sigwait.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <systemd/sd-daemon.h>

#include "gatehouse/config.h"
#include "gatehouse/handlers.h"
#include "gatehouse/http.h"
#include "gatehouse/httpc.h"
#include "gatehouse/jwkscache.h"
#include "gatehouse/keyring.h"
#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/ratelimit.h"
#include "gatehouse/rotator.h"
#include "gatehouse/router.h"
#include "gatehouse/tokencache.h"
#include "gatehouse/store.h"
#include "gatehouse/util.h"
#include "gatehouse/workpool.h"
#include "gatehouse/banned.h"

#ifndef GATEHOUSE_VERSION
#define GATEHOUSE_VERSION "0.0.0-dev"
#endif

/* Ended sessions stay visible (account export, audits) this long. */
#define SESSION_RETENTION (7 * 86400)

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct cli {
	const char *config_file;
	char **sets;
	int nsets;
	const char *words[4];      /* the command and its sub-command */
	int nwords;
	bool help;
	bool sample;
	const char *until;         /* user ban --until */
	const char *session;       /* sessions revoke --session */
};

static const char usage_main[] =
	"usage: gatehouse [--config FILE] [--set name=value]... [COMMAND]\n"
	"\n"
	"An identity provider and player-data backend for games, in one daemon.\n"
	"\n"
	"Commands:\n"
	"  serve           run the daemon (the default)\n"
	"  check-config    check the configuration and print the effective settings\n"
	"  keys list       list the signing keys and their state\n"
	"  keys rotate     make a new signing key current now (emergency rotation)\n"
	"  user show ID    print an account as JSON\n"
	"  user ban ID [--until TIME]    ban (and log out) a user, for good or until TIME\n"
	"  user unban ID   lift a ban\n"
	"  user delete ID  erase a user with all their sessions and data\n"
	"  sessions revoke ID [--session SID]   end a user's sessions (or one of them)\n"
	"  backup FILE     write a consistent, checked copy of the database (online)\n"
	"  check-db [FILE] check a database file (default: the configured one)\n"
	"  routes          list the HTTP routes (method and path)\n"
	"  version         print the version\n"
	"\n"
	"Options (for every command):\n"
	"  -c, --config FILE   read settings from FILE (also $GATEHOUSE_CONFIG)\n"
	"  --set name=value    override one setting (repeatable)\n"
	"  -h, --help          show help for the command\n"
	"\n"
	"Settings come from --set, then GATEHOUSE_<NAME> environment variables, then the\n"
	"config file, then built-in defaults; 'gatehouse check-config --sample' prints\n"
	"them all with their documentation.\n";

static const char usage_serve[] =
	"usage: gatehouse serve [--config FILE] [--set name=value]...\n"
	"\n"
	"Runs the daemon in the foreground, logging to stderr. With no configuration it\n"
	"listens on 127.0.0.1:8080 and keeps its database in ./var/. SIGTERM or SIGINT\n"
	"stop it gracefully (in-flight requests finish, up to shutdown_timeout).\n";

static const char usage_check[] =
	"usage: gatehouse check-config [--config FILE] [--set name=value]... [--sample]\n"
	"\n"
	"Checks the configuration; prints the effective settings and exits 0, or prints\n"
	"the first problem (with file and line) and exits 2.\n"
	"  --sample   print the documented sample config file instead\n";

static const char usage_keys[] =
	"usage: gatehouse keys list|rotate [--config FILE] [--set name=value]...\n"
	"\n"
	"  list     show every signing key: kid, use, algorithm, state, activation time\n"
	"  rotate   create a new access key (signing_alg) and refresh key that sign from\n"
	"           now on; the old keys stay published until no token they signed can\n"
	"           be live. A running daemon picks the new keys up within 2 seconds.\n";

static const char usage_user[] =
	"usage: gatehouse user show|ban|unban|delete ID [--until TIME] [--config FILE]\n"
	"\n"
	"Operator commands on the daemon's database; they work while the daemon runs and\n"
	"count from the next request on.\n"
	"  show ID      print the account as JSON (the fields of GET /get-user)\n"
	"  ban ID       refuse the user's logins, refreshes and tokens, and end their\n"
	"               sessions; --until TIME ends the ban at TIME (RFC 3339, e.g.\n"
	"               2027-01-31T00:00:00Z) or after a duration (e.g. 7d); without it,\n"
	"               for good\n"
	"  unban ID     lift a ban (ended sessions stay ended)\n"
	"  delete ID    erase the user, identities, sessions and player data\n"
	"Exit status: 0 done, 1 no such user, 2 usage error.\n";

static const char usage_sessions[] =
	"usage: gatehouse sessions revoke ID [--session SID] [--config FILE]\n"
	"\n"
	"Ends every live session of user ID, or only session SID; their refresh tokens\n"
	"stop working at once. Access tokens already issued stay valid until they expire\n"
	"(at most access_token_ttl); ban the user to refuse those too.\n"
	"Exit status: 0 done, 1 no such user or session, 2 usage error.\n";

static const char usage_backup[] =
	"usage: gatehouse backup FILE [--config FILE] [--set name=value]...\n"
	"\n"
	"Writes a consistent copy of the database to FILE while the daemon serves\n"
	"(SQLite VACUUM INTO), fsyncs it, checks its integrity and only then gives it its\n"
	"name. FILE must not exist. Exit status: 0 done, 1 failed, 2 usage error.\n"
	"To restore: stop the daemon, check the copy with 'gatehouse check-db FILE',\n"
	"remove the database and its -wal and -shm files, copy FILE to database_path,\n"
	"start the daemon.\n";

static const char usage_check_db[] =
	"usage: gatehouse check-db [FILE] [--config FILE] [--set name=value]...\n"
	"\n"
	"Opens a database file read-only (default: database_path) and checks its\n"
	"integrity and foreign keys; prints what it holds. Exit status: 0 healthy,\n"
	"1 damaged, unreadable or not a gatehouse database, 2 usage error.\n";

static const char usage_routes[] =
	"usage: gatehouse routes\n\nLists every route of the HTTP router as METHOD PATH (without\n"
	"base_path); openapi.json documents exactly these.\n";

static const char usage_version[] = "usage: gatehouse version\n\nPrints the version.\n";

static int parse_cli(int argc, char **argv, struct cli *cli)
{
	memset(cli, 0, sizeof *cli);
	cli->sets = calloc((size_t)argc, sizeof *cli->sets);
	if (!cli->sets)
		return -1;
	cli->config_file = getenv("GATEHOUSE_CONFIG");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
			if (++i == argc)
				return -1;
			cli->config_file = argv[i];
		} else if (!strncmp(a, "--config=", 9)) {
			cli->config_file = a + 9;
		} else if (!strcmp(a, "--set")) {
			if (++i == argc)
				return -1;
			cli->sets[cli->nsets++] = argv[i];
		} else if (!strncmp(a, "--set=", 6)) {
			cli->sets[cli->nsets++] = (char *)a + 6;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cli->help = true;
		} else if (!strcmp(a, "--sample")) {
			cli->sample = true;
		} else if (!strcmp(a, "--until") || !strcmp(a, "--session")) {
			if (++i == argc)
				return -1;
			*(a[2] == 'u' ? &cli->until : &cli->session) = argv[i];
		} else if (a[0] == '-') {
			fprintf(stderr, "gatehouse: unknown option '%s'\n", a);
			return -1;
		} else if (cli->nwords < (int)GH_ARRAY_SIZE(cli->words)) {
			cli->words[cli->nwords++] = a;
		} else {
			return -1;
		}
	}
	if (cli->config_file && !*cli->config_file)
		cli->config_file = NULL;
	return 0;
}

static int load_config(const struct cli *cli, struct config *cfg)
{
	char err[512];
	if (config_load(cfg, cli->config_file, cli->sets, cli->nsets, err, sizeof err)) {
		fprintf(stderr, "gatehouse: configuration error: %s\n", err);
		config_release(cfg);
		return -1;
	}
	log_configure(cfg->log_level, cfg->log_format);
	return 0;
}

static int open_store(const struct config *cfg, bool operator_mode, int readers,
		      struct store **st)
{
	struct store_options so = {
		.path = cfg->database_path,
		.sync_full = cfg->sqlite_synchronous == SYNC_FULL,
		.busy_timeout_ms = cfg->sqlite_busy_timeout * 1000,
		.readers = readers,
		.group_commit = cfg->group_commit,
		.operator_mode = operator_mode,
	};
	char err[512];
	if (store_open(&so, st, err, sizeof err)) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

static void key_policy_from(const struct config *cfg, struct key_policy *p)
{
	p->access_alg = cfg->signing_alg == ALG_ES256 ? KEY_ES256 : KEY_RS256;
	p->rotation_interval = cfg->key_rotation_interval;
	p->prepublish = cfg->key_prepublish;
	p->access_token_ttl = cfg->access_token_ttl;
	p->refresh_token_ttl = cfg->refresh_token_ttl;
}

/* ---- keys ---- */

static int cmd_keys(const struct cli *cli, const struct config *cfg)
{
	const char *sub = cli->nwords > 1 ? cli->words[1] : NULL;
	if (!sub || (strcmp(sub, "list") && strcmp(sub, "rotate"))) {
		fputs(usage_keys, stderr);
		return EXIT_USAGE;
	}
	struct store *st;
	if (open_store(cfg, true, 1, &st))
		return EXIT_FAIL;
	struct key_policy pol;
	key_policy_from(cfg, &pol);
	struct keyring *kr = keyring_new(st, &pol);
	int rc = keyring_reload(kr);
	int64_t now = gh_now();
	if (!rc && !strcmp(sub, "rotate")) {
		rc = keyring_rotate_now(kr, now);
		if (!rc) {
			struct keyset *ks = keyring_get(kr);
			const struct signing_key *k = NULL;
			for (size_t i = 0; i < ks->n; i++)
				if (ks->keys[i].use == KEY_USE_ACCESS &&
				    (!k || ks->keys[i].activate_at >= k->activate_at))
					k = &ks->keys[i];
			printf("rotated: access key %s (%s) signs from now on; a running daemon "
			       "picks it up within 2 seconds\n", k ? k->kid : "?",
			       k ? key_alg_name(k->alg) : "?");
			keyset_put(ks);
		}
	} else if (!rc) {
		struct keyset *ks = keyring_get(kr);
		printf("%-36s  %-7s  %-5s  %-8s  %-20s  %s\n", "KID", "USE", "ALG", "STATE",
		       "SIGNS FROM", "CREATED");
		for (size_t i = 0; i < ks->n; i++) {
			const struct signing_key *k = &ks->keys[i];
			const struct signing_key *cur = keyset_signing_key(ks, k->use, now);
			const char *state = k == cur ? "current" : k->activate_at > now ? "next" :
					    "previous";
			char act[32], created[32];
			gh_format_time(k->activate_at, act, sizeof act);
			gh_format_time(k->created_at, created, sizeof created);
			printf("%-36s  %-7s  %-5s  %-8s  %-20s  %s\n", k->kid,
			       k->use == KEY_USE_ACCESS ? "access" : "refresh",
			       key_alg_name(k->alg), state, act, created);
		}
		if (ks->n == 0)
			printf("(no keys yet: the daemon creates them at its first start)\n");
		keyset_put(ks);
	}
	keyring_free(kr);
	store_close(st);
	if (rc) {
		log_error("keys %s failed: %s", sub, gh_strerror(rc));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* ---- user and sessions ---- */

/* "7d"-style durations from now, or an RFC 3339 time. 0 or -1. */
static int parse_when(const char *s, int64_t now, int64_t *out)
{
	int64_t d;
	if (gh_parse_duration(s, &d) == 0) {
		/* Beyond the end of time is for good. */
		*out = d >= STORE_BAN_FOREVER - now ? STORE_BAN_FOREVER : now + d;
		return 0;
	}
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	int used = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
		return -1;
	const char *p = s + used;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	int64_t offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm, n = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != 5 || hh > 23 || mm > 59)
			return -1;
		offset = (hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -1;
	}
	if (*p || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	struct tm want = tm, back;
	time_t t = timegm(&tm);
	/* timegm normalises 2030-02-31 to March: a date that moved did not exist. */
	if (!gmtime_r(&t, &back) || back.tm_year != want.tm_year || back.tm_mon != want.tm_mon ||
	    back.tm_mday != want.tm_mday || back.tm_hour != want.tm_hour ||
	    back.tm_min != want.tm_min)
		return -1;
	*out = (int64_t)t - offset;
	return 0;
}

static int cmd_user(const struct cli *cli, const struct config *cfg)
{
	const char *sub = cli->nwords > 1 ? cli->words[1] : NULL;
	const char *id = cli->nwords > 2 ? cli->words[2] : NULL;
	bool is_sessions = !strcmp(cli->words[0], "sessions");
	bool known = sub && (is_sessions ? !strcmp(sub, "revoke") :
			     (!strcmp(sub, "show") || !strcmp(sub, "ban") || !strcmp(sub, "unban") ||
			      !strcmp(sub, "delete")));
	bool extra = known && ((cli->until && (is_sessions || strcmp(sub, "ban"))) ||
			       (cli->session && !is_sessions));
	if (!known || !id || cli->nwords > 3 || extra) {
		fputs(is_sessions ? usage_sessions : usage_user, stderr);
		return EXIT_USAGE;
	}
	int64_t now = gh_now(), until = STORE_BAN_FOREVER, sid = 0;
	if (cli->until && parse_when(cli->until, now, &until)) {
		fprintf(stderr, "gatehouse: --until '%s': expected an RFC 3339 time or a duration\n",
			cli->until);
		return EXIT_USAGE;
	}
	if (cli->session) {
		char *end;
		sid = strtoll(cli->session, &end, 10);
		if (*end || sid <= 0) {
			fprintf(stderr, "gatehouse: --session '%s': expected a session id\n",
				cli->session);
			return EXIT_USAGE;
		}
	}
	if (!gh_is_uuid(id, strlen(id))) {
		fprintf(stderr, "gatehouse: no such user '%s'\n", id);
		return EXIT_FAIL;
	}
	struct store *st;
	if (open_store(cfg, true, 1, &st))
		return EXIT_FAIL;
	int rc;
	int64_t n = 0;
	if (is_sessions) {
		struct store_user u;
		rc = store_user_get(st, id, &u);
		if (!rc && sid)
			rc = store_session_end(st, sid, id, now, "operator", &n);
		else if (!rc)
			rc = store_sessions_end_all(st, id, now, "operator", &n);
		if (!rc && sid && !n)
			rc = GH_ENOTFOUND;
		if (!rc)
			printf("ended %lld session(s) of user %s\n", (long long)n, id);
	} else if (!strcmp(sub, "show")) {
		struct store_account a;
		rc = store_account_get(st, id, now, false, &a);
		if (!rc) {
			json_t *j = account_json(&a, now);
			char *text = json_dumps(j, JSON_INDENT(2));
			printf("%s\n", text ? text : "{}");
			free(text);
			json_decref(j);
		}
		store_account_release(&a);
	} else if (!strcmp(sub, "ban")) {
		rc = store_user_set_ban(st, id, until, now, &n);
		if (!rc) {
			char when[32];
			gh_format_time(until, when, sizeof when);
			printf("banned user %s %s%s (%lld session(s) ended)\n", id,
			       until == STORE_BAN_FOREVER ? "for good" : "until ",
			       until == STORE_BAN_FOREVER ? "" : when, (long long)n);
		}
	} else if (!strcmp(sub, "unban")) {
		rc = store_user_set_ban(st, id, 0, now, NULL);
		if (!rc)
			printf("lifted any ban of user %s\n", id);
	} else {
		rc = store_user_delete(st, id);
		if (!rc)
			printf("deleted user %s\n", id);
	}
	store_close(st);
	if (rc == GH_ENOTFOUND) {
		fprintf(stderr, "gatehouse: no such %s '%s'\n", sid ? "session of user" : "user", id);
		return EXIT_FAIL;
	}
	if (rc) {
		fprintf(stderr, "gatehouse: %s %s failed: %s\n", cli->words[0], sub, gh_strerror(rc));
		return EXIT_FAIL;
	}
	if (!is_sessions && strcmp(sub, "show"))
		log_info("operator: user %s %s%s%s", sub, id, cli->until ? " until " : "",
			 cli->until ? cli->until : "");
	return EXIT_OK;
}

/* ---- backup, check-db, routes ---- */

static int cmd_backup(const struct cli *cli, const struct config *cfg)
{
	if (cli->nwords != 2) {
		fputs(usage_backup, stderr);
		return EXIT_USAGE;
	}
	struct store *st;
	if (open_store(cfg, true, 1, &st))
		return EXIT_FAIL;
	char err[512];
	int rc = store_backup(st, cli->words[1], err, sizeof err);
	store_close(st);
	if (rc) {
		fprintf(stderr, "gatehouse: backup failed: %s\n", err);
		return EXIT_FAIL;
	}
	struct strbuf report = STRBUF_INIT;
	store_check_file(cli->words[1], &report);
	printf("backup written to %s (%s)\n", cli->words[1], report.buf ? report.buf : "");
	sb_release(&report);
	return EXIT_OK;
}

static int cmd_check_db(const struct cli *cli, const struct config *cfg)
{
	if (cli->nwords > 2) {
		fputs(usage_check_db, stderr);
		return EXIT_USAGE;
	}
	const char *path = cli->nwords == 2 ? cli->words[1] : cfg->database_path;
	struct strbuf report = STRBUF_INIT;
	int rc = store_check_file(path, &report);
	printf("%s: %s\n", path, report.buf ? report.buf : "");
	sb_release(&report);
	return rc ? EXIT_FAIL : EXIT_OK;
}

static int cmd_routes(void)
{
	static const char *const names[] = { "GET", "POST", "PUT", "DELETE", "HEAD" };
	size_t n;
	const struct route *routes = router_routes(&n);
	for (size_t i = 0; i < n; i++)
		for (int m = 0; m < (int)GH_ARRAY_SIZE(names); m++)
			if (routes[i].methods & (1u << m))
				printf("%s %s\n", names[m], routes[i].path);
	return EXIT_OK;
}

/* ---- serve ---- */

static unsigned int auto_threads(const struct config *cfg)
{
	if (cfg->http_threads > 0)
		return (unsigned int)cfg->http_threads;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long n = (cpus > 0 ? cpus : 1) * 4;
	return (unsigned int)(n < 4 ? 4 : n > 64 ? 64 : n);
}

/* Lets max_connections sockets exist: raise the soft file limit to the hard one. */
static void raise_fd_limit(const struct config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rlim_t want = (rlim_t)cfg->max_connections + 256;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want)
		log_warn("open file limit %llu is below max_connections + 256",
			 (unsigned long long)rl.rlim_cur);
}

/* The metrics are labelled by the routes of the router's table. */
static void init_metrics(void)
{
	static const char *names[64];
	size_t n;
	const struct route *routes = router_routes(&n);
	if (n > GH_ARRAY_SIZE(names))
		n = GH_ARRAY_SIZE(names);
	for (size_t i = 0; i < n; i++)
		names[i] = routes[i].path;
	metrics_init(names, n);
}

/* Waits for requests in flight to finish, up to the shutdown timeout. */
static void drain(struct http_server *srv, int64_t timeout)
{
	uint64_t deadline = gh_mono_ns() + (uint64_t)timeout * 1000000000ull;
	while (http_in_flight(srv) > 0 && gh_mono_ns() < deadline) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (http_in_flight(srv) > 0)
		log_warn("shutdown timeout: %u requests still in flight", http_in_flight(srv));
}

/* Everything a running daemon holds, in start-up order. */
struct daemon {
	const struct cli *cli;
	struct app app;
	struct config *cfg;        /* the snapshot app.cfg points at */
	struct config **retired;   /* earlier snapshots (a reload), freed at exit */
	size_t nretired;
	struct ratelimit **old_limiters;
	size_t nold_limiters;
	struct rotator *rotator;
	struct http_server *http, *admin;
	unsigned int threads;
};

/* The HTTP servers: the main listener, and the admin one when configured. */
static int start_http(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	struct http_options ho = {
		.listen_address = cfg->listen_address,
		.port = (int)cfg->listen_port,
		.base_path = cfg->base_path,
		.cors_allow_origin = cfg->cors_allow_origin,
		.max_url_size = (size_t)cfg->max_url_size,
		.max_header_size = (size_t)cfg->max_header_size,
		.max_body_size = (size_t)cfg->max_body_size,
		.max_connections = (unsigned int)cfg->max_connections,
		.max_connections_per_ip = (unsigned int)cfg->max_connections_per_ip,
		.idle_timeout = (unsigned int)cfg->idle_timeout,
		.request_timeout = (unsigned int)cfg->request_timeout,
		.threads = d->threads,
		.access_log = cfg->access_log,
		.trusted_proxies = cfg->trusted_proxies,
	};
	char err[512];
	if (http_start(&ho, router_dispatch, &d->app, &d->http, err, sizeof err)) {
		log_error("%s", err);
		return -1;
	}
	if (!*cfg->metrics_listen_address)
		return 0;
	char host[64];
	struct http_options ao = ho;
	config_split_hostport(cfg->metrics_listen_address, host, sizeof host, &ao.port);
	ao.listen_address = host;
	ao.base_path = "";
	ao.threads = 1;
	ao.max_connections = 64;
	ao.max_connections_per_ip = 0;
	if (http_start(&ao, router_dispatch_admin, &d->app, &d->admin, err, sizeof err)) {
		log_error("metrics listener: %s", err);
		return -1;
	}
	log_info("metrics on http://%s/metrics", cfg->metrics_listen_address);
	return 0;
}

/* Provider URLs over plain http are for tests against local fakes. */
static void warn_plain_http(const struct config *cfg)
{
	const char *urls[] = { cfg->steam_api_url, cfg->apple_keys_url, cfg->google_oauth_url,
			       cfg->google_games_url, cfg->facebook_graph_url };
	for (size_t i = 0; i < GH_ARRAY_SIZE(urls); i++)
		if (!strncmp(urls[i], "http://", 7))
			log_warn("a provider URL uses plain http (tests only): %s", urls[i]);
	for (size_t i = 0; i < cfg->noidc; i++)
		if (!strncmp(cfg->oidc[i].jwks_url, "http://", 7))
			log_warn("OIDC provider '%s' keys over plain http (tests only)",
				 cfg->oidc[i].name);
}

/* Store, keys, limiter, rotator and listeners; -1 (logged) on failure. */
static int start_daemon(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	d->threads = auto_threads(cfg);
	d->app.cfg = cfg;
	init_metrics();
	if (open_store(cfg, false, (int)d->threads + 2, &d->app.store))
		return -1;
	struct key_policy pol;
	key_policy_from(cfg, &pol);
	d->app.keyring = keyring_new(d->app.store, &pol);
	token_config_init(&d->app.tokens, cfg->issuer_url, cfg->access_token_ttl);
	d->app.token_cache = token_cache_new((size_t)cfg->access_token_cache);
	int rc = keyring_reload(d->app.keyring);
	if (!rc)
		rc = keyring_maintain(d->app.keyring, gh_now(), NULL);
	if (rc) {
		log_error("cannot prepare signing keys: %s; refusing to start (restore the "
			  "database, or delete the key named above)", gh_strerror(rc));
		return -1;
	}
	if (cfg->rate_limit_login > 0)
		d->app.limiter = ratelimit_new((uint32_t)cfg->rate_limit_login,
					       cfg->rate_limit_window,
					       (size_t)cfg->rate_limit_max_addresses);
	warn_plain_http(cfg);
	d->app.jwks = jwkscache_new();
	d->app.platform_workers = workpool_new((int)cfg->provider_workers);
	struct rotator_options ro = { .session_retention = SESSION_RETENTION,
				      .guest_cleanup_after = cfg->guest_cleanup_after };
	d->rotator = rotator_start(d->app.keyring, d->app.store, &ro);
	if (!d->rotator) {
		log_error("cannot start the key rotation thread");
		return -1;
	}
	if (start_http(d))
		return -1;
	log_info("gatehouse %s listening on %s port %lld%s%s, issuer %s, database %s, %u threads",
		 GATEHOUSE_VERSION, cfg->listen_address, (long long)cfg->listen_port,
		 *cfg->base_path ? " under " : "", cfg->base_path, cfg->issuer_url,
		 cfg->database_path, d->threads);
	return 0;
}

static void stop_daemon(struct daemon *d)
{
	/* Workers resume their connections when done: stop them before the server. */
	workpool_stop(d->app.platform_workers);
	http_stop(d->http);
	http_stop(d->admin);
	rotator_stop(d->rotator);
	jwkscache_free(d->app.jwks);
	ratelimit_free(d->app.limiter);
	for (size_t i = 0; i < d->nold_limiters; i++)
		ratelimit_free(d->old_limiters[i]);
	free(d->old_limiters);
	keyring_free(d->app.keyring);
	token_cache_free(d->app.token_cache);
	token_config_release(&d->app.tokens);
	store_close(d->app.store);
	for (size_t i = 0; i < d->nretired; i++) {
		config_release(d->retired[i]);
		free(d->retired[i]);
	}
	free(d->retired);
	config_release(d->cfg);
	free(d->cfg);
}

/*
 * SIGHUP: reads the configuration again from the same sources, applies the
 * reloadable settings (a new snapshot for app.cfg, plus the limiter, the
 * access log, the log level and guest clean-up), and says in the log what
 * it applied and what needs a restart. A bad configuration changes nothing.
 */
static void reload(struct daemon *d)
{
	struct config fresh;
	char err[512];
	if (config_load(&fresh, d->cli->config_file, d->cli->sets, d->cli->nsets, err,
			sizeof err)) {
		log_error("reload: configuration error, nothing changed: %s", err);
		config_release(&fresh);
		return;
	}
	struct config *next = config_dup(d->cfg);
	struct strbuf applied = STRBUF_INIT, restart = STRBUF_INIT;
	config_merge_reloadable(next, &fresh, &applied, &restart);
	config_release(&fresh);
	/* Said before applying: a new log_level must not hide it. */
	log_info("reload: applied: %s; needs a restart: %s", applied.len ? applied.buf : "nothing",
		 restart.len ? restart.buf : "nothing");
	if (!applied.len) {
		config_release(next);
		free(next);
	} else {
		/* Requests may still read the old snapshot: keep it until exit. */
		d->retired = xrealloc(d->retired, (d->nretired + 1) * sizeof *d->retired);
		d->retired[d->nretired++] = d->cfg;
		d->cfg = next;
		d->app.cfg = next;
		log_configure(next->log_level, next->log_format);
		http_set_access_log(d->http, next->access_log);
		rotator_set_guest_cleanup(d->rotator, next->guest_cleanup_after);
		struct ratelimit *rl = d->app.limiter;
		if (next->rate_limit_login > 0 && rl) {
			ratelimit_reconfigure(rl, (uint32_t)next->rate_limit_login,
					      next->rate_limit_window);
		} else if (next->rate_limit_login > 0) {
			d->app.limiter = ratelimit_new((uint32_t)next->rate_limit_login,
						       next->rate_limit_window,
						       (size_t)next->rate_limit_max_addresses);
		} else if (rl) {
			/* Requests may still hold it: free it at exit. */
			d->app.limiter = NULL;
			d->old_limiters = xrealloc(d->old_limiters,
						   (d->nold_limiters + 1) * sizeof *d->old_limiters);
			d->old_limiters[d->nold_limiters++] = rl;
		}
	}
	sb_release(&applied);
	sb_release(&restart);
}

/* Tells systemd the daemon is alive, when it watches; only when healthy. */
static void watchdog_ping(struct daemon *d)
{
	if (store_ping(d->app.store) == 0)
		sd_notify(0, "WATCHDOG=1");
	else
		log_warn("watchdog: the database does not answer; not reassuring systemd");
}

static int cmd_serve(const struct cli *cli, struct config *cfg)
{
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	/* Every thread started from here on inherits the blocked set. */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	raise_fd_limit(cfg);

	/* The daemon's own copy: a reload retires it, and it is freed at exit. */
	struct daemon d = { .cli = cli, .cfg = config_dup(cfg) };
	if (start_daemon(&d)) {
		stop_daemon(&d);
		return EXIT_FAIL;
	}
	/* /health answers from here on (systemd Type=notify). */
	sd_notifyf(0, "READY=1\nSTATUS=serving on %s port %lld", cfg->listen_address,
		   (long long)cfg->listen_port);
	uint64_t watchdog_usec = 0;
	if (sd_watchdog_enabled(0, &watchdog_usec) <= 0)
		watchdog_usec = 0;
	for (;;) {
		int sig;
		if (watchdog_usec) {
			uint64_t half = watchdog_usec / 2;
			struct timespec ts = { (time_t)(half / 1000000), (long)(half % 1000000) * 1000 };
			sig = sigtimedwait(&sigs, NULL, &ts);
			if (sig < 0) {
				if (errno == EAGAIN)
					watchdog_ping(&d);
				continue;
			}
		} else if (sigwait(&sigs, &sig) != 0) {
			continue;
		}
		if (sig == SIGHUP) {
			sd_notify(0, "RELOADING=1");
			reload(&d);
			sd_notify(0, "READY=1");
			continue;
		}
		break;
	}
	sd_notify(0, "STOPPING=1");
	log_info("stopping: draining requests (up to %llds)", (long long)d.cfg->shutdown_timeout);
	/* A quarter of the drain time at most for connections still being accepted. */
	http_quiesce(d.http, d.cfg->shutdown_timeout * 250);
	drain(d.http, d.cfg->shutdown_timeout);
	workpool_stop(d.app.platform_workers);
	d.app.platform_workers = NULL;
	stop_daemon(&d);
	log_info("stopped");
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct cli cli;
	if (parse_cli(argc, argv, &cli)) {
		fputs(usage_main, stderr);
		free(cli.sets);
		return EXIT_USAGE;
	}
	const char *cmd = cli.nwords ? cli.words[0] : "serve";
	/* Plain 'gatehouse --help' is about gatehouse, not about serve. */
	const char *help = !cli.nwords ? usage_main :
			   !strcmp(cmd, "serve") ? usage_serve :
			   !strcmp(cmd, "check-config") ? usage_check :
			   !strcmp(cmd, "keys") ? usage_keys :
			   !strcmp(cmd, "user") ? usage_user :
			   !strcmp(cmd, "sessions") ? usage_sessions :
			   !strcmp(cmd, "backup") ? usage_backup :
			   !strcmp(cmd, "check-db") ? usage_check_db :
			   !strcmp(cmd, "routes") ? usage_routes :
			   !strcmp(cmd, "version") ? usage_version :
			   !strcmp(cmd, "help") ? usage_main : NULL;
	int ret;
	if (!help) {
		fprintf(stderr, "gatehouse: unknown command '%s'\n\n%s", cmd, usage_main);
		ret = EXIT_USAGE;
		goto out;
	}
	if (cli.help || !strcmp(cmd, "help")) {
		fputs(help, stdout);
		ret = EXIT_OK;
		goto out;
	}
	if (!strcmp(cmd, "version")) {
		printf("gatehouse %s (database schema %d)\n", GATEHOUSE_VERSION,
		       store_schema_version());
		ret = EXIT_OK;
		goto out;
	}
	if (!strcmp(cmd, "check-config") && cli.sample) {
		config_write_sample(stdout);
		ret = EXIT_OK;
		goto out;
	}
	if (!strcmp(cmd, "routes")) {
		ret = cmd_routes();
		goto out;
	}

	signal(SIGPIPE, SIG_IGN);
	json_object_seed(0);
	struct config cfg;
	if (load_config(&cli, &cfg)) {
		ret = EXIT_USAGE;
		goto out;
	}
	if (!strcmp(cmd, "check-config")) {
		config_write_effective(&cfg, stdout);
		fprintf(stderr, "configuration ok%s%s\n", cli.config_file ? ": " : "",
			cli.config_file ? cli.config_file : "");
		ret = EXIT_OK;
	} else if (!strcmp(cmd, "keys")) {
		ret = cmd_keys(&cli, &cfg);
	} else if (!strcmp(cmd, "user") || !strcmp(cmd, "sessions")) {
		ret = cmd_user(&cli, &cfg);
	} else if (!strcmp(cmd, "backup")) {
		ret = cmd_backup(&cli, &cfg);
	} else if (!strcmp(cmd, "check-db")) {
		ret = cmd_check_db(&cli, &cfg);
	} else if (httpc_global_init()) {
		log_error("cannot initialise libcurl");
		ret = EXIT_FAIL;
	} else {
		ret = cmd_serve(&cli, &cfg);
		httpc_global_cleanup();
	}
	config_release(&cfg);
out:
	free(cli.sets);
	return ret;
}
