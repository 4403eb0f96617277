#!/bin/sh
# bench/blk/pgbench.sh: PostgreSQL (pgbench, scale 10, 8 clients) on ext4 on
# an NBD device, reached the way a user without the kernel's nbd module
# would: nbdfuse exposes the export as a file, a loop device makes it a block
# device, mkfs.ext4 and mount. Targets, all on unix sockets in one run:
#   nbdkit   nbdkit's file plugin (the plain baseline);
#   blk      our device alone;
#   blk+bak  our device with one backup (every flush waits for the backup's
#            fdatasync: --replica-ack durable, the default);
#   blk+app  the same with --replica-ack applied (every flush waits for the
#            backup to have verified and written the writes).
# The four stacks stand side by side; the timed runs interleave them, so a
# burst of load elsewhere hits all four. Prints a Markdown table with TPS
# ratios to nbdkit. Needs root (losetup, mount), PostgreSQL's server
# binaries and a `postgres` user, nbdfuse; skips with a message otherwise.
# Env: BT, PGBENCH_TIME (seconds per run, default 60), PGBENCH_ROUNDS
# (default 3), PGBENCH_SCALE (default 10), PGBENCH_CLIENTS (default 8),
# PGBENCH_SIZE (device size, default 2G). Never fails the suite.
set -u
BT=${BT:-$(pwd)/build/bt}
TIME=${PGBENCH_TIME:-60}
ROUNDS=${PGBENCH_ROUNDS:-3}
SCALE=${PGBENCH_SCALE:-10}
CLIENTS=${PGBENCH_CLIENTS:-8}
SIZE=${PGBENCH_SIZE:-2G}

skip() { echo "pgbench: $*; skipped"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root for losetup and mount"
PGBIN=""
for d in /usr/lib/postgresql/*/bin; do
	[ -x "$d/postgres" ] && PGBIN=$d
done
[ -n "$PGBIN" ] || skip "PostgreSQL server binaries not installed"
id postgres >/dev/null 2>&1 || skip "no postgres user"
for t in nbdkit nbdfuse losetup mkfs.ext4 fusermount3 python3; do
	command -v $t >/dev/null 2>&1 || skip "$t not installed"
done
[ -e /dev/fuse ] || skip "no /dev/fuse"

T=$(mktemp -d "${TMPDIR:-/tmp}/bt-pgbench.XXXXXX")
chmod 755 "$T"
PIDS=""
. "$(dirname "$0")/lib.sh"
NAMES="nbdkit blk bak app"
cleanup() {
	for n in $NAMES; do
		[ -f "$T/$n/fs/data/postmaster.pid" ] &&
			su postgres -c "$PGBIN/pg_ctl -D $T/$n/fs/data -m immediate -w stop" >/dev/null 2>&1
		mountpoint -q "$T/$n/fs" && umount "$T/$n/fs"
		[ -s "$T/$n/loop" ] && losetup -d "$(cat "$T/$n/loop")"
		mountpoint -q "$T/$n/mnt" && fusermount3 -u "$T/$n/mnt"
	done
	stop_pids
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

bench_timeout() { skip "$1"; }

(umask 077; head -c 32 /dev/urandom >"$T/k")
mkdir -p "$T/nbdkit" "$T/blk" "$T/bak" "$T/bakrep" "$T/app" "$T/apprep"

# nbdkit's file plugin.
truncate -s "$SIZE" "$T/nbdkit/d.img"
nbdkit -f -U "$T/nbdkit/nbd.sock" file "$T/nbdkit/d.img" 2>"$T/nbdkit.log" &
PIDS="$PIDS $!"
wait_file "$T/nbdkit/nbd.sock"
URI_nbdkit="nbd+unix:///?socket=$T/nbdkit/nbd.sock"

# Our device alone.
"$BT" blk init --data "$T/blk/d.img" --size "$SIZE" --key-file "$T/k" >/dev/null
BT_LOG=warn "$BT" blk serve --data "$T/blk/d.img" --key-file "$T/k" \
    --data-dir "$T/blk/run" >"$T/blk.log" 2>&1 &
PIDS="$PIDS $!"
wait_file "$T/blk/run/nbd.addr"
URI_blk="nbd+unix:///blk?socket=$T/blk/run/nbd.sock"

# replicated NAME ACK: our device in $T/NAME with one backup in
# $T/NAMErep, the primary run with --replica-ack ACK.
replicated() {
	"$BT" blk init --data "$T/${1}rep/d.img" --size "$SIZE" --key-file "$T/k" --backup >/dev/null
	"$BT" blk init --data "$T/$1/d.img" --size "$SIZE" --key-file "$T/k" >/dev/null
	BT_LOG=warn "$BT" blk serve --backup --data "$T/${1}rep/d.img" --key-file "$T/k" \
	    --listen-replica 127.0.0.1:0 --data-dir "$T/${1}rep/run" \
	    >"$T/${1}rep.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_file "$T/${1}rep/run/replica.addr"
	BT_LOG=warn "$BT" blk serve --data "$T/$1/d.img" --key-file "$T/k" \
	    --data-dir "$T/$1/run" --replicas "$(cat "$T/${1}rep/run/replica.addr")" \
	    --replica-ack "$2" >"$T/$1.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_file "$T/$1/run/nbd.addr"
}
replicated bak durable
URI_bak="nbd+unix:///blk?socket=$T/bak/run/nbd.sock"
replicated app applied
URI_app="nbd+unix:///blk?socket=$T/app/run/nbd.sock"

# stack NAME URI: nbdfuse + loop + ext4 + a PostgreSQL cluster with the
# pgbench tables, its socket in $T/NAME/sock.
stack() {
	n=$1; uri=$2; d=$T/$n
	mkdir -p "$d/mnt" "$d/fs" "$d/sock"
	nbdfuse "$d/mnt/nbd" "$uri" 2>"$d/nbdfuse.log" &
	PIDS="$PIDS $!"
	wait_file "$d/mnt/nbd"
	losetup -f --show "$d/mnt/nbd" >"$d/loop" || skip "losetup failed for $n"
	mkfs.ext4 -q "$(cat "$d/loop")" || skip "mkfs.ext4 failed for $n"
	mount "$(cat "$d/loop")" "$d/fs" || skip "mount failed for $n"
	mkdir "$d/fs/data"
	touch "$d/pg.log"
	chown postgres "$d/fs/data" "$d/sock" "$d/pg.log"
	su postgres -c "$PGBIN/initdb -D $d/fs/data -A trust" >/dev/null 2>&1 ||
		skip "initdb failed for $n"
	su postgres -c "$PGBIN/pg_ctl -D $d/fs/data -l $d/pg.log -w \
	    -o '-k $d/sock -c listen_addresses= -c max_connections=20' start" \
	    >/dev/null || skip "postgres did not start for $n"
	su postgres -c "$PGBIN/pgbench -h $d/sock -i -q -s $SCALE postgres" \
	    >"$d/init.log" 2>&1 || skip "pgbench -i failed for $n"
	# Start every timed run from the same state: tables checkpointed.
	su postgres -c "$PGBIN/psql -h $d/sock -q -c CHECKPOINT postgres" >/dev/null 2>&1
}
stack nbdkit "$URI_nbdkit"
stack blk "$URI_blk"
stack bak "$URI_bak"
stack app "$URI_app"

# run NAME: one timed pgbench run; appends "tps latency_ms" to $T/NAME.txt.
run() {
	d=$T/$1
	su postgres -c "$PGBIN/pgbench -h $d/sock -c $CLIENTS -j 2 -T $TIME postgres" \
	    >"$d/run.log" 2>&1 || { echo "0 0" >>"$T/$1.txt"; return; }
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$d/run.log")
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$d/run.log")
	echo "${tps:-0} ${lat:-0}" >>"$T/$1.txt"
}
r=0
while [ $r -lt "$ROUNDS" ]; do
	for n in $NAMES; do run $n; done
	r=$((r + 1))
done

python3 - "$T" <<'PY'
import sys
t = sys.argv[1]
def load(n):
    return [tuple(map(float, l.split())) for l in open(f"{t}/{n}.txt") if l.strip()]
def med(v):
    v = sorted(v)
    return v[(len(v) - 1) // 2] if v else 0.0
base = load("nbdkit")
print("| target | pgbench TPS per round | median TPS | vs nbdkit (median of per-round ratios) | latency ms (median) |")
print("|---|---|---:|---:|---:|")
for n, label in (("nbdkit", "nbdkit file"), ("blk", "blk"), ("bak", "blk + backup"),
                 ("app", "blk + backup, ack applied")):
    rows = load(n)
    runs = ", ".join("%.0f" % r[0] for r in rows)
    ratio = med([a[0] / b[0] for a, b in zip(rows, base) if b[0] > 0])
    print(f"| {label} | {runs} | {med([r[0] for r in rows]):.0f} | {ratio:.2f} | {med([r[1] for r in rows]):.2f} |")
PY
echo
echo "(pgbench scale $SCALE, $CLIENTS clients, $ROUNDS interleaved rounds of ${TIME}s; ext4 on loop on nbdfuse; NBD on unix sockets, replica link on TCP; load average $(cut -d' ' -f1-3 /proc/loadavg))"
# The replicated primary's flush latency over the whole run (pgbench -i
# included): local flush and the wait for the backup.
f=$("$BT" blk status --data-dir "$T/bak/run" 2>/dev/null | grep '^flushes:')
[ -n "$f" ] && echo "(blk + backup, $f)"
f=$("$BT" blk status --data-dir "$T/app/run" 2>/dev/null | grep '^flushes:')
[ -n "$f" ] && echo "(blk + backup, ack applied, $f)"
exit 0
