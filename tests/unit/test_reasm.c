/* SPDX-License-Identifier: MIT */
/*
 * test_reasm.c - IPv4/IPv6 fragment reassembly. Datagrams are built here
 * (zt_ip4_emit / zt_ip6_emit plus UDP, TCP or raw payloads with their
 * checksums), fragmented here by an independent fragmenter, fed through
 * zt_packet_parse() into the table in every order, and the output compared
 * byte for byte with the original and re-parsed. Around that: duplicates,
 * every kind of overlap, length contradictions, too big, tiny fragments,
 * table and budget limits, timers and the expiry callback, ECN, and a
 * seeded property test over 1000 interleaved datagrams.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ztun/checksum.h"
#include "ztun/ip4.h"
#include "ztun/ip6.h"
#include "ztun/packet.h"
#include "ztun/reasm.h"
#include "ztun/rng.h"

#define NS 1000000000ull
#define T0 (1000 * NS)
#define ORIG_CAP (ZT_IP6_HDR + 65535 + 64)
#define PROTO_RAW 253 /* RFC 3692 experimental: raw bytes, no checksum */

/* ---- building datagrams ------------------------------------------------ */

struct shape {
	uint8_t family;
	size_t data_len;  /* fragmentable part: IPv4 payload; IPv6 after unfrag part */
	uint8_t proto;    /* ZT_IPPROTO_UDP, ZT_IPPROTO_TCP or PROTO_RAW */
	uint8_t opts_len; /* IPv4 options (NOPs), multiple of 4 */
	size_t hbh_len;   /* IPv6 hop-by-hop before the fragment header (0 or 8k) */
	size_t dst1_len;  /* IPv6 destination options before the fragment header */
	size_t dst2_len;  /* IPv6 destination options inside the fragmentable part */
	uint8_t ecn;
	uint32_t ident;
};

struct orig {
	uint8_t *buf;      /* ORIG_CAP bytes */
	size_t len;
	uint8_t family;
	size_t frag_start; /* IPv4: IHL; IPv6: 40 + unfragmentable ext headers */
	size_t nh_off;     /* IPv6: the byte naming the first fragmentable header */
	uint32_t ident;
	struct zt_addr src, dst;
};

struct frag {
	uint8_t *p;
	size_t len;
	uint32_t off;  /* data offset */
	uint32_t dlen; /* data bytes */
	bool more;
};

struct frags {
	size_t n;
	struct frag *v;
};

static void fill(struct zt_rng *rng, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)zt_rng_next(rng);
}

/* Upper-layer bytes of @proto with a valid checksum. */
static void fill_l4(struct zt_rng *rng, uint8_t proto, const struct zt_addr *src,
		    const struct zt_addr *dst, uint8_t *p, size_t len)
{
	uint16_t c;

	fill(rng, p, len);
	if (proto == ZT_IPPROTO_UDP) {
		zt_wr16(p + 4, (uint16_t)len);
		zt_wr16(p + 6, 0);
		c = zt_csum_l4(src, dst, proto, p, len);
		zt_wr16(p + 6, c ? c : 0xffff);
	} else if (proto == ZT_IPPROTO_TCP) {
		p[12] = 5 << 4;
		p[13] = 0x10; /* ACK */
		zt_wr16(p + 16, 0);
		zt_wr16(p + 18, 0);
		zt_wr16(p + 16, zt_csum_l4(src, dst, proto, p, len));
	}
}

/* An IPv6 extension header of @len bytes (8k) holding one random
 * skip-if-unknown option. */
static void put_ext(struct zt_rng *rng, uint8_t *p, size_t len, uint8_t nh)
{
	p[0] = nh;
	p[1] = (uint8_t)(len / 8 - 1);
	p[2] = 0x1e;
	p[3] = (uint8_t)(len - 4);
	fill(rng, p + 4, len - 4);
}

static void build(struct zt_rng *rng, const struct shape *s, struct orig *o)
{
	uint8_t a[16], b[16];

	fill(rng, a, 16);
	fill(rng, b, 16);
	a[0] = 10; /* not multicast */
	b[0] = 10;
	o->family = s->family;
	o->ident = s->ident;
	if (s->family == ZT_AF_INET) {
		struct zt_ip4_repr r;
		int hl;

		memset(&r, 0, sizeof(r));
		r.dscp_ecn = s->ecn;
		r.ident = (uint16_t)s->ident;
		r.ttl = 64;
		r.protocol = s->proto;
		memcpy(r.src, a, 4);
		memcpy(r.dst, b, 4);
		r.options_len = s->opts_len;
		memset(r.options, 1, s->opts_len); /* NOPs: not copied */
		o->src = zt_addr_v4(a);
		o->dst = zt_addr_v4(b);
		hl = zt_ip4_emit(&r, s->data_len, o->buf, ORIG_CAP);
		CU_ASSERT_FATAL(hl > 0);
		o->frag_start = (size_t)hl;
		o->nh_off = 0;
		fill_l4(rng, s->proto, &o->src, &o->dst, o->buf + hl, s->data_len);
		o->len = (size_t)hl + s->data_len;
	} else {
		struct zt_ip6_repr r;
		size_t pos = ZT_IP6_HDR, unfrag = s->hbh_len + s->dst1_len;
		uint8_t first_frag = s->dst2_len ? ZT_IPPROTO_DSTOPTS : s->proto;

		memset(&r, 0, sizeof(r));
		r.traffic_class = s->ecn;
		r.flow_label = (uint32_t)zt_rng_below(rng, 1u << 20);
		r.hop_limit = 64;
		memcpy(r.src, a, 16);
		memcpy(r.dst, b, 16);
		r.upper_proto = s->hbh_len ? ZT_IPPROTO_HOPOPTS :
				s->dst1_len ? ZT_IPPROTO_DSTOPTS : first_frag;
		o->src = zt_addr_v6(a);
		o->dst = zt_addr_v6(b);
		CU_ASSERT_FATAL(zt_ip6_emit(&r, unfrag + s->data_len, o->buf,
					    ORIG_CAP) == ZT_IP6_HDR);
		o->nh_off = 6;
		if (s->hbh_len) {
			put_ext(rng, o->buf + pos, s->hbh_len,
				s->dst1_len ? ZT_IPPROTO_DSTOPTS : first_frag);
			o->nh_off = pos;
			pos += s->hbh_len;
		}
		if (s->dst1_len) {
			put_ext(rng, o->buf + pos, s->dst1_len, first_frag);
			o->nh_off = pos;
			pos += s->dst1_len;
		}
		o->frag_start = pos;
		if (s->dst2_len) {
			put_ext(rng, o->buf + pos, s->dst2_len, s->proto);
			pos += s->dst2_len;
		}
		fill_l4(rng, s->proto, &o->src, &o->dst, o->buf + pos,
			s->data_len - s->dst2_len);
		o->len = o->frag_start + s->data_len;
	}
}

static size_t data_len(const struct orig *o)
{
	return o->len - o->frag_start;
}

/* One fragment of @o carrying @dlen bytes of @data at data offset @off. */
static void make_frag(const struct orig *o, uint32_t off, bool more,
		      const uint8_t *data, size_t dlen, struct frag *f)
{
	size_t hl;

	f->off = off;
	f->dlen = (uint32_t)dlen;
	f->more = more;
	if (o->family == ZT_AF_INET) {
		struct zt_ip4_repr r;
		struct zt_view pl;
		int n;

		CU_ASSERT_FATAL(zt_ip4_parse(zt_view_make(o->buf, o->len), 0, &r,
					     &pl) == ZT_DROP_NONE);
		r.frag_offset = (uint16_t)off;
		r.more_frags = more;
		if (off)
			r.options_len = 0;
		hl = zt_ip4_header_len(&r);
		f->p = malloc(hl + dlen);
		CU_ASSERT_FATAL(f->p != NULL);
		n = zt_ip4_emit(&r, dlen, f->p, hl + dlen);
		if (n < 0) {
			/* past what emit accepts: write the fields by hand */
			r.frag_offset = 0;
			r.more_frags = false;
			CU_ASSERT_FATAL(zt_ip4_emit(&r, 0, f->p, hl) == (int)hl);
			zt_wr16(f->p + 2, (uint16_t)(hl + dlen));
			zt_wr16(f->p + 6, (uint16_t)(off / 8 | (more ? 0x2000 : 0)));
			zt_wr16(f->p + 10, 0);
			zt_wr16(f->p + 10, zt_csum_fold(zt_csum_add(0, f->p, hl)));
		}
	} else {
		hl = o->frag_start + ZT_IP6_FRAG_HDR;
		f->p = malloc(hl + dlen);
		CU_ASSERT_FATAL(f->p != NULL);
		memcpy(f->p, o->buf, o->frag_start);
		zt_wr16(f->p + 4, (uint16_t)(hl - ZT_IP6_HDR + dlen));
		f->p[o->nh_off] = ZT_IPPROTO_FRAGMENT;
		f->p[o->frag_start] = o->buf[o->nh_off];
		f->p[o->frag_start + 1] = 0;
		zt_wr16(f->p + o->frag_start + 2, (uint16_t)(off | (more ? 1 : 0)));
		zt_wr32(f->p + o->frag_start + 4, o->ident);
	}
	memcpy(f->p + hl, data, dlen);
	f->len = hl + dlen;
}

/* The fragment of @o at [off, off + dlen) with the original's bytes. */
static void slice(const struct orig *o, uint32_t off, size_t dlen, bool more,
		  struct frag *f)
{
	make_frag(o, off, more, o->buf + o->frag_start + off, dlen, f);
}

static void frags_free(struct frags *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		free(fs->v[i].p);
	free(fs->v);
	fs->n = 0;
	fs->v = NULL;
}

/* Cut @o into pieces of @piece bytes (a multiple of 8), or when @rng is
 * given, of random multiples of 8 up to @piece; then the first piece of an
 * IPv6 datagram whose fragmentable part starts with TCP is at least 24
 * bytes, so that it holds the header chain (RFC 7112). */
static void fragment(const struct orig *o, size_t piece, struct zt_rng *rng,
		     struct frags *fs)
{
	size_t total = data_len(o), off = 0, cap = total / 8 + 2;

	fs->n = 0;
	fs->v = calloc(cap, sizeof(*fs->v));
	CU_ASSERT_FATAL(fs->v != NULL);
	do {
		size_t n = rng ? 8 * (1 + (size_t)zt_rng_below(rng, piece / 8)) : piece;

		if (rng && off == 0 && n < 24 && o->family == ZT_AF_INET6 &&
		    o->buf[o->nh_off] == ZT_IPPROTO_TCP)
			n = 24;
		if (n >= total - off)
			n = total - off;
		slice(o, (uint32_t)off, n, off + n < total, &fs->v[fs->n++]);
		off += n;
	} while (off < total);
}

/* Random pieces, but at least two of them (@o has more than 24 bytes). */
static void fragment_some(const struct orig *o, size_t piece, struct zt_rng *rng,
			  struct frags *fs)
{
	fragment(o, piece, rng, fs);
	if (fs->n < 2) {
		frags_free(fs);
		fragment(o, 24, NULL, fs);
	}
	CU_ASSERT_FATAL(fs->n >= 2);
}

static void shuffle(struct zt_rng *rng, struct frag *v, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)zt_rng_below(rng, i);
		struct frag tmp = v[i - 1];

		v[i - 1] = v[j];
		v[j] = tmp;
	}
}

static void reverse(struct frag *v, size_t n)
{
	for (size_t i = 0; i < n / 2; i++) {
		struct frag tmp = v[i];

		v[i] = v[n - 1 - i];
		v[n - 1 - i] = tmp;
	}
}

/* ---- feeding and checking ----------------------------------------------- */

/* Parse @f as the TUN intake would and hand it to the table. */
static enum zt_drop feed(struct zt_reasm *t, const struct frag *f, uint64_t now,
			 struct zt_view *out)
{
	struct zt_packet pkt;
	enum zt_drop why;

	why = zt_packet_parse(zt_view_make(f->p, f->len), 0, &pkt);
	/* a whole datagram of a protocol the parser does not decode */
	if (why == ZT_DROP_UNSUPPORTED && !pkt.is_fragment)
		why = ZT_DROP_NONE;
	CU_ASSERT_EQUAL_FATAL(why, ZT_DROP_NONE);
	return zt_reasm_input(t, &pkt, zt_view_make(f->p, f->len), now, out);
}

/* Input bypassing zt_packet_parse (for fragments the parsers refuse): the
 * table needs only the family and, for IPv6, where the fragment header is. */
static enum zt_drop feed_raw(struct zt_reasm *t, const struct orig *o,
			     const struct frag *f, uint64_t now,
			     struct zt_view *out)
{
	struct zt_packet pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.family = o->family;
	pkt.ip.ip6.has_frag = o->family == ZT_AF_INET6;
	pkt.ip.ip6.unfrag_len = (uint16_t)(o->frag_start - ZT_IP6_HDR);
	return zt_reasm_input(t, &pkt, zt_view_make(f->p, f->len), now, out);
}

/* @out must be @o again, byte for byte, and parse as a whole datagram. */
static void check_same(const struct orig *o, struct zt_view out)
{
	struct zt_packet pkt;
	enum zt_drop why;

	CU_ASSERT_EQUAL_FATAL(out.len, o->len);
	CU_ASSERT_FATAL(memcmp(out.data, o->buf, o->len) == 0);
	why = zt_packet_parse(out, 0, &pkt);
	CU_ASSERT_FATAL(why == ZT_DROP_NONE || why == ZT_DROP_UNSUPPORTED);
	CU_ASSERT_EQUAL_FATAL(pkt.family, o->family);
	CU_ASSERT_FATAL(!pkt.is_fragment);
	CU_ASSERT_FATAL(zt_addr_eq(&pkt.src, &o->src));
	CU_ASSERT_FATAL(zt_addr_eq(&pkt.dst, &o->dst));
	if (o->family == ZT_AF_INET6) {
		CU_ASSERT_FATAL(!pkt.ip.ip6.has_frag);
	} else {
		CU_ASSERT_FATAL(!pkt.ip.ip4.more_frags && pkt.ip.ip4.frag_offset == 0);
	}
}

/* Feed @fs in its order; the datagram must come out exactly at the last one. */
static void feed_all_expect(struct zt_reasm *t, const struct orig *o,
			    const struct frags *fs, uint64_t now)
{
	struct zt_view out = { NULL, 0 };

	for (size_t i = 0; i < fs->n; i++) {
		CU_ASSERT_EQUAL_FATAL(feed(t, &fs->v[i], now, &out), ZT_DROP_NONE);
		if (i + 1 < fs->n) {
			CU_ASSERT_PTR_NULL_FATAL(out.data);
			CU_ASSERT_EQUAL_FATAL(out.len, 0);
		}
	}
	check_same(o, out);
}

static void table_empty(const struct zt_reasm *t)
{
	CU_ASSERT_EQUAL(t->stats.datagrams_in_use, 0);
	CU_ASSERT_EQUAL(t->stats.bytes_in_use, 0);
	CU_ASSERT_EQUAL(zt_reasm_next_deadline(t), UINT64_MAX);
}

static void orig_init(struct orig *o)
{
	memset(o, 0, sizeof(*o));
	o->buf = malloc(ORIG_CAP);
	CU_ASSERT_FATAL(o->buf != NULL);
}

static void orig_free(struct orig *o)
{
	free(o->buf);
	o->buf = NULL;
}

static struct shape shape_udp(uint8_t family, size_t len, uint32_t ident)
{
	struct shape s;

	memset(&s, 0, sizeof(s));
	s.family = family;
	s.data_len = len;
	s.proto = len >= 8 ? ZT_IPPROTO_UDP : PROTO_RAW;
	s.ident = ident;
	return s;
}

static struct shape random_shape(struct zt_rng *rng, size_t max_len, uint32_t ident)
{
	struct shape s = shape_udp(zt_rng_below(rng, 2) ? ZT_AF_INET6 : ZT_AF_INET,
				   1 + (size_t)zt_rng_below(rng, max_len), ident);

	if (s.data_len >= 20 && zt_rng_below(rng, 4) == 0)
		s.proto = ZT_IPPROTO_TCP;
	else if (zt_rng_below(rng, 8) == 0)
		s.proto = PROTO_RAW;
	if (s.family == ZT_AF_INET) {
		s.opts_len = (uint8_t)(4 * zt_rng_below(rng, 11));
	} else {
		s.hbh_len = 8 * (size_t)zt_rng_below(rng, 3);
		s.dst1_len = 8 * (size_t)zt_rng_below(rng, 3);
	}
	return s;
}

/* ---- tests ------------------------------------------------------------- */

static void test_orders(void)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o;

	zt_rng_seed(&rng, zt_test_seed(0x7265));
	orig_init(&o);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
	for (int iter = 0; iter < 300; iter++) {
		struct shape s = random_shape(&rng, 6000, (uint32_t)iter);
		struct frags fs;
		uint64_t done = t.stats.datagrams_completed;

		s.data_len += 64;
		build(&rng, &s, &o);
		fragment_some(&o, 8 * (1 + (size_t)zt_rng_below(&rng, 200)), &rng, &fs);
		switch (iter % 3) {
		case 0:
			break;
		case 1:
			reverse(fs.v, fs.n);
			break;
		default:
			shuffle(&rng, fs.v, fs.n);
			break;
		}
		feed_all_expect(&t, &o, &fs, T0 + (uint64_t)iter);
		CU_ASSERT_EQUAL_FATAL(t.stats.datagrams_completed, done + 1);
		table_empty(&t);
		frags_free(&fs);
	}
	CU_ASSERT_EQUAL(t.stats.frags_duplicate, 0);
	for (int r = 1; r < ZT_DROP__COUNT; r++)
		CU_ASSERT_EQUAL(t.stats.drops[r], 0);
	zt_reasm_destroy(&t);
	orig_free(&o);
}

static void test_duplicates(void)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o;

	zt_rng_seed(&rng, zt_test_seed(0xd0b));
	orig_init(&o);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
	for (int iter = 0; iter < 100; iter++) {
		struct shape s = random_shape(&rng, 3000, (uint32_t)iter);
		struct frags fs;
		struct frag *seq;
		size_t n = 0, dups = 0;
		struct zt_view out = { NULL, 0 };
		uint64_t before = t.stats.frags_duplicate;

		s.data_len += 64;
		build(&rng, &s, &o);
		fragment_some(&o, 8 * (1 + (size_t)zt_rng_below(&rng, 64)), &rng, &fs);
		shuffle(&rng, fs.v, fs.n);
		/* The sequence: every fragment, each followed now and then by a
		 * copy of one already sent (never after the last). */
		seq = calloc(2 * fs.n, sizeof(*seq));
		CU_ASSERT_FATAL(seq != NULL);
		for (size_t i = 0; i < fs.n; i++) {
			seq[n++] = fs.v[i];
			if (i + 1 < fs.n && zt_rng_below(&rng, 3) == 0) {
				seq[n++] = fs.v[zt_rng_below(&rng, i + 1)];
				dups++;
			}
		}
		for (size_t i = 0; i < n; i++) {
			CU_ASSERT_EQUAL_FATAL(feed(&t, &seq[i], T0, &out), ZT_DROP_NONE);
			if (i + 1 < n)
				CU_ASSERT_PTR_NULL_FATAL(out.data);
		}
		check_same(&o, out);
		CU_ASSERT_EQUAL_FATAL(t.stats.frags_duplicate - before, dups);
		table_empty(&t);
		free(seq);
		frags_free(&fs);
	}
	CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_FRAG_OVERLAP], 0);
	zt_reasm_destroy(&t);
	orig_free(&o);
}

/*
 * Overlap cases over a datagram of 64 data bytes normally sent as four
 * 16-byte fragments A [0,16) B [16,32) C [32,48) D [48,64). @held is sent
 * first, then @bad; the datagram must be dropped as an overlap and the rest
 * of the fragments (those not yet sent) must not produce anything.
 */
struct overlap_case {
	const char *what;
	uint32_t held_off, held_len;
	uint32_t bad_off, bad_len;
	bool flip; /* bad's bytes differ from the original's */
};

static void run_overlap(uint8_t family, const struct overlap_case *c, uint64_t seed)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o;
	struct shape s = shape_udp(family, 64, 77);
	struct frag held, bad, quarter;
	struct zt_view out;
	uint8_t data[64];

	zt_rng_seed(&rng, seed);
	orig_init(&o);
	if (family == ZT_AF_INET6)
		s.hbh_len = 8;
	build(&rng, &s, &o);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
	slice(&o, c->held_off, c->held_len, c->held_off + c->held_len < 64, &held);
	memcpy(data, o.buf + o.frag_start, 64);
	if (c->flip)
		data[c->bad_off + c->bad_len - 1] ^= 0x5a;
	make_frag(&o, c->bad_off, c->bad_off + c->bad_len < 64, data + c->bad_off,
		  c->bad_len, &bad);

	CU_ASSERT_EQUAL(feed(&t, &held, T0, &out), ZT_DROP_NONE);
	CU_ASSERT_EQUAL(feed(&t, &bad, T0, &out), ZT_DROP_FRAG_OVERLAP);
	CU_ASSERT_PTR_NULL(out.data);
	CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_FRAG_OVERLAP], 1);
	table_empty(&t);
	/* The rest: every 16-byte quarter not inside what was sent. */
	for (uint32_t q = 0; q < 64; q += 16) {
		bool sent = (q >= c->held_off && q < c->held_off + c->held_len) ||
			    (q >= c->bad_off && q < c->bad_off + c->bad_len);

		if (sent)
			continue;
		slice(&o, q, 16, q + 16 < 64, &quarter);
		CU_ASSERT_EQUAL(feed(&t, &quarter, T0 + 1, &out), ZT_DROP_NONE);
		CU_ASSERT_PTR_NULL(out.data);
		free(quarter.p);
	}
	CU_ASSERT_EQUAL(t.stats.datagrams_completed, 0);
	/* What is left (a fresh datagram, if anything) only times out. */
	zt_reasm_expire(&t, UINT64_MAX, NULL, NULL);
	table_empty(&t);
	CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_FRAG_OVERLAP], 1);
	free(held.p);
	free(bad.p);
	zt_reasm_destroy(&t);
	orig_free(&o);
}

static void test_overlap(void)
{
	static const struct overlap_case cases[] = {
		{ "partial, from above", 0, 16, 8, 16, false },
		{ "partial, from below", 16, 16, 8, 16, false },
		{ "partial at the end", 32, 32, 24, 16, false },
		{ "new inside held", 0, 32, 8, 8, false },
		{ "held inside new", 16, 16, 8, 32, false },
		{ "same offset, longer", 0, 16, 0, 24, false },
		{ "same offset, shorter", 0, 24, 0, 16, false },
		{ "same offset, shorter last", 48, 16, 48, 8, false },
		{ "same end, later start", 32, 32, 40, 24, false },
		{ "same range, other bytes", 16, 16, 16, 16, true },
		{ "same last, other bytes", 48, 16, 48, 16, true },
		{ "same first, other bytes", 0, 16, 0, 16, true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_overlap(ZT_AF_INET, &cases[i], zt_test_seed(100 + i));
		run_overlap(ZT_AF_INET6, &cases[i], zt_test_seed(200 + i));
	}
}

/* Send @o whole again in 16-byte fragments: it must come out at the last
 * one, as a datagram begun afresh (nothing of a dropped datagram with the
 * same key is remembered), and leave the table empty. */
static void resend_whole(struct zt_reasm *t, const struct orig *o, uint64_t now)
{
	struct frags fs;

	fragment(o, 16, NULL, &fs);
	feed_all_expect(t, o, &fs, now);
	table_empty(t);
	frags_free(&fs);
}

/* After an overlap the datagram is forgotten: sending all of its fragments
 * again afterwards reassembles it as a new datagram (v4 and v6). */
static void test_overlap_then_fresh(void)
{
	struct zt_rng rng;
	struct orig o;
	struct zt_view out;

	zt_rng_seed(&rng, zt_test_seed(31));
	orig_init(&o);
	for (int fam = 0; fam < 2; fam++) {
		struct shape s = shape_udp(fam ? ZT_AF_INET6 : ZT_AF_INET, 64, 9);
		struct zt_reasm t;
		struct frag first, bad;

		build(&rng, &s, &o);
		CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
		slice(&o, 0, 16, true, &first);
		slice(&o, 8, 16, true, &bad);
		CU_ASSERT_EQUAL(feed(&t, &first, T0, &out), ZT_DROP_NONE);
		CU_ASSERT_EQUAL(feed(&t, &bad, T0, &out), ZT_DROP_FRAG_OVERLAP);
		resend_whole(&t, &o, T0 + 1);
		free(first.p);
		free(bad.p);
		zt_reasm_destroy(&t);
	}
	orig_free(&o);
}

/*
 * Contradicting lengths drop the whole datagram as BAD_FRAGMENT at once,
 * as Linux's ip_frag_queue and ip6_frag_queue kill the queue: the slot and
 * chunks are free when the bad fragment returns, not at the timeout, and
 * the bad fragment starts no datagram of its own (it contradicts the held
 * data as much as they contradict it). An exact copy of the held fragment
 * before it is only a duplicate, and the datagram sent whole again with
 * the same id reassembles.
 */
static void test_length_conflicts(void)
{
	struct zt_rng rng;
	struct orig o;
	struct zt_view out;
	/* held, then bad: {off, len, more} each */
	static const uint32_t cases[][6] = {
		{ 48, 16, 0, 48, 8, 0 },  /* two last fragments, ends 64 and 56 */
		{ 48, 8, 0, 48, 16, 0 },  /* ends 56 and 64 */
		{ 48, 16, 0, 64, 8, 0 },  /* a second last, past the first */
		{ 32, 16, 1, 16, 8, 0 },  /* last ends before data held */
		{ 32, 16, 1, 32, 8, 0 },  /* last ends inside data held */
		{ 48, 16, 0, 64, 16, 1 }, /* data past the known end */
		{ 40, 8, 0, 56, 8, 1 },   /* same, not adjacent */
		{ 48, 16, 0, 56, 16, 1 }, /* data across the known end */
	};

	zt_rng_seed(&rng, zt_test_seed(41));
	orig_init(&o);
	for (int fam = 0; fam < 2; fam++) {
		struct shape s = shape_udp(fam ? ZT_AF_INET6 : ZT_AF_INET, 96, 5);

		build(&rng, &s, &o);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct zt_reasm t;
			struct frag held, bad;

			CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
			slice(&o, cases[i][0], cases[i][1], cases[i][2], &held);
			slice(&o, cases[i][3], cases[i][4], cases[i][5], &bad);
			CU_ASSERT_EQUAL(feed(&t, &held, T0, &out), ZT_DROP_NONE);
			CU_ASSERT_EQUAL(feed(&t, &held, T0, &out), ZT_DROP_NONE);
			CU_ASSERT_EQUAL(t.stats.frags_duplicate, 1);
			CU_ASSERT_EQUAL(feed(&t, &bad, T0, &out), ZT_DROP_BAD_FRAGMENT);
			CU_ASSERT_PTR_NULL(out.data);
			CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_BAD_FRAGMENT], 1);
			table_empty(&t);
			resend_whole(&t, &o, T0 + 1);
			CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_FRAG_TIMEOUT], 0);
			free(held.p);
			free(bad.p);
			zt_reasm_destroy(&t);
		}
	}
	orig_free(&o);
}

/* A flood of datagrams that each get a last fragment and then a second,
 * shorter one holds nothing: every one is dropped at its contradiction, so
 * none has to be evicted, and a datagram after the flood reassembles. */
static void test_length_conflict_flood(void)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o;
	struct zt_view out;
	struct shape s = shape_udp(ZT_AF_INET6, 96, 0);
	uint32_t n = 4 * ZT_REASM_DEFAULT_MAX_DATAGRAMS;

	zt_rng_seed(&rng, zt_test_seed(47));
	orig_init(&o);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
	for (uint32_t i = 0; i < n; i++) {
		struct frag last, bad;

		s.family = i % 2 ? ZT_AF_INET6 : ZT_AF_INET;
		s.ident = i;
		build(&rng, &s, &o);
		slice(&o, 48, 48, false, &last);
		slice(&o, 48, 40, false, &bad);
		CU_ASSERT_EQUAL(feed(&t, &last, T0, &out), ZT_DROP_NONE);
		CU_ASSERT_EQUAL(feed(&t, &bad, T0, &out), ZT_DROP_BAD_FRAGMENT);
		free(last.p);
		free(bad.p);
	}
	table_empty(&t);
	CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_BAD_FRAGMENT], n);
	CU_ASSERT_EQUAL(t.stats.datagrams_evicted, 0);
	CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_FRAG_NO_MEMORY], 0);
	resend_whole(&t, &o, T0 + 1);
	zt_reasm_destroy(&t);
	orig_free(&o);
}

/* An empty last fragment (no more fragments, no data) at the datagram's
 * end is legal: a sender that cut the datagram at a fragment boundary.
 * It may come twice before the rest: the copy is a duplicate, not a
 * second end, and the datagram completes with the data. */
static void test_empty_last_fragment(void)
{
	struct zt_rng rng;
	struct orig o;

	zt_rng_seed(&rng, zt_test_seed(43));
	orig_init(&o);
	for (int fam = 0; fam < 2; fam++) {
		struct shape s = shape_udp(fam ? ZT_AF_INET6 : ZT_AF_INET, 96, 6);
		struct zt_view out = { NULL, 0 };
		struct zt_reasm t;
		struct frag body, last;
		uint32_t end;

		build(&rng, &s, &o);
		end = (uint32_t)data_len(&o);
		CU_ASSERT_EQUAL_FATAL(end % 8, 0);
		CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
		slice(&o, 0, end, true, &body);
		slice(&o, end, 0, false, &last);
		CU_ASSERT_EQUAL(feed(&t, &last, T0, &out), ZT_DROP_NONE);
		CU_ASSERT_PTR_NULL(out.data);
		CU_ASSERT_EQUAL(feed(&t, &last, T0, &out), ZT_DROP_NONE);
		CU_ASSERT_PTR_NULL(out.data);
		CU_ASSERT_EQUAL(t.stats.frags_duplicate, 1);
		CU_ASSERT_EQUAL(feed(&t, &body, T0, &out), ZT_DROP_NONE);
		check_same(&o, out);
		CU_ASSERT_EQUAL(t.stats.datagrams_completed, 1);
		CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_BAD_FRAGMENT], 0);
		table_empty(&t);
		free(body.p);
		free(last.p);
		zt_reasm_destroy(&t);
	}
	orig_free(&o);
}

struct expired {
	int calls;
	uint8_t family;
	size_t len;
	uint8_t *buf;
};

static void on_expired(void *ctx, uint8_t family, struct zt_view first)
{
	struct expired *e = ctx;

	e->calls++;
	e->family = family;
	e->len = first.len;
	memcpy(e->buf, first.data, first.len);
}

/* A missing fragment: nothing comes out; at the deadline the datagram is
 * dropped, and the callback quotes the offset-0 fragment only when it came. */
static void test_timeout(void)
{
	struct zt_rng rng;
	struct orig o;
	struct expired e;

	zt_rng_seed(&rng, zt_test_seed(51));
	orig_init(&o);
	e.buf = malloc(ZT_REASM_MAX_OUTPUT);
	CU_ASSERT_FATAL(e.buf != NULL);
	for (int iter = 0; iter < 40; iter++) {
		struct shape s = random_shape(&rng, 4000, (uint32_t)iter);
		struct zt_reasm_config cfg = { .timeout_ip4 = 7 * NS + (uint64_t)iter,
					       .timeout_ip6 = 11 * NS + (uint64_t)iter };
		struct zt_reasm t;
		struct frags fs;
		struct zt_view out;
		size_t missing;
		uint64_t tmo, start = T0 + (uint64_t)iter * 3;
		bool first_sent;

		s.data_len += 64;
		build(&rng, &s, &o);
		fragment(&o, 8 * (1 + (size_t)zt_rng_below(&rng, 8)), &rng, &fs);
		CU_ASSERT_FATAL(fs.n >= 2);
		missing = iter % 4 == 0 ? 0 : (size_t)zt_rng_below(&rng, fs.n);
		first_sent = missing != 0;
		tmo = s.family == ZT_AF_INET ? cfg.timeout_ip4 : cfg.timeout_ip6;
		CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, &cfg), 0);
		shuffle(&rng, fs.v + 1, fs.n - 1); /* fs.v[0] stays offset 0 */
		for (size_t i = 0; i < fs.n; i++) {
			if (i == missing)
				continue;
			/* the timer runs from the first fragment, not the last */
			CU_ASSERT_EQUAL(feed(&t, &fs.v[i], start + i, &out), ZT_DROP_NONE);
			CU_ASSERT_PTR_NULL(out.data);
		}
		CU_ASSERT_EQUAL(t.stats.datagrams_in_use, 1);
		CU_ASSERT(t.stats.bytes_in_use > 0);
		CU_ASSERT_EQUAL(zt_reasm_next_deadline(&t), start + (missing == 0) + tmo);
		e.calls = 0;
		CU_ASSERT_EQUAL(zt_reasm_expire(&t, zt_reasm_next_deadline(&t) - 1,
						on_expired, &e), 0);
		CU_ASSERT_EQUAL(e.calls, 0);
		CU_ASSERT_EQUAL(t.stats.datagrams_in_use, 1);
		CU_ASSERT_EQUAL(zt_reasm_expire(&t, zt_reasm_next_deadline(&t),
						on_expired, &e), 1);
		CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_FRAG_TIMEOUT], 1);
		CU_ASSERT_EQUAL(e.calls, first_sent ? 1 : 0);
		if (first_sent) {
			CU_ASSERT_EQUAL(e.family, s.family);
			CU_ASSERT_EQUAL_FATAL(e.len, fs.v[0].len);
			CU_ASSERT(memcmp(e.buf, fs.v[0].p, e.len) == 0);
		}
		table_empty(&t);
		/* the missing fragment now is a datagram of its own */
		CU_ASSERT_EQUAL(feed(&t, &fs.v[missing], start + tmo + 5, &out),
				ZT_DROP_NONE);
		CU_ASSERT_PTR_NULL(out.data);
		CU_ASSERT_EQUAL(zt_reasm_next_deadline(&t), start + tmo + 5 + tmo);
		zt_reasm_destroy(&t); /* held at destroy: LeakSanitizer checks */
		frags_free(&fs);
	}
	free(e.buf);
	orig_free(&o);
}

static void test_next_deadline(void)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o;
	struct frag f[6];
	struct zt_view out;
	const struct zt_reasm_config cfg = { .timeout_ip4 = 30 * NS, .timeout_ip6 = 60 * NS };
	/* family, arrival: deadlines 40, 95, 33, 110, 66 s */
	static const uint64_t at[5] = { 10, 35, 3, 50, 6 };
	static const uint8_t fam[5] = { 4, 6, 4, 6, 6 };
	static const uint64_t order[5] = { 33, 40, 66, 95, 110 };

	zt_rng_seed(&rng, zt_test_seed(61));
	orig_init(&o);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, &cfg), 0);
	CU_ASSERT_EQUAL(zt_reasm_next_deadline(&t), UINT64_MAX);
	for (int i = 0; i < 5; i++) {
		struct shape s = shape_udp(fam[i], 32, (uint32_t)i);

		build(&rng, &s, &o);
		slice(&o, 0, 16, true, &f[i]);
		CU_ASSERT_EQUAL(feed(&t, &f[i], at[i] * NS, &out), ZT_DROP_NONE);
		if (i == 0) {
			/* a second fragment later does not move the timer */
			slice(&o, 16, 8, true, &f[5]);
			CU_ASSERT_EQUAL(feed(&t, &f[5], 20 * NS, &out), ZT_DROP_NONE);
		}
	}
	CU_ASSERT_EQUAL(t.stats.datagrams_in_use, 5);
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(zt_reasm_next_deadline(&t), order[i] * NS);
		CU_ASSERT_EQUAL(zt_reasm_expire(&t, order[i] * NS - 1, NULL, NULL), 0);
		CU_ASSERT_EQUAL(zt_reasm_expire(&t, order[i] * NS, NULL, NULL), 1);
		CU_ASSERT_EQUAL(t.stats.datagrams_in_use, 4 - i);
	}
	table_empty(&t);
	CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_FRAG_TIMEOUT], 5);
	for (int i = 0; i < 6; i++)
		free(f[i].p);
	zt_reasm_destroy(&t);
	orig_free(&o);
}

static void test_too_big(void)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o;
	struct zt_view out;
	struct frag f, g;
	uint8_t *junk = calloc(1, 65536);
	struct shape s;

	CU_ASSERT_FATAL(junk != NULL);
	zt_rng_seed(&rng, zt_test_seed(71));
	orig_init(&o);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);

	/* IPv4: 20 + 65512 + 24 > 65535 though offset + length = 65536 is
	 * refused by the parser already: feed it past the parser. */
	s = shape_udp(ZT_AF_INET, 64, 1);
	build(&rng, &s, &o);
	make_frag(&o, 65512, false, junk, 24, &f);
	CU_ASSERT_EQUAL(feed_raw(&t, &o, &f, T0, &out), ZT_DROP_FRAG_TOO_BIG);
	free(f.p);
	/* offset + length = 65532 passes the parser, plus the header does not */
	make_frag(&o, 65512, false, junk, 20, &f);
	CU_ASSERT_EQUAL(feed(&t, &f, T0, &out), ZT_DROP_FRAG_TOO_BIG);
	free(f.p);
	/* 20 + 65512 + 3 = 65535 fits ... */
	make_frag(&o, 65512, false, junk, 3, &f);
	CU_ASSERT_EQUAL(feed(&t, &f, T0, &out), ZT_DROP_NONE);
	free(f.p);
	CU_ASSERT_EQUAL(t.stats.datagrams_in_use, 1);
	/* ... until an offset-0 fragment with 8 bytes of options comes */
	zt_reasm_expire(&t, UINT64_MAX, NULL, NULL);
	s.opts_len = 8;
	build(&rng, &s, &o);
	make_frag(&o, 65512, false, junk, 3, &f);
	CU_ASSERT_EQUAL(feed(&t, &f, T0, &out), ZT_DROP_NONE);
	slice(&o, 0, 16, true, &g);
	CU_ASSERT_EQUAL(feed(&t, &g, T0, &out), ZT_DROP_FRAG_TOO_BIG);
	CU_ASSERT_EQUAL(t.stats.datagrams_in_use, 1); /* kept */
	free(f.p);
	free(g.p);
	/* and the other way round: the header first, then the far end */
	zt_reasm_expire(&t, UINT64_MAX, NULL, NULL);
	slice(&o, 0, 16, true, &g);
	CU_ASSERT_EQUAL(feed(&t, &g, T0, &out), ZT_DROP_NONE);
	make_frag(&o, 65512, false, junk, 3, &f);
	CU_ASSERT_EQUAL(feed(&t, &f, T0, &out), ZT_DROP_FRAG_TOO_BIG);
	free(f.p);
	free(g.p);
	CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_FRAG_TOO_BIG], 4);
	zt_reasm_expire(&t, UINT64_MAX, NULL, NULL);

	/* IPv6: payload length = unfragmentable part + data end; the parser
	 * refuses 8 + 65535 already (RFC 8200 4.5), so feed it past it. */
	s = shape_udp(ZT_AF_INET6, 64, 2);
	s.hbh_len = 8;
	build(&rng, &s, &o);
	make_frag(&o, 65520, false, junk, 15, &f); /* 8 + 65535 */
	CU_ASSERT_EQUAL(feed_raw(&t, &o, &f, T0, &out), ZT_DROP_FRAG_TOO_BIG);
	free(f.p);
	make_frag(&o, 65520, false, junk, 7, &f); /* 8 + 65527 */
	CU_ASSERT_EQUAL(feed(&t, &f, T0, &out), ZT_DROP_NONE);
	free(f.p);
	make_frag(&o, 65528, false, junk, 8, &f); /* past 65535 even alone */
	CU_ASSERT_EQUAL(feed_raw(&t, &o, &f, T0, &out), ZT_DROP_FRAG_TOO_BIG);
	free(f.p);
	CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_FRAG_TOO_BIG], 6);
	CU_ASSERT_EQUAL(t.stats.datagrams_in_use, 1);
	CU_ASSERT(t.stats.bytes_in_use <= 2 * ZT_REASM_CHUNK);

	/* The largest legal datagrams do reassemble. */
	zt_reasm_expire(&t, UINT64_MAX, NULL, NULL);
	for (int fam = 0; fam < 2; fam++) {
		struct frags fs;

		s = shape_udp(fam ? ZT_AF_INET6 : ZT_AF_INET, fam ? 65535 : 65515, 3);
		build(&rng, &s, &o);
		fragment(&o, 1480, NULL, &fs);
		shuffle(&rng, fs.v, fs.n);
		feed_all_expect(&t, &o, &fs, T0);
		frags_free(&fs);
	}
	table_empty(&t);
	zt_reasm_destroy(&t);
	orig_free(&o);
	free(junk);
}

/* Length not a multiple of 8, empty non-last fragments, non-fragments. */
static void test_bad_fragments(void)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o;
	struct zt_view out;
	struct frag f;
	uint8_t junk[64] = { 0 };

	zt_rng_seed(&rng, zt_test_seed(81));
	orig_init(&o);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
	for (int fam = 0; fam < 2; fam++) {
		struct shape s = shape_udp(fam ? ZT_AF_INET6 : ZT_AF_INET, 64, 4);
		uint64_t bad = t.stats.drops[ZT_DROP_BAD_FRAGMENT];

		build(&rng, &s, &o);
		for (uint32_t len = 1; len < 16; len++) {
			if (len == 8)
				continue;
			make_frag(&o, 16, true, junk, len, &f);
			CU_ASSERT_EQUAL(feed_raw(&t, &o, &f, T0, &out), ZT_DROP_BAD_FRAGMENT);
			free(f.p);
		}
		make_frag(&o, 16, true, junk, 0, &f);
		CU_ASSERT_EQUAL(feed_raw(&t, &o, &f, T0, &out), ZT_DROP_BAD_FRAGMENT);
		free(f.p);
		CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_BAD_FRAGMENT] - bad, 15);
		table_empty(&t);
	}
	/* IPv4 that is not a fragment at all is a caller error */
	{
		struct shape s = shape_udp(ZT_AF_INET, 40, 4);

		build(&rng, &s, &o);
		slice(&o, 0, 40, false, &f);
		CU_ASSERT_EQUAL(memcmp(f.p, o.buf, o.len), 0);
		CU_ASSERT_EQUAL(feed_raw(&t, &o, &f, T0, &out), ZT_DROP_BAD_FRAGMENT);
		CU_ASSERT_PTR_NULL(out.data);
		free(f.p);
	}
	/* a garbage family */
	{
		struct zt_packet pkt;

		memset(&pkt, 0, sizeof(pkt));
		pkt.family = 5;
		CU_ASSERT_EQUAL(zt_reasm_input(&t, &pkt, zt_view_make(junk, 64), T0, &out),
				ZT_DROP_BAD_VERSION);
	}
	table_empty(&t);
	zt_reasm_destroy(&t);
	orig_free(&o);
}

/* RFC 6946: an IPv6 atomic fragment comes back at once, without its
 * fragment header, and touches no state. */
static void test_atomic_fragment(void)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o;
	struct zt_view out;
	struct frag f;
	struct shape s = shape_udp(ZT_AF_INET6, 200, 6);

	zt_rng_seed(&rng, zt_test_seed(91));
	orig_init(&o);
	s.hbh_len = 16;
	s.dst1_len = 8;
	build(&rng, &s, &o);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
	slice(&o, 0, 200, false, &f);
	CU_ASSERT_EQUAL(feed_raw(&t, &o, &f, T0, &out), ZT_DROP_NONE);
	check_same(&o, out);
	CU_ASSERT_EQUAL(feed(&t, &f, T0, &out), ZT_DROP_NONE);
	check_same(&o, out);
	CU_ASSERT_EQUAL(t.stats.datagrams_completed, 2);
	table_empty(&t);
	free(f.p);
	zt_reasm_destroy(&t);
	orig_free(&o);
}

/* Hop-by-hop and destination options before the fragment header: the
 * reassembled packet is the original, Next Header chain restored. */
static void test_ip6_ext_headers(void)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o;

	zt_rng_seed(&rng, zt_test_seed(101));
	orig_init(&o);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
	for (int iter = 0; iter < 200; iter++) {
		struct shape s = shape_udp(ZT_AF_INET6, 100 + (size_t)zt_rng_below(&rng, 5000),
					   (uint32_t)iter);
		struct frags fs;

		s.hbh_len = 8 * (1 + (size_t)zt_rng_below(&rng, 4));
		s.dst1_len = 8 * (1 + (size_t)zt_rng_below(&rng, 4));
		if (iter % 2) {
			s.dst2_len = 8 * (1 + (size_t)zt_rng_below(&rng, 4));
			s.data_len += s.dst2_len;
		}
		if (iter % 5 == 0)
			s.hbh_len = 0;
		build(&rng, &s, &o);
		fragment(&o, 8 * (6 + (size_t)zt_rng_below(&rng, 100)), &rng, &fs);
		if (fs.v[0].dlen < s.dst2_len + 8) {
			/* too small for the chain: keep the test to valid ones */
			frags_free(&fs);
			fragment(&o, 8 * (1 + (s.dst2_len + 8) / 8), NULL, &fs);
		}
		shuffle(&rng, fs.v, fs.n);
		feed_all_expect(&t, &o, &fs, T0);
		frags_free(&fs);
	}
	table_empty(&t);
	zt_reasm_destroy(&t);
	orig_free(&o);
}

/* RFC 7112: the first fragment must carry the whole header chain. */
static void test_ip6_tiny_first(void)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o;
	struct zt_view out;
	struct frag f;
	/* proto, dst2 (ext header after the fragment header), smallest first
	 * fragment that is accepted */
	static const struct {
		uint8_t proto;
		size_t dst2, need;
	} cases[] = {
		{ ZT_IPPROTO_TCP, 0, 20 },
		{ ZT_IPPROTO_UDP, 0, 8 },
		{ ZT_IPPROTO_UDP, 16, 24 },
		{ ZT_IPPROTO_TCP, 8, 28 },
		{ PROTO_RAW, 24, 25 },
	};

	zt_rng_seed(&rng, zt_test_seed(111));
	orig_init(&o);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct shape s = shape_udp(ZT_AF_INET6, 96 + cases[i].dst2, (uint32_t)i);

		s.proto = cases[i].proto;
		s.dst2_len = cases[i].dst2;
		s.hbh_len = 8 * (i % 2);
		build(&rng, &s, &o);
		for (uint32_t len = 8; len <= 40; len += 8) {
			enum zt_drop want = len >= cases[i].need ?
				ZT_DROP_NONE : ZT_DROP_FRAG_CHAIN_INCOMPLETE;

			slice(&o, 0, len, true, &f);
			CU_ASSERT_EQUAL(feed(&t, &f, T0, &out), want);
			free(f.p);
			zt_reasm_expire(&t, UINT64_MAX, NULL, NULL);
		}
	}
	/* a nested fragment header or a late hop-by-hop is never a chain */
	{
		struct shape s = shape_udp(ZT_AF_INET6, 64, 99);

		s.dst2_len = 8;
		build(&rng, &s, &o);
		o.buf[o.frag_start] = ZT_IPPROTO_FRAGMENT;
		slice(&o, 0, 32, true, &f);
		CU_ASSERT_EQUAL(feed(&t, &f, T0, &out), ZT_DROP_BAD_FRAGMENT);
		free(f.p);
		o.buf[o.nh_off] = ZT_IPPROTO_HOPOPTS;
		slice(&o, 0, 32, true, &f);
		CU_ASSERT_EQUAL(feed(&t, &f, T0, &out), ZT_DROP_BAD_FRAGMENT);
		free(f.p);
	}
	table_empty(&t);
	zt_reasm_destroy(&t);
	orig_free(&o);
}

/* Fragments of 8 bytes, the last of 1 to 8: IPv4 TCP too (RFC 1858 tiny
 * fragments are harmless to a stack that inspects only whole datagrams). */
static void test_tiny_fragments(void)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o;

	zt_rng_seed(&rng, zt_test_seed(121));
	orig_init(&o);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
	for (int fam = 0; fam < 2; fam++) {
		for (size_t last = 1; last <= 8; last++) {
			for (size_t whole = 1; whole <= 4; whole++) {
				struct shape s = shape_udp(fam ? ZT_AF_INET6 : ZT_AF_INET,
							   8 * whole + last, (uint32_t)last);
				struct frags fs;

				if (fam == 0 && s.data_len >= 20)
					s.proto = ZT_IPPROTO_TCP;
				if (fam == 0 && s.data_len < 20)
					s.proto = PROTO_RAW;
				build(&rng, &s, &o);
				fragment(&o, 8, NULL, &fs);
				CU_ASSERT_EQUAL(fs.n, whole + 1);
				CU_ASSERT_EQUAL(fs.v[fs.n - 1].dlen, last);
				if (whole + last > 1 && (whole * last) % 2)
					reverse(fs.v, fs.n);
				else
					shuffle(&rng, fs.v, fs.n);
				feed_all_expect(&t, &o, &fs, T0);
				frags_free(&fs);
			}
		}
	}
	/* an empty last fragment ends a datagram at a fragment boundary */
	{
		struct shape s = shape_udp(ZT_AF_INET, 48, 1234);
		struct frags fs;
		struct zt_view out;
		struct frag empty;

		build(&rng, &s, &o);
		fragment(&o, 16, NULL, &fs);
		fs.v[fs.n - 1].more = true;
		free(fs.v[fs.n - 1].p);
		slice(&o, 32, 16, true, &fs.v[fs.n - 1]);
		make_frag(&o, 48, false, o.buf, 0, &empty);
		for (size_t i = 0; i < fs.n; i++) {
			CU_ASSERT_EQUAL(feed(&t, &fs.v[i], T0, &out), ZT_DROP_NONE);
			CU_ASSERT_PTR_NULL(out.data);
		}
		CU_ASSERT_EQUAL(feed(&t, &empty, T0, &out), ZT_DROP_NONE);
		check_same(&o, out);
		free(empty.p);
		frags_free(&fs);
	}
	table_empty(&t);
	zt_reasm_destroy(&t);
	orig_free(&o);
}

/* Feed every fragment of @fs but the @held-th, which the table holds
 * already: the datagram completes with the last one fed. */
static void feed_rest_expect(struct zt_reasm *t, const struct orig *o,
			     const struct frags *fs, size_t held, uint64_t now)
{
	struct zt_view out = { NULL, 0 };

	for (size_t i = 0; i < fs->n; i++) {
		if (i == held)
			continue;
		CU_ASSERT_PTR_NULL_FATAL(out.data);
		CU_ASSERT_EQUAL_FATAL(feed(t, &fs->v[i], now, &out), ZT_DROP_NONE);
	}
	check_same(o, out);
}

/* max_datagrams + 1 concurrent datagrams: the new one takes the slot of
 * the datagram begun longest ago, which is dropped (evicted, counted as no
 * memory), so that fragments that never complete cannot shut others out
 * until they time out; the others are kept and complete. */
static void test_table_full(void)
{
	enum { N = 5 };
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o[N + 1];
	struct frags fs[N + 1];
	struct zt_view out;
	const struct zt_reasm_config cfg = { .max_datagrams = N };

	zt_rng_seed(&rng, zt_test_seed(131));
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, &cfg), 0);
	for (int i = 0; i <= N; i++) {
		struct shape s = shape_udp(i % 2 ? ZT_AF_INET6 : ZT_AF_INET, 100,
					   (uint32_t)i);

		orig_init(&o[i]);
		build(&rng, &s, &o[i]);
		fragment(&o[i], 32, NULL, &fs[i]);
	}
	/* begun in the order 1, 2, 0, 3, 4: 1 is the oldest */
	for (int k = 0; k < N; k++) {
		int i = k < 2 ? k + 1 : k == 2 ? 0 : k;

		CU_ASSERT_EQUAL(feed(&t, &fs[i].v[1], T0 + (uint64_t)k, &out),
				ZT_DROP_NONE);
	}
	CU_ASSERT_EQUAL(t.stats.datagrams_in_use, N);
	feed_all_expect(&t, &o[N], &fs[N], T0 + N);
	CU_ASSERT_EQUAL(t.stats.datagrams_evicted, 1);
	CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_FRAG_NO_MEMORY], 1);
	CU_ASSERT_EQUAL(t.stats.datagrams_in_use, N - 1);
	/* every other one completes from what it held */
	for (int i = 0; i < N; i++)
		if (i != 1)
			feed_rest_expect(&t, &o[i], &fs[i], 1, T0 + N);
	table_empty(&t);
	/* a fragment of 1, evicted, now begins it afresh */
	CU_ASSERT_EQUAL(feed(&t, &fs[1].v[0], T0 + N, &out), ZT_DROP_NONE);
	CU_ASSERT_EQUAL(t.stats.datagrams_in_use, 1);
	CU_ASSERT_EQUAL(t.stats.datagrams_evicted, 1);
	for (int i = 0; i <= N; i++) {
		frags_free(&fs[i]);
		orig_free(&o[i]);
	}
	zt_reasm_destroy(&t);
}

/* The byte budget: the table never holds more; a fragment that finds too
 * few bytes free makes room by evicting the datagrams begun longest ago,
 * never the one it belongs to; a fragment larger than the whole budget is
 * refused and evicts nothing. Freed memory is reused. */
static void test_budget(void)
{
	enum { MAXD = 64 };
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig *o = calloc(MAXD, sizeof(*o));
	struct frags *fs = calloc(MAXD, sizeof(*fs));
	struct zt_view out;
	const struct zt_reasm_config cfg = { .max_datagrams = MAXD,
					     .max_bytes = 12 * ZT_REASM_CHUNK + 100 };
	uint64_t evicted = 0;
	int held = 0;

	CU_ASSERT_FATAL(o && fs);
	zt_rng_seed(&rng, zt_test_seed(141));
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, &cfg), 0);
	/* 1200-byte datagrams in two 600-byte fragments: once the first
	 * fragments of @held of them fill the budget, every later one evicts
	 * exactly the oldest */
	for (int n = 0; n < MAXD; n++) {
		struct shape s = shape_udp(n % 2 ? ZT_AF_INET6 : ZT_AF_INET, 1200,
					   (uint32_t)n);

		orig_init(&o[n]);
		build(&rng, &s, &o[n]);
		fragment(&o[n], 600, NULL, &fs[n]);
		CU_ASSERT_EQUAL(feed(&t, &fs[n].v[0], T0 + (uint64_t)n, &out),
				ZT_DROP_NONE);
		CU_ASSERT(t.stats.bytes_in_use <= 12 * ZT_REASM_CHUNK);
		if (!held && t.stats.datagrams_evicted)
			held = n;
		if (held) {
			evicted = (uint64_t)(n + 1 - held);
			CU_ASSERT_EQUAL(t.stats.datagrams_evicted, evicted);
			CU_ASSERT_EQUAL(t.stats.datagrams_in_use, (uint32_t)held);
		}
	}
	CU_ASSERT_FATAL(held > 1 && held < MAXD);
	CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_FRAG_NO_MEMORY], evicted);
	/* the newest completes: its second fragment, needing a chunk more,
	 * evicts the oldest other, never its own datagram */
	feed_rest_expect(&t, &o[MAXD - 1], &fs[MAXD - 1], 0, T0 + MAXD);
	CU_ASSERT_EQUAL(t.stats.datagrams_evicted, evicted + 1);
	CU_ASSERT_EQUAL(t.stats.datagrams_in_use, (uint32_t)held - 2);
	CU_ASSERT_EQUAL(zt_reasm_expire(&t, UINT64_MAX, NULL, NULL),
			(unsigned)held - 2);
	table_empty(&t);
	for (int n = 0; n < MAXD; n++)
		feed_all_expect(&t, &o[n], &fs[n], T0 + MAXD);
	table_empty(&t);
	/* a fragment larger than the whole budget: refused, nothing evicted */
	{
		struct shape big = shape_udp(ZT_AF_INET6, 30000, 99);
		struct orig ob;
		struct frags fb;

		orig_init(&ob);
		build(&rng, &big, &ob);
		fragment(&ob, 16000, NULL, &fb);
		CU_ASSERT_EQUAL(feed(&t, &fs[0].v[0], T0 + MAXD, &out), ZT_DROP_NONE);
		CU_ASSERT_EQUAL(feed(&t, &fb.v[0], T0 + MAXD, &out),
				ZT_DROP_FRAG_NO_MEMORY);
		CU_ASSERT_EQUAL(t.stats.datagrams_in_use, 1);
		CU_ASSERT_EQUAL(t.stats.datagrams_evicted, evicted + 1);
		CU_ASSERT_EQUAL(zt_reasm_expire(&t, UINT64_MAX, NULL, NULL), 1);
		frags_free(&fb);
		orig_free(&ob);
	}
	for (int n = 0; n < MAXD; n++) {
		frags_free(&fs[n]);
		orig_free(&o[n]);
	}
	free(o);
	free(fs);
	zt_reasm_destroy(&t);
}

/* A burst of tiny fragments that never complete (28 bytes on the wire
 * pinning a chunk each) neither fills the slots nor the budget for good:
 * a datagram that comes after it is reassembled at once, not refused
 * until the burst times out. */
static void test_flood_evicted(void)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o, v;
	struct frags fs;
	struct zt_view out;
	struct frag f;
	uint8_t junk[8] = { 0 };
	const struct zt_reasm_config cfg = { 0 };
	struct shape s = shape_udp(ZT_AF_INET, 64, 0);
	struct shape vs = shape_udp(ZT_AF_INET6, 3000, 7);

	zt_rng_seed(&rng, zt_test_seed(153));
	orig_init(&o);
	orig_init(&v);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, &cfg), 0);
	for (uint32_t i = 0; i < 4 * ZT_REASM_DEFAULT_MAX_DATAGRAMS; i++) {
		s.ident = i;
		build(&rng, &s, &o);
		/* each 8 bytes far from the last: one chunk each */
		make_frag(&o, 8 + 1024 * (i % 60), true, junk, 8, &f);
		CU_ASSERT_EQUAL(feed(&t, &f, T0, &out), ZT_DROP_NONE);
		free(f.p);
	}
	CU_ASSERT_EQUAL(t.stats.datagrams_in_use, ZT_REASM_DEFAULT_MAX_DATAGRAMS);
	build(&rng, &vs, &v);
	fragment(&v, 1000, NULL, &fs);
	feed_all_expect(&t, &v, &fs, T0 + 1);
	CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_FRAG_NO_MEMORY],
			t.stats.datagrams_evicted);
	CU_ASSERT(t.stats.datagrams_evicted >= 3 * ZT_REASM_DEFAULT_MAX_DATAGRAMS);
	frags_free(&fs);
	zt_reasm_destroy(&t);
	orig_free(&o);
	orig_free(&v);
}

/* A datagram scattered far apart costs only what it touches. */
static void test_sparse_cost(void)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o;
	struct zt_view out;
	struct frag f;
	uint8_t junk[8] = { 0 };
	const struct zt_reasm_config cfg = { .max_bytes = 4 * ZT_REASM_CHUNK };
	struct shape s = shape_udp(ZT_AF_INET, 64, 8);

	zt_rng_seed(&rng, zt_test_seed(151));
	orig_init(&o);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, &cfg), 0);
	for (uint32_t i = 0; i < 5; i++) {
		s.ident = i;
		build(&rng, &s, &o);
		make_frag(&o, 60000 - 8000 * i, true, junk, 8, &f);
		CU_ASSERT_EQUAL(feed(&t, &f, T0 + i, &out), ZT_DROP_NONE);
		free(f.p);
	}
	/* four fit; the fifth evicted the first */
	CU_ASSERT_EQUAL(t.stats.bytes_in_use, 4 * ZT_REASM_CHUNK);
	CU_ASSERT_EQUAL(t.stats.datagrams_in_use, 4);
	CU_ASSERT_EQUAL(t.stats.datagrams_evicted, 1);
	zt_reasm_destroy(&t);
	orig_free(&o);
}

/* RFC 3168 5.3: CE on any fragment marks the datagram; Not-ECT mixed with
 * ECT drops it. */
static void test_ecn(void)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig o, ce;
	struct zt_view out;

	zt_rng_seed(&rng, zt_test_seed(161));
	orig_init(&o);
	orig_init(&ce);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
	for (int fam = 0; fam < 2; fam++) {
		for (int iter = 0; iter < 8; iter++) {
			struct shape s = shape_udp(fam ? ZT_AF_INET6 : ZT_AF_INET, 800,
						   (uint32_t)iter);
			struct frags fs, fc;
			size_t k;
			bool mixed = iter >= 4;
			struct zt_packet pkt;

			s.ecn = mixed ? 0 : (iter % 2 ? 1 : 2); /* Not-ECT, ECT(1), ECT(0) */
			build(&rng, &s, &o);
			fragment(&o, 200, NULL, &fs);
			/* the same datagram with CE (or ECT(0) when mixing) */
			memcpy(ce.buf, o.buf, o.len);
			ce.len = o.len;
			ce.family = o.family;
			ce.frag_start = o.frag_start;
			ce.nh_off = o.nh_off;
			ce.ident = o.ident;
			ce.src = o.src;
			ce.dst = o.dst;
			if (fam) {
				ce.buf[1] |= (mixed ? 2 : 3) << 4;
			} else {
				ce.buf[1] |= mixed ? 2 : 3;
				zt_wr16(ce.buf + 10, 0);
				zt_wr16(ce.buf + 10, zt_csum_fold(zt_csum_add(0, ce.buf, 20)));
			}
			fragment(&ce, 200, NULL, &fc);
			k = (size_t)zt_rng_below(&rng, fs.n);
			free(fs.v[k].p);
			fs.v[k] = fc.v[k];
			fc.v[k].p = NULL;
			shuffle(&rng, fs.v, fs.n);
			for (size_t i = 0; i + 1 < fs.n; i++) {
				CU_ASSERT_EQUAL(feed(&t, &fs.v[i], T0, &out), ZT_DROP_NONE);
			}
			if (mixed) {
				CU_ASSERT_EQUAL(feed(&t, &fs.v[fs.n - 1], T0, &out),
						ZT_DROP_BAD_FRAGMENT);
				CU_ASSERT_PTR_NULL(out.data);
			} else {
				CU_ASSERT_EQUAL(feed(&t, &fs.v[fs.n - 1], T0, &out),
						ZT_DROP_NONE);
				check_same(&ce, out); /* the CE original, checksum included */
				CU_ASSERT_EQUAL(zt_packet_parse(out, 0, &pkt), ZT_DROP_NONE);
			}
			table_empty(&t);
			frags_free(&fs);
			frags_free(&fc);
		}
	}
	CU_ASSERT_EQUAL(t.stats.drops[ZT_DROP_BAD_FRAGMENT], 8);
	zt_reasm_destroy(&t);
	orig_free(&o);
	orig_free(&ce);
}

/* Two datagrams differing in one key field only are kept apart. */
static void test_keys(void)
{
	struct zt_rng rng;
	struct zt_reasm t;
	struct orig a, b;
	struct frags fa, fb;
	struct zt_view out;

	zt_rng_seed(&rng, zt_test_seed(171));
	orig_init(&a);
	orig_init(&b);
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
	for (int k = 0; k < 8; k++) {
		int fam = k / 4;
		struct shape s = shape_udp(fam ? ZT_AF_INET6 : ZT_AF_INET, 160, 42);

		build(&rng, &s, &a);
		memcpy(b.buf, a.buf, a.len);
		b = (struct orig){ .buf = b.buf, .len = a.len, .family = a.family,
				   .frag_start = a.frag_start, .nh_off = a.nh_off,
				   .ident = a.ident, .src = a.src, .dst = a.dst };
		fill(&rng, b.buf + b.frag_start + 8, 16); /* other data, raw */
		switch (k % 4) {
		case 0: /* ident */
			b.ident = a.ident + 1;
			if (!fam)
				zt_wr16(b.buf + 4, (uint16_t)b.ident);
			break;
		case 1: /* source */
			b.buf[fam ? 23 : 15] ^= 1;
			b.src.bytes[fam ? 15 : 3] ^= 1;
			break;
		case 2: /* destination */
			b.buf[fam ? 39 : 19] ^= 1;
			b.dst.bytes[fam ? 15 : 3] ^= 1;
			break;
		default: /* protocol (IPv4 only; IPv6 other hop limit) */
			if (fam)
				b.buf[7] ^= 1;
			else
				b.buf[9] = PROTO_RAW;
			break;
		}
		if (!fam) {
			zt_wr16(b.buf + 10, 0);
			zt_wr16(b.buf + 10, zt_csum_fold(zt_csum_add(0, b.buf, 20)));
		}
		/* fix b's UDP checksum over its new bytes and addresses */
		if (b.buf[fam ? 6 : 9] == ZT_IPPROTO_UDP) {
			uint8_t *u = b.buf + b.frag_start;
			uint16_t c;

			zt_wr16(u + 6, 0);
			c = zt_csum_l4(&b.src, &b.dst, ZT_IPPROTO_UDP, u, 160);
			zt_wr16(u + 6, c ? c : 0xffff);
		}
		fragment(&a, 48, NULL, &fa);
		fragment(&b, 48, NULL, &fb);
		for (size_t i = 0; i < fa.n; i++) {
			bool last = i + 1 == fa.n;
			bool same_key = fam && k % 4 == 3;

			CU_ASSERT_EQUAL(feed(&t, &fa.v[i], T0, &out), ZT_DROP_NONE);
			if (last && !same_key)
				check_same(&a, out);
			if (same_key) {
				/* the hop limit is no key: b's fragments with other
				 * bytes land on a's datagram as overlaps */
				enum zt_drop why = feed(&t, &fb.v[i], T0, &out);

				CU_ASSERT_EQUAL(why, ZT_DROP_FRAG_OVERLAP);
				zt_reasm_expire(&t, UINT64_MAX, NULL, NULL);
				break;
			}
			CU_ASSERT_EQUAL(feed(&t, &fb.v[i], T0, &out), ZT_DROP_NONE);
			if (last)
				check_same(&b, out);
		}
		table_empty(&t);
		frags_free(&fa);
		frags_free(&fb);
	}
	zt_reasm_destroy(&t);
	orig_free(&a);
	orig_free(&b);
}

/* 1000 random datagrams, 1 to 65000 bytes, random fragment sizes, random
 * order, several at once, with duplicates now and then: all come back. */
static void test_property(void)
{
	enum { TOTAL = 1000, MAX_ACTIVE = 8 };
	struct active {
		struct orig o;
		struct frags fs;
		size_t next;
		bool live;
	} *act = calloc(MAX_ACTIVE, sizeof(*act));
	struct zt_rng rng;
	struct zt_reasm t;
	int started = 0, finished = 0;
	uint64_t now = T0, dups = 0, singles = 0;

	CU_ASSERT_FATAL(act != NULL);
	zt_rng_seed(&rng, zt_test_seed(0x5eed));
	CU_ASSERT_EQUAL_FATAL(zt_reasm_init(&t, NULL), 0);
	for (int i = 0; i < MAX_ACTIVE; i++)
		orig_init(&act[i].o);
	while (finished < TOTAL) {
		size_t a = (size_t)zt_rng_below(&rng, MAX_ACTIVE);
		struct active *x = &act[a];
		struct zt_view out;
		enum zt_drop why;

		if (!x->live) {
			struct shape s;
			size_t piece;

			if (started == TOTAL)
				continue;
			s = random_shape(&rng, 65000, (uint32_t)started);
			if (s.family == ZT_AF_INET && s.data_len + 20 + s.opts_len > 65535)
				s.opts_len = 0;
			if (s.family == ZT_AF_INET6 && s.data_len + s.hbh_len + s.dst1_len > 65535)
				s.hbh_len = s.dst1_len = 0;
			build(&rng, &s, &x->o);
			switch (zt_rng_below(&rng, 3)) {
			case 0:
				piece = 8 * (1 + (size_t)zt_rng_below(&rng, 16));
				break;
			case 1:
				piece = 8 * (1 + (size_t)zt_rng_below(&rng, 400));
				break;
			default:
				piece = 8 * (1 + (size_t)zt_rng_below(&rng, 8191));
				break;
			}
			fragment(&x->o, piece, &rng, &x->fs);
			shuffle(&rng, x->fs.v, x->fs.n);
			x->next = 0;
			x->live = true;
			started++;
			if (x->fs.n == 1 && s.family == ZT_AF_INET) {
				/* not a fragment: nothing to reassemble */
				CU_ASSERT_EQUAL(feed(&t, &x->fs.v[0], now, &out),
						ZT_DROP_BAD_FRAGMENT);
				CU_ASSERT_EQUAL(memcmp(x->fs.v[0].p, x->o.buf, x->o.len), 0);
				frags_free(&x->fs);
				x->live = false;
				finished++;
				singles++;
				continue;
			}
		}
		now += zt_rng_below(&rng, 1000);
		why = feed(&t, &x->fs.v[x->next], now, &out);
		CU_ASSERT_EQUAL_FATAL(why, ZT_DROP_NONE);
		x->next++;
		if (x->next < x->fs.n) {
			CU_ASSERT_PTR_NULL_FATAL(out.data);
			if (zt_rng_below(&rng, 16) == 0) {
				why = feed(&t, &x->fs.v[zt_rng_below(&rng, x->next)], now, &out);
				CU_ASSERT_EQUAL_FATAL(why, ZT_DROP_NONE);
				CU_ASSERT_PTR_NULL_FATAL(out.data);
				dups++;
			}
			continue;
		}
		check_same(&x->o, out);
		frags_free(&x->fs);
		x->live = false;
		finished++;
	}
	table_empty(&t);
	CU_ASSERT_EQUAL(t.stats.datagrams_completed, TOTAL - singles);
	CU_ASSERT_EQUAL(t.stats.frags_duplicate, dups);
	/* the only refusals: IPv4 datagrams that fit in one piece */
	for (int r = 1; r < ZT_DROP__COUNT; r++)
		CU_ASSERT_EQUAL(t.stats.drops[r], r == ZT_DROP_BAD_FRAGMENT ? singles : 0);
	CU_ASSERT(singles < TOTAL / 4); /* most were really fragmented */
	for (int i = 0; i < MAX_ACTIVE; i++)
		orig_free(&act[i].o);
	free(act);
	zt_reasm_destroy(&t);
}

static void test_init_config(void)
{
	struct zt_reasm t;
	struct zt_reasm_config c;

	CU_ASSERT_EQUAL(zt_reasm_init(&t, NULL), 0);
	CU_ASSERT_EQUAL(t.cfg.max_datagrams, ZT_REASM_DEFAULT_MAX_DATAGRAMS);
	CU_ASSERT_EQUAL(t.cfg.max_bytes, ZT_REASM_DEFAULT_MAX_BYTES);
	CU_ASSERT_EQUAL(t.cfg.timeout_ip4, 30 * NS);
	CU_ASSERT_EQUAL(t.cfg.timeout_ip6, 60 * NS);
	table_empty(&t);
	zt_reasm_destroy(&t);
	zt_reasm_destroy(&t); /* twice is fine */
	memset(&c, 0, sizeof(c));
	c.max_bytes = ZT_REASM_CHUNK - 1;
	CU_ASSERT_EQUAL(zt_reasm_init(&t, &c), -EINVAL);
	zt_reasm_destroy(&t);
	c.max_bytes = 0;
	c.max_datagrams = ZT_REASM_MAX_DATAGRAMS_LIMIT + 1;
	CU_ASSERT_EQUAL(zt_reasm_init(&t, &c), -EINVAL);
	zt_reasm_destroy(&t);
}

int zt_suite_reasm(void)
{
	static const struct zt_test_case cases[] = {
		{ "init and config defaults", test_init_config },
		{ "in order, reverse, random order", test_orders },
		{ "exact duplicates accepted", test_duplicates },
		{ "overlaps drop the datagram", test_overlap },
		{ "after an overlap the key starts fresh", test_overlap_then_fresh },
		{ "length contradictions", test_length_conflicts },
		{ "a flood of length contradictions holds nothing",
		  test_length_conflict_flood },
		{ "an empty last fragment, twice", test_empty_last_fragment },
		{ "missing fragment, timeout and callback", test_timeout },
		{ "next deadline", test_next_deadline },
		{ "too big", test_too_big },
		{ "bad fragments", test_bad_fragments },
		{ "IPv6 atomic fragment", test_atomic_fragment },
		{ "IPv6 hop-by-hop and dest options", test_ip6_ext_headers },
		{ "IPv6 tiny first fragment (RFC 7112)", test_ip6_tiny_first },
		{ "tiny fragments", test_tiny_fragments },
		{ "table full", test_table_full },
		{ "byte budget", test_budget },
		{ "a flood of fragments is evicted", test_flood_evicted },
		{ "sparse datagrams cost what they touch", test_sparse_cost },
		{ "ECN (RFC 3168)", test_ecn },
		{ "keys", test_keys },
		{ "property: 1000 interleaved datagrams", test_property },
		{ NULL, NULL }
	};

	return zt_add_suite("reasm", NULL, NULL, cases);
}
