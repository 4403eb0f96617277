# Replication admits only holders of the device key: a primary with another
# key is refused by TLS credential checks (both sides say so), and a
# backup refuses a write that does not verify.
. "$BT_SOURCE_DIR/tests/integration/blk/lib.sh"
SIZE=4M
start_backup "$T/b"; BPID=$LAST_PID
(umask 077; head -c 32 /dev/urandom >"$T/k2")
"$BT" blk init --data "$T/p/d.img" --size 4M --key-file "$T/k2" >/dev/null
if "$BT" blk serve --data "$T/p/d.img" --key-file "$T/k2" --listen 127.0.0.1:0 \
    --replicas "$(cat "$T/b/run/replica.addr")" --timeout 5s >"$T/p.log" 2>&1; then
	fail "a primary with another key was admitted"
fi
grep -Eq "is not of this device|did not admit us" "$T/p.log" || fail "primary did not name the refusal: $(cat "$T/p.log")"
grep -q "refused replica peer" "$T/b.log" || fail "backup did not refuse"
# With the right key it is admitted.
rm -f "$T/p/d.img" "$T/p/d.img.meta"
start_primary "$T/p" "$(cat "$T/b/run/replica.addr")"
"$BT" blk status --data-dir "$T/p/run" | grep -q "replica: .* acked" || fail "not replicating"
echo "auth: foreign key refused, device key admitted"
