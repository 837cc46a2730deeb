#!/bin/sh
# Builds the layer of the java-maven-layer case as a course author would:
# compiles the course library, installs it into a fresh Maven repository
# directory with `mvn install:install-file`, and packs that directory with
# tools/make-layer. Host Maven runs without network: every plugin comes
# from Debian's /usr/share/maven-repo (packages maven and
# libmaven-install-plugin-java, see scripts/deps.sh) through a file://
# mirror, and its own local repository is scratch in WORK.
#
#   build-layer.sh WORK     (makes WORK/greeting.squashfs)
set -eu

work=$1
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)

mkdir -p "$work/lib-classes" "$work/repo"
# For the guest's JDK 17, whatever the host's javac is (Debian 13: 21).
javac --release 17 -d "$work/lib-classes" "$here/lib/fi/tmc/course/Greeting.java"
jar cf "$work/greeting-lib-1.0.jar" -C "$work/lib-classes" .
cat > "$work/settings.xml" <<XML
<settings>
  <localRepository>$work/m2</localRepository>
  <mirrors>
    <mirror><id>debian</id><mirrorOf>*</mirrorOf><url>file:///usr/share/maven-repo</url></mirror>
  </mirrors>
</settings>
XML
# The install plugin's version is the one Debian ships on this host.
plugin=/usr/share/maven-repo/org/apache/maven/plugins/maven-install-plugin
version=$(find "$plugin" -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' -printf '%f\n' | sort -V | tail -n 1)
[ -n "$version" ] || { echo "build-layer: no maven-install-plugin in $plugin" >&2; exit 1; }
mvn -s "$work/settings.xml" -q -B \
	"org.apache.maven.plugins:maven-install-plugin:$version:install-file" \
	-Dfile="$work/greeting-lib-1.0.jar" -DgroupId=fi.tmc.course -DartifactId=greeting-lib \
	-Dversion=1.0 -Dpackaging=jar -DlocalRepositoryPath="$work/repo"
"$top/tools/make-layer" "$work/repo" "$work/greeting.squashfs"
