#!/bin/sh
# options_test.sh: the man pages and --help agree. Every option that
# `sandboxd --help` lists is in sandboxd(8), and every option sandboxd(8)
# documents is in --help; the same for sandbox-run and sandbox-run(1); and
# tmc-sandbox.conf(5) documents exactly sandboxd's settings (its long
# options but config, help and version). Reads the built roff pages, so
# that it checks what man shows, not the scdoc source. Every page given
# (man/module.mk passes MAN_PAGES) must also render without groff warnings.
#
#   tests/man/options_test.sh BUILD_DIR PAGE...
#
# An option added to a program fails this test until its page has it: a
# term line (`*--name* _ARG_` in the .scd) in the page's OPTIONS section,
# or `*name* = _ARG_` in tmc-sandbox.conf(5)'s SETTINGS.
set -eu

build=${1:?usage: options_test.sh BUILD_DIR PAGE...}
shift
[ $# -gt 0 ] || { echo "usage: options_test.sh BUILD_DIR PAGE..."; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/man-options.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0

# The option column of --help: each line that starts (after blanks) with a
# dash, up to the first run of two blanks; every -x / --name token in it.
help_options() {
	"$1" --help 2>&1 | sed -n 's/^[[:space:]]*\(-.*\)$/\1/p' | sed 's/  .*//' |
	    grep -oE '(^|[ ,])--?[A-Za-z][A-Za-z0-9-]*' | sed 's/^[ ,]*//' | sort -u
}

# The term lines of a roff page from scdoc: the line before each `.RS 4`,
# font escapes removed; with SECTION, only the terms of that .SH section.
terms() {
	awk -v sect="${2:-}" '
	/^\.SH / { cur = substr($0, 5); next }
	/^\.RS 4$/ { if (prev != "" && (sect == "" || cur == sect)) print prev; next }
	{ prev = $0 }' "$1" | sed -e 's/\\f[BIRP]//g' -e 's/\\&//g' -e 's/\\-/-/g'
}

page_options() {
	terms "$1" OPTIONS | grep -E '^-' |
	    grep -oE '(^|[ ,])--?[A-Za-z][A-Za-z0-9-]*' | sed 's/^[ ,]*//' | sort -u
}

# $1 what, $2 file from --help, $3 file from the page.
compare() {
	nhelp=$(wc -l < "$2")
	npage=$(wc -l < "$3")
	# A parse that found (next to) nothing would make the comparison
	# pass vacuously.
	if [ "$nhelp" -lt 5 ] || [ "$npage" -lt 5 ]; then
		echo "man-test: $1: only $nhelp options from --help and $npage from the page: the parse is broken"
		failed=1
		return
	fi
	missing=$(comm -23 "$2" "$3" | tr '\n' ' ')
	extra=$(comm -13 "$2" "$3" | tr '\n' ' ')
	if [ -n "$missing" ]; then
		echo "man-test: $1: in --help but not in the page: $missing"
		failed=1
	fi
	if [ -n "$extra" ]; then
		echo "man-test: $1: in the page but not in --help: $extra"
		failed=1
	fi
	[ -z "$missing$extra" ] && echo "man-test: $1: $nhelp options, the same in --help and the page"
	return 0
}

for f in "$build/sandboxd" "$build/sandbox-run" "$build/man/sandboxd.8" \
    "$build/man/sandbox-run.1" "$build/man/tmc-sandbox.conf.5"; do
	[ -s "$f" ] || { echo "man-test: $f missing (make man programs)"; exit 1; }
done

help_options "$build/sandboxd" > "$work/sandboxd.help"
page_options "$build/man/sandboxd.8" > "$work/sandboxd.page"
compare "sandboxd(8)" "$work/sandboxd.help" "$work/sandboxd.page"

help_options "$build/sandbox-run" > "$work/sandbox-run.help"
page_options "$build/man/sandbox-run.1" > "$work/sandbox-run.page"
compare "sandbox-run(1)" "$work/sandbox-run.help" "$work/sandbox-run.page"

# Settings: the long options a config file may set.
grep -E '^--' "$work/sandboxd.help" | sed 's/^--//' |
    grep -vxE 'config|help|version' > "$work/conf.help"
terms "$build/man/tmc-sandbox.conf.5" SETTINGS | awk '{ print $1 }' | sort -u > "$work/conf.page"
compare "tmc-sandbox.conf(5)" "$work/conf.help" "$work/conf.page"

# Each page renders without groff warnings (what lintian checks too).
for p in "$@"; do
	[ -s "$build/man/$p" ] || { echo "man-test: $build/man/$p missing (make man)"; exit 1; }
	warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$build/man/$p" 2>&1 >/dev/null || true)
	if [ -n "$warn" ]; then
		echo "man-test: $p: groff warnings: $warn"
		failed=1
	fi
done

[ "$failed" -eq 0 ] || { echo "man-test: FAILED"; exit 1; }
echo "man-test: passed"
