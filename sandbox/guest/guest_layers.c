/*
 * guest_layers.c: the task's layers in the guest (tmc-init, guest root,
 * before the task starts).
 *
 * The host attaches layer i as the read-only /dev/ubd<'d'+i> and names
 * them, in order, in tmc.layers= (sandbox/uml.c). Each is mounted as
 * squashfs, read-only, nosuid, nodev, at /opt/layers/NAME.
 *
 * Maven: the guest's Maven works offline from its local repository, the
 * rootfs's /usr/share/maven-repo (its settings.xml). When that directory
 * exists and layers were given, an overlayfs is mounted over it: the
 * layers are its lower layers, in the order asked (the first wins), above
 * the rootfs's own repository, and the upper layer is a fresh tmpfs. So an
 * artifact in a layer (a course's ~/.m2/repository packed by
 * tools/make-layer) resolves like one of Debian's, nothing is copied, and
 * what a build writes (tracking files, its own installs) lands on the
 * tmpfs, never in a layer. The tmpfs is charged to the task's memory
 * cgroup like any other write. tools/make-layer makes the files owned by
 * the task user (uid 1000), so that Maven may add its files next to them.
 *
 * Never: mounts anything writable from a layer, or a name that is not a
 * plain path component.
 */
#define _GNU_SOURCE
#include "sandbox/guest/guest_layers.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define LAYERS_DIR "/opt/layers"
#define LAYERS_MAX 8			/* the host's SANDBOX_LAYERS_MAX */
#define LAYER_NAME_MAX 32
#define MAVEN_REPO "/usr/share/maven-repo"
#define MAVEN_RW "/run/tmc-maven"	/* the overlay's tmpfs: upper/, work/ */

static int guest_layer_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > LAYER_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return 0;
	}
	return 1;
}

static int guest_mkdir(const char *path, mode_t mode)
{
	return mkdir(path, mode) == 0 || errno == EEXIST ? 0 : -1;
}

/* The overlay over Maven's local repository; its root takes the owner
 * and mode of the rootfs's repository (the task user's). */
static int guest_layers_maven(char names[][LAYER_NAME_MAX + 1], size_t n, char *err, size_t errlen)
{
	char opts[1024];
	struct stat st;
	size_t used;

	if (stat(MAVEN_REPO, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;	/* a rootfs without Maven */
	if (guest_mkdir("/run", 0755) < 0 || guest_mkdir(MAVEN_RW, 0700) < 0)
		return errbuf_set(err, errlen, "layers: mkdir %s: %s", MAVEN_RW, strerror(errno));
	if (mount("tmpfs", MAVEN_RW, "tmpfs", MS_NOSUID | MS_NODEV, "size=50%,mode=0700") < 0)
		return errbuf_set(err, errlen, "layers: mount tmpfs %s: %s", MAVEN_RW, strerror(errno));
	if (mkdir(MAVEN_RW "/upper", st.st_mode & 07777) < 0 || mkdir(MAVEN_RW "/work", 0700) < 0 ||
	    chown(MAVEN_RW "/upper", st.st_uid, st.st_gid) < 0 || chmod(MAVEN_RW "/upper", st.st_mode & 07777) < 0)
		return errbuf_set(err, errlen, "layers: preparing %s: %s", MAVEN_RW, strerror(errno));
	/* At most 8 names of 32 characters: always fits. */
	used = (size_t)snprintf(opts, sizeof(opts), "lowerdir=");
	for (size_t i = 0; i < n && used < sizeof(opts); i++)
		used += (size_t)snprintf(opts + used, sizeof(opts) - used, LAYERS_DIR "/%.32s:", names[i]);
	if (used < sizeof(opts))
		used += (size_t)snprintf(opts + used, sizeof(opts) - used,
		    MAVEN_REPO ",upperdir=" MAVEN_RW "/upper,workdir=" MAVEN_RW "/work");
	if (used >= sizeof(opts))
		return errbuf_set(err, errlen, "layers: overlay options too long");
	/* The lower dirs are looked up before the mount covers MAVEN_REPO. */
	if (mount("overlay", MAVEN_REPO, "overlay", MS_NOSUID | MS_NODEV, opts) < 0)
		return errbuf_set(err, errlen, "layers: overlay on %s: %s", MAVEN_REPO, strerror(errno));
	return 0;
}

int guest_layers_mount(const char *list, char *err, size_t errlen)
{
	char names[LAYERS_MAX][LAYER_NAME_MAX + 1];
	const char *p = list;
	size_t n = 0;

	if (list == NULL || list[0] == '\0')
		return 0;
	if (guest_mkdir("/opt", 0755) < 0 || guest_mkdir(LAYERS_DIR, 0755) < 0)
		return errbuf_set(err, errlen, "layers: mkdir %s: %s", LAYERS_DIR, strerror(errno));
	for (;;) {
		size_t len = strcspn(p, ",");
		char dev[16], dir[sizeof(LAYERS_DIR) + LAYER_NAME_MAX + 8];

		if (n >= LAYERS_MAX || !guest_layer_name_ok(p, len))
			return errbuf_set(err, errlen, "layers: bad tmc.layers= list");
		memcpy(names[n], p, len);
		names[n][len] = '\0';
		snprintf(dev, sizeof(dev), "/dev/ubd%c", (char)('d' + n));
		snprintf(dir, sizeof(dir), LAYERS_DIR "/%.32s", names[n]);
		if (guest_mkdir(dir, 0755) < 0)
			return errbuf_set(err, errlen, "layer %s: mkdir %s: %s", names[n], dir, strerror(errno));
		if (mount(dev, dir, "squashfs", MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
			return errbuf_set(err, errlen, "layer %s: mount %s (squashfs) on %s: %s", names[n], dev,
			    dir, strerror(errno));
		n++;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	return guest_layers_maven(names, n, err, errlen);
}
