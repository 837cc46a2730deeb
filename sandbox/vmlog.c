/*
 * vmlog.c: the guest console transcript (the result's `vm_log`).
 * Owns: splitting the console byte stream into lines, stamping each line
 * with the host time its first byte arrived (`[seconds.micro] ` since
 * launch), capping the transcript, and remembering when the tmc-init
 * markers (`tmc-init: run`, ...) appeared, also after the cap was hit.
 * Input is hostile: CRs are dropped, NULs and ill-formed UTF-8 become
 * U+FFFD, a line without newline is cut every VMLOG_LINE_MAX bytes, and
 * total memory is bounded by the cap plus one line.
 * Never: logs, grows past the cap, blocks.
 */
#include "sandbox/sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VMLOG_LINE_MAX	4096	/* a longer line is split into several */
#define VMLOG_MARKS	16	/* first marker lines remembered */
#define VMLOG_MARK_LEN	64
#define VMLOG_MARK_PREFIX "tmc-init: "

struct vmlog_mark {
	char text[VMLOG_MARK_LEN];
	double t;
};

struct vmlog {
	uint64_t cap;		/* whole transcript, notes and truncation mark included */
	uint64_t body_cap;	/* console lines; the rest is reserved for the tail */
	double t0;
	char *buf;		/* stamped, sanitized console lines */
	size_t len, alloc;
	uint64_t dropped;	/* bytes of stamped lines that did not fit */
	char notes[2048];	/* host-side notes, appended after the console lines */
	size_t notes_len;
	char line[VMLOG_LINE_MAX];
	size_t line_len;
	int in_line;
	double line_t;
	struct vmlog_mark marks[VMLOG_MARKS];
	size_t nmarks;
	char *text;		/* cache for vmlog_text() */
};

struct vmlog *vmlog_new(uint64_t cap, double t0)
{
	struct vmlog *log = calloc(1, sizeof(*log));
	uint64_t reserve;

	if (log == NULL)
		return NULL;
	log->cap = cap;
	reserve = sizeof(log->notes) + 128;
	log->body_cap = cap > 4 * reserve ? cap - reserve : cap / 2;
	log->t0 = t0;
	return log;
}

static void vmlog_stamp(char *out, size_t outlen, double rel)
{
	unsigned long long us;

	if (!(rel > 0))
		rel = 0;
	us = (unsigned long long)(rel * 1e6 + 0.5);
	snprintf(out, outlen, "[%llu.%06llu] ", us / 1000000, us % 1000000);
}

static void vmlog_remember(struct vmlog *log, const char *s, size_t n, double t)
{
	size_t plen = strlen(VMLOG_MARK_PREFIX);
	struct vmlog_mark *m;

	if (log->nmarks >= VMLOG_MARKS || n < plen || memcmp(s, VMLOG_MARK_PREFIX, plen) != 0)
		return;
	m = &log->marks[log->nmarks++];
	if (n >= sizeof(m->text))
		n = sizeof(m->text) - 1;
	memcpy(m->text, s, n);
	m->text[n] = '\0';
	m->t = t;
}

/* Appends one stamped line, or counts it as dropped once the body is full.
 * After the first line that does not fit, later lines are dropped too, so
 * the transcript never has a hole in the middle. */
static void vmlog_append_line(struct vmlog *log, const char *s, size_t n, double t)
{
	char stamp[48];
	size_t slen, clen;
	char *clean;

	vmlog_remember(log, s, n, t);
	vmlog_stamp(stamp, sizeof(stamp), t - log->t0);
	slen = strlen(stamp);
	clean = utf8_sanitize(s, n, &clen);
	if (clean == NULL) {
		log->dropped += slen + n + 1;
		return;
	}
	if (log->dropped > 0 || log->len + slen + clen + 1 > log->body_cap) {
		log->dropped += slen + clen + 1;
		free(clean);
		return;
	}
	if (log->len + slen + clen + 2 > log->alloc) {
		size_t want = log->alloc ? log->alloc : 4096;
		char *nb;

		while (want < log->len + slen + clen + 2)
			want *= 2;
		if (want > log->body_cap + 1)
			want = log->body_cap + 1;
		nb = realloc(log->buf, want);
		if (nb == NULL) {
			log->dropped += slen + clen + 1;
			free(clean);
			return;
		}
		log->buf = nb;
		log->alloc = want;
	}
	memcpy(log->buf + log->len, stamp, slen);
	memcpy(log->buf + log->len + slen, clean, clen);
	log->len += slen + clen;
	log->buf[log->len++] = '\n';
	log->buf[log->len] = '\0';
	free(clean);
}

static void vmlog_flush_line(struct vmlog *log)
{
	if (!log->in_line)
		return;
	vmlog_append_line(log, log->line, log->line_len, log->line_t);
	log->line_len = 0;
	log->in_line = 0;
}

static void vmlog_invalidate(struct vmlog *log)
{
	free(log->text);
	log->text = NULL;
}

/* Feeds console bytes that arrived at host time `now` (same clock as t0). */
void vmlog_feed(struct vmlog *log, const char *buf, size_t len, double now)
{
	vmlog_invalidate(log);
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if (c == '\r')
			continue;	/* the guest tty sends CRLF */
		if (!log->in_line) {
			log->in_line = 1;
			log->line_t = now;
		}
		if (c == '\n') {
			vmlog_flush_line(log);
			continue;
		}
		log->line[log->line_len++] = c;
		if (log->line_len == sizeof(log->line))
			vmlog_flush_line(log);
	}
}

/* A host-side line ("sandbox: ..."), kept even when the console part was
 * truncated; notes past their own reserve are cut. The text may quote
 * hostile bytes (a task's file name in tmc-init's error): it is sanitized,
 * and a cut falls on a character boundary, so vm_log stays valid UTF-8. */
void vmlog_note(struct vmlog *log, const char *text, double now)
{
	char stamp[48];
	size_t room;
	int n;

	vmlog_invalidate(log);
	vmlog_stamp(stamp, sizeof(stamp), now - log->t0);
	n = snprintf(log->notes + log->notes_len, sizeof(log->notes) - log->notes_len,
	    "%ssandbox: ", stamp);
	if (n < 0 || (size_t)n + 2 > sizeof(log->notes) - log->notes_len) {
		log->notes[log->notes_len] = '\0';
		return;
	}
	log->notes_len += (size_t)n;
	/* Room for the text, its newline and the NUL. */
	room = sizeof(log->notes) - log->notes_len - 1;
	log->notes_len += utf8_copy(log->notes + log->notes_len, room, text, strlen(text));
	log->notes[log->notes_len++] = '\n';
	log->notes[log->notes_len] = '\0';
}

/* Host time (seconds since t0) of the first console line starting with
 * `marker`, or -1 when it never appeared. */
double vmlog_marker_time(const struct vmlog *log, const char *marker)
{
	size_t mlen = strlen(marker);

	for (size_t i = 0; i < log->nmarks; i++)
		if (strncmp(log->marks[i].text, marker, mlen) == 0)
			return log->marks[i].t - log->t0;
	return -1;
}

/* Copies the rest of the first marker line starting with `marker` (e.g. the
 * "3" of "tmc-init: exit 3") into out; -1 when there is none. */
int vmlog_marker_arg(const struct vmlog *log, const char *marker, char *out, size_t outlen)
{
	size_t mlen = strlen(marker);

	for (size_t i = 0; i < log->nmarks; i++) {
		if (strncmp(log->marks[i].text, marker, mlen) != 0)
			continue;
		if (snprintf(out, outlen, "%s", log->marks[i].text + mlen) < 0)
			return -1;
		return 0;
	}
	return -1;
}

int vmlog_truncated(const struct vmlog *log)
{
	return log->dropped > 0;
}

/* The transcript so far, valid UTF-8, at most cap bytes; a pending partial
 * line is closed first. Owned by log, valid until the next feed/note/free.
 * Returns "" when out of memory. */
const char *vmlog_text(struct vmlog *log)
{
	char mark[128] = "";
	size_t mlen = 0, total;

	vmlog_flush_line(log);
	if (log->text != NULL)
		return log->text;
	if (log->dropped > 0) {
		int n = snprintf(mark, sizeof(mark),
		    "[vm log truncated at %llu bytes: %llu more bytes dropped]\n",
		    (unsigned long long)log->cap, (unsigned long long)log->dropped);
		mlen = n > 0 && (size_t)n < sizeof(mark) ? (size_t)n : 0;
	}
	total = log->len + mlen + log->notes_len;
	while (total > log->cap && log->notes_len > 0) {
		/* Only a tiny cap gets here: notes go first. */
		log->notes_len = 0;
		total = log->len + mlen;
	}
	log->text = malloc(total + 1);
	if (log->text == NULL)
		return "";
	if (log->len > 0)
		memcpy(log->text, log->buf, log->len);
	memcpy(log->text + log->len, mark, mlen);
	memcpy(log->text + log->len + mlen, log->notes, log->notes_len);
	log->text[total] = '\0';
	return log->text;
}

void vmlog_free(struct vmlog *log)
{
	if (log == NULL)
		return;
	free(log->buf);
	free(log->text);
	free(log);
}
