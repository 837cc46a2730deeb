/*
 * sandbox_host.h: the library's internal map (host side). Not for callers
 * of libsandbox: they use sandbox.h.
 */
#ifndef TMC_SANDBOX_HOST_H
#define TMC_SANDBOX_HOST_H

#include <stdint.h>
#include <sys/types.h>

#include "sandbox/sandbox.h"

/* cgroup.c: a fresh pids+memory cgroup per run, when the host lets us. */
struct cgroup_set {
	int version;			/* 0: none usable, 1 or 2 */
	char dirs[2][256];		/* v1: pids, memory; v2: dirs[0] only */
	int procs_fd[2];		/* cgroup.procs to write "0" into, or -1 */
};
int cgroup_create(struct cgroup_set *cg, const char *name, unsigned nproc,
    uint64_t mem_limit, char *err, size_t errlen);
long cgroup_count_procs(const struct cgroup_set *cg);
void cgroup_kill_all(const struct cgroup_set *cg);
int64_t cgroup_memory_peak(const struct cgroup_set *cg);
long cgroup_oom_kills(const struct cgroup_set *cg);
void cgroup_close_fds(struct cgroup_set *cg);
int cgroup_destroy(struct cgroup_set *cg);

/* uml.c: the UML kernel process, from argv to reaping. */
struct uml_launch {
	const char *kernel, *initrd, *rootfs;	/* absolute paths */
	const char *const *jail_images;	/* more read-only images the jail binds
					 * (layers): NULL-terminated, or NULL */
	const char *runnable, *output;		/* in work_dir */
	const struct sandbox_layer *layers;	/* ubdd.. read-only, tmc.layers= */
	size_t nlayers;
	const char *work_dir;			/* cwd and uml_dir= */
	const char *tmp_dir;			/* TMPDIR: guest RAM lives here */
	int tmp_mount;				/* mount a private tmpfs on tmp_dir */
	uint64_t memory, tmpfs, stream_cap, output_cap;
	unsigned long lpj;
	int scout;
	int cpu;		/* host CPU to pin the tree to; SANDBOX_CPU_NONE: not */
	int huge_pages;		/* the RAM tmpfs with huge=always */
	int populate_ram;	/* uml_populate=1 (kernel patch 0006) */
	int preboot;		/* tmc.preboot=1: tmc-init waits for "go" on ttyS1 */
	unsigned nproc_rlimit;	/* RLIMIT_NPROC (per host uid, not per run) */
	unsigned guest_nproc;	/* the task's process cap in the guest (tmc.nproc) */
	int privileged;		/* started as root: the uid drop */
	int namespaces;		/* new pid/mount/net/ipc/uts namespaces */
	uid_t uid;
	gid_t gid;
	const int *cgroup_fds;	/* 2 fds (-1 = none) the child joins */
	int console_fd;		/* write end: UML's stdout, stderr and con0 */
	int ssl_in_fd;		/* read end the guest's ttyS1 reads from */
	int ssl_out_fd;		/* write end the guest's ttyS1 writes to */
#ifdef SANDBOX_TEST_HOOKS
	char *const *exec_instead;	/* argv run in place of the kernel, same jail */
	int no_jail;		/* skip jail_enter and the host filter */
	const char *const *kernel_args;	/* appended to the command line, NULL-ended */
#endif
};
struct uml_proc {
	pid_t pid;		/* host pid; also the process group id */
	int pidfd;
	int namespaces;		/* pid 1 of its own pid namespace */
	int clone_errno;	/* why clone3 failed, 0 when it did not */
};
#define UML_FAULT_AROUND_BYTES (256u * 1024)	/* fault_around_bytes= (uml.c) */
#define UML_ANON_FAULT_AROUND_PAGES 16u		/* anon_fault_around= (uml.c, patch 0004) */
#define UML_FD_CONSOLE	3
#define UML_FD_SSL_IN	4
#define UML_FD_SSL_OUT	5
char **uml_argv(const struct uml_launch *l, char *err, size_t errlen);
void uml_argv_free(char **argv);
int uml_spawn(const struct uml_launch *l, struct uml_proc *p, char *err, size_t errlen);
void uml_kill(const struct uml_proc *p);
int uml_reap(struct uml_proc *p, int *status);
long uml_survivors(const struct uml_proc *p);

/* sandbox.c: one run's stages, for preboot.c (sandbox_run() chains start
 * and finish). */
struct sandbox_job;
struct vmlog;
struct sandbox_job *sandbox_job_start(const struct sandbox_config *cfg, const char *runnable_tar,
    uint64_t disk_cap, char *err, size_t errlen);
int sandbox_job_wait_marker(struct sandbox_job *j, const char *marker, double timeout_s,
    char *err, size_t errlen);
int sandbox_job_alive(struct sandbox_job *j);
int sandbox_job_disk(const struct sandbox_job *j);
double sandbox_job_launched(const struct sandbox_job *j);
struct vmlog *sandbox_job_log(struct sandbox_job *j);
int sandbox_job_go(struct sandbox_job *j, unsigned timeout_s, const void *msg, size_t len,
    char *err, size_t errlen);
int sandbox_job_finish(struct sandbox_job *j, json_t **result, char *err, size_t errlen);
void sandbox_job_free(struct sandbox_job *j);

/* result.c: turns what a run left behind into the result object. */
struct result_input {
	int timed_out;
	unsigned timeout_s;
	const struct output_set *out;	/* NULL when output.tar was unreadable */
	struct vmlog *log;
	double log_now;			/* host time stamped on notes */
	double origin;			/* seconds from launch to the task's start ("go"
					 * of a pre-booted guest; 0 otherwise) */
	double total;			/* seconds from the task's start to reaping */
	double collected;		/* seconds from launch to output.tar read; 0: not measured */
	int64_t memory_peak;		/* bytes, -1 when unknown */
	long host_oom_kills;		/* the host cgroup's OOM killer, -1 unknown */
	int exit_status;		/* UML's wait status */
};
json_t *result_build(const struct result_input *in, char *err, size_t errlen);

/* output_set.c */
#define OUTPUT_NAMES 8		/* the contract's result file names */
int output_name_known(const char *name);

/* privsep.c: the frames tmc-unpack answers with, on fd PRIVSEP_FD_MSG, each
 * a struct privsep_hdr (host byte order) then len bytes. All go child ->
 * caller; a request is answered by zero or more FILE/NOTE frames and one
 * final frame (OK, ERROR or END); anything else ends the conversation. */
enum privsep_msg {
	PRIVSEP_MSG_OK = 1,	/* upload passed; runnable.tar is complete. Empty. */
	PRIVSEP_MSG_ERROR,	/* refused or failed: the reason, text, <= PRIVSEP_TEXT_MAX */
	PRIVSEP_MSG_FILE,	/* a result file: u32 truncated (0/1), u32 name length,
				 * name (a known one, < 64), data (<= 3 x file_cap) */
	PRIVSEP_MSG_NOTE,	/* output_set.note (what was skipped), text */
	PRIVSEP_MSG_END,	/* the output set is complete. Empty. */
};
struct privsep_hdr {
	uint32_t type;		/* enum privsep_msg */
	uint32_t len;		/* payload bytes */
};
#define PRIVSEP_FD_IN	0	/* the input, read-only */
#define PRIVSEP_FD_OUT	1	/* runnable.tar (upload) or /dev/null */
#define PRIVSEP_FD_MSG	3	/* the answer pipe */
#define PRIVSEP_TEXT_MAX 1024
#define PRIVSEP_FRAME_MAX (1U << 30)
#define PRIVSEP_EXIT_SETUP 125	/* exit status: the child could not confine itself */
#define PRIVSEP_EXIT_EXEC 127	/* exit status: the exec failed */
int privsep_send(int fd, uint32_t type, const void *a, size_t alen, const void *b, size_t blen);
int privsep_send_output(int fd, const struct output_set *set);

#endif
