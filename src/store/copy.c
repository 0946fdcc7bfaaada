/*
 * copy.c - copying a whole database into an empty one (gatehouse copy-db:
 * moving a SQLite deployment onto PostgreSQL), back-end neutral. The
 * source is read in one read transaction, the target written in one write
 * transaction that first checks it is empty and last compares the counts,
 * so the target ends up a full copy or untouched.
 */
#include <stdio.h>
#include <string.h>

#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "internal.h"

/* One table: the source query, the target statement, and each column's kind. */
struct copy_table {
	const char *name;
	enum store_query read, write;
	const char *kinds;         /* per column: 'i' integer, 't' text, 'b' bytes */
};

static const struct copy_table tables[] = {
	{ "users", Q_COPY_USERS, Q_COPY_USER_PUT, "tbiiiiii" },
	{ "identities", Q_COPY_IDENTITIES, Q_IDENTITY_INSERT, "ttti" },
	{ "sessions", Q_COPY_SESSIONS, Q_COPY_SESSION_PUT, "ittttiiiit" },
	{ "signing keys", Q_KEYS_LIST, Q_KEY_INSERT, "tttbiii" },
	{ "documents", Q_COPY_DOCS, Q_DOC_UPSERT, "ttbii" },
};

struct copy_op {
	struct store_conn *src;
	struct store_copy_counts *counts;
	char *err;
	size_t errlen;
};

static int read_counts(struct store_conn *c, struct store_copy_counts *out)
{
	struct store_stmt *q = db_prepare(c, Q_COPY_COUNTS);
	if (!q)
		return GH_EINTERNAL;
	int rc = db_step(c, q);
	if (rc == STORE_ROW) {
		out->users = col_int64(c, q, 0);
		out->identities = col_int64(c, q, 1);
		out->sessions = col_int64(c, q, 2);
		out->keys = col_int64(c, q, 3);
		out->documents = col_int64(c, q, 4);
	}
	db_reset(c, q);
	return rc == STORE_ROW ? 0 : db_fail(c, "row counts");
}

static bool counts_equal(const struct store_copy_counts *a, const struct store_copy_counts *b)
{
	return a->users == b->users && a->identities == b->identities &&
	       a->sessions == b->sessions && a->keys == b->keys && a->documents == b->documents;
}

/* Every row of t from src into dst (a write transaction): 0 or an enum gh_err. */
static int copy_table(struct store_conn *src, struct store_conn *dst, const struct copy_table *t,
		      char *err, size_t errlen)
{
	struct store_stmt *r = db_prepare(src, t->read);
	struct store_stmt *w = r ? db_prepare(dst, t->write) : NULL;
	if (!r || !w)
		return GH_EINTERNAL;
	int rc, ret = 0;
	while (!ret && (rc = db_step(src, r)) == STORE_ROW) {
		for (int i = 0; t->kinds[i]; i++) {
			if (col_null(src, r, i))
				db_null(dst, w, i + 1);
			else if (t->kinds[i] == 'i')
				db_int64(dst, w, i + 1, col_int64(src, r, i));
			else if (t->kinds[i] == 't')
				db_text(dst, w, i + 1, col_text(src, r, i));
			else
				db_blob(dst, w, i + 1, col_blob(src, r, i), col_bytes(src, r, i));
		}
		if (db_step(dst, w) != STORE_DONE) {
			ret = db_fail(dst, "copy");
			snprintf(err, errlen, "cannot write a row of %s into the target", t->name);
		}
		db_reset(dst, w);
	}
	if (!ret && rc != STORE_DONE) {
		ret = db_fail(src, "copy");
		snprintf(err, errlen, "cannot read %s from the source", t->name);
	}
	db_reset(src, r);
	return ret;
}

static int rule_copy(struct store_conn *dst, void *arg, enum store_op_end *end)
{
	(void)end;
	struct copy_op *op = arg;
	struct store_copy_counts have, want;
	int rc = read_counts(dst, &have);
	if (rc)
		return rc;
	if (have.users || have.identities || have.sessions || have.keys || have.documents) {
		snprintf(op->err, op->errlen, "the target is not empty (%lld users, %lld signing "
			 "keys, ...): copy into a new database only", (long long)have.users,
			 (long long)have.keys);
		return GH_ECONFLICT;
	}
	rc = read_counts(op->src, &want);
	for (size_t i = 0; !rc && i < sizeof tables / sizeof tables[0]; i++)
		rc = copy_table(op->src, dst, &tables[i], op->err, op->errlen);
	if (!rc)
		rc = store_db_exec(dst, Q_COPY_FINISH);
	if (!rc)
		rc = read_counts(dst, &have);
	if (!rc && !counts_equal(&have, &want)) {
		snprintf(op->err, op->errlen, "the counts differ after the copy (users %lld of %lld, "
			 "sessions %lld of %lld, documents %lld of %lld): nothing written",
			 (long long)have.users, (long long)want.users, (long long)have.sessions,
			 (long long)want.sessions, (long long)have.documents,
			 (long long)want.documents);
		rc = GH_EINTERNAL;
	}
	if (!rc)
		*op->counts = have;
	return rc;
}

int store_copy(struct store *from, struct store *to, struct store_copy_counts *out, char *err,
	       size_t errlen)
{
	memset(out, 0, sizeof *out);
	snprintf(err, errlen, "the database failed (see the log)");
	struct store_conn *src = store_reader_get(from);
	if (!src)
		return GH_EUNAVAIL;
	/* One snapshot of the source for every table and its counts. */
	int rc = src->be->read_begin(src);
	if (!rc) {
		struct copy_op op = { src, out, err, errlen };
		rc = store_submit(to, rule_copy, &op);
		src->be->read_end(src);
	}
	store_reader_put(from, src);
	return rc;
}
