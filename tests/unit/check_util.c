/* check_util.c: strict number parsing and whole-buffer I/O in common/util.c. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"

static const struct {
	const char *in;
	uint64_t max;
	int rc;
	uint64_t want;
} size_cases[] = {
	{ "0", 100, 0, 0 },
	{ "512", 1024, 0, 512 },
	{ "64K", UINT64_MAX, 0, 64ULL << 10 },
	{ "256M", UINT64_MAX, 0, 256ULL << 20 },
	{ "2g", UINT64_MAX, 0, 2ULL << 30 },
	{ "", 100, -1, 0 },
	{ "-1", 100, -1, 0 },
	{ " 5", 100, -1, 0 },
	{ "5 ", 100, -1, 0 },
	{ "12x", 100, -1, 0 },
	{ "M", UINT64_MAX, -1, 0 },
	{ "101", 100, -1, 0 },
	{ "18446744073709551616", UINT64_MAX, -1, 0 },
	{ "17179869184G", UINT64_MAX, -1, 0 },
};

START_TEST(test_parse_size)
{
	uint64_t v = 12345;
	int rc = parse_size(size_cases[_i].in, size_cases[_i].max, &v);

	ck_assert_int_eq(rc, size_cases[_i].rc);
	if (rc == 0)
		ck_assert_uint_eq(v, size_cases[_i].want);
	else
		ck_assert_uint_eq(v, 12345);
}
END_TEST

START_TEST(test_parse_u64_range)
{
	uint64_t v;

	ck_assert_int_eq(parse_u64("7", 8, 10, &v), -1);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(parse_u64("9", 8, 10, &v), 0);
	ck_assert_uint_eq(v, 9);
	ck_assert_int_eq(parse_u64("+9", 0, 10, &v), -1);
	ck_assert_int_eq(parse_u64(NULL, 0, 10, &v), -1);
}
END_TEST

START_TEST(test_read_write_full)
{
	int p[2];
	char out[5] = { 0 };

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write_full(p[1], "hello", 5), 0);
	close(p[1]);
	ck_assert_int_eq(read_full(p[0], out, sizeof(out)), 5);
	ck_assert_mem_eq(out, "hello", 5);
	ck_assert_int_eq(read_full(p[0], out, sizeof(out)), 0);
	close(p[0]);
}
END_TEST

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_parse_size, 0, (int)(sizeof(size_cases) / sizeof(size_cases[0])));
	tcase_add_test(tc, test_parse_u64_range);
	tcase_add_test(tc, test_read_write_full);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
