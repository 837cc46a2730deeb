/*
 * fuzz_result.c: libFuzzer harness for result building (sandbox/result.c
 * with output_set.c's meta.txt parser and vmlog.c): the input is cut at
 * "\n|\n" into a flags byte, meta.txt, stdout.txt, the console stream, the
 * output.tar note and truncated file names, all raw and unsanitized, so
 * the builder meets bytes its callers would have cleaned. Whatever they
 * hold, a result must come back (never NULL: that was failed/internal), it
 * must serialize, and its strings must be valid UTF-8.
 */
#define _GNU_SOURCE
#include "sandbox/sandbox_host.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *next_part(const char **p, const char *end, size_t *len)
{
	const char *start = *p, *sep;

	if (start >= end) {
		*len = 0;
		return "";
	}
	sep = memmem(start, (size_t)(end - start), "\n|\n", 3);
	*len = sep ? (size_t)(sep - start) : (size_t)(end - start);
	*p = sep ? sep + 3 : end;
	return start;
}

static void add_file(struct output_set *set, const char *name, const char *data, size_t len, int trunc)
{
	struct output_file *f = &set->files[set->count];

	f->data = malloc(len + 1);
	if (f->data == NULL)
		abort();
	memcpy(f->data, data, len);
	f->data[len] = '\0';
	f->len = len;
	f->truncated = trunc;
	strcpy(f->name, name);
	set->count++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *part;
	struct output_set set;
	struct result_input in;
	struct vmlog *log;
	unsigned flags;
	size_t len;
	char err[256], *dump;
	json_t *r, *v;
	const char *key;

	if (size < 1)
		return 0;
	flags = data[0];
	p++;
	memset(&set, 0, sizeof(set));
	part = next_part(&p, end, &len);
	if (!(flags & 1))
		add_file(&set, "meta.txt", part, len, 0);
	part = next_part(&p, end, &len);
	add_file(&set, "stdout.txt", part, len, (flags & 2) != 0);
	/* A small cap, so that the console and the notes both hit theirs. */
	log = vmlog_new(flags & 4 ? 512 : 8192, 0);
	if (log == NULL)
		abort();
	part = next_part(&p, end, &len);
	vmlog_feed(log, part, len, 0.5);
	part = next_part(&p, end, &len);
	if (len > 0) {
		set.malformed = 1;
		memcpy(set.note, part, len < sizeof(set.note) - 1 ? len : sizeof(set.note) - 1);
	}
	part = next_part(&p, end, &len);
	if (len > 0)
		add_file(&set, "stderr.txt", part, len, 1);

	memset(&in, 0, sizeof(in));
	in.timed_out = (flags & 8) != 0;
	in.timeout_s = 3;
	in.out = flags & 16 ? NULL : &set;
	in.log = log;
	in.log_now = 1;
	in.total = 1.25;
	in.memory_peak = flags & 32 ? 4096 : -1;
	in.host_oom_kills = flags & 64 ? 1 : 0;
	in.exit_status = flags & 128 ? 1 << 8 : 0;
	r = result_build(&in, err, sizeof(err));
	if (r == NULL)
		abort();
	if (!json_is_string(json_object_get(r, "status")) || !json_is_string(json_object_get(r, "vm_log")) ||
	    !json_is_string(json_object_get(r, "stdout")) || !json_is_object(json_object_get(r, "time")))
		abort();
	json_object_foreach(r, key, v)
		if (json_is_string(v) && !utf8_valid(json_string_value(v), json_string_length(v)))
			abort();
	dump = json_dumps(r, JSON_COMPACT);
	if (dump == NULL)
		abort();
	free(dump);
	json_decref(r);
	output_set_free(&set);
	vmlog_free(log);
	return 0;
}
