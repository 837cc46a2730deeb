#!/bin/sh
# Builds the Debian packages (debian/) with Debian's own tools:
# dpkg-buildpackage -us -uc -b on a copy of the working tree (without
# build/ and .git), so that the build starts as from a clean clone and
# leaves this tree's build/ alone; then lintian, which must report no
# error. The images come from the same scripts and the same input-keyed
# cache ($TMC_CACHE_DIR) as a developer build.
#
#   scripts/make-deb.sh OUT_DIR     (`make deb`: OUT_DIR is build/deb)
#
# Leaves OUT_DIR/tmc-sandbox_*.deb, tmc-sandbox-images_*.deb, the -dbgsym
# packages, .buildinfo, .changes and lintian.txt.
set -eu

out=$1
top=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "deb: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in dpkg-buildpackage dh lintian scdoc; do
	command -v "$tool" >/dev/null || die "$tool missing: run 'make deps'"
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
start=$(date +%s)

# dpkg-buildpackage writes its results next to the source dir: a dir of
# our own under OUT_DIR, emptied each time.
src_parent="$out/src"
rm -rf --one-file-system "$src_parent"
mkdir -p "$src_parent/tmc-sandbox"
tar -C "$top" --exclude=./build --exclude=./.git \
	--exclude=./debian/build --exclude=./debian/tmp --exclude=./debian/.debhelper \
	--exclude=./debian/tmc-sandbox --exclude=./debian/tmc-sandbox-images \
	-cf - . | tar -C "$src_parent/tmc-sandbox" -xf -

# Two jobs: the project's limit on a shared two-core machine.
log "dpkg-buildpackage -us -uc -b -j2 (log: $out/build.log)"
if ! (cd "$src_parent/tmc-sandbox" && dpkg-buildpackage -us -uc -b -j2) > "$out/build.log" 2>&1; then
	tail -30 "$out/build.log" >&2
	die "dpkg-buildpackage failed (whole log: $out/build.log)"
fi
rm -f "$out"/*.deb "$out"/*.buildinfo "$out"/*.changes
mv "$src_parent"/*.deb "$src_parent"/*.buildinfo "$src_parent"/*.changes "$out"/
rm -rf --one-file-system "$src_parent"
log "built in $(($(date +%s) - start)) s: $(cd "$out" && echo *.deb)"

changes=$(ls "$out"/*.changes)
if ! lintian --fail-on error --tag-display-limit 0 "$changes" > "$out/lintian.txt" 2>&1; then
	cat "$out/lintian.txt" >&2
	die "lintian reports errors"
fi
log "lintian: no error ($(grep -c '^W:' "$out/lintian.txt" || true) warnings, in $out/lintian.txt)"
