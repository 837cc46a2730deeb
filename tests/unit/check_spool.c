/* check_spool.c: the result spool (server/spool.c): atomic writes, the
 * marker/result hand-over, recovery after a crash (a task cut short runs
 * once more, a second cut gives failed/internal), burial, the spool's
 * bounds (quota, dead/ retention) and the cap on one result. */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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
	struct spool_limits none = { 0 };

	spool_set_limits(&none);
	spool_fini();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct spool_marker marker(const char *id, const char *token, unsigned attempt)
{
	return (struct spool_marker){ id, "http://h/n", token, 60, 256ULL << 20, attempt, NULL };
}

/* A file of size bytes in the spool dir (a stand-in runnable.tar). */
static void put_file(const char *name, size_t size)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < size; i++)
		fputc('x', f);
	ck_assert_int_eq(fclose(f), 0);
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

	struct spool_marker m = marker("t1-a", "t", 1);
	char tar[256];

	put_file("t1-a.upload.tar", 10);
	snprintf(tar, sizeof(tar), "%s/t1-a.upload.tar", dir);
	ck_assert_int_eq(spool_mark_running(&m, tar, err, sizeof(err)), 0);
	ck_assert(exists("t1-a.tar"));
	ck_assert(exists("t1-a.running"));
	ck_assert_int_eq(spool_put_result("t1-a", "http://h/n", payload, err, sizeof(err)), 0);
	ck_assert(!exists("t1-a.running"));
	ck_assert(!exists("t1-a.tar"));
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

	struct spool_marker m = marker("t2-b", "tok", 1);
	struct spool_rerun *rr = NULL;
	size_t nrr = 0;

	ck_assert_int_eq(spool_mark_running(&m, NULL, err, sizeof(err)), 0);
	snprintf(tmp, sizeof(tmp), "%s/spool/.tmp-t9.json", dir);
	f = fopen(tmp, "w");
	fputs("{\"half", f);
	fclose(f);
	ck_assert_int_eq(spool_recover(&ids, &n, &rr, &nrr, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(nrr, 0);
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
	struct spool_rerun *rr = NULL;
	size_t nrr = 0;

	ck_assert_int_eq(spool_put_result("t3-c", "http://h/n", payload, err, sizeof(err)), 0);
	/* A crash between the two steps of spool_put_result leaves both. */
	snprintf(marker, sizeof(marker), "%s/spool/t3-c.running", dir);
	f = fopen(marker, "w");
	fputs("{\"notify\":\"http://h/n\"}", f);
	fclose(f);
	put_file("spool/t3-c.tar", 10);
	ck_assert_int_eq(spool_recover(&ids, &n, &rr, &nrr, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(nrr, 0);
	ck_assert(!exists("t3-c.running"));
	ck_assert(!exists("t3-c.tar"));
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
	{
		struct spool_marker m = marker("", "t", 1);

		ck_assert_int_eq(spool_mark_running(&m, NULL, err, sizeof(err)), -1);
	}
	json_decref(payload);
}
END_TEST

/* A task cut short with its tar kept runs once more; the re-run's marker
 * says attempt 2, and a second cut gives failed/internal; an orphan tar
 * (the crash fell before the marker) is dropped. */
START_TEST(test_recover_reruns_once)
{
	char err[256], **ids = NULL, *url = NULL;
	size_t n = 0, nrr = 0;
	struct spool_rerun *rr = NULL;
	struct spool_marker m = marker("t5-e", "tok5", 1), m2;
	json_t *p = NULL;

	put_file("spool/t5-e.tar", 100);
	put_file("spool/t6-f.tar", 100);
	ck_assert_int_eq(spool_mark_running(&m, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(spool_recover(&ids, &n, &rr, &nrr, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(nrr, 1);
	ck_assert_str_eq(rr[0].id, "t5-e");
	ck_assert_str_eq(rr[0].token, "tok5");
	ck_assert_str_eq(rr[0].notify, "http://h/n");
	ck_assert_uint_eq(rr[0].timeout_s, 60);
	ck_assert_uint_eq(rr[0].memory, 256ULL << 20);
	ck_assert_uint_eq(rr[0].attempt, 2);
	ck_assert_ptr_null(rr[0].layers);
	ck_assert(exists("t5-e.running"));
	ck_assert(exists("t5-e.tar"));
	ck_assert(!exists("t6-f.tar"));
	free(ids);
	/* The runner marks the re-run, which is cut short too. */
	m2 = marker("t5-e", "tok5", rr[0].attempt);
	spool_reruns_free(rr, nrr);
	ck_assert_int_eq(spool_mark_running(&m2, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(spool_recover(&ids, &n, &rr, &nrr, err, sizeof(err)), 0);
	ck_assert_uint_eq(nrr, 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(!exists("t5-e.running"));
	ck_assert(!exists("t5-e.tar"));
	ck_assert_int_eq(spool_load("t5-e", &url, &p, err, sizeof(err)), 0);
	ck_assert_str_eq(json_string_value(json_object_get(p, "reason")), "internal");
	ck_assert_str_eq(json_string_value(json_object_get(p, "token")), "tok5");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(p, "error")), "twice"));
	free(url);
	json_decref(p);
	free(ids[0]);
	free(ids);
	spool_reruns_free(rr, nrr);
}
END_TEST

/* A task that asked for layers runs again with the same layers. */
START_TEST(test_recover_rerun_keeps_layers)
{
	char err[256], **ids = NULL;
	size_t n = 0, nrr = 0;
	struct spool_rerun *rr = NULL;
	struct spool_marker m = marker("t7-g", "tok7", 1);

	m.layers = "course-a,jdk.tools";
	put_file("spool/t7-g.tar", 100);
	ck_assert_int_eq(spool_mark_running(&m, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(spool_recover(&ids, &n, &rr, &nrr, err, sizeof(err)), 0);
	ck_assert_uint_eq(nrr, 1);
	ck_assert_str_eq(rr[0].id, "t7-g");
	ck_assert_ptr_nonnull(rr[0].layers);
	ck_assert_str_eq(rr[0].layers, "course-a,jdk.tools");
	free(ids);
	spool_reruns_free(rr, nrr);
}
END_TEST

static json_t *big_result(size_t nbytes, char fill)
{
	char *s = malloc(nbytes);
	json_t *r;

	ck_assert_ptr_nonnull(s);
	memset(s, fill, nbytes);
	r = json_pack("{s:s, s:s, s:s#, s:s, s:s, s:[s]}", "token", "t", "status", "finished",
	    "stdout", s, (int)nbytes, "stderr", "small", "vm_log", "log", "truncated", "output.txt");
	free(s);
	return r;
}

static size_t encoded(json_t *r)
{
	return json_dumpb(r, NULL, 0, JSON_COMPACT | JSON_REAL_PRECISION(9));
}

/* 100 KB of \x01 is 600 KB of JSON: cut to the cap, counted after
 * escaping, and named in `truncated` next to what was there. */
START_TEST(test_fit_result_escaped)
{
	char err[256];
	json_t *r = big_result(100000, '\x01'), *tr;
	size_t cap = 128 << 10;

	ck_assert_uint_gt(encoded(r), 500000);
	ck_assert_int_eq(spool_fit_result(r, cap, err, sizeof(err)), 1);
	ck_assert_uint_le(encoded(r), cap);
	ck_assert_uint_gt(encoded(r), cap - 1024);
	ck_assert_str_eq(json_string_value(json_object_get(r, "stderr")), "small");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(r, "stdout")), "cut here"));
	tr = json_object_get(r, "truncated");
	ck_assert_uint_eq(json_array_size(tr), 2);
	ck_assert_str_eq(json_string_value(json_array_get(tr, 0)), "output.txt");
	ck_assert_str_eq(json_string_value(json_array_get(tr, 1)), "stdout");
	json_decref(r);
	/* Under the cap: untouched. */
	r = big_result(1000, 'a');
	tr = json_deep_copy(r);
	ck_assert_int_eq(spool_fit_result(r, cap, err, sizeof(err)), 0);
	ck_assert(json_equal(r, tr));
	json_decref(tr);
	json_decref(r);
}
END_TEST

/* Multibyte text is cut on a character boundary (the result stays valid
 * UTF-8), and several large fields are cut, largest first. */
START_TEST(test_fit_result_utf8_and_many)
{
	char err[256];
	size_t n = 90000;
	char *s = malloc(n * 3 + 1);
	json_t *r;

	for (size_t i = 0; i < n; i++)
		memcpy(s + 3 * i, "\xe2\x82\xac", 3);
	s[n * 3] = '\0';
	r = json_pack("{s:s, s:s, s:s, s:s}", "status", "finished", "stdout", s, "stderr", s, "output", "x");
	free(s);
	ck_assert_int_eq(spool_fit_result(r, 64 << 10, err, sizeof(err)), 2);
	ck_assert_uint_le(encoded(r), 64 << 10);
	ck_assert_ptr_nonnull(json_object_get(r, "stdout"));
	ck_assert_uint_eq(json_array_size(json_object_get(r, "truncated")), 2);
	{
		char *text = json_dumps(r, JSON_COMPACT);
		json_t *back = json_loads(text, 0, NULL);

		ck_assert_ptr_nonnull(back);
		json_decref(back);
		free(text);
	}
	json_decref(r);
	r = json_object();
	ck_assert_int_eq(spool_fit_result(r, 1000, err, sizeof(err)), -1);
	json_decref(r);
}
END_TEST

static void age_dead(const char *name, time_t age)
{
	char p[256];
	struct timespec ts[2];

	snprintf(p, sizeof(p), "%s/spool/dead/%s", dir, name);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
}

/* dead/ keeps --dead-max results for --dead-max-age, oldest going first. */
START_TEST(test_dead_retention)
{
	char err[256], id[32];
	json_t *payload = json_pack("{s:s}", "status", "finished");
	struct spool_limits l = { 0 };

	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "t7-%d", i);
		ck_assert_int_eq(spool_put_result(id, "http://h/n", payload, err, sizeof(err)), 0);
		ck_assert_int_eq(spool_bury(id), 0);
		snprintf(id, sizeof(id), "t7-%d.json", i);
		age_dead(id, 1000 * (10 - i));
	}
	ck_assert_uint_eq(spool_pending(), 0);
	ck_assert_uint_eq(spool_prune_dead(), 0);
	l.dead_max_age = 7500;	/* t7-0 (10000 s) and t7-1 (9000 s) are older */
	l.dead_max = 2;		/* then t7-2 goes as well */
	spool_set_limits(&l);
	ck_assert_uint_eq(spool_prune_dead(), 3);
	ck_assert(!exists("dead/t7-0.json") && !exists("dead/t7-1.json") && !exists("dead/t7-2.json"));
	ck_assert(exists("dead/t7-3.json") && exists("dead/t7-4.json"));
	json_decref(payload);
}
END_TEST

/* The quota: full when pending results plus room for one more are over
 * --spool-max, or at --spool-max-files; dead/ gives way first; a delivery
 * makes room again. */
START_TEST(test_spool_full)
{
	char err[256], why[256];
	json_t *payload = big_result(20000, 'a');
	struct spool_limits l = { .max_bytes = 100000, .max_files = 3, .reserve = 50000 };
	struct spool_usage u;

	spool_set_limits(&l);
	ck_assert_int_eq(spool_full(why, sizeof(why)), 0);
	ck_assert_int_eq(spool_put_result("t8-a", "http://h/n", payload, err, sizeof(err)), 0);
	ck_assert_int_eq(spool_bury("t8-a"), 0);
	ck_assert_int_eq(spool_put_result("t8-b", "http://h/n", payload, err, sizeof(err)), 0);
	ck_assert_int_eq(spool_full(why, sizeof(why)), 0);
	ck_assert_int_eq(spool_put_result("t8-c", "http://h/n", payload, err, sizeof(err)), 0);
	/* 2 x ~20 KB pending + 50 KB reserve fits once the dead one is gone. */
	ck_assert_int_eq(spool_full(why, sizeof(why)), 0);
	ck_assert(!exists("dead/t8-a.json"));
	ck_assert_int_eq(spool_put_result("t8-d", "http://h/n", payload, err, sizeof(err)), 0);
	ck_assert_int_eq(spool_full(why, sizeof(why)), 1);
	ck_assert_ptr_nonnull(strstr(why, "--spool-max"));
	spool_usage(&u);
	ck_assert_uint_eq(u.pending, 3);
	ck_assert_uint_gt(u.pending_bytes, 60000);
	ck_assert_uint_eq(u.dead, 0);
	ck_assert_int_eq(spool_remove("t8-b"), 0);
	ck_assert_int_eq(spool_full(why, sizeof(why)), 0);
	l.max_bytes = 0;
	l.max_files = 2;
	spool_set_limits(&l);
	ck_assert_int_eq(spool_full(why, sizeof(why)), 1);
	ck_assert_ptr_nonnull(strstr(why, "--spool-max-files"));
	/* Nothing pending was dropped to get there. */
	ck_assert(exists("t8-c.json") && exists("t8-d.json"));
	json_decref(payload);
}
END_TEST

/* The accounting survives a restart: spool_init counts what is there. */
START_TEST(test_usage_after_restart)
{
	char err[256];
	json_t *payload = big_result(5000, 'a');
	struct spool_usage u;

	ck_assert_int_eq(spool_put_result("t9-a", "http://h/n", payload, err, sizeof(err)), 0);
	ck_assert_int_eq(spool_put_result("t9-b", "http://h/n", payload, err, sizeof(err)), 0);
	ck_assert_int_eq(spool_bury("t9-b"), 0);
	spool_fini();
	ck_assert_int_eq(spool_init(dir, err, sizeof(err)), 0);
	spool_usage(&u);
	ck_assert_uint_eq(u.pending, 1);
	ck_assert_uint_eq(u.dead, 1);
	ck_assert_uint_gt(u.pending_bytes, 5000);
	ck_assert_uint_eq(u.pending_bytes, u.dead_bytes);
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
	tcase_add_test(tc, test_recover_reruns_once);
	tcase_add_test(tc, test_recover_rerun_keeps_layers);
	tcase_add_test(tc, test_fit_result_escaped);
	tcase_add_test(tc, test_fit_result_utf8_and_many);
	tcase_add_test(tc, test_dead_retention);
	tcase_add_test(tc, test_spool_full);
	tcase_add_test(tc, test_usage_after_restart);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
