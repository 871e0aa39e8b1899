#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench.sh - ztun-ref's performance benchmark (issue 8), in two network
# namespaces. Usage (root): tools/bench/bench.sh PATH/TO/ztun-ref [OUTDIR]
# `make bench` runs it on the release build. Results: a table on stdout
# and in OUTDIR/results.txt and OUTDIR/results.md (default build/bench).
#
#   +------------------ $cns (client) ------------------+
#   |  socks_bench client, iperf3 -c                    |
#   |    | 10.203.1.0/24 -> dev $tun (while ztun-ref runs)|
#   |  $tun 10.0.0.1/24 <==> ztun-ref                   |
#   |  $vc 10.203.0.1/24 (MTU 9000)                     |
#   +---------------------|-----------------------------+
#                         | veth
#   +---------------------|-----------------------------+
#   |  $vs 10.203.0.2/24 (MTU 9000)                     |
#   |    iperf3 -s :5201, danted :1080, microsocks :1081 |
#   |    socks_server :1082, tinyproxy :8888             |
#   |  lo 10.203.1.1, 10.203.1.2 ("targets")             |
#   |    socks_bench server :7100 (discard/source/echo)  |
#   +------------------ $sns (server) ------------------+
#
# Paths measured, in one run (each ztun run right after its ceiling run):
#   plain    iperf3 straight over the veth (no proxy, no TUN): physical limit
#   ceiling  socks_bench speaks SOCKS5 to danted itself (no TUN): the target
#   ztun     socks_bench connects to the target plainly; the route sends it
#            into the TUN, ztun-ref carries it to the same danted
#            (TUN MTU 1500 and 8500)
#   http     the same for HTTP CONNECT through tinyproxy (ceiling: the tool
#            speaks CONNECT itself; ztun: rule 'tcp 10.203.1.2 -> http')
#   early    short connections through a second ztun-ref, --early-synack,
#            taken in turn with the ceiling and the first one
#   busy     the same through a third, --busy-poll 200 (BENCH_BUSY_POLL),
#            and a one-stream download through it in turn with the same
#            through the first: what the flag costs a bulk transfer
#   combined short connections through a fourth with both latency flags,
#            --early-synack --busy-poll 200 (10.203.1.9 SOCKS5, .10 HTTP)
#   udp      iperf3 UDP at a fixed offered rate: plain, through the first
#            ztun-ref by NAT (10.203.1.7) and by SOCKS5 UDP ASSOCIATE
#            through danted (10.203.1.8), in turn; received rate, loss,
#            ztun-ref's CPU per datagram
#   udp_bench the same datagrams from tools/bench/udp_bench.c: SOCKS5 UDP
#            ASSOCIATE straight to danted (the UDP ceiling) and through
#            ztun-ref (10.203.1.8:5204); by NAT (10.203.1.7:5205) and plain
#            at BENCH_UDP_GSO_RATE, one datagram per call and in
#            UDP_SEGMENT runs
#   fast     the same bulk (MTU 8500), short connections and udp_bench
#            SOCKS5 UDP runs again with tools/bench/socks_server.c as the
#            SOCKS5 server (:1082, splice relay, batched UDP): a ceiling
#            nearer the issue's hev-socks5-server figures than danted's,
#            next to a ztun-ref using it (short connections also through
#            one with --early-synack --busy-poll 200)
#   nooffload the danted bulk runs at MTU 1500 again through a ztun-ref
#            with --no-offload: a TUN without IFF_VNET_HDR (as an inherited
#            --tun-fd from Android's VpnService), MSS-sized packets
#   idle     socks_bench holds N idle connections through ztun-ref
#            (direct egress: a SOCKS5 server would need 2N descriptors);
#            VmRSS
#
# Knobs (environment): BENCH_SECS (measured seconds per bulk run, 3),
# BENCH_BULK_ROUNDS (bulk runs per path and configuration, 3),
# BENCH_IDLE (idle connections, 10000), BENCH_SERIAL (2000),
# BENCH_ZTUN_ARGS (extra ztun-ref flags, e.g. --no-offload),
# BENCH_BUSY_POLL (the third ztun-ref's --busy-poll window, us, 200),
# BENCH_UDP_RATE (UDP offered rate, iperf3 -b, 1G), BENCH_UDP_LEN (UDP
# datagram bytes, 1200: QUIC's usual size), BENCH_UDP_GSO_RATE (the rate
# of udp_bench's NAT runs, one datagram per call and in UDP_SEGMENT runs,
# 3G),
# BENCH_PAR_CONNS (connections of the 16-way test, 4000), BENCH_ROUNDS
# (rounds the short-connection runs are split into, 5), BENCH_PROFILE=1
# (also `perf record` ztun-ref during one up and one down run per MTU,
# report in OUTDIR/profile.txt), BENCH_PHASES (which phases run, default
# "1500 8500 fast idle"; the plain veth runs always; e.g. "fast" alone).
# Traffic stays inside the two namespaces; the trap removes them and every
# process started here.

bin=$1
out=${2:-build/bench}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "usage: $0 PATH/TO/ztun-ref [OUTDIR]" >&2
	exit 2
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
here=$(cd "$(dirname "$0")" && pwd)
secs=${BENCH_SECS:-3}
n_idle=${BENCH_IDLE:-10000}
n_serial=${BENCH_SERIAL:-2000}
n_par=${BENCH_PAR_CONNS:-4000}

if [ "$(id -u)" != 0 ]; then
	echo "bench: needs root (network namespaces, TUN)" >&2
	exit 1
fi
for p in ip iperf3 danted microsocks tinyproxy python3 cc ss; do
	if ! command -v "$p" >/dev/null 2>&1; then
		echo "bench: $p is not installed (make deps)" >&2
		exit 1
	fi
done

mkdir -p "$out" || exit 1
rm -f "$out/profile.txt" "$out/ztun.log"
tool=$out/socks_bench
cc -O2 -Wall -Wextra -Werror -pthread -o "$tool" "$here/socks_bench.c" || exit 1
tool=$(cd "$(dirname "$tool")" && pwd)/socks_bench
utool=$out/udp_bench
cc -O2 -Wall -Wextra -Werror -pthread -o "$utool" "$here/udp_bench.c" || exit 1
utool=$(cd "$(dirname "$utool")" && pwd)/udp_bench
stool=$out/socks_server
cc -O2 -Wall -Wextra -Werror -pthread -o "$stool" "$here/socks_server.c" || exit 1
stool=$(cd "$(dirname "$stool")" && pwd)/socks_server
# what a system call and a wake-up cost here: the short-connection figures
# are mostly wake-ups (docs/performance.md), so the table says what they cost
cc -O2 -Wall -Wextra -Werror -o "$out/wakeup_cost" "$here/wakeup_cost.c" || exit 1
wakeup_line=$("$out/wakeup_cost")
machine_line=$(awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	printf "machine: a system call %s ns; a pipe round trip between two processes %s us across CPUs, %s us on one (tools/bench/wakeup_cost.c).",
		f["syscall_ns"], f["rtt_cross_us"], f["rtt_same_us"] }' <<<"$wakeup_line")

ulimit -n "$(ulimit -Hn)" 2>/dev/null

id=$$
cns=zbc$id
sns=zbs$id
vc=zbvc$id
vs=zbvs$id
tun=zbt$id
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zt-bench-XXXXXX") || exit 1
chmod 755 "$tmp"
pids=()
ztun_pid=
early_pid=
busy_pid=
combined_pid=
busy_us=${BENCH_BUSY_POLL:-200}
udp_rate=${BENCH_UDP_RATE:-1G}
udp_len=${BENCH_UDP_LEN:-1200}
udp_gso_rate=${BENCH_UDP_GSO_RATE:-3G}

. "$(dirname "$0")/../../tests/e2e/netns_lib.sh"
trap netns_cleanup EXIT
trap 'exit 1' INT TERM

cx() { ip netns exec "$cns" "$@"; }
sx() { ip netns exec "$sns" "$@"; }
log() { echo "bench: $*" >&2; }

wait_port() {
	local i
	for i in $(seq 50); do
		ip netns exec "$1" ss -Hln -tu "sport = :$2" | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# --- namespaces -----------------------------------------------------------
ip netns add "$cns" || exit 1
ip netns add "$sns" || exit 1
ip link add "$vc" netns "$cns" type veth peer name "$vs" netns "$sns" || exit 1
cx ip link set lo up
sx ip link set lo up
cx ip link set "$vc" mtu 9000
sx ip link set "$vs" mtu 9000
cx ip addr add 10.203.0.1/24 dev "$vc"
sx ip addr add 10.203.0.2/24 dev "$vs"
cx ip link set "$vc" up
sx ip link set "$vs" up
cx ip route add default via 10.203.0.2 dev "$vc"
sx ip addr add 10.203.1.1/32 dev lo
sx ip addr add 10.203.1.2/32 dev lo
sx ip addr add 10.203.1.3/32 dev lo
sx ip addr add 10.203.1.4/32 dev lo
sx ip addr add 10.203.1.5/32 dev lo
sx ip addr add 10.203.1.6/32 dev lo
sx ip addr add 10.203.1.7/32 dev lo
sx ip addr add 10.203.1.8/32 dev lo
sx ip addr add 10.203.1.9/32 dev lo
sx ip addr add 10.203.1.10/32 dev lo
cx sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
sx sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
# tens of thousands of short connections leave their ports in TIME_WAIT;
# reusing them keeps connect()'s port search from slowing the later runs
cx sysctl -qw net.ipv4.tcp_tw_reuse=1
sx sysctl -qw net.ipv4.tcp_tw_reuse=1

# --- servers --------------------------------------------------------------
sx iperf3 -s -B 10.203.0.2 -p 5201 >"$tmp/iperf3.log" 2>&1 &
pids+=($!)
# UDP targets: bound to their own address, so that replies come from it
# (the NAT and the SOCKS5 relay only pass replies from the flow's server)
sx iperf3 -s -B 10.203.1.7 -p 5202 >"$tmp/iperf3-nat.log" 2>&1 &
pids+=($!)
sx iperf3 -s -B 10.203.1.8 -p 5203 >"$tmp/iperf3-socks.log" 2>&1 &
pids+=($!)
sx "$tool" server 7100 >"$tmp/sbserver.log" 2>&1 &
pids+=($!)
# udp_bench targets: through danted (the ceiling) and ztun-ref by SOCKS5;
# a UDP_SEGMENT client by NAT, and plain
for a in 10.203.1.8:5204 10.203.1.7:5205 10.203.0.2:5206; do
	sx "$utool" server "$a" >>"$tmp/ubserver.log" 2>&1 &
	pids+=($!)
done

cat >"$tmp/danted.conf" <<EOF
logoutput: $tmp/danted.log
internal: 10.203.0.2 port = 1080
external: 10.203.0.2
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
EOF
sx danted -f "$tmp/danted.conf" -p "$tmp/danted.pid" >"$tmp/danted.out" 2>&1 &
pids+=($!)
sx microsocks -i 10.203.0.2 -p 1081 >"$tmp/microsocks.log" 2>&1 &
pids+=($!)
sx "$stool" -l 10.203.0.2:1082 >"$tmp/socks_server.log" 2>&1 &
pids+=($!)
cat >"$tmp/tinyproxy.conf" <<EOF
User nobody
Group nogroup
Port 8888
Listen 10.203.0.2
Timeout 30
MaxClients 200
Allow 10.203.0.0/24
ConnectPort 7100
DisableViaHeader Yes
LogLevel Critical
EOF
sx tinyproxy -d -c "$tmp/tinyproxy.conf" >"$tmp/tinyproxy.log" 2>&1 &
pids+=($!)

for s in "5201 iperf3" "5202 iperf3-nat" "5203 iperf3-socks" "7100 socks_bench" "5204 udp_bench" "5205 udp_bench" "5206 udp_bench" "1080 danted" "1081 microsocks" "1082 socks_server" "8888 tinyproxy"; do
	set -- $s
	if ! wait_port "$sns" "$1"; then
		log "$2 did not start"
		cat "$tmp"/*.log "$tmp"/*.out 2>/dev/null | tail -n 20
		exit 1
	fi
done

# --- measurement helpers ----------------------------------------------------
declare -A R   # R[key] = value

T1=10.203.1.1:7100      # target behind danted
T2=10.203.1.2:7100      # target behind tinyproxy (ztun rule -> http)
T3=10.203.1.3:7100      # T1 through the --early-synack ztun-ref
T4=10.203.1.4:7100      # T2 through it
T5=10.203.1.5:7100      # T1 through the --busy-poll ztun-ref
T6=10.203.1.6:7100      # T2 through it
T9=10.203.1.9:7100      # T1 through the ztun-ref with both latency flags
T10=10.203.1.10:7100    # T2 through it
SOCKS=10.203.0.2:1080
FAST=10.203.0.2:1082    # tools/bench/socks_server.c
HTTP=10.203.0.2:8888

# field NAME LINE: the value of NAME=... in LINE
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
# ratio A B: A / B to two places, "-" without both
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

# cpu_ticks PID: utime+stime in clock ticks
# tun_stats: rx_bytes rx_packets tx_bytes tx_packets of the TUN (kernel view)
tun_stats() {
	local f
	for f in rx_bytes rx_packets tx_bytes tx_packets; do
		cx cat "/sys/class/net/$tun/statistics/$f" 2>/dev/null || echo 0
	done | tr '\n' ' '
}
cpu_ticks() { [ -n "$1" ] && awk '{ print $14 + $15, $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# bulk KEY DIR STREAMS [client args]: one socks_bench bulk run with ztun-ref
# running; adds its bytes, seconds, and for keys z*/hz*/prof* ztun-ref's
# CPU ticks and the TUN's counters, to KEY's sums (A[]); bulk_done KEY
# turns the sums into R[KEY] (Gb/s over all runs' measured seconds),
# R[KEY.cpu] (ztun-ref's CPU seconds per GB carried, warm-ups included),
# R[KEY.sys] (its kernel share), R[KEY.seg] (mean TUN packet in the
# data's direction) and, for every key, R[KEY.busy]: the whole machine's
# busy CPU seconds per GB carried (/proc/stat, as rr_set's busy_us)
declare -A A
# BULK_PID[KEY]: the ztun-ref a z* key's runs go through, if not $ztun_pid
declare -A BULK_PID
bulk() {
	local key=$1 dir=$2 p=$3 line c0 c1 t0 t1 b0 b1 is_z
	local zpid=${BULK_PID[$1]:-$ztun_pid}
	shift 3
	c0=$(cpu_ticks "$zpid")
	t0=$(tun_stats)
	b0=$(busy_ticks)
	line=$(cx "$tool" client -m "$dir" -P "$p" -d "$secs" -w 1 "$@" 2>>"$tmp/client.err")
	b1=$(busy_ticks)
	c1=$(cpu_ticks "$zpid")
	t1=$(tun_stats)
	case $key in z*|hz*|fz*|prof*) is_z=1 ;; *) is_z= ;; esac
	A[$key.runs]=$(( ${A[$key.runs]:-0} + 1 ))
	if [ -z "$(field bytes "$line")" ]; then
		A[$key.failed]=1
		log "$key: no result (see $tmp/client.err)"
		return
	fi
	A[$key.bytes]=$(awk -v a="${A[$key.bytes]:-0}" -v b="$(field bytes "$line")" 'BEGIN { printf "%.0f", a + b }')
	A[$key.secs]=$(awk -v a="${A[$key.secs]:-0}" -v b="$(field secs "$line")" 'BEGIN { printf "%.6f", a + b }')
	A[$key.total]=$(awk -v a="${A[$key.total]:-0}" -v b="$(field total "$line")" 'BEGIN { printf "%.0f", a + b }')
	A[$key.last]=$(field gbps "$line")
	A[$key.bticks]=$(( ${A[$key.bticks]:-0} + b1 - b0 ))
	if [ -n "$is_z" ]; then
		set -- $c0 $c1
		# this run's CPU s/GB, for the spread over the runs
		A[$key.cpus]="${A[$key.cpus]:-} $(awk -v d=$(( $3 - $1 )) -v hz="$hz" \
			-v b="$(field total "$line")" 'BEGIN { if (b > 0) printf "%.2f", d / hz / (b / 1e9) }')"
		A[$key.ticks]=$(( ${A[$key.ticks]:-0} + $3 - $1 ))
		A[$key.sticks]=$(( ${A[$key.sticks]:-0} + $4 - $2 ))
		# the TUN's packets in the data's direction (the kernel's tx
		# is what ztun-ref reads: the upload)
		set -- $(echo "$t0 $t1" | awk -v d="$dir" '{
			if (d == "up") printf "%.0f %.0f\n", $7 - $3, $8 - $4
			else printf "%.0f %.0f\n", $5 - $1, $6 - $2 }')
		A[$key.tb]=$(( ${A[$key.tb]:-0} + $1 ))
		A[$key.tp]=$(( ${A[$key.tp]:-0} + $2 ))
	fi
	log "$key: $line"
}

# gbps_done KEY: R[KEY] = Gb/s over KEY's summed bytes and seconds;
# false (R[KEY] empty) if a run failed or none ran
gbps_done() {
	local key=$1
	if [ -n "${A[$key.failed]:-}" ] || [ -z "${A[$key.bytes]:-}" ]; then
		R[$key]=
		return 1
	fi
	R[$key]=$(awk -v b="${A[$key.bytes]}" -v s="${A[$key.secs]}" \
		'BEGIN { if (s > 0) printf "%.3f", b * 8 / s / 1e9; else print "-" }')
}

bulk_done() {
	local key=$1
	gbps_done "$key" || return
	R[$key.busy]=$(awk -v d="${A[$key.bticks]}" -v hz="$hz" -v b="${A[$key.total]}" \
		'BEGIN { if (b > 0) printf "%.2f", d / hz / (b / 1e9); else print "-" }')
	if [ -n "${A[$key.ticks]:-}" ]; then
		R[$key.cpu]=$(awk -v d="${A[$key.ticks]}" -v hz="$hz" -v b="${A[$key.total]}" \
			'BEGIN { if (b > 0) printf "%.2f", d / hz / (b / 1e9); else print "-" }')
		R[$key.sys]=$(awk -v d="${A[$key.ticks]}" -v s="${A[$key.sticks]}" \
			'BEGIN { if (d > 0) printf "%d%%", 100 * s / d; else print "-" }')
		R[$key.seg]=$(awk -v b="${A[$key.tb]}" -v p="${A[$key.tp]}" \
			'BEGIN { if (p > 0) printf "%d", b / p; else print "-" }')
		R[$key.cpus]=${A[$key.cpus]:-}
	fi
	R[$key.ratios]=${A[$key.ratios]:-}
	log "$key: ${R[$key]} Gb/s over ${A[$key.runs]} run(s); cpu/GB ${R[$key.cpu]:--} (kernel ${R[$key.sys]:--}) tun pkt ${R[$key.seg]:--}"
}

# bulk_pair DIR STREAMS CEIL "CEILING ARGS" Z "ZTUN ARGS": BENCH_BULK_ROUNDS
# (3) rounds of a ceiling run followed by a ztun-ref run, so that the
# drift of a shared machine hits both alike; then bulk_done for both
bulk_pair() {
	local dir=$1 p=$2 ck=$3 ca=$4 zk=$5 za=$6 i
	for i in $(seq "${BENCH_BULK_ROUNDS:-3}"); do
		# shellcheck disable=SC2086 # the args are a list
		bulk "$ck" "$dir" "$p" $ca
		# shellcheck disable=SC2086
		bulk "$zk" "$dir" "$p" $za
		# this round's ratio, for the spread over the rounds
		A[$zk.ratios]="${A[$zk.ratios]:-} $(ratio "${A[$zk.last]:-}" "${A[$ck.last]:-}")"
		A[$ck.last]= A[$zk.last]=
	done
	bulk_done "$ck"
	bulk_done "$zk"
}

# spread "X Y Z": " [min-max]" of the numbers among them, "" with fewer
# than two; count_met "X Y Z" min|max LIMIT: " (k/n runs)", k of them >=
# (<=) LIMIT; a run is a bulk run or a round of short connections
spread() {
	echo "$1" | tr ' ' '\n' | awk '$1 + 0 > 0 { n++; v = $1 + 0
		if (n == 1 || v < lo) lo = v; if (n == 1 || v > hi) hi = v }
		END { if (n > 1) printf " [%.2f-%.2f]", lo, hi }'
}
count_met() {
	echo "$1" | tr ' ' '\n' | awk -v k="$2" -v t="$3" '$1 + 0 > 0 { n++
		if ((k == "min" && $1 + 0 >= t) || (k == "max" && $1 + 0 <= t)) m++ }
		END { if (n > 1) printf " (%d/%d runs)", m, n }'
}

# rr_set PAR N KEY "ARGS" [KEY "ARGS"...]: N short connections, PAR at a
# time, for each path (socks_bench client ARGS), in BENCH_ROUNDS rounds (5)
# that take the paths in turn, so that the drift of a shared machine hits
# all alike; sets R[KEY.cps] (all connections over all their time),
# R[KEY.p50] and R[KEY.p99] (the median of the rounds' figures), R[KEY.ok],
# and for a KEY with a ztun-ref's pid in RR_PID[KEY], R[KEY.cpu_us]: its
# CPU time per connection (/proc/PID/schedstat, ns); for every KEY,
# R[KEY.busy_us]: the whole machine's busy CPU time per connection
# (/proc/stat: user, nice, system, irq, softirq; not idle, iowait or the
# hypervisor's steal), what the path costs everything it runs through
declare -A RR_PID
sched_ns() { [ -n "$1" ] && awk '{ print $1 }' "/proc/$1/schedstat"; }
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
rr_set() {
	local p=$1 n=$2 rounds=${BENCH_ROUNDS:-5} i j per line pid c0 c1 b0 b1
	local -A cpu=() busy=() rate=() ratios=()
	local -a keys=() args=()
	shift 2
	while [ $# -ge 2 ]; do
		keys+=("$1")
		args+=("$2")
		: >"$tmp/rr.$1"
		shift 2
	done
	per=$(( (n + rounds - 1) / rounds ))
	for i in $(seq "$rounds"); do
		for j in "${!keys[@]}"; do
			# shellcheck disable=SC2086 # the args are a list
			pid=${RR_PID[${keys[$j]}]:-}
			c0=$(sched_ns "$pid")
			b0=$(busy_ticks)
			line=$(cx "$tool" client -m rr -P "$p" -n "$per" ${args[$j]} 2>>"$tmp/client.err")
			b1=$(busy_ticks)
			c1=$(sched_ns "$pid")
			busy[$j]=$(( ${busy[$j]:-0} + b1 - b0 ))
			[ -n "$c0" ] && [ -n "$c1" ] &&
				cpu[$j]=$(( ${cpu[$j]:-0} + c1 - c0 ))
			echo "${line:-RESULT conns=$per ok=0}" >>"$tmp/rr.${keys[$j]}"
			rate[$j]=$(field cps "$line")
		done
		# each path's rate over the first's (the ceiling) in this round
		for j in "${!keys[@]}"; do
			[ "$j" = 0 ] && continue
			ratios[$j]="${ratios[$j]:-} $(ratio "${rate[$j]:-}" "${rate[0]:-}")"
		done
	done
	for j in "${!keys[@]}"; do
		set -- $(awk '
			function med(a, k,   i, j, t) {
				for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
					if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
				return k ? a[int((k + 1) / 2)] : "-"
			}
			{
				for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
				conns += f["conns"]; ok += f["ok"]
				if (f["ok"] > 0 && f["cps"] > 0) {
					t += f["ok"] / f["cps"]
					p50[++k] = f["p50_us"]; p99[k] = f["p99_us"]
				}
				delete f
			}
			END {
				printf "%s %s %s %d/%d\n", (t > 0 ? sprintf("%.0f", ok / t) : "-"),
					med(p50, k), med(p99, k), ok, conns
			}' "$tmp/rr.${keys[$j]}")
		R[${keys[$j]}.cps]=$1
		R[${keys[$j]}.p50]=$2
		R[${keys[$j]}.p99]=$3
		R[${keys[$j]}.ok]=$4
		R[${keys[$j]}.ratios]=${ratios[$j]:-}
		if [ -n "${cpu[$j]:-}" ]; then
			R[${keys[$j]}.cpu_us]=$(awk -v c="${cpu[$j]}" -v ok="${4%/*}" \
				'BEGIN { if (ok > 0) printf "%.0f", c / 1000 / ok; else print "-" }')
		fi
		R[${keys[$j]}.busy_us]=$(awk -v b="${busy[$j]:-0}" -v hz="$hz" -v ok="${4%/*}" \
			'BEGIN { if (ok > 0 && b > 0) printf "%.0f", b / hz * 1e6 / ok; else print "-" }')
		log "${keys[$j]}: cps=$1 p50_us=$2 p99_us=$3 ok=$4 cpu_us/conn=${R[${keys[$j]}.cpu_us]:--} busy_us/conn=${R[${keys[$j]}.busy_us]} ($rounds rounds, paths in turn)"
	done
}

iperf() {
	local key=$1 line
	shift
	line=$(cx iperf3 -c 10.203.0.2 -p 5201 -t "$secs" -O 1 -J "$@" 2>/dev/null |
		python3 -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))' 2>/dev/null)
	R[$key]=$line
	log "$key: $line Gb/s"
}

# udp_run KEY HOST PORT DIR [PID]: one iperf3 UDP run (BENCH_UDP_LEN-byte
# datagrams offered at BENCH_UDP_RATE for BENCH_SECS) to HOST:PORT, DIR up
# (client -> server) or down (-R); adds what the receiver got and, with
# PID, that ztun-ref's CPU time (/proc/PID/schedstat) to KEY's sums;
# udp_done KEY turns them into R[KEY] (Gb/s received), R[KEY.loss] (% of
# the datagrams sent), R[KEY.us] (ztun-ref's CPU us per datagram received)
udp_run() {
	local key=$1 host=$2 port=$3 dir=$4 pid=${5:-} c0 c1 line rev=
	[ "$dir" = down ] && rev=-R
	c0=$(sched_ns "$pid")
	# shellcheck disable=SC2086 # rev is empty or one flag
	line=$(cx iperf3 -u -c "$host" -p "$port" -b "$udp_rate" -l "$udp_len" \
		-t "$secs" $rev -J 2>>"$tmp/client.err" | python3 -c '
import json, sys
e = json.load(sys.stdin)["end"]
r, s = e["sum_received"], e["sum_sent"]
print("%d %d %.6f" % (r["bytes"], r["packets"] - r["lost_packets"], r["seconds"]),
      s["packets"])' 2>/dev/null)
	c1=$(sched_ns "$pid")
	if [ -z "$line" ]; then
		A[$key.failed]=1
		log "$key: no result (see $tmp/client.err)"
		return
	fi
	set -- $line
	A[$key.bytes]=$(( ${A[$key.bytes]:-0} + $1 ))
	A[$key.got]=$(( ${A[$key.got]:-0} + $2 ))
	A[$key.secs]=$(awk -v a="${A[$key.secs]:-0}" -v b="$3" 'BEGIN { printf "%.6f", a + b }')
	A[$key.sent]=$(( ${A[$key.sent]:-0} + $4 ))
	[ -n "$c0" ] && [ -n "$c1" ] && A[$key.ns]=$(( ${A[$key.ns]:-0} + c1 - c0 ))
	log "$key: received $1 bytes, $2 of $4 datagrams in $3 s"
}
# ub_run KEY DIR "ARGS" [PID]: one udp_bench run (the same datagrams,
# rate and seconds as udp_run; ARGS: -t, -s, -g) into KEY's sums as udp_run
ub_run() {
	local key=$1 dir=$2 args=$3 pid=${4:-} c0 c1 line
	c0=$(sched_ns "$pid")
	# shellcheck disable=SC2086 # args is a list of flags
	line=$(cx "$utool" client -m "$dir" -l "$udp_len" -b "$udp_rate" -d "$secs" \
		$args 2>>"$tmp/client.err" | sed -n 's/^RESULT //p')
	c1=$(sched_ns "$pid")
	if [ -z "$line" ]; then
		A[$key.failed]=1
		log "$key: no result (see $tmp/client.err)"
		return
	fi
	# shellcheck disable=SC2046 # "gbps=G sent=N got=K bytes=B secs=S"
	set -- $(sed 's/[a-z]*=//g' <<<"$line")
	local gbps=$1 sent=$2 got=$3 bytes=$4 s=$5
	A[$key.bytes]=$(( ${A[$key.bytes]:-0} + bytes ))
	A[$key.got]=$(( ${A[$key.got]:-0} + got ))
	A[$key.secs]=$(awk -v a="${A[$key.secs]:-0}" -v b="$s" 'BEGIN { printf "%.6f", a + b }')
	A[$key.sent]=$(( ${A[$key.sent]:-0} + sent ))
	[ -n "$c0" ] && [ -n "$c1" ] && A[$key.ns]=$(( ${A[$key.ns]:-0} + c1 - c0 ))
	log "$key: received $bytes bytes, $got of $sent datagrams in $s s ($gbps Gb/s)"
}
udp_done() {
	local key=$1
	gbps_done "$key" || return
	R[$key.loss]=$(awk -v g="${A[$key.got]}" -v n="${A[$key.sent]}" \
		'BEGIN { if (n > 0) printf "%.1f", 100 * (n - g) / n; else print "-" }')
	[ -n "${A[$key.ns]:-}" ] &&
		R[$key.us]=$(awk -v c="${A[$key.ns]}" -v g="${A[$key.got]}" \
			'BEGIN { if (g > 0) printf "%.1f", c / 1000 / g; else print "-" }')
	log "$key: ${R[$key]} Gb/s received, ${R[$key.loss]}% lost, ztun ${R[$key.us]:--} us per datagram"
}

# start_ztun_on TUN LOG ROUTES [flags]: a ztun-ref on TUN, ROUTES sent
# into it once it runs; its pid in started_pid
start_ztun_on() {
	local dev=$1 zlog=$2 route=$3 i r pid
	shift 3
	started_pid=
	: >"$zlog"
	# shellcheck disable=SC2086 # BENCH_ZTUN_ARGS is a list of flags
	ip netns exec "$cns" "$bin" -n "$dev" "$@" ${BENCH_ZTUN_ARGS:-} \
		2>"$zlog" &
	pid=$!
	pids+=("$pid")
	for i in $(seq 50); do
		if grep -q '; running$' "$zlog" &&
		   cx ip link show "$dev" 2>/dev/null | grep -q ',UP'; then
			for r in $route; do
				cx ip route add "$r" dev "$dev" || return 1
			done
			started_pid=$pid
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# the ztun-ref measured (targets 10.203.1.1 and .2)
start_ztun() {
	start_ztun_on "$tun" "$tmp/ztun.log" 10.203.1.0/24 "$@"
	ztun_pid=$started_pid
	[ -n "$ztun_pid" ]
}

# start_measured [flags]: start_ztun, or stop the bench with its log
start_measured() {
	start_ztun "$@" && return 0
	log "ztun-ref did not start:"
	tail -n 20 "$tmp/ztun.log" >&2
	exit 1
}

# stop_ztun_on PID LOG: SIGTERM, wait, keep its log (and final stats)
stop_ztun_on() {
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	cat "$2" >>"$out/ztun.log"
}

stop_ztun() {
	stop_ztun_on "$ztun_pid" "$tmp/ztun.log"
	ztun_pid=
}

# start_variant NAME ROUTES [flags]: another ztun-ref for short
# connections, on TUN ${tun}N (N: NAME's first letter) with its log in
# ztun-NAME.log, ROUTES sent into it; its pid in started_pid; the bench
# stops if it does not start. stop_ztun_on PID "$tmp/ztun-NAME.log" ends it.
start_variant() {
	local name=$1 routes=$2
	shift 2
	if ! start_ztun_on "${tun}${name:0:1}" "$tmp/ztun-$name.log" "$routes" "$@"; then
		log "ztun-ref $* did not start:"
		tail -n 20 "$tmp/ztun-$name.log" >&2
		exit 1
	fi
}

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

DIRS="up down"
STREAMS="1 4"
phases=" ${BENCH_PHASES:-1500 8500 fast nooffload idle} "

# --- (a) plain veth -------------------------------------------------------
log "plain veth (iperf3), ${secs}s per run"
for p in $STREAMS; do
	iperf plain.up.$p -P "$p"
	iperf plain.down.$p -P "$p" -R
done

# --- (b, c, d) no-TUN ceilings and ztun-ref, interleaved -------------------
# Each ztun-ref run follows its ceiling run at once, so drift in the load of
# a shared machine hits both alike. The ceiling path (client -> proxy on the
# veth) never enters the TUN: ztun-ref only idles during it.
for mtu in 1500 8500; do
	[[ $phases == *" $mtu "* ]] || continue
	log "through ztun-ref, TUN MTU $mtu"
	# danted reads ahead, so the SOCKS5 handshake is pipelined (one round
	# trip; docs/cli.md); BENCH_ZTUN_ARGS adds flags, not removes them
	start_measured -m "$mtu" -x "socks5://$SOCKS" --socks5-pipelined -x "http://$HTTP" \
		--rule 'tcp 10.203.1.2 -> http' --rule 'udp 10.203.1.7 -> nat'
	R[rss0.$mtu]=$(status_kb "$ztun_pid" VmRSS)
	for d in $DIRS; do
		for p in $STREAMS; do
			bulk_pair "$d" "$p" c$mtu.$d.$p "-t $T1 -s $SOCKS" z$mtu.$d.$p "-t $T1"
		done
	done
	R[hwm.$mtu]=$(status_kb "$ztun_pid" VmHWM)
	if [ -n "$BENCH_PROFILE" ] && command -v perf >/dev/null 2>&1; then
		for d in $DIRS; do
			perf record -q -F 999 -g -o "$tmp/perf.$d.data" -p "$ztun_pid" \
				>/dev/null 2>&1 &
			perf_pid=$!
			bulk prof.$mtu.$d "$d" 1 -t "$T1"
			bulk_done prof.$mtu.$d
			kill -INT "$perf_pid"
			wait "$perf_pid"
			{
				echo "== ztun-ref MTU $mtu, SOCKS5 $d, 1 stream: perf self (no children)"
				perf report -i "$tmp/perf.$d.data" --stdio --no-children \
					--sort dso,symbol -g none 2>/dev/null | grep -v '^#' | grep . | head -n 30
			} >>"$out/profile.txt"
		done
	fi
	if [ "$mtu" = 1500 ]; then
		# short connections: the ceiling, this ztun-ref, a second one
		# with --early-synack (targets 10.203.1.3 and .4), a third with
		# --busy-poll (10.203.1.5 and .6; docs/cli.md) and a fourth with
		# both (10.203.1.9 and .10), in turn
		start_variant early "10.203.1.3/32 10.203.1.4/32" -m "$mtu" \
			-x "socks5://$SOCKS" --socks5-pipelined -x "http://$HTTP" \
			--rule 'tcp 10.203.1.4 -> http' --early-synack
		early_pid=$started_pid
		start_variant busy "10.203.1.5/32 10.203.1.6/32" -m "$mtu" \
			-x "socks5://$SOCKS" --socks5-pipelined -x "http://$HTTP" \
			--rule 'tcp 10.203.1.6 -> http' --busy-poll "$busy_us"
		busy_pid=$started_pid
		start_variant combined "10.203.1.9/32 10.203.1.10/32" -m "$mtu" \
			-x "socks5://$SOCKS" --socks5-pipelined -x "http://$HTTP" \
			--rule 'tcp 10.203.1.10 -> http' --early-synack --busy-poll "$busy_us"
		combined_pid=$started_pid
		for p in 1 16; do
			RR_PID[z$mtu.rr$p]=$ztun_pid RR_PID[hz.rr$p]=$ztun_pid
			RR_PID[zE.rr$p]=$early_pid RR_PID[hzE.rr$p]=$early_pid
			RR_PID[zB.rr$p]=$busy_pid RR_PID[hzB.rr$p]=$busy_pid
			RR_PID[zC.rr$p]=$combined_pid RR_PID[hzC.rr$p]=$combined_pid
		done
		for p in 1 16; do
			[ $p = 1 ] && n=$n_serial || n=$n_par
			rr_set $p "$n" ceil.rr$p "-t $T1 -s $SOCKS" z$mtu.rr$p "-t $T1" \
				zE.rr$p "-t $T3" zB.rr$p "-t $T5" zC.rr$p "-t $T9"
		done
		for d in $DIRS; do
			bulk_pair "$d" 1 hceil.$d.1 "-t $T2 -c $HTTP" hz.$d.1 "-t $T2"
		done
		for p in 1 16; do
			[ $p = 1 ] && n=$n_serial || n=$n_par
			rr_set $p "$n" hceil.rr$p "-t $T2 -c $HTTP" hz.rr$p "-t $T2" \
				hzE.rr$p "-t $T4" hzB.rr$p "-t $T6" hzC.rr$p "-t $T10"
		done
		# what --busy-poll costs a bulk transfer: one-stream downloads
		# through it in turn with the same through this ztun-ref
		BULK_PID[zB.down.1]=$busy_pid
		bulk_pair down 1 zD.down.1 "-t $T1" zB.down.1 "-t $T5"
		stop_ztun_on "$early_pid" "$tmp/ztun-early.log"
		stop_ztun_on "$busy_pid" "$tmp/ztun-busy.log"
		stop_ztun_on "$combined_pid" "$tmp/ztun-combined.log"
		early_pid= busy_pid= combined_pid=
		# UDP: iperf3 datagrams at a fixed offered rate, plain, then
		# through this ztun-ref by NAT (10.203.1.7) and by SOCKS5 UDP
		# ASSOCIATE through danted (10.203.1.8), in turn
		for d in $DIRS; do
			for i in $(seq "${BENCH_BULK_ROUNDS:-3}"); do
				udp_run uplain.$d 10.203.0.2 5201 "$d"
				udp_run unat.$d 10.203.1.7 5202 "$d" "$ztun_pid"
				udp_run usocks.$d 10.203.1.8 5203 "$d" "$ztun_pid"
			done
			udp_done uplain.$d
			udp_done unat.$d
			udp_done usocks.$d
		done
		# the same datagrams from udp_bench: SOCKS5 UDP ASSOCIATE
		# straight to danted (the ceiling iperf3 cannot measure) and
		# through ztun-ref; then, at BENCH_UDP_GSO_RATE, by NAT and
		# plain, sent one per call and in UDP_SEGMENT runs (as QUIC
		# stacks send; the server sends back the same way), in turn
		for d in $DIRS; do
			for i in $(seq "${BENCH_BULK_ROUNDS:-3}"); do
				ub_run uceil.$d "$d" "-t 10.203.1.8:5204 -s $SOCKS"
				ub_run uzsocks.$d "$d" "-t 10.203.1.8:5204" "$ztun_pid"
				ub_run ubplain.$d "$d" "-t 10.203.0.2:5206 -b $udp_gso_rate"
				ub_run ubnat.$d "$d" "-t 10.203.1.7:5205 -b $udp_gso_rate" "$ztun_pid"
				ub_run ugplain.$d "$d" "-t 10.203.0.2:5206 -b $udp_gso_rate -g"
				ub_run ugnat.$d "$d" "-t 10.203.1.7:5205 -b $udp_gso_rate -g" "$ztun_pid"
			done
			for k in uceil uzsocks ubplain ubnat ugplain ugnat; do
				udp_done $k.$d
			done
		done
	fi
	R[hwmall.$mtu]=$(status_kb "$ztun_pid" VmHWM)
	stop_ztun
	# mean TUN packet size over the phase (segments the MTU allows vs used)
	R[tunpk.$mtu]=$(sed -n 's/.*stats: tun rx \([0-9]*\) packets \([0-9]*\) bytes, tx \([0-9]*\) packets \([0-9]*\) bytes.*/\1 \2 \3 \4/p' \
		"$tmp/ztun.log" | tail -n 1 |
		awk '{ if ($1 > 0 && $3 > 0) printf "%d/%d", $2 / $1, $4 / $3 }')
done

# --- (f) the fast SOCKS5 server ----------------------------------------------
# tools/bench/socks_server.c instead of danted, ceiling and ztun-ref in
# turn as above: bulk at MTU 8500 (the column of the issue's throughput
# target), short connections, SOCKS5 UDP ASSOCIATE by udp_bench
if [[ $phases == *" fast "* ]]; then
	log "fast SOCKS5 server (socks_server), TUN MTU 8500"
	start_measured -m 8500 -x "socks5://$FAST" --socks5-pipelined
	for d in $DIRS; do
		for p in $STREAMS; do
			bulk_pair "$d" "$p" fc.$d.$p "-t $T1 -s $FAST" fz.$d.$p "-t $T1"
		done
	done
	# short connections also through a second one with both latency
	# flags, --early-synack and --busy-poll (target 10.203.1.3)
	start_variant combined 10.203.1.3/32 -m 8500 -x "socks5://$FAST" \
		--socks5-pipelined --early-synack --busy-poll "$busy_us"
	combined_pid=$started_pid
	for p in 1 16; do
		[ $p = 1 ] && n=$n_serial || n=$n_par
		RR_PID[fz.rr$p]=$ztun_pid RR_PID[fzC.rr$p]=$combined_pid
		rr_set $p "$n" fc.rr$p "-t $T1 -s $FAST" fz.rr$p "-t $T1" fzC.rr$p "-t $T3"
	done
	stop_ztun_on "$combined_pid" "$tmp/ztun-combined.log"
	combined_pid=
	for d in $DIRS; do
		for i in $(seq "${BENCH_BULK_ROUNDS:-3}"); do
			ub_run fuceil.$d "$d" "-t 10.203.1.8:5204 -s $FAST"
			ub_run fuz.$d "$d" "-t 10.203.1.8:5204" "$ztun_pid"
		done
		udp_done fuceil.$d
		udp_done fuz.$d
	done
	stop_ztun
fi

# --- (g) no offloads -----------------------------------------------------------
# A TUN without IFF_VNET_HDR (--no-offload; an inherited --tun-fd such as
# Android's VpnService gives): every packet MSS-sized both ways. The danted
# bulk runs at MTU 1500, ceiling and ztun-ref in turn as above.
if [[ $phases == *" nooffload "* ]]; then
	log "no offloads (--no-offload), TUN MTU 1500"
	start_measured -m 1500 --no-offload -x "socks5://$SOCKS" --socks5-pipelined
	for d in $DIRS; do
		for p in $STREAMS; do
			bulk_pair "$d" "$p" nc.$d.$p "-t $T1 -s $SOCKS" zn.$d.$p "-t $T1"
		done
	done
	stop_ztun
fi

# --- (e) idle connections ---------------------------------------------------
# Direct, not through a proxy: what is measured is ztun-ref's own cost per
# connection, and a SOCKS5 server needs two descriptors per connection
# (microsocks stops near 9,998 under this container's hard limit of 20,000).
if [[ $phases != *" idle "* ]]; then
	:
elif log "$n_idle idle connections through ztun-ref (direct egress)"; start_ztun; then
	R[idle.rss0]=$(status_kb "$ztun_pid" VmRSS)
	cx "$tool" client -m hold -t "$T1" -n "$n_idle" -d 120 >"$tmp/hold.out" 2>>"$tmp/client.err" &
	hold_pid=$!
	pids+=($hold_pid)
	for _ in $(seq 1200); do
		grep -q HELD "$tmp/hold.out" && break
		kill -0 "$hold_pid" 2>/dev/null || break
		sleep 0.1
	done
	sleep 1
	R[idle.n]=$(sed -n 's/HELD reached=\([0-9]*\).*/\1/p' "$tmp/hold.out")
	R[idle.rss]=$(status_kb "$ztun_pid" VmRSS)
	R[idle.hwm]=$(status_kb "$ztun_pid" VmHWM)
	log "idle: $(cat "$tmp/hold.out") ztun VmRSS ${R[idle.rss]} kB (at start ${R[idle.rss0]} kB)"
	kill "$hold_pid" 2>/dev/null
	wait "$hold_pid" 2>/dev/null
	stop_ztun
else
	log "ztun-ref (idle phase) did not start"
	stop_ztun
fi

# --- table ------------------------------------------------------------------
v() { echo "${R[$1]:--}"; }
verdict() { # RATIO MIN
	awk -v r="$1" -v m="$2" 'BEGIN { if (r == "-") print "no data"; else if (r + 0 >= m) print "met"; else print "NOT met" }'
}
verdict_max() { # VALUE MAX
	awk -v r="$1" -v m="$2" 'BEGIN { if (r == "-" || r == "") print "no data"; else if (r + 0 <= m) print "met"; else print "NOT met" }'
}
# the issue 8 targets (docs/performance.md)
T_BULK=0.80 T_CPU1500=1.5 T_CPU8500=0.9 T_CONNS=0.90 T_LAT_US=100 T_HTTP=0.90
T_IDLE_KB=65536 T_PEAK_KB=16384
rows=()
row() { rows+=("$(IFS='|'; echo "$*")"); }
row "metric" "plain veth" "no-TUN ceiling" "ztun MTU 1500" "ratio [runs]" "ceiling (8500 run)" "ztun MTU 8500" "ratio [runs]" "target"
for d in $DIRS; do
	for p in $STREAMS; do
		r1=$(ratio "$(v z1500.$d.$p)" "$(v c1500.$d.$p)")
		r8=$(ratio "$(v z8500.$d.$p)" "$(v c8500.$d.$p)")
		v1="$(verdict "$r1" $T_BULK)$(count_met "${R[z1500.$d.$p.ratios]:-}" min $T_BULK)"
		v8="$(verdict "$r8" $T_BULK)$(count_met "${R[z8500.$d.$p.ratios]:-}" min $T_BULK)"
		row "SOCKS5 $d, $p stream(s), Gb/s" "$(v plain.$d.$p)" "$(v c1500.$d.$p)" "$(v z1500.$d.$p)" \
			"$r1$(spread "${R[z1500.$d.$p.ratios]:-}")" "$(v c8500.$d.$p)" "$(v z8500.$d.$p)" \
			"$r8$(spread "${R[z8500.$d.$p.ratios]:-}")" ">= $T_BULK of ceiling: 1500 $v1, 8500 $v8"
	done
done
for d in $DIRS; do
	for p in $STREAMS; do
		row "ztun CPU s/GB [runs] (kernel share), $d $p" "" "" \
			"$(v z1500.$d.$p.cpu)$(spread "${R[z1500.$d.$p.cpus]:-}") ($(v z1500.$d.$p.sys))" "" "" \
			"$(v z8500.$d.$p.cpu)$(spread "${R[z8500.$d.$p.cpus]:-}") ($(v z8500.$d.$p.sys))" "" \
			"<= $T_CPU1500 / $T_CPU8500: 1500 $(verdict_max "$(v z1500.$d.$p.cpu)" $T_CPU1500)$(count_met "${R[z1500.$d.$p.cpus]:-}" max $T_CPU1500), 8500 $(verdict_max "$(v z8500.$d.$p.cpu)" $T_CPU8500)$(count_met "${R[z8500.$d.$p.cpus]:-}" max $T_CPU8500)"
	done
done
for d in $DIRS; do
	for p in $STREAMS; do
		row "TUN mean data packet bytes, $d $p" "" "" "$(v z1500.$d.$p.seg)" "" "" "$(v z8500.$d.$p.seg)" "" "(reported)"
	done
done
# conn_rows PROTO CEIL Z TARGET_MIN LAT_TARGET(yes/no) [SUFFIX]: rate and
# latency rows of one pair of short-connection runs
conn_rows() {
	local proto=$1 ce=$2 z=$3 tmin=$4 lat=$5 suffix=${6:-} k what c r dl
	for k in rr1 rr16; do
		[ $k = rr1 ] && what="serial $n_serial" || what="16-way $n_par"
		c=$(v $ce.$k.cps)
		r=$(ratio "$(v $z.$k.cps)" "$c")
		row "$proto short conns/s, $what$suffix" "" "$c" "$(v $z.$k.cps)" \
			"$r$(spread "${R[$z.$k.ratios]:-}")" "" "" "" \
			">= $tmin of ceiling: $(verdict "$r" "$tmin")$(count_met "${R[$z.$k.ratios]:-}" min "$tmin")"
		dl=$(awk -v a="$(v $z.$k.p50)" -v b="$(v $ce.$k.p50)" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) print a - b; else print "-" }')
		row "  connect-to-first-byte p50/p99 us" "" "$(v $ce.$k.p50)/$(v $ce.$k.p99)" \
			"$(v $z.$k.p50)/$(v $z.$k.p99)" "$(awk -v d="$dl" 'BEGIN { if (d == "-") print "-"; else printf "%+d us", d }')" "" "" "" \
			"$([ "$lat" = yes ] && echo "p50 within $T_LAT_US us: $(verdict_max "$dl" $T_LAT_US)" || echo "(reported)")"
		row "  ztun CPU per connection, us" "" "" "$(v $z.$k.cpu_us)" "" "" "" "" "(reported)"
		row "  all CPUs' busy time per connection, us" "" "$(v $ce.$k.busy_us)" "$(v $z.$k.busy_us)" \
			"$(awk -v a="$(v $z.$k.busy_us)" -v b="$(v $ce.$k.busy_us)" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%+d us", a - b; else print "-" }')" \
			"" "" "" "(reported)"
	done
}
conn_rows SOCKS5 ceil z1500 $T_CONNS yes
for d in $DIRS; do
	c=$(v hceil.$d.1)
	r=$(ratio "$(v hz.$d.1)" "$c")
	row "HTTP CONNECT $d, 1 stream, Gb/s" "" "$c" "$(v hz.$d.1)" "$r$(spread "${R[hz.$d.1.ratios]:-}")" "" "" "" \
		">= $T_HTTP of ceiling: $(verdict "$r" $T_HTTP)$(count_met "${R[hz.$d.1.ratios]:-}" min $T_HTTP)"
done
conn_rows "HTTP CONNECT" hceil hz $T_HTTP no
conn_rows SOCKS5 ceil zE $T_CONNS yes ", --early-synack"
conn_rows "HTTP CONNECT" hceil hzE $T_HTTP no ", --early-synack"
conn_rows SOCKS5 ceil zB $T_CONNS yes ", --busy-poll $busy_us"
conn_rows "HTTP CONNECT" hceil hzB $T_HTTP no ", --busy-poll $busy_us"
conn_rows SOCKS5 ceil zC $T_CONNS yes ", --early-synack --busy-poll $busy_us"
conn_rows "HTTP CONNECT" hceil hzC $T_HTTP no ", --early-synack --busy-poll $busy_us"
row "SOCKS5 down, 1 stream, --busy-poll $busy_us: Gb/s, ztun CPU s/GB [runs]" "" "" \
	"$(v zB.down.1), $(v zB.down.1.cpu)$(spread "${R[zB.down.1.cpus]:-}")" \
	"$(ratio "$(v zB.down.1)" "$(v zD.down.1)")$(spread "${R[zB.down.1.ratios]:-}") of the default's" "" "" "" \
	"(reported) the default in turn: $(v zD.down.1), $(v zD.down.1.cpu)$(spread "${R[zD.down.1.cpus]:-}")"
for d in $DIRS; do
	for k in unat usocks; do
		[ $k = unat ] && what="NAT" || what="SOCKS5 UDP (danted)"
		row "UDP $d, $what, ${udp_len}-byte datagrams at $udp_rate/s offered: Gb/s received (lost %)" \
			"$(v uplain.$d) ($(v uplain.$d.loss)%)" "" "$(v $k.$d) ($(v $k.$d.loss)%)" \
			"$(ratio "$(v $k.$d)" "$(v uplain.$d)") of plain" "" "" "" "(reported)"
		row "  ztun CPU per datagram, us" "" "" "$(v $k.$d.us)" "" "" "" "" "(reported)"
	done
done
for d in $DIRS; do
	row "UDP $d, SOCKS5 UDP ASSOCIATE (danted), udp_bench, same datagrams: Gb/s received (lost %)" "" \
		"$(v uceil.$d) ($(v uceil.$d.loss)%)" "$(v uzsocks.$d) ($(v uzsocks.$d.loss)%)" \
		"$(ratio "$(v uzsocks.$d)" "$(v uceil.$d)")" "" "" "" "(reported)"
	row "  ztun CPU per datagram, us" "" "" "$(v uzsocks.$d.us)" "" "" "" "" "(reported)"
	for k in ub ug; do
		[ $k = ub ] && what="one per call" || what="UDP_SEGMENT runs (-g)"
		row "UDP $d, NAT, udp_bench at $udp_gso_rate/s, $what: Gb/s received (lost %)" \
			"$(v ${k}plain.$d) ($(v ${k}plain.$d.loss)%)" "" "$(v ${k}nat.$d) ($(v ${k}nat.$d.loss)%)" \
			"$(ratio "$(v ${k}nat.$d)" "$(v ${k}plain.$d)") of plain" "" "" "" "(reported)"
		row "  ztun CPU per datagram, us" "" "" "$(v ${k}nat.$d.us)" "" "" "" "" "(reported)"
	done
done
# without offloads: the MTU 1500 columns, next to the issue's figures for
# hev-socks5-tunnel at MTU 1500 (it has no vnet offloads)
for d in $DIRS; do
	for p in $STREAMS; do
		case $d.$p in up.1) h=2.1 ;; up.4) h=2.3 ;; down.1) h=2.0 ;; *) h=2.3 ;; esac
		row "no offloads (--no-offload): SOCKS5 $d, $p stream(s), Gb/s" "" "$(v nc.$d.$p)" \
			"$(v zn.$d.$p)" "$(ratio "$(v zn.$d.$p)" "$(v nc.$d.$p)")$(spread "${R[zn.$d.$p.ratios]:-}")" \
			"" "" "" "(reported) hev-socks5-tunnel at MTU 1500 in the issue: $h Gb/s"
		row "  ztun CPU s/GB [runs] (kernel share)" "" "" \
			"$(v zn.$d.$p.cpu)$(spread "${R[zn.$d.$p.cpus]:-}") ($(v zn.$d.$p.sys))" "" "" "" "" \
			"(reported) hev-socks5-tunnel: 3.4-3.7"
	done
done
# the fast server's rows: ceiling and ztun-ref in the MTU 8500 columns
for d in $DIRS; do
	for p in $STREAMS; do
		r8=$(ratio "$(v fz.$d.$p)" "$(v fc.$d.$p)")
		row "fast SOCKS5 server: $d, $p stream(s), Gb/s" "" "" "" "" "$(v fc.$d.$p)" "$(v fz.$d.$p)" \
			"$r8$(spread "${R[fz.$d.$p.ratios]:-}")" \
			">= $T_BULK of ceiling: 8500 $(verdict "$r8" $T_BULK)$(count_met "${R[fz.$d.$p.ratios]:-}" min $T_BULK)"
		row "  ztun CPU s/GB [runs] (kernel share)" "" "" "" "" "" \
			"$(v fz.$d.$p.cpu)$(spread "${R[fz.$d.$p.cpus]:-}") ($(v fz.$d.$p.sys))" "" \
			"<= $T_CPU8500: $(verdict_max "$(v fz.$d.$p.cpu)" $T_CPU8500)$(count_met "${R[fz.$d.$p.cpus]:-}" max $T_CPU8500)"
		row "  all CPUs' busy s/GB, ceiling path / through ztun-ref" "" "" "" "" "$(v fc.$d.$p.busy)" \
			"$(v fz.$d.$p.busy)" "$(ratio "$(v fc.$d.$p.busy)" "$(v fz.$d.$p.busy)")" "(reported)"
	done
done
for z in fz fzC; do
	[ $z = fz ] && flags= || flags=", --early-synack --busy-poll $busy_us"
	for k in rr1 rr16; do
		[ $k = rr1 ] && what="serial $n_serial" || what="16-way $n_par"
		r=$(ratio "$(v $z.$k.cps)" "$(v fc.$k.cps)")
		dl=$(awk -v a="$(v $z.$k.p50)" -v b="$(v fc.$k.p50)" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) print a - b; else print "-" }')
		row "fast SOCKS5 server: short conns/s, $what$flags" "" "" "" "" "$(v fc.$k.cps)" "$(v $z.$k.cps)" \
			"$r$(spread "${R[$z.$k.ratios]:-}")" \
			">= $T_CONNS of ceiling: $(verdict "$r" $T_CONNS)$(count_met "${R[$z.$k.ratios]:-}" min $T_CONNS)"
		row "  connect-to-first-byte p50/p99 us; ztun CPU per connection" "" "" "" "" \
			"$(v fc.$k.p50)/$(v fc.$k.p99)" "$(v $z.$k.p50)/$(v $z.$k.p99); $(v $z.$k.cpu_us) us" \
			"$(awk -v d="$dl" 'BEGIN { if (d == "-") print "-"; else printf "%+d us", d }')" \
			"$([ $k = rr1 ] && echo "p50 within $T_LAT_US us: $(verdict_max "$dl" $T_LAT_US)" || echo "(reported)")"
	done
done
for d in $DIRS; do
	row "fast SOCKS5 server: UDP $d, udp_bench at $udp_rate/s: Gb/s received (lost %)" "" "" "" "" \
		"$(v fuceil.$d) ($(v fuceil.$d.loss)%)" "$(v fuz.$d) ($(v fuz.$d.loss)%)" \
		"$(ratio "$(v fuz.$d)" "$(v fuceil.$d)")" "(reported); ztun $(v fuz.$d.us) us per datagram"
done
row "TUN mean packet bytes rx/tx (whole phase)" "" "" "$(v tunpk.1500)" "" "" "$(v tunpk.8500)" "" "(reported)"
row "ztun VmRSS at start, kB" "" "" "$(v rss0.1500)" "" "" "$(v rss0.8500)" "" "(reported)"
row "ztun peak RSS (VmHWM) after SOCKS5 bulk, kB" "" "" "$(v hwm.1500)" "" "" "$(v hwm.8500)" "" \
	"< $T_PEAK_KB: 1500 $(verdict_max "$(v hwm.1500)" $((T_PEAK_KB - 1))), 8500 $(verdict_max "$(v hwm.8500)" $((T_PEAK_KB - 1)))"
row "ztun peak RSS (VmHWM) at the end of the phase, kB" "" "" "$(v hwmall.1500)" "" "" "$(v hwmall.8500)" "" "(reported)"
row "idle connections held (of $n_idle)" "" "" "$(v idle.n)" "" "" "" "" "$([ "$(v idle.n)" = "$n_idle" ] && echo reached || echo "NOT all reached")"
row "ztun VmRSS with them / before, kB" "" "" "$(v idle.rss) / $(v idle.rss0)" "" "" "" "" \
	"< $T_IDLE_KB with 10000: $([ "$(v idle.n)" = 10000 ] && verdict_max "$(v idle.rss)" $((T_IDLE_KB - 1)) || echo "not measured (BENCH_IDLE)")"
idle_per=$(awk -v a="$(v idle.rss)" -v b="$(v idle.rss0)" -v n="$(v idle.n)" \
	'BEGIN { if (n + 0 > 0 && a + 0 > 0) printf "%.2f", (a - b) / n; else print "-" }')
row "ztun kB per idle connection" "" "" "$idle_per" "" "" "" "" "(reported)"

{
	echo "ztun-ref benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)),"
	echo "kernel $(uname -r); bulk: ${BENCH_BULK_ROUNDS:-3} runs of ${secs}s after 1s warm-up per path, taken in turn; load generator, proxies and ztun-ref share the CPUs."
	echo "$machine_line"
	echo
	printf '%s\n' "${rows[@]}" | column -t -s '|' -o ' | '
} >"$out/results.txt"
{
	echo "ztun-ref benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r);"
	echo "bulk: ${BENCH_BULK_ROUNDS:-3} runs of ${secs} s after 1 s warm-up per path, taken in turn; load generator, proxies and ztun-ref share the CPUs."
	echo "$machine_line"
	echo
	first=1
	for r in "${rows[@]}"; do
		echo "| ${r//|/ | } |"
		if [ -n "$first" ]; then
			echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
			first=
		fi
	done
} >"$out/results.md"
cat "$out/results.txt"
echo
echo "bench: written $out/results.txt and $out/results.md"
grep 'stats: ' "$out/ztun.log" | grep -E 'failed|timeouts|refused|tcp-segs' | sed 's/^/bench: ztun /' >&2 || true
