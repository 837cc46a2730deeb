#!/bin/sh
# The Debian packages as an operator meets them: installed with apt into a
# fresh Debian 12 chroot, one pair of instances started by the packaged
# template unit under a real systemd, the sample exercise run through HTTP,
# then purged, leaving nothing but the documented state.
#
#   tests/debpkg/run.sh DEB_DIR EXERCISE_DIR     (needs root; `make deb-test`)
#
# This script owns the host side: the cached base chroot (mkchroot.sh,
# keyed by that script and the packages the .debs depend on and recommend,
# in $TMC_CACHE_DIR), the scratch tree, the free ports and the HTTP
# checks. ns.sh mounts what the chroot needs in a private mount namespace,
# then runs apt there or boots systemd as PID 1 of a pid namespace of its
# own. What it checks:
#   install  apt install ./tmc-sandbox_*.deb ./tmc-sandbox-images_*.deb
#            needs nothing but the base (the Depends are complete); no
#            user is made (uid slots need none), nothing is enabled,
#            postinst says where to start, the conffile and man pages are
#            there, lpj measured;
#   run      sandboxd@A and sandboxd@B start from the packaged unit and the
#            shipped sandboxd.conf; A runs the sample exercise (wait=1) to
#            "finished" with its output, with the per-run cgroup and the UML
#            namespaces; A and B hold uid slots of their own; B runs it
#            with a notify URL nobody answers, so its result stays in the
#            spool;
#   purge    apt purge: the files of both packages, the logs and A's work
#            dir are gone; B's work dir is kept because its spool holds a
#            result (postrm says so); nothing else is left outside the
#            system's own bookkeeping (dpkg, apt, the user database).
# Never: writes outside the scratch tree, the cache and the cgroups the
# private systemd made (removed again), deletes across a mount point.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
debs=${1:?usage: run.sh DEB_DIR EXERCISE_DIR}
exercise=${2:?usage: run.sh DEB_DIR EXERCISE_DIR}
log() { echo "debpkg: $*" >&2; }
die() { log "$*"; exit 1; }
failed=0
check() {
	# check DESCRIPTION COMMAND...: one observable fact.
	what=$1
	shift
	if "$@"; then
		log "ok: $what"
	else
		log "FAILED: $what"
		failed=$((failed + 1))
	fi
}

[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap, chroot, systemd as PID 1 of a namespace)"
for tool in mmdebstrap unshare nsenter pgrep curl python3 dpkg-deb zstd; do
	command -v "$tool" >/dev/null || die "$tool missing: run 'make deps'"
done
debs=$(cd "$debs" && pwd)
pkg=$(find "$debs" -maxdepth 1 -name 'tmc-sandbox_*_*.deb' | head -n 1)
img=$(find "$debs" -maxdepth 1 -name 'tmc-sandbox-images_*_*.deb' | head -n 1)
if [ -z "$pkg" ] || [ -z "$img" ]; then
	die "no tmc-sandbox and tmc-sandbox-images .deb in $debs (make deb)"
fi
[ -x "$exercise/tmc-run" ] || die "$exercise has no executable tmc-run"
start=$(date +%s)

# The base: minbase, systemd, and every package the two .debs name in
# Depends or Recommends (the first of alternatives), except each other.
# A dependency missing from the Depends would then fail the offline apt
# install below.
packages=$(for d in "$pkg" "$img"; do
	dpkg-deb -f "$d" Depends Recommends | sed -n 's/^[A-Za-z-]*: //p'
done | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:any//; s/[[:space:]]//g' |
	grep -v -e '^$' -e '^tmc-sandbox' | { cat; echo systemd; } | sort -u | tr '\n' ',' | sed 's/,$//')
key=$(printf '%s\n%s\n' "$(cat "$here/mkchroot.sh")" "$packages" | sha256sum | cut -c1-16)
cache=${TMC_CACHE_DIR-/var/cache/tmc-sandbox}

work=$(mktemp -d "${TMPDIR:-/tmp}/tmc-debpkg.XXXXXX")
init_pid='' ns_pid=''
cg_before=$work/cgroups.before
find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name '*.s*' 2>/dev/null | sort > "$cg_before"
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	stop_systemd
	rm -rf --one-file-system "$work"
}
# shellcheck disable=SC2317 # called by cleanup and after the run phase
stop_systemd() {
	# Killing PID 1 of the namespace kills everything in it.
	if [ -n "$init_pid" ]; then
		kill -KILL "$init_pid" 2>/dev/null || true
	fi
	i=0
	while [ -n "$init_pid" ] && [ -e "/proc/$init_pid" ] && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -n "$ns_pid" ] && { kill -KILL "$ns_pid" 2>/dev/null || true; wait "$ns_pid" 2>/dev/null || true; }
	init_pid='' ns_pid=''
	# The private systemd made init.scope and system.slice at the top of
	# the cgroup tree: remove the empty ones it added.
	find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name '*.s*' 2>/dev/null | sort |
	    comm -13 "$cg_before" - | while read -r d; do
		find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tarball="$cache/debpkg-chroot-$key.tar.zst"
if [ -n "$cache" ] && [ -f "$tarball" ]; then
	log "chroot: cached $tarball"
else
	"$here/mkchroot.sh" "$work/chroot.tar.zst" "$packages"
	if [ -n "$cache" ] && mkdir -p "$cache" 2>/dev/null &&
	    cp "$work/chroot.tar.zst" "$tarball.$$" && mv "$tarball.$$" "$tarball"; then
		log "chroot: cached as $tarball"
	else
		rm -f "$tarball.$$"
		tarball="$work/chroot.tar.zst"
		log "chroot: could not cache it in '$cache' (built again next time)"
	fi
	[ -f "$tarball" ] || tarball="$work/chroot.tar.zst"
	log "chroot: built in $(($(date +%s) - start)) s"
fi
tree="$work/root"
mkdir "$tree"
tar --zstd -xf "$tarball" -C "$tree" || die "unpacking $tarball failed"

# Every path of the tree but the API file systems and the scratch dirs.
snapshot() {
	(cd "$tree" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run \
	    -o -path ./tmp -o -path ./mnt \) -prune -o -print) | sort
}
snapshot > "$work/before"
in_chroot() {
	unshare --mount --propagation private "$here/ns.sh" "$tree" run "$debs" "$@"
}

# ------------------------------------------------------------- install
pkgname=$(basename "$pkg") imgname=$(basename "$img")
log "install: apt install ./$pkgname ./$imgname"
if ! in_chroot sh -c "cd /mnt && apt-get install -y ./$pkgname ./$imgname" > "$work/install.log" 2>&1; then
	cat "$work/install.log" >&2
	die "apt install failed (a dependency missing from Depends or Recommends fails here)"
fi
check "postinst says where to start" grep -q 'systemctl enable --now sandboxd@8081' "$work/install.log"
check "no tmc-sandbox user is made (uid slots need none)" sh -c "! grep -q '^tmc-sandbox:' '$tree/etc/passwd'"
enabled=$(in_chroot systemctl is-enabled tmc-sandbox.target 2>&1 || true)
check "tmc-sandbox.target is not enabled ($enabled)" [ "$enabled" = disabled ]
check "nothing under /etc/systemd/system names an instance" \
    sh -c "! find '$tree/etc/systemd/system' -name 'sandboxd*' -o -name 'tmc-sandbox*' | grep -q ."
# shellcheck disable=SC2016 # a dpkg-query format
in_chroot dpkg-query -W -f='${Conffiles}\n' tmc-sandbox > "$work/conffiles" || true
check "sandboxd.conf is a conffile" grep -q '^ /etc/tmc-sandbox/sandboxd.conf ' "$work/conffiles"
for m in man8/sandboxd.8.gz man1/sandbox-run.1.gz man5/tmc-sandbox.conf.5.gz; do
	check "man page $m installed" [ -s "$tree/usr/share/man/$m" ]
done
check "loops_per_jiffy measured at install ($(cat "$tree/var/lib/tmc-sandbox/lpj" 2>/dev/null || echo none))" \
    grep -qxE '[1-9][0-9]*' "$tree/var/lib/tmc-sandbox/lpj"

# ----------------------------------------------------------------- run
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
pa=$(free_port)
pb=$(free_port)
dead=$(free_port)
units=$work/units
mkdir -p "$units"
printf '[Unit]\nDescription=tmc-sandbox package test\nDefaultDependencies=no\nWants=sandboxd@%s.service sandboxd@%s.service\n' \
    "$pa" "$pb" > "$units/tmc-debpkg.target"
for p in "$pa" "$pb"; do
	mkdir -p "$units/sandboxd@$p.service.d"
	# Its output where the host can read it on failure
	# (/proc/PID1/root/run): systemd itself logs to the console only.
	printf '[Unit]\nDefaultDependencies=no\n[Service]\nStandardOutput=append:/run/sandboxd-%%i.out\nStandardError=inherit\n' \
	    > "$units/sandboxd@$p.service.d/test.conf"
done
log "run: systemd in the chroot starts sandboxd@$pa and sandboxd@$pb"
unshare --pid --mount --fork --propagation private "$here/ns.sh" "$tree" boot "$units" \
    > "$work/systemd.log" 2>&1 &
ns_pid=$!
up=0
deadline=$(($(date +%s) + 60))
while [ "$(date +%s)" -lt "$deadline" ]; do
	[ -z "$init_pid" ] && init_pid=$(pgrep -P "$ns_pid" | head -n 1 || true)
	if curl -sf -o /dev/null "http://127.0.0.1:$pa/status.json" &&
	    curl -sf -o /dev/null "http://127.0.0.1:$pb/status.json"; then
		up=1
		break
	fi
	sleep 0.2
done
if [ "$up" -ne 1 ]; then
	cat "$work/systemd.log" >&2
	for p in "$pa" "$pb"; do
		tail -5 "/proc/${init_pid:-0}/root/run/sandboxd-$p.out" "$tree/var/log/tmc-sandbox/$p.log" >&2 2>/dev/null || true
	done
	die "the packaged sandboxd@$pa and @$pb did not answer within 60 s"
fi
log "run: both instances answer"

(cd "$exercise" && tar -cf "$work/task.tar" -- *)
res=$work/result.json
curl -s --max-time 300 -o "$res" -F "file=@$work/task.tar" -F wait=1 "http://127.0.0.1:$pa/" || true
log "run: sample exercise on sandboxd@$pa: $(cut -c1-200 "$res")"
check "the sample exercise finished" grep -q '"status": *"finished"' "$res"
check "its output is the program's" grep -q '"output": *"Hello' "$res"
check "it ran in a per-run cgroup (peak memory reported)" grep -q '"memory":' "$res"
# Each instance holds a uid slot of its own (DEPLOYMENT.md, "Host uids").
slot_a=$(sed -n 's/.*uid slot \([0-9]*\): UML runs as uid \(6[01][0-9][0-9][0-9]\),.*/\1/p' "$tree/var/log/tmc-sandbox/$pa.log" | tail -n 1)
slot_b=$(sed -n 's/.*uid slot \([0-9]*\): UML runs as uid \(6[01][0-9][0-9][0-9]\),.*/\1/p' "$tree/var/log/tmc-sandbox/$pb.log" | tail -n 1)
check "sandboxd@$pa and @$pb hold uid slots of their own (${slot_a:-none}, ${slot_b:-none})" \
    sh -c "[ -n '$slot_a' ] && [ -n '$slot_b' ] && [ '$slot_a' != '$slot_b' ]"
check "UML had its namespaces" sh -c "! grep -q 'no namespaces for UML' '$tree/var/log/tmc-sandbox/$pa.log'"
# The unit's hardening holds for the packaged binary: no_new_privs and
# the capability bounding set of sandboxd@.service.
sbd=$(pgrep -f "sandboxd --config /etc/tmc-sandbox/sandboxd.conf --port $pa " | head -n 1 || true)
check "sandboxd@$pa runs with NoNewPrivileges" grep -qE '^NoNewPrivs:[[:space:]]+1$' "/proc/${sbd:-0}/status"
check "sandboxd@$pa runs under the unit's CapabilityBoundingSet" \
    grep -qE '^CapBnd:[[:space:]]+00000000002000e3$' "/proc/${sbd:-0}/status"

curl -s --max-time 30 -o "$work/answer" -F "file=@$work/task.tar" -F token=kept \
    -F "notify=http://127.0.0.1:$dead/" "http://127.0.0.1:$pb/" || true
check "sandboxd@$pb accepted a task with a notify URL ($(cat "$work/answer"))" \
    grep -q '"status": *"ok"' "$work/answer"
pending=0
deadline=$(($(date +%s) + 150))
while [ "$(date +%s)" -lt "$deadline" ]; do
	st=$(curl -s --max-time 5 "http://127.0.0.1:$pb/status.json" || true)
	case "$st" in
	*'"busy_instances":0'*'"spool_pending":1'* | *'"spool_pending":1'*'"busy_instances":0'*) pending=1; break ;;
	esac
	sleep 0.5
done
check "its undeliverable result waits in the spool" [ "$pending" -eq 1 ]
# Stopped as an operator would (SIGTERM: each drains), so that systemd
# tears down what it made for them (PrivateTmp dirs under /var/tmp).
check "systemctl stop drains and stops both instances" \
    nsenter --target "${init_pid:-0}" --mount --pid --root /usr/bin/systemctl stop \
    "sandboxd@$pa.service" "sandboxd@$pb.service"
check "neither answers after the stop" sh -c "! curl -sf -o /dev/null http://127.0.0.1:$pa/status.json &&
    ! curl -sf -o /dev/null http://127.0.0.1:$pb/status.json"
stop_systemd

# --------------------------------------------------------------- purge
log "purge: apt purge tmc-sandbox tmc-sandbox-images"
if ! in_chroot apt-get purge -y tmc-sandbox tmc-sandbox-images > "$work/purge.log" 2>&1; then
	cat "$work/purge.log" >&2
	die "apt purge failed"
fi
check "postrm says it kept sandboxd@$pb's spool" grep -q "kept /var/lib/tmc-sandbox/$pb/" "$work/purge.log"
check "the kept spool still holds the result" \
    sh -c "find '$tree/var/lib/tmc-sandbox/$pb/spool' -type f | grep -q ."
check "sandboxd@$pa's work dir is gone" [ ! -e "$tree/var/lib/tmc-sandbox/$pa" ]
check "the logs are gone" [ ! -e "$tree/var/log/tmc-sandbox" ]
check "/etc/tmc-sandbox is gone" [ ! -e "$tree/etc/tmc-sandbox" ]
check "/usr/lib/tmc-sandbox is gone" [ ! -e "$tree/usr/lib/tmc-sandbox" ]

# What is new since before the install. Allowed: the kept work dir (its
# parent too), and the system's own bookkeeping: dpkg's and apt's state
# and logs, the sysusers backups of the user database, systemd's state
# from the boot above, the machine id systemd wrote at boot.
snapshot > "$work/after"
comm -13 "$work/before" "$work/after" | grep -vE \
    -e "^\./var/lib/tmc-sandbox(/$pb(/.*)?)?$" \
    -e '^\./var/lib/(dpkg|apt|systemd)(/.*)?$' \
    -e '^\./var/(cache/apt|cache/debconf|log/apt)(/.*)?$' \
    -e '^\./var/log/dpkg\.log$' \
    -e '^\./etc/(passwd|group|shadow|gshadow)-$' \
    -e '^\./etc/machine-id$' > "$work/left" || true
if [ -s "$work/left" ]; then
	log "left behind after purge:"
	sed 's/^/  /' "$work/left" >&2
fi
check "nothing else is left after purge ($(wc -l < "$work/left") paths)" [ ! -s "$work/left" ]

log "$failed failed, in $(($(date +%s) - start)) s"
[ "$failed" -eq 0 ]
