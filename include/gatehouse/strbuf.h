/*
 * strbuf.h - a growable byte buffer (git strbuf in spirit), the one string
 * builder of the project. Depends only on alloc.
 */
#ifndef GATEHOUSE_STRBUF_H
#define GATEHOUSE_STRBUF_H

#include <stddef.h>

/*
 * A growable byte buffer (git strbuf in spirit). buf is always
 * NUL-terminated; len excludes the NUL. Release with sb_release, or take the
 * buffer with sb_detach (caller frees).
 */
struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
};
#define STRBUF_INIT { NULL, 0, 0 }
void sb_grow(struct strbuf *sb, size_t extra);
void sb_add(struct strbuf *sb, const void *data, size_t n);
void sb_adds(struct strbuf *sb, const char *s);
void sb_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
void sb_add_json_str(struct strbuf *sb, const char *s);
void sb_reset(struct strbuf *sb);
char *sb_detach(struct strbuf *sb, size_t *len /* OUT, may be NULL */);
void sb_release(struct strbuf *sb);

#endif
