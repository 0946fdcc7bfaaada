/*
 * httpc.c - the libcurl easy interface behind httpc.h, one handle per
 * thread (a pthread key frees it when the thread ends).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "gatehouse/httpc.h"
#include "gatehouse/log.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/banned.h"

static pthread_key_t handle_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void free_handle(void *h)
{
	curl_easy_cleanup(h);
}

static void make_key(void)
{
	pthread_key_create(&handle_key, free_handle);
}

int httpc_global_init(void)
{
	pthread_once(&key_once, make_key);
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : GH_EINTERNAL;
}

void httpc_global_cleanup(void)
{
	curl_global_cleanup();
}

/* This thread's handle, made on first use. */
static CURL *thread_handle(void)
{
	pthread_once(&key_once, make_key);
	CURL *h = pthread_getspecific(handle_key);
	if (!h) {
		h = curl_easy_init();
		if (h)
			pthread_setspecific(handle_key, h);
	}
	return h;
}

struct sink {
	struct strbuf sb;
	size_t max;
	bool too_big;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;
	if (s->sb.len + n > s->max) {
		s->too_big = true;
		return CURL_WRITEFUNC_ERROR;
	}
	sb_add(&s->sb, data, n);
	return n;
}

int httpc_do(const struct httpc_options *opt, const struct httpc_request *req,
	     struct httpc_response *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	CURL *h = thread_handle();
	if (!h) {
		snprintf(err, errlen, "cannot create a libcurl handle");
		return GH_EUNAVAIL;
	}
	curl_easy_reset(h);
	struct sink sink = { STRBUF_INIT, opt->max_response, false };
	struct curl_slist *headers = NULL;
	for (const char *const *p = req->headers; p && *p; p++)
		headers = curl_slist_append(headers, *p);
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)opt->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)opt->timeout_ms);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)opt->max_response);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "gatehouse");
	if (headers)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	if (req->userpwd) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERPWD, req->userpwd);
	}
	if (req->method && !strcmp(req->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	CURLcode rc = curl_easy_perform(h);
	/* The handle keeps pointers to the request: forget them before returning. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_USERPWD, NULL);
	curl_slist_free_all(headers);
	if (rc != CURLE_OK) {
		/* curl's own text may quote the URL (and its secrets): give the code's. */
		snprintf(err, errlen, "%s", sink.too_big || rc == CURLE_FILESIZE_EXCEEDED ?
			 "answer larger than provider_max_response" : curl_easy_strerror(rc));
		sb_release(&sink.sb);
		return GH_EUNAVAIL;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
	out->body = sb_detach(&sink.sb, &out->len);
	return 0;
}

void httpc_response_release(struct httpc_response *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

char *httpc_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *out = xstrdup(e ? e : "");
	curl_free(e);
	return out;
}
