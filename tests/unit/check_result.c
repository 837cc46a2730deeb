/* check_result.c: sandbox/result.c maps what a run left behind to status,
 * reason, exit_code and the other result keys (DESIGN section 4). */
#define _GNU_SOURCE
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "sandbox/sandbox_host.h"

static const struct rcase {
	const char *what;
	const char *meta;	/* NULL: no meta.txt */
	int timed_out;
	long host_oom;
	int no_output;		/* output.tar unreadable */
	const char *status;
	const char *reason;	/* NULL: no reason key */
	const char *exit_code;	/* NULL: no exit_code key */
} cases[] = {
	{ "exit 0", "version=1\nexit_code=0\n", 0, 0, 0, "finished", NULL, "0" },
	{ "exit 42", "version=1\nexit_code=42\n", 0, 0, 0, "failed", "exit", "42" },
	{ "exit 101", "version=1\nexit_code=101\n", 0, 0, 0, "failed", "exit", "101" },
	{ "signal", "version=1\nsignal=11\n", 0, 0, 0, "failed", "exit", "139" },
	{ "signal oom", "version=1\nsignal=9\noom=1\n", 0, 0, 0, "failed", "oom", "137" },
	{ "137 after oom", "version=1\nexit_code=137\noom=1\n", 0, 0, 0, "failed", "oom", "137" },
	{ "exit 0 despite oom", "version=1\nexit_code=0\noom=1\n", 0, 0, 0, "finished", NULL, "0" },
	{ "output full", "version=1\nexit_code=0\noutput_full=1\n", 0, 0, 0, "failed",
	  "output_limit", "0" },
	{ "tmc-init error", "version=1\nerror=untar failed\n", 0, 0, 0, "failed", "crash", NULL },
	{ "meta without exit", "version=1\n", 0, 0, 0, "failed", "crash", NULL },
	{ "bad meta", "version=1\nexit_code=abc\n", 0, 0, 0, "failed", "crash", NULL },
	{ "no meta", NULL, 0, 0, 0, "failed", "crash", NULL },
	{ "no meta, host oom", NULL, 0, 1, 0, "failed", "oom", NULL },
	{ "unreadable output", NULL, 0, -1, 1, "failed", "crash", NULL },
	{ "timeout", NULL, 1, 0, 0, "timeout", NULL, NULL },
	{ "timeout wins over meta", "version=1\nexit_code=0\n", 1, 0, 0, "timeout", NULL, NULL },
};

static void set_file(struct output_set *set, const char *name, const char *data, int truncated)
{
	struct output_file *f = &set->files[set->count++];

	snprintf(f->name, sizeof(f->name), "%s", name);
	f->data = strdup(data);
	f->len = strlen(data);
	f->truncated = truncated;
}

/* What a guest that wrote meta.txt (NULL: none) left in output.tar. */
static void set_meta(struct output_set *set, const char *meta)
{
	memset(set, 0, sizeof(*set));
	if (meta != NULL)
		set_file(set, "meta.txt", meta, 0);
}

static const char *str(json_t *r, const char *key)
{
	return json_string_value(json_object_get(r, key));
}

/* A run reaped total seconds after launch, its notes stamped at 1, its
 * memory peak unknown; out NULL: output.tar was unreadable. */
static void input_init(struct result_input *in, const struct output_set *out, struct vmlog *log, double total)
{
	memset(in, 0, sizeof(*in));
	in->out = out;
	in->log = log;
	in->log_now = 1;
	in->total = total;
	in->memory_peak = -1;
}

START_TEST(test_mapping)
{
	const struct rcase *c = &cases[_i];
	struct output_set set;
	struct result_input in;
	struct vmlog *log = vmlog_new(1 << 16, 0);
	char err[128];
	json_t *r;

	set_meta(&set, c->meta);
	set_file(&set, "output.txt", "out\xff", 0);
	input_init(&in, c->no_output ? NULL : &set, log, 1.5);
	in.timed_out = c->timed_out;
	in.timeout_s = 3;
	in.host_oom_kills = c->host_oom;
	r = result_build(&in, err, sizeof(err));
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(strcmp(str(r, "status"), c->status) == 0, "%s: status %s", c->what,
	    str(r, "status"));
	if (c->reason == NULL)
		ck_assert_msg(json_object_get(r, "reason") == NULL, "%s: reason %s", c->what,
		    str(r, "reason"));
	else
		ck_assert_msg(str(r, "reason") && strcmp(str(r, "reason"), c->reason) == 0,
		    "%s: reason %s", c->what, str(r, "reason"));
	if (c->exit_code == NULL)
		ck_assert_ptr_null(json_object_get(r, "exit_code"));
	else
		ck_assert_str_eq(str(r, "exit_code"), c->exit_code);
	/* Always present, "" when absent. */
	ck_assert_str_eq(str(r, "test_output"), "");
	ck_assert_str_eq(str(r, "valgrind"), "");
	ck_assert_str_eq(str(r, "output"), c->no_output ? "" : "out\xEF\xBF\xBD");
	ck_assert_ptr_nonnull(str(r, "vm_log"));
	ck_assert(json_is_real(json_object_get(json_object_get(r, "time"), "total")));
	ck_assert_ptr_null(json_object_get(r, "memory"));
	ck_assert_ptr_null(json_object_get(r, "truncated"));
	json_decref(r);
	output_set_free(&set);
	vmlog_free(log);
}
END_TEST

/* time from markers, truncated from both the host cap and meta.txt. */
START_TEST(test_time_and_truncated)
{
	struct output_set set;
	struct result_input in;
	struct vmlog *log = vmlog_new(1 << 16, 100);
	char err[128];
	json_t *r, *t, *tr;

	set_meta(&set, "version=1\nexit_code=0\ntruncated=stdout.txt\n");
	set_file(&set, "test_output.txt", "x", 1);
	set_file(&set, "stdout.txt", "y", 1);
	vmlog_feed(log, "tmc-init: start\ntmc-init: run\n", 30, 100.25);
	vmlog_feed(log, "tmc-init: exit 0\n", 17, 101.75);
	memset(&in, 0, sizeof(in));
	in.out = &set;
	in.log = log;
	in.log_now = 102;
	in.total = 2;
	in.memory_peak = 12345;
	in.host_oom_kills = 0;
	r = result_build(&in, err, sizeof(err));
	ck_assert_ptr_nonnull(r);
	t = json_object_get(r, "time");
	ck_assert_double_eq_tol(json_real_value(json_object_get(t, "boot")), 0.25, 1e-9);
	ck_assert_double_eq_tol(json_real_value(json_object_get(t, "run")), 1.5, 1e-9);
	ck_assert_double_eq_tol(json_real_value(json_object_get(t, "total")), 2, 1e-9);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "memory")), 12345);
	tr = json_object_get(r, "truncated");
	ck_assert_uint_eq(json_array_size(tr), 2);
	ck_assert_str_eq(json_string_value(json_array_get(tr, 0)), "test_output.txt");
	ck_assert_str_eq(json_string_value(json_array_get(tr, 1)), "stdout.txt");
	json_decref(r);
	output_set_free(&set);
	vmlog_free(log);
}
END_TEST

/* A guest that never reached tmc-init: boot and run are null, and the
 * vm log says why the result is what it is. */
START_TEST(test_no_boot)
{
	struct result_input in;
	struct vmlog *log = vmlog_new(1 << 16, 0);
	char err[128];
	json_t *r, *t;

	vmlog_feed(log, "Kernel panic - not syncing: VFS\n", 32, 0.5);
	input_init(&in, NULL, log, 1);
	in.host_oom_kills = -1;
	in.exit_status = 1 << 8;
	r = result_build(&in, err, sizeof(err));
	ck_assert_ptr_nonnull(r);
	t = json_object_get(r, "time");
	ck_assert(json_is_null(json_object_get(t, "boot")));
	ck_assert(json_is_null(json_object_get(t, "run")));
	ck_assert_str_eq(str(r, "reason"), "crash");
	ck_assert_ptr_nonnull(strstr(str(r, "vm_log"), "Kernel panic"));
	ck_assert_ptr_nonnull(strstr(str(r, "vm_log"), "sandbox: linux.uml exited with 1"));
	json_decref(r);
	vmlog_free(log);
}
END_TEST

/* Issue 9.6: a note cut inside a multibyte character (a 255-byte path in
 * tmc-init's error=, a hostile output.tar note) once made vm_log invalid
 * UTF-8, jansson refused it and the whole result became failed/internal.
 * Each row puts such text into one input; the result must still be the
 * real one (failed/crash), with a well-formed vm_log that keeps the start
 * of the note. */
#define AE2 "\xC3\xA4"
#define AE10 AE2 AE2 AE2 AE2 AE2 AE2 AE2 AE2 AE2 AE2
#define EU10 "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC" \
	"\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC"
#define AE120 AE10 AE10 AE10 AE10 AE10 AE10 AE10 AE10 AE10 AE10 AE10 AE10
static const struct {
	const char *what;
	const char *meta;
	const char *out_note;	/* NULL: output.tar was clean */
	const char *want;	/* in vm_log */
} hostile_notes[] = {
	{ "255-byte multibyte path in error=",
	  "version=1\nerror=create src/x" AE120 AE2 AE2 AE2 AE2 AE2 ": No such file or directory\n",
	  NULL, "tmc-init failed: create src/x" AE2 AE2 },
	{ "three-byte characters", "version=1\nerror=create " EU10 EU10 EU10 EU10 EU10 EU10 EU10 EU10 EU10 "\n",
	  NULL, "tmc-init failed: create \xE2\x82\xAC" },
	{ "raw invalid bytes in error=", "version=1\nerror=bad \xff\xfe name\n", NULL,
	  "tmc-init failed: bad \xEF\xBF\xBD" },
	{ "output.tar note cut mid-character", "version=1\nerror=x\n", "skipped " AE120 AE10 "\xC3",
	  "output.tar: skipped " AE2 },
};

static int valid_utf8(const char *s)
{
	return utf8_valid(s, strlen(s));
}

START_TEST(test_hostile_notes)
{
	struct output_set set;
	struct result_input in;
	struct vmlog *log = vmlog_new(1 << 16, 0);
	char err[128];
	json_t *r;

	set_meta(&set, hostile_notes[_i].meta);
	if (hostile_notes[_i].out_note != NULL) {
		set.malformed = 1;
		snprintf(set.note, sizeof(set.note), "%s", hostile_notes[_i].out_note);
	}
	input_init(&in, &set, log, 1);
	r = result_build(&in, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s: no result (%s)", hostile_notes[_i].what, err);
	ck_assert_str_eq(str(r, "status"), "failed");
	ck_assert_str_eq(str(r, "reason"), "crash");
	ck_assert_ptr_nonnull(str(r, "vm_log"));
	ck_assert(valid_utf8(str(r, "vm_log")));
	ck_assert_msg(strstr(str(r, "vm_log"), hostile_notes[_i].want) != NULL, "%s: vm_log %s",
	    hostile_notes[_i].what, str(r, "vm_log"));
	json_decref(r);
	output_set_free(&set);
	vmlog_free(log);
}
END_TEST

/* The host notes' reserve (2 KiB) filled by long multibyte notes: the cut
 * at the reserve's end must not split a character either. */
START_TEST(test_notes_reserve_cut)
{
	struct result_input in;
	struct vmlog *log = vmlog_new(1 << 16, 0);
	char err[128];
	json_t *r;

	for (int i = 0; i < 20; i++)
		vmlog_note(log, "x" AE120 AE2, 0.5);
	input_init(&in, NULL, log, 1);
	r = result_build(&in, err, sizeof(err));
	ck_assert_ptr_nonnull(r);
	ck_assert(valid_utf8(str(r, "vm_log")));
	ck_assert_ptr_nonnull(strstr(str(r, "vm_log"), "sandbox: x" AE2));
	json_decref(r);
	vmlog_free(log);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(sandbox_status_name(SANDBOX_FINISHED), "finished");
	ck_assert_str_eq(sandbox_status_name(SANDBOX_FAILED), "failed");
	ck_assert_str_eq(sandbox_status_name(SANDBOX_TIMEOUT), "timeout");
	ck_assert_str_eq(sandbox_reason_name(REASON_EXIT), "exit");
	ck_assert_str_eq(sandbox_reason_name(REASON_OOM), "oom");
	ck_assert_str_eq(sandbox_reason_name(REASON_OUTPUT_LIMIT), "output_limit");
	ck_assert_str_eq(sandbox_reason_name(REASON_CRASH), "crash");
	ck_assert_str_eq(sandbox_reason_name(REASON_INTERNAL), "internal");
}
END_TEST

static Suite *result_suite(void)
{
	Suite *s = suite_create("result");
	TCase *tc = tcase_create("result");

	tcase_add_loop_test(tc, test_mapping, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_time_and_truncated);
	tcase_add_test(tc, test_no_boot);
	tcase_add_test(tc, test_names);
	tcase_add_loop_test(tc, test_hostile_notes, 0, sizeof(hostile_notes) / sizeof(hostile_notes[0]));
	tcase_add_test(tc, test_notes_reserve_cut);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(result_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
