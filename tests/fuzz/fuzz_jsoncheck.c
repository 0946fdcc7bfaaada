/*
 * fuzz_jsoncheck.c - the quick JSON check of stored documents
 * (src/base/jsoncheck.c) against jansson: whatever json_check_plain
 * accepts, json_loadb(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) must accept
 * too, since a document it passes is stored without jansson's look.
 * (Declining valid text is allowed: jansson then decides.)
 *
 * Input: the document, as the body of PUT /player-data/{key}.
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "gatehouse/jsoncheck.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
