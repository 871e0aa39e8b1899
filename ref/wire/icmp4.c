/* SPDX-License-Identifier: MIT */
/*
 * icmp4.c - ICMPv4 messages (RFC 792, RFC 1191), parse and emit; and
 * zt_icmp_classify() and zt_icmp_unreach_hard() for both families.
 *
 * Theory of operation: every ICMP message starts with type, code, checksum
 * and four bytes whose meaning depends on the type (and, for destination
 * unreachable, the code). The checksum covers the ICMPv4 message only (no
 * pseudo-header). Parsing needs the 8-byte header (ZT_DROP_TRUNCATED
 * otherwise) and a right checksum; ICMPv4 has no length field, so the body
 * is everything after the header. The kind is derived by zt_icmp_classify()
 * and bytes 4..7 are decoded by it:
 *
 *   echo request/reply     ident (4..5), sequence (6..7)
 *   fragmentation needed   unused (4..5), next-hop MTU (6..7)  (RFC 1191)
 *   parameter problem      pointer (4), unused (5..7)
 *   anything else          kept raw in rest
 *
 * Parse sets the fields of the kind it found, zeroes the others, and always
 * fills rest with the raw bytes 4..7. Emit writes the fields by the kind its
 * type/code name (unused bytes zero; an MTU is cut to 16 bits, a pointer to
 * 8) and takes rest for every other kind. A message longer than 65535 bytes
 * is refused with -EINVAL.
 */
#include "ztun/icmp_wire.h"

#include <errno.h>
#include <string.h>

#include "ztun/checksum.h"
#include "ztun/ip4.h" /* ZT_PARSE_NO_CSUM */

#define ICMP_MAX_LEN 65535u

enum zt_icmp_kind zt_icmp_classify(uint8_t family, uint8_t type, uint8_t code)
{
	if (family == ZT_AF_INET) {
		switch (type) {
		case ZT_ICMP4_ECHO_REQUEST:
			return ZT_ICMP_ECHO_REQUEST;
		case ZT_ICMP4_ECHO_REPLY:
			return ZT_ICMP_ECHO_REPLY;
		case ZT_ICMP4_DEST_UNREACH:
			return code == ZT_ICMP4_CODE_FRAG_NEEDED ?
				       ZT_ICMP_PACKET_TOO_BIG :
				       ZT_ICMP_DEST_UNREACH;
		case ZT_ICMP4_TIME_EXCEEDED:
			return ZT_ICMP_TIME_EXCEEDED;
		case ZT_ICMP4_PARAM_PROBLEM:
			return ZT_ICMP_PARAM_PROBLEM;
		default:
			return ZT_ICMP_OTHER;
		}
	}
	if (family == ZT_AF_INET6) {
		switch (type) {
		case ZT_ICMP6_ECHO_REQUEST:
			return ZT_ICMP_ECHO_REQUEST;
		case ZT_ICMP6_ECHO_REPLY:
			return ZT_ICMP_ECHO_REPLY;
		case ZT_ICMP6_DEST_UNREACH:
			return ZT_ICMP_DEST_UNREACH;
		case ZT_ICMP6_PACKET_TOO_BIG:
			return ZT_ICMP_PACKET_TOO_BIG;
		case ZT_ICMP6_TIME_EXCEEDED:
			return ZT_ICMP_TIME_EXCEEDED;
		case ZT_ICMP6_PARAM_PROBLEM:
			return ZT_ICMP_PARAM_PROBLEM;
		default:
			return ZT_ICMP_OTHER;
		}
	}
	return ZT_ICMP_OTHER;
}

bool zt_icmp_unreach_hard(uint8_t family, uint8_t code)
{
	/* bit N: code N is hard (icmp_err_convert's "fatal") */
	static const uint32_t hard4 = 1u << 2 | 1u << 3 | 1u << 6 | 1u << 7 |
				      1u << 8 | 1u << 9 | 1u << 10 | 1u << 13 |
				      1u << 14 | 1u << 15;
	static const uint32_t hard6 = 1u << 1 | 1u << 4 | 1u << 5 | 1u << 6;

	if (code > 31)
		return false;
	return ((family == ZT_AF_INET ? hard4 : hard6) >> code) & 1u;
}

enum zt_drop zt_icmp4_parse(struct zt_view msg, unsigned flags,
			    struct zt_icmp_repr *out, struct zt_view *body)
{
	const uint8_t *p = msg.data;
	struct zt_icmp_repr r;

	if (msg.len < ZT_ICMP_HDR)
		return ZT_DROP_TRUNCATED;
	if (!(flags & ZT_PARSE_NO_CSUM) &&
	    zt_csum_fold(zt_csum_add(0, p, msg.len)) != 0)
		return ZT_DROP_BAD_CHECKSUM;

	memset(&r, 0, sizeof(r));
	r.type = p[0];
	r.code = p[1];
	r.kind = zt_icmp_classify(ZT_AF_INET, r.type, r.code);
	r.rest = zt_rd32(p + 4);
	switch (r.kind) {
	case ZT_ICMP_ECHO_REQUEST:
	case ZT_ICMP_ECHO_REPLY:
		r.echo_ident = zt_rd16(p + 4);
		r.echo_seq = zt_rd16(p + 6);
		break;
	case ZT_ICMP_PACKET_TOO_BIG:
		r.mtu = zt_rd16(p + 6);
		break;
	case ZT_ICMP_PARAM_PROBLEM:
		r.pointer = p[4];
		break;
	default:
		break;
	}
	*out = r;
	*body = zt_view_make(p + ZT_ICMP_HDR, msg.len - ZT_ICMP_HDR);
	return ZT_DROP_NONE;
}

int zt_icmp4_emit(const struct zt_icmp_repr *r, const uint8_t *body,
		  size_t body_len, uint8_t *buf, size_t cap)
{
	size_t total;

	if (body_len > ICMP_MAX_LEN - ZT_ICMP_HDR)
		return -EINVAL;
	total = ZT_ICMP_HDR + body_len;
	if (total > cap)
		return -ENOSPC;
	if (body_len && body != buf + ZT_ICMP_HDR)
		memmove(buf + ZT_ICMP_HDR, body, body_len);

	buf[0] = r->type;
	buf[1] = r->code;
	zt_wr16(buf + 2, 0);
	switch (zt_icmp_classify(ZT_AF_INET, r->type, r->code)) {
	case ZT_ICMP_ECHO_REQUEST:
	case ZT_ICMP_ECHO_REPLY:
		zt_wr16(buf + 4, r->echo_ident);
		zt_wr16(buf + 6, r->echo_seq);
		break;
	case ZT_ICMP_PACKET_TOO_BIG:
		zt_wr16(buf + 4, 0);
		zt_wr16(buf + 6, (uint16_t)r->mtu);
		break;
	case ZT_ICMP_PARAM_PROBLEM:
		zt_wr32(buf + 4, (uint32_t)(uint8_t)r->pointer << 24);
		break;
	default:
		zt_wr32(buf + 4, r->rest);
		break;
	}
	zt_wr16(buf + 2, zt_csum_fold(zt_csum_add(0, buf, total)));
	return (int)total;
}
