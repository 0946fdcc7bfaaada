/*
 * gatehouse/client.h - a C client library for gatehouse, for custom engines.
 *
 * Link: `pkg-config --cflags --libs gatehouse-client` (libgatehouse-client,
 * static or shared). Depends on libcurl (multi interface) and jansson.
 *
 * The contract in short:
 * - No globals. Every function takes a handle (`gh_client`); handles are
 *   independent. The library calls curl_global_init() lazily once; a program
 *   that calls curl_global_init() itself must do so before creating a client.
 * - Non-blocking. Requests run on libcurl's multi interface. The engine calls
 *   gh_client_tick() once a frame: it never waits on the network (no DNS
 *   wait, no connect, no read), moves transfers forward and delivers finished
 *   results by callback, on the thread that called gh_client_tick(). It
 *   does do the CPU work of the transfers it moves (a TLS handshake, and
 *   loading the CA store on the first HTTPS connection) and writes the
 *   credential file (with fsync) in the tick that completes a new guest's
 *   login. With `own_thread` set, an I/O thread of the library does all of
 *   that and gh_client_tick() only delivers callbacks.
 * - Thread-safe handles: any function but gh_client_free() may be called from
 *   any thread, also from inside a callback. gh_client_free() must not run
 *   concurrently with other calls on the same handle, nor from a callback.
 * - Errors are values: actions return 0 or a negative `enum gh_status`;
 *   every result carries a status, the HTTP status and a human message.
 *   gh_strerror() names a status.
 * - Ownership: the library copies every string and buffer it is given;
 *   pointers inside a `struct gh_result` belong to the library and live until
 *   the callback returns (copy what you keep). Strings the library hands over
 *   for keeps (gh_response, gh_client_user_id) say so.
 * - The session: after a login, the access token is refreshed before it
 *   expires (at `refresh_at` of its lifetime, with jitter); a refused refresh
 *   re-logs a guest in with the saved secret; a banned or deleted account is
 *   reported as GH_ERR_BANNED / GH_ERR_DELETED, both to the pending requests
 *   and to the session callback. Requests that need a token wait while a
 *   refresh is in flight, and a request refused with 401 or 403 is retried
 *   once after a refresh (which tells a stale token from a ban).
 * - Retries: network errors, 502/503/504 and 429 are retried with exponential
 *   backoff and jitter (`max_retries`, `retry_base_ms`; a Retry-After is
 *   honoured up to `retry_max_ms`). Every transfer has a connect and a total
 *   timeout. HTTPS verifies the server's certificate unless told otherwise.
 * - Guest credentials (user id and guest secret; never tokens) are kept in a
 *   file written atomically with mode 0600 whatever the umask, or handed to
 *   the engine's own storage callbacks.
 * - Nothing is logged; tokens and secrets never appear in messages.
 */
#ifndef GATEHOUSE_CLIENT_H
#define GATEHOUSE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GH_API __attribute__((visibility("default")))
#else
#define GH_API
#endif

#define GH_CLIENT_VERSION "0.1.0"

/* Outcomes. 0 is success; every error is negative. */
enum gh_status {
	GH_OK = 0,
	GH_ERR_INVALID = -1,      /* a bad argument, or the server said 400/415 */
	GH_ERR_NETWORK = -2,      /* connect, timeout or transfer error after the retries */
	GH_ERR_UNAVAILABLE = -3,  /* 502/503/504 after the retries */
	GH_ERR_RATE_LIMITED = -4, /* 429 after the retries */
	GH_ERR_UNAUTHORIZED = -5, /* 401: credentials or token refused */
	GH_ERR_FORBIDDEN = -6,    /* 403 for another reason than a ban */
	GH_ERR_BANNED = -7,       /* the account is banned */
	GH_ERR_DELETED = -8,      /* the saved guest account no longer exists */
	GH_ERR_LOGIN_REQUIRED = -9, /* the session ended and cannot be renewed by itself */
	GH_ERR_NOT_FOUND = -10,   /* 404 */
	GH_ERR_CONFLICT = -11,    /* 409, or 412 (a storage precondition failed) */
	GH_ERR_TOO_LARGE = -12,   /* 413, or a response over `max_response` */
	GH_ERR_PROTOCOL = -13,    /* a reply that does not follow the API */
	GH_ERR_HTTP = -14,        /* any other non-2xx status */
	GH_ERR_STORAGE = -15,     /* the credential file or callbacks failed */
	GH_ERR_TIMEOUT = -16,     /* gh_wait_for() gave up waiting */
	GH_ERR_NO_SESSION = -17,  /* the call needs a login first */
};

/* A short constant English name for a status ("ok", "network error", ...). */
GH_API const char *gh_strerror(int status);

/* The result of one request, valid only during its callback. */
struct gh_result {
	int status;            /* enum gh_status */
	long http_status;      /* 0 when no response arrived */
	const char *message;   /* never NULL: "ok", or what went wrong */
	const char *body;      /* the response body, NUL-terminated (may be "") */
	size_t body_len;
	long long version;     /* storage: version from ETag or the body; else 0 */
};

typedef void (*gh_callback)(const struct gh_result *result, void *user);

/* Session events, reported through `on_session`. */
enum gh_session_event {
	GH_EVENT_LOGGED_IN = 1,     /* a login the engine asked for succeeded */
	GH_EVENT_REFRESHED,         /* a new access token */
	GH_EVENT_RELOGGED_IN,       /* refresh refused; logged in again with the saved secret */
	GH_EVENT_REFRESH_FAILED,    /* a refresh failed for now (network); retried later */
	GH_EVENT_BANNED,            /* the account is banned: the session is over */
	GH_EVENT_DELETED,           /* the account is gone: the session is over */
	GH_EVENT_LOGIN_REQUIRED,    /* the session ended (logout elsewhere, platform-only account) */
	GH_EVENT_LOGGED_OUT,        /* logout, logout-all or delete-user by this client */
};

/* `status` is the cause (GH_OK for the good events); `message` lives during the call. */
typedef void (*gh_session_callback)(enum gh_session_event event, int status,
				    const char *message, void *user);

/*
 * Engine storage for the guest credentials (consoles, mobile keychains).
 * load: copies the saved bytes into buf (at most cap), sets *len; returns 0,
 *       1 when nothing is saved, or -1 on error.
 * save: stores len bytes (len == 0: forget them); returns 0 or -1.
 * Both run on the thread that moves the transfers, with no client lock held
 * by the caller's other threads waiting on them; they must not call into the
 * client.
 */
struct gh_credential_store {
	int (*load)(void *user, char *buf, size_t cap, size_t *len);
	int (*save)(void *user, const char *data, size_t len);
	void *user;
};

struct gh_client_config {
	const char *base_url;          /* required: "https://login.example.com" (+ base path) */
	const char *credentials_path;  /* guest credentials file, or NULL */
	const struct gh_credential_store *store; /* or engine callbacks (wins over the path) */
	gh_session_callback on_session; /* optional */
	void *session_user;
	bool own_thread;               /* run transfers on a library thread */
	bool tls_no_verify;            /* testing only: do not verify certificates */
	const char *ca_file;           /* optional CA bundle for HTTPS */
	long connect_timeout_ms;       /* 0: 5000 */
	long request_timeout_ms;       /* 0: 15000, the whole transfer */
	int max_retries;               /* 0: 4; -1: none */
	long retry_base_ms;            /* 0: 250, doubled per attempt, with jitter */
	long retry_max_ms;             /* 0: 8000, also caps Retry-After */
	double refresh_at;             /* 0: 0.75 of the token's lifetime */
	double refresh_jitter;         /* 0: 0.10 of the lifetime either way; <0: none */
	size_t max_response;           /* 0: 4 MiB; larger replies fail with GH_ERR_TOO_LARGE */
	int max_connections;           /* 0: 4 parallel transfers to the server */
};

typedef struct gh_client gh_client;

/*
 * Creates a client. Copies everything in cfg. Reads the saved credentials
 * (if any) now. Returns 0 and sets *out, or a negative status with *out NULL.
 * Free with gh_client_free().
 */
GH_API int gh_client_new(const struct gh_client_config *cfg, gh_client **out /* OUT */);

/*
 * Stops the I/O thread if any, aborts every transfer and frees the client.
 * Callbacks of unfinished requests are not called. NULL is a no-op.
 */
GH_API void gh_client_free(gh_client *c);

/*
 * Moves transfers forward without blocking and calls the callbacks of
 * finished requests on this thread. Returns how many callbacks ran.
 */
GH_API int gh_client_tick(gh_client *c);

/*
 * Blocks up to timeout_ms for network activity or a finished request (for
 * tools and loops that have nothing else to do); then call gh_client_tick().
 */
GH_API void gh_client_wait(gh_client *c, long timeout_ms);

/* True while a session (access token) exists and is not banned or ended. */
GH_API bool gh_client_logged_in(gh_client *c);

/* True when guest credentials are saved (file or store). */
GH_API bool gh_client_has_credentials(gh_client *c);

/* Copies the session's (else the saved) user id into buf; 0, or GH_ERR_NO_SESSION. */
GH_API int gh_client_user_id(gh_client *c, char *buf, size_t cap);

/* How many refreshes succeeded so far (for tests and diagnostics). */
GH_API unsigned gh_client_refresh_count(gh_client *c);

/* Forgets the saved guest credentials (removes the file or saves nothing). */
GH_API int gh_client_forget_credentials(gh_client *c);

/* ---- requests: each returns 0 when queued (cb will run exactly once) or a
 * negative status when refused at once (cb will not run). cb may be NULL. ---- */

/*
 * Guest login: with saved credentials, logs that guest in; without, creates
 * a guest and saves its user id and secret before calling back. The result
 * body is the server's JSON (tokens included: do not log it).
 */
GH_API int gh_login_guest(gh_client *c, gh_callback cb, void *user);

enum gh_platform {
	GH_PLATFORM_STEAM = 1,       /* token: the Steam auth ticket (hex) */
	GH_PLATFORM_APPLE,           /* token: the Sign in with Apple identity token */
	GH_PLATFORM_GOOGLE_PLAY,     /* token: the Play Games server auth code */
	GH_PLATFORM_FACEBOOK,        /* token: access token; user_id: the Facebook user id */
	GH_PLATFORM_OIDC,            /* token: the ID token; provider: its configured name */
};

struct gh_platform_credential {
	enum gh_platform platform;
	const char *token;
	const char *user_id;   /* Facebook only */
	const char *provider;  /* OIDC only */
};

/*
 * Platform login. With link set and a session, links the platform identity
 * to the current user (link_to_existing_user=Yes with the access token).
 */
GH_API int gh_login_platform(gh_client *c, const struct gh_platform_credential *cred,
			     bool link, gh_callback cb, void *user);

/* POST /logout (this session) and POST /logout-all; the local session ends on 200. */
GH_API int gh_logout(gh_client *c, gh_callback cb, void *user);
GH_API int gh_logout_all(gh_client *c, gh_callback cb, void *user);

/* Account routes: GET /get-user, GET /export-user-data, POST /unlink-identity
 * (platform: "steam", "apple", "google_play", "facebook", "oidc:<name>"),
 * POST /delete-user (on 200 the session ends and the saved credentials go). */
GH_API int gh_get_user(gh_client *c, gh_callback cb, void *user);
GH_API int gh_export_user_data(gh_client *c, gh_callback cb, void *user);
GH_API int gh_unlink_identity(gh_client *c, const char *platform, gh_callback cb, void *user);
GH_API int gh_delete_user(gh_client *c, gh_callback cb, void *user);

/* Compat player data: /set-player-data?player_name=, /get-player-data. */
GH_API int gh_set_player_name(gh_client *c, const char *name, gh_callback cb, void *user);
GH_API int gh_get_player_data(gh_client *c, gh_callback cb, void *user);

/* Preconditions for storage writes. */
#define GH_ANY_VERSION (-1LL) /* unconditional */
#define GH_NO_VERSION 0LL     /* only if absent (If-None-Match: *) */

/*
 * Versioned storage. key: [A-Za-z0-9_.-]{1,128}. json: a JSON text of len
 * bytes. if_version: GH_ANY_VERSION, GH_NO_VERSION, or a version that must be
 * current (If-Match). A failed precondition is GH_ERR_CONFLICT, with the
 * current version in result->version when the document exists.
 */
GH_API int gh_storage_get(gh_client *c, const char *key, gh_callback cb, void *user);
GH_API int gh_storage_put(gh_client *c, const char *key, const char *json, size_t len,
			  long long if_version, gh_callback cb, void *user);
GH_API int gh_storage_delete(gh_client *c, const char *key, long long if_version,
			     gh_callback cb, void *user);
/* cursor: NULL for the first page; limit: 0 for the server's default. */
GH_API int gh_storage_list(gh_client *c, const char *cursor, int limit, gh_callback cb,
			   void *user);
/* json: the whole batch request body, {"writes":[...]} (API: POST /player-data-batch). */
GH_API int gh_storage_batch(gh_client *c, const char *json, size_t len, gh_callback cb,
			    void *user);

/*
 * An authenticated request to any path of the backend (the studio's own
 * routes behind the same host). path starts with '/' and may hold a query;
 * content_type may be NULL when there is no body.
 */
GH_API int gh_request(gh_client *c, const char *method, const char *path,
		      const char *content_type, const char *body, size_t len,
		      gh_callback cb, void *user);

/* ---- the blocking convenience API (tools, tests) ----
 *
 *   struct gh_response r;
 *   gh_response_init(&r);
 *   int rc = gh_wait_for(c, &r, gh_login_guest(c, gh_response_cb, &r), 30000);
 *   ... r.status, r.http_status, r.message, r.body ...
 *   gh_response_release(&r);
 *
 * gh_wait_for() ticks the client (running other callbacks too) until the
 * request finished, and returns its status (or the submit error, or
 * GH_ERR_TIMEOUT, after which `r` must stay alive until the client is freed).
 */
struct gh_response {
	int status;
	long http_status;
	char *message;   /* owned: freed by gh_response_release */
	char *body;      /* owned, NUL-terminated */
	size_t body_len;
	long long version;
	bool done;
};

GH_API void gh_response_init(struct gh_response *r);
GH_API void gh_response_release(struct gh_response *r);
/* A gh_callback that copies the result into the gh_response passed as user. */
GH_API void gh_response_cb(const struct gh_result *result, void *user);
GH_API int gh_wait_for(gh_client *c, struct gh_response *r, int submit_rc, long timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
