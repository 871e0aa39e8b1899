/* SPDX-License-Identifier: MIT */
/*
 * test_heap.c - the intrusive min-heap against a deliberately naive model:
 * a sorted array of (deadline, seq, id) kept by linear insertion. Random
 * insert/remove/pop/update sequences (many with equal deadlines) must give
 * the same minimum, count and pop order, and the tree must keep its shape.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ztun/heap.h"
#include "ztun/rng.h"

#define NITEMS 1024

struct item {
	int id;
	struct zt_heap_node node;
};

struct model_ent {
	uint64_t deadline;
	uint64_t seq;
	int id;
};

struct model {
	struct model_ent e[NITEMS];
	size_t n;
	uint64_t next_seq;
};

static void model_insert(struct model *m, int id, uint64_t deadline)
{
	size_t i = m->n;

	/* After every entry with a smaller or equal deadline: ties keep
	 * insertion order because seq only grows. */
	while (i > 0 && m->e[i - 1].deadline > deadline) {
		m->e[i] = m->e[i - 1];
		i--;
	}
	m->e[i].deadline = deadline;
	m->e[i].seq = m->next_seq++;
	m->e[i].id = id;
	m->n++;
}

static int model_remove(struct model *m, int id)
{
	for (size_t i = 0; i < m->n; i++) {
		if (m->e[i].id != id)
			continue;
		memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof(m->e[0]));
		m->n--;
		return 1;
	}
	return 0;
}

static int node_id(const struct zt_heap_node *n)
{
	return n ? zt_heap_entry(n, struct item, node)->id : -1;
}

static void test_empty(void)
{
	struct zt_heap h;
	struct zt_heap_node zeroed;
	struct item it;

	memset(&zeroed, 0, sizeof(zeroed));
	zt_heap_init(&h);
	CU_ASSERT_PTR_NULL(zt_heap_min(&h));
	CU_ASSERT_PTR_NULL(zt_heap_pop(&h));
	CU_ASSERT_EQUAL(zt_heap_count(&h), 0);
	CU_ASSERT_EQUAL(zt_heap_check(&h), 0);
	CU_ASSERT_FALSE(zt_heap_remove(&h, &zeroed));
	CU_ASSERT_FALSE(zt_heap_node_linked(&zeroed));

	/* One node in and out again leaves an empty heap. */
	zt_heap_node_init(&it.node);
	it.id = 7;
	zt_heap_insert(&h, &it.node, 42);
	CU_ASSERT_TRUE(zt_heap_node_linked(&it.node));
	CU_ASSERT_EQUAL(zt_heap_count(&h), 1);
	CU_ASSERT_PTR_EQUAL(zt_heap_min(&h), &it.node);
	CU_ASSERT_EQUAL(zt_heap_node_deadline(zt_heap_min(&h)), 42);
	CU_ASSERT_PTR_EQUAL(zt_heap_pop(&h), &it.node);
	CU_ASSERT_FALSE(zt_heap_node_linked(&it.node));
	CU_ASSERT_FALSE(zt_heap_remove(&h, &it.node));
	CU_ASSERT_PTR_NULL(zt_heap_min(&h));
	CU_ASSERT_PTR_NULL(zt_heap_pop(&h));
	CU_ASSERT_EQUAL(zt_heap_count(&h), 0);
	CU_ASSERT_EQUAL(zt_heap_check(&h), 0);
}

static void test_equal_deadlines_fifo(void)
{
	static struct item items[5000];
	struct zt_heap h;
	int n = (int)(sizeof(items) / sizeof(items[0]));

	zt_heap_init(&h);
	for (int i = 0; i < n; i++) {
		items[i].id = i;
		zt_heap_node_init(&items[i].node);
		zt_heap_insert(&h, &items[i].node, 1000);
	}
	CU_ASSERT_EQUAL(zt_heap_check(&h), 0);
	/* Moving item 0 to the same deadline sends it to the back. */
	zt_heap_update(&h, &items[0].node, 1000);
	CU_ASSERT_EQUAL(zt_heap_count(&h), (size_t)n);
	for (int i = 1; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(node_id(zt_heap_pop(&h)), i);
	CU_ASSERT_EQUAL(node_id(zt_heap_pop(&h)), 0);
	CU_ASSERT_PTR_NULL(zt_heap_pop(&h));
}

static void test_extreme_deadlines(void)
{
	struct item a = { .id = 0 }, b = { .id = 1 }, c = { .id = 2 };
	struct zt_heap h;

	zt_heap_init(&h);
	zt_heap_insert(&h, &a.node, UINT64_MAX);
	zt_heap_insert(&h, &b.node, 0);
	zt_heap_insert(&h, &c.node, UINT64_MAX);
	CU_ASSERT_EQUAL(node_id(zt_heap_pop(&h)), 1);
	CU_ASSERT_EQUAL(node_id(zt_heap_pop(&h)), 0);
	CU_ASSERT_EQUAL(node_id(zt_heap_pop(&h)), 2);
	CU_ASSERT_PTR_NULL(zt_heap_pop(&h));
	/* Insert of a linked node moves it rather than corrupting the tree. */
	zt_heap_insert(&h, &a.node, 5);
	zt_heap_insert(&h, &b.node, 6);
	zt_heap_insert(&h, &a.node, 7);
	CU_ASSERT_EQUAL(zt_heap_count(&h), 2);
	CU_ASSERT_EQUAL(zt_heap_check(&h), 0);
	CU_ASSERT_EQUAL(node_id(zt_heap_pop(&h)), 1);
	CU_ASSERT_EQUAL(node_id(zt_heap_pop(&h)), 0);
}

/* Compare the heap's view with the model's after each operation. */
static void check_same(struct zt_heap *h, const struct model *m)
{
	CU_ASSERT_EQUAL_FATAL(zt_heap_count(h), m->n);
	CU_ASSERT_EQUAL_FATAL(node_id(zt_heap_min(h)), m->n ? m->e[0].id : -1);
	if (m->n)
		CU_ASSERT_EQUAL_FATAL(zt_heap_node_deadline(zt_heap_min(h)),
				      m->e[0].deadline);
	/* the next after the minimum (zt_heap_second()) */
	CU_ASSERT_EQUAL_FATAL(node_id(zt_heap_second(h)),
			      m->n > 1 ? m->e[1].id : -1);
}

static uint64_t random_deadline(struct zt_rng *rng, int ties)
{
	switch (ties ? 0 : zt_rng_below(rng, 3)) {
	case 0:
		return zt_rng_below(rng, 8);       /* many equal deadlines */
	case 1:
		return zt_rng_below(rng, 1000000);
	default:
		return zt_rng_next(rng);           /* the whole range */
	}
}

static void test_random_vs_model(void)
{
	static struct item items[NITEMS];
	static struct model m;
	struct zt_heap h;
	struct zt_rng rng;
	unsigned long ops = 0, pops = 0, removes = 0, updates = 0, inserts = 0;
	int grow = 1, ties = 0;

	zt_rng_seed(&rng, zt_test_seed(0x4ea9));
	zt_heap_init(&h);
	memset(&m, 0, sizeof(m));
	for (int i = 0; i < NITEMS; i++) {
		items[i].id = i;
		zt_heap_node_init(&items[i].node);
	}
	for (ops = 0; ops < 200000; ops++) {
		unsigned r = (unsigned)zt_rng_below(&rng, 100);
		int id = (int)zt_rng_below(&rng, NITEMS);
		struct item *it = &items[id];
		uint64_t d;

		if (ops % 4000 == 0) {
			/* Phases: grow or shrink, ties-only or mixed keys. */
			grow = (int)zt_rng_below(&rng, 2);
			ties = (int)zt_rng_below(&rng, 2);
		}
		d = random_deadline(&rng, ties);
		if (r < (grow ? 50u : 25u)) {
			/* Insert (or move, when already linked). */
			model_remove(&m, id);
			model_insert(&m, id, d);
			zt_heap_insert(&h, &it->node, d);
			inserts++;
		} else if (r < 70) {
			struct zt_heap_node *n = zt_heap_pop(&h);

			CU_ASSERT_EQUAL_FATAL(node_id(n), m.n ? m.e[0].id : -1);
			if (n) {
				CU_ASSERT_EQUAL_FATAL(zt_heap_node_deadline(n),
						      m.e[0].deadline);
				CU_ASSERT_FALSE_FATAL(zt_heap_node_linked(n));
				model_remove(&m, m.e[0].id);
			}
			pops++;
		} else if (r < 85) {
			int in_model = model_remove(&m, id);

			CU_ASSERT_EQUAL_FATAL(zt_heap_remove(&h, &it->node),
					      in_model);
			CU_ASSERT_FALSE_FATAL(zt_heap_node_linked(&it->node));
			removes++;
		} else {
			model_remove(&m, id);
			model_insert(&m, id, d);
			zt_heap_update(&h, &it->node, d);
			updates++;
		}
		check_same(&h, &m);
		if (m.n < 64 || ops % 256 == 0)
			CU_ASSERT_EQUAL_FATAL(zt_heap_check(&h), 0);
	}
	/* Drain: the full pop order must match the model's. */
	for (size_t i = 0; i < m.n; i++)
		CU_ASSERT_EQUAL_FATAL(node_id(zt_heap_pop(&h)), m.e[i].id);
	CU_ASSERT_PTR_NULL(zt_heap_pop(&h));
	CU_ASSERT_EQUAL(zt_heap_check(&h), 0);
	CU_ASSERT(inserts > 10000 && pops > 10000 && removes > 10000 &&
		  updates > 10000);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_heapsort(void)
{
	static struct item items[20000];
	static uint64_t keys[20000];
	struct zt_heap h;
	struct zt_rng rng;
	size_t n = sizeof(keys) / sizeof(keys[0]);

	zt_rng_seed(&rng, zt_test_seed(0x5057));
	zt_heap_init(&h);
	for (size_t i = 0; i < n; i++) {
		keys[i] = zt_rng_next(&rng) >> (zt_rng_below(&rng, 64));
		zt_heap_node_init(&items[i].node);
		zt_heap_insert(&h, &items[i].node, keys[i]);
	}
	CU_ASSERT_EQUAL(zt_heap_check(&h), 0);
	qsort(keys, n, sizeof(keys[0]), cmp_u64);
	for (size_t i = 0; i < n; i++) {
		struct zt_heap_node *node = zt_heap_pop(&h);

		CU_ASSERT_PTR_NOT_NULL_FATAL(node);
		CU_ASSERT_EQUAL_FATAL(zt_heap_node_deadline(node), keys[i]);
	}
	CU_ASSERT_EQUAL(zt_heap_count(&h), 0);
}

int zt_suite_heap(void)
{
	static const struct zt_test_case cases[] = {
		{ "empty", test_empty },
		{ "equal_deadlines_fifo", test_equal_deadlines_fifo },
		{ "extreme_deadlines", test_extreme_deadlines },
		{ "random_vs_model", test_random_vs_model },
		{ "heapsort", test_heapsort },
		{ 0 }
	};

	return zt_add_suite("heap", NULL, NULL, cases);
}
