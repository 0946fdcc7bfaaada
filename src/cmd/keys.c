/*
 * keys.c - `gatehouse keys list|rotate|encrypt|decrypt|rekey`: the signing
 * keys of the database, and moving them on or off encryption at rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "gatehouse/clock.h"
#include "gatehouse/cmd.h"
#include "gatehouse/daemon.h"
#include "gatehouse/errors.h"
#include "gatehouse/keyring.h"
#include "gatehouse/keywrap.h"
#include "gatehouse/log.h"
#include "gatehouse/store.h"
#include "gatehouse/banned.h"

const char cmd_keys_usage[] =
	"usage: gatehouse keys list|rotate|encrypt|decrypt [--config FILE] [--set name=value]...\n"
	"       gatehouse keys rekey NEW_KEY_FILE [--config FILE] [--set name=value]...\n"
	"\n"
	"  list     show every signing key: kid, use, algorithm, state, activation time\n"
	"  rotate   create a new access key (signing_alg) and refresh key that sign from\n"
	"           now on; the old keys stay published until no token they signed can\n"
	"           be live. A running daemon picks the new keys up within 2 seconds.\n"
	"  encrypt  store every key encrypted under key_encryption_key_file (stop the\n"
	"           daemon first; start it again with that setting)\n"
	"  decrypt  store every key unencrypted again (then clear key_encryption_key_file)\n"
	"  rekey    re-encrypt every key under NEW_KEY_FILE (decrypting with\n"
	"           key_encryption_key_file when set); then point the setting at it\n"
	"  Nothing is written unless every key could be moved.\n";

enum rewrap_mode { REWRAP_ENCRYPT, REWRAP_DECRYPT, REWRAP_REKEY };

/*
 * Moves every stored key to the form mode asks for: from (may be NULL)
 * opens sealed keys, to (NULL: decrypt) seals. All keys are prepared before
 * one transaction writes them, so a failure leaves the database as it was.
 */
static int rewrap_keys(struct store *st, enum rewrap_mode mode, const struct keywrap *from,
		       const struct keywrap *to)
{
	struct store_key *sk;
	size_t n;
	int rc = store_keys_list(st, &sk, &n);
	if (rc)
		return rc;
	struct store_key *out = calloc(n ? n : 1, sizeof *out);
	size_t nout = 0;
	if (!out) {
		rc = GH_EUNAVAIL;
		goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		bool sealed = keywrap_is_sealed(sk[i].material, sk[i].material_len);
		unsigned char *plain = sk[i].material;
		size_t plain_len = sk[i].material_len;
		unsigned char *opened = NULL;
		if (sealed) {
			if (!from) {
				log_error("key '%s' is encrypted but key_encryption_key_file is not "
					  "set", sk[i].kid);
				rc = GH_EAUTH;
				goto out_free;
			}
			rc = keywrap_open(from, sk[i].kid, sk[i].use, sk[i].material,
					  sk[i].material_len, &opened, &plain_len);
			if (rc) {
				log_error("cannot decrypt key '%s': wrong key_encryption_key_file, or "
					  "the row was altered", sk[i].kid);
				goto out_free;
			}
			plain = opened;
		}
		struct store_key *o = &out[nout];
		if (mode == REWRAP_ENCRYPT && sealed) {
			/* Already encrypted under this key (checked above). */
		} else if (mode == REWRAP_DECRYPT && !sealed) {
			/* Already plain. */
		} else if (mode == REWRAP_DECRYPT) {
			*o = sk[i];
			o->material = opened;
			o->material_len = plain_len;
			opened = NULL;
			nout++;
		} else {
			*o = sk[i];
			rc = keywrap_seal(to, sk[i].kid, sk[i].use, plain, plain_len, &o->material,
					  &o->material_len);
			if (!rc)
				nout++;
		}
		if (opened) {
			OPENSSL_cleanse(opened, plain_len);
			free(opened);
		}
		if (rc)
			goto out_free;
	}
	if (nout)
		rc = store_keys_set_material(st, out, nout);
	if (!rc)
		printf("%s %zu of %zu signing key(s)%s\n",
		       mode == REWRAP_ENCRYPT ? "encrypted" :
		       mode == REWRAP_DECRYPT ? "decrypted" : "re-encrypted", nout, n,
		       mode == REWRAP_ENCRYPT ? "; start the daemon with key_encryption_key_file set" :
		       mode == REWRAP_DECRYPT ? "; clear key_encryption_key_file before starting "
						"the daemon" :
						"; point key_encryption_key_file at the new file "
						"before starting the daemon");
out_free:
	if (out)
		store_keys_free(out, nout);
	store_keys_free(sk, n);
	return rc;
}

int cmd_keys(const struct cli *cli, struct config *cfg)
{
	const char *sub = cli->nwords > 1 ? cli->words[1] : NULL;
	static const char *const subs[] = { "list", "rotate", "encrypt", "decrypt", "rekey" };
	bool known = false;
	for (size_t i = 0; sub && i < sizeof subs / sizeof subs[0]; i++)
		known |= strcmp(sub, subs[i]) == 0;
	bool rekey = known && !strcmp(sub, "rekey");
	if (!known || (rekey ? cli->nwords != 3 : cli->nwords > 2)) {
		fputs(cmd_keys_usage, stderr);
		return EXIT_USAGE;
	}
	bool enc = !strcmp(sub, "encrypt"), dec = !strcmp(sub, "decrypt");
	if ((enc || dec) && !*cfg->key_encryption_key_file) {
		log_error("keys %s needs key_encryption_key_file (in the configuration, or --set "
			  "key_encryption_key_file=FILE)", sub);
		return EXIT_FAIL;
	}
	/* Key files first: a missing one changes nothing. */
	struct keywrap *kw = NULL, *new_kw = NULL;
	if (daemon_keywrap(cfg, &kw))
		return EXIT_FAIL;
	if (rekey) {
		char err[512];
		if (keywrap_load(cli->words[2], &new_kw, err, sizeof err)) {
			log_error("%s", err);
			keywrap_free(kw);
			return EXIT_FAIL;
		}
	}
	struct store *st;
	if (daemon_open_store(cfg, true, 1, &st)) {
		keywrap_free(kw);
		keywrap_free(new_kw);
		return EXIT_FAIL;
	}
	if (enc || dec || rekey) {
		int rrc = rewrap_keys(st, enc ? REWRAP_ENCRYPT : dec ? REWRAP_DECRYPT : REWRAP_REKEY,
				      kw, enc ? kw : new_kw);
		store_close(st);
		keywrap_free(kw);
		keywrap_free(new_kw);
		if (rrc) {
			log_error("keys %s failed: %s; nothing changed", sub, gh_strerror(rrc));
			return EXIT_FAIL;
		}
		return EXIT_OK;
	}
	struct key_policy pol;
	daemon_key_policy(cfg, &pol);
	struct keyring *kr = keyring_new(st, &pol);
	keyring_set_keywrap(kr, kw);
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
			int64_t wait = k && k->activate_at > now ? k->activate_at - now : 0;
			if (wait)
				printf("rotated: access key %s (%s) signs in %lld s, once every node "
				       "has published it (running daemons load it within a second "
				       "or two)\n", k->kid, keyring_alg_name(k->alg), (long long)wait);
			else
				printf("rotated: access key %s (%s) signs from now on; running daemons "
				       "pick it up within a second or two\n", k ? k->kid : "?",
				       k ? keyring_alg_name(k->alg) : "?");
			keyset_put(ks);
		}
	} else if (!rc) {
		struct keyset *ks = keyset_get(kr);
		printf("%-36s  %-7s  %-5s  %-8s  %-20s  %s\n", "KID", "USE", "ALG", "STATE",
		       "SIGNS FROM", "CREATED");
		for (size_t i = 0; i < ks->n; i++) {
			const struct signing_key *k = &ks->keys[i];
			const char *state = keyset_key_state(ks, k, now);
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
	keywrap_free(kw);
	store_close(st);
	if (rc) {
		log_error("keys %s failed: %s", sub, gh_strerror(rc));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
