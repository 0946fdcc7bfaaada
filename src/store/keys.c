/*
 * keys.c - signing keys, back-end neutral: list (in use, then activation
 * order), insert, delete, and new material for a batch (encryption at
 * rest, done by the keyring: this file only moves bytes).
 */
#include <stdlib.h>
#include <string.h>

#include "gatehouse/store.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "internal.h"

int store_rule_keys_list(struct store_conn *c, struct store_key **out, size_t *out_n)
{
	struct store_stmt *s = db_prepare(c, Q_KEYS_LIST);
	if (!s)
		return GH_EINTERNAL;
	int ret = 0, rc;
	size_t n = 0, cap = 0;
	struct store_key *keys = NULL;
	while ((rc = db_step(c, s)) == STORE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			keys = xrealloc(keys, cap * sizeof *keys);
		}
		struct store_key *k = &keys[n++];
		memset(k, 0, sizeof *k);
		store_col_copy_text(c, s, 0, k->kid, sizeof k->kid);
		store_col_copy_text(c, s, 1, k->use, sizeof k->use);
		store_col_copy_text(c, s, 2, k->alg, sizeof k->alg);
		k->material = (unsigned char *)store_col_dup(c, s, 3, &k->material_len);
		k->created_at = col_int64(c, s, 4);
		k->activate_at = col_int64(c, s, 5);
		k->epoch = col_int64(c, s, 6);
	}
	if (rc != STORE_DONE)
		ret = db_fail(c, "key list");
	db_reset(c, s);
	if (ret) {
		store_keys_free(keys, n);
		return ret;
	}
	*out = keys;
	*out_n = n;
	return 0;
}

int store_rule_key_insert(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)end;
	const struct store_key *k = arg;
	struct store_stmt *e = db_prepare(c, Q_KEY_EPOCH);
	if (!e)
		return GH_EINTERNAL;
	db_text(c, e, 1, k->use);
	int erc = db_step(c, e);
	int64_t top = erc == STORE_ROW ? col_int64(c, e, 0) : 0;
	db_reset(c, e);
	if (erc != STORE_ROW)
		return db_fail(c, "key epoch");
	if (k->epoch && k->epoch != top + 1)
		return GH_ECONFLICT;   /* another writer rotated since the caller looked */
	struct store_stmt *q = db_prepare(c, Q_KEY_INSERT);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, k->kid);
	db_text(c, q, 2, k->use);
	db_text(c, q, 3, k->alg);
	db_blob(c, q, 4, k->material, k->material_len);
	db_int64(c, q, 5, k->created_at);
	db_int64(c, q, 6, k->activate_at);
	db_int64(c, q, 7, k->epoch ? k->epoch : top + 1);
	int rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "key insert");
	return store_db_exec(c, Q_KEYS_NOTIFY);
}

int store_rule_key_delete(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)end;
	struct store_stmt *q = db_prepare(c, Q_KEY_DELETE);
	if (!q)
		return GH_EINTERNAL;
	db_text(c, q, 1, arg);
	int rc = db_step(c, q);
	db_reset(c, q);
	if (rc != STORE_DONE)
		return db_fail(c, "key delete");
	return store_db_exec(c, Q_KEYS_NOTIFY);
}

int store_rule_keys_set_material(struct store_conn *c, void *arg, enum store_op_end *end)
{
	(void)end;
	const struct store_keys_batch *b = arg;
	struct store_stmt *q = db_prepare(c, Q_KEY_SET_MATERIAL);
	if (!q)
		return GH_EINTERNAL;
	int ret = 0;
	for (size_t i = 0; i < b->n && !ret; i++) {
		db_text(c, q, 1, b->keys[i].kid);
		db_blob(c, q, 2, b->keys[i].material, b->keys[i].material_len);
		int rc = db_step(c, q);
		if (rc != STORE_DONE)
			ret = db_fail(c, "key material update");
		else if (c->be->changes(c) != 1)
			ret = GH_ENOTFOUND;
		db_reset(c, q);
	}
	return ret ? ret : store_db_exec(c, Q_KEYS_NOTIFY);
}
