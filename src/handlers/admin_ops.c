/*
 * admin_ops.c - the admin API's service routes (signing keys, rotation,
 * counts) and the web console's built-in files, on the admin listener.
 */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "gatehouse/alloc.h"
#include "gatehouse/console.h"
#include "gatehouse/handlers.h"
#include "gatehouse/http.h"
#include "gatehouse/keyring.h"
#include "gatehouse/store.h"
#include "gatehouse/reply.h"
#include "gatehouse/clock.h"
#include "gatehouse/banned.h"

/* The keys as GET /admin/keys shows them: never their material. */
static json_t *keys_json(struct app *app, int64_t now)
{
	struct keyset *ks = keyset_get(app->keyring);
	json_t *arr = json_array();
	for (size_t i = 0; i < ks->n; i++) {
		const struct signing_key *k = &ks->keys[i];
		json_array_append_new(arr, json_pack(
			"{s:s, s:s, s:s, s:s, s:I, s:I, s:o}", "kid", k->kid, "use",
			k->use == KEY_USE_ACCESS ? "access" : "refresh", "alg",
			keyring_alg_name(k->alg), "state", keyset_key_state(ks, k, now),
			"created_at", (json_int_t)k->created_at, "activate_at",
			(json_int_t)k->activate_at, "retire_at",
			k->superseded_at == INT64_MAX ? json_null() :
							json_integer(k->superseded_at)));
	}
	keyset_put(ks);
	return json_pack("{s:o}", "keys", arr);
}

void handle_admin_keys(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)rc;
	reply_json(req, 200, keys_json(app, gh_now()));
}

void handle_admin_keys_rotate(struct app *app, struct http_request *req,
			      const struct route_ctx *rc)
{
	int64_t now = gh_now();
	/* What `gatehouse keys rotate` does, on the daemon's own keyring: in use at once. */
	int err = keyring_rotate_now(app->keyring, now);
	if (err) {
		reply_failure(req, err);
		return;
	}
	handlers_admin_audit(rc, "rotate_keys", NULL, NULL, NULL, NULL, NULL);
	reply_json(req, 200, keys_json(app, now));
}

void handle_admin_stats(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)rc;
	struct store_stats s;
	int err = store_stats_get(app->store, gh_now(), &s);
	if (err) {
		reply_failure(req, err);
		return;
	}
	reply_json(req, 200, json_pack("{s:I, s:I, s:I, s:I}", "users", (json_int_t)s.users,
				       "guests", (json_int_t)s.guests, "active_sessions",
				       (json_int_t)s.active_sessions, "documents",
				       (json_int_t)s.documents));
}

static const char *media_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".woff2", "font/woff2" },
	};
	size_t n = strlen(name);
	for (size_t i = 0; i < GH_ARRAY_SIZE(types); i++) {
		size_t e = strlen(types[i].ext);
		if (n > e && !strcmp(name + n - e, types[i].ext))
			return types[i].type;
	}
	return "application/octet-stream";
}

void handle_console(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)app;
	/* Only names in the built-in table: nothing is read from the file system. */
	const char *name = rc->key && strcmp(rc->key, "/") ? rc->key : "index.html";
	for (size_t i = 0; i < console_nfiles; i++)
		if (!strcmp(console_files[i].name, name)) {
			http_reply(req, 200, media_type(name), (const char *)console_files[i].data,
				   console_files[i].len);
			return;
		}
	reply_error(req, ERR_NO_ROUTE);
}
