#!/bin/sh
# msg.route: node A routes B's paths to B (from --route, and from the JSON
# "routes" of a config file) and forwards calls, sends and publications.
. "$(dirname "$0")/lib.sh"

start_node b
b_path=$NODE_PATH; b_unix=$NODE_UNIX; b_pid=$NODE_PID
b_root=${b_path%/node}

# A gets its route from a JSON config file.
printf '{ "routes": ["%s=%s"] }\n' "$b_root" "$b_unix" >"$tmp/a.json"
d=$tmp/a
"$BT" node --config "$tmp/a.json" --data-dir "$d" --listen 127.0.0.1:0 \
    >"$tmp/a.log" 2>&1 &
a_pid=$!
pids="$pids $a_pid"
wait_until test -s "$d/node.json" || fail "node a did not start"
a_tcp=$(grep -o '"127\.0\.0\.1:[0-9]*"' "$d/node.json" | tr -d '"')
grep -q "route $b_root=" "$tmp/a.log" || fail "a did not take the route"

# A call for B's echo, sent to A, is forwarded to B.
out=$("$BT" msg call "$b_path/echo" --to "$a_tcp" --data "via a") ||
    fail "forwarded call"
[ "$out" = "via a" ] || fail "forwarded echo gave '$out'"

# A publication to B's topic, sent to A, reaches B's subscriber.
"$BT" msg sub "$b_path/topics/x" --to "$b_unix" --count 1 \
    >"$tmp/sub.out" 2>"$tmp/sub.err" &
sp=$!
pids="$pids $sp"
wait_until grep -q subscribed "$tmp/sub.err" || fail "sub did not start"
"$BT" msg pub "$b_path/topics/x" --to "$a_tcp" --data "through a" ||
    fail "pub via a"
wait "$sp" || fail "sub exited $?"
[ "$(cat "$tmp/sub.out")" = "through a" ] || fail "sub got $(cat "$tmp/sub.out")"

# A path nobody routes: A answers at once.
if "$BT" msg call "/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/x" \
    --to "$a_tcp" --data x 2>"$tmp/noroute.err"; then
	fail "a call without a route succeeded"
fi
grep -q "no route" "$tmp/noroute.err" || fail "no 'no route' message"

# B goes away: the forwarded call fails with an error, not a hang.
kill -INT "$b_pid"; wait "$b_pid"
if "$BT" msg call "$b_path/echo" --to "$a_tcp" --data x --timeout 5s \
    2>"$tmp/down.err"; then
	fail "a call to a stopped node succeeded"
fi
kill -INT "$a_pid"; wait "$a_pid" || fail "node a exit $?"
echo ok
