/*
 * fuzz_intake.c: libFuzzer harness for the multipart intake
 * (server/intake.c), the first parser a hostile client reaches. The input
 * is a Content-Type line, then the body, fed in chunks whose size the first
 * byte picks. Whatever the bytes, the parser must end in one of its
 * documented answers (0, 400, 413, 500), keep the fields within their
 * bounds, report the stored file's true size, and leave no file behind
 * once freed.
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_CAP (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fields[] = { "notify", "token", "timeout", "memory", "wait" };
	char path[64], ct[256], err[256];
	const uint8_t *nl;
	struct intake *in;
	size_t chunk, ctlen;
	int rc = 0, code;

	if (size < 2)
		return 0;
	chunk = (size_t)data[0] * 7 + 1;
	data++;
	size--;
	nl = memchr(data, '\n', size < sizeof(ct) ? size : sizeof(ct) - 1);
	if (nl == NULL)
		return 0;
	ctlen = (size_t)(nl - data);
	memcpy(ct, data, ctlen);
	ct[ctlen] = '\0';
	data += ctlen + 1;
	size -= ctlen + 1;

	snprintf(path, sizeof(path), "/tmp/fuzz_intake.%d", (int)getpid());
	unlink(path);
	in = intake_new(ct, path, FILE_CAP, err, sizeof(err));
	if (in == NULL) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	while (size > 0 && rc == 0) {
		size_t take = size < chunk ? size : chunk;

		rc = intake_feed(in, (const char *)data, take);
		data += take;
		size -= take;
	}
	if (rc == 0)
		rc = intake_finish(in);
	code = intake_error_code(in);
	if (rc < 0 && code != 400 && code != 413 && code != 500)
		abort();
	if (rc < 0 && intake_error(in)[0] == '\0')
		abort();
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		size_t len = 0;
		const char *v = intake_field(in, fields[i], &len);

		if (v != NULL && (len > 8192 || strlen(v) > len))
			abort();
	}
	if (rc == 0) {
		uint64_t got;
		struct stat st;

		if (intake_take_file(in, &got) < 0 || stat(path, &st) < 0 ||
		    (uint64_t)st.st_size != got || got == 0 || got > FILE_CAP)
			abort();
		unlink(path);
	}
	intake_free(in);
	if (access(path, F_OK) == 0)
		abort();
	return 0;
}
