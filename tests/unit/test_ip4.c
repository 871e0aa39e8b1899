/* SPDX-License-Identifier: MIT */
/*
 * test_ip4.c - IPv4 header parse/emit: known-answer headers, seeded
 * emit->parse round trips with random options and fragment fields, checksum
 * corruption, every truncation of every generated packet (in exactly-sized
 * heap buffers so ASan catches any over-read), and hostile headers that must
 * each be refused for their own reason.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ztun/checksum.h"
#include "ztun/ip4.h"
#include "ztun/rng.h"

#define MAX_PAYLOAD 300
#define BUF_LEN (ZT_IP4_MIN_HDR + ZT_IP4_MAX_OPTS + MAX_PAYLOAD + 8)

static uint8_t rnd8(struct zt_rng *rng)
{
	return (uint8_t)zt_rng_next(rng);
}

/* Random option list: NOPs, type/length/data TLVs and sometimes an EOL
 * followed by padding (zeros or garbage), filling a multiple of 4 bytes. */
static void gen_options(struct zt_rng *rng, struct zt_ip4_repr *r)
{
	size_t cap = 4 * (size_t)zt_rng_below(rng, ZT_IP4_MAX_OPTS / 4 + 1);
	size_t i = 0;

	while (i < cap) {
		size_t rem = cap - i;
		uint64_t pick = zt_rng_below(rng, 8);

		if (pick == 0) {
			bool garbage = zt_rng_below(rng, 2);

			r->options[i++] = 0; /* EOL */
			for (; i < cap; i++)
				r->options[i] = garbage ? rnd8(rng) : 0;
		} else if (pick <= 2 || rem < 2) {
			r->options[i++] = 1; /* NOP */
		} else {
			size_t len = 2 + (size_t)zt_rng_below(rng, rem - 1);

			r->options[i] = (uint8_t)(2 + zt_rng_below(rng, 254));
			r->options[i + 1] = (uint8_t)len;
			for (size_t k = 2; k < len; k++)
				r->options[i + k] = rnd8(rng);
			i += len;
		}
	}
	r->options_len = (uint8_t)cap;
}

static void gen_repr(struct zt_rng *rng, struct zt_ip4_repr *r,
		     size_t *payload_len)
{
	size_t plen = (size_t)zt_rng_below(rng, MAX_PAYLOAD + 1);

	memset(r, 0, sizeof(*r));
	r->dscp_ecn = rnd8(rng);
	r->ident = (uint16_t)zt_rng_next(rng);
	r->dont_frag = zt_rng_below(rng, 2);
	if (zt_rng_below(rng, 2)) {
		r->more_frags = zt_rng_below(rng, 2);
		if (r->more_frags)
			plen &= ~(size_t)7;
		r->frag_offset = (uint16_t)(8 * zt_rng_below(rng, (65535 - plen) / 8 + 1));
	}
	r->ttl = rnd8(rng);
	r->protocol = rnd8(rng);
	for (int i = 0; i < 4; i++) {
		r->src[i] = rnd8(rng);
		r->dst[i] = rnd8(rng);
	}
	gen_options(rng, r);
	*payload_len = plen;
}

/* Emit @r with @plen random payload bytes into @buf; returns total length. */
static size_t build(struct zt_rng *rng, const struct zt_ip4_repr *r,
		    size_t plen, uint8_t *buf)
{
	int hl = zt_ip4_emit(r, plen, buf, BUF_LEN);

	CU_ASSERT_FATAL(hl > 0);
	CU_ASSERT_EQUAL_FATAL((size_t)hl, zt_ip4_header_len(r));
	for (size_t i = 0; i < plen; i++)
		buf[hl + i] = rnd8(rng);
	return (size_t)hl + plen;
}

static int repr_eq(const struct zt_ip4_repr *a, const struct zt_ip4_repr *b)
{
	return a->dscp_ecn == b->dscp_ecn && a->ident == b->ident &&
	       a->dont_frag == b->dont_frag && a->more_frags == b->more_frags &&
	       a->frag_offset == b->frag_offset && a->ttl == b->ttl &&
	       a->protocol == b->protocol &&
	       memcmp(a->src, b->src, 4) == 0 && memcmp(a->dst, b->dst, 4) == 0 &&
	       a->options_len == b->options_len &&
	       memcmp(a->options, b->options, a->options_len) == 0;
}

/* Recompute the header checksum of a hand-edited header. */
static void fix_csum(uint8_t *h)
{
	size_t hl = (size_t)(h[0] & 0x0f) * 4;

	zt_wr16(h + 10, 0);
	zt_wr16(h + 10, zt_csum_fold(zt_csum_add(0, h, hl)));
}

/* Parse a copy of @buf in an exactly-sized heap block, so that ASan sees
 * any read past @len. */
static enum zt_drop parse_buf(const uint8_t *buf, size_t len, unsigned flags)
{
	struct zt_ip4_repr r;
	struct zt_view pl;
	uint8_t *p = malloc(len ? len : 1);
	enum zt_drop why;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memcpy(p, buf, len);
	why = zt_ip4_parse(zt_view_make(p, len), flags, &r, &pl);
	free(p);
	return why;
}

/* RFC 791 header of a UDP datagram, checksum b861 as commonly quoted. */
static void test_known_answer(void)
{
	static const uint8_t hdr[20] = {
		0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
	};
	static const uint8_t src[4] = { 192, 168, 0, 1 }, dst[4] = { 192, 168, 0, 199 };
	uint8_t pkt[0x73 + 3] = { 0 }, out[20];
	struct zt_ip4_repr r;
	struct zt_view pl;

	memcpy(pkt, hdr, sizeof(hdr));
	CU_ASSERT_EQUAL_FATAL(zt_ip4_parse(zt_view_make(pkt, sizeof(pkt)), 0, &r, &pl),
			      ZT_DROP_NONE);
	CU_ASSERT_EQUAL(r.dscp_ecn, 0);
	CU_ASSERT_EQUAL(r.ident, 0);
	CU_ASSERT(r.dont_frag);
	CU_ASSERT(!r.more_frags);
	CU_ASSERT_EQUAL(r.frag_offset, 0);
	CU_ASSERT_EQUAL(r.ttl, 64);
	CU_ASSERT_EQUAL(r.protocol, 17);
	CU_ASSERT_EQUAL(memcmp(r.src, src, 4), 0);
	CU_ASSERT_EQUAL(memcmp(r.dst, dst, 4), 0);
	CU_ASSERT_EQUAL(r.options_len, 0);
	CU_ASSERT_PTR_EQUAL(pl.data, pkt + 20);
	CU_ASSERT_EQUAL(pl.len, 0x73 - 20); /* the 3 padding bytes are not payload */

	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 0x73 - 20, out, sizeof(out)), 20);
	CU_ASSERT_EQUAL(memcmp(out, hdr, sizeof(hdr)), 0);
}

/* A non-first fragment with a router-alert option; checksum 9e24 computed
 * independently. Offset field 0xb9 is 1480 bytes; MF set, DF clear. */
static void test_known_answer_fragment_options(void)
{
	static const uint8_t hdr[24] = {
		0x46, 0xb8, 0x00, 0x28, 0x12, 0x34, 0x20, 0xb9, 0x40, 0x06,
		0x9e, 0x24, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,
		0x94, 0x04, 0x00, 0x00,
	};
	static const uint8_t ra[4] = { 0x94, 0x04, 0x00, 0x00 };
	uint8_t pkt[40] = { 0 }, out[24];
	struct zt_ip4_repr r;
	struct zt_view pl;

	memcpy(pkt, hdr, sizeof(hdr));
	CU_ASSERT_EQUAL_FATAL(zt_ip4_parse(zt_view_make(pkt, sizeof(pkt)), 0, &r, &pl),
			      ZT_DROP_NONE);
	CU_ASSERT_EQUAL(r.dscp_ecn, 0xb8);
	CU_ASSERT_EQUAL(r.ident, 0x1234);
	CU_ASSERT(!r.dont_frag);
	CU_ASSERT(r.more_frags);
	CU_ASSERT_EQUAL(r.frag_offset, 1480);
	CU_ASSERT_EQUAL(r.protocol, 6);
	CU_ASSERT_EQUAL(r.options_len, 4);
	CU_ASSERT_EQUAL(memcmp(r.options, ra, 4), 0);
	CU_ASSERT_PTR_EQUAL(pl.data, pkt + 24);
	CU_ASSERT_EQUAL(pl.len, 16);

	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 16, out, sizeof(out)), 24);
	CU_ASSERT_EQUAL(memcmp(out, hdr, sizeof(hdr)), 0);
}

static void test_roundtrip(void)
{
	struct zt_rng rng;
	uint8_t buf[BUF_LEN];

	zt_rng_seed(&rng, zt_test_seed(0x1404));
	for (int iter = 0; iter < 20000; iter++) {
		struct zt_ip4_repr in, out;
		struct zt_view pl;
		size_t plen, total, pad;

		gen_repr(&rng, &in, &plen);
		total = build(&rng, &in, plen, buf);
		pad = (size_t)zt_rng_below(&rng, 4); /* link padding */
		for (size_t i = 0; i < pad; i++)
			buf[total + i] = rnd8(&rng);
		memset(&out, 0xa5, sizeof(out));
		CU_ASSERT_EQUAL_FATAL(zt_ip4_parse(zt_view_make(buf, total + pad),
						   0, &out, &pl), ZT_DROP_NONE);
		CU_ASSERT_FATAL(repr_eq(&in, &out));
		CU_ASSERT_PTR_EQUAL_FATAL(pl.data, buf + zt_ip4_header_len(&in));
		CU_ASSERT_EQUAL_FATAL(pl.len, plen);
		CU_ASSERT_EQUAL_FATAL(zt_rd16(buf + 2), total);
	}
}

/* One flipped bit in any field that does not steer the parse (TOS, total
 * length's neighbours, TTL, protocol, checksum, addresses) is caught. */
static void test_checksum_corruption(void)
{
	static const size_t safe[] = { 1, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15,
				       16, 17, 18, 19 };
	struct zt_rng rng;
	uint8_t buf[BUF_LEN];

	zt_rng_seed(&rng, zt_test_seed(0x1405));
	for (int iter = 0; iter < 5000; iter++) {
		struct zt_ip4_repr in;
		size_t plen, total, at;

		gen_repr(&rng, &in, &plen);
		total = build(&rng, &in, plen, buf);
		CU_ASSERT_EQUAL_FATAL(parse_buf(buf, total, 0), ZT_DROP_NONE);
		at = safe[zt_rng_below(&rng, sizeof(safe) / sizeof(safe[0]))];
		buf[at] ^= (uint8_t)(1u << zt_rng_below(&rng, 8));
		CU_ASSERT_EQUAL_FATAL(parse_buf(buf, total, 0), ZT_DROP_BAD_CHECKSUM);
		CU_ASSERT_EQUAL_FATAL(parse_buf(buf, total, ZT_PARSE_NO_CSUM),
				      ZT_DROP_NONE);
	}
}

static void test_truncation(void)
{
	struct zt_rng rng;
	uint8_t buf[BUF_LEN];

	zt_rng_seed(&rng, zt_test_seed(0x1406));
	for (int iter = 0; iter < 400; iter++) {
		struct zt_ip4_repr in;
		size_t plen, total, hl;

		gen_repr(&rng, &in, &plen);
		total = build(&rng, &in, plen, buf);
		hl = zt_ip4_header_len(&in);
		for (size_t cut = 0; cut < total; cut++) {
			uint8_t *p = malloc(cut ? cut : 1);
			struct zt_ip4_repr out, sentinel;
			struct zt_view pl = { NULL, 12345 };
			enum zt_drop want, got;

			CU_ASSERT_PTR_NOT_NULL_FATAL(p);
			memcpy(p, buf, cut);
			memset(&out, 0x5a, sizeof(out));
			memcpy(&sentinel, &out, sizeof(out));
			if (cut < ZT_IP4_MIN_HDR)
				want = ZT_DROP_TRUNCATED;
			else if (cut < hl)
				want = ZT_DROP_BAD_IHL;
			else
				want = ZT_DROP_TRUNCATED;
			got = zt_ip4_parse(zt_view_make(p, cut), iter & 1 ? ZT_PARSE_NO_CSUM : 0,
					   &out, &pl);
			free(p);
			CU_ASSERT_EQUAL_FATAL(got, want);
			/* Refusals leave the outputs alone. */
			CU_ASSERT_FATAL(memcmp(&out, &sentinel, sizeof(out)) == 0);
			CU_ASSERT_FATAL(pl.data == NULL && pl.len == 12345);
		}
	}
}

/* A 20-byte header for 20 payload bytes (so 40 bytes in all), options none. */
static size_t base_packet(uint8_t *buf, size_t optlen)
{
	struct zt_ip4_repr r;

	memset(&r, 0, sizeof(r));
	r.ttl = 64;
	r.protocol = 17;
	r.src[0] = 10;
	r.dst[0] = 10;
	r.dst[3] = 1;
	r.options_len = (uint8_t)optlen;
	memset(r.options, 1, optlen); /* NOPs */
	memset(buf, 0, BUF_LEN);
	return (size_t)zt_ip4_emit(&r, 20, buf, BUF_LEN) + 20;
}

static void test_hostile(void)
{
	uint8_t buf[BUF_LEN];
	size_t n;

	n = base_packet(buf, 0);
	CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_NONE);

	/* Version 5 (and 6: the IPv6 parser's business, not ours). */
	buf[0] = 0x55;
	fix_csum(buf);
	CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_BAD_VERSION);
	buf[0] = 0x65;
	CU_ASSERT_EQUAL(parse_buf(buf, n, ZT_PARSE_NO_CSUM), ZT_DROP_BAD_VERSION);

	/* IHL 4: shorter than the fixed header. */
	n = base_packet(buf, 0);
	buf[0] = 0x44;
	CU_ASSERT_EQUAL(parse_buf(buf, n, ZT_PARSE_NO_CSUM), ZT_DROP_BAD_IHL);
	buf[0] = 0x40;
	CU_ASSERT_EQUAL(parse_buf(buf, n, ZT_PARSE_NO_CSUM), ZT_DROP_BAD_IHL);

	/* IHL 15 (60 bytes) in a 40-byte buffer. */
	n = base_packet(buf, 0);
	buf[0] = 0x4f;
	CU_ASSERT_EQUAL(n, 40);
	CU_ASSERT_EQUAL(parse_buf(buf, n, ZT_PARSE_NO_CSUM), ZT_DROP_BAD_IHL);

	/* Total length smaller than the header (24 bytes with options). */
	n = base_packet(buf, 4);
	zt_wr16(buf + 2, 22);
	fix_csum(buf);
	CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_BAD_TOTAL_LEN);
	zt_wr16(buf + 2, 0);
	fix_csum(buf);
	CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_BAD_TOTAL_LEN);
	zt_wr16(buf + 2, 24); /* header only: fine */
	fix_csum(buf);
	CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_NONE);

	/* Total length past the buffer. */
	n = base_packet(buf, 0);
	zt_wr16(buf + 2, (uint16_t)(n + 1));
	fix_csum(buf);
	CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_TRUNCATED);
	zt_wr16(buf + 2, 0xffff);
	fix_csum(buf);
	CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_TRUNCATED);

	/* Option length 0, 1, overflowing, and a type with no length byte. */
	{
		static const uint8_t bad[][8] = {
			{ 0x07, 0x00, 0, 0, 0, 0, 0, 0 },
			{ 0x07, 0x01, 0, 0, 0, 0, 0, 0 },
			{ 0x07, 0x09, 0, 0, 0, 0, 0, 0 },
			{ 0x01, 0x01, 0x44, 0x07, 0, 0, 0, 0 },
			{ 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x83 },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			n = base_packet(buf, 8);
			memcpy(buf + 20, bad[i], 8);
			fix_csum(buf);
			CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_BAD_OPTION_LEN);
			CU_ASSERT_EQUAL(parse_buf(buf, n, ZT_PARSE_NO_CSUM),
					ZT_DROP_BAD_OPTION_LEN);
		}
	}
	/* A type with no room for its length at the very end of a header-only
	 * datagram: the length must not be read from past the buffer. */
	n = base_packet(buf, 4);
	memcpy(buf + 20, (const uint8_t[]){ 0x01, 0x01, 0x01, 0x83 }, 4);
	zt_wr16(buf + 2, 24);
	fix_csum(buf);
	CU_ASSERT_EQUAL(parse_buf(buf, 24, 0), ZT_DROP_BAD_OPTION_LEN);

	/* Garbage after EOL is padding; an option filling the list exactly is fine. */
	{
		static const uint8_t good[][8] = {
			{ 0x00, 0x07, 0x00, 0xff, 0x01, 0x83, 0, 0 },
			{ 0x07, 0x08, 0, 0, 0, 0, 0, 0 },
			{ 0x01, 0x44, 0x02, 0x01, 0x83, 0x03, 0x00, 0x00 },
		};
		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			n = base_packet(buf, 8);
			memcpy(buf + 20, good[i], 8);
			fix_csum(buf);
			CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_NONE);
		}
	}

	/* The reserved flag bit is accepted and ignored. */
	n = base_packet(buf, 0);
	buf[6] |= 0x80;
	fix_csum(buf);
	CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_NONE);

	/* Fragment ending past 65535: offset 65528 with 20 bytes. */
	n = base_packet(buf, 0);
	zt_wr16(buf + 6, 65528 / 8);
	fix_csum(buf);
	CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_BAD_FRAGMENT);
	/* ... but 65512 + 20 = 65532 fits (the last fragment). */
	zt_wr16(buf + 6, 65512 / 8);
	fix_csum(buf);
	CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_NONE);
	/* The exact boundary: 65520 + 16 = 65536 does not, 65520 + 15 does. */
	zt_wr16(buf + 6, 65520 / 8);
	zt_wr16(buf + 2, 36);
	fix_csum(buf);
	CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_BAD_FRAGMENT);
	zt_wr16(buf + 2, 35);
	fix_csum(buf);
	CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_NONE);
	zt_wr16(buf + 2, 40);
	/* A non-last fragment of 20 bytes cannot be placed. */
	zt_wr16(buf + 6, 0x2000);
	fix_csum(buf);
	CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_BAD_FRAGMENT);
	zt_wr16(buf + 2, 36); /* 16 bytes: fine */
	fix_csum(buf);
	CU_ASSERT_EQUAL(parse_buf(buf, n, 0), ZT_DROP_NONE);
}

static void test_emit_errors(void)
{
	struct zt_ip4_repr r;
	uint8_t buf[BUF_LEN];

	memset(&r, 0, sizeof(r));
	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 0, buf, 19), -ENOSPC);
	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 0, buf, 20), 20);
	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 65535 - 20, buf, 20), 20);
	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 65535 - 19, buf, 20), -EINVAL);
	CU_ASSERT_EQUAL(zt_ip4_emit(&r, (size_t)-1, buf, 20), -EINVAL);
	r.options_len = 3;
	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 0, buf, BUF_LEN), -EINVAL);
	r.options_len = 44;
	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 0, buf, BUF_LEN), -EINVAL);
	r.options_len = 40;
	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 0, buf, 59), -ENOSPC);
	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 0, buf, 60), 60);
	r.options_len = 0;
	r.frag_offset = 12;
	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 0, buf, BUF_LEN), -EINVAL);
	r.frag_offset = 65528;
	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 7, buf, BUF_LEN), 20);
	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 8, buf, BUF_LEN), -EINVAL);
	r.frag_offset = 8;
	r.more_frags = true;
	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 12, buf, BUF_LEN), -EINVAL);
	CU_ASSERT_EQUAL(zt_ip4_emit(&r, 16, buf, BUF_LEN), 20);
}

int zt_suite_ip4(void)
{
	static const struct zt_test_case cases[] = {
		{ "known_answer", test_known_answer },
		{ "known_answer_fragment_options", test_known_answer_fragment_options },
		{ "roundtrip", test_roundtrip },
		{ "checksum_corruption", test_checksum_corruption },
		{ "truncation", test_truncation },
		{ "hostile", test_hostile },
		{ "emit_errors", test_emit_errors },
		{ 0 }
	};

	return zt_add_suite("ip4", NULL, NULL, cases);
}
