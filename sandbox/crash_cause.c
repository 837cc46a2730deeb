/*
 * crash_cause.c: names, in one line, why a guest died, from its vm log.
 * A result whose reason is crash or internal is the sandbox failing, not the
 * task; an operator (or a new user of ./run-test-exercise.sh) needs the
 * cause without reading the whole console transcript. The first line that
 * names a root cause wins over its consequences: UML's "ptrace set fp regs
 * failed, errno = 14" on an AMX host comes before the "Kernel panic" it
 * leads to, and it is the line that explains it.
 * The vm log is guest output, so hostile: the line is cut and every byte
 * that is not printable ASCII becomes '?', since it goes to a terminal.
 * Never: logs, allocates.
 */
#include "sandbox/sandbox.h"

#include <stdio.h>
#include <string.h>

/* Most telling first; within one pattern the earliest line wins. */
static const char *const crash_patterns[] = {
	"failed, errno",	/* UML's host syscalls: ptrace, mmap, ... */
	"returned -",		/* put_fp_registers returned -22 */
	"Kernel panic",
	"BUG:",
	"Oops",
	"fatal",
	"Fatal",
	"error",
	"exited with",		/* sandbox's own note on the UML process */
	"killed",
};

/* Sets *start and *len to the line that holds pos (no newline). */
static void line_around(const char *text, const char *pos, const char **start, size_t *len)
{
	const char *s = pos;
	const char *e = strchr(pos, '\n');

	while (s > text && s[-1] != '\n')
		s--;
	*start = s;
	*len = e != NULL ? (size_t)(e - s) : strlen(s);
}

/* The last line with any text, or NULL. */
static const char *last_line(const char *text, size_t *len)
{
	const char *end = text + strlen(text);

	while (end > text) {
		const char *s = end;
		while (s > text && s[-1] != '\n')
			s--;
		size_t n = (size_t)(end - s);
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r'))
			n--;
		if (n > 0) {
			*len = n;
			return s;
		}
		end = s > text ? s - 1 : text;
	}
	return NULL;
}

/* Copies a line without its "[seconds.micro] " stamp, printable only. */
static void copy_clean(char *out, size_t outlen, const char *s, size_t n)
{
	size_t o = 0;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (close != NULL && (size_t)(close - s) < 24) {
			n -= (size_t)(close - s) + 1;
			s = close + 1;
			while (n > 0 && *s == ' ') {
				s++;
				n--;
			}
		}
	}
	for (size_t i = 0; i < n && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (outlen > 0)
		out[o] = '\0';
}

const char *crash_cause(const char *vm_log, char *out, size_t outlen)
{
	const char *line = NULL;
	size_t len = 0;

	if (outlen == 0)
		return out;
	if (vm_log == NULL)
		vm_log = "";
	for (size_t p = 0; p < sizeof(crash_patterns) / sizeof(crash_patterns[0]) && line == NULL; p++) {
		const char *hit = strstr(vm_log, crash_patterns[p]);
		if (hit != NULL)
			line_around(vm_log, hit, &line, &len);
	}
	if (line == NULL)
		line = last_line(vm_log, &len);
	if (line == NULL) {
		snprintf(out, outlen, "the vm log is empty");
		return out;
	}
	copy_clean(out, outlen, line, len);
	return out;
}
