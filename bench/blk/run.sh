#!/bin/sh
# bench/blk/run.sh: fio (nbd engine) against nbdkit's file plugin (the plain
# baseline), our device alone, and our device with one backup on loopback
# (twice: --replica-ack durable, the default, and applied), all on unix
# sockets in one run. Prints a Markdown table with ratios.
# Then bench/blk/pgbench.sh (PostgreSQL on ext4 on each target).
# Env: BT (path to bt), BLK_BENCH_SIZE (default 256M), BLK_BENCH_TIME
# (seconds per job, default 5), BLK_BENCH_ROUNDS (default 3),
# BLK_BENCH_REPLICA (tcp or unix), BLK_BENCH_PGBENCH (0 skips pgbench),
# BLK_BENCH_JOBS (a regex of the job labels to run, e.g. fsync),
# BLK_BENCH_CHRT (a SCHED_FIFO priority, e.g. 10: every server and fio run
# real-time, so CPU-bound neighbours on a shared machine do not preempt
# them; needs root; the disk stays shared).
# Never fails the suite.
set -u
BT=${BT:-$(pwd)/build/bt}
SIZE=${BLK_BENCH_SIZE:-256M}
RUNTIME=${BLK_BENCH_TIME:-5}
for t in fio nbdkit nbdcopy python3; do
	command -v $t >/dev/null 2>&1 || { echo "blk bench: $t not installed; skipped"; exit 0; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/bt-blk-bench.XXXXXX")
PIDS=""
. "$(dirname "$0")/lib.sh"
cleanup() {
	stop_pids
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

bench_timeout() { echo "blk bench: $1"; exit 0; }

RT=""
if [ -n "${BLK_BENCH_CHRT:-}" ]; then
	if chrt -f "$BLK_BENCH_CHRT" true 2>/dev/null; then RT="chrt -f $BLK_BENCH_CHRT"
	else echo "blk bench: cannot use chrt -f $BLK_BENCH_CHRT (not root?); running without it"; fi
fi
(umask 077; head -c 32 /dev/urandom >"$T/k")
head -c "$SIZE" /dev/urandom >"$T/fill.bin"

# Baseline: nbdkit file plugin. Every file is filled the same way, through
# NBD in 4 KiB requests: how a file was written decides the size of its
# page-cache folios, which changes the cost of later 4 KiB writes on Linux
# 6.x by 2x, whoever serves it.
truncate -s "$SIZE" "$T/nbdkit.img"
$RT nbdkit -f -U "$T/nbdkit.sock" file "$T/nbdkit.img" 2>"$T/nbdkit.log" &
PIDS="$PIDS $!"
wait_file "$T/nbdkit.sock"
URI_BASE="nbd+unix:///?socket=$T/nbdkit.sock"

# Our device alone.
mkdir -p "$T/solo"
"$BT" blk init --data "$T/solo/d.img" --size "$SIZE" --key-file "$T/k" >/dev/null
BT_LOG=warn $RT "$BT" blk serve --data "$T/solo/d.img" --key-file "$T/k" --data-dir "$T/solo/run" >"$T/solo.log" 2>&1 &
PIDS="$PIDS $!"
wait_file "$T/solo/run/nbd.addr"
URI_SOLO="nbd+unix:///blk?socket=$T/solo/run/nbd.sock"

# replicated PRI BAK ACK: our device in $T/PRI with one backup in $T/BAK
# on loopback, the primary run with --replica-ack ACK (durable, the
# default: a flush waits for the backup's fdatasync; applied: for the
# backup to have verified and written the writes). The replica link runs
# over TCP, as it would between hosts; BLK_BENCH_REPLICA=unix puts it on a
# unix socket instead.
replicated() {
	mkdir -p "$T/$1" "$T/$2"
	"$BT" blk init --data "$T/$2/d.img" --size "$SIZE" --key-file "$T/k" --backup >/dev/null
	"$BT" blk init --data "$T/$1/d.img" --size "$SIZE" --key-file "$T/k" >/dev/null
	if [ "${BLK_BENCH_REPLICA:-tcp}" = unix ]; then RADDR="unix:$T/$2/replica.sock"; else RADDR=127.0.0.1:0; fi
	BT_LOG=warn $RT "$BT" blk serve --backup --data "$T/$2/d.img" --key-file "$T/k" --listen-replica "$RADDR" --data-dir "$T/$2/run" >"$T/$2.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_file "$T/$2/run/replica.addr"
	BT_LOG=warn $RT "$BT" blk serve --data "$T/$1/d.img" --key-file "$T/k" --data-dir "$T/$1/run" --replicas "$(cat "$T/$2/run/replica.addr")" --replica-ack "$3" >"$T/$1.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_file "$T/$1/run/nbd.addr"
}
replicated pri bak durable
URI_REPL="nbd+unix:///blk?socket=$T/pri/run/nbd.sock"
replicated apri abak applied
URI_APPL="nbd+unix:///blk?socket=$T/apri/run/nbd.sock"

# Every sector written once, so reads decrypt real data.
for u in "$URI_BASE" "$URI_SOLO" "$URI_REPL" "$URI_APPL"; do
	nbdcopy --flush --request-size=4096 "$T/fill.bin" "$u" || { echo "prefill failed"; exit 0; }
done

# run_fio URI NAME ARGS...: prints "iops lat_us".
run_fio() {
	uri=$1; shift; name=$1; shift
	$RT fio --name="$name" --ioengine=nbd --uri="$uri" --size="$SIZE" \
	    --time_based --runtime="$RUNTIME" --ramp_time=1 \
	    --output-format=json "$@" >"$T/fio.json" 2>"$T/fio.err" || { echo "0 0"; return; }
	python3 - "$T/fio.json" <<'PY'
import json, sys
t = open(sys.argv[1]).read()
j = json.loads(t[t.index("{"):])["jobs"][0]
op = "write" if j["write"]["io_bytes"] > 0 else "read"
d = j[op]
lat = d.get("clat_ns", {}).get("mean", 0) / 1000.0
if j.get("sync", {}).get("lat_ns", {}).get("mean"):
    lat += j["sync"]["lat_ns"]["mean"] / 1000.0
print("%.0f %.1f" % (d["iops"], lat))
PY
}


ROUNDS=${BLK_BENCH_ROUNDS:-3}
printf '| job | nbdkit file IOPS | blk IOPS (ratio) | blk + backup IOPS (ratio) | blk + backup, ack applied IOPS (ratio) | mean latency us: nbdkit / blk / blk+backup / applied | replication: latency blk+backup / blk | same, ack applied |\n'
printf '|---|---|---|---|---|---|---|---|\n'
job() {
	label=$1; shift
	if [ -n "${BLK_BENCH_JOBS:-}" ] && ! printf '%s\n' "$label" | grep -Eq -- "$BLK_BENCH_JOBS"; then
		return
	fi
	: >"$T/b.txt"; : >"$T/s.txt"; : >"$T/r.txt"; : >"$T/a.txt"
	# Rounds interleave the four targets, so a burst of load elsewhere on
	# the machine hits all of them. Shown: the median of the rounds, and
	# as ratios the median of each round's own ratio (neighbours in time).
	n=0
	while [ $n -lt "$ROUNDS" ]; do
		run_fio "$URI_BASE" base "$@" >>"$T/b.txt"
		run_fio "$URI_SOLO" solo "$@" >>"$T/s.txt"
		# Let the backup drain what earlier jobs queued (one write and a
		# flush, not measured), so each job measures itself.
		fio --name=drain --ioengine=nbd --uri="$URI_REPL" --rw=write \
		    --bs=4k --size=4k --fsync=1 >/dev/null 2>&1
		run_fio "$URI_REPL" repl "$@" >>"$T/r.txt"
		fio --name=drain --ioengine=nbd --uri="$URI_APPL" --rw=write \
		    --bs=4k --size=4k --fsync=1 >/dev/null 2>&1
		run_fio "$URI_APPL" appl "$@" >>"$T/a.txt"
		n=$((n + 1))
	done
	python3 - "$label" "$T/b.txt" "$T/s.txt" "$T/r.txt" "$T/a.txt" <<'PY'
import sys
label = sys.argv[1]
b, s, r, a = ([tuple(map(float, l.split())) for l in open(f)] for f in sys.argv[2:6])
def med(v):
    v = sorted(v)
    return v[(len(v) - 1) // 2] if v else 0.0
def rat(x, y):
    return med([a / c for a, c in zip(x, y) if c > 0])
bi, si, ri, ai = (med([t[0] for t in v]) for v in (b, s, r, a))
bl, sl, rl, al = (med([t[1] for t in v]) for v in (b, s, r, a))
print("| %s | %.0f | %.0f (%.2f) | %.0f (%.2f) | %.0f (%.2f) | %.1f / %.1f / %.1f / %.1f | %.2f | %.2f |" % (
    label, bi, si, rat([t[0] for t in s], [t[0] for t in b]),
    ri, rat([t[0] for t in r], [t[0] for t in b]),
    ai, rat([t[0] for t in a], [t[0] for t in b]), bl, sl, rl, al,
    rat([t[1] for t in r], [t[1] for t in s]),
    rat([t[1] for t in a], [t[1] for t in s])))
PY
}
job "4k randwrite qd1" --rw=randwrite --bs=4k --iodepth=1
job "4k randwrite qd16" --rw=randwrite --bs=4k --iodepth=16
job "4k randread qd1" --rw=randread --bs=4k --iodepth=1
job "4k randread qd16" --rw=randread --bs=4k --iodepth=16
job "4k randwrite fsync=1" --rw=randwrite --bs=4k --iodepth=1 --fsync=1
job "1M seq write qd4" --rw=write --bs=1M --iodepth=4
echo
echo "(replica link: ${BLK_BENCH_REPLICA:-tcp};${RT:+ $RT;} size $SIZE, median of $ROUNDS interleaved rounds of ${RUNTIME}s after 1s ramp; NBD on unix sockets; page-cache backed files; load average $(cut -d' ' -f1-3 /proc/loadavg))"

# PostgreSQL on ext4 on each target (BLK_BENCH_PGBENCH=0 skips it).
cleanup
trap - EXIT INT TERM
if [ "${BLK_BENCH_PGBENCH:-1}" != 0 ]; then
	echo
	BT=$BT sh "$(dirname "$0")/pgbench.sh"
fi
exit 0
