#!/bin/sh
# SPDX-License-Identifier: MIT
#
# ztun_sim_cli.sh - exit codes and output of the ztun-sim command line
# (docs/cli.md). Usage: tests/cli/ztun_sim_cli.sh PATH/TO/ztun-sim
#
# Theory of operation: each case runs the binary once, compares its exit
# status with the documented one and, where it matters, looks for a word
# in its stdout or stderr. Prints PASS/FAIL per case and a final
# "N passed, M failed" line; exits 1 when any case failed.

bin=$1
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "usage: $0 PATH/TO/ztun-sim" >&2
	exit 2
fi
src=$(cd "$(dirname "$0")/../.." && pwd)
fixture=$src/pcap-fixtures/http-eth.pcap
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zt-cli-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
passed=0
failed=0

. "$(dirname "$0")/lib.sh"

# check NAME WANT_STATUS GREP_FILE(out|err|-) PATTERN -- ARGS...
check() {
	name=$1 want=$2 where=$3 pat=$4
	shift 5
	"$bin" "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	ok=1
	[ "$got" -eq "$want" ] || ok=0
	if [ "$ok" = 1 ] && [ "$where" != - ]; then
		grep -q -e "$pat" "$tmp/$where" || ok=0
	fi
	if [ "$ok" = 1 ]; then
		echo "PASS: $name"
		passed=$((passed + 1))
	else
		echo "FAIL: $name (exit $got, want $want; looked for '$pat' in std$where)"
		sed 's/^/    /' "$tmp/out" "$tmp/err" | head -20
		failed=$((failed + 1))
	fi
}

check "--help exits 0"              0 out "usage: ztun-sim"  -- --help
check "replay --help exits 0"       0 out "--seed N"         -- replay --help
check "--version exits 0"           0 out "^ztun-sim [0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*$" -- --version
check "no command exits 2"          2 err "usage"            --
check "unknown command exits 2"     2 err "unknown command 'frobnicate'" -- frobnicate
check "unknown flag exits 2"        2 err "unknown flag '--bogus'" -- replay "$fixture" --bogus
check "non-numeric --seed exits 2"  2 err "--seed: 'abc'"    -- replay "$fixture" --seed abc
check "negative --seed exits 2"     2 err "--seed: '-1'"     -- replay "$fixture" --seed -1
check "out-of-range --seed exits 2" 2 err "--seed"           -- replay "$fixture" --seed 18446744073709551616
check "--seed without value exits 2" 2 err "--seed"          -- replay "$fixture" --seed
check "out-of-range --mtu exits 2"  2 err "--mtu: '1279'"    -- replay "$fixture" --mtu 1279
check "non-numeric --mtu exits 2"   2 err "--mtu: '15x'"     -- replay "$fixture" --mtu=15x
check "missing CAPTURE exits 2"     2 err "missing CAPTURE"  -- replay
check "extra argument exits 2"      2 err "extra argument"   -- replay "$fixture" "$fixture"
check "nonexistent capture exits 1" 1 err "$tmp/none.pcap"   -- replay "$tmp/none.pcap"
check "unwritable output exits 1"   1 err "$tmp/no/dir/o.pcap" -- replay "$fixture" -o "$tmp/no/dir/o.pcap"
cp "$fixture" "$tmp/same.pcap"
check "-o the input exits 2"        2 err "-o: '$tmp/same.pcap' is the input capture" -- replay "$tmp/same.pcap" -o "$tmp/same.pcap"
ok=0
cmp -s "$fixture" "$tmp/same.pcap" && ok=1
result $ok "-o the input leaves it intact" "it was overwritten"
check "fixture replay exits 0"      0 out "10.201.0.1:40530 *10.201.0.2:8080 *accept" -- replay "$fixture"
check "table reports closed flows"  0 out "closed$"          -- replay "$fixture" --seed 3 --mtu 1400
check "replay writes -o capture"    0 out "proto"            -- replay "$fixture" -o "$tmp/o.pcap"
scn=$src/scenarios/tcp_upstream_refused.scn
sed 's/R\. 0:0(0) ack 1/S. 0:0(0) ack 1/' "$scn" >"$tmp/bad.scn"
printf '0 tux< nothing\n' >"$tmp/syntax.scn"
check "run --help exits 0"          0 out "--trace-hash"     -- run --help
check "run without files exits 2"   2 err "no FILE.scn"      -- run
check "run unknown flag exits 2"    2 err "unknown flag '--bogus'" -- run --bogus "$scn"
check "run bad --seed exits 2"      2 err "--seed: 'x'"      -- run --seed=x "$scn"
check "run unreadable file exits 2" 2 err "$tmp/none.scn"    -- run "$scn" "$tmp/none.scn"
mkdir "$tmp/dir.scn"
check "run directory exits 2"       2 err "cannot read '$tmp/dir.scn': Is a directory" -- run "$scn" "$tmp/dir.scn"
: >"$tmp/empty.scn"
printf '# only a comment\n\n' >"$tmp/comment.scn"
check "run empty scenario fails"    1 out "empty.scn: no steps" -- run "$tmp/empty.scn"
check "run comment-only scenario fails" 1 out "^0 passed, 1 failed$" -- run "$tmp/comment.scn"
check "run passing scenario exits 0" 0 out "^1 passed, 0 failed$" -- run "$scn"
check "run prints PASS name"        0 out "^PASS $scn$"      -- run --seed=5 "$scn"
check "run failing scenario exits 1" 1 out "^1 passed, 1 failed$" -- run "$scn" "$tmp/bad.scn"
check "run failure names the line"  1 out "bad.scn:6: expected tun> " -- run "$tmp/bad.scn"
check "run failure gives reproduce" 1 out "reproduce: ztun-sim run --seed=5 " -- run "$tmp/bad.scn"
check "run --seed overrides script" 1 out "seed 99; reproduce: ztun-sim run --seed=99" -- run --seed 99 "$tmp/bad.scn"
check "run syntax error fails"      1 out "syntax.scn:1: unknown direction 'tux<'" -- run "$tmp/syntax.scn"
check "run --trace-hash prints HASH" 0 out "^HASH $scn 0x" -- run --trace-hash "$scn"
check "run -v prints each line's text" 0 out "  line 5: +0.020 s1< refuse$" -- run -v "$scn"
check "run --trace-hash, syntax error" 1 out "^FAIL " -- run --trace-hash "$tmp/syntax.scn"
ok=1
grep -q '^HASH' "$tmp/out" && ok=0
result $ok "a script that does not parse has no HASH line" "it printed one"
ok=0
[ -s "$tmp/o.pcap" ] && ok=1
result $ok "-o capture is not empty" "empty or missing"

# -o - writes the pcap to stdout (nanosecond magic first) and the flow
# table to stderr, so the two never mix: `ztun-sim replay X -o - | tcpdump -r -`.
"$bin" replay "$fixture" -o - >"$tmp/stdout.pcap" 2>"$tmp/stderr.txt"
got=$?
magic=$(od -An -tx1 -N4 "$tmp/stdout.pcap" | tr -d ' \n')
ok=0
[ "$got" -eq 0 ] && [ "$magic" = 4d3cb2a1 ] &&
	grep -q "10.201.0.1:40530 *10.201.0.2:8080 *accept" "$tmp/stderr.txt" &&
	! grep -q "accept" "$tmp/stdout.pcap" && ok=1
result $ok "replay -o -: the pcap on stdout, the flow table on stderr" \
	"exit $got, magic '$magic'"

# Each --help is the first block docs/cli.md quotes under its heading.
help_matches() { # HEADING ARGS...
	heading=$1
	shift
	"$bin" "$@" >"$tmp/help" 2>&1
	awk -v h="$heading" '$0 == h { sec = 1; next }
		sec && /^#/ && !in_block { exit }
		sec && /^```$/ { if (in_block) exit; in_block = 1; next }
		in_block { print }' "$src/docs/cli.md" >"$tmp/doc"
	if [ -s "$tmp/doc" ] && cmp -s "$tmp/help" "$tmp/doc"; then
		result 1 "$* matches docs/cli.md"
	else
		result 0 "$* matches docs/cli.md" \
			"$(diff "$tmp/doc" "$tmp/help" | head -n 8 | tr '\n' ';')"
	fi
}
help_matches "## ztun-sim" --help
help_matches "### ztun-sim run" run --help
help_matches "### ztun-sim replay" replay --help

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
