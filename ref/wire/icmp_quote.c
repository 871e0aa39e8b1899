/* SPDX-License-Identifier: MIT */
/*
 * icmp_quote.c - decode the datagram an ICMP error message quotes.
 *
 * Theory of operation: an ICMP error carries the start of the datagram that
 * caused it (RFC 792: IP header + 8 bytes; RFC 1812 and RFC 4443: as much as
 * fits). That copy is routinely cut short, so its IPv4 total length / IPv6
 * payload length are never trusted and no checksum is checked; the strict
 * parsers in ip4.c/ip6.c would refuse it. This file has its own tolerant
 * decoder that bounds every read by the quoted bytes alone:
 *
 *   IPv4  version 4, IHL >= 5 (ZT_DROP_BAD_IHL) and the whole header quoted
 *         (ZT_DROP_TRUNCATED); protocol, addresses and total length (as
 *         the datagram's length, reported, never used to bound a read).
 *   IPv6  the 40-byte fixed header, then a walk of hop-by-hop, routing and
 *         destination-options headers (by their length byte, 8-octet units)
 *         and fragment headers (8 bytes), at most ZT_IP6_MAX_EXT_HDRS of
 *         them (ZT_DROP_EXT_CHAIN_TOO_LONG); a header cut by the quote is
 *         ZT_DROP_TRUNCATED, since without the chain there is no protocol;
 *         40 + payload length as the datagram's (0, a jumbogram: unknown).
 *
 * Any other version nibble is ZT_DROP_BAD_VERSION. After the IP part, the
 * upper-layer fields are reported only as far as they were quoted: ports for
 * TCP/UDP with 4 bytes, the TCP sequence number with 8, the type of an ICMP
 * message (ICMP over IPv4, ICMPv6 over IPv6) with 1 and ident/sequence of
 * an echo with 8. A non-first
 * fragment quotes no upper-layer header, so none is reported for it.
 * @out is written on success only.
 */
#include "ztun/icmp_wire.h"

#include <string.h>

#include "ztun/ip6.h" /* ZT_IPPROTO_*, ZT_IP6_* */

#define IP4_MIN_HDR 20

/* Decode the upper-layer header @l4 of protocol @proto (family @family) as
 * far as it was quoted. */
static void quote_l4(uint8_t family, uint8_t proto, struct zt_view l4,
		     struct zt_icmp_quote *q)
{
	const uint8_t *p = l4.data;

	if (proto == ZT_IPPROTO_TCP || proto == ZT_IPPROTO_UDP) {
		if (l4.len >= 4) {
			q->has_ports = true;
			q->src_port = zt_rd16(p);
			q->dst_port = zt_rd16(p + 2);
		}
		if (proto == ZT_IPPROTO_TCP && l4.len >= 8) {
			q->has_seq = true;
			q->tcp_seq = zt_rd32(p + 4);
		}
		return;
	}
	if ((family == ZT_AF_INET && proto == ZT_IPPROTO_ICMP) ||
	    (family == ZT_AF_INET6 && proto == ZT_IPPROTO_ICMPV6)) {
		enum zt_icmp_kind k;

		if (l4.len >= 1) {
			q->has_icmp_type = true;
			q->icmp_type = p[0];
		}
		if (l4.len < ZT_ICMP_HDR)
			return;
		k = zt_icmp_classify(family, p[0], p[1]);
		if (k != ZT_ICMP_ECHO_REQUEST && k != ZT_ICMP_ECHO_REPLY)
			return;
		q->has_echo = true;
		q->echo_ident = zt_rd16(p + 4);
		q->echo_seq = zt_rd16(p + 6);
	}
}

static enum zt_drop quote_ip4(struct zt_view v, struct zt_icmp_quote *q,
			      struct zt_view *l4, bool *first_frag)
{
	const uint8_t *p = v.data;
	size_t ihl;

	if (v.len < IP4_MIN_HDR)
		return ZT_DROP_TRUNCATED;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	if (ihl < IP4_MIN_HDR)
		return ZT_DROP_BAD_IHL;
	if (!zt_view_tail(v, ihl, l4))
		return ZT_DROP_TRUNCATED;
	q->src = zt_addr_v4(p + 12);
	q->dst = zt_addr_v4(p + 16);
	q->proto = p[9];
	q->ip_len = zt_rd16(p + 2);
	*first_frag = (zt_rd16(p + 6) & 0x1fff) == 0;
	return ZT_DROP_NONE;
}

static enum zt_drop quote_ip6(struct zt_view v, struct zt_icmp_quote *q,
			      struct zt_view *l4, bool *first_frag)
{
	const uint8_t *p = v.data;
	uint8_t nh;
	size_t off = ZT_IP6_HDR;
	unsigned count = 0;

	if (v.len < ZT_IP6_HDR)
		return ZT_DROP_TRUNCATED;
	nh = p[6];
	*first_frag = true;
	for (;;) {
		struct zt_view h;
		size_t hlen;

		if (nh != ZT_IPPROTO_HOPOPTS && nh != ZT_IPPROTO_ROUTING &&
		    nh != ZT_IPPROTO_DSTOPTS && nh != ZT_IPPROTO_FRAGMENT)
			break;
		if (count == ZT_IP6_MAX_EXT_HDRS)
			return ZT_DROP_EXT_CHAIN_TOO_LONG;
		if (!zt_view_sub(v, off, 2, &h))
			return ZT_DROP_TRUNCATED;
		hlen = nh == ZT_IPPROTO_FRAGMENT ? ZT_IP6_FRAG_HDR :
						   ((size_t)h.data[1] + 1) * 8;
		if (!zt_view_sub(v, off, hlen, &h))
			return ZT_DROP_TRUNCATED;
		if (nh == ZT_IPPROTO_FRAGMENT && (zt_rd16(h.data + 2) & 0xfff8))
			*first_frag = false;
		nh = h.data[0];
		off += hlen;
		count++;
	}
	/* off <= v.len: every header walked was inside the view. */
	*l4 = zt_view_make(p + off, v.len - off);
	q->src = zt_addr_v6(p + 8);
	q->dst = zt_addr_v6(p + 24);
	q->proto = nh;
	q->ip_len = zt_rd16(p + 4) ? ZT_IP6_HDR + (uint32_t)zt_rd16(p + 4) : 0;
	return ZT_DROP_NONE;
}

enum zt_drop zt_icmp_parse_quote(struct zt_view quoted,
				 struct zt_icmp_quote *out)
{
	struct zt_icmp_quote q;
	struct zt_view l4 = { NULL, 0 };
	bool first_frag = false;
	enum zt_drop why;

	if (quoted.len < 1)
		return ZT_DROP_TRUNCATED;
	memset(&q, 0, sizeof(q));
	switch (quoted.data[0] >> 4) {
	case 4:
		why = quote_ip4(quoted, &q, &l4, &first_frag);
		break;
	case 6:
		why = quote_ip6(quoted, &q, &l4, &first_frag);
		break;
	default:
		return ZT_DROP_BAD_VERSION;
	}
	if (why != ZT_DROP_NONE)
		return why;
	if (first_frag) {
		q.l4_len = (uint32_t)l4.len;
		quote_l4(q.src.family, q.proto, l4, &q);
	}
	*out = q;
	return ZT_DROP_NONE;
}
