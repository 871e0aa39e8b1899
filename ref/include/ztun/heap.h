/* SPDX-License-Identifier: MIT */
/*
 * heap.h - an intrusive binary min-heap of deadlines (timers, events).
 *
 * The caller embeds a struct zt_heap_node in whatever it wants ordered and
 * owns that memory; the heap only links nodes together, so inserting never
 * allocates and the heap has no capacity limit. Nodes are ordered by
 * (deadline, seq), where seq is a sequence number the heap hands out on
 * every insert: nodes with equal deadlines come out in insertion order, so
 * the order is fully determined by the sequence of calls.
 *
 * A node is linked (in a heap) or not. A zero-filled node, or one passed to
 * zt_heap_node_init(), is not linked; zt_heap_remove() of a node that is not
 * linked is a harmless no-op. A node may be in at most one heap at a time,
 * and every call naming a linked node must name the heap that holds it.
 */
#ifndef ZTUN_HEAP_H
#define ZTUN_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zt_heap_node {
	struct zt_heap_node *parent;
	struct zt_heap_node *left;
	struct zt_heap_node *right;
	uint64_t deadline; /* key, set by zt_heap_insert() */
	uint64_t seq;      /* tie-break, assigned by the heap on insert */
	bool linked;
};

struct zt_heap {
	struct zt_heap_node *root; /* the minimum; NULL when empty */
	size_t count;
	uint64_t next_seq;
};

/* Turn a node pointer back into its containing struct. */
#define zt_heap_entry(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* An empty heap. A heap owns nothing, so there is no destroy. */
void zt_heap_init(struct zt_heap *heap);
/* A node that is not linked (same as zero-filling it). */
void zt_heap_node_init(struct zt_heap_node *node);

static inline bool zt_heap_node_linked(const struct zt_heap_node *node)
{
	return node->linked;
}

static inline uint64_t zt_heap_node_deadline(const struct zt_heap_node *node)
{
	return node->deadline;
}

static inline size_t zt_heap_count(const struct zt_heap *heap)
{
	return heap->count;
}

/* The minimum node (borrowed, still linked), or NULL when the heap is empty. */
static inline struct zt_heap_node *zt_heap_min(const struct zt_heap *heap)
{
	return heap->root;
}

/* True when @a orders strictly before @b. */
static inline bool zt_heap_less(const struct zt_heap_node *a,
				const struct zt_heap_node *b)
{
	return a->deadline < b->deadline ||
	       (a->deadline == b->deadline && a->seq < b->seq);
}

/* The least node after the minimum (borrowed, still linked: one of the
 * root's children), or NULL with fewer than two nodes. O(1). */
static inline struct zt_heap_node *zt_heap_second(const struct zt_heap *heap)
{
	const struct zt_heap_node *r = heap->root;

	if (!r || !r->left)
		return r ? r->right : NULL;
	if (r->right && zt_heap_less(r->right, r->left))
		return r->right;
	return r->left;
}

/* Link @node (caller-owned; must stay valid while linked) at @deadline with
 * a fresh seq. A node already linked in @heap is moved, as zt_heap_update(). */
void zt_heap_insert(struct zt_heap *heap, struct zt_heap_node *node,
		    uint64_t deadline);
/* Re-insert @node at @deadline: unlinked if linked, then linked with a fresh
 * seq (it now follows every node already at @deadline). */
void zt_heap_update(struct zt_heap *heap, struct zt_heap_node *node,
		    uint64_t deadline);
/* Unlink @node. Return: true if it was linked, false (no-op) otherwise. */
bool zt_heap_remove(struct zt_heap *heap, struct zt_heap_node *node);
/* Unlink and return the minimum node, or NULL when the heap is empty. */
struct zt_heap_node *zt_heap_pop(struct zt_heap *heap);
/* Verify every invariant (links, order, count, shape); for tests.
 * Return: 0 or -EINVAL. O(n). */
int zt_heap_check(const struct zt_heap *heap);

#endif /* ZTUN_HEAP_H */
