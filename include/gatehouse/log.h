/*
 * log.h - one line per event on stderr (journald picks it up), as logfmt
 * ("text") or one JSON object per line ("json"). Level-gated macros: the
 * arguments of a suppressed line are never formatted (Redis serverLog).
 *
 * Guarantees: every line is valid UTF-8 (a byte that is not part of a valid
 * UTF-8 sequence is written as the four characters \xHH, control
 * characters as \u00HH), every JSON line is one valid JSON object, and no
 * line spans two lines. When stderr is the journal (JOURNAL_STREAM names
 * stderr's device and inode, as systemd sets it), each line starts with its
 * syslog priority, "<3>" error, "<4>" warn, "<6>" info, "<7>" debug
 * (sd-daemon(3)), so journalctl -p filters by level.
 *
 * Never pass a token, secret, key or raw query string to these functions;
 * log a short hash (gh_fingerprint, digest.h) when a value must be correlated.
 */
#ifndef GATEHOUSE_LOG_H
#define GATEHOUSE_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

extern _Atomic int log_min_level;

/*
 * Sets the minimum level and output format; safe to call at run time. Also
 * decides whether lines carry journald priority prefixes (JOURNAL_STREAM).
 */
void log_configure(int level, int format);
/* Parses "debug", "info", "warn", "error"; -1 when unknown. */
int log_level_parse(const char *s);

/*
 * The request id attached to lines logged from this thread (NULL clears it).
 * The http layer sets it around each handler call.
 */
void log_set_request_id(const char *id);
/*
 * The W3C trace id (32 hex digits) of the request handled by this thread,
 * written as trace_id= on its lines (NULL clears it). Set alongside the
 * request id.
 */
void log_set_trace_id(const char *id);

void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Writes a structured line: msg plus key/value pairs given as alternating
 * const char * arguments, ending with NULL. Values are quoted as needed.
 * A key written as LOG_NUM("name") marks a number: its value (decimal text
 * such as "200" or "-1.250": no exponent, at most 15 digits before the
 * point and 9 after) is written
 * bare, in JSON as a JSON number; any other value ("-") is written as JSON
 * null (and as it is in text).
 */
void log_fields(int level, const char *msg, ...) __attribute__((sentinel));
#define LOG_NUM(key) "#" key
/*
 * The same line, which may be written a few milliseconds later (with others,
 * in one write) while log_async_start is in effect: the access log. Order
 * with every other line is kept; log_async_stop writes what is left.
 */
void log_fields_deferred(int level, const char *msg, ...) __attribute__((sentinel));
void log_async_start(void);
void log_async_stop(void);

/*
 * A rate limit for one kind of line that a client can cause (refused
 * connections, malformed requests): at most burst lines per interval; the
 * rest are counted, and one line per interval then says how many were
 * suppressed. Define with LOG_LIMIT_INIT; thread-safe.
 */
struct log_limit {
	pthread_mutex_t lock;
	unsigned interval_s, burst;
	const char *what;          /* "malformed request", for the summary line */
	uint64_t window_ns;        /* start of the current interval (monotonic) */
	unsigned in_window;        /* lines written in it */
	unsigned long suppressed;  /* lines suppressed since the last summary */
};
#define LOG_LIMIT_INIT(interval, burst_, what_)                               \
	{ PTHREAD_MUTEX_INITIALIZER, (interval), (burst_), (what_), 0, 0, 0 }

/*
 * True when a line of this kind may be written now; false counts it as
 * suppressed. Starting a new interval first writes the summary of the last.
 */
bool log_limit_allow(struct log_limit *l);
/*
 * Writes the summary line when an interval with suppressed lines is over,
 * or at once when now is true (at shutdown). Call it now and then, so the
 * count comes out after a flood stops.
 */
void log_limit_flush(struct log_limit *l, bool now);


#define LOG_AT(level, ...)                                                    \
	do {                                                                  \
		if ((level) >= log_min_level)                                 \
			log_write((level), __VA_ARGS__);                      \
	} while (0)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_error(...) LOG_AT(LOG_ERROR, __VA_ARGS__)

#endif
