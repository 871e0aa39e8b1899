/* SPDX-License-Identifier: MIT */
/*
 * test_packet.c - whole-packet decode: seeded emit->parse round trips of
 * TCP, UDP and ICMP/ICMPv6 over IPv4 (with options) and IPv6 (with and
 * without an atomic fragment header), fragments that must stop at the IP
 * layer, protocol/family mismatches, errors passed up from each layer with
 * the layers below still filled in, and every truncation of every packet.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ztun/packet.h"
#include "ztun/rng.h"

#define MAX_DATA 300
#define BUF_LEN (ZT_IP4_MIN_HDR + ZT_IP4_MAX_OPTS + ZT_IP6_FRAG_HDR + \
		 ZT_TCP_MIN_HDR + ZT_TCP_MAX_OPTS + MAX_DATA + 8)

static uint8_t rnd8(struct zt_rng *rng)
{
	return (uint8_t)zt_rng_next(rng);
}

static void fill(struct zt_rng *rng, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = rnd8(rng);
}

/* A generated packet and what went into it. */
struct built {
	uint8_t buf[BUF_LEN];
	size_t len;     /* IP total length */
	size_t hl;      /* IP header(s) */
	size_t l4_len;
	size_t data_off; /* start of TCP/UDP data or ICMP body */
	size_t data_len;
	uint8_t family;
	uint8_t proto;
	struct zt_addr src, dst;
	struct zt_ip4_repr ip4;
	struct zt_ip6_repr ip6;
	struct zt_tcp_repr tcp;
	struct zt_udp_repr udp;
	struct zt_icmp_repr icmp;
};

static void gen_tcp(struct zt_rng *rng, struct zt_tcp_repr *t)
{
	memset(t, 0, sizeof(*t));
	t->src_port = (uint16_t)zt_rng_next(rng);
	t->dst_port = (uint16_t)zt_rng_next(rng);
	t->seq = zt_rng_u32(rng);
	t->ack = zt_rng_u32(rng);
	t->flags = rnd8(rng);
	t->window = (uint16_t)zt_rng_next(rng);
	t->urgent = (uint16_t)zt_rng_next(rng);
	t->has_mss = zt_rng_below(rng, 2);
	t->mss = t->has_mss ? (uint16_t)zt_rng_next(rng) : 0;
	t->has_wscale = zt_rng_below(rng, 2);
	t->wscale = t->has_wscale ? rnd8(rng) : 0;
	t->sack_permitted = zt_rng_below(rng, 2);
	t->has_ts = zt_rng_below(rng, 2);
	if (t->has_ts) {
		t->ts_val = zt_rng_u32(rng);
		t->ts_ecr = zt_rng_u32(rng);
	}
	t->sack_count = (uint8_t)zt_rng_below(rng, ZT_TCP_MAX_SACK + 1);
	while (zt_tcp_header_len(t) < 0)
		t->sack_count--;
	for (unsigned i = 0; i < t->sack_count; i++) {
		t->sack[i].left = zt_rng_u32(rng);
		t->sack[i].right = zt_rng_u32(rng);
	}
}

static void gen_icmp(struct zt_rng *rng, uint8_t family, struct zt_icmp_repr *m)
{
	static const uint8_t v4[] = { 0, 8, 3, 3, 11, 12, 5, 13 };
	static const uint8_t v6[] = { 128, 129, 1, 2, 3, 4, 133, 135 };

	memset(m, 0, sizeof(*m));
	if (zt_rng_below(rng, 4)) {
		m->type = (family == ZT_AF_INET ? v4 : v6)[zt_rng_below(rng, 8)];
		m->code = (uint8_t)zt_rng_below(rng, 5);
	} else {
		m->type = rnd8(rng);
		m->code = rnd8(rng);
	}
	m->kind = zt_icmp_classify(family, m->type, m->code);
	m->echo_ident = (uint16_t)zt_rng_next(rng);
	m->echo_seq = (uint16_t)zt_rng_next(rng);
	m->rest = zt_rng_u32(rng);
}

static void gen_packet(struct zt_rng *rng, struct built *b)
{
	uint8_t data[MAX_DATA];
	uint8_t a[16], d[16];
	size_t cap;
	int n;

	memset(b, 0, sizeof(*b));
	b->family = zt_rng_below(rng, 2) ? ZT_AF_INET6 : ZT_AF_INET;
	fill(rng, a, 16);
	fill(rng, d, 16);
	if (b->family == ZT_AF_INET) {
		b->src = zt_addr_v4(a);
		b->dst = zt_addr_v4(d);
		memcpy(b->ip4.src, a, 4);
		memcpy(b->ip4.dst, d, 4);
		b->ip4.ttl = rnd8(rng);
		b->ip4.ident = (uint16_t)zt_rng_next(rng);
		b->ip4.dont_frag = zt_rng_below(rng, 2);
		b->ip4.options_len = (uint8_t)(4 * zt_rng_below(rng, 11));
		memset(b->ip4.options, 1, b->ip4.options_len); /* NOPs */
		b->hl = zt_ip4_header_len(&b->ip4);
	} else {
		b->src = zt_addr_v6(a);
		b->dst = zt_addr_v6(d);
		memcpy(b->ip6.src, a, 16);
		memcpy(b->ip6.dst, d, 16);
		b->ip6.hop_limit = rnd8(rng);
		b->ip6.flow_label = (uint32_t)zt_rng_below(rng, 1u << 20);
		b->ip6.has_frag = zt_rng_below(rng, 4) == 0; /* atomic */
		b->ip6.frag_ident = zt_rng_u32(rng);
		b->hl = zt_ip6_header_len(&b->ip6);
	}

	b->data_len = (size_t)zt_rng_below(rng, MAX_DATA + 1);
	fill(rng, data, b->data_len);
	cap = BUF_LEN - b->hl;
	switch (zt_rng_below(rng, 3)) {
	case 0:
		b->proto = ZT_IPPROTO_TCP;
		gen_tcp(rng, &b->tcp);
		n = zt_tcp_emit(&b->tcp, &b->src, &b->dst, data, b->data_len,
				b->buf + b->hl, cap);
		b->data_off = b->hl + (size_t)zt_tcp_header_len(&b->tcp);
		break;
	case 1:
		b->proto = ZT_IPPROTO_UDP;
		b->udp.src_port = (uint16_t)zt_rng_next(rng);
		b->udp.dst_port = (uint16_t)zt_rng_next(rng);
		n = zt_udp_emit(&b->udp, &b->src, &b->dst, data, b->data_len,
				b->buf + b->hl, cap);
		b->data_off = b->hl + ZT_UDP_HDR;
		break;
	default:
		gen_icmp(rng, b->family, &b->icmp);
		if (b->family == ZT_AF_INET) {
			b->proto = ZT_IPPROTO_ICMP;
			n = zt_icmp4_emit(&b->icmp, data, b->data_len,
					  b->buf + b->hl, cap);
		} else {
			b->proto = ZT_IPPROTO_ICMPV6;
			n = zt_icmp6_emit(&b->icmp, &b->src, &b->dst, data,
					  b->data_len, b->buf + b->hl, cap);
		}
		b->data_off = b->hl + ZT_ICMP_HDR;
		break;
	}
	CU_ASSERT_FATAL(n > 0);
	b->l4_len = (size_t)n;
	CU_ASSERT_EQUAL_FATAL(b->data_off + b->data_len, b->hl + b->l4_len);
	if (b->family == ZT_AF_INET) {
		b->ip4.protocol = b->proto;
		n = zt_ip4_emit(&b->ip4, b->l4_len, b->buf, BUF_LEN);
	} else {
		b->ip6.upper_proto = b->proto;
		n = zt_ip6_emit(&b->ip6, b->l4_len, b->buf, BUF_LEN);
	}
	CU_ASSERT_EQUAL_FATAL(n, (int)b->hl);
	b->len = b->hl + b->l4_len;
}

static void check_l4(const struct built *b, const struct zt_packet *p)
{
	if (b->proto == ZT_IPPROTO_TCP) {
		const struct zt_tcp_repr *x = &b->tcp, *y = &p->l4.tcp;

		CU_ASSERT_EQUAL_FATAL(y->src_port, x->src_port);
		CU_ASSERT_EQUAL_FATAL(y->dst_port, x->dst_port);
		CU_ASSERT_EQUAL_FATAL(y->seq, x->seq);
		CU_ASSERT_EQUAL_FATAL(y->ack, x->ack);
		CU_ASSERT_EQUAL_FATAL(y->flags, x->flags);
		CU_ASSERT_EQUAL_FATAL(y->window, x->window);
		CU_ASSERT_EQUAL_FATAL(y->urgent, x->urgent);
		CU_ASSERT_EQUAL_FATAL(y->has_mss, x->has_mss);
		CU_ASSERT_EQUAL_FATAL(y->mss, x->mss);
		CU_ASSERT_EQUAL_FATAL(y->has_wscale, x->has_wscale);
		CU_ASSERT_EQUAL_FATAL(y->wscale, x->wscale);
		CU_ASSERT_EQUAL_FATAL(y->sack_permitted, x->sack_permitted);
		CU_ASSERT_EQUAL_FATAL(y->has_ts, x->has_ts);
		CU_ASSERT_EQUAL_FATAL(y->ts_val, x->ts_val);
		CU_ASSERT_EQUAL_FATAL(y->ts_ecr, x->ts_ecr);
		CU_ASSERT_EQUAL_FATAL(y->sack_count, x->sack_count);
		for (unsigned i = 0; i < x->sack_count; i++) {
			CU_ASSERT_EQUAL_FATAL(y->sack[i].left, x->sack[i].left);
			CU_ASSERT_EQUAL_FATAL(y->sack[i].right, x->sack[i].right);
		}
	} else if (b->proto == ZT_IPPROTO_UDP) {
		CU_ASSERT_EQUAL_FATAL(p->l4.udp.src_port, b->udp.src_port);
		CU_ASSERT_EQUAL_FATAL(p->l4.udp.dst_port, b->udp.dst_port);
	} else {
		const struct zt_icmp_repr *x = &b->icmp, *y = &p->l4.icmp;

		CU_ASSERT_EQUAL_FATAL(y->type, x->type);
		CU_ASSERT_EQUAL_FATAL(y->code, x->code);
		CU_ASSERT_EQUAL_FATAL(y->kind, x->kind);
		if (x->kind == ZT_ICMP_ECHO_REQUEST || x->kind == ZT_ICMP_ECHO_REPLY) {
			CU_ASSERT_EQUAL_FATAL(y->echo_ident, x->echo_ident);
			CU_ASSERT_EQUAL_FATAL(y->echo_seq, x->echo_seq);
		} else if (x->kind == ZT_ICMP_OTHER) {
			CU_ASSERT_EQUAL_FATAL(y->rest, x->rest);
		}
	}
}

static void check_ip(const struct built *b, const struct zt_packet *p)
{
	CU_ASSERT_EQUAL_FATAL(p->family, b->family);
	CU_ASSERT_FATAL(zt_addr_eq(&p->src, &b->src));
	CU_ASSERT_FATAL(zt_addr_eq(&p->dst, &b->dst));
	CU_ASSERT_FATAL(memcmp(&p->src, &b->src, sizeof(p->src)) == 0);
	CU_ASSERT_EQUAL_FATAL(p->proto, b->proto);
	if (b->family == ZT_AF_INET) {
		CU_ASSERT_EQUAL_FATAL(p->ip.ip4.ident, b->ip4.ident);
		CU_ASSERT_EQUAL_FATAL(p->ip.ip4.ttl, b->ip4.ttl);
		CU_ASSERT_EQUAL_FATAL(p->ip.ip4.options_len, b->ip4.options_len);
	} else {
		CU_ASSERT_EQUAL_FATAL(p->ip.ip6.hop_limit, b->ip6.hop_limit);
		CU_ASSERT_EQUAL_FATAL(p->ip.ip6.flow_label, b->ip6.flow_label);
		CU_ASSERT_EQUAL_FATAL(p->ip.ip6.has_frag, b->ip6.has_frag);
	}
}

static void test_roundtrip(void)
{
	struct zt_rng rng;
	struct built *b = malloc(sizeof(*b));

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	zt_rng_seed(&rng, zt_test_seed(0x9ac7));
	for (int iter = 0; iter < 20000; iter++) {
		struct zt_packet p;
		size_t pad;

		gen_packet(&rng, b);
		pad = (size_t)zt_rng_below(&rng, 5); /* link padding, not payload */
		fill(&rng, b->buf + b->len, pad);
		CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(b->buf, b->len + pad),
						      0, &p), ZT_DROP_NONE);
		check_ip(b, &p);
		CU_ASSERT_FATAL(!p.is_fragment);
		CU_ASSERT_PTR_EQUAL_FATAL(p.l3_payload.data, b->buf + b->hl);
		CU_ASSERT_EQUAL_FATAL(p.l3_payload.len, b->l4_len);
		CU_ASSERT_PTR_EQUAL_FATAL(p.payload.data, b->buf + b->data_off);
		CU_ASSERT_EQUAL_FATAL(p.payload.len, b->data_len);
		check_l4(b, &p);
	}
	free(b);
}

/* Non-atomic fragments stop at the IP layer: their payload would not even
 * parse as a TCP header, and must not be tried. */
static void test_fragments(void)
{
	struct zt_rng rng;
	struct built *b = malloc(sizeof(*b));

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	zt_rng_seed(&rng, zt_test_seed(0x9ac8));
	for (int iter = 0; iter < 5000; iter++) {
		struct zt_packet p;
		size_t plen = 8 * (size_t)zt_rng_below(&rng, 20);
		bool more = zt_rng_below(&rng, 2);
		uint16_t off = (uint16_t)(8 * zt_rng_below(&rng, 100));
		int n;

		if (!more && off == 0)
			off = 8;
		gen_packet(&rng, b);
		memset(b->buf, 0, BUF_LEN); /* data offset 0: not a TCP header */
		if (b->family == ZT_AF_INET) {
			b->ip4.more_frags = more;
			b->ip4.frag_offset = off;
			n = zt_ip4_emit(&b->ip4, plen, b->buf, BUF_LEN);
		} else {
			b->ip6.has_frag = true;
			b->ip6.more_frags = more;
			b->ip6.frag_offset = off;
			n = zt_ip6_emit(&b->ip6, plen, b->buf, BUF_LEN);
		}
		CU_ASSERT_FATAL(n > 0);
		b->hl = (size_t)n;
		CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(b->buf, b->hl + plen),
						      0, &p), ZT_DROP_NONE);
		check_ip(b, &p);
		CU_ASSERT_FATAL(p.is_fragment);
		CU_ASSERT_PTR_EQUAL_FATAL(p.l3_payload.data, b->buf + b->hl);
		CU_ASSERT_EQUAL_FATAL(p.l3_payload.len, plen);
		CU_ASSERT_PTR_EQUAL_FATAL(p.payload.data, p.l3_payload.data);
		CU_ASSERT_EQUAL_FATAL(p.payload.len, p.l3_payload.len);
	}
	free(b);
}

static void test_truncation(void)
{
	struct zt_rng rng;
	struct built *b = malloc(sizeof(*b));

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	zt_rng_seed(&rng, zt_test_seed(0x9ac9));
	for (int iter = 0; iter < 300; iter++) {
		gen_packet(&rng, b);
		for (size_t cut = 0; cut < b->len; cut++) {
			uint8_t *buf = malloc(cut ? cut : 1);
			struct zt_packet p;
			enum zt_drop got;

			CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
			memcpy(buf, b->buf, cut);
			got = zt_packet_parse(zt_view_make(buf, cut), 0, &p);
			free(buf);
			if (b->family == ZT_AF_INET && cut >= ZT_IP4_MIN_HDR &&
			    cut < b->hl) {
				CU_ASSERT_EQUAL_FATAL(got, ZT_DROP_BAD_IHL);
			} else {
				CU_ASSERT_EQUAL_FATAL(got, ZT_DROP_TRUNCATED);
			}
		}
	}
	free(b);
}

/* Build a packet of @family carrying @proto (no upper-layer header, just
 * @len zero bytes) and parse it. */
static enum zt_drop raw_packet(uint8_t family, uint8_t proto, size_t len,
			       struct zt_packet *p)
{
	uint8_t buf[128] = { 0 };
	int hl;

	if (family == ZT_AF_INET) {
		struct zt_ip4_repr r;

		memset(&r, 0, sizeof(r));
		r.protocol = proto;
		r.src[0] = 10;
		r.dst[0] = 11;
		hl = zt_ip4_emit(&r, len, buf, sizeof(buf));
	} else {
		struct zt_ip6_repr r;

		memset(&r, 0, sizeof(r));
		r.upper_proto = proto;
		r.src[0] = 0xfd;
		r.dst[0] = 0xfe;
		hl = zt_ip6_emit(&r, len, buf, sizeof(buf));
	}
	CU_ASSERT_FATAL(hl > 0);
	return zt_packet_parse(zt_view_make(buf, (size_t)hl + len), 0, p);
}

static void check_filled(const struct zt_packet *p, uint8_t family, uint8_t proto)
{
	CU_ASSERT_EQUAL(p->family, family);
	CU_ASSERT_EQUAL(p->src.family, family);
	CU_ASSERT_EQUAL(p->dst.family, family);
	CU_ASSERT_EQUAL(p->src.bytes[0], family == ZT_AF_INET ? 10 : 0xfd);
	CU_ASSERT_EQUAL(p->dst.bytes[0], family == ZT_AF_INET ? 11 : 0xfe);
	CU_ASSERT_EQUAL(p->proto, proto);
}

static void test_unsupported(void)
{
	static const uint8_t v4[] = { ZT_IPPROTO_ICMPV6, 47, 50, 132, 0, 255 };
	static const uint8_t v6[] = { ZT_IPPROTO_ICMP, 47, 50, 132, ZT_IPPROTO_NONE, 255 };
	struct zt_packet p;

	for (size_t i = 0; i < sizeof(v4); i++) {
		CU_ASSERT_EQUAL(raw_packet(ZT_AF_INET, v4[i], 24, &p), ZT_DROP_UNSUPPORTED);
		check_filled(&p, ZT_AF_INET, v4[i]);
		CU_ASSERT_EQUAL(p.l3_payload.len, 24);
		CU_ASSERT_FATAL(p.payload.data == p.l3_payload.data &&
				p.payload.len == p.l3_payload.len);
	}
	for (size_t i = 0; i < sizeof(v6); i++) {
		CU_ASSERT_EQUAL(raw_packet(ZT_AF_INET6, v6[i], 24, &p), ZT_DROP_UNSUPPORTED);
		check_filled(&p, ZT_AF_INET6, v6[i]);
		CU_ASSERT_EQUAL(p.l3_payload.len, v6[i] == ZT_IPPROTO_NONE ? 0 : 24);
	}
}

static void test_layer_errors(void)
{
	static const uint8_t bad_version[40] = { 0x50 };
	struct zt_rng rng;
	struct built *b = malloc(sizeof(*b));
	struct zt_packet p;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(zt_packet_parse(zt_view_make(NULL, 0), 0, &p), ZT_DROP_TRUNCATED);
	CU_ASSERT_EQUAL(zt_packet_parse(zt_view_make(bad_version, 40), 0, &p),
			ZT_DROP_BAD_VERSION);
	CU_ASSERT_EQUAL(zt_packet_parse(zt_view_make(bad_version, 1), 0, &p),
			ZT_DROP_BAD_VERSION);

	/* Upper-layer headers cut short inside a valid IP packet: each
	 * parser's own reason comes back, with the IP part filled. */
	CU_ASSERT_EQUAL(raw_packet(ZT_AF_INET, ZT_IPPROTO_TCP, 12, &p), ZT_DROP_TRUNCATED);
	check_filled(&p, ZT_AF_INET, ZT_IPPROTO_TCP);
	CU_ASSERT_EQUAL(raw_packet(ZT_AF_INET6, ZT_IPPROTO_UDP, 4, &p), ZT_DROP_TRUNCATED);
	check_filled(&p, ZT_AF_INET6, ZT_IPPROTO_UDP);
	CU_ASSERT_EQUAL(raw_packet(ZT_AF_INET, ZT_IPPROTO_ICMP, 7, &p), ZT_DROP_TRUNCATED);
	check_filled(&p, ZT_AF_INET, ZT_IPPROTO_ICMP);
	CU_ASSERT_EQUAL(raw_packet(ZT_AF_INET6, ZT_IPPROTO_ICMPV6, 0, &p), ZT_DROP_TRUNCATED);
	check_filled(&p, ZT_AF_INET6, ZT_IPPROTO_ICMPV6);
	/* A TCP data offset of 0 in 20 zero bytes. */
	CU_ASSERT_EQUAL(raw_packet(ZT_AF_INET6, ZT_IPPROTO_TCP, 20, &p),
			ZT_DROP_BAD_DATA_OFFSET);

	/* A flipped bit in the upper layer is its checksum's business (the
	 * IPv4 header checksum does not cover it); NO_CSUM lets it through.
	 * A flipped bit in the IPv4 header is the header checksum's. */
	zt_rng_seed(&rng, zt_test_seed(0x9aca));
	for (int iter = 0; iter < 5000; iter++) {
		size_t at;

		gen_packet(&rng, b);
		/* Past the ports/lengths/offsets that steer the parse. */
		if (b->data_len == 0)
			continue;
		at = b->data_off + (size_t)zt_rng_below(&rng, b->data_len);
		b->buf[at] ^= (uint8_t)(1u << zt_rng_below(&rng, 8));
		CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(b->buf, b->len), 0, &p),
				      ZT_DROP_BAD_CHECKSUM);
		check_ip(b, &p);
		CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(b->buf, b->len),
						      ZT_PARSE_NO_CSUM, &p),
				      ZT_DROP_NONE);
		check_l4(b, &p);
		if (b->family == ZT_AF_INET) {
			b->buf[at] ^= 0xff; /* still wrong */
			b->buf[8] ^= 1;     /* TTL */
			CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(b->buf, b->len),
							      0, &p),
					      ZT_DROP_BAD_CHECKSUM);
			CU_ASSERT_EQUAL_FATAL(p.family, 0); /* nothing decoded */
		}
	}
	free(b);
}

int zt_suite_packet(void)
{
	static const struct zt_test_case cases[] = {
		{ "roundtrip", test_roundtrip },
		{ "fragments", test_fragments },
		{ "truncation", test_truncation },
		{ "unsupported", test_unsupported },
		{ "layer_errors", test_layer_errors },
		{ 0 }
	};

	return zt_add_suite("packet", NULL, NULL, cases);
}
