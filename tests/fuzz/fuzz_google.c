/*
 * fuzz_google.c - the reading of Google Play Games answers: the OAuth code
 * exchange (platform_google_interpret_token) and the application verify call
 * (platform_google_interpret_verify). Input: one byte whose low bit picks the
 * interpreter, one byte for the HTTP status, then the body, parsed as
 * platform_call does (only JSON objects reach the interpreters).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gatehouse/platform.h"
#include "fuzz_common.h"

FUZZ_QUIET_INITIALIZE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	long status = fuzz_status(data[1]);
	json_t *j = json_loadb((const char *)data + 2, size - 2, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(j)) {
		struct platform_result out = { 0 };
		if (data[0] & 1) {
			platform_google_interpret_verify(status, j, &out);
			if (out.status == PLATFORM_OK ? !out.subject[0] : !out.error)
				__builtin_trap();
		} else {
			char *token = platform_google_interpret_token(status, j, &out);
			/* The token goes into an Authorization header: no line breaks. */
			if (token ? (!*token || strpbrk(token, "\r\n")) : !out.error)
				__builtin_trap();
			free(token);
		}
	}
	json_decref(j);
	return 0;
}
