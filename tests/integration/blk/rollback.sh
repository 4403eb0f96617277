# Rollback: copy the primary's data and metadata, write more, stop, put the
# old copies back, start: the rollback is detected and repaired from the
# backup. Then, with no replica reachable, the primary refuses to serve.
. "$BT_SOURCE_DIR/tests/integration/blk/lib.sh"
SIZE=8M
start_backup "$T/b"; BPID=$LAST_PID
R=$(cat "$T/b/run/replica.addr")
start_primary "$T/p" "$R"; P=$LAST_PID
head -c 8M /dev/urandom >"$T/old.bin"
nbdcopy --flush "$T/old.bin" "nbd://$(cat "$T/p/run/nbd.addr")/blk" || fail "write old"
stop "$P"
mkdir -p "$T/saved"
cp "$T/p/d.img" "$T/p/d.img.meta" "$T/saved/"
start_primary "$T/p" "$R"; P=$LAST_PID
head -c 8M /dev/urandom >"$T/new.bin"
nbdcopy --flush "$T/new.bin" "nbd://$(cat "$T/p/run/nbd.addr")/blk" || fail "write new"
stop "$P"
# The host puts the old (authentic, consistent) copies back.
cp "$T/saved/d.img" "$T/saved/d.img.meta" "$T/p/"
start_primary "$T/p" "$R"; P=$LAST_PID
grep -q "rollback or loss detected" "$T/p.log" || fail "rollback not detected"
nbdcopy "nbd://$(cat "$T/p/run/nbd.addr")/blk" "$T/out.bin" || fail "read back"
cmp "$T/new.bin" "$T/out.bin" || fail "rolled-back disk not repaired"
stop "$P"
# No replica can vouch: refuse with a clear error.
stop "$BPID"
cp "$T/saved/d.img" "$T/saved/d.img.meta" "$T/p/"
if "$BT" blk serve --data "$T/p/d.img" --key-file "$T/k" --listen 127.0.0.1:0 --replicas "$R" --timeout 2s >"$T/refuse.log" 2>&1; then
	fail "served without a replica to vouch for it"
fi
grep -q "no replica can vouch" "$T/refuse.log" || fail "unclear refusal: $(cat "$T/refuse.log")"
echo "rollback: detected and repaired; refused when no replica can vouch"
