/*
 * providers.c - the settings of the platform providers: generic OIDC
 * providers (oidc_<name>_<field>), secrets read from files or systemd
 * credentials, and the checks that a configured platform is complete.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "gatehouse/alloc.h"
#include "gatehouse/config.h"
#include "gatehouse/log.h"
#include "gatehouse/parse.h"
#include "gatehouse/store.h"
#include "internal.h"
#include "gatehouse/banned.h"

/* ---- generic OIDC providers: oidc_<name>_<field> ---- */

extern char **environ;

static const char *const oidc_fields[] = { "issuer", "jwks_url", "audiences", "subject_claim",
					   "algs" };

/* Splits oidc_<name>_<field> (the name may hold '_'); the field index, or -1. */
int config_oidc_key_split(const char *key, size_t n, char *name, size_t namelen)
{
	if (n < 6 || strncmp(key, "oidc_", 5) != 0)
		return -1;
	for (int f = 0; f < (int)GH_ARRAY_SIZE(oidc_fields); f++) {
		size_t fl = strlen(oidc_fields[f]);
		if (n > 5 + fl + 1 && key[n - fl - 1] == '_' &&
		    memcmp(key + n - fl, oidc_fields[f], fl) == 0) {
			size_t nl = n - 5 - fl - 1;
			if (nl >= namelen)
				return -1;
			memcpy(name, key + 5, nl);
			name[nl] = '\0';
			return f;
		}
	}
	return -1;
}

/* Keeps an oidc_* setting for finish() to check; false when the key is not one. */
bool config_oidc_setting_add(struct config *cfg, const char *key, size_t n, const char *value,
			     const char *origin)
{
	char name[128];
	if (config_oidc_key_split(key, n, name, sizeof name) < 0)
		return false;
	cfg->oidc_settings = xrealloc(cfg->oidc_settings,
				      (cfg->noidc_settings + 1) * sizeof *cfg->oidc_settings);
	struct oidc_setting *o = &cfg->oidc_settings[cfg->noidc_settings++];
	o->key = xstrndup(key, n);
	o->value = xstrdup(value);
	o->origin = xstrdup(origin);
	return true;
}

static bool valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static bool http_url(const char *u)
{
	return (!strncmp(u, "https://", 8) && u[8]) || (!strncmp(u, "http://", 7) && u[7]);
}

void config_oidc_free(struct oidc_provider *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].issuer);
		free(p[i].jwks_url);
		free(p[i].subject_claim);
		gh_list_free(p[i].audiences);
		gh_list_free(p[i].algs);
	}
	free(p);
}

/* Builds cfg->oidc from oidc_providers and the oidc_* settings, checking both. */
static int build_oidc(struct config *cfg, char *err, size_t errlen)
{
	size_t n;
	char **names = gh_list_split(cfg->oidc_providers, &n);
	int rc = -1;
	cfg->oidc = xcalloc(n ? n : 1, sizeof *cfg->oidc);
	for (size_t i = 0; i < n; i++) {
		if (!valid_name(names[i])) {
			snprintf(err, errlen, "oidc_providers: '%s' is not a name of [a-z0-9_]", names[i]);
			goto out;
		}
		for (size_t k = 0; k < i; k++)
			if (!strcmp(names[k], names[i])) {
				snprintf(err, errlen, "oidc_providers: '%s' is listed twice", names[i]);
				goto out;
			}
		cfg->oidc[i].name = xstrdup(names[i]);
		cfg->noidc++;
	}
	/* Later settings win, as for every other setting (file, environment, --set). */
	for (size_t i = 0; i < cfg->noidc_settings; i++) {
		const struct oidc_setting *o = &cfg->oidc_settings[i];
		char name[128];
		int f = config_oidc_key_split(o->key, strlen(o->key), name, sizeof name);
		struct oidc_provider *p = NULL;
		for (size_t k = 0; k < cfg->noidc; k++)
			if (!strcmp(cfg->oidc[k].name, name))
				p = &cfg->oidc[k];
		if (!p) {
			snprintf(err, errlen, "%s: '%s' is for OIDC provider '%s', which oidc_providers "
				 "does not list", o->origin, o->key, name);
			goto out;
		}
		switch (f) {
		case 0:
			free(p->issuer);
			p->issuer = xstrdup(o->value);
			break;
		case 1:
			free(p->jwks_url);
			p->jwks_url = xstrdup(o->value);
			break;
		case 2:
			gh_list_free(p->audiences);
			p->audiences = gh_list_split(o->value, NULL);
			break;
		case 3:
			free(p->subject_claim);
			p->subject_claim = xstrdup(o->value);
			break;
		default:
			gh_list_free(p->algs);
			p->algs = gh_list_split(o->value, NULL);
		}
	}
	for (size_t k = 0; k < cfg->noidc; k++) {
		struct oidc_provider *p = &cfg->oidc[k];
		if (!p->issuer || !http_url(p->issuer) || !p->jwks_url || !http_url(p->jwks_url) ||
		    !p->audiences || !p->audiences[0]) {
			snprintf(err, errlen, "OIDC provider '%s' needs oidc_%s_issuer and "
				 "oidc_%s_jwks_url (http(s) URLs) and oidc_%s_audiences", p->name,
				 p->name, p->name, p->name);
			goto out;
		}
		if (!p->subject_claim)
			p->subject_claim = xstrdup("sub");
		if (!p->algs || !p->algs[0]) {
			gh_list_free(p->algs);
			p->algs = gh_list_split("RS256", NULL);
		}
		for (char **a = p->algs; *a; a++)
			if (strcmp(*a, "RS256") && strcmp(*a, "ES256")) {
				snprintf(err, errlen, "oidc_%s_algs: '%s' is not RS256 or ES256", p->name,
					 *a);
				goto out;
			}
		bool claim_ok = *p->subject_claim != '\0';
		for (const char *c = p->subject_claim; *c; c++)
			if (!isalnum((unsigned char)*c) && *c != '_')
				claim_ok = false;
		if (!claim_ok) {
			snprintf(err, errlen, "oidc_%s_subject_claim: not a claim name", p->name);
			goto out;
		}
	}
	rc = 0;
out:
	gh_list_free(names);
	return rc;
}

const struct oidc_provider *config_oidc(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->noidc; i++)
		if (!strcmp(cfg->oidc[i].name, name))
			return &cfg->oidc[i];
	return NULL;
}

/* ---- secrets: from a file (or $CREDENTIALS_DIRECTORY), or the environment ---- */

#define SECRET_MAX 4096

char *config_secret_path(const char *file)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	if (file[0] != '/' && creds && *creds)
		return xasprintf("%s/%s", creds, file);
	return xstrdup(file);
}

static int read_secret(const char *setting, const char *file, const char *env, char **out,
		       char *err, size_t errlen)
{
	const char *v = env ? getenv(env) : NULL;
	if (v && *v) {
		*out = xstrdup(v);
		return 0;
	}
	if (!*file)
		return 0;
	char *path = config_secret_path(file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[SECRET_MAX + 1];
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
	int saved = errno;
	if (fd >= 0)
		close(fd);
	if (n < 0 || n > SECRET_MAX) {
		snprintf(err, errlen, "%s '%s': %s", setting, path,
			 n < 0 ? strerror(saved) : "longer than 4 KiB");
		free(path);
		return -1;
	}
	free(path);
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
	if (!n) {
		snprintf(err, errlen, "%s '%s': the file is empty", setting, file);
		return -1;
	}
	*out = xstrdup(buf);
	OPENSSL_cleanse(buf, sizeof buf);
	return 0;
}

bool config_database_is_pg(const struct config *cfg)
{
	return store_database_is_url(cfg->database);
}

int config_check_database(struct config *cfg, char *err, size_t errlen)
{
	const char *db = cfg->database;
	bool path_given = strcmp(cfg->database_path, "./var/gatehouse.db") != 0;
	if (!*db) {
		free(cfg->database);
		cfg->database = xstrdup(cfg->database_path);
	} else if (!store_database_is_url(db)) {
		if (path_given && strcmp(db, cfg->database_path)) {
			snprintf(err, errlen, "database '%s' and database_path '%s' name different "
				 "files: set one of them", db, cfg->database_path);
			return -1;
		}
		free(cfg->database_path);
		cfg->database_path = xstrdup(db);
	} else {
		if (path_given) {
			char *shown = store_database_redacted(db);
			snprintf(err, errlen, "database is a PostgreSQL URI (%s) and database_path "
				 "names a SQLite file ('%s'): set one of them", shown,
				 cfg->database_path);
			free(shown);
			return -1;
		}
		if (strpbrk(db, " \t\n\"'\\")) {
			char *shown = store_database_redacted(db);
			snprintf(err, errlen, "database %s: a URI has no spaces, quotes or "
				 "backslashes (percent-encode them)", shown);
			free(shown);
			return -1;
		}
	}
	return read_secret("database_password_file", cfg->database_password_file, NULL,
			   &cfg->database_password, err, errlen);
}

bool config_steam_enabled(const struct config *cfg)
{
	return *cfg->steam_app_id && cfg->steam_web_api_key;
}

bool config_apple_enabled(const struct config *cfg)
{
	return *cfg->apple_app_ids != '\0';
}

bool config_google_play_enabled(const struct config *cfg)
{
	return *cfg->google_play_client_id && *cfg->google_play_app_id &&
	       cfg->google_play_client_secret;
}

bool config_facebook_enabled(const struct config *cfg)
{
	return *cfg->facebook_app_id != '\0';
}

/* The provider settings that must agree with each other. */
int config_check_platforms(struct config *cfg, char *err, size_t errlen)
{
	const char *urls[][2] = {
		{ "steam_api_url", cfg->steam_api_url },
		{ "apple_keys_url", cfg->apple_keys_url },
		{ "google_oauth_url", cfg->google_oauth_url },
		{ "google_games_url", cfg->google_games_url },
		{ "facebook_graph_url", cfg->facebook_graph_url },
	};
	for (size_t i = 0; i < GH_ARRAY_SIZE(urls); i++)
		if (!http_url(urls[i][1]) || strpbrk(urls[i][1], " \"")) {
			snprintf(err, errlen, "%s '%s': must be an http(s) URL", urls[i][0], urls[i][1]);
			return -1;
		}
	if (read_secret("steam_web_api_key_file", cfg->steam_web_api_key_file,
			"GATEHOUSE_STEAM_WEB_API_KEY", &cfg->steam_web_api_key, err, errlen) ||
	    read_secret("google_play_client_secret_file", cfg->google_play_client_secret_file,
			"GATEHOUSE_GOOGLE_PLAY_CLIENT_SECRET", &cfg->google_play_client_secret, err,
			errlen))
		return -1;
	if (*cfg->steam_app_id && !cfg->steam_web_api_key) {
		snprintf(err, errlen, "steam_app_id is set but the Web API key is not "
			 "(steam_web_api_key_file or GATEHOUSE_STEAM_WEB_API_KEY)");
		return -1;
	}
	int google = (*cfg->google_play_client_id != '\0') + (*cfg->google_play_app_id != '\0') +
		     (cfg->google_play_client_secret != NULL);
	if (google && google != 3) {
		snprintf(err, errlen, "google_play_client_id, google_play_client_secret_file and "
			 "google_play_app_id go together");
		return -1;
	}
	return build_oidc(cfg, err, errlen);
}


static char **list_dup(char *const *items)
{
	size_t n = 0;
	while (items && items[n])
		n++;
	char **out = xcalloc(n + 1, sizeof *out);
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(items[i]);
	return out;
}

void config_copy_oidc(struct config *dst, const struct config *src)
{
	dst->noidc = src->noidc;
	dst->oidc = xcalloc(src->noidc ? src->noidc : 1, sizeof *dst->oidc);
	for (size_t i = 0; i < src->noidc; i++) {
		const struct oidc_provider *s = &src->oidc[i];
		struct oidc_provider *d = &dst->oidc[i];
		d->name = xstrdup(s->name);
		d->issuer = xstrdup(s->issuer);
		d->jwks_url = xstrdup(s->jwks_url);
		d->subject_claim = xstrdup(s->subject_claim);
		d->audiences = list_dup(s->audiences);
		d->algs = list_dup(s->algs);
	}
}

void config_write_oidc(const struct config *cfg, FILE *out)
{
	for (size_t i = 0; i < cfg->noidc; i++) {
		const struct oidc_provider *p = &cfg->oidc[i];
		fprintf(out, "oidc_%s_issuer %s\noidc_%s_jwks_url %s\noidc_%s_audiences ", p->name,
			p->issuer, p->name, p->jwks_url, p->name);
		for (char **a = p->audiences; *a; a++)
			fprintf(out, "%s%s", a == p->audiences ? "" : ",", *a);
		fprintf(out, "\noidc_%s_subject_claim %s\noidc_%s_algs ", p->name, p->subject_claim,
			p->name);
		for (char **a = p->algs; *a; a++)
			fprintf(out, "%s%s", a == p->algs ? "" : ",", *a);
		fputs("\n", out);
	}
}

char *config_oidc_text(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return xstrdup("");
	config_write_oidc(cfg, f);
	fclose(f);
	return buf;
}
