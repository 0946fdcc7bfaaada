/*
 * documents.c - the player-data rules, back-end neutral: versions from a
 * per-user sequence (never reused, even after a delete), If-Match and
 * If-None-Match preconditions, key and byte quotas, batches all or none.
 * Every write first reads the user's usage row (Q_DOC_USAGE_LOCKED: locked
 * on a back end with row locks), so writes of one user serialise; with a
 * store_session_check, the same read brings the ban and the session's
 * state (Q_DOC_USAGE_LOCKED_CHECK), and the write stops there unless the
 * check passes.
 */
#include <stdlib.h>
#include <string.h>

#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "internal.h"

void store_doc_row(struct store_conn *c, struct store_stmt *s, int col, struct store_document *out)
{
	out->value = store_col_dup(c, s, col, &out->len);
	out->version = col_int64(c, s, col + 1);
	out->updated_at = col_int64(c, s, col + 2);
}

int store_rule_doc_get(struct store_conn *c, const char *user_id, const char *key,
		  struct store_document *out)
{
	struct store_stmt *s = db_prepare(c, Q_DOC_GET);
	if (!s)
		return GH_EINTERNAL;
	db_text(c, s, 1, user_id);
	db_text(c, s, 2, key);
	int ret, rc = db_step(c, s);
	if (rc == STORE_ROW) {
		store_doc_row(c, s, 0, out);
		ret = 0;
	} else if (rc == STORE_DONE) {
		ret = GH_ENOTFOUND;
	} else {
		ret = db_fail(c, "document read");
	}
	db_reset(c, s);
	return ret;
}

/* The version and size of a stored document; *found false when absent. */
static int doc_head(struct store_conn *c, const char *user_id, const char *key, bool *found,
		    int64_t *version, int64_t *len)
{
	struct store_stmt *q = db_prepare(c, Q_DOC_HEAD);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, user_id);
	db_text(c, q, 2, key);
	int rc = db_step(c, q);
	*found = rc == STORE_ROW;
	if (*found) {
		*len = col_int64(c, q, 0);
		*version = col_int64(c, q, 1);
	} else {
		*len = *version = 0;
	}
	db_reset(c, q);
	return (rc == STORE_ROW || rc == STORE_DONE) ? 0 : db_fail(c, "document read");
}

struct usage {
	int64_t seq, keys, bytes;
};

/*
 * The usage row's lock, then the head of document key: a back end may send
 * the two in one round trip (the read runs once the lock is held, so it sees
 * every write committed before). The head's statement is bound and stepped
 * by doc_head next, or reset here when the lock fails.
 */
static int usage_then_head(struct store_conn *c, const char *user_id, const char *key,
			   struct usage *u, struct store_session_check *chk);

/*
 * The usage row, locked; with chk, the token's check too (chk->err, also
 * returned: GH_ENOTFOUND when the user is gone, GH_EBANNED, GH_EENDED).
 */
static int usage_get(struct store_conn *c, const char *user_id, struct usage *u,
		     struct store_session_check *chk)
{
	struct store_stmt *q = db_prepare(c, chk ? Q_DOC_USAGE_LOCKED_CHECK : Q_DOC_USAGE_LOCKED);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, user_id);
	if (chk)
		db_int64(c, q, 2, chk->session_id);
	int rc = db_step(c, q), verdict = 0;
	if (rc == STORE_ROW) {
		u->seq = col_int64(c, q, 0);
		u->keys = col_int64(c, q, 1);
		u->bytes = col_int64(c, q, 2);
		if (chk)
			verdict = store_session_verdict(col_int64(c, q, 3), chk->session_id != 0,
							col_int64(c, q, 4) != 0, chk->now);
	} else if (rc == STORE_DONE && chk) {
		verdict = GH_ENOTFOUND;
	}
	db_reset(c, q);
	if (verdict)
		return chk->err = verdict;
	if (rc == STORE_DONE)
		return GH_ENOTFOUND;
	return rc == STORE_ROW ? 0 : db_fail(c, "usage read");
}

static int usage_then_head(struct store_conn *c, const char *user_id, const char *key,
			   struct usage *u, struct store_session_check *chk)
{
	struct store_stmt *h = db_prepare(c, Q_DOC_HEAD);
	if (!h)
		return GH_EINTERNAL;
	db_text(c, h, 1, user_id);
	db_text(c, h, 2, key);
	db_follow(c, h);
	int rc = usage_get(c, user_id, u, chk);
	if (rc)
		db_reset(c, h);
	return rc;
}

static int usage_set(struct store_conn *c, const char *user_id, const struct usage *u)
{
	struct store_stmt *q = db_prepare(c, Q_DOC_USAGE_SET);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, user_id);
	db_int64(c, q, 2, u->seq);
	db_int64(c, q, 3, u->keys);
	db_int64(c, q, 4, u->bytes);
	int rc = db_step(c, q);
	db_reset(c, q);
	return rc == STORE_DONE ? 0 : db_fail(c, "usage update");
}

/* Whether a precondition holds for a document in this state. */
static bool cond_holds(const struct store_doc_write *w, bool found, int64_t version)
{
	switch (w->cond) {
	case DOC_IF_MATCH:
		return found && (w->version == 0 || w->version == version);
	case DOC_IF_NONE_MATCH:
		return !found;
	default:
		return true;
	}
}

/*
 * All the writes, or (returning an error: the operation rolls back) none:
 * each precondition checked against the current state, versions taken
 * from the user's sequence, quotas checked as the batch goes.
 */
int store_rule_doc_write(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)end;
	struct doc_write_op *op = arg;
	struct usage u;
	int rc = op->n ? usage_then_head(c, op->user_id, op->w[0].key, &u, op->chk) :
			 usage_get(c, op->user_id, &u, op->chk);
	if (rc)
		return rc;
	for (size_t i = 0; i < op->n; i++) {
		const struct store_doc_write *w = &op->w[i];
		struct store_doc_result *r = &op->out[i];
		op->failed = i;
		bool found;
		int64_t version, len;
		rc = doc_head(c, op->user_id, w->key, &found, &version, &len);
		if (rc)
			return rc;
		r->current_version = found ? version : 0;
		if (!cond_holds(w, found, version))
			return GH_EPRECOND;
		int64_t keys = u.keys + (found ? 0 : 1);
		int64_t bytes = u.bytes - len + (int64_t)w->len;
		if ((op->lim.max_keys && keys > op->lim.max_keys) ||
		    (op->lim.max_bytes && bytes > op->lim.max_bytes))
			return GH_ETOOBIG;
		u.keys = keys;
		u.bytes = bytes;
		struct store_stmt *q = db_prepare(c, Q_DOC_UPSERT);
		if (!q)
			return GH_EINTERNAL;
		db_text(c, q, 1, op->user_id);
		db_text(c, q, 2, w->key);
		db_blob(c, q, 3, w->value, w->len);
		db_int64(c, q, 4, ++u.seq);
		db_int64(c, q, 5, op->now);
		rc = db_step(c, q);
		db_reset(c, q);
		if (rc != STORE_DONE)
			return db_fail(c, "document write");
		r->version = u.seq;
		r->updated_at = op->now;
		r->created = !found;
	}
	return usage_set(c, op->user_id, &u);
}

int store_rule_doc_delete(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)end;
	struct doc_delete_op *op = arg;
	/* The user's usage row first (the lock); no user: no document either. */
	struct usage u;
	int rc = usage_then_head(c, op->user_id, op->key, &u, op->chk);
	if (rc && (rc != GH_ENOTFOUND || (op->chk && op->chk->err)))
		return rc;
	bool found = false;
	int64_t version = 0, len = 0;
	if (!rc) {
		rc = doc_head(c, op->user_id, op->key, &found, &version, &len);
		if (rc)
			return rc;
	}
	op->current = found ? version : 0;
	if (op->if_version >= 0 && (!found || (op->if_version && op->if_version != version)))
		return GH_EPRECOND;
	if (!found)
		return GH_ENOTFOUND;
	struct store_stmt *q = db_prepare(c, Q_DOC_DELETE);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, op->user_id);
	db_text(c, q, 2, op->key);
	rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "document delete");
	u.keys--;
	u.bytes -= len;
	return usage_set(c, op->user_id, &u);
}

int store_rule_doc_list(struct store_conn *c, const char *user_id, const char *after, int limit,
		   struct store_doc_info **out, size_t *out_n)
{
	struct store_stmt *q = db_prepare(c, Q_DOC_LIST);
	if (!q)
		return GH_EINTERNAL;
	int ret = 0;
	struct store_doc_info *items = xcalloc((size_t)(limit > 0 ? limit : 1), sizeof *items);
	db_text(c, q, 1, user_id);
	db_text(c, q, 2, after ? after : "");
	db_int64(c, q, 3, limit);
	int rc;
	size_t n = 0;
	while ((rc = db_step(c, q)) == STORE_ROW && n < (size_t)limit) {
		store_col_copy_text(c, q, 0, items[n].key, sizeof items[n].key);
		items[n].version = col_int64(c, q, 1);
		items[n].size = col_int64(c, q, 2);
		items[n].updated_at = col_int64(c, q, 3);
		n++;
	}
	if (rc != STORE_DONE && rc != STORE_ROW) {
		ret = db_fail(c, "document list");
		free(items);
	} else {
		*out = items;
		*out_n = n;
	}
	db_reset(c, q);
	return ret;
}
