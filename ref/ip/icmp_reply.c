/* SPDX-License-Identifier: MIT */
/*
 * icmp_reply.c - the ICMP responder: echo replies, error generation and the
 * error rate limiter.
 *
 * Theory of operation
 *
 * Both builders lay a packet out front to back in the caller's buffer: IP
 * header (no options, no extension headers), ICMP header, body. The body is
 * copied from the received packet into place (zt_icmp4_emit/zt_icmp6_emit
 * copy it to buf + 8 past the ICMP header's start), then the ICMP checksum
 * is computed over it, then the IP header is written in front; received
 * bytes are only read. The size is decided before anything is written, so a
 * failure leaves @buf untouched.
 *
 * Echo replies mirror the request: same identifier, sequence and data, from
 * its destination to its source. The reply is as large as the request, which
 * reached us, so it is built as an atomic IPv4 datagram (DF set,
 * identification 0, RFC 6864 4.1) and needs no per-flow ident counter; a
 * request that came in fragments has a reply over the MTU, which the stack
 * sends in fragments of its own (the data is returned whole). A
 * request to a group address (multicast, limited broadcast) is refused:
 * the reply must come from a unicast address of ours (RFC 1122 3.2.2.6,
 * RFC 4443 4.2) and the responder does not know one.
 *
 * Errors follow RFC 1122 3.2.2 and RFC 4443 2.4(e): never about an ICMP
 * error (ICMPv6 types below 128; ICMPv4 types 3, 4, 5, 11, 12 and, as Linux
 * does, any type above 18) or an ICMPv6 Redirect (137), never about a
 * non-first fragment (but for the IPv6 Parameter Problem RFC 8200 4.5
 * asks about a malformed fragment), never to a
 * source that is not a single host, never about a packet sent to a group
 * address, except that IPv6 Packet Too Big and Parameter Problem code 2 are
 * sent about multicast packets too (RFC 4443 2.4(e.3): path MTU discovery
 * for multicast depends on them). An
 * ICMP message whose header did not arrive is treated as an error message:
 * when in doubt, stay silent. The ICMPv6 message is found by the walk of
 * the extension headers the quote's reader does, so that one behind a
 * header parse refused (the Parameter Problem about it) or behind a first
 * fragment's fragment header (Time Exceeded in reassembly) is seen too.
 * Subnet-directed broadcasts cannot be told from unicast without the
 * routing table; the caller must filter those.
 *
 * The quote is the offending datagram from its IP header, cut to its own IP
 * length (link padding is not quoted) and to what fits in min(576 or 1280,
 * link MTU) bytes of error packet.
 *
 * The rate limiter counts in units of 1e-9 token: a nanosecond adds
 * per_second units and a token costs 1e9, so the refill is exact integer
 * arithmetic with no remainder to carry. The bucket holds at most
 * burst * 1e9 < 2^63 units; the refill is capped before the multiplication
 * so it cannot overflow however long the pause.
 */
#include "ztun/icmp_reply.h"

#include <errno.h>
#include <string.h>

#include "ztun/ip4.h"
#include "ztun/ip6.h"
#include "ztun/packet.h"

#define NSEC_PER_SEC 1000000000ull
#define DSCP_CS6 0xc0u
#define ECN_MASK 0x03u
#define ICMP6_REDIRECT 137 /* RFC 4861 8.3 */

/* A group destination: multicast or IPv4 limited broadcast. */
static bool addr_group(const struct zt_addr *a)
{
	static const uint8_t bcast[4] = { 0xff, 0xff, 0xff, 0xff };

	if (a->family == ZT_AF_INET)
		return (a->bytes[0] & 0xf0) == 0xe0 ||
		       memcmp(a->bytes, bcast, 4) == 0;
	return a->bytes[0] == 0xff;
}

/* Is ICMPv4 type @t an error message (or unknown, hence treated as one)? */
static bool icmp4_type_is_error(uint8_t t)
{
	return t == 3 || t == 4 || t == 5 || t == 11 || t == 12 || t > 18;
}

/*
 * emit_ip() - write the IP header for @l4_len bytes of ICMP(v6) in front of
 * the message already at buf + header length.
 * @buf: caller-owned, at least the header length (checked by the caller)
 * Return: header length, or a negative errno from the IP emitter.
 */
static int emit_ip(const struct zt_addr *src, const struct zt_addr *dst,
		   uint8_t tclass, size_t l4_len, uint8_t *buf, size_t cap)
{
	const struct zt_ip_hdr_params p = {
		.ttl = ZT_ICMP_REPLY_TTL, .tclass = tclass, .dont_frag = true,
	};

	return zt_ip_header_emit(src, dst,
				 src->family == ZT_AF_INET ? ZT_IPPROTO_ICMP :
							     ZT_IPPROTO_ICMPV6,
				 l4_len, &p, buf, cap);
}

/*
 * build() - IP header + ICMP message with @body, from @src to @dst.
 * @body: borrowed; copied to its place in @buf, which must not overlap it
 * Return: total length, -ENOSPC or -EINVAL.
 */
static int build(const struct zt_addr *src, const struct zt_addr *dst,
		 uint8_t tclass, const struct zt_icmp_repr *icmp,
		 const uint8_t *body, size_t body_len, uint8_t *buf, size_t cap)
{
	size_t hl = src->family == ZT_AF_INET ? ZT_IP4_MIN_HDR : ZT_IP6_HDR;
	size_t total = hl + ZT_ICMP_HDR + body_len;
	int n, h;

	if (total > 65535u + (src->family == ZT_AF_INET6 ? ZT_IP6_HDR : 0))
		return -EINVAL;
	if (total > cap)
		return -ENOSPC;
	if (src->family == ZT_AF_INET)
		n = zt_icmp4_emit(icmp, body, body_len, buf + hl, cap - hl);
	else
		n = zt_icmp6_emit(icmp, src, dst, body, body_len, buf + hl,
				  cap - hl);
	if (n < 0)
		return n;
	h = emit_ip(src, dst, tclass, (size_t)n, buf, cap);
	if (h < 0)
		return h;
	return h + n;
}

int zt_icmp_echo_reply(const struct zt_packet *req, uint8_t *buf, size_t cap)
{
	struct zt_icmp_repr icmp;
	uint8_t tclass;

	if (req->family == ZT_AF_INET) {
		if (req->proto != ZT_IPPROTO_ICMP)
			return -EINVAL;
		tclass = req->ip.ip4.dscp_ecn;
	} else if (req->family == ZT_AF_INET6) {
		if (req->proto != ZT_IPPROTO_ICMPV6)
			return -EINVAL;
		tclass = req->ip.ip6.traffic_class;
	} else {
		return -EINVAL;
	}
	if (req->is_fragment || req->l4.icmp.kind != ZT_ICMP_ECHO_REQUEST)
		return -EINVAL;
	if (!zt_addr_is_host(&req->src) || addr_group(&req->dst))
		return -EPERM;

	memset(&icmp, 0, sizeof(icmp));
	icmp.type = req->family == ZT_AF_INET ? ZT_ICMP4_ECHO_REPLY :
						ZT_ICMP6_ECHO_REPLY;
	icmp.echo_ident = req->l4.icmp.echo_ident;
	icmp.echo_seq = req->l4.icmp.echo_seq;
	return build(&req->dst, &req->src, (uint8_t)(tclass & ~ECN_MASK), &icmp,
		     req->payload.data, req->payload.len, buf, cap);
}

/* Type/code/bytes 4..7 of the error @kind in @family; -EINVAL if invalid. */
static int error_header(uint8_t family, enum zt_icmp_kind kind, uint8_t code,
			uint32_t mtu_or_pointer, struct zt_icmp_repr *r)
{
	bool v4 = family == ZT_AF_INET;

	memset(r, 0, sizeof(*r));
	r->code = code;
	switch (kind) {
	case ZT_ICMP_DEST_UNREACH:
		if (v4 && code == ZT_ICMP4_CODE_FRAG_NEEDED)
			return -EINVAL;
		r->type = v4 ? ZT_ICMP4_DEST_UNREACH : ZT_ICMP6_DEST_UNREACH;
		break;
	case ZT_ICMP_PACKET_TOO_BIG:
		if (v4 ? mtu_or_pointer < ZT_IP4_MIN_MTU || mtu_or_pointer > 65535u :
			 mtu_or_pointer < ZT_IP6_MIN_MTU)
			return -EINVAL;
		r->type = v4 ? ZT_ICMP4_DEST_UNREACH : ZT_ICMP6_PACKET_TOO_BIG;
		r->code = v4 ? ZT_ICMP4_CODE_FRAG_NEEDED : 0;
		r->mtu = mtu_or_pointer;
		break;
	case ZT_ICMP_TIME_EXCEEDED:
		r->type = v4 ? ZT_ICMP4_TIME_EXCEEDED : ZT_ICMP6_TIME_EXCEEDED;
		break;
	case ZT_ICMP_PARAM_PROBLEM:
		if (v4 && mtu_or_pointer > 255u)
			return -EINVAL;
		r->type = v4 ? ZT_ICMP4_PARAM_PROBLEM : ZT_ICMP6_PARAM_PROBLEM;
		r->pointer = mtu_or_pointer;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

/*
 * Does IPv6 packet @raw (cut to its own length) carry an ICMPv6 error, a
 * Redirect, or an ICMPv6 message whose header did not come (@first: it is
 * not a later fragment)? The walk is the one the quote's reader does
 * (zt_icmp_parse_quote()): it goes past a header parse refused (an option
 * we may not skip, a hop-by-hop header not first) and past the fragment
 * header of a first fragment, where parse's upper_proto stops. A chain it
 * cannot walk names no ICMPv6 message.
 */
static bool icmp6_error_inside(struct zt_view raw, bool first)
{
	struct zt_icmp_quote q;

	if (zt_icmp_parse_quote(raw, &q) != ZT_DROP_NONE ||
	    q.proto != ZT_IPPROTO_ICMPV6)
		return false;
	if (!q.has_icmp_type)
		return first;
	return q.icmp_type < 128 || q.icmp_type == ICMP6_REDIRECT;
}

/* May an error about @p (@raw its bytes) of kind @r be sent at all
 * (RFC 1122 3.2.2, RFC 4443 2.4(e))? */
static bool error_allowed(const struct zt_packet *p, struct zt_view raw,
			  const struct zt_icmp_repr *r)
{
	bool v4 = p->family == ZT_AF_INET;
	bool first = v4 ? p->ip.ip4.frag_offset == 0 :
			  !p->ip.ip6.has_frag || p->ip.ip6.frag_offset == 0;

	/* no error about a later fragment (RFC 1122 3.2.2), but the
	 * Parameter Problem RFC 8200 4.5 asks about a malformed one */
	if (!first && (v4 || r->type != ZT_ICMP6_PARAM_PROBLEM))
		return false;
	if (v4 && p->proto == ZT_IPPROTO_ICMP &&
	    (p->l3_payload.len < 1 || icmp4_type_is_error(p->l3_payload.data[0])))
		return false;
	if (!v4 && icmp6_error_inside(raw, first))
		return false;
	if (!zt_addr_is_host(&p->src))
		return false;
	if (addr_group(&p->dst)) {
		/* RFC 4443 2.4(e.3): PTB, and Parameter Problem code 2 */
		if (v4)
			return false;
		return r->type == ZT_ICMP6_PACKET_TOO_BIG ||
		       (r->type == ZT_ICMP6_PARAM_PROBLEM && r->code == 2);
	}
	return true;
}

int zt_icmp_error(const struct zt_packet *offender, struct zt_view offender_raw,
		  enum zt_icmp_kind kind, uint8_t code, uint32_t mtu_or_pointer,
		  const struct zt_addr *from, uint16_t link_mtu, uint8_t *buf,
		  size_t cap)
{
	struct zt_icmp_repr icmp;
	size_t ip_len, limit, hdrs, quote;
	int err;

	if (offender->family != ZT_AF_INET && offender->family != ZT_AF_INET6)
		return -EINVAL;
	if (from->family != offender->family || !zt_addr_is_host(from))
		return -EINVAL;
	err = error_header(offender->family, kind, code, mtu_or_pointer, &icmp);
	if (err)
		return err;

	/* The datagram's own length, from the raw header it was parsed from. */
	if (offender->family == ZT_AF_INET) {
		if (offender_raw.len < ZT_IP4_MIN_HDR ||
		    offender_raw.data[0] >> 4 != 4 || link_mtu < ZT_IP4_MIN_MTU)
			return -EINVAL;
		ip_len = zt_rd16(offender_raw.data + 2);
		limit = ZT_ICMP4_ERROR_MAX;
		hdrs = ZT_IP4_MIN_HDR + ZT_ICMP_HDR;
	} else {
		if (offender_raw.len < ZT_IP6_HDR ||
		    offender_raw.data[0] >> 4 != 6 || link_mtu < ZT_IP6_MIN_MTU)
			return -EINVAL;
		ip_len = ZT_IP6_HDR + (size_t)zt_rd16(offender_raw.data + 4);
		limit = ZT_ICMP6_ERROR_MAX;
		hdrs = ZT_IP6_HDR + ZT_ICMP_HDR;
	}
	if (ip_len > offender_raw.len)
		ip_len = offender_raw.len;
	if (!error_allowed(offender, zt_view_make(offender_raw.data, ip_len),
			   &icmp))
		return -EPERM;

	if (limit > link_mtu)
		limit = link_mtu;
	quote = limit - hdrs;
	if (quote > ip_len)
		quote = ip_len;
	return build(from, &offender->src, DSCP_CS6, &icmp, offender_raw.data,
		     quote, buf, cap);
}

void zt_ratelimit_init(struct zt_ratelimit *rl, uint32_t per_second,
		       uint32_t burst)
{
	rl->max = (uint64_t)burst * NSEC_PER_SEC;
	rl->credit = rl->max;
	rl->rate = per_second;
	rl->last = 0;
}

/* Refill @rl for the time since the last call. */
static void refill(struct zt_ratelimit *rl, uint64_t now)
{
	if (now > rl->last) {
		uint64_t elapsed = now - rl->last;
		uint64_t room = rl->max - rl->credit;

		/* elapsed * rate >= room, tested without the product */
		if (rl->rate && elapsed >= (room + rl->rate - 1) / rl->rate)
			rl->credit = rl->max;
		else
			rl->credit += elapsed * rl->rate;
	}
	rl->last = now;
}

bool zt_ratelimit_ready(struct zt_ratelimit *rl, uint64_t now)
{
	refill(rl, now);
	return rl->credit >= NSEC_PER_SEC;
}

bool zt_ratelimit_take(struct zt_ratelimit *rl, uint64_t now)
{
	if (!zt_ratelimit_ready(rl, now))
		return false;
	rl->credit -= NSEC_PER_SEC;
	return true;
}
