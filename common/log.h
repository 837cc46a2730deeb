/*
 * log.h: the project's one error idiom.
 *
 * Daemon and CLI code reports through these; library-like modules (JSON,
 * archives, paths, policy, channel) never log: they return -1 or NULL and
 * fill an error buffer the caller passes in (see errbuf_set below).
 *
 *   log_warn   a failure, with strerror(errno) appended
 *   log_warnx  a failure, no errno
 *   log_info   an event worth an operator's attention
 *   log_debug  printed only at verbosity >= 2
 *   fatal/fatalx  log, then exit(1): only for start-up or a broken invariant
 *
 * Messages begin with the function name by convention: log_warn("%s: open %s", __func__, path).
 * Thread-safe: each message is written with one write(2).
 */
#ifndef TMC_LOG_H
#define TMC_LOG_H

#include <stdarg.h>
#include <stddef.h>

void log_init(const char *progname, int verbosity, int fd);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Library-module error reporting: format into the caller's buffer; returns -1
 * so that `return errbuf_set(err, errlen, "...")` reads naturally. */
int errbuf_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
