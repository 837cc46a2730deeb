/*
 * unpack_main.c: `tmc-unpack`, the process that parses hostile archives
 * for sandboxd and sandbox-run (theory of operation in privsep.c, which
 * starts it and checks its answer).
 *
 *   tmc-unpack upload MAX_ENTRIES MAX_UNPACKED MAX_ENTRY
 *       fd 0 the upload, fd 1 the runnable.tar to write (upload_tar.c);
 *       answers OK or ERROR.
 *   tmc-unpack output FILE_CAP
 *       fd 0 the guest's output.tar (output_tar.c); answers FILE... NOTE END,
 *       or ERROR.
 *   tmc-unpack spare MODE ARGS...
 *       started ahead of its request: waits for fds 0 and 1 on fd 3 (a
 *       socket), then as MODE ARGS.
 *   fd 2 is /dev/null, fd 3 the answer pipe (or socket); no other fd is open.
 *
 * It arrives unprivileged (the instance's UML uid when the caller is root),
 * with no_new_privs and rlimits set by the caller. Before it reads a byte it
 * installs a seccomp filter that leaves it only what parsing two open fds
 * and answering on a third needs; whatever an exploit of libarchive gets is
 * this process: no files, no network, no new code, no children.
 * Never: opens a file, logs, writes anything but fds 1 and 3.
 */
#define _GNU_SOURCE
#include "sandbox/sandbox_host.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

static int unpack_answer_error(const char *err)
{
	return privsep_send(PRIVSEP_FD_MSG, PRIVSEP_MSG_ERROR, err, strnlen(err, PRIVSEP_TEXT_MAX),
	    NULL, 0) < 0 ? 1 : 0;
}

/*
 * The filter, default kill. What a parser needs: read and seek the input,
 * write the output and the answer, memory, exit. Each other rule names what
 * it closes or why it is there.
 */
static int unpack_confine(void)
{
	static const int plain[] = {
		SCMP_SYS(read), SCMP_SYS(write),
		/* libarchive skips entries of a regular file by seeking. */
		SCMP_SYS(lseek), SCMP_SYS(fstat),
		/* malloc: brk, mmap below, mremap for realloc, madvise to trim. */
		SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
		SCMP_SYS(close), SCMP_SYS(exit_group), SCMP_SYS(exit),
		/* glibc's abort() and fortify failures: they die either way. */
		SCMP_SYS(rt_sigprocmask), SCMP_SYS(getpid), SCMP_SYS(gettid),
		SCMP_SYS(rt_sigreturn),
		/* glibc's once-only initialisers (iconv for pax names) wake
		 * waiters; one thread, no shared memory: nothing to reach. */
		SCMP_SYS(futex),
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int rc = 0;

	/* Under a filter that refuses seccomp(2) (systemd's SystemCallFilter
	 * in sandboxd@.service) libseccomp falls back to prctl, which has no
	 * kill-process action: kill-thread is the same for one thread. */
	if (ctx == NULL)
		ctx = seccomp_init(SCMP_ACT_KILL);
	if (ctx == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, plain[i], 0);
	/* abort() signals itself; other processes of the uid (UML!) are not
	 * its to signal. */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
	    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	/* fstat() is newfstatat(fd, "", AT_EMPTY_PATH) in glibc 2.33+: only
	 * that form, so that no path can be probed. */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
	    SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
	/* Memory, never executable: an exploit cannot map or make new code. */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Lazy lookups (gconv modules, locale files) fail softly instead of
	 * killing: nothing is opened either way. */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0);
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc == 0 ? 0 : -1;
}

static int unpack_upload(char **argv)
{
	struct upload_limits lim;
	char err[PRIVSEP_TEXT_MAX];

	if (parse_u64(argv[0], 1, UINT64_MAX, &lim.max_entries) < 0 ||
	    parse_u64(argv[1], 1, UINT64_MAX, &lim.max_unpacked) < 0 ||
	    parse_u64(argv[2], 1, UINT64_MAX, &lim.max_entry) < 0)
		return unpack_answer_error("tmc-unpack: bad limits");
	if (upload_tar_normalize_fd(PRIVSEP_FD_IN, PRIVSEP_FD_OUT, &lim, err, sizeof(err)) < 0)
		return unpack_answer_error(err);
	return privsep_send(PRIVSEP_FD_MSG, PRIVSEP_MSG_OK, NULL, 0, NULL, 0) < 0 ? 1 : 0;
}

static int unpack_output(char **argv)
{
	struct output_set set;
	char err[PRIVSEP_TEXT_MAX];
	uint64_t cap;
	int rc;

	if (parse_u64(argv[0], 1, UINT64_MAX, &cap) < 0)
		return unpack_answer_error("tmc-unpack: bad file cap");
	if (output_tar_read_fd(PRIVSEP_FD_IN, cap, &set, err, sizeof(err)) < 0)
		return unpack_answer_error(err);
	rc = privsep_send_output(PRIVSEP_FD_MSG, &set) < 0 ? 1 : 0;
	output_set_free(&set);
	return rc;
}

/* A spare (privsep.c): started before its request, it waits on fd 3 (a
 * socket) for one byte carrying the request's input and output fds, and
 * puts them on fds 0 and 1. Before the filter, before any input: the
 * only peer is the caller that started it. 0, or -1 (the caller hung up
 * or sent something else). */
static int unpack_wait_request(void)
{
	int fds[2];

	if (recv_fds(PRIVSEP_FD_MSG, fds, 2) < 0)
		return -1;
	if (dup2(fds[0], PRIVSEP_FD_IN) < 0 || dup2(fds[1], PRIVSEP_FD_OUT) < 0)
		return -1;
	close(fds[0]);
	close(fds[1]);
	return 0;
}

int main(int argc, char **argv)
{
	/* Not dumpable: other processes of the uid (other instances' UML)
	 * can neither ptrace it nor read its /proc files. Unconfined, it
	 * answers nothing: the caller reports "could not confine itself". */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return PRIVSEP_EXIT_SETUP;
	if (argc > 1 && strcmp(argv[1], "spare") == 0) {
		if (unpack_wait_request() < 0)
			return PRIVSEP_EXIT_SETUP;
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	if (unpack_confine() < 0)
		return PRIVSEP_EXIT_SETUP;
	if (argc == 5 && strcmp(argv[1], "upload") == 0)
		return unpack_upload(argv + 2);
	if (argc == 3 && strcmp(argv[1], "output") == 0)
		return unpack_output(argv + 2);
	return unpack_answer_error("usage: tmc-unpack upload ENTRIES UNPACKED ENTRY | output FILE_CAP");
}
