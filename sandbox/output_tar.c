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
 * memory, logs.
 */
#include "sandbox/sandbox.h"
#include "common/log.h"
#include "common/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTPUT_MAX_ENTRIES 1024	/* a disk of tiny headers ends here */

static const char *const output_names[] = {
	"meta.txt", "stdout.txt", "stderr.txt", "output.txt", "test_output.txt",
	"exit_code.txt", "valgrind.log", "validations.json",
};

static int output_known_name(const char *name)
{
	for (size_t i = 0; i < sizeof(output_names) / sizeof(output_names[0]); i++)
		if (strcmp(name, output_names[i]) == 0)
			return 1;
	return 0;
}

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
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		if (archive_errno(a) == ENOENT || archive_errno(a) == EACCES) {
			rc = errbuf_set(err, errlen, "open %s: %s", path, archive_error_string(a));
			archive_read_free(a);
			return rc;
		}
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
		if (!output_known_name(name)) {
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

const struct output_file *output_set_get(const struct output_set *set, const char *name)
{
	for (size_t i = 0; i < set->count; i++)
		if (strcmp(set->files[i].name, name) == 0)
			return &set->files[i];
	return NULL;
}

void output_set_free(struct output_set *set)
{
	for (size_t i = 0; i < set->count; i++) {
		free(set->files[i].data);
		set->files[i].data = NULL;
	}
	set->count = 0;
}

#define META_MAX_LINES	64
#define META_MAX_LINE	512

static int meta_flag(const char *key, const char *val, int *out, char *err, size_t errlen)
{
	uint64_t v;

	if (*out)
		return errbuf_set(err, errlen, "meta.txt: %s given twice", key);
	if (parse_u64(val, 1, 1, &v) < 0)
		return errbuf_set(err, errlen, "meta.txt: %s must be 1", key);
	*out = 1;
	return 0;
}

static int meta_number(const char *key, const char *val, uint64_t max, int *has,
    uint64_t *out, char *err, size_t errlen)
{
	if (*has)
		return errbuf_set(err, errlen, "meta.txt: %s given twice", key);
	if (parse_u64(val, 0, max, out) < 0)
		return errbuf_set(err, errlen, "meta.txt: bad %s", key);
	*has = 1;
	return 0;
}

static int meta_line(struct output_meta *m, char *line, char *err, size_t errlen)
{
	char *val = strchr(line, '=');
	uint64_t v;

	if (val == NULL || val == line)
		return errbuf_set(err, errlen, "meta.txt: line is not key=value");
	*val++ = '\0';
	if (strcmp(line, "version") == 0) {
		if (m->version != 0)
			return errbuf_set(err, errlen, "meta.txt: version given twice");
		if (parse_u64(val, 1, 1, &v) < 0)
			return errbuf_set(err, errlen, "meta.txt: unsupported version");
		m->version = 1;
	} else if (strcmp(line, "exit_code") == 0) {
		if (meta_number(line, val, 255, &m->has_exit_code, &v, err, errlen) < 0)
			return -1;
		m->exit_code = (unsigned)v;
	} else if (strcmp(line, "signal") == 0) {
		if (meta_number(line, val, 64, &m->has_signal, &v, err, errlen) < 0)
			return -1;
		if (v == 0)
			return errbuf_set(err, errlen, "meta.txt: bad signal");
		m->signal = (unsigned)v;
	} else if (strcmp(line, "run_ms") == 0) {
		if (meta_number(line, val, UINT32_MAX, &m->has_run_ms, &m->run_ms, err, errlen) < 0)
			return -1;
	} else if (strcmp(line, "oom") == 0) {
		return meta_flag(line, val, &m->oom, err, errlen);
	} else if (strcmp(line, "output_full") == 0) {
		return meta_flag(line, val, &m->output_full, err, errlen);
	} else if (strcmp(line, "truncated") == 0) {
		if (!output_known_name(val))
			return errbuf_set(err, errlen, "meta.txt: truncated names an unknown file");
		for (size_t i = 0; i < m->ntruncated; i++)
			if (strcmp(m->truncated[i], val) == 0)
				return 0;
		if (m->ntruncated >= sizeof(m->truncated) / sizeof(m->truncated[0]))
			return errbuf_set(err, errlen, "meta.txt: too many truncated lines");
		snprintf(m->truncated[m->ntruncated++], sizeof(m->truncated[0]), "%s", val);
	} else if (strcmp(line, "error") == 0) {
		if (m->error[0] != '\0')
			return errbuf_set(err, errlen, "meta.txt: error given twice");
		snprintf(m->error, sizeof(m->error), "%s", val[0] ? val : "(empty)");
	}
	/* Unknown keys are ignored: a newer guest may add some. */
	return 0;
}

/* Parses meta.txt (contract version 1). Strict: a line that is too long,
 * too many lines, a bad number, a duplicate key or no version=1 make the
 * whole file invalid (-1, err says why); the host then treats the guest as
 * crashed. text is NUL-terminated sanitized data of length len. */
int output_tar_parse_meta(const char *text, size_t len, struct output_meta *meta,
    char *err, size_t errlen)
{
	char line[META_MAX_LINE + 1];
	size_t pos = 0, nlines = 0;

	memset(meta, 0, sizeof(*meta));
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		if (++nlines > META_MAX_LINES)
			return errbuf_set(err, errlen, "meta.txt: more than %d lines", META_MAX_LINES);
		if (n > META_MAX_LINE)
			return errbuf_set(err, errlen, "meta.txt: line %zu longer than %d bytes",
			    nlines, META_MAX_LINE);
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl ? 1 : 0);
		if (n == 0)
			continue;
		if (memchr(line, '\0', n) != NULL)
			return errbuf_set(err, errlen, "meta.txt: NUL in line %zu", nlines);
		if (meta_line(meta, line, err, errlen) < 0)
			return -1;
	}
	if (meta->version != 1)
		return errbuf_set(err, errlen, "meta.txt: no version=1");
	return 0;
}
