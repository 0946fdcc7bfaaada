/*
 * sqlite_backup.c - the SQLite back end's backup (VACUUM INTO a
 * temporary file, fsync, integrity check, rename) and check-db
 * (integrity, foreign keys, that the file is a gatehouse database).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatehouse/errors.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "sqlite_int.h"

int store_sqlite_fsync_path(const char *path, bool dir)
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

int store_sqlite_backup(void *ctxp, const char *dest, char *err, size_t errlen)
{
	const struct sqlite_ctx *ctx = ctxp;
	if (access(dest, F_OK) == 0) {
		snprintf(err, errlen, "'%s' exists: a backup never overwrites a file", dest);
		return GH_ECONFLICT;
	}
	char *tmp = xasprintf("%s.tmp-%ld", dest, (long)getpid());
	unlink(tmp);
	sqlite3 *db = NULL, *copy = NULL;
	sqlite3_stmt *q = NULL;
	int ret = GH_EUNAVAIL;
	/*
	 * The copy holds the signing keys: owner-only whatever the umask. VACUUM
	 * INTO fills an empty file, keeping its mode.
	 */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", tmp, strerror(errno));
		free(tmp);
		return GH_EUNAVAIL;
	}
	close(fd);
	/* A connection of its own, outside any transaction, that never checkpoints. */
	if (sqlite3_open_v2(ctx->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open '%s': %s", ctx->path, sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_busy_timeout(db, (int)ctx->busy_timeout_ms);
	/* VACUUM INTO copies one consistent snapshot, however busy the writer. */
	if (sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(q, 1, tmp, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_DONE) {
		snprintf(err, errlen, "cannot copy the database to '%s': %s", tmp,
			 sqlite3_errmsg(db));
		goto out;
	}
	if (store_sqlite_fsync_path(tmp, false) != 0) {
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
	store_sqlite_fsync_path(slash ? dir : ".", true);
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

/* Says which of path, -wal, -shm others can read or write, and the fix. */
static void loose_modes(const char *path, struct strbuf *report)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < GH_ARRAY_SIZE(suffixes); i++) {
		char *f = xasprintf("%s%s", path, suffixes[i]);
		struct stat sb;
		if (stat(f, &sb) == 0 && (sb.st_mode & 077))
			sb_addf(report, "; warning: '%s' has mode %03o: other users can read the "
				"signing keys (fix: chmod 600 '%s')", f,
				(unsigned)(sb.st_mode & 0777), f);
		free(f);
	}
}

int store_sqlite_check_file(const char *path, struct strbuf *report)
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
	loose_modes(path, report);
out:
	sqlite3_close_v2(db);
	return ret;
}
