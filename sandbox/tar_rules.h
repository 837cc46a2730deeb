/*
 * tar_rules.h: the one rule for what a task tar may hold, shared by the
 * host's check of an upload (upload_tar.c) and the guest's unpacking of
 * runnable.tar (guest/task_unpack.c), so that what the intake accepts the
 * guest unpacks, and nothing else. No libarchive, no logging: tmc-init is
 * static and links this alone.
 */
#ifndef TMC_TAR_RULES_H
#define TMC_TAR_RULES_H

#include <stddef.h>

#define TAR_NAME_MAX	255	/* ustar prefix (155) + "/" + name (100) */
#define TAR_LINK_MAX	100	/* ustar linkname */

/* tar_rules.c: each returns NULL when the entry passes, else why not. */
const char *tar_rule_name(const char *raw, char *out, size_t outlen);
const char *tar_rule_symlink(const char *name, const char *target);
const char *tar_rule_ustar(const char *name, int is_dir);

/* guest/task_unpack.c: unpacks a clean ustar (as written by upload_tar.c
 * or task_tar.c) from tar_fd into the directory dir_fd, under the rule
 * above: missing parent directories are created, a symlink whose target
 * stays in the tree and a hard link to an earlier regular file are kept,
 * anything else ends the unpacking with -1 and err naming the entry. */
int task_unpack(int tar_fd, int dir_fd, char *err, size_t errlen);

#endif
