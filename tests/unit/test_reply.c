/*
 * test_reply.c - the error table: every row complete and of its class, the
 * mapping from error codes, and the table as the OpenAPI generator reads it.
 */
#include <string.h>

#include <jansson.h>

#include "gatehouse/errors.h"
#include "gatehouse/reply.h"

#include "harness.h"

TEST(rows_complete)
{
	for (int e = 0; e < ERR_COUNT; e++) {
		const struct reply_row *r = reply_row(e);
		CHECK(r->status >= 400 && r->status <= 599);
		CHECK(r->slug && *r->slug && r->apigw && *r->apigw && r->message && *r->message);
		/* Compat bodies are the reference's "Error: ..." text. */
		CHECK(r->compat && strncmp(r->compat, "Error: ", 7) == 0);
		/* Only 503s ask the client to come back. */
		CHECK(!r->retry_after || r->status == 503);
	}
	/* Out of range: an internal error, never a success. */
	CHECK_INT(reply_row(-1)->status, 500);
	CHECK_INT(reply_row(ERR_COUNT)->status, 500);
}

static int status_of(int gh_err)
{
	return reply_row(reply_error_of(gh_err))->status;
}

TEST(error_codes)
{
	CHECK_INT(status_of(GH_EINVAL), 400);
	CHECK_INT(status_of(GH_EAUTH), 401);
	CHECK_INT(status_of(GH_EFORBIDDEN), 403);
	CHECK_INT(status_of(GH_EBANNED), 403);
	/* On behalf of a token: its user no longer exists. */
	CHECK_INT(status_of(GH_ENOTFOUND), 401);
	CHECK_INT(status_of(GH_ECONFLICT), 409);
	CHECK_INT(status_of(GH_EPRECOND), 412);
	CHECK_INT(status_of(GH_ETOOBIG), 413);
	CHECK_INT(status_of(GH_ERATE), 429);
	/* The store could not answer: retry later. */
	CHECK_INT(status_of(GH_EUNAVAIL), 503);
	CHECK_INT(status_of(GH_EINTERNAL), 503);
	CHECK(reply_row(reply_error_of(GH_EUNAVAIL))->retry_after);
	CHECK_INT(status_of(-12345), 503);
	/* The shapes clients rely on (API.md A.5, B). */
	CHECK_STR(reply_row(ERR_TOKEN)->apigw, "Unauthorized");
	CHECK_STR(reply_row(ERR_BANNED)->apigw, "Forbidden");
	CHECK_STR(reply_row(ERR_UNAVAILABLE)->compat, "Error: Service unavailable");
	CHECK_STR(reply_row(ERR_UNAVAILABLE)->message, "Try again shortly");
}

TEST(table_json)
{
	json_t *t = reply_table_json();
	CHECK_INT(json_object_size(t), ERR_COUNT);
	json_t *b = json_object_get(t, "BANNED");
	CHECK_INT(json_integer_value(json_object_get(b, "status")), 403);
	CHECK_STR(json_string_value(json_object_get(b, "slug")), "banned");
	CHECK_STR(json_string_value(json_object_get(b, "compat")), "Error: User is banned");
	json_decref(t);
}

int main(void)
{
	RUN(rows_complete);
	RUN(error_codes);
	RUN(table_json);
	return REPORT();
}
