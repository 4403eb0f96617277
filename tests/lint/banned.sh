#!/bin/sh
# The banned list of STYLE.md: unbounded or unsafe libc calls anywhere, and
# raw malloc/free outside src/core/alloc.c (so tests can count and fail
# allocations). Test harnesses (fuzz/replay_main.c, bench/) are exempt from
# the allocation rule.
set -u
cd "$BT_SOURCE_DIR" || exit 1
fail=0
files=$(find src cmd include fuzz examples -name '*.[ch]' 2>/dev/null | sort)
for f in $files; do
	# strip // comments and string literals crudely before matching
	hits=$(gcc -fpreprocessed -dD -E -P "$f" 2>/dev/null | sed -e 's/"[^"]*"//g' |
		grep -nE '\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets|sscanf)[[:space:]]*\(' || true)
	if [ -n "$hits" ]; then
		echo "FAIL $f uses a banned function:"; echo "$hits"; fail=$((fail + 1))
	fi
	case "$f" in
	src/core/alloc.c|fuzz/replay_main.c) continue ;;
	esac
	hits=$(gcc -fpreprocessed -dD -E -P "$f" 2>/dev/null | sed -e 's/"[^"]*"//g' |
		grep -nE '(^|[^_a-z.>])(malloc|calloc|realloc|free)[[:space:]]*\(' || true)
	if [ -n "$hits" ]; then
		echo "FAIL $f calls malloc/free directly (use bt_alloc/bt_free):"; echo "$hits"; fail=$((fail + 1))
	fi
done
n=$(echo "$files" | wc -w)
echo "$((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
