/* SPDX-License-Identifier: MIT */
/*
 * tcp_wire.c - TCP header and options, parse and emit.
 *
 * Theory of operation: parsing checks the fixed header first (20 bytes, then
 * a data offset of at least 5 words that fits in the segment), then walks the
 * option bytes between byte 20 and the data offset, then verifies the
 * checksum with the pseudo-header over the whole segment. The option walk
 * never trusts a length byte: every option other than EOL and NOP must have
 * its length byte inside the option area, a length of at least 2, and a
 * length that does not run past the header. Known kinds must have their one
 * RFC length (MSS 4, window scale 3, SACK-permitted 2, timestamps 10, SACK
 * 2 + 8n with n in 1..4); unknown kinds are skipped by their length. EOL ends
 * the list (whatever follows is padding). A repeated known option keeps the
 * last value. The repr is built in a local and copied out only on success.
 *
 * Emitting lays the options out as Linux's tcp_options_write() does, which
 * keeps every option 4-byte aligned:
 *
 *   MSS          02 04 mm mm
 *   SACKOK+TS    04 02 08 0a vv vv vv vv ee ee ee ee
 *   TS only      01 01 08 0a vv vv vv vv ee ee ee ee
 *   SACKOK only  01 01 04 02
 *   WS           01 03 03 ss
 *   SACK         01 01 05 ll (left right) x n
 *
 * and pads with NOPs to a multiple of 4 (a no-op for this layout). The
 * payload is moved into place first (memmove, so it may overlap @buf) unless
 * it already sits at buf + header length; the header and checksum are written
 * after it. A segment longer than 65535 bytes is refused with -EINVAL.
 */
#include "ztun/tcp_wire.h"

#include <errno.h>
#include <string.h>

#include "ztun/checksum.h"
#include "ztun/ip4.h" /* ZT_PARSE_NO_CSUM */
#include "ztun/ip6.h" /* ZT_IPPROTO_* */

enum {
	TCPOPT_EOL = 0,
	TCPOPT_NOP = 1,
	TCPOPT_MSS = 2,
	TCPOPT_WS = 3,
	TCPOPT_SACKOK = 4,
	TCPOPT_SACK = 5,
	TCPOPT_TS = 8,
};

#define TCP_MAX_SEGMENT 65535u

/*
 * parse_options() - walk the option area of a TCP header into @r.
 * @o:   the bytes between offset 20 and the data offset
 * @len: their count (0..40)
 *
 * Return: ZT_DROP_NONE or ZT_DROP_BAD_OPTION_LEN.
 */
static enum zt_drop parse_options(const uint8_t *o, size_t len,
				  struct zt_tcp_repr *r)
{
	size_t i = 0;

	while (i < len) {
		uint8_t kind = o[i];
		size_t olen;

		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (len - i < 2)
			return ZT_DROP_BAD_OPTION_LEN;
		olen = o[i + 1];
		if (olen < 2 || olen > len - i)
			return ZT_DROP_BAD_OPTION_LEN;
		switch (kind) {
		case TCPOPT_MSS:
			if (olen != 4)
				return ZT_DROP_BAD_OPTION_LEN;
			r->has_mss = true;
			r->mss = zt_rd16(o + i + 2);
			break;
		case TCPOPT_WS:
			if (olen != 3)
				return ZT_DROP_BAD_OPTION_LEN;
			r->has_wscale = true;
			r->wscale = o[i + 2];
			break;
		case TCPOPT_SACKOK:
			if (olen != 2)
				return ZT_DROP_BAD_OPTION_LEN;
			r->sack_permitted = true;
			break;
		case TCPOPT_SACK: {
			size_t n = (olen - 2) / 8;

			if (olen < 10 || (olen - 2) % 8 || n > ZT_TCP_MAX_SACK)
				return ZT_DROP_BAD_OPTION_LEN;
			memset(r->sack, 0, sizeof(r->sack));
			for (size_t b = 0; b < n; b++) {
				r->sack[b].left = zt_rd32(o + i + 2 + 8 * b);
				r->sack[b].right = zt_rd32(o + i + 6 + 8 * b);
			}
			r->sack_count = (uint8_t)n;
			break;
		}
		case TCPOPT_TS:
			if (olen != 10)
				return ZT_DROP_BAD_OPTION_LEN;
			r->has_ts = true;
			r->ts_val = zt_rd32(o + i + 2);
			r->ts_ecr = zt_rd32(o + i + 6);
			break;
		default:
			break; /* unknown kind: skipped by its length */
		}
		i += olen;
	}
	return ZT_DROP_NONE;
}

enum zt_drop zt_tcp_parse(struct zt_view seg, const struct zt_addr *src,
			  const struct zt_addr *dst, unsigned flags,
			  struct zt_tcp_repr *out, struct zt_view *payload)
{
	struct zt_tcp_repr r;
	const uint8_t *p = seg.data;
	size_t hdrlen;
	enum zt_drop why;

	if (seg.len < ZT_TCP_MIN_HDR)
		return ZT_DROP_TRUNCATED;
	hdrlen = (size_t)(p[12] >> 4) * 4;
	if (hdrlen < ZT_TCP_MIN_HDR || hdrlen > seg.len)
		return ZT_DROP_BAD_DATA_OFFSET;

	memset(&r, 0, sizeof(r));
	r.src_port = zt_rd16(p);
	r.dst_port = zt_rd16(p + 2);
	r.seq = zt_rd32(p + 4);
	r.ack = zt_rd32(p + 8);
	r.flags = p[13];
	r.window = zt_rd16(p + 14);
	r.urgent = zt_rd16(p + 18);
	why = parse_options(p + ZT_TCP_MIN_HDR, hdrlen - ZT_TCP_MIN_HDR, &r);
	if (why != ZT_DROP_NONE)
		return why;

	if (!(flags & ZT_PARSE_NO_CSUM) &&
	    zt_csum_l4(src, dst, ZT_IPPROTO_TCP, p, seg.len) != 0)
		return ZT_DROP_BAD_CHECKSUM;

	*out = r;
	*payload = zt_view_make(p + hdrlen, seg.len - hdrlen);
	return ZT_DROP_NONE;
}

/* Option bytes @r asks for in the Linux layout, before padding; may exceed
 * 40 (the caller refuses that). Never reads sack[] past sack_count. */
static size_t options_len(const struct zt_tcp_repr *r)
{
	size_t n = 0;

	if (r->has_mss)
		n += 4;
	if (r->has_ts)
		n += 12;
	else if (r->sack_permitted)
		n += 4;
	if (r->has_wscale)
		n += 4;
	if (r->sack_count)
		n += 4 + 8 * (size_t)r->sack_count;
	return n;
}

int zt_tcp_header_len(const struct zt_tcp_repr *r)
{
	size_t n = options_len(r);

	if (r->sack_count > ZT_TCP_MAX_SACK || n > ZT_TCP_MAX_OPTS)
		return -EMSGSIZE;
	return (int)(ZT_TCP_MIN_HDR + ((n + 3) & ~(size_t)3));
}

/* Write the options of @r at @o (Linux layout, NOP-padded to @padded). */
static void write_options(const struct zt_tcp_repr *r, uint8_t *o,
			  size_t padded)
{
	size_t i = 0;

	if (r->has_mss) {
		o[i++] = TCPOPT_MSS;
		o[i++] = 4;
		zt_wr16(o + i, r->mss);
		i += 2;
	}
	if (r->has_ts) {
		if (r->sack_permitted) {
			o[i++] = TCPOPT_SACKOK;
			o[i++] = 2;
		} else {
			o[i++] = TCPOPT_NOP;
			o[i++] = TCPOPT_NOP;
		}
		o[i++] = TCPOPT_TS;
		o[i++] = 10;
		zt_wr32(o + i, r->ts_val);
		zt_wr32(o + i + 4, r->ts_ecr);
		i += 8;
	} else if (r->sack_permitted) {
		o[i++] = TCPOPT_NOP;
		o[i++] = TCPOPT_NOP;
		o[i++] = TCPOPT_SACKOK;
		o[i++] = 2;
	}
	if (r->has_wscale) {
		o[i++] = TCPOPT_NOP;
		o[i++] = TCPOPT_WS;
		o[i++] = 3;
		o[i++] = r->wscale;
	}
	if (r->sack_count) {
		o[i++] = TCPOPT_NOP;
		o[i++] = TCPOPT_NOP;
		o[i++] = TCPOPT_SACK;
		o[i++] = (uint8_t)(2 + 8 * r->sack_count);
		for (size_t b = 0; b < r->sack_count; b++) {
			zt_wr32(o + i, r->sack[b].left);
			zt_wr32(o + i + 4, r->sack[b].right);
			i += 8;
		}
	}
	while (i < padded)
		o[i++] = TCPOPT_NOP;
}

/* zt_tcp_emit() and zt_tcp_emit_partial(): the checksum complete, or only
 * the pseudo-header's share of it (@partial). */
static int tcp_emit(const struct zt_tcp_repr *r, const struct zt_addr *src,
		    const struct zt_addr *dst, const uint8_t *payload,
		    size_t payload_len, uint8_t *buf, size_t cap, bool partial)
{
	int hl = zt_tcp_header_len(r);
	size_t hdrlen, total;
	uint16_t csum;

	if (hl < 0)
		return hl;
	hdrlen = (size_t)hl;
	if (payload_len > TCP_MAX_SEGMENT - hdrlen)
		return -EINVAL;
	total = hdrlen + payload_len;
	/* A partial checksum needs only the payload's length: with no
	 * payload given, only the header is written. */
	if ((partial && !payload ? hdrlen : total) > cap)
		return -ENOSPC;

	/* Payload first: it may overlap where the header goes. */
	if (payload_len && payload && payload != buf + hdrlen)
		memmove(buf + hdrlen, payload, payload_len);

	zt_wr16(buf, r->src_port);
	zt_wr16(buf + 2, r->dst_port);
	zt_wr32(buf + 4, r->seq);
	zt_wr32(buf + 8, r->ack);
	buf[12] = (uint8_t)((hdrlen / 4) << 4);
	buf[13] = r->flags;
	zt_wr16(buf + 14, r->window);
	zt_wr16(buf + 16, 0);
	zt_wr16(buf + 18, r->urgent);
	write_options(r, buf + ZT_TCP_MIN_HDR, hdrlen - ZT_TCP_MIN_HDR);

	if (partial)
		csum = zt_csum_partial(src, dst, ZT_IPPROTO_TCP,
				       (uint32_t)total);
	else
		csum = zt_csum_l4(src, dst, ZT_IPPROTO_TCP, buf, total);
	zt_wr16(buf + 16, csum);
	return (int)total;
}

int zt_tcp_emit(const struct zt_tcp_repr *r, const struct zt_addr *src,
		const struct zt_addr *dst, const uint8_t *payload,
		size_t payload_len, uint8_t *buf, size_t cap)
{
	return tcp_emit(r, src, dst, payload, payload_len, buf, cap, false);
}

int zt_tcp_emit_partial(const struct zt_tcp_repr *r, const struct zt_addr *src,
			const struct zt_addr *dst, const uint8_t *payload,
			size_t payload_len, uint8_t *buf, size_t cap)
{
	return tcp_emit(r, src, dst, payload, payload_len, buf, cap, true);
}
