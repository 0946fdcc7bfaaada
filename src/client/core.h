/*
 * core.h - the client's handle and requests, shared by the engine of the
 * library (client.c: transfers, the session, delivery) and its routes
 * (api.c). Not installed.
 */
#ifndef GATEHOUSE_CLIENT_CORE_H
#define GATEHOUSE_CLIENT_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "internal.h"

enum req_kind {
	K_LOGIN,   /* a login the engine asked for */
	K_REFRESH, /* internal: refresh the session */
	K_RELOGIN, /* internal: guest login with the saved secret after a refused refresh */
	K_CALL,    /* anything else */
};

#define F_AUTH 0x01        /* send the access token */
#define F_NEW_GUEST 0x02   /* save the guest credentials of the reply */
#define F_SAVED_GUEST 0x04 /* a login with the saved credentials */
#define F_ENDS 0x08        /* on 2xx the local session ends */
#define F_FORGET 0x10      /* on 2xx the saved credentials go */
#define F_VERSION 0x20     /* storage: report the document version */

struct req {
	struct req *next;
	enum req_kind kind;
	unsigned flags;
	unsigned gen;           /* session generation (internal requests) */
	char *method;
	char *path;             /* with the query */
	char *ctype;
	char *body;
	size_t body_len;
	char *if_match;         /* the whole header line, or NULL */
	gh_callback cb;
	void *user;
	int attempts;
	bool reauthed;
	int64_t not_before;
	CURL *easy;
	struct curl_slist *hdrs;
	char *resp;
	size_t resp_len, resp_cap;
	bool too_large;
	size_t max;
	char errbuf[CURL_ERROR_SIZE];
};

struct delivery {
	struct delivery *next;
	bool is_event;
	enum gh_session_event event;
	gh_callback cb;
	void *user;
	int status;
	long http;
	char *message;
	char *body;
	size_t body_len;
	long long version;
};

enum session_state { S_NONE, S_ACTIVE, S_ENDED };

struct gh_client {
	pthread_mutex_t lock;
	pthread_mutex_t io_lock;
	pthread_cond_t cond;
	CURLM *multi;
	pthread_t thread;
	bool thread_running;
	bool stopping;

	/* configuration (copied) */
	char *base_url;
	char *cred_path;
	struct gh_credential_store store;
	bool has_store;
	gh_session_callback on_session;
	void *session_user;
	bool own_thread, tls_no_verify;
	char *ca_file;
	long connect_timeout_ms, request_timeout_ms, retry_base_ms, retry_max_ms;
	int max_retries, max_connections;
	double refresh_at, refresh_jitter;
	size_t max_response;

	/* saved credentials */
	struct ghi_cred cred;
	bool has_cred;

	/* the session */
	enum session_state state;
	int end_status;
	unsigned gen;
	char *user_id;
	char *access;
	char *refresh;
	int64_t access_exp;
	int64_t refresh_due;
	struct req *renewing;   /* the refresh or re-login in flight */
	int renew_failures;
	unsigned refresh_count;

	uint64_t rng;
	struct req *queued;     /* to start, at not_before */
	struct req *auth_wait;  /* waiting for a token */
	struct req *active;     /* in the multi handle */
	int n_active;
	struct delivery *done_head, *done_tail;
};

/* Milliseconds of the monotonic clock. */
int64_t ghc_now_ms(void);
/* A new request (method and path copied); free with ghc_req_free. */
struct req *ghc_req_new(enum req_kind kind, unsigned flags, const char *method,
			const char *path, gh_callback cb, void *user);
void ghc_req_free(struct req *r);
/* Appends k=v (form-encoded) to a growing buffer. */
void ghc_form_add(char **buf, size_t *len, const char *k, const char *v);
/* True for a storage key the daemon accepts ([A-Za-z0-9_.-]{1,128}). */
bool ghc_valid_key(const char *key);
/* Appends r to a list. */
void ghc_list_push(struct req **head, struct req *r);

/* Between the engine (client.c) and the transfers (transfer.c). */
int ghc_cred_forget(struct gh_client *c);
int ghc_cred_save(struct gh_client *c);
void ghc_emit_event(struct gh_client *c, enum gh_session_event ev, int status,
		       const char *message);
void ghc_ensure_refresh(struct gh_client *c);
void ghc_fail_waiting(struct gh_client *c, int status, const char *message);
void ghc_finish(struct gh_client *c, struct req *r, int status, long http,
		   const char *message, long long version);
bool ghc_list_remove(struct req **head, struct req *r);
void ghc_release_waiting(struct gh_client *c);
void ghc_renew_done(struct gh_client *c, struct req *r, int status, long http,
		       const char *message);
uint32_t ghc_rnd(struct gh_client *c);
void ghc_session_clear(struct gh_client *c);
void ghc_session_end(struct gh_client *c, int status, enum gh_session_event ev,
			const char *message);
void ghc_session_set(struct gh_client *c, struct ghi_tokens *t);
void ghc_drive(struct gh_client *c);
long ghc_next_due_ms(struct gh_client *c, long cap);
void *ghc_io_thread(void *arg);
int ghc_start_transfer(struct gh_client *c, struct req *r);

#endif
