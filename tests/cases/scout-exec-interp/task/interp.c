/*
 * interp.c: execs programs whose interpreter the kernel loads itself,
 * each in a child: a #! script and an ELF naming /usr/bin/perl (exec
 * denied by the case's policy) must be refused with EACCES; the same with
 * an allowed interpreter must run. Prints "NAME: refused (ERRNO)",
 * "NAME: ran (exit N)" or "NAME: ESCAPED ..." per attempt; exits with the
 * number of wrong outcomes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int bad;

static int write_script(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 || chmod(name, 0755) < 0)
		return -1;
	return 0;
}

/* Runs path in a child; want_errno 0: it must run and exit with want_exit. */
static void try_exec(const char *path, int want_errno, int want_exit)
{
	int pipefd[2], st, e = 0;
	pid_t pid;

	fflush(stdout);
	if (pipe2(pipefd, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		printf("%s: setup failed\n", path);
		bad++;
		return;
	}
	if (pid == 0) {
		char *argv[] = { (char *)path, NULL };

		execv(path, argv);
		e = errno;
		if (write(pipefd[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(126);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &e, sizeof(e)) != sizeof(e))
		e = 0;
	close(pipefd[0]);
	waitpid(pid, &st, 0);
	if (e != 0) {
		printf("exec %s: refused (%s)\n", path, strerrorname_np(e));
		if (e != want_errno)
			bad++;
		return;
	}
	if (want_errno != 0) {
		printf("exec %s: ESCAPED (status %d)\n", path, st);
		bad++;
		return;
	}
	printf("exec %s: ran (exit %d)\n", path, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != want_exit)
		bad++;
}

int main(void)
{
	if (write_script("perl.pl", "#!/usr/bin/perl\nprint \"ESCAPED\\n\";\n") < 0 ||
	    write_script("perl-args.pl", "#!  /usr/bin/perl -w  \nprint \"ESCAPED\\n\";\n") < 0 ||
	    write_script("via-bin.pl", "#!/bin/perl\nprint \"ESCAPED\\n\";\n") < 0 ||
	    write_script("elf-behind.sh", "#!./elf-perl\n") < 0 ||
	    write_script("sh.sh", "#!/bin/sh\nexit 7\n") < 0)
		return 100;
	try_exec("/usr/bin/perl", EACCES, 0);
	try_exec("./perl.pl", EACCES, 0);
	try_exec("./perl-args.pl", EACCES, 0);
	try_exec("./via-bin.pl", EACCES, 0);
	try_exec("./elf-perl", EACCES, 0);
	try_exec("./elf-behind.sh", EACCES, 0);
	try_exec("./sh.sh", 0, 7);
	try_exec("./elf-plain", 0, 5);
	printf("bad: %d\n", bad);
	return bad;
}
