/*
 * test_http.c - the request-target and parameter decoding of http/request.c (its
 * static functions, reached by including the .c): path normalisation and
 * base_path handling, percent-decoding, urlencoded parameters, and the one
 * mapping from error codes to HTTP statuses.
 */
#include "../../src/http/request.c"

#include "harness.h"

/* normalize_path as a string: the path, "OUTSIDE", or "BAD". */
static char norm_buf[256];
static const char *norm(const char *target, const char *base)
{
	bool outside = true;
	char *p = http_normalize_path(target, base, &outside);
	if (p) {
		snprintf(norm_buf, sizeof norm_buf, "%s%s", p, outside ? " (outside set!)" : "");
		free(p);
	} else {
		snprintf(norm_buf, sizeof norm_buf, "%s", outside ? "OUTSIDE" : "BAD");
	}
	return norm_buf;
}

TEST(normalize_root)
{
	CHECK_STR(norm("/login-as-guest", ""), "/login-as-guest");
	CHECK_STR(norm("//login-as-guest", ""), "/login-as-guest");
	/* A trailing slash stays: /x/ is not /x (a player-data key never ends in '/'). */
	CHECK_STR(norm("///login-as-guest//", ""), "/login-as-guest/");
	CHECK_STR(norm("/login-as-guest/", ""), "/login-as-guest/");
	CHECK_STR(norm("/a//b///c/", ""), "/a/b/c/");
	CHECK_STR(norm("/", ""), "/");
	CHECK_STR(norm("//", ""), "/");
	CHECK_STR(norm("", ""), "/");
	CHECK_STR(norm("login", ""), "/login");
	/* The query and fragment are not part of the path. */
	CHECK_STR(norm("/refresh?token=a/b", ""), "/refresh");
	CHECK_STR(norm("/refresh/?x=%zz", ""), "/refresh/");
	CHECK_STR(norm("/refresh#frag", ""), "/refresh");
	CHECK_STR(norm("/?a=1", ""), "/");
}

TEST(normalize_base_path)
{
	CHECK_STR(norm("/prod/login-as-guest", "/prod"), "/login-as-guest");
	CHECK_STR(norm("/prod//x", "/prod"), "/x");
	CHECK_STR(norm("//prod//x//", "/prod"), "/x/");
	CHECK_STR(norm("/prod/", "/prod"), "/");
	CHECK_STR(norm("/prod", "/prod"), "/");
	CHECK_STR(norm("/prod?x=1", "/prod"), "/");
	CHECK_STR(norm("/production/x", "/prod"), "OUTSIDE");
	CHECK_STR(norm("/prodx", "/prod"), "OUTSIDE");
	CHECK_STR(norm("/pro", "/prod"), "OUTSIDE");
	CHECK_STR(norm("/", "/prod"), "OUTSIDE");
	CHECK_STR(norm("/x/prod", "/prod"), "OUTSIDE");
	CHECK_STR(norm("/PROD/x", "/prod"), "OUTSIDE");
	/* Nested base paths. */
	CHECK_STR(norm("/game/eu/x", "/game/eu"), "/x");
	CHECK_STR(norm("/game//eu/x", "/game/eu"), "/x");
	CHECK_STR(norm("/game/x", "/game/eu"), "OUTSIDE");
	CHECK_STR(norm("/game/europe", "/game/eu"), "OUTSIDE");
}

TEST(normalize_percent_decoding)
{
	CHECK_STR(norm("/a%2Fb", ""), "/a/b");
	CHECK_STR(norm("/a%2fb", ""), "/a/b");
	/* Encoded slashes are data, never merged: "/%2Fx" is not "/x". */
	CHECK_STR(norm("/%2F%2Flogin", ""), "///login");
	CHECK_STR(norm("/player-data/%2Fx", ""), "/player-data//x");
	CHECK_STR(norm("/player-data/x%2F", ""), "/player-data/x/");
	CHECK_STR(norm("/%70rod/x", "/prod"), "/x");
	CHECK_STR(norm("/caf%C3%A9", ""), "/caf\xc3\xa9");
	CHECK_STR(norm("/a%20b", ""), "/a b");
	CHECK_STR(norm("/a+b", ""), "/a+b"); /* '+' is only a space in queries */
	/* NUL, broken escapes and invalid UTF-8 cannot be routed. */
	CHECK_STR(norm("/a%00b", ""), "BAD");
	CHECK_STR(norm("/a%00", "/prod"), "BAD");
	CHECK_STR(norm("/a%", ""), "BAD");
	CHECK_STR(norm("/a%2", ""), "BAD");
	CHECK_STR(norm("/a%zz", ""), "BAD");
	CHECK_STR(norm("/a%g0", ""), "BAD");
	CHECK_STR(norm("/a%-1", ""), "BAD");
	CHECK_STR(norm("/%FF", ""), "BAD");
	CHECK_STR(norm("/%C0%AF", ""), "BAD");          /* overlong '/' */
	CHECK_STR(norm("/%ED%A0%80", ""), "BAD");       /* surrogate */
	CHECK_STR(norm("/%C3", ""), "BAD");             /* truncated */
	CHECK_STR(norm("/\xff", ""), "BAD");            /* raw invalid byte */
	/* An escape right at the end is complete. */
	CHECK_STR(norm("/a%41", ""), "/aA");
	CHECK_STR(norm("/%41", ""), "/A");
}

TEST(pct_decode_direct)
{
	size_t n = 99;
	char *p = pct_decode("a%41b+c", 7, true, &n);
	CHECK_STR(p, "aAb c");
	CHECK_INT(n, 5);
	free(p);
	p = pct_decode("a%41b+c", 7, false, &n);
	CHECK_STR(p, "aAb+c");
	free(p);
	/* Only n bytes are read. */
	p = pct_decode("ab%4", 2, true, &n);
	CHECK_STR(p, "ab");
	CHECK_INT(n, 2);
	free(p);
	p = pct_decode("%4", 2, true, &n);
	CHECK(p == NULL);
	p = pct_decode("%", 1, true, &n);
	CHECK(p == NULL);
	p = pct_decode("", 0, true, &n);
	CHECK_STR(p, "");
	CHECK_INT(n, 0);
	free(p);
	p = pct_decode("%2B", 3, true, &n);
	CHECK_STR(p, "+"); /* an encoded '+' stays a plus */
	free(p);
}

/* ---- parameters ---- */

static void req_reset(struct http_request *req)
{
	for (int i = 0; i < req->nparams; i++) {
		free(req->params[i].name);
		free(req->params[i].value);
	}
	memset(req, 0, sizeof *req);
}

static int parse(struct http_request *req, const char *s)
{
	req_reset(req);
	return parse_urlencoded(req, s, strlen(s));
}

TEST(urlencoded_basics)
{
	struct http_request req;
	memset(&req, 0, sizeof req);
	CHECK_INT(parse(&req, "user_id=a&guest_secret=b"), 0);
	CHECK_INT(req.nparams, 2);
	CHECK_STR(http_param(&req, "user_id"), "a");
	CHECK_STR(http_param(&req, "guest_secret"), "b");
	CHECK(http_param(&req, "missing") == NULL);

	/* Unity sends a leading '&'; empty pairs are skipped. */
	CHECK_INT(parse(&req, "&user_id=a&guest_secret=b"), 0);
	CHECK_INT(req.nparams, 2);
	CHECK_STR(http_param(&req, "user_id"), "a");
	CHECK_STR(http_param(&req, "guest_secret"), "b");
	CHECK_INT(parse(&req, "&&a=1&&b=2&"), 0);
	CHECK_INT(req.nparams, 2);
	CHECK_INT(parse(&req, ""), 0);
	CHECK_INT(req.nparams, 0);
	CHECK_INT(parse(&req, "&"), 0);
	CHECK_INT(req.nparams, 0);

	/* '+' is a space, %XX decoded, in names and values. */
	CHECK_INT(parse(&req, "display+name=Jane+Doe&x%5Fy=%26%3D%2B"), 0);
	CHECK_STR(http_param(&req, "display name"), "Jane Doe");
	CHECK_STR(http_param(&req, "x_y"), "&=+");

	/* A value may be empty or absent; both read as "". */
	CHECK_INT(parse(&req, "a=&b"), 0);
	CHECK_STR(http_param(&req, "a"), "");
	CHECK_STR(http_param(&req, "b"), "");
	/* Only the first '=' splits. */
	CHECK_INT(parse(&req, "t=a=b=="), 0);
	CHECK_STR(http_param(&req, "t"), "a=b==");
	/* UTF-8 values survive. */
	CHECK_INT(parse(&req, "n=caf%C3%A9"), 0);
	CHECK_STR(http_param(&req, "n"), "caf\xc3\xa9");
	req_reset(&req);
}

TEST(urlencoded_rejects)
{
	struct http_request req;
	memset(&req, 0, sizeof req);
	/* A name twice: which one would a handler see? Refuse. */
	CHECK_INT(parse(&req, "user_id=a&user_id=b"), GH_EINVAL);
	CHECK_INT(parse(&req, "user_id=a&user+id=b&user_id=a"), GH_EINVAL);
	CHECK_INT(parse(&req, "user_id=a&user%5Fid=b"), GH_EINVAL);
	/* No name. */
	CHECK_INT(parse(&req, "=x"), GH_EINVAL);
	CHECK_INT(parse(&req, "a=1&=x"), GH_EINVAL);
	CHECK_INT(parse(&req, "="), GH_EINVAL);
	/* Broken escapes, NUL, invalid UTF-8, in names or values. */
	CHECK_INT(parse(&req, "a=%zz"), GH_EINVAL);
	CHECK_INT(parse(&req, "a=%4"), GH_EINVAL);
	CHECK_INT(parse(&req, "a=%"), GH_EINVAL);
	CHECK_INT(parse(&req, "a%=1"), GH_EINVAL);
	CHECK_INT(parse(&req, "a=x%00y"), GH_EINVAL);
	CHECK_INT(parse(&req, "a%00=1"), GH_EINVAL);
	CHECK_INT(parse(&req, "a=%FF"), GH_EINVAL);
	CHECK_INT(parse(&req, "a=%ED%A0%80"), GH_EINVAL);
	CHECK_INT(parse(&req, "%C0%80=1"), GH_EINVAL);
	req_reset(&req);
}

TEST(urlencoded_param_limit)
{
	struct http_request req;
	memset(&req, 0, sizeof req);
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < HTTP_MAX_PARAMS; i++)
		sb_addf(&sb, "%sp%d=%d", i ? "&" : "", i, i);
	CHECK_INT(parse(&req, sb.buf), 0);
	CHECK_INT(req.nparams, HTTP_MAX_PARAMS);
	CHECK_STR(http_param(&req, "p31"), "31");
	sb_addf(&sb, "&p%d=x", HTTP_MAX_PARAMS);
	CHECK_INT(parse(&req, sb.buf), GH_EINVAL);
	CHECK(req.nparams <= HTTP_MAX_PARAMS);
	/* Many more: still refused, nothing overflows. */
	for (int i = HTTP_MAX_PARAMS + 1; i < 500; i++)
		sb_addf(&sb, "&p%d=x", i);
	CHECK_INT(parse(&req, sb.buf), GH_EINVAL);
	CHECK(req.nparams <= HTTP_MAX_PARAMS);
	/* Empty pairs do not count. */
	sb_reset(&sb);
	for (int i = 0; i < 100; i++)
		sb_adds(&sb, "&");
	sb_adds(&sb, "a=1");
	CHECK_INT(parse(&req, sb.buf), 0);
	CHECK_INT(req.nparams, 1);
	req_reset(&req);
	sb_release(&sb);
}

TEST(urlencoded_length_bound)
{
	/* Only the given length is parsed (a body is not NUL-terminated). */
	struct http_request req;
	memset(&req, 0, sizeof req);
	const char *s = "a=1&b=2";
	CHECK_INT(parse_urlencoded(&req, s, 3), 0);
	CHECK_INT(req.nparams, 1);
	CHECK_STR(http_param(&req, "a"), "1");
	CHECK(http_param(&req, "b") == NULL);
	req_reset(&req);
}

TEST(query_params_from_target)
{
	/* Without a body, parameters come from the query string alone. */
	struct http_request req;
	memset(&req, 0, sizeof req);
	char target[] = "/prod/login-as-guest?&user_id=a%2Bb&guest_secret=s+t?u#frag&x=1";
	req.raw_target = target;
	bool unsupported = true;
	CHECK_INT(http_parse_params(&req, &unsupported), 0);
	CHECK(!unsupported);
	CHECK_INT(req.nparams, 2);
	CHECK_STR(http_param(&req, "user_id"), "a+b");
	CHECK_STR(http_param(&req, "guest_secret"), "s t?u");
	CHECK(http_param(&req, "x") == NULL);
	req.raw_target = NULL;
	req_reset(&req);

	char dup[] = "/refresh?a=1&a=1";
	req.raw_target = dup;
	CHECK_INT(http_parse_params(&req, &unsupported), GH_EINVAL);
	req.raw_target = NULL;
	req_reset(&req);

	char none[] = "/refresh";
	req.raw_target = none;
	CHECK_INT(http_parse_params(&req, &unsupported), 0);
	CHECK_INT(req.nparams, 0);
	req.raw_target = NULL;
	req_reset(&req);
}

TEST(content_type_match)
{
	CHECK(content_type_is("application/json", "application/json"));
	CHECK(content_type_is("application/json; charset=utf-8", "application/json"));
	CHECK(content_type_is("Application/JSON", "application/json"));
	CHECK(content_type_is("  application/json", "application/json"));
	CHECK(!content_type_is("application/jsonx", "application/json"));
	CHECK(!content_type_is("application/json-patch+json", "application/json"));
	CHECK(!content_type_is("text/plain", "application/json"));
	CHECK(content_type_is("application/x-www-form-urlencoded;charset=UTF-8",
			      "application/x-www-form-urlencoded"));
}

int main(void)
{
	log_configure(LOG_ERROR, LOG_FORMAT_TEXT);
	RUN(normalize_root);
	RUN(normalize_base_path);
	RUN(normalize_percent_decoding);
	RUN(pct_decode_direct);
	RUN(urlencoded_basics);
	RUN(urlencoded_rejects);
	RUN(urlencoded_param_limit);
	RUN(urlencoded_length_bound);
	RUN(query_params_from_target);
	RUN(content_type_match);
	return REPORT();
}
