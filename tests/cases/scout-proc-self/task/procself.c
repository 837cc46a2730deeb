/*
 * procself.c: a student program that reads what /proc/self shows of the
 * machine rather than of itself: physical frame numbers (pagemap), its
 * kernel stack, syscall state and wait channel, its raw memory, under
 * each name it has for them (/proc/self, /proc/<pid>, /proc/thread-self,
 * /proc/<pid>/task/<tid>, another thread's /proc/<tid>, a symlink).
 * Scout's default policy must refuse each one (EACCES) and list it in the
 * result's `files`; the rest of /proc/self stays readable.
 * Each attempt prints "NAME: refused (ERRNO)", "NAME: ESCAPED" or, for
 * what must stay readable, "NAME: read" or "NAME: MISSING (ERRNO)".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int bad;
static pid_t other;

static void *idle(void *arg)
{
	(void)arg;
	__atomic_store_n(&other, gettid(), __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return NULL;
}

static void try_denied(const char *fmt, long a, long b, int flags)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), fmt, a, b);
	fd = open(path, flags);
	if (fd < 0 && errno == EACCES) {
		printf("%s %s: refused (%s)\n", flags == O_RDONLY ? "read" : "write", path,
		    strerrorname_np(errno));
		return;
	}
	printf("%s %s: ESCAPED (%s)\n", flags == O_RDONLY ? "read" : "write", path,
	    fd >= 0 ? "opened" : strerrorname_np(errno));
	bad++;
	if (fd >= 0)
		close(fd);
}

static void try_allowed(const char *fmt, long a)
{
	char path[128], buf[256];
	int fd;

	snprintf(path, sizeof(path), fmt, a);
	fd = open(path, O_RDONLY);
	if (fd >= 0 && read(fd, buf, sizeof(buf)) > 0) {
		printf("read %s: read\n", path);
	} else {
		printf("read %s: MISSING (%s)\n", path, strerrorname_np(errno));
		bad++;
	}
	if (fd >= 0)
		close(fd);
}

static void try_missing(const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0 && errno == ENOENT) {
		printf("read %s: missing (ENOENT)\n", path);
		return;
	}
	printf("read %s: WRONG (%s)\n", path, fd >= 0 ? "opened" : strerrorname_np(errno));
	bad++;
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	pthread_t th;
	long pid = getpid(), tid = gettid();

	if (pthread_create(&th, NULL, idle, NULL) != 0)
		return 100;
	while (__atomic_load_n(&other, __ATOMIC_SEQ_CST) == 0)
		usleep(1000);
	if (symlink("/proc/self/pagemap", "pagemap-link") < 0)
		return 100;
	try_denied("/proc/self/pagemap", 0, 0, O_RDONLY);
	try_denied("/proc/self/stack", 0, 0, O_RDONLY);
	try_denied("/proc/self/syscall", 0, 0, O_RDONLY);
	try_denied("/proc/self/wchan", 0, 0, O_RDONLY);
	try_denied("/proc/self/mem", 0, 0, O_RDONLY);
	try_denied("/proc/self/mem", 0, 0, O_RDWR);
	try_denied("/proc/%ld/pagemap", pid, 0, O_RDONLY);
	try_denied("/proc/thread-self/stack", 0, 0, O_RDONLY);
	try_denied("/proc/%ld/task/%ld/syscall", pid, tid, O_RDONLY);
	try_denied("/proc/%ld/wchan", other, 0, O_RDONLY);
	try_denied("/proc/self/task/%ld/stack", other, 0, O_RDONLY);
	try_denied("/proc/self/root/proc/self/pagemap", 0, 0, O_RDONLY);
	try_denied("pagemap-link", 0, 0, O_RDONLY);
	try_allowed("/proc/self/status", 0);
	try_allowed("/proc/thread-self/stat", 0);
	try_allowed("/proc/%ld/status", other);
	/* sysfs and cgroup2 names are cached after the first look: the
	 * answers must not change when they come from the cache. */
	for (int i = 0; i < 3; i++) {
		try_allowed("/sys/fs/cgroup/task/memory.max", 0);
		try_missing("/sys/fs/cgroup/task/no-such-file");
		try_denied("/sys/kernel/uevent_seqnum", 0, 0, O_RDONLY);
	}
	printf("bad: %d\n", bad);
	return bad;
}
