#!/bin/sh
# wasi_run.sh: `bt wasm run` end to end: arguments, environment, exit
# statuses, traps named on stderr, --timeout, --fuel, --max-memory, stdin,
# clocks and random, usage and load errors.
. "$(dirname "$0")/wasi_lib.sh"

compile wasi_args
compile wasi_exit
compile wasi_cat
compile wasi_clock

# arguments and environment, in order, with spaces and '=' kept
run_bt "$T/o" "$T/e" wasm run "$T/wasi_args.wasm" --env A=1 \
    --env "B=x=y z" -- hello "two words" -v ""
expect_rc 0 "args"
cat >"$T/want" <<WANT
argc=5
argv[0]=$T/wasi_args.wasm
argv[1]=hello
argv[2]=two words
argv[3]=-v
argv[4]=
env[0]=A=1
env[1]=B=x=y z
WANT
cmp -s "$T/want" "$T/o" || { fail "args output"; diff "$T/want" "$T/o" >&2; }
# no --env: the host's environment is not passed through
WASI_ARGS_MISSING=1 "$BT" wasm run "$T/wasi_args.wasm" >"$T/o" 2>"$T/e"
rc=$?
expect_rc 0 "host environment not inherited"
grep -q '^env' "$T/o" && fail "the guest saw the host environment"

# exit statuses
for n in 0 1 3 42 255; do
	run_bt "$T/o" "$T/e" wasm run "$T/wasi_exit.wasm" -- "$n"
	expect_rc "$n" "exit($n)"
done
run_bt "$T/o" "$T/e" wasm run "$T/wasi_exit.wasm" -- return 9
expect_rc 9 "return 9 from main"
run_bt "$T/o" "$T/e" wasm run "$T/wasi_exit.wasm" -- ok
expect_rc 0 "_start returns"
[ -s "$T/e" ] && fail "a clean run printed to stderr"
run_bt "$T/o" "$T/e" wasm run "$T/wasi_exit.wasm" -- stderr
expect_rc 7 "stderr"
expect_grep '^to stderr$' "$T/e" "guest stderr"

# traps: exit 134 and the cause, function and offset on stderr
for m in "div0:integer divide by zero" "unreachable:unreachable" \
    "oob:out of bounds memory access" "recurse:call stack exhausted"; do
	mode=${m%%:*} msg=${m#*:}
	run_bt "$T/o" "$T/e" wasm run "$T/wasi_exit.wasm" -- "$mode"
	expect_rc 134 "trap $mode"
	expect_grep "wasi_exit.wasm trapped: $msg in function [0-9]* at offset 0x[0-9a-f]*" \
	    "$T/e" "trap $mode message"
done

# limits
start=$(date +%s%N)
run_bt "$T/o" "$T/e" wasm run --timeout 300ms "$T/wasi_exit.wasm" -- loop
end=$(date +%s%N)
expect_rc 124 "--timeout"
expect_grep "timed out" "$T/e" "--timeout message"
[ $(( (end - start) / 1000000 )) -lt 5000 ] || fail "--timeout took too long"
run_bt "$T/o" "$T/e" wasm run --fuel 100000 "$T/wasi_exit.wasm" -- loop
expect_rc 134 "--fuel"
expect_grep "ran out of fuel" "$T/e" "--fuel message"
# a timeout also ends a guest blocked reading stdin (EINTR)
mkfifo "$T/fifo"
( exec sleep 30 >"$T/fifo" ) &
holder=$!
start=$(date +%s%N)
"$BT" wasm run --timeout 300ms "$T/wasi_cat.wasm" <"$T/fifo" >"$T/o" 2>"$T/e"
rc=$?
end=$(date +%s%N)
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
expect_rc 124 "--timeout of a blocked read"
expect_grep "timed out" "$T/e" "--timeout of a blocked read"
[ $(( (end - start) / 1000000 )) -lt 5000 ] || fail "--timeout did not end a blocked read"
run_bt "$T/o" "$T/e" wasm run --max-memory 16M "$T/wasi_exit.wasm" -- grow
expect_rc 0 "--max-memory"
# 16 MiB minus the initial pages and malloc's overhead
expect_grep '^grew 1[2-5] MiB$' "$T/o" "--max-memory bound"
run_bt "$T/o" "$T/e" wasm run --max-memory 64k "$T/wasi_exit.wasm" -- ok
expect_rc 1 "--max-memory below the module's minimum"
expect_grep "cannot instantiate" "$T/e" "instantiation failure message"

# stdin to stdout through fd_read/fd_write
head -c 100000 /dev/urandom >"$T/in"
"$BT" wasm run "$T/wasi_cat.wasm" <"$T/in" >"$T/o" 2>"$T/e"
rc=$?
expect_rc 0 "cat"
cmp -s "$T/in" "$T/o" || fail "cat: stdout differs from stdin"
expect_grep "cat: 100000 bytes" "$T/e" "cat byte count"

# clocks, sleeping, random
run_bt "$T/o" "$T/e" wasm run "$T/wasi_clock.wasm" -- "$(date +%s)"
expect_rc 0 "clock"
expect_grep "^clock: all ok" "$T/o" "clock"
grep FAIL "$T/o" >&2

# usage and load errors
run_bt "$T/o" "$T/e" wasm run
expect_rc 2 "no file"
run_bt "$T/o" "$T/e" wasm run "$T/nonexistent.wasm"
expect_rc 1 "missing file"
expect_grep "cannot read" "$T/e" "missing file message"
printf '\0asm\1\0\0\0\1' >"$T/bad.wasm"
run_bt "$T/o" "$T/e" wasm run "$T/bad.wasm"
expect_rc 1 "malformed module"
expect_grep "not a valid module: .* at byte offset" "$T/e" "malformed message"
run_bt "$T/o" "$T/e" wasm run "$T/wasi_args.wasm" --env NOEQUALS
expect_rc 2 "--env without ="
run_bt "$T/o" "$T/e" wasm run "$T/wasi_args.wasm" --dir "$T/nonexistent:/x"
expect_rc 1 "--dir of a missing folder"
expect_grep "cannot open folder" "$T/e" "--dir message"
run_bt "$T/o" "$T/e" wasm run --help
expect_rc 0 "--help"
expect_grep "example" "$T/o" "--help example"

finish
