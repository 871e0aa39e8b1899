/* SPDX-License-Identifier: MIT */
/*
 * hash.h - the core's one hash for table keys: 8-byte words mixed by
 * MurmurHash3's fmix64 finalizer, from a seed the table draws from its
 * owner's seeded rng, so that whoever chooses the keys (senders into the
 * TUN, remote peers) cannot foresee their buckets and pile them into one
 * probe run. A word a round, not a byte: a 40-byte flow key is five
 * mixes.
 */
#ifndef ZTUN_HASH_H
#define ZTUN_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t zt_hash_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Hash of @len bytes at @p (every byte of them must be defined: callers
 * hash zeroed or normalized keys, padding included). A tail shorter than
 * a word is zero-extended. */
static inline uint32_t zt_hash_bytes(uint64_t seed, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t h = seed;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = 0;

		memcpy(&w, b + i, len - i < 8 ? len - i : 8);
		h = zt_hash_mix64(h ^ w) + i;
	}
	return (uint32_t)(h ^ (h >> 32));
}

#endif /* ZTUN_HASH_H */
