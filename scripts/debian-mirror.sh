#!/bin/sh
# scripts/debian-mirror.sh: prints the URI of this machine's own Debian
# mirror: the first archive apt reports with Label Debian (not the security
# one), whatever file or format configures it. Prints nothing and exits 1
# when there is none. The one place the build finds a mirror
# (kernel/fetch-source.sh, tests/debian13 and tests/debpkg), so that no
# mirror host is ever written in the repo.
set -eu

# The $(...) are apt's format fields.
# shellcheck disable=SC2016
mirror=$(apt-get indextargets --format '$(LABEL) $(REPO_URI)' 'Identifier: Packages' 2>/dev/null |
	awk '$1 == "Debian" { print $2; exit }')
[ -n "$mirror" ] || exit 1
echo "$mirror"
