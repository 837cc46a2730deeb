#!/bin/sh
# Runs in a private mount namespace (run.sh starts it with unshare): mounts
# what the Debian 13 chroot needs to build and to boot UML the way the host
# tests do, runs chroot.sh there, and unmounts on the way out, failed or not.
#
#   tests/debian13/ns.sh TREE KERNEL ROOTFS
#
# Never: runs outside a namespace of its own (its mounts would land in the
# host's table), mounts anything writable from the host but /sys and /dev.
set -eu

tree=$1 kernel=$2 rootfs=$3
log() { echo "debian13: $*" >&2; }

# unshare leaves us in a mount namespace of our own: refuse otherwise.
[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] ||
	{ log "ns.sh must run in a private mount namespace (use run.sh)"; exit 1; }

# Deepest first; lazily, so that a process still holding one cannot keep
# the rest mounted (the namespace takes them all when it ends anyway).
cleanup() {
	findmnt -rn -o TARGET | grep -F "$tree" | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# sandbox-run makes / private in UML's namespace, which fails with EINVAL
# when / is not a mount point: a bare chroot dir is not one.
mount --bind "$tree" "$tree"
mount -t proc proc "$tree/proc"
# The cgroup hierarchies (pids, memory) as the host tests use them.
mount --rbind /sys "$tree/sys"
# The host's device nodes, and a /dev/shm of our own: UML maps guest RAM
# from there when it has no namespace to mount a private tmpfs in.
mount --rbind /dev "$tree/dev"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$tree/dev/shm"
mount --bind -o ro "$kernel" "$tree/src/build/linux.uml"
mount --bind -o ro "$rootfs" "$tree/src/build/rootfs.squashfs"

chroot "$tree" /usr/bin/env -i \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root LANG=C.UTF-8 /bin/sh /src/tests/debian13/chroot.sh
