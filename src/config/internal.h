/*
 * internal.h - what the settings table (config.c) and the providers'
 * settings (providers.c) share. Not a contract for other modules.
 */
#ifndef GATEHOUSE_CONFIG_INTERNAL_H
#define GATEHOUSE_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "gatehouse/config.h"

enum setting_type { T_STRING, T_INT, T_BOOL, T_DURATION, T_SIZE, T_ENUM };

struct setting {
	const char *name;
	enum setting_type type;
	size_t offset;
	const char *def;          /* default, in config-file syntax */
	int64_t min, max;         /* bounds for numbers; max length for strings */
	const char *const *choices; /* T_ENUM: NULL-terminated */
	const char *help;
	bool reloadable;          /* SIGHUP applies it to a running daemon */
};

/* The one settings table (config.c). */
extern const struct setting config_settings[];
extern const size_t config_nsettings;

/* GATEHOUSE_* variables that are not settings but are still the daemon's. */
struct config_env_var {
	const char *name, *help;
};
extern const struct config_env_var config_env_allowed[];
extern const size_t config_nenv_allowed;

/* The setting named by name's first len bytes, or NULL (config.c). */
const struct setting *config_find_setting(const char *name, size_t len);
/* Parses value into the field of s in cfg; on error writes a reason (config.c). */
int config_set_value(struct config *cfg, const struct setting *s, const char *value, char *why,
		     size_t whylen);

/* Scrubs and frees a secret setting, leaving NULL (config.c). */
void config_free_secret(char **secret);

/* The value of s in cfg as a config file writes it (write.c). */
void config_write_value(const struct setting *s, const struct config *cfg, FILE *out);

/*
 * Splits oidc_<name>_<field> (n bytes): the field's index, with the name
 * in name; -1 when key is not of that form.
 */
int config_oidc_key_split(const char *key, size_t n, char *name, size_t namelen);
/*
 * Records oidc_<name>_<field> (key of n bytes) for build time; false when
 * key is not of that form. origin names where it came from, for errors.
 */
bool config_oidc_setting_add(struct config *cfg, const char *key, size_t n, const char *value,
			     const char *origin);
void config_oidc_free(struct oidc_provider *p, size_t n);
/* Reads secrets, checks each enabled platform and builds the OIDC providers. */
int config_check_platforms(struct config *cfg, char *err, size_t errlen);
/* database vs database_path, and the password file (providers.c). */
int config_check_database(struct config *cfg, char *err, size_t errlen);
void config_copy_oidc(struct config *dst, const struct config *src);
void config_write_oidc(const struct config *cfg, FILE *out);
/* The OIDC providers as text (to compare two configurations); caller frees. */
char *config_oidc_text(const struct config *cfg);

/*
 * The admin settings (admin.c): resolves the metrics_listen_address alias,
 * checks the admin address and reads admin_token_file into digests.
 */
int config_check_admin(struct config *cfg, char *err, size_t errlen);
void config_admin_tokens_free(struct config *cfg);
void config_admin_tokens_copy(struct config *dst, const struct config *src);
bool config_admin_tokens_differ(const struct config *a, const struct config *b);

#endif
