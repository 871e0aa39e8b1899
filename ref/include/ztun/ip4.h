/* SPDX-License-Identifier: MIT */
/*
 * ip4.h - IPv4 header (RFC 791) parse and emit.
 */
#ifndef ZTUN_IP4_H
#define ZTUN_IP4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/drop.h"
#include "ztun/view.h"

#define ZT_IP4_MIN_HDR 20
#define ZT_IP4_MAX_OPTS 40

/* Flags for the parsers of this family (ip4, tcp, udp, icmp, packet). */
#define ZT_PARSE_NO_CSUM 0x1u /* skip checksum verification (fuzz builds, captures with offload) */

/* Host-order representation of an IPv4 header. The total length is not part
 * of it: parse reports the payload as a view, emit takes the payload length. */
struct zt_ip4_repr {
	uint8_t dscp_ecn;
	uint16_t ident;
	bool dont_frag;
	bool more_frags;
	uint16_t frag_offset; /* in bytes, a multiple of 8, at most 65528 */
	uint8_t ttl;
	uint8_t protocol;
	uint8_t src[4];
	uint8_t dst[4];
	uint8_t options_len; /* multiple of 4, at most 40 */
	uint8_t options[ZT_IP4_MAX_OPTS];
};

/*
 * zt_ip4_parse() - check and decode the IPv4 header at the start of @pkt.
 * @pkt:     the whole datagram as received (borrowed; trailing link padding
 *           past the total length is allowed and ignored)
 * @flags:   ZT_PARSE_* flags
 * @out:     filled on success only
 * @payload: set to the bytes after the header up to the total length
 *
 * Checks version, IHL, total length against the buffer, header checksum,
 * option lengths (EOL/NOP single bytes; others need 2 <= len <= remaining),
 * and that an offset plus payload fits in 65535. Reserved flag bit set is
 * accepted and ignored (RFC 791 says must be zero; be liberal).
 * Return: ZT_DROP_NONE or the reason.
 */
enum zt_drop zt_ip4_parse(struct zt_view pkt, unsigned flags,
			  struct zt_ip4_repr *out, struct zt_view *payload);

/* Header length @r emits: 20 + options_len. */
size_t zt_ip4_header_len(const struct zt_ip4_repr *r);

/*
 * zt_ip4_emit() - write the header for @r followed by @payload_len bytes.
 * @buf: caller-owned, at least zt_ip4_header_len(r) bytes; the payload is
 *       not touched (the caller places it after the header)
 * Sets total length and header checksum.
 * Return: header length, -ENOSPC if @cap is too small, -EINVAL if options_len
 * is not a multiple of 4 or the total would exceed 65535.
 */
int zt_ip4_emit(const struct zt_ip4_repr *r, size_t payload_len, uint8_t *buf,
		size_t cap);

#endif /* ZTUN_IP4_H */
