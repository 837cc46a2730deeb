/*
 * task_tar.c: packs a trusted local exercise directory (an operator's or a
 * developer's, never an upload: those go through upload_tar.c) as the
 * ustar runnable.tar the guest untars.
 * Owns: what goes in: regular files and directories, by relative names,
 * in sorted order, owner 0:0, mode 0755 for directories and for files with
 * any exec bit, 0644 for other files, the files' own mtimes.
 * Never: follows a symlink, packs anything else (a link, device or fifo in
 * an exercise is reported as an error, not dropped), logs.
 */
#define _GNU_SOURCE
#include "sandbox/sandbox.h"
#include "common/log.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TASK_TAR_DEPTH 32

struct task_tar {
	struct archive *a;
	char *err;
	size_t errlen;
};

static int task_tar_header(struct task_tar *t, const char *name, const struct stat *st,
    mode_t type, mode_t perm)
{
	struct archive_entry *e = archive_entry_new();
	int rc;

	if (e == NULL)
		return errbuf_set(t->err, t->errlen, "task_tar: out of memory");
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, st->st_mtim.tv_sec, 0);
	archive_entry_set_size(e, type == AE_IFREG ? st->st_size : 0);
	rc = archive_write_header(t->a, e);
	archive_entry_free(e);
	if (rc != ARCHIVE_OK)
		return errbuf_set(t->err, t->errlen, "task_tar: %s: %s", name,
		    archive_error_string(t->a));
	return 0;
}

static int task_tar_file(struct task_tar *t, int dirfd_, const char *leaf, const char *name,
    const struct stat *st)
{
	char buf[65536];
	off_t done = 0;
	int fd = openat(dirfd_, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return errbuf_set(t->err, t->errlen, "task_tar: open %s: %s", name, strerror(errno));
	if (task_tar_header(t, name, st, AE_IFREG,
	    (st->st_mode & 0111) || strcmp(name, "tmc-run") == 0 ? 0755 : 0644) < 0) {
		close(fd);
		return -1;
	}
	while (done < st->st_size) {
		size_t want = sizeof(buf);
		ssize_t n;

		if ((off_t)want > st->st_size - done)
			want = (size_t)(st->st_size - done);
		n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return errbuf_set(t->err, t->errlen, "task_tar: %s changed while packing", name);
		}
		if (archive_write_data(t->a, buf, (size_t)n) != n) {
			close(fd);
			return errbuf_set(t->err, t->errlen, "task_tar: %s: %s", name,
			    archive_error_string(t->a));
		}
		done += n;
	}
	close(fd);
	return 0;
}

static int task_tar_dir(struct task_tar *t, int fd, const char *prefix, int depth)
{
	struct dirent **list = NULL;
	DIR *d;
	int n, rc = 0;

	if (depth > TASK_TAR_DEPTH) {
		close(fd);
		return errbuf_set(t->err, t->errlen, "task_tar: %s: nested too deep", prefix);
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return errbuf_set(t->err, t->errlen, "task_tar: %s: %s", prefix, strerror(errno));
	}
	/* scandir on the open directory keeps the walk on the inode we opened. */
	n = scandirat(dirfd(d), ".", &list, NULL, alphasort);
	if (n < 0) {
		closedir(d);
		return errbuf_set(t->err, t->errlen, "task_tar: %s: %s", prefix, strerror(errno));
	}
	for (int i = 0; i < n && rc == 0; i++) {
		const char *leaf = list[i]->d_name;
		char name[4096];
		struct stat st;

		if (strcmp(leaf, ".") == 0 || strcmp(leaf, "..") == 0)
			continue;
		if (snprintf(name, sizeof(name), "%s%s", prefix, leaf) >= (int)sizeof(name)) {
			rc = errbuf_set(t->err, t->errlen, "task_tar: name too long");
			break;
		}
		if (fstatat(dirfd(d), leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = errbuf_set(t->err, t->errlen, "task_tar: %s: %s", name, strerror(errno));
		} else if (S_ISREG(st.st_mode)) {
			rc = task_tar_file(t, dirfd(d), leaf, name, &st);
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0) {
				rc = errbuf_set(t->err, t->errlen, "task_tar: %s: %s", name, strerror(errno));
				break;
			}
			rc = task_tar_header(t, name, &st, AE_IFDIR, 0755);
			if (rc == 0 && strlen(name) + 2 < sizeof(name)) {
				strcat(name, "/");
				rc = task_tar_dir(t, sub, name, depth + 1);
			} else
				close(sub);
		} else {
			rc = errbuf_set(t->err, t->errlen,
			    "task_tar: %s: not a regular file or directory", name);
		}
	}
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	closedir(d);
	return rc;
}

/* Packs dir into out_tar (created, or replaced). The exercise must have a
 * regular file tmc-run at its top; tmc-run gets mode 0755 regardless. */
int task_tar_from_dir(const char *dir, const char *out_tar, char *err, size_t errlen)
{
	struct task_tar t = { NULL, err, errlen };
	struct stat st;
	int fd, rc;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(err, errlen, "task_tar: %s: %s", dir, strerror(errno));
	if (fstatat(fd, "tmc-run", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return errbuf_set(err, errlen, "task_tar: %s has no regular file tmc-run", dir);
	}
	t.a = archive_write_new();
	if (t.a == NULL) {
		close(fd);
		return errbuf_set(err, errlen, "task_tar: out of memory");
	}
	if (archive_write_set_format_ustar(t.a) != ARCHIVE_OK ||
	    archive_write_open_filename(t.a, out_tar) != ARCHIVE_OK) {
		rc = errbuf_set(err, errlen, "task_tar: %s: %s", out_tar, archive_error_string(t.a));
		archive_write_free(t.a);
		close(fd);
		return rc;
	}
	rc = task_tar_dir(&t, fd, "", 0);
	if (archive_write_close(t.a) != ARCHIVE_OK && rc == 0)
		rc = errbuf_set(err, errlen, "task_tar: %s: %s", out_tar, archive_error_string(t.a));
	archive_write_free(t.a);
	if (rc < 0)
		unlink(out_tar);
	return rc;
}
