/*
 * store_pg.h - options only the PostgreSQL back end of the store has
 * (store.h is the contract every back end keeps). The database is a libpq
 * URI (postgres:// or postgresql://, several hosts and parameters allowed).
 */
#ifndef GATEHOUSE_STORE_PG_H
#define GATEHOUSE_STORE_PG_H

#include <stdbool.h>
#include <stdint.h>

struct store_pg_options {
	const char *password;       /* from database_password_file; NULL: the URL's or PGPASSFILE */
	int64_t connect_timeout_s;  /* libpq connect_timeout (at least 2) */
	int64_t statement_timeout_ms;
	int64_t lock_timeout_ms;
	/* Bring the schema up to date on open; off: refuse an older schema. */
	bool auto_migrate;
};

#endif
