/*
 * scout_filter.c: the Scout seccomp filter (built with libseccomp) and the
 * tables the supervisor answers from.
 * Owns: which syscalls are allowed, refused or sent to the supervisor, and
 * the threat each rule closes.
 * Never: loads the filter (the Flight Deck does that in the child, as the
 * last step before exec), logs.
 *
 * Shape: default ALLOW; a foreign architecture (i386 `int 0x80`, x32) kills
 * the process; file-path syscalls go to the supervisor (USER_NOTIF) which
 * performs them itself; dangerous syscalls also go to the supervisor, which
 * refuses them without reading anything (so `denied` can count them by
 * name); clone3 and openat2 get ENOSYS. Every descendant inherits the filter.
 * x86_64 only: the guest and the host are x86_64; other arches kill.
 */
#define _GNU_SOURCE
#include "sandbox/scout.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#if !defined(__x86_64__)
#error "Scout's syscall tables are written for x86_64"
#endif

/* Refused outright: the supervisor answers err without looking at memory.
 * A syscall listed here with a condition (see conditional[]) is trapped
 * only when the condition holds. */
static const struct scout_denied denied[] = {
	/* File systems: mount tricks are the classic container escape. */
	{ __NR_mount, "mount", EPERM },
	{ __NR_umount2, "umount2", EPERM },
	{ __NR_pivot_root, "pivot_root", EPERM },
	{ __NR_chroot, "chroot", EPERM },		/* chroot + .. escapes, confuses path checks */
	{ __NR_fsopen, "fsopen", EPERM },		/* the new mount API, same threat */
	{ __NR_fsconfig, "fsconfig", EPERM },
	{ __NR_fsmount, "fsmount", EPERM },
	{ __NR_fspick, "fspick", EPERM },
	{ __NR_move_mount, "move_mount", EPERM },
	{ __NR_open_tree, "open_tree", EPERM },
	{ __NR_mount_setattr, "mount_setattr", EPERM },
	/* Handles bypass path resolution entirely (shocker-style escape). */
	{ __NR_name_to_handle_at, "name_to_handle_at", EPERM },
	{ __NR_open_by_handle_at, "open_by_handle_at", EPERM },
	/* Device nodes; a FIFO would also block the single-threaded supervisor. */
	{ __NR_mknod, "mknod", EPERM },
	{ __NR_mknodat, "mknodat", EPERM },
	/* Other processes' memory and syscalls: ptrace can also rewrite a
	 * syscall after seccomp has checked it. */
	{ __NR_ptrace, "ptrace", EPERM },
	{ __NR_process_vm_readv, "process_vm_readv", EPERM },
	{ __NR_process_vm_writev, "process_vm_writev", EPERM },
	{ __NR_process_madvise, "process_madvise", EPERM },
	{ __NR_pidfd_getfd, "pidfd_getfd", EPERM },	/* steals another process's fds */
	{ __NR_kcmp, "kcmp", EPERM },			/* probes other processes' kernel objects */
	{ __NR_move_pages, "move_pages", EPERM },
	{ __NR_migrate_pages, "migrate_pages", EPERM },
	/* Large kernel attack surface, not needed by exercises. */
	{ __NR_bpf, "bpf", EPERM },
	{ __NR_perf_event_open, "perf_event_open", EPERM },
	{ __NR_userfaultfd, "userfaultfd", EPERM },	/* stalls kernel copies: race widening */
	{ __NR_io_uring_setup, "io_uring_setup", EPERM },	/* performs syscalls seccomp never sees */
	{ __NR_io_uring_enter, "io_uring_enter", EPERM },
	{ __NR_io_uring_register, "io_uring_register", EPERM },
	{ __NR_keyctl, "keyctl", EPERM },		/* kernel keyrings: not namespaced */
	{ __NR_add_key, "add_key", EPERM },
	{ __NR_request_key, "request_key", EPERM },
	{ __NR_fanotify_init, "fanotify_init", EPERM },
	{ __NR_modify_ldt, "modify_ldt", EPERM },	/* 16-bit segments: a history of bugs */
	{ __NR_iopl, "iopl", EPERM },
	{ __NR_ioperm, "ioperm", EPERM },
	{ __NR_uselib, "uselib", EPERM },
	{ __NR_vhangup, "vhangup", EPERM },
	{ __NR_syslog, "syslog", EPERM },		/* kernel log: addresses leak */
	{ __NR_lookup_dcookie, "lookup_dcookie", EPERM },
	{ __NR_quotactl, "quotactl", EPERM },
	{ __NR_quotactl_fd, "quotactl_fd", EPERM },
	{ __NR_sysfs, "sysfs", EPERM },
	{ __NR__sysctl, "_sysctl", EPERM },
	/* Whole-system state. */
	{ __NR_kexec_load, "kexec_load", EPERM },
	{ __NR_kexec_file_load, "kexec_file_load", EPERM },
	{ __NR_init_module, "init_module", EPERM },
	{ __NR_finit_module, "finit_module", EPERM },
	{ __NR_delete_module, "delete_module", EPERM },
	{ __NR_reboot, "reboot", EPERM },
	{ __NR_swapon, "swapon", EPERM },
	{ __NR_swapoff, "swapoff", EPERM },
	{ __NR_acct, "acct", EPERM },
	{ __NR_settimeofday, "settimeofday", EPERM },
	{ __NR_clock_settime, "clock_settime", EPERM },
	{ __NR_clock_adjtime, "clock_adjtime", EPERM },
	{ __NR_adjtimex, "adjtimex", EPERM },
	{ __NR_sethostname, "sethostname", EPERM },
	{ __NR_setdomainname, "setdomainname", EPERM },
	/* Namespaces: a user namespace hands out capabilities and with them a
	 * far larger kernel surface; the others detach from our view of /proc
	 * and the mount table that the path checks rely on. */
	{ __NR_unshare, "unshare", EPERM },
	{ __NR_setns, "setns", EPERM },
	/* Conditional entries (see conditional[] below). */
	{ __NR_clone, "clone", EPERM },		/* only with CLONE_NEW* flags */
	{ __NR_socket, "socket", EACCES },	/* only domains other than AF_UNIX: no network */
	{ __NR_socketpair, "socketpair", EACCES },
	{ __NR_personality, "personality", EPERM },	/* all but the query: ASLR off, READ_IMPLIES_EXEC */
	{ __NR_seccomp, "seccomp", EPERM },	/* only NEW_LISTENER: see below */
	{ __NR_ioctl, "ioctl", EPERM },		/* only TIOCSTI/TIOCLINUX: typing into our tty */
	/* openat2 carries its path in a struct: refusing it with ENOSYS is
	 * simpler than trapping it, and callers (none in glibc) fall back to
	 * openat, which is trapped. */
	{ __NR_openat2, "openat2", ENOSYS },
};

/* File-path syscalls: the supervisor reads the path, decides, and performs
 * the call itself (never CONTINUE, except execve: see SCOUT.md). */
static const int path_calls[] = {
	__NR_open, __NR_openat, __NR_creat,
	__NR_execve, __NR_execveat,
	__NR_unlink, __NR_unlinkat, __NR_rmdir,
	__NR_rename, __NR_renameat, __NR_renameat2,
	__NR_mkdir, __NR_mkdirat,
	__NR_link, __NR_linkat, __NR_symlink, __NR_symlinkat,
	__NR_chmod, __NR_fchmodat, __NR_fchmodat2,
	__NR_truncate,
};

static const unsigned long clone_ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWTIME,
};

static const struct {
	int nr;
	const char *name;
} names[] = {
	{ __NR_open, "open" }, { __NR_openat, "openat" }, { __NR_creat, "creat" },
	{ __NR_execve, "execve" }, { __NR_execveat, "execveat" },
	{ __NR_unlink, "unlink" }, { __NR_unlinkat, "unlinkat" }, { __NR_rmdir, "rmdir" },
	{ __NR_rename, "rename" }, { __NR_renameat, "renameat" }, { __NR_renameat2, "renameat2" },
	{ __NR_mkdir, "mkdir" }, { __NR_mkdirat, "mkdirat" },
	{ __NR_link, "link" }, { __NR_linkat, "linkat" },
	{ __NR_symlink, "symlink" }, { __NR_symlinkat, "symlinkat" },
	{ __NR_chmod, "chmod" }, { __NR_fchmodat, "fchmodat" }, { __NR_fchmodat2, "fchmodat2" },
	{ __NR_truncate, "truncate" },
};

const struct scout_denied *scout_denied_lookup(int nr)
{
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		if (denied[i].nr == nr)
			return &denied[i];
	return NULL;
}

const char *scout_syscall_name(int nr)
{
	const struct scout_denied *d = scout_denied_lookup(nr);

	if (d != NULL)
		return d->name;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].nr == nr)
			return names[i].name;
	return "unknown";
}

static int add_conditional(scmp_filter_ctx ctx, int nr)
{
	int rc = 0;

	switch (nr) {
	case __NR_clone:
		/* clone(2)'s flags are arg 0 on x86_64; clone3 is refused below. */
		for (size_t i = 0; i < sizeof(clone_ns_flags) / sizeof(clone_ns_flags[0]) && rc == 0; i++)
			rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr, 1,
			    SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]));
		return rc;
	case __NR_socket:
	case __NR_socketpair:
		return seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr, 1,
		    SCMP_A0(SCMP_CMP_NE, AF_UNIX));
	case __NR_personality:
		/* Only the query (0xffffffff) passes: a change could switch
		 * ASLR off or make all reads executable for the next exec.
		 * (libseccomp takes one comparison per argument, so setting
		 * PER_LINUX, a no-op, is refused too.) */
		return seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr, 1,
		    SCMP_A0(SCMP_CMP_NE, 0xffffffffu));
	case __NR_seccomp:
		/* A filter of the task's own with a listener would win ties
		 * against ours (the newest filter's USER_NOTIF is delivered) and
		 * let the task answer its own file requests with CONTINUE. */
		return seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr, 1,
		    SCMP_A1(SCMP_CMP_MASKED_EQ, SECCOMP_FILTER_FLAG_NEW_LISTENER,
		    SECCOMP_FILTER_FLAG_NEW_LISTENER));
	case __NR_ioctl:
		/* TIOCSTI pushes input into a terminal the Carrier shares. */
		rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr, 1,
		    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr, 1,
			    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX));
		return rc;
	default:
		return 1;
	}
}

/* The BPF program of ctx, exported once at build time by scout-filter-gen
 * (scout_filter_gen.c) and built into the Carrier: the task's child then
 * installs it with one seccomp(2) call, and no task waits for libseccomp. A pipe carries it: the program is at most
 * BPF_MAXINSNS instructions (32 KiB), within a pipe's 64 KiB buffer. */
static int export_program(scmp_filter_ctx ctx, struct sock_fprog *prog, char *err, size_t errlen)
{
	struct sock_filter *insns;
	size_t cap = BPF_MAXINSNS * sizeof(*insns) + 1, len = 0;
	int p[2], rc;

	if (pipe2(p, O_CLOEXEC) < 0)
		return errbuf_set(err, errlen, "pipe: %s", strerror(errno));
	rc = seccomp_export_bpf(ctx, p[1]);
	close(p[1]);
	insns = malloc(cap);
	if (rc != 0 || insns == NULL) {
		close(p[0]);
		free(insns);
		return errbuf_set(err, errlen, "exporting the filter: %s", rc != 0 ? strerror(-rc) : "out of memory");
	}
	for (;;) {
		ssize_t n = read(p[0], (char *)insns + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(p[0]);
	if (len == 0 || len == cap || len % sizeof(*insns) != 0) {
		free(insns);
		return errbuf_set(err, errlen, "exported filter of %zu bytes", len);
	}
	prog->len = (unsigned short)(len / sizeof(*insns));
	prog->filter = insns;
	return 0;
}

int scout_filter_build(struct sock_fprog *prog, char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc, nr = -1;

	if (ctx == NULL)
		return errbuf_set(err, errlen, "seccomp_init failed");
	/* Only the native arch is in the filter: i386 and x32 entry points
	 * would see different syscall numbers and walk past every rule. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	for (size_t i = 0; rc == 0 && i < sizeof(denied) / sizeof(denied[0]); i++) {
		nr = denied[i].nr;
		rc = add_conditional(ctx, nr);
		if (rc == 1)
			rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, denied[i].nr, 0);
	}
	for (size_t i = 0; rc == 0 && i < sizeof(path_calls) / sizeof(path_calls[0]); i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr = path_calls[i], 0);
	/* clone3 passes its flags in memory the filter cannot read: ENOSYS
	 * makes glibc fall back to clone(2), whose flags are checked above. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr = __NR_clone3, 0);
	if (rc != 0) {
		seccomp_release(ctx);
		return errbuf_set(err, errlen, "building the filter (syscall %d): %s", nr, strerror(-rc));
	}
	rc = export_program(ctx, prog, err, errlen);
	seccomp_release(ctx);
	return rc;
}

void scout_filter_free(struct sock_fprog *prog)
{
	free(prog->filter);
	prog->filter = NULL;
	prog->len = 0;
}
