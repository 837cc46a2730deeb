#!/bin/sh
# Builds the Debian 12 (bookworm) chroot the package test installs into,
# as a tarball: mmdebstrap, minbase plus the packages named on the command
# line (what the .debs depend on and recommend, and systemd, which the
# test boots), from the machine's own Debian mirror as apt reports it
# (never a host named here; the system's apt sources are not changed),
# verified with Debian's archive keyring. run.sh caches the result keyed
# by this script and the package list.
#
#   tests/debpkg/mkchroot.sh OUT.tar.zst PACKAGE,PACKAGE,...
set -eu

out=$1
packages=$2
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
die() { echo "debpkg: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "mmdebstrap needs root here (run as root)"
command -v mmdebstrap >/dev/null || die "mmdebstrap missing: run 'make deps'"
[ -r "$keyring" ] || die "$keyring missing: install debian-archive-keyring"
mirror=$("$(dirname "$0")/../../scripts/debian-mirror.sh") ||
	die "no Debian mirror is configured in apt (apt-get indextargets shows none with Label: Debian)"

echo "debpkg: chroot: mmdebstrap bookworm from $mirror with $packages" >&2
# Docs and man pages stay: the test checks the package's own are installed
# (a path-exclude here would stay in the chroot's dpkg configuration).
mmdebstrap --quiet --mode=root --variant=minbase --include="$packages" \
	bookworm "$out" "deb [signed-by=$keyring] $mirror bookworm main" ||
	die "mmdebstrap of bookworm failed"
