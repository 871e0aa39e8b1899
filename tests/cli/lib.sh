# SPDX-License-Identifier: MIT
#
# lib.sh - shared by the tests/cli scripts (sourced, not run).
#
# result OK(0|1) NAME DETAIL: print "PASS: NAME" or "FAIL: NAME (DETAIL)"
# and count it in $passed or $failed.

result() {
	if [ "$1" = 1 ]; then
		echo "PASS: $2"
		passed=$((passed + 1))
	else
		echo "FAIL: $2 ($3)"
		failed=$((failed + 1))
	fi
}
