/*
 * fpu_integrity.c: does every guest thread keep its own FPU state? Run by
 * tests/cases/fpu-integrity in the guest, compiled there with fp_step.S.
 * It exists for the lazy FPU patch of the UML kernel
 * (kernel/patches/0002), which moves a thread's FPU state between the
 * kernel and the host stub only when it changes hands; it must pass with
 * and without that patch.
 *
 * Several processes, each with several threads, load a register image of
 * their own (x87 values and control word, MXCSR, xmm/ymm/zmm and k
 * registers as far as the CPU has them) and, with it loaded, make a
 * syscall, yield, take a page fault, signal themselves (the handler loads
 * and checks an image of its own), spin while a timer signal whose handler
 * also uses the FPU interrupts them, or fork (parent and child each check
 * the image, the child then runs steps of its own). Every image is checked
 * when it is stored back. A traced child is read and changed through
 * PTRACE_GETFPREGS/SETFPREGS, and a process that execs with odd rounding
 * modes loaded must find the defaults in the new program. Alongside, processes compute a floating
 * point checksum whose value is known.
 *
 * Output: one line per mismatch, then "fpu-integrity: PASS (N steps)" or
 * "fpu-integrity: FAIL ..."; "checksum: 0x..." once per checksum process.
 * Exit status 0 only on PASS.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROCS 3
#define THREADS 3
#define ROUNDS 40
#define FORK_EVERY 10
#define CHILD_STEPS 3
#define CHECKSUM_PROCS 2
/* What checksum() gives on x86-64 (IEEE double, no contraction). */
#define CHECKSUM_WANT 0x404a3a9115dbcad8ull

struct fpimg {
	double st[8];
	uint32_t mxcsr;
	uint16_t fcw;
	uint8_t pad0[128 - 70];
	uint64_t k[8];
	uint8_t pad1[256 - 192];
	uint8_t v[32][64];
} __attribute__((aligned(64)));

long fp_step(const struct fpimg *in, struct fpimg *out, int level, long op, long nr,
    long a0, long a1, long a2);

enum { OP_SYSCALL, OP_TOUCH, OP_SPIN };
enum { S_GETPPID, S_YIELD, S_FAULT, S_SIGNAL, S_SPIN, S_SLEEP, S_STEPS };
static const char *const step_names[S_STEPS] = {
	"getppid", "sched_yield", "page fault", "signal", "spin", "nanosleep",
};

static int level;		/* 0 SSE, 1 AVX, 2 AVX-512F */
static char *self;		/* argv[0], for the exec check */
static int handler_bad, handler_runs;	/* __atomic: any thread's handler */

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* A register image that only seed makes: finite doubles (x87 would turn a
 * signalling NaN quiet), any rounding mode, all exceptions masked. */
static void fill(struct fpimg *im, uint64_t seed)
{
	uint64_t r = mix(seed);

	memset(im, 0, sizeof(*im));
	for (int i = 0; i < 8; i++) {
		r = mix(r);
		im->st[i] = (double)(int32_t)r * 0.125 + (double)i;
	}
	im->mxcsr = 0x1f80u | (uint32_t)((r >> 40) & 3) << 13;
	im->fcw = (uint16_t)(0x037f | ((r >> 50) & 3) << 10);
	for (int i = 0; i < 8; i++) {
		r = mix(r);
		im->k[i] = r & 0xffff;
	}
	for (int i = 0; i < 32; i++)
		for (int j = 0; j < 64; j += 8) {
			r = mix(r);
			memcpy(&im->v[i][j], &r, 8);
		}
}

/* Which part of the image the CPU holds at this level. Returns the name of
 * the first register that differs, or NULL. No stdio: also used in
 * handlers and in children forked by a raw syscall. */
static const char *differs(const struct fpimg *a, const struct fpimg *b)
{
	int nvec = level == 2 ? 32 : 16;
	int width = level == 2 ? 64 : level == 1 ? 32 : 16;

	if (memcmp(a->st, b->st, sizeof(a->st)) != 0)
		return "x87 st";
	if (a->fcw != b->fcw)
		return "x87 control word";
	if (a->mxcsr != b->mxcsr)
		return "mxcsr";
	for (int i = 0; i < nvec; i++)
		if (memcmp(a->v[i], b->v[i], (size_t)width) != 0)
			return level == 2 ? "zmm" : level == 1 ? "ymm" : "xmm";
	if (level == 2)
		for (int i = 0; i < 8; i++)
			if ((a->k[i] & 0xffff) != (b->k[i] & 0xffff))
				return "k mask";
	return NULL;
}

static void say(const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = write(1, s, n);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Signal handlers use the FPU themselves: a state the kernel failed to
 * save around them would show in the interrupted thread's image, and one
 * it failed to give them would show here. */
static void fpu_handler(int sig)
{
	struct fpimg in, out;
	int saved = errno;

	/* x86 Linux gives a handler a fresh FPU state; UML hands it the
	 * interrupted one, possibly with all 8 x87 registers in use (a signal
	 * between fp_step's loads and stores), where fp_step's loads would
	 * overflow the x87 stack. sigreturn restores the interrupted state. */
	__asm__ volatile("fninit");
	__builtin_ia32_ldmxcsr(0x1f80);
	fill(&in, 0xfeed0000ull + (uint64_t)sig +
	    (uint64_t)__atomic_fetch_add(&handler_runs, 1, __ATOMIC_RELAXED) * 7);
	fp_step(&in, &out, level, OP_SYSCALL, SYS_getppid, 0, 0, 0);
	if (differs(&in, &out))
		__atomic_fetch_add(&handler_bad, 1, __ATOMIC_RELAXED);
	errno = saved;
}

/* One step under test with the image of seed loaded. */
static int check_step(int step, uint64_t seed, char *msg, size_t len)
{
	struct fpimg in, out;
	const char *bad;
	char *page = NULL;

	fill(&in, seed);
	switch (step) {
	case S_GETPPID:
		fp_step(&in, &out, level, OP_SYSCALL, SYS_getppid, 0, 0, 0);
		break;
	case S_YIELD:
		fp_step(&in, &out, level, OP_SYSCALL, SYS_sched_yield, 0, 0, 0);
		break;
	case S_FAULT:
		page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (page == MAP_FAILED) {
			snprintf(msg, len, "mmap: %s", strerror(errno));
			return -1;
		}
		fp_step(&in, &out, level, OP_TOUCH, 0, (long)page, 0, 0);
		munmap(page, 4096);
		break;
	case S_SIGNAL:
		fp_step(&in, &out, level, OP_SYSCALL, SYS_tgkill, getpid(), gettid(), SIGUSR1);
		break;
	case S_SPIN:
		fp_step(&in, &out, level, OP_SPIN, 0, 300000, 0, 0);
		break;
	case S_SLEEP: {
		struct timespec ts = { 0, 200000 };

		fp_step(&in, &out, level, OP_SYSCALL, SYS_nanosleep, (long)&ts, 0, 0);
		break;
	}
	}
	bad = differs(&in, &out);
	if (bad) {
		snprintf(msg, len, "%s differs after %s", bad, step_names[step]);
		return -1;
	}
	return 0;
}

/* fork as a raw syscall with the image loaded: the child's copy of the
 * state must be the parent's. The child then runs steps of its own. */
static int check_fork(uint64_t seed, char *msg, size_t len)
{
	struct fpimg in, out;
	const char *bad;
	long pid;
	int status;

	fill(&in, seed);
	pid = fp_step(&in, &out, level, OP_SYSCALL, SYS_fork, 0, 0, 0);
	if (pid == 0) {
		char ignored[8];
		int failed = differs(&in, &out) != NULL;

		for (int s = 0; s < CHILD_STEPS && !failed; s++)
			failed = check_step(s, seed ^ 0xc41d0000ull ^ (uint64_t)s, ignored,
			    sizeof(ignored)) != 0;
		syscall(SYS_exit, failed ? 1 : 0);
	}
	if (pid < 0) {
		snprintf(msg, len, "fork: %s", strerror((int)-pid));
		return -1;
	}
	bad = differs(&in, &out);
	while (waitpid((pid_t)pid, &status, 0) < 0)
		if (errno != EINTR) {
			snprintf(msg, len, "waitpid: %s", strerror(errno));
			return -1;
		}
	if (bad) {
		snprintf(msg, len, "%s differs in the parent after fork", bad);
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(msg, len, "forked child's registers differed (status 0x%x)", status);
		return -1;
	}
	return 0;
}

struct worker {
	int proc, thread;
	int steps, failures;
	pthread_t tid;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char msg[160], line[256];

	for (int r = 0; r < ROUNDS; r++) {
		for (int s = 0; s <= S_STEPS; s++) {
			uint64_t seed = (uint64_t)w->proc << 40 | (uint64_t)w->thread << 32 |
			    (uint64_t)r << 8 | (uint64_t)s;
			int rc;

			if (s == S_STEPS) {
				if (r % FORK_EVERY != 0)
					continue;
				rc = check_fork(seed, msg, sizeof(msg));
			} else {
				rc = check_step(s, seed, msg, sizeof(msg));
			}
			w->steps++;
			if (rc != 0) {
				w->failures++;
				snprintf(line, sizeof(line), "FAIL process %d thread %d round %d: %s\n",
				    w->proc, w->thread, r, msg);
				say(line);
			}
		}
	}
	return NULL;
}

/* One process of THREADS workers (the main thread is one of them) with a
 * timer signal landing on any of them. Exit status: 0, or 1 on a failure. */
static int integrity_proc(int proc)
{
	struct worker w[THREADS];
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
	int failures = 0, steps = 0;
	char line[160];

	if (setitimer(ITIMER_REAL, &it, NULL) != 0) {
		perror("setitimer");
		return 1;
	}
	for (int t = 0; t < THREADS; t++) {
		w[t] = (struct worker){ .proc = proc, .thread = t };
		if (t > 0 && pthread_create(&w[t].tid, NULL, worker_main, &w[t]) != 0) {
			say("FAIL pthread_create\n");
			return 1;
		}
	}
	worker_main(&w[0]);
	for (int t = 1; t < THREADS; t++)
		pthread_join(w[t].tid, NULL);
	it = (struct itimerval){ { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &it, NULL);
	for (int t = 0; t < THREADS; t++) {
		failures += w[t].failures;
		steps += w[t].steps;
	}
	if (handler_bad) {
		snprintf(line, sizeof(line), "FAIL process %d: %d signal handlers saw a wrong image\n",
		    proc, handler_bad);
		say(line);
		failures++;
	}
	/* Every step ran, and at least the SIGUSR1 ones reached a handler. */
	if (steps != THREADS * (ROUNDS * S_STEPS + ROUNDS / FORK_EVERY) ||
	    handler_runs < THREADS * ROUNDS) {
		snprintf(line, sizeof(line), "FAIL process %d: %d steps, %d handler runs\n",
		    proc, steps, handler_runs);
		say(line);
		failures++;
	}
	snprintf(line, sizeof(line), "process %d: %d steps checked, %d handler runs\n",
	    proc, steps, handler_runs);
	say(line);
	return failures ? 1 : 0;
}

/* The tracer reads the stopped child's xmm registers and MXCSR through
 * PTRACE_GETFPREGS and replaces xmm5; the child must see exactly that. */
static int check_ptrace(void)
{
	struct fpimg in, out, want;
	struct user_fpregs_struct fp;
	int status;
	pid_t pid;

	fill(&in, 0x7ace0001ull);
	want = in;
	memset(want.v[5], 0x5a, 16);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
			_exit(2);
		level = 0;	/* only the FXSAVE part goes through GETFPREGS */
		fp_step(&in, &out, level, OP_SYSCALL, SYS_kill, getpid(), SIGSTOP, 0);
		_exit(differs(&want, &out) ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) {
		say("FAIL ptrace: child did not stop\n");
		return -1;
	}
	if (ptrace(PTRACE_GETFPREGS, pid, NULL, &fp) != 0) {
		perror("PTRACE_GETFPREGS");
		return -1;
	}
	if (memcmp(&fp.mxcsr, &in.mxcsr, 4) != 0) {
		say("FAIL ptrace: tracer read a wrong mxcsr\n");
		kill(pid, SIGKILL);
		return -1;
	}
	for (int i = 0; i < 16; i++)
		if (memcmp((char *)fp.xmm_space + 16 * i, in.v[i], 16) != 0) {
			say("FAIL ptrace: tracer read a wrong xmm register\n");
			kill(pid, SIGKILL);
			return -1;
		}
	memset((char *)fp.xmm_space + 16 * 5, 0x5a, 16);
	if (ptrace(PTRACE_SETFPREGS, pid, NULL, &fp) != 0 ||
	    ptrace(PTRACE_CONT, pid, NULL, NULL) != 0) {
		perror("PTRACE_SETFPREGS/CONT");
		return -1;
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		say("FAIL ptrace: the child did not see what the tracer wrote\n");
		return -1;
	}
	return 0;
}

/* execve with an image loaded whose MXCSR and x87 control word round
 * towards zero: the new program must start with the defaults (0x1f80,
 * 0x037f), not with what the old one left in the registers. */
static int check_exec(void)
{
	struct fpimg in, out;
	char *argv[] = { self, "exec-check", NULL };
	char *envp[] = { NULL };
	int status;
	pid_t pid;

	fill(&in, 0xe8ec0001ull);
	in.mxcsr |= 3u << 13;
	in.fcw |= 3u << 10;
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		fp_step(&in, &out, level, OP_SYSCALL, SYS_execve, (long)self, (long)argv, (long)envp);
		_exit(3);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			perror("waitpid");
			return -1;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		say("FAIL exec: the new program did not start with the default MXCSR and x87 control word\n");
		return -1;
	}
	return 0;
}

/* The exec check's second half, as the first thing of the new program. */
static int exec_check_main(void)
{
	uint32_t mxcsr;
	uint16_t fcw;

	__asm__ volatile("stmxcsr %0; fnstcw %1" : "=m"(mxcsr), "=m"(fcw));
	/* The low 6 bits are sticky exception flags the start-up code may set. */
	return (mxcsr & ~0x3fu) == 0x1f80 && fcw == 0x037f ? 0 : 1;
}

/* Power iteration on a fixed matrix, IEEE double only (no libm, built with
 * -ffp-contract=off): the result is the same bit for bit on any x86-64.
 * A syscall per sweep lets the state change hands mid-computation. */
static uint64_t checksum(void)
{
	enum { N = 48, SWEEPS = 400 };
	static double a[N][N];
	double x[N], y[N], acc = 0;
	uint64_t bits;

	for (int i = 0; i < N; i++) {
		x[i] = 1.0;
		for (int j = 0; j < N; j++)
			a[i][j] = 1.0 / (1.0 + i + 2.0 * j) + (i == j ? 3.0 : 0.0);
	}
	for (int s = 0; s < SWEEPS; s++) {
		double norm = 0;

		for (int i = 0; i < N; i++) {
			y[i] = 0;
			for (int j = 0; j < N; j++)
				y[i] += a[i][j] * x[j];
			norm += y[i] * y[i];
		}
		norm = __builtin_sqrt(norm);
		for (int i = 0; i < N; i++)
			x[i] = y[i] / norm;
		acc += norm / (s + 1.0);
		syscall(SYS_getppid);
	}
	memcpy(&bits, &acc, 8);
	return bits ^ (uint64_t)(x[N / 2] * 1e15);
}

static int detect_level(void)
{
	unsigned a, b, c, d;
	uint32_t xcr0_lo, xcr0_hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
		return 0;
	__asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
	if ((xcr0_lo & 6) != 6)
		return 0;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & bit_AVX512F) ||
	    (xcr0_lo & 0xe0) != 0xe0)
		return 1;
	return 2;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "x87 sse", "x87 sse avx", "x87 sse avx avx512f" };
	struct sigaction sa;
	pid_t kids[PROCS + CHECKSUM_PROCS];
	int failed = 0, status;
	int nkids = 0;

	if (argc == 2 && strcmp(argv[1], "exec-check") == 0)
		return exec_check_main();
	self = argv[0];
	level = detect_level();
	printf("fpu-integrity: checking %s\n", names[level]);
	fflush(stdout);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fpu_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0 || sigaction(SIGALRM, &sa, NULL) != 0) {
		perror("sigaction");
		return 1;
	}

	if (check_ptrace() != 0 || check_exec() != 0)
		failed = 1;

	for (int p = 0; p < PROCS + CHECKSUM_PROCS; p++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			failed = 1;
			break;
		}
		if (pid == 0) {
			if (p < PROCS)
				_exit(integrity_proc(p));
			uint64_t sum = checksum();

			printf("checksum: 0x%016llx %s\n", (unsigned long long)sum,
			    sum == CHECKSUM_WANT ? "ok" : "WRONG");
			fflush(stdout);
			_exit(sum == CHECKSUM_WANT ? 0 : 1);
		}
		kids[nkids++] = pid;
	}
	for (int i = 0; i < nkids; i++) {
		while (waitpid(kids[i], &status, 0) < 0)
			if (errno != EINTR) {
				perror("waitpid");
				return 1;
			}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	if (failed) {
		printf("fpu-integrity: FAIL\n");
		return 1;
	}
	printf("fpu-integrity: PASS\n");
	return 0;
}
