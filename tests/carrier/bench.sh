#!/bin/sh
# bench.sh CARRIER BENCH_OPEN: one trapped open on the host, median of 5.
set -eu
carrier=$1
bench=$2
file=/etc/hostname
[ -r "$file" ] || file=/etc/passwd
median() { sort -n | sed -n 3p; }
native=$(for _ in 1 2 3 4 5; do "$bench" "$file" 2000; done | median)
scout=$(for _ in 1 2 3 4 5; do "$carrier" -- "$bench" "$file" 2000; done | median)
echo "scout: open+close of $file: native ${native} us, under carrier ${scout} us (median of 5 x 2000)"
