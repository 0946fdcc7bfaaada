/*
 * log.h - one line per event on stderr (journald picks it up), as logfmt
 * ("text") or one JSON object per line ("json"). Level-gated macros: the
 * arguments of a suppressed line are never formatted (Redis serverLog).
 *
 * Never pass a token, secret, key or raw query string to these functions;
 * log a short hash (gh_fingerprint, digest.h) when a value must be correlated.
 */
#ifndef GATEHOUSE_LOG_H
#define GATEHOUSE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

extern _Atomic int log_min_level;

/* Sets the minimum level and output format; safe to call at run time. */
void log_configure(int level, int format);
/* Parses "debug", "info", "warn", "error"; -1 when unknown. */
int log_level_parse(const char *s);

/*
 * The request id attached to lines logged from this thread (NULL clears it).
 * The http layer sets it around each handler call.
 */
void log_set_request_id(const char *id);

void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Writes a structured line: msg plus key/value pairs given as alternating
 * const char * arguments, ending with NULL. Values are quoted as needed.
 */
void log_fields(int level, const char *msg, ...) __attribute__((sentinel));


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
