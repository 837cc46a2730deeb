/*
 * memwatch.c: the memory of a UML process tree while it runs (host side).
 *
 *   memwatch [-i MS] [-o FILE] PATTERN -- CMD [ARG...]
 *
 * Runs CMD (stdout/stderr pass through) and, every MS milliseconds (default
 * 20) until it exits, sums over the processes whose command line contains
 * PATTERN (e.g. "uml_dir=/some/work-root/": UML and every host process it
 * forked for a guest address space carry it) their VmRSS and their Pss,
 * counting each address space once: UML's helper threads are processes
 * that share the kernel's mm (CLONE_VM), found with kcmp(KCMP_VM), and
 * each reports the whole of it. RSS then still counts the guest RAM file
 * once per address space that maps it; Pss shares it out, so the Pss sum
 * is the tree's real footprint. Writes the maxima:
 *
 *   rss_max_kb N
 *   pss_max_kb N
 *   procs_max N        (processes matched)
 *   mms_max N          (distinct address spaces among them)
 *   samples N
 *
 * to FILE or stderr. Exit status: CMD's (128+signal), 125 on its own failure.
 * Reads /proc only; needs to be root (or the UML user) to read smaps_rollup.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct sample {
	unsigned long long rss_kb;
	unsigned long long pss_kb;
	unsigned long procs;
	unsigned long mms;
};

#define MAX_MMS 4096

/* Reads up to len-1 bytes of a /proc file; NULs become spaces. -1 on error. */
static ssize_t read_proc(const char *path, char *buf, size_t len)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((size_t)total < len - 1 && (n = read(fd, buf + total, len - 1 - (size_t)total)) > 0)
		total += n;
	close(fd);
	for (ssize_t i = 0; i < total; i++) {
		if (buf[i] == '\0')
			buf[i] = ' ';
	}
	buf[total] = '\0';
	return total;
}

/* The kB value of "key:" in a /proc status-like file, 0 when absent. */
static unsigned long long field_kb(const char *path, const char *key)
{
	char buf[8192];
	const char *p;

	if (read_proc(path, buf, sizeof(buf)) <= 0)
		return 0;
	p = strstr(buf, key);
	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static void take_sample(const char *pattern, struct sample *s)
{
	static pid_t mm_owner[MAX_MMS];
	DIR *proc = opendir("/proc");
	struct dirent *de;
	pid_t self = getpid();

	memset(s, 0, sizeof(*s));
	if (proc == NULL)
		return;
	while ((de = readdir(proc)) != NULL) {
		char path[300], cmdline[4096];

		pid_t pid;
		unsigned long i;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = (pid_t)strtol(de->d_name, NULL, 10);
		if (pid == self)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		if (read_proc(path, cmdline, sizeof(cmdline)) <= 0 || strstr(cmdline, pattern) == NULL)
			continue;
		s->procs++;
		for (i = 0; i < s->mms; i++) {
			if (syscall(SYS_kcmp, mm_owner[i], pid, KCMP_VM, 0, 0) == 0)
				break;
		}
		if (i < s->mms || s->mms == MAX_MMS)
			continue;
		mm_owner[s->mms++] = pid;
		snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
		s->rss_kb += field_kb(path, "VmRSS:");
		snprintf(path, sizeof(path), "/proc/%s/smaps_rollup", de->d_name);
		s->pss_kb += field_kb(path, "\nPss:");
	}
	closedir(proc);
}

static int usage(void)
{
	fprintf(stderr, "usage: memwatch [-i MS] [-o FILE] PATTERN -- CMD [ARG...]\n");
	return 125;
}

int main(int argc, char **argv)
{
	struct sample max = { 0, 0, 0, 0 }, s;
	struct timespec interval = { 0, 20 * 1000000L };
	unsigned long samples = 0;
	const char *pattern;
	FILE *out = stderr;
	int c, ws;
	pid_t pid;

	while ((c = getopt(argc, argv, "+i:o:")) != -1) {
		char *end;
		long ms;

		switch (c) {
		case 'i':
			errno = 0;
			ms = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || ms < 1 || ms > 10000)
				return usage();
			interval.tv_sec = ms / 1000;
			interval.tv_nsec = (ms % 1000) * 1000000L;
			break;
		case 'o':
			out = fopen(optarg, "w");
			if (out == NULL) {
				fprintf(stderr, "memwatch: %s: %s\n", optarg, strerror(errno));
				return 125;
			}
			break;
		default:
			return usage();
		}
	}
	if (argc - optind < 2 || argv[optind][0] == '\0')
		return usage();
	pattern = argv[optind++];
	if (strcmp(argv[optind], "--") == 0 && ++optind >= argc)
		return usage();
	pid = fork();
	if (pid < 0)
		return 125;
	if (pid == 0) {
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "memwatch: exec %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t r = waitpid(pid, &ws, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return 125;
		take_sample(pattern, &s);
		samples++;
		if (s.rss_kb > max.rss_kb)
			max.rss_kb = s.rss_kb;
		if (s.pss_kb > max.pss_kb)
			max.pss_kb = s.pss_kb;
		if (s.procs > max.procs)
			max.procs = s.procs;
		if (s.mms > max.mms)
			max.mms = s.mms;
		nanosleep(&interval, NULL);
	}
	fprintf(out, "rss_max_kb %llu\npss_max_kb %llu\nprocs_max %lu\nmms_max %lu\nsamples %lu\n",
	    max.rss_kb, max.pss_kb, max.procs, max.mms, samples);
	if (out != stderr && fclose(out) != 0)
		return 125;
	return WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : WEXITSTATUS(ws);
}
