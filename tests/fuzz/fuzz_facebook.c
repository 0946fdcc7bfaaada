/*
 * fuzz_facebook.c - platform_facebook_interpret, the reading of the Graph API
 * answers (the user call and the app call). Input: one byte for the HTTP
 * status, then the body, parsed as platform_call does (only JSON objects
 * reach the interpreter).
 */
#include <stdlib.h>

#include <jansson.h>

#include "gatehouse/platform.h"
#include "fuzz_common.h"

FUZZ_QUIET_INITIALIZE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	long status = fuzz_status(data[0]);
	json_t *j = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(j)) {
		struct platform_result out = { 0 };
		char *id = platform_facebook_interpret(status, j, "Error: User validation error", &out);
		if (id ? !*id : !out.error)
			__builtin_trap();
		free(id);
	}
	json_decref(j);
	return 0;
}
