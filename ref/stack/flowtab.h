/* SPDX-License-Identifier: MIT */
/*
 * flowtab.h - private to ref/stack: an index from flow keys to slots of a
 * caller-owned array, with a free list of slots. Fixed size after init.
 */
#ifndef ZTUN_FLOWTAB_H
#define ZTUN_FLOWTAB_H

#include <stdint.h>

#include "ztun/stack.h"

#define ZT_FLOWTAB_NONE UINT32_MAX

/* The key stored in slot @idx of the caller's array. */
typedef const struct zt_flow_key *(*zt_flowtab_key_fn)(void *ctx, uint32_t idx);

struct zt_flowtab {
	uint32_t *hash;      /* slot + 1, or EMPTY (0): no tombstones */
	uint32_t mask;
	uint32_t *free_list;
	uint32_t n_free;
	uint32_t cap;
	zt_flowtab_key_fn key_of;
	void *ctx;
	uint64_t seed;       /* of the key hash */
};

/* Room for @cap slots (hash load <= 1/2), keys hashed from @seed (drawn
 * from a fork of the stack's rng: the keys come from whoever sends into
 * the TUN, and without the seed they could pick keys that share one probe
 * run).
 * Return: 0 or -ENOMEM. */
int zt_flowtab_init(struct zt_flowtab *t, uint32_t cap, zt_flowtab_key_fn key_of,
		    void *ctx, uint64_t seed);
void zt_flowtab_destroy(struct zt_flowtab *t);

/* Zero the padding of @k so keys hash and compare by their bytes. */
void zt_flow_key_normalize(struct zt_flow_key *k);

/* Slot holding @key (normalized), or ZT_FLOWTAB_NONE. */
uint32_t zt_flowtab_find(const struct zt_flowtab *t, const struct zt_flow_key *key);
/* Take a free slot, or ZT_FLOWTAB_NONE when all are in use. */
uint32_t zt_flowtab_alloc(struct zt_flowtab *t);
/* Give back a slot taken by zt_flowtab_alloc() that was never inserted. */
void zt_flowtab_release(struct zt_flowtab *t, uint32_t idx);
/* Index slot @idx (whose key is already stored) / forget it and free it. */
void zt_flowtab_insert(struct zt_flowtab *t, uint32_t idx);
void zt_flowtab_remove(struct zt_flowtab *t, uint32_t idx);

#endif /* ZTUN_FLOWTAB_H */
