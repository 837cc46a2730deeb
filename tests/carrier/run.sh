#!/bin/sh
# run.sh CARRIER PROGDIR: host-level Scout tests. Runs the real `carrier`
# against the probe programs built from tests/carrier/*.c, one case per
# line below, and prints PASS/FAIL per case and "N passed, M failed".
#
# As root the task runs as nobody (65534) so that the kernel's own checks
# are those of an unprivileged task, as in the guest; as another user it
# runs as that user (--uid needs root) and the cases still hold.
set -eu

carrier=$(realpath "$1")
progs=$(realpath "$2")
work=$(mktemp -d /tmp/scout-test.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
chmod 755 "$work"

# The layout the cases use:
#   bin/     copies of the probes (exec allowed: ro)
#   ro/      read-only data; ro/sub/ for relative lookups
#   task/    the task dir (rw); task/out-link -> ../secret/key (denied)
#   secret/  under `deny $work`: denied (readable to the kernel's own
#            checks, so that only Scout stands in the way)
#   data.txt in the Carrier's own cwd, to catch resolution against it
mkdir -p "$work/bin" "$work/ro/sub" "$work/task" "$work/secret"
cp "$progs"/probe "$progs"/threads "$work/bin/"
printf 'ro-data' > "$work/ro/data.txt"
printf 'sub-data' > "$work/ro/sub/data.txt"
printf 'WRONG: the carrier cwd' > "$work/data.txt"
printf 'top secret' > "$work/secret/key"
printf 'task-data' > "$work/task/data.txt"
ln -s ../secret/key "$work/task/out-link"
ln -s data.txt "$work/task/in-link"
ln -s "$work/secret" "$work/task/secret-dir"
mkdir "$work/task/gone"
cat > "$work/policy" <<POLICY
# system, for dynamic linking
allow ro /usr
allow ro /lib
allow ro /lib64
allow ro /etc
deny /etc/shadow
deny $work
allow ro $work/bin
allow ro $work/ro
allow rw \$TASK
allow rw /tmp
allow ro /proc/self
allow dev /dev/null
POLICY

ids=""
if [ "$(id -u)" -eq 0 ]; then
	ids="--uid 65534 --gid 65534"
	chown -R 65534:65534 "$work/task"
	echo "run.sh: root: the task runs as 65534"
else
	echo "run.sh: not root: the task runs as $(id -u) (uid drop not exercised)"
fi

passed=0
failed=0
log="$work/case.log"

# check NAME WANT_STATUS CARRIER-ARGS... -- CMD...: under $work/policy;
# checkd: the same under the built-in default policy.
policy_args="--policy $work/policy"
check() {
	name=$1
	want=$2
	shift 2
	cd "$work"
	set +e
	# shellcheck disable=SC2086
	timeout -k 5 120 "$carrier" $policy_args --task "$work/task" $ids "$@" >"$log" 2>&1
	got=$?
	set -e
	if [ "$got" -eq "$want" ]; then
		passed=$((passed + 1))
		echo "PASS $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name: status $got, want $want"
		sed 's/^/    /' "$log"
	fi
}
checkd() {
	policy_args=""
	check "$@"
	policy_args="--policy $work/policy"
}

# audit_has FILE PATH ACCESS VERDICT: the audit lists that decision.
audit_has() {
	tr -d ' \n' < "$1" | grep -qF "\"path\":\"$2\",\"access\":\"$3\",\"verdict\":\"$4\""
}

# pass NAME / fail NAME WHY: for cases checked outside `check`.
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1: $2"; }

P="$work/bin/probe"
T="$work/task"

check allowed-read-data          0 -- "$P" read "$work/ro/data.txt" ro-data
check task-write-and-read        0 -- "$P" write "$T/new.txt" written
check denied-read-eacces         0 -- "$P" err open-r "$work/secret/key" EACCES
check shadow-denied              0 -- "$P" err open-r /etc/shadow EACCES
check ro-write-eacces            0 -- "$P" err open-w "$work/ro/data.txt" EACCES
check ro-create-eacces           0 -- "$P" err creat "$work/ro/new.txt" EACCES
check ro-unlink-eacces           0 -- "$P" err unlink "$work/ro/data.txt" EACCES
check ro-mkdir-eacces            0 -- "$P" err mkdir "$work/ro/newdir" EACCES
check ro-chmod-eacces            0 -- "$P" err chmod "$work/ro/data.txt" EACCES
check ro-truncate-eacces         0 -- "$P" err truncate "$work/ro/data.txt" EACCES
check ro-rename-eacces           0 -- "$P" err rename "$work/ro/data.txt" EACCES
check ro-link-eacces             0 -- "$P" err link "$work/ro/data.txt" EACCES
check ro-symlink-eacces          0 -- "$P" err symlink "$work/ro/evil" EACCES
check outside-create-eacces      0 -- "$P" err creat /scout-escape EACCES
check outside-mkdir-eacces       0 -- "$P" err mkdir /usr/scout-escape EACCES
check exec-denied                0 -- "$P" err exec "$work/secret/key" EACCES
check relative-uses-task-cwd     0 -- "$P" cwd "$work/ro/sub" data.txt sub-data
check relative-dotdot            0 -- "$P" cwd "$work/ro/sub" ../data.txt ro-data
check openat-dirfd               0 -- "$P" openat "$work/ro/sub" data.txt sub-data
check opath-read-through-proc    0 -- "$P" pathread "$work/ro/data.txt" ro-data
check opath-denied-eacces        0 -- "$P" err open-path "$work/secret/key" EACCES
check opath-shadow-eacces        0 -- "$P" err open-path /etc/shadow EACCES
check opath-dirfd-judged         0 -- "$P" pathat "$work/ro" ../secret/key EACCES
check symlink-inside-ok          0 -- "$P" read "$T/in-link" task-data
check symlink-out-denied         0 -- "$P" err open-r "$T/out-link" EACCES
check symlink-dir-out-denied     0 -- "$P" err open-r "$T/secret-dir/key" EACCES
check rmdir-in-task              0 -- "$P" err rmdir "$T/no-such-dir" ENOENT
check proc-self-ok               0 -- "$P" err open-r /proc/self/nonexistent ENOENT
check proc-1-mem-denied          0 -- "$P" err open-r /proc/1/mem EACCES
check openat2-refused            0 -- "$P" err openat2 "$work/ro/data.txt" ENOSYS
check io_uring-refused           0 -- "$P" call io_uring_setup
check ptrace-refused             0 -- "$P" call ptrace
check ptrace-traceme-refused     0 -- "$P" call ptrace_traceme
check mount-refused              0 -- "$P" call mount
check unshare-user-refused       0 -- "$P" call unshare_user
check clone-newns-refused        0 -- "$P" call clone_newns
check clone3-enosys              0 -- "$P" call clone3
check socket-inet-refused        0 -- "$P" call socket_inet
check socket-inet6-refused       0 -- "$P" call socket_inet6
check socket-netlink-refused     0 -- "$P" call socket_netlink
check socketpair-unix-works      0 -- "$P" call socketpair_unix
check process_vm_readv-refused   0 -- "$P" call process_vm_readv
check personality-refused        0 -- "$P" call personality
check bpf-refused                0 -- "$P" call bpf
check keyctl-refused             0 -- "$P" call keyctl
check chroot-refused             0 -- "$P" call chroot
check mknod-refused              0 -- "$P" call mknod
check tiocsti-refused            0 -- "$P" call tiocsti
check seccomp-listener-refused   0 -- "$P" call seccomp_listener
# Some host kernels run without IA32 emulation (ia32_emulation=0 or not
# built): there int 0x80 faults (SIGSEGV) before any filter sees it, with
# or without the Carrier. Then what must hold is that it never opens.
set +e
"$P" int80 "$work/secret/key" >/dev/null 2>&1
bare_int80=$?
set -e
if [ "$bare_int80" -eq 139 ]; then
	echo "NOTE int80: this host kernel has no IA32 emulation (int 0x80 faults unconfined too)"
	check int80-killed         139 -- "$P" int80 "$work/secret/key"
else
	check int80-killed         159 -- "$P" int80 "$work/secret/key"
fi
check x32-killed               159 -- "$P" x32
check fork-children-confined     0 -- "$P" fork "$work/secret/key" "$work/ro/data.txt" ro-data
check threads-confined           0 -- "$work/bin/threads" "$work/secret/key" "$work/ro/data.txt" ro-data
check exit-code-propagates      42 -- "$P" exit 42
check signal-propagates        143 -- "$P" signal 15
check segv-propagates          139 -- "$P" signal 11
check missing-command          127 -- "$work/bin/no-such-program"
check timeout-kills            137 --timeout 1 -- "$P" sleep 30
check limits-nofile              0 --limits nofile=64,nproc=512,fsize=1M -- "$P" read "$work/ro/data.txt" ro-data
check shell-pipeline             0 -- /bin/sh -c "cd '$T' && cat data.txt | grep -q task-data && echo ok > made.txt && test -s made.txt"
# /proc/mounts is a relative symlink (self/mounts): a path, followed; a
# pipe's /proc/self/fd/N names no file: refused.
check proc-relative-link-ok      0 -- /bin/sh -c "head -c 1 /proc/mounts > /dev/null"
check proc-pipe-fd-refused       0 -- /bin/sh -c "true | '$P' err open-r /proc/self/fd/0 EACCES"
# Names in the task dir are never cached: a file replaced by a symlink out
# of the allowed tree is seen as such on the next open.
check task-names-not-cached      0 -- /bin/sh -c "cd '$T' && echo a > swap && cat swap > /dev/null && rm swap && ! cat swap 2>/dev/null && ln -s ../secret/key swap && '$P' err open-r swap EACCES"
# System files in fixed directories, opened again and again (name cache).
check fixed-names-repeat         0 -- /bin/sh -c "for i in 1 2 3 4 5; do head -c 1 /etc/passwd > /dev/null && ! cat /etc/no-such-file 2>/dev/null || exit 1; done"

# sysfs names are cached like the root file system's (and cgroup2's, in
# the guest: tests/cases/scout-proc-self): repeated, an allowed file still
# reads, a missing one is ENOENT, and a path no rule allows is refused.
if [ -r /sys/devices/system/cpu/online ] && [ -e /sys/kernel/uevent_seqnum ]; then
	checkd sys-names-repeat 0 -- /bin/sh -c "for i in 1 2 3; do '$P' ok open-r /sys/devices/system/cpu/online && '$P' err open-r /sys/devices/system/cpu/no-such-file ENOENT && '$P' err open-r /sys/kernel/uevent_seqnum EACCES || exit 1; done"
else
	echo "SKIP sys-names-repeat: no sysfs here"
fi

# ---- /proc/self under the default policy ------------------------------
# pagemap, stack, syscall, wchan and mem are denied, under every name the
# task has for them: its pid, its tids, /proc/thread-self, another of its
# threads (%o), /proc/self/root/..., its cwd, a symlink in the task dir.
# The rest of /proc/self stays readable under those names.
ln -s /proc/self/pagemap "$T/pagemap-link"
checkd proc-self-pagemap-denied     0 -- "$P" err open-r /proc/self/pagemap EACCES
checkd proc-self-stack-denied       0 -- "$P" err open-r /proc/self/stack EACCES
checkd proc-self-syscall-denied     0 -- "$P" err open-r /proc/self/syscall EACCES
checkd proc-self-wchan-denied       0 -- "$P" err open-r /proc/self/wchan EACCES
checkd proc-self-mem-read-denied    0 -- "$P" err open-r /proc/self/mem EACCES
checkd proc-self-mem-write-denied   0 -- "$P" err open-w /proc/self/mem EACCES
checkd proc-pid-pagemap-denied      0 -- "$P" err open-r /proc/%p/pagemap EACCES
checkd proc-pid-task-stack-denied   0 -- "$P" err open-r /proc/%p/task/%t/stack EACCES
checkd proc-thread-self-syscall-denied 0 -- "$P" err open-r /proc/thread-self/syscall EACCES
checkd proc-self-task-thread-wchan-denied 0 -- "$P" err open-r /proc/self/task/%o/wchan EACCES
checkd proc-thread-tid-mem-denied   0 -- "$P" err open-r /proc/%o/mem EACCES
checkd proc-tid-pagemap-denied      0 -- "$P" err open-r /proc/%t/pagemap EACCES
checkd proc-root-alias-denied       0 -- "$P" err open-r /proc/self/root/proc/self/pagemap EACCES
checkd proc-cwd-alias-denied        0 -- /bin/sh -c "cd /proc/self && exec '$P' err open-r stack EACCES"
checkd proc-task-link-denied        0 -- "$P" err open-r "$T/pagemap-link" EACCES
checkd proc-self-status-allowed     0 -- "$P" ok open-r /proc/self/status
checkd proc-thread-status-allowed   0 -- "$P" ok open-r /proc/self/task/%o/status
checkd proc-thread-tid-status-allowed 0 -- "$P" ok open-r /proc/%o/status
checkd proc-thread-self-maps-allowed 0 -- "$P" ok open-r /proc/thread-self/maps
checkd proc-other-process-denied    0 -- "$P" err open-r /proc/1/status EACCES

# The audit names each refusal by the policy's name for it.
cd "$work"
set +e
# shellcheck disable=SC2086
"$carrier" --task "$T" $ids --audit "$work/proc-audit.json" -- /bin/sh -c \
	"'$P' err open-r /proc/self/pagemap EACCES && '$P' err open-r /proc/thread-self/stack EACCES && '$P' err open-r /proc/%p/task/%o/syscall EACCES && '$P' err open-r /proc/%o/wchan EACCES && '$P' err open-w /proc/%p/mem EACCES" >"$log" 2>&1
got=$?
set -e
if [ "$got" -eq 0 ] && audit_has "$work/proc-audit.json" /proc/self/pagemap read deny &&
	audit_has "$work/proc-audit.json" /proc/self/stack read deny &&
	audit_has "$work/proc-audit.json" /proc/self/syscall read deny &&
	audit_has "$work/proc-audit.json" /proc/self/wchan read deny &&
	audit_has "$work/proc-audit.json" /proc/self/mem write deny; then
	pass proc-self-audit-lists-denied
else
	fail proc-self-audit-lists-denied "status $got; $(cat "$log" "$work/proc-audit.json" 2>&1 | head -60)"
fi

# ---- the supervisor opens with the task's credentials ------------------
# Under a policy that allows all of /proc/self ($work/policy), a file the
# supervisor opens for the task must carry the task's credentials, not the
# Carrier's (root, with CAP_SYS_ADMIN): the task then sees what it sees
# natively as 65534: PFN 0 in pagemap, EACCES reading its kernel stack.
# Meaningful only where root itself sees the real thing.
if [ -z "$ids" ]; then
	echo "SKIP creds-*: not root, so the Carrier holds no privilege to leak"
elif ! "$P" pfn nonzero >/dev/null 2>&1; then
	echo "SKIP creds-pagemap-pfn-hidden: root reads PFN 0 on this host (no CAP_SYS_ADMIN?)"
else
	check creds-pagemap-pfn-hidden   0 -- "$P" pfn zero
	if "$P" readerr /proc/self/stack EACCES >/dev/null 2>&1; then
		echo "SKIP creds-stack-eacces: root cannot read its stack on this host"
	else
		check creds-stack-eacces     0 -- "$P" readerr /proc/self/stack EACCES
	fi
fi

# ---- exec rules bind the interpreters the kernel loads ----------------
# $work/secret/sh is a copy of /bin/sh where exec is denied. Each way of
# having the kernel load it must be refused with EACCES: a #! line
# (absolute, relative to the cwd, through a symlink, at the end of a chain
# of scripts, in a script the task cannot read), and PT_INTERP of an ELF
# (by path, through execveat of an fd, behind a script). Without Scout
# the denied program runs (checked first: the files are real).
cp "$(readlink -f /bin/sh)" "$work/secret/sh"
printf '#!%s\necho ESCAPED\nexit 3\n' "$work/secret/sh" > "$T/denied-interp.sh"
printf '#!secret/sh\necho ESCAPED\nexit 3\n' > "$T/relative-interp.sh"
ln -s "$work/secret/sh" "$T/interp-link"
printf '#!%s\nexit 3\n' "$T/interp-link" > "$T/linked-interp.sh"
printf '#!%s\nexit 3\n' "$T/denied-interp.sh" > "$T/chain.sh"
printf '#!%s\nexit 3\n' "$work/secret/sh" > "$T/unreadable.sh"
printf '#!/bin/sh\nexit 7\n' > "$T/ok.sh"
# The kernel's #! rules: no newline before the end of a short file; blanks
# before the name and an argument after it.
printf '#!%s' "$work/secret/sh" > "$T/no-newline.sh"
printf '#! \t %s -e \t\nexit 3\n' "$work/secret/sh" > "$T/blanks.sh"
# A chain of 5 #! rewrites runs; a 6th is ELOOP, as in the kernel.
printf '#!/bin/sh\nexit 0\n' > "$T/c4"
for i in 3 2 1 0; do printf '#!%s\n' "$T/c$((i + 1))" > "$T/c$i"; done
printf '#!%s\n' "$T/c0" > "$T/c-deep"
chmod 755 "$T"/*.sh "$T"/c[0-4] "$T/c-deep"
chmod 111 "$T/unreadable.sh"
if [ -n "$ids" ]; then
	chown 65534:65534 "$T"/*.sh "$T"/c[0-4] "$T/c-deep"
fi
set +e
( cd "$work" && "$T/relative-interp.sh" ) >/dev/null 2>&1
native=$?
set -e
if [ "$native" -eq 3 ]; then
	pass script-denied-interp-runs-natively
else
	fail script-denied-interp-runs-natively "status $native, want 3"
fi
check script-interp-denied           0 -- "$P" err exec "$T/denied-interp.sh" EACCES
check script-relative-interp-denied  0 -- "$P" err exec "$T/relative-interp.sh" EACCES
check script-linked-interp-denied    0 -- "$P" err exec "$T/linked-interp.sh" EACCES
check script-chain-interp-denied     0 -- "$P" err exec "$T/chain.sh" EACCES
check script-no-newline-denied       0 -- "$P" err exec "$T/no-newline.sh" EACCES
check script-blanks-arg-denied       0 -- "$P" err exec "$T/blanks.sh" EACCES
check script-unreadable-refused      0 -- "$P" err exec "$T/unreadable.sh" EACCES
check script-allowed-interp-runs     7 -- "$T/ok.sh"
check script-chain-5-runs            0 -- "$T/c0"
check script-chain-6-eloop           0 -- "$P" err exec "$T/c-deep" ELOOP
if command -v gcc >/dev/null; then
	ld_so=$(readlink -f /lib64/ld-linux-x86-64.so.2)
	cp "$ld_so" "$work/secret/ld.so"
	cp "$ld_so" "$work/bin/ld.so"
	printf 'int main(void) { return 5; }\n' > "$work/five.c"
	gcc -o "$T/elf-denied-interp" "$work/five.c" -Wl,--dynamic-linker="$work/secret/ld.so"
	gcc -o "$T/elf-allowed-interp" "$work/five.c" -Wl,--dynamic-linker="$work/bin/ld.so"
	printf '#!%s\n' "$T/elf-denied-interp" > "$T/elf-behind-script.sh"
	chmod 755 "$T/elf-behind-script.sh"
	set +e
	"$T/elf-denied-interp"
	native=$?
	set -e
	if [ "$native" -eq 5 ]; then
		pass elf-denied-interp-runs-natively
	else
		fail elf-denied-interp-runs-natively "status $native, want 5"
	fi
	check elf-allowed-interp-runs    5 -- "$T/elf-allowed-interp"
	check elf-pt-interp-denied       0 -- "$P" err exec "$T/elf-denied-interp" EACCES
	check elf-pt-interp-fd-denied    0 -- "$P" err fexec "$T/elf-denied-interp" EACCES
	check elf-behind-script-denied   0 -- "$P" err exec "$T/elf-behind-script.sh" EACCES
else
	echo "SKIP elf-*: no gcc to build an ELF with its own PT_INTERP"
fi
cd "$work"
set +e
# shellcheck disable=SC2086
"$carrier" --policy "$work/policy" --task "$T" $ids --audit "$work/exec-audit.json" -- "$P" err exec "$T/denied-interp.sh" EACCES >"$log" 2>&1
got=$?
set -e
if [ "$got" -eq 0 ] && audit_has "$work/exec-audit.json" "$work/secret/sh" exec deny &&
	audit_has "$work/exec-audit.json" "$T/denied-interp.sh" exec allow; then
	pass exec-interp-audited
else
	fail exec-interp-audited "status $got; $(cat "$log" "$work/exec-audit.json" 2>&1 | head -60)"
fi

# The leader exits, leaving a sleeping child: the Carrier must kill it.
check orphan-leader-exits        0 -- "$P" orphan "$T/orphan.pid"
if [ -s "$T/orphan.pid" ] && ! kill -0 "$(cat "$T/orphan.pid")" 2>/dev/null; then
	pass orphan-killed
else
	fail orphan-killed "the orphan outlived the Carrier"
fi

# A parallel make with gcc, as exercises do.
if command -v make >/dev/null && command -v gcc >/dev/null; then
	mkdir -p "$T/mk"
	for i in 1 2 3 4; do
		printf 'int f%s(void) { return %s; }\n' "$i" "$i" > "$T/mk/f$i.c"
	done
	printf 'int f1(void);int f2(void);int f3(void);int f4(void);\nint main(void){return f1()+f2()+f3()+f4()-10;}\n' > "$T/mk/main.c"
	printf 'prog: main.o f1.o f2.o f3.o f4.o\n\tgcc -o $@ $^\n%%.o: %%.c\n\tgcc -O1 -c -o $@ $<\n' > "$T/mk/Makefile"
	[ "$(id -u)" -eq 0 ] && chown -R 65534:65534 "$T/mk"
	check make-j4-gcc            0 -- /bin/sh -c "cd '$T/mk' && make -s -j4 && ./prog"
else
	echo "SKIP make-j4-gcc: make or gcc missing"
fi

# A real JVM (threads, AF_UNIX, /proc, many libraries).
if command -v java >/dev/null && [ -d /usr/lib/jvm ]; then
	printf 'public class H { public static void main(String[] a) throws Exception {\n  Thread t = new Thread(() -> System.out.println("thread"));\n  t.start(); t.join();\n  System.out.println(new String(java.nio.file.Files.readAllBytes(java.nio.file.Paths.get("data.txt"))));\n}}\n' > "$T/H.java"
	[ "$(id -u)" -eq 0 ] && chown 65534:65534 "$T/H.java"
	sed -i "1a allow ro /usr/lib/jvm" "$work/policy"
	check java-threads           0 -- /bin/sh -c "cd '$T' && java -Xshare:off H.java > java.out 2>&1; s=\$?; cat java.out; [ \$s -eq 0 ] && grep -q thread java.out && grep -q task-data java.out"
else
	echo "SKIP java-threads: no java on this host"
fi

# The audit lists the refused attempts.
cd "$work"
set +e
# shellcheck disable=SC2086
"$carrier" --policy "$work/policy" --task "$T" $ids --audit "$work/audit.json" -- /bin/sh -c \
	"'$P' call mount; '$P' call socket_inet; '$P' err open-r '$work/secret/key' EACCES" >"$log" 2>&1
set -e
if grep -q '"syscall": "mount"' "$work/audit.json" && grep -q '"syscall": "socket"' "$work/audit.json" &&
	grep -q "\"path\": \"$work/secret/key\"" "$work/audit.json" && grep -q '"verdict": "deny"' "$work/audit.json"; then
	pass audit-lists-denied
else
	fail audit-lists-denied "$(cat "$work/audit.json" "$log" 2>&1 | head -40)"
fi

# A held start (--hold-fd, as tmc-init starts the Carrier): nothing of the
# task runs before a byte comes on the fd; EOF cancels with 125 and runs
# nothing; the task never holds the fd.
hold_run() {
	cd "$work"
	# shellcheck disable=SC2086
	timeout -k 5 60 "$carrier" --policy "$work/policy" --task "$T" $ids --hold-fd 5 -- "$@"
}
rm -f "$T/held-ran"
set +e
hold_run /bin/sh -c "touch '$T/held-ran'" 5</dev/null >"$log" 2>&1
got=$?
set -e
if [ "$got" -eq 125 ] && [ ! -e "$T/held-ran" ]; then
	pass hold-eof-cancels
else
	fail hold-eof-cancels "status $got, want 125 and nothing run; $(head -20 "$log")"
fi
rm -f "$work/hold.fifo" "$T/held-ran"
mkfifo "$work/hold.fifo"
exec 6<>"$work/hold.fifo"
set +e
hold_run /bin/sh -c "[ ! -e /proc/self/fd/5 ] && touch '$T/held-ran'" 5<&6 >"$log" 2>&1 &
held=$!
sleep 1
early=no
[ -e "$T/held-ran" ] && early=yes
printf g >&6
wait "$held"
got=$?
set -e
exec 6>&-
if [ "$early" = no ] && [ "$got" -eq 0 ] && [ -e "$T/held-ran" ]; then
	pass hold-runs-on-release
else
	fail hold-runs-on-release "ran before the release: $early; status $got, want 0 and the fd closed in the task; $(head -20 "$log")"
fi

# The channel: a pty stands in for the serial line; the Command Center
# answers from the host's poll loop and keeps the audit.
if [ -x "$progs/channel_host" ]; then
	set +e
	# shellcheck disable=SC2086
	"$progs/channel_host" "$carrier" "$work/policy" "$T" "$work/chan.json" -- $ids -- /bin/sh -c \
		"'$P' read '$work/ro/data.txt' ro-data && '$P' read '$work/ro/data.txt' ro-data && '$P' read '$work/ro/sub/data.txt' sub-data && '$P' err open-r '$work/secret/key' EACCES && '$P' call mount" >"$log" 2>&1
	got=$?
	set -e
	if [ "$got" -eq 0 ] && grep -q '"syscall": "mount"' "$work/chan.json" &&
		grep -q "\"path\": \"$work/secret/key\"" "$work/chan.json" && ! grep -q channel_error "$work/chan.json"; then
		pass channel-end-to-end
	else
		fail channel-end-to-end "status $got; $(cat "$log" "$work/chan.json" 2>&1 | head -40)"
	fi
	# ro/sub/data.txt was answered from the scope the host gave for
	# ro/data.txt: the audit must still list it (COUNT at the end).
	if grep -q "\"path\": \"$work/ro/sub/data.txt\"" "$work/chan.json"; then
		pass channel-scope-hits-audited
	else
		fail channel-scope-hits-audited "$(head -40 "$work/chan.json" 2>&1)"
	fi
	set +e
	# shellcheck disable=SC2086
	"$progs/channel_host" --break "$carrier" "$work/policy" "$T" "$work/chan2.json" -- $ids -- "$P" read "$work/ro/data.txt" ro-data >"$log" 2>&1
	got=$?
	set -e
	if [ "$got" -eq 126 ] && grep -q 'Permission denied' "$log"; then
		pass channel-broken-fails-closed
	else
		fail channel-broken-fails-closed "status $got, want 126 (exec refused); $(head -20 "$log")"
	fi
else
	fail channel-end-to-end "channel_host not built"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
