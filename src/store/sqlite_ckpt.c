/*
 * sqlite_ckpt.c - the daemon's WAL checkpoints, run by the writer thread
 * on the writer connection, with the database file's fsync off that thread.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL
 * past 1,000 pages: it copies the WAL's pages into the database file, then
 * fsyncs the file, and every write queued meanwhile waits (3-5 ms under
 * load, several times a second during new guest logins: most of the logins'
 * p99 at half the peak rate). Checkpointing on another connection
 * is not an option on SQLite 3.40 (the WAL-reset bug needs two connections
 * that write or checkpoint), so the writer still checkpoints, and only the
 * wait for the fsync moves:
 *
 *  1. a read transaction on a connection of this module's (hold) starts:
 *     while it lasts the writer cannot reset the WAL (a reset needs every
 *     reader lock but the first; the writer appends instead);
 *  2. the writer checkpoints (PASSIVE) with its fsyncs off: pages are
 *     copied, not yet durable in the database file;
 *  3. the writer goes back to its queue while a thread of this module
 *     fsyncs the database file, then ends hold's read transaction;
 *  4. if a commit came during the fsync (so the WAL could not be reset),
 *     the writer's next turn copies the pages committed meanwhile the same
 *     way (a few: quick); once an fsync ends before the next commit, that
 *     commit resets the WAL. Under steady load that may not happen: after
 *     CKPT_ROUNDS copies the usual checkpoint (copy and fsync on the
 *     writer, a few pages by then) ends the cycle.
 *
 * The WAL is never overwritten before the copied pages are durable: a crash
 * or power loss before step 3 ends finds every page still in the WAL, which
 * SQLite replays at the next open. Only with synchronous FULL, where each
 * commit has already synced the WAL (with NORMAL a checkpoint must sync the
 * WAL before copying it: those run the usual way, as do operator commands,
 * which never checkpoint). A failed fsync stops checkpoints for good (the
 * WAL grows; hold keeps it from reset, the writer from checkpointing at
 * close) so that SQLite replays the WAL at the next start.
 *
 * The module also keeps the readers' locks in the process while the writer
 * is idle. A read transaction takes a shared lock on one of the WAL's
 * read marks, and SQLite's unix VFS counts those of one process: only the
 * first of its connections to take one, and the last to drop it, make an
 * fcntl call, under a mutex every connection of the file shares. Request
 * threads' reads seldom overlap, so nearly every read made two fcntl calls
 * with that mutex held, and the threads queued on it (a system call costs
 * a microsecond or more on a virtual machine; get-player-data took 28-38
 * µs of CPU with them, 25-29 without, interleaved). So between batches a
 * connection of this module's (anchor) holds a read transaction begun
 * after the batch's commit and checkpoint: the readers take the same read
 * mark and find it held. It ends before the next batch runs, so that it
 * never keeps a checkpoint from copying the pages of a later commit or the
 * writer from resetting the WAL; no read is ever made in it.
 */
#include <pthread.h>
#include <stdlib.h>

#include "gatehouse/alloc.h"
#include "gatehouse/log.h"
#include "gatehouse/metrics.h"
#include "sqlite_int.h"

enum {
	CKPT_PAGES = 1000, /* SQLite's own threshold */
	CKPT_ROUNDS = 4,   /* copies of what was committed during the last fsync, at most */
};

enum ck_state {
	CK_IDLE,     /* no checkpoint in progress */
	CK_SYNCING,  /* pages copied; the thread fsyncs the database file */
	CK_SYNCED,   /* durable: the writer checkpoints the rest */
	CK_BROKEN,   /* the fsync failed: no more checkpoints */
};

struct sqlite_ckpt {
	struct sqlite_ctx *ctx;
	bool async;                /* synchronous FULL: the fsync off the writer thread */
	bool due;                  /* a commit took the WAL past CKPT_PAGES */
	int wal_pages;             /* the WAL's size after the last commit */
	int rounds;                /* copies since the WAL was last reset */
	bool failing;              /* the last checkpoint failed (said once) */
	struct sqlite_conn *hold;  /* opened at the first checkpoint */
	struct sqlite_conn *anchor; /* opened after the first batch (see the top) */
	bool anchored;             /* anchor is in its read transaction */
	bool no_anchor;            /* it could not be opened: none from then on */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum ck_state state;       /* under lock */
	bool stop;                 /* under lock */
};

static int wal_committed(void *arg, sqlite3 *db, const char *name, int pages)
{
	(void)db;
	(void)name;
	struct sqlite_ckpt *k = arg;
	k->wal_pages = pages;
	if (pages >= CKPT_PAGES)
		k->due = true;
	return SQLITE_OK;
}

static void report(struct sqlite_ckpt *k, int rc, const char *how)
{
	if (rc == SQLITE_BUSY)
		return; /* another process's checkpoint: tried again after the next commit */
	bool failed = rc != SQLITE_OK;
	if (failed)
		metrics_inc(M_STORE_ERRORS);
	if (failed && !k->failing)
		log_warn("cannot checkpoint the database's WAL (%s): %s; tried again after each "
			 "commit, the WAL grows meanwhile", how, sqlite3_errstr(rc));
	else if (!failed && k->failing)
		log_info("the database's WAL is checkpointed again");
	k->failing = failed;
}

static void *sync_main(void *arg)
{
	struct sqlite_ckpt *k = arg;
	pthread_mutex_lock(&k->lock);
	for (;;) {
		while (k->state != CK_SYNCING && !k->stop)
			pthread_cond_wait(&k->cond, &k->lock);
		if (k->state != CK_SYNCING)
			break;
		pthread_mutex_unlock(&k->lock);
		sqlite3_file *f = NULL;
		int rc = sqlite3_file_control(k->hold->db, "main", SQLITE_FCNTL_FILE_POINTER, &f);
		if (rc == SQLITE_OK && f && f->pMethods)
			rc = f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
		else if (rc == SQLITE_OK)
			rc = SQLITE_MISUSE;
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(k->hold->db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			metrics_inc(M_STORE_ERRORS);
			log_error("cannot fsync the database file after a checkpoint: %s; no more "
				  "checkpoints until a restart (the WAL grows; SQLite replays it at the "
				  "next start)", sqlite3_errstr(rc));
		}
		pthread_mutex_lock(&k->lock);
		k->state = rc == SQLITE_OK ? CK_SYNCED : CK_BROKEN;
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

void store_sqlite_ckpt_attach(struct sqlite_conn *writer, struct sqlite_ctx *ctx)
{
	struct sqlite_ckpt *k = xcalloc(1, sizeof *k);
	k->ctx = ctx;
	k->async = ctx->sync_full;
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->cond, NULL);
	writer->ckpt = k;
	sqlite3_wal_hook(writer->db, wal_committed, k); /* replaces the automatic checkpoint */
}

/* The usual checkpoint: pages copied and the database file fsynced, here. */
static void checkpoint_here(struct sqlite_conn *c)
{
	report(c->ckpt, sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
						  NULL), "checkpoint");
}

/* A read-only connection of the module's own; NULL (logged, with what follows) if none. */
static struct sqlite_conn *own_conn(struct sqlite_ckpt *k, const char *then)
{
	char err[256];
	struct store_conn *c = NULL;
	if (store_sqlite_backend.conn_open(k->ctx, false, &c, err, sizeof err)) {
		log_warn("%s (%s)", err, then);
		return NULL;
	}
	return (struct sqlite_conn *)(void *)c;
}

/* Steps 1 and 2 (see the top); false when the usual checkpoint must do instead. */
static bool checkpoint_begin(struct sqlite_conn *c)
{
	struct sqlite_ckpt *k = c->ckpt;
	if (!k->hold) {
		k->hold = own_conn(k, "checkpoints wait for their fsync from now on");
		if (!k->hold) {
			k->async = false;
			return false;
		}
	}
	if (!k->started) {
		if (pthread_create(&k->thread, NULL, sync_main, k)) {
			log_warn("cannot start the checkpoint thread (checkpoints wait for their "
				 "fsync from now on)");
			k->async = false;
			return false;
		}
		k->started = true;
	}
	int rc = sqlite3_exec(k->hold->db, "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL,
			      NULL);
	if (rc != SQLITE_OK) {
		sqlite3_exec(k->hold->db, "ROLLBACK", NULL, NULL, NULL);
		return false;
	}
	int log_pages = 0, backfilled = 0; /* frames in the WAL; of them, in the file now */
	rc = sqlite3_exec(c->db, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_pages,
					       &backfilled);
		/* Back before anything else: the commits' own fsync depends on it. */
		int rc2 = sqlite3_exec(c->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
		if (rc2 != SQLITE_OK) {
			log_error("cannot set synchronous FULL again after a checkpoint: %s",
				  sqlite3_errstr(rc2));
			abort(); /* commits would not be durable: never acknowledge one */
		}
	}
	report(k, rc, "copy");
	if (rc != SQLITE_OK || backfilled <= 0) {
		/* Nothing in the file from the WAL (or the copy failed): nothing to make durable. */
		sqlite3_exec(k->hold->db, "COMMIT", NULL, NULL, NULL);
		return true;
	}
	pthread_mutex_lock(&k->lock);
	k->state = CK_SYNCING;
	pthread_cond_signal(&k->cond);
	pthread_mutex_unlock(&k->lock);
	return true;
}

/* The checkpoint a batch's commits made due, or the next step of one. */
static void checkpoint_after_batch(struct sqlite_conn *c)
{
	struct sqlite_ckpt *k = c->ckpt;
	pthread_mutex_lock(&k->lock);
	enum ck_state s = k->state;
	if (s == CK_SYNCED)
		k->state = CK_IDLE;
	pthread_mutex_unlock(&k->lock);
	switch (s) {
	case CK_SYNCING:
	case CK_BROKEN:
		return;
	case CK_SYNCED:
		k->due = false;
		if (k->wal_pages < CKPT_PAGES) {
			/* No commit came during the fsync: the next write reset the WAL. */
			k->rounds = 0;
			return;
		}
		/*
		 * Step 4: the pages committed during the fsync, copied the same
		 * way (a few, quickly); once an fsync ends before the next commit
		 * the WAL resets. Under load that may not happen: after
		 * CKPT_ROUNDS the usual checkpoint, which holds writes through
		 * its fsync, ends the cycle.
		 */
		if (++k->rounds < CKPT_ROUNDS && checkpoint_begin(c))
			return;
		k->rounds = 0;
		checkpoint_here(c);
		return;
	case CK_IDLE:
		if (!k->due)
			return;
		k->due = false;
		if (!k->async || !checkpoint_begin(c))
			checkpoint_here(c);
		return;
	}
}

/* Begins anchor's read transaction (see the top); on failure, none. */
static void anchor_begin(struct sqlite_ckpt *k)
{
	if (k->no_anchor || k->anchored)
		return;
	if (!k->anchor) {
		k->anchor = own_conn(k, "reads take the database's locks one by one from now on");
		if (!k->anchor) {
			k->no_anchor = true;
			return;
		}
		/* Never a wait on the writer thread: a busy file means no anchor this time. */
		sqlite3_busy_handler(k->anchor->db, NULL, NULL);
	}
	/* BEGIN, then a read of the file's header: the read transaction (prepared once). */
	struct store_conn *a = &k->anchor->base;
	int64_t v;
	if (store_sqlite_backend.read_begin(a))
		return;
	if (store_sqlite_backend.data_version(a, &v)) {
		/* Busy (another process recovering the WAL, say): again after the next batch. */
		store_sqlite_backend.read_end(a);
		return;
	}
	k->anchored = true;
}

static void anchor_end(struct sqlite_ckpt *k)
{
	if (!k->anchored)
		return;
	struct store_conn *a = &k->anchor->base;
	if (store_sqlite_backend.read_end(a))
		store_sqlite_backend.rollback(a);
	k->anchored = false;
}

void store_sqlite_ckpt_before_batch(struct sqlite_conn *c)
{
	if (c->ckpt)
		anchor_end(c->ckpt);
}

void store_sqlite_ckpt_after_batch(struct sqlite_conn *c)
{
	if (!c->ckpt)
		return;
	checkpoint_after_batch(c);
	anchor_begin(c->ckpt);
}

void store_sqlite_ckpt_detach(struct sqlite_conn *c)
{
	struct sqlite_ckpt *k = c->ckpt;
	if (!k)
		return;
	c->ckpt = NULL;
	sqlite3_wal_hook(c->db, NULL, NULL);
	pthread_mutex_lock(&k->lock);
	k->stop = true;
	pthread_cond_signal(&k->cond);
	pthread_mutex_unlock(&k->lock);
	if (k->started)
		pthread_join(k->thread, NULL); /* after the fsync in progress */
	if (k->state == CK_BROKEN) {
		/* Pages may be missing from the file: the WAL must stay as it is. */
		sqlite3_db_config(c->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	}
	if (k->anchor) {
		anchor_end(k);
		store_sqlite_backend.conn_close(&k->anchor->base);
	}
	if (k->hold)
		store_sqlite_backend.conn_close(&k->hold->base);
	pthread_cond_destroy(&k->cond);
	pthread_mutex_destroy(&k->lock);
	free(k);
}
