#!/bin/sh
# bench/wasm/wprof.sh FILE.wasm [ARGS...]: builds bench/wasm/wprof.c with
# the sources of src/wasm under -DBT_WASM_PROFILE (against the core and os
# libraries of $BUILD, default build/) and runs it: a dynamic profile of
# the threaded code, for tuning the interpreter. Output on stderr.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$src/build}
tmp=${WPROF_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bt-wprof.XXXXXX")}
if [ ! -x "$tmp/wprof" ] || [ -n "${WPROF_REBUILD:-}" ]; then
	cc -O2 -g -std=gnu17 -D_GNU_SOURCE -DBT_WASM_PROFILE \
	    -I "$src/include" -I "$src/src/wasm" \
	    "$here/wprof.c" "$src"/src/wasm/decode.c "$src"/src/wasm/code.c \
	    "$src"/src/wasm/fuse.c \
	    "$src"/src/wasm/exec.c "$src"/src/wasm/instance.c \
	    "$src"/src/wasm/spectest.c $(ls "$src"/src/wasm/wasi*.c | grep -v _test) \
	    "$BUILD/src/os/libbt_os.a" "$BUILD/src/core/libbt_core.a" \
	    -ljansson -lm -lpthread -o "$tmp/wprof"
fi
exec "$tmp/wprof" "$@"
