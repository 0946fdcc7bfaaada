/*
 * sqlite_admin.c - the SQLite back end's file-level operations for the
 * operator: the schema version of a file read without changing it
 * (migrate --status), and restore (a checked copy of a backup swapped in
 * for the database, the old file and its -wal and -shm kept aside).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gatehouse/alloc.h"
#include "gatehouse/errors.h"
#include "gatehouse/strbuf.h"
#include "sqlite_int.h"

/* The companions SQLite keeps beside a database, moved with it. */
static const char *const companions[] = { "-wal", "-shm", "-journal" };

int store_sqlite_file_version(const char *path, int *out, char *err, size_t errlen)
{
	*out = 0;
	struct stat sb;
	if (stat(path, &sb) != 0) {
		snprintf(err, errlen, "no database at '%s': %s", path, strerror(errno));
		return errno == ENOENT ? GH_ENOTFOUND : GH_EUNAVAIL;
	}
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int ret = GH_EINTERNAL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open '%s': %s", path, sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &q, NULL) !=
	    SQLITE_OK || sqlite3_step(q) != SQLITE_ROW) {
		snprintf(err, errlen, "cannot read '%s': %s", path, sqlite3_errmsg(db));
		goto out;
	}
	bool empty = sqlite3_column_int64(q, 0) == 0;
	sqlite3_finalize(q);
	q = NULL;
	if (empty) {
		ret = 0;
		goto out;
	}
	if (sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &q, NULL) !=
	    SQLITE_OK || sqlite3_step(q) != SQLITE_ROW) {
		snprintf(err, errlen, "'%s' is not a gatehouse database: %s", path,
			 sqlite3_errmsg(db));
		goto out;
	}
	*out = sqlite3_column_int(q, 0);
	ret = 0;
out:
	sqlite3_finalize(q);
	sqlite3_close_v2(db);
	return ret;
}

static void sync_parent(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	store_sqlite_fsync_path(slash ? dir : ".", true);
	free(dir);
}

/* One consistent copy of from (its WAL included) at tmp, fsynced and checked. */
static int copy_in(const char *from, const char *tmp, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int ret = GH_EUNAVAIL;
	/* The database to be holds the signing keys: owner-only whatever the
	 * umask (VACUUM INTO fills an empty file, keeping its mode). */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", tmp, strerror(errno));
		return GH_EUNAVAIL;
	}
	close(fd);
	if (sqlite3_open_v2(from, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open '%s': %s", from, sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(q, 1, tmp, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_DONE) {
		snprintf(err, errlen, "cannot copy '%s' to '%s': %s", from, tmp,
			 sqlite3_errmsg(db));
		goto out;
	}
	if (store_sqlite_fsync_path(tmp, false) != 0) {
		snprintf(err, errlen, "cannot fsync '%s': %s", tmp, strerror(errno));
		goto out;
	}
	struct strbuf report = STRBUF_INIT;
	ret = store_sqlite_check_file(tmp, &report);
	if (ret)
		snprintf(err, errlen, "the copy '%s' fails its check: %s", tmp,
			 report.buf ? report.buf : "");
	sb_release(&report);
out:
	sqlite3_finalize(q);
	sqlite3_close_v2(db);
	return ret;
}

/* "<path>.before-restore-<UTC time>", with a counter when that exists. */
static char *aside_name(const char *path)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	char *name = xasprintf("%s.before-restore-%s", path, stamp);
	for (int n = 2; access(name, F_OK) == 0 && n < 1000; n++) {
		free(name);
		name = xasprintf("%s.before-restore-%s-%d", path, stamp, n);
	}
	return name;
}

/* Renames the database and its companions to aside (+ the same suffixes); -1 undoes. */
static int move_aside(const char *path, const char *aside, char *err, size_t errlen)
{
	const char *names[1 + GH_ARRAY_SIZE(companions)] = { "" };
	for (size_t i = 0; i < GH_ARRAY_SIZE(companions); i++)
		names[i + 1] = companions[i];
	size_t moved = 0;
	int ret = 0;
	for (; moved < GH_ARRAY_SIZE(names); moved++) {
		char *a = xasprintf("%s%s", path, names[moved]);
		char *b = xasprintf("%s%s", aside, names[moved]);
		int rc = rename(a, b);
		int e = errno;
		if (rc != 0 && e != ENOENT) {
			snprintf(err, errlen, "cannot move '%s' aside to '%s': %s", a, b,
				 strerror(e));
			ret = GH_EUNAVAIL;
		}
		free(a);
		free(b);
		if (ret)
			break;
	}
	if (ret) {
		/* Put back what moved: the database stays as it was. */
		while (moved-- > 0) {
			char *a = xasprintf("%s%s", path, names[moved]);
			char *b = xasprintf("%s%s", aside, names[moved]);
			if (access(b, F_OK) == 0)
				rename(b, a);
			free(a);
			free(b);
		}
	}
	return ret;
}

int store_sqlite_restore(void *ctxp, const char *from, char *kept_aside, size_t kept_len,
			 char *err, size_t errlen)
{
	const struct sqlite_ctx *ctx = ctxp;
	char *tmp = xasprintf("%s.restore-%ld", ctx->path, (long)getpid());
	char *aside = NULL;
	unlink(tmp);
	int ret = copy_in(from, tmp, err, errlen);
	if (ret)
		goto out;
	struct stat sb;
	bool had_db = stat(ctx->path, &sb) == 0;
	bool had_companion = false;
	for (size_t i = 0; i < GH_ARRAY_SIZE(companions); i++) {
		char *c = xasprintf("%s%s", ctx->path, companions[i]);
		had_companion |= access(c, F_OK) == 0;
		free(c);
	}
	if (had_db || had_companion) {
		aside = aside_name(ctx->path);
		ret = move_aside(ctx->path, aside, err, errlen);
		if (ret)
			goto out;
		snprintf(kept_aside, kept_len, "%s", aside);
	}
	if (rename(tmp, ctx->path) != 0) {
		snprintf(err, errlen, "cannot rename '%s' to '%s': %s", tmp, ctx->path,
			 strerror(errno));
		ret = GH_EUNAVAIL;
		if (aside) {
			char e2[8];
			move_aside(aside, ctx->path, e2, sizeof e2);
			if (kept_len)
				kept_aside[0] = '\0';
		}
		goto out;
	}
	sync_parent(ctx->path);
out:
	if (ret)
		unlink(tmp);
	free(tmp);
	free(aside);
	return ret;
}
