# shellcheck shell=bash
# netns_lib.sh - shared by the scripts in tests/e2e/ and tools/bench/bench.sh
# (sourced, not run). e2e_preflight() makes the checks a script starts
# with; netns_cleanup() tears down what a script started: its background
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

# e2e_preflight WHAT BIN TOOL...: BIN (the script's argument) must be an
# executable ztun-ref, else usage (with $E2E_MORE_ARGS after it, when set)
# and exit 2; it is made absolute in $bin.
# Without root, /dev/net/tun, one of the TOOLs, or python3 3.9 or later
# when python3 is one of them, one "SKIP: WHAT (reason)" line and exit 0.
e2e_preflight() {
	local what=$1 p
	bin=$2
	shift 2
	if [ -z "$bin" ] || [ ! -x "$bin" ]; then
		echo "usage: $0 PATH/TO/ztun-ref${E2E_MORE_ARGS:+ $E2E_MORE_ARGS}" >&2
		exit 2
	fi
	bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: $what (not root: network namespaces and TUNs need root)"
		exit 0
	fi
	if [ ! -c /dev/net/tun ]; then
		echo "SKIP: $what (/dev/net/tun is missing)"
		exit 0
	fi
	for p in "$@"; do
		if ! command -v "$p" >/dev/null 2>&1; then
			echo "SKIP: $what ($p is not installed)"
			exit 0
		fi
	done
	if [[ " $* " == *" python3 "* ]] &&
	   ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))'; then
		echo "SKIP: $what (python3 is older than 3.9)"
		exit 0
	fi
}
