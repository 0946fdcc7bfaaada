/*
 * internal.h - what the client library's own files share: allocation,
 * credential encoding and files, response parsing and refresh scheduling.
 * Not installed; nothing here is exported from the shared library.
 */
#ifndef GATEHOUSE_CLIENT_INTERNAL_H
#define GATEHOUSE_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gatehouse/client.h"

/* Bounds on what the server may send us. */
#define GHI_MAX_USER_ID 64
#define GHI_MAX_SECRET 128
#define GHI_MAX_TOKEN 8192
#define GHI_MAX_EXPIRES_IN (10LL * 365 * 86400)
#define GHI_MAX_CRED_FILE 4096
#define GHI_MAX_MESSAGE 256

/* Allocation that aborts on out-of-memory (as the daemon's xmalloc). */
void *ghi_xmalloc(size_t n);
void *ghi_xcalloc(size_t n, size_t size);
void *ghi_xrealloc(void *p, size_t n);
char *ghi_xstrdup(const char *s);
char *ghi_xstrndup(const char *s, size_t n);

/* Saved guest credentials. */
struct ghi_cred {
	char user_id[GHI_MAX_USER_ID + 1];
	char guest_secret[GHI_MAX_SECRET + 1];
};

/* Encodes cred as a small JSON document into a new buffer (caller frees). */
char *ghi_cred_encode(const struct ghi_cred *cred, size_t *out_len /* OUT */);
/* Decodes what ghi_cred_encode wrote; 0, or GH_ERR_STORAGE for anything else. */
int ghi_cred_decode(const char *data, size_t len, struct ghi_cred *out /* OUT */);
/*
 * Writes data to path atomically (temporary file in the same directory,
 * fsync, rename, fsync of the directory) with mode 0600 whatever the umask.
 * 0 or GH_ERR_STORAGE.
 */
int ghi_cred_file_save(const char *path, const char *data, size_t len);
/*
 * Reads path into buf (cap bytes at most). 0, 1 when the file does not
 * exist, GH_ERR_STORAGE when unreadable or larger than cap.
 */
int ghi_cred_file_load(const char *path, char *buf, size_t cap, size_t *out_len /* OUT */);
/* Removes path; 0 also when it did not exist. */
int ghi_cred_file_remove(const char *path);

/* A token reply (login or refresh). Strings are owned: ghi_tokens_release. */
struct ghi_tokens {
	char *user_id;
	char *guest_secret;  /* NULL when absent */
	char *auth_token;
	char *refresh_token;
	long long auth_expires_in;
	long long refresh_expires_in;
};

/*
 * Parses a 200 token reply; 0, or GH_ERR_PROTOCOL with msg set (truncated,
 * not JSON, wrong types, missing fields, out-of-bound values).
 */
int ghi_parse_tokens(const char *body, size_t len, struct ghi_tokens *out /* OUT */,
		     char *msg, size_t msg_cap);
void ghi_tokens_release(struct ghi_tokens *t);

/*
 * The error of a non-2xx reply: a status for the HTTP code and body
 * (banned accounts, 412 and 401 in their several shapes), and a printable
 * message of at most msg_cap-1 bytes taken from the body when it has one.
 */
int ghi_status_for_reply(long http_status, const char *body, size_t len);
void ghi_reply_message(long http_status, const char *body, size_t len, char *msg,
		       size_t msg_cap);

/* "\"12\"" (or W/"12") -> 12; false when not a positive decimal version. */
bool ghi_parse_etag(const char *value, long long *out /* OUT */);
/* The "version" member of a JSON object body (a number), or 0. */
long long ghi_body_version(const char *body, size_t len);
/* A Retry-After in seconds (digits only) -> ms, capped at max_ms; -1 if absent/bad. */
long ghi_parse_retry_after(const char *value, long max_ms);

/*
 * When to refresh an access token that expires in expires_in_s seconds:
 * at `at` of its lifetime, moved by up to `jitter` of the lifetime either
 * way by rnd (uniform 32-bit), never later than 5 s (or a tenth of the
 * lifetime when shorter) before expiry and never sooner than 1 s from now.
 */
int64_t ghi_refresh_delay_ms(long long expires_in_s, double at, double jitter, uint32_t rnd);

/* Backoff before retry number attempt (1, 2, ...): base * 2^(attempt-1), capped, +-25% by rnd. */
long ghi_backoff_ms(int attempt, long base_ms, long max_ms, uint32_t rnd);

#endif
