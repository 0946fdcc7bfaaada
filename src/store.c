/*
 * store.c - SQLite persistence behind store.h: connection setup, schema
 * migrations, the writer thread with group commit, a pool of reader
 * connections with per-connection prepared statements, and the typed
 * queries the rest of the daemon calls.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "gatehouse/store.h"
#include "gatehouse/util.h"
#include "gatehouse/banned.h"

/* ---- schema ---- */

static const char *const migrations[] = {
	/* 1: the initial schema */
	"CREATE TABLE users ("
	"  user_id TEXT PRIMARY KEY,"
	"  guest_secret_hash BLOB,"
	"  created_at INTEGER NOT NULL,"
	"  last_seen_at INTEGER NOT NULL,"
	"  banned_until INTEGER"
	") WITHOUT ROWID;"
	"CREATE TABLE identities ("
	"  provider TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (provider, subject),"
	"  UNIQUE (user_id, provider)"
	") WITHOUT ROWID;"
	"CREATE TABLE sessions ("
	"  session_id INTEGER PRIMARY KEY,"
	"  user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
	"  access_scope TEXT NOT NULL,"
	"  current_jti TEXT NOT NULL,"
	"  previous_jti TEXT,"
	"  rotated_at_ms INTEGER,"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  ended_at INTEGER,"
	"  end_reason TEXT"
	");"
	"CREATE INDEX sessions_by_user ON sessions(user_id);"
	"CREATE TABLE signing_keys ("
	"  kid TEXT PRIMARY KEY,"
	"  use TEXT NOT NULL CHECK (use IN ('access', 'refresh')),"
	"  alg TEXT NOT NULL,"
	"  material BLOB NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  activate_at INTEGER NOT NULL"
	");"
	"CREATE TABLE player_data ("
	"  user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
	"  key TEXT NOT NULL,"
	"  value BLOB NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (user_id, key)"
	") WITHOUT ROWID;",
	/* 2: guest clean-up walks idle guests in last_seen_at order */
	"CREATE INDEX users_idle_guests ON users(last_seen_at) "
	"WHERE guest_secret_hash IS NOT NULL;",
	/*
	 * 3: versioned player storage. Versions come from a per-user sequence,
	 * so a key's versions keep rising even across a delete; the user's key
	 * count and bytes are kept beside it for the quotas.
	 */
	"ALTER TABLE users ADD COLUMN data_seq INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE users ADD COLUMN data_keys INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE users ADD COLUMN data_bytes INTEGER NOT NULL DEFAULT 0;"
	"UPDATE users SET"
	"  data_seq = coalesce((SELECT max(version) FROM player_data p"
	"                       WHERE p.user_id = users.user_id), 0),"
	"  data_keys = (SELECT count(*) FROM player_data p WHERE p.user_id = users.user_id),"
	"  data_bytes = coalesce((SELECT sum(length(value)) FROM player_data p"
	"                         WHERE p.user_id = users.user_id), 0);",
};

int store_schema_version(void)
{
	return (int)GH_ARRAY_SIZE(migrations);
}

/* ---- prepared statements ---- */

enum query {
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO,
	Q_DATA_VERSION, Q_PING,
	Q_USER_GET, Q_USER_INSERT, Q_USER_SEEN, Q_USER_SESSION_GET,
	Q_SESSION_INSERT, Q_SESSION_GET, Q_SESSION_ROTATE, Q_SESSION_REISSUE, Q_SESSION_END,
	Q_SESSION_PURGE, Q_SESSIONS_END_ALL, Q_SESSIONS_LIVE, Q_SESSIONS_OF,
	Q_USER_DELETE, Q_USER_BAN, Q_IDENTITIES_OF, Q_DOCS_OF, Q_GUEST_CLEANUP,
	Q_READ_BEGIN, Q_READ_END, Q_COUNT_USERS, Q_COUNT_SESSIONS,
	Q_IDENTITY_GET, Q_IDENTITY_INSERT, Q_IDENTITY_DELETE, Q_IDENTITY_COUNT,
	Q_KEYS_LIST, Q_KEY_INSERT, Q_KEY_DELETE,
	Q_DOC_GET, Q_DOC_UPSERT, Q_DOC_DELETE, Q_DOC_USAGE, Q_DOC_USAGE_SET, Q_DOC_LIST,
	Q_COUNT
};

static const char *const query_sql[Q_COUNT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_SAVEPOINT] = "SAVEPOINT w",
	[Q_RELEASE] = "RELEASE w",
	[Q_ROLLBACK_TO] = "ROLLBACK TO w",
	[Q_DATA_VERSION] = "PRAGMA data_version",
	[Q_PING] = "SELECT 1",
	[Q_USER_GET] = "SELECT guest_secret_hash, created_at, last_seen_at, banned_until "
		       "FROM users WHERE user_id = ?1",
	/*
	 * The check behind every authenticated request: the user's row and
	 * whether the token's session (?2; 0 matches nothing) is that user's
	 * and has not ended. Two primary-key lookups in one statement.
	 */
	[Q_USER_SESSION_GET] = "SELECT u.guest_secret_hash, u.created_at, u.last_seen_at, "
			       "u.banned_until, s.session_id IS NOT NULL AND s.ended_at IS NULL "
			       "FROM users u LEFT JOIN sessions s "
			       "ON s.session_id = ?2 AND s.user_id = u.user_id "
			       "WHERE u.user_id = ?1",
	[Q_USER_INSERT] = "INSERT INTO users (user_id, guest_secret_hash, created_at, last_seen_at) "
			  "VALUES (?1, ?2, ?3, ?3)",
	/* Activity is kept to the hour: most logins and refreshes then write nothing here. */
	[Q_USER_SEEN] = "UPDATE users SET last_seen_at = ?2 "
			"WHERE user_id = ?1 AND last_seen_at < ?2 - 3600",
	[Q_SESSION_INSERT] = "INSERT INTO sessions (user_id, access_scope, current_jti, created_at, "
			     "expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
	[Q_SESSION_GET] = "SELECT s.user_id, s.access_scope, s.current_jti, s.previous_jti, "
			  "s.rotated_at_ms, s.expires_at, s.ended_at, u.banned_until "
			  "FROM sessions s JOIN users u ON u.user_id = s.user_id "
			  "WHERE s.session_id = ?1",
	[Q_SESSION_ROTATE] = "UPDATE sessions SET previous_jti = current_jti, current_jti = ?2, "
			     "rotated_at_ms = ?3 WHERE session_id = ?1",
	[Q_SESSION_REISSUE] = "UPDATE sessions SET current_jti = ?2 WHERE session_id = ?1",
	[Q_SESSION_END] = "UPDATE sessions SET ended_at = ?2, end_reason = ?3 "
			  "WHERE session_id = ?1 AND user_id = ?4 AND ended_at IS NULL "
			  "AND expires_at > ?2",
	[Q_SESSIONS_END_ALL] = "UPDATE sessions SET ended_at = ?2, end_reason = ?3 "
			       "WHERE user_id = ?1 AND ended_at IS NULL AND expires_at > ?2",
	[Q_SESSIONS_LIVE] = "SELECT count(*) FROM sessions "
			    "WHERE user_id = ?1 AND ended_at IS NULL AND expires_at > ?2",
	[Q_SESSIONS_OF] = "SELECT session_id, created_at, expires_at, ended_at FROM sessions "
			  "WHERE user_id = ?1 ORDER BY session_id",
	[Q_USER_DELETE] = "DELETE FROM users WHERE user_id = ?1",
	[Q_USER_BAN] = "UPDATE users SET banned_until = ?2 WHERE user_id = ?1",
	[Q_IDENTITIES_OF] = "SELECT provider, subject FROM identities WHERE user_id = ?1 "
			    "ORDER BY provider",
	[Q_DOCS_OF] = "SELECT key, version, updated_at, value FROM player_data "
		      "WHERE user_id = ?1 ORDER BY key",
	[Q_GUEST_CLEANUP] = "DELETE FROM users WHERE user_id IN ("
			    "SELECT u.user_id FROM users u "
			    "WHERE u.guest_secret_hash IS NOT NULL AND u.last_seen_at < ?1 "
			    "AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.user_id) "
			    "ORDER BY u.last_seen_at LIMIT ?2)",
	[Q_COUNT_USERS] = "SELECT count(*) FROM users",
	[Q_COUNT_SESSIONS] = "SELECT count(*) FROM sessions WHERE ended_at IS NULL AND expires_at > ?1",
	[Q_IDENTITY_GET] = "SELECT user_id FROM identities WHERE provider = ?1 AND subject = ?2",
	[Q_IDENTITY_INSERT] = "INSERT INTO identities (provider, subject, user_id, created_at) "
			      "VALUES (?1, ?2, ?3, ?4)",
	[Q_IDENTITY_DELETE] = "DELETE FROM identities WHERE user_id = ?1 AND provider = ?2",
	[Q_IDENTITY_COUNT] = "SELECT count(*) FROM identities WHERE user_id = ?1",
	[Q_READ_BEGIN] = "BEGIN",
	[Q_READ_END] = "COMMIT",
	[Q_SESSION_PURGE] = "DELETE FROM sessions WHERE expires_at < ?1 OR ended_at < ?1",
	[Q_KEYS_LIST] = "SELECT kid, use, alg, material, created_at, activate_at FROM signing_keys "
			"ORDER BY use, activate_at, created_at",
	[Q_KEY_INSERT] = "INSERT INTO signing_keys (kid, use, alg, material, created_at, activate_at) "
			 "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_KEY_DELETE] = "DELETE FROM signing_keys WHERE kid = ?1",
	[Q_DOC_GET] = "SELECT value, version, updated_at FROM player_data "
		      "WHERE user_id = ?1 AND key = ?2",
	[Q_DOC_UPSERT] = "INSERT INTO player_data (user_id, key, value, version, updated_at) "
			 "VALUES (?1, ?2, ?3, ?4, ?5) "
			 "ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value, "
			 "version = excluded.version, updated_at = excluded.updated_at",
	[Q_DOC_DELETE] = "DELETE FROM player_data WHERE user_id = ?1 AND key = ?2",
	[Q_DOC_USAGE] = "SELECT data_seq, data_keys, data_bytes FROM users WHERE user_id = ?1",
	[Q_DOC_USAGE_SET] = "UPDATE users SET data_seq = ?2, data_keys = ?3, data_bytes = ?4 "
			    "WHERE user_id = ?1",
	[Q_DOC_LIST] = "SELECT key, version, length(value), updated_at FROM player_data "
		       "WHERE user_id = ?1 AND key > ?2 ORDER BY key LIMIT ?3",
};

struct conn {
	sqlite3 *db;
	sqlite3_stmt *stmts[Q_COUNT];
};

/* ---- the writer queue ---- */

struct write_op {
	int (*fn)(struct conn *c, void *arg);
	void *arg;
	int rc;
	bool done;
	struct write_op *next;
};

struct store {
	char *path;
	struct conn writer;
	pthread_t writer_thread;
	pthread_mutex_t lock;
	pthread_cond_t work;       /* signalled when ops are queued or on stop */
	pthread_cond_t done;       /* broadcast when a batch finishes */
	struct write_op *head, *tail;
	bool stopping;
	int64_t last_data_version;
	uint64_t last_version_check_ns;
	_Atomic uint64_t external_gen;

	/* the reader pool */
	pthread_mutex_t rlock;
	pthread_cond_t rfree;
	struct conn *readers;
	int nreaders;
	int *free_idx;             /* stack of free reader slots */
	int nfree;

	struct store_options opt;
};

static int map_rc(int rc)
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

static int db_fail(struct conn *c, int rc, const char *what)
{
	int err = map_rc(rc);
	if (err == GH_ECONFLICT)
		return err;
	metrics_inc(M_STORE_ERRORS);
	log_error("database error in %s: %s (%d)", what, sqlite3_errmsg(c->db), rc);
	return err;
}

static sqlite3_stmt *stmt(struct conn *c, enum query q)
{
	if (!c->stmts[q]) {
		int rc = sqlite3_prepare_v3(c->db, query_sql[q], -1, SQLITE_PREPARE_PERSISTENT,
					    &c->stmts[q], NULL);
		if (rc != SQLITE_OK) {
			log_error("cannot prepare query %d: %s", (int)q, sqlite3_errmsg(c->db));
			c->stmts[q] = NULL;
		}
	}
	return c->stmts[q];
}

static void done_stmt(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Runs a statement that returns no rows (or whose rows are ignored). */
static int exec_q(struct conn *c, enum query q)
{
	sqlite3_stmt *s = stmt(c, q);
	if (!s)
		return GH_EINTERNAL;
	int rc = sqlite3_step(s);
	done_stmt(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_fail(c, rc, query_sql[q]);
	return 0;
}

static void conn_close(struct conn *c)
{
	for (int i = 0; i < Q_COUNT; i++)
		if (c->stmts[i]) {
			sqlite3_finalize(c->stmts[i]);
			c->stmts[i] = NULL;
		}
	if (c->db) {
		sqlite3_close_v2(c->db);
		c->db = NULL;
	}
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

static int conn_open(struct store *st, struct conn *c, bool writer, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
	if (writer)
		flags |= SQLITE_OPEN_CREATE;
	int rc = sqlite3_open_v2(st->path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database '%s': %s", st->path,
			 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		conn_close(c);
		return GH_EUNAVAIL;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_handler(c->db, busy_wait, &st->opt.busy_timeout_ms);
	if (!writer || st->opt.operator_mode) {
		/* Only the daemon's writer checkpoints (see store.h). */
		sqlite3_db_config(c->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	}
	char pragmas[256];
	snprintf(pragmas, sizeof pragmas,
		 "PRAGMA foreign_keys=ON; PRAGMA synchronous=%s; PRAGMA temp_store=MEMORY;"
		 "PRAGMA cache_size=-8192;%s%s",
		 st->opt.sync_full ? "FULL" : "NORMAL",
		 writer ? "" : " PRAGMA query_only=1;",
		 (writer && st->opt.operator_mode) ? " PRAGMA wal_autocheckpoint=0;" : "");
	char *msg = NULL;
	rc = sqlite3_exec(c->db, pragmas, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot configure database '%s': %s", st->path,
			 msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		conn_close(c);
		return map_rc(rc);
	}
	return 0;
}

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
			if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
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

static int migrate(struct store *st, char *err, size_t errlen)
{
	sqlite3 *db = st->writer.db;
	char *msg = NULL;
	int rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot enable WAL on '%s': %s", st->path,
			 msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return map_rc(rc);
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
	if (version > store_schema_version()) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		snprintf(err, errlen, "database '%s' has schema version %d, newer than this "
			 "build's %d: use a newer gatehouse", st->path, version,
			 store_schema_version());
		return GH_EINTERNAL;
	}
	for (int v = version; v < store_schema_version(); v++) {
		rc = sqlite3_exec(db, migrations[v], NULL, NULL, &msg);
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
	snprintf(err, errlen, "cannot prepare schema of '%s': %s", st->path,
		 msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return map_rc(rc) ? map_rc(rc) : GH_EINTERNAL;
}

/* Notices commits by other processes (operator commands), at most once a second. */
static void check_data_version(struct store *st)
{
	uint64_t now = gh_mono_ns();
	if (now - st->last_version_check_ns < 1000000000ull)
		return;
	st->last_version_check_ns = now;
	sqlite3_stmt *s = stmt(&st->writer, Q_DATA_VERSION);
	if (!s)
		return;
	if (sqlite3_step(s) == SQLITE_ROW) {
		int64_t v = sqlite3_column_int64(s, 0);
		if (st->last_data_version && v != st->last_data_version)
			atomic_fetch_add(&st->external_gen, 1);
		st->last_data_version = v;
	}
	done_stmt(s);
}

/* BEGIN IMMEDIATE, each write in its savepoint (when several), COMMIT. */
static void run_transaction(struct store *st, struct write_op *batch, int n)
{
	struct conn *c = &st->writer;
	int rc = exec_q(c, Q_BEGIN);
	if (rc) {
		for (struct write_op *op = batch; op; op = op->next)
			op->rc = GH_EUNAVAIL;
		return;
	}
	bool aborted = false;
	for (struct write_op *op = batch; op; op = op->next) {
		if (aborted) {
			op->rc = GH_EUNAVAIL;
			continue;
		}
		if (n > 1 && exec_q(c, Q_SAVEPOINT)) {
			op->rc = GH_EUNAVAIL;
			continue;
		}
		op->rc = op->fn(c, op->arg);
		if (sqlite3_get_autocommit(c->db)) {
			/* SQLite rolled the whole transaction back (disk full, I/O). */
			aborted = true;
			for (struct write_op *p = batch; p != op->next; p = p->next)
				p->rc = p->rc < 0 ? p->rc : GH_EUNAVAIL;
			continue;
		}
		if (n > 1) {
			if (op->rc < 0)
				exec_q(c, Q_ROLLBACK_TO);
			exec_q(c, Q_RELEASE);
		} else if (op->rc < 0) {
			exec_q(c, Q_ROLLBACK);
			return;
		}
	}
	if (aborted)
		return;
	rc = exec_q(c, Q_COMMIT);
	if (rc) {
		/* A failed COMMIT (disk full, I/O) may have rolled back already. */
		if (!sqlite3_get_autocommit(c->db))
			exec_q(c, Q_ROLLBACK);
		for (struct write_op *op = batch; op; op = op->next)
			if (op->rc >= 0)
				op->rc = GH_EUNAVAIL;
	}
}

/* One writer batch: its transaction, timed for the metrics. */
static void run_batch(struct store *st, struct write_op *batch)
{
	int n = 0;
	for (struct write_op *op = batch; op; op = op->next)
		n++;
	uint64_t t0 = gh_mono_ns();
	run_transaction(st, batch, n);
	metrics_store_commit(gh_mono_ns() - t0, n);
}

static void *writer_main(void *arg)
{
	struct store *st = arg;
	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (!st->head && !st->stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&st->work, &st->lock, &ts);
			if (!st->head && !st->stopping) {
				pthread_mutex_unlock(&st->lock);
				check_data_version(st);
				pthread_mutex_lock(&st->lock);
			}
		}
		if (!st->head && st->stopping)
			break;
		struct write_op *batch = st->head;
		if (st->opt.group_commit) {
			st->head = st->tail = NULL;
		} else {
			st->head = batch->next;
			if (!st->head)
				st->tail = NULL;
			batch->next = NULL;
		}
		pthread_mutex_unlock(&st->lock);

		run_batch(st, batch);
		check_data_version(st);

		pthread_mutex_lock(&st->lock);
		for (struct write_op *op = batch; op; op = op->next)
			op->done = true;
		pthread_cond_broadcast(&st->done);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

/* Queues fn to run in a write transaction and waits for the commit. */
static int submit(struct store *st, int (*fn)(struct conn *, void *), void *arg)
{
	struct write_op op = { .fn = fn, .arg = arg, .rc = GH_EINTERNAL };
	pthread_mutex_lock(&st->lock);
	if (st->stopping) {
		pthread_mutex_unlock(&st->lock);
		return GH_EUNAVAIL;
	}
	if (st->tail)
		st->tail->next = &op;
	else
		st->head = &op;
	st->tail = &op;
	pthread_cond_signal(&st->work);
	while (!op.done)
		pthread_cond_wait(&st->done, &st->lock);
	pthread_mutex_unlock(&st->lock);
	return op.rc;
}

/* ---- the reader pool ---- */

static struct conn *reader_get(struct store *st)
{
	pthread_mutex_lock(&st->rlock);
	while (st->nfree == 0)
		pthread_cond_wait(&st->rfree, &st->rlock);
	int idx = st->free_idx[--st->nfree];
	pthread_mutex_unlock(&st->rlock);
	struct conn *c = &st->readers[idx];
	if (!c->db) {
		char err[256];
		if (conn_open(st, c, false, err, sizeof err)) {
			log_error("%s", err);
			pthread_mutex_lock(&st->rlock);
			st->free_idx[st->nfree++] = idx;
			pthread_cond_signal(&st->rfree);
			pthread_mutex_unlock(&st->rlock);
			return NULL;
		}
	}
	return c;
}

static void reader_put(struct store *st, struct conn *c)
{
	pthread_mutex_lock(&st->rlock);
	st->free_idx[st->nfree++] = (int)(c - st->readers);
	pthread_cond_signal(&st->rfree);
	pthread_mutex_unlock(&st->rlock);
}

/* ---- open / close ---- */

int store_open(const struct store_options *opt, struct store **out, char *err, size_t errlen)
{
	*out = NULL;
	int rc = make_parent_dir(opt->path, err, errlen);
	if (rc)
		return rc;
	struct store *st = xcalloc(1, sizeof *st);
	st->opt = *opt;
	st->path = xstrdup(opt->path);
	st->opt.path = st->path;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->work, NULL);
	pthread_cond_init(&st->done, NULL);
	pthread_mutex_init(&st->rlock, NULL);
	pthread_cond_init(&st->rfree, NULL);
	st->nreaders = opt->readers > 0 ? opt->readers : 4;
	st->readers = xcalloc((size_t)st->nreaders, sizeof *st->readers);
	st->free_idx = xcalloc((size_t)st->nreaders, sizeof *st->free_idx);
	for (int i = 0; i < st->nreaders; i++)
		st->free_idx[st->nfree++] = st->nreaders - 1 - i;

	rc = conn_open(st, &st->writer, true, err, errlen);
	if (rc)
		goto out_free;
	rc = migrate(st, err, errlen);
	if (rc)
		goto out_close;
	check_data_version(st);
	if (pthread_create(&st->writer_thread, NULL, writer_main, st) != 0) {
		snprintf(err, errlen, "cannot start the database writer thread");
		rc = GH_EINTERNAL;
		goto out_close;
	}
	*out = st;
	return 0;

out_close:
	conn_close(&st->writer);
out_free:
	free(st->readers);
	free(st->free_idx);
	free(st->path);
	free(st);
	return rc;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	st->stopping = true;
	pthread_cond_signal(&st->work);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->writer_thread, NULL);
	for (int i = 0; i < st->nreaders; i++)
		conn_close(&st->readers[i]);
	conn_close(&st->writer);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->work);
	pthread_cond_destroy(&st->done);
	pthread_mutex_destroy(&st->rlock);
	pthread_cond_destroy(&st->rfree);
	free(st->readers);
	free(st->free_idx);
	free(st->path);
	free(st);
}

uint64_t store_external_generation(struct store *st)
{
	return atomic_load(&st->external_gen);
}

static int ping_writer(struct conn *c, void *arg)
{
	(void)arg;
	return exec_q(c, Q_PING);
}

int store_ping(struct store *st)
{
	struct conn *c = reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int rc = exec_q(c, Q_PING);
	reader_put(st, c);
	if (rc)
		return GH_EUNAVAIL;
	return submit(st, ping_writer, NULL) ? GH_EUNAVAIL : 0;
}

/* ---- users ---- */

static void copy_text(char *dst, size_t cap, sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* A row of Q_USER_GET into out. */
static void read_user_row(sqlite3_stmt *s, const char *user_id, struct store_user *out)
{
	snprintf(out->user_id, sizeof out->user_id, "%s", user_id);
	if (sqlite3_column_type(s, 0) == SQLITE_BLOB && sqlite3_column_bytes(s, 0) == 32) {
		out->has_guest_secret = true;
		memcpy(out->guest_secret_hash, sqlite3_column_blob(s, 0), 32);
	}
	out->created_at = sqlite3_column_int64(s, 1);
	out->last_seen_at = sqlite3_column_int64(s, 2);
	out->banned_until = sqlite3_column_int64(s, 3);
}

int store_user_get(struct store *st, const char *user_id, struct store_user *out)
{
	memset(out, 0, sizeof *out);
	struct conn *c = reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int ret;
	sqlite3_stmt *s = stmt(c, Q_USER_GET);
	if (!s) {
		ret = GH_EINTERNAL;
		goto out;
	}
	sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		read_user_row(s, user_id, out);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = GH_ENOTFOUND;
	} else {
		ret = db_fail(c, rc, "user lookup");
	}
	done_stmt(s);
out:
	reader_put(st, c);
	return ret;
}

/*
 * store_user_session_get: the user row (Q_USER_GET's columns, so
 * read_user_row fits) and the liveness of one of its sessions, in one read
 * on a pooled reader connection. Self-contained: it needs only the query
 * Q_USER_SESSION_GET, reader_get/reader_put, stmt/done_stmt and db_fail.
 */
int store_user_session_get(struct store *st, const char *user_id, int64_t session_id,
			   struct store_user *out, bool *out_session_live)
{
	memset(out, 0, sizeof *out);
	*out_session_live = false;
	struct conn *c = reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int ret;
	sqlite3_stmt *s = stmt(c, Q_USER_SESSION_GET);
	if (!s) {
		ret = GH_EINTERNAL;
		goto out;
	}
	sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, session_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		read_user_row(s, user_id, out);
		*out_session_live = sqlite3_column_int(s, 4) != 0;
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = GH_ENOTFOUND;
	} else {
		ret = db_fail(c, rc, "user and session lookup");
	}
	done_stmt(s);
out:
	reader_put(st, c);
	return ret;
}

/* ---- sessions ---- */

/* Records activity (login, refresh) for guest clean-up, to the hour. */
static int touch_user(struct conn *c, const char *user_id, int64_t now)
{
	sqlite3_stmt *q = stmt(c, Q_USER_SEEN);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	int rc = sqlite3_step(q);
	done_stmt(q);
	return rc == SQLITE_DONE ? 0 : db_fail(c, rc, "user update");
}

struct session_create_op {
	const char *user_id;
	const unsigned char *secret_hash; /* non-NULL: create the guest user too */
	const struct store_session_new *s;
	int64_t session_id;
};

static int do_session_create(struct conn *c, void *arg)
{
	struct session_create_op *op = arg;
	const struct store_session_new *s = op->s;
	sqlite3_stmt *q;
	int rc;
	if (op->secret_hash) {
		q = stmt(c, Q_USER_INSERT);
		if (!q)
			return GH_EINTERNAL;
		sqlite3_bind_text(q, 1, op->user_id, -1, SQLITE_STATIC);
		sqlite3_bind_blob(q, 2, op->secret_hash, 32, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, s->now);
		rc = sqlite3_step(q);
		done_stmt(q);
		if (rc != SQLITE_DONE)
			return db_fail(c, rc, "user insert");
	} else {
		/* A vanished user shows up as the session's foreign-key failure below. */
		rc = touch_user(c, s->user_id, s->now);
		if (rc)
			return rc;
	}
	q = stmt(c, Q_SESSION_INSERT);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, s->user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, s->access_scope, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, s->jti, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, s->now);
	sqlite3_bind_int64(q, 5, s->expires_at);
	rc = sqlite3_step(q);
	done_stmt(q);
	if (rc != SQLITE_DONE) {
		int err = db_fail(c, rc, "session insert");
		/* A foreign-key failure means the user vanished meanwhile. */
		return err == GH_ECONFLICT ? GH_ENOTFOUND : err;
	}
	op->session_id = sqlite3_last_insert_rowid(c->db);
	return 0;
}

int store_guest_create(struct store *st, const char *user_id, const unsigned char secret_hash[32],
		       const struct store_session_new *s, int64_t *out_session_id)
{
	struct session_create_op op = { user_id, secret_hash, s, 0 };
	int rc = submit(st, do_session_create, &op);
	*out_session_id = op.session_id;
	return rc;
}

int store_session_create(struct store *st, const struct store_session_new *s,
			 int64_t *out_session_id)
{
	struct session_create_op op = { s->user_id, NULL, s, 0 };
	int rc = submit(st, do_session_create, &op);
	*out_session_id = op.session_id;
	return rc;
}

struct refresh_op {
	const struct store_refresh *r;
	struct store_refresh_result *out;
};

/* Ends one live session of user_id; *ended is 1, or 0 when it was not live. */
static int end_session(struct conn *c, int64_t sid, const char *user_id, int64_t now,
		       const char *reason, int64_t *ended)
{
	sqlite3_stmt *q = stmt(c, Q_SESSION_END);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_int64(q, 1, sid);
	sqlite3_bind_int64(q, 2, now);
	sqlite3_bind_text(q, 3, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, user_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	done_stmt(q);
	if (rc != SQLITE_DONE)
		return db_fail(c, rc, "session end");
	if (ended)
		*ended = sqlite3_changes(c->db);
	return 0;
}

/* Ends every live session of user_id; *ended counts them. */
static int end_all_sessions(struct conn *c, const char *user_id, int64_t now, const char *reason,
			    int64_t *ended)
{
	sqlite3_stmt *q = stmt(c, Q_SESSIONS_END_ALL);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	sqlite3_bind_text(q, 3, reason, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	done_stmt(q);
	if (rc != SQLITE_DONE)
		return db_fail(c, rc, "session end");
	if (ended)
		*ended = sqlite3_changes(c->db);
	return 0;
}

static bool text_eq(sqlite3_stmt *s, int col, const char *want)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	if (!t)
		return false;
	size_t n = (size_t)sqlite3_column_bytes(s, col);
	return n == strlen(want) && CRYPTO_memcmp(t, want, n) == 0;
}

static int do_refresh(struct conn *c, void *arg)
{
	struct refresh_op *op = arg;
	const struct store_refresh *r = op->r;
	struct store_refresh_result *out = op->out;
	sqlite3_stmt *q = stmt(c, Q_SESSION_GET);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_int64(q, 1, r->session_id);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_DONE) {
		done_stmt(q);
		out->outcome = REFRESH_INVALID;
		return 0;
	}
	if (rc != SQLITE_ROW) {
		done_stmt(q);
		return db_fail(c, rc, "session lookup");
	}
	bool user_ok = text_eq(q, 0, r->user_id);
	copy_text(out->access_scope, sizeof out->access_scope, q, 1);
	bool is_current = text_eq(q, 2, r->presented_jti);
	bool is_previous = text_eq(q, 3, r->presented_jti);
	int64_t rotated_at_ms = sqlite3_column_int64(q, 4);
	out->expires_at = sqlite3_column_int64(q, 5);
	bool ended = sqlite3_column_type(q, 6) != SQLITE_NULL;
	int64_t banned_until = sqlite3_column_int64(q, 7);
	done_stmt(q);

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
		q = stmt(c, Q_SESSION_ROTATE);
		out->outcome = REFRESH_ROTATED;
	} else if (is_previous && r->grace_ms > 0 && r->now_ms - rotated_at_ms <= r->grace_ms) {
		/* Lost response: issue a fresh token, spend the one issued last. */
		q = stmt(c, Q_SESSION_REISSUE);
		out->outcome = REFRESH_GRACE;
	} else {
		out->outcome = REFRESH_REUSED;
		return end_session(c, r->session_id, r->user_id, r->now, "reuse", NULL);
	}
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_int64(q, 1, r->session_id);
	sqlite3_bind_text(q, 2, r->new_jti, -1, SQLITE_STATIC);
	if (out->outcome == REFRESH_ROTATED)
		sqlite3_bind_int64(q, 3, r->now_ms);
	rc = sqlite3_step(q);
	done_stmt(q);
	if (rc != SQLITE_DONE)
		return db_fail(c, rc, "session rotate");
	return touch_user(c, r->user_id, r->now);
}

int store_session_refresh(struct store *st, const struct store_refresh *r,
			  struct store_refresh_result *out)
{
	memset(out, 0, sizeof *out);
	struct refresh_op op = { r, out };
	return submit(st, do_refresh, &op);
}

struct purge_op {
	int64_t cutoff;
	int64_t count;
};

static int do_purge(struct conn *c, void *arg)
{
	struct purge_op *op = arg;
	sqlite3_stmt *q = stmt(c, Q_SESSION_PURGE);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_int64(q, 1, op->cutoff);
	int rc = sqlite3_step(q);
	done_stmt(q);
	if (rc != SQLITE_DONE)
		return db_fail(c, rc, "session purge");
	op->count = sqlite3_changes(c->db);
	return 0;
}

int store_sessions_purge(struct store *st, int64_t cutoff, int64_t *out_count)
{
	struct purge_op op = { cutoff, 0 };
	int rc = submit(st, do_purge, &op);
	*out_count = op.count;
	return rc;
}

/* ---- accounts ---- */

struct end_op {
	int64_t session_id;        /* 0: every session of the user */
	const char *user_id;
	int64_t now;
	const char *reason;
	int64_t ended;
};

static int do_end(struct conn *c, void *arg)
{
	struct end_op *op = arg;
	if (op->session_id)
		return end_session(c, op->session_id, op->user_id, op->now, op->reason, &op->ended);
	return end_all_sessions(c, op->user_id, op->now, op->reason, &op->ended);
}

int store_session_end(struct store *st, int64_t session_id, const char *user_id, int64_t now,
		      const char *reason, int64_t *out_ended)
{
	struct end_op op = { session_id > 0 ? session_id : -1, user_id, now, reason, 0 };
	int rc = submit(st, do_end, &op);
	*out_ended = op.ended;
	return rc;
}

int store_sessions_end_all(struct store *st, const char *user_id, int64_t now,
			   const char *reason, int64_t *out_ended)
{
	struct end_op op = { 0, user_id, now, reason, 0 };
	int rc = submit(st, do_end, &op);
	*out_ended = op.ended;
	return rc;
}

static int do_user_delete(struct conn *c, void *arg)
{
	sqlite3_stmt *q = stmt(c, Q_USER_DELETE);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, arg, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	done_stmt(q);
	if (rc != SQLITE_DONE)
		return db_fail(c, rc, "user delete");
	return sqlite3_changes(c->db) ? 0 : GH_ENOTFOUND;
}

int store_user_delete(struct store *st, const char *user_id)
{
	return submit(st, do_user_delete, (void *)user_id);
}

struct ban_op {
	const char *user_id;
	int64_t banned_until, now;
	int64_t ended;
};

static int do_ban(struct conn *c, void *arg)
{
	struct ban_op *op = arg;
	sqlite3_stmt *q = stmt(c, Q_USER_BAN);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, op->user_id, -1, SQLITE_STATIC);
	if (op->banned_until > 0)
		sqlite3_bind_int64(q, 2, op->banned_until);
	else
		sqlite3_bind_null(q, 2);
	int rc = sqlite3_step(q);
	done_stmt(q);
	if (rc != SQLITE_DONE)
		return db_fail(c, rc, "user ban");
	if (sqlite3_changes(c->db) == 0)
		return GH_ENOTFOUND;
	if (op->banned_until > op->now)
		return end_all_sessions(c, op->user_id, op->now, "ban", &op->ended);
	return 0;
}

int store_user_set_ban(struct store *st, const char *user_id, int64_t banned_until, int64_t now,
		       int64_t *out_sessions_ended)
{
	struct ban_op op = { user_id, banned_until, now, 0 };
	int rc = submit(st, do_ban, &op);
	if (out_sessions_ended)
		*out_sessions_ended = op.ended;
	return rc;
}

void store_account_release(struct store_account *a)
{
	free(a->identities);
	free(a->sessions);
	for (size_t i = 0; i < a->ndocs; i++)
		free(a->docs[i].value);
	free(a->docs);
	memset(a, 0, sizeof *a);
}

/* The user's identities, and with full its sessions and documents too. */
static int read_account_rows(struct conn *c, const char *user_id, bool full,
			     struct store_account *a)
{
	sqlite3_stmt *q = stmt(c, Q_IDENTITIES_OF);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, user_id, -1, SQLITE_STATIC);
	int rc;
	size_t cap = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (a->nidentities == cap) {
			cap = cap ? cap * 2 : 4;
			a->identities = xrealloc(a->identities, cap * sizeof *a->identities);
		}
		struct store_identity *id = &a->identities[a->nidentities++];
		copy_text(id->provider, sizeof id->provider, q, 0);
		copy_text(id->subject, sizeof id->subject, q, 1);
	}
	done_stmt(q);
	if (rc != SQLITE_DONE)
		return db_fail(c, rc, "identity list");
	if (!full)
		return 0;

	q = stmt(c, Q_SESSIONS_OF);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, user_id, -1, SQLITE_STATIC);
	cap = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (a->nsessions == cap) {
			cap = cap ? cap * 2 : 8;
			a->sessions = xrealloc(a->sessions, cap * sizeof *a->sessions);
		}
		struct store_session_info *si = &a->sessions[a->nsessions++];
		si->session_id = sqlite3_column_int64(q, 0);
		si->created_at = sqlite3_column_int64(q, 1);
		si->expires_at = sqlite3_column_int64(q, 2);
		si->ended_at = sqlite3_column_int64(q, 3);
	}
	done_stmt(q);
	if (rc != SQLITE_DONE)
		return db_fail(c, rc, "session list");

	q = stmt(c, Q_DOCS_OF);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, user_id, -1, SQLITE_STATIC);
	cap = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (a->ndocs == cap) {
			cap = cap ? cap * 2 : 8;
			a->docs = xrealloc(a->docs, cap * sizeof *a->docs);
		}
		struct store_doc_entry *d = &a->docs[a->ndocs++];
		copy_text(d->key, sizeof d->key, q, 0);
		d->version = sqlite3_column_int64(q, 1);
		d->updated_at = sqlite3_column_int64(q, 2);
		d->len = (size_t)sqlite3_column_bytes(q, 3);
		d->value = xmalloc(d->len + 1);
		if (d->len)
			memcpy(d->value, sqlite3_column_blob(q, 3), d->len);
		d->value[d->len] = '\0';
	}
	done_stmt(q);
	return rc == SQLITE_DONE ? 0 : db_fail(c, rc, "document list");
}

int store_account_get(struct store *st, const char *user_id, int64_t now, bool full,
		      struct store_account *out)
{
	memset(out, 0, sizeof *out);
	struct conn *c = reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	/* One read transaction: the parts agree with each other. */
	int ret = exec_q(c, Q_READ_BEGIN);
	if (ret)
		goto out;
	sqlite3_stmt *q = stmt(c, Q_USER_GET);
	if (!q) {
		ret = GH_EINTERNAL;
		goto out_end;
	}
	sqlite3_bind_text(q, 1, user_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		read_user_row(q, user_id, &out->user);
	done_stmt(q);
	if (rc != SQLITE_ROW) {
		ret = rc == SQLITE_DONE ? GH_ENOTFOUND : db_fail(c, rc, "user lookup");
		goto out_end;
	}
	q = stmt(c, Q_SESSIONS_LIVE);
	if (!q) {
		ret = GH_EINTERNAL;
		goto out_end;
	}
	sqlite3_bind_text(q, 1, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	rc = sqlite3_step(q);
	out->live_sessions = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
	done_stmt(q);
	ret = rc == SQLITE_ROW ? read_account_rows(c, user_id, full, out)
			       : db_fail(c, rc, "session count");
out_end:
	exec_q(c, Q_READ_END);
out:
	reader_put(st, c);
	if (ret)
		store_account_release(out);
	return ret;
}

int store_counts(struct store *st, int64_t now, int64_t *out_users, int64_t *out_sessions)
{
	struct conn *c = reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int ret = 0;
	sqlite3_stmt *q = stmt(c, Q_COUNT_USERS);
	if (!q || sqlite3_step(q) != SQLITE_ROW) {
		ret = GH_EUNAVAIL;
	} else {
		*out_users = sqlite3_column_int64(q, 0);
	}
	if (q)
		done_stmt(q);
	q = ret ? NULL : stmt(c, Q_COUNT_SESSIONS);
	if (q) {
		sqlite3_bind_int64(q, 1, now);
		if (sqlite3_step(q) == SQLITE_ROW)
			*out_sessions = sqlite3_column_int64(q, 0);
		else
			ret = GH_EUNAVAIL;
		done_stmt(q);
	}
	reader_put(st, c);
	return ret;
}

struct cleanup_op {
	int64_t idle_before;
	int limit;
	int64_t deleted;
};

static int do_cleanup(struct conn *c, void *arg)
{
	struct cleanup_op *op = arg;
	sqlite3_stmt *q = stmt(c, Q_GUEST_CLEANUP);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_int64(q, 1, op->idle_before);
	sqlite3_bind_int(q, 2, op->limit);
	int rc = sqlite3_step(q);
	done_stmt(q);
	if (rc != SQLITE_DONE)
		return db_fail(c, rc, "guest clean-up");
	op->deleted = sqlite3_changes(c->db);
	return 0;
}

int store_guests_cleanup(struct store *st, int64_t idle_before, int limit, int64_t *out_deleted)
{
	struct cleanup_op op = { idle_before, limit, 0 };
	int rc = submit(st, do_cleanup, &op);
	*out_deleted = op.deleted;
	return rc;
}

/* ---- platform identities ---- */

struct platform_op {
	const struct store_platform_login *in;
	struct store_platform_result *out;
};

static int identity_owner(struct conn *c, const char *provider, const char *subject,
			  char owner[37], bool *found)
{
	sqlite3_stmt *q = stmt(c, Q_IDENTITY_GET);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, provider, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, subject, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	*found = rc == SQLITE_ROW;
	if (*found)
		copy_text(owner, 37, q, 0);
	done_stmt(q);
	return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : db_fail(c, rc, "identity lookup");
}

static int identity_link(struct conn *c, const char *provider, const char *subject,
			 const char *user_id, int64_t now)
{
	/* One id per provider and user: relinking replaces the old mapping. */
	sqlite3_stmt *q = stmt(c, Q_IDENTITY_DELETE);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, provider, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	done_stmt(q);
	if (rc != SQLITE_DONE)
		return db_fail(c, rc, "identity unlink");
	q = stmt(c, Q_IDENTITY_INSERT);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, provider, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, now);
	rc = sqlite3_step(q);
	done_stmt(q);
	if (rc != SQLITE_DONE) {
		int err = db_fail(c, rc, "identity link");
		/* A foreign-key failure: the user to link to is gone. */
		return err == GH_ECONFLICT ? GH_ENOTFOUND : err;
	}
	return 0;
}

static int do_platform_login(struct conn *c, void *arg)
{
	struct platform_op *op = arg;
	const struct store_platform_login *in = op->in;
	struct store_platform_result *out = op->out;
	char owner[37];
	bool mapped;
	int rc = identity_owner(c, in->provider, in->subject, owner, &mapped);
	if (rc)
		return rc;
	if (mapped) {
		/* The platform id already belongs to someone: it logs in as them. */
		if (in->link_user_id && in->reject_conflict && strcmp(owner, in->link_user_id)) {
			out->outcome = PLATFORM_LOGIN_CONFLICT;
			return 0;
		}
		snprintf(out->user_id, sizeof out->user_id, "%s", owner);
	} else if (in->link_requested) {
		if (!in->link_user_id) {
			out->outcome = PLATFORM_LOGIN_LINK_FAILED;
			return 0;
		}
		rc = identity_link(c, in->provider, in->subject, in->link_user_id, in->now);
		if (rc == GH_ENOTFOUND) {
			out->outcome = PLATFORM_LOGIN_LINK_FAILED;
			return 0;
		}
		if (rc)
			return rc;
		snprintf(out->user_id, sizeof out->user_id, "%s", in->link_user_id);
		out->linked = true;
	} else {
		/* A new user known only by this platform id (no guest secret). */
		sqlite3_stmt *q = stmt(c, Q_USER_INSERT);
		if (!q)
			return GH_EINTERNAL;
		sqlite3_bind_text(q, 1, in->new_user_id, -1, SQLITE_STATIC);
		sqlite3_bind_null(q, 2);
		sqlite3_bind_int64(q, 3, in->now);
		rc = sqlite3_step(q);
		done_stmt(q);
		if (rc != SQLITE_DONE)
			return db_fail(c, rc, "user insert");
		rc = identity_link(c, in->provider, in->subject, in->new_user_id, in->now);
		if (rc)
			return rc;
		snprintf(out->user_id, sizeof out->user_id, "%s", in->new_user_id);
		out->created = true;
	}
	sqlite3_stmt *q = stmt(c, Q_USER_GET);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, out->user_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	int64_t banned_until = rc == SQLITE_ROW ? sqlite3_column_int64(q, 3) : 0;
	done_stmt(q);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? GH_ENOTFOUND : db_fail(c, rc, "user lookup");
	if (banned_until > in->now) {
		/* Nothing of this attempt stays: the savepoint is rolled back. */
		out->outcome = PLATFORM_LOGIN_BANNED;
		return GH_EBANNED;
	}
	struct store_session_new s = { .user_id = out->user_id, .access_scope = "authenticated",
				       .jti = in->jti, .now = in->now,
				       .expires_at = in->expires_at };
	struct session_create_op sop = { out->user_id, NULL, &s, 0 };
	rc = do_session_create(c, &sop);
	out->session_id = sop.session_id;
	out->outcome = PLATFORM_LOGIN_OK;
	return rc;
}

int store_platform_login(struct store *st, const struct store_platform_login *in,
			 struct store_platform_result *out)
{
	memset(out, 0, sizeof *out);
	struct platform_op op = { in, out };
	int rc = submit(st, do_platform_login, &op);
	if (rc == GH_EBANNED && out->outcome == PLATFORM_LOGIN_BANNED)
		return 0;
	return rc;
}

struct unlink_op {
	const char *user_id, *provider;
	int outcome;
};

static int do_unlink(struct conn *c, void *arg)
{
	struct unlink_op *op = arg;
	sqlite3_stmt *q = stmt(c, Q_USER_GET);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, op->user_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	bool has_secret = rc == SQLITE_ROW && sqlite3_column_type(q, 0) == SQLITE_BLOB;
	done_stmt(q);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? GH_ENOTFOUND : db_fail(c, rc, "user lookup");
	q = stmt(c, Q_IDENTITY_COUNT);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, op->user_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	int64_t ids = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
	done_stmt(q);
	if (rc != SQLITE_ROW)
		return db_fail(c, rc, "identity count");
	q = stmt(c, Q_IDENTITY_DELETE);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, op->user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, op->provider, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	done_stmt(q);
	if (rc != SQLITE_DONE)
		return db_fail(c, rc, "identity unlink");
	if (sqlite3_changes(c->db) == 0) {
		op->outcome = UNLINK_NOT_LINKED;
		return 0;
	}
	if (ids <= 1 && !has_secret) {
		/* The last way to log in: keep it (the savepoint undoes the delete). */
		op->outcome = UNLINK_LAST_METHOD;
		return GH_ECONFLICT;
	}
	op->outcome = UNLINK_DONE;
	return 0;
}

int store_identity_unlink(struct store *st, const char *user_id, const char *provider,
			  int *out_outcome)
{
	struct unlink_op op = { user_id, provider, 0 };
	int rc = submit(st, do_unlink, &op);
	*out_outcome = op.outcome;
	if (rc == GH_ECONFLICT && op.outcome == UNLINK_LAST_METHOD)
		return 0;
	return rc;
}

/* ---- signing keys ---- */

int store_keys_list(struct store *st, struct store_key **out, size_t *out_n)
{
	*out = NULL;
	*out_n = 0;
	struct conn *c = reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int ret = 0;
	size_t n = 0, cap = 0;
	struct store_key *keys = NULL;
	sqlite3_stmt *s = stmt(c, Q_KEYS_LIST);
	if (!s) {
		ret = GH_EINTERNAL;
		goto out;
	}
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			keys = xrealloc(keys, cap * sizeof *keys);
		}
		struct store_key *k = &keys[n++];
		memset(k, 0, sizeof *k);
		copy_text(k->kid, sizeof k->kid, s, 0);
		copy_text(k->use, sizeof k->use, s, 1);
		copy_text(k->alg, sizeof k->alg, s, 2);
		k->material_len = (size_t)sqlite3_column_bytes(s, 3);
		k->material = xmalloc(k->material_len + 1);
		if (k->material_len)
			memcpy(k->material, sqlite3_column_blob(s, 3), k->material_len);
		k->material[k->material_len] = '\0';
		k->created_at = sqlite3_column_int64(s, 4);
		k->activate_at = sqlite3_column_int64(s, 5);
	}
	if (rc != SQLITE_DONE)
		ret = db_fail(c, rc, "key list");
	done_stmt(s);
out:
	reader_put(st, c);
	if (ret) {
		store_keys_free(keys, n);
		return ret;
	}
	*out = keys;
	*out_n = n;
	return 0;
}

void store_keys_free(struct store_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		OPENSSL_cleanse(keys[i].material, keys[i].material_len);
		free(keys[i].material);
	}
	free(keys);
}

static int do_key_insert(struct conn *c, void *arg)
{
	const struct store_key *k = arg;
	sqlite3_stmt *q = stmt(c, Q_KEY_INSERT);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, k->kid, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, k->use, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, k->alg, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 4, k->material, (int)k->material_len, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, k->created_at);
	sqlite3_bind_int64(q, 6, k->activate_at);
	int rc = sqlite3_step(q);
	done_stmt(q);
	return rc == SQLITE_DONE ? 0 : db_fail(c, rc, "key insert");
}

int store_key_insert(struct store *st, const struct store_key *key)
{
	return submit(st, do_key_insert, (void *)key);
}

static int do_key_delete(struct conn *c, void *arg)
{
	sqlite3_stmt *q = stmt(c, Q_KEY_DELETE);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, arg, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	done_stmt(q);
	return rc == SQLITE_DONE ? 0 : db_fail(c, rc, "key delete");
}

int store_key_delete(struct store *st, const char *kid)
{
	return submit(st, do_key_delete, (void *)kid);
}

/* ---- player data ---- */

int store_doc_get(struct store *st, const char *user_id, const char *key,
		  struct store_document *out)
{
	memset(out, 0, sizeof *out);
	struct conn *c = reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int ret;
	sqlite3_stmt *s = stmt(c, Q_DOC_GET);
	if (!s) {
		ret = GH_EINTERNAL;
		goto out;
	}
	sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->len = (size_t)sqlite3_column_bytes(s, 0);
		out->value = xmalloc(out->len + 1);
		if (out->len)
			memcpy(out->value, sqlite3_column_blob(s, 0), out->len);
		out->value[out->len] = '\0';
		out->version = sqlite3_column_int64(s, 1);
		out->updated_at = sqlite3_column_int64(s, 2);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = GH_ENOTFOUND;
	} else {
		ret = db_fail(c, rc, "document read");
	}
	done_stmt(s);
out:
	reader_put(st, c);
	return ret;
}

/* The version and size of a stored document; *found false when absent. */
static int doc_head(struct conn *c, const char *user_id, const char *key, bool *found,
		    int64_t *version, int64_t *len)
{
	sqlite3_stmt *q = stmt(c, Q_DOC_GET);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	*found = rc == SQLITE_ROW;
	if (*found) {
		*len = sqlite3_column_bytes(q, 0);
		*version = sqlite3_column_int64(q, 1);
	} else {
		*len = *version = 0;
	}
	done_stmt(q);
	return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : db_fail(c, rc, "document read");
}

struct usage {
	int64_t seq, keys, bytes;
};

static int usage_get(struct conn *c, const char *user_id, struct usage *u)
{
	sqlite3_stmt *q = stmt(c, Q_DOC_USAGE);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, user_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		u->seq = sqlite3_column_int64(q, 0);
		u->keys = sqlite3_column_int64(q, 1);
		u->bytes = sqlite3_column_int64(q, 2);
	}
	done_stmt(q);
	if (rc == SQLITE_DONE)
		return GH_ENOTFOUND;
	return rc == SQLITE_ROW ? 0 : db_fail(c, rc, "usage read");
}

static int usage_set(struct conn *c, const char *user_id, const struct usage *u)
{
	sqlite3_stmt *q = stmt(c, Q_DOC_USAGE_SET);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, u->seq);
	sqlite3_bind_int64(q, 3, u->keys);
	sqlite3_bind_int64(q, 4, u->bytes);
	int rc = sqlite3_step(q);
	done_stmt(q);
	return rc == SQLITE_DONE ? 0 : db_fail(c, rc, "usage update");
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

struct doc_write_op {
	const char *user_id;
	const struct store_doc_write *w;
	size_t n;
	int64_t now;
	struct store_doc_limits lim;
	struct store_doc_result *out;
	size_t failed;
};

/*
 * All the writes, or (returning an error, so the savepoint rolls back)
 * none: each precondition checked against the current state, versions
 * taken from the user's sequence, quotas checked as the batch goes.
 */
static int do_doc_write(struct conn *c, void *arg)
{
	struct doc_write_op *op = arg;
	struct usage u;
	int rc = usage_get(c, op->user_id, &u);
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
		sqlite3_stmt *q = stmt(c, Q_DOC_UPSERT);
		if (!q)
			return GH_EINTERNAL;
		sqlite3_bind_text(q, 1, op->user_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, w->key, -1, SQLITE_STATIC);
		sqlite3_bind_blob(q, 3, w->value, (int)w->len, SQLITE_STATIC);
		sqlite3_bind_int64(q, 4, ++u.seq);
		sqlite3_bind_int64(q, 5, op->now);
		rc = sqlite3_step(q);
		done_stmt(q);
		if (rc != SQLITE_DONE)
			return db_fail(c, rc, "document write");
		r->version = u.seq;
		r->updated_at = op->now;
		r->created = !found;
	}
	return usage_set(c, op->user_id, &u);
}

int store_doc_write(struct store *st, const char *user_id, const struct store_doc_write *w,
		    size_t n, int64_t now, const struct store_doc_limits *lim,
		    struct store_doc_result *out, size_t *out_failed)
{
	memset(out, 0, n * sizeof *out);
	for (size_t i = 0; i < n; i++)
		if (w[i].len > INT_MAX)
			return GH_ETOOBIG;
	struct doc_write_op op = { user_id, w, n, now, { 0, 0 }, out, 0 };
	if (lim)
		op.lim = *lim;
	int rc = submit(st, do_doc_write, &op);
	if (out_failed)
		*out_failed = op.failed;
	return rc;
}

struct doc_delete_op {
	const char *user_id, *key;
	int64_t if_version;        /* -1: unconditional; 0: any version; else exact */
	int64_t current;
};

static int do_doc_delete(struct conn *c, void *arg)
{
	struct doc_delete_op *op = arg;
	bool found;
	int64_t version, len;
	int rc = doc_head(c, op->user_id, op->key, &found, &version, &len);
	if (rc)
		return rc;
	op->current = found ? version : 0;
	if (op->if_version >= 0 && (!found || (op->if_version && op->if_version != version)))
		return GH_EPRECOND;
	if (!found)
		return GH_ENOTFOUND;
	struct usage u;
	rc = usage_get(c, op->user_id, &u);
	if (rc)
		return rc;
	sqlite3_stmt *q = stmt(c, Q_DOC_DELETE);
	if (!q)
		return GH_EINTERNAL;
	sqlite3_bind_text(q, 1, op->user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, op->key, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	done_stmt(q);
	if (rc != SQLITE_DONE)
		return db_fail(c, rc, "document delete");
	u.keys--;
	u.bytes -= len;
	return usage_set(c, op->user_id, &u);
}

int store_doc_delete(struct store *st, const char *user_id, const char *key, int64_t if_version,
		     int64_t *out_current)
{
	struct doc_delete_op op = { user_id, key, if_version, 0 };
	int rc = submit(st, do_doc_delete, &op);
	if (out_current)
		*out_current = op.current;
	return rc;
}

int store_doc_list(struct store *st, const char *user_id, const char *after, int limit,
		   struct store_doc_info **out, size_t *out_n)
{
	*out = NULL;
	*out_n = 0;
	struct conn *c = reader_get(st);
	if (!c)
		return GH_EUNAVAIL;
	int ret = 0;
	sqlite3_stmt *q = stmt(c, Q_DOC_LIST);
	if (!q) {
		ret = GH_EINTERNAL;
		goto out;
	}
	struct store_doc_info *items = xcalloc((size_t)(limit > 0 ? limit : 1), sizeof *items);
	sqlite3_bind_text(q, 1, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, after ? after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 3, limit);
	int rc;
	size_t n = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && n < (size_t)limit) {
		copy_text(items[n].key, sizeof items[n].key, q, 0);
		items[n].version = sqlite3_column_int64(q, 1);
		items[n].size = sqlite3_column_int64(q, 2);
		items[n].updated_at = sqlite3_column_int64(q, 3);
		n++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		ret = db_fail(c, rc, "document list");
		free(items);
	} else {
		*out = items;
		*out_n = n;
	}
	done_stmt(q);
out:
	reader_put(st, c);
	return ret;
}

/* ---- backups and checks ---- */

/* fsyncs a file or directory by path. */
static int fsync_path(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* PRAGMA integrity_check on db: 0 when "ok", else the first problem in err. */
static int integrity(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int ret = GH_EINTERNAL;
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return GH_EUNAVAIL;
	}
	int rc = sqlite3_step(q);
	const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(q, 0) : NULL;
	if (t && strcmp((const char *)t, "ok") == 0)
		ret = 0;
	else
		snprintf(err, errlen, "integrity check: %s",
			 t ? (const char *)t : sqlite3_errmsg(db));
	sqlite3_finalize(q);
	return ret;
}

int store_backup(struct store *st, const char *dest, char *err, size_t errlen)
{
	if (access(dest, F_OK) == 0) {
		snprintf(err, errlen, "'%s' exists: a backup never overwrites a file", dest);
		return GH_ECONFLICT;
	}
	char *tmp = xasprintf("%s.tmp-%ld", dest, (long)getpid());
	unlink(tmp);
	sqlite3 *db = NULL, *copy = NULL;
	sqlite3_stmt *q = NULL;
	int ret = GH_EUNAVAIL;
	/* A connection of its own, outside any transaction, that never checkpoints. */
	if (sqlite3_open_v2(st->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open '%s': %s", st->path, sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_busy_timeout(db, (int)st->opt.busy_timeout_ms);
	/* VACUUM INTO copies one consistent snapshot, however busy the writer. */
	if (sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(q, 1, tmp, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_DONE) {
		snprintf(err, errlen, "cannot copy the database to '%s': %s", tmp,
			 sqlite3_errmsg(db));
		goto out;
	}
	if (fsync_path(tmp, false) != 0) {
		snprintf(err, errlen, "cannot fsync '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (sqlite3_open_v2(tmp, &copy, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open the copy '%s'", tmp);
		goto out;
	}
	ret = integrity(copy, err, errlen);
	if (ret)
		goto out;
	if (rename(tmp, dest) != 0) {
		snprintf(err, errlen, "cannot rename '%s' to '%s': %s", tmp, dest, strerror(errno));
		ret = GH_EUNAVAIL;
		goto out;
	}
	char *dir = xstrdup(dest);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	fsync_path(slash ? dir : ".", true);
	free(dir);
out:
	sqlite3_finalize(q);
	sqlite3_close_v2(db);
	sqlite3_close_v2(copy);
	if (ret)
		unlink(tmp);
	free(tmp);
	return ret;
}

int store_check_file(const char *path, struct strbuf *report)
{
	sqlite3 *db = NULL;
	char err[512];
	int ret = GH_EUNAVAIL;
	if (access(path, R_OK) != 0) {
		sb_addf(report, "cannot read '%s': %s", path, strerror(errno));
		return GH_EUNAVAIL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sb_addf(report, "cannot open '%s': %s", path, sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	ret = integrity(db, err, sizeof err);
	if (ret) {
		sb_addf(report, "%s", err);
		goto out;
	}
	static const char *const checks[][2] = {
		{ "schema version", "SELECT max(version) FROM schema_version" },
		{ "users", "SELECT count(*) FROM users" },
		{ "sessions", "SELECT count(*) FROM sessions" },
		{ "player documents", "SELECT count(*) FROM player_data" },
		{ "signing keys", "SELECT count(*) FROM signing_keys" },
		{ "foreign-key problems", "SELECT count(*) FROM pragma_foreign_key_check" },
	};
	sb_addf(report, "ok: integrity check passed");
	for (size_t i = 0; i < GH_ARRAY_SIZE(checks); i++) {
		sqlite3_stmt *q = NULL;
		if (sqlite3_prepare_v2(db, checks[i][1], -1, &q, NULL) != SQLITE_OK ||
		    sqlite3_step(q) != SQLITE_ROW) {
			sb_reset(report);
			sb_addf(report, "not a gatehouse database (%s): %s", checks[i][0],
				sqlite3_errmsg(db));
			sqlite3_finalize(q);
			ret = GH_EINTERNAL;
			goto out;
		}
		long long v = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
		if (i == GH_ARRAY_SIZE(checks) - 1 && v) {
			sb_reset(report);
			sb_addf(report, "%lld foreign-key problems", v);
			ret = GH_EINTERNAL;
			goto out;
		}
		if (i + 1 < GH_ARRAY_SIZE(checks))
			sb_addf(report, ", %s %lld", checks[i][0], v);
	}
out:
	sqlite3_close_v2(db);
	return ret;
}
