#!/bin/sh
# Checks of the guest itself that need guest root, through ./run-bash.sh -c:
# the kernel has no hostfs even for root, no module loading, no network
# device but loopback, and run-bash.sh works for operators.
set -eu
cd "$(dirname "$0")/../.."

passed=0
failed=0
check() {
	name=$1 pattern=$2 text=$3
	if printf '%s\n' "$text" | grep -q -- "$pattern"; then
		echo "PASS $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name: no '$pattern' in:"
		printf '%s\n' "$text" | tail -n 20
		failed=$((failed + 1))
	fi
}

# shellcheck disable=SC2016 # the script runs in the guest, not here
out=$(timeout 120 ./run-bash.sh -c '
id -u
mkdir -p /mnt/h
mount -t hostfs none /mnt/h; echo "hostfs-mount-rc=$?"
grep -c hostfs /proc/filesystems || true
test -e /proc/modules && echo "modules-present" || echo "modules-absent"
awk -F: "NR > 2 { gsub(/ /, \"\", \$1); printf \"%s \", \$1 }" /proc/net/dev; echo
' 2>&1 | tr -d "\r") || true

check "guest shell runs as root" '^0' "$out"
check "hostfs is not a known file system" "unknown filesystem type 'hostfs'" "$out"
check "hostfs mount fails for root" 'hostfs-mount-rc=32' "$out"
check "no module support" 'modules-absent' "$out"
check "only loopback" '^lo $' "$out"
check "guest powers off" 'reboot: Power down' "$out"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
