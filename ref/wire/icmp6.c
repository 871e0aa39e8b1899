/* SPDX-License-Identifier: MIT */
/*
 * icmp6.c - ICMPv6 messages (RFC 4443), parse and emit.
 *
 * Theory of operation: as for ICMPv4 (see icmp4.c), except that the checksum
 * covers the IPv6 pseudo-header (next header 58, RFC 8200 8.1) as well as the
 * message, and bytes 4..7 decode as:
 *
 *   echo request/reply     ident (4..5), sequence (6..7)
 *   packet too big         MTU (4..7)
 *   parameter problem      pointer (4..7)
 *   anything else          kept raw in rest
 *
 * Parse sets the fields of the kind, zeroes the others and always fills rest
 * with the raw bytes 4..7; emit writes by the kind of type/code, else rest.
 * Kinds come from zt_icmp_classify() in icmp4.c. A message longer than 65535
 * bytes (a jumbogram's worth) is refused with -EINVAL.
 */
#include "ztun/icmp_wire.h"

#include <errno.h>
#include <string.h>

#include "ztun/checksum.h"
#include "ztun/ip4.h" /* ZT_PARSE_NO_CSUM */
#include "ztun/ip6.h" /* ZT_IPPROTO_ICMPV6 */

#define ICMP6_MAX_LEN 65535u

enum zt_drop zt_icmp6_parse(struct zt_view msg, const struct zt_addr *src,
			    const struct zt_addr *dst, unsigned flags,
			    struct zt_icmp_repr *out, struct zt_view *body)
{
	const uint8_t *p = msg.data;
	struct zt_icmp_repr r;

	if (msg.len < ZT_ICMP_HDR)
		return ZT_DROP_TRUNCATED;
	if (!(flags & ZT_PARSE_NO_CSUM) &&
	    zt_csum_l4(src, dst, ZT_IPPROTO_ICMPV6, p, msg.len) != 0)
		return ZT_DROP_BAD_CHECKSUM;

	memset(&r, 0, sizeof(r));
	r.type = p[0];
	r.code = p[1];
	r.kind = zt_icmp_classify(ZT_AF_INET6, r.type, r.code);
	r.rest = zt_rd32(p + 4);
	switch (r.kind) {
	case ZT_ICMP_ECHO_REQUEST:
	case ZT_ICMP_ECHO_REPLY:
		r.echo_ident = zt_rd16(p + 4);
		r.echo_seq = zt_rd16(p + 6);
		break;
	case ZT_ICMP_PACKET_TOO_BIG:
		r.mtu = r.rest;
		break;
	case ZT_ICMP_PARAM_PROBLEM:
		r.pointer = r.rest;
		break;
	default:
		break;
	}
	*out = r;
	*body = zt_view_make(p + ZT_ICMP_HDR, msg.len - ZT_ICMP_HDR);
	return ZT_DROP_NONE;
}

int zt_icmp6_emit(const struct zt_icmp_repr *r, const struct zt_addr *src,
		  const struct zt_addr *dst, const uint8_t *body,
		  size_t body_len, uint8_t *buf, size_t cap)
{
	size_t total;

	if (body_len > ICMP6_MAX_LEN - ZT_ICMP_HDR)
		return -EINVAL;
	total = ZT_ICMP_HDR + body_len;
	if (total > cap)
		return -ENOSPC;
	if (body_len && body != buf + ZT_ICMP_HDR)
		memmove(buf + ZT_ICMP_HDR, body, body_len);

	buf[0] = r->type;
	buf[1] = r->code;
	zt_wr16(buf + 2, 0);
	switch (zt_icmp_classify(ZT_AF_INET6, r->type, r->code)) {
	case ZT_ICMP_ECHO_REQUEST:
	case ZT_ICMP_ECHO_REPLY:
		zt_wr16(buf + 4, r->echo_ident);
		zt_wr16(buf + 6, r->echo_seq);
		break;
	case ZT_ICMP_PACKET_TOO_BIG:
		zt_wr32(buf + 4, r->mtu);
		break;
	case ZT_ICMP_PARAM_PROBLEM:
		zt_wr32(buf + 4, r->pointer);
		break;
	default:
		zt_wr32(buf + 4, r->rest);
		break;
	}
	zt_wr16(buf + 2, zt_csum_l4(src, dst, ZT_IPPROTO_ICMPV6, buf, total));
	return (int)total;
}
