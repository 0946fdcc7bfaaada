/*
 * metrics.c - fixed arrays of atomic counters indexed by route, status,
 * method and outcome, so that recording is one atomic add and rendering
 * walks them in a fixed order. No label set is created at run time.
 */
#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "gatehouse/metrics.h"
#include "gatehouse/banned.h"

#define MAX_ROUTES 48
/* Histogram upper bounds, seconds (the +Inf bucket is implicit). */
static const double bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define NBUCKETS (sizeof bounds / sizeof bounds[0])
/* The statuses the daemon answers; anything else counts as "other". */
static const int statuses[] = { 200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409,
				412, 413, 414, 415, 429, 431, 500, 501, 502, 503, 504 };
#define NSTATUS (sizeof statuses / sizeof statuses[0])

struct histogram {
	atomic_uint_fast64_t buckets[NBUCKETS + 1]; /* non-cumulative; last is +Inf */
	atomic_uint_fast64_t sum_ns;
	atomic_uint_fast64_t count;
};

static const char *const *route_names;
static size_t nroutes;

static atomic_uint_fast64_t requests[MAX_ROUTES + 1][NSTATUS + 1];
static struct histogram durations[MAX_ROUTES + 1];
static atomic_uint_fast64_t logins[LOGIN_METHOD_COUNT][LOGIN_OUTCOME_COUNT];
static atomic_uint_fast64_t verifications[2][2];
static atomic_uint_fast64_t counters[M_COUNTER_COUNT];
static struct histogram commits;
static const char *const providers[] = { "steam", "apple", "google_play", "facebook", "oidc" };
#define NPROVIDERS (sizeof providers / sizeof providers[0])
static atomic_uint_fast64_t provider_requests[NPROVIDERS][2];
static struct histogram provider_durations[NPROVIDERS];
static atomic_int_fast64_t gauges[G_GAUGE_COUNT];
static atomic_uint_fast64_t admin_requests[ADMIN_OUTCOME_COUNT];
static const char *const admin_outcomes[ADMIN_OUTCOME_COUNT] = {
	"ok", "unauthorized", "client_error", "server_error",
};

static const char *const method_names[LOGIN_METHOD_COUNT] = {
	"guest_new", "guest", "refresh", "steam", "apple", "google_play", "facebook", "oidc",
};
static const char *const outcome_names[LOGIN_OUTCOME_COUNT] = {
	"success", "rejected", "banned", "provider_error", "error",
};

/* Wall-clock time of metrics_init: the start time when /proc/stat is hidden. */
static double init_time;

void metrics_init(const char *const *routes, size_t n)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	init_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	route_names = routes;
	nroutes = n < MAX_ROUTES ? n : MAX_ROUTES;
}

static size_t route_index(const char *route)
{
	for (size_t i = 0; i < nroutes; i++)
		if (route == route_names[i] || (route && !strcmp(route, route_names[i])))
			return i;
	return nroutes; /* "unmatched" */
}

static size_t status_index(int status)
{
	for (size_t i = 0; i < NSTATUS; i++)
		if (statuses[i] == status)
			return i;
	return NSTATUS;
}

static void observe(struct histogram *h, uint64_t ns)
{
	double s = (double)ns / 1e9;
	size_t b = 0;
	while (b < NBUCKETS && s > bounds[b])
		b++;
	atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void metrics_http_request(const char *route, int status, uint64_t duration_ns)
{
	size_t r = route_index(route);
	atomic_fetch_add_explicit(&requests[r][status_index(status)], 1, memory_order_relaxed);
	observe(&durations[r], duration_ns);
}

void metrics_login(int method, int outcome)
{
	if (method >= 0 && method < LOGIN_METHOD_COUNT && outcome >= 0 &&
	    outcome < LOGIN_OUTCOME_COUNT)
		atomic_fetch_add_explicit(&logins[method][outcome], 1, memory_order_relaxed);
}

int metrics_login_outcome(int status)
{
	return status < 300 ? OUTCOME_SUCCESS : status == 403 ? OUTCOME_BANNED :
	       status >= 500 ? OUTCOME_ERROR : OUTCOME_REJECTED;
}

void metrics_token_verification(int kind, bool valid)
{
	atomic_fetch_add_explicit(&verifications[kind == TOKEN_REFRESH][valid ? 0 : 1], 1,
				  memory_order_relaxed);
}

void metrics_inc(int counter)
{
	if (counter >= 0 && counter < M_COUNTER_COUNT)
		atomic_fetch_add_explicit(&counters[counter], 1, memory_order_relaxed);
}

void metrics_provider_request(const char *provider, bool ok, uint64_t duration_ns)
{
	for (size_t i = 0; i < NPROVIDERS; i++)
		if (!strcmp(provider, providers[i])) {
			atomic_fetch_add_explicit(&provider_requests[i][ok ? 0 : 1], 1,
						  memory_order_relaxed);
			observe(&provider_durations[i], duration_ns);
		}
}

void metrics_store_commit(uint64_t duration_ns, int writes)
{
	observe(&commits, duration_ns);
	atomic_fetch_add_explicit(&counters[M_STORE_WRITES], (uint64_t)writes,
				  memory_order_relaxed);
}

void metrics_admin_request(int outcome)
{
	if (outcome >= 0 && outcome < ADMIN_OUTCOME_COUNT)
		atomic_fetch_add_explicit(&admin_requests[outcome], 1, memory_order_relaxed);
}

void metrics_set(int gauge, int64_t value)
{
	if (gauge >= 0 && gauge < G_GAUGE_COUNT)
		atomic_store_explicit(&gauges[gauge], value, memory_order_relaxed);
}

void metrics_family(struct strbuf *sb, const char *name, const char *type, const char *help)
{
	sb_addf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint64_t get(atomic_uint_fast64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void render_histogram(struct strbuf *sb, const char *name, const char *labels,
			     struct histogram *h)
{
	uint64_t cum = 0;
	const char *sep = *labels ? "," : "";
	for (size_t b = 0; b < NBUCKETS; b++) {
		cum += get(&h->buckets[b]);
		sb_addf(sb, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[b],
			(unsigned long long)cum);
	}
	cum += get(&h->buckets[NBUCKETS]);
	sb_addf(sb, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
		(unsigned long long)cum);
	const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
	sb_addf(sb, "%s_sum%s%s%s %.9f\n", name, open, labels, close,
		(double)get(&h->sum_ns) / 1e9);
	sb_addf(sb, "%s_count%s%s%s %llu\n", name, open, labels, close,
		(unsigned long long)get(&h->count));
}

static const char *route_label(size_t r)
{
	return r < nroutes ? route_names[r] : "unmatched";
}

static void render_counter(struct strbuf *sb, const char *name, const char *help, int c)
{
	metrics_family(sb, name, "counter", help);
	sb_addf(sb, "%s %llu\n", name, (unsigned long long)get(&counters[c]));
}

/* Open file descriptors of this process; -1 when /proc is not there. */
static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* Seconds since the epoch at which the system booted (/proc/stat btime); 0 when hidden. */
static double boot_time(void)
{
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return 0;
	char line[256];
	double bt = 0;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "btime ", 6)) {
			bt = strtod(line + 6, NULL);
			break;
		}
	fclose(f);
	return bt;
}

/*
 * The standard process_* families, as the Prometheus client libraries
 * export them, from /proc/self: CPU seconds, resident and virtual memory,
 * open and maximum file descriptors, start time.
 */
static void render_process(struct strbuf *sb)
{
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
	long long rss = 0;
	bool have_stat = false;
	FILE *f = fopen("/proc/self/stat", "r");
	if (f) {
		char buf[1024];
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = '\0';
		fclose(f);
		/* After the command name's closing parenthesis: field 3 on. */
		char *p = strrchr(buf, ')');
		have_stat = p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
					"%llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
					&utime, &stime, &start, &vsize, &rss) == 5;
	}
	if (have_stat && tick > 0) {
		metrics_family(sb, "process_cpu_seconds_total", "counter",
			       "Total user and system CPU time spent in seconds.");
		sb_addf(sb, "process_cpu_seconds_total %.2f\n", (double)(utime + stime) / (double)tick);
		metrics_family(sb, "process_resident_memory_bytes", "gauge",
			       "Resident memory size in bytes.");
		sb_addf(sb, "process_resident_memory_bytes %lld\n", rss * (long long)page);
		metrics_family(sb, "process_virtual_memory_bytes", "gauge",
			       "Virtual memory size in bytes.");
		sb_addf(sb, "process_virtual_memory_bytes %llu\n", vsize);
	}
	long fds = open_fds();
	if (fds >= 0) {
		metrics_family(sb, "process_open_fds", "gauge", "Number of open file descriptors.");
		sb_addf(sb, "process_open_fds %ld\n", fds);
	}
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		metrics_family(sb, "process_max_fds", "gauge",
			       "Maximum number of open file descriptors.");
		if (rl.rlim_cur == RLIM_INFINITY)
			sb_adds(sb, "process_max_fds +Inf\n");
		else
			sb_addf(sb, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	}
	double bt = boot_time();
	double started = (have_stat && bt > 0 && tick > 0) ? bt + (double)start / (double)tick :
							      init_time;
	metrics_family(sb, "process_start_time_seconds", "gauge",
		       "Start time of the process since unix epoch in seconds.");
	sb_addf(sb, "process_start_time_seconds %.2f\n", started);
}

void metrics_render(struct strbuf *sb, const char *version)
{
	metrics_family(sb, "gatehouse_build_info", "gauge", "Build of the running daemon.");
	sb_adds(sb, "gatehouse_build_info{version=");
	sb_add_json_str(sb, version);
	sb_adds(sb, "} 1\n");

	metrics_family(sb, "gatehouse_http_requests_total", "counter",
		       "HTTP requests answered, by route template and status code.");
	for (size_t r = 0; r <= nroutes; r++)
		for (size_t s = 0; s <= NSTATUS; s++) {
			uint64_t v = get(&requests[r][s]);
			if (!v)
				continue;
			char status[8];
			if (s < NSTATUS)
				snprintf(status, sizeof status, "%d", statuses[s]);
			else
				snprintf(status, sizeof status, "other");
			sb_addf(sb, "gatehouse_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
				route_label(r), status, (unsigned long long)v);
		}

	metrics_family(sb, "gatehouse_http_request_duration_seconds", "histogram",
		       "Time from the request line to the end of the answer, by route template.");
	for (size_t r = 0; r <= nroutes; r++) {
		if (!get(&durations[r].count))
			continue;
		char labels[160];
		snprintf(labels, sizeof labels, "route=\"%s\"", route_label(r));
		render_histogram(sb, "gatehouse_http_request_duration_seconds", labels,
				 &durations[r]);
	}

	metrics_family(sb, "gatehouse_logins_total", "counter",
		       "Logins (guest and platform) by method and outcome; refreshes are apart.");
	for (int m = 0; m < LOGIN_METHOD_COUNT; m++)
		for (int o = 0; m != LOGIN_REFRESH && o < LOGIN_OUTCOME_COUNT; o++)
			sb_addf(sb, "gatehouse_logins_total{method=\"%s\",outcome=\"%s\"} %llu\n",
				method_names[m], outcome_names[o],
				(unsigned long long)get(&logins[m][o]));
	metrics_family(sb, "gatehouse_token_refreshes_total", "counter",
		       "Refresh-token exchanges by outcome.");
	for (int o = 0; o < LOGIN_OUTCOME_COUNT; o++)
		if (o != OUTCOME_PROVIDER_ERROR)
			sb_addf(sb, "gatehouse_token_refreshes_total{outcome=\"%s\"} %llu\n",
				outcome_names[o], (unsigned long long)get(&logins[LOGIN_REFRESH][o]));

	metrics_family(sb, "gatehouse_token_verifications_total", "counter",
		       "Tokens presented to the daemon, by type and outcome.");
	for (int k = 0; k < 2; k++)
		for (int v = 0; v < 2; v++)
			sb_addf(sb, "gatehouse_token_verifications_total{type=\"%s\",outcome=\"%s\"} "
				"%llu\n", k ? "refresh" : "access", v ? "invalid" : "valid",
				(unsigned long long)get(&verifications[k][v]));

	render_counter(sb, "gatehouse_refresh_reuse_detected_total",
		       "Spent refresh tokens presented again; each revoked its session.",
		       M_REFRESH_REUSE);
	render_counter(sb, "gatehouse_access_token_cache_hits_total",
		       "Access tokens found already verified (no signature check); the rest of "
		       "gatehouse_token_verifications_total{type=\"access\"} were checked in full.",
		       M_TOKEN_CACHE_HITS);
	render_counter(sb, "gatehouse_rate_limited_total",
		       "Requests refused by the per-client rate limit.", M_RATE_LIMITED);
	render_counter(sb, "gatehouse_store_writes_total",
		       "Write operations run by the database writer.", M_STORE_WRITES);
	render_counter(sb, "gatehouse_store_lock_waits_total",
		       "Waits (retries) for a database lock held by another process.", M_STORE_BUSY);
	render_counter(sb, "gatehouse_store_errors_total",
		       "Database operations that failed (disk full, I/O, ...).", M_STORE_ERRORS);

	metrics_family(sb, "gatehouse_admin_requests_total", "counter",
		       "Requests to the admin API (/admin/...) by outcome; unauthorized: no valid "
		       "admin token.");
	for (int o = 0; o < ADMIN_OUTCOME_COUNT; o++)
		sb_addf(sb, "gatehouse_admin_requests_total{outcome=\"%s\"} %llu\n",
			admin_outcomes[o], (unsigned long long)get(&admin_requests[o]));

	metrics_family(sb, "gatehouse_provider_requests_total", "counter",
		       "Calls to platforms, by provider and whether a proper answer came.");
	for (size_t p = 0; p < NPROVIDERS; p++)
		for (int ok = 0; ok < 2; ok++)
			sb_addf(sb, "gatehouse_provider_requests_total{provider=\"%s\",outcome=\"%s\"} "
				"%llu\n", providers[p], ok ? "error" : "ok",
				(unsigned long long)get(&provider_requests[p][ok]));
	metrics_family(sb, "gatehouse_provider_request_duration_seconds", "histogram",
		       "Time of each call to a platform, by provider.");
	for (size_t p = 0; p < NPROVIDERS; p++) {
		char labels[64];
		snprintf(labels, sizeof labels, "provider=\"%s\"", providers[p]);
		render_histogram(sb, "gatehouse_provider_request_duration_seconds", labels,
				 &provider_durations[p]);
	}

	metrics_family(sb, "gatehouse_store_commit_duration_seconds", "histogram",
		       "Writer transactions from BEGIN to durable COMMIT (group commits).");
	render_histogram(sb, "gatehouse_store_commit_duration_seconds", "", &commits);

	metrics_family(sb, "gatehouse_users", "gauge",
		       "Accounts in the database (counted once a minute).");
	sb_addf(sb, "gatehouse_users %lld\n", (long long)atomic_load(&gauges[G_USERS]));
	metrics_family(sb, "gatehouse_sessions_active", "gauge",
		       "Sessions neither ended nor expired (counted once a minute).");
	sb_addf(sb, "gatehouse_sessions_active %lld\n",
		(long long)atomic_load(&gauges[G_SESSIONS_ACTIVE]));
	render_process(sb);
}
