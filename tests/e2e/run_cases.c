/*
 * run_cases.c: the generic end-to-end runner. Each directory under
 * tests/cases/ is one case: case.json names the task (an exercise under
 * tests/exercises/, or the case's own task/ dir), the sandbox-run arguments
 * and the expected result fields. Every case boots the real UML guest
 * through the real `sandbox-run`; after each, no process of that run may be
 * left on the host.
 *
 * case.json keys: description, exercise (or a task/ dir or a task.tar next
 * to it; a task.tar goes through the upload rules, as over HTTP), args
 * (sandbox-run options; an argument starting with "$CASE/" names a file in
 * the case's own dir, e.g. "--policy", "$CASE/policy"; "$WORK" anywhere in
 * an argument is the run's scratch dir), setup (a script in the case's dir
 * run first with that scratch dir as its argument, e.g. to build a layer
 * there: "args": ["--layer", "lib=$WORK/lib.squashfs"]), expect.
 *
 * Expectation keys (each optional):
 *
 *   status            "finished" | "failed" | "timeout"
 *   status_in         [statuses]: any of them
 *   reason            text
 *   reason_not        text: the result's reason is anything else (or absent)
 *   exit_code         "N" as a string, or null for absent
 *   contains          {field: text or [texts]}: the string field contains each
 *   not_contains      {field: text or [texts]}: it contains none of them
 *   equals            {field: text}: it is exactly text
 *   max_length        {field: bytes}
 *   truncated         [file names] marked truncated
 *   scout             true: the result carries Scout's record (a `files`
 *                     array with at least one entry, a `denied` array);
 *                     false: it carries neither (the run had no Scout)
 *   files_denied      [entry]: each appears in `files` with verdict "deny"
 *   files_allowed     [entry]: each appears in `files` with verdict "allow"
 *   files_not_denied  [path]: no `files` entry for path has verdict "deny"
 *   denied_syscalls   [name]: each appears in `denied` with count >= 1
 *   sandbox_exit      sandbox-run's exit status (default 0)
 *   stderr_contains   text: sandbox-run's stderr contains it
 *
 * An entry is a path ("/etc/shadow") or {"path": P, "access": A} with A
 * one of read, write, create, exec (Scout's audit, sandbox/SCOUT.md).
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
#include "tests/lib/proc_scan.h"

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

/* The whole of a small file as a string ("" when it cannot be read). */
static char *read_small_file(const char *path)
{
	char *buf = calloc(1, 65537);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	ck_assert_ptr_nonnull(buf);
	if (fd < 0)
		return buf;
	while (len < 65536) {
		ssize_t r = read(fd, buf + len, 65536 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* a with every "$WORK" replaced by work (allocated; freed with the
 * forked test process). */
static char *subst_work(const char *a, const char *work)
{
	const char *at = strstr(a, "$WORK");
	char *out;

	if (at == NULL)
		return (char *)a;
	ck_assert_int_ge(asprintf(&out, "%.*s%s%s", (int)(at - a), a, work, at + 5), 0);
	return subst_work(out, work);
}

/* The case's setup script, run with the scratch dir; it must succeed. */
static void run_setup(const char *name, const char *case_dir, const char *script, const char *work_root)
{
	char path[PATH_MAX];
	pid_t pid;
	int ws;

	ck_assert((size_t)snprintf(path, sizeof(path), "%s/%s", case_dir, script) < sizeof(path));
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", path, work_root, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "%s: setup %s failed (status %d)", name, script,
	    WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
}

/* Runs sandbox-run and returns its stdout (capped), or NULL; its stderr
 * goes to stderr_path, for the caller to check and print. */
static char *run_sandbox(json_t *args, const char *case_dir, const char *task, const char *work_root,
    const char *stderr_path, int *exit_status)
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
	for (size_t i = 0; i < nargs; i++) {
		const char *a = json_string_value(json_array_get(args, i));

		ck_assert_msg(a != NULL, "args[%zu] is not a string", i);
		if (strncmp(a, "$CASE/", 6) == 0) {
			char *p;

			ck_assert_int_ge(asprintf(&p, "%s/%s", case_dir, a + 6), 0);
			a = p;	/* freed with the forked test process */
		}
		argv[n++] = subst_work(a, work_root);
	}
	argv[n++] = (char *)task;
	argv[n] = NULL;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int err_fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (err_fd < 0 || dup2(err_fd, 2) < 0)
			_exit(126);
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


static const char *field_text(json_t *result, const char *key)
{
	json_t *v = json_object_get(result, key);

	ck_assert_msg(json_is_string(v), "result field '%s' missing or not a string", key);
	return json_string_value(v);
}

/* Does Scout's `files` list hold entry (a path, or {path, access}) with
 * the verdict? verdict NULL: with any verdict. */
static int files_has(json_t *result, json_t *entry, const char *verdict)
{
	json_t *files = json_object_get(result, "files"), *f;
	const char *path, *access = NULL;
	size_t i;

	if (json_is_object(entry)) {
		path = json_string_value(json_object_get(entry, "path"));
		access = json_string_value(json_object_get(entry, "access"));
	} else
		path = json_string_value(entry);
	ck_assert_msg(path != NULL, "a files_* entry is neither a path nor {path, access}");
	json_array_foreach(files, i, f) {
		const char *fp = json_string_value(json_object_get(f, "path"));
		const char *fa = json_string_value(json_object_get(f, "access"));
		const char *fv = json_string_value(json_object_get(f, "verdict"));

		if (fp == NULL || fa == NULL || fv == NULL || strcmp(fp, path) != 0)
			continue;
		if (access != NULL && strcmp(fa, access) != 0)
			continue;
		if (verdict == NULL || strcmp(fv, verdict) == 0)
			return 1;
	}
	return 0;
}

static const char *entry_text(json_t *entry)
{
	static char buf[PATH_MAX + 32];

	if (json_is_object(entry))
		snprintf(buf, sizeof(buf), "%s %s",
		    json_string_value(json_object_get(entry, "access")) ?: "any",
		    json_string_value(json_object_get(entry, "path")) ?: "?");
	else
		snprintf(buf, sizeof(buf), "%s", json_string_value(entry) ?: "?");
	return buf;
}

static void check_scout(const char *name, json_t *result, json_t *expect)
{
	json_t *value, *want, *have;
	char *files;
	size_t i, j;

	value = json_object_get(expect, "scout");
	if (value != NULL) {
		json_t *f = json_object_get(result, "files"), *d = json_object_get(result, "denied");

		if (json_is_true(value))
			ck_assert_msg(json_array_size(f) > 0 && json_is_array(d),
			    "%s: no Scout record (files, denied) in the result", name);
		else
			ck_assert_msg(f == NULL && d == NULL, "%s: a Scout record in a run without Scout",
			    name);
	}
	files = json_dumps(json_object_get(result, "files"), JSON_COMPACT);
	json_array_foreach(json_object_get(expect, "files_denied"), i, want)
		ck_assert_msg(files_has(result, want, "deny"), "%s: files lacks a denied '%s': %.2000s",
		    name, entry_text(want), files ? files : "(none)");
	json_array_foreach(json_object_get(expect, "files_allowed"), i, want)
		ck_assert_msg(files_has(result, want, "allow"), "%s: files lacks an allowed '%s': %.2000s",
		    name, entry_text(want), files ? files : "(none)");
	json_array_foreach(json_object_get(expect, "files_not_denied"), i, want)
		ck_assert_msg(!files_has(result, want, "deny"), "%s: '%s' was denied: %.2000s",
		    name, entry_text(want), files ? files : "(none)");
	free(files);
	json_array_foreach(json_object_get(expect, "denied_syscalls"), i, want) {
		int found = 0;

		json_array_foreach(json_object_get(result, "denied"), j, have)
			found |= json_equal(json_object_get(have, "syscall"), want) &&
			    json_integer_value(json_object_get(have, "count")) >= 1;
		ck_assert_msg(found, "%s: denied lacks syscall '%s'", name, json_string_value(want));
	}
}

/* contains / not_contains take a text or an array of texts. */
static size_t texts_count(json_t *v)
{
	return json_is_array(v) ? json_array_size(v) : 1;
}

static const char *text_at(json_t *v, size_t i)
{
	const char *t = json_string_value(json_is_array(v) ? json_array_get(v, i) : v);

	ck_assert_msg(t != NULL, "contains/not_contains: a value is not a text");
	return t;
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
	value = json_object_get(expect, "reason_not");
	if (value != NULL)
		ck_assert_msg(!json_equal(json_object_get(result, "reason"), value),
		    "%s: reason is '%s'", name, json_string_value(value));
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
		for (size_t i = 0; i < texts_count(value); i++)
			ck_assert_msg(strstr(field_text(result, key), text_at(value, i)) != NULL,
			    "%s: %s does not contain '%s'; it is: %.400s", name, key, text_at(value, i),
			    field_text(result, key));
	json_object_foreach(json_object_get(expect, "not_contains"), key, value)
		for (size_t i = 0; i < texts_count(value); i++)
			ck_assert_msg(strstr(field_text(result, key), text_at(value, i)) == NULL,
			    "%s: %s contains '%s'", name, key, text_at(value, i));
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
	check_scout(name, result, expect);
}

/* One line for Scout's record: how many files it decided on, the denied
 * ones and the refused syscalls, so a failing case shows what Scout saw. */
static void print_scout(const char *name, json_t *result)
{
	json_t *files = json_object_get(result, "files"), *f;
	size_t i, n_deny = 0;

	if (files == NULL)
		return;
	printf("%s: scout: %zu files entries; denied:", name, json_array_size(files));
	json_array_foreach(files, i, f) {
		const char *v = json_string_value(json_object_get(f, "verdict"));

		if (v == NULL || strcmp(v, "deny") != 0)
			continue;
		if (n_deny++ < 40)
			printf(" %s:%s", json_string_value(json_object_get(f, "access")),
			    json_string_value(json_object_get(f, "path")));
	}
	printf("%s; syscalls:", n_deny > 40 ? " ..." : "");
	json_array_foreach(json_object_get(result, "denied"), i, f)
		printf(" %s*%lld", json_string_value(json_object_get(f, "syscall")),
		    json_integer_value(json_object_get(f, "count")));
	printf("\n");
}

/* Every result stays in BUILD/tests/results/CASE.json for a look after the
 * run; a guest that died without a result also gets its console's last
 * lines printed, since that is where a guest panic shows. */
static void keep_result(const char *name, const char *text, json_t *result)
{
	char path[PATH_MAX];
	FILE *f;
	const char *reason = json_string_value(json_object_get(result, "reason"));
	const char *log = json_string_value(json_object_get(result, "vm_log"));

	if ((size_t)snprintf(path, sizeof(path), "%s/tests/results", build_dir) < sizeof(path) &&
	    mkdir_p(path, 0755) == 0 &&
	    (size_t)snprintf(path, sizeof(path), "%s/tests/results/%s.json", build_dir, name) < sizeof(path) &&
	    (f = fopen(path, "w")) != NULL) {
		fputs(text, f);
		fclose(f);
	}
	if (reason != NULL && log != NULL && strcmp(reason, "crash") == 0) {
		size_t len = strlen(log);
		const char *tail = len > 4000 ? log + len - 4000 : log;

		printf("%s: guest crashed; end of its console:\n%s\n", name, tail);
	}
}

START_TEST(test_case)
{
	const char *name = case_names[_i];
	char path[PATH_MAX], case_dir[PATH_MAX], task[PATH_MAX], work_root[] = "/tmp/tmc-e2e.XXXXXX";
	char stderr_path[PATH_MAX];
	json_error_t jerr;
	json_t *spec, *result, *expect;
	const char *exercise;
	char *out, *err_text;
	int ws, want_exit;

	ck_assert_msg((size_t)snprintf(case_dir, sizeof(case_dir), "%s/%s", cases_dir, name) < sizeof(case_dir) &&
	    (size_t)snprintf(path, sizeof(path), "%s/case.json", case_dir) < sizeof(path),
	    "%s: case path too long", name);
	spec = json_load_file(path, 0, &jerr);
	ck_assert_msg(spec != NULL, "%s: %s line %d", path, jerr.text, jerr.line);
	exercise = json_string_value(json_object_get(spec, "exercise"));
	if (exercise != NULL)
		snprintf(task, sizeof(task), "%s/%s", exercises_dir, exercise);
	else
		ck_assert_msg((size_t)snprintf(task, sizeof(task), "%s/task", case_dir) < sizeof(task),
		    "%s: task path too long", name);
	/* A case may bring its task as a tar, exactly as a user made it: it
	 * then goes through the upload rules, as over HTTP. */
	if (exercise == NULL && (size_t)snprintf(path, sizeof(path), "%s/task.tar", case_dir) < sizeof(path) &&
	    access(path, F_OK) == 0)
		snprintf(task, sizeof(task), "%s", path);
	ck_assert_ptr_nonnull(mkdtemp(work_root));
	/* sandbox-run drops to an unprivileged uid for UML, which must reach it. */
	chmod(work_root, 0755);

	ck_assert((size_t)snprintf(stderr_path, sizeof(stderr_path), "%s/sandbox-run.stderr", work_root) <
	    sizeof(stderr_path));
	if (json_is_string(json_object_get(spec, "setup")))
		run_setup(name, case_dir, json_string_value(json_object_get(spec, "setup")), work_root);
	out = run_sandbox(json_object_get(spec, "args"), case_dir, task, work_root, stderr_path, &ws);
	expect = json_object_get(spec, "expect");
	want_exit = json_object_get(expect, "sandbox_exit") != NULL ?
	    (int)json_integer_value(json_object_get(expect, "sandbox_exit")) : 0;
	err_text = read_small_file(stderr_path);
	fputs(err_text, stderr);
	ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == want_exit,
	    "%s: sandbox-run exited with status %d, expected %d: %.500s", name,
	    WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, want_exit, out);
	if (json_object_get(expect, "stderr_contains") != NULL)
		ck_assert_msg(strstr(err_text, json_string_value(json_object_get(expect, "stderr_contains"))) != NULL,
		    "%s: stderr lacks '%s': %.500s", name,
		    json_string_value(json_object_get(expect, "stderr_contains")), err_text);
	result = json_loads(out, 0, &jerr);
	ck_assert_msg(result != NULL, "%s: result is not JSON (%s): %.300s", name, jerr.text, out);
	printf("%s: status=%s exit_code=%s reason=%s time=%s\n", name,
	    json_string_value(json_object_get(result, "status")),
	    json_string_value(json_object_get(result, "exit_code")),
	    json_string_value(json_object_get(result, "reason")),
	    json_dumps(json_object_get(result, "time"), JSON_COMPACT));
	print_scout(name, result);
	keep_result(name, out, result);
	fflush(stdout);
	check_expectations(name, result, expect);
	ck_assert_msg(proc_count_cmdline(work_root) == 0, "%s: processes of the run survive it", name);
	rm_rf(work_root);
	json_decref(result);
	json_decref(spec);
	free(out);
	free(err_text);
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
