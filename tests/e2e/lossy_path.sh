#!/bin/bash
# SPDX-License-Identifier: MIT
#
# lossy_path.sh - ztun-ref's TCP against a real Linux client over a lossy,
# reordering, duplicating, delaying path, end to end.
# Usage: tests/e2e/lossy_path.sh PATH/TO/ztun-ref
#
#   +---------------- $fns (application) ---------------+
#   |  lossy_path.py up/down/bidi/par (Linux TCP)       |
#   |  $ta 10.239.2.2/24, fd00:239:2::2/64,             |
#   |      default (both families) dev $ta              |
#   +---------|-----------------------------------------+
#             | lossy_path.py impair: the two TUNs' packets, impaired
#   +---------|-------------- $cns (client) ------------+
#   |  $tb 10.239.3.1/24, fd00:239:3::1/64;             |
#   |    | 10.239.2.0/24, fd00:239:2::/64 -> dev $tb    |
#   |    | forwarding; 10.239.1.0/24,                   |
#   |    v fd00:239:1::/64 -> dev $tun                  |
#   |  $tun 10.239.9.1/24, fd00:239:9::1/64 <==>        |
#   |       ztun-ref (direct, bound to $vc)             |
#   |  $vc 10.239.0.1/24, fd00:239::1/64,               |
#   |      default via 10.239.0.2, fd00:239::2          |
#   +----------------------|----------------------------+
#                          | veth
#   +----------------------|----------------------------+
#   |  $vs 10.239.0.2/24, fd00:239::2/64                |
#   |  lo 10.239.1.1, fd00:239:1::1: e2e_helper.py HTTP |
#   |     :8001 (GET /gen, PUT /up hashing), TCP echo   |
#   |     :7001, both families                          |
#   +---------------- $sns (server) --------------------+
#
# Theory of operation: the path between the client's kernel and ztun-ref
# is a user-space netem (lossy_path.py impair): loss, delay and jitter,
# netem's reordering, duplication, a rate with a 100 ms queue, and an
# outage, each direction on its own, drawn from a seeded generator. Not
# tc netem: kernels without sch_netem are common (CONFIG_NET_SCH_NETEM
# unset, no modules), and a seeded path makes a failing run one that can
# be run again with its seed. The client's packets leave by its TUN ($ta,
# in $fns), the impairer writes them to a TUN of the client namespace
# ($tb), whose kernel forwards them into ztun-ref's TUN; ztun-ref's
# answers take the way back. So ztun-ref's TCP meets a real Linux TCP
# (SACK, D-SACK, timestamps, RACK, TLP, ECN by ZT_LP_ECN) on both sides
# of a lossy link, and ztun-ref writes to its TUN as in production (TSO
# unless --no-offload; the kernel cuts the runs for $tb).
#
# Skip (one "SKIP: reason" line, exit 0) unless root, /dev/net/tun, ip,
# python3 (3.9 or later), timeout, ss and network namespaces are there.
# Each case sets the path, runs one client command bounded by timeout(1)
# (the client's own stall bound is 15 s: a hang fails the case, never the
# suite), checks its bytes by sha256 on both ends (the server hashes an
# upload, the client a download and an echo), then SIGUSR1 prints
# ztun-ref's counters: the case's deltas of the tcp-segs line (what
# ztun-ref's TCP did toward the client) and the impairer's counts are
# printed, and the case asserts that recovery happened (retransmits under
# loss toward the client, out-of-order segments kept from a lossy or
# reordering client, RTO expiries across the outage) and that no flow was
# reset (a path that only loses and delays never calls for one): the
# client saw none, and ztun-ref counted no "upstream reset" or "unsent
# reset". Its "rst sent" is printed, not checked: those answer segments
# of no flow, as a client's late or duplicated ACKs that arrive after the
# flow's end (RFC 9293 3.10.7.1), which such a path makes:
#   up       4 MiB upload:   delay 5 ms +-2, loss 3%, reorder 25%, dup 1%
#   down     4 MiB download, the same path
#   bidi     4 MiB each way at once through the echo server, the same
#   par      6 flows of 1 MiB at once, three each way, the same
#   reorder  4 MiB each way, delay 8 ms +-6 and reorder 40%, no loss
#   outage   two 4 MiB flows (one each way) at 20 Mbit/s, delay 5 ms; the
#            link lost both ways for 1.5 s from the 1500th packet up (RTOs)
#   up6      up over IPv6 (ztun-ref's IPv6 header, MSS, checksums and TSO
#            writes as TCPV6), the same path and checks
#   down6    down over IPv6: ztun-ref's TCP sends, as the client's does
#            in up6 (bidi6's sending is held to the echo's pace)
#   bidi6    bidi over IPv6, the same path and checks
# The namespaces' IPv6 is on, but their TUNs get no link-local address
# (no DAD) and send no router solicitation: few packets of the kernels'
# own reach ztun-ref or draw from the path.
# Timing is only ever bounded, never measured. About 50 to 80 s.
#
# Knobs, to run it in many ways: ZT_LP_SEED (the draws; default 1),
# ZT_LP_PATH (the lossy path of up/down/bidi/par, lossy_path.py's form),
# ZT_LP_RATE (kbit/s added to every case's path), ZT_LP_MTU (the client's
# link, default 1500), ZT_LP_ECN (the client's net.ipv4.tcp_ecn), ZT_LP_ARGS
# (more ztun-ref arguments, e.g. --no-offload), ZT_LP_BYTES (default
# 4194304), ZT_LP_ONLY=ERE (only the cases whose name matches),
# ZT_LP_PCAP=FILE (tcpdump on $tb: the client's packets after the path,
# ztun-ref's before it).
# The last line is "N passed, M failed (S s)"; exit 1 when any failed.
# The trap removes the namespaces and everything started here.

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/netns_lib.sh
. "$here/netns_lib.sh"
e2e_preflight "lossy path" "$1" ip python3 timeout ss

seed=${ZT_LP_SEED:-1}
lossy=${ZT_LP_PATH:-delay=5,jitter=2,loss=3,reorder=25,dup=1}
rate=${ZT_LP_RATE:-}
mtu=${ZT_LP_MTU:-1500}
bytes=${ZT_LP_BYTES:-4194304}

id=$$
cns=zn-lp${id}c
sns=zn-lp${id}s
fns=zn-lp${id}a
vc=zlp${id}a
vs=zlp${id}b
ta=zlp${id}x
tb=zlp${id}y
tun=zlp${id}t
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zt-lp-XXXXXX") || exit 2
pids=()
ztun_pid=
ipid=
trap netns_cleanup EXIT
trap 'exit 1' INT TERM
t_start=$(date +%s)

if ! ip netns add "$cns" 2>/dev/null; then
	cns=
	echo "SKIP: lossy path (cannot create a network namespace)"
	exit 0
fi
for ns in "$sns" "$fns"; do
	if ! ip netns add "$ns"; then
		echo "FAIL: cannot create network namespace $ns"
		exit 1
	fi
done
cx() { ip netns exec "$cns" "$@"; }
sx() { ip netns exec "$sns" "$@"; }
fx() { ip netns exec "$fns" "$@"; }
ip link add "$vc" netns "$cns" type veth peer name "$vs" netns "$sns" || exit 1
# IPv6 on, but quiet on the TUNs made from here on: no link-local
# address (no DAD for it) and no router solicitations, packets of the
# kernel's own that would wake ztun-ref and draw from the path.
# Addresses are added nodad: no wait.
for ns in "$cns" "$fns"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 \
		net.ipv6.conf.default.disable_ipv6=0 \
		net.ipv6.conf.default.addr_gen_mode=1 \
		net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
		net.ipv6.conf.all.router_solicitations=0 \
		net.ipv6.conf.default.router_solicitations=0
	ip netns exec "$ns" ip link set lo up
done
cx sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
	net.ipv4.conf.default.rp_filter=0 net.ipv6.conf.all.forwarding=1
[ -n "$ZT_LP_ECN" ] && fx sysctl -qw net.ipv4.tcp_ecn="$ZT_LP_ECN"
sx ip link set lo up
cx ip addr add 10.239.0.1/24 dev "$vc"
sx ip addr add 10.239.0.2/24 dev "$vs"
cx ip link set "$vc" up
sx ip link set "$vs" up
cx ip route add default via 10.239.0.2 dev "$vc"
cx ip -6 addr add fd00:239::1/64 dev "$vc" nodad
sx ip -6 addr add fd00:239::2/64 dev "$vs" nodad
cx ip -6 route add default via fd00:239::2 dev "$vc"
sx ip addr add 10.239.1.1/32 dev lo
sx ip -6 addr add fd00:239:1::1/128 dev lo
sx python3 "$here/e2e_helper.py" serve 8001 7001 7002 7005 >"$tmp/serve.log" 2>&1 &
pids+=($!)

# set_path SEED UP DOWN: the impairer's path from now on (its draws and
# counters afresh); "UP DOWN" of lossy_path.py's form, ZT_LP_RATE added.
set_path() {
	local up=$2 down=$3
	if [ -n "$rate" ]; then
		up="$up,rate=$rate"
		down="$down,rate=$rate"
	fi
	echo "$1 $up $down" >"$tmp/path.new"
	mv "$tmp/path.new" "$tmp/path"
	sleep 0.05
}
set_path "$seed" - -
: >"$tmp/impair.log"
# not through cx: $! must be the impairer's pid (ip netns exec execs it)
ip netns exec "$cns" python3 "$here/lossy_path.py" impair "$ta" "/run/netns/$fns" \
	"$tb" "$tmp" 2>"$tmp/impair.err" &
ipid=$!
pids+=("$ipid")
for _ in $(seq 50); do
	[ -e "$tmp/ready" ] && break
	kill -0 "$ipid" 2>/dev/null || break
	sleep 0.1
done
if [ ! -e "$tmp/ready" ]; then
	echo "SKIP: lossy path (the impairer could not open its TUNs: $(tail -n 1 "$tmp/impair.err"))"
	exit 0
fi
fx ip link set "$ta" mtu "$mtu" up
fx ip addr add 10.239.2.2/24 dev "$ta"
fx ip route add default dev "$ta"
fx ip -6 addr add fd00:239:2::2/64 dev "$ta" nodad
fx ip -6 route add default dev "$ta"
cx ip link set "$tb" mtu "$mtu" up
cx ip addr add 10.239.3.1/24 dev "$tb"
cx ip route add 10.239.2.0/24 dev "$tb"
cx ip -6 addr add fd00:239:3::1/64 dev "$tb" nodad
cx ip -6 route add fd00:239:2::/64 dev "$tb"

# ztun-ref: direct (the client namespace's default route, bound to $vc)
# shellcheck disable=SC2086
ip netns exec "$cns" "$bin" -n "$tun" -i 10.239.9.1 --tun-ip6 fd00:239:9::1/64 \
	$ZT_LP_ARGS 2>"$tmp/ztun.log" &
ztun_pid=$!
for _ in $(seq 50); do
	grep -q '; running$' "$tmp/ztun.log" && break
	kill -0 "$ztun_pid" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q '; running$' "$tmp/ztun.log"; then
	echo "FAIL: ztun-ref did not start"
	sed 's/^/    /' "$tmp/ztun.log"
	echo "0 passed, 1 failed"
	exit 1
fi
cx ip route add 10.239.1.0/24 dev "$tun" || exit 1
cx ip -6 route add fd00:239:1::/64 dev "$tun" || exit 1
for port in 8001 7001; do
	for _ in $(seq 50); do
		sx ss -Hlnt "sport = :$port" | grep -q . && break
		sleep 0.1
	done
done

passed=0
failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() {
	echo "FAIL: $1${2:+ ($2)}"
	failed=$((failed + 1))
	grep -Ev 'stats: |info: ' "$tmp/ztun.log" | tail -n 6 | sed 's/^/    /'
}

# snap: SIGUSR1 to ztun-ref and the impairer; the new "tcp-segs" and
# "tcp" lines of ztun-ref in $segs and $tcpl, the impairer's in $imp.
snap() {
	local before ib
	before=$(grep -c "stats: drops" "$tmp/ztun.log")
	ib=$(wc -l <"$tmp/impair.log")
	kill -USR1 "$ztun_pid" "$ipid" 2>/dev/null
	for _ in $(seq 100); do
		[ "$(grep -c "stats: drops" "$tmp/ztun.log")" -gt "$before" ] &&
			[ "$(wc -l <"$tmp/impair.log")" -gt "$ib" ] && break
		sleep 0.05
	done
	segs=$(grep "stats: tcp-segs " "$tmp/ztun.log" | tail -n 1)
	drl=$(grep "stats: drops " "$tmp/ztun.log" | tail -n 1)
	tcpl=$(grep "stats: tcp " "$tmp/ztun.log" | tail -n 1)
	imp=$(tail -n 1 "$tmp/impair.log" 2>/dev/null)
}

# num LINE NAME: the counter NAME of a stats line (0 when missing).
num() {
	local v
	# ", NAME N" or ": NAME N" (not "lost retransmits" for "retransmits")
	v=$(printf '%s\n' "$1" | sed -n "s/.*[:,] $2 \([0-9][0-9]*\).*/\1/p")
	echo "${v:-0}"
}

names=(retransmits "rto expiries" "fast retransmits" "loss probes"
	"lost retransmits" "rack marked" undos "spurious rtos" "dupacks in"
	"out of order" "challenge acks" "sack reneging" "oow acks skipped")
declare -A d
# linux_tcp: the client's kernel's "RetransSegs TCPTimeouts
# TCPSpuriousRTOs TCPDSACKRecv" (so far), to set ztun-ref's beside.
linux_tcp() {
	# shellcheck disable=SC2016 # awk's own $
	fx awk '/^Tcp: [A-Z]/ { split($0, h) } /^Tcp: [0-9]/ {
		for (i = 2; i <= NF; i++) if (h[i] == "RetransSegs") r = $i }
	/^TcpExt: [A-Z]/ { split($0, x) } /^TcpExt: [0-9]/ {
		for (i = 2; i <= NF; i++) v[x[i]] = $i }
	END { print r + 0, v["TCPTimeouts"] + 0, v["TCPSpuriousRTOs"] + 0,
		v["TCPDSACKRecv"] + 0 }' /proc/net/snmp /proc/net/netstat
}

# delta: $d[NAME] for each tcp-segs counter and "rst sent", "upstream
# reset", "unsent reset" of the tcp line, since the last snap before it
# ($segs0, $tcpl0); prints them and the impairer's counts.
delta() {
	local n line=
	segs0=$segs
	tcpl0=$tcpl
	drl0=$drl
	read -r -a lx0 <<<"${lx:-0 0 0 0}"
	snap
	lx=$(linux_tcp)
	read -r -a lx1 <<<"$lx"
	for n in "${names[@]}"; do
		d[$n]=$(($(num "$segs" "$n") - $(num "$segs0" "$n")))
		line="$line, $n ${d[$n]}"
	done
	for n in "rst sent" "upstream reset" "unsent reset" "connect failed"; do
		d[$n]=$(($(num "$tcpl" "$n") - $(num "$tcpl0" "$n")))
	done
	# "drops REASON N, ...": the first follows "drops", not ": "
	n=tcp_ooo_full
	d[$n]=$(($(num "${drl/drops /drops, }" "$n") - $(num "${drl0/drops /drops, }" "$n")))
	echo "    tcp-segs:${line#,}"
	echo "    tcp: rst sent ${d[rst sent]}, upstream reset ${d[upstream reset]}, unsent reset ${d[unsent reset]}; drops tcp_ooo_full ${d[tcp_ooo_full]}"
	echo "    client's Linux TCP: retransmits $((lx1[0] - lx0[0])), rto expiries $((lx1[1] - lx0[1])), spurious rtos $((lx1[2] - lx0[2])), d-sacks in $((lx1[3] - lx0[3]))"
	echo "    path: ${imp:-?}"
	# packets the kernels dropped at the TUNs' queues (so far): no
	# reader keeps up with a burst; losses the path did not draw
	echo "    tun queue drops: $ta $(fx cat "/sys/class/net/$ta/statistics/tx_dropped"), $tb $(cx cat "/sys/class/net/$tb/statistics/tx_dropped"), $tun $(cx cat "/sys/class/net/$tun/statistics/tx_dropped")"
}

# run NAME SECS CLIENT-ARGS...: the client in the application namespace,
# bounded; its line in $out, its status in $rc.
run() {
	local secs=$1
	shift
	local t0=$SECONDS
	out=$(fx timeout "$secs" python3 "$here/lossy_path.py" "$@" 2>&1)
	rc=$?
	[ $rc = 124 ] && out="timeout after $secs s: $out"
	echo "    ($((SECONDS - t0)) s)"
}

# verdict NAME CHECKS...: PASS when the client said ok, ztun-ref reset
# no flow and each CHECK ("NAME>0" on $d) holds; else FAIL saying which not.
verdict() {
	local name=$1 c why=
	shift
	[ $rc = 0 ] || why="client: $out"
	for c in "upstream reset" "unsent reset"; do
		[ "${d[$c]}" = 0 ] || why="${why:+$why; }$c ${d[$c]}"
	done
	for c in "$@"; do
		[ "${d[${c%>0}]}" -gt 0 ] || why="${why:+$why; }no ${c%>0}"
	done
	if [ -z "$why" ]; then
		pass "$name: $out"
	else
		fail "$name" "$why"
	fi
}

want() { [ -z "$ZT_LP_ONLY" ] || [[ $1 =~ $ZT_LP_ONLY ]]; }

T=10.239.1.1
T6=fd00:239:1::1
if [ -n "$ZT_LP_PCAP" ] && command -v tcpdump >/dev/null; then
	# not through cx: $! must be tcpdump's pid
	ip netns exec "$cns" tcpdump -i "$tb" -s 128 -w "$ZT_LP_PCAP" tcp 2>/dev/null &
	pids+=($!)
	sleep 1
fi
lx=$(linux_tcp)
echo "path: seed $seed, lossy $lossy${rate:+, rate $rate kbit}, mtu $mtu${ZT_LP_ECN:+, ecn $ZT_LP_ECN}${ZT_LP_ARGS:+, ztun-ref $ZT_LP_ARGS}"
snap

# lp_case NAME SEED_OFFSET UP_PATH DOWN_PATH "RUN ARGS" WHAT CHECK...:
# case NAME (unless ZT_LP_ONLY leaves it out) over its own seed and
# impairments, one run of lossy_path.py, its counters, and the verdict
# "NAME: WHAT" by the CHECKs.
lp_case() {
	local name=$1 off=$2 up=$3 down=$4 args=$5 what=$6
	shift 6
	want "$name" || return 0
	set_path "$((seed + off))" "$up" "$down"
	# shellcheck disable=SC2086 # the run's arguments, split
	run 40 $args
	delta
	verdict "$name: $what" "$@"
}

# loss toward the client: ztun-ref retransmits; loss and reordering
# from it: ztun-ref keeps out-of-order segments
lp_case up 0 "$lossy" "$lossy" "up $T 8001 $bytes 11" \
	"$bytes bytes over $lossy" "out of order>0"
lp_case down 1 "$lossy" "$lossy" "down $T 8001 $bytes 12" \
	"$bytes bytes over $lossy" "retransmits>0"
lp_case bidi 2 "$lossy" "$lossy" "bidi $T 7001 $bytes 13" \
	"$bytes bytes each way over $lossy" "retransmits>0" "out of order>0"
lp_case par 3 "$lossy" "$lossy" "par 6 $T 8001 $((bytes / 4))" \
	"6 flows of $((bytes / 4)) bytes over $lossy" "retransmits>0" "out of order>0"
reo=delay=8,jitter=6,reorder=40
lp_case reorder 4 "$reo" "$reo" "bidi $T 7001 $bytes 14" \
	"$bytes bytes each way over $reo" "out of order>0"
# the outage has a rate of its own (unless ZT_LP_RATE): the flows still
# run when the link goes down
lk=delay=5
[ -z "$rate" ] && lk=$lk,rate=20000
lp_case outage 5 "$lk,down_at=1500,down_for=1500" "$lk" "par 2 $T 8001 $bytes" \
	"2 flows of $bytes bytes at ${rate:-20000} kbit, 1.5 s down" "rto expiries>0"

# IPv6 (ztun-ref's TSO writes as TCPV6, its IPv6 MSS and checksums):
# the path of up, down and bidi
lp_case up6 6 "$lossy" "$lossy" "up $T6 8001 $bytes 16" \
	"$bytes bytes over IPv6 over $lossy" "out of order>0"
lp_case down6 8 "$lossy" "$lossy" "down $T6 8001 $bytes 18" \
	"$bytes bytes over IPv6 over $lossy" "retransmits>0"
lp_case bidi6 7 "$lossy" "$lossy" "bidi $T6 7001 $bytes 17" \
	"$bytes bytes each way over IPv6 over $lossy" "retransmits>0" "out of order>0"

if kill -0 "$ztun_pid" 2>/dev/null; then
	kill -TERM "$ztun_pid"
	wait "$ztun_pid"
	rc=$?
	ztun_pid=
	if [ $rc = 0 ]; then
		pass "ztun-ref exits 0 on SIGTERM"
	else
		fail "ztun-ref exits 0 on SIGTERM" "exit $rc"
	fi
else
	wait "$ztun_pid"
	rc=$?
	ztun_pid=
	fail "ztun-ref still runs after the cases" "it died, status $rc"
	grep -v 'stats: ' "$tmp/ztun.log" | tail -n 5 | sed 's/^/    /'
fi
echo "$passed passed, $failed failed ($(($(date +%s) - t_start)) s)"
[ "$failed" = 0 ]
