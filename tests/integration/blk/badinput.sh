# Garbage, oversized requests, offsets past the end and unknown commands
# get NBD errors or a closed connection; the server never crashes. A bad
# --replica-ack value is a usage error.
. "$BT_SOURCE_DIR/tests/integration/blk/lib.sh"
SIZE=8M
start_primary "$T/p"
PID=$LAST_PID
A=$(cat "$T/p/run/nbd.addr")
$CLIENT "$A" badinput || fail "bad input handling"
# Random bytes from many connections.
for i in 1 2 3 4 5 6 7 8; do
	head -c 100000 /dev/urandom | python3 -c "
import socket,sys
h,p='$A'.rsplit(':',1)
s=socket.create_connection((h,int(p)))
try:
    s.sendall(sys.stdin.buffer.read()); s.recv(100)
except OSError: pass
" || true
done
kill -0 "$PID" || fail "server died"
nbdinfo "nbd://$A/blk" >/dev/null || fail "server no longer answers"
# A bad --replica-ack is a usage error that names the option.
rc=0
"$BT" blk serve --data "$T/p/d.img" --key-file "$T/k" --listen 127.0.0.1:0 \
    --replicas 127.0.0.1:1 --replica-ack maybe 2>"$T/ack.err" || rc=$?
[ "$rc" = 2 ] || fail "--replica-ack maybe: exit $rc, want 2"
grep -q -- "--replica-ack is durable or applied" "$T/ack.err" || fail "--replica-ack maybe: $(cat "$T/ack.err")"
echo "badinput: ok"
