/*
 * log.c - level-gated, one-line-per-event logging to stderr in logfmt or
 * JSON. Each line is written with a single write(2), so lines from
 * concurrent threads never interleave.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "gatehouse/log.h"
#include "gatehouse/alloc.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/banned.h"

_Atomic int log_min_level = LOG_INFO;
static _Atomic int log_format = LOG_FORMAT_TEXT;
static _Atomic bool log_journal; /* stderr is the journal: priority prefixes */
static _Thread_local const char *current_request_id;
static _Thread_local const char *current_trace_id;

static const char *const level_names[] = { "debug", "info", "warn", "error" };
/* syslog priorities by level (sd-daemon(3) SD_DEBUG, SD_INFO, SD_WARNING, SD_ERR) */
static const char *const level_prefix[] = { "<7>", "<6>", "<4>", "<3>" };

/* True when JOURNAL_STREAM ("dev:ino") names the file stderr is (systemd.exec(5)). */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	if (!js || !*js)
		return false;
	char *end;
	unsigned long long dev = strtoull(js, &end, 10);
	if (end == js || *end != ':')
		return false;
	const char *ino_s = end + 1;
	unsigned long long ino = strtoull(ino_s, &end, 10);
	if (end == ino_s || *end)
		return false;
	struct stat st;
	if (fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void log_oom(size_t n)
{
	log_error("out of memory allocating %zu bytes", n);
}

void log_configure(int level, int format)
{
	log_min_level = level;
	log_format = format;
	log_journal = stderr_is_journal();
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

void log_set_trace_id(const char *id)
{
	current_trace_id = id;
}

/*
 * Length of the valid UTF-8 sequence at p (1-4), or 0 when the byte at p
 * does not start one (stray continuation, overlong form, surrogate, above
 * U+10FFFF, truncated).
 */
static size_t utf8_seq(const unsigned char *p)
{
	unsigned char c = p[0];
	if (c < 0x80)
		return 1;
	size_t n;
	unsigned lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/*
 * Appends s as a JSON string: '"' and '\\' escaped, control characters
 * (C0, DEL, C1) as \u00HH, bytes outside valid UTF-8 as the text \xHH
 * (escaped for JSON as \\xHH). The result is valid UTF-8 and valid JSON
 * whatever s holds.
 */
static void add_json_str(struct strbuf *sb, const char *s)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	sb_adds(sb, "\"");
	while (*p) {
		unsigned char c = *p;
		size_t n = utf8_seq(p);
		if (n == 0) {
			char esc[5] = { '\\', '\\', 'x', digits[c >> 4], digits[c & 15] };
			sb_add(sb, esc, 5);
			p++;
		} else if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			sb_add(sb, esc, 2);
			p++;
		} else if (c < 0x20 || c == 0x7f || (c == 0xc2 && p[1] < 0xa0)) {
			unsigned cp = c == 0xc2 ? p[1] : c;
			char esc[6] = { '\\', 'u', '0', '0', digits[cp >> 4], digits[cp & 15] };
			sb_add(sb, esc, 6);
			p += n;
		} else {
			sb_add(sb, (const char *)p, n);
			p += n;
		}
	}
	sb_adds(sb, "\"");
}

/*
 * True when v is a plain decimal number: an optional '-', at most 15
 * digits without a leading zero, optionally '.' and at most 9 digits; no
 * exponent. A JSON number (RFC 8259 section 6) that every parser reads
 * exactly, as an integer or a double.
 */
static bool is_plain_number(const char *v)
{
	const char *p = v;
	if (*p == '-')
		p++;
	const char *digits = p;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return false;
	if (p - digits > 15)
		return false;
	if (*p == '.') {
		const char *frac = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == frac || p - frac > 9)
			return false;
	}
	return *p == '\0';
}

/* Appends v quoted for the current format, escaping what must be escaped. */
static void add_value(struct strbuf *sb, const char *v, bool force_quote)
{
	if (log_format == LOG_FORMAT_JSON) {
		add_json_str(sb, v);
		return;
	}
	bool quote = force_quote || !*v;
	for (const unsigned char *p = (const unsigned char *)v; *p && !quote; p++)
		if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' || *p < 0x20 || *p >= 0x7f)
			quote = true;
	if (!quote) {
		sb_adds(sb, v);
		return;
	}
	/* logfmt quoting follows JSON string escaping. */
	add_json_str(sb, v);
}

static void add_field(struct strbuf *sb, const char *key, const char *v, bool first)
{
	bool number = key[0] == '#';
	if (number)
		key++;
	if (log_format == LOG_FORMAT_JSON) {
		if (!first)
			sb_adds(sb, ",");
		add_json_str(sb, key);
		sb_adds(sb, ":");
		if (number) {
			sb_adds(sb, is_plain_number(v) ? v : "null");
			return;
		}
	} else {
		/* Keys are ours; even so, nothing but a plain name reaches the line. */
		size_t n = strlen(key);
		sb_grow(sb, n + 2);
		if (!first)
			sb->buf[sb->len++] = ' ';
		for (const char *k = key; *k; k++) {
			char c = *k;
			bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				     (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
			sb->buf[sb->len++] = plain ? c : '_';
		}
		sb->buf[sb->len++] = '=';
		sb->buf[sb->len] = '\0';
	}
	add_value(sb, v, false);
}

/*
 * The date and time of the current second, formatted once a second per
 * thread (the access log writes a line per request).
 */
static _Thread_local time_t ts_secs = -1;
static _Thread_local char ts_text[32];
static _Thread_local size_t ts_len;

static void begin_line(struct strbuf *sb, int level)
{
	struct timeval tv;
	char ts[40];
	gettimeofday(&tv, NULL);
	time_t secs = tv.tv_sec;
	if (secs != ts_secs) {
		struct tm tm;
		gmtime_r(&secs, &tm);
		ts_len = strftime(ts_text, sizeof ts_text, "%Y-%m-%dT%H:%M:%S", &tm);
		ts_secs = ts_len ? secs : -1;
	}
	unsigned ms = (unsigned)(tv.tv_usec / 1000);
	memcpy(ts, ts_text, ts_len);
	char *p = ts + ts_len;
	*p++ = '.';
	*p++ = (char)('0' + ms / 100);
	*p++ = (char)('0' + ms / 10 % 10);
	*p++ = (char)('0' + ms % 10);
	*p++ = 'Z';
	*p = '\0';
	sb_grow(sb, 480); /* one allocation for a typical line */
	level = level < 0 ? 0 : level > 3 ? 3 : level;
	if (log_journal)
		sb_adds(sb, level_prefix[level]);
	if (log_format == LOG_FORMAT_JSON)
		sb_adds(sb, "{");
	add_field(sb, "ts", ts, true);
	add_field(sb, "level", level_names[level], false);
}

/*
 * Deferred lines (the access log): while log_async_start is in
 * effect they are appended to a buffer that a thread writes out with one
 * write(2) a couple of milliseconds later, instead of one write(2) per
 * request, which is most of the access log's cost (and the threads queued on
 * the file's lock behind each other). Every other line first writes what is
 * buffered, so the order of lines is kept; a full buffer is written at once
 * the same way. Lock order: defer_lock, then write_lock (held while a batch
 * or line is written; the flusher writes its batch, swapped out of
 * defer_buf, without defer_lock, so appending never waits for a write).
 */
#define DEFER_CAP (64 * 1024)
#define DEFER_DELAY_NS 2000000L
static pthread_mutex_t defer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t defer_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static char *defer_buf;        /* non-NULL while the flusher runs */
static char *defer_out;        /* the flusher's: the batch being written */
static size_t defer_len;
static bool defer_stop;
static pthread_t defer_thread;

static void write_all(const char *p, size_t n)
{
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(STDERR_FILENO, p + off, n - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

static void emit(const char *line, size_t n, bool deferred)
{
	pthread_mutex_lock(&defer_lock);
	if (deferred && defer_buf && defer_len + n <= DEFER_CAP) {
		if (!defer_len)
			pthread_cond_signal(&defer_cond);
		memcpy(defer_buf + defer_len, line, n);
		defer_len += n;
	} else {
		pthread_mutex_lock(&write_lock); /* after the batch being written, if any */
		if (defer_len) {
			write_all(defer_buf, defer_len);
			defer_len = 0;
		}
		write_all(line, n);
		pthread_mutex_unlock(&write_lock);
	}
	pthread_mutex_unlock(&defer_lock);
}

static void *defer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&defer_lock);
	while (!defer_stop) {
		if (!defer_len) {
			pthread_cond_wait(&defer_cond, &defer_lock);
			continue;
		}
		/* Let the batch gather; only the stop signals meanwhile. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += DEFER_DELAY_NS;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&defer_cond, &defer_lock, &ts);
		if (defer_len) {
			char *batch = defer_buf;
			size_t n = defer_len;
			defer_buf = defer_out;
			defer_out = batch;
			defer_len = 0;
			pthread_mutex_lock(&write_lock);
			pthread_mutex_unlock(&defer_lock);
			write_all(batch, n);
			pthread_mutex_unlock(&write_lock);
			pthread_mutex_lock(&defer_lock);
		}
	}
	pthread_mutex_unlock(&defer_lock);
	return NULL;
}

void log_async_start(void)
{
	static bool at_exit;
	pthread_mutex_lock(&defer_lock);
	if (!at_exit)
		at_exit = atexit(log_async_stop) == 0; /* an exit() without the server's stop */
	if (!defer_buf) {
		defer_buf = xmalloc(DEFER_CAP);
		defer_out = xmalloc(DEFER_CAP);
		defer_len = 0;
		defer_stop = false;
		if (pthread_create(&defer_thread, NULL, defer_main, NULL)) {
			free(defer_buf);
			free(defer_out);
			defer_buf = defer_out = NULL; /* every line is written at once, as before */
		}
	}
	pthread_mutex_unlock(&defer_lock);
}

void log_async_stop(void)
{
	pthread_mutex_lock(&defer_lock);
	if (!defer_buf) {
		pthread_mutex_unlock(&defer_lock);
		return;
	}
	defer_stop = true;
	pthread_cond_signal(&defer_cond);
	pthread_mutex_unlock(&defer_lock);
	pthread_join(defer_thread, NULL);
	pthread_mutex_lock(&defer_lock);
	pthread_mutex_lock(&write_lock);
	if (defer_len)
		write_all(defer_buf, defer_len);
	defer_len = 0;
	free(defer_buf);
	free(defer_out);
	defer_buf = defer_out = NULL;
	pthread_mutex_unlock(&write_lock);
	pthread_mutex_unlock(&defer_lock);
}

/* has_ids: the line already has request_id and trace_id of its own (no duplicates). */
static void end_line(struct strbuf *sb, bool has_ids, bool deferred)
{
	if (current_request_id && !has_ids)
		add_field(sb, "request_id", current_request_id, false);
	if (current_trace_id && !has_ids)
		add_field(sb, "trace_id", current_trace_id, false);
	if (log_format == LOG_FORMAT_JSON)
		sb_adds(sb, "}");
	sb_adds(sb, "\n");
	emit(sb->buf, sb->len, deferred);
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
		add_json_str(&sb, msg);
	} else {
		sb_adds(&sb, " msg=");
		add_value(&sb, msg, true);
	}
	end_line(&sb, false, false);
	sb_release(&sb);
}

static void vlog_fields(int level, bool deferred, const char *msg, va_list ap)
{
	struct strbuf sb = STRBUF_INIT;
	begin_line(&sb, level);
	add_field(&sb, "msg", msg, false);
	bool has_ids = false;
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		has_ids |= strcmp(k, "request_id") == 0 || strcmp(k, "trace_id") == 0;
		add_field(&sb, k, v ? v : "", false);
	}
	end_line(&sb, has_ids, deferred);
	sb_release(&sb);
}

void log_fields(int level, const char *msg, ...)
{
	if (level < log_min_level)
		return;
	va_list ap;
	va_start(ap, msg);
	vlog_fields(level, false, msg, ap);
	va_end(ap);
}

void log_fields_deferred(int level, const char *msg, ...)
{
	if (level < log_min_level)
		return;
	va_list ap;
	va_start(ap, msg);
	vlog_fields(level, true, msg, ap);
	va_end(ap);
}

/* ---- rate limits ---- */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* With l->lock held: ends the interval when it is over, summarising it. */
static void limit_roll(struct log_limit *l, uint64_t now)
{
	uint64_t len = (uint64_t)l->interval_s * 1000000000ull;
	if (l->window_ns && now - l->window_ns < len)
		return;
	if (l->suppressed)
		log_warn("suppressed %lu more '%s' line(s) in %us (at most %u lines per %us)",
			 l->suppressed, l->what, l->interval_s, l->burst, l->interval_s);
	l->window_ns = now;
	l->in_window = 0;
	l->suppressed = 0;
}

bool log_limit_allow(struct log_limit *l)
{
	pthread_mutex_lock(&l->lock);
	limit_roll(l, mono_ns());
	bool ok = l->in_window < l->burst;
	if (ok)
		l->in_window++;
	else
		l->suppressed++;
	pthread_mutex_unlock(&l->lock);
	return ok;
}

void log_limit_flush(struct log_limit *l, bool now)
{
	pthread_mutex_lock(&l->lock);
	if (l->suppressed && now)
		l->window_ns = 0; /* ends the interval */
	if (l->suppressed)
		limit_roll(l, mono_ns());
	pthread_mutex_unlock(&l->lock);
}
