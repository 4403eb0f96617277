# wasi_lib.sh: what the wasi_*.sh tests share (sourced, not a test).
# Needs BT (the bt binary) and BT_SOURCE_DIR, as bt_script_test gives them.
# Compiles C test programs to wasm32-wasi at test time with Debian's clang
# (packages clang, lld, wasi-libc, libclang-rt-14-dev-wasm32).

set -u
: "${BT:?BT must name the bt binary}"
: "${BT_SOURCE_DIR:?BT_SOURCE_DIR must name the source tree}"
SRC="$BT_SOURCE_DIR/tests/data/wasm-src"
WASM_CC=${WASM_CC:-clang}
T=$(mktemp -d "${TMPDIR:-/tmp}/bt-wasi.XXXXXX")
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT
failures=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# compile NAME [SRC.c]: $T/NAME.wasm from tests/data/wasm-src/NAME.c
compile() {
	src=${2:-$SRC/$1.c}
	if ! "$WASM_CC" --target=wasm32-wasi -O2 "$src" -o "$T/$1.wasm" \
	    -Wl,--strip-debug 2>"$T/cc.err"; then
		cat "$T/cc.err" >&2
		echo "FAIL: cannot compile $src for wasm32-wasi" >&2
		exit 1
	fi
}

# run_bt OUT ERR ARGS...: runs $BT ARGS with stdout/stderr to files; sets rc
run_bt() {
	out=$1 err=$2
	shift 2
	"$BT" "$@" >"$out" 2>"$err" </dev/null
	rc=$?
}

# expect_rc WANT WHAT
expect_rc() {
	[ "$rc" -eq "$1" ] || fail "$2: exit status $rc, expected $1"
}

# expect_grep PATTERN FILE WHAT
expect_grep() {
	grep -q -e "$1" "$2" || {
		fail "$3: '$1' not in $(basename "$2"):"
		sed 's/^/    /' "$2" >&2
	}
}

finish() {
	if [ "$failures" -ne 0 ]; then
		echo "$failures failure(s)" >&2
		exit 1
	fi
	echo "all passed"
	exit 0
}
