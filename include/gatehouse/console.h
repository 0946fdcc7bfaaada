/*
 * console.h - the web console's files, built into the binary: every file
 * under console/ at the top of the tree, made into a table by
 * scripts/embed-dir.sh (build/gen/console_files.c). Served by the admin
 * listener at /console/<name> (handle_console).
 */
#ifndef GATEHOUSE_CONSOLE_H
#define GATEHOUSE_CONSOLE_H

#include <stddef.h>

struct console_file {
	const char *name;          /* relative to console/, e.g. "index.html" */
	const unsigned char *data; /* len bytes (and a NUL after them) */
	size_t len;
};

/* The files, sorted by name, then { NULL, NULL, 0 }. */
extern const struct console_file console_files[];
extern const size_t console_nfiles;

#endif
