/*
 * account.c - what a player controls about their account (API.md B, D.1,
 * D.2): logging out one session or all, seeing, exporting and deleting the
 * account. The JSON shape of an account is built here once, for the routes
 * and for `gatehouse user show`.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "gatehouse/handlers.h"
#include "gatehouse/http.h"
#include "gatehouse/log.h"
#include "gatehouse/store.h"
#include "gatehouse/reply.h"
#include "gatehouse/session.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/clock.h"
#include "gatehouse/banned.h"

/* Providers with a field of their own in the account; others go under "oidc". */
static const struct {
	const char *provider, *field;
} id_fields[] = {
	{ "steam", "steam_id" },
	{ "apple", "apple_id" },
	{ "google_play", "google_play_id" },
	{ "facebook", "facebook_id" },
};

json_t *handlers_account_json(const struct store_account *a, int64_t now)
{
	const struct store_user *u = &a->user;
	json_t *j = json_object();
	json_object_set_new(j, "user_id", json_string(u->user_id));
	json_object_set_new(j, "created_at", json_integer(u->created_at));
	json_object_set_new(j, "has_guest_secret", json_boolean(u->has_guest_secret));
	json_t *oidc = json_object();
	for (size_t f = 0; f < GH_ARRAY_SIZE(id_fields); f++)
		json_object_set_new(j, id_fields[f].field, json_null());
	for (size_t i = 0; i < a->nidentities; i++) {
		const struct store_identity *id = &a->identities[i];
		if (strncmp(id->provider, "oidc:", 5) == 0) {
			json_object_set_new(oidc, id->provider + 5, json_string(id->subject));
			continue;
		}
		for (size_t f = 0; f < GH_ARRAY_SIZE(id_fields); f++)
			if (strcmp(id->provider, id_fields[f].provider) == 0)
				json_object_set_new(j, id_fields[f].field, json_string(id->subject));
	}
	json_object_set_new(j, "oidc", oidc);
	json_object_set_new(j, "sessions", json_integer(a->live_sessions));
	json_object_set_new(j, "banned_until", u->banned_until > now ?
			    json_integer(u->banned_until) : json_null());
	return j;
}

static void reply_ended(struct http_request *req, const char *user_id, int64_t n)
{
	reply_json(req, 200, json_pack("{s:s, s:I}", "user_id", user_id, "sessions_ended",
				      (json_int_t)n));
}

void handle_logout(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)rc;
	const char *tok = http_param(req, "refresh_token");
	if (!tok || !*tok) {
		reply_missing(req, "refresh_token");
		return;
	}
	struct refresh_claims claims;
	int64_t n = 0;
	int err = session_logout(app, tok, gh_now(), &claims, &n);
	if (err) {
		reply_error(req, err == GH_EAUTH ? ERR_REFRESH_INVALID : reply_error_of(err));
		return;
	}
	reply_ended(req, claims.sub, n);
}

void handle_logout_all(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	int64_t n = 0;
	int err = store_sessions_end_all(app->store, rc->claims.sub, gh_now(), "logout_all", &n);
	if (err) {
		reply_failure(req, err);
		return;
	}
	reply_ended(req, rc->claims.sub, n);
}

void handle_get_user(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	int64_t now = gh_now();
	struct store_account a;
	int err = store_account_get(app->store, rc->claims.sub, now, false, &a);
	if (err) {
		reply_failure(req, err);
		return;
	}
	reply_json(req, 200, handlers_account_json(&a, now));
	store_account_release(&a);
}

void handle_delete_user(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	int err = store_user_delete(app->store, rc->claims.sub);
	if (err) {
		reply_failure(req, err);
		return;
	}
	log_info("user '%s' deleted their account", rc->claims.sub);
	reply_json(req, 200, json_pack("{s:s, s:b}", "user_id", rc->claims.sub, "deleted", 1));
}

json_t *handlers_account_export_json(const struct store_account *a, int64_t now)
{
	json_t *ids = json_array(), *sessions = json_array(), *docs = json_array();
	for (size_t i = 0; i < a->nidentities; i++)
		json_array_append_new(ids, json_pack("{s:s, s:s}", "provider",
						     a->identities[i].provider, "subject",
						     a->identities[i].subject));
	for (size_t i = 0; i < a->nsessions; i++) {
		const struct store_session_info *s = &a->sessions[i];
		json_array_append_new(sessions, json_pack(
			"{s:I, s:I, s:I, s:o}", "session_id", (json_int_t)s->session_id,
			"created_at", (json_int_t)s->created_at, "expires_at",
			(json_int_t)s->expires_at, "ended_at",
			s->ended_at ? json_integer(s->ended_at) : json_null()));
	}
	for (size_t i = 0; i < a->ndocs; i++) {
		const struct store_doc_entry *d = &a->docs[i];
		json_t *v = json_loadb(d->value, d->len, JSON_DECODE_ANY, NULL);
		json_array_append_new(docs, json_pack("{s:s, s:I, s:I, s:o}", "key", d->key,
						      "version", (json_int_t)d->version,
						      "updated_at", (json_int_t)d->updated_at,
						      "value", v ? v : json_null()));
	}
	return json_pack("{s:o, s:o, s:o, s:o}", "user", handlers_account_json(a, now), "identities", ids,
			 "sessions", sessions, "player_data", docs);
}

void handle_export_user_data(struct app *app, struct http_request *req,
			     const struct route_ctx *rc)
{
	int64_t now = gh_now();
	struct store_account a;
	int err = store_account_get(app->store, rc->claims.sub, now, true, &a);
	if (err) {
		reply_failure(req, err);
		return;
	}
	http_add_header(req, "Content-Disposition", "attachment; filename=\"user-data.json\"");
	reply_json(req, 200, handlers_account_export_json(&a, now));
	store_account_release(&a);
}
