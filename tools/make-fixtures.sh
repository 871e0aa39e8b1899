#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# make-fixtures.sh - capture real traffic into pcap fixtures (run as root).
#
# Usage: tools/make-fixtures.sh [OUTDIR]     (default: pcap-fixtures)
#        ZTFX_KEEP=1 keeps the scratch directory (logs, raw captures).
#
# Two network namespaces, ztfx-<pid>-c (client) and ztfx-<pid>-s (server),
# are joined by a veth pair and given addresses only in 10.201.0.0/24 and
# fd00:201::/64. Neither namespace has a default route, so no packet can
# leave them. Real servers run in the server namespace (python3 http.server,
# dnsmasq answering fixture.test from its own command line, iperf3 -s -1);
# real clients (curl, dig, ping, iperf3) run in the client namespace while
# tcpdump captures there. Everything started is killed, and both namespaces
# removed, by the EXIT trap, whether the script succeeds or fails.
#
# Transmit checksum offload is switched off on both veth ends, so the kernel
# computes every TCP/UDP checksum in software before tcpdump sees the packet
# (otherwise locally generated packets are captured with only the
# pseudo-header sum filled in, CHECKSUM_PARTIAL). With it off the fixtures
# carry real checksums, and the tests verify them.
#
# Files are captured into a scratch directory and copied to OUTDIR only when
# every capture succeeded; OUTDIR/README.md is rewritten to describe them.

set -euo pipefail

OUT=${1:-pcap-fixtures}
TAG=ztfx-$$
NS_C=$TAG-c
NS_S=$TAG-s
IF_C=${TAG}c # at most 5 + 7 + 1 = 13 characters, under IFNAMSIZ
IF_S=${TAG}s
V4_C=10.201.0.1
V4_S=10.201.0.2
V6_C=fd00:201::1
V6_S=fd00:201::2
HTTP_PORT=8080
SCRATCH=
PIDS=()

die() {
	echo "make-fixtures: $*" >&2
	exit 1
}

cleanup() {
	local rc=$? pid ns

	set +e
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	# Anything else still running inside our own namespaces (a client that
	# hung, a forked helper) was started by us; end it by its id.
	for ns in "$NS_C" "$NS_S"; do
		if ip netns list | grep -qw "^$ns"; then
			for pid in $(ip netns pids "$ns" 2>/dev/null); do
				kill -KILL "$pid" 2>/dev/null
			done
			ip netns del "$ns" 2>/dev/null
		fi
	done
	if [ -n "$SCRATCH" ]; then
		if [ -n "${ZTFX_KEEP:-}" ]; then
			echo "make-fixtures: scratch files kept in $SCRATCH" >&2
		else
			rm -rf "$SCRATCH"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

[ "$(id -u)" = 0 ] || die "must run as root (it creates network namespaces)"
for tool in ip tcpdump curl dig dnsmasq iperf3 ping python3 ss; do
	command -v "$tool" >/dev/null || die "missing $tool"
done

# Foreground helpers. Background jobs call `ip netns exec` directly instead:
# a function run with & gets a subshell of its own, so $! would be that
# shell's pid rather than the server's.
in_c() { ip netns exec "$NS_C" "$@"; }
in_s() { ip netns exec "$NS_S" "$@"; }

# Clients must not pick up a proxy from the environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

SCRATCH=$(mktemp -d /tmp/ztfx.XXXXXX)
mkdir "$SCRATCH/www" "$SCRATCH/cap"

# --- topology ---------------------------------------------------------------
ip netns add "$NS_C"
ip netns add "$NS_S"
ip -n "$NS_C" link add "$IF_C" type veth peer name "$IF_S" netns "$NS_S"
ip -n "$NS_C" link set lo up
ip -n "$NS_S" link set lo up
ip -n "$NS_C" addr add "$V4_C/24" dev "$IF_C"
ip -n "$NS_S" addr add "$V4_S/24" dev "$IF_S"
ip -n "$NS_C" -6 addr add "$V6_C/64" dev "$IF_C" nodad
ip -n "$NS_S" -6 addr add "$V6_S/64" dev "$IF_S" nodad
ip -n "$NS_C" link set "$IF_C" up
ip -n "$NS_S" link set "$IF_S" up

# Transmit checksum offload off (see the header). ETHTOOL_STXCSUM through
# SIOCETHTOOL, so the script does not need the ethtool program.
txcsum_off() {
	ip netns exec "$1" python3 - "$2" <<'PY'
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17
val = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
ifr = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(val))
ifr += b"\0" * (40 - len(ifr))
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)
PY
}
txcsum_off "$NS_C" "$IF_C" || die "cannot turn off tx checksum offload on $IF_C"
txcsum_off "$NS_S" "$IF_S" || die "cannot turn off tx checksum offload on $IF_S"

# --- servers ----------------------------------------------------------------
python3 -c 'print("hello from the ztun fixture server\n" * 8, end="")' \
	>"$SCRATCH/www/hello.txt"

ip netns exec "$NS_S" python3 -m http.server "$HTTP_PORT" --bind :: \
	--directory "$SCRATCH/www" >"$SCRATCH/http.log" 2>&1 &
PIDS+=($!)
ip netns exec "$NS_S" dnsmasq --keep-in-foreground --conf-file=/dev/null \
	--no-resolv --no-hosts --bind-interfaces --listen-address="$V4_S" --listen-address="$V6_S" \
	--except-interface=lo --port=53 --pid-file= --user=root \
	--address=/fixture.test/"$V4_S" --address=/fixture.test/"$V6_S" \
	>"$SCRATCH/dnsmasq.log" 2>&1 &
PIDS+=($!)
ip netns exec "$NS_S" iperf3 -s -1 -B "$V4_S" -p 5201 \
	>"$SCRATCH/iperf3-s.log" 2>&1 &
PIDS+=($!)

# Wait for the listeners by looking at the socket table (no probe traffic).
wait_listen() { # proto port
	local _
	for _ in $(seq 100); do
		if in_s ss -Hln"$1" "sport = :$2" | grep . >/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	die "no $1 listener on port $2 in $NS_S"
}
wait_listen t "$HTTP_PORT"
wait_listen u 53
wait_listen t 53
wait_listen t 5201

# --- captures ---------------------------------------------------------------
CAP_PID=
# capture NAME TCPDUMP-ARGS...: start tcpdump in the client namespace.
capture() {
	local name=$1 _
	shift
	ip netns exec "$NS_C" tcpdump -Z root -U --immediate-mode -n "$@" \
		-w "$SCRATCH/cap/$name" >"$SCRATCH/$name.log" 2>&1 &
	CAP_PID=$!
	PIDS+=("$CAP_PID")
	for _ in $(seq 100); do
		grep -q "listening on" "$SCRATCH/$name.log" && return 0
		sleep 0.1
	done
	cat "$SCRATCH/$name.log" >&2
	die "tcpdump for $name did not start"
}
# stop: let the last packets arrive, then end tcpdump cleanly. SIGTERM, not
# SIGINT: a background job of a non-interactive shell starts with SIGINT
# ignored. --immediate-mode matters: without it TPACKET_V3 hands a ring
# block to tcpdump only when it fills or its 1 s timer fires, and packets
# still in the block when SIGTERM arrives are counted but never written.
stop() {
	sleep 0.5
	kill -TERM "$CAP_PID"
	wait "$CAP_PID" || {
		rc=$?
		cat "$SCRATCH"/*.pcap.log >&2
		die "tcpdump exited with $rc"
	}
}

CURL=(curl --noproxy '*' -sS --max-time 10 -o /dev/null)

# 1. HTTP over IPv4 and IPv6 on the veth: Ethernet frames, ARP and NDP too.
capture http-eth.pcap -i "$IF_C"
in_c "${CURL[@]}" "http://$V4_S:$HTTP_PORT/hello.txt"
in_c "${CURL[@]}" "http://[$V6_S]:$HTTP_PORT/hello.txt"
stop

# 2. DNS over UDP and TCP, both families, on "any": LINUX_SLL2, nanosecond
#    timestamps in the file.
DIG=(dig +time=2 +tries=1 +norecurse fixture.test)
capture dns-any-sll2.pcap -i any --time-stamp-precision=nano
in_c "${DIG[@]}" @"$V4_S" A >/dev/null
in_c "${DIG[@]}" @"$V6_S" AAAA >/dev/null
in_c "${DIG[@]}" @"$V4_S" A +tcp >/dev/null
in_c "${DIG[@]}" @"$V6_S" AAAA +tcp >/dev/null
stop

# 3. ICMP echo both families, and ICMP/ICMPv6 port unreachable (a DNS query
#    to a closed port, answered with an error quoting it): LINUX_SLL when
#    this tcpdump/libpcap offers it on "any" (1.10 does), else its default.
if in_c tcpdump -i any -L 2>&1 | grep -w LINUX_SLL >/dev/null; then
	capture icmp-any-sll.pcap -i any -y LINUX_SLL
else
	echo "make-fixtures: no LINUX_SLL on this tcpdump; icmp-any.pcap instead" >&2
	capture icmp-any.pcap -i any
fi
in_c ping -n -c 3 -i 0.2 -W 2 "$V4_S" >/dev/null
in_c ping -6 -n -c 3 -i 0.2 -W 2 "$V6_S" >/dev/null
in_c dig +time=1 +tries=1 -p 5999 fixture.test @"$V4_S" >/dev/null || true
in_c dig +time=1 +tries=1 -p 5999 fixture.test @"$V6_S" >/dev/null || true
stop

# 4. A short iperf3 TCP transfer, snapped to 256 bytes a frame so the file
#    stays small: full-size segments are captured with len < orig_len.
capture iperf-eth-snap256.pcap -i "$IF_C" -s 256
in_c iperf3 -c "$V4_S" -p 5201 -n 200K >"$SCRATCH/iperf3-c.log" 2>&1 ||
	{ cat "$SCRATCH/iperf3-c.log" >&2; die "iperf3 client failed"; }
stop

# 5. The HTTP capture again as pcapng (same packets), when editcap exists.
if command -v editcap >/dev/null; then
	editcap -F pcapng "$SCRATCH/cap/http-eth.pcap" "$SCRATCH/cap/http-eth.pcapng"
fi

# --- sanity and install -----------------------------------------------------
for f in "$SCRATCH"/cap/*; do
	n=$(tcpdump -r "$f" -nn 2>/dev/null | wc -l)
	[ "$n" -gt 0 ] || die "$(basename "$f"): no packets captured"
done

mkdir -p "$OUT"
rm -f "$OUT"/*.pcap "$OUT"/*.pcapng
cp "$SCRATCH"/cap/* "$OUT"/

# "EN10MB (1)": the name tcpdump gives and the LINKTYPE_ number in the file.
linktype() {
	local name
	name=$(tcpdump -r "$1" -c 1 2>&1 >/dev/null | sed -n 's/.*link-type \([^ ]*\).*/\1/p')
	case $name in
	EN10MB) echo "EN10MB (1)" ;;
	RAW) echo "RAW (101)" ;;
	LINUX_SLL) echo "LINUX_SLL (113)" ;;
	LINUX_SLL2) echo "LINUX_SLL2 (276)" ;;
	*) echo "$name" ;;
	esac
}
count() { tcpdump -r "$1" -nn 2>/dev/null | wc -l; }

{
	cat <<'EOF'
# pcap-fixtures

Real traffic captured by `tools/make-fixtures.sh` between two network
namespaces joined by a veth pair (10.201.0.0/24 and fd00:201::/64; no route
out of them). Regenerate, as root, with

    make fixtures        # runs tools/make-fixtures.sh pcap-fixtures

The script turns off transmit checksum offload on both veth ends, so every
TCP/UDP/ICMP checksum in these files is the real one (with offload on, tcpdump
sees locally generated packets with only the pseudo-header sum filled in).
The unit suite `fixtures` (tests/unit/test_fixtures.c) reads every file here.

The frame counts include non-IP frames (ARP), which the reader skips.

| file | link type | frames | contents |
|------|-----------|--------|----------|
EOF
	for f in "$OUT"/*.pcap "$OUT"/*.pcapng; do
		[ -e "$f" ] || continue
		b=$(basename "$f")
		case $b in
		http-eth.pcap) what="curl -4 and curl -6 GET of a small file from python3 http.server on the veth (EN10MB, microsecond); includes ARP and NDP" ;;
		http-eth.pcapng) what="http-eth.pcap converted to pcapng by editcap" ;;
		dns-any-sll2.pcap) what="dig A/AAAA of fixture.test over UDP and +tcp, IPv4 and IPv6, from dnsmasq; tcpdump -i any (LINUX_SLL2), nanosecond timestamps" ;;
		icmp-any-sll.pcap | icmp-any.pcap) what="ping and ping -6 (3 echoes each) plus a UDP query to a closed port answered by ICMP/ICMPv6 port unreachable; tcpdump -i any -y LINUX_SLL" ;;
		iperf-eth-snap256.pcap) what="iperf3 -n 200K over IPv4 TCP on the veth, snap length 256 (full segments have len < orig_len)" ;;
		*) what="" ;;
		esac
		echo "| $b | $(linktype "$f") | $(count "$f") | $what |"
	done
} >"$OUT/README.md"

ls -l "$OUT"
echo "make-fixtures: done"
