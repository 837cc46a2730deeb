/* check_history.c: the status page's history (server/history.c): the ring
 * of recent tasks keeps the newest HISTORY_TASKS in order, the counts by
 * status and reason cover the last hour only, the backlog series fills
 * the slots between reports and keeps a slot's peak, a clock stepping
 * back never rewrites the past, and the JSON says what the page reads. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/sandboxd.h"

#define T0 1800000000LL		/* a wall-clock time on a minute and slot boundary */

static struct history h;

static void setup(void)
{
	history_init(&h);
}

static void add(const char *id, const char *status, const char *reason, double run, double total, int64_t at)
{
	struct history_task t = { .run_s = run, .total_s = total, .memory = -1, .finished_at = at };

	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.status, sizeof(t.status), "%s", status);
	snprintf(t.reason, sizeof(t.reason), "%s", reason);
	history_task_add(&h, &t);
}

static size_t kind_index(const char *status, const char *reason)
{
	for (size_t k = 0; k < HISTORY_KINDS; k++) {
		const char *r = history_kind_reason(k);

		if (strcmp(history_kind_status(k), status) == 0 &&
		    ((r == NULL && reason == NULL) || (r != NULL && reason != NULL && strcmp(r, reason) == 0)))
			return k;
	}
	ck_abort_msg("no kind %s/%s", status, reason ? reason : "-");
	return 0;
}

START_TEST(ring_keeps_newest)
{
	char id[48];
	size_t extra = 37;

	for (size_t i = 0; i < HISTORY_TASKS + extra; i++) {
		snprintf(id, sizeof(id), "t%zu", i);
		add(id, "finished", "", 1, 2, T0 + (int64_t)i);
	}
	ck_assert_uint_eq(h.ntasks, HISTORY_TASKS);
	snprintf(id, sizeof(id), "t%zu", HISTORY_TASKS + extra - 1);
	ck_assert_str_eq(history_task_nth(&h, 0)->id, id);
	snprintf(id, sizeof(id), "t%zu", extra);
	ck_assert_str_eq(history_task_nth(&h, HISTORY_TASKS - 1)->id, id);
	ck_assert_ptr_null(history_task_nth(&h, HISTORY_TASKS));
}
END_TEST

START_TEST(ring_partial)
{
	ck_assert_ptr_null(history_task_nth(&h, 0));
	add("a", "finished", "", 1, 2, T0);
	add("b", "timeout", "", 5, 6, T0 + 1);
	ck_assert_uint_eq(h.ntasks, 2);
	ck_assert_str_eq(history_task_nth(&h, 0)->id, "b");
	ck_assert_str_eq(history_task_nth(&h, 1)->id, "a");
	ck_assert_ptr_null(history_task_nth(&h, 2));
}
END_TEST

/* Each status/reason pair lands in its own count; unknown ones in the
 * catch-all, never in a real reason's. */
static const struct {
	const char *status, *reason;	/* as the task carries them */
	const char *kstatus, *kreason;	/* the count it must land in */
} kind_cases[] = {
	{ "finished", "", "finished", NULL },
	{ "failed", "exit", "failed", "exit" },
	{ "failed", "oom", "failed", "oom" },
	{ "failed", "output_limit", "failed", "output_limit" },
	{ "failed", "crash", "failed", "crash" },
	{ "failed", "internal", "failed", "internal" },
	{ "timeout", "", "timeout", NULL },
	{ "failed", "", "failed", "other" },
	{ "failed", "gremlins", "failed", "other" },
	{ "exploded", "", "failed", "other" },
};

START_TEST(counts_by_kind)
{
	uint64_t count[HISTORY_KINDS];
	size_t want = kind_index(kind_cases[_i].kstatus, kind_cases[_i].kreason);

	add("x", kind_cases[_i].status, kind_cases[_i].reason, 1, 1, T0 + 5);
	add("y", kind_cases[_i].status, kind_cases[_i].reason, 1, 1, T0 + 65);
	history_counts(&h, T0 + 70, count);
	for (size_t k = 0; k < HISTORY_KINDS; k++)
		ck_assert_msg(count[k] == (k == want ? 2 : 0), "%s/%s: kind %zu counted %llu", kind_cases[_i].status,
		    kind_cases[_i].reason, k, (unsigned long long)count[k]);
}
END_TEST

/* A task counts for the 60 whole minutes from its own; older minutes'
 * bins are reused, not added to. */
START_TEST(counts_last_hour_only)
{
	uint64_t count[HISTORY_KINDS];
	size_t fin = kind_index("finished", NULL), to = kind_index("timeout", NULL);

	add("old", "finished", "", 1, 1, T0);
	add("mid", "timeout", "", 1, 1, T0 + 30 * 60);
	history_counts(&h, T0 + 59 * 60 + 59, count);
	ck_assert_uint_eq(count[fin], 1);
	ck_assert_uint_eq(count[to], 1);
	history_counts(&h, T0 + 60 * 60, count);
	ck_assert_uint_eq(count[fin], 0);
	ck_assert_uint_eq(count[to], 1);
	/* Same bin as "old" (60 minutes later): it starts from zero. */
	add("new", "finished", "", 1, 1, T0 + 60 * 60 + 1);
	history_counts(&h, T0 + 60 * 60 + 2, count);
	ck_assert_uint_eq(count[fin], 1);
	history_counts(&h, T0 + 3 * 3600, count);
	for (size_t k = 0; k < HISTORY_KINDS; k++)
		ck_assert_uint_eq(count[k], 0);
}
END_TEST

static const struct history_sample *slot_at(int64_t t)
{
	return &h.samples[(t / HISTORY_STEP) % HISTORY_SAMPLES];
}

START_TEST(backlog_fills_gaps)
{
	history_backlog(&h, T0, 3, 1);
	history_backlog(&h, T0 + 5 * HISTORY_STEP, 0, 2);
	for (int i = 0; i < 5; i++) {
		const struct history_sample *s = slot_at(T0 + i * HISTORY_STEP);

		ck_assert_int_eq(s->slot, (T0 + i * HISTORY_STEP) / HISTORY_STEP);
		ck_assert_uint_eq(s->pending, 3);
		ck_assert_uint_eq(s->dead, 1);
	}
	ck_assert_uint_eq(slot_at(T0 + 5 * HISTORY_STEP)->pending, 0);
	ck_assert_uint_eq(slot_at(T0 + 5 * HISTORY_STEP)->dead, 2);
}
END_TEST

START_TEST(backlog_keeps_peak)
{
	history_backlog(&h, T0, 1, 0);
	history_backlog(&h, T0 + 1, 9, 0);
	history_backlog(&h, T0 + 2, 2, 4);
	ck_assert_uint_eq(slot_at(T0)->pending, 9);
	ck_assert_uint_eq(slot_at(T0)->dead, 4);
	/* The next slot starts from the last report, not the peak. */
	history_backlog(&h, T0 + HISTORY_STEP + HISTORY_STEP, 2, 4);
	ck_assert_uint_eq(slot_at(T0 + HISTORY_STEP)->pending, 2);
}
END_TEST

/* A gap longer than the window fills the window only. */
START_TEST(backlog_long_gap)
{
	int64_t later = T0 + 10 * HISTORY_SAMPLES * HISTORY_STEP;

	history_backlog(&h, T0, 7, 0);
	history_backlog(&h, later, 1, 0);
	for (int i = 1; i < HISTORY_SAMPLES; i++) {
		const struct history_sample *s = slot_at(later - i * HISTORY_STEP);

		ck_assert_int_eq(s->slot, (later - i * HISTORY_STEP) / HISTORY_STEP);
		ck_assert_uint_eq(s->pending, 7);
	}
	ck_assert_uint_eq(slot_at(later)->pending, 1);
}
END_TEST

START_TEST(clock_steps_back)
{
	history_backlog(&h, T0 + 100, 5, 0);
	history_backlog(&h, T0 - 1000, 1, 0);
	/* Recorded as the latest slot: the past is not rewritten. */
	ck_assert_int_eq(h.last_slot, (T0 + 100) / HISTORY_STEP);
	ck_assert_uint_eq(slot_at(T0 + 100)->pending, 5);
	ck_assert_uint_eq(h.cur_pending, 1);
	add("late", "finished", "", 1, 1, T0 - 5000);
	ck_assert_int_eq(history_task_nth(&h, 0)->finished_at, T0 + 100);
}
END_TEST

START_TEST(json_shape)
{
	int64_t now = T0 + 3 * HISTORY_STEP;
	json_t *j, *tasks, *b, *pend, *dead, *counts;
	struct history_task t = { .run_s = -1, .total_s = 0.5, .memory = 1 << 20, .finished_at = T0 + 1 };

	snprintf(t.id, sizeof(t.id), "crashed");
	snprintf(t.status, sizeof(t.status), "failed");
	snprintf(t.reason, sizeof(t.reason), "crash");
	add("first", "finished", "", 0.25, 0.75, T0);
	history_task_add(&h, &t);
	history_backlog(&h, T0 + HISTORY_STEP, 2, 1);
	history_backlog(&h, now, 0, 1);
	j = history_json(&h, now);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "now")), now);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "tasks_max")), HISTORY_TASKS);
	tasks = json_object_get(j, "tasks");
	ck_assert_uint_eq(json_array_size(tasks), 2);
	/* Oldest first. */
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(tasks, 0), "id")), "first");
	ck_assert(json_object_get(json_array_get(tasks, 0), "reason") == NULL);
	ck_assert(json_real_value(json_object_get(json_array_get(tasks, 0), "run")) == 0.25);
	ck_assert(json_object_get(json_array_get(tasks, 0), "memory") == NULL);
	ck_assert(json_is_null(json_object_get(json_array_get(tasks, 1), "run")));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(tasks, 1), "reason")), "crash");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(tasks, 1), "memory")), 1 << 20);
	counts = json_object_get(j, "last_hour");
	ck_assert_uint_eq(json_array_size(counts), HISTORY_KINDS);
	for (size_t k = 0; k < HISTORY_KINDS; k++) {
		json_t *c = json_array_get(counts, k);
		const char *r = json_string_value(json_object_get(c, "reason"));
		json_int_t n = json_integer_value(json_object_get(c, "count"));

		if (r != NULL && strcmp(r, "crash") == 0)
			ck_assert_int_eq(n, 1);
		else if (strcmp(json_string_value(json_object_get(c, "status")), "finished") == 0)
			ck_assert_int_eq(n, 1);
		else
			ck_assert_int_eq(n, 0);
	}
	b = json_object_get(j, "backlog");
	pend = json_object_get(b, "pending");
	dead = json_object_get(b, "dead");
	ck_assert_int_eq(json_integer_value(json_object_get(b, "step")), HISTORY_STEP);
	ck_assert_uint_eq(json_array_size(pend), HISTORY_SAMPLES);
	ck_assert_uint_eq(json_array_size(dead), HISTORY_SAMPLES);
	ck_assert_int_eq(json_integer_value(json_object_get(b, "start")),
	    now - (HISTORY_SAMPLES - 1) * HISTORY_STEP);
	/* ... null before the first report, then 2, 2 (filled), 0. */
	ck_assert(json_is_null(json_array_get(pend, HISTORY_SAMPLES - 4)));
	ck_assert_int_eq(json_integer_value(json_array_get(pend, HISTORY_SAMPLES - 3)), 2);
	ck_assert_int_eq(json_integer_value(json_array_get(pend, HISTORY_SAMPLES - 2)), 2);
	ck_assert_int_eq(json_integer_value(json_array_get(pend, HISTORY_SAMPLES - 1)), 0);
	ck_assert_int_eq(json_integer_value(json_array_get(dead, HISTORY_SAMPLES - 1)), 1);
	json_decref(j);
}
END_TEST

/* Times near zero (a clock not yet set) index the rings safely. */
START_TEST(small_times)
{
	json_t *j;

	add("early", "finished", "", 1, 1, 3);
	history_backlog(&h, 5, 1, 0);
	j = history_json(&h, 7);
	ck_assert_ptr_nonnull(j);
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(j, "backlog"), "pending")), HISTORY_SAMPLES);
	json_decref(j);
}
END_TEST

static Suite *history_suite(void)
{
	Suite *s = suite_create("history");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, ring_keeps_newest);
	tcase_add_test(tc, ring_partial);
	tcase_add_loop_test(tc, counts_by_kind, 0, sizeof(kind_cases) / sizeof(kind_cases[0]));
	tcase_add_test(tc, counts_last_hour_only);
	tcase_add_test(tc, backlog_fills_gaps);
	tcase_add_test(tc, backlog_keeps_peak);
	tcase_add_test(tc, backlog_long_gap);
	tcase_add_test(tc, clock_steps_back);
	tcase_add_test(tc, json_shape);
	tcase_add_test(tc, small_times);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(history_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
