/* check_spool.c: the result spool (server/spool.c): atomic writes, the
 * marker/result hand-over, recovery after a crash, burial. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/sandboxd.h"

static char dir[64];

static void setup(void)
{
	char err[256];

	strcpy(dir, "/tmp/check_spool.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(spool_init(dir, err, sizeof(err)), 0);
}

static void teardown(void)
{
	char cmd[128];

	spool_fini();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int exists(const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/spool/%s", dir, name);
	return access(p, F_OK) == 0;
}

START_TEST(test_result_replaces_marker)
{
	char err[256], *url = NULL;
	json_t *payload = json_pack("{s:s, s:s}", "status", "finished", "token", "t");
	json_t *back = NULL;

	ck_assert_int_eq(spool_mark_running("t1-a", "http://h/n", "t", err, sizeof(err)), 0);
	ck_assert(exists("t1-a.running"));
	ck_assert_int_eq(spool_put_result("t1-a", "http://h/n", payload, err, sizeof(err)), 0);
	ck_assert(!exists("t1-a.running"));
	ck_assert(exists("t1-a.json"));
	ck_assert_uint_eq(spool_pending(), 1);
	ck_assert_int_eq(spool_load("t1-a", &url, &back, err, sizeof(err)), 0);
	ck_assert_str_eq(url, "http://h/n");
	ck_assert(json_equal(back, payload));
	ck_assert_int_eq(spool_remove("t1-a"), 0);
	ck_assert_uint_eq(spool_pending(), 0);
	free(url);
	json_decref(back);
	json_decref(payload);
}
END_TEST

START_TEST(test_recover_running_becomes_internal)
{
	char err[256], **ids = NULL, *url = NULL;
	size_t n = 0;
	json_t *p = NULL;
	FILE *f;
	char tmp[256];

	ck_assert_int_eq(spool_mark_running("t2-b", "http://h/n", "tok", err, sizeof(err)), 0);
	snprintf(tmp, sizeof(tmp), "%s/spool/.tmp-t9.json", dir);
	f = fopen(tmp, "w");
	fputs("{\"half", f);
	fclose(f);
	ck_assert_int_eq(spool_recover(&ids, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(ids[0], "t2-b");
	ck_assert(!exists("t2-b.running"));
	ck_assert(!exists(".tmp-t9.json"));
	ck_assert_int_eq(spool_load("t2-b", &url, &p, err, sizeof(err)), 0);
	ck_assert_str_eq(json_string_value(json_object_get(p, "status")), "failed");
	ck_assert_str_eq(json_string_value(json_object_get(p, "reason")), "internal");
	ck_assert_str_eq(json_string_value(json_object_get(p, "token")), "tok");
	ck_assert_str_eq(json_string_value(json_object_get(p, "stdout")), "");
	free(url);
	json_decref(p);
	free(ids[0]);
	free(ids);
}
END_TEST

START_TEST(test_recover_result_wins_over_marker)
{
	char err[256], **ids = NULL, *url = NULL;
	size_t n = 0;
	json_t *payload = json_pack("{s:s}", "status", "finished"), *p = NULL;
	char marker[256];
	FILE *f;

	ck_assert_int_eq(spool_put_result("t3-c", "http://h/n", payload, err, sizeof(err)), 0);
	/* A crash between the two steps of spool_put_result leaves both. */
	snprintf(marker, sizeof(marker), "%s/spool/t3-c.running", dir);
	f = fopen(marker, "w");
	fputs("{\"notify\":\"http://h/n\"}", f);
	fclose(f);
	ck_assert_int_eq(spool_recover(&ids, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(!exists("t3-c.running"));
	ck_assert_int_eq(spool_load("t3-c", &url, &p, err, sizeof(err)), 0);
	ck_assert_str_eq(json_string_value(json_object_get(p, "status")), "finished");
	free(url);
	json_decref(p);
	json_decref(payload);
	free(ids[0]);
	free(ids);
}
END_TEST

START_TEST(test_bury_and_bad_ids)
{
	char err[256], *url = NULL;
	json_t *payload = json_pack("{s:s}", "status", "finished"), *p = NULL;

	ck_assert_int_eq(spool_put_result("t4-d", "http://h/n", payload, err, sizeof(err)), 0);
	ck_assert_int_eq(spool_bury("t4-d"), 0);
	ck_assert(!exists("t4-d.json"));
	ck_assert(exists("dead/t4-d.json"));
	ck_assert_int_eq(spool_put_result("../evil", "http://h/n", payload, err, sizeof(err)), -1);
	ck_assert_int_eq(spool_load("a/b", &url, &p, err, sizeof(err)), -1);
	ck_assert_int_eq(spool_mark_running("", "http://h/n", "t", err, sizeof(err)), -1);
	json_decref(payload);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("spool");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_result_replaces_marker);
	tcase_add_test(tc, test_recover_running_becomes_internal);
	tcase_add_test(tc, test_recover_result_wins_over_marker);
	tcase_add_test(tc, test_bury_and_bad_ids);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
