/* SPDX-License-Identifier: MIT */
/*
 * rng.h - a seeded pseudo-random generator (xoshiro256**, seeded by
 * splitmix64). The host owns every instance and its seed; the core only
 * draws from a generator it is handed, so runs are reproducible.
 */
#ifndef ZTUN_RNG_H
#define ZTUN_RNG_H

#include <stdint.h>

struct zt_rng {
	uint64_t s[4];
};

void zt_rng_seed(struct zt_rng *rng, uint64_t seed);
uint64_t zt_rng_next(struct zt_rng *rng);
/* Uniform in [0, bound) without modulo bias; bound 0 returns 0. */
uint64_t zt_rng_below(struct zt_rng *rng, uint64_t bound);
uint32_t zt_rng_u32(struct zt_rng *rng);
/* A generator for a side purpose (a hash seed, say) that leaves @parent's
 * own sequence as it was: @child starts 2^128 draws ahead of @parent, on a
 * stretch the parent never reaches in practice. @parent is not changed. */
void zt_rng_fork(const struct zt_rng *parent, struct zt_rng *child);

#endif /* ZTUN_RNG_H */
