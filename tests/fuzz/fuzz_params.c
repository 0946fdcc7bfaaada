/*
 * fuzz_params.c - request parameters (http_parse_params_ct): the query
 * string of the request target, and a form or JSON body chosen by
 * Content-Type, as the handlers get them.
 *
 * Input: one byte choosing the Content-Type (and whether there is a body),
 * then the request target up to the first '\n', then the body.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/http.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "fuzz_common.h"

static const char *const content_types[] = {
	NULL, /* no body at all */
	"application/json",
	"application/x-www-form-urlencoded",
	"application/json; charset=utf-8",
	"application/x-www-form-urlencoded; charset=UTF-8",
	"text/plain",
	NULL, /* a body without Content-Type */
	" Application/JSON",
};

FUZZ_QUIET_INITIALIZE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned which = data[0] % (sizeof content_types / sizeof content_types[0]);
	const char *rest = (const char *)data + 1;
	size_t n = size - 1;
	const char *nl = memchr(rest, '\n', n);
	size_t tlen = nl ? (size_t)(nl - rest) : n;

	struct http_request *req = xcalloc(1, sizeof *req);
	/* libmicrohttpd hands over the target as a C string. */
	req->raw_target = xstrndup(rest, tlen);
	if (which != 0 && nl) {
		sb_add(&req->body, nl + 1, n - tlen - 1);
		req->body_received = n - tlen - 1;
	}
	bool unsupported;
	if (http_parse_params_ct(req, content_types[which], &unsupported) == 0) {
		/* What handlers do next: look parameters up. */
		for (int i = 0; i < req->nparams; i++)
			if (http_param(req, req->params[i].name) != req->params[i].value)
				abort(); /* a duplicate name slipped through */
		(void)http_param(req, "user_id");
	}
	for (int i = 0; i < req->nparams; i++) {
		free(req->params[i].name);
		free(req->params[i].value);
	}
	sb_release(&req->body);
	free(req->raw_target);
	free(req);
	return 0;
}
