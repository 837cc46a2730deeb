/* check_vmlog.c: sandbox/vmlog.c stamps, caps and finds markers in a
 * console stream that may be hostile. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox.h"

#define T0 1000.0

/* One feed sequence: chunks (NUL-separated is not possible, so each chunk
 * has its own length) arriving at given host times, and the transcript. */
static const struct {
	const char *name;
	struct { const char *s; size_t len; double t; } feed[4];
	const char *want;
} stamp_cases[] = {
	{ "one line", { { "hello\n", 6, 0.5 } }, "[0.500000] hello\n" },
	{ "crlf", { { "a\r\nb\r\n", 6, 1.25 } }, "[1.250000] a\n[1.250000] b\n" },
	{ "split line keeps first stamp",
	  { { "par", 3, 0.1 }, { "tial\n", 5, 0.9 } }, "[0.100000] partial\n" },
	{ "unterminated closed at the end", { { "tail", 4, 2.0 } }, "[2.000000] tail\n" },
	{ "NUL and bad UTF-8 replaced", { { "a\0b\xff\n", 5, 0 } },
	  "[0.000000] a\xEF\xBF\xBD" "b\xEF\xBF\xBD\n" },
	{ "empty line", { { "\n", 1, 3.000001 } }, "[3.000001] \n" },
	{ "time before launch clamps", { { "x\n", 2, -5 } }, "[0.000000] x\n" },
};

START_TEST(test_stamps)
{
	struct vmlog *log = vmlog_new(1 << 20, T0);

	for (int i = 0; i < 4 && stamp_cases[_i].feed[i].s != NULL; i++)
		vmlog_feed(log, stamp_cases[_i].feed[i].s, stamp_cases[_i].feed[i].len,
		    T0 + stamp_cases[_i].feed[i].t);
	ck_assert_msg(strcmp(vmlog_text(log), stamp_cases[_i].want) == 0, "%s: got \"%s\"",
	    stamp_cases[_i].name, vmlog_text(log));
	ck_assert_int_eq(vmlog_truncated(log), 0);
	vmlog_free(log);
}
END_TEST

/* Markers: first occurrence wins, prefix match, found after the cap. */
START_TEST(test_markers)
{
	struct vmlog *log = vmlog_new(100, T0);
	char arg[16];
	const char *text;

	vmlog_feed(log, "tmc-init: start\n", 16, T0 + 0.01);
	vmlog_feed(log, "noise noise noise noise noise noise noise noise noise noise\n", 60, T0 + 0.02);
	vmlog_feed(log, "tmc-init: run\n", 14, T0 + 0.05);
	vmlog_feed(log, "tmc-init: run\n", 14, T0 + 0.07);
	vmlog_feed(log, "tmc-init: exit 42\n", 18, T0 + 1.5);
	vmlog_feed(log, " tmc-init: poweroff\n", 20, T0 + 1.6);	/* not at line start */
	ck_assert_double_eq_tol(vmlog_marker_time(log, "tmc-init: start"), 0.01, 1e-9);
	ck_assert_double_eq_tol(vmlog_marker_time(log, "tmc-init: run"), 0.05, 1e-9);
	ck_assert_double_eq_tol(vmlog_marker_time(log, "tmc-init: exit"), 1.5, 1e-9);
	ck_assert_double_lt(vmlog_marker_time(log, "tmc-init: poweroff"), 0);
	ck_assert_int_eq(vmlog_marker_arg(log, "tmc-init: exit ", arg, sizeof(arg)), 0);
	ck_assert_str_eq(arg, "42");
	ck_assert_int_eq(vmlog_marker_arg(log, "tmc-init: nope", arg, sizeof(arg)), -1);
	text = vmlog_text(log);
	ck_assert_int_eq(vmlog_truncated(log), 1);
	ck_assert_uint_le(strlen(text), 100 + 128);
	ck_assert_ptr_nonnull(strstr(text, "[vm log truncated at 100 bytes"));
	vmlog_free(log);
}
END_TEST

/* Caps: whatever is fed, the transcript stays within the cap and says it
 * was cut; notes survive the cut. */
static const struct {
	uint64_t cap;
	size_t total;		/* bytes fed */
	size_t chunk;
	int newlines;		/* 0: one enormous line */
} cap_cases[] = {
	{ 64 * 1024, 10u << 20, 65536, 1 },
	{ 64 * 1024, 10u << 20, 65536, 0 },
	{ 16 * 1024, 1u << 20, 1, 1 },
	{ 1 << 20, 100 * 1024, 4093, 0 },	/* fits: not truncated */
};

START_TEST(test_caps)
{
	struct vmlog *log = vmlog_new(cap_cases[_i].cap, T0);
	char *chunk = malloc(cap_cases[_i].chunk);
	const char *text;
	size_t fed = 0, len;
	int expect_cut = cap_cases[_i].total > cap_cases[_i].cap / 2;

	for (size_t i = 0; i < cap_cases[_i].chunk; i++)
		chunk[i] = cap_cases[_i].newlines && i % 80 == 79 ? '\n' : (char)('a' + i % 26);
	if (cap_cases[_i].chunk == 1)
		chunk[0] = 'x';
	while (fed < cap_cases[_i].total) {
		vmlog_feed(log, chunk, cap_cases[_i].chunk, T0 + 1);
		if (cap_cases[_i].chunk == 1 && fed % 80 == 79)
			vmlog_feed(log, "\n", 1, T0 + 1);
		fed += cap_cases[_i].chunk;
	}
	vmlog_note(log, "timeout after 3 s: killed", T0 + 3);
	text = vmlog_text(log);
	len = strlen(text);
	ck_assert_uint_le(len, cap_cases[_i].cap);
	ck_assert_int_eq(vmlog_truncated(log), expect_cut);
	ck_assert_int_eq(strstr(text, "[vm log truncated") != NULL, expect_cut);
	ck_assert_ptr_nonnull(strstr(text, "sandbox: timeout after 3 s: killed\n"));
	/* No line longer than the split size plus its stamp. */
	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');

		ck_assert_ptr_nonnull(nl);
		ck_assert_uint_le((size_t)(nl - p), 4096 + 32);
		p = nl + 1;
	}
	free(chunk);
	vmlog_free(log);
}
END_TEST

/* Text can be taken, fed further and taken again. */
START_TEST(test_text_twice)
{
	struct vmlog *log = vmlog_new(4096, T0);

	vmlog_feed(log, "a", 1, T0);
	ck_assert_str_eq(vmlog_text(log), "[0.000000] a\n");
	vmlog_feed(log, "b\n", 2, T0 + 1);
	ck_assert_str_eq(vmlog_text(log), "[0.000000] a\n[1.000000] b\n");
	vmlog_free(log);
}
END_TEST

static Suite *vmlog_suite(void)
{
	Suite *s = suite_create("vmlog");
	TCase *tc = tcase_create("vmlog");

	tcase_add_loop_test(tc, test_stamps, 0, sizeof(stamp_cases) / sizeof(stamp_cases[0]));
	tcase_add_test(tc, test_markers);
	tcase_add_loop_test(tc, test_caps, 0, sizeof(cap_cases) / sizeof(cap_cases[0]));
	tcase_add_test(tc, test_text_twice);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(vmlog_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
