/* SPDX-License-Identifier: MIT */
/*
 * gso.h - cut a TSO segment into MTU-sized TCP segments, or a UDP GSO
 * packet into its datagrams, in software.
 *
 * Theory of operation: the core may hand its host one TCP segment carrying
 * several MSS of data (stack.h, tun_output_gso) for a device that segments
 * it, as Linux does for a TUN opened with IFF_VNET_HDR. Where no device
 * does that (the simulator's virtual TUN, a capture, a TUN without vnet
 * headers) zt_gso_split() does what the kernel's GSO would: every piece
 * gets a copy of the IP and TCP headers, its own sequence number, IP
 * length (and IPv4 ID + 1 per piece), FIN and PSH only on the last piece,
 * CWR only on the first, and fresh IP and TCP checksums.
 *
 * A UDP GSO packet (zt_stack_udp_send_run()) is cut as Linux's UDP GSO
 * does: each piece a datagram with a copy of the headers, its own UDP
 * length and full checksum, IP length and (IPv4) ID + 1 per piece.
 *
 * Only what the core emits is accepted: IPv4 without fragmentation or
 * IPv6 with TCP or UDP as the first next header. This is host code.
 */
#ifndef ZTUN_SIM_GSO_H
#define ZTUN_SIM_GSO_H

#include <stddef.h>
#include <stdint.h>

/* Leave each piece's TCP or UDP checksum field as @pkt's: for pieces
 * that go to a consumer told the kernel vouched for them
 * (ZT_INPUT_CSUM_VALID: a client's UDP_SEGMENT send read whole), which
 * would not read a checksum summed here. */
#define ZT_GSO_KEEP_L4_CSUM 0x1u

/*
 * zt_gso_split() - call @emit for each piece of @pkt (borrowed).
 * @seg_size: data bytes per piece (the last may be shorter)
 * @buf:      caller's scratch for one piece, @cap bytes (headers + seg_size)
 * @flags:    0 or ZT_GSO_KEEP_L4_CSUM
 * Return: the number of pieces, or -EINVAL (not an IPv4/IPv6 TCP or UDP packet the
 * core could have built, or @seg_size 0), -ENOSPC (@buf too small).
 */
int zt_gso_split(const uint8_t *pkt, size_t len, uint32_t seg_size,
		 uint8_t *buf, size_t cap, unsigned flags,
		 void (*emit)(void *ctx, const uint8_t *piece, size_t n),
		 void *ctx);

#endif /* ZTUN_SIM_GSO_H */
