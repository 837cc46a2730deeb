/*
 * preboot.c: a guest booted ahead of its task (host side).
 *
 * Theory of operation: sandbox_guest_boot() launches UML as sandbox_run()
 * would, but with an empty, sparse task disk (ubdb) of a fixed size and
 * tmc.preboot=1: tmc-init sets up everything that does not depend on the
 * task, prints PREBOOT_READY_MARKER and blocks reading /dev/ttyS1. It has
 * not opened /dev/ubdb by then (the kernel's own partition scan at boot
 * saw zeros and dropped its page cache on close; tmc-init flushes the
 * device's buffers after "go" all the same). sandbox_guest_run() writes
 * the task's runnable.tar into that disk file in place (UML read its size
 * once at boot and reads its blocks with pread, so the bytes are seen),
 * starts the task's clock and sends PREBOOT_GO; from there on the run is
 * exactly sandbox_run()'s: same wait, teardown, output.tar reading and
 * result, with the timeout and `time` counted from "go".
 * What is fixed at boot and so must match the task: mem= (and the guest
 * ramdisk derived from it), the caps, Scout, the CPU and the images. A
 * task asking for another memory size gets a fresh guest (the caller
 * checks sandbox_guest_fits()).
 * Never: writes the task disk before the guest is waiting, or reuses a
 * guest: one guest, one task.
 */
#define _GNU_SOURCE
#include "sandbox/sandbox_host.h"
#include "sandbox/preboot.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Boot to "ready" takes 0.1-1.5 s here; a guest far slower is broken. */
#define PREBOOT_READY_TIMEOUT_S 60.0
#define PREBOOT_SECTOR 512

struct sandbox_guest {
	struct sandbox_job *job;
	uint64_t memory, tmpfs;
	uint64_t disk_cap;
	double t_ready;
};

struct sandbox_guest *sandbox_guest_boot(const struct sandbox_config *cfg, uint64_t disk_cap,
    char *err, size_t errlen)
{
	struct sandbox_guest *g = calloc(1, sizeof(*g));
	char why[256];

	if (g == NULL) {
		errbuf_set(err, errlen, "out of memory");
		return NULL;
	}
	/* ubd sizes a disk in whole sectors. */
	g->disk_cap = (disk_cap + PREBOOT_SECTOR - 1) / PREBOOT_SECTOR * PREBOOT_SECTOR;
	g->memory = cfg->limits.memory;
	g->tmpfs = cfg->limits.tmpfs;
	g->job = sandbox_job_start(cfg, NULL, g->disk_cap, err, errlen);
	if (g->job == NULL) {
		free(g);
		return NULL;
	}
	if (sandbox_job_wait_marker(g->job, PREBOOT_READY_MARKER, PREBOOT_READY_TIMEOUT_S,
	    why, sizeof(why)) < 0) {
		const char *log = vmlog_text(sandbox_job_log(g->job));
		size_t len = strlen(log);

		/* The console's tail says why, e.g. a panic. */
		errbuf_set(err, errlen, "pre-boot: %s; console: %s", why,
		    len > 160 ? log + len - 160 : log);
		sandbox_guest_free(g);
		return NULL;
	}
	g->t_ready = mono_now();
	return g;
}

int sandbox_guest_check(struct sandbox_guest *g, char *why, size_t whylen)
{
	const char *log;
	size_t len;

	if (sandbox_job_alive(g->job) == 0)
		return 0;
	log = vmlog_text(sandbox_job_log(g->job));
	len = strlen(log);
	return errbuf_set(why, whylen, "the pre-booted guest died %.3f s after it was ready; "
	    "console: %s", mono_now() - g->t_ready, len > 160 ? log + len - 160 : log);
}

int sandbox_guest_fits(const struct sandbox_guest *g, const struct sandbox_config *cfg,
    const char *runnable_tar)
{
	struct stat st;

	if (cfg->limits.memory != g->memory || cfg->limits.tmpfs != g->tmpfs)
		return 0;
	/* Layers are ubd devices and a list on the kernel command line, both
	 * fixed at boot; a guest booted ahead has none. */
	if (cfg->nlayers > 0)
		return 0;
	return stat(runnable_tar, &st) == 0 && (uint64_t)st.st_size <= g->disk_cap;
}

double sandbox_guest_age(const struct sandbox_guest *g)
{
	return mono_now() - g->t_ready;
}

/* Copies the task tar to the start of the task disk (disk, the fd made
 * with it); the rest of the disk stays zeros, which end the archive for the
 * guest's reader. */
static int preboot_fill_disk(const char *tar, int disk, uint64_t cap, char *err, size_t errlen)
{
	char buf[65536];
	uint64_t total = 0;
	int in, rc = 0;

	if (disk < 0)
		return errbuf_set(err, errlen, "pre-boot: the guest has no task disk");
	in = open(tar, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return errbuf_set(err, errlen, "open %s: %s", tar, strerror(errno));
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = errbuf_set(err, errlen, "read %s: %s", tar, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > cap) {
			rc = errbuf_set(err, errlen, "the task (over %llu bytes) does not fit the "
			    "pre-booted guest's disk", (unsigned long long)cap);
			break;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = pwrite(disk, buf + off, (size_t)(n - off), (off_t)(total - (uint64_t)n) + off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				rc = errbuf_set(err, errlen, "write the task disk: %s",
				    w < 0 ? strerror(errno) : "short write");
				break;
			}
			off += w;
		}
		if (rc < 0)
			break;
	}
	close(in);
	return rc;
}

int sandbox_guest_run(struct sandbox_guest *g, const struct sandbox_config *cfg,
    const char *runnable_tar, json_t **result, char *err, size_t errlen)
{
	struct sandbox_job *j = g->job;
	char note[160];
	double now = mono_now();

	*result = NULL;
	if (preboot_fill_disk(runnable_tar, sandbox_job_disk(j), g->disk_cap, err, errlen) < 0) {
		sandbox_guest_free(g);
		return -1;
	}
	snprintf(note, sizeof(note), "pre-booted guest: ready %.3f s after launch, task delivered "
	    "%.3f s later; time counts from the delivery", g->t_ready - sandbox_job_launched(j),
	    now - g->t_ready);
	vmlog_note(sandbox_job_log(j), note, now);
	if (sandbox_job_go(j, cfg->limits.timeout_s, PREBOOT_GO, strlen(PREBOOT_GO), err, errlen) < 0) {
		sandbox_guest_free(g);
		return -1;
	}
	g->job = NULL;
	free(g);
	return sandbox_job_finish(j, result, err, errlen);
}

void sandbox_guest_free(struct sandbox_guest *g)
{
	if (g == NULL)
		return;
	sandbox_job_free(g->job);
	free(g);
}
