/*
 * identities.c - the platform identity rules, back-end neutral: a
 * platform login maps a (provider, subject) to its owner, links it to an
 * existing user (one id per provider and user; a conflict under
 * link_conflict=reject) or creates a user, refuses a banned user, and
 * starts a session; unlinking keeps the last way to log in.
 */
#include <stdio.h>
#include <string.h>

#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "internal.h"

static int identity_owner(struct store_conn *c, const char *provider, const char *subject,
			  char owner[37], bool *found)
{
	struct store_stmt *q = db_prepare(c, Q_IDENTITY_GET);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, provider);
	db_text(c, q, 2, subject);
	int rc = db_step(c, q);
	*found = rc == STORE_ROW;
	if (*found)
		store_col_copy_text(c, q, 0, owner, 37);
	db_reset(c, q);
	return (rc == STORE_ROW || rc == STORE_DONE) ? 0 : db_fail(c, "identity lookup");
}

/*
 * Maps (provider, subject) to user_id, replacing the user's old id of that
 * provider. *lost: another login claimed the platform id first (it was
 * not there when looked up: a concurrent transaction committed it, on
 * PostgreSQL another node); nothing of this link stays then.
 */
static int identity_link(struct store_conn *c, const char *provider, const char *subject,
			 const char *user_id, int64_t now, bool *lost)
{
	*lost = false;
	/* One id per provider and user: relinking replaces the old mapping. */
	struct store_stmt *q = db_prepare(c, Q_IDENTITY_DELETE);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, user_id);
	db_text(c, q, 2, provider);
	int rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "identity unlink");
	q = db_prepare(c, Q_IDENTITY_INSERT);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, provider);
	db_text(c, q, 2, subject);
	db_text(c, q, 3, user_id);
	db_int64(c, q, 4, now);
	rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE) {
		int err = db_fail(c, "identity link");
		/* A foreign-key failure: the user to link to is gone. */
		return err == GH_ECONFLICT ? GH_ENOTFOUND : err;
	}
	*lost = c->be->changes(c) == 0;
	return 0;
}

/*
 * A new user known only by this platform id, or a link to link_user_id,
 * in a savepoint: when the claim is lost to a concurrent login (or the
 * link fails), its writes are undone and the transaction goes on.
 */
static int claim_identity(struct store_conn *c, const struct store_platform_login *in,
			  const char *user_id, bool create, bool *lost)
{
	int rc = c->be->savepoint(c);
	if (rc)
		return rc;
	if (create) {
		struct store_stmt *q = db_prepare(c, Q_USER_INSERT);
		if (!q) {
			rc = GH_EINTERNAL;
			goto out;
		}
		db_text(c, q, 1, user_id);
		db_null(c, q, 2);
		db_int64(c, q, 3, in->now);
		rc = db_step(c, q);
		db_reset(c, q);
		if (rc != STORE_DONE) {
			rc = db_fail(c, "user insert");
			goto out;
		}
	}
	rc = identity_link(c, in->provider, in->subject, user_id, in->now, lost);
out:
	if (rc || *lost)
		c->be->rollback_to(c);
	int rel = c->be->release(c);
	return rc ? rc : rel;
}

int store_rule_platform_login(struct store_conn *c, void *arg, enum store_op_end *end)
{
	struct platform_op *op = arg;
	const struct store_platform_login *in = op->in;
	struct store_platform_result *out = op->out;
	char owner[37];
	bool mapped, lost = false;
	int rc = identity_owner(c, in->provider, in->subject, owner, &mapped);
	if (rc)
		return rc;
	if (!mapped && in->link_requested && in->link_user_id) {
		rc = claim_identity(c, in, in->link_user_id, false, &lost);
		if (rc == GH_ENOTFOUND) {
			out->outcome = PLATFORM_LOGIN_LINK_FAILED;
			return 0;
		}
		if (rc)
			return rc;
		if (!lost) {
			snprintf(out->user_id, sizeof out->user_id, "%s", in->link_user_id);
			out->linked = true;
		}
	} else if (!mapped && !in->link_requested) {
		rc = claim_identity(c, in, in->new_user_id, true, &lost);
		if (rc)
			return rc;
		if (!lost) {
			snprintf(out->user_id, sizeof out->user_id, "%s", in->new_user_id);
			out->created = true;
		}
	}
	if (lost) {
		/* A concurrent first login made the owner: this one logs in as them. */
		rc = identity_owner(c, in->provider, in->subject, owner, &mapped);
		if (rc)
			return rc;
		if (!mapped)
			return GH_ECONFLICT;
	}
	if (mapped) {
		/* The platform id already belongs to someone: it logs in as them. */
		if (in->link_user_id && in->reject_conflict && strcmp(owner, in->link_user_id)) {
			out->outcome = PLATFORM_LOGIN_CONFLICT;
			return 0;
		}
		snprintf(out->user_id, sizeof out->user_id, "%s", owner);
	} else if (in->link_requested && !in->link_user_id) {
		out->outcome = PLATFORM_LOGIN_LINK_FAILED;
		return 0;
	}
	struct store_stmt *q = db_prepare(c, Q_USER_GET);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, out->user_id);
	rc = db_step(c, q);
	int64_t banned_until = rc == STORE_ROW ? col_int64(c, q, 3) : 0;
	int64_t seen_at = rc == STORE_ROW ? col_int64(c, q, 2) : 0;
	db_reset(c, q);
	if (rc != STORE_ROW)
		return rc == STORE_DONE ? GH_ENOTFOUND : db_fail(c, "user lookup");
	if (banned_until > in->now) {
		/* Nothing of this attempt stays (a link, a new user). */
		out->outcome = PLATFORM_LOGIN_BANNED;
		*end = STORE_OP_ROLLBACK;
		return 0;
	}
	struct store_session_new s = { .user_id = out->user_id, .access_scope = "authenticated",
				       .jti = in->jti, .now = in->now,
				       .expires_at = in->expires_at, .seen_at = seen_at };
	struct session_create_op sop = { out->user_id, NULL, &s, &out->session_id };
	rc = store_rule_session_create(c, &sop, end);
	out->outcome = PLATFORM_LOGIN_OK;
	return rc;
}

int store_rule_unlink(struct store_conn *c, void *arg, enum store_op_end *end)
{
	struct unlink_op *op = arg;
	struct store_stmt *q = db_prepare(c, Q_USER_GET);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, op->user_id);
	int rc = db_step(c, q);
	bool has_secret = rc == STORE_ROW && !col_null(c, q, 0);
	db_reset(c, q);
	if (rc != STORE_ROW)
		return rc == STORE_DONE ? GH_ENOTFOUND : db_fail(c, "user lookup");
	q = db_prepare(c, Q_IDENTITY_COUNT);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, op->user_id);
	rc = db_step(c, q);
	int64_t ids = rc == STORE_ROW ? col_int64(c, q, 0) : 0;
	db_reset(c, q);
	if (rc != STORE_ROW)
		return db_fail(c, "identity count");
	q = db_prepare(c, Q_IDENTITY_DELETE);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, op->user_id);
	db_text(c, q, 2, op->provider);
	rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "identity unlink");
	if (c->be->changes(c) == 0) {
		op->outcome = UNLINK_NOT_LINKED;
		return 0;
	}
	if (ids <= 1 && !has_secret) {
		/* The last way to log in: keep it (undo the delete). */
		op->outcome = UNLINK_LAST_METHOD;
		*end = STORE_OP_ROLLBACK;
		return 0;
	}
	op->outcome = UNLINK_DONE;
	return 0;
}
