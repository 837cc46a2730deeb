/* check_huge_pages.c: sandbox/huge_pages.c reads the host's switch for
 * tmpfs huge pages as the kernel does: the bracketed mode, and only [deny]
 * (or no switch at all) keeps huge= off the guest RAM tmpfs. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "sandbox/sandbox.h"

static const struct {
	const char *text;
	int allowed;
} cases[] = {
	{ "always within_size advise [never] deny force\n", 1 },
	{ "[always] within_size advise never deny force\n", 1 },
	{ "always within_size [advise] never deny force\n", 1 },
	{ "always within_size advise never deny [force]\n", 1 },
	{ "always within_size advise never [deny] force\n", 0 },
	/* Older kernels list fewer modes; the rule is the same. */
	{ "always within_size advise [never]\n", 1 },
	/* Unreadable or not the format: no huge=, a mount that cannot fail. */
	{ "", 0 },
	{ "deny\n", 0 },
};

START_TEST(test_switch)
{
	ck_assert_msg(huge_pages_allowed_by(cases[_i].text) == cases[_i].allowed, "\"%s\"",
	    cases[_i].text);
}
END_TEST

START_TEST(test_null)
{
	ck_assert_int_eq(huge_pages_allowed_by(NULL), 0);
}
END_TEST

/* This host's answer agrees with its switch, read here on its own. */
START_TEST(test_this_host)
{
	char text[256] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");

	if (f != NULL) {
		if (fgets(text, sizeof(text), f) == NULL)
			text[0] = '\0';
		fclose(f);
	}
	ck_assert_int_eq(huge_pages_usable(), f != NULL && strstr(text, "[deny]") == NULL &&
	    strchr(text, '[') != NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("huge_pages");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_switch, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_null);
	tcase_add_test(tc, test_this_host);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
