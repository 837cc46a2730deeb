/*
 * flight_deck.c: the Flight Deck takes off the task process and lands its
 * whole tree (runs in the Carrier).
 * Owns: the order of confinement in the child (rlimits, groups, gid, uid,
 * no_new_privs, the Scout filter as the very last step before exec), the
 * hand-over of the seccomp listener fd to the parent, the supervisor loop,
 * the wait for the whole tree (child subreaper), the kill of what remains
 * when the task's leader exits or the time runs out, and the exit status.
 * Never: parses untrusted input before the filter is loaded; leaves the
 * listener fd or any Carrier fd open in the task; keeps the Carrier's
 * supplementary groups or gid while serving (the supervisor acts on files
 * as the task: the task's groups and gid here, its uid around each call).
 */
#define _GNU_SOURCE
#include "sandbox/scout.h"
#include "common/log.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define HANDOVER_TIMEOUT_MS 10000

/* ---- child side: everything here runs between fork and exec ---------- */

static void __attribute__((noreturn)) child_fail(int fd, const char *what)
{
	char msg[160];
	int n = snprintf(msg, sizeof(msg), "carrier: %s: %s\n", what, strerror(errno));

	if (n > 0 && write(fd, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1) < 0)
		_exit(125);
	_exit(125);
}

static void set_limit(int resource, int set, uint64_t v)
{
	struct rlimit rl;

	if (!set)
		return;
	rl.rlim_cur = rl.rlim_max = (rlim_t)v;
	if (setrlimit(resource, &rl) < 0)
		child_fail(2, "setrlimit");
}

static void __attribute__((noreturn)) child_takeoff(const struct flight_deck_opts *o,
    const struct sock_fprog *prog, int sock, const sigset_t *oldmask, pid_t carrier)
{
	int nfd;

	if (sigprocmask(SIG_SETMASK, oldmask, NULL) < 0)
		child_fail(2, "sigprocmask");
	signal(SIGPIPE, SIG_DFL);
	/* The task must not outlive a dead Carrier (its supervisor). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != carrier)
		child_fail(2, "pdeathsig");
	set_limit(RLIMIT_CORE, 1, 0);
	set_limit(RLIMIT_NPROC, o->nproc.set, o->nproc.value);
	set_limit(RLIMIT_FSIZE, o->fsize.set, o->fsize.value);
	set_limit(RLIMIT_NOFILE, o->nofile.set, o->nofile.value);
	set_limit(RLIMIT_AS, o->as.set, o->as.value);
	set_limit(RLIMIT_CPU, o->cpu.set, o->cpu.value);
	if (o->drop) {
		if (setgroups(0, NULL) < 0)
			child_fail(2, "setgroups");
		if (setresgid(o->gid, o->gid, o->gid) < 0)
			child_fail(2, "setresgid");
		if (setresuid(o->uid, o->uid, o->uid) < 0)
			child_fail(2, "setresuid");
		if (getuid() != o->uid || geteuid() != o->uid || getegid() != o->gid)
			child_fail(2, "privileges still held");
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(2, "no_new_privs");
	/* Last step: from here on every syscall is Scout's. */
	nfd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, prog);
	if (nfd < 0)
		child_fail(2, "seccomp");
	if (send_fds(sock, &nfd, 1) < 0)
		child_fail(2, "handing over the listener");
	close(nfd);
	/* A held task: the parent's byte says the task is there; EOF (the
	 * parent gave up) ends us with nothing run. */
	if (o->hold_fd >= 0) {
		char go;

		if (read(sock, &go, 1) != 1)
			_exit(125);
	}
	close(sock);
	/* execve is trapped: the parent serves it once it holds the fd. */
	execvp(o->argv[0], o->argv);
	{
		int e = errno;
		char msg[300];
		int n = snprintf(msg, sizeof(msg), "carrier: %s: %s\n", o->argv[0], strerror(e));

		if (n > 0 && write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1) < 0)
			_exit(127);
		_exit(e == ENOENT ? 127 : 126);
	}
}

/* ---- parent side ------------------------------------------------------- */

static int recv_fd(int sock)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	int fd;

	if (poll(&pfd, 1, HANDOVER_TIMEOUT_MS) != 1 || recv_fds(sock, &fd, 1) < 0)
		return -1;
	return fd;
}

/* SIGKILLs every descendant of the Carrier, found through /proc (as the
 * child subreaper, orphans of the tree stay below us). Returns how many. */
static int kill_tree(void)
{
	pid_t self = getpid();
	size_t cap = 256, n = 0;
	pid_t (*pp)[2] = malloc(cap * sizeof(*pp));
	DIR *d = opendir("/proc");
	struct dirent *de;
	int killed = 0, changed = 1;
	char *mark;

	if (pp == NULL || d == NULL) {
		free(pp);
		if (d != NULL)
			closedir(d);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		char path[300], buf[512], *rp;
		int fd, ppid;
		ssize_t r;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		r = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (r <= 0)
			continue;
		buf[r] = '\0';
		rp = strrchr(buf, ')');
		if (rp == NULL || sscanf(rp + 1, " %*c %d", &ppid) != 1)
			continue;
		if (n == cap) {
			void *np = realloc(pp, 2 * cap * sizeof(*pp));

			if (np == NULL)
				break;
			pp = np;
			cap *= 2;
		}
		pp[n][0] = (pid_t)strtol(de->d_name, NULL, 10);
		pp[n][1] = (pid_t)ppid;
		n++;
	}
	closedir(d);
	mark = calloc(n + 1, 1);
	while (mark != NULL && changed) {
		changed = 0;
		for (size_t i = 0; i < n; i++) {
			if (mark[i])
				continue;
			if (pp[i][1] == self)
				mark[i] = changed = 1;
			else
				for (size_t j = 0; j < n; j++)
					if (mark[j] && pp[j][0] == pp[i][1]) {
						mark[i] = changed = 1;
						break;
					}
		}
	}
	for (size_t i = 0; mark != NULL && i < n; i++)
		if (mark[i] && kill(pp[i][0], SIGKILL) == 0)
			killed++;
	free(mark);
	free(pp);
	return killed;
}

static int status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 125;
}

/* A held task sits between the hand-over of its listener and its exec
 * until a byte comes on hold_fd (its files are not there before). Then the
 * HELLO goes out (not earlier: the serial line carries the host's "go"
 * first) and the task is let go. -1: EOF, or the task or a stop signal
 * came first. */
static int release_held(int hold_fd, int sigfd, int sock, struct scout_supervisor *sup)
{
	struct pollfd pfd[2] = { { hold_fd, POLLIN, 0 }, { sigfd, POLLIN, 0 } };
	char go;
	ssize_t n;

	while (poll(pfd, 2, -1) < 0)
		if (errno != EINTR) {
			log_warn("%s: poll", __func__);
			return -1;
		}
	if (pfd[1].revents != 0) {
		log_warnx("%s: the held task or a signal ended the wait", __func__);
		return -1;
	}
	while ((n = read(hold_fd, &go, 1)) < 0 && errno == EINTR)
		;
	close(hold_fd);
	if (n != 1)
		return -1;	/* cancelled: nothing to say */
	scout_supervisor_hello(sup);
	if (write(sock, &go, 1) != 1) {
		log_warn("%s: releasing the task", __func__);
		return -1;
	}
	return 0;
}

/* Kills and reaps everything left below the Carrier. No child left means
 * no descendant left (as subreaper the Carrier inherits every orphan), so
 * the common case needs no walk through /proc. */
static void land_all(int sigfd)
{
	for (;;) {
		struct pollfd pfd = { .fd = sigfd, .events = POLLIN };
		struct signalfd_siginfo si;
		pid_t w;
		int st;

		while ((w = waitpid(-1, &st, WNOHANG)) > 0)
			;
		if (w < 0 && errno == ECHILD)
			return;
		kill_tree();
		while ((w = waitpid(-1, &st, WNOHANG)) > 0)
			;
		if (w < 0 && errno == ECHILD)
			return;
		if (poll(&pfd, 1, 100) > 0 && read(sigfd, &si, sizeof(si)) < 0 && errno != EAGAIN)
			return;
	}
}

/* The Carrier keeps its uid (to read the memory of a task that is not yet
 * dumpable and to kill the tree) but takes the task's groups (none) and
 * gid for the run; the supervisor takes the task's uid as effective uid
 * around the calls it performs for the task (scout_supervisor.c:
 * become_task; a read of a system file the task's mode bits allow needs
 * none), so the kernel checks those as the task's own. */
static int take_task_identity(const struct flight_deck_opts *o)
{
	if (setgroups(0, NULL) < 0 || setresgid((gid_t)-1, o->gid, (gid_t)-1) < 0)
		return -1;
	if (getegid() != o->gid || (gid_t)setfsgid((gid_t)-1) != o->gid) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/*
 * The supervisor loop waits in NOTIF_RECV itself, not in a poll() before
 * it: one syscall fewer per trapped call (each a ptrace round trip under
 * UML, ~190 of them in a gcc of hello.c). Signals end that wait: SIGCHLD
 * (the leader or an orphan exited), SIGALRM (the timeout), SIGTERM,
 * SIGINT, SIGHUP. Their handler records the signal and, while `waiting`
 * is set, siglongjmps out of the wait; waiting is set before the flags
 * are looked at and cleared by the supervisor the moment NOTIF_RECV
 * returns, so a signal is either seen by that look or cuts the wait
 * short, never lost between them, and never lands in the middle of an
 * answer. The kernel fills the request only when NOTIF_RECV succeeds,
 * just before it returns, so after a jump a request is either all there
 * (answered by scout_supervisor_handle_received) or not at all.
 */
static sigjmp_buf wake_jmp;
static volatile sig_atomic_t waiting, got_child, got_alarm, got_stop;

static void on_signal(int sig)
{
	if (sig == SIGCHLD)
		got_child = 1;
	else if (sig == SIGALRM)
		got_alarm = 1;
	else
		got_stop = sig;
	if (waiting) {
		waiting = 0;
		siglongjmp(wake_jmp, 1);
	}
}

/* Waits for a trapped call and answers it, or for a signal (with no
 * listener left: for a signal only). -1: the listener is dead. */
static int wait_for_work(struct scout_supervisor *sup, int nfd, const sigset_t *handled)
{
	if (sigsetjmp(wake_jmp, 0) != 0) {
		/* The handler's mask outlives a jump that saved none. */
		sigprocmask(SIG_UNBLOCK, handled, NULL);
		return nfd >= 0 ? scout_supervisor_handle_received(sup, nfd) : 0;
	}
	waiting = 1;
	if (got_child || got_alarm || got_stop) {
		waiting = 0;
		return 0;
	}
	if (nfd < 0) {
		pause();	/* ends in the handler's jump */
		waiting = 0;
		return 0;
	}
	return scout_supervisor_handle(sup, nfd, &waiting);
}

/* Arms SIGALRM for the deadline (0: none). */
static void arm_alarm(double deadline)
{
	struct itimerval it = { { 0, 0 }, { 0, 0 } };

	if (deadline > 0) {
		double left = deadline - mono_now();
		long long us = left > 0.001 ? (long long)(left * 1e6) + 1 : 1000;

		it.it_value.tv_sec = (time_t)(us / 1000000);
		it.it_value.tv_usec = (suseconds_t)(us % 1000000);
	}
	if (setitimer(ITIMER_REAL, &it, NULL) < 0)
		log_warn("%s: setitimer", __func__);
}

/* scout_filter_data.S */
extern const struct sock_filter scout_filter_bpf[];
extern const uint64_t scout_filter_bpf_size;

int scout_filter_prebuilt(struct sock_fprog *prog, char *err, size_t errlen)
{
	uint64_t size = scout_filter_bpf_size;

	if (size == 0 || size % sizeof(struct sock_filter) != 0 ||
	    size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return errbuf_set(err, errlen, "the built-in filter has %llu bytes",
		    (unsigned long long)size);
	prog->len = (unsigned short)(size / sizeof(struct sock_filter));
	prog->filter = (struct sock_filter *)scout_filter_bpf;
	return 0;
}

int flight_deck_run(const struct flight_deck_opts *o, struct scout_supervisor *sup)
{
	char err[256];
	struct sock_fprog prog;
	sigset_t mask, oldmask, handled;
	static const int handled_signals[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGALRM };
	enum { NHANDLED = sizeof(handled_signals) / sizeof(handled_signals[0]) };
	struct sigaction sa, old_sa[NHANDLED];
	int sv[2], sigfd, nfd, status = 125, leader_done = 0, ready = 0;
	pid_t pid, self = getpid();
	gid_t carrier_egid = getegid();
	double deadline = o->timeout_s > 0 ? mono_now() + o->timeout_s : 0;

	/* Built at build time: the child only loads it. */
	if (scout_filter_prebuilt(&prog, err, sizeof(err)) < 0) {
		log_warnx("%s: %s", __func__, err);
		return 125;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		log_warn("%s: PR_SET_CHILD_SUBREAPER", __func__);
		return 125;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, &oldmask) < 0 ||
	    (sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		log_warn("%s: signalfd", __func__);
		return 125;
	}
	if (o->hold_fd < 0)
		scout_supervisor_hello(sup);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_warn("%s: socketpair", __func__);
		close(sigfd);
		return 125;
	}
	pid = fork();
	if (pid < 0) {
		log_warn("%s: fork", __func__);
		close(sigfd);
		close(sv[0]);
		close(sv[1]);
		return 125;
	}
	if (pid == 0) {
		close(sv[0]);
		close(sigfd);
		child_takeoff(o, &prog, sv[1], &oldmask, self);
	}
	close(sv[1]);
	nfd = recv_fd(sv[0]);
	if (nfd < 0) {
		log_warnx("%s: the task did not hand over its Scout listener", __func__);
		close(sv[0]);
		land_all(sigfd);
		close(sigfd);
		return 125;
	}
	/* From now on the Carrier opens files as the task would. */
	if (o->drop && take_task_identity(o) < 0) {
		log_warn("%s: taking the task's file-system identity", __func__);
	} else if (scout_supervisor_set_task(sup, o->drop ? o->uid : geteuid(), o->drop) < 0) {
		log_warnx("%s: cannot act on files as the task (setresuid)", __func__);
	} else {
		if (o->hold_fd >= 0)
			scout_supervisor_warm(sup, pid);
		ready = o->hold_fd < 0 || release_held(o->hold_fd, sigfd, sv[0], sup) == 0;
	}
	close(sv[0]);
	if (!ready) {
		close(nfd);
		land_all(sigfd);
		close(sigfd);
		return 125;
	}
	/* The wait: signals through their handler from here to the landing. */
	got_child = got_alarm = got_stop = 0;
	sigemptyset(&handled);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	for (size_t i = 0; i < NHANDLED; i++)
		sigaddset(&handled, handled_signals[i]);
	sa.sa_mask = handled;	/* no SA_RESTART: a signal ends the wait */
	for (size_t i = 0; i < NHANDLED; i++)
		if (sigaction(handled_signals[i], &sa, &old_sa[i]) < 0)
			log_warn("%s: sigaction", __func__);
	arm_alarm(deadline);
	sigprocmask(SIG_UNBLOCK, &handled, NULL);
	while (!leader_done) {
		if (wait_for_work(sup, nfd, &handled) < 0) {
			log_warn("%s: notification", __func__);
			close(nfd);
			nfd = -1;
		}
		if (got_alarm) {
			got_alarm = 0;
			if (deadline > 0 && mono_now() >= deadline) {
				log_warnx("timeout: %u s; killing the task", o->timeout_s);
				status = 128 + SIGKILL;
				break;
			}
			arm_alarm(deadline);
		}
		if (got_stop) {
			log_warnx("signal %d: killing the task", (int)got_stop);
			status = 128 + got_stop;
			break;
		}
		if (got_child) {
			pid_t w;
			int st;

			got_child = 0;
			while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
				if (w == pid) {
					status = status_code(st);
					leader_done = 1;
				}
			}
			if (w < 0 && errno == ECHILD)
				leader_done = 1;
		}
	}
	sigprocmask(SIG_BLOCK, &handled, NULL);
	arm_alarm(0);
	/* SIG_IGN drops a SIGALRM that came after the last look. */
	signal(SIGALRM, SIG_IGN);
	for (size_t i = 0; i < NHANDLED; i++)
		sigaction(handled_signals[i], &old_sa[i], NULL);
	land_all(sigfd);
	if (o->drop && setresgid((gid_t)-1, carrier_egid, (gid_t)-1) < 0)
		log_warn("%s: setresgid", __func__);
	if (nfd >= 0)
		close(nfd);
	close(sigfd);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	scout_supervisor_finish(sup);
	return status;
}
