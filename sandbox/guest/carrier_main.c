/*
 * carrier_main.c: the `carrier` command (DESIGN 5, sandbox/SCOUT.md).
 *
 *   carrier [--channel DEV | --channel-fd N | --policy FILE] [--task DIR]
 *           [--uid U --gid G] [--limits nproc=N,fsize=N,nofile=N,as=N,cpu=N]
 *           [--timeout S] [--hold-fd N] [--audit FILE] [-v] -- CMD ARGS...
 *
 * In the guest, tmc-init runs it as root with --channel-fd (/dev/ttyS1,
 * raw) and --hold-fd, before the task is unpacked: the Carrier sets
 * everything up to the task's exec, then waits for one byte on the hold
 * fd (EOF: exit 125, nothing run). The Command Center on the host decides
 * and keeps the audit. On a plain host,
 * --policy FILE (or neither option: the built-in default policy) runs the
 * Command Center in-process and --audit writes its record as JSON.
 * Exit status: CMD's (128+N when killed by signal N, 137 on --timeout);
 * 125 when the Carrier itself failed, 126/127 when CMD could not be run.
 * Owns: option parsing and wiring; never touches task input.
 */
#define _GNU_SOURCE
#include <jansson.h>

#include "sandbox/scout.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: carrier [--channel DEV | --channel-fd N | --policy FILE] [--task DIR]\n"
	    "               [--uid U --gid G] [--limits nproc=N,fsize=N,nofile=N,as=N,cpu=N]\n"
	    "               [--timeout S] [--hold-fd N] [--audit FILE] [-v] -- CMD [ARGS...]\n");
	exit(125);
}

static int parse_limits(char *spec, struct flight_deck_opts *o)
{
	char *save = NULL;

	for (char *kv = strtok_r(spec, ",", &save); kv != NULL; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		uint64_t v;

		if (eq == NULL)
			return -1;
		*eq = '\0';
		if (parse_size(eq + 1, UINT64_MAX / 2, &v) < 0)
			return -1;
		if (strcmp(kv, "nproc") == 0)
			o->nproc.set = 1, o->nproc.value = v;
		else if (strcmp(kv, "fsize") == 0)
			o->fsize.set = 1, o->fsize.value = v;
		else if (strcmp(kv, "nofile") == 0)
			o->nofile.set = 1, o->nofile.value = v;
		else if (strcmp(kv, "as") == 0)
			o->as.set = 1, o->as.value = v;
		else if (strcmp(kv, "cpu") == 0)
			o->cpu.set = 1, o->cpu.value = v;
		else
			return -1;
	}
	return 0;
}

/* The serial line carries binary frames: no echo, no line editing, no
 * CR/LF translation, 8 bits. */
static int open_channel(const char *dev)
{
	int fd = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct termios t;

	if (fd < 0)
		return -1;
	if (isatty(fd)) {
		if (tcgetattr(fd, &t) < 0)
			goto fail;
		cfmakeraw(&t);
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
		if (tcsetattr(fd, TCSANOW, &t) < 0)
			goto fail;
		(void)tcflush(fd, TCIOFLUSH);
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* An inherited fd the Carrier takes over: it must be open, and it must not
 * reach the task (closed at the task's exec). */
static int take_fd(const char *arg)
{
	uint64_t v;

	if (parse_u64(arg, 3, 1023, &v) < 0)
		usage();
	if (fcntl((int)v, F_SETFD, FD_CLOEXEC) < 0)
		fatal("fd %s", arg);
	return (int)v;
}

int main(int argc, char **argv)
{
	const char *channel = NULL, *policy_file = NULL, *task = NULL, *audit = NULL;
	char cwd[PATH_MAX], err[512];
	struct flight_deck_opts o;
	struct policy *pol = NULL;
	struct command_center *cc = NULL;
	struct scout_supervisor *sup;
	int i, verbose = 0, have_uid = 0, have_gid = 0, chan_fd = -1, status;
	uint64_t v;

	memset(&o, 0, sizeof(o));
	o.hold_fd = -1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-v") == 0) {
			verbose++;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (strcmp(a, "--channel") == 0)
			channel = argv[++i];
		else if (strcmp(a, "--channel-fd") == 0)
			chan_fd = take_fd(argv[++i]);
		else if (strcmp(a, "--hold-fd") == 0)
			o.hold_fd = take_fd(argv[++i]);
		else if (strcmp(a, "--policy") == 0)
			policy_file = argv[++i];
		else if (strcmp(a, "--task") == 0)
			task = argv[++i];
		else if (strcmp(a, "--audit") == 0)
			audit = argv[++i];
		else if (strcmp(a, "--uid") == 0) {
			if (parse_u64(argv[++i], 0, 0xfffffffe, &v) < 0)
				usage();
			o.uid = (uid_t)v;
			have_uid = 1;
		} else if (strcmp(a, "--gid") == 0) {
			if (parse_u64(argv[++i], 0, 0xfffffffe, &v) < 0)
				usage();
			o.gid = (gid_t)v;
			have_gid = 1;
		} else if (strcmp(a, "--limits") == 0) {
			if (parse_limits(argv[++i], &o) < 0)
				usage();
		} else if (strcmp(a, "--timeout") == 0) {
			if (parse_u64(argv[++i], 1, 7 * 24 * 3600, &v) < 0)
				usage();
			o.timeout_s = (unsigned)v;
		} else
			usage();
	}
	if (i >= argc || (channel != NULL) + (chan_fd >= 0) + (policy_file != NULL) > 1 ||
	    have_uid != have_gid || ((channel != NULL || chan_fd >= 0) && audit != NULL))
		usage();
	o.argv = argv + i;
	o.drop = have_uid;
	log_init("carrier", verbose, 2);
	if (o.drop && geteuid() != 0 && (o.uid != getuid() || o.gid != getgid()))
		fatalx("--uid/--gid need root");
	if (o.drop && o.uid == 0)
		fatalx("--uid 0 would leave the task privileged");
	if (!o.drop && geteuid() == 0)
		log_warnx("running the task as root: the kernel's own permission checks "
		    "no longer back the policy (use --uid/--gid)");

	if (channel != NULL) {
		chan_fd = open_channel(channel);
		if (chan_fd < 0)
			fatal("channel %s", channel);
	} else if (chan_fd < 0) {
		if (task == NULL) {
			if (getcwd(cwd, sizeof(cwd)) == NULL)
				fatal("getcwd");
			task = cwd;
		}
		pol = policy_file != NULL ? policy_load(policy_file, task, err, sizeof(err)) :
		    policy_default(task, err, sizeof(err));
		if (pol == NULL)
			fatalx("policy: %s", err);
		cc = cc_new(pol, err, sizeof(err));
		if (cc == NULL)
			fatalx("%s", err);
	}
	sup = scout_supervisor_new(cc, chan_fd, err, sizeof(err));
	if (sup == NULL)
		fatalx("%s", err);
	status = flight_deck_run(&o, sup);
	if (cc != NULL && audit != NULL && cc_write_audit(cc, audit, err, sizeof(err)) < 0) {
		log_warnx("audit: %s", err);
		if (status == 0)
			status = 125;
	}
	scout_supervisor_free(sup);
	cc_free(cc);
	policy_free(pol);
	if (chan_fd >= 0)
		close(chan_fd);
	return status;
}
