#!/bin/sh
# Every public header compiles on its own, includes only what STYLE.md
# allows, and has its include guard.
set -u
cd "$BT_SOURCE_DIR" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
for h in include/bt/*.h; do
	name=$(basename "$h")
	printf '#include "bt/%s"\n#include "bt/%s"\n' "$name" "$name" >"$tmp/t.c"
	if ! cc -std=c17 -Wall -Wextra -Werror -fsyntax-only -Iinclude "$tmp/t.c" 2>"$tmp/err"; then
		echo "FAIL $h does not compile alone (or twice):"; cat "$tmp/err"
		fail=$((fail + 1)); continue
	fi
	bad=$(grep -E '^#include <' "$h" | grep -vE '<(stdint|stddef|stdbool|sys/types|stdarg)\.h>' || true)
	if [ -n "$bad" ]; then
		echo "FAIL $h includes a non-standard header: $bad"
		fail=$((fail + 1)); continue
	fi
	pass=$((pass + 1))
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
