/*
 * util.c - allocation wrappers, response parsing and refresh/backoff
 * scheduling for the client library: the parts that need no server.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"

static void oom(size_t n)
{
	fprintf(stderr, "gatehouse-client: out of memory (%zu bytes)\n", n);
	abort();
}

void *ghi_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *ghi_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *ghi_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *ghi_xstrndup(const char *s, size_t n)
{
	char *p = ghi_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *ghi_xstrdup(const char *s)
{
	return ghi_xstrndup(s, strlen(s));
}

/* ---- token replies ---- */

static json_t *load_object(const char *body, size_t len)
{
	json_error_t err;
	if (!body || len == 0)
		return NULL;
	json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (v && !json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* A string member of bounded length made of printable ASCII, copied. */
static int take_string(json_t *o, const char *name, size_t max, bool required, char **out,
		       char *msg, size_t msg_cap)
{
	json_t *v = json_object_get(o, name);
	*out = NULL;
	if (!v) {
		if (!required)
			return 0;
		snprintf(msg, msg_cap, "reply lacks '%s'", name);
		return GH_ERR_PROTOCOL;
	}
	if (!json_is_string(v)) {
		snprintf(msg, msg_cap, "'%s' in the reply is not a string", name);
		return GH_ERR_PROTOCOL;
	}
	size_t n = json_string_length(v);
	const char *s = json_string_value(v);
	if (n == 0 || n > max || strlen(s) != n || !printable(s)) {
		snprintf(msg, msg_cap, "'%s' in the reply is empty, too long or not printable",
			 name);
		return GH_ERR_PROTOCOL;
	}
	*out = ghi_xstrndup(s, n);
	return 0;
}

static int take_seconds(json_t *o, const char *name, long long *out, char *msg, size_t msg_cap)
{
	json_t *v = json_object_get(o, name);
	if (!v || !json_is_integer(v)) {
		snprintf(msg, msg_cap, "'%s' in the reply is missing or not an integer", name);
		return GH_ERR_PROTOCOL;
	}
	json_int_t n = json_integer_value(v);
	if (n <= 0 || n > GHI_MAX_EXPIRES_IN) {
		snprintf(msg, msg_cap, "'%s' in the reply is out of range", name);
		return GH_ERR_PROTOCOL;
	}
	*out = (long long)n;
	return 0;
}

int ghi_parse_tokens(const char *body, size_t len, struct ghi_tokens *out, char *msg,
		     size_t msg_cap)
{
	int rc;
	memset(out, 0, sizeof *out);
	json_t *o = load_object(body, len);
	if (!o) {
		snprintf(msg, msg_cap, "the token reply is not a JSON object");
		return GH_ERR_PROTOCOL;
	}
	if ((rc = take_string(o, "user_id", GHI_MAX_USER_ID, true, &out->user_id, msg, msg_cap)) ||
	    (rc = take_string(o, "guest_secret", GHI_MAX_SECRET, false, &out->guest_secret, msg,
			      msg_cap)) ||
	    (rc = take_string(o, "auth_token", GHI_MAX_TOKEN, true, &out->auth_token, msg,
			      msg_cap)) ||
	    (rc = take_string(o, "refresh_token", GHI_MAX_TOKEN, true, &out->refresh_token, msg,
			      msg_cap)) ||
	    (rc = take_seconds(o, "auth_token_expires_in", &out->auth_expires_in, msg, msg_cap)) ||
	    (rc = take_seconds(o, "refresh_token_expires_in", &out->refresh_expires_in, msg,
			       msg_cap)))
		goto out_fail;
	json_decref(o);
	return 0;

out_fail:
	json_decref(o);
	ghi_tokens_release(out);
	return rc;
}

void ghi_tokens_release(struct ghi_tokens *t)
{
	free(t->user_id);
	free(t->guest_secret);
	free(t->auth_token);
	free(t->refresh_token);
	memset(t, 0, sizeof *t);
}

/* ---- error replies ---- */

static bool body_is(const char *body, size_t len, const char *text)
{
	size_t n = strlen(text);
	return body && len == n && memcmp(body, text, n) == 0;
}

/* The string member name of a JSON object body, copied into out; false if none. */
static bool json_member(const char *body, size_t len, const char *name, char *out, size_t cap)
{
	if (!body || len == 0 || body[0] != '{')
		return false;
	json_t *o = load_object(body, len);
	if (!o)
		return false;
	json_t *v = json_object_get(o, name);
	bool ok = json_is_string(v);
	if (ok)
		snprintf(out, cap, "%s", json_string_value(v));
	json_decref(o);
	return ok;
}

int ghi_status_for_reply(long http, const char *body, size_t len)
{
	char slug[64];
	if (http >= 200 && http < 300)
		return GH_OK;
	switch (http) {
	case 400:
	case 415:
		return GH_ERR_INVALID;
	case 401:
		return GH_ERR_UNAUTHORIZED;
	case 403:
		if (body_is(body, len, "Error: User is banned"))
			return GH_ERR_BANNED;
		if (json_member(body, len, "error", slug, sizeof slug) && strcmp(slug, "banned") == 0)
			return GH_ERR_BANNED;
		return GH_ERR_FORBIDDEN;
	case 404:
		return GH_ERR_NOT_FOUND;
	case 409:
	case 412:
		return GH_ERR_CONFLICT;
	case 413:
		return GH_ERR_TOO_LARGE;
	case 429:
		return GH_ERR_RATE_LIMITED;
	case 502:
	case 503:
	case 504:
		return GH_ERR_UNAVAILABLE;
	default:
		return GH_ERR_HTTP;
	}
}

/* Copies at most cap-1 bytes of s, replacing control and non-ASCII bytes. */
static void copy_printable(char *out, size_t cap, const char *s, size_t n)
{
	size_t j = 0;
	if (cap == 0)
		return;
	for (size_t i = 0; i < n && j + 1 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[j++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	out[j] = '\0';
}

void ghi_reply_message(long http, const char *body, size_t len, char *msg, size_t msg_cap)
{
	char text[GHI_MAX_MESSAGE];
	if (json_member(body, len, "message", text, sizeof text) ||
	    json_member(body, len, "error", text, sizeof text)) {
		char tmp[GHI_MAX_MESSAGE + 32];
		snprintf(tmp, sizeof tmp, "HTTP %ld: %s", http, text);
		copy_printable(msg, msg_cap, tmp, strlen(tmp));
		return;
	}
	if (body && len > 0 && len < 512 && body[0] != '{' && body[0] != '<' && body[0] != '[') {
		char tmp[600];
		int n = snprintf(tmp, sizeof tmp, "HTTP %ld: %.*s", http, (int)len, body);
		copy_printable(msg, msg_cap, tmp, n < 0 ? 0 : (size_t)n);
		return;
	}
	snprintf(msg, msg_cap, "HTTP %ld", http);
}

bool ghi_parse_etag(const char *value, long long *out)
{
	if (!value)
		return false;
	while (*value == ' ' || *value == '\t')
		value++;
	if (strncmp(value, "W/", 2) == 0)
		value += 2;
	if (*value++ != '"')
		return false;
	long long v = 0;
	int digits = 0;
	for (; isdigit((unsigned char)*value); value++, digits++) {
		if (v > (LLONG_MAX - 9) / 10)
			return false;
		v = v * 10 + (*value - '0');
	}
	if (digits == 0 || *value != '"' || v <= 0)
		return false;
	*out = v;
	return true;
}

long long ghi_body_version(const char *body, size_t len)
{
	if (!body || len == 0 || body[0] != '{')
		return 0;
	json_t *o = load_object(body, len);
	if (!o)
		return 0;
	json_t *v = json_object_get(o, "version");
	long long r = json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
	json_decref(o);
	return r;
}

long ghi_parse_retry_after(const char *value, long max_ms)
{
	if (!value)
		return -1;
	while (*value == ' ')
		value++;
	long s = 0;
	int digits = 0;
	for (; isdigit((unsigned char)*value); value++, digits++) {
		if (s > 86400)
			break;
		s = s * 10 + (*value - '0');
	}
	if (digits == 0)
		return -1;
	long ms = s > max_ms / 1000 ? max_ms : s * 1000;
	return ms;
}

/* ---- scheduling ---- */

int64_t ghi_refresh_delay_ms(long long expires_in_s, double at, double jitter, uint32_t rnd)
{
	if (expires_in_s <= 0)
		return 0;
	if (at <= 0 || at > 1)
		at = 0.75;
	if (jitter < 0)
		jitter = 0;
	if (jitter > 0.5)
		jitter = 0.5;
	double life = (double)expires_in_s * 1000.0;
	double u = (double)rnd / 4294967295.0 * 2.0 - 1.0; /* [-1, 1] */
	double d = life * at + life * jitter * u;
	double margin = life / 10 < 5000 ? life / 10 : 5000;
	if (d > life - margin)
		d = life - margin;
	if (d < 1000)
		d = life < 2000 ? life / 2 : 1000;
	return (int64_t)d;
}

long ghi_backoff_ms(int attempt, long base_ms, long max_ms, uint32_t rnd)
{
	if (attempt < 1)
		attempt = 1;
	double d = (double)base_ms;
	for (int i = 1; i < attempt && d < (double)max_ms; i++)
		d *= 2;
	if (d > (double)max_ms)
		d = (double)max_ms;
	double u = (double)rnd / 4294967295.0 * 0.5 - 0.25; /* [-25%, +25%] */
	d += d * u;
	return d < 1 ? 1 : (long)(d + 0.5);
}
