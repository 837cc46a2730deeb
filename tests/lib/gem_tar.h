/*
 * gem_tar.h: a test tree written in the layout of Ruby's
 * Gem::Package::TarWriter, for the suites that push tars made by real
 * tools through the intake and the guest (check_task_unpack, http_test).
 * Ruby is not a dependency, so the layout is made here byte by byte.
 * Reports failure as -1 with a message, never asserts: a check suite and
 * the HTTP harness each report it their own way.
 */
#ifndef TMC_TESTS_GEM_TAR_H
#define TMC_TESTS_GEM_TAR_H

#include <stddef.h>

/* One name of a test tree; exactly one of data, link and hard is set. */
struct gem_tar_file {
	const char *name;
	const char *data;	/* a regular file's contents */
	const char *link;	/* a symlink's target */
	const char *hard;	/* a hard link to this other name of the tree */
};

/* gem_tar.c */
int gem_tar_write(const char *out, const struct gem_tar_file *files, size_t n, char *err, size_t errlen);

#endif
