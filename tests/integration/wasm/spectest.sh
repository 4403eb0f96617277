#!/bin/sh
# tests/integration/wasm/spectest.sh: converts every .wast file of the
# official core test suite ($BT_SHARED_DIR/wasm-testsuite/core) with wabt's
# wast2json into a temporary folder and runs them all through
# `bt wasm spectest`, which must report 0 failed. Text-format modules are
# skipped by design; every binary assertion (26,058) must pass.
set -eu

: "${BT:?BT must point at the bt binary}"
: "${BT_SHARED_DIR:?BT_SHARED_DIR must point at the shared folder}"
suite="$BT_SHARED_DIR/wasm-testsuite/core"

if ! command -v wast2json >/dev/null 2>&1; then
	echo "wast2json (Debian package wabt) is required" >&2
	exit 1
fi
[ -d "$suite" ] || { echo "no test suite at $suite" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bt-spectest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

n=0
for wast in "$suite"/*.wast; do
	base=$(basename "$wast" .wast)
	mkdir -p "$tmp/$base"
	wast2json "$wast" -o "$tmp/$base/$base.json"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "no .wast files in $suite" >&2; exit 1; }

"$BT" wasm spectest "$tmp"/*/*.json >"$tmp/out.txt" || true
cat "$tmp/out.txt"
last=$(tail -n 1 "$tmp/out.txt")
case "$last" in
*" passed, 0 failed, "*" skipped") ;;
*) echo "spec tests failed: $last" >&2; exit 1 ;;
esac
passed=${last%% passed*}
# Guard against a silently shrinking run: the suite has 26,058 binary
# assertions.
if [ "$passed" -lt 26058 ]; then
	echo "only $passed assertions passed, expected at least 26058" >&2
	exit 1
fi
echo "spectest: $n files, $last"
