/*
 * tmc_init.c: /sbin/tmc-init, the guest's pid 1 after switch_root.
 *
 * Unpacks the task tar from /dev/ubdb into /task as the unprivileged user
 * tmc (uid/gid 1000), runs ./tmc-run as tmc (directly, or under the Carrier
 * and Scout when tmc.scout=1: the Carrier is started before the task is
 * there and holds its exec until released) with stdout/stderr captured and
 * capped, kills
 * whatever the task left behind, writes the result files as a ustar archive
 * onto /dev/ubdc and powers the guest off with reboot(2).
 *
 * Contract with the host: sandbox/README.md ("Guest <-> host contract").
 * Console markers give the host its timings; meta.txt carries the verdict.
 *
 * Threats handled here: everything under /task is the task's, so result
 * files are opened with the task's fs credentials, without following links,
 * without blocking on FIFOs, and read only up to what fits the result disk.
 * Never: returns from main or waits without end. Every failure still
 * produces a meta.txt with error= and a power-off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/preboot.h"
#include "sandbox/tar_rules.h"
#include "sandbox/guest/guest_layers.h"
#include "sandbox/guest/prewarm.h"

#define TASK_DIR "/task"
#define TASK_UID 1000
#define TASK_GID 1000
#define META_RESERVE 4096
#define TAR_BLOCK 512

struct capture {
	char *buf;
	size_t len;
	size_t cap;
	int truncated;
	int fd;
};

struct guest_config {
	int scout;
	int shell;
	int preboot;		/* tmc.preboot=1: wait for the host's "go" */
	int no_prewarm;		/* tmc.prewarm=0: no page-cache warm-up while waiting (bench) */
	size_t stream_cap;
	unsigned long nproc;
	char layers[400];	/* tmc.layers=: NAME[,NAME...], "" for none */
};

static int console_fd = -1;
static char meta[META_RESERVE - TAR_BLOCK];
static size_t meta_len;

static void console(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void console(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(console_fd >= 0 ? console_fd : 2, line, (size_t)n) < 0) {
		/* Nowhere else to say it. */
	}
}

static void meta_add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void meta_add(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (meta_len >= sizeof(meta) - 2)
		return;
	va_start(ap, fmt);
	n = vsnprintf(meta + meta_len, sizeof(meta) - meta_len - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	meta_len += (size_t)n < sizeof(meta) - meta_len - 1 ? (size_t)n : sizeof(meta) - meta_len - 2;
	meta[meta_len++] = '\n';
}

static void __attribute__((noreturn)) power_off(void)
{
	console("tmc-init: poweroff");
	sync();
	reboot(RB_POWER_OFF);
	/* reboot(2) does not return for pid 1; if it did, panic rather than hang. */
	_exit(1);
}

/* Reads a small text file (procfs, cgroupfs) whole, NUL-terminated;
 * returns its length or -1. */
static ssize_t read_text(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* The number after "KEY " at the start of a line of a counters file. */
static unsigned long long read_counter(const char *path, const char *key)
{
	char buf[16384];
	size_t key_len = strlen(key);

	if (read_text(path, buf, sizeof(buf)) <= 0)
		return 0;
	for (char *line = buf; line != NULL && *line != '\0';) {
		if (strncmp(line, key, key_len) == 0 && line[key_len] == ' ')
			return strtoull(line + key_len + 1, NULL, 10);
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return 0;
}

static void read_cmdline(struct guest_config *cfg)
{
	char buf[4096];

	if (read_text("/proc/cmdline", buf, sizeof(buf)) <= 0)
		return;
	for (char *save = NULL, *tok = strtok_r(buf, " \n", &save); tok != NULL;
	    tok = strtok_r(NULL, " \n", &save)) {
		uint64_t v;

		if (strcmp(tok, "tmc.scout=1") == 0)
			cfg->scout = 1;
		else if (strcmp(tok, "tmc.shell=1") == 0)
			cfg->shell = 1;
		else if (strcmp(tok, "tmc.preboot=1") == 0)
			cfg->preboot = 1;
		else if (strcmp(tok, "tmc.prewarm=0") == 0)
			cfg->no_prewarm = 1;
		else if (strncmp(tok, "tmc.stream_cap=", 15) == 0 &&
		    parse_u64(tok + 15, 1024, 64ULL << 20, &v) == 0)
			cfg->stream_cap = (size_t)v;
		else if (strncmp(tok, "tmc.nproc=", 10) == 0 && parse_u64(tok + 10, 16, 65536, &v) == 0)
			cfg->nproc = (unsigned long)v;
		else if (strncmp(tok, "tmc.layers=", 11) == 0)
			snprintf(cfg->layers, sizeof(cfg->layers), "%s", tok + 11);
	}
}

static void write_proc(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, value, strlen(value)) < 0)
		console("tmc-init: write %s: %s", path, strerror(errno));
	close(fd);
}

static unsigned long long oom_kills(void)
{
	return read_counter("/proc/vmstat", "oom_kill");
}

/* --- Pre-boot -----------------------------------------------------------------
 * tmc.preboot=1: the host booted this guest before it had a task, and
 * writes the task onto /dev/ubdb only once we say we wait. The line goes
 * raw first, so the host's bytes are neither echoed back into the channel
 * nor edited. After "go", whatever the block layer may hold of /dev/ubdb
 * from before (the boot's partition scan) is dropped. */

/* /dev/ttyS1 in raw mode, flushed; -1 with error= in meta.txt. Opened once,
 * before the Carrier starts: the Carrier gets this fd and must not flush
 * the line itself, which could drop a "go" the host has already sent. */
static int open_serial(void)
{
	struct termios t;
	int fd = open("/dev/ttyS1", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		meta_add("error=open /dev/ttyS1: %s", strerror(errno));
		return -1;
	}
	if (tcgetattr(fd, &t) < 0 || (cfmakeraw(&t), t.c_cc[VMIN] = 1, t.c_cc[VTIME] = 0,
	    tcsetattr(fd, TCSANOW, &t) < 0) || tcflush(fd, TCIOFLUSH) < 0) {
		meta_add("error=raw mode on /dev/ttyS1: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads the "go" line from fd, the raw serial line; the line is read byte
 * by byte so that not one byte after it (the Command Center's) is taken. */
static int wait_for_go(const struct guest_config *cfg, int fd)
{
	char line[32];
	size_t len = 0;
	pid_t warmer;
	int disk;

	/* Forked before we say ready, so that the fork is off the task's
	 * clock; stopped as soon as the line has said anything. */
	warmer = cfg->no_prewarm ? -1 : prewarm_start();
	console(PREBOOT_READY_MARKER);
	while (len < sizeof(line) && (len == 0 || line[len - 1] != '\n')) {
		ssize_t n = read(fd, line + len, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len++;
	}
	prewarm_stop(warmer);
	if (len != strlen(PREBOOT_GO) || memcmp(line, PREBOOT_GO, len) != 0) {
		meta_add("error=pre-boot: no valid go message from the host (%zu bytes)", len);
		return -1;
	}
	disk = open("/dev/ubdb", O_RDONLY | O_CLOEXEC);
	if (disk < 0 || ioctl(disk, BLKFLSBUF, 0) < 0) {
		meta_add("error=pre-boot: flush /dev/ubdb: %s", strerror(errno));
		if (disk >= 0)
			close(disk);
		return -1;
	}
	close(disk);
	return 0;
}

/* --- Unpacking the task ------------------------------------------------------
 * /dev/ubdb holds a clean ustar made by the host (upload_tar.c or
 * task_tar.c). task_unpack.c parses it with care under the intake's own
 * rule, written with the task's fs credentials so that nothing in it can
 * touch what tmc could not. */

static int unpack_task(void)
{
	char why[480];	/* an error= line of meta.txt stays under 512 bytes */
	int in = open("/dev/ubdb", O_RDONLY | O_CLOEXEC);
	int task, rc;

	if (in < 0) {
		meta_add("error=open /dev/ubdb: %s", strerror(errno));
		return -1;
	}
	task = open(TASK_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (task < 0) {
		meta_add("error=open %s: %s", TASK_DIR, strerror(errno));
		close(in);
		return -1;
	}
	setfsgid(TASK_GID);
	setfsuid(TASK_UID);
	rc = task_unpack(in, task, why, sizeof(why));
	setfsuid(0);
	setfsgid(0);
	if (rc < 0)
		meta_add("error=%s", why);
	close(task);
	close(in);
	return rc;
}

/* --- The task's cgroup ------------------------------------------------------
 * Without a cap below mem=, a memory hog drives the guest into thrashing its
 * page cache (there is no swap) long before the global OOM killer acts, and
 * the task times out instead of failing with oom. A memory cgroup makes the
 * OOM kill immediate. pids.max keeps a fork bomb below the host's process
 * cap for UML (each guest address space is a host process). */

#define TASK_CGROUP "/sys/fs/cgroup/task"

static unsigned long long mem_total(void)
{
	return read_counter("/proc/meminfo", "MemTotal:") * 1024;
}

static int setup_cgroup(const struct guest_config *cfg)
{
	unsigned long long total = mem_total(), reserve, cap;
	char value[32];

	if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
	    mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		console("tmc-init: mount cgroup2: %s", strerror(errno));
		return -1;
	}
	if (mkdir(TASK_CGROUP, 0755) < 0) {
		console("tmc-init: mkdir %s: %s", TASK_CGROUP, strerror(errno));
		return -1;
	}
	write_proc("/sys/fs/cgroup/cgroup.subtree_control", "+memory +pids");
	/* Room for the kernel, tmc-init's capture buffers and a working page cache. */
	reserve = total / 8 > (24ULL << 20) ? total / 8 : (24ULL << 20);
	reserve += 2 * cfg->stream_cap;
	cap = total > reserve + (32ULL << 20) ? total - reserve : (32ULL << 20);
	snprintf(value, sizeof(value), "%llu", cap);
	write_proc(TASK_CGROUP "/memory.max", value);
	/* A backstop above the task's RLIMIT_NPROC (cfg->nproc), which must be
	 * the limit that binds: it refuses a fork before the child's address
	 * space exists, while pids.max refuses after copy_mm, and UML 6.12
	 * panicked (flush_tlb_mm on a dying mm) under a fork bomb that kept
	 * hitting pids.max. The margin covers the Carrier in the cgroup. */
	snprintf(value, sizeof(value), "%lu", cfg->nproc + 16);
	write_proc(TASK_CGROUP "/pids.max", value);
	return 0;
}

static unsigned long long cgroup_oom_kills(void)
{
	return read_counter(TASK_CGROUP "/memory.events", "oom_kill");
}

/* --- Running tmc-run ------------------------------------------------------- */

static void limit(int resource, rlim_t value)
{
	struct rlimit rl = { value, value };

	if (setrlimit(resource, &rl) < 0)
		_exit(126);
}

/* tmc-run's process. With Scout it is the Carrier, started before the
 * task is there and holding the task's exec until released: its own start
 * (exec, fork, the filter, the hand-over of the listener; ~9 ms of a
 * trivial task here) then runs before the "go", off the task's clock. */
struct task_proc {
	pid_t pid;
	int hold_fd;	/* Carrier: one byte releases the exec, EOF cancels it */
	int out_fd, err_fd;	/* read ends of the captured streams */
};

/* Child side of the vfork: syscalls only (it shares our memory), never
 * returns. chan_fd, hold_fd: the Carrier's serial line and hold pipe. */
static void __attribute__((noreturn)) exec_task(const struct guest_config *cfg, int out_fd, int err_fd,
    int chan_fd, int hold_fd)
{
	static char *const envp[] = {
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" TASK_DIR,
		"USER=tmc",
		"LOGNAME=tmc",
		"SHELL=/bin/sh",
		"LANG=C.UTF-8",
		"TMPDIR=/tmp",
		NULL,
	};
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int cg_fd = open(TASK_CGROUP "/cgroup.procs", O_WRONLY | O_CLOEXEC);

	/* pid 1's oom_score_adj of -1000 is inherited: without this reset the
	 * OOM killer could not pick the task and the guest would thrash or
	 * panic ("deadlocked on memory") instead of killing it. */
	write_proc("/proc/self/oom_score_adj", "0");
	/* Join the task cgroup while still root; the Carrier joins with us. */
	if (cg_fd >= 0) {
		if (write(cg_fd, "0", 1) != 1)
			dprintf(err_fd, "tmc-init: join task cgroup: %s\n", strerror(errno));
		close(cg_fd);
	}
	if (cfg->scout) {
		/* Out of the way of 0-4 first, so that the dup2s below cannot
		 * clobber each other; these copies close at the exec. */
		chan_fd = fcntl(chan_fd, F_DUPFD_CLOEXEC, 10);
		hold_fd = fcntl(hold_fd, F_DUPFD_CLOEXEC, 10);
		if (chan_fd < 0 || hold_fd < 0)
			_exit(126);
	}
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		_exit(126);
	setsid();
	umask(022);
	if (chdir(TASK_DIR) < 0)
		_exit(126);
	if (cfg->scout) {
		char nproc[32];

		if (dup2(chan_fd, 3) != 3 || dup2(hold_fd, 4) != 4)
			_exit(126);
		snprintf(nproc, sizeof(nproc), "nproc=%lu", cfg->nproc);
		execle("/sbin/carrier", "carrier", "--channel-fd", "3", "--hold-fd", "4",
		    "--uid", "1000", "--gid", "1000", "--limits", nproc,
		    "--", "./tmc-run", (char *)NULL, envp);
		dprintf(2, "tmc-init: exec carrier: %s\n", strerror(errno));
		_exit(126);
	}
	limit(RLIMIT_NPROC, cfg->nproc);
	limit(RLIMIT_CORE, 0);
	limit(RLIMIT_NOFILE, 1024);
	if (setgroups(0, NULL) < 0 || setgid(TASK_GID) < 0 || setuid(TASK_UID) < 0)
		_exit(126);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(126);
	execle("./tmc-run", "tmc-run", (char *)NULL, envp);
	dprintf(2, "tmc-init: exec ./tmc-run: %s\n", strerror(errno));
	_exit(126);
}

/* vfork: exec_task() only makes syscalls before its exec (no stdio, no
 * allocation), and a fork would give UML a new address space to build,
 * copy and fault in, only to be replaced at once. A function of its own,
 * so that no local of the caller lives across the vfork. */
static pid_t __attribute__((noinline)) vfork_task(const struct guest_config *cfg, int out_fd,
    int err_fd, int chan_fd, int hold_fd)
{
	pid_t child = vfork();

	if (child == 0)
		exec_task(cfg, out_fd, err_fd, chan_fd, hold_fd);
	return child;
}

/* Starts tmc-run (with Scout: the Carrier, held; chan_fd is its serial
 * line). 0, or -1 with error= in meta.txt. */
static int start_task(const struct guest_config *cfg, int chan_fd, struct task_proc *tp)
{
	int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 }, hold_pipe[2] = { -1, -1 };

	if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0 ||
	    (cfg->scout && pipe2(hold_pipe, O_CLOEXEC) < 0)) {
		meta_add("error=pipe: %s", strerror(errno));
		for (int i = 0; i < 2; i++) {
			if (out_pipe[i] >= 0)
				close(out_pipe[i]);
			if (err_pipe[i] >= 0)
				close(err_pipe[i]);
		}
		return -1;
	}
	tp->pid = vfork_task(cfg, out_pipe[1], err_pipe[1], chan_fd, hold_pipe[0]);
	close(out_pipe[1]);
	close(err_pipe[1]);
	if (hold_pipe[0] >= 0)
		close(hold_pipe[0]);
	tp->out_fd = out_pipe[0];
	tp->err_fd = err_pipe[0];
	tp->hold_fd = hold_pipe[1];
	if (tp->pid < 0) {
		meta_add("error=vfork: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The task is there: tmc-run goes (a write error shows as the Carrier's
 * exit 125). */
static void release_task(struct task_proc *tp)
{
	if (tp->hold_fd >= 0) {
		if (write(tp->hold_fd, "g", 1) != 1)
			console("tmc-init: release the Carrier: %s", strerror(errno));
		close(tp->hold_fd);
		tp->hold_fd = -1;
	}
	console("tmc-init: run");
}

/* The task never came: a held Carrier sees EOF and exits without
 * running anything. */
static void cancel_task(struct task_proc *tp)
{
	if (tp->hold_fd >= 0)
		close(tp->hold_fd);
	if (tp->out_fd >= 0)
		close(tp->out_fd);
	if (tp->err_fd >= 0)
		close(tp->err_fd);
	tp->hold_fd = tp->out_fd = tp->err_fd = -1;
}

static void capture_read(struct capture *c)
{
	char sink[65536];
	ssize_t n;

	if (c->len < c->cap)
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
	else
		n = read(c->fd, sink, sizeof(sink));
	if (n > 0) {
		if (c->len < c->cap)
			c->len += (size_t)n;
		else
			c->truncated = 1;
		return;
	}
	if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close(c->fd);
		c->fd = -1;
	}
}

/* Runs the released tmc-run to its end; returns its wait status, or -1. */
static int run_task(struct task_proc *tp, struct capture *out, struct capture *err)
{
	int status = -1, have_status = 0, exit_fd;
	pid_t child = tp->pid;

	/* tmc-run's exit must wake the loop as its output does. Its pipes
	 * close before it can be reaped, and without this the loop then slept
	 * out its 200 ms poll timeout: a trivial task took 0.29 s instead of
	 * 0.06 s whenever the reap lost that race. -1 (no pidfd_open): the
	 * timeout still ends the wait. */
	exit_fd = (int)syscall(SYS_pidfd_open, child, 0);
	out->fd = tp->out_fd;
	err->fd = tp->err_fd;
	tp->out_fd = tp->err_fd = -1;

	/* pid 1 reaps every orphan; the streams stay open while any process
	 * holds them, so after tmc-run exits the rest are killed to end them. */
	while (out->fd >= 0 || err->fd >= 0 || !have_status) {
		struct pollfd pfd[3] = { { out->fd, POLLIN, 0 }, { err->fd, POLLIN, 0 },
			{ have_status ? -1 : exit_fd, POLLIN, 0 } };
		int ws;
		pid_t pid;

		if (poll(pfd, 3, have_status ? 100 : 200) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			capture_read(out);
		if (pfd[1].revents)
			capture_read(err);
		while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
			if (pid == child) {
				status = ws;
				have_status = 1;
				console("tmc-init: exit %d", WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws));
				kill(-1, SIGKILL);
			}
		}
		if (pid < 0 && errno == ECHILD && !have_status)
			break;
		if (have_status && pid < 0 && errno == ECHILD && (pfd[0].revents | pfd[1].revents) == 0) {
			/* Nothing left alive can write: whatever is still buffered was read. */
			if (out->fd >= 0)
				capture_read(out);
			if (err->fd >= 0)
				capture_read(err);
			break;
		}
	}
	if (out->fd >= 0)
		close(out->fd);
	if (err->fd >= 0)
		close(err->fd);
	if (exit_fd >= 0)
		close(exit_fd);
	return have_status ? status : -1;
}

/* Waits for the task (pre-boot: the "go"), unpacks it and runs tmc-run;
 * with Scout the Carrier is started first and released once the task is
 * unpacked. The serial line is opened once, raw and flushed, before the
 * Carrier starts: the Carrier must not flush it itself, which could drop
 * a "go" the host has already sent. */
static void run_when_ready(const struct guest_config *cfg, struct capture *out, struct capture *err)
{
	struct task_proc tp = { .pid = -1, .hold_fd = -1, .out_fd = -1, .err_fd = -1 };
	unsigned long long oom_before;
	struct timespec t0, t1;
	int serial = -1, ok, status;

	if (cfg->scout || cfg->preboot) {
		serial = open_serial();
		if (serial < 0)
			return;
	}
	ok = !cfg->scout || start_task(cfg, serial, &tp) == 0;
	/* Even without a Carrier: the host then has a result to deliver. */
	ok = (!cfg->preboot || wait_for_go(cfg, serial) == 0) && ok;
	if (serial >= 0)
		close(serial);
	ok = ok && unpack_task() == 0;
	ok = ok && (cfg->scout || start_task(cfg, -1, &tp) == 0);
	if (!ok) {
		cancel_task(&tp);
		return;
	}
	oom_before = oom_kills() + cgroup_oom_kills();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	release_task(&tp);
	status = run_task(&tp, out, err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	meta_add("run_ms=%lld", (long long)((t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000));
	if (status >= 0 && WIFEXITED(status)) {
		meta_add("exit_code=%d", WEXITSTATUS(status));
	} else if (status >= 0 && WIFSIGNALED(status)) {
		meta_add("signal=%d", WTERMSIG(status));
	}
	if (oom_kills() + cgroup_oom_kills() > oom_before)
		meta_add("oom=1");
}

/* --- Writing the result tar ------------------------------------------------ */

struct result_disk {
	int fd;
	uint64_t size;
	uint64_t used;
};

static void tar_header(char *hdr, const char *name, uint64_t size)
{
	unsigned sum = 0;

	memset(hdr, 0, TAR_BLOCK);
	snprintf(hdr, 100, "%s", name);
	snprintf(hdr + 100, 8, "%07o", 0644);
	snprintf(hdr + 108, 8, "%07o", 0);
	snprintf(hdr + 116, 8, "%07o", 0);
	snprintf(hdr + 124, 12, "%011llo", (unsigned long long)size);
	snprintf(hdr + 136, 12, "%011o", 0);
	hdr[156] = '0';
	memcpy(hdr + 257, "ustar", 6);
	memcpy(hdr + 263, "00", 2);
	memset(hdr + 148, ' ', 8);
	for (int i = 0; i < TAR_BLOCK; i++)
		sum += (unsigned char)hdr[i];
	snprintf(hdr + 148, 8, "%06o", sum);
	hdr[155] = ' ';
}

static int disk_write(struct result_disk *d, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(d->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		d->used += (uint64_t)n;
	}
	return 0;
}

/* Room for the data of one more entry, keeping space for meta.txt and the
 * two end-of-archive blocks. */
static uint64_t disk_room(const struct result_disk *d)
{
	uint64_t reserved = d->used + TAR_BLOCK + META_RESERVE + 2 * TAR_BLOCK;

	return d->size > reserved ? (d->size - reserved) / TAR_BLOCK * TAR_BLOCK : 0;
}

static int add_entry(struct result_disk *d, const char *name, const char *data, size_t len)
{
	char hdr[TAR_BLOCK];
	static const char zeros[TAR_BLOCK];
	uint64_t room = disk_room(d);

	if (len > room) {
		meta_add("output_full=1");
		meta_add("truncated=%s", name);
		len = (size_t)room;
	}
	tar_header(hdr, name, len);
	if (disk_write(d, hdr, sizeof(hdr)) < 0 || disk_write(d, data, len) < 0)
		return -1;
	if (len % TAR_BLOCK != 0 && disk_write(d, zeros, TAR_BLOCK - len % TAR_BLOCK) < 0)
		return -1;
	return 0;
}

/* Reads a result file the task wrote, as the task: no links followed, no
 * FIFO or device opened for blocking reads, at most `cap` bytes. */
static char *read_task_file(const char *name, size_t cap, size_t *len, int *truncated)
{
	char path[128];
	struct stat st;
	char *buf;
	ssize_t n;
	int fd;

	*len = 0;
	*truncated = 0;
	snprintf(path, sizeof(path), TASK_DIR "/%s", name);
	setfsgid(TASK_GID);
	setfsuid(TASK_UID);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	setfsuid(0);
	setfsgid(0);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return NULL;
	}
	buf = malloc(cap + 1);
	if (buf == NULL) {
		close(fd);
		return NULL;
	}
	while (*len < cap && (n = read(fd, buf + *len, cap - *len)) > 0)
		*len += (size_t)n;
	if (*len == cap) {
		char probe;
		if (read(fd, &probe, 1) == 1)
			*truncated = 1;
	}
	close(fd);
	return buf;
}

static void write_results(const struct guest_config *cfg, struct capture *out, struct capture *err)
{
	static const char *const task_files[] = {
		"output.txt", "test_output.txt", "valgrind.log", "validations.json", "exit_code.txt",
	};
	struct result_disk d = { .fd = -1 };
	static const char zeros[2 * TAR_BLOCK];
	char hdr[TAR_BLOCK];
	struct capture *streams[2] = { out, err };
	const char *stream_names[2] = { "stdout.txt", "stderr.txt" };
	size_t file_cap = cfg->stream_cap > (8u << 20) ? cfg->stream_cap : (8u << 20);

	d.fd = open("/dev/ubdc", O_WRONLY | O_CLOEXEC);
	if (d.fd < 0) {
		console("tmc-init: open /dev/ubdc: %s", strerror(errno));
		return;
	}
	if (ioctl(d.fd, BLKGETSIZE64, &d.size) < 0 || d.size < 4 * META_RESERVE) {
		console("tmc-init: /dev/ubdc too small or unsized");
		close(d.fd);
		return;
	}

	for (int i = 0; i < 2; i++) {
		size_t len;
		int truncated;
		char *own = read_task_file(stream_names[i], cfg->stream_cap, &len, &truncated);

		if (own != NULL) {
			add_entry(&d, stream_names[i], own, len);
			if (truncated)
				meta_add("truncated=%s", stream_names[i]);
			free(own);
		} else {
			add_entry(&d, stream_names[i], streams[i]->buf, streams[i]->len);
			if (streams[i]->truncated)
				meta_add("truncated=%s", stream_names[i]);
		}
	}
	for (size_t i = 0; i < sizeof(task_files) / sizeof(task_files[0]); i++) {
		size_t len;
		int truncated;
		uint64_t room = disk_room(&d);
		size_t cap = room < file_cap ? (size_t)room + 1 : file_cap;
		char *data = read_task_file(task_files[i], cap, &len, &truncated);

		if (data == NULL)
			continue;
		add_entry(&d, task_files[i], data, len);
		if (truncated)
			meta_add("truncated=%s", task_files[i]);
		free(data);
	}

	tar_header(hdr, "meta.txt", meta_len);
	if (disk_write(&d, hdr, sizeof(hdr)) < 0 || disk_write(&d, meta, meta_len) < 0 ||
	    (meta_len % TAR_BLOCK != 0 && disk_write(&d, zeros, TAR_BLOCK - meta_len % TAR_BLOCK) < 0) ||
	    disk_write(&d, zeros, sizeof(zeros)) < 0 || fsync(d.fd) < 0)
		console("tmc-init: writing /dev/ubdc: %s", strerror(errno));
	close(d.fd);
}

/* tmc.shell=1 (run-bash.sh): a root shell on the console; when the task
 * tar carries a tmc-run, bash runs that script instead (run-bash.sh -c). */
static void __attribute__((noreturn)) operator_shell(void)
{
	int have_script = unpack_task() == 0 && access(TASK_DIR "/tmc-run", F_OK) == 0;
	pid_t pid = fork();

	if (pid == 0) {
		static char *const envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
			"HOME=/root", "TERM=vt100", "LANG=C.UTF-8", NULL };
		setsid();
		write_proc("/proc/self/oom_score_adj", "0");
		int fd = open("/dev/console", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			ioctl(0, TIOCSCTTY, 1);
		}
		if (have_script && chdir(TASK_DIR) == 0)
			execle("/bin/bash", "bash", TASK_DIR "/tmc-run", (char *)NULL, envp);
		execle("/bin/bash", "bash", "-l", (char *)NULL, envp);
		_exit(127);
	}
	while (pid > 0 && waitpid(-1, NULL, 0) != pid)
		;
	power_off();
}

int main(void)
{
	struct guest_config cfg = { .stream_cap = 2u << 20, .nproc = 128 };
	struct capture out = { .fd = -1 }, err = { .fd = -1 };
	char why[400];
	int layers_ok;

	console_fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	console("tmc-init: start");
	meta_add("version=1");
	/* pid 1 must outlive any memory pressure the task creates. */
	write_proc("/proc/self/oom_score_adj", "-1000");
	/* The task must not make links that fool root into reading other files. */
	write_proc("/proc/sys/fs/protected_hardlinks", "1");
	write_proc("/proc/sys/fs/protected_symlinks", "1");
	read_cmdline(&cfg);
	setup_cgroup(&cfg);
	/* A task that asked for a layer must not run without it. */
	layers_ok = guest_layers_mount(cfg.layers, why, sizeof(why)) == 0;
	if (!layers_ok) {
		console("tmc-init: %s", why);
		meta_add("error=%s", why);
	}
	if (cfg.shell)
		operator_shell();

	out.cap = err.cap = cfg.stream_cap;
	out.buf = malloc(cfg.stream_cap);
	err.buf = malloc(cfg.stream_cap);
	if (out.buf == NULL || err.buf == NULL) {
		meta_add("error=out of memory for capture buffers");
		out.cap = err.cap = 0;
	} else if (layers_ok) {
		run_when_ready(&cfg, &out, &err);
	}
	write_results(&cfg, &out, &err);
	power_off();
}
