/*
 * clock.h - wall and monotonic clocks, and RFC 3339 formatting.
 */
#ifndef GATEHOUSE_CLOCK_H
#define GATEHOUSE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock in whole seconds (what JWT claims use). */
int64_t gh_now(void);
/* Wall clock in milliseconds. */
int64_t gh_now_ms(void);
/* Monotonic clock in nanoseconds, for durations. */
uint64_t gh_mono_ns(void);
/* Formats unix seconds as RFC 3339 UTC ("2026-11-24T13:21:20Z"); buf >= 21. */
void gh_format_time(int64_t t, char *buf, size_t len);

#endif
