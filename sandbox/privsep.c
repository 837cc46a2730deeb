/*
 * privsep.c: hostile archives (an upload, the guest's output.tar) are
 * parsed by tmc-unpack, a fresh and confined process, never by the
 * privileged caller (sandboxd and sandbox-run run as root). This file is
 * the caller's end (privsep_upload, privsep_output) and the frames both
 * ends speak; unpack_main.c is the helper.
 *
 * Theory of operation (privilege separation, the OpenBSD way):
 *   caller (sandboxd's runner thread, sandbox-run; root or not): opens the
 *     input O_RDONLY|O_NOFOLLOW and, for an upload, creates runnable.tar
 *     O_WRONLY|O_CREAT|O_EXCL; builds argv; forks.
 *   child, between fork and exec (async-signal-safe calls and raw syscalls
 *     only: the caller may be one thread of many): default signals, fds
 *     0 input, 1 runnable.tar (or /dev/null), 2 /dev/null, 3 the answer
 *     pipe and no other; rlimits AS, CPU, FSIZE (bounded by the request's
 *     caps), NOFILE 16, CORE 0; cwd /; when root: no supplementary groups,
 *     then the instance's unprivileged gid and uid (the one UML runs as);
 *     no_new_privs, parent-death SIGKILL; execve with an empty environment.
 *   tmc-unpack: a fresh address space (nothing of the daemon's memory),
 *     links libarchive (the caller does not need to); installs its seccomp
 *     filter before it reads a byte; runs upload_tar_normalize_fd() or
 *     output_tar_read_fd() on fds 0/1; answers with frames on fd 3; exits 0.
 *   caller: reads frames until a final one, under a wall-clock deadline,
 *     checking each length against the request's cap before allocating;
 *     then wants EOF and exit status 0. A timeout (the child is SIGKILLed),
 *     a crash, another exit status, a short, oversized, unknown or extra
 *     frame: the request fails with an error, never the caller.
 *
 * Frames (child -> caller only): struct privsep_hdr { u32 type; u32 len }
 * in host byte order, then len bytes. Types and payloads: enum privsep_msg
 * in sandbox_host.h.
 *
 * Owns: the confinement of the parser process and the caps on its answer;
 * the upload limits' defaults.
 * Never: reads the input itself, trusts a length, name, flag or text of
 * the child beyond the caps (file data is sanitized again, text made
 * printable), leaves a child behind, allocates between fork and exec.
 * Test hook: privsep_helper.fn runs a function in the forked child instead
 * of the exec (same fds, rlimits and uid; no seccomp, that is tmc-unpack's).
 */
#define _GNU_SOURCE
#include "sandbox/sandbox_host.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB ((uint64_t)1024 * 1024)
#define PRIVSEP_AS (512 * MiB)		/* libarchive's decoders, the tar state */
#define PRIVSEP_NOFILE 16		/* fds 0..3 and the loader's while exec'ing */
#define PRIVSEP_OUTPUT_TIMEOUT_S 30	/* plain tar of at most the output cap */
#define PRIVSEP_UPLOAD_TIMEOUT_S 30	/* plus 1 s per 16 MiB that may be unpacked */

void upload_limits_defaults(struct upload_limits *lim)
{
	lim->max_entries = 10000;
	lim->max_unpacked = 64ULL << 20;
	lim->max_entry = 64ULL << 20;
}

static uint64_t privsep_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t privsep_mul(uint64_t a, uint64_t b)
{
	return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* Bytes of tar stream an upload may decompress to: the unpacked cap plus
 * headers, padding and pax records. Also bounds the clean runnable.tar. */
uint64_t upload_stream_cap(const struct upload_limits *lim)
{
	return privsep_add(privsep_add(lim->max_unpacked,
	    privsep_mul(privsep_add(lim->max_entries, 16), 2048)), MiB);
}

/* ------------------------------------------------------------ child's end */

/* One frame: header, then a and b back to back. 0, or -1 with errno. */
int privsep_send(int fd, uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	struct privsep_hdr h;

	if (alen + blen < alen || alen + blen > PRIVSEP_FRAME_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	h.type = type;
	h.len = (uint32_t)(alen + blen);
	if (write_full(fd, &h, sizeof(h)) < 0 || (alen > 0 && write_full(fd, a, alen) < 0) ||
	    (blen > 0 && write_full(fd, b, blen) < 0))
		return -1;
	return 0;
}

/* The answer to an output request: one FILE frame per file, a NOTE when
 * something was skipped, END. */
int privsep_send_output(int fd, const struct output_set *set)
{
	for (size_t i = 0; i < set->count; i++) {
		const struct output_file *f = &set->files[i];
		uint32_t head[2];
		char buf[sizeof(head) + sizeof(f->name)];
		size_t nlen = strnlen(f->name, sizeof(f->name));

		head[0] = f->truncated ? 1 : 0;
		head[1] = (uint32_t)nlen;
		memcpy(buf, head, sizeof(head));
		memcpy(buf + sizeof(head), f->name, nlen);
		if (privsep_send(fd, PRIVSEP_MSG_FILE, buf, sizeof(head) + nlen, f->data, f->len) < 0)
			return -1;
	}
	if (set->malformed &&
	    privsep_send(fd, PRIVSEP_MSG_NOTE, set->note, strnlen(set->note, sizeof(set->note)),
	    NULL, 0) < 0)
		return -1;
	return privsep_send(fd, PRIVSEP_MSG_END, NULL, 0, NULL, 0);
}

/* ----------------------------------------------------------- caller's end */

/* One request, prepared before the fork: nothing is allocated after it. */
struct privsep_req {
	const struct privsep_helper *h;
	char *argv[8];
	char args[4][32];
	int argc, nargs;
	int in_fd, out_fd, devnull;
	int drop;			/* root: change to h->uid/h->gid */
	int spare;			/* start it to wait for its fds (spares below) */
	unsigned timeout_s;
	struct rlimit as, cpu, fsize, nofile, core;
	int limit_as;
	pid_t parent;
};

struct privsep_proc {
	pid_t pid;
	int pidfd;
	int fd;				/* the answer pipe's read end */
	double deadline;
	int eof;			/* the child closed its end */
	int timed_out;
	int killed;			/* by us: timeout or a bad answer */
};

static void __attribute__((noreturn)) privsep_child(const struct privsep_req *r, int msg_fd)
{
	static char *const envp[] = { NULL };
	sigset_t none;
	int in, out, msg, nul;

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	/* Lifted above 3 first, so that the dup2s below cannot clobber them. */
	in = fcntl(r->in_fd >= 0 ? r->in_fd : r->devnull, F_DUPFD_CLOEXEC, 10);
	out = fcntl(r->out_fd >= 0 ? r->out_fd : r->devnull, F_DUPFD_CLOEXEC, 10);
	nul = fcntl(r->devnull, F_DUPFD_CLOEXEC, 10);
	msg = fcntl(msg_fd, F_DUPFD_CLOEXEC, 10);
	if (in < 0 || out < 0 || nul < 0 || msg < 0 ||
	    dup2(in, PRIVSEP_FD_IN) < 0 || dup2(out, PRIVSEP_FD_OUT) < 0 || dup2(nul, 2) < 0 ||
	    dup2(msg, PRIVSEP_FD_MSG) < 0 ||
	    syscall(SYS_close_range, PRIVSEP_FD_MSG + 1, ~0U, 0) < 0)
		_exit(PRIVSEP_EXIT_SETUP);
	if ((r->limit_as && setrlimit(RLIMIT_AS, &r->as) < 0) ||
	    setrlimit(RLIMIT_CPU, &r->cpu) < 0 || setrlimit(RLIMIT_FSIZE, &r->fsize) < 0 ||
	    setrlimit(RLIMIT_NOFILE, &r->nofile) < 0 || setrlimit(RLIMIT_CORE, &r->core) < 0)
		_exit(PRIVSEP_EXIT_SETUP);
	if (chdir("/") < 0)
		_exit(PRIVSEP_EXIT_SETUP);
	if (r->drop && drop_ids(r->h->uid, r->h->gid) != 0)
		_exit(PRIVSEP_EXIT_SETUP);
	/* After the uid change, which clears the parent-death signal. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != r->parent)
		_exit(PRIVSEP_EXIT_SETUP);
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		_exit(PRIVSEP_EXIT_SETUP);
	if (r->h->fn != NULL)
		_exit(r->h->fn(r->argc, (char **)r->argv));
	execve(r->h->path, (char **)r->argv, envp);
	_exit(PRIVSEP_EXIT_EXEC);
}

static int privsep_spawn(struct privsep_req *r, struct privsep_proc *p, char *err, size_t errlen)
{
	sigset_t all, saved;
	int pipefd[2];
	pid_t pid;

	p->pid = -1;
	p->pidfd = -1;
	p->fd = -1;
	p->eof = p->timed_out = p->killed = 0;
	/* A spare's fd 3 must also carry the request's fds to it (SCM_RIGHTS);
	 * a stream socket reads like the pipe otherwise. */
	if (r->spare ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pipefd) < 0 :
	    pipe2(pipefd, O_CLOEXEC) < 0)
		return errbuf_set(err, errlen, "%s: %s", r->spare ? "socketpair" : "pipe",
		    strerror(errno));
	/* No handler of the caller's may run in the child before the reset. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	/* vfork for an exec: the child only makes syscalls on its own process
	 * state until the execve, and a fork of sandboxd (threads, curl, a
	 * big heap) copied its page tables and then made the parent's next
	 * writes copy-on-write faults, twice per task. A test's in-process
	 * helper (h->fn) runs C code in the child, which needs its own copy. */
	pid = r->h->fn != NULL ? fork() : vfork();
	if (pid == 0)
		privsep_child(r, pipefd[1]);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		return errbuf_set(err, errlen, "fork: %s", strerror(errno));
	}
	p->pid = pid;
	p->fd = pipefd[0];
	p->deadline = mono_now() + r->timeout_s;
	/* The exit is waited for with a deadline too: a child that closes
	 * its pipe and sleeps must not hold the caller. */
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (p->pidfd < 0) {
		int e = errno;

		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		close(p->fd);
		p->fd = -1;
		p->pid = -1;
		return errbuf_set(err, errlen, "pidfd_open: %s", strerror(e));
	}
	return 0;
}

/* Waits for fd (POLLIN) until the deadline; 0 when ready, -1 on timeout. */
static int privsep_wait_fd(struct privsep_proc *p, int fd)
{
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		double left = p->deadline - mono_now();
		int n;

		if (left <= 0) {
			p->timed_out = 1;
			return -1;
		}
		n = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* Reads exactly len bytes. 1 when done, 0 at EOF before the first byte,
 * -1 on a timeout, EOF inside, or a read error (err says which). */
static int privsep_read(struct privsep_proc *p, void *buf, size_t len, char *err, size_t errlen)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		if (privsep_wait_fd(p, p->fd) < 0)
			return errbuf_set(err, errlen, p->timed_out ? "no answer in time" : "poll: %s",
			    strerror(errno));
		n = read(p->fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errbuf_set(err, errlen, "read: %s", strerror(errno));
		if (n == 0) {
			p->eof = 1;
			return got == 0 ? 0 : errbuf_set(err, errlen, "answer cut short");
		}
		got += (size_t)n;
	}
	return 1;
}

/* The next frame: its header checked against max (the largest payload the
 * caller accepts for that type, 0 for an unknown type), then the payload
 * in *data (NUL-terminated, free it). 0, or -1 with err. */
static int privsep_recv(struct privsep_proc *p, size_t (*max)(uint32_t type, const void *ctx),
    const void *ctx, struct privsep_hdr *h, char **data, char *err, size_t errlen)
{
	int rc;

	*data = NULL;
	rc = privsep_read(p, h, sizeof(*h), err, errlen);
	if (rc == 0)
		return errbuf_set(err, errlen, "no answer");
	if (rc < 0)
		return -1;
	if (h->len > max(h->type, ctx))
		return errbuf_set(err, errlen, "bad answer: frame type %" PRIu32 " of %" PRIu32 " bytes",
		    h->type, h->len);
	*data = malloc((size_t)h->len + 1);
	if (*data == NULL)
		return errbuf_set(err, errlen, "out of memory");
	if (h->len > 0 && privsep_read(p, *data, h->len, err, errlen) != 1) {
		if (p->eof)
			errbuf_set(err, errlen, "answer cut short");
		free(*data);
		*data = NULL;
		return -1;
	}
	(*data)[h->len] = '\0';
	return 0;
}

static void privsep_kill(struct privsep_proc *p)
{
	if (p->pid <= 0 || p->killed)
		return;
	p->killed = 1;
	(void)syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
}

/* Ends the conversation and reaps the child. answered: a well-formed final
 * frame was read; then nothing may follow but EOF, and the exit status must
 * be 0. proto_err: what was wrong with the answer otherwise. Returns 0 when
 * all is well, else -1 with err; the child's death takes precedence over a
 * protocol error (a crash mid-frame is a crash, not a short frame). */
static int privsep_finish(struct privsep_proc *p, int answered, const char *proto_err,
    char *err, size_t errlen)
{
	static const char name[] = "tmc-unpack";
	char extra, why[256];
	int st = 0;
	pid_t r;

	snprintf(why, sizeof(why), "%s", proto_err != NULL ? proto_err : "bad answer");
	if (answered) {
		int rc = privsep_read(p, &extra, 1, why, sizeof(why));

		if (rc == 1)
			errbuf_set(why, sizeof(why), "bad answer: bytes after the final frame");
		if (rc != 0)
			answered = 0;
	}
	/* At EOF the child is on its way out and gets until the deadline;
	 * otherwise (timeout, garbage) it is killed now. */
	if (!p->eof || p->timed_out || privsep_wait_fd(p, p->pidfd) < 0)
		privsep_kill(p);
	do
		r = waitpid(p->pid, &st, 0);
	while (r < 0 && errno == EINTR);
	close(p->fd);
	close(p->pidfd);
	p->fd = p->pidfd = -1;
	p->pid = -1;
	if (r < 0)
		return errbuf_set(err, errlen, "%s: waitpid: %s", name, strerror(errno));
	if (WIFSIGNALED(st) && !(p->killed && WTERMSIG(st) == SIGKILL))
		return errbuf_set(err, errlen, "%s died of signal %d (SIG%s)", name, WTERMSIG(st),
		    sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?");
	if (p->timed_out)
		return errbuf_set(err, errlen, "%s killed: no answer within the time limit", name);
	if (WIFEXITED(st) && WEXITSTATUS(st) == PRIVSEP_EXIT_SETUP)
		return errbuf_set(err, errlen, "%s could not confine itself", name);
	if (WIFEXITED(st) && WEXITSTATUS(st) == PRIVSEP_EXIT_EXEC)
		return errbuf_set(err, errlen, "%s could not be started", name);
	if (!answered)
		return errbuf_set(err, errlen, "%s: %s", name, why);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return errbuf_set(err, errlen, "%s exited with status %d", name,
		    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}

/* Text from the child (an error, a note), made safe for a log line and a
 * JSON string: valid UTF-8, no control characters. */
static void privsep_text(const char *in, size_t len, char *out, size_t outlen)
{
	size_t clen, o = 0;
	char *clean = utf8_sanitize(in, len, &clen);

	if (outlen == 0)
		return;
	if (clean == NULL) {
		snprintf(out, outlen, "(unprintable)");
		return;
	}
	/* Cut at a character boundary, never inside a sequence. */
	for (size_t i = 0; i < clen && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)clean[i];

		if ((c & 0xC0) != 0x80) {
			size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;

			if (o + n >= outlen)
				break;
		}
		out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	out[o] = '\0';
	free(clean);
}

static int privsep_prepare(struct privsep_req *r, const struct privsep_helper *h,
    const char *what, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->h = h;
	r->in_fd = r->out_fd = r->devnull = -1;
	r->drop = geteuid() == 0;
	r->parent = getpid();
	if (h->fn == NULL && (h->path == NULL || h->path[0] != '/'))
		return errbuf_set(err, errlen, "%s: no tmc-unpack (an absolute path) to parse it with",
		    what);
	/* The point of all this: a parser exploit must not get root. */
	if (r->drop && (h->uid == 0 || h->gid == 0))
		return errbuf_set(err, errlen, "%s: refusing to parse it as uid/gid 0", what);
	r->argv[r->argc++] = (char *)"tmc-unpack";
	r->nofile.rlim_cur = r->nofile.rlim_max = PRIVSEP_NOFILE;
	r->core.rlim_cur = r->core.rlim_max = 0;
	r->as.rlim_cur = r->as.rlim_max = PRIVSEP_AS;
#if defined(__SANITIZE_ADDRESS__)
	/* ASan's shadow is terabytes of reserved address space: an ASan
	 * build (tests) cannot run a function under RLIMIT_AS. tmc-unpack
	 * itself is never an ASan build. */
	r->limit_as = h->fn == NULL;
#else
	r->limit_as = 1;
#endif
	r->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (r->devnull < 0)
		return errbuf_set(err, errlen, "open /dev/null: %s", strerror(errno));
	return 0;
}

static void privsep_release(struct privsep_req *r)
{
	if (r->devnull >= 0)
		close(r->devnull);
	if (r->in_fd >= 0)
		close(r->in_fd);
	if (r->out_fd >= 0)
		close(r->out_fd);
	r->devnull = r->in_fd = r->out_fd = -1;
}

static void privsep_arg(struct privsep_req *r, uint64_t v)
{
	char *a = r->args[r->nargs++];

	snprintf(a, sizeof(r->args[0]), "%" PRIu64, v);
	r->argv[r->argc++] = a;
}

static void privsep_times(struct privsep_req *r, unsigned timeout_s)
{
	r->timeout_s = r->h->timeout_s ? r->h->timeout_s : timeout_s;
	r->cpu.rlim_cur = r->timeout_s;
	r->cpu.rlim_max = (rlim_t)r->timeout_s + 1;
}

/* ---------------------------------------------------------------- spares
 * A spare is a tmc-unpack started before its request, confined as any
 * (privsep_child: uid, rlimits, no_new_privs, no other fd), with fds 0 and
 * 1 on /dev/null and fd 3 one end of a socket pair. It loads its
 * libraries and waits in recvmsg() for the request's input and output
 * fds; only then does it install its seccomp filter and read a byte. The
 * exec and the loading (18 libraries: ~8.5 ms of a 9.3 ms run on a small
 * archive here) are then off the request's clock, once for the upload
 * and once for output.tar. A spare serves only the request it was made
 * for: its key is the whole argv and every rlimit, so a changed cap or
 * uid gets a fresh process. The deadline counts from the request.
 * Kept per process, for the thread that made it: the parent-death signal
 * follows that thread (sandboxd's runner, sandbox-run's main).
 */

#define PRIVSEP_SPARES 4
#define PRIVSEP_KEY_MAX 512

struct privsep_spare {
	struct privsep_proc proc;	/* pid 0: the slot is free */
	char key[PRIVSEP_KEY_MAX];
	unsigned long seq;		/* the oldest goes first when full */
};

static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static struct privsep_spare spares[PRIVSEP_SPARES];
static unsigned long spare_seq;

/* The key of requests like r: 0, or -1 when it does not fit (a very long
 * tmc-unpack path), and then no spare is made or used for them. */
static int privsep_key(const struct privsep_req *r, char *key, size_t len)
{
	int n = snprintf(key, len, "%s|%u:%u:%d|%d:%llu:%llu:%llu:%llu:%llu|",
	    r->h->path, (unsigned)r->h->uid, (unsigned)r->h->gid, r->drop, r->limit_as,
	    (unsigned long long)r->as.rlim_max, (unsigned long long)r->cpu.rlim_max,
	    (unsigned long long)r->fsize.rlim_max, (unsigned long long)r->nofile.rlim_max,
	    (unsigned long long)r->core.rlim_max);
	size_t o = n < 0 ? len : (size_t)n;

	for (int i = 0; i < r->argc && o < len; i++) {
		n = snprintf(key + o, len - o, "%s ", r->argv[i]);
		o = n < 0 ? len : o + (size_t)n;
	}
	return o < len ? 0 : -1;
}

/* Kills and reaps a spare taken out of the table. */
static void privsep_spare_end(struct privsep_proc *p)
{
	(void)syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
	while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
		;
	close(p->fd);
	close(p->pidfd);
}

/* Hands the request to a spare made for it: 0, or -1 when there is none
 * (or it died, or would not take the fds: it is then reaped). */
static int privsep_take_spare(const struct privsep_req *r, struct privsep_proc *p)
{
	char key[PRIVSEP_KEY_MAX];
	struct pollfd dead;
	int found = 0;

	if (privsep_key(r, key, sizeof(key)) < 0)
		return -1;
	pthread_mutex_lock(&spare_lock);
	for (int i = 0; i < PRIVSEP_SPARES && !found; i++) {
		if (spares[i].proc.pid > 0 && strcmp(spares[i].key, key) == 0) {
			*p = spares[i].proc;
			spares[i].proc.pid = 0;
			found = 1;
		}
	}
	pthread_mutex_unlock(&spare_lock);
	if (!found)
		return -1;
	dead = (struct pollfd){ p->pidfd, POLLIN, 0 };
	if (poll(&dead, 1, 0) != 0 ||
	    send_fds(p->fd, (const int[]){ r->in_fd, r->out_fd >= 0 ? r->out_fd : r->devnull }, 2) < 0) {
		log_warnx("tmc-unpack: a spare (pid %d) was gone or would not take its request; "
		    "starting a new one", (int)p->pid);
		privsep_spare_end(p);
		return -1;
	}
	p->eof = p->timed_out = p->killed = 0;
	p->deadline = mono_now() + r->timeout_s;
	return 0;
}

static int privsep_start(struct privsep_req *r, struct privsep_proc *p, char *err, size_t errlen)
{
	if (r->h->fn == NULL && privsep_take_spare(r, p) == 0)
		return 0;
	return privsep_spawn(r, p, err, errlen);
}

/* Starts a spare for requests like r, unless one is kept already. */
static int privsep_keep_spare(struct privsep_req *r, char *err, size_t errlen)
{
	struct privsep_spare *slot = NULL;
	struct privsep_proc p, evicted = { .pid = 0 };
	char key[PRIVSEP_KEY_MAX];
	int i;

	if (r->h->fn != NULL || privsep_key(r, key, sizeof(key)) < 0)
		return 0;
	pthread_mutex_lock(&spare_lock);
	for (i = 0; i < PRIVSEP_SPARES; i++)
		if (spares[i].proc.pid > 0 && strcmp(spares[i].key, key) == 0)
			break;
	pthread_mutex_unlock(&spare_lock);
	if (i < PRIVSEP_SPARES)
		return 0;
	r->spare = 1;
	r->argv[r->argc] = NULL;
	/* "tmc-unpack spare MODE ...": argv[0] stays, the mode moves up one. */
	memmove(&r->argv[2], &r->argv[1], (size_t)r->argc * sizeof(r->argv[0]));
	r->argv[1] = (char *)"spare";
	r->argc++;
	if (privsep_spawn(r, &p, err, errlen) < 0)
		return -1;
	pthread_mutex_lock(&spare_lock);
	for (i = 0; i < PRIVSEP_SPARES; i++) {
		if (spares[i].proc.pid <= 0) {
			slot = &spares[i];
			break;
		}
		if (slot == NULL || spares[i].seq < slot->seq)
			slot = &spares[i];
	}
	if (slot->proc.pid > 0)
		evicted = slot->proc;
	slot->proc = p;
	slot->seq = ++spare_seq;
	snprintf(slot->key, sizeof(slot->key), "%s", key);
	pthread_mutex_unlock(&spare_lock);
	if (evicted.pid > 0)
		privsep_spare_end(&evicted);
	return 0;
}

void privsep_spares_drop(void)
{
	struct privsep_proc drop[PRIVSEP_SPARES];
	int n = 0;

	pthread_mutex_lock(&spare_lock);
	for (int i = 0; i < PRIVSEP_SPARES; i++)
		if (spares[i].proc.pid > 0) {
			drop[n++] = spares[i].proc;
			spares[i].proc.pid = 0;
		}
	pthread_mutex_unlock(&spare_lock);
	for (int i = 0; i < n; i++)
		privsep_spare_end(&drop[i]);
}

int privsep_spares(pid_t *pids, int max)
{
	int n = 0;

	pthread_mutex_lock(&spare_lock);
	for (int i = 0; i < PRIVSEP_SPARES; i++)
		if (spares[i].proc.pid > 0) {
			if (n < max)
				pids[n] = spares[i].proc.pid;
			n++;
		}
	pthread_mutex_unlock(&spare_lock);
	return n;
}

static size_t privsep_upload_max(uint32_t type, const void *ctx)
{
	(void)ctx;
	switch (type) {
	case PRIVSEP_MSG_OK: return 0;
	case PRIVSEP_MSG_ERROR: return PRIVSEP_TEXT_MAX;
	default: return 0;
	}
}

static int privsep_upload_req(struct privsep_req *r, const struct privsep_helper *h,
    const struct upload_limits *lim, char *err, size_t errlen)
{
	if (privsep_prepare(r, h, "upload", err, errlen) < 0)
		return -1;
	r->argv[r->argc++] = (char *)"upload";
	privsep_arg(r, lim->max_entries);
	privsep_arg(r, lim->max_unpacked);
	privsep_arg(r, lim->max_entry);
	privsep_times(r, PRIVSEP_UPLOAD_TIMEOUT_S + (unsigned)(lim->max_unpacked >> 24 > 3600 ?
	    3600 : lim->max_unpacked >> 24));
	r->fsize.rlim_cur = r->fsize.rlim_max = upload_stream_cap(lim) > RLIM_INFINITY - 1 ?
	    RLIM_INFINITY - 1 : (rlim_t)upload_stream_cap(lim);
	return 0;
}

int privsep_upload_spare(const struct privsep_helper *h, const struct upload_limits *lim,
    char *err, size_t errlen)
{
	struct privsep_req r;
	int rc = privsep_upload_req(&r, h, lim, err, errlen) < 0 ? -1 :
	    privsep_keep_spare(&r, err, errlen);

	privsep_release(&r);
	return rc;
}

/* Validates in_path and writes the clean ustar out_tar (created here, with
 * O_EXCL; removed again on failure) through tmc-unpack. Same rules and
 * messages as upload_tar_normalize(); when the parser dies, hangs or talks
 * garbage: -1 with "upload could not be validated: ...". */
int privsep_upload(const struct privsep_helper *h, const char *in_path, const char *out_tar,
    const struct upload_limits *lim, char *err, size_t errlen)
{
	struct privsep_req r;
	struct privsep_proc p;
	struct privsep_hdr hd;
	char *data = NULL, perr[256] = "";
	int rc = -1, answered = 0, created = 0;

	if (privsep_upload_req(&r, h, lim, err, errlen) < 0)
		goto out;
	r.in_fd = open(in_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (r.in_fd < 0) {
		errbuf_set(err, errlen, "open upload: %s", strerror(errno));
		goto out;
	}
	r.out_fd = open(out_tar, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (r.out_fd < 0) {
		errbuf_set(err, errlen, "create %s: %s", out_tar, strerror(errno));
		goto out;
	}
	created = 1;
	if (privsep_start(&r, &p, err, errlen) < 0)
		goto out;
	if (privsep_recv(&p, privsep_upload_max, NULL, &hd, &data, perr, sizeof(perr)) == 0) {
		if (hd.type == PRIVSEP_MSG_OK) {
			answered = 1;
			rc = 0;
		} else if (hd.type == PRIVSEP_MSG_ERROR) {
			answered = 1;
			privsep_text(data, hd.len, err, errlen);
			if (err != NULL && errlen > 0 && err[0] == '\0')
				errbuf_set(err, errlen, "rejected");
		} else {
			errbuf_set(perr, sizeof(perr), "bad answer: frame type %" PRIu32, hd.type);
		}
	}
	if (privsep_finish(&p, answered, answered ? NULL : perr, perr, sizeof(perr)) < 0) {
		errbuf_set(err, errlen, "upload could not be validated: %s", perr);
		rc = -1;
	}
	if (rc == 0 && fsync(r.out_fd) < 0)
		rc = errbuf_set(err, errlen, "fsync runnable.tar: %s", strerror(errno));
out:
	free(data);
	privsep_release(&r);
	if (rc < 0 && created)
		unlink(out_tar);
	return rc;
}

struct privsep_output_ctx {
	uint64_t file_cap;
};

static size_t privsep_output_max(uint32_t type, const void *ctx)
{
	const struct privsep_output_ctx *c = ctx;
	/* A file's data as the child sanitized it: at most 3 bytes (U+FFFD)
	 * for each byte read, the file capped at file_cap. */
	uint64_t file = privsep_add(privsep_mul(c->file_cap, 3), 2 * sizeof(uint32_t) + 64);

	switch (type) {
	case PRIVSEP_MSG_FILE: return file > PRIVSEP_FRAME_MAX ? PRIVSEP_FRAME_MAX : (size_t)file;
	case PRIVSEP_MSG_NOTE: return sizeof(((struct output_set *)NULL)->note) - 1;
	case PRIVSEP_MSG_ERROR: return PRIVSEP_TEXT_MAX;
	case PRIVSEP_MSG_END: return 0;
	default: return 0;
	}
}

/* One FILE frame into the set, every field checked. */
static int privsep_take_file(struct output_set *out, const char *d, uint32_t len,
    uint64_t file_cap, char *err, size_t errlen)
{
	struct output_file *f;
	uint32_t head[2];
	char name[sizeof(f->name)];
	size_t dlen;

	if (len < sizeof(head))
		return errbuf_set(err, errlen, "bad answer: short file frame");
	memcpy(head, d, sizeof(head));
	if (head[0] > 1 || head[1] == 0 || head[1] >= sizeof(name) || head[1] > len - sizeof(head))
		return errbuf_set(err, errlen, "bad answer: bad file header");
	memcpy(name, d + sizeof(head), head[1]);
	name[head[1]] = '\0';
	if (strlen(name) != head[1] || !output_name_known(name) || output_set_get(out, name) != NULL)
		return errbuf_set(err, errlen, "bad answer: unknown or repeated file name");
	if (out->count >= sizeof(out->files) / sizeof(out->files[0]))
		return errbuf_set(err, errlen, "bad answer: too many files");
	dlen = len - sizeof(head) - head[1];
	if (dlen > privsep_mul(file_cap, 3))
		return errbuf_set(err, errlen, "bad answer: %s over the cap", name);
	f = &out->files[out->count];
	memset(f, 0, sizeof(*f));
	memcpy(f->name, name, head[1] + 1);
	f->truncated = (int)head[0];
	f->data = utf8_sanitize(d + sizeof(head) + head[1], dlen, &f->len);
	if (f->data == NULL)
		return errbuf_set(err, errlen, "out of memory");
	out->count++;
	return 0;
}

/* Opens a file the guest could reach, for reading by fd only: never a
 * symlink (O_NOFOLLOW), never blocking on a FIFO put in its place
 * (O_NONBLOCK: the open of a FIFO without a writer would hang the root
 * caller), then fstat'ed: a regular file with one link (a hard link would
 * be another run's output.tar, or a file the guest keeps a hold on) and,
 * when expect is given, of the size and owner the caller made it with.
 * The fd, or -1 with err. */
static int privsep_open_guest_file(const char *path, const struct privsep_expect *expect,
    char *err, size_t errlen)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return errbuf_set(err, errlen, "open %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) < 0) {
		errbuf_set(err, errlen, "fstat %s: %s", path, strerror(errno));
	} else if (!S_ISREG(sb.st_mode)) {
		errbuf_set(err, errlen, "%s: not a regular file", path);
	} else if (sb.st_nlink != 1) {
		errbuf_set(err, errlen, "%s: %ju links, not 1", path, (uintmax_t)sb.st_nlink);
	} else if (expect != NULL && (uint64_t)sb.st_size != expect->size) {
		errbuf_set(err, errlen, "%s: %jd bytes, not the %" PRIu64 " it was made with", path,
		    (intmax_t)sb.st_size, expect->size);
	} else if (expect != NULL && sb.st_uid != expect->uid) {
		errbuf_set(err, errlen, "%s: owned by uid %u, not %u", path, (unsigned)sb.st_uid,
		    (unsigned)expect->uid);
	} else {
		return fd;
	}
	close(fd);
	return -1;
}

static int privsep_output_req(struct privsep_req *r, const struct privsep_helper *h,
    uint64_t file_cap, char *err, size_t errlen)
{
	if (privsep_prepare(r, h, "output.tar", err, errlen) < 0)
		return -1;
	r->argv[r->argc++] = (char *)"output";
	privsep_arg(r, file_cap);
	privsep_times(r, PRIVSEP_OUTPUT_TIMEOUT_S);
	/* It writes no file; file_cap bytes of each of the files, twice
	 * (read and sanitized, 3x in the worst case), on top of the base. */
	r->fsize.rlim_cur = r->fsize.rlim_max = 0;
	r->as.rlim_cur = r->as.rlim_max = (rlim_t)privsep_add(PRIVSEP_AS,
	    privsep_mul(file_cap, 4 * OUTPUT_NAMES));
	return 0;
}

int privsep_output_spare(const struct privsep_helper *h, uint64_t file_cap, char *err,
    size_t errlen)
{
	struct privsep_req r;
	int rc = privsep_output_req(&r, h, file_cap, err, errlen) < 0 ? -1 :
	    privsep_keep_spare(&r, err, errlen);

	privsep_release(&r);
	return rc;
}

/* Reads path (the guest's output.tar) through tmc-unpack into out. Same
 * contract as output_tar_read(): 0 and a set (possibly malformed) when the
 * file could be read; -1 with err when it could not be opened, is not
 * what privsep_open_guest_file() wants, or when the parser died, hung or
 * talked garbage (the caller then reports the guest as crashed:
 * output.tar is the guest's doing). */
int privsep_output(const struct privsep_helper *h, const char *path, uint64_t file_cap,
    const struct privsep_expect *expect, struct output_set *out, char *err, size_t errlen)
{
	struct privsep_output_ctx ctx = { file_cap };
	struct privsep_req r;
	struct privsep_proc p;
	char perr[256] = "";
	int rc = -1, answered = 0, noted = 0;

	memset(out, 0, sizeof(*out));
	if (privsep_output_req(&r, h, file_cap, err, errlen) < 0)
		goto out;
	r.in_fd = privsep_open_guest_file(path, expect, err, errlen);
	if (r.in_fd < 0)
		goto out;
	if (privsep_start(&r, &p, err, errlen) < 0)
		goto out;
	for (;;) {
		struct privsep_hdr hd;
		char *data;

		if (privsep_recv(&p, privsep_output_max, &ctx, &hd, &data, perr, sizeof(perr)) < 0)
			break;
		if (hd.type == PRIVSEP_MSG_FILE) {
			int bad = privsep_take_file(out, data, hd.len, file_cap, perr, sizeof(perr));

			free(data);
			if (bad < 0)
				break;
		} else if (hd.type == PRIVSEP_MSG_NOTE && !noted) {
			noted = 1;
			out->malformed = 1;
			privsep_text(data, hd.len, out->note, sizeof(out->note));
			free(data);
		} else if (hd.type == PRIVSEP_MSG_END) {
			free(data);
			answered = 1;
			rc = 0;
			break;
		} else if (hd.type == PRIVSEP_MSG_ERROR) {
			answered = 1;
			privsep_text(data, hd.len, err, errlen);
			free(data);
			break;
		} else {
			free(data);
			errbuf_set(perr, sizeof(perr), "bad answer: frame type %" PRIu32, hd.type);
			break;
		}
	}
	if (privsep_finish(&p, answered, answered ? NULL : perr, perr, sizeof(perr)) < 0) {
		errbuf_set(err, errlen, "output.tar could not be read: %s", perr);
		rc = -1;
	}
out:
	if (rc < 0)
		output_set_free(out);
	privsep_release(&r);
	return rc;
}
