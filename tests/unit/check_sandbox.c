/* check_sandbox.c: sandbox_run() end to end through the library, with the
 * real images: a finished task, a timeout that leaves no UML process, a
 * run from a worker thread with every signal blocked (as in sandboxd), and
 * the internal errors, and the launch in a chroot whose root is not a
 * mount point (needs root, no images). Needs build/linux.uml, initrd.img, rootfs.squashfs
 * (or $TMC_IMAGES); without them every case says so and is skipped. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_host.h"
#include "tests/lib/proc_scan.h"

static struct sandbox_images images;
static int have_images;
static char tmp[256];

/* A quick `make unit-test` may run before the images exist and says so;
 * under `make test` (TMC_REQUIRE_IMAGES=1) a missing image is a failure. */
static int skip_without_images(void)
{
	const char *require = getenv("TMC_REQUIRE_IMAGES");

	if (!have_images) {
		fprintf(stderr, "check_sandbox: SKIPPED: no UML images in %s (make images)\n",
		    getenv("TMC_IMAGES") ? getenv("TMC_IMAGES") : "build");
		ck_assert_msg(require == NULL || strcmp(require, "1") != 0,
		    "UML images are required here (TMC_REQUIRE_IMAGES=1) but missing");
	}
	return !have_images;
}

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_full(fd, text, strlen(text)), 0);
	close(fd);
}

/* A task dir with the given tmc-run, packed; returns the tar's path. */
static const char *make_task(const char *script)
{
	static char tar[512];
	char dir[512], err[256];

	snprintf(dir, sizeof(dir), "%s/task", tmp);
	ck_assert_int_eq(mkdir_p(dir, 0755), 0);
	write_file(dir, "tmc-run", script, 0755);
	snprintf(tar, sizeof(tar), "%s/runnable.tar", tmp);
	unlink(tar);
	ck_assert_msg(task_tar_from_dir(dir, tar, err, sizeof(err)) == 0, "%s", err);
	return tar;
}

static void config(struct sandbox_config *cfg, const char *work_root, unsigned timeout_s)
{
	sandbox_config_defaults(cfg);
	cfg->images = images;
	cfg->work_root = work_root;
	cfg->limits.timeout_s = timeout_s;
	cfg->limits.memory = 128u << 20;
	cfg->scout = 0;
}


static int dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n == 0;
}

static void setup(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(tmp, sizeof(tmp), "%s/check_sandbox-XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	chmod(tmp, 0755);	/* the UML user must reach the work dirs below */
}

static void teardown(void)
{
	rm_rf(tmp);
}

START_TEST(test_finished)
{
	struct sandbox_config cfg;
	json_t *r;
	char err[256], work_root[300];

	if (skip_without_images())
		return;
	snprintf(work_root, sizeof(work_root), "%s/work", tmp);
	config(&cfg, work_root, 60);
	ck_assert_msg(sandbox_run(&cfg, make_task("#!/bin/sh\necho hi > output.txt\necho out\n"),
	    &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "finished");
	ck_assert_str_eq(json_string_value(json_object_get(r, "exit_code")), "0");
	ck_assert_str_eq(json_string_value(json_object_get(r, "output")), "hi\n");
	ck_assert_str_eq(json_string_value(json_object_get(r, "stdout")), "out\n");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(r, "vm_log")),
	    "] tmc-init: run\n"));
	ck_assert(json_is_real(json_object_get(json_object_get(r, "time"), "boot")));
	json_decref(r);
	ck_assert_msg(dir_is_empty(work_root), "work dir left behind");
}
END_TEST

START_TEST(test_timeout_leaves_nothing)
{
	struct sandbox_config cfg;
	json_t *r;
	char err[256], work_root[300];
	double t0 = mono_now();

	if (skip_without_images())
		return;
	snprintf(work_root, sizeof(work_root), "%s/work", tmp);
	config(&cfg, work_root, 2);
	/* A task that forks helpers that ignore SIGTERM and a hung sleeper. */
	ck_assert_msg(sandbox_run(&cfg, make_task("#!/bin/sh\n"
	    "for i in 1 2 3 4; do (trap '' TERM HUP; sleep 1000) & done\nsleep 1000\n"),
	    &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_double_lt(mono_now() - t0, 10);
	ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "timeout");
	ck_assert_ptr_null(json_object_get(r, "exit_code"));
	ck_assert_ptr_null(json_object_get(r, "reason"));
	json_decref(r);
	ck_assert_int_eq(proc_count_cmdline(work_root), 0);
	ck_assert_msg(dir_is_empty(work_root), "work dir left behind");
}
END_TEST

struct thread_run {
	const struct sandbox_config *cfg;
	const char *tar;
	json_t *r;
	int rc;
	char err[256];
};

static void *run_in_thread(void *arg)
{
	struct thread_run *t = arg;

	t->rc = sandbox_run(t->cfg, t->tar, &t->r, t->err, sizeof(t->err));
	return NULL;
}

/* sandboxd's worker threads block signals and the daemon ignores SIGPIPE:
 * UML must still get its signals (the child resets both). */
START_TEST(test_worker_thread)
{
	struct sandbox_config cfg;
	struct thread_run t;
	sigset_t all, old;
	pthread_t th;
	char work_root[300];

	if (skip_without_images())
		return;
	snprintf(work_root, sizeof(work_root), "%s/work", tmp);
	config(&cfg, work_root, 60);
	memset(&t, 0, sizeof(t));
	t.cfg = &cfg;
	t.tar = make_task("#!/bin/sh\necho threaded > output.txt\n");
	signal(SIGPIPE, SIG_IGN);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ck_assert_int_eq(pthread_create(&th, NULL, run_in_thread, &t), 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	signal(SIGPIPE, SIG_DFL);
	ck_assert_msg(t.rc == 0, "%s", t.err);
	ck_assert_str_eq(json_string_value(json_object_get(t.r, "status")), "finished");
	ck_assert_str_eq(json_string_value(json_object_get(t.r, "output")), "threaded\n");
	json_decref(t.r);
}
END_TEST

/* No result at all: -1 and a reason, nothing left behind. */
START_TEST(test_internal_errors)
{
	struct sandbox_config cfg;
	json_t *r = NULL;
	char err[256] = "", work_root[300], notexec[300];

	if (skip_without_images())
		return;
	snprintf(work_root, sizeof(work_root), "%s/work", tmp);
	snprintf(notexec, sizeof(notexec), "%s/not-a-kernel", tmp);
	write_file(tmp, "not-a-kernel", "just text", 0644);
	config(&cfg, work_root, 10);
	cfg.images.kernel = "/nonexistent/linux.uml";
	ck_assert_int_eq(sandbox_run(&cfg, make_task("#!/bin/sh\n"), &r, err, sizeof(err)), -1);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(strstr(err, "kernel"));

	/* Refused before the clone: the jail binds the kernel's ELF
	 * interpreter and libraries, which a non-ELF file does not name. */
	cfg.images.kernel = notexec;
	ck_assert_int_eq(sandbox_run(&cfg, make_task("#!/bin/sh\n"), &r, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not-a-kernel: not a 64-bit ELF file") != NULL, "%s", err);

	cfg.images = images;
	ck_assert_int_eq(sandbox_run(&cfg, "/nonexistent.tar", &r, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent.tar"));
	ck_assert(dir_is_empty(work_root));
}
END_TEST

/* Runs in a child with a mount namespace of its own, chrooted into a dir
 * that is not a mount point (as a plain Debian chroot is): the launch must
 * fail before exec and say why. Exits 0 when it did. */
static void __attribute__((noreturn)) spawn_in_chroot(const char *jail)
{
	const int no_cgroup[2] = { -1, -1 };
	struct uml_launch l = {
		.kernel = "/linux.uml", .initrd = "/initrd.img", .rootfs = "/rootfs.squashfs",
		.runnable = "/work/runnable.tar", .output = "/work/output.tar", .work_dir = "/work",
		.tmp_dir = "/work/ram", .memory = 64u << 20, .nproc_rlimit = 64, .guest_nproc = 32,
		.namespaces = 1, .cgroup_fds = no_cgroup,
		.console_fd = -1, .ssl_in_fd = -1, .ssl_out_fd = -1,
	};
	struct uml_proc p;
	char dev[512], null[520], kernel[520], work[520], stand_in[PATH_MAX], err[256] = "";
	int fd, kfd;

	/* uml_spawn opens /dev/null before the clone, and reads the kernel's
	 * ELF headers for the jail: a static program of the build stands in
	 * (it never runs: the launch fails before exec). */
	snprintf(dev, sizeof(dev), "%s/dev", jail);
	snprintf(null, sizeof(null), "%s/null", dev);
	snprintf(kernel, sizeof(kernel), "%s/linux.uml", jail);
	snprintf(work, sizeof(work), "%s/work", jail);
	snprintf(stand_in, sizeof(stand_in), "%s", images.kernel);
	snprintf(strrchr(stand_in, '/'), sizeof(stand_in) - (size_t)(strrchr(stand_in, '/') -
	    stand_in), "/init");
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mkdir_p(dev, 0755) < 0 || mkdir_p(work, 0755) < 0 ||
	    (fd = open(null, O_CREAT | O_WRONLY, 0644)) < 0 ||
	    close(fd) < 0 || mount("/dev/null", null, NULL, MS_BIND, NULL) < 0 ||
	    (kfd = open(kernel, O_CREAT | O_WRONLY, 0755)) < 0 || close(kfd) < 0 ||
	    mount(stand_in, kernel, NULL, MS_BIND, NULL) < 0 ||
	    chroot(jail) < 0 || chdir("/") < 0) {
		perror("check_sandbox: chroot setup");
		_exit(2);
	}
	if (uml_spawn(&l, &p, err, sizeof(err)) == 0) {
		fprintf(stderr, "check_sandbox: UML started in a chroot without a mounted root\n");
		uml_kill(&p);
		uml_reap(&p, NULL);
		_exit(1);
	}
	if (strstr(err, "/ is not a mount point") == NULL) {
		fprintf(stderr, "check_sandbox: unhelpful error: %s\n", err);
		_exit(1);
	}
	_exit(0);
}

START_TEST(test_chroot_root_not_mounted)
{
	char jail[300];
	pid_t pid;
	int st;

	if (geteuid() != 0) {
		fprintf(stderr, "check_sandbox: SKIPPED: the chroot case needs root "
		    "(mount namespace, chroot)\n");
		return;
	}
	snprintf(jail, sizeof(jail), "%s/jail", tmp);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		spawn_in_chroot(jail);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "chroot case: status 0x%x", st);
}
END_TEST

static Suite *sandbox_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("uml");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_finished);
	tcase_add_test(tc, test_timeout_leaves_nothing);
	tcase_add_test(tc, test_worker_thread);
	tcase_add_test(tc, test_internal_errors);
	tcase_add_test(tc, test_chroot_root_not_mounted);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *dir = getenv("TMC_IMAGES") ? getenv("TMC_IMAGES") : "build";
	char err[256];
	SRunner *sr;
	int failed;

	have_images = sandbox_images_find(&images, dir, err, sizeof(err)) == 0;
	sr = srunner_create(sandbox_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	sandbox_images_free(&images);
	return failed == 0 ? 0 : 1;
}
