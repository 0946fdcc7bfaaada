/*
 * route.h - what a route is (path template, methods, error style, flags,
 * handler) and what a handler is given. Types only: the table is in
 * router.c, the handlers in src/handlers/.
 */
#ifndef GATEHOUSE_ROUTE_H
#define GATEHOUSE_ROUTE_H

#include "gatehouse/reply.h"
#include "gatehouse/store.h"
#include "gatehouse/token.h"

struct http_request;
struct app;

enum route_method {
	M_GET = 1 << 0,
	M_POST = 1 << 1,
	M_PUT = 1 << 2,
	M_DELETE = 1 << 3,
	M_HEAD = 1 << 4,
};

enum route_flags {
	R_PARAMS = 1 << 0,         /* parse query/form/JSON parameters first */
	R_AUTH = 1 << 1,           /* needs an access token (guest or authenticated) */
	R_NOSTORE = 1 << 2,        /* answers carry tokens: Cache-Control: no-store */
	R_LIMIT = 1 << 3,          /* takes a token from the client's rate-limit bucket */
	R_MAIN_METRICS = 1 << 4,   /* served here unless an admin listener is configured */
	R_ADMIN = 1 << 5,          /* admin API: needs an admin token (admin listener only) */
	R_CONSOLE = 1 << 6,        /* the web console's files (admin listener only, no token) */
	/*
	 * Reads the token user's document {key} (GET only), or the PlayerName
	 * document when the path has no {key}: read with the token's check
	 * (route_ctx.doc), a round trip less on PostgreSQL.
	 */
	R_DOC = 1 << 7,
	/*
	 * Writes (with every method but GET and HEAD of an R_DOC route, which
	 * read): the handler runs on app.write_workers while the connection is
	 * suspended, so a request thread never waits for a commit and many
	 * writes share one.
	 */
	R_WRITE = 1 << 8,
	/*
	 * With R_AUTH, on a request that writes: the router verifies the token
	 * only, and the write makes the rest of the check (user, ban, session)
	 * in its own transaction (route_ctx.check_in_write, passed on by
	 * handlers_session_check): a round trip less on PostgreSQL, a read
	 * transaction less on SQLite. Its answers are the router's.
	 */
	R_CHECK_IN_WRITE = 1 << 9,
	/*
	 * With R_WRITE: the handler writes without waiting when the store can
	 * (store_doc_write_async, store_session_refresh_async: SQLite's writer
	 * thread answers it once the write is durable), so it runs on the
	 * request thread, not on a write worker: two thread hand-offs less per
	 * write. Without a writer thread
	 * (PostgreSQL) it goes to a write worker as any R_WRITE handler.
	 */
	R_ASYNC = 1 << 10,
	/*
	 * With R_ASYNC: the handler signs a token. While the access key is RSA
	 * (a signature of hundreds of microseconds, which would hold up the
	 * request thread's other connections) it runs on a write worker
	 * instead (session_signing_slow).
	 */
	R_SIGNS = 1 << 11,
};

/* Longest {name} segment of a path (a user id is 36, a provider "oidc:<name>"). */
#define ROUTE_ARG_MAX 128
#define ROUTE_ARGS 2

struct route_ctx {
	const struct route *route;
	struct access_claims claims; /* set for R_AUTH routes */
	struct store_user user;      /* the token's user, for R_AUTH routes */
	const char *key;             /* the {key} of the path, decoded */
	/* The {name} segments of the path before it, in order, decoded. */
	char args[ROUTE_ARGS][ROUTE_ARG_MAX + 1];
	const char *actor;           /* R_ADMIN routes: the admin token's name */
	bool check_in_write;         /* R_CHECK_IN_WRITE: the token verified, the rest is the write's */
	/* R_DOC routes: the document read with the token check (the router frees it). */
	bool doc_ready;
	const char *doc_key;
	int doc_err;
	struct store_document doc;
};

struct route {
	/*
	 * As served under base_path; also the log and metrics label. A path
	 * ending in "{key}" matches any non-empty rest, given as route_ctx.key;
	 * any other "{name}" matches one non-empty segment (no '/'), given in
	 * route_ctx.args in order.
	 */
	const char *path;
	unsigned methods;          /* enum route_method bits */
	int style;                 /* enum reply_style: the family of its error bodies */
	unsigned flags;            /* enum route_flags bits */
	void (*handler)(struct app *app, struct http_request *req, const struct route_ctx *rc);
};

#endif
