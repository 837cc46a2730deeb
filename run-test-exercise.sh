#!/bin/sh
# Runs one exercise directory (default: the sample C exercise) through the
# sandbox and prints the result JSON. Installs missing Debian packages and
# builds whatever is missing first, so it works as the first command on a
# fresh Debian 12 machine.
#
#   ./run-test-exercise.sh [DIR] [sandbox-run options...]
set -eu

top=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$top/tests/exercises/c-hello}
[ $# -gt 0 ] && shift
case "$dir" in
/*) ;;
*) dir="$(pwd)/$dir" ;;
esac
[ -x "$dir/tmc-run" ] || { echo "run-test-exercise: $dir has no executable tmc-run" >&2; exit 2; }

make -s -C "$top" deps >&2
make -s -C "$top" all >&2
exec "$top/build/sandbox-run" --images "$top/build" "$@" "$dir"
