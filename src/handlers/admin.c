/*
 * admin.c - the admin API's user routes (admin listener only; the router
 * checked the admin token): search users, one user, their documents and
 * export, and the operator actions (ban, unban, end sessions, delete,
 * unlink). The same store calls and rules as `gatehouse user|sessions` and
 * the player's own routes; each action writes one audit line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gatehouse/handlers.h"
#include "gatehouse/http.h"
#include "gatehouse/log.h"
#include "gatehouse/parse.h"
#include "gatehouse/store.h"
#include "gatehouse/reply.h"
#include "gatehouse/encoding.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/clock.h"
#include "gatehouse/banned.h"

/* Page sizes of the lists: limit= takes 1..ADMIN_LIMIT_MAX. */
#define ADMIN_LIMIT_DEFAULT 20
#define ADMIN_LIMIT_MAX 100
/* The sessions shown with a user: the latest ones. */
#define ADMIN_SESSIONS_SHOWN 100

void handlers_admin_audit(const struct route_ctx *rc, const char *action, const char *user,
			  const char *k1, const char *v1, const char *k2, const char *v2)
{
	/* The actor is the token's name from admin_token_file: never the token. */
	log_fields(LOG_INFO, "audit", "actor", rc->actor, "action", action, "user",
		   user ? user : "-", k1 ? k1 : NULL, v1, k2 ? k2 : NULL, v2, NULL);
}

static void bad_param(struct http_request *req, const char *message)
{
	reply_error_detail(req, ERR_INVALID_REQUEST, message, NULL);
}

/* The {user_id} of the path, or NULL with 400 answered. */
static const char *path_user(struct http_request *req, const struct route_ctx *rc)
{
	const char *id = rc->args[0];
	if (!gh_is_uuid(id, strlen(id))) {
		bad_param(req, "user_id must be a UUID");
		return NULL;
	}
	return id;
}

/* A store failure about the path's user: 404 for no such user. */
static void reply_user_failure(struct http_request *req, int err)
{
	if (err == GH_ENOTFOUND)
		reply_error(req, ERR_USER_NOT_FOUND);
	else
		reply_failure(req, err);
}

/* Only the parameters in names (NULL-terminated) may be given; else 400 naming it. */
static bool params_known(struct http_request *req, const char *const *names)
{
	for (int i = 0; i < req->nparams; i++) {
		bool known = false;
		for (const char *const *n = names; *n && !known; n++)
			known = !strcmp(req->params[i].name, *n);
		if (!known) {
			char msg[96];
			snprintf(msg, sizeof msg, "unknown parameter '%.40s'", req->params[i].name);
			bad_param(req, msg);
			return false;
		}
	}
	return true;
}

/* limit=: 1..ADMIN_LIMIT_MAX, ADMIN_LIMIT_DEFAULT when absent; -1 (400 answered) when bad. */
static int param_limit(struct http_request *req)
{
	const char *s = http_param(req, "limit");
	if (!s)
		return ADMIN_LIMIT_DEFAULT;
	int v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || p - s > 3) {
			v = -1;
			break;
		}
		v = v * 10 + (*p - '0');
	}
	if (!*s || v < 1 || v > ADMIN_LIMIT_MAX) {
		bad_param(req, "limit must be 1 to 100");
		return -1;
	}
	return v;
}

static json_t *time_or_null(int64_t t)
{
	return t ? json_integer(t) : json_null();
}

static json_t *summary_json(const struct store_user_summary *u, int64_t now)
{
	bool banned = u->banned_until > now;
	return json_pack("{s:s, s:I, s:I, s:o, s:b, s:b}", "user_id", u->user_id, "created_at",
			 (json_int_t)u->created_at, "last_seen_at", (json_int_t)u->last_seen_at,
			 "banned_until", banned ? json_integer(u->banned_until) : json_null(),
			 "banned", banned, "guest", u->guest);
}

/* One user by id (search by user_id or identity): a list of 0 or 1. */
static void reply_one(struct app *app, struct http_request *req, const char *user_id,
		      int64_t now)
{
	json_t *users = json_array();
	struct store_account a;
	int err = store_account_get(app->store, user_id, now, false, &a);
	if (!err) {
		struct store_user_summary s = { .created_at = a.user.created_at,
						.last_seen_at = a.user.last_seen_at,
						.banned_until = a.user.banned_until,
						.guest = store_account_is_guest(&a) };
		snprintf(s.user_id, sizeof s.user_id, "%s", a.user.user_id);
		json_array_append_new(users, summary_json(&s, now));
	}
	store_account_release(&a);
	if (err && err != GH_ENOTFOUND) {
		json_decref(users);
		reply_failure(req, err);
		return;
	}
	reply_json(req, 200, json_pack("{s:o, s:n}", "users", users, "next_cursor"));
}

/* cursor= is "<created_at>.<user_id>" of the last user of the page before. */
static bool parse_users_cursor(const char *s, struct store_users_query *q, char id[37])
{
	const char *dot = strchr(s, '.');
	if (!dot || dot == s || dot - s > 12 || !gh_is_uuid(dot + 1, strlen(dot + 1)))
		return false;
	int64_t t = 0;
	for (const char *p = s; p < dot; p++) {
		if (*p < '0' || *p > '9')
			return false;
		t = t * 10 + (*p - '0');
	}
	snprintf(id, 37, "%s", dot + 1);
	q->cursor_created_at = t;
	q->cursor_user_id = id;
	return true;
}

/* The creation bound named name (RFC 3339 or Unix seconds) into *out; false: 400 answered. */
static bool param_time(struct http_request *req, const char *name, int64_t *out)
{
	const char *s = http_param(req, name);
	if (!s)
		return true;
	if (gh_parse_when(s, out)) {
		char msg[96];
		snprintf(msg, sizeof msg, "%s must be an RFC 3339 time or Unix seconds", name);
		bad_param(req, msg);
		return false;
	}
	return true;
}

void handle_admin_users(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)rc;
	static const char *const names[] = { "user_id", "identity", "created_after",
					     "created_before", "limit", "cursor", NULL };
	if (!params_known(req, names))
		return;
	int64_t now = gh_now();
	const char *id = http_param(req, "user_id"), *identity = http_param(req, "identity");
	if (id && identity) {
		bad_param(req, "give user_id or identity, not both");
		return;
	}
	if (id) {
		if (!gh_is_uuid(id, strlen(id))) {
			bad_param(req, "user_id must be a UUID");
			return;
		}
		reply_one(app, req, id, now);
		return;
	}
	if (identity) {
		/* provider:subject, where an OIDC provider is itself "oidc:<name>". */
		const char *colon = strchr(identity + (strncmp(identity, "oidc:", 5) ? 0 : 5), ':');
		size_t pl = colon ? (size_t)(colon - identity) : 0;
		char provider[64];
		if (!pl || pl >= sizeof provider || !colon[1] || strlen(colon + 1) > 255) {
			bad_param(req, "identity must be provider:subject");
			return;
		}
		memcpy(provider, identity, pl);
		provider[pl] = '\0';
		char owner[37];
		int err = store_identity_owner(app->store, provider, colon + 1, owner);
		if (err == GH_ENOTFOUND) {
			reply_json(req, 200, json_pack("{s:[], s:n}", "users", "next_cursor"));
			return;
		}
		if (err) {
			reply_failure(req, err);
			return;
		}
		reply_one(app, req, owner, now);
		return;
	}
	struct store_users_query q = { .created_after = -1, .created_before = INT64_MAX,
				       .cursor_created_at = -1, .cursor_user_id = "" };
	char cursor_id[37];
	const char *cursor = http_param(req, "cursor");
	int limit = param_limit(req);
	if (limit < 0 || !param_time(req, "created_after", &q.created_after) ||
	    !param_time(req, "created_before", &q.created_before))
		return;
	if (cursor && !parse_users_cursor(cursor, &q, cursor_id)) {
		reply_error(req, ERR_INVALID_CURSOR);
		return;
	}
	q.limit = limit + 1; /* one more: is there a next page? */
	struct store_user_summary *users;
	size_t n;
	int err = store_users_page(app->store, &q, &users, &n);
	if (err) {
		reply_failure(req, err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n && i < (size_t)limit; i++)
		json_array_append_new(arr, summary_json(&users[i], now));
	json_t *next = json_null();
	if (n > (size_t)limit) {
		char buf[64];
		snprintf(buf, sizeof buf, "%lld.%s", (long long)users[limit - 1].created_at,
			 users[limit - 1].user_id);
		json_decref(next);
		next = json_string(buf);
	}
	free(users);
	reply_json(req, 200, json_pack("{s:o, s:o}", "users", arr, "next_cursor", next));
}

/* The compat player name (a JSON string document), or NULL. */
static json_t *player_name(const struct store_account *a)
{
	for (size_t i = 0; i < a->ndocs; i++)
		if (!strcmp(a->docs[i].key, HANDLERS_PLAYER_NAME_KEY)) {
			json_t *v = json_loadb(a->docs[i].value, a->docs[i].len, JSON_DECODE_ANY,
					       NULL);
			if (json_is_string(v))
				return v;
			json_decref(v);
		}
	return NULL;
}

/*
 * The path's user with identities, sessions and document usage into *a (the
 * caller releases it), or NULL with 400/404/503 answered.
 */
static const char *path_account(struct app *app, struct http_request *req,
				const struct route_ctx *rc, int64_t now, struct store_account *a)
{
	const char *id = path_user(req, rc);
	if (!id)
		return NULL;
	int err = store_account_get(app->store, id, now, true, a);
	if (err) {
		store_account_release(a);
		reply_user_failure(req, err);
		return NULL;
	}
	return id;
}

void handle_admin_user(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	int64_t now = gh_now();
	struct store_account a;
	const char *id = path_account(app, req, rc, now, &a);
	if (!id)
		return;
	const struct store_user *u = &a.user;
	bool banned = u->banned_until > now;
	json_t *ids = json_array(), *sessions = json_array();
	for (size_t i = 0; i < a.nidentities; i++)
		json_array_append_new(ids, json_pack("{s:s, s:s}", "provider",
						     a.identities[i].provider, "subject",
						     a.identities[i].subject));
	size_t first = a.nsessions > ADMIN_SESSIONS_SHOWN ? a.nsessions - ADMIN_SESSIONS_SHOWN : 0;
	for (size_t i = a.nsessions; i-- > first;) {
		const struct store_session_info *s = &a.sessions[i];
		bool live = !s->ended_at && s->expires_at > now;
		json_array_append_new(sessions, json_pack(
			"{s:I, s:I, s:I, s:I, s:o, s:b}", "session_id", (json_int_t)s->session_id,
			"created_at", (json_int_t)s->created_at, "last_used_at",
			(json_int_t)(s->refreshed_at > s->created_at ? s->refreshed_at :
				     s->created_at), "expires_at", (json_int_t)s->expires_at,
			"ended_at", time_or_null(s->ended_at), "live", live));
	}
	int64_t bytes = 0;
	for (size_t i = 0; i < a.ndocs; i++)
		bytes += (int64_t)a.docs[i].len;
	json_t *name = player_name(&a);
	json_t *j = json_pack("{s:s, s:I, s:I, s:b, s:o, s:b, s:b, s:o, s:I, s:I, s:o, s:{s:I, s:I}, "
			      "s:o}",
			      "user_id", u->user_id, "created_at", (json_int_t)u->created_at,
			      "last_seen_at", (json_int_t)u->last_seen_at, "banned", banned,
			      "banned_until", banned ? json_integer(u->banned_until) : json_null(),
			      "guest", store_account_is_guest(&a), "has_guest_secret",
			      u->has_guest_secret, "identities", ids, "live_sessions",
			      (json_int_t)a.live_sessions, "sessions_total",
			      (json_int_t)a.nsessions, "sessions", sessions, "documents", "count",
			      (json_int_t)a.ndocs, "bytes", (json_int_t)bytes, "player_name",
			      name ? name : json_null());
	store_account_release(&a);
	reply_json(req, 200, j);
}

void handle_admin_user_documents(struct app *app, struct http_request *req,
				 const struct route_ctx *rc)
{
	static const char *const names[] = { "after", "limit", NULL };
	const char *id = path_user(req, rc);
	if (!id || !params_known(req, names))
		return;
	const char *after = http_param(req, "after");
	int limit = param_limit(req);
	if (limit < 0)
		return;
	if (after && strlen(after) > 128) {
		reply_error(req, ERR_INVALID_CURSOR);
		return;
	}
	struct store_user u;
	int err = store_user_get(app->store, id, &u);
	if (err) {
		reply_user_failure(req, err);
		return;
	}
	struct store_doc_entry *docs;
	size_t n;
	err = store_doc_page(app->store, id, after ? after : "", limit + 1, &docs, &n);
	if (err) {
		reply_failure(req, err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n && i < (size_t)limit; i++)
		json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I, s:s%}", "key", docs[i].key,
						     "version", (json_int_t)docs[i].version,
						     "updated_at", (json_int_t)docs[i].updated_at,
						     "size", (json_int_t)docs[i].len, "value",
						     docs[i].value, docs[i].len));
	json_t *next = n > (size_t)limit ? json_string(docs[limit - 1].key) : json_null();
	store_doc_entries_free(docs, n);
	reply_json(req, 200, json_pack("{s:o, s:o}", "documents", arr, "next_cursor", next));
}

void handle_admin_user_export(struct app *app, struct http_request *req,
			      const struct route_ctx *rc)
{
	int64_t now = gh_now();
	struct store_account a;
	const char *id = path_account(app, req, rc, now, &a);
	if (!id)
		return;
	handlers_admin_audit(rc, "export", id, NULL, NULL, NULL, NULL);
	char disp[96];
	snprintf(disp, sizeof disp, "attachment; filename=\"user-data-%s.json\"", id);
	http_add_header(req, "Content-Disposition", disp);
	reply_json(req, 200, handlers_account_export_json(&a, now));
	store_account_release(&a);
}

/*
 * The ban's end from the body: {"until": RFC 3339 string | Unix seconds},
 * or no body / no until / null for good. 0, or -1 with 400 answered.
 */
static int ban_until(struct http_request *req, int64_t now, int64_t *until)
{
	*until = STORE_BAN_FOREVER;
	if (!req->body.len)
		return 0;
	if (!handlers_require_json_body(req))
		return -1;
	json_error_t jerr;
	json_t *j = json_loadb(req->body.buf, req->body.len, 0, &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		reply_error(req, ERR_INVALID_JSON);
		return -1;
	}
	const char *k;
	json_t *v;
	int rc = 0;
	json_object_foreach(j, k, v) {
		if (strcmp(k, "until")) {
			bad_param(req, "the body holds only until");
			rc = -1;
			break;
		}
		if (json_is_null(v))
			continue;
		bool ok;
		if (json_is_integer(v)) {
			ok = json_integer_value(v) >= 0 && json_integer_value(v) <= STORE_BAN_FOREVER;
			*until = json_integer_value(v);
		} else {
			ok = json_is_string(v) && !gh_parse_when(json_string_value(v), until);
		}
		if (!ok || *until <= now) {
			bad_param(req, ok ? "until is in the past" :
				  "until must be an RFC 3339 time or Unix seconds");
			rc = -1;
			break;
		}
	}
	json_decref(j);
	return rc ? -1 : 0;
}

void handle_admin_ban(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	const char *id = path_user(req, rc);
	int64_t now = gh_now(), until, n = 0;
	if (!id || ban_until(req, now, &until))
		return;
	int err = store_user_set_ban(app->store, id, until, now, &n);
	if (err) {
		reply_user_failure(req, err);
		return;
	}
	char when[32], ended[24];
	gh_format_time(until, when, sizeof when);
	snprintf(ended, sizeof ended, "%lld", (long long)n);
	handlers_admin_audit(rc, "ban", id, "until", until == STORE_BAN_FOREVER ? "forever" : when,
			     LOG_NUM("sessions_ended"), ended);
	reply_json(req, 200, json_pack("{s:s, s:b, s:I, s:b, s:I}", "user_id", id, "banned", 1,
				       "banned_until", (json_int_t)until, "forever",
				       until == STORE_BAN_FOREVER, "sessions_ended", (json_int_t)n));
}

void handle_admin_unban(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	const char *id = path_user(req, rc);
	if (!id)
		return;
	int err = store_user_set_ban(app->store, id, 0, gh_now(), NULL);
	if (err) {
		reply_user_failure(req, err);
		return;
	}
	handlers_admin_audit(rc, "unban", id, NULL, NULL, NULL, NULL);
	reply_json(req, 200, json_pack("{s:s, s:b}", "user_id", id, "banned", 0));
}

void handle_admin_session_end(struct app *app, struct http_request *req,
			      const struct route_ctx *rc)
{
	const char *id = path_user(req, rc);
	if (!id)
		return;
	const char *s = rc->args[1];
	int64_t sid = 0;
	for (const char *p = s; *p && sid >= 0; p++)
		sid = (*p < '0' || *p > '9' || p - s > 17) ? -1 : sid * 10 + (*p - '0');
	if (sid <= 0) {
		bad_param(req, "session_id must be a positive integer");
		return;
	}
	struct store_user u;
	int64_t n = 0, now = gh_now();
	int err = store_user_get(app->store, id, &u);
	if (!err)
		err = store_session_end(app->store, sid, id, now, "admin", &n);
	if (err) {
		reply_user_failure(req, err);
		return;
	}
	if (!n) {
		reply_error(req, ERR_SESSION_NOT_FOUND);
		return;
	}
	handlers_admin_audit(rc, "end_session", id, LOG_NUM("session_id"), s, NULL, NULL);
	reply_json(req, 200, json_pack("{s:s, s:I, s:I}", "user_id", id, "session_id",
				       (json_int_t)sid, "sessions_ended", (json_int_t)n));
}

void handle_admin_sessions_end_all(struct app *app, struct http_request *req,
				   const struct route_ctx *rc)
{
	const char *id = path_user(req, rc);
	if (!id)
		return;
	struct store_user u;
	int64_t n = 0;
	int err = store_user_get(app->store, id, &u);
	if (!err)
		err = store_sessions_end_all(app->store, id, gh_now(), "admin", &n);
	if (err) {
		reply_user_failure(req, err);
		return;
	}
	char ended[24];
	snprintf(ended, sizeof ended, "%lld", (long long)n);
	handlers_admin_audit(rc, "end_all_sessions", id, LOG_NUM("sessions_ended"), ended, NULL,
			     NULL);
	reply_json(req, 200, json_pack("{s:s, s:I}", "user_id", id, "sessions_ended",
				       (json_int_t)n));
}

void handle_admin_user_delete(struct app *app, struct http_request *req,
			      const struct route_ctx *rc)
{
	const char *id = path_user(req, rc);
	if (!id)
		return;
	int err = store_user_delete(app->store, id);
	if (err) {
		reply_user_failure(req, err);
		return;
	}
	handlers_admin_audit(rc, "delete", id, NULL, NULL, NULL, NULL);
	reply_json(req, 200, json_pack("{s:s, s:b}", "user_id", id, "deleted", 1));
}

void handle_admin_unlink(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	const char *id = path_user(req, rc);
	if (!id)
		return;
	const char *provider = rc->args[1];
	if (!handlers_known_platform(app->cfg, provider)) {
		reply_error(req, ERR_INVALID_PLATFORM);
		return;
	}
	int outcome = 0;
	int err = store_identity_unlink(app->store, id, provider, &outcome);
	if (err) {
		reply_user_failure(req, err);
		return;
	}
	if (handlers_reply_unlink_refused(req, outcome))
		return;
	handlers_admin_audit(rc, "unlink", id, "provider", provider, NULL, NULL);
	reply_json(req, 200, json_pack("{s:s, s:s}", "user_id", id, "unlinked", provider));
}
