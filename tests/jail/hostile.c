/*
 * hostile.c: what a guest that escaped into the UML process would try
 * first, run by build/tests/sandbox-run-test --exec-instead in place of
 * linux.uml, inside exactly the jail UML gets (jail.c, host_filter.c, the
 * uid drop, rlimits and cgroup of uml.c). Static: the jail holds no libc
 * for it.
 *
 * Each attempt runs in a child of its own, so that an attempt the host
 * filter answers with SIGSYS (kill) does not end the others. Prints one
 * line per attempt on its stdout (the run's console, so the vm log):
 *   hostile: PASS NAME: how it failed      (refused, as it must be)
 *   hostile: FAIL NAME: it succeeded       (a hole)
 * plus "hostile: id ..." lines and a last "hostile: done N attempts, M
 * holes" line; tests/jail/jail_test.c reads them from the result.
 * Controls (own output.tar, an AF_UNIX pair, writing in its work dir) must
 * succeed, so that "refused" is not just "nothing works".
 *
 *   hostile KEY=VALUE...   other_work= other_pid= spool= (a dir holding result.json)
 * Its own work dir is its cwd (uml.c starts UML there).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *other_work = "", *other_pid = "", *spool = "";
static char work[4096];
static int attempts, holes;

/* An attempt: returns 0 when it was refused (errno says how), 1 when it
 * succeeded. Runs in a child. */
typedef int (*attempt_fn)(const char *arg);

static void report(const char *name, int expect_ok, int status)
{
	const char *how;
	char buf[64];
	int ok;

	attempts++;
	if (WIFSIGNALED(status)) {
		snprintf(buf, sizeof(buf), "killed by signal %d", WTERMSIG(status));
		how = buf;
		ok = 0;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) < 200) {
		how = WEXITSTATUS(status) == 0 ? "succeeded" : strerror(WEXITSTATUS(status));
		ok = WEXITSTATUS(status) == 0;
	} else {
		how = "attempt broken";
		ok = -1;
	}
	if (ok == expect_ok) {
		printf("hostile: PASS %s: %s\n", name, how);
	} else {
		holes++;
		printf("hostile: FAIL %s: %s\n", name, how);
	}
	fflush(stdout);
}

/* Runs fn(arg) in a child; its exit status is 0 for success, else errno. */
static void try(const char *name, int expect_ok, attempt_fn fn, const char *arg)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		errno = 0;
		_exit(fn(arg) ? 0 : (errno > 0 && errno < 200 ? errno : 199));
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		st = 255 << 8;
	report(name, expect_ok, st);
}

static int open_read(const char *p) { return open(p, O_RDONLY) >= 0; }
static int open_rw(const char *p) { return open(p, O_RDWR) >= 0; }
static int open_dir(const char *p) { return open(p, O_RDONLY | O_DIRECTORY) >= 0; }
static int create_file(const char *p) { return open(p, O_WRONLY | O_CREAT | O_EXCL, 0600) >= 0; }
static int make_dir(const char *p) { return mkdir(p, 0700) == 0; }

static int sock(const char *fam)
{
	int f = strcmp(fam, "inet") == 0 ? AF_INET : strcmp(fam, "inet6") == 0 ? AF_INET6 :
	    strcmp(fam, "netlink") == 0 ? AF_NETLINK : strcmp(fam, "packet") == 0 ? AF_PACKET :
	    AF_UNIX;

	return socket(f, f == AF_PACKET ? SOCK_RAW : SOCK_DGRAM, 0) >= 0;
}

static int unix_pair(const char *unused)
{
	int sv[2];

	(void)unused;
	return socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0;
}

static int do_mount(const char *p) { return mount("tmpfs", p, "tmpfs", 0, NULL) == 0; }
static int do_chroot(const char *p) { return chroot(p) == 0; }
static int do_setuid(const char *unused) { (void)unused; return setuid(0) == 0; }
static int do_unshare(const char *unused) { (void)unused; return unshare(CLONE_NEWUSER) == 0; }

static int clone_userns(const char *unused)
{
	long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, NULL, NULL, 0);

	(void)unused;
	if (r == 0)
		_exit(0);
	return r > 0;
}

static int do_ptrace(const char *pid)
{
	return ptrace(PTRACE_ATTACH, (pid_t)strtol(pid, NULL, 10), NULL, NULL) == 0;
}

static int do_kill(const char *pid)
{
	return kill((pid_t)strtol(pid, NULL, 10), 0) == 0;
}

/* Processes until fork fails; the cap (pids.max / RLIMIT_NPROC) must stop
 * it. Succeeds (a hole) only if 4096 children came to be. */
static int fork_many(const char *unused)
{
	int n = 0;

	(void)unused;
	for (; n < 4096; n++) {
		pid_t p = fork();

		if (p == 0) {
			pause();
			_exit(0);
		}
		if (p < 0)
			break;
	}
	printf("hostile: forks before the cap: %d\n", n);
	fflush(stdout);
	kill(0, SIGKILL);	/* own process group: this child and its children */
	return n >= 4096;
}

/* Touches 2 GiB; the memory cap must kill it first. */
static int eat_memory(const char *unused)
{
	size_t len = (size_t)2 << 30;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)unused;
	if (p == MAP_FAILED)
		return 0;
	for (size_t i = 0; i < len; i += 4096)
		p[i] = 1;
	return 1;
}

static int own_group_fork_many(const char *arg)
{
	/* kill(0) in fork_many must not reach the parent: a group of its own. */
	if (setpgid(0, 0) < 0)
		return 0;
	return fork_many(arg);
}

static void path_of(char *out, size_t len, const char *dir, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static void show_ids(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL) {
		printf("hostile: id no /proc/self/status: %s\n", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Uid:", 4) == 0 || strncmp(line, "Seccomp:", 8) == 0 ||
		    strncmp(line, "NoNewPrivs:", 11) == 0)
			printf("hostile: id %s", line);
	fclose(f);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	char p1[4200];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strncmp(a, "other_work=", 11) == 0)
			other_work = a + 11;
		else if (strncmp(a, "other_pid=", 10) == 0)
			other_pid = a + 10;
		else if (strncmp(a, "spool=", 6) == 0)
			spool = a + 6;
	}
	if (getcwd(work, sizeof(work)) == NULL)
		snprintf(work, sizeof(work), "/nonexistent");
	setvbuf(stdout, NULL, _IOLBF, 0);
	show_ids();

	/* Controls: what UML itself needs must work. */
	path_of(p1, sizeof(p1), work, "output.tar");
	try("control: open own output.tar read-write", 1, open_rw, p1);
	try("control: AF_UNIX socketpair", 1, unix_pair, NULL);
	path_of(p1, sizeof(p1), work, "hostile-file");
	try("control: create a file in own work dir", 1, create_file, p1);

	/* Another running instance's work dir and files. */
	try("open other instance's work dir", 0, open_dir, other_work);
	path_of(p1, sizeof(p1), other_work, "runnable.tar");
	try("read other instance's runnable.tar", 0, open_read, p1);
	path_of(p1, sizeof(p1), other_work, "output.tar");
	try("write other instance's output.tar", 0, open_rw, p1);
	/* Its UML's memory, by the host pid and by this namespace's. */
	snprintf(p1, sizeof(p1), "/proc/%s/mem", other_pid);
	try("open other instance's /proc/PID/mem", 0, open_rw, p1);
	try("open /proc/1/mem (this namespace's init)", 0, open_rw, "/proc/1/mem");
	try("signal other instance's UML", 0, do_kill, other_pid);
	try("ptrace other instance's UML", 0, do_ptrace, other_pid);
	try("ptrace this namespace's init", 0, do_ptrace, "1");

	/* The host's files. */
	try("read /etc/shadow", 0, open_read, "/etc/shadow");
	try("read /etc/passwd", 0, open_read, "/etc/passwd");
	try("list /home", 0, open_dir, "/home");
	try("list /root", 0, open_dir, "/root");
	path_of(p1, sizeof(p1), spool, "result.json");
	try("read a result in the daemon's spool", 0, open_read, p1);
	try("list /sys", 0, open_dir, "/sys");

	/* The network and the kernel's wider surface. */
	try("socket AF_INET", 0, sock, "inet");
	try("socket AF_INET6", 0, sock, "inet6");
	try("socket AF_NETLINK", 0, sock, "netlink");
	try("socket AF_PACKET", 0, sock, "packet");
	try("mount a tmpfs", 0, do_mount, "/tmp");
	try("chroot", 0, do_chroot, "/");
	try("setuid(0)", 0, do_setuid, NULL);
	try("unshare a user namespace", 0, do_unshare, NULL);
	try("clone into a user namespace", 0, clone_userns, NULL);

	/* Writes outside its work dir. */
	try("create /evil", 0, create_file, "/evil");
	try("mkdir /evil", 0, make_dir, "/evil");
	try("create in /proc", 0, create_file, "/proc/evil");
	path_of(p1, sizeof(p1), work, "runnable.tar");
	try("write own runnable.tar", 0, open_rw, p1);
	try("write its own program image", 0, open_rw, argv[0]);

	/* Caps. */
	try("exceed the pids cap", 0, own_group_fork_many, NULL);
	try("exceed the memory cap", 0, eat_memory, NULL);

	printf("hostile: done %d attempts, %d holes\n", attempts, holes);
	fflush(stdout);
	return holes == 0 ? 0 : 1;
}
