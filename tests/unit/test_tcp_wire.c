/* SPDX-License-Identifier: MIT */
/*
 * test_tcp_wire.c - TCP header/options: seeded emit->parse round trips over
 * every option combination, hand-written real-world option layouts, hostile
 * option and data-offset values, checksum corruption and truncation at every
 * length (each parse over an exactly-sized heap copy, so ASan sees over-reads).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ztun/checksum.h"
#include "ztun/ip4.h"
#include "ztun/ip6.h"
#include "ztun/rng.h"
#include "ztun/tcp_wire.h"

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


/*
 * A random repr for option combination @combo (0..79: bit 0 MSS, bit 1 window
 * scale, bit 2 SACK-permitted, bit 3 timestamps, combo / 16 SACK blocks).
 * Fields of absent options get garbage: emit must ignore them.
 */
static void rand_repr(struct zt_rng *rng, unsigned combo, struct zt_tcp_repr *r)
{
	rand_fill(rng, (uint8_t *)r, sizeof(*r));
	r->src_port = (uint16_t)zt_rng_next(rng);
	r->dst_port = (uint16_t)zt_rng_next(rng);
	r->seq = zt_rng_u32(rng);
	r->ack = zt_rng_u32(rng);
	r->flags = (uint8_t)zt_rng_next(rng);
	r->window = (uint16_t)zt_rng_next(rng);
	r->urgent = (uint16_t)zt_rng_next(rng);
	r->has_mss = combo & 1;
	r->has_wscale = (combo >> 1) & 1;
	r->sack_permitted = (combo >> 2) & 1;
	r->has_ts = (combo >> 3) & 1;
	r->sack_count = (uint8_t)(combo / 16);
}

/* Option bytes the Linux layout needs for @r (from the RFCs' sizes plus the
 * NOPs Linux puts in front of each to keep 4-byte alignment). */
static size_t linux_opt_len(const struct zt_tcp_repr *r)
{
	size_t n = 0;

	n += r->has_mss ? 4 : 0;                                 /* 02 04 mss */
	n += r->has_ts ? 2 + 10 : (r->sack_permitted ? 2 + 2 : 0); /* [04 02|01 01] 08 0a */
	n += r->has_wscale ? 1 + 3 : 0;                          /* 01 03 03 ws */
	n += r->sack_count ? 2 + 2 + 8 * (size_t)r->sack_count : 0;
	return n;
}

/* Field-by-field comparison of what was sent (@a) and what came back (@b). */
static bool repr_eq(const struct zt_tcp_repr *a, const struct zt_tcp_repr *b)
{
	if (a->src_port != b->src_port || a->dst_port != b->dst_port ||
	    a->seq != b->seq || a->ack != b->ack || a->flags != b->flags ||
	    a->window != b->window || a->urgent != b->urgent)
		return false;
	if (a->has_mss != b->has_mss || (a->has_mss && a->mss != b->mss))
		return false;
	if (a->has_wscale != b->has_wscale ||
	    (a->has_wscale && a->wscale != b->wscale))
		return false;
	if (a->sack_permitted != b->sack_permitted ||
	    a->sack_count != b->sack_count)
		return false;
	for (unsigned i = 0; i < a->sack_count; i++)
		if (a->sack[i].left != b->sack[i].left ||
		    a->sack[i].right != b->sack[i].right)
			return false;
	if (a->has_ts != b->has_ts ||
	    (a->has_ts && (a->ts_val != b->ts_val || a->ts_ecr != b->ts_ecr)))
		return false;
	return true;
}

static void test_roundtrip_random(void)
{
	struct zt_rng rng;
	uint8_t payload[1500];
	unsigned fitted = 0, refused = 0;

	zt_rng_seed(&rng, zt_test_seed(101));
	for (unsigned iter = 0; fitted < 6000; iter++) {
		struct zt_tcp_repr r, got;
		struct zt_addr s, d;
		struct zt_view pl;
		size_t plen = (size_t)zt_rng_below(&rng, sizeof(payload) + 1);
		size_t olen, hl, total;
		unsigned mode = (unsigned)zt_rng_below(&rng, 3);
		uint8_t *buf;
		const uint8_t *src_pl;
		int n;

		rand_repr(&rng, iter % 80, &r);
		rand_addrs(&rng, iter & 1, &s, &d);
		rand_fill(&rng, payload, plen);
		olen = linux_opt_len(&r);
		if (olen > ZT_TCP_MAX_OPTS) {
			uint8_t small[64];

			CU_ASSERT_EQUAL_FATAL(zt_tcp_header_len(&r), -EMSGSIZE);
			CU_ASSERT_EQUAL_FATAL(zt_tcp_emit(&r, &s, &d, payload, plen,
							  small, sizeof(small)),
					      -EMSGSIZE);
			refused++;
			continue;
		}
		hl = 20 + olen;
		total = hl + plen;
		CU_ASSERT_EQUAL_FATAL(zt_tcp_header_len(&r), (int)hl);
		buf = malloc(total);
		CU_ASSERT_FATAL(buf != NULL);
		/* 0: separate buffer; 1: already in place; 2: overlapping. */
		if (mode == 1) {
			memcpy(buf + hl, payload, plen);
			src_pl = buf + hl;
		} else if (mode == 2) {
			memcpy(buf, payload, plen);
			src_pl = buf;
		} else {
			src_pl = payload;
		}
		n = zt_tcp_emit(&r, &s, &d, src_pl, plen, buf, total);
		CU_ASSERT_EQUAL_FATAL(n, (int)total);
		CU_ASSERT_EQUAL_FATAL(buf[12] >> 4, hl / 4);
		CU_ASSERT_EQUAL_FATAL(zt_csum_l4(&s, &d, ZT_IPPROTO_TCP, buf, total), 0);

		CU_ASSERT_EQUAL_FATAL(zt_tcp_parse(zt_view_make(buf, total), &s, &d,
						   0, &got, &pl),
				      ZT_DROP_NONE);
		CU_ASSERT_FATAL(repr_eq(&r, &got));
		CU_ASSERT_EQUAL_FATAL(pl.len, plen);
		CU_ASSERT_FATAL(pl.data == buf + hl);
		CU_ASSERT_FATAL(memcmp(pl.data, payload, plen) == 0);
		free(buf);
		fitted++;
	}
	CU_ASSERT(refused > 0);
}

static void test_emit_errors(void)
{
	struct zt_tcp_repr r;
	struct zt_addr s, d;
	uint8_t buf[128];
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(102));
	rand_addrs(&rng, false, &s, &d);
	rand_repr(&rng, 1 | 2 | 4 | 8, &r); /* 4 + 12 + 4 = 20 bytes */
	CU_ASSERT_EQUAL(zt_tcp_header_len(&r), 40);
	CU_ASSERT_EQUAL(zt_tcp_emit(&r, &s, &d, buf, 10, buf, 49), -ENOSPC);
	CU_ASSERT_EQUAL(zt_tcp_emit(&r, &s, &d, NULL, 0, buf, 39), -ENOSPC);
	CU_ASSERT_EQUAL(zt_tcp_emit(&r, &s, &d, NULL, 0, buf, 40), 40);
	CU_ASSERT_EQUAL(zt_tcp_emit(&r, &s, &d, buf, 65535 - 40 + 1, buf,
				    sizeof(buf)), -EINVAL);
	r.sack_count = 5; /* more blocks than exist: must not be read */
	CU_ASSERT_EQUAL(zt_tcp_header_len(&r), -EMSGSIZE);
	r.sack_count = 255;
	CU_ASSERT_EQUAL(zt_tcp_emit(&r, &s, &d, NULL, 0, buf, sizeof(buf)),
			-EMSGSIZE);
	/* The largest fitting set: timestamps + 3 SACK blocks = 40 bytes. */
	rand_repr(&rng, 8 | 4 | 3 * 16, &r);
	CU_ASSERT_EQUAL(zt_tcp_header_len(&r), 60);
	rand_repr(&rng, 1 | 8 | 3 * 16, &r);
	CU_ASSERT_EQUAL(zt_tcp_header_len(&r), -EMSGSIZE);
}

/* The option bytes Linux sends, as captured, against what emit writes. */
static void test_emit_linux_layout(void)
{
	static const uint8_t syn[] = {
		0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a,
		0x9a, 0xbc, 0xde, 0xf0, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x03, 0x03, 0x07,
	};
	static const uint8_t ts_only[] = {
		0x01, 0x01, 0x08, 0x0a, 0x11, 0x22, 0x33, 0x44,
		0x55, 0x66, 0x77, 0x88,
	};
	static const uint8_t sackok_ws[] = {
		0x02, 0x04, 0x05, 0xa0, 0x01, 0x01, 0x04, 0x02,
		0x01, 0x03, 0x03, 0x0e,
	};
	static const uint8_t ts_sack[] = {
		0x01, 0x01, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01,
		0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x05, 0x12,
		0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x20, 0x00,
		0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x40, 0x00,
	};
	struct zt_tcp_repr r;
	struct zt_addr s, d;
	uint8_t buf[60];
	const uint8_t a4[4] = { 10, 0, 0, 1 }, b4[4] = { 10, 0, 0, 2 };

	s = zt_addr_v4(a4);
	d = zt_addr_v4(b4);

	memset(&r, 0, sizeof(r));
	r.flags = ZT_TCP_SYN;
	r.has_mss = true;
	r.mss = 1460;
	r.sack_permitted = true;
	r.has_ts = true;
	r.ts_val = 0x9abcdef0;
	r.has_wscale = true;
	r.wscale = 7;
	CU_ASSERT_EQUAL(zt_tcp_emit(&r, &s, &d, NULL, 0, buf, sizeof(buf)), 40);
	CU_ASSERT(memcmp(buf + 20, syn, sizeof(syn)) == 0);

	memset(&r, 0, sizeof(r));
	r.has_ts = true;
	r.ts_val = 0x11223344;
	r.ts_ecr = 0x55667788;
	CU_ASSERT_EQUAL(zt_tcp_emit(&r, &s, &d, NULL, 0, buf, sizeof(buf)), 32);
	CU_ASSERT(memcmp(buf + 20, ts_only, sizeof(ts_only)) == 0);

	memset(&r, 0, sizeof(r));
	r.has_mss = true;
	r.mss = 1440;
	r.sack_permitted = true;
	r.has_wscale = true;
	r.wscale = 14;
	CU_ASSERT_EQUAL(zt_tcp_emit(&r, &s, &d, NULL, 0, buf, sizeof(buf)), 32);
	CU_ASSERT(memcmp(buf + 20, sackok_ws, sizeof(sackok_ws)) == 0);

	memset(&r, 0, sizeof(r));
	r.has_ts = true;
	r.ts_val = 1;
	r.ts_ecr = 2;
	r.sack_count = 2;
	r.sack[0].left = 0x1000;
	r.sack[0].right = 0x2000;
	r.sack[1].left = 0x3000;
	r.sack[1].right = 0x4000;
	CU_ASSERT_EQUAL(zt_tcp_emit(&r, &s, &d, NULL, 0, buf, sizeof(buf)), 52);
	CU_ASSERT(memcmp(buf + 20, ts_sack, sizeof(ts_sack)) == 0);
}

/* Build a segment around option bytes @opt (@olen) into @buf; data offset
 * @doff (< 0: from olen, which must then be a multiple of 4 up to 40);
 * correct checksum. */
static size_t build_seg(uint8_t *buf, const uint8_t *opt, size_t olen,
			int doff, const uint8_t *data, size_t dlen,
			const struct zt_addr *s, const struct zt_addr *d)
{
	size_t total = 20 + olen + dlen;

	memset(buf, 0, 20);
	buf[0] = 0x9c; /* ports 40000 -> 443 */
	buf[1] = 0x40;
	buf[2] = 0x01;
	buf[3] = 0xbb;
	buf[4] = 0x12; /* seq */
	buf[8] = 0x34; /* ack */
	if (doff < 0) {
		CU_ASSERT_FATAL(olen % 4 == 0 && olen <= 40);
		doff = (int)(20 + olen) / 4;
	}
	buf[12] = (uint8_t)(doff << 4);
	buf[13] = ZT_TCP_SYN | ZT_TCP_ACK;
	buf[14] = 0xff;
	buf[15] = 0xff;
	if (olen)
		memcpy(buf + 20, opt, olen);
	if (dlen)
		memcpy(buf + 20 + olen, data, dlen);
	zt_wr16(buf + 16, zt_csum_l4(s, d, ZT_IPPROTO_TCP, buf, total));
	return total;
}

static enum zt_drop parse_opts(const uint8_t *opt, size_t olen,
			       struct zt_tcp_repr *out)
{
	const uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	const uint8_t b6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	struct zt_addr s = zt_addr_v6(a6), d = zt_addr_v6(b6);
	uint8_t seg[80];
	size_t n = build_seg(seg, opt, olen, -1, NULL, 0, &s, &d);
	uint8_t *c = zt_test_dup_exact(seg, n);
	struct zt_view pl;
	enum zt_drop why = zt_tcp_parse(zt_view_make(c, n), &s, &d, 0, out, &pl);

	if (why == ZT_DROP_NONE)
		CU_ASSERT(pl.len == 0);
	free(c);
	return why;
}

static void test_parse_real_layouts(void)
{
	/* Linux SYN. */
	static const uint8_t syn[] = {
		0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a,
		0x00, 0x2b, 0x3c, 0x4d, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x03, 0x03, 0x07,
	};
	/* Windows-style SYN: MSS, NOP, WS, NOP, NOP, SACKOK. */
	static const uint8_t win[] = {
		0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x08,
		0x01, 0x01, 0x04, 0x02,
	};
	/* Linux ACK carrying two SACK blocks after the timestamps. */
	static const uint8_t sack[] = {
		0x01, 0x01, 0x08, 0x0a, 0xaa, 0xbb, 0xcc, 0xdd,
		0x11, 0x22, 0x33, 0x44, 0x01, 0x01, 0x05, 0x12,
		0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x20, 0x00,
		0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00,
	};
	struct zt_tcp_repr r;

	CU_ASSERT_EQUAL_FATAL(parse_opts(syn, sizeof(syn), &r), ZT_DROP_NONE);
	CU_ASSERT(r.src_port == 40000 && r.dst_port == 443);
	CU_ASSERT(r.seq == 0x12000000 && r.ack == 0x34000000);
	CU_ASSERT(r.flags == (ZT_TCP_SYN | ZT_TCP_ACK) && r.window == 0xffff);
	CU_ASSERT(r.has_mss && r.mss == 1460);
	CU_ASSERT(r.sack_permitted);
	CU_ASSERT(r.has_ts && r.ts_val == 0x002b3c4d && r.ts_ecr == 0);
	CU_ASSERT(r.has_wscale && r.wscale == 7);
	CU_ASSERT(r.sack_count == 0);

	CU_ASSERT_EQUAL_FATAL(parse_opts(win, sizeof(win), &r), ZT_DROP_NONE);
	CU_ASSERT(r.has_mss && r.mss == 1460 && r.has_wscale && r.wscale == 8);
	CU_ASSERT(r.sack_permitted && !r.has_ts && r.sack_count == 0);

	CU_ASSERT_EQUAL_FATAL(parse_opts(sack, sizeof(sack), &r), ZT_DROP_NONE);
	CU_ASSERT(!r.has_mss && !r.has_wscale && !r.sack_permitted);
	CU_ASSERT(r.has_ts && r.ts_val == 0xaabbccdd && r.ts_ecr == 0x11223344);
	CU_ASSERT_EQUAL(r.sack_count, 2);
	CU_ASSERT(r.sack[0].left == 0x1000 && r.sack[0].right == 0x2000);
	CU_ASSERT(r.sack[1].left == 0xffffff00 && r.sack[1].right == 0x100);
}

static void test_parse_unknown_repeated_eol(void)
{
	/* MPTCP (30, len 12), TFO cookie request (34, len 2), experimental
	 * (254, len 6), then MSS: the unknown ones are skipped by length. */
	static const uint8_t unknown[] = {
		0x1e, 0x0c, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8,
		0x22, 0x02, 0xfe, 0x06, 0x02, 0x04, 0x05, 0x78,
		0x02, 0x04, 0x05, 0x78,
	};
	/* Repeated options: the last one wins. */
	static const uint8_t repeated[] = {
		0x02, 0x04, 0x05, 0xb4, 0x02, 0x04, 0x02, 0x18,
		0x03, 0x03, 0x02, 0x03, 0x03, 0x0e, 0x01, 0x01,
	};
	static const uint8_t repeated_sack[] = {
		0x05, 0x12, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
		0x05, 0x0a, 0, 0, 0, 9, 0, 0, 0, 10, 0x01, 0x01, 0x01, 0x01,
	};
	/* EOL in the middle: what follows is padding, even if it looks like a
	 * malformed option (a timestamps kind with length 3). */
	static const uint8_t eol_mid[] = {
		0x02, 0x04, 0x05, 0xb4, 0x00, 0x08, 0x03, 0xff,
	};
	static const uint8_t eol_first[] = { 0x00, 0x02, 0x04, 0x05 };
	static const uint8_t nops[] = { 1, 1, 1, 1, 1, 1, 1, 1 };
	struct zt_tcp_repr r;

	CU_ASSERT_EQUAL_FATAL(parse_opts(unknown, sizeof(unknown), &r), ZT_DROP_NONE);
	CU_ASSERT(r.has_mss && r.mss == 1400);
	CU_ASSERT(!r.has_wscale && !r.sack_permitted && !r.has_ts && !r.sack_count);

	CU_ASSERT_EQUAL_FATAL(parse_opts(repeated, sizeof(repeated), &r), ZT_DROP_NONE);
	CU_ASSERT(r.has_mss && r.mss == 536);
	CU_ASSERT(r.has_wscale && r.wscale == 14);
	CU_ASSERT_EQUAL(r.sack_count, 0);
	CU_ASSERT_EQUAL_FATAL(parse_opts(repeated_sack, sizeof(repeated_sack), &r),
			      ZT_DROP_NONE);
	CU_ASSERT(!r.has_mss && !r.has_wscale);
	CU_ASSERT_EQUAL(r.sack_count, 1);
	CU_ASSERT(r.sack[0].left == 9 && r.sack[0].right == 10);

	CU_ASSERT_EQUAL_FATAL(parse_opts(eol_mid, sizeof(eol_mid), &r), ZT_DROP_NONE);
	CU_ASSERT(r.has_mss && r.mss == 1460 && !r.has_ts && !r.has_wscale);

	CU_ASSERT_EQUAL_FATAL(parse_opts(eol_first, sizeof(eol_first), &r), ZT_DROP_NONE);
	CU_ASSERT(!r.has_mss);

	CU_ASSERT_EQUAL_FATAL(parse_opts(nops, sizeof(nops), &r), ZT_DROP_NONE);
	CU_ASSERT(!r.has_mss && !r.has_ts);
}

static void test_parse_hostile_options(void)
{
	static const struct {
		uint8_t len;
		uint8_t b[40];
	} bad[] = {
		{ 4, { 0x1e, 0x00, 0x01, 0x01 } },       /* unknown, len 0 */
		{ 4, { 0x1e, 0x01, 0x01, 0x01 } },       /* unknown, len 1 */
		{ 4, { 0x1e, 0x05, 0x01, 0x01 } },       /* runs past header */
		{ 4, { 0x01, 0x01, 0x01, 0x1e } },       /* no room for len byte */
		{ 4, { 0x01, 0x01, 0x01, 0x02 } },       /* MSS kind at the end */
		{ 4, { 0x02, 0x00, 0x05, 0xb4 } },       /* MSS len 0 */
		{ 4, { 0x02, 0x03, 0x05, 0x01 } },       /* MSS len 3 */
		{ 8, { 0x02, 0x05, 0x05, 0xb4, 0x00 } }, /* MSS len 5 */
		{ 4, { 0x03, 0x04, 0x07, 0x01 } },       /* WS len 4 */
		{ 4, { 0x03, 0x02, 0x01, 0x01 } },       /* WS len 2 */
		{ 4, { 0x04, 0x03, 0x00, 0x01 } },       /* SACKOK len 3 */
		{ 8, { 0x08, 0x08, 1, 2, 3, 4, 5, 6 } }, /* TS len 8 */
		{ 12, { 0x08, 0x0b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0 } }, /* TS 11 */
		{ 12, { 0x05, 0x0b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0 } }, /* SACK 11 */
		{ 4, { 0x05, 0x02, 0x01, 0x01 } },       /* SACK len 2: 0 blocks */
		{ 12, { 0x05, 0x12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0 } }, /* SACK 18 past */
		{ 40, { 0x05, 0x2a } },                   /* SACK 42: 5 blocks, past */
		{ 40, { 0x01, 0x01, 0x05, 0x26 } },       /* SACK 38: not 2+8n */
		{ 8, { 0x02, 0x04, 0x05, 0xb4, 0xfe, 0xff, 0, 0 } }, /* 255 past */
	};
	struct zt_tcp_repr r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum zt_drop why = parse_opts(bad[i].b, bad[i].len, &r);

		CU_ASSERT_EQUAL(why, ZT_DROP_BAD_OPTION_LEN);
		if (why != ZT_DROP_BAD_OPTION_LEN)
			fprintf(stderr, "\n  hostile option case %zu: %s\n", i,
				zt_drop_name(why));
	}
}

static void test_parse_data_offset(void)
{
	const uint8_t a4[4] = { 192, 0, 2, 1 }, b4[4] = { 198, 51, 100, 7 };
	struct zt_addr s = zt_addr_v4(a4), d = zt_addr_v4(b4);
	uint8_t seg[80], nops[40], data[39];
	struct zt_tcp_repr r;
	struct zt_view pl;
	size_t n;

	memset(nops, 1, sizeof(nops));
	memset(data, 0x5a, sizeof(data));
	for (int doff = 0; doff < 5; doff++) {
		n = build_seg(seg, NULL, 0, doff, data, 4, &s, &d);
		CU_ASSERT_EQUAL(zt_tcp_parse(zt_view_make(seg, n), &s, &d, 0, &r, &pl),
				ZT_DROP_BAD_DATA_OFFSET);
	}
	/* Offset 15 (60 bytes) over 20, 24 and 59 bytes. */
	n = build_seg(seg, NULL, 0, 15, NULL, 0, &s, &d);
	CU_ASSERT_EQUAL(zt_tcp_parse(zt_view_make(seg, n), &s, &d, 0, &r, &pl),
			ZT_DROP_BAD_DATA_OFFSET);
	n = build_seg(seg, nops, 4, 15, NULL, 0, &s, &d);
	CU_ASSERT_EQUAL(zt_tcp_parse(zt_view_make(seg, n), &s, &d, 0, &r, &pl),
			ZT_DROP_BAD_DATA_OFFSET);
	n = build_seg(seg, nops, 39, 15, NULL, 0, &s, &d);
	CU_ASSERT_EQUAL(zt_tcp_parse(zt_view_make(seg, n), &s, &d, 0, &r, &pl),
			ZT_DROP_BAD_DATA_OFFSET);
	/* ...and over exactly 60: fine, 40 NOPs and no data. */
	n = build_seg(seg, nops, 40, 15, NULL, 0, &s, &d);
	CU_ASSERT_EQUAL(zt_tcp_parse(zt_view_make(seg, n), &s, &d, 0, &r, &pl),
			ZT_DROP_NONE);
	CU_ASSERT_EQUAL(pl.len, 0);
	/* Offset 6 with data: the data is what follows the 24 bytes. */
	n = build_seg(seg, nops, 4, 6, data, 39, &s, &d);
	CU_ASSERT_EQUAL(zt_tcp_parse(zt_view_make(seg, n), &s, &d, 0, &r, &pl),
			ZT_DROP_NONE);
	CU_ASSERT(pl.len == 39 && pl.data == seg + 24);
	/* Shorter than the fixed header. */
	for (size_t len = 0; len < 20; len++)
		CU_ASSERT_EQUAL(zt_tcp_parse(zt_view_make(seg, len), &s, &d, 0, &r, &pl),
				ZT_DROP_TRUNCATED);
}

/* A random segment whose options fit, emitted into an exact heap buffer. */
static uint8_t *rand_segment(struct zt_rng *rng, size_t max_payload,
			     struct zt_tcp_repr *r, struct zt_addr *s,
			     struct zt_addr *d, size_t *total, size_t *hl)
{
	uint8_t payload[1500];
	size_t plen = (size_t)zt_rng_below(rng, max_payload + 1);
	uint8_t *buf;

	do
		rand_repr(rng, (unsigned)zt_rng_below(rng, 80), r);
	while (linux_opt_len(r) > ZT_TCP_MAX_OPTS);
	rand_addrs(rng, zt_rng_next(rng) & 1, s, d);
	rand_fill(rng, payload, plen);
	*hl = (size_t)zt_tcp_header_len(r);
	*total = *hl + plen;
	buf = malloc(*total);
	CU_ASSERT_FATAL(buf != NULL);
	CU_ASSERT_EQUAL_FATAL(zt_tcp_emit(r, s, d, payload, plen, buf, *total),
			      (int)*total);
	return buf;
}

static void test_checksum_corruption(void)
{
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(103));
	for (int iter = 0; iter < 300; iter++) {
		struct zt_tcp_repr r, got;
		struct zt_addr s, d;
		struct zt_view pl;
		size_t total, hl;
		uint8_t *seg = rand_segment(&rng, 200, &r, &s, &d, &total, &hl);

		for (size_t i = 0; i < total; i++) {
			uint8_t x = (uint8_t)(1 + zt_rng_below(&rng, 255));
			enum zt_drop why;

			seg[i] ^= x;
			why = zt_tcp_parse(zt_view_make(seg, total), &s, &d, 0, &got, &pl);
			/* A one-byte change always moves a one's-complement
			 * sum, so nothing may get through. */
			CU_ASSERT_NOT_EQUAL_FATAL(why, ZT_DROP_NONE);
			if (i >= hl) {
				CU_ASSERT_EQUAL_FATAL(why, ZT_DROP_BAD_CHECKSUM);
				CU_ASSERT_EQUAL_FATAL(
					zt_tcp_parse(zt_view_make(seg, total), &s, &d,
						     ZT_PARSE_NO_CSUM, &got, &pl),
					ZT_DROP_NONE);
				CU_ASSERT_FATAL(repr_eq(&r, &got));
			}
			seg[i] ^= x;
		}
		/* The pseudo-header is covered: another address fails. */
		s.bytes[zt_rng_below(&rng, zt_addr_len(&s))] ^= 0x80;
		CU_ASSERT_EQUAL_FATAL(zt_tcp_parse(zt_view_make(seg, total), &s, &d,
						   0, &got, &pl),
				      ZT_DROP_BAD_CHECKSUM);
		free(seg);
	}
}

static void test_truncation(void)
{
	struct zt_rng rng;
	unsigned accepted = 0, cuts = 0;

	zt_rng_seed(&rng, zt_test_seed(104));
	for (int iter = 0; iter < 200; iter++) {
		struct zt_tcp_repr r, got;
		struct zt_addr s, d;
		struct zt_view pl;
		size_t total, hl;
		uint8_t *seg = rand_segment(&rng, iter < 10 ? 1500 : 100, &r, &s,
					    &d, &total, &hl);

		for (size_t cut = 0; cut < total; cut++) {
			uint8_t *c = zt_test_dup_exact(seg, cut);
			struct zt_view v = zt_view_make(c, cut);
			enum zt_drop why = zt_tcp_parse(v, &s, &d, 0, &got, &pl);
			enum zt_drop nocs = zt_tcp_parse(v, &s, &d, ZT_PARSE_NO_CSUM,
							 &got, &pl);

			cuts++;
			if (cut < 20) {
				CU_ASSERT_EQUAL_FATAL(why, ZT_DROP_TRUNCATED);
				CU_ASSERT_EQUAL_FATAL(nocs, ZT_DROP_TRUNCATED);
			} else if (cut < hl) {
				CU_ASSERT_EQUAL_FATAL(why, ZT_DROP_BAD_DATA_OFFSET);
				CU_ASSERT_EQUAL_FATAL(nocs, ZT_DROP_BAD_DATA_OFFSET);
			} else {
				/* TCP has no length field: only the checksum
				 * can tell. A cut that happens to keep it
				 * right (about 1 in 65535) is a valid
				 * segment. */
				if (why == ZT_DROP_NONE) {
					CU_ASSERT_EQUAL_FATAL(zt_csum_l4(&s, &d,
									 ZT_IPPROTO_TCP, c, cut), 0);
					accepted++;
				} else {
					CU_ASSERT_EQUAL_FATAL(why, ZT_DROP_BAD_CHECKSUM);
				}
				CU_ASSERT_EQUAL_FATAL(nocs, ZT_DROP_NONE);
				CU_ASSERT_FATAL(repr_eq(&r, &got));
				CU_ASSERT_FATAL(pl.len == cut - hl && pl.data == c + hl);
			}
			free(c);
		}
		free(seg);
	}
	CU_ASSERT(accepted * 1000 < cuts);
}

int zt_suite_tcp_wire(void)
{
	static const struct zt_test_case cases[] = {
		{ "roundtrip_random", test_roundtrip_random },
		{ "emit_errors", test_emit_errors },
		{ "emit_linux_layout", test_emit_linux_layout },
		{ "parse_real_layouts", test_parse_real_layouts },
		{ "parse_unknown_repeated_eol", test_parse_unknown_repeated_eol },
		{ "parse_hostile_options", test_parse_hostile_options },
		{ "parse_data_offset", test_parse_data_offset },
		{ "checksum_corruption", test_checksum_corruption },
		{ "truncation", test_truncation },
		{ 0 }
	};

	return zt_add_suite("tcp_wire", NULL, NULL, cases);
}
