/*
 * huge_pages.c: whether the guest RAM tmpfs may use transparent huge pages.
 * Why: UML's guest RAM is one file on a tmpfs, mapped by the UML kernel and
 * by every stub process. Each first touch of a 4 KiB page of it is a host
 * shmem fault, and a boot touches tens of megabytes (the initrd read and
 * unpacked, struct pages for all of mem=, the root's page cache): on a
 * 2-vCPU VM host a perf profile of a boot put a third of its CPU in those
 * faults. With `huge=always` on that tmpfs a fault fills 2 MiB at once;
 * `make bench` (section huge) measures boot and tasks with and without.
 * Owns: reading the host's switch for tmpfs huge pages, and the mount
 * option that asks for them. The tmpfs is sized mem + 32M as before, so a
 * huge page can never take the guest past its cap; only the host's
 * `memory` figure (the cgroup's peak) grows, by the partly used 2 MiB
 * pages, a few MiB.
 * Never: logs or fails: without the switch the tmpfs takes 4 KiB pages.
 */
#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define SHMEM_ENABLED "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

/* The file lists the modes with the current one in brackets, e.g.
 * "always within_size advise [never] deny force". Only [deny] refuses a
 * mount's huge= (and [force] gives huge pages whatever it says); with
 * [never] and the rest the mount option decides for its own tmpfs. */
int huge_pages_allowed_by(const char *shmem_enabled)
{
	if (shmem_enabled == NULL || strchr(shmem_enabled, '[') == NULL)
		return 0;
	return strstr(shmem_enabled, "[deny]") == NULL;
}

/* Read at each launch (one small read): an operator may flip the switch
 * while sandboxd runs. */
int huge_pages_usable(void)
{
	char text[128];
	ssize_t n;
	int fd;

	/* Missing: a kernel without CONFIG_TRANSPARENT_HUGEPAGE, where the
	 * mount would fail on the unknown option. */
	fd = open(SHMEM_ENABLED, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	return huge_pages_allowed_by(text);
}
