/*
 * sqlite_int.h - what the SQLite back end's files share (sqlite.c,
 * sqlite_sql.c, sqlite_backup.c): its state, its connection, its SQL.
 */
#ifndef GATEHOUSE_STORE_SQLITE_INT_H
#define GATEHOUSE_STORE_SQLITE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "backend.h"

/* Transaction control statements, prepared per connection like queries. */
enum sqlite_tx {
	TX_BEGIN, TX_COMMIT, TX_ROLLBACK, TX_SAVEPOINT, TX_RELEASE, TX_ROLLBACK_TO,
	TX_READ_BEGIN, TX_READ_END, TX_DATA_VERSION,
	TX_COUNT
};

extern const char *const store_sqlite_migrations[STORE_SCHEMA_VERSION];
extern const char *const store_sqlite_tx_sql[TX_COUNT];
extern const char *const store_sqlite_query_sql[Q_COUNT];

/* Shared by the connections of one store. */
struct sqlite_ctx {
	char *path;
	int64_t busy_timeout_ms;
	int64_t cache_kib;         /* the writer's page cache */
	bool sync_full;
	bool operator_mode;
	bool must_exist;           /* store_options.must_exist: never create the file */
};

struct sqlite_conn {
	struct store_conn base;    /* first: a struct store_conn * points here */
	sqlite3 *db;
	int last_rc;               /* of the last failed step */
	sqlite3_stmt *stmts[Q_COUNT];
	sqlite3_stmt *tx[TX_COUNT];
	struct sqlite_ckpt *ckpt;  /* the daemon's writer: its checkpoints (sqlite_ckpt.c) */
};

/* A SQLite result code as an enum gh_err (0 for OK, DONE, ROW). */
int store_sqlite_map_rc(int rc);

/*
 * The daemon writer's checkpoints and its readers' lock anchor
 * (sqlite_ckpt.c): _attach when it opens (replaces SQLite's automatic
 * checkpoint), _before_batch on the writer thread before it runs a batch,
 * _after_batch once the batch is answered, _detach before it closes.
 */
struct sqlite_ctx;
void store_sqlite_ckpt_attach(struct sqlite_conn *writer, struct sqlite_ctx *ctx);
void store_sqlite_ckpt_before_batch(struct sqlite_conn *writer);
void store_sqlite_ckpt_after_batch(struct sqlite_conn *writer);
void store_sqlite_ckpt_detach(struct sqlite_conn *writer);

/* store_backend.backup and .check_file (sqlite_backup.c). */
int store_sqlite_backup(void *ctx, const char *dest, char *err, size_t errlen);
int store_sqlite_check_file(const char *path, struct strbuf *report);

/* store_backend.file_version and .restore (sqlite_admin.c). */
int store_sqlite_file_version(const char *path, int *out, char *err, size_t errlen);
int store_sqlite_restore(void *ctx, const char *from, char *kept_aside, size_t kept_len,
			 char *err, size_t errlen);
 
/* fsyncs a file or directory by path: 0, or -1 with errno (sqlite_backup.c). */
int store_sqlite_fsync_path(const char *path, bool dir);

#endif
