/*
 * sysloop.c: the cost of system calls that Scout does not trap, and of
 * file opens it does trap but has not seen before.
 *
 *   sysloop N DIR
 *
 * Prints, each a mean in microseconds:
 *   getppid_us     N x getppid(): a syscall every filter lets through, so
 *                  with Scout minus without = the filter's cost per syscall
 *   clock_us       100 N x clock_gettime(CLOCK_MONOTONIC) through libc: the
 *                  vDSO, which under UML reads the TSC (kernel patch 0005)
 *                  or makes the syscall (uml_tsc=off)
 *   create_us      N x creat+close of a new file DIR/sysloop.<i>: a new path
 *                  each time, so under Scout a policy decision not yet cached
 *   reopen_us      N x open O_RDONLY+close of those files: again a (path,
 *                  access) pair not yet cached
 * and removes the files. Static, for the guest. Exit 1 on a failed call.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int path_of(char *buf, size_t len, const char *dir, long i)
{
	int n = snprintf(buf, len, "%s/sysloop.%ld", dir, i);

	return n > 0 && (size_t)n < len ? 0 : -1;
}

int main(int argc, char **argv)
{
	char path[4096];
	double t0;
	long n;
	char *end;

	if (argc != 3) {
		fprintf(stderr, "usage: sysloop N DIR\n");
		return 2;
	}
	n = strtol(argv[1], &end, 10);
	if (*end != '\0' || n < 1 || n > 100000) {
		fprintf(stderr, "sysloop: bad count %s\n", argv[1]);
		return 2;
	}

	t0 = now_us();
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	printf("getppid_us %.3f\n", (now_us() - t0) / (double)n);

	t0 = now_us();
	for (long i = 0; i < 100 * n; i++) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
	}
	printf("clock_us %.3f\n", (now_us() - t0) / (double)(100 * n));

	t0 = now_us();
	for (long i = 0; i < n; i++) {
		int fd;

		if (path_of(path, sizeof(path), argv[2], i) < 0 ||
		    (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
			perror("sysloop: create");
			return 1;
		}
		close(fd);
	}
	printf("create_us %.3f\n", (now_us() - t0) / (double)n);

	t0 = now_us();
	for (long i = 0; i < n; i++) {
		int fd;

		if (path_of(path, sizeof(path), argv[2], i) < 0 ||
		    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			perror("sysloop: reopen");
			return 1;
		}
		close(fd);
	}
	printf("reopen_us %.3f\n", (now_us() - t0) / (double)n);

	for (long i = 0; i < n; i++) {
		if (path_of(path, sizeof(path), argv[2], i) == 0)
			unlink(path);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
