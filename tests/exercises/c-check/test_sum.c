#include <check.h>
#include <stdlib.h>

#include "sum.h"

START_TEST(test_sum_empty)
{
	ck_assert_int_eq(sum(NULL, 0), 0);
}
END_TEST

START_TEST(test_sum_three)
{
	int v[] = { 1, 2, 3 };

	ck_assert_int_eq(sum(v, 3), 6);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sum");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_sum_empty);
	tcase_add_test(tc, test_sum_three);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_VERBOSE);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
