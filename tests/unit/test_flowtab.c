/* SPDX-License-Identifier: MIT */
/*
 * test_flowtab.c - the stack's flow index against a naive model (linear
 * scan) under heavy churn, with few distinct keys so probe runs collide,
 * wrap around the table end and get shifted back on removal; and the
 * index's layout, which only its seed may decide.
 */
#include <stdlib.h>
#include <string.h>

#include "../../ref/stack/flowtab.h"
#include "test.h"
#include "ztun/rng.h"

#define CAP 64

struct model {
	struct zt_flow_key keys[CAP];
	bool used[CAP];
};

static const struct zt_flow_key *key_of(void *ctx, uint32_t idx)
{
	return &((struct model *)ctx)->keys[idx];
}

static struct zt_flow_key make_key(uint32_t n)
{
	struct zt_flow_key k;
	uint8_t a[4] = { 10, 0, 0, (uint8_t)(n % 7) };

	memset(&k, 0, sizeof(k));
	k.family = ZT_AF_INET;
	k.proto = 6;
	k.client = zt_addr_v4(a);
	k.server = zt_addr_v4(a);
	k.client_port = (uint16_t)(n / 7);
	k.server_port = 80;
	return k;
}

static void test_against_model(void)
{
	struct zt_rng rng;
	struct model *m = calloc(1, sizeof(*m));
	struct zt_flowtab t;
	unsigned live = 0;

	zt_rng_seed(&rng, zt_test_seed(0xf10));
	CU_ASSERT_FATAL(zt_flowtab_init(&t, CAP, key_of, m, zt_test_seed(0xf11)) == 0);
	for (int op = 0; op < 300000; op++) {
		uint32_t n = (uint32_t)zt_rng_below(&rng, 3 * CAP);
		struct zt_flow_key k = make_key(n);
		int in_model = -1;

		for (int i = 0; i < CAP; i++)
			if (m->used[i] && memcmp(&m->keys[i], &k, sizeof(k)) == 0)
				in_model = i;
		CU_ASSERT_EQUAL_FATAL(zt_flowtab_find(&t, &k),
				      in_model < 0 ? ZT_FLOWTAB_NONE : (uint32_t)in_model);
		if (in_model >= 0 && zt_rng_below(&rng, 2)) {
			zt_flowtab_remove(&t, (uint32_t)in_model);
			m->used[in_model] = false;
			live--;
		} else if (in_model < 0) {
			uint32_t idx = zt_flowtab_alloc(&t);

			if (live == CAP) {
				CU_ASSERT_EQUAL_FATAL(idx, ZT_FLOWTAB_NONE);
				continue;
			}
			CU_ASSERT_FATAL(idx < CAP && !m->used[idx]);
			m->keys[idx] = k;
			m->used[idx] = true;
			zt_flowtab_insert(&t, idx);
			live++;
		}
		CU_ASSERT_EQUAL_FATAL(t.n_free, CAP - live);
	}
	/* Every live key is still found after all that churn. */
	for (int i = 0; i < CAP; i++)
		if (m->used[i])
			CU_ASSERT_EQUAL(zt_flowtab_find(&t, &m->keys[i]), (uint32_t)i);
	zt_flowtab_destroy(&t);
	free(m);
}

/* The same keys inserted in the same order into tables of the same seed
 * land in the same buckets; under another seed, elsewhere. Without a
 * seed, whoever picks the keys (any sender into the TUN) could find keys
 * that pile up in one probe run. */
static void layout(struct model *m, uint64_t seed, uint32_t *buckets, size_t n)
{
	struct zt_flowtab t;

	CU_ASSERT_FATAL(zt_flowtab_init(&t, CAP, key_of, m, seed) == 0);
	CU_ASSERT_FATAL(t.mask + 1 == n);
	for (uint32_t i = 0; i < CAP; i++) {
		CU_ASSERT_FATAL(zt_flowtab_alloc(&t) != ZT_FLOWTAB_NONE);
		zt_flowtab_insert(&t, i);
	}
	memcpy(buckets, t.hash, n * sizeof(*buckets));
	zt_flowtab_destroy(&t);
}

static void test_seed_decides_layout(void)
{
	enum { BUCKETS = 2 * CAP };
	struct model *m = calloc(1, sizeof(*m));
	uint32_t a[BUCKETS], b[BUCKETS], c[BUCKETS];

	CU_ASSERT_FATAL(m != NULL);
	for (uint32_t i = 0; i < CAP; i++)
		m->keys[i] = make_key(i);
	layout(m, 1, a, BUCKETS);
	layout(m, 1, b, BUCKETS);
	layout(m, 2, c, BUCKETS);
	CU_ASSERT(memcmp(a, b, sizeof(a)) == 0);
	CU_ASSERT(memcmp(a, c, sizeof(a)) != 0);
	free(m);
}

int zt_suite_flowtab(void)
{
	static const struct zt_test_case cases[] = {
		{ "against_model", test_against_model },
		{ "seed_decides_layout", test_seed_decides_layout },
		{ 0 }
	};

	return zt_add_suite("flowtab", NULL, NULL, cases);
}
