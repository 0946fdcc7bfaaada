/*
 * search.c - the reads of the admin API, back-end neutral: users page by
 * page in creation order, the owner of a platform identity, the overview's
 * counts, and a user's documents with their values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "internal.h"

static int users_page(struct store_conn *c, const struct store_users_query *uq,
		      struct store_user_summary **out, size_t *out_n)
{
	struct store_stmt *q = db_prepare(c, Q_USERS_PAGE);
	if (!q)
		return GH_EINTERNAL;
	db_int64(c, q, 1, uq->created_after);
	db_int64(c, q, 2, uq->created_before);
	db_int64(c, q, 3, uq->cursor_created_at);
	db_text(c, q, 4, uq->cursor_user_id);
	db_int64(c, q, 5, uq->limit);
	int rc;
	size_t cap = 0;
	while ((rc = db_step(c, q)) == STORE_ROW) {
		if (*out_n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		struct store_user_summary *u = &(*out)[(*out_n)++];
		store_col_copy_text(c, q, 0, u->user_id, sizeof u->user_id);
		u->created_at = col_int64(c, q, 1);
		u->last_seen_at = col_int64(c, q, 2);
		u->banned_until = col_int64(c, q, 3);
		u->guest = col_int64(c, q, 4) != 0;
	}
	db_reset(c, q);
	return rc == STORE_DONE ? 0 : db_fail(c, "user search");
}

int store_users_page(struct store *st, const struct store_users_query *q,
		     struct store_user_summary **out, size_t *out_n)
{
	*out = NULL;
	*out_n = 0;
	struct store_conn *c = store_reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int rc = users_page(c, q, out, out_n);
	store_reader_put(st, c);
	if (rc) {
		free(*out);
		*out = NULL;
		*out_n = 0;
	}
	return rc;
}

int store_identity_owner(struct store *st, const char *provider, const char *subject,
			 char out_user_id[37])
{
	out_user_id[0] = '\0';
	struct store_conn *c = store_reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int ret = GH_EINTERNAL;
	struct store_stmt *q = db_prepare(c, Q_IDENTITY_GET);
	if (q) {
		db_text(c, q, 1, provider);
		db_text(c, q, 2, subject);
		int rc = db_step(c, q);
		if (rc == STORE_ROW)
			store_col_copy_text(c, q, 0, out_user_id, 37);
		db_reset(c, q);
		ret = rc == STORE_ROW ? 0 : rc == STORE_DONE ? GH_ENOTFOUND :
		      db_fail(c, "identity lookup");
	}
	store_reader_put(st, c);
	return ret;
}

/* One count query (parameter 1 is now when it has one). */
static int count(struct store_conn *c, enum store_query qid, int64_t now, int64_t *out)
{
	struct store_stmt *q = db_prepare(c, qid);
	if (!q)
		return GH_EINTERNAL;
	if (qid == Q_COUNT_SESSIONS)
		db_int64(c, q, 1, now);
	int rc = db_step(c, q);
	if (rc == STORE_ROW)
		*out = col_int64(c, q, 0);
	db_reset(c, q);
	return rc == STORE_ROW ? 0 : db_fail(c, "count");
}

int store_stats_get(struct store *st, int64_t now, struct store_stats *out)
{
	memset(out, 0, sizeof *out);
	struct store_conn *c = store_reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	/* One read transaction: the counts agree with each other. */
	int rc = c->be->read_begin(c);
	if (!rc) {
		rc = count(c, Q_COUNT_USERS, now, &out->users);
		if (!rc)
			rc = count(c, Q_COUNT_GUESTS, now, &out->guests);
		if (!rc)
			rc = count(c, Q_COUNT_SESSIONS, now, &out->active_sessions);
		if (!rc)
			rc = count(c, Q_COUNT_DOCS, now, &out->documents);
		c->be->read_end(c);
	}
	store_reader_put(st, c);
	return rc;
}

void store_doc_entries_free(struct store_doc_entry *docs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(docs[i].value);
	free(docs);
}

static int doc_page(struct store_conn *c, const char *user_id, const char *after, int limit,
		    struct store_doc_entry **out, size_t *out_n)
{
	struct store_stmt *q = db_prepare(c, Q_DOC_PAGE);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, user_id);
	db_text(c, q, 2, after);
	db_int64(c, q, 3, limit);
	int rc;
	size_t cap = 0;
	while ((rc = db_step(c, q)) == STORE_ROW) {
		if (*out_n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		struct store_doc_entry *d = &(*out)[(*out_n)++];
		store_col_copy_text(c, q, 0, d->key, sizeof d->key);
		d->version = col_int64(c, q, 1);
		d->updated_at = col_int64(c, q, 2);
		d->value = store_col_dup(c, q, 3, &d->len);
	}
	db_reset(c, q);
	return rc == STORE_DONE ? 0 : db_fail(c, "document page");
}

int store_doc_page(struct store *st, const char *user_id, const char *after, int limit,
		   struct store_doc_entry **out, size_t *out_n)
{
	*out = NULL;
	*out_n = 0;
	struct store_conn *c = store_reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int rc = doc_page(c, user_id, after, limit, out, out_n);
	store_reader_put(st, c);
	if (rc) {
		store_doc_entries_free(*out, *out_n);
		*out = NULL;
		*out_n = 0;
	}
	return rc;
}
