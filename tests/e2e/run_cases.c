/*
 * run_cases.c: the generic end-to-end runner. Each directory under
 * tests/cases/ is one case: case.json names the task (an exercise under
 * tests/exercises/, or the case's own task/ dir), the sandbox-run arguments
 * and the expected result fields. Every case boots the real UML guest
 * through the real `sandbox-run`; after each, no process of that run may be
 * left on the host.
 *
 * Expectation keys: status, status_in, reason, exit_code (null = absent),
 * contains / not_contains / equals {field: text}, truncated [files],
 * max_length {field: bytes}.
 *
 *   run_cases BUILD_DIR CASES_DIR EXERCISES_DIR [CASE...]
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

#define MAX_CASES 256
#define MAX_RESULT (64u << 20)

static const char *build_dir, *cases_dir, *exercises_dir;
static char *case_names[MAX_CASES];
static int case_count;

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect_cases(int argc, char **argv)
{
	DIR *dir;
	struct dirent *de;

	if (argc > 0) {
		for (int i = 0; i < argc && case_count < MAX_CASES; i++)
			case_names[case_count++] = argv[i];
		return;
	}
	dir = opendir(cases_dir);
	if (dir == NULL) {
		perror(cases_dir);
		exit(2);
	}
	while ((de = readdir(dir)) != NULL && case_count < MAX_CASES) {
		char path[PATH_MAX];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/case.json", cases_dir, de->d_name);
		if (stat(path, &st) == 0)
			case_names[case_count++] = strdup(de->d_name);
	}
	closedir(dir);
	qsort(case_names, (size_t)case_count, sizeof(case_names[0]), cmp_names);
}

/* Runs sandbox-run and returns its stdout (capped), or NULL. */
static char *run_sandbox(json_t *args, const char *task, const char *work_root, int *exit_status)
{
	int out[2];
	char **argv;
	size_t nargs = json_array_size(args), len = 0, cap = 1 << 20;
	char *buf = malloc(cap + 1);
	char kernel_dir[PATH_MAX], prog[PATH_MAX];
	pid_t pid;
	int ws;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	snprintf(prog, sizeof(prog), "%s/sandbox-run", build_dir);
	snprintf(kernel_dir, sizeof(kernel_dir), "%s", build_dir);
	argv = calloc(nargs + 8, sizeof(*argv));
	ck_assert_ptr_nonnull(argv);
	size_t n = 0;
	argv[n++] = prog;
	argv[n++] = "--images";
	argv[n++] = kernel_dir;
	argv[n++] = "--work-root";
	argv[n++] = (char *)work_root;
	for (size_t i = 0; i < nargs; i++)
		argv[n++] = (char *)json_string_value(json_array_get(args, i));
	argv[n++] = (char *)task;
	argv[n] = NULL;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out[1], 1);
		execv(prog, argv);
		perror(prog);
		_exit(127);
	}
	close(out[1]);
	for (;;) {
		ssize_t r;
		if (len == cap) {
			if (cap >= MAX_RESULT)
				break;
			cap *= 2;
			buf = realloc(buf, cap + 1);
			ck_assert_ptr_nonnull(buf);
		}
		r = read(out[0], buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(out[0]);
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	*exit_status = ws;
	free(argv);
	buf[len] = '\0';
	return buf;
}

/* Counts host processes whose command line mentions this run's work root:
 * the UML kernel and every process it forked carry it in argv. */
static int processes_of_run(const char *work_root)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	int count = 0;

	ck_assert_ptr_nonnull(proc);
	while ((de = readdir(proc)) != NULL) {
		char path[300], cmd[8192];
		ssize_t n;
		int fd;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
		if (n <= 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (cmd[i] == '\0')
				cmd[i] = ' ';
		cmd[n] = '\0';
		if (strstr(cmd, work_root) != NULL)
			count++;
	}
	closedir(proc);
	return count;
}

static const char *field_text(json_t *result, const char *key)
{
	json_t *v = json_object_get(result, key);

	ck_assert_msg(json_is_string(v), "result field '%s' missing or not a string", key);
	return json_string_value(v);
}

static void check_expectations(const char *name, json_t *result, json_t *expect)
{
	const char *key;
	json_t *value;

	value = json_object_get(expect, "status");
	if (value != NULL)
		ck_assert_msg(strcmp(field_text(result, "status"), json_string_value(value)) == 0,
		    "%s: status '%s', expected '%s' (reason %s)", name, field_text(result, "status"),
		    json_string_value(value), json_string_value(json_object_get(result, "reason")));
	value = json_object_get(expect, "status_in");
	if (value != NULL) {
		size_t i;
		json_t *s;
		int found = 0;
		json_array_foreach(value, i, s)
			found |= strcmp(json_string_value(s), field_text(result, "status")) == 0;
		ck_assert_msg(found, "%s: status '%s' not among the expected", name, field_text(result, "status"));
	}
	value = json_object_get(expect, "reason");
	if (value != NULL)
		ck_assert_msg(json_equal(json_object_get(result, "reason"), value),
		    "%s: reason '%s', expected '%s'", name,
		    json_string_value(json_object_get(result, "reason")), json_string_value(value));
	if (json_object_get(expect, "exit_code") != NULL) {
		value = json_object_get(expect, "exit_code");
		if (json_is_null(value))
			ck_assert_msg(json_object_get(result, "exit_code") == NULL,
			    "%s: exit_code present but expected absent", name);
		else
			ck_assert_msg(json_equal(json_object_get(result, "exit_code"), value),
			    "%s: exit_code '%s', expected '%s'", name,
			    json_string_value(json_object_get(result, "exit_code")), json_string_value(value));
	}
	json_object_foreach(json_object_get(expect, "contains"), key, value)
		ck_assert_msg(strstr(field_text(result, key), json_string_value(value)) != NULL,
		    "%s: %s does not contain '%s'; it is: %.400s", name, key, json_string_value(value),
		    field_text(result, key));
	json_object_foreach(json_object_get(expect, "not_contains"), key, value)
		ck_assert_msg(strstr(field_text(result, key), json_string_value(value)) == NULL,
		    "%s: %s contains '%s'", name, key, json_string_value(value));
	json_object_foreach(json_object_get(expect, "equals"), key, value)
		ck_assert_msg(strcmp(field_text(result, key), json_string_value(value)) == 0,
		    "%s: %s is '%.200s', expected '%s'", name, key, field_text(result, key),
		    json_string_value(value));
	json_object_foreach(json_object_get(expect, "max_length"), key, value)
		ck_assert_msg(strlen(field_text(result, key)) <= (size_t)json_integer_value(value),
		    "%s: %s is %zu bytes, over %lld", name, key, strlen(field_text(result, key)),
		    json_integer_value(value));
	value = json_object_get(expect, "truncated");
	if (value != NULL) {
		size_t i, j;
		json_t *want, *have;
		json_t *list = json_object_get(result, "truncated");
		json_array_foreach(value, i, want) {
			int found = 0;
			json_array_foreach(list, j, have)
				found |= json_equal(want, have);
			ck_assert_msg(found, "%s: '%s' not marked truncated", name, json_string_value(want));
		}
	}
}

START_TEST(test_case)
{
	const char *name = case_names[_i];
	char path[PATH_MAX], task[PATH_MAX], work_root[] = "/tmp/tmc-e2e.XXXXXX";
	json_error_t jerr;
	json_t *spec, *result, *expect;
	const char *exercise;
	char *out;
	int ws;

	snprintf(path, sizeof(path), "%s/%s/case.json", cases_dir, name);
	spec = json_load_file(path, 0, &jerr);
	ck_assert_msg(spec != NULL, "%s: %s line %d", path, jerr.text, jerr.line);
	exercise = json_string_value(json_object_get(spec, "exercise"));
	if (exercise != NULL)
		snprintf(task, sizeof(task), "%s/%s", exercises_dir, exercise);
	else
		snprintf(task, sizeof(task), "%s/%s/task", cases_dir, name);
	ck_assert_ptr_nonnull(mkdtemp(work_root));
	/* sandbox-run drops to an unprivileged uid for UML, which must reach it. */
	chmod(work_root, 0755);

	out = run_sandbox(json_object_get(spec, "args"), task, work_root, &ws);
	ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "%s: sandbox-run exited with status %d: %.500s",
	    name, ws, out);
	result = json_loads(out, 0, &jerr);
	ck_assert_msg(result != NULL, "%s: result is not JSON (%s): %.300s", name, jerr.text, out);
	printf("%s: status=%s exit_code=%s reason=%s time=%s\n", name,
	    json_string_value(json_object_get(result, "status")),
	    json_string_value(json_object_get(result, "exit_code")),
	    json_string_value(json_object_get(result, "reason")),
	    json_dumps(json_object_get(result, "time"), JSON_COMPACT));
	fflush(stdout);
	expect = json_object_get(spec, "expect");
	check_expectations(name, result, expect);
	ck_assert_msg(processes_of_run(work_root) == 0, "%s: processes of the run survive it", name);
	rm_rf(work_root);
	json_decref(result);
	json_decref(spec);
	free(out);
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	if (argc < 4) {
		fprintf(stderr, "usage: %s BUILD_DIR CASES_DIR EXERCISES_DIR [CASE...]\n", argv[0]);
		return 2;
	}
	build_dir = argv[1];
	cases_dir = argv[2];
	exercises_dir = argv[3];
	collect_cases(argc - 4, argv + 4);
	if (case_count == 0) {
		fprintf(stderr, "run_cases: no cases found in %s\n", cases_dir);
		return 1;
	}
	s = suite_create("e2e");
	tc = tcase_create("cases");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_case, 0, case_count);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_VERBOSE);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
