/*
 * upload_tar.c: turns an untrusted upload into a clean ustar runnable.tar.
 *
 * Owns: reading the upload with libarchive as hostile data (plain tar, or a
 * tar compressed with gzip, xz or zstd), checking every entry against the
 * rules of DESIGN 3.1, and writing the entries that pass as a fresh ustar
 * archive with normalised owners and modes.
 * Never: extracts anything onto the host, follows a link, logs, or trusts a
 * size or a name from the archive before it has been checked. Once it has
 * the fds it opens nothing: upload_tar_normalize_fd() is what tmc-unpack
 * runs, unprivileged and under its seccomp filter (privsep.c); a privileged
 * program calls privsep_upload() instead of upload_tar_normalize().
 *
 * Rules (each rejection names the entry and what is wrong with it); the
 * name and link rules are tar_rules.c's, which the guest's unpacker
 * (guest/task_unpack.c) applies again, so an accepted upload unpacks:
 *   - names are relative; no component is "..", none is empty after
 *     dropping "./"; at most 255 bytes and fitting a ustar header; parent
 *     directories need no entries of their own (the guest makes them);
 *   - only regular files, directories, symlinks and hardlinks; no device
 *     nodes, fifos or sockets;
 *   - a symlink's target is relative, may only start with ".." components
 *     and those may not climb above the tree from the link's directory; no
 *     entry lives below a symlink of the archive (a symlink to "." would
 *     otherwise make a later lexical check lie);
 *   - a hardlink names an earlier regular file of the archive; link
 *     targets fit ustar's 100 bytes;
 *   - no name twice; at most lim->max_entries entries; no entry over
 *     lim->max_entry bytes; the sum at most lim->max_unpacked bytes, checked
 *     from the header before any data is decompressed, and the decompressed
 *     stream itself bounded, so a bomb costs at most the cap;
 *   - a regular file `tmc-run` at the top (made executable if it is not).
 */
#define _GNU_SOURCE
#include "sandbox/sandbox_host.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "sandbox/tar_rules.h"

#define UPLOAD_NAME_MAX TAR_NAME_MAX

struct seen {
	char *name;
	int type;		/* AE_IFREG, AE_IFDIR, AE_IFLNK; hardlinks count as AE_IFREG */
};

struct upload_state {
	struct seen *seen;
	size_t nseen, cap;
	uint64_t unpacked;
	int have_tmc_run;
};

static int clean_name(const char *raw, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *why = tar_rule_name(raw, out, outlen);

	return why != NULL ? errbuf_set(err, errlen, "entry '%.200s': %s", raw, why) : 0;
}

static int check_symlink(const char *name, const char *target, char *err, size_t errlen)
{
	const char *why = tar_rule_symlink(name, target);

	return why != NULL ? errbuf_set(err, errlen, "symlink '%.200s' -> '%.200s': %s", name,
	    target ? target : "", why) : 0;
}

/* libarchive's ustar writer would fail on such a name with a vague
 * message (or none): say which entry and why. */
static int check_ustar(const char *name, int is_dir, char *err, size_t errlen)
{
	const char *why = tar_rule_ustar(name, is_dir);

	return why != NULL ? errbuf_set(err, errlen, "entry '%.200s': %s", name, why) : 0;
}

static int seen_cmp(const void *a, const void *b)
{
	return strcmp(((const struct seen *)a)->name, ((const struct seen *)b)->name);
}

static int seen_add(struct upload_state *st, const char *name, int type)
{
	if (st->nseen == st->cap) {
		size_t ncap = st->cap ? st->cap * 2 : 64;
		struct seen *n = realloc(st->seen, ncap * sizeof(*n));

		if (n == NULL)
			return -1;
		st->seen = n;
		st->cap = ncap;
	}
	st->seen[st->nseen].name = strdup(name);
	if (st->seen[st->nseen].name == NULL)
		return -1;
	st->seen[st->nseen].type = type;
	st->nseen++;
	return 0;
}

/* Linear: hardlinks are rare and the entry count is capped. */
static const struct seen *seen_find_linear(const struct upload_state *st, const char *name)
{
	for (size_t i = 0; i < st->nseen; i++)
		if (strcmp(st->seen[i].name, name) == 0)
			return &st->seen[i];
	return NULL;
}

static const struct seen *seen_find_sorted(const struct upload_state *st, const char *name)
{
	struct seen key = { (char *)name, 0 };

	return bsearch(&key, st->seen, st->nseen, sizeof(key), seen_cmp);
}

/* Whole-archive checks once every name is known: duplicates, and entries
 * below a symlink of the archive. */
static int check_tree(struct upload_state *st, char *err, size_t errlen)
{
	char prefix[UPLOAD_NAME_MAX + 1];

	qsort(st->seen, st->nseen, sizeof(*st->seen), seen_cmp);
	for (size_t i = 0; i + 1 < st->nseen; i++) {
		if (strcmp(st->seen[i].name, st->seen[i + 1].name) == 0 &&
		    !(st->seen[i].type == AE_IFDIR && st->seen[i + 1].type == AE_IFDIR))
			return errbuf_set(err, errlen, "entry '%.200s': appears more than once",
			    st->seen[i].name);
	}
	for (size_t i = 0; i < st->nseen; i++) {
		const char *name = st->seen[i].name;

		for (const char *s = strchr(name, '/'); s != NULL; s = strchr(s + 1, '/')) {
			const struct seen *parent;

			memcpy(prefix, name, (size_t)(s - name));
			prefix[s - name] = '\0';
			parent = seen_find_sorted(st, prefix);
			if (parent != NULL && parent->type == AE_IFLNK)
				return errbuf_set(err, errlen, "entry '%.200s': lies below the symlink '%.200s'",
				    name, prefix);
			if (parent != NULL && parent->type != AE_IFDIR)
				return errbuf_set(err, errlen, "entry '%.200s': lies below the file '%.200s'",
				    name, prefix);
		}
	}
	return 0;
}

static const char *type_name(mode_t type)
{
	switch (type) {
	case AE_IFCHR: return "character device";
	case AE_IFBLK: return "block device";
	case AE_IFIFO: return "fifo";
	case AE_IFSOCK: return "socket";
	default: return "special file";
	}
}

static int copy_data(struct archive *in, struct archive *out, const char *name,
    char *err, size_t errlen)
{
	char buf[64 * 1024];

	for (;;) {
		la_ssize_t n = archive_read_data(in, buf, sizeof(buf));

		if (n == 0)
			return 0;
		if (n < 0)
			return errbuf_set(err, errlen, "entry '%.200s': broken or truncated data: %s", name,
			    archive_error_string(in) ? archive_error_string(in) : "unreadable");
		if (archive_write_data(out, buf, (size_t)n) != n)
			return errbuf_set(err, errlen, "writing '%.200s': %s", name,
			    archive_error_string(out) ? archive_error_string(out) : "write failed");
	}
}

/* Reads the next header and checks it; writes a clean copy. Returns 1 for
 * an entry done, 0 at the end of the archive, -1 on rejection. */
static int one_entry(struct archive *in, struct archive *out, struct archive_entry *clean,
    struct upload_state *st, const struct upload_limits *lim, char *err, size_t errlen)
{
	struct archive_entry *e;
	char name[UPLOAD_NAME_MAX + 2];
	const char *raw, *hard;
	mode_t type;
	int64_t size;
	int rc;

	rc = archive_read_next_header(in, &e);
	if (rc == ARCHIVE_EOF)
		return 0;
	if (rc < ARCHIVE_WARN) {
		const char *why = archive_error_string(in);

		if (st->nseen == 0 && archive_format(in) == 0)
			return errbuf_set(err, errlen, "not a tar archive (plain, gzip, xz or zstd)%s%s",
			    why ? ": " : "", why ? why : "");
		return errbuf_set(err, errlen, "broken or truncated tar archive%s%s",
		    why ? ": " : "", why ? why : "");
	}
	if (st->nseen >= lim->max_entries)
		return errbuf_set(err, errlen, "more than %llu entries",
		    (unsigned long long)lim->max_entries);
	raw = archive_entry_pathname(e);
	if (raw == NULL)
		return errbuf_set(err, errlen, "entry %zu: unreadable name", st->nseen + 1);
	if (clean_name(raw, name, sizeof(name), err, errlen) < 0)
		return -1;
	type = archive_entry_filetype(e);
	hard = archive_entry_hardlink(e);

	if (name[0] == '\0') {
		/* The archive root ("./"): nothing to write; it must be a dir. */
		if (type != AE_IFDIR)
			return errbuf_set(err, errlen, "entry '%.200s': the archive root is not a directory", raw);
		if (seen_add(st, ".", AE_IFDIR) < 0)
			return errbuf_set(err, errlen, "out of memory");
		return 1;
	}

	if (check_ustar(name, type == AE_IFDIR && hard == NULL, err, errlen) < 0)
		return -1;
	archive_entry_clear(clean);
	archive_entry_set_pathname(clean, name);
	archive_entry_set_uid(clean, 0);
	archive_entry_set_gid(clean, 0);
	archive_entry_set_mtime(clean, archive_entry_mtime(e) > 0 ? archive_entry_mtime(e) : 0, 0);

	if (hard != NULL) {
		char target[UPLOAD_NAME_MAX + 2];
		const struct seen *t;

		if (clean_name(hard, target, sizeof(target), err, errlen) < 0)
			return errbuf_set(err, errlen, "hardlink '%.200s' -> '%.200s': points outside the task",
			    name, hard);
		if (strlen(target) > TAR_LINK_MAX)
			return errbuf_set(err, errlen, "hardlink '%.200s' -> '%.200s': target longer than %d bytes",
			    name, hard, TAR_LINK_MAX);
		t = seen_find_linear(st, target);
		if (t == NULL || t->type != AE_IFREG)
			return errbuf_set(err, errlen,
			    "hardlink '%.200s' -> '%.200s': not an earlier regular file of the upload", name, hard);
		archive_entry_set_filetype(clean, AE_IFREG);
		archive_entry_set_perm(clean, archive_entry_perm(e) & 0755);
		archive_entry_set_hardlink(clean, target);
		archive_entry_set_size(clean, 0);
		if (seen_add(st, name, AE_IFREG) < 0)
			return errbuf_set(err, errlen, "out of memory");
		if (archive_write_header(out, clean) < ARCHIVE_WARN)
			return errbuf_set(err, errlen, "writing '%.200s': %s", name, archive_error_string(out));
		return 1;
	}

	switch (type) {
	case AE_IFREG:
		size = archive_entry_size(e);
		if (size < 0)
			return errbuf_set(err, errlen, "entry '%.200s': bad size", name);
		if ((uint64_t)size > lim->max_entry)
			return errbuf_set(err, errlen, "entry '%.200s': %lld bytes, over the cap of %llu",
			    name, (long long)size, (unsigned long long)lim->max_entry);
		if ((uint64_t)size > lim->max_unpacked - st->unpacked)
			return errbuf_set(err, errlen, "unpacked size over the cap of %llu bytes (at '%.200s')",
			    (unsigned long long)lim->max_unpacked, name);
		st->unpacked += (uint64_t)size;
		archive_entry_set_filetype(clean, AE_IFREG);
		if (strcmp(name, "tmc-run") == 0) {
			st->have_tmc_run = 1;
			archive_entry_set_perm(clean, 0755);
		} else {
			archive_entry_set_perm(clean, archive_entry_perm(e) & 0755);
		}
		archive_entry_set_size(clean, size);
		if (seen_add(st, name, AE_IFREG) < 0)
			return errbuf_set(err, errlen, "out of memory");
		if (archive_write_header(out, clean) < ARCHIVE_WARN)
			return errbuf_set(err, errlen, "writing '%.200s': %s", name, archive_error_string(out));
		return copy_data(in, out, name, err, errlen) < 0 ? -1 : 1;
	case AE_IFDIR:
		archive_entry_set_filetype(clean, AE_IFDIR);
		archive_entry_set_perm(clean, 0755);
		if (seen_add(st, name, AE_IFDIR) < 0)
			return errbuf_set(err, errlen, "out of memory");
		if (archive_write_header(out, clean) < ARCHIVE_WARN)
			return errbuf_set(err, errlen, "writing '%.200s': %s", name, archive_error_string(out));
		return 1;
	case AE_IFLNK:
		if (check_symlink(name, archive_entry_symlink(e), err, errlen) < 0)
			return -1;
		archive_entry_set_filetype(clean, AE_IFLNK);
		archive_entry_set_perm(clean, 0777);
		archive_entry_set_symlink(clean, archive_entry_symlink(e));
		if (seen_add(st, name, AE_IFLNK) < 0)
			return errbuf_set(err, errlen, "out of memory");
		if (archive_write_header(out, clean) < ARCHIVE_WARN)
			return errbuf_set(err, errlen, "writing '%.200s': %s", name, archive_error_string(out));
		return 1;
	default:
		return errbuf_set(err, errlen, "entry '%.200s': %s not allowed", name, type_name(type));
	}
}

/* Validates the upload on in_fd and writes the clean ustar to out_fd, both
 * left open; on failure out_fd holds garbage the caller removes. No fsync:
 * the caller that made the file does that. */
int upload_tar_normalize_fd(int in_fd, int out_fd, const struct upload_limits *lim,
    char *err, size_t errlen)
{
	struct archive *in = NULL, *out = NULL;
	struct archive_entry *clean = NULL;
	struct upload_state st = { 0 };
	struct stat sb;
	/* Headers, padding and pax records are not "unpacked size" but still
	 * cost decompression: bound the raw tar stream as well. */
	uint64_t stream_cap = upload_stream_cap(lim);
	int rc = -1;

	if (fstat(in_fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		return errbuf_set(err, errlen, "upload is not a regular file");
	if (sb.st_size == 0)
		return errbuf_set(err, errlen, "empty upload: expected a tar archive");
	in = archive_read_new();
	out = archive_write_new();
	clean = archive_entry_new();
	if (in == NULL || out == NULL || clean == NULL) {
		errbuf_set(err, errlen, "out of memory");
		goto out;
	}
	archive_read_support_filter_gzip(in);
	archive_read_support_filter_xz(in);
	archive_read_support_filter_zstd(in);
	archive_read_support_format_tar(in);
	if (archive_read_open_fd(in, in_fd, 64 * 1024) != ARCHIVE_OK) {
		const char *why = archive_error_string(in);

		errbuf_set(err, errlen, "not a tar archive (plain, gzip, xz or zstd)%s%s",
		    why ? ": " : "", why ? why : "");
		goto out;
	}
	/* Unpadded, whatever the fd: libarchive pads to 10240 on fd 1 (stdout
	 * as a tape), which is where tmc-unpack has runnable.tar. */
	if (archive_write_set_format_ustar(out) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(out, 1) != ARCHIVE_OK ||
	    archive_write_open_fd(out, out_fd) != ARCHIVE_OK) {
		errbuf_set(err, errlen, "start runnable.tar: %s", archive_error_string(out));
		goto out;
	}

	for (;;) {
		int r = one_entry(in, out, clean, &st, lim, err, errlen);

		if (r < 0)
			goto out;
		if (r == 0)
			break;
		if ((uint64_t)archive_filter_bytes(in, 0) > stream_cap) {
			errbuf_set(err, errlen, "tar stream over %llu bytes unpacked",
			    (unsigned long long)stream_cap);
			goto out;
		}
	}
	if (st.nseen == 0) {
		errbuf_set(err, errlen, "the archive holds no entries");
		goto out;
	}
	if (check_tree(&st, err, errlen) < 0)
		goto out;
	if (!st.have_tmc_run) {
		errbuf_set(err, errlen, "no tmc-run: the archive needs an executable file 'tmc-run' at the top");
		goto out;
	}
	if (archive_write_close(out) != ARCHIVE_OK) {
		errbuf_set(err, errlen, "finish runnable.tar: %s", archive_error_string(out));
		goto out;
	}
	rc = 0;
out:
	if (out != NULL)
		archive_write_free(out);
	if (in != NULL)
		archive_read_free(in);
	if (clean != NULL)
		archive_entry_free(clean);
	for (size_t i = 0; i < st.nseen; i++)
		free(st.seen[i].name);
	free(st.seen);
	return rc;
}

/* In this process: for unprivileged callers and tests (privsep.c has the
 * one for privileged programs). Creates out_tar, removed again on failure. */
int upload_tar_normalize(const char *in_path, const char *out_tar,
    const struct upload_limits *lim, char *err, size_t errlen)
{
	int in_fd, out_fd, rc;

	in_fd = open(in_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in_fd < 0)
		return errbuf_set(err, errlen, "open upload: %s", strerror(errno));
	out_fd = open(out_tar, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (out_fd < 0) {
		rc = errbuf_set(err, errlen, "create %s: %s", out_tar, strerror(errno));
		close(in_fd);
		return rc;
	}
	rc = upload_tar_normalize_fd(in_fd, out_fd, lim, err, errlen);
	if (rc == 0 && fsync(out_fd) < 0)
		rc = errbuf_set(err, errlen, "fsync runnable.tar: %s", strerror(errno));
	close(out_fd);
	close(in_fd);
	if (rc < 0)
		unlink(out_tar);
	return rc;
}
