/*
 * accounts.c - the account rules, back-end neutral: reading a user and
 * everything about it in one read transaction, deleting a user, bans
 * (which end every session in the same transaction), counts and the
 * clean-up of idle guests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "internal.h"

/* A row of Q_USER_GET into out. */
static void read_user_row(struct store_conn *c, struct store_stmt *s, const char *user_id,
			  struct store_user *out)
{
	snprintf(out->user_id, sizeof out->user_id, "%s", user_id);
	if (!col_null(c, s, 0) && col_bytes(c, s, 0) == 32) {
		out->has_guest_secret = true;
		memcpy(out->guest_secret_hash, col_blob(c, s, 0), 32);
	}
	out->created_at = col_int64(c, s, 1);
	out->last_seen_at = col_int64(c, s, 2);
	out->banned_until = col_int64(c, s, 3);
}

/* What a user read asks for besides the user row (read_user). */
struct user_read {
	enum store_query q;        /* Q_USER_GET, Q_USER_SESSION_GET or Q_USER_SESSION_DOC_GET */
	int64_t session_id;        /* the last two: column 4 says whether it is live */
	bool *session_live;
	const char *key;           /* Q_USER_SESSION_DOC_GET: its document, columns 5-7 */
	struct store_document *doc;
	int *doc_err;              /* the document's result: 0, GH_ENOTFOUND or the failure */
	const char *what;          /* for the error message */
};

static int read_user(struct store_conn *c, const char *user_id, const struct user_read *r,
		     struct store_user *out)
{
	struct store_stmt *s = db_prepare(c, r->q);
	int ret;
	if (!s) {
		ret = GH_EINTERNAL;
		goto out;
	}
	db_text(c, s, 1, user_id);
	if (r->session_live)
		db_int64(c, s, 2, r->session_id);
	if (r->key)
		db_text(c, s, 3, r->key);
	int rc = db_step(c, s);
	if (rc == STORE_ROW) {
		read_user_row(c, s, user_id, out);
		if (r->session_live)
			*r->session_live = col_int64(c, s, 4) != 0;
		/* version is never null in a stored document */
		if (r->doc && col_null(c, s, 6))
			*r->doc_err = GH_ENOTFOUND;
		else if (r->doc)
			store_doc_row(c, s, 5, r->doc);
		ret = 0;
	} else if (rc == STORE_DONE) {
		ret = GH_ENOTFOUND;
	} else {
		ret = db_fail(c, r->what);
	}
	db_reset(c, s);
out:
	if (r->doc_err && ret) /* no user row: no document either */
		*r->doc_err = ret;
	return ret;
}

int store_session_verdict(int64_t banned_until, bool has_session, bool session_live, int64_t now)
{
	if (banned_until > now)
		return GH_EBANNED;
	if (has_session && !session_live)
		return GH_EENDED;
	return 0;
}

int store_rule_user_get(struct store_conn *c, const char *user_id, struct store_user *out)
{
	struct user_read r = { .q = Q_USER_GET, .what = "user lookup" };
	return read_user(c, user_id, &r, out);
}

int store_rule_user_session_get(struct store_conn *c, const char *user_id, int64_t session_id,
				struct store_user *out, bool *out_session_live)
{
	struct user_read r = { .q = Q_USER_SESSION_GET, .session_id = session_id,
			       .session_live = out_session_live, .what = "user and session lookup" };
	return read_user(c, user_id, &r, out);
}

int store_rule_user_session_doc_get(struct store_conn *c, const char *user_id,
				    int64_t session_id, const char *key, struct store_user *out,
				    bool *out_session_live, struct store_document *doc,
				    int *doc_err)
{
	*doc_err = 0;
	struct user_read r = { .q = Q_USER_SESSION_DOC_GET, .session_id = session_id,
			       .session_live = out_session_live, .key = key, .doc = doc,
			       .doc_err = doc_err, .what = "user, session and document lookup" };
	return read_user(c, user_id, &r, out);
}

int store_rule_user_delete(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)end;
	struct store_stmt *q = db_prepare(c, Q_USER_DELETE);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, arg);
	int rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "user delete");
	return c->be->changes(c) ? 0 : GH_ENOTFOUND;
}

int store_rule_ban(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)end;
	struct ban_op *op = arg;
	struct store_stmt *q = db_prepare(c, Q_USER_BAN);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, op->user_id);
	if (op->banned_until > 0)
		db_int64(c, q, 2, op->banned_until);
	else
		db_null(c, q, 2);
	int rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "user ban");
	if (c->be->changes(c) == 0)
		return GH_ENOTFOUND;
	if (op->banned_until > op->now)
		return store_rule_end_all_sessions(c, op->user_id, op->now, "ban", &op->ended);
	return 0;
}

/* The user's identities, and with full its sessions and documents too. */
static int read_account_rows(struct store_conn *c, const char *user_id, bool full,
			     struct store_account *a)
{
	struct store_stmt *q = db_prepare(c, Q_IDENTITIES_OF);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, user_id);
	int rc;
	size_t cap = 0;
	while ((rc = db_step(c, q)) == STORE_ROW) {
		if (a->nidentities == cap) {
			cap = cap ? cap * 2 : 4;
			a->identities = xrealloc(a->identities, cap * sizeof *a->identities);
		}
		struct store_identity *id = &a->identities[a->nidentities++];
		store_col_copy_text(c, q, 0, id->provider, sizeof id->provider);
		store_col_copy_text(c, q, 1, id->subject, sizeof id->subject);
	}
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "identity list");
	if (!full)
		return 0;

	q = db_prepare(c, Q_SESSIONS_OF);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, user_id);
	cap = 0;
	while ((rc = db_step(c, q)) == STORE_ROW) {
		if (a->nsessions == cap) {
			cap = cap ? cap * 2 : 8;
			a->sessions = xrealloc(a->sessions, cap * sizeof *a->sessions);
		}
		struct store_session_info *si = &a->sessions[a->nsessions++];
		si->session_id = col_int64(c, q, 0);
		si->created_at = col_int64(c, q, 1);
		si->expires_at = col_int64(c, q, 2);
		si->ended_at = col_int64(c, q, 3);
		si->refreshed_at = col_int64(c, q, 4) / 1000;
	}
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "session list");

	q = db_prepare(c, Q_DOCS_OF);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, user_id);
	cap = 0;
	while ((rc = db_step(c, q)) == STORE_ROW) {
		if (a->ndocs == cap) {
			cap = cap ? cap * 2 : 8;
			a->docs = xrealloc(a->docs, cap * sizeof *a->docs);
		}
		struct store_doc_entry *d = &a->docs[a->ndocs++];
		store_col_copy_text(c, q, 0, d->key, sizeof d->key);
		d->version = col_int64(c, q, 1);
		d->updated_at = col_int64(c, q, 2);
		d->value = store_col_dup(c, q, 3, &d->len);
	}
	db_reset(c, q);
	return rc == STORE_DONE ? 0 : db_fail(c, "document list");
}

/* In one read transaction, so the parts agree with each other. */
int store_rule_account_get(struct store_conn *c, const char *user_id, int64_t now, bool full,
		      struct store_account *out)
{
	int ret = c->be->read_begin(c);
	if (ret)
		return ret;
	struct store_stmt *q = db_prepare(c, Q_USER_GET);
	if (!q) {
		ret = GH_EINTERNAL;
		goto out_end;
	}
	db_text(c, q, 1, user_id);
	int rc = db_step(c, q);
	if (rc == STORE_ROW)
		read_user_row(c, q, user_id, &out->user);
	db_reset(c, q);
	if (rc != STORE_ROW) {
		ret = rc == STORE_DONE ? GH_ENOTFOUND : db_fail(c, "user lookup");
		goto out_end;
	}
	q = db_prepare(c, Q_SESSIONS_LIVE);
	if (!q) {
		ret = GH_EINTERNAL;
		goto out_end;
	}
	db_text(c, q, 1, user_id);
	db_int64(c, q, 2, now);
	rc = db_step(c, q);
	out->live_sessions = rc == STORE_ROW ? col_int64(c, q, 0) : 0;
	db_reset(c, q);
	ret = rc == STORE_ROW ? read_account_rows(c, user_id, full, out)
			      : db_fail(c, "session count");
out_end:
	c->be->read_end(c);
	return ret;
}

int store_rule_counts(struct store_conn *c, int64_t now, int64_t *users, int64_t *sessions)
{
	int ret = 0;
	struct store_stmt *q = db_prepare(c, Q_COUNT_USERS);
	if (!q || db_step(c, q) != STORE_ROW)
		ret = GH_EUNAVAIL;
	else
		*users = col_int64(c, q, 0);
	if (q)
		db_reset(c, q);
	q = ret ? NULL : db_prepare(c, Q_COUNT_SESSIONS);
	if (q) {
		db_int64(c, q, 1, now);
		if (db_step(c, q) == STORE_ROW)
			*sessions = col_int64(c, q, 0);
		else
			ret = GH_EUNAVAIL;
		db_reset(c, q);
	}
	return ret;
}

int store_rule_guest_cleanup(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)end;
	struct cleanup_op *op = arg;
	struct store_stmt *q = db_prepare(c, Q_GUEST_CLEANUP);
	if (!q)
		return GH_EINTERNAL;
	db_int64(c, q, 1, op->idle_before);
	db_int64(c, q, 2, op->limit);
	int rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "guest clean-up");
	op->deleted = c->be->changes(c);
	return 0;
}

int store_rule_lease_claim(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)end;
	struct lease_op *op = arg;
	struct store_stmt *q = db_prepare(c, Q_LEASE_CLAIM);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, op->name);
	db_text(c, q, 2, op->holder);
	db_int64(c, q, 3, op->now);
	db_int64(c, q, 4, op->until);
	int rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "lease claim");
	op->held = c->be->changes(c) == 1;
	return 0;
}
