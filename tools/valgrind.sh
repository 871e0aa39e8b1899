#!/bin/bash
# SPDX-License-Identifier: MIT
#
# valgrind.sh - Valgrind memcheck of the simulator, the fuzz harness and
# ztun-ref end to end: no errors, no leaks.
#
#   tools/valgrind.sh [--quick] BUILD
#
# BUILD is a build directory without sanitizers (ASan and valgrind do not
# mix); `make valgrind` builds build/vg with -O1 -g (OPT=-O1) and runs this
# script on it. Every run below is one valgrind process with
#
#   --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all
#   --error-exitcode=99
#
# so any error and any block left at exit (definitely, indirectly, possibly
# lost or still reachable) fails it. The runs:
#
#   scenarios   BUILD/ztun-sim run scenarios/*.scn (one process, all of them)
#   replay      BUILD/ztun-sim replay FILE, each of pcap-fixtures/*.pcap*
#   fuzzrec     BUILD/afl_records (tools/fuzz/afl_driver.c as a replayer)
#               over tools/fuzz/corpus/records, tools/fuzz/regressions and
#               $VG_CORPUS (e.g. an AFL++ queue) when set: memcheck sees
#               reads of uninitialised bytes, which ASan does not
#   e2e         tests/e2e/ztun_ref_e2e.sh with BUILD/ztun-ref wrapped in
#               valgrind (each ztun-ref start is a process and a log; the
#               script's own PASS/FAIL must be all PASS); needs root and the
#               e2e programs, else it reports SKIP. ZT_E2E_BIG passes through.
#
# --quick runs only `scenarios` (about 3 s; `make check` does this on
# build/rel). Logs go to BUILD/valgrind/; the summary prints, per run, its
# exit status, valgrind's error count and the leak summary of each process
# (bytes in use at exit; "clean" when all heap blocks were freed). Exit
# status 1 when any run failed.
set -u
quick=
if [ "${1:-}" = --quick ]; then
	quick=1
	shift
fi
build=${1:-}
if [ -z "$build" ] || [ ! -x "$build/ztun-sim" ]; then
	echo "usage: $0 [--quick] BUILD (with BUILD/ztun-sim built)" >&2
	exit 2
fi
if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind is not installed (make deps)" >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
logs=$build/valgrind
rm -rf "$logs"
mkdir -p "$logs"
vg=(valgrind --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all
    --error-exitcode=99)
bad=0
summary=""

# leaks LOG...: to the summary, one line per valgrind log: errors and what
# was left at exit.
leaks() {
	local f errs inuse
	for f in "$@"; do
		errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$f" | tail -n 1)
		inuse=$(sed -n 's/.*in use at exit: \(.*\)$/\1/p' "$f" | tail -n 1)
		if grep -q 'All heap blocks were freed' "$f"; then
			inuse="clean"
		fi
		if [ -z "$errs" ] && ! grep -q 'HEAP SUMMARY' "$f"; then
			# Only SIGKILL ends a process under valgrind with no
			# summary at all (a crash prints one): the e2e (t)
			# check kills ztun-ref on purpose.
			summary="$summary$(printf '    %s: killed (SIGKILL), no summary' \
				"$(basename "$f")")
"
			continue
		fi
		summary="$summary$(printf '    %s: errors %s, in use at exit %s' \
			"$(basename "$f")" "${errs:-?}" "${inuse:-?}")
"
		if [ "${errs:-x}" != 0 ] || [ "$inuse" != clean ]; then
			bad=1
		fi
	done
}

# note NAME RC SECONDS: one summary line.
note() {
	summary="$summary$(printf '%-10s exit %-3s %4s s' "$1" "$2" "$3")
"
	[ "$2" = 0 ] || bad=1
}

cd "$root" || exit 2

t0=$SECONDS
"${vg[@]}" --log-file="$logs/scenarios.log" "$build/ztun-sim" run scenarios/*.scn \
	>"$logs/scenarios.out" 2>&1
rc=$?
note scenarios $rc $((SECONDS - t0))
summary="$summary    $(tail -n 1 "$logs/scenarios.out")
"
leaks "$logs/scenarios.log"

if [ -z "$quick" ]; then
	t0=$SECONDS
	rc=0
	for p in pcap-fixtures/*.pcap pcap-fixtures/*.pcapng; do
		[ -f "$p" ] || continue
		n=$(basename "$p")
		"${vg[@]}" --log-file="$logs/replay-$n.log" "$build/ztun-sim" replay "$p" \
			>"$logs/replay-$n.out" 2>&1 || rc=$?
	done
	note replay $rc $((SECONDS - t0))
	leaks "$logs"/replay-*.log

	t0=$SECONDS
	if [ -x "$build/afl_records" ]; then
		# shellcheck disable=SC2086 # VG_CORPUS may name several directories
		"${vg[@]}" --log-file="$logs/fuzzrec.log" "$build/afl_records" \
			tools/fuzz/corpus/records tools/fuzz/regressions ${VG_CORPUS:-} \
			>"$logs/fuzzrec.out" 2>&1
		rc=$?
		note fuzzrec $rc $((SECONDS - t0))
		summary="$summary    $(tail -n 1 "$logs/fuzzrec.out")
"
		leaks "$logs/fuzzrec.log"
	else
		summary="${summary}fuzzrec    SKIP ($build/afl_records not built)
"
	fi

	t0=$SECONDS
	wrap=$logs/ztun-ref-vg
	# The e2e runs ztun-ref as an unprivileged user too (check v): its
	# logs go where anyone may write.
	mkdir -p "$logs/e2e" && chmod 1777 "$logs/e2e"
	cat >"$wrap" <<EOF
#!/bin/sh
exec ${vg[*]} --log-file=$logs/e2e/ztun-ref.%p.log $build/ztun-ref "\$@"
EOF
	chmod 755 "$wrap"
	tests/e2e/ztun_ref_e2e.sh "$wrap" >"$logs/e2e.out" 2>&1
	rc=$?
	if grep -q '^SKIP' "$logs/e2e.out"; then
		summary="${summary}e2e        $(head -n 1 "$logs/e2e.out")
"
	else
		note e2e $rc $((SECONDS - t0))
		summary="$summary    $(tail -n 1 "$logs/e2e.out")
"
		if ls "$logs"/e2e/ztun-ref.*.log >/dev/null 2>&1; then
			leaks "$logs"/e2e/ztun-ref.*.log
		else
			summary="$summary    no ztun-ref ran under valgrind
"
			bad=1
		fi
	fi
fi

printf '\nvalgrind %s, logs in %s\n%s' "$(valgrind --version)" "$logs" "$summary"
exit $bad
