/* SPDX-License-Identifier: MIT */
/*
 * ip6.h - IPv6 header (RFC 8200) and extension-header walk.
 */
#ifndef ZTUN_IP6_H
#define ZTUN_IP6_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/drop.h"
#include "ztun/view.h"

#define ZT_IP6_HDR 40
#define ZT_IP6_FRAG_HDR 8
#define ZT_IP6_MAX_EXT_HDRS 8 /* walk bound; longer chains are dropped */

enum {
	ZT_IPPROTO_HOPOPTS = 0,
	ZT_IPPROTO_ICMP = 1,
	ZT_IPPROTO_TCP = 6,
	ZT_IPPROTO_UDP = 17,
	ZT_IPPROTO_ROUTING = 43,
	ZT_IPPROTO_FRAGMENT = 44,
	ZT_IPPROTO_ICMPV6 = 58,
	ZT_IPPROTO_NONE = 59,
	ZT_IPPROTO_DSTOPTS = 60,
};

/* Host-order representation of an IPv6 header plus what the walk of its
 * extension headers found. The payload length is not part of it. */
struct zt_ip6_repr {
	uint8_t traffic_class;
	uint32_t flow_label; /* 20 bits */
	uint8_t hop_limit;
	uint8_t src[16];
	uint8_t dst[16];
	/* Results of the walk (parse fills; emit reads only upper_proto and
	 * the fragment fields): */
	uint8_t upper_proto;   /* protocol after the last extension header */
	uint8_t ext_count;     /* extension headers walked */
	uint16_t ext_len;      /* their total length in bytes */
	uint16_t unfrag_len;   /* bytes of extension headers before the fragment header */
	bool has_frag;         /* a fragment header was present */
	bool more_frags;
	uint16_t frag_offset;  /* bytes, multiple of 8 */
	uint32_t frag_ident;
	uint32_t nh_offset;    /* offset in the packet of the byte naming upper_proto */
	/* Set, with the fields above, when parse refuses the packet for a
	 * reason RFC 8200 asks its source be told of by an ICMPv6 Parameter
	 * Problem (4.2, 4.4, 4.5, and 4 for a misplaced hop-by-hop
	 * header): */
	bool param_problem;
	uint8_t pp_code;       /* 0 erroneous header field, 1 next header, 2 option */
	uint32_t pp_pointer;   /* offset in the packet of the offending byte */
};

/*
 * zt_ip6_parse() - check the fixed header and walk the extension headers.
 * @pkt:     the datagram (borrowed; trailing padding past payload length ok)
 * @payload: set to the bytes after the last extension header; for a
 *           fragment this is the fragment's data
 *
 * Walks hop-by-hop (only first), routing, fragment and destination-options
 * headers, at most ZT_IP6_MAX_EXT_HDRS of them, each bounds-checked against
 * the payload length. Options inside hop-by-hop and destination-options
 * headers are walked too (Pad1, PadN, others by length). A jumbogram
 * (payload length 0 with hop-by-hop) is unsupported.
 * @out is written when the packet is accepted, and also when it is refused
 * with param_problem set (then @payload is not).
 * Return: ZT_DROP_NONE or the reason.
 */
enum zt_drop zt_ip6_parse(struct zt_view pkt, unsigned flags,
			  struct zt_ip6_repr *out, struct zt_view *payload);

/* Header length @r emits: 40, plus 8 when has_frag. */
size_t zt_ip6_header_len(const struct zt_ip6_repr *r);

/*
 * zt_ip6_emit() - write the fixed header (and a fragment header when
 * @r->has_frag) for @payload_len bytes of upper_proto payload.
 * Return: header length, -ENOSPC, or -EINVAL (payload too long).
 */
int zt_ip6_emit(const struct zt_ip6_repr *r, size_t payload_len, uint8_t *buf,
		size_t cap);

#endif /* ZTUN_IP6_H */
