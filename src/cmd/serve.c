/*
 * serve.c - `gatehouse serve` (the default command): the daemon.
 */
#include <stdio.h>

#include "gatehouse/cmd.h"
#include "gatehouse/daemon.h"
#include "gatehouse/httpc.h"
#include "gatehouse/log.h"
#include "gatehouse/banned.h"

const char cmd_serve_usage[] =
	"usage: gatehouse serve [--config FILE] [--set name=value]...\n"
	"\n"
	"Runs the daemon in the foreground, logging to stderr. With no configuration it\n"
	"listens on 127.0.0.1:8080 and keeps its database in ./var/. SIGTERM or SIGINT\n"
	"stop it gracefully (in-flight requests finish, up to shutdown_timeout).\n"
	"At start it checks that its ports can be bound, then takes the database's lock\n"
	"(DATABASE.lock: one daemon per database; a second one is refused, naming the\n"
	"PID that holds it), then creates or migrates the database: a port in use or a\n"
	"second daemon changes nothing.\n";

int cmd_serve(const struct cli *cli, struct config *cfg)
{
	if (httpc_global_init()) {
		log_error("cannot initialise libcurl");
		return EXIT_FAIL;
	}
	struct daemon_config_source src = { cli->config_file, cli->sets, cli->nsets };
	int rc = daemon_serve(&src, cfg);
	httpc_global_cleanup();
	return rc ? EXIT_FAIL : EXIT_OK;
}
