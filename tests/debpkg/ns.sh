#!/bin/sh
# Runs in a private mount namespace (run.sh starts it with unshare): mounts
# what the package test's chroot needs, then either runs one command in the
# chroot (`run`) or boots a private systemd there as PID 1 of the pid
# namespace run.sh made (`boot`), as tests/deploy/systemd_probe.sh does for
# the staged unit.
#
#   tests/debpkg/ns.sh TREE run DEB_DIR COMMAND...
#   tests/debpkg/ns.sh TREE boot UNITS_DIR
#
# Never: runs outside a namespace of its own (its mounts would land in the
# host's table), mounts anything writable from the host but /sys and /dev.
set -eu

tree=$1 mode=$2
shift 2
log() { echo "debpkg: $*" >&2; }

[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] ||
	{ log "ns.sh must run in a private mount namespace (use run.sh)"; exit 1; }

# sandboxd and sandbox-run make / private, which needs / to be a mount
# point; UML wants /dev/shm of its own and the cgroup tree (/sys).
mount --bind "$tree" "$tree"
mount -t proc proc "$tree/proc"
mount --rbind /sys "$tree/sys"
mount --rbind /dev "$tree/dev"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$tree/dev/shm"

case "$mode" in
run)
	debs=$1
	shift
	mount --bind -o ro "$debs" "$tree/mnt"
	exec chroot "$tree" /usr/bin/env -i \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
	;;
boot)
	units=$1
	# /run of its own, holding only the test's target and drop-ins: the
	# private systemd starts those units and nothing of the chroot's.
	mount -t tmpfs -o mode=0755 tmpfs "$tree/run"
	# PID 1 tunes sysctls at boot: they are the host's, so read-only.
	mount --bind "$tree/proc/sys" "$tree/proc/sys"
	mount -o remount,bind,ro "$tree/proc/sys"
	mkdir -p "$tree/run/systemd/system"
	cp -r "$units/." "$tree/run/systemd/system/"
	exec chroot "$tree" /usr/bin/env -i container=tmc-debpkg \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		/lib/systemd/systemd --system --unit=tmc-debpkg.target --log-target=console --log-level=notice
	;;
*)
	log "unknown mode '$mode'"
	exit 2
	;;
esac
