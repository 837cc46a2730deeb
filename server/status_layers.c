/*
 * status_layers.c: the instance's configured layers (--layer) as
 * status.json's `layers` array (which the status page, web/status/, shows
 * as a table), each with its file's size and mtime as a stat() finds them
 * at the request, so that an operator sees a layer replaced or gone
 * without a restart. Never: shows a layer's host path (names only).
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const struct sandbox_layer *slayers;
static size_t nslayers;

/* At start, before the HTTP thread; the list outlives it. */
void status_layers_set(const struct sandbox_layer *layers, size_t n)
{
	slayers = layers;
	nslayers = n;
}

json_t *status_layers_json(void)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < nslayers; i++) {
		struct stat st;
		json_t *o;

		errno = 0;
		if (stat(slayers[i].path, &st) == 0 && S_ISREG(st.st_mode))
			o = json_pack("{s:s, s:I, s:I}", "name", slayers[i].name, "size", (json_int_t)st.st_size,
			    "mtime", (json_int_t)st.st_mtim.tv_sec);
		else
			o = json_pack("{s:s, s:s}", "name", slayers[i].name, "error",
			    errno != 0 ? strerror(errno) : "not a regular file");
		if (o == NULL || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}
