/*
 * init.c: the initrd's /init, guest pid 1 until switch_root.
 *
 * Mounts the read-only squashfs root from /dev/ubda, a size-capped tmpfs,
 * and overlayfs over both; copies the guest programs (tmc-init, carrier)
 * from the initrd into the new root, moves /dev and /proc over, and
 * switch_roots to /sbin/tmc-init. Written in C, not as a busybox script,
 * because every fork+exec costs ~10 ms in a UML guest and this runs at
 * every task's boot.
 *
 * Never: hangs. Any failure is printed on the console and the guest powers
 * off, which the host reports as failed/crash. `tmc.rescue=1` on the kernel
 * command line drops into busybox sh instead.
 * For the stock-kernel benchmark, modules in /modules are loaded first.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

#define NEWROOT "/newroot"

static void say(const char *what, const char *detail)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "init: %s%s%s\n", what,
	    detail ? ": " : "", detail ? detail : "");

	if (n > 0 && write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0) {
		/* The console is all there is. */
	}
}

static int rescue_requested;

static void __attribute__((noreturn)) give_up(const char *what)
{
	say(what, strerror(errno));
	if (rescue_requested) {
		execl("/bin/busybox", "sh", (char *)NULL);
		say("exec busybox sh", strerror(errno));
	}
	sync();
	reboot(RB_POWER_OFF);
	_exit(1);
}

/* Reads tmc.tmpfs= and tmc.rescue= from the kernel command line. */
static unsigned long long read_cmdline(void)
{
	char buf[4096];
	unsigned long long tmpfs = 0;
	ssize_t n;
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		give_up("open /proc/cmdline");
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		give_up("read /proc/cmdline");
	buf[n] = '\0';
	for (char *save = NULL, *tok = strtok_r(buf, " \n", &save); tok != NULL;
	    tok = strtok_r(NULL, " \n", &save)) {
		if (strncmp(tok, "tmc.tmpfs=", 10) == 0) {
			uint64_t v;
			tmpfs = parse_u64(tok + 10, 0, UINT64_MAX, &v) == 0 ? v : 0;
		} else if (strcmp(tok, "tmc.rescue=1") == 0) {
			rescue_requested = 1;
		}
	}
	return tmpfs;
}

static void load_modules(void)
{
	DIR *dir = opendir("/modules");
	struct dirent *de;

	if (dir == NULL)
		return;
	/* Order matters only for dependencies; the bench initrd names them so. */
	while ((de = readdir(dir)) != NULL) {
		char path[300];
		int fd;

		if (strstr(de->d_name, ".ko") == NULL)
			continue;
		snprintf(path, sizeof(path), "/modules/%s", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) < 0)
			say("load module", de->d_name);
		if (fd >= 0)
			close(fd);
	}
	closedir(dir);
}

static void copy_program(const char *from, const char *to)
{
	struct stat st;
	int in, out;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		if (errno == ENOENT)
			return;
		give_up(from);
	}
	if (fstat(in, &st) < 0)
		give_up(from);
	unlink(to);
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (out < 0)
		give_up(to);
	for (off_t off = 0; off < st.st_size;) {
		ssize_t n = sendfile(out, in, &off, (size_t)(st.st_size - off));
		if (n <= 0)
			give_up(to);
	}
	close(in);
	close(out);
}

int main(void)
{
	unsigned long long tmpfs;
	char opts[64];

	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		give_up("mount /proc");
	/* The kernel mounts devtmpfs only on the real root, not on an initramfs. */
	if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, NULL) < 0 && errno != EBUSY)
		give_up("mount /dev");
	tmpfs = read_cmdline();
	load_modules();

	if (mount("/dev/ubda", "/lower", "squashfs", MS_RDONLY, NULL) < 0)
		give_up("mount squashfs /dev/ubda");
	if (tmpfs > 0)
		snprintf(opts, sizeof(opts), "size=%llu,mode=0755", tmpfs);
	else
		snprintf(opts, sizeof(opts), "size=50%%,mode=0755");
	if (mount("tmpfs", "/rw", "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		give_up("mount tmpfs /rw");
	if (mkdir("/rw/upper", 0755) < 0 || mkdir("/rw/work", 0755) < 0)
		give_up("mkdir /rw/upper");
	if (mount("overlay", NEWROOT, "overlay", 0,
	    "lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work") < 0)
		give_up("mount overlay");

	copy_program("/sbin/tmc-init", NEWROOT "/sbin/tmc-init");
	copy_program("/sbin/carrier", NEWROOT "/sbin/carrier");

	if (mount("/dev", NEWROOT "/dev", NULL, MS_MOVE, NULL) < 0)
		give_up("move /dev");
	if (mount("/proc", NEWROOT "/proc", NULL, MS_MOVE, NULL) < 0)
		give_up("move /proc");
	if (chdir(NEWROOT) < 0 || mount(NEWROOT, "/", NULL, MS_MOVE, NULL) < 0 ||
	    chroot(".") < 0 || chdir("/") < 0)
		give_up("switch_root");
	/* The initramfs' few MB stay allocated: deleting them would cost more
	 * boot time than the memory is worth. */
	if (rescue_requested)
		execl("/bin/sh", "sh", (char *)NULL);
	execl("/sbin/tmc-init", "tmc-init", (char *)NULL);
	give_up("exec /sbin/tmc-init");
}
