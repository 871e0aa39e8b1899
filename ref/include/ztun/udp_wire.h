/* SPDX-License-Identifier: MIT */
/*
 * udp_wire.h - UDP header (RFC 768; RFC 8200 8.1 for IPv6) parse and emit.
 */
#ifndef ZTUN_UDP_WIRE_H
#define ZTUN_UDP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ztun/addr.h"
#include "ztun/drop.h"
#include "ztun/view.h"

#define ZT_UDP_HDR 8

struct zt_udp_repr {
	uint16_t src_port;
	uint16_t dst_port;
};

/*
 * zt_udp_parse() - check and decode a UDP datagram.
 * The length field must be >= 8 and <= the bytes given (bytes past it are
 * ignored); either violation is ZT_DROP_BAD_LENGTH, fewer than 8 bytes is
 * ZT_DROP_TRUNCATED. A zero checksum means "none" over IPv4 and is
 * ZT_DROP_BAD_CHECKSUM over IPv6 (ZT_PARSE_NO_CSUM skips the verification
 * and that IPv6 rule).
 * @payload: the data after the header, up to the length field.
 */
enum zt_drop zt_udp_parse(struct zt_view dgram, const struct zt_addr *src,
			  const struct zt_addr *dst, unsigned flags,
			  struct zt_udp_repr *out, struct zt_view *payload);

/* Write header + @payload (copied unless already at buf + 8) and checksum
 * (a computed 0 is sent as 0xffff). Return: total length, -ENOSPC, -EINVAL
 * (longer than 65535). */
int zt_udp_emit(const struct zt_udp_repr *r, const struct zt_addr *src,
		const struct zt_addr *dst, const uint8_t *payload,
		size_t payload_len, uint8_t *buf, size_t cap);

/* The header of a UDP GSO packet whose @payload_len bytes follow it and are
 * to be cut into datagrams by a device (CHECKSUM_PARTIAL): its length
 * field covers all of them, its checksum field holds only the pseudo-header
 * sum for that length, which the device turns into each piece's checksum.
 * Return: 8, -ENOSPC, -EINVAL (longer than 65535). */
int zt_udp_emit_gso_hdr(const struct zt_udp_repr *r, const struct zt_addr *src,
			const struct zt_addr *dst, size_t payload_len,
			uint8_t *buf, size_t cap);

#endif /* ZTUN_UDP_WIRE_H */
