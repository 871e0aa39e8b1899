/* SPDX-License-Identifier: MIT */
/*
 * gso.c - software segmentation of TSO segments and UDP GSO packets (see
 * gso.h).
 *
 * Theory of operation: the headers are read once (IPv4 IHL or the fixed
 * IPv6 header, then the TCP data offset or UDP's 8 bytes), then for each
 * piece the headers are copied into @buf, patched (lengths, IPv4 ID and
 * header checksum; TCP sequence number and flags, or UDP length) and
 * followed by the piece's data; the TCP or UDP checksum is computed over
 * the piece with its pseudo-header, unless the caller keeps the packet's
 * (ZT_GSO_KEEP_L4_CSUM: pieces whose data the kernel vouched for).
 */
#include "io/gso.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "ztun/addr.h"
#include "ztun/checksum.h"
#include "ztun/ip6.h"
#include "ztun/view.h"

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

/* The IP header of piece @piece (@total bytes) in @buf, copied from @pkt's:
 * its length, and for IPv4 the identification + @piece and the checksum. */
static void set_ip_lengths(uint8_t *buf, const uint8_t *pkt, size_t iphl,
			   bool v4, size_t total, int piece)
{
	if (v4) {
		zt_wr16(buf + 2, (uint16_t)total);
		zt_wr16(buf + 4, (uint16_t)(zt_rd16(pkt + 4) + piece));
		buf[10] = buf[11] = 0;
		zt_wr16(buf + 10, zt_csum_fold(zt_csum_add(0, buf, iphl)));
	} else {
		zt_wr16(buf + 4, (uint16_t)(total - 40));
	}
}

/* Piece @piece's transport header at @l4 (@l4_len bytes with its data),
 * copied from the whole packet's at @orig: TCP gets its sequence number,
 * flags (FIN and PSH only on the last piece, CWR only on the first) and
 * checksum; UDP its length and checksum (0 sent as 0xffff). */
static void set_l4(uint8_t proto, uint8_t *l4, const uint8_t *orig,
		   size_t l4_len, size_t off, int piece, bool last, bool sum,
		   const struct zt_addr *src, const struct zt_addr *dst)
{
	uint16_t csum;

	if (proto == ZT_IPPROTO_UDP) {
		zt_wr16(l4 + 4, (uint16_t)l4_len);
		if (!sum)
			return;
		l4[6] = l4[7] = 0;
		csum = zt_csum_l4(src, dst, proto, l4, l4_len);
		zt_wr16(l4 + 6, csum ? csum : 0xffff);
		return;
	}
	if (!last)
		l4[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
	if (piece > 0)
		l4[13] &= (uint8_t)~TCP_CWR;
	zt_wr32(l4 + 4, zt_rd32(orig + 4) + (uint32_t)off);
	if (!sum)
		return;
	l4[16] = l4[17] = 0;
	zt_wr16(l4 + 16, zt_csum_l4(src, dst, proto, l4, l4_len));
}

int zt_gso_split(const uint8_t *pkt, size_t len, uint32_t seg_size,
		 uint8_t *buf, size_t cap, unsigned flags,
		 void (*emit)(void *ctx, const uint8_t *piece, size_t n),
		 void *ctx)
{
	struct zt_addr src, dst;
	size_t iphl, thl, hl, data_len, off;
	uint8_t proto;
	int pieces = 0;
	bool v4;

	if (len < 20 || seg_size == 0)
		return -EINVAL;
	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	v4 = (pkt[0] >> 4) == 4;
	if (v4) {
		iphl = (size_t)(pkt[0] & 0x0f) * 4;
		proto = pkt[9];
		if (iphl < 20 || zt_rd16(pkt + 2) != len ||
		    (zt_rd16(pkt + 6) & 0x3fff))
			return -EINVAL; /* lying length, or a fragment */
		src.family = dst.family = ZT_AF_INET;
		memcpy(src.bytes, pkt + 12, 4);
		memcpy(dst.bytes, pkt + 16, 4);
	} else if ((pkt[0] >> 4) == 6 && len >= 40) {
		iphl = 40;
		proto = pkt[6];
		if (zt_rd16(pkt + 4) + 40u != len)
			return -EINVAL;
		src.family = dst.family = ZT_AF_INET6;
		memcpy(src.bytes, pkt + 8, 16);
		memcpy(dst.bytes, pkt + 24, 16);
	} else {
		return -EINVAL;
	}
	if (proto == ZT_IPPROTO_UDP) {
		thl = 8;
		if (len < iphl + thl || zt_rd16(pkt + iphl + 4) != len - iphl)
			return -EINVAL;
	} else if (proto == ZT_IPPROTO_TCP && len >= iphl + 20) {
		thl = (size_t)(pkt[iphl + 12] >> 4) * 4;
		if (thl < 20 || len < iphl + thl)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	hl = iphl + thl;
	if (cap < hl + (seg_size < len - hl ? seg_size : len - hl))
		return -ENOSPC;
	data_len = len - hl;
	off = 0;
	do {
		size_t n = data_len - off < seg_size ? data_len - off : seg_size;

		memcpy(buf, pkt, hl);
		memcpy(buf + hl, pkt + hl + off, n);
		set_l4(proto, buf + iphl, pkt + iphl, thl + n, off, pieces,
		       off + n == data_len, !(flags & ZT_GSO_KEEP_L4_CSUM),
		       &src, &dst);
		set_ip_lengths(buf, pkt, iphl, v4, hl + n, pieces);
		emit(ctx, buf, hl + n);
		pieces++;
		off += n;
	} while (off < data_len);
	return pieces;
}
