#!/bin/sh
# node.start: `bt node` makes its identity on first start, writes node.json,
# stops cleanly on SIGINT, reuses the identity on the next start and refuses
# a damaged one.
set -u
BT=${BT:?BT must name the bt binary}
tmp=$(mktemp -d)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/log" ] && cat "$tmp/log" >&2; exit 1; }

d=$tmp/data
start() {
	rm -f "$d/node.json"
	"$BT" node --data-dir "$d" --listen 127.0.0.1:0 \
	    --listen "unix:$tmp/n.sock" >"$tmp/log" 2>&1 &
	pid=$!
	i=0
	while [ ! -s "$d/node.json" ]; do
		kill -0 "$pid" 2>/dev/null || fail "bt node exited early"
		i=$((i + 1))
		[ $i -gt 400 ] && fail "no node.json after 20 s"
		sleep 0.05
	done
}
stop() {
	kill -INT "$pid"
	wait "$pid"
	rc=$?
	pid=""
	[ $rc -eq 0 ] || fail "bt node exited $rc on SIGINT"
	grep -q "stopped" "$tmp/log" || fail "no 'stopped' in the log"
}
node_path() {
	sed -n 's/.*"path": *"\([^"]*\)".*/\1/p' "$d/node.json"
}

start
for f in root.key node.key node.cred; do
	[ -f "$d/$f" ] || fail "$f missing"
	m=$(stat -c %a "$d/$f")
	[ "$m" = 600 ] || fail "$f has mode $m, want 600"
done
p1=$(node_path)
echo "$p1" | grep -Eq '^/[A-Za-z0-9_-]{43}/node$' || fail "bad path '$p1'"
grep -q '"listen"' "$d/node.json" || fail "node.json has no listen"
if "$BT" cred verify --help >/dev/null 2>&1; then
	"$BT" cred verify "$d/node.cred" --path "$p1" ||
	    fail "node.cred does not verify for $p1"
else
	head -1 "$d/node.cred" | grep -q '^bt-cred 1$' ||
	    fail "node.cred is not a credential file"
fi
stop

# The second start reuses the identity.
start
p2=$(node_path)
[ "$p1" = "$p2" ] || fail "path changed from $p1 to $p2"
grep -q "reusing" "$tmp/log" || fail "second start did not reuse"
stop

# SIGTERM stops it too.
start
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=""
[ $rc -eq 0 ] || fail "exit $rc on SIGTERM"

# A damaged credential is refused with a clear error.
cp "$d/node.cred" "$tmp/cred.bak"
printf 'bt-cred 1\nAAAA\n' >"$d/node.cred"
"$BT" node --data-dir "$d" --listen 127.0.0.1:0 >"$tmp/log" 2>&1 &
pid=$!
wait "$pid"; rc=$?; pid=""
[ $rc -eq 1 ] || fail "damaged node.cred: exit $rc, want 1"
grep -q "node.cred" "$tmp/log" || fail "error does not name node.cred"

# A missing file of the three is refused too.
cp "$tmp/cred.bak" "$d/node.cred"
rm "$d/node.key"
"$BT" node --data-dir "$d" --listen 127.0.0.1:0 >"$tmp/log" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "incomplete identity: exit $rc, want 1"
echo "ok"
