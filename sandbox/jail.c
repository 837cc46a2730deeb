/*
 * jail.c: the file system the UML process sees on the host, after the
 * model of Firecracker's jailer: an empty tmpfs root with only this run's
 * files in it, entered with pivot_root, the host's root detached.
 *
 * Why: the guest kernel is the main wall. A guest that escaped it runs as
 * the UML process, and without a jail it would see the host's files, other
 * runs' work dirs (their runnable.tar and output.tar: grades) and, through
 * the host's /proc, other UML processes' memory. In the jail it sees only
 * its own images (read-only), its own work dir and a /proc of its own pid
 * namespace.
 *
 * Split: jail_new() (parent: allocates, resolves the exec image's ELF
 * interpreter and libraries) and jail_enter() (the clone3 child of uml.c,
 * root, in its fresh mount and pid namespaces: raw syscalls only, no
 * malloc; it writes only into its own copy of the jail's buffers).
 * Never: binds a directory of the host (files only, so that nothing next
 * to an image shows), leaves the root writable, mounts anything without
 * nosuid.
 */
#define _GNU_SOURCE
#include "sandbox/jail.h"
#include "common/log.h"
#include "common/util.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB ((uint64_t)1024 * 1024)
#define JAIL_DEPS_MAX 16	/* an ELF interpreter and its libraries */
#define JAIL_DEPS_OUT 8192	/* ld.so --list output we read */

enum jail_kind {
	JAIL_BIND_FILE,		/* src bound onto an empty file at dst */
	JAIL_TMPFS,		/* a tmpfs with opts at dst */
	JAIL_PROC,		/* a proc of the current pid namespace at dst */
};

struct jail_mount {
	enum jail_kind kind;
	char *src;		/* host path (JAIL_BIND_FILE) */
	char *at;		/* root + dst: where it goes before the pivot */
	char *opts;		/* tmpfs/proc options */
	unsigned long flags;	/* MS_RDONLY, MS_NOEXEC, MS_NODEV on top of MS_NOSUID */
};

struct jail {
	char *root;		/* host dir the new root tmpfs is mounted on */
	struct jail_mount *m;
	size_t n, cap;
};

/* Steps of jail_enter(), for the parent's error text; a step's number is
 * JAIL_STEP_xxx + 16 * (mount index + 1) for the per-mount ones. */
enum {
	JAIL_STEP_ROOT, JAIL_STEP_MKDIR, JAIL_STEP_PLACEHOLDER, JAIL_STEP_BIND,
	JAIL_STEP_REMOUNT, JAIL_STEP_TMPFS, JAIL_STEP_PROC, JAIL_STEP_ROOT_RO,
	JAIL_STEP_PIVOT, JAIL_STEP_DETACH, JAIL_STEPS,
};
static const char *const jail_step_names[JAIL_STEPS] = {
	"mount the root tmpfs", "make a mount point's dir", "make a mount point",
	"bind", "remount", "mount tmpfs", "mount proc", "make the root read-only",
	"pivot_root", "detach the host's root",
};

/* ------------------------------------------------------------ the parent */

static int jail_add(struct jail *j, enum jail_kind kind, const char *src, const char *dst,
    const char *opts, unsigned long flags)
{
	struct jail_mount *m;

	if (dst[0] != '/' || strstr(dst, "/../") != NULL || strstr(dst, "/./") != NULL) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < j->n; i++)
		if (strcmp(j->m[i].at + strlen(j->root), dst) == 0) {
			if (kind == JAIL_BIND_FILE && j->m[i].kind == kind &&
			    strcmp(j->m[i].src, src) == 0)
				return 0;
			errno = EEXIST;
			return -1;
		}
	if (j->n == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 16;
		struct jail_mount *nm = realloc(j->m, cap * sizeof(*nm));

		if (nm == NULL)
			return -1;
		j->m = nm;
		j->cap = cap;
	}
	m = &j->m[j->n];
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->flags = flags;
	if (asprintf(&m->at, "%s%s", j->root, dst) < 0) {
		m->at = NULL;
		return -1;
	}
	m->src = src != NULL ? strdup(src) : NULL;
	m->opts = opts != NULL ? strdup(opts) : NULL;
	j->n++;
	if ((src != NULL && m->src == NULL) || (opts != NULL && m->opts == NULL))
		return -1;
	return 0;
}

/* jail_add(), with err naming the path: relative (EINVAL), taken by
 * another mount (EEXIST) or out of memory. */
static int jail_add_or_fail(struct jail *j, enum jail_kind kind, const char *src, const char *dst,
    const char *opts, unsigned long flags, char *err, size_t errlen)
{
	if (jail_add(j, kind, src, dst, opts, flags) == 0)
		return 0;
	return errbuf_set(err, errlen, "jail: %s: %s", dst, strerror(errno));
}

/* The exec image's run-time dependencies, as its own ELF interpreter
 * resolves them (ld.so --list): the interpreter by the name the kernel
 * opens (PT_INTERP) and each library by the path ld.so loads it from.
 * *paths is NULL-terminated, allocated; empty for a static image. */
static char *jail_elf_interp(const char *exe, char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	char *interp = NULL;
	int fd = open(exe, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		errbuf_set(err, errlen, "jail: open %s: %s", exe, strerror(errno));
		return NULL;
	}
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(ph) || eh.e_phnum > 256) {
		errbuf_set(err, errlen, "jail: %s: not a 64-bit ELF file", exe);
		goto out;
	}
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) !=
		    (ssize_t)sizeof(ph)) {
			errbuf_set(err, errlen, "jail: %s: short program header", exe);
			goto out;
		}
		if (ph.p_type != PT_INTERP)
			continue;
		if (ph.p_filesz < 2 || ph.p_filesz > PATH_MAX ||
		    (interp = calloc(1, ph.p_filesz + 1)) == NULL ||
		    pread(fd, interp, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz ||
		    interp[0] != '/' || strlen(interp) != ph.p_filesz - 1) {
			free(interp);
			interp = NULL;
			errbuf_set(err, errlen, "jail: %s: bad PT_INTERP", exe);
		}
		goto out;
	}
	interp = strdup("");	/* static */
	if (interp == NULL)
		errbuf_set(err, errlen, "jail: out of memory");
out:
	close(fd);
	return interp;
}

/* Runs INTERP --list EXE and reads what it prints (at most JAIL_DEPS_OUT). */
static int jail_ldso_list(const char *interp, const char *exe, char *out, size_t outlen,
    char *err, size_t errlen)
{
	char *const argv[] = { (char *)interp, (char *)"--list", (char *)exe, NULL };
	char *const envp[] = { NULL };
	posix_spawn_file_actions_t fa;
	int pfd[2], st, rc = -1;
	size_t len = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return errbuf_set(err, errlen, "jail: pipe: %s", strerror(errno));
	if (posix_spawn_file_actions_init(&fa) != 0) {
		close(pfd[0]);
		close(pfd[1]);
		return errbuf_set(err, errlen, "jail: out of memory");
	}
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	st = posix_spawn(&pid, interp, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (st != 0) {
		close(pfd[0]);
		return errbuf_set(err, errlen, "jail: run %s --list: %s", interp, strerror(st));
	}
	while (len + 1 < outlen) {
		ssize_t n = read(pfd[0], out + len, outlen - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			st = -1;
			break;
		}
	if (st != 0)
		errbuf_set(err, errlen, "jail: %s --list %s failed (status %d)", interp, exe, st);
	else if (len + 1 >= outlen)
		errbuf_set(err, errlen, "jail: %s --list %s: too much output", interp, exe);
	else
		rc = 0;
	return rc;
}

int jail_exec_deps(const char *exe, char ***paths, char *err, size_t errlen)
{
	char *interp, *out = NULL, **p;
	size_t n = 0;

	*paths = p = calloc(JAIL_DEPS_MAX + 1, sizeof(*p));
	interp = jail_elf_interp(exe, err, errlen);
	if (p == NULL || interp == NULL) {
		free(interp);
		if (p == NULL)
			errbuf_set(err, errlen, "jail: out of memory");
		return -1;
	}
	if (interp[0] == '\0') {
		free(interp);
		return 0;
	}
	out = malloc(JAIL_DEPS_OUT);
	if (out == NULL || jail_ldso_list(interp, exe, out, JAIL_DEPS_OUT, err, errlen) < 0)
		goto fail;
	/* Lines: "\tname => /path (0x...)", "\t/interp (0x...)", or a vdso
	 * ("\tlinux-vdso.so.1 (0x...)", no path: nothing to bind). */
	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		char *s = strstr(line, " => "), *e;

		s = s != NULL ? s + 4 : line + strspn(line, " \t");
		if (s[0] != '/')
			continue;
		e = strstr(s, " (");
		if (e != NULL)
			*e = '\0';
		if (n == JAIL_DEPS_MAX) {
			errbuf_set(err, errlen, "jail: %s needs more than %d libraries", exe,
			    JAIL_DEPS_MAX);
			goto fail;
		}
		if ((p[n++] = strdup(s)) == NULL) {
			errbuf_set(err, errlen, "jail: out of memory");
			goto fail;
		}
		/* glibc's pthread_cancel dlopen()s libgcc_s.so.1 for unwinding,
		 * which --list cannot show: UML cancels its helper threads at
		 * power-off and, without it, died of abort() ("libgcc_s.so.1
		 * must be installed for pthread_cancel to work"). Debian keeps
		 * it next to libc. */
		e = strrchr(s, '/');
		if (strcmp(e, "/libc.so.6") == 0 && n < JAIL_DEPS_MAX) {
			char gcc_s[PATH_MAX];

			snprintf(gcc_s, sizeof(gcc_s), "%.*s/libgcc_s.so.1", (int)(e - s), s);
			if (access(gcc_s, R_OK) == 0 && (p[n++] = strdup(gcc_s)) == NULL) {
				errbuf_set(err, errlen, "jail: out of memory");
				goto fail;
			}
		}
	}
	free(out);
	free(interp);
	return 0;
fail:
	free(out);
	free(interp);
	for (size_t i = 0; i < n; i++)
		free(p[i]);
	free(p);
	*paths = NULL;
	return -1;
}

static void jail_free_list(char **list)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		free(list[i]);
	free(list);
}

static char **jail_list_dup(char *const *list)
{
	size_t n = 0;
	char **copy;

	while (list[n] != NULL)
		n++;
	copy = calloc(n + 1, sizeof(*copy));
	for (size_t i = 0; copy != NULL && i < n; i++)
		if ((copy[i] = strdup(list[i])) == NULL) {
			jail_free_list(copy);
			return NULL;
		}
	return copy;
}

/* jail_exec_deps() once per image: running ld.so --list on linux.uml
 * took 37 ms a run (20 runs: 0.75 s wall, load average 9), on the path
 * from POST to boot. Keyed by path,
 * device, inode and mtime, so a replaced kernel is looked at again. */
static struct {
	pthread_mutex_t lock;
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	char **deps;
} jail_deps_cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int jail_exec_deps_cached(const char *exe, char ***paths, char *err, size_t errlen)
{
	struct stat st;
	int rc = 0, hit;

	if (stat(exe, &st) < 0)
		return errbuf_set(err, errlen, "jail: %s: %s", exe, strerror(errno));
	pthread_mutex_lock(&jail_deps_cache.lock);
	hit = jail_deps_cache.deps != NULL && strcmp(jail_deps_cache.path, exe) == 0 &&
	    jail_deps_cache.dev == st.st_dev && jail_deps_cache.ino == st.st_ino &&
	    jail_deps_cache.mtime.tv_sec == st.st_mtim.tv_sec &&
	    jail_deps_cache.mtime.tv_nsec == st.st_mtim.tv_nsec;
	if (!hit && (rc = jail_exec_deps(exe, paths, err, errlen)) == 0 &&
	    strlen(exe) < sizeof(jail_deps_cache.path)) {
		jail_free_list(jail_deps_cache.deps);
		jail_deps_cache.deps = jail_list_dup(*paths);
		snprintf(jail_deps_cache.path, sizeof(jail_deps_cache.path), "%s", exe);
		jail_deps_cache.dev = st.st_dev;
		jail_deps_cache.ino = st.st_ino;
		jail_deps_cache.mtime = st.st_mtim;
	}
	if (hit && (*paths = jail_list_dup(jail_deps_cache.deps)) == NULL)
		rc = errbuf_set(err, errlen, "jail: out of memory");
	pthread_mutex_unlock(&jail_deps_cache.lock);
	return rc;
}

/* The host path a dependency is bound from: the file itself, resolved
 * (the interpreter's name is usually a symlink). */
static int jail_add_exec_file(struct jail *j, const char *path)
{
	char real[PATH_MAX];

	if (realpath(path, real) == NULL)
		return -1;
	return jail_add(j, JAIL_BIND_FILE, real, path, NULL, MS_RDONLY | MS_NODEV);
}

struct jail *jail_new(const struct jail_spec *s, char *err, size_t errlen)
{
	struct jail *j = calloc(1, sizeof(*j));
	char **deps = NULL, opts[128];
	int ok = 0;

	if (j == NULL) {
		errbuf_set(err, errlen, "jail: out of memory");
		return NULL;
	}
	if (asprintf(&j->root, "%s/jail", s->work_dir) < 0) {
		j->root = NULL;
		errbuf_set(err, errlen, "jail: out of memory");
		goto out;
	}
	if (mkdir(j->root, 0700) < 0 && errno != EEXIST) {
		errbuf_set(err, errlen, "jail: mkdir %s: %s", j->root, strerror(errno));
		goto out;
	}
	for (size_t e = 0; s->execs[e] != NULL; e++) {
		if (jail_exec_deps_cached(s->execs[e], &deps, err, errlen) < 0)
			goto out;
		for (size_t i = 0; deps[i] != NULL; i++)
			if (jail_add_exec_file(j, deps[i]) < 0) {
				errbuf_set(err, errlen, "jail: %s (needed by %s): %s", deps[i],
				    s->execs[e], strerror(errno));
				goto out;
			}
		jail_free_list(deps);
		deps = NULL;
		if (jail_add_or_fail(j, JAIL_BIND_FILE, s->execs[e], s->execs[e], NULL,
		    MS_RDONLY | MS_NODEV, err, errlen) < 0)
			goto out;
	}
	for (size_t i = 0; s->images != NULL && s->images[i] != NULL; i++)
		if (jail_add_or_fail(j, JAIL_BIND_FILE, s->images[i], s->images[i], NULL,
		    MS_RDONLY | MS_NODEV | MS_NOEXEC, err, errlen) < 0)
			goto out;
	/* Devices UML opens: stdin and con=null (/dev/null), and the
	 * UML_RANDOM driver's entropy source (/dev/random). A read-only bind
	 * does not stop writes to a device: writing /dev/random mixes bytes
	 * in without crediting entropy, which any host user may do. */
	if (jail_add_or_fail(j, JAIL_BIND_FILE, "/dev/null", "/dev/null", NULL, MS_NOEXEC, err,
	    errlen) < 0 ||
	    jail_add_or_fail(j, JAIL_BIND_FILE, "/dev/random", "/dev/random", NULL,
	    MS_RDONLY | MS_NOEXEC, err, errlen) < 0)
		goto out;
	/* UML writes its pid file (uml_dir=) here; the bound files and the
	 * RAM dir are mount points in it. Small: nothing else belongs here. */
	snprintf(opts, sizeof(opts), "size=1m,nr_inodes=64,mode=0700,uid=%u,gid=%u",
	    (unsigned)s->uid, (unsigned)s->gid);
	if (jail_add_or_fail(j, JAIL_TMPFS, NULL, s->work_dir, opts, MS_NODEV | MS_NOEXEC, err,
	    errlen) < 0 ||
	    jail_add_or_fail(j, JAIL_BIND_FILE, s->runnable, s->runnable, NULL,
	    MS_RDONLY | MS_NODEV | MS_NOEXEC, err, errlen) < 0 ||
	    jail_add_or_fail(j, JAIL_BIND_FILE, s->output, s->output, NULL, MS_NODEV | MS_NOEXEC,
	    err, errlen) < 0)
		goto out;
	/* Guest RAM: UML maps it executable (guest code runs from it). */
	if (jail_add_or_fail(j, JAIL_TMPFS, NULL, s->ram_dir, s->ram_opts, MS_NODEV, err, errlen) < 0)
		goto out;
	/* Its own pid namespace only; other uids' processes (the namespace's
	 * init, which is not dumpable) hidden. Read-only: no /proc/sys write. */
	if (jail_add_or_fail(j, JAIL_PROC, NULL, "/proc", "hidepid=invisible",
	    MS_RDONLY | MS_NODEV | MS_NOEXEC, err, errlen) < 0)
		goto out;
	ok = 1;
out:
	jail_free_list(deps);
	if (!ok) {
		jail_free(j);
		return NULL;
	}
	return j;
}

void jail_free(struct jail *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->n; i++) {
		free(j->m[i].src);
		free(j->m[i].at);
		free(j->m[i].opts);
	}
	free(j->m);
	free(j->root);
	free(j);
}

/* What failed in jail_enter(), from its step number: "bind /dev/null". */
void jail_step_text(const struct jail *j, int step, char *out, size_t outlen)
{
	int idx = step / 16 - 1, sub = step % 16;
	const char *name = sub >= 0 && sub < JAIL_STEPS ? jail_step_names[sub] : "?";

	if (idx >= 0 && (size_t)idx < j->n)
		snprintf(out, outlen, "%s %s", name, j->m[idx].at + strlen(j->root));
	else
		snprintf(out, outlen, "%s", name);
}

/* ------------------------------------------------------------- the child */

/* mkdir -p of path's parent dirs, in place (the child's own copy). */
static int jail_mkdirs(char *path)
{
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	return 0;
}

static int jail_mount_one(struct jail_mount *m, int *step)
{
	unsigned long fl = MS_NOSUID | m->flags;
	int fd;

	*step = JAIL_STEP_MKDIR;
	if (jail_mkdirs(m->at) < 0)
		return -1;
	*step = JAIL_STEP_PLACEHOLDER;
	if (m->kind == JAIL_BIND_FILE) {
		fd = open(m->at, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
		if (fd < 0 || close(fd) < 0)
			return -1;
		*step = JAIL_STEP_BIND;
		if (mount(m->src, m->at, NULL, MS_BIND, NULL) < 0)
			return -1;
		/* A bind takes its flags only from a remount. */
		*step = JAIL_STEP_REMOUNT;
		return mount(NULL, m->at, NULL, MS_BIND | MS_REMOUNT | fl, NULL);
	}
	if (mkdir(m->at, 0755) < 0 && errno != EEXIST)
		return -1;
	if (m->kind == JAIL_TMPFS) {
		*step = JAIL_STEP_TMPFS;
		return mount("tmpfs", m->at, "tmpfs", fl, m->opts);
	}
	*step = JAIL_STEP_PROC;
	return mount("proc", m->at, "proc", fl, m->opts);
}

/* In the clone3 child: root, in fresh mount and pid namespaces whose
 * mounts are already private. Returns 0 with the jail's root as / and
 * cwd, or -1 with errno and *step for jail_step_name(). */
int jail_enter(struct jail *j, int *step)
{
	*step = JAIL_STEP_ROOT;
	if (mount("tmpfs", j->root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    "size=1m,nr_inodes=1024,mode=0755") < 0)
		return -1;
	for (size_t i = 0; i < j->n; i++) {
		int sub = 0;

		if (jail_mount_one(&j->m[i], &sub) < 0) {
			*step = sub + 16 * (int)(i + 1);
			return -1;
		}
	}
	*step = JAIL_STEP_ROOT_RO;
	if (mount(NULL, j->root, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV |
	    MS_NOEXEC, NULL) < 0)
		return -1;
	/* pivot_root(".", "."): the old root ends up on top of the new one,
	 * and is detached at once; no directory for it is needed. */
	*step = JAIL_STEP_PIVOT;
	if (chdir(j->root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		return -1;
	*step = JAIL_STEP_DETACH;
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return -1;
	return 0;
}
