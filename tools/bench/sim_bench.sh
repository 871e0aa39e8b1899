#!/bin/sh
# SPDX-License-Identifier: MIT
#
# sim_bench.sh - the core alone: `ztun-sim replay` of a 100,000-packet
# capture, packets per second, and callgrind instructions per data segment.
#
#   tools/bench/sim_bench.sh PATH/TO/ztun-sim [OUTDIR]
#
# Theory of operation: tools/bench/gen_capture.py writes a deterministic
# capture (4 TCP uploads of 1000-byte segments, ACKs every second segment,
# 100,000 packets) into OUTDIR; the replay is timed five times (best and
# median wall time, packets per second over all frames read); then one run
# under `valgrind --tool=callgrind` counts instructions inside
# zt_replay_run and inside zt_stack_input (the core's intake: parse,
# checksum, demux, the tcb, the ACKs it sends), divided by the data
# segments fed. Instruction counts repeat exactly for the same binary and
# input, whatever else the machine does; times do not. Writes
# OUTDIR/sim.txt. Needs python3 and valgrind; no root.
set -u
bin=${1:-}
out=${2:-build/bench}
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "usage: $0 PATH/TO/ztun-sim [OUTDIR]" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out" || exit 2
cap=$out/replay-100k.pcap
python3 "$here/gen_capture.py" "$cap" 100000 4 1000 >/dev/null || exit 1
"$bin" replay "$cap" >"$out/replay.out" || exit 1
frames=$(sed -n 's/.*frames read \([0-9]*\).*/\1/p' "$out/replay.out")
fed=$(sed -n 's/.*, fed \([0-9]*\),.*/\1/p' "$out/replay.out")
times=""
for _ in 1 2 3 4 5; do
	t0=$(date +%s%N)
	"$bin" replay "$cap" >/dev/null
	t1=$(date +%s%N)
	times="$times $(((t1 - t0) / 1000))"
done
best=$(echo $times | tr ' ' '\n' | sort -n | head -n 1)
median=$(echo $times | tr ' ' '\n' | sort -n | sed -n 3p)
cg=""
if command -v valgrind >/dev/null 2>&1; then
	rm -f "$out"/callgrind.out.*
	valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.replay" \
		--toggle-collect=zt_replay_run "$bin" replay "$cap" >/dev/null 2>"$out/callgrind.err"
	total=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out/callgrind.err")
	intake=$(callgrind_annotate --inclusive=yes "$out/callgrind.out.replay" 2>/dev/null |
		awk '/stack\.c:zt_stack_input \[/ { gsub(",", "", $1); print $1; exit }')
	cg=$(awk -v t="$total" -v i="$intake" -v f="$frames" -v d="$fed" 'BEGIN {
		printf "callgrind: %d instructions in zt_replay_run (%.0f per frame); zt_stack_input %d (%.0f per data segment fed, %d fed)",
			t, t / f, i, i / d, d }')
fi
{
	echo "ztun-sim replay, $(date -u '+%Y-%m-%d %H:%M UTC'): $frames frames ($fed fed to the stack) of 1000-byte TCP segments"
	awk -v b="$best" -v m="$median" -v f="$frames" 'BEGIN {
		printf "wall time best %.1f ms, median %.1f ms of 5: %.0f frames/s (best), %.0f (median)\n",
			b / 1000, m / 1000, f / (b / 1e6), f / (m / 1e6) }'
	[ -n "$cg" ] && echo "$cg"
} | tee "$out/sim.txt"
