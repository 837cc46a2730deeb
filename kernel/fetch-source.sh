#!/bin/sh
# Fetches Debian's linux-source-N (N >= 6.13) from trixie-backports without
# touching the system's apt configuration, and prints two lines on stdout:
#
#   PACKAGE VERSION      e.g. "linux-source-7.3 7.3.1-1~bpo13+1"
#   TARBALL              the extracted /usr/src/linux-source-N.tar.* file
#
#   kernel/fetch-source.sh STORE
#
# STORE keeps one extracted package per version, so a second build needs no
# download. The apt configuration is temporary: its URI is the machine's own
# configured Debian mirror (never a host named here), and the archive is
# verified with Debian's archive keyring exactly as apt verifies any source.
# 6.13 is the first release whose UML sizes its FPU buffer from the host's
# XSAVE size; older ones cannot run a process on AMX hosts (11008 bytes).
#
# Environment: KERNEL_SOURCE=linux-source-X.Y picks one instead of the newest;
# KERNEL_SUITE (default trixie-backports).
set -eu

store=$1
suite=${KERNEL_SUITE:-trixie-backports}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
log() { echo "kernel-source: $*" >&2; }
die() { log "$*"; exit 1; }

mkdir -p "$store"
store=$(cd "$store" && pwd)

# The newest package that STORE already holds, for a machine that cannot
# reach its mirror right now.
cached_fallback() {
	best=""
	for stamp in "$store"/*/.complete; do
		[ -f "$stamp" ] || continue
		dir=$(dirname "$stamp")
		if [ -n "${KERNEL_SOURCE:-}" ] && [ "$(sed -n 1p "$stamp" | cut -d' ' -f1)" != "$KERNEL_SOURCE" ]; then
			continue
		fi
		best="$dir"
	done
	[ -n "$best" ] || return 1
	log "using the source already in $best"
	sed -n 1,2p "$best/.complete"
	return 0
}

# The machine's own Debian mirror (scripts/debian-mirror.sh).
if ! mirror=$("$(dirname "$0")/../scripts/debian-mirror.sh"); then
	cached_fallback && exit 0
	die "no Debian mirror is configured in apt (apt-get indextargets shows none with Label: Debian)"
fi
[ -r "$keyring" ] || die "$keyring missing: install debian-archive-keyring"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/sources" "$tmp/preferences" "$tmp/lists/partial" "$tmp/cache/archives/partial"
cat > "$tmp/sources/kernel.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite
Components: main
Signed-By: $keyring
EOF
# _apt cannot enter a root-owned mktemp dir; root downloads it, and apt still
# checks the Release signature against Signed-By.
chmod 0755 "$tmp" "$tmp/lists" "$tmp/lists/partial" "$tmp/cache" "$tmp/cache/archives" "$tmp/cache/archives/partial"
apt_tmp() {
	"$@" -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$tmp/sources" \
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$tmp/preferences" \
		-o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache" \
		-o APT::Sandbox::User=root -o Debug::NoLocking=1
}

if ! apt_tmp apt-get -qq update >"$tmp/update.log" 2>&1 || grep -q '^[WE]:.*\(NO_PUBKEY\|not signed\|Failed\)' "$tmp/update.log"; then
	cat "$tmp/update.log" >&2
	cached_fallback && exit 0
	die "could not read $suite from $mirror"
fi

# Every linux-source-X.Y offered, newest first; X.Y must be at least 6.13.
offered=$(apt_tmp apt-cache pkgnames linux-source- 2>/dev/null |
	grep -E '^linux-source-[0-9]+\.[0-9]+$' | sort -t- -k3 -V -r || true)
pkg=""
if [ -n "${KERNEL_SOURCE:-}" ]; then
	echo "$offered" | grep -qx "$KERNEL_SOURCE" ||
		die "$KERNEL_SOURCE is not offered by $suite (offered: $(echo "$offered" | tr "\n" " "))"
	pkg=$KERNEL_SOURCE
else
	for p in $offered; do
		v=${p#linux-source-}
		if [ "$(printf '%s\n6.13\n' "$v" | sort -V | head -n 1)" = 6.13 ]; then
			pkg=$p
			break
		fi
	done
fi
[ -n "$pkg" ] || { cached_fallback && exit 0; die "no linux-source-N with N >= 6.13 in $suite at $mirror (offered: $(echo "$offered" | tr "\n" " "))"; }

version=$(apt_tmp apt-cache show --no-all-versions "$pkg" | sed -n 's/^Version: //p' | head -n 1)
[ -n "$version" ] || die "apt knows $pkg but gives it no version"
dir="$store/${pkg}_$version"
if [ ! -f "$dir/.complete" ]; then
	log "downloading $pkg $version from $suite"
	(cd "$tmp" && apt_tmp apt-get -qq download "$pkg") || die "apt-get download $pkg failed"
	deb=$(find "$tmp" -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
	[ -n "$deb" ] || die "apt-get download left no $pkg .deb"
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp"
	dpkg-deb -x "$deb" "$dir.tmp" || die "dpkg-deb -x $deb failed"
	tarball=$(find "$dir.tmp/usr/src" -maxdepth 1 -name "$pkg.tar.*" | head -n 1)
	[ -n "$tarball" ] || die "$deb holds no /usr/src/$pkg.tar.*"
	printf '%s %s\n%s\n' "$pkg" "$version" "$dir/usr/src/$(basename "$tarball")" > "$dir.tmp/.complete"
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
fi
sed -n 1,2p "$dir/.complete"
