/*
 * info.c - commands that tell rather than act: check-config, routes,
 * version.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "gatehouse/cmd.h"
#include "gatehouse/reply.h"
#include "gatehouse/router.h"
#include "gatehouse/store.h"
#include "gatehouse/banned.h"

#ifndef GATEHOUSE_VERSION
#define GATEHOUSE_VERSION "0.0.0-dev"
#endif

const char cmd_check_config_usage[] =
	"usage: gatehouse check-config [--config FILE] [--set name=value]... [--sample | --man]\n"
	"\n"
	"Checks the configuration; prints the effective settings and exits 0, or prints\n"
	"the first problem (with file and line) and exits 2.\n"
	"  --sample   print the documented sample config file instead\n"
	"  --man      print the man page's SETTINGS and ENVIRONMENT sections (roff)\n";

const char cmd_routes_usage[] =
	"usage: gatehouse routes [--json]\n\nLists every route of the HTTP router as METHOD PATH (without\n"
	"base_path), then the admin listener's own (/admin/..., /console); openapi.json\n"
	"documents exactly these. With --json: the routes with\n"
	"their error style and flags, and the error table (status, slug and body of\n"
	"every error in each style), which scripts/gen-openapi.py reads.\n";

const char cmd_version_usage[] = "usage: gatehouse version\n\nPrints the version.\n";

int cmd_check_config(const struct cli *cli, struct config *unused)
{
	(void)unused;
	if (cli->sample) {
		config_write_sample(stdout);
		return EXIT_OK;
	}
	if (cli->man) {
		config_write_man(stdout);
		return EXIT_OK;
	}
	struct config cfg;
	if (cmd_load_config(cli, &cfg))
		return EXIT_USAGE;
	config_write_effective(&cfg, stdout);
	fprintf(stderr, "configuration ok%s%s\n", cli->config_file ? ": " : "",
		cli->config_file ? cli->config_file : "");
	config_release(&cfg);
	return EXIT_OK;
}


static int routes_json(void)
{
	static const char *const styles[] = { [STYLE_JSON] = "json", [STYLE_COMPAT] = "compat",
					      [STYLE_APIGW] = "apigw" };
	size_t n, na;
	const struct route *routes = router_routes(&n);
	const struct route *admin = router_admin_routes(&na);
	json_t *arr = json_array();
	for (size_t i = 0; i < n + na; i++) {
		const struct route *r = i < n ? &routes[i] : &admin[i - n];
		bool own = (r->flags & (R_ADMIN | R_CONSOLE)) != 0;
		/* The admin listener's /metrics, /health and /ready are the public ones. */
		if (i >= n && !own)
			continue;
		json_t *m = json_array();
		for (unsigned b = 0; router_method_name(b); b++)
			if (r->methods & (1u << b))
				json_array_append_new(m, json_string(router_method_name(b)));
		json_array_append_new(arr, json_pack(
			"{s:s, s:o, s:s, s:b, s:b, s:b, s:s, s:b}", "path", r->path, "methods", m,
			"style", styles[r->style], "auth", (r->flags & R_AUTH) != 0, "rate_limited",
			(r->flags & R_LIMIT) != 0, "params", (r->flags & R_PARAMS) != 0, "listener",
			i < n ? "main" : "admin", "admin_token", (r->flags & R_ADMIN) != 0));
	}
	json_t *out = json_pack("{s:o, s:o}", "routes", arr, "errors", reply_table_json());
	char *text = json_dumps(out, JSON_INDENT(2));
	json_decref(out);
	if (!text)
		return EXIT_FAIL;
	printf("%s\n", text);
	free(text);
	return EXIT_OK;
}

int cmd_routes(const struct cli *cli, struct config *unused)
{
	(void)unused;
	if (cli->json)
		return routes_json();
	size_t n, na;
	const struct route *routes = router_routes(&n);
	const struct route *admin = router_admin_routes(&na);
	for (size_t i = 0; i < n + na; i++) {
		const struct route *r = i < n ? &routes[i] : &admin[i - n];
		if (i >= n && !(r->flags & (R_ADMIN | R_CONSOLE)))
			continue;
		for (unsigned m = 0; router_method_name(m); m++)
			if (r->methods & (1u << m))
				printf("%s %s\n", router_method_name(m), r->path);
	}
	return EXIT_OK;
}

int cmd_version(const struct cli *cli, struct config *unused)
{
	(void)cli;
	(void)unused;
	printf("gatehouse %s (database schema %d)\n", GATEHOUSE_VERSION, store_schema_version());
	return EXIT_OK;
}
