/*
 * util.h - small pieces every module uses: allocation that never returns
 * NULL, the project's error codes, clocks, base64url, hex, UUIDs, UTF-8 and
 * JSON string helpers, and a growable byte buffer.
 */
#ifndef GATEHOUSE_UTIL_H
#define GATEHOUSE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

/*
 * The one set of error codes. Actions return 0 or one of these; exactly one
 * function (http_status_for, http.c) turns them into an HTTP status.
 */
enum gh_err {
	GH_OK = 0,
	GH_EINVAL = -1,      /* the client sent something malformed */
	GH_EAUTH = -2,       /* a credential did not verify */
	GH_EFORBIDDEN = -3,  /* authenticated, but not allowed */
	GH_ENOTFOUND = -4,   /* no such thing */
	GH_ECONFLICT = -5,   /* state conflict (already linked, ...) */
	GH_EPRECOND = -6,    /* a precondition (If-Match, ...) failed */
	GH_ETOOBIG = -7,     /* a size or count limit was exceeded */
	GH_EUNAVAIL = -8,    /* temporarily unable: store full/busy, no entropy */
	GH_EINTERNAL = -9,   /* a bug or an unexpected library failure */
	GH_ERATE = -10,      /* rate limited */
	GH_EBANNED = -11,    /* the user is banned */
};

/* Short lowercase name of an error code, for logs ("auth", "unavailable"). */
const char *gh_strerror(int err);

/*
 * Allocation. These log and abort on out-of-memory, so callers never check
 * for NULL (Redis zmalloc, git xmalloc). Free with free().
 */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Formats into a new string; aborts on OOM. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wall clock in whole seconds (what JWT claims use). */
int64_t gh_now(void);
/* Wall clock in milliseconds. */
int64_t gh_now_ms(void);
/* Monotonic clock in nanoseconds, for durations. */
uint64_t gh_mono_ns(void);
/* Formats unix seconds as RFC 3339 UTC ("2026-11-24T13:21:20Z"); buf >= 21. */
void gh_format_time(int64_t t, char *buf, size_t len);

/*
 * Cryptographically secure random bytes. Returns 0, or GH_EUNAVAIL when the
 * generator fails (never hands out predictable bytes).
 */
int gh_random(void *buf, size_t len);

/* SHA-256, fetched once (an implicit fetch per call costs more than the hash). */
const EVP_MD *gh_sha256_md(void);
void gh_sha256(const void *data, size_t len, unsigned char out[32]);

/* Lowercase hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void gh_hex(const void *in, size_t len, char *out);

/* A new lowercase UUIDv4 into out (37 bytes). 0 or GH_EUNAVAIL. */
int gh_uuid4(char out[37]);
/* True when s is a lowercase 8-4-4-4-12 hex UUID (any version). */
bool gh_is_uuid(const char *s, size_t len);

/*
 * base64url without padding (RFC 7515 section 2).
 * gh_b64url_encoded_len: output length for n input bytes (no NUL).
 * gh_b64url_encode: writes the text and a NUL; out must hold len+1 bytes.
 * gh_b64url_decode: strict decode (no padding, no whitespace, canonical
 * trailing bits). Writes at most *out_len bytes; returns 0 or GH_EINVAL.
 */
size_t gh_b64url_encoded_len(size_t n);
void gh_b64url_encode(const void *in, size_t n, char *out);
int gh_b64url_decode(const char *in, size_t n, unsigned char *out,
		     size_t *out_len /* IN: capacity, OUT: bytes written */);

/*
 * Splits a comma-separated list into trimmed, non-empty items: a NULL-
 * terminated array, *n items (may be NULL). Free with gh_list_free.
 */
char **gh_list_split(const char *s, size_t *n /* OUT */);
void gh_list_free(char **items);

/*
 * Network addresses as 16 bytes: IPv6, or IPv4 mapped (::ffff:a.b.c.d).
 * gh_parse_ip: 0 or GH_EINVAL. gh_parse_cidr: "addr" or "addr/bits" (an
 * IPv4 prefix counts within the mapped range). gh_addr_in_cidr: prefix test.
 */
int gh_parse_ip(const char *s, unsigned char out[16]);
int gh_parse_cidr(const char *s, unsigned char addr[16], int *bits /* OUT */);
bool gh_addr_in_cidr(const unsigned char addr[16], const unsigned char net[16], int bits);

/* True when the bytes are valid UTF-8 with no NUL and no surrogates. */
bool gh_utf8_valid(const char *s, size_t n);

/*
 * A growable byte buffer (git strbuf in spirit). buf is always
 * NUL-terminated; len excludes the NUL. Release with sb_release, or take the
 * buffer with sb_detach (caller frees).
 */
struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
};
#define STRBUF_INIT { NULL, 0, 0 }
void sb_grow(struct strbuf *sb, size_t extra);
void sb_add(struct strbuf *sb, const void *data, size_t n);
void sb_adds(struct strbuf *sb, const char *s);
void sb_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
void sb_add_json_str(struct strbuf *sb, const char *s);
void sb_reset(struct strbuf *sb);
char *sb_detach(struct strbuf *sb, size_t *len /* OUT, may be NULL */);
void sb_release(struct strbuf *sb);

/*
 * Parses a duration: digits with an optional unit s, m, h, d (seconds when
 * absent); nothing else, not even white space. 0 or GH_EINVAL.
 */
int gh_parse_duration(const char *s, int64_t *out);
/* Parses a size: an integer with an optional B, KiB, MiB, GiB (or K, M, G). */
int gh_parse_size(const char *s, int64_t *out);

#define GH_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
