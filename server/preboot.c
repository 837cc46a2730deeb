/*
 * preboot.c: the instance's next guest, booted while the instance is idle.
 *
 * Owns: the one pre-booted guest (sandbox/preboot.c has the mechanism), its
 * health checks while it waits, its replacement when it dies (logged, with
 * the console's tail), a backoff when boots keep failing, and the choice,
 * for each task, between it and a fresh boot.
 * Runs on the runner thread only (no locks): the guest's UML is that
 * thread's child, and its parent-death signal is bound to that thread.
 * Never: makes the instance busy (the slot is the runner's alone), holds a
 * guest while the daemon drains or stops, or gives one guest two tasks.
 *
 * What is fixed at boot must match the task: a task asking for another
 * memory size than the instance's (mem= is fixed at boot) gets a fresh
 * guest, and the pre-booted one is killed, so that one instance never holds
 * two guests' memory.
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <stdio.h>

#include "common/log.h"
#include "common/util.h"

#define PREBOOT_CHECK_S 1.0	/* health check of a waiting guest */
#define PREBOOT_BACKOFF_MIN_S 1.0
#define PREBOOT_BACKOFF_MAX_S 60.0

static int preboot_on;
static uint64_t preboot_disk;
static struct sandbox_guest *guest;
static double guest_checked;
static double next_boot;	/* no boot before this (backoff after failures) */
static double backoff;
static unsigned long boots, deaths;

void preboot_init(int on, uint64_t disk_cap)
{
	preboot_on = on;
	preboot_disk = disk_cap;
	backoff = PREBOOT_BACKOFF_MIN_S;
}

static void preboot_failed(void)
{
	next_boot = mono_now() + backoff;
	backoff = backoff * 2 < PREBOOT_BACKOFF_MAX_S ? backoff * 2 : PREBOOT_BACKOFF_MAX_S;
}

/* Seconds the idle runner may sleep before preboot_idle() has work: 0 now,
 * -1 never (nothing to boot or watch). */
double preboot_idle_wait(void)
{
	double now = mono_now();

	if (!preboot_on)
		return -1;
	if (guest != NULL)
		return guest_checked + PREBOOT_CHECK_S > now ? guest_checked + PREBOOT_CHECK_S - now : 0;
	return next_boot > now ? next_boot - now : 0;
}

/* The idle runner's work: check the waiting guest, replace a dead one, or
 * boot one. Blocks for a boot (0.1-1.5 s); a task that arrives meanwhile
 * waits for it, then finds a guest ready. */
void preboot_idle(const struct sandbox_config *sb)
{
	char err[512];
	double t0;

	if (!preboot_on)
		return;
	if (guest != NULL) {
		guest_checked = mono_now();
		if (sandbox_guest_check(guest, err, sizeof(err)) == 0)
			return;
		deaths++;
		log_warnx("pre-boot: %s; replacing it", err);
		sandbox_guest_free(guest);
		guest = NULL;
		preboot_failed();
		return;
	}
	t0 = mono_now();
	guest = sandbox_guest_boot(sb, preboot_disk, err, sizeof(err));
	if (guest == NULL) {
		log_warnx("pre-boot: %s (next try in %.0f s; tasks boot their own guest meanwhile)", err,
		    backoff);
		preboot_failed();
		return;
	}
	boots++;
	guest_checked = mono_now();
	backoff = PREBOOT_BACKOFF_MIN_S;
	log_debug("pre-boot: guest %lu ready in %.3f s", boots, guest_checked - t0);
}

/* The guest for a task run under sb with tar, or NULL for a fresh boot. */
struct sandbox_guest *preboot_take(const struct sandbox_config *sb, const char *tar, const char *task_id)
{
	struct sandbox_guest *g = guest;
	char err[512];

	if (g == NULL)
		return NULL;
	guest = NULL;
	if (sandbox_guest_check(g, err, sizeof(err)) < 0) {
		deaths++;
		log_warnx("task %s: pre-boot: %s; booting a fresh guest", task_id, err);
		sandbox_guest_free(g);
		return NULL;
	}
	if (!sandbox_guest_fits(g, sb, tar)) {
		log_info("task %s: its memory (%lluM) or size does not fit the pre-booted guest; "
		    "booting a fresh one", task_id, (unsigned long long)(sb->limits.memory >> 20));
		sandbox_guest_free(g);
		return NULL;
	}
	log_debug("task %s: pre-booted guest, waited %.3f s", task_id, sandbox_guest_age(g));
	return g;
}

void preboot_stop(void)
{
	if (guest != NULL)
		log_debug("pre-boot: guest stopped");
	sandbox_guest_free(guest);
	guest = NULL;
	if (boots > 0 || deaths > 0)
		log_info("pre-boot: %lu guests booted ahead, %lu died waiting", boots, deaths);
}
