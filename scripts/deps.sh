#!/bin/sh
# Installs the Debian packages the build, the tests and the benchmarks need.
# Idempotent: asks apt only for what dpkg does not already report installed,
# and uses the machine's own apt sources (no mirror is named here).
set -eu

# prometheus is there for promtool (make alert-rules-test); on a host run
# by systemd its package also starts prometheus.service (port 9090): stop
# it with `systemctl disable --now prometheus` where it is not wanted.
PACKAGES="build-essential pkg-config bc bison flex libelf-dev libssl-dev
  xz-utils zstd cpio gzip
  libseccomp-dev libmicrohttpd-dev libjansson-dev libarchive-dev
  libcurl4-openssl-dev check clang
  busybox-static squashfs-tools mmdebstrap debian-archive-keyring
  user-mode-linux
  libarchive-tools python3
  curl jq nginx wrk chromium procps psmisc uidmap systemd
  prometheus"

missing=""
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing" >&2
	echo "deps: run 'make deps' as root (or install them with apt-get)" >&2
	exit 1
fi

echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# An apt list older than the machine's sources would miss packages: refresh once.
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
