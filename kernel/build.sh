#!/bin/sh
# Builds the sandbox's UML kernel from Debian's linux-source-N (N >= 6.13,
# fetched by fetch-source.sh from trixie-backports) with the
# config fragment(s) given, and caches the result outside the clone keyed by
# a hash of every input, so a second build on one machine takes a second.
#
#   kernel/build.sh OUT FRAGMENT [FRAGMENT...]
#
# Environment: TMC_CACHE_DIR (default /var/cache/tmc-sandbox; unset or
# unwritable means no cache), JOBS (default: number of cores).
set -eu

out=$1
shift
[ $# -ge 1 ] || { echo "usage: $0 OUT FRAGMENT..." >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
# Fragments are used after cd into the source tree: make their paths absolute.
frags=""
for f in "$@"; do
	frags="$frags $(cd "$(dirname "$f")" && pwd)/$(basename "$f")"
done
# shellcheck disable=SC2086
set -- $frags
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
cache=${TMC_CACHE_DIR-/var/cache/tmc-sandbox}
# The source package is kept in the cache (or beside OUT without one): one
# download per backported version, not one per build.
if [ -n "$cache" ] && mkdir -p "$cache/kernel-source" 2>/dev/null; then
	store="$cache/kernel-source"
else
	store="$(dirname "$out")/kernel-source"
fi
fetched=$("$here/fetch-source.sh" "$store") || exit 1
srcpkg=$(echo "$fetched" | sed -n 1p | cut -d' ' -f1)
srcver=$(echo "$fetched" | sed -n 1p | cut -d' ' -f2)
tarball=$(echo "$fetched" | sed -n 2p)
[ -f "$tarball" ] || { echo "kernel: $tarball missing" >&2; exit 1; }
echo "kernel: source $srcpkg $srcver"

patches=$(find "$here/patches" -name '*.patch' 2>/dev/null | sort)
# shellcheck disable=SC2086
key=$( { echo "$srcpkg $srcver"; cat "$here/build.sh" "$@" $patches; } | sha256sum | cut -c1-16)
cached="$cache/linux-$key.uml"

if [ -n "$cache" ] && [ -f "$cached" ]; then
	echo "kernel: cached $cached"
	install -m 0755 "$cached" "$out"
	exit 0
fi

# One source tree per output name, kept between builds: a config change
# rebuilds only what it touches instead of extracting 1.5 GB again.
src="$(dirname "$out")/kernel-src-$(basename "$out")"
if [ ! -f "$src/.extracted-$srcver" ]; then
	rm -rf "$src"
	# A fresh tree has no patches applied.
	mkdir -p "$src"
	echo "kernel: extracting $tarball"
	tar -xf "$tarball" -C "$src" --strip-components=1
	touch "$src/.extracted-$srcver"
fi

# Our patches (kernel/patches/NNNN-*.patch, in order). The applied set is
# kept in the tree; a changed set is first reversed, so that files no patch
# touches keep their timestamps and the rebuild stays incremental.
# shellcheck disable=SC2086
patchsum=$(cat $patches /dev/null | sha256sum | cut -c1-16)
if [ "$(cat "$src/.patches/sum" 2>/dev/null)" != "$patchsum" ]; then
	if [ -d "$src/.patches" ]; then
		for p in $(find "$src/.patches" -name '*.patch' | sort -r); do
			patch -p1 -R -s -d "$src" < "$p" || { rm -f "$src/.extracted-$srcver"; echo "kernel: could not reverse $p; the tree is extracted again next time" >&2; exit 1; }
		done
	fi
	rm -rf "$src/.patches"
	mkdir -p "$src/.patches"
	for p in $patches; do
		echo "kernel: applying $(basename "$p")"
		if ! patch -p1 -s --no-backup-if-mismatch -d "$src" < "$p"; then
			rm -f "$src/.extracted-$srcver"
			echo "kernel: $(basename "$p") does not apply to $srcpkg $srcver" >&2
			exit 1
		fi
		cp "$p" "$src/.patches/"
	done
	echo "$patchsum" > "$src/.patches/sum"
fi

cd "$src"
make -s ARCH=um defconfig
./scripts/kconfig/merge_config.sh -m -O . .config "$@" >/dev/null
make -s ARCH=um olddefconfig

# merge_config silently drops options the kernel does not know; the ones that
# keep the guest off the host must have come out as asked.
# SMP stays off until measured to help: UML in ptrace mode runs every guest
# thread of a process through one host stub, the JVM's included.
for opt in CONFIG_HOSTFS CONFIG_MODULES CONFIG_UML_NET CONFIG_IO_URING CONFIG_SMP; do
	if grep -q "^$opt=[ym]" .config; then
		echo "kernel: $opt is enabled in the merged config; refusing to build" >&2
		exit 1
	fi
done
for opt in CONFIG_SQUASHFS CONFIG_OVERLAY_FS CONFIG_SECCOMP_FILTER CONFIG_UNIX CONFIG_BLK_DEV_INITRD CONFIG_SSL; do
	grep -q "^$opt=y" .config || { echo "kernel: $opt did not come out =y" >&2; exit 1; }
done

echo "kernel: building (make -j${JOBS:-$(nproc)})"
make -s ARCH=um -j"${JOBS:-$(nproc)}" linux
strip -o "$out.tmp" linux
mv "$out.tmp" "$out"
cp .config "$out.config"

if [ -n "$cache" ] && mkdir -p "$cache" 2>/dev/null; then
	if ! { cp "$out" "$cached.tmp" && mv "$cached.tmp" "$cached"; }; then
		echo "$(basename "$0"): could not cache $out in $cache" >&2
	fi
fi
echo "kernel: built $out"
