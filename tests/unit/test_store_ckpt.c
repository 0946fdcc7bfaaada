/*
 * test_store_ckpt.c - the daemon writer's checkpoints (sqlite_ckpt.c),
 * seen from below: a VFS wrapped around SQLite's own records every write
 * and fsync of the database file and every write of the WAL's header,
 * and makes each fsync of the database file slow (10 ms), so that many
 * commits land while one runs.
 *
 * What must hold, whatever the timing: the WAL is never reset (its header
 * rewritten) while a page the checkpoint copied into the database file is
 * not yet durable there; a power loss at that moment would lose it from
 * both files. And what the change is for: commits go on while the
 * database file's fsync runs; the WAL stays bounded under load; every
 * write is there after a reopen, and the file is sound.
 *
 * Also the readers' lock anchor (the same module): between batches a read
 * makes no fcntl call (counted through the unix VFS's system call table).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "gatehouse/errors.h"
#include "gatehouse/metrics.h"
#include "gatehouse/random.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/store.h"
#include "harness.h"
#include "fixtures.h"

#define T0 1800000000LL

/* ---- the recording VFS ---- */

enum kind { K_OTHER, K_DB, K_WAL };

struct rec_file {
	sqlite3_file base;
	enum kind kind;
	sqlite3_file *real;        /* the wrapped VFS's file, after this struct */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs rec_vfs;

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static long db_writes;         /* writes of the database file so far */
static long db_durable;        /* of those, the ones an fsync that ended covered */
static int db_syncing;         /* fsyncs of the database file in progress */
static long db_syncs;
static int fail_db_syncs;      /* the next N fsyncs of the database file fail */
static int fail_db_writes;     /* the next N writes of the database file fail */
static int fail_db_opens;      /* the next N opens of the database file fail */
static int fail_threads;       /* the next N threads the store starts fail to start */
static long wal_resets;        /* WAL header writes after the first */
static long unsafe_resets;     /* ...with copied pages not yet durable */
static long wal_writes_during_sync; /* commits' frames written while one ran */
static sqlite3_int64 wal_max;  /* the WAL's largest size */

static int rec_close(sqlite3_file *f)
{
	struct rec_file *r = (struct rec_file *)f;
	return r->real->pMethods->xClose(r->real);
}

static int rec_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
	struct rec_file *r = (struct rec_file *)f;
	return r->real->pMethods->xRead(r->real, buf, amt, off);
}

static int rec_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	struct rec_file *r = (struct rec_file *)f;
	pthread_mutex_lock(&ev_lock);
	if (r->kind == K_DB && fail_db_writes > 0) {
		fail_db_writes--;
		pthread_mutex_unlock(&ev_lock);
		return SQLITE_IOERR_WRITE;
	}
	if (r->kind == K_DB) {
		db_writes++;
	} else if (r->kind == K_WAL) {
		if (off == 0) {
			/* The header: the WAL's creation, or a reset. */
			wal_resets++;
			if (db_durable < db_writes)
				unsafe_resets++;
		} else if (db_syncing) {
			wal_writes_during_sync++;
		}
		if (off + amt > wal_max)
			wal_max = off + amt;
	}
	pthread_mutex_unlock(&ev_lock);
	return r->real->pMethods->xWrite(r->real, buf, amt, off);
}

static int rec_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct rec_file *r = (struct rec_file *)f;
	return r->real->pMethods->xTruncate(r->real, size);
}

static int rec_sync(sqlite3_file *f, int flags)
{
	struct rec_file *r = (struct rec_file *)f;
	if (r->kind != K_DB)
		return r->real->pMethods->xSync(r->real, flags);
	pthread_mutex_lock(&ev_lock);
	long covers = db_writes;
	db_syncing++;
	db_syncs++;
	bool fail = fail_db_syncs > 0;
	if (fail)
		fail_db_syncs--;
	pthread_mutex_unlock(&ev_lock);
	if (fail) {
		pthread_mutex_lock(&ev_lock);
		db_syncing--;
		pthread_mutex_unlock(&ev_lock);
		return SQLITE_IOERR_FSYNC;
	}
	struct timespec ts = { 0, 10 * 1000000L };
	nanosleep(&ts, NULL);
	int rc = r->real->pMethods->xSync(r->real, flags);
	pthread_mutex_lock(&ev_lock);
	db_syncing--;
	if (rc == SQLITE_OK && covers > db_durable)
		db_durable = covers;
	pthread_mutex_unlock(&ev_lock);
	return rc;
}

static int rec_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct rec_file *r = (struct rec_file *)f;
	return r->real->pMethods->xFileSize(r->real, size);
}

static int rec_lock(sqlite3_file *f, int l)
{
	struct rec_file *r = (struct rec_file *)f;
	return r->real->pMethods->xLock(r->real, l);
}

static int rec_unlock(sqlite3_file *f, int l)
{
	struct rec_file *r = (struct rec_file *)f;
	return r->real->pMethods->xUnlock(r->real, l);
}

static int rec_check_reserved(sqlite3_file *f, int *out)
{
	struct rec_file *r = (struct rec_file *)f;
	return r->real->pMethods->xCheckReservedLock(r->real, out);
}

static int rec_file_control(sqlite3_file *f, int op, void *arg)
{
	struct rec_file *r = (struct rec_file *)f;
	if (op == SQLITE_FCNTL_FILE_POINTER) {
		/* The caller syncs what it gets: this file, so that it is recorded. */
		*(sqlite3_file **)arg = f;
		return SQLITE_OK;
	}
	return r->real->pMethods->xFileControl(r->real, op, arg);
}

static int rec_sector_size(sqlite3_file *f)
{
	struct rec_file *r = (struct rec_file *)f;
	return r->real->pMethods->xSectorSize(r->real);
}

static int rec_device_chars(sqlite3_file *f)
{
	struct rec_file *r = (struct rec_file *)f;
	return r->real->pMethods->xDeviceCharacteristics(r->real);
}

static int rec_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	struct rec_file *r = (struct rec_file *)f;
	return r->real->pMethods->xShmMap(r->real, pg, pgsz, extend, pp);
}

static int rec_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	struct rec_file *r = (struct rec_file *)f;
	return r->real->pMethods->xShmLock(r->real, off, n, flags);
}

static void rec_shm_barrier(sqlite3_file *f)
{
	struct rec_file *r = (struct rec_file *)f;
	r->real->pMethods->xShmBarrier(r->real);
}

static int rec_shm_unmap(sqlite3_file *f, int del)
{
	struct rec_file *r = (struct rec_file *)f;
	return r->real->pMethods->xShmUnmap(r->real, del);
}

static const sqlite3_io_methods rec_io = {
	.iVersion = 2,
	.xClose = rec_close,
	.xRead = rec_read,
	.xWrite = rec_write,
	.xTruncate = rec_truncate,
	.xSync = rec_sync,
	.xFileSize = rec_file_size,
	.xLock = rec_lock,
	.xUnlock = rec_unlock,
	.xCheckReservedLock = rec_check_reserved,
	.xFileControl = rec_file_control,
	.xSectorSize = rec_sector_size,
	.xDeviceCharacteristics = rec_device_chars,
	.xShmMap = rec_shm_map,
	.xShmLock = rec_shm_lock,
	.xShmBarrier = rec_shm_barrier,
	.xShmUnmap = rec_shm_unmap,
};

static int rec_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	(void)vfs;
	struct rec_file *r = (struct rec_file *)f;
	r->real = (sqlite3_file *)(r + 1);
	r->kind = (flags & SQLITE_OPEN_MAIN_DB) ? K_DB : (flags & SQLITE_OPEN_WAL) ? K_WAL : K_OTHER;
	pthread_mutex_lock(&ev_lock);
	bool fail = r->kind == K_DB && fail_db_opens > 0;
	if (fail)
		fail_db_opens--;
	pthread_mutex_unlock(&ev_lock);
	if (fail) {
		f->pMethods = NULL;
		return SQLITE_CANTOPEN;
	}
	int rc = real_vfs->xOpen(real_vfs, name, r->real, flags, out);
	f->pMethods = r->real->pMethods ? &rec_io : NULL;
	return rc;
}

static int rec_delete(sqlite3_vfs *v, const char *n, int s)
{
	(void)v;
	return real_vfs->xDelete(real_vfs, n, s);
}

static int rec_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
	(void)v;
	return real_vfs->xAccess(real_vfs, n, flags, out);
}

static int rec_full_pathname(sqlite3_vfs *v, const char *n, int len, char *out)
{
	(void)v;
	return real_vfs->xFullPathname(real_vfs, n, len, out);
}

static int rec_randomness(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return real_vfs->xRandomness(real_vfs, n, out);
}

static int rec_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	return real_vfs->xSleep(real_vfs, us);
}

static int rec_current_time(sqlite3_vfs *v, double *out)
{
	(void)v;
	return real_vfs->xCurrentTime(real_vfs, out);
}

static int rec_last_error(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return real_vfs->xGetLastError(real_vfs, n, out);
}

static int rec_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	(void)v;
	return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static void install_vfs(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	if (!real_vfs || real_vfs->iVersion < 2)
		exit(2);
	rec_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct rec_file) + real_vfs->szOsFile,
		.mxPathname = real_vfs->mxPathname,
		.zName = "recording",
		.xOpen = rec_open,
		.xDelete = rec_delete,
		.xAccess = rec_access,
		.xFullPathname = rec_full_pathname,
		.xRandomness = rec_randomness,
		.xSleep = rec_sleep,
		.xCurrentTime = rec_current_time,
		.xGetLastError = rec_last_error,
		.xCurrentTimeInt64 = rec_current_time64,
	};
	if (sqlite3_vfs_register(&rec_vfs, 1) != SQLITE_OK)
		exit(2);
}

/* ---- fcntl locks, counted through the unix VFS's system call table ---- */

static sqlite3_syscall_ptr real_fcntl;
static atomic_long fcntl_locks; /* F_SETLK and F_SETLKW calls so far */

static int counting_fcntl(int fd, int op, ...)
{
	va_list ap;
	va_start(ap, op);
	int (*f)(int, int, ...) = (int (*)(int, int, ...))real_fcntl;
	int rc;
	if (op == F_SETLK || op == F_SETLKW || op == F_GETLK) {
		void *lock = va_arg(ap, void *);
		if (op != F_GETLK)
			atomic_fetch_add(&fcntl_locks, 1);
		rc = f(fd, op, lock);
	} else {
		rc = f(fd, op, va_arg(ap, int)); /* SQLite passes an int (0 when unused) */
	}
	va_end(ap);
	return rc;
}

static void count_fcntl(void)
{
	real_fcntl = real_vfs->xGetSystemCall(real_vfs, "fcntl");
	if (!real_fcntl ||
	    real_vfs->xSetSystemCall(real_vfs, "fcntl", (sqlite3_syscall_ptr)counting_fcntl) !=
	    SQLITE_OK)
		exit(2);
}

/* ---- threads that fail to start (linked with -Wl,--wrap=pthread_create) ---- */

int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);

static void *write_main(void *arg);

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	if (fn != write_main) { /* the store's, not this test's writers */
		pthread_mutex_lock(&ev_lock);
		bool fail = fail_threads > 0;
		if (fail)
			fail_threads--;
		pthread_mutex_unlock(&ev_lock);
		if (fail)
			return 11; /* EAGAIN */
	}
	return __real_pthread_create(t, a, fn, arg);
}

/* ---- the load ---- */

enum { THREADS = 3, WRITES = 700, DOC = 3000 };

struct writer {
	struct store *st;
	char uid[37];
	int index;
	int failures;
	int64_t versions[WRITES];
};

static void *write_main(void *arg)
{
	struct writer *w = arg;
	static const char pad[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	char doc[DOC + 1], key[32];
	for (int i = 0; i < WRITES; i++) {
		/* A new key each time: the database file grows, as with new players. */
		int n = snprintf(doc, sizeof doc, "{\"w\":%d,\"i\":%d,\"pad\":\"", w->index, i);
		while (n < DOC - 2) {
			doc[n] = pad[(n + i) % (int)(sizeof pad - 1)];
			n++;
		}
		doc[n++] = '"';
		doc[n++] = '}';
		doc[n] = '\0';
		snprintf(key, sizeof key, "k%d", i);
		struct store_doc_write dw = { .key = key, .value = doc, .len = (size_t)n };
		struct store_doc_result r;
		if (store_doc_write(w->st, w->uid, &dw, 1, T0 + i, NULL, &r, NULL, NULL) != 0)
			w->failures++;
		w->versions[i] = r.version;
	}
	return NULL;
}

static struct store *open_store(const char *path)
{
	return fixture_store_open(path, NULL); /* the daemon's default: FULL, group commit */
}

/*
 * THREADS writers, WRITES documents of DOC bytes each: about 2,000 pages
 * of WAL, so the writer checkpoints several times, each time with commits
 * arriving during the slow fsync.
 */
static struct writer w[THREADS];

/* Runs the load on st: THREADS users, each writing WRITES documents. */
static void load(struct store *st)
{
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].st = st;
		w[i].index = i;
		CHECK_INT(gh_uuid4(w[i].uid), 0);
		unsigned char h[32] = { 1 };
		struct store_session_new s = {
			.user_id = w[i].uid, .access_scope = "guest", .jti = "jti-ckpt-0000000000",
			.now = T0, .expires_at = T0 + 100000,
		};
		int64_t sid = 0;
		CHECK_INT(store_guest_create(st, w[i].uid, h, &s, &sid), 0);
	}
	for (int i = 0; i < THREADS; i++)
		CHECK_INT(pthread_create(&th[i], NULL, write_main, &w[i]), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
}

/* Every write is there (a sample of each user's keys), and the file is sound. */
static void check_written(const char *path)
{
	struct store *st = open_store(path);
	for (int i = 0; i < THREADS; i++) {
		CHECK_INT(w[i].failures, 0);
		for (int k = 0; k < WRITES; k += 97) {
			char key[32];
			snprintf(key, sizeof key, "k%d", k);
			struct store_document d;
			CHECK_INT(store_doc_get(st, w[i].uid, key, &d), 0);
			CHECK_INT(d.version, w[i].versions[k]);
			CHECK_INT(strlen(d.value), DOC);
			free(d.value);
		}
	}
	store_close(st);
	sqlite3 *db = NULL;
	CHECK_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *q = NULL;
	CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_step(q), SQLITE_ROW);
	CHECK_STR((const char *)sqlite3_column_text(q, 0), "ok");
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static void reset_events(void)
{
	pthread_mutex_lock(&ev_lock);
	db_writes = db_durable = db_syncs = wal_resets = unsafe_resets = 0;
	wal_writes_during_sync = 0;
	wal_max = 0;
	db_syncing = 0;
	pthread_mutex_unlock(&ev_lock);
}

/* gatehouse_store_errors_total, as /metrics renders it. */
static long store_errors(void)
{
	struct strbuf sb = STRBUF_INIT;
	metrics_render(&sb, "test");
	const char *p = sb.buf ? strstr(sb.buf, "\ngatehouse_store_errors_total ") : NULL;
	long n = p ? strtol(p + strlen("\ngatehouse_store_errors_total "), NULL, 10) : -1;
	sb_release(&sb);
	return n;
}

/* A store on a new database in a new directory dir, the events cleared. */
static struct store *fresh_store(char dir[64], char path[128])
{
	fixture_tmpdir(dir, 64, "ckpt");
	snprintf(path, 128, "%s/gatehouse.db", dir);
	reset_events();
	return open_store(path);
}

TEST(checkpoint_fsync_off_the_writer)
{
	char dir[64], path[128];
	struct store *st = fresh_store(dir, path);
	load(st);

	pthread_mutex_lock(&ev_lock);
	long syncs = db_syncs, resets = wal_resets, unsafe = unsafe_resets;
	long overlapped = wal_writes_during_sync;
	sqlite3_int64 wal_peak = wal_max;
	pthread_mutex_unlock(&ev_lock);
	fprintf(stderr, "    %ld fsyncs of the database file, %ld WAL resets, %ld WAL writes "
		"during those fsyncs, WAL at most %lld bytes\n", syncs, resets, overlapped,
		(long long)wal_peak);
	/* The invariant: never a reset with copied pages not yet durable. */
	CHECK_INT(unsafe, 0);
	/* It was put to the test: checkpoints ran, and the WAL was reset after them. */
	CHECK(syncs >= 2);
	CHECK(resets >= 2);
	/* Commits went on during the database file's fsync (the change's point). */
	CHECK(overlapped > 0);
	/*
	 * Bounded: 1,000 pages, plus what commits added during up to four
	 * fsyncs of a cycle (about 2,500 pages here); the load writes about
	 * 7,500, which the WAL reaches when checkpoints stop
	 * (checkpoint_fsync_fails).
	 */
	CHECK(wal_peak < 5500LL * (4096 + 24));

	store_close(st);
	check_written(path);
	fixture_rmdir(dir);
}

/*
 * The database file's fsync fails after a checkpoint copied pages into it:
 * those pages may never reach the disk, so the WAL must keep them. No more
 * checkpoints and no reset from then on, not even at close; commits go on;
 * at the next open SQLite replays the WAL and every write is there.
 */
TEST(checkpoint_fsync_fails)
{
	char dir[64], path[128];
	struct store *st = fresh_store(dir, path);
	pthread_mutex_lock(&ev_lock);
	long resets_at_open = wal_resets, syncs_at_open = db_syncs;
	fail_db_syncs = 1;
	pthread_mutex_unlock(&ev_lock);
	long errors_before = store_errors();
	load(st);
	store_close(st);
	pthread_mutex_lock(&ev_lock);
	long syncs = db_syncs - syncs_at_open, resets = wal_resets - resets_at_open;
	long unsafe = unsafe_resets;
	sqlite3_int64 wal_peak = wal_max;
	pthread_mutex_unlock(&ev_lock);
	fprintf(stderr, "    %ld fsyncs of the database file, %ld WAL resets, WAL at most %lld "
		"bytes\n", syncs, resets, (long long)wal_peak);
	CHECK_INT(store_errors(), errors_before + 1); /* counted, once */
	CHECK_INT(syncs, 1);        /* the failed one; none after it, none at close */
	CHECK_INT(resets, 0);
	CHECK_INT(unsafe, 0);
	CHECK(wal_peak > 1500LL * 4096); /* it grew instead */
	struct stat sb;
	char wal[160];
	snprintf(wal, sizeof wal, "%s-wal", path);
	CHECK_INT(stat(wal, &sb), 0); /* kept at close */
	check_written(path);
	fixture_rmdir(dir);
}

/*
 * The checkpoint's copy fails (a write of the database file): counted, and
 * the WAL keeps every page, since nothing was marked copied. The next
 * commit past the threshold tries again, and checkpoints go on as before.
 */
TEST(checkpoint_copy_fails)
{
	char dir[64], path[128];
	struct store *st = fresh_store(dir, path);
	pthread_mutex_lock(&ev_lock);
	long resets_at_open = wal_resets;
	fail_db_writes = 1;
	pthread_mutex_unlock(&ev_lock);
	long errors_before = store_errors();
	load(st);
	pthread_mutex_lock(&ev_lock);
	long resets = wal_resets - resets_at_open, unsafe = unsafe_resets;
	int unfailed = fail_db_writes;
	sqlite3_int64 wal_peak = wal_max;
	pthread_mutex_unlock(&ev_lock);
	fprintf(stderr, "    %ld WAL resets, WAL at most %lld bytes\n", resets, (long long)wal_peak);
	CHECK_INT(unfailed, 0);                       /* the failure happened */
	CHECK_INT(store_errors(), errors_before + 1); /* and was counted, once */
	CHECK_INT(unsafe, 0);
	CHECK(resets >= 1);                           /* checkpoints went on after it */
	CHECK(wal_peak < 6500LL * (4096 + 24));
	store_close(st);
	check_written(path);
	fixture_rmdir(dir);
}

/*
 * The checkpoint's own connection cannot be opened (here: the database
 * file cannot be opened again, for the readers' anchor after the first
 * batch and then for the checkpoint; in life, too many open files), or its
 * thread cannot start: the writer checkpoints the usual way instead, its
 * fsync included. Nothing is written to the WAL during a database fsync
 * then, checkpoints still keep the WAL bounded, and every write is kept.
 */
static void check_usual_checkpoints(int *failure, int failures)
{
	char dir[64], path[128];
	struct store *st = fresh_store(dir, path);
	pthread_mutex_lock(&ev_lock);
	long resets_at_open = wal_resets;
	*failure = failures;
	pthread_mutex_unlock(&ev_lock);
	load(st);
	pthread_mutex_lock(&ev_lock);
	long resets = wal_resets - resets_at_open, unsafe = unsafe_resets;
	long overlapped = wal_writes_during_sync, syncs = db_syncs;
	int unfailed = *failure;
	sqlite3_int64 wal_peak = wal_max;
	pthread_mutex_unlock(&ev_lock);
	fprintf(stderr, "    %ld fsyncs of the database file, %ld WAL resets, %ld WAL writes "
		"during those fsyncs, WAL at most %lld bytes\n", syncs, resets, overlapped,
		(long long)wal_peak);
	CHECK_INT(unfailed, 0);     /* it was tried, and failed */
	CHECK_INT(overlapped, 0);   /* the usual checkpoint: writes wait for its fsync */
	CHECK(syncs >= 2);
	CHECK(resets >= 2);
	CHECK_INT(unsafe, 0);
	CHECK(wal_peak < 2500LL * (4096 + 24));
	store_close(st);
	check_written(path);
	fixture_rmdir(dir);
}

TEST(checkpoint_without_its_connection)
{
	check_usual_checkpoints(&fail_db_opens, 2);
}

TEST(checkpoint_without_its_thread)
{
	check_usual_checkpoints(&fail_threads, 1);
}

/* fcntl lock calls made by n reads of one document, one after another. */
static long locks_of_reads(struct store *st, const char *uid, int n)
{
	long before = atomic_load(&fcntl_locks);
	for (int i = 0; i < n; i++) {
		struct store_document d;
		CHECK_INT(store_doc_get(st, uid, "k", &d), 0);
		free(d.value);
	}
	return atomic_load(&fcntl_locks) - before;
}

/*
 * Writes one document as user uid, then waits (5 s at most) until a read
 * makes no fcntl call: the writer thread begins the anchor's read
 * transaction after it has answered the batch.
 */
static long write_then_settle(struct store *st, const char *uid, int64_t t)
{
	struct store_doc_write dw = { .key = "k", .value = "{\"a\":1}", .len = 7 };
	struct store_doc_result r;
	CHECK_INT(store_doc_write(st, uid, &dw, 1, t, NULL, &r, NULL, NULL), 0);
	for (int i = 0; i < 500; i++) {
		if (locks_of_reads(st, uid, 1) == 0)
			return 0;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return locks_of_reads(st, uid, 1);
}

/* A fresh store with one user; the next failing_opens opens of the file after it opened fail. */
static struct store *store_with_user(char dir[64], char path[128], char uid[37],
				     int failing_opens)
{
	struct store *st = fresh_store(dir, path);
	pthread_mutex_lock(&ev_lock);
	fail_db_opens = failing_opens;
	pthread_mutex_unlock(&ev_lock);
	CHECK_INT(gh_uuid4(uid), 0);
	unsigned char h[32] = { 1 };
	struct store_session_new s = { .user_id = uid, .access_scope = "guest",
				       .jti = "jti-anchor-00000000", .now = T0,
				       .expires_at = T0 + 100000 };
	int64_t sid = 0;
	CHECK_INT(store_guest_create(st, uid, h, &s, &sid), 0);
	return st;
}

/*
 * Between batches the readers' WAL lock is held in the process (the
 * anchor), so a read takes and drops it without a system call; after each
 * batch again. Without the anchor (its connection cannot be opened) every
 * read locks and unlocks through fcntl, which shows the count is real.
 */
TEST(reads_between_batches_make_no_lock_calls)
{
	char dir[64], path[128], uid[37];
	struct store *st = store_with_user(dir, path, uid, 0);
	CHECK_INT(write_then_settle(st, uid, T0 + 1), 0);
	CHECK_INT(locks_of_reads(st, uid, 200), 0);
	CHECK_INT(write_then_settle(st, uid, T0 + 2), 0); /* anchored again after a batch */
	CHECK_INT(locks_of_reads(st, uid, 200), 0);
	store_close(st);
	fixture_rmdir(dir);

	st = store_with_user(dir, path, uid, 1); /* the anchor's open, after the first batch */
	struct store_doc_write dw = { .key = "k", .value = "{\"a\":1}", .len = 7 };
	struct store_doc_result r;
	CHECK_INT(store_doc_write(st, uid, &dw, 1, T0 + 1, NULL, &r, NULL, NULL), 0);
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	CHECK(locks_of_reads(st, uid, 200) >= 200);
	store_close(st);
	fixture_rmdir(dir);
}

int main(void)
{
	install_vfs();
	count_fcntl();
	RUN(checkpoint_fsync_off_the_writer);
	RUN(checkpoint_fsync_fails);
	RUN(checkpoint_copy_fails);
	RUN(checkpoint_without_its_connection);
	RUN(checkpoint_without_its_thread);
	RUN(reads_between_batches_make_no_lock_calls);
	return REPORT();
}
