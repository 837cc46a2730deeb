/*
 * history.c: what the status page plots: a bounded ring of the last
 * HISTORY_TASKS task records (id, status, reason, run and total seconds,
 * memory peak, finish time), per-minute counts by status and reason over
 * the last hour, and the notify backlog (results waiting for delivery and
 * given up) in HISTORY_STEP-second slots over the last hour.
 *
 * Library-like: no locks, no clock and no logging of its own. The caller
 * (status.c) holds its mutex around every call and passes the wall-clock
 * time, so tests drive the clock. A clock that steps back is treated as
 * standing still: nothing recorded is ever overwritten by older data.
 *
 * The backlog changes only when a result is spooled, delivered, given up
 * or pruned; the caller reports it then and on every read, so a slot
 * without a report holds the value of the last one (the slot keeps the
 * largest backlog seen in it, so a short spike shows).
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <stdio.h>
#include <string.h>

/* Every status/reason pair a result can carry (sandbox.h), in the order
 * the page lists them; the last one catches anything else. */
static const struct {
	const char *status, *reason;
} kinds[HISTORY_KINDS] = {
	{ "finished", NULL }, { "failed", "exit" }, { "failed", "oom" },
	{ "failed", "output_limit" }, { "failed", "crash" }, { "failed", "internal" },
	{ "timeout", NULL }, { "failed", "other" },
};

static size_t kind_of(const char *status, const char *reason)
{
	for (size_t i = 0; i + 1 < HISTORY_KINDS; i++) {
		if (strcmp(status, kinds[i].status) != 0)
			continue;
		if (kinds[i].reason == NULL || (reason != NULL && strcmp(reason, kinds[i].reason) == 0))
			return i;
	}
	return HISTORY_KINDS - 1;
}

void history_init(struct history *h)
{
	memset(h, 0, sizeof(*h));
	h->last_slot = HISTORY_NONE;
	for (size_t i = 0; i < HISTORY_MINUTES; i++)
		h->minutes[i].minute = HISTORY_NONE;
	for (size_t i = 0; i < HISTORY_SAMPLES; i++)
		h->samples[i].slot = HISTORY_NONE;
}

/* The ring index of slot or minute k (k may be negative for times near 0). */
static size_t ring(int64_t k, size_t n)
{
	int64_t m = k % (int64_t)n;

	return (size_t)(m < 0 ? m + (int64_t)n : m);
}

static int64_t clamp_time(struct history *h, int64_t now)
{
	if (now < h->latest)
		return h->latest;
	h->latest = now;
	return now;
}

void history_task_add(struct history *h, const struct history_task *t)
{
	struct history_task *r = &h->tasks[h->next];
	int64_t at = clamp_time(h, t->finished_at);
	int64_t minute = at / 60;
	struct history_minute *m = &h->minutes[ring(minute, HISTORY_MINUTES)];

	*r = *t;
	r->finished_at = at;
	snprintf(r->id, sizeof(r->id), "%s", t->id);
	snprintf(r->status, sizeof(r->status), "%s", t->status);
	snprintf(r->reason, sizeof(r->reason), "%s", t->reason);
	h->next = (h->next + 1) % HISTORY_TASKS;
	if (h->ntasks < HISTORY_TASKS)
		h->ntasks++;
	if (m->minute != minute) {
		memset(m, 0, sizeof(*m));
		m->minute = minute;
	}
	m->count[kind_of(t->status, t->reason[0] ? t->reason : NULL)]++;
}

const struct history_task *history_task_nth(const struct history *h, size_t i)
{
	if (i >= h->ntasks)
		return NULL;
	return &h->tasks[(h->next + HISTORY_TASKS - 1 - i) % HISTORY_TASKS];
}

void history_backlog(struct history *h, int64_t now, uint64_t pending, uint64_t dead)
{
	int64_t slot = clamp_time(h, now) / HISTORY_STEP;
	struct history_sample *s;

	if (h->last_slot != HISTORY_NONE && slot > h->last_slot) {
		/* Slots without a report: the backlog stood still in them. */
		int64_t from = h->last_slot + 1;

		if (slot - from > HISTORY_SAMPLES)
			from = slot - HISTORY_SAMPLES;
		for (int64_t k = from; k < slot; k++) {
			s = &h->samples[ring(k, HISTORY_SAMPLES)];
			s->slot = k;
			s->pending = h->cur_pending;
			s->dead = h->cur_dead;
		}
	}
	s = &h->samples[ring(slot, HISTORY_SAMPLES)];
	if (s->slot != slot) {
		s->slot = slot;
		s->pending = pending;
	} else if (pending > s->pending) {
		s->pending = pending;
	}
	s->dead = dead;
	h->cur_pending = pending;
	h->cur_dead = dead;
	h->last_slot = slot;
}

void history_counts(const struct history *h, int64_t now, uint64_t count[HISTORY_KINDS])
{
	int64_t minute = now / 60;

	memset(count, 0, sizeof(uint64_t) * HISTORY_KINDS);
	for (size_t i = 0; i < HISTORY_MINUTES; i++) {
		const struct history_minute *m = &h->minutes[i];

		if (m->minute == HISTORY_NONE || m->minute > minute || m->minute <= minute - HISTORY_MINUTES)
			continue;
		for (size_t k = 0; k < HISTORY_KINDS; k++)
			count[k] += m->count[k];
	}
}

const char *history_kind_status(size_t kind)
{
	return kind < HISTORY_KINDS ? kinds[kind].status : NULL;
}

const char *history_kind_reason(size_t kind)
{
	return kind < HISTORY_KINDS ? kinds[kind].reason : NULL;
}

/* A duration or size, or null when unknown (negative). */
static json_t *maybe_real(double v)
{
	return v >= 0 ? json_real(v) : json_null();
}

static json_t *tasks_json(const struct history *h)
{
	json_t *a = json_array();

	/* Oldest first: the order a plot reads from left to right. */
	for (size_t i = h->ntasks; a != NULL && i-- > 0;) {
		const struct history_task *t = history_task_nth(h, i);
		json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:I}", "id", t->id, "status", t->status,
		    "run", maybe_real(t->run_s), "total", maybe_real(t->total_s),
		    "finished_at", (json_int_t)t->finished_at);

		if (o != NULL && t->reason[0] != '\0' && json_object_set_new(o, "reason", json_string(t->reason)) < 0)
			json_decref(o), o = NULL;
		if (o != NULL && t->memory >= 0 &&
		    json_object_set_new(o, "memory", json_integer((json_int_t)t->memory)) < 0)
			json_decref(o), o = NULL;
		if (o == NULL || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *counts_json(const struct history *h, int64_t now)
{
	uint64_t count[HISTORY_KINDS];
	json_t *a = json_array();

	history_counts(h, now, count);
	for (size_t k = 0; a != NULL && k < HISTORY_KINDS; k++) {
		json_t *o = json_pack("{s:s, s:s?, s:I}", "status", kinds[k].status, "reason", kinds[k].reason,
		    "count", (json_int_t)count[k]);

		if (o == NULL || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* The last HISTORY_SAMPLES slots up to now's; null where nothing was
 * known yet (before the daemon started). */
static json_t *backlog_json(const struct history *h, int64_t now)
{
	int64_t last = now / HISTORY_STEP, first = last - HISTORY_SAMPLES + 1;
	json_t *pending = json_array(), *dead = json_array();
	json_t *o = json_pack("{s:i, s:I, s:o, s:o}", "step", HISTORY_STEP, "start",
	    (json_int_t)(first * HISTORY_STEP), "pending", pending, "dead", dead);

	if (o == NULL)
		return NULL;
	for (int64_t k = first; k <= last; k++) {
		const struct history_sample *s = &h->samples[ring(k, HISTORY_SAMPLES)];
		int known = s->slot == k;

		if (json_array_append_new(pending, known ? json_integer((json_int_t)s->pending) : json_null()) < 0 ||
		    json_array_append_new(dead, known ? json_integer((json_int_t)s->dead) : json_null()) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *history_json(const struct history *h, int64_t now)
{
	json_t *tasks = tasks_json(h), *counts = counts_json(h, now), *backlog = backlog_json(h, now);

	if (tasks == NULL || counts == NULL || backlog == NULL) {
		json_decref(tasks);
		json_decref(counts);
		json_decref(backlog);
		return NULL;
	}
	return json_pack("{s:I, s:i, s:o, s:o, s:o}", "now", (json_int_t)now, "tasks_max", HISTORY_TASKS,
	    "tasks", tasks, "last_hour", counts, "backlog", backlog);
}
