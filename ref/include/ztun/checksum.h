/* SPDX-License-Identifier: MIT */
/*
 * checksum.h - the Internet checksum (RFC 1071) with IPv4/IPv6 pseudo-headers,
 * and incremental update (RFC 1624) for NAT rewrites.
 *
 * Sums are carried unfolded in a uint64_t so that any packet up to 4 GiB can
 * be summed in pieces; zt_csum_fold() folds and complements at the end.
 * Only the last piece of a chained sum may have an odd length.
 */
#ifndef ZTUN_CHECKSUM_H
#define ZTUN_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#include "ztun/addr.h"

/* Add the 16-bit big-endian words of @data to @sum (odd tail padded with 0). */
uint64_t zt_csum_add(uint64_t sum, const void *data, size_t len);

/* Fold @sum to 16 bits and return its one's complement: the value to put in
 * a checksum field, or 0 when verifying a packet whose checksum is right. */
uint16_t zt_csum_fold(uint64_t sum);

/* Sum of the pseudo-header for an upper-layer packet of @l4_len bytes of
 * protocol @proto between @src and @dst (RFC 793 for IPv4, RFC 8200 8.1 for
 * IPv6). Both addresses must have the same family. */
uint64_t zt_csum_pseudo(const struct zt_addr *src, const struct zt_addr *dst,
			uint8_t proto, uint32_t l4_len);

/* The checksum field of a packet a device is to finish (CHECKSUM_PARTIAL,
 * as Linux's TSO and UDP GSO take it): the folded pseudo-header sum alone,
 * not complemented. */
uint16_t zt_csum_partial(const struct zt_addr *src, const struct zt_addr *dst,
			 uint8_t proto, uint32_t l4_len);

/* Checksum of a whole upper-layer packet with its pseudo-header. With the
 * checksum field zeroed this is the value to store; over a received packet
 * with its checksum field intact it is 0 when the checksum is right. */
uint16_t zt_csum_l4(const struct zt_addr *src, const struct zt_addr *dst,
		    uint8_t proto, const void *l4, size_t len);

/* RFC 1624 eqn. 3: new checksum field after a 16-bit word of the covered data
 * changed from @old_word to @new_word. */
uint16_t zt_csum_update16(uint16_t csum, uint16_t old_word, uint16_t new_word);

/* Same for an even-length run of covered bytes (an address, a port pair). */
uint16_t zt_csum_update_bytes(uint16_t csum, const uint8_t *old_bytes,
			      const uint8_t *new_bytes, size_t len);

#endif /* ZTUN_CHECKSUM_H */
