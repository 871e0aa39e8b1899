/* SPDX-License-Identifier: MIT */
/*
 * test_checksum.c - Internet checksum against a deliberately naive second
 * implementation, pseudo-headers against hand-built ones, and RFC 1624
 * incremental updates against full recomputation.
 */
#include <string.h>

#include "test.h"
#include "ztun/checksum.h"
#include "ztun/rng.h"

/* Naive RFC 1071: 16-bit words into a 32-bit sum, folding after every add. */
static uint16_t naive_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < len; i += 2) {
		uint16_t w = (uint16_t)(p[i] << 8);

		if (i + 1 < len)
			w |= p[i + 1];
		sum += w;
		if (sum > 0xffff)
			sum = (sum & 0xffff) + 1;
	}
	return (uint16_t)~sum;
}

static void test_rfc1071_example(void)
{
	/* RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2. */
	const uint8_t d[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };

	CU_ASSERT_EQUAL(zt_csum_fold(zt_csum_add(0, d, sizeof(d))), (uint16_t)~0xddf2);
}

static void test_random_vs_naive(void)
{
	struct zt_rng rng;
	uint8_t buf[1600];

	zt_rng_seed(&rng, zt_test_seed(1));
	for (int iter = 0; iter < 5000; iter++) {
		size_t len = (size_t)zt_rng_below(&rng, sizeof(buf) + 1);

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)zt_rng_next(&rng);
		if (iter % 7 == 0)
			memset(buf, 0xff, len); /* all-ones: the carry-heavy case */
		CU_ASSERT_EQUAL_FATAL(zt_csum_fold(zt_csum_add(0, buf, len)),
				      naive_csum(buf, len));
	}
}

/* Whole 64 KiB super-segments, from odd addresses too (the 8-byte path
 * reads unaligned), all-ones and random. */
static void test_large_unaligned_vs_naive(void)
{
	static uint8_t buf[65536 + 8];
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(3));
	for (int iter = 0; iter < 40; iter++) {
		size_t start = iter % 8;
		size_t len = 65536 - (size_t)zt_rng_below(&rng, 64);

		for (size_t i = 0; i < len; i++)
			buf[start + i] = iter % 5 == 0 ? 0xff : (uint8_t)zt_rng_next(&rng);
		CU_ASSERT_EQUAL_FATAL(zt_csum_fold(zt_csum_add(0, buf + start, len)),
				      naive_csum(buf + start, len));
	}
}

/* Runs whose 64-bit words sum to just under 2^64 with carries already
 * counted: adding the carries back in wraps once more, and that carry
 * must come back in too. Random bytes almost never reach this; all-ones
 * words followed by small ones do (ff..ff + ff..ff + 1 = ff..ff, carry 1,
 * and ff..ff + 1 wraps). */
static void test_carry_of_carries(void)
{
	uint8_t buf[8 * 12];

	for (size_t ones = 1; ones <= 8; ones++)
		for (unsigned small = 0; small < 4; small++)
			for (size_t words = ones + 1; words <= 12; words++) {
				size_t len = 8 * words;

				memset(buf, 0, len);
				memset(buf, 0xff, 8 * ones);
				/* one small word, in either byte order's low end */
				buf[8 * ones] = (uint8_t)small;
				buf[8 * ones + 7] = (uint8_t)(small >> 1);
				CU_ASSERT_EQUAL_FATAL(zt_csum_fold(zt_csum_add(0, buf, len)),
						      naive_csum(buf, len));
			}
}

static void test_chained_even_pieces(void)
{
	struct zt_rng rng;
	uint8_t buf[512];

	zt_rng_seed(&rng, zt_test_seed(2));
	for (int iter = 0; iter < 1000; iter++) {
		size_t len = (size_t)zt_rng_below(&rng, sizeof(buf) + 1);
		size_t cut = (size_t)zt_rng_below(&rng, len / 2 + 1) * 2;
		uint64_t s;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)zt_rng_next(&rng);
		s = zt_csum_add(zt_csum_add(0, buf, cut), buf + cut, len - cut);
		CU_ASSERT_EQUAL_FATAL(zt_csum_fold(s), naive_csum(buf, len));
	}
}

static void test_pseudo_v4_v6(void)
{
	struct zt_rng rng;
	uint8_t buf[40 + 300];

	zt_rng_seed(&rng, zt_test_seed(3));
	for (int iter = 0; iter < 1000; iter++) {
		int v6 = iter & 1;
		size_t alen = v6 ? 16 : 4;
		size_t l4 = (size_t)zt_rng_below(&rng, 300);
		uint8_t proto = (uint8_t)zt_rng_next(&rng);
		struct zt_addr s, d;
		uint8_t sb[16], db[16];
		size_t off = 0;

		for (size_t i = 0; i < 16; i++) {
			sb[i] = (uint8_t)zt_rng_next(&rng);
			db[i] = (uint8_t)zt_rng_next(&rng);
		}
		s = v6 ? zt_addr_v6(sb) : zt_addr_v4(sb);
		d = v6 ? zt_addr_v6(db) : zt_addr_v4(db);
		/* Build the pseudo-header bytes as the RFCs draw them. */
		memcpy(buf, sb, alen);
		memcpy(buf + alen, db, alen);
		off = 2 * alen;
		if (v6) {
			buf[off++] = (uint8_t)(l4 >> 24);
			buf[off++] = (uint8_t)(l4 >> 16);
			buf[off++] = (uint8_t)(l4 >> 8);
			buf[off++] = (uint8_t)l4;
			buf[off++] = 0;
			buf[off++] = 0;
			buf[off++] = 0;
			buf[off++] = proto;
		} else {
			buf[off++] = 0;
			buf[off++] = proto;
			buf[off++] = (uint8_t)(l4 >> 8);
			buf[off++] = (uint8_t)l4;
		}
		for (size_t i = 0; i < l4; i++)
			buf[off + i] = (uint8_t)zt_rng_next(&rng);
		CU_ASSERT_EQUAL_FATAL(zt_csum_l4(&s, &d, proto, buf + off, l4),
				      naive_csum(buf, off + l4));
	}
}

static void test_incremental_vs_full(void)
{
	struct zt_rng rng;
	uint8_t buf[64], old[16];

	zt_rng_seed(&rng, zt_test_seed(4));
	for (int iter = 0; iter < 100000; iter++) {
		size_t len = 2 * (8 + (size_t)zt_rng_below(&rng, 25));
		size_t at, n;
		uint16_t before, after;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)zt_rng_next(&rng);
		if (iter % 11 == 0)
			memset(buf, 0, len); /* sum 0 -> field 0xffff corner */
		before = zt_csum_fold(zt_csum_add(0, buf, len));
		if (iter & 1) {
			at = 2 * (size_t)zt_rng_below(&rng, len / 2);
			uint16_t ow = (uint16_t)(buf[at] << 8 | buf[at + 1]);
			uint16_t nw = (uint16_t)zt_rng_next(&rng);

			buf[at] = (uint8_t)(nw >> 8);
			buf[at + 1] = (uint8_t)nw;
			after = zt_csum_update16(before, ow, nw);
		} else {
			n = 2 * (1 + (size_t)zt_rng_below(&rng, 8));
			at = 2 * (size_t)zt_rng_below(&rng, (len - n) / 2 + 1);
			memcpy(old, buf + at, n);
			for (size_t i = 0; i < n; i++)
				buf[at + i] = (uint8_t)zt_rng_next(&rng);
			after = zt_csum_update_bytes(before, old, buf + at, n);
		}
		/* One's-complement has two zeros; the field must verify. */
		uint64_t verify = zt_csum_add(0, buf, len) + after;

		CU_ASSERT_EQUAL_FATAL(zt_csum_fold(verify), 0);
		uint16_t full = zt_csum_fold(zt_csum_add(0, buf, len));
		CU_ASSERT_FATAL(after == full ||
				(after == 0xffff && full == 0) ||
				(after == 0 && full == 0xffff));
	}
}

int zt_suite_checksum(void)
{
	static const struct zt_test_case cases[] = {
		{ "rfc1071_example", test_rfc1071_example },
		{ "random_vs_naive", test_random_vs_naive },
		{ "large_unaligned_vs_naive", test_large_unaligned_vs_naive },
		{ "chained_even_pieces", test_chained_even_pieces },
		{ "carry_of_carries", test_carry_of_carries },
		{ "pseudo_header_v4_v6", test_pseudo_v4_v6 },
		{ "incremental_vs_full", test_incremental_vs_full },
		{ 0 }
	};

	return zt_add_suite("checksum", NULL, NULL, cases);
}
