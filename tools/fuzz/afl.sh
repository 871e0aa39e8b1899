#!/bin/sh
# SPDX-License-Identifier: MIT
#
# afl.sh - run AFL++ on the afl_driver builds of the fuzz targets and
# summarise.
#
#   afl.sh BUILD SECONDS TARGET...
#
# Theory of operation: BUILD/afl_TARGET (tools/fuzz/afl_driver.c linked with
# tools/fuzz/fuzz_TARGET.c by afl-clang-*, persistent mode) runs under
# afl-fuzz for SECONDS (-V) on a fresh output directory BUILD/out/TARGET.
# Its input directory BUILD/in/TARGET is a copy of tools/fuzz/corpus/TARGET
# without the seeds larger than $AFL_MAX_SEED bytes (default 65536: AFL
# mutates whole files and slows down on big ones). The container settings
# AFL++ insists on are set here (no CPU-frequency or core-pattern checks,
# no CPU binding, no UI); -m none because ASan reserves terabytes of
# virtual memory; 5 s per input before it counts as a hang. At the end one
# line per target from fuzzer_stats: executions per second, executions,
# corpus (queue) size, edges found of the map, crashes and hangs. Crashing
# inputs are copied to tools/fuzz/crashes/afl-TARGET/ (not committed), to be
# reproduced with `BUILD/afl_TARGET FILE` and minimised with afl-tmin
# (tools/fuzz/README.md). Exit status 1 when a target crashed or afl-fuzz
# failed. $AFL_FLAGS is added to every afl-fuzz command line.
set -u
build=$1
secs=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
maxseed=${AFL_MAX_SEED:-65536}
flags=${AFL_FLAGS:-}
# make's own AFL_* variables reach here through the environment; afl-fuzz
# would warn about each as a mistyped setting of its own
unset AFL_MAX_SEED AFL_FLAGS AFL_SECONDS AFL_TARGET AFL_SAN AFL_CC AFL_AR AFL_BUILD
summary=""
bad=0

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
	AFL_NO_AFFINITY=1 AFL_NO_UI=1 AFL_SKIP_CRASHES=1
# a sanitizer report must end the process with a signal AFL++ counts
export ASAN_OPTIONS=abort_on_error=1:symbolize=0:detect_leaks=0:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=0

stat_of() { sed -n "s/^$1[[:space:]]*:[[:space:]]*//p" "$2" | head -n 1; }

for t in "$@"; do
	bin=$build/afl_$t
	in=$build/in/$t
	out=$build/out/$t
	log=$build/afl_$t.log
	crash=$root/tools/fuzz/crashes/afl-$t
	rm -rf "$in" "$out"
	mkdir -p "$in" "$crash" "$build/out"
	kept=0
	dropped=0
	for f in "$root/tools/fuzz/corpus/$t"/*; do
		[ -f "$f" ] || continue
		if [ "$(stat -c %s "$f")" -le "$maxseed" ]; then
			cp "$f" "$in/"
			kept=$((kept + 1))
		else
			dropped=$((dropped + 1))
		fi
	done
	echo "== afl_$t for ${secs}s: $kept seeds (${dropped} over $maxseed bytes left out)" >&2
	# shellcheck disable=SC2086 # AFL_FLAGS is a list of flags
	afl-fuzz -i "$in" -o "$out" -V "$secs" -m none -t 5000 $flags \
		-- "$bin" >"$log" 2>&1
	rc=$?
	st=$out/default/fuzzer_stats
	if [ $rc -ne 0 ] || [ ! -f "$st" ]; then
		bad=1
		echo "afl_$t: afl-fuzz exit $rc, see $log" >&2
		grep -E 'PROGRAM ABORT|ERROR|Location' "$log" | head -n 5 >&2
		summary="$summary$(printf '%-14s afl-fuzz failed (exit %s)' "$t" "$rc")
"
		continue
	fi
	eps=$(stat_of execs_per_sec "$st")
	runs=$(stat_of execs_done "$st")
	corp=$(stat_of corpus_count "$st")
	edges=$(stat_of edges_found "$st")
	total=$(stat_of total_edges "$st")
	cvg=$(stat_of bitmap_cvg "$st")
	ncrash=$(stat_of saved_crashes "$st")
	[ -n "$ncrash" ] || ncrash=$(stat_of unique_crashes "$st")
	nhang=$(stat_of saved_hangs "$st")
	[ -n "$nhang" ] || nhang=$(stat_of unique_hangs "$st")
	for c in "$out"/default/crashes/id:*; do
		[ -f "$c" ] && cp "$c" "$crash/"
	done
	[ "${ncrash:-0}" = 0 ] || bad=1
	summary="$summary$(printf '%-14s exec/s %-8s runs %-9s corpus %-5s edges %s/%s (%s) crashes %s hangs %s' \
		"$t" "${eps:-?}" "${runs:-?}" "${corp:-?}" "${edges:-?}" "${total:-?}" \
		"${cvg:-?}" "${ncrash:-?}" "${nhang:-?}")
"
done
printf '\n%s' "$summary"
exit $bad
