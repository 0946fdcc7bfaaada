/*
 * transfer.c - the client's transfers on libcurl's multi interface:
 * starting a request, reading its answer (bounded), deciding what the
 * answer means for the session and the engine (retry with backoff, refresh,
 * re-login, deliver), and driving the multi handle from tick or the
 * library's own thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"

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
int ghc_start_transfer(struct gh_client *c, struct req *r)
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
	ghc_list_push(&c->active, r);
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

	ghc_list_remove(&c->active, r);
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
			     ghi_backoff_ms(r->attempts, c->retry_base_ms, c->retry_max_ms, ghc_rnd(c));
		r->not_before = ghc_now_ms() + delay;
		ghc_list_push(&c->queued, r);
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
		ghc_renew_done(c, r, status, http, msg);
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
					if (ghc_cred_save(c) != 0) {
						status = GH_ERR_STORAGE;
						snprintf(msg, sizeof msg, "logged in, but the guest "
							 "credentials could not be saved");
					}
				}
				ghc_session_set(c, &t);
				ghi_tokens_release(&t);
				ghc_release_waiting(c);
				ghc_emit_event(c, GH_EVENT_LOGGED_IN, GH_OK, "logged in");
			}
		} else if (status == GH_ERR_BANNED) {
			ghc_session_end(c, status, GH_EVENT_BANNED, msg);
		} else if (status == GH_ERR_UNAUTHORIZED && (r->flags & F_SAVED_GUEST)) {
			status = GH_ERR_DELETED;
			snprintf(msg, sizeof msg, "the saved guest account no longer exists");
			ghc_session_end(c, status, GH_EVENT_DELETED, msg);
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
			ghc_list_push(&c->auth_wait, r);
			ghc_ensure_refresh(c);
			return;
		}
		if (status == GH_ERR_BANNED && c->state == S_ACTIVE) {
			ghc_session_end(c, status, GH_EVENT_BANNED, msg);
		} else if (status == GH_OK && (r->flags & (F_ENDS | F_FORGET))) {
			if (r->flags & F_FORGET)
				(void)ghc_cred_forget(c);
			ghc_session_clear(c);
			c->state = S_NONE;
			ghc_fail_waiting(c, GH_ERR_NO_SESSION, "logged out");
			ghc_emit_event(c, GH_EVENT_LOGGED_OUT, GH_OK, "logged out");
		}
		break;
	}
	ghc_finish(c, r, status, http, msg, version);
}

/* Starts what is due, moves transfers, handles the finished (io owner). */
void ghc_drive(struct gh_client *c)
{
	int running;
	pthread_mutex_lock(&c->lock);
	int64_t now = ghc_now_ms();
	if (c->state == S_ACTIVE && !c->renewing && c->refresh_due && now >= c->refresh_due)
		ghc_ensure_refresh(c);

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
				ghc_finish(c, r, st, 0, NULL, 0);
				continue;
			}
			if (c->renewing || now + 1000 >= c->access_exp) {
				*pp = r->next;
				ghc_list_push(&c->auth_wait, r);
				ghc_ensure_refresh(c);
				pp = &c->queued; /* the refresh went to the front */
				continue;
			}
		}
		*pp = r->next;
		if (ghc_start_transfer(c, r) != 0) {
			ghc_finish(c, r, GH_ERR_NETWORK, 0, "cannot start the transfer", 0);
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
long ghc_next_due_ms(struct gh_client *c, long cap)
{
	long t = cap, mt = -1;
	curl_multi_timeout(c->multi, &mt);
	if (mt >= 0 && mt < t)
		t = mt;
	pthread_mutex_lock(&c->lock);
	int64_t now = ghc_now_ms();
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

void *ghc_io_thread(void *arg)
{
	struct gh_client *c = arg;
	pthread_mutex_lock(&c->io_lock);
	for (;;) {
		pthread_mutex_lock(&c->lock);
		bool stop = c->stopping;
		pthread_mutex_unlock(&c->lock);
		if (stop)
			break;
		ghc_drive(c);
		long t = ghc_next_due_ms(c, 1000);
		curl_multi_poll(c->multi, NULL, 0, (int)t, NULL);
	}
	pthread_mutex_unlock(&c->io_lock);
	return NULL;
}

