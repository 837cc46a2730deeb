#!/bin/sh
# Builds the Debian 13 (trixie) chroot for tests/debian13/run.sh as a
# tarball: mmdebstrap, minbase plus packages.txt, from the machine's own
# Debian mirror as apt reports it (never a host named here; the system's
# apt sources are not changed), verified with Debian's archive keyring,
# which on Debian 12 already holds the trixie keys. run.sh caches the
# result keyed by this script and packages.txt.
#
#   tests/debian13/mkchroot.sh OUT.tar.zst
set -eu

out=$1
here=$(cd "$(dirname "$0")" && pwd)
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
die() { echo "debian13: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "mmdebstrap needs root here (run as root)"
command -v mmdebstrap >/dev/null || die "mmdebstrap missing: run 'make deps'"
[ -r "$keyring" ] || die "$keyring missing: install debian-archive-keyring"
mirror=$("$here/../../scripts/debian-mirror.sh") ||
	die "no Debian mirror is configured in apt (apt-get indextargets shows none with Label: Debian)"

packages=$(grep -v '^[[:space:]]*#' "$here/packages.txt" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
echo "debian13: chroot: mmdebstrap trixie from $mirror" >&2
# No docs, man pages or locales: the chroot only compiles and tests. The
# JDK's postinst registers its man pages with update-alternatives, which
# fails when /usr/share/man/man1 does not exist; the hook makes the empty
# directory before the packages are installed.
mmdebstrap --quiet --mode=root --variant=minbase --include="$packages" \
	--essential-hook='mkdir -p "$1/usr/share/man/man1"' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	trixie "$out" "deb [signed-by=$keyring] $mirror trixie main" ||
	die "mmdebstrap of trixie failed"
