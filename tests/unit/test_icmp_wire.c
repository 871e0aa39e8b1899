/* SPDX-License-Identifier: MIT */
/*
 * test_icmp_wire.c - ICMPv4/ICMPv6: classification, seeded emit->parse round
 * trips for every kind, known-answer messages, corruption and truncation;
 * and the quoted datagram of an error: IPv4 (with options) and IPv6 (with
 * extension headers) carrying TCP, UDP or ICMP, cut at every length, each
 * parse over an exactly-sized heap copy so ASan sees any over-read.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ztun/checksum.h"
#include "ztun/icmp_wire.h"
#include "ztun/ip4.h"
#include "ztun/ip6.h"
#include "ztun/rng.h"
#include "ztun/tcp_wire.h"
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


static void test_classify(void)
{
	static const struct {
		uint8_t family, type, code;
		enum zt_icmp_kind kind;
	} t[] = {
		{ ZT_AF_INET, 0, 0, ZT_ICMP_ECHO_REPLY },
		{ ZT_AF_INET, 8, 0, ZT_ICMP_ECHO_REQUEST },
		{ ZT_AF_INET, 8, 9, ZT_ICMP_ECHO_REQUEST },
		{ ZT_AF_INET, 3, 0, ZT_ICMP_DEST_UNREACH },
		{ ZT_AF_INET, 3, 1, ZT_ICMP_DEST_UNREACH },
		{ ZT_AF_INET, 3, 3, ZT_ICMP_DEST_UNREACH },
		{ ZT_AF_INET, 3, 4, ZT_ICMP_PACKET_TOO_BIG },
		{ ZT_AF_INET, 3, 13, ZT_ICMP_DEST_UNREACH },
		{ ZT_AF_INET, 11, 0, ZT_ICMP_TIME_EXCEEDED },
		{ ZT_AF_INET, 11, 1, ZT_ICMP_TIME_EXCEEDED },
		{ ZT_AF_INET, 12, 0, ZT_ICMP_PARAM_PROBLEM },
		{ ZT_AF_INET, 5, 1, ZT_ICMP_OTHER },      /* redirect */
		{ ZT_AF_INET, 13, 0, ZT_ICMP_OTHER },     /* timestamp */
		{ ZT_AF_INET, 128, 0, ZT_ICMP_OTHER },
		{ ZT_AF_INET, 1, 0, ZT_ICMP_OTHER },
		{ ZT_AF_INET6, 128, 0, ZT_ICMP_ECHO_REQUEST },
		{ ZT_AF_INET6, 129, 0, ZT_ICMP_ECHO_REPLY },
		{ ZT_AF_INET6, 1, 0, ZT_ICMP_DEST_UNREACH },
		{ ZT_AF_INET6, 1, 4, ZT_ICMP_DEST_UNREACH },
		{ ZT_AF_INET6, 2, 0, ZT_ICMP_PACKET_TOO_BIG },
		{ ZT_AF_INET6, 3, 0, ZT_ICMP_TIME_EXCEEDED },
		{ ZT_AF_INET6, 4, 1, ZT_ICMP_PARAM_PROBLEM },
		{ ZT_AF_INET6, 135, 0, ZT_ICMP_OTHER },   /* neighbour solicitation */
		{ ZT_AF_INET6, 8, 0, ZT_ICMP_OTHER },
		{ ZT_AF_INET6, 0, 0, ZT_ICMP_OTHER },
		{ 0, 8, 0, ZT_ICMP_OTHER },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CU_ASSERT_EQUAL(zt_icmp_classify(t[i].family, t[i].type, t[i].code),
				t[i].kind);
}

/*
 * The destination unreachable codes that end what they are about: Linux's
 * fatal ones (icmp_err_convert, icmpv6_err_convert). Network and host
 * unreachable, source route failed, the TOS ones, IPv6 no route, beyond
 * scope and address unreachable are soft (RFC 1122 4.2.3.9).
 */
static void test_unreach_hard(void)
{
	static const uint8_t hard4[] = { 2, 3, 6, 7, 8, 9, 10, 13, 14, 15 };
	static const uint8_t hard6[] = { 1, 4, 5, 6 };

	for (unsigned code = 0; code < 256; code++) {
		bool h4 = memchr(hard4, (int)code, sizeof(hard4)) != NULL;
		bool h6 = memchr(hard6, (int)code, sizeof(hard6)) != NULL;

		CU_ASSERT_EQUAL(zt_icmp_unreach_hard(ZT_AF_INET, (uint8_t)code), h4);
		CU_ASSERT_EQUAL(zt_icmp_unreach_hard(ZT_AF_INET6, (uint8_t)code), h6);
	}
}

/* Type/code naming @kind in @family, drawn at random. */
static void rand_type_code(struct zt_rng *rng, bool v6, enum zt_icmp_kind kind,
			   uint8_t *type, uint8_t *code)
{
	static const uint8_t t4[] = { 0, 8, 0, 3, 3, 11, 12 };
	static const uint8_t t6[] = { 0, 128, 129, 1, 2, 3, 4 };

	*code = (uint8_t)zt_rng_next(rng);
	if (kind == ZT_ICMP_OTHER) {
		do
			*type = (uint8_t)zt_rng_next(rng);
		while (zt_icmp_classify(v6 ? ZT_AF_INET6 : ZT_AF_INET, *type,
					*code) != ZT_ICMP_OTHER);
		return;
	}
	*type = v6 ? t6[kind] : t4[kind];
	if (!v6 && kind == ZT_ICMP_PACKET_TOO_BIG)
		*code = ZT_ICMP4_CODE_FRAG_NEEDED;
	else if (!v6 && kind == ZT_ICMP_DEST_UNREACH && *code == 4)
		*code = 3;
}

/*
 * A random valid repr of @kind, and the repr parse must give back: fields of
 * other kinds zero, rest the raw bytes 4..7 as the RFCs lay them out.
 */
static void rand_icmp(struct zt_rng *rng, bool v6, enum zt_icmp_kind kind,
		      struct zt_icmp_repr *r, struct zt_icmp_repr *want)
{
	r->kind = (enum zt_icmp_kind)zt_rng_below(rng, 7); /* ignored by emit */
	rand_type_code(rng, v6, kind, &r->type, &r->code);
	r->echo_ident = (uint16_t)zt_rng_next(rng);
	r->echo_seq = (uint16_t)zt_rng_next(rng);
	r->mtu = v6 ? zt_rng_u32(rng) : (uint16_t)zt_rng_next(rng);
	r->pointer = v6 ? zt_rng_u32(rng) : (uint8_t)zt_rng_next(rng);
	r->rest = zt_rng_u32(rng);

	memset(want, 0, sizeof(*want));
	want->type = r->type;
	want->code = r->code;
	want->kind = kind;
	switch (kind) {
	case ZT_ICMP_ECHO_REQUEST:
	case ZT_ICMP_ECHO_REPLY:
		want->echo_ident = r->echo_ident;
		want->echo_seq = r->echo_seq;
		want->rest = (uint32_t)r->echo_ident << 16 | r->echo_seq;
		break;
	case ZT_ICMP_PACKET_TOO_BIG:
		want->mtu = r->mtu;
		want->rest = r->mtu; /* v4: 2 unused zero bytes, then the MTU */
		break;
	case ZT_ICMP_PARAM_PROBLEM:
		want->pointer = r->pointer;
		want->rest = v6 ? r->pointer : r->pointer << 24;
		break;
	default:
		want->rest = r->rest;
		break;
	}
}

static bool icmp_eq(const struct zt_icmp_repr *a, const struct zt_icmp_repr *b)
{
	return a->type == b->type && a->code == b->code && a->kind == b->kind &&
	       a->echo_ident == b->echo_ident && a->echo_seq == b->echo_seq &&
	       a->mtu == b->mtu && a->pointer == b->pointer && a->rest == b->rest;
}

static int emit(bool v6, const struct zt_icmp_repr *r, const struct zt_addr *s,
		const struct zt_addr *d, const uint8_t *body, size_t blen,
		uint8_t *buf, size_t cap)
{
	return v6 ? zt_icmp6_emit(r, s, d, body, blen, buf, cap) :
		    zt_icmp4_emit(r, body, blen, buf, cap);
}

static enum zt_drop parse(bool v6, const uint8_t *p, size_t n,
			  const struct zt_addr *s, const struct zt_addr *d,
			  unsigned flags, struct zt_icmp_repr *out,
			  struct zt_view *body)
{
	struct zt_view v = zt_view_make(p, n);

	return v6 ? zt_icmp6_parse(v, s, d, flags, out, body) :
		    zt_icmp4_parse(v, flags, out, body);
}

/* The checksum a receiver verifies: the message alone for v4, with the
 * pseudo-header for v6. 0 when right. */
static uint16_t verify(bool v6, const uint8_t *p, size_t n,
		       const struct zt_addr *s, const struct zt_addr *d)
{
	return v6 ? zt_csum_l4(s, d, ZT_IPPROTO_ICMPV6, p, n) :
		    zt_csum_fold(zt_csum_add(0, p, n));
}

static void roundtrip(bool v6, uint64_t seed)
{
	struct zt_rng rng;
	uint8_t body[1500];

	zt_rng_seed(&rng, seed);
	for (int iter = 0; iter < 6000; iter++) {
		enum zt_icmp_kind kind = (enum zt_icmp_kind)(iter % 7);
		struct zt_icmp_repr r, want, got;
		struct zt_addr s, d;
		struct zt_view b;
		size_t blen = (size_t)zt_rng_below(&rng, sizeof(body) + 1);
		size_t total = 8 + blen;
		unsigned mode = (unsigned)zt_rng_below(&rng, 3);
		const uint8_t *src_b = body;
		uint8_t *buf = malloc(total);

		CU_ASSERT_FATAL(buf != NULL);
		rand_icmp(&rng, v6, kind, &r, &want);
		rand_addrs(&rng, v6, &s, &d);
		rand_fill(&rng, body, blen);
		if (mode == 1) {
			memcpy(buf + 8, body, blen);
			src_b = buf + 8;
		} else if (mode == 2) {
			memcpy(buf, body, blen);
			src_b = buf;
		}
		CU_ASSERT_EQUAL_FATAL(emit(v6, &r, &s, &d, src_b, blen, buf, total),
				      (int)total);
		CU_ASSERT_FATAL(buf[0] == r.type && buf[1] == r.code);
		CU_ASSERT_EQUAL_FATAL(zt_rd32(buf + 4), want.rest);
		CU_ASSERT_EQUAL_FATAL(verify(v6, buf, total, &s, &d), 0);
		CU_ASSERT_EQUAL_FATAL(parse(v6, buf, total, &s, &d, 0, &got, &b),
				      ZT_DROP_NONE);
		CU_ASSERT_FATAL(icmp_eq(&want, &got));
		CU_ASSERT_FATAL(b.len == blen && b.data == buf + 8);
		CU_ASSERT_FATAL(memcmp(b.data, body, blen) == 0);
		free(buf);
	}
}

static void test_roundtrip_v4(void)
{
	roundtrip(false, zt_test_seed(301));
}

static void test_roundtrip_v6(void)
{
	roundtrip(true, zt_test_seed(302));
}

static void test_emit_errors(void)
{
	struct zt_icmp_repr r;
	struct zt_addr s, d;
	struct zt_rng rng;
	uint8_t buf[32];

	zt_rng_seed(&rng, zt_test_seed(303));
	memset(&r, 0, sizeof(r));
	r.type = ZT_ICMP6_ECHO_REQUEST;
	rand_addrs(&rng, true, &s, &d);
	CU_ASSERT_EQUAL(zt_icmp4_emit(&r, NULL, 0, buf, 7), -ENOSPC);
	CU_ASSERT_EQUAL(zt_icmp4_emit(&r, NULL, 0, buf, 8), 8);
	CU_ASSERT_EQUAL(zt_icmp6_emit(&r, &s, &d, NULL, 0, buf, 7), -ENOSPC);
	CU_ASSERT_EQUAL(zt_icmp6_emit(&r, &s, &d, buf, 25, buf, 32), -ENOSPC);
	CU_ASSERT_EQUAL(zt_icmp6_emit(&r, &s, &d, buf, 24, buf, 32), 32);
	CU_ASSERT_EQUAL(zt_icmp4_emit(&r, buf, 65528, buf, (size_t)-1), -EINVAL);
	CU_ASSERT_EQUAL(zt_icmp6_emit(&r, &s, &d, buf, 65528, buf, (size_t)-1),
			-EINVAL);
}

/* Messages built by hand, checksums computed outside this code base. */
static void test_known_answers(void)
{
	static const uint8_t echo4[] = {
		0x08, 0x00, 0x4a, 0x3a, 0x1c, 0x2f, 0x00, 0x01,
		'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h',
	};
	static const uint8_t fragneeded[] = {
		0x03, 0x04, 0x94, 0xda, 0x00, 0x00, 0x05, 0x78,
		0x45, 0x00, 0x05, 0xdc, 0x12, 0x34, 0x40, 0x00,
		0x40, 0x06, 0xe3, 0x0c, 0x0a, 0x00, 0x00, 0x01,
		0x5d, 0xb8, 0xd8, 0x22, 0xc3, 0x50, 0x01, 0xbb,
		0xde, 0xad, 0xbe, 0xef,
	};
	static const uint8_t ptb6[] = {
		0x02, 0x00, 0x91, 0x30, 0x00, 0x00, 0x05, 0x00,
		0, 1, 2, 3, 4, 5, 6, 7,
	};
	static const uint8_t echo6[] = {
		0x80, 0x00, 0x33, 0x38, 0x12, 0x34, 0x00, 0x07,
		'p', 'i', 'n', 'g',
	};
	const uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	const uint8_t b6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	struct zt_addr s = zt_addr_v6(a6), d = zt_addr_v6(b6);
	struct zt_icmp_repr r;
	struct zt_icmp_quote q;
	struct zt_view b;
	uint8_t out[64];

	CU_ASSERT_EQUAL_FATAL(zt_icmp4_parse(zt_view_make(echo4, sizeof(echo4)), 0,
					     &r, &b),
			      ZT_DROP_NONE);
	CU_ASSERT(r.kind == ZT_ICMP_ECHO_REQUEST && r.echo_ident == 0x1c2f &&
		  r.echo_seq == 1 && r.rest == 0x1c2f0001);
	CU_ASSERT(b.len == 8 && memcmp(b.data, "abcdefgh", 8) == 0);
	CU_ASSERT_EQUAL(zt_icmp4_emit(&r, b.data, b.len, out, sizeof(out)), 16);
	CU_ASSERT(memcmp(out, echo4, sizeof(echo4)) == 0);

	CU_ASSERT_EQUAL_FATAL(zt_icmp4_parse(zt_view_make(fragneeded,
							  sizeof(fragneeded)),
					     0, &r, &b),
			      ZT_DROP_NONE);
	CU_ASSERT(r.kind == ZT_ICMP_PACKET_TOO_BIG && r.mtu == 1400 &&
		  r.rest == 1400 && r.pointer == 0 && r.echo_ident == 0);
	CU_ASSERT_EQUAL(zt_icmp4_emit(&r, b.data, b.len, out, sizeof(out)), 36);
	CU_ASSERT(memcmp(out, fragneeded, sizeof(fragneeded)) == 0);
	CU_ASSERT_EQUAL_FATAL(zt_icmp_parse_quote(b, &q), ZT_DROP_NONE);
	CU_ASSERT(q.src.family == ZT_AF_INET && q.src.bytes[0] == 10 &&
		  q.dst.bytes[0] == 93 && q.dst.bytes[3] == 34);
	CU_ASSERT(q.proto == ZT_IPPROTO_TCP && q.has_ports && q.src_port == 50000 &&
		  q.dst_port == 443 && q.has_seq && q.tcp_seq == 0xdeadbeef &&
		  !q.has_echo);
	CU_ASSERT_EQUAL(q.ip_len, 1500); /* its total length, not the quote's */

	CU_ASSERT_EQUAL_FATAL(zt_icmp6_parse(zt_view_make(ptb6, sizeof(ptb6)), &s,
					     &d, 0, &r, &b),
			      ZT_DROP_NONE);
	CU_ASSERT(r.kind == ZT_ICMP_PACKET_TOO_BIG && r.mtu == 1280 && r.rest == 1280);
	CU_ASSERT_EQUAL(zt_icmp6_emit(&r, &s, &d, b.data, b.len, out, sizeof(out)), 16);
	CU_ASSERT(memcmp(out, ptb6, sizeof(ptb6)) == 0);
	/* The same bytes between other addresses fail the pseudo-header. */
	CU_ASSERT_EQUAL(zt_icmp6_parse(zt_view_make(ptb6, sizeof(ptb6)), &d, &d,
				       0, &r, &b),
			ZT_DROP_BAD_CHECKSUM);

	CU_ASSERT_EQUAL_FATAL(zt_icmp6_parse(zt_view_make(echo6, sizeof(echo6)), &s,
					     &d, 0, &r, &b),
			      ZT_DROP_NONE);
	CU_ASSERT(r.kind == ZT_ICMP_ECHO_REQUEST && r.echo_ident == 0x1234 &&
		  r.echo_seq == 7 && b.len == 4);
	/* ICMPv4 has no pseudo-header: an echo6 read as ICMPv4 fails. */
	CU_ASSERT_EQUAL(zt_icmp4_parse(zt_view_make(echo6, sizeof(echo6)), 0, &r, &b),
			ZT_DROP_BAD_CHECKSUM);
}

static void test_short_messages(void)
{
	struct zt_rng rng;
	struct zt_addr s, d;
	struct zt_icmp_repr r;
	struct zt_view b;
	uint8_t msg[8];

	zt_rng_seed(&rng, zt_test_seed(304));
	rand_addrs(&rng, true, &s, &d);
	rand_fill(&rng, msg, sizeof(msg));
	for (size_t len = 0; len < 8; len++) {
		uint8_t *c = zt_test_dup_exact(msg, len);

		CU_ASSERT_EQUAL(zt_icmp4_parse(zt_view_make(c, len), 0, &r, &b),
				ZT_DROP_TRUNCATED);
		CU_ASSERT_EQUAL(zt_icmp4_parse(zt_view_make(c, len), ZT_PARSE_NO_CSUM,
					       &r, &b),
				ZT_DROP_TRUNCATED);
		CU_ASSERT_EQUAL(zt_icmp6_parse(zt_view_make(c, len), &s, &d, 0, &r, &b),
				ZT_DROP_TRUNCATED);
		free(c);
	}
}

static uint8_t *rand_msg(struct zt_rng *rng, bool v6, size_t max_body,
			 struct zt_icmp_repr *want, struct zt_addr *s,
			 struct zt_addr *d, size_t *total)
{
	struct zt_icmp_repr r;
	uint8_t body[1500];
	size_t blen = (size_t)zt_rng_below(rng, max_body + 1);
	uint8_t *buf;

	rand_icmp(rng, v6, (enum zt_icmp_kind)zt_rng_below(rng, 7), &r, want);
	rand_addrs(rng, v6, s, d);
	rand_fill(rng, body, blen);
	*total = 8 + blen;
	buf = malloc(*total);
	CU_ASSERT_FATAL(buf != NULL);
	CU_ASSERT_EQUAL_FATAL(emit(v6, &r, s, d, body, blen, buf, *total),
			      (int)*total);
	return buf;
}

static void test_corruption(void)
{
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(305));
	for (int iter = 0; iter < 600; iter++) {
		bool v6 = iter & 1;
		struct zt_icmp_repr want, got;
		struct zt_addr s, d;
		struct zt_view b;
		size_t total;
		uint8_t *m = rand_msg(&rng, v6, 200, &want, &s, &d, &total);

		for (size_t i = 0; i < total; i++) {
			uint8_t x = (uint8_t)(1 + zt_rng_below(&rng, 255));

			m[i] ^= x;
			/* No length field: every byte is covered and a
			 * one-byte change always shows. */
			CU_ASSERT_EQUAL_FATAL(parse(v6, m, total, &s, &d, 0, &got, &b),
					      ZT_DROP_BAD_CHECKSUM);
			CU_ASSERT_EQUAL_FATAL(parse(v6, m, total, &s, &d,
						    ZT_PARSE_NO_CSUM, &got, &b),
					      ZT_DROP_NONE);
			if (i >= 8)
				CU_ASSERT_FATAL(icmp_eq(&want, &got));
			m[i] ^= x;
		}
		if (v6) {
			s.bytes[zt_rng_below(&rng, 16)] ^= 4;
			CU_ASSERT_EQUAL_FATAL(parse(v6, m, total, &s, &d, 0, &got, &b),
					      ZT_DROP_BAD_CHECKSUM);
		}
		free(m);
	}
}

static void test_truncation(void)
{
	struct zt_rng rng;
	unsigned accepted = 0, cuts = 0;

	zt_rng_seed(&rng, zt_test_seed(306));
	for (int iter = 0; iter < 200; iter++) {
		bool v6 = iter & 1;
		struct zt_icmp_repr want, got;
		struct zt_addr s, d;
		struct zt_view b;
		size_t total;
		uint8_t *m = rand_msg(&rng, v6, iter < 10 ? 1500 : 100, &want, &s,
				      &d, &total);

		for (size_t cut = 0; cut < total; cut++) {
			uint8_t *c = zt_test_dup_exact(m, cut);
			enum zt_drop why = parse(v6, c, cut, &s, &d, 0, &got, &b);
			enum zt_drop nocs = parse(v6, c, cut, &s, &d,
						  ZT_PARSE_NO_CSUM, &got, &b);

			cuts++;
			if (cut < 8) {
				CU_ASSERT_EQUAL_FATAL(why, ZT_DROP_TRUNCATED);
				CU_ASSERT_EQUAL_FATAL(nocs, ZT_DROP_TRUNCATED);
			} else {
				/* Only the checksum can tell a cut body; one
				 * that keeps it right is a valid message. */
				if (why == ZT_DROP_NONE) {
					CU_ASSERT_EQUAL_FATAL(verify(v6, c, cut, &s, &d), 0);
					accepted++;
				} else {
					CU_ASSERT_EQUAL_FATAL(why, ZT_DROP_BAD_CHECKSUM);
				}
				CU_ASSERT_EQUAL_FATAL(nocs, ZT_DROP_NONE);
				CU_ASSERT_FATAL(icmp_eq(&want, &got));
				CU_ASSERT_FATAL(b.len == cut - 8 && b.data == c + 8);
			}
			free(c);
		}
		free(m);
	}
	CU_ASSERT(accepted * 1000 < cuts);
}

/* ---- quoted datagrams ---- */

enum l4_kind { L4_TCP, L4_UDP, L4_ECHO, L4_ICMP_ERR, L4_OTHER, L4__COUNT };

struct quoted {
	uint8_t buf[400];
	size_t len;    /* whole datagram */
	size_t hdrs;   /* IP header + extension headers */
	struct zt_addr src, dst;
	uint8_t proto;
	bool first_frag;
	enum l4_kind kind;
	uint16_t sport, dport, ident, seq;
	uint32_t tcp_seq;
};

/* The upper layer of @q at @p, through the emitters under test elsewhere. */
static size_t build_l4(struct zt_rng *rng, struct quoted *q, uint8_t *p,
		       size_t cap)
{
	bool v6 = q->src.family == ZT_AF_INET6;
	uint8_t data[32];
	size_t dlen = (size_t)zt_rng_below(rng, sizeof(data) + 1);
	int n = 0;

	rand_fill(rng, data, dlen);
	q->sport = (uint16_t)zt_rng_next(rng);
	q->dport = (uint16_t)zt_rng_next(rng);
	switch (q->kind) {
	case L4_TCP: {
		struct zt_tcp_repr t;

		memset(&t, 0, sizeof(t));
		t.src_port = q->sport;
		t.dst_port = q->dport;
		t.seq = q->tcp_seq = zt_rng_u32(rng);
		t.ack = zt_rng_u32(rng);
		t.flags = ZT_TCP_SYN;
		t.has_mss = zt_rng_next(rng) & 1;
		t.mss = 1460;
		t.has_ts = zt_rng_next(rng) & 1;
		q->proto = ZT_IPPROTO_TCP;
		n = zt_tcp_emit(&t, &q->src, &q->dst, data, dlen, p, cap);
		break;
	}
	case L4_UDP: {
		struct zt_udp_repr u = { q->sport, q->dport };

		q->proto = ZT_IPPROTO_UDP;
		n = zt_udp_emit(&u, &q->src, &q->dst, data, dlen, p, cap);
		break;
	}
	case L4_ECHO:
	case L4_ICMP_ERR: {
		struct zt_icmp_repr m;

		memset(&m, 0, sizeof(m));
		if (q->kind == L4_ECHO)
			m.type = v6 ? (zt_rng_next(rng) & 1 ? 128 : 129) :
				      (zt_rng_next(rng) & 1 ? 8 : 0);
		else
			m.type = v6 ? ZT_ICMP6_DEST_UNREACH : ZT_ICMP4_DEST_UNREACH;
		m.echo_ident = q->ident = (uint16_t)zt_rng_next(rng);
		m.echo_seq = q->seq = (uint16_t)zt_rng_next(rng);
		m.rest = zt_rng_u32(rng);
		q->proto = v6 ? ZT_IPPROTO_ICMPV6 : ZT_IPPROTO_ICMP;
		n = v6 ? zt_icmp6_emit(&m, &q->src, &q->dst, data, dlen, p, cap) :
			 zt_icmp4_emit(&m, data, dlen, p, cap);
		break;
	}
	default:
		q->proto = 47; /* GRE: no ports for us */
		memcpy(p, data, dlen);
		n = (int)dlen;
		break;
	}
	CU_ASSERT_FATAL(n >= 0);
	return (size_t)n;
}

static void build_quote_v4(struct zt_rng *rng, struct quoted *q)
{
	uint8_t *h = q->buf;
	size_t ihl = 20 + 4 * (size_t)zt_rng_below(rng, 11);
	uint16_t frag = 0;
	size_t l4;

	rand_addrs(rng, false, &q->src, &q->dst);
	q->first_frag = zt_rng_below(rng, 8) != 0;
	if (!q->first_frag)
		frag = (uint16_t)(1 + zt_rng_below(rng, 0x1fff));
	if (zt_rng_next(rng) & 1)
		frag |= 0x2000; /* MF */
	l4 = build_l4(rng, q, h + ihl, sizeof(q->buf) - ihl);
	h[0] = (uint8_t)(0x40 | ihl / 4);
	h[1] = 0;
	/* The quoting router may have said anything here: not trusted. */
	zt_wr16(h + 2, (uint16_t)zt_rng_next(rng));
	zt_wr16(h + 4, (uint16_t)zt_rng_next(rng));
	zt_wr16(h + 6, frag);
	h[8] = 1;
	h[9] = q->proto;
	zt_wr16(h + 10, (uint16_t)zt_rng_next(rng));
	memcpy(h + 12, q->src.bytes, 4);
	memcpy(h + 16, q->dst.bytes, 4);
	memset(h + 20, 1, ihl - 20); /* NOPs */
	if (ihl > 20)
		h[ihl - 1] = 0; /* EOL */
	q->hdrs = ihl;
	q->len = ihl + l4;
}

static void build_quote_v6(struct zt_rng *rng, struct quoted *q)
{
	uint8_t *h = q->buf;
	unsigned next_at = 6; /* where the current "next header" byte sits */
	size_t off = 40;
	unsigned next_count = (unsigned)zt_rng_below(rng, 5);
	size_t l4;

	rand_addrs(rng, true, &q->src, &q->dst);
	q->first_frag = true;
	h[0] = 0x60;
	rand_fill(rng, h + 1, 5); /* class, flow, (untrusted) payload length */
	h[7] = 64;
	memcpy(h + 8, q->src.bytes, 16);
	memcpy(h + 24, q->dst.bytes, 16);
	for (unsigned i = 0; i < next_count; i++) {
		static const uint8_t kinds[] = { ZT_IPPROTO_HOPOPTS, ZT_IPPROTO_ROUTING,
						 ZT_IPPROTO_DSTOPTS, ZT_IPPROTO_FRAGMENT };
		uint8_t k = kinds[i == 0 ? zt_rng_below(rng, 4) :
				      1 + zt_rng_below(rng, 3)];
		size_t len;

		h[next_at] = k;
		next_at = (unsigned)off;
		if (k == ZT_IPPROTO_FRAGMENT) {
			uint16_t fo = 0;

			len = 8;
			if (zt_rng_below(rng, 4) == 0) {
				fo = (uint16_t)(8 * (1 + zt_rng_below(rng, 0x1ffe)));
				q->first_frag = false;
			}
			rand_fill(rng, h + off, len);
			zt_wr16(h + off + 2, (uint16_t)(fo | (zt_rng_next(rng) & 1)));
		} else {
			len = 8 * (1 + (size_t)zt_rng_below(rng, 3));
			rand_fill(rng, h + off, len);
			h[off + 1] = (uint8_t)(len / 8 - 1);
		}
		off += len;
	}
	l4 = build_l4(rng, q, h + off, sizeof(q->buf) - off);
	h[next_at] = q->proto;
	q->hdrs = off;
	q->len = off + l4;
}

static void check_quote_cuts(const struct quoted *q)
{
	for (size_t cut = 0; cut <= q->len; cut++) {
		uint8_t *c = zt_test_dup_exact(q->buf, cut);
		struct zt_icmp_quote out;
		enum zt_drop why;
		size_t avail;
		bool ports, l4_ok = q->first_frag;

		memset(&out, 0x5a, sizeof(out));
		why = zt_icmp_parse_quote(zt_view_make(c, cut), &out);
		free(c);
		if (cut < q->hdrs) {
			CU_ASSERT_EQUAL_FATAL(why, ZT_DROP_TRUNCATED);
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(why, ZT_DROP_NONE);
		CU_ASSERT_FATAL(zt_addr_eq(&out.src, &q->src));
		CU_ASSERT_FATAL(zt_addr_eq(&out.dst, &q->dst));
		CU_ASSERT_EQUAL_FATAL(out.proto, q->proto);
		avail = cut - q->hdrs;
		CU_ASSERT_EQUAL_FATAL(out.l4_len, l4_ok ? avail : 0);
		ports = l4_ok && (q->kind == L4_TCP || q->kind == L4_UDP) && avail >= 4;
		CU_ASSERT_EQUAL_FATAL(out.has_ports, ports);
		if (ports)
			CU_ASSERT_FATAL(out.src_port == q->sport &&
					out.dst_port == q->dport);
		CU_ASSERT_EQUAL_FATAL(out.has_seq,
				      l4_ok && q->kind == L4_TCP && avail >= 8);
		if (out.has_seq)
			CU_ASSERT_EQUAL_FATAL(out.tcp_seq, q->tcp_seq);
		CU_ASSERT_EQUAL_FATAL(out.has_icmp_type,
				      l4_ok && avail >= 1 &&
				      (q->kind == L4_ECHO || q->kind == L4_ICMP_ERR));
		if (out.has_icmp_type)
			CU_ASSERT_EQUAL_FATAL(out.icmp_type, q->buf[q->hdrs]);
		CU_ASSERT_EQUAL_FATAL(out.has_echo,
				      l4_ok && q->kind == L4_ECHO && avail >= 8);
		if (out.has_echo)
			CU_ASSERT_FATAL(out.echo_ident == q->ident &&
					out.echo_seq == q->seq);
	}
}

static void test_quote_cuts(void)
{
	struct zt_rng rng;
	unsigned seen_nonfirst = 0, seen_ext = 0;

	zt_rng_seed(&rng, zt_test_seed(307));
	for (int iter = 0; iter < 1000; iter++) {
		struct quoted q;

		memset(&q, 0, sizeof(q));
		q.kind = (enum l4_kind)(iter / 2 % L4__COUNT);
		if (iter & 1)
			build_quote_v6(&rng, &q);
		else
			build_quote_v4(&rng, &q);
		seen_nonfirst += !q.first_frag;
		seen_ext += (iter & 1) && q.hdrs > 40;
		check_quote_cuts(&q);
	}
	CU_ASSERT(seen_nonfirst > 0 && seen_ext > 0);
}

static void test_quote_hostile(void)
{
	struct zt_rng rng;
	struct zt_icmp_quote out;
	struct quoted q;
	uint8_t *c;

	zt_rng_seed(&rng, zt_test_seed(308));
	memset(&q, 0, sizeof(q));
	q.kind = L4_UDP;
	build_quote_v4(&rng, &q);
	for (unsigned v = 0; v < 16; v++) {
		if (v == 4 || v == 6)
			continue;
		q.buf[0] = (uint8_t)(v << 4 | 5);
		CU_ASSERT_EQUAL(zt_icmp_parse_quote(zt_view_make(q.buf, q.len), &out),
				ZT_DROP_BAD_VERSION);
	}
	for (unsigned ihl = 0; ihl < 5; ihl++) {
		q.buf[0] = (uint8_t)(0x40 | ihl);
		CU_ASSERT_EQUAL(zt_icmp_parse_quote(zt_view_make(q.buf, q.len), &out),
				ZT_DROP_BAD_IHL);
	}
	/* IHL 15 over a 40-byte quote: the header is not all there. */
	q.buf[0] = 0x4f;
	c = zt_test_dup_exact(q.buf, 40);
	CU_ASSERT_EQUAL(zt_icmp_parse_quote(zt_view_make(c, 40), &out),
			ZT_DROP_TRUNCATED);
	free(c);

	/* IPv6 with 8 and 9 destination-options headers, then UDP. */
	for (unsigned nh = 8; nh <= 9; nh++) {
		uint8_t b[40 + 9 * 8 + 8];
		size_t len = 40 + nh * 8 + 8;

		memset(b, 0, sizeof(b));
		b[0] = 0x60;
		zt_wr16(b + 4, (uint16_t)(len - 40 + 100));
		b[6] = ZT_IPPROTO_DSTOPTS;
		for (unsigned i = 0; i < nh; i++)
			b[40 + 8 * i] = i + 1 < nh ? ZT_IPPROTO_DSTOPTS : ZT_IPPROTO_UDP;
		zt_wr16(b + 40 + nh * 8, 1234);
		zt_wr16(b + 40 + nh * 8 + 2, 53);
		c = zt_test_dup_exact(b, len);
		CU_ASSERT_EQUAL(zt_icmp_parse_quote(zt_view_make(c, len), &out),
				nh <= ZT_IP6_MAX_EXT_HDRS ? ZT_DROP_NONE :
							    ZT_DROP_EXT_CHAIN_TOO_LONG);
		if (nh <= ZT_IP6_MAX_EXT_HDRS)
			CU_ASSERT(out.proto == ZT_IPPROTO_UDP && out.has_ports &&
				  out.src_port == 1234 && out.dst_port == 53 &&
				  out.ip_len == len + 100); /* 100 not quoted */
		free(c);
	}
	/* A payload length of 0 (a jumbogram's) says no length. */
	{
		uint8_t b[48];

		memset(b, 0, sizeof(b));
		b[0] = 0x60;
		b[6] = ZT_IPPROTO_TCP;
		c = zt_test_dup_exact(b, sizeof(b));
		CU_ASSERT_EQUAL(zt_icmp_parse_quote(zt_view_make(c, sizeof(b)), &out),
				ZT_DROP_NONE);
		CU_ASSERT(out.has_seq && out.ip_len == 0);
		free(c);
	}
	/* A hop-by-hop header claiming 2048 bytes in a short quote. */
	{
		uint8_t b[56];

		memset(b, 0, sizeof(b));
		b[0] = 0x60;
		b[6] = ZT_IPPROTO_HOPOPTS;
		b[40] = ZT_IPPROTO_TCP;
		b[41] = 255;
		c = zt_test_dup_exact(b, sizeof(b));
		CU_ASSERT_EQUAL(zt_icmp_parse_quote(zt_view_make(c, sizeof(b)), &out),
				ZT_DROP_TRUNCATED);
		free(c);
	}
	CU_ASSERT_EQUAL(zt_icmp_parse_quote(zt_view_make(NULL, 0), &out),
			ZT_DROP_TRUNCATED);
}

int zt_suite_icmp_wire(void)
{
	static const struct zt_test_case cases[] = {
		{ "classify", test_classify },
		{ "unreach_hard", test_unreach_hard },
		{ "roundtrip_v4", test_roundtrip_v4 },
		{ "roundtrip_v6", test_roundtrip_v6 },
		{ "emit_errors", test_emit_errors },
		{ "known_answers", test_known_answers },
		{ "short_messages", test_short_messages },
		{ "corruption", test_corruption },
		{ "truncation", test_truncation },
		{ "quote_cuts", test_quote_cuts },
		{ "quote_hostile", test_quote_hostile },
		{ 0 }
	};

	return zt_add_suite("icmp_wire", NULL, NULL, cases);
}
