/*
 * test_config_platforms.c - the platform side of config_load (API.md C,
 * C.4): generic OIDC providers from oidc_providers and the
 * oidc_<name>_<field> settings (file, GATEHOUSE_OIDC_<NAME>_<FIELD>,
 * --set; later sources win), their checks and defaults, config_oidc,
 * config_dup and reload merging; and the platform secrets: read from a
 * file (or $CREDENTIALS_DIRECTORY, or the environment), trimmed, checked,
 * required together, and never printed by config_write_effective.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatehouse/config.h"
#include "gatehouse/log.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "harness.h"
#include "fixtures.h"

static char tmp_dir[64];
static int file_seq;

/* Writes text to a new file in the test's directory; returns its path (caller frees). */
static char *write_file(const char *text)
{
	char name[16];
	snprintf(name, sizeof name, "f%d", ++file_seq);
	return fixture_write_file(tmp_dir, name, text);
}

static int load(struct config *cfg, const char *file, char *const *sets, int nsets,
		char *err, size_t errlen)
{
	err[0] = '\0';
	return config_load(cfg, file, sets, nsets, err, errlen);
}

/* Loads text as a config file (no env, no --set); rc, err in err. */
static int load_text(struct config *cfg, const char *text, char *err, size_t errlen)
{
	char *path = write_file(text);
	int rc = load(cfg, path, NULL, 0, err, errlen);
	unlink(path);
	free(path);
	return rc;
}

static size_t list_len(char *const *l)
{
	size_t n = 0;
	while (l && l[n])
		n++;
	return n;
}

#define EPIC_OK                                                               \
	"oidc_providers epic\n"                                               \
	"oidc_epic_issuer https://api.epicgames.dev/epic/oauth/v2\n"          \
	"oidc_epic_jwks_url https://api.epicgames.dev/epic/oauth/v2/.well-known/jwks.json\n" \
	"oidc_epic_audiences xyza7891EpicClientId\n"

/* ---- OIDC providers ---- */

TEST(no_providers_by_default)
{
	fixture_clear_env();
	struct config cfg;
	char err[512];
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), 0);
	CHECK_INT(cfg.noidc, 0);
	CHECK(config_oidc(&cfg, "epic") == NULL);
	CHECK(cfg.steam_web_api_key == NULL);
	CHECK(cfg.google_play_client_secret == NULL);
	CHECK(!config_steam_enabled(&cfg));
	CHECK(!config_google_play_enabled(&cfg));
	CHECK(!config_apple_enabled(&cfg));
	CHECK(!config_facebook_enabled(&cfg));
	config_release(&cfg);
}

TEST(provider_from_file_with_defaults)
{
	fixture_clear_env();
	struct config cfg;
	char err[512];
	CHECK_INT(load_text(&cfg, EPIC_OK, err, sizeof err), 0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	CHECK_INT(cfg.noidc, 1);
	const struct oidc_provider *p = config_oidc(&cfg, "epic");
	CHECK(p != NULL);
	if (p) {
		CHECK_STR(p->name, "epic");
		CHECK_STR(p->issuer, "https://api.epicgames.dev/epic/oauth/v2");
		CHECK_STR(p->jwks_url,
			  "https://api.epicgames.dev/epic/oauth/v2/.well-known/jwks.json");
		CHECK_INT(list_len(p->audiences), 1);
		CHECK_STR(p->audiences[0], "xyza7891EpicClientId");
		CHECK_STR(p->subject_claim, "sub");      /* default */
		CHECK_INT(list_len(p->algs), 1);
		CHECK_STR(p->algs[0], "RS256");          /* default */
	}
	CHECK(config_oidc(&cfg, "ep") == NULL);
	CHECK(config_oidc(&cfg, "epic2") == NULL);
	CHECK(config_oidc(&cfg, "") == NULL);
	config_release(&cfg);
}

TEST(all_fields_and_several_providers)
{
	fixture_clear_env();
	struct config cfg;
	char err[512];
	CHECK_INT(load_text(&cfg,
			    "oidc_providers google, twitch\n"
			    "oidc_google_issuer https://accounts.google.com\n"
			    "oidc_google_jwks_url https://www.googleapis.com/oauth2/v3/certs\n"
			    "oidc_google_audiences a.apps.googleusercontent.com, b.apps\n"
			    "oidc_google_subject_claim email_verified_sub\n"
			    "oidc_google_algs RS256,ES256\n"
			    "oidc_twitch_issuer https://id.twitch.tv/oauth2\n"
			    "oidc_twitch_jwks_url http://127.0.0.1:9/keys\n"
			    "oidc_twitch_audiences tw\n"
			    "oidc_twitch_algs ES256\n"
			    "oidc_twitch_subject_claim account_id\n",
			    err, sizeof err),
		  0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	CHECK_INT(cfg.noidc, 2);
	const struct oidc_provider *g = config_oidc(&cfg, "google");
	const struct oidc_provider *t = config_oidc(&cfg, "twitch");
	CHECK(g && t);
	if (g && t) {
		CHECK_INT(list_len(g->audiences), 2);
		CHECK_STR(g->audiences[0], "a.apps.googleusercontent.com");
		CHECK_STR(g->audiences[1], "b.apps");
		CHECK_STR(g->subject_claim, "email_verified_sub");
		CHECK_INT(list_len(g->algs), 2);
		CHECK_STR(g->algs[0], "RS256");
		CHECK_STR(g->algs[1], "ES256");
		CHECK_STR(t->jwks_url, "http://127.0.0.1:9/keys");
		CHECK_STR(t->subject_claim, "account_id");
		CHECK_INT(list_len(t->algs), 1);
		CHECK_STR(t->algs[0], "ES256");
	}
	config_release(&cfg);
}

TEST(names_with_underscores)
{
	fixture_clear_env();
	struct config cfg;
	char err[512];
	CHECK_INT(load_text(&cfg,
			    "oidc_providers epic_games,my_algs_co\n"
			    "oidc_epic_games_issuer https://epic.example\n"
			    "oidc_epic_games_jwks_url https://epic.example/jwks\n"
			    "oidc_epic_games_audiences e1\n"
			    "oidc_epic_games_subject_claim account_id\n"
			    /* a name that itself contains a field's name */
			    "oidc_my_algs_co_issuer https://co.example\n"
			    "oidc_my_algs_co_jwks_url https://co.example/jwks\n"
			    "oidc_my_algs_co_audiences c1\n"
			    "oidc_my_algs_co_algs ES256\n",
			    err, sizeof err),
		  0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	const struct oidc_provider *p = config_oidc(&cfg, "epic_games");
	CHECK(p != NULL);
	if (p) {
		CHECK_STR(p->issuer, "https://epic.example");
		CHECK_STR(p->subject_claim, "account_id");
	}
	CHECK(config_oidc(&cfg, "epic") == NULL);
	const struct oidc_provider *c = config_oidc(&cfg, "my_algs_co");
	CHECK(c != NULL);
	if (c) {
		CHECK_STR(c->issuer, "https://co.example");
		CHECK_STR(c->algs[0], "ES256");
	}
	config_release(&cfg);
}

TEST(provider_from_environment)
{
	fixture_clear_env();
	setenv("GATEHOUSE_OIDC_PROVIDERS", "epic_games", 1);
	setenv("GATEHOUSE_OIDC_EPIC_GAMES_ISSUER", "https://env.example", 1);
	setenv("GATEHOUSE_OIDC_EPIC_GAMES_JWKS_URL", "https://env.example/jwks", 1);
	setenv("GATEHOUSE_OIDC_EPIC_GAMES_AUDIENCES", "env-aud", 1);
	setenv("GATEHOUSE_OIDC_EPIC_GAMES_ALGS", "ES256", 1);
	struct config cfg;
	char err[512];
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), 0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	const struct oidc_provider *p = config_oidc(&cfg, "epic_games");
	CHECK(p != NULL);
	if (p) {
		CHECK_STR(p->issuer, "https://env.example");
		CHECK_STR(p->jwks_url, "https://env.example/jwks");
		CHECK_STR(p->audiences[0], "env-aud");
		CHECK_STR(p->algs[0], "ES256");
		CHECK_STR(p->subject_claim, "sub");
	}
	config_release(&cfg);
	fixture_clear_env();
}

TEST(provider_from_set)
{
	fixture_clear_env();
	char a[] = "oidc_providers=epic";
	char b[] = "oidc_epic_issuer=https://set.example";
	char c[] = "oidc_epic_jwks_url=https://set.example/jwks";
	char d[] = "oidc_epic_audiences=s1,s2";
	char *sets[] = { a, b, c, d };
	struct config cfg;
	char err[512];
	CHECK_INT(load(&cfg, NULL, sets, 4, err, sizeof err), 0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	const struct oidc_provider *p = config_oidc(&cfg, "epic");
	CHECK(p != NULL);
	if (p) {
		CHECK_STR(p->issuer, "https://set.example");
		CHECK_INT(list_len(p->audiences), 2);
	}
	config_release(&cfg);
}

TEST(later_sources_win)
{
	fixture_clear_env();
	char *path = write_file(EPIC_OK "oidc_epic_subject_claim file_claim\n");
	struct config cfg;
	char err[512];

	/* The environment beats the file. */
	setenv("GATEHOUSE_OIDC_EPIC_ISSUER", "https://env.example", 1);
	setenv("GATEHOUSE_OIDC_EPIC_AUDIENCES", "env-aud", 1);
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), 0);
	const struct oidc_provider *p = config_oidc(&cfg, "epic");
	CHECK(p != NULL);
	if (p) {
		CHECK_STR(p->issuer, "https://env.example");
		CHECK_STR(p->audiences[0], "env-aud");
		CHECK_STR(p->subject_claim, "file_claim");    /* only the file says */
		CHECK_STR(p->jwks_url,
			  "https://api.epicgames.dev/epic/oauth/v2/.well-known/jwks.json");
	}
	config_release(&cfg);

	/* --set beats the environment; of two --set, the later wins. */
	char s1[] = "oidc_epic_issuer=https://set1.example";
	char s2[] = "oidc_epic_issuer=https://set2.example";
	char *sets[] = { s1, s2 };
	CHECK_INT(load(&cfg, path, sets, 2, err, sizeof err), 0);
	p = config_oidc(&cfg, "epic");
	CHECK(p != NULL);
	if (p) {
		CHECK_STR(p->issuer, "https://set2.example");
		CHECK_STR(p->audiences[0], "env-aud");
	}
	config_release(&cfg);
	fixture_clear_env();

	/* Within the file, the later line wins. */
	CHECK_INT(load_text(&cfg, EPIC_OK "oidc_epic_audiences second\n", err, sizeof err), 0);
	p = config_oidc(&cfg, "epic");
	CHECK(p != NULL);
	if (p) {
		CHECK_INT(list_len(p->audiences), 1);
		CHECK_STR(p->audiences[0], "second");
	}
	config_release(&cfg);

	/* oidc_providers itself follows the same precedence. */
	setenv("GATEHOUSE_OIDC_PROVIDERS", "", 1);
	char *empty_provider_file = write_file("oidc_providers epic\n");
	CHECK_INT(load(&cfg, empty_provider_file, NULL, 0, err, sizeof err), 0);
	CHECK_INT(cfg.noidc, 0);
	config_release(&cfg);
	fixture_clear_env();
	unlink(empty_provider_file);
	free(empty_provider_file);
	unlink(path);
	free(path);
}

TEST(unlisted_provider_is_an_error_with_origin)
{
	fixture_clear_env();
	struct config cfg;
	char err[512];
	char *path = write_file(EPIC_OK "\n# comment\noidc_twitch_issuer https://id.twitch.tv\n");
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), -1);
	char want[128];
	snprintf(want, sizeof want, "%s:7", path);
	CHECK(strstr(err, want) != NULL);
	CHECK(strstr(err, "twitch") != NULL);
	CHECK(strstr(err, "oidc_twitch_issuer") != NULL);
	config_release(&cfg);
	unlink(path);
	free(path);

	/* No providers at all: any oidc_ setting is one for an unlisted provider. */
	path = write_file("oidc_epic_games_audiences x\n");
	CHECK_INT(load(&cfg, path, NULL, 0, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:1", path);
	CHECK(strstr(err, want) != NULL);
	CHECK(strstr(err, "'epic_games'") != NULL);
	config_release(&cfg);
	unlink(path);
	free(path);

	setenv("GATEHOUSE_OIDC_STEAMY_ISSUER", "https://x.example", 1);
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), -1);
	CHECK(strstr(err, "GATEHOUSE_OIDC_STEAMY_ISSUER") != NULL);
	CHECK(strstr(err, "steamy") != NULL);
	config_release(&cfg);
	fixture_clear_env();

	char s[] = "oidc_other_jwks_url=https://x.example/jwks";
	char *sets[] = { s };
	CHECK_INT(load(&cfg, NULL, sets, 1, err, sizeof err), -1);
	CHECK(strstr(err, "--set") != NULL);
	CHECK(strstr(err, "other") != NULL);
	config_release(&cfg);
}

TEST(listed_provider_needs_issuer_jwks_url_audiences)
{
	fixture_clear_env();
	static const char *const bad[] = {
		/* no issuer */
		"oidc_providers epic\n"
		"oidc_epic_jwks_url https://e.example/jwks\n"
		"oidc_epic_audiences a\n",
		/* no jwks_url */
		"oidc_providers epic\n"
		"oidc_epic_issuer https://e.example\n"
		"oidc_epic_audiences a\n",
		/* no audiences */
		"oidc_providers epic\n"
		"oidc_epic_issuer https://e.example\n"
		"oidc_epic_jwks_url https://e.example/jwks\n",
		/* empty audiences */
		"oidc_providers epic\n"
		"oidc_epic_issuer https://e.example\n"
		"oidc_epic_jwks_url https://e.example/jwks\n"
		"oidc_epic_audiences \"\"\n",
		/* nothing but the name */
		"oidc_providers epic\n",
		/* a jwks_url that is not http(s) */
		"oidc_providers epic\n"
		"oidc_epic_issuer https://e.example\n"
		"oidc_epic_jwks_url file:///etc/passwd\n"
		"oidc_epic_audiences a\n",
		/* an issuer that is not a URL */
		"oidc_providers epic\n"
		"oidc_epic_issuer e.example\n"
		"oidc_epic_jwks_url https://e.example/jwks\n"
		"oidc_epic_audiences a\n",
		/* the second of two providers incomplete */
		EPIC_OK
		"oidc_providers epic,twitch\n"
		"oidc_twitch_issuer https://id.twitch.tv/oauth2\n",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		struct config cfg;
		char err[512];
		int rc = load_text(&cfg, bad[i], err, sizeof err);
		if (rc != -1)
			fprintf(stderr, "  case %zu loaded\n", i);
		CHECK_INT(rc, -1);
		CHECK(strstr(err, i == GH_ARRAY_SIZE(bad) - 1 ? "twitch" : "epic") != NULL);
		config_release(&cfg);
	}
}

TEST(bad_names_and_algs)
{
	fixture_clear_env();
	static const char *const bad[] = {
		"oidc_providers Epic\n",
		"oidc_providers epic-games\n",
		"oidc_providers epic,epic\n",
		EPIC_OK "oidc_epic_algs HS256\n",
		EPIC_OK "oidc_epic_algs RS256,none\n",
		EPIC_OK "oidc_epic_algs rs256\n",
		EPIC_OK "oidc_epic_algs PS256\n",
		EPIC_OK "oidc_epic_subject_claim account-id\n",
		EPIC_OK "oidc_epic_subject_claim \"sub claim\"\n",
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		struct config cfg;
		char err[512];
		int rc = load_text(&cfg, bad[i], err, sizeof err);
		if (rc != -1)
			fprintf(stderr, "  case %zu loaded\n", i);
		CHECK_INT(rc, -1);
		CHECK(err[0] != '\0');
		config_release(&cfg);
	}

	/* The bad alg is named in the message. */
	struct config cfg;
	char err[512];
	CHECK_INT(load_text(&cfg, EPIC_OK "oidc_epic_algs ES256,HS256\n", err, sizeof err), -1);
	CHECK(strstr(err, "HS256") != NULL);
	CHECK(strstr(err, "oidc_epic_algs") != NULL);
	config_release(&cfg);

	/* An empty algs value means the default. */
	CHECK_INT(load_text(&cfg, EPIC_OK "oidc_epic_algs \"\"\n", err, sizeof err), 0);
	const struct oidc_provider *p = config_oidc(&cfg, "epic");
	CHECK(p && list_len(p->algs) == 1 && !strcmp(p->algs[0], "RS256"));
	config_release(&cfg);
}

TEST(empty_subject_claim_is_refused_or_default)
{
	/*
	 * An empty subject claim is no claim name: refused at start-up, or
	 * taken as the default. Accepted as "", every token of the provider
	 * would fail with "bad subject" at run time.
	 */
	fixture_clear_env();
	struct config cfg;
	char err[512];
	const struct oidc_provider *p;
	int rc = load_text(&cfg, EPIC_OK "oidc_epic_subject_claim \"\"\n", err, sizeof err);
	p = rc ? NULL : config_oidc(&cfg, "epic");
	if (!rc && p && !strcmp(p->subject_claim, ""))
		fprintf(stderr, "  an empty oidc_epic_subject_claim was accepted as \"\"\n");
	CHECK(rc == -1 || (p && !strcmp(p->subject_claim, "sub")));
	config_release(&cfg);
}

/* ---- config_dup and reload ---- */

TEST(dup_carries_providers_and_secrets)
{
	fixture_clear_env();
	setenv("GATEHOUSE_STEAM_WEB_API_KEY", "dup-steam-key", 1);
	struct config cfg;
	char err[512];
	CHECK_INT(load_text(&cfg, EPIC_OK "oidc_epic_algs RS256,ES256\n"
				  "oidc_epic_audiences a1,a2\n"
				  "steam_app_id 480\n", err, sizeof err), 0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	struct config *d = config_dup(&cfg);
	CHECK_INT(d->noidc, 1);
	const struct oidc_provider *p = config_oidc(d, "epic");
	const struct oidc_provider *o = config_oidc(&cfg, "epic");
	CHECK(p != NULL && o != NULL);
	if (p && o) {
		CHECK(p != o);
		CHECK(p->issuer != o->issuer);  /* a deep copy */
		CHECK(p->audiences != o->audiences);
		CHECK_STR(p->issuer, o->issuer);
		CHECK_STR(p->jwks_url, o->jwks_url);
		CHECK_STR(p->subject_claim, "sub");
		CHECK_INT(list_len(p->audiences), 2);
		CHECK_STR(p->audiences[1], "a2");
		CHECK_INT(list_len(p->algs), 2);
		CHECK_STR(p->algs[1], "ES256");
	}
	CHECK(d->steam_web_api_key && cfg.steam_web_api_key &&
	      d->steam_web_api_key != cfg.steam_web_api_key);
	CHECK_STR(d->steam_web_api_key, "dup-steam-key");
	CHECK(config_steam_enabled(d));
	/* The copy outlives the original. */
	config_release(&cfg);
	p = config_oidc(d, "epic");
	CHECK(p && !strcmp(p->audiences[0], "a1"));
	config_release(d);
	free(d);
	fixture_clear_env();
}

TEST(merge_reloadable_applies_providers)
{
	fixture_clear_env();
	struct config live, next;
	char err[512];
	CHECK_INT(load_text(&live, EPIC_OK, err, sizeof err), 0);

	/* The same configuration: nothing to apply. */
	CHECK_INT(load_text(&next, EPIC_OK, err, sizeof err), 0);
	struct strbuf applied = STRBUF_INIT, restart = STRBUF_INIT;
	config_merge_reloadable(&live, &next, &applied, &restart);
	CHECK(applied.len == 0 || !strstr(applied.buf, "oidc providers"));
	CHECK_INT(restart.len, 0);
	sb_release(&applied);
	sb_release(&restart);
	config_release(&next);

	/* A changed audience and a new provider. */
	CHECK_INT(load_text(&next,
			    "oidc_providers epic,twitch\n"
			    "oidc_epic_issuer https://api.epicgames.dev/epic/oauth/v2\n"
			    "oidc_epic_jwks_url "
			    "https://api.epicgames.dev/epic/oauth/v2/.well-known/jwks.json\n"
			    "oidc_epic_audiences new-aud\n"
			    "oidc_twitch_issuer https://id.twitch.tv/oauth2\n"
			    "oidc_twitch_jwks_url https://id.twitch.tv/oauth2/keys\n"
			    "oidc_twitch_audiences tw\n",
			    err, sizeof err),
		  0);
	applied = (struct strbuf)STRBUF_INIT;
	restart = (struct strbuf)STRBUF_INIT;
	config_merge_reloadable(&live, &next, &applied, &restart);
	CHECK(applied.len && strstr(applied.buf, "oidc providers") != NULL);
	CHECK(applied.len && strstr(applied.buf, "oidc_providers") != NULL);
	CHECK(!restart.len || !strstr(restart.buf, "oidc"));
	config_release(&next); /* live must not share anything with next */
	CHECK_INT(live.noidc, 2);
	const struct oidc_provider *p = config_oidc(&live, "epic");
	CHECK(p && !strcmp(p->audiences[0], "new-aud"));
	p = config_oidc(&live, "twitch");
	CHECK(p && !strcmp(p->jwks_url, "https://id.twitch.tv/oauth2/keys"));
	sb_release(&applied);
	sb_release(&restart);

	/* Only a provider's field changes: named too. */
	CHECK_INT(load_text(&next,
			    "oidc_providers epic,twitch\n"
			    "oidc_epic_issuer https://api.epicgames.dev/epic/oauth/v2\n"
			    "oidc_epic_jwks_url "
			    "https://api.epicgames.dev/epic/oauth/v2/.well-known/jwks.json\n"
			    "oidc_epic_audiences new-aud\n"
			    "oidc_twitch_issuer https://id.twitch.tv/oauth2\n"
			    "oidc_twitch_jwks_url https://id.twitch.tv/oauth2/keys\n"
			    "oidc_twitch_audiences tw\n"
			    "oidc_twitch_subject_claim preferred_id\n",
			    err, sizeof err),
		  0);
	applied = (struct strbuf)STRBUF_INIT;
	restart = (struct strbuf)STRBUF_INIT;
	config_merge_reloadable(&live, &next, &applied, &restart);
	CHECK(applied.len && strstr(applied.buf, "oidc providers") != NULL);
	CHECK(!strstr(applied.len ? applied.buf : "", "oidc_providers"));
	config_release(&next);
	p = config_oidc(&live, "twitch");
	CHECK(p && !strcmp(p->subject_claim, "preferred_id"));
	sb_release(&applied);
	sb_release(&restart);

	/* Providers removed. */
	CHECK_INT(load(&next, NULL, NULL, 0, err, sizeof err), 0);
	applied = (struct strbuf)STRBUF_INIT;
	restart = (struct strbuf)STRBUF_INIT;
	config_merge_reloadable(&live, &next, &applied, &restart);
	CHECK(applied.len && strstr(applied.buf, "oidc providers") != NULL);
	CHECK_INT(live.noidc, 0);
	CHECK(config_oidc(&live, "epic") == NULL);
	config_release(&next);
	sb_release(&applied);
	sb_release(&restart);
	config_release(&live);
}

TEST(merge_reloadable_applies_secrets)
{
	fixture_clear_env();
	struct config live, next;
	char err[512];
	char *k1 = write_file("first-key\n"), *k2 = write_file("second-key\n");
	char *c1 = xasprintf("steam_app_id 480\nsteam_web_api_key_file %s\n", k1);
	char *c2 = xasprintf("steam_app_id 480\nsteam_web_api_key_file %s\n", k2);
	CHECK_INT(load_text(&live, c1, err, sizeof err), 0);
	CHECK_INT(load_text(&next, c2, err, sizeof err), 0);
	struct strbuf applied = STRBUF_INIT, restart = STRBUF_INIT;
	config_merge_reloadable(&live, &next, &applied, &restart);
	CHECK(applied.len && strstr(applied.buf, "platform secrets") != NULL);
	/* The secret itself is never named. */
	CHECK(!applied.len || !strstr(applied.buf, "second-key"));
	CHECK(!restart.len || !strstr(restart.buf, "second-key"));
	config_release(&next);
	CHECK_STR(live.steam_web_api_key, "second-key");
	sb_release(&applied);
	sb_release(&restart);
	config_release(&live);
	unlink(k1);
	unlink(k2);
	free(k1);
	free(k2);
	free(c1);
	free(c2);
}

/* ---- secrets ---- */

TEST(steam_key_file_read_and_trimmed)
{
	fixture_clear_env();
	char *key = write_file("  s3cr3t-steam-key \t\r\n\n");
	char *conf = xasprintf("steam_app_id 480\nsteam_web_api_key_file %s\n", key);
	struct config cfg;
	char err[512];
	CHECK_INT(load_text(&cfg, conf, err, sizeof err), 0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	/* Trailing white space (the newline editors add) goes; the rest stays. */
	CHECK_STR(cfg.steam_web_api_key, "  s3cr3t-steam-key");
	CHECK(config_steam_enabled(&cfg));
	config_release(&cfg);
	CHECK(cfg.steam_web_api_key == NULL);
	unlink(key);
	free(key);
	free(conf);
}

TEST(relative_key_file_in_credentials_directory)
{
	fixture_clear_env();
	char *creds = xasprintf("%s/creds", tmp_dir);
	CHECK_INT(mkdir(creds, 0700), 0);
	free(fixture_write_file(creds, "steam.key", "cred-dir-key\n"));
	free(fixture_write_file(creds, "google.secret", "google-secret\n"));
	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	struct config cfg;
	char err[512];
	CHECK_INT(load_text(&cfg,
			    "steam_app_id 480\n"
			    "steam_web_api_key_file steam.key\n"
			    "google_play_client_id 123-abc.apps.googleusercontent.com\n"
			    "google_play_client_secret_file google.secret\n"
			    "google_play_app_id 123456789\n",
			    err, sizeof err),
		  0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	CHECK_STR(cfg.steam_web_api_key, "cred-dir-key");
	CHECK_STR(cfg.google_play_client_secret, "google-secret");
	CHECK(config_google_play_enabled(&cfg));
	config_release(&cfg);

	/* A relative name missing from the directory is an error naming the setting. */
	CHECK_INT(load_text(&cfg, "steam_app_id 480\nsteam_web_api_key_file nope.key\n", err,
			    sizeof err),
		  -1);
	CHECK(strstr(err, "steam_web_api_key_file") != NULL);
	CHECK(strstr(err, "nope.key") != NULL);
	config_release(&cfg);
	fixture_clear_env();
	free(creds);
}

TEST(environment_key_overrides_file)
{
	fixture_clear_env();
	char *key = write_file("file-key\n");
	char *conf = xasprintf("steam_app_id 480\nsteam_web_api_key_file %s\n", key);
	setenv("GATEHOUSE_STEAM_WEB_API_KEY", "env-key", 1);
	struct config cfg;
	char err[512];
	CHECK_INT(load_text(&cfg, conf, err, sizeof err), 0);
	CHECK_STR(cfg.steam_web_api_key, "env-key");
	config_release(&cfg);

	/* The variable alone is enough. */
	CHECK_INT(load_text(&cfg, "steam_app_id 480\n", err, sizeof err), 0);
	CHECK_STR(cfg.steam_web_api_key, "env-key");
	CHECK(config_steam_enabled(&cfg));
	config_release(&cfg);

	setenv("GATEHOUSE_GOOGLE_PLAY_CLIENT_SECRET", "env-google", 1);
	CHECK_INT(load_text(&cfg,
			    "google_play_client_id 1-a.apps.googleusercontent.com\n"
			    "google_play_app_id 42\n",
			    err, sizeof err),
		  0);
	CHECK_STR(cfg.google_play_client_secret, "env-google");
	CHECK(config_google_play_enabled(&cfg));
	config_release(&cfg);
	fixture_clear_env();
	unlink(key);
	free(key);
	free(conf);
}

TEST(empty_or_unreadable_key_file_is_an_error)
{
	fixture_clear_env();
	struct config cfg;
	char err[512];
	static const char *const empties[] = { "", "\n", "  \t\r\n\n" };
	for (size_t i = 0; i < GH_ARRAY_SIZE(empties); i++) {
		char *key = write_file(empties[i]);
		char *conf = xasprintf("steam_web_api_key_file %s\n", key);
		CHECK_INT(load_text(&cfg, conf, err, sizeof err), -1);
		CHECK(strstr(err, "steam_web_api_key_file") != NULL);
		CHECK(strstr(err, "empty") != NULL);
		config_release(&cfg);
		unlink(key);
		free(key);
		free(conf);
	}

	char *missing = xasprintf("%s/no-such-file", tmp_dir);
	char *conf = xasprintf("steam_web_api_key_file %s\n", missing);
	CHECK_INT(load_text(&cfg, conf, err, sizeof err), -1);
	CHECK(strstr(err, "steam_web_api_key_file") != NULL);
	CHECK(strstr(err, "no-such-file") != NULL);
	config_release(&cfg);
	free(conf);
	free(missing);

	/* A directory cannot be read as a file. */
	conf = xasprintf("google_play_client_secret_file %s\n", tmp_dir);
	CHECK_INT(load_text(&cfg, conf, err, sizeof err), -1);
	CHECK(strstr(err, "google_play_client_secret_file") != NULL);
	config_release(&cfg);
	free(conf);

	/* Larger than any key: refused, not cut short. */
	char big[5000];
	memset(big, 'k', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	char *key = write_file(big);
	conf = xasprintf("steam_web_api_key_file %s\n", key);
	CHECK_INT(load_text(&cfg, conf, err, sizeof err), -1);
	CHECK(strstr(err, "steam_web_api_key_file") != NULL);
	CHECK(strstr(err, "kkkkkkkk") == NULL);
	config_release(&cfg);
	unlink(key);
	free(key);
	free(conf);
}

TEST(steam_app_id_needs_a_key)
{
	fixture_clear_env();
	struct config cfg;
	char err[512];
	CHECK_INT(load_text(&cfg, "steam_app_id 480\n", err, sizeof err), -1);
	CHECK(strstr(err, "steam_app_id") != NULL);
	config_release(&cfg);

	/* A key without an app id is allowed (the platform stays off). */
	setenv("GATEHOUSE_STEAM_WEB_API_KEY", "k", 1);
	CHECK_INT(load(&cfg, NULL, NULL, 0, err, sizeof err), 0);
	CHECK(!config_steam_enabled(&cfg));
	config_release(&cfg);
	fixture_clear_env();
}

TEST(google_settings_go_together)
{
	fixture_clear_env();
	char *secret = write_file("g-secret\n");
	char *both_but_id = xasprintf("google_play_client_secret_file %s\n"
				      "google_play_app_id 42\n", secret);
	char *both_but_app = xasprintf("google_play_client_secret_file %s\n"
				       "google_play_client_id 1-a.apps\n", secret);
	char *only_secret = xasprintf("google_play_client_secret_file %s\n", secret);
	char *all = xasprintf("google_play_client_secret_file %s\n"
			      "google_play_client_id 1-a.apps\n"
			      "google_play_app_id 42\n", secret);
	const char *bad[] = {
		"google_play_client_id 1-a.apps\n",
		"google_play_app_id 42\n",
		"google_play_client_id 1-a.apps\ngoogle_play_app_id 42\n",
		both_but_id,
		both_but_app,
		only_secret,
	};
	struct config cfg;
	char err[512];
	for (size_t i = 0; i < GH_ARRAY_SIZE(bad); i++) {
		int rc = load_text(&cfg, bad[i], err, sizeof err);
		if (rc != -1)
			fprintf(stderr, "  case %zu loaded\n", i);
		CHECK_INT(rc, -1);
		CHECK(strstr(err, "google_play") != NULL);
		config_release(&cfg);
	}
	CHECK_INT(load_text(&cfg, all, err, sizeof err), 0);
	CHECK(config_google_play_enabled(&cfg));
	CHECK_STR(cfg.google_play_client_secret, "g-secret");
	config_release(&cfg);
	unlink(secret);
	free(secret);
	free(both_but_id);
	free(both_but_app);
	free(only_secret);
	free(all);
}

TEST(provider_urls_must_be_http)
{
	fixture_clear_env();
	static const char *const names[] = { "steam_api_url", "apple_keys_url",
					     "google_oauth_url", "google_games_url",
					     "facebook_graph_url" };
	static const char *const bad[] = { "ftp://example.com", "example.com", "https://",
					   "http://", "javascript:alert(1)",
					   "\"https://a b.example\"" };
	struct config cfg;
	char err[512];
	for (size_t n = 0; n < GH_ARRAY_SIZE(names); n++) {
		for (size_t b = 0; b < GH_ARRAY_SIZE(bad); b++) {
			char *conf = xasprintf("%s %s\n", names[n], bad[b]);
			int rc = load_text(&cfg, conf, err, sizeof err);
			if (rc != -1)
				fprintf(stderr, "  %s", conf);
			CHECK_INT(rc, -1);
			CHECK(strstr(err, names[n]) != NULL);
			config_release(&cfg);
			free(conf);
		}
		char *ok = xasprintf("%s http://127.0.0.1:9999/base\n", names[n]);
		CHECK_INT(load_text(&cfg, ok, err, sizeof err), 0);
		config_release(&cfg);
		free(ok);
	}
}

/* True when needle occurs in the n bytes of hay. */
static bool contains(const char *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle)) != NULL;
}

TEST(effective_config_never_prints_secrets)
{
	fixture_clear_env();
	char *steam = write_file("STEAM-SECRET-7f3a9c\n");
	char *google = write_file("GOOGLE-SECRET-19be44\n");
	char *conf = xasprintf(EPIC_OK
			       "steam_app_id 480\n"
			       "steam_web_api_key_file %s\n"
			       "google_play_client_id 1-a.apps\n"
			       "google_play_app_id 42\n"
			       "google_play_client_secret_file %s\n", steam, google);
	struct config cfg;
	char err[512];
	CHECK_INT(load_text(&cfg, conf, err, sizeof err), 0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	CHECK_STR(cfg.steam_web_api_key, "STEAM-SECRET-7f3a9c");

	/* To a memory stream ... */
	char *out = fixture_config_effective(&cfg);
	size_t n = strlen(out);
	CHECK(!contains(out, n, "STEAM-SECRET"));
	CHECK(!contains(out, n, "GOOGLE-SECRET"));
	CHECK(contains(out, n, "steam_web_api_key_file ")); /* the path is fine */
	CHECK(contains(out, n, "oidc_epic_issuer https://api.epicgames.dev/epic/oauth/v2\n"));
	CHECK(contains(out, n, "oidc_epic_subject_claim sub\n"));
	CHECK(contains(out, n, "oidc_epic_algs RS256\n"));
	free(out);

	/* ... and to a real file. */
	FILE *f = tmpfile();
	CHECK(f != NULL);
	if (f) {
		config_write_effective(&cfg, f);
		long len = ftell(f);
		rewind(f);
		char *buf = calloc(1, (size_t)(len > 0 ? len : 0) + 1);
		size_t got = fread(buf, 1, (size_t)(len > 0 ? len : 0), f);
		CHECK_INT(got, len);
		CHECK(!contains(buf, got, "STEAM-SECRET"));
		CHECK(!contains(buf, got, "GOOGLE-SECRET"));
		free(buf);
		fclose(f);
	}
	config_release(&cfg);

	/* A key from the environment is not printed either. */
	setenv("GATEHOUSE_STEAM_WEB_API_KEY", "ENV-SECRET-5d21", 1);
	CHECK_INT(load_text(&cfg, "steam_app_id 480\n", err, sizeof err), 0);
	out = fixture_config_effective(&cfg);
	CHECK(!contains(out, strlen(out), "ENV-SECRET"));
	free(out);
	config_release(&cfg);
	fixture_clear_env();

	unlink(steam);
	unlink(google);
	free(steam);
	free(google);
	free(conf);
}

TEST(errors_never_print_secrets)
{
	/* A secret-bearing configuration that fails for another reason. */
	fixture_clear_env();
	setenv("GATEHOUSE_GOOGLE_PLAY_CLIENT_SECRET", "LEAKY-GOOGLE-3e1f", 1);
	struct config cfg;
	char err[512];
	CHECK_INT(load_text(&cfg, "google_play_client_id 1-a.apps\n", err, sizeof err), -1);
	CHECK(!strstr(err, "LEAKY"));
	config_release(&cfg);
	fixture_clear_env();
}

int main(void)
{
	log_configure(LOG_ERROR, LOG_FORMAT_TEXT);
	fixture_clear_env();
	fixture_tmpdir(tmp_dir, sizeof tmp_dir, "cfgp");
	RUN(no_providers_by_default);
	RUN(provider_from_file_with_defaults);
	RUN(all_fields_and_several_providers);
	RUN(names_with_underscores);
	RUN(provider_from_environment);
	RUN(provider_from_set);
	RUN(later_sources_win);
	RUN(unlisted_provider_is_an_error_with_origin);
	RUN(listed_provider_needs_issuer_jwks_url_audiences);
	RUN(bad_names_and_algs);
	RUN(empty_subject_claim_is_refused_or_default);
	RUN(dup_carries_providers_and_secrets);
	RUN(merge_reloadable_applies_providers);
	RUN(merge_reloadable_applies_secrets);
	RUN(steam_key_file_read_and_trimmed);
	RUN(relative_key_file_in_credentials_directory);
	RUN(environment_key_overrides_file);
	RUN(empty_or_unreadable_key_file_is_an_error);
	RUN(steam_app_id_needs_a_key);
	RUN(google_settings_go_together);
	RUN(provider_urls_must_be_http);
	RUN(effective_config_never_prints_secrets);
	RUN(errors_never_print_secrets);

	fixture_rmdir(tmp_dir);
	return REPORT();
}
