/*
 * fakeprovider.c - a local stand-in for Steam, Apple, Google Play Games, Facebook
 * and generic OIDC key servers (API.md C.1) for the integration tests. What it
 * answers is chosen by the credential the test sends; /_control steers the JWKS
 * endpoints. See README.md next to this file for the table.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <jansson.h>
#include <microhttpd.h>

#include "gatehouse/banned.h"

/* The credentials the tests configure the daemon with. */
#define STEAM_KEY		"steam-test-key"
#define STEAM_APPID		"480"
#define STEAM_IDENTITY		"gatehouse-test"
#define GP_CLIENT_ID		"gp-client-id.apps.googleusercontent.com"
#define GP_CLIENT_SECRET	"gp-client-secret"
#define GP_APP_ID		"1234567890"
#define FB_APP_ID		"fb-app-123"
#define FB_OTHER_APP_ID		"fb-app-999"

/* The players named by credentials that carry none ("hang", "huge", "notok"). */
#define HANG_STEAMID		"76561197960265728"
#define HANG_ID			"hang"

#define HANG_MS			30000u
#define HUGE_PAD		(2u * 1024 * 1024)	/* padding in a "huge" answer */
#define BODY_MAX		(64u * 1024)		/* request bodies we accept */
#define FILE_MAX		(16u * 1024 * 1024)	/* JWKS files we serve */
#define OIDC_NAME_MAX		48
#define TARGETS_MAX		64
#define LOG_PATH_MAX		200
#define POLL_SLICE_MS		100

#define JSON_TYPE		"application/json"
#define HTML_TYPE		"text/html; charset=UTF-8"

/* How a JWKS endpoint answers (GET /_control?target=&mode=). */
enum jwks_mode { MODE_OK, MODE_HTTP500, MODE_NOTJSON, MODE_HANG, MODE_HUGE, MODE_MISSING };

static const char *const mode_names[] = {
	[MODE_OK] = "ok", [MODE_HTTP500] = "http500", [MODE_NOTJSON] = "notjson",
	[MODE_HANG] = "hang", [MODE_HUGE] = "huge", [MODE_MISSING] = "missing",
};

/* The failure credentials every provider shares. */
enum fault { FAULT_NONE, FAULT_HTTP500, FAULT_NOTJSON, FAULT_HANG, FAULT_HUGE };

struct target {
	char name[sizeof("oidc_") + OIDC_NAME_MAX];	/* "apple" or "oidc_<name>" */
	enum jwks_mode mode;
	unsigned long fetches;
};

/* The query of the last Steam call; NULL members were absent. */
struct steam_last {
	char *key, *appid, *ticket, *identity;
};

struct fake {
	const char *dir;
	unsigned delay_ms;
	pthread_mutex_t lock;		/* guards everything below */
	pthread_cond_t wake;		/* broadcast when stopping */
	bool stopping;
	struct target targets[TARGETS_MAX];
	size_t ntargets;
	struct steam_last steam;
};

/* One request; owned by MHD's per-connection slot, freed in on_completed. */
struct req {
	struct fake *fk;
	struct MHD_Connection *conn;
	const char *method, *url;
	char *body;		/* NUL-terminated, NULL when there was none */
	size_t len;
	bool too_big;
};

/* ---- allocation and small helpers ---- */

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "fakeprovider: out of memory allocating %zu bytes\n", n);
		abort();
	}
	return p;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) {
		fprintf(stderr, "fakeprovider: out of memory allocating %zu bytes\n", n * size);
		abort();
	}
	return p;
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

static char *xstrdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* The non-empty rest of s after prefix, or NULL. */
static const char *after(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);
	if (!s || strncmp(s, prefix, n) != 0 || !s[n])
		return NULL;
	return s + n;
}

static bool name_ok(const char *s, size_t n)
{
	if (!n || n > OIDC_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* A Graph object id: [0-9A-Za-z_-]+ */
static bool graph_id_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || *s == '_' || *s == '-'))
			return false;
	return true;
}

static bool target_ok(const char *t)
{
	if (streq(t, "apple"))
		return true;
	const char *name = after(t, "oidc_");
	return name && name_ok(name, strlen(name));
}

static enum fault fault_of(const char *cred)
{
	if (streq(cred, "http500"))
		return FAULT_HTTP500;
	if (streq(cred, "notjson"))
		return FAULT_NOTJSON;
	if (streq(cred, "hang"))
		return FAULT_HANG;
	if (streq(cred, "huge"))
		return FAULT_HUGE;
	return FAULT_NONE;
}

static const char *query(const struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

static const char *header(const struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* ---- logging: method, path, outcome; never the query string or the body ---- */

static void log_request(const struct req *r, const char *outcome)
{
	char path[LOG_PATH_MAX + 4];
	size_t n = 0;
	for (const char *p = r->url ? r->url : "?"; *p && n < LOG_PATH_MAX; p++)
		path[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	if (r->url && strlen(r->url) > LOG_PATH_MAX)
		for (int i = 0; i < 3; i++)
			path[n++] = '.';
	path[n] = '\0';
	fprintf(stderr, "fakeprovider: %s %s %s\n", r->method ? r->method : "?", path, outcome);
}

/* MHD's own errors, prefixed; its note after each request we drop is noise. */
__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	static const char dropped[] = "Application reported internal error";
	char msg[512];
	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (strncmp(msg, dropped, sizeof(dropped) - 1) == 0)
		return;
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	fprintf(stderr, "fakeprovider: mhd: %s\n", msg);
}

/* ---- waiting: "hang" and --delay-ms, cut short when we stop ---- */

static void ts_add_ms(struct timespec *ts, unsigned ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* True when the client has closed its end (or the socket failed). */
static bool peer_gone(int fd)
{
	if (fd < 0)
		return false;
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	if (poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLERR | POLLHUP | POLLNVAL | POLLRDHUP))
		return true;
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/*
 * Sleeps up to ms. Returns false when the server is stopping or (with
 * watch_peer) the client went away, in which case the request is dropped.
 */
static bool fake_wait(struct req *r, unsigned ms, bool watch_peer)
{
	struct fake *fk = r->fk;
	int fd = -1;
	if (watch_peer) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci)
			fd = ci->connect_fd;
	}
	struct timespec deadline, now;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	ts_add_ms(&deadline, ms);

	bool ok = true;
	pthread_mutex_lock(&fk->lock);
	for (;;) {
		if (fk->stopping) {
			ok = false;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!ts_before(&now, &deadline))
			break;
		struct timespec slice = now;
		ts_add_ms(&slice, POLL_SLICE_MS);
		if (ts_before(&deadline, &slice))
			slice = deadline;
		pthread_cond_timedwait(&fk->wake, &fk->lock, &slice);
		if (fd >= 0 && !fk->stopping) {
			pthread_mutex_unlock(&fk->lock);
			bool gone = peer_gone(fd);
			pthread_mutex_lock(&fk->lock);
			if (gone) {
				ok = false;
				break;
			}
		}
	}
	pthread_mutex_unlock(&fk->lock);
	return ok;
}

/* ---- answers ---- */

/* Queues status with body (malloc'd, taken over; may be NULL when len is 0). */
static enum MHD_Result reply_h(struct req *r, unsigned status, const char *ctype, char *body,
			       size_t len, const char *hname, const char *hvalue)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		log_request(r, "dropped (cannot create response)");
		return MHD_NO;
	}
	enum MHD_Result ret = MHD_NO;
	if (ctype && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES)
		goto out_destroy;
	if (hname && MHD_add_response_header(resp, hname, hvalue) != MHD_YES)
		goto out_destroy;
	ret = MHD_queue_response(r->conn, status, resp);
out_destroy:
	MHD_destroy_response(resp);
	char outcome[16];
	snprintf(outcome, sizeof(outcome), "%u", status);
	log_request(r, ret == MHD_YES ? outcome : "dropped (cannot queue response)");
	return ret;
}

static enum MHD_Result reply(struct req *r, unsigned status, const char *ctype, char *body,
			     size_t len)
{
	return reply_h(r, status, ctype, body, len, NULL, NULL);
}

static enum MHD_Result reply_text(struct req *r, unsigned status, const char *ctype,
				  const char *text)
{
	return reply(r, status, ctype, xstrdup(text), strlen(text));
}

/* Answers j (reference taken; NULL when building it failed) as JSON. */
static enum MHD_Result reply_json_h(struct req *r, unsigned status, json_t *j,
				    const char *hname, const char *hvalue)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s) {
		/* a credential that is not UTF-8 cannot go into a JSON string */
		return reply_text(r, 500, JSON_TYPE, "{\"error\":\"cannot build response\"}");
	}
	return reply_h(r, status, JSON_TYPE, s, strlen(s), hname, hvalue);
}

static enum MHD_Result reply_json(struct req *r, unsigned status, json_t *j)
{
	return reply_json_h(r, status, j, NULL, NULL);
}

static enum MHD_Result reply_not_found(struct req *r)
{
	return reply_text(r, 404, JSON_TYPE, "{\"error\":\"not found\"}");
}

static enum MHD_Result reply_bad_method(struct req *r, const char *allow)
{
	return reply_h(r, 405, JSON_TYPE, xstrdup("{\"error\":\"method not allowed\"}"),
		       strlen("{\"error\":\"method not allowed\"}"), MHD_HTTP_HEADER_ALLOW, allow);
}

static enum MHD_Result reply_http500(struct req *r)
{
	return reply_text(r, 500, HTML_TYPE,
			  "<html><head><title>500 Internal Server Error</title></head>"
			  "<body><h1>Internal Server Error</h1></body></html>");
}

static enum MHD_Result reply_notjson(struct req *r)
{
	return reply_text(r, 200, HTML_TYPE, "<html>oops");
}

/* 200 with head + HUGE_PAD 'x' + tail: a valid JSON document of over 2 MiB. */
static enum MHD_Result reply_huge(struct req *r, const char *head, size_t head_len,
				  const char *tail)
{
	size_t tail_len = strlen(tail), len = head_len + HUGE_PAD + tail_len;
	char *body = xmalloc(len);
	memcpy(body, head, head_len);
	memset(body + head_len, 'x', HUGE_PAD);
	memcpy(body + head_len + HUGE_PAD, tail, tail_len);
	return reply(r, 200, JSON_TYPE, body, len);
}

static enum MHD_Result drop(struct req *r)
{
	log_request(r, "dropped (stopping or client gone)");
	return MHD_NO;
}

/* ---- Steam: ISteamUserAuth/AuthenticateUserTicket ---- */

static void steam_last_release(struct steam_last *s)
{
	free(s->key);
	free(s->appid);
	free(s->ticket);
	free(s->identity);
	memset(s, 0, sizeof(*s));
}

static json_t *steam_params(const char *steamid, const char *owner, bool vac, bool pubban)
{
	return json_pack("{s:{s:{s:s, s:s, s:s, s:b, s:b}}}", "response", "params",
			 "result", "OK", "steamid", steamid, "ownersteamid", owner,
			 "vacbanned", (int)vac, "publisherbanned", (int)pubban);
}

static json_t *steam_error(void)
{
	return json_pack("{s:{s:{s:i, s:s}}}", "response", "error", "errorcode", 101,
			 "errordesc", "Invalid ticket");
}

static enum MHD_Result steam_auth(struct req *r)
{
	struct fake *fk = r->fk;
	const char *key = query(r, "key"), *appid = query(r, "appid");
	const char *ticket = query(r, "ticket"), *identity = query(r, "identity");
	const char *rest;

	pthread_mutex_lock(&fk->lock);
	steam_last_release(&fk->steam);
	fk->steam.key = xstrdup_or_null(key);
	fk->steam.appid = xstrdup_or_null(appid);
	fk->steam.ticket = xstrdup_or_null(ticket);
	fk->steam.identity = xstrdup_or_null(identity);
	pthread_mutex_unlock(&fk->lock);

	if (!streq(key, STEAM_KEY) || !streq(appid, STEAM_APPID))
		return reply_text(r, 403, HTML_TYPE,
				  "<html><head><title>Forbidden</title></head><body>"
				  "<h1>Forbidden</h1>Access is denied. Retrying will not help. "
				  "Please verify your <pre>key=</pre> parameter.</body></html>");
	if (!ticket || !*ticket)
		return reply_text(r, 400, HTML_TYPE,
				  "<html><head><title>Bad Request</title></head><body>"
				  "<h1>Bad Request</h1>Required parameter 'ticket' is missing"
				  "</body></html>");

	switch (fault_of(ticket)) {
	case FAULT_HTTP500:
		return reply_http500(r);
	case FAULT_NOTJSON:
		return reply_notjson(r);
	case FAULT_HUGE: {
		static const char head[] =
			"{\"response\":{\"params\":{\"result\":\"OK\",\"steamid\":\"" HANG_STEAMID
			"\",\"ownersteamid\":\"" HANG_STEAMID "\",\"vacbanned\":false,"
			"\"publisherbanned\":false,\"padding\":\"";
		return reply_huge(r, head, sizeof(head) - 1, "\"}}}");
	}
	case FAULT_HANG:
		if (!fake_wait(r, HANG_MS, true))
			return drop(r);
		return reply_json(r, 200, steam_params(HANG_STEAMID, HANG_STEAMID, false, false));
	case FAULT_NONE:
		break;
	}

	if ((rest = after(ticket, "ok-")))
		return reply_json(r, 200, steam_params(rest, rest, false, false));
	if ((rest = after(ticket, "pubban-")))
		return reply_json(r, 200, steam_params(rest, rest, false, true));
	if ((rest = after(ticket, "vac-")))
		return reply_json(r, 200, steam_params(rest, rest, true, false));
	if ((rest = after(ticket, "family-"))) {
		const char *dash = strchr(rest, '-');
		if (dash && dash > rest && dash[1]) {
			char *steamid = xstrndup(rest, (size_t)(dash - rest));
			json_t *j = steam_params(steamid, dash + 1, false, false);
			free(steamid);
			return reply_json(r, 200, j);
		}
	}
	if ((rest = after(ticket, "identity-required-"))) {
		if (streq(identity, STEAM_IDENTITY))
			return reply_json(r, 200, steam_params(rest, rest, false, false));
		return reply_json(r, 200, steam_error());
	}
	if ((rest = after(ticket, "noresult-")))
		return reply_json(r, 200, json_pack("{s:{s:{s:s}}}", "response", "params",
						    "steamid", rest));
	if (streq(ticket, "nosteamid"))
		return reply_json(r, 200, json_pack("{s:{s:{s:s}}}", "response", "params",
						    "result", "OK"));
	if (streq(ticket, "notok"))
		return reply_json(r, 200, json_pack("{s:{s:{s:s, s:s}}}", "response", "params",
						    "result", "Invalid", "steamid", HANG_STEAMID));
	if (streq(ticket, "empty"))
		return reply_json(r, 200, json_object());
	return reply_json(r, 200, steam_error());	/* "invalid" and anything unknown */
}

static enum MHD_Result steam_last(struct req *r)
{
	struct fake *fk = r->fk;
	pthread_mutex_lock(&fk->lock);
	json_t *j = json_pack("{s:s?, s:s?, s:s?, s:s?}", "key", fk->steam.key,
			      "appid", fk->steam.appid, "ticket", fk->steam.ticket,
			      "identity", fk->steam.identity);
	pthread_mutex_unlock(&fk->lock);
	return reply_json(r, 200, j);
}

/* ---- JWKS: Apple and generic OIDC, steered by /_control ---- */

/* The target called name; created when create is set. Caller holds fk->lock. */
static struct target *target_find(struct fake *fk, const char *name, bool create)
{
	for (size_t i = 0; i < fk->ntargets; i++)
		if (strcmp(fk->targets[i].name, name) == 0)
			return &fk->targets[i];
	if (!create || fk->ntargets == TARGETS_MAX)
		return NULL;
	struct target *t = &fk->targets[fk->ntargets++];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->mode = MODE_OK;
	return t;
}

/* Reads dir/name whole into *out (malloc'd, NUL-terminated): 0 or -errno. */
static int read_whole_file(const char *dir, const char *name, char **out, size_t *out_len)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode) || (uintmax_t)st.st_size > FILE_MAX) {
		rc = -EFBIG;
		goto out_close;
	}
	size_t cap = (size_t)st.st_size, len = 0;
	char *buf = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			/* the file may have grown since fstat: one more read decides */
			char probe;
			ssize_t got = read(fd, &probe, 1);
			if (got == 0)
				break;
			rc = got < 0 ? -errno : -EAGAIN;
			goto out_free_buf;
		}
		ssize_t got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = -errno;
			goto out_free_buf;
		}
		if (got == 0)
			break;	/* shrank since fstat */
		len += (size_t)got;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	goto out_close;
out_free_buf:
	free(buf);
out_close:
	close(fd);
	return rc;
}

/* "huge" mode: the file's key set (when it is a JSON object) padded past 2 MiB. */
static enum MHD_Result jwks_huge(struct req *r, const char *file)
{
	char *raw = NULL, *dumped = NULL;
	size_t raw_len = 0;
	json_t *root = NULL;
	enum MHD_Result ret;

	if (read_whole_file(r->fk->dir, file, &raw, &raw_len) == 0)
		root = json_loadb(raw, raw_len, 0, NULL);
	if (json_is_object(root) && json_object_size(root) > 0)
		dumped = json_dumps(root, JSON_COMPACT);
	if (dumped) {
		size_t n = strlen(dumped);	/* ends in '}': reopen the object */
		char *head = xmalloc(n + sizeof(",\"padding\":\""));
		memcpy(head, dumped, n - 1);
		memcpy(head + n - 1, ",\"padding\":\"", sizeof(",\"padding\":\""));
		ret = reply_huge(r, head, strlen(head), "\"}");
		free(head);
	} else {
		static const char head[] = "{\"keys\":[],\"padding\":\"";
		ret = reply_huge(r, head, sizeof(head) - 1, "\"}");
	}
	free(dumped);
	json_decref(root);
	free(raw);
	return ret;
}

static enum MHD_Result jwks_serve(struct req *r, const char *target, const char *file)
{
	struct fake *fk = r->fk;
	enum jwks_mode mode = MODE_OK;

	pthread_mutex_lock(&fk->lock);
	struct target *t = target_find(fk, target, true);
	if (t) {
		t->fetches++;
		mode = t->mode;
	}
	pthread_mutex_unlock(&fk->lock);
	if (!t)
		fprintf(stderr, "fakeprovider: too many targets, '%s' is not counted\n", target);

	switch (mode) {
	case MODE_MISSING:
		return reply_not_found(r);
	case MODE_HTTP500:
		return reply_http500(r);
	case MODE_NOTJSON:
		return reply_notjson(r);
	case MODE_HUGE:
		return jwks_huge(r, file);
	case MODE_HANG:
		if (!fake_wait(r, HANG_MS, true))
			return drop(r);
		break;
	case MODE_OK:
		break;
	}

	char *body = NULL;
	size_t len = 0;
	int rc = read_whole_file(fk->dir, file, &body, &len);
	if (rc == -ENOENT)
		return reply_not_found(r);
	if (rc < 0) {
		fprintf(stderr, "fakeprovider: cannot read '%s/%s': %s\n", fk->dir, file,
			strerror(-rc));
		return reply_http500(r);
	}
	return reply(r, 200, JSON_TYPE, body, len);	/* served as written, even if broken */
}

/* GET /oidc/<name>/jwks */
static enum MHD_Result oidc_jwks(struct req *r, const char *name, size_t name_len)
{
	char target[sizeof("oidc_") + OIDC_NAME_MAX], file[sizeof(target) + sizeof("_jwks.json")];
	snprintf(target, sizeof(target), "oidc_%.*s", (int)name_len, name);
	snprintf(file, sizeof(file), "%s_jwks.json", target);
	return jwks_serve(r, target, file);
}

/* GET /_control?reset=1 | ?target=<apple|oidc_name>&mode=<mode> */
static enum MHD_Result control(struct req *r)
{
	struct fake *fk = r->fk;
	const char *reset = query(r, "reset"), *target = query(r, "target");
	const char *mode = query(r, "mode");
	size_t m = 0;

	if (reset && !streq(reset, "1") && !streq(reset, "true"))
		return reply_text(r, 400, JSON_TYPE, "{\"error\":\"reset takes 1\"}");
	if (target || mode) {
		if (!target_ok(target))
			return reply_text(r, 400, JSON_TYPE,
					  "{\"error\":\"target is apple or oidc_<name>\"}");
		for (m = 0; m < sizeof(mode_names) / sizeof(mode_names[0]); m++)
			if (streq(mode, mode_names[m]))
				break;
		if (m == sizeof(mode_names) / sizeof(mode_names[0]))
			return reply_text(r, 400, JSON_TYPE,
					  "{\"error\":\"mode is ok, http500, notjson, hang, huge "
					  "or missing\"}");
	} else if (!reset) {
		return reply_text(r, 400, JSON_TYPE,
				  "{\"error\":\"give reset=1 or target and mode\"}");
	}

	pthread_mutex_lock(&fk->lock);
	if (reset) {
		fk->ntargets = 0;
		steam_last_release(&fk->steam);
	}
	struct target *t = target ? target_find(fk, target, true) : NULL;
	if (t)
		t->mode = (enum jwks_mode)m;
	pthread_mutex_unlock(&fk->lock);

	if (target && !t)
		return reply_text(r, 507, JSON_TYPE, "{\"error\":\"too many targets\"}");
	if (!target)
		return reply_json(r, 200, json_pack("{s:b}", "reset", 1));
	return reply_json(r, 200, json_pack("{s:s, s:s}", "target", target, "mode", mode));
}

/* GET /_count?target=<apple|oidc_name> → {"fetches":N} */
static enum MHD_Result count(struct req *r)
{
	struct fake *fk = r->fk;
	const char *target = query(r, "target");
	if (!target_ok(target))
		return reply_text(r, 400, JSON_TYPE, "{\"error\":\"target is apple or oidc_<name>\"}");
	pthread_mutex_lock(&fk->lock);
	struct target *t = target_find(fk, target, false);
	unsigned long n = t ? t->fetches : 0;
	pthread_mutex_unlock(&fk->lock);
	return reply_json(r, 200, json_pack("{s:I}", "fetches", (json_int_t)n));
}

/* ---- Google Play Games: token exchange and application verify ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* application/x-www-form-urlencoded decoding of s[0..n); caller frees. */
static char *form_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
			   (lo = hexval(s[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

/* The decoded value of the first field called name in a form body, or NULL. */
static char *form_get(const char *body, size_t len, const char *name)
{
	const char *p = body, *end = body ? body + len : NULL;
	while (p && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		if (!amp)
			amp = end;
		const char *eq = memchr(p, '=', (size_t)(amp - p));
		char *k = form_decode(p, (size_t)((eq ? eq : amp) - p));
		bool match = strcmp(k, name) == 0;
		free(k);
		if (match)
			return eq ? form_decode(eq + 1, (size_t)(amp - eq - 1)) : xstrdup("");
		if (amp == end)
			break;
		p = amp + 1;
	}
	return NULL;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Standard base64 (padding optional); NULL when malformed. Caller frees. */
static char *base64_decode(const char *s, size_t *out_len)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	while (n && s[n - 1] == '=')
		n--;
	char *out = xmalloc(n * 3 / 4 + 1);
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val(s[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = ((acc << 6) | (uint32_t)v) & 0xffffffu;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/*
 * The client from "Authorization: Basic" (RFC 6749 2.3.1: each half
 * form-encoded). 1 with *user and *pass set (caller frees), 0 when there is
 * no Basic header, -1 when it is malformed.
 */
static int basic_client(const struct req *r, char **user, char **pass)
{
	const char *h = header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Basic ", 6) != 0)
		return 0;
	h += 6;
	while (*h == ' ')
		h++;
	size_t len = 0;
	char *raw = base64_decode(h, &len);
	if (!raw)
		return -1;
	char *colon = memchr(raw, ':', len);
	if (!colon) {
		free(raw);
		return -1;
	}
	*user = form_decode(raw, (size_t)(colon - raw));
	*pass = form_decode(colon + 1, len - (size_t)(colon - raw) - 1);
	free(raw);
	return 1;
}

static bool form_content_type(const struct req *r)
{
	static const char form[] = "application/x-www-form-urlencoded";
	const char *ct = header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!ct || strncasecmp(ct, form, sizeof(form) - 1) != 0)
		return false;
	char c = ct[sizeof(form) - 1];
	return c == '\0' || c == ';' || c == ' ';
}

static enum MHD_Result oauth_error(struct req *r, unsigned status, const char *error,
				   const char *description)
{
	return reply_json(r, status, json_pack("{s:s, s:s}", "error", error,
					       "error_description", description));
}

static json_t *google_token(const char *access_token)
{
	return json_pack("{s:s, s:s, s:i}", "access_token", access_token, "token_type", "Bearer",
			 "expires_in", 3599);
}

/* POST /o/oauth2/token */
static enum MHD_Result google_exchange(struct req *r)
{
	char *form_id = NULL, *form_secret = NULL, *basic_id = NULL, *basic_secret = NULL;
	char *grant = NULL, *code = NULL, *token = NULL;
	const char *rest;
	enum MHD_Result ret;

	if (r->too_big)
		return reply_text(r, 413, JSON_TYPE, "{\"error\":\"invalid_request\"}");
	if (!form_content_type(r))
		return oauth_error(r, 400, "invalid_request",
				   "Content-Type must be application/x-www-form-urlencoded");

	form_id = form_get(r->body, r->len, "client_id");
	form_secret = form_get(r->body, r->len, "client_secret");
	int basic = basic_client(r, &basic_id, &basic_secret);
	bool id_ok = (form_id || basic_id) && (!form_id || streq(form_id, GP_CLIENT_ID)) &&
		     (!basic_id || streq(basic_id, GP_CLIENT_ID));
	bool secret_ok = (form_secret || basic_secret) &&
			 (!form_secret || streq(form_secret, GP_CLIENT_SECRET)) &&
			 (!basic_secret || streq(basic_secret, GP_CLIENT_SECRET));
	if (basic < 0 || !id_ok || !secret_ok) {
		ret = oauth_error(r, 401, "invalid_client", "The OAuth client was not found.");
		goto out_free;
	}

	grant = form_get(r->body, r->len, "grant_type");
	code = form_get(r->body, r->len, "code");
	if (!grant || !*grant) {
		ret = oauth_error(r, 400, "invalid_request", "Missing required parameter: grant_type");
		goto out_free;
	}
	if (!streq(grant, "authorization_code")) {
		ret = oauth_error(r, 400, "unsupported_grant_type", "Invalid grant_type");
		goto out_free;
	}
	if (!code || !*code) {
		ret = oauth_error(r, 400, "invalid_request", "Missing required parameter: code");
		goto out_free;
	}

	switch (fault_of(code)) {
	case FAULT_HTTP500:
		ret = reply_http500(r);
		goto out_free;
	case FAULT_NOTJSON:
		ret = reply_notjson(r);
		goto out_free;
	case FAULT_HUGE: {
		static const char head[] = "{\"access_token\":\"at-huge\","
					   "\"token_type\":\"Bearer\",\"expires_in\":3599,"
					   "\"padding\":\"";
		ret = reply_huge(r, head, sizeof(head) - 1, "\"}");
		goto out_free;
	}
	case FAULT_HANG:
		if (!fake_wait(r, HANG_MS, true)) {
			ret = drop(r);
			goto out_free;
		}
		ret = reply_json(r, 200, google_token("at-" HANG_ID));
		goto out_free;
	case FAULT_NONE:
		break;
	}

	if ((rest = after(code, "ok-"))) {
		size_t n = strlen(rest) + sizeof("at-");
		token = xmalloc(n);
		snprintf(token, n, "at-%s", rest);
		ret = reply_json(r, 200, google_token(token));
	} else if (after(code, "wrongapp-")) {
		ret = reply_json(r, 200, google_token(code));
	} else if (streq(code, "noaccesstoken")) {
		ret = reply_json(r, 200, json_pack("{s:s}", "token_type", "Bearer"));
	} else {
		ret = oauth_error(r, 400, "invalid_grant", "Bad Request");	/* "invalid" too */
	}
out_free:
	free(token);
	free(code);
	free(grant);
	free(basic_id);
	free(basic_secret);
	free(form_id);
	free(form_secret);
	return ret;
}

static enum MHD_Result google_error(struct req *r, unsigned status, const char *message)
{
	json_t *j = json_pack("{s:{s:i, s:s}}", "error", "code", (int)status, "message", message);
	if (status == 401)
		return reply_json_h(r, status, j, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				    "Bearer realm=\"https://accounts.google.com/\", "
				    "error=\"invalid_token\"");
	return reply_json(r, status, j);
}

static json_t *google_player(const char *player)
{
	size_t n = strlen(player) + sizeof("alt-");
	char *alt = xmalloc(n);
	snprintf(alt, n, "alt-%s", player);
	json_t *j = json_pack("{s:s, s:s, s:s}", "kind", "games#applicationVerifyResponse",
			      "player_id", player, "alternate_player_id", alt);
	free(alt);
	return j;
}

/* GET /games/v1/applications/<appid>/verify/ */
static enum MHD_Result google_verify(struct req *r, const char *appid, size_t appid_len)
{
	if (appid_len != strlen(GP_APP_ID) || strncmp(appid, GP_APP_ID, appid_len) != 0)
		return google_error(r, 404, "The requested application was not found.");
	const char *h = header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return google_error(r, 401, "Invalid Credentials");
	const char *token = h + 7, *rest;
	while (*token == ' ')
		token++;

	if (after(token, "at-verify500-"))
		return google_error(r, 500, "Backend Error");
	if ((rest = after(token, "at-verifyhang-"))) {
		if (!fake_wait(r, HANG_MS, true))
			return drop(r);
		return reply_json(r, 200, google_player(rest));
	}
	if (after(token, "at-noplayer-"))
		return reply_json(r, 200, json_pack("{s:s}", "kind",
						    "games#applicationVerifyResponse"));
	if ((rest = after(token, "at-")))
		return reply_json(r, 200, google_player(rest));
	if (after(token, "wrongapp-"))
		return google_error(r, 403,
				    "The access token is not associated with this application");
	return google_error(r, 401, "Invalid Credentials");
}

/* ---- Facebook Graph (unversioned): /app and /<user_id> ---- */

static enum MHD_Result graph_error(struct req *r, int code, const char *message)
{
	return reply_json(r, 400, json_pack("{s:{s:s, s:s, s:i}}", "error", "message", message,
					    "type", "OAuthException", "code", code));
}

static enum MHD_Result graph_invalid(struct req *r)
{
	return graph_error(r, 190, "Invalid OAuth access token.");
}

static json_t *graph_app(const char *id, const char *name)
{
	return json_pack("{s:s, s:s}", "id", id, "name", name);
}

/*
 * GET /app (user_id NULL) or /<user_id>, ?access_token=. Shared faults first;
 * after a "hang" the answer is the one a good token gets.
 */
static enum MHD_Result graph(struct req *r, const char *user_id)
{
	const char *token = query(r, "access_token"), *rest;
	if (!token || !*token)
		return graph_error(r, 104, "An access token is required to request this resource.");

	switch (fault_of(token)) {
	case FAULT_HTTP500:
		return reply_http500(r);
	case FAULT_NOTJSON:
		return reply_notjson(r);
	case FAULT_HUGE: {
		char head[128];
		int n = snprintf(head, sizeof(head), "{\"id\":\"%.64s\",\"name\":\"",
				 user_id ? user_id : FB_APP_ID);
		return reply_huge(r, head, (size_t)n, "\"}");
	}
	case FAULT_HANG:
		if (!fake_wait(r, HANG_MS, true))
			return drop(r);
		if (!user_id)
			return reply_json(r, 200, graph_app(FB_APP_ID, "Test App"));
		return reply_json(r, 200, graph_app(user_id, "Test User"));
	case FAULT_NONE:
		break;
	}

	if (!user_id) {
		if (after(token, "ok-") || after(token, "other-") || after(token, "noid-"))
			return reply_json(r, 200, graph_app(FB_APP_ID, "Test App"));
		if (after(token, "wrongapp-"))
			return reply_json(r, 200, graph_app(FB_OTHER_APP_ID, "Other App"));
		return graph_invalid(r);	/* "invalid" and anything unknown */
	}
	/* "ok-<uid>" names <uid>: the path's id when they match, another user when not */
	if ((rest = after(token, "ok-")))
		return reply_json(r, 200, graph_app(rest, "Test User"));
	if (after(token, "other-"))
		return reply_json(r, 200, graph_app("someone-else", "X"));
	if ((rest = after(token, "wrongapp-")))
		return reply_json(r, 200, json_pack("{s:s}", "id", rest));
	if (after(token, "noid-"))
		return reply_json(r, 200, json_pack("{s:s}", "name", "No Id"));
	return graph_invalid(r);
}

/* ---- routing ---- */

static bool is_get(const struct req *r)
{
	return strcmp(r->method, MHD_HTTP_METHOD_GET) == 0;
}

/* Provider endpoints wait --delay-ms first; control endpoints never do. */
static bool delay(struct req *r)
{
	return !r->fk->delay_ms || fake_wait(r, r->fk->delay_ms, false);
}

static enum MHD_Result route(struct req *r)
{
	static const char steam_path[] = "/ISteamUserAuth/AuthenticateUserTicket/v1";
	static const char games_prefix[] = "/games/v1/applications/";
	const char *url = r->url, *rest;

	if (streq(url, "/_control") || streq(url, "/_count") || streq(url, "/_last/steam")) {
		if (!is_get(r))
			return reply_bad_method(r, "GET");
		if (streq(url, "/_control"))
			return control(r);
		if (streq(url, "/_count"))
			return count(r);
		return steam_last(r);
	}

	if (streq(url, "/o/oauth2/token")) {
		if (strcmp(r->method, MHD_HTTP_METHOD_POST) != 0)
			return reply_bad_method(r, "POST");
		return delay(r) ? google_exchange(r) : drop(r);
	}

	/* everything else is GET */
	bool steam = (rest = after(url, steam_path)) ? streq(rest, "/") : streq(url, steam_path);
	const char *slash = NULL, *name = NULL, *appid = NULL;
	size_t name_len = 0, appid_len = 0;
	if ((rest = after(url, "/oidc/")) && (slash = strchr(rest, '/')) &&
	    streq(slash, "/jwks") && name_ok(rest, (size_t)(slash - rest))) {
		name = rest;
		name_len = (size_t)(slash - rest);
	}
	if ((rest = after(url, games_prefix)) && (slash = strchr(rest, '/')) && slash > rest &&
	    (streq(slash, "/verify/") || streq(slash, "/verify"))) {
		appid = rest;
		appid_len = (size_t)(slash - rest);
	}
	const char *fb_user = url[0] == '/' && graph_id_ok(url + 1) ? url + 1 : NULL;
	if (!steam && !streq(url, "/auth/keys") && !name && !appid && !fb_user)
		return reply_not_found(r);
	if (!is_get(r))
		return reply_bad_method(r, "GET");
	if (!delay(r))
		return drop(r);

	if (name)
		return oidc_jwks(r, name, name_len);
	if (appid)
		return google_verify(r, appid, appid_len);
	if (streq(url, "/auth/keys"))
		return jwks_serve(r, "apple", "apple_jwks.json");
	if (fb_user)
		return graph(r, streq(fb_user, "app") ? NULL : fb_user);
	return steam_auth(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct req *r = *con_cls;
	(void)version;
	if (!r) {
		r = xcalloc(1, sizeof(*r));
		r->fk = cls;
		r->conn = conn;
		*con_cls = r;
		r->method = method;
		r->url = url;
		return MHD_YES;
	}
	r->method = method;
	r->url = url;
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (r->too_big || n > BODY_MAX - r->len) {
			r->too_big = true;
			return MHD_YES;
		}
		char *grown = realloc(r->body, r->len + n + 1);
		if (!grown) {
			fprintf(stderr, "fakeprovider: out of memory for a request body\n");
			abort();
		}
		r->body = grown;
		memcpy(r->body + r->len, upload_data, n);
		r->len += n;
		r->body[r->len] = '\0';
		return MHD_YES;
	}
	return route(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (!r)
		return;
	free(r->body);
	free(r);
	*con_cls = NULL;
}

/* ---- start-up ---- */

static void usage(void)
{
	fprintf(stderr, "usage: fakeprovider --port N --dir DIR [--delay-ms N]\n");
	exit(2);
}

static unsigned long parse_number(const char *opt, const char *s, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = s && *s >= '0' && *s <= '9' ? strtoul(s, &end, 10) : 0;
	if (!s || !(*s >= '0' && *s <= '9') || errno || *end || v > max) {
		fprintf(stderr, "fakeprovider: bad value for '%s': '%s'\n", opt, s ? s : "");
		usage();
	}
	return v;
}

int main(int argc, char **argv)
{
	static struct fake fk;
	long port = -1;
	struct stat st;

	for (int i = 1; i < argc; i += 2) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--port") == 0)
			port = (long)parse_number("--port", val, 65535);
		else if (strcmp(argv[i], "--dir") == 0 && val)
			fk.dir = val;
		else if (strcmp(argv[i], "--delay-ms") == 0)
			fk.delay_ms = (unsigned)parse_number("--delay-ms", val, 600000);
		else
			usage();
	}
	if (port < 0 || !fk.dir)
		usage();
	if (stat(fk.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "fakeprovider: '%s' is not a directory\n", fk.dir);
		return 1;
	}

	/* Signals are taken by sigwait below; every thread MHD starts inherits the mask. */
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) != 0) {
		fprintf(stderr, "fakeprovider: cannot block signals\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);

	pthread_condattr_t ca;
	if (pthread_mutex_init(&fk.lock, NULL) != 0 || pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&fk.wake, &ca) != 0) {
		fprintf(stderr, "fakeprovider: cannot set up locks\n");
		return 1;
	}
	pthread_condattr_destroy(&ca);

	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
		MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, on_request, &fk,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,	/* first, or MHD warns */
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, &fk,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)512,
		MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "fakeprovider: cannot listen on 127.0.0.1:%ld\n", port);
		return 1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	unsigned bound = info ? info->port : (unsigned)port;
	printf("port %u\n", bound);
	fflush(stdout);
	fprintf(stderr, "fakeprovider: listening on 127.0.0.1:%u, files in '%s'\n", bound, fk.dir);

	int sig = 0;
	while (sigwait(&stop_signals, &sig) != 0)
		;
	fprintf(stderr, "fakeprovider: stopping on signal %d\n", sig);

	pthread_mutex_lock(&fk.lock);
	fk.stopping = true;
	pthread_cond_broadcast(&fk.wake);
	pthread_mutex_unlock(&fk.lock);
	MHD_stop_daemon(d);

	steam_last_release(&fk.steam);
	pthread_cond_destroy(&fk.wake);
	pthread_mutex_destroy(&fk.lock);
	return 0;
}
