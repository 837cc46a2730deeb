/*
 * util.c: strict parsing and whole-buffer I/O (contracts in util.h).
 * Never: logs, allocates unbounded memory, trusts a number it did not range-check.
 */
#define _GNU_SOURCE
#include "util.h"

#include <ctype.h>
#include <libgen.h>
#include <limits.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* A decimal number, digits only (no sign, no spaces), within [min, max]. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || !isdigit((unsigned char)s[0])) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (v < min || v > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return 0;
}

/* A size with an optional binary suffix: 512, 64K, 256M, 2G. */
int parse_size(const char *s, uint64_t max, uint64_t *out)
{
	char digits[32];
	size_t len;
	uint64_t v, mult = 1;

	if (s == NULL || (len = strlen(s)) == 0 || len >= sizeof(digits)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(digits, s, len + 1);
	switch (toupper((unsigned char)digits[len - 1])) {
	case 'K': mult = 1ULL << 10; break;
	case 'M': mult = 1ULL << 20; break;
	case 'G': mult = 1ULL << 30; break;
	default: break;
	}
	if (mult != 1)
		digits[len - 1] = '\0';
	if (parse_u64(digits, 0, UINT64_MAX, &v) < 0)
		return -1;
	if (v > max / mult) {
		errno = ERANGE;
		return -1;
	}
	*out = v * mult;
	return 0;
}

/* Reads until len bytes or end of file; returns bytes read or -1. */
ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Removes a tree without following symlinks (the tree may hold files a
 * task influenced). */
static int rm_rf_at(int parent_fd, const char *name)
{
	struct stat st;
	int fd;
	DIR *dir;
	struct dirent *de;
	int rc = 0;

	if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(parent_fd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
	fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	dir = fdopendir(fd);
	if (dir == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (rm_rf_at(dirfd(dir), de->d_name) < 0)
			rc = -1;
	}
	closedir(dir);
	if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

int rm_rf(const char *path)
{
	return rm_rf_at(AT_FDCWD, path);
}

/* The directory of the running program (build/ in a tree, the library dir
 * when installed), where the images are by default. NULL on failure. */
char *self_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	return strdup(dirname(exe));
}

/* In a child about to exec, as root: no supplementary groups, then gid and
 * uid all three ways. Raw syscalls: glibc's set*id would try to signal the
 * parent's other threads, which do not exist in a forked child. 0, or the
 * step that failed (1 setgroups, 2 setresgid, 3 setresuid; errno set). */
int drop_ids(uid_t uid, gid_t gid)
{
	if (syscall(SYS_setgroups, 0, NULL) < 0)
		return 1;
	if (syscall(SYS_setresgid, gid, gid, gid) < 0)
		return 2;
	if (syscall(SYS_setresuid, uid, uid, uid) < 0)
		return 3;
	return 0;
}

/* File descriptors over a unix socket: one byte carrying n (at most
 * FDS_PASS_MAX) of them as SCM_RIGHTS. 0, or -1 with errno. */
int send_fds(int sock, const int *fds, size_t n)
{
	char data = 'F';
	union {
		char buf[CMSG_SPACE(FDS_PASS_MAX * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
		.msg_controllen = CMSG_SPACE(n * sizeof(int)) };
	struct cmsghdr *cm;

	if (n == 0 || n > FDS_PASS_MAX) {
		errno = EINVAL;
		return -1;
	}
	memset(&ctl, 0, sizeof(ctl));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* The other end: exactly one byte and exactly n fds (received
 * close-on-exec), or -1 (EPROTO when the message was anything else; any
 * fds that came with it are closed). Blocks; EINTR is retried. */
int recv_fds(int sock, int *fds, size_t n)
{
	char data;
	union {
		char buf[CMSG_SPACE(FDS_PASS_MAX * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *cm;
	ssize_t got;

	if (n == 0 || n > FDS_PASS_MAX) {
		errno = EINVAL;
		return -1;
	}
	do
		got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -1;
	cm = got == 1 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (cm == NULL || (msg.msg_flags & MSG_CTRUNC) || cm->cmsg_level != SOL_SOCKET ||
	    cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(n * sizeof(int))) {
		if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len > CMSG_LEN(0)) {
			/* One at a time: CMSG_SPACE's rounding may fit more
			 * than FDS_PASS_MAX of them in the buffer. */
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				close(fd);
			}
		}
		errno = EPROTO;
		return -1;
	}
	memcpy(fds, CMSG_DATA(cm), n * sizeof(int));
	return 0;
}
