/*
 * hostile.c: a student program that tries to leave the sandbox. Each
 * attempt prints one line "NAME: refused (ERRNO)" or "NAME: ESCAPED ...";
 * the exit status is the number of escapes. Scout must refuse every one
 * and list it in the result's `files` or `denied`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int escapes;
static char uring_params[120];	/* struct io_uring_params, zeroed */

static void report(const char *name, long rc)
{
	if (rc < 0) {
		printf("%s: refused (%s)\n", name, strerrorname_np(errno));
	} else {
		printf("%s: ESCAPED (%ld)\n", name, rc);
		escapes++;
	}
	fflush(stdout);
}

static void try_open(const char *name, const char *path, int flags)
{
	int fd = open(path, flags, 0644);

	report(name, fd);
	if (fd >= 0)
		close(fd);
}

/*
 * i386 syscall entry from a 64-bit process, in a child. On a native kernel
 * Scout's filter kills it (foreign arch). Under UML the guest kernel takes
 * int 0x80 as an x86_64 syscall (its ptrace-based syscall capture cannot
 * tell them apart) and so does its seccomp: the number is checked as the
 * x86_64 call that then runs. Either way no unchecked fd may come back.
 */
static void try_int80(const char *name, long nr)
{
	static const char path[] = "/etc/shadow";
	int st;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		long r = nr;
		char link[64], target[64];
		ssize_t n;

		__asm__ volatile("int $0x80" : "+a"(r) : "b"(path), "D"(path), "c"(0L), "S"(0L), "d"(0L)
		    : "memory");
		if (r < 0) {
			printf("%s: refused (%s)\n", name, strerrorname_np((int)-r));
			fflush(stdout);
			_exit(0);
		}
		snprintf(link, sizeof(link), "/proc/self/fd/%ld", r);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		if (strcmp(target, path) == 0) {
			printf("%s: ESCAPED (fd %ld)\n", name, r);
			fflush(stdout);
			_exit(1);
		}
		printf("%s: refused (ran as another call, returned %ld)\n", name, r);
		fflush(stdout);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		printf("%s: fork failed\n", name);
		escapes++;
	} else if (WIFSIGNALED(st))
		printf("%s: refused (killed by signal %d)\n", name, WTERMSIG(st));
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		escapes++;
	fflush(stdout);
}

int main(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80),
		.sin_addr.s_addr = htonl(0x7f000001) };
	int s;

	/* Secrets and raw devices. */
	try_open("read /etc/shadow", "/etc/shadow", O_RDONLY);
	try_open("read /dev/ubda", "/dev/ubda", O_RDONLY);
	try_open("read /proc/1/mem", "/proc/1/mem", O_RDONLY);
	try_open("read /proc/1/environ", "/proc/1/environ", O_RDONLY);
	/* The serial line to the host: forging Command Center frames. */
	try_open("write /dev/ttyS1", "/dev/ttyS1", O_WRONLY | O_NOCTTY);
	/* Writing outside the task dir. */
	try_open("write /etc/passwd", "/etc/passwd", O_WRONLY | O_APPEND);
	try_open("create /usr/bin/x", "/usr/bin/x", O_WRONLY | O_CREAT | O_TRUNC);
	try_open("write /sbin/tmc-init", "/sbin/tmc-init", O_WRONLY | O_TRUNC);
	report("unlink /etc/hostname", unlink("/etc/hostname"));
	report("mkdir /var/x", mkdir("/var/x", 0755));
	/* A symlink in the task dir is only a name; writing through it is not. */
	if (symlink("/etc/passwd", "passwd-link") < 0)
		printf("symlink ./passwd-link: %s\n", strerrorname_np(errno));
	try_open("write ./passwd-link -> /etc/passwd", "passwd-link", O_WRONLY | O_APPEND);
	/* The network. */
	s = socket(AF_INET, SOCK_STREAM, 0);
	report("socket AF_INET", s);
	if (s >= 0) {
		report("connect 127.0.0.1:80", connect(s, (struct sockaddr *)&sin, sizeof(sin)));
		close(s);
	}
	/* File systems and kernel surfaces. */
	mkdir("mnt", 0755);
	report("mount tmpfs", syscall(SYS_mount, "none", "mnt", "tmpfs", 0UL, NULL));
	report("mount --bind /", syscall(SYS_mount, "/", "mnt", NULL, (unsigned long)MS_BIND, NULL));
	report("unshare user+mount ns", syscall(SYS_unshare, CLONE_NEWUSER | CLONE_NEWNS));
	report("ptrace attach 1", syscall(SYS_ptrace, PTRACE_ATTACH, 1, 0, 0));
	report("io_uring_setup", syscall(SYS_io_uring_setup, 8, uring_params));
	/* The i386 entry (int 0x80) must not open a file unchecked. */
	try_int80("int 0x80 eax=5 (i386 open) /etc/shadow", 5);
	try_int80("int 0x80 eax=2 (x86_64 open) /etc/shadow", 2);
	printf("escapes: %d\n", escapes);
	return escapes;
}
