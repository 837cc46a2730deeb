/*
 * forkexec.c: the cost of process creation, for the UML guest (where every
 * guest address space is a host process) and natively in the rootfs chroot.
 *
 *   forkexec N [PROG]
 *
 * Runs N times fork + _exit in the child + waitpid, then N times fork +
 * execv(PROG) (default /bin/true) + waitpid, one at a time, and prints the
 * mean of each in milliseconds:
 *
 *   fork_exit_ms 4.123
 *   fork_exec_ms 9.876
 *
 * Static, so it runs the same way in the guest, under Scout (whose filter
 * traps the execve) and without it. Exit 1 when a child fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One child, reaped; 0 when it exited 0. */
static int spawn(const char *prog)
{
	int ws;
	pid_t pid = fork();

	if (pid < 0) {
		fprintf(stderr, "forkexec: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		if (prog != NULL) {
			execl(prog, prog, (char *)NULL);
			_exit(127);
		}
		_exit(0);
	}
	while (waitpid(pid, &ws, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(ws) && WEXITSTATUS(ws) == 0 ? 0 : -1;
}

static int measure(const char *name, long n, const char *prog)
{
	double t0 = now_ms();

	for (long i = 0; i < n; i++) {
		if (spawn(prog) < 0) {
			fprintf(stderr, "forkexec: %s: child %ld failed\n", name, i);
			return -1;
		}
	}
	printf("%s %.3f\n", name, (now_ms() - t0) / (double)n);
	return 0;
}

int main(int argc, char **argv)
{
	const char *prog = argc > 2 ? argv[2] : "/bin/true";
	char *end;
	long n;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: forkexec N [PROG]\n");
		return 2;
	}
	errno = 0;
	n = strtol(argv[1], &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > 1000000) {
		fprintf(stderr, "forkexec: bad count %s\n", argv[1]);
		return 2;
	}
	if (measure("fork_exit_ms", n, NULL) < 0 || measure("fork_exec_ms", n, prog) < 0)
		return 1;
	return fflush(stdout) == 0 ? 0 : 1;
}
