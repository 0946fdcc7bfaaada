/*
 * parse.c - lists, durations and sizes as settings write them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
