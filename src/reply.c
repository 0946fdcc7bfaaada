/*
 * reply.c - the error table and the one place that turns an error into an
 * answer in the style of the request's route.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "gatehouse/alloc.h"
#include "gatehouse/errors.h"
#include "gatehouse/http.h"
#include "gatehouse/reply.h"
#include "gatehouse/banned.h"

#define RETRY true

/*
 * The compat texts are the reference's own strings (API.md A.2, D); the
 * API Gateway messages are what its authorizer and integrations answer.
 */
static const struct reply_row rows[ERR_COUNT] = {
	[ERR_INVALID_REQUEST] = { 400, "invalid_request", "Error: Invalid request",
				  "Invalid request", "Invalid request", false },
	/* /forward-auth: a proxy sent what no proxy sends (API Gateway's wording). */
	[ERR_BAD_FORWARD] = { 400, "bad_request", "Error: Bad Request", "Bad Request",
			      "Bad request", false },
	[ERR_URI_TOO_LONG] = { 414, "uri_too_long", "Error: Request URL too long",
			       "Request URL too long", "Request URL too long", false },
	[ERR_HEADERS_TOO_LARGE] = { 431, "headers_too_large", "Error: Request headers too large",
				    "Request headers too large", "Request headers too large",
				    false },
	[ERR_PAYLOAD_TOO_LARGE] = { 413, "payload_too_large", "Error: Request body too large",
				    "Request body too large", "Request body too large", false },
	[ERR_UNSUPPORTED_MEDIA] = { 415, "unsupported_media_type",
				    "Error: Unsupported content type", "Unsupported content type",
				    "Unsupported content type", false },
	[ERR_BODY_NOT_JSON] = { 415, "unsupported_media_type",
				"Error: The body must be application/json",
				"The body must be application/json",
				"The body must be application/json", false },
	[ERR_INVALID_JSON] = { 400, "invalid_json", "Error: Invalid JSON", "Invalid JSON",
			       "Invalid JSON", false },
	[ERR_NO_ROUTE] = { 404, "not_found", "Error: No such route", "Not Found",
			   "No such route", false },
	[ERR_METHOD] = { 405, "method_not_allowed", "Error: Method not allowed",
			 "Method not allowed", "Method not allowed", false },
	[ERR_RATE_LIMITED] = { 429, "rate_limited", "Error: Too many requests",
			       "Too many requests", "Too many requests", false },
	[ERR_TOKEN] = { 401, "unauthorized", "Error: Missing or invalid access token",
			"Unauthorized", "Missing or invalid access token", false },
	[ERR_NO_USER] = { 401, "unauthorized", "Error: No such user", "Unauthorized",
			  "No such user", false },
	[ERR_SESSION_ENDED] = { 401, "unauthorized", "Error: Session ended", "Unauthorized",
				"Session ended", false },
	[ERR_SCOPE] = { 403, "forbidden", "Error: Token scope not allowed", "Forbidden",
			"Token scope not allowed", false },
	[ERR_BANNED] = { 403, "banned", "Error: User is banned", "Forbidden", "User is banned",
			 false },
	[ERR_GUEST_INVALID] = { 401, "unauthorized", "Error: Could not validate user",
				"Unauthorized", "Could not validate user", false },
	[ERR_GUEST_NO_SECRET] = { 400, "missing_parameter",
				  "Error: No guest_secret in query string",
				  "No guest_secret in query string",
				  "No guest_secret in query string", false },
	[ERR_REFRESH_INVALID] = { 401, "unauthorized", "Error: Failed to validate refresh token",
				  "Unauthorized", "Invalid or expired refresh token", false },
	[ERR_UNAVAILABLE] = { 503, "unavailable", "Error: Service unavailable",
			      "Service Unavailable", "Try again shortly", RETRY },
	[ERR_INTERNAL] = { 500, "internal", "Error: Internal error", "Internal Server Error",
			   "Cannot render the answer", false },
	[ERR_GUEST_CREATE] = { 500, "internal", "Error: Could not create user",
			       "Internal Server Error", "Could not create user", false },
	[ERR_LINK_CONFLICT] = { 409, "identity_linked",
				"Error: Identity already linked to another user",
				"Identity already linked to another user",
				"Identity already linked to another user", false },
	[ERR_LINK_FAILED] = { 401, "link_failed",
			      "Error: Failed to authenticate with existing identity",
			      "Unauthorized", "Failed to authenticate with existing identity",
			      false },
	[ERR_PLATFORM_DISABLED] = { 404, "platform_not_enabled", "Error: Platform not enabled",
				    "Platform not enabled", "Platform not enabled", false },
	[ERR_PLATFORM_UNAVAILABLE] = { 503, "platform_unavailable", "Error: Platform unavailable",
				       "Service Unavailable", "Platform unavailable", RETRY },
	/* The message is the provider module's own (platform_result.error). */
	[ERR_PLATFORM_REJECTED] = { 401, "platform_rejected", "Error: Token validation error",
				    "Unauthorized", "Token validation error", false },
	[ERR_INVALID_PLATFORM] = { 400, "invalid_platform",
				   "Error: platform is steam, apple, google_play, facebook or "
				   "oidc:<name>",
				   "platform is steam, apple, google_play, facebook or oidc:<name>",
				   "platform is steam, apple, google_play, facebook or oidc:<name>",
				   false },
	[ERR_NOT_LINKED] = { 404, "not_linked", "Error: Nothing of that platform is linked",
			     "Nothing of that platform is linked",
			     "Nothing of that platform is linked", false },
	[ERR_LAST_METHOD] = { 409, "last_login_method",
			      "Error: It is the last way to log in to this account",
			      "It is the last way to log in to this account",
			      "It is the last way to log in to this account", false },
	[ERR_INVALID_PLAYER_NAME] = { 400, "invalid_request", "Error: Invalid player_name",
				      "Invalid player_name", "Invalid player_name", false },
	[ERR_QUOTA] = { 413, "quota_exceeded", "Error: Player data limit exceeded",
			"Player data limit exceeded",
			"Player data keys or bytes of this user exceed the limit", false },
	[ERR_PRECONDITION] = { 412, "precondition_failed",
			       "Error: The document changed or does not exist",
			       "The document changed or does not exist",
			       "The document changed or does not exist", false },
	[ERR_DOC_NOT_FOUND] = { 404, "not_found", "Error: No document under this key",
				"No document under this key", "No document under this key", false },
	[ERR_INVALID_KEY] = { 400, "invalid_key", "Error: Keys are 1 to 128 of A-Z a-z 0-9 _ . -",
			      "Keys are 1 to 128 of A-Z a-z 0-9 _ . -",
			      "Keys are 1 to 128 of A-Z a-z 0-9 _ . -", false },
	[ERR_INVALID_CURSOR] = { 400, "invalid_cursor", "Error: Unknown cursor", "Unknown cursor",
				 "Unknown cursor", false },
	[ERR_ADMIN_TOKEN] = { 401, "unauthorized", "Error: Missing or invalid admin token",
			      "Unauthorized", "Missing or invalid admin token", false },
	[ERR_USER_NOT_FOUND] = { 404, "user_not_found", "Error: No such user", "No such user",
				 "No such user", false },
	[ERR_SESSION_NOT_FOUND] = { 404, "session_not_found",
				    "Error: No such live session of this user",
				    "No such live session of this user",
				    "No such live session of this user", false },
};

const struct reply_row *reply_row(int err)
{
	if (err < 0 || err >= ERR_COUNT)
		err = ERR_INTERNAL;
	return &rows[err];
}

void reply_json(struct http_request *req, int status, json_t *j)
{
	char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (body)
		http_reply_json(req, status, body);
	else
		reply_error(req, ERR_INTERNAL);
	free(body);
}

void reply_error_detail(struct http_request *req, int err, const char *message, json_t *extra)
{
	const struct reply_row *r = reply_row(err);
	if (r->retry_after)
		http_add_header(req, "Retry-After", "1");
	if (req->style == STYLE_COMPAT) {
		json_decref(extra);
		http_reply_text(req, r->status, message ? message : r->compat);
		return;
	}
	json_t *j = req->style == STYLE_APIGW ?
		    json_pack("{s:s}", "message", message ? message : r->apigw) :
		    json_pack("{s:s, s:s}", "error", r->slug, "message",
			      message ? message : r->message);
	if (j && extra)
		json_object_update(j, extra);
	json_decref(extra);
	char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	http_reply_json(req, r->status, body ? body : "{}");
	free(body);
}

void reply_error(struct http_request *req, int err)
{
	reply_error_detail(req, err, NULL, NULL);
}

int reply_error_of(int gh_err)
{
	switch (gh_err) {
	case GH_EINVAL: return ERR_INVALID_REQUEST;
	case GH_EAUTH: return ERR_TOKEN;
	case GH_EFORBIDDEN: return ERR_SCOPE;
	case GH_ENOTFOUND: return ERR_NO_USER;
	case GH_EPRECOND: return ERR_PRECONDITION;
	case GH_ETOOBIG: return ERR_QUOTA;
	case GH_ERATE: return ERR_RATE_LIMITED;
	case GH_EBANNED: return ERR_BANNED;
	case GH_EENDED: return ERR_SESSION_ENDED;
	case GH_ECONFLICT: return ERR_LINK_CONFLICT;
	default: return ERR_UNAVAILABLE; /* EUNAVAIL, EINTERNAL: retry later */
	}
}

void reply_failure(struct http_request *req, int gh_err)
{
	reply_error(req, reply_error_of(gh_err));
}

void reply_missing(struct http_request *req, const char *names)
{
	char body[512];
	if (req->style == STYLE_JSON)
		snprintf(body, sizeof body, "{\"error\":\"missing_parameter\",\"message\":"
			 "\"Missing required request parameters: [%s]\"}", names);
	else
		snprintf(body, sizeof body,
			 "{\"message\": \"Missing required request parameters: [%s]\"}", names);
	http_reply_json(req, 400, body);
}

json_t *reply_table_json(void)
{
	static const char *const names[ERR_COUNT] = {
#define N(x) [x] = #x
		N(ERR_INVALID_REQUEST), N(ERR_BAD_FORWARD), N(ERR_URI_TOO_LONG), N(ERR_HEADERS_TOO_LARGE),
		N(ERR_PAYLOAD_TOO_LARGE), N(ERR_UNSUPPORTED_MEDIA), N(ERR_BODY_NOT_JSON),
		N(ERR_INVALID_JSON), N(ERR_NO_ROUTE), N(ERR_METHOD), N(ERR_RATE_LIMITED),
		N(ERR_TOKEN), N(ERR_NO_USER), N(ERR_SESSION_ENDED), N(ERR_SCOPE), N(ERR_BANNED), N(ERR_GUEST_INVALID),
		N(ERR_GUEST_NO_SECRET), N(ERR_REFRESH_INVALID), N(ERR_UNAVAILABLE),
		N(ERR_INTERNAL), N(ERR_GUEST_CREATE), N(ERR_LINK_CONFLICT), N(ERR_LINK_FAILED),
		N(ERR_PLATFORM_DISABLED), N(ERR_PLATFORM_UNAVAILABLE), N(ERR_PLATFORM_REJECTED), N(ERR_INVALID_PLATFORM),
		N(ERR_NOT_LINKED), N(ERR_LAST_METHOD), N(ERR_INVALID_PLAYER_NAME), N(ERR_QUOTA),
		N(ERR_PRECONDITION), N(ERR_DOC_NOT_FOUND), N(ERR_INVALID_KEY),
		N(ERR_INVALID_CURSOR), N(ERR_ADMIN_TOKEN), N(ERR_USER_NOT_FOUND),
		N(ERR_SESSION_NOT_FOUND),
#undef N
	};
	json_t *out = json_object();
	for (int i = 0; i < ERR_COUNT; i++) {
		const struct reply_row *r = &rows[i];
		/* "ERR_NO_USER" -> "no_user": the generator's name for the row. */
		json_object_set_new(out, names[i] + 4,
				    json_pack("{s:i, s:s, s:s, s:s, s:s, s:b}", "status", r->status,
					      "slug", r->slug, "compat", r->compat, "apigw",
					      r->apigw, "message", r->message, "retry_after",
					      r->retry_after));
	}
	return out;
}
