/*
 * alloc.h - allocation that never returns NULL: these report and abort on
 * out-of-memory, so callers never check (Redis zmalloc, git xmalloc). Free
 * with free(). The bottom layer: it depends on nothing of the project.
 */
#ifndef GATEHOUSE_ALLOC_H
#define GATEHOUSE_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Formats into a new string; aborts on OOM. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Called with the size that could not be had, just before abort (the log
 * module installs one that writes a log line); by default a plain line on
 * stderr.
 */
void alloc_set_oom_hook(void (*hook)(size_t n));

#define GH_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
