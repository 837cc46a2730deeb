/*
 * sandbox.c: one task's run on the host, start to result (theory of
 * operation in sandbox.h and sandbox/README.md).
 * Owns: the work dir (runnable.tar copy, output.tar of the output cap, the
 * guest RAM dir), the cgroup's life, the poll loop that feeds the vm log,
 * serves the serial line and enforces the wall clock, the teardown that
 * proves no UML process is left, and the hand-off to tmc-unpack (which
 * reads output.tar, see privsep.c) and result.c.
 * Never: keeps global state or installs signal handlers (sandboxd calls it
 * from a worker thread), reads guest data before the guest is dead or in
 * this process, leaves the work dir or the cgroup behind (unless
 * keep_work_dir).
 */
#define _GNU_SOURCE
#include "sandbox/sandbox_host.h"
#include "sandbox/scout.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define MiB ((uint64_t)1024 * 1024)
#define SANDBOX_CGROUP_SLACK (64 * MiB)	/* UML's own memory over mem= */
#define SANDBOX_DRAIN_S 2.0			/* console tail after the exit */
#define SANDBOX_GUEST_TASK_DIR "/task"		/* tmc-init's task dir: $TASK in the policy */

void sandbox_config_defaults(struct sandbox_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->limits.memory = 256 * MiB;
	cfg->limits.timeout_s = 200;
	cfg->limits.output_cap = 20 * MiB;
	cfg->limits.file_cap = 4 * MiB;
	cfg->limits.vm_log_cap = 1 * MiB;
	cfg->limits.tmpfs = 0;
	cfg->limits.host_nproc = 512;
	cfg->work_root = "/tmp";
	cfg->run_uid = 65534;
	cfg->run_gid = 65534;
	cfg->unpack_uid = 65534;
	cfg->unpack_gid = 65534;
	cfg->policy = NULL;
	cfg->scout = 1;
	cfg->keep_work_dir = 0;
	cfg->channel = NULL;
	cfg->cpu = SANDBOX_CPU_NONE;
	cfg->huge_pages = 1;
	cfg->populate_ram = 1;
}

static char *sandbox_image_path(const char *dir, const char *name)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return NULL;
	return realpath(path, NULL);
}

int sandbox_images_find(struct sandbox_images *img, const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX], buf[64], list[128] = "";
	const char *missing[4];
	size_t nmissing = 0;
	ssize_t n;
	uint64_t lpj;
	int fd;

	memset(img, 0, sizeof(*img));
	img->kernel = sandbox_image_path(dir, "linux.uml");
	img->initrd = sandbox_image_path(dir, "initrd.img");
	img->rootfs = sandbox_image_path(dir, "rootfs.squashfs");
	img->unpack = sandbox_image_path(dir, "tmc-unpack");
	if (img->unpack == NULL) {
		char *self = self_dir();

		img->unpack = self != NULL ? sandbox_image_path(self, "tmc-unpack") : NULL;
		free(self);
	}
	if (img->kernel == NULL)
		missing[nmissing++] = "linux.uml";
	if (img->initrd == NULL)
		missing[nmissing++] = "initrd.img";
	if (img->rootfs == NULL)
		missing[nmissing++] = "rootfs.squashfs";
	if (img->unpack == NULL)
		missing[nmissing++] = "tmc-unpack";
	if (snprintf(path, sizeof(path), "%s/lpj", dir) < (int)sizeof(path) &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read_full(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < 0)
			n = 0;
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (parse_u64(buf, 1, ULONG_MAX, &lpj) < 0)
			return errbuf_set(err, errlen, "%s: not a number", path);
		img->lpj = (unsigned long)lpj;
	}
	for (size_t i = 0; i < nmissing; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
		    missing[i]);
	if (nmissing > 0)
		return errbuf_set(err, errlen, "%s: missing %s", dir, list);
	return 0;
}

void sandbox_images_free(struct sandbox_images *img)
{
	free((char *)img->kernel);
	free((char *)img->initrd);
	free((char *)img->rootfs);
	free((char *)img->unpack);
	memset(img, 0, sizeof(*img));
}

void sandbox_unpack_helper(const struct sandbox_config *cfg, struct privsep_helper *h)
{
	memset(h, 0, sizeof(*h));
	h->path = cfg->images.unpack;
	h->uid = cfg->unpack_uid;
	h->gid = cfg->unpack_gid;
}

/* The default channel: Scout's Command Center (command_center.c) with the
 * configured or the built-in policy, one per run. */
struct sandbox_cc {
	struct policy *policy;
	struct command_center *cc;
	struct sandbox_channel ch;
};

/* Everything one run owns, released by sandbox_cleanup(). */
struct sandbox_job {
	struct sandbox_config cfg_copy;	/* a pre-booted guest outlives its caller's cfg */
	const struct sandbox_config *cfg;	/* &cfg_copy */
	const struct sandbox_channel *channel;	/* NULL: ssl1 drained */
	struct sandbox_cc cc;
	uint64_t disk_cap;	/* pre-boot: size of the empty task disk; 0: copy the tar */
	int disk_fd;		/* pre-boot: that disk, open from its creation on */
	int privileged;		/* root: uid drop, cgroup */
	int namespaces;		/* root and the host allows new namespaces */
	char kernel[PATH_MAX], initrd[PATH_MAX], rootfs[PATH_MAX];
	char work[PATH_MAX];
	char runnable[PATH_MAX + 32], output[PATH_MAX + 32];
	char tmp[PATH_MAX + 32];
	int tmp_own;		/* tmp is a /dev/shm dir of ours to remove */
	int tmp_mount;
	struct cgroup_set cg;
	int console[2], ssl_in[2], ssl_out[2];
	struct vmlog *log;
	struct uml_proc proc;
	struct sandbox_layer layers[SANDBOX_LAYERS_MAX];	/* cfg's, checked again */
	size_t nlayers;
	/* Their paths, NULL-terminated: the list of further read-only images
	 * a jail around UML must bind (issue 11's jail_images). */
	const char *layer_paths[SANDBOX_LAYERS_MAX + 1];
	int spawned;
	double t_launch;
	double t0;		/* the task's start: launch, or "go" for a pre-booted guest */
	int exited;		/* the pidfd reported UML's exit */
};

static void sandbox_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int sandbox_copy(const char *from, const char *to, uid_t uid, gid_t gid, int chown_it,
    char *err, size_t errlen)
{
	char buf[65536];
	int in, out, rc = 0;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return errbuf_set(err, errlen, "open %s: %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0440);
	if (out < 0) {
		close(in);
		return errbuf_set(err, errlen, "create %s: %s", to, strerror(errno));
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = errbuf_set(err, errlen, "read %s: %s", from, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (write_full(out, buf, (size_t)n) < 0) {
			rc = errbuf_set(err, errlen, "write %s: %s", to, strerror(errno));
			break;
		}
	}
	if (rc == 0 && chown_it && fchown(out, uid, gid) < 0)
		rc = errbuf_set(err, errlen, "chown %s: %s", to, strerror(errno));
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = errbuf_set(err, errlen, "close %s: %s", to, strerror(errno));
	return rc;
}

static int sandbox_output_tar(struct sandbox_job *j, char *err, size_t errlen)
{
	const struct sandbox_config *cfg = j->cfg;
	int fd = open(j->output, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return errbuf_set(err, errlen, "create %s: %s", j->output, strerror(errno));
	/* Sparse zeros: the guest sees a disk of exactly the output cap, and
	 * the zero blocks after its tar end the archive when we read it. */
	if (ftruncate(fd, (off_t)cfg->limits.output_cap) < 0 ||
	    (j->privileged && fchown(fd, cfg->run_uid, cfg->run_gid) < 0)) {
		int e = errno;

		close(fd);
		return errbuf_set(err, errlen, "prepare %s: %s", j->output, strerror(e));
	}
	close(fd);
	return 0;
}

/* A pre-booted guest's task disk: sparse zeros of the size the guest sees
 * from boot on (UML reads a ubd file's size once, when the device is
 * added), written by the host only after the guest waits for "go".
 * Writable by us alone; UML opens it read-only (ubdbr). The fd stays open
 * until then: the work dir belongs to the UML user, and the task is
 * written into the file made here, whatever that user may have put at
 * its path meanwhile. */
static int sandbox_empty_disk(struct sandbox_job *j, char *err, size_t errlen)
{
	const struct sandbox_config *cfg = j->cfg;
	int fd = open(j->runnable, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);

	if (fd < 0)
		return errbuf_set(err, errlen, "create %s: %s", j->runnable, strerror(errno));
	if (ftruncate(fd, (off_t)j->disk_cap) < 0 ||
	    (j->privileged && fchown(fd, getuid(), cfg->run_gid) < 0)) {
		int e = errno;

		close(fd);
		return errbuf_set(err, errlen, "prepare %s: %s", j->runnable, strerror(e));
	}
	j->disk_fd = fd;
	return 0;
}

/* A /dev/shm dir for the guest RAM file, when no private tmpfs can be had. */
static int sandbox_tmp_shared(struct sandbox_job *j, char *err, size_t errlen)
{
	snprintf(j->tmp, sizeof(j->tmp), "/dev/shm/tmc-sandbox-XXXXXX");
	if (mkdtemp(j->tmp) == NULL)
		return errbuf_set(err, errlen, "mkdtemp in /dev/shm: %s", strerror(errno));
	j->tmp_own = 1;
	j->tmp_mount = 0;
	if (j->privileged && chown(j->tmp, j->cfg->run_uid, j->cfg->run_gid) < 0)
		return errbuf_set(err, errlen, "chown %s: %s", j->tmp, strerror(errno));
	return 0;
}

/* The dir UML maps guest RAM from: a private tmpfs mounted inside the
 * UML's own mount namespace when we can (size-capped, gone with the
 * namespace), else the work dir when it is on tmpfs, else /dev/shm. */
static int sandbox_tmp_dir(struct sandbox_job *j, char *err, size_t errlen)
{
	struct statfs sf;

	if (j->namespaces) {
		snprintf(j->tmp, sizeof(j->tmp), "%s/ram", j->work);
		if (mkdir(j->tmp, 0700) < 0 || chown(j->tmp, j->cfg->run_uid, j->cfg->run_gid) < 0)
			return errbuf_set(err, errlen, "mkdir %s: %s", j->tmp, strerror(errno));
		j->tmp_mount = 1;
		return 0;
	}
	if (statfs(j->work, &sf) == 0 && sf.f_type == TMPFS_MAGIC) {
		snprintf(j->tmp, sizeof(j->tmp), "%s", j->work);
		return 0;
	}
	return sandbox_tmp_shared(j, err, errlen);
}

static int sandbox_prepare(struct sandbox_job *j, const char *runnable_tar, char *err,
    size_t errlen)
{
	const struct sandbox_config *cfg = j->cfg;
	const struct sandbox_images *img = &cfg->images;
	const char *name;

	if (img->kernel == NULL || img->initrd == NULL || img->rootfs == NULL)
		return errbuf_set(err, errlen, "images: kernel, initrd and rootfs are all needed");
	if (img->unpack == NULL)
		return errbuf_set(err, errlen, "images: tmc-unpack is needed to read output.tar");
	if (realpath(img->kernel, j->kernel) == NULL)
		return errbuf_set(err, errlen, "kernel %s: %s", img->kernel, strerror(errno));
	if (realpath(img->initrd, j->initrd) == NULL)
		return errbuf_set(err, errlen, "initrd %s: %s", img->initrd, strerror(errno));
	if (realpath(img->rootfs, j->rootfs) == NULL)
		return errbuf_set(err, errlen, "rootfs %s: %s", img->rootfs, strerror(errno));
	/* A layer may have been replaced since the instance started: each is
	 * checked again as it is attached, like the images above. */
	if (cfg->nlayers > SANDBOX_LAYERS_MAX)
		return errbuf_set(err, errlen, "layers: at most %d per task", SANDBOX_LAYERS_MAX);
	for (size_t i = 0; i < cfg->nlayers; i++) {
		j->layers[i] = cfg->layers[i];
		if (layer_check(&j->layers[i], err, errlen) < 0)
			return -1;
		j->layer_paths[i] = j->layers[i].path;
	}
	j->layer_paths[cfg->nlayers] = NULL;
	j->nlayers = cfg->nlayers;
	if (cfg->limits.memory < 32 * MiB || cfg->limits.output_cap < 64 * 1024 ||
	    cfg->limits.timeout_s == 0 || cfg->limits.host_nproc == 0)
		return errbuf_set(err, errlen, "limits: memory >= 32M, output cap >= 64K, "
		    "timeout and nproc > 0");

	if (mkdir_p(cfg->work_root, 0711) < 0)
		return errbuf_set(err, errlen, "mkdir %s: %s", cfg->work_root, strerror(errno));
	/* A pre-booted guest's dir is told apart from a running task's. */
	if (snprintf(j->work, sizeof(j->work), "%s/%s-XXXXXX", cfg->work_root,
	    j->disk_cap > 0 ? "tmc-preboot" : "tmc") >= (int)sizeof(j->work))
		return errbuf_set(err, errlen, "work root path too long");
	if (mkdtemp(j->work) == NULL) {
		j->work[0] = '\0';
		return errbuf_set(err, errlen, "mkdtemp in %s: %s", cfg->work_root, strerror(errno));
	}
	if (j->privileged && chown(j->work, cfg->run_uid, cfg->run_gid) < 0)
		return errbuf_set(err, errlen, "chown %s: %s", j->work, strerror(errno));
	snprintf(j->runnable, sizeof(j->runnable), "%s/runnable.tar", j->work);
	snprintf(j->output, sizeof(j->output), "%s/output.tar", j->work);
	if (runnable_tar == NULL) {
		if (sandbox_empty_disk(j, err, errlen) < 0)
			return -1;
	} else if (sandbox_copy(runnable_tar, j->runnable, cfg->run_uid, cfg->run_gid, j->privileged,
	    err, errlen) < 0) {
		return -1;
	}
	if (sandbox_output_tar(j, err, errlen) < 0)
		return -1;
	if (sandbox_tmp_dir(j, err, errlen) < 0)
		return -1;
	if (j->privileged) {
		name = strrchr(j->work, '/') + 1;
		if (cgroup_create(&j->cg, name, cfg->limits.host_nproc,
		    cfg->limits.memory + SANDBOX_CGROUP_SLACK, err, errlen) < 0)
			return -1;
	}
	if (pipe2(j->console, O_CLOEXEC) < 0 || pipe2(j->ssl_in, O_CLOEXEC) < 0 ||
	    pipe2(j->ssl_out, O_CLOEXEC) < 0)
		return errbuf_set(err, errlen, "pipe: %s", strerror(errno));
	return 0;
}

static int sandbox_launch(struct sandbox_job *j, char *err, size_t errlen)
{
	const struct sandbox_config *cfg = j->cfg;
	struct uml_launch l;
	int host_ends[3];

	memset(&l, 0, sizeof(l));
	l.kernel = j->kernel;
	l.initrd = j->initrd;
	l.rootfs = j->rootfs;
	l.runnable = j->runnable;
	l.output = j->output;
	l.layers = j->layers;
	l.nlayers = j->nlayers;
	l.jail_images = j->layer_paths;
	l.work_dir = j->work;
	l.tmp_dir = j->tmp;
	l.tmp_mount = j->tmp_mount;
	l.memory = cfg->limits.memory;
	l.tmpfs = cfg->limits.tmpfs;
	l.stream_cap = cfg->limits.file_cap;
	l.output_cap = cfg->limits.output_cap;
	l.lpj = cfg->images.lpj;
	l.scout = cfg->scout;
	l.cpu = cfg->cpu;
	l.huge_pages = cfg->huge_pages && huge_pages_usable();
	l.populate_ram = cfg->populate_ram;
	l.preboot = j->disk_cap > 0;
	/* RLIMIT_NPROC counts all processes of the uid, across every run of
	 * this and other instances: with a pids cgroup capping this run, it is
	 * only a loose backstop, so that one run's fork bomb cannot starve the
	 * others sharing the uid; without one it is the cap. */
	l.nproc_rlimit = cfg->limits.host_nproc;
	/* Each guest address space is a host process: the guest must refuse a
	 * fork before the host does, or the guest kernel panics in fork. Half
	 * the host cap goes to the task: the rest covers tmc-init, the Carrier,
	 * UML's helper threads, and host processes of guest address spaces
	 * that are gone but not yet reaped by UML, which a churning fork bomb
	 * piles up under load (they count against pids.max until reaped). */
	l.guest_nproc = cfg->limits.host_nproc >= 64 ? cfg->limits.host_nproc / 2 : 16;
	if (j->cg.version != 0 && cfg->limits.host_nproc < 65536 / 16)
		l.nproc_rlimit = cfg->limits.host_nproc * 16;
	l.privileged = j->privileged;
	l.namespaces = j->namespaces;
	l.uid = cfg->run_uid;
	l.gid = cfg->run_gid;
	l.cgroup_fds = j->cg.procs_fd;
	l.console_fd = j->console[1];
	l.ssl_in_fd = j->ssl_in[0];
	l.ssl_out_fd = j->ssl_out[1];
#ifdef SANDBOX_TEST_HOOKS
	l.exec_instead = cfg->exec_instead;
	l.no_jail = cfg->no_jail;
	l.kernel_args = cfg->kernel_args;
#endif

	j->t0 = j->t_launch = mono_now();
	j->log = vmlog_new(cfg->limits.vm_log_cap, j->t0);
	if (j->log == NULL)
		return errbuf_set(err, errlen, "out of memory");
	if (uml_spawn(&l, &j->proc, err, errlen) < 0) {
		int e = j->proc.clone_errno;

		/* Root in a container often may not make namespaces: run with
		 * the uid drop, rlimits and cgroup only, and say so. */
		if (!l.namespaces || (e != EPERM && e != EINVAL && e != ENOSPC && e != EUSERS))
			return -1;
		log_warnx("%s: no namespaces for UML (%s): running without them", __func__, err);
		j->namespaces = 0;
		if (sandbox_tmp_shared(j, err, errlen) < 0)
			return -1;
		l.namespaces = 0;
		l.tmp_mount = 0;
		l.tmp_dir = j->tmp;
		if (uml_spawn(&l, &j->proc, err, errlen) < 0)
			return -1;
	}
	j->spawned = 1;
	log_debug("%s: UML pid %d in %s", __func__, (int)j->proc.pid, j->work);
	/* Only the child keeps the guest's ends. */
	sandbox_close(&j->console[1]);
	sandbox_close(&j->ssl_in[0]);
	sandbox_close(&j->ssl_out[1]);
	cgroup_close_fds(&j->cg);
	host_ends[0] = j->console[0];
	host_ends[1] = j->ssl_in[1];
	host_ends[2] = j->ssl_out[0];
	for (int i = 0; i < 3; i++)
		if (fcntl(host_ends[i], F_SETFL, fcntl(host_ends[i], F_GETFL) | O_NONBLOCK) < 0)
			return errbuf_set(err, errlen, "fcntl: %s", strerror(errno));
	return 0;
}

/* Reads what is there on the console; returns 1 at EOF, 0 otherwise. */
static int sandbox_read_console(struct sandbox_job *j)
{
	char buf[65536];

	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(j->console[0], buf, sizeof(buf));

		if (n > 0) {
			vmlog_feed(j->log, buf, (size_t)n, mono_now());
			continue;
		}
		if (n == 0)
			return 1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : 1;
	}
	return 0;
}

/* Without a Command Center the guest's bytes are read and dropped, so the
 * line never blocks the guest. Returns 1 at EOF. */
static int sandbox_drain_channel(int fd)
{
	char buf[4096];

	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		return n == 0 || errno != EAGAIN;
	}
	return 0;
}

enum sandbox_wait_end {
	WAIT_EXIT,		/* UML exited (or poll failed: the teardown kills) */
	WAIT_TIMEOUT,		/* the deadline passed */
	WAIT_MARKER,		/* the console showed the marker waited for */
};

/* Runs until the UML process exits, the deadline passes or (marker not
 * NULL) that console marker appears. Serves the serial line through
 * cfg->channel meanwhile. */
static enum sandbox_wait_end sandbox_wait(struct sandbox_job *j, double deadline, const char *marker)
{
	const struct sandbox_channel *ch = j->channel;
	struct pollfd pfd[4];
	int serving = ch != NULL && ch->on_readable != NULL;

	pfd[0].fd = j->console[0];
	pfd[1].fd = j->ssl_out[0];
	pfd[2].fd = j->proc.pidfd;
	pfd[3].fd = -1;
	for (;;) {
		double left = deadline - mono_now();
		int ms, n;

		if (marker != NULL && vmlog_marker_time(j->log, marker) >= 0)
			return WAIT_MARKER;
		if (j->exited)
			return WAIT_EXIT;
		if (left <= 0)
			return WAIT_TIMEOUT;
		ms = left > 3600 ? 3600 * 1000 : (int)(left * 1000) + 1;
		for (int i = 0; i < 4; i++) {
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		pfd[3].events = POLLOUT;
		pfd[3].fd = serving && ch->want_write != NULL && ch->on_writable != NULL &&
		    ch->want_write(ch->ctx) ? j->ssl_in[1] : -1;
		n = poll(pfd, 4, ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_warn("%s: poll", __func__);
			return WAIT_EXIT;	/* the teardown kills */
		}
		if (pfd[0].revents != 0 && sandbox_read_console(j))
			pfd[0].fd = -1;
		if (pfd[3].revents != 0 && serving &&
		    ch->on_writable(ch->ctx, j->ssl_in[1]) < 0) {
			log_debug("%s: channel closed by the Command Center", __func__);
			serving = 0;
		}
		if (pfd[1].revents != 0) {
			if (serving && ch->on_readable(ch->ctx, j->ssl_out[0], j->ssl_in[1]) < 0) {
				log_debug("%s: channel closed by the Command Center", __func__);
				serving = 0;
			}
			if (!serving && sandbox_drain_channel(j->ssl_out[0]))
				pfd[1].fd = -1;
		}
		if (pfd[2].revents != 0) {
			j->exited = 1;
			if (marker == NULL || vmlog_marker_time(j->log, marker) < 0)
				return WAIT_EXIT;
		}
	}
}

/* Kills and reaps UML, then proves that nothing of it is left: the pid
 * namespace, the process group and the cgroup must all be empty. */
static void sandbox_teardown(struct sandbox_job *j, int *status)
{
	long left = 0;

	uml_kill(&j->proc);
	if (uml_reap(&j->proc, status) < 0)
		log_warn("%s: waitpid %d", __func__, (int)j->proc.pid);
	for (int tries = 0; tries < 100; tries++) {
		long in_cg = cgroup_count_procs(&j->cg);

		left = uml_survivors(&j->proc);
		if (in_cg > left)
			left = in_cg;
		if (left == 0)
			break;
		/* Reparented helpers; cannot happen with a pid namespace. */
		kill(-j->proc.pid, SIGKILL);
		cgroup_kill_all(&j->cg);
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	if (left != 0) {
		log_warnx("%s: %ld UML processes of pgid %d survived SIGKILL", __func__, left,
		    (int)j->proc.pid);
		vmlog_note(j->log, "teardown: UML processes survived SIGKILL", mono_now());
	}
	j->spawned = 0;
}

/* The console tail: all writers are dead, so EOF comes at once; bounded
 * anyway in case something else holds the pipe. */
static void sandbox_drain_console(struct sandbox_job *j)
{
	double until = mono_now() + SANDBOX_DRAIN_S;
	struct pollfd pfd = { j->console[0], POLLIN, 0 };

	while (j->console[0] >= 0 && mono_now() < until) {
		if (sandbox_read_console(j))
			break;
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			break;
	}
}

static void sandbox_cleanup(struct sandbox_job *j)
{
	if (j->spawned) {
		uml_kill(&j->proc);
		uml_reap(&j->proc, NULL);
	}
	sandbox_close(&j->disk_fd);
	sandbox_close(&j->console[0]);
	sandbox_close(&j->console[1]);
	sandbox_close(&j->ssl_in[0]);
	sandbox_close(&j->ssl_in[1]);
	sandbox_close(&j->ssl_out[0]);
	sandbox_close(&j->ssl_out[1]);
	if (j->cg.version != 0 && cgroup_destroy(&j->cg) < 0)
		log_warnx("%s: cgroup %s stays behind", __func__, j->cg.dirs[0]);
	if (j->tmp_own && rm_rf(j->tmp) < 0)
		log_warn("%s: rm -rf %s", __func__, j->tmp);
	if (j->work[0] != '\0') {
		if (j->cfg->keep_work_dir)
			log_info("%s: work dir kept: %s", __func__, j->work);
		else if (rm_rf(j->work) < 0)
			log_warn("%s: rm -rf %s", __func__, j->work);
	}
	vmlog_free(j->log);
}

static int sandbox_cc_readable(void *ctx, int from_guest, int to_guest)
{
	return cc_on_readable(((struct sandbox_cc *)ctx)->cc, from_guest, to_guest);
}

static int sandbox_cc_want_write(void *ctx)
{
	return cc_want_write(((struct sandbox_cc *)ctx)->cc);
}

static int sandbox_cc_writable(void *ctx, int to_guest)
{
	return cc_on_writable(((struct sandbox_cc *)ctx)->cc, to_guest);
}

static int sandbox_cc_result(void *ctx, json_t *result)
{
	struct sandbox_cc *s = ctx;

	if (json_object_set_new(result, "files", cc_files_json(s->cc)) < 0 ||
	    json_object_set_new(result, "denied", cc_denied_json(s->cc)) < 0)
		return -1;
	return 0;
}

static int sandbox_cc_open(struct sandbox_cc *s, const char *policy_file, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->policy = policy_file != NULL ?
	    policy_load(policy_file, SANDBOX_GUEST_TASK_DIR, err, errlen) :
	    policy_default(SANDBOX_GUEST_TASK_DIR, err, errlen);
	if (s->policy == NULL)
		return -1;
	s->cc = cc_new(s->policy, err, errlen);
	if (s->cc == NULL)
		return -1;
	s->ch.on_readable = sandbox_cc_readable;
	s->ch.want_write = sandbox_cc_want_write;
	s->ch.on_writable = sandbox_cc_writable;
	s->ch.on_result = sandbox_cc_result;
	s->ch.ctx = s;
	return 0;
}

static void sandbox_cc_close(struct sandbox_cc *s)
{
	if (s->cc != NULL)
		cc_free(s->cc);
	if (s->policy != NULL)
		policy_free(s->policy);
	memset(s, 0, sizeof(*s));
}

/* Frees everything of a job, killing its UML if it still runs. */
void sandbox_job_free(struct sandbox_job *j)
{
	if (j == NULL)
		return;
	sandbox_cleanup(j);
	sandbox_cc_close(&j->cc);
	free(j);
}

/* Makes the work dir and launches UML: with runnable_tar, as a plain run;
 * with NULL, as a pre-boot (an empty task disk of disk_cap bytes, and
 * tmc-init told to wait for "go"). NULL with err when nothing runs. */
struct sandbox_job *sandbox_job_start(const struct sandbox_config *cfg, const char *runnable_tar,
    uint64_t disk_cap, char *err, size_t errlen)
{
	struct sandbox_job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		errbuf_set(err, errlen, "out of memory");
		return NULL;
	}
	j->cfg_copy = *cfg;
	j->cfg = &j->cfg_copy;
	j->channel = cfg->channel;
	j->disk_cap = runnable_tar == NULL ? disk_cap : 0;
	j->privileged = geteuid() == 0;
	j->namespaces = j->privileged;
	j->console[0] = j->console[1] = j->ssl_in[0] = j->ssl_in[1] = j->ssl_out[0] = j->ssl_out[1] = -1;
	j->disk_fd = -1;
	j->cg.procs_fd[0] = j->cg.procs_fd[1] = -1;
	j->proc.pid = -1;
	j->proc.pidfd = -1;
	if (runnable_tar == NULL && disk_cap < 1024) {
		errbuf_set(err, errlen, "pre-boot: a task disk of %llu bytes is too small",
		    (unsigned long long)disk_cap);
		free(j);
		return NULL;
	}
	if (j->channel == NULL && cfg->scout) {
		if (sandbox_cc_open(&j->cc, cfg->policy, err, errlen) < 0) {
			sandbox_cc_close(&j->cc);
			free(j);
			return NULL;
		}
		j->channel = &j->cc.ch;
	}
	if (sandbox_prepare(j, runnable_tar, err, errlen) < 0 ||
	    sandbox_launch(j, err, errlen) < 0) {
		sandbox_job_free(j);
		return NULL;
	}
	return j;
}

/* Pre-boot: waits up to timeout_s for the console marker; 0 once seen, -1
 * with err when the guest died or took too long (the job is then useless). */
int sandbox_job_wait_marker(struct sandbox_job *j, const char *marker, double timeout_s,
    char *err, size_t errlen)
{
	switch (sandbox_wait(j, mono_now() + timeout_s, marker)) {
	case WAIT_MARKER:
		return 0;
	case WAIT_TIMEOUT:
		return errbuf_set(err, errlen, "no \"%s\" within %.0f s", marker, timeout_s);
	case WAIT_EXIT:
		break;
	}
	return errbuf_set(err, errlen, "the guest exited after %.3f s", mono_now() - j->t_launch);
}

/* Pre-boot, while the guest waits: 0 while UML lives; -1 once it exited.
 * Also keeps its console pipe drained. */
int sandbox_job_alive(struct sandbox_job *j)
{
	struct pollfd pfd = { j->proc.pidfd, POLLIN, 0 };

	if (j->console[0] >= 0 && sandbox_read_console(j))
		sandbox_close(&j->console[0]);
	if (!j->exited && poll(&pfd, 1, 0) > 0)
		j->exited = 1;
	return j->exited ? -1 : 0;
}

/* Pre-boot: the task disk, open read-write; -1 for a plain run. */
int sandbox_job_disk(const struct sandbox_job *j)
{
	return j->disk_fd;
}

double sandbox_job_launched(const struct sandbox_job *j)
{
	return j->t_launch;
}

struct vmlog *sandbox_job_log(struct sandbox_job *j)
{
	return j->log;
}

/* Pre-boot: the task's clock starts now (timeout, time.total), with
 * timeout_s; msg (the "go" line) goes to the guest's serial line, which
 * nothing else has written to yet. */
int sandbox_job_go(struct sandbox_job *j, unsigned timeout_s, const void *msg, size_t len,
    char *err, size_t errlen)
{
	j->cfg_copy.limits.timeout_s = timeout_s;
	j->t0 = mono_now();
	if (write_full(j->ssl_in[1], msg, len) < 0)
		return errbuf_set(err, errlen, "write to the guest's serial line: %s", strerror(errno));
	return 0;
}

/* Waits for the guest, reads what it left and builds the result; frees j. */
int sandbox_job_finish(struct sandbox_job *j, json_t **result, char *err, size_t errlen)
{
	const struct sandbox_config *cfg = j->cfg;
	struct output_set out;
	struct result_input in = { 0 };
	struct privsep_helper unpack;
	struct privsep_expect expect;
	char oerr[256];
	int status = 0, timed_out, have_out;
	double t_end;

	*result = NULL;
	timed_out = sandbox_wait(j, j->t0 + (double)cfg->limits.timeout_s, NULL) == WAIT_TIMEOUT;
	sandbox_teardown(j, &status);
	t_end = mono_now();
	sandbox_drain_console(j);
	log_debug("%s: UML %d done after %.3f s%s", __func__, (int)j->proc.pid, t_end - j->t0,
	    timed_out ? " (timeout)" : "");

	/* The guest is gone: only now is output.tar read, as hostile data, by
	 * tmc-unpack. Its failure reads as a guest crash (no meta.txt). */
	sandbox_unpack_helper(cfg, &unpack);
	expect.size = cfg->limits.output_cap;
	expect.uid = j->privileged ? cfg->run_uid : geteuid();
	have_out = privsep_output(&unpack, j->output, cfg->limits.file_cap, &expect, &out, oerr,
	    sizeof(oerr)) == 0;
	in.collected = mono_now() - j->t0;
	if (!have_out)
		vmlog_note(j->log, oerr, t_end);

	if (j->cc.cc != NULL && cc_error(j->cc.cc) != NULL) {
		snprintf(oerr, sizeof(oerr), "channel: %s", cc_error(j->cc.cc));
		vmlog_note(j->log, oerr, t_end);
	}

	in.timed_out = timed_out;
	in.timeout_s = cfg->limits.timeout_s;
	in.out = have_out ? &out : NULL;
	in.log = j->log;
	in.log_now = t_end;
	in.origin = j->t0 - j->t_launch;
	in.total = t_end - j->t0;
	in.memory_peak = cgroup_memory_peak(&j->cg);
	in.host_oom_kills = cgroup_oom_kills(&j->cg);
	in.exit_status = status;
	*result = result_build(&in, err, errlen);
	if (have_out)
		output_set_free(&out);
	if (*result != NULL && j->channel != NULL && j->channel->on_result != NULL &&
	    j->channel->on_result(j->channel->ctx, *result) < 0)
		log_warnx("%s: the Command Center could not add its record", __func__);
	sandbox_job_free(j);
	return *result != NULL ? 0 : -1;
}

int sandbox_run(const struct sandbox_config *cfg, const char *runnable_tar,
    json_t **result, char *err, size_t errlen)
{
	struct sandbox_job *j;

	*result = NULL;
	j = sandbox_job_start(cfg, runnable_tar, 0, err, errlen);
	if (j == NULL)
		return -1;
	return sandbox_job_finish(j, result, err, errlen);
}
