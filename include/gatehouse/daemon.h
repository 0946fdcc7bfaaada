/*
 * daemon.h - running gatehouse: the serve command's daemon, and the two
 * pieces of setup the operator commands share with it (opening the store
 * and the key policy as the configuration says).
 */
#ifndef GATEHOUSE_DAEMON_H
#define GATEHOUSE_DAEMON_H

#include <stdbool.h>

#include "gatehouse/config.h"
#include "gatehouse/keyring.h"
#include "gatehouse/store.h"

/* Where the configuration came from, so that a reload reads it again. */
struct daemon_config_source {
	const char *file;          /* NULL: none */
	char **sets;               /* --set name=value */
	int nsets;
};

/*
 * Runs the daemon on cfg until SIGTERM or SIGINT (SIGHUP reloads from src):
 * 0 after a clean shutdown, -1 (logged) when it could not start.
 */
int daemon_serve(const struct daemon_config_source *src, const struct config *cfg);

/*
 * Opens the configured database: operator_mode for commands run beside a
 * live daemon (they never checkpoint, never create a database, and do not
 * take its lock); otherwise (serve, migrate) it may be created and its lock
 * is held until store_close, so that one daemon runs per database.
 * readers is the size of the read pool. 0, or -1 with the reason logged.
 */
int daemon_open_store(const struct config *cfg, bool operator_mode, int readers,
		      struct store **out /* OUT */);

/* The keyring's policy as the configuration sets it. */
void daemon_key_policy(const struct config *cfg, struct key_policy *p /* OUT */);

struct keywrap;
/*
 * The key-encryption key of key_encryption_key_file: 0 and *out (NULL when
 * the setting is empty; free with keywrap_free), or -1 with the reason
 * logged (a missing, unreadable or short file).
 */
int daemon_keywrap(const struct config *cfg, struct keywrap **out /* OUT */);

#endif
