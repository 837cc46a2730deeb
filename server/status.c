/*
 * status.c: what the instance tells about itself: GET /status.json (the
 * TMC fields busy_instances/total_instances/loadavg plus our own), GET /
 * (a small HTML page for people) and GET /metrics (Prometheus text).
 *
 * Owns: the counters, under one mutex, updated by the runner, the notifier
 * and the HTTP thread. Never: shows a token or anything a client sent;
 * every string on the page is one of ours (ids, statuses, reasons).
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

#define RECENT 10
static const double buckets[] = { 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
static const char *const statuses[] = { "finished", "failed", "timeout" };

struct recent {
	char id[48];
	char status[16];
	char reason[16];
	double run_s, total_s;
	time_t at;
};

static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;
static double started_mono;
static time_t started_wall;
static uint64_t by_status[3], rejected, tasks_run;
static uint64_t hist[NBUCKETS];
static double hist_sum;
static uint64_t notify_attempts, notify_failures, notify_delivered, notify_given_up;
static uint64_t requests_by_class[6];
static struct recent recent[RECENT];
static size_t nrecent, recent_next;

void status_init(void)
{
	started_mono = mono_now();
	started_wall = time(NULL);
}

void status_task_done(const char *id, const char *status, const char *reason,
    double run_s, double total_s)
{
	struct recent *r;

	pthread_mutex_lock(&status_lock);
	tasks_run++;
	for (size_t i = 0; i < 3; i++)
		if (strcmp(status, statuses[i]) == 0)
			by_status[i]++;
	for (size_t i = 0; i < NBUCKETS; i++)
		if (total_s <= buckets[i])
			hist[i]++;
	hist_sum += total_s;
	r = &recent[recent_next];
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->status, sizeof(r->status), "%s", status);
	snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
	r->run_s = run_s;
	r->total_s = total_s;
	r->at = time(NULL);
	recent_next = (recent_next + 1) % RECENT;
	if (nrecent < RECENT)
		nrecent++;
	pthread_mutex_unlock(&status_lock);
}

void status_task_rejected(void)
{
	pthread_mutex_lock(&status_lock);
	rejected++;
	pthread_mutex_unlock(&status_lock);
}

void status_notify_attempt(int ok, int gave_up)
{
	pthread_mutex_lock(&status_lock);
	notify_attempts++;
	if (ok)
		notify_delivered++;
	else
		notify_failures++;
	if (gave_up)
		notify_given_up++;
	pthread_mutex_unlock(&status_lock);
}

void status_request(unsigned code)
{
	pthread_mutex_lock(&status_lock);
	if (code >= 100 && code < 600)
		requests_by_class[code / 100]++;
	pthread_mutex_unlock(&status_lock);
}

/* Under status_lock: the i-th most recent task, 0 = newest. */
static const struct recent *nth_recent(size_t i)
{
	return &recent[(recent_next + RECENT - 1 - i) % RECENT];
}

char *status_json(int busy)
{
	double load[3] = { 0, 0, 0 };
	json_t *o, *last = json_null();
	char *text;

	if (getloadavg(load, 3) < 0)
		load[0] = load[1] = load[2] = 0;
	pthread_mutex_lock(&status_lock);
	if (nrecent > 0) {
		const struct recent *r = nth_recent(0);

		last = json_pack("{s:s, s:s, s:s?, s:f, s:f, s:I}", "id", r->id, "status", r->status,
		    "reason", r->reason[0] ? r->reason : NULL, "run", r->run_s, "total", r->total_s,
		    "finished_at", (json_int_t)r->at);
	}
	o = json_pack("{s:i, s:i, s:[f,f,f], s:s, s:f, s:I, s:I, s:o}",
	    "busy_instances", busy ? 1 : 0, "total_instances", 1,
	    "loadavg", load[0], load[1], load[2], "version", SANDBOXD_VERSION,
	    "uptime", mono_now() - started_mono, "tasks_run", (json_int_t)tasks_run,
	    "uploads_rejected", (json_int_t)rejected, "last_result", last ? last : json_null());
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
	json_object_set_new(o, "layers", status_layers_json());
	text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
	json_decref(o);
	return text;
}

char *status_html(int busy)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	char since[64], why[256];
	struct tm tm;
	int full = spool_full(why, sizeof(why));
	struct spool_usage u;

	if (f == NULL)
		return NULL;
	spool_usage(&u);
	gmtime_r(&started_wall, &tm);
	strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%SZ", &tm);
	pthread_mutex_lock(&status_lock);
	fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>sandboxd</title>\n"
	    "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em .8em;text-align:left}"
	    ".busy{color:#b00}.idle{color:#070}</style></head><body>\n"
	    "<h1>sandboxd %s</h1>\n<p>State: <b class=\"%s\">%s</b> &middot; up since %s &middot; "
	    "%llu tasks run &middot; %llu uploads rejected &middot; %llu results awaiting delivery "
	    "(%.1f of %.1f MB spool, %llu given up in spool/dead)</p>\n",
	    SANDBOXD_VERSION, busy ? "busy" : full ? "busy" : "idle", busy ? "busy" : full ? "spool full" : "idle",
	    since, (unsigned long long)tasks_run, (unsigned long long)rejected, (unsigned long long)u.pending,
	    (double)(u.pending_bytes + u.dead_bytes) / 1e6, (double)u.max_bytes / 1e6, (unsigned long long)u.dead);
	/* why is ours (numbers and fixed text), so it needs no escaping. */
	if (full)
		fprintf(f, "<p class=\"busy\">Spool full: new tasks are refused with 503 until results are "
		    "delivered: %s.</p>\n", why);
	fprintf(f, "<h2>Last tasks</h2>\n<table><tr><th>task</th><th>status</th><th>reason</th>"
	    "<th>run (s)</th><th>total (s)</th><th>finished (UTC)</th></tr>\n");
	for (size_t i = 0; i < nrecent; i++) {
		const struct recent *r = nth_recent(i);
		char at[32];

		gmtime_r(&r->at, &tm);
		strftime(at, sizeof(at), "%H:%M:%S", &tm);
		fprintf(f, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%.3f</td><td>%.3f</td><td>%s</td></tr>\n",
		    r->id, r->status, r->reason, r->run_s, r->total_s, at);
	}
	pthread_mutex_unlock(&status_lock);
	fprintf(f, "</table>\n");
	status_layers_html(f);
	fprintf(f, "<p><a href=\"/status.json\">status.json</a> &middot; "
	    "<a href=\"/metrics\">metrics</a></p>\n</body></html>\n");
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
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
	fprintf(f, "# HELP sandboxd_task_duration_seconds Task time from upload to result.\n"
	    "# TYPE sandboxd_task_duration_seconds histogram\n");
	for (size_t i = 0; i < NBUCKETS; i++)
		fprintf(f, "sandboxd_task_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[i],
		    (unsigned long long)hist[i]);
	fprintf(f, "sandboxd_task_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "sandboxd_task_duration_seconds_sum %.6f\nsandboxd_task_duration_seconds_count %llu\n",
	    (unsigned long long)tasks_run, hist_sum, (unsigned long long)tasks_run);
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
