#!/bin/sh
# Packs the initrd for the stock-kernel boot benchmark: the same /init,
# tmc-init and carrier as build/initrd.img, plus the stock Debian
# linux.uml's squashfs and overlay modules (built as modules there, built
# in ours), which initrd/init.c loads from /modules before mounting.
#
#   bench/stock-initrd.sh OUT.img STOCK-KERNEL INIT TMC-INIT [CARRIER]
#
# Neither module depends on another (their .modinfo says depends=), and the
# zstd/xz decompressors squashfs needs are built into the stock kernel.
set -eu

out=$1 kernel=$2
shift 2
[ -x "$kernel" ] || { echo "stock-initrd: $kernel missing (apt-get install user-mode-linux)" >&2; exit 1; }
ver=$("$kernel" --version 2>/dev/null | head -n 1)
moddir=/usr/lib/uml/modules/$ver/kernel/fs
mods=""
for m in squashfs/squashfs.ko overlayfs/overlay.ko; do
	[ -f "$moddir/$m" ] || { echo "stock-initrd: $moddir/$m missing for kernel $ver" >&2; exit 1; }
	deps=$(objcopy -O binary --only-section=.modinfo "$moddir/$m" /dev/stdout | tr '\0' '\n' | sed -n 's/^depends=//p')
	[ -z "$deps" ] || { echo "stock-initrd: $m needs modules ($deps) this script does not pack" >&2; exit 1; }
	mods="$mods $moddir/$m"
done
mkdir -p "$(dirname "$out")"
# shellcheck disable=SC2086 # $mods: a list of paths without spaces
"$(dirname "$0")/../initrd/build.sh" "$out" "$@" -- $mods
