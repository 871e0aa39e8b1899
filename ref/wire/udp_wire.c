/* SPDX-License-Identifier: MIT */
/*
 * udp_wire.c - UDP header, parse and emit.
 *
 * Theory of operation: the 8-byte header must be present (else
 * ZT_DROP_TRUNCATED); its length field must be at least 8 and at most the
 * bytes given, else ZT_DROP_BAD_LENGTH (both directions use BAD_LENGTH, as
 * drop.h describes it: the field lies about the datagram). Bytes past the
 * length field are ignored (link padding). The checksum covers the
 * pseudo-header and exactly the length-field bytes. A zero checksum field
 * means "not computed": accepted over IPv4 (RFC 768) and dropped as
 * ZT_DROP_BAD_CHECKSUM over IPv6 (RFC 8200 8.1). ZT_PARSE_NO_CSUM skips both
 * the verification and the IPv6 zero-checksum rule.
 *
 * Emitting moves the payload into place first (memmove unless it already
 * sits at buf + 8), then writes the header, and sends a computed checksum of
 * 0 as 0xffff, its one's-complement twin, so it is not read as "none".
 */
#include "ztun/udp_wire.h"

#include <errno.h>
#include <string.h>

#include "ztun/checksum.h"
#include "ztun/ip4.h" /* ZT_PARSE_NO_CSUM */
#include "ztun/ip6.h" /* ZT_IPPROTO_* */

#define UDP_MAX_LEN 65535u

enum zt_drop zt_udp_parse(struct zt_view dgram, const struct zt_addr *src,
			  const struct zt_addr *dst, unsigned flags,
			  struct zt_udp_repr *out, struct zt_view *payload)
{
	const uint8_t *p = dgram.data;
	size_t ulen;

	if (dgram.len < ZT_UDP_HDR)
		return ZT_DROP_TRUNCATED;
	ulen = zt_rd16(p + 4);
	if (ulen < ZT_UDP_HDR || ulen > dgram.len)
		return ZT_DROP_BAD_LENGTH;

	if (!(flags & ZT_PARSE_NO_CSUM)) {
		if (zt_rd16(p + 6) == 0) {
			if (src->family == ZT_AF_INET6)
				return ZT_DROP_BAD_CHECKSUM;
		} else if (zt_csum_l4(src, dst, ZT_IPPROTO_UDP, p, ulen) != 0) {
			return ZT_DROP_BAD_CHECKSUM;
		}
	}

	out->src_port = zt_rd16(p);
	out->dst_port = zt_rd16(p + 2);
	*payload = zt_view_make(p + ZT_UDP_HDR, ulen - ZT_UDP_HDR);
	return ZT_DROP_NONE;
}

int zt_udp_emit_gso_hdr(const struct zt_udp_repr *r, const struct zt_addr *src,
			const struct zt_addr *dst, size_t payload_len,
			uint8_t *buf, size_t cap)
{
	size_t total = ZT_UDP_HDR + payload_len;

	if (payload_len > UDP_MAX_LEN - ZT_UDP_HDR)
		return -EINVAL;
	if (cap < ZT_UDP_HDR)
		return -ENOSPC;
	zt_wr16(buf, r->src_port);
	zt_wr16(buf + 2, r->dst_port);
	zt_wr16(buf + 4, (uint16_t)total);
	zt_wr16(buf + 6, zt_csum_partial(src, dst, ZT_IPPROTO_UDP,
					 (uint32_t)total));
	return ZT_UDP_HDR;
}

int zt_udp_emit(const struct zt_udp_repr *r, const struct zt_addr *src,
		const struct zt_addr *dst, const uint8_t *payload,
		size_t payload_len, uint8_t *buf, size_t cap)
{
	size_t total;
	uint16_t csum;

	if (payload_len > UDP_MAX_LEN - ZT_UDP_HDR)
		return -EINVAL;
	total = ZT_UDP_HDR + payload_len;
	if (total > cap)
		return -ENOSPC;

	if (payload_len && payload != buf + ZT_UDP_HDR)
		memmove(buf + ZT_UDP_HDR, payload, payload_len);

	zt_wr16(buf, r->src_port);
	zt_wr16(buf + 2, r->dst_port);
	zt_wr16(buf + 4, (uint16_t)total);
	zt_wr16(buf + 6, 0);
	csum = zt_csum_l4(src, dst, ZT_IPPROTO_UDP, buf, total);
	zt_wr16(buf + 6, csum ? csum : 0xffff);
	return (int)total;
}
