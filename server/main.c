/*
 * sandboxd: the TMC-style HTTP task service. One instance runs one task at
 * a time; many instances sit behind nginx (web/).
 *
 * Theory of operation
 *
 *   threads (one process, the service user):
 *     main      parses the configuration, recovers the spool, starts the
 *               others, then waits for SIGTERM/SIGINT and drains.
 *     HTTP      one thread running libmicrohttpd's event loop (http.c),
 *               which also enforces the whole-request deadline. A POST
 *               whose headers arrive while a task runs gets 500 busy (503
 *               when the spool is full) before any body is read; otherwise
 *               the multipart body streams through intake.c to
 *               <work>/incoming/<id>.upload under the upload cap, the small
 *               fields and the notify destination are checked (the name is
 *               looked up off this thread), and only then is the slot
 *               claimed, with one atomic compare-and-swap: an upload still
 *               coming in never makes the instance busy. It hands the task
 *               to the runner and suspends the connection, and never
 *               blocks on task work or DNS.
 *     runner    one worker thread (runner.c). Has the upload validated
 *               and rewritten as a clean ustar runnable.tar by tmc-unpack,
 *               a separate, unprivileged, seccomp-confined process
 *               (privsep.c: sandboxd itself never parses an archive and
 *               does not link libarchive), answers the suspended client (400 with the
 *               reason, or 200 ok), writes a running marker to the spool,
 *               calls sandbox_run() (which forks the confined UML process;
 *               sandbox/README.md has the processes below it), then spools
 *               the result and releases the slot. With wait=1 the result is
 *               the answer instead and nothing is spooled.
 *     notifier  a pool of --notify-workers threads (notify.c) delivering
 *               spooled results with libcurl, at most one attempt in flight
 *               per destination, each to an address checked against the
 *               allow/deny lists and pinned for the transfer; backoff and
 *               jitter; a result is removed only after a 2xx. They never
 *               hold the slot.
 *
 *   what passes between them: a struct task (reference counted; the runner
 *   fills its answer and calls back once, which resumes the connection);
 *   the slot (an atomic int; refused with 503 when the spool has no room
 *   for one more result); result ids (a mutex-guarded queue); and the
 *   spool directory, which is the durable hand-over: results survive a
 *   crash, and a task with a running marker and its kept runnable.tar runs
 *   once more on restart (a second interruption: failed/internal).
 *
 *   files under --work-dir: incoming/ (uploads; emptied at start and after
 *   each task), tasks/ (sandbox_run()'s per-task dirs; emptied at start),
 *   spool/ (results, markers, kept runnable.tars, dead/ for results given
 *   up on), all bounded (spool.c).
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

static void resolve_ids(const struct config *cfg, struct sandbox_config *sb)
{
	uint64_t v;

	if (cfg->user != NULL) {
		struct passwd *pw = getpwnam(cfg->user);

		if (pw != NULL) {
			sb->run_uid = pw->pw_uid;
			sb->run_gid = pw->pw_gid;
		} else if (parse_u64(cfg->user, 1, 0xfffffffe, &v) == 0) {
			sb->run_uid = (uid_t)v;
			sb->run_gid = (gid_t)v;
		} else {
			fatalx("--user %s: no such user", cfg->user);
		}
	}
	if (cfg->group != NULL) {
		struct group *gr = getgrnam(cfg->group);

		if (gr != NULL)
			sb->run_gid = gr->gr_gid;
		else if (parse_u64(cfg->group, 1, 0xfffffffe, &v) == 0)
			sb->run_gid = (gid_t)v;
		else
			fatalx("--group %s: no such group", cfg->group);
	}
}

/* As root, a uid slot of its own (sandbox/uid_slot.c), held until exit. */
static void claim_uids(const struct config *cfg, struct sandbox_config *sb)
{
	static struct uid_slot held = { .fd = -1 };
	int exact = cfg->uid_slot < UID_SLOTS;
	char err[512];

	if (geteuid() != 0)
		return;
	if (uid_slot_claim(UID_SLOT_LOCK_DIR, exact ? cfg->uid_slot : cfg->port % 128, exact,
	    &held, err, sizeof(err)) < 0)
		fatalx("uid-slot: %s", err);
	sb->run_uid = held.uml_uid;
	sb->run_gid = (gid_t)held.uml_uid;
	sb->unpack_uid = held.unpack_uid;
	sb->unpack_gid = (gid_t)held.unpack_uid;
	log_info("uid slot %u: UML runs as uid %u, tmc-unpack as uid %u", held.slot,
	    (unsigned)held.uml_uid, (unsigned)held.unpack_uid);
}

static void override_image(const char **slot, const char *path)
{
	char *abs;

	if (path == NULL)
		return;
	abs = realpath(path, NULL);
	if (abs == NULL)
		fatal("image %s", path);
	free((char *)*slot);
	*slot = abs;
}

/* The instance's port, for --cpu auto: the configured one, or that of an
 * inherited socket; 0 when neither says. */
static unsigned instance_port(const struct config *cfg)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (cfg->listen_fd < 0 || getsockname(cfg->listen_fd, (struct sockaddr *)&ss, &len) < 0)
		return cfg->port;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/* --cpu: auto is one CPU per instance, the (port mod n)-th of the n this
 * process may run on, so that a pool on consecutive ports spreads out. */
static void setup_cpu(const struct config *cfg, struct sandbox_config *sb)
{
	unsigned port = instance_port(cfg);
	char err[512];

	sb->cpu = cfg->cpu;
	if (sb->cpu == SANDBOX_CPU_AUTO &&
	    (port != 0 ? cpu_affinity_pick(port, &sb->cpu, err, sizeof(err)) :
	    cpu_affinity_current(&sb->cpu, err, sizeof(err))) < 0)
		fatalx("--cpu auto: %s", err);
	if (sb->cpu >= 0 && cpu_affinity_check(sb->cpu, err, sizeof(err)) < 0)
		fatalx("--cpu: %s", err);
}

static void setup_sandbox(const struct config *cfg, struct sandbox_config *sb, char *tasks_dir)
{
	char err[512];

	sandbox_config_defaults(sb);
	/* Each image: the explicit flag, else images_dir; lpj from images_dir. */
	if (sandbox_images_find(&sb->images, cfg->images_dir, err, sizeof(err)) < 0 &&
	    (cfg->kernel == NULL || cfg->initrd == NULL || cfg->rootfs == NULL))
		fatalx("images: %s (build them with `make images`, or give --images-dir, "
		    "--kernel, --initrd, --rootfs)", err);
	override_image(&sb->images.kernel, cfg->kernel);
	override_image(&sb->images.initrd, cfg->initrd);
	override_image(&sb->images.rootfs, cfg->rootfs);
	if (sb->images.unpack == NULL)
		fatalx("no tmc-unpack in %s or next to sandboxd: uploads and results cannot be "
		    "parsed (build it with `make build/tmc-unpack`)", cfg->images_dir);
	sb->limits.memory = cfg->memory;
	sb->limits.timeout_s = cfg->timeout_s;
	sb->limits.output_cap = cfg->output_cap;
	sb->work_root = tasks_dir;
	sb->scout = cfg->scout;
	sb->policy = cfg->policy;
	sb->keep_work_dir = cfg->keep_work_dir;
	sb->huge_pages = cfg->huge_pages;
	sb->populate_ram = cfg->populate_ram;
	claim_uids(cfg, sb);
	resolve_ids(cfg, sb);
	setup_cpu(cfg, sb);
	preboot_init(cfg->preboot, upload_stream_cap(&cfg->upload));
}

/*
 * The UML user must reach tasks/ and write in the task dir it is given;
 * otherwise every task ends as failed/crash with only "linux.uml exited
 * with 1" to show for it. So a task dir is made here as sandbox_prepare()
 * makes one (chowned to the UML user when root), and a child with the UML
 * user's ids writes a file in it. On failure the child names the first
 * directory on the path it cannot search.
 */
static void check_work_dir(const struct sandbox_config *sb, const char *tasks_dir)
{
	char probe[4300], why[4400] = "";
	int fds[2], st, privileged = geteuid() == 0;
	pid_t pid;
	ssize_t n;

	if ((size_t)snprintf(probe, sizeof(probe), "%s/probe-XXXXXX", tasks_dir) >= sizeof(probe))
		fatalx("work dir path too long");
	if (mkdtemp(probe) == NULL)
		fatal("work dir: cannot make a task dir in %s", tasks_dir);
	if ((privileged && chown(probe, sb->run_uid, sb->run_gid) < 0) || pipe2(fds, O_CLOEXEC) < 0)
		fatal("work dir: preparing %s", probe);
	pid = fork();
	if (pid < 0)
		fatal("fork");
	if (pid == 0) {
		char file[4400], part[4300];
		int fd;

		close(fds[0]);
		if (privileged && drop_ids(sb->run_uid, sb->run_gid) != 0) {
			dprintf(fds[1], "cannot switch to uid %u: %s", (unsigned)sb->run_uid, strerror(errno));
			_exit(1);
		}
		snprintf(file, sizeof(file), "%s/probe", probe);
		fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0 && write(fd, "x", 1) == 1 && close(fd) == 0 && unlink(file) == 0)
			_exit(0);
		for (char *p = strchr(probe + 1, '/'); ; p = strchr(p + 1, '/')) {
			size_t len = p != NULL ? (size_t)(p - probe) : strlen(probe);

			snprintf(part, sizeof(part), "%.*s", (int)len, probe);
			if (access(part, X_OK) < 0) {
				dprintf(fds[1], "it cannot enter %s (%s)", part, strerror(errno));
				_exit(1);
			}
			if (p == NULL)
				break;
		}
		dprintf(fds[1], "it cannot write in %s: %s", probe, strerror(errno));
		_exit(1);
	}
	close(fds[1]);
	n = read_full(fds[0], why, sizeof(why) - 1);
	why[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (rm_rf(probe) < 0)
		log_warn("%s: removing %s", __func__, probe);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fatalx("work dir %s is not usable by uid %u, the user UML runs as: %s (every ancestor "
		    "directory must be searchable by that user, e.g. mode 0755 or 0711)",
		    tasks_dir, (unsigned)sb->run_uid, why[0] ? why : "the check failed");
}

/*
 * incoming/ and tasks/ hold only scratch of a previous life: uploads whose
 * tasks are either in the spool or were never accepted, and the per-task
 * dirs (runnable.tar copy, output.tar, ~100 MB) of a run cut short. The
 * runnable.tar of a task to be run again is kept in the spool, not here,
 * so both are emptied.
 */
static void setup_work_dir(const struct config *cfg, const struct sandbox_config *sb, const char *tasks_dir)
{
	char incoming[4200];

	if (mkdir_p(cfg->work_dir, 0755) < 0)
		fatal("work dir %s", cfg->work_dir);
	snprintf(incoming, sizeof(incoming), "%s/incoming", cfg->work_dir);
	if (rm_rf(incoming) < 0)
		log_warn("%s: cleaning %s", __func__, incoming);
	if (mkdir_p(incoming, 0700) < 0)
		fatal("mkdir %s", incoming);
	if (rm_rf(tasks_dir) < 0)
		log_warn("%s: cleaning %s", __func__, tasks_dir);
	if (mkdir_p(tasks_dir, 0755) < 0)
		fatal("mkdir %s", tasks_dir);
	check_work_dir(sb, tasks_dir);
}

/* The spool's bounds; a --spool-max left unset is a tenth of the work
 * dir's file system (at least four results). The reserve is the room one
 * more result needs. */
static void setup_spool_limits(struct config *cfg)
{
	struct spool_limits l = { 0 };
	struct statvfs vfs;

	if (cfg->spool_max == 0) {
		if (statvfs(cfg->work_dir, &vfs) < 0)
			fatal("statvfs %s", cfg->work_dir);
		cfg->spool_max = (uint64_t)vfs.f_blocks * vfs.f_frsize / 10;
		/* On a small file system the free-space check binds first. */
		if (cfg->spool_max < 4 * cfg->result_max)
			cfg->spool_max = 4 * cfg->result_max;
	}
	if (cfg->spool_max < cfg->result_max)
		fatalx("--spool-max %llu is smaller than one result may be (--result-max %llu): no task "
		    "could ever be accepted", (unsigned long long)cfg->spool_max,
		    (unsigned long long)cfg->result_max);
	l.max_bytes = cfg->spool_max;
	l.max_files = cfg->spool_max_files;
	l.reserve = cfg->result_max;
	l.dead_max_age = cfg->dead_max_age;
	l.dead_max = cfg->dead_max;
	spool_set_limits(&l);
}

static void recover_spool(const struct config *cfg, struct spool_rerun **rr, size_t *nrr)
{
	char err[512], **ids = NULL;
	size_t n = 0, pruned;

	if (spool_init(cfg->work_dir, err, sizeof(err)) < 0)
		fatalx("%s", err);
	if (spool_recover(&ids, &n, rr, nrr, err, sizeof(err)) < 0)
		fatalx("%s", err);
	pruned = spool_prune_dead();
	if (pruned > 0)
		log_info("spool: %zu result(s) removed from spool/dead (--dead-max-age, --dead-max, --spool-max)",
		    pruned);
	if (n > 0)
		log_info("spool: %zu result(s) to deliver from before the restart", n);
	if (*nrr > 0)
		log_info("spool: %zu task(s) cut short by the daemon's stop will run once more", *nrr);
	for (size_t i = 0; i < n; i++) {
		notify_enqueue(ids[i]);
		free(ids[i]);
	}
	free(ids);
}

/*
 * The longest a drain can take: the running task to its timeout, its
 * teardown and spooling (DRAIN_TEARDOWN_S), then http_stop()'s and
 * notify_stop()'s grace for answers and an attempt in flight. The unit's
 * TimeoutStopSec covers it for the default --timeout; for a longer one,
 * systemd is asked for the time (EXTEND_TIMEOUT_USEC, with NotifyAccess).
 */
#define DRAIN_TEARDOWN_S 15
#define DRAIN_GRACE_S 15

static unsigned drain_bound_s(const struct config *cfg)
{
	return cfg->timeout_s + DRAIN_TEARDOWN_S + DRAIN_GRACE_S;
}

/* sd_notify(3)'s protocol, without libsystemd: one datagram to
 * $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). */
static void systemd_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		log_warn("%s: %s", __func__, path);
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct sandbox_config sb;
	char err[512], tasks_dir[4200], msg[64], cpu_desc[16];
	struct spool_rerun *reruns = NULL;
	size_t nreruns = 0;
	sigset_t sigs;
	int sig, log_fd = 2, rc;

	config_defaults(&cfg);
	rc = config_parse(&cfg, argc, argv, err, sizeof(err));
	if (rc != 0) {
		if (rc < 0)
			dprintf(2, "sandboxd: %s\n", err);
		config_free(&cfg);
		return rc < 0 ? 2 : 0;
	}
	if (cfg.log_file != NULL) {
		log_fd = open(cfg.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (log_fd < 0) {
			dprintf(2, "sandboxd: log %s: %s\n", cfg.log_file, strerror(errno));
			return 2;
		}
	}
	log_init("sandboxd", cfg.verbosity, log_fd);

	/* Signals are taken synchronously by main; every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((size_t)snprintf(tasks_dir, sizeof(tasks_dir), "%s/tasks", cfg.work_dir) >= sizeof(tasks_dir))
		fatalx("work dir path too long");
	setup_sandbox(&cfg, &sb, tasks_dir);
	setup_work_dir(&cfg, &sb, tasks_dir);
	setup_spool_limits(&cfg);
	status_init();
	status_layers_set(cfg.layers, cfg.nlayers);
	for (size_t i = 0; i < cfg.nlayers; i++)
		log_info("layer %s: %s (%llu bytes)", cfg.layers[i].name, cfg.layers[i].path,
		    (unsigned long long)cfg.layers[i].size);
	if (notify_start(&cfg) < 0)
		fatalx("cannot start the notifier thread");
	recover_spool(&cfg, &reruns, &nreruns);
	if (runner_start(&cfg, &sb, reruns, nreruns) < 0)
		fatalx("cannot start the runner thread");
	spool_reruns_free(reruns, nreruns);
	if (http_start(&cfg) < 0)
		fatalx("cannot start the HTTP service");
	if (sb.cpu >= 0)
		snprintf(cpu_desc, sizeof(cpu_desc), "%d", sb.cpu);
	else
		snprintf(cpu_desc, sizeof(cpu_desc), "none");
	log_info("sandboxd %s ready: work dir %s, kernel %s, memory %lluM, timeout %us, upload cap %llu, "
	    "notify %s, scout %s, cpu %s, preboot %s, huge pages %s, populate ram %s, spare unpack %s, spool max %lluM (result max %lluM, %llu files), drain at most %us",
	    SANDBOXD_VERSION, cfg.work_dir, sb.images.kernel,
	    (unsigned long long)(cfg.memory >> 20), cfg.timeout_s, (unsigned long long)cfg.upload_cap,
	    cfg.notify_format == NOTIFY_FORM ? "form" : "json", cfg.scout ? "on" : "off",
	    cpu_desc, cfg.preboot ? "on" : "off",
	    !cfg.huge_pages ? "off" : huge_pages_usable() ? "on" : "off (the host's tmpfs refuses them)",
	    cfg.populate_ram ? "on" : "off",
	    cfg.spare_unpack ? "on" : "off",
	    (unsigned long long)(cfg.spool_max >> 20), (unsigned long long)(cfg.result_max >> 20),
	    (unsigned long long)cfg.spool_max_files, drain_bound_s(&cfg));

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("SIGHUP ignored (restart to change settings)");
			continue;
		}
		break;
	}
	log_info("%s: draining (no new tasks; the running one finishes, at most %us)",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT", drain_bound_s(&cfg));
	snprintf(msg, sizeof(msg), "STOPPING=1\nEXTEND_TIMEOUT_USEC=%llu",
	    (unsigned long long)drain_bound_s(&cfg) * 1000000ULL);
	systemd_notify(msg);
	runner_drain();
	http_stop();
	runner_stop();
	notify_stop();
	spool_fini();
	sandbox_images_free(&sb.images);
	notify_curl_cleanup();
	log_info("stopped");
	config_free(&cfg);
	if (log_fd != 2)
		close(log_fd);
	return 0;
}
