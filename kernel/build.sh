#!/bin/sh
# Builds the sandbox's UML kernel from Debian's linux-source-6.12 with the
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
tarball=$(find /usr/src -maxdepth 1 -name 'linux-source-6.12.tar.*' | head -n 1)
[ -n "$tarball" ] || { echo "kernel: /usr/src/linux-source-6.12.tar.* missing: run 'make deps'" >&2; exit 1; }
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12)

key=$( { echo "$srcver"; cat "$here/build.sh" "$@"; } | sha256sum | cut -c1-16)
cache=${TMC_CACHE_DIR-/var/cache/tmc-sandbox}
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
	mkdir -p "$src"
	echo "kernel: extracting $tarball"
	tar -xf "$tarball" -C "$src" --strip-components=1
	touch "$src/.extracted-$srcver"
fi

cd "$src"
make -s ARCH=um defconfig
./scripts/kconfig/merge_config.sh -m -O . .config "$@" >/dev/null
make -s ARCH=um olddefconfig

# merge_config silently drops options the kernel does not know; the ones that
# keep the guest off the host must have come out as asked.
for opt in CONFIG_HOSTFS CONFIG_MODULES CONFIG_UML_NET CONFIG_IO_URING; do
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
