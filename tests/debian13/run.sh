#!/bin/sh
# Debian 13 (trixie) as a host: builds the host programs, the guest programs
# and the tests inside a Debian 13 chroot against its own libraries
# (libmicrohttpd 1.x, libseccomp, jansson, libarchive, libcurl, check), then
# runs the unit suites and the real-UML end-to-end cases there, on the same
# kernel and rootfs images as this machine's build.
#
#   tests/debian13/run.sh [BUILD_DIR]        (needs root; `make test-debian13`)
#
# This script owns the host side: the cached chroot tarball and the scratch
# tree. mkchroot.sh builds the tarball (mmdebstrap from the machine's own
# mirror), cached in $TMC_CACHE_DIR keyed by mkchroot.sh and packages.txt,
# so a second run only unpacks it. ns.sh mounts what the chroot needs in a
# private mount namespace (nothing shows in the host's mount table);
# chroot.sh builds and tests inside. Never: writes outside the scratch tree
# and the cache, deletes across a mount point.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build}
log() { echo "debian13: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap, chroot and the mounts it needs)"
build=$(cd "$build" && pwd)
for f in linux.uml rootfs.squashfs lpj; do
	[ -s "$build/$f" ] || die "$build/$f missing: run 'make images' first"
done

key=$(cat "$here/mkchroot.sh" "$here/packages.txt" | sha256sum | cut -c1-16)
cache=${TMC_CACHE_DIR-/var/cache/tmc-sandbox}
start=$(date +%s)

work=$(mktemp -d "${TMPDIR:-/tmp}/tmc-debian13.XXXXXX")
# ns.sh ran in its own mount namespace: no mount of it is visible here, and
# --one-file-system guards against one that would be.
trap 'rm -rf --one-file-system "$work"' EXIT
trap 'exit 130' INT TERM

tarball=""
if [ -n "$cache" ] && [ -f "$cache/debian13-chroot-$key.tar.zst" ]; then
	tarball="$cache/debian13-chroot-$key.tar.zst"
	log "chroot: cached $tarball"
else
	"$here/mkchroot.sh" "$work/chroot.tar.zst"
	tarball="$work/chroot.tar.zst"
	if [ -n "$cache" ] && mkdir -p "$cache" 2>/dev/null &&
	    cp "$tarball" "$cache/debian13-chroot-$key.tar.zst.$$" &&
	    mv "$cache/debian13-chroot-$key.tar.zst.$$" "$cache/debian13-chroot-$key.tar.zst"; then
		log "chroot: cached as $cache/debian13-chroot-$key.tar.zst"
	else
		rm -f "$cache/debian13-chroot-$key.tar.zst.$$"
		log "chroot: could not cache it in '$cache' (built again next time)"
	fi
	log "chroot: built in $(($(date +%s) - start)) s"
fi

tree="$work/root"
mkdir "$tree"
tar --zstd -xf "$tarball" -C "$tree" || die "unpacking $tarball failed"

# The working tree as it is (built objects and git data left behind), and
# the images: lpj copied, kernel and rootfs bind-mounted read-only by ns.sh
# onto these placeholders. The initrd is rebuilt inside from the guest
# programs compiled there.
mkdir -p "$tree/src/build"
tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -C "$tree/src" -xf -
cp "$build/lpj" "$tree/src/build/lpj"
: > "$tree/src/build/linux.uml"
: > "$tree/src/build/rootfs.squashfs"
log "chroot ready in $(($(date +%s) - start)) s"

rc=0
unshare --mount --propagation private "$here/ns.sh" "$tree" \
	"$(readlink -f "$build/linux.uml")" "$(readlink -f "$build/rootfs.squashfs")" || rc=$?
if [ "$rc" -ne 0 ]; then
	die "FAILED (exit $rc) after $(($(date +%s) - start)) s"
fi
log "passed in $(($(date +%s) - start)) s"
