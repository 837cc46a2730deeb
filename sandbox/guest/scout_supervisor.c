/*
 * scout_supervisor.c: answers the syscalls Scout's filter traps (runs in
 * the Carrier, never in the task).
 * Owns: reading paths out of the task (process_vm_readv, bounded, the
 * notification id re-checked after the read), resolving them as the task
 * would (its cwd or dirfd, its /proc/self; a cache of names the task cannot
 * change), asking the policy (in-process Command Center, or the host over
 * the channel, with a per-path cache and the host's scopes), performing
 * allowed calls itself with the task's file-system credentials
 * (the Flight Deck set fsuid/fsgid and dropped supplementary groups), and
 * installing opened fds with SECCOMP_IOCTL_NOTIF_ADDFD + ADDFD_FLAG_SEND.
 * Never: answers CONTINUE after reading task memory, except for execve
 * (SCOUT.md: why that is safe); follows a symlink it did not resolve
 * itself (everything is opened with RESOLVE_NO_SYMLINKS); trusts the
 * channel (a broken channel denies every uncached request).
 */
#define _GNU_SOURCE
#include "sandbox/scout.h"
#include "common/log.h"
#include "common/util.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif

/* Hash tables (struct table: open addressing, power-of-two sizes, filled
 * to 3/4 at most). The decision and name caches start small and double as
 * they fill, so a short run touches little memory (every page is a fault in
 * UML); the scopes are one fixed array. */
#define CACHE_MAX 4096		/* decisions per (path, access) */
#define SCOPE_SLOTS 256		/* the host's scopes: a few per policy rule */
#define WBUF_SIZE 16384		/* frames to the host that wait for no answer */
#define NAME_MAX_SLOTS 16384	/* the name cache */
#define CLOSING_MAX 32		/* system files' fds closed together */
#define TABLE_MIN 256
#define CHANNEL_TIMEOUT_MS 10000
#define MAX_LINKS 40
#define KERNEL_O_LARGEFILE 0100000

/*
 * An open-addressing table of one slot type. Every slot type begins with
 * its key string (char *), NULL in an empty slot: that is all the shared
 * code knows of a slot. At most 3/4 of the slots are used, so a probe
 * always ends at an empty slot.
 */
struct table {
	void *slot;
	size_t cap;		/* 0 or a power of two */
	size_t used;
};

/* What a probe compares a slot with. */
struct key {
	const char *s;
	size_t len;
	uint8_t access;
};

struct cache_slot {
	char *path;		/* the key: first */
	uint8_t access;
	uint8_t verdict;
	uint32_t unsent;	/* channel mode: hits not yet reported with COUNT */
};
_Static_assert(offsetof(struct cache_slot, path) == 0, "struct table: the key first");

/* A directory (or file) below which the host's verdict for one access
 * holds (VERDICT's scope): asking again about any path below it would only
 * repeat it. */
struct scope_slot {
	char *prefix;		/* the key: first */
	size_t len;
	uint8_t access;
	uint8_t verdict;
};
_Static_assert(offsetof(struct scope_slot, prefix) == 0, "struct table: the key first");

struct scout_supervisor {
	struct command_center *cc;	/* in-process mode, or NULL */
	int chan_fd;			/* channel mode, or -1 */
	int broken;			/* the channel failed: deny what is not cached */
	int acked;			/* HELLO_ACK read */
	uint32_t next_id;
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	struct table cache;		/* of struct cache_slot */
	struct table scopes;		/* of struct scope_slot, in scope_slots */
	struct scope_slot scope_slots[SCOPE_SLOTS];
	uint64_t uncounted;		/* hits neither cached nor reported (COUNT failed) */
	/* the name cache (resolve()); off until scout_supervisor_set_task */
	int cache_names;
	uid_t task_uid;
	gid_t task_gid;
	/* the task may search "/", and the mode bits alone decide what it may
	 * do on the root file system (set_task): else no name is reachable
	 * and every call is made as the task (may_read_as_carrier) */
	int root_reach;
	/* whose credentials the supervisor holds (become_task, become_carrier) */
	int switch_creds;		/* the task's euid differs from the Carrier's */
	int as_task;			/* the task's are in effect now */
	uid_t carrier_euid;
	dev_t root_dev;
	/* sysfs at /sys and cgroup2 at /sys/fs/cgroup (0: not there) */
	dev_t kernel_fs_dev[2];
	int root_fixed;
	struct table names;		/* of struct name_slot */
	/* fds of system files installed in the task, closed later together
	 * (close_later) */
	int closing[CLOSING_MAX];
	size_t nclosing;
	uint8_t rbuf[CHANNEL_MAX_FRAME];
	size_t rlen;
	uint8_t wbuf[WBUF_SIZE];
	size_t wlen;
	struct channel_msg msg;
};

/* One trapped call being answered. */
struct call {
	struct scout_supervisor *sup;
	int notify_fd;
	uint64_t id;
	pid_t tid;
	int acts;		/* performing it changes something: confirm the id first */
};

/* ---- the channel (guest side) ---------------------------------------- */

/* Writes out the queued frames (10 s at most). */
static int chan_flush(struct scout_supervisor *sup)
{
	size_t off = 0;
	double deadline = mono_now() + CHANNEL_TIMEOUT_MS / 1000.0;

	while (off < sup->wlen) {
		struct pollfd pfd = { .fd = sup->chan_fd, .events = POLLOUT };
		int left = (int)((deadline - mono_now()) * 1000);
		ssize_t w;

		if (left <= 0 || poll(&pfd, 1, left) <= 0) {
			if (errno == EINTR)
				continue;
			log_warnx("%s: channel write timed out", __func__);
			return -1;
		}
		w = write(sup->chan_fd, sup->wbuf + off, sup->wlen - off);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0) {
			log_warn("%s: write", __func__);
			return -1;
		}
		off += (size_t)w;
	}
	sup->wlen = 0;
	return 0;
}

/* Queues a frame; written when the queue is full or by chan_flush. Frames
 * that want an answer (HELLO, ASK) go out with chan_send. */
static int chan_queue(struct scout_supervisor *sup, const struct channel_msg *m)
{
	char err[128];
	ssize_t n;

	if (sup->wlen + CHANNEL_MAX_FRAME > sizeof(sup->wbuf) && chan_flush(sup) < 0)
		return -1;
	n = channel_encode(m, sup->wbuf + sup->wlen, sizeof(sup->wbuf) - sup->wlen, err, sizeof(err));
	if (n < 0) {
		log_warnx("%s: %s", __func__, err);
		return -1;
	}
	sup->wlen += (size_t)n;
	return 0;
}

static int chan_send(struct scout_supervisor *sup, const struct channel_msg *m)
{
	return chan_queue(sup, m) < 0 ? -1 : chan_flush(sup);
}

static int chan_recv(struct scout_supervisor *sup, struct channel_msg *m)
{
	double deadline = mono_now() + CHANNEL_TIMEOUT_MS / 1000.0;
	char err[160];

	for (;;) {
		size_t used;
		int rc = channel_decode(sup->rbuf, sup->rlen, m, &used, err, sizeof(err));
		struct pollfd pfd = { .fd = sup->chan_fd, .events = POLLIN };
		int left;
		ssize_t n;

		if (rc < 0) {
			log_warnx("%s: malformed frame from the host: %s", __func__, err);
			return -1;
		}
		if (rc == 1) {
			memmove(sup->rbuf, sup->rbuf + used, sup->rlen - used);
			sup->rlen -= used;
			return 0;
		}
		left = (int)((deadline - mono_now()) * 1000);
		if (left <= 0) {
			log_warnx("%s: no answer from the host", __func__);
			return -1;
		}
		if (poll(&pfd, 1, left) < 0 && errno != EINTR)
			return -1;
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(sup->chan_fd, sup->rbuf + sup->rlen, sizeof(sup->rbuf) - sup->rlen);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			log_warnx("%s: channel closed", __func__);
			return -1;
		}
		sup->rlen += (size_t)n;
	}
}

static void chan_break(struct scout_supervisor *sup)
{
	if (!sup->broken)
		log_warnx("scout: channel to the Command Center broken: denying uncached requests");
	sup->broken = 1;
}

/* HELLO goes out before the task runs (scout_supervisor_hello: at the
 * Flight Deck's fork, or when a held task is released); its HELLO_ACK is
 * read before the first VERDICT (chan_acked), so the round trip overlaps
 * the task's start instead of delaying it. No answer means no VERDICT
 * either: the first question fails closed as any other. */
static void chan_hello(struct scout_supervisor *sup)
{
	memset(&sup->msg, 0, sizeof(sup->msg));
	sup->msg.type = CHANNEL_HELLO;
	if (chan_send(sup, &sup->msg) < 0)
		chan_break(sup);
}

static int chan_acked(struct scout_supervisor *sup)
{
	if (sup->acked)
		return 0;
	if (chan_recv(sup, &sup->msg) < 0 || sup->msg.type != CHANNEL_HELLO_ACK)
		return -1;
	sup->acked = 1;
	return 0;
}

static enum policy_verdict chan_ask(struct scout_supervisor *sup, const char *path,
    enum policy_access a, size_t *scope)
{
	uint32_t id = ++sup->next_id;
	size_t len = strlen(path);

	*scope = 0;
	if (sup->broken || len > CHANNEL_MAX_TEXT)
		return POLICY_DENY;
	memset(&sup->msg, 0, sizeof(sup->msg));
	sup->msg.type = CHANNEL_ASK;
	sup->msg.id = id;
	sup->msg.access = (uint8_t)a;
	memcpy(sup->msg.text, path, len + 1);
	if (chan_send(sup, &sup->msg) < 0 || chan_acked(sup) < 0 || chan_recv(sup, &sup->msg) < 0 ||
	    sup->msg.type != CHANNEL_VERDICT || sup->msg.id != id) {
		chan_break(sup);
		return POLICY_DENY;
	}
	/* A scope is a prefix of path that ends on a component boundary. */
	if (sup->msg.scope > 0 && sup->msg.scope <= len &&
	    (sup->msg.scope == 1 || path[sup->msg.scope] == '/' || path[sup->msg.scope] == '\0'))
		*scope = sup->msg.scope;
	return sup->msg.verdict == POLICY_ALLOW ? POLICY_ALLOW : POLICY_DENY;
}

/* ---- hash tables ------------------------------------------------------ */

/* FNV-1a. */
static uint32_t hash_bytes(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n-- > 0)
		h = (h ^ (uint8_t)*p++) * 16777619u;
	return h;
}

static uint32_t hash_access(const char *p, size_t n, enum policy_access a)
{
	return (hash_bytes(p, n) ^ (uint32_t)a) * 16777619u;
}

static void *table_at(const struct table *t, size_t size, size_t i)
{
	return (unsigned char *)t->slot + (i & (t->cap - 1)) * size;
}

static int slot_empty(const void *slot)
{
	return *(char *const *)slot == NULL;
}

/* The slot where a probe for k (hashed to hash) ends: the one whose key
 * same() finds equal (*found = 1), else the empty one where k belongs.
 * NULL for a table with no slots yet. */
static void *table_find(const struct table *t, size_t size, uint32_t hash,
    int (*same)(const void *slot, const struct key *k), const struct key *k, int *found)
{
	*found = 0;
	if (t->cap == 0)
		return NULL;
	for (size_t i = hash; ; i++) {
		void *s = table_at(t, size, i);

		if (slot_empty(s))
			return s;
		if (same(s, k)) {
			*found = 1;
			return s;
		}
	}
}

/* Makes room for one more slot, doubling the table from TABLE_MIN up to max
 * slots; 0 when there is room, -1 when the table is full at max or the
 * allocation failed (the table is then unchanged). hash: a used slot's. */
static int table_room(struct table *t, size_t size, size_t max, uint32_t (*hash)(const void *slot))
{
	size_t ncap = t->cap != 0 ? t->cap * 2 : TABLE_MIN;
	struct table n = { NULL, ncap, t->used };

	if (t->used + 1 <= t->cap / 4 * 3)
		return 0;
	if (ncap > max || (n.slot = calloc(ncap, size)) == NULL)
		return -1;
	for (size_t i = 0; i < t->cap; i++) {
		const void *o = table_at(t, size, i);
		size_t j;

		if (slot_empty(o))
			continue;
		for (j = hash(o); !slot_empty(table_at(&n, size, j)); j++)
			;
		memcpy(table_at(&n, size, j), o, size);
	}
	free(t->slot);
	*t = n;
	return 0;
}

/* Frees every slot's key. */
static void table_free_keys(struct table *t, size_t size)
{
	for (size_t i = 0; i < t->cap; i++)
		free(*(char **)table_at(t, size, i));
}

/* ---- decisions and their cache ---------------------------------------- */

static int scope_same(const void *slot, const struct key *k)
{
	const struct scope_slot *s = slot;

	return s->access == k->access && s->len == k->len && memcmp(s->prefix, k->s, k->len) == 0;
}

static struct scope_slot *scope_slot(struct scout_supervisor *sup, const char *prefix, size_t len,
    enum policy_access a, int *found)
{
	struct key k = { prefix, len, (uint8_t)a };

	return table_find(&sup->scopes, sizeof(struct scope_slot), hash_access(prefix, len, a),
	    scope_same, &k, found);
}

/* The verdict of a scope that covers path, or -1. */
static int scope_lookup(struct scout_supervisor *sup, const char *path, enum policy_access a)
{
	size_t len = strlen(path);
	int found;

	for (size_t l = 1; l <= len; l++) {
		if (l == 1 || l == len || path[l] == '/') {
			struct scope_slot *s = scope_slot(sup, path, l, a, &found);

			if (found)
				return s->verdict;
		}
	}
	return -1;
}

static void scope_add(struct scout_supervisor *sup, const char *path, size_t len,
    enum policy_access a, enum policy_verdict v)
{
	int found;
	struct scope_slot *s = scope_slot(sup, path, len, a, &found);

	if (found || sup->scopes.used >= SCOPE_SLOTS / 4 * 3 || (s->prefix = strndup(path, len)) == NULL)
		return;
	s->len = len;
	s->access = (uint8_t)a;
	s->verdict = (uint8_t)v;
	sup->scopes.used++;
}

/* Reports one decision the host did not make itself (a scope hit that
 * found no room in the cache) right away, queued with the next frame. */
static void count_now(struct scout_supervisor *sup, const char *path, enum policy_access a,
    enum policy_verdict v)
{
	size_t len = strlen(path);

	if (sup->broken || len > CHANNEL_MAX_TEXT) {
		sup->uncounted++;
		return;
	}
	memset(&sup->msg, 0, sizeof(sup->msg));
	sup->msg.type = CHANNEL_COUNT;
	sup->msg.count = 1;
	sup->msg.access = (uint8_t)a;
	sup->msg.verdict = (uint8_t)v;
	memcpy(sup->msg.text, path, len + 1);
	if (chan_queue(sup, &sup->msg) < 0)
		chan_break(sup);
}

static uint32_t cache_hash(const void *slot)
{
	const struct cache_slot *s = slot;

	return hash_access(s->path, strlen(s->path), (enum policy_access)s->access);
}

static int cache_same(const void *slot, const struct key *k)
{
	const struct cache_slot *s = slot;

	return s->access == k->access && strcmp(s->path, k->s) == 0;
}

/*
 * The policy's answer for (path, a): from the cache of exact paths, from a
 * scope the host gave earlier (the path is then cached as a hit not yet
 * reported: COUNT at the end), or from the Command Center (in-process or an
 * ASK over the channel). Every decision reaches the audit once: the host
 * records what it is asked, COUNT carries the hits.
 */
static enum policy_verdict decide(struct scout_supervisor *sup, const char *path, enum policy_access a)
{
	size_t scope = 0;
	struct key k = { path, strlen(path), (uint8_t)a };
	struct cache_slot *s;
	enum policy_verdict v;
	int sv, found, hit = 0;
	int room = table_room(&sup->cache, sizeof(*s), CACHE_MAX, cache_hash) == 0;

	s = table_find(&sup->cache, sizeof(*s), hash_access(path, k.len, a), cache_same, &k, &found);
	if (found) {
		if (sup->cc != NULL)
			cc_record(sup->cc, path, a, (enum policy_verdict)s->verdict, 1);
		else if (s->unsent < UINT32_MAX)
			s->unsent++;
		return (enum policy_verdict)s->verdict;
	}
	if (sup->cc != NULL)
		v = cc_decide(sup->cc, path, a);
	else if ((sv = scope_lookup(sup, path, a)) >= 0) {
		v = (enum policy_verdict)sv;
		hit = 1;
	} else {
		v = chan_ask(sup, path, a, &scope);
		if (sup->broken)
			return v;
		if (scope > 0)
			scope_add(sup, path, scope, a, v);
	}
	if (!room)
		s = NULL;
	if (s == NULL || (s->path = strdup(path)) == NULL) {
		if (hit)
			count_now(sup, path, a, v);
		return v;
	}
	s->access = (uint8_t)a;
	s->verdict = (uint8_t)v;
	s->unsent = hit;
	sup->cache.used++;
	return v;
}

static void count_denied(struct scout_supervisor *sup, const char *name)
{
	if (sup->cc != NULL) {
		cc_record_denied(sup->cc, name, 1);
		return;
	}
	if (sup->broken)
		return;
	memset(&sup->msg, 0, sizeof(sup->msg));
	sup->msg.type = CHANNEL_DENIED;
	sup->msg.count = 1;
	snprintf(sup->msg.text, sizeof(sup->msg.text), "%s", name);
	if (chan_send(sup, &sup->msg) < 0)
		chan_break(sup);
}

/* ---- credentials ------------------------------------------------------ */

/*
 * The Carrier runs as root: it reads the memory of a task that is not yet
 * dumpable (process_vm_readv needs CAP_SYS_PTRACE, the task's real uid not
 * being the Carrier's), reads /proc/TID/cwd and kills the tree. What it
 * does to a file for the task it does with the task's credentials instead:
 * setresuid(-1, task uid, -1) makes the task's uid the effective and the
 * file-system uid, and leaving euid 0 clears the effective capability set
 * (the kernel's set-uid fixup; checked once in scout_supervisor_set_task);
 * groups and gid are the task's for the whole run (the Flight Deck). So
 * the kernel checks each such call as the task's own, and a file opened
 * this way records the task's credentials (f_cred): /proc/self/pagemap
 * shows PFN 0 and /proc/self/stack refuses to be read, as for the task
 * itself, whatever the policy allows.
 * Why not the other ways: a setfsuid alone (what this replaced) keeps
 * every capability that is not a file-system one; masking capabilities
 * out of the effective set would still leave euid 0, which sysctl files
 * and some drivers check instead of a capability; a helper thread with
 * the task's ids costs a hand-over per trapped call (two context
 * switches, each a ptrace round trip under UML). This costs two setresuid
 * calls per call that touches a file, none for an answer from the caches,
 * and none for a read of a system file the task's mode bits let it read
 * (may_read_as_carrier), where the two credentials cannot differ.
 * Real and saved uid stay the Carrier's: the task cannot signal or ptrace
 * it, and the way back needs no capability.
 */
static int become_task(struct scout_supervisor *sup)
{
	if (!sup->switch_creds || sup->as_task)
		return 0;
	if (setresuid((uid_t)-1, sup->task_uid, (uid_t)-1) < 0) {
		log_warn("%s: setresuid", __func__);
		return EACCES;
	}
	sup->as_task = 1;
	return 0;
}

/* Back to the Carrier's own credentials. Should it ever fail, the
 * supervisor stays the task: reading task memory then fails and every
 * request is refused (closed, not open). */
static void become_carrier(struct scout_supervisor *sup)
{
	if (!sup->as_task)
		return;
	if (setresuid((uid_t)-1, sup->carrier_euid, (uid_t)-1) < 0) {
		log_warn("%s: setresuid", __func__);
		return;
	}
	sup->as_task = 0;
}

/* The switch does what the comment above says on this kernel: as the
 * task, euid is the task's and no capability is effective. */
static int creds_verify(struct scout_supervisor *sup)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int ok;

	if (become_task(sup) != 0)
		return -1;
	memset(d, 0xff, sizeof(d));
	ok = syscall(SYS_capget, &h, d) == 0 && d[0].effective == 0 && d[1].effective == 0 &&
	    geteuid() == sup->task_uid;
	become_carrier(sup);
	if (sup->as_task || geteuid() != sup->carrier_euid)
		return -1;
	return ok ? 0 : -1;
}

/* ---- reading the task ------------------------------------------------- */

static int id_valid(const struct call *c)
{
	return seccomp_notify_id_valid(c->notify_fd, c->id) == 0;
}

/*
 * Copies a NUL-terminated string from the task with process_vm_readv: one
 * syscall, no /proc file to open (the Carrier keeps CAP_SYS_PTRACE, so a
 * task that is not yet dumpable reads too). The remote range is split at
 * the page boundary: a transfer is partial only between iovecs, so a string
 * that ends just before an unmapped page still reads.
 * For a call that acts (c->acts) the notification id is checked after the
 * read: while it is valid the thread is still blocked in the trapped call,
 * so its TID was not reused and the memory read was the task's. A call that
 * only opens for reading skips that ioctl (one of ~9 Carrier syscalls per
 * trap, each a ptrace round trip under UML): its answer, ADDFD with
 * ADDFD_FLAG_SEND or SEND, succeeds only while the same notification is
 * pending, so a string read from a reused TID can at worst open a file the
 * policy allows the task, which is closed again uninstalled.
 * Returns 0, an errno for the task (EFAULT, ENAMETOOLONG), or -ESRCH when
 * the task is gone.
 */
static int read_string(struct call *c, uint64_t addr, char *out, size_t cap)
{
	size_t got = 0;

	if (addr == 0)
		return EFAULT;
	become_carrier(c->sup);
	while (got < cap) {
		uint64_t at = addr + got;
		/* Most paths are short: read 256 bytes first (less to copy),
		 * then the rest. */
		size_t want = got == 0 && cap > 256 ? 256 : cap - got, first = 4096 - (size_t)(at & 4095);
		struct iovec local = { out + got, want };
		struct iovec remote[2] = {
			{ (void *)(uintptr_t)at, first < want ? first : want },
			{ (void *)(uintptr_t)(at + first), first < want ? want - first : 0 },
		};
		ssize_t n = process_vm_readv(c->tid, &local, 1, remote, first < want ? 2 : 1, 0);
		int e = errno;

		if (n <= 0) {
			if (!id_valid(c))
				return -ESRCH;
			return n == 0 || e == EFAULT ? EFAULT : EPERM;
		}
		if (memchr(out + got, '\0', (size_t)n) != NULL)
			return !c->acts || id_valid(c) ? 0 : -ESRCH;
		got += (size_t)n;
	}
	return id_valid(c) ? ENAMETOOLONG : -ESRCH;
}

static pid_t task_tgid(pid_t tid)
{
	char p[64], line[128];
	FILE *f;
	pid_t tgid = 0;

	snprintf(p, sizeof(p), "/proc/%d/status", (int)tid);
	f = fopen(p, "re");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

static int task_umask(pid_t tid, mode_t *mask)
{
	char p[64], line[128];
	FILE *f;
	unsigned int m;
	int rc = -1;

	snprintf(p, sizeof(p), "/proc/%d/status", (int)tid);
	f = fopen(p, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Umask: %o", &m) == 1) {
			*mask = (mode_t)(m & 0777);
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

/* ---- resolution ------------------------------------------------------- */

static int is_digits(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/*
 * The name cache remembers what lstat said of a name (a directory, a
 * symlink and its target, another file, or nothing) when the task cannot
 * change that name while it runs: every directory from / down to it is
 * "fixed", i.e. on the root file system, or on the sysfs at /sys or the
 * cgroup2 at /sys/fs/cgroup (not /proc, /dev or another mount), not owned
 * by the task's uid and without group or other write permission. Only
 * root could change such a directory, and nothing in the guest that runs
 * as root does while the task runs (tmc-init waits for the Carrier); the
 * supervisor performs every mutating call with the task's fsuid, so the
 * kernel refuses a change there whatever the policy says, and mount,
 * chroot and the namespace calls are refused. sysfs also changes on a
 * device's hotplug, which a UML guest has not; cgroup2 when root makes a
 * cgroup, which tmc-init does before the task. System paths (gcc's
 * headers and libraries, the JVM's modules, the cgroup files the JVM reads
 * before each compilation) then resolve with no syscall at all; names in
 * the task dir, /tmp and below any other mount are looked up afresh every
 * time. A task that runs as root (no --uid) gets no cache.
 */
struct name_slot {
	char *path;		/* the key: first */
	size_t len;
	char *target;		/* S_IFLNK: the link's target */
	mode_t type;		/* S_IFMT bits; 0: the name does not exist */
	uint8_t fixed;		/* a directory whose entries are fixed */
	uint8_t reach_in;	/* a fixed directory of the root fs that the task
				 * may reach and search */
	uint8_t readable;	/* a regular file, or a directory of the root fs,
				 * that the task may reach and read */
};
_Static_assert(offsetof(struct name_slot, path) == 0, "struct table: the key first");

/* One name as the walk sees it. */
struct name {
	mode_t type;		/* S_IFMT bits; 0: missing */
	int fixed;
	int reach_in;
	int readable;
	const char *target;
};

static uint32_t name_hash(const void *slot)
{
	const struct name_slot *s = slot;

	return hash_bytes(s->path, s->len);
}

static int name_same(const void *slot, const struct key *k)
{
	const struct name_slot *s = slot;

	return s->len == k->len && memcmp(s->path, k->s, k->len) == 0;
}

static struct name_slot *name_slot(struct scout_supervisor *sup, const char *path, size_t len,
    int *found)
{
	struct key k = { path, len, 0 };

	return table_find(&sup->names, sizeof(struct name_slot), hash_bytes(path, len), name_same, &k,
	    found);
}

/* Is the directory path[0..len) known to be fixed (see above)? *reach:
 * and may the task search it and every directory above it? */
static int known_fixed(struct scout_supervisor *sup, const char *path, size_t len, int *reach)
{
	int found = 0;
	struct name_slot *s;

	if (len == 0) {
		*reach = sup->root_reach;
		return sup->root_fixed;
	}
	s = name_slot(sup, path, len, &found);
	*reach = found && s->reach_in;
	return found && s->fixed;
}

static int fixed_dev(const struct scout_supervisor *sup, dev_t dev)
{
	return dev == sup->root_dev ||
	    (dev != 0 && (dev == sup->kernel_fs_dev[0] || dev == sup->kernel_fs_dev[1]));
}

static int dir_fixed(const struct scout_supervisor *sup, const struct stat *st)
{
	return sup->cache_names && S_ISDIR(st->st_mode) && fixed_dev(sup, st->st_dev) &&
	    st->st_uid != sup->task_uid && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/* What the kernel's permission check grants the task on st by its mode:
 * owner, else group, else other bits (the task has no supplementary
 * groups: flight_deck.c, take_task_identity). bit: S_IROTH or S_IXOTH.
 * Exact only where no ACL can widen or narrow the mode (root_reach). */
static int task_may(const struct scout_supervisor *sup, const struct stat *st, mode_t bit)
{
	if (st->st_uid == sup->task_uid)
		return (st->st_mode & (bit << 6)) != 0;
	if (st->st_gid == sup->task_gid)
		return (st->st_mode & (bit << 3)) != 0;
	return (st->st_mode & bit) != 0;
}

/* The device of the file system of type magic mounted at path, or 0. */
static dev_t kernel_fs(const struct scout_supervisor *sup, const char *path, unsigned long magic)
{
	struct statfs sfs;
	struct stat st;

	if (statfs(path, &sfs) < 0 || (unsigned long)sfs.f_type != magic ||
	    lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_dev == sup->root_dev)
		return 0;
	return st.st_dev;
}

/* What the name path (NUL-terminated, len bytes) is, as the task sees it.
 * parent_fixed: it lies in a fixed directory, so the answer may come from
 * and go to the cache. parent_reach: the task may search that directory
 * and every one above it, so an lstat as the Carrier sees what the task's
 * would (an lstat needs nothing else) and costs no credential switch.
 * Returns 0 (n filled) or an errno. */
static int look_up(struct scout_supervisor *sup, const char *path, size_t len, int parent_fixed,
    int parent_reach, struct name *n, char *linkbuf, size_t linkcap)
{
	struct name_slot *slot = NULL;
	struct stat st;
	int found = 0;

	if (parent_fixed) {
		int room = table_room(&sup->names, sizeof(*slot), NAME_MAX_SLOTS, name_hash) == 0;

		slot = name_slot(sup, path, len, &found);
		if (found) {
			n->type = slot->type;
			n->fixed = slot->fixed;
			n->reach_in = slot->reach_in;
			n->readable = slot->readable;
			n->target = slot->target;
			return 0;
		}
		if (!room)
			slot = NULL;
	}
	parent_reach = parent_fixed && parent_reach;
	if (!parent_reach && become_task(sup) != 0)
		return EACCES;
	if (lstat(path, &st) < 0) {
		if (errno != ENOENT)
			return errno;
		st.st_mode = 0;
	}
	n->type = st.st_mode & S_IFMT;
	n->fixed = parent_fixed && dir_fixed(sup, &st);
	/* reach_in and readable only on the root file system. Its directories
	 * report its st_dev; its files may report a layer's (overlayfs). */
	n->reach_in = parent_reach && n->fixed && st.st_dev == sup->root_dev &&
	    task_may(sup, &st, S_IXOTH);
	n->readable = parent_reach && (n->type == S_IFREG ||
	    (n->type == S_IFDIR && st.st_dev == sup->root_dev)) && task_may(sup, &st, S_IROTH);
	n->target = NULL;
	if (n->type == S_IFLNK) {
		ssize_t r = readlink(path, linkbuf, linkcap - 1);

		if (r <= 0)
			return r == 0 ? ENOENT : errno;
		linkbuf[r] = '\0';
		n->target = linkbuf;
	}
	if (slot != NULL) {
		char *p = strndup(path, len), *t = n->target != NULL ? strdup(n->target) : NULL;

		if (p == NULL || (n->target != NULL && t == NULL)) {
			free(p);
			free(t);
			return 0;
		}
		slot->path = p;
		slot->len = len;
		slot->target = t;
		slot->type = n->type;
		slot->fixed = (uint8_t)n->fixed;
		slot->reach_in = (uint8_t)n->reach_in;
		slot->readable = (uint8_t)n->readable;
		sup->names.used++;
	}
	return 0;
}

/* Below /proc a symlink's target may name no file at all: pipe:[12],
 * socket:[34], anon_inode:[eventfd], net:[4026531840]. Those are refused;
 * paths, absolute or relative (/proc/mounts -> self/mounts), are followed. */
static int proc_target_is_path(const char *t)
{
	if (t[0] == '/')
		return 1;
	for (; *t != '\0'; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
		    *t == '/' || *t == '.' || *t == '_' || *t == '-'))
			return 0;
	return 1;
}

/* What resolve() found at the end of a path. */
struct resolved {
	int exists;
	mode_t type;		/* S_IFMT bits of what exists (the link itself without follow) */
	int fixed_dir;		/* it lies in a fixed directory: no race can swap it */
	int task_readable;	/* ... on the root fs, and the task may read it */
	int task_fd;		/* AT_EMPTY_PATH: the task's fd it names, else -1 */
};

/*
 * Resolves path as the task tid would: relative to base (the task's cwd or
 * dirfd, absolute and symlink-free as the kernel reports it), every symlink
 * followed by reading it here (the last one only if follow_last), the
 * task's /proc/self and /proc/thread-self mapped to its own pid. The result
 * has no symlinks, ".", ".." or "//". A missing last component is allowed
 * (r->exists = 0): it names a file to create. Returns 0 or an errno.
 * A symlink below /proc whose target is not a path (pipe:[..], socket:[..])
 * is refused with EACCES (proc_target_is_path).
 */
static int resolve(struct scout_supervisor *sup, const char *base, const char *path,
    int follow_last, pid_t tid, char *out, size_t outlen, struct resolved *r)
{
	char todo[2 * PATH_MAX + 2], link[PATH_MAX];
	size_t olen = 0, tlen, pos = 0;
	int links = 0, trailing_slash, cur_fixed = sup->root_fixed, cur_reach = sup->root_reach, rc;
	pid_t tgid = 0;
	struct name n = { 0, 0, 0, 0, NULL };

	tlen = strlen(path);
	if (tlen == 0)
		return ENOENT;
	if (tlen >= PATH_MAX)
		return ENAMETOOLONG;
	trailing_slash = path[tlen - 1] == '/';
	memcpy(todo, path, tlen + 1);
	if (path[0] != '/') {
		size_t blen = base != NULL ? strlen(base) : 0;

		if (blen == 0 || base[0] != '/' || blen >= outlen)
			return ENOTDIR;
		memcpy(out, base, blen + 1);
		olen = blen == 1 ? 0 : blen;	/* out holds "" for the root */
		cur_fixed = known_fixed(sup, out, olen, &cur_reach);
	}
	r->exists = 1;
	r->type = S_IFDIR;
	r->fixed_dir = 0;
	r->task_readable = 0;
	r->task_fd = -1;
	out[olen] = '\0';
	for (;;) {
		const char *comp;
		size_t clen, rest, nlen;
		int last;

		while (todo[pos] == '/')
			pos++;
		if (todo[pos] == '\0')
			break;
		comp = todo + pos;
		clen = strcspn(comp, "/");
		pos += clen;
		rest = pos;
		while (todo[rest] == '/')
			rest++;
		last = todo[rest] == '\0';
		if (clen == 1 && comp[0] == '.')
			continue;
		if (clen == 2 && comp[0] == '.' && comp[1] == '.') {
			while (olen > 0 && out[olen - 1] != '/')
				olen--;
			if (olen > 0)
				olen--;
			out[olen] = '\0';
			cur_fixed = known_fixed(sup, out, olen, &cur_reach);
			r->type = S_IFDIR;
			r->fixed_dir = 0;
			r->task_readable = 0;
			continue;
		}
		/* The task's /proc/self is not ours. */
		if (olen == 5 && memcmp(out, "/proc", 5) == 0 &&
		    ((clen == 4 && memcmp(comp, "self", 4) == 0) ||
		    (clen == 11 && memcmp(comp, "thread-self", 11) == 0))) {
			char sub[64];
			int sn;

			if (tgid == 0 && (tgid = task_tgid(tid)) == 0)
				return ESRCH;
			if (clen == 4)
				sn = snprintf(sub, sizeof(sub), "%d", (int)tgid);
			else
				sn = snprintf(sub, sizeof(sub), "%d/task/%d", (int)tgid, (int)tid);
			if (strlen(todo + pos) + (size_t)sn + 1 >= sizeof(todo))
				return ENAMETOOLONG;
			memmove(todo + sn, todo + pos, strlen(todo + pos) + 1);
			memcpy(todo, sub, (size_t)sn);
			pos = 0;
			continue;
		}
		nlen = olen + 1 + clen;
		if (nlen >= outlen || nlen >= PATH_MAX)
			return ENAMETOOLONG;
		out[olen] = '/';
		memcpy(out + olen + 1, comp, clen);
		out[nlen] = '\0';
		if ((rc = look_up(sup, out, nlen, cur_fixed, cur_reach, &n, link, sizeof(link))) != 0)
			return rc;
		r->fixed_dir = cur_fixed;
		r->task_readable = n.readable;
		if (n.type == 0) {
			if (!last)
				return ENOENT;
			r->exists = 0;
			r->type = 0;
			olen = nlen;
			break;
		}
		if (n.type == S_IFLNK && (!last || follow_last)) {
			size_t tl = strlen(n.target), rlen = strlen(todo + pos);

			if (++links > MAX_LINKS)
				return ELOOP;
			if (strncmp(out, "/proc/", 6) == 0 && !proc_target_is_path(n.target))
				return EACCES;
			if (tl + rlen + 2 >= sizeof(todo))
				return ENAMETOOLONG;
			memmove(todo + tl + 1, todo + pos, rlen + 1);
			memmove(todo, n.target, tl);
			todo[tl] = '/';
			pos = 0;
			out[olen] = '\0';
			if (todo[0] == '/') {
				olen = 0;
				out[0] = '\0';
				cur_fixed = sup->root_fixed;
				cur_reach = sup->root_reach;
			}
			continue;
		}
		r->type = n.type;
		olen = nlen;
		if (last && !follow_last)
			break;
		if (!last && n.type != S_IFDIR)
			return ENOTDIR;
		if (last && trailing_slash && n.type != S_IFDIR)
			return ENOTDIR;
		cur_fixed = n.fixed;
		cur_reach = n.reach_in;
	}
	if (olen == 0) {
		if (outlen < 2)
			return ENAMETOOLONG;
		out[0] = '/';
		out[1] = '\0';
	}
	return 0;
}

/* The path of the task's cwd (dirfd AT_FDCWD) or of its fd dirfd, read
 * as the Carrier (the task may not be dumpable yet: its first execve). */
static int task_base(struct scout_supervisor *sup, pid_t tid, int dirfd, char *out, size_t cap)
{
	char p[64];
	ssize_t n;

	become_carrier(sup);
	if (dirfd == AT_FDCWD)
		snprintf(p, sizeof(p), "/proc/%d/cwd", (int)tid);
	else if (dirfd < 0)
		return EBADF;
	else
		snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)tid, dirfd);
	n = readlink(p, out, cap - 1);
	if (n < 0)
		return errno == ENOENT ? EBADF : EACCES;
	out[n] = '\0';
	if (out[0] != '/')
		return ENOTDIR;
	return 0;
}

/* If p starts with the pid of a thread of tid's process (then '/' or the
 * end), the rest of p after it; else NULL. *tgid: tid's process, looked up
 * once (0 until then). */
static const char *own_pid(const char *p, pid_t tid, pid_t *tgid)
{
	size_t n = strspn(p, "0123456789");
	pid_t pid;

	/* The kernel knows no /proc/0123: a pid has no leading zero. */
	if (!is_digits(p, n) || n > 9 || p[0] == '0' || (p[n] != '\0' && p[n] != '/'))
		return NULL;
	pid = (pid_t)strtol(p, NULL, 10);
	if (pid == tid)
		return p + n;
	if (*tgid == 0 && (*tgid = task_tgid(tid)) == 0)
		return NULL;
	if (pid == *tgid || task_tgid(pid) == *tgid)
		return p + n;
	return NULL;
}

/* The policy's view of a canonical path: /proc/<pid> of the task's own
 * process or of any of its threads is /proc/self, and so is
 * /proc/self/task/<tid> of any of its threads. So `allow ro /proc/self`
 * means "its own, nobody else's", and a rule for /proc/self/X binds every
 * name of X: /proc/thread-self/X, /proc/<pid>/task/<tid>/X, /proc/<tid>/X
 * (resolve() has already followed symlinks: /proc/self/root/proc/self/X
 * and a link to X in the task dir are X). */
static void policy_view(pid_t tid, const char *canon, char *out, size_t cap)
{
	pid_t tgid = 0;
	const char *rest, *thread;

	if (strncmp(canon, "/proc/", 6) != 0 || (rest = own_pid(canon + 6, tid, &tgid)) == NULL) {
		snprintf(out, cap, "%s", canon);
		return;
	}
	if (strncmp(rest, "/task/", 6) == 0 && (thread = own_pid(rest + 6, tid, &tgid)) != NULL)
		rest = thread;
	snprintf(out, cap, "/proc/self%s", rest);
}

/* ---- answering -------------------------------------------------------- */

static void respond(struct scout_supervisor *sup, const struct call *c, int64_t val, int err,
    int cont)
{
	memset(sup->resp, 0, sizeof(*sup->resp));
	sup->resp->id = c->id;
	sup->resp->val = err != 0 ? 0 : val;
	sup->resp->error = err != 0 ? -err : 0;
	sup->resp->flags = cont ? SECCOMP_USER_NOTIF_FLAG_CONTINUE : 0;
	/* ENOENT: the task died or was interrupted meanwhile; nothing to do. */
	(void)seccomp_notify_respond(c->notify_fd, sup->resp);
}

/* Resolves one path argument: reads it, finds its base, canonicalises it. */
static int get_path(struct call *c, int dirfd, uint64_t addr, int follow, int empty_ok,
    char *canon, struct resolved *res)
{
	char raw[PATH_MAX], base[PATH_MAX];
	int rc = read_string(c, addr, raw, sizeof(raw));

	if (rc != 0)
		return rc;
	if (raw[0] == '\0') {
		if (!empty_ok)
			return ENOENT;
		rc = task_base(c->sup, c->tid, dirfd, canon, PATH_MAX);
		res->exists = 1;
		res->type = 0;		/* unknown */
		res->fixed_dir = 0;
		res->task_readable = 0;
		res->task_fd = dirfd;
		return rc;
	}
	if (raw[0] != '/' && (rc = task_base(c->sup, c->tid, dirfd, base, sizeof(base))) != 0)
		return rc;
	return resolve(c->sup, base, raw, follow, c->tid, canon, PATH_MAX, res);
}

static int check(struct scout_supervisor *sup, const struct call *c, const char *canon,
    enum policy_access a)
{
	char view[PATH_MAX + 16];

	policy_view(c->tid, canon, view, sizeof(view));
	return decide(sup, view, a) == POLICY_ALLOW ? 0 : EACCES;
}

/* Opens canon, a path with no symlink left in it, with the credentials in
 * effect. */
static int openat2_nofollow(const char *canon, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)flags,
		.mode = (flags & (O_CREAT | __O_TMPFILE)) ? mode & 07777 : 0,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(__NR_openat2, AT_FDCWD, canon, &how, sizeof(how));
}

/* Opens canon for the task, as the task: the calls that act on the fd or
 * on names below it (mkdirat, unlinkat, ...) follow with no switch back in
 * between, so they run as the task too. */
static int open_nofollow(struct scout_supervisor *sup, const char *canon, int flags, mode_t mode)
{
	if (become_task(sup) != 0) {
		errno = EACCES;
		return -1;
	}
	return openat2_nofollow(canon, flags, mode);
}

/*
 * May this open be performed as the Carrier, with no switch to the task's
 * credentials and back (two setresuid calls, each a ptrace round trip
 * under UML: ~17 ms of a pre-booted c-hello's ~340 ms)? Only a plain read
 * of a system file (a regular file or directory in a fixed directory on
 * the root file system) that the task itself may reach and read:
 *  - The kernel would let the task open it: its mode grants the task read,
 *    and every directory above it search (task_may), and nothing else
 *    decides (root_reach: the guest kernel has no POSIX ACLs and no LSM).
 *    O_NOATIME, which wants the owner, is left to the task's own check.
 *  - It is the file the task's open would get: nothing in a fixed
 *    directory changes while the task runs (see the name cache).
 *  - The file records the Carrier's credentials (f_cred), which a read of
 *    a regular file or a directory listing on tmpfs, squashfs or overlayfs
 *    never consults; what can be done through the fd beyond reading
 *    (fchdir, fchmod, openat on it, a re-open through /proc/self/fd) is
 *    checked against the caller's credentials or trapped and judged anew.
 *    /proc, /sys and the other special files keep the task's credentials.
 */
static int may_read_as_carrier(const struct resolved *res, enum policy_access a, int flags)
{
	return a == POLICY_READ && res->task_readable && (flags & O_ACCMODE) == O_RDONLY &&
	    !(flags & (O_CREAT | __O_TMPFILE | O_TRUNC | O_NOATIME | O_PATH));
}

/* Opens the directory holding the last component of canon, and points
 * *name at that component. */
static int open_parent(struct scout_supervisor *sup, char *canon, const char **name)
{
	char *slash = strrchr(canon, '/');
	int fd;

	if (slash == NULL || slash[1] == '\0')
		return -EINVAL;
	*slash = '\0';
	fd = open_nofollow(sup, canon[0] != '\0' ? canon : "/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
	*slash = '/';
	*name = slash + 1;
	return fd < 0 ? -errno : fd;
}

static int with_umask(pid_t tid, mode_t *old)
{
	mode_t m;

	if (task_umask(tid, &m) < 0)
		return ESRCH;
	*old = umask(m);
	return 0;
}

/*
 * Closes later, together, the Carrier's copies of the system files it
 * installed in the task: one close_range per run of consecutive fds among
 * them, instead of one close per file (each a ptrace round trip under
 * UML). Holding them meanwhile changes nothing for the task: regular files
 * or directories opened read-only, in directories nothing can change (no
 * ETXTBSY, no FIFO's writer, no device). Only fds listed here are ever in
 * a run closed: the Carrier's own (the listener, the channel) never are.
 */
static void close_pending(struct scout_supervisor *sup)
{
	int *fd = sup->closing;
	size_t n = sup->nclosing;

	for (size_t i = 1; i < n; i++)		/* insertion sort: n <= CLOSING_MAX */
		for (size_t k = i; k > 0 && fd[k - 1] > fd[k]; k--) {
			int t = fd[k];

			fd[k] = fd[k - 1];
			fd[k - 1] = t;
		}
	for (size_t i = 0; i < n;) {
		size_t e = i;

		while (e + 1 < n && fd[e + 1] == fd[e] + 1)
			e++;
		if (syscall(SYS_close_range, (unsigned int)fd[i], (unsigned int)fd[e], 0) < 0)
			for (size_t k = i; k <= e; k++)
				close(fd[k]);
		i = e + 1;
	}
	sup->nclosing = 0;
}

static void close_later(struct scout_supervisor *sup, int fd)
{
	sup->closing[sup->nclosing++] = fd;
	if (sup->nclosing == CLOSING_MAX)
		close_pending(sup);
}

static int do_open(struct scout_supervisor *sup, struct call *c, int dirfd, uint64_t addr,
    int flags, mode_t mode, int64_t *fdout)
{
	const int known = O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND |
	    O_NONBLOCK | O_DSYNC | O_SYNC | O_DIRECT | KERNEL_O_LARGEFILE | O_DIRECTORY |
	    O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_PATH | __O_TMPFILE | FASYNC;
	char canon[PATH_MAX];
	struct resolved res;
	int rc, fd, follow, nonblock, system_file, open_flags;
	enum policy_access a;
	mode_t old = 0;
	struct seccomp_notif_addfd addfd;

	follow = !(flags & O_NOFOLLOW) && (flags & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL);
	c->acts = 0;		/* confirmed below once the file's kind is known */
	if ((rc = get_path(c, dirfd, addr, follow, 0, canon, &res)) != 0)
		return rc;
	if (flags & O_PATH)
		a = POLICY_READ;
	else if ((flags & __O_TMPFILE) == __O_TMPFILE || ((flags & O_CREAT) && !res.exists))
		a = POLICY_CREATE;
	else if ((flags & O_ACCMODE) == O_RDONLY && !(flags & O_TRUNC))
		a = POLICY_READ;
	else
		a = POLICY_WRITE;
	if ((rc = check(sup, c, canon, a)) != 0)
		return rc;
	/* Nothing can appear in a fixed directory: no open needed to say so. */
	if (!res.exists && res.fixed_dir && !(flags & (O_CREAT | __O_TMPFILE)))
		return ENOENT;
	/* O_PATH: ADDFD cannot pass such a file (the kernel's fget() skips
	 * them), so the task's own open goes on (CONTINUE). Its path may be
	 * swapped meanwhile, but an O_PATH fd reads and writes nothing: the
	 * task may stat, chdir and readlink any name anyway, and every call
	 * that reaches contents through the fd (open of /proc/self/fd/N, an
	 * *at call with it as dirfd, execveat) is trapped and resolved through
	 * /proc/TID/fd to the file's real path, which the policy then judges. */
	if (flags & O_PATH)
		return -ECANCELED;
	flags &= known;
	/* A regular file or directory in a fixed directory: nothing can swap
	 * it for a FIFO or a device. */
	system_file = res.fixed_dir && (res.type == S_IFREG || res.type == S_IFDIR);
	/* Opening to change, or anything but a system file (a FIFO's open
	 * wakes its writer, a device's runs its driver), acts: only on the
	 * task's still-pending call. A read-only open of a system file or
	 * directory has nothing to undo. */
	if ((a != POLICY_READ || !system_file) && !id_valid(c))
		return -ESRCH;
	/* O_NONBLOCK: a FIFO must not stall the one supervisor thread; it is
	 * cleared again below unless the task asked for it. Not needed for a
	 * system file, which spares two fcntl calls on each.
	 * O_NOCTTY: a terminal never becomes the Carrier's. */
	nonblock = !(flags & O_NONBLOCK) && !system_file;
	if ((flags & (O_CREAT | __O_TMPFILE)) && (rc = with_umask(c->tid, &old)) != 0)
		return rc;
	open_flags = flags | O_CLOEXEC | O_NOCTTY | (nonblock ? O_NONBLOCK : 0);
	if (may_read_as_carrier(&res, a, flags)) {
		become_carrier(sup);
		fd = openat2_nofollow(canon, open_flags, 0);
	} else {
		fd = open_nofollow(sup, canon, open_flags, mode);
	}
	rc = errno;
	if (flags & (O_CREAT | __O_TMPFILE))
		umask(old);
	if (fd < 0)
		return rc;
	if (nonblock) {
		int fl = fcntl(fd, F_GETFL);

		if (fl >= 0)
			(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	memset(&addfd, 0, sizeof(addfd));
	addfd.id = c->id;
	addfd.flags = SECCOMP_ADDFD_FLAG_SEND;
	addfd.srcfd = (uint32_t)fd;
	addfd.newfd_flags = (uint32_t)(flags & O_CLOEXEC);
	rc = ioctl(c->notify_fd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
	if (a == POLICY_READ && system_file)
		close_later(sup, fd);
	else
		close(fd);
	if (rc < 0)
		return errno == ENOENT ? -ESRCH : errno;
	*fdout = rc;
	return -EINPROGRESS;	/* answered by ADDFD_FLAG_SEND */
}

/* ---- exec: the interpreters the kernel opens itself --------------------- */

/*
 * An exec rule must bind what the kernel runs, and the kernel opens more
 * than the path it is given: the interpreter of a `#!` script (which may be
 * a script again) and the PT_INTERP of an ELF file. Scout never sees those
 * opens, so before answering an execve the supervisor reads the image as
 * the kernel will (the same bytes, parsed by the kernel's rules:
 * fs/binfmt_script.c, fs/binfmt_elf.c), resolves each interpreter as the
 * kernel does (relative names against the task's cwd, symlinks followed)
 * and asks the policy for `exec` of it. A denied interpreter refuses the
 * exec with EACCES, as a denied program does. The image is read with the
 * task's credentials, as every file the supervisor opens for the task: a
 * file the task may execute but not read (mode --x) cannot be checked, so
 * its exec is refused (fail closed; the kernel itself would run it).
 */
#define EXEC_HEAD 4096		/* #! line, ELF header, program headers and PT_INTERP of most files */
#define BINPRM_BUF 256		/* what binfmt_script sees of a file (BINPRM_BUF_SIZE) */
#define MAX_REWRITES 5		/* exec_binprm: 5 levels of interpreters, then ELOOP */
#define MAX_PHDRS_SIZE 65536	/* load_elf_phdrs */

static int is_spacetab(char c)
{
	return c == ' ' || c == '\t';
}

/* The interpreter of a #! line, parsed as load_script does: the first 256
 * bytes (zero-padded); no newline in them is accepted only when the name
 * ends before their end. 0 with name set ("" when the kernel would not
 * take the file as a script: it then fails with ENOEXEC). */
static void script_interp(const char *head, size_t n, char *name, size_t cap)
{
	char buf[BINPRM_BUF];
	const char *end, *last = buf + sizeof(buf) - 1, *i_name, *p;
	size_t len;

	name[0] = '\0';
	memset(buf, 0, sizeof(buf));
	memcpy(buf, head, n < sizeof(buf) ? n : sizeof(buf));
	end = memchr(buf, '\n', sizeof(buf));
	if (end == NULL) {
		for (p = buf + 2; p <= last && is_spacetab(*p); p++)
			;
		if (p > last)
			return;
		while (p <= last && !is_spacetab(*p) && *p != '\0')
			p++;
		if (p > last)
			return;		/* the name may be truncated */
		end = last;
	}
	while (end > buf + 2 && is_spacetab(end[-1]))
		end--;
	for (i_name = buf + 2; i_name < end && is_spacetab(*i_name); i_name++)
		;
	if (i_name >= end)
		return;
	for (p = i_name; p < end && !is_spacetab(*p) && *p != '\0'; p++)
		;
	len = (size_t)(p - i_name);
	if (len >= cap)
		return;
	memcpy(name, i_name, len);
	name[len] = '\0';
}

/* Reads len bytes at off: from head when they are there, else with pread. */
static int image_read(int fd, const char *head, size_t n, uint64_t off, void *out, size_t len)
{
	if (off <= n && len <= n - off) {
		memcpy(out, head + off, len);
		return 0;
	}
	if (off > (uint64_t)INT64_MAX)
		return -1;
	return pread(fd, out, len, (off_t)off) == (ssize_t)len ? 0 : -1;
}

/* The PT_INTERP of an ELF image, as load_elf_binary finds it: the first
 * PT_INTERP header of an executable or shared object whose program
 * headers are well formed; its string is 2..PATH_MAX bytes ending in NUL.
 * name = "" when there is none (or the kernel would refuse the file). */
static int elf_interp(int fd, const char *head, size_t n, char *name, size_t cap)
{
	int is64 = head[EI_CLASS] == ELFCLASS64;
	uint64_t phoff, off = 0, filesz = 0;
	size_t phentsize, phnum, size;
	uint16_t type;
	unsigned char *ph;
	int found = 0;

	name[0] = '\0';
	if (head[EI_DATA] != ELFDATA2LSB || (!is64 && head[EI_CLASS] != ELFCLASS32))
		return 0;
	if (is64) {
		Elf64_Ehdr e;

		if (n < sizeof(e))
			return 0;
		memcpy(&e, head, sizeof(e));
		type = e.e_type;
		phoff = e.e_phoff;
		phentsize = e.e_phentsize;
		phnum = e.e_phnum;
		if (phentsize != sizeof(Elf64_Phdr))
			return 0;
	} else {
		Elf32_Ehdr e;

		if (n < sizeof(e))
			return 0;
		memcpy(&e, head, sizeof(e));
		type = e.e_type;
		phoff = e.e_phoff;
		phentsize = e.e_phentsize;
		phnum = e.e_phnum;
		if (phentsize != sizeof(Elf32_Phdr))
			return 0;
	}
	size = phentsize * phnum;
	if ((type != ET_EXEC && type != ET_DYN) || size == 0 || size > MAX_PHDRS_SIZE)
		return 0;
	if ((ph = malloc(size)) == NULL)
		return ENOMEM;
	if (image_read(fd, head, n, phoff, ph, size) < 0) {
		free(ph);
		return 0;		/* the kernel cannot read them either */
	}
	for (size_t i = 0; i < phnum && !found; i++) {
		if (is64) {
			Elf64_Phdr p;

			memcpy(&p, ph + i * phentsize, sizeof(p));
			found = p.p_type == PT_INTERP;
			off = p.p_offset;
			filesz = p.p_filesz;
		} else {
			Elf32_Phdr p;

			memcpy(&p, ph + i * phentsize, sizeof(p));
			found = p.p_type == PT_INTERP;
			off = p.p_offset;
			filesz = p.p_filesz;
		}
	}
	free(ph);
	if (!found || filesz < 2 || filesz > PATH_MAX || filesz > cap)
		return 0;
	if (image_read(fd, head, n, off, name, (size_t)filesz) < 0 || name[filesz - 1] != '\0') {
		name[0] = '\0';
		return 0;
	}
	return name[0] == '\0' ? ENOENT : 0;	/* open_exec("") fails so */
}

/* Opens the image canon (or, for execveat AT_EMPTY_PATH, the task's fd)
 * for reading, as the task. 1 with *fd set; 0 when it is not a regular
 * file (the kernel refuses to exec it: nothing to check); or -errno. */
static int open_image(struct scout_supervisor *sup, struct call *c, const char *canon,
    const struct resolved *res, int *fd)
{
	struct stat st;
	char p[64];

	if (res->task_fd >= 0) {
		snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)c->tid, res->task_fd);
		if (become_task(sup) != 0)
			return -EACCES;
		if (stat(p, &st) < 0)
			return -errno;
		if (!S_ISREG(st.st_mode))
			return 0;
		*fd = open(p, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	} else {
		if (res->type != S_IFREG)
			return 0;
		*fd = open_nofollow(sup, canon, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
	}
	if (*fd < 0)
		return -errno;
	if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(*fd);
		return 0;
	}
	return 1;
}

/* The interpreter the image names: name[0] = '\0' when none; *script: it
 * was a #! line (the interpreter is then an image in turn; an ELF's
 * interpreter is loaded as such, its own PT_INTERP ignored). 0 or errno. */
static int image_interp(struct scout_supervisor *sup, struct call *c, const char *canon,
    const struct resolved *res, char *name, size_t cap, int *script)
{
	char head[EXEC_HEAD];
	ssize_t n;
	int fd = -1, rc;

	name[0] = '\0';
	*script = 0;
	if ((rc = open_image(sup, c, canon, res, &fd)) <= 0)
		return -rc;
	n = pread(fd, head, sizeof(head), 0);
	if (n < 0) {
		rc = errno;
		close(fd);
		return rc;
	}
	rc = 0;
	if (n >= 2 && head[0] == '#' && head[1] == '!') {
		script_interp(head, (size_t)n, name, cap);
		*script = 1;
	} else if ((size_t)n > EI_DATA && memcmp(head, ELFMAG, SELFMAG) == 0) {
		rc = elf_interp(fd, head, (size_t)n, name, cap);
	}
	close(fd);
	return rc;
}

/*
 * Checks, for `exec`, each interpreter the kernel would open to run the
 * image canon: a #! chain (at most MAX_REWRITES, as the kernel) and the
 * PT_INTERP of the ELF at its end. Returns 0 or an errno for the task.
 */
static int check_interpreters(struct scout_supervisor *sup, struct call *c, const char *canon,
    const struct resolved *res)
{
	char image[PATH_MAX], name[PATH_MAX], base[PATH_MAX];
	struct resolved r = *res;
	int rc, script, rewrites = 0, have_base = 0;

	snprintf(image, sizeof(image), "%s", canon);
	for (;;) {
		if ((rc = image_interp(sup, c, image, &r, name, sizeof(name), &script)) != 0)
			return rc;
		if (name[0] == '\0')
			return 0;
		if (script && ++rewrites > MAX_REWRITES)
			return ELOOP;
		if (name[0] != '/' && !have_base) {
			if ((rc = task_base(sup, c->tid, AT_FDCWD, base, sizeof(base))) != 0)
				return rc;
			have_base = 1;
		}
		if ((rc = resolve(sup, have_base ? base : NULL, name, 1, c->tid, image, sizeof(image), &r)) != 0)
			return rc;
		if (!r.exists)
			return ENOENT;
		if ((rc = check(sup, c, image, POLICY_EXEC)) != 0)
			return rc;
		if (!script)
			return 0;
	}
}

static int do_exec(struct scout_supervisor *sup, struct call *c, int dirfd, uint64_t addr, int flags)
{
	char canon[PATH_MAX];
	struct resolved res;
	int rc;

	rc = get_path(c, dirfd, addr, !(flags & AT_SYMLINK_NOFOLLOW), flags & AT_EMPTY_PATH,
	    canon, &res);
	if (rc != 0)
		return rc;
	if (!res.exists)
		return ENOENT;
	if ((rc = check(sup, c, canon, POLICY_EXEC)) != 0)
		return rc;
	return check_interpreters(sup, c, canon, &res);
}

/* The last component of the raw path may not be "." or "..": the mutating
 * calls act on a name in a directory. */
static int mutable_name(const char *canon)
{
	const char *s = strrchr(canon, '/');

	return s != NULL && s[1] != '\0';
}

static int do_unlink(struct scout_supervisor *sup, struct call *c, int dirfd, uint64_t addr, int flags)
{
	char canon[PATH_MAX];
	const char *name;
	struct resolved res;
	int rc, pfd;

	if ((rc = get_path(c, dirfd, addr, 0, 0, canon, &res)) != 0)
		return rc;
	if (!mutable_name(canon))
		return EBUSY;
	if ((rc = check(sup, c, canon, POLICY_WRITE)) != 0)
		return rc;
	if ((pfd = open_parent(sup, canon, &name)) < 0)
		return -pfd;
	rc = unlinkat(pfd, name, flags & AT_REMOVEDIR) < 0 ? errno : 0;
	close(pfd);
	return rc;
}

static int do_mkdir(struct scout_supervisor *sup, struct call *c, int dirfd, uint64_t addr, mode_t mode)
{
	char canon[PATH_MAX];
	const char *name;
	struct resolved res;
	int rc, pfd;
	mode_t old;

	if ((rc = get_path(c, dirfd, addr, 0, 0, canon, &res)) != 0)
		return rc;
	if (!mutable_name(canon))
		return EEXIST;
	if ((rc = check(sup, c, canon, res.exists ? POLICY_WRITE : POLICY_CREATE)) != 0)
		return rc;
	if ((pfd = open_parent(sup, canon, &name)) < 0)
		return -pfd;
	if ((rc = with_umask(c->tid, &old)) == 0) {
		rc = mkdirat(pfd, name, mode & 07777) < 0 ? errno : 0;
		umask(old);
	}
	close(pfd);
	return rc;
}

static int do_rename(struct scout_supervisor *sup, struct call *c, int odir, uint64_t oaddr,
    int ndir, uint64_t naddr, unsigned int flags)
{
	char ocanon[PATH_MAX], ncanon[PATH_MAX];
	const char *oname, *nname;
	struct resolved res;
	int rc, opfd, npfd;

	if ((rc = get_path(c, odir, oaddr, 0, 0, ocanon, &res)) != 0)
		return rc;
	if ((rc = get_path(c, ndir, naddr, 0, 0, ncanon, &res)) != 0)
		return rc;
	if (!mutable_name(ocanon) || !mutable_name(ncanon))
		return EBUSY;
	if ((rc = check(sup, c, ocanon, POLICY_WRITE)) != 0 ||
	    (rc = check(sup, c, ncanon, res.exists ? POLICY_WRITE : POLICY_CREATE)) != 0)
		return rc;
	if ((opfd = open_parent(sup, ocanon, &oname)) < 0)
		return -opfd;
	if ((npfd = open_parent(sup, ncanon, &nname)) < 0) {
		close(opfd);
		return -npfd;
	}
	rc = renameat2(opfd, oname, npfd, nname, flags) < 0 ? errno : 0;
	close(opfd);
	close(npfd);
	return rc;
}

/* A new name for an existing file needs write access to the file too, so
 * a read-only file cannot gain a writable name. */
static int do_link(struct scout_supervisor *sup, struct call *c, int odir, uint64_t oaddr,
    int ndir, uint64_t naddr, int flags)
{
	char ocanon[PATH_MAX], ncanon[PATH_MAX];
	const char *oname, *nname;
	struct resolved res;
	int rc, opfd, npfd;

	if (flags & AT_EMPTY_PATH)
		return ENOENT;
	if ((rc = get_path(c, odir, oaddr, flags & AT_SYMLINK_FOLLOW, 0, ocanon, &res)) != 0)
		return rc;
	if (!res.exists)
		return ENOENT;
	if ((rc = get_path(c, ndir, naddr, 0, 0, ncanon, &res)) != 0)
		return rc;
	if (!mutable_name(ocanon) || !mutable_name(ncanon))
		return EPERM;
	if ((rc = check(sup, c, ocanon, POLICY_WRITE)) != 0 ||
	    (rc = check(sup, c, ncanon, POLICY_CREATE)) != 0)
		return rc;
	if ((opfd = open_parent(sup, ocanon, &oname)) < 0)
		return -opfd;
	if ((npfd = open_parent(sup, ncanon, &nname)) < 0) {
		close(opfd);
		return -npfd;
	}
	rc = linkat(opfd, oname, npfd, nname, 0) < 0 ? errno : 0;
	close(opfd);
	close(npfd);
	return rc;
}

/* The target of a symlink is only a string; it is checked when followed. */
static int do_symlink(struct scout_supervisor *sup, struct call *c, uint64_t taddr, int ndir,
    uint64_t naddr)
{
	char target[PATH_MAX], ncanon[PATH_MAX];
	const char *nname;
	struct resolved res;
	int rc, npfd;

	if ((rc = read_string(c, taddr, target, sizeof(target))) != 0)
		return rc;
	if ((rc = get_path(c, ndir, naddr, 0, 0, ncanon, &res)) != 0)
		return rc;
	if (!mutable_name(ncanon))
		return EEXIST;
	if ((rc = check(sup, c, ncanon, POLICY_CREATE)) != 0)
		return rc;
	if ((npfd = open_parent(sup, ncanon, &nname)) < 0)
		return -npfd;
	rc = symlinkat(target, npfd, nname) < 0 ? errno : 0;
	close(npfd);
	return rc;
}

static int do_chmod(struct scout_supervisor *sup, struct call *c, int dirfd, uint64_t addr,
    mode_t mode, int flags)
{
	char canon[PATH_MAX], self[64];
	struct resolved res;
	int rc, fd;

	if ((rc = get_path(c, dirfd, addr, !(flags & AT_SYMLINK_NOFOLLOW), 0, canon, &res)) != 0)
		return rc;
	if (!res.exists)
		return ENOENT;
	if ((rc = check(sup, c, canon, POLICY_WRITE)) != 0)
		return rc;
	fd = open_nofollow(sup, canon, O_PATH | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return errno == ELOOP ? EOPNOTSUPP : errno;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	rc = chmod(self, mode & 07777) < 0 ? errno : 0;
	close(fd);
	return rc;
}

static int do_truncate(struct scout_supervisor *sup, struct call *c, uint64_t addr, off_t len)
{
	char canon[PATH_MAX];
	struct resolved res;
	int rc, fd;
	struct stat st;

	if ((rc = get_path(c, AT_FDCWD, addr, 1, 0, canon, &res)) != 0)
		return rc;
	if (!res.exists)
		return ENOENT;
	if ((rc = check(sup, c, canon, POLICY_WRITE)) != 0)
		return rc;
	fd = open_nofollow(sup, canon, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		rc = EINVAL;
	else
		rc = ftruncate(fd, len) < 0 ? errno : 0;
	close(fd);
	return rc;
}

/* Dispatches one path call. Returns an errno for the task, 0 for success
 * (value 0), -EINPROGRESS when already answered (ADDFD), -ESRCH when the
 * task is gone, -ECANCELED for CONTINUE (execve, and O_PATH opens). */
static int dispatch(struct scout_supervisor *sup, struct call *c, const struct seccomp_data *d)
{
	const __u64 *a = d->args;
	int64_t fd;
	int rc;

	switch (d->nr) {
	case __NR_open:
		return do_open(sup, c, AT_FDCWD, a[0], (int)a[1], (mode_t)a[2], &fd);
	case __NR_openat:
		return do_open(sup, c, (int)a[0], a[1], (int)a[2], (mode_t)a[3], &fd);
	case __NR_creat:
		return do_open(sup, c, AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC, (mode_t)a[1], &fd);
	case __NR_execve:
		rc = do_exec(sup, c, AT_FDCWD, a[0], 0);
		return rc == 0 ? -ECANCELED : rc;
	case __NR_execveat:
		rc = do_exec(sup, c, (int)a[0], a[1], (int)a[4]);
		return rc == 0 ? -ECANCELED : rc;
	case __NR_unlink:
		return do_unlink(sup, c, AT_FDCWD, a[0], 0);
	case __NR_rmdir:
		return do_unlink(sup, c, AT_FDCWD, a[0], AT_REMOVEDIR);
	case __NR_unlinkat:
		return do_unlink(sup, c, (int)a[0], a[1], (int)a[2]);
	case __NR_mkdir:
		return do_mkdir(sup, c, AT_FDCWD, a[0], (mode_t)a[1]);
	case __NR_mkdirat:
		return do_mkdir(sup, c, (int)a[0], a[1], (mode_t)a[2]);
	case __NR_rename:
		return do_rename(sup, c, AT_FDCWD, a[0], AT_FDCWD, a[1], 0);
	case __NR_renameat:
		return do_rename(sup, c, (int)a[0], a[1], (int)a[2], a[3], 0);
	case __NR_renameat2:
		return do_rename(sup, c, (int)a[0], a[1], (int)a[2], a[3], (unsigned int)a[4]);
	case __NR_link:
		return do_link(sup, c, AT_FDCWD, a[0], AT_FDCWD, a[1], 0);
	case __NR_linkat:
		return do_link(sup, c, (int)a[0], a[1], (int)a[2], a[3], (int)a[4]);
	case __NR_symlink:
		return do_symlink(sup, c, a[0], AT_FDCWD, a[1]);
	case __NR_symlinkat:
		return do_symlink(sup, c, a[0], (int)a[1], a[2]);
	case __NR_chmod:
		return do_chmod(sup, c, AT_FDCWD, a[0], (mode_t)a[1], 0);
	case __NR_fchmodat:
		return do_chmod(sup, c, (int)a[0], a[1], (mode_t)a[2], 0);
	case __NR_fchmodat2:
		return do_chmod(sup, c, (int)a[0], a[1], (mode_t)a[2], (int)a[3]);
	case __NR_truncate:
		return do_truncate(sup, c, a[0], (off_t)a[1]);
	default:
		return ENOSYS;
	}
}

/* Answers the notification in sup->req, then clears it: a zeroed req is
 * what NOTIF_RECV wants, and what scout_supervisor_handle_received reads
 * as "none held". */
static int answer(struct scout_supervisor *sup, int notify_fd)
{
	const struct scout_denied *den;
	struct call c;
	int rc;

	c.sup = sup;
	c.notify_fd = notify_fd;
	c.id = sup->req->id;
	c.tid = (pid_t)sup->req->pid;
	c.acts = 1;
	if (sup->req->data.arch != AUDIT_ARCH_X86_64) {
		respond(sup, &c, 0, ENOSYS, 0);	/* the filter kills these first */
	} else if ((den = scout_denied_lookup(sup->req->data.nr)) != NULL) {
		count_denied(sup, den->name);
		respond(sup, &c, 0, den->err, 0);
	} else {
		rc = dispatch(sup, &c, &sup->req->data);
		become_carrier(sup);
		if (rc == -ECANCELED)
			respond(sup, &c, 0, 0, 1);
		else if (rc >= 0)
			respond(sup, &c, 0, rc, 0);
	}
	memset(sup->req, 0, sizeof(*sup->req));
	return 0;
}

int scout_supervisor_handle(struct scout_supervisor *sup, int notify_fd,
    volatile sig_atomic_t *waiting)
{
	int rc = ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, sup->req);
	int e = errno;

	if (waiting != NULL)
		*waiting = 0;
	if (rc < 0) {
		/* ENOENT: the task left the syscall before we read it. */
		if (e == EINTR || e == ENOENT)
			return 0;
		errno = e;
		return -1;
	}
	return answer(sup, notify_fd);
}

int scout_supervisor_handle_received(struct scout_supervisor *sup, int notify_fd)
{
	return sup->req->pid != 0 ? answer(sup, notify_fd) : 0;
}

struct scout_supervisor *scout_supervisor_new(struct command_center *cc, int chan_fd,
    char *err, size_t errlen)
{
	struct scout_supervisor *sup;

	if ((cc == NULL) == (chan_fd < 0)) {
		errbuf_set(err, errlen, "want exactly one of a Command Center and a channel");
		return NULL;
	}
	sup = calloc(1, sizeof(*sup));
	if (sup == NULL || seccomp_notify_alloc(&sup->req, &sup->resp) != 0) {
		free(sup);
		errbuf_set(err, errlen, "out of memory");
		return NULL;
	}
	memset(sup->req, 0, sizeof(*sup->req));	/* see answer() */
	sup->cc = cc;
	sup->chan_fd = chan_fd;
	sup->scopes.slot = sup->scope_slots;
	sup->scopes.cap = SCOPE_SLOTS;
	return sup;
}

/* The names nearly every task looks up first: the shell of a #! line, the
 * ELF loader, its cache and libc. Each is a chain of symlinks on the root
 * file system (/bin -> usr/bin, sh -> dash, /lib64 -> usr/lib64, ...),
 * ~1 ms of lstat and readlink on a cold name cache under UML. A missing
 * one costs one failed lookup. */
static const char *const warm_names[] = {
	"/bin/sh",
	"/lib64/ld-linux-x86-64.so.2",
	"/etc/ld.so.cache",
	"/usr/lib/x86_64-linux-gnu/libc.so.6",
};

void scout_supervisor_warm(struct scout_supervisor *sup, pid_t tid)
{
	char out[PATH_MAX];
	struct resolved r;

	if (!sup->cache_names)
		return;
	for (size_t i = 0; i < sizeof(warm_names) / sizeof(warm_names[0]); i++)
		(void)resolve(sup, NULL, warm_names[i], 1, tid, out, sizeof(out), &r);
	become_carrier(sup);
}

void scout_supervisor_hello(struct scout_supervisor *sup)
{
	if (sup->chan_fd >= 0)
		chan_hello(sup);
}

void scout_supervisor_finish(struct scout_supervisor *sup)
{
	close_pending(sup);
	if (sup->cc != NULL || sup->broken)
		return;
	for (size_t i = 0; i < sup->cache.cap && !sup->broken; i++) {
		struct cache_slot *s = table_at(&sup->cache, sizeof(*s), i);
		size_t len;

		if (s->path == NULL || s->unsent == 0)
			continue;
		len = strlen(s->path);
		if (len > CHANNEL_MAX_TEXT)
			continue;
		memset(&sup->msg, 0, sizeof(sup->msg));
		sup->msg.type = CHANNEL_COUNT;
		sup->msg.count = s->unsent;
		sup->msg.access = s->access;
		sup->msg.verdict = s->verdict;
		memcpy(sup->msg.text, s->path, len + 1);
		if (chan_queue(sup, &sup->msg) < 0)
			chan_break(sup);
		s->unsent = 0;
	}
	if (sup->uncounted > 0)
		log_warnx("scout: %llu decisions could not be reported to the Command Center",
		    (unsigned long long)sup->uncounted);
	memset(&sup->msg, 0, sizeof(sup->msg));
	sup->msg.type = CHANNEL_BYE;
	if (!sup->broken && chan_send(sup, &sup->msg) < 0)
		chan_break(sup);
}

int scout_supervisor_set_task(struct scout_supervisor *sup, uid_t uid, int as_task)
{
	struct stat st;
	int modes_decide;

	sup->task_uid = uid;
	sup->task_gid = getegid();	/* the Flight Deck gave the Carrier the task's */
	sup->carrier_euid = geteuid();
	sup->switch_creds = as_task && uid != sup->carrier_euid;
	sup->as_task = 0;
	sup->cache_names = 0;
	if (sup->switch_creds && creds_verify(sup) < 0) {
		sup->switch_creds = 0;
		return -1;
	}
	if (uid == 0 || lstat("/", &st) < 0)
		return 0;
	sup->root_dev = st.st_dev;
	sup->kernel_fs_dev[0] = kernel_fs(sup, "/sys", SYSFS_MAGIC);
	sup->kernel_fs_dev[1] = kernel_fs(sup, "/sys/fs/cgroup", CGROUP2_SUPER_MAGIC);
	sup->cache_names = 1;
	sup->root_fixed = dir_fixed(sup, &st);
	/* The mode bits decide only where the root file system has no ACL
	 * support: getxattr of an ACL name fails with EOPNOTSUPP there
	 * (ENODATA where ACLs could be set). */
	modes_decide = sup->switch_creds &&
	    getxattr("/", "system.posix_acl_access", NULL, 0) < 0 && errno == EOPNOTSUPP;
	sup->root_reach = modes_decide && sup->root_fixed && task_may(sup, &st, S_IXOTH);
	return 0;
}

int scout_supervisor_broken(const struct scout_supervisor *sup)
{
	return sup->broken;
}

void scout_supervisor_free(struct scout_supervisor *sup)
{
	if (sup == NULL)
		return;
	close_pending(sup);
	table_free_keys(&sup->cache, sizeof(struct cache_slot));
	free(sup->cache.slot);
	table_free_keys(&sup->scopes, sizeof(struct scope_slot));
	for (size_t i = 0; i < sup->names.cap; i++)
		free(((struct name_slot *)table_at(&sup->names, sizeof(struct name_slot), i))->target);
	table_free_keys(&sup->names, sizeof(struct name_slot));
	free(sup->names.slot);
	seccomp_notify_free(sup->req, sup->resp);
	free(sup);
}
