#!/bin/sh
# wasi_files.sh: file-system calls through wasi-libc inside a --dir folder
# (create, write, read, seek/tell, pread, stat, truncate, append, O_EXCL,
# mkdir/rmdir, readdir over many buffers, rename, unlink), with openat2 and
# with the component walk, and what the host sees afterwards.
. "$(dirname "$0")/wasi_lib.sh"

compile wasi_files
for mode in openat2 walk; do
	d="$T/sandbox-$mode"
	mkdir "$d"
	extra=
	[ "$mode" = walk ] && extra=--no-openat2
	run_bt "$T/o" "$T/e" wasm run $extra --dir "$d:/sandbox" \
	    "$T/wasi_files.wasm" -- /sandbox
	expect_rc 0 "files ($mode)"
	expect_grep '^files: all ok$' "$T/o" "files ($mode)"
	grep FAIL "$T/o" >&2
	[ "$(cat "$d/kept.txt" 2>/dev/null)" = kept ] ||
	    fail "kept.txt not on the host ($mode)"
	[ -d "$d/keep" ] || fail "keep/ not on the host ($mode)"
	[ "$(ls "$d" | tr '\n' ' ')" = "keep kept.txt " ] ||
	    fail "unexpected host contents ($mode): $(ls "$d")"
done

# the guest name may differ from the host path, and a second folder is
# a separate preopen; without --dir the program sees no files at all
mkdir "$T/a" "$T/b"
run_bt "$T/o" "$T/e" wasm run --dir "$T/a:/first" --dir "$T/b:/second" \
    "$T/wasi_files.wasm" -- /second
expect_rc 0 "second preopen"
[ -f "$T/b/kept.txt" ] && [ ! -f "$T/a/kept.txt" ] ||
    fail "the second preopen was not the one written"
run_bt "$T/o" "$T/e" wasm run "$T/wasi_files.wasm" -- /sandbox
expect_rc 1 "no preopen"
expect_grep '^FAIL create' "$T/o" "no preopen: create must fail"

# a read-only folder: writes fail with the host's EACCES, reads work
if [ "$(id -u)" -ne 0 ]; then
	mkdir "$T/ro"
	chmod 555 "$T/ro"
	run_bt "$T/o" "$T/e" wasm run --dir "$T/ro:/sandbox" \
	    "$T/wasi_files.wasm" -- /sandbox
	expect_rc 1 "read-only folder"
	expect_grep '^FAIL create: Permission denied' "$T/o" "read-only folder"
fi
finish
