/*
 * anontouch.c: the cost of a first write to fresh private anonymous
 * memory, the page fault a heap (malloc's, the JVM's) takes for each new
 * page; kernel/patches/0004 (anonymous fault-around) is about it.
 *
 *   anontouch MIB
 *
 * Maps MIB MiB, writes one byte per 4 KiB page in address order, unmaps;
 * three times. Prints "anon_touch_us X": the median microseconds per page.
 * Static, for the guest and the native chroot. Exit 1 on a failed call.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	size_t mib = argc == 2 ? strtoul(argv[1], NULL, 10) : 0, len, pages;
	double per[3], t;

	if (mib == 0 || mib > 4096) {
		fprintf(stderr, "usage: anontouch MIB (1-4096)\n");
		return 1;
	}
	len = mib << 20;
	pages = len / 4096;
	for (int r = 0; r < 3; r++) {
		volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			perror("anontouch: mmap");
			return 1;
		}
		t = now_us();
		for (size_t i = 0; i < len; i += 4096)
			p[i] = 1;
		per[r] = (now_us() - t) / (double)pages;
		if (munmap((void *)p, len) != 0) {
			perror("anontouch: munmap");
			return 1;
		}
	}
	/* The median of three. */
	if (per[0] > per[1]) { t = per[0]; per[0] = per[1]; per[1] = t; }
	if (per[1] > per[2]) { t = per[1]; per[1] = per[2]; per[2] = t; }
	if (per[0] > per[1]) { t = per[0]; per[0] = per[1]; per[1] = t; }
	printf("anon_touch_us %.2f\n", per[1]);
	return 0;
}
