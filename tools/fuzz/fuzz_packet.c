// SPDX-License-Identifier: MIT
/*
 * fuzz_packet.c - libFuzzer target: zt_packet_parse() on hostile bytes.
 *
 * Theory of operation: the input is one packet, parsed twice, with every
 * checksum verified and with none (ZT_PARSE_NO_CSUM), so that the layers
 * past a wrong checksum are reached too. libFuzzer hands an exactly-sized
 * buffer, so ASan catches any read past its end.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ztun/packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_packet pk;

	memset(&pk, 0, sizeof(pk));
	(void)zt_packet_parse(zt_view_make(data, size), 0, &pk);
	memset(&pk, 0, sizeof(pk));
	(void)zt_packet_parse(zt_view_make(data, size), ZT_PARSE_NO_CSUM, &pk);
	return 0;
}
