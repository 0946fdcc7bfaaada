/*
 * pg_admin.c - the PostgreSQL back end's schema and operator side:
 * migrations (one transaction under a transaction-scoped advisory lock, so
 * nodes started together on an empty database all come up; a newer schema
 * refused), the schema version and a check of a database named by URL, and
 * backup/restore, which are PostgreSQL's own tools' job here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/errors.h"
#include "gatehouse/log.h"
#include "gatehouse/store.h"
#include "gatehouse/strbuf.h"
#include "pg_int.h"

/* The first row's first column of a one-value query as an integer; -1 on failure. */
static long long query_int(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	long long v = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/* The schema version in the database (0: none), or -1 when it cannot be read. */
static int read_version(PGconn *pg)
{
	long long exists = query_int(pg, "SELECT count(*) FROM pg_catalog.pg_tables "
				     "WHERE schemaname = current_schema() "
				     "AND tablename = 'schema_version'");
	if (exists <= 0)
		return exists < 0 ? -1 : 0;
	long long v = query_int(pg, "SELECT coalesce(max(version), 0) FROM schema_version");
	return v < 0 ? -1 : (int)v;
}

int store_pg_migrate(void *ctxp, struct store_conn *base, char *err, size_t errlen)
{
	struct pg_ctx *ctx = ctxp;
	struct pg_conn *c = (struct pg_conn *)(void *)base;
	/*
	 * Nodes started together queue here while one migrates: their wait and
	 * a long migration are not bound by the per-request timeouts (5 min).
	 */
	char sql[192];
	snprintf(sql, sizeof sql, "BEGIN; SET LOCAL lock_timeout = '300s'; "
		 "SET LOCAL statement_timeout = '300s'; SELECT pg_advisory_xact_lock(%lld)",
		 (long long)PG_MIGRATE_LOCK);
	int rc = store_pg_exec(c, sql, "migration lock");
	if (rc) {
		snprintf(err, errlen, "cannot lock the schema of %s: %s", ctx->shown, c->errmsg);
		return rc;
	}
	int version = read_version(c->pg);
	if (version < 0) {
		snprintf(err, errlen, "cannot read the schema version of %s: %s", ctx->shown,
			 PQerrorMessage(c->pg));
		rc = GH_EUNAVAIL;
		goto out_rollback;
	}
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "database %s has schema version %d, newer than this "
			 "build's %d: use a newer gatehouse", ctx->shown, version,
			 STORE_SCHEMA_VERSION);
		rc = GH_EINTERNAL;
		goto out_rollback;
	}
	if (version == 0 && ctx->must_exist) {
		snprintf(err, errlen, "database %s holds no gatehouse schema; this command "
			 "never creates one: run 'gatehouse migrate' or start the daemon",
			 ctx->shown);
		rc = GH_ENOTFOUND;
		goto out_rollback;
	}
	if (version < STORE_SCHEMA_VERSION && !ctx->auto_migrate) {
		snprintf(err, errlen, "database %s has schema version %d, older than this "
			 "build's %d, and database_auto_migrate is off: run 'gatehouse migrate'",
			 ctx->shown, version, STORE_SCHEMA_VERSION);
		rc = GH_EINTERNAL;
		goto out_rollback;
	}
	if (version == 0) {
		rc = store_pg_exec(c, "CREATE TABLE schema_version (version integer NOT NULL)",
				   "migration");
		if (rc)
			goto out_fail;
	}
	for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
		rc = store_pg_exec(c, store_pg_migrations[v], "migration");
		if (rc)
			goto out_fail;
		snprintf(sql, sizeof sql, "INSERT INTO schema_version (version) VALUES (%d)", v + 1);
		rc = store_pg_exec(c, sql, "migration");
		if (rc)
			goto out_fail;
		log_info("database schema migrated to version %d", v + 1);
	}
	rc = store_pg_exec(c, "COMMIT", "migration");
	if (rc)
		goto out_fail;
	return 0;

out_fail:
	snprintf(err, errlen, "cannot prepare the schema of %s: %s", ctx->shown, c->errmsg);
out_rollback:
	store_pg_exec(c, "ROLLBACK", "migration");
	return rc ? rc : GH_EINTERNAL;
}

int store_pg_backup(void *ctx, const char *dest, char *err, size_t errlen)
{
	(void)ctx;
	(void)dest;
	snprintf(err, errlen, "the database is PostgreSQL: back it up with PostgreSQL's own "
		 "tools (pg_dump -Fc, or pg_basebackup with WAL archiving), not 'gatehouse backup'");
	return GH_EINVAL;
}

int store_pg_restore(void *ctx, const char *from, char *kept_aside, size_t kept_len,
		     char *err, size_t errlen)
{
	(void)ctx;
	(void)from;
	if (kept_len)
		kept_aside[0] = '\0';
	snprintf(err, errlen, "the database is PostgreSQL: restore it with pg_restore "
		 "(from a pg_dump -Fc archive), not 'gatehouse restore'");
	return GH_EINVAL;
}

/* A connection to the database at url (password from the URL, PGPASSWORD or PGPASSFILE). */
static PGconn *admin_connect(const char *url, char *err, size_t errlen)
{
	const char *keys[] = { "fallback_application_name", "connect_timeout", "dbname", NULL };
	const char *vals[] = { "gatehouse", "5", url, NULL };
	PGconn *pg = PQconnectdbParams(keys, vals, 1);
	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		char *shown = store_database_redacted(url);
		char msg[256];
		snprintf(msg, sizeof msg, "%s", pg ? PQerrorMessage(pg) : "out of memory");
		msg[strcspn(msg, "\n")] = '\0';
		snprintf(err, errlen, "cannot connect to database %s: %s", shown, msg);
		free(shown);
		PQfinish(pg);
		return NULL;
	}
	return pg;
}

int store_pg_file_version(const char *path, int *out, char *err, size_t errlen)
{
	*out = 0;
	PGconn *pg = admin_connect(path, err, errlen);
	if (!pg)
		return GH_EUNAVAIL;
	int v = read_version(pg);
	int ret = 0;
	if (v < 0) {
		snprintf(err, errlen, "cannot read the schema version: %s", PQerrorMessage(pg));
		ret = GH_EINTERNAL;
	} else {
		*out = v;
	}
	PQfinish(pg);
	return ret;
}

int store_pg_check_file(const char *path, struct strbuf *report)
{
	char err[512];
	PGconn *pg = admin_connect(path, err, sizeof err);
	if (!pg) {
		sb_addf(report, "%s", err);
		return GH_EUNAVAIL;
	}
	int ret = 0;
	int v = read_version(pg);
	if (v <= 0) {
		sb_addf(report, v < 0 ? "cannot read the schema version" :
			  "no gatehouse schema in this database");
		ret = v < 0 ? GH_EUNAVAIL : GH_EINTERNAL;
		goto out;
	}
	if (v > STORE_SCHEMA_VERSION) {
		sb_addf(report, "schema version %d is newer than this build's %d", v,
			  STORE_SCHEMA_VERSION);
		ret = GH_EINTERNAL;
		goto out;
	}
	static const char *const tables[] = { "users", "identities", "sessions", "signing_keys",
					      "player_data" };
	sb_addf(report, "schema version %d", v);
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		char sql[96];
		snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i]);
		long long n = query_int(pg, sql);
		if (n < 0) {
			sb_addf(report, "; table %s cannot be read", tables[i]);
			ret = GH_EINTERNAL;
			continue;
		}
		sb_addf(report, ", %lld %s", n, tables[i]);
	}
	/* Every session and document belongs to a user (the foreign keys say so; check). */
	long long orphans = query_int(pg, "SELECT (SELECT count(*) FROM sessions s WHERE NOT "
				      "EXISTS (SELECT 1 FROM users u WHERE u.user_id = s.user_id)) + "
				      "(SELECT count(*) FROM player_data p WHERE NOT EXISTS "
				      "(SELECT 1 FROM users u WHERE u.user_id = p.user_id))");
	if (orphans != 0) {
		sb_addf(report, "; %lld rows without their user", orphans);
		ret = GH_EINTERNAL;
	}
out:
	PQfinish(pg);
	return ret;
}
