# Crash: kill -9 the primary at random points of a write stream with
# periodic flushes, promote the backup, and check that every write a flush
# acknowledged is there. $1 = number of kill points (default 3). The
# flush period cycles through 1, 3 and 8 writes: with 1 and 3 the backup
# is in a steady write+flush rhythm and syncs eagerly (repl.c,
# eager_flush_due), with 8 it syncs only when asked. $2 = the primary's
# --replica-ack (default durable): with applied, the backup acknowledges
# writes it has applied but not yet synced, and a primary killed with -9
# must still lose nothing a flush acknowledged.
. "$BT_SOURCE_DIR/tests/integration/blk/lib.sh"
POINTS=${1:-3}
BLK_PRIMARY_ARGS="--replica-ack ${2:-durable}"
SIZE=16M
flushed() { c=$(grep -c flushed "$T/stream.log" 2>/dev/null) || true; echo "${c:-0}"; }
i=0
while [ "$i" -lt "$POINTS" ]; do
	i=$((i + 1))
	rm -rf "$T/p" "$T/b"; mkdir -p "$T/p" "$T/b"
	start_backup "$T/b"; BPID=$LAST_PID
	start_primary "$T/p" "$(cat "$T/b/run/replica.addr")"; PPID_=$LAST_PID
	A=$(cat "$T/p/run/nbd.addr")
	rm -f "$T/stream.log"
	case $((i % 3)) in 1) FE=1 ;; 2) FE=3 ;; *) FE=8 ;; esac
	$CLIENT "$A" stream --log "$T/stream.log" --flush-every $FE >"$T/writer.log" 2>&1 &
	WPID=$!; PIDS="$PIDS $WPID"
	# A random kill point: after 1..40 acknowledged flushes.
	want=$(( $(od -An -N2 -tu2 /dev/urandom) % 40 + 1 ))
	n=600
	while [ "$(flushed)" -lt "$want" ]; do
		n=$((n - 1)); [ $n -gt 0 ] || fail "writer made no progress"
		sleep 0.05
	done
	kill -9 "$PPID_"; wait "$PPID_" 2>/dev/null || true
	wait "$WPID" 2>/dev/null || true
	"$BT" blk promote --data-dir "$T/b/run" >"$T/promote.log" 2>&1 || fail "promote"
	wait_file "$T/b/run/nbd.addr"
	$CLIENT "unix:$T/b/run/nbd.sock" verify --log "$T/stream.log" >"$T/verify.log" 2>&1 || { cat "$T/verify.log"; fail "kill point $i: flushed writes lost"; }
	echo "kill point $i (flush every $FE writes, after $(flushed) flushes): $(tail -1 "$T/verify.log")"
	stop "$BPID"
done
echo "crash: $POINTS kill points (--replica-ack ${2:-durable}), no flushed write lost"
