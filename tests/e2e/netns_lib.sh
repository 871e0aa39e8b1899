# shellcheck shell=bash
# netns_lib.sh - shared by tests/e2e/ztun_ref_e2e.sh and tools/bench/bench.sh
# (sourced, not run). Tears down what a script started: its background
# processes ($pids, $ztun_pid), anything still running in its network
# namespaces ($cns, $sns, and $fns when set), the namespaces themselves and its scratch
# directory ($tmp). Install it with: trap netns_cleanup EXIT.

netns_cleanup() {
	local p ns left=
	for p in "${pids[@]}" $ztun_pid; do
		kill "$p" 2>/dev/null
	done
	for ns in "$cns" "$sns" ${fns:-}; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill "$p" 2>/dev/null && left=1
		done
	done
	[ -n "$left" ] && sleep 0.3
	for ns in "$cns" "$sns" ${fns:-}; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -9 "$p" 2>/dev/null
		done
	done
	wait 2>/dev/null
	for ns in "$cns" "$sns" ${fns:-}; do
		ip netns del "$ns" 2>/dev/null
		# files ip netns exec bind-mounts for this namespace, if any
		[ -n "$ns" ] && rm -rf "/etc/netns/$ns"
	done
	rm -rf "$tmp"
}
