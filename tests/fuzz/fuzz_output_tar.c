/*
 * fuzz_output_tar.c: libFuzzer harness for the reader of the guest's
 * output.tar through its parser entry point, output_tar_read_fd(), the
 * function tmc-unpack runs on the hostile disk image. The input is the
 * image. Whatever the bytes: at most the set's room of files, each with a
 * known name, at most the cap, valid UTF-8 without NUL; and meta.txt, when
 * there, parses or is refused without harm.
 */
#define _GNU_SOURCE
#include "sandbox/sandbox_host.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FILE_CAP 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct output_set set;
	struct output_meta meta;
	const struct output_file *mf;
	char err[256];
	int fd = memfd_create("output.tar", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	memset(&set, 0, sizeof(set));
	if (output_tar_read_fd(fd, FILE_CAP, &set, err, sizeof(err)) == 0) {
		if (set.count > sizeof(set.files) / sizeof(set.files[0]))
			abort();
		for (size_t i = 0; i < set.count; i++) {
			const struct output_file *f = &set.files[i];

			if (!output_name_known(f->name) || f->data == NULL || f->data[f->len] != '\0' ||
			    !utf8_valid(f->data, f->len))
				abort();
			/* The cap is on the raw bytes; replacement may grow them 3x. */
			if (f->len > 3 * FILE_CAP)
				abort();
		}
		if (!utf8_valid(set.note, strlen(set.note)))
			abort();
		mf = output_set_get(&set, "meta.txt");
		if (mf != NULL && output_tar_parse_meta(mf->data, mf->len, &meta, err, sizeof(err)) == 0 &&
		    (meta.version != 1 || !utf8_valid(meta.error, strlen(meta.error))))
			abort();
		output_set_free(&set);
	}
	close(fd);
	return 0;
}
