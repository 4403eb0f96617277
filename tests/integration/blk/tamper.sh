# Tamper: flip a byte of one sector in the data file: that sector reads
# EIO, every other sector reads fine.
. "$BT_SOURCE_DIR/tests/integration/blk/lib.sh"
SIZE=4M
start_primary "$T/p"
PID=$LAST_PID
A=$(cat "$T/p/run/nbd.addr")
head -c 4M /dev/urandom >"$T/in.bin"
nbdcopy "$T/in.bin" "nbd://$A/blk" || fail "nbdcopy in"
stop "$PID"
# Sector 37, byte 1000.
printf '\377' | dd of="$T/p/d.img" bs=1 seek=$((37 * 4096 + 1000)) conv=notrunc 2>/dev/null
start_primary "$T/p"
A=$(cat "$T/p/run/nbd.addr")
$CLIENT "$A" sectors >"$T/bad.txt" || fail "client"
[ "$(cat "$T/bad.txt")" = "37" ] || fail "expected only sector 37 to fail, got: $(cat "$T/bad.txt")"
grep -q "sector 37 fails authentication" "$T/p.log" || fail "failure not logged"
echo "tamper: only sector 37 fails"
