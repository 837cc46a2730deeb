/*
 * sandboxd: the TMC-style HTTP task service. One instance runs one task at
 * a time; many instances sit behind nginx (web/).
 *
 * Theory of operation
 *
 *   threads (one process, the service user):
 *     main      parses the configuration, recovers the spool, starts the
 *               others, then waits for SIGTERM/SIGINT and drains.
 *     HTTP      libmicrohttpd's single polling thread (http.c). Claims the
 *               busy slot with one atomic compare-and-swap as soon as a
 *               POST's headers are in (500 busy otherwise, before reading
 *               any body), streams the multipart body through intake.c to
 *               <work>/incoming/<id>.upload under the upload cap, checks the
 *               small fields, hands the task to the runner and suspends the
 *               connection. It never blocks on task work.
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
 *     notifier  one thread (notify.c) delivering spooled results with
 *               libcurl, with backoff and jitter, removing each only after
 *               a 2xx. It never holds the slot.
 *
 *   what passes between them: a struct task (reference counted; the runner
 *   fills its answer and calls back once, which resumes the connection);
 *   the slot (an atomic int); result ids (a mutex-guarded queue); and the
 *   spool directory, which is the durable hand-over: results survive a
 *   crash, running markers turn into failed/internal results on restart.
 *
 *   files under --work-dir: incoming/ (uploads; emptied at start and after
 *   each task), tasks/ (sandbox_run()'s per-task dirs), spool/ (results,
 *   markers, dead/ for results given up on).
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
#include <sys/stat.h>
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
	resolve_ids(cfg, sb);
}

static void setup_work_dir(const struct config *cfg, char *tasks_dir, size_t len)
{
	char incoming[4200];

	if (mkdir_p(cfg->work_dir, 0755) < 0)
		fatal("work dir %s", cfg->work_dir);
	snprintf(incoming, sizeof(incoming), "%s/incoming", cfg->work_dir);
	/* Uploads of a previous life are garbage: their tasks are either in
	 * the spool as running markers or were never accepted. */
	if (rm_rf(incoming) < 0)
		log_warn("%s: cleaning %s", __func__, incoming);
	if (mkdir_p(incoming, 0700) < 0)
		fatal("mkdir %s", incoming);
	if ((size_t)snprintf(tasks_dir, len, "%s/tasks", cfg->work_dir) >= len)
		fatalx("work dir path too long");
	if (mkdir_p(tasks_dir, 0755) < 0)
		fatal("mkdir %s", tasks_dir);
}

static void recover_spool(const struct config *cfg)
{
	char err[512], **ids = NULL;
	size_t n = 0;

	if (spool_init(cfg->work_dir, err, sizeof(err)) < 0)
		fatalx("%s", err);
	if (spool_recover(&ids, &n, err, sizeof(err)) < 0)
		fatalx("%s", err);
	if (n > 0)
		log_info("spool: %zu result(s) to deliver from before the restart", n);
	for (size_t i = 0; i < n; i++) {
		notify_enqueue(ids[i]);
		free(ids[i]);
	}
	free(ids);
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct sandbox_config sb;
	char err[512], tasks_dir[4200];
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

	setup_work_dir(&cfg, tasks_dir, sizeof(tasks_dir));
	setup_sandbox(&cfg, &sb, tasks_dir);
	status_init();
	if (notify_start(&cfg) < 0)
		fatalx("cannot start the notifier thread");
	recover_spool(&cfg);
	if (runner_start(&cfg, &sb) < 0)
		fatalx("cannot start the runner thread");
	if (http_start(&cfg) < 0)
		fatalx("cannot start the HTTP service");
	log_info("sandboxd %s ready: work dir %s, kernel %s, memory %lluM, timeout %us, upload cap %llu, "
	    "notify %s, scout %s", SANDBOXD_VERSION, cfg.work_dir, sb.images.kernel,
	    (unsigned long long)(cfg.memory >> 20), cfg.timeout_s, (unsigned long long)cfg.upload_cap,
	    cfg.notify_format == NOTIFY_FORM ? "form" : "json", cfg.scout ? "on" : "off");

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("SIGHUP ignored (restart to change settings)");
			continue;
		}
		break;
	}
	log_info("%s: draining (no new tasks; the running one finishes)", sig == SIGTERM ? "SIGTERM" : "SIGINT");
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
