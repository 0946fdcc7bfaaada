/*
 * daemon.c - the running daemon: start-up in dependency order (a probe of
 * the listeners, the store and its lock, keys, limiter, rotator,
 * listeners), systemd notification and watchdog, reload on SIGHUP, and the
 * draining shutdown on SIGTERM.
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

#include <systemd/sd-daemon.h>

#include "gatehouse/alloc.h"
#include "gatehouse/app.h"
#include "gatehouse/clock.h"
#include "gatehouse/config.h"
#include "gatehouse/daemon.h"
#include "gatehouse/errors.h"
#include "gatehouse/http.h"
#include "gatehouse/jwkscache.h"
#include "gatehouse/keyring.h"
#include "gatehouse/keywrap.h"
#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/ratelimit.h"
#include "gatehouse/rotator.h"
#include "gatehouse/router.h"
#include "gatehouse/store.h"
#include "gatehouse/store_pg.h"
#include "gatehouse/store_sqlite.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/tokencache.h"
#include "gatehouse/workpool.h"
#include "gatehouse/banned.h"

#ifndef GATEHOUSE_VERSION
#define GATEHOUSE_VERSION "0.0.0-dev"
#endif

/* Ended sessions stay visible (account export, audits) this long. */
#define SESSION_RETENTION (7 * 86400)

int daemon_open_store(const struct config *cfg, bool operator_mode, int readers,
		      struct store **st)
{
	struct store_sqlite_options sq = {
		.sync_full = cfg->sqlite_synchronous == SYNC_FULL,
		.busy_timeout_ms = cfg->sqlite_busy_timeout * 1000,
		.cache_bytes = cfg->sqlite_cache_size,
		.operator_mode = operator_mode,
	};
	struct store_pg_options pg = {
		.password = cfg->database_password,
		.connect_timeout_s = cfg->database_connect_timeout,
		.statement_timeout_ms = cfg->database_statement_timeout * 1000,
		.lock_timeout_ms = cfg->database_lock_timeout * 1000,
		.auto_migrate = cfg->database_auto_migrate,
	};
	bool is_pg = config_database_is_pg(cfg);
	if (is_pg && !operator_mode && readers > 1) {
		/* Settings that only SQLite reads, changed with a URI: said, not fatal. */
		static const char *const sqlite_only[] = {
			"sqlite_synchronous", "sqlite_busy_timeout", "sqlite_cache_size",
			"group_commit",
		};
		for (size_t i = 0; i < GH_ARRAY_SIZE(sqlite_only); i++)
			if (!config_is_default(cfg, sqlite_only[i]))
				log_warn("%s is a SQLite setting: ignored with a PostgreSQL database",
					 sqlite_only[i]);
	}
	struct store_options so = {
		.path = cfg->database,
		.readers = is_pg ? (int)cfg->database_pool_size : readers,
		.group_commit = cfg->group_commit,
		/* Operator commands never create a database; the daemon holds its lock. */
		.must_exist = operator_mode,
		.exclusive = !operator_mode,
		.warm = !operator_mode,
		.sqlite = &sq,
		.pg = &pg,
	};
	char err[512];
	if (store_open(&so, st, err, sizeof err)) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

int daemon_keywrap(const struct config *cfg, struct keywrap **out)
{
	*out = NULL;
	if (!*cfg->key_encryption_key_file)
		return 0;
	char err[512];
	if (keywrap_load(cfg->key_encryption_key_file, out, err, sizeof err)) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

void daemon_key_policy(const struct config *cfg, struct key_policy *p)
{
	p->access_alg = cfg->signing_alg == ALG_ES256 ? KEY_ES256 : KEY_RS256;
	p->rotation_interval = cfg->key_rotation_interval;
	p->prepublish = cfg->key_prepublish;
	p->propagation = cfg->key_propagation;
	p->access_token_ttl = cfg->access_token_ttl;
	p->refresh_token_ttl = cfg->refresh_token_ttl;
}

static unsigned int auto_threads(const struct config *cfg)
{
	if (cfg->http_threads > 0)
		return (unsigned int)cfg->http_threads;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long n = (cpus > 0 ? cpus : 1) * 4;
	return (unsigned int)(n < 4 ? 4 : n > 64 ? 64 : n);
}

/* write_workers: 0 = eight per CPU, at least 16 (a few per CPU sign, the rest wait for commits). */
static int auto_write_workers(const struct config *cfg)
{
	if (cfg->write_workers > 0)
		return (int)cfg->write_workers;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long n = (cpus > 0 ? cpus : 1) * 8;
	return (int)(n < 16 ? 16 : n > 256 ? 256 : n);
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
	size_t n, na, k = 0;
	const struct route *routes = router_routes(&n);
	const struct route *admin = router_admin_routes(&na);
	for (size_t i = 0; i < n && k < GH_ARRAY_SIZE(names); i++)
		names[k++] = routes[i].path;
	/* The admin listener's own routes (the others share the public ones' labels). */
	for (size_t i = 0; i < na && k < GH_ARRAY_SIZE(names); i++)
		if (admin[i].flags & (R_ADMIN | R_CONSOLE))
			names[k++] = admin[i].path;
	metrics_init(names, k);
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
	const struct daemon_config_source *src;
	struct app app;
	struct config *cfg;        /* the snapshot app.cfg points at */
	struct config **retired;   /* earlier snapshots (a reload), freed at exit */
	size_t nretired;
	struct ratelimit **old_limiters;
	size_t nold_limiters;
	struct rotator *rotator;
	struct store_watch *watch;  /* another node's key change, pushed (PostgreSQL) */
	struct keywrap *keywrap;   /* seals the signing keys at rest, or NULL */
	struct http_server *http, *admin;
	unsigned int threads;
};

/*
 * The HTTP servers' options: the main listener's, and the admin one's
 * (*admin false when not configured; host holds its address).
 */
static void http_opts(const struct daemon *d, struct http_options *ho, struct http_options *ao,
		      char host[64], bool *admin)
{
	const struct config *cfg = d->cfg;
	*ho = (struct http_options){
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
		.write_timeout = (unsigned int)cfg->write_timeout,
		.threads = d->threads,
		.access_log = cfg->access_log,
		.trusted_proxies = cfg->trusted_proxies,
	};
	*admin = *cfg->admin_listen_address != '\0';
	if (!*admin)
		return;
	*ao = *ho;
	config_split_hostport(cfg->admin_listen_address, host, 64, &ao->port);
	ao->listen_address = host;
	ao->base_path = "";
	ao->cors_allow_origin = ""; /* no CORS: the console is served from the same origin */
	ao->threads = 1;
	ao->max_connections = 64;
	ao->max_connections_per_ip = 0;
}

/*
 * Before anything is touched (the database created, migrated or given
 * keys): can the listeners be bound? A port in use stops start-up here.
 */
static int probe_http(const struct daemon *d)
{
	struct http_options ho, ao;
	char host[64], err[512];
	bool admin;
	http_opts(d, &ho, &ao, host, &admin);
	if (http_probe(&ho, err, sizeof err)) {
		log_error("%s; nothing was changed", err);
		return -1;
	}
	if (admin && http_probe(&ao, err, sizeof err)) {
		log_error("admin listener: %s; nothing was changed", err);
		return -1;
	}
	return 0;
}

/* The HTTP servers: the main listener, and the admin one when configured. */
static int start_http(struct daemon *d)
{
	struct http_options ho, ao;
	char host[64], err[512];
	bool admin;
	http_opts(d, &ho, &ao, host, &admin);
	if (http_start(&ho, router_dispatch, &d->app, &d->http, err, sizeof err)) {
		log_error("%s", err);
		return -1;
	}
	if (!admin)
		return 0;
	if (http_start(&ao, router_dispatch_admin, &d->app, &d->admin, err, sizeof err)) {
		log_error("admin listener: %s", err);
		return -1;
	}
	if (config_admin_api(d->cfg))
		log_info("admin API on http://%s/admin/, console on http://%s/console, metrics on "
			 "http://%s/metrics (%zu admin token(s))", d->cfg->admin_listen_address,
			 d->cfg->admin_listen_address, d->cfg->admin_listen_address,
			 d->cfg->nadmin_tokens);
	else
		log_info("metrics on http://%s/metrics", d->cfg->admin_listen_address);
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
	if (probe_http(d))
		return -1;
	/* Before the store: a missing key file changes nothing on disk. */
	if (daemon_keywrap(cfg, &d->keywrap)) {
		log_error("refusing to start: key_encryption_key_file cannot be used");
		return -1;
	}
	if (daemon_open_store(cfg, false, (int)d->threads + 2, &d->app.store))
		return -1;
	struct key_policy pol;
	daemon_key_policy(cfg, &pol);
	d->app.keyring = keyring_new(d->app.store, &pol);
	keyring_set_keywrap(d->app.keyring, d->keywrap);
	token_config_init(&d->app.tokens, cfg->issuer_url, cfg->access_token_ttl);
	d->app.token_cache = tokencache_new((size_t)cfg->access_token_cache);
	int rc = keyring_reload(d->app.keyring);
	if (!rc)
		rc = keyring_maintain(d->app.keyring, gh_now(), NULL);
	if (rc) {
		log_error("cannot prepare signing keys: %s; refusing to start, nothing "
			  "changed (check key_encryption_key_file, restore the database, or "
			  "delete the key named above)", gh_strerror(rc));
		return -1;
	}
	if (cfg->rate_limit_login > 0)
		d->app.limiter = ratelimit_new((uint32_t)cfg->rate_limit_login,
					       cfg->rate_limit_window,
					       (size_t)cfg->rate_limit_max_addresses);
	warn_plain_http(cfg);
	d->app.jwks = jwkscache_new();
	d->app.platform_workers = workpool_new((int)cfg->provider_workers);
	d->app.write_workers = workpool_new(auto_write_workers(cfg));
	struct rotator_options ro = { .session_retention = SESSION_RETENTION,
				      .guest_cleanup_after = cfg->guest_cleanup_after };
	d->rotator = rotator_start(d->app.keyring, d->app.store, &ro);
	if (!d->rotator) {
		log_error("cannot start the key rotation thread");
		return -1;
	}
	d->watch = store_watch_start(d->app.store, rotator_poke, d->rotator);
	if (start_http(d))
		return -1;
	char *db_shown = store_database_redacted(cfg->database);
	log_info("gatehouse %s listening on %s port %lld%s%s, issuer %s, database %s (%s), "
		 "%u threads", GATEHOUSE_VERSION, cfg->listen_address,
		 (long long)cfg->listen_port, *cfg->base_path ? " under " : "", cfg->base_path,
		 cfg->issuer_url, db_shown, store_backend_name(d->app.store), d->threads);
	free(db_shown);
	return 0;
}

static void stop_daemon(struct daemon *d)
{
	/*
	 * Workers, and the writer's callbacks of asynchronous document writes,
	 * resume their connections when done: finish them before the server.
	 * The pools are freed only after it: until then a kept-alive connection
	 * may bring one more request, which finds them stopped and runs on its
	 * request thread (workpool_submit says false).
	 */
	workpool_stop(d->app.platform_workers);
	workpool_stop(d->app.write_workers);
	if (d->app.store)
		store_async_close(d->app.store);
	http_stop(d->http);
	http_stop(d->admin);
	workpool_free(d->app.platform_workers);
	workpool_free(d->app.write_workers);
	store_watch_stop(d->watch);
	rotator_stop(d->rotator);
	jwkscache_free(d->app.jwks);
	ratelimit_free(d->app.limiter);
	for (size_t i = 0; i < d->nold_limiters; i++)
		ratelimit_free(d->old_limiters[i]);
	free(d->old_limiters);
	keyring_free(d->app.keyring);
	keywrap_free(d->keywrap);
	tokencache_free(d->app.token_cache);
	token_config_release(&d->app.tokens);
	store_close(d->app.store);
	for (size_t i = 0; i < d->nretired; i++) {
		config_free(d->retired[i]);
	}
	free(d->retired);
	config_free(d->cfg);
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
	if (config_load(&fresh, d->src->file, d->src->sets, d->src->nsets, err,
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
		config_free(next);
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

int daemon_serve(const struct daemon_config_source *src, const struct config *cfg)
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
	struct daemon d = { .src = src, .cfg = config_dup(cfg) };
	if (start_daemon(&d)) {
		stop_daemon(&d);
		return -1;
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
	stop_daemon(&d);
	log_info("stopped");
	return 0;
}
