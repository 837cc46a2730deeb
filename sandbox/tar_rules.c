/*
 * tar_rules.c: the task tar's rule (tar_rules.h), on both sides of the
 * guest boundary.
 * Owns: what a clean entry name is, which symlink targets stay inside the
 * task tree, and which names fit a ustar header.
 * Never: touches a file system, allocates, logs. Works on names alone, so
 * the host and the guest decide the same way.
 */
#include "sandbox/tar_rules.h"

#include <string.h>

/* Normalises an archive path into out: drops "./" and empty components
 * (so "a//b/" is "a/b"), refuses absolute paths and "..". An empty result
 * means the archive root ("."). */
const char *tar_rule_name(const char *raw, char *out, size_t outlen)
{
	size_t o = 0;
	const char *p = raw;

	if (outlen == 0)
		return "no room";
	if (raw[0] == '/')
		return "absolute path";
	while (*p != '\0') {
		const char *q = strchr(p, '/');
		size_t n = q != NULL ? (size_t)(q - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return "'..' in path";
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (o + n + 2 > outlen || o + (o > 0) + n > TAR_NAME_MAX)
				return "path longer than 255 bytes";
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	out[o] = '\0';
	return NULL;
}

/* A symlink's target (name is the link's clean name) must be relative, may
 * climb with leading ".." only, and never above the tree from the
 * directory holding the link. Since no entry lives below a symlink of the
 * archive, that directory is a real one, and by induction every chain of
 * such links resolves inside the tree. */
const char *tar_rule_symlink(const char *name, const char *target)
{
	size_t depth = 0, up = 0;
	int descending = 0;
	const char *p;

	if (target == NULL || target[0] == '\0')
		return "empty target";
	if (target[0] == '/')
		return "points outside the task (absolute)";
	if (strlen(target) > TAR_LINK_MAX)
		return "target longer than 100 bytes";
	for (p = name; *p != '\0'; p++)
		if (*p == '/')
			depth++;
	for (p = target; *p != '\0';) {
		const char *q = strchr(p, '/');
		size_t n = q != NULL ? (size_t)(q - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (descending)
				return "'..' after a name is not allowed";
			up++;
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			descending = 1;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	if (up > depth)
		return "points outside the task";
	return NULL;
}

/* Whether a clean name fits a ustar header: at most 100 bytes, or split at
 * a '/' into a prefix of at most 155 bytes and a name of 1..100 bytes (a
 * directory is stored with a trailing '/', which counts). */
const char *tar_rule_ustar(const char *name, int is_dir)
{
	size_t len = strlen(name) + (is_dir ? 1 : 0);

	if (len <= 100)
		return NULL;
	for (const char *s = strchr(name, '/'); s != NULL; s = strchr(s + 1, '/')) {
		size_t prefix = (size_t)(s - name);

		if (prefix > 155)
			break;
		if (prefix > 0 && len - prefix - 1 <= 100)
			return NULL;
	}
	return "name does not fit a ustar header (a part after the last '/' "
	    "within 100 bytes and before it within 155)";
}
