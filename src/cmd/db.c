/*
 * db.c - `gatehouse backup`, `restore`, `check-db` and `migrate`: copies,
 * checks and schema upgrades of the database file.
 */
#include <stdio.h>
#include <unistd.h>

#include "gatehouse/cmd.h"
#include "gatehouse/daemon.h"
#include "gatehouse/errors.h"
#include "gatehouse/log.h"
#include "gatehouse/store.h"
#include "gatehouse/store_sqlite.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/banned.h"

#ifndef GATEHOUSE_VERSION
#define GATEHOUSE_VERSION "0.0.0-dev"
#endif

/* Said whenever the configured database is not where a command looked. */
#define WHERE_HINT "name the daemon's configuration with --config FILE, or the database " \
		   "with --set database_path=PATH"

const char cmd_backup_usage[] =
	"usage: gatehouse backup FILE [--config FILE] [--set name=value]...\n"
	"\n"
	"Writes a consistent copy of the database to FILE while the daemon serves\n"
	"(SQLite VACUUM INTO), fsyncs it, checks its integrity and only then gives it its\n"
	"name. FILE must not exist. It never creates a database: when there is none at\n"
	"database_path it says where it looked and fails.\n"
	"On a PostgreSQL database (a postgres:// URI) it refuses: use pg_dump -Fc.\n"
	"Exit status: 0 done, 1 failed (or no database), 2 usage error or PostgreSQL.\n"
	"To restore: stop the daemon, 'gatehouse restore FILE', start the daemon.\n";

const char cmd_restore_usage[] =
	"usage: gatehouse restore FILE [--config FILE] [--set name=value]...\n"
	"\n"
	"Replaces the database (database_path) with FILE, a backup made by 'gatehouse\n"
	"backup'. FILE is checked first, as 'gatehouse check-db FILE' does: a file that\n"
	"is not a gatehouse database, is damaged or has a newer schema than this build is\n"
	"refused and nothing is replaced. Refused while a daemon runs on the database\n"
	"(stop it first). The old database and its -wal and -shm files are kept aside as\n"
	"DATABASE.before-restore-<UTC time>; remove them once the restore is good. Works\n"
	"where there is no database yet (a new machine). A backup with an older schema is\n"
	"brought up to date by the next 'gatehouse serve' or 'gatehouse migrate'.\n"
	"On a PostgreSQL database it refuses: use pg_restore.\n"
	"Exit status: 0 restored, 1 refused or failed, 2 usage error or PostgreSQL.\n";

const char cmd_migrate_usage[] =
	"usage: gatehouse migrate [--status] [--config FILE] [--set name=value]...\n"
	"\n"
	"Brings the database (database_path) to this build's schema without starting\n"
	"the server, creating it when there is none; serve does the same at start.\n"
	"Refused while a daemon runs on a SQLite database; on PostgreSQL it runs beside\n"
	"the daemons (one migration at a time, under an advisory lock). A database\n"
	"whose schema is newer\n"
	"than this build's is an error: run the newer gatehouse, or restore a backup\n"
	"made before the upgrade. Back up first ('gatehouse backup FILE'): there is no\n"
	"way down.\n"
	"  --status   only show the schema version of the database and of this build,\n"
	"             and how many migrations are pending; changes nothing\n"
	"Exit status: 0 done (or, with --status, shown), 1 failed, no database (with\n"
	"--status) or a newer schema, 2 usage error.\n";

const char cmd_check_db_usage[] =
	"usage: gatehouse check-db [FILE] [--config FILE] [--set name=value]...\n"
	"\n"
	"Opens a database file read-only (default: the configured database) and checks\n"
	"its integrity and foreign keys; prints what it holds. It never creates a file.\n"
	"Given a PostgreSQL URI: its schema version, row counts and orphan rows.\n"
	"Exit status: 0 healthy, 1 damaged, unreadable, missing or not a gatehouse\n"
	"database, 2 usage error.\n";

/*
 * The commands that read a PostgreSQL database by its URL alone (check-db,
 * migrate --status) get database_password_file's password as libpq's
 * PGPASSWORD, in this process only, unless one is set already.
 */
static void pg_password_env(const struct config *cfg)
{
	if (config_database_is_pg(cfg) && cfg->database_password && !getenv("PGPASSWORD"))
		setenv("PGPASSWORD", cfg->database_password, 0);
}

int cmd_backup(const struct cli *cli, struct config *cfg)
{
	if (cli->nwords != 2) {
		fputs(cmd_backup_usage, stderr);
		return EXIT_USAGE;
	}
	struct store *st;
	if (daemon_open_store(cfg, true, 1, &st))
		return EXIT_FAIL;
	char err[512];
	int rc = store_backup(st, cli->words[1], err, sizeof err);
	store_close(st);
	if (rc) {
		fprintf(stderr, "gatehouse: backup failed: %s\n", err);
		/* GH_EINVAL: not this database's way (PostgreSQL: pg_dump -Fc) */
		return rc == GH_EINVAL ? EXIT_USAGE : EXIT_FAIL;
	}
	struct strbuf report = STRBUF_INIT;
	store_check_file(cli->words[1], &report);
	printf("backup written to %s (%s)\n", cli->words[1], report.buf ? report.buf : "");
	sb_release(&report);
	return EXIT_OK;
}

int cmd_check_db(const struct cli *cli, struct config *cfg)
{
	if (cli->nwords > 2) {
		fputs(cmd_check_db_usage, stderr);
		return EXIT_USAGE;
	}
	const char *path = cli->nwords == 2 ? cli->words[1] : cfg->database;
	pg_password_env(cfg);
	struct strbuf report = STRBUF_INIT;
	int rc = store_check_file(path, &report);
	char *shown = store_database_redacted(path);
	printf("%s: %s\n", shown, report.buf ? report.buf : "");
	free(shown);
	sb_release(&report);
	if (rc && cli->nwords == 1 && !store_database_is_url(path) && access(path, F_OK) != 0)
		fprintf(stderr, "gatehouse: no database at '%s': " WHERE_HINT "\n", path);
	return rc ? EXIT_FAIL : EXIT_OK;
}

int cmd_restore(const struct cli *cli, struct config *cfg)
{
	if (cli->nwords != 2) {
		fputs(cmd_restore_usage, stderr);
		return EXIT_USAGE;
	}
	const char *from = cli->words[1];
	struct store_sqlite_options sq = {
		.sync_full = true,
		.busy_timeout_ms = cfg->sqlite_busy_timeout * 1000,
	};
	struct store_options so = { .path = cfg->database, .sqlite = &sq };
	char kept[4096], err[1024];
	int rc = store_restore(&so, from, kept, sizeof kept, err, sizeof err);
	if (rc) {
		fprintf(stderr, "gatehouse: restore refused: %s\n", err);
		return rc == GH_EINVAL ? EXIT_USAGE : EXIT_FAIL;
	}
	struct strbuf report = STRBUF_INIT;
	store_check_file(cfg->database_path, &report);
	printf("restored %s to %s (%s)\n", from, cfg->database_path, report.buf ? report.buf : "");
	if (*kept)
		printf("the previous database is kept as %s (with its -wal and -shm, if any)\n",
		       kept);
	sb_release(&report);
	log_info("operator: database %s restored from %s", cfg->database_path, from);
	return EXIT_OK;
}

/* What migrate --status says (path fit to print). */
static int migrate_status_say(const char *path, int rc, int have, int want, const char *err)
{
	printf("this build: gatehouse %s, schema version %d\n", GATEHOUSE_VERSION, want);
	if (rc == GH_ENOTFOUND) {
		printf("database %s: none yet ('gatehouse migrate' or 'gatehouse serve' "
		       "creates it)\n", path);
		fprintf(stderr, "gatehouse: no database at '%s': " WHERE_HINT "\n", path);
		return EXIT_FAIL;
	}
	if (rc) {
		fprintf(stderr, "gatehouse: %s\n", err);
		return EXIT_FAIL;
	}
	printf("database %s: schema version %d\n", path, have);
	if (have > want) {
		fprintf(stderr, "gatehouse: the database's schema (%d) is newer than this "
			"build's (%d): run the newer gatehouse, or restore a backup made before "
			"the upgrade\n", have, want);
		return EXIT_FAIL;
	}
	if (have == want)
		printf("up to date: no migration pending\n");
	else
		printf("%d migration(s) pending: 'gatehouse migrate' applies them (back up "
		       "first)\n", want - have);
	return EXIT_OK;
}

/* migrate --status: the versions, and what is pending. */
static int migrate_status(const char *db)
{
	int have, want = store_schema_version();
	char err[1024];
	int rc = store_file_schema_version(db, &have, err, sizeof err);
	char *path = store_database_redacted(db);
	rc = migrate_status_say(path, rc, have, want, err);
	free(path);
	return rc;
}

static int migrate_run(struct config *cfg, const char *path);

int cmd_migrate(const struct cli *cli, struct config *cfg)
{
	if (cli->nwords != 1) {
		fputs(cmd_migrate_usage, stderr);
		return EXIT_USAGE;
	}
	pg_password_env(cfg);
	if (cli->status)
		return migrate_status(cfg->database);
	char *path = store_database_redacted(cfg->database);
	int ret = migrate_run(cfg, path);
	free(path);
	return ret;
}

static int migrate_run(struct config *cfg, const char *path)
{
	int have = 0, want = store_schema_version();
	char err[1024];
	int rc = store_file_schema_version(cfg->database, &have, err, sizeof err);
	bool fresh = rc == GH_ENOTFOUND;
	if (rc && !fresh) {
		fprintf(stderr, "gatehouse: %s\n", err);
		return EXIT_FAIL;
	}
	/* Checked before anything is opened for writing: a newer file stays untouched. */
	if (have > want) {
		fprintf(stderr, "gatehouse: database '%s' has schema version %d, newer than this "
			"build's %d: run the newer gatehouse, or restore a backup made before the "
			"upgrade\n", path, have, want);
		return EXIT_FAIL;
	}
	struct store *st;
	cfg->database_auto_migrate = true; /* what this command is for */
	if (daemon_open_store(cfg, false, 1, &st))
		return EXIT_FAIL;
	store_close(st);
	if (fresh)
		printf("created database %s at schema version %d\n", path, want);
	else if (have == want)
		printf("database %s: already at schema version %d, nothing to do\n", path, want);
	else
		printf("database %s: migrated from schema version %d to %d\n", path, have, want);
	return EXIT_OK;
}
