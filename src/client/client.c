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


#include "core.h"

int64_t ghc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t ghc_rnd(struct gh_client *c)
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
void ghc_form_add(char **buf, size_t *len, const char *k, const char *v)
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

bool ghc_valid_key(const char *key)
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

struct req *ghc_req_new(enum req_kind kind, unsigned flags, const char *method,
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

void ghc_req_free(struct req *r)
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

void ghc_list_push(struct req **head, struct req *r)
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

bool ghc_list_remove(struct req **head, struct req *r)
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

void ghc_emit_event(struct gh_client *c, enum gh_session_event ev, int status,
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

void ghc_finish(struct gh_client *c, struct req *r, int status, long http,
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
	ghc_req_free(r);
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

int ghc_cred_save(struct gh_client *c)
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

int ghc_cred_forget(struct gh_client *c)
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

void ghc_session_clear(struct gh_client *c)
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
void ghc_release_waiting(struct gh_client *c)
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

void ghc_fail_waiting(struct gh_client *c, int status, const char *message)
{
	while (c->auth_wait) {
		struct req *r = c->auth_wait;
		c->auth_wait = r->next;
		ghc_finish(c, r, status, 0, message, 0);
	}
}

void ghc_session_end(struct gh_client *c, int status, enum gh_session_event ev,
			const char *message)
{
	ghc_session_clear(c);
	c->state = S_ENDED;
	c->end_status = status;
	ghc_fail_waiting(c, status, message);
	ghc_emit_event(c, ev, status, message);
}

void ghc_session_set(struct gh_client *c, struct ghi_tokens *t)
{
	int64_t now = ghc_now_ms();
	free_str(&c->access);
	free_str(&c->refresh);
	free(c->user_id);
	c->user_id = t->user_id;
	c->access = t->auth_token;
	c->refresh = t->refresh_token;
	t->user_id = t->auth_token = t->refresh_token = NULL;
	c->access_exp = now + t->auth_expires_in * 1000;
	c->refresh_due = now + ghi_refresh_delay_ms(t->auth_expires_in, c->refresh_at,
						    c->refresh_jitter, ghc_rnd(c));
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
		r = ghc_req_new(K_REFRESH, 0, "POST", "/refresh-access-token", NULL, NULL);
		ghc_form_add(&body, &len, "refresh_token", c->refresh);
	} else {
		r = ghc_req_new(K_RELOGIN, F_SAVED_GUEST, "POST", "/login-as-guest", NULL, NULL);
		ghc_form_add(&body, &len, "user_id", c->cred.user_id);
		ghc_form_add(&body, &len, "guest_secret", c->cred.guest_secret);
	}
	r->body = body;
	r->body_len = len;
	r->ctype = ghi_xstrdup("application/x-www-form-urlencoded");
	r->gen = c->gen;
	c->renewing = r;
	list_push_front(&c->queued, r);
}

void ghc_ensure_refresh(struct gh_client *c)
{
	if (c->state == S_ACTIVE && !c->renewing && c->refresh)
		start_renew(c, K_REFRESH);
}

/* A refresh or re-login finished with status (after its retries). */
void ghc_renew_done(struct gh_client *c, struct req *r, int status, long http,
		       const char *message)
{
	char msg[GHI_MAX_MESSAGE];
	if (r->gen != c->gen || c->renewing != r) {
		/* a login or logout replaced the session meanwhile */
		ghc_req_free(r);
		return;
	}
	c->renewing = NULL;
	if (status == GH_OK) {
		struct ghi_tokens t;
		status = ghi_parse_tokens(r->resp, r->resp_len, &t, msg, sizeof msg);
		if (status == GH_OK) {
			bool relogin = r->kind == K_RELOGIN;
			ghc_session_set(c, &t);
			ghi_tokens_release(&t);
			if (!relogin)
				c->refresh_count++;
			ghc_release_waiting(c);
			ghc_emit_event(c, relogin ? GH_EVENT_RELOGGED_IN : GH_EVENT_REFRESHED, GH_OK,
				   relogin ? "logged in again with the saved guest secret" :
					     "access token refreshed");
			ghc_req_free(r);
			return;
		}
		message = msg;
	}
	if (status == GH_ERR_BANNED) {
		ghc_session_end(c, GH_ERR_BANNED, GH_EVENT_BANNED, message);
	} else if (status == GH_ERR_UNAUTHORIZED && r->kind == K_REFRESH) {
		if (c->has_cred && c->user_id && strcmp(c->user_id, c->cred.user_id) == 0)
			start_renew(c, K_RELOGIN);
		else
			ghc_session_end(c, GH_ERR_LOGIN_REQUIRED, GH_EVENT_LOGIN_REQUIRED,
				    "the session ended and the refresh token was refused");
	} else if (status == GH_ERR_UNAUTHORIZED && r->kind == K_RELOGIN) {
		ghc_session_end(c, GH_ERR_DELETED, GH_EVENT_DELETED,
			    "the saved guest account no longer exists");
	} else {
		/* Transient (after the retries) or odd: keep the session, try again later. */
		c->renew_failures++;
		c->refresh_due = ghc_now_ms() + ghi_backoff_ms(c->renew_failures, 1000, c->retry_max_ms,
							   ghc_rnd(c));
		ghc_emit_event(c, GH_EVENT_REFRESH_FAILED, status, message);
		if (ghc_now_ms() + 1000 >= c->access_exp)
			ghc_fail_waiting(c, status, message);
		else
			ghc_release_waiting(c);
	}
	(void)http;
	ghc_req_free(r);
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
	c->rng = (uint64_t)ghc_now_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)c;
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
		if (pthread_create(&c->thread, NULL, ghc_io_thread, c) != 0) {
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
		ghc_req_free(r);
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
	ghc_session_clear(c);
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
		ghc_drive(c);
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
		ghc_drive(c);
		long t = ghc_next_due_ms(c, timeout_ms);
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
	int rc = ghc_cred_forget(c);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

