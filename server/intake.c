/*
 * intake.c: the multipart/form-data parser for POST / (RFC 7578, 2046).
 *
 * Owns: splitting a request body, fed in chunks of any size, into parts;
 * streaming the `file` part to a temp file under a byte cap; keeping the
 * small fields (notify, token, timeout, memory, wait) in bounded buffers.
 * Never: holds the upload in memory, trusts a length, logs, or accepts a
 * body that did not end with the closing delimiter.
 *
 * Every byte here is hostile. The delimiter search is a byte matcher over
 * "\r\n--boundary": because a boundary cannot contain CR, a failed partial
 * match can never hide the start of another, so the matched prefix is
 * emitted as data and the scan goes on without a lookback buffer. Errors
 * carry an HTTP code: 400 for a malformed body, 413 for one over a cap, 500
 * for our own I/O failure.
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define BOUNDARY_MAX 70		/* RFC 2046 */
#define PART_HEADERS_MAX 8192
#define FIELD_MAX 8192		/* notify URL, token, ... */
#define OTHER_PARTS_MAX (1 << 20)	/* unknown fields, epilogue: skipped, still bounded */
#define WBUF 65536

static const char *const known_fields[] = { "notify", "token", "timeout", "memory", "wait", "layers" };
#define NFIELDS (sizeof(known_fields) / sizeof(known_fields[0]))

enum state { PREAMBLE, DELIM_TAIL, HEADERS, BODY, DONE, FAILED };
enum part { PART_FILE, PART_FIELD, PART_SKIP };

struct intake {
	char delim[BOUNDARY_MAX + 5];	/* "\r\n--" boundary */
	size_t dlen, match;
	enum state state;
	int tail_dash;			/* saw one '-' after a delimiter */
	int tail_cr;			/* saw CR after a delimiter */
	char hdr[PART_HEADERS_MAX];
	size_t hlen;
	enum part part;
	size_t field;			/* index into known_fields for PART_FIELD */
	struct {
		char *val;
		size_t len;
		int seen;
	} fields[NFIELDS];
	char *file_path;
	int fd, have_file, file_taken;
	uint64_t file_size, file_cap, other;
	char wbuf[WBUF];
	size_t wlen;
	int code;
	char error[256];
};

static int fail(struct intake *in, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct intake *in, int code, const char *fmt, ...)
{
	va_list ap;

	if (in->state != FAILED) {
		va_start(ap, fmt);
		vsnprintf(in->error, sizeof(in->error), fmt, ap);
		va_end(ap);
		in->code = code;
		in->state = FAILED;
	}
	return -1;
}

/* The token is echoed into the result: one UTF-8 rule for the whole
 * service (sandbox/utf8.c), and a NUL would cut it in C strings. */
int intake_utf8_valid(const char *s, size_t len)
{
	return utf8_valid(s, len);
}

/* RFC 2046 bchars; no CR or LF, which the matcher relies on. */
static int boundary_char(int c)
{
	return isalnum(c) || strchr("'()+_,-./:=? ", c) != NULL;
}

/* Extracts the boundary parameter of a multipart/form-data Content-Type. */
int intake_boundary(const char *ct, char *out, size_t outlen)
{
	const char *p;
	size_t n = 0;

	if (ct == NULL || strncasecmp(ct, "multipart/form-data", 19) != 0)
		return -1;
	p = ct + 19;
	while (*p != '\0') {
		while (*p == ';' || *p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, "boundary=", 9) == 0) {
			p += 9;
			if (*p == '"') {
				p++;
				while (*p != '"' && *p != '\0' && n + 1 < outlen && n < BOUNDARY_MAX)
					out[n++] = *p++;
				if (*p != '"')
					return -1;
			} else {
				while (*p != ';' && *p != '\0' && *p != ' ' && n + 1 < outlen && n < BOUNDARY_MAX)
					out[n++] = *p++;
				if (*p != ';' && *p != '\0' && *p != ' ')
					return -1;
			}
			out[n] = '\0';
			if (n == 0 || out[n - 1] == ' ')
				return -1;
			for (size_t i = 0; i < n; i++)
				if (!boundary_char((unsigned char)out[i]))
					return -1;
			return 0;
		}
		while (*p != ';' && *p != '\0')
			p++;
	}
	return -1;
}

struct intake *intake_new(const char *content_type, const char *file_path, uint64_t file_cap,
    char *err, size_t errlen)
{
	char boundary[BOUNDARY_MAX + 1];
	struct intake *in;

	if (content_type == NULL || strncasecmp(content_type, "multipart/form-data", 19) != 0) {
		errbuf_set(err, errlen, "expected Content-Type multipart/form-data");
		return NULL;
	}
	if (intake_boundary(content_type, boundary, sizeof(boundary)) < 0) {
		errbuf_set(err, errlen, "malformed multipart: missing or invalid boundary");
		return NULL;
	}
	in = calloc(1, sizeof(*in));
	if (in == NULL || (in->file_path = strdup(file_path)) == NULL) {
		free(in);
		errbuf_set(err, errlen, "out of memory");
		return NULL;
	}
	in->dlen = (size_t)snprintf(in->delim, sizeof(in->delim), "\r\n--%s", boundary);
	/* The body opens with "--boundary": start as if its CRLF was seen. */
	in->match = 2;
	in->state = PREAMBLE;
	in->fd = -1;
	in->file_cap = file_cap;
	return in;
}

static int wflush(struct intake *in)
{
	if (in->wlen > 0 && write_full(in->fd, in->wbuf, in->wlen) < 0)
		return fail(in, 500, "cannot store the upload: %s", strerror(errno));
	in->wlen = 0;
	return 0;
}

/* Part data, in runs of any length. */
static int emit(struct intake *in, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	switch (in->part) {
	case PART_FILE:
		if (n > in->file_cap - in->file_size)
			return fail(in, 413, "the 'file' part exceeds the upload cap of %llu bytes",
			    (unsigned long long)in->file_cap);
		in->file_size += n;
		if (in->wlen + n > WBUF && wflush(in) < 0)
			return -1;
		if (n >= WBUF)
			return write_full(in->fd, p, n) < 0 ?
			    fail(in, 500, "cannot store the upload: %s", strerror(errno)) : 0;
		memcpy(in->wbuf + in->wlen, p, n);
		in->wlen += n;
		return 0;
	case PART_FIELD: {
		typeof(in->fields[0]) *f = &in->fields[in->field];
		char *nv;

		if (n > FIELD_MAX - f->len)
			return fail(in, 400, "field '%s' longer than %d bytes", known_fields[in->field], FIELD_MAX);
		nv = realloc(f->val, f->len + n + 1);
		if (nv == NULL)
			return fail(in, 500, "out of memory");
		memcpy(nv + f->len, p, n);
		f->len += n;
		nv[f->len] = '\0';
		f->val = nv;
		return 0;
	}
	default:
		if (n > OTHER_PARTS_MAX - in->other)
			return fail(in, 413, "other parts exceed %d bytes", OTHER_PARTS_MAX);
		in->other += n;
		return 0;
	}
}

static int end_part(struct intake *in)
{
	if (in->part == PART_FILE) {
		if (wflush(in) < 0)
			return -1;
		if (close(in->fd) < 0) {
			in->fd = -1;
			return fail(in, 500, "cannot store the upload: %s", strerror(errno));
		}
		in->fd = -1;
	}
	in->part = PART_SKIP;
	return 0;
}

/* Reads the value of a Content-Disposition parameter: quoted or a token. */
static int disposition_param(const char *hv, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = hv;

	while ((p = strchr(p, ';')) != NULL) {
		size_t n = 0;

		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, key, klen) != 0 || p[klen] != '=')
			continue;
		p += klen + 1;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\0')
					return -1;
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (n + 1 >= outlen)
					return -1;
				out[n++] = *p;
			}
		} else {
			while (*p != ';' && *p != '\0' && *p != ' ' && *p != '\t') {
				if (n + 1 >= outlen)
					return -1;
				out[n++] = *p++;
			}
		}
		out[n] = '\0';
		return 0;
	}
	return -1;
}

/* The header block of one part is complete (it ends with CRLF CRLF, or is
 * a lone CRLF for a part without headers). */
static int start_part(struct intake *in)
{
	char name[64] = "";
	int have_disposition = 0;
	char *line, *save = NULL;

	in->hdr[in->hlen] = '\0';
	if (memchr(in->hdr, '\0', in->hlen) != NULL)
		return fail(in, 400, "malformed multipart: NUL byte in part headers");
	for (line = strtok_r(in->hdr, "\r\n", &save); line != NULL; line = strtok_r(NULL, "\r\n", &save)) {
		char *colon = strchr(line, ':');
		char *v;

		if (colon == NULL)
			return fail(in, 400, "malformed multipart: part header without ':'");
		if ((size_t)(colon - line) != 19 || strncasecmp(line, "Content-Disposition", 19) != 0)
			continue;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (strncasecmp(v, "form-data", 9) != 0)
			return fail(in, 400, "malformed multipart: part is not form-data");
		if (disposition_param(v, "name", name, sizeof(name)) < 0)
			return fail(in, 400, "malformed multipart: part without a usable name");
		have_disposition = 1;
	}
	if (!have_disposition)
		return fail(in, 400, "malformed multipart: part without Content-Disposition");
	if (strcmp(name, "file") == 0) {
		if (in->have_file)
			return fail(in, 400, "more than one 'file' part");
		in->fd = open(in->file_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (in->fd < 0)
			return fail(in, 500, "cannot store the upload: %s", strerror(errno));
		in->have_file = 1;
		in->part = PART_FILE;
		return 0;
	}
	for (size_t i = 0; i < NFIELDS; i++) {
		if (strcmp(name, known_fields[i]) != 0)
			continue;
		if (in->fields[i].seen)
			return fail(in, 400, "field '%s' given more than once", name);
		in->fields[i].seen = 1;
		in->part = PART_FIELD;
		in->field = i;
		return 0;
	}
	in->part = PART_SKIP;
	return 0;
}

/* Scans body bytes for the delimiter. Returns the bytes consumed and sets
 * *closed when a delimiter completed at the last of them; -1 on error.
 * Bytes of a partial match are held as in->match and emitted from the
 * delimiter itself if the match breaks. */
static ssize_t scan_body(struct intake *in, const char *data, size_t len, int discard, int *closed)
{
	size_t run = 0;		/* start of the pending data run */

	*closed = 0;
	for (size_t i = 0; i < len; i++) {
		char c = data[i];

		if (c == in->delim[in->match]) {
			if (in->match == 0 && !discard && emit(in, data + run, i - run) < 0)
				return -1;
			if (++in->match == in->dlen) {
				in->match = 0;
				*closed = 1;
				return (ssize_t)(i + 1);
			}
			continue;
		}
		if (in->match > 0) {
			if (!discard && emit(in, in->delim, in->match) < 0)
				return -1;
			in->match = 0;
			if (c == in->delim[0]) {
				in->match = 1;
				continue;
			}
			run = i;
		}
	}
	if (in->match == 0 && !discard && emit(in, data + run, len - run) < 0)
		return -1;
	return (ssize_t)len;
}

/* One byte of the line after a delimiter: "--" closes the body, optional
 * transport padding then CRLF opens a part. */
static int delim_tail(struct intake *in, char c)
{
	if (in->tail_dash) {
		if (c != '-')
			return fail(in, 400, "malformed multipart: bad closing delimiter");
		in->state = DONE;
	} else if (in->tail_cr) {
		if (c != '\n')
			return fail(in, 400, "malformed multipart: bad delimiter line");
		in->state = HEADERS;
		in->hlen = 0;
	} else if (c == '-') {
		in->tail_dash = 1;
	} else if (c == '\r') {
		in->tail_cr = 1;
	} else if (c != ' ' && c != '\t') {
		return fail(in, 400, "malformed multipart: bad delimiter line");
	}
	return 0;
}

static int header_byte(struct intake *in, char c)
{
	if (in->hlen >= PART_HEADERS_MAX - 1)
		return fail(in, 400, "malformed multipart: part headers longer than %d bytes", PART_HEADERS_MAX);
	in->hdr[in->hlen++] = c;
	if ((in->hlen == 2 && memcmp(in->hdr, "\r\n", 2) == 0) ||
	    (in->hlen >= 4 && memcmp(in->hdr + in->hlen - 4, "\r\n\r\n", 4) == 0)) {
		if (start_part(in) < 0)
			return -1;
		in->state = BODY;
		in->match = 0;
	}
	return 0;
}

int intake_feed(struct intake *in, const char *data, size_t len)
{
	size_t i = 0;

	while (i < len) {
		ssize_t used;
		int closed;

		switch (in->state) {
		case FAILED:
			return -1;
		case PREAMBLE:
		case BODY:
			used = scan_body(in, data + i, len - i, in->state == PREAMBLE, &closed);
			if (used < 0)
				return -1;
			i += (size_t)used;
			if (closed) {
				if (in->state == BODY && end_part(in) < 0)
					return -1;
				in->state = DELIM_TAIL;
				in->tail_dash = in->tail_cr = 0;
			} else if (in->state == PREAMBLE) {
				in->other += (uint64_t)used;
				if (in->other > OTHER_PARTS_MAX)
					return fail(in, 400, "malformed multipart: no opening boundary");
			}
			break;
		case DELIM_TAIL:
			if (delim_tail(in, data[i++]) < 0)
				return -1;
			break;
		case HEADERS:
			if (header_byte(in, data[i++]) < 0)
				return -1;
			break;
		case DONE:
			/* The epilogue is ignored, within a bound. */
			if (len - i > OTHER_PARTS_MAX - in->other)
				return fail(in, 413, "data after the closing boundary exceeds %d bytes", OTHER_PARTS_MAX);
			in->other += len - i;
			i = len;
			break;
		}
	}
	return in->state == FAILED ? -1 : 0;
}

/* The body is complete: it must have closed properly and carried a file. */
int intake_finish(struct intake *in)
{
	if (in->state == FAILED)
		return -1;
	if (in->state != DONE) {
		if (in->state == PREAMBLE)
			return fail(in, 400, "malformed multipart: no part found (wrong boundary?)");
		return fail(in, 400, "malformed multipart: the body ends before the closing boundary");
	}
	if (!in->have_file)
		return fail(in, 400, "no 'file' part: the task tar is required");
	if (in->file_size == 0)
		return fail(in, 400, "the 'file' part is empty: expected a tar archive");
	return 0;
}

int intake_error_code(const struct intake *in)
{
	return in->state == FAILED ? in->code : 0;
}

const char *intake_error(const struct intake *in)
{
	return in->state == FAILED ? in->error : "";
}

const char *intake_field(const struct intake *in, const char *name, size_t *len)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		if (strcmp(known_fields[i], name) != 0 || !in->fields[i].seen)
			continue;
		if (len != NULL)
			*len = in->fields[i].len;
		return in->fields[i].val != NULL ? in->fields[i].val : "";
	}
	return NULL;
}

/* After intake_finish() succeeded: the caller owns the file from now on. */
int intake_take_file(struct intake *in, uint64_t *size)
{
	if (!in->have_file || in->state != DONE)
		return -1;
	in->file_taken = 1;
	if (size != NULL)
		*size = in->file_size;
	return 0;
}

/* Closes and, unless it was taken, removes the upload file. */
void intake_free(struct intake *in)
{
	if (in == NULL)
		return;
	if (in->fd >= 0)
		close(in->fd);
	if (in->have_file && !in->file_taken)
		unlink(in->file_path);
	for (size_t i = 0; i < NFIELDS; i++)
		free(in->fields[i].val);
	free(in->file_path);
	free(in);
}
