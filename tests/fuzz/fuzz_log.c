/*
 * fuzz_log.c - the log line writer (src/log.c) with client bytes in every
 * place a client's bytes reach it: the values of log_fields (method, route,
 * client address, request id, trace id), a number field, and a message of
 * log_write. Each line written must be one line, valid UTF-8, and in the
 * JSON format one JSON object whose values decode back.
 *
 * Input: byte 0 picks the format (bit 0: JSON) and whether a request id
 * and trace id are set (bit 1); the rest is split at NUL bytes into up to
 * six values.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "gatehouse/log.h"
#include "gatehouse/encoding.h"
#include "fuzz_common.h"

static int out_fd = -1, saved_stderr = -1;
static char *readback;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* The lines go to a memory file put in stderr's place around each input
	 * (libFuzzer reports on the real stderr), then read back. */
	out_fd = memfd_create("fuzz-log", 0);
	saved_stderr = dup(STDERR_FILENO);
	if (out_fd < 0 || saved_stderr < 0)
		fuzz_die("memfd for stderr");
	readback = malloc(1 << 20);
	if (!readback)
		fuzz_die("buffer");
	return 0;
}

/* Shows the lines (on the real stderr) and traps. */
static void bad_output(const char *why, size_t n)
{
	fprintf(stderr, "fuzz_log: %s in:\n", why);
	fwrite(readback, 1, n, stderr);
	__builtin_trap();
}

/* Checks the lines written since the last reset; traps when one is wrong. */
static void check_lines(bool json, size_t expect)
{
	off_t end = lseek(out_fd, 0, SEEK_CUR);
	if (end <= 0 || end >= (1 << 20))
		fuzz_die("no log output or too much");
	if (pread(out_fd, readback, (size_t)end, 0) != end)
		fuzz_die("read back");
	size_t n = (size_t)end, lines = 0;
	if (readback[n - 1] != '\n')
		bad_output("no final newline", n);
	if (!gh_utf8_valid(readback, n))
		bad_output("not UTF-8, or a NUL", n);
	for (size_t a = 0; a < n;) {
		char *nl = memchr(readback + a, '\n', n - a);
		size_t len = (size_t)(nl - (readback + a));
		if (json) {
			json_error_t err;
			json_t *o = json_loadb(readback + a, len, JSON_REJECT_DUPLICATES, &err);
			if (!o || !json_is_object(o))
				bad_output(err.text, n);
			json_decref(o);
		}
		for (size_t i = a; i < a + len; i++)
			if ((unsigned char)readback[i] < 0x20)
				bad_output("a control character inside a line", n);
		lines++;
		a += len + 1;
	}
	if (lines != expect)
		bad_output("not one line per call", n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool json = data[0] & 1, ids = data[0] & 2;
	char *copy = malloc(size);
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	const char *v[6] = { "", "", "", "", "", "" };
	size_t nv = 0, pos = 0;
	while (nv < 6 && pos < size) {
		v[nv++] = copy + pos;
		pos += strlen(copy + pos) + 1;
	}
	log_configure(LOG_DEBUG, json ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
	if (ftruncate(out_fd, 0) != 0 || lseek(out_fd, 0, SEEK_SET) != 0 ||
	    dup2(out_fd, STDERR_FILENO) < 0)
		fuzz_die("reset");
	if (ids) {
		log_set_request_id(v[4]);
		log_set_trace_id(v[5]);
	}
	log_fields(LOG_INFO, "access", "method", v[0], "route", v[1], LOG_NUM("status"), v[2],
		   "client", v[3], "request_id", v[4], NULL);
	log_write(LOG_WARN, "libmicrohttpd: %s", v[1]);
	/* A client's bytes in a key, too (prefixed: no clash with the line's own keys). */
	char key[64];
	snprintf(key, sizeof key, "x_%s", v[1]);
	log_fields(LOG_ERROR, v[0], key, v[2], NULL);
	log_set_request_id(NULL);
	log_set_trace_id(NULL);
	if (dup2(saved_stderr, STDERR_FILENO) < 0)
		fuzz_die("restore stderr");
	check_lines(json, 3);
	free(copy);
	return 0;
}
