/*
 * threads.c: a Java-like target: 8 threads at once open an allowed file
 * (the data must be right), a denied one (EACCES) and spawn a child that
 * does the same, while the main thread waits. Exits 0 when every thread
 * saw exactly what the policy says. Usage: threads DENIED OK WANT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 8
#define ROUNDS 100

static const char *denied, *ok, *want;

static void *worker(void *arg)
{
	long bad = 0;
	char buf[256];

	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		int fd = open(ok, O_RDONLY | O_CLOEXEC);
		ssize_t n;

		if (fd < 0) {
			bad++;
			continue;
		}
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < 0 || (buf[n] = '\0', strcmp(buf, want) != 0))
			bad++;
		fd = open(denied, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 || errno != EACCES)
			bad++;
		if (fd >= 0)
			close(fd);
		if (i == ROUNDS / 2) {
			pid_t p = fork();
			int st;

			if (p == 0) {
				fd = open(denied, O_RDONLY);
				_exit(fd < 0 && errno == EACCES ? 0 : 1);
			}
			if (p < 0 || waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				bad++;
		}
	}
	return (void *)bad;
}

int main(int argc, char **argv)
{
	pthread_t t[THREADS];
	long bad = 0;

	if (argc != 4)
		return 2;
	denied = argv[1];
	ok = argv[2];
	want = argv[3];
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, worker, NULL) != 0)
			return 1;
	for (int i = 0; i < THREADS; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad += (long)r;
	}
	if (bad != 0)
		fprintf(stderr, "threads: %ld wrong answers\n", bad);
	return bad == 0 ? 0 : 1;
}
