#!/bin/sh
# gen-site.sh: writes the nginx site for a pool of sandboxd instances from
# tmc-sandbox.conf.in (and, with -s, a private nginx.conf around it).
#
#   gen-site.sh [options] ADDR...          the site on stdout
#   gen-site.sh -s DIR [options] ADDR...   DIR/nginx.conf + DIR/site.conf
#
# ADDR is host:port of one sandboxd; the i-th becomes /sandbox/i/ and a
# member of the pool, in the order given. Instances on other machines are
# named by their address like local ones.
#
# Options:
#   -l LISTEN    nginx listen argument (default 127.0.0.1:8080)
#   -n NAME      server_name (default _)
#   -w DIR       web root holding the status page (default: web/status
#                next to this script, or the installed share dir)
#   -p FILE      the shared proxy settings (default: tmc-sandbox-proxy.conf
#                next to this script)
#   -b SIZE      client_max_body_size (default 21m: sandboxd's 20M
#                --upload-cap plus multipart framing)
#   -s DIR       standalone: write DIR/nginx.conf and DIR/site.conf and
#                make DIR/logs, DIR/tmp (a private nginx: nginx -p DIR -c
#                DIR/nginx.conf)
#   -u USER      standalone: worker user (default: none given, i.e.
#                nginx's built-in default when started as root)
#   -W N         standalone: worker_processes (default 1)
#   -f           standalone: stay in the foreground (daemon off)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
listen=127.0.0.1:8080
name=_
webroot=
proxyconf=$here/tmc-sandbox-proxy.conf
bodymax=21m
standalone=
user=
workers=1
daemon=on

usage() {
	sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

while getopts l:n:w:p:b:s:u:W:fh opt; do
	case "$opt" in
	l) listen=$OPTARG ;;
	n) name=$OPTARG ;;
	w) webroot=$OPTARG ;;
	p) proxyconf=$OPTARG ;;
	b) bodymax=$OPTARG ;;
	s) standalone=$OPTARG ;;
	u) user=$OPTARG ;;
	W) workers=$OPTARG ;;
	f) daemon=off ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || usage

if [ -z "$webroot" ]; then
	if [ -d "$here/../status" ]; then
		webroot=$(cd "$here/../status" && pwd)
	else
		webroot=$here/status
	fi
fi
template=$here/tmc-sandbox.conf.in
[ -r "$template" ] || { echo "gen-site: no template $template" >&2; exit 1; }
[ -r "$proxyconf" ] || { echo "gen-site: no proxy settings $proxyconf" >&2; exit 1; }

# Every value lands in the nginx config: refuse anything that could end a
# directive or a quoted string there.
check() {
	case "$2" in
	'' | *[!A-Za-z0-9._:/\[\]@+-]*)
		echo "gen-site: $1 '$2': only letters, digits and . _ : / [ ] @ + - allowed" >&2
		exit 2 ;;
	esac
}
check listen "$listen"
check server_name "$name"
check "web root" "$webroot"
check "proxy settings" "$proxyconf"
check "body size" "$bodymax"
for addr in "$@"; do
	check address "$addr"
	case "$addr" in
	*:[0-9]*) ;;
	*) echo "gen-site: address '$addr' is not host:port" >&2; exit 2 ;;
	esac
done

nl='
'
servers='' locations='' routes='' includes='' json='' i=0
for addr in "$@"; do
	i=$((i + 1))
	servers="$servers    server $addr max_fails=0;$nl"
	locations="$locations    location /sandbox/$i/ {$nl        proxy_pass http://$addr/;$nl        include $proxyconf;$nl        proxy_next_upstream off;$nl    }$nl"
	routes="$routes        location = /pool-status-instance/$i {$nl            proxy_pass http://$addr/status.json;$nl        }$nl"
	if [ "$i" -gt 1 ]; then includes="$includes," json="$json,"; fi
	includes="$includes<!--# include virtual=\"/pool-status-instance/$i\" stub=\"down\" -->"
	json="$json{\"name\":\"$i\",\"url\":\"/sandbox/$i/\"}"
done

# Multi-line values go through awk (sed cannot take newlines portably).
render_site() {
	SERVERS=$servers LOCATIONS=$locations ROUTES=$routes INCLUDES=$includes \
	JSON="{\"instances\":[$json]}" awk \
	    -v listen="$listen" -v name="$name" -v webroot="$webroot" \
	    -v proxyconf="$proxyconf" -v bodymax="$bodymax" -v count="$i" '
	function put(s) { printf "%s", s }
	$0 == "@UPSTREAM_SERVERS@" { put(ENVIRON["SERVERS"]); next }
	$0 == "@INSTANCE_LOCATIONS@" { put(ENVIRON["LOCATIONS"]); next }
	$0 == "@STATUS_ROUTES@" { put(ENVIRON["ROUTES"]); next }
	{
		gsub(/@LISTEN@/, listen); gsub(/@SERVER_NAME@/, name)
		gsub(/@WEB_ROOT@/, webroot); gsub(/@PROXY_CONF@/, proxyconf)
		gsub(/@BODY_MAX@/, bodymax); gsub(/@COUNT@/, count)
		line = $0
		if (index(line, "@INSTANCES_JSON@")) {
			n = index(line, "@INSTANCES_JSON@")
			line = substr(line, 1, n - 1) ENVIRON["JSON"] substr(line, n + 16)
		}
		if (index(line, "@STATUS_INCLUDES@")) {
			n = index(line, "@STATUS_INCLUDES@")
			line = substr(line, 1, n - 1) ENVIRON["INCLUDES"] substr(line, n + 17)
		}
		print line
	}' "$template"
}

if [ -z "$standalone" ]; then
	render_site
	exit 0
fi

check "standalone dir" "$standalone"
mkdir -p "$standalone/logs" "$standalone/tmp"
standalone=$(cd "$standalone" && pwd)
render_site >"$standalone/site.conf"
userline="# no user directive: nginx's default applies"
if [ -n "$user" ]; then
	check user "$user"
	userline="user $user;"
fi
sed -e "s|@PREFIX@|$standalone|g" -e "s|@USER_LINE@|$userline|" \
    -e "s|@WORKERS@|$workers|" -e "s|@DAEMON@|$daemon|" \
    "$here/nginx-standalone.conf.in" >"$standalone/nginx.conf"
echo "gen-site: wrote $standalone/nginx.conf and $standalone/site.conf ($i instance(s))" >&2
