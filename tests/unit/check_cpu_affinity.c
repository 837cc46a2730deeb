/* check_cpu_affinity.c: sandbox/cpu_affinity.c: --cpu values parsed
 * strictly, a CPU checked against the set this process may run on (as
 * taskset/CPUAffinity=/a cpuset leave it), and instance k's pick. */
#define _GNU_SOURCE
#include <check.h>
#include <sched.h>
#include <string.h>

#include "sandbox/sandbox.h"

static const struct {
	const char *in;
	int rc;
	int want;
} parses[] = {
	{ "0", 0, 0 }, { "3", 0, 3 }, { "none", 0, SANDBOX_CPU_NONE }, { "auto", 0, SANDBOX_CPU_AUTO },
	{ "", -1, 0 }, { "-1", -1, 0 }, { "1.0", -1, 0 }, { " 1", -1, 0 }, { "1 ", -1, 0 }, { "0x1", -1, 0 },
	{ "1024", -1, 0 }, { "99999999999999999999", -1, 0 }, { "None", -1, 0 }, { "all", -1, 0 },
};

START_TEST(test_parse)
{
	char err[256] = "";
	int cpu = -7, rc = cpu_affinity_parse(parses[_i].in, &cpu, err, sizeof(err));

	ck_assert_int_eq(rc, parses[_i].rc);
	if (rc == 0)
		ck_assert_int_eq(cpu, parses[_i].want);
	else
		ck_assert_msg(strstr(err, "not a CPU number") != NULL, "error '%s'", err);
}
END_TEST

/* Every allowed CPU passes; one outside the set fails naming the set. */
START_TEST(test_check_against_allowed_set)
{
	cpu_set_t set;
	char err[256];
	int outside = -1;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, &set))
			ck_assert_int_eq(cpu_affinity_check(c, err, sizeof(err)), 0);
		else if (outside < 0)
			outside = c;
	}
	ck_assert_int_ge(outside, 0);
	ck_assert_int_eq(cpu_affinity_check(outside, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "allowed:") != NULL && strstr(err, "CPUAffinity=") != NULL, "error '%s'", err);
}
END_TEST

/* Narrowed to one CPU (as taskset -c would), every other CPU is refused. */
START_TEST(test_check_narrowed)
{
	cpu_set_t saved, one;
	char err[256];
	int first = -1;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(saved), &saved), 0);
	for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
		if (CPU_ISSET(c, &saved))
			first = c;
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	ck_assert_int_eq(cpu_affinity_check(first, err, sizeof(err)), 0);
	ck_assert_int_eq(cpu_affinity_check(first + 1, err, sizeof(err)), -1);
	ck_assert_int_eq(cpu_affinity_pick(5, &first, err, sizeof(err)), 0);
	ck_assert(CPU_ISSET(first, &one));
	ck_assert_int_eq(sched_setaffinity(0, sizeof(saved), &saved), 0);
}
END_TEST

/* Instance k gets the (k mod n)-th allowed CPU: consecutive instances get
 * distinct CPUs while there are enough, and k + n wraps to k's. */
START_TEST(test_pick_wraps)
{
	cpu_set_t set;
	char err[256];
	int n, a, b, prev = -1;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	n = CPU_COUNT(&set);
	for (unsigned k = 0; k < (unsigned)n; k++) {
		ck_assert_int_eq(cpu_affinity_pick(k, &a, err, sizeof(err)), 0);
		ck_assert(CPU_ISSET(a, &set));
		ck_assert_int_gt(a, prev);
		prev = a;
		ck_assert_int_eq(cpu_affinity_pick(k + (unsigned)n, &b, err, sizeof(err)), 0);
		ck_assert_int_eq(a, b);
	}
}
END_TEST

START_TEST(test_current_is_allowed)
{
	char err[256];
	int cpu = -1;

	ck_assert_int_eq(cpu_affinity_current(&cpu, err, sizeof(err)), 0);
	ck_assert_int_eq(cpu_affinity_check(cpu, err, sizeof(err)), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cpu_affinity");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_parse, 0, (int)(sizeof(parses) / sizeof(parses[0])));
	tcase_add_test(tc, test_check_against_allowed_set);
	tcase_add_test(tc, test_check_narrowed);
	tcase_add_test(tc, test_pick_wraps);
	tcase_add_test(tc, test_current_is_allowed);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
