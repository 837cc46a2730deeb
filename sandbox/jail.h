/*
 * jail.h: the UML process's jail on the host (jail.c) and its host
 * seccomp allow-list (host_filter.c). Both are prepared in the parent,
 * where allocating is allowed, and entered in the clone3 child of uml.c
 * with raw syscalls only.
 */
#ifndef TMC_SANDBOX_JAIL_H
#define TMC_SANDBOX_JAIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* jail.c: an empty tmpfs root holding only what one UML run needs, every
 * file at the same absolute path as on the host, so that the kernel
 * command line needs no rewriting:
 *   the exec image and its ELF interpreter and libraries, read-only;
 *   the read-only images (initrd, rootfs, layers), read-only, noexec;
 *   the work dir: a small tmpfs of the run's uid holding runnable.tar
 *     (read-only), output.tar (read-write) and the guest RAM tmpfs;
 *   /dev/null and /dev/random; a fresh /proc of the run's pid namespace.
 * The root itself is read-only; nothing else of the host is reachable. */
struct jail_spec {
	const char *const *execs;	/* programs run in the jail (linux.uml), NULL-terminated */
	const char *const *images;	/* read-only images, NULL-terminated */
	const char *work_dir;		/* host work dir; the same path inside */
	const char *runnable;		/* in work_dir: bound read-only */
	const char *output;		/* in work_dir: bound read-write */
	const char *ram_dir;		/* in work_dir: the guest RAM tmpfs */
	const char *ram_opts;		/* its tmpfs options (size cap, owner,
					 * huge pages), as uml.c mounts it unjailed */
	uid_t uid;			/* owner of the work and RAM tmpfs */
	gid_t gid;
};
struct jail;
struct jail *jail_new(const struct jail_spec *spec, char *err, size_t errlen);
int jail_enter(struct jail *j, int *step);
void jail_step_text(const struct jail *j, int step, char *out, size_t outlen);
void jail_free(struct jail *j);
int jail_exec_deps(const char *exe, char ***paths, char *err, size_t errlen);

/* host_filter.c: the seccomp allow-list of the UML process and every
 * process it starts (its helper threads, the stubs of guest address
 * spaces), built with libseccomp in the parent, installed in the child as
 * the last step before execve. */
struct host_filter;
struct host_filter *host_filter_new(char *err, size_t errlen);
int host_filter_install(const struct host_filter *f);
void host_filter_free(struct host_filter *f);

#endif
