/*
 * jsoncheck.c - a quick acceptance check of JSON text (jsoncheck.h).
 *
 * Every "true" must be a text jansson accepts with JSON_DECODE_ANY |
 * JSON_REJECT_DUPLICATES, so each rule below declines what it cannot vouch
 * for: a \u escape (jansson rejects \u0000 and lone surrogates), any byte
 * below 0x20 in a string, an integer of more than 18 digits (jansson
 * refuses one beyond long long), an exponent (1e999 overflows a double,
 * which jansson refuses), a fraction of more than 300 digits in all, a
 * member name with an escape (duplicates are compared decoded), and
 * objects too large to compare their names pairwise. Recursion is bounded
 * by JSONCHECK_MAX_DEPTH; the frames hold JSONCHECK_MAX_MEMBERS names.
 */
#include <stdlib.h>
#include <string.h>

#include "gatehouse/jsoncheck.h"
#include "gatehouse/encoding.h"

struct scan {
	const unsigned char *p, *end;
	int depth;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/*
 * A string, s->p at its opening quote: true with its raw bytes (between the
 * quotes) in *start and *len, and *escaped when it holds an escape.
 */
static bool scan_string(struct scan *s, const unsigned char **start, size_t *len, bool *escaped)
{
	const unsigned char *p = ++s->p;
	bool high = false;
	*escaped = false;
	while (p < s->end && *p != '"') {
		unsigned char c = *p;
		if (c < 0x20)
			return false;
		if (c >= 0x80) {
			high = true;
		} else if (c == '\\') {
			if (p + 1 >= s->end || !p[1] || !strchr("\"\\/bfnrt", p[1]))
				return false; /* \u, or not an escape */
			*escaped = true;
			p++;
		}
		p++;
	}
	if (p >= s->end)
		return false;
	*start = s->p;
	*len = (size_t)(p - s->p);
	if (high && !gh_utf8_valid((const char *)*start, *len))
		return false;
	s->p = p + 1;
	return true;
}

static bool digits(struct scan *s, size_t *n)
{
	const unsigned char *from = s->p;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	*n = (size_t)(s->p - from);
	return *n > 0;
}

static bool scan_number(struct scan *s)
{
	if (*s->p == '-')
		s->p++;
	size_t int_digits, frac_digits = 0;
	const unsigned char *first = s->p;
	if (!digits(s, &int_digits) || (*first == '0' && int_digits > 1))
		return false;
	bool fraction = s->p < s->end && *s->p == '.';
	if (fraction) {
		s->p++;
		if (!digits(s, &frac_digits))
			return false;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
		return false; /* an exponent: for jansson to judge */
	return fraction ? int_digits + frac_digits <= 300 : int_digits <= 18;
}

static bool scan_literal(struct scan *s, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n))
		return false;
	s->p += n;
	return true;
}

static bool scan_value(struct scan *s);

/* An object's member names so far, to refuse a duplicate (compared raw: no escapes). */
struct names {
	struct {
		const unsigned char *name;
		size_t len;
	} at[JSONCHECK_MAX_MEMBERS];
	size_t n;
};

/*
 * The member name at s->p (a string without escapes) read and added to
 * seen: false when it is not one, is a duplicate, or there are too many.
 */
static bool member_name(struct scan *s, struct names *seen)
{
	const unsigned char *name;
	size_t len;
	bool escaped;
	if (s->p >= s->end || *s->p != '"' || seen->n == JSONCHECK_MAX_MEMBERS ||
	    !scan_string(s, &name, &len, &escaped) || escaped)
		return false;
	for (size_t i = 0; i < seen->n; i++)
		if (seen->at[i].len == len && !memcmp(seen->at[i].name, name, len))
			return false; /* a duplicate: jansson refuses it */
	seen->at[seen->n].name = name;
	seen->at[seen->n++].len = len;
	return true;
}

static bool scan_object(struct scan *s)
{
	struct names seen;
	seen.n = 0;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return true;
	}
	for (;;) {
		if (!member_name(s, &seen))
			return false;
		skip_ws(s);
		if (s->p >= s->end || *s->p++ != ':')
			return false;
		if (!scan_value(s))
			return false;
		skip_ws(s);
		if (s->p >= s->end)
			return false;
		if (*s->p == '}') {
			s->p++;
			return true;
		}
		if (*s->p++ != ',')
			return false;
		skip_ws(s);
	}
}

static bool scan_array(struct scan *s)
{
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return true;
	}
	for (;;) {
		if (!scan_value(s))
			return false;
		skip_ws(s);
		if (s->p >= s->end)
			return false;
		if (*s->p == ']') {
			s->p++;
			return true;
		}
		if (*s->p++ != ',')
			return false;
	}
}

/* One value, after any whitespace before it. */
static bool scan_value(struct scan *s)
{
	skip_ws(s);
	if (s->p >= s->end)
		return false;
	const unsigned char *start;
	size_t len;
	bool escaped, ok;
	switch (*s->p) {
	case '{':
	case '[':
		if (++s->depth > JSONCHECK_MAX_DEPTH)
			return false;
		ok = *s->p == '{' ? scan_object(s) : scan_array(s);
		s->depth--;
		return ok;
	case '"':
		return scan_string(s, &start, &len, &escaped);
	case 't':
		return scan_literal(s, "true");
	case 'f':
		return scan_literal(s, "false");
	case 'n':
		return scan_literal(s, "null");
	default:
		return (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) && scan_number(s);
	}
}

bool json_check_plain(const char *p, size_t n)
{
	struct scan s = { (const unsigned char *)p, (const unsigned char *)p + n, 0 };
	if (!scan_value(&s))
		return false;
	skip_ws(&s);
	return s.p == s.end;
}

/* A string value's bytes (raw, between the quotes) with its escapes decoded. */
static json_t *decoded_string(const unsigned char *raw, size_t len, bool escaped)
{
	if (!escaped)
		return json_stringn_nocheck((const char *)raw, len);
	char *out = malloc(len ? len : 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = (char)raw[i];
		if (c == '\\') {
			/* scan_string let only these through */
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			c = to[strchr(from, raw[++i]) - from];
		}
		out[o++] = c;
	}
	json_t *v = json_stringn_nocheck(out, o);
	free(out);
	return v;
}

/* A value of a flat object, s->p at it: NULL when it is not one json_load_flat takes. */
static json_t *flat_value(struct scan *s)
{
	const unsigned char *start = s->p, *raw;
	size_t len;
	bool escaped;
	switch (*s->p) {
	case '"':
		return scan_string(s, &raw, &len, &escaped) ? decoded_string(raw, len, escaped) : NULL;
	case 't':
		return scan_literal(s, "true") ? json_true() : NULL;
	case 'f':
		return scan_literal(s, "false") ? json_false() : NULL;
	case 'n':
		return scan_literal(s, "null") ? json_null() : NULL;
	default:
		if (!(*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) || !scan_number(s))
			return NULL;
		char digits_buf[24];
		size_t n = (size_t)(s->p - start);
		/* scan_number passed: an integer of <= 18 digits, or a fraction (declined) */
		if (n >= sizeof digits_buf || memchr(start, '.', n))
			return NULL;
		memcpy(digits_buf, start, n);
		digits_buf[n] = '\0';
		return json_integer(strtoll(digits_buf, NULL, 10));
	}
}

json_t *json_load_flat(const char *p, size_t n)
{
	struct scan s = { (const unsigned char *)p, (const unsigned char *)p + n, 0 };
	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return NULL;
	s.p++;
	json_t *obj = json_object();
	if (!obj)
		return NULL;
	struct names seen;
	seen.n = 0;
	skip_ws(&s);
	if (s.p < s.end && *s.p == '}') {
		s.p++;
		goto end;
	}
	for (;;) {
		if (!member_name(&s, &seen))
			goto decline;
		const unsigned char *name = seen.at[seen.n - 1].name;
		size_t len = seen.at[seen.n - 1].len;
		skip_ws(&s);
		if (s.p >= s.end || *s.p++ != ':')
			goto decline;
		skip_ws(&s);
		if (s.p >= s.end)
			goto decline;
		json_t *v = flat_value(&s);
		if (!v || json_object_setn_new_nocheck(obj, (const char *)name, len, v))
			goto decline;
		skip_ws(&s);
		if (s.p >= s.end)
			goto decline;
		if (*s.p == '}') {
			s.p++;
			break;
		}
		if (*s.p++ != ',')
			goto decline;
		skip_ws(&s);
	}
end:
	skip_ws(&s);
	if (s.p == s.end)
		return obj;
decline:
	json_decref(obj);
	return NULL;
}
