/*
 * check_uid_slot.c: the uid slots (sandbox/uid_slot.c): a held slot is
 * never given out again until released or its holder dies, the uids follow
 * the documented range, and a lock dir others could write is refused.
 */
#define _GNU_SOURCE
#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/sandbox.h"

static char dir[PATH_MAX];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_uid_slot-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	rm_rf(dir);
}

START_TEST(test_range)
{
	struct uid_slot s;
	char err[256];

	ck_assert_int_eq(uid_slot_claim(dir, 17, 1, &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(s.slot, 17);
	ck_assert_uint_eq(s.uml_uid, 60634);
	ck_assert_uint_eq(s.unpack_uid, 60635);
	uid_slot_release(&s);
	ck_assert_int_eq(uid_slot_claim(dir, UID_SLOTS - 1, 1, &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(s.unpack_uid, 61111);
	uid_slot_release(&s);
	ck_assert_int_eq(uid_slot_claim(dir, UID_SLOTS, 1, &s, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "256 slots") != NULL, "%s", err);
}
END_TEST

START_TEST(test_held_is_not_shared)
{
	struct uid_slot a, b, c;
	char err[256];

	ck_assert_int_eq(uid_slot_claim(dir, 5, 1, &a, err, sizeof(err)), 0);
	/* Exact: refused while held. Any: the next free one. */
	ck_assert_int_eq(uid_slot_claim(dir, 5, 1, &b, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "held by another") != NULL, "%s", err);
	ck_assert_int_eq(uid_slot_claim(dir, 5, 0, &b, err, sizeof(err)), 0);
	ck_assert_uint_eq(b.slot, 6);
	ck_assert_uint_ne(b.uml_uid, a.uml_uid);
	ck_assert_uint_ne(b.uml_uid, a.unpack_uid);
	/* Released: free again. */
	uid_slot_release(&a);
	ck_assert_int_eq(uid_slot_claim(dir, 5, 1, &c, err, sizeof(err)), 0);
	uid_slot_release(&b);
	uid_slot_release(&c);
}
END_TEST

START_TEST(test_wraps)
{
	struct uid_slot a, b;
	char err[256];

	ck_assert_int_eq(uid_slot_claim(dir, UID_SLOTS - 1, 1, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(uid_slot_claim(dir, UID_SLOTS - 1, 0, &b, err, sizeof(err)), 0);
	ck_assert_uint_eq(b.slot, 0);
	uid_slot_release(&a);
	uid_slot_release(&b);
}
END_TEST

/* The kernel drops a dead holder's lock: no stale claims after a crash. */
START_TEST(test_dead_holder)
{
	struct uid_slot s;
	char err[256];
	int p[2], st;
	char c;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		struct uid_slot h;

		if (uid_slot_claim(dir, 9, 1, &h, err, sizeof(err)) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(uid_slot_claim(dir, 9, 1, &s, err, sizeof(err)), -1);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(uid_slot_claim(dir, 9, 1, &s, err, sizeof(err)), 0);
	uid_slot_release(&s);
}
END_TEST

START_TEST(test_open_lock_dir)
{
	struct uid_slot s;
	char err[256];

	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(uid_slot_claim(dir, 1, 1, &s, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "only it may write") != NULL, "%s", err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("uid_slot");
	TCase *tc = tcase_create("slots");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_range);
	tcase_add_test(tc, test_held_is_not_shared);
	tcase_add_test(tc, test_wraps);
	tcase_add_test(tc, test_dead_holder);
	tcase_add_test(tc, test_open_lock_dir);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
