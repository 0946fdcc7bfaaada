/*
 * sessions.c - the session rules, back-end neutral: a session starts
 * (with a new guest or for a known user), a refresh token is spent
 * (rotation, the grace window for a lost response, reuse detection that
 * revokes), sessions end (logout, logout-all, ban) and are purged.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "internal.h"

/* A user's activity is kept to the hour: most logins and refreshes write nothing for it. */
#define SEEN_EVERY 3600

/*
 * last_seen_at = now when the stored one is an hour old. seen_at, the stored
 * value as the caller read it (0: not read), spares the statement when it is
 * recent: the stored value only ever moves forward.
 */
int store_rule_touch_user(struct store_conn *c, const char *user_id, int64_t now, int64_t seen_at)
{
	if (seen_at > 0 && seen_at >= now - SEEN_EVERY)
		return 0;
	struct store_stmt *q = db_prepare(c, Q_USER_SEEN);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, user_id);
	db_int64(c, q, 2, now);
	db_int64(c, q, 3, now - SEEN_EVERY);
	int rc = db_step(c, q);
	db_reset(c, q);
	return rc == STORE_DONE ? 0 : db_fail(c, "user update");
}

int store_rule_session_create(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)end;
	struct session_create_op *op = arg;
	const struct store_session_new *s = op->s;
	struct store_stmt *q;
	int rc;
	if (op->secret_hash) {
		q = db_prepare(c, Q_USER_INSERT);
		if (!q)
			return GH_EINTERNAL;
		db_text(c, q, 1, op->user_id);
		db_blob(c, q, 2, op->secret_hash, 32);
		db_int64(c, q, 3, s->now);
		rc = db_step(c, q);
		db_reset(c, q);
		if (rc != STORE_DONE)
			return db_fail(c, "user insert");
	} else {
		/* A vanished user shows up as the session's foreign-key failure below. */
		rc = store_rule_touch_user(c, s->user_id, s->now, s->seen_at);
		if (rc)
			return rc;
	}
	q = db_prepare(c, Q_SESSION_INSERT);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, s->user_id);
	db_text(c, q, 2, s->access_scope);
	db_text(c, q, 3, s->jti);
	db_int64(c, q, 4, s->now);
	db_int64(c, q, 5, s->expires_at);
	rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "session insert");
	c->be->last_id(c, op->session_id);
	return 0;
}

/* Ends one live session of user_id; *ended is 1, or 0 when it was not live. */
static int end_session(struct store_conn *c, int64_t sid, const char *user_id, int64_t now,
		       const char *reason, int64_t *ended)
{
	struct store_stmt *q = db_prepare(c, Q_SESSION_END);
	if (!q)
		return GH_EINTERNAL;
	db_int64(c, q, 1, sid);
	db_int64(c, q, 2, now);
	db_text(c, q, 3, reason);
	db_text(c, q, 4, user_id);
	int rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "session end");
	if (ended)
		*ended = c->be->changes(c);
	return 0;
}

int store_rule_end_all_sessions(struct store_conn *c, const char *user_id, int64_t now,
			   const char *reason, int64_t *ended)
{
	struct store_stmt *q = db_prepare(c, Q_SESSIONS_END_ALL);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, user_id);
	db_int64(c, q, 2, now);
	db_text(c, q, 3, reason);
	int rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "session end");
	if (ended)
		*ended = c->be->changes(c);
	return 0;
}

/* A text column equal to want, compared in constant time. */
static bool text_eq(struct store_conn *c, struct store_stmt *s, int col, const char *want)
{
	const char *t = col_text(c, s, col);
	if (!t)
		return false;
	size_t n = col_bytes(c, s, col);
	return n == strlen(want) && CRYPTO_memcmp(t, want, n) == 0;
}

/*
 * The rotation rules (API.md B/D.1), decided on the session row read
 * inside the write: the current token rotates; the previous one within
 * the grace window is reissued; any other token is a reuse and revokes.
 */
int store_rule_refresh(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)end;
	struct refresh_op *op = arg;
	const struct store_refresh *r = op->r;
	struct store_refresh_result *out = op->out;
	struct store_stmt *q = db_prepare(c, Q_SESSION_GET_LOCKED);
	if (!q)
		return GH_EINTERNAL;
	db_int64(c, q, 1, r->session_id);
	int rc = db_step(c, q);
	if (rc == STORE_DONE) {
		db_reset(c, q);
		out->outcome = REFRESH_INVALID;
		return 0;
	}
	if (rc != STORE_ROW) {
		db_reset(c, q);
		return db_fail(c, "session lookup");
	}
	bool user_ok = text_eq(c, q, 0, r->user_id);
	store_col_copy_text(c, q, 1, out->access_scope, sizeof out->access_scope);
	bool is_current = text_eq(c, q, 2, r->presented_jti);
	bool is_previous = text_eq(c, q, 3, r->presented_jti);
	int64_t rotated_at_ms = col_int64(c, q, 4);
	out->expires_at = col_int64(c, q, 5);
	bool ended = !col_null(c, q, 6);
	int64_t banned_until = col_int64(c, q, 7);
	int64_t seen_at = col_int64(c, q, 8);
	db_reset(c, q);

	/* A ban ended the session too: say "banned", the clearer of the two. */
	if (user_ok && banned_until > r->now) {
		out->outcome = REFRESH_BANNED;
		return 0;
	}
	if (!user_ok || ended || out->expires_at <= r->now) {
		out->outcome = REFRESH_INVALID;
		return 0;
	}
	if (is_current) {
		q = db_prepare(c, Q_SESSION_ROTATE);
		out->outcome = REFRESH_ROTATED;
	} else if (is_previous && r->grace_ms > 0 && r->now_ms - rotated_at_ms <= r->grace_ms) {
		/* Lost response: issue a fresh token, spend the one issued last. */
		q = db_prepare(c, Q_SESSION_REISSUE);
		out->outcome = REFRESH_GRACE;
	} else {
		out->outcome = REFRESH_REUSED;
		return end_session(c, r->session_id, r->user_id, r->now, "reuse", NULL);
	}
	if (!q)
		return GH_EINTERNAL;
	db_int64(c, q, 1, r->session_id);
	db_text(c, q, 2, r->new_jti);
	if (out->outcome == REFRESH_ROTATED)
		db_int64(c, q, 3, r->now_ms);
	rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "session rotate");
	return store_rule_touch_user(c, r->user_id, r->now, seen_at);
}

int store_rule_purge(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)end;
	struct purge_op *op = arg;
	struct store_stmt *q = db_prepare(c, Q_SESSION_PURGE);
	if (!q)
		return GH_EINTERNAL;
	db_int64(c, q, 1, op->cutoff);
	db_int64(c, q, 2, op->limit);
	int rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "session purge");
	op->count = c->be->changes(c);
	return 0;
}

int store_rule_session_end(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)end;
	struct end_op *op = arg;
	if (op->session_id)
		return end_session(c, op->session_id, op->user_id, op->now, op->reason, &op->ended);
	return store_rule_end_all_sessions(c, op->user_id, op->now, op->reason, &op->ended);
}
