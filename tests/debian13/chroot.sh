#!/bin/sh
# Runs inside the Debian 13 chroot (ns.sh), in /src, a copy of the working
# tree: builds every host program, the guest programs, the initrd and the
# tests against Debian 13's compiler and libraries with the project's
# -Werror flags, then runs the unit suites (images required) and the
# end-to-end cases on the kernel and rootfs bind-mounted from the host build,
# and the HTTP tests: sandboxd serving and its receiver on libmicrohttpd 1.x.
set -eu

log() { echo "debian13: $*" >&2; }
die() { log "$*"; exit 1; }

cd /src
# shellcheck disable=SC1091
. /etc/os-release
[ "${VERSION_ID:-}" = 13 ] || die "this chroot is ${PRETTY_NAME:-unknown}, not Debian 13"
log "$PRETTY_NAME: gcc $(gcc -dumpfullversion)," \
	"libmicrohttpd $(pkg-config --modversion libmicrohttpd)," \
	"libseccomp $(pkg-config --modversion libseccomp)," \
	"jansson $(pkg-config --modversion jansson)," \
	"libarchive $(pkg-config --modversion libarchive)," \
	"libcurl $(pkg-config --modversion libcurl)," \
	"check $(pkg-config --modversion check)"

# scripts/deps.sh asks for the host's whole tool set (the kernel build, the
# rootfs, nginx, chromium): the chroot has exactly what building needs.
touch build/.deps-ok
t=$(date +%s)
make -j2 programs build/initrd.img build/tests/run_cases build/tests/http_test build/asan/sandboxd
log "host and guest programs built in $(($(date +%s) - t)) s"

# Each suite runs even when one before it failed: one run shows them all.
failed=""
suite() {
	name=$1
	shift
	t=$(date +%s)
	if "$@"; then
		log "$name passed in $(($(date +%s) - t)) s"
	else
		log "$name FAILED after $(($(date +%s) - t)) s"
		failed="$failed $name"
	fi
}
suite "unit suites" make -j2 unit-test REQUIRE_IMAGES=1
suite "end-to-end cases" build/tests/run_cases build tests/cases tests/exercises
suite "HTTP tests" build/tests/http_test build/sandboxd build
[ -z "$failed" ] || die "failed:$failed"
