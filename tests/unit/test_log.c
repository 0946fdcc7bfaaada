/*
 * test_log.c - log lines (src/log.c): escaping of bytes that are not
 * UTF-8, numbers in JSON, journald priority prefixes, and rate limits.
 * stderr is a memory file here, read back after each line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/log.c"
#include "harness.h"

static int out_fd = -1, saved_fd = -1;
static char out[8192];

/* Starts capturing stderr. */
static void capture(void)
{
	if (out_fd < 0)
		out_fd = memfd_create("test-log", 0);
	if (saved_fd < 0)
		saved_fd = dup(STDERR_FILENO);
	if (ftruncate(out_fd, 0) != 0 || lseek(out_fd, 0, SEEK_SET) != 0)
		abort();
	dup2(out_fd, STDERR_FILENO);
}

/* Stops capturing; returns what was written, without the timestamp's variable part. */
static const char *captured(void)
{
	dup2(saved_fd, STDERR_FILENO);
	off_t n = lseek(out_fd, 0, SEEK_CUR);
	if (n < 0 || n >= (off_t)sizeof out || pread(out_fd, out, (size_t)n, 0) != n)
		abort();
	out[n] = '\0';
	return out;
}

/* The line after its "ts" field (text or JSON). */
static const char *after_ts(const char *line)
{
	const char *p = strstr(line, "level");
	return p ? p : line;
}

TEST(invalid_utf8_is_escaped_json)
{
	log_configure(LOG_DEBUG, LOG_FORMAT_JSON);
	capture();
	log_fields(LOG_INFO, "access", "method", "GET\xc3\x28", "path", "/\xed\xa0\x80\xf4\x90\x80\x80",
		   "ok", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "ctl", "a\x1b\x7f\xc2\x85\"\\", NULL);
	const char *l = after_ts(captured());
	CHECK_STR(l, "level\":\"info\",\"msg\":\"access\",\"method\":\"GET\\\\xc3(\","
		     "\"path\":\"/\\\\xed\\\\xa0\\\\x80\\\\xf4\\\\x90\\\\x80\\\\x80\","
		     "\"ok\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
		     "\"ctl\":\"a\\u001b\\u007f\\u0085\\\"\\\\\"}\n");
	/* A truncated sequence at the end. */
	capture();
	log_fields(LOG_INFO, "m", "v", "ab\xe2\x82", NULL);
	CHECK(strstr(captured(), "\"v\":\"ab\\\\xe2\\\\x82\"}") != NULL);
}

TEST(invalid_utf8_is_escaped_text)
{
	log_configure(LOG_DEBUG, LOG_FORMAT_TEXT);
	capture();
	log_fields(LOG_INFO, "access", "method", "GET\xc3\x28", "plain", "a-b", NULL);
	CHECK_STR(after_ts(captured()), "level=info msg=access method=\"GET\\\\xc3(\" plain=a-b\n");
	capture();
	log_write(LOG_WARN, "bad \xff byte\nand a newline");
	CHECK_STR(after_ts(captured()), "level=warn msg=\"bad \\\\xff byte and a newline\"\n");
}

TEST(numbers)
{
	log_configure(LOG_DEBUG, LOG_FORMAT_JSON);
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "200", "200" }, { "0", "0" }, { "-1.250", "-1.250" }, { "1.5", "1.5" },
		{ "-", "null" }, { "", "null" }, { "01", "null" }, { "1e3", "null" },
		{ "1.", "null" }, { ".5", "null" }, { "1234567890123456", "null" },
		{ "123456789012345", "123456789012345" }, { "1.1234567890", "null" },
		{ "NaN", "null" }, { "2x", "null" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		capture();
		log_fields(LOG_INFO, "m", LOG_NUM("n"), cases[i].in, NULL);
		char want[64];
		snprintf(want, sizeof want, "\"n\":%s}\n", cases[i].out);
		const char *got = captured();
		if (!strstr(got, want))
			fprintf(stderr, "number '%s': %s", cases[i].in, got);
		CHECK(strstr(got, want) != NULL);
	}
	/* Text: as given. */
	log_configure(LOG_DEBUG, LOG_FORMAT_TEXT);
	capture();
	log_fields(LOG_INFO, "m", LOG_NUM("status"), "404", NULL);
	CHECK_STR(after_ts(captured()), "level=info msg=m status=404\n");
}

TEST(request_and_trace_ids_once)
{
	log_configure(LOG_DEBUG, LOG_FORMAT_JSON);
	log_set_request_id("r-1");
	log_set_trace_id("4bf92f3577b34da6a3ce929d0e0e4736");
	capture();
	log_write(LOG_INFO, "hello");
	CHECK(strstr(captured(), "\"request_id\":\"r-1\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}") != NULL);
	capture();
	log_fields(LOG_INFO, "access", "request_id", "r-2", NULL);
	const char *l = captured();
	CHECK(strstr(l, "r-1") == NULL);
	CHECK(strstr(l, "\"request_id\":\"r-2\"}") != NULL);
	log_set_request_id(NULL);
	log_set_trace_id(NULL);
}

TEST(journal_prefix)
{
	struct stat st;
	/* JOURNAL_STREAM must name stderr: here the memory file. */
	capture();
	CHECK(fstat(STDERR_FILENO, &st) == 0);
	char js[64];
	snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_configure(LOG_DEBUG, LOG_FORMAT_TEXT);
	log_error("e");
	log_warn("w");
	log_info("i");
	log_debug("d");
	const char *l = captured();
	CHECK(strncmp(l, "<3>ts=", 6) == 0);
	CHECK(strstr(l, "\n<4>ts=") != NULL);
	CHECK(strstr(l, "\n<6>ts=") != NULL);
	CHECK(strstr(l, "\n<7>ts=") != NULL);
	/* Another file: no prefix. */
	snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", js, 1);
	capture();
	log_configure(LOG_DEBUG, LOG_FORMAT_JSON);
	log_error("e");
	CHECK(strncmp(captured(), "{\"ts\"", 5) == 0);
	unsetenv("JOURNAL_STREAM");
	log_configure(LOG_DEBUG, LOG_FORMAT_TEXT);
}

TEST(rate_limit)
{
	static struct log_limit l = LOG_LIMIT_INIT(3600, 2, "test line");
	log_configure(LOG_DEBUG, LOG_FORMAT_TEXT);
	int allowed = 0;
	for (int i = 0; i < 7; i++)
		allowed += log_limit_allow(&l);
	CHECK_INT(allowed, 2);
	capture();
	log_limit_flush(&l, false); /* the hour is not over */
	CHECK_STR(captured(), "");
	capture();
	log_limit_flush(&l, true);
	CHECK(strstr(captured(), "suppressed 5 more 'test line' line(s)") != NULL);
	/* A new interval: allowed again, nothing pending. */
	CHECK(log_limit_allow(&l));
	capture();
	log_limit_flush(&l, true);
	CHECK_STR(captured(), "");
}

int main(void)
{
	RUN(invalid_utf8_is_escaped_json);
	RUN(invalid_utf8_is_escaped_text);
	RUN(numbers);
	RUN(request_and_trace_ids_once);
	RUN(journal_prefix);
	RUN(rate_limit);
	return REPORT();
}
