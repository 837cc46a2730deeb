#!/bin/sh
# rootfs/c/setup.sh TREE: the C toolchain part of a rootfs build (a
# customize hook of rootfs/build.sh; a profile without gcc is left as it is).
#
# gcc links through collect2, a wrapper that runs ld: one more process,
# with its own dynamic loading, temporary files and exec, for nothing on
# ELF (constructors are in .init_array; LTO goes through ld's plugin). In
# the guest, where a process costs tens of milliseconds, that was 10-19 ms
# of a ~270 ms gcc of hello.c (make bench, section `gcc`). So each gcc's
# `specs` file (read from its own lib dir, overriding only what it names)
# makes the driver run /usr/bin/ld itself, with the arguments it gives
# collect2 (the LTO plugin's among them: archives of LTO objects still
# link). collect2 stays in charge where it does something: -flto (LTO
# without the plugin), -fuse-ld= (collect2 picks ld.gold or ld.lld), and
# -fuse-linker-plugin, which a task may give to have gcc's own behaviour.
# The output is the same binary; a failed link prints ld's messages without
# collect2's closing "ld returned 1 exit status" line.
#
# /usr/local/include, empty in the image, goes: cc1 drops a missing
# directory from its search path, and an empty one costs an open per
# #include (24 trapped opens, each answered ENOENT, in a gcc of hello.c).
# Nothing can be installed there: the root is read-only in the guest.
set -eu

tree=$1
if [ -d "$tree/usr/local/include" ] && rmdir "$tree/usr/local/include" 2>/dev/null; then
	echo "rootfs/c/setup.sh: /usr/local/include (empty) removed"
fi
for dir in "$tree"/usr/lib/gcc/x86_64-linux-gnu/*/; do
	[ -x "$dir/collect2" ] && [ -x "$tree/usr/bin/ld" ] || continue
	if [ -e "$dir/specs" ]; then
		echo "rootfs/c/setup.sh: $dir/specs exists already" >&2
		exit 1
	fi
	printf '%s\n' '*linker:' \
	    '%{flto|flto=*|fuse-ld=*|fuse-linker-plugin:collect2;:/usr/bin/ld}' '' > "$dir/specs"
	echo "rootfs/c/setup.sh: ${dir#"$tree"}specs: gcc runs /usr/bin/ld without collect2"
done
