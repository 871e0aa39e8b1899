/* SPDX-License-Identifier: MIT */
/*
 * packet.c - decode a whole IP packet down to its upper-layer header.
 *
 * Theory of operation: the version nibble picks the IP parser; its repr,
 * addresses and upper-layer protocol are copied into the family-neutral
 * struct zt_packet. A fragment (MF set or a non-zero offset) stops there:
 * its payload is a piece of an upper-layer packet that only reassembly can
 * decode. An IPv6 atomic fragment (offset 0, M clear) is not a fragment in
 * that sense (RFC 6946): ip6.c has already walked past its fragment header,
 * and its upper layer is decoded like any other.
 *
 * The upper layer is decoded by the parser for its protocol, which must
 * match the family: ICMP belongs to IPv4 and ICMPv6 to IPv6, the other way
 * round is unsupported, as is every protocol we do not terminate. Whatever
 * layer refuses the packet, the layers below it stay filled in @out, so a
 * host can still count or answer it (an ICMP error needs the addresses);
 * so does an IPv6 header whose refusal ip6.c marks param_problem.
 */
#include "ztun/packet.h"

#include <string.h>

static enum zt_drop packet_l4(struct zt_packet *p, unsigned flags)
{
	struct zt_view l3 = p->l3_payload;
	struct zt_view pl;
	enum zt_drop why;

	switch (p->proto) {
	case ZT_IPPROTO_TCP:
		why = zt_tcp_parse(l3, &p->src, &p->dst, flags, &p->l4.tcp, &pl);
		break;
	case ZT_IPPROTO_UDP:
		why = zt_udp_parse(l3, &p->src, &p->dst, flags, &p->l4.udp, &pl);
		break;
	case ZT_IPPROTO_ICMP:
		if (p->family != ZT_AF_INET)
			return ZT_DROP_UNSUPPORTED;
		why = zt_icmp4_parse(l3, flags, &p->l4.icmp, &pl);
		break;
	case ZT_IPPROTO_ICMPV6:
		if (p->family != ZT_AF_INET6)
			return ZT_DROP_UNSUPPORTED;
		why = zt_icmp6_parse(l3, &p->src, &p->dst, flags, &p->l4.icmp,
				     &pl);
		break;
	default:
		return ZT_DROP_UNSUPPORTED;
	}
	if (why == ZT_DROP_NONE)
		p->payload = pl;
	return why;
}

enum zt_drop zt_packet_parse(struct zt_view pkt, unsigned flags,
			     struct zt_packet *out)
{
	struct zt_view l3;
	enum zt_drop why;

	memset(out, 0, sizeof(*out));
	if (pkt.len < 1)
		return ZT_DROP_TRUNCATED;

	switch (pkt.data[0] >> 4) {
	case 4: {
		struct zt_ip4_repr *ip = &out->ip.ip4;

		why = zt_ip4_parse(pkt, flags, ip, &l3);
		if (why != ZT_DROP_NONE)
			return why;
		out->family = ZT_AF_INET;
		out->src = zt_addr_v4(ip->src);
		out->dst = zt_addr_v4(ip->dst);
		out->proto = ip->protocol;
		out->is_fragment = ip->more_frags || ip->frag_offset != 0;
		break;
	}
	case 6: {
		struct zt_ip6_repr *ip = &out->ip.ip6;

		why = zt_ip6_parse(pkt, flags, ip, &l3);
		if (why != ZT_DROP_NONE && !ip->param_problem)
			return why;
		out->family = ZT_AF_INET6;
		out->src = zt_addr_v6(ip->src);
		out->dst = zt_addr_v6(ip->dst);
		if (why != ZT_DROP_NONE)
			return why; /* to be answered: a Parameter Problem */
		out->proto = ip->upper_proto;
		out->is_fragment = ip->has_frag &&
				   (ip->more_frags || ip->frag_offset != 0);
		break;
	}
	default:
		return ZT_DROP_BAD_VERSION;
	}

	out->l3_payload = l3;
	out->payload = l3;
	if (out->is_fragment)
		return ZT_DROP_NONE;
	return packet_l4(out, flags);
}

int zt_ip_header_emit(const struct zt_addr *src, const struct zt_addr *dst,
		      uint8_t proto, size_t l4_len,
		      const struct zt_ip_hdr_params *p, uint8_t *buf,
		      size_t cap)
{
	if (src->family == ZT_AF_INET) {
		struct zt_ip4_repr ip;

		memset(&ip, 0, sizeof(ip));
		ip.dscp_ecn = p->tclass;
		ip.ident = p->ident;
		ip.dont_frag = p->dont_frag;
		ip.ttl = p->ttl;
		ip.protocol = proto;
		memcpy(ip.src, src->bytes, 4);
		memcpy(ip.dst, dst->bytes, 4);
		return zt_ip4_emit(&ip, l4_len, buf, cap);
	} else {
		struct zt_ip6_repr ip;

		memset(&ip, 0, sizeof(ip));
		ip.traffic_class = p->tclass;
		ip.hop_limit = p->ttl;
		ip.upper_proto = proto;
		memcpy(ip.src, src->bytes, 16);
		memcpy(ip.dst, dst->bytes, 16);
		return zt_ip6_emit(&ip, l4_len, buf, cap);
	}
}
