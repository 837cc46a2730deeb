/* check_crash_cause.c: sandbox/crash_cause.c names the root cause of a
 * guest's death in one printable line, never a consequence of it. */
#include <check.h>
#include <string.h>

#include "sandbox/sandbox.h"

static const struct {
	const char *name;
	const char *vm_log;
	const char *want;
} cases[] = {
	{ "amx host: the fp regs line beats the panic it causes",
	  "[0.010000] Linux version 6.12\n"
	  "[0.090000] userspace - ptrace set fp regs failed, errno = 14\n"
	  "[0.091000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\n",
	  "userspace - ptrace set fp regs failed, errno = 14" },
	{ "put_fp_registers",
	  "[1.5] ld: something\n[1.6] put_fp_registers returned -22\n[1.7] Kernel panic - x\n",
	  "put_fp_registers returned -22" },
	{ "panic alone",
	  "[0.1] booting\n[0.2] Kernel panic - not syncing: VFS: Unable to mount root fs\n[0.3] tail\n",
	  "Kernel panic - not syncing: VFS: Unable to mount root fs" },
	{ "sandbox note on the UML process",
	  "[0.001] starting\n[0.002] linux.uml exited with 1\n",
	  "linux.uml exited with 1" },
	{ "nothing telling: the last line with text",
	  "[0.1] one\n[0.2] two\n\n  \n",
	  "two" },
	{ "empty", "", "the vm log is empty" },
	{ "hostile bytes become ?",
	  "[0.1] Kernel panic \x1b[31mred\x07\xff\n",
	  "Kernel panic ?[31mred??" },
	{ "no stamp", "Kernel panic - plain", "Kernel panic - plain" },
};

START_TEST(test_cause)
{
	char out[256];

	ck_assert_str_eq(crash_cause(cases[_i].vm_log, out, sizeof(out)), cases[_i].want);
}
END_TEST

START_TEST(test_cut_to_buffer)
{
	char out[8];

	crash_cause("[0.1] Kernel panic - a long line\n", out, sizeof(out));
	ck_assert_str_eq(out, "Kernel ");
	ck_assert_str_eq(crash_cause(NULL, out, sizeof(out)), "the vm ");
}
END_TEST

static Suite *crash_cause_suite(void)
{
	Suite *s = suite_create("crash_cause");
	TCase *tc = tcase_create("cause");

	tcase_add_loop_test(tc, test_cause, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_cut_to_buffer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(crash_cause_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
