/*
 * result_truncated.c: the result's "truncated" list, which names every
 * field or file that was cut to fit a cap. Two places cut: result.c when
 * it builds a result (a capped stream or file, or what the guest's
 * meta.txt lists), and sandboxd's spool when a whole result is over its
 * size cap; both add names here so that each appears once.
 * Never: logs; makes the list only when there is something to put in it.
 */
#include "sandbox/sandbox.h"

#include <string.h>

int result_mark_truncated(json_t *result, json_t *name)
{
	json_t *list, *v;
	size_t i;

	if (name == NULL || json_string_value(name) == NULL) {
		json_decref(name);
		return -1;
	}
	list = json_object_get(result, "truncated");
	if (!json_is_array(list)) {
		list = json_array();
		if (list == NULL || json_object_set_new(result, "truncated", list) < 0) {
			json_decref(name);
			return -1;
		}
	}
	json_array_foreach(list, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), json_string_value(name)) == 0) {
			json_decref(name);
			return 0;
		}
	return json_array_append_new(list, name) == 0 ? 1 : -1;
}
