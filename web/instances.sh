#!/bin/sh
# instances.sh: start, stop and show N sandboxd instances on a machine
# without systemd (what sandboxd@.service does with it). Instance i listens
# on 127.0.0.1:BASE+i-1 and has its own work dir DIR/PORT, log
# DIR/PORT.log and pid file DIR/PORT.pid. sandboxd does not daemonize:
# this script keeps it in the background and remembers its pid.
# Each instance runs its tasks on its own host CPU: sandboxd's default
# --cpu auto gives the instance on port P the (P mod n)-th of the n CPUs it
# may run on, so consecutive ports get consecutive CPUs (instance k, CPU k
# mod n); `-- --cpu none` turns that off (web/DEPLOYMENT.md, "CPUs").
#
#   instances.sh [options] start|stop|restart|status|addrs [-- sandboxd flags]
#
#   -n N        instances (default 2)
#   -b PORT     port of the first instance (default 8081)
#   -d DIR      state dir: work dirs, logs, pid files (default
#               /var/lib/tmc-sandbox; must be reachable by each instance's
#               UML uid, its uid slot's, so it is made 0755)
#   -c FILE     sandboxd --config FILE (default: the installed
#               sandboxd.conf when there is one)
#   -x PROG     the sandboxd binary (default: sandboxd on PATH, else the
#               build tree's build/sandboxd)
#   -w SECONDS  stop: how long to let a running task finish (default 240;
#               then SIGKILL, which sandboxd's spool survives)
#
# `addrs` prints the instances' host:port list for web/nginx/gen-site.sh.
# Run as root: sandboxd confines UML (a uid slot, namespaces, cgroup) only
# then.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
n=2
base=8081
dir=/var/lib/tmc-sandbox
config=''
prog=''
wait_s=240

usage() {
	sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

while getopts n:b:d:c:x:w:h opt; do
	case "$opt" in
	n) n=$OPTARG ;;
	b) base=$OPTARG ;;
	d) dir=$OPTARG ;;
	c) config=$OPTARG ;;
	x) prog=$OPTARG ;;
	w) wait_s=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
cmd=$1
shift
if [ "${1:-}" = "--" ]; then
	shift
fi

for v in "$n" "$base" "$wait_s"; do
	case "$v" in
	'' | *[!0-9]*) echo "instances.sh: '$v' is not a number" >&2; exit 2 ;;
	esac
done
if [ "$n" -lt 1 ] || [ $((base + n - 1)) -gt 65535 ]; then
	echo "instances.sh: bad -n/-b" >&2
	exit 2
fi

if [ -z "$prog" ]; then
	if command -v sandboxd >/dev/null 2>&1; then
		prog=$(command -v sandboxd)
	elif [ -x "$here/../build/sandboxd" ]; then
		prog=$(cd "$here/../build" && pwd)/sandboxd
	else
		echo "instances.sh: no sandboxd on PATH or in the build tree; give -x" >&2
		exit 1
	fi
fi
# The installed config, relative to an installed copy of this script
# (PREFIX/share/tmc-sandbox/web/instances.sh -> PREFIX/etc or /etc).
if [ -z "$config" ]; then
	for c in "$here/../../../etc/tmc-sandbox/sandboxd.conf" /etc/tmc-sandbox/sandboxd.conf; do
		if [ -r "$c" ]; then
			config=$c
			break
		fi
	done
fi

alive() {
	[ -r "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# busy|idle|no answer, from the instance's /status.json.
state() {
	if ! command -v curl >/dev/null 2>&1; then
		echo "unknown (no curl)"
		return
	fi
	s=$(curl -s --max-time 2 "http://127.0.0.1:$1/status.json" || true)
	case "$s" in
	*'"busy_instances":1'*) echo busy ;;
	*'"busy_instances":0'*) echo idle ;;
	*) echo "no answer" ;;
	esac
}

start_one() {
	port=$1
	shift
	pidf=$dir/$port.pid
	if alive "$pidf"; then
		echo "instance $port: already running (pid $(cat "$pidf"))"
		return 0
	fi
	mkdir -p "$dir/$port"
	chmod 0755 "$dir" "$dir/$port"
	set -- --port "$port" --work-dir "$dir/$port" --log "$dir/$port.log" "$@"
	[ -n "$config" ] && set -- --config "$config" "$@"
	nohup "$prog" "$@" </dev/null >>"$dir/$port.log" 2>&1 &
	echo $! >"$pidf"
	i=0
	while [ "$(state "$port")" = "no answer" ]; do
		i=$((i + 1))
		if ! alive "$pidf" || [ "$i" -gt 100 ]; then
			echo "instance $port: did not start; last lines of $dir/$port.log:" >&2
			tail -n 5 "$dir/$port.log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "instance $port: started (pid $(cat "$pidf"), log $dir/$port.log)"
}

stop_one() {
	port=$1
	pidf=$dir/$port.pid
	if ! alive "$pidf"; then
		echo "instance $port: not running"
		rm -f "$pidf"
		return 0
	fi
	pid=$(cat "$pidf")
	kill -TERM "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -gt $((wait_s * 10)) ]; then
			echo "instance $port: still draining after ${wait_s}s, SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	rm -f "$pidf"
	echo "instance $port: stopped"
}

rc=0
port=$base
last=$((base + n - 1))
case "$cmd" in
start | restart)
	if [ "$cmd" = restart ]; then
		while [ "$port" -le "$last" ]; do
			stop_one "$port"
			port=$((port + 1))
		done
		port=$base
	fi
	while [ "$port" -le "$last" ]; do
		start_one "$port" "$@" || rc=1
		port=$((port + 1))
	done ;;
stop)
	# All at once: each drains its own task in parallel.
	while [ "$port" -le "$last" ]; do
		stop_one "$port" &
		port=$((port + 1))
	done
	wait ;;
status)
	while [ "$port" -le "$last" ]; do
		if alive "$dir/$port.pid"; then
			echo "instance $port: running (pid $(cat "$dir/$port.pid")), $(state "$port")"
		else
			echo "instance $port: not running"
			rc=3
		fi
		port=$((port + 1))
	done ;;
addrs)
	while [ "$port" -le "$last" ]; do
		printf '127.0.0.1:%s\n' "$port"
		port=$((port + 1))
	done ;;
*)
	usage ;;
esac
exit "$rc"
