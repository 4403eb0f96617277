# Shared helpers of the blk integration tests (sourced). Each test gets a
# private folder, and everything it started is killed on exit.
set -eu
: "${BT:?BT must point to the bt binary}"
: "${BT_SOURCE_DIR:?}"
CLIENT="python3 $BT_SOURCE_DIR/tests/integration/blk/nbdclient.py"
T=$(mktemp -d "${TMPDIR:-/tmp}/bt-blk.XXXXXX")
PIDS=""
cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

fail() { echo "FAIL: $*" >&2; for f in "$T"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; } >&2; done; exit 1; }

# wait_file FILE [SECONDS]: poll until FILE exists (bounded).
wait_file() {
	n=$(( ${2:-20} * 20 ))
	while [ ! -s "$1" ]; do
		n=$((n - 1)); [ $n -gt 0 ] || fail "timed out waiting for $1"
		sleep 0.05
	done
}

# start NAME ARGS...: run `bt blk serve ARGS` in the background, log in
# $T/NAME.log; sets LAST_PID.
start() {
	name=$1; shift
	"$BT" blk serve "$@" >"$T/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS="$PIDS $LAST_PID"
}

# stop PID: SIGTERM and wait (clean shutdown, final checkpoint).
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# start_backup DIR: a backup device DIR/d.img serving replication.
start_backup() {
	[ -f "$1/d.img" ] || "$BT" blk init --data "$1/d.img" --size "${SIZE:-32M}" --key-file "$T/k" --backup >/dev/null
	rm -f "$1/run/replica.addr"
	start "$(basename "$1")" --backup --data "$1/d.img" --key-file "$T/k" --listen-replica 127.0.0.1:0 --data-dir "$1/run"
	wait_file "$1/run/replica.addr"
}

# start_primary DIR [REPLICA_ADDR]: a primary on DIR/d.img (replicating:
# with the extra serve options in BLK_PRIMARY_ARGS).
start_primary() {
	[ -f "$1/d.img" ] || "$BT" blk init --data "$1/d.img" --size "${SIZE:-32M}" --key-file "$T/k" >/dev/null
	rm -f "$1/run/nbd.addr"
	if [ -n "${2:-}" ]; then
		# shellcheck disable=SC2086 # BLK_PRIMARY_ARGS: words, e.g. --replica-ack applied
		start "$(basename "$1")" --data "$1/d.img" --key-file "$T/k" --listen 127.0.0.1:0 --data-dir "$1/run" --replicas "$2" ${BLK_PRIMARY_ARGS:-}
	else
		start "$(basename "$1")" --data "$1/d.img" --key-file "$T/k" --listen 127.0.0.1:0 --data-dir "$1/run"
	fi
	wait_file "$1/run/nbd.addr" 60
}

mkdir -p "$T/p" "$T/b"
(umask 077; head -c 32 /dev/urandom >"$T/k")
