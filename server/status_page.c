/*
 * status_page.c: the status page's files (web/status/, whose bytes
 * status_page_data.S builds into sandboxd) by URL path, so that GET / on
 * an instance serves the page the nginx pool serves from its web root.
 * Never: serves anything but these fixed files.
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <stdlib.h>
#include <string.h>

/* status_page_data.S */
extern const char status_page_index_html[], status_page_status_js[], status_page_status_css[];
extern const uint64_t status_page_index_html_size, status_page_status_js_size, status_page_status_css_size;

/*
 * The page's files by URL path: a copy of the file (the HTTP side frees
 * it; NULL when out of memory) and its type: 1, or 0 for another path. pool/instances.json, which
 * the nginx site answers with the pool's instances, names this instance
 * alone: the same script shows one instance or a pool.
 */
int status_page_file(const char *path, char **body, const char **ctype)
{
	static const struct {
		const char *path, *ctype, *data;
		const uint64_t *size;
	} files[] = {
		{ "/", "text/html; charset=utf-8", status_page_index_html, &status_page_index_html_size },
		{ "/index.html", "text/html; charset=utf-8", status_page_index_html, &status_page_index_html_size },
		{ "/status.js", "text/javascript; charset=utf-8", status_page_status_js, &status_page_status_js_size },
		{ "/status.css", "text/css; charset=utf-8", status_page_status_css, &status_page_status_css_size },
	};

	if (strcmp(path, "/pool/instances.json") == 0) {
		*ctype = "application/json";
		*body = strdup("{\"single\":true,\"instances\":[{\"name\":\"sandboxd\",\"url\":\"./\"}]}");
		return 1;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (strcmp(path, files[i].path) == 0) {
			*ctype = files[i].ctype;
			*body = strndup(files[i].data, (size_t)*files[i].size);
			return 1;
		}
	return 0;
}
