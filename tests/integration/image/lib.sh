# lib.sh: what the image integration tests share (sourced, bash).
# Needs BT (path to bt); makes $T (a private temp folder) and cleans it up,
# unmounting whatever the test mounted and killing what it started.
set -euo pipefail

T=$(mktemp -d "${TMPDIR:-/tmp}/bt-image-test.XXXXXX")
PIDS=()
MOUNTS=()

cleanup() {
	local m p
	for m in "${MOUNTS[@]:-}"; do
		[ -n "$m" ] || continue
		if mountpoint -q "$m" 2>/dev/null; then
			"$BT" image umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		fi
	done
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# wait_for CMD...: polls CMD for up to 10 seconds.
wait_for() {
	local i
	for i in $(seq 200); do
		if "$@"; then return 0; fi
		sleep 0.05
	done
	return 1
}

# fuse_ok: whether FUSE mounts can work here (tells why not on stderr).
fuse_ok() {
	if [ ! -c /dev/fuse ]; then
		echo "SKIP: no /dev/fuse here: mount checks are skipped" >&2
		return 1
	fi
	if [ ! -r /dev/fuse ] || [ ! -w /dev/fuse ]; then
		echo "SKIP: /dev/fuse is not usable by $(id -un): mount checks are skipped" >&2
		return 1
	fi
	return 0
}

# mount_image REF MNT [ARGS...]: starts `bt image mount` in the background
# and waits for the mount to appear. Returns 1 (and says why) if it fails.
mount_image() {
	local ref=$1 mnt=$2 log
	shift 2
	mkdir -p "$mnt"
	log="$T/mount.$(basename "$mnt").log"
	"$BT" image mount "$@" "$ref" "$mnt" 2>"$log" &
	PIDS+=($!)
	MOUNTS+=("$mnt")
	if ! wait_for mountpoint -q "$mnt"; then
		echo "mount of $ref did not come up:" >&2
		cat "$log" >&2
		return 1
	fi
}

umount_image() {
	"$BT" image umount "$1"
	wait_for sh -c "! mountpoint -q '$1'"
}

# manifest DIR: one line per entry with everything fidelity covers
# (name, type, mode, owner, links, mtime to the ns, device numbers, size
# and digest of files, link targets, user.* xattrs in hex).
manifest() {
	local dir=$1 f t
	(cd "$dir" && find . -print0 | LC_ALL=C sort -z) |
	while IFS= read -r -d '' f; do
		printf '%q ' "$f"
		t=$(stat -c %F "$dir/$f")
		if [ "$t" = directory ]; then
			stat -c '%F %a %u %g %h %y' "$dir/$f" | tr '\n' ' '
		else
			stat -c '%F %a %u %g %h %y %t:%T' "$dir/$f" | tr '\n' ' '
		fi
		case "$t" in
		"regular file"|"regular empty file")
			stat -c '%s' "$dir/$f" | tr '\n' ' '
			sha256sum < "$dir/$f" | cut -c1-16 | tr '\n' ' ' ;;
		"symbolic link")
			printf 'target=%q ' "$(readlink "$dir/$f")" ;;
		esac
		if [ "$t" != "symbolic link" ]; then
			getfattr -h -d -m '^user\.' -e hex --absolute-names "$dir/$f" 2>/dev/null |
			    grep -v '^#' | grep -v '^$' | LC_ALL=C sort | tr '\n' ' ' || true
		fi
		echo
	done
}

# blob_of LAYOUT TAG: the manifest digest (hex) of TAG in LAYOUT.
blob_of() {
	"$BT" image ls "$1" | awk -v t="$2" '$1 == t { sub("sha256:", "", $2); print $2 }'
}

# put_blob LAYOUT FILE: stores FILE as a blob, prints its hex digest.
put_blob() {
	local h
	h=$(sha256sum < "$2" | cut -c1-64)
	cp "$2" "$1/blobs/sha256/$h"
	echo "$h"
}

# repoint LAYOUT OLDHEX OLDSIZE NEWHEX NEWSIZE FILE: rewrites FILE (a
# manifest or index.json) so the descriptor of OLD names NEW instead.
repoint() {
	sed -i -e "s/sha256:$2/sha256:$4/" \
	    -e "s/\"digest\":\"sha256:$4\",\"size\":$3\b/\"digest\":\"sha256:$4\",\"size\":$5/" \
	    -e "/\"sha256:$4\",\$/{n;s/\"size\": *$3\b/\"size\": $5/;}" "$6"
}
