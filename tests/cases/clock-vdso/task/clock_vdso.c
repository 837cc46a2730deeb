/*
 * clock_vdso.c: the guest's clock read through the vDSO (kernel patch
 * 0005: a TSC clocksource and a [vvar] page) agrees with the syscall, in
 * one process and across fork, never goes back, costs no syscall, and
 * the shared page cannot be made writable.
 *
 * Prints "clock-vdso: PASS" at the end, or a FAIL line per broken check.
 * Built and run in the guest by tmc-run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 200000

static int failed;

static void check(int ok, const char *what)
{
	printf("%s: %s\n", what, ok ? "ok" : "FAIL");
	if (!ok)
		failed = 1;
}

static long long ns_of(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static long long vdso_ns(clockid_t c)
{
	struct timespec t;

	if (clock_gettime(c, &t) != 0) {
		perror("clock_gettime");
		exit(1);
	}
	return ns_of(&t);
}

static long long syscall_ns(clockid_t c)
{
	struct timespec t;

	if (syscall(SYS_clock_gettime, c, &t) != 0) {
		perror("SYS_clock_gettime");
		exit(1);
	}
	return ns_of(&t);
}

/* CPUID 8000_0007h EDX bit 8, which the kernel asks before it uses the TSC. */
static int tsc_invariant(void)
{
	unsigned int eax, ebx, ecx, edx;

	__asm__ volatile("cpuid" : "=a" (eax), "=b" (ebx), "=c" (ecx), "=d" (edx) : "a" (0x80000000), "c" (0));
	if (eax < 0x80000007)
		return 0;
	__asm__ volatile("cpuid" : "=a" (eax), "=b" (ebx), "=c" (ecx), "=d" (edx) : "a" (0x80000007), "c" (0));
	return (edx >> 8) & 1;
}

/* The kernel switches to its TSC clocksource ~0.1 s after boot. */
static int wait_for_tsc(void)
{
	char name[64] = "";

	for (int i = 0; i < 300; i++) {
		FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");

		if (f) {
			if (!fgets(name, sizeof(name), f))
				name[0] = 0;
			fclose(f);
			name[strcspn(name, "\n")] = 0;
			if (strcmp(name, "uml-tsc") == 0)
				break;
		}
		usleep(10000);
	}
	printf("clocksource: %s\n", name);
	return strcmp(name, "uml-tsc") == 0;
}

/* Every read, vDSO or syscall interleaved, is >= the one before; each
 * vDSO read lies between the syscall reads around it. */
static int monotonic(clockid_t c)
{
	long long last = syscall_ns(c);

	for (int i = 0; i < ROUNDS; i++) {
		long long v = (i % 64 == 0) ? syscall_ns(c) : vdso_ns(c);

		if (v < last) {
			printf("clock %d went back %lld ns at read %d\n", (int)c, last - v, i);
			return 0;
		}
		last = v;
	}
	for (int i = 0; i < 1000; i++) {
		long long a = syscall_ns(c), v = vdso_ns(c), b = syscall_ns(c);

		if (v < a || v > b) {
			printf("clock %d: vDSO %lld outside [%lld, %lld]\n", (int)c, v, a, b);
			return 0;
		}
	}
	return 1;
}

static void *vvar_page(void)
{
	char line[256];
	void *start = NULL;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "[vvar]")) {
			unsigned long lo;
			char perms[5];

			if (sscanf(line, "%lx-%*x %4s", &lo, perms) == 2) {
				printf("[vvar] %s\n", perms);
				start = (void *)lo;
			}
		}
	}
	fclose(f);
	return start;
}

int main(void)
{
	int invariant = tsc_invariant();
	int on_tsc = wait_for_tsc();

	printf("invariant TSC: %s\n", invariant ? "yes" : "no");
	/* A CPU without an invariant TSC keeps the timer, and the syscall. */
	check(on_tsc == invariant, "clock source as the CPU allows");

	check(monotonic(CLOCK_MONOTONIC), "CLOCK_MONOTONIC never back, vDSO within the syscall's bracket");
	check(monotonic(CLOCK_REALTIME), "CLOCK_REALTIME never back, vDSO within the syscall's bracket");
	check(monotonic(CLOCK_BOOTTIME), "CLOCK_BOOTTIME never back, vDSO within the syscall's bracket");
	/* A clock the vDSO leaves to the syscall still answers. */
	check(vdso_ns(CLOCK_PROCESS_CPUTIME_ID) > 0, "CLOCK_PROCESS_CPUTIME_ID through the syscall");

	struct timeval tv;
	long long real = syscall_ns(CLOCK_REALTIME) / 1000000000LL;
	time_t t = time(NULL);

	check(gettimeofday(&tv, NULL) == 0 && tv.tv_sec >= real && tv.tv_sec <= real + 1 &&
	      t >= real && t <= real + 1, "gettimeofday and time agree with CLOCK_REALTIME");

	/* A sleep measured on the vDSO's clock lasts at least as asked. */
	long long s0 = vdso_ns(CLOCK_MONOTONIC);
	usleep(200000);
	long long slept = vdso_ns(CLOCK_MONOTONIC) - s0;
	printf("usleep(200 ms) took %lld ms\n", slept / 1000000);
	check(slept >= 200000000LL, "a 200 ms sleep lasts 200 ms or more on the vDSO clock");

	/* No syscall per read: a vDSO read must cost far less than one
	 * (under UML ptrace a syscall is a host round trip, ~10-20 us). */
	long long a = syscall_ns(CLOCK_MONOTONIC);
	for (int i = 0; i < ROUNDS; i++)
		vdso_ns(CLOCK_MONOTONIC);
	long long b = syscall_ns(CLOCK_MONOTONIC);
	for (int i = 0; i < 2000; i++)
		syscall_ns(CLOCK_MONOTONIC);
	long long c = syscall_ns(CLOCK_MONOTONIC);
	double per_vdso = (double)(b - a) / ROUNDS, per_syscall = (double)(c - b) / 2000;
	printf("per read: vDSO %.0f ns, syscall %.0f ns\n", per_vdso, per_syscall);
	if (on_tsc)
		check(per_vdso * 10 < per_syscall, "a vDSO read costs under a tenth of a syscall");

	/* A child reads the same clock (the page is in every process). */
	long long before = vdso_ns(CLOCK_MONOTONIC);
	int fds[2];
	if (pipe(fds) != 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		long long v = vdso_ns(CLOCK_MONOTONIC);
		_exit(write(fds[1], &v, sizeof(v)) == sizeof(v) ? 0 : 1);
	}
	long long child = 0;
	int status = 0;
	check(pid > 0 && read(fds[0], &child, sizeof(child)) == sizeof(child) &&
	      waitpid(pid, &status, 0) == pid && status == 0 &&
	      child >= before && child <= vdso_ns(CLOCK_MONOTONIC), "a forked child reads the same clock");

	/* The page is shared by every process: it must stay read-only. */
	void *vvar = vvar_page();
	check(vvar != NULL, "[vvar] is mapped");
	if (vvar) {
		check(mprotect(vvar, 4096, PROT_READ | PROT_WRITE) != 0, "mprotect cannot make [vvar] writable");
		int mem = open("/proc/self/mem", O_RDWR);
		unsigned char byte = 0;
		check(mem >= 0 && pread(mem, &byte, 1, (off_t)(unsigned long)vvar) == 1,
		      "[vvar] reads through /proc/self/mem");
		check(mem >= 0 && pwrite(mem, &byte, 1, (off_t)(unsigned long)vvar) != 1,
		      "a forced write to [vvar] through /proc/self/mem fails");
		if (mem >= 0)
			close(mem);
		/* Dropped from the page table, the page faults back in. */
		(void)madvise(vvar, 4096, MADV_DONTNEED);
		long long lo = syscall_ns(CLOCK_MONOTONIC), v = vdso_ns(CLOCK_MONOTONIC),
			  hi = syscall_ns(CLOCK_MONOTONIC);
		check(v >= lo && v <= hi, "the clock still reads right after MADV_DONTNEED on [vvar]");
	}

	printf("clock-vdso: %s\n", failed ? "FAIL" : "PASS");
	return failed;
}
