/*
 * output_tar.c: reads the guest's output.tar (the result files) as hostile
 * data, and parses meta.txt strictly.
 * Owns: which entries are accepted: regular files whose name is one of the
 * contract's flat names (sandbox/README.md), each read into memory up to
 * file_cap bytes (the rest is skipped and the file marked truncated).
 * Everything else (links, directories, devices, fifos, `..` or absolute
 * names, unknown names, duplicates) is skipped and noted. The zero-filled
 * tail of the disk image ends the archive; garbage or a truncated archive
 * ends the read with what was read so far and malformed set.
 * Never: extracts onto the file system, follows a link, trusts a size in a
 * header for an allocation, reads more than file_cap of any entry into
 * memory, logs, opens a file once it has the fd (output_tar_read_fd() is
 * what tmc-unpack runs under its seccomp filter, see privsep.c).
 * The set's names and meta.txt live in output_set.c, which has no archive
 * code.
 */
#define _GNU_SOURCE
#include "sandbox/sandbox_host.h"
#include "common/log.h"
#include "common/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUTPUT_MAX_ENTRIES 1024	/* a disk of tiny headers ends here */

/* Adds to the set's note, keeping it short: the first few reasons tell the
 * story, the rest is counted. */
static void output_note(struct output_set *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void output_note(struct output_set *out, const char *fmt, ...)
{
	size_t len = strlen(out->note);
	char item[96];
	va_list ap;
	int n;

	out->malformed = 1;
	va_start(ap, fmt);
	n = vsnprintf(item, sizeof(item), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (len + strlen(item) + 3 >= sizeof(out->note)) {
		if (len + 5 < sizeof(out->note) && strcmp(out->note + len - 3, "...") != 0)
			snprintf(out->note + len, sizeof(out->note) - len, "; ...");
		return;
	}
	snprintf(out->note + len, sizeof(out->note) - len, "%s%s", len ? "; " : "", item);
}

/* Makes an entry name printable for a note (it is hostile). */
static void output_printable(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; in != NULL && *in != '\0' && o + 1 < outlen; in++)
		out[o++] = (*in >= 0x20 && *in < 0x7f) ? *in : '?';
	out[o] = '\0';
}

static const char *output_type_name(mode_t type)
{
	switch (type) {
	case AE_IFLNK: return "symlink";
	case AE_IFDIR: return "directory";
	case AE_IFCHR: return "char device";
	case AE_IFBLK: return "block device";
	case AE_IFIFO: return "fifo";
	case AE_IFSOCK: return "socket";
	default: return "special file";
	}
}

/* Reads the current entry's data: the first cap bytes into memory, the
 * rest read and discarded. Returns 0, or -1 when the archive broke. */
static int output_read_entry(struct archive *a, uint64_t cap, struct output_file *f)
{
	char *buf;
	size_t len = 0;
	char sink[16384];

	if (cap > SIZE_MAX - 1)
		cap = SIZE_MAX - 1;
	buf = malloc(cap + 1);
	if (buf == NULL)
		return -1;
	for (;;) {
		la_ssize_t n;

		if (len < cap)
			n = archive_read_data(a, buf + len, cap - len);
		else
			n = archive_read_data(a, sink, sizeof(sink));
		if (n < 0) {
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		if (len < cap)
			len += (size_t)n;
		else
			f->truncated = 1;
	}
	f->data = utf8_sanitize(buf, len, &f->len);
	free(buf);
	return f->data == NULL ? -1 : 0;
}

/* Returns 0 and fills out (possibly empty, possibly malformed) whenever the
 * file could be opened; -1 with err only when it could not be read at all. */
int output_tar_read(const char *path, uint64_t file_cap, struct output_set *out,
    char *err, size_t errlen)
{
	int fd, rc;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errbuf_set(err, errlen, "open %s: %s", path, strerror(errno));
	rc = output_tar_read_fd(fd, file_cap, out, err, errlen);
	close(fd);
	return rc;
}

/* The same from an open fd (left open), read from its current offset. */
int output_tar_read_fd(int fd, uint64_t file_cap, struct output_set *out,
    char *err, size_t errlen)
{
	struct archive *a;
	struct archive_entry *e;
	unsigned entries = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	a = archive_read_new();
	if (a == NULL)
		return errbuf_set(err, errlen, "output_tar_read: out of memory");
	/* Only tar, no decompression filters: the guest writes plain ustar, and
	 * a compression filter would turn a 20 MB disk into a decompression bomb. */
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
		output_note(out, "not a tar archive: %s", archive_error_string(a));
		archive_read_free(a);
		return 0;
	}
	for (;;) {
		struct output_file *f;
		const char *name;
		char shown[64];
		mode_t type;

		rc = archive_read_next_header(a, &e);
		if (rc == ARCHIVE_EOF)
			break;
		if (rc == ARCHIVE_WARN) {
			/* e.g. an unknown pax keyword: the entry itself is usable */
		} else if (rc != ARCHIVE_OK) {
			if (entries == 0)
				output_note(out, "not a tar archive: %s",
				    archive_error_string(a) ? archive_error_string(a) : "?");
			else
				output_note(out, "archive broken after %u entries: %s", entries,
				    archive_error_string(a) ? archive_error_string(a) : "?");
			break;
		}
		if (++entries > OUTPUT_MAX_ENTRIES) {
			output_note(out, "more than %d entries", OUTPUT_MAX_ENTRIES);
			break;
		}
		name = archive_entry_pathname(e);
		output_printable(name, shown, sizeof(shown));
		if (name != NULL && strncmp(name, "./", 2) == 0 && name[2] != '\0')
			name += 2;	/* `tar -C dir .` style; still must be flat */
		type = archive_entry_filetype(e);
		if (name == NULL) {
			output_note(out, "entry without a name");
			continue;
		}
		if (archive_entry_hardlink(e) != NULL) {
			output_note(out, "%s: hard link skipped", shown);
			continue;
		}
		if (type != AE_IFREG) {
			output_note(out, "%s: %s skipped", shown, output_type_name(type));
			continue;
		}
		if (!output_name_known(name)) {
			output_note(out, "%s: unknown name skipped", shown);
			continue;
		}
		if (output_set_get(out, name) != NULL) {
			output_note(out, "%s: duplicate skipped", shown);
			continue;
		}
		if (out->count >= sizeof(out->files) / sizeof(out->files[0]))
			break;	/* cannot happen: fewer known names than slots */
		f = &out->files[out->count];
		memset(f, 0, sizeof(*f));
		snprintf(f->name, sizeof(f->name), "%s", name);
		if (output_read_entry(a, file_cap, f) < 0) {
			free(f->data);
			f->data = NULL;
			output_note(out, "%s: data broken: %s", shown,
			    archive_error_string(a) ? archive_error_string(a) : "out of memory");
			break;
		}
		out->count++;
	}
	archive_read_free(a);
	return 0;
}

