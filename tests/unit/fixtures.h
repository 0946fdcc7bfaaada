/*
 * fixtures.h - what unit tests share beside harness.h: a temporary
 * directory (made under /tmp, removed with all it holds), a store opened
 * on a fresh database in it, configuration files and a clean environment
 * for config_load, and the pieces of a hand-built JWT. Header only.
 */
#ifndef GATEHOUSE_TEST_FIXTURES_H
#define GATEHOUSE_TEST_FIXTURES_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <string.h>
#include <sys/stat.h>

#include "gatehouse/alloc.h"
#include "gatehouse/config.h"
#include "gatehouse/encoding.h"
#include "gatehouse/store.h"
#include "gatehouse/store_sqlite.h"

/*
 * Makes /tmp/gh-unit-<tag>-XXXXXX into dir (cap bytes); exits the test
 * program when it cannot.
 */
static inline void fixture_tmpdir(char *dir, size_t cap, const char *tag)
{
	snprintf(dir, cap, "/tmp/gh-unit-%s-XXXXXX", tag);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(2);
	}
}

/* Removes a directory made by fixture_tmpdir and all it holds. */
static inline void fixture_rmdir(const char *dir)
{
	char cmd[320];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* How fixture_store_open opens a SQLite store; zero is the daemon's default. */
struct fixture_store_opts {
	int readers;               /* 0: 4 */
	int64_t busy_timeout_ms;   /* 0: 5000 */
	bool one_commit_per_write; /* group commit off */
	bool sync_normal;          /* synchronous=NORMAL (the tests' default is FULL) */
};

/*
 * Opens (creating) the SQLite store at path; exits the test program with
 * the reason when it cannot. o may be NULL.
 */
static inline struct store *fixture_store_open(const char *path,
					       const struct fixture_store_opts *o)
{
	struct fixture_store_opts d = { 0 };
	if (!o)
		o = &d;
	struct store_sqlite_options sq = {
		.sync_full = !o->sync_normal,
		.busy_timeout_ms = o->busy_timeout_ms ? o->busy_timeout_ms : 5000,
	};
	struct store_options opt = {
		.path = path,
		.readers = o->readers ? o->readers : 4,
		.group_commit = !o->one_commit_per_write,
		.sqlite = &sq,
	};
	struct store *st = NULL;
	char err[512] = "";
	if (store_open(&opt, &st, err, sizeof err)) {
		fprintf(stderr, "store_open: %s\n", err);
		exit(2);
	}
	return st;
}

/* ---- configuration ---- */

extern char **environ;

/* Writes text to dir/name, owner-only; returns the path (caller frees). */
static inline char *fixture_write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f || fchmod(fileno(f), 0600) != 0) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
	return path;
}

/*
 * Removes every GATEHOUSE_* variable and CREDENTIALS_DIRECTORY, so the
 * caller's environment cannot leak into config_load.
 */
static inline void fixture_clear_env(void)
{
	unsetenv("CREDENTIALS_DIRECTORY");
	for (;;) {
		char name[256] = "";
		for (char **e = environ; *e; e++)
			if (strncmp(*e, "GATEHOUSE_", 10) == 0) {
				size_t n = strcspn(*e, "=");
				snprintf(name, sizeof name, "%.*s", (int)n, *e);
				break;
			}
		if (!name[0])
			return;
		unsetenv(name);
	}
}

/* What `gatehouse check-config` prints for cfg, in a new string. */
static inline char *fixture_config_effective(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		exit(2);
	config_write_effective(cfg, f);
	fclose(f);
	return buf;
}

/* ---- hand-built JWTs (forgeries and other issuers' tokens) ---- */

/* base64url of n bytes, in a new string. */
static inline char *fixture_b64(const void *data, size_t n)
{
	char *out = xmalloc(gh_b64url_encoded_len(n) + 1);
	gh_b64url_encode(data, n, out);
	return out;
}

/* The JWS signing input "b64(hdr).b64(payload)", in a new string. */
static inline char *fixture_jws_input(const char *hdr, const char *payload)
{
	char *h = fixture_b64(hdr, strlen(hdr)), *p = fixture_b64(payload, strlen(payload));
	char *s = xasprintf("%s.%s", h, p);
	free(h);
	free(p);
	return s;
}

/* "input.b64(sig)": a token from its signing input and signature. */
static inline char *fixture_jws_with_sig(const char *input, const unsigned char *sig, size_t n)
{
	char *s = fixture_b64(sig, n);
	char *t = xasprintf("%s.%s", input, s);
	free(s);
	return t;
}

#endif
