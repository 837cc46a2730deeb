/*
 * What a guest process sees of its page faults, checked one by one: the
 * memory it reads and writes, the files behind its mappings, and the
 * SIGSEGVs it gets (si_code, si_addr). The guest kernel may resolve a
 * fault from the host's siginfo, which does not say read or write, and
 * guess (kernel/patches/0007, uml_fast_fault=1): a wrong guess must not
 * show here, above all not as a write into a shared file that was only
 * read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define NPAGES 64

static int failures, checks;
static sigjmp_buf segv_jump;
static volatile sig_atomic_t segv_code;
static void *volatile segv_addr;

static void check(int ok, const char *what)
{
	checks++;
	if (!ok) {
		failures++;
		printf("FAIL %s\n", what);
	}
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	segv_code = si->si_code;
	segv_addr = si->si_addr;
	siglongjmp(segv_jump, 1);
}

/* Reads (write = 0) or writes *p; nonzero if that raised SIGSEGV. */
static int touch_faults(volatile char *p, int write)
{
	segv_code = 0;
	segv_addr = NULL;
	if (sigsetjmp(segv_jump, 1) == 0) {
		if (write)
			*p = 1;
		else
			(void)*p;
		return 0;
	}
	return 1;
}

static char *map_anon(size_t len, int prot)
{
	char *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

static void anon_memory(void)
{
	char *p = map_anon(NPAGES * PAGE, PROT_READ | PROT_WRITE);
	int zero = 1, same = 1;

	/* First touch a read, then a write: reads must see zeros. */
	for (int i = 0; i < NPAGES; i++)
		zero &= p[i * PAGE + 7] == 0;
	for (int i = 0; i < NPAGES; i++)
		p[i * PAGE + 7] = (char)(i + 1);
	for (int i = 0; i < NPAGES; i++)
		same &= p[i * PAGE + 7] == (char)(i + 1);
	check(zero, "anon: a fresh page read as zero");
	check(same, "anon: written after read, read back");

	/* MADV_DONTNEED: the pages read as zero again. */
	madvise(p, NPAGES * PAGE, MADV_DONTNEED);
	zero = 1;
	for (int i = 0; i < NPAGES; i++)
		zero &= p[i * PAGE + 7] == 0;
	check(zero, "anon: zero again after MADV_DONTNEED");
	munmap(p, NPAGES * PAGE);
}

static int make_file(const char *name, size_t len)
{
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
	char buf[PAGE];

	if (fd < 0) {
		perror(name);
		exit(2);
	}
	for (size_t off = 0; off < len; off += PAGE) {
		memset(buf, 'a' + (int)(off / PAGE) % 26, sizeof(buf));
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			perror("write");
			exit(2);
		}
	}
	return fd;
}

static int file_is_pattern(int fd, size_t len)
{
	char buf[PAGE];

	for (size_t off = 0; off < len; off += PAGE) {
		if (pread(fd, buf, sizeof(buf), (off_t)off) != (ssize_t)sizeof(buf))
			return 0;
		for (size_t i = 0; i < sizeof(buf); i++)
			if (buf[i] != 'a' + (int)(off / PAGE) % 26)
				return 0;
	}
	return 1;
}

static struct timespec mtime_of(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		perror("fstat");
		exit(2);
	}
	return st.st_mtim;
}

static int same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static void pause_for_clock(void)
{
	struct timespec t = { 0, 30 * 1000 * 1000 };

	nanosleep(&t, NULL);
}

static void shared_file(void)
{
	int fd = make_file("shared.bin", NPAGES * PAGE);
	struct timespec before, after;
	char *p;
	int right = 1;

	before = mtime_of(fd);
	pause_for_clock();
	/* Writable and shared, but only read: the file stays as it was. */
	p = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap shared");
		exit(2);
	}
	for (int i = 0; i < NPAGES; i++)
		right &= p[i * PAGE + 100] == 'a' + i % 26;
	msync(p, NPAGES * PAGE, MS_SYNC);
	after = mtime_of(fd);
	check(right, "shared file: read through the mapping");
	check(same_time(before, after), "shared file: only read, its mtime unchanged");
	check(file_is_pattern(fd, NPAGES * PAGE), "shared file: only read, its contents unchanged");

	munmap(p, NPAGES * PAGE);

	/* A first touch that writes does reach the file, and moves its mtime
	 * (so the two checks above can fail). Only a write fault does that
	 * on tmpfs: a page a read fault mapped can be written without one. */
	p = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap shared");
		exit(2);
	}
	p[5 * PAGE] = '!';
	msync(p, NPAGES * PAGE, MS_SYNC);
	after = mtime_of(fd);
	check(!same_time(before, after), "shared file: written first, its mtime moved");
	check(!file_is_pattern(fd, NPAGES * PAGE), "shared file: written, the file has it");
	munmap(p, NPAGES * PAGE);
	close(fd);
}

static void private_file(void)
{
	int fd = make_file("private.bin", NPAGES * PAGE);
	char *p = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	int right = 1;

	if (p == MAP_FAILED) {
		perror("mmap private");
		exit(2);
	}
	for (int i = 0; i < NPAGES; i++)
		right &= p[i * PAGE + 100] == 'a' + i % 26;
	check(right, "private file: read through the mapping");
	for (int i = 0; i < NPAGES; i += 2)
		p[i * PAGE + 100] = '#';
	right = 1;
	for (int i = 0; i < NPAGES; i++)
		right &= p[i * PAGE + 100] == (i % 2 ? 'a' + i % 26 : '#');
	check(right, "private file: own writes seen, other pages as in the file");
	check(file_is_pattern(fd, NPAGES * PAGE), "private file: the file unchanged by writes to the copy");
	munmap(p, NPAGES * PAGE);
	close(fd);
}

static void fork_copy(void)
{
	char *p = map_anon(NPAGES * PAGE, PROT_READ | PROT_WRITE);
	int status, right = 1;
	pid_t pid;

	for (int i = 0; i < NPAGES; i++)
		p[i * PAGE] = (char)i;
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		int ok = 1;

		/* The child reads every page, then writes every other one. */
		for (int i = 0; i < NPAGES; i++)
			ok &= p[i * PAGE] == (char)i;
		for (int i = 0; i < NPAGES; i += 2)
			p[i * PAGE] = (char)(100 + i);
		for (int i = 0; i < NPAGES; i++)
			ok &= p[i * PAGE] == (char)(i % 2 ? i : 100 + i);
		_exit(ok ? 0 : 1);
	}
	check(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "fork: the child sees the parent's pages and its own writes");
	for (int i = 0; i < NPAGES; i++)
		right &= p[i * PAGE] == (char)i;
	check(right, "fork: the parent's pages unchanged by the child's writes");
	munmap(p, NPAGES * PAGE);
}

static void expect_segv(volatile char *p, int write, int code, const char *what)
{
	char msg[160];
	int faulted = touch_faults(p, write);

	snprintf(msg, sizeof(msg), "%s: SIGSEGV (got %s, si_code %d, si_addr %p, wanted %d at %p)",
		 what, faulted ? "one" : "none", (int)segv_code, segv_addr, code, (void *)p);
	check(faulted && segv_code == code && segv_addr == (void *)p, msg);
}

static void segv_cases(void)
{
	char *none = map_anon(PAGE, PROT_NONE);
	char *ro = map_anon(2 * PAGE, PROT_READ);
	char *rw = map_anon(PAGE, PROT_READ | PROT_WRITE);
	char *gone = map_anon(PAGE, PROT_READ | PROT_WRITE);
	volatile char *wild = (volatile char *)0x8000000000000000UL;

	munmap(gone, PAGE);
	expect_segv(none + 8, 0, SEGV_ACCERR, "read of a PROT_NONE page");
	expect_segv(none + 8, 1, SEGV_ACCERR, "write to a PROT_NONE page");
	/* ro: page 0 read first (mapped), page 1 never touched. */
	check(!touch_faults(ro + 16, 0), "read of a read-only page");
	expect_segv(ro + 16, 1, SEGV_ACCERR, "write to a read-only page already read");
	expect_segv(ro + PAGE + 16, 1, SEGV_ACCERR, "write to a read-only page never touched");
	expect_segv(gone + 24, 0, SEGV_MAPERR, "read of an unmapped page");
	expect_segv(gone + 24, 1, SEGV_MAPERR, "write to an unmapped page");
	check(touch_faults(wild, 0), "read of a non-canonical address: SIGSEGV");

	/* mprotect both ways on a page in use. */
	rw[40] = 7;
	mprotect(rw, PAGE, PROT_READ);
	check(!touch_faults(rw + 40, 0) && rw[40] == 7, "mprotect read-only: still readable");
	expect_segv(rw + 40, 1, SEGV_ACCERR, "mprotect read-only: write");
	mprotect(rw, PAGE, PROT_READ | PROT_WRITE);
	check(!touch_faults(rw + 40, 1) && rw[40] == 1, "mprotect read-write again: write");
	munmap(none, PAGE);
	munmap(ro, 2 * PAGE);
	munmap(rw, PAGE);
}

static int deep(int n)
{
	volatile char frame[1024];

	frame[0] = (char)n;
	frame[sizeof(frame) - 1] = (char)n;
	if (n == 0)
		return frame[0] + frame[sizeof(frame) - 1];
	return deep(n - 1) + frame[0] - frame[sizeof(frame) - 1];
}

int main(void)
{
	struct sigaction sa;
	char cpuinfo[256];
	FILE *f;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);

	anon_memory();
	shared_file();
	private_file();
	fork_copy();
	segv_cases();
	check(deep(4000) == 0, "stack: 4 MiB of frames");

	f = fopen("/proc/cpuinfo", "r");
	while (f != NULL && fgets(cpuinfo, sizeof(cpuinfo), f) != NULL)
		if (strncmp(cpuinfo, "fast_fault", 10) == 0)
			fputs(cpuinfo, stdout);
	if (f != NULL)
		fclose(f);
	printf("page faults: %d of %d checks passed\n", checks - failures, checks);
	return failures != 0;
}
