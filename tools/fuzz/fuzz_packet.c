// SPDX-License-Identifier: MIT
/*
 * fuzz_packet.c - libFuzzer target: zt_packet_parse() on hostile bytes,
 * and the software segmentation a host runs on what the TUN hands it.
 *
 * Theory of operation: the input is one packet, parsed twice, with every
 * checksum verified and with none (ZT_PARSE_NO_CSUM), so that the layers
 * past a wrong checksum are reached too. Then the same bytes but the
 * first two (a segment size, little-endian) go to zt_gso_split() as a TSO
 * segment or UDP GSO packet (ztun-ref cuts a client's UDP_SEGMENT send so);
 * when those bytes parse as a whole (checksums aside), every piece it emits
 * must parse with its checksums valid. libFuzzer
 * hands an exactly-sized buffer, so ASan catches any read past its end.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/gso.h"
#include "ztun/packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* @ctx non-NULL: the whole parsed (checksums aside), so must each piece,
 * checksums and all */
static void piece_parses(void *ctx, const uint8_t *piece, size_t n)
{
	struct zt_packet pk;

	if (zt_packet_parse(zt_view_make(piece, n), 0, &pk) != ZT_DROP_NONE &&
	    ctx)
		abort();
}

/* The same for pieces cut with ZT_GSO_KEEP_L4_CSUM, checksums aside (the
 * TCP/UDP one is the whole packet's; the IPv4 header's is still fresh,
 * but ZT_PARSE_NO_CSUM skips both). */
static void kept_piece_parses(void *ctx, const uint8_t *piece, size_t n)
{
	struct zt_packet pk;

	if (zt_packet_parse(zt_view_make(piece, n), ZT_PARSE_NO_CSUM, &pk) !=
	    ZT_DROP_NONE && ctx)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t piece[65536 + 128];
	struct zt_packet pk;

	memset(&pk, 0, sizeof(pk));
	(void)zt_packet_parse(zt_view_make(data, size), 0, &pk);
	memset(&pk, 0, sizeof(pk));
	(void)zt_packet_parse(zt_view_make(data, size), ZT_PARSE_NO_CSUM, &pk);
	if (size > 2) {
		bool whole = zt_packet_parse(zt_view_make(data + 2, size - 2),
					     ZT_PARSE_NO_CSUM, &pk) == ZT_DROP_NONE &&
			     !pk.is_fragment;

		uint32_t seg = (uint32_t)data[0] | (uint32_t)data[1] << 8;

		(void)zt_gso_split(data + 2, size - 2, seg, piece, sizeof(piece),
				   0, piece_parses, whole ? &pk : NULL);
		(void)zt_gso_split(data + 2, size - 2, seg, piece, sizeof(piece),
				   ZT_GSO_KEEP_L4_CSUM, kept_piece_parses,
				   whole ? &pk : NULL);
	}
	return 0;
}
