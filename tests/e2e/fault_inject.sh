#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fault_inject.sh - ztun-ref under system-call failures (strace --inject).
# Usage: tests/e2e/fault_inject.sh PATH/TO/ztun-ref
#
#   +---------------- $cns (client) ----------------+
#   |  fi_client.py (this script writes it)         |
#   |    | 10.231.1.0/24 -> dev $tun                |
#   |    v                                          |
#   |  $tun 10.231.9.1/24 <==> strace -f ztun-ref   |
#   |                            | direct, bound to |
#   |  $vc 10.231.0.1/24, default via 10.231.0.2    |
#   +----------------------|------------------------+
#                          | veth
#   +----------------------|------------------------+
#   |  $vs 10.231.0.2/24                            |
#   |  lo 10.231.1.1: e2e_helper.py TCP echo :7001, |
#   |     UDP echo :7003                            |
#   +---------------- $sns (server) ----------------+
#
# Theory of operation: skip (one "SKIP: reason" line, exit 0) unless root,
# /dev/net/tun, strace that can trace, ip, python3 and network namespaces
# are there. Build the two namespaces (IPv6 off in the client's, so that
# no packet of the kernel's wakes ztun-ref up behind a case's back), start
# the echo servers, then run ztun-ref once under plain strace to count
# the calls it makes before it says "; running" (so that a case can aim
# at the first call after the start, whatever the setup needs), and
# then once per case with one injection (-e inject=CALL:error=E:when=N;
# -P /dev/net/tun limits it to the TUN's descriptor) and check a concrete
# outcome: the client is refused at once (RST or ICMP, never a hang), or
# the transfer completes byte-exact, or a flow ends with a reset (never a
# clean end that would hide lost bytes), or ztun-ref exits 1 naming what
# failed; the counters of SIGUSR1's "stats:" lines say what happened; and
# after a transient error the next flow works. The cases (function
# case_NAME each, the table in docs/robustness.md):
#   connect     connect() ENETUNREACH: ICMP to the client at once
#   socket      socket() EMFILE for a TCP and a UDP flow: refused at once,
#               "out of descriptors" counted and said once, then served
#   epoll_new   epoll_ctl() ENOMEM registering a new stream: refused at once
#   epoll_open  ... changing a connected one's events: reset at once
#   epoll_write ... turning EPOLLOUT on after a short send: reset both
#               ways (the server too, never a FIN after a cut upload)
#   epoll_udp   ... registering a new UDP socket: the next datagram served
#   timer       timerfd_settime() ENOMEM always: the idle timeout still fires
#   sendmmsg    sendmmsg() ENOBUFS once: one datagram lost, counted
#   writev      writev() EAGAIN on every 40th TUN write (offload): 1 MiB
#   write       write() ENOBUFS likewise (--no-offload): echoes byte-exact
#   recvmsg     recvmsg() ENOMEM mid-transfer: that flow reset, not cut clean
#   rst_data    SIGSTOP while a server sends and resets: its data reaches
#               the core before the reset
#   rst_paused  a server resets behind data while the stream is paused
#               (the client reads nothing) and waits for EPOLLOUT (an
#               upload the server does not read): it all reaches the core
#   rst_fin     the same reset, then the client's FIN, passed on to the
#               dead socket (shutdown() ENOTCONN): the data still reaches
#               the core first
#   rst_send    the same reset, then bytes from the client, which
#               ztun-ref's send() meets the reset with (ECONNRESET): the
#               data still reaches the core first
#   keepalive   a server's host vanishes under a client with TCP
#               keepalive: the upstream's keepalive finds it, client reset
#   ka_fin      the same after the server's FIN, under a half-open client
#               (the upstream socket at its EOF, waiting for nothing)
#   send        send() ENOBUFS on a stream: reset, not cut clean
#   shutdown    shutdown() ENOBUFS passing a client's FIN on: reset, not hung
#   setsockopt  setsockopt() EPERM (SO_BINDTODEVICE): flows refused at once
#   tun_read    readv() EIO on the TUN: exit 1 naming it
#   route       socket() EMFILE for the default route's lookup: exit 1
#   netlink     socket() EMFILE for the first rtnetlink socket: exit 1
# ztun-ref calls no accept() (it listens nowhere). Each case prints
# PASS/FAIL; the last line is "N passed, M failed (S s)" (exit 1 when any
# failed). The trap removes the namespaces and everything started here.
#
# ZT_FI_ONLY=ERE runs only the cases whose name matches (the baseline
# always runs). ZT_FI_DRY=1 runs every case without its injection: then
# every case but the baseline must FAIL, which shows that each can.
#
# About 60 s with build/dev or the sanitizer build (make check, where
# ASAN_OPTIONS=detect_leaks=0: LeakSanitizer cannot run under ptrace).

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/netns_lib.sh
. "$here/netns_lib.sh"
e2e_preflight "fault injection" "$1" ip python3 strace timeout pgrep
if ! strace -f -qq -o /dev/null -e trace=none true 2>/dev/null; then
	echo "SKIP: fault injection (strace cannot trace here: ptrace refused)"
	exit 0
fi
helper=$here/e2e_helper.py

id=$$
cns=zfi${id}c
sns=zfi${id}s
vc=zfi${id}a
vs=zfi${id}b
tun=zfi${id}t
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zt-fi-XXXXXX") || exit 2
pids=()
ztun_pid=
spid=
trap netns_cleanup EXIT
trap 'exit 1' INT TERM

if ! ip netns add "$cns" 2>/dev/null; then
	cns=
	echo "SKIP: fault injection (cannot create a network namespace)"
	exit 0
fi
if ! ip netns add "$sns"; then
	echo "FAIL: cannot create network namespace $sns"
	exit 1
fi
cx() { ip netns exec "$cns" "$@"; }
sx() { ip netns exec "$sns" "$@"; }
ip link add "$vc" netns "$cns" type veth peer name "$vs" netns "$sns" || exit 1
cx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
cx ip link set lo up
sx ip link set lo up
cx ip addr add 10.231.0.1/24 dev "$vc"
sx ip addr add 10.231.0.2/24 dev "$vs"
cx ip link set "$vc" up
sx ip link set "$vs" up
cx ip route add default via 10.231.0.2 dev "$vc"
sx ip addr add 10.231.1.1/32 dev lo
sx python3 "$helper" serve 18001 7001 7002 7005 >"$tmp/serve.log" 2>&1 &
pids+=($!)
sx python3 "$helper" udpecho 10.231.1.1 7003 >"$tmp/udpecho.log" 2>&1 &
pids+=($!)
# A slow sink on :7006: each connection read only after 2 s (so that an
# upload fills the buffers and ztun-ref's sends come up short), then to
# its end; how it ended ("eof BYTES" or "ERR BYTES") goes to sink.log.
cat >"$tmp/fi_sink.py" <<'SINK'
import errno, socket, sys, threading, time

def conn(c, log):
    time.sleep(2)
    n = 0
    try:
        while True:
            b = c.recv(1 << 16)
            if not b:
                res = "eof %d" % n
                break
            n += len(b)
    except OSError as e:
        res = "%s %d" % (errno.errorcode.get(e.errno, str(e.errno)), n)
    c.close()
    with open(log, "a") as f:
        f.write(res + "\n")

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.231.1.1", 7006))
s.listen(16)
while True:
    c, _ = s.accept()
    threading.Thread(target=conn, args=(c, sys.argv[1]), daemon=True).start()
SINK
sx python3 "$tmp/fi_sink.py" "$tmp/sink.log" >"$tmp/sink.err" 2>&1 &
pids+=($!)
# Servers that reset behind their data (SO_LINGER 0), each reading one
# byte first:
# :7007 says "go" in rst.log, waits 0.5 s, sends 49,920 bytes, waits
# until they are all acknowledged (ztun-ref's socket holds them), then
# resets.
# :7009 sends "bye" and its FIN, then reads to the end (20 s at most).
# :7008 reads nothing more: it sends until its buffers and ztun-ref's
# socket are full (the client reads nothing either), waits until the
# client's upload has filled the other way too (ztun-ref's sends come
# up short: it waits for EPOLLOUT), writes "acked N" to rstup.log (N:
# the bytes ztun-ref's socket acknowledged, sent less what its queue
# still holds), then resets.
cat >"$tmp/fi_rst.py" <<'RST'
import fcntl, socket, struct, sys, termios, threading, time

def outq(c):
    return struct.unpack("i", fcntl.ioctl(c, termios.TIOCOUTQ, b"\0" * 4))[0]

def after_ack(c):
    with open(sys.argv[1], "a") as f:
        f.write("go\n")
    time.sleep(0.5)
    c.sendall(bytes(range(256)) * 195)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 5 and outq(c):
        time.sleep(0.01)

def stuffed(c):
    c.setblocking(False)
    sent, chunk, idle = 0, bytes(range(256)) * 256, time.monotonic()
    while time.monotonic() - idle < 1.0:
        try:
            sent += c.send(chunk)
            idle = time.monotonic()
        except BlockingIOError:
            time.sleep(0.01)
    time.sleep(1.0)  # the client's upload meets a full window
    with open(sys.argv[2], "a") as f:
        f.write("acked %d\n" % (sent - outq(c)))

def fin_first(c):
    c.sendall(b"bye")
    c.shutdown(socket.SHUT_WR)
    c.settimeout(20)
    try:
        while c.recv(1 << 16):
            pass
    except OSError:
        pass

def serve(port, handle):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.231.1.1", port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        c.recv(1)
        handle(c)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
        c.close()

threading.Thread(target=serve, args=(7008, stuffed), daemon=True).start()
threading.Thread(target=serve, args=(7009, fin_first), daemon=True).start()
serve(7007, after_ack)
RST
sx python3 "$tmp/fi_rst.py" "$tmp/rst.log" "$tmp/rstup.log" >"$tmp/rst.err" 2>&1 &
pids+=($!)

# The client: one line saying what happened.
cat >"$tmp/fi_client.py" <<'EOF'
import errno, random, select, socket, sys, threading, time

def gen(seed, n):
    return random.Random(seed).randbytes(n)

def ms(t0):
    return int((time.monotonic() - t0) * 1000)

def err(e):
    return errno.errorcode.get(e.errno, str(e.errno))

def tcp(host, port, n, timeout):
    """connect, send gen(7, n), read the echo: 'echo-ok N MS',
    'connect-ERR MS', 'connect-timeout MS', 'eof GOT MS' (a clean end
    before the whole echo), 'ERR GOT MS', 'stall GOT MS', 'echo-bad'"""
    t0 = time.monotonic()
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except socket.timeout:
        return "connect-timeout %d" % ms(t0)
    except OSError as e:
        return "connect-%s %d" % (err(e), ms(t0))
    data = gen(7, n)
    send_err = []

    def send():
        try:
            s.sendall(data)
        except OSError as e:
            send_err.append(e)
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    got = bytearray()
    try:
        while len(got) < n:
            b = s.recv(1 << 16)
            if not b:
                # a reset the sending thread met first leaves the reader
                # an end of file: the reset is what happened
                sender.join(1)
                if send_err:
                    return "%s %d %d" % (err(send_err[0]), len(got), ms(t0))
                return "eof %d %d" % (len(got), ms(t0))
            got += b
    except socket.timeout:
        return "stall %d %d" % (len(got), ms(t0))
    except OSError as e:
        return "%s %d %d" % (err(e), len(got), ms(t0))
    if bytes(got) != data:
        return "echo-bad %d %d" % (n, ms(t0))
    return "echo-ok %d %d" % (n, ms(t0))

def idle(host, port, secs, flag=None):
    """one byte and its echo, then wait SECS for the end: 'ERR MS',
    'eof MS', 'open MS'; with FLAG, with TCP keepalive (1 s idle, 3
    probes 1 s apart), writing FLAG once the echo came"""
    s = socket.create_connection((host, port), timeout=5)
    if flag:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    s.sendall(b"x")
    s.recv(1)
    if flag:
        with open(flag, "w") as f:
            f.write("echoed\n")
    s.settimeout(secs)
    t0 = time.monotonic()
    try:
        b = s.recv(1)
        return ("eof %d" if not b else "data %d") % ms(t0)
    except socket.timeout:
        return "open %d" % ms(t0)
    except OSError as e:
        return "%s %d" % (err(e), ms(t0))

def halfidle(host, port, secs, flag):
    """one byte, then read to the server's FIN; then stay half-open and
    idle with TCP keepalive (as idle()), writing FLAG, and wait SECS for
    an error or hang-up: 'ERR MS' (SO_ERROR), 'hup MS', 'open MS'; 'early
    GOT' when the server's bytes were not b'bye'"""
    s = socket.create_connection((host, port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    s.sendall(b"g")
    got = b""
    while True:
        b = s.recv(100)
        if not b:
            break
        got += b
    if got != b"bye":
        return "early %r" % got
    with open(flag, "w") as f:
        f.write("eof\n")
    # no POLLIN (the EOF is always readable): only POLLERR / POLLHUP
    p = select.poll()
    p.register(s, 0)
    t0 = time.monotonic()
    if not p.poll(int(secs * 1000)):
        return "open %d" % ms(t0)
    e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    return "%s %d" % (errno.errorcode.get(e, str(e)) if e else "hup", ms(t0))

def half(host, port, timeout):
    """send 5 bytes, then the FIN (shutdown), read until the echo server's
    own end: 'eof-after GOT MS', 'ERR GOT MS', 'stall GOT MS'"""
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b"hello")
    s.shutdown(socket.SHUT_WR)
    s.settimeout(timeout)
    t0 = time.monotonic()
    got = b""
    try:
        while True:
            b = s.recv(100)
            if not b:
                return "eof-after %d %d" % (len(got), ms(t0))
            got += b
    except socket.timeout:
        return "stall %d %d" % (len(got), ms(t0))
    except OSError as e:
        return "%s %d %d" % (err(e), len(got), ms(t0))

def udp(host, port, n):
    """N datagrams one at a time from one socket, each waiting 0.5 s for
    its echo: 'udp GOT/N LOST' (LOST: the numbers lost, or -)"""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(0.5)
    got = []
    for i in range(n):
        m = b"%d:" % i + gen(i, 100)
        u.sendto(m, (host, port))
        try:
            while True:
                if u.recv(2048) == m:
                    got.append(i)
                    break
        except OSError:
            pass
    lost = [str(i) for i in range(n) if i not in got]
    return "udp %d/%d %s" % (len(got), n, ",".join(lost) or "-")

def read_end(s, timeout):
    """read @s until the end: 'ERR GOT MS', 'eof GOT MS', 'stall GOT MS'"""
    s.settimeout(timeout)
    t0 = time.monotonic()
    got = 0
    try:
        while True:
            b = s.recv(1 << 16)
            if not b:
                return "eof %d %d" % (got, ms(t0))
            got += len(b)
    except socket.timeout:
        return "stall %d %d" % (got, ms(t0))
    except OSError as e:
        return "%s %d %d" % (err(e), got, ms(t0))

def reset(host, port, timeout):
    """send one byte, read until the end (read_end())"""
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b"g")
    return read_end(s, timeout)

def upreset(host, port, log, mode, timeout):
    """send one byte, then upload (MODE 'up') without reading until the
    server has reset (LOG says 'acked'), then (MODE 'fin') send the FIN or
    (MODE 'send') 100 bytes, then read until the end (read_end()), or
    'no-reset'"""
    up = mode == "up"
    s = socket.socket()
    # a small window: the flow's ring to us fills, ztun-ref stops reading
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect((host, port))
    s.sendall(b"g")
    s.setblocking(False)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if not up:
                raise BlockingIOError
            s.send(b"u" * 65536)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            break
        try:
            with open(log) as f:
                if "acked" in f.read():
                    break
        except OSError:
            pass
    else:
        return "no-reset"
    time.sleep(0.5)  # the RST reaches ztun-ref's socket
    if mode == "fin":
        s.shutdown(socket.SHUT_WR)
        time.sleep(0.5)  # ztun-ref passes it on, to a dead socket
    elif mode == "send":
        s.send(b"s" * 100)
        time.sleep(0.5)  # ztun-ref passes them on, to a dead socket
    return read_end(s, timeout)

a = sys.argv
if a[1] == "tcp":
    print(tcp(a[2], int(a[3]), int(a[4]), float(a[5])))
elif a[1] == "idle":
    print(idle(a[2], int(a[3]), float(a[4]), a[5] if len(a) > 5 else None))
elif a[1] == "halfidle":
    print(halfidle(a[2], int(a[3]), float(a[4]), a[5]))
elif a[1] == "half":
    print(half(a[2], int(a[3]), float(a[4])))
elif a[1] == "udp":
    print(udp(a[2], int(a[3]), int(a[4])))
elif a[1] == "reset":
    print(reset(a[2], int(a[3]), float(a[4])))
elif a[1] == "upreset":
    print(upreset(a[2], int(a[3]), a[4], a[5], float(a[6])))
EOF

for p in "t 7001" "u 7003" "t 7006" "t 7007" "t 7008" "t 7009"; do
	# shellcheck disable=SC2086
	set -- $p
	for _ in $(seq 50); do
		sx ss -Hln"$1" "sport = :$2" | grep -q . && break
		sleep 0.1
	done
done

passed=0
failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() {
	echo "FAIL: $1${2:+ ($2)}"
	failed=$((failed + 1))
	if [ -s "$tmp/ztun.log" ]; then
		grep -Ev 'stats: |info: (descriptors|TUN|direct|tcp:)|warn: descriptor limit' \
			"$tmp/ztun.log" | tail -n 6 | sed 's/^/    /'
	fi
}

# start STRACE_ARGS [-- ZTUN-REF ARGS]: ztun-ref under strace in the
# client namespace (STRACE_ARGS one word list), until it says it runs;
# sets $spid (strace) and $ztun_pid (ztun-ref, the tracee: what signals
# go to; empty when it did not come up). Return 1 when it exited or did
# not come up in 5 s.
start() {
	local sargs=$1
	shift
	[ "$1" = -- ] && shift
	# ZT_FI_DRY=1: the same runs without the injections, where every
	# case must fail (each can tell a fault from none)
	[ -n "$ZT_FI_DRY" ] && sargs=$(printf '%s\n' "$sargs" | sed 's/-e inject=[^ ]*//')
	: >"$tmp/ztun.log"
	# not through cx: $! must be strace's pid (ip netns exec execs it)
	# shellcheck disable=SC2086
	ip netns exec "$cns" strace -f -qq -o "${strace_out:-/dev/null}" $sargs "$bin" -n "$tun" \
		-i 10.231.9.1 --udp nat "$@" 2>"$tmp/ztun.log" &
	spid=$!
	ztun_pid=
	for _ in $(seq 50); do
		if grep -q '; running$' "$tmp/ztun.log"; then
			# strace's child, once it is ztun-ref (not yet while
			# strace forks it)
			ztun_pid=$(pgrep -P "$spid" -x ztun-ref)
			[ -n "$ztun_pid" ] || return 1
			cx ip route add 10.231.1.0/24 dev "$tun" || return 1
			return 0
		fi
		kill -0 "$spid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# stop: SIGTERM to ztun-ref; sets $rc (its exit status, as strace's).
stop() {
	[ -z "$spid" ] && return
	# without ztun-ref's pid, strace's SIGKILL ends its tracee too
	if [ -n "$ztun_pid" ]; then
		kill -TERM "$ztun_pid" 2>/dev/null
	else
		kill -KILL "$spid" 2>/dev/null
	fi
	wait "$spid"
	rc=$?
	ztun_pid=
	spid=
}

# wait_exit SECS: until ztun-ref (and strace) ended by itself; sets $rc,
# 124 when it still runs.
wait_exit() {
	for _ in $(seq $(($1 * 10))); do
		if ! kill -0 "$spid" 2>/dev/null; then
			wait "$spid"
			rc=$?
			ztun_pid=
			spid=
			return
		fi
		sleep 0.1
	done
	rc=124
}

# counter GROUP NAME: the counter NAME of the "stats: GROUP ..." line
# (GROUP: its first words), as a fresh SIGUSR1 prints it (empty when
# missing).
# The print is done when its last line, "drops", is there: it is one
# write, but the signal takes its time to arrive (under strace, slowly).
counter() {
	local before
	before=$(grep -c "stats: drops" "$tmp/ztun.log")
	kill -USR1 "$ztun_pid" 2>/dev/null
	for _ in $(seq 100); do
		[ "$(grep -c "stats: drops" "$tmp/ztun.log")" -gt "$before" ] && break
		sleep 0.05
	done
	grep "stats: $1 " "$tmp/ztun.log" | tail -n 1 |
		sed -n "s/.*[ ,]$2 \([0-9][0-9]*\).*/\1/p"
}

# client ARGS: fi_client.py in the client namespace; its line in $out.
client() {
	out=$(cx timeout 25 python3 "$tmp/fi_client.py" "$@" 2>&1)
}

# ms_of LINE: the last number of a client's line (its time).
ms_of() { echo "${1##* }"; }

T=10.231.1.1

# --- the calls before "running" -------------------------------------------
# One run under plain strace: how many of each call the start makes, so
# that when=N+1 is the first after it. It is also the baseline: a
# transfer both ways, byte-exact, and UDP by NAT, without any injection.
calls="socket connect epoll_ctl setsockopt timerfd_settime sendto recvmsg sendmmsg write shutdown"
strace_out=$tmp/count.trace
if ! start "-s 64 -e trace=${calls// /,}"; then
	fail "baseline: ztun-ref did not start under strace"
	echo "$passed passed, $failed failed"
	exit 1
fi
strace_out=
running=$(grep -n 'running\\n' "$tmp/count.trace" | head -n 1 | cut -d: -f1)
declare -A at_start
for c in $calls; do
	at_start[$c]=$(head -n "${running:-0}" "$tmp/count.trace" | grep -c " $c(")
done
# the socket() of the default route's lookup: the last before the first
# RTM_GETROUTE request
route_socket=$(awk '/ socket\(/ { n++ } /RTM_GETROUTE/ { print n; exit }' "$tmp/count.trace")
# and the first rtnetlink socket
nl_socket=$(awk '/ socket\(/ { n++ } / socket\(AF_NETLINK/ { print n; exit }' "$tmp/count.trace")
client tcp $T 7001 262144 10
o1=$out
client udp $T 7003 3
o2=$out
nat_created=$(counter nat created)
stop
if [ "${o1%% *}" = echo-ok ] && [ "${o2% *}" = "udp 3/3" ] && [ -n "$running" ] &&
   [ -n "$route_socket" ] && [ -n "$nl_socket" ]; then
	pass "baseline under strace: 256 KiB echo, UDP 3/3 (before running: $(for c in $calls; do printf '%s %s, ' "$c" "${at_start[$c]}"; done | sed 's/, $//'))"
else
	fail "baseline under strace" "tcp: $o1; udp: $o2; running at trace line '$running'"
	echo "$passed passed, $failed failed"
	exit 1
fi
# Every write to stderr is whole: a log line, or a statistics print (the
# SIGUSR1 one and the exit one) in one write(), so that no other writer's
# line can fall inside one of them.
stderr_writes=$(grep -c ' write(2, ' "$tmp/count.trace")
stats_writes=$(grep -c ' write(2, "ztun-ref: stats: ' "$tmp/count.trace")
torn=$(grep ' write(2, ' "$tmp/count.trace" | grep -vc ' write(2, "ztun-ref: ')
if [ "$stats_writes" = 2 ] && [ "$torn" = 0 ] && [ -n "$nat_created" ]; then
	pass "stderr under strace: $stderr_writes writes, each whole, the two statistics prints one write each"
else
	fail "stderr under strace" "$stats_writes writes start a statistics print (want 2), $torn of $stderr_writes do not start with 'ztun-ref: '"
fi

# after CALL [K]: the K-th (default 1) call of CALL after the start.
after() { echo $((at_start[$1] + ${2:-1})); }

# next_ok NAME: after a transient error, a new flow works (TCP echo).
next_ok() {
	client tcp $T 7001 4096 5
	if [ "${out%% *}" = echo-ok ]; then
		return 0
	fi
	fail "$1: the next flow" "$out"
	return 1
}

# fast_refusal NAME OUT [MS]: OUT is a connect refused (RST or ICMP) in
# under MS (default 1000) ms.
fast_refusal() {
	case $2 in
	connect-ECONNREFUSED*|connect-ENETUNREACH*|connect-EHOSTUNREACH*)
		[ "$(ms_of "$2")" -lt "${3:-1000}" ] && return 0;;
	esac
	fail "$1" "client: $2"
	return 1
}

# --- cases ------------------------------------------------------------------
# Each case_X starts ztun-ref with its injection (inject CALL ERR WHEN
# [ZTUN-REF ARGS]), runs clients, and says pass or fail; run_case stops
# ztun-ref after it.

# inject CALL ERR WHEN [ARGS...]: start with CALL failing with ERR at the
# invocations WHEN (strace's when=); with CALL prefixed "tun:", only
# CALL on the TUN's descriptor (-P /dev/net/tun).
inject() {
	local call=$1 e=$2 when=$3 p=
	shift 3
	case $call in
	tun:*) call=${call#tun:}; p="-P /dev/net/tun ";;
	esac
	start "$p-e trace=$call -e inject=$call:error=$e:when=$when" -- "$@" && return 0
	fail "$name" "ztun-ref did not start"
	return 1
}

# (c) connect() fails at once (no route out): the client gets the ICMP
# unreachable a router would send, at once; the next flow connects.
case_connect() {
	name="connect ENETUNREACH: client told at once, next flow works"
	inject connect ENETUNREACH "$(after connect)" || return
	client tcp $T 7001 1000 5
	local o=$out n
	fast_refusal "$name" "$o" && next_ok "$name" || return
	n=$(counter sockets "open errors")
	if [ "${n:-0}" -ge 1 ]; then
		pass "$name ($o; open errors $n)"
	else
		fail "$name" "open errors '$n'"
	fi
}

# (s) socket() out of descriptors for a TCP and a UDP flow: both refused
# at once, counted, said once; then both kinds work again.
case_socket() {
	name="socket EMFILE: TCP and UDP refused at once, counted, then served"
	inject socket EMFILE "$(after socket)..$(after socket 2)" || return
	client tcp $T 7001 1000 5
	local o1=$out o2 n w
	client udp $T 7003 1
	o2=$out
	fast_refusal "$name" "$o1" || return
	if [ "${o2% *}" != "udp 0/1" ]; then
		fail "$name" "udp: $o2"
		return
	fi
	next_ok "$name" || return
	client udp $T 7003 2
	n=$(counter sockets "out of descriptors")
	w=$(grep -c 'warn: out of descriptors' "$tmp/ztun.log")
	if [ "${out% *}" = "udp 2/2" ] && [ "${n:-0}" = 2 ] && [ "$w" = 1 ]; then
		pass "$name ($o1; out of descriptors $n, said $w time)"
	else
		fail "$name" "udp after: $out; out of descriptors '$n', said $w times"
	fi
}

# (e1) epoll_ctl() cannot register a new stream: the flow is refused at
# once, not left to its connect timeout (10 s).
case_epoll_new() {
	name="epoll_ctl ENOMEM on a new stream: refused at once, next flow works"
	inject epoll_ctl ENOMEM "$(after epoll_ctl)" || return
	client tcp $T 7001 1000 3
	local o=$out
	fast_refusal "$name" "$o" && next_ok "$name" && pass "$name ($o)"
}

# (e2) epoll_ctl() fails on a connected stream (the change to EPOLLIN):
# the flow is reset at once, not stalled with the loop spinning. The
# SYN-ACK and the RST leave in one wake-up: a client whose kernel takes
# both before its connect() looks sees the reset there
# (connect-ECONNRESET).
case_epoll_open() {
	name="epoll_ctl ENOMEM on a connected stream: reset at once, next flow works"
	inject epoll_ctl ENOMEM "$(after epoll_ctl 2)" || return
	client tcp $T 7001 1000 3
	local o=$out
	case $o in
	ECONNRESET*|connect-ECONNRESET*|connect-ECONNREFUSED*)
		if [ "$(ms_of "$o")" -ge 1000 ]; then
			fail "$name" "client: $o"
		else
			next_ok "$name" && pass "$name ($o)"
		fi;;
	*) fail "$name" "client: $o";;
	esac
}

# (e4) epoll_ctl() fails turning EPOLLOUT on after a short send (an
# upload to the slow sink, nothing coming back: the stream's third
# epoll_ctl, after its add and EPOLLIN at connect): the flow is reset
# both ways, the server too (ECONNRESET after the bytes that got there),
# never a FIN that would pass the cut upload off as a whole one.
case_epoll_write() {
	name="epoll_ctl ENOMEM after a short send: the flow reset both ways"
	: >"$tmp/sink.log"
	inject epoll_ctl ENOMEM "$(after epoll_ctl 3)" || return
	client tcp $T 7006 16777216 10
	local o=$out s=
	for _ in $(seq 50); do
		s=$(head -n 1 "$tmp/sink.log")
		[ -n "$s" ] && break
		sleep 0.1
	done
	if [ "${o%% *}" = ECONNRESET ] && [ "${s%% *}" = ECONNRESET ]; then
		next_ok "$name" && pass "$name (client: $o; server: $s)"
	else
		fail "$name" "client: $o; server: ${s:-nothing}"
	fi
}

# (e3) epoll_ctl() cannot register a new UDP socket: the flow fails (its
# datagram is lost), the next datagram opens one that works; never a flow
# whose answers nobody reads.
case_epoll_udp() {
	name="epoll_ctl ENOMEM on a new UDP socket: the next datagram is served"
	inject epoll_ctl ENOMEM "$(after epoll_ctl)" || return
	client udp $T 7003 3
	local n
	n=$(counter "udp in" dropped)
	if [ "$out" = "udp 2/3 0" ] && [ "$n" = 1 ]; then
		pass "$name ($out; udp dropped $n)"
	else
		fail "$name" "client: $out; udp dropped '$n'"
	fi
}

# (t) timerfd_settime() fails every time: the timers still run (here the
# TCP idle timeout, 2 s, resets an idle flow), not only when a packet
# happens to wake the loop; said once.
case_timer() {
	name="timerfd_settime ENOMEM always: timers still fire"
	inject timerfd_settime ENOMEM "$(after timerfd_settime)+" \
		--tcp-idle-timeout 2 || return
	client idle $T 7001 5
	local w ms
	w=$(grep -c 'timerfd_settime' "$tmp/ztun.log")
	ms=$(ms_of "$out")
	if [ "${out%% *}" = ECONNRESET ] && [ "$ms" -ge 1500 ] && [ "$ms" -lt 3500 ] &&
	   [ "$w" = 1 ]; then
		pass "$name (idle flow reset after $ms ms, said once)"
	else
		fail "$name" "client: $out; timerfd_settime said $w times"
	fi
}

# (m) sendmmsg() ENOBUFS once: that datagram is lost (UDP) and counted,
# the rest pass.
case_sendmmsg() {
	name="sendmmsg ENOBUFS once: one datagram lost and counted"
	inject sendmmsg ENOBUFS "$(after sendmmsg 2)" || return
	client udp $T 7003 4
	local n
	n=$(counter sockets "send errors")
	if [ "$out" = "udp 3/4 1" ] && [ "$n" = 1 ]; then
		pass "$name ($out; send errors $n)"
	else
		fail "$name" "client: $out; send errors '$n'"
	fi
}

# (w) writes to the TUN fail now and then (EAGAIN with offload: writev;
# ENOBUFS without: write): packets lost as on any link, counted; TCP
# recovers and the echo is byte-exact.
tun_writes() {
	name="$1 $2 on every 40th TUN write: 1 MiB echo byte-exact, counted"
	inject "tun:$1" "$2" 5+40 ${3:+"$3"} || return
	client tcp $T 7001 1048576 15
	local n
	n=$(counter "tun rx" "tx errors")
	if [ "${out%% *}" = echo-ok ] && [ "${n:-0}" -ge 1 ]; then
		pass "$name ($out; tx errors $n)"
	else
		fail "$name" "client: $out; tx errors '$n'"
	fi
}
case_writev() { tun_writes writev EAGAIN; }
case_write() { tun_writes write ENOBUFS --no-offload; }

# (r) recvmsg() ENOMEM on a stream mid-transfer: that flow is reset (its
# client never takes a cut transfer for a whole one), counted; the next
# flow works.
case_recvmsg() {
	name="recvmsg ENOMEM mid-transfer: the flow is reset, not cut clean"
	inject recvmsg ENOMEM "$(after recvmsg 3)" || return
	client tcp $T 7001 1048576 5
	local o=$out n
	if [ "${o%% *}" != ECONNRESET ]; then
		fail "$name" "client: $o"
		return
	fi
	next_ok "$name" || return
	n=$(counter sockets failed)
	if [ "${n:-0}" -ge 1 ]; then
		pass "$name ($o; failed $n)"
	else
		fail "$name" "failed '$n'"
	fi
}

# (r) The same behind a stream paused both ways: the client reads
# nothing (the flow's ring to it is full: ztun-ref stops reading the
# socket) while it uploads into a server that reads nothing (ztun-ref's
# sends come up short: it waits for EPOLLOUT), and the server resets.
# The RST's EPOLLERR came while the stream was paused and failed it at
# once: every byte the socket had acknowledged was lost (the client got
# what the ring held, 4,344 of 136,272). Now the stream fails once they
# are all read into the core. The "fault" is the upload: without it (ZT_FI_DRY) nothing waits
# for EPOLLOUT and the case fails.
case_rst_paused() {
	name="RST behind data while paused and waiting for EPOLLOUT: the data reaches the core first"
	local o n d got p s
	if ! start "" -- --tcp-buffer 4096; then
		fail "$name" "ztun-ref did not start"
		return
	fi
	: >"$tmp/rstup.log"
	client upreset $T 7008 "$tmp/rstup.log" "${ZT_FI_DRY:+no}up" 8
	o=$out
	n=$(sed -n 's/^acked //p' "$tmp/rstup.log" | tail -n 1)
	d=$(counter tcp down)
	p=$(counter sockets "read pauses")
	s=$(counter sockets "short sends")
	got=${o#* }
	got=${got%% *}
	# every byte the socket acknowledged reached the core (tcp down),
	# and the client got them ahead of its reset but for what the core
	# held when the client's upload met the dead flow (the core resets
	# it then, docs/architecture.md "TCP relay")
	if [ "${o%% *}" = ECONNRESET ] && [ -n "$n" ] && [ "$d" = "$n" ] &&
	   [ "${p:-0}" -ge 1 ] && [ "${s:-0}" -ge 1 ]; then
		pass "$name ($o; acked $n, tcp down $d, read pauses $p, short sends $s)"
	else
		fail "$name" "client: $o; acked '$n', tcp down '$d', read pauses '$p', short sends '$s'"
	fi
}

# (r) The same reset behind a stream paused one way (the client reads
# nothing; no upload: it waits for no EPOLLOUT and sees no EPOLLERR), and
# then the client's FIN: passing it on, shutdown() on the dead socket
# fails with ENOTCONN, which failed the stream at once: the bytes the
# socket had acknowledged were lost (the client got what the ring held).
# The connection's end comes through the reads after the resume, data
# first. The "fault" is the FIN: without it (ZT_FI_DRY) no shutdown() is
# traced and the case fails.
case_rst_fin() {
	rst_then "RST behind data while paused, then the client's FIN: the data reaches the core first" \
		fin shutdown ' shutdown\(.*ENOTCONN' "shutdown ENOTCONN"
}

# rst_then NAME MODE CALL ERE LABEL: the reset behind a stream paused one
# way, then the client's MODE (fi_client.py upreset: fin, send), which
# ztun-ref passes on to the dead socket by CALL (traced: lines matching
# ERE, counted as LABEL). Every byte the socket acknowledged must reach
# the core, and the client, then its reset; for send but for what the
# flow's ring holds unsent when the stream fails (the core resets the
# client at once then, its bytes waiting: "Client bytes meanwhile" in
# docs/architecture.md; 0 to 952 bytes in runs here).
rst_then() {
	local name=$1 mode=$2 call=$3 ere=$4 label=$5 o n d got sd
	strace_out=$tmp/$mode.trace
	if ! start "-e trace=$call" -- --tcp-buffer 4096; then
		strace_out=
		fail "$name" "ztun-ref did not start"
		return
	fi
	strace_out=
	: >"$tmp/rstup.log"
	client upreset $T 7008 "$tmp/rstup.log" "${ZT_FI_DRY:+no}$mode" 8
	o=$out
	n=$(sed -n 's/^acked //p' "$tmp/rstup.log" | tail -n 1)
	d=$(counter tcp down)
	sd=$(grep -Ec "$ere" "$tmp/$mode.trace")
	got=${o#* }
	got=${got%% *}
	if [ "${o%% *}" = ECONNRESET ] && [ -n "$n" ] && [ "$d" = "$n" ] &&
	   { [ "$mode" = send ] || [ "$got" = "$n" ]; } && [ "${sd:-0}" -ge 1 ]; then
		pass "$name ($o; acked $n, tcp down $d, $label $sd)"
	else
		fail "$name" "client: $o; acked '$n', tcp down '$d', $label '$sd'"
	fi
}

# (r) The same reset behind a stream paused one way (out of the epoll
# set: it hears nothing of the RST), then 100 bytes from the client:
# passing them on, ztun-ref's send() meets the reset first (ECONNRESET,
# which Linux then clears from the socket, so the reads would not meet
# it again), and that failed the stream at once: the bytes the socket had
# acknowledged were lost (the client got what the ring held). The host
# now keeps the error for the end of those reads, after the resume (the
# client gets them too, but for what the ring holds unsent then). The
# "fault" is the client's bytes: without them (ZT_FI_DRY) no send()
# meets the reset and the case fails.
case_rst_send() {
	rst_then "RST behind data while paused, then client bytes: the data reaches the core first" \
		send sendto ' sendto\(.*(ECONNRESET|EPIPE)' "send ECONNRESET"
}

# (r) A server's RST comes behind data ztun-ref's socket still holds
# (the loop stopped meanwhile: SIGSTOP is this case's "injection", and
# it runs without strace, under which a stopped tracee goes on): the data goes
# to the core before the reset fails the stream (SO_ERROR first cleared
# the error and lost it all).
case_rst_data() {
	name="RST behind data in the socket: the data reaches the core first"
	local o n f g stopper=
	# not under strace: a traced process does not stay stopped
	: >"$tmp/ztun.log"
	ip netns exec "$cns" "$bin" -n "$tun" -i 10.231.9.1 --udp nat \
		2>"$tmp/ztun.log" &
	spid=$!
	ztun_pid=$spid # ip netns exec execs it
	for _ in $(seq 50); do
		grep -q '; running$' "$tmp/ztun.log" && break
		sleep 0.1
	done
	if ! grep -q '; running$' "$tmp/ztun.log" ||
	   ! cx ip route add 10.231.1.0/24 dev "$tun"; then
		fail "$name" "ztun-ref did not start"
		return
	fi
	if [ -z "$ZT_FI_DRY" ]; then
		# stopped once the server has the client's byte, before
		# its data and its RST come
		: >"$tmp/rst.log"
		(for _ in $(seq 100); do
			[ -s "$tmp/rst.log" ] && break
			sleep 0.02
		 done
		 kill -STOP "$ztun_pid"; sleep 1.2; kill -CONT "$ztun_pid") &
		stopper=$!
	fi
	client reset $T 7007 5
	o=$out
	[ -n "$stopper" ] && wait "$stopper"
	n=$(counter tcp down)
	f=$(counter sockets failed)
	g=${o#* }
	g=${g%% *}
	# reset, late (the data waited behind the stopped loop), with all
	# 49,920 bytes taken from the socket and read by the client before
	# its ECONNRESET (the flow's send ring drains before the RST)
	if [ "${o%% *}" = ECONNRESET ] && [ "$(ms_of "$o")" -ge 900 ] &&
	   [ "$n" = 49920 ] && [ "$g" = 49920 ] && [ "$f" = 1 ]; then
		pass "$name ($o; tcp down $n, failed $f)"
	else
		fail "$name" "client: $o; tcp down '$n', failed '$f'"
	fi
}

# (k) the server's host vanishes (its answers blackholed in its namespace
# once the connection carried a byte each way: no FIN, no RST) under a
# client that keeps its idle connection alive with TCP keepalive (1 s
# idle, the kernel's own, as fi_client.py sets it). ztun-ref answers those
# probes itself; the first also turns keepalive on for the upstream
# (--upstream-keepalive 2: after 2 s, 4 probes 1 s apart), whose probes
# find the server gone: the upstream fails with ETIMEDOUT and the client
# is reset about 7 s after its echo. Without that (before, or without the
# blackhole: ZT_FI_DRY) the flow stays up until --tcp-idle-timeout (2 h 4
# min), the client's probes restarting it. Not a system call injected:
# strace only traces nothing.
case_keepalive() {
	name="server vanishes under a keepalive client: the client is reset"
	vanish "$name" idle 7001 || return
	if [ "${out%% *}" = ECONNRESET ] && [ "$ms" -ge 5000 ] && [ "$ms" -lt 10000 ] &&
	   [ "$k" = 1 ] && [ "$tmo" = 1 ]; then
		pass "$name (after $ms ms; upstream keepalives $k, timeouts $tmo)"
	else
		fail "$name" "client: $out; upstream keepalives '$k', timeouts '$tmo'"
	fi
}

# vanish NAME MODE PORT: under ztun-ref with --upstream-keepalive 2,
# fi_client.py MODE (idle, halfidle) to PORT, the server's answers
# blackholed once the client says (its flag file) that its connection is
# set, until it ends; sets $out (its line), $ms (its time), $k and $tmo
# (upstream keepalives, timeouts). Return 1 when ztun-ref did not start.
vanish() {
	local cpid
	start "-e trace=none" -- --upstream-keepalive 2 || {
		fail "$1" "ztun-ref did not start"
		return 1
	}
	rm -f "$tmp/ka.flag"
	cx timeout 25 python3 "$tmp/fi_client.py" "$2" $T "$3" 15 "$tmp/ka.flag" \
		>"$tmp/ka.out" 2>&1 &
	cpid=$!
	for _ in $(seq 50); do
		[ -s "$tmp/ka.flag" ] && break
		sleep 0.1
	done
	[ -z "$ZT_FI_DRY" ] && sx ip route add blackhole 10.231.0.1/32
	wait "$cpid"
	out=$(cat "$tmp/ka.out")
	[ -z "$ZT_FI_DRY" ] && sx ip route del blackhole 10.231.0.1/32
	k=$(counter tcp "upstream keepalives")
	tmo=$(counter tcp "upstream timeouts")
	ms=$(ms_of "$out")
}

# (k) The same vanishing after the server sent its FIN (:7009): the
# client, half-open, sends nothing but its keepalive probes, which turn
# keepalive on for the upstream; ztun-ref's socket has read the FIN and
# waits for nothing, and it used to leave the epoll set then: its
# ETIMEDOUT went unseen and the client stayed up (the 15 s it waits).
# Now it stays registered for the error alone (EPOLLONESHOT), and the
# client is reset (EPIPE: the reset of a socket that had the FIN).
# Not a system call injected: without the blackhole (ZT_FI_DRY) the
# client stays up and the case fails.
case_ka_fin() {
	name="server sends its FIN, then vanishes under a half-open keepalive client: the client is reset"
	vanish "$name" halfidle 7009 || return
	case ${out%% *} in
	EPIPE | ECONNRESET) ;;
	*) ms=0 ;;
	esac
	if [ "$ms" -ge 3000 ] && [ "$ms" -lt 10000 ] && [ "$k" = 1 ] && [ "$tmo" = 1 ]; then
		pass "$name ($out; upstream keepalives $k, timeouts $tmo)"
	else
		fail "$name" "client: $out; upstream keepalives '$k', timeouts '$tmo'"
	fi
}

# (n) send() on a stream fails (ENOBUFS): the flow is reset both ways,
# never cut clean; the next flow works.
case_send() {
	name="send ENOBUFS on a stream: the flow is reset, next flow works"
	inject sendto ENOBUFS "$(after sendto)" || return
	client tcp $T 7001 100000 5
	local o=$out
	case $o in
	ECONNRESET*) next_ok "$name" && pass "$name ($o)";;
	*) fail "$name" "client: $o";;
	esac
}

# (h) shutdown() fails passing the client's FIN on: the flow is reset
# both ways, not left with a server waiting for an end that never comes.
case_shutdown() {
	name="shutdown ENOBUFS passing a FIN on: the flow is reset, not hung"
	inject shutdown ENOBUFS "$(after shutdown)" || return
	client half $T 7001 3
	local o=$out
	if [ "${o%% *}" = ECONNRESET ] && [ "$(ms_of "$o")" -lt 1000 ]; then
		next_ok "$name" && pass "$name ($o)"
	else
		fail "$name" "client: $o"
	fi
}

# (o) setsockopt() EPERM from the start on (SO_BINDTODEVICE of direct
# egress): every flow refused at once, TCP and UDP, none hangs.
case_setsockopt() {
	name="setsockopt EPERM: flows refused at once"
	inject setsockopt EPERM "$(after setsockopt)+" || return
	client tcp $T 7001 1000 3
	local o1=$out n
	client udp $T 7003 1
	n=$(counter sockets "open errors")
	fast_refusal "$name" "$o1" || return
	if [ "${out% *}" = "udp 0/1" ] && [ "${n:-0}" -ge 1 ]; then
		pass "$name ($o1; open errors $n)"
	else
		fail "$name" "udp: $out; open errors '$n'"
	fi
}

# (i) reading the TUN fails (EIO: the device is gone): ztun-ref cannot go
# on, and exits 1 at once saying so.
case_tun_read() {
	name="readv EIO on the TUN: exit 1 naming it"
	inject tun:readv EIO 1 || return
	client tcp $T 7001 1000 1
	wait_exit 3
	if [ "$rc" = 1 ] &&
	   grep -q 'error: reading the TUN device: Input/output error' "$tmp/ztun.log"; then
		pass "$name"
	else
		fail "$name" "exit status $rc"
	fi
}

# (d) the default route's lookup fails (its rtnetlink socket: EMFILE):
# exit 1 naming it, never a run whose direct egress is bound to nothing
# (it could loop into the TUN) under a warning that there is no default
# route.
case_route() {
	name="socket EMFILE for the default route's lookup: exit 1 naming it"
	start "-e trace=socket -e inject=socket:error=EMFILE:when=$route_socket"
	wait_exit 3
	if [ "$rc" = 1 ] &&
	   grep -q "error: .*default route.*Too many open files" "$tmp/ztun.log"; then
		pass "$name"
	else
		fail "$name" "exit status $rc"
	fi
}

# (f) the first rtnetlink socket fails: exit 1, naming rtnetlink.
case_netlink() {
	name="socket EMFILE for rtnetlink at the start: exit 1 naming it"
	start "-e trace=socket -e inject=socket:error=EMFILE:when=$nl_socket"
	wait_exit 3
	if [ "$rc" = 1 ] &&
	   grep -q "error: configuring TUN device '$tun' (rtnetlink): Too many open files" \
		"$tmp/ztun.log"; then
		pass "$name"
	else
		fail "$name" "exit status $rc"
	fi
}

for c in connect socket epoll_new epoll_open epoll_write epoll_udp timer sendmmsg \
	 writev write recvmsg rst_data rst_paused rst_fin rst_send keepalive ka_fin send shutdown \
	 setsockopt tun_read \
	 route netlink; do
	if [ -n "$ZT_FI_ONLY" ] && ! [[ $c =~ $ZT_FI_ONLY ]]; then
		continue
	fi
	"case_$c"
	stop
done

echo "$passed passed, $failed failed ($SECONDS s)"
[ "$failed" = 0 ]
