/*
 * reply.h - the one error table. Each error a client can get has one row:
 * its HTTP status, its slug, and its body in each of the three families of
 * routes (the route's style, set on the request by the router):
 *
 *   STYLE_JSON    gatehouse's own routes: {"error":"<slug>","message":"..."}
 *   STYLE_COMPAT  identity routes of the AWS reference: a plain-text body
 *                 "Error: ..." (Unreal fires its failure callback only on a
 *                 non-JSON body), API Gateway's JSON for a missing parameter
 *   STYLE_APIGW   the sample backend routes behind API Gateway's JWT
 *                 authorizer: {"message":"..."}
 *
 * Handlers and the router answer every error through these functions; the
 * OpenAPI generator reads the same table (`gatehouse routes --json`).
 */
#ifndef GATEHOUSE_REPLY_H
#define GATEHOUSE_REPLY_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

struct http_request;

enum reply_style { STYLE_JSON = 0, STYLE_COMPAT, STYLE_APIGW };

enum reply_error {
	/* the request itself */
	ERR_INVALID_REQUEST = 0,
	ERR_BAD_FORWARD,
	ERR_URI_TOO_LONG,
	ERR_HEADERS_TOO_LARGE,
	ERR_PAYLOAD_TOO_LARGE,
	ERR_UNSUPPORTED_MEDIA,
	ERR_BODY_NOT_JSON,
	ERR_INVALID_JSON,
	ERR_NO_ROUTE,
	ERR_METHOD,
	ERR_RATE_LIMITED,
	/* who is asking */
	ERR_TOKEN,
	ERR_NO_USER,
	ERR_SESSION_ENDED,
	ERR_SCOPE,
	ERR_BANNED,
	ERR_GUEST_INVALID,
	ERR_GUEST_NO_SECRET,
	ERR_REFRESH_INVALID,
	/* the service */
	ERR_UNAVAILABLE,
	ERR_INTERNAL,
	ERR_GUEST_CREATE,
	/* platforms */
	ERR_LINK_CONFLICT,
	ERR_LINK_FAILED,
	ERR_PLATFORM_DISABLED,
	ERR_PLATFORM_UNAVAILABLE,
	ERR_PLATFORM_REJECTED,
	ERR_INVALID_PLATFORM,
	ERR_NOT_LINKED,
	ERR_LAST_METHOD,
	/* player storage */
	ERR_INVALID_PLAYER_NAME,
	ERR_QUOTA,
	ERR_PRECONDITION,
	ERR_DOC_NOT_FOUND,
	ERR_INVALID_KEY,
	ERR_INVALID_CURSOR,
	/* the admin API */
	ERR_ADMIN_TOKEN,
	ERR_USER_NOT_FOUND,
	ERR_SESSION_NOT_FOUND,
	ERR_COUNT
};

struct reply_row {
	int status;
	const char *slug;          /* STYLE_JSON's "error" */
	const char *compat;        /* STYLE_COMPAT's text body */
	const char *apigw;         /* STYLE_APIGW's "message" */
	const char *message;       /* STYLE_JSON's "message" */
	bool retry_after;          /* answered with Retry-After: 1 */
};

/* The row of an error (err < ERR_COUNT). */
const struct reply_row *reply_row(int err);

/* Answers the error in the request's style (req->style). */
void reply_error(struct http_request *req, int err);
/*
 * The same with a message of the request's own in place of the row's (NULL
 * keeps it) and, on JSON and API Gateway bodies, extra members appended
 * after "message" in order (a JSON object, consumed; may be NULL).
 */
void reply_error_detail(struct http_request *req, int err, const char *message, json_t *extra);

/*
 * The row for an error code of errors.h (EINVAL -> invalid request, EAUTH
 * -> token, ENOTFOUND -> no such user, EUNAVAIL and EINTERNAL -> 503, ...),
 * for failures of calls made on behalf of the token's user.
 */
int reply_error_of(int gh_err);
/* reply_error(req, reply_error_of(gh_err)). */
void reply_failure(struct http_request *req, int gh_err);

/*
 * 400 for missing required parameters, worded as API Gateway's request
 * validator does: {"message": "Missing required request parameters: [a, b]"}
 * on compat and apigw routes, with "error":"missing_parameter" on JSON ones.
 */
void reply_missing(struct http_request *req, const char *names);

/* A JSON document (consumed) with status; 500 ERR_INTERNAL when j is NULL. */
void reply_json(struct http_request *req, int status, json_t *j);

/* The table as JSON (for `gatehouse routes --json` and the OpenAPI generator). */
json_t *reply_table_json(void);

#endif
