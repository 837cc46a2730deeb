/*
 * fuzz_channel.c: libFuzzer harness for the host end of the channel: the
 * input is what a hostile guest writes on the serial line, fed to the
 * Command Center in chunks of varying size (the first byte picks them);
 * the answers are drained and decoded back (they must always decode), and
 * the audit is rendered. Also round-trips each decoded frame.
 */
#include <jansson.h>

#include "sandbox/scout.h"

#include <stdlib.h>
#include <string.h>

static struct policy *pol;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct command_center *cc;
	struct channel_msg m;
	size_t chunk, used;
	uint8_t out[CHANNEL_MAX_FRAME * 2];
	json_t *j;

	if (pol == NULL) {
		pol = policy_default("/task", err, sizeof(err));
		if (pol == NULL)
			abort();
	}
	if (size == 0)
		return 0;
	chunk = (size_t)data[0] % 64 + 1;
	data++;
	size--;
	/* Decoder on its own, at every offset where a frame may start. */
	if (channel_decode(data, size, &m, &used, err, sizeof(err)) == 1) {
		uint8_t again[CHANNEL_MAX_FRAME];
		ssize_t n = channel_encode(&m, again, sizeof(again), err, sizeof(err));

		if (n < 0 || (size_t)n != used || memcmp(again, data, used) != 0)
			abort();
	}
	cc = cc_new(pol, err, sizeof(err));
	if (cc == NULL)
		abort();
	while (size > 0) {
		size_t take = size < chunk ? size : chunk;
		size_t got;
		int rc = cc_feed(cc, data, take);

		data += take;
		size -= take;
		while ((got = cc_take_output(cc, out, sizeof(out))) > 0) {
			size_t pos = 0;

			while (pos < got) {
				if (channel_decode(out + pos, got - pos, &m, &used, err, sizeof(err)) != 1)
					abort();
				pos += used;
			}
		}
		if (rc < 0)
			break;
	}
	j = cc_files_json(cc);
	json_decref(j);
	j = cc_denied_json(cc);
	json_decref(j);
	cc_free(cc);
	return 0;
}
