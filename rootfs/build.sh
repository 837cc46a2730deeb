#!/bin/sh
# Builds the guest's read-only root: mmdebstrap of Debian bookworm with the
# packages of one profile, the unprivileged user `tmc` (uid/gid 1000) and the
# task dir /task, packed with mksquashfs. The Debian mirror is the machine's
# own apt configuration. The result is cached outside the clone, keyed by a
# hash of this script and the package list.
#
#   rootfs/build.sh OUT.squashfs PACKAGE-LIST
set -eu

out=$1
list=$2
here=$(cd "$(dirname "$0")" && pwd)

key=$(cat "$here/build.sh" "$list" | sha256sum | cut -c1-16)
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

tree="$out.tree"
rm -rf "$tree"
# No docs, man pages or locales: they cost squashfs size and nothing else.
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
	bookworm "$tree" "$@"

mksquashfs "$tree" "$out.tmp" -noappend -comp zstd -quiet -no-progress
rm -rf "$tree"
mv "$out.tmp" "$out"

if [ -n "$cache" ] && mkdir -p "$cache" 2>/dev/null; then
	cp "$out" "$cached.tmp" && mv "$cached.tmp" "$cached" || true
fi
echo "rootfs: built $out ($(du -h "$out" | cut -f1))"
