/* SPDX-License-Identifier: MIT */
/*
 * gso.c - software segmentation of TSO segments (see gso.h).
 *
 * Theory of operation: the headers are read once (IPv4 IHL or the fixed
 * IPv6 header, then the TCP data offset), then for each piece the headers
 * are copied into @buf, patched (lengths, IPv4 ID and header checksum,
 * sequence number, flags) and followed by the piece's data; the TCP
 * checksum is computed over the piece with its pseudo-header.
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

int zt_gso_split(const uint8_t *pkt, size_t len, uint32_t seg_size,
		 uint8_t *buf, size_t cap,
		 void (*emit)(void *ctx, const uint8_t *piece, size_t n),
		 void *ctx)
{
	struct zt_addr src, dst;
	size_t iphl, thl, hl, data_len, off;
	uint8_t flags;
	int pieces = 0;
	bool v4;

	if (len < 20 || seg_size == 0)
		return -EINVAL;
	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	v4 = (pkt[0] >> 4) == 4;
	if (v4) {
		iphl = (size_t)(pkt[0] & 0x0f) * 4;
		if (iphl < 20 || pkt[9] != ZT_IPPROTO_TCP ||
		    zt_rd16(pkt + 2) != len || (zt_rd16(pkt + 6) & 0x3fff))
			return -EINVAL; /* not TCP, lying length, or a fragment */
		src.family = dst.family = ZT_AF_INET;
		memcpy(src.bytes, pkt + 12, 4);
		memcpy(dst.bytes, pkt + 16, 4);
	} else if ((pkt[0] >> 4) == 6 && len >= 40) {
		iphl = 40;
		if (pkt[6] != ZT_IPPROTO_TCP || zt_rd16(pkt + 4) + 40u != len)
			return -EINVAL;
		src.family = dst.family = ZT_AF_INET6;
		memcpy(src.bytes, pkt + 8, 16);
		memcpy(dst.bytes, pkt + 24, 16);
	} else {
		return -EINVAL;
	}
	if (len < iphl + 20)
		return -EINVAL;
	thl = (size_t)(pkt[iphl + 12] >> 4) * 4;
	if (thl < 20 || len < iphl + thl)
		return -EINVAL;
	hl = iphl + thl;
	if (cap < hl + (seg_size < len - hl ? seg_size : len - hl))
		return -ENOSPC;
	data_len = len - hl;
	flags = pkt[iphl + 13];
	off = 0;
	do {
		size_t n = data_len - off < seg_size ? data_len - off : seg_size;
		bool last = off + n == data_len;
		uint8_t f = flags;
		uint8_t *tcp = buf + iphl;

		memcpy(buf, pkt, hl);
		memcpy(buf + hl, pkt + hl + off, n);
		if (!last)
			f &= (uint8_t)~(TCP_FIN | TCP_PSH);
		if (pieces > 0)
			f &= (uint8_t)~TCP_CWR;
		tcp[13] = f;
		zt_wr32(tcp + 4, zt_rd32(pkt + iphl + 4) + (uint32_t)off);
		tcp[16] = tcp[17] = 0;
		zt_wr16(tcp + 16, zt_csum_l4(&src, &dst, ZT_IPPROTO_TCP, tcp,
					     thl + n));
		if (v4) {
			zt_wr16(buf + 2, (uint16_t)(hl + n));
			zt_wr16(buf + 4, (uint16_t)(zt_rd16(pkt + 4) + pieces));
			buf[10] = buf[11] = 0;
			zt_wr16(buf + 10, zt_csum_fold(zt_csum_add(0, buf, iphl)));
		} else {
			zt_wr16(buf + 4, (uint16_t)(thl + n));
		}
		emit(ctx, buf, hl + n);
		pieces++;
		off += n;
	} while (off < data_len);
	return pieces;
}
