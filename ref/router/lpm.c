/* SPDX-License-Identifier: MIT */
/*
 * lpm.c - longest-prefix matcher: a path-compressed binary trie per family.
 *
 * Theory of operation: every node holds a prefix (key bytes with the bits
 * past len zeroed, and len). A child's prefix strictly extends its
 * parent's, and the child hangs on the side given by its bit at position
 * parent->len. A node carries a value (a stored prefix) or is a glue node
 * where two stored prefixes diverge; a glue node always has two children,
 * so a trie of n prefixes has at most 2n - 1 nodes (the allowedips trie
 * of WireGuard has the same shape).
 *
 * Lookup walks down from the root while the node's prefix matches the
 * address and remembers the last node with a value: the deepest is the
 * longest. Insert walks the same way and either finds the equal prefix,
 * falls off the bottom (new leaf), or meets a node that does not match: the
 * new prefix is then that node's new parent, or a glue node at the common
 * prefix takes both. Remove clears the value and splices out nodes that no
 * longer earn their place (no value and fewer than two children), walking
 * up. Every walk is a loop bounded by the address width.
 *
 * Nodes live in one pool addressed by index + 1 (0 = none), so growing the
 * pool with realloc moves no link. An operation reserves the two nodes it
 * may need before changing anything, so it fails without side effects.
 */
#include "ztun/lpm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LPM_FREE 0xff /* len of a node on the free list */

struct zt_lpm_node {
	uint8_t key[16];
	uint8_t len;         /* prefix length, LPM_FREE when free */
	uint8_t has_value;
	uint32_t child[2];   /* index + 1; child[0] links the free list */
	uint32_t parent;     /* index + 1, 0 at a root */
	uint32_t value;
};

static unsigned fam_bits(int fam)
{
	return fam ? 128 : 32;
}

static int fam_of(const struct zt_addr *a)
{
	if (a->family == ZT_AF_INET)
		return 0;
	if (a->family == ZT_AF_INET6)
		return 1;
	return -1;
}

static unsigned key_bit(const uint8_t *key, unsigned i)
{
	return (key[i >> 3] >> (7 - (i & 7))) & 1;
}

/* Copy @src keeping its first @len bits. */
static void key_mask(uint8_t *dst, const uint8_t *src, unsigned len)
{
	unsigned full = len >> 3;

	memset(dst, 0, 16);
	memcpy(dst, src, full);
	if (len & 7)
		dst[full] = (uint8_t)(src[full] & (0xff00 >> (len & 7)));
}

/* Number of leading bits @a and @b share, at most @max. */
static unsigned common_bits(const uint8_t *a, const uint8_t *b, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; n < max; i++, n += 8) {
		uint8_t x = a[i] ^ b[i];

		if (x) {
			n += (unsigned)__builtin_clz(x) - 24;
			break;
		}
	}
	return n < max ? n : max;
}

static struct zt_lpm_node *node(const struct zt_lpm *lpm, uint32_t ref)
{
	return &lpm->nodes[ref - 1];
}

/**
 * zt_lpm_init() - make @lpm an empty matcher.
 * @lpm: the matcher (caller-owned)
 * @max_prefixes: the most prefixes it will hold, 1 .. 2^30
 *
 * Return: 0 or -EINVAL.
 */
int zt_lpm_init(struct zt_lpm *lpm, uint32_t max_prefixes)
{
	memset(lpm, 0, sizeof(*lpm));
	if (max_prefixes == 0 || max_prefixes > (1u << 30))
		return -EINVAL;
	lpm->max_prefixes = max_prefixes;
	lpm->max_nodes = 2 * max_prefixes + 2;
	return 0;
}

/**
 * zt_lpm_destroy() - free @lpm's node pool and empty it.
 * @lpm: the matcher
 */
void zt_lpm_destroy(struct zt_lpm *lpm)
{
	uint32_t max = lpm->max_prefixes;

	free(lpm->nodes);
	memset(lpm, 0, sizeof(*lpm));
	lpm->max_prefixes = max;
	lpm->max_nodes = 2 * max + 2;
}

/* Make sure two nodes can be taken without allocating. */
static int reserve2(struct zt_lpm *lpm)
{
	uint32_t avail = lpm->cap_nodes - lpm->used_nodes;
	uint32_t cap;
	struct zt_lpm_node *n;

	for (uint32_t f = lpm->free_head; f && avail < 2;
	     f = node(lpm, f)->child[0])
		avail++;
	if (avail >= 2)
		return 0;
	cap = lpm->cap_nodes ? lpm->cap_nodes * 2 : 16;
	if (cap > lpm->max_nodes)
		cap = lpm->max_nodes;
	/* avail already counts the unused slots below cap_nodes */
	if (cap - lpm->cap_nodes + avail < 2)
		return -ENOSPC; /* cannot happen while count < max_prefixes */
	n = realloc(lpm->nodes, (size_t)cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	lpm->nodes = n;
	lpm->cap_nodes = cap;
	return 0;
}

/* Take a reserved node holding @key/@len under @parent. */
static uint32_t node_new(struct zt_lpm *lpm, const uint8_t *key, unsigned len,
			 uint32_t parent)
{
	uint32_t ref;
	struct zt_lpm_node *n;

	if (lpm->free_head) {
		ref = lpm->free_head;
		lpm->free_head = node(lpm, ref)->child[0];
	} else {
		ref = ++lpm->used_nodes;
	}
	n = node(lpm, ref);
	memset(n, 0, sizeof(*n));
	key_mask(n->key, key, len);
	n->len = (uint8_t)len;
	n->parent = parent;
	return ref;
}

static void node_free(struct zt_lpm *lpm, uint32_t ref)
{
	struct zt_lpm_node *n = node(lpm, ref);

	n->len = LPM_FREE;
	n->has_value = 0;
	n->child[0] = lpm->free_head;
	n->child[1] = 0;
	lpm->free_head = ref;
}

/* The slot (root or parent's child) that points at @ref. */
static uint32_t *slot_of(struct zt_lpm *lpm, uint32_t ref, int fam)
{
	struct zt_lpm_node *n = node(lpm, ref);
	struct zt_lpm_node *p;

	if (!n->parent)
		return &lpm->root[fam];
	p = node(lpm, n->parent);
	return &p->child[p->child[0] == ref ? 0 : 1];
}

static int prep(const struct zt_addr *prefix, unsigned len, uint8_t *key)
{
	int fam = fam_of(prefix);

	if (fam < 0 || len > fam_bits(fam))
		return -EINVAL;
	key_mask(key, prefix->bytes, len);
	return fam;
}

/**
 * zt_lpm_insert() - store @value for @prefix/@len.
 * @lpm: the matcher
 * @prefix: the prefix's address (borrowed; bits past @len are ignored)
 * @len: prefix length, 0..32 (IPv4) or 0..128 (IPv6)
 * @value: stored by copy; replaces the value of an equal prefix
 *
 * Return: 0, -EINVAL, -ENOSPC (max_prefixes stored) or -ENOMEM; nothing
 * changes on error.
 */
int zt_lpm_insert(struct zt_lpm *lpm, const struct zt_addr *prefix,
		  unsigned len, uint32_t value)
{
	uint8_t key[16];
	int fam = prep(prefix, len, key);
	uint32_t *slot, parent = 0, m;
	int err;

	if (fam < 0)
		return fam;
	err = reserve2(lpm);
	if (err)
		return err;
	slot = &lpm->root[fam];
	for (;;) {
		uint32_t ref = *slot, g;
		struct zt_lpm_node *n;
		unsigned c;

		if (!ref) {
			if (lpm->count >= lpm->max_prefixes)
				return -ENOSPC;
			m = node_new(lpm, key, len, parent);
			*slot = m;
			break;
		}
		n = node(lpm, ref);
		c = common_bits(n->key, key, n->len < len ? n->len : len);
		if (c == n->len && n->len == len) {
			if (!n->has_value) {
				if (lpm->count >= lpm->max_prefixes)
					return -ENOSPC;
				n->has_value = 1;
				lpm->count++;
			}
			n->value = value;
			return 0;
		}
		if (c == n->len) {
			parent = ref;
			slot = &n->child[key_bit(key, n->len)];
			continue;
		}
		/* @n diverges from the new prefix at bit c < n->len. */
		if (lpm->count >= lpm->max_prefixes)
			return -ENOSPC;
		if (c == len) {
			/* The new prefix contains @n: it becomes n's parent. */
			m = node_new(lpm, key, len, parent);
			n = node(lpm, ref);
			node(lpm, m)->child[key_bit(n->key, len)] = ref;
			n->parent = m;
			*slot = m;
			break;
		}
		g = node_new(lpm, key, c, parent);
		m = node_new(lpm, key, len, g);
		n = node(lpm, ref);
		node(lpm, g)->child[key_bit(n->key, c)] = ref;
		node(lpm, g)->child[key_bit(key, c)] = m;
		n->parent = g;
		*slot = g;
		break;
	}
	node(lpm, m)->has_value = 1;
	node(lpm, m)->value = value;
	lpm->count++;
	return 0;
}

/* The node holding exactly @key/@len (value or glue), or 0. */
static uint32_t find_node(const struct zt_lpm *lpm, int fam,
			  const uint8_t *key, unsigned len)
{
	uint32_t ref = lpm->root[fam];

	while (ref) {
		const struct zt_lpm_node *n = node(lpm, ref);

		if (n->len > len || common_bits(n->key, key, n->len) < n->len)
			return 0;
		if (n->len == len)
			return ref;
		ref = n->child[key_bit(key, n->len)];
	}
	return 0;
}

/**
 * zt_lpm_remove() - forget @prefix/@len.
 * @lpm: the matcher
 * @prefix: the prefix's address (borrowed; bits past @len are ignored)
 * @len: its length
 *
 * Return: 0, -ENOENT when it is not stored, -EINVAL.
 */
int zt_lpm_remove(struct zt_lpm *lpm, const struct zt_addr *prefix,
		  unsigned len)
{
	uint8_t key[16];
	int fam = prep(prefix, len, key);
	uint32_t ref;

	if (fam < 0)
		return fam;
	ref = find_node(lpm, fam, key, len);
	if (!ref || !node(lpm, ref)->has_value)
		return -ENOENT;
	node(lpm, ref)->has_value = 0;
	lpm->count--;
	/* Splice out nodes without a value and with fewer than two children:
	 * first the emptied node, then possibly its (glue) parent. */
	while (ref) {
		struct zt_lpm_node *n = node(lpm, ref);
		uint32_t child, parent = n->parent;

		if (n->has_value || (n->child[0] && n->child[1]))
			break;
		child = n->child[0] ? n->child[0] : n->child[1];
		*slot_of(lpm, ref, fam) = child;
		if (child)
			node(lpm, child)->parent = parent;
		node_free(lpm, ref);
		ref = parent;
	}
	return 0;
}

/**
 * zt_lpm_find() - exact-match query.
 * @lpm: the matcher
 * @prefix: the prefix's address (borrowed; bits past @len are ignored)
 * @len: its length
 * @value: where to put the stored value (may be NULL)
 *
 * Return: true when @prefix/@len is stored.
 */
bool zt_lpm_find(const struct zt_lpm *lpm, const struct zt_addr *prefix,
		 unsigned len, uint32_t *value)
{
	uint8_t key[16];
	int fam = prep(prefix, len, key);
	uint32_t ref;

	if (fam < 0)
		return false;
	ref = find_node(lpm, fam, key, len);
	if (!ref || !node(lpm, ref)->has_value)
		return false;
	if (value)
		*value = node(lpm, ref)->value;
	return true;
}

/**
 * zt_lpm_lookup_max() - longest stored prefix of at most @max_len bits
 * containing @addr.
 * @lpm: the matcher
 * @addr: the address (borrowed)
 * @max_len: longest prefix length considered
 * @value: its value (may be NULL)
 * @len: its length (may be NULL)
 *
 * Return: true when a prefix matched.
 */
bool zt_lpm_lookup_max(const struct zt_lpm *lpm, const struct zt_addr *addr,
		       unsigned max_len, uint32_t *value, unsigned *len)
{
	int fam = fam_of(addr);
	const struct zt_lpm_node *best = NULL;
	uint32_t ref;

	if (fam < 0)
		return false;
	if (max_len > fam_bits(fam))
		max_len = fam_bits(fam);
	for (ref = lpm->root[fam]; ref;) {
		const struct zt_lpm_node *n = node(lpm, ref);

		if (n->len > max_len ||
		    common_bits(n->key, addr->bytes, n->len) < n->len)
			break;
		if (n->has_value)
			best = n;
		if (n->len == fam_bits(fam))
			break;
		ref = n->child[key_bit(addr->bytes, n->len)];
	}
	if (!best)
		return false;
	if (value)
		*value = best->value;
	if (len)
		*len = best->len;
	return true;
}

/**
 * zt_lpm_lookup() - longest stored prefix containing @addr.
 * @lpm: the matcher
 * @addr: the address (borrowed)
 * @value: its value (may be NULL)
 * @len: its length (may be NULL)
 *
 * Return: true when a prefix matched.
 */
bool zt_lpm_lookup(const struct zt_lpm *lpm, const struct zt_addr *addr,
		   uint32_t *value, unsigned *len)
{
	return zt_lpm_lookup_max(lpm, addr, 128, value, len);
}

/**
 * zt_lpm_check() - verify the trie's invariants.
 * @lpm: the matcher
 *
 * Every live node must hang from its parent on the side of its bit at
 * parent->len, extend the parent's prefix strictly, have no bits past its
 * length, point back at its children, and carry a value or two children;
 * the free list and live nodes must account for every slot, and the
 * valued nodes for count.
 *
 * Return: 0 or -EINVAL.
 */
int zt_lpm_check(const struct zt_lpm *lpm)
{
	uint32_t values = 0, live = 0, nfree = 0;

	for (uint32_t f = lpm->free_head; f; f = node(lpm, f)->child[0]) {
		if (f > lpm->used_nodes || node(lpm, f)->len != LPM_FREE ||
		    ++nfree > lpm->used_nodes)
			return -EINVAL;
	}
	for (uint32_t ref = 1; ref <= lpm->used_nodes; ref++) {
		const struct zt_lpm_node *n = node(lpm, ref);
		uint8_t masked[16];
		int fam;

		if (n->len == LPM_FREE)
			continue;
		live++;
		if (n->has_value)
			values++;
		else if (!n->child[0] || !n->child[1])
			return -EINVAL;
		if (n->parent) {
			const struct zt_lpm_node *p = node(lpm, n->parent);

			if (n->parent > lpm->used_nodes || p->len == LPM_FREE ||
			    p->len >= n->len ||
			    common_bits(p->key, n->key, p->len) != p->len ||
			    p->child[key_bit(n->key, p->len)] != ref)
				return -EINVAL;
			/* The family is the root's at the top of the chain. */
			while (p->parent)
				p = node(lpm, p->parent);
			fam = lpm->root[1] && node(lpm, lpm->root[1]) == p;
		} else if (lpm->root[0] == ref) {
			fam = 0;
		} else if (lpm->root[1] == ref) {
			fam = 1;
		} else {
			return -EINVAL;
		}
		if (n->len > fam_bits(fam))
			return -EINVAL;
		key_mask(masked, n->key, n->len);
		if (memcmp(masked, n->key, 16) != 0)
			return -EINVAL;
		for (int s = 0; s < 2; s++) {
			uint32_t c = n->child[s];

			if (c && (c > lpm->used_nodes ||
				  node(lpm, c)->parent != ref))
				return -EINVAL;
		}
	}
	if (live + nfree != lpm->used_nodes || values != lpm->count ||
	    lpm->used_nodes > lpm->cap_nodes)
		return -EINVAL;
	for (int f = 0; f < 2; f++)
		if (lpm->root[f] && node(lpm, lpm->root[f])->parent)
			return -EINVAL;
	return 0;
}
