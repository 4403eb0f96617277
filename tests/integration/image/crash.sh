#!/bin/bash
# crash.sh: a build killed (SIGKILL) at some point leaves the layout usable
# and every earlier tag intact; gc then removes what the dead build left,
# and the build can simply be run again (STYLE.md, "crash simulation").
# The syscall-fault half of this is src/image/store_test.c.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

S=$T/src L=$T/oci
mkdir -p "$S/old" "$S/new"
seq 1 100000 > "$S/old/numbers"
d1=$("$BT" image build "$S" "$L:v1" 2>/dev/null) || fail "build v1"
cp "$L/index.json" "$T/index.v1"

# enough fresh data that the build is still writing blobs when killed
for i in $(seq 1 12); do head -c 4000000 /dev/urandom > "$S/new/r$i"; done
for kill_after in 5 40 150; do
	n0=$(ls "$L/blobs/sha256" | wc -l)
	"$BT" image build --no-compress "$S" "$L:v2" >/dev/null 2>&1 &
	pid=$!
	wait_for sh -c "[ \$(ls -A '$L/blobs/sha256' | wc -l) -ge $((n0 + kill_after)) ]" || true
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	# The dead build published nothing half-made: index.json is v1's or
	# a complete v2 (if it won the race), and v1 verifies either way.
	if ! cmp -s "$L/index.json" "$T/index.v1"; then
		"$BT" image verify "$L:v2" >/dev/null || fail "a half-built v2 was published"
		"$BT" image rm "$L:v2"
	fi
	"$BT" image verify --digest "$d1" "$L:v1" >/dev/null || fail "v1 damaged by a killed build"
	"$BT" image ls "$L" >/dev/null || fail "layout unreadable after a kill"
done
"$BT" image gc "$L" > "$T/gc" || fail "gc after kills"
grep -q '^removed [1-9]' "$T/gc" || fail "gc found nothing the killed builds left: $(cat "$T/gc")"
ls -A "$L/blobs/sha256" > "$T/left"
grep -q '^\.bt-tmp' "$T/left" && fail "gc left temporary files"
"$BT" image verify --digest "$d1" "$L:v1" >/dev/null || fail "v1 damaged by gc"
d2=$("$BT" image build "$S" "$L:v2" 2>/dev/null) || fail "rebuild after the kills"
"$BT" image verify --digest "$d2" "$L:v2" >/dev/null || fail "rebuilt v2 does not verify"
"$BT" image extract "$L:v2" "$T/out" || fail "extract v2"
diff -r "$S" "$T/out" || fail "rebuilt v2 differs from the tree"
echo "PASS: crash"
