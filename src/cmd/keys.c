/*
 * keys.c - `gatehouse keys list|rotate`: the signing keys of the database.
 */
#include <stdio.h>
#include <string.h>

#include "gatehouse/clock.h"
#include "gatehouse/cmd.h"
#include "gatehouse/daemon.h"
#include "gatehouse/errors.h"
#include "gatehouse/keyring.h"
#include "gatehouse/log.h"
#include "gatehouse/store.h"
#include "gatehouse/banned.h"

const char cmd_keys_usage[] =
	"usage: gatehouse keys list|rotate [--config FILE] [--set name=value]...\n"
	"\n"
	"  list     show every signing key: kid, use, algorithm, state, activation time\n"
	"  rotate   create a new access key (signing_alg) and refresh key that sign from\n"
	"           now on; the old keys stay published until no token they signed can\n"
	"           be live. A running daemon picks the new keys up within 2 seconds.\n";

int cmd_keys(const struct cli *cli, struct config *cfg)
{
	const char *sub = cli->nwords > 1 ? cli->words[1] : NULL;
	if (!sub || (strcmp(sub, "list") && strcmp(sub, "rotate"))) {
		fputs(cmd_keys_usage, stderr);
		return EXIT_USAGE;
	}
	struct store *st;
	if (daemon_open_store(cfg, true, 1, &st))
		return EXIT_FAIL;
	struct key_policy pol;
	daemon_key_policy(cfg, &pol);
	struct keyring *kr = keyring_new(st, &pol);
	int rc = keyring_reload(kr);
	int64_t now = gh_now();
	if (!rc && !strcmp(sub, "rotate")) {
		rc = keyring_rotate_now(kr, now);
		if (!rc) {
			struct keyset *ks = keyset_get(kr);
			const struct signing_key *k = NULL;
			for (size_t i = 0; i < ks->n; i++)
				if (ks->keys[i].use == KEY_USE_ACCESS &&
				    (!k || ks->keys[i].activate_at >= k->activate_at))
					k = &ks->keys[i];
			printf("rotated: access key %s (%s) signs from now on; a running daemon "
			       "picks it up within 2 seconds\n", k ? k->kid : "?",
			       k ? keyring_alg_name(k->alg) : "?");
			keyset_put(ks);
		}
	} else if (!rc) {
		struct keyset *ks = keyset_get(kr);
		printf("%-36s  %-7s  %-5s  %-8s  %-20s  %s\n", "KID", "USE", "ALG", "STATE",
		       "SIGNS FROM", "CREATED");
		for (size_t i = 0; i < ks->n; i++) {
			const struct signing_key *k = &ks->keys[i];
			const struct signing_key *cur = keyset_signing_key(ks, k->use, now);
			const char *state = k == cur ? "current" : k->activate_at > now ? "next" :
					    "previous";
			char act[32], created[32];
			gh_format_time(k->activate_at, act, sizeof act);
			gh_format_time(k->created_at, created, sizeof created);
			printf("%-36s  %-7s  %-5s  %-8s  %-20s  %s\n", k->kid,
			       k->use == KEY_USE_ACCESS ? "access" : "refresh",
			       keyring_alg_name(k->alg), state, act, created);
		}
		if (ks->n == 0)
			printf("(no keys yet: the daemon creates them at its first start)\n");
		keyset_put(ks);
	}
	keyring_free(kr);
	store_close(st);
	if (rc) {
		log_error("keys %s failed: %s", sub, gh_strerror(rc));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
