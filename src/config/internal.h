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
void config_copy_oidc(struct config *dst, const struct config *src);
void config_write_oidc(const struct config *cfg, FILE *out);
/* The OIDC providers as text (to compare two configurations); caller frees. */
char *config_oidc_text(const struct config *cfg);

#endif
