/*
 * test_base.c - src/base/, the helpers every other module trusts:
 * strict base64url (JWS), UUIDs, UTF-8 validation, duration and size
 * parsing, and the string buffer with its JSON string escaping.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/clock.h"
#include "gatehouse/random.h"
#include "gatehouse/encoding.h"
#include "gatehouse/parse.h"
#include "gatehouse/jsoncheck.h"
#include "harness.h"

/* ---- base64url ---- */

/* Decodes a NUL-terminated text into buf (capacity cap); returns rc, sets *n. */
static int b64d(const char *txt, unsigned char *buf, size_t cap, size_t *n)
{
	*n = cap;
	return gh_b64url_decode(txt, strlen(txt), buf, n);
}

TEST(b64url_known_vectors)
{
	/* RFC 4648 section 10, in the url alphabet without padding. */
	static const struct {
		const char *plain, *enc;
	} v[] = {
		{ "", "" },           { "f", "Zg" },         { "fo", "Zm8" },
		{ "foo", "Zm9v" },    { "foob", "Zm9vYg" },  { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" },
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(v); i++) {
		char out[16];
		size_t pl = strlen(v[i].plain);
		CHECK_INT(gh_b64url_encoded_len(pl), strlen(v[i].enc));
		gh_b64url_encode(v[i].plain, pl, out);
		CHECK_STR(out, v[i].enc);
		unsigned char dec[16];
		size_t n;
		CHECK_INT(b64d(v[i].enc, dec, sizeof dec, &n), 0);
		CHECK_INT(n, pl);
		CHECK(memcmp(dec, v[i].plain, pl) == 0);
	}
	/* The url alphabet: 0xfb 0xff -> "-_8" (standard base64 would say "+/8"). */
	char out[8];
	gh_b64url_encode("\xfb\xff", 2, out);
	CHECK_STR(out, "-_8");
	unsigned char dec[4];
	size_t n;
	CHECK_INT(b64d("-_8", dec, sizeof dec, &n), 0);
	CHECK_INT(n, 2);
	CHECK(dec[0] == 0xfb && dec[1] == 0xff);
}

TEST(b64url_rejects_non_rfc7515_input)
{
	unsigned char buf[64];
	size_t n;
	/* Padding is not part of JWS base64url. */
	CHECK_INT(b64d("Zg==", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d("Zm8=", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d("Zm9vYg==", buf, sizeof buf, &n), GH_EINVAL);
	/* The standard alphabet's '+' and '/'. */
	CHECK_INT(b64d("-_8+", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d("+_8", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d("-/8", buf, sizeof buf, &n), GH_EINVAL);
	/* Whitespace anywhere. */
	CHECK_INT(b64d("Zm9v Yg", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d(" Zm9vYg", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d("Zm9\n", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d("Zm9\tv", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d("Zm9vYg\r\n", buf, sizeof buf, &n), GH_EINVAL);
	/* Other bytes outside the alphabet. */
	CHECK_INT(b64d("Zm9.", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d("Zm\xc3\xa9", buf, sizeof buf, &n), GH_EINVAL);
	/* An embedded NUL inside the given length. */
	n = sizeof buf;
	CHECK_INT(gh_b64url_decode("Zm\0v", 4, buf, &n), GH_EINVAL);
	/* A length of 4k+1 can encode nothing. */
	CHECK_INT(b64d("Z", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d("Zm9vY", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d("Zm9vYmFyZ", buf, sizeof buf, &n), GH_EINVAL);
}

TEST(b64url_rejects_non_canonical_trailing_bits)
{
	unsigned char buf[8];
	size_t n;
	/* "f" is "Zg"; "Zh".."Zv" carry the same byte with non-zero spare bits. */
	CHECK_INT(b64d("Zg", buf, sizeof buf, &n), 0);
	CHECK_INT(b64d("Zh", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d("Zi", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d("Zv", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d("Z_", buf, sizeof buf, &n), GH_EINVAL);
	/* "fo" is "Zm8"; "Zm9" has the two spare bits set. */
	CHECK_INT(b64d("Zm8", buf, sizeof buf, &n), 0);
	CHECK_INT(b64d("Zm9", buf, sizeof buf, &n), GH_EINVAL);
	CHECK_INT(b64d("Zm-", buf, sizeof buf, &n), GH_EINVAL);
	/* Every 2-char and 3-char text decodes only when it is what we encode. */
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int accepted2 = 0, accepted3 = 0, mismatch = 0;
	for (int a = 0; a < 64; a++)
		for (int b = 0; b < 64; b++) {
			char t[4] = { alpha[a], alpha[b], 0, 0 };
			unsigned char d[4];
			size_t dn = sizeof d;
			if (gh_b64url_decode(t, 2, d, &dn) == 0) {
				accepted2++;
				char re[8];
				gh_b64url_encode(d, dn, re);
				if (dn != 1 || strcmp(re, t) != 0)
					mismatch++;
			}
			for (int c = 0; c < 64; c++) {
				t[2] = alpha[c];
				dn = sizeof d;
				if (gh_b64url_decode(t, 3, d, &dn) == 0) {
					accepted3++;
					char re[8];
					gh_b64url_encode(d, dn, re);
					if (dn != 2 || strcmp(re, t) != 0)
						mismatch++;
				}
			}
		}
	CHECK_INT(accepted2, 256);
	CHECK_INT(accepted3, 65536);
	CHECK_INT(mismatch, 0);
}

TEST(b64url_respects_capacity)
{
	unsigned char buf[8];
	memset(buf, 0xaa, sizeof buf);
	size_t n = 5; /* "Zm9vYmFy" is 6 bytes */
	CHECK_INT(gh_b64url_decode("Zm9vYmFy", 8, buf, &n), GH_EINVAL);
	CHECK(buf[5] == 0xaa && buf[6] == 0xaa);
	n = 6;
	CHECK_INT(gh_b64url_decode("Zm9vYmFy", 8, buf, &n), 0);
	CHECK_INT(n, 6);
	CHECK(memcmp(buf, "foobar", 6) == 0);
	CHECK(buf[6] == 0xaa);
	n = 0;
	CHECK_INT(gh_b64url_decode("", 0, buf, &n), 0);
	CHECK_INT(n, 0);
}

TEST(b64url_round_trip_all_lengths)
{
	unsigned char in[64], out[64];
	char enc[128];
	for (size_t len = 0; len <= 64; len++) {
		for (int pattern = 0; pattern < 3; pattern++) {
			for (size_t i = 0; i < len; i++)
				in[i] = pattern == 0 ? (unsigned char)(i * 37 + len) :
					pattern == 1 ? 0xff : 0x00;
			if (pattern == 0 && len > 0)
				CHECK_INT(gh_random(in, len), 0);
			memset(enc, 'X', sizeof enc);
			gh_b64url_encode(in, len, enc);
			size_t el = gh_b64url_encoded_len(len);
			CHECK_INT(strlen(enc), el);
			CHECK_INT(el % 4 == 1, 0);
			CHECK(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					  "0123456789-_") == el);
			size_t n = len; /* exactly enough room */
			CHECK_INT(gh_b64url_decode(enc, el, out, &n), 0);
			CHECK_INT(n, len);
			CHECK(memcmp(in, out, len) == 0);
		}
	}
}

/* ---- UUIDs ---- */

static int cmp_uuid(const void *a, const void *b)
{
	return strcmp(a, b);
}

TEST(uuid4_format)
{
	for (int i = 0; i < 200; i++) {
		char u[37];
		memset(u, 'Z', sizeof u);
		CHECK_INT(gh_uuid4(u), 0);
		CHECK_INT(strlen(u), 36);
		CHECK(gh_is_uuid(u, 36));
		CHECK(u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-');
		for (int k = 0; k < 36; k++)
			if (k != 8 && k != 13 && k != 18 && k != 23)
				CHECK(strchr("0123456789abcdef", u[k]) && u[k]);
		CHECK(u[14] == '4');                   /* version 4 */
		CHECK(u[19] && strchr("89ab", u[19])); /* RFC 4122 variant */
	}
}

TEST(uuid4_unique)
{
	enum { N = 5000 };
	char (*u)[37] = calloc(N, sizeof *u);
	CHECK(u != NULL);
	if (!u)
		return;
	for (int i = 0; i < N; i++)
		CHECK_INT(gh_uuid4(u[i]), 0);
	qsort(u, N, sizeof *u, cmp_uuid);
	int dups = 0;
	for (int i = 1; i < N; i++)
		if (strcmp(u[i - 1], u[i]) == 0)
			dups++;
	CHECK_INT(dups, 0);
	free(u);
}

TEST(is_uuid)
{
	const char *ok = "123e4567-e89b-12d3-a456-426614174000";
	CHECK(gh_is_uuid(ok, strlen(ok)));
	/* Any version is accepted, but only lowercase hex. */
	CHECK(gh_is_uuid("00000000-0000-0000-0000-000000000000", 36));
	CHECK(!gh_is_uuid("123E4567-E89B-12D3-A456-426614174000", 36));
	CHECK(!gh_is_uuid("123e4567-e89b-12d3-a456-42661417400A", 36));
	CHECK(!gh_is_uuid("123e4567-e89b-12d3-a456-42661417400g", 36));
	/* Length is the caller's: a prefix or a longer buffer is not a UUID. */
	CHECK(!gh_is_uuid(ok, 35));
	CHECK(!gh_is_uuid("123e4567-e89b-12d3-a456-4266141740001", 37));
	CHECK(!gh_is_uuid("", 0));
	/* Hyphens exactly at 8, 13, 18, 23. */
	CHECK(!gh_is_uuid("123e4567e-89b-12d3-a456-426614174000", 36));
	CHECK(!gh_is_uuid("123e4567-e89b-12d3-a456_426614174000", 36));
	CHECK(!gh_is_uuid("123e456789ab12d3a4564266141740001234", 36));
	CHECK(!gh_is_uuid("{23e4567-e89b-12d3-a456-426614174000", 36));
	/* An embedded NUL inside the length. */
	CHECK(!gh_is_uuid("123e4567-e89b-12d3-a456-4266141740\0" "0", 36));
}

/* ---- UTF-8 ---- */

#define U8(lit) gh_utf8_valid((lit), sizeof(lit) - 1)

TEST(utf8_valid_text)
{
	CHECK(gh_utf8_valid("", 0));
	CHECK(U8("plain ascii ~\x7f"));
	CHECK(U8("h\xc3\xa9llo"));              /* U+00E9 */
	CHECK(U8("\xc2\x80"));                  /* U+0080, smallest 2-byte */
	CHECK(U8("\xdf\xbf"));                  /* U+07FF */
	CHECK(U8("\xe0\xa0\x80"));              /* U+0800, smallest 3-byte */
	CHECK(U8("\xe2\x82\xac"));              /* euro sign */
	CHECK(U8("\xed\x9f\xbf"));              /* U+D7FF, just below surrogates */
	CHECK(U8("\xee\x80\x80"));              /* U+E000, just above */
	CHECK(U8("\xef\xbf\xbf"));              /* U+FFFF */
	CHECK(U8("\xf0\x90\x80\x80"));          /* U+10000, smallest 4-byte */
	CHECK(U8("\xf0\x9f\x98\x80"));          /* emoji */
	CHECK(U8("\xf4\x8f\xbf\xbf"));          /* U+10FFFF, the last code point */
	/* Only the given length is looked at. */
	CHECK(gh_utf8_valid("ab\xff", 2));
}

TEST(utf8_rejects_overlong)
{
	CHECK(!U8("\xc0\xaf"));                 /* '/' in 2 bytes */
	CHECK(!U8("\xc0\x80"));                 /* NUL in 2 bytes (modified UTF-8) */
	CHECK(!U8("\xc1\xbf"));
	CHECK(!U8("\xe0\x80\xaf"));             /* '/' in 3 bytes */
	CHECK(!U8("\xe0\x9f\xbf"));             /* U+07FF in 3 bytes */
	CHECK(!U8("\xf0\x80\x80\xaf"));         /* '/' in 4 bytes */
	CHECK(!U8("\xf0\x8f\xbf\xbf"));         /* U+FFFF in 4 bytes */
}

TEST(utf8_rejects_surrogates)
{
	CHECK(!U8("\xed\xa0\x80"));             /* U+D800 */
	CHECK(!U8("\xed\xad\xbf"));             /* U+DB7F */
	CHECK(!U8("\xed\xb0\x80"));             /* U+DC00 */
	CHECK(!U8("\xed\xbf\xbf"));             /* U+DFFF */
	CHECK(!U8("\xed\xa0\xbd\xed\xb8\x80")); /* a CESU-8 surrogate pair */
}

TEST(utf8_rejects_nul_and_truncation)
{
	CHECK(!gh_utf8_valid("a\0b", 3));
	CHECK(!gh_utf8_valid("\0", 1));
	CHECK(!U8("\xc3"));                     /* lead byte alone */
	CHECK(!U8("abc\xc3"));                  /* cut at the end */
	CHECK(!U8("\xe2\x82"));
	CHECK(!U8("\xf0\x9f\x98"));
	CHECK(!gh_utf8_valid("\xf0\x9f\x98\x80", 3));
	CHECK(!U8("\x80"));                     /* continuation byte alone */
	CHECK(!U8("a\xbf" "b"));
	CHECK(!U8("\xe2\x28\xa1"));             /* bad continuation */
	CHECK(!U8("\xc3\x28"));
	CHECK(!U8("\xf0\x9f\x98\x28"));
}

TEST(utf8_rejects_beyond_4_bytes_and_max)
{
	CHECK(!U8("\xf4\x90\x80\x80"));         /* U+110000 */
	CHECK(!U8("\xf5\x80\x80\x80"));
	CHECK(!U8("\xf7\xbf\xbf\xbf"));
	CHECK(!U8("\xf8\x88\x80\x80\x80"));     /* old 5-byte form */
	CHECK(!U8("\xfc\x84\x80\x80\x80\x80")); /* old 6-byte form */
	CHECK(!U8("\xfe"));
	CHECK(!U8("\xff"));
}

/* ---- durations and sizes ---- */

TEST(parse_duration)
{
	int64_t v = -1;
	CHECK_INT(gh_parse_duration("900", &v), 0);
	CHECK_INT(v, 900);
	CHECK_INT(gh_parse_duration("0", &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(gh_parse_duration("30s", &v), 0);
	CHECK_INT(v, 30);
	CHECK_INT(gh_parse_duration("15m", &v), 0);
	CHECK_INT(v, 900);
	CHECK_INT(gh_parse_duration("12h", &v), 0);
	CHECK_INT(v, 43200);
	CHECK_INT(gh_parse_duration("7d", &v), 0);
	CHECK_INT(v, 604800);
	CHECK_INT(gh_parse_duration("9223372036854775807", &v), 0);
	CHECK_INT(v, INT64_MAX);
	CHECK_INT(gh_parse_duration("106751991167300d", &v), 0);
	CHECK_INT(v, 106751991167300LL * 86400);
}

TEST(parse_when)
{
	int64_t v = -1;
	CHECK_INT(gh_parse_when("2027-01-31T00:00:00Z", &v), 0);
	CHECK_INT(v, 1801353600);
	CHECK_INT(gh_parse_when("2027-01-31T01:00:00+01:00", &v), 0);
	CHECK_INT(v, 1801353600);
	CHECK_INT(gh_parse_when("2027-01-31T00:00:00.250z", &v), 0);
	CHECK_INT(v, 1801353600);
	CHECK_INT(gh_parse_when("1801267200", &v), 0);
	CHECK_INT(v, 1801267200);
	CHECK_INT(gh_parse_when("0", &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(gh_parse_when("253402300799", &v), 0);
	CHECK_INT(v, 253402300799LL);
	static const char *const bad[] = {
		"", "253402300800", "9999999999999", "-1", "1.5", "12 ", " 12", "7d", "tomorrow",
		"2027-01-31", "2027-01-31T00:00:00", "2027-02-31T00:00:00Z", "2027-13-01T00:00:00Z",
		"2027-01-31T24:00:00Z", "2027-01-31T00:00:00+25:00", "2027-01-31T00:00:00Zjunk",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		v = 42;
		CHECK_INT(gh_parse_when(bad[i], &v), GH_EINVAL);
	}
}

TEST(parse_duration_rejects)
{
	static const char *const bad[] = {
		"", "-1", "-0", "+5", " 5", "5 ", "s", "m", "5x", "5S", "5M", "5ms",
		"5sec", "1.5h", "0x10", "5 m", "5m5", "1e3", "abc",
		/* overflow, in the number and by the unit */
		"9223372036854775808", "99999999999999999999", "106751991167301d",
		"2562047788015216h", "153722867280912931m",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		int64_t v = 12345;
		int rc = gh_parse_duration(bad[i], &v);
		if (rc != GH_EINVAL)
			fprintf(stderr, "  duration \"%s\" accepted as %lld\n", bad[i], (long long)v);
		CHECK_INT(rc, GH_EINVAL);
		CHECK_INT(v, 12345); /* untouched on failure */
	}
	int64_t v;
	CHECK_INT(gh_parse_duration(NULL, &v), GH_EINVAL);
}

TEST(parse_duration_rejects_leading_whitespace)
{
	/*
	 * A space in front is refused; other whitespace (strtoll skips it) must
	 * be too, or GATEHOUSE_ACCESS_TOKEN_TTL=$'\t900' means 900.
	 */
	static const char *const bad[] = { "\t5", "\n5", "\r5", "\v5", "\f5", "\t-5" };
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		int64_t v = 12345;
		if (gh_parse_duration(bad[i], &v) != GH_EINVAL)
			fprintf(stderr, "  duration \"\\x%02x%s\" accepted as %lld\n",
				(unsigned)bad[i][0], bad[i] + 1, (long long)v);
		CHECK_INT(gh_parse_duration(bad[i], &v), GH_EINVAL);
		CHECK_INT(gh_parse_size(bad[i], &v), GH_EINVAL);
	}
}

TEST(parse_size)
{
	int64_t v = -1;
	CHECK_INT(gh_parse_size("65536", &v), 0);
	CHECK_INT(v, 65536);
	CHECK_INT(gh_parse_size("10B", &v), 0);
	CHECK_INT(v, 10);
	CHECK_INT(gh_parse_size("64KiB", &v), 0);
	CHECK_INT(v, 65536);
	CHECK_INT(gh_parse_size("64K", &v), 0);
	CHECK_INT(v, 65536);
	CHECK_INT(gh_parse_size("16MiB", &v), 0);
	CHECK_INT(v, 16777216);
	CHECK_INT(gh_parse_size("1M", &v), 0);
	CHECK_INT(v, 1048576);
	CHECK_INT(gh_parse_size("2GiB", &v), 0);
	CHECK_INT(v, 2147483648LL);
	CHECK_INT(gh_parse_size("1G", &v), 0);
	CHECK_INT(v, 1073741824);
	CHECK_INT(gh_parse_size("0", &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(gh_parse_size("8589934591GiB", &v), 0);
	CHECK_INT(v, 8589934591LL * 1073741824LL);
}

TEST(parse_size_rejects)
{
	static const char *const bad[] = {
		"", "-1", "+1", " 1", "1 ", "KiB", "1k", "1kib", "1KB", "1MB", "1Ki",
		"1 KiB", "1.5MiB", "1T", "1TiB", "0x400", "1s", "abc",
		"9223372036854775808", "8589934592GiB", "9007199254740992K",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		int64_t v = 777;
		int rc = gh_parse_size(bad[i], &v);
		if (rc != GH_EINVAL)
			fprintf(stderr, "  size \"%s\" accepted as %lld\n", bad[i], (long long)v);
		CHECK_INT(rc, GH_EINVAL);
		CHECK_INT(v, 777);
	}
}

/* ---- strbuf ---- */

TEST(strbuf_basics)
{
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "abc");
	CHECK_INT(sb.len, 3);
	CHECK_STR(sb.buf, "abc");
	sb_add(&sb, "d\0e", 3); /* binary-safe, still NUL-terminated */
	CHECK_INT(sb.len, 6);
	CHECK(memcmp(sb.buf, "abcd\0e", 7) == 0);
	sb_reset(&sb);
	CHECK_INT(sb.len, 0);
	CHECK_STR(sb.buf, "");
	sb_addf(&sb, "%d-%s", 42, "x");
	CHECK_STR(sb.buf, "42-x");
	CHECK_INT(sb.len, 4);

	/* A formatted piece longer than any fixed scratch buffer. */
	char big[1000];
	memset(big, 'q', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	sb_addf(&sb, "[%s]", big);
	CHECK_INT(sb.len, 4 + 2 + 999);
	CHECK_INT(strlen(sb.buf), sb.len);
	CHECK(sb.buf[4] == '[' && sb.buf[sb.len - 1] == ']');
	CHECK(sb.cap > sb.len);

	/* Many small appends grow it correctly. */
	sb_reset(&sb);
	for (int i = 0; i < 10000; i++)
		sb_add(&sb, &"0123456789"[i % 10], 1);
	CHECK_INT(sb.len, 10000);
	CHECK_INT(strlen(sb.buf), 10000);
	CHECK(sb.buf[9999] == '9' && sb.buf[1234] == '4');

	size_t len = 0;
	char *p = sb_detach(&sb, &len);
	CHECK_INT(len, 10000);
	CHECK(sb.buf == NULL && sb.len == 0 && sb.cap == 0);
	free(p);
	sb_release(&sb);
}

TEST(strbuf_detach_empty)
{
	struct strbuf sb = STRBUF_INIT;
	size_t len = 99;
	char *p = sb_detach(&sb, &len);
	CHECK(p != NULL);
	CHECK_STR(p, "");
	CHECK_INT(len, 0);
	free(p);
	/* Release of a never-used and of a detached buffer is harmless. */
	sb_release(&sb);
	sb_release(&sb);
}

static char *json_str(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	sb_add_json_str(&sb, s);
	return sb_detach(&sb, NULL);
}

/*
 * check(text, n) on every one-byte change of doc (each byte replaced by
 * each of a set of JSON-significant and invalid bytes, or removed):
 * false when check failed once; *taken counts the texts it said it took.
 */
static bool each_one_byte_change(const char *doc, bool (*check)(const char *, size_t, bool *),
				 int *taken)
{
	static const char subst[] = "{}[]\":,\\-.0159eEtfnu \x01\x7f\x80\xc3\xff";
	size_t n = strlen(doc);
	char buf[128];
	bool ok = n < sizeof buf;
	*taken = 0;
	for (size_t at = 0; ok && at < n; at++) {
		bool took;
		for (size_t k = 0; k < sizeof subst - 1; k++) {
			memcpy(buf, doc, n);
			buf[at] = subst[k];
			ok = ok && check(buf, n, &took);
			*taken += took;
		}
		memcpy(buf, doc, at);
		memcpy(buf + at, doc + at + 1, n - at - 1);
		ok = ok && check(buf, n - 1, &took);
	}
	return ok;
}

/* jansson's verdict on a stored document (storage.c's check). */
static bool jansson_accepts(const char *p, size_t n)
{
	json_t *j = json_loadb(p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	json_decref(j);
	return j != NULL;
}

/* json_check_plain(p) implies jansson's acceptance; *passed says whether it passed. */
static bool plain_implies_jansson(const char *p, size_t n, bool *passed)
{
	*passed = json_check_plain(p, n);
	return !*passed || jansson_accepts(p, n);
}

/*
 * json_check_plain: plain documents pass without jansson, everything it
 * does not decide is declined, and nothing it passes is refused by jansson
 * (here over every one-byte change of a document; fuzz_jsoncheck too).
 */
TEST(json_check_plain_agrees_with_jansson)
{
	static const char *const plain[] = {
		"{\"level\":12,\"hp\":87.5,\"inventory\":[{\"id\":\"sword\",\"n\":1}],"
		"\"flags\":{\"a\":true,\"b\":false},\"pet\":null}",
		"[]", "{}", "\"s\"", "0", "-0", "-12", "1.25", "-0.000001", "true", "null",
		" \t\r\n{ \"k\" : [ 1 , 2 ] } \n", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"",
		"\"a\\nb\\t\\\"\\\\\\/\\b\\f\\r\"", "{\"\":1}", "999999999999999999",
		"\"\x7f\"", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	};
	static const char *const declined[] = {
		"", " ", "{", "[1,]", "[1 2]", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "{\"a\":1,\"a\":2}",
		"\"\\u0041\"", "\"\\ud800\"", "\"\\x\"", "1e5", "1E-5", "0.5e1", "1234567890123456789",
		"01", "-", "1.", ".5", "+1", "{\"a\":1}x", "1 2", "\"\x01\"", "\"\xc3\"",
		"\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\"\xf4\x90\x80\x80\"", "nul", "tru", "True",
		"\xef\xbb\xbf{}", "{\"a\\/\":1,\"a/\":2}", "{\"a\\n\":1}", "\"unterminated",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	};
	for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
		CHECK(json_check_plain(plain[i], strlen(plain[i])));
		CHECK(jansson_accepts(plain[i], strlen(plain[i])));
	}
	for (size_t i = 0; i < sizeof declined / sizeof *declined; i++)
		CHECK(!json_check_plain(declined[i], strlen(declined[i])));
	/* "\0" inside a string, and text cut short by an embedded NUL. */
	CHECK(!json_check_plain("\"a\0b\"", 5));
	CHECK(!json_check_plain("[1]\0", 4));
	/* 64 members pass; 65 are left to jansson. */
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "{");
	for (int i = 0; i < 65; i++) {
		if (i == 64) {
			CHECK(json_check_plain(sb.buf, sb.len - 1) == false); /* "...," */
			char *t = xstrdup(sb.buf);
			t[sb.len - 1] = '}';
			CHECK(json_check_plain(t, sb.len));
			free(t);
		}
		sb_addf(&sb, "\"m%d\":%d,", i, i);
	}
	sb.buf[sb.len - 1] = '}';
	CHECK(!json_check_plain(sb.buf, sb.len));
	CHECK(jansson_accepts(sb.buf, sb.len));
	sb_release(&sb);
	/* Every one-byte change of a document: whatever passes, jansson takes. */
	int passed;
	CHECK(each_one_byte_change("{\"a\":[1,-2.5,\"x\\n\xc3\xa9\"],\"bb\":{\"c\":true,"
				   "\"d\":null},\"e\":\"\"}", plain_implies_jansson, &passed));
	CHECK(passed > 50);
}

/* json_load_flat(p) when it takes p: jansson builds the same members in the same order. */
static bool flat_matches_jansson(const char *p, size_t n, bool *taken)
{
	json_t *flat = json_load_flat(p, n);
	*taken = flat != NULL;
	if (!flat)
		return true;
	json_t *ref = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
	char *a = json_dumps(flat, JSON_COMPACT), *b = ref ? json_dumps(ref, JSON_COMPACT) : NULL;
	bool same = ref && json_equal(flat, ref) && a && b && !strcmp(a, b);
	free(a);
	free(b);
	json_decref(flat);
	json_decref(ref);
	return same;
}

/*
 * json_load_flat: the bodies and token parts it exists for are taken, and
 * whatever it takes is what jansson builds; the rest is declined (NULL).
 */
TEST(json_load_flat_builds_what_jansson_builds)
{
	static const char *const taken[] = {
		"{}", " { } ", "{\"refresh_token\":\"eyJhbGciOiJIUzI1NiJ9.e30.c2ln\"}",
		"{\"user_id\":\"0b0e7c4e-7f43-4c39-9d2a-3f3d4f0a1b2c\",\"guest_secret\":\"x\"}",
		"{\"sub\":\"u\",\"exp\":1800000900,\"iss\":\"https://id.example.com\",\"nbf\":-5,"
		"\"sid\":0,\"ok\":true,\"no\":false,\"nil\":null}",
		"{\"a\":\"l1\\nl2\\t\\\"q\\\" \\\\ \\/ \\b\\f\\r\"}", "{\"\":\"\"}",
		"{\"caf\xc3\xa9\":\"\xf0\x9f\x98\x80\"}", "{\"n\":-0,\"m\":999999999999999999}",
	};
	static const char *const declined[] = {
		"", "[]", "\"s\"", "1", "{", "{\"a\":1,}", "{\"a\":1,\"a\":2}", "{\"a\":[1]}",
		"{\"a\":{}}", "{\"a\":1.5}", "{\"a\":1e3}", "{\"a\":1234567890123456789}",
		"{\"a\":\"\\u0041\"}", "{\"a\\n\":1}", "{\"a\":\"\x01\"}", "{\"a\":\"\xc3\"}",
		"{\"a\":01}", "{\"a\":tru}", "{\"a\" 1}", "{a:1}", "{\"a\":1} x",
	};
	bool took;
	for (size_t i = 0; i < sizeof taken / sizeof *taken; i++) {
		CHECK(flat_matches_jansson(taken[i], strlen(taken[i]), &took));
		CHECK(took);
	}
	for (size_t i = 0; i < sizeof declined / sizeof *declined; i++) {
		json_t *j = json_load_flat(declined[i], strlen(declined[i]));
		CHECK(j == NULL);
		json_decref(j);
	}
	/* Every one-byte change of a claims object: whatever is taken, jansson builds alike. */
	int count;
	CHECK(each_one_byte_change("{\"sub\":\"ab\xc3\xa9\",\"exp\":123,\"t\":true,"
				   "\"s\":\"x\\ny\",\"n\":null}", flat_matches_jansson, &count));
	CHECK(count > 50);
}

TEST(json_str_escaping)
{
	char *p;
	p = json_str("");
	CHECK_STR(p, "\"\"");
	free(p);
	p = json_str("plain");
	CHECK_STR(p, "\"plain\"");
	free(p);
	p = json_str("a\"b\\c");
	CHECK_STR(p, "\"a\\\"b\\\\c\"");
	free(p);
	p = json_str("l1\nl2\r\t\b\x01\x1f");
	CHECK_STR(p, "\"l1\\u000al2\\u000d\\u0009\\u0008\\u0001\\u001f\"");
	free(p);
	p = json_str("caf\xc3\xa9 \xf0\x9f\x98\x80 / \x7f");
	CHECK_STR(p, "\"caf\xc3\xa9 \xf0\x9f\x98\x80 / \x7f\"");
	free(p);

	/* Appends after existing content. */
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "{\"k\":");
	sb_add_json_str(&sb, "v\"");
	sb_adds(&sb, "}");
	CHECK_STR(sb.buf, "{\"k\":\"v\\\"\"}");
	CHECK_INT(sb.len, strlen(sb.buf));
	sb_release(&sb);
}

TEST(json_str_parses_back)
{
	/* Every byte 1..127 plus multi-byte UTF-8 must survive a JSON parser. */
	char in[200];
	size_t n = 0;
	for (int c = 1; c < 128; c++)
		in[n++] = (char)c;
	const char *extra = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	memcpy(in + n, extra, strlen(extra));
	n += strlen(extra);
	in[n] = '\0';
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "[");
	sb_add_json_str(&sb, in);
	sb_adds(&sb, "]");
	json_error_t jerr;
	json_t *j = json_loadb(sb.buf, sb.len, 0, &jerr);
	CHECK(j != NULL);
	if (j) {
		json_t *s = json_array_get(j, 0);
		CHECK(json_is_string(s));
		CHECK_INT(json_string_length(s), n);
		CHECK(json_string_value(s) && memcmp(json_string_value(s), in, n) == 0);
		json_decref(j);
	} else {
		fprintf(stderr, "  json error: %s\n", jerr.text);
	}
	sb_release(&sb);
}

TEST(strerror_names)
{
	CHECK_STR(gh_strerror(GH_OK), "ok");
	CHECK_STR(gh_strerror(GH_EAUTH), "auth");
	CHECK_STR(gh_strerror(GH_EUNAVAIL), "unavailable");
	CHECK_STR(gh_strerror(GH_EBANNED), "banned");
	CHECK_STR(gh_strerror(-999), "unknown");
}

TEST(hex_and_time)
{
	char out[9];
	gh_hex("\x00\x9f\xab\xff", 4, out);
	CHECK_STR(out, "009fabff");
	char t[32];
	gh_format_time(0, t, sizeof t);
	CHECK_STR(t, "1970-01-01T00:00:00Z");
	gh_format_time(1795526480, t, sizeof t);
	CHECK_STR(t, "2026-11-24T13:21:20Z");
}

int main(void)
{
	RUN(b64url_known_vectors);
	RUN(b64url_rejects_non_rfc7515_input);
	RUN(b64url_rejects_non_canonical_trailing_bits);
	RUN(b64url_respects_capacity);
	RUN(b64url_round_trip_all_lengths);
	RUN(uuid4_format);
	RUN(uuid4_unique);
	RUN(is_uuid);
	RUN(utf8_valid_text);
	RUN(utf8_rejects_overlong);
	RUN(utf8_rejects_surrogates);
	RUN(utf8_rejects_nul_and_truncation);
	RUN(utf8_rejects_beyond_4_bytes_and_max);
	RUN(parse_duration);
	RUN(parse_duration_rejects);
	RUN(parse_when);
	RUN(parse_duration_rejects_leading_whitespace);
	RUN(parse_size);
	RUN(parse_size_rejects);
	RUN(strbuf_basics);
	RUN(strbuf_detach_empty);
	RUN(json_check_plain_agrees_with_jansson);
	RUN(json_load_flat_builds_what_jansson_builds);
	RUN(json_str_escaping);
	RUN(json_str_parses_back);
	RUN(strerror_names);
	RUN(hex_and_time);
	return REPORT();
}
