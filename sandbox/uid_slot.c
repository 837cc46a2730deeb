/*
 * uid_slot.c: host uids for the unprivileged parts of a run, one pair per
 * process that runs tasks (a sandboxd instance, a sandbox-run), so that no
 * two of them ever share a uid: a UML process that escaped its guest must
 * not be able to signal, ptrace or open the files of another instance's
 * UML or tmc-unpack, which a shared uid (as `nobody` was) would allow.
 *
 * The range (web/DEPLOYMENT.md, "Host uids"): UID_SLOT_BASE + 2 * slot for
 * UML, + 1 for tmc-unpack, gid = uid, slots 0..UID_SLOTS-1: 60600-61111,
 * inside the span systemd leaves unassigned (60578-61183, between
 * systemd-nspawn's and DynamicUser's). The uids need no passwd entry.
 *
 * A slot is held by an exclusive flock on LOCK_DIR/uid-slot-N for the
 * holder's life: the kernel drops it when the process dies, so a crash
 * leaves no stale claim. Library-like: returns -1 and fills err.
 */
#define _GNU_SOURCE
#include "sandbox/sandbox.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Claims slot `start` (exact) or the first free one from start on,
 * wrapping around the range. */
int uid_slot_claim(const char *lock_dir, unsigned start, int exact, struct uid_slot *s,
    char *err, size_t errlen)
{
	struct stat st;

	s->fd = -1;
	if (start >= UID_SLOTS)
		return errbuf_set(err, errlen, "uid slot %u: the range has %d slots (0-%d)", start,
		    UID_SLOTS, UID_SLOTS - 1);
	if (mkdir_p(lock_dir, 0700) < 0)
		return errbuf_set(err, errlen, "mkdir %s: %s", lock_dir, strerror(errno));
	/* Whoever could write here could take slots away: root's own dir. */
	if (lstat(lock_dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022) != 0)
		return errbuf_set(err, errlen, "%s: not a directory of uid %u that only it may write",
		    lock_dir, (unsigned)geteuid());
	for (unsigned i = 0; i < (exact ? 1u : (unsigned)UID_SLOTS); i++) {
		unsigned slot = (start + i) % UID_SLOTS;
		char path[PATH_MAX];
		int fd;

		if (snprintf(path, sizeof(path), "%s/uid-slot-%u", lock_dir, slot) >= (int)sizeof(path))
			return errbuf_set(err, errlen, "%s: path too long", lock_dir);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return errbuf_set(err, errlen, "open %s: %s", path, strerror(errno));
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			s->fd = fd;
			s->slot = slot;
			s->uml_uid = (uid_t)(UID_SLOT_BASE + 2 * slot);
			s->unpack_uid = s->uml_uid + 1;
			return 0;
		}
		close(fd);
		if (errno != EWOULDBLOCK)
			return errbuf_set(err, errlen, "flock %s: %s", path, strerror(errno));
	}
	if (exact)
		return errbuf_set(err, errlen, "uid slot %u is held by another sandboxd or "
		    "sandbox-run (locks in %s)", start, lock_dir);
	return errbuf_set(err, errlen, "all %d uid slots are held (locks in %s)", UID_SLOTS,
	    lock_dir);
}

void uid_slot_release(struct uid_slot *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}
