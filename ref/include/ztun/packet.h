/* SPDX-License-Identifier: MIT */
/*
 * packet.h - decode a whole IP packet (IPv4 or IPv6 by its first nibble)
 * down to its upper-layer header in one call. This is what the TUN intake
 * and the pcap tools use; fragments stop at the IP layer for reassembly.
 */
#ifndef ZTUN_PACKET_H
#define ZTUN_PACKET_H

#include <stdbool.h>

#include "ztun/addr.h"
#include "ztun/drop.h"
#include "ztun/icmp_wire.h"
#include "ztun/ip4.h"
#include "ztun/ip6.h"
#include "ztun/tcp_wire.h"
#include "ztun/udp_wire.h"
#include "ztun/view.h"

struct zt_packet {
	uint8_t family; /* ZT_AF_INET or ZT_AF_INET6 */
	union {
		struct zt_ip4_repr ip4;
		struct zt_ip6_repr ip6;
	} ip;
	struct zt_addr src;
	struct zt_addr dst;
	uint8_t proto;        /* upper-layer protocol */
	bool is_fragment;     /* MF set or offset != 0: l4 not decoded */
	bool reassembled;     /* set by the stack: it came in fragments */
	struct zt_view l3_payload; /* after IP and extension headers */
	union {
		struct zt_tcp_repr tcp;
		struct zt_udp_repr udp;
		struct zt_icmp_repr icmp;
	} l4;
	struct zt_view payload; /* TCP/UDP data, ICMP body; == l3_payload otherwise */
};

/* @p's TTL (IPv4) or hop limit (IPv6). */
static inline uint8_t zt_packet_ttl(const struct zt_packet *p)
{
	return p->family == ZT_AF_INET ? p->ip.ip4.ttl : p->ip.ip6.hop_limit;
}

/* @p's TOS byte (IPv4: DSCP and ECN) or traffic class (IPv6). */
static inline uint8_t zt_packet_tclass(const struct zt_packet *p)
{
	return p->family == ZT_AF_INET ? p->ip.ip4.dscp_ecn :
					 p->ip.ip6.traffic_class;
}

/*
 * The IP header fields a router carries from a packet it forwards into
 * the one it sends on, and so ztun from a client's datagram or ping into
 * what its upstream socket sends (the upstream op dgram_set_header).
 */
struct zt_fwd_hdr {
	uint8_t ttl;          /* TTL / hop limit; 0: the host's default */
	uint8_t tclass;       /* IPv4 TOS (DSCP, ECN), IPv6 traffic class */
	bool dont_frag;       /* not to be fragmented on the way: IPv4 DF;
			       * every IPv6 packet (no router fragments
			       * those, RFC 8200 5) but one its source
			       * fragmented itself, which it let be cut */
};

static inline struct zt_fwd_hdr zt_packet_fwd_hdr(const struct zt_packet *p)
{
	struct zt_fwd_hdr h = {
		zt_packet_ttl(p), zt_packet_tclass(p),
		p->family == ZT_AF_INET ? p->ip.ip4.dont_frag : !p->reassembled,
	};

	return h;
}

/* The fields of an IP header that zt_ip_header_emit() takes. */
struct zt_ip_hdr_params {
	uint8_t ttl;          /* TTL or hop limit */
	uint8_t tclass;       /* IPv4 DSCP+ECN, IPv6 traffic class */
	bool dont_frag;       /* IPv4 DF */
	uint16_t ident;       /* IPv4 identification */
};

/*
 * zt_ip_header_emit() - the IPv4 (no options) or IPv6 (no extension
 * headers) header, by @src's family, of a packet of @l4_len bytes of
 * @proto from @src to @dst, into @buf (@cap bytes).
 * Return: the header's length, or a negative errno of zt_ip4_emit() /
 * zt_ip6_emit().
 */
int zt_ip_header_emit(const struct zt_addr *src, const struct zt_addr *dst,
		      uint8_t proto, size_t l4_len,
		      const struct zt_ip_hdr_params *p, uint8_t *buf,
		      size_t cap);

/*
 * zt_packet_parse() - decode @pkt (borrowed; views in @out point into it).
 * TCP, UDP, ICMP (over v4) and ICMPv6 (over v6) are decoded; any other
 * upper-layer protocol returns ZT_DROP_UNSUPPORTED with the IP part filled,
 * as does an IPv6 packet refused with ip.ip6.param_problem set (family,
 * addresses and the IPv6 repr; proto 0).
 * Return: ZT_DROP_NONE or the reason the first failing layer gave.
 */
enum zt_drop zt_packet_parse(struct zt_view pkt, unsigned flags,
			     struct zt_packet *out);

#endif /* ZTUN_PACKET_H */
