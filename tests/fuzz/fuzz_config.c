/*
 * fuzz_config.c - the configuration parser: config_load on the input as a
 * config file (an in-memory file, memfd, opened by its /proc/self/fd
 * path), and again with the input's lines as --set name=value strings.
 * A configuration that loads is also copied, merged as a reload would and
 * printed (to /dev/null), so the OIDC and secret handling run too.
 *
 * Relative *_file settings resolve in an empty private temporary directory
 * (CREDENTIALS_DIRECTORY; nothing is written there); stdin must not be a terminal (make fuzz uses
 * /dev/null) in case an input names /dev/stdin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatehouse/config.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "fuzz_common.h"

#define MAX_SETS 64

static char dir[4096], path[64];
static int memfd = -1;
static struct config defaults;
static FILE *devnull;

static void cleanup(void)
{
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logs();
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/gatehouse-fuzz-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		fuzz_die("mkdtemp");
	atexit(cleanup);
	/* The config "file" lives in memory: a disk file rewritten per input is slow. */
	memfd = memfd_create("gatehouse.conf", MFD_CLOEXEC);
	/* A memfd is created 0777: owner-only, or strict modes refuse every input. */
	if (memfd < 0 || fchmod(memfd, 0600))
		fuzz_die("memfd_create");
	snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	devnull = fopen("/dev/null", "w");
	char err[512];
	if (!devnull || config_load(&defaults, NULL, NULL, 0, err, sizeof err))
		fuzz_die("defaults");
	return 0;
}

/* What a reload does with a configuration that loaded. */
static void exercise(const struct config *cfg)
{
	struct config *copy = config_dup(cfg);
	struct strbuf applied = STRBUF_INIT, restart = STRBUF_INIT;
	config_merge_reloadable(copy, &defaults, &applied, &restart);
	config_write_effective(copy, devnull);
	(void)config_oidc(copy, "google");
	sb_release(&applied);
	sb_release(&restart);
	config_release(copy);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct config cfg;

	if (ftruncate(memfd, 0) || (size && pwrite(memfd, data, size, 0) != (ssize_t)size))
		fuzz_die("write the config file");
	if (config_load(&cfg, path, NULL, 0, err, sizeof err) == 0)
		exercise(&cfg);
	config_release(&cfg);

	/* The same text as --set strings, one per line. */
	char *text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	char *sets[MAX_SETS];
	int nsets = 0;
	for (char *line = text; line && nsets < MAX_SETS;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		sets[nsets++] = line;
		line = nl ? nl + 1 : NULL;
	}
	if (config_load(&cfg, NULL, sets, nsets, err, sizeof err) == 0)
		exercise(&cfg);
	config_release(&cfg);
	free(text);
	return 0;
}
