/*
 * copy.c - `gatehouse copy-db`: copies an existing SQLite deployment into a
 * new, empty database (PostgreSQL, to run many nodes; or another file), in
 * one transaction of the target, verified by counts.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gatehouse/cmd.h"
#include "gatehouse/errors.h"
#include "gatehouse/log.h"
#include "gatehouse/store.h"
#include "gatehouse/store_pg.h"
#include "gatehouse/store_sqlite.h"
#include "gatehouse/banned.h"

const char cmd_copy_db_usage[] =
	"usage: gatehouse copy-db --from FILE [--to DATABASE] [--config FILE] [--set name=value]...\n"
	"\n"
	"Copies every user, identity, session, signing key (as stored: sealed keys stay\n"
	"sealed) and document of the SQLite database FILE into DATABASE (default: the\n"
	"configured database), which must be new or empty: a PostgreSQL database when\n"
	"moving onto many nodes. The target is written in one transaction and checked by\n"
	"counts before it commits, so it ends up a full copy or untouched. Stop the daemon\n"
	"on FILE first (what it writes during the copy would be missed). Prints the counts.\n"
	"Exit status: 0 copied, 1 refused (target not empty, schema versions differ) or\n"
	"failed, 2 usage error.\n";

int cmd_copy_db(const struct cli *cli, struct config *cfg)
{
	if (cli->nwords != 1 || !cli->from || !*cli->from) {
		fputs(cmd_copy_db_usage, stderr);
		return EXIT_USAGE;
	}
	const char *to = cli->to && *cli->to ? cli->to : cfg->database;
	int have = 0, want = store_schema_version();
	char err[512];
	if (store_file_schema_version(cli->from, &have, err, sizeof err)) {
		fprintf(stderr, "gatehouse: copy-db: cannot read '%s': %s\n", cli->from,
			*err ? err : "no such database");
		return EXIT_FAIL;
	}
	if (have != want) {
		fprintf(stderr, "gatehouse: copy-db: '%s' has schema version %d, this build %d: "
			"upgrade it first (gatehouse migrate --set database_path=%s)\n", cli->from,
			have, want, cli->from);
		return EXIT_FAIL;
	}
	struct store_sqlite_options sq = {
		.sync_full = true,
		.busy_timeout_ms = cfg->sqlite_busy_timeout * 1000,
		.operator_mode = true,
	};
	struct store_options src_opt = { .path = cli->from, .readers = 1, .must_exist = true,
					 .sqlite = &sq };
	struct store_sqlite_options tq = { .sync_full = true,
					   .busy_timeout_ms = cfg->sqlite_busy_timeout * 1000 };
	/* PostgreSQL: the password from database_password_file (or the URL, or PGPASSFILE). */
	struct store_pg_options pg = {
		.password = cfg->database_password,
		.connect_timeout_s = cfg->database_connect_timeout,
		.statement_timeout_ms = 0,     /* one long transaction: no statement limit */
		.lock_timeout_ms = cfg->database_lock_timeout * 1000,
		.auto_migrate = true,
	};
	/* The target is created and migrated (a SQLite file is held: no daemon meanwhile). */
	struct store_options dst_opt = { .path = to, .readers = 1, .exclusive = true,
					 .sqlite = &tq, .pg = &pg };
	struct store *src = NULL, *dst = NULL;
	if (store_open(&src_opt, &src, err, sizeof err)) {
		fprintf(stderr, "gatehouse: copy-db: %s\n", err);
		return EXIT_FAIL;
	}
	if (store_open(&dst_opt, &dst, err, sizeof err)) {
		fprintf(stderr, "gatehouse: copy-db: %s\n", err);
		store_close(src);
		return EXIT_FAIL;
	}
	struct store_copy_counts n;
	int rc = store_copy(src, dst, &n, err, sizeof err);
	store_close(dst);
	store_close(src);
	if (rc) {
		fprintf(stderr, "gatehouse: copy-db refused: %s\n", err);
		return EXIT_FAIL;
	}
	char *shown = store_database_redacted(to);
	printf("copied %s to %s: users %lld, identities %lld, sessions %lld, signing keys %lld, "
	       "documents %lld (counts verified)\n", cli->from, shown, (long long)n.users,
	       (long long)n.identities, (long long)n.sessions, (long long)n.keys,
	       (long long)n.documents);
	log_info("operator: copied database %s to %s", cli->from, shown);
	free(shown);
	return EXIT_OK;
}
