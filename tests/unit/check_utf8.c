/* check_utf8.c: sandbox/utf8.c replaces, never drops, bad bytes. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox.h"

#define FFFD "\xEF\xBF\xBD"

static const struct {
	const char *in;
	size_t len;
	const char *want;
} cases[] = {
	{ "", 0, "" },
	{ "plain ascii\n\t", 13, "plain ascii\n\t" },
	{ "h\xC3\xA4st\xC3\xA4", 7, "h\xC3\xA4st\xC3\xA4" },			/* valid 2-byte */
	{ "\xE2\x82\xAC", 3, "\xE2\x82\xAC" },					/* euro sign */
	{ "\xF0\x9F\x98\x80", 4, "\xF0\x9F\x98\x80" },				/* 4-byte emoji */
	{ "a\0b", 3, "a" FFFD "b" },						/* NUL */
	{ "\x80", 1, FFFD },							/* lone continuation */
	{ "\xFF\xFE", 2, FFFD FFFD },						/* never valid */
	{ "\xC0\xAF", 2, FFFD FFFD },						/* overlong '/' */
	{ "\xE0\x80\xAF", 3, FFFD FFFD FFFD },					/* overlong 3-byte */
	{ "\xED\xA0\x80", 3, FFFD FFFD FFFD },					/* surrogate */
	{ "\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD },				/* > U+10FFFF */
	{ "\xE2\x82", 2, FFFD },						/* truncated at end */
	{ "\xE2\x82x", 3, FFFD "x" },						/* truncated mid */
	{ "\xF0\x9F\x98", 3, FFFD },						/* truncated 4-byte */
	{ "ok\xC3", 3, "ok" FFFD },
	{ "\xC3\x28", 2, FFFD "(" },
};

START_TEST(test_sanitize)
{
	size_t len = 12345;
	char *out = utf8_sanitize(cases[_i].in, cases[_i].len, &len);

	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, cases[_i].want);
	ck_assert_uint_eq(len, strlen(cases[_i].want));
	free(out);
}
END_TEST

/* Every byte value alone, and a pseudo-random stream: output is always
 * valid (re-sanitizing changes nothing) and never shorter in characters. */
START_TEST(test_idempotent)
{
	unsigned char buf[4096];
	unsigned x = 12345;
	size_t len, len2;
	char *once, *twice;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (unsigned char)(i < 256 ? i : x >> 16);
	}
	once = utf8_sanitize((const char *)buf, sizeof(buf), &len);
	ck_assert_ptr_nonnull(once);
	ck_assert_uint_eq(strlen(once), len);
	twice = utf8_sanitize(once, len, &len2);
	ck_assert_ptr_nonnull(twice);
	ck_assert_uint_eq(len, len2);
	ck_assert_mem_eq(once, twice, len);
	free(once);
	free(twice);
}
END_TEST

/* utf8_copy() into a small buffer: sanitized like utf8_sanitize() and cut
 * before a character that does not fit, never inside it. */
static const struct {
	const char *in;
	size_t outlen;
	const char *want;
} copies[] = {
	{ "abc", 4, "abc" },
	{ "abcd", 4, "abc" },
	{ "a\xC3\xA4", 3, "a" },				/* a 2-byte char does not fit */
	{ "a\xC3\xA4", 4, "a\xC3\xA4" },
	{ "\xE2\x82\xAC\xE2\x82\xAC", 6, "\xE2\x82\xAC" },	/* euro x2, room for 1.x */
	{ "\xF0\x9F\x98\x80", 4, "" },
	{ "x\xFFy", 5, "x" FFFD },				/* replacement counts as 3 */
	{ "x\xFFy", 6, "x" FFFD "y" },
	{ "\xC3", 8, FFFD },
};

START_TEST(test_copy)
{
	char out[16];
	size_t n;

	memset(out, 'Z', sizeof(out));
	n = utf8_copy(out, copies[_i].outlen, copies[_i].in, strlen(copies[_i].in));
	ck_assert_str_eq(out, copies[_i].want);
	ck_assert_uint_eq(n, strlen(copies[_i].want));
	ck_assert(utf8_valid(out, n));
}
END_TEST

START_TEST(test_valid)
{
	ck_assert(utf8_valid("h\xC3\xA4st", 5));
	ck_assert(utf8_valid("", 0));
	ck_assert(!utf8_valid("a\0b", 3));
	ck_assert(!utf8_valid("\xC3", 1));
	ck_assert(!utf8_valid("\xED\xA0\x80", 3));
}
END_TEST

static Suite *utf8_suite(void)
{
	Suite *s = suite_create("utf8");
	TCase *tc = tcase_create("sanitize");

	tcase_add_loop_test(tc, test_sanitize, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_idempotent);
	tcase_add_loop_test(tc, test_copy, 0, sizeof(copies) / sizeof(copies[0]));
	tcase_add_test(tc, test_valid);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(utf8_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
