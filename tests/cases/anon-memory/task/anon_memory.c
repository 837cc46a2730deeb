/*
 * anon_memory.c: private anonymous memory reads as the program wrote it
 * and as zeros elsewhere, whatever the guest kernel maps ahead of a fault
 * (kernel/patches/0004, anonymous fault-around): sparse and dense writes,
 * read-then-write, fork (copy-on-write both ways), a window that must not
 * cross into a neighbouring PROT_NONE mapping, and memory given back with
 * MADV_DONTNEED reading as zeros again; and a private file mapping
 * written sparsely reads as the file elsewhere and leaves the file as it
 * was (its copies are made ahead of a fault too). Prints one line per
 * check and "anon-memory: PASS" when all hold.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096UL
#define PAGES 4096UL	/* 16 MiB */

static int failures;

static void check(int ok, const char *what)
{
	printf("%s: %s\n", what, ok ? "ok" : "FAIL");
	if (!ok)
		failures++;
}

static unsigned char expected(size_t page, size_t byte)
{
	/* Every 5th page gets one byte written, at a page-dependent offset. */
	if (page % 5 == 0 && byte == (page * 37) % PAGE)
		return (unsigned char)(page % 251 + 1);
	return 0;
}

static int region_as_expected(const unsigned char *p)
{
	for (size_t pg = 0; pg < PAGES; pg++)
		for (size_t b = 0; b < PAGE; b++)
			if (p[pg * PAGE + b] != expected(pg, b))
				return 0;
	return 1;
}

static sigjmp_buf segv_jump;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(segv_jump, 1);
}

int main(void)
{
	unsigned char *p = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *g;
	volatile unsigned char sink;
	pid_t child;
	int st, ok;

	if (p == MAP_FAILED)
		return 2;
	/* Sparse writes, descending, so that windows fill before their faults. */
	for (size_t pg = PAGES; pg-- > 0;)
		if (pg % 5 == 0)
			p[pg * PAGE + (pg * 37) % PAGE] = (unsigned char)(pg % 251 + 1);
	check(region_as_expected(p), "sparse writes, the rest zero");

	/* A child changes every page; the parent's copy must not change, and
	 * the child must see the parent's values before its own writes. */
	child = fork();
	if (child == 0) {
		int seen = region_as_expected(p);

		memset(p, 0xAA, PAGES * PAGE);
		for (size_t i = 0; i < PAGES * PAGE; i += 997)
			if (p[i] != 0xAA)
				_exit(3);
		_exit(seen ? 0 : 4);
	}
	ok = child > 0 && waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	check(ok, "fork: the child saw the parent's memory and wrote its own");
	check(region_as_expected(p), "fork: the parent's memory unchanged");

	/* Parent writes after the fork: its own copies, zeros elsewhere. */
	for (size_t pg = 0; pg < PAGES; pg += 3)
		p[pg * PAGE] = 0x55;
	ok = 1;
	for (size_t pg = 0; pg < PAGES && ok; pg++)
		for (size_t b = 0; b < PAGE; b++) {
			unsigned char want = pg % 3 == 0 && b == 0 ? 0x55 : expected(pg, b);

			if (p[pg * PAGE + b] != want) {
				ok = 0;
				break;
			}
		}
	check(ok, "writes after fork");

	/* Given back: zeros again on the next touch, read or write. */
	if (madvise(p, PAGES * PAGE, MADV_DONTNEED) != 0)
		return 2;
	ok = 1;
	for (size_t i = 0; i < PAGES * PAGE; i += PAGE / 2)
		if (p[i] != 0)
			ok = 0;
	p[PAGE * 7 + 1] = 9;
	ok = ok && p[PAGE * 7 + 1] == 9 && p[PAGE * 8] == 0 && p[PAGE * 6] == 0;
	check(ok, "MADV_DONTNEED reads zero, read-then-write");

	/* [RW][NONE x14][RW]: a write to the first page must not make the
	 * PROT_NONE pages readable (the window stays inside its mapping). */
	g = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED || mprotect(g + PAGE, 14 * PAGE, PROT_NONE) != 0)
		return 2;
	g[0] = 1;
	g[15 * PAGE] = 2;
	signal(SIGSEGV, on_segv);
	ok = 0;
	if (sigsetjmp(segv_jump, 1) == 0)
		sink = g[PAGE];
	else
		ok = 1;
	(void)sink;
	signal(SIGSEGV, SIG_DFL);
	check(ok && g[0] == 1 && g[15 * PAGE] == 2, "window stops at a PROT_NONE neighbour");

	/* A private file mapping: writes to every 7th page of 128 pages. */
	{
		enum { FPAGES = 128 };
		static unsigned char page[PAGE];
		unsigned char *f;
		int fd = open("mapped.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);

		if (fd < 0)
			return 2;
		for (size_t pg = 0; pg < FPAGES; pg++) {
			memset(page, (int)(pg % 200 + 3), PAGE);
			if (write(fd, page, PAGE) != (ssize_t)PAGE)
				return 2;
		}
		f = mmap(NULL, FPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		if (f == MAP_FAILED)
			return 2;
		for (size_t pg = FPAGES; pg-- > 0;)
			if (pg % 7 == 0)
				f[pg * PAGE + 5] = 0xEE;
		ok = 1;
		for (size_t pg = 0; pg < FPAGES; pg++)
			for (size_t b = 0; b < PAGE; b++) {
				unsigned char want = pg % 7 == 0 && b == 5 ? 0xEE : (unsigned char)(pg % 200 + 3);

				if (f[pg * PAGE + b] != want)
					ok = 0;
			}
		check(ok, "private file mapping: own writes, the file's bytes elsewhere");
		ok = 1;
		for (size_t pg = 0; pg < FPAGES; pg++) {
			if (pread(fd, page, PAGE, (off_t)(pg * PAGE)) != (ssize_t)PAGE)
				return 2;
			for (size_t b = 0; b < PAGE; b++)
				if (page[b] != (unsigned char)(pg % 200 + 3))
					ok = 0;
		}
		check(ok, "private file mapping: the file unchanged");
		munmap(f, FPAGES * PAGE);
		close(fd);
	}

	printf("anon-memory: %s\n", failures == 0 ? "PASS" : "FAIL");
	return failures == 0 ? 0 : 1;
}
