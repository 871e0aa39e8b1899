/* SPDX-License-Identifier: MIT */
/*
 * rng.c - xoshiro256** (Blackman and Vigna), seeded through splitmix64.
 *
 * Theory of operation: the state is four 64-bit words advanced by a fixed
 * linear map; its period is 2^256 - 1. A fork is a copy of the state moved
 * 2^128 steps ahead by the generator's jump polynomial (the authors' jump
 * function: XOR together the states at the steps whose bit is set in the
 * polynomial), so the child draws a stretch of the sequence the parent
 * would reach only after 2^128 draws, and the parent itself does not move.
 */
#include "ztun/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void zt_rng_seed(struct zt_rng *rng, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t zt_rng_next(struct zt_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t zt_rng_below(struct zt_rng *rng, uint64_t bound)
{
	uint64_t threshold, r;

	if (bound == 0)
		return 0;
	threshold = -bound % bound; /* 2^64 mod bound */
	do
		r = zt_rng_next(rng);
	while (r < threshold);
	return r % bound;
}

uint32_t zt_rng_u32(struct zt_rng *rng)
{
	return (uint32_t)(zt_rng_next(rng) >> 32);
}

void zt_rng_fork(const struct zt_rng *parent, struct zt_rng *child)
{
	/* The jump polynomial for 2^128 steps of xoshiro256. */
	static const uint64_t jump[4] = { 0x180ec6d33cfd0abaULL, 0xd5a61266f0c9392cULL,
					  0xa9582618e03fc9aaULL, 0x39abdc4529b1661cULL };
	struct zt_rng walk = *parent;
	uint64_t acc[4] = { 0, 0, 0, 0 };

	for (int i = 0; i < 4; i++)
		for (int b = 0; b < 64; b++) {
			if (jump[i] & (1ULL << b))
				for (int w = 0; w < 4; w++)
					acc[w] ^= walk.s[w];
			(void)zt_rng_next(&walk);
		}
	for (int w = 0; w < 4; w++)
		child->s[w] = acc[w];
}
