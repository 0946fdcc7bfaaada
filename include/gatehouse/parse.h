/*
 * parse.h - the value syntaxes of settings: comma-separated lists,
 * durations and sizes.
 */
#ifndef GATEHOUSE_PARSE_H
#define GATEHOUSE_PARSE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Splits a comma-separated list into trimmed, non-empty items: a NULL-
 * terminated array, *n items (may be NULL). Free with gh_list_free.
 */
char **gh_list_split(const char *s, size_t *n /* OUT */);
void gh_list_free(char **items);

/*
 * Parses a duration: digits with an optional unit s, m, h, d (seconds when
 * absent); nothing else, not even white space. 0 or GH_EINVAL.
 */
int gh_parse_duration(const char *s, int64_t *out);
/* Parses a size: an integer with an optional B, KiB, MiB, GiB (or K, M, G). */
int gh_parse_size(const char *s, int64_t *out);

/*
 * Parses an RFC 3339 time ("2027-01-31T00:00:00Z", fractions ignored, a
 * numeric offset or Z required) into Unix seconds; a date that does not
 * exist (February 31st) is refused. 0 or GH_EINVAL.
 */
int gh_parse_rfc3339(const char *s, int64_t *out);
/*
 * A point in time as the admin API and --until take it: an RFC 3339 time,
 * or Unix seconds (digits only, at most 253402300799). 0 or GH_EINVAL.
 */
int gh_parse_when(const char *s, int64_t *out);

#endif
