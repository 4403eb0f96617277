#!/bin/sh
# bench/wasm/run.sh: the five programs of $BT_SHARED_DIR/wasm-bench, built
# native (clang -O2) and as wasm32-wasi modules, timed natively, under
# `bt wasm run` and under node (V8's JIT), best of REPS (default 3); prints
# a Markdown table with seconds, ratios to native and geometric means, and
# checks every output against expected.txt. Then the cost of one trivial
# WASI run (context + instantiate + _start + free) measured in-process by
# bench/wasm/trivial.c, compiled against the build's static libraries.
#
#   BT=build/bt sh bench/wasm/run.sh        (bench/run.sh sets BT)
#   REPS=5 SIZES=small BT=... sh bench/wasm/run.sh
# SIZES=small uses the small arguments of expected.txt (a quick check).
# Run by `make bench`, never by the tests. Never fails the suite.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
: "${BT:=$src/build/bt}"
case $BT in /*) ;; *) BT=$(pwd)/$BT ;; esac
build=$(dirname "$BT")
shared=${BT_SHARED_DIR:-$src/../shared}
B="$shared/wasm-bench"
REPS=${REPS:-3}
SIZES=${SIZES:-default}
CC=${CC:-clang}
NODE=${NODE:-node}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bt-bench-wasm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

[ -x "$BT" ] || { echo "no bt at $BT: build first"; exit 0; }
[ -d "$B" ] || { echo "no wasm-bench at $B"; exit 0; }
have_node=1
command -v "$NODE" >/dev/null 2>&1 || have_node=0

now() { date +%s%N; }
# With /usr/bin/time (Debian package "time") the CPU seconds (user + sys)
# of each run are kept too: on a loaded machine they say more than the
# wall clock. Without it the CPU columns stay empty.
TIMECMD=
[ -x /usr/bin/time ] && TIMECMD=/usr/bin/time
# best_ms OUT CMD...: best wall-clock ms of REPS runs; OUT gets the last
# stdout; $tmp/cpu gets the best CPU ms; non-zero if any run failed
best_ms() {
	o=$1
	shift
	best= bcpu= st=0
	for i in $(seq "$REPS"); do
		t0=$(now)
		if [ -n "$TIMECMD" ]; then
			$TIMECMD -f '%U %S' -o "$tmp/t" "$@" >"$o" \
			    2>>"$tmp/err" || st=1
		else
			"$@" >"$o" 2>>"$tmp/err" || st=1
		fi
		t1=$(now)
		ms=$(( (t1 - t0) / 1000000 ))
		if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
		if [ -n "$TIMECMD" ]; then
			c=$(awk 'END { printf "%d", ($1 + $2) * 1000 }' "$tmp/t")
			if [ -z "$bcpu" ] || [ "$c" -lt "$bcpu" ]; then bcpu=$c; fi
		fi
	done
	echo "$bcpu" >"$tmp/cpu"
	echo "$best"
	return $st
}
s() { awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }

echo "Blocktree wasm interpreter vs native and node, best of $REPS," \
    "$SIZES sizes, wall-clock seconds per whole process."
echo
echo "| program | native s | bt wasm run s | node s | bt / native | node / native | bt / native (CPU s) | output |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
lbt=0 lnode=0 lcpu=0 n=0 nnode=0 ncpu=0
for p in intmix sha256 nbody fib sort; do
	if ! "$CC" -O2 "$B/$p.c" -o "$tmp/$p" -lm 2>>"$tmp/err" ||
	   ! "$CC" --target=wasm32-wasi -O2 "$B/$p.c" -o "$tmp/$p.wasm" \
	    -Wl,--strip-debug 2>>"$tmp/err"; then
		echo "| $p | | | | | | cannot compile (clang, wasi-libc) |"
		continue
	fi
	arg=
	key=-
	if [ "$SIZES" = small ]; then
		case $p in
		intmix) arg=300 ;; sha256) arg=2 ;; nbody) arg=20000 ;;
		fib) arg=27 ;; sort) arg=200000 ;;
		esac
		key=$arg
	fi
	want=$(awk -F '\t' -v p="$p" -v a="$key" \
	    '$1 == p && $2 == a { print $3 }' "$B/expected.txt")
	note=
	nat=$(best_ms "$tmp/n.out" "$tmp/$p" $arg) || note="native failed; "
	ncpu_ms=$(cat "$tmp/cpu")
	bt=$(best_ms "$tmp/b.out" "$BT" wasm run "$tmp/$p.wasm" -- $arg) ||
	    note="${note}bt failed; "
	bcpu_ms=$(cat "$tmp/cpu")
	[ "$(cat "$tmp/b.out")" = "$want" ] || note="${note}bt output differs; "
	[ "$(cat "$tmp/n.out")" = "$want" ] || note="${note}native output differs; "
	nd=
	if [ "$have_node" = 1 ]; then
		nd=$(best_ms "$tmp/d.out" "$NODE" --no-warnings \
		    --no-turbo-fast-api-calls "$B/run-wasi.mjs" \
		    "$tmp/$p.wasm" $arg) || note="${note}node failed; "
		[ "$(cat "$tmp/d.out")" = "$want" ] ||
		    note="${note}node output differs; "
	fi
	rb=$(ratio "$bt" "$nat")
	rn=-
	[ -n "$nd" ] && rn=$(ratio "$nd" "$nat")
	[ -z "$note" ] && note="same as expected.txt"
	rc_=-
	if [ -n "$ncpu_ms" ] && [ -n "$bcpu_ms" ] && [ "$ncpu_ms" -gt 0 ]; then
		rc_=$(ratio "$bcpu_ms" "$ncpu_ms")
		rc_="$rc_ ($(s "$bcpu_ms") / $(s "$ncpu_ms"))"
		lcpu=$(awk -v l="$lcpu" -v a="$bcpu_ms" -v b="$ncpu_ms" 'BEGIN { printf "%.6f", l + log(a / b) }')
		ncpu=$((ncpu + 1))
	fi
	echo "| $p | $(s "$nat") | $(s "$bt") | ${nd:+$(s "$nd")} | $rb | $rn | $rc_ | $note |"
	lbt=$(awk -v l="$lbt" -v r="$rb" 'BEGIN { printf "%.6f", l + log(r) }')
	n=$((n + 1))
	if [ "$rn" != - ]; then
		lnode=$(awk -v l="$lnode" -v r="$rn" 'BEGIN { printf "%.6f", l + log(r) }')
		nnode=$((nnode + 1))
	fi
done
gb=$(awk -v l="$lbt" -v n="$n" 'BEGIN { if (n) printf "%.2f", exp(l / n); else printf "-" }')
gn=$(awk -v l="$lnode" -v n="$nnode" 'BEGIN { if (n) printf "%.2f", exp(l / n); else printf "-" }')
gc=$(awk -v l="$lcpu" -v n="$ncpu" 'BEGIN { if (n) printf "%.2f", exp(l / n); else printf "-" }')
echo "| geometric mean | | | | **$gb** | **$gn** | **$gc** | target: bt <= 6x native |"
echo
echo "Load average during the run: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" \
    "on $(nproc 2>/dev/null) CPUs (wall-clock ratios suffer when it is above that)."
echo

# The trivial run, in-process (no process start-up in the figure).
echo "Trivial WASI run: new context, instantiate a compiled module, _start"
echo "to proc_exit, free (in-process loop; target < 50 us)."
echo
libs=
for l in src/wasm/libbt_wasm.a src/os/libbt_os.a src/core/libbt_core.a; do
	[ -f "$build/$l" ] && libs="$libs $build/$l"
done
if cc -O2 -D_GNU_SOURCE -I "$src/include" \
    "$here/trivial.c" $libs -ljansson -lm -lpthread -o "$tmp/trivial" \
    2>>"$tmp/err"; then
	printf 'int main(void) { return 0; }\n' >"$tmp/ret0.c"
	"$CC" --target=wasm32-wasi -O2 "$tmp/ret0.c" -o "$tmp/ret0.wasm" \
	    -Wl,--strip-debug 2>>"$tmp/err"
	echo "| module | runs | mean us | best us |"
	echo "|---|---:|---:|---:|"
	for m in "minimal (96 bytes, 1 page):" \
	    "C 'return 0' with wasi-libc:$tmp/ret0.wasm"; do
		name=${m%%:*} file=${m#*:}
		line=$("$tmp/trivial" 20000 $file 2>&1)
		mean=$(echo "$line" | sed -n 's/.*mean \([0-9.]*\) us.*/\1/p')
		bst=$(echo "$line" | sed -n 's/.*best \([0-9.]*\) us.*/\1/p')
		echo "| $name | 20000 | ${mean:-?} | ${bst:-?} |"
	done
else
	echo "(cannot build bench/wasm/trivial.c against $build)"
fi
if [ -s "$tmp/err" ] && grep -q . "$tmp/err"; then
	echo
	echo "stderr of the runs (first lines):"
	head -5 "$tmp/err" | sed 's/^/    /'
fi
exit 0
