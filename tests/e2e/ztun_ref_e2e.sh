#!/bin/bash
# SPDX-License-Identifier: MIT
#
# ztun_ref_e2e.sh - ztun-ref end to end, in two network namespaces.
# Usage: tests/e2e/ztun_ref_e2e.sh PATH/TO/ztun-ref
#
#   +------------------- $cns (client) -------------------+
#   |  curl, dig                                          |
#   |    | 10.203.1.0/24 -> dev $tun (added by the test)  |
#   |    v                                                |
#   |  $tun 10.0.0.1/24 <==> ztun-ref                    |
#   |                          | sockets (proxies, direct |
#   |                          v  egress bound to $vc)    |
#   |  $vc 10.203.0.1/24, default via 10.203.0.2         |
#   |      fd00:203::1/64, default via fd00:203::2        |
#   +-----------------------|------------------------------+
#                           | veth
#   +-----------------------|------------------------------+
#   |  $vs 10.203.0.2/24, fd00:203::2/64                  |
#   |     danted :1080 (SOCKS5, UDP ASSOCIATE)           |
#   |     microsocks :1081 (SOCKS5, user/pass)           |
#   |     tinyproxy :8888 (HTTP CONNECT, BasicAuth)      |
#   |  lo 10.203.1.1, 10.203.1.2, 10.203.1.3 ("targets") |
#   |     10.203.1.9: danted :1080 too (off-link proxy)   |
#   |     python3 -m http.server :8000 (1 MiB file)      |
#   |     e2e_helper.py: HTTP :8001 (generated GET, PUT  |
#   |       hashing), echo :7001, RST on accept :7002,   |
#   |       a "proxy" that hangs up on requests :7005, |
#   |       a SOCKS5 one whose UDP relay is gone :7006   |
#   |     dnsmasq 10.203.1.1/.2:53 (e2e.test 10.9.8.7)   |
#   |     e2e_helper.py udpecho 10.203.1.1:7003, :7004,  |
#   |       [fd00:203:1::1]:7003                         |
#   |     e2e_helper.py udpreflect 10.203.1.1/.2:7008,   |
#   |       :7009 (answers each sender's address:port)   |
#   +------------------- $sns (server) -------------------+
#
# The target addresses exist only in the server namespace; in the client
# namespace they are routed into the TUN, so every byte a client sends
# goes through ztun-ref and, by its rules, a proxy or direct egress.
#
# Theory of operation: skip (one "SKIP: reason" line, exit 0) unless root,
# /dev/net/tun and every program are there. Check (v) the command line of
# --auto-route (usage errors, --help quoted in docs/cli.md). Build the namespaces,
# start the servers, then run ztun-ref twice: once with danted and
# tinyproxy (checks a, c, d, e, g, h, i; k..o, d, p, b6 per proxy; q), once
# with microsocks (b, b6, f; k..o, d, p), once with --dns-over-tcp (dt:
# UDP DNS through microsocks and tinyproxy, TC for an answer too large for
# UDP), then twice more with --tun-fd (j: a
# descriptor without and one with IFF_VNET_HDR), and once with
# --multi-queue (mq; a second ztun-ref on its device refused). Each of these
# runs also checks (u): without --auto-route ztun-ref changes no route.
# Then --auto-route (r: traffic goes through the TUN by its routes, the
# off-link proxy and direct egress do not loop; s: SIGTERM removes the
# routes and the state file; t: after SIGKILL they stay, and the next
# start removes them; w: a split route taken already fails the start and
# leaves nothing behind; wn: so does a proxy with no route at all, which
# the split routes would take into the TUN; an: a run started through a
# symbolic link of another name is refused a second start on its device,
# set down, that would take it over; ko: a start that takes over
# a killed --kill-switch run's routes with its proxy moved; kf: a start
# that fails on the device such a run left keeps its kill switch). Every
# check that fetches through ztun-ref also
# proves by ztun-ref's flow statistics that it did (the client
# namespace's default route would reach the targets directly). Per proxy
# kind: (k) a big download and (l) an upload of a quarter of it, sha256;
# (m) 200 concurrent requests, each body checked; (n) 1 MiB TCP echo,
# byte-exact; (o) a server that resets on accept and (d) a closed port fail
# the client in under 2 s; (p) DNS over TCP to dnsmasq; (b6) an IPv6
# destination. (q) danted killed: a new flow fails in under 2 s; danted
# restarted: flows work again. (ne) With no IPv6 route out, a direct
# IPv6 flow's client fails with ENETUNREACH at once (ICMPv6 no route).
# (tw) A client that reuses its port while our side is in TIME_WAIT
# connects at once. (ka) With --tcp-idle-timeout 3, TCP keepalives keep an
# idle flow open; without them it is reset. (ev) --max-flows 2
# --tcp-evict-idle 1: a new connection takes the place of the flow idle
# longest; with none idle long enough it is refused.
# (pn) Proxies given by name (-x socks5://proxy.e2e.test:1080) are
# resolved at start from the namespace's hosts file; an unresolvable name
# exits 1 at once.
# (rl) SIGHUP reloads a --rules file; open flows keep their decision; a
# bad file keeps the rules in effect.
# (nf) Under a descriptor limit of 64, idle flows give their sockets to
# new connections, and ztun-ref says so once; (nu) idle UDP flows too
# (--udp-evict-idle).
# (mu) --max-udp-flows bounds the UDP table, and the descriptor limit is
# raised for TCP and UDP flows together.
# (tb) --tcp-buffer 16384: a client is offered a window of at most the
# ring, and transfers both ways are whole.
# (fd) --fake-dns as the client's resolver: fake addresses for names only
# the server namespace knows, reached by name through danted, tinyproxy
# and danted's UDP ASSOCIATE; a fake address of no name refused at once;
# a direct name's truncated UDP answer asked again over TCP, forwarded
# over TCP to dnsmasq and answered whole.
# (fe) A --fake-dns-upstream at a closed port: the query fails at once.
# (qh) A proxy that hangs up on the request:
# the SYN is refused fast (SOCKS5, HTTP CONNECT); with --early-synack the
# client is reset, not given EOF. (qr) A SOCKS5 proxy whose UDP relay is
# gone: a DNS query through it refused at once. (es) One client socket
# asking two resolvers through danted uses one UDP ASSOCIATE.
# (pd) danted's host silent (its replies blackholed, --connect-timeout
# 2): the first flow is refused at the connect timeout, then one probe
# at a time waits as long while the others are refused at once; its
# replies back, flows go through again; the changes logged once each.
# (y) --early-synack: data whole through
# danted, a closed port behind danted resets the connected client fast,
# the early SYN-ACKs are counted, a client's first bytes go before
# danted's reply (early data). (x) --busy-poll: data whole, the loop
# polled before sleeping, only with the flag and no more than new sockets
# granted. (z) 20 connections to a server that closes first leave
# ztun-ref no upstream socket a second later. (ua) A burst of UDP
# datagrams read in one batch comes back whole and in order, by NAT (IPv4
# and IPv6) and through danted, its equal-size run sent upstream as one UDP_SEGMENT send;
# (ub) the same burst sent back at once reaches the client whole and in
# order, written to the TUN as a UDP GSO run. (uc) A client's UDP_SEGMENT
# send reaches ztun-ref in one TUN read (TUN_F_USO4/6), cut into its
# datagrams, which come back whole and in order.
#
# ZT_E2E_BIG=N sets the big download to N MiB (the upload is N/4 MiB),
# default 64 for every build: with either build (make check runs the
# sanitizer one) the whole script takes 20 to 60 s on two busy cores.
#
# Each check
# prints PASS/FAIL (or SKIP with its reason); the last line is
# "N passed, M failed"; the exit status is 1 when any check failed. Traffic
# only ever goes to addresses inside the namespaces (a client's, a
# server's, and a far one two hops away behind the server's); the trap
# removes them and every process started here, even on failure.

# shellcheck source=tests/e2e/netns_lib.sh
. "$(dirname "$0")/netns_lib.sh"
# python3 3.9 or later: random.randbytes
e2e_preflight "ztun-ref e2e" "$1" ip curl python3 danted microsocks tinyproxy \
	dnsmasq dig sha256sum timeout ss
helper=$(cd "$(dirname "$0")" && pwd)/e2e_helper.py
if [ ! -r "$helper" ]; then
	echo "SKIP: $helper is missing"
	exit 0
fi

# big transfer size in MiB (measured: 64 MiB keeps even the sanitizer
# build's whole run under a minute)
big=${ZT_E2E_BIG:-64}
case $big in
''|*[!0-9]*|0) echo "usage: ZT_E2E_BIG must be a positive number of MiB" >&2; exit 2;;
esac
bigbytes=$((big * 1048576))
upbytes=$((bigbytes / 4))
if [ $((big % 4)) = 0 ]; then
	uplabel="$((big / 4)) MiB"
else
	uplabel="$((upbytes / 1024)) KiB"
fi

id=$$
cns=zte${id}c
sns=zte${id}s
fns=zte${id}f
vc=zvc$id
vs=zvs$id
vf=zvf$id
vg=zvg$id
tun=zt$id
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zt-e2e-XXXXXX") || exit 2
chmod 755 "$tmp"
pids=()
ztun_pid=
route6=
passed=0
failed=0

statefile=/run/ztun/$tun.routes
trap 'netns_cleanup; rm -f "$statefile"' EXIT
trap 'exit 1' INT TERM

pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() {
	echo "FAIL: $1${2:+ ($2)}"
	failed=$((failed + 1))
	if [ -s "$tmp/ztun.log" ]; then
		tail -n 15 "$tmp/ztun.log" | sed 's/^/    ztun-ref: /'
	fi
}
skip() { echo "SKIP: $1 ($2)"; }

# (v) the command line of --auto-route, before any namespace: --help is
# quoted verbatim in docs/cli.md; usage errors exit 2 naming the flag.
# usage_check NAME WANT_IN_STDERR ARGS...: exit status 2 and the message.
usage_check() {
	local name=$1 want=$2 rc
	shift 2
	"$@" >/dev/null 2>"$tmp/usage.err"
	rc=$?
	if [ "$rc" = 2 ] && grep -qF -- "$want" "$tmp/usage.err"; then
		pass "(v) $name: exit 2, '$want'"
	else
		fail "(v) $name" "exit $rc: $(head -c 200 "$tmp/usage.err")"
	fi
}
clidoc=$(cd "$(dirname "$0")/../.." && pwd)/docs/cli.md
if "$bin" --help | python3 -c 'import sys; sys.exit(sys.stdin.read() not in open(sys.argv[1]).read())' "$clidoc"; then
	pass "(v) docs/cli.md quotes ztun-ref --help verbatim"
else
	fail "(v) docs/cli.md quotes ztun-ref --help verbatim"
fi
usage_check "--auto-route with --tun-fd" "--auto-route: not with --tun-fd" \
	"$bin" --auto-route --tun-fd 0
usage_check "--state-dir without --auto-route" "--state-dir: only with --auto-route" \
	"$bin" --state-dir "$tmp"
usage_check "--kill-switch with --tun-fd" "--kill-switch: not with --tun-fd" \
	"$bin" --kill-switch --tun-fd 0
usage_check "--auto-route with a value" "--auto-route: takes no value (in '--auto-route=yes')" \
	"$bin" --auto-route=yes
if command -v setpriv >/dev/null 2>&1; then
	usage_check "--auto-route, not root, no XDG_RUNTIME_DIR" \
		"--auto-route: XDG_RUNTIME_DIR is not set" \
		setpriv --reuid=65534 --regid=65534 --clear-groups \
		env -u XDG_RUNTIME_DIR "$bin" --auto-route
else
	skip "(v) --auto-route without XDG_RUNTIME_DIR" "setpriv is not installed"
fi

cx() { ip netns exec "$cns" "$@"; }
sx() { ip netns exec "$sns" "$@"; }
fx() { ip netns exec "$fns" "$@"; }

# wait_port NS PROTO PORT: until something listens (5 s).
wait_port() {
	local i
	for i in $(seq 50); do
		if ip netns exec "$1" ss -Hln"$2" "sport = :$3" | grep -q .; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- namespaces -----------------------------------------------------------
ip netns add "$cns" || exit 1
ip netns add "$sns" || exit 1
# Names only the server namespace knows (ip netns exec bind-mounts
# /etc/netns/NS/hosts over /etc/hosts; netns_cleanup removes the dir):
# what the proxies resolve when ztun-ref hands them a name (fd).
mkdir -p "/etc/netns/$sns" "/etc/netns/$cns"
printf '10.203.1.1 web.e2e.test dns.e2e.test\nfd00:203:1::1 web6.e2e.test\n' \
	>"/etc/netns/$sns/hosts"
ip link add "$vc" netns "$cns" type veth peer name "$vs" netns "$sns" || exit 1
cx ip link set lo up
sx ip link set lo up
cx ip addr add 10.203.0.1/24 dev "$vc"
sx ip addr add 10.203.0.2/24 dev "$vs"
cx ip link set "$vc" up
sx ip link set "$vs" up
cx ip route add default via 10.203.0.2 dev "$vc"
# IPv6 on the veth too, for direct IPv6 egress (UDP NAT over IPv6)
cx ip -6 addr add fd00:203::1/64 dev "$vc" nodad
sx ip -6 addr add fd00:203::2/64 dev "$vs" nodad
cx ip -6 route add default via fd00:203::2 dev "$vc"
for a in 10.203.1.1 10.203.1.2 10.203.1.3 10.203.1.9; do
	sx ip addr add "$a/32" dev lo
done
sx ip addr add fd00:203:1::1/128 dev lo
sx ip addr add fd00:203:1::2/128 dev lo
# A far namespace one router (the server namespace, when it forwards)
# beyond: 10.203.1.70 lives there, for what a TTL reaches (traceroute).
ip netns add "$fns" || exit 1
ip link add "$vg" netns "$sns" type veth peer name "$vf" netns "$fns" || exit 1
fx ip link set lo up
sx ip addr add 10.203.3.1/30 dev "$vg"
fx ip addr add 10.203.3.2/30 dev "$vf"
sx ip link set "$vg" up
fx ip link set "$vf" up
fx ip addr add 10.203.1.70/32 dev lo
fx ip route add default via 10.203.3.1
sx ip route add 10.203.1.70/32 via 10.203.3.2
sx ip -6 addr add fd00:203:3::1/64 dev "$vg" nodad
fx ip -6 addr add fd00:203:3::2/64 dev "$vf" nodad
fx ip -6 addr add fd00:203:1::70/128 dev lo
fx ip -6 route add default via fd00:203:3::1
sx ip -6 route add fd00:203:1::70/128 via fd00:203:3::2

# --- servers --------------------------------------------------------------
mkdir -p "$tmp/www"
head -c 1048576 /dev/urandom >"$tmp/www/blob"
want=$(sha256sum <"$tmp/www/blob" | cut -d' ' -f1)

ip netns exec "$sns" python3 -m http.server 8000 --bind :: --directory "$tmp/www" \
	>"$tmp/http.log" 2>&1 &
pids+=($!)

ip netns exec "$sns" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --user=root \
	--listen-address=10.203.1.1,10.203.1.2 --bind-interfaces --port=53 \
	--address=/e2e.test/10.9.8.7 --address=/direct.e2e.test/10.203.1.3 \
	--txt-record=big.txt.test,"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" \
	--pid-file= >"$tmp/dnsmasq.log" 2>&1 &
pids+=($!)

cat >"$tmp/danted.conf" <<EOF
logoutput: $tmp/danted.log
internal: 10.203.0.2 port = 1080
internal: 10.203.1.9 port = 1080
external: 10.203.0.2
external: fd00:203:1::1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
	from: 0.0.0.0/0 to: 0.0.0.0/0
}
socks pass {
	from: 0.0.0.0/0 to: 0.0.0.0/0
	command: connect udpassociate udpreply
}
socks pass {
	from: 0.0.0.0/0 to: ::/0
	command: connect
}
EOF
start_danted() {
	ip netns exec "$sns" danted -f "$tmp/danted.conf" -p "$tmp/danted.pid" \
		>>"$tmp/danted.out" 2>&1 &
	danted_pid=$!
	pids+=("$danted_pid")
}
start_danted

# a password with '@', ':' and a space: (b) gives it percent-encoded,
# (dt) raw (split at the last '@' and the first ':')
ip netns exec "$sns" microsocks -i 10.203.0.2 -p 1081 -u e2euser -P 'p@ss:w e2e' \
	>"$tmp/microsocks.log" 2>&1 &
pids+=($!)

# UDP echo: 7003 by NAT, 7004 through danted's UDP ASSOCIATE (rules below)
ip netns exec "$sns" python3 "$helper" udpecho 10.203.1.1 7003 7004 >"$tmp/udpecho.log" 2>&1 &
pids+=($!)
ip netns exec "$sns" python3 "$helper" udpecho fd00:203:1::1 7003 >"$tmp/udpecho6.log" 2>&1 &
pids+=($!)

# STUN-style reflectors: 7008 by NAT, 7009 direct (rules below)
for a in 10.203.1.1 10.203.1.2; do
	ip netns exec "$sns" python3 "$helper" udpreflect $a 7008 7009 \
		>"$tmp/udpreflect-$a.log" 2>&1 &
	pids+=($!)
done

# generated downloads, hashed uploads, echo, reset-on-accept
ip netns exec "$sns" python3 "$helper" serve 8001 7001 7002 7005 7006 >"$tmp/helper.log" 2>&1 &
pids+=($!)
python3 "$helper" gen 1 "$bigbytes" | sha256sum | cut -d' ' -f1 >"$tmp/big.sha"
python3 "$helper" gen 2 "$upbytes" >"$tmp/up.big"
bigwant=$(cat "$tmp/big.sha")
upbigwant=$(sha256sum <"$tmp/up.big" | cut -d' ' -f1)

# upload sink: answers with the sha256 of what it got, after the client's FIN
if command -v socat >/dev/null 2>&1; then
	ip netns exec "$sns" socat TCP-LISTEN:7000,bind=10.203.1.1,reuseaddr,fork \
		SYSTEM:sha256sum >"$tmp/socat.log" 2>&1 &
	pids+=($!)
fi

cat >"$tmp/tinyproxy.conf" <<EOF
User nobody
Group nogroup
Port 8888
Listen 10.203.0.2
Timeout 30
MaxClients 256
Allow 10.203.0.0/24
ConnectPort 8000
ConnectPort 8001
ConnectPort 9
ConnectPort 53
ConnectPort 7001
ConnectPort 7002
DisableViaHeader Yes
BasicAuth e2euser e2epass
LogLevel Info
EOF
ip netns exec "$sns" tinyproxy -d -c "$tmp/tinyproxy.conf" >"$tmp/tinyproxy.log" 2>&1 &
pids+=($!)

for s in "t 8000 http.server" "u 53 dnsmasq" "t 1080 danted" \
	 "t 1081 microsocks" "t 8888 tinyproxy" "t 8001 e2e_helper.py" \
	 "t 7001 e2e_helper.py" "t 7002 e2e_helper.py" "t 7005 e2e_helper.py" \
	 "t 7006 e2e_helper.py" \
	 "u 7003 e2e_helper.py"; do
	set -- $s
	if ! wait_port "$sns" "$1" "$2"; then
		echo "FAIL: $3 did not start"
		cat "$tmp"/*.log "$tmp"/*.out 2>/dev/null | tail -n 20
		echo "0 passed, 1 failed"
		exit 1
	fi
done

# --- ztun-ref --------------------------------------------------------------

# routes_now: every routing table of the client namespace (IPv4, IPv6),
# sorted, without the kernel's own routes for the TUN's addresses and the
# link-local and multicast routes IPv6 addrconf gives every link when it
# gets to it (on a loaded machine the veth's fe80:: route once appeared
# mid-check).
routes_now() {
	{ cx ip -4 route show table all; cx ip -6 route show table all; } |
		grep -Ev "dev $tun .*proto kernel|^(local |multicast )?(fe80:|ff00::/8).* proto kernel" |
		sort
}

# wait_tun_gone: until the TUN device has disappeared (5 s).
wait_tun_gone() {
	for _ in $(seq 50); do
		cx ip link show "$tun" >/dev/null 2>&1 || return 0
		sleep 0.1
	done
	return 1
}

# start_ztun ARGS...: run ztun-ref in the client namespace, wait for its
# TUN to come up, check (u) that it changed no route (but those matching
# the ERE $own_routes, which the flags asked for), route the targets
# into it.
start_ztun() {
	local i before
	wait_tun_gone
	before=$(routes_now)
	: >"$tmp/ztun.log"
	ip netns exec "$cns" "$bin" -n "$tun" "$@" 2>"$tmp/ztun.log" &
	ztun_pid=$!
	for i in $(seq 50); do
		if grep -q '; running$' "$tmp/ztun.log" &&
		   cx ip link show "$tun" 2>/dev/null | grep -q ',UP'; then
			if [ "$(routes_now | grep -Ev "${own_routes:-^$}")" = "$before" ]; then
				pass "(u) without --auto-route no route was added or removed"
			else
				fail "(u) without --auto-route no route was added or removed" \
					"$(diff <(echo "$before") <(routes_now) | grep '^[<>]' | tr '\n' ';')"
			fi
			cx ip route add 10.203.1.0/24 dev "$tun" || return 1
			if [ -n "$route6" ]; then
				cx ip -6 route add fd00:203:1::/64 dev "$tun" || return 1
			fi
			return 0
		fi
		kill -0 "$ztun_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# stop_ztun: SIGTERM; sets stop_rc and stop_ms.
stop_ztun() {
	local t0
	t0=$(now_ms)
	kill -TERM "$ztun_pid" 2>/dev/null
	wait "$ztun_pid"
	stop_rc=$?
	stop_ms=$(($(now_ms) - t0))
	ztun_pid=
}

# kill_ztun: SIGKILL, as a crash: nothing of ztun-ref's own clean-up runs.
kill_ztun() {
	kill -KILL "$ztun_pid"
	wait "$ztun_pid" 2>/dev/null
	ztun_pid=
}

# fetch NAME URL [CURL ARGS]: 1 MiB download, sha256 checked. With
# via=DECISION (e.g. `via=socks5 fetch ...`), also that ztun-ref counted a
# new flow of that decision: the transfer went through the TUN, not around
# it by the client namespace's default route.
fetch() {
	local name=$1 url=$2 got n0= n1=
	shift 2
	rm -f "$tmp/got"
	[ -n "$via" ] && n0=$(stats_flows "$via")
	if ! cx curl -sS --max-time 20 "$@" -o "$tmp/got" "$url" 2>"$tmp/curl.err"; then
		fail "$name" "curl: $(head -c 200 "$tmp/curl.err")"
		return
	fi
	got=$(sha256sum <"$tmp/got" | cut -d' ' -f1)
	if [ "$got" != "$want" ]; then
		fail "$name" "sha256 mismatch, $(stat -c %s "$tmp/got") bytes"
		return
	fi
	if [ -n "$via" ]; then
		n1=$(stats_flows "$via")
		if [ -z "$n0" ] || [ -z "$n1" ] || [ "$n1" -le "$n0" ]; then
			fail "$name" "no new $via flow in ztun-ref ('$n0' -> '$n1'): the transfer bypassed the TUN"
			return
		fi
		name="$name; $((n1 - n0)) new $via flow(s) in ztun-ref"
	fi
	pass "$name"
}

# fresh_stats LINE: after SIGUSR1, the new "stats: LINE ..." line.
fresh_stats() {
	local before
	before=$(grep -c "stats: $1" "$tmp/ztun.log")
	kill -USR1 "$ztun_pid"
	for _ in $(seq 20); do
		[ "$(grep -c "stats: $1" "$tmp/ztun.log")" -gt "$before" ] && break
		sleep 0.05
	done
	grep "stats: $1" "$tmp/ztun.log" | tail -n 1
}

# stats_flows DECISION: the "flows" count of DECISION after SIGUSR1.
stats_flows() {
	fresh_stats flows | sed -n "s/.* $1 \([0-9]*\).*/\1/p"
}

# timed NAME CMD...: run CMD, set rc and ms (wall time of CMD).
timed() {
	local t0
	t0=$(now_ms)
	"$@"
	rc=$?
	ms=$(($(now_ms) - t0))
}

# fails_fast NAME CURL ARGS...: a curl in the client namespace must fail
# (not time out) in under 2 s.
fails_fast() {
	local name=$1
	shift
	timed cx curl -sS --max-time 5 -o /dev/null "$@" 2>"$tmp/curl.err"
	if [ "$rc" != 0 ] && [ "$rc" != 28 ] && [ "$ms" -lt 2000 ]; then
		pass "$name: curl exit $rc in $ms ms"
	else
		fail "$name" "curl exit $rc after $ms ms: $(head -c 200 "$tmp/curl.err")"
	fi
}

# connect_outcome HOST PORT [N]: a blocking connect() from the client
# namespace (IPv6 when HOST has a colon), then N bytes and one read:
# refused | reset | eof | data | timeout | errno N.
connect_outcome() {
	cx python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.settimeout(15)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    s.sendall(b"e" * int(sys.argv[3]))
    print("eof" if s.recv(1) == b"" else "data")
except ConnectionRefusedError:
    print("refused")
except ConnectionResetError:
    print("reset")
except socket.timeout:
    print("timeout")
except OSError as e:
    print("errno", e.errno)
' "$1" "$2" "${3:-0}"
}

# suite KIND DECISION HOST [HOST6]: the per-proxy checks (k..o, d, p, and
# b6 with HOST6) to HOST, which the rules of the running ztun-ref send
# through the proxy KIND; then that they all went through ztun-ref (were
# the TUN gone, the client namespace's default route would reach HOST
# directly).
suite() {
	local kind=$1 decision=$2 host=$3 host6=${4:-} got out n0 n1 ans
	n0=$(stats_flows "$decision")
	# (k) big download, sha256
	rm -f "$tmp/got"
	timed cx curl -sS --max-time 100 -o "$tmp/got" \
		"http://$host:8001/gen/1/$bigbytes" 2>"$tmp/curl.err"
	got=$(sha256sum <"$tmp/got" 2>/dev/null | cut -d' ' -f1)
	if [ "$rc" = 0 ] && [ "$got" = "$bigwant" ]; then
		pass "(k) $big MiB download over $kind, sha256 ($ms ms)"
	else
		fail "(k) $big MiB download over $kind, sha256" \
			"curl exit $rc after $ms ms, $(stat -c %s "$tmp/got" 2>/dev/null) bytes: $(head -c 200 "$tmp/curl.err")"
	fi
	rm -f "$tmp/got"
	# (l) upload (PUT), sha256 computed by the server
	timed cx curl -sS --max-time 100 -H 'Expect:' -T "$tmp/up.big" \
		-o "$tmp/put.out" "http://$host:8001/up" 2>"$tmp/curl.err"
	got=$(cut -d' ' -f1 "$tmp/put.out" 2>/dev/null)
	if [ "$rc" = 0 ] && [ "$got" = "$upbigwant" ]; then
		pass "(l) $uplabel upload (PUT) over $kind, sha256 ($ms ms)"
	else
		fail "(l) $uplabel upload (PUT) over $kind, sha256" \
			"curl exit $rc after $ms ms, server said '$(head -c 100 "$tmp/put.out" 2>/dev/null)': $(head -c 200 "$tmp/curl.err")"
	fi
	# (m) 200 concurrent requests of 16 KiB, each body checked
	timed cx timeout 90 python3 "$helper" conc "$host" 8001 200 16384 \
		>"$tmp/conc.out" 2>&1
	if [ "$rc" = 0 ] && grep -qx 'ok 200/200' "$tmp/conc.out"; then
		pass "(m) 200 concurrent requests over $kind, each body checked ($ms ms)"
	else
		fail "(m) 200 concurrent requests over $kind" \
			"exit $rc after $ms ms: $(head -n 6 "$tmp/conc.out" | tr '\n' ';')"
	fi
	# (n) TCP echo of 1 MiB, byte-exact
	timed cx timeout 30 python3 "$helper" echo "$host" 7001 1048576 \
		>"$tmp/echo.out" 2>&1
	out=$(head -n 3 "$tmp/echo.out" | tr '\n' ';')
	if [ "$rc" = 0 ]; then
		pass "(n) 1 MiB TCP echo over $kind, byte-exact ($ms ms)"
	else
		fail "(n) 1 MiB TCP echo over $kind, byte-exact" "exit $rc after $ms ms: $out"
	fi
	# (o) a server that resets on accept (SO_LINGER 0)
	fails_fast "(o) server resets on accept, over $kind: the client fails in under 2 s" \
		"http://$host:7002/"
	# (d) a closed port: the proxy's failure reaches the client at once
	fails_fast "(d) closed port over $kind: refused in under 2 s" "http://$host:9/"
	# (p) DNS over TCP to dnsmasq
	ans=$(cx dig +tcp +short +time=2 +tries=2 @"$host" e2e.test A 2>&1)
	if [ "$ans" = 10.9.8.7 ]; then
		pass "(p) DNS over TCP over $kind (dnsmasq)"
	else
		fail "(p) DNS over TCP over $kind (dnsmasq)" "dig said '$ans'"
	fi
	# (b6) an IPv6 destination
	if [ -n "$host6" ]; then
		via=$decision fetch "(b6) 1 MiB from an IPv6 target over $kind, sha256" \
			"http://[$host6]:8000/blob" -g
	fi
	n1=$(stats_flows "$decision")
	if kill -0 "$ztun_pid" 2>/dev/null && [ -n "$n0" ] && [ -n "$n1" ] &&
	   [ $((n1 - n0)) -ge 204 ]; then
		pass "(k..o) over $kind: ztun-ref up, $((n1 - n0)) new $decision flows"
	else
		fail "(k..o) over $kind: through ztun-ref" \
			"$decision flows '$n0' -> '$n1'; alive: $(kill -0 "$ztun_pid" 2>&1 && echo yes)"
	fi
}

route6=1
if ! start_ztun -x socks5://10.203.0.2:1080 --socks5-pipelined \
		-x http://e2euser:e2epass@10.203.0.2:8888 \
		--tun-ip6 fd00:204::1/64 --rule 'tcp fd00:203:1::2 -> http' \
		--rule 'tcp 10.203.1.2 -> http' --rule 'tcp 10.203.1.3 -> direct' \
		--rule 'tcp fd00:203:1::3 -> direct' \
		--rule 'udp 10.203.1.1:7003 -> nat' --rule 'udp [fd00:203:1::1]:7003 -> nat' \
		--rule 'udp 10.203.1.1:7008 -> nat' --rule 'udp 10.203.1.2:7008 -> nat' \
		--rule 'udp 10.203.1.1:7009 -> direct' --rule 'udp 10.203.1.2:7009 -> direct' \
		--rule 'icmp fd00:203:1::1 -> direct' \
		--stats-file "$tmp/ztun.prom" --stats-interval 1; then
	fail "ztun-ref starts (danted, tinyproxy)"
	echo "$passed passed, $failed failed"
	exit 1
fi
# (sf) --stats-file: there from the start, in the Prometheus text format
prom_bad() { grep -Ev '^(# (HELP|TYPE) ztun_[a-z0-9_]+ .+|ztun_[a-z0-9_]+(\{[a-z]+="[^"]*"\})? [0-9]+(\.[0-9]+)?)$' "$1"; }
prom_val() { sed -n "s/^$2 \([0-9.]*\)$/\1/p" "$1"; }
if [ -s "$tmp/ztun.prom" ] && [ -z "$(prom_bad "$tmp/ztun.prom")" ] &&
   [ "$(prom_val "$tmp/ztun.prom" ztun_tcp_opened_total)" = 0 ]; then
	pass "(sf) --stats-file written at start, well-formed"
else
	fail "(sf) --stats-file written at start, well-formed" \
		"$(head -c 300 "$tmp/ztun.prom" 2>&1 | tr '\n' ';')"
fi

# (a) SOCKS5 through danted
fetch "(a) 1 MiB over SOCKS5 (danted), sha256" http://10.203.1.1:8000/blob

# (h) a slow reader: the core's ring fills, the host holds upstream bytes
# and reads again only after stream_resume
fetch "(h) 1 MiB over SOCKS5 to a slow reader (1 MB/s), sha256" \
	http://10.203.1.1:8000/blob --limit-rate 1M

# (i) upload: client -> upstream, the client's FIN passed on as shutdown
# upload_sha LABEL: 4 MiB to the sha256 server on 10.203.1.1:7000, which
# answers the digest of what it got once the client's FIN came
head -c 4194304 /dev/urandom >"$tmp/up"
upwant=$(sha256sum <"$tmp/up" | cut -d' ' -f1)
upload_sha() {
	local got
	if ! command -v socat >/dev/null 2>&1; then
		skip "$1" "socat is not installed"
		return 1
	fi
	got=$(cx timeout 20 socat -t 10 - TCP:10.203.1.1:7000 <"$tmp/up" 2>&1 |
		cut -d' ' -f1)
	if [ "$got" = "$upwant" ]; then
		pass "$1"
	else
		fail "$1" "got '$got'"
		return 1
	fi
}
upload_sha "(i) 4 MiB upload over SOCKS5, half-close, sha256"

# (c) HTTP CONNECT through tinyproxy, which wants BasicAuth: without the
# credentials ztun-ref sends, a CONNECT gets 407
code=$(cx curl -s -o /dev/null -w '%{http_connect}' --max-time 5 \
	-p -x http://10.203.0.2:8888 http://10.203.1.2:8000/blob 2>/dev/null)
if [ "$code" = 407 ]; then
	pass "(c) tinyproxy wants BasicAuth: a CONNECT without it gets 407"
else
	fail "(c) tinyproxy wants BasicAuth" "CONNECT without credentials: HTTP '$code'"
fi
fetch "(c) 1 MiB over HTTP CONNECT (tinyproxy, BasicAuth), sha256" http://10.203.1.2:8000/blob

n_socks=$(stats_flows socks5)
n_http=$(stats_flows http)
if [ "${n_socks:-0}" -ge 1 ] && [ "${n_http:-0}" -ge 1 ]; then
	pass "(a/c) flows counted by decision: socks5 $n_socks, http $n_http"
else
	fail "(a/c) flows counted by decision" "socks5 '$n_socks', http '$n_http'"
fi

# (g) direct egress, bound to the veth (the default route's interface)
fetch "(g) 1 MiB over direct egress (SO_BINDTODEVICE $vc), sha256" \
	http://10.203.1.3:8000/blob

# (z) a server that closes first (python's http.server answers HTTP/1.0
# and hangs up): once the client's FIN follows, ztun-ref closes the
# upstream socket at once, not when the flow's 2 s TIME_WAIT ends; many
# such connections must not pile up descriptors
sockets_of() { ls -l "/proc/$1/fd" 2>/dev/null | grep -c 'socket:'; }
s0=$(sockets_of "$ztun_pid")
for i in $(seq 20); do
	cx curl -s -o /dev/null --max-time 5 http://10.203.1.3:8000/
done
for i in $(seq 10); do
	s1=$(sockets_of "$ztun_pid")
	[ "$s1" -le "$s0" ] && break
	sleep 0.1
done
if [ "$s1" -le "$s0" ]; then
	pass "(z) 20 connections to a server that closes first: no upstream socket held after them ($s0 -> $s1)"
else
	fail "(z) 20 connections to a server that closes first: upstream sockets closed" \
		"ztun-ref holds $s1 sockets a second later, $s0 before"
fi

# (d) closed port: refused fast, directly (through each proxy: suite)
for t in "direct 10.203.1.3"; do
	set -- $t
	t0=$(now_ms)
	cx curl -sS --max-time 5 -o /dev/null "http://$2:9/" 2>"$tmp/curl.err"
	rc=$?
	ms=$(($(now_ms) - t0))
	if [ "$rc" = 7 ] && [ "$ms" -lt 2000 ]; then
		pass "(d) closed port via $1 refused in $ms ms"
	else
		fail "(d) closed port via $1 refused in under 2 s" \
			"curl exit $rc after $ms ms: $(head -c 200 "$tmp/curl.err")"
	fi
done

# (e) DNS over UDP through danted's UDP ASSOCIATE
ans=$(cx dig +short +time=2 +tries=2 @10.203.1.1 e2e.test A 2>&1)
if [ "$ans" = 10.9.8.7 ]; then
	pass "(e) DNS over SOCKS5 UDP ASSOCIATE (danted -> dnsmasq)"
elif grep -qi 'udp' "$tmp/danted.log" 2>/dev/null &&
     ! grep -q 'udp in [1-9]' "$tmp/ztun.log"; then
	fail "(e) DNS over SOCKS5 UDP ASSOCIATE" "dig said '$ans'"
else
	fail "(e) DNS over SOCKS5 UDP ASSOCIATE" "dig said '$ans'"
	grep -i udp "$tmp/danted.log" 2>/dev/null | tail -n 5 | sed 's/^/    danted: /'
fi

# (es) one client socket asks both resolvers (10.203.1.1, .2) through
# danted: one UDP ASSOCIATE (one control connection) carries both flows,
# and each answer comes back from the server asked
streams_now() { fresh_stats 'sockets open' | sed -n 's/.*streams opened \([0-9]*\),.*/\1/p'; }
s0=$(streams_now)
out=$(cx python3 "$helper" dnsmulti e2e.test 10.203.1.1 10.203.1.2 2>&1)
s1=$(streams_now)
if [ "${out%% *}" = ok ] && [ $((s1 - s0)) = 1 ]; then
	pass "(es) one socket, two resolvers through danted: $out over $((s1 - s0)) association"
else
	fail "(es) one socket, two resolvers through danted share one association" \
		"'$out', streams opened $s0 -> $s1"
fi

# (um) endpoint-independent mapping (RFC 4787 REQ-1): one client socket
# asks a reflector on 10.203.1.1 and one on 10.203.1.2, by NAT (7008)
# and direct (7009); both see it at the same address and port, as a P2P
# client that learned its mapping from STUN needs its peers to
for p in 7008 7009; do
	out=$(cx python3 "$helper" udpmapping 10.203.1.1:$p 10.203.1.2:$p 2>&1)
	kind=nat; [ $p = 7009 ] && kind=direct
	if [ "${out%% *}" = ok ]; then
		pass "(um) one client socket, two servers by $kind: $out"
	else
		fail "(um) one client socket, two servers by $kind see one mapping" "$out"
	fi
done

# (ua) a burst of datagrams that ztun-ref reads in one batch (it is
# stopped while the client sends them) goes upstream whole and in order,
# and a run of equal-size datagrams to one destination goes as one
# UDP_SEGMENT send: by NAT, and through danted's UDP ASSOCIATE (the same
# SOCKS5 header on each keeps their sizes equal)
# wait_file FILE PID: until FILE exists (5 s), or PID has exited
wait_file() {
	for _ in $(seq 100); do
		[ -e "$1" ] && return 0
		[ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null && return 1
		sleep 0.05
	done
	return 1
}
# (ub) the other way: the echo server sends the same burst back at once
# while ztun-ref is stopped; ztun-ref reads it in one batch and the client
# gets it whole and in order, the equal-size run written to the TUN as UDP
# GSO packets (the kernel cuts them)
# burst_while_stopped WAIT1 GO WAIT2 CMD HOST PORT N SIZE [ARG]: the
# helper's CMD in a fresh directory ($burst_dir, its output in out); once
# it writes WAIT1, ztun-ref is stopped and GO released; once WAIT2 is
# there (and 0.2 s more, for a proxy to pass the last ones on) ztun-ref
# goes on; the helper's exit status in burst_rc
burst_while_stopped() {
	local wait1=$1 go=$2 wait2=$3 cmd=$4 cpid
	shift 4
	burst_dir=$(mktemp -d "$tmp/burst.XXXXXX")
	chmod 777 "$burst_dir"
	cx python3 "$helper" "$cmd" "$1" "$2" "$3" "$4" "$burst_dir" ${5:-} \
		>"$burst_dir/out" 2>&1 &
	cpid=$!
	wait_file "$burst_dir/$wait1" "$cpid"
	kill -STOP "$ztun_pid"
	touch "$burst_dir/$go"
	wait_file "$burst_dir/$wait2" "$cpid"
	sleep 0.2
	kill -CONT "$ztun_pid"
	wait "$cpid"
	burst_rc=$?
}
gso_carried() { fresh_stats 'dgram tx' | sed -n 's/.*carrying \([0-9]*\).*/\1/p'; }
gso_runs() { fresh_stats 'udp in' | sed -n 's/.*gso runs \([0-9]*\).*/\1/p'; }
udp_gso_reads() { fresh_stats 'tun offload' | sed -n 's/.*rx udp gso \([0-9]*\),.*/\1/p'; }
udp_burst_check() { # up|upgso|down LABEL HOST PORT
	local d rc g0 g1 cmd=udpburst wait1=ready go=go wait2=sent arg=
	local count=gso_carried min=40 check="(ua) UDP burst $2" what="of them in UDP_SEGMENT sends"
	if [ "$1" = upgso ]; then
		arg=gso count=udp_gso_reads min=1 check="(uc) UDP burst sent with UDP_SEGMENT $2"
		what="TUN read(s) of it whole, cut by ztun-ref"
	elif [ "$1" = down ]; then
		cmd=udpburstdown wait1=asked go=release wait2=burst-sent
		count=gso_runs min=1 check="(ub) UDP burst back $2" what="GSO run(s) to the TUN"
	fi
	g0=$($count)
	burst_while_stopped "$wait1" "$go" "$wait2" "$cmd" "$3" "$4" 40 1200 $arg
	d=$burst_dir rc=$burst_rc
	g1=$($count)
	if [ "$rc" = 0 ] && [ -n "$g0" ] && [ -n "$g1" ] && [ $((g1 - g0)) -ge "$min" ]; then
		pass "$check: $(cat "$d/out"), $((g1 - g0)) $what"
	else
		fail "$check whole, in order, at least $min $what" \
			"client: $(head -c 300 "$d/out"); $count ${g0:-?} -> ${g1:-?}"
	fi
}
for dir in up down upgso; do
	udp_burst_check $dir "by NAT" 10.203.1.1 7003
	udp_burst_check $dir "by NAT over IPv6" fd00:203:1::1 7003
	udp_burst_check $dir "through danted (SOCKS5 UDP)" 10.203.1.1 7004
done

# (ud) bursts back by NAT while ztun-ref is stopped, larger than a socket
# buffer of the kernel's default size: 600 datagrams (1.4 MB of socket
# memory) all wait in ztun-ref's socket (--udp-rcvbuf, 1 MiB by default,
# which the kernel doubles) and arrive, none dropped; of 2,400 the socket
# cannot hold them all: each one either arrives (whole, in order) or is
# counted in `dgram rx dropped`, nothing is lost unseen
rx_dropped() { fresh_stats 'sockets open' | sed -n 's/.*dgram rx dropped \([0-9]*\).*/\1/p'; }
udp_big_burst() { # N whole|lossy
	local n=$1 d rc d0 d1 got lossy=
	[ "$2" = lossy ] && lossy=lossy
	d0=$(rx_dropped)
	burst_while_stopped asked release burst-sent udpburstdown 10.203.1.1 7003 "$n" 1200 $lossy
	d=$burst_dir rc=$burst_rc
	d1=$(rx_dropped)
	if [ -z "$d0" ] || [ -z "$d1" ]; then
		fail "(ud) UDP burst of $n back: dgram rx dropped counted" "no such counter in the stats"
	elif [ -z "$lossy" ]; then
		if [ "$rc" = 0 ] && [ "$d1" = "$d0" ]; then
			pass "(ud) UDP burst of $n back while ztun-ref is stopped: $(cat "$d/out"), none dropped"
		else
			fail "(ud) UDP burst of $n back: all of it, none dropped" \
				"client: $(head -c 300 "$d/out"); dgram rx dropped $d0 -> $d1"
		fi
	else
		got=$(sed -n 's/^got \([0-9]*\) of.*/\1/p' "$d/out")
		if [ "$rc" = 0 ] && [ -n "$got" ] && [ $((d1 - d0)) -gt 0 ] &&
		   [ $((got + d1 - d0)) = $((n + 2)) ]; then
			pass "(ud) UDP burst of $n back, more than the socket holds: $got arrived whole and in order, $((d1 - d0)) counted as dropped, $((n + 2)) in all"
		else
			fail "(ud) UDP burst of $n back: arrived + counted dropped = sent" \
				"client: $(head -c 300 "$d/out"); dgram rx dropped $d0 -> $d1"
		fi
	fi
}
udp_big_burst 600 whole
udp_big_burst 2400 lossy

# (ue) the other way, into the TUN while ztun-ref is stopped: the device
# queues what it has not read, up to its txqueuelen (1000 by default,
# --txqueuelen; a TUN's own default is 500) and drops the rest, so 800
# datagrams sent at once all wait there, reach the echo server and come
# back whole and in order, and the TUN counts no drop
tun_tx_dropped() { cx cat "/sys/class/net/$tun/statistics/tx_dropped"; }
qlen=$(cx cat "/sys/class/net/$tun/tx_queue_len")
if [ "$qlen" = 1000 ]; then
	pass "(ue) the TUN's txqueuelen is 1000"
else
	fail "(ue) the TUN's txqueuelen is 1000" "it is ${qlen:-unknown}"
fi
q0=$(tun_tx_dropped)
burst_while_stopped ready go sent udpburst 10.203.1.1 7003 800 1200
q1=$(tun_tx_dropped)
if [ "$burst_rc" = 0 ] && [ "$q0" = "$q1" ]; then
	pass "(ue) UDP burst of 800 into the TUN while ztun-ref is stopped: $(cat "$burst_dir/out"), none dropped by the TUN"
else
	fail "(ue) UDP burst of 800 into the stopped ztun-ref's TUN: all of it back" \
		"client: $(head -c 300 "$burst_dir/out"); TUN tx_dropped $q0 -> $q1"
fi

# (k..o, d, p, b6) for danted and tinyproxy
suite "SOCKS5 (danted)" socks5 10.203.1.1 fd00:203:1::1
suite "HTTP CONNECT (tinyproxy)" http 10.203.1.2 fd00:203:1::2

# (q) danted killed: a new flow fails fast; restarted: flows work again
kill -TERM "$danted_pid" 2>/dev/null
wait "$danted_pid" 2>/dev/null
for _ in $(seq 50); do
	sx ss -Hlnt 'sport = :1080' | grep -q . || break
	sleep 0.1
done
if sx ss -Hlnt 'sport = :1080' | grep -q .; then
	fail "(q) danted stopped" "port 1080 still listening"
else
	fails_fast "(q) danted down: a new flow over SOCKS5 fails in under 2 s" \
		http://10.203.1.1:8000/blob
fi
start_danted
if wait_port "$sns" t 1080; then
	fetch "(q) danted restarted: 1 MiB over SOCKS5 again, sha256" \
		http://10.203.1.1:8000/blob
else
	fail "(q) danted restarted" "danted did not listen again"
fi

# (ne) no route out (the common case: an IPv6 destination on an IPv4-only
# host): a direct flow's connect() fails at once with ENETUNREACH, and the
# client gets ICMPv6 no route, so its own connect() fails the same way at
# once (a dual-stack client falls back to IPv4 without waiting) rather
# than being refused or left to time out. IPv6 only: for IPv4 a socket
# bound to a device (direct egress is, SO_BINDTODEVICE) with no route
# there is taken to be on-link and ARPs instead (and the server
# namespace answers for its address).
cx ip -6 route del default via fd00:203::2 dev "$vc"
timed connect_outcome fd00:203:1::3 8000 >"$tmp/outcome"
got=$(cat "$tmp/outcome")
if [ "$got" = "errno 101" ] && [ "$ms" -lt 2000 ]; then
	pass "(ne) no IPv6 route out: the client's connect() fails with ENETUNREACH ($ms ms)"
else
	fail "(ne) no IPv6 route out: the client's connect() fails with ENETUNREACH at once" \
		"outcome '$got' after $ms ms ('refused' would be a RST)"
fi
# ... and a ping routed direct, whose echo socket's send fails the same
# way, hears "No route" from ztun-ref at once instead of nothing (the
# namespace lets group 0 open a ping socket)
cx sysctl -qw net.ipv4.ping_group_range="0 0"
timed cx ping -6 -n -c 1 -W 3 fd00:203:1::1 >"$tmp/ping.out" 2>&1
if [ "$ms" -lt 2000 ] && grep -q 'Destination unreachable: No route' "$tmp/ping.out"; then
	pass "(ne) no IPv6 route out: ping -6 routed direct hears 'Destination unreachable: No route' ($ms ms)"
else
	fail "(ne) no IPv6 route out: ping -6 routed direct hears 'No route' at once" \
		"$ms ms: $(head -c 300 "$tmp/ping.out" | tr '\n' ';')"
fi
cx ip -6 route add default via fd00:203::2 dev "$vc"
# (pg) a namespace whose net.ipv4.ping_group_range lets no group open a
# ping socket: ztun-ref cannot send a ping routed direct, drops it, and
# says why once, naming the sysctl (the client's own ping, as root,
# uses a raw socket)
cx sysctl -qw net.ipv4.ping_group_range="1 0"
cx ping -6 -n -c 2 -i 0.2 -W 1 fd00:203:1::1 >"$tmp/ping.out" 2>&1
pg_rc=$?
cx sysctl -qw net.ipv4.ping_group_range="0 0"
if [ "$pg_rc" != 0 ] &&
   [ "$(grep -c 'warn: ICMP echo: no ping socket (Permission denied): pings routed direct are dropped; net.ipv4.ping_group_range must include group 0' "$tmp/ztun.log")" = 1 ]; then
	pass "(pg) no ping sockets allowed: a ping routed direct is dropped, and one warning names net.ipv4.ping_group_range"
else
	fail "(pg) no ping sockets allowed: the ping dropped, one warning naming the sysctl" \
		"ping exit $pg_rc; $(grep 'ICMP echo' "$tmp/ztun.log" | tr '\n' ';')"
fi

# (pu) a protocol ztun-ref does not carry (GRE over IPv4, SCTP over IPv6)
# is answered as a host that does not speak it answers: an ICMP protocol
# unreachable, an ICMPv6 parameter problem code 1 pointing at the next
# header byte (6), from the destination, so the sender fails at once
cat >"$tmp/pu.py" <<'PY'
import socket, struct, sys, time

def wait(r, match):
    end = time.time() + 2
    while time.time() < end:
        r.settimeout(max(end - time.time(), 0.01))
        try:
            d, a = r.recvfrom(4096)
        except socket.timeout:
            return False
        if match(d, a[0]):
            return True
    return False

def v4(d, src):
    ihl = (d[0] & 15) * 4
    return (src == "10.203.1.1" and d[ihl] == 3 and d[ihl + 1] == 2
            and d[ihl + 8 + 9] == 47)

def v6(d, src):
    return (src == "fd00:203:1::1" and d[0] == 4 and d[1] == 1
            and struct.unpack("!I", d[4:8])[0] == 6)

r4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
socket.socket(socket.AF_INET, socket.SOCK_RAW, 47).sendto(
    b"\0\0\x08\0" + b"x" * 20, ("10.203.1.1", 0))
ok4 = wait(r4, v4)
r6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
socket.socket(socket.AF_INET6, socket.SOCK_RAW, 132).sendto(
    b"x" * 24, ("fd00:203:1::1", 0))
ok6 = wait(r6, v6)
print("v4", ok4, "v6", ok6)
sys.exit(0 if ok4 and ok6 else 1)
PY
if cx python3 "$tmp/pu.py" >"$tmp/pu.out" 2>&1; then
	pass "(pu) GRE and SCTP through the TUN: protocol unreachable, and a parameter problem at the next header byte, from the destination"
else
	fail "(pu) GRE and SCTP through the TUN answered with ICMP" "$(tr '\n' ';' <"$tmp/pu.out")"
fi

# (tw) a client reusing its port while our side of its last connection is
# in TIME_WAIT (the server closed first, so we did): the kernel's new SYN
# (newer timestamp, ISN beyond the old one) opens the new connection at
# once instead of drawing challenge ACKs until the TIME_WAIT runs out
tw0=$(fresh_stats 'tcp opened' | sed -n 's/.*time-wait reopened \([0-9]*\).*/\1/p')
out=$(cx python3 -c '
import socket, time
def get(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    t0 = time.monotonic()
    s.settimeout(10)
    s.connect(("10.203.1.3", 8000))
    ms = (time.monotonic() - t0) * 1000
    s.sendall(b"GET /blob HTTP/1.0\r\n\r\n")
    n = 0
    while True:
        b = s.recv(65536)
        if not b:
            break
        n += len(b)
    s.close()
    return ms, n
a = get(45678)
time.sleep(0.1)
b = get(45678)
print("%d %d %d %d" % (a[0], a[1], b[0], b[1]))
' 2>&1)
tw1=$(fresh_stats 'tcp opened' | sed -n 's/.*time-wait reopened \([0-9]*\).*/\1/p')
set -- $out
if [ $# = 4 ] && [ "$2" -gt 1048576 ] && [ "$4" = "$2" ] && [ "$3" -lt 500 ] &&
   [ -n "$tw0" ] && [ "$tw1" = $((tw0 + 1)) ]; then
	pass "(tw) the same client port again within TIME_WAIT: connected in $3 ms, TIME_WAIT reopened"
else
	fail "(tw) the same client port again within TIME_WAIT connects at once" \
		"'$out' (connect ms, bytes, twice); time-wait reopened '$tw0' -> '$tw1'"
fi

# (sf) rewritten every --stats-interval (1 s here) with what happened
up0=$(prom_val "$tmp/ztun.prom" ztun_uptime_seconds)
sleep 1.5
up1=$(prom_val "$tmp/ztun.prom" ztun_uptime_seconds)
opened=$(prom_val "$tmp/ztun.prom" ztun_tcp_opened_total)
if [ -n "$up0" ] && [ -n "$up1" ] && awk -v a="$up0" -v b="$up1" 'BEGIN { exit !(b > a) }' &&
   [ "${opened:-0}" -gt 0 ] && [ -z "$(prom_bad "$tmp/ztun.prom")" ]; then
	pass "(sf) --stats-file rewritten each second: uptime $up0 -> $up1 s, tcp opened $opened"
else
	fail "(sf) --stats-file rewritten each second" "uptime $up0 -> $up1, tcp opened $opened"
fi

stop_ztun
if [ "$stop_rc" != 0 ]; then
	fail "ztun-ref (danted) exits 0 on SIGTERM" "exit $stop_rc"
fi
# (sf) the file's last version is the exit's: the same counts as the
# exit's lines, nothing half-written left
exit_opened=$(sed -n 's/.*stats: tcp opened \([0-9]*\),.*/\1/p' "$tmp/ztun.log" | tail -n 1)
exit_socks=$(sed -n 's/.*stats: flows direct [0-9]*, socks5 \([0-9]*\),.*/\1/p' "$tmp/ztun.log" | tail -n 1)
if [ -n "$exit_opened" ] && [ -z "$(prom_bad "$tmp/ztun.prom")" ] &&
   [ "$(prom_val "$tmp/ztun.prom" ztun_tcp_opened_total)" = "$exit_opened" ] &&
   [ "$(prom_val "$tmp/ztun.prom" 'ztun_flows_total{decision="socks5"}')" = "$exit_socks" ] &&
   [ ! -e "$tmp/ztun.prom.tmp" ]; then
	pass "(sf) --stats-file at exit: tcp opened $exit_opened, socks5 flows $exit_socks, as the exit's lines"
else
	fail "(sf) --stats-file at exit matches the exit's lines" \
		"lines: $exit_opened $exit_socks; file: $(grep -E '^ztun_(tcp_opened_total|flows_total)' "$tmp/ztun.prom" | tr '\n' ';')"
fi
pauses=$(grep 'stats: sockets' "$tmp/ztun.log" | tail -n 1 |
	sed -n 's/.*read pauses \([0-9]*\).*/\1/p')
if [ "${pauses:-0}" -ge 1 ]; then
	pass "(h) back-pressure: upstream reads paused and resumed $pauses times"
else
	fail "(h) back-pressure: upstream reads paused and resumed" "pauses '$pauses'"
fi

# (b) SOCKS5 with user/password through microsocks, IPv6 inside; the
# password percent-encoded, as a provider's URL has it (docs/cli.md)
if ! start_ztun -x 'socks5://e2euser:p%40ss%3Aw%20e2e@10.203.0.2:1081' \
		--tun-ip6 fd00:204::1/64 --mark 42 --txqueuelen 2000; then
	fail "ztun-ref starts (microsocks)"
	echo "$passed passed, $failed failed"
	exit 1
fi
qlen=$(cx cat "/sys/class/net/$tun/tx_queue_len")
if [ "$qlen" = 2000 ]; then
	pass "(b) --txqueuelen 2000: the TUN's queue is 2000"
else
	fail "(b) --txqueuelen 2000: the TUN's queue is 2000" "it is ${qlen:-unknown}"
fi
via=socks5 fetch "(b) 1 MiB over SOCKS5 with user/pass (microsocks, password given as p%40ss%3Aw%20e2e), sha256" \
	http://10.203.1.1:8000/blob

if cx ip -6 addr show dev "$tun" | grep -q 'fd00:204::1/64'; then
	via=socks5 fetch "(b6) 1 MiB from an IPv6 target over SOCKS5 (microsocks), sha256" \
		'http://[fd00:203:1::1]:8000/blob' -g
else
	fail "(b6) --tun-ip6 address configured" "$(cx ip -6 -br addr show dev "$tun")"
fi

# (k..o, d, p) for microsocks ((b6) above)
suite "SOCKS5 user/pass (microsocks)" socks5 10.203.1.1

# (e7) microsocks has no UDP ASSOCIATE (it answers reply 7): a UDP
# datagram other than DNS is refused at once (ICMP port unreachable), as a
# TCP connection would be, instead of waiting out dig's 5 s; the DNS query
# that meets the refusal goes on over TCP through the proxy (dnsmasq
# answers it) with no flag, and so do the next ones
timed cx dig -p 5353 +short +tries=1 +time=5 @10.203.1.1 e2e.test A >"$tmp/dig.out" 2>&1
if [ "$ms" -lt 2000 ] && grep -qi 'refused' "$tmp/dig.out"; then
	pass "(e7) UDP through a SOCKS5 proxy without UDP ASSOCIATE: dig to port 5353 refused in $ms ms"
else
	fail "(e7) UDP through a SOCKS5 proxy without UDP ASSOCIATE is refused at once" \
		"dig took $ms ms: $(head -c 200 "$tmp/dig.out" | tr '\n' ';')"
fi
timed cx dig +short +tries=1 +time=5 @10.203.1.1 e2e.test A >"$tmp/dig.out" 2>&1
a2=$(cx dig +short +tries=1 +time=3 @10.203.1.1 e2e.test A 2>&1)
if [ "$(cat "$tmp/dig.out")" = 10.9.8.7 ] && [ "$ms" -lt 2000 ] && [ "$a2" = 10.9.8.7 ]; then
	pass "(e7) DNS through that proxy goes over TCP without --dns-over-tcp: answered in $ms ms, and again"
else
	fail "(e7) DNS through a SOCKS5 proxy without UDP ASSOCIATE goes over TCP" \
		"$ms ms: '$(head -c 200 "$tmp/dig.out" | tr '\n' ';')', then '$a2'"
fi
if [ "$(grep -c 'does not support UDP ASSOCIATE (reply 7).*DNS, which goes over TCP' "$tmp/ztun.log")" = 1 ]; then
	pass "(e7) ztun-ref warns once that the proxy has no UDP, and that DNS goes over TCP"
else
	fail "(e7) ztun-ref warns once that the proxy has no UDP" \
		"$(grep -c 'UDP ASSOCIATE' "$tmp/ztun.log") warning(s)"
fi

# (f) SIGTERM: exit 0 within a second, the TUN is gone
stop_ztun
if [ "$stop_rc" = 0 ] && [ "$stop_ms" -lt 1000 ] &&
   ! cx ip link show "$tun" >/dev/null 2>&1; then
	pass "(f) SIGTERM: exit 0 in $stop_ms ms, $tun removed"
else
	fail "(f) SIGTERM: exit 0 within 1 s, TUN removed" \
		"exit $stop_rc after $stop_ms ms; link: $(cx ip -br link show "$tun" 2>&1)"
fi
if grep -q 'stats: tcp opened [1-9]' "$tmp/ztun.log"; then
	pass "(f) statistics printed at exit"
else
	fail "(f) statistics printed at exit"
fi
# (r) the transfers above went through the vnet offloads: the kernel gave
# us partial-checksum reads and took TSO segments to cut (data verified
# by sha256 above, so the checksums the kernel finished were right)
offl=$(sed -n 's/.*stats: tun offload: rx partial \([0-9]*\), tx tso \([0-9]*\), acks coalesced [0-9]*,.*/\1 \2/p' "$tmp/ztun.log" | tail -n 1)
if grep -q 'offload tso+\(uso+\)\?csum' "$tmp/ztun.log" && [ -n "$offl" ] &&
   [ "${offl% *}" -gt 0 ] && [ "${offl#* }" -gt 0 ]; then
	pass "(r) offload in use: rx partial/tx tso $offl"
else
	fail "(r) offload in use" "'$offl'; $(grep -m1 'TUN .* up' "$tmp/ztun.log")"
fi

# (dt) --dns-over-tcp: UDP queries go through the proxy as DNS over TCP,
# microsocks (no UDP ASSOCIATE: see (e7)) for 10.203.1.1 and
# tinyproxy (HTTP CONNECT, no UDP at all) for 10.203.1.2 by a rule; an
# answer too large for UDP (a 760-byte TXT, dig +noedns: 512) comes back
# with TC and no records, and dig, asking again over TCP, gets it whole
if start_ztun -x 'socks5://e2euser:p@ss:w e2e@10.203.0.2:1081' \
		-x http://e2euser:e2epass@10.203.0.2:8888 --dns-over-tcp \
		--rule 'udp 10.203.1.2:53 -> http' --rule 'tcp 10.203.1.2 -> http'; then
	a1=$(cx dig +short +tries=1 +time=3 @10.203.1.1 e2e.test A 2>&1)
	a2=$(cx dig +short +tries=1 +time=3 @10.203.1.2 e2e.test A 2>&1)
	if [ "$a1" = 10.9.8.7 ] && [ "$a2" = 10.9.8.7 ]; then
		pass "(dt) --dns-over-tcp: UDP DNS through microsocks and tinyproxy (dnsmasq)"
	else
		fail "(dt) --dns-over-tcp: UDP DNS through microsocks and tinyproxy" \
			"microsocks '$a1', tinyproxy '$a2'"
	fi
	tc=$(cx dig +noedns +ignore +tries=1 +time=3 @10.203.1.1 big.txt.test TXT 2>&1)
	whole=$(cx dig +noedns +short +tries=1 +time=3 @10.203.1.2 big.txt.test TXT 2>&1)
	if printf '%s' "$tc" | grep -q 'flags:.* tc' &&
	   printf '%s' "$tc" | grep -q 'ANSWER: 0' &&
	   [ "$(printf '%s' "$whole" | tr -cd 'abc' | wc -c)" = 750 ]; then
		pass "(dt) an answer over 512 bytes: TC over UDP, whole when dig retries over TCP"
	else
		fail "(dt) an answer over 512 bytes: TC, then whole over TCP" \
			"$(printf '%s' "$tc" | grep -m1 flags:); retry: $(printf '%s' "$whole" | head -c 80)"
	fi
	stop_ztun
	st=$(grep 'stats: dns-tcp' "$tmp/ztun.log" | tail -n 1)
	conns=$(printf '%s' "$st" | sed -n 's/.*connections \([0-9]*\),.*/\1/p')
	trunc=$(printf '%s' "$st" | sed -n 's/.*truncated \([0-9]*\),.*/\1/p')
	if [ "${conns:-0}" -ge 3 ] && [ "${trunc:-0}" -ge 1 ]; then
		pass "(dt) counted: $(printf '%s' "$st" | sed 's/.*stats: //')"
	else
		fail "(dt) counted in the stats" "'$st'"
	fi
else
	fail "ztun-ref starts (--dns-over-tcp)"
fi

# (y) --early-synack through danted: the SYN is answered before danted
# replied; data still arrives whole, and a closed port, which danted
# refuses after the client connected, resets the client (a connection
# that breaks, ECONNRESET, not a refused connect, ECONNREFUSED) as fast as
# a refusal. A blocking connect() tells the two apart whatever the timing:
# an RST that lands before connect() returns fails it with ECONNRESET
# once the SYN-ACK made the socket ESTABLISHED, and with ECONNREFUSED only
# in SYN_SENT; curl reports both as "couldn't connect" (exit 7), so it
# cannot. (Not direct: there connect() to a closed port on the veth may
# fail before stream_open() returns, and then the SYN is refused as
# without the flag; whether it does is the kernel's timing.)
# Early data (--early-synack with --socks5-pipelined): the client's first
# bytes follow the CONNECT request before danted's reply. Where danted's
# onward connect hangs (a route via a neighbour that never answers ARP:
# about 3 s, then EHOSTUNREACH), the 100 bytes a client sends at once
# cannot wait for the reply, so the count of early bytes grows by exactly
# 100 whatever the timing; danted's refusal then resets that client
# (connect_outcome with 100 bytes to send).
up_early() { fresh_stats 'tcp opened' | sed -n 's/.*, up early \([0-9]*\) bytes,.*/\1/p'; }
if start_ztun -x socks5://10.203.0.2:1080 --socks5-pipelined --early-synack; then
	via=socks5 fetch "(y) --early-synack: 1 MiB over SOCKS5 (danted), sha256" \
		http://10.203.1.1:8000/blob
	sx ip route add 10.203.1.77/32 via 10.203.0.77
	e0=$(up_early)
	connect_outcome 10.203.1.77 80 100 >"$tmp/early.out" &
	early_pid=$!
	# the bytes go out within danted's ~3 s: look until they are counted
	# (a loaded machine may take a while to start the client)
	for _ in $(seq 25); do
		sleep 0.1
		e1=$(up_early)
		[ -n "$e0" ] && [ -n "$e1" ] && [ $((e1 - e0)) -ge 100 ] && break
	done
	wait "$early_pid"
	got=$(cat "$tmp/early.out")
	sx ip route del 10.203.1.77/32
	if [ -n "$e0" ] && [ -n "$e1" ] && [ $((e1 - e0)) = 100 ] && [ "$got" = reset ]; then
		pass "(y) --early-synack --socks5-pipelined: 100 bytes sent before danted's reply, then reset by its refusal"
	else
		fail "(y) --early-synack --socks5-pipelined: early data" \
			"up early '$e0' -> '$e1' (want +100), outcome '$got' (want reset)"
	fi
	timed connect_outcome 10.203.1.1 9 >"$tmp/outcome"
	got=$(cat "$tmp/outcome")
	if [ "$got" = reset ] && [ "$ms" -lt 2000 ]; then
		pass "(y) --early-synack: closed port behind danted resets the connected client (ECONNRESET in $ms ms)"
	else
		fail "(y) --early-synack: closed port resets the connected client in under 2 s" \
			"outcome '$got' ('refused' would be the SYN refused) after $ms ms"
	fi
	stop_ztun
	early=$(sed -n 's/.*early syn-acks \([0-9]*\).*/\1/p' "$tmp/ztun.log" | tail -n 1)
	if [ "$stop_rc" = 0 ] && [ "${early:-0}" -ge 2 ]; then
		pass "(y) --early-synack: $early early SYN-ACKs counted"
	else
		fail "(y) --early-synack: counted, clean exit" "early syn-acks '$early', exit $stop_rc"
	fi
else
	fail "(y) ztun-ref --early-synack starts"
	stop_ztun
fi

# (qh) a proxy that takes the connection and hangs up on the request (a
# FIN, no reply: out of slots, or dropping clients it does not want), as
# SOCKS5 and as HTTP CONNECT: the client's SYN is refused at once; with
# --early-synack the connected client is reset, never given a clean EOF
# (which would pass for a complete, empty answer).
if start_ztun -x socks5://10.203.0.2:7005 --socks5-pipelined -x http://10.203.0.2:7005 \
		--rule 'tcp 10.203.1.2 -> http'; then
	for h in "10.203.1.1 SOCKS5" "10.203.1.2 HTTP CONNECT"; do
		set -- $h
		timed connect_outcome "$1" 8000 >"$tmp/outcome"
		got=$(cat "$tmp/outcome")
		if [ "$got" = refused ] && [ "$ms" -lt 2000 ]; then
			pass "(qh) ${*:2} proxy hangs up on the request: the client's SYN refused in $ms ms"
		else
			fail "(qh) ${*:2} proxy hangs up: the SYN refused in under 2 s" \
				"outcome '$got' after $ms ms"
		fi
	done
	stop_ztun
else
	fail "(qh) ztun-ref with a proxy that hangs up starts"
	stop_ztun
fi
if start_ztun -x socks5://10.203.0.2:7005 --socks5-pipelined --early-synack; then
	timed connect_outcome 10.203.1.1 8000 100 >"$tmp/outcome"
	got=$(cat "$tmp/outcome")
	if [ "$got" = reset ] && [ "$ms" -lt 2000 ]; then
		pass "(qh) --early-synack: a proxy that hangs up resets the connected client ($ms ms)"
	else
		fail "(qh) --early-synack: a proxy that hangs up resets the client in under 2 s" \
			"outcome '$got' ('eof' would be its FIN passed on) after $ms ms"
	fi
	stop_ztun
else
	fail "(qh) ztun-ref --early-synack with a proxy that hangs up starts"
	stop_ztun
fi

# (qr) a SOCKS5 proxy that grants UDP ASSOCIATE but whose relay is gone
# while the control connection stands (e2e_helper.py :7006 names a port
# nothing listens on): the relay's port unreachable ends the association
# (IP_RECVERR on the relay socket) and dig hears "refused" at once,
# instead of waiting out its 5 s
if start_ztun -x socks5://10.203.0.2:7006; then
	timed cx dig +short +tries=1 +time=5 @10.203.1.1 e2e.test A >"$tmp/dig.out" 2>&1
	lost=$(fresh_stats 'udp in' | sed -n 's/.*relay lost \([0-9]*\).*/\1/p')
	if [ "$ms" -lt 2000 ] && grep -qi 'refused' "$tmp/dig.out" &&
	   [ "${lost:-0}" -ge 1 ]; then
		pass "(qr) SOCKS5 UDP relay gone: dig refused in $ms ms, relay lost $lost"
	else
		fail "(qr) SOCKS5 UDP relay gone: the query refused at once" \
			"dig took $ms ms, relay lost '$lost': $(head -c 200 "$tmp/dig.out" | tr '\n' ';')"
	fi
	stop_ztun
else
	fail "(qr) ztun-ref with a SOCKS5 proxy whose relay is gone starts"
	stop_ztun
fi

# (pd) a dead proxy makes new flows fail fast, not hang: danted's host
# stops answering (its replies to the client namespace blackholed in the
# server's: no RST, no ICMP, as a dead VPS or a dropping firewall). The
# first connection waits out --connect-timeout 2 and is refused; the
# proxy is then down: the next one tries it (the probe, 2 s again, in
# the background) and those meanwhile are refused at once, counted
# (down refused), where the previous binary made each wait 2 s. With the
# replies back, the next connection (a new probe) goes through, and
# ztun-ref said each change once.
pd_outcome() { # FILE: "OUTCOME MS" of a connect() through the TUN, timed in the client
	cx python3 -c '
import socket, time
s = socket.socket()
s.settimeout(15)
t = time.monotonic()
try:
    s.connect(("10.203.1.1", 8000))
    r = "connected"
except ConnectionRefusedError:
    r = "refused"
except socket.timeout:
    r = "timeout"
except OSError as e:
    r = "errno%d" % e.errno
print(r, int((time.monotonic() - t) * 1000))
' >"$1"
}
if start_ztun -x socks5://10.203.0.2:1080 --connect-timeout 2; then
	via=socks5 fetch "(pd) 1 MiB over SOCKS5 before the proxy's host goes, sha256" \
		http://10.203.1.1:8000/blob
	sx ip route add blackhole 10.203.0.1/32
	pd_outcome "$tmp/pd.first"
	pd_outcome "$tmp/pd.probe" &
	pd_probe=$!
	sleep 0.3
	pd_outcome "$tmp/pd.second"
	pd_outcome "$tmp/pd.third"
	wait "$pd_probe"
	sx ip route del blackhole 10.203.0.1/32
	read -r o1 ms1 <"$tmp/pd.first"
	read -r op msp <"$tmp/pd.probe"
	read -r o2 ms2 <"$tmp/pd.second"
	read -r o3 ms3 <"$tmp/pd.third"
	pd_line=$(fresh_stats 'proxy')
	refused=$(echo "$pd_line" | sed -n 's/.*down refused \([0-9]*\).*/\1/p')
	down_then=$(echo "$pd_line" | sed -n 's/.*socks5 down \([0-9]*\).*/\1/p')
	if [ "$o1" = refused ] && [ "$ms1" -ge 1500 ] && [ "$ms1" -lt 5000 ] &&
	   [ "$op" = refused ] && [ "$msp" -ge 1500 ] && [ "$msp" -lt 5000 ] &&
	   [ "$o2" = refused ] && [ "$ms2" -lt 500 ] &&
	   [ "$o3" = refused ] && [ "$ms3" -lt 500 ] && [ "$refused" = 2 ]; then
		pass "(pd) proxy's host silent: the first flow refused at the connect timeout ($ms1 ms), the probe too ($msp ms), the others at once ($ms2, $ms3 ms; down refused $refused)"
	else
		fail "(pd) proxy's host silent: one flow waits the connect timeout, the others are refused at once" \
			"first '$o1' $ms1 ms, probe '$op' $msp ms, others '$o2' $ms2 ms and '$o3' $ms3 ms (want refused, < 500 ms), down refused '$refused'"
	fi
	via=socks5 fetch "(pd) the proxy's host back: 1 MiB over SOCKS5 again, sha256" \
		http://10.203.1.1:8000/blob
	downs=$(grep -c 'warn: the SOCKS5 proxy 10.203.0.2:1080 cannot be reached' "$tmp/ztun.log")
	ups=$(grep -c 'info: the SOCKS5 proxy 10.203.0.2:1080 answers again' "$tmp/ztun.log")
	down_now=$(fresh_stats 'proxy' | sed -n 's/.*socks5 down \([0-9]*\).*/\1/p')
	if [ "$downs" = 1 ] && [ "$ups" = 1 ] && [ "$down_then" = 1 ] &&
	   [ "$down_now" = 0 ]; then
		pass "(pd) ztun-ref logged the proxy down once (warn) and up again once (info); its gauge said socks5 down 1, then 0"
	else
		fail "(pd) ztun-ref logs the proxy down and up once each, and its gauge follows" \
			"down lines $downs, up lines $ups, socks5 down '$down_then' then '$down_now' (want 1, 0)"
	fi
	stop_ztun
else
	fail "(pd) ztun-ref with --connect-timeout 2 starts"
	stop_ztun
fi

# (x) --busy-poll: before it sleeps, the loop polls for up to the window
# (here the largest, 1 ms), but only while new upstream sockets last
# granted it polls (ZR_BUSY_POLL_GRANT each, sim/real/host.c): a 16 MiB
# download, whose loop waits hundreds of times, polls no more than its
# connection granted. Without the flag it never polls (the (y) run above,
# whose final stats are still in the log). Data through it arrives whole.
# Whether a poll meets an event (caught) is the machine's timing - under
# valgrind none does - so it is reported, not asserted; the benchmark
# measures what it buys.
# busy_poll_stats: "SPINS CAUGHT" from the last stats in the log;
# sockets_opened: streams plus datagram sockets opened, from the same
busy_poll_stats() {
	sed -n 's/.*stats: busy-poll spins \([0-9]*\), caught \([0-9]*\)$/\1 \2/p' "$tmp/ztun.log" | tail -n 1
}
sockets_opened() {
	sed -n 's/.*stats: sockets open .*, streams opened \([0-9]*\),.*, dgrams opened \([0-9]*\),.*/\1 \2/p' \
		"$tmp/ztun.log" | tail -n 1 | awk '{ print $1 + $2 }'
}
# the grant per new socket, as sim/real/host.h defines it
busy_grant=$(sed -n 's/^#define ZR_BUSY_POLL_GRANT \([0-9]*\)u$/\1/p' \
	"$(dirname "$0")/../../sim/real/host.h")
spun_off=$(busy_poll_stats)
python3 "$helper" gen 3 16777216 | sha256sum | cut -d' ' -f1 >"$tmp/busy.sha"
if start_ztun -x socks5://10.203.0.2:1080 --socks5-pipelined --busy-poll 1000; then
	via=socks5 fetch "(x) --busy-poll 1000: 1 MiB over SOCKS5 (danted), sha256" \
		http://10.203.1.1:8000/blob
	want=$(cat "$tmp/busy.sha") fetch "(x) --busy-poll 1000: 16 MiB download over SOCKS5, sha256" \
		http://10.203.1.1:8001/gen/3/16777216 --max-time 60
	stop_ztun
	spun=$(busy_poll_stats)
	opened=$(sockets_opened)
	if [ "$stop_rc" = 0 ] && [ "$spun_off" = "0 0" ] && [ -n "$spun" ] &&
	   [ -n "$opened" ] && [ -n "$busy_grant" ] && [ "${spun% *}" -gt 0 ] &&
	   [ "${spun% *}" -le $((busy_grant * opened)) ] &&
	   [ "${spun#* }" -le "${spun% *}" ]; then
		pass "(x) --busy-poll: spins/caught $spun for $opened new sockets (without it: $spun_off)"
	else
		fail "(x) --busy-poll: polls before sleeping, only with the flag, $busy_grant per new socket" \
			"spins/caught '$spun' for '$opened' new sockets, without the flag '$spun_off', exit $stop_rc"
	fi
else
	fail "(x) ztun-ref --busy-poll starts"
	stop_ztun
fi

# (j) --tun-fd: a parent creates the TUN and passes the descriptor; a
# download and an upload through it; the test configures the device
# itself, ztun-ref configures nothing. Twice: a descriptor without
# IFF_VNET_HDR (as Android's VpnService gives: no offloads, MSS-sized
# segments), and one its opener made with IFF_VNET_HDR, whose vnet
# headers ztun-ref then speaks, with the offloads (TSO reads and writes).
for kind in plain vnet; do
	if [ $kind = vnet ]; then flags=0x5001; else flags=0x1001; fi
	wait_tun_gone
	: >"$tmp/ztun.log"
	ip netns exec "$cns" python3 -c '
import fcntl, os, struct, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", sys.argv[1].encode(), int(sys.argv[2], 0)))
os.set_inheritable(fd, True)
os.execv(sys.argv[3], [sys.argv[3], "--tun-fd", str(fd)] + sys.argv[4:])
' "$tun" "$flags" "$bin" -x socks5://10.203.0.2:1080 2>"$tmp/ztun.log" &
	ztun_pid=$!
	ok=
	for _ in $(seq 50); do
		if grep -q '; running$' "$tmp/ztun.log"; then
			ok=1
			break
		fi
		sleep 0.1
	done
	if [ $kind = vnet ]; then tun_offl='offload tso+\(uso+\)\?csum'; else tun_offl='offload off'; fi
	if [ -n "$ok" ] && grep -q "inherited TUN descriptor [0-9]* ($tun), not configured, $tun_offl" "$tmp/ztun.log" &&
	   ! cx ip -br addr show dev "$tun" | grep -q 10.0.0.1; then
		cx ip addr add 10.0.0.1/24 dev "$tun"
		cx ip link set "$tun" up
		cx ip route add 10.203.1.0/24 dev "$tun"
		via=socks5 fetch "(j) --tun-fd ($kind): inherited, unconfigured TUN; 1 MiB over SOCKS5, sha256" \
			http://10.203.1.1:8000/blob
		# without offloads, MSS-sized segments (the bytes of a batch of
		# them go upstream together: test_router.c)
		if upload_sha "(j) --tun-fd ($kind): 4 MiB upload over SOCKS5, sha256"; then
			line=$(fresh_stats 'tcp opened')
			echo "     (up sends: $(sed -n 's/.*, up sends \([0-9]*\),.*/\1/p' <<<"$line") for $(sed -n 's/.*, up \([0-9]*\) bytes,.*/\1/p' <<<"$line") bytes)"
		fi
		if [ $kind = vnet ]; then
			offl=$(fresh_stats 'tun offload' | sed -n 's/.*rx partial \([0-9]*\), tx tso \([0-9]*\),.*/\1 \2/p')
			if [ -n "$offl" ] && [ "${offl% *}" -gt 0 ] && [ "${offl#* }" -gt 0 ]; then
				pass "(j) --tun-fd (vnet): the opener's vnet headers spoken, offloads used (rx partial/tx tso $offl)"
			else
				fail "(j) --tun-fd (vnet): offloads used" "rx partial/tx tso '$offl'"
			fi
		fi
	else
		fail "(j) --tun-fd ($kind): ztun-ref adopts the descriptor, configures nothing, logs '${tun_offl//\\/}'" \
			"$(grep -m1 'inherited' "$tmp/ztun.log")"
	fi
	stop_ztun
	if [ "$stop_rc" != 0 ]; then
		fail "(j) ztun-ref --tun-fd ($kind) exits 0 on SIGTERM" "exit $stop_rc"
	fi
done

# (pn) proxies given by name, resolved once at start: proxy.e2e.test is
# in the client namespace's hosts file only (ip netns exec mounts it over
# /etc/hosts), so no query leaves the namespaces, with ::1 and 10.203.0.2:
# the IPv4 address is taken (the system's order puts ::1 first, and
# nothing listens there; the previous binary took it). Then a name that does
# not resolve (the namespace's resolver is its own loopback, where nothing
# answers) ends ztun-ref at once with exit 1, naming it, before any TUN
# ::1 first, as "localhost" has it: the system orders it before
# 10.203.0.2, and nothing listens there (danted is in the server
# namespace): ztun-ref must take the IPv4 address
printf '::1 proxy.e2e.test\n10.203.0.2 proxy.e2e.test\n' >"/etc/netns/$cns/hosts"
if start_ztun -x socks5://proxy.e2e.test:1080 --socks5-pipelined \
	      -x http://proxy.e2e.test:8888; then
	if grep -q 'SOCKS5 proxy proxy.e2e.test (10.203.0.2:1080)' "$tmp/ztun.log" &&
	   grep -q 'HTTP proxy proxy.e2e.test (10.203.0.2:8888)' "$tmp/ztun.log"; then
		via=socks5 fetch "(pn) -x socks5://proxy.e2e.test:1080 (resolved to 10.203.0.2): 1 MiB over SOCKS5, sha256" \
			http://10.203.1.1:8000/blob
	else
		fail "(pn) proxy names resolved and logged" "$(grep -m2 'proxy' "$tmp/ztun.log")"
	fi
	stop_ztun
else
	fail "(pn) ztun-ref with proxies given by name starts" "$(head -c 300 "$tmp/ztun.log")"
	stop_ztun
fi
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"/etc/netns/$cns/resolv.conf"
t0=$(now_ms)
cx timeout 20 "$bin" -n "$tun" -x socks5://nowhere.e2e.test:1080 2>"$tmp/pn.err"
rc=$?
ms=$(($(now_ms) - t0))
rm -f "/etc/netns/$cns/resolv.conf" "/etc/netns/$cns/hosts"
if [ "$rc" = 1 ] && [ "$ms" -lt 5000 ] &&
   grep -q "cannot resolve the SOCKS5 proxy's host 'nowhere.e2e.test'" "$tmp/pn.err" &&
   ! cx ip link show "$tun" >/dev/null 2>&1; then
	pass "(pn) an unresolvable proxy name: exit 1 in $ms ms, '$(head -c 120 "$tmp/pn.err")', no TUN"
else
	fail "(pn) an unresolvable proxy name fails at once" \
		"exit $rc in $ms ms: $(head -c 200 "$tmp/pn.err")"
fi

# (hn) SIGHUP looks a proxy given by name up again, in a thread of its
# own: the name's new address takes the new flows, and a name that no
# longer resolves leaves the proxy where it was. A proxy down at its old
# address (its connects refused there) that moves is logged as moved,
# not as answering again. The last lookup asks the
# client namespace's nameserver 10.203.1.77, which start_ztun's route
# sends into the TUN and a rule drops there (silently): while the lookup
# waits, the loop goes on serving the TUN (a transfer completes before
# the lookup gives up).
# wait_log TEXT [TENTHS]: until ztun-ref's log has TEXT (3 s by default).
wait_log() {
	for _ in $(seq "${2:-30}"); do
		grep -qF -e "$1" "$tmp/ztun.log" && return 0
		sleep 0.1
	done
	return 1
}
# rehost NAME [ADDR]: the client namespace's hosts file gives NAME as
# ADDR (without ADDR: nothing at all), then SIGHUP to ztun-ref.
rehost() {
	if [ -n "${2:-}" ]; then printf '%s %s\n' "$2" "$1"; fi >"/etc/netns/$cns/hosts"
	kill -HUP "$ztun_pid"
}
hn=proxy.zt-e2e.invalid
printf '10.203.0.2 %s\n' "$hn" >"/etc/netns/$cns/hosts"
printf 'nameserver 10.203.1.77\noptions timeout:3 attempts:1\n' >"/etc/netns/$cns/resolv.conf"
if start_ztun -x "socks5://$hn:1080" -x "http://e2euser:e2epass@$hn:8888" \
	      --rule 'tcp 10.203.1.2 -> http' --rule 'udp 10.203.1.77 -> drop'; then
	rehost "$hn" 127.0.0.1
	if wait_log "SIGHUP: SOCKS5 proxy $hn is now at 127.0.0.1 (was 10.203.0.2)" &&
	   wait_log "SIGHUP: HTTP proxy $hn is now at 127.0.0.1 (was 10.203.0.2)"; then
		fails_fast "(hn) SIGHUP: the proxies' name now gives 127.0.0.1, where nothing listens: a new SOCKS5 flow refused" \
			http://10.203.1.1:8000/blob
		fails_fast "(hn) ... and a new HTTP CONNECT flow" http://10.203.1.2:8000/blob
	else
		fail "(hn) SIGHUP moves the proxy to its name's new address" \
			"$(grep 'SIGHUP' "$tmp/ztun.log" | tr '\n' ';')"
	fi
	rehost "$hn" 10.203.0.2
	if wait_log "SIGHUP: SOCKS5 proxy $hn is now at 10.203.0.2 (was 127.0.0.1)" &&
	   wait_log "SIGHUP: HTTP proxy $hn is now at 10.203.0.2 (was 127.0.0.1)"; then
		via=socks5 fetch "(hn) SIGHUP: the name back at 10.203.0.2: 1 MiB over SOCKS5, sha256" \
			http://10.203.1.1:8000/blob
		via=http fetch "(hn) ... and over HTTP CONNECT, sha256" http://10.203.1.2:8000/blob
		# the refused connects to 127.0.0.1 marked both down; the
		# move made them up, which is no answer: logged as a move
		if grep -qF "the SOCKS5 proxy 127.0.0.1:1080 cannot be reached" "$tmp/ztun.log" &&
		   grep -qF "the HTTP proxy 127.0.0.1:8888 cannot be reached" "$tmp/ztun.log" &&
		   wait_log "the SOCKS5 proxy moved from 127.0.0.1:1080, which could not be reached, to 10.203.0.2:1080: new flows through it go to 10.203.0.2:1080" &&
		   wait_log "the HTTP proxy moved from 127.0.0.1:8888, which could not be reached, to 10.203.0.2:8888" &&
		   ! grep -q "answers again" "$tmp/ztun.log"; then
			pass "(hn) proxies down at their old address that move are logged as moved (old -> new), not as answering again"
		else
			fail "(hn) a down proxy that moves is logged as moved" \
				"$(grep -e 'proxy moved' -e 'answers again' -e 'cannot be reached' "$tmp/ztun.log" | tr '\n' ';')"
		fi
	else
		fail "(hn) SIGHUP moves the proxy back" \
			"$(grep 'SIGHUP' "$tmp/ztun.log" | tr '\n' ';')"
	fi
	rehost "$hn"
	wait_log "SIGHUP: looking the proxies' names up again" 10
	via=socks5 fetch "(hn) SIGHUP: while the lookup waits for a nameserver that does not answer: 1 MiB over SOCKS5, sha256" \
		http://10.203.1.1:8000/blob
	# the name back, and a SIGHUP while the lookup still waits
	rehost "$hn" 10.203.0.2
	hn_again=no
	if wait_log "SIGHUP: the proxies' names are still being looked up; once more when that ends" 10; then
		hn_again=yes
	fi
	if grep -q "SIGHUP: cannot resolve" "$tmp/ztun.log"; then
		fail "(hn) the loop serves the TUN while the lookup waits" \
			"the lookup ended before the transfer did: $(grep 'SIGHUP' "$tmp/ztun.log" | tail -n 2 | tr '\n' ';')"
	elif wait_log "SIGHUP: cannot resolve the SOCKS5 proxy's host '$hn'" 100 &&
	     wait_log "SIGHUP: cannot resolve the HTTP proxy's host '$hn'" &&
	     [ "$(grep -c "it stays at 10.203.0.2" "$tmp/ztun.log")" = 2 ]; then
		pass "(hn) SIGHUP: a name that no longer resolves (its nameserver silent) leaves both proxies at 10.203.0.2, the loop serving meanwhile"
		via=socks5 fetch "(hn) SIGHUP: the proxy kept: 1 MiB over SOCKS5, sha256" \
			http://10.203.1.1:8000/blob
		# the name was given back while that lookup waited, and a
		# second SIGHUP sent (above): a lookup after it finds it
		if [ "$hn_again" = yes ] &&
		   wait_log "SIGHUP: SOCKS5 proxy $hn is still at 10.203.0.2" &&
		   wait_log "SIGHUP: HTTP proxy $hn is still at 10.203.0.2"; then
			pass "(hn) a SIGHUP that meets a lookup running has another follow it, which finds the name again"
		else
			fail "(hn) a SIGHUP during a lookup has another follow it" \
				"$(grep 'SIGHUP' "$tmp/ztun.log" | tail -n 4 | tr '\n' ';')"
		fi
	else
		fail "(hn) SIGHUP: a name that no longer resolves keeps the proxy" \
			"$(grep 'SIGHUP' "$tmp/ztun.log" | tr '\n' ';')"
	fi
	stop_ztun
else
	fail "(hn) ztun-ref with a proxy given by name starts" "$(head -c 300 "$tmp/ztun.log")"
	stop_ztun
fi
# (hn) --proxy-refresh 1: the same lookup every second, without a signal
printf '10.203.0.2 %s\n' "$hn" >"/etc/netns/$cns/hosts"
if start_ztun -x "socks5://$hn:1080" --proxy-refresh 1; then
	printf '127.0.0.1 %s\n' "$hn" >"/etc/netns/$cns/hosts"
	if wait_log "--proxy-refresh: SOCKS5 proxy $hn is now at 127.0.0.1 (was 10.203.0.2)" 50; then
		fails_fast "(hn) --proxy-refresh 1: the name's new address taken without a signal: a new flow refused" \
			http://10.203.1.1:8000/blob
	else
		fail "(hn) --proxy-refresh 1 takes the name's new address" \
			"$(grep -e 'proxy-refresh' "$tmp/ztun.log" | tr '\n' ';')"
	fi
	stop_ztun
else
	fail "(hn) ztun-ref --proxy-refresh starts" "$(head -c 300 "$tmp/ztun.log")"
	stop_ztun
fi
rm -f "/etc/netns/$cns/resolv.conf" "/etc/netns/$cns/hosts"

# (mq) --multi-queue: the device is made with IFF_MULTI_QUEUE (one queue,
# one loop serving it) and carries data as any other
if start_ztun -x socks5://10.203.0.2:1080 --socks5-pipelined --multi-queue; then
	if cx ip -d link show "$tun" | grep -q 'multi_queue'; then
		pass "(mq) --multi-queue: the TUN is a multi-queue device"
	else
		fail "(mq) --multi-queue: the TUN is a multi-queue device" \
			"$(cx ip -d link show "$tun" | grep -o 'tun type.*')"
	fi
	via=socks5 fetch "(mq) --multi-queue: 1 MiB over SOCKS5, sha256" \
		http://10.203.1.1:8000/blob
	# a second ztun-ref on that name is refused, not given a queue of
	# its own (which would take a share of the flows, and at exit make
	# the device not persistent: a --kill-switch lifted)
	cx timeout 5 "$bin" -n "$tun" --multi-queue --kill-switch --no-offload \
		>/dev/null 2>"$tmp/mq2.err"
	got=$?
	if [ "$got" -eq 1 ] && grep -q "TUN device '$tun' is in use" "$tmp/mq2.err" &&
	   cx ip -d link show "$tun" | grep -q 'numqueues 1 '; then
		pass "(mq) a second --multi-queue ztun-ref on the device is refused"
	else
		fail "(mq) a second --multi-queue ztun-ref on the device is refused" \
			"exit $got, $(head -c 200 "$tmp/mq2.err")"
	fi
	stop_ztun
else
	fail "(mq) ztun-ref --multi-queue starts"
	stop_ztun
fi

# (ka) --tcp-idle-timeout 3: an echo connection whose client sends TCP
# keepalives every second stays open across 6 idle seconds (the probes,
# out of the window on purpose, count as the client's activity, as a NAT
# counts them), while one without keepalives is reset at 3 s.
# Shared by (ka), (ev), (nf), (nu) and (mu): echo_conn() opens a connection to
# the echo server through the TUN, state() tries a byte on one: "alive",
# "eof", "reset" or "errnoN"; tries(n) opens n, counting those that work;
# udp_asks(n, wait) sends a query from each of n fresh UDP sockets to the
# UDP echo server and returns those answered within wait seconds.
py_echo=$(cat <<'PY'
import socket, time
def echo_conn(keepalive=False):
    s = socket.create_connection(("10.203.1.3", 7001), timeout=5)
    if keepalive:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 5)
    s.sendall(b"x")
    s.recv(1)
    return s
def state(s):
    try:
        s.sendall(b"y")
        return "alive" if s.recv(1) == b"y" else "eof"
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    except OSError as e:
        return "errno%d" % e.errno
def tries(n):
    ok, socks = 0, []
    for _ in range(n):
        try:
            socks.append(echo_conn())
            ok += 1
        except OSError:
            pass
    return ok, socks
def udp_asks(n, wait):
    answered = []
    for _ in range(n):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(wait)
        u.sendto(b"q", ("10.203.1.1", 7003))
        try:
            u.recv(16)
            answered.append(u)
        except OSError:
            pass
    return answered
PY
)
if start_ztun --tcp-idle-timeout 3 --rule 'tcp 10.203.1.3 -> direct'; then
	got=$(cx timeout 20 python3 -c "$py_echo
a, b = echo_conn(True), echo_conn()
time.sleep(6)
print(state(a), state(b))" 2>&1)
	idle=$(fresh_stats 'tcp opened' | sed -n 's/.*idle timeouts \([0-9]*\).*/\1/p')
	if [ "$got" = "alive reset" ] && [ "$idle" = 1 ]; then
		pass "(ka) --tcp-idle-timeout 3: kept alive by TCP keepalives for 6 s; without them reset (idle timeouts $idle)"
	else
		fail "(ka) --tcp-idle-timeout: keepalives keep a flow, silence ends it" \
			"keepalive / none: '$got' (want 'alive reset'), idle timeouts '$idle'"
	fi
	stop_ztun
else
	fail "(ka) ztun-ref --tcp-idle-timeout starts"
	stop_ztun
fi

# (mp) a multipath (ECMP) default route, IPv4 and IPv6: the kernel lists
# its interfaces in RTA_MULTIPATH, not RTA_OIF; ztun-ref still finds the
# egress there (before, it found none: direct sockets went unbound, and
# --auto-route refused to start)
cx ip route replace default nexthop via 10.203.0.2 dev "$vc" nexthop via 10.203.0.3 dev "$vc"
cx ip -6 route replace default nexthop via fd00:203::2 dev "$vc" nexthop via fd00:203::3 dev "$vc"
if start_ztun --rule 'tcp 10.203.1.3 -> direct'; then
	if grep -q "direct egress via $vc (the default route's)" "$tmp/ztun.log"; then
		pass "(mp) a multipath default route: direct egress via $vc, its first next hop's"
	else
		fail "(mp) a multipath default route gives the direct egress" \
			"$(grep -E 'egress|default route' "$tmp/ztun.log" | tr '\n' ';')"
	fi
	stop_ztun
else
	fail "(mp) ztun-ref starts with a multipath default route"
	stop_ztun
fi
cx ip route replace default via 10.203.0.2 dev "$vc"
cx ip -6 route replace default via fd00:203::2 dev "$vc"

# (ev) --max-flows 2 --tcp-evict-idle 1: two echo connections, a and b,
# sit idle 2 s; a speaks, then a third connection c opens: b, idle
# longest, is reset and c works, a is untouched. A fourth, d, with a and
# c just active, is refused (the previous binary: b alive, c refused)
if start_ztun --max-flows 2 --tcp-evict-idle 1 --rule 'tcp 10.203.1.3 -> direct'; then
	got=$(cx timeout 20 python3 -c "$py_echo"'
def try_conn():
    try:
        return echo_conn()
    except ConnectionRefusedError:
        return None
a, b = echo_conn(), echo_conn()
time.sleep(2)
ra = state(a)
c = try_conn()
d = try_conn()
print(ra, state(b), c and state(c) or "refused", d and state(d) or "refused", state(a))
' 2>&1)
	line=$(fresh_stats 'tcp opened')
	evicted=$(echo "$line" | sed -n 's/.*idle evicted \([0-9]*\).*/\1/p')
	full=$(echo "$line" | sed -n 's/.*refused full \([0-9]*\).*/\1/p')
	if [ "$got" = "alive reset alive refused alive" ] &&
	   [ "$evicted" = 1 ] && [ "$full" = 1 ]; then
		pass "(ev) --max-flows 2 --tcp-evict-idle 1: the flow idle longest gave its place, then a SYN with none idle was refused (idle evicted $evicted, refused full $full)"
	else
		fail "(ev) --tcp-evict-idle: the idle flow gives its place" \
			"a b c d a: '$got' (want 'alive reset alive refused alive'), idle evicted '$evicted', refused full '$full'"
	fi
	stop_ztun
else
	fail "(ev) ztun-ref --tcp-evict-idle starts"
	stop_ztun
fi

# (rl) SIGHUP reloads the rules: a --rules file rejects the echo server,
# then says direct (a SIGHUP: the next connection works), then rejects
# again (a new connection refused, the one opened under direct keeps its
# decision), then holds a bad line (logged naming file and line; the
# rules in effect, reject, are kept: not the default, direct)
printf 'tcp 10.203.1.3 -> reject\n' >"$tmp/reload.rules"
if start_ztun --rules "$tmp/reload.rules"; then
	got=$(cx timeout 20 python3 -c "$py_echo"'
import os, signal, sys
path, pid, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def hup(text):
    open(path, "w").write(text)
    n = open(log).read().count("SIGHUP:")
    os.kill(pid, signal.SIGHUP)
    for _ in range(100):
        if open(log).read().count("SIGHUP:") > n:
            return
        time.sleep(0.02)
def try_conn():
    try:
        return state(echo_conn())
    except ConnectionRefusedError:
        return "refused"
r1 = try_conn()
hup("tcp 10.203.1.3 -> direct\n")
a = echo_conn()
hup("# again\ntcp 10.203.1.3 -> reject\n")
r2 = try_conn()
ra = state(a)
hup("tcp 10.203.1.3 -> nowhere\n")
print(r1, ra, r2, try_conn())
' "$tmp/reload.rules" "$ztun_pid" "$tmp/ztun.log" 2>&1)
	if [ "$got" = "refused alive refused refused" ] &&
	   grep -q "SIGHUP: 2 rules, default direct, udp drop; new flows follow them" "$tmp/ztun.log" &&
	   grep -q "reload.rules:1: bad rule 'tcp 10.203.1.3 -> nowhere'" "$tmp/ztun.log" &&
	   grep -q "SIGHUP: the rules in effect are kept" "$tmp/ztun.log" &&
	   kill -0 "$ztun_pid" 2>/dev/null; then
		pass "(rl) SIGHUP reloads --rules: new flows follow the file, open ones keep their decision, a bad file keeps the rules"
	else
		fail "(rl) SIGHUP reloads the rules" \
			"before / open flow / after / bad file: '$got' (want 'refused alive refused refused'); log: $(grep SIGHUP "$tmp/ztun.log" | tr '\n' ';' | head -c 400)"
	fi
	stop_ztun
else
	fail "(rl) ztun-ref --rules FILE starts" "$(head -c 300 "$tmp/ztun.log")"
	stop_ztun
fi

# (nf) a descriptor limit far below --max-flows (prlimit --nofile=64, a
# hard limit ztun-ref cannot raise): 40 echo connections sit idle 2 s,
# then 30 more open. Past the last descriptor a new connection takes the
# socket of the flow idle longest (--tcp-evict-idle 1), so all 30 work;
# the previous binary refused those past the limit
if command -v prlimit >/dev/null 2>&1; then
	printf '#!/bin/sh\nexec prlimit --nofile=64:64 %s "$@"\n' "$bin" >"$tmp/ztun-nofile"
	chmod +x "$tmp/ztun-nofile"
	real_bin=$bin
	bin=$tmp/ztun-nofile
	if start_ztun --tcp-evict-idle 1 --rule 'tcp 10.203.1.3 -> direct'; then
		got=$(cx timeout 30 python3 -c "$py_echo"'
first, held = tries(40)
time.sleep(2)
second, more = tries(30)
print(first, second, sum(state(s) == "alive" for s in more))
' 2>&1)
		evicted=$(fresh_stats 'tcp opened' | sed -n 's/.*idle evicted \([0-9]*\).*/\1/p')
		short=$(fresh_stats 'sockets open' | sed -n 's/.*out of descriptors \([0-9]*\).*/\1/p')
		warned=$(grep -cE "warn: out of descriptors \(Too many open files; RLIMIT_NOFILE [0-9]+\)" "$tmp/ztun.log")
		if [ "$got" = "40 30 30" ] && [ "${evicted:-0}" -ge 1 ] &&
		   [ "${short:-0}" -ge 1 ] && [ "$warned" = 1 ]; then
			pass "(nf) 64 descriptors: 40 idle connections, then 30 more all work (idle evicted $evicted; out of descriptors $short times, warned once)"
		else
			fail "(nf) out of descriptors, idle flows give theirs up" \
				"first / second / alive: '$got' (want '40 30 30'), idle evicted '$evicted', out of descriptors '$short', warnings '$warned' (want 1)"
		fi
		stop_ztun
	else
		fail "(nf) ztun-ref under prlimit --nofile=64 starts" "$(head -c 300 "$tmp/ztun.log")"
		stop_ztun
	fi
	# (nu) the same with the descriptors held by UDP flows: 40 client
	# sockets each get an echo (40 flows, 40 upstream sockets), sit idle
	# 2 s, then 30 connections open; with --tcp-evict-idle 0 only the
	# UDP flows (--udp-evict-idle 1) can make room, and they do (the
	# previous binary refused the connections past the limit)
	if start_ztun --tcp-evict-idle 0 --udp-evict-idle 1 \
		--rule 'tcp 10.203.1.3 -> direct' --rule 'udp 10.203.1.1 -> direct'; then
		got=$(cx timeout 30 python3 -c "$py_echo"'
udp = udp_asks(40, 2)
time.sleep(2)
ok, socks = tries(30)
print(len(udp), ok, sum(state(s) == "alive" for s in socks))
' 2>&1)
		evicted=$(fresh_stats 'udp in' | sed -n 's/.*, evicted \([0-9]*\).*/\1/p')
		if [ "$got" = "40 30 30" ] && [ "${evicted:-0}" -ge 1 ]; then
			pass "(nu) 64 descriptors: 40 idle UDP flows, then 30 connections all work (udp evicted $evicted)"
		else
			fail "(nu) out of descriptors, idle UDP flows give theirs up" \
				"udp / connections / alive: '$got' (want '40 30 30'), udp evicted '$evicted'"
		fi
		stop_ztun
	else
		fail "(nu) ztun-ref --udp-evict-idle under prlimit starts" "$(head -c 300 "$tmp/ztun.log")"
		stop_ztun
	fi
	# (mu) --max-udp-flows 2: a third client socket's datagram finds the
	# table full of flows active just now and is dropped (refused full);
	# the descriptor limit is raised for TCP and UDP flows together
	# (--max-flows 1000 + --max-udp-flows 3000 + 256 under a soft limit
	# of 1024; the previous code raised it for the TCP flows only)
	printf '#!/bin/sh\nexec prlimit --nofile=1024:10000 %s "$@"\n' "$real_bin" >"$tmp/ztun-nofile"
	if start_ztun --max-flows 1000 --max-udp-flows 3000 \
		--rule 'udp 10.203.1.1 -> direct'; then
		soft=$(sed -n 's/.*info: descriptors: up to \([0-9]*\) (RLIMIT_NOFILE)$/\1/p' "$tmp/ztun.log")
		# valgrind shows its client a hard limit of its own, which
		# allows no raise: then ztun-ref must say so, naming both flags
		if [ "$soft" != 4256 ] &&
		   grep -q "warn: descriptor limit $soft is below --max-flows 1000 + --max-udp-flows 3000" "$tmp/ztun.log"; then
			soft="4256 wanted (a hard limit of $soft under valgrind: warned)"
		fi
		stop_ztun
	fi
	if start_ztun --max-udp-flows 2 --rule 'udp 10.203.1.1 -> direct'; then
		got=$(cx timeout 20 python3 -c "$py_echo"'
print(len(udp_asks(3, 1)))
' 2>&1)
		full=$(fresh_stats 'udp in' | sed -n 's/.*refused full \([0-9]*\).*/\1/p')
		if [ "$got" = 2 ] && [ "$full" = 1 ] &&
		   { [ "$soft" = 4256 ] || [ "${soft#4256 wanted}" != "$soft" ]; }; then
			pass "(mu) --max-udp-flows 2: the third client socket refused (refused full $full); RLIMIT_NOFILE $soft for 1000 TCP + 3000 UDP flows"
		else
			fail "(mu) --max-udp-flows bounds the UDP table and counts in the descriptor limit" \
				"answered: '$got' (want 2), refused full '$full' (want 1), soft limit '$soft' (want 4256)"
		fi
		stop_ztun
	else
		fail "(mu) ztun-ref --max-udp-flows starts" "$(head -c 300 "$tmp/ztun.log")"
		stop_ztun
	fi
	bin=$real_bin
else
	skip "(nf) a descriptor limit below --max-flows" "prlimit is not installed"
fi

# (tb) --tcp-buffer 16384: the window a client is offered is the ring
# (ss reports the peer's window as snd_wnd), and a 1 MiB download through
# danted and a 4 MiB upload arrive whole
if start_ztun -x socks5://10.203.0.2:1080 --tcp-buffer 16384 \
		--rule 'tcp 10.203.1.3 -> direct'; then
	wnd=$(cx timeout 10 python3 -c '
import socket, subprocess, re
s = socket.create_connection(("10.203.1.3", 7001), timeout=5)
s.sendall(b"x" * 1000)
got = 0
while got < 1000:
    got += len(s.recv(4096))
# this socket only: ztun-ref'"'"'s own upstream socket goes to the same place
out = subprocess.run(["ss", "-tin", "sport", "= :%d" % s.getsockname()[1]],
                     capture_output=True, text=True).stdout
m = re.search(r"snd_wnd:(\d+)", out)
print(m.group(1) if m else "none")
' 2>&1)
	if [ -n "$wnd" ] && [ "$wnd" != none ] && [ "$wnd" -le 16384 ] 2>/dev/null &&
	   grep -q 'rings of 16384 + 16384 bytes' "$tmp/ztun.log"; then
		pass "(tb) --tcp-buffer 16384: the client is offered a window of $wnd bytes"
	else
		fail "(tb) --tcp-buffer 16384 bounds the offered window" "snd_wnd '$wnd'"
	fi
	via=socks5 fetch "(tb) --tcp-buffer 16384: 1 MiB through danted, sha256" \
		http://10.203.1.1:8000/blob
	upload_sha "(tb) --tcp-buffer 16384: 4 MiB upload through danted, half-close, sha256"
	stop_ztun
else
	fail "(tb) ztun-ref --tcp-buffer starts"
	stop_ztun
fi

# (fd) --fake-dns: the client namespace's resolver is ztun-ref
# (198.18.0.2, inside the fake range, which ztun-ref routes into its TUN
# itself); names only the server namespace knows are answered with fake
# addresses and reach danted and tinyproxy as names: nothing could
# connect to 198.18.x.x there. AAAA gets no address; a fake address
# given to no name is refused at once; UDP to a fake address goes
# through danted's UDP ASSOCIATE to the name; a name a drop rule takes
# is NXDOMAIN; one the rules send direct is asked of dnsmasq
# (--fake-dns-upstream) and its flow goes direct by that name, over TCP
# too (a large TXT answer, truncated over UDP, then whole over TCP).
printf 'nameserver 198.18.0.2\noptions timeout:2 attempts:1\n' >"/etc/netns/$cns/resolv.conf"
own_routes="^(198\.18\.0\.0/15|fd00:ff::/64) dev $tun proto 122 "
if start_ztun -x socks5://10.203.0.2:1080 -x http://e2euser:e2epass@10.203.0.2:8888 \
		--tun-ip6 fd00:204::1/64 --fake-ip6-range fd00:ff::/64 \
		--fake-dns 198.18.0.2 --fake-dns-upstream 10.203.1.1 \
		--rule 'tcp domain web.e2e.test dport 8001 -> http' \
		--rule 'any domain blocked.e2e.test -> drop' \
		--rule 'tcp domain direct.e2e.test -> direct' \
		--rule 'tcp domain txt.test -> direct' \
		--rule 'any dport 5399 -> http' \
		--rule 'icmp 10.203.1.77 -> reject' \
		--rule 'icmp 10.203.1.1 -> direct' \
		--rule 'icmp fd00:203:1::1 -> direct' \
		--rule 'udp dport 5400 -> direct' \
		--rule 'icmp 10.203.1.66 -> direct' \
		--rule 'any 10.203.1.70 -> direct' --rule 'any fd00:203:1::70 -> direct'; then
	own_routes=
	if cx ip route show 198.18.0.0/15 | grep -q "dev $tun proto 122" &&
	   cx ip -6 route show fd00:ff::/64 | grep -q "dev $tun proto 122"; then
		pass "(fd) --fake-dns routes 198.18.0.0/15 and fd00:ff::/64 into the TUN"
	else
		fail "(fd) --fake-dns routes its ranges into the TUN" \
			"$(cx ip route show 198.18.0.0/15; cx ip -6 route show fd00:ff::/64)"
	fi
	a1=$(cx dig +short +tries=1 +time=2 @198.18.0.2 web.e2e.test A 2>&1)
	a2=$(cx dig +short +tries=1 +time=2 @198.18.0.2 WEB.e2e.test A 2>&1)
	aaaa=$(cx dig +short +tries=1 +time=2 @198.18.0.2 web.e2e.test AAAA 2>&1)
	case $a1 in
	198.18.*|198.19.*)
		if [ "$a1" = "$a2" ] && [ "${aaaa#fd00:ff::}" != "$aaaa" ]; then
			pass "(fd) dig: web.e2e.test is $a1 (the same in any case) and $aaaa"
		else
			fail "(fd) dig: the same fake address each time, AAAA from fd00:ff::/64" \
				"'$a1' / '$a2'; AAAA '$aaaa'"
		fi;;
	*)
		fail "(fd) dig: web.e2e.test gets a fake address" "'$a1'";;
	esac
	a4=$(cx dig +tcp +short +tries=1 +time=2 @198.18.0.2 web.e2e.test A 2>&1)
	if [ "$a4" = "$a1" ]; then
		pass "(fd) dig +tcp: DNS over TCP gets the same answer, $a4"
	else
		fail "(fd) DNS over TCP to the resolver" "'$a4' (UDP said '$a1')"
	fi
	# UDP that an any rule sends to the HTTP proxy, which carries only
	# TCP: refused at once (ICMP port unreachable), not left to time out
	timed cx dig +short +tries=1 +time=5 -p 5399 @10.203.1.1 e2e.test A >"$tmp/dig.out" 2>&1
	if [ "$ms" -lt 2000 ] && grep -qi 'refused' "$tmp/dig.out"; then
		pass "(fd) UDP routed to the HTTP proxy: dig refused in $ms ms"
	else
		fail "(fd) UDP routed to the HTTP proxy is refused at once" \
			"dig took $ms ms: $(head -c 200 "$tmp/dig.out" | tr '\n' ';')"
	fi
	# a ping that a rule rejects: "Packet filtered" at once (ICMP
	# administratively prohibited), not a silent loss
	timed cx ping -n -c 1 -W 3 10.203.1.77 >"$tmp/ping.out" 2>&1
	if [ "$ms" -lt 2000 ] && grep -q 'Packet filtered' "$tmp/ping.out"; then
		pass "(fd) ping to an address a rule rejects: 'Packet filtered' in $ms ms"
	else
		fail "(fd) ping to an address a rule rejects is refused at once" \
			"$ms ms: $(head -c 300 "$tmp/ping.out" | tr '\n' ';')"
	fi
	# a ping a rule sends direct: out of ztun-ref's ping socket (the
	# namespace lets group 0 open one), the replies back to ping
	cx sysctl -qw net.ipv4.ping_group_range="0 0"
	cx ping -n -c 3 -i 0.2 -W 2 10.203.1.1 >"$tmp/ping.out" 2>&1
	cx ping -6 -n -c 2 -i 0.2 -W 2 fd00:203:1::1 >"$tmp/ping6.out" 2>&1
	echo_line=$(fresh_stats 'icmp echo')
	if grep -q ' 3 received' "$tmp/ping.out" && grep -q ' 2 received' "$tmp/ping6.out" &&
	   grep -q 'echo out 5, echo in 5,' <<<"$echo_line"; then
		pass "(fd) ping routed direct: 3 of 3 (IPv4) and 2 of 2 (IPv6) answered through ztun-ref's echo sockets"
	else
		fail "(fd) ping routed direct is answered, IPv4 and IPv6" \
			"$(tail -n 2 "$tmp/ping.out" "$tmp/ping6.out" | tr '\n' ';') stats: $echo_line"
	fi
	# ICMP errors the network sends back about direct datagrams reach the
	# client (ztun-ref's sockets have IP_RECVERR): UDP to a closed port
	# gets the server's port unreachable (dig: refused at once, not its
	# 5 s timeout), a ping to an address the server namespace routes
	# nowhere gets that router's host unreachable, from 10.203.0.2
	sx sysctl -qw net.ipv4.ip_forward=1
	sx ip route add unreachable 10.203.1.66/32
	timed cx dig +short +tries=1 +time=5 -p 5400 @10.203.1.1 e2e.test A >"$tmp/dig.out" 2>&1
	dig_ms=$ms
	timed cx ping -n -c 1 -W 3 10.203.1.66 >"$tmp/ping.out" 2>&1
	err_line=$(fresh_stats 'icmp echo')
	if [ "$dig_ms" -lt 2000 ] && grep -qi 'refused' "$tmp/dig.out" &&
	   [ "$ms" -lt 2000 ] &&
	   grep -q 'From 10.203.0.2 .*Destination Host Unreachable' "$tmp/ping.out" &&
	   grep -q 'upstream errors relayed 2, ignored 0$' <<<"$err_line"; then
		pass "(fd) upstream ICMP errors reach the client: dig to a closed port refused in $dig_ms ms, ping 'Destination Host Unreachable' from the router in $ms ms"
	else
		fail "(fd) upstream ICMP errors (port, host unreachable) reach the client" \
			"dig $dig_ms ms: $(head -c 200 "$tmp/dig.out" | tr '\n' ';') ping $ms ms: $(head -c 300 "$tmp/ping.out" | tr '\n' ';') stats: $err_line"
	fi
	# A client's TTL goes on with its datagrams and pings routed direct,
	# and with a direct connection's SYN: traceroute (UDP, -I: ICMP
	# echo, -T: TCP SYN, whose RST from the far end is the last hop)
	# through the TUN sees the server namespace as hop 1 (its time
	# exceeded, relayed) and the far namespace behind it as hop 2, as it
	# would without ztun-ref; a ping with TTL 1 hears "Time to live
	# exceeded" from that router
	if command -v traceroute >/dev/null; then
		sx sysctl -qw net.ipv6.conf.all.forwarding=1
		cx traceroute -n -q 1 -w 2 -m 4 10.203.1.70 >"$tmp/tr.out" 2>&1
		cx traceroute -I -n -q 1 -w 2 -m 4 10.203.1.70 >"$tmp/tri.out" 2>&1
		cx traceroute -6 -n -q 1 -w 2 -m 4 fd00:203:1::70 >"$tmp/tr6.out" 2>&1
		cx ping -n -c 1 -W 2 -t 1 10.203.1.70 >"$tmp/ping.out" 2>&1
		# the server namespace's kernel sends a destination a burst of
		# six ICMP errors, then one a second: one more for the SYN
		sleep 1.1
		cx traceroute -T -p 8009 -n -q 1 -w 2 -m 4 10.203.1.70 >"$tmp/trt.out" 2>&1
		cx traceroute -6 -T -p 8009 -n -q 1 -w 2 -m 4 fd00:203:1::70 >"$tmp/trt6.out" 2>&1
		sx sysctl -qw net.ipv6.conf.all.forwarding=0
		ttl_line=$(fresh_stats 'dgram tx')
		if grep -Eq '^ 1  10\.203\.0\.2 ' "$tmp/tr.out" &&
		   grep -Eq '^ 2  10\.203\.1\.70 ' "$tmp/tr.out" &&
		   grep -Eq '^ 1  10\.203\.0\.2 ' "$tmp/tri.out" &&
		   grep -Eq '^ 2  10\.203\.1\.70 ' "$tmp/tri.out" &&
		   grep -Eq '^ 1  fd00:203::2 ' "$tmp/tr6.out" &&
		   grep -Eq '^ 2  fd00:203:1::70 ' "$tmp/tr6.out" &&
		   grep -Eq '^ 1  10\.203\.0\.2 ' "$tmp/trt.out" &&
		   grep -Eq '^ 2  10\.203\.1\.70 ' "$tmp/trt.out" &&
		   grep -Eq '^ 1  fd00:203::2 ' "$tmp/trt6.out" &&
		   grep -Eq '^ 2  fd00:203:1::70 ' "$tmp/trt6.out" &&
		   grep -q 'From 10.203.0.2 .*Time to live exceeded' "$tmp/ping.out"; then
			pass "(fd) the client's TTL goes upstream: traceroute (UDP, ICMP, TCP SYN; UDP and TCP over IPv6) sees 10.203.0.2 (fd00:203::2), then 10.203.1.70 (fd00:203:1::70); ping -t 1: 'Time to live exceeded' from 10.203.0.2 (${ttl_line##*, })"
		else
			fail "(fd) the client's TTL goes upstream (traceroute through the TUN sees the hops)" \
				"$(tr '\n' ';' <"$tmp/tr.out") | $(tr '\n' ';' <"$tmp/tri.out") | $(tr '\n' ';' <"$tmp/tr6.out") | $(tr '\n' ';' <"$tmp/trt.out") | $(tr '\n' ';' <"$tmp/trt6.out") | $(head -c 300 "$tmp/ping.out" | tr '\n' ';') stats: $ttl_line"
		fi
	else
		skip "(fd) traceroute through the TUN" "traceroute is not installed (make deps)"
	fi
	# The client's DF goes on too, and a link too small for a datagram
	# that has it answers as a router would. The server namespace's link
	# to the far one at 1280: a ping that may be fragmented (-M dont)
	# crosses it in fragments, the first one already (Linux's default
	# would send it with DF and lose it); one that may not (-M do) hears
	# the server namespace's "Frag needed" with its MTU. With ztun-ref's
	# own link the small one (1400), the kernel's EMSGSIZE reaches the
	# client as the same, with that MTU, and so over IPv6 (a 1500-byte
	# ping, which ztun-ref's kernel would have fragmented: a router must
	# answer it with a packet too big instead). (Not tracepath -6 here: the
	# client shares ztun-ref's namespace, whose route cache learns the
	# path MTU from ztun-ref's own socket; the unit tests cover IPv6.)
	sx ip link set "$vg" mtu 1280
	fx ip link set "$vf" mtu 1280
	cx ping -n -c 1 -W 2 -M dont -s 1400 10.203.1.70 >"$tmp/pmtu1.out" 2>&1
	cx ping -n -c 1 -W 2 -M do -s 1400 10.203.1.70 >"$tmp/pmtu2.out" 2>&1
	sx ip link set "$vg" mtu 1500
	fx ip link set "$vf" mtu 1500
	cx ip link set "$vc" mtu 1400
	cx ping -n -c 1 -W 2 -M do -s 1450 10.203.1.1 >"$tmp/pmtu3.out" 2>&1
	cx ping -6 -n -c 1 -W 2 -s 1452 fd00:203:1::1 >"$tmp/pmtu4.out" 2>&1
	cx ip link set "$vc" mtu 1500
	cx ip -6 route flush cache
	df_line=$(fresh_stats 'dgram tx')
	if grep -q '^1408 bytes from 10.203.1.70' "$tmp/pmtu1.out" &&
	   grep -q 'From 10.203.0.2 .*Frag needed and DF set (mtu = 1280)' "$tmp/pmtu2.out" &&
	   grep -q 'From 10.203.1.1 .*Frag needed and DF set (mtu = 1400)' "$tmp/pmtu3.out" &&
	   grep -q 'From fd00:203:1::1 .*Packet too big: mtu=1400' "$tmp/pmtu4.out" &&
	   ! grep -q 'path mtu asks 0$' <<<"$df_line"; then
		pass "(fd) the client's DF goes upstream: past a 1280-byte link, ping -M dont crosses in fragments, ping -M do hears 'Frag needed (mtu = 1280)' from 10.203.0.2; ztun-ref's own 1400-byte link: 'Frag needed (mtu = 1400)', over IPv6 (not fragmented by ztun-ref's kernel, as no router fragments IPv6) 'Packet too big: mtu=1400' (${df_line##*tos sets })"
	else
		fail "(fd) the client's DF goes upstream and a too small link answers it" \
			"$(head -c 300 "$tmp/pmtu1.out" | tr '\n' ';') | $(head -c 300 "$tmp/pmtu2.out" | tr '\n' ';') | $(head -c 300 "$tmp/pmtu3.out" | tr '\n' ';') | $(head -c 300 "$tmp/pmtu4.out" | tr '\n' ';') stats: $df_line"
	fi
	# The client's traffic class goes on too (DSCP and ECN): pings with
	# -Q 0xb8 (EF) over IPv4 and IPv6, and an IPv6 datagram with class
	# 0xba (EF, ECT(0)), reach the far namespace so marked; the answer,
	# sent with 0xbb (EF, CE), reaches the client so marked; a TCP
	# connection, SYN and data, with the client's DSCP (AF21: 0x48; ECN
	# is the upstream connection's own), and when the client marks its
	# socket EF midway, its later data leaves so marked (tos 0xb8)
	if command -v tcpdump >/dev/null; then
		fx timeout 10 python3 -c 'import socket
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.203.1.70", 9))
l.listen(1)
print("ready", flush=True)
c, _ = l.accept()
while c.recv(100):
    pass' >"$tmp/tos_tcp.out" 2>&1 &
		tos_tcp=$!
		# (UDP: the client asks up to three times, each answered)
		fx timeout 10 python3 -c 'import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("fd00:203:1::70", 9))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0xbb)
s.settimeout(8)
print("ready", flush=True)
for _ in range(3):
    d, peer = s.recvfrom(100)
    s.sendto(b"answer", peer)
    print("answered", peer[0], peer[1], flush=True)' >"$tmp/tos_srv.out" 2>&1 &
		tos_srv=$!
		sx sysctl -qw net.ipv6.conf.all.forwarding=1
		fx timeout 15 tcpdump -i "$vf" -n -v -l \
			'icmp[0] = 8 or (icmp6 and ip6[40] = 128) or (ip6 and udp dst port 9) or (tcp dst port 9 and tcp[tcpflags] & (tcp-push|tcp-syn) != 0)' \
			>"$tmp/tos.out" 2>"$tmp/tos.err" &
		tcpdump_pid=$!
		# the far namespace's kernel answers a ping with its class
		cx timeout 10 tcpdump -i "$tun" -n -v -l -c 2 \
			'icmp[0] = 0 or (icmp6 and ip6[40] = 129)' \
			>"$tmp/tos_rep.out" 2>"$tmp/tos_rep.err" &
		tcpdump_rep=$!
		for _ in $(seq 50); do
			grep -q 'listening on' "$tmp/tos.err" &&
			grep -q 'listening on' "$tmp/tos_rep.err" &&
			grep -q ready "$tmp/tos_srv.out" &&
			grep -q ready "$tmp/tos_tcp.out" && break
			sleep 0.1
		done
		cx ping -n -c 1 -W 2 -Q 0xb8 10.203.1.70 >/dev/null 2>&1
		cx ping -6 -n -c 1 -W 2 -Q 0xb8 fd00:203:1::70 >/dev/null 2>&1
		cx python3 -c 'import socket, struct
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0xba)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
s.settimeout(1.5)
for i in range(3):
    s.sendto(b"marked", ("fd00:203:1::70", 9))
    try:
        d, anc, _, _ = s.recvmsg(100, socket.CMSG_SPACE(4))
        break
    except socket.timeout:
        print("no answer in 1.5 s", flush=True)
print("answer class", " ".join("0x%02x" % struct.unpack("=i", v[:4])[0]
      for lv, ty, v in anc if ty == socket.IPV6_TCLASS))' >"$tmp/tos_cli.out" 2>&1
		cx python3 -c 'import socket, time
s = socket.socket()
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x4a)
s.settimeout(3)
s.connect(("10.203.1.70", 9))
s.sendall(b"marked")
time.sleep(0.2)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0xb8)
s.sendall(b"remarked")
time.sleep(0.2)
s.close()' >>"$tmp/tos_cli.out" 2>&1
		sleep 0.5 # what is still on its way
		kill -INT "$tcpdump_pid" "$tos_srv" 2>/dev/null
		wait "$tcpdump_pid"
		wait "$tcpdump_rep"
		wait "$tos_srv"
		wait "$tos_tcp"
		sx sysctl -qw net.ipv6.conf.all.forwarding=0
		tos_line=$(fresh_stats 'dgram tx')
		dscp_line=$(fresh_stats 'sockets open')
		if grep -q 'tos 0xb8.*ICMP' "$tmp/tos.out" &&
		   grep -Eq 'class 0xb8.*ICMP6|class 0xb8.*next-header ICMPv6' "$tmp/tos.out" &&
		   grep -Eq 'class 0xba.*(UDP|next-header UDP)' "$tmp/tos.out" &&
		   grep -q '^answer class 0xbb$' "$tmp/tos_cli.out" &&
		   grep -q 'tos 0xb8.*ICMP' "$tmp/tos_rep.out" &&
		   grep -Eq 'class 0xb8.*(ICMP6|next-header ICMPv6)' "$tmp/tos_rep.out" &&
		   grep -A1 'tos 0x48.*proto TCP' "$tmp/tos.out" | grep -q 'Flags \[S\]' &&
		   grep -A1 'tos 0x48.*proto TCP' "$tmp/tos.out" | grep -q 'Flags \[P' &&
		   grep -A1 'tos 0xb8.*proto TCP' "$tmp/tos.out" | grep -q 'Flags \[P' &&
		   ! grep -q 'dscp sets 0,' <<<"$dscp_line"; then
			pass "(fd) the traffic class goes through: ping -Q 0xb8 arrives with tos 0xb8 (IPv4) and class 0xb8 (IPv6) and its replies come back so marked, an IPv6 datagram with class 0xba (EF, ECT(0)) arrives so marked and its answer sent with 0xbb (EF, CE) reaches the client so marked, a TCP connection from a client with 0x4a leaves with DSCP AF21, tos 0x48, SYN and data, and its data after the client's switch to EF with tos 0xb8 (${tos_line##*, }, $(grep -o 'dscp sets [0-9]*' <<<"$dscp_line"))"
		else
			fail "(fd) the traffic class goes through (DSCP, ECN)" \
				"$(tr '\n' ';' <"$tmp/tos.out") $(tr '\n' ';' <"$tmp/tos.err") replies: $(tr '\n' ';' <"$tmp/tos_rep.out") client: $(tr '\n' ';' <"$tmp/tos_cli.out") server: $(tr '\n' ';' <"$tmp/tos_srv.out") $(tr '\n' ';' <"$tmp/tos_tcp.out") stats: $tos_line $dscp_line"
		fi
	else
		skip "(fd) the client's traffic class upstream" "tcpdump is not installed (make deps)"
	fi
	sx ip route del unreachable 10.203.1.66/32
	sx sysctl -qw net.ipv4.ip_forward=0
	ptr=$(cx dig +short +tries=1 +time=2 @198.18.0.2 -x "$a1" 2>&1)
	if [ "$ptr" = "web.e2e.test." ]; then
		pass "(fd) dig -x $a1: $ptr"
	else
		fail "(fd) a reverse lookup of a fake address gives its name" "'$ptr'"
	fi
	rm -f "$tmp/got"
	if cx curl -6 -sS --max-time 20 -o "$tmp/got" http://web6.e2e.test:8000/blob \
		2>"$tmp/curl.err" &&
	   [ "$(sha256sum <"$tmp/got" | cut -d' ' -f1)" = "$want" ]; then
		pass "(fd) curl -6 by name to a fake IPv6 address, through danted to an IPv6 server, sha256"
	else
		fail "(fd) curl -6 by name through a fake IPv6 address" "$(head -c 200 "$tmp/curl.err")"
	fi
	blocked=$(cx dig +tries=1 +time=2 @198.18.0.2 ads.blocked.e2e.test A 2>&1)
	if echo "$blocked" | grep -q 'status: NXDOMAIN'; then
		pass "(fd) a name a drop rule takes (domain blocked.e2e.test) does not exist: NXDOMAIN"
	else
		fail "(fd) a blocked name gets NXDOMAIN" "$(echo "$blocked" | grep status)"
	fi
	a3=$(cx dig +short +tries=1 +time=2 @198.18.0.2 www.direct.e2e.test A 2>&1)
	if [ "$a3" = "10.203.1.3" ]; then
		pass "(fd) a name the rules send direct is forwarded to dnsmasq (--fake-dns-upstream): $a3"
	else
		fail "(fd) a direct name gets its real address from the upstream resolver" "'$a3'"
	fi
	a5=$(cx dig +tcp +short +tries=1 +time=3 @198.18.0.2 www.direct.e2e.test A 2>&1)
	if [ "$a5" = "10.203.1.3" ]; then
		pass "(fd) dig +tcp: a direct name forwarded to dnsmasq over TCP: $a5"
	else
		fail "(fd) DNS over TCP forwards a direct name to the upstream" "'$a5'"
	fi
	# no EDNS (as glibc's stub asks): dnsmasq's 800-byte TXT answer comes
	# truncated over UDP, and dig asks again over TCP, as RFC 7766 says
	cx dig +noedns +tries=1 +time=3 @198.18.0.2 big.txt.test TXT >"$tmp/dig.out" 2>&1
	line=$(fresh_stats dns-tcp)
	answers=$(echo "$line" | sed -n 's/.* answers \([0-9]*\).*/\1/p')
	if grep -q 'Truncated, retrying in TCP' "$tmp/dig.out" &&
	   grep -q 'status: NOERROR' "$tmp/dig.out" &&
	   grep -q '"aaaa.*" "bbbb.*" "cccc.*"' "$tmp/dig.out" &&
	   [ "${answers:-0}" -ge 2 ]; then
		pass "(fd) a truncated UDP answer asked again over TCP gets the whole TXT record from dnsmasq ($line)"
	else
		fail "(fd) a TC answer's retry over TCP gets the whole answer" \
			"$(grep -E '^;;|status|TXT' "$tmp/dig.out" | head -6 | tr '\n' ' ') / '$line'"
	fi
	via=direct fetch "(fd) curl http://www.direct.e2e.test:8000/blob goes direct by its name, sha256" \
		http://www.direct.e2e.test:8000/blob
	via=socks5 fetch "(fd) curl http://web.e2e.test:8000/blob by name through danted, sha256" \
		http://web.e2e.test:8000/blob
	n0=$(stats_flows http)
	gwant=$(python3 "$helper" gen 5 300000 | sha256sum | cut -d' ' -f1)
	got=$(cx curl -sS --max-time 20 http://web.e2e.test:8001/gen/5/300000 2>"$tmp/curl.err" |
		sha256sum | cut -d' ' -f1)
	n1=$(stats_flows http)
	if [ "$got" = "$gwant" ] && [ -n "$n0" ] && [ "${n1:-0}" -gt "$n0" ]; then
		pass "(fd) curl http://web.e2e.test:8001/ by name through tinyproxy (HTTP CONNECT), sha256"
	else
		fail "(fd) curl by name through tinyproxy" \
			"sha256 ${got:0:12} want ${gwant:0:12}, http flows '$n0' -> '$n1': $(head -c 200 "$tmp/curl.err")"
	fi
	fails_fast "(fd) a fake address given to no name is refused" http://198.18.200.1:8000/blob
	ans=$(cx dig +short +tries=1 +time=3 @dns.e2e.test e2e.test A 2>&1)
	if [ "$ans" = "10.9.8.7" ]; then
		pass "(fd) UDP to a fake address by name through danted's UDP ASSOCIATE (dig @dns.e2e.test -> dnsmasq)"
	else
		fail "(fd) UDP by name through danted's UDP ASSOCIATE" "dig said '$ans'"
	fi
	line=$(fresh_stats 'fake dns')
	lookups=$(echo "$line" | sed -n 's/.*lookups \([0-9]*\).*/\1/p')
	refused=$(echo "$line" | sed -n 's/.*refused \([0-9]*\).*/\1/p')
	if [ "${lookups:-0}" -ge 3 ] && [ "${refused:-0}" -ge 1 ]; then
		pass "(fd) stats: $lookups flows by name, $refused refused"
	else
		fail "(fd) stats count flows by name and refusals" "'$line'"
	fi
	stop_ztun
else
	own_routes=
	fail "(fd) ztun-ref --fake-dns starts"
	stop_ztun
fi
rm -f "/etc/netns/$cns/resolv.conf"

# (fe) a --fake-dns-upstream nothing answers at (a closed port): the
# kernel's port unreachable about the forwarded query reaches the client
# as one from the --fake-dns address, so dig reports "connection
# refused" at once instead of timing out.
own_routes="^198\.18\.0\.0/15 dev $tun proto 122 "
if start_ztun -x socks5://10.203.0.2:1080 \
		--fake-dns 198.18.0.2 --fake-dns-upstream 10.203.1.1:5599 \
		--rule 'any domain direct.e2e.test -> direct'; then
	own_routes=
	out=$(cx dig +tries=1 +time=5 @198.18.0.2 www.direct.e2e.test A 2>&1)
	if echo "$out" | grep -q 'connection refused'; then
		pass "(fe) a --fake-dns-upstream that cannot be reached fails the query at once (port unreachable)"
	else
		fail "(fe) an unreachable --fake-dns-upstream fails the query at once" \
			"$(echo "$out" | grep '^;;' | head -3 | tr '\n' ' ')"
	fi
	stop_ztun
else
	own_routes=
	fail "(fe) ztun-ref --fake-dns with an unreachable upstream starts"
	stop_ztun
fi

# --- --auto-route (r, s, t) ------------------------------------------------
# Nothing routes the targets into the TUN but ztun-ref's own split routes.
# The SOCKS5 proxy is danted on 10.203.1.9, behind the default gateway: were
# it not excluded by its host route, the proxy connection itself would
# enter the TUN and loop. 10.203.1.3 goes direct, bound to $vc.

# start_auto ARGS...: ztun-ref --auto-route ARGS, until it runs.
start_auto() {
	: >"$tmp/ztun.log"
	ip netns exec "$cns" "$bin" -n "$tun" --auto-route "$@" 2>"$tmp/ztun.log" &
	ztun_pid=$!
	for _ in $(seq 50); do
		grep -q '; running$' "$tmp/ztun.log" && return 0
		kill -0 "$ztun_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# ours_left: the routes of ztun-ref's protocol (122) still in any table.
ours_left() {
	{ cx ip -4 route show table all proto 122; cx ip -6 route show table all proto 122; } |
		tr '\n' ';'
}

# auto_routes_there: split routes (v4 and v6) and the proxy's exclusion.
auto_routes_there() {
	local r4 r6 w
	r4=$(cx ip -4 route show proto 122)
	r6=$(cx ip -6 route show proto 122)
	for w in "0.0.0.0/1 dev $tun " "128.0.0.0/1 dev $tun " \
		 "10.203.1.9 via 10.203.0.2 dev $vc "; do
		grep -q "^$w" <<<"$r4" || return 1
	done
	for w in "::/1 dev $tun " "8000::/1 dev $tun "; do
		grep -q "^$w" <<<"$r6" || return 1
	done
}

auto_args=(-x socks5://10.203.1.9:1080 --rule 'tcp 10.203.1.3 -> direct'
	   --tun-ip6 fd00:204::1/64)
wait_tun_gone
base=$(routes_now)
# the client namespace's resolvers (ip netns exec mounts it over
# /etc/resolv.conf): one on the veth's link, one routed into the TUN by
# the split routes, one on this machine
printf 'nameserver 10.203.0.2\nnameserver 10.203.1.1\nnameserver 127.0.0.53\n' \
	>"/etc/netns/$cns/resolv.conf"
if start_auto "${auto_args[@]}"; then
	# (r) routes, state file, traffic through the TUN without loops
	if auto_routes_there && grep -qx "pid $ztun_pid" "$statefile"; then
		pass "(r) --auto-route: split routes into $tun, proxy 10.203.1.9 pinned via the gateway, $statefile"
	else
		fail "(r) --auto-route: routes and state file" \
			"routes: $(ours_left) file: $(tr '\n' ';' <"$statefile" 2>&1)"
	fi
	# (r) DNS leaks named: the on-link and the local nameserver, not the
	# one that goes into the TUN
	if grep -q "warn: auto-route: nameserver 10.203.0.2 (/etc/resolv.conf) is reached through $vc, not $tun" "$tmp/ztun.log" &&
	   grep -q "warn: auto-route: nameserver 127.0.0.53 (/etc/resolv.conf) is a resolver on this machine" "$tmp/ztun.log" &&
	   grep -q "info: auto-route: nameserver 10.203.1.1 goes through $tun" "$tmp/ztun.log" &&
	   ! grep -q "warn: auto-route: nameserver 10.203.1.1" "$tmp/ztun.log"; then
		pass "(r) --auto-route: DNS leaks named: nameserver 10.203.0.2 via $vc and 127.0.0.53 (local); 10.203.1.1 via $tun"
	else
		fail "(r) --auto-route: nameservers around the TUN are warned about" \
			"$(grep 'nameserver' "$tmp/ztun.log" | tr '\n' ';')"
	fi
	via=socks5 fetch "(r) --auto-route: 1 MiB over SOCKS5 (off-link proxy), sha256" \
		http://10.203.1.1:8000/blob
	via=direct fetch "(r) --auto-route: 1 MiB over direct egress (bound to $vc), sha256" \
		http://10.203.1.3:8000/blob
	via=socks5 fetch "(r) --auto-route: 1 MiB from an IPv6 target (::/1), sha256" \
		'http://[fd00:203:1::1]:8000/blob' -g
	# (s) SIGTERM: routes and state file gone, the tables as before; a
	# storm of SIGUSR1 and SIGHUP (a script polling statistics) during
	# the exit neither kills the process by their default action nor
	# cuts the route removal short
	kill -TERM "$ztun_pid"
	( while kill -USR1 "$ztun_pid" 2>/dev/null &&
		kill -HUP "$ztun_pid" 2>/dev/null; do :; done ) &
	wait "$ztun_pid"
	stop_rc=$?
	wait $!
	ztun_pid=
	wait_tun_gone
	if [ "$stop_rc" = 0 ] && [ -z "$(ours_left)" ] && [ ! -e "$statefile" ] &&
	   [ "$(routes_now)" = "$base" ]; then
		pass "(s) --auto-route, SIGTERM with SIGUSR1 and SIGHUP during the exit: exit 0, routes and state file removed"
	else
		fail "(s) --auto-route, SIGTERM: exit 0, routes and state file removed" \
			"exit $stop_rc; left: $(ours_left); file: $(ls "$statefile" 2>&1); diff: $(diff <(echo "$base") <(routes_now) | grep '^[<>]' | tr '\n' ';')"
	fi
else
	fail "(r) ztun-ref --auto-route starts"
fi

# (t) SIGKILL leaves the exclusion route and the state file (here in
# --state-dir); the next start removes them, and its SIGTERM leaves nothing
if start_auto "${auto_args[@]}" --state-dir "$tmp/state"; then
	old=$ztun_pid
	kill_ztun
	wait_tun_gone
	if cx ip -4 route show proto 122 | grep -q "^10.203.1.9 via 10.203.0.2 dev $vc " &&
	   grep -qx "pid $old" "$tmp/state/$tun.routes"; then
		pass "(t) --auto-route, SIGKILL: the exclusion route and the state file stay"
	else
		fail "(t) --auto-route, SIGKILL: the exclusion route and the state file stay" \
			"routes: $(ours_left) file: $(ls "$tmp/state" 2>&1)"
	fi
	if start_auto "${auto_args[@]}" --state-dir "$tmp/state" &&
	   grep -q "warn: cleaned up routes left by a previous run (pid $old)" "$tmp/ztun.log" &&
	   auto_routes_there && grep -qx "pid $ztun_pid" "$tmp/state/$tun.routes"; then
		pass "(t) the next start cleans up after pid $old and routes again"
		via=socks5 fetch "(t) after the cleanup: 1 MiB over SOCKS5, sha256" \
			http://10.203.1.1:8000/blob
	else
		fail "(t) the next start cleans up after the killed run"
	fi
	stop_ztun
	wait_tun_gone
	if [ "$stop_rc" = 0 ] && [ -z "$(ours_left)" ] &&
	   [ ! -e "$tmp/state/$tun.routes" ] && [ "$(routes_now)" = "$base" ]; then
		pass "(t) then SIGTERM: exit 0, nothing left"
	else
		fail "(t) then SIGTERM: exit 0, nothing left" \
			"exit $stop_rc; left: $(ours_left); files: $(ls "$tmp/state" 2>&1)"
	fi
else
	fail "(t) ztun-ref --auto-route --state-dir starts"
fi

# (an) A ztun-ref started through a symbolic link of another name (its
# /proc/PID/comm is "zt-vpn", not "ztun-ref") is alive all the same: its
# state file names it by pid, start time and boot id, and a second start
# on its -n refuses before it touches the device, the routes or the file.
# The device is a --multi-queue one set down: the kernel would give a
# second queue to anyone, and a device down has no carrier to tell that
# it is in use, so the state file is what says so. (A run of another
# name used to be taken for dead: the second start attached to its
# device, took its routes over and removed them at its exit.)
an_args=(-x socks5://10.203.1.9:1080 --state-dir "$tmp/an" --multi-queue)
ln -sf "$(readlink -f "$bin")" "$tmp/zt-vpn"
wait_tun_gone
base=$(routes_now)
if bin=$tmp/zt-vpn start_auto "${an_args[@]}"; then
	first=$ztun_pid
	an_file=$tmp/an/$tun.routes
	started=$(sed 's/.*) //' "/proc/$first/stat" | cut -d' ' -f20)
	if [ "$(cat "/proc/$first/comm")" = zt-vpn ] &&
	   grep -qx "pid $first" "$an_file" && grep -qx "start $started" "$an_file" &&
	   grep -qx "boot $(cat /proc/sys/kernel/random/boot_id)" "$an_file"; then
		pass "(an) started as zt-vpn: the state file names pid $first, its start time and the boot"
	else
		fail "(an) the state file names the run by pid, start time and boot" \
			"comm $(cat "/proc/$first/comm"); file: $(tr '\n' ';' <"$an_file" 2>&1)"
	fi
	cp "$an_file" "$tmp/an.before"
	cx ip link set "$tun" down
	# another address: one that attached would remove the first's
	cx timeout 5 "$bin" -n "$tun" --auto-route "${an_args[@]}" -i 10.207.9.1 \
		>/dev/null 2>"$tmp/an2.err"
	got=$?
	if [ "$got" = 1 ] &&
	   grep -q "belongs to ztun-ref pid $first, which is still running" "$tmp/an2.err" &&
	   kill -0 "$first" && cmp -s "$an_file" "$tmp/an.before" &&
	   cx ip -4 route show proto 122 | grep -q "^10.203.1.9 via 10.203.0.2 dev $vc " &&
	   cx ip -d link show "$tun" | grep -q 'numqueues 1 ' &&
	   ! cx ip link show "$tun" | grep -q '[<,]UP[,>]' &&
	   cx ip -4 addr show dev "$tun" | grep -q 'inet 10.0.0.1/24 '; then
		pass "(an) a second start on $tun refuses (exit 1): pid $first runs, its device (down, its address), routes and state file untouched"
	else
		fail "(an) a second start on the device of a run named zt-vpn refuses, touching nothing" \
			"exit $got: $(grep -E 'error|auto-route' "$tmp/an2.err" | head -c 300 | tr '\n' ';'); file: $(tr '\n' ';' <"$an_file" 2>&1); routes: $(ours_left); device: $(cx ip -br addr show dev "$tun" 2>&1)"
	fi
	cx ip link set "$tun" up
	stop_ztun
	if wait_tun_gone && [ "$stop_rc" = 0 ] && [ -z "$(ours_left)" ] &&
	   [ -z "$(ls -A "$tmp/an")" ] && [ "$(routes_now)" = "$base" ]; then
		pass "(an) then SIGTERM of pid $first: exit 0, nothing left"
	else
		fail "(an) then SIGTERM: exit 0, nothing left" \
			"exit $stop_rc; left: $(ours_left); files: $(ls -A "$tmp/an" 2>&1)"
	fi
else
	fail "(an) ztun-ref --auto-route started as zt-vpn starts" "$(tail -n 3 "$tmp/ztun.log" | tr '\n' ';')"
	stop_ztun
fi
rm -f "$tmp/zt-vpn"

# (hr) --auto-route with a proxy given by name that a SIGHUP finds at
# another address: the on-link 10.203.0.2 at start, then 10.203.1.9,
# which the split routes would take into the TUN, gets its host route
# through the egress's gateway (danted answers on both), listed in the
# state file. The old address keeps its host route while a flow opened
# before the move is open through it, and gives it up (route and state
# file line) once that flow ended; SIGTERM removes the new one.
hr=proxyr.zt-e2e.invalid
printf '10.203.0.2 %s\n' "$hr" >"/etc/netns/$cns/hosts"
wait_tun_gone
base=$(routes_now)
if ! command -v socat >/dev/null 2>&1; then
	skip "(hr) --auto-route, SIGHUP: the proxy's old and new host routes" "socat is not installed"
elif start_auto -x "socks5://$hr:1080" --tun-ip6 fd00:204::1/64; then
	# a flow through the proxy at its old address, held open: socat
	# sends what the fifo gives, and the fifo stays open until fd 7 closes
	rm -f "$tmp/hold"
	mkfifo "$tmp/hold"
	cx socat -u OPEN:"$tmp/hold" TCP:10.203.1.1:7000 >/dev/null 2>&1 &
	hold_pid=$!
	exec 7>"$tmp/hold"
	for _ in $(seq 30); do
		cx ss -Htn state established dst 10.203.1.1 | grep -q ':7000' && break
		sleep 0.1
	done
	rehost "$hr" 10.203.1.9
	if wait_log "SIGHUP: SOCKS5 proxy $hr is now at 10.203.1.9 (was 10.203.0.2)" &&
	   grep -q "info: auto-route: added 10.203.1.9/32 via 10.203.0.2 dev $vc" "$tmp/ztun.log" &&
	   cx ip -4 route show proto 122 | grep -q "^10.203.1.9 via 10.203.0.2 dev $vc " &&
	   grep -q "10.203.1.9/32 via 10.203.0.2 dev $vc" "$statefile"; then
		pass "(hr) --auto-route, SIGHUP: the proxy's new address 10.203.1.9 pinned via the gateway, in $statefile"
		via=socks5 fetch "(hr) --auto-route: 1 MiB over SOCKS5 at the new address (no loop), sha256" \
			http://10.203.1.1:8000/blob
	else
		fail "(hr) --auto-route, SIGHUP: the proxy's new address pinned" \
			"$(grep -E 'SIGHUP|auto-route: added' "$tmp/ztun.log" | tr '\n' ';') routes: $(ours_left)"
	fi
	sleep 1.5 # a tick or more: the flow still open keeps the old route
	if cx ip -4 route show proto 122 | grep -q "^10.203.0.2 " &&
	   grep -q "10.203.0.2/32" "$statefile" &&
	   cx ss -Htn state established dst 10.203.1.1 | grep -q ':7000'; then
		pass "(hr) the old address 10.203.0.2 keeps its host route while a flow opened before the move is open through it"
	else
		fail "(hr) the old address keeps its host route while a flow goes there" \
			"routes: $(ours_left) file: $(tr '\n' ';' <"$statefile")"
	fi
	exec 7>&- # EOF: the flow ends
	wait "$hold_pid"
	if wait_log "info: auto-route: removed 10.203.0.2/32" 40 &&
	   ! cx ip -4 route show proto 122 | grep -q "^10.203.0.2 " &&
	   ! grep -q "10.203.0.2/32" "$statefile" &&
	   grep -q "10.203.1.9/32" "$statefile"; then
		pass "(hr) once that flow ended: the old address's host route removed, and dropped from the state file"
	else
		fail "(hr) once the flow ended, the old address's host route goes" \
			"$(grep -E 'auto-route' "$tmp/ztun.log" | tr '\n' ';') routes: $(ours_left) file: $(tr '\n' ';' <"$statefile")"
	fi
	stop_ztun
	wait_tun_gone
	if [ "$stop_rc" = 0 ] && [ -z "$(ours_left)" ] && [ ! -e "$statefile" ] &&
	   [ "$(routes_now)" = "$base" ]; then
		pass "(hr) then SIGTERM: the host route and the state file removed"
	else
		fail "(hr) then SIGTERM: nothing left" \
			"exit $stop_rc; left: $(ours_left); file: $(ls "$statefile" 2>&1)"
	fi
else
	fail "(hr) ztun-ref --auto-route with a proxy given by name starts" "$(head -c 300 "$tmp/ztun.log")"
	stop_ztun
fi
rm -f "/etc/netns/$cns/hosts" "$tmp/hold"

# (w) a split route that is there already (another VPN): the start fails
# with exit 1 and takes back the routes it had added and its state file
wait_tun_gone
cx ip route add 128.0.0.0/1 via 10.203.0.2 dev "$vc"
base=$(routes_now)
: >"$tmp/ztun.log"
ip netns exec "$cns" timeout -s TERM 10 "$bin" -n "$tun" --auto-route "${auto_args[@]}" \
	2>"$tmp/ztun.log"
rc=$?
wait_tun_gone
if [ "$rc" = 1 ] && grep -q 'error: --auto-route: a route 128.0.0.0/1 exists already' "$tmp/ztun.log" &&
   [ -z "$(ours_left)" ] && [ ! -e "$statefile" ] && [ "$(routes_now)" = "$base" ]; then
	pass "(w) --auto-route with 128.0.0.0/1 taken: exit 1, nothing left behind"
else
	fail "(w) --auto-route with 128.0.0.0/1 taken: exit 1, nothing left behind" \
		"exit $rc; left: $(ours_left); file: $(ls "$statefile" 2>&1)"
fi
cx ip route del 128.0.0.0/1 via 10.203.0.2 dev "$vc"

# (wn) a proxy with no route at all at start (no default route, -e
# given): nothing to pin, and the split routes would take the proxy
# connection into the TUN, where ztun-ref proxies it again, and again
# (thousands of flows a second): exit 1, nothing left behind
wait_tun_gone
cx ip route del default via 10.203.0.2 dev "$vc"
base=$(routes_now)
: >"$tmp/ztun.log"
ip netns exec "$cns" timeout -s TERM 10 "$bin" -n "$tun" --auto-route -e "$vc" \
	-x socks5://10.203.1.9:1080 --state-dir "$tmp/wn" 2>"$tmp/ztun.log"
rc=$?
wait_tun_gone
if [ "$rc" = 1 ] &&
   grep -q "error: --auto-route: no route to proxy 10.203.1.9 now (Network is unreachable): the routes into $tun would take its connection there, a loop" "$tmp/ztun.log" &&
   [ -z "$(ours_left)" ] && [ -z "$(ls -A "$tmp/wn" 2>/dev/null)" ] &&
   [ "$(routes_now)" = "$base" ]; then
	pass "(wn) --auto-route with no route to the proxy: exit 1, nothing left behind"
else
	fail "(wn) --auto-route with no route to the proxy: exit 1, nothing left behind" \
		"exit $rc; $(grep -E 'proxy|auto-route' "$tmp/ztun.log" | head -n 3 | tr '\n' ';') left: $(ours_left)"
fi
cx ip route add default via 10.203.0.2 dev "$vc"

# --- --kill-switch (ks) -------------------------------------------------------
# Without --tun-ip6, so that IPv6 is covered by the kill switch alone. A
# SIGKILL leaves the TUN (persistent) and its routes: the targets, which
# the default gateway reaches, get nothing - without the flag the same
# curl succeeds around the TUN (the leak). A proxy given by name cannot be
# resolved then (the query goes into the dead device): exit 1 naming it.
# The next start keeps the routes
# it finds through the device instead of deleting and adding them again;
# its SIGTERM lifts the kill switch: device, routes and file gone.

# leaks URL [CURL ARGS]: whether a curl from the client namespace gets
# the 1 MiB blob (it may only through ztun-ref's TUN).
leaks() {
	local url=$1
	shift
	cx curl -sS --max-time 3 "$@" -o "$tmp/got" "$url" 2>/dev/null &&
		[ "$(sha256sum <"$tmp/got" | cut -d' ' -f1)" = "$want" ]
}

# restart_lifts TAG DIR WHAT CHECK ARGS...: after the killed
# --kill-switch run $old (its state file in DIR), a start with ARGS keeps
# its split routes (none added anew), passes CHECK (a command: WHAT it
# checks) and carries traffic; its SIGTERM lifts the kill switch: exit 0,
# the TUN, our routes and the state file gone, the tables as in $base, a
# target reached directly again.
restart_lifts() {
	local tag=$1 dir=$2 what=$3 check=$4
	shift 4
	if start_auto "$@" && grep -q "taking over its routes" "$tmp/ztun.log" &&
	   grep -q "info: auto-route: kept 0.0.0.0/1 dev $tun of pid $old" "$tmp/ztun.log" &&
	   ! grep -q "added 0.0.0.0/1" "$tmp/ztun.log" && "$check"; then
		pass "($tag) the next start takes pid $old's routes over (no moment without them): $what"
		via=socks5 fetch "($tag) after the restart: 1 MiB over SOCKS5, sha256" \
			http://10.203.1.1:8000/blob
	else
		fail "($tag) the next start takes the killed run's routes over: $what" \
			"$(grep -E 'auto-route|kill|error' "$tmp/ztun.log" | tr '\n' ';'); routes: $(ours_left)"
	fi
	stop_ztun
	if wait_tun_gone && [ "$stop_rc" = 0 ] && [ -z "$(ours_left)" ] &&
	   [ -z "$(ls -A "$dir")" ] && [ "$(routes_now)" = "$base" ] &&
	   leaks http://10.203.1.1:8000/blob; then
		pass "($tag) SIGTERM lifts the kill switch: exit 0, $tun, routes and state file gone, the target reachable again"
	else
		fail "($tag) SIGTERM lifts the kill switch" \
			"exit $stop_rc; device: $(cx ip -br link show "$tun" 2>&1); left: $(ours_left); files: $(ls -A "$dir" 2>&1)"
	fi
}

# The checks of restart_lifts: (ks) the IPv6 split routes kept too; (kf)
# the proxy's host route kept too; (ko) the moved proxy pinned, the old
# one's pin gone.
ks_took_over() {
	grep -q "info: auto-route: kept 8000::/1 dev $tun of pid $old" "$tmp/ztun.log" &&
		auto_routes_there
}
kf_took_over() {
	grep -q "info: auto-route: kept 10.203.1.9/32 via 10.203.0.2 dev $vc of pid $old" "$tmp/ztun.log" &&
		auto_routes_there
}
ko_took_over() {
	cx ip -4 route show proto 122 | grep -q "^10.203.1.9 via 10.203.0.2 dev $vc " &&
		! cx ip -4 route show proto 122 | grep -q "^10.203.1.1 "
}

ks_args=(-x socks5://10.203.1.9:1080 --rule 'tcp 10.203.1.3 -> direct'
	 --state-dir "$tmp/ks" --kill-switch)
wait_tun_gone
base=$(routes_now)
if start_auto "${ks_args[@]}"; then
	old=$ztun_pid
	if auto_routes_there && grep -q "info: kill switch: $tun is persistent" "$tmp/ztun.log"; then
		pass "(ks) --kill-switch: split routes for IPv4 and IPv6 (no --tun-ip6), $tun persistent"
	else
		fail "(ks) --kill-switch: split routes for IPv4 and IPv6, device persistent" \
			"routes: $(ours_left); log: $(grep -c 'kill switch' "$tmp/ztun.log") kill switch lines"
	fi
	via=socks5 fetch "(ks) --kill-switch: 1 MiB from an IPv6 target through the TUN without --tun-ip6, sha256" \
		'http://[fd00:203:1::1]:8000/blob' -g
	kill_ztun
	sleep 0.2
	if cx ip link show "$tun" >/dev/null 2>&1 && auto_routes_there &&
	   ! leaks http://10.203.1.1:8000/blob && ! leaks 'http://[fd00:203:1::1]:8000/blob' -g; then
		pass "(ks) after SIGKILL: $tun and its routes stay, nothing reaches the targets (IPv4, IPv6)"
	else
		fail "(ks) after SIGKILL nothing leaks" \
			"device: $(cx ip -br link show "$tun" 2>&1); routes: $(ours_left)"
	fi
	# a proxy given by name cannot be resolved while those routes lead
	# into the dead device (the query goes nowhere): exit 1, saying why
	RES_OPTIONS="timeout:1 attempts:1" cx timeout 30 "$bin" -n "$tun" \
		-x socks5://proxy-gone.e2e.test:1080 --auto-route \
		--state-dir "$tmp/ks" --kill-switch 2>"$tmp/ks-name.log"
	rc=$?
	if [ "$rc" = 1 ] && grep -q "cannot resolve the SOCKS5 proxy's host 'proxy-gone.e2e.test'" "$tmp/ks-name.log" &&
	   grep -q "$tun exists (left by a --kill-switch run?)" "$tmp/ks-name.log" &&
	   auto_routes_there; then
		pass "(ks) a proxy name unresolvable behind the dead device: exit 1, naming the device left behind"
	else
		fail "(ks) a proxy name behind the dead device" \
			"exit $rc; log: $(head -c 400 "$tmp/ks-name.log")"
	fi
	restart_lifts ks "$tmp/ks" "IPv4 and IPv6 split routes kept" ks_took_over \
		"${ks_args[@]}"
else
	fail "(ks) ztun-ref --auto-route --kill-switch starts" "$(tail -n 3 "$tmp/ztun.log" | tr '\n' ';')"
fi

# (ko) a start that takes over the routes of a killed --kill-switch run
# whose proxy moved since (-x edited from 10.203.1.1 to 10.203.1.9, or a
# name's address changed): the split routes it keeps take 10.203.1.9
# into $tun, so its route is asked of the egress, as on a SIGHUP. The
# start succeeds, keeps the split routes (no moment without them: before,
# it failed "routed into $tun itself" and lifted the kill switch, a
# leak), pins 10.203.1.9 and removes the old proxy's host route.
ko_args=(--state-dir "$tmp/ko" --kill-switch)
wait_tun_gone
base=$(routes_now)
if start_auto -x socks5://10.203.1.1:1080 "${ko_args[@]}"; then
	old=$ztun_pid
	kill_ztun
	restart_lifts ko "$tmp/ko" "with a moved proxy: split routes kept, new proxy pinned, old pin gone" \
		ko_took_over -x socks5://10.203.1.9:1080 "${ko_args[@]}"
else
	fail "(ko) ztun-ref --auto-route --kill-switch starts" "$(tail -n 3 "$tmp/ztun.log" | tr '\n' ';')"
fi
cx ip -4 route flush proto 122 2>/dev/null
cx ip link del "$tun" 2>/dev/null

# (kd) a restart with other addresses (-i, -p, --tun-ip6) than the killed
# --kill-switch run gave: that run's addresses (tagged proto 122 by
# ztun-ref) go from the device before the new ones are added, and with
# them their connected routes (10.207.0.0/24 routed into $tun no more);
# an address someone else put there (10.208.0.1/24, as on a device an
# admin made) stays. Before, the old addresses stayed next to the new
# ones, piling up at each such restart.
kd_args=(-x socks5://10.203.1.9:1080 --state-dir "$tmp/kd" --kill-switch)
kd_addrs() {
	local v4 v6
	v4=$(cx ip -4 -o addr show dev "$tun" | awk '{print $4}' | sort | tr '\n' ' ')
	v6=$(cx ip -6 -o addr show dev "$tun" scope global | awk '{print $4}' | sort | tr '\n' ' ')
	[ "$v4" = "10.207.1.1/24 10.208.0.1/24 " ] && [ "$v6" = "fd00:207:1::1/64 " ] &&
		! cx ip -4 route show dev "$tun" | grep -q "^10.207.0.0/24 " &&
		grep -q "info: TUN $tun: removed 10.207.0.1/24, added by a run that died" "$tmp/ztun.log" &&
		grep -q "info: TUN $tun: removed fd00:207::1/64, added by a run that died" "$tmp/ztun.log" &&
		auto_routes_there ||
		{ echo "addresses on $tun: $v4/ $v6" >&2; false; }
}
wait_tun_gone
base=$(routes_now)
if start_auto -i 10.207.0.1 -p 24 --tun-ip6 fd00:207::1/64 "${kd_args[@]}"; then
	old=$ztun_pid
	kill_ztun
	sleep 0.2
	cx ip addr add 10.208.0.1/24 dev "$tun"
	restart_lifts kd "$tmp/kd" "the dead run's addresses replaced, someone else's kept" \
		kd_addrs -i 10.207.1.1 -p 24 --tun-ip6 fd00:207:1::1/64 "${kd_args[@]}"
else
	fail "(kd) ztun-ref --auto-route --kill-switch -i 10.207.0.1 starts" "$(tail -n 3 "$tmp/ztun.log" | tr '\n' ';')"
fi
cx ip -4 route flush proto 122 2>/dev/null
cx ip link del "$tun" 2>/dev/null

# (kf) a start that fails after attaching to the device a killed
# --kill-switch run left leaves the kill switch as it found it: exit 1
# with `kill switch kept: ...`, the device persistent, its split routes
# and the proxy's host route in place, the state file the dead run's
# (for the next start to take over), and a target the default gateway
# reaches routed into the device, not reached. Before, the failure
# deleted the routes it had taken over and let the device go: traffic
# leaked around the TUN. It fails three ways: -e naming no interface
# (before --auto-route), and --fake-dns at an IPv6 address with IPv6
# disabled on the device (after --auto-route took the routes over),
# with --kill-switch and without. A first start with --kill-switch that
# fails leaves nothing, as before. Then a start takes the routes over,
# and its SIGTERM lifts the kill switch.
kf_args=(-x socks5://10.203.1.9:1080 --state-dir "$tmp/kf")
noif=zkn$id

# kf_start ARGS...: ztun-ref --auto-route, expected to fail; its log in
# $tmp/kf.log, its exit status in $rc.
kf_start() {
	cx timeout -s TERM 10 "$bin" -n "$tun" --auto-route "${kf_args[@]}" "$@" \
		2>"$tmp/kf.log"
	rc=$?
}

# kf_kept LABEL ERROR [v6] [leak]: after a failed start ($rc, its log
# naming ERROR), the kill switch of pid $old is as it was: with v6 its
# IPv6 split routes too; with leak, a curl to a target gets nothing.
kf_kept() {
	local flags r4 why="" w
	flags=$(cx cat "/sys/class/net/$tun/tun_flags" 2>/dev/null)
	r4=$(cx ip -4 route show proto 122)
	[ "$rc" = 1 ] || why="$why exit $rc;"
	grep -q "error: $2" "$tmp/kf.log" || why="$why no 'error: $2';"
	grep -q "warn: kill switch kept: $tun stays, traffic routed into it is dropped until a run starts or \`ip link del $tun\`" \
		"$tmp/kf.log" || why="$why no 'kill switch kept' line;"
	[ -n "$flags" ] && (( flags & 0x800 )) ||
		why="$why $tun not persistent (tun_flags '$flags');"
	for w in "0.0.0.0/1 dev $tun " "128.0.0.0/1 dev $tun " \
		 "10.203.1.9 via 10.203.0.2 dev $vc "; do
		grep -q "^$w" <<<"$r4" || why="$why no route $w;"
	done
	if [ "$3" = v6 ]; then
		for w in "::/1 dev $tun " "8000::/1 dev $tun "; do
			cx ip -6 route show proto 122 | grep -q "^$w" ||
				why="$why no route $w;"
		done
	fi
	grep -qx "pid $old" "$tmp/kf/$tun.routes" 2>/dev/null &&
	   grep -qx "route 0.0.0.0/1 dev $tun" "$tmp/kf/$tun.routes" &&
	   grep -qx "route 10.203.1.9/32 via 10.203.0.2 dev $vc" "$tmp/kf/$tun.routes" ||
		why="$why state file: $(tr '\n' ';' <"$tmp/kf/$tun.routes" 2>&1);"
	cx ip route get 10.203.1.1 | grep -q " dev $tun " ||
		why="$why 10.203.1.1 not routed into $tun;"
	if [ "$4" = leak ] && leaks http://10.203.1.1:8000/blob; then
		why="$why 10.203.1.1 reached around $tun;"
	fi
	if [ -z "$why" ]; then
		pass "$1: exit 1, the kill switch kept: $tun persistent, its routes and pid $old's state file in place${4:+, nothing reaches the target}"
	else
		fail "$1: the kill switch kept" "$why $(grep -E 'error|warn: kill' "$tmp/kf.log" | tr '\n' ';')"
	fi
}

wait_tun_gone
base=$(routes_now)
kf_start --kill-switch -e "$noif"
if wait_tun_gone && [ "$rc" = 1 ] &&
   grep -q "error: --egress: interface '$noif' does not exist" "$tmp/kf.log" &&
   ! grep -q 'kill switch kept' "$tmp/kf.log" && [ -z "$(ours_left)" ] &&
   [ -z "$(ls -A "$tmp/kf" 2>/dev/null)" ] && [ "$(routes_now)" = "$base" ]; then
	pass "(kf) a first start with --kill-switch that fails (-e $noif): exit 1, $tun gone, nothing left"
else
	fail "(kf) a first start with --kill-switch that fails leaves nothing" \
		"exit $rc; device: $(cx ip -br link show "$tun" 2>&1); left: $(ours_left); files: $(ls -A "$tmp/kf" 2>&1)"
fi
if start_auto "${kf_args[@]}" --kill-switch; then
	old=$ztun_pid
	kill_ztun
	kf_start --kill-switch -e "$noif"
	kf_kept "(kf) after SIGKILL, a --kill-switch start that fails before --auto-route (-e $noif)" \
		"--egress: interface '$noif' does not exist" v6 leak
	# IPv6 off on the device: its IPv6 routes go, and one to the fake
	# resolver's IPv6 address is refused (EACCES), after --auto-route
	cx sysctl -qw "net.ipv6.conf.$tun.disable_ipv6=1"
	kf_start --kill-switch --fake-dns fd00:205::53
	kf_kept "(kf) a --kill-switch start that fails after taking the routes over (--fake-dns fd00:205::53, IPv6 off on $tun)" \
		"--fake-dns: routing fd00:205::53/128 into $tun" "" leak
	kf_start --fake-dns fd00:205::53
	kf_kept "(kf) a start without --kill-switch that fails the same way" \
		"--fake-dns: routing fd00:205::53/128 into $tun"
	cx sysctl -qw "net.ipv6.conf.$tun.disable_ipv6=0"
	restart_lifts kf "$tmp/kf" "split routes and proxy host route kept" \
		kf_took_over "${kf_args[@]}" --kill-switch
else
	fail "(kf) ztun-ref --auto-route --kill-switch starts" "$(tail -n 3 "$tmp/ztun.log" | tr '\n' ';')"
fi
cx ip -4 route flush proto 122 2>/dev/null
cx ip link del "$tun" 2>/dev/null

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
