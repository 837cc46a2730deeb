/*
 * sandboxd.h: the map of sandboxd, the HTTP task service. Prototypes are
 * grouped by file; everything not listed here is static. The theory of
 * operation is at the top of main.c.
 */
#ifndef TMC_SANDBOXD_H
#define TMC_SANDBOXD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <jansson.h>

#include "sandbox/sandbox.h"

#define SANDBOXD_VERSION "0.1.0"

enum notify_format {
	NOTIFY_JSON,		/* application/json (default) */
	NOTIFY_FORM,		/* application/x-www-form-urlencoded, legacy clients */
};

struct spool_rerun;

/* Everything an operator can set; flags and the config file share names. */
struct config {
	char *listen;		/* address to bind; loopback by default */
	unsigned port;		/* 0: the OS picks (logged) */
	int listen_fd;		/* an inherited, bound, listening socket; -1: none */
	char *work_dir;		/* incoming/, tasks/, spool/ live below */
	char *images_dir;
	char *kernel, *initrd, *rootfs;	/* override images_dir */
	uint64_t memory;
	unsigned timeout_s;
	uint64_t output_cap;
	uint64_t upload_cap;	/* the `file` part, bytes */
	struct upload_limits upload;
	enum notify_format notify_format;
	double notify_timeout;	/* one delivery attempt, seconds */
	double retry_initial;	/* first backoff, seconds */
	double retry_max;	/* backoff ceiling, seconds */
	double retry_total;	/* give up after this long, seconds */
	char *notify_allow;	/* CIDRs and names; NULL: all but the denied */
	char *notify_deny;	/* added to the built-in denied ranges */
	unsigned notify_workers;	/* concurrent deliveries */
	double request_timeout;	/* a whole request, headers to last body byte */
	char *log_file;		/* NULL: stderr */
	int verbosity;
	char *user;		/* host user (name or uid) UML runs as */
	unsigned uid_slot;	/* UML's and tmc-unpack's uids; UID_SLOTS: from the port */
	char *group;
	int scout;
	char *policy;
	int cpu;		/* host CPU for UML; SANDBOX_CPU_AUTO / _NONE */
	int preboot;		/* boot the next guest while idle */
	int huge_pages;		/* guest RAM on huge pages where allowed */
	int populate_ram;	/* the host faults in guest RAM while a guest idles */
	int spare_unpack;	/* a tmc-unpack waiting for the next request */
	unsigned max_connections;
	double conn_timeout;	/* idle HTTP connection, seconds */
	int keep_work_dir;
	char *config_file;
	/* The spool's bounds (config.c fills them; 0: derived at start). */
	uint64_t spool_max;	/* bytes of pending + dead results */
	uint64_t spool_max_files;	/* pending results */
	uint64_t result_max;	/* one result's JSON, after escaping */
	double dead_max_age;	/* seconds a given-up result is kept */
	uint64_t dead_max;	/* given-up results kept */
	struct sandbox_layer *layers;	/* --layer NAME=FILE, repeatable */
	size_t nlayers;
};

/*
 * A task from intake to result, shared by the HTTP thread (which answers
 * the client) and the runner (which validates and runs it). Reference
 * counted: both sides drop their reference when done with it.
 */
struct task {
	atomic_int refs;
	char id[48];
	char token_hash[17];	/* logs carry this, never the token */
	char *upload_path;	/* the raw `file` part */
	char *tar_path;		/* the normalised runnable.tar */
	char *notify;		/* NULL: nothing is posted */
	char *token;		/* as given (valid UTF-8) */
	unsigned timeout_s;	/* already capped by the instance's */
	uint64_t memory;
	int wait;		/* answer with the result instead of notifying */
	char *layers;		/* the `layers` field as checked, NULL: none */
	int spooled;		/* its runnable.tar and marker are in the spool */
	unsigned attempt;	/* 0 or 1: first run; 2: run again after a crash */
	struct task *next;	/* the runner's list of tasks to run again */
	double t_received;	/* mono_now() when the body was complete */
	/* The answer to the HTTP client, filled by the runner, then answer()
	 * is called exactly once; the HTTP side sends it. */
	int resp_code;
	char *resp_body;
	void (*answer)(struct task *t);
	void *answer_arg;
};

/* config.c */
void config_defaults(struct config *cfg);
int config_parse(struct config *cfg, int argc, char **argv, char *err, size_t errlen);
int config_set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen);
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);
int config_parse_duration(const char *s, double max, double *out);
void config_usage(int fd);
void config_free(struct config *cfg);

/* intake.c: the multipart/form-data parser; hostile bytes. */
struct intake;
struct intake *intake_new(const char *content_type, const char *file_path, uint64_t file_cap,
    char *err, size_t errlen);
int intake_feed(struct intake *in, const char *data, size_t len);
int intake_finish(struct intake *in);
int intake_error_code(const struct intake *in);
const char *intake_error(const struct intake *in);
const char *intake_field(const struct intake *in, const char *name, size_t *len);
int intake_take_file(struct intake *in, uint64_t *size);
void intake_free(struct intake *in);
int intake_boundary(const char *content_type, char *out, size_t outlen);
int intake_utf8_valid(const char *s, size_t len);

/* runner.c: the one task slot and the worker thread. */
#define RUNNER_BUSY (-1)	/* runner_claim(): a task runs, or the daemon drains */
#define RUNNER_SPOOL_FULL (-2)	/* runner_claim(): its result might not fit the spool */
int runner_claim(void);
void runner_release(void);
int runner_busy(void);
int runner_spool_full(void);
int runner_start(const struct config *cfg, const struct sandbox_config *sb,
    const struct spool_rerun *rr, size_t nrr);
void runner_submit(struct task *t);
void runner_drain(void);
void runner_stop(void);
struct task *task_new(void);
void task_ref(struct task *t);
void task_unref(struct task *t);
void task_token_hash(const char *token, size_t len, char out[17]);

/* notify_acl.c: which destinations a notification may go to. */
struct sockaddr;
struct notify_acl;
struct notify_acl *notify_acl_new(const char *allow, const char *deny, char *err, size_t errlen);
void notify_acl_free(struct notify_acl *acl);
int notify_acl_check_list(const char *list, const char *what, char *err, size_t errlen);
int notify_acl_has_allow(const struct notify_acl *acl);
int notify_acl_check(const struct notify_acl *acl, const char *name, const struct sockaddr *sa,
    char *err, size_t errlen);
int notify_acl_check_name(const struct notify_acl *acl, const char *name, char *err, size_t errlen);

/* notify.c: delivery with libcurl, backoff, the pool of delivery threads. */
enum notify_outcome {
	NOTIFY_DELIVERED,	/* 2xx */
	NOTIFY_RETRY,		/* connection error, timeout, 5xx, 408, 429 */
	NOTIFY_PERMANENT,	/* any other answer: retrying cannot help */
};
int notify_url_check(const char *url, char *err, size_t errlen);
int notify_url_resolve_check(const char *url, char *err, size_t errlen);
int notify_policy_set(const char *allow, const char *deny, char *err, size_t errlen);
double notify_backoff(unsigned attempt, double initial, double max, double rand01);
char *notify_encode_form(json_t *payload);
enum notify_outcome notify_post(const char *url, enum notify_format fmt, json_t *payload,
    double timeout, long *http_code, char *err, size_t errlen);
int notify_start(const struct config *cfg);
void notify_enqueue(const char *id);
void notify_stop(void);
void notify_curl_cleanup(void);

/* spool.c: results on disk until a 2xx; running markers and kept tars. */
struct spool_limits {
	uint64_t max_bytes;	/* pending + dead results; 0: no bound */
	uint64_t max_files;	/* pending results; 0: no bound */
	uint64_t reserve;	/* room kept for the running task's result */
	double dead_max_age;	/* seconds since burial; 0: no bound */
	uint64_t dead_max;	/* results in dead/; 0: no bound */
};
struct spool_marker {
	const char *id, *notify, *token;
	unsigned timeout_s;
	uint64_t memory;
	unsigned attempt;	/* 1: the first run; 2: the run after a crash */
	const char *layers;	/* NULL: none */
};
struct spool_rerun {		/* a task cut short by a crash, to run once more */
	char id[48];
	char *notify, *token;
	unsigned timeout_s;
	uint64_t memory;
	unsigned attempt;
	char *layers;		/* NULL: none */
};
struct spool_usage {
	uint64_t pending, pending_bytes, dead, dead_bytes, max_bytes, max_files;
};
int spool_init(const char *work_dir, char *err, size_t errlen);
void spool_set_limits(const struct spool_limits *l);
int spool_mark_running(const struct spool_marker *m, const char *tar, char *err, size_t errlen);
int spool_tar_path(const char *id, char *buf, size_t len);
int spool_put_result(const char *id, const char *notify, json_t *payload, char *err, size_t errlen);
int spool_load(const char *id, char **notify, json_t **payload, char *err, size_t errlen);
int spool_remove(const char *id);
int spool_bury(const char *id);
size_t spool_prune_dead(void);
int spool_full(char *why, size_t whylen);
void spool_usage(struct spool_usage *u);
int spool_fit_result(json_t *payload, size_t cap, char *err, size_t errlen);
int spool_recover(char ***ids, size_t *count, struct spool_rerun **reruns, size_t *nreruns,
    char *err, size_t errlen);
void spool_reruns_free(struct spool_rerun *rr, size_t n);
size_t spool_pending(void);
void spool_fini(void);
json_t *spool_internal_result(const char *token, const char *why);

/* history.c: the recent tasks, the last hour's counts and the notify
 * backlog over time, for the status page (no locks: status.c holds its
 * mutex around every call). */
#define HISTORY_TASKS 120	/* task records kept */
#define HISTORY_MINUTES 60	/* per-minute counts: the last hour */
#define HISTORY_STEP 10		/* seconds per backlog slot */
#define HISTORY_SAMPLES 360	/* backlog slots: the last hour */
#define HISTORY_KINDS 8		/* status/reason pairs counted (history.c) */
#define HISTORY_NONE INT64_MIN	/* a minute or slot never written */
struct history_task {
	char id[48];
	char status[16];
	char reason[16];	/* "" unless failed */
	double run_s, total_s;	/* negative: unknown */
	int64_t memory;		/* guest memory peak, bytes; negative: unknown */
	int64_t finished_at;	/* wall clock, seconds */
};
struct history_minute {
	int64_t minute;		/* wall clock / 60 */
	uint32_t count[HISTORY_KINDS];
};
struct history_sample {
	int64_t slot;		/* wall clock / HISTORY_STEP */
	uint64_t pending;	/* the most waiting for delivery in the slot */
	uint64_t dead;		/* given up, at the slot's last report */
};
struct history {
	struct history_task tasks[HISTORY_TASKS];
	size_t ntasks, next;
	struct history_minute minutes[HISTORY_MINUTES];
	struct history_sample samples[HISTORY_SAMPLES];
	int64_t last_slot, latest;
	uint64_t cur_pending, cur_dead;
};
void history_init(struct history *h);
void history_task_add(struct history *h, const struct history_task *t);
const struct history_task *history_task_nth(const struct history *h, size_t i);
void history_backlog(struct history *h, int64_t now, uint64_t pending, uint64_t dead);
void history_counts(const struct history *h, int64_t now, uint64_t count[HISTORY_KINDS]);
const char *history_kind_status(size_t kind);
const char *history_kind_reason(size_t kind);
json_t *history_json(const struct history *h, int64_t now);

/* status.c: counters for status.json, the status page and /metrics. */
/* preboot.c: the next guest, booted while idle (runner thread only). */
void preboot_init(int on, uint64_t disk_cap);
double preboot_idle_wait(void);
void preboot_idle(const struct sandbox_config *sb);
struct sandbox_guest *preboot_take(const struct sandbox_config *sb, const char *tar, const char *task_id);
void preboot_stop(void);

/* status.c: counters for status.json, the HTML page and /metrics. */
void status_init(void);
void status_task_started(const char *id, double since, unsigned timeout_s);
void status_task_ended(void);
void status_task_done(const char *id, json_t *result, double total_s);
void status_task_rejected(void);
void status_notify_attempt(const char *id, int ok, int gave_up, long http_code, double waited_s);
void status_backlog_changed(void);
void status_request(unsigned code);
char *status_json(int busy);
char *status_history_json(void);
char *status_metrics(int busy);

/* status_page.c: the built-in status page (web/status/). */
int status_page_file(const char *path, char **body, const char **ctype);
/* status_layers.c: the configured layers in status.json, each with its
 * file's size and mtime as they are now. */
void status_layers_set(const struct sandbox_layer *layers, size_t n);
json_t *status_layers_json(void);

/* http.c */
int http_start(const struct config *cfg);
void http_stop(void);

#endif
