/* SPDX-License-Identifier: MIT */
/*
 * test_ip6.c - IPv6 header parse/emit and the extension-header walk:
 * known-answer headers, seeded emit->parse round trips (with and without a
 * fragment header), random extension chains built here by an independent
 * encoder, every truncation of the buffer and of the payload length field,
 * and hostile chains that must each be refused for their own reason.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ztun/ip6.h"
#include "ztun/rng.h"

#define MAX_DATA 200
#define BUF_LEN (ZT_IP6_HDR + ZT_IP6_MAX_EXT_HDRS * 32 + MAX_DATA + 16)

static uint8_t rnd8(struct zt_rng *rng)
{
	return (uint8_t)zt_rng_next(rng);
}

static bool is_ext(uint8_t p)
{
	return p == ZT_IPPROTO_HOPOPTS || p == ZT_IPPROTO_ROUTING ||
	       p == ZT_IPPROTO_FRAGMENT || p == ZT_IPPROTO_DSTOPTS;
}

/* A random upper-layer protocol that is not an extension header we walk. */
static uint8_t rnd_upper(struct zt_rng *rng, bool allow_none)
{
	static const uint8_t common[] = { ZT_IPPROTO_TCP, ZT_IPPROTO_UDP,
					  ZT_IPPROTO_ICMPV6, ZT_IPPROTO_NONE };
	uint8_t p;

	do {
		if (zt_rng_below(rng, 2))
			p = common[zt_rng_below(rng, 4)];
		else
			p = rnd8(rng);
	} while (is_ext(p) || (!allow_none && p == ZT_IPPROTO_NONE));
	return p;
}

static void fill(struct zt_rng *rng, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = rnd8(rng);
}

/* Parse a copy of @buf in an exactly-sized heap block, so that ASan sees
 * any read past @len. */
static enum zt_drop parse_buf(const uint8_t *buf, size_t len, unsigned flags)
{
	struct zt_ip6_repr r;
	struct zt_view pl;
	uint8_t *p = malloc(len ? len : 1);
	enum zt_drop why;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memcpy(p, buf, len);
	why = zt_ip6_parse(zt_view_make(p, len), flags, &r, &pl);
	free(p);
	return why;
}

static const uint8_t src6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t dst6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

static void test_known_answer(void)
{
	uint8_t pkt[40 + 16 + 5], out[40];
	struct zt_ip6_repr r;
	struct zt_view pl;
	static const uint8_t fixed[8] = { 0x6a, 0x5b, 0xcd, 0xef, 0x00, 0x10, 0x11, 0x40 };

	memset(pkt, 0xee, sizeof(pkt));
	memcpy(pkt, fixed, 8);
	memcpy(pkt + 8, src6, 16);
	memcpy(pkt + 24, dst6, 16);
	CU_ASSERT_EQUAL_FATAL(zt_ip6_parse(zt_view_make(pkt, sizeof(pkt)), 0, &r, &pl),
			      ZT_DROP_NONE);
	CU_ASSERT_EQUAL(r.traffic_class, 0xa5);
	CU_ASSERT_EQUAL(r.flow_label, 0xbcdef);
	CU_ASSERT_EQUAL(r.hop_limit, 64);
	CU_ASSERT_EQUAL(memcmp(r.src, src6, 16), 0);
	CU_ASSERT_EQUAL(memcmp(r.dst, dst6, 16), 0);
	CU_ASSERT_EQUAL(r.upper_proto, 17);
	CU_ASSERT_EQUAL(r.ext_count, 0);
	CU_ASSERT_EQUAL(r.ext_len, 0);
	CU_ASSERT(!r.has_frag);
	CU_ASSERT_PTR_EQUAL(pl.data, pkt + 40);
	CU_ASSERT_EQUAL(pl.len, 16); /* the 5 padding bytes are not payload */

	CU_ASSERT_EQUAL(zt_ip6_emit(&r, 16, out, sizeof(out)), 40);
	CU_ASSERT_EQUAL(memcmp(out, pkt, 40), 0);
}

/* Second fragment of a UDP datagram: offset 1480, M set, ident deadbeef. */
static void test_known_answer_fragment(void)
{
	uint8_t pkt[48 + 16], out[48];
	struct zt_ip6_repr r;
	struct zt_view pl;
	static const uint8_t fixed[8] = { 0x60, 0x00, 0x00, 0x00, 0x00, 0x18, 0x2c, 0x40 };
	static const uint8_t frag[8] = { 0x11, 0x00, 0x05, 0xc9, 0xde, 0xad, 0xbe, 0xef };

	memset(pkt, 0, sizeof(pkt));
	memcpy(pkt, fixed, 8);
	memcpy(pkt + 8, src6, 16);
	memcpy(pkt + 24, dst6, 16);
	memcpy(pkt + 40, frag, 8);
	CU_ASSERT_EQUAL_FATAL(zt_ip6_parse(zt_view_make(pkt, sizeof(pkt)), 0, &r, &pl),
			      ZT_DROP_NONE);
	CU_ASSERT(r.has_frag);
	CU_ASSERT(r.more_frags);
	CU_ASSERT_EQUAL(r.frag_offset, 1480);
	CU_ASSERT_EQUAL(r.frag_ident, 0xdeadbeef);
	CU_ASSERT_EQUAL(r.upper_proto, 17);
	CU_ASSERT_EQUAL(r.ext_count, 1);
	CU_ASSERT_EQUAL(r.ext_len, 8);
	CU_ASSERT_EQUAL(r.unfrag_len, 0);
	CU_ASSERT_PTR_EQUAL(pl.data, pkt + 48);
	CU_ASSERT_EQUAL(pl.len, 16);

	CU_ASSERT_EQUAL(zt_ip6_emit(&r, 16, out, sizeof(out)), 48);
	CU_ASSERT_EQUAL(memcmp(out, pkt, 48), 0);
}

static void gen_repr(struct zt_rng *rng, struct zt_ip6_repr *r, size_t *plen)
{
	size_t n = (size_t)zt_rng_below(rng, MAX_DATA + 1);

	memset(r, 0, sizeof(*r));
	r->traffic_class = rnd8(rng);
	r->flow_label = (uint32_t)zt_rng_below(rng, 1u << 20);
	r->hop_limit = rnd8(rng);
	fill(rng, r->src, 16);
	fill(rng, r->dst, 16);
	r->upper_proto = rnd_upper(rng, false);
	r->has_frag = zt_rng_below(rng, 2);
	if (r->has_frag && zt_rng_below(rng, 4)) { /* else atomic */
		r->more_frags = zt_rng_below(rng, 2);
		if (r->more_frags)
			n &= ~(size_t)7;
		r->frag_offset = (uint16_t)(8 * zt_rng_below(rng, (65535 - n) / 8 + 1));
	}
	if (r->has_frag)
		r->frag_ident = zt_rng_u32(rng);
	*plen = n;
}

static void test_roundtrip(void)
{
	struct zt_rng rng;
	uint8_t buf[BUF_LEN];

	zt_rng_seed(&rng, zt_test_seed(0x1606));
	for (int iter = 0; iter < 20000; iter++) {
		struct zt_ip6_repr in, out;
		struct zt_view pl;
		size_t plen, hl, pad = (size_t)zt_rng_below(&rng, 8);
		int n;

		gen_repr(&rng, &in, &plen);
		hl = zt_ip6_header_len(&in);
		n = zt_ip6_emit(&in, plen, buf, sizeof(buf));
		CU_ASSERT_EQUAL_FATAL(n, (int)hl);
		fill(&rng, buf + hl, plen + pad);
		memset(&out, 0xa5, sizeof(out));
		CU_ASSERT_EQUAL_FATAL(zt_ip6_parse(zt_view_make(buf, hl + plen + pad),
						   0, &out, &pl), ZT_DROP_NONE);
		CU_ASSERT_EQUAL_FATAL(out.traffic_class, in.traffic_class);
		CU_ASSERT_EQUAL_FATAL(out.flow_label, in.flow_label);
		CU_ASSERT_EQUAL_FATAL(out.hop_limit, in.hop_limit);
		CU_ASSERT_FATAL(memcmp(out.src, in.src, 16) == 0);
		CU_ASSERT_FATAL(memcmp(out.dst, in.dst, 16) == 0);
		CU_ASSERT_EQUAL_FATAL(out.upper_proto, in.upper_proto);
		CU_ASSERT_EQUAL_FATAL(out.has_frag, in.has_frag);
		CU_ASSERT_EQUAL_FATAL(out.more_frags, in.more_frags);
		CU_ASSERT_EQUAL_FATAL(out.frag_offset, in.frag_offset);
		CU_ASSERT_EQUAL_FATAL(out.frag_ident, in.frag_ident);
		CU_ASSERT_EQUAL_FATAL(out.ext_count, in.has_frag ? 1 : 0);
		CU_ASSERT_EQUAL_FATAL(out.ext_len, in.has_frag ? 8 : 0);
		CU_ASSERT_EQUAL_FATAL(out.unfrag_len, 0);
		CU_ASSERT_PTR_EQUAL_FATAL(pl.data, buf + hl);
		CU_ASSERT_EQUAL_FATAL(pl.len, plen);
		CU_ASSERT_EQUAL_FATAL(zt_rd16(buf + 4), hl - 40 + plen);
	}
}

/* A packet with a random extension chain, built byte by byte here, and what
 * the walk must find in it. */
struct chain {
	uint8_t buf[BUF_LEN];
	size_t len;        /* fixed header + payload length */
	size_t ext_len;    /* bytes of extension headers walked */
	size_t unfrag_len;
	unsigned count;
	uint8_t upper;
	bool has_frag;
	bool real_frag;    /* M set or offset != 0: the walk stops after it */
	bool more;
	uint16_t frag_offset;
	uint32_t ident;
	size_t data_len;   /* bytes after the chain */
	bool hbh_first;
};

/* Random valid TLV options (Pad1, PadN, any other type whose top two bits
 * say "skip when unrecognised") filling @len bytes. */
static void fill_tlv(struct zt_rng *rng, uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t rem = len - i, dlen;

		if (rem < 2 || zt_rng_below(rng, 4) == 0) {
			p[i++] = 0; /* Pad1 */
			continue;
		}
		dlen = (size_t)zt_rng_below(rng, rem - 1);
		p[i] = zt_rng_below(rng, 2) ? 1 : (uint8_t)(2 + zt_rng_below(rng, 62));
		p[i + 1] = (uint8_t)dlen;
		fill(rng, p + i + 2, dlen);
		i += 2 + dlen;
	}
}

static void gen_chain(struct zt_rng *rng, struct chain *c)
{
	unsigned n = (unsigned)zt_rng_below(rng, ZT_IP6_MAX_EXT_HDRS + 1);
	uint8_t *nh = &c->buf[6];
	size_t off = ZT_IP6_HDR, plen;

	memset(c, 0, sizeof(*c));
	fill(rng, c->buf, ZT_IP6_HDR);
	c->buf[0] = (uint8_t)(0x60 | (c->buf[0] & 0x0f));
	c->hbh_first = n > 0 && zt_rng_below(rng, 2);
	for (unsigned i = 0; i < n && !c->real_frag; i++) {
		uint8_t kind;
		size_t size;

		if (i == 0 && c->hbh_first)
			kind = ZT_IPPROTO_HOPOPTS;
		else if (!c->has_frag && zt_rng_below(rng, 4) == 0)
			kind = ZT_IPPROTO_FRAGMENT;
		else
			kind = zt_rng_below(rng, 2) ? ZT_IPPROTO_ROUTING : ZT_IPPROTO_DSTOPTS;
		*nh = kind;
		nh = &c->buf[off];
		if (kind == ZT_IPPROTO_FRAGMENT) {
			uint16_t fo = 0;

			c->has_frag = true;
			c->unfrag_len = off - ZT_IP6_HDR;
			if (zt_rng_below(rng, 2)) {
				c->real_frag = true;
				c->more = zt_rng_below(rng, 2);
				c->frag_offset = (uint16_t)(8 * zt_rng_below(rng, 8000));
				fo = (uint16_t)(c->frag_offset | c->more);
			}
			fo |= (uint16_t)(zt_rng_below(rng, 4) << 1); /* reserved bits */
			c->ident = zt_rng_u32(rng);
			c->buf[off + 1] = rnd8(rng); /* reserved byte */
			zt_wr16(&c->buf[off + 2], fo);
			zt_wr32(&c->buf[off + 4], c->ident);
			size = ZT_IP6_FRAG_HDR;
		} else {
			uint8_t hn = (uint8_t)zt_rng_below(rng, 4);

			size = ((size_t)hn + 1) * 8;
			c->buf[off + 1] = hn;
			if (kind == ZT_IPPROTO_ROUTING) {
				fill(rng, &c->buf[off + 2], size - 2);
				c->buf[off + 3] = 0; /* Segments Left */
			} else
				fill_tlv(rng, &c->buf[off + 2], size - 2);
		}
		off += size;
		c->count++;
	}
	c->upper = rnd_upper(rng, true);
	*nh = c->upper;
	c->ext_len = off - ZT_IP6_HDR;
	c->data_len = (size_t)zt_rng_below(rng, MAX_DATA + 1);
	if (c->more)
		c->data_len &= ~(size_t)7;
	fill(rng, &c->buf[off], c->data_len);
	plen = c->ext_len + c->data_len;
	zt_wr16(&c->buf[4], (uint16_t)plen);
	c->len = ZT_IP6_HDR + plen;
}

static void check_chain(const struct chain *c, const struct zt_ip6_repr *r,
			struct zt_view pl)
{
	CU_ASSERT_EQUAL_FATAL(r->ext_count, c->count);
	CU_ASSERT_EQUAL_FATAL(r->ext_len, c->ext_len);
	CU_ASSERT_EQUAL_FATAL(r->upper_proto, c->upper);
	CU_ASSERT_EQUAL_FATAL(r->has_frag, c->has_frag);
	if (c->has_frag) {
		CU_ASSERT_EQUAL_FATAL(r->unfrag_len, c->unfrag_len);
		CU_ASSERT_EQUAL_FATAL(r->more_frags, c->more);
		CU_ASSERT_EQUAL_FATAL(r->frag_offset, c->frag_offset);
		CU_ASSERT_EQUAL_FATAL(r->frag_ident, c->ident);
	}
	CU_ASSERT_PTR_EQUAL_FATAL(pl.data, c->buf + ZT_IP6_HDR + c->ext_len);
	/* No next header empties the payload, unless it names what a real
	 * fragment's data will be after reassembly. */
	CU_ASSERT_EQUAL_FATAL(pl.len, c->upper == ZT_IPPROTO_NONE && !c->real_frag ?
				      0 : c->data_len);
	CU_ASSERT_FATAL(memcmp(r->src, c->buf + 8, 16) == 0);
	CU_ASSERT_FATAL(memcmp(r->dst, c->buf + 24, 16) == 0);
	CU_ASSERT_EQUAL_FATAL(r->hop_limit, c->buf[7]);
	CU_ASSERT_EQUAL_FATAL(r->flow_label, zt_rd32(c->buf) & 0xfffff);
	CU_ASSERT_EQUAL_FATAL(r->traffic_class, (uint8_t)(zt_rd16(c->buf) >> 4));
}

static void test_random_chains(void)
{
	struct zt_rng rng;
	struct chain *c = malloc(sizeof(*c));

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	zt_rng_seed(&rng, zt_test_seed(0x1607));
	for (int iter = 0; iter < 20000; iter++) {
		struct zt_ip6_repr r;
		struct zt_view pl;

		gen_chain(&rng, c);
		CU_ASSERT_EQUAL_FATAL(zt_ip6_parse(zt_view_make(c->buf, c->len), 0,
						   &r, &pl), ZT_DROP_NONE);
		check_chain(c, &r, pl);
	}
	free(c);
}

/* Cutting the buffer anywhere is truncation; the outputs stay untouched. */
static void test_truncation(void)
{
	struct zt_rng rng;
	struct chain *c = malloc(sizeof(*c));

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	zt_rng_seed(&rng, zt_test_seed(0x1608));
	for (int iter = 0; iter < 400; iter++) {
		gen_chain(&rng, c);
		for (size_t cut = 0; cut < c->len; cut++) {
			uint8_t *p = malloc(cut ? cut : 1);
			struct zt_ip6_repr out, sentinel;
			struct zt_view pl = { NULL, 12345 };
			enum zt_drop got;

			CU_ASSERT_PTR_NOT_NULL_FATAL(p);
			memcpy(p, c->buf, cut);
			memset(&out, 0x5a, sizeof(out));
			memcpy(&sentinel, &out, sizeof(out));
			got = zt_ip6_parse(zt_view_make(p, cut), 0, &out, &pl);
			free(p);
			/* A hop-by-hop packet cut to 40 bytes still has its
			 * payload length field; only 0 there would be a jumbo. */
			CU_ASSERT_EQUAL_FATAL(got, ZT_DROP_TRUNCATED);
			CU_ASSERT_FATAL(memcmp(&out, &sentinel, sizeof(out)) == 0);
			CU_ASSERT_FATAL(pl.data == NULL && pl.len == 12345);
		}
	}
	free(c);
}

/* A payload length that ends inside the chain makes a header run past it
 * (bad_ext_hdr); one that ends after the chain just shortens the data. */
static void test_short_payload_len(void)
{
	struct zt_rng rng;
	struct chain *c = malloc(sizeof(*c));

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	zt_rng_seed(&rng, zt_test_seed(0x1609));
	for (int iter = 0; iter < 20000; iter++) {
		size_t plen, data;
		struct zt_ip6_repr r;
		struct zt_view pl;
		enum zt_drop want, got;

		gen_chain(&rng, c);
		plen = (size_t)zt_rng_below(&rng, c->len - ZT_IP6_HDR + 1);
		zt_wr16(&c->buf[4], (uint16_t)plen);
		data = plen >= c->ext_len ? plen - c->ext_len : 0;
		if (plen == 0 && c->hbh_first)
			want = ZT_DROP_UNSUPPORTED; /* reads as a jumbogram */
		else if (plen < c->ext_len)
			want = ZT_DROP_BAD_EXT_HDR;
		else if (c->more && data % 8)
			want = ZT_DROP_BAD_FRAGMENT;
		else
			want = ZT_DROP_NONE;
		got = zt_ip6_parse(zt_view_make(c->buf, c->len), 0, &r, &pl);
		CU_ASSERT_EQUAL_FATAL(got, want);
		if (got == ZT_DROP_NONE) {
			c->data_len = data;
			check_chain(c, &r, pl);
		}
	}
	free(c);
}

/* Fixed header for @plen payload bytes with next header @nh; the rest of
 * @buf zeroed. */
static void base(uint8_t *buf, size_t plen, uint8_t nh)
{
	memset(buf, 0, BUF_LEN);
	buf[0] = 0x60;
	zt_wr16(buf + 4, (uint16_t)plen);
	buf[6] = nh;
	buf[7] = 64;
	memcpy(buf + 8, src6, 16);
	memcpy(buf + 24, dst6, 16);
}

/* Write an 8-byte extension header at @off with next header @next; its
 * option area is six Pad1, so it is valid as any of the three kinds (a
 * routing header of type 0 with Segments Left 0). */
static void ext8(uint8_t *buf, size_t off, uint8_t next)
{
	buf[off] = next;
	memset(buf + off + 1, 0, 7);
}

static void test_hostile(void)
{
	uint8_t buf[BUF_LEN];
	struct zt_ip6_repr r;
	struct zt_view pl;
	size_t off;

	/* Version 5, and an IPv4 header. */
	base(buf, 8, ZT_IPPROTO_UDP);
	CU_ASSERT_EQUAL(parse_buf(buf, 48, 0), ZT_DROP_NONE);
	buf[0] = 0x50;
	CU_ASSERT_EQUAL(parse_buf(buf, 48, 0), ZT_DROP_BAD_VERSION);
	buf[0] = 0x45;
	CU_ASSERT_EQUAL(parse_buf(buf, 48, 0), ZT_DROP_BAD_VERSION);
	CU_ASSERT_EQUAL(parse_buf(buf, 0, 0), ZT_DROP_TRUNCATED);

	/* Payload length past the buffer. */
	base(buf, 9, ZT_IPPROTO_UDP);
	CU_ASSERT_EQUAL(parse_buf(buf, 48, 0), ZT_DROP_TRUNCATED);
	base(buf, 0xffff, ZT_IPPROTO_UDP);
	CU_ASSERT_EQUAL(parse_buf(buf, BUF_LEN, 0), ZT_DROP_TRUNCATED);

	/* Options we do not know: skipped when their type's top bits are
	 * 00, else the packet is refused (RFC 8200 4.2), Jumbo Payload
	 * (0xc2) with a non-zero payload length (RFC 2675 3) included. */
	{
		static const uint8_t types[] = { 0x3f, 0x40, 0x80, 0xc0, 0xc2 };

		for (size_t i = 0; i < sizeof(types); i++) {
			for (int hbh = 0; hbh < 2; hbh++) {
				base(buf, 16, hbh ? ZT_IPPROTO_HOPOPTS : ZT_IPPROTO_DSTOPTS);
				ext8(buf, 40, ZT_IPPROTO_UDP);
				buf[42] = types[i];
				buf[43] = 4; /* its data: bytes 44..47 */
				CU_ASSERT_EQUAL(parse_buf(buf, 56, 0),
						i == 0 ? ZT_DROP_NONE : ZT_DROP_BAD_EXT_HDR);
			}
		}
	}
	/* A routing header: skipped with Segments Left 0; with more
	 * segments to visit it asks us to route, which we do not (RFC 8200
	 * 4.4; type 0 is deprecated by RFC 5095, 4 is SRv6). */
	for (uint8_t type = 0; type < 5; type += 4) {
		base(buf, 16, ZT_IPPROTO_ROUTING);
		ext8(buf, 40, ZT_IPPROTO_UDP);
		buf[42] = type;
		buf[43] = 0;
		CU_ASSERT_EQUAL(parse_buf(buf, 56, 0), ZT_DROP_NONE);
		buf[43] = 1;
		CU_ASSERT_EQUAL(parse_buf(buf, 56, 0), ZT_DROP_BAD_EXT_HDR);
	}

	/* Hop-by-hop after a destination-options header, and twice. */
	base(buf, 24, ZT_IPPROTO_DSTOPTS);
	ext8(buf, 40, ZT_IPPROTO_HOPOPTS);
	ext8(buf, 48, ZT_IPPROTO_UDP);
	CU_ASSERT_EQUAL(parse_buf(buf, 64, 0), ZT_DROP_BAD_EXT_HDR);
	buf[6] = ZT_IPPROTO_HOPOPTS;
	CU_ASSERT_EQUAL(parse_buf(buf, 64, 0), ZT_DROP_BAD_EXT_HDR);
	buf[40] = ZT_IPPROTO_ROUTING;
	CU_ASSERT_EQUAL(parse_buf(buf, 64, 0), ZT_DROP_NONE);

	/* 8 destination-options headers are walked, 9 are too many. */
	for (int n = 8; n <= 9; n++) {
		base(buf, (size_t)n * 8, ZT_IPPROTO_DSTOPTS);
		for (int i = 0; i < n; i++)
			ext8(buf, 40 + 8 * (size_t)i,
			     i == n - 1 ? ZT_IPPROTO_NONE : ZT_IPPROTO_DSTOPTS);
		if (n == 8) {
			CU_ASSERT_EQUAL_FATAL(zt_ip6_parse(zt_view_make(buf, 40 + 64), 0,
							   &r, &pl), ZT_DROP_NONE);
			CU_ASSERT_EQUAL(r.ext_count, 8);
			CU_ASSERT_EQUAL(r.ext_len, 64);
			CU_ASSERT_EQUAL(r.upper_proto, ZT_IPPROTO_NONE);
			/* ... and a fragment header as a ninth is one too many. */
			buf[40 + 56] = ZT_IPPROTO_FRAGMENT;
			zt_wr16(buf + 4, 72);
			CU_ASSERT_EQUAL(parse_buf(buf, 40 + 72, 0),
					ZT_DROP_EXT_CHAIN_TOO_LONG);
		} else {
			CU_ASSERT_EQUAL(parse_buf(buf, 40 + 72, 0),
					ZT_DROP_EXT_CHAIN_TOO_LONG);
		}
	}

	/* An extension header longer than the payload length. */
	base(buf, 8, ZT_IPPROTO_DSTOPTS);
	ext8(buf, 40, ZT_IPPROTO_UDP);
	buf[41] = 1; /* 16 bytes */
	CU_ASSERT_EQUAL(parse_buf(buf, 64, 0), ZT_DROP_BAD_EXT_HDR);
	base(buf, 1, ZT_IPPROTO_ROUTING); /* not even its length byte */
	CU_ASSERT_EQUAL(parse_buf(buf, 41, 0), ZT_DROP_BAD_EXT_HDR);
	base(buf, 0, ZT_IPPROTO_DSTOPTS);
	CU_ASSERT_EQUAL(parse_buf(buf, 64, 0), ZT_DROP_BAD_EXT_HDR);
	base(buf, 7, ZT_IPPROTO_FRAGMENT);
	CU_ASSERT_EQUAL(parse_buf(buf, 64, 0), ZT_DROP_BAD_EXT_HDR);

	/* Jumbogram: payload length 0, hop-by-hop with the jumbo option. */
	base(buf, 0, ZT_IPPROTO_HOPOPTS);
	buf[40] = ZT_IPPROTO_UDP;
	buf[42] = 0xc2;
	buf[43] = 4;
	zt_wr32(buf + 44, 70000);
	CU_ASSERT_EQUAL(parse_buf(buf, 48, 0), ZT_DROP_UNSUPPORTED);

	/* Option overflows in hop-by-hop and destination options; routing
	 * data is not TLV and is not walked (but its fourth byte is
	 * Segments Left, refused when not 0). */
	{
		static const uint8_t bad[][6] = {
			{ 0x05, 0x05, 0, 0, 0, 0 }, /* 2+5 > 6 */
			{ 0x00, 0x00, 0x00, 0x00, 0x00, 0x01 }, /* no length byte */
			{ 0x01, 0x00, 0x01, 0x03, 0x00, 0x00 },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			static const uint8_t kinds[] = { ZT_IPPROTO_HOPOPTS,
							 ZT_IPPROTO_DSTOPTS,
							 ZT_IPPROTO_ROUTING };
			for (size_t k = 0; k < 3; k++) {
				base(buf, 8, kinds[k]);
				buf[40] = ZT_IPPROTO_NONE;
				memcpy(buf + 42, bad[i], 6);
				CU_ASSERT_EQUAL(parse_buf(buf, 48, 0),
						k != 2 ? ZT_DROP_BAD_OPTION_LEN :
						bad[i][1] ? ZT_DROP_BAD_EXT_HDR :
						ZT_DROP_NONE);
			}
		}
	}

	/* Two fragment headers (the first atomic). */
	base(buf, 24, ZT_IPPROTO_FRAGMENT);
	buf[40] = ZT_IPPROTO_FRAGMENT;
	buf[48] = ZT_IPPROTO_UDP;
	CU_ASSERT_EQUAL(parse_buf(buf, 64, 0), ZT_DROP_BAD_EXT_HDR);

	/* Fragment ending past 65535, and a non-last one of 12 bytes. */
	base(buf, 8 + 16, ZT_IPPROTO_FRAGMENT);
	buf[40] = ZT_IPPROTO_UDP;
	zt_wr16(buf + 42, 65528);
	CU_ASSERT_EQUAL(parse_buf(buf, 64, 0), ZT_DROP_BAD_FRAGMENT);
	zt_wr16(buf + 42, 65512); /* 65512 + 16 = 65528: fine */
	CU_ASSERT_EQUAL(parse_buf(buf, 64, 0), ZT_DROP_NONE);
	zt_wr16(buf + 42, 65520); /* 65520 + 16 = 65536: one too many */
	CU_ASSERT_EQUAL(parse_buf(buf, 64, 0), ZT_DROP_BAD_FRAGMENT);
	zt_wr16(buf + 4, 8 + 15); /* 65520 + 15 = 65535: the last byte */
	CU_ASSERT_EQUAL(parse_buf(buf, 63, 0), ZT_DROP_NONE);
	base(buf, 8 + 12, ZT_IPPROTO_FRAGMENT);
	buf[40] = ZT_IPPROTO_UDP;
	zt_wr16(buf + 42, 8 | 1);
	CU_ASSERT_EQUAL(parse_buf(buf, 64, 0), ZT_DROP_BAD_FRAGMENT);
	zt_wr16(buf + 42, 8); /* the last fragment may have any length */
	CU_ASSERT_EQUAL(parse_buf(buf, 64, 0), ZT_DROP_NONE);

	/* A non-first fragment's data is not walked, even if it looks like a
	 * (broken) extension header. */
	base(buf, 8 + 16, ZT_IPPROTO_FRAGMENT);
	buf[40] = ZT_IPPROTO_DSTOPTS;
	zt_wr16(buf + 42, 16);
	buf[49] = 200; /* a dst-opts length far past the payload */
	CU_ASSERT_EQUAL_FATAL(zt_ip6_parse(zt_view_make(buf, 64), 0, &r, &pl),
			      ZT_DROP_NONE);
	CU_ASSERT_EQUAL(r.upper_proto, ZT_IPPROTO_DSTOPTS);
	CU_ASSERT_EQUAL(r.ext_count, 1);
	CU_ASSERT_PTR_EQUAL(pl.data, buf + 48);
	CU_ASSERT_EQUAL(pl.len, 16);
	/* Same for a first fragment (offset 0, M set). */
	zt_wr16(buf + 42, 1);
	CU_ASSERT_EQUAL(parse_buf(buf, 64, 0), ZT_DROP_NONE);
	/* An atomic fragment's data is the whole payload and is walked. */
	zt_wr16(buf + 42, 0);
	CU_ASSERT_EQUAL(parse_buf(buf, 64, 0), ZT_DROP_BAD_EXT_HDR);
	buf[49] = 0;
	ext8(buf, 48, ZT_IPPROTO_TCP);
	CU_ASSERT_EQUAL_FATAL(zt_ip6_parse(zt_view_make(buf, 64), 0, &r, &pl),
			      ZT_DROP_NONE);
	CU_ASSERT_EQUAL(r.upper_proto, ZT_IPPROTO_TCP);
	CU_ASSERT(r.has_frag);
	CU_ASSERT(!r.more_frags);
	CU_ASSERT_EQUAL(r.frag_offset, 0);
	CU_ASSERT_EQUAL(r.ext_count, 2);
	CU_ASSERT_EQUAL(r.ext_len, 16);
	CU_ASSERT_EQUAL(r.unfrag_len, 0);
	CU_ASSERT_PTR_EQUAL(pl.data, buf + 56);
	CU_ASSERT_EQUAL(pl.len, 8);

	/* No next header: what follows it is ignored, the payload is empty. */
	off = 40;
	base(buf, 8 + 20, ZT_IPPROTO_ROUTING);
	ext8(buf, off, ZT_IPPROTO_NONE);
	memset(buf + 48, 0xff, 20);
	CU_ASSERT_EQUAL_FATAL(zt_ip6_parse(zt_view_make(buf, 40 + 28 + 3), 0, &r, &pl),
			      ZT_DROP_NONE);
	CU_ASSERT_EQUAL(r.upper_proto, ZT_IPPROTO_NONE);
	CU_ASSERT_EQUAL(r.ext_len, 8);
	CU_ASSERT_PTR_EQUAL(pl.data, buf + 48);
	CU_ASSERT_EQUAL(pl.len, 0);

	/* An unknown next header after the chain is just the upper protocol. */
	base(buf, 16, ZT_IPPROTO_DSTOPTS);
	ext8(buf, 40, 50 /* ESP */);
	CU_ASSERT_EQUAL_FATAL(zt_ip6_parse(zt_view_make(buf, 56), 0, &r, &pl),
			      ZT_DROP_NONE);
	CU_ASSERT_EQUAL(r.upper_proto, 50);
	CU_ASSERT_EQUAL(pl.len, 8);
}

/* Parse @buf (@len bytes) into @r, zeroed first, and return the verdict. */
static enum zt_drop parse_into(const uint8_t *buf, size_t len,
			       struct zt_ip6_repr *r)
{
	struct zt_view pl;

	memset(r, 0, sizeof(*r));
	return zt_ip6_parse(zt_view_make(buf, len), 0, r, &pl);
}

/* What RFC 8200 asks be told by a Parameter Problem is reported with its
 * code and pointer, the addresses filled for the answer: an option of
 * type 10xxxxxx anywhere, 11xxxxxx but to a multicast address (4.2:
 * code 2 at the option's type byte), a routing header with segments left
 * (4.4: code 0 at its routing type, as we know no type), and a hop-by-hop
 * header not first (4: code 1 at the byte that names it). Options of type
 * 01xxxxxx and malformed headers are refused unreported. nh_offset says
 * where the byte naming the upper protocol is. */
static void test_param_problem(void)
{
	static const struct {
		uint8_t type;
		bool multicast;
		bool reported;
	} opts[] = {
		{ 0x40, false, false }, { 0x7f, false, false },
		{ 0x80, false, true },  { 0x80, true, true },
		{ 0xc0, false, true },  { 0xc2, false, true },
		{ 0xc0, true, false },
	};
	uint8_t buf[BUF_LEN];
	struct zt_ip6_repr r;

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		for (int second = 0; second < 2; second++) {
			/* [hop-by-hop at 40,] dst-opts: PadN of 2, the option */
			size_t at = 40 + 8 * (size_t)second;

			base(buf, 8 + 8 * (size_t)second,
			     second ? ZT_IPPROTO_HOPOPTS : ZT_IPPROTO_DSTOPTS);
			if (second)
				ext8(buf, 40, ZT_IPPROTO_DSTOPTS);
			if (opts[i].multicast)
				buf[24] = 0xff;
			ext8(buf, at, ZT_IPPROTO_UDP);
			buf[at + 2] = 1; /* PadN, 0 bytes of data */
			buf[at + 4] = opts[i].type;
			buf[at + 5] = 2;
			CU_ASSERT_EQUAL(parse_into(buf, at + 8, &r), ZT_DROP_BAD_EXT_HDR);
			CU_ASSERT_EQUAL(r.param_problem, opts[i].reported);
			if (!opts[i].reported)
				continue;
			CU_ASSERT_EQUAL(r.pp_code, 2);
			CU_ASSERT_EQUAL(r.pp_pointer, at + 4);
			CU_ASSERT(memcmp(r.src, src6, 16) == 0);
			CU_ASSERT(memcmp(r.dst, buf + 24, 16) == 0);
		}
	}

	/* Routing with segments left: at the type, after a hop-by-hop. */
	base(buf, 16, ZT_IPPROTO_HOPOPTS);
	ext8(buf, 40, ZT_IPPROTO_ROUTING);
	ext8(buf, 48, ZT_IPPROTO_TCP);
	buf[51] = 2;
	CU_ASSERT_EQUAL(parse_into(buf, 56, &r), ZT_DROP_BAD_EXT_HDR);
	CU_ASSERT(r.param_problem);
	CU_ASSERT_EQUAL(r.pp_code, 0);
	CU_ASSERT_EQUAL(r.pp_pointer, 50);
	buf[51] = 0;
	CU_ASSERT_EQUAL(parse_into(buf, 56, &r), ZT_DROP_NONE);
	CU_ASSERT(!r.param_problem);
	CU_ASSERT_EQUAL(r.nh_offset, 48);

	/* Hop-by-hop named by the second header: code 1 at that byte. */
	base(buf, 16, ZT_IPPROTO_DSTOPTS);
	ext8(buf, 40, ZT_IPPROTO_HOPOPTS);
	ext8(buf, 48, ZT_IPPROTO_UDP);
	CU_ASSERT_EQUAL(parse_into(buf, 56, &r), ZT_DROP_BAD_EXT_HDR);
	CU_ASSERT(r.param_problem);
	CU_ASSERT_EQUAL(r.pp_code, 1);
	CU_ASSERT_EQUAL(r.pp_pointer, 40);

	/* Malformed: an option past its header, a header past the payload. */
	base(buf, 8, ZT_IPPROTO_DSTOPTS);
	ext8(buf, 40, ZT_IPPROTO_UDP);
	buf[42] = 0x80;
	buf[43] = 5;
	CU_ASSERT_EQUAL(parse_into(buf, 48, &r), ZT_DROP_BAD_OPTION_LEN);
	CU_ASSERT(!r.param_problem);
	buf[43] = 4;
	buf[41] = 1;
	CU_ASSERT_EQUAL(parse_into(buf, 48, &r), ZT_DROP_BAD_EXT_HDR);
	CU_ASSERT(!r.param_problem);

	/* Fragments (4.5): a non-last one not a multiple of 8 bytes long,
	 * told at its payload length; one ending past 65535, at its offset
	 * (after a destination-options header). */
	base(buf, 8 + 12, ZT_IPPROTO_FRAGMENT);
	buf[40] = ZT_IPPROTO_UDP;
	zt_wr16(buf + 42, 8 | 1);
	CU_ASSERT_EQUAL(parse_into(buf, 60, &r), ZT_DROP_BAD_FRAGMENT);
	CU_ASSERT(r.param_problem);
	CU_ASSERT_EQUAL(r.pp_code, 0);
	CU_ASSERT_EQUAL(r.pp_pointer, 4);
	base(buf, 8 + 8 + 16, ZT_IPPROTO_DSTOPTS);
	ext8(buf, 40, ZT_IPPROTO_FRAGMENT);
	buf[48] = ZT_IPPROTO_UDP;
	zt_wr16(buf + 50, 65520);
	CU_ASSERT_EQUAL(parse_into(buf, 72, &r), ZT_DROP_BAD_FRAGMENT);
	CU_ASSERT(r.param_problem);
	CU_ASSERT_EQUAL(r.pp_code, 0);
	CU_ASSERT_EQUAL(r.pp_pointer, 50);
	/* The payload length it would reassemble into counts the headers
	 * before the fragment header: 8 + 65520 + 8 = 65536 is one too
	 * many, 8 + 65520 + 7 the last byte. */
	zt_wr16(buf + 4, 8 + 8 + 8);
	CU_ASSERT_EQUAL(parse_into(buf, 64, &r), ZT_DROP_BAD_FRAGMENT);
	CU_ASSERT(r.param_problem);
	CU_ASSERT_EQUAL(r.pp_code, 0);
	CU_ASSERT_EQUAL(r.pp_pointer, 50);
	zt_wr16(buf + 4, 8 + 8 + 7);
	CU_ASSERT_EQUAL(parse_into(buf, 63, &r), ZT_DROP_NONE);

	/* nh_offset: the fixed header's byte, else the last header's first. */
	base(buf, 8, 132);
	CU_ASSERT_EQUAL(parse_into(buf, 48, &r), ZT_DROP_NONE);
	CU_ASSERT_EQUAL(r.nh_offset, 6);
	base(buf, 16, ZT_IPPROTO_FRAGMENT); /* atomic fragment, then dst-opts */
	buf[40] = ZT_IPPROTO_DSTOPTS;
	ext8(buf, 48, 132);
	CU_ASSERT_EQUAL(parse_into(buf, 56, &r), ZT_DROP_NONE);
	CU_ASSERT_EQUAL(r.upper_proto, 132);
	CU_ASSERT_EQUAL(r.nh_offset, 48);
	zt_wr16(buf + 42, 1); /* a first fragment: its header names the data */
	CU_ASSERT_EQUAL(parse_into(buf, 56, &r), ZT_DROP_NONE);
	CU_ASSERT_EQUAL(r.upper_proto, ZT_IPPROTO_DSTOPTS);
	CU_ASSERT_EQUAL(r.nh_offset, 40);
}

static void test_emit_errors(void)
{
	struct zt_ip6_repr r;
	uint8_t buf[64];

	memset(&r, 0, sizeof(r));
	r.upper_proto = ZT_IPPROTO_UDP;
	CU_ASSERT_EQUAL(zt_ip6_emit(&r, 0, buf, 39), -ENOSPC);
	CU_ASSERT_EQUAL(zt_ip6_emit(&r, 65535, buf, 40), 40);
	CU_ASSERT_EQUAL(zt_ip6_emit(&r, 65536, buf, 40), -EINVAL);
	CU_ASSERT_EQUAL(zt_ip6_emit(&r, (size_t)-1, buf, 40), -EINVAL);
	r.flow_label = 0x100000;
	CU_ASSERT_EQUAL(zt_ip6_emit(&r, 0, buf, 40), -EINVAL);
	r.flow_label = 0xfffff;
	r.has_frag = true;
	CU_ASSERT_EQUAL(zt_ip6_emit(&r, 0, buf, 47), -ENOSPC);
	CU_ASSERT_EQUAL(zt_ip6_emit(&r, 65527, buf, 48), 48);
	CU_ASSERT_EQUAL(zt_ip6_emit(&r, 65528, buf, 48), -EINVAL);
	r.frag_offset = 4;
	CU_ASSERT_EQUAL(zt_ip6_emit(&r, 0, buf, 48), -EINVAL);
	r.frag_offset = 65528;
	CU_ASSERT_EQUAL(zt_ip6_emit(&r, 7, buf, 48), 48);
	CU_ASSERT_EQUAL(zt_ip6_emit(&r, 8, buf, 48), -EINVAL);
	r.frag_offset = 8;
	r.more_frags = true;
	CU_ASSERT_EQUAL(zt_ip6_emit(&r, 12, buf, 48), -EINVAL);
	CU_ASSERT_EQUAL(zt_ip6_emit(&r, 16, buf, 48), 48);
}

int zt_suite_ip6(void)
{
	static const struct zt_test_case cases[] = {
		{ "known_answer", test_known_answer },
		{ "known_answer_fragment", test_known_answer_fragment },
		{ "roundtrip", test_roundtrip },
		{ "random_chains", test_random_chains },
		{ "truncation", test_truncation },
		{ "short_payload_len", test_short_payload_len },
		{ "hostile", test_hostile },
		{ "param_problem", test_param_problem },
		{ "emit_errors", test_emit_errors },
		{ 0 }
	};

	return zt_add_suite("ip6", NULL, NULL, cases);
}
