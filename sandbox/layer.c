/*
 * layer.c: read-only dependency images ("layers", e.g. a course's Maven
 * repository as squashfs) that an instance offers and a task asks for.
 * Owns: the NAME=FILE syntax of --layer, the name rule, the check of a
 * layer file (like any image: an absolute path to a regular file, opened
 * read-only, here also a squashfs superblock), and the choice of a task's
 * layers from the configured ones by a `layers=NAME[,NAME...]` list.
 * The guest sees layer i as /dev/ubd<'d'+i>, mounted read-only at
 * /opt/layers/NAME (uml.c puts them on the kernel command line).
 * Never: logs (library-like: -1 and the caller's err buffer), opens a
 * layer for writing, or accepts a name that could leave /opt/layers.
 */
#define _GNU_SOURCE
#include "sandbox/sandbox.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SQUASHFS_MAGIC_LE "hsqs"	/* s_magic 0x73717368, little-endian */
#define SQUASHFS_SUPER_SIZE 96

/* The name is a path component in the guest and a word on the kernel
 * command line: letters, digits, '.', '_', '-', starting with a letter or
 * digit (so never "." or ".."). */
int layer_name_check(const char *name, size_t len, char *err, size_t errlen)
{
	char shown[SANDBOX_LAYER_NAME_MAX + 1];
	size_t n = len < SANDBOX_LAYER_NAME_MAX ? len : SANDBOX_LAYER_NAME_MAX;

	/* The name may come from a client: echoed printable only. */
	for (size_t i = 0; i < n; i++)
		shown[i] = name[i] > 0x20 && name[i] < 0x7f ? name[i] : '?';
	shown[n] = '\0';
	if (len == 0)
		return errbuf_set(err, errlen, "a layer name is empty");
	if (len > SANDBOX_LAYER_NAME_MAX)
		return errbuf_set(err, errlen, "layer name '%s...' is longer than %d characters",
		    shown, SANDBOX_LAYER_NAME_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return errbuf_set(err, errlen, "layer name '%s': only letters, digits, '.', '_' "
			    "and '-', starting with a letter or digit", shown);
	}
	return 0;
}

/* Opens the file read-only and checks it is what the guest will mount:
 * a regular file holding a squashfs superblock. Fills size and mtime. */
int layer_check(struct sandbox_layer *l, char *err, size_t errlen)
{
	char magic[4];
	struct stat st;
	ssize_t n;
	int fd;

	if (l->path == NULL || l->path[0] != '/')
		return errbuf_set(err, errlen, "layer %s: the path must be absolute", l->name);
	/* O_NONBLOCK: a FIFO put in its place must not hang the caller. */
	fd = open(l->path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(err, errlen, "layer %s: %s: %s", l->name, l->path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		return errbuf_set(err, errlen, "layer %s: %s: %s", l->name, l->path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return errbuf_set(err, errlen, "layer %s: %s is not a regular file", l->name, l->path);
	}
	n = st.st_size >= SQUASHFS_SUPER_SIZE ? pread(fd, magic, sizeof(magic), 0) : 0;
	close(fd);
	if (n != (ssize_t)sizeof(magic) || memcmp(magic, SQUASHFS_MAGIC_LE, sizeof(magic)) != 0)
		return errbuf_set(err, errlen, "layer %s: %s is not a squashfs image (build one with "
		    "tools/make-layer DIR OUT.squashfs)", l->name, l->path);
	l->size = (uint64_t)st.st_size;
	l->mtime = (int64_t)st.st_mtim.tv_sec;
	return 0;
}

void layer_free(struct sandbox_layer *l)
{
	free(l->name);
	free(l->path);
	memset(l, 0, sizeof(*l));
}

void layer_list_free(struct sandbox_layer *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		layer_free(&list[i]);
	free(list);
}

/* NAME=FILE: FILE is made absolute with symlinks resolved and checked. */
int layer_parse(const char *spec, struct sandbox_layer *out, char *err, size_t errlen)
{
	const char *eq = strchr(spec, '=');

	memset(out, 0, sizeof(*out));
	if (eq == NULL || eq[1] == '\0')
		return errbuf_set(err, errlen, "layer '%s': expected NAME=FILE", spec);
	if (layer_name_check(spec, (size_t)(eq - spec), err, errlen) < 0)
		return -1;
	out->name = strndup(spec, (size_t)(eq - spec));
	if (out->name == NULL)
		return errbuf_set(err, errlen, "out of memory");
	out->path = realpath(eq + 1, NULL);
	if (out->path == NULL) {
		int e = errno;

		errbuf_set(err, errlen, "layer %s: %s: %s", out->name, eq + 1, strerror(e));
		layer_free(out);
		return -1;
	}
	/* UML splits its options on these; uml.c would refuse the path later,
	 * when a task asks for the layer, instead of now. */
	if (strpbrk(out->path, " ,=\t\n") != NULL) {
		errbuf_set(err, errlen, "layer %s: %s: a path with a space, ',' or '=' cannot be given to "
		    "the guest kernel", out->name, out->path);
		layer_free(out);
		return -1;
	}
	if (layer_check(out, err, errlen) < 0) {
		layer_free(out);
		return -1;
	}
	return 0;
}

static const struct sandbox_layer *layer_find(const struct sandbox_layer *all, size_t nall,
    const char *name, size_t len)
{
	for (size_t i = 0; i < nall; i++)
		if (strlen(all[i].name) == len && memcmp(all[i].name, name, len) == 0)
			return &all[i];
	return NULL;
}

/* Appends one NAME=FILE to a configured list; a name given twice and more
 * than SANDBOX_LAYERS_CONFIGURED_MAX layers are errors. */
int layer_add(struct sandbox_layer **list, size_t *n, const char *spec, char *err, size_t errlen)
{
	struct sandbox_layer l, *grown;

	if (*n >= SANDBOX_LAYERS_CONFIGURED_MAX)
		return errbuf_set(err, errlen, "more than %d layers configured", SANDBOX_LAYERS_CONFIGURED_MAX);
	if (layer_parse(spec, &l, err, errlen) < 0)
		return -1;
	if (layer_find(*list, *n, l.name, strlen(l.name)) != NULL) {
		errbuf_set(err, errlen, "layer %s is configured twice", l.name);
		layer_free(&l);
		return -1;
	}
	grown = realloc(*list, (*n + 1) * sizeof(**list));
	if (grown == NULL) {
		layer_free(&l);
		return errbuf_set(err, errlen, "out of memory");
	}
	grown[*n] = l;
	*list = grown;
	(*n)++;
	return 0;
}

/* "the configured layers: a, b" for an error, cut to fit. */
static void layer_names_text(const struct sandbox_layer *all, size_t nall, char *buf, size_t len)
{
	size_t used;

	if (nall == 0) {
		snprintf(buf, len, "this instance has no layers configured");
		return;
	}
	snprintf(buf, len, "configured: ");
	for (size_t i = 0; i < nall; i++) {
		used = strlen(buf);
		if (used + 1 >= len)
			break;
		snprintf(buf + used, len - used, "%s%s", i ? ", " : "", all[i].name);
	}
}

/* A task's `layers` field, NAME[,NAME...], against the configured layers:
 * out gets shallow copies (the strings stay the configured list's) in the
 * order given. Empty text: no layers. An unknown name, an empty or
 * malformed one, one named twice, or more than SANDBOX_LAYERS_MAX are
 * errors whose text names the configured layers where that helps. */
int layer_select(const struct sandbox_layer *all, size_t nall, const char *names,
    struct sandbox_layer out[SANDBOX_LAYERS_MAX], size_t *nout, char *err, size_t errlen)
{
	char known[384];
	const char *p = names;

	*nout = 0;
	if (names == NULL || names[0] == '\0')
		return 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		const struct sandbox_layer *l;

		if (layer_name_check(p, len, err, errlen) < 0)
			return -1;
		l = layer_find(all, nall, p, len);
		if (l == NULL) {
			layer_names_text(all, nall, known, sizeof(known));
			return errbuf_set(err, errlen, "unknown layer '%.*s' (%s)", (int)len, p, known);
		}
		for (size_t i = 0; i < *nout; i++)
			if (strcmp(out[i].name, l->name) == 0)
				return errbuf_set(err, errlen, "layer '%s' is named twice", l->name);
		if (*nout >= SANDBOX_LAYERS_MAX)
			return errbuf_set(err, errlen, "more than %d layers asked for", SANDBOX_LAYERS_MAX);
		out[(*nout)++] = *l;
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
}
