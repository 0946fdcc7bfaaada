/*
 * log.c - level-gated, one-line-per-event logging to stderr in logfmt or
 * JSON. Each line is written with a single write(2), so lines from
 * concurrent threads never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "gatehouse/log.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/banned.h"

_Atomic int log_min_level = LOG_INFO;
static _Atomic int log_format = LOG_FORMAT_TEXT;
static _Thread_local const char *current_request_id;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

static void log_oom(size_t n)
{
	log_error("out of memory allocating %zu bytes", n);
}

void log_configure(int level, int format)
{
	log_min_level = level;
	log_format = format;
	alloc_set_oom_hook(log_oom);
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < (int)GH_ARRAY_SIZE(level_names); i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void log_set_request_id(const char *id)
{
	current_request_id = id;
}

/* Appends v quoted for the current format, escaping what must be escaped. */
static void add_value(struct strbuf *sb, const char *v, bool force_quote)
{
	if (log_format == LOG_FORMAT_JSON) {
		sb_add_json_str(sb, v);
		return;
	}
	bool quote = force_quote || !*v;
	for (const char *p = v; *p && !quote; p++)
		if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20)
			quote = true;
	if (!quote) {
		sb_adds(sb, v);
		return;
	}
	/* logfmt quoting follows JSON string escaping. */
	sb_add_json_str(sb, v);
}

static void add_field(struct strbuf *sb, const char *key, const char *v, bool first)
{
	if (log_format == LOG_FORMAT_JSON) {
		if (!first)
			sb_adds(sb, ",");
		sb_add_json_str(sb, key);
		sb_adds(sb, ":");
	} else {
		if (!first)
			sb_adds(sb, " ");
		sb_adds(sb, key);
		sb_adds(sb, "=");
	}
	add_value(sb, v, false);
}

static void begin_line(struct strbuf *sb, int level)
{
	struct timeval tv;
	struct tm tm;
	char ts[40];
	gettimeofday(&tv, NULL);
	time_t secs = tv.tv_sec;
	gmtime_r(&secs, &tm);
	size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof ts - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
	if (log_format == LOG_FORMAT_JSON)
		sb_adds(sb, "{");
	add_field(sb, "ts", ts, true);
	add_field(sb, "level", level_names[level < 0 ? 0 : level > 3 ? 3 : level], false);
}

static void end_line(struct strbuf *sb)
{
	if (current_request_id)
		add_field(sb, "request_id", current_request_id, false);
	if (log_format == LOG_FORMAT_JSON)
		sb_adds(sb, "}");
	sb_adds(sb, "\n");
	ssize_t off = 0;
	while ((size_t)off < sb->len) {
		ssize_t w = write(STDERR_FILENO, sb->buf + off, sb->len - (size_t)off);
		if (w <= 0)
			break;
		off += w;
	}
}

void log_write(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* A message never spans lines: fold control characters. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	struct strbuf sb = STRBUF_INIT;
	begin_line(&sb, level);
	if (log_format == LOG_FORMAT_JSON) {
		sb_adds(&sb, ",\"msg\":");
		sb_add_json_str(&sb, msg);
	} else {
		sb_adds(&sb, " msg=");
		add_value(&sb, msg, true);
	}
	end_line(&sb);
	sb_release(&sb);
}

void log_fields(int level, const char *msg, ...)
{
	if (level < log_min_level)
		return;
	struct strbuf sb = STRBUF_INIT;
	begin_line(&sb, level);
	add_field(&sb, "msg", msg, false);
	va_list ap;
	va_start(ap, msg);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		add_field(&sb, k, v ? v : "", false);
	}
	va_end(ap);
	end_line(&sb);
	sb_release(&sb);
}
