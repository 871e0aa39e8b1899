/* SPDX-License-Identifier: MIT */
/*
 * ip6.c - IPv6 header (RFC 8200) parse, extension-header walk, and emit.
 *
 * Theory of operation: the fixed header is checked first (version nibble,
 * 40 bytes present, payload length inside the buffer; bytes past it are link
 * padding and are ignored). A payload length of 0 followed by a hop-by-hop
 * header is a jumbogram (RFC 2675), which we do not carry: unsupported.
 *
 * The extension headers are then walked inside the payload length (never
 * the buffer), one per step, at most ZT_IP6_MAX_EXT_HDRS of them so that a
 * hostile chain costs bounded work:
 *
 *   hop-by-hop (0)      only as the very first header (RFC 8200 4.1);
 *   routing (43)        skipped by its length when Segments Left is 0;
 *                       else refused (RFC 8200 4.4: we are an endpoint,
 *                       do not source-route, and know no routing type);
 *   destination opts (60)
 *                       hop-by-hop and destination options carry TLV
 *                       options, which are walked: Pad1 is one byte, every
 *                       other option is type, length, data and must fit.
 *                       We act on no option, so one whose type's top two
 *                       bits ask for more than skipping when unrecognised
 *                       (01, 10, 11: discard; RFC 8200 4.2) is refused:
 *                       Jumbo Payload included, as jumbograms are;
 *   fragment (44)       8 bytes; its reserved fields are ignored. A real
 *                       fragment (offset != 0 or M set) ends the walk: what
 *                       follows is fragment data, whose headers only mean
 *                       something after reassembly. An atomic fragment
 *                       (offset 0, M clear; RFC 6946) is recorded and the
 *                       walk goes on, since its data is the whole payload;
 *   no next header (59) ends the walk with an empty payload; bytes after it
 *                       are ignored (RFC 8200 4.7).
 *
 * Any other next header ends the walk and becomes upper_proto; deciding
 * whether it is supported is the caller's business (nh_offset says where
 * the byte naming it is, for the Parameter Problem that refuses it).
 * Everything the walk reports is written to @out only when the whole
 * packet has been accepted, or when RFC 8200 asks that its source be told
 * why it was not: then param_problem, pp_code and pp_pointer say what to
 * send (code 2 for an option of type 10xxxxxx, or 11xxxxxx to a unicast
 * address; code 0 at the routing type of a routing header we would have
 * to act on; code 1 at the next header byte that names a hop-by-hop header
 * anywhere but first; code 0 at the payload length of a non-last
 * fragment not a multiple of 8 bytes long, or at the fragment offset of
 * one that would end past 65535, RFC 8200 4.5). Other refusals are
 * malformed packets, dropped unanswered.
 *
 * As for IPv4, a fragment must end inside the 65535 bytes the datagram's
 * payload length allows (its unfragmentable part counted: RFC 8200 4.5
 * names the reassembled packet's Payload Length) and a non-last fragment
 * must carry a multiple of 8 bytes (RFC 8200 4.5); otherwise
 * ZT_DROP_BAD_FRAGMENT. Emit refuses to produce such fragments.
 */
#include "ztun/ip6.h"

#include <errno.h>
#include <string.h>

#define IP6_MAX_PAYLOAD 65535u
#define IP6_FLOW_MASK 0xfffffu
#define IP6_FRAG_OFF_MASK 0xfff8u
#define IP6_FRAG_M 0x0001u

enum { IP6_OPT_PAD1 = 0 };

/* Walk the TLV options @opt of @len bytes of a hop-by-hop or destination
 * options header (after its next-header and length bytes). An option we
 * may not skip is ZT_DROP_BAD_EXT_HDR with its offset in @opt in @bad. */
static enum zt_drop ip6_walk_tlv(const uint8_t *opt, size_t len, size_t *bad)
{
	size_t i = 0;

	while (i < len) {
		size_t olen;

		if (opt[i] == IP6_OPT_PAD1) {
			i++;
			continue;
		}
		if (len - i < 2)
			return ZT_DROP_BAD_OPTION_LEN; /* no room for the length */
		olen = 2 + (size_t)opt[i + 1];
		if (olen > len - i)
			return ZT_DROP_BAD_OPTION_LEN;
		if (opt[i] >> 6) { /* unrecognised, and not to be skipped */
			*bad = i;
			return ZT_DROP_BAD_EXT_HDR;
		}
		i += olen;
	}
	return ZT_DROP_NONE;
}

/* Refuse the packet @r describes, reporting the Parameter Problem of
 * @code at offset @pointer through @out. */
static enum zt_drop ip6_problem(struct zt_ip6_repr *r, uint8_t code,
				size_t pointer, enum zt_drop why,
				struct zt_ip6_repr *out)
{
	r->param_problem = true;
	r->pp_code = code;
	r->pp_pointer = (uint32_t)pointer;
	*out = *r;
	return why;
}

enum zt_drop zt_ip6_parse(struct zt_view pkt, unsigned flags,
			  struct zt_ip6_repr *out, struct zt_view *payload)
{
	struct zt_ip6_repr r;
	const uint8_t *h = pkt.data;
	const uint8_t *body;
	size_t plen, off = 0, end;
	uint8_t nh;
	bool done = false;
	enum zt_drop why;

	(void)flags; /* IPv6 has no header checksum */
	if (pkt.len < 1)
		return ZT_DROP_TRUNCATED;
	if (h[0] >> 4 != 6)
		return ZT_DROP_BAD_VERSION;
	if (pkt.len < ZT_IP6_HDR)
		return ZT_DROP_TRUNCATED;
	plen = zt_rd16(h + 4);
	nh = h[6];
	if (plen == 0 && nh == ZT_IPPROTO_HOPOPTS)
		return ZT_DROP_UNSUPPORTED; /* jumbogram */
	if (plen > pkt.len - ZT_IP6_HDR)
		return ZT_DROP_TRUNCATED;
	body = h + ZT_IP6_HDR;
	end = plen;

	memset(&r, 0, sizeof(r));
	r.traffic_class = (uint8_t)(zt_rd16(h) >> 4);
	r.flow_label = zt_rd32(h) & IP6_FLOW_MASK;
	r.hop_limit = h[7];
	memcpy(r.src, h + 8, 16);
	memcpy(r.dst, h + 24, 16);
	r.nh_offset = 6;

	while (!done) {
		const uint8_t *x = body + off;
		size_t xlen;
		uint16_t fo;

		switch (nh) {
		case ZT_IPPROTO_HOPOPTS:
			if (r.ext_count != 0)
				return ip6_problem(&r, 1, r.nh_offset,
						   ZT_DROP_BAD_EXT_HDR, out);
			/* fall through */
		case ZT_IPPROTO_ROUTING:
		case ZT_IPPROTO_DSTOPTS:
			if (r.ext_count >= ZT_IP6_MAX_EXT_HDRS)
				return ZT_DROP_EXT_CHAIN_TOO_LONG;
			if (plen - off < 2)
				return ZT_DROP_BAD_EXT_HDR;
			xlen = ((size_t)x[1] + 1) * 8;
			if (xlen > plen - off)
				return ZT_DROP_BAD_EXT_HDR;
			if (nh == ZT_IPPROTO_ROUTING) {
				if (x[3] != 0) /* Segments Left: at its type */
					return ip6_problem(&r, 0, ZT_IP6_HDR + off + 2,
							   ZT_DROP_BAD_EXT_HDR, out);
			} else {
				size_t bad = 0;

				why = ip6_walk_tlv(x + 2, xlen - 2, &bad);
				if (why == ZT_DROP_BAD_EXT_HDR &&
				    (x[2 + bad] >> 6 == 2 ||
				     (x[2 + bad] >> 6 == 3 && r.dst[0] != 0xff)))
					return ip6_problem(&r, 2,
							   ZT_IP6_HDR + off + 2 + bad,
							   ZT_DROP_BAD_EXT_HDR, out);
				if (why != ZT_DROP_NONE)
					return why;
			}
			r.ext_count++;
			r.nh_offset = (uint32_t)(ZT_IP6_HDR + off);
			nh = x[0];
			off += xlen;
			break;
		case ZT_IPPROTO_FRAGMENT:
			if (r.ext_count >= ZT_IP6_MAX_EXT_HDRS)
				return ZT_DROP_EXT_CHAIN_TOO_LONG;
			if (r.has_frag || plen - off < ZT_IP6_FRAG_HDR)
				return ZT_DROP_BAD_EXT_HDR;
			fo = zt_rd16(x + 2);
			r.has_frag = true;
			r.unfrag_len = (uint16_t)off;
			r.frag_offset = fo & IP6_FRAG_OFF_MASK;
			r.more_frags = (fo & IP6_FRAG_M) != 0;
			r.frag_ident = zt_rd32(x + 4);
			r.ext_count++;
			r.nh_offset = (uint32_t)(ZT_IP6_HDR + off);
			nh = x[0];
			off += ZT_IP6_FRAG_HDR;
			/* RFC 8200 4.5: both told at the field to blame. The
			 * payload it reassembles into holds the headers
			 * before this one too (unfrag_len). */
			if ((size_t)r.unfrag_len + r.frag_offset + (plen - off) >
			    IP6_MAX_PAYLOAD)
				return ip6_problem(&r, 0, ZT_IP6_HDR + off - 6,
						   ZT_DROP_BAD_FRAGMENT, out);
			if (r.more_frags && (plen - off) % 8 != 0)
				return ip6_problem(&r, 0, 4, ZT_DROP_BAD_FRAGMENT,
						   out);
			if (r.more_frags || r.frag_offset != 0)
				done = true; /* the rest is fragment data */
			break;
		case ZT_IPPROTO_NONE:
			end = off; /* RFC 8200 4.7: ignore what follows */
			done = true;
			break;
		default:
			done = true;
			break;
		}
	}

	r.upper_proto = nh;
	r.ext_len = (uint16_t)off;
	*out = r;
	payload->data = body + off;
	payload->len = end - off;
	return ZT_DROP_NONE;
}

size_t zt_ip6_header_len(const struct zt_ip6_repr *r)
{
	return ZT_IP6_HDR + (r->has_frag ? ZT_IP6_FRAG_HDR : 0);
}

/*
 * Beyond the contract's -EINVAL (payload too long), emit also refuses a
 * flow label wider than 20 bits, a fragment offset that is not a multiple
 * of 8, and fragments parse would drop (see the theory of operation).
 */
int zt_ip6_emit(const struct zt_ip6_repr *r, size_t payload_len, uint8_t *buf,
		size_t cap)
{
	size_t hl = zt_ip6_header_len(r);
	size_t ext = hl - ZT_IP6_HDR;

	if (payload_len > IP6_MAX_PAYLOAD - ext || r->flow_label > IP6_FLOW_MASK)
		return -EINVAL;
	if (r->has_frag &&
	    (r->frag_offset % 8 != 0 ||
	     (size_t)r->frag_offset + payload_len > IP6_MAX_PAYLOAD ||
	     (r->more_frags && payload_len % 8 != 0)))
		return -EINVAL;
	if (cap < hl)
		return -ENOSPC;

	zt_wr32(buf, (uint32_t)6 << 28 | (uint32_t)r->traffic_class << 20 |
			     r->flow_label);
	zt_wr16(buf + 4, (uint16_t)(ext + payload_len));
	buf[6] = r->has_frag ? ZT_IPPROTO_FRAGMENT : r->upper_proto;
	buf[7] = r->hop_limit;
	memcpy(buf + 8, r->src, 16);
	memcpy(buf + 24, r->dst, 16);
	if (r->has_frag) {
		uint8_t *f = buf + ZT_IP6_HDR;

		f[0] = r->upper_proto;
		f[1] = 0;
		zt_wr16(f + 2, (uint16_t)(r->frag_offset |
					  (r->more_frags ? IP6_FRAG_M : 0)));
		zt_wr32(f + 4, r->frag_ident);
	}
	return (int)hl;
}
