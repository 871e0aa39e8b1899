/* SPDX-License-Identifier: MIT */
/*
 * checksum.c - Internet checksum.
 *
 * Theory of operation: the one's-complement sum is associative and
 * byte-order independent (RFC 1071 2(B)). Long runs are read 8 bytes at a
 * time in the host's order and added as 64-bit words, their carries
 * counted and added back in, folded to 16 bits and byte-swapped once on a
 * little-endian host, which gives the big-endian sum; short tails add
 * big-endian 32/16-bit chunks. Carries are folded once at the end.
 * Incremental
 * update uses RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), which (unlike
 * RFC 1141's eqn. 2) never produces 0x0000 from a non-zero sum wrongly.
 */
#include "ztun/checksum.h"

#include <string.h>

#include "ztun/view.h"

/* Sum of @n 8-byte words at @p in host order, folded to 16 bits and
 * returned in network (big-endian) word order. The words are added as
 * 64-bit integers and the carries out of bit 63 counted apart (an add and
 * an add-with-carry per word, with no chain through the sum's own carry
 * test); adding the count back in is the end-around carry, which makes it
 * the words' one's-complement sum, and that folds to the 16-bit one
 * (RFC 1071 2(B)). */
static uint64_t csum_words_be(const uint8_t *p, size_t n)
{
	uint64_t sum = 0, carries = 0;
	size_t i = 0;

	for (; i + 4 <= n; i += 4) {
		uint64_t w0, w1, w2, w3;

		memcpy(&w0, p + 8 * i, 8);
		memcpy(&w1, p + 8 * i + 8, 8);
		memcpy(&w2, p + 8 * i + 16, 8);
		memcpy(&w3, p + 8 * i + 24, 8);
		carries += __builtin_add_overflow(sum, w0, &sum);
		carries += __builtin_add_overflow(sum, w1, &sum);
		carries += __builtin_add_overflow(sum, w2, &sum);
		carries += __builtin_add_overflow(sum, w3, &sum);
	}
	for (; i < n; i++) {
		uint64_t w;

		memcpy(&w, p + 8 * i, 8);
		carries += __builtin_add_overflow(sum, w, &sum);
	}
	if (__builtin_add_overflow(sum, carries, &sum))
		sum++; /* cannot wrap again: the wrapped sum is below carries */
	sum = (sum & 0xffffffff) + (sum >> 32);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	sum = ((sum & 0xff) << 8) | (sum >> 8);
#endif
	return sum;
}

uint64_t zt_csum_add(uint64_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (len >= 32) {
		size_t n = len / 8;

		sum += csum_words_be(p, n);
		p += 8 * n;
		len -= 8 * n;
	}
	while (len >= 4) {
		sum += zt_rd32(p);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		sum += zt_rd16(p);
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint64_t)p[0] << 8;
	return sum;
}

uint16_t zt_csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint16_t zt_csum_partial(const struct zt_addr *src, const struct zt_addr *dst,
			 uint8_t proto, uint32_t l4_len)
{
	return (uint16_t)~zt_csum_fold(zt_csum_pseudo(src, dst, proto, l4_len));
}

uint64_t zt_csum_pseudo(const struct zt_addr *src, const struct zt_addr *dst,
			uint8_t proto, uint32_t l4_len)
{
	uint64_t sum = 0;
	size_t alen = zt_addr_len(src);

	sum = zt_csum_add(sum, src->bytes, alen);
	sum = zt_csum_add(sum, dst->bytes, alen);
	/* IPv4: zero, proto, 16-bit length; IPv6: 32-bit length, 3 zero bytes,
	 * next header. Both add up to proto + length as plain integers. */
	sum += proto;
	sum += l4_len >> 16;
	sum += l4_len & 0xffff;
	return sum;
}

uint16_t zt_csum_l4(const struct zt_addr *src, const struct zt_addr *dst,
		    uint8_t proto, const void *l4, size_t len)
{
	uint64_t sum = zt_csum_pseudo(src, dst, proto, (uint32_t)len);

	return zt_csum_fold(zt_csum_add(sum, l4, len));
}

uint16_t zt_csum_update16(uint16_t csum, uint16_t old_word, uint16_t new_word)
{
	uint64_t sum = (uint16_t)~csum;

	sum += (uint16_t)~old_word;
	sum += new_word;
	return zt_csum_fold(sum);
}

uint16_t zt_csum_update_bytes(uint16_t csum, const uint8_t *old_bytes,
			      const uint8_t *new_bytes, size_t len)
{
	uint64_t sum = (uint16_t)~csum;

	for (size_t i = 0; i + 1 < len; i += 2) {
		sum += (uint16_t)~zt_rd16(old_bytes + i);
		sum += zt_rd16(new_bytes + i);
	}
	return zt_csum_fold(sum);
}
