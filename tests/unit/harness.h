/*
 * harness.h - a tiny unit-test harness (after Redis testhelp.h and h2o's
 * picotest). CHECK records file:line and carries on; main runs a table of
 * tests and prints "N passed, N failed" as its last line; the exit status
 * is non-zero on any failure.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_STR(s, "a"); }
 *   int main(void) { RUN(name); return REPORT(); }
 */
#ifndef GATEHOUSE_TEST_HARNESS_H
#define GATEHOUSE_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_checks_failed;
static int harness_tests_passed, harness_tests_failed;

#define TEST(name) static void test_##name(void)

#define CHECK(expr)                                                           \
	do {                                                                  \
		if (!(expr)) {                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #expr);                             \
			harness_checks_failed++;                              \
		}                                                             \
	} while (0)

#define CHECK_INT(a, b)                                                       \
	do {                                                                  \
		long long ha_ = (long long)(a), hb_ = (long long)(b);         \
		if (ha_ != hb_) {                                             \
			fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n",  \
				__FILE__, __LINE__, #a, ha_, hb_);            \
			harness_checks_failed++;                              \
		}                                                             \
	} while (0)

#define CHECK_STR(a, b)                                                       \
	do {                                                                  \
		const char *ha_ = (a), *hb_ = (b);                            \
		if (!ha_ || !hb_ || strcmp(ha_, hb_) != 0) {                  \
			fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", \
				__FILE__, __LINE__, #a, ha_ ? ha_ : "(null)",  \
				hb_ ? hb_ : "(null)");                        \
			harness_checks_failed++;                              \
		}                                                             \
	} while (0)

#define RUN(name)                                                             \
	do {                                                                  \
		int before_ = harness_checks_failed;                          \
		test_##name();                                                \
		if (harness_checks_failed == before_) {                       \
			harness_tests_passed++;                               \
		} else {                                                      \
			harness_tests_failed++;                               \
			fprintf(stderr, "FAIL %s\n", #name);                  \
		}                                                             \
	} while (0)

#define REPORT()                                                              \
	(printf("%d passed, %d failed\n", harness_tests_passed,               \
		harness_tests_failed),                                        \
	 harness_tests_failed ? 1 : 0)

#endif
