/*
 * db.c - `gatehouse backup` and `gatehouse check-db`: copies and checks of
 * the database file.
 */
#include <stdio.h>

#include "gatehouse/cmd.h"
#include "gatehouse/daemon.h"
#include "gatehouse/store.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/banned.h"

const char cmd_backup_usage[] =
	"usage: gatehouse backup FILE [--config FILE] [--set name=value]...\n"
	"\n"
	"Writes a consistent copy of the database to FILE while the daemon serves\n"
	"(SQLite VACUUM INTO), fsyncs it, checks its integrity and only then gives it its\n"
	"name. FILE must not exist. Exit status: 0 done, 1 failed, 2 usage error.\n"
	"To restore: stop the daemon, check the copy with 'gatehouse check-db FILE',\n"
	"remove the database and its -wal and -shm files, copy FILE to database_path,\n"
	"start the daemon.\n";

const char cmd_check_db_usage[] =
	"usage: gatehouse check-db [FILE] [--config FILE] [--set name=value]...\n"
	"\n"
	"Opens a database file read-only (default: database_path) and checks its\n"
	"integrity and foreign keys; prints what it holds. Exit status: 0 healthy,\n"
	"1 damaged, unreadable or not a gatehouse database, 2 usage error.\n";

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
		return EXIT_FAIL;
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
	const char *path = cli->nwords == 2 ? cli->words[1] : cfg->database_path;
	struct strbuf report = STRBUF_INIT;
	int rc = store_check_file(path, &report);
	printf("%s: %s\n", path, report.buf ? report.buf : "");
	sb_release(&report);
	return rc ? EXIT_FAIL : EXIT_OK;
}
