/* SPDX-License-Identifier: MIT */
/*
 * lpm.h - a longest-prefix matcher over IPv4 and IPv6 prefixes.
 *
 * A set of (prefix, length) -> value entries, one binary trie per family.
 * Lookup of an address returns the value of the longest stored prefix that
 * contains it. Nothing recurses: insert, remove, lookup and check walk at
 * most 33 (IPv4) or 129 (IPv6) nodes with loops.
 *
 * Bits of a prefix past its length are ignored (10.1.2.3/8 is 10.0.0.0/8).
 * The matcher holds at most max_prefixes entries (given at init) and at
 * most 2 * max_prefixes nodes; node memory grows on demand up to that, so
 * a matcher that stays small costs little.
 */
#ifndef ZTUN_LPM_H
#define ZTUN_LPM_H

#include <stdbool.h>
#include <stdint.h>

#include "ztun/addr.h"

struct zt_lpm_node; /* private to lpm.c */

struct zt_lpm {
	struct zt_lpm_node *nodes; /* node pool, grown up to max_nodes */
	uint32_t cap_nodes;        /* allocated slots in @nodes */
	uint32_t used_nodes;       /* slots ever handed out (high-water mark) */
	uint32_t max_nodes;        /* 2 * max_prefixes + 2 */
	uint32_t free_head;        /* free slot list (index + 1), 0 = empty */
	uint32_t root[2];          /* IPv4, IPv6 trie roots (index + 1) */
	uint32_t count;            /* prefixes stored */
	uint32_t max_prefixes;
};

/* An empty matcher for at most @max_prefixes entries (1 .. 2^30).
 * Return: 0 or -EINVAL. Allocates nothing yet. */
int zt_lpm_init(struct zt_lpm *lpm, uint32_t max_prefixes);
/* Free the node memory; @lpm is then empty and may be re-initialised. */
void zt_lpm_destroy(struct zt_lpm *lpm);

/* Store @value for @prefix/@len, replacing the value of an equal prefix.
 * Return: 0, -EINVAL (family or length), -ENOSPC (max_prefixes reached),
 * -ENOMEM. The matcher is unchanged on error. */
int zt_lpm_insert(struct zt_lpm *lpm, const struct zt_addr *prefix,
		  unsigned len, uint32_t value);
/* Forget @prefix/@len. Return: 0, -ENOENT (not stored) or -EINVAL. */
int zt_lpm_remove(struct zt_lpm *lpm, const struct zt_addr *prefix,
		  unsigned len);
/* Exactly @prefix/@len: true and its value in @value (may be NULL). */
bool zt_lpm_find(const struct zt_lpm *lpm, const struct zt_addr *prefix,
		 unsigned len, uint32_t *value);
/* The longest stored prefix containing @addr: true with its value and
 * length in @value / @len (either may be NULL), false when none does. */
bool zt_lpm_lookup(const struct zt_lpm *lpm, const struct zt_addr *addr,
		   uint32_t *value, unsigned *len);
/* As zt_lpm_lookup() among the prefixes no longer than @max_len. */
bool zt_lpm_lookup_max(const struct zt_lpm *lpm, const struct zt_addr *addr,
		       unsigned max_len, uint32_t *value, unsigned *len);

static inline uint32_t zt_lpm_count(const struct zt_lpm *lpm)
{
	return lpm->count;
}

/* Verify every invariant (links, ordering, masking, no useless nodes,
 * count); for tests. Return: 0 or -EINVAL. O(nodes). */
int zt_lpm_check(const struct zt_lpm *lpm);

#endif /* ZTUN_LPM_H */
