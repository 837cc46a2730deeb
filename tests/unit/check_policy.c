/* check_policy.c: the Scout policy format and its longest-prefix decisions (sandbox/policy.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/scout.h"

static const char *const bad_policies[] = {
	"allow ro usr\n",			/* relative */
	"allow ro /usr/\n",			/* trailing slash */
	"allow ro /usr//lib\n",			/* empty component */
	"allow ro /usr/./lib\n",		/* dot */
	"allow ro /usr/../etc\n",		/* dotdot */
	"allow rx /usr\n",			/* unknown class */
	"allow /usr\n",				/* missing class */
	"allow ro /usr extra\n",		/* trailing word */
	"deny\n",				/* missing path */
	"permit ro /usr\n",			/* unknown keyword */
	"allow ro /usr\nallow rw /usr\n",	/* duplicate prefix */
	"allow ro /a\r\n",			/* CR */
	"allow ro $TASKX\n",			/* not the variable */
	"allow ro /a\0b\n",			/* NUL (length below includes it) */
};

START_TEST(test_rejects)
{
	char err[256] = "";
	const char *text = bad_policies[_i];
	size_t len = strlen(text);
	struct policy *p;

	if (_i == (int)(sizeof(bad_policies) / sizeof(bad_policies[0])) - 1)
		len = 14;
	p = policy_parse(text, len, "/task", err, sizeof(err));
	ck_assert_msg(p == NULL, "accepted: %s", text);
	ck_assert_msg(strncmp(err, "line ", 5) == 0, "no line number in: %s", err);
}
END_TEST

static const struct {
	const char *path;
	enum policy_access a;
	enum policy_verdict want;
} decisions[] = {
	{ "/usr/lib/libc.so", POLICY_READ, POLICY_ALLOW },
	{ "/usr/lib/libc.so", POLICY_EXEC, POLICY_ALLOW },
	{ "/usr/lib/libc.so", POLICY_WRITE, POLICY_DENY },
	{ "/usr", POLICY_READ, POLICY_ALLOW },
	{ "/usrx", POLICY_READ, POLICY_DENY },		/* component boundary */
	{ "/etc/passwd", POLICY_READ, POLICY_ALLOW },
	{ "/etc/shadow", POLICY_READ, POLICY_DENY },	/* longer deny wins */
	{ "/etc/shadow-", POLICY_READ, POLICY_DENY },
	{ "/etc/shadowy", POLICY_READ, POLICY_ALLOW },
	{ "/task", POLICY_CREATE, POLICY_ALLOW },
	{ "/task/a/b.c", POLICY_WRITE, POLICY_ALLOW },
	{ "/taskx/a", POLICY_READ, POLICY_DENY },
	{ "/tmp/x", POLICY_CREATE, POLICY_ALLOW },
	{ "/dev/null", POLICY_WRITE, POLICY_ALLOW },
	{ "/dev/null", POLICY_EXEC, POLICY_DENY },	/* dev: read and write only */
	{ "/dev/null/x", POLICY_READ, POLICY_DENY },	/* dev: exactly the path */
	{ "/dev/ubda", POLICY_READ, POLICY_DENY },
	{ "/dev", POLICY_READ, POLICY_DENY },
	{ "/proc/self/maps", POLICY_READ, POLICY_ALLOW },
	{ "/proc/1/mem", POLICY_READ, POLICY_DENY },
	{ "/proc/self/mem", POLICY_WRITE, POLICY_DENY },
	{ "/root/.ssh/id_rsa", POLICY_READ, POLICY_DENY },
	{ "/", POLICY_READ, POLICY_DENY },
	{ "relative", POLICY_READ, POLICY_DENY },	/* not canonical: deny */
	{ "/usr/../etc/shadow", POLICY_READ, POLICY_DENY },
	{ "/usr//lib", POLICY_READ, POLICY_DENY },
};

START_TEST(test_default_decisions)
{
	char err[256];
	struct policy *p = policy_default("/task", err, sizeof(err));

	ck_assert_msg(p != NULL, "%s", err);
	ck_assert_msg(policy_check(p, decisions[_i].path, decisions[_i].a) == decisions[_i].want,
	    "%s %s", decisions[_i].path, policy_access_name(decisions[_i].a));
	policy_free(p);
}
END_TEST

START_TEST(test_root_rule_and_task_subdir)
{
	char err[256];
	const char *text = "# all readable\nallow ro /\n\tdeny   /secret  \nallow rw $TASK/out\n";
	struct policy *p = policy_parse(text, strlen(text), "/home/t", err, sizeof(err));

	ck_assert_msg(p != NULL, "%s", err);
	ck_assert_uint_eq(policy_rule_count(p), 3);
	ck_assert_int_eq(policy_check(p, "/anything", POLICY_READ), POLICY_ALLOW);
	ck_assert_int_eq(policy_check(p, "/secret/x", POLICY_READ), POLICY_DENY);
	ck_assert_int_eq(policy_check(p, "/home/t/out/a", POLICY_CREATE), POLICY_ALLOW);
	ck_assert_int_eq(policy_check(p, "/home/t/in", POLICY_CREATE), POLICY_DENY);
	policy_free(p);
}
END_TEST

START_TEST(test_task_needed)
{
	char err[256];

	ck_assert_ptr_null(policy_default(NULL, err, sizeof(err)));
	ck_assert_ptr_null(policy_default("relative/dir", err, sizeof(err)));
	ck_assert_ptr_null(policy_default("/trailing/", err, sizeof(err)));
}
END_TEST

/* sandbox/policy.default documents the built-in default: they must agree. */
START_TEST(test_default_file_matches)
{
	char buf[65536];
	FILE *f = fopen("sandbox/policy.default", "r");
	size_t n;

	ck_assert_msg(f != NULL, "run from the repository root");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	ck_assert_str_eq(buf, policy_default_text());
}
END_TEST

START_TEST(test_load_errors)
{
	char err[256];

	ck_assert_ptr_null(policy_load("/nonexistent/policy", "/t", err, sizeof(err)));
	ck_assert_ptr_null(policy_load("/", "/t", err, sizeof(err)));
}
END_TEST

START_TEST(test_too_many_rules)
{
	char err[256], *text = malloc(300 * 32), *p = text;
	struct policy *pol;

	for (int i = 0; i < 300; i++)
		p += sprintf(p, "allow ro /r%d\n", i);
	pol = policy_parse(text, strlen(text), "/t", err, sizeof(err));
	ck_assert_ptr_null(pol);
	free(text);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_rejects, 0, (int)(sizeof(bad_policies) / sizeof(bad_policies[0])));
	tcase_add_loop_test(tc, test_default_decisions, 0, (int)(sizeof(decisions) / sizeof(decisions[0])));
	tcase_add_test(tc, test_root_rule_and_task_subdir);
	tcase_add_test(tc, test_task_needed);
	tcase_add_test(tc, test_default_file_matches);
	tcase_add_test(tc, test_load_errors);
	tcase_add_test(tc, test_too_many_rules);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
