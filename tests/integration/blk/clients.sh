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
echo "clients: nbdinfo, nbdcopy, qemu-img, fio verify all fine"
