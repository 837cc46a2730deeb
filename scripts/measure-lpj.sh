#!/bin/sh
# Boots the UML kernel once without lpj= and prints the loops_per_jiffy it
# calibrated, so later boots can skip the ~0.2 s delay calibration.
#
#   scripts/measure-lpj.sh KERNEL INITRD > build/lpj
set -eu
kernel=$1 initrd=$2
shm=$(mktemp -d /dev/shm/tmc-lpj.XXXXXX)
trap 'rm -rf "$shm"' EXIT
# No root disk: /init fails at once and powers off after calibration.
log=$(TMPDIR=$shm timeout 60 "$kernel" mem=32M initrd="$initrd" uml_dir="$shm" \
	con=null con0=null,fd:1 ssl=null 2>&1 < /dev/null || true)
lpj=$(printf '%s\n' "$log" | sed -n 's/.*(lpj=\([0-9][0-9]*\)).*/\1/p' | head -n 1)
[ -n "$lpj" ] || { echo "measure-lpj: no 'lpj=' in the boot log:" >&2; printf '%s\n' "$log" | tail -20 >&2; exit 1; }
echo "$lpj"
