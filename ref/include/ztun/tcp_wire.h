/* SPDX-License-Identifier: MIT */
/*
 * tcp_wire.h - TCP header and options (RFC 9293, 7323, 2018) parse and emit.
 * This is the wire format only; the state machine lives elsewhere.
 */
#ifndef ZTUN_TCP_WIRE_H
#define ZTUN_TCP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/addr.h"
#include "ztun/drop.h"
#include "ztun/view.h"

#define ZT_TCP_MIN_HDR 20
#define ZT_TCP_MAX_OPTS 40
#define ZT_TCP_MAX_SACK 4

enum {
	ZT_TCP_FIN = 0x01,
	ZT_TCP_SYN = 0x02,
	ZT_TCP_RST = 0x04,
	ZT_TCP_PSH = 0x08,
	ZT_TCP_ACK = 0x10,
	ZT_TCP_URG = 0x20,
	ZT_TCP_ECE = 0x40,
	ZT_TCP_CWR = 0x80,
};

struct zt_sack_block {
	uint32_t left;  /* first sequence number of the block */
	uint32_t right; /* sequence number just after the block */
};

/* Host-order representation of a TCP header. */
struct zt_tcp_repr {
	uint16_t src_port;
	uint16_t dst_port;
	uint32_t seq;
	uint32_t ack;
	uint8_t flags;        /* ZT_TCP_* */
	uint16_t window;      /* raw field, before any scaling */
	uint16_t urgent;
	bool has_mss;
	uint16_t mss;
	bool has_wscale;
	uint8_t wscale;       /* as received; the state machine clamps to 14 */
	bool sack_permitted;
	uint8_t sack_count;   /* 0..4 */
	struct zt_sack_block sack[ZT_TCP_MAX_SACK];
	bool has_ts;
	uint32_t ts_val;
	uint32_t ts_ecr;
};

/*
 * zt_tcp_parse() - check and decode a TCP segment.
 * @seg:      the segment: header, options and data (borrowed)
 * @src, @dst: the IP addresses, for the pseudo-header checksum
 * @flags:    ZT_PARSE_* flags
 * @payload:  set to the data after the header
 *
 * Checks data offset, every option's length (NOP/EOL single bytes; MSS 4,
 * window scale 3, SACK-permitted 2, timestamps 10, SACK 2+8n with n 1..4,
 * unknown kinds skipped by a length >= 2 that fits), and the checksum.
 * A repeated known option keeps the last value.
 * Return: ZT_DROP_NONE or the reason.
 */
enum zt_drop zt_tcp_parse(struct zt_view seg, const struct zt_addr *src,
			  const struct zt_addr *dst, unsigned flags,
			  struct zt_tcp_repr *out, struct zt_view *payload);

/* Length of the header with the options @r asks for, padded to 4; or -EMSGSIZE
 * when those options need more than 40 bytes. */
int zt_tcp_header_len(const struct zt_tcp_repr *r);

/*
 * zt_tcp_emit() - write the segment for @r with @payload into @buf and set
 * its checksum.
 * @payload: may already sit at buf + header length (then it is not copied),
 *           otherwise it is copied there; may be NULL when @payload_len is 0
 * Options are laid out as Linux does: MSS, SACK-permitted + timestamps,
 * NOP + window scale, NOP NOP + SACK blocks, padded with NOPs.
 * Return: total segment length, -ENOSPC, -EMSGSIZE (options too long), or
 * -EINVAL (segment longer than 65535).
 */
int zt_tcp_emit(const struct zt_tcp_repr *r, const struct zt_addr *src,
		const struct zt_addr *dst, const uint8_t *payload,
		size_t payload_len, uint8_t *buf, size_t cap);

/*
 * zt_tcp_emit_partial() - as zt_tcp_emit(), but the checksum field holds
 * only the folded pseudo-header sum (Linux's CHECKSUM_PARTIAL, virtio's
 * NEEDS_CSUM): whoever cuts or sends the segment sums the rest. For TSO
 * segments, which the device re-checksums piece by piece anyway. With
 * @payload NULL only the header is written (@cap need only hold it): the
 * data goes out from where it is. Returns header + @payload_len.
 */
int zt_tcp_emit_partial(const struct zt_tcp_repr *r, const struct zt_addr *src,
			const struct zt_addr *dst, const uint8_t *payload,
			size_t payload_len, uint8_t *buf, size_t cap);

#endif /* ZTUN_TCP_WIRE_H */
