/*
 * client.c - the client handle: requests on libcurl's multi interface, the
 * session (refresh before expiry, re-login, ban and delete), retries, and
 * delivery of results on the thread that ticks.
 *
 * Two locks: `lock` guards the state and the queues (held briefly, also by
 * submitting threads); `io_lock` makes one thread at a time the owner of the
 * multi handle (the library thread, or whoever ticks or waits). Callbacks
 * run with neither held.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "internal.h"

enum req_kind {
	K_LOGIN,   /* a login the engine asked for */
	K_REFRESH, /* internal: refresh the session */
	K_RELOGIN, /* internal: guest login with the saved secret after a refused refresh */
	K_CALL,    /* anything else */
};

#define F_AUTH 0x01        /* send the access token */
#define F_NEW_GUEST 0x02   /* save the guest credentials of the reply */
#define F_SAVED_GUEST 0x04 /* a login with the saved credentials */
#define F_ENDS 0x08        /* on 2xx the local session ends */
#define F_FORGET 0x10      /* on 2xx the saved credentials go */
#define F_VERSION 0x20     /* storage: report the document version */

struct req {
	struct req *next;
	enum req_kind kind;
	unsigned flags;
	unsigned gen;           /* session generation (internal requests) */
	char *method;
	char *path;             /* with the query */
	char *ctype;
	char *body;
	size_t body_len;
	char *if_match;         /* the whole header line, or NULL */
	gh_callback cb;
	void *user;
	int attempts;
	bool reauthed;
	int64_t not_before;
	CURL *easy;
	struct curl_slist *hdrs;
	char *resp;
	size_t resp_len, resp_cap;
	bool too_large;
	size_t max;
	char errbuf[CURL_ERROR_SIZE];
};

struct delivery {
	struct delivery *next;
	bool is_event;
	enum gh_session_event event;
	gh_callback cb;
	void *user;
	int status;
	long http;
	char *message;
	char *body;
	size_t body_len;
	long long version;
};

enum session_state { S_NONE, S_ACTIVE, S_ENDED };

struct gh_client {
	pthread_mutex_t lock;
	pthread_mutex_t io_lock;
	pthread_cond_t cond;
	CURLM *multi;
	pthread_t thread;
	bool thread_running;
	bool stopping;

	/* configuration (copied) */
	char *base_url;
	char *cred_path;
	struct gh_credential_store store;
	bool has_store;
	gh_session_callback on_session;
	void *session_user;
	bool own_thread, tls_no_verify;
	char *ca_file;
	long connect_timeout_ms, request_timeout_ms, retry_base_ms, retry_max_ms;
	int max_retries, max_connections;
	double refresh_at, refresh_jitter;
	size_t max_response;

	/* saved credentials */
	struct ghi_cred cred;
	bool has_cred;

	/* the session */
	enum session_state state;
	int end_status;
	unsigned gen;
	char *user_id;
	char *access;
	char *refresh;
	int64_t access_exp;
	int64_t refresh_due;
	struct req *renewing;   /* the refresh or re-login in flight */
	int renew_failures;
	unsigned refresh_count;

	uint64_t rng;
	struct req *queued;     /* to start, at not_before */
	struct req *auth_wait;  /* waiting for a token */
	struct req *active;     /* in the multi handle */
	int n_active;
	struct delivery *done_head, *done_tail;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t rnd(struct gh_client *c)
{
	/* xorshift64*: jitter only, nothing secret depends on it */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return (uint32_t)((c->rng * 2685821657736338717ULL) >> 32);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *gh_strerror(int status)
{
	switch (status) {
	case GH_OK: return "ok";
	case GH_ERR_INVALID: return "invalid request";
	case GH_ERR_NETWORK: return "network error";
	case GH_ERR_UNAVAILABLE: return "service unavailable";
	case GH_ERR_RATE_LIMITED: return "rate limited";
	case GH_ERR_UNAUTHORIZED: return "unauthorized";
	case GH_ERR_FORBIDDEN: return "forbidden";
	case GH_ERR_BANNED: return "account banned";
	case GH_ERR_DELETED: return "account deleted";
	case GH_ERR_LOGIN_REQUIRED: return "login required";
	case GH_ERR_NOT_FOUND: return "not found";
	case GH_ERR_CONFLICT: return "conflict";
	case GH_ERR_TOO_LARGE: return "too large";
	case GH_ERR_PROTOCOL: return "protocol error";
	case GH_ERR_HTTP: return "http error";
	case GH_ERR_STORAGE: return "credential storage error";
	case GH_ERR_TIMEOUT: return "timed out";
	case GH_ERR_NO_SESSION: return "not logged in";
	default: return "unknown error";
	}
}

/* ---- small helpers ---- */

static void free_str(char **p)
{
	if (*p) {
		/* tokens and secrets: wipe before freeing */
		memset(*p, 0, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

/* Appends k=v (percent-encoded) to a form body held in *buf. */
static void form_add(char **buf, size_t *len, const char *k, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t need = *len + strlen(k) + 3 * strlen(v) + 3;
	*buf = ghi_xrealloc(*buf, need);
	char *p = *buf + *len;
	if (*len)
		*p++ = '&';
	for (const char *s = k; *s; s++)
		*p++ = *s;
	*p++ = '=';
	for (const unsigned char *s = (const unsigned char *)v; *s; s++) {
		if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.' || *s == '~') {
			*p++ = (char)*s;
		} else {
			*p++ = '%';
			*p++ = hex[*s >> 4];
			*p++ = hex[*s & 15];
		}
	}
	*len = (size_t)(p - *buf);
	(*buf)[*len] = '\0';
}

static bool valid_key(const char *key)
{
	size_t n = key ? strlen(key) : 0;
	if (n == 0 || n > 128)
		return false;
	for (const char *s = key; *s; s++) {
		char ch = *s;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return false;
	}
	return true;
}

static struct req *req_new(enum req_kind kind, unsigned flags, const char *method,
			   const char *path, gh_callback cb, void *user)
{
	struct req *r = ghi_xcalloc(1, sizeof *r);
	r->kind = kind;
	r->flags = flags;
	r->method = ghi_xstrdup(method);
	r->path = ghi_xstrdup(path);
	r->cb = cb;
	r->user = user;
	return r;
}

static void req_free(struct req *r)
{
	if (!r)
		return;
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	free(r->method);
	free(r->path);
	free(r->ctype);
	if (r->body) {
		memset(r->body, 0, r->body_len);
		free(r->body);
	}
	free(r->if_match);
	if (r->resp) {
		memset(r->resp, 0, r->resp_len);
		free(r->resp);
	}
	free(r);
}

static void list_push(struct req **head, struct req *r)
{
	r->next = NULL;
	while (*head)
		head = &(*head)->next;
	*head = r;
}

static void list_push_front(struct req **head, struct req *r)
{
	r->next = *head;
	*head = r;
}

static bool list_remove(struct req **head, struct req *r)
{
	for (; *head; head = &(*head)->next)
		if (*head == r) {
			*head = r->next;
			r->next = NULL;
			return true;
		}
	return false;
}

/* ---- delivery (called with lock held) ---- */

static void deliver_push(struct gh_client *c, struct delivery *d)
{
	if (c->done_tail)
		c->done_tail->next = d;
	else
		c->done_head = d;
	c->done_tail = d;
	pthread_cond_broadcast(&c->cond);
}

static void emit_event(struct gh_client *c, enum gh_session_event ev, int status,
		       const char *message)
{
	if (!c->on_session)
		return;
	struct delivery *d = ghi_xcalloc(1, sizeof *d);
	d->is_event = true;
	d->event = ev;
	d->status = status;
	d->message = ghi_xstrdup(message ? message : gh_strerror(status));
	deliver_push(c, d);
}

static void finish(struct gh_client *c, struct req *r, int status, long http,
		   const char *message, long long version)
{
	if (r->cb) {
		struct delivery *d = ghi_xcalloc(1, sizeof *d);
		d->cb = r->cb;
		d->user = r->user;
		d->status = status;
		d->http = http;
		d->message = ghi_xstrdup(message ? message : gh_strerror(status));
		d->version = version;
		if (r->resp && status != GH_ERR_TOO_LARGE) {
			d->body = r->resp;
			d->body_len = r->resp_len;
			r->resp = NULL;
			r->resp_len = 0;
		} else {
			d->body = ghi_xstrdup("");
		}
		deliver_push(c, d);
	}
	req_free(r);
}

static void delivery_free(struct delivery *d)
{
	free(d->message);
	if (d->body) {
		memset(d->body, 0, d->body_len);
		free(d->body);
	}
	free(d);
}

/* ---- credentials (lock held) ---- */

static int cred_load(struct gh_client *c)
{
	char buf[GHI_MAX_CRED_FILE];
	size_t len = 0;
	int rc;
	c->has_cred = false;
	if (c->has_store)
	{
		int lr = c->store.load(c->store.user, buf, sizeof buf, &len);
		rc = lr == 0 ? 0 : lr == 1 ? 1 : GH_ERR_STORAGE;
		if (len > sizeof buf)
			rc = GH_ERR_STORAGE;
	}
	else if (c->cred_path)
		rc = ghi_cred_file_load(c->cred_path, buf, sizeof buf, &len);
	else
		return 0;
	if (rc == 1)
		return 0;
	if (rc < 0)
		return rc;
	if (len == 0)
		return 0;
	rc = ghi_cred_decode(buf, len, &c->cred);
	memset(buf, 0, sizeof buf);
	if (rc == 0)
		c->has_cred = true;
	return rc;
}

static int cred_save(struct gh_client *c)
{
	size_t len;
	int rc = 0;
	if (!c->has_store && !c->cred_path)
		return 0;
	char *data = ghi_cred_encode(&c->cred, &len);
	if (c->has_store)
		rc = c->store.save(c->store.user, data, len) == 0 ? 0 : GH_ERR_STORAGE;
	else
		rc = ghi_cred_file_save(c->cred_path, data, len);
	memset(data, 0, len);
	free(data);
	return rc;
}

static int cred_forget(struct gh_client *c)
{
	int rc = 0;
	memset(&c->cred, 0, sizeof c->cred);
	c->has_cred = false;
	if (c->has_store)
		rc = c->store.save(c->store.user, "", 0) == 0 ? 0 : GH_ERR_STORAGE;
	else if (c->cred_path)
		rc = ghi_cred_file_remove(c->cred_path);
	return rc;
}

/* ---- the session (lock held) ---- */

static void session_clear(struct gh_client *c)
{
	free_str(&c->access);
	free_str(&c->refresh);
	free(c->user_id);
	c->user_id = NULL;
	c->access_exp = 0;
	c->refresh_due = 0;
	c->renewing = NULL;
	c->renew_failures = 0;
	c->gen++;
}

/* Moves the requests that waited for a token to the front of the queue, in order. */
static void release_waiting(struct gh_client *c)
{
	struct req *w = c->auth_wait, *tail = w;
	if (!w)
		return;
	while (tail->next)
		tail = tail->next;
	tail->next = c->queued;
	c->queued = w;
	c->auth_wait = NULL;
}

static void fail_waiting(struct gh_client *c, int status, const char *message)
{
	while (c->auth_wait) {
		struct req *r = c->auth_wait;
		c->auth_wait = r->next;
		finish(c, r, status, 0, message, 0);
	}
}

static void session_end(struct gh_client *c, int status, enum gh_session_event ev,
			const char *message)
{
	session_clear(c);
	c->state = S_ENDED;
	c->end_status = status;
	fail_waiting(c, status, message);
	emit_event(c, ev, status, message);
}

static void session_set(struct gh_client *c, struct ghi_tokens *t)
{
	int64_t now = now_ms();
	free_str(&c->access);
	free_str(&c->refresh);
	free(c->user_id);
	c->user_id = t->user_id;
	c->access = t->auth_token;
	c->refresh = t->refresh_token;
	t->user_id = t->auth_token = t->refresh_token = NULL;
	c->access_exp = now + t->auth_expires_in * 1000;
	c->refresh_due = now + ghi_refresh_delay_ms(t->auth_expires_in, c->refresh_at,
						    c->refresh_jitter, rnd(c));
	c->state = S_ACTIVE;
	c->end_status = 0;
	c->renew_failures = 0;
	c->renewing = NULL;
	c->gen++;
}

static void start_renew(struct gh_client *c, enum req_kind kind)
{
	struct req *r;
	char *body = NULL;
	size_t len = 0;
	if (kind == K_REFRESH) {
		r = req_new(K_REFRESH, 0, "POST", "/refresh-access-token", NULL, NULL);
		form_add(&body, &len, "refresh_token", c->refresh);
	} else {
		r = req_new(K_RELOGIN, F_SAVED_GUEST, "POST", "/login-as-guest", NULL, NULL);
		form_add(&body, &len, "user_id", c->cred.user_id);
		form_add(&body, &len, "guest_secret", c->cred.guest_secret);
	}
	r->body = body;
	r->body_len = len;
	r->ctype = ghi_xstrdup("application/x-www-form-urlencoded");
	r->gen = c->gen;
	c->renewing = r;
	list_push_front(&c->queued, r);
}

static void ensure_refresh(struct gh_client *c)
{
	if (c->state == S_ACTIVE && !c->renewing && c->refresh)
		start_renew(c, K_REFRESH);
}

/* A refresh or re-login finished with status (after its retries). */
static void renew_done(struct gh_client *c, struct req *r, int status, long http,
		       const char *message)
{
	char msg[GHI_MAX_MESSAGE];
	if (r->gen != c->gen || c->renewing != r) {
		/* a login or logout replaced the session meanwhile */
		req_free(r);
		return;
	}
	c->renewing = NULL;
	if (status == GH_OK) {
		struct ghi_tokens t;
		status = ghi_parse_tokens(r->resp, r->resp_len, &t, msg, sizeof msg);
		if (status == GH_OK) {
			bool relogin = r->kind == K_RELOGIN;
			session_set(c, &t);
			ghi_tokens_release(&t);
			if (!relogin)
				c->refresh_count++;
			release_waiting(c);
			emit_event(c, relogin ? GH_EVENT_RELOGGED_IN : GH_EVENT_REFRESHED, GH_OK,
				   relogin ? "logged in again with the saved guest secret" :
					     "access token refreshed");
			req_free(r);
			return;
		}
		message = msg;
	}
	if (status == GH_ERR_BANNED) {
		session_end(c, GH_ERR_BANNED, GH_EVENT_BANNED, message);
	} else if (status == GH_ERR_UNAUTHORIZED && r->kind == K_REFRESH) {
		if (c->has_cred && c->user_id && strcmp(c->user_id, c->cred.user_id) == 0)
			start_renew(c, K_RELOGIN);
		else
			session_end(c, GH_ERR_LOGIN_REQUIRED, GH_EVENT_LOGIN_REQUIRED,
				    "the session ended and the refresh token was refused");
	} else if (status == GH_ERR_UNAUTHORIZED && r->kind == K_RELOGIN) {
		session_end(c, GH_ERR_DELETED, GH_EVENT_DELETED,
			    "the saved guest account no longer exists");
	} else {
		/* Transient (after the retries) or odd: keep the session, try again later. */
		c->renew_failures++;
		c->refresh_due = now_ms() + ghi_backoff_ms(c->renew_failures, 1000, c->retry_max_ms,
							   rnd(c));
		emit_event(c, GH_EVENT_REFRESH_FAILED, status, message);
		if (now_ms() + 1000 >= c->access_exp)
			fail_waiting(c, status, message);
		else
			release_waiting(c);
	}
	(void)http;
	req_free(r);
}

/* ---- transfers ---- */

/* Appends to r->resp up to the client's cap (r->max); beyond it the transfer fails. */
static size_t sink_write(char *data, size_t size, size_t n, void *userp)
{
	struct req *r = userp;
	size_t len = size * n;
	if (r->resp_len + len > r->max) {
		r->too_large = true;
		return 0;
	}
	if (r->resp_len + len + 1 > r->resp_cap) {
		size_t cap = r->resp_cap ? r->resp_cap : 1024;
		while (cap < r->resp_len + len + 1)
			cap *= 2;
		if (cap > r->max + 1)
			cap = r->max + 1;
		r->resp = ghi_xrealloc(r->resp, cap);
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, data, len);
	r->resp_len += len;
	r->resp[r->resp_len] = '\0';
	return len;
}

/* Builds the easy handle of r and adds it to the multi handle (io owner, lock held). */
static int start_transfer(struct gh_client *c, struct req *r)
{
	char *url;
	size_t n = strlen(c->base_url) + strlen(r->path) + 1;
	url = ghi_xmalloc(n);
	snprintf(url, n, "%s%s", c->base_url, r->path);

	r->easy = curl_easy_init();
	if (!r->easy) {
		free(url);
		return GH_ERR_NETWORK;
	}
	r->too_large = false;
	r->resp_len = 0;
	r->max = c->max_response;
	r->errbuf[0] = '\0';
	CURL *e = r->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->request_timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "gatehouse-client/" GH_CLIENT_VERSION);
	if (c->tls_no_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);

	struct curl_slist *h = NULL;
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, "Expect:");
	if (r->ctype) {
		char line[128];
		snprintf(line, sizeof line, "Content-Type: %s", r->ctype);
		h = curl_slist_append(h, line);
	}
	if ((r->flags & F_AUTH) && c->access) {
		size_t ln = strlen(c->access) + 32;
		char *line = ghi_xmalloc(ln);
		/* the stock SDKs send the raw token (API.md A.1) */
		snprintf(line, ln, "Authorization: %s", c->access);
		h = curl_slist_append(h, line);
		memset(line, 0, ln);
		free(line);
	}
	if (r->if_match)
		h = curl_slist_append(h, r->if_match);
	curl_slist_free_all(r->hdrs);
	r->hdrs = h;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);

	if (strcmp(r->method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(r->method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
		if (r->body || strcmp(r->method, "POST") == 0) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
		}
	}
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		r->easy = NULL;
		return GH_ERR_NETWORK;
	}
	r->attempts++;
	list_push(&c->active, r);
	c->n_active++;
	return 0;
}

static bool transient(CURLcode cc, bool too_large, long http)
{
	if (cc != CURLE_OK)
		return !too_large;
	return http == 429 || http == 502 || http == 503 || http == 504;
}

static const char *header_value(CURL *e, const char *name)
{
	struct curl_header *h = NULL;
	if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h)
		return NULL;
	return h->value;
}

/* A transfer ended (io owner, lock held): retry, renew, or deliver. */
static void complete(struct gh_client *c, struct req *r, CURLcode cc)
{
	long http = 0;
	char msg[GHI_MAX_MESSAGE];
	long long version = 0;
	long retry_after = -1;

	list_remove(&c->active, r);
	c->n_active--;
	if (cc == CURLE_OK) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &http);
		if (r->flags & F_VERSION)
			(void)ghi_parse_etag(header_value(r->easy, "ETag"), &version);
		retry_after = ghi_parse_retry_after(header_value(r->easy, "Retry-After"),
						    c->retry_max_ms);
	}
	curl_multi_remove_handle(c->multi, r->easy);
	curl_easy_cleanup(r->easy);
	r->easy = NULL;

	if (transient(cc, r->too_large, http) && r->attempts <= c->max_retries && !c->stopping) {
		long delay = retry_after >= 0 ? retry_after :
			     ghi_backoff_ms(r->attempts, c->retry_base_ms, c->retry_max_ms, rnd(c));
		r->not_before = now_ms() + delay;
		list_push(&c->queued, r);
		return;
	}

	int status;
	if (r->too_large) {
		status = GH_ERR_TOO_LARGE;
		snprintf(msg, sizeof msg, "the reply is larger than %zu bytes", c->max_response);
	} else if (cc != CURLE_OK) {
		status = GH_ERR_NETWORK;
		snprintf(msg, sizeof msg, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc));
	} else {
		status = ghi_status_for_reply(http, r->resp, r->resp_len);
		if (status == GH_OK)
			snprintf(msg, sizeof msg, "ok");
		else
			ghi_reply_message(http, r->resp, r->resp_len, msg, sizeof msg);
	}
	if ((r->flags & F_VERSION) && version == 0 && r->resp)
		version = ghi_body_version(r->resp, r->resp_len);

	switch (r->kind) {
	case K_REFRESH:
	case K_RELOGIN:
		renew_done(c, r, status, http, msg);
		return;
	case K_LOGIN:
		if (status == GH_OK) {
			struct ghi_tokens t;
			status = ghi_parse_tokens(r->resp, r->resp_len, &t, msg, sizeof msg);
			if (status == GH_OK) {
				if ((r->flags & F_NEW_GUEST) && !t.guest_secret) {
					status = GH_ERR_PROTOCOL;
					snprintf(msg, sizeof msg, "the reply lacks the guest secret");
				} else if (r->flags & F_NEW_GUEST) {
					memset(&c->cred, 0, sizeof c->cred);
					snprintf(c->cred.user_id, sizeof c->cred.user_id, "%s", t.user_id);
					snprintf(c->cred.guest_secret, sizeof c->cred.guest_secret, "%s",
						 t.guest_secret);
					c->has_cred = true;
					if (cred_save(c) != 0) {
						status = GH_ERR_STORAGE;
						snprintf(msg, sizeof msg, "logged in, but the guest "
							 "credentials could not be saved");
					}
				}
				session_set(c, &t);
				ghi_tokens_release(&t);
				release_waiting(c);
				emit_event(c, GH_EVENT_LOGGED_IN, GH_OK, "logged in");
			}
		} else if (status == GH_ERR_BANNED) {
			session_end(c, status, GH_EVENT_BANNED, msg);
		} else if (status == GH_ERR_UNAUTHORIZED && (r->flags & F_SAVED_GUEST)) {
			status = GH_ERR_DELETED;
			snprintf(msg, sizeof msg, "the saved guest account no longer exists");
			session_end(c, status, GH_EVENT_DELETED, msg);
		}
		break;
	case K_CALL:
		if ((r->flags & F_AUTH) && !r->reauthed && c->state == S_ACTIVE && c->refresh &&
		    (status == GH_ERR_UNAUTHORIZED || status == GH_ERR_FORBIDDEN)) {
			/* The token may be stale (or the account banned): renew, then once more. */
			r->reauthed = true;
			free(r->resp);
			r->resp = NULL;
			r->resp_len = r->resp_cap = 0;
			r->attempts = 0;
			c->access_exp = 0;
			list_push(&c->auth_wait, r);
			ensure_refresh(c);
			return;
		}
		if (status == GH_ERR_BANNED && c->state == S_ACTIVE) {
			session_end(c, status, GH_EVENT_BANNED, msg);
		} else if (status == GH_OK && (r->flags & (F_ENDS | F_FORGET))) {
			if (r->flags & F_FORGET)
				(void)cred_forget(c);
			session_clear(c);
			c->state = S_NONE;
			fail_waiting(c, GH_ERR_NO_SESSION, "logged out");
			emit_event(c, GH_EVENT_LOGGED_OUT, GH_OK, "logged out");
		}
		break;
	}
	finish(c, r, status, http, msg, version);
}

/* Starts what is due, moves transfers, handles the finished (io owner). */
static void drive(struct gh_client *c)
{
	int running;
	pthread_mutex_lock(&c->lock);
	int64_t now = now_ms();
	if (c->state == S_ACTIVE && !c->renewing && c->refresh_due && now >= c->refresh_due)
		ensure_refresh(c);

	struct req **pp = &c->queued;
	while (*pp) {
		struct req *r = *pp;
		bool internal = r->kind == K_REFRESH || r->kind == K_RELOGIN;
		if (r->not_before > now || (!internal && c->n_active >= c->max_connections)) {
			pp = &r->next;
			continue;
		}
		if (r->flags & F_AUTH) {
			if (c->state != S_ACTIVE) {
				*pp = r->next;
				int st = c->state == S_ENDED ? c->end_status : GH_ERR_NO_SESSION;
				finish(c, r, st, 0, NULL, 0);
				continue;
			}
			if (c->renewing || now + 1000 >= c->access_exp) {
				*pp = r->next;
				list_push(&c->auth_wait, r);
				ensure_refresh(c);
				pp = &c->queued; /* the refresh went to the front */
				continue;
			}
		}
		*pp = r->next;
		if (start_transfer(c, r) != 0) {
			finish(c, r, GH_ERR_NETWORK, 0, "cannot start the transfer", 0);
			continue;
		}
	}
	pthread_mutex_unlock(&c->lock);

	curl_multi_perform(c->multi, &running);

	pthread_mutex_lock(&c->lock);
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct req *r = NULL;
		CURLcode cc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		complete(c, r, cc);
	}
	pthread_mutex_unlock(&c->lock);
}

/* How long the io owner may sleep before something is due (ms). */
static long next_due_ms(struct gh_client *c, long cap)
{
	long t = cap, mt = -1;
	curl_multi_timeout(c->multi, &mt);
	if (mt >= 0 && mt < t)
		t = mt;
	pthread_mutex_lock(&c->lock);
	int64_t now = now_ms();
	for (struct req *r = c->queued; r; r = r->next) {
		int64_t d = r->not_before - now;
		if (d < t)
			t = d < 0 ? 0 : (long)d;
	}
	if (c->state == S_ACTIVE && !c->renewing && c->refresh_due) {
		int64_t d = c->refresh_due - now;
		if (d < t)
			t = d < 0 ? 0 : (long)d;
	}
	pthread_mutex_unlock(&c->lock);
	return t;
}

static void *io_thread(void *arg)
{
	struct gh_client *c = arg;
	pthread_mutex_lock(&c->io_lock);
	for (;;) {
		pthread_mutex_lock(&c->lock);
		bool stop = c->stopping;
		pthread_mutex_unlock(&c->lock);
		if (stop)
			break;
		drive(c);
		long t = next_due_ms(c, 1000);
		curl_multi_poll(c->multi, NULL, 0, (int)t, NULL);
	}
	pthread_mutex_unlock(&c->io_lock);
	return NULL;
}

/* ---- the handle ---- */

int gh_client_new(const struct gh_client_config *cfg, gh_client **out)
{
	*out = NULL;
	if (!cfg || !cfg->base_url || (strncmp(cfg->base_url, "http://", 7) != 0 &&
				       strncmp(cfg->base_url, "https://", 8) != 0))
		return GH_ERR_INVALID;
	if (cfg->store && (!cfg->store->load || !cfg->store->save))
		return GH_ERR_INVALID;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return GH_ERR_NETWORK;

	struct gh_client *c = ghi_xcalloc(1, sizeof *c);
	size_t n = strlen(cfg->base_url);
	while (n > 0 && cfg->base_url[n - 1] == '/')
		n--;
	c->base_url = ghi_xstrndup(cfg->base_url, n);
	c->cred_path = cfg->credentials_path ? ghi_xstrdup(cfg->credentials_path) : NULL;
	if (cfg->store) {
		c->store = *cfg->store;
		c->has_store = true;
	}
	c->on_session = cfg->on_session;
	c->session_user = cfg->session_user;
	c->own_thread = cfg->own_thread;
	c->tls_no_verify = cfg->tls_no_verify;
	c->ca_file = cfg->ca_file ? ghi_xstrdup(cfg->ca_file) : NULL;
	c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 5000;
	c->request_timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 15000;
	c->max_retries = cfg->max_retries > 0 ? cfg->max_retries : cfg->max_retries < 0 ? 0 : 4;
	c->retry_base_ms = cfg->retry_base_ms > 0 ? cfg->retry_base_ms : 250;
	c->retry_max_ms = cfg->retry_max_ms > 0 ? cfg->retry_max_ms : 8000;
	c->refresh_at = cfg->refresh_at > 0 && cfg->refresh_at <= 1 ? cfg->refresh_at : 0.75;
	c->refresh_jitter = cfg->refresh_jitter > 0 ? cfg->refresh_jitter :
			    cfg->refresh_jitter < 0 ? 0 : 0.10;
	c->max_response = cfg->max_response > 0 ? cfg->max_response : 4u << 20;
	c->max_connections = cfg->max_connections > 0 ? cfg->max_connections : 4;
	c->rng = (uint64_t)now_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)c;
	if (!c->rng)
		c->rng = 1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->io_lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->multi = curl_multi_init();
	if (!c->multi) {
		gh_client_free(c);
		return GH_ERR_NETWORK;
	}
	int rc = cred_load(c);
	if (rc != 0) {
		gh_client_free(c);
		return rc;
	}
	if (c->own_thread) {
		if (pthread_create(&c->thread, NULL, io_thread, c) != 0) {
			gh_client_free(c);
			return GH_ERR_INVALID;
		}
		c->thread_running = true;
	}
	*out = c;
	return 0;
}

static void free_list(struct req *r)
{
	while (r) {
		struct req *next = r->next;
		req_free(r);
		r = next;
	}
}

void gh_client_free(gh_client *c)
{
	if (!c)
		return;
	if (c->thread_running) {
		pthread_mutex_lock(&c->lock);
		c->stopping = true;
		pthread_mutex_unlock(&c->lock);
		curl_multi_wakeup(c->multi);
		pthread_join(c->thread, NULL);
	}
	for (struct req *r = c->active; r; r = r->next)
		curl_multi_remove_handle(c->multi, r->easy);
	free_list(c->active);
	free_list(c->queued);
	free_list(c->auth_wait);
	while (c->done_head) {
		struct delivery *d = c->done_head;
		c->done_head = d->next;
		delivery_free(d);
	}
	if (c->multi)
		curl_multi_cleanup(c->multi);
	session_clear(c);
	memset(&c->cred, 0, sizeof c->cred);
	free(c->base_url);
	free(c->cred_path);
	free(c->ca_file);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->io_lock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int gh_client_tick(gh_client *c)
{
	int n = 0;
	if (!c->own_thread && pthread_mutex_trylock(&c->io_lock) == 0) {
		drive(c);
		pthread_mutex_unlock(&c->io_lock);
	}
	pthread_mutex_lock(&c->lock);
	struct delivery *d = c->done_head;
	c->done_head = c->done_tail = NULL;
	pthread_mutex_unlock(&c->lock);
	while (d) {
		struct delivery *next = d->next;
		if (d->is_event) {
			c->on_session(d->event, d->status, d->message, c->session_user);
		} else {
			struct gh_result res = {
				.status = d->status,
				.http_status = d->http,
				.message = d->message,
				.body = d->body,
				.body_len = d->body_len,
				.version = d->version,
			};
			d->cb(&res, d->user);
		}
		delivery_free(d);
		n++;
		d = next;
	}
	return n;
}

void gh_client_wait(gh_client *c, long timeout_ms)
{
	if (timeout_ms < 0)
		timeout_ms = 0;
	if (c->own_thread) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&c->lock);
		if (!c->done_head)
			pthread_cond_timedwait(&c->cond, &c->lock, &ts);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	pthread_mutex_lock(&c->io_lock);
	pthread_mutex_lock(&c->lock);
	bool pending = c->done_head != NULL;
	pthread_mutex_unlock(&c->lock);
	if (!pending) {
		drive(c);
		long t = next_due_ms(c, timeout_ms);
		curl_multi_poll(c->multi, NULL, 0, (int)t, NULL);
	}
	pthread_mutex_unlock(&c->io_lock);
}

bool gh_client_logged_in(gh_client *c)
{
	pthread_mutex_lock(&c->lock);
	bool r = c->state == S_ACTIVE;
	pthread_mutex_unlock(&c->lock);
	return r;
}

bool gh_client_has_credentials(gh_client *c)
{
	pthread_mutex_lock(&c->lock);
	bool r = c->has_cred;
	pthread_mutex_unlock(&c->lock);
	return r;
}

int gh_client_user_id(gh_client *c, char *buf, size_t cap)
{
	int rc = GH_ERR_NO_SESSION;
	pthread_mutex_lock(&c->lock);
	const char *id = c->user_id ? c->user_id : c->has_cred ? c->cred.user_id : NULL;
	if (id && cap > strlen(id)) {
		snprintf(buf, cap, "%s", id);
		rc = 0;
	} else if (id) {
		rc = GH_ERR_INVALID;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

unsigned gh_client_refresh_count(gh_client *c)
{
	pthread_mutex_lock(&c->lock);
	unsigned n = c->refresh_count;
	pthread_mutex_unlock(&c->lock);
	return n;
}

int gh_client_forget_credentials(gh_client *c)
{
	pthread_mutex_lock(&c->lock);
	int rc = cred_forget(c);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* ---- requests ---- */

/* Queues r (taking it over) and wakes the io owner. */
static int submit(struct gh_client *c, struct req *r)
{
	pthread_mutex_lock(&c->lock);
	if ((r->flags & F_AUTH) && c->state != S_ACTIVE) {
		int st = c->state == S_ENDED ? c->end_status : GH_ERR_NO_SESSION;
		pthread_mutex_unlock(&c->lock);
		req_free(r);
		return st;
	}
	list_push(&c->queued, r);
	pthread_mutex_unlock(&c->lock);
	curl_multi_wakeup(c->multi);
	return 0;
}

static void set_form(struct req *r, char *body, size_t len)
{
	r->body = body;
	r->body_len = len;
	r->ctype = ghi_xstrdup("application/x-www-form-urlencoded");
}

int gh_login_guest(gh_client *c, gh_callback cb, void *user)
{
	if (!c)
		return GH_ERR_INVALID;
	char *body = NULL;
	size_t len = 0;
	struct req *r;
	pthread_mutex_lock(&c->lock);
	if (c->has_cred) {
		r = req_new(K_LOGIN, F_SAVED_GUEST, "POST", "/login-as-guest", cb, user);
		form_add(&body, &len, "user_id", c->cred.user_id);
		form_add(&body, &len, "guest_secret", c->cred.guest_secret);
	} else {
		r = req_new(K_LOGIN, F_NEW_GUEST, "POST", "/login-as-guest", cb, user);
		body = ghi_xstrdup("");
	}
	pthread_mutex_unlock(&c->lock);
	set_form(r, body, len);
	return submit(c, r);
}

int gh_login_platform(gh_client *c, const struct gh_platform_credential *cred, bool link,
		      gh_callback cb, void *user)
{
	static const struct {
		const char *path, *param;
	} routes[] = {
		[GH_PLATFORM_STEAM] = { "/login-with-steam", "steam_auth_token" },
		[GH_PLATFORM_APPLE] = { "/login-with-apple-id", "apple_auth_token" },
		[GH_PLATFORM_GOOGLE_PLAY] = { "/login-with-google-play", "google_play_auth_token" },
		[GH_PLATFORM_FACEBOOK] = { "/login-with-facebook", "facebook_access_token" },
		[GH_PLATFORM_OIDC] = { "/login-with-oidc", "id_token" },
	};
	if (!c || !cred || cred->platform < GH_PLATFORM_STEAM || cred->platform > GH_PLATFORM_OIDC ||
	    !cred->token || !*cred->token)
		return GH_ERR_INVALID;
	if (cred->platform == GH_PLATFORM_FACEBOOK && (!cred->user_id || !*cred->user_id))
		return GH_ERR_INVALID;
	if (cred->platform == GH_PLATFORM_OIDC && (!cred->provider || !*cred->provider))
		return GH_ERR_INVALID;
	char *body = NULL;
	size_t len = 0;
	form_add(&body, &len, routes[cred->platform].param, cred->token);
	if (cred->platform == GH_PLATFORM_FACEBOOK)
		form_add(&body, &len, "facebook_user_id", cred->user_id);
	if (cred->platform == GH_PLATFORM_OIDC)
		form_add(&body, &len, "provider", cred->provider);
	if (link) {
		pthread_mutex_lock(&c->lock);
		if (c->state != S_ACTIVE || !c->access) {
			pthread_mutex_unlock(&c->lock);
			memset(body, 0, len);
			free(body);
			return GH_ERR_NO_SESSION;
		}
		form_add(&body, &len, "auth_token", c->access);
		form_add(&body, &len, "link_to_existing_user", "Yes");
		pthread_mutex_unlock(&c->lock);
	}
	struct req *r = req_new(K_LOGIN, 0, "POST", routes[cred->platform].path, cb, user);
	set_form(r, body, len);
	return submit(c, r);
}

int gh_logout(gh_client *c, gh_callback cb, void *user)
{
	if (!c)
		return GH_ERR_INVALID;
	char *body = NULL;
	size_t len = 0;
	pthread_mutex_lock(&c->lock);
	if (c->state != S_ACTIVE || !c->refresh) {
		pthread_mutex_unlock(&c->lock);
		return GH_ERR_NO_SESSION;
	}
	form_add(&body, &len, "refresh_token", c->refresh);
	pthread_mutex_unlock(&c->lock);
	struct req *r = req_new(K_CALL, F_ENDS, "POST", "/logout", cb, user);
	set_form(r, body, len);
	return submit(c, r);
}

static int simple(gh_client *c, unsigned flags, const char *method, const char *path,
		  gh_callback cb, void *user)
{
	if (!c)
		return GH_ERR_INVALID;
	struct req *r = req_new(K_CALL, F_AUTH | flags, method, path, cb, user);
	if (strcmp(method, "POST") == 0) {
		r->ctype = ghi_xstrdup("application/x-www-form-urlencoded");
		r->body = ghi_xstrdup("");
	}
	return submit(c, r);
}

int gh_logout_all(gh_client *c, gh_callback cb, void *user)
{
	return simple(c, F_ENDS, "POST", "/logout-all", cb, user);
}

int gh_get_user(gh_client *c, gh_callback cb, void *user)
{
	return simple(c, 0, "GET", "/get-user", cb, user);
}

int gh_export_user_data(gh_client *c, gh_callback cb, void *user)
{
	return simple(c, 0, "GET", "/export-user-data", cb, user);
}

int gh_delete_user(gh_client *c, gh_callback cb, void *user)
{
	return simple(c, F_ENDS | F_FORGET, "POST", "/delete-user", cb, user);
}

int gh_unlink_identity(gh_client *c, const char *platform, gh_callback cb, void *user)
{
	if (!c || !platform || !*platform || strlen(platform) > 200)
		return GH_ERR_INVALID;
	char *body = NULL;
	size_t len = 0;
	form_add(&body, &len, "platform", platform);
	struct req *r = req_new(K_CALL, F_AUTH, "POST", "/unlink-identity", cb, user);
	set_form(r, body, len);
	return submit(c, r);
}

int gh_set_player_name(gh_client *c, const char *name, gh_callback cb, void *user)
{
	if (!c || !name || strlen(name) > 1024)
		return GH_ERR_INVALID;
	char *body = NULL;
	size_t len = 0;
	form_add(&body, &len, "player_name", name);
	struct req *r = req_new(K_CALL, F_AUTH, "POST", "/set-player-data", cb, user);
	set_form(r, body, len);
	return submit(c, r);
}

int gh_get_player_data(gh_client *c, gh_callback cb, void *user)
{
	return simple(c, 0, "GET", "/get-player-data", cb, user);
}

static char *doc_path(const char *key)
{
	size_t n = strlen("/player-data/") + strlen(key) + 1;
	char *p = ghi_xmalloc(n);
	snprintf(p, n, "/player-data/%s", key);
	return p;
}

static void set_precondition(struct req *r, long long if_version)
{
	char line[64];
	if (if_version == GH_NO_VERSION) {
		r->if_match = ghi_xstrdup("If-None-Match: *");
	} else if (if_version > 0) {
		snprintf(line, sizeof line, "If-Match: \"%lld\"", if_version);
		r->if_match = ghi_xstrdup(line);
	}
}

int gh_storage_get(gh_client *c, const char *key, gh_callback cb, void *user)
{
	if (!c || !valid_key(key))
		return GH_ERR_INVALID;
	char *path = doc_path(key);
	struct req *r = req_new(K_CALL, F_AUTH | F_VERSION, "GET", path, cb, user);
	free(path);
	return submit(c, r);
}

int gh_storage_put(gh_client *c, const char *key, const char *json, size_t len,
		   long long if_version, gh_callback cb, void *user)
{
	if (!c || !valid_key(key) || !json || len == 0 || if_version < GH_ANY_VERSION)
		return GH_ERR_INVALID;
	char *path = doc_path(key);
	struct req *r = req_new(K_CALL, F_AUTH | F_VERSION, "PUT", path, cb, user);
	free(path);
	r->body = ghi_xstrndup(json, len);
	r->body_len = len;
	r->ctype = ghi_xstrdup("application/json");
	set_precondition(r, if_version);
	return submit(c, r);
}

int gh_storage_delete(gh_client *c, const char *key, long long if_version, gh_callback cb,
		      void *user)
{
	if (!c || !valid_key(key) || if_version < GH_ANY_VERSION || if_version == GH_NO_VERSION)
		return GH_ERR_INVALID;
	char *path = doc_path(key);
	struct req *r = req_new(K_CALL, F_AUTH | F_VERSION, "DELETE", path, cb, user);
	free(path);
	set_precondition(r, if_version);
	return submit(c, r);
}

int gh_storage_list(gh_client *c, const char *cursor, int limit, gh_callback cb, void *user)
{
	if (!c || limit < 0 || (cursor && strlen(cursor) > 1024))
		return GH_ERR_INVALID;
	char *q = NULL;
	size_t len = 0;
	char num[16];
	if (cursor)
		form_add(&q, &len, "cursor", cursor);
	if (limit > 0) {
		snprintf(num, sizeof num, "%d", limit);
		form_add(&q, &len, "limit", num);
	}
	size_t n = strlen("/player-data?") + len + 1;
	char *path = ghi_xmalloc(n);
	snprintf(path, n, "/player-data%s%s", q ? "?" : "", q ? q : "");
	free(q);
	struct req *r = req_new(K_CALL, F_AUTH, "GET", path, cb, user);
	free(path);
	return submit(c, r);
}

int gh_storage_batch(gh_client *c, const char *json, size_t len, gh_callback cb, void *user)
{
	if (!c || !json || len == 0)
		return GH_ERR_INVALID;
	struct req *r = req_new(K_CALL, F_AUTH | F_VERSION, "POST", "/player-data-batch", cb, user);
	r->body = ghi_xstrndup(json, len);
	r->body_len = len;
	r->ctype = ghi_xstrdup("application/json");
	return submit(c, r);
}

int gh_request(gh_client *c, const char *method, const char *path, const char *content_type,
	       const char *body, size_t len, gh_callback cb, void *user)
{
	if (!c || !method || !path || path[0] != '/' || strlen(method) > 16 ||
	    (content_type && strlen(content_type) > 100) || (len && !body))
		return GH_ERR_INVALID;
	for (const char *p = method; *p; p++)
		if (*p < 'A' || *p > 'Z')
			return GH_ERR_INVALID;
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return GH_ERR_INVALID;
	if (content_type)
		for (const char *p = content_type; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				return GH_ERR_INVALID;
	struct req *r = req_new(K_CALL, F_AUTH | F_VERSION, method, path, cb, user);
	if (body) {
		r->body = ghi_xstrndup(body, len);
		r->body_len = len;
	}
	if (content_type)
		r->ctype = ghi_xstrdup(content_type);
	return submit(c, r);
}

/* ---- blocking API ---- */

void gh_response_init(struct gh_response *r)
{
	memset(r, 0, sizeof *r);
}

void gh_response_release(struct gh_response *r)
{
	free(r->message);
	if (r->body) {
		memset(r->body, 0, r->body_len);
		free(r->body);
	}
	memset(r, 0, sizeof *r);
}

void gh_response_cb(const struct gh_result *res, void *user)
{
	struct gh_response *r = user;
	gh_response_release(r);
	r->status = res->status;
	r->http_status = res->http_status;
	r->message = ghi_xstrdup(res->message);
	r->body = ghi_xstrndup(res->body ? res->body : "", res->body ? res->body_len : 0);
	r->body_len = res->body ? res->body_len : 0;
	r->version = res->version;
	r->done = true;
}

int gh_wait_for(gh_client *c, struct gh_response *r, int submit_rc, long timeout_ms)
{
	if (submit_rc < 0) {
		gh_response_release(r);
		r->status = submit_rc;
		r->message = ghi_xstrdup(gh_strerror(submit_rc));
		r->body = ghi_xstrdup("");
		r->done = true;
		return submit_rc;
	}
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		gh_client_tick(c);
		if (r->done)
			return r->status;
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return GH_ERR_TIMEOUT;
		gh_client_wait(c, left < 50 ? (long)left : 50);
	}
}
