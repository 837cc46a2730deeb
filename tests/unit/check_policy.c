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
	{ "/proc/self/mem", POLICY_READ, POLICY_DENY },
	{ "/proc/self/pagemap", POLICY_READ, POLICY_DENY },	/* physical frames */
	{ "/proc/self/stack", POLICY_READ, POLICY_DENY },	/* the kernel's side */
	{ "/proc/self/syscall", POLICY_READ, POLICY_DENY },
	{ "/proc/self/wchan", POLICY_READ, POLICY_DENY },
	{ "/proc/self/stack/x", POLICY_READ, POLICY_DENY },
	{ "/proc/self/stacks", POLICY_READ, POLICY_ALLOW },	/* component boundary */
	{ "/proc/self/status", POLICY_READ, POLICY_ALLOW },
	{ "/proc/self/task", POLICY_READ, POLICY_ALLOW },
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

/* Scopes under the default policy: the verdict holds at and below it. */
static const struct {
	const char *path;
	enum policy_access a;
	enum policy_verdict want;
	const char *scope;	/* NULL: that path alone */
} scopes[] = {
	{ "/usr/include/stdio.h", POLICY_READ, POLICY_ALLOW, "/usr" },
	{ "/usr", POLICY_EXEC, POLICY_ALLOW, "/usr" },
	{ "/usr/bin/x", POLICY_CREATE, POLICY_DENY, "/usr" },
	{ "/etc/passwd", POLICY_READ, POLICY_ALLOW, "/etc/passwd" },	/* deny rules in /etc */
	{ "/etc", POLICY_READ, POLICY_ALLOW, NULL },
	{ "/etc/ssh/sshd_config", POLICY_READ, POLICY_DENY, "/etc/ssh" },
	{ "/task/a/b", POLICY_WRITE, POLICY_ALLOW, "/task" },
	{ "/dev/null", POLICY_WRITE, POLICY_ALLOW, NULL },		/* dev: exactly */
	{ "/dev/null/x", POLICY_READ, POLICY_DENY, "/dev/null/x" },
	{ "/dev/ubda", POLICY_READ, POLICY_DENY, "/dev/ubda" },
	{ "/var/lib/x", POLICY_READ, POLICY_DENY, "/var" },		/* no rule: denied */
	{ "/usrx/y", POLICY_READ, POLICY_DENY, "/usrx" },
	{ "/", POLICY_READ, POLICY_DENY, NULL },
	{ "/proc/1/mem", POLICY_READ, POLICY_DENY, "/proc/1" },
	{ "/proc/self/maps", POLICY_READ, POLICY_ALLOW, "/proc/self/maps" },	/* deny rules in it */
	{ "/proc/self", POLICY_READ, POLICY_ALLOW, NULL },
	{ "/proc/self/pagemap", POLICY_READ, POLICY_DENY, "/proc/self/pagemap" },
	{ "/sys/fs/cgroup/cpu.max", POLICY_READ, POLICY_ALLOW, "/sys/fs/cgroup" },
	{ "relative", POLICY_READ, POLICY_DENY, NULL },
};

START_TEST(test_default_scopes)
{
	char err[256];
	struct policy *p = policy_default("/task", err, sizeof(err));
	size_t scope = 99, want = scopes[_i].scope != NULL ? strlen(scopes[_i].scope) : 0;

	ck_assert_msg(p != NULL, "%s", err);
	ck_assert_int_eq(policy_check_scope(p, scopes[_i].path, scopes[_i].a, &scope), scopes[_i].want);
	ck_assert_msg(scope == want, "%s: scope %zu, want %zu", scopes[_i].path, scope, want);
	if (scopes[_i].scope != NULL)
		ck_assert(strncmp(scopes[_i].path, scopes[_i].scope, want) == 0);
	policy_free(p);
}
END_TEST

/* For every pair of sample paths: when Q lies at or below P's scope, Q
 * gets P's verdict (the promise the guest's scope cache relies on). */
START_TEST(test_scope_promise)
{
	static const char *const texts[] = {
		NULL,	/* the default */
		"allow ro /\ndeny /secret\nallow rw $TASK/out\nallow dev /secret/tty\n",
		"allow rw /a\nallow ro /a/b/c\ndeny /a/b/c/d\nallow dev /a/x\n",
	};
	static const char *const paths[] = {
		"/", "/a", "/a/b", "/a/b/c", "/a/b/c/d", "/a/b/c/d/e", "/a/b/cc", "/a/x", "/a/x/y",
		"/secret", "/secret/tty", "/secret/tty/z", "/secret/k", "/home/t/out", "/home/t/out/f",
		"/home/t", "/usr", "/usr/lib/x", "/etc", "/etc/shadow", "/etc/shadow-", "/etc/ssh/k",
		"/task", "/task/f", "/dev/null", "/dev/null/x", "/dev", "/proc/self/fd", "/proc/1",
		"/proc/self", "/proc/self/maps", "/proc/self/pagemap", "/proc/self/stack/x",
		"/var/x/y",
	};
	char err[256];
	const char *text = texts[_i];
	struct policy *p = text == NULL ? policy_default("/home/t", err, sizeof(err)) :
	    policy_parse(text, strlen(text), "/home/t", err, sizeof(err));
	size_t n = sizeof(paths) / sizeof(paths[0]);

	ck_assert_msg(p != NULL, "%s", err);
	for (int a = 1; a <= POLICY_ACCESS_MAX; a++) {
		for (size_t i = 0; i < n; i++) {
			size_t scope;
			enum policy_verdict v = policy_check_scope(p, paths[i], (enum policy_access)a, &scope);

			ck_assert_int_eq(v, policy_check(p, paths[i], (enum policy_access)a));
			if (scope == 0)
				continue;
			ck_assert(scope == 1 || paths[i][scope] == '\0' || paths[i][scope] == '/');
			for (size_t j = 0; j < n; j++) {
				const char *q = paths[j];

				if (strncmp(q, paths[i], scope) != 0 ||
				    (scope > 1 && q[scope] != '\0' && q[scope] != '/'))
					continue;
				ck_assert_msg(policy_check(p, q, (enum policy_access)a) == v,
				    "policy %d: %s covered by the scope of %s (%zu) but decided otherwise",
				    (int)_i, q, paths[i], scope);
			}
		}
	}
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
	tcase_add_loop_test(tc, test_default_scopes, 0, (int)(sizeof(scopes) / sizeof(scopes[0])));
	tcase_add_loop_test(tc, test_scope_promise, 0, 3);
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
