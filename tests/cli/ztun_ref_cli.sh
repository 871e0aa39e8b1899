#!/bin/sh
# SPDX-License-Identifier: MIT
#
# ztun_ref_cli.sh - the ztun-ref command line without a TUN: --help and
# --version, and every bad flag or value exiting 2 with a message that
# names it (docs/cli.md). Usage: tests/cli/ztun_ref_cli.sh PATH/TO/ztun-ref
#
# Theory of operation: flags are parsed completely before anything is
# opened, so these cases need no privilege and create nothing. A case
# whose value the parser once took ends in "--rule bogus", the last thing
# checked, so that without the check it still exits 2 before any TUN. Each case
# runs the binary once and compares its exit status and a pattern in its
# stdout/stderr; one case compares --help with the block docs/cli.md
# quotes. Prints PASS/FAIL per case and "N passed, M failed".

bin=$1
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "usage: $0 PATH/TO/ztun-ref" >&2
	exit 2
fi
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zt-refcli-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
passed=0
failed=0

. "$(dirname "$0")/lib.sh"

# check NAME WANT_STATUS GREP_FILE(out|err) PATTERN -- ARGS...
check() {
	name=$1 want=$2 where=$3 pat=$4
	shift 5
	timeout 10 "$bin" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	got=$?
	ok=1
	[ "$got" -eq "$want" ] || ok=0
	grep -q -F -e "$pat" "$tmp/$where" || ok=0
	result $ok "$name" "exit $got, want $want; looked for '$pat' in std$where: $(head -c 200 "$tmp/err")"
}

check "--help exits 0"            0 out "usage: ztun-ref"   -- --help
check "--version exits 0"         0 out "ztun-ref "         -- --version
check "unknown long flag"         2 err "unknown flag '--bogus'" -- --bogus
check "unknown short flag"        2 err "unknown flag '-q'" -- -q
check "stray argument"            2 err "unexpected argument 'extra'" -- extra
check "missing value"             2 err "--tun-mtu: needs a value" -- --tun-mtu
# a flag without a value given one is named as such, not as unknown
check "value to --auto-route"     2 err "--auto-route: takes no value (in '--auto-route=0')" -- --auto-route=0
check "value to --deb (abbrev.)"  2 err "--debug: takes no value (in '--deb=1')" -- --deb=1
check "value to --no-dns-tcp-fallback" 2 err "--no-dns-tcp-fallback: takes no value" -- --no-dns-tcp-fallback=yes
check "ambiguous flag with a value" 2 err "ambiguous flag '--u'" -- --u=1
check "bad --tun-ip"              2 err "--tun-ip: '300.1.1.1'" -- -i 300.1.1.1
# the TUN's addresses are ones a host may have: not unspecified,
# loopback, multicast or broadcast, nor the network or broadcast
# address of the -p prefix
for a in 0.0.0.0 255.255.255.255 224.0.0.1 127.0.0.1 0.1.2.3 240.0.0.1; do
	check "--tun-ip $a" 2 err "--tun-ip: '$a' is not an address a host may have" -- -i $a --rule bogus
done
check "--tun-ip network address"   2 err "--tun-ip: 10.0.0.0 is the network address of 10.0.0.0/24 (-p)" -- -i 10.0.0.0 --rule bogus
check "--tun-ip broadcast address" 2 err "--tun-ip: 10.1.255.255 is the broadcast address of 10.1.0.0/16 (-p)" -- -p 16 -i 10.1.255.255 --rule bogus
check "--tun-ip /31 takes both"    2 err "--rule: bad rule 'bogus'" -- -i 10.0.0.0 -p 31 --rule bogus
check "--tun-ip /32"               2 err "--rule: bad rule 'bogus'" -- -i 10.0.0.255 -p 32 --rule bogus
check "--tun-ip x.x.x.255 in a /16" 2 err "--rule: bad rule 'bogus'" -- -i 10.0.0.255 -p 16 --rule bogus
for a in ::/64 ::1/128 ff02::1/64 ff00::5/8; do
	check "--tun-ip6 $a" 2 err "--tun-ip6: '$a' is not an address a host may have" -- --tun-ip6 $a --rule bogus
done
check "bad --prefix"              2 err "--prefix: '33'"    -- -p 33
check "bad --tun-mtu (low)"       2 err "--tun-mtu: '1279'" -- -m 1279
check "bad --tun-mtu (text)"      2 err "--tun-mtu: 'big'"  -- --tun-mtu big
check "bad --tun-name"            2 err "--tun-name: 'a/b'" -- -n a/b
# an interface name the kernel takes as it is (dev_valid_name(): not
# empty, "." or "..", at most 15 bytes, no '/', ':' or blank), and no
# '%' (the kernel would expand tun%d)
for n in "" . .. "tun%d" "a%b" 0123456789abcdef "$(printf 'a\rb')" "$(printf 'a\vb')" "$(printf 'a\fb')" "$(printf 'a\240b')" "a b" "a:b"; do
	check "bad --tun-name '$n'" 2 err "--tun-name: '$n' is not an interface name" -- -n "$n" --rule bogus
	check "bad --egress '$n'" 2 err "--egress: '$n' is not an interface name" -- -e "$n" --rule bogus
done
check "--tun-name 15 bytes"       2 err "--rule: bad rule 'bogus'" -- -n 0123456789abcde --rule bogus
check "--tun-name ..a"            2 err "--rule: bad rule 'bogus'" -- -n ..a --rule bogus
check "bad --tun-ip6"             2 err "--tun-ip6: 'fd00::1'" -- --tun-ip6 fd00::1
check "bad --tun-fd"              2 err "--tun-fd: '-1'"    -- --tun-fd -1
check "bad --mark"                2 err "--mark: '4294967296'" -- --mark 4294967296
# hex needs a digit after 0x: no empty value, blank or sign (strtoull
# takes those); a good hex mark lets the parser go on to the next flag
check "bad --mark (0x)"           2 err "--mark: '0x'" -- --mark 0x
check "bad --mark (0x+10)"        2 err "--mark: '0x+10'" -- --mark 0x+10
check "bad --mark (0x 1f)"        2 err "--mark: '0x 1f'" -- --mark "0x 1f"
check "bad --tun-fd (0x)"         2 err "--tun-fd: '0x'" -- --tun-fd 0x
check "hex --mark accepted"       2 err "--tun-mtu: 'big'" -- --mark 0x1F --tun-mtu big
check "--socks5-pipelined without a SOCKS5 proxy" 2 err "--socks5-pipelined: no SOCKS5 proxy" -- --socks5-pipelined -x http://10.9.0.9:8080
# --tun-fd configures nothing: flags that would configure the device
# are refused, as --auto-route and --kill-switch are
check "--txqueuelen with --tun-fd"  2 err "--txqueuelen: not with --tun-fd" -- --tun-fd 3 --txqueuelen 5 --rule bogus
check "--multi-queue with --tun-fd" 2 err "--multi-queue: not with --tun-fd" -- --multi-queue --tun-fd 3 --rule bogus
check "--no-offload with --tun-fd"  2 err "--no-offload: not with --tun-fd" -- --tun-fd 3 --no-offload --rule bogus
# an abbreviation of two long flags is ambiguous, not unknown
check "ambiguous long flag"       2 err "ambiguous flag '--tun' (--tun-name, --tun-ip, " -- --tun 5
check "ambiguous long flag with ="  2 err "ambiguous flag '--fake-ip' (--fake-ip-range, --fake-ip6-range)" -- --fake-ip=10.0.0.0/8
check "unique abbreviation"       2 err "--rule: bad rule 'bogus'" -- --pre 24 --rule bogus
check "bad --max-flows (zero)"    2 err "--max-flows: '0'"  -- --max-flows 0
check "bad --max-flows (large)"   2 err "--max-flows: '65537'" -- --max-flows 65537
check "bad --busy-poll (large)"   2 err "--busy-poll: '1001'" -- --busy-poll 1001
check "bad --busy-poll (text)"    2 err "--busy-poll: '50us'" -- --busy-poll 50us
check "bad --connect-timeout (0)"  2 err "--connect-timeout: '0' is not a number of seconds in 1..300" -- --connect-timeout 0
check "bad --connect-timeout (big)" 2 err "--connect-timeout: '301'" -- --connect-timeout 301
check "bad --connect-timeout (unit)" 2 err "--connect-timeout: '500ms'" -- --connect-timeout 500ms
check "--connect-timeout 300 taken" 2 err "--rule: bad rule 'bogus'" -- --connect-timeout 300 --rule bogus
check "bad --tcp-idle-timeout (0)"  2 err "--tcp-idle-timeout: '0' is not a number of seconds in 1..604800" -- --tcp-idle-timeout 0
check "bad --tcp-idle-timeout (big)" 2 err "--tcp-idle-timeout: '604801'" -- --tcp-idle-timeout 604801
check "bad --upstream-keepalive (big)" 2 err "--upstream-keepalive: '7201' is not a number of seconds in 0..7200" -- --upstream-keepalive 7201
check "bad --upstream-keepalive (text)" 2 err "--upstream-keepalive: '1m' is not a number of seconds in 0..7200" -- --upstream-keepalive 1m
check "bad --tcp-evict-idle (neg)"  2 err "--tcp-evict-idle: '-1' is not a number of seconds in 0..604800" -- --tcp-evict-idle -1
check "bad --tcp-evict-idle (big)"  2 err "--tcp-evict-idle: '604801'" -- --tcp-evict-idle 604801
check "bad --max-udp-flows (0)"    2 err "--max-udp-flows: '0' is not a number in 1..65536" -- --max-udp-flows 0
check "bad --max-udp-flows (big)"  2 err "--max-udp-flows: '65537'" -- --max-udp-flows 65537
check "bad --udp-evict-idle (neg)"  2 err "--udp-evict-idle: '-1' is not a number of seconds in 0..604800" -- --udp-evict-idle -1
check "bad --udp-evict-idle (text)" 2 err "--udp-evict-idle: '10s'" -- --udp-evict-idle 10s
check "bad --udp-idle-timeout (unit)" 2 err "--udp-idle-timeout: '10m'" -- --udp-idle-timeout 10m
check "bad --udp-stream-timeout (0)" 2 err "--udp-stream-timeout: '0' is not a number of seconds in 1..604800" -- --udp-stream-timeout 0
check "bad --udp-stream-timeout (unit)" 2 err "--udp-stream-timeout: '2m'" -- --udp-stream-timeout 2m
check "bad --tcp-buffer (small)"   2 err "--tcp-buffer: '4095' is not a number of bytes in 4096..16777216" -- --tcp-buffer 4095
check "bad --tcp-buffer (unit)"    2 err "--tcp-buffer: '64k'" -- --tcp-buffer 64k
check "bad --fake-dns address"    2 err "--fake-dns: 'dns.example' is not an IP address" -- --fake-dns dns.example
check "bad --fake-dns three"      2 err "--fake-dns: at most one IPv4 and one IPv6 address" -- --fake-dns 198.18.0.2,198.18.0.3
# a second --fake-dns would replace the first (its resolver gone unsaid)
check "--fake-dns twice"          2 err "--fake-dns: a second one, 'fd00:ff::2' (give both addresses in one: ADDR,ADDR)" \
	-- -x 127.0.0.1:1080 --fake-dns 198.18.0.2 --fake-dns fd00:ff::2 --fake-ip6-range fd00:ff::/64 --rule bogus
check "bad --fake-ip-range"       2 err "--fake-ip-range: '198.18.0.1/15'" -- --fake-dns 198.18.0.2 --fake-ip-range 198.18.0.1/15
check "--fake-ip-range family"    2 err "--fake-ip-range: 'fd00::/64' is not an IPv4 prefix" -- --fake-dns 198.18.0.2 --fake-ip-range fd00::/64
check "--fake-ip6-range family"   2 err "--fake-ip6-range: '10.0.0.0/8' is not an IPv6 prefix" -- --fake-dns 198.18.0.2 --fake-ip6-range 10.0.0.0/8
check "--fake-ip-range too small" 2 err "--fake-ip-range: 10.9.0.0/24 holds fewer than --fake-dns-names 65536 + 2 addresses" -- -x 127.0.0.1:1080 --fake-dns 198.18.0.2 --fake-ip-range 10.9.0.0/24
# a fake range never takes every address, nor addresses no host has, nor
# the TUN's own subnet (-i/-p, --tun-ip6)
FX="-x 127.0.0.1:1080 --fake-dns 198.18.0.2 --fake-dns-names 1000"
check "--fake-ip-range too wide"  2 err "--fake-ip-range: '0.0.0.0/0' is wider than /8" -- $FX --fake-ip-range 0.0.0.0/0 --rule bogus
check "--fake-ip-range /7"        2 err "--fake-ip-range: '10.0.0.0/7' is wider than /8" -- $FX --fake-ip-range 10.0.0.0/7 --rule bogus
check "--fake-ip6-range too wide" 2 err "--fake-ip6-range: '::/0' is wider than /16" -- $FX --fake-ip6-range ::/0 --rule bogus
check "--fake-ip6-range /15"      2 err "--fake-ip6-range: 'fc00::/15' is wider than /16" -- $FX --fake-ip6-range fc00::/15 --rule bogus
check "--fake-ip-range loopback"  2 err "--fake-ip-range: '127.0.0.0/8' holds addresses no host has" -- $FX --fake-ip-range 127.0.0.0/8 --rule bogus
check "--fake-ip-range multicast" 2 err "--fake-ip-range: '224.0.0.0/8' holds addresses no host has" -- $FX --fake-ip-range 224.0.0.0/8 --rule bogus
check "--fake-ip-range broadcast" 2 err "--fake-ip-range: '255.255.0.0/16' holds addresses no host has" -- $FX --fake-ip-range 255.255.0.0/16 --rule bogus
check "--fake-ip6-range multicast" 2 err "--fake-ip6-range: 'ff00::/16' holds addresses no host has" -- $FX --fake-ip6-range ff00::/16 --rule bogus
check "--fake-ip6-range loopback" 2 err "--fake-ip6-range: '::/96' holds addresses no host has" -- $FX --fake-ip6-range ::/96 --rule bogus
check "--fake-ip-range on the TUN subnet" 2 err "--fake-ip-range: 10.0.0.0/24 overlaps the TUN's subnet 10.0.0.0/24 (-i, -p)" \
	-- -x 127.0.0.1:1080 --fake-dns 10.0.0.1 --fake-ip-range 10.0.0.0/24 --fake-dns-names 254 --rule bogus
check "--fake-ip-range around the TUN subnet" 2 err "--fake-ip-range: 10.0.0.0/8 overlaps the TUN's subnet 10.0.0.0/24 (-i, -p)" \
	-- $FX --fake-ip-range 10.0.0.0/8 --rule bogus
check "--fake-ip-range inside the TUN subnet" 2 err "--fake-ip-range: 10.1.0.0/16 overlaps the TUN's subnet 10.0.0.0/8 (-i, -p)" \
	-- $FX -p 8 --fake-ip-range 10.1.0.0/16 --rule bogus
check "--fake-ip6-range on --tun-ip6" 2 err "--fake-ip6-range: fd00::/96 overlaps the TUN's subnet fd00::/64 (--tun-ip6)" \
	-- $FX --tun-ip6 fd00::1/64 --fake-ip6-range fd00::/96 --rule bogus
# the resolver's address is one a query reaches the TUN at: not the
# TUN's own (the kernel answers that one itself: connection refused), nor
# one no host has; with --tun-fd the device's addresses are the parent's
check "--fake-dns the TUN's own address" 2 err "--fake-dns: 10.0.0.1 is the TUN's own address (-i)" \
	-- -x 127.0.0.1:1080 --fake-dns 10.0.0.1 --rule bogus
check "--fake-dns the TUN's own IPv6 address" 2 err "--fake-dns: fd00::1 is the TUN's own address (--tun-ip6)" \
	-- -x 127.0.0.1:1080 --tun-ip6 fd00::1/64 --fake-dns 198.18.0.2,fd00::1 --rule bogus
for a in 127.0.0.1 0.0.0.0 224.0.0.251 255.255.255.255 ::1 :: ff02::fb; do
	check "--fake-dns $a" 2 err "--fake-dns: $a is not an address a host may have" \
		-- -x 127.0.0.1:1080 --fake-dns $a --rule bogus
done
check "--fake-dns in the TUN's subnet" 2 err "--rule: bad rule 'bogus'" -- -x 127.0.0.1:1080 --fake-dns 10.0.0.2 --rule bogus
check "--fake-dns -i's address with --tun-fd" 2 err "--rule: bad rule 'bogus'" -- -x 127.0.0.1:1080 --fake-dns 10.0.0.1 --tun-fd 3 --rule bogus
# a proxy address that ztun-ref's own routes send into the TUN (its
# subnet, the fake ranges and resolver): the connection to the proxy
# would come back through the TUN, be proxied again, and so on
check "--proxy in the TUN's subnet" 2 err "--proxy: 10.0.0.5 is in the TUN's subnet 10.0.0.0/24 (-i, -p), routed into the TUN: the connections to the proxy would loop through it" \
	-- -x 10.0.0.5:1080 --rule bogus
check "--proxy in the TUN's IPv6 subnet" 2 err "--proxy: fd00::5 is in the TUN's subnet fd00::/64 (--tun-ip6)" \
	-- -x "http://[fd00::5]:3128" --tun-ip6 fd00::1/64 --rule bogus
check "--proxy in the subnet of a later -p" 2 err "--proxy: 10.1.2.3 is in the TUN's subnet 10.0.0.0/8 (-i, -p)" \
	-- -x 10.1.2.3:1080 -p 8 --rule bogus
check "--proxy in the fake range" 2 err "--proxy: 198.18.0.9 is in the fake range 198.18.0.0/15 (--fake-ip-range)" \
	-- -x 198.18.0.9:1080 --fake-dns 198.18.0.2 --rule bogus
check "--proxy at the fake resolver" 2 err "--proxy: 192.0.2.53 is the fake resolver's address (--fake-dns)" \
	-- -x 192.0.2.53:1080 --fake-dns 192.0.2.53 --rule bogus
# a proxy address no connection can go to (loopback is fine: the
# common case of a proxy on the same host)
while read -r h shown why; do
	check "--proxy at $h" 2 err "--proxy: $shown is $why: no connection to a proxy can go there" -- -x "socks5://$h:1080" --rule bogus
done <<'END'
0.0.0.0 0.0.0.0 the unspecified address
224.0.0.1 224.0.0.1 a multicast address
255.255.255.255 255.255.255.255 the broadcast address
[::] :: the unspecified address
[ff02::1] ff02::1 a multicast address
[fe80::1] fe80::1 a link-local address without a zone
END
check "--proxy HTTP at a multicast address" 2 err "--proxy: 239.1.2.3 is a multicast address" -- -x http://239.1.2.3:8080 --rule bogus
check "--proxy on loopback" 2 err "--rule: bad rule 'bogus'" -- -x 127.0.0.1:1080 --rule bogus
check "--proxy on IPv6 loopback" 2 err "--rule: bad rule 'bogus'" -- -x "socks5://[::1]:1080" --rule bogus
check "--proxy at the TUN's own address" 2 err "--rule: bad rule 'bogus'" -- -x 10.0.0.1:1080 --rule bogus
check "--proxy in -i's subnet with --tun-fd" 2 err "--rule: bad rule 'bogus'" -- -x 10.0.0.5:1080 --tun-fd 3 --rule bogus
check "--fake-ip-range /8 apart from the TUN" 2 err "--rule: bad rule 'bogus'" -- $FX -i 192.168.77.1 --fake-ip-range 10.0.0.0/8 --rule bogus
check "--fake-ip6-range /16"      2 err "--rule: bad rule 'bogus'" -- $FX --tun-ip6 fd00::1/64 --fake-ip6-range fc00::/16 --rule bogus
check "bad --fake-dns-names"      2 err "--fake-dns-names: '0' is not a number in 1..4194304" -- --fake-dns 198.18.0.2 --fake-dns-names 0
check "--fake-dns-names too few"   2 err "--fake-dns-names 1: the fake DNS server's addresses take every fake-IP name's: more names are needed" -- -x 127.0.0.1:1080 --fake-dns 198.18.0.1 --fake-dns-names 1
check "fake range without dns"    2 err "--fake-ip-range: only with --fake-dns" -- --fake-ip-range 10.0.0.0/8
check "bad --fake-dns-upstream"   2 err "--fake-dns-upstream: 'dns.example' is not an IP address" -- --fake-dns 198.18.0.2 --fake-dns-upstream dns.example
check "--fake-dns-upstream port"  2 err "--fake-dns-upstream: bad port '0'" -- --fake-dns 198.18.0.2 --fake-dns-upstream 192.0.2.53:0
check "--fake-dns-upstream v6"    2 err "--fake-dns-upstream: expected [IPV6]" -- --fake-dns 198.18.0.2 --fake-dns-upstream '[fd00::53'
check "upstream without dns"      2 err "--fake-dns-upstream: only with --fake-dns" -- --fake-dns-upstream 192.0.2.53
check "fake-ip without a proxy"   2 err "--fake-dns: fake addresses go to a proxy by name: give -x" -- --fake-dns 198.18.0.2
check "bad --udp-rcvbuf (small)"   2 err "--udp-rcvbuf: '4096'" -- --udp-rcvbuf 4096
check "bad --udp-rcvbuf (large)"   2 err "--udp-rcvbuf: '67108865'" -- --udp-rcvbuf 67108865
check "bad --udp-rcvbuf (text)"    2 err "--udp-rcvbuf: '1M'" -- --udp-rcvbuf 1M
check "bad --txqueuelen (zero)"     2 err "--txqueuelen: '0'" -- --txqueuelen 0
check "bad --txqueuelen (large)"    2 err "--txqueuelen: '65537'" -- --txqueuelen 65537
check "bad --txqueuelen (text)"     2 err "--txqueuelen: '1k'" -- --txqueuelen 1k
check "bad --proxy scheme"        2 err "--proxy: unknown scheme" -- -x ftp://1.2.3.4:21
check "bad --proxy port"          2 err "--proxy: bad port" -- -x 127.0.0.1:0
# a Basic token cannot carry a control character (RFC 7617 2), raw or
# percent-encoded (credentials are decoded, RFC 3986 3.2.1): the flows
# would otherwise go out with no credentials at all; SOCKS5 takes any byte
ctl="HTTP proxy credentials must not contain control characters"
# $1 names control character $2 (for a password), $3 names $4 (a user name)
ctl_cases() {
	check "--proxy HTTP password with $1" 2 err "--proxy: $ctl" \
		-- -x "http://bob:hun${2}ter2@127.0.0.1:3128" --rule bogus
	check "--proxy HTTP user with $3" 2 err "--proxy: $ctl" \
		-- -x "http://b${4}ob:x@127.0.0.1:3128" --rule bogus
	check "--proxy SOCKS5 password with $1" 2 err "--rule: bad rule 'bogus'" \
		-- -x "socks5://bob:hun${2}ter2@127.0.0.1:1080" --rule bogus
}
ctl_cases "a tab" "$(printf '\t')" "a DEL" "$(printf '\177')"
ctl_cases %09 %09 %7f %7f
# RFC 1929 gives both fields 1..255 bytes: an empty user name (ULEN 0) is
# refused for either kind, as Basic's would be; an empty password is sent
# as it is (PLEN 0, "bob:" in a Basic token), as curl sends it; a longer
# one is refused, not cut to 255 bytes (ULEN and PLEN are one byte; a
# Basic token takes the same bound); 255 bytes go
u255=$(printf '%0255d' 0 | tr 0 u)
e255=$(printf '%0255d' 0 | sed 's/0/%75/g')
# What a case names is its credentials when the table does not; a case
# whose -x is taken ends at the bogus rule instead.
taken="--rule: bad rule 'bogus'"
long_cred="--proxy: user name must be 1..255 bytes and password at most 255"
# a '%' without two hex digits is refused, never taken literally, and so
# is %00 (the fields are C strings: a NUL byte would cut them); the
# message masks the password and says which part. The bounds are on the
# percent-decoded bytes (%75 is one 'u').
hex="a '%' not followed by two hex digits in the"
at="@127.0.0.1:1080'"
for k in socks5 http; do
	while IFS='|' read -r what cred msg; do
		[ -n "$what" ] || what="'$cred'"
		check "--proxy $k $what" 2 err "$msg" \
			-- -x "$k://$cred@127.0.0.1:1080" --rule bogus
	done <<-EOF
	empty user name|:pw|--proxy: user name must be 1..255 bytes
	empty password|bob:|$taken
	256-byte user name|${u255}u:pw|$long_cred
	256-byte password|bob:${u255}p|$long_cred
	255-byte user name and password|$u255:$u255|$taken
	255 bytes decoded from 765|$e255:$e255|$taken
	256-byte password decoded|bob:${e255}%75|$long_cred
	256-byte user name decoded|${u255}%75:pw|$long_cred
	|bob:p%|--proxy: $hex password of '$k://bob:***$at (a '%' itself is written %25)
	|bob:p%4|--proxy: $hex password of '$k://bob:***$at
	|bob:%zz|--proxy: $hex password of '$k://bob:***$at
	|b%4:s3cret|--proxy: $hex user name of '$k://b%4:***$at
	|bob:a%00b|--proxy: the password of '$k://bob:***$at holds %00, a NUL byte, which ztun-ref cannot send
	|b%00b:pw|--proxy: the user name of '$k://b%00b:***$at holds %00, a NUL byte
	encoded password|b%3Ab:p%40ss%3aw%25|$taken
	EOF
done
# a message about a -x with credentials shows no password (logs keep it)
check "--proxy error hides the password" 2 err "--proxy: bad port '0' in 'socks5://bob:***@127.0.0.1:0'" \
	-- -x "socks5://bob:s3cret@127.0.0.1:0" --rule bogus
check "--proxy error hides an encoded password" 2 err "--proxy: bad port '0' in 'http://b%40b:***@127.0.0.1:0'" \
	-- -x "http://b%40b:s%40c%3Ar@t@127.0.0.1:0" --rule bogus
check "--proxy second one hides the password" 2 err "--proxy: a second HTTP proxy 'http://bob:***@10.9.0.9:3128'" \
	-- -x "http://a:b@10.9.0.8:3128" -x "http://bob:p@ss@10.9.0.9:3128" --rule bogus
check "--proxy bad host name"   2 err "--proxy: host 'bad!name' is neither an IP address nor a host name" -- -x 'socks5://bad!name:1080'
# a host that getaddrinfo would take as a legacy IPv4 form, or whose
# last label is all digits (no top-level domain is: RFC 3696 2), is no
# host name; nothing is looked up
for h in 999 1.2.3 127.1 0x7f000001 1.2.3.256 1.2.3.0x4 0x7f.1 proxy.123 017700000001; do
	check "--proxy numeric host '$h'" 2 err "--proxy: host '$h' is neither an IP address nor a host name" -- -x "socks5://$h:1080" --rule bogus
done
check "--proxy host name with digits" 2 err "--rule: bad rule 'bogus'" -- -x "socks5://123.proxy2.example:1080" --rule bogus
check "--proxy host name 0x label" 2 err "--rule: bad rule 'bogus'" -- -x "http://a.0x10:3128" --rule bogus
long=$(printf '%0254d' 0 | tr 0 a)
check "--proxy host name too long" 2 err "--proxy: host longer than 253 characters" -- -x "socks5://$long:1080"
check "bad --udp"                 2 err "--udp: unknown mode 'tcp'" -- --udp tcp
# each occurrence of a flag is checked, not only the last one
check "bad --udp before a good one" 2 err "--udp: unknown mode 'bogus'" -- --udp bogus --udp nat --rule bogus
check "bad --stats-file before a good one" 2 err "--stats-file: '' is no file name" -- --stats-file "" --stats-file "$tmp/z.prom" --rule bogus
check "--stats-file in no directory before a good one" 2 err "--stats-file: directory '$tmp/none'" -- --stats-file "$tmp/none/z.prom" --stats-file "$tmp/z.prom" --rule bogus
check "bad --state-dir before a good one" 2 err "--state-dir: empty directory name" -- --auto-route --state-dir "" --state-dir "$tmp" --rule bogus
check "--udp socks5 needs a proxy" 2 err "--udp: 'socks5' needs a SOCKS5 proxy" -- --udp socks5
check "--dns-over-tcp needs a proxy" 2 err "--dns-over-tcp: no proxy (-x)" -- --dns-over-tcp
check "--proxy-refresh needs a proxy given by name" 2 err "--proxy-refresh: no proxy (-x) given by name" \
	-- -x socks5://127.0.0.1:1080 --proxy-refresh 60
check "--proxy-refresh 0" 2 err "--proxy-refresh: '0' is not a number of seconds in 1..86400" \
	-- -x socks5://proxy.invalid:1080 --proxy-refresh 0
check "--no-dns-tcp-fallback needs a SOCKS5 proxy" 2 err "--no-dns-tcp-fallback: no SOCKS5 proxy (-x)" \
	-- -x http://127.0.0.1:3128 --no-dns-tcp-fallback
check "--no-dns-tcp-fallback against --dns-over-tcp" 2 err "--no-dns-tcp-fallback: --dns-over-tcp sends DNS over TCP from the start" \
	-- -x socks5://127.0.0.1:1080 --dns-over-tcp --no-dns-tcp-fallback
check "udp rule to http needs --dns-over-tcp" 2 err "HTTP CONNECT carries UDP only as DNS over TCP (--dns-over-tcp)" \
	-- -x http://127.0.0.1:3128 --rule 'udp dport 53 -> http'
check "udp rule to http: port 53 alone" 2 err "'http' cannot carry udp" \
	-- -x http://127.0.0.1:3128 --dns-over-tcp --rule 'udp dport 53-54 -> http'
check "--stats-interval needs --stats-file" 2 err "--stats-interval: no --stats-file to write" -- --stats-interval 5
check "bad --stats-interval"      2 err "--stats-interval: '0' is not a number of seconds in 1..86400" \
	-- --stats-file "$tmp/z.prom" --stats-interval 0
check "--stats-file in no directory" 2 err "--stats-file: directory '$tmp/none'" -- --stats-file "$tmp/none/z.prom"
# a directory is no file to replace (rename(2) over it fails every time)
check "--stats-file a directory" 2 err "--stats-file: '$tmp' is a directory" -- --stats-file "$tmp" --rule bogus
check "bad --default"             2 err "--default: unknown decision 'maybe'" -- --default maybe
check "bad --rule"                2 err "--rule"            -- --rule "tcp 10.0.0.0/33 -> direct"
check "--rule udp to http"        2 err "bad rule 'udp any:443 -> http': 'http' cannot carry udp" -- -x http://10.9.0.9:8080 --rule "udp any:443 -> http"
check "unreadable --rules"        2 err "--rules: cannot read" -- --rules "$tmp/none"
# a rules file is read whole lines: a long comment stays a comment (the
# bad rule on line 2 is the error, not the comment's tail on line 1)
{ printf '#%01022d' 0 | tr 0 x; printf 'tcp any -> socks5\ntcp any -> nowhere\n'; } >"$tmp/long.rules"
check "--rules long comment is one line" 2 err "long.rules:2: bad rule 'tcp any -> nowhere'" -- --rules "$tmp/long.rules"
{ printf '#%04096d\n' 0; } >"$tmp/toolong.rules"
check "--rules line too long"     2 err "toolong.rules:1: line too long" -- --rules "$tmp/toolong.rules"
printf 'tcp any -> drop\000garbage\n' >"$tmp/nul.rules"
check "--rules NUL byte"          2 err "nul.rules:1: a NUL byte" -- --rules "$tmp/nul.rules" --rule bogus
check "--rules not a regular file" 2 err "--rules: '/dev/zero' is not a regular file" -- --rules /dev/zero
mkfifo "$tmp/fifo.rules"
check "--rules a FIFO"            2 err "is not a regular file" -- --rules "$tmp/fifo.rules"
# CRLF line ends, blank and blank-only lines, comments after a rule and
# leading blanks are all taken (docs/rules.md): the error is the --rule
# after the file, then line 6's, counted in whole lines
printf '# rules\r\n\r\n  tcp any -> drop   # tail\r\n\t\r\nudp dport 53 -> drop\r\n' >"$tmp/crlf.rules"
check "--rules CRLF and comments"  2 err "--rule: bad rule 'bogus'" -- --rules "$tmp/crlf.rules" --rule bogus
printf 'tcp\tdst 10.0.0.0/8 -> nowhere # x\r\n' >>"$tmp/crlf.rules"
check "--rules error names the line" 2 err "crlf.rules:6: bad rule 'tcp	dst 10.0.0.0/8 -> nowhere': unknown decision 'nowhere'" -- --rules "$tmp/crlf.rules"
# at most 4096 rules, the final UDP rule ztun-ref adds included
i=0; while [ $i -lt 4096 ]; do echo "tcp 10.$((i / 256)).$((i % 256)).0/24 -> direct"; i=$((i + 1)); done >"$tmp/max.rules"
check "--rules 4096 rules and the final one" 2 err "the final UDP rule: too many rules (at most 4096, ztun-ref's own included)" -- --rules "$tmp/max.rules"

# SIGPIPE is ignored from the start (docs/cli.md, Signals): a log line
# into a stderr nobody reads any more (a logger that died) is lost and
# ztun-ref goes on - here to --tun-fd's error, exit 1 - never killed by
# the signal (141), which during setup would leave the device and its
# routes behind. stderr is a FIFO whose only reader is closed.
mkfifo "$tmp/gone"
exec 8<>"$tmp/gone" 9>"$tmp/gone"
exec 8<&-
timeout 10 "$bin" --tun-fd 999 2>&9 </dev/null >/dev/null
got=$?
exec 9>&-
[ "$got" -eq 1 ] && ok=1 || ok=0
result $ok "SIGPIPE ignored from the start (stderr read by nobody)" "exit $got, want 1"

# --help is the block docs/cli.md quotes under "## ztun-ref".
"$bin" --help >"$tmp/help" 2>&1
awk '/^## ztun-ref/ { sec = 1 } sec && /^```$/ { if (in_block) exit; in_block = 1; next }
     in_block { print }' "$src/docs/cli.md" >"$tmp/doc"
if [ -s "$tmp/doc" ] && cmp -s "$tmp/help" "$tmp/doc"; then
	result 1 "--help matches docs/cli.md"
else
	result 0 "--help matches docs/cli.md" "$(diff "$tmp/doc" "$tmp/help" | head -n 8 | tr '\n' ';')"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
