/*
 * Unit tests of the client library's parts that need no server: credential
 * encoding and files, refresh and retry scheduling, parsing of hostile
 * replies, and the handle's argument checks. Includes the .c files to reach
 * their static helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "harness.h"

#include "../../src/client/util.c"
#include "../../src/client/cred.c"
#include "../../src/client/client.c"
#include "../../src/client/api.c"
#include "../../src/client/transfer.c"

static char tmpdir[256];

/* The client's public names (GH_OK, ...) clash with the daemon's, so the
 * client's tests keep their own temporary directory helpers. */
static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/gh-client-unit-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(2);
	}
}

static void remove_tmpdir(void)
{
	char cmd[320];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static int count_entries(const char *dir)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	return n;
}

static const char *GOOD =
	"{\"user_id\":\"0b3f1c7e-8a34-4f6e-9f1d-2b5c8e7a9d10\","
	"\"guest_secret\":\"s1-s2\",\"auth_token\":\"a.b.c\",\"refresh_token\":\"r.s.t\","
	"\"auth_token_expires_in\":900,\"refresh_token_expires_in\":518400}";

/* ---- credentials ---- */

TEST(cred_roundtrip)
{
	struct ghi_cred in = { 0 }, out;
	snprintf(in.user_id, sizeof in.user_id, "0b3f1c7e-8a34-4f6e-9f1d-2b5c8e7a9d10");
	snprintf(in.guest_secret, sizeof in.guest_secret, "%s", "abc-def");
	size_t len;
	char *s = ghi_cred_encode(&in, &len);
	CHECK_INT(ghi_cred_decode(s, len, &out), 0);
	CHECK_STR(out.user_id, in.user_id);
	CHECK_STR(out.guest_secret, in.guest_secret);
	/* every truncation is refused, none crashes */
	for (size_t i = 0; i < len; i++)
		CHECK_INT(ghi_cred_decode(s, i, &out), GH_ERR_STORAGE);
	free(s);
}

TEST(cred_decode_hostile)
{
	struct ghi_cred out;
	const char *bad[] = {
		"", "null", "[]", "{}", "\"x\"",
		"{\"version\":2,\"user_id\":\"u\",\"guest_secret\":\"s\"}",
		"{\"version\":1,\"user_id\":5,\"guest_secret\":\"s\"}",
		"{\"version\":1,\"user_id\":\"u\",\"guest_secret\":[]}",
		"{\"version\":1,\"user_id\":\"u\"}",
		"{\"version\":1,\"user_id\":\"\",\"guest_secret\":\"s\"}",
		"{\"version\":1,\"user_id\":\"u u\",\"guest_secret\":\"s\"}",
		"{\"version\":1,\"user_id\":\"u\\u0000x\",\"guest_secret\":\"s\"}",
		"{\"version\":1,\"user_id\":\"u\",\"user_id\":\"v\",\"guest_secret\":\"s\"}",
		"{\"version\":\"1\",\"user_id\":\"u\",\"guest_secret\":\"s\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_INT(ghi_cred_decode(bad[i], strlen(bad[i]), &out), GH_ERR_STORAGE);
	/* a secret longer than any the server makes */
	char big[400];
	int n = snprintf(big, sizeof big, "{\"version\":1,\"user_id\":\"u\",\"guest_secret\":\"%0200d\"}",
			 0);
	CHECK_INT(ghi_cred_decode(big, (size_t)n, &out), GH_ERR_STORAGE);
	/* huge input is refused before parsing */
	size_t hn = 1 << 20;
	char *huge = ghi_xmalloc(hn);
	memset(huge, ' ', hn);
	CHECK_INT(ghi_cred_decode(huge, hn, &out), GH_ERR_STORAGE);
	free(huge);
}

TEST(cred_file_mode_and_atomic)
{
	char path[320];
	struct stat st;
	snprintf(path, sizeof path, "%s/cred.json", tmpdir);
	mode_t old = umask(0); /* the most permissive umask: the file must still be 0600 */
	CHECK_INT(ghi_cred_file_save(path, "one", 3), 0);
	umask(old);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	/* replacing keeps 0600 even when the old file was loosened, leaves no temp file */
	chmod(path, 0644);
	CHECK_INT(ghi_cred_file_save(path, "second", 6), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(count_entries(tmpdir), 1);
	char buf[64];
	size_t len;
	CHECK_INT(ghi_cred_file_load(path, buf, sizeof buf, &len), 0);
	CHECK_INT(len, 6);
	CHECK(memcmp(buf, "second", 6) == 0);
	CHECK_INT(ghi_cred_file_remove(path), 0);
	CHECK_INT(ghi_cred_file_remove(path), 0);
	CHECK_INT(ghi_cred_file_load(path, buf, sizeof buf, &len), 1);
}

TEST(cred_file_errors)
{
	char path[320], link[320], buf[16];
	size_t len;
	snprintf(path, sizeof path, "%s/nodir/cred.json", tmpdir);
	CHECK_INT(ghi_cred_file_save(path, "x", 1), GH_ERR_STORAGE);
	CHECK_INT(count_entries(tmpdir), 0);
	/* larger than the cap: refused, not truncated */
	snprintf(path, sizeof path, "%s/big", tmpdir);
	CHECK_INT(ghi_cred_file_save(path, "0123456789abcdefXYZ", 19), 0);
	CHECK_INT(ghi_cred_file_load(path, buf, sizeof buf, &len), GH_ERR_STORAGE);
	/* a symlink is not followed */
	snprintf(link, sizeof link, "%s/link", tmpdir);
	CHECK_INT(symlink(path, link), 0);
	CHECK_INT(ghi_cred_file_load(link, buf, sizeof buf, &len), GH_ERR_STORAGE);
	/* a directory is not a credential file */
	CHECK_INT(ghi_cred_file_load(tmpdir, buf, sizeof buf, &len), GH_ERR_STORAGE);
	unlink(link);
	unlink(path);
}

static char store_data[GHI_MAX_CRED_FILE + 16];
static size_t store_len;
static int store_saves;
static int store_fail;

static int store_load(void *user, char *buf, size_t cap, size_t *len)
{
	(void)user;
	if (store_fail)
		return -1;
	if (store_len == 0)
		return 1;
	if (store_len > cap)
		return -1;
	memcpy(buf, store_data, store_len);
	*len = store_len;
	return 0;
}

static int store_save(void *user, const char *data, size_t len)
{
	(void)user;
	store_saves++;
	if (len > sizeof store_data)
		return -1;
	memcpy(store_data, data, len);
	store_len = len;
	return 0;
}

TEST(client_credentials_through_callbacks)
{
	struct gh_credential_store st = { store_load, store_save, NULL };
	struct gh_client_config cfg = { .base_url = "http://127.0.0.1:9", .store = &st };
	gh_client *c = NULL;
	char uid[80];
	store_len = 0;
	CHECK_INT(gh_client_new(&cfg, &c), 0);
	CHECK(!gh_client_has_credentials(c));
	CHECK_INT(gh_client_user_id(c, uid, sizeof uid), GH_ERR_NO_SESSION);
	gh_client_free(c);

	const char *saved = "{\"version\":1,\"user_id\":\"u-1\",\"guest_secret\":\"s-1\"}";
	store_len = strlen(saved);
	memcpy(store_data, saved, store_len);
	CHECK_INT(gh_client_new(&cfg, &c), 0);
	CHECK(gh_client_has_credentials(c));
	CHECK_INT(gh_client_user_id(c, uid, sizeof uid), 0);
	CHECK_STR(uid, "u-1");
	CHECK_INT(gh_client_user_id(c, uid, 3), GH_ERR_INVALID);
	CHECK_INT(gh_client_forget_credentials(c), 0);
	CHECK_INT(store_len, 0);
	CHECK(!gh_client_has_credentials(c));
	gh_client_free(c);

	/* corrupt or failing storage is an error at creation, not a silent new guest */
	store_len = 5;
	memcpy(store_data, "{\"ver", 5);
	CHECK_INT(gh_client_new(&cfg, &c), GH_ERR_STORAGE);
	CHECK(c == NULL);
	store_fail = 1;
	CHECK_INT(gh_client_new(&cfg, &c), GH_ERR_STORAGE);
	store_fail = 0;
	store_len = 0;
}

TEST(client_corrupt_file)
{
	char path[320];
	snprintf(path, sizeof path, "%s/corrupt.json", tmpdir);
	CHECK_INT(ghi_cred_file_save(path, "{\"version\":1,", 13), 0);
	struct gh_client_config cfg = { .base_url = "http://127.0.0.1:9", .credentials_path = path };
	gh_client *c = NULL;
	CHECK_INT(gh_client_new(&cfg, &c), GH_ERR_STORAGE);
	unlink(path);
	CHECK_INT(gh_client_new(&cfg, &c), 0); /* missing: no credentials yet */
	CHECK(!gh_client_has_credentials(c));
	gh_client_free(c);
}

/* ---- scheduling ---- */

TEST(refresh_schedule)
{
	/* at 0.75 of the lifetime, no jitter */
	CHECK_INT(ghi_refresh_delay_ms(900, 0.75, 0, 0), 675000);
	CHECK_INT(ghi_refresh_delay_ms(900, 0.75, 0, UINT32_MAX), 675000);
	/* jitter moves it by up to 10% of the lifetime either way */
	CHECK_INT(ghi_refresh_delay_ms(900, 0.75, 0.10, 0), 585000);
	CHECK_INT(ghi_refresh_delay_ms(900, 0.75, 0.10, UINT32_MAX), 765000);
	int64_t mid = ghi_refresh_delay_ms(900, 0.75, 0.10, UINT32_MAX / 2);
	CHECK(mid > 674000 && mid < 676000);
	/* never later than 5 s before expiry */
	CHECK_INT(ghi_refresh_delay_ms(60, 1.0, 0.5, UINT32_MAX), 55000);
	CHECK_INT(ghi_refresh_delay_ms(900, 0.99, 0, 0), 891000);
	CHECK_INT(ghi_refresh_delay_ms(900, 0.999, 0, 0), 895000);
	/* short lifetimes: a tenth of it as margin, at least a second from now */
	CHECK_INT(ghi_refresh_delay_ms(10, 1.0, 0, 0), 9000);
	CHECK_INT(ghi_refresh_delay_ms(1, 0.75, 0, 0), 500);
	CHECK_INT(ghi_refresh_delay_ms(0, 0.75, 0, 0), 0);
	/* nonsense fractions fall back to the default */
	CHECK_INT(ghi_refresh_delay_ms(900, 7, 0, 0), 675000);
	CHECK_INT(ghi_refresh_delay_ms(900, -1, 0, 0), 675000);
	/* spread: 1000 draws stay in range and are not all equal */
	int64_t lo = INT64_MAX, hi = 0;
	struct gh_client fake = { .rng = 12345 };
	for (int i = 0; i < 1000; i++) {
		int64_t d = ghi_refresh_delay_ms(900, 0.75, 0.10, ghc_rnd(&fake));
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	CHECK(lo >= 585000 && hi <= 765000 && hi - lo > 100000);
}

TEST(backoff)
{
	CHECK_INT(ghi_backoff_ms(1, 250, 8000, UINT32_MAX / 2), 250);
	CHECK_INT(ghi_backoff_ms(2, 250, 8000, UINT32_MAX / 2), 500);
	CHECK_INT(ghi_backoff_ms(4, 250, 8000, UINT32_MAX / 2), 2000);
	CHECK_INT(ghi_backoff_ms(30, 250, 8000, UINT32_MAX / 2), 8000);
	CHECK_INT(ghi_backoff_ms(1000, 250, 8000, UINT32_MAX / 2), 8000);
	CHECK(ghi_backoff_ms(1, 250, 8000, 0) >= 187 && ghi_backoff_ms(1, 250, 8000, 0) <= 188);
	CHECK_INT(ghi_backoff_ms(1, 250, 8000, UINT32_MAX), 313);
	CHECK_INT(ghi_backoff_ms(0, 250, 8000, UINT32_MAX / 2), 250);
}

TEST(retry_after)
{
	CHECK_INT(ghi_parse_retry_after("5", 8000), 5000);
	CHECK_INT(ghi_parse_retry_after(" 1", 8000), 1000);
	CHECK_INT(ghi_parse_retry_after("99999999999999999999", 8000), 8000);
	CHECK_INT(ghi_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 8000), -1);
	CHECK_INT(ghi_parse_retry_after("", 8000), -1);
	CHECK_INT(ghi_parse_retry_after(NULL, 8000), -1);
}

/* ---- replies ---- */

TEST(tokens_good)
{
	struct ghi_tokens t;
	char msg[GHI_MAX_MESSAGE];
	CHECK_INT(ghi_parse_tokens(GOOD, strlen(GOOD), &t, msg, sizeof msg), 0);
	CHECK_STR(t.user_id, "0b3f1c7e-8a34-4f6e-9f1d-2b5c8e7a9d10");
	CHECK_STR(t.guest_secret, "s1-s2");
	CHECK_STR(t.auth_token, "a.b.c");
	CHECK_STR(t.refresh_token, "r.s.t");
	CHECK_INT(t.auth_expires_in, 900);
	CHECK_INT(t.refresh_expires_in, 518400);
	ghi_tokens_release(&t);
	/* a refresh reply has no guest secret */
	const char *r = "{\"user_id\":\"u\",\"auth_token\":\"a\",\"refresh_token\":\"r\","
			"\"auth_token_expires_in\":60,\"refresh_token_expires_in\":60}";
	CHECK_INT(ghi_parse_tokens(r, strlen(r), &t, msg, sizeof msg), 0);
	CHECK(t.guest_secret == NULL);
	ghi_tokens_release(&t);
}

TEST(tokens_truncated)
{
	struct ghi_tokens t;
	char msg[GHI_MAX_MESSAGE];
	size_t n = strlen(GOOD);
	for (size_t i = 0; i < n; i++) {
		CHECK_INT(ghi_parse_tokens(GOOD, i, &t, msg, sizeof msg), GH_ERR_PROTOCOL);
		CHECK(t.user_id == NULL && t.auth_token == NULL);
	}
	CHECK_INT(ghi_parse_tokens(NULL, 0, &t, msg, sizeof msg), GH_ERR_PROTOCOL);
}

TEST(tokens_wrong_types)
{
	struct ghi_tokens t;
	char msg[GHI_MAX_MESSAGE];
	const char *bad[] = {
		"[]", "\"string\"", "null", "1", "{}", "<html>oops</html>",
		"{\"user_id\":1,\"auth_token\":\"a\",\"refresh_token\":\"r\","
		"\"auth_token_expires_in\":60,\"refresh_token_expires_in\":60}",
		"{\"user_id\":\"u\",\"auth_token\":{},\"refresh_token\":\"r\","
		"\"auth_token_expires_in\":60,\"refresh_token_expires_in\":60}",
		"{\"user_id\":\"u\",\"auth_token\":\"a\",\"refresh_token\":\"r\","
		"\"auth_token_expires_in\":\"60\",\"refresh_token_expires_in\":60}",
		"{\"user_id\":\"u\",\"auth_token\":\"a\",\"refresh_token\":\"r\","
		"\"auth_token_expires_in\":60.5,\"refresh_token_expires_in\":60}",
		"{\"user_id\":\"u\",\"auth_token\":\"a\",\"refresh_token\":\"r\","
		"\"auth_token_expires_in\":0,\"refresh_token_expires_in\":60}",
		"{\"user_id\":\"u\",\"auth_token\":\"a\",\"refresh_token\":\"r\","
		"\"auth_token_expires_in\":-5,\"refresh_token_expires_in\":60}",
		"{\"user_id\":\"u\",\"auth_token\":\"a\",\"refresh_token\":\"r\","
		"\"auth_token_expires_in\":99999999999999,\"refresh_token_expires_in\":60}",
		"{\"user_id\":\"u\",\"auth_token\":\"a\","
		"\"auth_token_expires_in\":60,\"refresh_token_expires_in\":60}",
		"{\"user_id\":\"u\",\"auth_token\":\"a\\u0000b\",\"refresh_token\":\"r\","
		"\"auth_token_expires_in\":60,\"refresh_token_expires_in\":60}",
		"{\"user_id\":\"u\",\"auth_token\":\"a\\nb\",\"refresh_token\":\"r\","
		"\"auth_token_expires_in\":60,\"refresh_token_expires_in\":60}",
		"{\"user_id\":\"\",\"auth_token\":\"a\",\"refresh_token\":\"r\","
		"\"auth_token_expires_in\":60,\"refresh_token_expires_in\":60}",
		"{\"user_id\":\"u\",\"user_id\":\"v\",\"auth_token\":\"a\",\"refresh_token\":\"r\","
		"\"auth_token_expires_in\":60,\"refresh_token_expires_in\":60}",
		"{\"user_id\":\"u\",\"guest_secret\":null,\"auth_token\":\"a\",\"refresh_token\":\"r\","
		"\"auth_token_expires_in\":60,\"refresh_token_expires_in\":60}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		msg[0] = '\0';
		int rc = ghi_parse_tokens(bad[i], strlen(bad[i]), &t, msg, sizeof msg);
		if (rc != GH_ERR_PROTOCOL)
			fprintf(stderr, "accepted bad reply %zu\n", i);
		CHECK_INT(rc, GH_ERR_PROTOCOL);
		CHECK(msg[0] != '\0');
		/* the message never echoes a token */
		CHECK(strstr(msg, "a.b") == NULL);
	}
}

TEST(tokens_huge)
{
	struct ghi_tokens t;
	char msg[GHI_MAX_MESSAGE];
	/* a 3 MiB token and 100k-deep nesting: refused, no crash */
	size_t n = 3u << 20;
	char *b = ghi_xmalloc(n + 256);
	int h = snprintf(b, 256, "{\"user_id\":\"u\",\"refresh_token\":\"r\","
			 "\"auth_token_expires_in\":60,\"refresh_token_expires_in\":60,\"auth_token\":\"");
	memset(b + h, 'x', n);
	memcpy(b + h + n, "\"}", 3);
	CHECK_INT(ghi_parse_tokens(b, strlen(b), &t, msg, sizeof msg), GH_ERR_PROTOCOL);
	size_t depth = 100000;
	memset(b, '[', depth);
	memset(b + depth, ']', depth);
	CHECK_INT(ghi_parse_tokens(b, 2 * depth, &t, msg, sizeof msg), GH_ERR_PROTOCOL);
	free(b);
}

TEST(reply_status)
{
	const char *banned = "Error: User is banned";
	const char *banned_json = "{\"error\":\"banned\",\"message\":\"banned\"}";
	const char *forbidden = "{\"message\":\"Forbidden\"}";
	CHECK_INT(ghi_status_for_reply(200, "", 0), GH_OK);
	CHECK_INT(ghi_status_for_reply(204, NULL, 0), GH_OK);
	CHECK_INT(ghi_status_for_reply(403, banned, strlen(banned)), GH_ERR_BANNED);
	CHECK_INT(ghi_status_for_reply(403, banned_json, strlen(banned_json)), GH_ERR_BANNED);
	CHECK_INT(ghi_status_for_reply(403, forbidden, strlen(forbidden)), GH_ERR_FORBIDDEN);
	CHECK_INT(ghi_status_for_reply(403, "{\"error\":", 9), GH_ERR_FORBIDDEN);
	CHECK_INT(ghi_status_for_reply(403, "{\"error\":[1]}", 13), GH_ERR_FORBIDDEN);
	CHECK_INT(ghi_status_for_reply(401, NULL, 0), GH_ERR_UNAUTHORIZED);
	CHECK_INT(ghi_status_for_reply(412, NULL, 0), GH_ERR_CONFLICT);
	CHECK_INT(ghi_status_for_reply(409, NULL, 0), GH_ERR_CONFLICT);
	CHECK_INT(ghi_status_for_reply(404, NULL, 0), GH_ERR_NOT_FOUND);
	CHECK_INT(ghi_status_for_reply(413, NULL, 0), GH_ERR_TOO_LARGE);
	CHECK_INT(ghi_status_for_reply(429, NULL, 0), GH_ERR_RATE_LIMITED);
	CHECK_INT(ghi_status_for_reply(503, NULL, 0), GH_ERR_UNAVAILABLE);
	CHECK_INT(ghi_status_for_reply(500, NULL, 0), GH_ERR_HTTP);
	CHECK_INT(ghi_status_for_reply(302, NULL, 0), GH_ERR_HTTP);
}

TEST(reply_message)
{
	char msg[GHI_MAX_MESSAGE];
	const char *text = "Error: Could not validate user";
	ghi_reply_message(401, text, strlen(text), msg, sizeof msg);
	CHECK_STR(msg, "HTTP 401: Error: Could not validate user");
	const char *json = "{\"error\":\"precondition_failed\",\"message\":\"The document changed\"}";
	ghi_reply_message(412, json, strlen(json), msg, sizeof msg);
	CHECK_STR(msg, "HTTP 412: The document changed");
	const char *ctl = "Error:\x01\x1b[31m\xff";
	ghi_reply_message(400, ctl, strlen(ctl), msg, sizeof msg);
	CHECK_STR(msg, "HTTP 400: Error:??[31m?");
	ghi_reply_message(500, "<html>oops", 10, msg, sizeof msg);
	CHECK_STR(msg, "HTTP 500");
	/* a long body is not copied whole; a small buffer is filled safely */
	char big[5000];
	memset(big, 'A', sizeof big);
	ghi_reply_message(500, big, sizeof big, msg, sizeof msg);
	CHECK_STR(msg, "HTTP 500");
	char tiny[6];
	ghi_reply_message(401, text, strlen(text), tiny, sizeof tiny);
	CHECK_STR(tiny, "HTTP ");
	/* a JSON message of any length is cut to the buffer */
	char longjson[2100];
	int n = snprintf(longjson, sizeof longjson, "{\"message\":\"%02000d\"}", 7);
	ghi_reply_message(400, longjson, (size_t)n, msg, sizeof msg);
	CHECK(strlen(msg) == sizeof msg - 1);
}

TEST(etag_and_version)
{
	long long v = 0;
	CHECK(ghi_parse_etag("\"12\"", &v) && v == 12);
	CHECK(ghi_parse_etag(" W/\"3\"", &v) && v == 3);
	CHECK(!ghi_parse_etag("\"\"", &v));
	CHECK(!ghi_parse_etag("\"0\"", &v));
	CHECK(!ghi_parse_etag("\"-1\"", &v));
	CHECK(!ghi_parse_etag("12", &v));
	CHECK(!ghi_parse_etag("\"12", &v));
	CHECK(!ghi_parse_etag("\"99999999999999999999999\"", &v));
	CHECK(!ghi_parse_etag(NULL, &v));
	const char *body = "{\"error\":\"precondition_failed\",\"version\":7}";
	CHECK_INT(ghi_body_version(body, strlen(body)), 7);
	CHECK_INT(ghi_body_version("{\"version\":null}", 16), 0);
	CHECK_INT(ghi_body_version("{\"version\":\"7\"}", 15), 0);
	CHECK_INT(ghi_body_version("{\"version\":7", 12), 0);
	CHECK_INT(ghi_body_version("[7]", 3), 0);
}

/* ---- the handle ---- */

TEST(form_encoding)
{
	char *b = NULL;
	size_t len = 0;
	ghc_form_add(&b, &len, "a", "x y&z=1/é");
	ghc_form_add(&b, &len, "b", "");
	CHECK_STR(b, "a=x%20y%26z%3D1%2F%C3%A9&b=");
	CHECK_INT(len, strlen(b));
	free(b);
}

TEST(keys)
{
	CHECK(ghc_valid_key("save.slot-1_A"));
	CHECK(!ghc_valid_key(""));
	CHECK(!ghc_valid_key(NULL));
	CHECK(!ghc_valid_key("a/b"));
	CHECK(!ghc_valid_key("a b"));
	CHECK(!ghc_valid_key("%2e"));
	char k[130];
	memset(k, 'k', 128);
	k[128] = '\0';
	CHECK(ghc_valid_key(k));
	k[128] = 'k';
	k[129] = '\0';
	CHECK(!ghc_valid_key(k));
}

static int called;
static void count_cb(const struct gh_result *r, void *user)
{
	(void)r;
	(void)user;
	called++;
}

TEST(client_arguments)
{
	gh_client *c = (gh_client *)1;
	struct gh_client_config cfg = { 0 };
	CHECK_INT(gh_client_new(NULL, &c), GH_ERR_INVALID);
	CHECK(c == NULL);
	CHECK_INT(gh_client_new(&cfg, &c), GH_ERR_INVALID);
	cfg.base_url = "ftp://example.com";
	CHECK_INT(gh_client_new(&cfg, &c), GH_ERR_INVALID);
	struct gh_credential_store half = { store_load, NULL, NULL };
	cfg.base_url = "http://127.0.0.1:9/";
	cfg.store = &half;
	CHECK_INT(gh_client_new(&cfg, &c), GH_ERR_INVALID);
	cfg.store = NULL;
	CHECK_INT(gh_client_new(&cfg, &c), 0);
	CHECK_STR(c->base_url, "http://127.0.0.1:9");
	CHECK(!gh_client_logged_in(c));

	/* calls that need a session are refused at once; their callback never runs */
	called = 0;
	CHECK_INT(gh_get_user(c, count_cb, NULL), GH_ERR_NO_SESSION);
	CHECK_INT(gh_storage_get(c, "k", count_cb, NULL), GH_ERR_NO_SESSION);
	CHECK_INT(gh_logout(c, count_cb, NULL), GH_ERR_NO_SESSION);
	CHECK_INT(gh_storage_get(c, "bad/key", count_cb, NULL), GH_ERR_INVALID);
	CHECK_INT(gh_storage_put(c, "k", "1", 1, -2, count_cb, NULL), GH_ERR_INVALID);
	CHECK_INT(gh_storage_put(c, "k", NULL, 0, GH_ANY_VERSION, count_cb, NULL), GH_ERR_INVALID);
	CHECK_INT(gh_storage_delete(c, "k", GH_NO_VERSION, count_cb, NULL), GH_ERR_INVALID);
	CHECK_INT(gh_request(c, "get", "/x", NULL, NULL, 0, count_cb, NULL), GH_ERR_INVALID);
	CHECK_INT(gh_request(c, "GET", "x", NULL, NULL, 0, count_cb, NULL), GH_ERR_INVALID);
	CHECK_INT(gh_request(c, "GET", "/a b", NULL, NULL, 0, count_cb, NULL), GH_ERR_INVALID);
	CHECK_INT(gh_request(c, "GET", "/a\r\nX: y", NULL, NULL, 0, count_cb, NULL), GH_ERR_INVALID);
	CHECK_INT(gh_request(c, "POST", "/a", "text/plain\r\nX: y", "b", 1, count_cb, NULL),
		  GH_ERR_INVALID);
	struct gh_platform_credential pc = { .platform = GH_PLATFORM_FACEBOOK, .token = "t" };
	CHECK_INT(gh_login_platform(c, &pc, false, count_cb, NULL), GH_ERR_INVALID);
	pc.platform = GH_PLATFORM_OIDC;
	CHECK_INT(gh_login_platform(c, &pc, false, count_cb, NULL), GH_ERR_INVALID);
	pc.platform = GH_PLATFORM_STEAM;
	CHECK_INT(gh_login_platform(c, &pc, true, count_cb, NULL), GH_ERR_NO_SESSION);
	pc.platform = (enum gh_platform)99;
	CHECK_INT(gh_login_platform(c, &pc, false, count_cb, NULL), GH_ERR_INVALID);
	CHECK_INT(gh_client_tick(c), 0);
	CHECK_INT(called, 0);

	/* the blocking API reports a refused submit as its result */
	struct gh_response r;
	gh_response_init(&r);
	CHECK_INT(gh_wait_for(c, &r, gh_get_user(c, gh_response_cb, &r), 1000), GH_ERR_NO_SESSION);
	CHECK(r.done);
	CHECK_STR(r.message, "not logged in");
	gh_response_release(&r);
	gh_client_free(c);
	gh_client_free(NULL);
}

TEST(client_free_with_pending)
{
	/* a login to a port nobody listens on, freed before it ends: no callback, no leak */
	struct gh_client_config cfg = { .base_url = "http://127.0.0.1:9", .max_retries = 50 };
	gh_client *c = NULL;
	CHECK_INT(gh_client_new(&cfg, &c), 0);
	called = 0;
	CHECK_INT(gh_login_guest(c, count_cb, NULL), 0);
	for (int i = 0; i < 20; i++) {
		gh_client_tick(c);
		gh_client_wait(c, 5);
	}
	gh_client_free(c);
	CHECK_INT(called, 0);

	cfg.own_thread = true;
	CHECK_INT(gh_client_new(&cfg, &c), 0);
	CHECK_INT(gh_login_guest(c, count_cb, NULL), 0);
	gh_client_wait(c, 20);
	gh_client_free(c);
	CHECK_INT(called, 0);
}

TEST(client_network_error_after_retries)
{
	/* nothing listens on port 9: connection refused, retried, then a value */
	struct gh_client_config cfg = { .base_url = "http://127.0.0.1:9", .max_retries = 2,
					.retry_base_ms = 10 };
	gh_client *c = NULL;
	CHECK_INT(gh_client_new(&cfg, &c), 0);
	struct gh_response r;
	gh_response_init(&r);
	CHECK_INT(gh_wait_for(c, &r, gh_login_guest(c, gh_response_cb, &r), 10000),
		  GH_ERR_NETWORK);
	CHECK_INT(r.http_status, 0);
	CHECK(strlen(r.message) > 0);
	CHECK(!gh_client_logged_in(c));
	gh_response_release(&r);
	gh_client_free(c);
}

TEST(strerror_names)
{
	for (int s = 0; s >= GH_ERR_NO_SESSION; s--)
		CHECK(strcmp(gh_strerror(s), "unknown error") != 0);
	CHECK_STR(gh_strerror(-999), "unknown error");
}

int main(void)
{
	make_tmpdir();
	RUN(cred_roundtrip);
	RUN(cred_decode_hostile);
	RUN(cred_file_mode_and_atomic);
	RUN(cred_file_errors);
	RUN(client_credentials_through_callbacks);
	RUN(client_corrupt_file);
	RUN(refresh_schedule);
	RUN(backoff);
	RUN(retry_after);
	RUN(tokens_good);
	RUN(tokens_truncated);
	RUN(tokens_wrong_types);
	RUN(tokens_huge);
	RUN(reply_status);
	RUN(reply_message);
	RUN(etag_and_version);
	RUN(form_encoding);
	RUN(keys);
	RUN(client_arguments);
	RUN(client_free_with_pending);
	RUN(client_network_error_after_retries);
	RUN(strerror_names);
	remove_tmpdir();
	return REPORT();
}
