#!/bin/sh
# A root shell in a sandbox guest, for operators: the same kernel, initrd
# and rootfs as tasks, booted with tmc.shell=1 and the console on this
# terminal. UML itself runs confined as it does for tasks: fresh namespaces,
# user nobody, no_new_privs. `exit` powers the guest off.
#
#   ./run-bash.sh [-m MEMORY] [-c COMMAND]
#
# -c runs COMMAND with bash as root in the guest instead of an interactive
# shell and prints its output (for scripted checks of the guest itself).
set -eu

top=$(cd "$(dirname "$0")" && pwd)
mem=256M
cmd=""
while getopts m:c: opt; do
	case "$opt" in
	m) mem=$OPTARG ;;
	c) cmd=$OPTARG ;;
	*) echo "usage: $0 [-m MEMORY] [-c COMMAND]" >&2; exit 2 ;;
	esac
done
make -s -C "$top" deps >&2
make -s -C "$top" images >&2

work=$(mktemp -d /dev/shm/tmc-bash.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/task"
if [ -n "$cmd" ]; then
	printf '%s\n' "$cmd" > "$work/task/tmc-run"
	chmod 755 "$work/task/tmc-run"
fi
tar --format=ustar -C "$work/task" -cf "$work/runnable.tar" .
truncate -s 1M "$work/output.tar"

set -- "$top/build/linux.uml" mem="$mem" initrd="$top/build/initrd.img" \
	ubdarc="$top/build/rootfs.squashfs" ubdbr="$work/runnable.tar" ubdc="$work/output.tar" \
	con=null con0=fd:0,fd:1 ssl=null lpj="$(cat "$top/build/lpj")" quiet \
	uml_dir="$work" tmc.shell=1
if [ -n "$cmd" ]; then
	exec < /dev/null
fi
if [ "$(id -u)" -eq 0 ]; then
	chown -R nobody "$work"
	# No pid namespace here: UML as pid 1 cannot exit after a guest panic.
	set -- unshare --mount --net --ipc --uts \
		setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs -- "$@"
fi
# In its own session, in the background, so that this script can kill the
# whole UML process tree; stdin is passed on explicitly (a background job
# would get /dev/null).
exec 3<&0
TMPDIR=$work setsid "$@" <&3 3<&- &
guest=$!
trap 'kill -KILL -- "-$guest" 2>/dev/null; rm -rf "$work"; exit 143' INT TERM
status=0
wait "$guest" || status=$?
kill -KILL -- "-$guest" 2>/dev/null || true
exit "$status"
