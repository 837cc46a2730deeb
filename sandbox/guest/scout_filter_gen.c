/*
 * scout_filter_gen.c: `scout-filter-gen FILE`, run at build time: writes
 * the Scout filter's BPF program (scout_filter_build(), libseccomp) to
 * FILE, which scout_filter_data.S builds into the Carrier. The Carrier then
 * installs it as it is, instead of having libseccomp build it again for
 * every task: 4-5 ms of a trivial task's run in the guest, where every
 * first touch of libseccomp's code and data is a guest page fault.
 * Owns: nothing but the writing; the rules are scout_filter.c's.
 */
#define _GNU_SOURCE
#include "sandbox/scout.h"
#include "common/log.h"
#include "common/util.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sock_fprog prog;
	char err[256];
	int fd;

	log_init("scout-filter-gen", 0, 2);
	if (argc != 2)
		fatalx("usage: scout-filter-gen FILE");
	if (scout_filter_build(&prog, err, sizeof(err)) < 0)
		fatalx("%s", err);
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fatal("%s", argv[1]);
	if (write_full(fd, prog.filter, prog.len * sizeof(prog.filter[0])) < 0 || close(fd) < 0)
		fatal("%s", argv[1]);
	scout_filter_free(&prog);
	return 0;
}
