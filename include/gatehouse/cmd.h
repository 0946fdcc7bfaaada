/*
 * cmd.h - the commands of the gatehouse binary (src/cmd/, the table in
 * main.c): each gets the parsed command line and, when its table entry says
 * CMD_CONFIG, the loaded configuration (else NULL), and returns the exit
 * status.
 */
#ifndef GATEHOUSE_CMD_H
#define GATEHOUSE_CMD_H

#include <stdbool.h>

#include "gatehouse/config.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct cli {
	const char *config_file;
	char **sets;
	int nsets;
	const char *words[4];      /* the command and its sub-command */
	int nwords;
	bool help;
	bool sample;               /* check-config --sample */
	bool man;                  /* check-config --man */
	bool json;                 /* routes --json */
	bool status;               /* migrate --status */
	const char *until;         /* user ban --until */
	const char *session;       /* sessions revoke --session */
	const char *from;          /* copy-db --from */
	const char *to;            /* copy-db --to */
};

enum cmd_flags {
	CMD_CONFIG = 1 << 0,       /* load the configuration first (fatal when bad) */
};

struct cmd {
	const char *name;
	const char *usage;         /* printed by --help and on misuse */
	int (*fn)(const struct cli *cli, struct config *cfg);
	unsigned flags;            /* enum cmd_flags */
};

/* Loads the configuration the command line names; 0, or -1 (said on stderr). */
int cmd_load_config(const struct cli *cli, struct config *cfg /* OUT */);

extern const char cmd_serve_usage[], cmd_check_config_usage[], cmd_keys_usage[],
	cmd_user_usage[], cmd_sessions_usage[], cmd_backup_usage[], cmd_check_db_usage[],
	cmd_restore_usage[], cmd_migrate_usage[], cmd_routes_usage[], cmd_version_usage[],
	cmd_copy_db_usage[];

int cmd_serve(const struct cli *cli, struct config *cfg);        /* serve.c */
int cmd_check_config(const struct cli *cli, struct config *cfg); /* info.c */
int cmd_routes(const struct cli *cli, struct config *cfg);       /* info.c */
int cmd_version(const struct cli *cli, struct config *cfg);      /* info.c */
int cmd_keys(const struct cli *cli, struct config *cfg);         /* keys.c */
int cmd_user(const struct cli *cli, struct config *cfg);         /* user.c: user, sessions */
int cmd_backup(const struct cli *cli, struct config *cfg);       /* db.c */
int cmd_check_db(const struct cli *cli, struct config *cfg);     /* db.c */
int cmd_restore(const struct cli *cli, struct config *cfg);      /* db.c */
int cmd_migrate(const struct cli *cli, struct config *cfg);      /* db.c */
int cmd_copy_db(const struct cli *cli, struct config *cfg);      /* copy.c */

#endif
