#!/bin/sh
# bench/wasm/compare.sh BT_BEFORE BT_AFTER: the five programs of
# $BT_SHARED_DIR/wasm-bench at default sizes, natively and under two `bt`
# binaries (before and after an interpreter change), interleaved round by
# round (native, before, after) so that a load change on a shared machine
# hits all three alike; best of REPS (default 3) CPU seconds (user + sys)
# and wall seconds. Prints a Markdown table of ratios to native with
# geometric means, and the load average at the start and the end.
#
#   sh bench/wasm/compare.sh /tmp/bt.old build/bt
#   REPS=5 SIZES=small sh bench/wasm/compare.sh A B
# Never run by the tests; needs clang, wasi-libc and /usr/bin/time.
set -u
[ $# -eq 2 ] || { echo "usage: compare.sh BT_BEFORE BT_AFTER"; exit 2; }
A=$1
Bt=$2
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
shared=${BT_SHARED_DIR:-$src/../shared}
W="$shared/wasm-bench"
REPS=${REPS:-3}
SIZES=${SIZES:-default}
CC=${CC:-clang}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bt-compare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time"; exit 0; }

# run KEY CMD...: one run; keeps the best CPU and wall ms in $tmp/KEY.*
run() {
	k=$1
	shift
	t0=$(date +%s%N)
	/usr/bin/time -f '%U %S' -o "$tmp/t" "$@" >"$tmp/out" 2>/dev/null ||
	    echo "failed: $*" >&2
	t1=$(date +%s%N)
	w=$(( (t1 - t0) / 1000000 ))
	c=$(awk 'END { printf "%d", ($1 + $2) * 1000 }' "$tmp/t")
	for x in cpu:$c wall:$w; do
		f="$tmp/$k.${x%%:*}"
		v=${x#*:}
		if [ ! -s "$f" ] || [ "$v" -lt "$(cat "$f")" ]; then
			echo "$v" >"$f"
		fi
	done
}
r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" \
    "on $(nproc) CPUs; best of $REPS, $SIZES sizes."
echo
echo "| program | native CPU s | before CPU x | after CPU x | before wall x | after wall x |"
echo "|---|---:|---:|---:|---:|---:|"
la=0 lb=0 lwa=0 lwb=0 n=0
for p in intmix sha256 nbody fib sort; do
	"$CC" -O2 "$W/$p.c" -o "$tmp/$p" -lm || continue
	"$CC" --target=wasm32-wasi -O2 "$W/$p.c" -o "$tmp/$p.wasm" \
	    -Wl,--strip-debug || continue
	arg=
	if [ "$SIZES" = small ]; then
		case $p in
		intmix) arg=300 ;; sha256) arg=2 ;; nbody) arg=20000 ;;
		fib) arg=27 ;; sort) arg=200000 ;;
		esac
	fi
	for i in $(seq "$REPS"); do
		run "$p.n" "$tmp/$p" $arg
		run "$p.a" "$A" wasm run "$tmp/$p.wasm" -- $arg
		run "$p.b" "$Bt" wasm run "$tmp/$p.wasm" -- $arg
	done
	nc=$(cat "$tmp/$p.n.cpu") nw=$(cat "$tmp/$p.n.wall")
	ac=$(r "$(cat "$tmp/$p.a.cpu")" "$nc")
	bc=$(r "$(cat "$tmp/$p.b.cpu")" "$nc")
	aw=$(r "$(cat "$tmp/$p.a.wall")" "$nw")
	bw=$(r "$(cat "$tmp/$p.b.wall")" "$nw")
	echo "| $p | $(awk -v c="$nc" 'BEGIN { printf "%.2f", c / 1000 }') | $ac | $bc | $aw | $bw |"
	la=$(awk -v l="$la" -v x="$ac" 'BEGIN { printf "%.6f", l + log(x) }')
	lb=$(awk -v l="$lb" -v x="$bc" 'BEGIN { printf "%.6f", l + log(x) }')
	lwa=$(awk -v l="$lwa" -v x="$aw" 'BEGIN { printf "%.6f", l + log(x) }')
	lwb=$(awk -v l="$lwb" -v x="$bw" 'BEGIN { printf "%.6f", l + log(x) }')
	n=$((n + 1))
done
g() { awk -v l="$1" -v n="$n" 'BEGIN { if (n) printf "%.2f", exp(l / n) }'; }
echo "| geometric mean | | **$(g "$la")** | **$(g "$lb")** | $(g "$lwa") | $(g "$lwb") |"
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
