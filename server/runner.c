/*
 * runner.c: the instance's one task slot and the worker thread that fills it.
 *
 * Owns: the busy slot (claimed with one atomic compare-and-swap by the HTTP
 * thread as soon as a POST's headers are in, so two POSTs never both get
 * it); the worker thread, which has the upload validated (by tmc-unpack,
 * unprivileged: privsep.c), answers
 * the client, runs the task with sandbox_run() and hands the result on
 * (spool + notifier, or the waiting client); a task's state changes, each
 * logged in run_task().
 * Never: runs on the HTTP thread, holds the slot while a result is being
 * delivered (the slot is released once the result is safely spooled), or
 * writes a token to the log (only its hash).
 *
 * Slot ownership: the HTTP side owns a claimed slot until runner_submit();
 * from then on the runner releases it. If a request dies before submit,
 * the HTTP side's completion callback releases it.
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

static atomic_int slot_busy;
static atomic_int draining;
static pthread_mutex_t runner_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t runner_cond = PTHREAD_COND_INITIALIZER;
static struct task *job;
static int runner_stopping, runner_running;
static int runner_active;	/* a task is between submit and the end of run_task() */
static pthread_t runner_thread;
static const struct config *rcfg;
static struct sandbox_config rsb;

int runner_claim(void)
{
	int expected = 0;

	if (atomic_load(&draining))
		return -1;
	return atomic_compare_exchange_strong(&slot_busy, &expected, 1) ? 0 : -1;
}

void runner_release(void)
{
	pthread_mutex_lock(&runner_lock);
	atomic_store(&slot_busy, 0);
	pthread_cond_broadcast(&runner_cond);
	pthread_mutex_unlock(&runner_lock);
}

int runner_busy(void)
{
	return atomic_load(&slot_busy);
}

/* FNV-1a, 64 bits: enough to match log lines to a client's token without
 * writing the token (a callback credential) to the log. */
void task_token_hash(const char *token, size_t len, char out[17])
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)token[i];
		h *= 0x100000001b3ULL;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

struct task *task_new(void)
{
	struct task *t = calloc(1, sizeof(*t));
	uint32_t r = 0;
	struct tm tm;
	time_t now = time(NULL);

	if (t == NULL)
		return NULL;
	atomic_init(&t->refs, 1);
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)rand();
	gmtime_r(&now, &tm);
	snprintf(t->id, sizeof(t->id), "t%04d%02d%02d-%02d%02d%02d-%08x", tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, r);
	task_token_hash("", 0, t->token_hash);
	return t;
}

void task_ref(struct task *t)
{
	atomic_fetch_add(&t->refs, 1);
}

void task_unref(struct task *t)
{
	if (t == NULL || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	free(t->upload_path);
	free(t->tar_path);
	free(t->notify);
	free(t->token);
	free(t->resp_body);
	free(t);
}

/* Gives the HTTP side its answer; called at most once per task. */
static void answer(struct task *t, int code, char *body)
{
	t->resp_code = code;
	t->resp_body = body != NULL ? body : strdup("{\"status\":\"error\"}");
	if (t->answer != NULL)
		t->answer(t);
}

static char *status_body(const char *status, const char *error)
{
	json_t *o = error ? json_pack("{s:s, s:s}", "status", status, "error", error) :
	    json_pack("{s:s}", "status", status);
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;

	json_decref(o);
	return s;
}

static double time_field(json_t *result, const char *key)
{
	json_t *v = json_object_get(json_object_get(result, "time"), key);

	return json_is_number(v) ? json_number_value(v) : 0;
}

static void run_task(struct task *t)
{
	struct sandbox_config sb = rsb;
	struct privsep_helper unpack;
	json_t *result = NULL;
	char err[512] = "";
	double t_start = mono_now(), t_valid, t_done;
	const char *status, *reason, *mode;
	json_t *exit_code;

	sandbox_unpack_helper(&rsb, &unpack);
	if (privsep_upload(&unpack, t->upload_path, t->tar_path, &rcfg->upload, err, sizeof(err)) < 0) {
		unlink(t->upload_path);
		unlink(t->tar_path);
		log_info("task %s token=%s rejected: %s (%.3fs)", t->id, t->token_hash, err, mono_now() - t_start);
		status_task_rejected();
		runner_release();
		answer(t, 400, status_body("bad_request", err));
		return;
	}
	unlink(t->upload_path);
	t_valid = mono_now();
	if (t->notify != NULL && !t->wait &&
	    spool_mark_running(t->id, t->notify, t->token, err, sizeof(err)) < 0) {
		log_warnx("task %s: %s", t->id, err);
		unlink(t->tar_path);
		runner_release();
		answer(t, 500, status_body("error", "the instance cannot spool results"));
		return;
	}
	log_info("task %s token=%s accepted -> running (memory %lluM, timeout %us, validated in %.3fs)",
	    t->id, t->token_hash, (unsigned long long)(t->memory >> 20), t->timeout_s, t_valid - t_start);
	if (!t->wait)
		answer(t, 200, status_body("ok", NULL));

	sb.limits.memory = t->memory;
	sb.limits.timeout_s = t->timeout_s;
	if (sandbox_run(&sb, t->tar_path, &result, err, sizeof(err)) < 0 || result == NULL) {
		log_warnx("task %s: the sandbox failed: %s", t->id, err);
		json_decref(result);
		result = spool_internal_result(t->token, err[0] ? err : "the sandbox failed");
	}
	unlink(t->tar_path);
	json_object_set_new(result, "token", json_string(t->token ? t->token : ""));
	t_done = mono_now();
	status = json_string_value(json_object_get(result, "status"));
	reason = json_string_value(json_object_get(result, "reason"));
	exit_code = json_object_get(result, "exit_code");
	status_task_done(t->id, status ? status : "failed", reason, time_field(result, "run"),
	    t_done - t->t_received);

	if (t->wait) {
		mode = "returned to the waiting client";
		runner_release();
		answer(t, 200, json_dumps(result, JSON_COMPACT | JSON_REAL_PRECISION(9)));
	} else if (t->notify != NULL) {
		if (spool_put_result(t->id, t->notify, result, err, sizeof(err)) < 0) {
			/* The running marker stays: a restart reports failed/internal. */
			log_warnx("task %s: result not spooled: %s", t->id, err);
			mode = "LOST (spool failed)";
			runner_release();
		} else {
			mode = "spooled for delivery";
			runner_release();
			notify_enqueue(t->id);
		}
	} else {
		mode = "not sent (no notify URL)";
		runner_release();
	}
	log_info("task %s token=%s running -> %s%s%s exit=%s boot=%.3fs run=%.3fs total=%.3fs "
	    "(upload to result %.3fs); result %s",
	    t->id, t->token_hash, status ? status : "?", reason ? "/" : "", reason ? reason : "",
	    json_is_string(exit_code) ? json_string_value(exit_code) : "-",
	    time_field(result, "boot"), time_field(result, "run"), time_field(result, "total"),
	    t_done - t->t_received, mode);
	json_decref(result);
}

static void *runner_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&runner_lock);
	for (;;) {
		struct task *t;

		while (job == NULL && !runner_stopping)
			pthread_cond_wait(&runner_cond, &runner_lock);
		if (job == NULL)
			break;
		t = job;
		job = NULL;
		runner_active = 1;
		pthread_mutex_unlock(&runner_lock);
		run_task(t);
		task_unref(t);
		pthread_mutex_lock(&runner_lock);
		runner_active = 0;
		pthread_cond_broadcast(&runner_cond);
	}
	pthread_mutex_unlock(&runner_lock);
	return NULL;
}

int runner_start(const struct config *cfg, const struct sandbox_config *sb)
{
	rcfg = cfg;
	rsb = *sb;
	runner_stopping = 0;
	if (pthread_create(&runner_thread, NULL, runner_main, NULL) != 0)
		return -1;
	runner_running = 1;
	return 0;
}

/* The caller holds the slot; the task (one reference handed over) now
 * belongs to the runner, which will call t->answer exactly once. */
void runner_submit(struct task *t)
{
	pthread_mutex_lock(&runner_lock);
	job = t;
	pthread_cond_broadcast(&runner_cond);
	pthread_mutex_unlock(&runner_lock);
}

/* No new tasks from now on; returns once the slot is free and the runner
 * idle (the running task, if any, has its result spooled or answered, and
 * no connection is left suspended). */
void runner_drain(void)
{
	atomic_store(&draining, 1);
	pthread_mutex_lock(&runner_lock);
	while (atomic_load(&slot_busy) || job != NULL || runner_active)
		pthread_cond_wait(&runner_cond, &runner_lock);
	pthread_mutex_unlock(&runner_lock);
}

void runner_stop(void)
{
	if (!runner_running)
		return;
	pthread_mutex_lock(&runner_lock);
	runner_stopping = 1;
	pthread_cond_broadcast(&runner_cond);
	pthread_mutex_unlock(&runner_lock);
	pthread_join(runner_thread, NULL);
	runner_running = 0;
}
