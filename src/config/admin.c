/*
 * admin.c - the admin listener's settings: admin_listen_address and its
 * older name metrics_listen_address, and admin_token_file, read into
 * SHA-256 digests (the tokens themselves are never kept, printed or logged).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "gatehouse/alloc.h"
#include "gatehouse/config.h"
#include "gatehouse/digest.h"
#include "internal.h"
#include "gatehouse/banned.h"

/* Bounds of the token file: its size, a line, how many tokens, a token. */
#define TOKEN_FILE_MAX 65536
#define TOKEN_LINE_MAX 1024
#define TOKENS_MAX 64
#define TOKEN_MIN 16
#define TOKEN_MAX 512

bool config_admin_api(const struct config *cfg)
{
	return *cfg->admin_listen_address && cfg->nadmin_tokens > 0;
}

void config_admin_tokens_free(struct config *cfg)
{
	if (cfg->admin_tokens)
		OPENSSL_cleanse(cfg->admin_tokens, cfg->nadmin_tokens * sizeof *cfg->admin_tokens);
	free(cfg->admin_tokens);
	cfg->admin_tokens = NULL;
	cfg->nadmin_tokens = 0;
}

void config_admin_tokens_copy(struct config *dst, const struct config *src)
{
	dst->admin_tokens = NULL;
	dst->nadmin_tokens = src->nadmin_tokens;
	if (src->nadmin_tokens) {
		size_t n = src->nadmin_tokens * sizeof *src->admin_tokens;
		dst->admin_tokens = xmalloc(n);
		memcpy(dst->admin_tokens, src->admin_tokens, n);
	}
}

bool config_admin_tokens_differ(const struct config *a, const struct config *b)
{
	return a->nadmin_tokens != b->nadmin_tokens ||
	       (a->nadmin_tokens && memcmp(a->admin_tokens, b->admin_tokens,
					   a->nadmin_tokens * sizeof *a->admin_tokens) != 0);
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * One line (s, n bytes, no newline) into tokens; 0, 1 when it holds no
 * token (blank, comment), -1 with why set. Never quotes the line.
 */
static int parse_line(const char *s, size_t n, struct admin_token *out, char *why, size_t whylen)
{
	while (n && blank(*s)) {
		s++;
		n--;
	}
	while (n && blank(s[n - 1]))
		n--;
	if (!n || *s == '#')
		return 1;
	const char *colon = memchr(s, ':', n);
	size_t nl = colon ? (size_t)(colon - s) : 0;
	bool named = nl > 0 && nl <= ADMIN_TOKEN_NAME_MAX;
	for (size_t i = 0; named && i < nl; i++)
		named = name_char(s[i]);
	const char *tok = s;
	size_t tl = n;
	if (named) {
		memcpy(out->name, s, nl);
		out->name[nl] = '\0';
		tok = colon + 1;
		tl = n - nl - 1;
		while (tl && blank(*tok)) {
			tok++;
			tl--;
		}
	} else {
		snprintf(out->name, sizeof out->name, "admin");
	}
	if (tl < TOKEN_MIN || tl > TOKEN_MAX) {
		snprintf(why, whylen, "a token must be %d to %d characters", TOKEN_MIN, TOKEN_MAX);
		return -1;
	}
	for (size_t i = 0; i < tl; i++)
		if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f) {
			snprintf(why, whylen, "a token is printable ASCII without spaces");
			return -1;
		}
	gh_sha256(tok, tl, out->digest);
	return 0;
}

static int parse_tokens(struct config *cfg, const char *buf, size_t len, char *why,
			size_t whylen)
{
	struct admin_token *t = xcalloc(TOKENS_MAX, sizeof *t);
	size_t n = 0;
	int lineno = 0, rc = 0;
	for (size_t off = 0; off < len && !rc;) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - (buf + off)) : len - off;
		lineno++;
		struct admin_token one;
		char lwhy[96];
		int r;
		if (ll > TOKEN_LINE_MAX) {
			snprintf(why, whylen, "line %d: longer than %d bytes", lineno, TOKEN_LINE_MAX);
			rc = -1;
		} else if ((r = parse_line(buf + off, ll, &one, lwhy, sizeof lwhy)) < 0) {
			snprintf(why, whylen, "line %d: %s", lineno, lwhy);
			rc = -1;
		} else if (r == 0) {
			for (size_t i = 0; i < n && !rc; i++)
				if (!strcmp(t[i].name, one.name)) {
					snprintf(why, whylen, "line %d: the name '%s' is used twice",
						 lineno, one.name);
					rc = -1;
				}
			if (!rc && n == TOKENS_MAX) {
				snprintf(why, whylen, "more than %d tokens", TOKENS_MAX);
				rc = -1;
			}
			if (!rc)
				t[n++] = one;
		}
		OPENSSL_cleanse(&one, sizeof one);
		off += ll + 1;
	}
	if (!rc && !n) {
		snprintf(why, whylen, "no token in it (an empty file turns nothing on)");
		rc = -1;
	}
	if (rc) {
		OPENSSL_cleanse(t, TOKENS_MAX * sizeof *t);
		free(t);
		return -1;
	}
	config_admin_tokens_free(cfg);
	cfg->admin_tokens = t;
	cfg->nadmin_tokens = n;
	return 0;
}

static int read_tokens(struct config *cfg, char *err, size_t errlen)
{
	char *path = config_secret_path(cfg->admin_token_file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = xmalloc(TOKEN_FILE_MAX + 1);
	size_t len = 0;
	ssize_t r = 0;
	int saved = 0;
	while (fd >= 0 && len <= TOKEN_FILE_MAX &&
	       (r = read(fd, buf + len, TOKEN_FILE_MAX + 1 - len)) > 0)
		len += (size_t)r;
	saved = errno;
	if (fd >= 0)
		close(fd);
	int rc = 0;
	char why[160];
	if (fd < 0 || r < 0) {
		snprintf(err, errlen, "admin_token_file '%s': %s", path, strerror(saved));
		rc = -1;
	} else if (len > TOKEN_FILE_MAX) {
		snprintf(err, errlen, "admin_token_file '%s': larger than %d bytes", path,
			 TOKEN_FILE_MAX);
		rc = -1;
	} else if (parse_tokens(cfg, buf, len, why, sizeof why)) {
		snprintf(err, errlen, "admin_token_file '%s': %s", path, why);
		rc = -1;
	}
	OPENSSL_cleanse(buf, TOKEN_FILE_MAX + 1);
	free(buf);
	free(path);
	return rc;
}

int config_check_admin(struct config *cfg, char *err, size_t errlen)
{
	const char *metrics = cfg->metrics_listen_address;
	bool legacy = !*cfg->admin_listen_address && *metrics;
	if (*cfg->admin_listen_address && *metrics && strcmp(cfg->admin_listen_address, metrics)) {
		snprintf(err, errlen, "admin_listen_address '%s' and metrics_listen_address '%s' "
			 "differ: metrics_listen_address is its older name, set only one",
			 cfg->admin_listen_address, metrics);
		return -1;
	}
	if (legacy) {
		free(cfg->admin_listen_address);
		cfg->admin_listen_address = xstrdup(metrics);
	}
	if (*cfg->admin_listen_address) {
		char host[64];
		int port;
		if (config_split_hostport(cfg->admin_listen_address, host, sizeof host, &port)) {
			snprintf(err, errlen, "%s '%s': expected ip:port or [ipv6]:port",
				 legacy ? "metrics_listen_address" : "admin_listen_address",
				 cfg->admin_listen_address);
			return -1;
		}
	}
	config_admin_tokens_free(cfg);
	if (*cfg->admin_token_file)
		return read_tokens(cfg, err, errlen);
	if (*cfg->admin_listen_address && !legacy) {
		snprintf(err, errlen, "admin_listen_address is set but admin_token_file is not: "
			 "the admin API needs its tokens (see admin_token_file)");
		return -1;
	}
	return 0;
}
