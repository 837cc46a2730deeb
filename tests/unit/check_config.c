/* check_config.c: sandboxd's settings (server/config.c): flags, the config
 * file, strict values, and the precedence of flags over the file. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/sandboxd.h"

static const struct {
	const char *in;
	int rc;
	double want;
} durations[] = {
	{ "250ms", 0, 0.25 }, { "2s", 0, 2 }, { "5m", 0, 300 }, { "1h", 0, 3600 }, { "1.5", 0, 1.5 },
	{ "", -1, 0 }, { "-1s", -1, 0 }, { "1d", -1, 0 }, { "s", -1, 0 }, { "2h", -1, 0 }, { "nan", -1, 0 },
};

START_TEST(test_duration)
{
	double v = -7;
	int rc = config_parse_duration(durations[_i].in, 3600, &v);

	ck_assert_int_eq(rc, durations[_i].rc);
	if (rc == 0)
		ck_assert_double_eq_tol(v, durations[_i].want, 1e-9);
}
END_TEST

static const struct {
	const char *key, *value;
	int rc;
} sets[] = {
	{ "port", "8080", 0 }, { "port", "65536", -1 }, { "port", "80x", -1 },
	{ "memory", "128M", 0 }, { "memory", "12Q", -1 }, { "memory", "0", -1 },
	{ "timeout", "200", 0 }, { "timeout", "-5", -1 },
	{ "notify-format", "form", 0 }, { "notify-format", "xml", -1 },
	{ "scout", "off", 0 }, { "scout", "maybe", -1 },
	{ "retry-total", "1h", 0 }, { "retry-total", "forever", -1 },
	{ "max-entries", "0", -1 }, { "max-entries", "100", 0 },
	{ "no-such-setting", "1", -1 }, { "listen", NULL, -1 },
	{ "notify-workers", "8", 0 }, { "notify-workers", "65", -1 }, { "notify-workers", "many", -1 },
	{ "request-timeout", "90s", 0 }, { "request-timeout", "2h", -1 }, { "request-timeout", "soon", -1 },
	{ "cpu", "0", 0 }, { "cpu", "auto", 0 }, { "cpu", "none", 0 }, { "cpu", "-1", -1 }, { "cpu", "1x", -1 },
	{ "cpu", "99999", -1 }, { "cpu", "", -1 }, { "preboot", "on", 0 }, { "preboot", "off", 0 },
	{ "preboot", "later", -1 }, { "huge-pages", "on", 0 }, { "huge-pages", "off", 0 },
	{ "huge-pages", "2M", -1 }, { "populate-ram", "on", 0 }, { "populate-ram", "off", 0 },
	{ "populate-ram", "all", -1 },
};

START_TEST(test_set)
{
	struct config cfg;
	char err[256] = "";

	config_defaults(&cfg);
	ck_assert_int_eq(config_set(&cfg, sets[_i].key, sets[_i].value, err, sizeof(err)), sets[_i].rc);
	if (sets[_i].rc < 0)
		ck_assert(err[0] != '\0');
	config_free(&cfg);
}
END_TEST

START_TEST(test_file_then_flags)
{
	char path[] = "/tmp/check_config.XXXXXX", err[256] = "";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct config cfg;
	char *argv[] = { "sandboxd", "--config", path, "--port=9000", "--memory", "128M", "-v", NULL };

	ck_assert_ptr_nonnull(f);
	fputs("# comment\nport = 7000\n  work-dir = /srv/tmc   # trailing\nnotify-format=form\n"
	    "retry-initial = 500ms\nkeep-work-dir\n", f);
	fclose(f);
	config_defaults(&cfg);
	ck_assert_int_eq(config_parse(&cfg, 7, argv, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.port, 9000);
	ck_assert_str_eq(cfg.work_dir, "/srv/tmc");
	ck_assert_int_eq(cfg.notify_format, NOTIFY_FORM);
	ck_assert_uint_eq(cfg.memory, 128ULL << 20);
	ck_assert_double_eq_tol(cfg.retry_initial, 0.5, 1e-9);
	ck_assert_int_eq(cfg.keep_work_dir, 1);
	ck_assert_int_eq(cfg.verbosity, 2);
	ck_assert_str_eq(cfg.listen, "127.0.0.1");
	config_free(&cfg);
	unlink(path);
}
END_TEST

/* `layer` is repeatable: the file's and the flags' add up; a name given
 * twice, or a file that is not a squashfs, is an error naming it. */
START_TEST(test_layers)
{
	char dir[] = "/tmp/check_config.XXXXXX", path[128], img[128], spec[160], spec2[160], cmd[512];
	char err[256] = "";
	struct config cfg;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "mkdir %s/d && echo x > %s/d/f && tools/make-layer %s/d %s/l.squashfs "
	    ">/dev/null", dir, dir, dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(img, sizeof(img), "%s/l.squashfs", dir);
	snprintf(path, sizeof(path), "%s/conf", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "layer = course-a=%s\n", img);
	fclose(f);
	snprintf(spec, sizeof(spec), "course-b=%s", img);
	{
		char *argv[] = { "sandboxd", "--config", path, "--layer", spec, NULL };

		config_defaults(&cfg);
		ck_assert_msg(config_parse(&cfg, 5, argv, err, sizeof(err)) == 0, "%s", err);
		ck_assert_uint_eq(cfg.nlayers, 2);
		ck_assert_str_eq(cfg.layers[0].name, "course-a");
		ck_assert_str_eq(cfg.layers[1].name, "course-b");
		ck_assert_str_eq(cfg.layers[1].path, img);
		config_free(&cfg);
	}
	snprintf(spec2, sizeof(spec2), "course-a=%s", img);
	{
		char *argv[] = { "sandboxd", "--config", path, "--layer", spec2, NULL };

		config_defaults(&cfg);
		ck_assert_int_eq(config_parse(&cfg, 5, argv, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "layer course-a is configured twice") != NULL, "%s", err);
		config_free(&cfg);
	}
	snprintf(spec2, sizeof(spec2), "x=%s", path);
	{
		char *argv[] = { "sandboxd", "--layer", spec2, NULL };

		config_defaults(&cfg);
		ck_assert_int_eq(config_parse(&cfg, 3, argv, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "not a squashfs image") != NULL, "%s", err);
		config_free(&cfg);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_file_errors_name_the_line)
{
	char path[] = "/tmp/check_config.XXXXXX", err[256] = "";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct config cfg;

	fputs("port = 1\nmemory = lots\n", f);
	fclose(f);
	config_defaults(&cfg);
	ck_assert_int_eq(config_load_file(&cfg, path, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, ":2:") != NULL && strstr(err, "memory") != NULL, "%s", err);
	config_free(&cfg);
	unlink(path);
}
END_TEST

START_TEST(test_bad_flags)
{
	struct config cfg;
	char err[256];
	char *unknown[] = { "sandboxd", "--frobnicate", NULL };
	char *missing[] = { "sandboxd", "--port", NULL };
	char *stray[] = { "sandboxd", "extra", NULL };
	char *retry[] = { "sandboxd", "--retry-initial", "10s", "--retry-max", "1s", NULL };

	config_defaults(&cfg);
	ck_assert_int_eq(config_parse(&cfg, 2, unknown, err, sizeof(err)), -1);
	ck_assert(strstr(err, "frobnicate") != NULL);
	ck_assert_int_eq(config_parse(&cfg, 2, missing, err, sizeof(err)), -1);
	ck_assert_int_eq(config_parse(&cfg, 2, stray, err, sizeof(err)), -1);
	ck_assert_int_eq(config_parse(&cfg, 5, retry, err, sizeof(err)), -1);
	config_free(&cfg);
}
END_TEST

/* The lists are checked when the settings are complete: a daemon never
 * starts with an entry it would silently ignore. */
static const struct {
	const char *opt, *value;
	int rc;
} lists[] = {
	{ "--notify-allow", "10.0.0.0/8, 192.168.1.7 ,grader.example.org", 0 },
	{ "--notify-allow", "*.example.org,fd00::/8,[::1]", 0 },
	{ "--notify-deny", "127.0.0.0/8,::1,localhost", 0 },
	{ "--notify-deny", "10.0.0.0/33", -1 }, { "--notify-deny", "::1/129", -1 },
	{ "--notify-deny", "1.2.3.4/x", -1 }, { "--notify-allow", "a..b", -1 },
	{ "--notify-allow", "-a.b", -1 }, { "--notify-allow", "http://x/", -1 },
	{ "--notify-allow", "*.", -1 }, { "--notify-deny", "1.2.3.4.5/8", -1 },
	{ "--notify-workers", "0", -1 }, { "--request-timeout", "0", -1 },
};

START_TEST(test_lists)
{
	struct config cfg;
	char err[256] = "";
	char *argv[] = { "sandboxd", (char *)lists[_i].opt, (char *)lists[_i].value, NULL };

	config_defaults(&cfg);
	ck_assert_msg(config_parse(&cfg, 3, argv, err, sizeof(err)) == lists[_i].rc, "%s %s: %s", lists[_i].opt,
	    lists[_i].value, err);
	if (lists[_i].rc < 0)
		ck_assert(err[0] != '\0');
	config_free(&cfg);
}
END_TEST

START_TEST(test_issue9_defaults)
{
	struct config cfg;

	config_defaults(&cfg);
	ck_assert_uint_eq(cfg.notify_workers, 4);
	ck_assert_double_eq_tol(cfg.request_timeout, 120, 1e-9);
	ck_assert_ptr_null(cfg.notify_allow);
	ck_assert_ptr_null(cfg.notify_deny);
	config_free(&cfg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_duration, 0, (int)(sizeof(durations) / sizeof(durations[0])));
	tcase_add_loop_test(tc, test_set, 0, (int)(sizeof(sets) / sizeof(sets[0])));
	tcase_add_test(tc, test_file_then_flags);
	tcase_add_test(tc, test_layers);
	tcase_add_test(tc, test_file_errors_name_the_line);
	tcase_add_test(tc, test_bad_flags);
	tcase_add_loop_test(tc, test_lists, 0, (int)(sizeof(lists) / sizeof(lists[0])));
	tcase_add_test(tc, test_issue9_defaults);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
