#!/usr/bin/env python3
"""A small NBD client for the blk integration tests (fixed newstyle, simple
replies), written from the protocol description.

  nbdclient.py ADDR stream --log FILE [--count N] [--flush-every K]
      write 4 KiB blocks seq = 0, 1, ... to block (seq * 7919) % 4096,
      FLUSH every K writes and append "flushed SEQ" to FILE (fsynced) once
      the server acknowledged the flush.
  nbdclient.py ADDR verify --log FILE
      every write up to the last logged flush must be there (or a later one).
  nbdclient.py ADDR sectors
      read every 4 KiB sector; print the indexes that fail, one per line.
  nbdclient.py ADDR badinput
      send malformed handshakes and requests; the server must answer with
      errors or close, and still serve a good client afterwards.
ADDR is HOST:PORT or unix:PATH.
"""
import os
import random
import socket
import struct
import sys

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x3E889045565A9
REQ_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
OPT_GO, OPT_ABORT, OPT_LIST, OPT_INFO = 7, 2, 3, 6
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_ZERO = 0, 1, 2, 3, 4, 6
SS = 4096
NBLOCKS = 4096


def connect(addr):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr[5:])
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(60)
    return s


def recvall(s, n):
    b = bytearray()
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError("server closed")
        b += chunk
    return bytes(b)


def option(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)


def opt_reply(s):
    magic, opt, rtype, ln = struct.unpack(">QIII", recvall(s, 20))
    assert magic == REPLY_MAGIC, hex(magic)
    return opt, rtype, recvall(s, ln)


def handshake(s, name=b"blk"):
    magic, ihave, flags = struct.unpack(">QQH", recvall(s, 18))
    assert magic == NBDMAGIC and ihave == IHAVEOPT
    s.sendall(struct.pack(">I", 3))
    option(s, OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">HH", 1, 3))
    size = None
    while True:
        _, rtype, data = opt_reply(s)
        if rtype == 3 and struct.unpack(">H", data[:2])[0] == 0:
            size = struct.unpack(">Q", data[2:10])[0]
        elif rtype == 1:
            return size
        elif rtype & 0x80000000:
            raise RuntimeError("GO refused: %#x %r" % (rtype, data))


class Conn:
    def __init__(self, addr):
        self.s = connect(addr)
        self.size = handshake(self.s)
        self.cookie = 0

    def req(self, cmd, off=0, ln=0, data=b"", flags=0):
        self.cookie += 1
        self.s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, flags, cmd,
                                   self.cookie, off, ln) + data)
        if cmd == CMD_DISC:
            return 0, b""
        magic, err, cookie = struct.unpack(">IIQ", recvall(self.s, 16))
        assert magic == SIMPLE_MAGIC and cookie == self.cookie
        payload = b""
        if cmd == CMD_READ and err == 0:
            payload = recvall(self.s, ln)
        return err, payload

    def close(self):
        try:
            self.req(CMD_DISC)
        finally:
            self.s.close()


def block_of(seq):
    return (seq * 7919) % NBLOCKS


def content(seq):
    head = b"blk-stream seq=%012d block=%06d\n" % (seq, block_of(seq))
    rnd = random.Random(seq).randbytes(SS - len(head))
    return head + rnd


def cmd_stream(addr, args):
    log = args[args.index("--log") + 1]
    count = int(args[args.index("--count") + 1]) if "--count" in args else 1 << 60
    every = int(args[args.index("--flush-every") + 1]) if "--flush-every" in args else 16
    c = Conn(addr)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    seq = 0
    while seq < count:
        err, _ = c.req(CMD_WRITE, block_of(seq) * SS, SS, content(seq))
        if err:
            raise SystemExit("write %d failed: %d" % (seq, err))
        if seq % every == every - 1:
            err, _ = c.req(CMD_FLUSH)
            if err:
                raise SystemExit("flush failed: %d" % err)
            os.write(fd, b"flushed %d\n" % seq)
            os.fsync(fd)
        seq += 1
    c.close()


def cmd_verify(addr, args):
    log = args[args.index("--log") + 1]
    last = -1
    with open(log) as f:
        for line in f:
            if line.startswith("flushed "):
                last = max(last, int(line.split()[1]))
    c = Conn(addr)
    bad = 0
    for seq in range(max(0, last - NBLOCKS + 1), last + 1):
        b = block_of(seq)
        err, data = c.req(CMD_READ, b * SS, SS)
        if err:
            print("block %d: read error %d" % (b, err))
            bad += 1
            continue
        try:
            got = int(data[15:27])
        except ValueError:
            got = -1
        # The block holds this write or a later one (same block), intact.
        if got < seq or block_of(got) != b or data != content(got):
            print("flushed write %d (block %d) lost: block holds %d" % (seq, b, got))
            bad += 1
    c.close()
    print("verified writes up to %d: %d bad" % (last, bad))
    sys.exit(1 if bad else 0)


def cmd_sectors(addr, args):
    c = Conn(addr)
    for i in range(c.size // SS):
        err, _ = c.req(CMD_READ, i * SS, SS)
        if err:
            print(i)
    c.close()


def expect_closed_or_error(fn, what):
    try:
        r = fn()
    except (EOFError, ConnectionResetError, BrokenPipeError, AssertionError, socket.timeout):
        return "closed"
    if r is None or r == 0:
        raise SystemExit("bad input accepted: " + what)
    return "error %s" % (r,)


def cmd_badinput(addr, args):
    results = []
    # 1. Garbage instead of client flags and options.
    s = connect(addr)
    recvall(s, 18)
    s.sendall(os.urandom(4096))
    results.append(("garbage handshake", expect_closed_or_error(lambda: recvall(s, 1) and None, "garbage")))
    s.close()
    # 2. Unknown option: NBD_REP_ERR_UNSUP, then the session continues.
    s = connect(addr)
    recvall(s, 18)
    s.sendall(struct.pack(">I", 3))
    option(s, 99, b"x" * 10)
    _, rtype, _ = opt_reply(s)
    assert rtype == 0x80000001, hex(rtype)
    option(s, OPT_LIST)
    _, rtype, data = opt_reply(s)
    assert rtype == 2 and data[4:] == b"blk", (rtype, data)
    _, rtype, _ = opt_reply(s)
    assert rtype == 1
    # GO with lengths that do not add up: NBD_REP_ERR_INVALID.
    option(s, OPT_GO, struct.pack(">I", 1000) + b"blk")
    _, rtype, _ = opt_reply(s)
    assert rtype == 0x80000003, hex(rtype)
    # INFO for an unknown export: NBD_REP_ERR_UNKNOWN.
    option(s, OPT_INFO, struct.pack(">I", 4) + b"nope" + struct.pack(">H", 0))
    _, rtype, _ = opt_reply(s)
    assert rtype == 0x80000006, hex(rtype)
    option(s, OPT_ABORT)
    _, rtype, _ = opt_reply(s)
    assert rtype == 1
    s.close()
    results.append(("unknown/invalid options", "errors"))
    # 3. Transmission: past the end, oversized, unknown command, bad flags.
    c = Conn(addr)
    size = c.size
    checks = [
        ("read past end", c.req(CMD_READ, size, SS)[0], 22),
        ("read straddling end", c.req(CMD_READ, size - SS, 2 * SS)[0], 22),
        ("huge read", c.req(CMD_READ, 0, 0xFFFFFFFF)[0], 22),
        ("write past end", c.req(CMD_WRITE, size, SS, b"\0" * SS)[0], 28),
        ("trim past end", c.req(CMD_TRIM, size - SS, 2 * SS)[0], 28),
        ("unknown command", c.req(42, 0, 0)[0], 22),
        ("unknown flag", c.req(CMD_READ, 0, SS, flags=0x8000)[0], 22),
        ("offset overflow", c.req(CMD_READ, 0xFFFFFFFFFFFFF000, SS)[0], 22),
    ]
    for what, got, want in checks:
        if got != want:
            raise SystemExit("%s: error %d, wanted %d" % (what, got, want))
        results.append((what, "error %d" % got))
    # The connection still works.
    err, _ = c.req(CMD_WRITE, 0, 5, b"hello")
    assert err == 0
    err, data = c.req(CMD_READ, 0, 5)
    assert err == 0 and data == b"hello", data
    c.close()
    # 4. Bad request magic: the server drops the connection.
    c = Conn(addr)
    c.s.sendall(b"\xde\xad\xbe\xef" + b"\0" * 24)
    results.append(("bad request magic", expect_closed_or_error(lambda: recvall(c.s, 16) and None, "magic")))
    c.s.close()
    # 5. A write that announces more payload than it sends, then hangs up.
    c = Conn(addr)
    c.s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, 1, 0, SS) + b"x" * 100)
    c.s.close()
    # 6. The server still serves a good client.
    c = Conn(addr)
    err, data = c.req(CMD_READ, 0, 5)
    assert err == 0 and data == b"hello"
    c.close()
    for what, r in results:
        print("%-28s %s" % (what, r))
    print("server alive after bad input")


def main():
    addr, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    {"stream": cmd_stream, "verify": cmd_verify, "sectors": cmd_sectors,
     "badinput": cmd_badinput}[cmd](addr, args)


if __name__ == "__main__":
    main()
