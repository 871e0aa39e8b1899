#!/bin/sh
# SPDX-License-Identifier: MIT
#
# scenarios_twice.sh - run every scenarios/*.scn twice through ztun-sim and
# check that both runs pass and leave the same trace hashes (determinism).
# Usage: tests/cli/scenarios_twice.sh PATH/TO/ztun-sim [FILE.scn...]
#
# Theory of operation: `ztun-sim run --trace-hash` prints one
# "HASH FILE 0x..." line per script; the two runs' HASH lines must be
# identical. Exits 0 when all passed both times with equal hashes, 1
# otherwise, 2 on a usage error.

bin=$1
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "usage: $0 PATH/TO/ztun-sim [FILE.scn...]" >&2
	exit 2
fi
shift
src=$(cd "$(dirname "$0")/../.." && pwd)
if [ $# -eq 0 ]; then
	set -- "$src"/scenarios/*.scn
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zt-scn-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
status=0
"$bin" run --trace-hash "$@" >"$tmp/run1" 2>&1 || status=1
"$bin" run --trace-hash "$@" >"$tmp/run2" 2>&1 || status=1
grep -v '^HASH ' "$tmp/run1"
if [ "$status" -ne 0 ]; then
	echo "scenarios: some scenario failed (see above)"
	exit 1
fi
grep '^HASH ' "$tmp/run1" >"$tmp/h1"
grep '^HASH ' "$tmp/run2" >"$tmp/h2"
if ! cmp -s "$tmp/h1" "$tmp/h2"; then
	echo "scenarios: trace hashes differ between two runs:"
	diff "$tmp/h1" "$tmp/h2"
	exit 1
fi
echo "scenarios: $(wc -l <"$tmp/h1") traces identical in two runs"
exit 0
