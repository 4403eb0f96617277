# Writes reach the backup without a flush. A backup that dies and comes
# back is caught up while the primary keeps serving: flushes fail (EIO) while it is gone, succeed once it is back,
# and after a promote it holds everything that was flushed.
. "$BT_SOURCE_DIR/tests/integration/blk/lib.sh"
SIZE=8M
start_backup "$T/b"; BPID=$LAST_PID
R=$(cat "$T/b/run/replica.addr")
start_primary "$T/p" "$R"; P=$LAST_PID
U="nbd+unix:///blk?socket=$T/p/run/nbd.sock"
head -c 4M /dev/urandom >"$T/one.bin"
nbdcopy --flush "$T/one.bin" "$U" || fail "first write"
# Writes reach the backup without a flush: the NBD worker sends them to
# the backups after its reply (nbd.c, replies_send).
head -c 1M /dev/urandom >"$T/nf.bin"
nbdcopy "$T/nf.bin" "$U" || fail "unflushed write"
widx() { "$BT" blk status --data-dir "$1" | sed -n 's/^write index: //p'; }
PW=$(widx "$T/p/run")
n=200
until [ "$(widx "$T/b/run")" = "$PW" ]; do
	n=$((n - 1)); [ $n -gt 0 ] || fail "unflushed writes did not reach the backup ($(widx "$T/b/run") of $PW)"
	sleep 0.05
done
kill -9 "$BPID"; wait "$BPID" 2>/dev/null || true
head -c 8M /dev/urandom >"$T/two.bin"
if nbdcopy --flush "$T/two.bin" "$U" 2>"$T/flush.err"; then
	fail "a flush succeeded with the backup gone"
fi
# The backup comes back on the same address; the primary catches it up.
"$BT" blk serve --backup --data "$T/b/d.img" --key-file "$T/k" --listen-replica "$R" --data-dir "$T/b/run" >"$T/b2.log" 2>&1 &
BPID=$!; PIDS="$PIDS $BPID"
n=400
until grep -q "is back and in sync" "$T/p.log"; do
	n=$((n - 1)); [ $n -gt 0 ] || fail "backup not re-admitted"
	sleep 0.05
done
nbdcopy --flush "$T/two.bin" "$U" || fail "flush after rejoin"
"$BT" blk status --data-dir "$T/p/run" | grep -q "lag 0" || fail "lag after flush"
kill -9 "$P"; wait "$P" 2>/dev/null || true
"$BT" blk promote --data-dir "$T/b/run" >/dev/null || fail "promote"
wait_file "$T/b/run/nbd.addr"
nbdcopy "nbd+unix:///blk?socket=$T/b/run/nbd.sock" "$T/out.bin" || fail "read back"
cmp "$T/two.bin" "$T/out.bin" || fail "backup lost flushed data"
echo "rejoin: flushes fail without the backup, it is caught up when back"
