#!/bin/sh
# msg.restart: a subscriber reconnects and resubscribes by itself when its
# node restarts; calls work again after the restart.
. "$(dirname "$0")/lib.sh"

start_node n
topic=$NODE_PATH/topics/t
"$BT" msg sub "$topic" --to "$NODE_UNIX" >"$tmp/sub.out" 2>"$tmp/sub.err" &
sp=$!
pids="$pids $sp"
wait_until grep -q subscribed "$tmp/sub.err" || fail "sub did not start"
"$BT" msg pub "$topic" --to "$NODE_UNIX" --data before || fail "pub before"
wait_until grep -q before "$tmp/sub.out" || fail "sub missed 'before'"

kill -INT "$NODE_PID"; wait "$NODE_PID" || fail "node exit $?"
start_node n
# Publications before the subscriber is back are lost (at most once), so
# keep publishing until one arrives.
got=0
i=0
while [ $i -lt 200 ]; do
	"$BT" msg pub "$topic" --to "$NODE_UNIX" --data "after" 2>/dev/null
	if grep -q after "$tmp/sub.out"; then got=1; break; fi
	i=$((i + 1))
	sleep 0.1
done
[ $got -eq 1 ] || fail "the subscriber did not come back"
kill -0 "$sp" || fail "the subscriber exited"
out=$("$BT" msg call "$NODE_PATH/echo" --to "$NODE_UNIX" --data again) ||
    fail "call after restart"
[ "$out" = again ] || fail "echo gave '$out'"
kill -INT "$sp"; wait "$sp" || fail "sub exit $?"
kill -INT "$NODE_PID"; wait "$NODE_PID" || fail "node exit $?"
echo ok
