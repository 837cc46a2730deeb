#!/bin/sh
# systemd_probe.sh: runs one task through sandboxd@PORT.service as systemd
# runs it, with every hardening option of the shipped unit in force, to
# show that UML tolerates them. The unit comes from a `make install` tree
# (paths moved into the tree); extra options (-o) test one more at a time.
#
#   systemd_probe.sh -s STAGE -p PREFIX -P PORT -t TASK.tar [-o Option=value]...
#
# When PID 1 is systemd, the unit is started by it (under /run/systemd).
# Otherwise (containers, this project's VMs) a private systemd is booted as
# PID 1 of fresh pid and mount namespaces, with /run, /var/lib, /var/log
# on tmpfs and /proc/sys read-only, starting only this unit (the probe's
# drop-in sets DefaultDependencies=no, so no sysinit unit touches the
# host). Prints the result and the confinement of the sandboxd process;
# exits 0 only when the task finished. Needs root.
set -eu

stage='' prefix='' port='' tar='' extra=''
nl='
'
while getopts s:p:P:t:o: opt; do
	case "$opt" in
	s) stage=$(cd "$OPTARG" && pwd) ;;
	p) prefix=$OPTARG ;;
	P) port=$OPTARG ;;
	t) tar=$OPTARG ;;
	o) extra="$extra$OPTARG$nl" ;;
	*) sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
if [ -z "$stage" ] || [ -z "$prefix" ] || [ -z "$port" ] || [ ! -r "$tar" ]; then
	echo "systemd_probe: -s STAGE -p PREFIX -P PORT -t TASK.tar are required" >&2
	exit 2
fi
[ "$(id -u)" -eq 0 ] || { echo "systemd_probe: needs root" >&2; exit 1; }
for tool in curl unshare /lib/systemd/systemd; do
	command -v "$tool" >/dev/null 2>&1 || { echo "systemd_probe: $tool is missing" >&2; exit 1; }
done

unitsrc=$stage$prefix/lib/systemd/system/sandboxd@.service
envfile=$stage$prefix/etc/tmc-sandbox/sandboxd@$port.env
[ -r "$unitsrc" ] || { echo "systemd_probe: no unit at $unitsrc (make install DESTDIR=...)" >&2; exit 1; }
work=$(mktemp -d /tmp/systemd_probe.XXXXXX)
units=$work/units
mkdir -p "$units/sandboxd@$port.service.d"
unit=sandboxd@$port.service
ns_pid=''
init_pid=''
cg_before=$work/cgroups.before
native=no
[ "$(cat /proc/1/comm)" = systemd ] && native=yes

# Moved into the tree: the unit's programs, config and images.
sed "s|$prefix/|$stage$prefix/|g" "$unitsrc" >"$units/sandboxd@.service"
# The tree is not installed: its images and policy by flag. UML runs as the
# instance's uid slot, as installed.
printf 'SANDBOXD_ARGS=--images-dir %s --policy %s\n' \
    "$stage$prefix/lib/tmc-sandbox" "$stage$prefix/share/tmc-sandbox/policy.default" >"$envfile"
{
	printf '[Unit]\nDefaultDependencies=no\n[Service]\n'
	printf 'StandardOutput=file:/run/sandboxd-probe-%s.out\nStandardError=inherit\n' "$port"
	printf '%s' "$extra"
} >"$units/sandboxd@$port.service.d/probe.conf"
printf '[Unit]\nDescription=systemd_probe\nDefaultDependencies=no\nWants=%s\n' "$unit" \
    >"$units/tmc-probe.target"

find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name '*.s*' 2>/dev/null | sort >"$cg_before"

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ "$native" = yes ]; then
		systemctl stop "$unit" 2>/dev/null || true
		rm -rf "/run/systemd/system/sandboxd@.service" "/run/systemd/system/$unit.d"
		systemctl daemon-reload 2>/dev/null || true
	else
		# Killing PID 1 of the namespace kills everything in it; the
		# kernel reaps the namespace before that pid is gone.
		if [ -n "$init_pid" ]; then
			kill -KILL "$init_pid" 2>/dev/null || true
			i=0
			while [ -e "/proc/$init_pid" ] && [ "$i" -lt 100 ]; do
				sleep 0.1
				i=$((i + 1))
			done
		fi
		if [ -n "$ns_pid" ]; then
			kill -KILL "$ns_pid" 2>/dev/null || true
			wait "$ns_pid" 2>/dev/null || true
		fi
		# The private systemd made init.scope and system.slice in the
		# cgroup hierarchies; remove the empty ones it added.
		find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name '*.s*' 2>/dev/null | sort |
		    comm -13 "$cg_before" - | while read -r d; do
			find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
		done
	fi
	rm -f "$envfile"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ "$native" = yes ]; then
	cp "$units/sandboxd@.service" /run/systemd/system/
	cp -r "$units/$unit.d" /run/systemd/system/
	systemctl daemon-reload
	systemctl start "$unit"
else
	cat >"$work/inner.sh" <<EOF
#!/bin/sh
set -eu
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/lib
mount -t tmpfs tmpfs /var/log
mkdir -p /run/systemd/system
cp -r '$units/.' /run/systemd/system/
exec env container=tmc-probe /lib/systemd/systemd --system --unit=tmc-probe.target --log-target=console --log-level=notice
EOF
	chmod 0755 "$work/inner.sh"
	unshare --pid --mount --fork --mount-proc --propagation private "$work/inner.sh" \
	    >"$work/systemd.log" 2>&1 &
	ns_pid=$!
fi

i=0
until curl -sf -o /dev/null "http://127.0.0.1:$port/status.json"; do
	i=$((i + 1))
	if [ "$i" -gt 100 ]; then
		echo "systemd_probe: $unit did not answer in 10 s" >&2
		[ -r "$work/systemd.log" ] && tail -20 "$work/systemd.log" >&2
		exit 1
	fi
	[ -z "$init_pid" ] && [ -n "$ns_pid" ] && init_pid=$(pgrep -P "$ns_pid" | head -n 1 || true)
	sleep 0.1
done
[ -z "$init_pid" ] && [ -n "$ns_pid" ] && init_pid=$(pgrep -P "$ns_pid" | head -n 1 || true)

result=$(curl -s --max-time 120 -F "file=@$tar" -F wait=1 "http://127.0.0.1:$port/")
pid=$(pgrep -f "sandboxd --config .* --port $port " | head -n 1 || true)
if [ -n "$pid" ]; then
	printf 'systemd_probe: sandboxd pid %s: %s\n' "$pid" \
	    "$(grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' "/proc/$pid/status" | tr -s '\t\n' '  ')"
fi
# Tolerated means: the task ran with the whole confinement, not with a
# fallback. The result's peak memory comes from the run's cgroup (without
# it the sandbox runs on rlimits only); sandbox.c logs "no namespaces for
# UML" when it could not create them.
degraded=''
case "$result" in
*'"memory":'*) echo "systemd_probe: per-run cgroup: used (the result has the peak memory)" ;;
*) echo "systemd_probe: per-run cgroup: NOT used (rlimits only)"; degraded=yes ;;
esac
log=/proc/${pid:-0}/root/var/log/tmc-sandbox/$port.log
if [ -n "$pid" ] && [ -r "$log" ] && grep -q 'no namespaces for UML' "$log"; then
	echo "systemd_probe: UML namespaces: NOT used ($(grep -m 1 -o 'no namespaces for UML.*' "$log"))"
	degraded=yes
elif [ -n "$pid" ] && [ -r "$log" ]; then
	echo "systemd_probe: UML namespaces: used"
else
	echo "systemd_probe: UML namespaces: unknown (no log at $log)"
	degraded=yes
fi
if [ -n "$degraded" ]; then
	echo "systemd_probe: the task ran with less confinement under $unit${extra:+ with $(printf '%s' "$extra" | tr '\n' ' ')}"
	exit 1
fi
case "$result" in
*'"status":"finished"'*)
	echo "systemd_probe: task finished under $unit${extra:+ with $(printf '%s' "$extra" | tr '\n' ' ')}"
	exit 0 ;;
*)
	echo "systemd_probe: task did not finish under $unit${extra:+ with $(printf '%s' "$extra" | tr '\n' ' ')}:" \
	    "$(printf '%s' "$result" | cut -c1-300)"
	exit 1 ;;
esac
