/*
 * player.c - the sample backend routes of the AWS reference (API.md A.5):
 * a player name per user, kept in player storage under the key
 * "player_name" as a JSON string.
 */
#include <string.h>

#include <jansson.h>

#include "gatehouse/handlers.h"
#include "gatehouse/alloc.h"
#include "gatehouse/http.h"
#include "gatehouse/reply.h"
#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "gatehouse/clock.h"
#include "gatehouse/log.h"
#include "gatehouse/encoding.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/banned.h"

/* The document key shared with the player-data routes. */

struct store_session_check *handlers_session_check(const struct route_ctx *rc,
						   struct store_session_check *chk)
{
	memset(chk, 0, sizeof *chk);
	if (!rc->check_in_write)
		return NULL;
	chk->session_id = rc->claims.sid;
	chk->now = gh_now();
	return chk;
}

bool handlers_session_failed(struct http_request *req, const struct store_session_check *chk)
{
	if (!chk->err)
		return false;
	if (chk->err == GH_EENDED)
		log_debug("access token rejected: session ended");
	reply_failure(req, chk->err);
	return true;
}

bool handlers_async_begin(struct app *app, struct http_request *req)
{
	if (req->deferred || !store_async_writes(app->store))
		return false;
	http_suspend(req);
	return true;
}

/* A set-player-data write in flight (its answer may be made on the writer thread). */
struct name_write {
	struct http_request *req;
	char user_id[37];
	char *doc;
	struct store_doc_write w;
	struct store_doc_result res;
	struct store_session_check chk;
};

static void name_answer(struct name_write *x, int err)
{
	free(x->doc);
	if (handlers_session_failed(x->req, &x->chk))
		return;
	if (err) {
		reply_failure(x->req, err);
		return;
	}
	http_reply_json(x->req, 200, "\"Successfully updated player data\"");
}

static void name_written(void *arg, int err)
{
	struct name_write *x = arg;
	struct http_request *req = x->req;
	http_resumed_enter(req);
	name_answer(x, err);
	free(x);
	http_resume(req);
}

void handle_set_player_data(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	const char *name = http_param(req, "player_name");
	if (!name || !*name) {
		reply_missing(req, "player_name");
		return;
	}
	json_t *s = json_string(name);
	char *doc = s ? json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	json_decref(s);
	if (!doc) {
		reply_error(req, ERR_INVALID_PLAYER_NAME);
		return;
	}
	if (strlen(doc) > (size_t)app->cfg->player_data_max_document) {
		free(doc);
		reply_failure(req, GH_ETOOBIG);
		return;
	}
	struct name_write *x = xcalloc(1, sizeof *x);
	x->req = req;
	memcpy(x->user_id, rc->claims.sub, sizeof x->user_id);
	x->doc = doc;
	x->w = (struct store_doc_write){ .key = HANDLERS_PLAYER_NAME_KEY, .value = doc,
					 .len = strlen(doc) };
	struct store_doc_limits lim = app_doc_limits(app->cfg);
	struct store_session_check *chk = handlers_session_check(rc, &x->chk);
	bool async = handlers_async_begin(app, req);
	if (async && store_doc_write_async(app->store, x->user_id, &x->w, 1, gh_now(), &lim,
					   &x->res, NULL, chk, name_written, x))
		return;
	name_answer(x, store_doc_write(app->store, x->user_id, &x->w, 1, gh_now(), &lim, &x->res,
				       NULL, chk));
	free(x);
	if (async)
		http_resume(req);
}

int handlers_doc_get(struct app *app, const struct route_ctx *rc, const char *key,
		     struct store_document *out)
{
	if (!rc->doc_ready || strcmp(rc->doc_key, key))
		return store_doc_get(app->store, rc->claims.sub, key, out);
	*out = rc->doc;
	if (!rc->doc_err) {
		out->value = xmalloc(rc->doc.len + 1);
		memcpy(out->value, rc->doc.value, rc->doc.len + 1);
	}
	return rc->doc_err;
}

/*
 * Whether a stored value is a JSON string without escapes (as set-player-data
 * stores most names): jansson would parse it and dump it back byte for byte,
 * so it can go into an answer as it is.
 */
static bool plain_json_string(const char *v, size_t n)
{
	if (n < 2 || v[0] != '"' || v[n - 1] != '"')
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == '"' || v[i] == '\\')
			return false;
	return gh_utf8_valid(v + 1, n - 2);
}

void handle_get_player_data(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	struct store_document d;
	int err = handlers_doc_get(app, rc, HANDLERS_PLAYER_NAME_KEY, &d);
	if (err && err != GH_ENOTFOUND) {
		reply_failure(req, err);
		return;
	}
	if (!err && plain_json_string(d.value, d.len)) {
		/* The answer jansson would make, without parsing and dumping the name. */
		struct strbuf sb = STRBUF_INIT;
		sb_adds(&sb, "{\"UserID\":");
		sb_add_json_str(&sb, rc->claims.sub);
		sb_adds(&sb, ",\"PlayerName\":");
		sb_add(&sb, d.value, d.len);
		sb_adds(&sb, "}");
		free(d.value);
		http_reply_json(req, 200, sb.buf);
		sb_release(&sb);
		return;
	}
	json_t *out = json_pack("{s:s}", "UserID", rc->claims.sub);
	if (!err) {
		json_t *v = json_loadb(d.value, d.len, JSON_DECODE_ANY, NULL);
		/* Any stored value other than a string means no PlayerName (API.md D.4). */
		if (json_is_string(v))
			json_object_set(out, "PlayerName", v);
		json_decref(v);
		free(d.value);
	}
	char *body = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	http_reply_json(req, 200, body);
	free(body);
}
