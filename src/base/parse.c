/*
 * parse.c - lists, durations and sizes as settings write them, and points in
 * time as operators write them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gatehouse/alloc.h"
#include "gatehouse/errors.h"
#include "gatehouse/parse.h"
#include "gatehouse/banned.h"

char **gh_list_split(const char *s, size_t *n)
{
	size_t count = 0, cap = 4;
	char **items = xmalloc(cap * sizeof *items);
	while (s && *s) {
		size_t len = strcspn(s, ",");
		const char *a = s, *b = s + len;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (b > a) {
			if (count + 1 == cap)
				items = xrealloc(items, (cap *= 2) * sizeof *items);
			items[count++] = xstrndup(a, (size_t)(b - a));
		}
		s += len + (s[len] == ',');
	}
	items[count] = NULL;
	if (n)
		*n = count;
	return items;
}

void gh_list_free(char **items)
{
	if (!items)
		return;
	for (char **p = items; *p; p++)
		free(*p);
	free(items);
}

static int parse_scaled(const char *s, int64_t *out, const char *const *units,
			const int64_t *scales, size_t nunits)
{
	/* Digits first: strtoll alone would skip white space and take a sign. */
	if (!s || *s < '0' || *s > '9')
		return GH_EINVAL;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return GH_EINVAL;
	int64_t scale = 1;
	if (*end) {
		size_t i;
		for (i = 0; i < nunits; i++)
			if (strcmp(end, units[i]) == 0)
				break;
		if (i == nunits)
			return GH_EINVAL;
		scale = scales[i];
	}
	if (v > INT64_MAX / scale)
		return GH_EINVAL;
	*out = (int64_t)v * scale;
	return 0;
}

int gh_parse_duration(const char *s, int64_t *out)
{
	static const char *const units[] = { "s", "m", "h", "d" };
	static const int64_t scales[] = { 1, 60, 3600, 86400 };
	return parse_scaled(s, out, units, scales, GH_ARRAY_SIZE(units));
}

int gh_parse_size(const char *s, int64_t *out)
{
	static const char *const units[] = { "B", "K", "KiB", "M", "MiB", "G", "GiB" };
	static const int64_t scales[] = { 1, 1024, 1024, 1048576, 1048576,
					  1073741824, 1073741824 };
	return parse_scaled(s, out, units, scales, GH_ARRAY_SIZE(units));
}

int gh_parse_rfc3339(const char *s, int64_t *out)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	int used = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
		return GH_EINVAL;
	const char *p = s + used;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	int64_t offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm, n = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != 5 || hh > 23 || mm > 59)
			return GH_EINVAL;
		offset = (hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return GH_EINVAL;
	}
	if (*p || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return GH_EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	struct tm want = tm, back;
	time_t t = timegm(&tm);
	/* timegm normalises 2030-02-31 to March: a date that moved did not exist. */
	if (!gmtime_r(&t, &back) || back.tm_year != want.tm_year || back.tm_mon != want.tm_mon ||
	    back.tm_mday != want.tm_mday || back.tm_hour != want.tm_hour ||
	    back.tm_min != want.tm_min)
		return GH_EINVAL;
	*out = (int64_t)t - offset;
	return 0;
}

int gh_parse_when(const char *s, int64_t *out)
{
	if (*s < '0' || *s > '9')
		return gh_parse_rfc3339(s, out);
	int64_t v = 0;
	for (const char *p = s; *p; p++) {
		/* 9999-12-31T23:59:59Z, the end of RFC 3339's years, is the last. */
		if (*p < '0' || *p > '9' || p - s >= 12)
			return gh_parse_rfc3339(s, out);
		v = v * 10 + (*p - '0');
	}
	if (v > 253402300799LL)
		return GH_EINVAL;
	*out = v;
	return 0;
}
