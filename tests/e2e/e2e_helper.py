#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# e2e_helper.py - servers and clients for tests/e2e/ztun_ref_e2e.sh.
# Standard library only. Every payload is deterministic: gen(seed, n) is
# the same bytes on both sides, so nothing big crosses the test's pipes.
#
#   e2e_helper.py gen SEED BYTES              deterministic bytes to stdout
#   e2e_helper.py serve HTTP_PORT ECHO_PORT RESET_PORT HANGUP_PORT [DEAD_RELAY]
#       HTTP (threads, backlog 1024): GET /gen/SEED/BYTES -> gen(SEED, BYTES);
#       PUT /up -> "SHA256HEX BYTES\n" of the body (Content-Length).
#       HTTP and ECHO listen on IPv4 and IPv6 (dual-stack).
#       ECHO: every byte back; after the client's FIN, shutdown(SHUT_WR).
#       RESET: accept, then close with SO_LINGER {1, 0} (an RST).
#       HANGUP: read what the client sends first (a proxy handshake),
#       answer nothing, shutdown(SHUT_WR) (a FIN), then read until the
#       client closes (so that no unread byte turns the close into an RST):
#       a proxy that takes connections and hangs up on every request.
#       DEAD_RELAY (optional): a SOCKS5 server (no authentication) that
#       grants UDP ASSOCIATE with BND.ADDR its own address and BND.PORT 9,
#       where nothing listens (a relay gone while the control connection
#       stands), then keeps that connection open until the client closes;
#       any other command gets reply 7.
#   e2e_helper.py conc HOST PORT N BYTES      N concurrent GETs of distinct
#       /gen/I/BYTES, each body checked; prints "ok N/N" or the failures;
#       exit 0 only when all N are right.
#   e2e_helper.py echo HOST PORT BYTES        send gen(7, BYTES) while reading
#       the echo until BYTES are back (then close; no half-close); exit 0
#       when the echo is byte-exact.
#   e2e_helper.py udpecho ADDR PORT...        UDP: every datagram back to
#       its sender, from ADDR:PORT (bound, so that replies come from the
#       address the client sent to); but "BURST N SIZE DIR": DIR/asked,
#       then once DIR/release exists the burst udpburst sends (N of SIZE
#       bytes, two shorter) back at once, then DIR/burst-sent.
#   e2e_helper.py udpburstdown HOST PORT N SIZE DIR [lossy]   one datagram
#       and its echo, then "BURST N SIZE DIR" to the echo server; exit 0
#       and "ok N+2 datagrams" when its burst came back whole and in order.
#       With "lossy": exit 0 and "got K of N+2 in order" when what came
#       (until 1 s of silence) came whole and in order, whatever K.
#   e2e_helper.py dnsmulti NAME HOST...       UDP, one socket: a DNS
#       query for NAME A to port 53 of each HOST (ID i+1 to the i-th), then
#       every answer within 5 s; exit 0 and "ok N answers" when each HOST
#       answered its own query, from its own address.
#   e2e_helper.py udpreflect ADDR PORT...     UDP: every datagram answered
#       with "IP PORT" of its sender (as a STUN server reports the mapped
#       address), from ADDR:PORT.
#   e2e_helper.py udpmapping HOST:PORT...     UDP, one socket: a datagram
#       to each reflector in turn and its answer (from that reflector,
#       within 5 s); exit 0 and "ok one mapping IP PORT for N servers"
#       when every reflector saw the socket at the same address and port.
#   e2e_helper.py udpburst HOST PORT N SIZE DIR   UDP, one socket: one
#       datagram and its echo (the flow is set up), then "ready" in
#       DIR/ready; once DIR/go exists, N datagrams of SIZE bytes and two
#       shorter ones at once, then DIR/sent; then every echo within 5 s.
#       Each datagram is distinct (its number, then gen bytes); exit 0 and
#       "ok N+2 datagrams" when each came back whole and in order. With a
#       7th argument "gso" the N equal ones go as one UDP_SEGMENT send.

import asyncio
import hashlib
import http.server
import random
import socket
import socketserver
import struct
import sys
import threading
import time

UDP_SEGMENT = 103  # linux/udp.h
SO_RCVBUFFORCE = 33  # asm-generic/socket.h (not in Python's socket module)


def gen(seed, n):
    return random.Random(seed).randbytes(n)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.split("/")
        if len(parts) != 4 or parts[1] != "gen":
            self.send_error(404)
            return
        try:
            seed, n = int(parts[2]), int(parts[3])
        except ValueError:
            self.send_error(400)
            return
        body = gen(seed, n)
        self.send_response(200)
        self.send_header("Content-Length", str(n))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        left = int(self.headers.get("Content-Length", "0"))
        h = hashlib.sha256()
        total = 0
        while left > 0:
            b = self.rfile.read(min(left, 1 << 16))
            if not b:
                break
            h.update(b)
            total += len(b)
            left -= len(b)
        body = ("%s %d\n" % (h.hexdigest(), total)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class HTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def listener(port, dual=False):
    """A TCP listener on @port: IPv4, or IPv4 and IPv6 when @dual."""
    if dual:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if dual else "0.0.0.0", port))
    s.listen(1024)
    return s


def closing(handle):
    """handle(c) for a connection c, which is closed after it whatever
    happens (a peer's reset included)."""
    def run(c):
        try:
            handle(c)
        except OSError:
            pass
        finally:
            c.close()
    return run


def drain(c):
    """Read until the client closes (so that no unread byte turns our
    close into an RST)."""
    while c.recv(4096):
        pass


def echo_conn(c):
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        c.sendall(b)
    c.shutdown(socket.SHUT_WR)


def conn_loop(s, handle):
    """Accept for ever; each connection gets a thread running handle(c)."""
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def reset_loop(s):
    while True:
        c, _ = s.accept()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
        c.close()


def hangup_conn(c):
    c.settimeout(5)
    c.recv(4096)
    c.shutdown(socket.SHUT_WR)
    drain(c)


def recv_until(c, buf, done):
    """Read from @c onto @buf until done(buf) says how much is a whole
    message (None: not yet); return (message, rest) or None at EOF."""
    while True:
        n = done(buf)
        if n is not None:
            return buf[:n], buf[n:]
        b = c.recv(4096)
        if not b:
            return None
        buf += b


def socks5_greeting_len(b):
    return 2 + b[1] if len(b) >= 2 and len(b) >= 2 + b[1] else None


def socks5_request_len(b):
    if len(b) < 5:
        return None
    n = {1: 10, 4: 22, 3: 7 + b[4]}.get(b[3], 4)
    return n if len(b) >= n else None


def dead_relay_conn(c):
    c.settimeout(30)
    got = recv_until(c, b"", socks5_greeting_len)
    if got is None:
        return
    c.sendall(b"\x05\x00")
    got = recv_until(c, got[1], socks5_request_len)
    if got is None:
        return
    if got[0][1] != 3:
        c.sendall(b"\x05\x07\x00\x01" + bytes(6))
        return
    c.sendall(b"\x05\x00\x00\x01" +
              socket.inet_aton(c.getsockname()[0]) + struct.pack("!H", 9))
    drain(c)


def serve(http_port, echo_port, reset_port, hangup_port, dead_relay_port):
    e = listener(echo_port, True)
    r = listener(reset_port)
    h = listener(hangup_port)
    threading.Thread(target=conn_loop, args=(e, closing(echo_conn)), daemon=True).start()
    threading.Thread(target=reset_loop, args=(r,), daemon=True).start()
    threading.Thread(target=conn_loop, args=(h, closing(hangup_conn)), daemon=True).start()
    if dead_relay_port:
        d = listener(dead_relay_port)
        threading.Thread(target=conn_loop, args=(d, closing(dead_relay_conn)),
                         daemon=True).start()
    HTTPServer(("::", http_port), Handler).serve_forever()


async def one_get(host, port, i, n):
    r, w = await asyncio.open_connection(host, port)
    try:
        w.write(("GET /gen/%d/%d HTTP/1.0\r\nHost: %s\r\n\r\n"
                 % (i, n, host)).encode())
        await w.drain()
        data = await r.read()
    finally:
        w.close()
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1.0 200"):
        return "request %d: bad response head %r" % (i, head[:60])
    if body != gen(i, n):
        return "request %d: body of %d bytes differs" % (i, len(body))
    return None


async def conc_main(host, port, count, n):
    res = await asyncio.gather(
        *(asyncio.wait_for(one_get(host, port, i, n), 60)
          for i in range(1, count + 1)),
        return_exceptions=True)
    bad = []
    for i, r in enumerate(res, 1):
        if isinstance(r, BaseException):
            bad.append("request %d: %s" % (i, type(r).__name__ + " " + str(r)))
        elif r:
            bad.append(r)
    print("ok %d/%d" % (count - len(bad), count))
    for b in bad[:5]:
        print(b)
    return 0 if not bad else 1


def echo_client(host, port, n):
    data = gen(7, n)
    s = socket.create_connection((host, port), timeout=20)

    # no half-close: not every proxy passes one on (microsocks closes
    # both directions on the first EOF), so read until all N are back
    t = threading.Thread(target=s.sendall, args=(data,), daemon=True)
    t.start()
    got = bytearray()
    while len(got) < n:
        b = s.recv(1 << 16)
        if not b:
            break
        got += b
    t.join(5)
    s.close()
    if bytes(got) == data:
        print("ok %d bytes" % len(got))
        return 0
    print("echo differs: sent %d, got %d bytes" % (n, len(got)))
    return 1


def udp_serve(addr, ports, answer):
    """answer(u, data, peer) for every datagram to ADDR:PORT, a thread per
    port (bound, so that replies come from the address the client sent to)."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    socks = []
    for p in ports:
        u = socket.socket(family, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        u.bind((addr, p))
        socks.append(u)

    def loop(u):
        while True:
            data, peer = u.recvfrom(65536)
            answer(u, data, peer)

    for u in socks[1:]:
        threading.Thread(target=loop, args=(u,), daemon=True).start()
    loop(socks[0])


def udp_echo(addr, ports):
    def answer(u, data, peer):
        if data.startswith(b"BURST "):
            _, n, size, sync_dir = data.decode().split(" ", 3)
            open(sync_dir + "/asked", "w").close()
            if wait_file(sync_dir + "/release", 10):
                for d in burst(int(n), int(size)):
                    u.sendto(d, peer)
                open(sync_dir + "/burst-sent", "w").close()
            return
        u.sendto(data, peer)

    udp_serve(addr, ports, answer)


def udp_reflect(addr, ports):
    udp_serve(addr, ports,
              lambda u, _, peer: u.sendto(("%s %d" % peer[:2]).encode(), peer))


def udp_mapping(targets):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    seen = []
    for t in targets:
        host, port = t.rsplit(":", 1)
        u.sendto(b"mapping?", (host, int(port)))
        try:
            b, src = u.recvfrom(256)
        except socket.timeout:
            print("no answer from %s" % t)
            return 1
        if src != (host, int(port)):
            print("answer from %s:%d, not %s" % (src[0], src[1], t))
            return 1
        seen.append(b.decode())
    if len(set(seen)) != 1:
        print("mappings differ: " + ", ".join(seen))
        return 1
    print("ok one mapping %s for %d servers" % (seen[0], len(seen)))
    return 0


def wait_file(path, secs):
    for _ in range(int(secs * 100)):
        try:
            open(path).close()
            return True
        except OSError:
            time.sleep(0.01)
    return False


def burst(n, size):
    sizes = [size] * n + [size - 100, 37]
    return [struct.pack("!I", i) + gen(i, sz - 4) for i, sz in enumerate(sizes)]


def udp_flow(host, port):
    """A connected UDP socket whose flow is set up: one echo came back."""
    u = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                      socket.SOCK_DGRAM)
    try:  # root: past rmem_max, so that this end never drops a burst
        u.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
    except OSError:
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    u.connect((host, port))
    u.settimeout(3)
    u.send(b"hello")
    try:
        if u.recv(65536) == b"hello":
            return u
        print("first echo differs")
    except socket.timeout:
        print("no echo of the first datagram")
    return None


def expect_burst(u, sent):
    got = []
    u.settimeout(10)
    try:
        while len(got) < len(sent):
            got.append(u.recv(65536))
    except socket.timeout:
        pass
    if got == sent:
        print("ok %d datagrams" % len(got))
        return 0
    nums = [struct.unpack("!I", g[:4])[0] if len(g) >= 4 else -1 for g in got]
    print("sent %d datagrams, got %d back, numbers %s" % (len(sent), len(got), nums[:50]))
    return 1


def udp_burst(host, port, n, size, sync_dir, gso=False):
    u = udp_flow(host, port)
    if not u:
        return 1
    open(sync_dir + "/ready", "w").close()
    if not wait_file(sync_dir + "/go", 10):
        print("no go")
        return 1
    sent = burst(n, size)
    if gso:
        # the N equal ones in one UDP_SEGMENT send, as a QUIC stack would
        u.sendmsg([b"".join(sent[:n])],
                  [(socket.SOL_UDP, UDP_SEGMENT, struct.pack("@H", size))])
        for d in sent[n:]:
            u.send(d)
    else:
        for d in sent:
            u.send(d)
    open(sync_dir + "/sent", "w").close()
    return expect_burst(u, sent)


def expect_burst_lossy(u, sent):
    """What came (until 1 s of silence) must be whole and in order."""
    got = []
    u.settimeout(10)  # the first waits for the burst to be released
    try:
        while len(got) < len(sent):
            got.append(u.recv(65536))
            u.settimeout(1)
    except socket.timeout:
        pass
    want = dict(enumerate(sent))
    last = -1
    for g in got:
        i = struct.unpack("!I", g[:4])[0] if len(g) >= 4 else -1
        if i <= last or want.get(i) != g:
            print("datagram %d (after %d) out of order or not as sent" % (i, last))
            return 1
        last = i
    print("got %d of %d in order" % (len(got), len(sent)))
    return 0


def udp_burst_down(host, port, n, size, sync_dir, lossy=False):
    u = udp_flow(host, port)
    if not u:
        return 1
    u.send(("BURST %d %d %s" % (n, size, sync_dir)).encode())
    if lossy:
        return expect_burst_lossy(u, burst(n, size))
    return expect_burst(u, burst(n, size))


def dns_query(qid, name):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack("!HH", 1, 1)


def dns_multi(name, hosts):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i, h in enumerate(hosts):
        u.sendto(dns_query(i + 1, name), (h, 53))
    u.settimeout(5)
    got = {}
    try:
        while len(got) < len(hosts):
            b, src = u.recvfrom(4096)
            qid = struct.unpack("!H", b[:2])[0] if len(b) >= 2 else 0
            if 1 <= qid <= len(hosts) and src[0] == hosts[qid - 1]:
                got[qid] = True
            else:
                print("answer %d from %s: not the one asked" % (qid, src[0]))
                return 1
    except socket.timeout:
        print("got %d of %d answers" % (len(got), len(hosts)))
        return 1
    print("ok %d answers" % len(got))
    return 0


def main(argv):
    cmd = argv[1]
    if cmd == "gen":
        sys.stdout.buffer.write(gen(int(argv[2]), int(argv[3])))
        return 0
    if cmd == "serve":
        serve(int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5]),
              int(argv[6]) if len(argv) > 6 else 0)
        return 0
    if cmd == "conc":
        return asyncio.run(conc_main(argv[2], int(argv[3]), int(argv[4]),
                                     int(argv[5])))
    if cmd == "echo":
        return echo_client(argv[2], int(argv[3]), int(argv[4]))
    if cmd == "udpecho":
        udp_echo(argv[2], [int(p) for p in argv[3:]])
        return 0
    if cmd == "udpburstdown":
        return udp_burst_down(argv[2], int(argv[3]), int(argv[4]),
                              int(argv[5]), argv[6],
                              len(argv) > 7 and argv[7] == "lossy")
    if cmd == "udpreflect":
        udp_reflect(argv[2], [int(p) for p in argv[3:]])
        return 0
    if cmd == "udpmapping":
        return udp_mapping(argv[2:])
    if cmd == "dnsmulti":
        return dns_multi(argv[2], argv[3:])
    if cmd == "udpburst":
        return udp_burst(argv[2], int(argv[3]), int(argv[4]), int(argv[5]),
                         argv[6], len(argv) > 7 and argv[7] == "gso")
    print("unknown command " + cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
