/*
 * jail_test.c: the jail of the UML process (sandbox/jail.c,
 * sandbox/host_filter.c, sandbox/uid_slot.c), seen from outside and from
 * inside, with two instances running at once.
 *
 * Instance A is the real build/sandbox-run with a real UML guest whose
 * task sleeps. While it runs, its linux.uml processes are looked at from
 * the host: Seccomp 2 and no_new_privs in /proc/PID/status, a uid of the
 * slot range that no other instance has, and a root that is not the
 * host's. Then instance B, build/tests/sandbox-run-test (the same sources
 * built with SANDBOX_TEST_HOOKS), runs tests/jail/hostile.c in place of
 * linux.uml, in the same jail, told A's work dir and UML pid; every
 * attempt it reports must have been refused, and its controls must have
 * worked. Needs root (the jail is made only then) and the images.
 *
 *   jail_test BUILD_DIR
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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

#define MAX_PIDS 64

static const char *build;
static char tmp[PATH_MAX], a_work[PATH_MAX + 300];
static pid_t a_runner = -1;

/* What was seen of A's linux.uml processes while its task ran. */
static struct {
	int n;
	pid_t pid[MAX_PIDS];
	char status[MAX_PIDS][4096];
	int root_is_host[MAX_PIDS];	/* stat(/proc/PID/root) == stat(/) */
	int sees_passwd[MAX_PIDS];	/* /proc/PID/root/etc/passwd exists */
	char ram_mount[1024];		/* the guest RAM tmpfs's mountinfo line */
} a;
static json_t *b_result;
static const char *b_log = "";
static int a_alive_after_b;

static void stop_both(void);

/* Setup went wrong: nothing of instance A may outlive the test. */
static void __attribute__((noreturn)) setup_failed(void)
{
	stop_both();
	exit(1);
}

static char *slurp(const char *path, size_t max)
{
	char *buf = calloc(1, max + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;

	if (buf == NULL)
		abort();
	if (fd >= 0) {
		n = read_full(fd, buf, max);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0 || write_full(fd, text, strlen(text)) < 0 || close(fd) < 0) {
		perror(path);
		exit(1);
	}
}

/* The host pids of linux.uml processes whose command line names uml_dir=
 * below root (A's work root). */
static int find_uml(const char *root, pid_t *pids, int max)
{
	char needle[PATH_MAX + 16];
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	snprintf(needle, sizeof(needle), "uml_dir=%s/tmc-", root);
	while (d != NULL && (de = readdir(d)) != NULL && n < max) {
		char path[300], *cmd;
		uint64_t pid;

		if (parse_u64(de->d_name, 1, INT32_MAX, &pid) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		cmd = slurp(path, 8192);
		for (size_t i = 0; i < 8192 && (cmd[i] != '\0' || cmd[i + 1] != '\0'); i++)
			if (cmd[i] == '\0')
				cmd[i] = ' ';
		if (strstr(cmd, needle) != NULL)
			pids[n++] = (pid_t)pid;
		free(cmd);
	}
	if (d != NULL)
		closedir(d);
	return n;
}

static pid_t spawn(char **argv, const char *out, const char *errpath)
{
	pid_t pid = fork();

	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	return pid;
}

/* A's work dir: the one tmc-* dir below its work root. */
static void find_a_work(const char *root)
{
	DIR *d = opendir(root);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "tmc-", 4) == 0)
			snprintf(a_work, sizeof(a_work), "%s/%s", root, de->d_name);
	if (d != NULL)
		closedir(d);
}

static void look_at_a(void)
{
	struct stat host_root;

	if (stat("/", &host_root) < 0)
		abort();
	for (int i = 0; i < a.n; i++) {
		char path[PATH_MAX];
		struct stat st;
		char *s;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)a.pid[i]);
		s = slurp(path, sizeof(a.status[i]) - 1);
		snprintf(a.status[i], sizeof(a.status[i]), "%s", s);
		free(s);
		snprintf(path, sizeof(path), "/proc/%d/root/", (int)a.pid[i]);
		a.root_is_host[i] = stat(path, &st) == 0 && st.st_dev == host_root.st_dev &&
		    st.st_ino == host_root.st_ino;
		snprintf(path, sizeof(path), "/proc/%d/root/etc/passwd", (int)a.pid[i]);
		a.sees_passwd[i] = access(path, F_OK) == 0;
	}
	if (a.n > 0) {
		char path[PATH_MAX], want[PATH_MAX + 320], *s, *line;

		snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)a.pid[0]);
		snprintf(want, sizeof(want), " %s/ram ", a_work);
		s = slurp(path, 1 << 16);
		line = s != NULL ? strstr(s, want) : NULL;
		if (line != NULL) {
			while (line > s && line[-1] != '\n')
				line--;
			snprintf(a.ram_mount, sizeof(a.ram_mount), "%.*s", (int)strcspn(line, "\n"),
			    line);
		}
		free(s);
	}
}

static void start_both(void)
{
	char a_root[PATH_MAX + 8], b_root[PATH_MAX + 8], task[PATH_MAX + 16], run[PATH_MAX + 32];
	char prog_a[PATH_MAX], prog_b[PATH_MAX], hostile[PATH_MAX], out[PATH_MAX + 64];
	char err[PATH_MAX + 16], arg_work[PATH_MAX + 340], arg_pid[64], arg_spool[PATH_MAX + 16];
	json_error_t jerr;
	int st;

	snprintf(tmp, sizeof(tmp), "/tmp/jail_test-XXXXXX");
	if (mkdtemp(tmp) == NULL || chmod(tmp, 0711) < 0) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(a_root, sizeof(a_root), "%s/a", tmp);
	snprintf(b_root, sizeof(b_root), "%s/b", tmp);
	snprintf(task, sizeof(task), "%s/task", tmp);
	if (mkdir(a_root, 0711) < 0 || mkdir(b_root, 0711) < 0 || mkdir(task, 0755) < 0)
		abort();
	snprintf(run, sizeof(run), "%s/tmc-run", task);
	write_file(run, "#!/bin/sh\nsleep 120\n", 0755);
	snprintf(prog_a, sizeof(prog_a), "%s/sandbox-run", build);
	snprintf(prog_b, sizeof(prog_b), "%s/tests/sandbox-run-test", build);
	snprintf(hostile, sizeof(hostile), "%s/tests/jail-hostile", build);

	snprintf(out, sizeof(out), "%s/a.json", tmp);
	snprintf(err, sizeof(err), "%s/a.err", tmp);
	{
		char *argv[] = { prog_a, "--images", (char *)build, "--work-root", a_root,
			"--timeout", "180", "--compact", task, NULL };

		a_runner = spawn(argv, out, err);
	}
	/* A's guest is up once its UML exists; its task then sleeps. */
	for (int tries = 0; tries < 1200 && a.n == 0; tries++) {
		usleep(100 * 1000);
		a.n = find_uml(a_root, a.pid, MAX_PIDS);
		if (waitpid(a_runner, &st, WNOHANG) == a_runner) {
			fprintf(stderr, "jail_test: instance A ended early:\n%s\n", slurp(err, 4096));
			a_runner = -1;
			setup_failed();
		}
	}
	if (a.n == 0) {
		fprintf(stderr, "jail_test: instance A's linux.uml did not show up\n");
		setup_failed();
	}
	sleep(1);	/* past the exec of every helper */
	a.n = find_uml(a_root, a.pid, MAX_PIDS);
	find_a_work(a_root);
	look_at_a();

	snprintf(err, sizeof(err), "%s/b.err", tmp);
	snprintf(arg_work, sizeof(arg_work), "other_work=%s", a_work);
	snprintf(arg_pid, sizeof(arg_pid), "other_pid=%d", (int)a.pid[0]);
	/* A spool-like host dir with a result in it, next to both work roots. */
	snprintf(arg_spool, sizeof(arg_spool), "%s/spool", tmp);
	if (mkdir(arg_spool, 0755) < 0)
		setup_failed();
	snprintf(out, sizeof(out), "%s/spool/result.json", tmp);
	write_file(out, "{\"status\":\"finished\"}\n", 0644);
	snprintf(out, sizeof(out), "%s/b.json", tmp);
	snprintf(arg_spool, sizeof(arg_spool), "spool=%s/spool", tmp);
	{
		char *argv[] = { prog_b, "--images", (char *)build, "--work-root", b_root,
			"--memory", "64M", "--nproc", "64", "--timeout", "120", "--compact",
			"--exec-instead", hostile, "--exec-arg", arg_work, "--exec-arg", arg_pid,
			"--exec-arg", arg_spool, task, NULL };
		pid_t b = spawn(argv, out, err);

		while (waitpid(b, &st, 0) < 0 && errno == EINTR)
			;
	}
	b_result = json_load_file(out, 0, &jerr);
	if (b_result == NULL) {
		fprintf(stderr, "jail_test: instance B gave no result (%s):\n%s\n", jerr.text,
		    slurp(err, 8192));
		setup_failed();
	}
	b_log = json_string_value(json_object_get(b_result, "vm_log"));
	if (b_log == NULL)
		b_log = "";
	a_alive_after_b = kill(a.pid[0], 0) == 0;
}

static void stop_both(void)
{
	pid_t left[MAX_PIDS];
	char a_root[PATH_MAX + 8];

	/* A's init dies with its parent (parent-death SIGKILL), and with it
	 * the whole pid namespace. */
	if (a_runner > 0) {
		kill(a_runner, SIGKILL);
		waitpid(a_runner, NULL, 0);
	}
	snprintf(a_root, sizeof(a_root), "%s/a", tmp);
	for (int tries = 0; tries < 100 && find_uml(a_root, left, MAX_PIDS) > 0; tries++)
		usleep(100 * 1000);
	if (find_uml(a_root, left, MAX_PIDS) > 0)
		fprintf(stderr, "jail_test: instance A's UML survived its runner\n");
	json_decref(b_result);
	rm_rf(tmp);
}

/* "Uid:\tR\tE\tS\tF": the four must agree; returns R or -1. */
static long status_uid(const char *status)
{
	const char *p = strstr(status, "Uid:");
	long r, e, s, f;

	if (p == NULL || sscanf(p, "Uid: %ld %ld %ld %ld", &r, &e, &s, &f) != 4 || r != e ||
	    r != s || r != f)
		return -1;
	return r;
}

START_TEST(test_uml_seccomp)
{
	ck_assert_int_gt(a.n, 0);
	for (int i = 0; i < a.n; i++) {
		ck_assert_msg(strstr(a.status[i], "Seccomp:\t2\n") != NULL,
		    "pid %d: no host filter:\n%s", (int)a.pid[i], a.status[i]);
		ck_assert_msg(strstr(a.status[i], "NoNewPrivs:\t1\n") != NULL, "pid %d: no NNP",
		    (int)a.pid[i]);
	}
}
END_TEST

START_TEST(test_uml_uid)
{
	long uid0 = status_uid(a.status[0]), b_uid = -1;
	const char *p = strstr(b_log, "hostile: id Uid:");

	ck_assert_msg(uid0 >= 60600 && uid0 <= 61111, "UML uid %ld outside the slot range", uid0);
	for (int i = 0; i < a.n; i++)
		ck_assert_int_eq(status_uid(a.status[i]), uid0);
	ck_assert_msg(p != NULL, "instance B printed no uid");
	b_uid = status_uid(p + strlen("hostile: id "));
	ck_assert_msg(b_uid >= 60600 && b_uid <= 61111, "B's uid %ld outside the slot range", b_uid);
	ck_assert_msg(b_uid != uid0, "both instances run as uid %ld", uid0);
}
END_TEST

START_TEST(test_uml_root)
{
	for (int i = 0; i < a.n; i++) {
		ck_assert_msg(!a.root_is_host[i], "pid %d: its root is the host's /", (int)a.pid[i]);
		ck_assert_msg(!a.sees_passwd[i], "pid %d: sees the host's /etc/passwd",
		    (int)a.pid[i]);
	}
}
END_TEST

/* The guest RAM is a tmpfs of its own in the jail, on huge pages where the
 * host's switch allows them (sandbox/huge_pages.c), and on 4 KiB pages
 * where it does not: a huge= the host refuses would fail the mount. */
START_TEST(test_uml_ram_tmpfs)
{
	ck_assert_msg(a.ram_mount[0] != '\0', "no tmpfs at %s/ram in the jail", a_work);
	ck_assert_msg(strstr(a.ram_mount, " - tmpfs ") != NULL, "RAM dir not a tmpfs: %s",
	    a.ram_mount);
	if (huge_pages_usable())
		ck_assert_msg(strstr(a.ram_mount, ",huge=always") != NULL,
		    "host allows huge pages, RAM tmpfs without them: %s", a.ram_mount);
	else
		ck_assert_msg(strstr(a.ram_mount, "huge=") == NULL,
		    "host refuses huge pages, RAM tmpfs asks for them: %s", a.ram_mount);
}
END_TEST

/* Every attempt of hostile.c, by the name it reports. */
static const char *const attempts[] = {
	"control: open own output.tar read-write",
	"control: AF_UNIX socketpair",
	"control: create a file in own work dir",
	"open other instance's work dir",
	"read other instance's runnable.tar",
	"write other instance's output.tar",
	"open other instance's /proc/PID/mem",
	"open /proc/1/mem (this namespace's init)",
	"signal other instance's UML",
	"ptrace other instance's UML",
	"ptrace this namespace's init",
	"read /etc/shadow",
	"read /etc/passwd",
	"list /home",
	"list /root",
	"read a result in the daemon's spool",
	"list /sys",
	"socket AF_INET",
	"socket AF_INET6",
	"socket AF_NETLINK",
	"socket AF_PACKET",
	"mount a tmpfs",
	"chroot",
	"setuid(0)",
	"unshare a user namespace",
	"clone into a user namespace",
	"create /evil",
	"mkdir /evil",
	"create in /proc",
	"write own runnable.tar",
	"write its own program image",
	"exceed the pids cap",
	"exceed the memory cap",
};

START_TEST(test_hostile_attempt)
{
	char want[256];

	snprintf(want, sizeof(want), "hostile: PASS %s: ", attempts[_i]);
	ck_assert_msg(strstr(b_log, want) != NULL, "not refused (or not run): %s\nvm log:\n%s",
	    attempts[_i], b_log);
}
END_TEST

START_TEST(test_hostile_complete)
{
	char want[64];

	snprintf(want, sizeof(want), "hostile: done %zu attempts, 0 holes",
	    sizeof(attempts) / sizeof(attempts[0]));
	ck_assert_msg(strstr(b_log, "hostile: FAIL") == NULL, "a hole:\n%s", b_log);
	ck_assert_msg(strstr(b_log, want) != NULL, "hostile did not finish:\n%s", b_log);
	ck_assert_msg(strstr(b_log, "hostile: id Seccomp:\t2") != NULL, "no filter in B");
	ck_assert_msg(a_alive_after_b, "instance A did not survive B");
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s = suite_create("jail");
	TCase *tc = tcase_create("two instances");
	SRunner *sr;
	int failed;

	if (argc != 2) {
		fprintf(stderr, "usage: jail_test BUILD_DIR\n");
		return 2;
	}
	build = argv[1];
	if (geteuid() != 0) {
		fprintf(stderr, "jail_test: needs root: the jail (namespaces, mounts, uid drop) "
		    "is made only then\n");
		return 1;
	}
	start_both();
	tcase_add_test(tc, test_uml_seccomp);
	tcase_add_test(tc, test_uml_uid);
	tcase_add_test(tc, test_uml_root);
	tcase_add_test(tc, test_uml_ram_tmpfs);
	tcase_add_loop_test(tc, test_hostile_attempt, 0, sizeof(attempts) / sizeof(attempts[0]));
	tcase_add_test(tc, test_hostile_complete);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	stop_both();
	return failed == 0 ? 0 : 1;
}
