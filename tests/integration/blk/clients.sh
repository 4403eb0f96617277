# Real NBD clients against `bt blk serve`: nbdinfo, nbdcopy (random data
# in and out, identical), qemu-img convert in and out, a fio verify job.
. "$BT_SOURCE_DIR/tests/integration/blk/lib.sh"
MB=${BLK_TEST_MB:-16}
SIZE=${MB}M
start_primary "$T/p"
A=$(cat "$T/p/run/nbd.addr")
U="nbd://$A/blk"
nbdinfo "$U" >"$T/info.txt" || fail "nbdinfo"
grep -q "block_size_preferred: 4096" "$T/info.txt" || fail "no 4 KiB preferred block size"
grep -q "can_fua: true" "$T/info.txt" || fail "no FUA"
head -c "${MB}M" /dev/urandom >"$T/in.bin"
nbdcopy "$T/in.bin" "$U" || fail "nbdcopy in"
nbdcopy "$U" "$T/out.bin" || fail "nbdcopy out"
cmp "$T/in.bin" "$T/out.bin" || fail "nbdcopy: data differs"
# The unix socket serves the same device.
nbdcopy "nbd+unix:///blk?socket=$T/p/run/nbd.sock" "$T/out2.bin" || fail "nbdcopy unix"
cmp "$T/in.bin" "$T/out2.bin" || fail "unix socket: data differs"
head -c "${MB}M" /dev/urandom >"$T/in2.bin"
qemu-img convert -n -f raw -O raw "$T/in2.bin" "$U" || fail "qemu-img in"
qemu-img convert -f raw -O raw "$U" "$T/out3.bin" || fail "qemu-img out"
cmp "$T/in2.bin" "$T/out3.bin" || fail "qemu-img: data differs"
cat >"$T/v.fio" <<FIO
[verify]
ioengine=nbd
uri=$U
rw=randwrite
bs=4k
size=${MB}m
iodepth=16
verify=crc32c
verify_fatal=1
do_verify=1
FIO
fio "$T/v.fio" >"$T/fio.log" 2>&1 || fail "fio verify"
grep -q "err= 0" "$T/fio.log" || fail "fio reported errors"
# nbdfuse, where FUSE is available: write through the file, read back.
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null 2>&1; then
	mkdir -p "$T/mnt"
	nbdfuse "$T/mnt/disk" "nbd+unix:///blk?socket=$T/p/run/nbd.sock" >"$T/nbdfuse.log" 2>&1 &
	FPID=$!; PIDS="$PIDS $FPID"
	n=200
	while [ ! -s "$T/mnt/disk" ] && [ $n -gt 0 ]; do n=$((n - 1)); sleep 0.05; done
	if [ -s "$T/mnt/disk" ]; then
		head -c 1M /dev/urandom >"$T/f.bin"
		dd if="$T/f.bin" of="$T/mnt/disk" bs=64k seek=3 conv=notrunc,fsync 2>/dev/null || fail "nbdfuse write"
		dd if="$T/mnt/disk" of="$T/g.bin" bs=64k skip=3 count=16 2>/dev/null || fail "nbdfuse read"
		cmp "$T/f.bin" "$T/g.bin" || fail "nbdfuse: data differs"
		fusermount3 -u "$T/mnt" || true
		wait "$FPID" 2>/dev/null || true
		echo "nbdfuse: fine"
	else
		echo "nbdfuse: could not mount here; skipped"
	fi
fi
echo "clients: nbdinfo, nbdcopy, qemu-img, fio verify all fine"
