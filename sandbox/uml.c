/*
 * uml.c: the UML kernel as a confined host process.
 * Owns: the kernel command line of the guest<->host contract (version 1,
 * sandbox/README.md), and the launch sequence, in this order:
 *   parent (runner thread): everything that allocates: argv, envp, paths;
 *   clone3 with a pidfd, and when root new pid/mount/net/ipc/uts
 *     namespaces: the child is pid 1 of its pid namespace, a minimal init
 *     whose only child is UML, so that killing it kills every UML helper;
 *   child, before exec (raw syscalls only, no malloc, no locks: the runner
 *     may be one thread of many): join the cgroup, own process group,
 *     private mounts and, with namespaces, the jail (jail.c: an empty root
 *     with only this run's files, the guest RAM tmpfs, a fresh /proc),
 *     rlimits, cwd, then drop to run_uid/run_gid with no supplementary
 *     groups, no_new_privs, parent-death SIGKILL, default signal state,
 *     fds 0..5 laid out and every other fd closed, the host seccomp
 *     allow-list (host_filter.c) as the very last step, execve.
 * A failing child step is reported over a close-on-exec pipe as (step,
 * errno), so the parent tells "UML did not start" apart from "UML ran".
 * Never: runs anything of the task's while privileged, leaves a stray
 * process behind when uml_kill + uml_reap have returned.
 */
#define _GNU_SOURCE
#include "sandbox/sandbox_host.h"
#include "sandbox/jail.h"
#include "common/log.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

#define MiB ((uint64_t)1024 * 1024)

/* The kernel's struct clone_args (linux/sched.h), version 0. */
struct uml_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static char *uml_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *uml_strf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

void uml_argv_free(char **argv)
{
	if (argv == NULL)
		return;
	for (char **p = argv; *p != NULL; p++)
		free(*p);
	free(argv);
}

/* The kernel command line of contract version 1; NULL-terminated, every
 * string allocated. Paths must not contain spaces or commas (UML splits
 * its options on them). */
char **uml_argv(const struct uml_launch *l, char *err, size_t errlen)
{
	const char *paths[] = { l->kernel, l->initrd, l->rootfs, l->runnable, l->output,
		l->work_dir };
	uint64_t mem_mib = (l->memory + MiB - 1) / MiB;
	uint64_t tmpfs = l->tmpfs ? l->tmpfs : l->memory / 2;
	char **argv;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (paths[i] == NULL || strpbrk(paths[i], " ,=\t\n") != NULL || paths[i][0] != '/') {
			errbuf_set(err, errlen, "uml: unusable path for the kernel command line: %s",
			    paths[i] ? paths[i] : "(none)");
			return NULL;
		}
	if (l->nlayers > SANDBOX_LAYERS_MAX) {
		errbuf_set(err, errlen, "uml: more than %d layers", SANDBOX_LAYERS_MAX);
		return NULL;
	}
	for (size_t i = 0; i < l->nlayers; i++) {
		const struct sandbox_layer *ly = &l->layers[i];

		if (ly->name == NULL || layer_name_check(ly->name, strlen(ly->name), err, errlen) < 0)
			return NULL;
		if (ly->path == NULL || ly->path[0] != '/' || strpbrk(ly->path, " ,=\t\n") != NULL) {
			errbuf_set(err, errlen, "uml: unusable layer path for the kernel command line: %s",
			    ly->path ? ly->path : "(none)");
			return NULL;
		}
	}
	/* The fixed arguments, tmc.preboot, tmc.layers, a ubd per layer, a
	 * bench's kernel_args, NULL. */
	argv = calloc(32 + l->nlayers, sizeof(*argv));
	if (argv == NULL) {
		errbuf_set(err, errlen, "uml: out of memory");
		return NULL;
	}
	argv[n++] = uml_strf("%s", l->kernel);
	argv[n++] = uml_strf("mem=%" PRIu64 "M", mem_mib);
	argv[n++] = uml_strf("initrd=%s", l->initrd);
	/* Only our initrd's /init may start the guest. Without this, a broken
	 * initrd made the kernel mount its default root (ubda, the rootfs) and
	 * run the rootfs's own init as root, which then waited for the
	 * timeout; a root that names no device panics at once instead. */
	argv[n++] = uml_strf("root=/dev/initrd-only");
	argv[n++] = uml_strf("ubdarc=%s", l->rootfs);
	argv[n++] = uml_strf("ubdbr=%s", l->runnable);
	argv[n++] = uml_strf("ubdc=%s", l->output);
	/* Layers: ubdd, ubde, ... opened read-only by UML ('r'); the guest
	 * learns their names, in the same order, from tmc.layers=. */
	for (size_t i = 0; i < l->nlayers; i++)
		argv[n++] = uml_strf("ubd%cr=%s", (char)('d' + i), l->layers[i].path);
	argv[n++] = uml_strf("con=null");
	argv[n++] = uml_strf("con0=null,fd:%d", UML_FD_CONSOLE);
	argv[n++] = uml_strf("ssl=null");
	argv[n++] = uml_strf("ssl1=fd:%d,fd:%d", UML_FD_SSL_IN, UML_FD_SSL_OUT);
	if (l->lpj > 0)
		argv[n++] = uml_strf("lpj=%lu", l->lpj);
	argv[n++] = uml_strf("quiet");
	/* 7.x also has a seccomp-based userspace mode that upstream documents
	 * as insecure against a hostile guest process (it can reach all guest
	 * memory through the stub). Said explicitly, so that no change of the
	 * upstream default can turn it on; tests/cases/ptrace-mode checks the
	 * mode the guest reports. */
	argv[n++] = uml_strf("seccomp=off");
	/* Map 256 KiB of cached neighbours per file fault instead of 64:
	 * each guest page fault is three host round trips, and executables
	 * are faulted in page by page (kernel/patches/0003; `make bench`
	 * section faultaround: c-hello's run 0.89 -> 0.83 s, java-junit 6.55 ->
	 * 6.30 s; 2 MiB gained nothing more). */
	argv[n++] = uml_strf("fault_around_bytes=%u", UML_FAULT_AROUND_BYTES);
	/* And a write fault on anonymous memory fills 16 pages at once: a
	 * first touch of a heap page cost 190 us in the guest against 19 us
	 * natively (kernel/patches/0004; `make bench` section anonaround). */
	argv[n++] = uml_strf("anon_fault_around=%u", UML_ANON_FAULT_AROUND_PAGES);
	/* While the guest idles (a pre-booted one waiting for its task), the
	 * host faults in its RAM, instead of at each first touch during the
	 * task (kernel/patches/0006; `make bench` section populate). */
	if (l->populate_ram)
		argv[n++] = uml_strf("uml_populate=1");
	/* A guest page fault is resolved from the host's siginfo, without a
	 * run of the stub's SIGSEGV handler and the FPU state moved out and
	 * back around it (kernel/patches/0007; `make bench` section
	 * fastfault: gcc of hello.c 295 -> 250 ms). */
	argv[n++] = uml_strf("uml_fast_fault=1");
	argv[n++] = uml_strf("uml_dir=%s", l->work_dir);
	argv[n++] = uml_strf("tmc.tmpfs=%" PRIu64, tmpfs);
	argv[n++] = uml_strf("tmc.scout=%d", l->scout ? 1 : 0);
	argv[n++] = uml_strf("tmc.stream_cap=%" PRIu64, l->stream_cap);
	argv[n++] = uml_strf("tmc.nproc=%u", l->guest_nproc);
	if (l->preboot)
		argv[n++] = uml_strf("tmc.preboot=1");
	if (l->nlayers > 0) {
		size_t len = sizeof("tmc.layers=");

		for (size_t i = 0; i < l->nlayers; i++)
			len += strlen(l->layers[i].name) + 1;
		argv[n] = calloc(1, len);
		if (argv[n] != NULL) {
			strcpy(argv[n], "tmc.layers=");
			for (size_t i = 0; i < l->nlayers; i++) {
				if (i > 0)
					strcat(argv[n], ",");
				strcat(argv[n], l->layers[i].name);
			}
		}
		n++;
	}
#ifdef SANDBOX_TEST_HOOKS
	for (size_t i = 0; l->kernel_args != NULL && i < 4 && l->kernel_args[i] != NULL; i++)
		argv[n++] = uml_strf("%s", l->kernel_args[i]);
#endif
	for (size_t i = 0; i < n; i++)
		if (argv[i] == NULL) {
			uml_argv_free(argv);
			errbuf_set(err, errlen, "uml: out of memory");
			return NULL;
		}
	return argv;
}

/* Steps of the child, for the error report. */
enum uml_step {
	STEP_CGROUP, STEP_PGID, STEP_MOUNT_PRIVATE, STEP_MOUNT_TMP, STEP_RLIMIT, STEP_CHDIR,
	STEP_SETGROUPS, STEP_SETGID, STEP_SETUID, STEP_NO_NEW_PRIVS, STEP_PDEATHSIG,
	STEP_SIGMASK, STEP_INIT, STEP_PERSONALITY, STEP_FDS, STEP_EXEC, STEP_JAIL, STEP_FILTER,
	STEP_AFFINITY,
};
static const char *const uml_step_names[] = {
	"join cgroup", "setpgid", "make mounts private", "mount tmpfs for guest RAM",
	"setrlimit", "chdir to work dir", "setgroups", "setgid", "setuid",
	"no_new_privs", "parent-death signal", "signal mask", "fork UML from init",
	"personality", "lay out fds",
	"execve", "jail", "install the host seccomp filter", "pin to the CPU",
};

struct uml_child_error {
	int step;
	int err;
	int detail;		/* STEP_JAIL: jail_enter's step */
};

/* Everything the child needs, prepared before the clone. */
struct uml_child {
	const struct uml_launch *l;
	char **argv;
	char *envp[6];
	char tmp_opts[128];
	int devnull;
	int errfd;
	int detail;
	struct rlimit nproc, core, fsize, nofile;
	struct jail *jail;		/* with namespaces */
	struct host_filter *filter;
	const char *exec;		/* l->kernel, or a test's program */
	char **exec_argv;
};

static void __attribute__((noreturn)) uml_child_fail(const struct uml_child *c, int step)
{
	struct uml_child_error e = { step, errno, c->detail };

	if (write(c->errfd, &e, sizeof(e)) < 0) {
		/* the parent then sees EOF and exit status 127 */
	}
	_exit(127);
}

/* Moves fd to a number >= 10 so that the final dup2s cannot clobber it. */
static int uml_child_lift(int fd)
{
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 10);
}

/* In a new pid namespace the clone3 child is pid 1, and stays a minimal
 * init while UML runs as its child: a namespace init ignores every signal
 * it has no handler for, even its own abort(), so UML as pid 1 would hang
 * after a guest kernel panic instead of dying. Returns in the UML process;
 * init waits for UML and exits with its status (128+n for signal n), and
 * the kernel then kills whatever is left in the namespace. */
static void uml_child_init(struct uml_child *c)
{
	long pid = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
	int st;

	if (pid < 0)
		uml_child_fail(c, STEP_INIT);
	if (pid == 0) {
		/* fork cleared it */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			uml_child_fail(c, STEP_PDEATHSIG);
		return;
	}
	/* Init holds no fd: the console reaches EOF and the error pipe
	 * reports the exec exactly when UML's copies go. */
	syscall(SYS_close_range, 0, ~0U, 0);
	for (;;) {
		long r = wait4(-1, &st, __WALL, NULL);

		if (r == pid)
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		if (r < 0 && errno != EINTR)
			_exit(127);
	}
}

/* Runs in the clone3 child: raw syscalls and async-signal-safe calls only. */
static void __attribute__((noreturn)) uml_child_run(struct uml_child *c)
{
	const struct uml_launch *l = c->l;
	sigset_t none;
	int nul, con, sin, sout, efd;

	for (int i = 0; i < 2; i++)
		if (l->cgroup_fds[i] >= 0 && write(l->cgroup_fds[i], "0", 1) != 1)
			uml_child_fail(c, STEP_CGROUP);
	if (setpgid(0, 0) < 0)
		uml_child_fail(c, STEP_PGID);
	/* Before anything forks: every process of the tree inherits it
	 * (cpu_affinity.c says why one CPU). */
	if (l->cpu >= 0) {
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(l->cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one) < 0)
			uml_child_fail(c, STEP_AFFINITY);
	}
	if (l->namespaces) {
		/* Nothing UML mounts may show on the host, and the guest RAM
		 * tmpfs goes away with the namespace. */
		if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			uml_child_fail(c, STEP_MOUNT_PRIVATE);
		if (c->jail != NULL && jail_enter(c->jail, &c->detail) < 0)
			uml_child_fail(c, STEP_JAIL);
		if (c->jail == NULL && l->tmp_mount &&
		    mount("tmpfs", l->tmp_dir, "tmpfs", MS_NOSUID | MS_NODEV, c->tmp_opts) < 0)
			uml_child_fail(c, STEP_MOUNT_TMP);
	}
	/* A guest fork bomb (one host process per guest address space)
	 * stops at pids.max or, without a cgroup, at RLIMIT_NPROC. */
	if (setrlimit(RLIMIT_NPROC, &c->nproc) < 0 || setrlimit(RLIMIT_CORE, &c->core) < 0 ||
	    setrlimit(RLIMIT_FSIZE, &c->fsize) < 0 || setrlimit(RLIMIT_NOFILE, &c->nofile) < 0)
		uml_child_fail(c, STEP_RLIMIT);
	if (chdir(l->work_dir) < 0)
		uml_child_fail(c, STEP_CHDIR);
	if (l->privileged) {
		int failed = drop_ids(l->uid, l->gid);

		if (failed != 0)
			uml_child_fail(c, failed == 1 ? STEP_SETGROUPS : failed == 2 ? STEP_SETGID :
			    STEP_SETUID);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		uml_child_fail(c, STEP_NO_NEW_PRIVS);
	/* After the uid change, which clears it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		uml_child_fail(c, STEP_PDEATHSIG);
	/* A daemon may ignore signals (and the parent blocked all of them
	 * around the clone); UML needs them at their defaults. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		uml_child_fail(c, STEP_SIGMASK);
	if (l->namespaces)
		uml_child_init(c);

	/* ASLR stays off because UML needs it so. 7.3's main() itself sets
	 * ADDR_NO_RANDOMIZE and, when it was not set, re-execs itself through
	 * /proc/self/exe: setting it here saves that second exec. Measured on
	 * 7.3 without this call and with the host filter refusing UML's own
	 * personality() (so that it ran randomized): 3 of 3 boots died of
	 * SIGXFSZ (exit 153) before the guest's init, as UML still adds the
	 * distance between its image and the randomized brk (up to 1 GiB on
	 * x86_64) to the guest's RAM file, past RLIMIT_FSIZE (mem + output
	 * cap + 64M); with it off the same task ran, MemTotal 251708 kB at
	 * mem=256M. (6.12 did the same: mem= meant nothing there.) The image
	 * is non-PIE: this costs the randomization of brk, stack and libs. */
	if (personality(ADDR_NO_RANDOMIZE) < 0)
		uml_child_fail(c, STEP_PERSONALITY);

	nul = uml_child_lift(c->devnull);
	con = uml_child_lift(l->console_fd);
	sin = uml_child_lift(l->ssl_in_fd);
	sout = uml_child_lift(l->ssl_out_fd);
	efd = uml_child_lift(c->errfd);
	if (nul < 0 || con < 0 || sin < 0 || sout < 0 || efd < 0)
		uml_child_fail(c, STEP_FDS);
	c->errfd = efd;
	if (dup2(nul, 0) < 0 || dup2(con, 1) < 0 || dup2(con, 2) < 0 ||
	    dup2(con, UML_FD_CONSOLE) < 0 || dup2(sin, UML_FD_SSL_IN) < 0 ||
	    dup2(sout, UML_FD_SSL_OUT) < 0 || dup3(efd, UML_FD_SSL_OUT + 1, O_CLOEXEC) < 0)
		uml_child_fail(c, STEP_FDS);
	c->errfd = UML_FD_SSL_OUT + 1;
	if (syscall(SYS_close_range, UML_FD_SSL_OUT + 2, ~0U, 0) < 0)
		uml_child_fail(c, STEP_FDS);
	/* c->filter is NULL only in the test build's --no-jail. */
	if (c->filter != NULL && host_filter_install(c->filter) < 0)
		uml_child_fail(c, STEP_FILTER);
	execve(c->exec, c->exec_argv, c->envp);
	uml_child_fail(c, STEP_EXEC);
}

/* The jail's list of files: the kernel (and a test's program) with their
 * libraries, then every read-only image: initrd, rootfs and the extra ones
 * (layers) the caller names. */
static int uml_jail_prepare(const struct uml_launch *l, struct uml_child *c, char *err,
    size_t errlen)
{
	const char *execs[3] = { l->kernel, NULL, NULL };
	const char **images;
	struct jail_spec s;
	size_t n = 0, extra = 0;

	while (l->jail_images != NULL && l->jail_images[extra] != NULL)
		extra++;
	images = calloc(extra + 3, sizeof(*images));
	if (images == NULL)
		return errbuf_set(err, errlen, "uml: out of memory");
	images[n++] = l->initrd;
	images[n++] = l->rootfs;
	for (size_t i = 0; i < extra; i++)
		images[n++] = l->jail_images[i];
	if (c->exec != l->kernel)
		execs[1] = c->exec;
	memset(&s, 0, sizeof(s));
	s.execs = execs;
	s.images = images;
	s.work_dir = l->work_dir;
	s.runnable = l->runnable;
	s.output = l->output;
	s.ram_dir = l->tmp_dir;
	s.ram_opts = c->tmp_opts;
	s.uid = l->uid;
	s.gid = l->gid;
	c->jail = jail_new(&s, err, errlen);
	free(images);
	return c->jail != NULL ? 0 : -1;
}

static int uml_child_prepare(const struct uml_launch *l, struct uml_child *c, char *err,
    size_t errlen)
{
	/* The guest RAM file is mem-sized and UML extends it by writing its
	 * last byte; output.tar is written in place; nothing else is big. */
	rlim_t fsize = (rlim_t)(l->memory + l->output_cap + 64 * MiB);
	int n, jailed = 1;

	memset(c, 0, sizeof(*c));
	c->l = l;
	c->devnull = c->errfd = -1;
	c->nproc.rlim_cur = c->nproc.rlim_max = l->nproc_rlimit;
	c->core.rlim_cur = c->core.rlim_max = 0;
	c->fsize.rlim_cur = c->fsize.rlim_max = fsize;
	c->nofile.rlim_cur = c->nofile.rlim_max = 1024;
	n = snprintf(c->tmp_opts, sizeof(c->tmp_opts), "size=%" PRIu64 ",mode=0700,uid=%u,gid=%u%s",
	    l->memory + 32 * MiB, (unsigned)l->uid, (unsigned)l->gid,
	    l->huge_pages ? ",huge=always" : "");
	if (n < 0 || (size_t)n >= sizeof(c->tmp_opts))
		return errbuf_set(err, errlen, "uml: tmpfs options too long");
	c->envp[0] = uml_strf("TMPDIR=%s", l->tmp_dir);
	c->envp[1] = uml_strf("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	c->envp[2] = uml_strf("HOME=%s", l->work_dir);
	c->envp[3] = uml_strf("LC_ALL=C");
	c->envp[4] = NULL;
	for (int i = 0; i < 4; i++)
		if (c->envp[i] == NULL)
			return errbuf_set(err, errlen, "uml: out of memory");
	c->argv = uml_argv(l, err, errlen);
	if (c->argv == NULL)
		return -1;
	c->exec = l->kernel;
	c->exec_argv = c->argv;
#ifdef SANDBOX_TEST_HOOKS
	if (l->exec_instead != NULL) {
		c->exec = l->exec_instead[0];
		c->exec_argv = (char **)l->exec_instead;
	}
#endif
#ifdef SANDBOX_TEST_HOOKS
	/* bench/bench.sh jail: the same run without both, for their cost.
	 * Without a jail, the RAM tmpfs is mounted on the work dir's ram/. */
	jailed = !l->no_jail;
#endif
	if (jailed && l->namespaces && uml_jail_prepare(l, c, err, errlen) < 0)
		return -1;
	if (jailed) {
		c->filter = host_filter_new(err, errlen);
		if (c->filter == NULL)
			return -1;
	}
	c->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (c->devnull < 0)
		return errbuf_set(err, errlen, "uml: open /dev/null: %s", strerror(errno));
	return 0;
}

static void uml_child_release(struct uml_child *c)
{
	uml_argv_free(c->argv);
	for (int i = 0; i < 4; i++)
		free(c->envp[i]);
	if (c->devnull >= 0)
		close(c->devnull);
	jail_free(c->jail);
	host_filter_free(c->filter);
}

/* Starts UML. Returns 0 once the kernel has been exec'd (p filled), or -1
 * with err when it could not be started (nothing is left running). */
int uml_spawn(const struct uml_launch *l, struct uml_proc *p, char *err, size_t errlen)
{
	struct uml_clone_args args;
	struct uml_child c;
	struct uml_child_error ce;
	sigset_t all, saved;
	int errpipe[2], pidfd = -1;
	ssize_t n;
	long pid;

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	p->pidfd = -1;
	if (uml_child_prepare(l, &c, err, errlen) < 0) {
		uml_child_release(&c);
		return -1;
	}
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		uml_child_release(&c);
		return errbuf_set(err, errlen, "uml: pipe: %s", strerror(errno));
	}
	c.errfd = errpipe[1];

	/* No handler of the caller's may run in the child between the clone
	 * and the reset of the dispositions: block everything around it. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_PIDFD;
	if (l->namespaces)
		args.flags |= CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
	args.pidfd = (uint64_t)(uintptr_t)&pidfd;
	args.exit_signal = SIGCHLD;
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0)
		uml_child_run(&c);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	close(errpipe[1]);
	if (pid < 0) {
		p->clone_errno = errno;
		close(errpipe[0]);
		uml_child_release(&c);
		return errbuf_set(err, errlen, "uml: clone3: %s", strerror(p->clone_errno));
	}
	p->pid = (pid_t)pid;
	p->pidfd = pidfd;
	p->namespaces = l->namespaces;
	/* Also set from here: kill(-pid) must work even if the child has not
	 * reached its own setpgid yet. EACCES after its exec is harmless. */
	(void)setpgid(p->pid, p->pid);
	n = read_full(errpipe[0], &ce, sizeof(ce));
	close(errpipe[0]);
	if (n == 0) {
		uml_child_release(&c);
		return 0;
	}
	uml_kill(p);
	uml_reap(p, NULL);
	/* The kernel refuses a propagation change on a path that is not a
	 * mount point: a plain chroot dir as / (our flags are fixed). */
	if (n == (ssize_t)sizeof(ce) && ce.step == STEP_MOUNT_PRIVATE && ce.err == EINVAL)
		errbuf_set(err, errlen, "uml: child: make mounts private: / is not a "
		    "mount point (a chroot? bind-mount its root onto itself first)");
	else if (n == (ssize_t)sizeof(ce) && ce.step == STEP_JAIL && c.jail != NULL) {
		char what[PATH_MAX + 64];

		jail_step_text(c.jail, ce.detail, what, sizeof(what));
		errbuf_set(err, errlen, "uml: child: jail: %s: %s", what, strerror(ce.err));
	} else if (n == (ssize_t)sizeof(ce) && ce.step >= 0 &&
	    ce.step < (int)(sizeof(uml_step_names) / sizeof(uml_step_names[0])))
		errbuf_set(err, errlen, "uml: child: %s: %s", uml_step_names[ce.step],
		    strerror(ce.err));
	else
		errbuf_set(err, errlen, "uml: child failed before exec");
	uml_child_release(&c);
	return -1;
}

/* SIGKILLs the pid-namespace init (which takes the namespace with it) and
 * the process group. Safe to call more than once and after the exit. */
void uml_kill(const struct uml_proc *p)
{
	if (p->pid <= 0)
		return;
	if (p->pidfd >= 0)
		(void)syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
	(void)kill(-p->pid, SIGKILL);
}

/* Waits for the UML process (after uml_kill this is prompt) and closes the
 * pidfd. Returns 0 and the wait status, or -1. */
int uml_reap(struct uml_proc *p, int *status)
{
	int st = 0;
	pid_t r;

	if (p->pid <= 0)
		return -1;
	do
		r = waitpid(p->pid, &st, 0);
	while (r < 0 && errno == EINTR);
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	if (r < 0)
		return -1;
	if (status != NULL)
		*status = st;
	/* The pid stays recorded as the process group id for uml_survivors(). */
	return 0;
}

/* Counts live host processes still in the UML process group (by /proc),
 * for the "nothing survives" check. -1 when /proc cannot be read. UML
 * makes itself a session leader, so its group is the pid of the process
 * that exec'd it: p->pid without namespaces; with them, UML's group is
 * inside the pid namespace, which cannot outlive the reaped init (the
 * runner also counts the cgroup). */
long uml_survivors(const struct uml_proc *p)
{
	DIR *d;
	struct dirent *de;
	long n = 0;

	if (p->pid <= 0)
		return 0;
	d = opendir("/proc");
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char path[64], buf[512], *rp;
		uint64_t pid;
		long long pgrp;
		char state;
		ssize_t len;
		int fd;

		if (parse_u64(de->d_name, 1, INT32_MAX, &pid) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%" PRIu64 "/stat", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		/* "pid (comm) state ppid pgrp ...": comm may hold anything. */
		rp = strrchr(buf, ')');
		if (rp == NULL || sscanf(rp + 1, " %c %*d %lld", &state, &pgrp) != 2)
			continue;
		/* A zombie is dead: it waits for whoever inherited it to reap it. */
		if (pgrp == p->pid && state != 'Z' && state != 'X')
			n++;
	}
	closedir(d);
	return n;
}
