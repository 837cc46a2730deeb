/*
 * scout.h: the map of Scout, the seccomp confinement of tmc-run (DESIGN 5,
 * sandbox/SCOUT.md), on both sides of the guest boundary.
 *
 *   host + guest   policy.c          the policy file: parse strictly, decide
 *   host + guest   channel.c         frames of the guest<->host protocol
 *   host (+ plain) command_center.c  decides by policy, keeps the audit,
 *                                    serves the channel (every byte hostile)
 *   guest (+ plain) guest/carrier_main.c    `carrier` CLI
 *                   guest/flight_deck.c     fork, drop, confine, exec, reap
 *                   guest/scout_filter.c    the seccomp filter and its tables
 *                   guest/scout_supervisor.c answers trapped syscalls
 *
 * policy.c, channel.c and command_center.c are library-like: they never log;
 * they return -1 or NULL and fill the caller's err buffer.
 */
#ifndef TMC_SCOUT_H
#define TMC_SCOUT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What a trapped syscall wants to do with a path. One value per request. */
enum policy_access {
	POLICY_READ = 1,	/* open for reading, O_PATH */
	POLICY_WRITE = 2,	/* open for writing/truncation, unlink, rename, chmod, ... */
	POLICY_CREATE = 3,	/* a new name: O_CREAT of a missing file, mkdir, symlink, link */
	POLICY_EXEC = 4,	/* execve, execveat */
};
#define POLICY_ACCESS_MAX 4

enum policy_verdict {
	POLICY_DENY = 0,
	POLICY_ALLOW = 1,
};

/* policy.c */
struct policy;
/* Parses the policy text (format in sandbox/SCOUT.md). task_dir replaces
 * $TASK; it must be an absolute, normalised path (NULL: $TASK is an error). */
struct policy *policy_parse(const char *text, size_t len, const char *task_dir,
    char *err, size_t errlen);
struct policy *policy_load(const char *file, const char *task_dir, char *err, size_t errlen);
/* The built-in default, identical to sandbox/policy.default. */
struct policy *policy_default(const char *task_dir, char *err, size_t errlen);
const char *policy_default_text(void);
/* path must be absolute and canonical (no symlinks, no . or .., no //). */
enum policy_verdict policy_check(const struct policy *p, const char *path, enum policy_access a);
/* The same decision and its scope: *scope > 0 says that every path equal to
 * path[0..*scope) or below it (a directory of path, or path itself) gets the
 * same verdict for a; 0 that the verdict is for path alone. */
enum policy_verdict policy_check_scope(const struct policy *p, const char *path,
    enum policy_access a, size_t *scope);
size_t policy_rule_count(const struct policy *p);
const char *policy_access_name(enum policy_access a);
void policy_free(struct policy *p);

/* channel.c: the frame format. A frame is a 8-byte header
 *   'S' 'C' version type  len(u32 little-endian)
 * and len payload bytes, len <= CHANNEL_MAX_PAYLOAD. */
#define CHANNEL_VERSION 2	/* 2: VERDICT carries a scope */
#define CHANNEL_HEADER 8
#define CHANNEL_MAX_TEXT 4095		/* a path (PATH_MAX - 1) or a syscall name */
#define CHANNEL_MAX_NAME 32		/* syscall names */
#define CHANNEL_MAX_PAYLOAD (8 + CHANNEL_MAX_TEXT)
#define CHANNEL_MAX_FRAME (CHANNEL_HEADER + CHANNEL_MAX_PAYLOAD)

enum channel_type {
	CHANNEL_HELLO = 1,	/* guest -> host: first frame; empty payload */
	CHANNEL_HELLO_ACK = 2,	/* host -> guest: answer to HELLO; empty payload */
	CHANNEL_ASK = 3,	/* guest -> host: u32 id, u8 access, path */
	CHANNEL_VERDICT = 4,	/* host -> guest: u32 id, u8 verdict, u16 scope (answer to
				 * ASK id): when scope > 0 the verdict holds for this
				 * access to every path at or below path[0..scope) */
	CHANNEL_COUNT = 5,	/* guest -> host: u32 n, u8 access, u8 verdict, path:
				 * n more requests answered from the guest's cache */
	CHANNEL_DENIED = 6,	/* guest -> host: u32 n, syscall name: n refused calls */
	CHANNEL_BYE = 7,	/* guest -> host: clean end; empty payload */
};

struct channel_msg {
	enum channel_type type;
	uint32_t id;		/* ASK, VERDICT */
	uint32_t count;		/* COUNT, DENIED */
	uint8_t access;		/* ASK, COUNT: enum policy_access */
	uint8_t verdict;	/* VERDICT, COUNT: enum policy_verdict */
	uint16_t scope;		/* VERDICT: 0, or a directory prefix length of the ASK's path */
	char text[CHANNEL_MAX_TEXT + 1];	/* ASK, COUNT: path; DENIED: name; NUL-terminated */
};

/* Returns the frame length written into buf, or -1 (err filled). */
ssize_t channel_encode(const struct channel_msg *m, uint8_t *buf, size_t cap,
    char *err, size_t errlen);
/* Decodes the frame at the start of buf: 1 with *used set, 0 when more bytes
 * are needed, -1 for a malformed frame (the conversation must end). */
int channel_decode(const uint8_t *buf, size_t len, struct channel_msg *m, size_t *used,
    char *err, size_t errlen);
const char *channel_type_name(enum channel_type t);

/* command_center.c: the host end. */
struct command_center;
struct command_center *cc_new(const struct policy *p, char *err, size_t errlen);
/* In-process use (carrier --policy): decide and record one request. */
enum policy_verdict cc_decide(struct command_center *cc, const char *path, enum policy_access a);
void cc_record(struct command_center *cc, const char *path, enum policy_access a,
    enum policy_verdict v, uint32_t n);
void cc_record_denied(struct command_center *cc, const char *syscall, uint32_t n);
/* Channel use (sandbox_run's poll loop). in_fd readable: reads once, answers
 * whole frames into the output queue and tries to flush it to out_fd (make
 * out_fd O_NONBLOCK). Returns 0 to go on, -1 when the conversation is over
 * (clean BYE, EOF or a hostile frame: see cc_error). */
int cc_on_readable(struct command_center *cc, int in_fd, int out_fd);
/* Non-zero while answers wait for out_fd to become writable (poll POLLOUT). */
int cc_want_write(const struct command_center *cc);
int cc_on_writable(struct command_center *cc, int out_fd);
/* The byte-level core of cc_on_readable, for tests and the fuzzer. */
int cc_feed(struct command_center *cc, const uint8_t *buf, size_t len);
/* Takes up to cap queued answer bytes (tests, fuzzer). */
size_t cc_take_output(struct command_center *cc, uint8_t *buf, size_t cap);
/* NULL after a clean BYE or while the conversation goes on; else why it ended. */
const char *cc_error(const struct command_center *cc);
int cc_finished(const struct command_center *cc);
#ifdef JANSSON_H
json_t *cc_files_json(const struct command_center *cc);
json_t *cc_denied_json(const struct command_center *cc);
#endif
int cc_write_audit(const struct command_center *cc, const char *file, char *err, size_t errlen);
void cc_free(struct command_center *cc);

/* guest/scout_filter.c */
struct scout_denied {
	int nr;			/* x86_64 syscall number */
	const char *name;
	int err;		/* errno the task gets */
};
struct sock_fprog;
/* Builds (does not load) the filter as a BPF program (prog->filter is
 * allocated; scout_filter_free releases it). The program kills a foreign
 * arch; the loader sets no_new_privs and asks for the listener fd
 * (SECCOMP_FILTER_FLAG_NEW_LISTENER). Returns 0, or -1 with err filled. */
int scout_filter_build(struct sock_fprog *prog, char *err, size_t errlen);
void scout_filter_free(struct sock_fprog *prog);
/* guest/flight_deck.c: the program scout-filter-gen built at build time
 * (scout_filter_data.S), not to be freed. 0, or -1 with err. */
int scout_filter_prebuilt(struct sock_fprog *prog, char *err, size_t errlen);
const struct scout_denied *scout_denied_lookup(int nr);
const char *scout_syscall_name(int nr);

/* guest/scout_supervisor.c */
struct scout_supervisor;
struct scout_supervisor *scout_supervisor_new(struct command_center *cc, int chan_fd,
    char *err, size_t errlen);
/* Says HELLO on the channel (nothing without one); its HELLO_ACK is read
 * at the first question. Once, before the task runs: not before a held
 * task is released, since the line may still carry the host's "go". */
void scout_supervisor_hello(struct scout_supervisor *sup);
/* The task's uid (the Carrier already holds the task's groups and gid):
 * turns on the name cache (scout_supervisor.c) unless uid is 0, and, with
 * as_task, has every file operation for the task run with the task's uid
 * as effective uid (no capability effective), but for a plain read of a
 * system file the task's mode bits allow (may_read_as_carrier). -1 when
 * that switch does not hold on this kernel (the run must not go on). */
int scout_supervisor_set_task(struct scout_supervisor *sup, uid_t uid, int as_task);
/* Fills the name cache with the names nearly every task's start looks up
 * (tid: the task, still before its exec). For the time a held task waits:
 * the names are on the read-only root, so what is learnt now holds then. */
void scout_supervisor_warm(struct scout_supervisor *sup, pid_t tid);
/* Waits for one notification on the listener fd and answers it; -1 only
 * when the fd is dead. waiting (or NULL): the caller sets it before the
 * call and a signal handler may siglongjmp out of the wait while it is
 * set; this clears it as soon as the wait is over. A notification
 * received just before such a jump is answered by
 * scout_supervisor_handle_received (flight_deck.c says why). */
int scout_supervisor_handle(struct scout_supervisor *sup, int notify_fd,
    volatile sig_atomic_t *waiting);
/* Answers the notification a cut-short wait received, if any. */
int scout_supervisor_handle_received(struct scout_supervisor *sup, int notify_fd);
/* Flushes counts and says goodbye on the channel. */
void scout_supervisor_finish(struct scout_supervisor *sup);
int scout_supervisor_broken(const struct scout_supervisor *sup);
void scout_supervisor_free(struct scout_supervisor *sup);

/* guest/flight_deck.c */
struct flight_deck_opts {
	uid_t uid;
	gid_t gid;
	int drop;			/* 1: setgroups/setgid/setuid to uid/gid */
	struct {
		int set;
		uint64_t value;
	} nproc, fsize, nofile, as, cpu;
	unsigned timeout_s;		/* 0: none */
	int hold_fd;			/* >= 0: the exec waits for a byte here; EOF cancels */
	char *const *argv;
};
/* Runs argv confined; returns its exit status (128+signal), or 125 when
 * the Carrier itself failed before the task could run. */
int flight_deck_run(const struct flight_deck_opts *o, struct scout_supervisor *sup);

#endif
