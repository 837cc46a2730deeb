/*
 * modebits.c: Scout opens a system file as the Carrier when the task's
 * own permission bits would let it (scout_supervisor.c,
 * may_read_as_carrier). This student program checks that nothing it may
 * not read becomes readable that way, and nothing it may read stops
 * being so:
 *  - files and a directory of the rootfs whose mode keeps the task out,
 *    under /etc (which the default policy allows to read): EACCES;
 *  - O_NOATIME on a file it does not own: EPERM, as the kernel says;
 *  - every file and directory below /etc and /usr/include: a trapped open
 *    gets what access(2), which Scout does not trap, says the kernel
 *    grants the task (the paths the policy refuses left out);
 *  - an fd Scout opened for a readable file still refuses fchmod.
 * Each check runs twice: the first time the names are looked up, the
 * second time they come from the name cache.
 * Each line: "NAME: refused (ERRNO)", "NAME: read", or WRONG. Exit: the
 * number of WRONG lines.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int bad;
static unsigned walked, readable;

static void want_error(const char *path, int flags, int err)
{
	int fd = open(path, flags);

	if (fd < 0 && errno == err) {
		printf("%s%s: refused (%s)\n", path, flags & O_NOATIME ? " O_NOATIME" : "",
		    strerrorname_np(errno));
		return;
	}
	printf("%s: WRONG (%s, want %s)\n", path, fd >= 0 ? "opened" : strerrorname_np(errno),
	    strerrorname_np(err));
	bad++;
	if (fd >= 0)
		close(fd);
}

/* Paths the default policy refuses whatever their mode. */
static int policy_denied(const char *path)
{
	static const char *const denied[] = {
		"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers",
		"/etc/sudoers.d", "/etc/ssh",
	};

	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		size_t n = strlen(denied[i]);

		if (strncmp(path, denied[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
			return 1;
	}
	return 0;
}

static void agree(const char *path, int is_dir)
{
	int kernel = access(path, R_OK) == 0 ? 0 : errno;
	int fd = open(path, O_RDONLY | O_CLOEXEC | (is_dir ? O_DIRECTORY : 0));
	int scout = fd >= 0 ? 0 : errno;

	walked++;
	if (fd >= 0) {
		readable++;
		close(fd);
	}
	if (kernel != scout) {
		printf("%s: WRONG (open: %s, access: %s)\n", path, scout ? strerrorname_np(scout) : "ok",
		    kernel ? strerrorname_np(kernel) : "ok");
		bad++;
	}
}

static void walk(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;		/* agree() has judged the directory itself */
	while ((e = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (policy_denied(path) || lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			agree(path, 1);
			walk(path);
		} else if (S_ISREG(st.st_mode)) {
			agree(path, 0);
		}
	}
	closedir(d);
}

int main(void)
{
	for (int round = 1; round <= 2; round++) {
		int fd;

		printf("round %d\n", round);
		want_error("/etc/default/cacerts", O_RDONLY, EACCES);
		want_error("/etc/security/opasswd", O_RDONLY, EACCES);
		want_error("/etc/ssl/private", O_RDONLY | O_DIRECTORY, EACCES);
		want_error("/etc/ssl/private/ssl-cert-snakeoil.key", O_RDONLY, EACCES);
		want_error("/etc/passwd", O_RDONLY | O_NOATIME, EPERM);
		fd = open("/etc/passwd", O_RDONLY);
		if (fd >= 0 && fchmod(fd, 0666) < 0 && errno == EPERM) {
			printf("/etc/passwd: read, fchmod refused (EPERM)\n");
		} else {
			printf("/etc/passwd: WRONG (%s)\n", fd < 0 ? strerrorname_np(errno) : "fchmod");
			bad++;
		}
		if (fd >= 0)
			close(fd);
		walked = readable = 0;
		walk("/etc");
		walk("/usr/include");
		printf("walk: %u names, %s\n", walked, walked > 500 && readable < walked ?
		    "open agrees with access" : "WRONG (too few names, or none refused)");
		if (walked <= 500 || readable == walked)
			bad++;
	}
	printf("bad: %d\n", bad);
	return bad;
}
