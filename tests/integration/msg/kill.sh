#!/bin/sh
# msg.kill: a service killed while it holds a call: the caller gets an
# error by its deadline (here at once, when the node sees the connection
# drop), never a hang.
. "$(dirname "$0")/lib.sh"

start_node n
svc=$NODE_PATH/slow
"$BT" key new -o "$tmp/s.key" >/dev/null || fail "key new"
"$BT" cred issue --key "$NODE_DIR/node.key" --cred "$NODE_DIR/node.cred" \
    --to "$tmp/s.key" --path "$svc" --expires 1h -o "$tmp/s.cred" ||
    fail "cred issue"
"$BT" msg serve "$svc" --to "$NODE_UNIX" --key "$tmp/s.key" \
    --cred "$tmp/s.cred" --delay 60s >"$tmp/s.out" 2>"$tmp/s.err" &
sp=$!
pids="$pids $sp"
wait_until grep -q serving "$tmp/s.err" || fail "serve did not start"

start=$(date +%s)
"$BT" msg call "$svc" --to "$NODE_TCP" --data "held" --timeout 8s \
    >"$tmp/c.out" 2>"$tmp/c.err" &
cp=$!
pids="$pids $cp"
wait_until grep -q held "$tmp/s.out" || fail "the service never got the call"
kill -9 "$sp"
wait "$cp"
rc=$?
end=$(date +%s)
[ $rc -eq 1 ] || fail "caller exited $rc, want 1"
[ $((end - start)) -le 9 ] || fail "caller took $((end - start)) s"
grep -q "failed" "$tmp/c.err" || fail "no error message"

# With nobody to close the connection, the deadline still holds: a call
# to a service that never answers times out.
"$BT" msg serve "$svc" --to "$NODE_UNIX" --key "$tmp/s.key" \
    --cred "$tmp/s.cred" --delay 60s >"$tmp/s2.out" 2>"$tmp/s2.err" &
sp=$!
pids="$pids $sp"
wait_until grep -q serving "$tmp/s2.err" || fail "serve 2 did not start"
start=$(date +%s)
if "$BT" msg call "$svc" --to "$NODE_TCP" --data x --timeout 1s \
    2>"$tmp/t.err"; then
	fail "a call to a silent service succeeded"
fi
end=$(date +%s)
[ $((end - start)) -le 4 ] || fail "timeout took $((end - start)) s"
grep -qi "deadline\|timed out" "$tmp/t.err" || fail "no timeout message"
kill -9 "$sp"
kill -INT "$NODE_PID"; wait "$NODE_PID" || fail "node exit $?"
echo ok
