#!/bin/sh
# bench/blk/ab.sh: an A/B of `bt` builds on one fio job, with the
# deterministic measures beside the timings. Starts nbdkit's file plugin
# and, for each build, our device alone (MODE=solo) or with one backup
# (MODE=repl), all side by side on unix sockets; then runs the fio job
# against nbdkit and each build in turn, ROUNDS times, and prints per
# run: IOPS, the ratio to the nbdkit run just before it, and per request
# the server's CPU time (user + system, all threads; with a backup, the
# primary's and the backup's), its context switches and fio's CPU time,
# and the median latency (with --fsync, of a write plus its flush).
#
#   sh bench/blk/ab.sh BT_A BT_B [BT_C ...] [-- fio args...]
#
# A build given as repl:PATH (or solo:PATH) runs with a backup (alone)
# whatever MODE says, so one run can set a build's device alone beside the
# same build with a backup (the fsync-per-write target).
# Default job: 4k randwrite at depth 16. Env: MODE (solo, repl), ROUNDS
# (default 5), SECS (seconds per run, default 5), SIZE (default 256M),
# CPUS (a taskset list for servers and fio, e.g. 0 for one CPU), CHRT (a
# SCHED_FIFO priority for servers and fio, as BLK_BENCH_CHRT in run.sh),
# REPL_ARGS (more options for a primary with a backup, e.g.
# "--replica-ack applied").
# Prints the load average at the start and the end. Not part of the suite.
set -u
BUILDS=""
NB=0
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	NB=$((NB + 1)); eval "BT_$NB=\$1"; BUILDS="$BUILDS $NB"; shift
done
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- --rw=randwrite --bs=4k --iodepth=16
JOB="$*"
MODE=${MODE:-solo}
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-5}
SIZE=${SIZE:-256M}
TS=""
[ -n "${CPUS:-}" ] && TS="taskset -c $CPUS"
[ -n "${CHRT:-}" ] && TS="$TS chrt -f $CHRT"
T=$(mktemp -d "${TMPDIR:-/tmp}/bt-blk-ab.XXXXXX")
PIDS=""
. "$(dirname "$0")/lib.sh"
cleanup() {
	stop_pids
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

bench_timeout() { echo "$1"; exit 1; }

(umask 077; head -c 32 /dev/urandom >"$T/k")
head -c "$SIZE" /dev/urandom >"$T/fill.bin"
truncate -s "$SIZE" "$T/nbdkit.img"
$TS nbdkit -f -U "$T/nbdkit.sock" file "$T/nbdkit.img" 2>"$T/nbdkit.log" &
PIDS="$PIDS $!"
echo "$!" >"$T/base.pids"
wait_file "$T/nbdkit.sock"
echo "nbd+unix:///?socket=$T/nbdkit.sock" >"$T/base.uri"

# start NAME BT: our device (and its backup with MODE=repl) under $T/NAME.
start() {
	d=$T/$1; bt=$2; mode=$MODE
	case $bt in
	repl:*) mode=repl; bt=${bt#repl:} ;;
	solo:*) mode=solo; bt=${bt#solo:} ;;
	esac
	mkdir -p "$d"
	: >"$d.pids"
	if [ "$mode" = repl ]; then
		"$bt" blk init --data "$d/b.img" --size "$SIZE" --key-file "$T/k" --backup >/dev/null
		BT_LOG=warn $TS "$bt" blk serve --backup --data "$d/b.img" --key-file "$T/k" \
		    --listen-replica 127.0.0.1:0 --data-dir "$d/brun" >"$d/bak.log" 2>&1 &
		PIDS="$PIDS $!"
		echo "$!" >>"$d.pids"
		wait_file "$d/brun/replica.addr"
		REPL="--replicas $(cat "$d/brun/replica.addr") ${REPL_ARGS:-}"
	else
		REPL=""
	fi
	"$bt" blk init --data "$d/d.img" --size "$SIZE" --key-file "$T/k" >/dev/null
	# shellcheck disable=SC2086
	BT_LOG=warn $TS "$bt" blk serve --data "$d/d.img" --key-file "$T/k" \
	    --data-dir "$d/run" $REPL >"$d/pri.log" 2>&1 &
	PIDS="$PIDS $!"
	echo "$!" >>"$d.pids"
	wait_file "$d/run/nbd.addr"
	echo "nbd+unix:///blk?socket=$d/run/nbd.sock" >"$d.uri"
	echo "$bt" >"$d.bt"
}
for i in $BUILDS; do eval "start b$i \"\$BT_$i\""; done
for n in base $(for i in $BUILDS; do printf 'b%s ' "$i"; done); do
	nbdcopy --flush --request-size=4096 "$T/fill.bin" "$(cat "$T/$n.uri")" ||
	    { echo "prefill of $n failed"; exit 1; }
done

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); job: $JOB; mode $MODE"
printf '%-5s %8s %6s %10s %10s %10s %9s\n' run IOPS ratio "srv us/rq" "sw/rq" "fio us/rq" "p50 us"
BASE_IOPS=1
r=0
while [ $r -lt "$ROUNDS" ]; do
	for n in base $(for i in $BUILDS; do printf 'b%s ' "$i"; done); do
		# perf stat follows the servers' threads (the connection's
		# workers come and go with fio's connection).
		perf stat -x, -e task-clock,context-switches -o "$T/perf.txt" \
		    -p "$(paste -sd, "$T/$n.pids")" 2>/dev/null &
		PERF=$!
		sleep 0.2
		/usr/bin/time -f '%U %S' -o "$T/fio.time" $TS fio --name="$n" --ioengine=nbd \
		    --uri="$(cat "$T/$n.uri")" --size="$SIZE" --time_based \
		    --runtime="$SECS" --output-format=json $JOB >"$T/fio.json" 2>"$T/fio.err"
		kill -INT $PERF; wait $PERF
		python3 - "$T/fio.json" "$T/fio.time" "$T/perf.txt" "$n" "$BASE_IOPS" <<'PY' >"$T/line"
import json, sys
t = open(sys.argv[1]).read()
j = json.loads(t[t.index("{"):])["jobs"][0]
op = "write" if j["write"]["io_bytes"] > 0 else "read"
iops = j[op]["iops"]
n = max(j[op]["total_ios"], 1)
u, s = map(float, open(sys.argv[2]).read().split()[-2:])
ms = sw = 0.0
for l in open(sys.argv[3]):
    f = l.strip().split(",")
    if len(f) > 2 and f[2] == "task-clock":
        ms = float(f[0])
    elif len(f) > 2 and f[2] == "context-switches":
        sw = float(f[0])
srv = ms * 1e3 / n
sw = sw / n
fio = (u + s) * 1e6 / n
base = float(sys.argv[5])
ratio = "-" if sys.argv[4] == "base" else "%.2f" % (iops / base)
def p50(d):
    pc = d.get("percentile", {})
    return pc.get("50.000000", 0) / 1000.0
lat = p50(j[op].get("clat_ns", {})) + p50(j.get("sync", {}).get("lat_ns", {}))
print("%-5s %8.0f %6s %10.2f %10.2f %10.2f %9.1f %.0f" % (sys.argv[4], iops, ratio, srv, sw, fio, lat, iops))
PY
		[ -s "$T/line" ] || { echo "$n: fio failed:"; cat "$T/fio.err"; }
		awk '{ printf "%-5s %8s %6s %10s %10s %10s %9s\n", $1, $2, $3, $4, $5, $6, $7 }' "$T/line"
		[ "$n" = base ] && BASE_IOPS=$(awk '{ print $8 }' "$T/line")
	done
	r=$((r + 1))
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
# The primaries' flush statistics over all rounds (bt blk status).
for i in $BUILDS; do
	printf 'b%s %s\n' "$i" "$("$(cat "$T/b$i.bt")" blk status --data-dir "$T/b$i/run" | grep '^flushes')"
done
