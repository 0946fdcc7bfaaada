/*
 * fuzz_steam.c - platform_steam_interpret, the reading of Steam's
 * AuthenticateUserTicket answer. Input: one byte for the HTTP status, one
 * for steam_reject_vac_banned, then the body, parsed as platform_call does
 * (only JSON objects reach the interpreter).
 */
#include <jansson.h>

#include "gatehouse/config.h"
#include "gatehouse/platform.h"
#include "fuzz_common.h"

static struct config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logs();
	char err[512];
	if (config_load(&cfg, NULL, NULL, 0, err, sizeof err))
		fuzz_die(err);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	long status = fuzz_status(data[0]);
	cfg.steam_reject_vac_banned = data[1] & 1;
	json_t *j = json_loadb((const char *)data + 2, size - 2, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(j)) {
		struct platform_result out = { 0 };
		platform_steam_interpret(&cfg, status, j, &out);
		if (out.status == PLATFORM_OK ? !out.subject[0] : !out.error)
			__builtin_trap();
	}
	json_decref(j);
	return 0;
}
