#!/bin/bash
# bench/image/run.sh: bt image against mksquashfs (zstd 3), mkfs.erofs
# (lz4hc) and tar | zstd -3 on one real tree (default /usr/share), all in
# this one run: build time and size, full read of the tree through the
# mount (bt: FUSE; squashfs, erofs: kernel, from a loop device), and the
# stored bytes of a second tag with 5% of the files changed. Prints a
# Markdown table with ratios. Reports; never fails the suite.
#   BT=build/bt sh bench/image/run.sh        (make bench)
#   BENCH_IMAGE_SRC=/some/tree               another tree
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
SRC=${BENCH_IMAGE_SRC:-/usr/share}
BT=${BT:-build/bt}
W=$(mktemp -d "${BENCH_TMP:-/var/tmp}/bt-image-bench.XXXXXX")
MNT=()
cleanup() {
	local m
	for m in "${MNT[@]:-}"; do
		[ -n "$m" ] && mountpoint -q "$m" && umount "$m" 2>/dev/null
	done
	rm -rf "$W"
}
trap cleanup EXIT
root=0; [ "$(id -u)" = 0 ] && root=1

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "n/a") printf "%.2f", a / b; else print "n/a" }'; }
mb() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1e6 }'; }
apparent() { du -sb --apparent-size "$1" | cut -f1; }
drop() { [ $root = 1 ] && sync && echo 3 > /proc/sys/vm/drop_caches; }
have() { command -v "$1" >/dev/null 2>&1; }

echo "tree: $SRC ($(find "$SRC" -xdev | wc -l) entries, $(du -sh --apparent-size "$SRC" 2>/dev/null | cut -f1)); machine: $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
# Every build reads the tree from the page cache: warm it once.
tar -C "$SRC" -cf - . 2>/dev/null | cat > /dev/null

# ---- builds. bt makes its blobs durable (one syncfs) before it publishes
# the tag; so that all four are timed for a durable result, each peer's
# output is synced the same way (sync -f: syncfs of its file system).
t0=$(now); "$BT" image build "$SRC" "$W/oci:v1" > "$W/d1" 2>"$W/b1.log"; t1=$(now)
bt_build=$(secs "$t0" "$t1"); bt_size=$(apparent "$W/oci"); bt_du=$(( $(du -sk "$W/oci" | cut -f1) * 1024 ))
sq_build=n/a sq_size=n/a er_build=n/a er_size=n/a tz_build=n/a tz_size=n/a
if have mksquashfs; then
	t0=$(now); mksquashfs "$SRC" "$W/s.sqfs" -comp zstd -Xcompression-level 3 -quiet -no-progress >/dev/null 2>&1; sync -f "$W/s.sqfs"; t1=$(now)
	sq_build=$(secs "$t0" "$t1"); sq_size=$(stat -c %s "$W/s.sqfs")
fi
if have mkfs.erofs; then
	t0=$(now); mkfs.erofs -zlz4hc "$W/e.erofs" "$SRC" >/dev/null 2>&1; sync -f "$W/e.erofs"; t1=$(now)
	er_build=$(secs "$t0" "$t1"); er_size=$(stat -c %s "$W/e.erofs")
fi
if have zstd; then
	t0=$(now); tar -C "$SRC" -cf - . 2>/dev/null | zstd -3 -q > "$W/t.tar.zst"; sync -f "$W/t.tar.zst"; t1=$(now)
	tz_build=$(secs "$t0" "$t1"); tz_size=$(stat -c %s "$W/t.tar.zst")
fi

# ---- full reads, cold (caches dropped when root), same reader for all
readall() { local t0 t1; drop; t0=$(now); tar -C "$1" -cf - . 2>/dev/null | cat > /dev/null; t1=$(now); secs "$t0" "$t1"; }
bt_read=n/a sq_read=n/a er_read=n/a loop_note=""
if [ -c /dev/fuse ]; then
	mkdir -p "$W/m.bt"
	"$BT" image mount "$W/oci:v1" "$W/m.bt" 2>"$W/mount.log" &
	for i in $(seq 200); do mountpoint -q "$W/m.bt" && break; sleep 0.05; done
	if mountpoint -q "$W/m.bt"; then
		MNT+=("$W/m.bt")
		bt_read=$(readall "$W/m.bt")
		t0=$(now); tar -C "$W/m.bt" -cf - . 2>/dev/null | cat > /dev/null; t1=$(now)
		bt_warm=$(secs "$t0" "$t1")
		"$BT" image umount "$W/m.bt"
	fi
fi
if [ $root = 1 ]; then
	for fs in sq er; do
		img=$W/s.sqfs; [ $fs = er ] && img=$W/e.erofs
		[ -f "$img" ] || continue
		mkdir -p "$W/m.$fs"
		if mount -o loop,ro "$img" "$W/m.$fs" 2>/dev/null; then
			MNT+=("$W/m.$fs")
			r=$(readall "$W/m.$fs")
			[ $fs = sq ] && sq_read=$r || er_read=$r
			umount "$W/m.$fs"
		else
			loop_note="loop devices are not usable here: kernel read times are n/a"
		fi
	done
else
	loop_note="not root: no loop mounts and no cache drop; kernel read times are n/a"
fi

# ---- second tag: 5% of the files changed, in runs (package updates) and
# scattered (every 20th file): stored bytes added to the layout
cp -a "$SRC/." "$W/tree" 2>/dev/null
find "$W/tree" -type f -print0 | LC_ALL=C sort -z > "$W/files"
nfiles=$(tr -cd '\0' < "$W/files" | wc -c); want=$((nfiles / 20))
# runs: 10 windows of 0.5% of the files each, evenly spaced
tr '\0' '\n' < "$W/files" | awk -v n="$nfiles" -v w="$want" \
    'BEGIN { run = int(w / 10); step = int(n / 10) } { i = NR - 1; if (i % step < run) print }' > "$W/runs"
tr '\0' '\n' < "$W/files" | awk 'NR % 20 == 0' > "$W/scattered"
change() { while IFS= read -r f; do [ -w "$f" ] && printf '\nbt bench change %s\n' "$RANDOM" >> "$f"; done < "$1"; }
before=$(apparent "$W/oci")
change "$W/runs"
t0=$(now); "$BT" image build --base v1 "$W/tree" "$W/oci:v2" >/dev/null 2>"$W/b2.log"; t1=$(now)
v2_build=$(secs "$t0" "$t1"); v2_added=$(( $(apparent "$W/oci") - before ))
# scattered: back to the original tree, then every 20th file changed
rm -rf "$W/tree"; cp -a "$SRC/." "$W/tree" 2>/dev/null
change "$W/scattered"
before=$(apparent "$W/oci")
"$BT" image build --base v1 "$W/tree" "$W/oci:v3" >/dev/null 2>"$W/b3.log"
v3_added=$(( $(apparent "$W/oci") - before ))

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f%%", 100 * a / b }'; }
cat <<TABLE

| measure | bt image | mksquashfs zstd-3 | mkfs.erofs lz4hc | tar \| zstd -3 | target |
|---|---|---|---|---|---|
| build time (durable: + sync -f), s | $bt_build | $sq_build | $er_build | $tz_build | bt <= squashfs |
| build time, x bt | 1.00 | $(ratio "$sq_build" "$bt_build") | $(ratio "$er_build" "$bt_build") | $(ratio "$tz_build" "$bt_build") | squashfs/bt >= 1 |
| size, MB (bt: sum of blobs) | $(mb "$bt_size") | $(mb "$sq_size") | $(mb "$er_size") | $(mb "$tz_size") | bt <= tar+zstd |
| size, x bt | 1.00 | $(ratio "$sq_size" "$bt_size") | $(ratio "$er_size" "$bt_size") | $(ratio "$tz_size" "$bt_size") | tar+zstd/bt >= 1 |
| full read (cold), s | $bt_read | $sq_read | $er_read | - | bt <= 1.5 x erofs |
| full read, bt / peer | 1.00 | $(ratio "$bt_read" "$sq_read") | $(ratio "$bt_read" "$er_read") | - | bt/erofs <= 1.5 |

bt layout on disk (blocks, du): $(mb "$bt_du") MB in $(ls "$W/oci/blobs/sha256" | wc -l) blobs; warm full read through the mount: ${bt_warm:-n/a} s.
${loop_note}

| second tag, $want of $nfiles files changed (5%) | stored bytes added | of the first tag | target |
|---|---|---|---|
| in 10 runs of neighbouring files (package updates) | $(mb "$v2_added") MB | $(pct "$v2_added" "$bt_size") | <= 10% |
| scattered (every 20th file) | $(mb "$v3_added") MB | $(pct "$v3_added" "$bt_size") | <= 10% |

second build (--base v1, unchanged files not reread): $v2_build s.
TABLE
