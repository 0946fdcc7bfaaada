/*
 * jsoncheck.h - a quick acceptance check of JSON text, without building it.
 *
 * A stored document must be one JSON value that jansson's
 * json_loadb(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) accepts; parsing it
 * into a tree only to free it was a tenth of a storage PUT's CPU (issue
 * 18). json_check_plain() scans the text once, allocating nothing, and
 * says true only for text that jansson accepts too. It declines (false)
 * everything it does not decide itself, valid or not: \u escapes, control
 * characters, numbers with an exponent or too many digits, objects with
 * more than JSONCHECK_MAX_MEMBERS members or an escaped member name,
 * nesting deeper than JSONCHECK_MAX_DEPTH, and of course invalid text. The
 * caller then asks jansson, which gives the real verdict.
 *
 * json_load_flat() does the same for the small flat objects read on every
 * request (a JSON body's parameters, a token's header and claims): it
 * builds what json_loadb(JSON_REJECT_DUPLICATES) would build, or declines
 * (NULL) and the caller calls json_loadb.
 */
#ifndef GATEHOUSE_JSONCHECK_H
#define GATEHOUSE_JSONCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define JSONCHECK_MAX_DEPTH 32
#define JSONCHECK_MAX_MEMBERS 64

/* True only when p[0..n) is JSON text that jansson accepts (see above). */
bool json_check_plain(const char *p, size_t n);

/*
 * An object of at most JSONCHECK_MAX_MEMBERS members whose names have no
 * escape and whose values are strings (no \u escape, no control byte),
 * integers of at most 18 digits, true, false or null: the json_t jansson
 * would build (same members, same order). NULL for anything else,
 * including text jansson would refuse. The caller owns the result.
 */
json_t *json_load_flat(const char *p, size_t n);

#endif
