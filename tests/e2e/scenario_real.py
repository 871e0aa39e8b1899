#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# scenario_real.py - run a scenario script (docs/scenarios.md) against the
# real binary ztun-ref on a Linux TUN, with a time tolerance. Standard
# library only. Run it inside a network namespace of its own (use
# tests/e2e/scenario_real.sh): it adds addresses to lo and starts ztun-ref.
#
#   ip netns exec NS scenario_real.py --netns NS --ztun-ref PATH
#                    [--early S] [--late S] [--grace S] [-v] FILE.scn
#   scenario_real.py --ztun-ref PATH --check-only FILE.scn
#
# Theory of operation:
#
# The script is parsed as ztun-sim parses it (same tokenizer and line
# grammar), then checked against what real mode can play; a line it cannot
# play is an error naming FILE:LINE (exit 2), never a silent pass. The
# header becomes ztun-ref's flags: --tun -> -i/-p plus the rule
# "icmp ADDR/32 -> local" first (as the simulator adds it), --tun6 ->
# --tun-ip6 and "icmp ADDR/128 -> local", --mtu -> -m, --route -> --rule,
# --socks5/--http(-auth) -> -x, --default and --route="default -> D" (the
# last one given) -> --default and --udp (in the
# simulator UDP that no rule matches gets the default decision), the
# --stack.* settings ztun-ref has a flag for (flow caps, connect and idle
# timeouts), direct egress -e lo. --seed and --tolerance are the
# simulator's: real mode draws its own ISNs and ports and compares
# sequence numbers relative to the ISNs, as the grammar defines them.
# IPv4 and IPv6 alike: a script with IPv6 turns IPv6 on in the namespace
# (lo, and the TUN before ztun-ref creates it). A script longer than
# MAX_SECONDS is refused: it would run that long.
#
# The executor plays everything around ztun-ref:
#
#   TUN side   tun< packets are built here (checksums computed) and sent
#              on an AF_PACKET socket bound to the TUN: a packet
#              transmitted on a TUN device is what its reader, ztun-ref,
#              reads. What ztun-ref writes enters the namespace's kernel as
#              received on the TUN; the same socket captures it (incoming
#              direction) for the tun> lines. The kernel drops it (the
#              client address is not local, ip_forward is 0), so nothing
#              answers for the client but this script.
#   upstreams  every address the script's sN>/net> lines name is added to
#              lo; a TCP listener is opened on each endpoint a stream
#              connects to (none where the script refuses), a UDP socket on
#              each datagram endpoint; an endpoint ztun gives up on (its
#              connect followed by sN> close) is routed into lo without
#              being local there, so its SYNs are dropped and nobody
#              answers (sN< unreach: an ICMP error about the SYN is sent
#              to ztun-ref's socket, which fails its connect; sN< timeout:
#              tcp_syn_retries makes the kernel give up then). Connection
#              attempts (the SYNs) are
#              captured on lo, so sN> connect is seen even when refused;
#              sN is the Nth SYN, in ztun-ref's order of opening. sN> fin
#              is EOF on the accepted socket, sN> close is ztun-ref no
#              longer holding the socket (its inode gone from
#              /proc/PID/fd; the EOF or reset it caused goes with it).
#   pings      net icmp: ztun-ref's ping sockets' echo requests, captured on
#              lo (the kernel answers none: icmp_echo_ignore_all), compared
#              but for the identifier the socket puts; replies and errors
#              sent on a raw socket with that identifier.
#   asserts    SIGUSR1 makes ztun-ref print its counters; the ones it
#              prints map to the scenario's counter names (COUNTERS below).
#              tcp.state is read from its TCP flows by state, which is the
#              connection's state when the script has one connection only.
#
# Time: every line has its scripted time t from the start. Inputs are made
# at t (or at once when an earlier wait ran past t); an expected output
# must arrive within [t - early, t + late] (default 0.05 s and 0.25 s) or
# the run fails at that line. The kernel completes or refuses a connection
# at once, so an accept/refuse scripted later than the connect by more
# than `early` is not supported. `advance`, asserts and the end of the
# script look at what arrived up to t + grace (default 0.02 s): at
# `advance` and at the end every output not matched fails the run (the
# simulator's strictness). An assert that does not hold yet is asked
# again until t + late: on a loaded machine ztun-ref may take its last
# input after the grace, as an output may come that late.
#
# Output: "PASS FILE" or "FAIL FILE" and the failure in the simulator's
# format (expected/actual, with times when the time is what is wrong),
# then the tail of ztun-ref's log. Exit status: 0 passed, 1 failed,
# 2 usage error, unsupported line or setup failure.

import argparse
import ipaddress
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import time

ETH_P_ALL = 0x0003
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)  # <linux/in.h>; not in every Python
IP_RECVTOS = getattr(socket, "IP_RECVTOS", 13)
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
IPV6_RECVTCLASS = getattr(socket, "IPV6_RECVTCLASS", 66)
IPV6_TCLASS = getattr(socket, "IPV6_TCLASS", 67)
PACKET_HOST = 0
PACKET_OUTGOING = 4

TUN_NAME = "zts0"
ICMP_UNREACH_CODES = {"host": 1, "net": 0}  # sN< unreach KIND: the ICMP code
MAX_SECONDS = 120  # the longest script real mode plays (it runs in real time)

F_FIN, F_SYN, F_RST, F_PSH, F_ACK, F_URG, F_ECE, F_CWR = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80)
FLAG_CHARS = [("S", F_SYN), ("F", F_FIN), ("R", F_RST), ("P", F_PSH),
              ("U", F_URG), ("E", F_ECE), ("W", F_CWR), (".", F_ACK)]


class ScnError(Exception):
    """A line that does not parse, or that real mode cannot play."""


class Fail(Exception):
    """The run failed; the message is the report."""


# --- the script -----------------------------------------------------------


class Tok:
    def __init__(self, s, quoted):
        self.s = s          # str, one char per byte (latin-1)
        self.quoted = quoted


def tokenize(line, where):
    """ztun-sim's tokenizer (sim/engine/scenario.c)."""
    toks = []
    i, n = 0, len(line)
    esc = {"r": "\r", "n": "\n", "t": "\t", "0": "\0", "\\": "\\", '"': '"'}
    while True:
        while i < n and line[i] in " \t\r":
            i += 1
        if i >= n or line[i] == "#":
            break
        quoted = line[i] == '"'
        out = []
        if line[i] == "<" and i + 1 < n and line[i + 1] not in " \t\r=":
            while i < n and line[i] != ">":
                out.append(line[i])
                i += 1
            if i >= n:
                raise ScnError("%s: unterminated '<' (options end with '>')" % where)
            out.append(line[i])
            i += 1
        else:
            while i < n and line[i] not in " \t\r#":
                if line[i] != '"':
                    out.append(line[i])
                    i += 1
                    continue
                i += 1
                while i < n and line[i] != '"':
                    c = line[i]
                    i += 1
                    if c != "\\":
                        out.append(c)
                        continue
                    if i >= n:
                        break
                    c = line[i]
                    i += 1
                    if c in esc:
                        out.append(esc[c])
                    elif c == "x":
                        try:
                            out.append(chr(int(line[i:i + 2], 16)))
                        except ValueError:
                            raise ScnError("%s: bad escape '\\x%s'" % (where, line[i:i + 2]))
                        i += 2
                    else:
                        raise ScnError("%s: bad escape '\\%s'" % (where, c))
                if i >= n:
                    raise ScnError("%s: unterminated string" % where)
                i += 1
        toks.append(Tok("".join(out), quoted))
    return toks


def strip_comment(line):
    """@line without its comment ('#' outside a string) and outer blanks."""
    q = False
    for i, c in enumerate(line):
        if c == '"' and (i == 0 or line[i - 1] != "\\"):
            q = not q
        elif c == "#" and not q:
            return line[:i].strip()
    return line.strip()


def parse_time(s, units=False):
    scale = 1.0
    if units:
        for suf, k in (("ns", 1e-9), ("us", 1e-6), ("ms", 1e-3), ("s", 1.0)):
            if s.endswith(suf):
                s, scale = s[:-len(suf)], k
                break
    if not s or not s[0].isdigit() or not all(c.isdigit() or c == "." for c in s) \
            or s.count(".") > 1 or s.endswith("."):
        raise ValueError(s)
    # integer nanoseconds, so "+0.010" steps add up exactly
    ip, _, frac = s.partition(".")
    if len(frac) > 9:
        raise ValueError(s)
    ns = int(ip) * 10**9 + int((frac + "000000000")[:9])
    return int(ns * scale)


def parse_v4(s):
    a = ipaddress.ip_address(s)
    if a.version != 4:
        raise ValueError(s)
    return str(a)


def parse_ip(s):
    """An IPv4 or IPv6 literal, in the form inet_ntop gives."""
    return str(ipaddress.ip_address(s))


def is6(a):
    return ":" in a


def family(a):
    return socket.AF_INET6 if is6(a) else socket.AF_INET


def aton(a):
    return socket.inet_pton(family(a), a)


def fmt_ep(a, port):
    return ("[%s]:%d" if is6(a) else "%s:%d") % (a, port)


def split_ep(s):
    """A.B.C.D:PORT or [V6]:PORT -> (addr, port string); ValueError."""
    if s.startswith("["):
        host, sep, port = s[1:].partition("]:")
        if not sep:
            raise ValueError(s)
        if not is6(host):
            raise ValueError(s)
    else:
        if s.count(":") != 1:
            raise ValueError(s)
        host, _, port = s.partition(":")
        if is6(host):
            raise ValueError(s)
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(s)
    return parse_ip(host), port


def parse_ep(s, where):
    """A.B.C.D:PORT or [V6]:PORT; names are not supported in real mode."""
    try:
        host, port = split_ep(s)
        return (host, int(port))
    except ValueError:
        raise ScnError("%s: bad or unsupported endpoint '%s' (real mode: IP "
                       "literals only)" % (where, s))


def is_hex_token(t):
    if t.quoted or not t.s or len(t.s) % 2:
        return False
    return all(c in "0123456789abcdefABCDEF" for c in t.s)


def payload_rest(toks, where):
    out = b""
    for t in toks:
        if t.quoted:
            out += t.s.encode("latin-1")
        elif is_hex_token(t):
            out += bytes.fromhex(t.s)
        else:
            raise ScnError("%s: unexpected '%s' (not a payload)" % (where, t.s))
    return out


def take_ttl(e, t, where):
    """`ttl N` and `tos N`, each at most once, in any order, at the start of
    t (a UDP or echo input's TTL and traffic class, or those a net>
    datagram must leave with; `tos` also on net< and tun> datagrams), and
    `df` (an IPv4 tun< line's DF): sets e.pkt.ttl / .tos / .df, returns
    what follows."""
    while t and not t[0].quoted and t[0].s in ("ttl", "tos", "df"):
        kw = t[0].s
        if kw == "df":
            if e.kind != "tun<":
                raise ScnError("%s: 'df' is for IPv4 tun< lines" % where)
            if e.pkt.df:
                raise ScnError("%s: 'df' given twice" % where)
            if e.pkt.src and is6(e.pkt.src):
                raise ScnError("%s: 'df' is for IPv4 tun< lines" % where)
            e.pkt.df = True
            t = t[1:]
            continue
        if kw == "ttl" and e.kind not in ("tun<", "net>"):
            raise ScnError("%s: 'ttl' is for tun< and net> lines" % where)
        if kw == "tos" and e.kind not in ("tun<", "tun>", "net>", "net<"):
            raise ScnError("%s: 'tos' is for tun<, tun>, net> and net< lines" % where)
        if getattr(e.pkt, kw) is not None:
            raise ScnError("%s: '%s' given twice" % (where, kw))
        try:
            v = int(t[1].s)
        except (ValueError, IndexError):
            v = -1
        lo = 1 if kw == "ttl" else 0
        if not lo <= v <= 255:
            raise ScnError("%s: expected %s after '%s', got '%s'"
                           % (where, "a TTL of 1-255" if kw == "ttl" else
                              "a traffic class of 0-255", kw,
                              t[1].s if len(t) > 1 else ""))
        setattr(e.pkt, kw, v)
        t = t[2:]
    return t


def paren_len(s):
    if len(s) < 3 or s[0] != "(" or s[-1] != ")" or not s[1:-1].isdigit():
        raise ValueError(s)
    return int(s[1:-1])


class Pkt:
    def __init__(self):
        self.type = None     # tcp udp echo echoreply unreach raw
        self.has_addrs = False
        self.src = self.dst = None
        self.sport = self.dport = 0
        self.flags = 0
        self.start = self.end = 0
        self.ack = None
        self.win = None
        self.opts = None     # list of (kind, args) or None when not given
        self.opts_more = False
        self.no_win_check = False
        self.len = 0
        self.ttl = None      # `ttl N`: tun< sends with it, net> checks it
        self.tos = None      # `tos N`: the same for the traffic class
        self.df = False      # `df`: tun< sends with DF
        self.mtu = None      # toobig's
        self.echo_id = self.echo_seq = 0
        self.code = 0
        self.quote = None    # unreach/timex `quotes`: (src, sport, dst, dport,
                             # echo (id, seq) or None), ports None when not given
        self.payload = None  # bytes or None


def parse_opts(s, where):
    opts, more = [], False
    for item in s[1:-1].split(","):
        w = item.split()
        if not w:
            continue
        if more:
            raise ScnError("%s: '...' must be the last option in '%s'" % (where, s))
        try:
            if w == ["..."]:
                more = True
            elif w[0] == "mss" and len(w) == 2:
                opts.append(("mss", int(w[1])))
            elif w[0] == "wscale" and len(w) == 2:
                opts.append(("wscale", int(w[1])))
            elif w == ["sackOK"]:
                opts.append(("sackOK", None))
            elif w == ["nop"] or w == ["eol"]:
                opts.append((w[0], None))
            elif w[0] == "TS" and len(w) == 5 and w[1] == "val" and w[3] == "ecr":
                opts.append(("TS", (None if w[2] == "*" else int(w[2]),
                                    None if w[4] == "*" else int(w[4]))))
            elif w[0] == "sack" and 2 <= len(w) <= 5:
                bl = []
                for b in w[1:]:
                    left, _, right = b.partition(":")
                    bl.append((int(left), int(right)))
                opts.append(("sack", bl))
            else:
                raise ValueError(item)
        except ValueError:
            raise ScnError("%s: unknown TCP option '%s'" % (where, item.strip()))
    return opts, more


def parse_flags(s):
    f = 0
    for c in s:
        for ch, bit in FLAG_CHARS:
            if c == ch:
                f |= bit
                break
        else:
            raise ValueError(s)
    if not s:
        raise ValueError(s)
    return f


class Event:
    def __init__(self, line, t, kind, text):
        self.line = line
        self.t = t           # ns from the start
        self.kind = kind     # tun< tun> s< s> net< net> advance assert
        self.text = text     # the line after its time, for messages
        self.pkt = Pkt()
        self.stream = 0
        self.sop = None
        self.fin = False
        self.ep = None
        self.var = ""
        self.error = False   # net< error: ICMP error from ep[0] about err_to
        self.icmp = False    # net icmp, or net< error about an echo request
        self.err_type = self.err_code = self.err_mtu = 0
        self.err_to = None
        self.counter = None
        self.cmp = None
        self.value = 0


def parse_addr_port(s):
    """A.B.C.D[:PORT], V6 or [V6]:PORT -> (addr, port or None)."""
    if s.startswith("[") or s.count(":") == 1:
        host, port = split_ep(s)
        return host, int(port)
    return parse_ip(s), None


def parse_quote(t, where):
    """`quotes SRC[:PORT] > DST[:PORT] [echo ID SEQ]` after an ICMP error."""
    if len(t) < 4 or t[0].s != "quotes" or t[2].s != ">":
        raise ScnError("%s: expected 'quotes SRC > DST', got '%s'" % (where, t[0].s))
    try:
        src, sport = parse_addr_port(t[1].s)
        dst, dport = parse_addr_port(t[3].s)
    except ValueError:
        raise ScnError("%s: bad quoted address in '%s > %s'" % (where, t[1].s, t[3].s))
    if (sport is None) != (dport is None):
        raise ScnError("%s: bad quoted address '%s' (ports on both or neither)"
                       % (where, t[3].s))
    echo = None
    rest = t[4:]
    if rest and rest[0].s == "echo" and sport is None:
        try:
            echo = (int(rest[1].s), int(rest[2].s))
        except (ValueError, IndexError):
            raise ScnError("%s: expected ID SEQ after 'echo'" % where)
        rest = rest[3:]
    if rest:
        raise ScnError("%s: unexpected '%s'" % (where, rest[0].s))
    return (src, sport, dst, dport, echo)


def parse_packet(e, t, where, state):
    p = e.pkt
    n = len(t)
    i = 0
    typ = None
    if n >= 3 and not t[1].quoted and t[1].s == ">":
        typ = t[3].s if n > 3 else ""
    if typ in ("icmp", "raw"):
        try:
            p.src, p.dst = parse_ip(t[0].s), parse_ip(t[2].s)
            if is6(p.src) != is6(p.dst):
                raise ValueError(t[2].s)
        except ValueError:
            raise ScnError("%s: bad addresses '%s > %s'" % (where, t[0].s, t[2].s))
        p.has_addrs = True
        i = 3
    elif typ is not None:
        p.src, p.sport = parse_ep(t[0].s, where)
        p.dst, p.dport = parse_ep(t[2].s, where)
        if is6(p.src) != is6(p.dst):
            raise ScnError("%s: '%s > %s' mixes IPv4 and IPv6" % (where, t[0].s, t[2].s))
        p.has_addrs = True
        i = 3
    if i < n and not t[i].quoted and t[i].s == "raw":
        if e.kind != "tun<":
            raise ScnError("%s: 'raw' is for input (tun<) only" % where)
        p.type = "raw"
        p.payload = payload_rest(t[i + 1:], where)
        if not p.payload:
            raise ScnError("%s: 'raw' needs the packet's bytes" % where)
        return
    if i < n and not t[i].quoted and t[i].s == "udp":
        p.type = "udp"
        if not p.has_addrs or not p.sport:
            raise ScnError("%s: udp needs SRC:PORT > DST:PORT" % where)
        try:
            p.len = paren_len(t[i + 1].s)
        except (ValueError, IndexError):
            raise ScnError("%s: expected (LEN) after 'udp'" % where)
        rest = take_ttl(e, t[i + 2:], where)
        pl = payload_rest(rest, where)
        if rest:
            p.payload = pl
            if len(pl) != p.len:
                raise ScnError("%s: payload is %d bytes, (LEN) says %d"
                               % (where, len(pl), p.len))
        return
    if i < n and not t[i].quoted and t[i].s == "icmp":
        what = t[i + 1].s if i + 1 < n else ""
        if not p.has_addrs:
            raise ScnError("%s: icmp needs SRC > DST" % where)
        if what in ("echo", "echoreply"):
            p.type = what
            try:
                p.echo_id = int(t[i + 2].s)
                p.echo_seq = int(t[i + 3].s)
            except (ValueError, IndexError):
                raise ScnError("%s: expected ID SEQ after '%s'" % (where, what))
            p.payload = payload_rest(take_ttl(e, t[i + 4:], where), where)
            return
        if what in ("unreach", "timex", "toobig"):
            p.type = what
            try:
                v = int(t[i + 2].s)
            except (ValueError, IndexError):
                raise ScnError("%s: expected %s after '%s'"
                               % (where, "MTU" if what == "toobig" else "CODE", what))
            if what == "toobig":
                p.mtu = v
            else:
                p.code = v
            if i + 3 < n:
                p.quote = parse_quote(t[i + 3:], where)
            if e.kind == "tun<" and (p.quote is None or p.quote[1] is None):
                raise ScnError("%s: an input '%s' needs 'quotes SRC:PORT > DST:PORT' "
                               "(the UDP datagram it is about)" % (where, what))
            return
        raise ScnError("%s: unknown icmp message '%s'" % (where, what))
    # TCP
    p.type = "tcp"
    if p.has_addrs:
        state["seen_tcp_addrs"] = True
    elif not state.get("seen_tcp_addrs"):
        raise ScnError("%s: the first TCP line needs SRC:PORT > DST:PORT" % where)
    if i >= n:
        raise ScnError("%s: missing TCP flags" % where)
    try:
        p.flags = parse_flags(t[i].s)
    except ValueError:
        raise ScnError("%s: bad TCP flags '%s'" % (where, t[i].s))
    i += 1
    try:
        rng = t[i].s
        a, _, rest = rng.partition(":")
        b, _, rest = rest.partition("(")
        ln = rest[:-1]
        if not rest.endswith(")"):
            raise ValueError(rng)
        p.start, p.end = int(a), int(b)
        if (p.end - p.start) % 2**32 != int(ln):
            raise ValueError(rng)
    except (ValueError, IndexError):
        raise ScnError("%s: bad sequence range" % where)
    i += 1
    payload = b""
    have_payload = False
    while i < n:
        s = t[i].s
        if p.no_win_check:
            raise ScnError("%s: unexpected '%s' after '...'" % (where, s))
        if not t[i].quoted and s in ("ack", "win"):
            try:
                v = int(t[i + 1].s)
            except (ValueError, IndexError):
                raise ScnError("%s: bad value after '%s'" % (where, s))
            if s == "ack":
                p.ack = v
            else:
                p.win = v
            i += 2
            continue
        if not t[i].quoted and s.startswith("<"):
            p.opts, p.opts_more = parse_opts(s, where)
        elif not t[i].quoted and s == "...":
            p.no_win_check = True
        elif not t[i].quoted and (s in ("ttl", "tos") or
                                  (s == "df" and e.kind == "tun<")):
            # before the hex check: on a TCP input `df` is the DF flag
            # (docs/scenarios.md), not a payload byte
            raise ScnError("%s: '%s' on a TCP segment is not supported in real "
                           "mode (the upstream SYN's TTL is not seen)" % (where, s))
        elif t[i].quoted or is_hex_token(t[i]):
            payload += payload_rest([t[i]], where)
            have_payload = True
        else:
            raise ScnError("%s: unexpected '%s'" % (where, s))
        i += 1
    if have_payload:
        p.payload = payload
        if len(payload) != p.end - p.start:
            raise ScnError("%s: payload is %d bytes, the range says %d"
                           % (where, len(payload), p.end - p.start))


# counter -> (stats group, label) of ztun-ref's "ztun-ref: stats:" lines
# (sim/real/host.c, zr_host_print_stats; docs/cli.md)
COUNTERS = {
    "stack.tcp_flows_opened": ("tcp", "opened"),
    "stack.tcp_flows_active": ("tcp", "active"),
    "router.tcp_relayed_up": ("tcp", "up"),
    "router.tcp_relayed_up_direct": ("tcp", "up direct"),
    "router.tcp_relayed_up_early": ("tcp", "up early"),
    "router.tcp_relayed_down": ("tcp", "down"),
    "router.upstream_connect_failed": ("tcp", "connect failed"),
    "router.upstream_reset": ("tcp", "upstream reset"),
    "router.tcp_unsent_reset": ("tcp", "unsent reset"),
    "router.upstream_keepalives": ("tcp", "upstream keepalives"),
    "router.upstream_timeouts": ("tcp", "upstream timeouts"),
    "stack.tcp_refused": ("tcp", "refused"),
    "stack.tcp_connect_timeouts": ("tcp", "connect timeouts"),
    "stack.tcp_idle_timeouts": ("tcp", "idle timeouts"),
    "stack.tcp_idle_evicted": ("tcp", "idle evicted"),
    "router.tcp_up_sends": ("tcp", "up sends"),
    "stack.tcp_rst_sent": ("tcp", "rst sent"),
    "stack.tcp_refused_full": ("tcp", "refused full"),
    "stack.tcp_refused_memory": ("tcp", "refused memory"),
    "stack.tcp_early_synacks": ("tcp", "early syn-acks"),
    "stack.tcp_time_wait_reopened": ("tcp", "time-wait reopened"),
    "stack.udp_datagrams_in": ("udp", "in"),
    "stack.udp_datagrams_out": ("udp", "out"),
    "stack.udp_flows_opened": ("udp", "flows opened"),
    "stack.udp_flows_active": ("udp", "active"),
    "stack.udp_flows_expired": ("udp", "expired"),
    "router.udp_relayed_up": ("udp", "up"),
    "router.udp_relayed_down": ("udp", "down"),
    "router.udp_dropped": ("udp", "dropped"),
    "router.nat_reply_mismatch": ("udp", "reply mismatch"),
    "router.socks5_udp_spoofed": ("udp", "spoofed"),
    "router.socks5_udp_relay_lost": ("udp", "relay lost"),
    "router.socks5_udp_cone_in": ("udp", "cone in"),
    "stack.udp_refused_full": ("udp", "refused full"),
    "stack.udp_evicted": ("udp", "evicted"),
    "router.nat_port_taken": ("udp", "nat port taken"),
    "stack.udp_gso_out": ("udp", "gso runs"),
    "router.nat_refused": ("udp", "nat refused"),
    "router.udp_mappings": ("udp", "mappings"),
    "router.udp_mappings_active": ("udp", "mappings active"),
    "router.udp_cone_in": ("udp", "mapping cone in"),
    "stack.udp_flows_unreachable": ("udp", "client unreachable"),
    "stack.icmp_echo_replies": ("icmp", "echo replies"),
    "stack.icmp_errors_sent": ("icmp", "errors sent"),
    "stack.icmp_errors_limited": ("icmp", "limited"),
    "stack.icmp_errors_in": ("icmp", "errors in"),
    "stack.icmp_errors_matched": ("icmp", "matched"),
    "stack.pmtu_not_believed": ("icmp", "too big not believed"),
    "router.icmp_dropped": ("icmp", "dropped"),
    "router.icmp_echo_out": ("icmp", "echo out"),
    "router.icmp_echo_in": ("icmp", "echo in"),
    "router.icmp_errors_relayed": ("icmp", "upstream errors relayed"),
    "router.icmp_errors_ignored": ("icmp", "ignored"),
    "router.dropped_no_proxy": ("proxy", "no proxy"),
    "router.proxy_down_refused": ("proxy", "down refused"),
    "router.socks5_udp_assocs": ("proxy", "udp associations"),
    "router.socks5_udp_assocs_active": ("proxy", "active"),
    "router.socks5_udp_unsupported": ("proxy", "udp unsupported"),
    "router.socks5_udp_timeouts": ("proxy", "udp timeouts"),
    "router.socks5_udp_proxy_closed": ("proxy", "udp closed by proxy"),
    "router.fake_ip_refused": ("fake", "refused"),
    "router.dns_tcp_connections": ("dns-tcp", "connections"),
    "router.dns_tcp_queries": ("dns-tcp", "queries"),
    "router.dns_tcp_answers": ("dns-tcp", "answers"),
    "router.dns_tcp_truncated": ("dns-tcp", "truncated"),
    "router.dns_tcp_unmatched": ("dns-tcp", "unmatched"),
    "router.dns_tcp_dropped": ("dns-tcp", "dropped"),
    "router.dns_tcp_resent": ("dns-tcp", "resent"),
    "router.dns_tcp_servfail": ("dns-tcp", "servfail"),
    "fakedns.queries": ("fake", "dns queries"),
    "fakedns.answered": ("fake", "answered"),
    "fakedns.nodata": ("fake", "no data"),
    "fakedns.errors": ("fake", "errors"),
    "fakedns.blocked": ("fake", "blocked"),
    "fakedns.refused": ("fake", "policy refused"),
    "fakedns.forwarded": ("fake", "forwarded"),
    "fakedns.learned": ("fake", "learned"),
    "fakedns.ignored": ("fake", "ignored"),
    "fakedns.names": ("fake", "names"),
    "fakedns.held": ("fake", "held"),
    "fakedns.recycled": ("fake", "recycled"),
    "fakedns.exhausted": ("fake", "exhausted"),
    "fakedns.lookups": ("fake", "lookups"),
    "fakedns.unknown": ("fake", "unknown"),
    "stack.packets_in": ("stack", "packets in"),
    "stack.packets_out": ("stack", "packets out"),
    "stack.bytes_in": ("stack", "in"),
    "stack.bytes_out": ("stack", "out"),
    "nat.active": ("nat", "active"),
    "nat.created": ("nat", "created"),
    "nat.mappings": ("nat", "mappings"),
    "nat.mappings_created": ("nat", "mappings created"),
    "nat.expired": ("nat", "expired"),
    "nat.removed": ("nat", "removed"),
    "nat.insert_failures": ("nat", "insert failures"),
    "nat.insert_no_slot": ("nat", "no slot"),
    "nat.insert_no_port": ("nat", "no port"),
    "nat.lookups": ("nat", "lookups"),
    "nat.hits": ("nat", "hits"),
    "nat.reverse_lookups": ("nat", "reverse lookups"),
    "nat.reverse_hits": ("nat", "reverse hits"),
    "tcp.segs_in": ("tcp-segs", "in"),
    "tcp.segs_out": ("tcp-segs", "out"),
    "tcp.retransmits": ("tcp-segs", "retransmits"),
    "tcp.rto_expiries": ("tcp-segs", "rto expiries"),
    "tcp.fast_retransmits": ("tcp-segs", "fast retransmits"),
    "tcp.tlp_probes": ("tcp-segs", "loss probes"),
    "tcp.lost_retransmits": ("tcp-segs", "lost retransmits"),
    "tcp.rack_marked": ("tcp-segs", "rack marked"),
    "tcp.undos": ("tcp-segs", "undos"),
    "tcp.spurious_rtos": ("tcp-segs", "spurious rtos"),
    "tcp.sack_renegings": ("tcp-segs", "sack reneging"),
    "tcp.dupacks_in": ("tcp-segs", "dupacks in"),
    "tcp.ooo_segs": ("tcp-segs", "out of order"),
    "tcp.challenge_acks": ("tcp-segs", "challenge acks"),
    "tcp.oow_acks_skipped": ("tcp-segs", "oow acks skipped"),
}
# tcp.state: ztun-ref prints how many flows are in each state ("tcp-state"
# line); with one connection in the script that is the connection's state
TCP_STATES = ("CLOSED", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
              "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT")
DECISIONS = ("direct", "socks5", "http", "drop", "local", "nat")
CMPS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def counter_key(name):
    if name == "tcp.state":
        return ("tcp-state", None)
    if name in COUNTERS:
        return COUNTERS[name]
    if name.startswith("router.flows.") and name[13:] in DECISIONS:
        return ("flows", name[13:])
    if name.startswith("drops.") and len(name) > 6:
        return ("drops", name[6:])
    return None


class Scenario:
    def __init__(self, path):
        self.path = path
        self.events = []
        self.tun = ("10.0.0.1", 24)
        self.tun6 = None     # (addr, prefix length): --tun6
        self.mtu = None
        self.routes = []
        self.default = "direct"
        self.socks5 = None
        self.socks5_auth = None
        self.http = None
        self.http_auth = None
        self.early_synack = False
        self.full_cone = False
        self.dns_over_tcp = False
        self.dns_tcp_fallback = True
        self.idle = {}       # "connect" / "tcp_idle" / "udp_idle" / "udp_stream":
                             # seconds, --stack.*_timeout
        self.fake = []       # --fake-dns and its range flags, as ztun-ref takes them
        self.caps = {}       # "max_tcp_flows" / "max_udp_flows": --stack.* flow caps
        self.last_line = 0
        self.header_keys = set()  # header options given, to refuse a repeat
        self.parse()

    def set_default(self, v, where, opt):
        self.default = v
        if v not in ("direct", "drop", "socks5", "nat"):
            raise ScnError("%s: %s is not supported in real mode (UDP "
                           "gets the default in the simulator; ztun-ref's --udp "
                           "takes direct, drop, socks5 or nat)" % (where, opt))

    def parse(self):
        with open(self.path, "rb") as f:
            text = f.read().decode("latin-1")
        seen_event = False
        prev_t = 0
        state = {}
        for ln, line in enumerate(text.split("\n"), 1):
            self.last_line = ln
            where = "%s:%d" % (self.path, ln)
            toks = tokenize(line, where)
            if not toks:
                continue
            if not toks[0].quoted and toks[0].s.startswith("--"):
                if seen_event:
                    raise ScnError("%s: header option '%s' after the first event"
                                   % (where, toks[0].s))
                for t in toks:
                    if t.quoted or not t.s.startswith("--"):
                        raise ScnError("%s: expected an option, got '%s'" % (where, t.s))
                    self.header(t.s, where)
                continue
            seen_event = True
            ts = toks[0].s
            try:
                if ts == "*":
                    t = prev_t
                elif ts.startswith("+"):
                    t = prev_t + parse_time(ts[1:])
                else:
                    t = parse_time(ts)
                    if t < prev_t:
                        raise ScnError("%s: time '%s' goes backwards" % (where, ts))
            except ValueError:
                raise ScnError("%s: bad time '%s'" % (where, ts))
            if len(toks) < 2:
                raise ScnError("%s: missing direction after '%s'" % (where, ts))
            text_rest = strip_comment(line).split(None, 1)[1]
            d = toks[1].s
            rest = toks[2:]
            if d in ("tun<", "tun>"):
                e = Event(ln, t, d, text_rest)
                parse_packet(e, rest, where, state)
            elif d in ("net<", "net>"):
                e = Event(ln, t, d, text_rest)
                self.parse_net(e, rest, where)
            elif len(d) >= 3 and d[0] == "s" and d[1:-1].isdigit() and d[-1] in "<>":
                e = Event(ln, t, "s" + d[-1], text_rest)
                e.stream = int(d[1:-1])
                self.parse_stream(e, rest, where)
            elif d == "advance":
                e = Event(ln, t, "advance", text_rest)
                if rest:
                    raise ScnError("%s: unexpected '%s' after 'advance'" % (where, rest[0].s))
            elif d == "assert":
                e = Event(ln, t, "assert", text_rest)
                if len(rest) != 3:
                    raise ScnError("%s: expected COUNTER OP VALUE after 'assert'" % where)
                e.counter = rest[0].s
                if counter_key(e.counter) is None:
                    raise ScnError("%s: counter '%s' is not supported in real mode "
                                   "(ztun-ref does not print it)" % (where, e.counter))
                if rest[1].s not in CMPS:
                    raise ScnError("%s: unknown operator '%s'" % (where, rest[1].s))
                e.cmp = rest[1].s
                if e.counter == "tcp.state":
                    if e.cmp not in ("==", "!=") or rest[2].s not in TCP_STATES:
                        raise ScnError("%s: tcp.state takes == or != and a state name"
                                       % where)
                    e.value = rest[2].s
                else:
                    try:
                        e.value = int(rest[2].s)
                    except ValueError:
                        raise ScnError("%s: bad value '%s'" % (where, rest[2].s))
            else:
                raise ScnError("%s: unknown direction '%s'" % (where, d))
            self.events.append(e)
            prev_t = t

    def header(self, opt, where):
        key, eq, v = opt.partition("=")
        if not eq:
            raise ScnError("%s: option '%s' needs a value (--KEY=VALUE)" % (where, opt))
        # as the simulator: a second value would silently replace the first
        if key != "--route":
            if key in self.header_keys:
                raise ScnError("%s: %s given twice (only --route repeats)" % (where, key))
            self.header_keys.add(key)
        if key in ("--seed", "--tolerance"):
            return  # the simulator's; real mode has its own ISNs and tolerance
        if key == "--tun":
            a, _, pl = v.partition("/")
            try:
                self.tun = (parse_v4(a), int(pl) if pl else 32)
                if not 1 <= self.tun[1] <= 32:
                    raise ValueError(pl)
            except ValueError:
                raise ScnError("%s: --tun: bad address '%s'" % (where, v))
        elif key == "--mtu":
            if not v.isdigit() or not 1280 <= int(v) <= 65535:
                raise ScnError("%s: --mtu: '%s' is not a number in 1280..65535" % (where, v))
            self.mtu = int(v)
        elif key == "--route" and v.split()[:2] == ["default", "->"]:
            # as the simulator: "default -> D" is --default=D at its place
            # (the last one wins); as a --rule it would lose to the
            # --default this executor always passes after the rules
            self.set_default(" ".join(v.split()[2:]), where, "--route=" + v)
        elif key == "--route":
            self.routes.append(v)
        elif key == "--default":
            self.set_default(v, where, "--default=" + v)
        elif key == "--socks5":
            self.socks5 = parse_ep(v, where)
        elif key == "--socks5-auth":
            self.socks5_auth = v
        elif key == "--http":
            self.http = parse_ep(v, where)
        elif key == "--http-auth":
            self.http_auth = v
        elif key == "--early-synack":
            if v not in ("0", "1", "true", "false", "on", "off"):
                raise ScnError("%s: --early-synack: expected 0 or 1, got '%s'" % (where, v))
            self.early_synack = v in ("1", "true", "on")
        elif key == "--udp-full-cone":
            if v not in ("0", "1", "true", "false", "on", "off"):
                raise ScnError("%s: --udp-full-cone: expected 0 or 1, got '%s'" % (where, v))
            self.full_cone = v in ("1", "true", "on")
        elif key == "--dns-over-tcp":
            if v not in ("0", "1", "true", "false", "on", "off"):
                raise ScnError("%s: --dns-over-tcp: expected 0 or 1, got '%s'" % (where, v))
            self.dns_over_tcp = v in ("1", "true", "on")
        elif key == "--dns-tcp-fallback":
            if v not in ("0", "1", "true", "false", "on", "off"):
                raise ScnError("%s: --dns-tcp-fallback: expected 0 or 1, got '%s'" % (where, v))
            self.dns_tcp_fallback = v in ("1", "true", "on")
        elif key == "--tun-offload":
            if v not in ("0", "1", "true", "false", "on", "off"):
                raise ScnError("%s: --tun-offload: expected 0 or 1, got '%s'" % (where, v))
            if v in ("1", "true", "on"):
                raise ScnError("%s: --tun-offload=1 is not supported in real mode (the "
                               "capture on the TUN sees ztun-ref's writes before the "
                               "kernel cuts them; tests/e2e/ztun_ref_e2e.sh tests its "
                               "TSO and UDP GSO)" % where)
        elif key == "--stack.connect_timeout":
            # ztun-ref's --connect-timeout, whole seconds
            secs = v[:-1]
            if not v.endswith("s") or not secs.isdigit() or not 1 <= int(secs) <= 300:
                raise ScnError("%s: %s=%s: real mode takes whole seconds, 1s..300s"
                               % (where, key, v))
            self.idle["connect"] = int(secs)
        elif key in ("--stack.tcp_idle_timeout", "--stack.udp_idle_timeout",
                     "--stack.udp_stream_timeout"):
            # ztun-ref's --tcp-idle-timeout / --udp-idle-timeout /
            # --udp-stream-timeout, whole seconds
            secs = v[:-1]
            if not v.endswith("s") or not secs.isdigit() or not 1 <= int(secs) <= 604800:
                raise ScnError("%s: %s=%s: real mode takes whole seconds, 1s..604800s"
                               % (where, key, v))
            self.idle[key[8:-8]] = int(secs)
        elif key in ("--fake-dns", "--fake-ip-range", "--fake-ip6-range",
                     "--fake-dns-names", "--fake-dns-upstream"):
            self.fake.append(key)  # ztun-ref's flags of the same names
            self.fake.append(v)
        elif key in ("--stack.max_tcp_flows", "--stack.max_udp_flows"):
            # ztun-ref's --max-flows / --max-udp-flows, 1..65536 both
            if not v.isdigit() or not 1 <= int(v) <= 65536:
                raise ScnError("%s: %s: '%s' is not a number in 1..65536" % (where, key, v))
            self.caps[key[8:]] = int(v)
        elif key in ("--stack.tcp.rx_buf", "--stack.tcp.tx_buf"):
            raise ScnError("%s: option '%s' is not supported in real mode "
                           "(ztun-ref's --tcp-buffer sets the receive and the send "
                           "ring both)" % (where, key))
        elif key.startswith("--stack."):
            raise ScnError("%s: option '%s' is not supported in real mode "
                           "(ztun-ref has no flag for that stack setting)" % (where, key))
        elif key == "--tun6":
            a, _, pl = v.partition("/")
            try:
                self.tun6 = (parse_ip(a), int(pl) if pl else 128)
                if not is6(self.tun6[0]) or not 1 <= self.tun6[1] <= 128:
                    raise ValueError(pl)
            except ValueError:
                raise ScnError("%s: --tun6: bad address '%s'" % (where, v))
        elif key == "--max-sockets":
            raise ScnError("%s: option '%s' is not supported in real mode "
                           "(ztun-ref's limit is its process's descriptors, "
                           "with the TUN's, epoll's and the log's among them: "
                           "tests/e2e/ztun_ref_e2e.sh checks (nf) and (nu) under "
                           "prlimit)" % (where, key))
        else:
            raise ScnError("%s: unknown option '%s'" % (where, key))

    def parse_stream(self, e, t, where):
        inp = e.kind == "s<"
        w = t[0].s if t else ""
        word = bool(t) and not t[0].quoted
        if word and not inp and w == "connect":
            if len(t) == 4 and t[2].s == "ttl":
                raise ScnError("%s: 's%d> connect ... ttl' is not supported in real "
                               "mode (the SYN's TTL is not seen)" % (where, e.stream))
            if len(t) != 2:
                raise ScnError("%s: expected ADDR:PORT after 'connect'" % where)
            e.sop = "connect"
            e.ep = parse_ep(t[1].s, where)
            return
        if word and inp and w == "unreach" and len(t) <= 2:
            # an ICMP error about the SYN, which fails the connect()
            # (RFC 1122 4.2.3.9 lets a SYN_SENT socket give up on one;
            # Linux does): host -> EHOSTUNREACH, net -> ENETUNREACH
            kind = t[1].s if len(t) == 2 else "host"
            if kind not in ICMP_UNREACH_CODES:
                raise ScnError("%s: 's%d< unreach %s' is not supported in real mode (no "
                               "ICMP error makes connect() fail with EACCES)"
                               % (where, e.stream, kind))
            e.sop = "unreach"
            e.err_code = ICMP_UNREACH_CODES[kind]
            return
        if word and inp and w in ("unreach", "timex"):
            raise ScnError("%s: 's%d< %s' is not supported in real mode (a "
                           "kernel listener accepts or refuses)" % (where, e.stream, w))
        if word and len(t) == 1:
            if inp and w in ("accept", "refuse", "fin", "rst"):
                e.sop = w
                return
            if not inp and w in ("fin", "close", "rst"):
                e.sop = w
                return
            if inp and w == "timeout":
                # the kernel's own connect timeout (plan() checks when)
                e.sop = w
                return
        if word and inp and w == "silent" and len(t) == 1:
            raise ScnError("%s: 's%d< silent' is not supported in real mode (a "
                           "vanished peer takes minutes of keepalive probes; "
                           "tests/e2e/fault_inject.sh plays one)" % (where, e.stream))
        if word and inp and w == "window":
            raise ScnError("%s: 's%d< window' is not supported in real mode"
                           % (where, e.stream))
        e.sop = "data"
        if inp and len(t) > 1 and not t[-1].quoted and t[-1].s == "fin":
            e.fin = True
            t = t[:-1]
        if not t:
            raise ScnError("%s: missing payload" % where)
        e.pkt.payload = payload_rest(t, where)

    @staticmethod
    def parse_dgram_body(e, t, where):
        """A datagram line's `(LEN) [ttl N] [tos N] [PAYLOAD]`."""
        try:
            e.pkt.len = paren_len(t[0].s)
        except (ValueError, IndexError):
            raise ScnError("%s: expected (LEN)" % where)
        rest = take_ttl(e, t[1:], where)
        if rest:
            e.pkt.payload = payload_rest(rest, where)
            if len(e.pkt.payload) != e.pkt.len:
                raise ScnError("%s: payload is %d bytes, (LEN) says %d"
                               % (where, len(e.pkt.payload), e.pkt.len))

    ERROR_KINDS = {"unreach": 3, "timex": 11, "param": 12, "toobig": 3}

    def parse_net_error(self, e, t, where):
        """net< error ORIGIN [> $VAR] KIND [CODE] to DST:PORT (LEN) [PAYLOAD]"""
        try:
            origin = parse_v4(t[1].s)
        except (ValueError, IndexError):
            raise ScnError("%s: bad address '%s' (error: the address it comes from)"
                           % (where, t[1].s if len(t) > 1 else ""))
        i = 2
        if i + 1 < len(t) and t[i].s == ">":
            e.var = t[i + 1].s[1:]
            i += 2
        kind = t[i].s if i < len(t) else ""
        if kind not in self.ERROR_KINDS:
            raise ScnError("%s: expected unreach, timex, param or toobig, got '%s'"
                           % (where, kind))
        e.err_type = self.ERROR_KINDS[kind]
        e.err_code = 4 if kind == "toobig" else 0
        e.err_mtu = 0
        i += 1
        if kind != "toobig":
            try:
                e.err_code = int(t[i].s)
            except (ValueError, IndexError):
                raise ScnError("%s: expected CODE after '%s'" % (where, kind))
            i += 1
        elif i < len(t) and t[i].s != "to":
            try:
                e.err_mtu = int(t[i].s)
            except ValueError:
                raise ScnError("%s: expected MTU or 'to' after 'toobig', got '%s'"
                               % (where, t[i].s))
            i += 1
        if i + 1 >= len(t) or t[i].s != "to":
            raise ScnError("%s: expected 'to DST'" % where)
        if i + 1 < len(t) and t[i + 1].s.count(":") == 0:
            # about an echo request (the address alone): the echo socket's
            try:
                e.err_to = (parse_v4(t[i + 1].s), None)
            except ValueError:
                raise ScnError("%s: bad address '%s'" % (where, t[i + 1].s))
            e.icmp = True
        else:
            e.err_to = parse_ep(t[i + 1].s, where)
        if is6(e.err_to[0]):
            raise ScnError("%s: 'net< error' about IPv6 is not supported in real mode"
                           % where)
        e.error = True
        e.ep = (origin, 0)
        i += 2
        self.parse_dgram_body(e, t[i:], where)

    def parse_net(self, e, t, where):
        inp = e.kind == "net<"
        if inp and t and t[0].s == "error":
            return self.parse_net_error(e, t, where)
        if not t or t[0].s not in ("udp", "icmp"):
            raise ScnError("%s: expected 'udp' or 'icmp'" % where)
        e.icmp = t[0].s == "icmp"
        i = 1
        if not inp and i < len(t) and t[i].s.startswith("$"):
            e.var = t[i].s[1:]
            i += 1
        if i >= len(t):
            raise ScnError("%s: missing address" % where)
        if e.icmp:
            # an echo socket's message: ztun-ref's ping socket (IPv4 only
            # here), its identifier in place of the port
            try:
                e.ep = (parse_v4(t[i].s), None)
            except ValueError:
                raise ScnError("%s: '%s': real mode plays echo sockets to IPv4 "
                               "addresses only" % (where, t[i].s))
        else:
            e.ep = parse_ep(t[i].s, where)
        i += 1
        if inp and i + 1 < len(t) and t[i].s == ">":
            if not t[i + 1].s.startswith("$") or len(t[i + 1].s) < 2:
                raise ScnError("%s: bad variable '%s'" % (where, t[i + 1].s))
            e.var = t[i + 1].s[1:]
            i += 2
        self.parse_dgram_body(e, t[i:], where)


# --- packets ------------------------------------------------------------------


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def pseudo(src, dst, proto, n):
    if is6(src):
        return aton(src) + aton(dst) + struct.pack("!I3xB", n, proto)
    return aton(src) + aton(dst) + struct.pack("!BBH", 0, proto, n)


def ip_pkt(src, dst, proto, l4, ident, ttl=None, tos=None, df=False):
    """An IPv4 or IPv6 packet (by the addresses' family) around @l4."""
    if is6(src):
        return struct.pack("!IHBB16s16s", 6 << 28 | (tos or 0) << 20, len(l4), proto,
                           ttl or 64, aton(src), aton(dst)) + l4
    h = struct.pack("!BBHHHBBH4s4s", 0x45, tos or 0, 20 + len(l4), ident & 0xFFFF,
                    0x4000 if df else 0, ttl or 64,
                    proto, 0, aton(src), aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + l4



def tcp_opts_bytes(opts, sack_base):
    b = b""
    for kind, arg in opts or []:
        if kind == "mss":
            b += struct.pack("!BBH", 2, 4, arg)
        elif kind == "wscale":
            b += struct.pack("!BBBB", 1, 3, 3, arg)
        elif kind == "sackOK":
            b += struct.pack("!BBBB", 1, 1, 4, 2)
        elif kind == "TS":
            b += struct.pack("!BBBBII", 1, 1, 8, 10, arg[0] or 0, arg[1] or 0)
        elif kind == "sack":
            b += struct.pack("!BBBB", 1, 1, 5, 2 + 8 * len(arg))
            for left, right in arg:
                b += struct.pack("!II", (left + sack_base) & 0xFFFFFFFF,
                                 (right + sack_base) & 0xFFFFFFFF)
        elif kind == "nop":
            b += b"\1"
        elif kind == "eol":
            b += b"\0"
    while len(b) % 4:
        b += b"\0"
    return b


def tcp_seg(src, dst, sport, dport, seq, ack, flags, win, opts, payload):
    hl = 20 + len(opts)
    h = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                    (hl // 4) << 4, flags, win, 0, 0) + opts + payload
    c = csum(pseudo(src, dst, 6, len(h)) + h)
    return h[:16] + struct.pack("!H", c) + h[18:]


def udp_dgram(src, dst, sport, dport, payload):
    h = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = csum(pseudo(src, dst, 17, len(h)) + h) or 0xFFFF
    return h[:6] + struct.pack("!H", c) + h[8:]


def icmp_error_about_udp(kind, code, mtu, src, dst, quote):
    """The client's ICMP error (ICMPv6 for IPv6 addresses) of @kind about
    the UDP datagram @quote names: its IP header and 8 bytes of UDP header
    (RFC 792), an empty datagram, as ztun-sim builds it."""
    qsrc, sport, qdst, dport = quote[:4]
    mtu = mtu or 0
    q = ip_pkt(qsrc, qdst, 17, udp_dgram(qsrc, qdst, sport, dport, b""), 0)
    if is6(src):
        typ, code, rest = {"unreach": (1, code, 0), "timex": (3, code, 0),
                           "toobig": (2, 0, mtu)}[kind]
    else:
        typ, code, rest = {"unreach": (3, code, 0), "timex": (11, code, 0),
                           "toobig": (3, 4, mtu & 0xFFFF)}[kind]
    h = struct.pack("!BBHI", typ, code, 0, rest) + q
    c = csum(pseudo(src, dst, 58, len(h)) + h) if is6(src) else csum(h)
    return h[:2] + struct.pack("!H", c) + h[4:]


def icmp_echo(reply, ident, seq, payload, src, dst):
    """An ICMP (ICMPv6 for IPv6 addresses) echo request or reply."""
    if is6(src):
        h = struct.pack("!BBHHH", 129 if reply else 128, 0, 0, ident, seq) + payload
        c = csum(pseudo(src, dst, 58, len(h)) + h)
    else:
        h = struct.pack("!BBHHH", 0 if reply else 8, 0, 0, ident, seq) + payload
        c = csum(h)
    return h[:2] + struct.pack("!H", c) + h[4:]


def quote_of(q):
    """What an ICMP error quotes (as parse_quote's tuple), or None."""
    if len(q) >= 40 and q[0] >> 4 == 6:
        src = socket.inet_ntop(socket.AF_INET6, q[8:24])
        dst = socket.inet_ntop(socket.AF_INET6, q[24:40])
        proto, l4, echo_type = q[6], q[40:], 128
        icmp = 58
    elif len(q) >= 20 and q[0] >> 4 == 4:
        ihl = (q[0] & 15) * 4
        src, dst, proto = socket.inet_ntoa(q[12:16]), socket.inet_ntoa(q[16:20]), q[9]
        l4, echo_type, icmp = q[ihl:], 8, 1
    else:
        return None
    if proto in (6, 17) and len(l4) >= 4:
        sport, dport = struct.unpack("!HH", l4[:4])
        return (src, sport, dst, dport, None)
    echo = struct.unpack("!HH", l4[4:8]) if proto == icmp and len(l4) >= 8 and \
        l4[0] == echo_type else None
    return (src, None, dst, None, echo)


def fmt_quote(q):
    src, sport, dst, dport, echo = q
    s = " quotes %s > %s" % (fmt_ep(src, sport) if sport is not None else src,
                             fmt_ep(dst, dport) if dport is not None else dst)
    return s + (" echo %d %d" % echo if echo else "")


# ICMP messages by (version, type): what a script calls them
ICMP_KINDS = {(4, 0): "echoreply", (4, 8): "echo", (4, 3): "unreach", (4, 11): "timex",
              (6, 129): "echoreply", (6, 128): "echo", (6, 1): "unreach", (6, 2): "toobig",
              (6, 3): "timex"}


class Parsed:
    """A captured IPv4 or IPv6 packet, fully checked (as zt_packet_parse does).
    ICMP and ICMPv6 both have proto 1 here, and a `kind` (ICMP_KINDS)."""

    def __init__(self, data, verify=True):
        self.err = None
        self.proto = None
        self.verify = verify   # lo carries TCP with partial checksums
        try:
            self._parse(data)
        except (struct.error, IndexError, ValueError) as x:
            self.err = "truncated (%s)" % x

    def _parse(self, d):
        if len(d) >= 40 and d[0] >> 4 == 6:
            self.version = 6
            plen = struct.unpack("!H", d[4:6])[0]
            if 40 + plen > len(d):
                self.err = "bad IPv6 payload length"
                return
            self.src = socket.inet_ntop(socket.AF_INET6, d[8:24])
            self.dst = socket.inet_ntop(socket.AF_INET6, d[24:40])
            self.tos = (struct.unpack("!I", d[:4])[0] >> 20) & 0xFF
            self.proto = d[6]
            l4 = d[40:40 + plen]
            if self.proto not in (6, 17, 58):
                self.err = "IPv6 next header %d" % self.proto
                return
        elif len(d) >= 20 and d[0] >> 4 == 4:
            self.version = 4
            ihl = (d[0] & 15) * 4
            tot = struct.unpack("!H", d[2:4])[0]
            if ihl < 20 or tot > len(d) or tot < ihl or csum(d[:ihl]):
                self.err = "bad IPv4 header"
                return
            frag = struct.unpack("!H", d[6:8])[0]
            if frag & 0x3FFF:
                self.err = "IPv4 fragment"
                return
            self.src = socket.inet_ntoa(d[12:16])
            self.dst = socket.inet_ntoa(d[16:20])
            self.tos = d[1]
            self.ttl = d[8]
            self.proto = d[9]
            l4 = d[ihl:tot]
        else:
            self.err = "not IP (%d bytes)" % len(d)
            return
        if self.proto == 6:
            if self.verify and csum(pseudo(self.src, self.dst, 6, len(l4)) + l4):
                self.err = "bad TCP checksum"
                return
            (self.sport, self.dport, self.seq, self.ack, off, self.flags,
             self.win) = struct.unpack("!HHIIBBH", l4[:16])
            thl = (off >> 4) * 4
            if thl < 20 or thl > len(l4):
                self.err = "bad TCP data offset"
                return
            self.opts = self._tcp_opts(l4[20:thl])
            self.payload = l4[thl:]
        elif self.proto == 17:
            self.sport, self.dport, ulen, c = struct.unpack("!HHHH", l4[:8])
            if ulen != len(l4) or ((c or self.version == 6) and
                                   csum(pseudo(self.src, self.dst, 17, len(l4)) + l4)):
                self.err = "bad UDP length or checksum"
                return
            self.payload = l4[8:]
        elif self.proto in (1, 58):
            if csum(l4) if self.proto == 1 else csum(pseudo(self.src, self.dst, 58,
                                                             len(l4)) + l4):
                self.err = "bad ICMP checksum"
                return
            self.proto = 1
            self.l4 = l4
            self.itype, self.icode = l4[0], l4[1]
            self.ident, self.iseq = struct.unpack("!HH", l4[4:8])
            self.kind = ICMP_KINDS.get((self.version, self.itype))
            self.imtu = None
            if self.version == 4 and (self.itype, self.icode) == (3, 4):
                self.kind, self.imtu = "toobig", self.iseq
            elif self.kind == "toobig":
                self.imtu = struct.unpack("!I", l4[4:8])[0]
            self.payload = l4[8:]
            self.quote = quote_of(self.payload) if self.kind in ("unreach", "timex",
                                                                  "toobig") else None

    @staticmethod
    def _tcp_opts(b):
        o = {}
        i = 0
        while i < len(b):
            k = b[i]
            if k == 0:
                break
            if k == 1:
                i += 1
                continue
            ln = b[i + 1]
            if ln < 2:
                raise ValueError("bad TCP option length")
            v = b[i + 2:i + ln]
            if k == 2:
                o["mss"] = struct.unpack("!H", v)[0]
            elif k == 3:
                o["wscale"] = v[0]
            elif k == 4:
                o["sackOK"] = True
            elif k == 8:
                o["TS"] = struct.unpack("!II", v)
            elif k == 5:
                o["sack"] = [struct.unpack("!II", v[j:j + 8]) for j in range(0, len(v), 8)]
            i += ln
        return o


def fmt_flags(f):
    s = "".join(ch for ch, bit in FLAG_CHARS if f & bit and bit != F_ACK)
    return s + "." if f & F_ACK else s or "(none)"


def fmt_payload(b):
    if all(32 <= c < 127 or c in (9, 10, 13) for c in b):
        return '"' + b.decode().replace("\\", "\\\\").replace('"', '\\"') \
            .replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t") + '"'
    return " ".join("%02x" % c for c in b)


# --- the run -------------------------------------------------------------------


class Conn:
    def __init__(self, client, cport, server, sport):
        self.client, self.cport, self.server, self.sport = client, cport, server, sport
        self.cisn = None   # the client's (ours)
        self.zisn = None   # ztun's, learned from its first matched packet


class Stream:
    def __init__(self, n, t, src, ep):
        self.n = n
        self.src = src     # ztun-ref's (addr, port)
        self.ep = ep
        self.sock = None
        self.items = [["connect", t, ep]]  # connect, data, eof, rst, gone
        self.eof = False
        self.inode = None
        self.gone = False
        self.dead = False  # refused (no socket)
        self.syn = None    # its SYN as captured on lo (IPv4 or IPv6 packet)


class Runner:
    def __init__(self, scn, args):
        self.s = scn
        self.a = args
        self.early = args.early
        self.late = args.late
        self.grace = args.grace
        self.conns = []
        self.cur = None
        self.tun_q = []           # (t, bytes)
        self.streams = []         # in SYN order
        self.pending_accept = {}  # peer (addr, port) -> socket
        self.net_q = []           # [t, our ep, ztun's (addr, port), data, ttl, tos]
        self.icmp_q = []          # [t, (addr, None), ztun's (addr, ident), message,
                                  #  ttl, tos]: echo requests of its ping sockets
        self.vars = {}            # name -> ztun's (addr, port)
        self.last_src = None
        self.listeners = {}
        self.udp = {}             # ep -> socket
        self.log = []
        self.logbuf = b""
        self.kernel_tun = []
        self.ip_id = 0
        self.rng = random.Random(4242)
        self.zt = None
        self.t0 = None

    # -- plan: what real mode must set up, or why it cannot play the script
    def plan(self):
        s = self.s
        connect = {}
        self.accept_eps, self.refuse_eps = set(), set()
        self.silent_eps = set()
        self.syn_retries = None    # net.ipv4.tcp_syn_retries for sN< timeout
        self.icmp_addrs = set()    # echo sockets' peers (net icmp), on lo
        self.udp_eps = set()
        self.error_origins = set()
        for i, e in enumerate(s.events):
            where = "%s:%d" % (s.path, e.line)
            if e.kind == "s>" and e.sop == "connect":
                if e.stream in connect:
                    raise ScnError("%s: s%d connects twice" % (where, e.stream))
                connect[e.stream] = e
                nxt = None
                for x in s.events[i + 1:]:
                    if x.kind in ("s<", "s>") and x.stream == e.stream:
                        nxt = x
                        break
                if nxt is not None and nxt.kind == "s<" and nxt.sop in ("accept", "refuse"):
                    if (nxt.t - e.t) / 1e9 > self.early:
                        raise ScnError(
                            "%s:%d: s%d< %s comes %.3f s after the connect; a kernel "
                            "listener answers at once (real mode supports at most "
                            "the early tolerance, %.3f s)" % (s.path, nxt.line, e.stream,
                                                               nxt.sop, (nxt.t - e.t) / 1e9,
                                                               self.early))
                if nxt is not None and nxt.kind == "s<" and nxt.sop == "refuse":
                    self.refuse_eps.add(e.ep)
                elif nxt is not None and nxt.kind == "s<" and nxt.sop == "timeout":
                    # nobody answers and the kernel gives up after its SYN
                    # retries: 1 s, doubled each time (2^(n+1) - 1 s for n)
                    d = (nxt.t - e.t) / 1e9
                    n = [k for k in range(1, 7) if abs(2 ** (k + 1) - 1 - d) <= self.early]
                    if not n:
                        raise ScnError(
                            "%s:%d: s%d< timeout %.3f s after the connect: the kernel "
                            "gives up on an unanswered SYN after 3, 7, 15, 31, 63 or 127 s "
                            "(net.ipv4.tcp_syn_retries 1 to 6)" % (s.path, nxt.line,
                                                                   e.stream, d))
                    if self.syn_retries not in (None, n[0]):
                        raise ScnError("%s:%d: connect timeouts of different lengths"
                                       % (s.path, nxt.line))
                    self.syn_retries = n[0]
                    self.silent_eps.add(e.ep)
                elif nxt is not None and (nxt.kind == "s>" and nxt.sop == "close" or
                                          nxt.kind == "s<" and nxt.sop == "unreach"):
                    # ztun gives up on a connection nobody answers, or
                    # an ICMP error answers its SYN: a route into lo to
                    # an address not local there, whose SYNs the kernel
                    # drops (ip_forward is 0)
                    self.silent_eps.add(e.ep)
                else:
                    self.accept_eps.add(e.ep)
            elif e.kind in ("s<", "s>") and e.stream not in connect:
                raise ScnError("%s: s%d before its 's%d> connect'" % (where, e.stream, e.stream))
            elif e.kind == "net<" and e.error:
                self.error_origins.add(e.ep[0])
                if e.icmp:
                    self.icmp_addrs.add(e.err_to[0])
            elif e.kind in ("net>", "net<") and e.icmp:
                self.icmp_addrs.add(e.ep[0])
            elif e.kind in ("net>", "net<"):
                self.udp_eps.add(e.ep)
            elif e.kind in ("tun<", "tun>") and e.pkt.has_addrs:
                client = e.pkt.src if e.kind == "tun<" else e.pkt.dst
                if is6(client) and not s.tun6:
                    raise ScnError("%s: an IPv6 packet without --tun6" % where)
                if client in (s.tun[0], s.tun6 and s.tun6[0]):
                    raise ScnError("%s: the client address %s is the TUN's own: the "
                                   "kernel would answer it" % (where, client))
        conns = {(e.pkt.src, e.pkt.sport, e.pkt.dst, e.pkt.dport) if e.kind == "tun<" else
                 (e.pkt.dst, e.pkt.dport, e.pkt.src, e.pkt.sport)
                 for e in s.events if e.kind in ("tun<", "tun>") and e.pkt.type == "tcp"
                 and e.pkt.has_addrs}
        for e in s.events:
            if e.kind == "assert" and e.counter == "tcp.state" and len(conns) != 1:
                raise ScnError("%s:%d: tcp.state with %d TCP connections in the script: "
                               "ztun-ref prints flows by state, which tell one "
                               "connection's state only when it is the only one"
                               % (s.path, e.line, len(conns)))
        if s.events and s.events[-1].t / 1e9 > MAX_SECONDS:
            raise ScnError("%s:%d: the script lasts %.0f s: too long to play in real "
                           "time (real mode plays at most %d s)"
                           % (s.path, s.events[-1].line, s.events[-1].t / 1e9, MAX_SECONDS))
        both = self.accept_eps & self.refuse_eps
        if both:
            ep = sorted(both)[0]
            raise ScnError("%s: %s both accepts and refuses; real mode cannot play "
                           "that" % (s.path, fmt_ep(*ep)))
        local = {ep[0] for ep in self.accept_eps | self.refuse_eps | self.udp_eps} | \
            self.error_origins | self.icmp_addrs
        both = {ep[0] for ep in self.silent_eps} & (local | {"127.0.0.1", "::1"})
        if both:
            raise ScnError("%s: %s both answers and leaves a connection unanswered "
                           "(ztun giving up on it); real mode cannot play that (an "
                           "address that never answers is one not on lo)"
                           % (s.path, sorted(both)[0]))
        self.silent_addrs = sorted({ep[0] for ep in self.silent_eps})
        for a in self.silent_addrs:
            if a.startswith("127.") or a == "::1" or is6(a):
                raise ScnError("%s: %s: an unanswered connection to a loopback or IPv6 address "
                               "is not supported in real mode" % (s.path, a))
        self.lo_addrs = sorted({ep[0] for ep in self.accept_eps | self.refuse_eps | self.udp_eps
                                if not ep[0].startswith("127.") and ep[0] != "::1"} |
                               {a for a in self.error_origins | self.icmp_addrs
                                if not a.startswith("127.")})
        nets = [ipaddress.ip_network("%s/%d" % s.tun, strict=False)]
        if s.tun6:
            nets.append(ipaddress.ip_network("%s/%d" % s.tun6, strict=False))
        for a in self.lo_addrs + self.silent_addrs:
            if any(ipaddress.ip_address(a) in n for n in nets):
                raise ScnError("%s: upstream address %s is in the TUN's network"
                               % (s.path, a))
        if s.fake and not (s.socks5 or s.http):
            # ztun-ref's --fake-dns sends fake addresses to a proxy by
            # name, and exits 2 without -x
            raise ScnError("%s: --fake-dns without --socks5 or --http is not "
                           "supported in real mode (ztun-ref's needs a proxy, -x)"
                           % s.path)

    def ztun_argv(self):
        s = self.s
        argv = [self.a.ztun_ref, "-n", TUN_NAME, "-i", s.tun[0], "-p", str(s.tun[1]),
                "-e", "lo", "--rule", "icmp %s/32 -> local" % s.tun[0]]
        if s.tun6:
            argv += ["--tun-ip6", "%s/%d" % s.tun6, "--rule", "icmp %s/128 -> local" % s.tun6[0]]
        if s.mtu:
            argv += ["-m", str(s.mtu)]
        for r in s.routes:
            argv += ["--rule", r]
        if s.socks5:
            auth = s.socks5_auth + "@" if s.socks5_auth else ""
            argv += ["-x", "socks5://%s%s" % (auth, fmt_ep(*s.socks5))]
        if s.http:
            auth = s.http_auth + "@" if s.http_auth else ""
            argv += ["-x", "http://%s%s" % (auth, fmt_ep(*s.http))]
        if s.early_synack:
            argv += ["--early-synack"]
        if s.full_cone:
            argv += ["--udp-full-cone"]
        if s.dns_over_tcp:
            argv += ["--dns-over-tcp"]
        if not s.dns_tcp_fallback:
            argv += ["--no-dns-tcp-fallback"]
        argv += s.fake
        if "max_tcp_flows" in s.caps:
            argv += ["--max-flows", str(s.caps["max_tcp_flows"])]
        if "max_udp_flows" in s.caps:
            argv += ["--max-udp-flows", str(s.caps["max_udp_flows"])]
        for what, secs in sorted(s.idle.items()):
            argv += ["--%s-timeout" % what.replace("_", "-"), str(secs)]
        # the simulator's TUN takes no offloads unless --tun-offload=1
        argv += ["--no-offload", "--default", s.default, "--udp", s.default]
        return argv

    def uses_ipv6(self):
        s = self.s
        eps = self.accept_eps | self.refuse_eps | self.udp_eps
        return bool(s.tun6) or any(is6(ep[0]) for ep in eps) or \
            any(is6(ep[0]) for ep in (s.socks5, s.http) if ep)

    def setup(self):
        if self.uses_ipv6():
            # the namespace starts without IPv6 (scenario_real.sh): on for
            # lo and, before ztun-ref creates it, the TUN (a TUN is NOARP:
            # no duplicate address detection sends anything into it)
            for dev in ("all", "default", "lo"):
                with open("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % dev, "w") as f:
                    f.write("0")
        if self.syn_retries:
            with open("/proc/sys/net/ipv4/tcp_syn_retries", "w") as f:
                f.write(str(self.syn_retries))
        if self.icmp_addrs:
            # ztun-ref's ping sockets may open, and the kernel answers no
            # echo itself: the script's net< icmp lines do
            with open("/proc/sys/net/ipv4/ping_group_range", "w") as f:
                f.write("0 2147483647")
            with open("/proc/sys/net/ipv4/icmp_echo_ignore_all", "w") as f:
                f.write("1")
        for a in self.lo_addrs:
            if is6(a):
                subprocess.run(["ip", "addr", "add", a + "/128", "dev", "lo", "nodad"],
                               check=True)
                continue
            subprocess.run(["ip", "addr", "add", a + "/32", "dev", "lo"], check=True)
            # ztun-ref's sockets leave from one address, as from a host's
            # egress interface, whatever upstream they talk to: on lo the
            # kernel would take each destination's own address as the
            # source, and one client socket's mapping ($s) would seem to
            # change with its server
            subprocess.run(["ip", "route", "replace", "table", "local", "local", a,
                            "dev", "lo", "proto", "kernel", "scope", "host",
                            "src", "127.0.0.1"], check=True)
        for a in self.silent_addrs:
            # not local: a SYN to it loops back through lo and is dropped
            subprocess.run(["ip", "route", "replace", a, "dev", "lo", "src", "127.0.0.1"],
                           check=True)
        for ep in sorted(self.accept_eps):
            ls = socket.socket(family(ep[0]), socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(ep)
            ls.listen(64)
            ls.setblocking(False)
            self.listeners[ls] = ep
        for ep in sorted(self.udp_eps):
            us = socket.socket(family(ep[0]), socket.SOCK_DGRAM)
            if is6(ep[0]):
                us.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
                us.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVTCLASS, 1)
            else:
                us.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)  # net> ... ttl N
                us.setsockopt(socket.IPPROTO_IP, IP_RECVTOS, 1)  # net> ... tos N
            us.bind(ep)
            us.setblocking(False)
            self.udp[ep] = us
        # connection attempts, seen on lo (every upstream is on lo)
        self.lo_cap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                                    socket.htons(ETH_P_ALL))
        self.lo_cap.bind(("lo", ETH_P_ALL))
        self.lo_cap.setblocking(False)
        argv = self.ztun_argv()
        if self.a.verbose:
            print("  ztun-ref: " + " ".join(repr(x) if " " in x else x for x in argv))
        self.zt = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        os.set_blocking(self.zt.stderr.fileno(), False)
        end = time.monotonic() + 10
        while not any(x.endswith("; running") for x in self.log):
            if self.zt.poll() is not None or time.monotonic() > end:
                self.read_log()
                raise Fail("ztun-ref did not start (exit status %s)" % self.zt.poll())
            select.select([self.zt.stderr], [], [], 0.1)
            self.read_log()
        self.tun = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                                 socket.htons(ETH_P_ALL))
        self.tun.bind((TUN_NAME, ETH_P_ALL))
        self.tun.setblocking(False)

    def teardown(self):
        """Stop ztun-ref; its exit status and log count (sanitizer reports)."""
        if not self.zt:
            return None
        problem = None
        if self.zt.poll() is None:
            self.zt.send_signal(signal.SIGTERM)
            try:
                self.zt.wait(10)
            except subprocess.TimeoutExpired:
                self.zt.kill()
                self.zt.wait()
                problem = "ztun-ref did not stop within 10 s of SIGTERM"
        os.set_blocking(self.zt.stderr.fileno(), True)
        self.logbuf += self.zt.stderr.read()
        self.read_log()
        if not problem and self.zt.returncode != 0:
            problem = "ztun-ref exited with status %d" % self.zt.returncode
        if not problem:
            for x in self.log:
                if "Sanitizer" in x or "runtime error:" in x:
                    problem = "ztun-ref reported: " + x.strip()
                    break
        return problem

    def now(self):
        return time.monotonic() - self.t0

    def read_log(self):
        if self.zt and self.zt.stderr:
            try:
                while True:
                    b = os.read(self.zt.stderr.fileno(), 65536)
                    if not b:
                        break
                    self.logbuf += b
            except BlockingIOError:
                pass
        while b"\n" in self.logbuf:
            line, self.logbuf = self.logbuf.split(b"\n", 1)
            self.log.append(line.decode("utf-8", "replace"))

    # -- collecting what ztun-ref does
    def pump(self, until, pred=None):
        """Collect outputs until @pred() holds or the scripted time @until (s)."""
        while True:
            if pred and pred():
                return True
            left = until - self.now()
            if left <= 0:
                return bool(pred and pred())
            rd = [self.tun, self.lo_cap, self.zt.stderr] + list(self.listeners) + \
                list(self.udp.values()) + \
                [st.sock for st in self.streams if st.sock and not st.eof]
            r, _, _ = select.select(rd, [], [], min(left, 0.005))
            for x in r:
                if x is self.tun:
                    self.read_tun()
                elif x is self.lo_cap:
                    self.read_lo()
                elif x is self.zt.stderr:
                    self.read_log()
                elif x in self.listeners:
                    self.accept(x)
                elif x in self.udp.values():
                    self.read_udp(x)
            # streams after the SYNs and accepts of this round
            for st in self.streams:
                if st.sock and not st.eof and st.sock in r:
                    self.read_stream(st)
            self.check_gone()

    def read_tun(self):
        while True:
            try:
                d, addr = self.tun.recvfrom(65536)
            except BlockingIOError:
                return
            if addr[2] == PACKET_HOST:
                self.tun_q.append([self.now(), d])
            elif addr[2] == PACKET_OUTGOING:
                self.kernel_tun.append(d)

    def read_lo(self):
        while True:
            try:
                d, addr = self.lo_cap.recvfrom(65536)
            except BlockingIOError:
                return
            if addr[2] != PACKET_HOST:
                continue
            p = Parsed(d, verify=False)
            if not p.err and p.proto == 1 and p.kind == "echo" and p.version == 4 and \
                    p.dst in self.icmp_addrs:
                self.icmp_q.append([self.now(), (p.dst, None), (p.src, p.ident), p.l4,
                                    p.ttl, p.tos])
                continue
            if p.err or p.proto != 6 or not p.flags & F_SYN or p.flags & F_ACK:
                continue
            src, dst = (p.src, p.sport), (p.dst, p.dport)
            if any(st.src == src and st.ep == dst for st in self.streams):
                continue  # a retransmitted SYN
            st = Stream(len(self.streams) + 1, self.now(), src, dst)
            st.syn = d
            if dst in self.refuse_eps:
                st.dead = True
            self.streams.append(st)
            if dst in self.silent_eps:
                # never accepted: watch its socket (SYN_SENT) from the start
                st.inode = self.socket_inode(st)
            if src in self.pending_accept:
                self.attach(st, self.pending_accept.pop(src))

    def accept(self, ls):
        try:
            c, peer = ls.accept()
        except BlockingIOError:
            return
        peer = peer[:2]
        c.setblocking(False)
        for st in self.streams:
            if st.src == peer and st.sock is None:
                self.attach(st, c)
                return
        self.pending_accept[peer] = c

    def socket_inode(self, st):
        """ztun-ref's socket for @st's connection (\"socket:[INODE]\"), to
        see when it closes it; None when there is none."""
        want = "%s:%04X %s:%04X" % (self.hexaddr(st.src[0]), st.src[1],
                                    self.hexaddr(st.ep[0]), st.ep[1])
        with open("/proc/net/tcp6" if is6(st.ep[0]) else "/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                w = line.split()
                if "%s %s" % (w[1], w[2]) == want and w[9] != "0":
                    return "socket:[%s]" % w[9]
        return None

    def attach(self, st, c):
        st.sock = c
        st.inode = self.socket_inode(st)
        if st.inode is None:
            self.read_stream(st)
            st.gone = True
            st.items.append(["gone", self.now(), None])

    @staticmethod
    def hexaddr(a):
        """@a as /proc/net/tcp{,6} print it: 32-bit words in host order."""
        b = aton(a)
        return "".join("%08X" % struct.unpack("<I", b[i:i + 4])[0]
                       for i in range(0, len(b), 4))

    def read_stream(self, st):
        while not st.eof:
            try:
                d = st.sock.recv(65536)
            except BlockingIOError:
                return
            except ConnectionResetError:
                st.eof = True
                st.items.append(["rst", self.now(), None])
                return
            if not d:
                st.eof = True
                st.items.append(["eof", self.now(), None])
                return
            st.items.append(["data", self.now(), d])

    def check_gone(self):
        # a stream that failed (reset) is the host's to close, not the
        # core's: the simulator shows no close for it either
        watch = [st for st in self.streams if st.inode and not st.gone and not st.dead]
        if not watch:
            return
        held = set()
        fdd = "/proc/%d/fd" % self.zt.pid
        try:
            for fd in os.listdir(fdd):
                try:
                    held.add(os.readlink(fdd + "/" + fd))
                except OSError:
                    pass
        except OSError:
            pass  # ztun-ref is gone: so are its sockets
        for st in watch:
            if st.inode not in held:
                # the fd leaves ztun-ref's table before the kernel
                # releases the socket (close() defers that to the return
                # to user space), so the FIN or RST the close sends may
                # not be here yet: wait for it (bounded), so that it is
                # read as the close's, before the "gone"
                if st.sock and not st.eof:
                    select.select([st.sock], [], [], 0.05)
                if st.sock:
                    self.read_stream(st)
                st.gone = True
                st.items.append(["gone", self.now(), None])

    def read_udp(self, us):
        ep = us.getsockname()[:2]
        while True:
            try:
                d, anc, _, src = us.recvmsg(65536, 2 * socket.CMSG_SPACE(4))
            except BlockingIOError:
                return
            src = src[:2]
            ttl = tos = None
            for level, typ, v in anc:
                if level == socket.IPPROTO_IPV6 and typ == IPV6_HOPLIMIT and len(v) >= 4:
                    ttl = struct.unpack("=i", v[:4])[0]
                if level == socket.IPPROTO_IPV6 and typ == IPV6_TCLASS and len(v) >= 4:
                    tos = struct.unpack("=i", v[:4])[0]
                if level == socket.IPPROTO_IP and typ == socket.IP_TTL and len(v) >= 4:
                    ttl = struct.unpack("=i", v[:4])[0]
                if level == socket.IPPROTO_IP and typ == socket.IP_TOS and len(v) >= 1:
                    tos = v[0]
            self.net_q.append([self.now(), ep, src, d, ttl, tos])

    # -- failures
    def fail(self, e, exp, act):
        where = "%s:%d: " % (self.s.path, e.line)
        raise Fail("%sexpected %s\n%sactual   %s" % (where, exp, " " * len(where), act))

    def fail_time(self, e, exp, act, at):
        self.fail(e, "%s at %.6f (real: %+.3f..%+.3f s)" % (exp, e.t / 1e9, -self.early,
                                                              self.late),
                  "%s at %.6f" % (act, at))

    def fmt_tun(self, d, c):
        p = Parsed(d)
        if p.err:
            return "(%s) %s" % (p.err, d.hex())
        if p.proto == 6:
            zb = c.zisn if c and c.zisn is not None else 0
            cb = c.cisn if c and c.cisn is not None else 0
            s = "%s > %s %s %d:%d(%d)" % (
                fmt_ep(p.src, p.sport), fmt_ep(p.dst, p.dport), fmt_flags(p.flags),
                (p.seq - zb) % 2**32, (p.seq - zb + len(p.payload)) % 2**32, len(p.payload))
            if p.flags & F_ACK:
                s += " ack %d" % ((p.ack - cb) % 2**32)
            s += " win %d" % p.win
            if p.opts:
                items = []
                for k, v in p.opts.items():
                    if k == "mss":
                        items.append("mss %d" % v)
                    elif k == "wscale":
                        items.append("wscale %d" % v)
                    elif k == "sackOK":
                        items.append("sackOK")
                    elif k == "TS":
                        items.append("TS val %d ecr %d" % v)
                    elif k == "sack":
                        items.append("sack " + " ".join(
                            "%d:%d" % ((a - cb) % 2**32, (b - cb) % 2**32) for a, b in v))
                s += " <%s>" % ",".join(items)
            if p.payload:
                s += " " + fmt_payload(p.payload)
            return "tun> " + s
        if p.proto == 17:
            return "tun> %s > %s udp (%d) %s%s" % (
                fmt_ep(p.src, p.sport), fmt_ep(p.dst, p.dport), len(p.payload),
                "tos %d " % p.tos if p.tos else "", fmt_payload(p.payload))
        if p.proto == 1:
            if p.kind in ("echo", "echoreply"):
                return ("tun> %s > %s icmp %s %d %d %s" % (
                    p.src, p.dst, p.kind, p.ident, p.iseq,
                    fmt_payload(p.payload) if p.payload else "")).rstrip()
            if p.kind == "toobig":
                return "tun> %s > %s icmp toobig %d%s" % (
                    p.src, p.dst, p.imtu, fmt_quote(p.quote) if p.quote else "")
            if p.kind in ("unreach", "timex"):
                return "tun> %s > %s icmp %s %d%s" % (
                    p.src, p.dst, p.kind, p.icode,
                    fmt_quote(p.quote) if p.quote else "")
            return "tun> %s > %s icmp type %d code %d" % (p.src, p.dst, p.itype, p.icode)
        return "tun> %s > %s proto %d" % (p.src, p.dst, p.proto)

    # -- TUN
    def conn_find(self, client, cport, server, sport, create):
        for c in self.conns:
            if (c.client, c.cport, c.server, c.sport) == (client, cport, server, sport):
                return c
        if not create:
            return None
        c = Conn(client, cport, server, sport)
        self.conns.append(c)
        return c

    def build(self, e):
        p = e.pkt
        self.ip_id += 1
        if p.type == "raw":
            return p.payload
        if p.type == "udp":
            data = p.payload if p.payload is not None else b"x" * p.len
            return ip_pkt(p.src, p.dst, 17, udp_dgram(p.src, p.dst, p.sport, p.dport, data),
                       self.ip_id, p.ttl, p.tos, p.df)
        if p.type in ("echo", "echoreply"):
            return ip_pkt(p.src, p.dst, 58 if is6(p.src) else 1,
                          icmp_echo(p.type == "echoreply", p.echo_id, p.echo_seq,
                                    p.payload or b"", p.src, p.dst),
                          self.ip_id, p.ttl, p.tos, p.df)
        if p.type in ("unreach", "timex", "toobig"):
            return ip_pkt(p.src, p.dst, 58 if is6(p.src) else 1,
                          icmp_error_about_udp(p.type, p.code, p.mtu, p.src, p.dst,
                                               p.quote),
                          self.ip_id, p.ttl, p.tos, p.df)
        # TCP
        if p.has_addrs:
            c = self.conn_find(p.src, p.sport, p.dst, p.dport, True)
            self.cur = c
        else:
            c = self.cur
        if p.flags & F_SYN and not p.flags & F_ACK and c.cisn is None:
            c.cisn = self.rng.getrandbits(32)
        n = (p.end - p.start) % 2**32
        data = p.payload if p.payload is not None else b"x" * n
        seq = p.start + (c.cisn or 0)
        ack = p.ack + (c.zisn or 0) if p.ack is not None else 0
        zb = c.zisn or 0
        seg = tcp_seg(c.client, c.server, c.cport, c.sport, seq, ack, p.flags,
                      65535 if p.win is None else p.win, tcp_opts_bytes(p.opts, zb), data)
        return ip_pkt(c.client, c.server, 6, seg, self.ip_id)

    def input_tun(self, e):
        pkt = self.build(e)
        v6 = len(pkt) > 0 and pkt[0] >> 4 == 6
        self.tun.sendto(pkt, (TUN_NAME, ETH_P_IPV6 if v6 else ETH_P_IP))

    def tun_match(self, e, d):
        """Whether captured packet @d is what @e expects (learning ztun's ISN)."""
        p = e.pkt
        c = None
        esrc, edst, esp, edp = p.src, p.dst, p.sport, p.dport
        if p.type == "tcp":
            if p.has_addrs:
                c = self.conn_find(p.dst, p.dport, p.src, p.sport, True)
                self.cur = c
            else:
                c = self.cur
            esrc, edst, esp, edp = c.server, c.client, c.sport, c.cport
        q = Parsed(d)
        if q.err or q.src != esrc or q.dst != edst:
            return False, c
        if p.type == "tcp":
            if q.proto != 6 or q.sport != esp or q.dport != edp:
                return False, c
            if c.zisn is None:
                c.zisn = (q.seq - p.start) % 2**32
            cb = c.cisn or 0
            ok = (q.flags == p.flags and (q.seq - c.zisn) % 2**32 == p.start and
                  len(q.payload) == (p.end - p.start) % 2**32 and
                  (p.ack is None or (q.ack - cb) % 2**32 == p.ack) and
                  (p.win is None or p.no_win_check or q.win == p.win) and
                  (p.opts is None or self.opts_match(p, q.opts, cb)) and
                  (p.payload is None or q.payload == p.payload))
            return ok, c
        if p.tos is not None and q.tos != p.tos:
            return False, c
        if p.type == "udp":
            return (q.proto == 17 and q.sport == esp and q.dport == edp and
                    len(q.payload) == p.len and
                    (p.payload is None or q.payload == p.payload)), c
        if p.type in ("echo", "echoreply"):
            return (q.proto == 1 and q.kind == p.type and
                    q.ident == p.echo_id and q.iseq == p.echo_seq and
                    (p.payload is None or q.payload == p.payload)), c
        if p.type == "toobig":
            return (q.proto == 1 and q.kind == "toobig" and q.imtu == p.mtu and
                    self.quote_match(p.quote, q.quote)), c
        if p.type in ("unreach", "timex"):
            return (q.proto == 1 and q.kind == p.type and
                    q.icode == p.code and self.quote_match(p.quote, q.quote)), c
        return False, c

    @staticmethod
    def quote_match(want, got):
        if want is None:
            return True
        if got is None:
            return False
        src, sport, dst, dport, echo = want
        return (got[0] == src and got[2] == dst and
                (sport is None or (got[1], got[3]) == (sport, dport)) and
                (echo is None or got[4] == echo))

    @staticmethod
    def opts_match(p, o, sack_base):
        seen = set()
        for kind, arg in p.opts:
            if kind in ("nop", "eol"):
                continue
            if kind not in o:
                return False
            v = o[kind]
            if kind in ("mss", "wscale") and v != arg:
                return False
            if kind == "TS" and ((arg[0] is not None and v[0] != arg[0]) or
                                 (arg[1] is not None and v[1] != arg[1])):
                return False
            if kind == "sack" and [((a - sack_base) % 2**32, (b - sack_base) % 2**32)
                                   for a, b in v] != arg:
                return False
            seen.add(kind)
        return p.opts_more or seen == set(o)

    def time_ok(self, e, at):
        ok = e.t / 1e9 - self.early <= at <= e.t / 1e9 + self.late
        if ok and self.a.verbose:
            print("  %10.6f  line %d matched an output of %.6f (%+.1f ms from its line)"
                  % (self.now(), e.line, at, (at - e.t / 1e9) * 1e3))
        return ok

    def deadline(self, e):
        return e.t / 1e9 + self.late

    def expect_tun(self, e):
        self.pump(self.deadline(e), lambda: self.tun_q)
        exp = e.text
        if not self.tun_q:
            self.fail(e, exp, "(nothing)")
        at, d = self.tun_q[0]
        ok, c = self.tun_match(e, d)
        act = self.fmt_tun(d, c)
        if not ok:
            self.fail(e, exp, act)
        if not self.time_ok(e, at):
            self.fail_time(e, exp, act, at)
        self.tun_q.pop(0)

    # -- streams
    def stream(self, e, wait):
        if wait:
            self.pump(self.deadline(e), lambda: len(self.streams) >= e.stream)
        if len(self.streams) < e.stream:
            return None
        return self.streams[e.stream - 1]

    def fmt_item(self, st, it):
        k, _, v = it
        if k == "connect":
            return "s%d> connect %s" % (st.n, fmt_ep(*v))
        if k == "data":
            return "s%d> %s" % (st.n, fmt_payload(v))
        return "s%d> %s" % (st.n, {"eof": "fin", "rst": "reset", "gone": "close"}[k])

    def expect_stream(self, e):
        exp = e.text
        st = self.stream(e, True)
        if st is None:
            self.fail(e, exp, "(nothing)")
        if e.sop == "data":
            need = e.pkt.payload

            def have():
                b = b""
                for k, _, v in st.items:
                    if k != "data":
                        return b, True
                    b += v
                    if len(b) >= len(need):
                        return b, True
                return b, False

            self.pump(self.deadline(e), lambda: have()[1])
            got, _ = have()
            if not got:
                if st.items:
                    self.fail(e, exp, self.fmt_item(st, st.items[0]))
                self.fail(e, exp, "(nothing)")
            if got[:len(need)] != need:
                self.fail(e, exp, "s%d> %s%s" % (st.n, fmt_payload(got[:len(need)]),
                                                 "" if len(got) >= len(need)
                                                 else " (then nothing more)"))
            at = st.items[0][1]
            if not self.time_ok(e, at):
                self.fail_time(e, exp, exp, at)
            left = len(need)
            while left:
                it = st.items[0]
                if len(it[2]) <= left:
                    left -= len(it[2])
                    st.items.pop(0)
                else:
                    it[2] = it[2][left:]
                    left = 0
            return
        # sN> rst: ztun-ref closed the socket with a reset (SO_LINGER 0):
        # our end read ECONNRESET, then the socket left ztun-ref's fds
        want = {"connect": "connect", "fin": "eof", "close": "gone", "rst": "gone"}[e.sop]

        def ready():
            if e.sop in ("close", "rst"):
                return any(k == "gone" for k, _, _ in st.items) or \
                    (st.items and st.items[0][0] not in ("eof", "rst", "gone"))
            return bool(st.items)

        self.pump(self.deadline(e), ready)
        if not st.items:
            self.fail(e, exp, "(nothing)")
        it = st.items[0]
        cause = None
        if e.sop in ("close", "rst") and it[0] in ("eof", "rst"):
            # the EOF or reset ztun-ref's close caused: part of the close
            if len(st.items) > 1 and st.items[1][0] == "gone":
                cause = it[0]
                st.items.pop(0)
                it = st.items[0]
        if e.sop == "rst" and it[0] == "gone" and cause != "rst":
            self.fail(e, exp, "s%d> close (%s)" % (st.n, "after a FIN" if cause else
                                                     "nothing read before it"))
        ok = it[0] == want and (e.sop != "connect" or it[2] == e.ep)
        act = self.fmt_item(st, it)
        if not ok:
            self.fail(e, exp, act)
        if not self.time_ok(e, it[1]):
            self.fail_time(e, exp, act, it[1])
        st.items.pop(0)

    def input_stream(self, e):
        st = self.stream(e, False)
        where = "%s:%d: " % (self.s.path, e.line)
        if st is None and e.sop == "unreach":
            st = self.stream(e, True)
        if st is None:
            raise Fail("%ss%d was never opened by ztun-ref" % (where, e.stream))
        if e.sop == "timeout":
            # the kernel's: the connect fails (ztun-ref's tun> line says
            # when), which is no output of the stream
            st.dead = True
            return
        if e.sop == "unreach":
            self.send_syn_error(st, e.err_code)
            # the connect failed: the host closes that socket, which is
            # no output (as a refused one's)
            st.dead = True
            return
        if e.sop in ("accept", "refuse"):
            # played by the kernel when ztun-ref connected (see plan())
            if e.sop == "accept" and st.dead or e.sop == "refuse" and not st.dead:
                raise Fail("%ss%d: expected the connection to be %sed" % (where, e.stream,
                                                                          e.sop))
            if e.sop == "accept":
                self.pump(e.t / 1e9 + self.late, lambda: st.sock is not None)
                if st.sock is None:
                    raise Fail("%ss%d: the connection was never accepted" % (where, e.stream))
            return
        if st.sock is None:
            self.pump(e.t / 1e9 + self.late, lambda: st.sock is not None)
        if st.sock is None or st.gone:
            raise Fail("%ss%d is %s" % (where, e.stream,
                                        "already closed by ztun-ref" if st.gone else
                                        "not connected"))
        try:
            if e.sop == "data":
                st.sock.setblocking(True)
                st.sock.sendall(e.pkt.payload)
                st.sock.setblocking(False)
            if e.sop == "fin" or e.fin:
                st.sock.shutdown(socket.SHUT_WR)
            if e.sop == "rst":
                st.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
                st.sock.close()
                st.sock = None
                st.eof = True
                st.dead = True
        except OSError as x:
            raise Fail("%ss%d: %s" % (where, e.stream, x))

    # -- datagrams
    @staticmethod
    def fmt_net(ep, src, d):
        if ep[1] is None:
            return "net> icmp %s (%d) %s" % (ep[0], len(d), fmt_payload(d)), \
                "%s, identifier %d" % src
        return "net> udp %s (%d) %s" % (fmt_ep(*ep), len(d), fmt_payload(d)), fmt_ep(*src)

    def expect_net(self, e):
        exp = e.text
        q = self.icmp_q if e.icmp else self.net_q
        self.pump(self.deadline(e), lambda: q)
        if not q:
            self.fail(e, exp, "(nothing)")
        at, ep, src, d, ttl, tos = q[0]
        head, _, rest = self.fmt_net(ep, src, d)[0].partition(")")
        act = "%s)%s%s%s   [from %s]" % (
            head, " ttl %s" % ttl if e.pkt.ttl else "",
            " tos %s" % tos if e.pkt.tos is not None else "", rest,
            self.fmt_net(ep, src, d)[1])
        want = e.pkt.payload
        if e.icmp and want is not None and len(d) >= 8 and len(want) >= 8:
            # the ping socket puts its own identifier (and so checksum)
            d, want = d[:2] + d[6:], want[:2] + want[6:]
        ok = ep == e.ep and len(d) == len(want if want is not None else d) and \
            len(q[0][3]) == e.pkt.len and \
            (e.pkt.ttl is None or ttl == e.pkt.ttl) and \
            (e.pkt.tos is None or tos == e.pkt.tos) and \
            (want is None or d == want)
        if e.var:
            bound = self.vars.get(e.var)
            if bound is not None and bound != src:
                ok = False
            if bound is None and src in self.vars.values():
                ok = False
        if not ok:
            self.fail(e, exp, act)
        if not self.time_ok(e, at):
            self.fail_time(e, exp, act, at)
        if e.var:
            self.vars[e.var] = src
        self.last_src = src
        q.pop(0)

    def input_net(self, e):
        where = "%s:%d: " % (self.s.path, e.line)
        dst = self.vars.get(e.var) if e.var else self.last_src
        if dst is None:
            raise Fail("%sno datagram socket %s" % (where, "is named $" + e.var if e.var
                                                     else "was used yet"))
        data = e.pkt.payload if e.pkt.payload is not None else b"x" * e.pkt.len
        if e.icmp and dst[1] is not None and len(data) >= 8:
            # the echo socket's identifier, as its kernel put it on the
            # wire, where the script has the simulator's; a checksum that
            # holds (the kernel checks it)
            data = data[:2] + b"\0\0" + struct.pack("!H", dst[1]) + data[6:]
            if not e.error:
                data = data[:2] + struct.pack("!H", csum(data)) + data[4:]
        if e.error:
            self.send_icmp_error(e, dst, data)
            return
        if e.icmp:
            self.send_raw(ip_pkt(e.ep[0], dst[0], 1, data, 0, tos=e.pkt.tos), dst[0])
            return
        us = self.udp[e.ep]
        if is6(e.ep[0]):
            us.setsockopt(socket.IPPROTO_IPV6, IPV6_TCLASS, e.pkt.tos or 0)
        else:
            us.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, e.pkt.tos or 0)  # net< ... tos N
        us.sendto(data, dst)

    def send_syn_error(self, st, code):
        """ICMP destination unreachable @code from the destination of @st
        about its SYN, to ztun-ref's socket, through a raw socket on lo."""
        syn = st.syn
        ihl = (syn[0] & 15) * 4
        quote = syn[:ihl + 8]  # the IP header and the TCP ports and seq
        icmp = struct.pack("!BBHHH", 3, code, 0, 0, 0) + quote
        icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
        pkt = ip_pkt(st.ep[0], st.src[0], 1, icmp, 0)
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as r:
            r.sendto(pkt, (st.src[0], 0))

    def send_icmp_error(self, e, sock_ep, data):
        """An ICMP error from e.ep[0] to ztun-ref's socket sock_ep about the
        datagram it sent to e.err_to, through a raw socket on lo: the kernel
        matches the quote to the socket and queues the error there, as it
        would one from the network."""
        (src, sport), (dst, dport) = sock_ep, e.err_to
        if e.icmp:
            # about an echo request: @data is it, with the socket's
            # identifier; its checksum as it left
            data = data[:2] + struct.pack("!H", csum(data[:2] + b"\0\0" + data[4:])) + \
                data[4:]
            quoted = ip_pkt(src, dst, 1, data, 0, df=True)
        else:
            udp = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
            quoted = ip_pkt(src, dst, 17, udp, 0, df=True)
        mtu = e.err_mtu if e.err_type == 3 and e.err_code == 4 else 0
        icmp = struct.pack("!BBHHH", e.err_type, e.err_code, 0, 0, mtu) + quoted
        icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
        self.send_raw(ip_pkt(e.ep[0], src, 1, icmp, 0), src)

    @staticmethod
    def send_raw(pkt, to):
        """An IPv4 packet as built (our source address) on a raw socket."""
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as r:
            r.sendto(pkt, (to, 0))

    # -- advance, assert
    def check_quiet(self, line):
        pend = []
        if self.tun_q:
            pend.append((self.tun_q[0][0], self.fmt_tun(self.tun_q[0][1], None)))
        for st in self.streams:
            if st.items:
                pend.append((st.items[0][1], self.fmt_item(st, st.items[0])))
        for q in (self.net_q, self.icmp_q):
            if q:
                at, ep, src, d = q[0][:4]
                pend.append((at, self.fmt_net(ep, src, d)[0]))
        if pend:
            at, act = min(pend)
            where = "%s:%d: " % (self.s.path, line)
            raise Fail("%sexpected (no more output)\n%sactual   %s at %.6f"
                       % (where, " " * len(where), act, at))

    def stats(self):
        mark = len(self.log)
        t_sig = self.now()
        self.zt.send_signal(signal.SIGUSR1)
        end = time.monotonic() + 5

        def done():
            self.read_log()
            return any(x.startswith("ztun-ref: stats: drops") for x in self.log[mark:])

        while not done():
            if time.monotonic() > end:
                raise Fail("ztun-ref printed no statistics after SIGUSR1")
            self.pump(self.now() + 0.01, done)
        if self.a.verbose:
            print("  %10.6f  stats read (signal sent at %.6f)" % (self.now(), t_sig))
        vals = {}
        for x in self.log[mark:]:
            if not x.startswith("ztun-ref: stats: "):
                continue
            body = x[len("ztun-ref: stats: "):]
            group, _, rest = body.partition(" ")
            if rest == "(none)":
                continue
            for item in rest.split(", "):
                w = item.split()
                if w and w[-1] == "bytes":
                    w = w[:-1]
                if len(w) >= 2 and w[-1].isdigit():
                    vals[(group, " ".join(w[:-1]))] = int(w[-1])
        return vals

    def assert_holds(self, e):
        """Whether @e holds in ztun-ref's statistics now: (ok, expected,
        actual)."""
        key = counter_key(e.counter)
        vals = self.stats()
        if e.counter == "tcp.state":
            # the script's one connection: the state a flow is in, CLOSED
            # when there is none (plan() checked there is one connection)
            if not any(k[0] == "tcp-state" for k in vals):
                raise Fail("%s:%d: ztun-ref's statistics have no 'tcp-state' line"
                           % (self.s.path, e.line))
            live = [k[1] for k, v in vals.items() if k[0] == "tcp-state" and v]
            if len(live) > 1 or sum(v for k, v in vals.items() if k[0] == "tcp-state") > 1:
                raise Fail("%s:%d: ztun-ref has more than one TCP flow (%s)"
                           % (self.s.path, e.line, ", ".join(sorted(live))))
            v = live[0] if live else "CLOSED"
            return ((v == e.value) == (e.cmp == "=="),
                    "tcp.state %s %s" % (e.cmp, e.value), "tcp.state = %s" % v)
        if key not in vals and key[0] != "drops":
            raise Fail("%s:%d: ztun-ref's statistics have no '%s %s'"
                       % (self.s.path, e.line, key[0], key[1]))
        v = vals.get(key, 0)
        return (CMPS[e.cmp](v, e.value), "%s %s %d" % (e.counter, e.cmp, e.value),
                "%s = %d" % (e.counter, v))

    def do_assert(self, e):
        # A loaded machine (make check's sanitizer build on two cores) may
        # not have let ztun-ref take the last input within the grace: an
        # assert that does not hold yet is asked again until the late
        # tolerance of its line has passed, as an expected output may
        # arrive that late.
        until = e.t / 1e9 + self.late
        while True:
            ok, exp, act = self.assert_holds(e)
            if ok:
                return
            if self.now() >= until:
                self.fail(e, exp, act)
            self.pump(min(until, self.now() + 0.01))

    def run(self):
        self.t0 = time.monotonic()
        for e in self.s.events:
            t = e.t / 1e9
            if e.kind in ("advance", "assert"):
                self.pump(t + self.grace)
            elif e.kind in ("tun<", "s<", "net<"):
                self.pump(t)
            if self.a.verbose:
                print("  %10.6f  line %d (scripted %.6f)" % (self.now(), e.line, t))
            if self.kernel_tun:
                raise Fail("%s:%d: the namespace's kernel sent %d packet(s) into the TUN "
                           "(first: %s); the run is not valid" %
                           (self.s.path, e.line, len(self.kernel_tun),
                            self.kernel_tun[0].hex()))
            if e.kind == "tun<":
                self.input_tun(e)
            elif e.kind == "tun>":
                self.expect_tun(e)
            elif e.kind == "s<":
                self.input_stream(e)
            elif e.kind == "s>":
                self.expect_stream(e)
            elif e.kind == "net<":
                self.input_net(e)
            elif e.kind == "net>":
                self.expect_net(e)
            elif e.kind == "advance":
                self.check_quiet(e.line)
            elif e.kind == "assert":
                self.do_assert(e)
        last = self.s.events[-1] if self.s.events else None
        self.pump((last.t / 1e9 if last else 0) + self.grace)
        self.check_quiet(last.line if last else self.s.last_line)


def in_netns(name):
    """Whether this process runs in the named network namespace (ip netns)."""
    try:
        a, b = os.stat("/proc/self/ns/net"), os.stat("/run/netns/" + name)
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(
        description="Run a scenario script against ztun-ref on a TUN (inside a "
                    "network namespace of its own; see tests/e2e/scenario_real.sh).")
    ap.add_argument("--ztun-ref", required=True, help="the ztun-ref binary")
    ap.add_argument("--early", type=float, default=0.05,
                    help="how much earlier than its line an output may come (s)")
    ap.add_argument("--late", type=float, default=0.25,
                    help="how much later than its line an output may come (s)")
    ap.add_argument("--grace", type=float, default=0.02,
                    help="how long after its time advance/assert/the end look (s)")
    ap.add_argument("--netns", help="the network namespace (ip netns) this runs in; "
                    "required to run, checked")
    ap.add_argument("--check-only", action="store_true",
                    help="parse and check that real mode can play it; run nothing")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("file")
    a = ap.parse_args()
    try:
        scn = Scenario(a.file)
        r = Runner(scn, a)
        r.plan()
    except ScnError as x:
        print("ERROR %s: not playable in real mode\n  %s" % (a.file, x))
        return 2
    except OSError as x:
        print("ERROR %s: %s" % (a.file, x))
        return 2
    except (ValueError, IndexError) as x:
        print("ERROR %s: not playable in real mode\n  cannot parse it (%s)" % (a.file, x))
        return 2
    if a.check_only:
        print("OK %s" % a.file)
        return 0
    if not a.netns or not in_netns(a.netns):
        print("ERROR: run me inside a network namespace of my own, named by --netns "
              "(tests/e2e/scenario_real.sh does that)")
        return 2
    failure = None
    try:
        r.setup()
        r.run()
    except Fail as x:
        failure = str(x)
    except OSError as x:
        failure = "%s: setup or I/O error: %s" % (a.file, x)
    problem = r.teardown()
    if not failure and problem:
        failure = "%s: %s" % (a.file, problem)
    if failure:
        print("FAIL %s (real)" % a.file)
        print(failure)
        print("  real mode: tolerance -%.3f/+%.3f s, grace %.3f s; ztun-ref log:"
              % (a.early, a.late, a.grace))
        for x in r.log[-15:]:
            print("    " + x)
        return 1
    print("PASS %s (real)" % a.file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
