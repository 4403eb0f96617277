#!/bin/sh
# msg.cli: call, send, publish and subscribe through a real bt node, over
# TCP and a unix socket, anonymous and authenticated.
. "$(dirname "$0")/lib.sh"

start_node n
echo_path=$NODE_PATH/echo

# call: anonymous, over TCP and over the unix socket.
out=$("$BT" msg call "$echo_path" --to "$NODE_TCP" --data "hello") ||
    fail "call over TCP"
[ "$out" = hello ] || fail "echo over TCP gave '$out'"
out=$("$BT" msg call "$echo_path" --to "$NODE_UNIX" --data "over unix") ||
    fail "call over unix"
[ "$out" = "over unix" ] || fail "echo over unix gave '$out'"
printf 'from a file\n' >"$tmp/payload"
out=$("$BT" msg call "$echo_path" --to "$NODE_TCP" --file "$tmp/payload") ||
    fail "call with --file"
[ "$out" = "from a file" ] || fail "echo of a file gave '$out'"

# call with a key and a credential issued by the node for a user path.
"$BT" key new -o "$tmp/u.key" >/dev/null || fail "key new"
"$BT" cred issue --key "$NODE_DIR/node.key" --cred "$NODE_DIR/node.cred" \
    --to "$tmp/u.key" --path "$NODE_PATH/users/u" --expires 1h \
    -o "$tmp/u.cred" || fail "cred issue"
out=$("$BT" msg call "$echo_path" --to "$NODE_TCP" --key "$tmp/u.key" \
    --cred "$tmp/u.cred" --data "signed") || fail "authenticated call"
[ "$out" = signed ] || fail "authenticated echo gave '$out'"

# An error reply is distinct from a reply: exit 1 and the reason.
if "$BT" msg call "$NODE_PATH/nothing" --to "$NODE_TCP" --data x \
    2>"$tmp/err.err"; then
	fail "a call to a missing endpoint succeeded"
fi
grep -q "no endpoint" "$tmp/err.err" || fail "no 'no endpoint' in the error"

# send is fire and forget: exit 0.
"$BT" msg send "$echo_path" --to "$NODE_TCP" --data "dropped" ||
    fail "send"

# publish/subscribe: two subscribers, messages in publication order.
topic=$NODE_PATH/topics/news
"$BT" msg sub "$topic" --to "$NODE_UNIX" --count 5 >"$tmp/s1.out" \
    2>"$tmp/s1.err" &
s1=$!
"$BT" msg sub "$topic" --to "$NODE_TCP" --count 5 >"$tmp/s2.out" \
    2>"$tmp/s2.err" &
s2=$!
pids="$pids $s1 $s2"
wait_until grep -q subscribed "$tmp/s1.err" || fail "sub 1 did not start"
wait_until grep -q subscribed "$tmp/s2.err" || fail "sub 2 did not start"
for i in 1 2 3 4 5; do
	"$BT" msg pub "$topic" --to "$NODE_TCP" --data "m$i" || fail "pub $i"
done
wait "$s1" || fail "sub 1 exited $?"
wait "$s2" || fail "sub 2 exited $?"
want=$(printf 'm1\nm2\nm3\nm4\nm5')
[ "$(cat "$tmp/s1.out")" = "$want" ] || fail "sub 1 got $(cat "$tmp/s1.out")"
[ "$(cat "$tmp/s2.out")" = "$want" ] || fail "sub 2 got $(cat "$tmp/s2.out")"

# Bad usage is exit 2.
"$BT" msg call "$echo_path" 2>/dev/null
[ $? -eq 2 ] || fail "a call without --to is not exit 2"
kill -INT "$NODE_PID"; wait "$NODE_PID" || fail "node exit $?"
echo ok
