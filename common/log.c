/*
 * log.c: logging for daemons and CLIs (see log.h for the idiom).
 * Owns: formatting a line and writing it whole to the log fd.
 * Never: allocates (safe in a forked child before exec), buffers across calls.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_progname = "tmc";
static int log_verbosity = 1;
static int log_fd = 2;

void log_init(const char *progname, int verbosity, int fd)
{
	if (progname != NULL)
		log_progname = progname;
	log_verbosity = verbosity;
	log_fd = fd;
}

static void log_emit(const char *level, int with_errno, int saved_errno, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec now;
	struct tm tm;
	size_t len = 0;
	int n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    now.tv_nsec / 1000000, log_progname, (int)getpid(), level);
	if (n > 0)
		len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n > 0)
		len += (size_t)n < sizeof(line) - len ? (size_t)n : sizeof(line) - len - 1;
	if (with_errno && len < sizeof(line) - 1) {
		n = snprintf(line + len, sizeof(line) - len, ": %s", strerror(saved_errno));
		if (n > 0)
			len += (size_t)n < sizeof(line) - len ? (size_t)n : sizeof(line) - len - 1;
	}
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write per line keeps lines from threads and processes whole. */
	if (write(log_fd, line, len) < 0) {
		/* Nowhere left to report a failing log fd. */
	}
}

#define LOG_BODY(level, with_errno, min_verbosity)             \
	do {                                                   \
		int saved_errno = errno;                       \
		va_list ap;                                    \
		if (log_verbosity < (min_verbosity))           \
			return;                                \
		va_start(ap, fmt);                             \
		log_emit(level, with_errno, saved_errno, fmt, ap); \
		va_end(ap);                                    \
		errno = saved_errno;                           \
	} while (0)

void log_warn(const char *fmt, ...) { LOG_BODY("warn", 1, 0); }
void log_warnx(const char *fmt, ...) { LOG_BODY("warn", 0, 0); }
void log_info(const char *fmt, ...) { LOG_BODY("info", 0, 1); }
void log_debug(const char *fmt, ...) { LOG_BODY("debug", 0, 2); }

void fatal(const char *fmt, ...)
{
	int saved_errno = errno;
	va_list ap;

	va_start(ap, fmt);
	log_emit("fatal", 1, saved_errno, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit("fatal", 0, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

int errbuf_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}
