/*
 * user.c - `gatehouse user show|ban|unban|delete` and `gatehouse sessions
 * revoke`: operator actions on one player, beside a running daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "gatehouse/clock.h"
#include "gatehouse/cmd.h"
#include "gatehouse/daemon.h"
#include "gatehouse/encoding.h"
#include "gatehouse/errors.h"
#include "gatehouse/handlers.h"
#include "gatehouse/log.h"
#include "gatehouse/parse.h"
#include "gatehouse/store.h"
#include "gatehouse/banned.h"

const char cmd_user_usage[] =
	"usage: gatehouse user show|ban|unban|delete ID [--until TIME] [--config FILE]\n"
	"\n"
	"Operator commands on the daemon's database; they work while the daemon runs and\n"
	"count from the next request on.\n"
	"  show ID      print the account as JSON (the fields of GET /get-user)\n"
	"  ban ID       refuse the user's logins, refreshes and tokens, and end their\n"
	"               sessions; --until TIME ends the ban at TIME (RFC 3339, e.g.\n"
	"               2027-01-31T00:00:00Z) or after a duration (e.g. 7d); without it,\n"
	"               for good\n"
	"  unban ID     lift a ban (ended sessions stay ended)\n"
	"  delete ID    erase the user, identities, sessions and player data\n"
	"They never create a database: with none at database_path they fail, naming it.\n"
	"Exit status: 0 done, 1 no such user (or no database), 2 usage error.\n";

const char cmd_sessions_usage[] =
	"usage: gatehouse sessions revoke ID [--session SID] [--config FILE]\n"
	"\n"
	"Ends every live session of user ID, or only session SID; their refresh tokens\n"
	"stop working at once. Access tokens already issued stay valid until they expire\n"
	"(at most access_token_ttl); ban the user to refuse those too.\n"
	"It never creates a database: with none at database_path it fails, naming it.\n"
	"Exit status: 0 done, 1 no such user or session (or no database), 2 usage error.\n";

/* "7d"-style durations from now, or an RFC 3339 time. 0 or an error. */
static int parse_when(const char *s, int64_t now, int64_t *out)
{
	int64_t d;
	if (gh_parse_duration(s, &d) == 0) {
		/* Beyond the end of time is for good. */
		*out = d >= STORE_BAN_FOREVER - now ? STORE_BAN_FOREVER : now + d;
		return 0;
	}
	return gh_parse_rfc3339(s, out);
}

int cmd_user(const struct cli *cli, struct config *cfg)
{
	const char *sub = cli->nwords > 1 ? cli->words[1] : NULL;
	const char *id = cli->nwords > 2 ? cli->words[2] : NULL;
	bool is_sessions = !strcmp(cli->words[0], "sessions");
	bool known = sub && (is_sessions ? !strcmp(sub, "revoke") :
			     (!strcmp(sub, "show") || !strcmp(sub, "ban") || !strcmp(sub, "unban") ||
			      !strcmp(sub, "delete")));
	bool extra = known && ((cli->until && (is_sessions || strcmp(sub, "ban"))) ||
			       (cli->session && !is_sessions));
	if (!known || !id || cli->nwords > 3 || extra) {
		fputs(is_sessions ? cmd_sessions_usage : cmd_user_usage, stderr);
		return EXIT_USAGE;
	}
	int64_t now = gh_now(), until = STORE_BAN_FOREVER, sid = 0;
	if (cli->until && parse_when(cli->until, now, &until)) {
		fprintf(stderr, "gatehouse: --until '%s': expected an RFC 3339 time or a duration\n",
			cli->until);
		return EXIT_USAGE;
	}
	if (cli->session) {
		char *end;
		sid = strtoll(cli->session, &end, 10);
		if (*end || sid <= 0) {
			fprintf(stderr, "gatehouse: --session '%s': expected a session id\n",
				cli->session);
			return EXIT_USAGE;
		}
	}
	if (!gh_is_uuid(id, strlen(id))) {
		fprintf(stderr, "gatehouse: no such user '%s'\n", id);
		return EXIT_FAIL;
	}
	struct store *st;
	if (daemon_open_store(cfg, true, 1, &st))
		return EXIT_FAIL;
	int rc;
	int64_t n = 0;
	if (is_sessions) {
		struct store_user u;
		rc = store_user_get(st, id, &u);
		if (!rc && sid)
			rc = store_session_end(st, sid, id, now, "operator", &n);
		else if (!rc)
			rc = store_sessions_end_all(st, id, now, "operator", &n);
		if (!rc && sid && !n)
			rc = GH_ENOTFOUND;
		if (!rc)
			printf("ended %lld session(s) of user %s\n", (long long)n, id);
	} else if (!strcmp(sub, "show")) {
		struct store_account a;
		rc = store_account_get(st, id, now, false, &a);
		if (!rc) {
			json_t *j = handlers_account_json(&a, now);
			char *text = json_dumps(j, JSON_INDENT(2));
			printf("%s\n", text ? text : "{}");
			free(text);
			json_decref(j);
		}
		store_account_release(&a);
	} else if (!strcmp(sub, "ban")) {
		rc = store_user_set_ban(st, id, until, now, &n);
		if (!rc) {
			char when[32];
			gh_format_time(until, when, sizeof when);
			printf("banned user %s %s%s (%lld session(s) ended)\n", id,
			       until == STORE_BAN_FOREVER ? "for good" : "until ",
			       until == STORE_BAN_FOREVER ? "" : when, (long long)n);
		}
	} else if (!strcmp(sub, "unban")) {
		rc = store_user_set_ban(st, id, 0, now, NULL);
		if (!rc)
			printf("lifted any ban of user %s\n", id);
	} else {
		rc = store_user_delete(st, id);
		if (!rc)
			printf("deleted user %s\n", id);
	}
	store_close(st);
	if (rc == GH_ENOTFOUND) {
		fprintf(stderr, "gatehouse: no such %s '%s'\n", sid ? "session of user" : "user", id);
		return EXIT_FAIL;
	}
	if (rc) {
		fprintf(stderr, "gatehouse: %s %s failed: %s\n", cli->words[0], sub, gh_strerror(rc));
		return EXIT_FAIL;
	}
	if (!is_sessions && strcmp(sub, "show"))
		log_info("operator: user %s %s%s%s", sub, id, cli->until ? " until " : "",
			 cli->until ? cli->until : "");
	return EXIT_OK;
}
