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

"$out/bt_bench" >"$out/bt.txt" || echo "bt_bench failed"
[ $have_zmq = 1 ] && { "$out/zmq_bench" >"$out/zmq.txt" || echo "zmq failed"; }
[ $have_nng = 1 ] && { "$out/nng_bench" >"$out/nng.txt" || echo "nng failed"; }
touch "$out/zmq.txt" "$out/nng.txt"

awk -v B="$out/bt.txt" -v Z="$out/zmq.txt" -v N="$out/nng.txt" '
function load(f, a,   line, kv) {
	while ((getline line < f) > 0) {
		split(line, kv, "=")
		a[kv[1]] = kv[2]
	}
}
function cell(a, k) { return (k in a) ? a[k] : "-" }
function ratio(x, y, hib) {
	if (x == "-" || y == "-" || x == 0 || y == 0) return "-"
	return sprintf("%.2f", hib ? x / y : y / x)
}
function row(label, k, hib) {
	printf "| %s | %s | %s | %s | %s | %s |\n", label, cell(b, k),
	    cell(z, k), cell(n, k), ratio(cell(b, k), cell(z, k), hib),
	    ratio(cell(b, k), cell(n, k), hib)
}
BEGIN {
	load(B, b); load(Z, z); load(N, n)
	print "| workload (loopback) | blocktree, TLS 1.3 | ZeroMQ, plain | nng, plain | bt vs zmq | bt vs nng |"
	print "|---|---|---|---|---|---|"
	row("call 64 B p50 (us)", "call64_p50_us", 0)
	row("call 64 B p99 (us)", "call64_p99_us", 0)
	row("call 64 B lockstep (msg/s)", "call64_rate", 1)
	row("call 4 KiB p50 (us)", "call4k_p50_us", 0)
	row("call 4 KiB p99 (us)", "call4k_p99_us", 0)
	row("call 4 KiB lockstep (msg/s)", "call4k_rate", 1)
	row("call 64 B, 64 in flight (msg/s)", "pipe64_rate", 1)
	row("pub/sub to 10 subscribers (msg/s each)", "fanout_rate", 1)
	row("pub/sub messages lost", "fanout_lost", 0)
	row("in-process call (ns)", "inproc_ns", 0)
	print ""
	print "Ratios > 1 mean Blocktree is better (faster, or more per second)."
	print "ZeroMQ REQ/REP and nng req/rep allow one call in flight, so the"
	print "\"64 in flight\" row has no peer figure."
}'
