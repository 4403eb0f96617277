#!/bin/sh
# wasi_bench_small.sh: the five programs of $BT_SHARED_DIR/wasm-bench,
# compiled at test time, run by `bt wasm run` at their small sizes; each
# must print its line of expected.txt and exit 0.
. "$(dirname "$0")/wasi_lib.sh"
: "${BT_SHARED_DIR:?BT_SHARED_DIR must name the shared folder}"
B="$BT_SHARED_DIR/wasm-bench"

for p in intmix sha256 nbody fib sort; do
	compile "$p" "$B/$p.c"
	case $p in
	intmix) a=300 ;; sha256) a=2 ;; nbody) a=20000 ;; fib) a=27 ;;
	sort) a=200000 ;;
	esac
	want=$(awk -F '\t' -v p="$p" -v a="$a" \
	    '$1 == p && $2 == a { print $3 }' "$B/expected.txt")
	[ -n "$want" ] || { fail "$p $a not in expected.txt"; continue; }
	run_bt "$T/o" "$T/e" wasm run "$T/$p.wasm" -- "$a"
	expect_rc 0 "$p $a"
	got=$(cat "$T/o")
	[ "$got" = "$want" ] || fail "$p $a: got '$got', expected '$want'"
	[ "$got" = "$want" ] && echo "ok $got"
done
finish
