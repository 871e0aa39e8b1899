/* SPDX-License-Identifier: MIT */
/*
 * test_rng.c - the seeded generator: xoshiro256** known answers, and forks
 * that jump 2^128 steps (a published known answer), leave the parent's
 * sequence alone and draw somewhere else.
 */
#include <string.h>

#include "test.h"
#include "ztun/rng.h"

/* xoshiro256** from a state set by hand, against the authors' reference
 * algorithm written out longhand (result = rotl(s1 * 5, 7) * 9). */
static void test_known_answers(void)
{
	struct zt_rng r = { { 1, 2, 3, 4 } };

	/* s1 = 2: rotl(10, 7) * 9 = 1280 * 9 */
	CU_ASSERT_EQUAL(zt_rng_next(&r), 11520u);
	/* state now { 7, 0, 262146, rotl(6, 45) }: s1 = 0 */
	CU_ASSERT_EQUAL(zt_rng_next(&r), 0u);
	/* then s1 = 262146 ^ 7 = 262149: rotl(1310745, 7) * 9 */
	CU_ASSERT_EQUAL(zt_rng_next(&r), 1509978240u);
}

/* The jump's known answer: the state { 0, 0, 0, 1 } moved 2^128 steps, as
 * an independent port publishes it (DSCF-1224/xoshiro-fortran, test
 * data "with a jump of the generator state"; the ++ and ** variants
 * share the state's step, so their jumps agree). */
static void test_fork_known_answer(void)
{
	struct zt_rng parent = { { 0, 0, 0, 1 } }, child;

	zt_rng_fork(&parent, &child);
	CU_ASSERT_EQUAL(child.s[0], 0x934D05E8B2076310ULL);
	CU_ASSERT_EQUAL(child.s[1], 0xEABDD0BF76A1BE51ULL);
	CU_ASSERT_EQUAL(child.s[2], 0x75DD6A992ACCB1E8ULL);
	CU_ASSERT_EQUAL(child.s[3], 0xC660C602A7330187ULL);
}

/* The generator's step is linear over GF(2), so a jump (a polynomial in
 * that step) is too: the fork of a XOR b is the XOR of their forks. A fork
 * made any other way (hashing the state, reseeding) would not be. */
static void test_fork_is_a_jump(void)
{
	struct zt_rng a, b, c, fa, fb, fc;

	zt_rng_seed(&a, zt_test_seed(0x7c));
	zt_rng_seed(&b, zt_test_seed(0x7d));
	for (int w = 0; w < 4; w++)
		c.s[w] = a.s[w] ^ b.s[w];
	zt_rng_fork(&a, &fa);
	zt_rng_fork(&b, &fb);
	zt_rng_fork(&c, &fc);
	for (int w = 0; w < 4; w++) {
		CU_ASSERT_EQUAL(fc.s[w], fa.s[w] ^ fb.s[w]);
		CU_ASSERT_NOT_EQUAL(fa.s[w], a.s[w]);
	}
}

static void test_fork_leaves_parent(void)
{
	struct zt_rng parent, copy, child;

	zt_rng_seed(&parent, zt_test_seed(0x7a));
	copy = parent;
	zt_rng_fork(&parent, &child);
	CU_ASSERT(memcmp(&parent, &copy, sizeof(parent)) == 0);
	for (int i = 0; i < 1000; i++)
		CU_ASSERT_EQUAL_FATAL(zt_rng_next(&parent), zt_rng_next(&copy));
}

static void test_fork_draws_elsewhere(void)
{
	enum { N = 4096 };
	static uint64_t ahead[N];
	struct zt_rng parent, walk, child, again;

	zt_rng_seed(&parent, zt_test_seed(0x7b));
	walk = parent;
	for (int i = 0; i < N; i++)
		ahead[i] = zt_rng_next(&walk);
	zt_rng_fork(&parent, &child);
	zt_rng_fork(&parent, &again);
	for (int j = 0; j < 16; j++) {
		uint64_t c = zt_rng_next(&child);

		/* the same fork of the same parent is the same generator */
		CU_ASSERT_EQUAL_FATAL(zt_rng_next(&again), c);
		/* and none of its draws is among the parent's next 4096 */
		for (int i = 0; i < N; i++)
			CU_ASSERT_NOT_EQUAL_FATAL(ahead[i], c);
	}
	/* A fork is a jump, not a copy: a fork of a fork is elsewhere again. */
	zt_rng_fork(&parent, &child);
	zt_rng_fork(&child, &again);
	CU_ASSERT_NOT_EQUAL(zt_rng_next(&child), zt_rng_next(&again));
}

int zt_suite_rng(void)
{
	static const struct zt_test_case cases[] = {
		{ "known_answers", test_known_answers },
		{ "fork_known_answer", test_fork_known_answer },
		{ "fork_is_a_jump", test_fork_is_a_jump },
		{ "fork_leaves_parent", test_fork_leaves_parent },
		{ "fork_draws_elsewhere", test_fork_draws_elsewhere },
		{ 0 }
	};

	return zt_add_suite("rng", NULL, NULL, cases);
}
