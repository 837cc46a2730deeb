/* check_util.c: strict number parsing and whole-buffer I/O in common/util.c. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/* Two pipe ends cross a socket pair and arrive as the same files, close-
 * on-exec; a message with another count of fds is refused (EPROTO) and
 * leaves no fd behind. */
START_TEST(test_pass_fds)
{
	int sv[2], p[2], got[2], one[1];
	struct stat a, b;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(send_fds(sv[0], p, 2), 0);
	ck_assert_int_eq(recv_fds(sv[1], got, 2), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(fstat(p[i], &a), 0);
		ck_assert_int_eq(fstat(got[i], &b), 0);
		ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
		ck_assert_int_eq(fcntl(got[i], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	}
	ck_assert_int_eq(write_full(got[1], "x", 1), 0);
	ck_assert_int_eq(read_full(p[0], one, 1), 1);
	close(got[0]);
	close(got[1]);
	ck_assert_int_eq(send_fds(sv[0], p, 2), 0);
	errno = 0;
	ck_assert_int_eq(recv_fds(sv[1], one, 1), -1);
	ck_assert_int_eq(errno, EPROTO);
	ck_assert_int_eq(send_fds(sv[0], p, 0), -1);
	ck_assert_int_eq(send_fds(sv[0], p, FDS_PASS_MAX + 1), -1);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}
END_TEST

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_parse_size, 0, (int)(sizeof(size_cases) / sizeof(size_cases[0])));
	tcase_add_test(tc, test_parse_u64_range);
	tcase_add_test(tc, test_read_write_full);
	tcase_add_test(tc, test_pass_fds);
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
