#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make-corpus.sh - (re)generate the seed corpus of the fuzz targets under
# tools/fuzz/corpus/ from pcap-fixtures/ and scenarios/.
#
#   make-corpus.sh PCAP2RECORDS           write the corpus
#   make-corpus.sh --check PCAP2RECORDS   convert every fixture into a
#                                         temporary directory; fail if the
#                                         converter fails, warn if the
#                                         committed records differ (the
#                                         core changed: run make fuzz-corpus)
#
# Theory of operation: records seeds come from pcap2records in the three
# route modes (direct, socks5, http); the iperf capture is cut to its first
# 80 packets to keep seeds small. The packet target gets the distinct TUN
# packets of the direct-mode records; the pcap and scenario targets get the
# fixture files and scripts themselves. Variants of the small captures'
# records in the other route modes and host flags (mixed + echo + loop,
# rules + ICMP rejects, local, nat + echo, SOCKS5 auth by name, HTTP auth
# over IPv6) are derived by patching their CONFIG record. The socks5 and http_connect seeds
# are hand-written and kept as they are.
set -eu
cd "$(dirname "$0")/../.."
check=0
if [ "${1:-}" = "--check" ]; then
	check=1
	shift
fi
conv=${1:?usage: make-corpus.sh [--check] PCAP2RECORDS}
C=tools/fuzz/corpus
out=$C/records
if [ $check = 1 ]; then
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
[ $check = 1 ] || rm -f "$out"/pcap-*.rec "$out"/var-*.rec $C/packet/pkt-*
for f in pcap-fixtures/*.pcap; do
	b=$(basename "$f" .pcap)
	n=100000
	case $b in iperf*) n=80 ;; esac
	for m in direct socks5 http; do
		"$conv" -m $m -n $n "$f" "$out/pcap-$b-$m.rec" 2>/dev/null
	done
done
if [ $check = 1 ]; then
	for f in "$out"/*.rec; do
		if ! cmp -s "$f" "$C/records/$(basename "$f")"; then
			echo "make-corpus: note: $(basename "$f") differs from the committed seed (run make fuzz-corpus)" >&2
		fi
	done
	exit 0
fi
mkdir -p $C/packet $C/pcap $C/scenario
python3 - "$C" <<'PY'
import hashlib, os, struct, sys
c = sys.argv[1]
seen = set()
for name in sorted(os.listdir(c + "/records")):
    if not name.endswith("-direct.rec"):
        continue
    d = open(os.path.join(c, "records", name), "rb").read()
    o = 8
    while o + 7 <= len(d):
        kind = d[o]; ln = struct.unpack("<H", d[o + 5:o + 7])[0]
        body = d[o + 7:o + 7 + ln]; o += 7 + ln
        if kind != 1:
            continue
        body = body[:1600]
        h = hashlib.sha1(body).hexdigest()[:16]
        if h in seen or len(seen) >= 48:
            continue
        seen.add(h)
        open(os.path.join(c, "packet", "pkt-" + h), "wb").write(body)
# Route-mode and host-flag variants of the small captures: the CONFIG
# record is the first one, its body right after the seed and header.
variants = [(3, 0x18), (6, 0x04), (5, 0x00), (7, 0x10), (1, 0x41), (2, 0x82)]
for base in ("dns-any-sll2", "http-eth", "icmp-any-sll"):
    d = bytearray(open(os.path.join(c, "records", "pcap-%s-direct.rec" % base), "rb").read())
    for mode, flags in variants:
        d[15] = mode
        d[16] = flags
        open(os.path.join(c, "records", "var-%s-m%d-f%02x.rec" % (base, mode, flags)), "wb").write(d)
PY
cp pcap-fixtures/*.pcap pcap-fixtures/*.pcapng $C/pcap/
cp scenarios/*.scn $C/scenario/
