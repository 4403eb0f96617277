#!/bin/sh
# bench/msg/run.sh: Blocktree messaging (TLS 1.3, mutually authenticated)
# beside ZeroMQ and nng (no encryption) on the same loopback, in one run.
# Run by `make bench` (BUILD names the build folder); never by the tests.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/${BUILD:-build}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

libs=""
for p in msg net crypto serde os core; do
	libs="$libs $build/src/$p/libbt_$p.a"
done
cflags="-O2 -std=gnu17 -D_GNU_SOURCE -I$root/include"
cc $cflags -o "$out/bt_bench" "$here/bt_bench.c" $libs \
    $(pkg-config --libs openssl libuv jansson) -lpthread || {
	echo "bench/msg: cannot build bt_bench (is $build built?)"; exit 1; }
have_zmq=0; have_nng=0
cc $cflags -o "$out/zmq_bench" "$here/zmq_bench.c" -lzmq -lpthread \
    2>/dev/null && have_zmq=1
cc $cflags -o "$out/nng_bench" "$here/nng_bench.c" -lnng -lpthread \
    2>/dev/null && have_nng=1

# Rounds (3, or $ROUNDS), the systems interleaved, so a noisy neighbour
# hurts all three alike; each figure below is the median of its rounds.
ROUNDS=${ROUNDS:-3}
r=1
while [ $r -le "$ROUNDS" ]; do
	"$out/bt_bench" >>"$out/bt.all" || echo "bt_bench failed"
	[ $have_zmq = 1 ] && { "$out/zmq_bench" >>"$out/zmq.all" ||
	    echo "zmq_bench failed"; }
	[ $have_nng = 1 ] && { "$out/nng_bench" >>"$out/nng.all" ||
	    echo "nng_bench failed"; }
	r=$((r + 1))
done
median() { # key=value lines, repeated per round -> key=median
	awk -F= '{ v[$1, ++n[$1]] = $2 + 0; if (!($1 in seen)) {
		seen[$1] = 1; keys[++k] = $1 } }
	END { for (i = 1; i <= k; i++) { key = keys[i]; c = n[key]
		for (a = 1; a <= c; a++) x[a] = v[key, a]
		for (a = 1; a <= c; a++) for (b = a + 1; b <= c; b++)
			if (x[b] < x[a]) { t = x[a]; x[a] = x[b]; x[b] = t }
		print key "=" x[int((c + 1) / 2)] } }' "$1"
}
touch "$out/bt.all" "$out/zmq.all" "$out/nng.all"
median "$out/bt.all" >"$out/bt.txt"
median "$out/zmq.all" >"$out/zmq.txt"
median "$out/nng.all" >"$out/nng.txt"

# The figures are medians of the rounds; a ratio is the median of the
# rounds' own ratios (each round's systems ran next to each other in
# time), with their range when there are several rounds.
awk -v R="$ROUNDS" -v B="$out/bt.txt" -v Z="$out/zmq.txt" -v N="$out/nng.txt" \
    -v BA="$out/bt.all" -v ZA="$out/zmq.all" -v NA="$out/nng.all" '
function load(f, a,   line, kv) {
	while ((getline line < f) > 0) {
		split(line, kv, "=")
		a[kv[1]] = kv[2]
	}
}
function loadall(f, a, c,   line, kv) { # a[key, round]; c[key]: rounds
	while ((getline line < f) > 0) {
		split(line, kv, "=")
		a[kv[1], ++c[kv[1]]] = kv[2] + 0
	}
}
function cell(a, k) { return (k in a) ? a[k] : "-" }
function ratio(xa, xc, ya, yc, k, hib,   m, i, j, t, r, v) {
	m = xc[k] < yc[k] ? xc[k] : yc[k]
	if (m == 0) return "-"
	for (i = 1; i <= m; i++) {
		if (xa[k, i] == 0 || ya[k, i] == 0) return "-"
		r[i] = hib ? xa[k, i] / ya[k, i] : ya[k, i] / xa[k, i]
	}
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
		if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
	v = sprintf("%.2f", r[int((m + 1) / 2)])
	if (m > 1) v = v sprintf(" (%.2f-%.2f)", r[1], r[m])
	return v
}
function row(label, k, hib) {
	printf "| %s | %s | %s | %s | %s | %s |\n", label, cell(b, k),
	    cell(z, k), cell(n, k), ratio(ba, bc, za, zc, k, hib),
	    ratio(ba, bc, na, nc, k, hib)
}
BEGIN {
	load(B, b); load(Z, z); load(N, n)
	loadall(BA, ba, bc); loadall(ZA, za, zc); loadall(NA, na, nc)
	print "| workload (loopback) | blocktree, TLS 1.3 | ZeroMQ, plain | nng, plain | bt vs zmq | bt vs nng |"
	print "|---|---|---|---|---|---|"
	row("call 64 B p50 (us)", "call64_p50_us", 0)
	row("call 64 B p99 (us)", "call64_p99_us", 0)
	row("call 64 B lockstep (msg/s)", "call64_rate", 1)
	row("call 4 KiB p50 (us)", "call4k_p50_us", 0)
	row("call 4 KiB p99 (us)", "call4k_p99_us", 0)
	row("call 4 KiB lockstep (msg/s)", "call4k_rate", 1)
	row("call 64 B, 64 in flight (msg/s)", "pipe64_rate", 1)
	row("call 4 KiB, 64 in flight (msg/s)", "pipe4k_rate", 1)
	row("pub/sub to 10 subscribers (msg/s each)", "fanout_rate", 1)
	row("pub/sub messages lost", "fanout_lost", 0)
	row("in-process call (ns)", "inproc_ns", 0)
	print ""
	print "Medians of " R " interleaved rounds. A ratio is the median of the"
	print "rounds\047 own ratios (their range in brackets); > 1 means"
	print "Blocktree is better (faster, or more per second)."
	print "Lockstep: one call at a time (ZeroMQ REQ/REP, nng req/rep, a"
	print "blocking bt_msg_call). 64 in flight: ZeroMQ DEALER/ROUTER, nng 64"
	print "req and 64 rep contexts (aio), bt_msg_call_async; each answer"
	print "starts the next call."
}'
