/*
 * scout_supervisor.c: answers the syscalls Scout's filter traps (runs in
 * the Carrier, never in the task).
 * Owns: reading paths out of the task (/proc/TID/mem, bounded, the
 * notification id re-checked after every read), resolving them as the task
 * would (its cwd or dirfd, its /proc/self), asking the policy (in-process
 * Command Center, or the host over the channel, with a per-path cache),
 * performing allowed calls itself with the task's file-system credentials
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

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif

#define CACHE_SLOTS 4096	/* power of two; filled to 3/4 at most */
#define CHANNEL_TIMEOUT_MS 10000
#define MAX_LINKS 40
#define KERNEL_O_LARGEFILE 0100000

struct cache_slot {
	char *path;
	uint8_t access;
	uint8_t verdict;
	uint32_t unsent;	/* channel mode: hits not yet reported with COUNT */
};

struct scout_supervisor {
	struct command_center *cc;	/* in-process mode, or NULL */
	int chan_fd;			/* channel mode, or -1 */
	int broken;			/* the channel failed: deny what is not cached */
	uint32_t next_id;
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	struct cache_slot cache[CACHE_SLOTS];
	size_t cached;
	uint8_t rbuf[CHANNEL_MAX_FRAME];
	size_t rlen;
	struct channel_msg msg;
};

/* One trapped call being answered. */
struct call {
	int notify_fd;
	uint64_t id;
	pid_t tid;
	int mem_fd;
};

/* ---- the channel (guest side) ---------------------------------------- */

static int chan_send(struct scout_supervisor *sup, const struct channel_msg *m)
{
	uint8_t buf[CHANNEL_MAX_FRAME];
	char err[128];
	ssize_t n = channel_encode(m, buf, sizeof(buf), err, sizeof(err));
	size_t off = 0;
	double deadline = mono_now() + CHANNEL_TIMEOUT_MS / 1000.0;

	if (n < 0) {
		log_warnx("%s: %s", __func__, err);
		return -1;
	}
	while (off < (size_t)n) {
		struct pollfd pfd = { .fd = sup->chan_fd, .events = POLLOUT };
		int left = (int)((deadline - mono_now()) * 1000);
		ssize_t w;

		if (left <= 0 || poll(&pfd, 1, left) <= 0) {
			if (errno == EINTR)
				continue;
			log_warnx("%s: channel write timed out", __func__);
			return -1;
		}
		w = write(sup->chan_fd, buf + off, (size_t)n - off);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0) {
			log_warn("%s: write", __func__);
			return -1;
		}
		off += (size_t)w;
	}
	return 0;
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

static int chan_hello(struct scout_supervisor *sup)
{
	memset(&sup->msg, 0, sizeof(sup->msg));
	sup->msg.type = CHANNEL_HELLO;
	if (chan_send(sup, &sup->msg) < 0 || chan_recv(sup, &sup->msg) < 0 ||
	    sup->msg.type != CHANNEL_HELLO_ACK) {
		chan_break(sup);
		return -1;
	}
	return 0;
}

static enum policy_verdict chan_ask(struct scout_supervisor *sup, const char *path,
    enum policy_access a)
{
	uint32_t id = ++sup->next_id;

	size_t len = strlen(path);

	if (sup->broken || len > CHANNEL_MAX_TEXT)
		return POLICY_DENY;
	memset(&sup->msg, 0, sizeof(sup->msg));
	sup->msg.type = CHANNEL_ASK;
	sup->msg.id = id;
	sup->msg.access = (uint8_t)a;
	memcpy(sup->msg.text, path, len + 1);
	if (chan_send(sup, &sup->msg) < 0 || chan_recv(sup, &sup->msg) < 0 ||
	    sup->msg.type != CHANNEL_VERDICT || sup->msg.id != id) {
		chan_break(sup);
		return POLICY_DENY;
	}
	return sup->msg.verdict == POLICY_ALLOW ? POLICY_ALLOW : POLICY_DENY;
}

/* ---- decisions and their cache ---------------------------------------- */

static uint32_t hash_path(const char *p, enum policy_access a)
{
	uint32_t h = 2166136261u;

	for (; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return (h ^ (uint32_t)a) * 16777619u;
}

static enum policy_verdict decide(struct scout_supervisor *sup, const char *path, enum policy_access a)
{
	size_t i = hash_path(path, a) & (CACHE_SLOTS - 1);
	struct cache_slot *s;
	enum policy_verdict v;

	for (; sup->cache[i].path != NULL; i = (i + 1) & (CACHE_SLOTS - 1)) {
		s = &sup->cache[i];
		if (s->access == a && strcmp(s->path, path) == 0) {
			if (sup->cc != NULL)
				cc_record(sup->cc, path, a, (enum policy_verdict)s->verdict, 1);
			else if (s->unsent < UINT32_MAX)
				s->unsent++;
			return (enum policy_verdict)s->verdict;
		}
	}
	v = sup->cc != NULL ? cc_decide(sup->cc, path, a) : chan_ask(sup, path, a);
	if (sup->broken || sup->cached >= CACHE_SLOTS / 4 * 3)
		return v;
	s = &sup->cache[i];
	s->path = strdup(path);
	if (s->path == NULL)
		return v;
	s->access = (uint8_t)a;
	s->verdict = (uint8_t)v;
	sup->cached++;
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

/* ---- reading the task ------------------------------------------------- */

static int id_valid(const struct call *c)
{
	return seccomp_notify_id_valid(c->notify_fd, c->id) == 0;
}

/* Opens a /proc file of the task with the Carrier's own file-system
 * identity: between the Flight Deck's setuid and the task's exec the task
 * is not dumpable, and its /proc files then belong to root. */
static int open_as_carrier(const char *path)
{
	uid_t fsuid = (uid_t)setfsuid(geteuid());
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int e = errno;

	setfsuid(fsuid);
	errno = e;
	return fd;
}

/* Copies a NUL-terminated string from the task. Returns 0, or an errno
 * for the task (EFAULT, ENAMETOOLONG), or -ESRCH when the task is gone. */
static int read_string(struct call *c, uint64_t addr, char *out, size_t cap)
{
	size_t got = 0;

	if (c->mem_fd < 0) {
		char p[64];

		snprintf(p, sizeof(p), "/proc/%d/mem", (int)c->tid);
		c->mem_fd = open_as_carrier(p);
		if (c->mem_fd < 0)
			return id_valid(c) ? EPERM : -ESRCH;
		/* The tid might have been reused before the open: only a still
		 * pending notification proves the fd is the trapped task's. */
		if (!id_valid(c))
			return -ESRCH;
	}
	if (addr == 0)
		return EFAULT;
	while (got < cap) {
		size_t chunk = 4096 - (size_t)((addr + got) & 4095);
		ssize_t n;
		char *nul;

		if (chunk > cap - got)
			chunk = cap - got;
		n = pread(c->mem_fd, out + got, chunk, (off_t)(addr + got));
		if (!id_valid(c))
			return -ESRCH;
		if (n <= 0)
			return EFAULT;
		nul = memchr(out + got, '\0', (size_t)n);
		if (nul != NULL)
			return 0;
		got += (size_t)n;
	}
	return ENAMETOOLONG;
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
 * Resolves path as the task tid would: relative to base (the task's cwd or
 * dirfd, absolute and symlink-free as the kernel reports it), every symlink
 * followed by reading it here (the last one only if follow_last), the
 * task's /proc/self and /proc/thread-self mapped to its own pid. The result
 * has no symlinks, ".", ".." or "//". A missing last component is allowed
 * (*exists = 0): it names a file to create. Returns 0 or an errno.
 * A symlink below /proc whose target is not a path (pipe:[..], socket:[..])
 * is refused with EACCES.
 */
int scout_resolve(const char *base, const char *path, int follow_last, pid_t tid,
    char *out, size_t outlen, int *exists)
{
	char todo[2 * PATH_MAX + 2], link[PATH_MAX];
	size_t olen = 0, tlen, pos = 0;
	int links = 0, trailing_slash;
	pid_t tgid = 0;
	struct stat st;

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
	}
	*exists = 1;
	out[olen] = '\0';
	for (;;) {
		const char *comp;
		size_t clen, rest;
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
			continue;
		}
		/* The task's /proc/self is not ours. */
		if (olen == 5 && memcmp(out, "/proc", 5) == 0 &&
		    ((clen == 4 && memcmp(comp, "self", 4) == 0) ||
		    (clen == 11 && memcmp(comp, "thread-self", 11) == 0))) {
			char sub[64];
			int n;

			if (tgid == 0 && (tgid = task_tgid(tid)) == 0)
				return ESRCH;
			if (clen == 4)
				n = snprintf(sub, sizeof(sub), "%d", (int)tgid);
			else
				n = snprintf(sub, sizeof(sub), "%d/task/%d", (int)tgid, (int)tid);
			if (strlen(todo + pos) + (size_t)n + 1 >= sizeof(todo))
				return ENAMETOOLONG;
			memmove(todo + n, todo + pos, strlen(todo + pos) + 1);
			memcpy(todo, sub, (size_t)n);
			pos = 0;
			continue;
		}
		if (olen + 1 + clen >= outlen || olen + 1 + clen >= PATH_MAX)
			return ENAMETOOLONG;
		out[olen] = '/';
		memcpy(out + olen + 1, comp, clen);
		out[olen + 1 + clen] = '\0';
		if (last && !follow_last) {
			if (lstat(out, &st) < 0) {
				if (errno != ENOENT)
					return errno;
				*exists = 0;
			}
			olen += 1 + clen;
			break;
		}
		if (lstat(out, &st) < 0) {
			if (errno == ENOENT && last) {
				*exists = 0;
				olen += 1 + clen;
				break;
			}
			return errno;
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t n;
			size_t rlen = strlen(todo + pos);

			if (++links > MAX_LINKS)
				return ELOOP;
			n = readlink(out, link, sizeof(link) - 1);
			if (n <= 0)
				return n == 0 ? ENOENT : errno;
			link[n] = '\0';
			if (strncmp(out, "/proc/", 6) == 0 && link[0] != '/')
				return EACCES;
			if ((size_t)n + rlen + 2 >= sizeof(todo))
				return ENAMETOOLONG;
			memmove(todo + n + 1, todo + pos, rlen + 1);
			memcpy(todo, link, (size_t)n);
			todo[n] = '/';
			pos = 0;
			out[olen] = '\0';
			if (link[0] == '/') {
				olen = 0;
				out[0] = '\0';
			}
			continue;
		}
		if (!last && !S_ISDIR(st.st_mode))
			return ENOTDIR;
		if (last && trailing_slash && !S_ISDIR(st.st_mode))
			return ENOTDIR;
		olen += 1 + clen;
	}
	if (olen == 0) {
		if (outlen < 2)
			return ENAMETOOLONG;
		out[0] = '/';
		out[1] = '\0';
	}
	return 0;
}

/* The path of the task's cwd (dirfd AT_FDCWD) or of its fd dirfd. */
static int task_base(pid_t tid, int dirfd, char *out, size_t cap)
{
	char p[64];
	ssize_t n;

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

/* The policy's view of a canonical path: the task's own /proc/<pid> is
 * /proc/self, so that `allow ro /proc/self` means "its own, nobody else's". */
static void policy_view(pid_t tid, const char *canon, char *out, size_t cap)
{
	const char *p = canon + 6;
	size_t n = strspn(p, "0123456789");

	if (strncmp(canon, "/proc/", 6) == 0 && is_digits(p, n) && (p[n] == '\0' || p[n] == '/')) {
		long pid = strtol(p, NULL, 10);

		if (pid == tid || pid == task_tgid(tid)) {
			snprintf(out, cap, "/proc/self%s", p + n);
			return;
		}
	}
	snprintf(out, cap, "%s", canon);
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
    char *canon, int *exists)
{
	char raw[PATH_MAX], base[PATH_MAX];
	int rc = read_string(c, addr, raw, sizeof(raw));

	if (rc != 0)
		return rc;
	if (raw[0] == '\0') {
		if (!empty_ok)
			return ENOENT;
		rc = task_base(c->tid, dirfd, canon, PATH_MAX);
		*exists = 1;
		return rc;
	}
	if (raw[0] != '/' && (rc = task_base(c->tid, dirfd, base, sizeof(base))) != 0)
		return rc;
	return scout_resolve(base, raw, follow, c->tid, canon, PATH_MAX, exists);
}

static int check(struct scout_supervisor *sup, const struct call *c, const char *canon,
    enum policy_access a)
{
	char view[PATH_MAX + 16];

	policy_view(c->tid, canon, view, sizeof(view));
	return decide(sup, view, a) == POLICY_ALLOW ? 0 : EACCES;
}

static int open_nofollow(const char *canon, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)flags,
		.mode = (flags & (O_CREAT | __O_TMPFILE)) ? mode & 07777 : 0,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(__NR_openat2, AT_FDCWD, canon, &how, sizeof(how));
}

/* Opens the directory holding the last component of canon, and points
 * *name at that component. */
static int open_parent(char *canon, const char **name)
{
	char *slash = strrchr(canon, '/');
	int fd;

	if (slash == NULL || slash[1] == '\0')
		return -EINVAL;
	*slash = '\0';
	fd = open_nofollow(canon[0] != '\0' ? canon : "/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
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

static int do_open(struct scout_supervisor *sup, struct call *c, int dirfd, uint64_t addr,
    int flags, mode_t mode, int64_t *fdout)
{
	const int known = O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND |
	    O_NONBLOCK | O_DSYNC | O_SYNC | O_DIRECT | KERNEL_O_LARGEFILE | O_DIRECTORY |
	    O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_PATH | __O_TMPFILE | FASYNC;
	char canon[PATH_MAX];
	int exists, rc, fd, follow;
	enum policy_access a;
	mode_t old = 0;
	struct seccomp_notif_addfd addfd;

	follow = !(flags & O_NOFOLLOW) && (flags & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL);
	if ((rc = get_path(c, dirfd, addr, follow, 0, canon, &exists)) != 0)
		return rc;
	if (flags & O_PATH)
		a = POLICY_READ;
	else if ((flags & __O_TMPFILE) == __O_TMPFILE || ((flags & O_CREAT) && !exists))
		a = POLICY_CREATE;
	else if ((flags & O_ACCMODE) == O_RDONLY && !(flags & O_TRUNC))
		a = POLICY_READ;
	else
		a = POLICY_WRITE;
	if ((rc = check(sup, c, canon, a)) != 0)
		return rc;
	flags &= known;
	/* O_NONBLOCK: a FIFO must not stall the one supervisor thread; it is
	 * cleared again below unless the task asked for it. O_NOCTTY: a
	 * terminal never becomes the Carrier's. */
	if (!(flags & O_PATH) && (flags & (O_CREAT | __O_TMPFILE)) && (rc = with_umask(c->tid, &old)) != 0)
		return rc;
	fd = open_nofollow(canon, flags | O_CLOEXEC | O_NOCTTY | (flags & O_PATH ? 0 : O_NONBLOCK), mode);
	rc = errno;
	if (!(flags & O_PATH) && (flags & (O_CREAT | __O_TMPFILE)))
		umask(old);
	if (fd < 0)
		return rc;
	if (!(flags & (O_NONBLOCK | O_PATH))) {
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
	close(fd);
	if (rc < 0)
		return errno == ENOENT ? -ESRCH : errno;
	*fdout = rc;
	return -EINPROGRESS;	/* answered by ADDFD_FLAG_SEND */
}

static int do_exec(struct scout_supervisor *sup, struct call *c, int dirfd, uint64_t addr, int flags)
{
	char canon[PATH_MAX];
	int exists, rc;

	rc = get_path(c, dirfd, addr, !(flags & AT_SYMLINK_NOFOLLOW), flags & AT_EMPTY_PATH,
	    canon, &exists);
	if (rc != 0)
		return rc;
	if (!exists)
		return ENOENT;
	return check(sup, c, canon, POLICY_EXEC);
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
	int exists, rc, pfd;

	if ((rc = get_path(c, dirfd, addr, 0, 0, canon, &exists)) != 0)
		return rc;
	if (!mutable_name(canon))
		return EBUSY;
	if ((rc = check(sup, c, canon, POLICY_WRITE)) != 0)
		return rc;
	if ((pfd = open_parent(canon, &name)) < 0)
		return -pfd;
	rc = unlinkat(pfd, name, flags & AT_REMOVEDIR) < 0 ? errno : 0;
	close(pfd);
	return rc;
}

static int do_mkdir(struct scout_supervisor *sup, struct call *c, int dirfd, uint64_t addr, mode_t mode)
{
	char canon[PATH_MAX];
	const char *name;
	int exists, rc, pfd;
	mode_t old;

	if ((rc = get_path(c, dirfd, addr, 0, 0, canon, &exists)) != 0)
		return rc;
	if (!mutable_name(canon))
		return EEXIST;
	if ((rc = check(sup, c, canon, exists ? POLICY_WRITE : POLICY_CREATE)) != 0)
		return rc;
	if ((pfd = open_parent(canon, &name)) < 0)
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
	int exists, rc, opfd, npfd;

	if ((rc = get_path(c, odir, oaddr, 0, 0, ocanon, &exists)) != 0)
		return rc;
	if ((rc = get_path(c, ndir, naddr, 0, 0, ncanon, &exists)) != 0)
		return rc;
	if (!mutable_name(ocanon) || !mutable_name(ncanon))
		return EBUSY;
	if ((rc = check(sup, c, ocanon, POLICY_WRITE)) != 0 ||
	    (rc = check(sup, c, ncanon, exists ? POLICY_WRITE : POLICY_CREATE)) != 0)
		return rc;
	if ((opfd = open_parent(ocanon, &oname)) < 0)
		return -opfd;
	if ((npfd = open_parent(ncanon, &nname)) < 0) {
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
	int exists, rc, opfd, npfd;

	if (flags & AT_EMPTY_PATH)
		return ENOENT;
	if ((rc = get_path(c, odir, oaddr, flags & AT_SYMLINK_FOLLOW, 0, ocanon, &exists)) != 0)
		return rc;
	if (!exists)
		return ENOENT;
	if ((rc = get_path(c, ndir, naddr, 0, 0, ncanon, &exists)) != 0)
		return rc;
	if (!mutable_name(ocanon) || !mutable_name(ncanon))
		return EPERM;
	if ((rc = check(sup, c, ocanon, POLICY_WRITE)) != 0 ||
	    (rc = check(sup, c, ncanon, POLICY_CREATE)) != 0)
		return rc;
	if ((opfd = open_parent(ocanon, &oname)) < 0)
		return -opfd;
	if ((npfd = open_parent(ncanon, &nname)) < 0) {
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
	int exists, rc, npfd;

	if ((rc = read_string(c, taddr, target, sizeof(target))) != 0)
		return rc;
	if ((rc = get_path(c, ndir, naddr, 0, 0, ncanon, &exists)) != 0)
		return rc;
	if (!mutable_name(ncanon))
		return EEXIST;
	if ((rc = check(sup, c, ncanon, POLICY_CREATE)) != 0)
		return rc;
	if ((npfd = open_parent(ncanon, &nname)) < 0)
		return -npfd;
	rc = symlinkat(target, npfd, nname) < 0 ? errno : 0;
	close(npfd);
	return rc;
}

static int do_chmod(struct scout_supervisor *sup, struct call *c, int dirfd, uint64_t addr,
    mode_t mode, int flags)
{
	char canon[PATH_MAX], self[64];
	int exists, rc, fd;

	if ((rc = get_path(c, dirfd, addr, !(flags & AT_SYMLINK_NOFOLLOW), 0, canon, &exists)) != 0)
		return rc;
	if (!exists)
		return ENOENT;
	if ((rc = check(sup, c, canon, POLICY_WRITE)) != 0)
		return rc;
	fd = open_nofollow(canon, O_PATH | O_CLOEXEC | O_NOFOLLOW, 0);
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
	int exists, rc, fd;
	struct stat st;

	if ((rc = get_path(c, AT_FDCWD, addr, 1, 0, canon, &exists)) != 0)
		return rc;
	if (!exists)
		return ENOENT;
	if ((rc = check(sup, c, canon, POLICY_WRITE)) != 0)
		return rc;
	fd = open_nofollow(canon, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
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
 * task is gone, -ECANCELED for CONTINUE (execve only). */
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

int scout_supervisor_handle(struct scout_supervisor *sup, int notify_fd)
{
	const struct scout_denied *den;
	struct call c;
	int rc;

	memset(sup->req, 0, sizeof(*sup->req));
	rc = seccomp_notify_receive(notify_fd, sup->req);
	if (rc < 0) {
		/* ENOENT: the task left the syscall before we read it. */
		if (rc == -EINTR || rc == -ENOENT || rc == -ECANCELED)
			return 0;
		errno = -rc;
		return -1;
	}
	c.notify_fd = notify_fd;
	c.id = sup->req->id;
	c.tid = (pid_t)sup->req->pid;
	c.mem_fd = -1;
	if (sup->req->data.arch != AUDIT_ARCH_X86_64) {
		respond(sup, &c, 0, ENOSYS, 0);	/* the filter kills these first */
		return 0;
	}
	den = scout_denied_lookup(sup->req->data.nr);
	if (den != NULL) {
		count_denied(sup, den->name);
		respond(sup, &c, 0, den->err, 0);
		return 0;
	}
	rc = dispatch(sup, &c, &sup->req->data);
	if (c.mem_fd >= 0)
		close(c.mem_fd);
	if (rc == -ECANCELED)
		respond(sup, &c, 0, 0, 1);
	else if (rc >= 0)
		respond(sup, &c, 0, rc, 0);
	return 0;
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
	sup->cc = cc;
	sup->chan_fd = chan_fd;
	if (chan_fd >= 0)
		(void)chan_hello(sup);
	return sup;
}

void scout_supervisor_finish(struct scout_supervisor *sup)
{
	if (sup->cc != NULL || sup->broken)
		return;
	for (size_t i = 0; i < CACHE_SLOTS && !sup->broken; i++) {
		struct cache_slot *s = &sup->cache[i];

		if (s->path == NULL || s->unsent == 0)
			continue;
		memset(&sup->msg, 0, sizeof(sup->msg));
		sup->msg.type = CHANNEL_COUNT;
		sup->msg.count = s->unsent;
		sup->msg.access = s->access;
		sup->msg.verdict = s->verdict;
		if (strlen(s->path) > CHANNEL_MAX_TEXT)
			continue;
		memcpy(sup->msg.text, s->path, strlen(s->path) + 1);
		if (chan_send(sup, &sup->msg) < 0)
			chan_break(sup);
		s->unsent = 0;
	}
	memset(&sup->msg, 0, sizeof(sup->msg));
	sup->msg.type = CHANNEL_BYE;
	if (!sup->broken && chan_send(sup, &sup->msg) < 0)
		chan_break(sup);
}

int scout_supervisor_broken(const struct scout_supervisor *sup)
{
	return sup->broken;
}

void scout_supervisor_free(struct scout_supervisor *sup)
{
	if (sup == NULL)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		free(sup->cache[i].path);
	seccomp_notify_free(sup->req, sup->resp);
	free(sup);
}
