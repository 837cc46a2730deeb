#!/bin/sh
# bench/bench.sh: the guest figures of `make bench` (DESIGN section 7,
# issues 2 and 4), measured through the real sandbox-run on the real images.
#
#   bench/bench.sh [SECTION...]        default: boot initrd hello proc java
#                                      jvm maven fpu scout memory pin huge
#                                      faultaround anonaround clock prewarm jail
#                                      preboot previous
#   bench/bench.sh variant NAME KERNEL compare a kernel build with ours
#   bench/bench.sh variant NAME -- SANDBOX-RUN-OPTION...
#                                      compare runs with those options (e.g.
#                                      --initrd X, --rootfs Y) with ours
#
# Sections:
#   boot     boot to `tmc-init: run` (time.boot) and a trivial task's total,
#            our build/linux.uml vs the stock Debian linux.uml (6.1, with its
#            squashfs/overlay modules loaded by /init from a bench initrd)
#   initrd   boot with build/initrd.img (uncompressed) vs the same cpio
#            gzipped (the previous choice): what an inflate costs every boot
#   hello    tests/exercises/c-hello end to end in the guest (with and
#            without Scout) vs its tmc-run natively in a chroot of the rootfs,
#            wall time and the CPU time of the whole process tree
#   proc     fork+exit and fork+exec of /bin/true in the guest (with and
#            without Scout) vs the chroot; a trapped open (cached decision),
#            an untrapped getppid and uncached creat/open, with/without Scout
#   scout    gcc compile of hello.c in the guest with and without Scout
#            (first compile of a boot = cold page cache, then warm ones),
#            plus the UML tree's CPU time per boot
#   gcc      gcc of hello.c with the rootfs's defaults (rootfs/c/setup.sh:
#            /usr/bin/ld run by gcc itself, no empty /usr/local/include) vs
#            the previous choices: the link through collect2
#            (-fuse-linker-plugin, gcc's own way) and an empty fixed
#            include dir searched first (-isystem /usr/local/bin), in one
#            pre-booted guest, interleaved
#   memory   RSS/Pss of the UML process tree while c-hello runs, and the
#            cgroup peak sandbox-run reports, vs mem=
#   java     tests/exercises/java-junit (javac + JUnitCore) in the guest vs
#            its tmc-run in the chroot
#   pin      c-hello and java-junit with the UML tree pinned to one host
#            CPU (sandbox-run --cpu N, the default) vs not (--cpu none)
#   jail     c-hello and java-junit with the UML process's jail and host
#            seccomp filter (issue 11: build/sandbox-run) vs without them
#            (build/tests/sandbox-run-test --no-jail, the test-hooks build:
#            namespaces, uid drop, cgroup and rlimits stay): total, run
#            and the UML tree's CPU time
#   faultaround  the guest's fault-around size (kernel/patches/0003): ours
#            (sandbox/uml.c's fault_around_bytes=262144) vs the kernel's
#            default 64 KiB (the previous choice) vs 2 MiB, through the
#            test-hooks build (--kernel-arg): c-hello's run, java-junit's
#            total, the trivial task's boot
#   anonaround  anonymous fault-around (kernel/patches/0004): ours
#            (sandbox/uml.c's anon_fault_around=16) vs off (1, the
#            previous choice) vs 32, through the test-hooks build: the
#            first write per fresh anonymous page (bench/anontouch),
#            c-hello's run, java-junit's total, the host memory peak
#   clock    the guest's clock in the vDSO (kernel/patches/0005: a TSC
#            clocksource and a [vvar] page): ours (uml_tsc on) vs off (the
#            syscall per read, the previous choice), through the
#            test-hooks build, pre-booted and idle CLOCK_IDLE_MS (default
#            1500: the TSC is calibrated ~0.2 s after boot): one
#            clock_gettime (bench/sysloop), c-hello's run, java-junit's
#            total, and java-junit's total in a fresh guest (no pre-boot:
#            the first ~0.2 s still make the syscall)
#   prewarm  a pre-booted guest that warmed its page cache while idle
#            (sandbox/guest/prewarm.c, the default) vs one that did not
#            (tmc.prewarm=0), both left idle PREWARM_IDLE_MS (default
#            5000) before the delivery: c-hello's run, java-junit's total,
#            the host memory peak
#   huge     guest RAM tmpfs on transparent huge pages (sandbox-run
#            --huge-pages on, the default where the host allows) vs 4 KiB
#            pages (off): boot, a trivial task, c-hello, java-junit, and
#            the host memory peak (the task cgroup's) of each
#   preboot  a trivial task's start with a pre-booted guest vs a fresh
#            boot: through sandbox-run (--preboot: delivery to tmc-run
#            start, vs launch to tmc-run start), and through two sandboxd
#            (--preboot on/off): POST to result (wait=1) and POST to
#            tmc-run start (time.intake + time.boot); a third, pre-boot on
#            with --spare-unpack off, for the tmc-unpack spares
#   jvm      the guest JDK's choices, timed inside the guest: java-junit with
#            the rootfs's CDS archive and launchers (ours), with the JDK's
#            own launchers (perf data on: junit-perfdata), with HotSpot's
#            container support on (junit-container), with Debian's
#            stock archive (dumped
#            in the guest from the JDK's class list, untimed), with CDS off,
#            C1 only, G1; bench/java-crunch (a CPU-heavy JUnit test that
#            needs C2) with the defaults vs C1 only (JVM_VARIANTS: a subset)
#   maven    `mvn -q test` of rootfs/java/sample (offline, the rootfs's
#            Maven settings) in the guest vs the chroot; Maven's JVM with
#            /etc/mavenrc's C1 vs tiered, the stock CDS archive; the task
#            cgroup's memory peak in the guest (MAVEN_VARIANTS: a subset
#            that keeps maven-ours)
#   fpu      lazy FPU state (kernel/patches/0002) on vs off: fork+exec,
#            a getppid loop, c-hello's run and java-junit's total with
#            build/linux.uml vs FPU_OFF_KERNEL (default
#            build/bench/linux-eager-fpu.uml, bench/variants/eager-fpu.config)
#   previous the medians of this run against the previous choice's recorded
#            figures (bench/previous.txt: the 6.12 kernel), as ratios
#
# Every run starts with the machine (CPU model, avx512f/amx_tile, the host's
# XSAVE size from cpuid leaf 0xd), the kernel's version and what the guest
# reports (userspace mode, the FPU size UML moves per process).
#
# Every figure is printed as one line starting with "bench: " followed by
# an id, then `median M min A max B UNIT (n=N)`, `ratio R`, or a budget
# check `budget OP LIMIT ok|MISSED`. Runs of the things compared are
# interleaved (A B A B ...) so that load from other users of the machine
# hits both alike; the figures are still noisy on a shared 2-core box,
# which is why only medians are compared. A budget MISSED does not fail
# the bench; a run that does not finish does (exit 1).
#
# Environment: B (build dir, default build), RUNS (default 9, at least 5),
# STOCK_KERNEL (default /usr/bin/linux.uml), MEM (guest mem=, default 256M),
# FPU_OFF_KERNEL (the fpu section's lazy-FPU-off kernel).
set -eu

B=${B:-build}
RUNS=${RUNS:-9}
STOCK_KERNEL=${STOCK_KERNEL:-/usr/bin/linux.uml}
MEM=${MEM:-256M}
SBX=$B/sandbox-run
BIN=$B/bench/bin
DATA=$B/bench/data
TASKS=$B/bench/tasks
CHROOT=$B/bench/chroot
HELLO=tests/exercises/c-hello
JAVA=tests/exercises/java-junit
CRUNCH=bench/java-crunch
MAVEN_SAMPLE=rootfs/java/sample

die() {
	echo "bench: FAILED: $*" >&2
	exit 1
}

[ "$RUNS" -ge 5 ] 2>/dev/null || die "RUNS=$RUNS: at least 5 runs are needed for a median"
for f in "$SBX" "$B/linux.uml" "$B/initrd.img" "$B/rootfs.squashfs" "$BIN/timeit" \
    "$BIN/forkexec" "$BIN/sysloop" "$BIN/bench_open" "$BIN/memwatch" "$BIN/hostinfo" \
    "$BIN/anontouch"; do
	[ -e "$f" ] || die "$f missing (run through make: make bench)"
done
mkdir -p "$DATA"

# --- Statistics ---------------------------------------------------------------

# Empties the data series named.
series_reset() {
	for s in "$@"; do
		: > "$DATA/$s"
	done
}

# Appends a value to a series.
series_add() {
	[ -n "$2" ] || die "no value for $1"
	echo "$2" >> "$DATA/$1"
}

# median of a series (middle value, or the mean of the two middle ones).
median() {
	sort -g "$DATA/$1" | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit 1
		if (NR % 2) printf "%.6g\n", v[(NR + 1) / 2]
		else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# report SERIES UNIT [SCALE]: "bench: SERIES median M min A max B UNIT (n=N)";
# the values are multiplied by SCALE (e.g. 1000 for s -> ms) first.
report() {
	scale=${3:-1}
	sort -g "$DATA/$1" | awk -v id="$1" -v unit="$2" -v k="$scale" '{ v[NR] = $1 * k } END {
		if (NR == 0) { print "bench: " id " no data"; exit 1 }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "bench: %-32s median %9.3f  min %9.3f  max %9.3f %s (n=%d)\n", id, m, v[1], v[NR], unit, NR }'
}

# ratio ID SERIES-A SERIES-B: median(A) / median(B).
ratio() {
	a=$(median "$2") b=$(median "$3")
	awk -v id="$1" -v a="$a" -v b="$b" -v sa="$2" -v sb="$3" 'BEGIN {
		if (b == 0) { printf "bench: %-32s ratio n/a (%s median is 0)\n", id, sb; exit }
		printf "bench: %-32s ratio %8.2fx (%s / %s, medians)\n", id, a / b, sa, sb }'
}

# ab ID A B UNIT [SCALE]: both series and the ratio of their medians.
ab() {
	report "$2" "$4" "${5:-1}"
	report "$3" "$4" "${5:-1}"
	ratio "$1" "$2" "$3"
}

# budget ID VALUE LIMIT WHAT: VALUE <= LIMIT?
budget() {
	awk -v id="$1" -v v="$2" -v lim="$3" -v what="$4" 'BEGIN {
		printf "bench: %-32s budget %s <= %s: %s (is %.3f)\n", id, what, lim, (v <= lim) ? "ok" : "MISSED", v }'
}

# --- Running the guest --------------------------------------------------------

# guest OUT.json [sandbox-run options] TASK: one run that must finish.
# OUT.json.time gets "WALL CPU" of the sandbox-run command (CPU: the whole
# UML process tree, user + system).
guest() {
	out=$1
	shift
	if ! "$BIN/timeit" -u -o "$out.time" -- "$SBX" --compact --memory "$MEM" "$@" > "$out" 2> "$out.err"; then
		cat "$out.err" >&2
		die "sandbox-run $*"
	fi
	status=$(jq -r .status "$out")
	if [ "$status" != finished ]; then
		jq -r '"status \(.status) reason \(.reason // "-") exit \(.exit_code // "-")\nstderr: \(.stderr)\nvm_log:\n\(.vm_log)"' "$out" | tail -n 30 >&2
		die "sandbox-run $*: status $status"
	fi
}

# guest_java LABEL [sandbox-run options]: one run of $JAVA into
# $DATA/run.json; stops the bench if its tests did not pass.
guest_java() {
	gj_label=$1
	shift
	guest "$DATA/run.json" "$@" --timeout 150 "$JAVA"
	jq -r .test_output "$DATA/run.json" | grep -q 'OK (1 test)' || die "$JAVA: tests did not pass ($gj_label)"
}

# hello_java KEY [sandbox-run options]: one run each of $HELLO and $JAVA
# with those options, for the A/B sections; adds KEY.hello (c-hello's
# time.run), KEY.java (java-junit's time.total) and KEY.mem (java-junit's
# memory peak).
hello_java() {
	hj_key=$1
	shift
	guest "$DATA/run.json" "$@" "$HELLO"
	series_add "$hj_key.hello" "$(field "$DATA/run.json" .time.run)"
	guest_java "$hj_key" "$@"
	series_add "$hj_key.java" "$(field "$DATA/run.json" .time.total)"
	series_add "$hj_key.mem" "$(field "$DATA/run.json" .memory)"
}

# wall OUT.json, cpu OUT.json: of the last guest run into OUT.json.
wall() {
	cut -d' ' -f1 "$1.time"
}
cpu() {
	cut -d' ' -f2 "$1.time"
}

# field OUT.json JQ-EXPR
field() {
	jq -r "$2 // empty" "$1"
}

# The host time of a console marker in the run's vm log.
marker() {
	jq -r .vm_log "$1" | sed -n "s/^\[\([0-9.]*\)\] $2\$/\1/p" | head -n 1
}

# The value of KEY in the task's output.txt ("KEY VALUE" lines).
output_value() {
	jq -r .output "$1" | sed -n "s/^$2 //p" | head -n 1
}

# --- The bench tasks (build/bench/tasks) --------------------------------------

make_tasks() {
	rm -rf "$TASKS"
	mkdir -p "$TASKS/trivial" "$TASKS/compile" "$TASKS/micro"

	printf '#!/bin/sh\nexit 0\n' > "$TASKS/trivial/tmc-run"

	mkdir -p "$TASKS/cpuinfo"
	printf '#!/bin/sh\ncat /proc/cpuinfo > output.txt\n' > "$TASKS/cpuinfo/tmc-run"

	# Three compiles in one boot: the first meets a cold guest page cache
	# (cc1 and friends decompressed from the squashfs), the rest are warm.
	cp "$HELLO/hello.c" "$BIN/timeit" "$TASKS/compile/"
	cat > "$TASKS/compile/tmc-run" <<-'EOF'
	#!/bin/sh
	exec ./timeit -n 3 -o output.txt -- gcc -Wall -O2 -o hello hello.c
	EOF

	# gcc: RUNS rounds in one boot, interleaved, after one untimed compile
	# that warms the page cache: the rootfs's defaults (rootfs/c/setup.sh);
	# gcc's own link through collect2 (-fuse-linker-plugin); an empty
	# fixed directory searched before the system ones (-isystem of the
	# empty /usr/local/bin), as the removed /usr/local/include was.
	mkdir -p "$TASKS/gcc"
	cp "$HELLO/hello.c" "$BIN/timeit" "$TASKS/gcc/"
	cat > "$TASKS/gcc/tmc-run" <<-EOF
	#!/bin/sh
	set -e
	gcc -Wall -O2 -o hello hello.c
	: > output.txt
	for i in \$(seq $RUNS); do
		./timeit -o t -- gcc -Wall -O2 -o hello hello.c
		echo "ours \$(cat t)" >> output.txt
		./timeit -o t -- gcc -Wall -O2 -fuse-linker-plugin -o hello hello.c
		echo "collect2 \$(cat t)" >> output.txt
		./timeit -o t -- gcc -Wall -O2 -isystem /usr/local/bin -o hello hello.c
		echo "emptyinc \$(cat t)" >> output.txt
	done
	EOF

	cp "$BIN/forkexec" "$BIN/bench_open" "$BIN/sysloop" "$BIN/anontouch" "$TASKS/micro/"
	cat > "$TASKS/micro/tmc-run" <<-'EOF'
	#!/bin/sh
	set -e
	./forkexec 100 > output.txt
	echo "open_us $(./bench_open /etc/passwd 2000)" >> output.txt
	./sysloop 200 /tmp >> output.txt
	./anontouch 8 >> output.txt
	EOF
	chmod 0755 "$TASKS"/*/tmc-run

	# The JVM variants: an exercise's own tmc-run as ./exercise-run, timed
	# inside the guest after an untimed preparation. JAVA_TOOL_OPTIONS is
	# fine here (the bench only; its "Picked up" line lands in the output).
	stock_dump='java -Xshare:dump -XX:SharedArchiveFile=/tmp/stock.jsa > /tmp/dump.out 2>&1'
	jvm_task "junit-ours" "$JAVA" "" ""
	jvm_task "junit-stock" "$JAVA" "$stock_dump" "-XX:SharedArchiveFile=/tmp/stock.jsa"
	jvm_task "junit-off" "$JAVA" "" "-Xshare:off"
	jvm_task "junit-c1" "$JAVA" "" "-XX:TieredStopAtLevel=1"
	# The JDK's launchers without the rootfs's wrappers (rootfs/java/setup.sh,
	# step 4: -XX:-UsePerfData), first on the PATH: perf data on, as before.
	real_path='mkdir -p /tmp/real; for t in java javac; do ln -s "$(readlink -f /usr/bin/$t).real" /tmp/real/$t; done; export PATH=/tmp/real:$PATH'
	jvm_task "junit-perfdata" "$JAVA" "$real_path" ""
	# javac with the wrapper's perf-data default but tiered, as java is.
	tiered_javac='mkdir -p /tmp/real; printf "#!/bin/sh\nexec %s -J-XX:-UsePerfData \"\$@\"\n" "$(readlink -f /usr/bin/javac).real" > /tmp/real/javac; chmod +x /tmp/real/javac; export PATH=/tmp/real:$PATH'
	jvm_task "junit-javac-tiered" "$JAVA" "$tiered_javac" ""
	# The wrappers as in round 7: HotSpot's container support on (it reads
	# the task cgroup's memory.current, a trapped open each time).
	container_on='mkdir -p /tmp/real; printf "#!/bin/sh\nexec %s -XX:-UsePerfData \"\$@\"\n" "$(readlink -f /usr/bin/java).real" > /tmp/real/java; printf "#!/bin/sh\nexec %s -J-XX:-UsePerfData -J-XX:TieredStopAtLevel=1 \"\$@\"\n" "$(readlink -f /usr/bin/javac).real" > /tmp/real/javac; chmod +x /tmp/real/java /tmp/real/javac; export PATH=/tmp/real:$PATH'
	jvm_task "junit-container" "$JAVA" "$container_on" ""
	jvm_task "junit-g1" "$JAVA" "" "-XX:+UseG1GC"
	jvm_task "crunch-ours" "$CRUNCH" "" ""
	jvm_task "crunch-c1" "$CRUNCH" "" "-XX:TieredStopAtLevel=1"
	mvn_run='mvn -q test > mvn.out 2>&1 || { cat mvn.out >&2; exit 1; }'
	maven_task "maven-ours" "" "" "$mvn_run"
	maven_task "maven-tiered" "" "" "MAVEN_OPTS=-XX:TieredStopAtLevel=4 $mvn_run"
	maven_task "maven-stock" "$stock_dump" "-XX:SharedArchiveFile=/tmp/stock.jsa" "$mvn_run"
}

# jvm_task NAME EXERCISE PREP JAVA_TOOL_OPTIONS
jvm_task() {
	mkdir -p "$TASKS/$1"
	cp -r "$2/." "$TASKS/$1/"
	mv "$TASKS/$1/tmc-run" "$TASKS/$1/exercise-run"
	cp "$BIN/timeit" "$TASKS/$1/"
	cat > "$TASKS/$1/tmc-run" <<-EOF
	#!/bin/sh
	set -e
	$3
	${4:+export JAVA_TOOL_OPTIONS="$4"}
	exec ./timeit -o output.txt -- ./exercise-run
	EOF
}

# maven_task NAME PREP JAVA_TOOL_OPTIONS MVN-COMMAND: the sample project,
# then the task cgroup's memory peak (memory.peak: what the task's
# processes and its files on the ramdisk used at most) and its cap.
maven_task() {
	mkdir -p "$TASKS/$1"
	cp -r "$MAVEN_SAMPLE/." "$TASKS/$1/"
	cp "$BIN/timeit" "$TASKS/$1/"
	cat > "$TASKS/$1/tmc-run" <<-EOF
	#!/bin/sh
	set -e
	$2
	${3:+export JAVA_TOOL_OPTIONS="$3"}
	./timeit -o time.txt -- sh -c '$4'
	grep -q 'Tests run: 5, Failures: 0, Errors: 0' target/surefire-reports/sample.InventoryTest.txt
	echo "mvn_s \$(cat time.txt)" > output.txt
	echo "peak_bytes \$(cat /sys/fs/cgroup/task/memory.peak)" >> output.txt
	echo "max_bytes \$(cat /sys/fs/cgroup/task/memory.max)" >> output.txt
	EOF
}

# The chroot of the rootfs (unpacked by make) gets the bench programs and a
# copy of the hello exercise.
prepare_chroot() {
	[ -f "$CHROOT/.stamp" ] || die "$CHROOT missing (make $CHROOT/.stamp)"
	# A chroot unpacked from an older rootfs would time other programs (it
	# once kept the JDK's launchers after the rootfs replaced them).
	[ -z "$(find -L "$B/rootfs.squashfs" -newer "$CHROOT/.stamp")" ] ||
	    die "$CHROOT is older than $B/rootfs.squashfs (make $CHROOT/.stamp)"
	rm -rf "$CHROOT/bench"
	mkdir -p "$CHROOT/bench"
	cp "$BIN/timeit" "$BIN/forkexec" "$BIN/bench_open" "$BIN/sysloop" "$CHROOT/bench/"
	cp -r "$HELLO" "$CHROOT/bench/c-hello"
	cp -r "$JAVA" "$CHROOT/bench/java-junit"
	cp -r "$MAVEN_SAMPLE" "$CHROOT/bench/maven-sample"
	mkdir -p "$CHROOT/bench/out"
	chown -R 1000:1000 "$CHROOT/bench/c-hello" "$CHROOT/bench/java-junit" "$CHROOT/bench/maven-sample" \
	    "$CHROOT/bench/out"
}

# In the chroot as uid 1000, like the guest's tmc.
native() {
	chroot --userspec=1000:1000 "$CHROOT" "$@"
}

# --- Sections -----------------------------------------------------------------

bench_boot() {
	stock_initrd=$B/bench/initrd-stock.img
	[ -f "$stock_initrd" ] || die "$stock_initrd missing (make $stock_initrd)"
	echo "bench: == boot: launch to 'tmc-init: run' (time.boot), trivial task (exit 0), Scout on, $RUNS runs each, interleaved"
	echo "bench:    ours: $B/linux.uml; stock: $STOCK_KERNEL $("$STOCK_KERNEL" --version 2>/dev/null) + $stock_initrd (squashfs.ko, overlay.ko); same initrd programs, rootfs and lpj"
	series_reset boot.ours boot.stock init.ours init.stock trivial.total.ours trivial.total.stock
	# Debian's stock kernel (6.1) cannot run a guest process on hosts whose
	# XSAVE area is larger than its fixed buffer (AMX): then ours alone.
	stock=1
	if ! "$SBX" --compact --memory "$MEM" --kernel "$STOCK_KERNEL" --initrd "$stock_initrd" \
	    "$TASKS/trivial" > "$DATA/stock.json" 2> "$DATA/stock.err"; then
		stock=0
		echo "bench: boot.stock n/a: $STOCK_KERNEL cannot run a task on this host: $(tail -n 1 "$DATA/stock.err")"
	fi
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		guest "$DATA/run.json" "$TASKS/trivial"
		series_add boot.ours "$(field "$DATA/run.json" .time.boot)"
		series_add init.ours "$(marker "$DATA/run.json" 'tmc-init: start')"
		series_add trivial.total.ours "$(field "$DATA/run.json" .time.total)"
		[ "$stock" = 1 ] || continue
		guest "$DATA/run.json" --kernel "$STOCK_KERNEL" --initrd "$stock_initrd" "$TASKS/trivial"
		series_add boot.stock "$(field "$DATA/run.json" .time.boot)"
		series_add init.stock "$(marker "$DATA/run.json" 'tmc-init: start')"
		series_add trivial.total.stock "$(field "$DATA/run.json" .time.total)"
	done
	report boot.ours ms 1000
	[ "$stock" = 0 ] || report boot.stock ms 1000
	[ "$stock" = 0 ] || ratio boot.stock/ours boot.stock boot.ours
	budget boot.ours "$(median boot.ours | awk '{ print $1 * 1000 }')" 100 "median ms"
	report init.ours ms 1000
	[ "$stock" = 0 ] || report init.stock ms 1000
	echo "bench:    (init.* = launch to 'tmc-init: start': kernel boot + initrd /init; the rest of boot.* is tmc-init until tmc-run starts)"
	report trivial.total.ours ms 1000
	[ "$stock" = 0 ] || report trivial.total.stock ms 1000
	[ "$stock" = 0 ] || ratio trivial.total.stock/ours trivial.total.stock trivial.total.ours
}

bench_initrd() {
	gz=$B/bench/initrd-gzip.img
	# build/initrd.img is an uncompressed cpio (initrd/build.sh); the
	# previous choice was the same cpio gzipped.
	gzip -n -9 -c "$B/initrd.img" > "$gz.tmp"
	mv "$gz.tmp" "$gz"
	echo "bench: == initrd: boot to 'tmc-init: run', trivial task, $B/initrd.img ($(wc -c < "$B/initrd.img") bytes uncompressed, ours) vs the same cpio gzipped ($(wc -c < "$gz") bytes, the previous choice), $RUNS runs each, interleaved"
	series_reset boot.initrd_raw boot.initrd_gzip
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		guest "$DATA/run.json" "$TASKS/trivial"
		series_add boot.initrd_raw "$(field "$DATA/run.json" .time.boot)"
		guest "$DATA/run.json" --initrd "$gz" "$TASKS/trivial"
		series_add boot.initrd_gzip "$(field "$DATA/run.json" .time.boot)"
	done
	report boot.initrd_raw ms 1000
	report boot.initrd_gzip ms 1000
	ratio boot.initrd_raw/gzip boot.initrd_raw boot.initrd_gzip
}

bench_hello() {
	prepare_chroot
	echo "bench: == hello: $HELLO (gcc -Wall -O2 + ./hello), guest via sandbox-run ($RUNS runs, Scout on/off interleaved) vs its tmc-run in a chroot of the rootfs"
	series_reset hello.guest.wall hello.guest.total hello.guest.run hello.guest.boot hello.guest.cpu \
	    hello.noscout.total hello.noscout.run hello.noscout.cpu hello.native hello.native.cpu
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		guest "$DATA/run.json" "$HELLO"
		[ "$(jq -r .output "$DATA/run.json")" = "Hello, world!" ] || die "$HELLO: unexpected output"
		series_add hello.guest.wall "$(wall "$DATA/run.json")"
		series_add hello.guest.cpu "$(cpu "$DATA/run.json")"
		series_add hello.guest.total "$(field "$DATA/run.json" .time.total)"
		series_add hello.guest.run "$(field "$DATA/run.json" .time.run)"
		series_add hello.guest.boot "$(field "$DATA/run.json" .time.boot)"
		guest "$DATA/run.json" --no-scout "$HELLO"
		series_add hello.noscout.total "$(field "$DATA/run.json" .time.total)"
		series_add hello.noscout.run "$(field "$DATA/run.json" .time.run)"
		series_add hello.noscout.cpu "$(cpu "$DATA/run.json")"
		# Native, after a first warm-up run (the host page cache).
		[ "$i" -gt 1 ] || native /bin/sh -c 'cd /bench/c-hello && ./tmc-run' || die "native tmc-run in $CHROOT"
		"$BIN/timeit" -u -o "$DATA/native.time" -- chroot --userspec=1000:1000 "$CHROOT" \
		    /bin/sh -c 'cd /bench/c-hello && ./tmc-run' || die "native tmc-run in $CHROOT"
		series_add hello.native "$(cut -d' ' -f1 "$DATA/native.time")"
		series_add hello.native.cpu "$(cut -d' ' -f2 "$DATA/native.time")"
	done
	[ "$(cat "$CHROOT/bench/c-hello/output.txt")" = "Hello, world!" ] || die "native hello: unexpected output"
	report hello.guest.wall ms 1000
	report hello.guest.total ms 1000
	report hello.guest.boot ms 1000
	report hello.guest.run ms 1000
	report hello.noscout.total ms 1000
	report hello.noscout.run ms 1000
	report hello.native ms 1000
	echo "bench:    (wall = the sandbox-run command; total = launch to power-off; run = tmc-init: run to exit; native = sh ./tmc-run in the chroot, uid 1000, warm host cache)"
	ratio hello.total/native hello.guest.total hello.native
	ratio hello.wall/native hello.guest.wall hello.native
	ratio hello.run/native hello.guest.run hello.native
	ratio hello.run.scout/noscout hello.guest.run hello.noscout.run
	budget hello.total/native "$(awk -v a="$(median hello.guest.total)" -v b="$(median hello.native)" 'BEGIN { print a / b }')" 5 "ratio"
	echo "bench:    CPU time (user+system) of the whole process tree, far less disturbed by other load than wall time:"
	report hello.guest.cpu ms 1000
	report hello.noscout.cpu ms 1000
	report hello.native.cpu ms 1000
	ratio hello.cpu.guest/native hello.guest.cpu hello.native.cpu
	ratio hello.cpu.scout/noscout hello.guest.cpu hello.noscout.cpu
}

bench_proc() {
	prepare_chroot
	echo "bench: == proc: fork+_exit and fork+exec of /bin/true, 100 each per boot (mean per boot), $RUNS boots Scout on/off interleaved, vs 1000 each natively in the chroot"
	series_reset fork_exec.guest fork_exec.noscout fork_exec.native \
	    fork_exit.guest fork_exit.noscout fork_exit.native open.guest open.noscout open.native
	for s in getppid create reopen; do
		series_reset "$s.guest" "$s.noscout" "$s.native"
	done
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		guest "$DATA/run.json" "$TASKS/micro"
		series_add fork_exec.guest "$(output_value "$DATA/run.json" fork_exec_ms)"
		series_add fork_exit.guest "$(output_value "$DATA/run.json" fork_exit_ms)"
		series_add open.guest "$(output_value "$DATA/run.json" open_us)"
		for s in getppid create reopen; do
			series_add "$s.guest" "$(output_value "$DATA/run.json" "${s}_us")"
		done
		guest "$DATA/run.json" --no-scout "$TASKS/micro"
		series_add fork_exec.noscout "$(output_value "$DATA/run.json" fork_exec_ms)"
		series_add fork_exit.noscout "$(output_value "$DATA/run.json" fork_exit_ms)"
		series_add open.noscout "$(output_value "$DATA/run.json" open_us)"
		for s in getppid create reopen; do
			series_add "$s.noscout" "$(output_value "$DATA/run.json" "${s}_us")"
		done
		native /bench/forkexec 1000 > "$DATA/native.txt" || die "native forkexec"
		series_add fork_exec.native "$(sed -n 's/^fork_exec_ms //p' "$DATA/native.txt")"
		series_add fork_exit.native "$(sed -n 's/^fork_exit_ms //p' "$DATA/native.txt")"
		series_add open.native "$(native /bench/bench_open /etc/passwd 2000)"
		native /bench/sysloop 200 /tmp > "$DATA/native.txt" || die "native sysloop"
		for s in getppid create reopen; do
			series_add "$s.native" "$(sed -n "s/^${s}_us //p" "$DATA/native.txt")"
		done
	done
	report fork_exec.guest ms
	report fork_exec.noscout ms
	report fork_exec.native ms
	ratio fork_exec.guest/native fork_exec.guest fork_exec.native
	ratio fork_exec.noscout/native fork_exec.noscout fork_exec.native
	report fork_exit.guest ms
	report fork_exit.noscout ms
	report fork_exit.native ms
	ratio fork_exit.noscout/native fork_exit.noscout fork_exit.native
	echo "bench: == scout open: open+close of /etc/passwd, mean of 2000 per boot (bench_open from tests/carrier), guest with/without Scout"
	report open.guest us
	report open.noscout us
	report open.native us
	awk -v a="$(median open.guest)" -v b="$(median open.noscout)" 'BEGIN {
		printf "bench: %-32s median %9.3f us (open.guest - open.noscout, medians)\n", "open.scout_trap_cost", a - b }'
	ratio open.guest/noscout open.guest open.noscout
	echo "bench: == scout syscalls: 200 x getppid (never trapped: the filter's own cost), creat+close of 200 new files in /tmp and open+close of each again (trapped, decisions not yet cached: a host round trip each)"
	for s in getppid create reopen; do
		report "$s.guest" us
		report "$s.noscout" us
		report "$s.native" us
		awk -v id="$s.scout_cost" -v a="$(median "$s.guest")" -v b="$(median "$s.noscout")" 'BEGIN {
			printf "bench: %-32s median %9.3f us (%s.guest - %s.noscout, medians)\n", id, a - b, substr(id, 1, index(id, ".") - 1), substr(id, 1, index(id, ".") - 1) }'
	done
}

bench_gcc() {
	echo "bench: == gcc: gcc -Wall -O2 -o hello hello.c in one pre-booted guest, $RUNS rounds interleaved: the rootfs's defaults (rootfs/c/setup.sh: gcc runs /usr/bin/ld itself, no /usr/local/include) vs gcc's link through collect2 (-fuse-linker-plugin) and vs an empty fixed include dir searched first (-isystem /usr/local/bin), the previous choices"
	series_reset gcc.ours gcc.collect2 gcc.emptyinc
	guest "$DATA/run.json" --preboot "$TASKS/gcc"
	jq -j .output "$DATA/run.json" > "$DATA/times"
	[ "$(grep -c '^ours ' "$DATA/times")" -eq "$RUNS" ] || die "gcc task: expected $RUNS rounds, got: $(cat "$DATA/times")"
	for arm in ours collect2 emptyinc; do
		sed -n "s/^$arm //p" "$DATA/times" >> "$DATA/gcc.$arm"
	done
	report gcc.ours ms 1000
	report gcc.collect2 ms 1000
	report gcc.emptyinc ms 1000
	ratio gcc.ours/collect2 gcc.ours gcc.collect2
	ratio gcc.ours/emptyinc gcc.ours gcc.emptyinc
}

bench_scout() {
	echo "bench: == scout: gcc -Wall -O2 -o hello hello.c in the guest, timed inside by timeit: 3 compiles per boot (1st cold page cache, 2nd-3rd warm), $RUNS boots Scout on/off interleaved"
	series_reset compile.cold.scout compile.cold.noscout compile.warm.scout compile.warm.noscout \
	    compile.cpu.scout compile.cpu.noscout
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		for mode in scout noscout; do
			if [ "$mode" = scout ]; then
				guest "$DATA/run.json" "$TASKS/compile"
			else
				guest "$DATA/run.json" --no-scout "$TASKS/compile"
			fi
			series_add "compile.cpu.$mode" "$(cpu "$DATA/run.json")"
			jq -j .output "$DATA/run.json" > "$DATA/times"
			[ "$(wc -l < "$DATA/times")" -eq 3 ] || die "compile task: expected 3 times, got: $(cat "$DATA/times")"
			series_add "compile.cold.$mode" "$(sed -n 1p "$DATA/times")"
			sed -n '2,3p' "$DATA/times" >> "$DATA/compile.warm.$mode"
		done
	done
	report compile.cold.scout ms 1000
	report compile.cold.noscout ms 1000
	ratio compile.cold.scout/noscout compile.cold.scout compile.cold.noscout
	budget compile.cold.scout/noscout "$(awk -v a="$(median compile.cold.scout)" -v b="$(median compile.cold.noscout)" 'BEGIN { print a / b }')" 1.10 "ratio"
	report compile.warm.scout ms 1000
	report compile.warm.noscout ms 1000
	ratio compile.warm.scout/noscout compile.warm.scout compile.warm.noscout
	budget compile.warm.scout/noscout "$(awk -v a="$(median compile.warm.scout)" -v b="$(median compile.warm.noscout)" 'BEGIN { print a / b }')" 1.10 "ratio"
	echo "bench:    CPU time of the whole UML tree for the boot with its 3 compiles (less disturbed by other load; includes ~the boot's CPU in both):"
	report compile.cpu.scout ms 1000
	report compile.cpu.noscout ms 1000
	ratio compile.cpu.scout/noscout compile.cpu.scout compile.cpu.noscout
	awk -v a="$(median compile.cpu.scout)" -v b="$(median compile.cpu.noscout)" 'BEGIN {
		printf "bench: %-32s median %9.3f ms (compile.cpu.scout - compile.cpu.noscout, medians, / 3 compiles)\n", "compile.cpu.scout_cost", (a - b) * 1000 / 3 }'
}

bench_memory() {
	work=$(cd "$B" && pwd)/bench/work
	mkdir -p "$work"
	n=3
	echo "bench: == memory: $HELLO with Scout, mem=$MEM, $n runs; host processes whose cmdline has uml_dir=$work/ sampled every 20 ms"
	series_reset mem.rss mem.pss mem.procs mem.mms mem.cgroup_peak
	i=0
	while [ "$i" -lt "$n" ]; do
		i=$((i + 1))
		"$BIN/memwatch" -o "$DATA/mem.txt" "uml_dir=$work/" -- \
		    "$SBX" --compact --memory "$MEM" --work-root "$work" "$HELLO" > "$DATA/run.json" ||
			die "memwatch sandbox-run $HELLO"
		[ "$(jq -r .status "$DATA/run.json")" = finished ] || die "$HELLO did not finish under memwatch"
		series_add mem.rss "$(sed -n 's/^rss_max_kb //p' "$DATA/mem.txt")"
		series_add mem.pss "$(sed -n 's/^pss_max_kb //p' "$DATA/mem.txt")"
		series_add mem.procs "$(sed -n 's/^procs_max //p' "$DATA/mem.txt")"
		series_add mem.mms "$(sed -n 's/^mms_max //p' "$DATA/mem.txt")"
		series_add mem.cgroup_peak "$(field "$DATA/run.json" .memory)"
	done
	report mem.pss MiB 0.0009765625
	report mem.rss MiB 0.0009765625
	report mem.procs processes
	report mem.mms "address spaces"
	report mem.cgroup_peak MiB 0.00000095367431640625
	echo "bench:    (maxima over the run, each address space counted once; pss = the tree's real footprint, the guest RAM file shared out; rss counts it once per address space; cgroup_peak = sandbox-run's memory, page cache and the RAM file's touched pages included)"
	mem_mib=$(echo "$MEM" | awk '/[Gg]$/ { print $1 * 1024; next } /[Mm]$/ { print $1 + 0; next } { print $1 / 1048576 }')
	budget mem.pss "$(median mem.pss | awk '{ print $1 / 1024 }')" "$((mem_mib + 30))" "MiB (mem= + 30)"
	budget mem.cgroup_peak "$(median mem.cgroup_peak | awk '{ print $1 / 1048576 }')" "$((mem_mib + 30))" "MiB (mem= + 30)"
}

# variant NAME SANDBOX-RUN-OPTION...: the figures a kernel, initrd or rootfs
# choice moves, ours (the defaults) vs with those options, interleaved.
bench_variant() {
	name=$1
	shift
	echo "bench: == variant $name: sandbox-run $* vs ours (build/ defaults), $RUNS runs each, interleaved (Scout on)"
	series_reset "v.boot.ours" "v.boot.$name" "v.trivial.ours" "v.trivial.$name" \
	    "v.fork_exec.ours" "v.fork_exec.$name" "v.hello_run.ours" "v.hello_run.$name" \
	    "v.compile_cold.ours" "v.compile_cold.$name" "v.java.ours" "v.java.$name"
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		for k in ours "$name"; do
			if [ "$k" = ours ]; then
				guest "$DATA/run.json" "$TASKS/trivial"
			else
				guest "$DATA/run.json" "$@" "$TASKS/trivial"
			fi
			series_add "v.boot.$k" "$(field "$DATA/run.json" .time.boot)"
			series_add "v.trivial.$k" "$(field "$DATA/run.json" .time.total)"
			if [ "$k" = ours ]; then
				guest "$DATA/run.json" "$TASKS/micro"
			else
				guest "$DATA/run.json" "$@" "$TASKS/micro"
			fi
			series_add "v.fork_exec.$k" "$(output_value "$DATA/run.json" fork_exec_ms)"
			if [ "$k" = ours ]; then
				guest "$DATA/run.json" "$HELLO"
			else
				guest "$DATA/run.json" "$@" "$HELLO"
			fi
			series_add "v.hello_run.$k" "$(field "$DATA/run.json" .time.run)"
			if [ "$k" = ours ]; then
				guest "$DATA/run.json" "$TASKS/compile"
			else
				guest "$DATA/run.json" "$@" "$TASKS/compile"
			fi
			series_add "v.compile_cold.$k" "$(jq -r .output "$DATA/run.json" | sed -n 1p)"
			if [ "$k" = ours ]; then
				guest_java "$k"
			else
				guest_java "$k" "$@"
			fi
			series_add "v.java.$k" "$(field "$DATA/run.json" .time.total)"
		done
	done
	echo "bench:    (boot, trivial = total of an exit-0 task, fork_exec = fork+exec of /bin/true, hello_run = c-hello's run, compile_cold = first gcc of a boot, timed in the guest, java = java-junit's total)"
	for what in boot:ms:1000 trivial:ms:1000 fork_exec:ms:1 hello_run:ms:1000 compile_cold:ms:1000 java:s:1; do
		id=${what%%:*}
		rest=${what#*:}
		report "v.$id.ours" "${rest%%:*}" "${rest#*:}"
		report "v.$id.$name" "${rest%%:*}" "${rest#*:}"
		ratio "v.$id.$name/ours" "v.$id.$name" "v.$id.ours"
	done
}

# fpu_guest on|off OUT.json TASK: a run with ours or the lazy-FPU-off kernel.
fpu_guest() {
	if [ "$1" = on ]; then
		guest "$2" "$3"
	else
		guest "$2" --kernel "$FPU_OFF_KERNEL" "$3"
	fi
}

bench_fpu() {
	FPU_OFF_KERNEL=${FPU_OFF_KERNEL:-$B/bench/linux-eager-fpu.uml}
	[ -x "$FPU_OFF_KERNEL" ] || die "$FPU_OFF_KERNEL missing (make $FPU_OFF_KERNEL)"
	# Each kernel must say what it is, or the comparison means nothing (a
	# kernel without the patch has no lazy_fpu line, and is off).
	for k in on off; do
		fpu_guest "$k" "$DATA/cpuinfo.json" "$TASKS/cpuinfo"
		said=$(jq -r .output "$DATA/cpuinfo.json" | sed -n 's/^lazy_fpu[[:space:]]*: *//p')
		[ "${said:-off}" = "$k" ] || die "fpu: the lazy-FPU-$k kernel reports lazy_fpu '${said:-(none)}'"
	done
	echo "bench: == fpu: lazy FPU state (kernel/patches/0002) on ($B/linux.uml) vs off ($FPU_OFF_KERNEL), $RUNS runs each, interleaved (Scout on)"
	for k in on off; do
		series_reset "fpu.fork_exec.$k" "fpu.getppid.$k" "fpu.hello_run.$k" "fpu.java_total.$k"
	done
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		for k in on off; do
			fpu_guest "$k" "$DATA/run.json" "$TASKS/micro"
			series_add "fpu.fork_exec.$k" "$(output_value "$DATA/run.json" fork_exec_ms)"
			series_add "fpu.getppid.$k" "$(output_value "$DATA/run.json" getppid_us)"
			fpu_guest "$k" "$DATA/run.json" "$HELLO"
			series_add "fpu.hello_run.$k" "$(field "$DATA/run.json" .time.run)"
			fpu_guest "$k" "$DATA/run.json" "$JAVA"
			series_add "fpu.java_total.$k" "$(field "$DATA/run.json" .time.total)"
		done
	done
	echo "bench:    (fork_exec = fork+exec of /bin/true, getppid = one getppid, both timed in the guest; hello_run = c-hello's run; java_total = java-junit launch to power-off)"
	for what in fork_exec:ms:1 getppid:us:1 hello_run:ms:1000 java_total:ms:1000; do
		id=${what%%:*}
		rest=${what#*:}
		report "fpu.$id.on" "${rest%%:*}" "${rest#*:}"
		report "fpu.$id.off" "${rest%%:*}" "${rest#*:}"
		ratio "fpu.$id.on/off" "fpu.$id.on" "fpu.$id.off"
	done
}

bench_java() {
	prepare_chroot
	echo "bench: == java: $JAVA (javac + JUnitCore), guest via sandbox-run (Scout on) vs its tmc-run in the chroot, $RUNS runs each, interleaved"
	series_reset java.guest.total java.guest.run java.guest.cpu java.native java.native.cpu
	# The chroot has no /proc, so ld.so cannot resolve the JDK launchers'
	# $ORIGIN RPATH (it reads /proc/self/exe): name the JDK's lib dir.
	jdk_lib=$(cd "$CHROOT" && find usr/lib/jvm -maxdepth 3 -name libjli.so | head -n 1)
	[ -n "$jdk_lib" ] || die "no JDK in $CHROOT"
	java_native="cd /bench/java-junit && LD_LIBRARY_PATH=/$(dirname "$jdk_lib") ./tmc-run"
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		guest_java "in the guest"
		series_add java.guest.total "$(field "$DATA/run.json" .time.total)"
		series_add java.guest.run "$(field "$DATA/run.json" .time.run)"
		series_add java.guest.cpu "$(cpu "$DATA/run.json")"
		[ "$i" -gt 1 ] || native /bin/sh -c "$java_native" || die "native tmc-run of $JAVA"
		"$BIN/timeit" -u -o "$DATA/native.time" -- chroot --userspec=1000:1000 "$CHROOT" \
		    /bin/sh -c "$java_native" || die "native tmc-run of $JAVA"
		grep -q 'OK (1 test)' "$CHROOT/bench/java-junit/test_output.txt" || die "$JAVA: tests did not pass natively"
		series_add java.native "$(cut -d' ' -f1 "$DATA/native.time")"
		series_add java.native.cpu "$(cut -d' ' -f2 "$DATA/native.time")"
	done
	report java.guest.total s
	report java.guest.run s
	report java.native s
	ratio java.total/native java.guest.total java.native
	ratio java.run/native java.guest.run java.native
	budget java.total/native "$(awk -v a="$(median java.guest.total)" -v b="$(median java.native)" 'BEGIN { print a / b }')" 3 "ratio"
	report java.guest.cpu s
	report java.native.cpu s
	ratio java.cpu.guest/native java.guest.cpu java.native.cpu
}

# The guest JDK's choices (rootfs/java/setup.sh), each timed inside the
# guest by timeit around the exercise's tmc-run, boots interleaved.
bench_jvm() {
	echo "bench: == jvm: $JAVA and $CRUNCH (javac + JUnitCore) timed inside the guest, $RUNS boots per variant, interleaved"
	echo "bench:    junit-ours: the rootfs's CDS archive and launchers (-XX:-UsePerfData), no flag; junit-perfdata: the JDK's own launchers (perf data on, javac tiered: the previous choice); junit-javac-tiered: perf data off, javac tiered; junit-container: container support on (round 7's wrappers); junit-stock: Debian's (java -Xshare:dump, untimed); junit-off: -Xshare:off; junit-c1: -XX:TieredStopAtLevel=1; junit-g1: -XX:+UseG1GC (archived heap objects map only with G1); crunch-*: the CPU-heavy test, defaults vs C1 only"
	variants=${JVM_VARIANTS:-junit-ours junit-perfdata junit-javac-tiered junit-container junit-stock junit-off junit-c1 junit-g1 crunch-ours crunch-c1}
	for v in $variants; do
		series_reset "jvm.$v"
	done
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		for v in $variants; do
			guest "$DATA/run.json" --timeout 150 "$TASKS/$v"
			want='OK (1 test)'
			jq -r .test_output "$DATA/run.json" | grep -q "$want" || die "jvm $v: tests did not pass: $(jq -r .test_output "$DATA/run.json" | head -n 5)"
			series_add "jvm.$v" "$(jq -r .output "$DATA/run.json" | head -n 1)"
		done
	done
	for v in $variants; do
		report "jvm.$v" s
	done
	jvm_ratio jvm.junit.ours/perfdata junit-ours junit-perfdata
	jvm_ratio jvm.junit.ours/javac-tiered junit-ours junit-javac-tiered
	jvm_ratio jvm.junit.ours/container junit-ours junit-container
	jvm_ratio jvm.cds.stock/ours junit-stock junit-ours
	jvm_ratio jvm.cds.off/ours junit-off junit-ours
	jvm_ratio jvm.junit.c1/ours junit-c1 junit-ours
	jvm_ratio jvm.junit.g1/ours junit-g1 junit-ours
	jvm_ratio jvm.crunch.c1/ours crunch-c1 crunch-ours
}

# jvm_ratio ID A B: the ratio of jvm.A to jvm.B when both were measured.
jvm_ratio() {
	case " $variants " in *" $2 "*) ;; *) return 0 ;; esac
	case " $variants " in *" $3 "*) ;; *) return 0 ;; esac
	ratio "$1" "jvm.$2" "jvm.$3"
}

# Maven on the sample project, offline, in the guest vs the chroot.
bench_maven() {
	prepare_chroot
	echo "bench: == maven: mvn -q test of $MAVEN_SAMPLE (3 plugins, JUnit 4 in surefire's forked JVM), timed inside the guest, $RUNS boots per variant, interleaved, vs natively in the chroot"
	echo "bench:    maven-ours: the rootfs's settings and /etc/mavenrc (Maven's JVM C1 only); maven-tiered: MAVEN_OPTS=-XX:TieredStopAtLevel=4; maven-stock: Debian's CDS archive"
	variants=${MAVEN_VARIANTS:-maven-ours maven-tiered maven-stock}
	for v in $variants; do
		series_reset "mvn.$v" "mvn.$v.peak"
	done
	series_reset mvn.native mvn.max
	jdk_lib=$(cd "$CHROOT" && find usr/lib/jvm -maxdepth 3 -name libjli.so | head -n 1)
	mvn_native="cd /bench/maven-sample && rm -rf target && HOME=/tmp LD_LIBRARY_PATH=/$(dirname "$jdk_lib") mvn -q test"
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		for v in $variants; do
			guest "$DATA/run.json" --timeout 150 "$TASKS/$v"
			series_add "mvn.$v" "$(output_value "$DATA/run.json" mvn_s)"
			series_add "mvn.$v.peak" "$(output_value "$DATA/run.json" peak_bytes)"
			[ "$v" != maven-ours ] || series_add mvn.max "$(output_value "$DATA/run.json" max_bytes)"
		done
		[ "$i" -gt 1 ] || native /bin/sh -c "$mvn_native" > /dev/null || die "native mvn test"
		"$BIN/timeit" -o "$DATA/native.time" -- chroot --userspec=1000:1000 "$CHROOT" \
		    /bin/sh -c "$mvn_native" > /dev/null || die "native mvn test"
		series_add mvn.native "$(cat "$DATA/native.time")"
	done
	for v in $variants; do
		report "mvn.$v" s
	done
	report mvn.native s
	ratio mvn.guest/native mvn.maven-ours mvn.native
	case " $variants " in *" maven-tiered "*) ratio mvn.tiered/ours mvn.maven-tiered mvn.maven-ours ;; esac
	case " $variants " in *" maven-stock "*) ratio mvn.cds.stock/ours mvn.maven-stock mvn.maven-ours ;; esac
	for v in $variants; do
		report "mvn.$v.peak" MiB 0.00000095367431640625
	done
	report mvn.max MiB 0.00000095367431640625
	echo "bench:    (peak = the guest task cgroup's memory.peak: processes, page cache and ramdisk files of the task; max = its memory.max at mem=$MEM)"
}

# This run's medians against the previous choice's recorded figures. Only
# the series this run measured are compared; the machine and its load may
# differ from the recorded run's (bench/previous.txt names its source).
bench_previous() {
	echo "bench: == previous: this run's medians / the recorded figures of the previous choice (bench/previous.txt)"
	grep -v '^#' bench/previous.txt | while read -r id was unit scale source; do
		[ -n "$id" ] || continue
		if [ ! -s "$DATA/$id" ]; then
			echo "bench: previous.$id not measured in this run (section missing)"
			continue
		fi
		now=$(median "$id")
		awk -v id="$id" -v now="$now" -v was="$was" -v unit="$unit" -v k="$scale" -v src="$source" 'BEGIN {
			printf "bench: %-32s ratio %8.2fx (now %.3f %s / previous %.3f %s: %s)\n", "previous." id, now * k / was, now * k, unit, was, unit, src }'
	done
}

# The machine, the kernel and what the guest says of itself.
bench_machine() {
	"$BIN/hostinfo" | sed 's/^/bench: host /'
	echo "bench: host kernel $(uname -r), $(nproc) CPUs"
	echo "bench: guest kernel $("$B/linux.uml" --version 2>/dev/null | head -n 1)"
	guest "$DATA/cpuinfo.json" "$TASKS/cpuinfo"
	jq -r .output "$DATA/cpuinfo.json" | sed -n 's/^\(userspace\|host_fp_size\|lazy_fpu\)[[:space:]]*: */bench: guest \1 /p'
}

bench_pin() {
	prepare_chroot
	cpu=$(awk '{ print $39 }' /proc/self/stat)
	echo "bench: == pin: $HELLO and $JAVA with the UML tree on one host CPU (--cpu $cpu) vs left to the scheduler (--cpu none), $RUNS runs each, interleaved"
	series_reset pin.hello.run pin.hello.total unpin.hello.run unpin.hello.total pin.java.total unpin.java.total
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		for mode in pin unpin; do
			if [ "$mode" = pin ]; then opt="--cpu $cpu"; else opt="--cpu none"; fi
			# shellcheck disable=SC2086
			guest "$DATA/run.json" $opt "$HELLO"
			series_add "$mode.hello.run" "$(field "$DATA/run.json" .time.run)"
			series_add "$mode.hello.total" "$(field "$DATA/run.json" .time.total)"
			# shellcheck disable=SC2086
			guest_java "$mode" $opt
			series_add "$mode.java.total" "$(field "$DATA/run.json" .time.total)"
		done
	done
	report pin.hello.run ms 1000
	report unpin.hello.run ms 1000
	ratio hello.run.pin/unpin pin.hello.run unpin.hello.run
	report pin.hello.total ms 1000
	report unpin.hello.total ms 1000
	ratio hello.total.pin/unpin pin.hello.total unpin.hello.total
	budget pin.hello.run "$(median pin.hello.run | awk '{ print $1 * 1000 }')" 300 "median ms"
	report pin.java.total s
	report unpin.java.total s
	ratio java.total.pin/unpin pin.java.total unpin.java.total
	budget pin.java.total "$(median pin.java.total)" 3.0 "median s"
}

# Sections that pass --kernel-arg or --preboot-idle run the test-hooks
# build of sandbox-run: hooks_sbx_begin switches SBX to it (and sets sbx,
# for the section's header line), hooks_sbx_end switches back.
hooks_sbx_begin() {
	sbx_saved=$SBX
	sbx=$B/tests/sandbox-run-test
	[ -x "$sbx" ] || die "$sbx missing (run through make: make bench)"
	# Built from the same sources as sandbox-run, but not by plain make: an
	# older one runs the guest with an older command line.
	[ -z "$(find "$B/sandbox-run" -newer "$sbx" 2>/dev/null)" ] ||
	    die "$sbx is older than $B/sandbox-run (make $sbx, or run through make bench)"
	SBX=$sbx
}
hooks_sbx_end() {
	SBX=$sbx_saved
}

# preboot_ab KEY IDLE_MS ON_OPTIONS OFF_OPTIONS: $RUNS interleaved pairs of
# hello_java in guests pre-booted IDLE_MS ahead of their task, into
# KEY.on.* with the first options and KEY.off.* with the second.
preboot_ab() {
	pa_key=$1
	pa_idle=$2
	pa_on=$3
	pa_off=$4
	series_reset "$pa_key.on.hello" "$pa_key.off.hello" "$pa_key.on.java" "$pa_key.off.java" \
	    "$pa_key.on.mem" "$pa_key.off.mem"
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		# shellcheck disable=SC2086
		hello_java "$pa_key.on" --images "$B" --preboot --preboot-idle "$pa_idle" $pa_on
		# shellcheck disable=SC2086
		hello_java "$pa_key.off" --images "$B" --preboot --preboot-idle "$pa_idle" $pa_off
	done
}

# A pre-booted guest is idle until its task comes; prewarm.c reads what
# java and gcc start with into its page cache meanwhile. Both sides idle
# for the same time, as sandboxd's guest would be between two tasks.
bench_prewarm() {
	hooks_sbx_begin
	idle=${PREWARM_IDLE_MS:-5000}
	echo "bench: == prewarm: pre-booted guest idle ${idle} ms, page cache warmed (ours) vs not (tmc.prewarm=0): $HELLO run, $JAVA total, memory, $RUNS runs each, interleaved, through $sbx"
	preboot_ab pw "$idle" "" "--kernel-arg tmc.prewarm=0"
	ab hello.run.prewarm/not pw.on.hello pw.off.hello ms 1000
	budget pw.on.hello "$(median pw.on.hello | awk '{ print $1 * 1000 }')" 300 "median ms"
	ab java.total.prewarm/not pw.on.java pw.off.java s
	budget pw.on.java "$(median pw.on.java)" 3.0 "median s"
	ab mem.prewarm/not pw.on.mem pw.off.mem MiB 0.00000095367431640625
	hooks_sbx_end
}

# A guest read fault on a cached file maps its cached neighbours too; each
# fault it saves is three host round trips. What 256 KiB (ours) buys over
# the kernel's 64 KiB, and what 2 MiB would.
bench_faultaround() {
	hooks_sbx_begin
	echo "bench: == faultaround: fault_around_bytes 256K (ours) vs 64K (kernel default, previous) vs 2M; boot (trivial), $HELLO run, $JAVA total, $RUNS runs each, interleaved, through $sbx"
	series_reset fa.ours.boot fa.64k.boot fa.2m.boot fa.ours.hello fa.64k.hello fa.2m.hello \
	    fa.ours.java fa.64k.java fa.2m.java fa.ours.mem fa.64k.mem fa.2m.mem
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		for v in ours 64k 2m; do
			case $v in
			ours) opt="" ;;
			64k) opt="--kernel-arg fault_around_bytes=65536" ;;
			2m) opt="--kernel-arg fault_around_bytes=2097152" ;;
			esac
			# shellcheck disable=SC2086
			guest "$DATA/run.json" --images "$B" $opt "$TASKS/trivial"
			series_add "fa.$v.boot" "$(field "$DATA/run.json" .time.boot)"
			# shellcheck disable=SC2086
			hello_java "fa.$v" --images "$B" $opt
		done
	done
	for k in boot hello java; do
		if [ "$k" = java ]; then set -- s 1; else set -- ms 1000; fi
		ab "$k.fa.ours/64k" "fa.ours.$k" "fa.64k.$k" "$@"
		report "fa.2m.$k" "$@"
		ratio "$k.fa.2m/ours" "fa.2m.$k" "fa.ours.$k"
	done
	hooks_sbx_end
}

# Anonymous fault-around (kernel/patches/0004): a write fault on anonymous
# memory fills a window of pages. Ours (sandbox/uml.c: 16 pages) against
# off (1, the kernel's behaviour and the previous choice) and 32.
bench_anonaround() {
	hooks_sbx_begin
	echo "bench: == anonaround: anon_fault_around 16 pages (ours) vs 1 (off, previous) vs 32; first write per anonymous page (bench/anontouch, 8 MiB), $HELLO run, $JAVA total, host memory peak, $RUNS runs each, interleaved, through $sbx"
	series_reset aa.ours.touch aa.off.touch aa.32.touch aa.ours.hello aa.off.hello aa.32.hello \
	    aa.ours.java aa.off.java aa.32.java aa.ours.mem aa.off.mem aa.32.mem
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		for v in ours off 32; do
			case $v in
			ours) opt="" ;;
			off) opt="--kernel-arg anon_fault_around=1" ;;
			32) opt="--kernel-arg anon_fault_around=32" ;;
			esac
			# shellcheck disable=SC2086
			guest "$DATA/run.json" --images "$B" $opt "$TASKS/micro"
			series_add "aa.$v.touch" "$(output_value "$DATA/run.json" anon_touch_us)"
			# shellcheck disable=SC2086
			hello_java "aa.$v" --images "$B" $opt
		done
	done
	report aa.ours.touch us 1
	report aa.off.touch us 1
	ratio touch.aa.ours/off aa.ours.touch aa.off.touch
	report aa.32.touch us 1
	for k in hello java mem; do
		case $k in
		java) set -- s 1 ;;
		mem) set -- MiB 0.00000095367431640625 ;;
		*) set -- ms 1000 ;;
		esac
		ab "$k.aa.ours/off" "aa.ours.$k" "aa.off.$k" "$@"
		report "aa.32.$k" "$@"
		ratio "$k.aa.32/ours" "aa.32.$k" "aa.ours.$k"
	done
	hooks_sbx_end
}

# kernel_arg_pairs KEY ARG IDLE_MS [NAME=OUTPUT_KEY ...]: $RUNS interleaved
# rounds of the kernel argument ARG=on then ARG=off, each in guests
# pre-booted IDLE_MS ahead: the micro task (each OUTPUT_KEY of its output
# into series KEY.on|off.NAME), then hello_java (KEY.on|off.hello, .java,
# .mem); then, if KAP_AFTER names a function, that function with on|off.
kernel_arg_pairs() {
	kap_key=$1
	kap_arg=$2
	kap_idle=$3
	shift 3
	kap_round=0
	while [ "$kap_round" -lt "$RUNS" ]; do
		kap_round=$((kap_round + 1))
		for v in on off; do
			pre="--preboot --preboot-idle $kap_idle --kernel-arg $kap_arg=$v"
			# shellcheck disable=SC2086
			guest "$DATA/run.json" --images "$B" $pre "$TASKS/micro"
			for m in "$@"; do
				series_add "$kap_key.$v.${m%%=*}" "$(output_value "$DATA/run.json" "${m#*=}")"
			done
			# shellcheck disable=SC2086
			hello_java "$kap_key.$v" --images "$B" $pre
			[ -z "${KAP_AFTER:-}" ] || "$KAP_AFTER" "$v"
		done
	done
}

# The guest's clock_gettime() read in the vDSO from the TSC, or a syscall
# (a host ptrace round trip) each.
clock_fresh_java() {
	guest_java "fresh, uml_tsc=$1" --images "$B" --kernel-arg "uml_tsc=$1"
	series_add "clk.$1.fresh" "$(field "$DATA/run.json" .time.total)"
}
bench_clock() {
	hooks_sbx_begin
	idle=${CLOCK_IDLE_MS:-1500}
	echo "bench: == clock: uml_tsc on (ours: TSC clocksource, clock_gettime in the vDSO) vs off (a syscall per read, previous); one clock_gettime (bench/sysloop), $HELLO run, $JAVA total, pre-booted and idle $idle ms, and $JAVA total in a fresh guest; $RUNS runs each, interleaved, through $sbx"
	series_reset clk.on.read clk.off.read clk.on.hello clk.off.hello clk.on.java clk.off.java \
	    clk.on.mem clk.off.mem clk.on.fresh clk.off.fresh
	KAP_AFTER=clock_fresh_java kernel_arg_pairs clk uml_tsc "$idle" read=clock_us
	report clk.on.read us 1
	report clk.off.read us 1
	ratio read.clk.on/off clk.on.read clk.off.read
	for k in hello java fresh mem; do
		case $k in
		java|fresh) set -- s 1 ;;
		mem) set -- MiB 0.00000095367431640625 ;;
		*) set -- ms 1000 ;;
		esac
		ab "$k.clk.on/off" "clk.on.$k" "clk.off.$k" "$@"
	done
	hooks_sbx_end
}

# A guest page fault resolved from the host's siginfo (patch 0007,
# uml_fast_fault=1, always passed by sandbox/uml.c) vs through the stub's
# SIGSEGV handler (=0, the previous way; the later argument wins).
bench_fastfault() {
	hooks_sbx_begin
	idle=${FASTFAULT_IDLE_MS:-3000}
	echo "bench: == fastfault: uml_fast_fault on (ours: a guest page fault from the host's siginfo) vs off (the stub's SIGSEGV handler, previous); first write per anonymous page (bench/anontouch, 8 MiB), fork+exec of /bin/true (bench/forkexec), $HELLO run, $JAVA total, pre-booted and idle $idle ms; $RUNS runs each, interleaved, through $sbx"
	series_reset ff.on.touch ff.off.touch ff.on.fe ff.off.fe ff.on.hello ff.off.hello \
	    ff.on.java ff.off.java ff.on.mem ff.off.mem
	kernel_arg_pairs ff uml_fast_fault "$idle" touch=anon_touch_us fe=fork_exec_ms
	ab touch.ff.on/off ff.on.touch ff.off.touch us 1
	ab fork_exec.ff.on/off ff.on.fe ff.off.fe ms 1
	ab hello.ff.on/off ff.on.hello ff.off.hello ms 1000
	ab java.ff.on/off ff.on.java ff.off.java s 1
	ab mem.ff.on/off ff.on.mem ff.off.mem MiB 0.00000095367431640625
	hooks_sbx_end
}

# While a pre-booted guest idles, the host faults in its RAM (patch 0006,
# --populate-ram). Idle long enough for a host that hands free memory
# back to its hypervisor to have done so, as between two tasks of a
# quiet instance.
bench_populate() {
	hooks_sbx_begin
	idle=${POPULATE_IDLE_MS:-6000}
	echo "bench: == populate: pre-booted guest idle ${idle} ms, RAM faulted in by the host meanwhile (--populate-ram on, ours) vs at first touch (off, previous): $HELLO run, $JAVA total, memory, $RUNS runs each, interleaved, through $sbx"
	preboot_ab pop "$idle" "--populate-ram on" "--populate-ram off"
	ab hello.pop.on/off pop.on.hello pop.off.hello ms 1000
	ab java.pop.on/off pop.on.java pop.off.java s 1
	ab mem.pop.on/off pop.on.mem pop.off.mem MiB 0.00000095367431640625
	hooks_sbx_end
}

# Every first touch of guest RAM is a host shmem fault; on huge pages a
# fault fills 2 MiB. What it saves at boot and in a task, and what it adds
# to the host's memory peak.
bench_huge() {
	[ "$(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled 2>/dev/null)" != "" ] ||
		{ echo "bench: huge n/a: this host kernel has no transparent huge pages"; return 0; }
	echo "bench: == huge: guest RAM on huge pages (--huge-pages on) vs 4 KiB pages (off): boot, trivial task, $HELLO, $JAVA, $RUNS runs each, interleaved (host switch: $(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled))"
	series_reset huge.on.boot huge.off.boot huge.on.trivial huge.off.trivial \
	    huge.on.hello huge.off.hello huge.on.java huge.off.java huge.on.mem huge.off.mem
	# Boots first, back to back as in a pool's steady state: on a VM host
	# that hands freed memory back to its hypervisor (free page reporting),
	# the first touches after a big task's memory was freed pay the
	# hypervisor's faults in either mode, and the tasks below measure that.
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		for mode in on off; do
			guest "$DATA/run.json" --huge-pages "$mode" "$TASKS/trivial"
			series_add "huge.$mode.boot" "$(field "$DATA/run.json" .time.boot)"
			series_add "huge.$mode.trivial" "$(field "$DATA/run.json" .time.total)"
		done
	done
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		for mode in on off; do
			hello_java "huge.$mode" --huge-pages "$mode"
		done
	done
	ab boot.huge/4k huge.on.boot huge.off.boot ms 1000
	budget huge.on.boot "$(median huge.on.boot | awk '{ print $1 * 1000 }')" 100 "median ms"
	ab trivial.huge/4k huge.on.trivial huge.off.trivial ms 1000
	ab hello.run.huge/4k huge.on.hello huge.off.hello ms 1000
	ab java.total.huge/4k huge.on.java huge.off.java s
	ab mem.huge/4k huge.on.mem huge.off.mem MiB 0.00000095367431640625
}

# The jail and the host filter cost nothing measurable if the seccomp
# action cache answers UML's calls and a few mounts before the exec are
# cheap: the shipped sandbox-run has no switch to turn them off (on
# purpose), so the "off" side is the test-hooks build of the same sources.
bench_jail() {
	sbx_on=$SBX
	sbx_off=$B/tests/sandbox-run-test
	[ -x "$sbx_off" ] || die "$sbx_off missing (run through make: make bench)"
	echo "bench: == jail: $HELLO and $JAVA with the UML process's jail and host filter ($sbx_on) vs without ($sbx_off --no-jail), $RUNS runs each, interleaved"
	series_reset jail.on.hello.total jail.on.hello.run jail.on.hello.cpu \
	    jail.off.hello.total jail.off.hello.run jail.off.hello.cpu \
	    jail.on.java.total jail.on.java.run jail.on.java.cpu \
	    jail.off.java.total jail.off.java.run jail.off.java.cpu
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		for mode in on off; do
			# The test build looks for the images next to itself
			# (build/tests/) unless told.
			if [ "$mode" = on ]; then SBX=$sbx_on opt=""; else SBX=$sbx_off opt="--no-jail --images $B"; fi
			# shellcheck disable=SC2086
			guest "$DATA/run.json" $opt "$HELLO"
			series_add "jail.$mode.hello.total" "$(field "$DATA/run.json" .time.total)"
			series_add "jail.$mode.hello.run" "$(field "$DATA/run.json" .time.run)"
			series_add "jail.$mode.hello.cpu" "$(cpu "$DATA/run.json")"
			# shellcheck disable=SC2086
			guest_java "$mode" $opt
			series_add "jail.$mode.java.total" "$(field "$DATA/run.json" .time.total)"
			series_add "jail.$mode.java.run" "$(field "$DATA/run.json" .time.run)"
			series_add "jail.$mode.java.cpu" "$(cpu "$DATA/run.json")"
		done
	done
	SBX=$sbx_on
	for ex in hello java; do
		for what in total run cpu; do
			report "jail.on.$ex.$what" s
			report "jail.off.$ex.$what" s
			ratio "$ex.$what.jail/nojail" "jail.on.$ex.$what" "jail.off.$ex.$what"
		done
	done
}

# A sandboxd for the preboot section: its pid in $DATA/sbd-NAME.pid, its
# port (the OS picks it) printed.
sandboxd_start() {
	name=$1
	shift
	work=$(cd "$B" && pwd)/bench/sbd-$name
	rm -rf "$work"
	mkdir -p "$work"
	chmod 0755 "$work"
	"$B/sandboxd" --port 0 --work-dir "$work" --images-dir "$B" "$@" > "$work.log" 2>&1 &
	echo $! > "$DATA/sbd-$name.pid"
	k=0
	while ! port=$(sed -n 's/.*listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$work.log") || [ -z "$port" ]; do
		k=$((k + 1))
		[ "$k" -lt 100 ] || die "sandboxd $name did not start: $(tail -n 3 "$work.log")"
		sleep 0.1
	done
	echo "$port"
}

sandboxd_stop() {
	pid=$(cat "$DATA/sbd-$1.pid")
	kill -TERM "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do
		sleep 0.1
	done
}

# post_wait PORT TAR OUT.json: POST with wait=1; OUT.json.curl gets curl's
# time from the request's start to the answer's end.
post_wait() {
	curl -s -o "$3" -w '%{time_total}\n' -F "file=@$2" -F wait=1 "http://127.0.0.1:$1/" > "$3.curl" ||
		die "POST to sandboxd on port $1"
	[ "$(jq -r .status "$3")" = finished ] || die "sandboxd on port $1: $(head -c 300 "$3")"
}

bench_preboot() {
	cpu=$(awk '{ print $39 }' /proc/self/stat)
	echo "bench: == preboot: trivial task (exit 0), a guest booted ahead vs a fresh boot, $RUNS runs each, interleaved, Scout on, --cpu $cpu"
	series_reset pb.sr.start nopb.sr.start pb.sr.total nopb.sr.total \
	    pb.http.result nopb.http.result pb.http.start nopb.http.start pb.http.intake nopb.http.intake \
	    pb.http.run nopb.http.run pb.http.after nopb.http.after \
	    nosp.http.result nosp.http.intake nosp.http.start nosp.http.run nosp.http.after
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		guest "$DATA/run.json" --cpu "$cpu" --preboot "$TASKS/trivial"
		series_add pb.sr.start "$(field "$DATA/run.json" .time.boot)"
		series_add pb.sr.total "$(field "$DATA/run.json" .time.total)"
		guest "$DATA/run.json" --cpu "$cpu" "$TASKS/trivial"
		series_add nopb.sr.start "$(field "$DATA/run.json" .time.boot)"
		series_add nopb.sr.total "$(field "$DATA/run.json" .time.total)"
	done
	report pb.sr.start ms 1000
	report nopb.sr.start ms 1000
	echo "bench:    (sandbox-run: start = delivery to 'tmc-init: run' with --preboot, launch to 'tmc-init: run' without; total = from there to power-off)"
	report pb.sr.total ms 1000
	report nopb.sr.total ms 1000

	tar=$DATA/trivial.tar
	tar -C "$TASKS/trivial" -cf "$tar" tmc-run
	port_pb=$(sandboxd_start pb --preboot on --cpu "$cpu")
	port_nopb=$(sandboxd_start nopb --preboot off --cpu "$cpu")
	port_nosp=$(sandboxd_start nosp --preboot on --spare-unpack off --cpu "$cpu")
	trap 'sandboxd_stop pb; sandboxd_stop nopb; sandboxd_stop nosp; loadavg end' EXIT
	# One warm-up each (page cache), then alternate; the pause lets the
	# pre-booting instance have its next guest ready, as an idle one would.
	post_wait "$port_pb" "$tar" "$DATA/http.json"
	post_wait "$port_nopb" "$tar" "$DATA/http.json"
	post_wait "$port_nosp" "$tar" "$DATA/http.json"
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		i=$((i + 1))
		for mode in pb nopb nosp; do
			sleep 2
			case $mode in
			pb) port=$port_pb ;;
			nopb) port=$port_nopb ;;
			nosp) port=$port_nosp ;;
			esac
			post_wait "$port" "$tar" "$DATA/http.json"
			series_add "$mode.http.result" "$(cat "$DATA/http.json.curl")"
			series_add "$mode.http.intake" "$(field "$DATA/http.json" .time.intake)"
			series_add "$mode.http.start" "$(jq -r '.time.intake + .time.boot' "$DATA/http.json")"
			series_add "$mode.http.run" "$(field "$DATA/http.json" .time.run)"
			series_add "$mode.http.after" "$(jq -r --argjson c "$(cat "$DATA/http.json.curl")" \
			    '$c - .time.intake - .time.total' "$DATA/http.json")"
		done
	done
	sandboxd_stop pb
	sandboxd_stop nopb
	sandboxd_stop nosp
	trap 'loadavg end' EXIT
	report pb.http.result ms 1000
	report nopb.http.result ms 1000
	ratio http.result.pb/nopb pb.http.result nopb.http.result
	budget pb.http.result "$(median pb.http.result | awk '{ print $1 * 1000 }')" 60 "median ms"
	report pb.http.start ms 1000
	report nopb.http.start ms 1000
	ratio http.start.pb/nopb pb.http.start nopb.http.start
	report pb.http.intake ms 1000
	report nopb.http.intake ms 1000
	report pb.http.run ms 1000
	report nopb.http.run ms 1000
	report pb.http.after ms 1000
	report nopb.http.after ms 1000
	echo "bench:    (nosp: pre-boot on, --spare-unpack off: each tmc-unpack is exec'd on the task's clock)"
	report nosp.http.result ms 1000
	ratio http.result.spare/nospare pb.http.result nosp.http.result
	report nosp.http.intake ms 1000
	ratio http.intake.spare/nospare pb.http.intake nosp.http.intake
	report nosp.http.after ms 1000
	ratio http.after.spare/nospare pb.http.after nosp.http.after
	report nosp.http.run ms 1000
	echo "bench:    (result = curl's POST with wait=1 to the answer; start = time.intake + time.boot: the end of the upload to 'tmc-init: run'; intake = upload validated by tmc-unpack, to the guest's launch or delivery; run = time.run; after = result - intake - time.total: the upload, and after the power-off the teardown, output.tar read by tmc-unpack, the answer)"
}

# --- Main -----------------------------------------------------------------------

loadavg() {
	echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg) ($1; other work on this machine makes figures noisy)"
}

make_tasks
loadavg start
bench_machine
trap 'loadavg end' EXIT
if [ "${1-}" = variant ]; then
	[ $# -ge 3 ] || die "usage: $0 variant NAME KERNEL | variant NAME -- SANDBOX-RUN-OPTION..."
	name=$2
	if [ "$3" = -- ]; then
		shift 3
	else
		[ -x "$3" ] || die "variant $name: kernel $3 missing"
		set -- --kernel "$3"
	fi
	bench_variant "$name" "$@"
	exit 0
fi
ALL_SECTIONS="boot initrd hello proc java jvm maven fpu scout gcc memory pin huge faultaround anonaround clock fastfault prewarm jail preboot populate previous"
# shellcheck disable=SC2086
[ $# -gt 0 ] || set -- $ALL_SECTIONS
start=$(date +%s)
for section in "$@"; do
	case $section in
	boot) bench_boot ;;
	initrd) bench_initrd ;;
	hello) bench_hello ;;
	proc) bench_proc ;;
	scout) bench_scout ;;
	gcc) bench_gcc ;;
	memory) bench_memory ;;
	java) bench_java ;;
	pin) bench_pin ;;
	huge) bench_huge ;;
	faultaround) bench_faultaround ;;
	anonaround) bench_anonaround ;;
	clock) bench_clock ;;
	fastfault) bench_fastfault ;;
	prewarm) bench_prewarm ;;
	jail) bench_jail ;;
	preboot) bench_preboot ;;
	populate) bench_populate ;;
	jvm) bench_jvm ;;
	maven) bench_maven ;;
	fpu) bench_fpu ;;
	previous) bench_previous ;;
	*) die "unknown section $section ($ALL_SECTIONS)" ;;
	esac
done
echo "bench: == done: $* in $(($(date +%s) - start)) s"
