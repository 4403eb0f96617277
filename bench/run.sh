#!/bin/sh
# bench/run.sh BUILD_DIR: run every benchmark (bench/<part>/run.sh) and print
# its table. Benchmarks report; a failing one is noted and the rest go on.
cd "$(dirname "$0")/.." || exit 1
BUILD=${1:-build}
BT=$(pwd)/$BUILD/bt
export BT BUILD
for b in bench/*/run.sh; do
	[ -f "$b" ] || continue
	echo "== $(dirname "$b")"
	sh "$b" || echo "(benchmark $b did not finish: see above)"
	echo
done
exit 0
