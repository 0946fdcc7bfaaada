/*
 * util.c - allocation, clocks, randomness, encodings and a byte buffer shared
 * by every module. Nothing here knows about HTTP, tokens or the store.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <pthread.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "gatehouse/log.h"
#include "gatehouse/util.h"
#include "gatehouse/banned.h"

const char *gh_strerror(int err)
{
	switch (err) {
	case GH_OK: return "ok";
	case GH_EINVAL: return "invalid";
	case GH_EAUTH: return "auth";
	case GH_EFORBIDDEN: return "forbidden";
	case GH_ENOTFOUND: return "not_found";
	case GH_ECONFLICT: return "conflict";
	case GH_EPRECOND: return "precondition";
	case GH_ETOOBIG: return "too_big";
	case GH_EUNAVAIL: return "unavailable";
	case GH_EINTERNAL: return "internal";
	case GH_ERATE: return "rate_limited";
	case GH_EBANNED: return "banned";
	}
	return "unknown";
}

static void __attribute__((noreturn)) oom(size_t n)
{
	log_error("out of memory allocating %zu bytes", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		oom(nmemb * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	char *p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

int64_t gh_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t gh_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t gh_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void gh_format_time(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm)) {
		snprintf(buf, len, "%lld", (long long)t);
		return;
	}
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int gh_random(void *buf, size_t len)
{
	/* RAND_bytes returns 1 on success, 0 or -1 otherwise: test != 1. */
	if (len > (size_t)0x7fffffff || RAND_bytes(buf, (int)len) != 1) {
		memset(buf, 0, len);
		log_error("random number generator failed");
		return GH_EUNAVAIL;
	}
	return 0;
}

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!sha256_md) {
		log_error("cannot fetch SHA256 from OpenSSL");
		abort();
	}
}

const EVP_MD *gh_sha256_md(void)
{
	pthread_once(&sha256_once, fetch_sha256);
	return sha256_md;
}

void gh_sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 0;
	if (!EVP_Digest(data, len, out, &n, gh_sha256_md(), NULL) || n != 32) {
		log_error("SHA-256 failed");
		abort();
	}
}

void gh_hex(const void *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = in;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

int gh_uuid4(char out[37])
{
	unsigned char b[16];
	char hex[33];
	if (gh_random(b, sizeof b))
		return GH_EUNAVAIL;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	gh_hex(b, sizeof b, hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
		 hex + 16, hex + 20);
	return 0;
}

bool gh_is_uuid(const char *s, size_t len)
{
	if (len != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	return true;
}

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t gh_b64url_encoded_len(size_t n)
{
	return (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0);
}

void gh_b64url_encode(const void *in, size_t n, char *out)
{
	const unsigned char *p = in;
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64url_alphabet[v >> 18];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = b64url_alphabet[v >> 18];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64url_alphabet[v >> 18];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int gh_b64url_decode(const char *in, size_t n, unsigned char *out, size_t *out_len)
{
	size_t cap = *out_len, o = 0;
	if (n % 4 == 1)
		return GH_EINVAL;
	size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (need > cap)
		return GH_EINVAL;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value((unsigned char)in[i]);
		if (v < 0)
			return GH_EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be zero: one encoding per byte string. */
	if (acc != 0)
		return GH_EINVAL;
	*out_len = o;
	return 0;
}

char **gh_list_split(const char *s, size_t *n)
{
	size_t count = 0, cap = 4;
	char **items = xmalloc(cap * sizeof *items);
	while (s && *s) {
		size_t len = strcspn(s, ",");
		const char *a = s, *b = s + len;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (b > a) {
			if (count + 1 == cap)
				items = xrealloc(items, (cap *= 2) * sizeof *items);
			items[count++] = xstrndup(a, (size_t)(b - a));
		}
		s += len + (s[len] == ',');
	}
	items[count] = NULL;
	if (n)
		*n = count;
	return items;
}

void gh_list_free(char **items)
{
	if (!items)
		return;
	for (char **p = items; *p; p++)
		free(*p);
	free(items);
}

int gh_parse_ip(const char *s, unsigned char out[16])
{
	struct in_addr a4;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return 0;
	}
	return inet_pton(AF_INET6, s, out) == 1 ? 0 : GH_EINVAL;
}

int gh_parse_cidr(const char *s, unsigned char addr[16], int *bits)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof buf)
		return GH_EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (gh_parse_ip(buf, addr))
		return GH_EINVAL;
	bool v4 = strchr(buf, ':') == NULL;
	int max = v4 ? 32 : 128;
	int b = max;
	if (slash) {
		const char *p = slash + 1;
		if (!*p || strlen(p) > 3)
			return GH_EINVAL;
		b = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return GH_EINVAL;
			b = b * 10 + (*p - '0');
		}
		if (b > max)
			return GH_EINVAL;
	}
	*bits = v4 ? b + 96 : b;
	return 0;
}

bool gh_addr_in_cidr(const unsigned char addr[16], const unsigned char net[16], int bits)
{
	int full = bits / 8, rest = bits % 8;
	if (memcmp(addr, net, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char m = (unsigned char)(0xff << (8 - rest));
	return (addr[full] & m) == (net[full] & m);
}

bool gh_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return false; /* overlong or out of range */
		if (cp >= 0xd800 && cp <= 0xdfff)
			return false; /* surrogates are not characters */
		i += len;
	}
	return true;
}

void sb_grow(struct strbuf *sb, size_t extra)
{
	if (sb->len + extra + 1 <= sb->cap)
		return;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < sb->len + extra + 1)
		cap *= 2;
	sb->buf = xrealloc(sb->buf, cap);
	sb->cap = cap;
}

void sb_add(struct strbuf *sb, const void *data, size_t n)
{
	sb_grow(sb, n);
	memcpy(sb->buf + sb->len, data, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void sb_adds(struct strbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

void sb_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[256];
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		sb_add(sb, tmp, (size_t)n);
		return;
	}
	sb_grow(sb, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void sb_add_json_str(struct strbuf *sb, const char *s)
{
	static const char digits[] = "0123456789abcdef";
	sb_grow(sb, strlen(s) + 2);
	sb->buf[sb->len++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			sb_add(sb, esc, 2);
		} else if (c < 0x20) {
			char esc[6] = { '\\', 'u', '0', '0', digits[c >> 4], digits[c & 15] };
			sb_add(sb, esc, 6);
		} else {
			sb_grow(sb, 1);
			sb->buf[sb->len++] = (char)c;
		}
	}
	sb_grow(sb, 1);
	sb->buf[sb->len++] = '"';
	sb->buf[sb->len] = '\0';
}

void sb_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

char *sb_detach(struct strbuf *sb, size_t *len)
{
	if (!sb->buf)
		sb_grow(sb, 0), sb->buf[0] = '\0';
	char *p = sb->buf;
	if (len)
		*len = sb->len;
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	return p;
}

void sb_release(struct strbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

static int parse_scaled(const char *s, int64_t *out, const char *const *units,
			const int64_t *scales, size_t nunits)
{
	/* Digits first: strtoll alone would skip white space and take a sign. */
	if (!s || *s < '0' || *s > '9')
		return GH_EINVAL;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return GH_EINVAL;
	int64_t scale = 1;
	if (*end) {
		size_t i;
		for (i = 0; i < nunits; i++)
			if (strcmp(end, units[i]) == 0)
				break;
		if (i == nunits)
			return GH_EINVAL;
		scale = scales[i];
	}
	if (v > INT64_MAX / scale)
		return GH_EINVAL;
	*out = (int64_t)v * scale;
	return 0;
}

int gh_parse_duration(const char *s, int64_t *out)
{
	static const char *const units[] = { "s", "m", "h", "d" };
	static const int64_t scales[] = { 1, 60, 3600, 86400 };
	return parse_scaled(s, out, units, scales, GH_ARRAY_SIZE(units));
}

int gh_parse_size(const char *s, int64_t *out)
{
	static const char *const units[] = { "B", "K", "KiB", "M", "MiB", "G", "GiB" };
	static const int64_t scales[] = { 1, 1024, 1024, 1048576, 1048576,
					  1073741824, 1073741824 };
	return parse_scaled(s, out, units, scales, GH_ARRAY_SIZE(units));
}
