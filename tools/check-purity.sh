#!/bin/sh
# check-purity.sh LIB.a - the core may not read a clock, do I/O, draw
# unseeded randomness or keep mutable globals. Checked on the object code so
# nothing slips in through a macro: every undefined symbol must be on the
# allow-list below and no object may define writable data (.data/.bss).
set -eu
lib=$1
allowed='^(memcpy|memmove|memset|memcmp|memchr|strlen|strcmp|strncmp|strchr|strrchr|strtoul|strtoull|strtol|snprintf|vsnprintf|__snprintf_chk|__vsnprintf_chk|__memcpy_chk|__memmove_chk|__memset_chk|malloc|calloc|realloc|free|inet_pton|inet_ntop|abort|__assert_fail|__stack_chk_fail|__ctype_b_loc|__ctype_tolower_loc|__ctype_toupper_loc|tolower|toupper|qsort|bsearch|_GLOBAL_OFFSET_TABLE_)$'
# Calls between the archive's own objects are fine: subtract what it defines.
defined=$(nm --defined-only "$lib" | awk 'NF==3 {print $3}' | sort -u)
bad=$(nm -u "$lib" | awk 'NF==2 {print $2}' | sort -u | grep -Ev "$allowed" |
	grep -vxF -e "$defined" || true)
rc=0
if [ -n "$bad" ]; then
	echo "purity: $lib calls functions the core may not use:" >&2
	echo "$bad" | sed 's/^/  /' >&2
	rc=1
fi
# Read-only relocated data (.data.rel.ro) is constant after load; only
# .data/.bss (and their .local/.rel variants) are writable state.
data=$(nm -f sysv "$lib" | awk -F'|' '$7 ~ /\.(data|bss)/ && $7 !~ /rel\.ro/ {gsub(/ /,"",$1); print $1}' || true)
if [ -n "$data" ]; then
	echo "purity: $lib holds writable global data:" >&2
	echo "$data" | sed 's/^/  /' >&2
	rc=1
fi
[ $rc = 0 ] && echo "purity: $lib ok (no clock, no I/O, no mutable globals)"
exit $rc
