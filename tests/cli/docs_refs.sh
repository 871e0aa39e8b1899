#!/bin/sh
# SPDX-License-Identifier: MIT
#
# docs_refs.sh - what the documents point at exists: every unit test they
# name as `suite/test` is registered in its suite, every path they quote
# (`ref/...`, `sim/...`, `tests/...`, `tools/...`, `scenarios/...`,
# `pcap-fixtures/...`, `docs/...`) is in the tree. A test renamed or a
# file moved must take its documents along.
# Usage: tests/cli/docs_refs.sh (from anywhere; no binary needed)
#
# Theory of operation: backquoted words of the documents only (prose
# mentions are not references); a `suite/test` (the test's name may
# hold spaces; a trailing * matches its start) counts when suite is one
# of tests/unit/suites.def, and is found when test_SUITE.c registers the
# test's name as a string. Prints PASS/FAIL per kind and the missing.

src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$src" || exit 2
passed=0
failed=0
# shellcheck source=tests/cli/lib.sh
. tests/cli/lib.sh

docs="README.md docs/*.md tools/fuzz/README.md pcap-fixtures/README.md"
suites=" $(sed -n 's/^SUITE(\([a-z_0-9]*\)).*/\1/p' tests/unit/suites.def | tr '\n' ' ') "

# The `suite/test` references: a test's name may hold spaces
# (`reasm/length contradictions`), never a slash or a backquote; one
# ending in * names the tests whose names start so.
# shellcheck disable=SC2016,SC2086 # backquotes are literal; $docs is globs
tests_named=$(grep -oh '`[a-z_0-9]*/[^`/]*`' $docs | tr -d '`' | sort -u |
	while IFS=/ read -r suite test; do
		if [ -z "$suite" ] || [ -z "$test" ] || [ -e "$suite/$test" ]; then
			continue # a path, not a test
		fi
		case "$suites" in *" $suite "*) echo "$suite/$test" ;; esac
	done)
missing=$(echo "$tests_named" | while IFS=/ read -r suite test; do
		[ -n "$test" ] || continue
		case "$test" in
		*\*) name="\"${test%\*}" ;; # a glob: some test starts so
		*) name="\"$test\"" ;;
		esac
		grep -qF "$name" "tests/unit/test_$suite.c" || echo "$suite/$test"
	done)
named=$(echo "$tests_named" | grep -c .)
[ -z "$missing" ] && [ "$named" -gt 0 ] && ok=1 || ok=0
result "$ok" "the $named unit tests the documents name exist" \
	"$(echo "$missing" | tr '\n' ' ')"

# shellcheck disable=SC2016,SC2086
missing=$(grep -oh '`\(ref\|sim\|tests\|tools\|scenarios\|pcap-fixtures\|docs\)/[A-Za-z0-9_./-]*`' $docs |
	tr -d '`' | sort -u | while read -r p; do [ -e "$p" ] || echo "$p"; done)
[ -z "$missing" ] && ok=1 || ok=0
result "$ok" "the paths the documents quote exist" "$(echo "$missing" | tr '\n' ' ')"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
