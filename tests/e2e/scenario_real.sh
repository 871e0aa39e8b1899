#!/bin/bash
# SPDX-License-Identifier: MIT
#
# scenario_real.sh - the same scenario scripts in simulated and real mode.
# Usage: tests/e2e/scenario_real.sh PATH/TO/ztun-ref [FILE.scn...]
#
# Runs the scenarios (by default the list below) with ztun-sim (the
# ztun-sim next to ztun-ref, or $ZTUN_SIM), then each one against ztun-ref
# on a TUN with tests/e2e/scenario_real.py, in a network namespace of its
# own that has nothing but lo and the TUN (no route out: every address the
# script uses lives on the namespace's lo or behind the TUN). Both must
# PASS. Then it proves the real executor can fail: the deliberately wrong
# copies tests/e2e/scenario_real_wrong_*.scn must FAIL in both modes, and
# a scenario real mode cannot play, or whose header gives an option twice,
# must be refused with its line named.
#
# ZT_SCN_REAL_ALL=1 runs every scenarios/*.scn that real mode can play
# instead of the list below (114 of them, about 5 minutes:
# socks5_tcp.scn, udp_direct_expiry.scn and udp_nat.scn wait 30 s each,
# tcp_synack_retransmit.scn 63 s).
# ZT_SCN_REAL_EARLY, ZT_SCN_REAL_LATE, ZT_SCN_REAL_GRACE (seconds) override
# the executor's tolerance: an output may come that much before or after
# its line's time (default 0.05 and 0.25), and advance/assert/the end look
# that long after their time (0.02).
#
# Prints one line per check (PASS/FAIL, with the executor's report under a
# failure) and "N passed, M failed"; exit 1 when any failed. Without root,
# /dev/net/tun, ip or python3 it prints one "SKIP: ... (reason)" line and
# exits 0. The trap removes the namespace and everything in it on every
# exit path.

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/e2e/netns_lib.sh
. "$here/netns_lib.sh"
what="scenarios against ztun-ref"
# python3's version is checked below, on the interpreter itself
E2E_MORE_ARGS="[FILE.scn...]" e2e_preflight "$what" "$1" ip
command -v python3 >/dev/null 2>&1 || { echo "SKIP: $what (python3 is not installed)"; exit 0; }
shift
sim=${ZTUN_SIM:-$(dirname "$bin")/ztun-sim}

# the interpreter itself, not a version manager's shim, isolated and
# without site packages: the executor needs the standard library only, and
# this makes each run start in tens of milliseconds
py=$(python3 -I -S -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ -z "$py" ] || ! "$py" -I -S -c 'import sys; sys.exit(sys.version_info < (3, 6))'; then
	echo "SKIP: $what (python3 is not 3.6 or newer)"
	exit 0
fi
py=("$py" -I -S)
if [ ! -x "$sim" ]; then
	echo "usage: $sim is missing (set ZTUN_SIM)" >&2
	exit 2
fi

cd "$top" || exit 2
if [ $# -gt 0 ]; then
	files=("$@")
elif [ -n "$ZT_SCN_REAL_ALL" ]; then
	# every scenario real mode can play (the rest are listed with why)
	files=()
	for f in scenarios/*.scn; do
		if why=$("${py[@]}" "$here/scenario_real.py" --ztun-ref "$bin" \
			 --check-only "$f" 2>&1); then
			files+=("$f")
		else
			echo "not playable: $(printf '%s\n' "$why" | tail -n 1 | sed 's/^ *//')"
		fi
	done
else
	# TCP through SOCKS5; TCP direct both ways with the close; a refused
	# direct upstream; a SOCKS5 refusal (reply 5); an upstream reset
	# mid-flow (after a delayed ACK), and one behind its data (delivered
	# first, then the RST); HTTP CONNECT; ICMP echo (local and
	# dropped); UDP through SOCKS5 UDP ASSOCIATE; UDP direct with a
	# datagram from the wrong source; --early-synack accepted and refused;
	# a SYN carrying data (Fast Open) whose data is not taken; the TCP and
	# UDP idle timeouts (--tcp-idle-timeout 5, --udp-idle-timeout 2);
	# fake-IP DNS: the query answered inside ztun, the flow to the fake
	# address sent to the SOCKS5 proxy by name (--fake-dns), domain rules,
	# a fake address an open flow holds not recycled (SERVFAIL once all are),
	# a direct name forwarded to the upstream resolver and routed by name,
	# DNS over TCP answered by ztun, a direct name's forwarded over TCP
	# to the upstream resolver (a reset stream: asked again, then
	# SERVFAIL); a SOCKS5 proxy refusing UDP
	# ASSOCIATE, and UDP that its route cannot carry, answered with ICMP;
	# a ping that a rule rejects; ICMP errors the network sends back about
	# direct UDP (injected on lo with a raw socket) passed to the client,
	# the client's own port unreachable ending a flow (forged ones not),
	# and one about a SOCKS5 relay ending its association; one SOCKS5
	# association for two flows of a client socket, and a peer's datagram
	# passed with --udp-full-cone; one NAT mapping for a client socket's
	# two servers, and a peer's datagram to a direct mapping passed with
	# --udp-full-cone; the client's TTL and traffic class on
	# a direct flow's datagrams (read with IP_RECVTTL, IP_RECVTOS); UDP
	# DNS carried as DNS over TCP through SOCKS5 (--dns-over-tcp), and
	# a query sent again after the server closed the stream; DNS
	# through a SOCKS5 proxy without UDP ASSOCIATE carried over TCP once
	# it refused one. IPv6: TCP direct, UDP direct, SOCKS5 to a proxy on
	# [::1], a ping to the TUN's IPv6 address; --connect-timeout (ztun
	# gives up on an upstream nobody answers) and a client resetting
	# while its upstream connects; TCP states of a simultaneous close;
	# --max-flows refusing a SYN; the stack's packet counter; an ICMP
	# host unreachable failing a direct connect, and the kernel's own
	# connect timeout (tcp_syn_retries 1: 3 s); a direct ping through
	# ztun-ref's ping socket, with the client's TTL and traffic class; a
	# lost tail repaired by a tail loss probe (counted in tcp-segs).
	files=(scenarios/socks5_noauth.scn scenarios/tcp_direct_basic.scn
	       scenarios/tcp_upstream_refused.scn scenarios/socks5_rep5.scn
	       scenarios/tcp_upstream_rst.scn
	       scenarios/tcp_upstream_rst_after_data.scn
	       scenarios/http_connect_200.scn
	       scenarios/icmp_echo_local.scn scenarios/socks5_udp_associate.scn
	       scenarios/udp_wrong_source.scn scenarios/socks5_early_synack.scn
	       scenarios/socks5_early_synack_refused.scn
	       scenarios/tcp_syn_with_data.scn scenarios/tcp_idle_timeout.scn
	       scenarios/udp_direct_idle_timeout.scn scenarios/udp_stream_timeout.scn
	       scenarios/fake_dns_socks5.scn scenarios/fake_dns_held.scn
	       scenarios/fake_dns_domain_rules.scn scenarios/fake_dns_forward.scn
	       scenarios/fake_dns_tcp.scn scenarios/fake_dns_tcp_forward.scn
	       scenarios/socks5_udp_associate_refused.scn
	       scenarios/udp_no_carrier_unreach.scn
	       scenarios/icmp_echo_reject.scn
	       scenarios/udp_direct_icmp_errors.scn
	       scenarios/udp_client_port_unreach.scn
	       scenarios/socks5_udp_relay_lost.scn
	       scenarios/socks5_udp_assoc_shared.scn
	       scenarios/socks5_udp_full_cone.scn
	       scenarios/socks5_udp_fake_ip_source.scn
	       scenarios/udp_nat_mapping.scn scenarios/udp_direct_full_cone.scn
	       scenarios/udp_direct_ttl.scn scenarios/udp_direct_tos.scn
	       scenarios/dns_over_tcp.scn scenarios/dns_over_tcp_resend.scn
	       scenarios/dns_over_tcp_faults.scn
	       scenarios/socks5_udp_unsupported_dns_tcp.scn
	       scenarios/tcp_ipv6_direct.scn scenarios/udp_ipv6_direct.scn
	       scenarios/socks5_ipv6_proxy.scn scenarios/icmp6_echo_local.scn
	       scenarios/tcp_connect_timeout.scn
	       scenarios/tcp_client_rst_connecting.scn
	       scenarios/tcp_simultaneous_fin.scn scenarios/tcp_capacity.scn
	       scenarios/drop_bad_version.scn scenarios/tcp_upstream_unreach.scn
	       scenarios/tcp_upstream_timeout.scn
	       scenarios/icmp_echo_direct.scn scenarios/icmp_echo_ttl.scn
	       scenarios/tcp_tail_loss_probe.scn
	       scenarios/tcp_oow_ack_rate_limit.scn)
fi

tol=()
[ -n "$ZT_SCN_REAL_EARLY" ] && tol+=(--early "$ZT_SCN_REAL_EARLY")
[ -n "$ZT_SCN_REAL_LATE" ] && tol+=(--late "$ZT_SCN_REAL_LATE")
[ -n "$ZT_SCN_REAL_GRACE" ] && tol+=(--grace "$ZT_SCN_REAL_GRACE")

# netns_cleanup tears down $cns (the current scenario's namespace) and
# whatever runs in it, and the scratch directory $tmp; $sns, $pids and
# $ztun_pid stay empty here.
# shellcheck disable=SC2034
{
	cns=
	sns=
	pids=()
	ztun_pid=
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zt-scn-XXXXXX") || exit 2
trap netns_cleanup EXIT
trap 'exit 1' INT TERM

passed=0
failed=0
out=
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() {
	echo "FAIL: $1"
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/    /'
	failed=$((failed + 1))
}

# real FILE: run FILE against ztun-ref in a fresh namespace; sets $out and
# returns the executor's status (0 pass, 1 fail, 2 not playable/setup).
nsn=0
# ns_done: tear down this scenario's namespace, keep $tmp
ns_done() {
	local tmp=
	netns_cleanup
	cns=
}
real() {
	local rc
	nsn=$((nsn + 1))
	cns=ztsr$$n$nsn
	if ! ip netns add "$cns"; then
		out="cannot create network namespace $cns"
		cns=
		return 2
	fi
	ip netns exec "$cns" sh -c '
		ip link set lo up &&
		sysctl -qw net.ipv4.ip_forward=0 \
			net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1' || {
		out="cannot set up network namespace $cns"
		ns_done
		return 2
	}
	# in the background: a signal's trap runs at once, not when it ends
	ip netns exec "$cns" "${py[@]}" "$here/scenario_real.py" \
		--netns "$cns" --ztun-ref "$bin" "${tol[@]}" "$1" >"$tmp/out" 2>&1 &
	wait $!
	rc=$?
	out=$(cat "$tmp/out")
	ns_done
	return $rc
}

# 1. the simulator
if out=$("$sim" run "${files[@]}" 2>&1); then
	pass "ztun-sim run: ${#files[@]} scenarios ($(printf '%s\n' "$out" | tail -n 1))"
else
	fail "ztun-sim run: ${#files[@]} scenarios"
fi

# 2. the same scripts against ztun-ref
for f in "${files[@]}"; do
	start=$(date +%s%N)
	real "$f"
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	if [ $rc = 0 ]; then
		pass "ztun-ref: $f ($ms ms)"
	else
		fail "ztun-ref: $f"
	fi
done

# 3. the executor fails when real mode and the script disagree: wrong
# copies fail in both modes, at the line that is wrong
for f in tests/e2e/scenario_real_wrong_*.scn; do
	want=$(sed -n 's/^# fails at line \([0-9]*\).*/\1/p' "$f" | head -n 1)
	out=$("$sim" run "$f" 2>&1)
	if [ $? = 1 ] && printf '%s\n' "$out" | grep -q "^$f:$want: "; then
		pass "ztun-sim: $f fails at line $want"
	else
		fail "ztun-sim: $f must fail at line $want"
	fi
	real "$f"
	rc=$?
	if [ $rc = 1 ] && printf '%s\n' "$out" | grep -q "^FAIL $f" &&
	   printf '%s\n' "$out" | grep -q "^$f:$want: "; then
		pass "ztun-ref: $f fails at line $want"
	else
		fail "ztun-ref: $f must fail at line $want (status $rc)"
	fi
done

# refused_real FILE LINE MESSAGE: the real executor refuses FILE (status 2)
# with MESSAGE at FILE:LINE, before it plays anything
refused_real() {
	local out rc
	out=$("${py[@]}" "$here/scenario_real.py" --ztun-ref "$bin" --check-only "$1" 2>&1)
	rc=$?
	if [ $rc = 2 ] && printf '%s\n' "$out" | grep -qF "$1:$2: $3"; then
		pass "ztun-ref: $1 refused at line $2 ($3)"
	else
		fail "ztun-ref: $1 must be refused at line $2 (status $rc)"
	fi
}

# 4. a line real mode cannot play is an error naming it, never a pass
refused_real scenarios/tcp_upstream_prohibited.scn 7 \
	"'s1< unreach prohibited' is not supported"

# 5. a header option given twice is refused by both, naming its line: the
# second value would otherwise replace the first in one mode only
f=$tmp/header_twice.scn
printf '%s\n' '--mtu=1500' '--mtu=9000' \
	'0 tun< 10.0.0.2:43000 > 192.0.2.80:8080 S 0:0(0) <mss 1460>' >"$f"
out=$("$sim" run "$f" 2>&1)
if [ $? != 0 ] && printf '%s\n' "$out" | grep -qF "$f:2: --mtu given twice"; then
	pass "ztun-sim: $f refused at line 2 (--mtu given twice)"
else
	fail "ztun-sim: $f must be refused at line 2 (--mtu given twice)"
fi
refused_real "$f" 2 "--mtu given twice"

# 6. "--route=default -> D" is --default=D in both (the last one wins): as
# a --rule it lost to the --default real mode passes after the rules, and
# the scenario ran with the default direct; "drop reject" is not one real
# mode's --udp takes, so that one is refused like --default=drop reject
refused_real scenarios/route_default_rule.scn 8 \
	"--route=default -> drop reject is not supported in real mode"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
