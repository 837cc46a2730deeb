/*
 * sandbox.h: the host side of the sandbox, as a library (libsandbox) used by
 * the `sandbox-run` CLI and by `sandboxd`, and the map of its files.
 *
 * Theory of operation (host side; the guest side is in guest/):
 *   sandbox_run() makes a fresh work dir holding runnable.tar and a
 *   zero-filled output.tar of the output cap, then forks the UML kernel as
 *   an unprivileged, confined host process (own pid/mount/net/ipc/uts
 *   namespaces, an empty root with only its own files (jail.c), a uid of
 *   its instance's own (uid_slot.c), rlimits, a cgroup when usable,
 *   no_new_privs, stdin /dev/null, a host seccomp allow-list
 *   (host_filter.c)) in its own process group. It reads the guest console from a
 *   pipe into a timestamped, capped vm log and serves Scout's serial line
 *   (Command Center) while it waits. The wall-clock timeout kills the whole
 *   group and the pid namespace. After the guest is gone, output.tar is
 *   read as hostile data by tmc-unpack, an unprivileged, seccomp-confined
 *   helper process (privsep.c), and turned into the result JSON whose keys
 *   are those of the notification (DESIGN section 4), without `token`.
 *
 * Thread-safety: sandbox_run() keeps no global state and installs no signal
 * handler, so sandboxd calls it from a worker thread.
 */
#ifndef TMC_SANDBOX_H
#define TMC_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

/* The only statuses and reasons a result carries; documented in DESIGN 4
 * and the README. "failed" always comes with a reason. */
enum sandbox_status {
	SANDBOX_FINISHED,	/* tmc-run exited 0 */
	SANDBOX_FAILED,		/* see reason */
	SANDBOX_TIMEOUT,	/* wall clock ran out; no exit_code */
};

enum sandbox_reason {
	REASON_NONE,		/* with finished and timeout */
	REASON_EXIT,		/* tmc-run exited non-zero (or by a signal) */
	REASON_OOM,		/* the guest's OOM killer killed the task */
	REASON_OUTPUT_LIMIT,	/* results did not fit the output cap */
	REASON_CRASH,		/* the guest kernel or tmc-init died without a result */
	REASON_INTERNAL,	/* the sandbox itself failed (host side) */
};

struct sandbox_images {
	const char *kernel;	/* linux.uml */
	const char *initrd;	/* initrd.img */
	const char *rootfs;	/* rootfs.squashfs */
	const char *unpack;	/* tmc-unpack, the confined parser of hostile archives */
	unsigned long lpj;	/* loops_per_jiffy for lpj=; 0 = let the guest calibrate */
};

struct sandbox_limits {
	uint64_t memory;	/* guest mem=, bytes */
	unsigned timeout_s;	/* wall clock, from launch to the guest's power-off */
	uint64_t output_cap;	/* size of output.tar, bytes */
	uint64_t file_cap;	/* each result file as read back, bytes */
	uint64_t vm_log_cap;	/* console transcript, bytes */
	uint64_t tmpfs;		/* guest ramdisk (overlay upper), bytes; 0 = mem/2 */
	unsigned host_nproc;	/* RLIMIT_NPROC / pids.max for the UML process tree */
};

/* A read-only dependency image (squashfs) attached to the guest as an
 * extra ubd device and mounted at /opt/layers/NAME (layer.c). */
#define SANDBOX_LAYERS_MAX 8			/* per task: ubda..c + 8 < UML's 16 */
#define SANDBOX_LAYERS_CONFIGURED_MAX 256	/* per instance */
#define SANDBOX_LAYER_NAME_MAX 32
struct sandbox_layer {
	char *name;		/* layer_name_check() */
	char *path;		/* absolute, symlinks resolved */
	uint64_t size;		/* bytes, when last checked */
	int64_t mtime;		/* seconds since the epoch, when last checked */
};

/* The host end of the guest's serial line ssl1 (Scout's channel): the
 * Command Center plugs in here. Without one (cfg->channel NULL) the line
 * is kept open and whatever the guest writes is read and dropped, so the
 * guest's requests go unanswered and fail closed. */
struct sandbox_channel {
	/* Called from sandbox_run()'s poll loop when from_guest is readable or
	 * hung up. Both fds are non-blocking; every byte is hostile. Returns 0
	 * to go on, -1 to stop serving (the line is then drained and ignored). */
	int (*on_readable)(void *ctx, int from_guest, int to_guest);
	/* Optional: non-zero while answers wait for to_guest to be writable;
	 * the loop then polls it for POLLOUT and calls on_writable (same
	 * return convention as on_readable). */
	int (*want_write)(void *ctx);
	int (*on_writable)(void *ctx, int to_guest);
	/* Called once after the guest is gone, to add keys such as `files`
	 * and `denied` to the result; may be NULL. */
	int (*on_result)(void *ctx, json_t *result);
	void *ctx;
};

struct sandbox_config {
	struct sandbox_images images;
	struct sandbox_limits limits;
	const char *work_root;	/* per-task work dirs are made below this */
	uid_t run_uid;		/* host user UML runs as when started as root */
	gid_t run_gid;
	uid_t unpack_uid;	/* host user tmc-unpack runs as when root (not run_uid) */
	gid_t unpack_gid;
	const char *policy;	/* Scout policy file; NULL = built-in default */
	int scout;		/* 1: run tmc-run under the Carrier/Scout */
	int keep_work_dir;	/* for debugging: leave the work dir behind */
	const struct sandbox_channel *channel;	/* NULL: ssl1 drained and ignored */
#ifdef SANDBOX_TEST_HOOKS
	char *const *exec_instead;	/* tests: argv run in place of linux.uml, same jail */
	int no_jail;		/* bench: no jail, no host filter (their cost) */
	const char *kernel_args[4];	/* bench: more kernel command-line words, NULL-ended */
#endif
	int cpu;		/* host CPU the UML tree is pinned to; SANDBOX_CPU_NONE: not */
	int huge_pages;		/* 1: guest RAM on huge pages where the host allows */
	int populate_ram;	/* 1: the host faults in guest RAM while the guest idles */
	const struct sandbox_layer *layers;	/* attached in this order; checked again */
	size_t nlayers;				/* at most SANDBOX_LAYERS_MAX */
};

#define SANDBOX_CPU_NONE (-1)	/* not pinned */
#define SANDBOX_CPU_AUTO (-2)	/* for the CLIs' parsers: their default choice */

/* uid_slot.c: a pair of host uids per process that runs tasks, held by a
 * lock for its life (range and reasons at the top of uid_slot.c). */
#define UID_SLOT_BASE 60600
#define UID_SLOTS 256
#define UID_SLOT_LOCK_DIR "/run/tmc-sandbox"
struct uid_slot {
	int fd;			/* the held lock, -1 when none */
	unsigned slot;
	uid_t uml_uid;		/* UID_SLOT_BASE + 2 * slot; gid the same */
	uid_t unpack_uid;	/* uml_uid + 1 */
};
int uid_slot_claim(const char *lock_dir, unsigned start, int exact, struct uid_slot *s,
    char *err, size_t errlen);
void uid_slot_release(struct uid_slot *s);

struct privsep_helper;

/* sandbox.c */
void sandbox_config_defaults(struct sandbox_config *cfg);
/* Fills img with absolute, allocated paths of DIR/linux.uml, initrd.img,
 * rootfs.squashfs, tmc-unpack (that one also next to the running program)
 * (those that exist) and lpj from DIR/lpj (0 when absent); -1 with err
 * naming what is missing. Free with sandbox_images_free(). */
int sandbox_images_find(struct sandbox_images *img, const char *dir, char *err, size_t errlen);
void sandbox_images_free(struct sandbox_images *img);
/* The tmc-unpack of cfg, running as cfg's unprivileged uid (privsep.c). */
void sandbox_unpack_helper(const struct sandbox_config *cfg, struct privsep_helper *h);
/* Runs one task. runnable_tar is a clean ustar holding an executable tmc-run
 * (see upload_tar.c / task_tar.c). On success returns 0 and *result holds
 * the result object (also for failed/timeout tasks: those are results, not
 * errors). Returns -1 with err filled only when no result could be made at
 * all; callers then report status failed, reason internal. */
int sandbox_run(const struct sandbox_config *cfg, const char *runnable_tar,
    json_t **result, char *err, size_t errlen);
const char *sandbox_status_name(enum sandbox_status s);
const char *sandbox_reason_name(enum sandbox_reason r);

/* cpu_affinity.c: the CPU the UML tree is pinned to (see the file). */
int cpu_affinity_parse(const char *s, int *cpu, char *err, size_t errlen);
int cpu_affinity_check(int cpu, char *err, size_t errlen);
int cpu_affinity_pick(unsigned k, int *cpu, char *err, size_t errlen);
int cpu_affinity_current(int *cpu, char *err, size_t errlen);

/* result_truncated.c: adds name (a JSON string, taken over) to result's
 * "truncated" list, made when missing, unless it is there already. 1 when
 * added, 0 when it was there, -1 when out of memory or name is not a
 * string. */
int result_mark_truncated(json_t *result, json_t *name);

/* huge_pages.c: transparent huge pages for the guest RAM tmpfs (see the
 * file). */
int huge_pages_allowed_by(const char *shmem_enabled);
int huge_pages_usable(void);

/* preboot.c: a guest booted ahead of its task, up to where tmc-init waits
 * for "go" (theory of operation at the top of preboot.c). */
struct sandbox_guest;
/* Boots a guest with cfg (copied; its limits.memory, tmpfs, caps, scout,
 * cpu and images are fixed from now on) and an empty task disk of
 * disk_cap bytes; returns once tmc-init waits, or NULL with err. */
struct sandbox_guest *sandbox_guest_boot(const struct sandbox_config *cfg, uint64_t disk_cap,
    char *err, size_t errlen);
/* 0 while the guest waits; -1 with why when it died (it is then useless). */
int sandbox_guest_check(struct sandbox_guest *g, char *why, size_t whylen);
/* Whether a task under cfg can run in g: same memory (mem= is fixed at
 * boot), and its tar fits the disk (checked again by sandbox_guest_run). */
int sandbox_guest_fits(const struct sandbox_guest *g, const struct sandbox_config *cfg,
    const char *runnable_tar);
double sandbox_guest_age(const struct sandbox_guest *g);
/* Runs the task in g, as sandbox_run() would in a fresh guest: the
 * timeout counts from this call. Always consumes g. */
int sandbox_guest_run(struct sandbox_guest *g, const struct sandbox_config *cfg,
    const char *runnable_tar, json_t **result, char *err, size_t errlen);
/* Kills and removes an unused guest; NULL is fine. */
void sandbox_guest_free(struct sandbox_guest *g);
/* layer.c: --layer NAME=FILE and a task's `layers` field. */
int layer_name_check(const char *name, size_t len, char *err, size_t errlen);
int layer_check(struct sandbox_layer *l, char *err, size_t errlen);
int layer_parse(const char *spec, struct sandbox_layer *out, char *err, size_t errlen);
int layer_add(struct sandbox_layer **list, size_t *n, const char *spec, char *err, size_t errlen);
int layer_select(const struct sandbox_layer *all, size_t nall, const char *names,
    struct sandbox_layer out[SANDBOX_LAYERS_MAX], size_t *nout, char *err, size_t errlen);
void layer_free(struct sandbox_layer *l);
void layer_list_free(struct sandbox_layer *list, size_t n);

/* task_tar.c: packs a trusted local directory (an exercise) as runnable.tar. */
int task_tar_from_dir(const char *dir, const char *out_tar, char *err, size_t errlen);

/* upload_tar.c: validates an untrusted upload and rewrites it as a clean
 * ustar runnable.tar (rules in DESIGN 3.1), in this process: for tests and
 * unprivileged callers; privileged ones use privsep_upload(). */
struct upload_limits {
	uint64_t max_entries;
	uint64_t max_unpacked;	/* sum of entry sizes, bytes */
	uint64_t max_entry;	/* one entry, bytes */
};
int upload_tar_normalize(const char *in_path, const char *out_tar,
    const struct upload_limits *lim, char *err, size_t errlen);
int upload_tar_normalize_fd(int in_fd, int out_fd, const struct upload_limits *lim,
    char *err, size_t errlen);

/* output_tar.c: reads the guest's output.tar as hostile data, in this
 * process (tests, tmc-unpack); sandbox_run() uses privsep_output(). */
struct output_file {
	char name[64];
	char *data;		/* NUL-terminated, at most cap bytes, invalid UTF-8 replaced */
	size_t len;
	int truncated;		/* the entry was larger than the cap */
};
struct output_set {
	struct output_file files[16];
	size_t count;
	int malformed;		/* garbage, links, unknown names, ... were skipped */
	char note[256];		/* what was skipped, for the vm log / result */
};
int output_tar_read(const char *path, uint64_t file_cap, struct output_set *out,
    char *err, size_t errlen);
int output_tar_read_fd(int fd, uint64_t file_cap, struct output_set *out,
    char *err, size_t errlen);

/* output_set.c: the set once read, and meta.txt (no archive code). */
const struct output_file *output_set_get(const struct output_set *set, const char *name);
void output_set_free(struct output_set *set);
/* meta.txt of contract version 1, parsed strictly. */
struct output_meta {
	int version;		/* 1 */
	int has_exit_code;
	unsigned exit_code;	/* 0..255 */
	int has_signal;
	unsigned signal;	/* 1..64 */
	int oom;
	int output_full;
	int has_run_ms;
	uint64_t run_ms;
	char error[256];	/* tmc-init's own failure, "" when none */
	char truncated[8][32];	/* files the guest cut at their cap */
	size_t ntruncated;
};
int output_tar_parse_meta(const char *text, size_t len, struct output_meta *meta,
    char *err, size_t errlen);

/* privsep.c: what a privileged program calls instead of
 * upload_tar_normalize() and output_tar_read(): the parsing happens in
 * tmc-unpack, a fresh process running as the unprivileged uid, under
 * rlimits and a seccomp filter, answering over a pipe in bounded frames
 * (theory of operation at the top of privsep.c). Same results as the
 * in-process parsers for any input the parser survives; when it dies,
 * hangs or answers garbage, -1 with an error. */
struct privsep_helper {
	const char *path;	/* tmc-unpack, exec'd */
	/* Tests only: run this in the forked child instead of the exec (same
	 * fds, rlimits and uid; argv as tmc-unpack's; exit status = return). */
	int (*fn)(int argc, char **argv);
	uid_t uid;		/* whom it runs as when the caller is root (never 0) */
	gid_t gid;
	unsigned timeout_s;	/* killed after it; 0 = the request's default */
};
/* What a file the guest could reach (output.tar) must be when the host
 * reads it back: besides a regular file with one link (no FIFO, device,
 * symlink or hard link of another run's file), always checked. */
struct privsep_expect {
	uint64_t size;		/* exactly this many bytes */
	uid_t uid;		/* owned by this uid */
};
void upload_limits_defaults(struct upload_limits *lim);
/* The largest runnable.tar an upload under lim can become. */
uint64_t upload_stream_cap(const struct upload_limits *lim);
int privsep_upload(const struct privsep_helper *h, const char *in_path, const char *out_tar,
    const struct upload_limits *lim, char *err, size_t errlen);
int privsep_output(const struct privsep_helper *h, const char *path, uint64_t file_cap,
    const struct privsep_expect *expect, struct output_set *out, char *err, size_t errlen);
/* A spare tmc-unpack for the next privsep_upload/privsep_output with these
 * caps: started now, confined, waiting for its input; the request then
 * skips the exec and the loading. No-op when one is kept, or for h->fn. */
int privsep_upload_spare(const struct privsep_helper *h, const struct upload_limits *lim,
    char *err, size_t errlen);
int privsep_output_spare(const struct privsep_helper *h, uint64_t file_cap, char *err,
    size_t errlen);
/* Ends every spare (at exit; a spare also dies with the thread that made it). */
void privsep_spares_drop(void);
/* Tests: how many spares are kept, their pids in pids[0..max). */
int privsep_spares(pid_t *pids, int max);

/* vmlog.c: the timestamped, capped console transcript. */
struct vmlog;
struct vmlog *vmlog_new(uint64_t cap, double t0);
void vmlog_feed(struct vmlog *log, const char *buf, size_t len, double now);
void vmlog_note(struct vmlog *log, const char *text, double now);
double vmlog_marker_time(const struct vmlog *log, const char *marker);
int vmlog_marker_arg(const struct vmlog *log, const char *marker, char *out, size_t outlen);
int vmlog_truncated(const struct vmlog *log);
const char *vmlog_text(struct vmlog *log);
void vmlog_free(struct vmlog *log);

/* crash_cause.c: one printable line naming why the guest died, from the
 * vm log text of a crash/internal result. Returns out. */
const char *crash_cause(const char *vm_log, char *out, size_t outlen);

/* utf8.c */
char *utf8_sanitize(const char *in, size_t len, size_t *out_len);
int utf8_valid(const char *s, size_t len);
size_t utf8_copy(char *out, size_t outlen, const char *in, size_t len);

#endif
