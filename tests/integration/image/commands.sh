#!/bin/bash
# commands.sh: ls, inspect, verify, rm, gc, --digest pinning, damaged
# blobs (verify, extract and mount name them; a read gets EIO, never wrong
# bytes) and hostile index.json, manifests and metadata (issue 5).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

S=$T/src L=$T/oci
mkdir -p "$S/a" "$S/b"
for i in $(seq 1 40); do seq "$i" 3 60000 > "$S/a/f$i"; done
head -c 2000000 /dev/urandom > "$S/b/random"
printf 'small\n' > "$S/b/small"

d1=$("$BT" image build "$S" "$L:v1" 2>/dev/null) || fail "build v1"
# v2: a few files changed; most chunks are shared with v1
for i in 1 2 3; do echo changed >> "$S/a/f$i"; done
head -c 300000 /dev/urandom > "$S/b/new"
d2=$("$BT" image build --base v1 "$S" "$L:v2" 2>"$T/b2.log") || fail "build v2"
grep -q "files taken from v1 unread" "$T/b2.log" || fail "--base did not reuse files"
[ "$d1" != "$d2" ] || fail "v1 and v2 have the same digest"

# ls lists both tags with their digests
"$BT" image ls "$L" > "$T/ls"
grep -q "^v1 .*$d1" "$T/ls" || fail "ls misses v1"
grep -q "^v2 .*$d2" "$T/ls" || fail "ls misses v2"

# inspect: v2 shares most of its stored bytes with v1
"$BT" image inspect "$L:v2" > "$T/insp" || fail "inspect"
stored=$(awk '/^stored bytes/ {print $3}' "$T/insp")
shared=$(awk '/^shared bytes/ {print $3}' "$T/insp")
[ "$shared" -gt $((stored / 2)) ] || fail "v2 shares only $shared of $stored bytes"
grep -q '^entries: *46 ' "$T/insp" || { cat "$T/insp"; fail "inspect entries"; }

# rebuilding the same tree gives the same digest (reproducible)
d2b=$("$BT" image build "$S" "$L:v2b" 2>/dev/null)
[ "$d2" = "$d2b" ] || fail "the same tree built twice gave $d2 and $d2b"
"$BT" image rm "$L:v2b" || fail "rm v2b"

# verify passes; a pinned digest must match
"$BT" image verify "$L:v1" >/dev/null || fail "verify v1"
"$BT" image verify --digest "$d1" "$L:v1" >/dev/null || fail "verify pinned"
if "$BT" image verify --digest "$d2" "$L:v1" 2>"$T/err"; then fail "wrong pin accepted"; fi
grep -q "not the pinned" "$T/err" || fail "wrong pin: unclear error: $(cat "$T/err")"
if "$BT" image extract --digest "$d2" "$L:v1" "$T/x0" 2>/dev/null; then fail "extract took a wrong pin"; fi

# damage one chunk blob of v1 only: verify names it, extract fails naming
# it, a mount returns EIO for the file that needs it and serves the rest
mh=$(blob_of "$L" v1)
chunk=$(grep -o '"application/vnd.blocktree.image.chunk.v1+zstd","digest":"sha256:[0-9a-f]*' \
    "$L/blobs/sha256/$mh" | sed -n 1p | sed 's/.*sha256://')
[ -n "$chunk" ] || fail "no zstd chunk in v1's manifest"
cp "$L/blobs/sha256/$chunk" "$T/saved"
printf 'X' | dd of="$L/blobs/sha256/$chunk" bs=1 seek=10 conv=notrunc status=none
if "$BT" image verify "$L:v1" 2>"$T/err"; then fail "verify missed a damaged blob"; fi
grep -q "$chunk" "$T/err" || fail "verify did not name the blob: $(cat "$T/err")"
if "$BT" image extract "$L:v1" "$T/x1" 2>"$T/err"; then fail "extract used a damaged blob"; fi
grep -q "$chunk.*damaged" "$T/err" || fail "extract did not name the blob: $(cat "$T/err")"
if fuse_ok && mount_image "$L:v1" "$T/mnt"; then
	bad=0 good=0
	for f in "$T"/mnt/a/* "$T"/mnt/b/*; do
		rel=${f#"$T/mnt/"}
		if cat "$f" > "$T/read" 2>"$T/cat.err"; then
			cmp -s "$T/read" "$S/$rel" || [ "$rel" = a/f1 ] || [ "$rel" = a/f2 ] ||
			    [ "$rel" = a/f3 ] || [ "$rel" = b/new ] || fail "wrong bytes for $rel"
			good=$((good + 1))
		else
			grep -q "Input/output error" "$T/cat.err" || fail "not EIO: $(cat "$T/cat.err")"
			bad=$((bad + 1))
		fi
	done
	[ "$bad" -ge 1 ] || fail "no read failed on a damaged chunk"
	[ "$good" -ge 1 ] || fail "no read succeeded"
	umount_image "$T/mnt" || fail "umount"
	grep -q "$chunk" "$T/mount.mnt.log" || fail "mount did not name the blob"
	echo "mount: $bad file(s) EIO, $good served"
fi
cp "$T/saved" "$L/blobs/sha256/$chunk"
"$BT" image verify "$L:v1" >/dev/null || fail "verify after repair"

# a missing blob is named too
mv "$L/blobs/sha256/$chunk" "$T/saved"
if "$BT" image verify "$L:v1" 2>"$T/err"; then fail "verify missed a missing blob"; fi
grep -q "$chunk: missing" "$T/err" || fail "missing blob not named: $(cat "$T/err")"
mv "$T/saved" "$L/blobs/sha256/$chunk"

# hostile index.json: truncated, not JSON, wrong types
cp "$L/index.json" "$T/index.good"
head -c 40 "$T/index.good" > "$L/index.json"
if "$BT" image ls "$L" 2>"$T/err"; then fail "truncated index.json accepted"; fi
grep -q "index.json" "$T/err" || fail "unclear error: $(cat "$T/err")"
printf '{"schemaVersion":2,"manifests":[{"digest":"sha256:zz","size":-1}]}' > "$L/index.json"
if "$BT" image extract "$L:v1" "$T/x2" 2>"$T/err"; then fail "hostile index.json accepted"; fi
grep -q "digest" "$T/err" || fail "unclear error: $(cat "$T/err")"
cp "$T/index.good" "$L/index.json"

# hostile manifest (valid digest chain, garbage JSON), and a truncated one
printf '{"schemaVersion":2,"config":7,"layers":"no"}' > "$T/badmf"
bh=$(put_blob "$L" "$T/badmf")
repoint "$L" "$mh" "$(stat -c %s "$L/blobs/sha256/$mh")" "$bh" "$(stat -c %s "$T/badmf")" "$L/index.json"
if "$BT" image extract "$L:v1" "$T/x3" 2>"$T/err"; then fail "hostile manifest accepted"; fi
grep -q "manifest" "$T/err" || fail "unclear error: $(cat "$T/err")"
cp "$T/index.good" "$L/index.json"

# hostile metadata with a consistent digest chain: truncated, then with a
# folder entry pointing past the inode table; refused, never a crash
meta=$(grep -o '"application/vnd.blocktree.image.metadata.v1[^"]*","digest":"sha256:[0-9a-f]*' \
    "$L/blobs/sha256/$mh" | sed 's/.*sha256://')
msize=$(stat -c %s "$L/blobs/sha256/$meta")
head -c $((msize / 2)) "$L/blobs/sha256/$meta" > "$T/badmeta"
nh=$(put_blob "$L" "$T/badmeta")
cp "$L/blobs/sha256/$mh" "$T/mf"
repoint "$L" "$meta" "$msize" "$nh" "$(stat -c %s "$T/badmeta")" "$T/mf"
nmh=$(put_blob "$L" "$T/mf")
repoint "$L" "$mh" "$(stat -c %s "$L/blobs/sha256/$mh")" "$nmh" "$(stat -c %s "$T/mf")" "$L/index.json"
if "$BT" image verify "$L:v1" 2>"$T/err"; then fail "truncated metadata accepted"; fi
grep -q "image metadata" "$T/err" || fail "unclear error: $(cat "$T/err")"
if fuse_ok && mkdir -p "$T/mnt2" && "$BT" image mount "$L:v1" "$T/mnt2" 2>"$T/err"; then
	fail "mount accepted truncated metadata"
fi
cp "$T/index.good" "$L/index.json"

# rm + gc: blobs only v1 needed go; v2 stays whole
before=$(ls "$L/blobs/sha256" | wc -l)
"$BT" image rm "$L:v1" || fail "rm"
"$BT" image ls "$L" > "$T/ls2"
grep -q '^v1 ' "$T/ls2" && fail "v1 still listed after rm"
if "$BT" image rm "$L:v1" 2>/dev/null; then fail "rm of a missing tag succeeded"; fi
"$BT" image gc "$L" > "$T/gc" || fail "gc"
after=$(ls "$L/blobs/sha256" | wc -l)
[ "$after" -lt "$before" ] || fail "gc removed nothing ($before -> $after)"
[ ! -e "$L/blobs/sha256/$chunk" ] || grep -q "$chunk" "$L/blobs/sha256/$(blob_of "$L" v2)" ||
    fail "gc kept a blob only v1 needed"
"$BT" image verify --digest "$d2" "$L:v2" >/dev/null || fail "v2 damaged by gc"
"$BT" image extract "$L:v2" "$T/x4" || fail "extract v2 after gc"
diff -r "$S" "$T/x4" || fail "v2 after gc differs from the tree"
"$BT" image gc "$L" > "$T/gc2"
grep -q '^removed 0 blobs' "$T/gc2" || fail "second gc removed more"

# usage errors exit 2
set +e
"$BT" image build "$S" 2>/dev/null; [ $? = 2 ] || fail "missing argument is not exit 2"
"$BT" image extract nocolon "$T/x5" 2>/dev/null; [ $? = 2 ] || fail "bad ref is not exit 2"
set -e
echo "PASS: commands"
