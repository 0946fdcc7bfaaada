/*
 * api.c - the client's routes: logins, account, player data, storage and
 * any path of the studio's own, each a request handed to the engine
 * (client.c); and the blocking convenience API on top.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* ---- requests ---- */

/* Queues r (taking it over) and wakes the io owner. */
static int submit(struct gh_client *c, struct req *r)
{
	pthread_mutex_lock(&c->lock);
	if ((r->flags & F_AUTH) && c->state != S_ACTIVE) {
		int st = c->state == S_ENDED ? c->end_status : GH_ERR_NO_SESSION;
		pthread_mutex_unlock(&c->lock);
		ghc_req_free(r);
		return st;
	}
	ghc_list_push(&c->queued, r);
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
		r = ghc_req_new(K_LOGIN, F_SAVED_GUEST, "POST", "/login-as-guest", cb, user);
		ghc_form_add(&body, &len, "user_id", c->cred.user_id);
		ghc_form_add(&body, &len, "guest_secret", c->cred.guest_secret);
	} else {
		r = ghc_req_new(K_LOGIN, F_NEW_GUEST, "POST", "/login-as-guest", cb, user);
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
	ghc_form_add(&body, &len, routes[cred->platform].param, cred->token);
	if (cred->platform == GH_PLATFORM_FACEBOOK)
		ghc_form_add(&body, &len, "facebook_user_id", cred->user_id);
	if (cred->platform == GH_PLATFORM_OIDC)
		ghc_form_add(&body, &len, "provider", cred->provider);
	if (link) {
		pthread_mutex_lock(&c->lock);
		if (c->state != S_ACTIVE || !c->access) {
			pthread_mutex_unlock(&c->lock);
			memset(body, 0, len);
			free(body);
			return GH_ERR_NO_SESSION;
		}
		ghc_form_add(&body, &len, "auth_token", c->access);
		ghc_form_add(&body, &len, "link_to_existing_user", "Yes");
		pthread_mutex_unlock(&c->lock);
	}
	struct req *r = ghc_req_new(K_LOGIN, 0, "POST", routes[cred->platform].path, cb, user);
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
	ghc_form_add(&body, &len, "refresh_token", c->refresh);
	pthread_mutex_unlock(&c->lock);
	struct req *r = ghc_req_new(K_CALL, F_ENDS, "POST", "/logout", cb, user);
	set_form(r, body, len);
	return submit(c, r);
}

static int simple(gh_client *c, unsigned flags, const char *method, const char *path,
		  gh_callback cb, void *user)
{
	if (!c)
		return GH_ERR_INVALID;
	struct req *r = ghc_req_new(K_CALL, F_AUTH | flags, method, path, cb, user);
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
	ghc_form_add(&body, &len, "platform", platform);
	struct req *r = ghc_req_new(K_CALL, F_AUTH, "POST", "/unlink-identity", cb, user);
	set_form(r, body, len);
	return submit(c, r);
}

int gh_set_player_name(gh_client *c, const char *name, gh_callback cb, void *user)
{
	if (!c || !name || strlen(name) > 1024)
		return GH_ERR_INVALID;
	char *body = NULL;
	size_t len = 0;
	ghc_form_add(&body, &len, "player_name", name);
	struct req *r = ghc_req_new(K_CALL, F_AUTH, "POST", "/set-player-data", cb, user);
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
	if (!c || !ghc_valid_key(key))
		return GH_ERR_INVALID;
	char *path = doc_path(key);
	struct req *r = ghc_req_new(K_CALL, F_AUTH | F_VERSION, "GET", path, cb, user);
	free(path);
	return submit(c, r);
}

int gh_storage_put(gh_client *c, const char *key, const char *json, size_t len,
		   long long if_version, gh_callback cb, void *user)
{
	if (!c || !ghc_valid_key(key) || !json || len == 0 || if_version < GH_ANY_VERSION)
		return GH_ERR_INVALID;
	char *path = doc_path(key);
	struct req *r = ghc_req_new(K_CALL, F_AUTH | F_VERSION, "PUT", path, cb, user);
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
	if (!c || !ghc_valid_key(key) || if_version < GH_ANY_VERSION || if_version == GH_NO_VERSION)
		return GH_ERR_INVALID;
	char *path = doc_path(key);
	struct req *r = ghc_req_new(K_CALL, F_AUTH | F_VERSION, "DELETE", path, cb, user);
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
		ghc_form_add(&q, &len, "cursor", cursor);
	if (limit > 0) {
		snprintf(num, sizeof num, "%d", limit);
		ghc_form_add(&q, &len, "limit", num);
	}
	size_t n = strlen("/player-data?") + len + 1;
	char *path = ghi_xmalloc(n);
	snprintf(path, n, "/player-data%s%s", q ? "?" : "", q ? q : "");
	free(q);
	struct req *r = ghc_req_new(K_CALL, F_AUTH, "GET", path, cb, user);
	free(path);
	return submit(c, r);
}

int gh_storage_batch(gh_client *c, const char *json, size_t len, gh_callback cb, void *user)
{
	if (!c || !json || len == 0)
		return GH_ERR_INVALID;
	struct req *r = ghc_req_new(K_CALL, F_AUTH | F_VERSION, "POST", "/player-data-batch", cb, user);
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
	struct req *r = ghc_req_new(K_CALL, F_AUTH | F_VERSION, method, path, cb, user);
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
	int64_t deadline = ghc_now_ms() + timeout_ms;
	for (;;) {
		gh_client_tick(c);
		if (r->done)
			return r->status;
		int64_t left = deadline - ghc_now_ms();
		if (left <= 0)
			return GH_ERR_TIMEOUT;
		gh_client_wait(c, left < 50 ? (long)left : 50);
	}
}
