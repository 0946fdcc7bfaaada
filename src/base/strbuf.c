/*
 * strbuf.c - the growable byte buffer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/banned.h"

void sb_grow(struct strbuf *sb, size_t extra)
{
	if (sb->len + extra + 1 <= sb->cap)
		return;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < sb->len + extra + 1)
		cap *= 2;
	sb->buf = xrealloc(sb->buf, cap);
	sb->cap = cap;
}

void sb_add(struct strbuf *sb, const void *data, size_t n)
{
	sb_grow(sb, n);
	memcpy(sb->buf + sb->len, data, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void sb_adds(struct strbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

void sb_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[256];
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		sb_add(sb, tmp, (size_t)n);
		return;
	}
	sb_grow(sb, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void sb_add_json_str(struct strbuf *sb, const char *s)
{
	static const char digits[] = "0123456789abcdef";
	sb_grow(sb, strlen(s) + 2);
	sb->buf[sb->len++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		/* A run that needs no escape goes in one copy (a token is all one run). */
		const unsigned char *run = p;
		while (*p >= 0x20 && *p != '"' && *p != '\\')
			p++;
		if (p > run)
			sb_add(sb, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			sb_add(sb, esc, 2);
		} else { /* below 0x20 */
			char esc[6] = { '\\', 'u', '0', '0', digits[c >> 4], digits[c & 15] };
			sb_add(sb, esc, 6);
		}
	}
	sb_grow(sb, 1);
	sb->buf[sb->len++] = '"';
	sb->buf[sb->len] = '\0';
}

void sb_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

char *sb_detach(struct strbuf *sb, size_t *len)
{
	if (!sb->buf)
		sb_grow(sb, 0), sb->buf[0] = '\0';
	char *p = sb->buf;
	if (len)
		*len = sb->len;
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	return p;
}

void sb_release(struct strbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}
