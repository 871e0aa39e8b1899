#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# lossy_path.py - the impaired path and the clients of
# tests/e2e/lossy_path.sh. Standard library only.
#
#   lossy_path.py impair TUN_APP APP_NETNS_PATH TUN_CNS CTL_DIR
#       Run in the client namespace: open the TUN TUN_CNS there, then
#       enter the namespace at APP_NETNS_PATH and open TUN_APP there, then
#       carry every packet between the two, impaired as netem would, by
#       CTL_DIR/path: "SEED UP DOWN", read again whenever it changes
#       (which starts the draws and the counters afresh). UP (TUN_APP ->
#       TUN_CNS, the client's packets toward ztun-ref) and DOWN (the other
#       way) are "delay=MS,jitter=MS,loss=PCT,reorder=PCT,dup=PCT,
#       rate=KBIT" (each optional, 0 when missing; "-" for none). A packet is
#       lost with probability loss; else it leaves after the link's
#       serialization (rate, with a 100 ms queue: tail drop past it), then
#       delay +- jitter (jitter alone reorders, as netem's), but with
#       probability reorder at once (netem's "reorder": ahead of the
#       delayed ones); with probability dup a copy goes too. An outage:
#       "down_at=N,down_for=MS" in UP: once N packets came up, every
#       packet both ways is lost for MS (a link down, then back; counted
#       by packets, so that it falls mid-transfer however slow the
#       machine). Seeded (SEED): the same draws for the same packets. "ready" in
#       CTL_DIR/ready once both TUNs are open; each SIGUSR1 appends one
#       counters line to CTL_DIR/impair.log; SIGTERM ends it.
#   lossy_path.py up HOST PORT BYTES SEED      HTTP PUT of gen(SEED, BYTES)
#       to e2e_helper.py's server, which answers the body's sha256.
#   lossy_path.py down HOST PORT BYTES SEED    HTTP GET /gen/SEED/BYTES,
#       the body's sha256 checked against gen(SEED, BYTES).
#   lossy_path.py bidi HOST PORT BYTES SEED    to an echo server: send
#       gen(SEED, BYTES) and a FIN while reading the echo to its end.
#   lossy_path.py par K HOST HTTP_PORT BYTES   K flows at once, the even
#       ones up, the odd ones down (seeds 1..K).
# HOST may be an IPv4 or IPv6 address; the impairer does not parse the
# packets, so both families take the same path.
# A client prints one line: "ok MODE BYTES MS", or "bad ..." (bytes that
# differ or a count that does not match), "reset ..." (the connection
# reset or another socket error: the flow failed, loudly), "eof ..." (a
# clean end before the whole: a silent truncation), "stall ..." (no
# progress for 15 s); exit 0 only for "ok".

import ctypes
import fcntl
import hashlib
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import threading
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
STALL = 15.0


def gen(seed, n):
    return random.Random(seed).randbytes(n)


def ms(t0):
    return int((time.monotonic() - t0) * 1000)


# --- the impaired path ------------------------------------------------------

def tun_open(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF,
                struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def setns(path):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns " + path)
    os.close(fd)


def spec(s):
    p = {"delay": 0.0, "jitter": 0.0, "loss": 0.0, "reorder": 0.0,
         "dup": 0.0, "rate": 0.0, "down_at": 0.0, "down_for": 0.0}
    for kv in filter(lambda x: x not in ("", "-"), s.split(",")):
        k, v = kv.split("=")
        if k not in p:
            raise ValueError("unknown impairment " + k)
        p[k] = float(v)
    return p


class Dir:
    """One direction: its parameters, its random draws, its counters."""

    def __init__(self, name, p, seed, out_fd):
        self.name, self.p, self.out = name, p, out_fd
        self.rng = random.Random(seed)
        self.free = 0.0  # when the link is free again (rate)
        self.n = {"in": 0, "lost": 0, "outage": 0, "queue": 0, "dup": 0,
                  "reordered": 0, "out": 0}

    def stats(self):
        return "%s %s" % (self.name, ", ".join(
            "%s %d" % kv for kv in self.n.items()))

    def take(self, pkt, now, link, heap, seq):
        """Schedule pkt (or not) on heap; return the next sequence. link:
        {"until": the end of the outage} (shared by both directions)."""
        p, r = self.p, self.rng
        self.n["in"] += 1
        if self.n["in"] == p["down_at"]:
            link["until"] = now + p["down_for"] / 1000
        down = now < link["until"]
        # the draws are made whatever the outage, so that one does not
        # shift the others
        lost = r.random() * 100 < p["loss"]
        dup = r.random() * 100 < p["dup"]
        reo = r.random() * 100 < p["reorder"]
        jit = r.uniform(-p["jitter"], p["jitter"])
        if down:
            self.n["outage"] += 1
            return seq
        if lost:
            self.n["lost"] += 1
            return seq
        t = now
        if p["rate"] > 0:
            if self.free - now > 0.1:
                self.n["queue"] += 1
                return seq
            self.free = max(self.free, now) + len(pkt) * 8 / (p["rate"] * 1000)
            t = self.free
        if reo:
            self.n["reordered"] += 1
        else:
            t += max(0.0, p["delay"] + jit) / 1000
        for _ in range(2 if dup else 1):
            heapq.heappush(heap, (t, seq, self.out, pkt))
            seq += 1
        if dup:
            self.n["dup"] += 1
        return seq


def impair(tun_app, app_ns, tun_cns, ctl):
    fd_c = tun_open(tun_cns)
    setns(app_ns)
    fd_a = tun_open(tun_app)
    log = os.path.join(ctl, "impair.log")
    path = os.path.join(ctl, "path")
    dirs = {}
    link = {"until": 0.0}
    conf = None

    def load():
        with open(path) as f:
            text = f.read()
        if text == conf:
            return text
        seed, up, down = text.split()
        seed = int(seed)
        dirs[fd_a] = Dir("up", spec(up), seed * 2 + 1, fd_c)
        dirs[fd_c] = Dir("down", spec(down), seed * 2 + 2, fd_a)
        link["until"] = 0.0
        return text
    conf = load()

    def dump(*_):
        with open(log, "a") as f:
            f.write("; ".join(d.stats() for d in dirs.values()) + "\n")

    def end(*_):
        dump()
        sys.exit(0)
    signal.signal(signal.SIGUSR1, dump)
    signal.signal(signal.SIGTERM, end)
    with open(os.path.join(ctl, "ready"), "w") as f:
        f.write("ready\n")
    heap = []
    seq = 0
    checked = 0.0
    while True:
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, fd, pkt = heapq.heappop(heap)
            try:
                os.write(fd, pkt)
                dirs[fd_a if fd == fd_c else fd_c].n["out"] += 1
            except OSError:
                pass
        timeout = 0.02
        if heap:
            timeout = min(timeout, max(0.0, heap[0][0] - now))
        rd, _, _ = select.select([fd_a, fd_c], [], [], timeout)
        now = time.monotonic()
        if now - checked > 0.01:
            conf = load()
            checked = now
        for fd in rd:
            d = dirs[fd]
            for _ in range(64):
                try:
                    pkt = os.read(fd, 65536)
                except BlockingIOError:
                    break
                seq = d.take(pkt, now, link, heap, seq)


# --- the clients -------------------------------------------------------------

class Fail(Exception):
    pass


def recv_some(s, n, what, got):
    try:
        return s.recv(n)
    except socket.timeout:
        raise Fail("stall %s %d" % (what, got))
    except OSError as e:
        raise Fail("reset %s %d %s" % (what, got, e.strerror or e))


def http_head(s, what):
    """Read the response head; return (status, headers dict, rest)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = recv_some(s, 65536, what + "-head", len(buf))
        if not b:
            raise Fail("eof %s-head %d" % (what, len(buf)))
        buf += b
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    hdr = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdr[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), hdr, rest


def sender(s, data, errs, fin=False):
    try:
        s.sendall(data)
        if fin:
            s.shutdown(socket.SHUT_WR)
    except OSError as e:
        errs.append(e)


def up(host, port, n, seed):
    t0 = time.monotonic()
    data = gen(seed, n)
    s = socket.create_connection((host, port), timeout=STALL)
    errs = []
    s.sendall(b"PUT /up HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % n)
    th = threading.Thread(target=sender, args=(s, data, errs), daemon=True)
    th.start()
    st, hdr, rest = http_head(s, "up")
    body = rest
    want = int(hdr.get("content-length", "0"))
    while len(body) < want:
        b = recv_some(s, 4096, "up-answer", len(body))
        if not b:
            break
        body += b
    th.join(STALL)
    if errs:
        raise Fail("reset up %s" % errs[0])
    s.close()
    f = body.decode().split()
    if st != 200 or len(f) != 2:
        raise Fail("bad up answer %r" % body)
    if f[0] != hashlib.sha256(data).hexdigest() or int(f[1]) != n:
        raise Fail("bad up server got %s bytes sha %s" % (f[1], f[0][:16]))
    return "ok up %d %d" % (n, ms(t0))


def recv_hashed(s, what, h, got):
    """read @s to its end into hash @h; return @got plus the bytes read"""
    while True:
        b = recv_some(s, 1 << 16, what, got)
        if not b:
            return got
        h.update(b)
        got += len(b)


def down(host, port, n, seed):
    t0 = time.monotonic()
    s = socket.create_connection((host, port), timeout=STALL)
    s.sendall(b"GET /gen/%d/%d HTTP/1.0\r\n\r\n" % (seed, n))
    st, hdr, rest = http_head(s, "down")
    h = hashlib.sha256(rest)
    got = recv_hashed(s, "down", h, len(rest))
    s.close()
    if st != 200 or int(hdr.get("content-length", "-1")) != n:
        raise Fail("bad down head %d %r" % (st, hdr))
    if got < n:
        raise Fail("eof down %d of %d" % (got, n))
    if got != n or h.hexdigest() != hashlib.sha256(gen(seed, n)).hexdigest():
        raise Fail("bad down %d bytes sha %s" % (got, h.hexdigest()[:16]))
    return "ok down %d %d" % (n, ms(t0))


def bidi(host, port, n, seed):
    t0 = time.monotonic()
    data = gen(seed, n)
    s = socket.create_connection((host, port), timeout=STALL)
    errs = []
    th = threading.Thread(target=sender, args=(s, data, errs, True),
                          daemon=True)
    th.start()
    h = hashlib.sha256()
    got = recv_hashed(s, "bidi", h, 0)
    th.join(STALL)
    s.close()
    if errs:
        raise Fail("reset bidi %s" % errs[0])
    if got < n:
        raise Fail("eof bidi %d of %d" % (got, n))
    if got != n or h.hexdigest() != hashlib.sha256(data).hexdigest():
        raise Fail("bad bidi %d bytes sha %s" % (got, h.hexdigest()[:16]))
    return "ok bidi %d %d" % (n, ms(t0))


def one(fn, *args):
    try:
        return fn(*args)
    except Fail as e:
        return str(e)
    except OSError as e:
        return "reset connect %s" % (e.strerror or e)


def par(k, host, port, n):
    t0 = time.monotonic()
    res = [None] * k

    def run(i):
        res[i] = one(up if i % 2 == 0 else down, host, port, n, i + 1)
    ths = [threading.Thread(target=run, args=(i,), daemon=True)
           for i in range(k)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    bad = [r for r in res if not r.startswith("ok ")]
    if bad:
        return "; ".join(bad)
    return "ok par %d %d" % (k * n, ms(t0))


def main(a):
    if a[1] == "impair":
        impair(a[2], a[3], a[4], a[5])
        return 0
    if a[1] == "par":
        out = par(int(a[2]), a[3], int(a[4]), int(a[5]))
    else:
        fn = {"up": up, "down": down, "bidi": bidi}[a[1]]
        out = one(fn, a[2], int(a[3]), int(a[4]), int(a[5]))
    print(out)
    return 0 if out.startswith("ok ") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
