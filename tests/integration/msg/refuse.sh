#!/bin/sh
# msg.refuse: a service whose chain is forged or expired is refused by the
# node with a clear error on both sides and never receives a call meant for
# its path; TLS 1.2 and plaintext are refused; the node keeps serving.
. "$(dirname "$0")/lib.sh"

start_node n
svc=$NODE_PATH/svc
"$BT" key new -o "$tmp/s.key" >/dev/null || fail "key new"

try_serve() { # name: serve with $tmp/NAME.cred; must be refused
	# The client alone would refuse to present a bad chain; the hook lets
	# it, so that the node's refusal is what is tested.
	BT_TEST_NO_SELF_CHECK=1 "$BT" msg serve "$svc" --to "$NODE_UNIX" --key "$tmp/s.key" \
	    --cred "$tmp/$1.cred" >"$tmp/$1.out" 2>"$tmp/$1.err"
	rc=$?
	[ $rc -eq 1 ] || fail "$1 chain: serve exited $rc, want 1"
	grep -q "refused by peer" "$tmp/$1.err" ||
	    fail "$1 chain: no refusal reason for the client"
	[ ! -s "$tmp/$1.out" ] || fail "$1 chain: the service got a message"
}

# Expired: valid from two hours ago until one hour ago.
"$BT" cred issue --key "$NODE_DIR/node.key" --cred "$NODE_DIR/node.cred" \
    --to "$tmp/s.key" --path "$svc" --not-before -2h --expires -1h \
    -o "$tmp/expired.cred" || fail "issue expired"
try_serve expired
grep -q "expired" "$tmp/expired.err" || fail "client not told 'expired'"
grep -q "refusing peer.*expired" "$tmp/n.log" || fail "node did not log it"

# Forged: a good credential with one byte of its encoding changed.
"$BT" cred issue --key "$NODE_DIR/node.key" --cred "$NODE_DIR/node.cred" \
    --to "$tmp/s.key" --path "$svc" --expires 1h -o "$tmp/good.cred" ||
    fail "issue good"
# Flip a base64url character in the middle of the signature region.
awk 'NR == 2 { n = length($0) - 20; c = substr($0, n, 1);
	r = (c == "A") ? "B" : "A";
	$0 = substr($0, 1, n - 1) r substr($0, n + 1) } { print }' \
    "$tmp/good.cred" >"$tmp/forged.cred"
try_serve forged

# (A chain signed by a key that is not the path's root, and one for
# another path, are refused in src/net/net_test.c.)

# Nothing received meanwhile: a call to the path finds no one.
if "$BT" msg call "$svc" --to "$NODE_TCP" --data x 2>"$tmp/call.err"; then
	fail "a call reached $svc"
fi

# The good chain is accepted and the same call now reaches the service.
"$BT" msg serve "$svc" --to "$NODE_UNIX" --key "$tmp/s.key" \
    --cred "$tmp/good.cred" >"$tmp/good.out" 2>"$tmp/good.err" &
sp=$!
pids="$pids $sp"
wait_until grep -q serving "$tmp/good.err" || fail "good serve did not start"
out=$("$BT" msg call "$svc" --to "$NODE_TCP" --data reached) ||
    fail "call to the good service"
[ "$out" = reached ] || fail "service answered '$out'"

# TLS 1.2 and plaintext are refused; the node keeps serving.
port=${NODE_TCP##*:}
if echo | timeout 10 openssl s_client -connect "127.0.0.1:$port" \
    -tls1_2 >"$tmp/tls12.out" 2>&1; then
	fail "openssl s_client -tls1_2 got a session"
fi
grep -qi "alert\|error" "$tmp/tls12.out" || fail "TLS 1.2: no alert"
out=$("$BT" msg call "$NODE_PATH/echo" --to "$NODE_TCP" --data alive) ||
    fail "node stopped serving"
[ "$out" = alive ] || fail "echo gave '$out'"
kill -INT "$sp"
kill -INT "$NODE_PID"; wait "$NODE_PID" || fail "node exit $?"
echo ok
