/*
 * output_set.c: the result files once read (struct output_set) and the
 * strict parser of meta.txt. No archive code: sandboxd links this without
 * libarchive, and the set it handles was filled either by output_tar.c in
 * this process or by privsep.c from tmc-unpack's answer.
 * Owns: the contract's list of result file names, meta.txt version 1.
 * Never: logs, reads past a length, trusts a number it has not range-checked.
 */
#include "sandbox/sandbox_host.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const output_names[] = {
	"meta.txt", "stdout.txt", "stderr.txt", "output.txt", "test_output.txt",
	"exit_code.txt", "valgrind.log", "validations.json",
};

_Static_assert(sizeof(output_names) / sizeof(output_names[0]) == OUTPUT_NAMES,
    "OUTPUT_NAMES is the number of result file names");

int output_name_known(const char *name)
{
	for (size_t i = 0; i < sizeof(output_names) / sizeof(output_names[0]); i++)
		if (strcmp(name, output_names[i]) == 0)
			return 1;
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
		if (!output_name_known(val))
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
		/* Cut at a character boundary: the error ends up in vm_log. */
		if (val[0] == '\0')
			snprintf(m->error, sizeof(m->error), "(empty)");
		else
			utf8_copy(m->error, sizeof(m->error), val, strlen(val));
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
