# lib.sh: what the msg integration tests share (sourced, POSIX sh).
# Starts nodes in a private temp folder, waits by polling with a bound,
# and kills everything it started on exit.
set -u
BT=${BT:?BT must name the bt binary}
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log "$tmp"/*.err; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
	done
	exit 1
}

# wait_until CMD...: poll CMD every 50 ms for at most 20 s.
wait_until() {
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -gt 400 ] && return 1
		sleep 0.05
	done
	return 0
}

# start_node NAME: bt node with data in $tmp/NAME, on 127.0.0.1:0 and a
# unix socket; sets NODE_PID, NODE_PATH, NODE_TCP, NODE_UNIX.
start_node() {
	d=$tmp/$1
	rm -f "$d/node.json"
	"$BT" node --data-dir "$d" --listen 127.0.0.1:0 \
	    --listen "unix:$d/node.sock" >>"$tmp/$1.log" 2>&1 &
	NODE_PID=$!
	pids="$pids $NODE_PID"
	wait_until test -s "$d/node.json" || fail "node $1 did not start"
	NODE_PATH=$(sed -n 's/.*"path": *"\([^"]*\)".*/\1/p' "$d/node.json")
	NODE_TCP=$(grep -o '"127\.0\.0\.1:[0-9]*"' "$d/node.json" | tr -d '"')
	NODE_UNIX=unix:$d/node.sock
	NODE_DIR=$d
}

# lines FILE: number of lines in FILE (0 if missing).
lines() { [ -f "$1" ] && wc -l <"$1" | tr -d ' ' || echo 0; }
