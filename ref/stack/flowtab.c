/* SPDX-License-Identifier: MIT */
/*
 * flowtab.c - flow key index for the stack's TCP and UDP tables.
 *
 * Theory of operation: open addressing with linear probing over a power of
 * two at least twice the slot count, so probes stay short. Removal shifts
 * later entries of the same probe run back into the hole (Knuth's
 * algorithm R), so no tombstones build up however many flows come and go.
 * Keys live in the caller's slots, fetched through key_of, so the index
 * stores 4 bytes per bucket. Everything is allocated at init. Keys hash
 * from a seed the stack draws from its rng, so where a key lands cannot
 * be foreseen by whoever chooses the keys (the TUN's senders).
 */
#include "flowtab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ztun/hash.h"

#define HASH_EMPTY 0u

int zt_flowtab_init(struct zt_flowtab *t, uint32_t cap, zt_flowtab_key_fn key_of,
		    void *ctx, uint64_t seed)
{
	uint32_t size = 2;

	memset(t, 0, sizeof(*t));
	while (size < 2 * cap)
		size <<= 1;
	t->hash = calloc(size, sizeof(*t->hash));
	t->free_list = calloc(cap ? cap : 1, sizeof(*t->free_list));
	if (!t->hash || !t->free_list) {
		zt_flowtab_destroy(t);
		return -ENOMEM;
	}
	t->mask = size - 1;
	t->cap = cap;
	t->key_of = key_of;
	t->ctx = ctx;
	t->seed = seed;
	for (uint32_t i = 0; i < cap; i++)
		t->free_list[i] = cap - 1 - i;
	t->n_free = cap;
	return 0;
}

void zt_flowtab_destroy(struct zt_flowtab *t)
{
	free(t->hash);
	free(t->free_list);
	t->hash = NULL;
	t->free_list = NULL;
}

void zt_flow_key_normalize(struct zt_flow_key *k)
{
	struct zt_flow_key n;

	memset(&n, 0, sizeof(n));
	n.family = k->family;
	n.proto = k->proto;
	n.client_port = k->client_port;
	n.server_port = k->server_port;
	n.client = k->client;
	n.server = k->server;
	*k = n;
}

static uint32_t key_hash(const struct zt_flowtab *t, const struct zt_flow_key *k)
{
	return zt_hash_bytes(t->seed, k, sizeof(*k));
}

uint32_t zt_flowtab_find(const struct zt_flowtab *t, const struct zt_flow_key *key)
{
	struct zt_flow_key k = *key;

	zt_flow_key_normalize(&k);
	for (uint32_t i = key_hash(t, &k) & t->mask;; i = (i + 1) & t->mask) {
		uint32_t v = t->hash[i];

		if (v == HASH_EMPTY)
			return ZT_FLOWTAB_NONE;
		if (memcmp(t->key_of(t->ctx, v - 1), &k, sizeof(k)) == 0)
			return v - 1;
	}
}

uint32_t zt_flowtab_alloc(struct zt_flowtab *t)
{
	return t->n_free ? t->free_list[--t->n_free] : ZT_FLOWTAB_NONE;
}

void zt_flowtab_release(struct zt_flowtab *t, uint32_t idx)
{
	t->free_list[t->n_free++] = idx;
}

void zt_flowtab_insert(struct zt_flowtab *t, uint32_t idx)
{
	uint32_t i;

	for (i = key_hash(t, t->key_of(t->ctx, idx)) & t->mask;
	     t->hash[i] != HASH_EMPTY; i = (i + 1) & t->mask)
		;
	t->hash[i] = idx + 1;
}

void zt_flowtab_remove(struct zt_flowtab *t, uint32_t idx)
{
	uint32_t i = key_hash(t, t->key_of(t->ctx, idx)) & t->mask, j;

	while (t->hash[i] != idx + 1) {
		if (t->hash[i] == HASH_EMPTY)
			return; /* not indexed */
		i = (i + 1) & t->mask;
	}
	/* Backward shift: move each later entry of the run whose home is not
	 * between the hole and itself into the hole. */
	for (j = (i + 1) & t->mask; t->hash[j] != HASH_EMPTY; j = (j + 1) & t->mask) {
		uint32_t home = key_hash(t, t->key_of(t->ctx, t->hash[j] - 1)) & t->mask;

		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->hash[i] = t->hash[j];
			i = j;
		}
	}
	t->hash[i] = HASH_EMPTY;
	t->free_list[t->n_free++] = idx;
}
