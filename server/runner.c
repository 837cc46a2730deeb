/*
 * runner.c: the instance's one task slot and the worker thread that fills it.
 *
 * Owns: the busy slot (claimed with one atomic compare-and-swap by the HTTP
 * thread once an upload is complete and valid, so two POSTs never both get
 * it and a slow upload never holds it); the worker thread, which has the upload validated (by tmc-unpack,
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
#include <math.h>
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
static struct task *resumed;	/* tasks cut short by a crash, run before any new one */
static atomic_int spool_was_full;

/*
 * The slot for a new task: RUNNER_BUSY while one runs (or the daemon
 * drains), RUNNER_SPOOL_FULL when its result might not fit the spool
 * (spool_full()), both before any of the body is read. Changes of the
 * spool's state are logged once, not per refused request.
 */
int runner_claim(void)
{
	int expected = 0;

	if (atomic_load(&draining))
		return RUNNER_BUSY;
	if (!atomic_compare_exchange_strong(&slot_busy, &expected, 1))
		return RUNNER_BUSY;
	if (runner_spool_full()) {
		runner_release();
		return RUNNER_SPOOL_FULL;
	}
	return 0;
}

/* Whether a new task's result might not fit the spool: asked when a POST's
 * headers arrive (503 before the body is read) and again at the claim. */
int runner_spool_full(void)
{
	char why[256];

	if (spool_full(why, sizeof(why))) {
		if (!atomic_exchange(&spool_was_full, 1))
			log_warnx("spool full: new tasks are refused (503) until results are delivered: %s", why);
		return 1;
	}
	if (atomic_exchange(&spool_was_full, 0))
		log_info("spool has room again: new tasks are accepted");
	return 0;
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
	free(t->layers);
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

/*
 * A new task's upload is validated into runnable.tar; a task with a notify
 * URL then has its tar and a running marker kept in the spool, so that a
 * crash from here on makes it run once more at the next start. Returns -1
 * when the task was answered with an error and is finished with.
 */
static int accept_task(struct task *t)
{
	struct privsep_helper unpack;
	char err[512] = "", kept[4200];
	double t_start = mono_now();

	sandbox_unpack_helper(&rsb, &unpack);
	if (privsep_upload(&unpack, t->upload_path, t->tar_path, &rcfg->upload, err, sizeof(err)) < 0) {
		unlink(t->upload_path);
		unlink(t->tar_path);
		log_info("task %s token=%s rejected: %s (%.3fs)", t->id, t->token_hash, err, mono_now() - t_start);
		status_task_rejected();
		runner_release();
		answer(t, 400, status_body("bad_request", err));
		return -1;
	}
	unlink(t->upload_path);
	if (t->notify != NULL && !t->wait) {
		struct spool_marker m = { t->id, t->notify, t->token, t->timeout_s, t->memory, 1, t->layers };
		char *path;

		if (spool_tar_path(t->id, kept, sizeof(kept)) < 0 || (path = strdup(kept)) == NULL ||
		    spool_mark_running(&m, t->tar_path, err, sizeof(err)) < 0) {
			log_warnx("task %s: %s", t->id, err[0] ? err : "cannot keep its runnable.tar");
			unlink(t->tar_path);
			unlink(kept);
			runner_release();
			answer(t, 500, status_body("error", "the instance cannot spool results"));
			return -1;
		}
		free(t->tar_path);
		t->tar_path = path;
		t->spooled = 1;
	}
	log_info("task %s token=%s accepted -> running (memory %lluM, timeout %us, layers %s, validated in %.3fs)",
	    t->id, t->token_hash, (unsigned long long)(t->memory >> 20), t->timeout_s,
	    t->layers ? t->layers : "none", mono_now() - t_start);
	if (!t->wait)
		answer(t, 200, status_body("ok", NULL));
	return 0;
}

static void run_task(struct task *t)
{
	struct sandbox_config sb = rsb;
	struct sandbox_guest *guest;
	struct sandbox_layer layers[SANDBOX_LAYERS_MAX];
	size_t nlayers = 0;
	json_t *result = NULL;
	char err[512] = "";
	double t_done, t_start;
	const char *status, *reason, *mode;
	json_t *exit_code;
	int cut;

	if (t->attempt > 1) {
		struct spool_marker m = { t->id, t->notify, t->token, t->timeout_s, t->memory, t->attempt,
			t->layers };

		if (spool_mark_running(&m, NULL, err, sizeof(err)) < 0) {
			log_warnx("task %s: %s; not run again", t->id, err);
			runner_release();
			return;
		}
		log_info("task %s token=%s cut short by a daemon stop -> running again (attempt %u, memory %lluM, "
		    "timeout %us)", t->id, t->token_hash, t->attempt, (unsigned long long)(t->memory >> 20),
		    t->timeout_s);
	} else if (accept_task(t) < 0) {
		return;
	}

	sb.limits.memory = t->memory;
	sb.limits.timeout_s = t->timeout_s;
	/* Checked at intake; a task run again after a restart may name a
	 * layer the new configuration lacks, which fails it (internal). */
	if (layer_select(rcfg->layers, rcfg->nlayers, t->layers, layers, &nlayers, err, sizeof(err)) < 0) {
		log_warnx("task %s: %s", t->id, err);
		result = spool_internal_result(t->token, err);
	} else {
		sb.layers = layers;
		sb.nlayers = nlayers;
	}
	/* A task with layers never fits the pre-booted guest (they are on the
	 * kernel command line): preboot_take then frees it. */
	guest = result == NULL ? preboot_take(&sb, t->tar_path, t->id) : NULL;
	t_start = mono_now();
	if (result == NULL &&
	    ((guest != NULL ? sandbox_guest_run(guest, &sb, t->tar_path, &result, err, sizeof(err)) :
	    sandbox_run(&sb, t->tar_path, &result, err, sizeof(err))) < 0 || result == NULL)) {
		log_warnx("task %s: the sandbox failed: %s", t->id, err);
		json_decref(result);
		result = spool_internal_result(t->token, err[0] ? err : "the sandbox failed");
	}
	/* The end of the upload to the guest's start (validation, spooling,
	 * a fresh guest's launch or the delivery to a pre-booted one):
	 * with time.boot, what a client waits before tmc-run runs. */
	if (json_is_object(json_object_get(result, "time")))
		json_object_set_new(json_object_get(result, "time"), "intake",
		    json_real(round((t_start - t->t_received) * 1e6) / 1e6));
	/* A spooled task's tar goes with its marker once the result is in. */
	if (!t->spooled)
		unlink(t->tar_path);
	json_object_set_new(result, "token", json_string(t->token ? t->token : ""));
	cut = spool_fit_result(result, rcfg->result_max, err, sizeof(err));
	if (cut < 0) {
		log_warnx("task %s: %s", t->id, err);
		json_decref(result);
		result = spool_internal_result(t->token, "the result could not be cut to the result size cap");
	} else if (cut > 0) {
		log_info("task %s: %d result field(s) cut to fit the result size cap of %llu bytes", t->id, cut,
		    (unsigned long long)rcfg->result_max);
	}
	t_done = mono_now();
	status = json_string_value(json_object_get(result, "status"));
	reason = json_string_value(json_object_get(result, "reason"));
	exit_code = json_object_get(result, "exit_code");
	status_task_done(t->id, result, t_done - t->t_received);

	if (t->wait) {
		mode = "returned to the waiting client";
		runner_release();
		answer(t, 200, json_dumps(result, JSON_COMPACT | JSON_REAL_PRECISION(9)));
	} else if (t->notify != NULL) {
		if (spool_put_result(t->id, t->notify, result, err, sizeof(err)) < 0) {
			/* The marker and tar stay: a restart runs the task again. */
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

/* The idle runner's wait (runner_lock held): it wakes for a task, or
 * earlier when the pre-boot has work (boot a guest, check the waiting
 * one), which it does with the lock released. No boot while draining. */
static void runner_idle(void)
{
	double wait_s = atomic_load(&draining) ? -1 : preboot_idle_wait();
	struct timespec until;

	if (wait_s == 0) {
		pthread_mutex_unlock(&runner_lock);
		preboot_idle(&rsb);
		pthread_mutex_lock(&runner_lock);
		return;
	}
	if (wait_s < 0) {
		pthread_cond_wait(&runner_cond, &runner_lock);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)wait_s;
	until.tv_nsec += (long)((wait_s - (double)(time_t)wait_s) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&runner_cond, &runner_lock, &until);
}

/* A waiting tmc-unpack for the next upload and for the next output.tar
 * (privsep.c's spares), started while the instance is idle: a task's
 * intake and its collection then skip an exec each. Made by this thread,
 * which they die with. Without one, a request starts its own. */
static void runner_keep_spares(void)
{
	struct privsep_helper unpack;
	char err[512] = "";

	if (!rcfg->spare_unpack)
		return;
	sandbox_unpack_helper(&rsb, &unpack);
	if (privsep_upload_spare(&unpack, &rcfg->upload, err, sizeof(err)) < 0 ||
	    privsep_output_spare(&unpack, rsb.limits.file_cap, err, sizeof(err)) < 0)
		log_warnx("tmc-unpack spare: %s (tasks start their own)", err);
}

static void *runner_main(void *arg)
{
	(void)arg;
	runner_keep_spares();
	pthread_mutex_lock(&runner_lock);
	for (;;) {
		struct task *t;
		int free_slot = 0;

		while (job == NULL && (resumed == NULL || atomic_load(&slot_busy) || atomic_load(&draining)) &&
		    !runner_stopping)
			runner_idle();
		if (resumed != NULL && job == NULL && !atomic_load(&draining) &&
		    atomic_compare_exchange_strong(&slot_busy, &free_slot, 1)) {
			t = resumed;
			resumed = t->next;
			t->next = NULL;
		} else if (job != NULL) {
			t = job;
			job = NULL;
		} else {
			break;
		}
		runner_active = 1;
		pthread_mutex_unlock(&runner_lock);
		status_task_started(t->id, t->t_received, t->timeout_s);
		run_task(t);
		status_task_ended();
		task_unref(t);
		runner_keep_spares();
		pthread_mutex_lock(&runner_lock);
		runner_active = 0;
		pthread_cond_broadcast(&runner_cond);
	}
	pthread_mutex_unlock(&runner_lock);
	preboot_stop();
	privsep_spares_drop();
	return NULL;
}

/*
 * At start, before http_start(): the tasks a crash cut short
 * (spool_recover() found their markers and kept tars) run first, one after
 * the other, each holding the slot as a new task would. Without a client,
 * each result goes to the spool only. A drain leaves those not started
 * with their markers as they are, for the next start.
 */
static int resume_tasks(const struct spool_rerun *rr, size_t n)
{
	struct task **tail = &resumed;
	char path[4200];

	for (size_t i = 0; i < n; i++) {
		struct task *t = task_new();

		if (t == NULL)
			return -1;
		snprintf(t->id, sizeof(t->id), "%s", rr[i].id);
		t->notify = strdup(rr[i].notify);
		t->token = strdup(rr[i].token);
		t->layers = rr[i].layers != NULL ? strdup(rr[i].layers) : NULL;
		if (spool_tar_path(rr[i].id, path, sizeof(path)) < 0 || t->notify == NULL || t->token == NULL ||
		    (rr[i].layers != NULL && t->layers == NULL) ||
		    (t->tar_path = strdup(path)) == NULL) {
			task_unref(t);
			return -1;
		}
		task_token_hash(t->token, strlen(t->token), t->token_hash);
		t->timeout_s = rr[i].timeout_s < rcfg->timeout_s ? rr[i].timeout_s : rcfg->timeout_s;
		t->memory = rr[i].memory < rcfg->memory ? rr[i].memory : rcfg->memory;
		t->attempt = rr[i].attempt;
		t->spooled = 1;
		t->t_received = mono_now();
		*tail = t;
		tail = &t->next;
	}
	return 0;
}

int runner_start(const struct config *cfg, const struct sandbox_config *sb,
    const struct spool_rerun *rr, size_t nrr)
{
	rcfg = cfg;
	rsb = *sb;
	if (resume_tasks(rr, nrr) < 0)
		return -1;
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
	while (resumed != NULL) {
		struct task *t = resumed;

		resumed = t->next;
		task_unref(t);
	}
}
