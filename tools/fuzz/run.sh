#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run.sh - run each libFuzzer target for a while and summarise.
#
#   run.sh BUILD SECONDS TARGET...
#
# Theory of operation: BUILD/fuzz_TARGET runs for SECONDS on a working
# corpus BUILD/corpus/TARGET (new inputs land there) seeded read-only from
# tools/fuzz/corpus/TARGET; crashes, leaks and timeouts (10 s per input)
# are written to tools/fuzz/crashes/TARGET/. At the end one line per
# target gives executions per second, coverage (cov: edges, ft: features),
# corpus size and how many crash files there are. The exit status is 1
# when any target crashed. $FUZZ_FLAGS is added to every fuzzer's command
# line (e.g. "-fork=1 -ignore_crashes=1" to go on past a known crash).
set -u
build=$1
secs=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
summary=""
bad=0
for t in "$@"; do
	bin=$build/fuzz_$t
	work=$build/corpus/$t
	crash=$root/tools/fuzz/crashes/$t
	seeds=$root/tools/fuzz/corpus/$t
	mkdir -p "$work" "$crash" "$seeds"
	log=$build/fuzz_$t.log
	echo "== fuzz_$t for ${secs}s" >&2
	maxlen=4096
	case $t in records|pcap) maxlen=65536 ;; esac
	# shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 \
		-max_len=$maxlen -print_final_stats=1 \
		-artifact_prefix="$crash/" ${FUZZ_FLAGS:-} "$work" "$seeds" >"$log" 2>&1
	rc=$?
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
	eps=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -n 1)
	[ -n "$eps" ] || eps=$(echo "$last" | sed -n 's/.*exec\/s:* \([0-9]*\).*/\1/p')
	runs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -n 1)
	ncrash=$(find "$crash" -type f | wc -l)
	if [ $rc -ne 0 ]; then
		bad=1
		echo "fuzz_$t: exit $rc, see $log" >&2
		grep -E 'ERROR|SUMMARY|invariant' "$log" | head -n 5 >&2
	fi
	summary="$summary$(printf '%-14s exec/s %-7s runs %-9s cov: %-6s ft: %-6s corp: %-5s crashes: %s' \
		"$t" "${eps:-?}" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$ncrash")
"
done
printf '\n%s' "$summary"
exit $bad
