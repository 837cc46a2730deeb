#!/bin/sh
# rootfs/java/setup.sh TREE: the Java and Maven part of a rootfs build (a
# customize hook of rootfs/build.sh; a profile without a JDK is left as it
# is). A step that fails fails the rootfs build.
#
#  1. Maven (if installed): global settings (settings.xml: Debian's
#     /usr/share/maven-repo as the local repository and as the file://
#     mirror of every remote one, so no network is ever tried), whose
#     directories the task user may write to (the guest's overlay puts
#     what it writes on the ramdisk); JVM options for Maven's own JVM in
#     /etc/mavenrc.
#  2. The sample project (rootfs/java/sample) is compiled by javac, its
#     tests run by JUnitCore and, with Maven, built by `mvn test`, all as
#     the task user with no network; each JVM records the classes it loads.
#     So a build also proves that a pinned POM resolves offline.
#  3. The JDK's default CDS archive (lib/server/classes.jsa) is dumped
#     again from the JDK's own class list plus the recorded ones: every
#     java and javac in the guest maps javac's, JUnit's and Maven's JDK
#     classes with no flag. Classes from jars (JUnit's, Maven's) cannot be
#     in the default archive: a class path there must match the run's,
#     or the JVM maps no archive at all.
#  4. The guest's JVM defaults: the JDK's bin/java and bin/javac become
#     bin/java.real and bin/javac.real behind scripts that add
#     -XX:-UsePerfData -XX:-UseContainerSupport, and for javac also C1 only
#     (-J-XX:TieredStopAtLevel=1).
#     With perf data on, HotSpot times every class load, link and
#     verification: javac made 32,000 clock_gettime calls, a host round
#     trip each under UML, and the JUnit run 15,000 (java-junit 3.9 ->
#     2.9 s). What it turns off is the hsperfdata file that jstat and jps
#     read, which nothing in a grading guest uses. With container support
#     on, HotSpot reads the task cgroup's memory.current each time it
#     weighs another compiler thread: ~400 opens in java-junit, each one
#     trapped by Scout (1.96 vs 2.06 s pre-booted). The guest is the
#     container: off, the JVM sizes its heap from the guest's RAM (mem=)
#     instead of the task cgroup's cap a little below it, and sees the
#     guest's one CPU either way. javac is the JDK's own
#     code, not the task's: in a one-CPU guest C2 compiling javac takes the
#     CPU from javac, and C1 alone compiled a 400-class project in 11.0 s
#     against 20.5 s tiered (the sample: 0.85x). The task's own `java`
#     keeps tiered compilation (C2 for long tests). `make bench` section
#     jvm: junit-perfdata (the JDK's own launchers) and junit-javac-tiered.
#     The JDK has no options file a product build reads, and
#     JAVA_TOOL_OPTIONS or JDK_JAVA_OPTIONS would print a "Picked up" line
#     into every task's stderr; a task's own flags come later and win.
#     Every java on the PATH, Maven's JVM and surefire's forked one
#     (${java.home}/bin/java) go through them.
set -eu

tree=$1
here=$(cd "$(dirname "$0")" && pwd)

[ -L "$tree/usr/bin/java" ] || { echo "java-setup: no JDK in this profile"; exit 0; }
java=$(chroot "$tree" readlink -f /usr/bin/java)
jh=${java%/bin/java}
[ -x "$tree$jh/bin/javac" ] || { echo "java-setup: $jh has no javac" >&2; exit 1; }
maven=0
[ -x "$tree/usr/share/maven/bin/mvn" ] && maven=1

# The JVM needs /proc (its own maps, the launcher's $ORIGIN).
mounted=0
if [ ! -e "$tree/proc/self" ]; then
	mount -t proc proc "$tree/proc"
	mounted=1
fi
work=/tmp/tmc-java-setup
cleanup() {
	rm -rf "${tree:?}$work"
	[ "$mounted" = 0 ] || umount "$tree/proc"
}
trap cleanup EXIT

if [ "$maven" = 1 ]; then
	install -m 0644 "$here/settings.xml" "$tree/etc/maven/settings.xml"
	install -m 0644 "$here/mavenrc" "$tree/etc/mavenrc"
	find "$tree/usr/share/maven-repo" -type d -exec chown 1000:1000 {} +
fi

rm -rf "${tree:?}$work"
mkdir -p "$tree$work"
cp -r "$here/sample" "$tree$work/sample"
chown -R 1000:1000 "$tree$work"

# As the task user, as in the guest: HOME and the environment tmc-init gives.
as_task() {
	chroot --userspec=1000:1000 "$tree" env -i HOME="$work" PATH=/usr/local/bin:/usr/bin:/bin \
	    LANG=C.UTF-8 TMPDIR=/tmp "$@"
}
cp_junit=/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar
# -Xshare:off: classes mapped from an archive are not written to the list.
record="-Xshare:off -XX:DumpLoadedClassList"
record_j="-J-Xshare:off -J-XX:DumpLoadedClassList"
as_task sh -euc "
	cd $work/sample
	mkdir -p ../classes
	javac $record_j=../javac.classlist -d ../classes -cp $cp_junit \
	    src/main/java/sample/*.java src/test/java/sample/*.java
	java $record=../junit.classlist -cp ../classes:$cp_junit \
	    org.junit.runner.JUnitCore sample.InventoryTest > ../junit.out
	grep -q '^OK (5 tests)' ../junit.out
"
lists="$work/javac.classlist $work/junit.classlist"
if [ "$maven" = 1 ]; then
	stamp=$tree$work/stamp
	touch "$stamp"
	as_task sh -euc "
		cd $work/sample
		MAVEN_OPTS='$record=../maven.classlist' mvn -q test \
		    -DargLine='$record=$work/surefire.classlist' > ../mvn.out 2>&1 ||
			{ cat ../mvn.out >&2; exit 1; }
		grep -q 'Tests run: 5, Failures: 0, Errors: 0' target/surefire-reports/sample.InventoryTest.txt
	"
	echo "java-setup: mvn test of the sample passed offline; it wrote into the local repository:"
	find "$tree/usr/share/maven-repo" -newer "$stamp" ! -type d | sed "s|^$tree|java-setup:   |"
	lists="$lists $work/maven.classlist $work/surefire.classlist"
fi

# The JDK's own list first (its order is the start-up order), then ours;
# classes the dump cannot find in the runtime image are skipped by it.
chroot "$tree" sh -euc "cat $jh/lib/classlist $lists > $work/all.classlist"
echo "java-setup: class list $(wc -l < "$tree$work/all.classlist") lines ($(wc -l < "$tree$jh/lib/classlist") the JDK's)"
jsa=$jh/lib/server/classes.jsa
chroot "$tree" sh -euc "cd $work && $jh/bin/java -Xshare:dump -Xlog:cds=warning -Xlog:cds+map=off \
    -XX:SharedClassListFile=$work/all.classlist -XX:SharedArchiveFile=$jsa > $work/dump.out 2>&1" ||
	{ tail -n 30 "$tree$work/dump.out" >&2; exit 1; }
grep -c 'Preload Warning' "$tree$work/dump.out" | sed 's/^/java-setup: classes skipped by the dump (from jars): /' || true
echo "java-setup: $jsa $(du -k "$tree$jsa" | cut -f1) KiB"

# Checked as the guest uses it: no flag, the default archive, javac's
# classes from it.
as_task sh -euc "
	cd $work/sample
	java -Xshare:on -version > /dev/null 2>&1
	javac -J-Xlog:class+load=info -d ../classes2 -cp $cp_junit src/main/java/sample/*.java > ../javac.log
	grep 'com.sun.tools.javac.main.JavaCompiler source: shared objects file' ../javac.log > /dev/null
"
echo "java-setup: javac maps its classes from the default CDS archive"

for tool in java javac; do
	[ -x "$tree$jh/bin/$tool.real" ] || mv "$tree$jh/bin/$tool" "$tree$jh/bin/$tool.real"
	case $tool in
	java) flags="-XX:-UsePerfData -XX:-UseContainerSupport" ;;
	javac) flags="-J-XX:-UsePerfData -J-XX:-UseContainerSupport -J-XX:TieredStopAtLevel=1" ;;
	esac
	cat > "$tree$jh/bin/$tool" <<-EOF
	#!/bin/sh
	# The guest's defaults for every $tool (rootfs/java/setup.sh, step 4):
	# no perf data, whose timers cost a host round trip per clock read; no
	# container support, whose cgroup reads Scout traps (the guest is the
	# container); and javac, the JDK's own code, compiled by C1 only.
	exec $jh/bin/$tool.real $flags "\$@"
	EOF
	chmod 0755 "$tree$jh/bin/$tool"
done
as_task sh -euc "
	cd $work/sample
	java -XX:+PrintFlagsFinal -version 2>/dev/null | grep -q 'UsePerfData *= false'
	javac -J-XX:+PrintFlagsFinal -version 2>/dev/null | grep -q 'UsePerfData *= false'
	java -XX:+PrintFlagsFinal -version 2>/dev/null | grep -q 'UseContainerSupport *= false'
	javac -J-XX:+PrintFlagsFinal -version 2>/dev/null | grep -q 'UseContainerSupport *= false'
	javac -J-XX:+PrintFlagsFinal -version 2>/dev/null | grep -q 'TieredStopAtLevel *= 1 '
	java -XX:+PrintFlagsFinal -version 2>/dev/null | grep -q 'TieredStopAtLevel *= 4 '
	java -version 2>&1 | grep -q 'OpenJDK'
"
echo "java-setup: java and javac run with -XX:-UsePerfData -XX:-UseContainerSupport, javac C1 only ($jh/bin/{java,javac}.real behind them)"
