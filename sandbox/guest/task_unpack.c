/*
 * task_unpack.c: the guest's unpacker of runnable.tar (/dev/ubdb) into the
 * task directory, for tmc-init, which calls it with the task's fs
 * credentials.
 * Owns: reading ustar headers (regular files, directories, symlinks, hard
 * links), creating missing parent directories, and applying the same rule
 * as the host's intake (tar_rules.c) once more, so that a tar the intake
 * accepted always unpacks and nothing outside that rule is ever made.
 * Never: follows a symlink while creating (every step is an openat with
 * O_NOFOLLOW relative to a directory fd it opened itself), writes outside
 * dir_fd, trusts a size beyond the data that is there, logs.
 */
#define _GNU_SOURCE
#include "sandbox/tar_rules.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 512

static uint64_t octal(const char *field, size_t len)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && field[i] == ' ')
		i++;
	for (; i < len && field[i] != '\0' && field[i] != ' '; i++) {
		if (field[i] < '0' || field[i] > '7' || v > (UINT64_MAX >> 3))
			return UINT64_MAX;
		v = v * 8 + (uint64_t)(field[i] - '0');
	}
	return v;
}

static int read_block(int fd, char *buf)
{
	size_t got = 0;

	while (got < BLOCK) {
		ssize_t n = read(fd, buf + got, BLOCK - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* Opens the directory holding `name` (a clean name), creating missing
 * components when `create` is set; *leaf points at the last component.
 * Returns an fd the caller closes, or -1 with err. */
static int parent_dir(int dir_fd, const char *name, int create, const char **leaf,
    char *err, size_t errlen)
{
	char comp[TAR_NAME_MAX + 1];
	const char *p = name, *slash;
	int cur = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (cur < 0)
		return errbuf_set(err, errlen, "open task dir: %s", strerror(errno));
	while ((slash = strchr(p, '/')) != NULL) {
		size_t n = (size_t)(slash - p);
		int next;

		memcpy(comp, p, n);
		comp[n] = '\0';
		if (create && mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
			errbuf_set(err, errlen, "mkdir %.*s: %s", (int)(slash - name), name, strerror(errno));
			close(cur);
			return -1;
		}
		next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			int e = errno;

			close(cur);
			if (e == ELOOP || e == ENOTDIR)
				return errbuf_set(err, errlen, "entry '%s': lies below '%.*s', which is not a directory",
				    name, (int)(slash - name), name);
			return errbuf_set(err, errlen, "open %.*s: %s", (int)(slash - name), name, strerror(e));
		}
		close(cur);
		cur = next;
		p = slash + 1;
	}
	*leaf = p;
	return cur;
}

static int skip_data(int tar_fd, uint64_t size, char *err, size_t errlen)
{
	char buf[BLOCK];

	for (uint64_t blocks = (size + BLOCK - 1) / BLOCK; blocks > 0; blocks--)
		if (read_block(tar_fd, buf) < 0)
			return errbuf_set(err, errlen, "task tar: truncated data");
	return 0;
}

static int unpack_file(int tar_fd, int dir_fd, const char *name, uint64_t mode, uint64_t size,
    char *err, size_t errlen)
{
	char buf[64 * BLOCK];
	const char *leaf;
	int parent = parent_dir(dir_fd, name, 1, &leaf, err, errlen);
	int fd;

	if (parent < 0)
		return -1;
	fd = openat(parent, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    (mode_t)(mode & 0755) | 0600);
	close(parent);
	if (fd < 0)
		return errbuf_set(err, errlen, "create %s: %s", name, strerror(errno));
	for (uint64_t left = size; left > 0;) {
		size_t want = left < sizeof(buf) ? (size_t)((left + BLOCK - 1) / BLOCK * BLOCK) : sizeof(buf);
		size_t keep = left < want ? (size_t)left : want;

		for (size_t off = 0; off < want; off += BLOCK) {
			if (read_block(tar_fd, buf + off) < 0) {
				close(fd);
				return errbuf_set(err, errlen, "unpack %s: truncated data", name);
			}
		}
		for (size_t off = 0; off < keep;) {
			ssize_t n = write(fd, buf + off, keep - off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				int e = n < 0 ? errno : ENOSPC;

				close(fd);
				return errbuf_set(err, errlen, "write %s: %s", name, strerror(e));
			}
			off += (size_t)n;
		}
		left -= keep;
	}
	if (close(fd) < 0)
		return errbuf_set(err, errlen, "write %s: %s", name, strerror(errno));
	return 0;
}

static int unpack_dir(int dir_fd, const char *name, char *err, size_t errlen)
{
	const char *leaf;
	struct stat st;
	int parent = parent_dir(dir_fd, name, 1, &leaf, err, errlen);
	int rc = 0;

	if (parent < 0)
		return -1;
	if (mkdirat(parent, leaf, 0755) < 0) {
		/* Made already as the parent of an earlier entry, or listed twice. */
		if (errno != EEXIST || fstatat(parent, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			rc = errbuf_set(err, errlen, "mkdir %s: %s", name,
			    errno == EEXIST ? "exists and is not a directory" : strerror(errno));
	}
	close(parent);
	return rc;
}

static int unpack_symlink(int dir_fd, const char *name, const char *target, char *err, size_t errlen)
{
	const char *why = tar_rule_symlink(name, target);
	const char *leaf;
	int parent, rc = 0;

	if (why != NULL)
		return errbuf_set(err, errlen, "symlink '%s' -> '%s': %s", name, target, why);
	parent = parent_dir(dir_fd, name, 1, &leaf, err, errlen);
	if (parent < 0)
		return -1;
	if (symlinkat(target, parent, leaf) < 0)
		rc = errbuf_set(err, errlen, "symlink %s: %s", name, strerror(errno));
	close(parent);
	return rc;
}

/* A hard link to an earlier regular file of the tar: the target is looked
 * up as strictly as any name (no symlink on the way, a regular file). */
static int unpack_hardlink(int dir_fd, const char *name, const char *raw_target, char *err, size_t errlen)
{
	char target[TAR_NAME_MAX + 2];
	const char *why = tar_rule_name(raw_target, target, sizeof(target));
	const char *leaf, *tleaf;
	struct stat st;
	int parent, tparent, rc = 0;

	if (why != NULL || target[0] == '\0')
		return errbuf_set(err, errlen, "hardlink '%s' -> '%s': %s", name, raw_target,
		    why ? why : "not a file");
	tparent = parent_dir(dir_fd, target, 0, &tleaf, err, errlen);
	if (tparent < 0)
		return -1;
	if (fstatat(tparent, tleaf, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
		close(tparent);
		return errbuf_set(err, errlen, "hardlink '%s' -> '%s': not an earlier regular file",
		    name, target);
	}
	parent = parent_dir(dir_fd, name, 1, &leaf, err, errlen);
	if (parent < 0) {
		close(tparent);
		return -1;
	}
	if (linkat(tparent, tleaf, parent, leaf, 0) < 0)
		rc = errbuf_set(err, errlen, "link %s: %s", name, strerror(errno));
	close(parent);
	close(tparent);
	return rc;
}

int task_unpack(int tar_fd, int dir_fd, char *err, size_t errlen)
{
	char hdr[BLOCK];

	for (;;) {
		char raw[TAR_NAME_MAX + 2], name[TAR_NAME_MAX + 2], link[TAR_LINK_MAX + 1];
		const char *why;
		uint64_t size, mode;
		char type;
		int rc;

		if (read_block(tar_fd, hdr) < 0)
			return errbuf_set(err, errlen, "task tar: truncated header");
		if (hdr[0] == '\0')
			return 0;
		if (memcmp(hdr + 257, "ustar", 5) != 0)
			return errbuf_set(err, errlen, "task tar: not ustar");
		if (hdr[345] != '\0')
			snprintf(raw, sizeof(raw), "%.155s/%.100s", hdr + 345, hdr);
		else
			snprintf(raw, sizeof(raw), "%.100s", hdr);
		snprintf(link, sizeof(link), "%.100s", hdr + 157);
		size = octal(hdr + 124, 12);
		mode = octal(hdr + 100, 8);
		type = hdr[156];
		if (size == UINT64_MAX || mode == UINT64_MAX)
			return errbuf_set(err, errlen, "task tar: bad header for '%s'", raw);
		why = tar_rule_name(raw, name, sizeof(name));
		if (why != NULL)
			return errbuf_set(err, errlen, "entry '%s': %s", raw, why);
		if (name[0] == '\0') {
			/* The archive root: the task dir itself. */
			if (type != '5')
				return errbuf_set(err, errlen, "entry '%s': the archive root is not a directory", raw);
			rc = skip_data(tar_fd, size, err, errlen);
		} else if (type == '0' || type == '\0' || type == '7') {
			rc = unpack_file(tar_fd, dir_fd, name, mode, size, err, errlen);
		} else if (type == '5') {
			rc = unpack_dir(dir_fd, name, err, errlen);
			if (rc == 0)
				rc = skip_data(tar_fd, size, err, errlen);
		} else if (type == '2') {
			rc = unpack_symlink(dir_fd, name, link, err, errlen);
			if (rc == 0)
				rc = skip_data(tar_fd, size, err, errlen);
		} else if (type == '1') {
			rc = unpack_hardlink(dir_fd, name, link, err, errlen);
			if (rc == 0)
				rc = skip_data(tar_fd, size, err, errlen);
		} else {
			return errbuf_set(err, errlen, "entry '%s': type '%c' not allowed", name,
			    type >= 0x20 && type < 0x7f ? type : '?');
		}
		if (rc < 0)
			return -1;
	}
}
