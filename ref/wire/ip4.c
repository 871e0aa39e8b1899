/* SPDX-License-Identifier: MIT */
/*
 * ip4.c - IPv4 header (RFC 791) parse and emit.
 *
 * Theory of operation: parse trusts nothing in the header until it has been
 * checked against the buffer, in the order the fields depend on each other:
 * the version nibble, the IHL (at least 5 words and inside the buffer), the
 * total length (at least the IHL, at most the buffer; bytes past it are link
 * padding and are ignored), the header checksum, the options, and finally
 * that the fragment's last byte (offset + payload) lies inside the 64 KiB a
 * datagram can span. Every refusal names its own enum zt_drop reason, and
 * @out and @payload are only written once everything has passed, so a caller
 * never sees half a decode.
 *
 * Options are walked, not interpreted: EOL ends the list (whatever follows
 * it is padding), NOP is one byte, every other option is type, length, data
 * with 2 <= length <= the bytes left. The raw option bytes are handed back so
 * that a host can re-emit or log them.
 *
 * A fragment other than the last must carry a multiple of 8 bytes (RFC 791
 * section 3.2, "Fragmentation"); one that does not cannot be placed by
 * reassembly, so it is refused as ZT_DROP_BAD_FRAGMENT. Emit refuses to
 * produce anything parse would refuse.
 */
#include "ztun/ip4.h"

#include <errno.h>
#include <string.h>

#include "ztun/checksum.h"

#define IP4_FLAG_DF 0x4000u
#define IP4_FLAG_MF 0x2000u
#define IP4_OFFSET_MASK 0x1fffu
#define IP4_MAX_TOTAL 65535u

enum { IP4_OPT_EOL = 0, IP4_OPT_NOP = 1 };

/* Walk the option list @opt of @len bytes. */
static enum zt_drop ip4_walk_options(const uint8_t *opt, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t olen;

		if (opt[i] == IP4_OPT_EOL)
			break;
		if (opt[i] == IP4_OPT_NOP) {
			i++;
			continue;
		}
		if (len - i < 2)
			return ZT_DROP_BAD_OPTION_LEN; /* no room for the length */
		olen = opt[i + 1];
		if (olen < 2 || olen > len - i)
			return ZT_DROP_BAD_OPTION_LEN;
		i += olen;
	}
	return ZT_DROP_NONE;
}

enum zt_drop zt_ip4_parse(struct zt_view pkt, unsigned flags,
			  struct zt_ip4_repr *out, struct zt_view *payload)
{
	struct zt_ip4_repr r;
	const uint8_t *h = pkt.data;
	size_t hl, total;
	uint16_t frag;
	enum zt_drop why;

	if (pkt.len < 1)
		return ZT_DROP_TRUNCATED;
	if (h[0] >> 4 != 4)
		return ZT_DROP_BAD_VERSION;
	if (pkt.len < ZT_IP4_MIN_HDR)
		return ZT_DROP_TRUNCATED;
	hl = (size_t)(h[0] & 0x0f) * 4;
	if (hl < ZT_IP4_MIN_HDR || hl > pkt.len)
		return ZT_DROP_BAD_IHL;
	total = zt_rd16(h + 2);
	if (total < hl)
		return ZT_DROP_BAD_TOTAL_LEN;
	if (total > pkt.len)
		return ZT_DROP_TRUNCATED;
	if (!(flags & ZT_PARSE_NO_CSUM) && zt_csum_fold(zt_csum_add(0, h, hl)) != 0)
		return ZT_DROP_BAD_CHECKSUM;
	why = ip4_walk_options(h + ZT_IP4_MIN_HDR, hl - ZT_IP4_MIN_HDR);
	if (why != ZT_DROP_NONE)
		return why;

	memset(&r, 0, sizeof(r));
	frag = zt_rd16(h + 6);
	r.dscp_ecn = h[1];
	r.ident = zt_rd16(h + 4);
	r.dont_frag = (frag & IP4_FLAG_DF) != 0;
	r.more_frags = (frag & IP4_FLAG_MF) != 0;
	r.frag_offset = (uint16_t)((frag & IP4_OFFSET_MASK) * 8);
	r.ttl = h[8];
	r.protocol = h[9];
	memcpy(r.src, h + 12, 4);
	memcpy(r.dst, h + 16, 4);
	r.options_len = (uint8_t)(hl - ZT_IP4_MIN_HDR);
	memcpy(r.options, h + ZT_IP4_MIN_HDR, r.options_len);

	if ((size_t)r.frag_offset + (total - hl) > IP4_MAX_TOTAL)
		return ZT_DROP_BAD_FRAGMENT;
	if (r.more_frags && (total - hl) % 8 != 0)
		return ZT_DROP_BAD_FRAGMENT;

	*out = r;
	payload->data = h + hl;
	payload->len = total - hl;
	return ZT_DROP_NONE;
}

size_t zt_ip4_header_len(const struct zt_ip4_repr *r)
{
	return ZT_IP4_MIN_HDR + (size_t)r->options_len;
}

/*
 * Beyond the contract's -EINVAL cases (options_len, total > 65535), emit also
 * refuses a frag_offset that is not a multiple of 8, an offset + payload past
 * 65535, and a non-last fragment whose payload is not a multiple of 8: the
 * header could not express the first and parse would drop the others.
 */
int zt_ip4_emit(const struct zt_ip4_repr *r, size_t payload_len, uint8_t *buf,
		size_t cap)
{
	size_t hl = zt_ip4_header_len(r);
	uint16_t frag;

	if (r->options_len % 4 != 0 || r->options_len > ZT_IP4_MAX_OPTS)
		return -EINVAL;
	if (payload_len > IP4_MAX_TOTAL - hl)
		return -EINVAL;
	if (r->frag_offset % 8 != 0 ||
	    (size_t)r->frag_offset + payload_len > IP4_MAX_TOTAL ||
	    (r->more_frags && payload_len % 8 != 0))
		return -EINVAL;
	if (cap < hl)
		return -ENOSPC;

	frag = (uint16_t)(r->frag_offset / 8);
	if (r->dont_frag)
		frag |= IP4_FLAG_DF;
	if (r->more_frags)
		frag |= IP4_FLAG_MF;

	buf[0] = (uint8_t)(0x40 | hl / 4);
	buf[1] = r->dscp_ecn;
	zt_wr16(buf + 2, (uint16_t)(hl + payload_len));
	zt_wr16(buf + 4, r->ident);
	zt_wr16(buf + 6, frag);
	buf[8] = r->ttl;
	buf[9] = r->protocol;
	zt_wr16(buf + 10, 0);
	memcpy(buf + 12, r->src, 4);
	memcpy(buf + 16, r->dst, 4);
	memcpy(buf + ZT_IP4_MIN_HDR, r->options, r->options_len);
	zt_wr16(buf + 10, zt_csum_fold(zt_csum_add(0, buf, hl)));
	return (int)hl;
}
