/*
 * cgroup.c: a fresh cgroup per run that caps the UML process tree's
 * process count (pids.max) and memory, and lets the runner count and kill
 * whatever is left of it. cgroup v1 (pids and memory hierarchies) and v2
 * (unified) are both handled; when neither is writable (not root, or a
 * read-only /sys/fs/cgroup) the run goes on with rlimits only.
 * Runs on the host, in the runner, before the fork and after the reaping.
 * Never: touches a cgroup outside tmc-sandbox/, removes a non-empty one,
 * logs.
 */
#define _GNU_SOURCE
#include "sandbox/sandbox_host.h"
#include "common/log.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CGROUP_ROOT	"/sys/fs/cgroup"
#define CGROUP_PARENT	"tmc-sandbox"

static int cg_write(const char *dir, const char *file, const char *val)
{
	char path[512];
	int fd, rc;

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = write_full(fd, val, strlen(val));
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

static ssize_t cg_read(const char *dir, const char *file, char *buf, size_t len)
{
	char path[512];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read_full(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* Groups left by a runner that was killed (a daemon crash or restart) are
 * removed by the next run: rmdir only succeeds on an empty group, and the
 * age keeps it off a group another runner has just made and not yet
 * joined. */
#define CGROUP_STALE_S 120

static void cg_sweep(const char *parent)
{
	struct dirent *de;
	time_t now = time(NULL);
	DIR *d = opendir(parent);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strncmp(de->d_name, "tmc-", 4) != 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode) || now - st.st_mtime < CGROUP_STALE_S)
			continue;
		(void)unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

static int cg_mkdir(const char *base, const char *name, char *out, size_t outlen)
{
	char parent[256];

	if (snprintf(parent, sizeof(parent), "%s/%s", base, CGROUP_PARENT) >= (int)sizeof(parent) ||
	    snprintf(out, outlen, "%s/%s", parent, name) >= (int)outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdir(parent, 0755) < 0 && errno != EEXIST)
		return -1;
	cg_sweep(parent);
	return mkdir(out, 0755);
}

static int cg_open_procs(const char *dir)
{
	char path[512];

	if (snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= (int)sizeof(path))
		return -1;
	return open(path, O_WRONLY | O_CLOEXEC);
}

static int cgroup_create_v1(struct cgroup_set *cg, const char *name, unsigned nproc,
    uint64_t mem_limit, char *err, size_t errlen)
{
	char val[32];

	cg->version = 1;
	if (cg_mkdir(CGROUP_ROOT "/pids", name, cg->dirs[0], sizeof(cg->dirs[0])) < 0) {
		cg->dirs[0][0] = '\0';
		return errbuf_set(err, errlen, "cgroup: mkdir pids/%s: %s", name, strerror(errno));
	}
	snprintf(val, sizeof(val), "%u", nproc);
	if (cg_write(cg->dirs[0], "pids.max", val) < 0)
		return errbuf_set(err, errlen, "cgroup: pids.max: %s", strerror(errno));
	if (access(CGROUP_ROOT "/memory", W_OK) == 0) {
		if (cg_mkdir(CGROUP_ROOT "/memory", name, cg->dirs[1], sizeof(cg->dirs[1])) < 0) {
			cg->dirs[1][0] = '\0';
			return errbuf_set(err, errlen, "cgroup: mkdir memory/%s: %s", name,
			    strerror(errno));
		}
		snprintf(val, sizeof(val), "%" PRIu64, mem_limit);
		if (cg_write(cg->dirs[1], "memory.limit_in_bytes", val) < 0)
			return errbuf_set(err, errlen, "cgroup: memory.limit_in_bytes: %s",
			    strerror(errno));
		/* Without swap accounting the file is absent: memory alone then. */
		(void)cg_write(cg->dirs[1], "memory.memsw.limit_in_bytes", val);
	}
	for (int i = 0; i < 2; i++) {
		if (cg->dirs[i][0] == '\0')
			continue;
		cg->procs_fd[i] = cg_open_procs(cg->dirs[i]);
		if (cg->procs_fd[i] < 0)
			return errbuf_set(err, errlen, "cgroup: open %s/cgroup.procs: %s",
			    cg->dirs[i], strerror(errno));
	}
	return 0;
}

static int cgroup_create_v2(struct cgroup_set *cg, const char *name, unsigned nproc,
    uint64_t mem_limit, char *err, size_t errlen)
{
	char val[32], parent[256];

	cg->version = 2;
	/* Controllers must be enabled on the way down; already enabled is fine. */
	(void)cg_write(CGROUP_ROOT, "cgroup.subtree_control", "+pids +memory");
	snprintf(parent, sizeof(parent), "%s/%s", CGROUP_ROOT, CGROUP_PARENT);
	if (mkdir(parent, 0755) < 0 && errno != EEXIST)
		return errbuf_set(err, errlen, "cgroup: mkdir %s: %s", parent, strerror(errno));
	(void)cg_write(parent, "cgroup.subtree_control", "+pids +memory");
	if (cg_mkdir(CGROUP_ROOT, name, cg->dirs[0], sizeof(cg->dirs[0])) < 0) {
		cg->dirs[0][0] = '\0';
		return errbuf_set(err, errlen, "cgroup: mkdir %s: %s", name, strerror(errno));
	}
	snprintf(val, sizeof(val), "%u", nproc);
	if (cg_write(cg->dirs[0], "pids.max", val) < 0)
		return errbuf_set(err, errlen, "cgroup: pids.max: %s", strerror(errno));
	snprintf(val, sizeof(val), "%" PRIu64, mem_limit);
	if (cg_write(cg->dirs[0], "memory.max", val) < 0)
		return errbuf_set(err, errlen, "cgroup: memory.max: %s", strerror(errno));
	(void)cg_write(cg->dirs[0], "memory.swap.max", "0");
	cg->procs_fd[0] = cg_open_procs(cg->dirs[0]);
	if (cg->procs_fd[0] < 0)
		return errbuf_set(err, errlen, "cgroup: open cgroup.procs: %s", strerror(errno));
	return 0;
}

/* Creates the run's cgroup `name`. Returns 0 with version 0 when cgroups
 * are not usable here (the caller relies on rlimits alone), 0 with the
 * group ready, or -1 when a usable hierarchy refused a limit (the group is
 * then removed again: running without the cap we meant to set is wrong). */
int cgroup_create(struct cgroup_set *cg, const char *name, unsigned nproc,
    uint64_t mem_limit, char *err, size_t errlen)
{
	int rc;

	memset(cg, 0, sizeof(*cg));
	cg->procs_fd[0] = cg->procs_fd[1] = -1;
	if (access(CGROUP_ROOT "/cgroup.controllers", F_OK) == 0 && access(CGROUP_ROOT, W_OK) == 0)
		rc = cgroup_create_v2(cg, name, nproc, mem_limit, err, errlen);
	else if (access(CGROUP_ROOT "/pids", W_OK) == 0)
		rc = cgroup_create_v1(cg, name, nproc, mem_limit, err, errlen);
	else
		return 0;
	if (rc < 0) {
		cgroup_destroy(cg);
		return -1;
	}
	return 0;
}

/* Number of processes still in the group; -1 when unknown. */
long cgroup_count_procs(const struct cgroup_set *cg)
{
	char buf[8192];
	long n = 0;

	if (cg->version == 0 || cg->dirs[0][0] == '\0')
		return -1;
	if (cg_read(cg->dirs[0], "cgroup.procs", buf, sizeof(buf)) < 0)
		return -1;
	for (char *p = buf; *p != '\0'; p++)
		if (*p == '\n')
			n++;
	return n;
}

/* SIGKILLs every process in the group (the pid namespace and the process
 * group catch them first; this is for a tree that escaped both). */
void cgroup_kill_all(const struct cgroup_set *cg)
{
	char buf[8192];
	char *p, *end;

	if (cg->version == 0 || cg->dirs[0][0] == '\0')
		return;
	if (cg->version == 2 && cg_write(cg->dirs[0], "cgroup.kill", "1") == 0)
		return;
	if (cg_read(cg->dirs[0], "cgroup.procs", buf, sizeof(buf)) < 0)
		return;
	for (p = buf; *p != '\0'; p = end) {
		uint64_t pid;
		char *nl = strchr(p, '\n');

		end = nl ? nl + 1 : p + strlen(p);
		if (nl)
			*nl = '\0';
		if (parse_u64(p, 2, INT32_MAX, &pid) == 0)
			kill((pid_t)pid, SIGKILL);
	}
}

static int64_t cg_read_u64(const char *dir, const char *file)
{
	char buf[64];
	uint64_t v;

	if (dir[0] == '\0' || cg_read(dir, file, buf, sizeof(buf)) < 0)
		return -1;
	buf[strcspn(buf, "\n")] = '\0';
	if (parse_u64(buf, 0, INT64_MAX, &v) < 0)
		return -1;
	return (int64_t)v;
}

/* Peak memory of the UML tree (guest RAM file included), bytes, or -1. */
int64_t cgroup_memory_peak(const struct cgroup_set *cg)
{
	if (cg->version == 1)
		return cg_read_u64(cg->dirs[1], "memory.max_usage_in_bytes");
	if (cg->version == 2)
		return cg_read_u64(cg->dirs[0], "memory.peak");
	return -1;
}

/* How often the host's OOM killer fired inside the group, or -1. */
long cgroup_oom_kills(const struct cgroup_set *cg)
{
	char buf[1024];
	const char *dir = cg->version == 1 ? cg->dirs[1] : cg->dirs[0];
	const char *file = cg->version == 1 ? "memory.oom_control" : "memory.events";
	char *p, *save = NULL;
	uint64_t v;

	if (cg->version == 0 || dir[0] == '\0' || cg_read(dir, file, buf, sizeof(buf)) < 0)
		return -1;
	for (p = strtok_r(buf, "\n", &save); p != NULL; p = strtok_r(NULL, "\n", &save)) {
		if (strncmp(p, "oom_kill ", 9) != 0)
			continue;
		if (parse_u64(p + 9, 0, LONG_MAX, &v) < 0)
			return -1;
		return (long)v;
	}
	return -1;
}

void cgroup_close_fds(struct cgroup_set *cg)
{
	for (int i = 0; i < 2; i++) {
		if (cg->procs_fd[i] >= 0)
			close(cg->procs_fd[i]);
		cg->procs_fd[i] = -1;
	}
}

/* Removes the group. A just-reaped tree can keep it busy for a moment, so
 * rmdir is retried for up to a second. Returns -1 if it stayed. */
int cgroup_destroy(struct cgroup_set *cg)
{
	int rc = 0;

	cgroup_close_fds(cg);
	for (int i = 0; i < 2; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		int tries = 100;

		if (cg->dirs[i][0] == '\0')
			continue;
		while (rmdir(cg->dirs[i]) < 0 && errno == EBUSY && --tries > 0)
			nanosleep(&ts, NULL);
		if (tries == 0 || (access(cg->dirs[i], F_OK) == 0))
			rc = -1;
		else
			cg->dirs[i][0] = '\0';
	}
	return rc;
}
