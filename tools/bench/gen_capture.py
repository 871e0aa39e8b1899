#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen_capture.py - a synthetic capture for timing `ztun-sim replay`.

Usage: gen_capture.py OUT.pcap [PACKETS] [CONNS] [SEGMENT]

Theory of operation: CONNS TCP connections (default 4) from 10.0.0.2 to
192.0.2.80:5001 are written interleaved as LINKTYPE_RAW with valid IPv4
and TCP checksums: handshake, then the client sends SEGMENT-byte data
segments (default 1000) and the server ACKs every second one, until the
capture holds PACKETS packets (default 100,000); then each side closes
with FIN. Times advance 10 us per packet, so the stack's timers never fire
in between. Deterministic: the same arguments give the same file.
"""
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def packet(src, sport, dst, dport, seq, ack, flags, payload=b"", opts=b""):
    thl = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF,
                      ack & 0xFFFFFFFF, (thl // 4) << 4, flags, 65535, 0, 0)
    tcp += opts + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    c = csum(pseudo + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    tot = 20 + len(tcp)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot, 0, 0x4000, 64, 6, 0,
                     src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    out = sys.argv[1]
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    conns = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    seg = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    cli, srv = ip4("10.0.0.2"), ip4("192.0.2.80")
    payload = bytes((i * 7) & 0xFF for i in range(seg))
    mss = struct.pack("!BBH", 2, 4, 1460)
    pkts = []
    state = []
    for c in range(conns):
        port = 40000 + c
        cseq, sseq = 1000 * (c + 1), 500000 * (c + 1)
        pkts.append(packet(cli, port, srv, 5001, cseq, 0, 0x02, opts=mss))
        pkts.append(packet(srv, 5001, cli, port, sseq, cseq + 1, 0x12, opts=mss))
        pkts.append(packet(cli, port, srv, 5001, cseq + 1, sseq + 1, 0x10))
        state.append([port, cseq + 1, sseq + 1, 0])
    closing = 4 * conns
    while len(pkts) < total - closing:
        for st in state:
            port, cseq, sseq, n = st
            pkts.append(packet(cli, port, srv, 5001, cseq, sseq, 0x18, payload))
            cseq += seg
            n += 1
            if n % 2 == 0:
                pkts.append(packet(srv, 5001, cli, port, sseq, cseq, 0x10))
            st[1], st[3] = cseq, n
            if len(pkts) >= total - closing:
                break
    for port, cseq, sseq, _ in state:
        pkts.append(packet(cli, port, srv, 5001, cseq, sseq, 0x11))
        pkts.append(packet(srv, 5001, cli, port, sseq, cseq + 1, 0x10))
        pkts.append(packet(srv, 5001, cli, port, sseq, cseq + 1, 0x11))
        pkts.append(packet(cli, port, srv, 5001, cseq + 1, sseq + 1, 0x10))
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        for i, p in enumerate(pkts):
            us = 10 * i
            f.write(struct.pack("<IIII", 1000 + us // 1000000, us % 1000000,
                                len(p), len(p)))
            f.write(p)
    print("%s: %d packets, %d connections, %d-byte segments" %
          (out, len(pkts), conns, seg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
