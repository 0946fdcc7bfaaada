/*
 * main.c - the command line: options common to every command, then one
 * table of commands (git's cmd_struct): name, usage, function, and whether
 * the configuration is loaded first. The commands live in src/cmd/, the
 * daemon in daemon.c.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "gatehouse/alloc.h"
#include "gatehouse/cmd.h"
#include "gatehouse/config.h"
#include "gatehouse/log.h"
#include "gatehouse/banned.h"

/* Where an installed build looks for its config (the Makefile sets it from SYSCONFDIR). */
#ifndef GATEHOUSE_DEFAULT_CONFIG
#define GATEHOUSE_DEFAULT_CONFIG "/usr/local/etc/gatehouse/gatehouse.conf"
#endif

static const char usage_main[] =
	"usage: gatehouse [--config FILE] [--set name=value]... [COMMAND]\n"
	"\n"
	"An identity provider and player-data backend for games, in one daemon.\n"
	"\n"
	"Commands:\n"
	"  serve           run the daemon (the default)\n"
	"  check-config    check the configuration and print the effective settings\n"
	"  keys list       list the signing keys and their state\n"
	"  keys rotate     make a new signing key current now (emergency rotation)\n"
	"  keys encrypt|decrypt   store the signing keys encrypted under\n"
	"                  key_encryption_key_file, or plain again (daemon stopped)\n"
	"  keys rekey FILE re-encrypt the signing keys under a new key file\n"
	"  user show ID    print an account as JSON\n"
	"  user ban ID [--until TIME]    ban (and log out) a user, for good or until TIME\n"
	"  user unban ID   lift a ban\n"
	"  user delete ID  erase a user with all their sessions and data\n"
	"  sessions revoke ID [--session SID]   end a user's sessions (or one of them)\n"
	"  backup FILE     write a consistent, checked copy of the database (online)\n"
	"  restore FILE    replace the database with a backup (daemon stopped)\n"
	"  check-db [FILE] check a database file (default: the configured one)\n"
	"  migrate [--status]   show the schema versions, or apply pending migrations\n"
	"  copy-db --from FILE [--to DATABASE]   copy a SQLite database into a new one\n"
	"                  (PostgreSQL: moving onto many nodes), verified by counts\n"
	"  routes [--json] list the HTTP routes (method and path); --json adds the error table\n"
	"  version         print the version\n"
	"\n"
	"Options (for every command):\n"
	"  -c, --config FILE   read settings from FILE (also $GATEHOUSE_CONFIG; default:\n"
	"                      " GATEHOUSE_DEFAULT_CONFIG " when it exists)\n"
	"  --set name=value    override one setting (repeatable)\n"
	"  -h, --help          show help for the command\n"
	"\n"
	"Settings come from --set, then GATEHOUSE_<NAME> environment variables, then the\n"
	"config file, then built-in defaults; 'gatehouse check-config --sample' prints\n"
	"them all with their documentation. Only serve, migrate and restore create a\n"
	"database; the other commands open the configured one and fail when it is not there.\n";

static const struct cmd commands[] = {
	{ "serve", cmd_serve_usage, cmd_serve, CMD_CONFIG },
	{ "check-config", cmd_check_config_usage, cmd_check_config, 0 },
	{ "keys", cmd_keys_usage, cmd_keys, CMD_CONFIG },
	{ "user", cmd_user_usage, cmd_user, CMD_CONFIG },
	{ "sessions", cmd_sessions_usage, cmd_user, CMD_CONFIG },
	{ "backup", cmd_backup_usage, cmd_backup, CMD_CONFIG },
	{ "check-db", cmd_check_db_usage, cmd_check_db, CMD_CONFIG },
	{ "restore", cmd_restore_usage, cmd_restore, CMD_CONFIG },
	{ "migrate", cmd_migrate_usage, cmd_migrate, CMD_CONFIG },
	{ "copy-db", cmd_copy_db_usage, cmd_copy_db, CMD_CONFIG },
	{ "routes", cmd_routes_usage, cmd_routes, 0 },
	{ "version", cmd_version_usage, cmd_version, 0 },
	{ "help", usage_main, NULL, 0 },
};

static const struct cmd *find_command(const char *name)
{
	for (size_t i = 0; i < GH_ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int parse_cli(int argc, char **argv, struct cli *cli)
{
	memset(cli, 0, sizeof *cli);
	cli->sets = calloc((size_t)argc, sizeof *cli->sets);
	if (!cli->sets)
		return -1;
	cli->config_file = getenv("GATEHOUSE_CONFIG");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
			if (++i == argc)
				return -1;
			cli->config_file = argv[i];
		} else if (!strncmp(a, "--config=", 9)) {
			cli->config_file = a + 9;
		} else if (!strcmp(a, "--set")) {
			if (++i == argc)
				return -1;
			cli->sets[cli->nsets++] = argv[i];
		} else if (!strncmp(a, "--set=", 6)) {
			cli->sets[cli->nsets++] = (char *)a + 6;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cli->help = true;
		} else if (!strcmp(a, "--sample")) {
			cli->sample = true;
		} else if (!strcmp(a, "--man")) {
			cli->man = true;
		} else if (!strcmp(a, "--json")) {
			cli->json = true;
		} else if (!strcmp(a, "--status")) {
			cli->status = true;
		} else if (!strcmp(a, "--until") || !strcmp(a, "--session")) {
			if (++i == argc)
				return -1;
			*(a[2] == 'u' ? &cli->until : &cli->session) = argv[i];
		} else if (!strcmp(a, "--from") || !strcmp(a, "--to")) {
			if (++i == argc)
				return -1;
			*(a[2] == 'f' ? &cli->from : &cli->to) = argv[i];
		} else if (a[0] == '-') {
			fprintf(stderr, "gatehouse: unknown option '%s'\n", a);
			return -1;
		} else if (cli->nwords < (int)GH_ARRAY_SIZE(cli->words)) {
			cli->words[cli->nwords++] = a;
		} else {
			return -1;
		}
	}
	/* An installed build's config, unless --config or GATEHOUSE_CONFIG names one. */
	if (!cli->config_file && access(GATEHOUSE_DEFAULT_CONFIG, F_OK) == 0)
		cli->config_file = GATEHOUSE_DEFAULT_CONFIG;
	if (cli->config_file && !*cli->config_file)
		cli->config_file = NULL;
	return 0;
}

int cmd_load_config(const struct cli *cli, struct config *cfg)
{
	char err[512];
	if (config_load(cfg, cli->config_file, cli->sets, cli->nsets, err, sizeof err)) {
		fprintf(stderr, "gatehouse: configuration error: %s\n", err);
		config_release(cfg);
		return -1;
	}
	log_configure(cfg->log_level, cfg->log_format);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli;
	if (parse_cli(argc, argv, &cli)) {
		fputs(usage_main, stderr);
		free(cli.sets);
		return EXIT_USAGE;
	}
	const struct cmd *c = find_command(cli.nwords ? cli.words[0] : "serve");
	int ret;
	if (!c) {
		fprintf(stderr, "gatehouse: unknown command '%s'\n\n%s", cli.words[0], usage_main);
		ret = EXIT_USAGE;
		goto out;
	}
	/* Plain 'gatehouse --help' is about gatehouse, not about serve. */
	if (cli.help || !c->fn) {
		fputs(cli.nwords ? c->usage : usage_main, stdout);
		ret = EXIT_OK;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	json_object_seed(0);
	if (!(c->flags & CMD_CONFIG)) {
		ret = c->fn(&cli, NULL);
		goto out;
	}
	struct config cfg;
	if (cmd_load_config(&cli, &cfg)) {
		ret = EXIT_USAGE;
		goto out;
	}
	ret = c->fn(&cli, &cfg);
	config_release(&cfg);
out:
	free(cli.sets);
	return ret;
}
