/*
 * probe.c: one confinement check per run, executed under `carrier` by
 * run.sh. Exits 0 when the expectation holds, 1 (with a line on stderr)
 * when it does not; some checks are meant to die (int80: SIGSYS) or to
 * exit with a given status, which run.sh checks instead.
 *
 *   probe read PATH WANT            open(PATH) reads exactly WANT
 *   probe write PATH TEXT           create/truncate PATH, write, read back
 *   probe cwd DIR NAME WANT         chdir(DIR); open(NAME) reads WANT
 *   probe openat DIR NAME WANT      openat(open(DIR), NAME) reads WANT
 *   probe err OP PATH ERRNO         OP fails with ERRNO (EACCES, ...)
 *   probe ok OP PATH                OP succeeds
 *   probe readerr PATH ERRNO        open(PATH) succeeds, read fails with ERRNO
 *   probe pfn zero|nonzero          the PFN /proc/self/pagemap gives for a
 *                                   page of ours (present) is 0, or is not
 *   In PATH, %p is our pid, %t our tid, %o the tid of another thread of
 *   ours (started, sleeping, when %o is used).
 *   probe call NAME                 a refused syscall gets its errno
 *   probe int80 PATH                i386 open(PATH): must be killed
 *   probe x32                       an x32 syscall: must be killed
 *   probe fork DENIED OK WANT       children and grandchildren stay confined
 *   probe exit N | signal N         exit status propagation
 *   probe orphan PIDFILE            leave a sleeping child behind, exit 0
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <pthread.h>
#include <stdint.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <unistd.h>

static int fail(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "probe: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\n");
	return 1;
}

static int read_fd_is(int fd, const char *want, const char *what)
{
	char buf[4096];
	ssize_t n;

	if (fd < 0)
		return fail("open %s: %s", what, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return fail("read %s: %s", what, strerror(errno));
	buf[n] = '\0';
	if (strcmp(buf, want) != 0)
		return fail("%s holds \"%s\"", what, buf);
	return 0;
}

static const struct {
	const char *name;
	int value;
} errnos[] = {
	{ "EACCES", EACCES }, { "EPERM", EPERM }, { "ENOENT", ENOENT }, { "ENOSYS", ENOSYS },
	{ "ELOOP", ELOOP }, { "EEXIST", EEXIST }, { "ENOTDIR", ENOTDIR }, { "EBADF", EBADF },
};

static int errno_value(const char *name)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (strcmp(errnos[i].name, name) == 0)
			return errnos[i].value;
	fprintf(stderr, "probe: unknown errno %s\n", name);
	exit(2);
}

/* Returns -1 with errno from the operation, or >= 0. */
static long do_op(const char *op, const char *path)
{
	if (strcmp(op, "open-r") == 0)
		return open(path, O_RDONLY);
	if (strcmp(op, "open-w") == 0)
		return open(path, O_WRONLY);
	if (strcmp(op, "open-path") == 0)
		return open(path, O_PATH);
	if (strcmp(op, "creat") == 0)
		return creat(path, 0644);
	if (strcmp(op, "mkdir") == 0)
		return mkdir(path, 0755);
	if (strcmp(op, "rmdir") == 0)
		return rmdir(path);
	if (strcmp(op, "unlink") == 0)
		return unlink(path);
	if (strcmp(op, "chmod") == 0)
		return chmod(path, 0777);
	if (strcmp(op, "truncate") == 0)
		return truncate(path, 0);
	if (strcmp(op, "symlink") == 0)
		return symlink("/etc/passwd", path);
	if (strcmp(op, "link") == 0)
		return link(path, "/tmp/probe-link-never");
	if (strcmp(op, "rename") == 0)
		return rename(path, "/tmp/probe-rename-never");
	if (strcmp(op, "exec") == 0) {
		char *argv[] = { (char *)path, NULL };

		return execve(path, argv, (char *[]){ NULL });
	}
	if (strcmp(op, "fexec") == 0) {
		char *argv[] = { (char *)path, NULL };
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			return -1;
		return syscall(SYS_execveat, fd, "", argv, (char *[]){ NULL }, AT_EMPTY_PATH);
	}
	if (strcmp(op, "openat2") == 0) {
		struct open_how how = { .flags = O_RDONLY };

		return syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	}
	fprintf(stderr, "probe: unknown op %s\n", op);
	exit(2);
}

static int expect_errno(long rc, int want, const char *what)
{
	if (rc >= 0)
		return fail("%s succeeded%s", what, "");
	if (errno != want)
		return fail("%s: wrong errno: %s", what, strerror(errno));
	return 0;
}

static int refused_call(const char *name)
{
	long rc;

	if (strcmp(name, "io_uring_setup") == 0) {
		char params[120] = { 0 };

		rc = syscall(SYS_io_uring_setup, 4, params);
		return expect_errno(rc, EPERM, name);
	}
	if (strcmp(name, "ptrace") == 0)
		return expect_errno(ptrace(PTRACE_ATTACH, getppid(), 0, 0), EPERM, name);
	if (strcmp(name, "ptrace_traceme") == 0)
		return expect_errno(ptrace(PTRACE_TRACEME, 0, 0, 0), EPERM, name);
	if (strcmp(name, "mount") == 0)
		return expect_errno(mount("none", "/tmp", "tmpfs", 0, NULL), EPERM, name);
	if (strcmp(name, "unshare_user") == 0)
		return expect_errno(unshare(CLONE_NEWUSER), EPERM, name);
	if (strcmp(name, "clone_newns") == 0) {
		rc = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
		if (rc == 0)
			_exit(0);
		return expect_errno(rc, EPERM, name);
	}
	if (strcmp(name, "clone3") == 0)
		return expect_errno(syscall(SYS_clone3, NULL, 0), ENOSYS, name);
	if (strcmp(name, "socket_inet") == 0)
		return expect_errno(socket(AF_INET, SOCK_STREAM, 0), EACCES, name);
	if (strcmp(name, "socket_inet6") == 0)
		return expect_errno(socket(AF_INET6, SOCK_DGRAM, 0), EACCES, name);
	if (strcmp(name, "socket_netlink") == 0)
		return expect_errno(socket(AF_NETLINK, SOCK_RAW, 0), EACCES, name);
	if (strcmp(name, "socketpair_unix") == 0) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			return fail("socketpair(AF_UNIX): %s%s", strerror(errno), "");
		return 0;
	}
	if (strcmp(name, "process_vm_readv") == 0) {
		char buf[8];
		struct iovec l = { buf, sizeof(buf) }, r = { buf, sizeof(buf) };

		return expect_errno(process_vm_readv(getpid(), &l, 1, &r, 1, 0), EPERM, name);
	}
	if (strcmp(name, "personality") == 0)
		return expect_errno(personality(ADDR_NO_RANDOMIZE), EPERM, name);
	if (strcmp(name, "bpf") == 0)
		return expect_errno(syscall(SYS_bpf, 0, NULL, 0), EPERM, name);
	if (strcmp(name, "keyctl") == 0)
		return expect_errno(syscall(SYS_keyctl, 0, 0, 0, 0, 0), EPERM, name);
	if (strcmp(name, "chroot") == 0)
		return expect_errno(chroot("/tmp"), EPERM, name);
	if (strcmp(name, "mknod") == 0)
		return expect_errno(mknod("/tmp/probe-fifo", S_IFIFO | 0600, 0), EPERM, name);
	if (strcmp(name, "tiocsti") == 0) {
		char c = 'x';

		return expect_errno(ioctl(0, TIOCSTI, &c), EPERM, name);
	}
	if (strcmp(name, "seccomp_listener") == 0) {
		struct sock_filter f = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sock_fprog prog = { 1, &f };

		rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
		return expect_errno(rc, EPERM, name);
	}
	fprintf(stderr, "probe: unknown call %s\n", name);
	return 2;
}

/* i386 open(2) through int 0x80: nr 5, ebx = path (must be below 4 GiB). */
static int int80_open(const char *path)
{
	char *low = mmap((void *)0x10000, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	long ret;

	if (low == MAP_FAILED)
		return fail("mmap low: %s%s", strerror(errno), "");
	snprintf(low, 4096, "%s", path);
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(5), "b"(low), "c"(0), "d"(0) : "memory");
	return fail("int 0x80 open returned instead of killing (%s)%s", ret >= 0 ? "opened" : "error", "");
}

static void *idle_thread(void *arg)
{
	pid_t *tid = arg;

	__atomic_store_n(tid, gettid(), __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return NULL;
}

/* PATH with %p, %t and %o replaced (see the top). */
static const char *expand(const char *in)
{
	static char out[4096];
	static pid_t other;
	size_t o = 0;

	for (const char *p = in; *p != '\0' && o < sizeof(out) - 16; p++) {
		long v;

		if (p[0] != '%' || (p[1] != 'p' && p[1] != 't' && p[1] != 'o')) {
			out[o++] = *p;
			continue;
		}
		if (p[1] == 'o' && other == 0) {
			pthread_t th;

			if (pthread_create(&th, NULL, idle_thread, &other) != 0) {
				fprintf(stderr, "probe: pthread_create failed\n");
				exit(2);
			}
			while (__atomic_load_n(&other, __ATOMIC_SEQ_CST) == 0)
				usleep(1000);
		}
		v = p[1] == 'p' ? (long)getpid() : p[1] == 't' ? (long)gettid() : (long)other;
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%ld", v);
		p++;
	}
	out[o] = '\0';
	return out;
}

/* Reads our own pagemap entry for a page we just wrote: it must be present;
 * its PFN (bits 0-54) must be 0 (want_zero) or not. */
static int pfn_check(int want_zero)
{
	static volatile char page[8192] __attribute__((aligned(4096)));
	uint64_t e, pfn;
	long psz = sysconf(_SC_PAGESIZE);
	int fd = open("/proc/self/pagemap", O_RDONLY);

	page[0] = 1;
	if (fd < 0)
		return fail("open /proc/self/pagemap: %s%s", strerror(errno), "");
	if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)page / (uintptr_t)psz * sizeof(e))) != sizeof(e))
		return fail("read /proc/self/pagemap: %s%s", strerror(errno), "");
	close(fd);
	if (!(e >> 63))
		return fail("the page is not present: entry %s%s", "?", "");
	pfn = e & ((1ULL << 55) - 1);
	if ((pfn == 0) != want_zero) {
		fprintf(stderr, "probe: PFN 0x%llx, want %s\n", (unsigned long long)pfn,
		    want_zero ? "0" : "a real one");
		return 1;
	}
	return 0;
}

static int forked(const char *denied, const char *ok, const char *want, int depth)
{
	pid_t kids[3];
	int bad = 0;

	for (int i = 0; i < 3; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			return fail("fork: %s%s", strerror(errno), "");
		if (kids[i] == 0) {
			int rc = expect_errno(open(denied, O_RDONLY), EACCES, "child open") ||
			    read_fd_is(open(ok, O_RDONLY), want, ok);

			if (rc == 0 && depth > 0)
				rc = forked(denied, ok, want, depth - 1);
			_exit(rc);
		}
	}
	for (int i = 0; i < 3; i++) {
		int st;

		if (waitpid(kids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	}
	return bad;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (strcmp(argv[1], "read") == 0 && argc == 4)
		return read_fd_is(open(argv[2], O_RDONLY), argv[3], argv[2]);
	if (strcmp(argv[1], "write") == 0 && argc == 4) {
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd < 0)
			return fail("create %s: %s", argv[2], strerror(errno));
		if (write(fd, argv[3], strlen(argv[3])) != (ssize_t)strlen(argv[3]))
			return fail("write %s: %s", argv[2], strerror(errno));
		close(fd);
		return read_fd_is(open(argv[2], O_RDONLY), argv[3], argv[2]);
	}
	if (strcmp(argv[1], "cwd") == 0 && argc == 5) {
		if (chdir(argv[2]) < 0)
			return fail("chdir %s: %s", argv[2], strerror(errno));
		return read_fd_is(open(argv[3], O_RDONLY), argv[4], argv[3]);
	}
	if (strcmp(argv[1], "openat") == 0 && argc == 5) {
		int dfd = open(argv[2], O_RDONLY | O_DIRECTORY);

		if (dfd < 0)
			return fail("open dir %s: %s", argv[2], strerror(errno));
		if (chdir("/") < 0)
			return 1;
		return read_fd_is(openat(dfd, argv[3], O_RDONLY), argv[4], argv[3]);
	}
	/* pathread FILE WANT: an O_PATH fd, then its contents through
	 * /proc/self/fd/N (an open Scout resolves to FILE and judges again). */
	if (strcmp(argv[1], "pathread") == 0 && argc == 4) {
		char link[64];
		struct stat st;
		int fd = open(argv[2], O_PATH | O_CLOEXEC);

		if (fd < 0)
			return fail("O_PATH %s: %s", argv[2], strerror(errno));
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			return fail("fstat of the O_PATH fd of %s: %s", argv[2], "not a regular file");
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		return read_fd_is(open(link, O_RDONLY), argv[3], link);
	}
	/* pathat DIR NAME ERRNO: openat(O_PATH fd of DIR, NAME) fails so. */
	if (strcmp(argv[1], "pathat") == 0 && argc == 5) {
		int dfd = open(argv[2], O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (dfd < 0)
			return fail("O_PATH %s: %s", argv[2], strerror(errno));
		return expect_errno(openat(dfd, argv[3], O_RDONLY), errno_value(argv[4]), argv[3]);
	}
	if (strcmp(argv[1], "err") == 0 && argc == 5)
		return expect_errno(do_op(argv[2], expand(argv[3])), errno_value(argv[4]), expand(argv[3]));
	if (strcmp(argv[1], "ok") == 0 && argc == 4) {
		const char *path = expand(argv[3]);

		if (do_op(argv[2], path) < 0)
			return fail("%s: %s", path, strerror(errno));
		return 0;
	}
	if (strcmp(argv[1], "readerr") == 0 && argc == 4) {
		const char *path = expand(argv[2]);
		char buf[4096];
		int fd = open(path, O_RDONLY);

		if (fd < 0)
			return fail("open %s: %s", path, strerror(errno));
		return expect_errno(read(fd, buf, sizeof(buf)), errno_value(argv[3]), path);
	}
	if (strcmp(argv[1], "pfn") == 0 && argc == 3)
		return pfn_check(strcmp(argv[2], "zero") == 0);
	if (strcmp(argv[1], "call") == 0 && argc == 3)
		return refused_call(argv[2]);
	if (strcmp(argv[1], "int80") == 0 && argc == 3)
		return int80_open(argv[2]);
	if (strcmp(argv[1], "x32") == 0) {
		long r = syscall(0x40000000 | SYS_getpid);

		return fail("x32 getpid returned %s%s", r < 0 ? strerror(errno) : "a pid", "");
	}
	if (strcmp(argv[1], "fork") == 0 && argc == 5)
		return forked(argv[2], argv[3], argv[4], 1);
	if (strcmp(argv[1], "exit") == 0 && argc == 3)
		return atoi(argv[2]);
	if (strcmp(argv[1], "signal") == 0 && argc == 3) {
		signal(atoi(argv[2]), SIG_DFL);
		raise(atoi(argv[2]));
		return 1;
	}
	if (strcmp(argv[1], "orphan") == 0 && argc == 3) {
		pid_t p = fork();

		if (p == 0) {
			setsid();
			sleep(60);
			_exit(0);
		}
		FILE *f = fopen(argv[2], "w");

		if (f == NULL)
			return fail("%s: %s", argv[2], strerror(errno));
		fprintf(f, "%d\n", (int)p);
		fclose(f);
		return 0;
	}
	if (strcmp(argv[1], "sleep") == 0 && argc == 3) {
		sleep((unsigned)atoi(argv[2]));
		return 0;
	}
	fprintf(stderr, "probe: bad arguments\n");
	return 2;
}
