#!/bin/sh
# Builds the guest's read-only root: mmdebstrap of Debian bookworm with the
# packages of one profile, the unprivileged user `tmc` (uid/gid 1000) and the
# task dir /task, then the JDK's CDS archive and Maven's offline set-up
# (rootfs/java/setup.sh) and gcc's link defaults (rootfs/c/setup.sh),
# packed with mksquashfs. The Debian mirror is the machine's own apt
# configuration. The result is cached outside the clone, keyed by a hash of
# the files under rootfs/ and the package list.
#
#   rootfs/build.sh OUT.squashfs PACKAGE-LIST
set -eu

out=$1
list=$2
here=$(cd "$(dirname "$0")" && pwd)

# Every file under rootfs/ but the other profiles' lists, by name and content.
key=$({ (cd "$here" && find . -type f ! -name 'packages-*' | LC_ALL=C sort | xargs sha256sum); cat "$list"; } |
	sha256sum | cut -c1-16)
cache=${TMC_CACHE_DIR-/var/cache/tmc-sandbox}
cached="$cache/rootfs-$key.squashfs"
if [ -n "$cache" ] && [ -f "$cached" ]; then
	echo "rootfs: cached $cached"
	cp "$cached" "$out.tmp" && mv "$out.tmp" "$out"
	exit 0
fi

[ "$(id -u)" -eq 0 ] || { echo "rootfs: mmdebstrap needs root here (run as root)" >&2; exit 1; }

packages=$(grep -v '^[[:space:]]*#' "$list" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')

# The machine's own apt sources, each enabled file as one mirror argument.
set --
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -s "$f" ] && set -- "$@" "$f"
done
[ $# -gt 0 ] || { echo "rootfs: no apt sources configured on this machine" >&2; exit 1; }

tree="$(cd "$(dirname "$out")" && pwd)/$(basename "$out").tree"
# A build killed midway can leave the host's /proc, /sys or /dev mounted in
# the tree: unmount whatever is there first, and never delete across mounts.
remove_tree() {
	findmnt -rn -o TARGET | grep "^$tree/" | sort -r | while read -r m; do
		umount -l "$m" || true
	done
	rm -rf --one-file-system "$tree"
}
remove_tree
# The hooks are run by mmdebstrap with the tree as $1: single quotes intended.
# shellcheck disable=SC2016
# No docs, man pages or locales: they cost squashfs size and nothing else.
# C.UTF-8 (LANG in the guest) goes into a locale archive: glibc then maps
# all its categories from that one file instead of opening C.utf8/LC_* (and
# C.UTF-8/LC_* first, in vain) in every process, each open a trapped call
# under Scout: ~6 per gcc, as or ld, ~26 per JVM.
# The JRE's update-alternatives still links into man1, so that dir must exist.
mmdebstrap --variant=minbase --mode=root \
	--include="$packages" \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--essential-hook='mkdir -p "$1/usr/share/man/man1" "$1/usr/share/man/man7"' \
	--customize-hook='chroot "$1" groupadd -g 1000 tmc' \
	--customize-hook='chroot "$1" useradd -u 1000 -g 1000 -d /task -M -s /bin/sh tmc' \
	--customize-hook='mkdir -p "$1/task" && chown 1000:1000 "$1/task"' \
	--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
	--customize-hook='echo tmc-sandbox > "$1/etc/hostname"' \
	--customize-hook='chroot "$1" localedef --add-to-archive /usr/lib/locale/C.utf8' \
	--customize-hook="\"$here/java/setup.sh\" \"\$1\"" \
	--customize-hook="\"$here/c/setup.sh\" \"\$1\"" \
	bookworm "$tree" "$@"

# lz4 (high-compression mode: slower to pack, as fast to unpack): in the
# guest, every page of gcc or the JVM is decompressed by an emulated CPU, and
# zstd cost ~half of a hello-C run there.
mksquashfs "$tree" "$out.tmp" -noappend -comp lz4 -Xhc -quiet -no-progress
remove_tree
mv "$out.tmp" "$out"

if [ -n "$cache" ] && mkdir -p "$cache" 2>/dev/null; then
	if ! { cp "$out" "$cached.tmp" && mv "$cached.tmp" "$cached"; }; then
		echo "$(basename "$0"): could not cache $out in $cache" >&2
	fi
fi
echo "rootfs: built $out ($(du -h "$out" | cut -f1))"
