/*
 * gem_tar.c: writes a tree as Gem::Package::TarWriter does, from its
 * documented header (rubygems' tar_header.rb): octal fields zero-padded to
 * width-1 and NUL-ended, the checksum as six digits, NUL and a space,
 * magic "ustar\0" version "00", owner and group "wheel", no directory
 * entries, and a long name split so that the name field takes as many
 * trailing components as fit in 100 bytes. TarWriter has no hard links:
 * the linked file's contents are written again under the second name.
 */
#define _GNU_SOURCE
#include "tests/lib/gem_tar.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define GEM_MTIME 1700000000ULL

static int gem_field(char *h, size_t off, size_t width, unsigned long long v)
{
	char digits[32];
	int n = snprintf(digits, sizeof(digits), "%0*llo", (int)width - 1, v);

	if (n != (int)width - 1)
		return -1;
	memcpy(h + off, digits, (size_t)n + 1);
	return 0;
}

/* The name field (h) and the prefix (h + 345): the leftmost '/' after
 * which the rest still fits the name field is where the path is cut. */
static int gem_split(char *h, const char *path)
{
	size_t len = strlen(path);
	const char *cut = NULL;

	if (len <= 100) {
		memcpy(h, path, len);
		return 0;
	}
	for (const char *s = strchr(path, '/'); s != NULL && cut == NULL; s = strchr(s + 1, '/'))
		if (strlen(s + 1) <= 100)
			cut = s;
	if (cut == NULL || cut - path > 155)
		return -1;
	memcpy(h, cut + 1, strlen(cut + 1));
	memcpy(h + 345, path, (size_t)(cut - path));
	return 0;
}

static int gem_entry(FILE *f, const char *path, char type, unsigned mode, const char *data,
    const char *link, char *err, size_t errlen)
{
	static const char pad[512];
	char h[512];
	size_t size = data != NULL ? strlen(data) : 0;
	size_t padlen = (512 - size % 512) % 512;
	unsigned sum = 0;

	memset(h, 0, sizeof(h));
	if (gem_split(h, path) < 0 || (link != NULL && strlen(link) > 100)) {
		snprintf(err, errlen, "%s: does not fit a ustar header", path);
		return -1;
	}
	if (gem_field(h, 100, 8, mode) < 0 || gem_field(h, 108, 8, 0) < 0 || gem_field(h, 116, 8, 0) < 0 ||
	    gem_field(h, 124, 12, size) < 0 || gem_field(h, 136, 12, GEM_MTIME) < 0 ||
	    gem_field(h, 329, 8, 0) < 0 || gem_field(h, 337, 8, 0) < 0) {
		snprintf(err, errlen, "%s: a number does not fit its field", path);
		return -1;
	}
	h[156] = type;
	if (link != NULL)
		memcpy(h + 157, link, strlen(link));
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memcpy(h + 265, "wheel", 5);
	memcpy(h + 297, "wheel", 5);
	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < sizeof(h); i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 7, "%06o", sum);
	h[155] = ' ';
	if (fwrite(h, 1, sizeof(h), f) != sizeof(h) ||
	    (size > 0 && (fwrite(data, 1, size, f) != size || fwrite(pad, 1, padlen, f) != padlen))) {
		snprintf(err, errlen, "%s: write: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* A hard link's contents: those of the name it links to. */
static const char *gem_hard_data(const struct gem_tar_file *files, size_t n, const char *target)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(files[i].name, target) == 0)
			return files[i].data;
	return NULL;
}

/* The entries in the order given, tmc-run 0755 and every other file 0644
 * (the contract's executable), then the two zero blocks that end a tar.
 * On failure out is removed, so that nothing half-written gets posted. */
int gem_tar_write(const char *out, const struct gem_tar_file *files, size_t n, char *err, size_t errlen)
{
	static const char end[1024];
	FILE *f = fopen(out, "w");
	int rc = 0;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", out, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *data = files[i].data;

		if (files[i].link != NULL) {
			rc = gem_entry(f, files[i].name, '2', 0777, NULL, files[i].link, err, errlen);
			continue;
		}
		if (files[i].hard != NULL && (data = gem_hard_data(files, n, files[i].hard)) == NULL) {
			snprintf(err, errlen, "%s: hard link to %s, not a file of the tree", files[i].name,
			    files[i].hard);
			rc = -1;
			break;
		}
		rc = gem_entry(f, files[i].name, '0', strcmp(files[i].name, "tmc-run") == 0 ? 0755 : 0644, data,
		    NULL, err, errlen);
	}
	if (rc == 0 && fwrite(end, 1, sizeof(end), f) != sizeof(end)) {
		snprintf(err, errlen, "%s: write: %s", out, strerror(errno));
		rc = -1;
	}
	if (fclose(f) != 0 && rc == 0) {
		snprintf(err, errlen, "%s: close: %s", out, strerror(errno));
		rc = -1;
	}
	if (rc < 0)
		unlink(out);
	return rc;
}
