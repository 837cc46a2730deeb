/*
 * status.c: what the instance tells about itself: GET /status.json (the
 * TMC fields busy_instances/total_instances/loadavg plus our own: the
 * current task, the last result, the last error, the spool), GET
 * /history.json (history.c: recent tasks, the last hour, the notify
 * backlog), GET /metrics (Prometheus text) and the status page's files
 * (web/status/, built in by status_page.S).
 *
 * Owns: the counters and the history, under one mutex, updated by the
 * runner, the notifier and the HTTP thread. Never: shows a token or
 * anything a client sent; every string it serves is one of ours (ids,
 * statuses, reasons, codes), and the page writes them as text, not HTML.
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

/* Task phases and durations: boot ~0.1 s, a compile ~1 s, a JVM ~10 s,
 * the timeout 200 s; a delivery may be retried for an hour. */
static const double buckets[] = { 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
static const double phase_buckets[] = { 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
	900, 3600 };
#define NPHASE_BUCKETS (sizeof(phase_buckets) / sizeof(phase_buckets[0]))
static const double mem_buckets[] = { 16777216, 33554432, 67108864, 134217728, 268435456, 536870912,
	1073741824, 2147483648.0, 4294967296.0 };
#define NMEM_BUCKETS (sizeof(mem_buckets) / sizeof(mem_buckets[0]))
static const char *const statuses[] = { "finished", "failed", "timeout" };
/* The reasons of sandbox.h; a failed result always names one of them. */
static const char *const reasons[] = { "exit", "oom", "output_limit", "crash", "internal" };
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))
enum phase { PHASE_BOOT, PHASE_RUN, PHASE_COLLECT, PHASE_NOTIFY, NPHASES };
static const char *const phase_names[NPHASES] = { "boot", "run", "collect", "notify" };

/* A cumulative Prometheus histogram over given bucket bounds. */
struct histogram {
	uint64_t le[16];	/* le[i]: observations <= bound i */
	uint64_t count;
	double sum;
};

static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;
static double started_mono;
static uint64_t by_status[3], by_reason[NREASONS], rejected, tasks_run;
static struct histogram duration, phases[NPHASES], memory_peak;
static uint64_t notify_attempts, notify_failures, notify_delivered, notify_given_up;
static uint64_t requests_by_class[6];
static struct history hist;
/* The task the runner holds now (id "" when none). */
static struct {
	char id[48];
	double since;		/* mono_now() when its upload was complete */
	unsigned timeout_s;
} current;
/* The last thing that went wrong on the instance side: a sandbox or guest
 * failure, a delivery that failed. Only our own text: ids, codes, reasons. */
static struct {
	char text[200];
	time_t at;
} last_error;

static void observe(struct histogram *h, const double *bounds, size_t n, double v)
{
	for (size_t i = 0; i < n; i++)
		if (v <= bounds[i])
			h->le[i]++;
	h->count++;
	h->sum += v;
}

void status_init(void)
{
	started_mono = mono_now();
	pthread_mutex_lock(&status_lock);
	history_init(&hist);
	pthread_mutex_unlock(&status_lock);
	status_backlog_changed();
}

/* Under status_lock. */
static void error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void error_set(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error.text, sizeof(last_error.text), fmt, ap);
	va_end(ap);
	last_error.at = time(NULL);
}

void status_task_started(const char *id, double since, unsigned timeout_s)
{
	pthread_mutex_lock(&status_lock);
	snprintf(current.id, sizeof(current.id), "%s", id);
	current.since = since;
	current.timeout_s = timeout_s;
	pthread_mutex_unlock(&status_lock);
}

void status_task_ended(void)
{
	pthread_mutex_lock(&status_lock);
	current.id[0] = '\0';
	pthread_mutex_unlock(&status_lock);
}

/* A number of the result, or -1 when it is missing or null. */
static double result_number(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : -1;
}

void status_task_done(const char *id, json_t *result, double total_s)
{
	const char *status = json_string_value(json_object_get(result, "status"));
	const char *reason = json_string_value(json_object_get(result, "reason"));
	json_t *time_o = json_object_get(result, "time");
	double ph[3] = { result_number(time_o, "boot"), result_number(time_o, "run"),
		result_number(time_o, "collect") };
	double mem = result_number(result, "memory");
	struct history_task r = { .run_s = ph[PHASE_RUN], .total_s = total_s, .memory = mem >= 0 ? (int64_t)mem : -1,
		.finished_at = time(NULL) };

	if (status == NULL)
		status = "failed";
	pthread_mutex_lock(&status_lock);
	tasks_run++;
	for (size_t i = 0; i < 3; i++)
		if (strcmp(status, statuses[i]) == 0)
			by_status[i]++;
	if (strcmp(status, "failed") == 0)
		for (size_t i = 0; reason != NULL && i < NREASONS; i++)
			if (strcmp(reason, reasons[i]) == 0)
				by_reason[i]++;
	observe(&duration, buckets, NBUCKETS, total_s);
	for (int p = PHASE_BOOT; p <= PHASE_COLLECT; p++)
		if (ph[p] >= 0)
			observe(&phases[p], phase_buckets, NPHASE_BUCKETS, ph[p]);
	if (mem >= 0)
		observe(&memory_peak, mem_buckets, NMEM_BUCKETS, mem);
	/* A guest that died or a sandbox that failed is the instance's
	 * problem; a task's own failure (exit, oom, output_limit) is not. */
	if (reason != NULL && (strcmp(reason, "crash") == 0 || strcmp(reason, "internal") == 0))
		error_set("task %s failed (%s)", id, reason);
	snprintf(r.id, sizeof(r.id), "%s", id);
	snprintf(r.status, sizeof(r.status), "%s", status);
	snprintf(r.reason, sizeof(r.reason), "%s", reason ? reason : "");
	history_task_add(&hist, &r);
	pthread_mutex_unlock(&status_lock);
}

void status_task_rejected(void)
{
	pthread_mutex_lock(&status_lock);
	rejected++;
	pthread_mutex_unlock(&status_lock);
}

void status_backlog_changed(void)
{
	struct spool_usage u;

	spool_usage(&u);
	pthread_mutex_lock(&status_lock);
	history_backlog(&hist, time(NULL), u.pending, u.dead);
	pthread_mutex_unlock(&status_lock);
}

/* http_code: the receiver's answer; 0 without one, -1 when the spooled
 * result could not even be loaded. waited_s: since it was spooled. */
void status_notify_attempt(const char *id, int ok, int gave_up, long http_code, double waited_s)
{
	pthread_mutex_lock(&status_lock);
	notify_attempts++;
	if (ok) {
		notify_delivered++;
		observe(&phases[PHASE_NOTIFY], phase_buckets, NPHASE_BUCKETS, waited_s);
	} else {
		char what[48];

		notify_failures++;
		/* The answer's code only: the error text names the client's host. */
		if (http_code > 0)
			snprintf(what, sizeof(what), "HTTP %ld", http_code);
		else if (http_code < 0)
			snprintf(what, sizeof(what), "its spooled result is unreadable");
		else
			snprintf(what, sizeof(what), "no answer or not sent");
		error_set("delivery of task %s failed: %s; %s", id, what,
		    gave_up ? "given up, moved to spool/dead" : "will retry");
	}
	if (gave_up)
		notify_given_up++;
	pthread_mutex_unlock(&status_lock);
	status_backlog_changed();
}

void status_request(unsigned code)
{
	pthread_mutex_lock(&status_lock);
	if (code >= 100 && code < 600)
		requests_by_class[code / 100]++;
	pthread_mutex_unlock(&status_lock);
}

char *status_history_json(void)
{
	json_t *o;
	char *text;

	status_backlog_changed();
	pthread_mutex_lock(&status_lock);
	o = history_json(&hist, time(NULL));
	pthread_mutex_unlock(&status_lock);
	if (o == NULL)
		return NULL;
	text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
	json_decref(o);
	return text;
}

char *status_json(int busy)
{
	double load[3] = { 0, 0, 0 };
	json_t *o, *last = NULL, *cur = NULL, *error = NULL;
	const struct history_task *r;
	char *text;

	if (getloadavg(load, 3) < 0)
		load[0] = load[1] = load[2] = 0;
	pthread_mutex_lock(&status_lock);
	if ((r = history_task_nth(&hist, 0)) != NULL) {
		last = json_pack("{s:s, s:s, s:s?, s:f, s:f, s:I}", "id", r->id, "status", r->status,
		    "reason", r->reason[0] ? r->reason : NULL, "run", r->run_s >= 0 ? r->run_s : 0,
		    "total", r->total_s, "finished_at", (json_int_t)r->finished_at);
		if (last != NULL && r->memory >= 0)
			json_object_set_new(last, "memory", json_integer((json_int_t)r->memory));
	}
	if (current.id[0] != '\0')
		cur = json_pack("{s:s, s:f, s:i}", "id", current.id, "age", mono_now() - current.since,
		    "timeout", (int)current.timeout_s);
	if (last_error.at != 0)
		error = json_pack("{s:s, s:I}", "text", last_error.text, "at", (json_int_t)last_error.at);
	o = json_pack("{s:i, s:i, s:[f,f,f], s:s, s:f, s:I, s:I, s:o, s:o, s:o}",
	    "busy_instances", busy ? 1 : 0, "total_instances", 1,
	    "loadavg", load[0], load[1], load[2], "version", SANDBOXD_VERSION,
	    "uptime", mono_now() - started_mono, "tasks_run", (json_int_t)tasks_run,
	    "uploads_rejected", (json_int_t)rejected, "last_result", last ? last : json_null(),
	    "current_task", cur ? cur : json_null(), "last_error", error ? error : json_null());
	pthread_mutex_unlock(&status_lock);
	if (o == NULL)
		return NULL;
	{
		struct spool_usage u;
		char why[256];
		int full = spool_full(why, sizeof(why));

		spool_usage(&u);
		json_object_set_new(o, "spool_pending", json_integer((json_int_t)u.pending));
		json_object_set_new(o, "spool_bytes", json_integer((json_int_t)u.pending_bytes));
		json_object_set_new(o, "spool_dead", json_integer((json_int_t)u.dead));
		json_object_set_new(o, "spool_dead_bytes", json_integer((json_int_t)u.dead_bytes));
		json_object_set_new(o, "spool_max", json_integer((json_int_t)u.max_bytes));
		json_object_set_new(o, "spool_full", json_boolean(full));
		if (full)
			json_object_set_new(o, "spool_full_reason", json_string(why));
	}
	text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
	json_decref(o);
	return text;
}

/* One histogram's lines; labels is "" or `name="value",`. */
static void put_histogram(FILE *f, const char *name, const char *labels, const struct histogram *h,
    const double *bounds, size_t n)
{
	int bare = labels[0] != '\0' ? (int)strlen(labels) - 1 : 0;	/* without the comma */

	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s_bucket{%sle=\"%.10g\"} %llu\n", name, labels, bounds[i], (unsigned long long)h->le[i]);
	fprintf(f, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, (unsigned long long)h->count);
	if (bare > 0)
		fprintf(f, "%s_sum{%.*s} %.6f\n%s_count{%.*s} %llu\n", name, bare, labels, h->sum,
		    name, bare, labels, (unsigned long long)h->count);
	else
		fprintf(f, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

char *status_metrics(int busy)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	struct spool_usage u;
	int full = spool_full(NULL, 0);

	if (f == NULL)
		return NULL;
	spool_usage(&u);
	pthread_mutex_lock(&status_lock);
	fprintf(f, "# HELP sandboxd_busy 1 while a task holds the instance.\n# TYPE sandboxd_busy gauge\n"
	    "sandboxd_busy %d\n", busy ? 1 : 0);
	fprintf(f, "# HELP sandboxd_uptime_seconds Seconds since start.\n# TYPE sandboxd_uptime_seconds gauge\n"
	    "sandboxd_uptime_seconds %.3f\n", mono_now() - started_mono);
	fprintf(f, "# HELP sandboxd_tasks_total Tasks run, by result status.\n# TYPE sandboxd_tasks_total counter\n");
	for (size_t i = 0; i < 3; i++)
		fprintf(f, "sandboxd_tasks_total{status=\"%s\"} %llu\n", statuses[i], (unsigned long long)by_status[i]);
	fprintf(f, "# HELP sandboxd_uploads_rejected_total Uploads refused before running.\n"
	    "# TYPE sandboxd_uploads_rejected_total counter\nsandboxd_uploads_rejected_total %llu\n",
	    (unsigned long long)rejected);
	fprintf(f, "# HELP sandboxd_task_failures_total Failed tasks, by reason.\n"
	    "# TYPE sandboxd_task_failures_total counter\n");
	for (size_t i = 0; i < NREASONS; i++)
		fprintf(f, "sandboxd_task_failures_total{reason=\"%s\"} %llu\n", reasons[i],
		    (unsigned long long)by_reason[i]);
	fprintf(f, "# HELP sandboxd_task_duration_seconds Task time from upload to result.\n"
	    "# TYPE sandboxd_task_duration_seconds histogram\n");
	put_histogram(f, "sandboxd_task_duration_seconds", "", &duration, buckets, NBUCKETS);
	fprintf(f, "# HELP sandboxd_task_phase_seconds Time in each phase of a task: boot (launch to "
	    "tmc-run), run (tmc-run), collect (tmc-run's end to the result read), notify (result spooled "
	    "to delivered).\n# TYPE sandboxd_task_phase_seconds histogram\n");
	for (int p = 0; p < NPHASES; p++) {
		char labels[32];

		snprintf(labels, sizeof(labels), "phase=\"%s\",", phase_names[p]);
		put_histogram(f, "sandboxd_task_phase_seconds", labels, &phases[p], phase_buckets, NPHASE_BUCKETS);
	}
	fprintf(f, "# HELP sandboxd_guest_memory_peak_bytes Peak memory of a task's UML process tree "
	    "(its cgroup's memory.peak).\n# TYPE sandboxd_guest_memory_peak_bytes histogram\n");
	put_histogram(f, "sandboxd_guest_memory_peak_bytes", "", &memory_peak, mem_buckets, NMEM_BUCKETS);
	fprintf(f, "# HELP sandboxd_current_task_age_seconds Seconds since the running task's upload "
	    "completed; 0 when idle.\n# TYPE sandboxd_current_task_age_seconds gauge\n"
	    "sandboxd_current_task_age_seconds %.3f\n"
	    "# HELP sandboxd_current_task_timeout_seconds The running task's timeout; 0 when idle.\n"
	    "# TYPE sandboxd_current_task_timeout_seconds gauge\nsandboxd_current_task_timeout_seconds %u\n",
	    current.id[0] ? mono_now() - current.since : 0.0, current.id[0] ? current.timeout_s : 0);
	fprintf(f, "# HELP sandboxd_notify_attempts_total Delivery attempts.\n"
	    "# TYPE sandboxd_notify_attempts_total counter\nsandboxd_notify_attempts_total %llu\n"
	    "# HELP sandboxd_notify_failures_total Delivery attempts that failed.\n"
	    "# TYPE sandboxd_notify_failures_total counter\nsandboxd_notify_failures_total %llu\n"
	    "# HELP sandboxd_notify_delivered_total Results delivered.\n"
	    "# TYPE sandboxd_notify_delivered_total counter\nsandboxd_notify_delivered_total %llu\n"
	    "# HELP sandboxd_notify_given_up_total Results moved to spool/dead.\n"
	    "# TYPE sandboxd_notify_given_up_total counter\nsandboxd_notify_given_up_total %llu\n",
	    (unsigned long long)notify_attempts, (unsigned long long)notify_failures,
	    (unsigned long long)notify_delivered, (unsigned long long)notify_given_up);
	fprintf(f, "# HELP sandboxd_http_responses_total HTTP responses by class.\n"
	    "# TYPE sandboxd_http_responses_total counter\n");
	for (unsigned i = 1; i < 6; i++)
		fprintf(f, "sandboxd_http_responses_total{code=\"%uxx\"} %llu\n", i,
		    (unsigned long long)requests_by_class[i]);
	pthread_mutex_unlock(&status_lock);
	fprintf(f, "# HELP sandboxd_spool_pending Results waiting for delivery.\n"
	    "# TYPE sandboxd_spool_pending gauge\nsandboxd_spool_pending %llu\n"
	    "# HELP sandboxd_spool_bytes Bytes of results waiting for delivery.\n"
	    "# TYPE sandboxd_spool_bytes gauge\nsandboxd_spool_bytes %llu\n"
	    "# HELP sandboxd_spool_dead Results given up on, kept in spool/dead.\n"
	    "# TYPE sandboxd_spool_dead gauge\nsandboxd_spool_dead %llu\n"
	    "# HELP sandboxd_spool_dead_bytes Bytes of results in spool/dead.\n"
	    "# TYPE sandboxd_spool_dead_bytes gauge\nsandboxd_spool_dead_bytes %llu\n"
	    "# HELP sandboxd_spool_max_bytes The spool's bound (--spool-max).\n"
	    "# TYPE sandboxd_spool_max_bytes gauge\nsandboxd_spool_max_bytes %llu\n"
	    "# HELP sandboxd_spool_full 1 while new tasks are refused because the spool is full.\n"
	    "# TYPE sandboxd_spool_full gauge\nsandboxd_spool_full %d\n",
	    (unsigned long long)u.pending, (unsigned long long)u.pending_bytes, (unsigned long long)u.dead,
	    (unsigned long long)u.dead_bytes, (unsigned long long)u.max_bytes, full);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

