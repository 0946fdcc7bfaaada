/*
 * storage.c - versioned player storage (API.md B, D.4): JSON documents per
 * user and key with HTTP-native optimistic concurrency (ETag, If-Match,
 * If-None-Match, 412 with the current version), listing with an opaque
 * cursor, deletes, and all-or-nothing batches. A document is stored as the
 * exact bytes the client sent, so GET returns what PUT accepted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "gatehouse/handlers.h"
#include "gatehouse/http.h"
#include "gatehouse/reply.h"
#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/clock.h"
#include "gatehouse/encoding.h"
#include "gatehouse/jsoncheck.h"
#include "gatehouse/banned.h"

#define KEY_MAX 128
#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define BATCH_MAX 25

/* ---- small helpers ---- */

/* Keys are [A-Za-z0-9_.-]{1,128}, after percent-decoding. */
static bool key_valid(const char *k, size_t n)
{
	if (n == 0 || n > KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static void set_etag(struct http_request *req, int64_t version)
{
	char etag[32];
	snprintf(etag, sizeof etag, "\"%lld\"", (long long)version);
	http_add_header(req, "ETag", etag);
}

/*
 * An entity tag as this API writes them, "<version>", or * (*out 0).
 * -1 when the header is anything else.
 */
static int parse_etag(const char *s, int64_t *out)
{
	while (*s == ' ')
		s++;
	size_t n = strlen(s);
	while (n && s[n - 1] == ' ')
		n--;
	if (n == 1 && s[0] == '*') {
		*out = 0;
		return 0;
	}
	if (n < 3 || s[0] != '"' || s[n - 1] != '"')
		return -1;
	int64_t v = 0;
	for (size_t i = 1; i + 1 < n; i++) {
		int d = s[i] - '0';
		/* No version reaches 2^63: a longer number is not one of ours. */
		if (d < 0 || d > 9 || v > (INT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v <= 0)
		return -1;
	*out = v;
	return 0;
}

/*
 * A failed write or read of the token's user's documents: the table's row
 * for err, with what a client needs to recover (the current version of a
 * 412, the index and key of the failing item in a batch).
 */
static void reply_store_failure(struct http_request *req, int err, const char *key,
				int64_t current, long index)
{
	json_t *extra = json_object();
	if (err == GH_EPRECOND) {
		if (current > 0)
			set_etag(req, current);
		json_object_set_new(extra, "version",
				    current > 0 ? json_integer(current) : json_null());
		if (index >= 0) {
			json_object_set_new(extra, "index", json_integer(index));
			json_object_set_new(extra, "key", json_string(key));
		}
	} else if (err == GH_ETOOBIG && index >= 0) {
		json_object_set_new(extra, "index", json_integer(index));
	}
	reply_error_detail(req, reply_error_of(err), NULL, extra);
}

bool handlers_require_json_body(struct http_request *req)
{
	const char *ct = http_header(req, "Content-Type");
	size_t n = strlen("application/json");
	if (ct) {
		while (*ct == ' ')
			ct++;
		if (strncasecmp(ct, "application/json", n) == 0 &&
		    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
			return true;
	}
	reply_error(req, ERR_BODY_NOT_JSON);
	return false;
}

/*
 * Deepest nesting of arrays and objects in JSON text, counted without
 * parsing, so that a hostile 10,000-deep document costs one linear scan.
 * Stops counting once past limit.
 */
static int json_depth(const char *p, size_t n, int limit)
{
	int depth = 0, max = 0;
	bool in_string = false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max && (max = depth) > limit)
				return max;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return max;
}

/*
 * Checks one document: size, nesting, and that it is one JSON value in
 * valid UTF-8 without duplicate members, lone surrogates or \u0000.
 * Returns 0, or the HTTP status to answer, with *why set.
 */
static int check_document(const struct app *app, const char *p, size_t n, const char **why)
{
	if ((int64_t)n > app->cfg->player_data_max_document) {
		*why = "The document is larger than player_data_max_document";
		return 413;
	}
	if (json_depth(p, n, (int)app->cfg->player_data_max_depth) >
	    app->cfg->player_data_max_depth) {
		*why = "The document nests deeper than player_data_max_depth";
		return 400;
	}
	/* Most documents are plain JSON, accepted without building them. */
	if (json_check_plain(p, n))
		return 0;
	json_error_t jerr;
	json_t *j = json_loadb(p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		*why = "The document is not valid JSON (or has duplicate members, invalid "
		       "UTF-8, a lone surrogate or \\u0000)";
		return 400;
	}
	json_decref(j);
	return 0;
}

/* ---- a byte-exact scanner for the batch body (already valid JSON) ---- */

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* The end of the JSON value starting at p (which jansson has accepted). */
static const char *skip_value(const char *p, const char *end)
{
	if (p >= end)
		return end;
	if (*p == '"') {
		for (p++; p < end && *p != '"'; p++)
			if (*p == '\\')
				p++;
		return p < end ? p + 1 : end;
	}
	if (*p == '{' || *p == '[') {
		int depth = 0;
		bool in_string = false;
		for (; p < end; p++) {
			if (in_string) {
				if (*p == '\\')
					p++;
				else if (*p == '"')
					in_string = false;
			} else if (*p == '"') {
				in_string = true;
			} else if (*p == '{' || *p == '[') {
				depth++;
			} else if (*p == '}' || *p == ']') {
				if (--depth == 0)
					return p + 1;
			}
		}
		return end;
	}
	while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
	       *p != '\n' && *p != '\r')
		p++;
	return p;
}

/*
 * Finds member name of the object at p; sets [*vs, *ve) to its value's
 * bytes. The name is compared after unescaping ("\u0076alue" is "value").
 */
static bool find_member(const char *p, const char *end, const char *name, const char **vs,
			const char **ve)
{
	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return false;
	p++;
	for (;;) {
		p = skip_ws(p, end);
		if (p >= end || *p != '"')
			return false;
		const char *ks = p, *ke = skip_value(p, end);
		json_t *k = json_loadb(ks, (size_t)(ke - ks), JSON_DECODE_ANY, NULL);
		bool match = json_is_string(k) && strcmp(json_string_value(k), name) == 0;
		json_decref(k);
		p = skip_ws(ke, end);
		if (p >= end || *p != ':')
			return false;
		p = skip_ws(p + 1, end);
		const char *e = skip_value(p, end);
		if (match) {
			*vs = p;
			*ve = e;
			return true;
		}
		p = skip_ws(e, end);
		if (p >= end || *p != ',')
			return false;
		p++;
	}
}

/* The start of each element of the array at [p, end); up to max. */
static size_t array_elements(const char *p, const char *end, const char **starts, size_t max)
{
	p = skip_ws(p, end);
	if (p >= end || *p != '[')
		return 0;
	p = skip_ws(p + 1, end);
	size_t n = 0;
	while (p < end && *p != ']') {
		if (n < max)
			starts[n] = p;
		n++;
		p = skip_ws(skip_value(p, end), end);
		if (p < end && *p == ',')
			p = skip_ws(p + 1, end);
	}
	return n;
}

/* ---- the routes ---- */

/*
 * A document write or delete in flight: its answer is made when it is
 * durable, on the writer thread when the store took it without waiting
 * (handlers_async_begin), else here.
 */
struct doc_job {
	struct http_request *req;
	char user_id[37];
	const char *key;           /* points into the request's path */
	struct store_session_check chk;
	struct store_doc_result res[BATCH_MAX];
	struct store_doc_write w[BATCH_MAX]; /* values point into the request's body */
	char keys[BATCH_MAX][KEY_MAX + 1];
	size_t n, failed;
	int64_t current;           /* a delete's */
	void (*answer)(struct doc_job *j, int err);
};

static struct doc_job *doc_job_new(struct http_request *req, const struct route_ctx *rc,
				   void (*answer)(struct doc_job *j, int err))
{
	struct doc_job *j = xcalloc(1, sizeof *j);
	j->req = req;
	memcpy(j->user_id, rc->claims.sub, sizeof j->user_id);
	j->key = rc->key;
	j->answer = answer;
	return j;
}

static void doc_job_done(void *arg, int err)
{
	struct doc_job *j = arg;
	struct http_request *req = j->req;
	http_resumed_enter(req);
	j->answer(j, err);
	free(j);
	http_resume(req);
}

/* Writes j->w[0..n) and answers, without waiting when the store can. */
static void doc_job_write(struct app *app, struct doc_job *j, struct store_session_check *chk)
{
	struct store_doc_limits lim = app_doc_limits(app->cfg);
	struct http_request *req = j->req;
	bool async = handlers_async_begin(app, req);
	if (async && store_doc_write_async(app->store, j->user_id, j->w, j->n, gh_now(), &lim, j->res,
					   &j->failed, chk, doc_job_done, j))
		return;
	j->answer(j, store_doc_write(app->store, j->user_id, j->w, j->n, gh_now(), &lim, j->res,
				     &j->failed, chk));
	free(j);
	if (async)
		http_resume(req);
}

static void put_answer(struct doc_job *j, int err)
{
	struct http_request *req = j->req;
	if (handlers_session_failed(req, &j->chk))
		return;
	if (err) {
		reply_store_failure(req, err, j->key, j->res[0].current_version, -1);
		return;
	}
	set_etag(req, j->res[0].version);
	reply_json(req, j->res[0].created ? 201 : 200,
		   json_pack("{s:s, s:I, s:I}", "key", j->key, "version",
			     (json_int_t)j->res[0].version, "updated_at",
			     (json_int_t)j->res[0].updated_at));
}

static void put_doc(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	if (!handlers_require_json_body(req))
		return;
	const char *why = NULL;
	int status = check_document(app, req->body.buf ? req->body.buf : "", req->body.len, &why);
	if (status) {
		reply_error_detail(req, status == 413 ? ERR_PAYLOAD_TOO_LARGE : ERR_INVALID_JSON,
				   why, NULL);
		return;
	}
	struct store_doc_write w = { .key = rc->key, .value = req->body.buf, .len = req->body.len };
	const char *im = http_header(req, "If-Match"), *inm = http_header(req, "If-None-Match");
	if (im && inm) {
		reply_error_detail(req, ERR_INVALID_REQUEST,
				   "Send If-Match or If-None-Match, not both", NULL);
		return;
	}
	if (im) {
		w.cond = DOC_IF_MATCH;
		if (parse_etag(im, &w.version)) {
			reply_error_detail(req, ERR_INVALID_REQUEST,
				   "If-Match must be \"<version>\" or *", NULL);
			return;
		}
	} else if (inm) {
		int64_t v;
		w.cond = DOC_IF_NONE_MATCH;
		if (parse_etag(inm, &v) || v != 0) {
			reply_error_detail(req, ERR_INVALID_REQUEST,
				   "If-None-Match on a write must be *", NULL);
			return;
		}
	}
	struct doc_job *j = doc_job_new(req, rc, put_answer);
	j->w[0] = w;
	j->n = 1;
	doc_job_write(app, j, handlers_session_check(rc, &j->chk));
}

/* True when an If-None-Match list names version (or is *). */
static bool none_match_hits(const char *h, int64_t version)
{
	char *list = xstrdup(h);
	bool hit = false;
	for (char *item = list, *next; item && !hit; item = next) {
		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		int64_t v;
		if (parse_etag(item, &v) == 0 && (v == 0 || v == version))
			hit = true;
	}
	free(list);
	return hit;
}

static void get_doc(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	struct store_document d;
	int err = handlers_doc_get(app, rc, rc->key, &d);
	if (err == GH_ENOTFOUND) {
		reply_error(req, ERR_DOC_NOT_FOUND);
		return;
	}
	if (err) {
		reply_store_failure(req, err, rc->key, 0, -1);
		return;
	}
	set_etag(req, d.version);
	http_add_header(req, "Cache-Control", "private, no-cache");
	const char *inm = http_header(req, "If-None-Match");
	if (inm && none_match_hits(inm, d.version))
		http_reply(req, 304, NULL, "", 0);
	else
		http_reply(req, 200, "application/json", d.value, d.len);
	free(d.value);
}

static void delete_answer(struct doc_job *j, int err)
{
	struct http_request *req = j->req;
	if (handlers_session_failed(req, &j->chk))
		return;
	if (err == GH_ENOTFOUND) {
		reply_error(req, ERR_DOC_NOT_FOUND);
		return;
	}
	if (err) {
		reply_store_failure(req, err, j->key, j->current, -1);
		return;
	}
	http_reply(req, 204, NULL, "", 0);
}

static void delete_doc(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	int64_t if_version = -1;
	const char *im = http_header(req, "If-Match");
	if (im && parse_etag(im, &if_version)) {
		reply_error_detail(req, ERR_INVALID_REQUEST,
				   "If-Match must be \"<version>\" or *", NULL);
		return;
	}
	struct doc_job *j = doc_job_new(req, rc, delete_answer);
	struct store_session_check *chk = handlers_session_check(rc, &j->chk);
	bool async = handlers_async_begin(app, req);
	if (async && store_doc_delete_async(app->store, j->user_id, j->key, if_version,
					    &j->current, chk, doc_job_done, j))
		return;
	delete_answer(j, store_doc_delete(app->store, j->user_id, j->key, if_version, &j->current,
					  chk));
	free(j);
	if (async)
		http_resume(req);
}

void handle_player_doc(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	if (!key_valid(rc->key, strlen(rc->key))) {
		reply_error(req, ERR_INVALID_KEY);
		return;
	}
	if (!strcmp(req->method, "PUT"))
		put_doc(app, req, rc);
	else if (!strcmp(req->method, "DELETE"))
		delete_doc(app, req, rc);
	else
		get_doc(app, req, rc);
}

void handle_player_doc_list(struct app *app, struct http_request *req,
			    const struct route_ctx *rc)
{
	const char *cursor = http_param(req, "cursor"), *limit_s = http_param(req, "limit");
	long limit = LIST_DEFAULT;
	if (limit_s && *limit_s) {
		char *end;
		limit = strtol(limit_s, &end, 10);
		if (*end || limit < 1 || limit > LIST_MAX) {
			reply_error_detail(req, ERR_INVALID_REQUEST,
				   "limit must be 1 to 1000", NULL);
			return;
		}
	}
	char after[KEY_MAX + 1] = "";
	if (cursor && *cursor) {
		size_t n = KEY_MAX;
		if (gh_b64url_decode(cursor, strlen(cursor), (unsigned char *)after, &n) ||
		    !key_valid(after, n)) {
			reply_error(req, ERR_INVALID_CURSOR);
			return;
		}
		after[n] = '\0';
	}
	struct store_doc_info *items;
	size_t n;
	int err = store_doc_list(app->store, rc->claims.sub, after, (int)limit + 1, &items, &n);
	if (err) {
		reply_store_failure(req, err, NULL, 0, -1);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n && i < (size_t)limit; i++)
		json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I}", "key", items[i].key,
						     "version", (json_int_t)items[i].version, "size",
						     (json_int_t)items[i].size, "updated_at",
						     (json_int_t)items[i].updated_at));
	json_t *next = json_null();
	if (n > (size_t)limit) {
		/* The cursor is the last key returned, opaque to clients. */
		const char *last = items[limit - 1].key;
		char enc[KEY_MAX * 2];
		gh_b64url_encode(last, strlen(last), enc);
		json_decref(next);
		next = json_string(enc);
	}
	free(items);
	http_add_header(req, "Cache-Control", "private, no-cache");
	reply_json(req, 200, json_pack("{s:o, s:o}", "items", arr, "next_cursor", next));
}

/* One write of a batch, checked; 0, or the status to answer with *why. */
static int parse_batch_item(const struct app *app, const char *p, const char *end,
			    struct store_doc_write *w, char *key, const char **why)
{
	json_t *item = json_loadb(p, (size_t)(skip_value(p, end) - p), JSON_DECODE_ANY, NULL);
	int status = 400;
	*why = "Each write is an object with key, value and at most one precondition";
	if (!json_is_object(item))
		goto out;
	const char *k = NULL, *im = NULL, *inm = NULL;
	json_t *value = NULL;
	if (json_unpack(item, "{s:s, s:o, s?s, s?s !}", "key", &k, "value", &value, "if_match",
			&im, "if_none_match", &inm) != 0 || (im && inm))
		goto out;
	if (!key_valid(k, strlen(k))) {
		*why = "Keys are 1 to 128 of A-Z a-z 0-9 _ . -";
		goto out;
	}
	snprintf(key, KEY_MAX + 1, "%s", k);
	w->key = key;
	if (im) {
		w->cond = DOC_IF_MATCH;
		if (parse_etag(im, &w->version)) {
			*why = "if_match must be \"\\\"<version>\\\"\" or *";
			goto out;
		}
	} else if (inm) {
		int64_t v;
		w->cond = DOC_IF_NONE_MATCH;
		if (parse_etag(inm, &v) || v != 0) {
			*why = "if_none_match must be *";
			goto out;
		}
	}
	const char *vs, *ve;
	if (!find_member(p, end, "value", &vs, &ve))
		goto out;
	w->value = vs;
	w->len = (size_t)(ve - vs);
	status = check_document(app, vs, w->len, why);
out:
	json_decref(item);
	return status;
}

static void batch_answer(struct doc_job *j, int err)
{
	struct http_request *req = j->req;
	if (handlers_session_failed(req, &j->chk))
		return;
	if (err) {
		reply_store_failure(req, err, j->w[j->failed].key, j->res[j->failed].current_version,
				    (long)j->failed);
		return;
	}
	json_t *results = json_array();
	for (size_t i = 0; i < j->n; i++)
		json_array_append_new(results, json_pack("{s:s, s:I, s:I}", "key", j->w[i].key,
							 "version", (json_int_t)j->res[i].version,
							 "updated_at",
							 (json_int_t)j->res[i].updated_at));
	reply_json(req, 200, json_pack("{s:o}", "results", results));
}

void handle_player_doc_batch(struct app *app, struct http_request *req,
			     const struct route_ctx *rc)
{
	if (!handlers_require_json_body(req))
		return;
	const char *body = req->body.buf ? req->body.buf : "", *end = body + req->body.len;
	json_t *root = json_loadb(body, req->body.len, JSON_REJECT_DUPLICATES, NULL);
	json_t *writes = json_object_get(root, "writes");
	bool parsed = root != NULL;
	bool shape = json_is_object(root) && json_is_array(writes) && json_object_size(root) == 1;
	size_t n = shape ? json_array_size(writes) : 0;
	json_decref(root);
	const char *ws, *we, *starts[BATCH_MAX];
	struct doc_job *j = doc_job_new(req, rc, batch_answer);
	struct store_doc_write *w = j->w;
	char (*keys)[KEY_MAX + 1] = j->keys;
	if (!parsed && find_member(body, end, "writes", &ws, &we)) {
		/*
		 * The body did not parse: when the fault lies in one item's value
		 * (a duplicate member, a lone surrogate, 1e400, ...), say which
		 * item, as for any other bad item. Each piece is parsed again on
		 * its own, so the scan needs no trust in the text.
		 */
		n = array_elements(ws, we, starts, BATCH_MAX);
		shape = n >= 1 && n <= BATCH_MAX;
	} else if (shape && (!find_member(body, end, "writes", &ws, &we) ||
			     array_elements(ws, we, starts, BATCH_MAX) != n)) {
		shape = false;
	}
	if (!shape || n < 1 || n > BATCH_MAX) {
		reply_error_detail(req, ERR_INVALID_REQUEST,
				   "The body is {\"writes\": [...]} with 1 to 25 writes", NULL);
		free(j);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *why;
		int status = parse_batch_item(app, starts[i], we, &w[i], keys[i], &why);
		for (size_t k = 0; !status && k < i; k++)
			if (!strcmp(keys[k], keys[i])) {
				status = 400;
				why = "Keys in a batch must be unique";
			}
		if (status) {
			reply_error_detail(req, status == 413 ? ERR_PAYLOAD_TOO_LARGE :
					   ERR_INVALID_REQUEST, why,
					   json_pack("{s:I}", "index", (json_int_t)i));
			free(j);
			return;
		}
	}
	if (!parsed) {
		/* Every item passed on its own: the fault is in the frame. */
		reply_error_detail(req, ERR_INVALID_REQUEST,
				   "The body is {\"writes\": [...]} with 1 to 25 writes", NULL);
		free(j);
		return;
	}
	j->n = n;
	doc_job_write(app, j, handlers_session_check(rc, &j->chk));
}
