/*
 * result.c: the one place where a run's outcome becomes a status, a reason
 * and the result object (the notification's keys, DESIGN section 4,
 * without `token`). The mapping of meta.txt follows sandbox/README.md:
 *   clock ran out                      -> timeout (no exit_code)
 *   meta.txt missing or invalid        -> failed/crash (failed/oom when the
 *                                         host cgroup's OOM killer fired)
 *   error=                             -> failed/crash
 *   output_full=1                      -> failed/output_limit
 *   signal=n                           -> exit_code 128+n, failed/exit
 *   exit_code=0                        -> finished
 *   exit_code=n                        -> failed/exit
 * with failed/oom instead of failed/exit whenever oom=1 (a task whose
 * child was OOM-killed usually exits 137 rather than by a signal itself).
 * Never: logs, trusts guest text: every string goes through utf8.c (also
 * what output_tar.c has sanitized), and a field that cannot be encoded is
 * replaced by a placeholder, never the whole result.
 */
#include "sandbox/sandbox_host.h"
#include "common/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const struct {
	const char *file;
	const char *key;
} result_files[] = {
	{ "output.txt", "output" },
	{ "test_output.txt", "test_output" },
	{ "stdout.txt", "stdout" },
	{ "stderr.txt", "stderr" },
	{ "valgrind.log", "valgrind" },
	{ "validations.json", "validations" },
};

const char *sandbox_status_name(enum sandbox_status s)
{
	switch (s) {
	case SANDBOX_FINISHED: return "finished";
	case SANDBOX_FAILED: return "failed";
	case SANDBOX_TIMEOUT: return "timeout";
	}
	return "failed";
}

const char *sandbox_reason_name(enum sandbox_reason r)
{
	switch (r) {
	case REASON_NONE: return "";
	case REASON_EXIT: return "exit";
	case REASON_OOM: return "oom";
	case REASON_OUTPUT_LIMIT: return "output_limit";
	case REASON_CRASH: return "crash";
	case REASON_INTERNAL: return "internal";
	}
	return "internal";
}

struct result_outcome {
	enum sandbox_status status;
	enum sandbox_reason reason;
	int has_exit_code;
	unsigned exit_code;
};

static void result_classify(const struct result_input *in, struct result_outcome *o,
    struct output_meta *meta, int *meta_ok)
{
	const struct output_file *mf = in->out ? output_set_get(in->out, "meta.txt") : NULL;
	char err[256], note[320];

	memset(o, 0, sizeof(*o));
	*meta_ok = 0;
	if (mf != NULL) {
		if (output_tar_parse_meta(mf->data, mf->len, meta, err, sizeof(err)) == 0)
			*meta_ok = 1;
		else if (!in->timed_out) {
			snprintf(note, sizeof(note), "result: %s", err);
			vmlog_note(in->log, note, in->log_now);
		}
	}
	if (in->timed_out) {
		o->status = SANDBOX_TIMEOUT;
		return;
	}
	o->status = SANDBOX_FAILED;
	if (!*meta_ok) {
		if (mf == NULL)
			vmlog_note(in->log, "result: no meta.txt in output.tar", in->log_now);
		o->reason = in->host_oom_kills > 0 ? REASON_OOM : REASON_CRASH;
		return;
	}
	if (meta->error[0] != '\0') {
		snprintf(note, sizeof(note), "result: tmc-init failed: %s", meta->error);
		vmlog_note(in->log, note, in->log_now);
		o->reason = REASON_CRASH;
		return;
	}
	if (meta->has_signal) {
		o->has_exit_code = 1;
		o->exit_code = 128 + meta->signal;
	} else if (meta->has_exit_code) {
		o->has_exit_code = 1;
		o->exit_code = meta->exit_code;
	}
	if (meta->output_full) {
		o->reason = REASON_OUTPUT_LIMIT;
		return;
	}
	if (!o->has_exit_code) {
		vmlog_note(in->log, "result: meta.txt has neither exit_code nor signal", in->log_now);
		o->reason = REASON_CRASH;
		return;
	}
	if (o->exit_code == 0 && !meta->has_signal) {
		o->status = SANDBOX_FINISHED;
		return;
	}
	o->reason = meta->oom ? REASON_OOM : REASON_EXIT;
}

/* Every string of the result passes here. Data from output_tar.c is valid
 * UTF-8 already; anything else is made so by the one cleaner rather than
 * lost (jansson refuses invalid UTF-8). NULL only when out of memory. */
static json_t *result_text(const char *data, size_t len)
{
	size_t clen;
	char *clean;
	json_t *v;

	if (utf8_valid(data, len))
		return json_stringn(data, len);
	clean = utf8_sanitize(data, len, &clen);
	if (clean == NULL)
		return NULL;
	v = json_stringn(clean, clen);
	free(clean);
	return v;
}

static json_t *result_str(const char *s)
{
	return result_text(s, strlen(s));
}

/* Sets key to v. A value that could not be made (v == NULL) is replaced by
 * a placeholder, so that one field never costs the whole result; only a
 * failure to store even that counts as bad. */
static int result_set(json_t *obj, const char *key, json_t *v)
{
	if (v == NULL)
		v = json_string("[sandbox: this field could not be encoded]");
	return json_object_set_new(obj, key, v) < 0 ? 1 : 0;
}

static json_t *result_seconds(double s)
{
	if (s < 0)
		return json_null();
	return json_real(round(s * 1e6) / 1e6);
}

/* Builds the result object; NULL with err only when out of memory. */
json_t *result_build(const struct result_input *in, char *err, size_t errlen)
{
	struct result_outcome o;
	struct output_meta meta;
	int meta_ok;
	json_t *r, *t;
	double boot, end, run = -1;
	char buf[64];
	int bad = 0;

	if (in->out != NULL && in->out->malformed) {
		char note[320];

		snprintf(note, sizeof(note), "output.tar: %s", in->out->note);
		vmlog_note(in->log, note, in->log_now);
	}
	if (in->timed_out) {
		snprintf(buf, sizeof(buf), "timeout after %u s: killed", in->timeout_s);
		vmlog_note(in->log, buf, in->log_now);
	} else if (WIFSIGNALED(in->exit_status)) {
		snprintf(buf, sizeof(buf), "linux.uml killed by signal %d", WTERMSIG(in->exit_status));
		vmlog_note(in->log, buf, in->log_now);
	} else if (WIFEXITED(in->exit_status) && WEXITSTATUS(in->exit_status) != 0) {
		snprintf(buf, sizeof(buf), "linux.uml exited with %d", WEXITSTATUS(in->exit_status));
		vmlog_note(in->log, buf, in->log_now);
	}
	result_classify(in, &o, &meta, &meta_ok);

	r = json_object();
	t = json_object();
	if (r == NULL || t == NULL) {
		json_decref(r);
		json_decref(t);
		errbuf_set(err, errlen, "result: out of memory");
		return NULL;
	}
	bad |= result_set(r, "status", result_str(sandbox_status_name(o.status)));
	if (o.has_exit_code) {
		snprintf(buf, sizeof(buf), "%u", o.exit_code);
		bad |= result_set(r, "exit_code", result_str(buf));
	}
	for (size_t i = 0; i < sizeof(result_files) / sizeof(result_files[0]); i++) {
		const struct output_file *f = in->out ? output_set_get(in->out, result_files[i].file) : NULL;

		bad |= result_set(r, result_files[i].key, result_text(f ? f->data : "", f ? f->len : 0));
		if (f != NULL && f->truncated)
			bad |= result_mark_truncated(r, result_str(f->name)) < 0;
	}
	if (meta_ok)
		for (size_t i = 0; i < meta.ntruncated; i++)
			bad |= result_mark_truncated(r, result_str(meta.truncated[i])) < 0;

	boot = vmlog_marker_time(in->log, "tmc-init: run");
	end = vmlog_marker_time(in->log, "tmc-init: exit");
	/* Marker times count from launch; a pre-booted task's from its "go". */
	if (boot >= 0)
		boot -= in->origin;
	if (end >= 0)
		end -= in->origin;
	if (boot >= 0)
		run = (end >= boot ? end : in->total) - boot;
	bad |= json_object_set_new(t, "boot", result_seconds(boot)) < 0;
	bad |= json_object_set_new(t, "run", result_seconds(run)) < 0;
	bad |= json_object_set_new(t, "total", result_seconds(in->total)) < 0;
	/* collect: from tmc-run's end (or, without one, the reaping) to the
	 * result read, so that boot + run + collect span launch to result. */
	if (in->collected > 0)
		bad |= json_object_set_new(t, "collect", result_seconds(in->collected -
		    (end >= boot && boot >= 0 ? end : in->total))) < 0;

	bad |= result_set(r, "vm_log", result_str(vmlog_text(in->log)));
	if (o.status == SANDBOX_FAILED)
		bad |= result_set(r, "reason", result_str(sandbox_reason_name(o.reason)));
	bad |= json_object_set_new(r, "time", t) < 0;
	if (in->memory_peak >= 0)
		bad |= json_object_set_new(r, "memory", json_integer(in->memory_peak)) < 0;
	/* Last, where it has always been in a result. */
	if (json_object_get(r, "truncated") != NULL) {
		json_t *trunc = json_incref(json_object_get(r, "truncated"));

		bad |= json_object_del(r, "truncated") < 0;
		bad |= json_object_set_new(r, "truncated", trunc) < 0;
	}
	if (bad) {
		json_decref(r);
		errbuf_set(err, errlen, "result: out of memory");
		return NULL;
	}
	return r;
}
