#!/bin/sh
# bench.sh CARRIER BENCH_OPEN: one trapped open on the host, median of 5.
# As root it also measures the configuration of the guest, where the task
# never is root: --uid 65534 (the supervisor then opens as the task, and
# the name cache is on).
set -eu
carrier=$(realpath "$1")
bench=$(realpath "$2")
file=/etc/hostname
[ -r "$file" ] || file=/etc/passwd
median() { sort -n | sed -n 3p; }
native=$(for _ in 1 2 3 4 5; do "$bench" "$file" 2000; done | median)
scout=$(for _ in 1 2 3 4 5; do "$carrier" -- "$bench" "$file" 2000; done | median)
echo "scout: open+close of $file: native ${native} us, under carrier ${scout} us (median of 5 x 2000)"
if [ "$(id -u)" -eq 0 ]; then
	dir=$(mktemp -d /tmp/scout-bench.XXXXXX)
	trap 'rm -rf "$dir"' EXIT INT TERM
	chmod 755 "$dir"
	cp "$bench" "$dir/bench_open"
	task=$(for _ in 1 2 3 4 5; do
		(cd "$dir" && "$carrier" --uid 65534 --gid 65534 -- ./bench_open "$file" 2000)
	done | median)
	echo "scout: the same with the task as 65534: ${task} us (median of 5 x 2000)"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
