#!/bin/bash
# interop.sh: generic OCI tools accept the layout (skopeo inspect, umoci
# ls), and an image copied with skopeo copy oci:A:TAG oci:B:TAG verifies,
# extracts and mounts from B (issue 5, "Interop").
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

for t in skopeo umoci; do
	command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 0; }
done

S=$T/src A=$T/a B=$T/b
mkdir -p "$S/etc" "$S/bin"
seq 1 50000 > "$S/etc/numbers"
head -c 700000 /dev/urandom > "$S/bin/tool"
ln -s ../etc/numbers "$S/bin/link"
d=$("$BT" image build "$S" "$A:v1" 2>/dev/null) || fail "build"
"$BT" image build "$S" "$A:v2" >/dev/null 2>&1 || fail "build v2"

skopeo inspect "oci:$A:v1" > "$T/inspect" || fail "skopeo inspect refused the layout"
grep -q "\"Digest\": \"$d\"" "$T/inspect" || fail "skopeo saw another digest"
grep -q '"Layers"' "$T/inspect" || fail "skopeo inspect shows no layers"
umoci ls --layout "$A" > "$T/umoci" || fail "umoci ls refused the layout"
grep -qx v1 "$T/umoci" && grep -qx v2 "$T/umoci" || fail "umoci ls: $(cat "$T/umoci")"

skopeo copy -q "oci:$A:v1" "oci:$B:v1" || fail "skopeo copy"
"$BT" image verify --digest "$d" "$B:v1" >/dev/null || fail "the copy does not verify"
"$BT" image extract --digest "$d" "$B:v1" "$T/out" || fail "extract from the copy"
diff -r "$S" "$T/out" || fail "the copy extracts to another tree"
if fuse_ok && mount_image "$B:v1" "$T/mnt" --digest "$d"; then
	diff -r "$S" "$T/mnt" || fail "the copy mounts as another tree"
	umount_image "$T/mnt" || fail "umount"
	echo "mounted the copy"
fi
# our tools read a layout skopeo wrote (index.json in its own style)
"$BT" image ls "$B" > "$T/ls"
grep -q "^v1 .*$d" "$T/ls" || fail "bt image ls of the copy"
echo "PASS: interop"
