/* SPDX-License-Identifier: MIT */
/*
 * heap.c - intrusive binary min-heap.
 *
 * Theory of operation: the heap is a complete binary tree built from the
 * nodes themselves (parent/left/right pointers), as in libuv's heap-inl.h,
 * so there is no array to grow and insert never allocates. Numbering the
 * positions 1..count in breadth-first order, position p has children 2p and
 * 2p+1, so the binary digits of p after its leading 1 spell the path from
 * the root to p (0 = left, 1 = right). Insert links the node at position
 * count+1 and sifts it up. Remove detaches the node at position count (the
 * last one), puts it where the removed node was and sifts it down and then
 * up (it may belong on either side). Both are O(log n).
 *
 * Sifting swaps a node with its parent by relinking the two nodes, never by
 * copying them: callers hold pointers to their nodes and the keys live in
 * the nodes. The key is (deadline, seq) with seq taken from a counter that
 * only grows, so no two nodes ever compare equal and the order of equal
 * deadlines is the order of insertion.
 *
 * The heap owns nothing: every node is the caller's memory.
 */
#include "ztun/heap.h"

#include <errno.h>

/**
 * zt_heap_init() - make @heap empty.
 * @heap: the heap (caller-owned)
 */
void zt_heap_init(struct zt_heap *heap)
{
	heap->root = NULL;
	heap->count = 0;
	heap->next_seq = 0;
}

/**
 * zt_heap_node_init() - mark @node as not linked.
 * @node: the node (caller-owned)
 */
void zt_heap_node_init(struct zt_heap_node *node)
{
	node->parent = NULL;
	node->left = NULL;
	node->right = NULL;
	node->deadline = 0;
	node->seq = 0;
	node->linked = false;
}

/*
 * Pointer to the child link that holds position @pos (1-based) of a tree
 * whose positions 1..pos-1 all exist; *@parent gets the node owning that
 * link (NULL for the root link).
 */
static struct zt_heap_node **slot_at(struct zt_heap *heap, size_t pos,
				     struct zt_heap_node **parent)
{
	struct zt_heap_node **slot = &heap->root;
	size_t top = 1;

	while (top <= pos / 2)
		top <<= 1;
	*parent = NULL;
	for (size_t mask = top >> 1; mask; mask >>= 1) {
		*parent = *slot;
		slot = (pos & mask) ? &(*slot)->right : &(*slot)->left;
	}
	return slot;
}

/* Exchange @child with its parent @p, relinking the nodes and their
 * neighbours; keys stay in their nodes. */
static void swap_with_parent(struct zt_heap *heap, struct zt_heap_node *p,
			     struct zt_heap_node *child)
{
	struct zt_heap_node *gp = p->parent;
	struct zt_heap_node *cl = child->left, *cr = child->right;
	struct zt_heap_node *sibling;

	if (p->left == child) {
		sibling = p->right;
		child->left = p;
		child->right = sibling;
	} else {
		sibling = p->left;
		child->left = sibling;
		child->right = p;
	}
	if (sibling)
		sibling->parent = child;
	child->parent = gp;
	if (!gp)
		heap->root = child;
	else if (gp->left == p)
		gp->left = child;
	else
		gp->right = child;
	p->parent = child;
	p->left = cl;
	p->right = cr;
	if (cl)
		cl->parent = p;
	if (cr)
		cr->parent = p;
}

static void sift_up(struct zt_heap *heap, struct zt_heap_node *node)
{
	while (node->parent && zt_heap_less(node, node->parent))
		swap_with_parent(heap, node->parent, node);
}

static void sift_down(struct zt_heap *heap, struct zt_heap_node *node)
{
	for (;;) {
		struct zt_heap_node *smallest = node;

		if (node->left && zt_heap_less(node->left, smallest))
			smallest = node->left;
		if (node->right && zt_heap_less(node->right, smallest))
			smallest = node->right;
		if (smallest == node)
			return;
		swap_with_parent(heap, node, smallest);
	}
}

/* Link an unlinked @node at @deadline. */
static void link_node(struct zt_heap *heap, struct zt_heap_node *node,
		      uint64_t deadline)
{
	struct zt_heap_node *parent;
	struct zt_heap_node **slot;

	node->deadline = deadline;
	node->seq = heap->next_seq++;
	node->left = NULL;
	node->right = NULL;
	node->linked = true;
	slot = slot_at(heap, heap->count + 1, &parent);
	node->parent = parent;
	*slot = node;
	heap->count++;
	sift_up(heap, node);
}

/**
 * zt_heap_insert() - link @node into @heap at @deadline.
 * @heap:     the heap
 * @node:     caller-owned node; must stay valid (and unmoved) while linked
 * @deadline: the primary key
 *
 * The node gets the next sequence number, so it orders after every node
 * already in the heap with the same deadline. A node already linked in
 * @heap is moved (zt_heap_update()).
 */
void zt_heap_insert(struct zt_heap *heap, struct zt_heap_node *node,
		    uint64_t deadline)
{
	if (node->linked) {
		/* Re-key in place. The new key (deadline, a sequence number
		 * above all others) is above the old one unless the deadline
		 * fell, so one sift settles it; keys are unique, so the order
		 * the heap yields is the same as after a remove and a link. */
		bool later = deadline >= node->deadline;

		node->deadline = deadline;
		node->seq = heap->next_seq++;
		if (later)
			sift_down(heap, node);
		else
			sift_up(heap, node);
		return;
	}
	link_node(heap, node, deadline);
}

/**
 * zt_heap_update() - give @node a new deadline (and a fresh sequence number).
 * @heap:     the heap holding @node, if it is linked
 * @node:     caller-owned node, linked or not
 * @deadline: the new key
 *
 * Equivalent to zt_heap_remove() then zt_heap_insert(): after the call the
 * node is linked and orders after every other node at @deadline.
 */
void zt_heap_update(struct zt_heap *heap, struct zt_heap_node *node,
		    uint64_t deadline)
{
	zt_heap_insert(heap, node, deadline);
}

/**
 * zt_heap_remove() - unlink @node from @heap.
 * @heap: the heap holding @node
 * @node: the node; ownership stays with the caller
 *
 * Return: true if @node was linked, false if it was not (nothing changes).
 */
bool zt_heap_remove(struct zt_heap *heap, struct zt_heap_node *node)
{
	struct zt_heap_node *last, *parent;
	struct zt_heap_node **slot;

	if (!node->linked)
		return false;
	/* Detach the last node first: if it is a child of @node, @node's link
	 * to it is cleared before we copy @node's links below. */
	slot = slot_at(heap, heap->count, &parent);
	last = *slot;
	*slot = NULL;
	heap->count--;
	if (last != node) {
		last->left = node->left;
		last->right = node->right;
		last->parent = node->parent;
		if (last->left)
			last->left->parent = last;
		if (last->right)
			last->right->parent = last;
		if (!node->parent)
			heap->root = last;
		else if (node->parent->left == node)
			node->parent->left = last;
		else
			node->parent->right = last;
		sift_down(heap, last);
		sift_up(heap, last);
	}
	node->parent = NULL;
	node->left = NULL;
	node->right = NULL;
	node->linked = false;
	return true;
}

/**
 * zt_heap_pop() - unlink the minimum node.
 * @heap: the heap
 *
 * Return: the node that was the minimum (the caller's memory, now unlinked),
 * or NULL when the heap is empty.
 */
struct zt_heap_node *zt_heap_pop(struct zt_heap *heap)
{
	struct zt_heap_node *min = heap->root;

	if (min)
		zt_heap_remove(heap, min);
	return min;
}

/* Check the subtree at @node, which should sit at position @pos under
 * @parent; adds its size to *@seen. */
static int check_subtree(const struct zt_heap *heap,
			 const struct zt_heap_node *node,
			 const struct zt_heap_node *parent, size_t pos,
			 size_t *seen)
{
	if (!node)
		return pos > heap->count ? 0 : -EINVAL; /* a hole in the shape */
	if (pos > heap->count || node->parent != parent || !node->linked ||
	    node->seq >= heap->next_seq)
		return -EINVAL;
	if (parent && zt_heap_less(node, parent))
		return -EINVAL;
	(*seen)++;
	if (check_subtree(heap, node->left, node, 2 * pos, seen) ||
	    check_subtree(heap, node->right, node, 2 * pos + 1, seen))
		return -EINVAL;
	return 0;
}

/**
 * zt_heap_check() - verify the heap's invariants.
 * @heap: the heap
 *
 * Checks parent links, the heap order, that the nodes fill positions
 * 1..count exactly (a complete tree) and that every node is marked linked.
 * Meant for tests; O(n) time, O(log n) stack when the shape is sound.
 *
 * Return: 0 when everything holds, -EINVAL otherwise.
 */
int zt_heap_check(const struct zt_heap *heap)
{
	size_t seen = 0;

	if (check_subtree(heap, heap->root, NULL, 1, &seen))
		return -EINVAL;
	return seen == heap->count ? 0 : -EINVAL;
}
