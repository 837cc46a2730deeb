/*
 * timeit.c: runs a command N times in a row and writes the wall-clock time
 * of each run, in seconds, one per line. Static, so the same binary times
 * work on the host, in the rootfs chroot and inside the UML guest (where a
 * `date` before and after would cost a fork+exec each, ~10 ms).
 *
 *   timeit [-u] [-n N] [-o FILE] -- CMD [ARG...]
 *
 * The command's own stdout/stderr pass through untouched; the times go to
 * FILE (truncated first) or to stderr. With -u each line also carries the
 * CPU time (user + system, seconds) of the command and every descendant
 * it waited for: for sandbox-run that is the whole UML process tree, a
 * figure that other load on the machine inflates far less than wall time. Exit status: the first failing
 * run's (128+signal for a signal; no further runs), 0 when all succeeded,
 * 125 when timeit itself failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr, "usage: timeit [-u] [-n N] [-o FILE] -- CMD [ARG...]\n");
	return 125;
}

int main(int argc, char **argv)
{
	FILE *out = stderr;
	long runs = 1;
	int c, cpu = 0;

	while ((c = getopt(argc, argv, "+un:o:")) != -1) {
		char *end;

		switch (c) {
		case 'n':
			errno = 0;
			runs = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || runs < 1 || runs > 100000)
				return usage();
			break;
		case 'u':
			cpu = 1;
			break;
		case 'o':
			out = fopen(optarg, "w");
			if (out == NULL) {
				fprintf(stderr, "timeit: %s: %s\n", optarg, strerror(errno));
				return 125;
			}
			break;
		default:
			return usage();
		}
	}
	if (optind >= argc)
		return usage();
	for (long i = 0; i < runs; i++) {
		double t0 = now(), t1;
		struct rusage ru;
		int ws;
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, "timeit: fork: %s\n", strerror(errno));
			return 125;
		}
		if (pid == 0) {
			execvp(argv[optind], argv + optind);
			fprintf(stderr, "timeit: exec %s: %s\n", argv[optind], strerror(errno));
			_exit(127);
		}
		while (wait4(pid, &ws, 0, &ru) < 0) {
			if (errno != EINTR) {
				fprintf(stderr, "timeit: wait4: %s\n", strerror(errno));
				return 125;
			}
		}
		t1 = now();
		if (cpu)
			fprintf(out, "%.6f %.6f\n", t1 - t0,
			    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
			    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
		else
			fprintf(out, "%.6f\n", t1 - t0);
		fflush(out);
		if (WIFSIGNALED(ws))
			return 128 + WTERMSIG(ws);
		if (WEXITSTATUS(ws) != 0)
			return WEXITSTATUS(ws);
	}
	if (out != stderr && fclose(out) != 0)
		return 125;
	return 0;
}
