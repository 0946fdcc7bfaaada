/*
 * sqlite.c - the SQLite back end of the store: the database directory
 * and its file system, connections (pragmas, the busy handler), error
 * mapping, migrations, statements prepared once per connection,
 * transactions and savepoints, and data_version change detection. The
 * only file (with sqlite_backup.c) that calls sqlite3_.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/store.h"
#include "gatehouse/store_sqlite.h"
#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "sqlite_int.h"

_Static_assert(GH_ARRAY_SIZE(store_sqlite_migrations) == STORE_SCHEMA_VERSION,
	       "one migration per schema version");

#define CONN(c) ((struct sqlite_conn *)(void *)(c))
#define STMT(s) ((sqlite3_stmt *)(void *)(s))

int store_sqlite_map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_CONSTRAINT:
		return GH_ECONFLICT;
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_CANTOPEN:
	case SQLITE_PROTOCOL:
	case SQLITE_NOMEM:
		return GH_EUNAVAIL;
	default:
		return GH_EINTERNAL;
	}
}

static int fail_rc(struct sqlite_conn *c, int rc, const char *what)
{
	int err = store_sqlite_map_rc(rc);
	if (err == GH_ECONFLICT)
		return err;
	metrics_inc(M_STORE_ERRORS);
	log_error("database error in %s: %s (%d)", what, sqlite3_errmsg(c->db), rc);
	return err;
}

static int sq_fail(struct store_conn *base, const char *what)
{
	struct sqlite_conn *c = CONN(base);
	return fail_rc(c, c->last_rc, what);
}

static const char *sq_query_text(enum store_query q)
{
	return store_sqlite_query_sql[q];
}

static sqlite3_stmt *prepare_sql(struct sqlite_conn *c, sqlite3_stmt **slot, const char *sql,
				 int id)
{
	if (!*slot) {
		int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
		if (rc != SQLITE_OK) {
			log_error("cannot prepare query %d: %s", id, sqlite3_errmsg(c->db));
			*slot = NULL;
		}
	}
	return *slot;
}

static struct store_stmt *sq_prepare(struct store_conn *base, enum store_query q)
{
	struct sqlite_conn *c = CONN(base);
	sqlite3_stmt *s = prepare_sql(c, &c->stmts[q], store_sqlite_query_sql[q], (int)q);
	return (struct store_stmt *)(void *)s;
}

static void done_stmt(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Runs a transaction-control statement. */
static int exec_tx(struct sqlite_conn *c, enum sqlite_tx t)
{
	sqlite3_stmt *s = prepare_sql(c, &c->tx[t], store_sqlite_tx_sql[t], (int)(Q_COUNT + t));
	if (!s)
		return GH_EINTERNAL;
	int rc = sqlite3_step(s);
	done_stmt(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return fail_rc(c, rc, store_sqlite_tx_sql[t]);
	return 0;
}

static int sq_begin(struct store_conn *c) { return exec_tx(CONN(c), TX_BEGIN); }
static int sq_commit(struct store_conn *c) { return exec_tx(CONN(c), TX_COMMIT); }
static int sq_rollback(struct store_conn *c) { return exec_tx(CONN(c), TX_ROLLBACK); }
static int sq_savepoint(struct store_conn *c) { return exec_tx(CONN(c), TX_SAVEPOINT); }
static int sq_release(struct store_conn *c) { return exec_tx(CONN(c), TX_RELEASE); }
static int sq_rollback_to(struct store_conn *c) { return exec_tx(CONN(c), TX_ROLLBACK_TO); }
static int sq_read_begin(struct store_conn *c) { return exec_tx(CONN(c), TX_READ_BEGIN); }
static int sq_read_end(struct store_conn *c) { return exec_tx(CONN(c), TX_READ_END); }

static bool sq_in_transaction(struct store_conn *c)
{
	return !sqlite3_get_autocommit(CONN(c)->db);
}

static void sq_bind_int64(struct store_stmt *s, int i, int64_t v)
{
	sqlite3_bind_int64(STMT(s), i, v);
}

static void sq_bind_text(struct store_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(STMT(s), i, v, -1, SQLITE_STATIC);
}

static void sq_bind_blob(struct store_stmt *s, int i, const void *v, size_t len)
{
	sqlite3_bind_blob(STMT(s), i, v, (int)len, SQLITE_STATIC);
}

static void sq_bind_null(struct store_stmt *s, int i)
{
	sqlite3_bind_null(STMT(s), i);
}

static int sq_step(struct store_conn *base, struct store_stmt *s)
{
	int rc = sqlite3_step(STMT(s));
	if (rc == SQLITE_ROW)
		return STORE_ROW;
	if (rc == SQLITE_DONE)
		return STORE_DONE;
	CONN(base)->last_rc = rc;
	return STORE_ERR;
}

static void sq_reset(struct store_stmt *s)
{
	done_stmt(STMT(s));
}

static int64_t sq_column_int64(struct store_stmt *s, int col)
{
	return sqlite3_column_int64(STMT(s), col);
}

static const char *sq_column_text(struct store_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(STMT(s), col);
}

static const void *sq_column_blob(struct store_stmt *s, int col)
{
	return sqlite3_column_blob(STMT(s), col);
}

static size_t sq_column_bytes(struct store_stmt *s, int col)
{
	return (size_t)sqlite3_column_bytes(STMT(s), col);
}

static bool sq_column_null(struct store_stmt *s, int col)
{
	return sqlite3_column_type(STMT(s), col) == SQLITE_NULL;
}

static int64_t sq_changes(struct store_conn *c)
{
	return sqlite3_changes(CONN(c)->db);
}

static void sq_last_id(struct store_conn *c, int64_t *out)
{
	*out = sqlite3_last_insert_rowid(CONN(c)->db);
}

static int sq_data_version(struct store_conn *base, int64_t *out)
{
	struct sqlite_conn *c = CONN(base);
	sqlite3_stmt *s = prepare_sql(c, &c->tx[TX_DATA_VERSION],
				      store_sqlite_tx_sql[TX_DATA_VERSION],
				      (int)(Q_COUNT + TX_DATA_VERSION));
	if (!s)
		return GH_EINTERNAL;
	int ret = GH_EUNAVAIL;
	if (sqlite3_step(s) == SQLITE_ROW) {
		*out = sqlite3_column_int64(s, 0);
		ret = 0;
	}
	done_stmt(s);
	return ret;
}

/* ---- connections ---- */

static void sq_conn_close(struct store_conn *base)
{
	struct sqlite_conn *c = CONN(base);
	if (!c)
		return;
	store_sqlite_ckpt_detach(c);
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(c->stmts[i]);
	for (int i = 0; i < TX_COUNT; i++)
		sqlite3_finalize(c->tx[i]);
	sqlite3_close_v2(c->db);
	free(c);
}

/*
 * Waits for a lock another process holds (an operator command), like
 * sqlite3_busy_timeout, but counts each wait for the metrics: 1 ms, then
 * longer, up to the configured total.
 */
static int busy_wait(void *arg, int tries)
{
	static const int steps_ms[] = { 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 };
	const int64_t *limit_ms = arg;
	int64_t waited = 0;
	for (int i = 0; i < tries; i++)
		waited += steps_ms[i < (int)GH_ARRAY_SIZE(steps_ms) ? i : (int)GH_ARRAY_SIZE(steps_ms) - 1];
	if (waited >= *limit_ms)
		return 0; /* give up: SQLITE_BUSY */
	int step = steps_ms[tries < (int)GH_ARRAY_SIZE(steps_ms) ? tries :
			    (int)GH_ARRAY_SIZE(steps_ms) - 1];
	metrics_inc(M_STORE_BUSY);
	struct timespec ts = { 0, (long)step * 1000000L };
	nanosleep(&ts, NULL);
	return 1;
}

static int sq_conn_open(void *ctxp, bool writer, struct store_conn **out, char *err,
			size_t errlen)
{
	struct sqlite_ctx *ctx = ctxp;
	struct sqlite_conn *c = xcalloc(1, sizeof *c);
	c->base.be = &store_sqlite_backend;
	*out = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
	if (writer && !ctx->must_exist) {
		flags |= SQLITE_OPEN_CREATE;
		/*
		 * SQLite would create the file with 0644 & ~umask, and its -wal
		 * and -shm take the database file's mode: an empty file made
		 * owner-only first (SQLite takes it as a new database) keeps the
		 * signing keys from other users whatever the umask.
		 */
		int fd = open(ctx->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0)
			close(fd);
	}
	int rc = sqlite3_open_v2(ctx->path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database '%s': %s", ctx->path,
			 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sq_conn_close(&c->base);
		return GH_EUNAVAIL;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_handler(c->db, busy_wait, &ctx->busy_timeout_ms);
	if (!writer || ctx->operator_mode) {
		/* Only the daemon's writer checkpoints (see store_sqlite.h). */
		sqlite3_db_config(c->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	}
	char pragmas[256];
	snprintf(pragmas, sizeof pragmas,
		 "PRAGMA foreign_keys=ON; PRAGMA synchronous=%s; PRAGMA temp_store=MEMORY;"
		 "PRAGMA cache_size=%lld;%s%s",
		 ctx->sync_full ? "FULL" : "NORMAL",
		 /*
		  * Page cache in KiB (negative): the writer keeps
		  * sqlite_cache_size (4 MiB: the inner pages of a database of
		  * about half a million users); each reader (http_threads + 2 of
		  * them) 512 KiB, the kernel's page cache serving the rest.
		  * Larger caches made most of the peak RSS (issue 18: at most
		  * 32 MiB over the benchmark; 8 MiB for the writer measured
		  * 3 MiB more). A reader's cache is dropped anyway at its first
		  * read after each commit of the writer (WAL), so under writes
		  * its size buys nothing.
		  */
		 writer ? -(long long)ctx->cache_kib : -512LL,
		 writer ? "" : " PRAGMA query_only=1;",
		 (writer && ctx->operator_mode) ? " PRAGMA wal_autocheckpoint=0;" : "");
	char *msg = NULL;
	rc = sqlite3_exec(c->db, pragmas, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot configure database '%s': %s", ctx->path,
			 msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sq_conn_close(&c->base);
		return store_sqlite_map_rc(rc);
	}
	if (writer && !ctx->operator_mode)
		store_sqlite_ckpt_attach(c, ctx);
	*out = &c->base;
	return 0;
}

static void sq_before_batch(struct store_conn *c)
{
	store_sqlite_ckpt_before_batch(CONN(c));
}

static void sq_after_batch(struct store_conn *c)
{
	store_sqlite_ckpt_after_batch(CONN(c));
}

/* ---- the directory ---- */

bool store_fs_is_network(unsigned long f_type)
{
	switch (f_type) {
	case 0x6969:     /* NFS */
	case 0x517b:     /* SMB */
	case 0xff534d42: /* CIFS */
	case 0xfe534d42: /* SMB2 */
	case 0x00c36400: /* Ceph */
	case 0x5346414f: /* AFS */
	case 0x73757245: /* Coda */
	case 0x564c:     /* NCP */
	case 0x01021997: /* 9p */
		return true;
	default:
		return false;
	}
}

/*
 * SQLite's WAL needs shared memory and POSIX locks that network file
 * systems do not provide reliably (sqlite.org/wal.html): refuse them.
 */
static int check_filesystem(const char *dir, char *err, size_t errlen)
{
	struct statfs fs;
	if (statfs(dir, &fs) != 0)
		return 0;
	if (store_fs_is_network((unsigned long)fs.f_type)) {
		snprintf(err, errlen, "database directory '%s' is on a network file system "
			 "(type 0x%lx): SQLite's WAL needs a local one", dir,
			 (unsigned long)fs.f_type);
		return GH_EUNAVAIL;
	}
	if ((unsigned long)fs.f_type == 0x65735546)
		log_warn("database directory '%s' is on a FUSE file system: make sure it "
			 "is local and honours fsync and POSIX locks", dir);
	return 0;
}

/* Creates the directory that will hold the database, like mkdir -p. */
static int make_parent_dir(const char *path, char *err, size_t errlen)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir) {
		free(dir);
		return 0;
	}
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;
			*p = '\0';
			if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
				snprintf(err, errlen, "cannot create directory '%s': %s", dir,
					 strerror(errno));
				free(dir);
				return GH_EUNAVAIL;
			}
			*p = saved;
			if (!saved)
				break;
		}
	}
	struct stat sb;
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "database directory '%s' is not a directory", dir);
		free(dir);
		return GH_EUNAVAIL;
	}
	if (access(dir, W_OK) != 0) {
		snprintf(err, errlen, "database directory '%s' is not writable: %s", dir,
			 strerror(errno));
		free(dir);
		return GH_EUNAVAIL;
	}
	int rc = check_filesystem(dir, err, errlen);
	free(dir);
	return rc;
}

/* Warns about a database file (or its -wal, -shm) that others can read or write. */
static void warn_loose_modes(const char *path)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < GH_ARRAY_SIZE(suffixes); i++) {
		char *f = xasprintf("%s%s", path, suffixes[i]);
		struct stat sb;
		if (stat(f, &sb) == 0 && (sb.st_mode & 077))
			log_warn("database file '%s' has mode %03o: other users can read the "
				 "signing keys%s; fix: chmod 600 '%s'", f,
				 (unsigned)(sb.st_mode & 0777), (sb.st_mode & 022) ? " or change it" : "",
				 f);
		free(f);
	}
}

static int sq_open(const struct store_options *opt, void **out_ctx, char *err, size_t errlen)
{
	*out_ctx = NULL;
	struct stat sb;
	if (opt->must_exist && stat(opt->path, &sb) != 0) {
		snprintf(err, errlen, "no database at '%s' (%s); this command never creates one: "
			 "name the daemon's configuration with --config FILE, or the database "
			 "with --set database_path=PATH", opt->path, strerror(errno));
		return GH_ENOTFOUND;
	}
	int rc = opt->must_exist ? 0 : make_parent_dir(opt->path, err, errlen);
	if (rc)
		return rc;
	warn_loose_modes(opt->path);
	struct sqlite_ctx *ctx = xcalloc(1, sizeof *ctx);
	ctx->path = xstrdup(opt->path);
	ctx->busy_timeout_ms = STORE_SQLITE_BUSY_TIMEOUT_MS;
	ctx->cache_kib = STORE_SQLITE_CACHE_BYTES / 1024;
	if (opt->sqlite) {
		ctx->sync_full = opt->sqlite->sync_full;
		ctx->busy_timeout_ms = opt->sqlite->busy_timeout_ms;
		if (opt->sqlite->cache_bytes > 0)
			ctx->cache_kib = opt->sqlite->cache_bytes / 1024;
		ctx->operator_mode = opt->sqlite->operator_mode;
	}
	ctx->must_exist = opt->must_exist;
	*out_ctx = ctx;
	return 0;
}

static void sq_close(void *ctxp)
{
	struct sqlite_ctx *ctx = ctxp;
	if (!ctx)
		return;
	free(ctx->path);
	free(ctx);
}

/* ---- migrations ---- */

static int sq_migrate(void *ctxp, struct store_conn *writer, char *err, size_t errlen)
{
	struct sqlite_ctx *ctx = ctxp;
	sqlite3 *db = CONN(writer)->db;
	char *msg = NULL;
	int rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot enable WAL on '%s': %s", ctx->path,
			 msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return store_sqlite_map_rc(rc);
	}
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE; "
			  "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);",
			  NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto out_fail;
	int version = 0;
	sqlite3_stmt *s = NULL;
	rc = sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &s, NULL);
	if (rc != SQLITE_OK)
		goto out_fail;
	if (sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (version > STORE_SCHEMA_VERSION) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		snprintf(err, errlen, "database '%s' has schema version %d, newer than this "
			 "build's %d: use a newer gatehouse", ctx->path, version,
			 STORE_SCHEMA_VERSION);
		return GH_EINTERNAL;
	}
	for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
		rc = sqlite3_exec(db, store_sqlite_migrations[v], NULL, NULL, &msg);
		if (rc != SQLITE_OK)
			goto out_fail;
		char ins[96];
		snprintf(ins, sizeof ins, "INSERT INTO schema_version (version) VALUES (%d)", v + 1);
		rc = sqlite3_exec(db, ins, NULL, NULL, &msg);
		if (rc != SQLITE_OK)
			goto out_fail;
		log_info("database schema migrated to version %d", v + 1);
	}
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto out_fail;
	return 0;

out_fail:
	snprintf(err, errlen, "cannot prepare schema of '%s': %s", ctx->path,
		 msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return store_sqlite_map_rc(rc) ? store_sqlite_map_rc(rc) : GH_EINTERNAL;
}

const struct store_backend store_sqlite_backend = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.conn_open = sq_conn_open,
	.conn_close = sq_conn_close,
	.migrate = sq_migrate,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.savepoint = sq_savepoint,
	.release = sq_release,
	.rollback_to = sq_rollback_to,
	.read_begin = sq_read_begin,
	.read_end = sq_read_end,
	.in_transaction = sq_in_transaction,
	.prepare = sq_prepare,
	.bind_int64 = sq_bind_int64,
	.bind_text = sq_bind_text,
	.bind_blob = sq_bind_blob,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.reset = sq_reset,
	.column_int64 = sq_column_int64,
	.column_text = sq_column_text,
	.column_blob = sq_column_blob,
	.column_bytes = sq_column_bytes,
	.column_null = sq_column_null,
	.changes = sq_changes,
	.last_id = sq_last_id,
	.fail = sq_fail,
	.query_text = sq_query_text,
	.data_version = sq_data_version,
	.backup = store_sqlite_backup,
	.check_file = store_sqlite_check_file,
	.file_version = store_sqlite_file_version,
	.restore = store_sqlite_restore,
	.before_batch = sq_before_batch,
	.after_batch = sq_after_batch,
};
