/* SPDX-License-Identifier: MIT */
/*
 * test_udp_wire.c - UDP: seeded emit->parse round trips over IPv4 and IPv6,
 * the length field against the bytes given, the zero checksum (none over
 * IPv4, a drop over IPv6, never sent), corruption and truncation, each parse
 * over an exactly-sized heap copy.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ztun/checksum.h"
#include "ztun/ip4.h"
#include "ztun/ip6.h"
#include "ztun/rng.h"
#include "ztun/udp_wire.h"

static void rand_fill(struct zt_rng *rng, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)zt_rng_next(rng);
}

static void rand_addrs(struct zt_rng *rng, bool v6, struct zt_addr *s,
		       struct zt_addr *d)
{
	uint8_t b[32];

	rand_fill(rng, b, sizeof(b));
	*s = v6 ? zt_addr_v6(b) : zt_addr_v4(b);
	*d = v6 ? zt_addr_v6(b + 16) : zt_addr_v4(b + 16);
}


/* Build a datagram by hand (not with zt_udp_emit): header with length field
 * @ulen and @dlen data bytes; with @compute the checksum over @ulen bytes,
 * else the checksum field @csum as given. */
static size_t build_dgram(uint8_t *buf, uint16_t ulen, const uint8_t *data,
			  size_t dlen, const struct zt_addr *s,
			  const struct zt_addr *d, bool compute, uint16_t csum)
{
	zt_wr16(buf, 5353);
	zt_wr16(buf + 2, 53);
	zt_wr16(buf + 4, ulen);
	zt_wr16(buf + 6, 0);
	if (dlen)
		memcpy(buf + 8, data, dlen);
	if (compute) {
		csum = zt_csum_l4(s, d, ZT_IPPROTO_UDP, buf, ulen);
		if (csum == 0)
			csum = 0xffff;
	}
	zt_wr16(buf + 6, csum);
	return 8 + dlen;
}

static void test_roundtrip_random(void)
{
	struct zt_rng rng;
	uint8_t payload[1500];

	zt_rng_seed(&rng, zt_test_seed(201));
	for (int iter = 0; iter < 6000; iter++) {
		struct zt_udp_repr r, got;
		struct zt_addr s, d;
		struct zt_view pl;
		size_t plen = (size_t)zt_rng_below(&rng, sizeof(payload) + 1);
		size_t total = 8 + plen;
		unsigned mode = (unsigned)zt_rng_below(&rng, 3);
		const uint8_t *src_pl = payload;
		uint8_t *buf = malloc(total);

		CU_ASSERT_FATAL(buf != NULL);
		r.src_port = (uint16_t)zt_rng_next(&rng);
		r.dst_port = (uint16_t)zt_rng_next(&rng);
		rand_addrs(&rng, iter & 1, &s, &d);
		rand_fill(&rng, payload, plen);
		if (mode == 1) {
			memcpy(buf + 8, payload, plen);
			src_pl = buf + 8;
		} else if (mode == 2) {
			memcpy(buf, payload, plen);
			src_pl = buf;
		}
		CU_ASSERT_EQUAL_FATAL(zt_udp_emit(&r, &s, &d, src_pl, plen, buf, total),
				      (int)total);
		CU_ASSERT_EQUAL_FATAL(zt_rd16(buf + 4), total);
		CU_ASSERT_NOT_EQUAL_FATAL(zt_rd16(buf + 6), 0);
		CU_ASSERT_EQUAL_FATAL(zt_csum_l4(&s, &d, ZT_IPPROTO_UDP, buf, total), 0);
		memset(&got, 0xa5, sizeof(got));
		CU_ASSERT_EQUAL_FATAL(zt_udp_parse(zt_view_make(buf, total), &s, &d, 0,
						   &got, &pl),
				      ZT_DROP_NONE);
		CU_ASSERT_FATAL(got.src_port == r.src_port && got.dst_port == r.dst_port);
		CU_ASSERT_FATAL(pl.len == plen && pl.data == buf + 8);
		CU_ASSERT_FATAL(memcmp(pl.data, payload, plen) == 0);
		free(buf);
	}
}

static void test_emit_errors(void)
{
	struct zt_udp_repr r = { 1, 2 };
	struct zt_addr s, d;
	struct zt_rng rng;
	uint8_t buf[64];

	zt_rng_seed(&rng, zt_test_seed(202));
	rand_addrs(&rng, true, &s, &d);
	CU_ASSERT_EQUAL(zt_udp_emit(&r, &s, &d, NULL, 0, buf, 7), -ENOSPC);
	CU_ASSERT_EQUAL(zt_udp_emit(&r, &s, &d, NULL, 0, buf, 8), 8);
	CU_ASSERT_EQUAL(zt_udp_emit(&r, &s, &d, buf, 57, buf, 64), -ENOSPC);
	CU_ASSERT_EQUAL(zt_udp_emit(&r, &s, &d, buf, 56, buf, 64), 64);
	CU_ASSERT_EQUAL(zt_udp_emit(&r, &s, &d, buf, 65528, buf, (size_t)-1),
			-EINVAL);
}

/* A payload whose checksum computes to 0 must be sent as 0xffff (a 0 would
 * read as "no checksum", and over IPv6 as a drop) and still verify. */
static void test_zero_checksum_sent_as_ffff(void)
{
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(203));
	for (int iter = 0; iter < 200; iter++) {
		struct zt_udp_repr r = { (uint16_t)zt_rng_next(&rng), 53 }, got;
		struct zt_addr s, d;
		struct zt_view pl;
		uint8_t payload[64], buf[72];
		size_t plen = 2 * (1 + (size_t)zt_rng_below(&rng, 32));
		uint16_t c;

		rand_addrs(&rng, iter & 1, &s, &d);
		rand_fill(&rng, payload, plen);
		payload[plen - 2] = 0;
		payload[plen - 1] = 0;
		CU_ASSERT_FATAL(zt_udp_emit(&r, &s, &d, payload, plen, buf,
					    sizeof(buf)) == (int)(8 + plen));
		c = zt_rd16(buf + 6);
		/* Adding the field's value as a data word makes the data sum
		 * 0xffff, so the checksum computes to 0. */
		zt_wr16(payload + plen - 2, c);
		CU_ASSERT_FATAL(zt_udp_emit(&r, &s, &d, payload, plen, buf,
					    sizeof(buf)) == (int)(8 + plen));
		CU_ASSERT_EQUAL_FATAL(zt_rd16(buf + 6), 0xffff);
		CU_ASSERT_EQUAL_FATAL(zt_udp_parse(zt_view_make(buf, 8 + plen), &s, &d,
						   0, &got, &pl),
				      ZT_DROP_NONE);
	}
}

static void test_zero_checksum_rx(void)
{
	const uint8_t a4[4] = { 10, 1, 2, 3 }, b4[4] = { 10, 3, 2, 1 };
	const uint8_t a6[16] = { 0xfe, 0x80, [15] = 1 }, b6[16] = { 0xfe, 0x80, [15] = 2 };
	struct zt_addr s4 = zt_addr_v4(a4), d4 = zt_addr_v4(b4);
	struct zt_addr s6 = zt_addr_v6(a6), d6 = zt_addr_v6(b6);
	const uint8_t data[] = "hello";
	struct zt_udp_repr got;
	struct zt_view pl;
	uint8_t buf[16];
	size_t n;

	n = build_dgram(buf, 13, data, 5, &s4, &d4, false, 0);
	CU_ASSERT_EQUAL(zt_udp_parse(zt_view_make(buf, n), &s4, &d4, 0, &got, &pl),
			ZT_DROP_NONE);
	CU_ASSERT(got.src_port == 5353 && got.dst_port == 53);
	CU_ASSERT(pl.len == 5 && memcmp(pl.data, "hello", 5) == 0);
	n = build_dgram(buf, 13, data, 5, &s6, &d6, false, 0);
	CU_ASSERT_EQUAL(zt_udp_parse(zt_view_make(buf, n), &s6, &d6, 0, &got, &pl),
			ZT_DROP_BAD_CHECKSUM);
	CU_ASSERT_EQUAL(zt_udp_parse(zt_view_make(buf, n), &s6, &d6,
				     ZT_PARSE_NO_CSUM, &got, &pl),
			ZT_DROP_NONE);
	/* A wrong non-zero checksum is a drop in both families. */
	n = build_dgram(buf, 13, data, 5, &s4, &d4, true, 0);
	buf[6] ^= 0x10;
	CU_ASSERT_EQUAL(zt_udp_parse(zt_view_make(buf, n), &s4, &d4, 0, &got, &pl),
			ZT_DROP_BAD_CHECKSUM);
}

static void test_length_field(void)
{
	const uint8_t a4[4] = { 10, 1, 2, 3 }, b4[4] = { 10, 3, 2, 1 };
	struct zt_addr s = zt_addr_v4(a4), d = zt_addr_v4(b4);
	const uint8_t data[] = "abcdefghijkl";
	struct zt_udp_repr got;
	struct zt_view pl;
	uint8_t buf[32], *c;
	size_t n;

	/* Shorter than a header: truncated, whatever it says. */
	for (size_t len = 0; len < 8; len++) {
		build_dgram(buf, 8, NULL, 0, &s, &d, true, 0);
		c = zt_test_dup_exact(buf, len);
		CU_ASSERT_EQUAL(zt_udp_parse(zt_view_make(c, len), &s, &d, 0, &got, &pl),
				ZT_DROP_TRUNCATED);
		free(c);
	}
	/* Length 0..7 and 9 over 8 bytes. */
	for (uint16_t ulen = 0; ulen <= 9; ulen++) {
		if (ulen == 8)
			continue;
		n = build_dgram(buf, ulen, NULL, 0, &s, &d, false, 0);
		c = zt_test_dup_exact(buf, n);
		CU_ASSERT_EQUAL(zt_udp_parse(zt_view_make(c, n), &s, &d,
					     ZT_PARSE_NO_CSUM, &got, &pl),
				ZT_DROP_BAD_LENGTH);
		free(c);
	}
	/* 8 over 8: an empty datagram. */
	n = build_dgram(buf, 8, NULL, 0, &s, &d, true, 0);
	c = zt_test_dup_exact(buf, n);
	CU_ASSERT_EQUAL(zt_udp_parse(zt_view_make(c, n), &s, &d, 0, &got, &pl),
			ZT_DROP_NONE);
	CU_ASSERT_EQUAL(pl.len, 0);
	free(c);
	/* 15 over 20: the last 5 are padding, ignored and not summed. */
	n = build_dgram(buf, 15, data, 12, &s, &d, true, 0);
	CU_ASSERT_EQUAL_FATAL(n, 20);
	c = zt_test_dup_exact(buf, n);
	c[19] ^= 0xff;
	CU_ASSERT_EQUAL(zt_udp_parse(zt_view_make(c, n), &s, &d, 0, &got, &pl),
			ZT_DROP_NONE);
	CU_ASSERT(pl.len == 7 && pl.data == c + 8 && memcmp(pl.data, "abcdefg", 7) == 0);
	c[14] ^= 0xff; /* last covered byte */
	CU_ASSERT_EQUAL(zt_udp_parse(zt_view_make(c, n), &s, &d, 0, &got, &pl),
			ZT_DROP_BAD_CHECKSUM);
	free(c);
	/* 0xffff over 20 bytes. */
	n = build_dgram(buf, 0xffff, data, 12, &s, &d, false, 0x1234);
	CU_ASSERT_EQUAL(zt_udp_parse(zt_view_make(buf, n), &s, &d, 0, &got, &pl),
			ZT_DROP_BAD_LENGTH);
}

static uint8_t *rand_dgram(struct zt_rng *rng, size_t max_payload,
			   struct zt_udp_repr *r, struct zt_addr *s,
			   struct zt_addr *d, size_t *total)
{
	uint8_t payload[1500];
	size_t plen = (size_t)zt_rng_below(rng, max_payload + 1);
	uint8_t *buf;

	r->src_port = (uint16_t)zt_rng_next(rng);
	r->dst_port = (uint16_t)zt_rng_next(rng);
	rand_addrs(rng, zt_rng_next(rng) & 1, s, d);
	rand_fill(rng, payload, plen);
	*total = 8 + plen;
	buf = malloc(*total);
	CU_ASSERT_FATAL(buf != NULL);
	CU_ASSERT_EQUAL_FATAL(zt_udp_emit(r, s, d, payload, plen, buf, *total),
			      (int)*total);
	return buf;
}

static void test_corruption(void)
{
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(204));
	for (int iter = 0; iter < 500; iter++) {
		struct zt_udp_repr r, got;
		struct zt_addr s, d;
		struct zt_view pl;
		size_t total;
		uint8_t *dg = rand_dgram(&rng, 200, &r, &s, &d, &total);

		for (size_t i = 0; i < total; i++) {
			uint8_t x = (uint8_t)(1 + zt_rng_below(&rng, 255));
			enum zt_drop why;

			dg[i] ^= x;
			why = zt_udp_parse(zt_view_make(dg, total), &s, &d, 0, &got, &pl);
			if (i >= 8) {
				CU_ASSERT_EQUAL_FATAL(why, ZT_DROP_BAD_CHECKSUM);
				CU_ASSERT_EQUAL_FATAL(
					zt_udp_parse(zt_view_make(dg, total), &s, &d,
						     ZT_PARSE_NO_CSUM, &got, &pl),
					ZT_DROP_NONE);
			} else if (why == ZT_DROP_NONE) {
				/* Only a corrupted header that is still a
				 * valid datagram may pass: a checksum field
				 * turned 0 over IPv4, or a shorter length
				 * whose sum happens to check out. */
				size_t ulen = zt_rd16(dg + 4);

				CU_ASSERT_FATAL(ulen >= 8 && ulen <= total);
				CU_ASSERT_FATAL((s.family == ZT_AF_INET &&
						 zt_rd16(dg + 6) == 0) ||
						zt_csum_l4(&s, &d, ZT_IPPROTO_UDP,
							   dg, ulen) == 0);
			}
			dg[i] ^= x;
		}
		d.bytes[zt_rng_below(&rng, zt_addr_len(&d))] ^= 1;
		CU_ASSERT_EQUAL_FATAL(zt_udp_parse(zt_view_make(dg, total), &s, &d,
						   0, &got, &pl),
				      ZT_DROP_BAD_CHECKSUM);
		free(dg);
	}
}

static void test_truncation(void)
{
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(205));
	for (int iter = 0; iter < 200; iter++) {
		struct zt_udp_repr r, got;
		struct zt_addr s, d;
		struct zt_view pl;
		size_t total;
		uint8_t *dg = rand_dgram(&rng, iter < 10 ? 1500 : 100, &r, &s, &d,
					 &total);

		for (size_t cut = 0; cut < total; cut++) {
			uint8_t *c = zt_test_dup_exact(dg, cut);
			struct zt_view v = zt_view_make(c, cut);
			enum zt_drop want = cut < 8 ? ZT_DROP_TRUNCATED : ZT_DROP_BAD_LENGTH;

			CU_ASSERT_EQUAL_FATAL(zt_udp_parse(v, &s, &d, 0, &got, &pl), want);
			CU_ASSERT_EQUAL_FATAL(zt_udp_parse(v, &s, &d, ZT_PARSE_NO_CSUM,
							   &got, &pl), want);
			free(c);
		}
		free(dg);
	}
}

int zt_suite_udp_wire(void)
{
	static const struct zt_test_case cases[] = {
		{ "roundtrip_random", test_roundtrip_random },
		{ "emit_errors", test_emit_errors },
		{ "zero_checksum_sent_as_ffff", test_zero_checksum_sent_as_ffff },
		{ "zero_checksum_rx", test_zero_checksum_rx },
		{ "length_field", test_length_field },
		{ "corruption", test_corruption },
		{ "truncation", test_truncation },
		{ 0 }
	};

	return zt_add_suite("udp_wire", NULL, NULL, cases);
}
