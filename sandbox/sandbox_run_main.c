/*
 * sandbox_run_main.c: `sandbox-run`, one task through the sandbox from the
 * command line; prints the result object (DESIGN section 4) on stdout.
 * TASK is an exercise directory (packed by task_tar.c: trusted, the
 * operator's own) or a tar. A tar goes through the same checks as an HTTP
 * upload, in tmc-unpack (privsep.c): sandbox-run usually runs as root.
 * Exit status (also in usage() and the README):
 *   0  the task ran and a result was produced, whatever its status
 *      (finished, failed with reason exit/oom/output_limit, timeout);
 *   1  no result: sandbox-run itself failed (images missing, ...);
 *   2  bad usage;
 *   3  a result was produced, but the sandbox failed rather than the task
 *      (reason crash or internal): the JSON is printed all the same, and
 *      one line on stderr names the cause from the vm log, so that a dead
 *      sandbox is never mistaken for a graded task.
 */
#define _GNU_SOURCE
#include "sandbox/sandbox.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
"usage: sandbox-run [options] TASK\n"
"Runs TASK (an exercise directory with ./tmc-run, or a task tar) in a UML\n"
"guest and prints the result JSON on stdout.\n"
"Exit status: 0 the task ran (any status: finished, failed, timeout);\n"
"1 no result (sandbox-run failed); 2 bad usage; 3 the sandbox failed, not\n"
"the task (reason crash or internal: the JSON is printed, and stderr names\n"
"the cause from the vm log).\n"
"\n"
"images (default: the directory sandbox-run is in, i.e. build/):\n"
"  --images DIR        find linux.uml, initrd.img, rootfs.squashfs, lpj in DIR\n"
"  --kernel FILE       UML kernel (overrides DIR/linux.uml)\n"
"  --initrd FILE       initrd (overrides DIR/initrd.img)\n"
"  --rootfs FILE       root squashfs (overrides DIR/rootfs.squashfs)\n"
"  --unpack FILE       tmc-unpack, the confined archive parser (overrides\n"
"                      DIR/tmc-unpack, then the one next to sandbox-run)\n"
"  --lpj N             loops_per_jiffy for lpj= (overrides DIR/lpj; 0 = calibrate)\n"
"limits (SIZE is bytes or with a K, M or G suffix):\n"
"  --memory SIZE       guest RAM, mem= (default 256M)\n"
"  --timeout SECONDS   wall clock from launch to power-off (default 200)\n"
"  --output-cap SIZE   size of output.tar, all result files together (default 20M)\n"
"  --file-cap SIZE     each result file and captured stream (default 4M)\n"
"  --vm-log-cap SIZE   console transcript (default 1M)\n"
"  --tmpfs SIZE        guest ramdisk for writes (default: half the memory)\n"
"  --nproc N           host processes of the UML tree (default 512; the task gets half)\n"
"host:\n"
"  --uid-slot N        as root: UML runs as uid 60600+2N, tmc-unpack as 60601+2N\n"
"                      (gid the same), N held by a lock for this run so that no\n"
"                      other sandbox-run or sandboxd uses it (default: a free one)\n"
"  --uid USER, --gid GROUP  user UML runs as when started as root (default: the slot's)\n"
"  --work-root DIR     per-task work dirs are made below DIR (default /tmp)\n"
"  --cpu N|none        pin the UML process tree to host CPU N (default: the\n"
"                      CPU sandbox-run starts on); none: leave it to the scheduler\n"
"  --preboot           boot the guest first, up to where tmc-init waits, then\n"
"                      deliver the task (as sandboxd's pre-boot does; `time`\n"
"                      counts from the delivery)\n"
"  --huge-pages on|off guest RAM on transparent huge pages where the host's\n"
"                      tmpfs allows them (default on)\n"
"  --populate-ram on|off\n"
"                      while the guest idles, the host faults in its RAM, so\n"
"                      that a task does not wait for it (default on; the\n"
"                      guest's RAM then stays resident in full)\n"
"  --keep              keep the work dir (its path is logged)\n"
"task:\n"
"  --no-scout          run tmc-run without Scout (tmc.scout=0)\n"
"  --policy FILE       Scout policy file\n"
"  --layer NAME=FILE   attach the squashfs FILE read-only at /opt/layers/NAME in\n"
"                      the guest (repeatable, at most 8; tools/make-layer builds one)\n"
"output:\n"
"  --compact           one-line JSON (default: indented)\n"
"  -v                  more log on stderr (repeat for debug)\n"
"  -h, --help          this text\n"
"TASK as a tar: checked and rewritten by the upload rules, in tmc-unpack.\n");
}

enum {
	OPT_KERNEL = 256, OPT_INITRD, OPT_ROOTFS, OPT_IMAGES, OPT_LPJ, OPT_MEMORY, OPT_TIMEOUT,
	OPT_OUTPUT_CAP, OPT_FILE_CAP, OPT_VM_LOG_CAP, OPT_TMPFS, OPT_NPROC, OPT_UID, OPT_GID,
	OPT_WORK_ROOT, OPT_KEEP, OPT_NO_SCOUT, OPT_POLICY, OPT_COMPACT, OPT_UNPACK, OPT_UID_SLOT,
	OPT_EXEC_INSTEAD, OPT_EXEC_ARG, OPT_NO_JAIL, OPT_CPU, OPT_PREBOOT, OPT_HUGE_PAGES, OPT_POPULATE_RAM, OPT_LAYER,
	OPT_KERNEL_ARG, OPT_PREBOOT_IDLE,
};

static const struct option options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "rootfs", required_argument, NULL, OPT_ROOTFS },
	{ "unpack", required_argument, NULL, OPT_UNPACK },
	{ "images", required_argument, NULL, OPT_IMAGES },
	{ "lpj", required_argument, NULL, OPT_LPJ },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "output-cap", required_argument, NULL, OPT_OUTPUT_CAP },
	{ "file-cap", required_argument, NULL, OPT_FILE_CAP },
	{ "vm-log-cap", required_argument, NULL, OPT_VM_LOG_CAP },
	{ "tmpfs", required_argument, NULL, OPT_TMPFS },
	{ "nproc", required_argument, NULL, OPT_NPROC },
	{ "uid", required_argument, NULL, OPT_UID },
	{ "gid", required_argument, NULL, OPT_GID },
	{ "uid-slot", required_argument, NULL, OPT_UID_SLOT },
#ifdef SANDBOX_TEST_HOOKS
	/* build/tests/sandbox-run-test only: tests/jail runs a hostile
	 * program in place of linux.uml, in the same jail. */
	{ "exec-instead", required_argument, NULL, OPT_EXEC_INSTEAD },
	{ "exec-arg", required_argument, NULL, OPT_EXEC_ARG },
	/* bench/bench.sh jail: UML without its jail and host filter. */
	{ "no-jail", no_argument, NULL, OPT_NO_JAIL },
	/* bench/bench.sh: one more kernel command-line word (repeatable, 3). */
	{ "kernel-arg", required_argument, NULL, OPT_KERNEL_ARG },
	/* bench/bench.sh prewarm: with --preboot, leave the ready guest idle
	 * this long before the delivery, as sandboxd's would be between tasks. */
	{ "preboot-idle", required_argument, NULL, OPT_PREBOOT_IDLE },
#endif
	{ "work-root", required_argument, NULL, OPT_WORK_ROOT },
	{ "keep", no_argument, NULL, OPT_KEEP },
	{ "cpu", required_argument, NULL, OPT_CPU },
	{ "preboot", no_argument, NULL, OPT_PREBOOT },
	{ "huge-pages", required_argument, NULL, OPT_HUGE_PAGES },
	{ "populate-ram", required_argument, NULL, OPT_POPULATE_RAM },
	{ "no-scout", no_argument, NULL, OPT_NO_SCOUT },
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "layer", required_argument, NULL, OPT_LAYER },
	{ "compact", no_argument, NULL, OPT_COMPACT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void bad_usage(const char *fmt, const char *arg) __attribute__((noreturn));
static void bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "sandbox-run: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry sandbox-run --help.\n");
	exit(2);
}

static uint64_t opt_size(const char *arg, const char *what)
{
	uint64_t v;

	if (parse_size(arg, UINT64_MAX / 2, &v) < 0)
		bad_usage("bad size for %s", what);
	return v;
}

static uint64_t opt_num(const char *arg, uint64_t max, const char *what)
{
	uint64_t v;

	if (parse_u64(arg, 0, max, &v) < 0)
		bad_usage("bad number for %s", what);
	return v;
}

static uid_t opt_uid(const char *arg)
{
	struct passwd *pw;
	uint64_t v;

	if (parse_u64(arg, 0, UINT32_MAX - 1, &v) == 0)
		return (uid_t)v;
	pw = getpwnam(arg);
	if (pw == NULL)
		bad_usage("unknown user %s", arg);
	return pw->pw_uid;
}

static gid_t opt_gid(const char *arg)
{
	struct group *gr;
	uint64_t v;

	if (parse_u64(arg, 0, UINT32_MAX - 1, &v) == 0)
		return (gid_t)v;
	gr = getgrnam(arg);
	if (gr == NULL)
		bad_usage("unknown group %s", arg);
	return gr->gr_gid;
}

/* The directory this program is in: build/ in a tree, where the images are. */
static char *default_images_dir(void)
{
	char *dir = self_dir();

	return dir != NULL ? dir : strdup(".");
}

/* Turns TASK into a runnable.tar at tmp_tar; *use gets the path to run. */
static int prepare_task(const struct sandbox_config *cfg, const char *task, const char *tmp_tar,
    const char **use)
{
	struct privsep_helper unpack;
	struct upload_limits lim;
	char err[512];
	struct stat st;

	if (stat(task, &st) < 0) {
		log_warn("%s", task);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		if (task_tar_from_dir(task, tmp_tar, err, sizeof(err)) < 0) {
			log_warnx("%s", err);
			return -1;
		}
		*use = tmp_tar;
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("%s: neither a directory nor a file", task);
		return -1;
	}
	upload_limits_defaults(&lim);
	sandbox_unpack_helper(cfg, &unpack);
	if (privsep_upload(&unpack, task, tmp_tar, &lim, err, sizeof(err)) < 0) {
		log_warnx("%s: %s", task, err);
		return -1;
	}
	*use = tmp_tar;
	return 0;
}

/* As root: the run's own pair of uids (sandbox/uid_slot.c), held until
 * exit; an explicit --uid/--gid still names UML's. */
static int claim_uids(struct sandbox_config *cfg, struct uid_slot *held, int slot, int uid_set,
    int gid_set)
{
	char err[512];

	if (geteuid() != 0)
		return 0;
	if (uid_slot_claim(UID_SLOT_LOCK_DIR, slot >= 0 ? (unsigned)slot :
	    UID_SLOTS / 2 + (unsigned)getpid() % (UID_SLOTS / 2), slot >= 0, held, err,
	    sizeof(err)) < 0) {
		log_warnx("uid slot: %s", err);
		return -1;
	}
	if (!uid_set)
		cfg->run_uid = held->uml_uid;
	if (!gid_set)
		cfg->run_gid = (gid_t)held->uml_uid;
	cfg->unpack_uid = held->unpack_uid;
	cfg->unpack_gid = (gid_t)held->unpack_uid;
	log_debug("uid slot %u: UML uid %u, tmc-unpack uid %u", held->slot,
	    (unsigned)cfg->run_uid, (unsigned)cfg->unpack_uid);
	return 0;
}

/* --cpu: a CPU this process may run on, or none; by default the one it
 * started on. */
static int resolve_cpu(const char *arg, int *cpu)
{
	char err[256];

	*cpu = SANDBOX_CPU_AUTO;
	if (arg != NULL && cpu_affinity_parse(arg, cpu, err, sizeof(err)) < 0) {
		log_warnx("--cpu: %s", err);
		return -1;
	}
	if (*cpu == SANDBOX_CPU_AUTO && cpu_affinity_current(cpu, err, sizeof(err)) < 0) {
		log_warnx("--cpu: %s", err);
		return -1;
	}
	if (*cpu >= 0 && cpu_affinity_check(*cpu, err, sizeof(err)) < 0) {
		log_warnx("--cpu: %s", err);
		return -1;
	}
	return 0;
}

/* --preboot: the guest boots before the task is handed over, as in
 * sandboxd; the disk is sized for any upload under the default limits. */
static unsigned preboot_idle_ms;	/* test hook: idle time before the delivery */

static int run_preboot(const struct sandbox_config *cfg, const char *tar, json_t **result,
    char *err, size_t errlen)
{
	struct upload_limits lim;
	struct sandbox_guest *g;

	upload_limits_defaults(&lim);
	g = sandbox_guest_boot(cfg, upload_stream_cap(&lim), err, errlen);
	if (g == NULL)
		return -1;
	if (!sandbox_guest_fits(g, cfg, tar)) {
		sandbox_guest_free(g);
		return errbuf_set(err, errlen, "%s does not fit the pre-booted guest's disk", tar);
	}
	if (preboot_idle_ms > 0)
		nanosleep(&(struct timespec){ preboot_idle_ms / 1000,
		    (long)(preboot_idle_ms % 1000) * 1000000 }, NULL);
	return sandbox_guest_run(g, cfg, tar, result, err, errlen);
}

/* A crash or internal result is the sandbox failing, not the task: say so on
 * stderr in one line with the cause, and exit 3. */
static int sandbox_failed(json_t *result)
{
	const char *reason = json_string_value(json_object_get(result, "reason"));
	char cause[240];

	if (reason == NULL || (strcmp(reason, "crash") != 0 && strcmp(reason, "internal") != 0))
		return 0;
	crash_cause(json_string_value(json_object_get(result, "vm_log")), cause, sizeof(cause));
	fprintf(stderr, "sandbox-run: the sandbox failed (%s), not the task: %s\n", reason, cause);
	return 1;
}

int main(int argc, char **argv)
{
	struct sandbox_config cfg;
	struct sandbox_images found;
	const char *kernel = NULL, *initrd = NULL, *rootfs = NULL, *unpack = NULL, *task, *use = NULL;
	char *images_dir = NULL, *unpack_abs = NULL, find_err[512], err[512], tmp_dir[PATH_MAX - 32];
	char tmp_tar[PATH_MAX];
	int lpj_set = 0, compact = 0, verbosity = 1, preboot = 0, c, rc = 1, uid_set = 0, gid_set = 0,
	    slot = -1;
	const char *cpu_arg = NULL;
	struct uid_slot held = { .fd = -1 };
#ifdef SANDBOX_TEST_HOOKS
	char *exec_argv[16] = { NULL };
	size_t exec_argc = 1, nkargs = 0;
#endif
	unsigned long lpj = 0;
	json_t *result = NULL;
	struct sandbox_layer *layers = NULL;
	size_t nlayers = 0;

	sandbox_config_defaults(&cfg);
	while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
		switch (c) {
		case OPT_KERNEL: kernel = optarg; break;
		case OPT_INITRD: initrd = optarg; break;
		case OPT_ROOTFS: rootfs = optarg; break;
		case OPT_UNPACK:
			free(unpack_abs);
			unpack_abs = realpath(optarg, NULL);
			if (unpack_abs == NULL)
				bad_usage("--unpack %s: no such file", optarg);
			unpack = unpack_abs;
			break;
		case OPT_IMAGES:
			free(images_dir);
			images_dir = strdup(optarg);
			break;
		case OPT_LPJ: lpj = (unsigned long)opt_num(optarg, ULONG_MAX, "--lpj"); lpj_set = 1; break;
		case OPT_MEMORY: cfg.limits.memory = opt_size(optarg, "--memory"); break;
		case OPT_TIMEOUT: cfg.limits.timeout_s = (unsigned)opt_num(optarg, 86400, "--timeout"); break;
		case OPT_OUTPUT_CAP: cfg.limits.output_cap = opt_size(optarg, "--output-cap"); break;
		case OPT_FILE_CAP: cfg.limits.file_cap = opt_size(optarg, "--file-cap"); break;
		case OPT_VM_LOG_CAP: cfg.limits.vm_log_cap = opt_size(optarg, "--vm-log-cap"); break;
		case OPT_TMPFS: cfg.limits.tmpfs = opt_size(optarg, "--tmpfs"); break;
		case OPT_NPROC: cfg.limits.host_nproc = (unsigned)opt_num(optarg, 1 << 20, "--nproc"); break;
		case OPT_UID: cfg.run_uid = opt_uid(optarg); uid_set = 1; break;
		case OPT_GID: cfg.run_gid = opt_gid(optarg); gid_set = 1; break;
		case OPT_UID_SLOT: slot = (int)opt_num(optarg, UID_SLOTS - 1, "--uid-slot"); break;
#ifdef SANDBOX_TEST_HOOKS
		case OPT_EXEC_INSTEAD:
			free(exec_argv[0]);
			exec_argv[0] = realpath(optarg, NULL);
			if (exec_argv[0] == NULL)
				bad_usage("--exec-instead %s: no such file", optarg);
			cfg.exec_instead = exec_argv;
			break;
		case OPT_EXEC_ARG:
			if (exec_argc + 1 >= sizeof(exec_argv) / sizeof(exec_argv[0]))
				bad_usage("too many %s", "--exec-arg");
			exec_argv[exec_argc++] = optarg;
			break;
		case OPT_NO_JAIL: cfg.no_jail = 1; break;
		case OPT_KERNEL_ARG:
			if (nkargs >= 3 || strpbrk(optarg, " \t\n") != NULL)
				bad_usage("--kernel-arg %s: one word, at most 3 of them", optarg);
			cfg.kernel_args[nkargs++] = optarg;
			break;
		case OPT_PREBOOT_IDLE: preboot_idle_ms = (unsigned)opt_num(optarg, 60000, "--preboot-idle"); break;
#endif
		case OPT_WORK_ROOT: cfg.work_root = optarg; break;
		case OPT_KEEP: cfg.keep_work_dir = 1; break;
		case OPT_CPU: cpu_arg = optarg; break;
		case OPT_PREBOOT: preboot = 1; break;
		case OPT_HUGE_PAGES:
			if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0)
				bad_usage("--huge-pages: on or off, not '%s'", optarg);
			cfg.huge_pages = strcmp(optarg, "on") == 0;
			break;
		case OPT_POPULATE_RAM:
			if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0)
				bad_usage("--populate-ram: on or off, not '%s'", optarg);
			cfg.populate_ram = strcmp(optarg, "on") == 0;
			break;
		case OPT_NO_SCOUT: cfg.scout = 0; break;
		case OPT_POLICY: cfg.policy = optarg; break;
		case OPT_LAYER:
			if (nlayers >= SANDBOX_LAYERS_MAX)
				bad_usage("--layer: at most %s layers", "8");
			if (layer_add(&layers, &nlayers, optarg, err, sizeof(err)) < 0)
				bad_usage("--layer: %s", err);
			break;
		case OPT_COMPACT: compact = 1; break;
		case 'v': verbosity++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	task = argv[optind];
	log_init("sandbox-run", verbosity, 2);
	if (resolve_cpu(cpu_arg, &cfg.cpu) < 0)
		return 2;
	if (claim_uids(&cfg, &held, slot, uid_set, gid_set) < 0)
		goto out;

	if (images_dir == NULL)
		images_dir = default_images_dir();
	find_err[0] = '\0';
	if (images_dir == NULL ||
	    sandbox_images_find(&found, images_dir, find_err, sizeof(find_err)) < 0) {
		if (images_dir == NULL)
			memset(&found, 0, sizeof(found));
		if (find_err[0] != '\0' && strstr(find_err, "not a number") != NULL) {
			log_warnx("%s", find_err);
			goto out;
		}
	}
	cfg.images = found;
	if (kernel != NULL)
		cfg.images.kernel = kernel;
	if (initrd != NULL)
		cfg.images.initrd = initrd;
	if (rootfs != NULL)
		cfg.images.rootfs = rootfs;
	if (unpack != NULL)
		cfg.images.unpack = unpack;
	if (lpj_set)
		cfg.images.lpj = lpj;
	cfg.layers = layers;
	cfg.nlayers = nlayers;
	if (cfg.images.kernel == NULL || cfg.images.initrd == NULL || cfg.images.rootfs == NULL ||
	    cfg.images.unpack == NULL) {
		log_warnx("images: %s (build them with `make images build/tmc-unpack` or pass "
		    "--images/--kernel/--initrd/--rootfs/--unpack)", find_err[0] ? find_err : "incomplete");
		goto out;
	}

	/* A private dir for the packed task: the tar itself is created by
	 * task_tar / upload_tar, which refuse to reuse an existing file. */
	snprintf(tmp_dir, sizeof(tmp_dir), "%s/sandbox-run-XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmp_dir) == NULL) {
		log_warn("mkdtemp %s", tmp_dir);
		goto out;
	}
	snprintf(tmp_tar, sizeof(tmp_tar), "%s/runnable.tar", tmp_dir);
	if (prepare_task(&cfg, task, tmp_tar, &use) == 0) {
		struct privsep_helper reader;

		/* The reader of output.tar loads its libraries while the guest
		 * boots and runs, not after. */
		sandbox_unpack_helper(&cfg, &reader);
		if (privsep_output_spare(&reader, cfg.limits.file_cap, err, sizeof(err)) < 0)
			log_warnx("tmc-unpack spare: %s", err);
		if ((preboot ? run_preboot(&cfg, use, &result, err, sizeof(err)) :
		    sandbox_run(&cfg, use, &result, err, sizeof(err))) < 0) {
			log_warnx("sandbox: %s", err);
		} else {
			size_t flags = JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10) |
			    (compact ? JSON_COMPACT : JSON_INDENT(2));

			if (json_dumpf(result, stdout, flags) == 0 && fputc('\n', stdout) != EOF &&
			    fflush(stdout) == 0)
				rc = sandbox_failed(result) ? 3 : 0;
			else
				log_warn("stdout");
		}
	}
	rm_rf(tmp_dir);
out:
	privsep_spares_drop();
	json_decref(result);
	uid_slot_release(&held);
#ifdef SANDBOX_TEST_HOOKS
	free(exec_argv[0]);
#endif
	sandbox_images_free(&found);
	free(images_dir);
	free(unpack_abs);
	layer_list_free(layers, nlayers);
	return rc;
}
