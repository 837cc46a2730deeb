/*
 * channel_host.c: the host end of the channel as sandbox_run will run it,
 * for run.sh: a pty stands in for UML's serial line (the Carrier puts it
 * in raw mode as it does /dev/ttyS1), the Command Center answers from the
 * poll loop, and the audit is written as JSON when the Carrier is gone.
 *
 *   channel_host [--break] CARRIER POLICY TASKDIR AUDIT -- CARRIER-ARGS...
 *
 * --break: the host hangs up right after HELLO; the guest must fail closed.
 * Exits with the Carrier's status.
 */
#define _GNU_SOURCE
#include <jansson.h>

#include "sandbox/scout.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char err[256], *slave;
	struct policy *pol;
	struct command_center *cc;
	int brk = 0, master, st, done = 0, ai = 1;
	pid_t pid;
	json_t *o;

	if (argc > 1 && strcmp(argv[1], "--break") == 0) {
		brk = 1;
		ai++;
	}
	if (argc < ai + 6 || strcmp(argv[ai + 4], "--") != 0) {
		fprintf(stderr, "usage: channel_host [--break] CARRIER POLICY TASKDIR AUDIT -- ARGS...\n");
		return 2;
	}
	pol = policy_load(argv[ai + 1], argv[ai + 2], err, sizeof(err));
	if (pol == NULL || (cc = cc_new(pol, err, sizeof(err))) == NULL) {
		fprintf(stderr, "channel_host: %s\n", err);
		return 2;
	}
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 || (slave = ptsname(master)) == NULL) {
		perror("channel_host: pty");
		return 2;
	}
	pid = fork();
	if (pid == 0) {
		int n = argc - (ai + 5);
		char **av = calloc((size_t)n + 4, sizeof(char *));

		av[0] = argv[ai];
		av[1] = "--channel";
		av[2] = slave;
		memcpy(av + 3, argv + ai + 5, (size_t)n * sizeof(char *));
		execv(av[0], av);
		perror("channel_host: exec");
		_exit(127);
	}
	(void)fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
	while (!done) {
		struct pollfd pfd = { .fd = master, .events = POLLIN | (cc_want_write(cc) ? POLLOUT : 0) };

		if (poll(&pfd, 1, 200) < 0 && errno != EINTR)
			break;
		if (pfd.revents & POLLOUT)
			(void)cc_on_writable(cc, master);
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			if (cc_on_readable(cc, master, master) < 0)
				done = 1;
			if (brk && !done && cc_want_write(cc) == 0) {
				close(master);
				master = -1;
				done = 1;
			}
		}
		if (waitpid(pid, &st, WNOHANG) == pid) {
			/* Drain what the Carrier said last (its BYE). */
			while (!done && master >= 0 && cc_on_readable(cc, master, master) == 0)
				;
			pid = -1;
			done = 1;
		}
	}
	if (pid > 0 && waitpid(pid, &st, 0) < 0)
		return 2;
	o = json_pack("{s:o, s:o}", "files", cc_files_json(cc), "denied", cc_denied_json(cc));
	if (cc_error(cc) != NULL)
		json_object_set_new(o, "channel_error", json_string(cc_error(cc)));
	json_dump_file(o, argv[ai + 3], JSON_INDENT(1));
	json_decref(o);
	cc_free(cc);
	policy_free(pol);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
