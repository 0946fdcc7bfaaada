/*
 * fuzz_jsoncheck.c - the quick JSON check of stored documents
 * (src/base/jsoncheck.c) against jansson: whatever json_check_plain
 * accepts, json_loadb(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) must accept
 * too, since a document it passes is stored without jansson's look.
 * (Declining valid text is allowed: jansson then decides.) And whatever
 * json_load_flat takes, jansson (JSON_REJECT_DUPLICATES) builds alike: the
 * same members with equal values in the same order.
 *
 * Input: the document, as the body of PUT /player-data/{key}.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gatehouse/jsoncheck.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void check_flat(const char *p, size_t n)
{
	json_t *flat = json_load_flat(p, n);
	if (!flat)
		return;
	json_t *ref = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
	char *a = json_dumps(flat, JSON_COMPACT), *b = ref ? json_dumps(ref, JSON_COMPACT) : NULL;
	if (!ref || !json_equal(flat, ref) || !a || !b || strcmp(a, b)) {
		fprintf(stderr, "json_load_flat built %s, jansson %s\n", a ? a : "?", b ? b : "nothing");
		abort();
	}
	free(a);
	free(b);
	json_decref(flat);
	json_decref(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_flat((const char *)data, size);
	if (!json_check_plain((const char *)data, size))
		return 0;
	json_error_t err;
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
			       &err);
	if (!j) {
		fprintf(stderr, "json_check_plain accepted what jansson refuses: %s (%d:%d)\n",
			err.text, err.line, err.column);
		abort();
	}
	json_decref(j);
	return 0;
}
