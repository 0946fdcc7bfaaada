/*
 * reload.c - copies of a configuration and what a reload (SIGHUP) may
 * change in a running daemon's copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/alloc.h"
#include "gatehouse/config.h"
#include "gatehouse/strbuf.h"
#include "internal.h"
#include "gatehouse/banned.h"

struct config *config_dup(const struct config *cfg)
{
	struct config *c = xmalloc(sizeof *c);
	*c = *cfg;
	for (size_t i = 0; i < config_nsettings; i++)
		if (config_settings[i].type == T_STRING) {
			char **p = (char **)((char *)c + config_settings[i].offset);
			*p = xstrdup(*p ? *p : "");
		}
	c->steam_web_api_key = cfg->steam_web_api_key ? xstrdup(cfg->steam_web_api_key) : NULL;
	c->google_play_client_secret =
		cfg->google_play_client_secret ? xstrdup(cfg->google_play_client_secret) : NULL;
	c->database_password = cfg->database_password ? xstrdup(cfg->database_password) : NULL;
	config_copy_oidc(c, cfg);
	config_admin_tokens_copy(c, cfg);
	c->oidc_settings = NULL; /* only config_load needs them */
	c->noidc_settings = 0;
	return c;
}

/* The OIDC providers as text (for comparing, and for check-config). */
void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	config_release(cfg);
	free(cfg);
}

static bool secret_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* The value of setting s in cfg as text, as set_value takes it (strings raw). */
static char *value_text(const struct setting *s, const struct config *cfg)
{
	if (s->type == T_STRING) {
		const char *v = *(char *const *)((const char *)cfg + s->offset);
		return xstrdup(v ? v : "");
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return xstrdup("");
	config_write_value(s, cfg, f);
	fclose(f);
	return buf;
}

bool config_is_default(const struct config *cfg, const char *name)
{
	const struct setting *s = config_find_setting(name, strlen(name));
	if (!s)
		return true;
	struct config def;
	memset(&def, 0, sizeof def);
	char why[160];
	config_set_value(&def, s, s->def, why, sizeof why);
	char *a = value_text(s, cfg), *b = value_text(s, &def);
	bool same = strcmp(a, b) == 0;
	free(a);
	free(b);
	if (s->type == T_STRING)
		free(*(char **)((char *)&def + s->offset));
	return same;
}

void config_merge_reloadable(struct config *dst, const struct config *src,
			     struct strbuf *applied, struct strbuf *restart)
{
	for (size_t i = 0; i < config_nsettings; i++) {
		const struct setting *s = &config_settings[i];
		char *a = value_text(s, dst), *b = value_text(s, src);
		if (strcmp(a, b) != 0) {
			struct strbuf *list = s->reloadable ? applied : restart;
			sb_addf(list, "%s%s", list->len ? ", " : "", s->name);
			if (s->reloadable) {
				char why[160];
				config_set_value(dst, s, b, why, sizeof why);
			}
		}
		free(a);
		free(b);
	}
	/* Provider settings derived from the table: OIDC providers and secrets. */
	char *a = config_oidc_text(dst), *b = config_oidc_text(src);
	if (strcmp(a, b) != 0) {
		config_oidc_free(dst->oidc, dst->noidc);
		config_copy_oidc(dst, src);
		sb_addf(applied, "%soidc providers", applied->len ? ", " : "");
	}
	free(a);
	free(b);
	if (secret_differs(dst->steam_web_api_key, src->steam_web_api_key) ||
	    secret_differs(dst->google_play_client_secret, src->google_play_client_secret)) {
		config_free_secret(&dst->steam_web_api_key);
		config_free_secret(&dst->google_play_client_secret);
		dst->steam_web_api_key = src->steam_web_api_key ? xstrdup(src->steam_web_api_key) :
								  NULL;
		dst->google_play_client_secret = src->google_play_client_secret ?
						 xstrdup(src->google_play_client_secret) : NULL;
		sb_addf(applied, "%splatform secrets", applied->len ? ", " : "");
	}
	if (config_admin_tokens_differ(dst, src)) {
		config_admin_tokens_free(dst);
		config_admin_tokens_copy(dst, src);
		sb_addf(applied, "%sadmin tokens", applied->len ? ", " : "");
	}
}

