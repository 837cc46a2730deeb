#!/bin/sh
# Packs the initrd: /init (initrd/init.c, static), the guest programs
# (tmc-init, and carrier when built) and static busybox as the rescue shell,
# as a reproducible newc cpio, uncompressed.
#
# Uncompressed because every boot pays for the inflate: a perf profile of a
# 7.3 boot put ~15% of its CPU in the initrd's gzip inflate, and
# `make bench` (section initrd) measures this image against the same cpio
# gzipped. The image is read once from the host's page cache and the size
# (~4.5 MB) costs nothing that shows. INITRD_COMPRESS=gzip packs it the old
# way, for that comparison.
#
#   initrd/build.sh OUT.img INIT TMC-INIT [CARRIER] [-- MODULE.ko ...]
set -eu

out=$1 init=$2 tmcinit=$3
shift 3
carrier=""
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
	carrier=$1
	shift
fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift

busybox=/bin/busybox
[ -x "$busybox" ] || { echo "initrd: $busybox missing: run 'make deps'" >&2; exit 1; }

stage="$out.stage"
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/sbin" "$stage/dev" "$stage/proc" "$stage/lower" "$stage/rw" "$stage/newroot"
# Stripped: a smaller cpio is less to copy into the guest's page cache (and,
# gzipped, each megabyte cost ~7 ms of inflate at each boot).
install -s -m 0755 "$init" "$stage/init"
install -s -m 0755 "$tmcinit" "$stage/sbin/tmc-init"
[ -n "$carrier" ] && install -s -m 0755 "$carrier" "$stage/sbin/carrier"
install -m 0755 "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
if [ $# -gt 0 ]; then
	mkdir -p "$stage/modules"
	i=0
	for m in "$@"; do
		i=$((i + 1))
		install -m 0644 "$m" "$stage/modules/$i-$(basename "$m")"
	done
fi

# Reproducible: fixed times and owners, sorted names, no gzip timestamp.
find "$stage" -exec touch -h -d @0 {} +
case ${INITRD_COMPRESS:-none} in
none) compress=cat ;;
gzip) compress="gzip -n -9" ;;
*) echo "initrd: INITRD_COMPRESS must be none or gzip, not '$INITRD_COMPRESS'" >&2; exit 1 ;;
esac
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc --reproducible -R 0:0) | $compress > "$out.tmp"
mv "$out.tmp" "$out"
rm -rf "$stage"
