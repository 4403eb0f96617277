#!/bin/sh
# wasi_escape.sh: no path leaves a --dir folder: "..", absolute paths,
# symbolic links out (relative, absolute, chains, to "..", to /proc, a
# dangling one used with O_CREAT), loops, and the same through stat, mkdir,
# unlink, rename, rmdir, symlink and link; bad fds and guest pointers are
# errors. Runs with openat2 and with the component walk, then checks that
# nothing outside the folder changed.
. "$(dirname "$0")/wasi_lib.sh"

compile wasi_escape
for mode in openat2 walk; do
	w="$T/$mode"
	s="$w/sandbox"
	mkdir -p "$s/sub"
	printf 'secret\n' >"$w/outside.txt"
	printf 'victim\n' >"$w/victim.txt"
	printf 'inside\n' >"$s/inside.txt"
	printf 'deep\n' >"$s/sub/deep.txt"
	ln -s sub/deep.txt "$s/link_in"
	ln -s sub/../inside.txt "$s/link_dotdot_in"
	ln -s ../inside.txt "$s/sub/link_up"
	ln -s .. "$s/sub/link_root"
	ln -s ../outside.txt "$s/link_out"
	ln -s "$w/outside.txt" "$s/link_abs"
	ln -s .. "$s/link_dir_out"
	ln -s /proc/self/root "$s/link_proc"
	ln -s chain2 "$s/chain1"
	ln -s sub/chain3 "$s/chain2"
	ln -s ../../outside.txt "$s/sub/chain3"
	ln -s loop2 "$s/loop1"
	ln -s loop1 "$s/loop2"
	ln -s ../created.txt "$s/dangling_out"
	ln -s sub/../../outside.txt "$s/link_deep_out"
	(cd "$w" && find . | sort >"$T/before-$mode")

	extra=
	[ "$mode" = walk ] && extra=--no-openat2
	run_bt "$T/o" "$T/e" wasm run $extra --dir "$s:/sandbox" \
	    "$T/wasi_escape.wasm"
	expect_rc 0 "escape ($mode)"
	expect_grep '^escape: 0 failures$' "$T/o" "escape ($mode)"
	grep -v '^ok' "$T/o" >&2

	(cd "$w" && find . | sort >"$T/after-$mode")
	cmp -s "$T/before-$mode" "$T/after-$mode" || {
		fail "files changed around the sandbox ($mode)"
		diff "$T/before-$mode" "$T/after-$mode" >&2
	}
	[ "$(cat "$w/outside.txt")" = secret ] || fail "outside.txt changed"
	[ "$(cat "$w/victim.txt")" = victim ] || fail "victim.txt changed"
	[ -e "$w/created.txt" ] && fail "created.txt made outside ($mode)"
done

# wasi-libc's own view: absolute host paths are not reachable either
cat >"$T/fopen.c" <<'C'
#include <stdio.h>
int main(int argc, char **argv) {
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "r");
		printf("%s %s\n", argv[i], f ? "OPENED" : "refused");
	}
	return 0;
}
C
compile fopen "$T/fopen.c"
run_bt "$T/o" "$T/e" wasm run --dir "$T/openat2/sandbox:/sandbox" \
    "$T/fopen.wasm" -- /etc/passwd /sandbox/../outside.txt \
    /sandbox/link_out /sandbox/inside.txt "$T/openat2/outside.txt"
expect_rc 0 "fopen"
expect_grep '^/etc/passwd refused$' "$T/o" "fopen /etc/passwd"
expect_grep '^/sandbox/../outside.txt refused$' "$T/o" "fopen .."
expect_grep '^/sandbox/link_out refused$' "$T/o" "fopen link_out"
expect_grep '^/sandbox/inside.txt OPENED$' "$T/o" "fopen inside"
expect_grep "outside.txt refused$" "$T/o" "fopen host path"
finish
