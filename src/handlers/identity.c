/*
 * identity.c - guest login and token refresh (API.md A.2, B, D.1): the
 * session layer creates or checks the guest and rotates the session; this
 * file renders the login answer, shared with the platform logins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "gatehouse/alloc.h"
#include "gatehouse/clock.h"
#include "gatehouse/encoding.h"
#include "gatehouse/errors.h"
#include "gatehouse/handlers.h"
#include "gatehouse/http.h"
#include "gatehouse/metrics.h"
#include "gatehouse/reply.h"
#include "gatehouse/session.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/banned.h"

/* A parameter, with an empty value counted as absent. */
static const char *param(struct http_request *req, const char *name)
{
	const char *v = http_param(req, name);
	return (v && *v) ? v : NULL;
}

/*
 * One "name":"value" member of the login answer, after a comma unless
 * first. Left out when value is not UTF-8, as json_string() would.
 */
static void add_member(struct strbuf *sb, const char *name, const char *value)
{
	if (!gh_utf8_valid(value, strlen(value)))
		return;
	if (sb->len > 1)
		sb_adds(sb, ",");
	sb_add_json_str(sb, name);
	sb_adds(sb, ":");
	sb_add_json_str(sb, value);
}

/*
 * Written directly, as jansson's compact dump of the same members in the
 * same order would be: building and dumping a jansson object of two
 * tokens was 12-15 us of every login and refresh (issue 18).
 */
void handlers_reply_login(struct http_request *req, const struct session_tokens *t,
			  const struct login_fields *f, int64_t now)
{
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "{");
	if (f && f->guest_secret)
		add_member(&sb, "guest_secret", f->guest_secret);
	add_member(&sb, "user_id", t->user_id);
	if (f && f->id_field)
		add_member(&sb, f->id_field, f->id_value);
	if (f && f->oidc_provider) {
		add_member(&sb, "oidc_provider", f->oidc_provider);
		add_member(&sb, "oidc_id", f->id_value);
	}
	add_member(&sb, "auth_token", t->access);
	add_member(&sb, "refresh_token", t->refresh);
	int64_t rexp = t->session_expires_at - now;
	sb_addf(&sb, "%s\"auth_token_expires_in\":%lld,\"refresh_token_expires_in\":%lld}",
		sb.len > 1 ? "," : "", (long long)(t->access_exp - now),
		(long long)(rexp > 0 ? rexp : 1));
	http_reply_json(req, 200, sb.buf);
	sb_release(&sb);
}

/* The login outcome an answer stands for, for gatehouse_logins_total. */
static void count_login(struct http_request *req, int method)
{
	metrics_login(method, metrics_login_outcome(http_reply_status(req)));
}

/* The reply row of a failed guest login, refresh or guest creation. */
static int login_error(int err, int bad_credential)
{
	switch (err) {
	case GH_EAUTH: return bad_credential;
	case GH_EBANNED: return ERR_BANNED;
	case GH_EUNAVAIL: return ERR_UNAVAILABLE;
	default: return ERR_GUEST_CREATE;
	}
}

void handle_login_as_guest(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)rc;
	int64_t now = gh_now();
	const char *user_id = param(req, "user_id");
	const char *secret = param(req, "guest_secret");
	struct session_tokens t;
	if (!user_id) {
		char new_secret[SESSION_GUEST_SECRET_LEN + 1];
		int err = session_guest_new(app, now, new_secret, &t);
		if (err) {
			reply_error(req, login_error(err, ERR_GUEST_CREATE));
		} else {
			struct login_fields f = { .guest_secret = new_secret };
			handlers_reply_login(req, &t, &f, now);
			session_tokens_release(&t);
		}
		explicit_bzero(new_secret, sizeof new_secret);
		count_login(req, LOGIN_GUEST_NEW);
		return;
	}
	if (!secret) {
		reply_error(req, ERR_GUEST_NO_SECRET);
		return;
	}
	int err = session_guest_login(app, user_id, secret, now, &t);
	if (err) {
		reply_error(req, login_error(err, ERR_GUEST_INVALID));
	} else {
		struct login_fields f = { .guest_secret = secret };
		handlers_reply_login(req, &t, &f, now);
		session_tokens_release(&t);
	}
	count_login(req, LOGIN_GUEST);
}

/* A refresh in flight (its answer may be made on the writer thread). */
struct refresh_call {
	struct http_request *req;
	int64_t now_ms;
	struct session_refresh job;
};

static void refresh_answer(struct refresh_call *x)
{
	int err = session_refresh_result(&x->job);
	if (err) {
		reply_error(x->req, login_error(err, ERR_REFRESH_INVALID));
	} else {
		handlers_reply_login(x->req, &x->job.tokens, NULL, x->now_ms / 1000);
		session_tokens_release(&x->job.tokens);
	}
	count_login(x->req, LOGIN_REFRESH);
}

static void refreshed(void *arg)
{
	struct refresh_call *x = arg;
	struct http_request *req = x->req;
	http_resumed_enter(req);
	refresh_answer(x);
	free(x);
	http_resume(req);
}

void handle_refresh(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)rc;
	const char *tok = param(req, "refresh_token");
	if (!tok) {
		reply_missing(req, "refresh_token");
		return;
	}
	struct refresh_call *x = xmalloc(sizeof *x);
	x->req = req;
	x->now_ms = gh_now_ms();
	bool async = handlers_async_begin(app, req);
	if (session_refresh(app, tok, x->now_ms, &x->job, async ? refreshed : NULL, x))
		return;
	refresh_answer(x);
	free(x);
	if (async)
		http_resume(req);
}
