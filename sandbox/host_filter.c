/*
 * host_filter.c: the host seccomp allow-list of the UML process (ptrace
 * mode, seccomp=off). Inherited by everything UML starts: its helper
 * threads and the stub processes that hold guest address spaces. Guest
 * system calls never meet it: in ptrace mode each one stops in
 * PTRACE_SYSEMU, which the host handles before seccomp, and is emulated by
 * the UML kernel; what the stubs run on the host (mmap, munmap, mprotect
 * of the guest RAM file, the trap back to UML) is on the list.
 *
 * Why: the guest kernel is the main wall; this is the one behind it. A
 * guest that escaped into the UML process keeps only the calls UML itself
 * makes, measured (below), instead of the host kernel's whole surface.
 *
 * How the list was made: built with -DHOST_FILTER_MEASURE the default
 * action is SECCOMP_RET_LOG instead of EPERM, so every call off the list
 * is logged ("audit: type=1326 ... syscall=N") and allowed. With it,
 * `make e2e-test` (every case: C, Java/Maven, Python, fork bomb, memory
 * hog, timeouts, output flood, guest crash) and the hostile-program test
 * ran on UML 7.3 with no call logged but the ones listed as refused.
 *
 * Actions, per call (the comment of each group names the threat):
 *   ALLOW  what UML 7.3 in ptrace mode was measured to make.
 *   EPERM  the default, for everything not named: a path of UML not seen
 *          in the measurement fails softly (UML reports the error) instead
 *          of killing a guest; an escaped guest gains nothing.
 *   KILL   (the whole process) calls that UML never makes and that only an
 *          escape would try: their mere attempt ends the run.
 * A foreign architecture's call (int 0x80 from the UML process itself, an
 * x32 number) kills the process too.
 *
 * Built in the parent (libseccomp allocates); the child only installs the
 * exported BPF with one prctl, after no_new_privs.
 */
#define _GNU_SOURCE
#include "sandbox/jail.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef HOST_FILTER_MEASURE
#define HOST_FILTER_DEFAULT SCMP_ACT_LOG
#define HOST_FILTER_KILL SCMP_ACT_LOG
#else
#define HOST_FILTER_DEFAULT SCMP_ACT_ERRNO(EPERM)
#define HOST_FILTER_KILL SCMP_ACT_KILL_PROCESS
#endif

struct host_filter {
	struct sock_fprog prog;
};

/* What UML 7.3 makes, by purpose. */
static const char *const host_filter_allow[] = {
	/* files: its images, the work dir, the RAM file, pipes to the host */
	"read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev",
	"preadv2", "pwritev2", "lseek", "close", "close_range", "openat", "open",
	"fstat", "newfstatat", "statx", "stat", "lstat", "access", "faccessat",
	"faccessat2", "readlink", "readlinkat", "getcwd", "getdents64", "mkdir",
	"mkdirat", "unlink", "unlinkat", "rmdir", "fcntl", "ioctl", "dup", "dup2",
	"dup3", "pipe", "pipe2", "fsync", "fdatasync", "fallocate", "ftruncate",
	"sync_file_range", "umask", "fchmod", "memfd_create", "eventfd2", "eventfd",
	"statfs", "fstatfs", "signalfd4",
	/* memory: its own, and the guest RAM file mapped into the stubs */
	"mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "mincore",
	/* signals: SIGIO/SIGALRM drive the guest; SIGSTOP/SIGKILL the stubs */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend",
	"rt_sigtimedwait", "sigaltstack", "kill", "tkill", "tgkill", "restart_syscall",
	/* processes: a host process per guest address space, under ptrace */
	"ptrace", "wait4", "waitid", "fork", "vfork", "execve", "exit", "exit_group",
	"getpid", "gettid", "getppid", "getpgrp", "setsid", "setpgid", "getuid",
	"geteuid", "getgid", "getegid", "getresuid", "getresgid", "set_tid_address",
	"set_robust_list", "get_robust_list", "rseq", "arch_prctl", "prctl", "futex",
	"sched_yield", "sched_getaffinity", "getrlimit", "setrlimit", "prlimit64",
	"getrusage", "uname", "sysinfo", "times", "getrandom", "membarrier",
	/* time: the guest clock and its timer */
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday",
	"time", "timer_create", "timer_settime", "timer_gettime", "timer_delete",
	"timer_getoverrun", "setitimer", "getitimer", "alarm",
	/* waiting for host fds (console, serial line, ubd helper thread) */
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "poll", "ppoll", "select", "pselect6",
	/* on sockets it already has (the ubd thread's socketpair) */
	"sendmsg", "recvmsg", "sendto", "recvfrom", "shutdown", "getsockopt",
	"setsockopt",
};

/* Never made by UML; only an escape would: each kills the process. */
static const char *const host_filter_kill[] = {
	/* leave the jail or change what it sees */
	"mount", "umount2", "pivot_root", "chroot", "setns", "unshare",
	"mount_setattr", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
	"fspick", "open_by_handle_at", "name_to_handle_at",
	/* reach other processes' memory or kernel objects */
	"process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	/* large kernel attack surface an unprivileged process may still reach */
	"bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
	"io_uring_register", "keyctl", "add_key", "request_key",
	/* change identity (all would need privilege; asking is the tell) */
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
	"setgroups", "setfsuid", "setfsgid", "capset",
	/* the machine */
	"reboot", "kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "swapon", "swapoff", "acct", "quotactl", "syslog", "iopl",
	"ioperm",
};

static int host_filter_rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
    char *err, size_t errlen)
{
	int nr = seccomp_syscall_resolve_name(name);
	int rc;

	if (nr == __NR_SCMP_ERROR)
		return errbuf_set(err, errlen, "host filter: unknown syscall %s", name);
	if (action == HOST_FILTER_DEFAULT)	/* HOST_FILTER_MEASURE: all log */
		return 0;
	rc = seccomp_rule_add(ctx, action, nr, 0);
	if (rc < 0)
		return errbuf_set(err, errlen, "host filter: %s: %s", name, strerror(-rc));
	return 0;
}

static int host_filter_rules(scmp_filter_ctx ctx, char *err, size_t errlen)
{
	const uint64_t new_ns = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
	    CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWTIME;
	int rc = 0;

	for (size_t i = 0; i < sizeof(host_filter_allow) / sizeof(host_filter_allow[0]); i++)
		if (host_filter_rule(ctx, SCMP_ACT_ALLOW, host_filter_allow[i], err, errlen) < 0)
			return -1;
	for (size_t i = 0; i < sizeof(host_filter_kill) / sizeof(host_filter_kill[0]); i++)
		if (host_filter_rule(ctx, HOST_FILTER_KILL, host_filter_kill[i], err, errlen) < 0)
			return -1;
	/* Threads and stub processes, but no new namespace: an unprivileged
	 * CLONE_NEWUSER would make the escaped process root of a namespace
	 * of its own, with much of the kernel's surface that root reaches.
	 * clone3 passes its flags in memory, which a filter cannot read: it
	 * answers ENOSYS, and glibc then falls back to clone(2). */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, new_ns, 0));
	if (HOST_FILTER_KILL != HOST_FILTER_DEFAULT)
		rc |= seccomp_rule_add(ctx, HOST_FILTER_KILL, SCMP_SYS(clone), 1,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* 7.x starts each stub by execveat of its stub program from a memfd
	 * (AT_EMPTY_PATH); nothing else it runs by fd. */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(execveat), 1,
	    SCMP_A4(SCMP_CMP_EQ, AT_EMPTY_PATH));
	/* UML's main() asks for ADDR_NO_RANDOMIZE (and re-execs unless it is
	 * already set, see uml.c); nothing else: other personalities change
	 * how the host kernel treats the process (READ_IMPLIES_EXEC, ...). */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
	    SCMP_A0(SCMP_CMP_EQ, 0xffffffffu));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
	    SCMP_A0(SCMP_CMP_EQ, PER_LINUX | ADDR_NO_RANDOMIZE));
	/* Sockets: AF_UNIX only (the ubd helper thread's pairs). No other
	 * family: the net namespace has only lo, and an escape gets no socket
	 * of any other kind. Abstract AF_UNIX names belong to the net
	 * namespace, so no host daemon's abstract socket is reachable, and
	 * the jail holds no socket file. */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	if (rc != 0)
		return errbuf_set(err, errlen, "host filter: argument rules: %s", strerror(-rc));
	return 0;
}

/* libseccomp learns what the kernel supports by probing seccomp(2), which
 * a service's own system call filter may refuse (systemd's @system-service
 * answers EPERM): it then takes the kernel for one without
 * SECCOMP_RET_KILL_PROCESS and refuses that action ("bad-arch action",
 * measured under sandboxd@.service). The filter is installed with
 * prctl(2), not seccomp(2), for the same reason; a kernel without
 * KILL_PROCESS (before 4.14) refuses it there, and UML does not start. */
static pthread_once_t host_filter_api_once = PTHREAD_ONCE_INIT;

static void host_filter_api(void)
{
	if (seccomp_api_get() < 3)
		(void)seccomp_api_set(3);
}

struct host_filter *host_filter_new(char *err, size_t errlen)
{
	struct host_filter *f = NULL;
	scmp_filter_ctx ctx;
	struct sock_filter *insns = NULL;
	ssize_t size;
	int pfd[2] = { -1, -1 };

	pthread_once(&host_filter_api_once, host_filter_api);
	ctx = seccomp_init(HOST_FILTER_DEFAULT);
	if (ctx == NULL) {
		errbuf_set(err, errlen, "host filter: seccomp_init failed");
		return NULL;
	}
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0) {
		errbuf_set(err, errlen, "host filter: bad-arch action");
		goto out;
	}
	/* Every host system call of UML and its stubs runs this program (six
	 * per guest system call in ptrace mode): a binary search over the
	 * ~190 numbers instead of libseccomp's default linear chain. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0) {
		errbuf_set(err, errlen, "host filter: binary-tree optimization");
		goto out;
	}
	if (host_filter_rules(ctx, err, errlen) < 0)
		goto out;
	/* libseccomp 2.5 exports to an fd only: a pipe, which holds the
	 * largest possible program (BPF_MAXINSNS x 8 = 32 KiB) unread, and
	 * which any service's system call filter allows (memfd_create is not
	 * in every one). */
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		errbuf_set(err, errlen, "host filter: pipe: %s", strerror(errno));
		goto out;
	}
	if (seccomp_export_bpf(ctx, pfd[1]) < 0) {
		errbuf_set(err, errlen, "host filter: export failed");
		goto out;
	}
	close(pfd[1]);
	pfd[1] = -1;
	insns = malloc(BPF_MAXINSNS * sizeof(*insns) + 1);
	f = calloc(1, sizeof(*f));
	size = insns != NULL ? read_full(pfd[0], insns, BPF_MAXINSNS * sizeof(*insns) + 1) : -1;
	if (f == NULL || size <= 0 || size % sizeof(*insns) != 0 ||
	    (size_t)size > BPF_MAXINSNS * sizeof(*insns)) {
		errbuf_set(err, errlen, "host filter: out of memory or a bad export");
		free(insns);
		free(f);
		f = NULL;
		goto out;
	}
	f->prog.len = (unsigned short)(size / sizeof(*insns));
	f->prog.filter = insns;
out:
	for (int i = 0; i < 2; i++)
		if (pfd[i] >= 0)
			close(pfd[i]);
	seccomp_release(ctx);
	return f;
}

/* In the child, after no_new_privs, right before execve. */
int host_filter_install(const struct host_filter *f)
{
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &f->prog, 0, 0);
}

void host_filter_free(struct host_filter *f)
{
	if (f == NULL)
		return;
	free(f->prog.filter);
	free(f);
}
