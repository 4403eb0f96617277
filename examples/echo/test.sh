#!/bin/sh
# msg.example: the echo example's service answers its client.
set -u
ex=${BT_BINARY_DIR:?}/examples
tmp=$(mktemp -d)
"$ex/echo_service" 127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
i=0
while [ ! -s "$tmp/out" ]; do
	i=$((i + 1)); [ $i -gt 200 ] && { echo "no service" >&2; exit 1; }
	sleep 0.05
done
read -r addr path <"$tmp/out"
out=$("$ex/echo_client" "$addr" "$path" "hello, blocktree") || exit 1
[ "$out" = "hello, blocktree" ] || { echo "got '$out'" >&2; exit 1; }
kill -INT $pid; wait $pid || exit 1
echo ok
