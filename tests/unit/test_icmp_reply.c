/* SPDX-License-Identifier: MIT */
/*
 * test_icmp_reply.c - the ICMP responder: seeded echo request -> reply
 * round trips over IPv4 and IPv6 checked by the parsers; ICMP errors about
 * random TCP/UDP offenders checked for type, code, size limits and a quote
 * that zt_icmp_parse_quote() can read back; the cases where no error may be
 * sent; and the token bucket against its rate over virtual time.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "test.h"
#include "ztun/icmp_reply.h"
#include "ztun/ip4.h"
#include "ztun/ip6.h"
#include "ztun/packet.h"
#include "ztun/rng.h"
#include "ztun/tcp_wire.h"
#include "ztun/udp_wire.h"

#define BIG 10000

static void rand_fill(struct zt_rng *rng, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)zt_rng_next(rng);
}

/* A random global unicast address (never a group, loopback or zero). */
static struct zt_addr rand_unicast(struct zt_rng *rng, bool v6)
{
	uint8_t b[16];

	rand_fill(rng, b, sizeof(b));
	if (v6) {
		b[0] = (uint8_t)(0x20 | (b[0] & 0x1f));
		return zt_addr_v6(b);
	}
	b[0] = (uint8_t)(1 + zt_rng_below(rng, 223));
	if (b[0] == 127)
		b[0] = 10;
	return zt_addr_v4(b);
}

static struct zt_addr addr(const char *text)
{
	struct zt_addr a;

	CU_ASSERT_EQUAL_FATAL(zt_addr_parse(text, &a), 0);
	return a;
}

/* IP header (with fragment fields) for an upper layer of @l4_len bytes
 * already at buf + header length; returns the total length. */
static size_t put_ip(const struct zt_addr *s, const struct zt_addr *d,
		     uint8_t proto, uint8_t tclass, uint16_t frag_off, bool mf,
		     size_t l4_len, uint8_t *buf)
{
	return zt_test_put_ip(s, d, proto, 17, tclass,
			      s->family == ZT_AF_INET ? 0x1234 : 99, frag_off,
			      mf, l4_len, buf, BIG);
}

static size_t ip_hlen(const struct zt_addr *s, bool frag)
{
	return s->family == ZT_AF_INET ? ZT_IP4_MIN_HDR :
					 ZT_IP6_HDR + (frag ? ZT_IP6_FRAG_HDR : 0);
}

/* An ICMP message of @type with @body_len random bytes of body. */
static size_t make_icmp(struct zt_rng *rng, const struct zt_addr *s,
			const struct zt_addr *d, uint8_t type, uint8_t tclass,
			uint16_t ident, uint16_t seq, size_t body_len,
			uint8_t *buf)
{
	size_t hl = ip_hlen(s, false);
	struct zt_icmp_repr r;
	uint8_t body[BIG];
	int n;

	memset(&r, 0, sizeof(r));
	r.type = type;
	r.echo_ident = ident;
	r.echo_seq = seq;
	rand_fill(rng, body, body_len);
	if (s->family == ZT_AF_INET)
		n = zt_icmp4_emit(&r, body, body_len, buf + hl, BIG - hl);
	else
		n = zt_icmp6_emit(&r, s, d, body, body_len, buf + hl, BIG - hl);
	CU_ASSERT_FATAL(n > 0);
	return put_ip(s, d, s->family == ZT_AF_INET ? ZT_IPPROTO_ICMP :
						      ZT_IPPROTO_ICMPV6,
		      tclass, 0, false, (size_t)n, buf);
}

/* A TCP or UDP packet of exactly @total bytes (at least the headers). */
static size_t make_l4(struct zt_rng *rng, const struct zt_addr *s,
		      const struct zt_addr *d, bool tcp, size_t total,
		      uint16_t sport, uint16_t dport, uint32_t seq, uint8_t *buf)
{
	size_t hl = ip_hlen(s, false);
	size_t l4h = tcp ? 20 : 8;
	uint8_t data[BIG];
	int n;

	CU_ASSERT_FATAL(total >= hl + l4h);
	rand_fill(rng, data, total - hl - l4h);
	if (tcp) {
		struct zt_tcp_repr t;

		memset(&t, 0, sizeof(t));
		t.src_port = sport;
		t.dst_port = dport;
		t.seq = seq;
		t.ack = zt_rng_u32(rng);
		t.flags = ZT_TCP_ACK | ZT_TCP_PSH;
		t.window = 1000;
		n = zt_tcp_emit(&t, s, d, data, total - hl - l4h, buf + hl,
				BIG - hl);
	} else {
		struct zt_udp_repr u = { sport, dport };

		n = zt_udp_emit(&u, s, d, data, total - hl - l4h, buf + hl,
				BIG - hl);
	}
	CU_ASSERT_FATAL(n > 0);
	return put_ip(s, d, tcp ? ZT_IPPROTO_TCP : ZT_IPPROTO_UDP, 0, 0, false,
		      (size_t)n, buf);
}

static void test_echo_reply(void)
{
	static uint8_t req[BIG], out[BIG];
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(0x1c01));
	for (int iter = 0; iter < 2000; iter++) {
		bool v6 = iter & 1;
		struct zt_addr s = rand_unicast(&rng, v6);
		struct zt_addr d = rand_unicast(&rng, v6);
		uint16_t ident = (uint16_t)zt_rng_next(&rng);
		uint16_t seq = (uint16_t)zt_rng_next(&rng);
		size_t dlen = (size_t)zt_rng_below(&rng, 1401);
		uint8_t tclass = (uint8_t)zt_rng_next(&rng);
		size_t len = make_icmp(&rng, &s, &d,
				       v6 ? ZT_ICMP6_ECHO_REQUEST :
					    ZT_ICMP4_ECHO_REQUEST,
				       tclass, ident, seq, dlen, req);
		struct zt_packet p, r;
		int n;

		CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(req, len), 0,
						      &p), ZT_DROP_NONE);
		n = zt_icmp_echo_reply(&p, out, sizeof(out));
		CU_ASSERT_EQUAL_FATAL(n, (int)(ip_hlen(&s, false) + 8 + dlen));
		CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(out, (size_t)n),
						      0, &r), ZT_DROP_NONE);
		CU_ASSERT_EQUAL(r.family, s.family);
		CU_ASSERT_EQUAL(r.l4.icmp.kind, ZT_ICMP_ECHO_REPLY);
		CU_ASSERT_EQUAL(r.l4.icmp.type, v6 ? ZT_ICMP6_ECHO_REPLY :
						     ZT_ICMP4_ECHO_REPLY);
		CU_ASSERT_EQUAL(r.l4.icmp.code, 0);
		CU_ASSERT(zt_addr_eq(&r.src, &d));
		CU_ASSERT(zt_addr_eq(&r.dst, &s));
		CU_ASSERT_EQUAL(r.l4.icmp.echo_ident, ident);
		CU_ASSERT_EQUAL(r.l4.icmp.echo_seq, seq);
		CU_ASSERT_EQUAL_FATAL(r.payload.len, dlen);
		CU_ASSERT(memcmp(r.payload.data, p.payload.data, dlen) == 0);
		/* DSCP kept, ECN cleared. */
		if (v6) {
			CU_ASSERT_EQUAL(r.ip.ip6.hop_limit, ZT_ICMP_REPLY_TTL);
			CU_ASSERT_EQUAL(r.ip.ip6.traffic_class, tclass & 0xfc);
		} else {
			CU_ASSERT_EQUAL(r.ip.ip4.ttl, ZT_ICMP_REPLY_TTL);
			CU_ASSERT_EQUAL(r.ip.ip4.dscp_ecn, tclass & 0xfc);
			CU_ASSERT(r.ip.ip4.dont_frag);
			CU_ASSERT_EQUAL(r.ip.ip4.ident, 0);
		}
		CU_ASSERT(!r.is_fragment);

		/* One byte short: refused, and nothing larger is needed. */
		CU_ASSERT_EQUAL(zt_icmp_echo_reply(&p, out, (size_t)n - 1),
				-ENOSPC);
		CU_ASSERT_EQUAL(zt_icmp_echo_reply(&p, out,
						   (size_t)zt_rng_below(&rng, (uint64_t)n)),
				-ENOSPC);
		CU_ASSERT_EQUAL(zt_icmp_echo_reply(&p, out, (size_t)n), n);

		/* Not a request: the reply itself, and a UDP datagram. */
		CU_ASSERT_EQUAL(zt_icmp_echo_reply(&r, out, sizeof(out)), -EINVAL);
		len = make_l4(&rng, &s, &d, false,
			      ip_hlen(&s, false) + 8 + zt_rng_below(&rng, 100),
			      7, 7, 0, req);
		CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(req, len), 0,
						      &p), ZT_DROP_NONE);
		CU_ASSERT_EQUAL(zt_icmp_echo_reply(&p, out, sizeof(out)), -EINVAL);
	}
}

static void test_echo_refused(void)
{
	static uint8_t req[BIG], out[BIG];
	static const struct {
		const char *src, *dst;
		uint8_t type;
		int want;
	} t[] = {
		{ "10.0.0.1", "10.0.0.2", ZT_ICMP4_ECHO_REQUEST, 36 },
		{ "10.0.0.1", "10.0.0.2", ZT_ICMP4_ECHO_REPLY, -EINVAL },
		{ "10.0.0.1", "10.0.0.2", ZT_ICMP4_DEST_UNREACH, -EINVAL },
		{ "10.0.0.1", "10.0.0.2", 13 /* timestamp */, -EINVAL },
		{ "10.0.0.1", "224.0.0.1", ZT_ICMP4_ECHO_REQUEST, -EPERM },
		{ "10.0.0.1", "255.255.255.255", ZT_ICMP4_ECHO_REQUEST, -EPERM },
		{ "0.0.0.0", "10.0.0.2", ZT_ICMP4_ECHO_REQUEST, -EPERM },
		{ "224.0.0.9", "10.0.0.2", ZT_ICMP4_ECHO_REQUEST, -EPERM },
		{ "2001:db8::1", "2001:db8::2", ZT_ICMP6_ECHO_REQUEST, 56 },
		{ "2001:db8::1", "2001:db8::2", ZT_ICMP6_ECHO_REPLY, -EINVAL },
		{ "2001:db8::1", "2001:db8::2", ZT_ICMP6_PACKET_TOO_BIG, -EINVAL },
		{ "2001:db8::1", "2001:db8::2", 135 /* NS */, -EINVAL },
		{ "2001:db8::1", "ff02::1", ZT_ICMP6_ECHO_REQUEST, -EPERM },
		{ "::", "2001:db8::2", ZT_ICMP6_ECHO_REQUEST, -EPERM },
	};
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(0x1c02));
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct zt_addr s = addr(t[i].src), d = addr(t[i].dst);
		size_t len = make_icmp(&rng, &s, &d, t[i].type, 0, 1, 2, 8, req);
		struct zt_packet p;

		CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(req, len), 0,
						      &p), ZT_DROP_NONE);
		CU_ASSERT_EQUAL(zt_icmp_echo_reply(&p, out, sizeof(out)),
				t[i].want);
	}
}

/* Expected type/code for @kind in @family given the code argument. */
static void expect_type_code(bool v6, enum zt_icmp_kind kind, uint8_t code,
			     uint8_t *type, uint8_t *ecode)
{
	*ecode = code;
	switch (kind) {
	case ZT_ICMP_DEST_UNREACH:
		*type = v6 ? ZT_ICMP6_DEST_UNREACH : ZT_ICMP4_DEST_UNREACH;
		break;
	case ZT_ICMP_PACKET_TOO_BIG:
		*type = v6 ? ZT_ICMP6_PACKET_TOO_BIG : ZT_ICMP4_DEST_UNREACH;
		*ecode = v6 ? 0 : ZT_ICMP4_CODE_FRAG_NEEDED;
		break;
	case ZT_ICMP_TIME_EXCEEDED:
		*type = v6 ? ZT_ICMP6_TIME_EXCEEDED : ZT_ICMP4_TIME_EXCEEDED;
		break;
	default:
		*type = v6 ? ZT_ICMP6_PARAM_PROBLEM : ZT_ICMP4_PARAM_PROBLEM;
		break;
	}
}

static void test_error_random(void)
{
	static uint8_t pkt[BIG], out[BIG];
	static const enum zt_icmp_kind kinds[] = {
		ZT_ICMP_DEST_UNREACH, ZT_ICMP_PACKET_TOO_BIG,
		ZT_ICMP_TIME_EXCEEDED, ZT_ICMP_PARAM_PROBLEM,
	};
	static const uint8_t du4[] = { 0, 1, 2, 3, 9, 10, 13 };
	struct zt_rng rng;
	int counts[2][2] = { { 0 } };

	zt_rng_seed(&rng, zt_test_seed(0x1c03));
	for (int iter = 0; iter < 3000; iter++) {
		bool v6 = zt_rng_below(&rng, 2);
		bool tcp = zt_rng_below(&rng, 2);
		struct zt_addr s = rand_unicast(&rng, v6);
		struct zt_addr d = rand_unicast(&rng, v6);
		size_t hmin = ip_hlen(&s, false) + (tcp ? 20 : 8);
		size_t total = hmin + (size_t)zt_rng_below(&rng, 9000 - hmin + 1);
		size_t pad = iter % 3 ? 0 : (size_t)zt_rng_below(&rng, 17);
		uint16_t sport = (uint16_t)zt_rng_next(&rng);
		uint16_t dport = (uint16_t)zt_rng_next(&rng);
		uint32_t seq = zt_rng_u32(&rng);
		enum zt_icmp_kind kind = kinds[zt_rng_below(&rng, 4)];
		uint16_t min_mtu = v6 ? 1280 : 68;
		uint16_t link_mtu;
		uint8_t code, type, ecode;
		uint32_t arg;
		size_t limit, want, len;
		struct zt_packet p, r;
		struct zt_icmp_quote q;
		int n;

		if (zt_rng_below(&rng, 2))
			total = hmin + (size_t)zt_rng_below(&rng, 600); /* small */
		link_mtu = (uint16_t)(min_mtu + zt_rng_below(&rng, 9000u - min_mtu));
		if (zt_rng_below(&rng, 4) == 0)
			link_mtu = min_mtu;
		switch (kind) {
		case ZT_ICMP_DEST_UNREACH:
			code = v6 ? (uint8_t)zt_rng_below(&rng, 7) :
				    du4[zt_rng_below(&rng, sizeof(du4))];
			arg = zt_rng_u32(&rng); /* ignored */
			break;
		case ZT_ICMP_PACKET_TOO_BIG:
			code = (uint8_t)zt_rng_next(&rng); /* ignored */
			arg = v6 ? 1280 + (uint32_t)zt_rng_below(&rng, 100000) :
				   68 + (uint32_t)zt_rng_below(&rng, 65536 - 68);
			break;
		case ZT_ICMP_TIME_EXCEEDED:
			code = (uint8_t)zt_rng_below(&rng, 2);
			arg = zt_rng_u32(&rng);
			break;
		default:
			code = (uint8_t)zt_rng_below(&rng, 3);
			arg = v6 ? zt_rng_u32(&rng) : (uint32_t)zt_rng_below(&rng, 256);
			break;
		}
		expect_type_code(v6, kind, code, &type, &ecode);

		len = make_l4(&rng, &s, &d, tcp, total, sport, dport, seq, pkt);
		CU_ASSERT_EQUAL_FATAL(len, total);
		rand_fill(&rng, pkt + len, pad); /* link padding: never quoted */
		CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(pkt, len + pad),
						      0, &p), ZT_DROP_NONE);

		limit = v6 ? ZT_ICMP6_ERROR_MAX : ZT_ICMP4_ERROR_MAX;
		if (limit > link_mtu)
			limit = link_mtu;
		want = ip_hlen(&s, false) + 8 + total;
		if (want > limit)
			want = limit;

		n = zt_icmp_error(&p, zt_view_make(pkt, len + pad), kind, code,
				  arg, &d, link_mtu, out, sizeof(out));
		CU_ASSERT_EQUAL_FATAL(n, (int)want);
		CU_ASSERT_FATAL((size_t)n <= (v6 ? 1280u : 576u));
		CU_ASSERT_FATAL((size_t)n <= link_mtu);
		CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(out, (size_t)n),
						      0, &r), ZT_DROP_NONE);
		CU_ASSERT_EQUAL(r.family, s.family);
		CU_ASSERT_EQUAL(r.proto, v6 ? ZT_IPPROTO_ICMPV6 : ZT_IPPROTO_ICMP);
		CU_ASSERT(zt_addr_eq(&r.src, &d));
		CU_ASSERT(zt_addr_eq(&r.dst, &s));
		CU_ASSERT_EQUAL(r.l4.icmp.kind, kind);
		CU_ASSERT_EQUAL(r.l4.icmp.type, type);
		CU_ASSERT_EQUAL(r.l4.icmp.code, ecode);
		if (kind == ZT_ICMP_PACKET_TOO_BIG) {
			CU_ASSERT_EQUAL(r.l4.icmp.mtu, arg);
		} else if (kind == ZT_ICMP_PARAM_PROBLEM) {
			CU_ASSERT_EQUAL(r.l4.icmp.pointer, arg);
		} else {
			CU_ASSERT_EQUAL(r.l4.icmp.rest, 0);
		}
		if (v6) {
			CU_ASSERT_EQUAL(r.ip.ip6.hop_limit, ZT_ICMP_REPLY_TTL);
		} else {
			CU_ASSERT_EQUAL(r.ip.ip4.ttl, ZT_ICMP_REPLY_TTL);
			CU_ASSERT(r.ip.ip4.dont_frag);
		}

		/* The quote is the offender's prefix, and decodes to its flow. */
		CU_ASSERT_EQUAL_FATAL(r.payload.len, want - ip_hlen(&s, false) - 8);
		CU_ASSERT(memcmp(r.payload.data, pkt, r.payload.len) == 0);
		CU_ASSERT_EQUAL_FATAL(zt_icmp_parse_quote(r.payload, &q),
				      ZT_DROP_NONE);
		CU_ASSERT(zt_addr_eq(&q.src, &s));
		CU_ASSERT(zt_addr_eq(&q.dst, &d));
		CU_ASSERT_EQUAL(q.proto, tcp ? ZT_IPPROTO_TCP : ZT_IPPROTO_UDP);
		CU_ASSERT(q.has_ports);
		CU_ASSERT_EQUAL(q.src_port, sport);
		CU_ASSERT_EQUAL(q.dst_port, dport);
		if (tcp) {
			CU_ASSERT(q.has_seq);
			CU_ASSERT_EQUAL(q.tcp_seq, seq);
		}
		counts[v6][want < ip_hlen(&s, false) + 8 + total]++;

		CU_ASSERT_EQUAL(zt_icmp_error(&p, zt_view_make(pkt, len + pad),
					      kind, code, arg, &d, link_mtu,
					      out, (size_t)n - 1), -ENOSPC);
	}
	/* Both families saw both whole and cut quotes. */
	for (int f = 0; f < 2; f++)
		for (int c = 0; c < 2; c++)
			CU_ASSERT(counts[f][c] > 10);
}

/* Offenders no error may be sent about, and near misses that are fine. */
static void test_error_forbidden(void)
{
	static uint8_t pkt[BIG], out[BIG];
	static const struct {
		const char *src, *dst;
		int what;       /* 0 UDP, 1 ICMP echo, 2 ICMP error, 3 frag 0, 4 frag 8 */
		enum zt_icmp_kind kind;
		uint8_t code;
		bool ok;
	} t[] = {
		{ "10.0.0.1", "10.0.0.2", 0, ZT_ICMP_DEST_UNREACH, 3, true },
		{ "10.0.0.1", "10.0.0.2", 1, ZT_ICMP_DEST_UNREACH, 1, true },
		{ "10.0.0.1", "10.0.0.2", 2, ZT_ICMP_DEST_UNREACH, 1, false },
		{ "10.0.0.1", "10.0.0.2", 3, ZT_ICMP_TIME_EXCEEDED, 1, true },
		{ "10.0.0.1", "10.0.0.2", 4, ZT_ICMP_TIME_EXCEEDED, 1, false },
		{ "10.0.0.1", "10.0.0.2", 4, ZT_ICMP_DEST_UNREACH, 3, false },
		{ "255.255.255.255", "10.0.0.2", 0, ZT_ICMP_DEST_UNREACH, 3, false },
		{ "224.0.0.1", "10.0.0.2", 0, ZT_ICMP_DEST_UNREACH, 3, false },
		{ "0.0.0.0", "10.0.0.2", 0, ZT_ICMP_DEST_UNREACH, 3, false },
		{ "127.0.0.1", "10.0.0.2", 0, ZT_ICMP_DEST_UNREACH, 3, false },
		{ "240.0.0.1", "10.0.0.2", 0, ZT_ICMP_DEST_UNREACH, 3, false },
		{ "10.0.0.1", "224.0.0.1", 0, ZT_ICMP_DEST_UNREACH, 3, false },
		{ "10.0.0.1", "239.1.2.3", 0, ZT_ICMP_PACKET_TOO_BIG, 0, false },
		{ "10.0.0.1", "255.255.255.255", 0, ZT_ICMP_DEST_UNREACH, 3, false },
		{ "2001:db8::1", "2001:db8::2", 0, ZT_ICMP_DEST_UNREACH, 4, true },
		{ "2001:db8::1", "2001:db8::2", 1, ZT_ICMP_DEST_UNREACH, 4, true },
		{ "2001:db8::1", "2001:db8::2", 2, ZT_ICMP_DEST_UNREACH, 4, false },
		{ "2001:db8::1", "2001:db8::2", 3, ZT_ICMP_PACKET_TOO_BIG, 0, true },
		{ "2001:db8::1", "2001:db8::2", 4, ZT_ICMP_TIME_EXCEEDED, 1, false },
		/* RFC 8200 4.5: a malformed later fragment is told */
		{ "2001:db8::1", "2001:db8::2", 4, ZT_ICMP_PARAM_PROBLEM, 0, true },
		{ "ff02::1", "2001:db8::2", 0, ZT_ICMP_DEST_UNREACH, 4, false },
		{ "::", "2001:db8::2", 0, ZT_ICMP_DEST_UNREACH, 4, false },
		{ "::1", "2001:db8::2", 0, ZT_ICMP_DEST_UNREACH, 4, false },
		{ "2001:db8::1", "ff02::1", 0, ZT_ICMP_DEST_UNREACH, 4, false },
		{ "2001:db8::1", "ff02::1", 0, ZT_ICMP_TIME_EXCEEDED, 0, false },
		{ "2001:db8::1", "ff02::1", 0, ZT_ICMP_PACKET_TOO_BIG, 0, true },
		{ "2001:db8::1", "ff05::2", 0, ZT_ICMP_PARAM_PROBLEM, 2, true },
		{ "2001:db8::1", "ff05::2", 0, ZT_ICMP_PARAM_PROBLEM, 1, false },
	};
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(0x1c04));
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct zt_addr s = addr(t[i].src), d = addr(t[i].dst);
		bool v6 = s.family == ZT_AF_INET6;
		struct zt_addr from = rand_unicast(&rng, v6);
		uint32_t arg = v6 ? 1280 : 1000;
		size_t len = 0;
		struct zt_packet p;
		int n;

		switch (t[i].what) {
		case 0:
			len = make_l4(&rng, &s, &d, false, 100, 1, 2, 0, pkt);
			break;
		case 1:
			len = make_icmp(&rng, &s, &d, v6 ? ZT_ICMP6_ECHO_REQUEST :
						       ZT_ICMP4_ECHO_REQUEST,
					0, 1, 1, 40, pkt);
			break;
		case 2:
			len = make_icmp(&rng, &s, &d, v6 ? ZT_ICMP6_TIME_EXCEEDED :
						       ZT_ICMP4_DEST_UNREACH,
					0, 0, 0, 48, pkt);
			break;
		case 3:
		case 4:
			rand_fill(&rng, pkt + ip_hlen(&s, true), 64);
			len = put_ip(&s, &d, ZT_IPPROTO_UDP, 0,
				     t[i].what == 3 ? 0 : 8, true, 64, pkt);
			break;
		}
		CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(pkt, len), 0,
						      &p), ZT_DROP_NONE);
		CU_ASSERT_EQUAL_FATAL(p.is_fragment, t[i].what >= 3);
		n = zt_icmp_error(&p, zt_view_make(pkt, len), t[i].kind,
				  t[i].code, arg, &from, 1500, out, sizeof(out));
		if (t[i].ok) {
			CU_ASSERT_EQUAL(n, (int)(ip_hlen(&s, false) + 8 + len));
		} else {
			CU_ASSERT_EQUAL(n, -EPERM);
		}
	}
}

/* ICMP offenders by type: errors (and unknown ICMPv4 types) get nothing,
 * informational messages may be answered. */
static void test_error_about_icmp(void)
{
	static uint8_t pkt[BIG], out[BIG];
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(0x1c08));
	for (unsigned type = 0; type < 256; type++) {
		for (int v6 = 0; v6 < 2; v6++) {
			struct zt_addr s = rand_unicast(&rng, v6);
			struct zt_addr d = rand_unicast(&rng, v6);
			size_t len = make_icmp(&rng, &s, &d, (uint8_t)type, 0, 1,
					       2, 32, pkt);
			/* IPv6: errors, and Redirect (RFC 4443 2.4(e.2)) */
			bool err = v6 ? type < 128 || type == 137 :
				   type == 3 || type == 4 || type == 5 ||
				   type == 11 || type == 12 || type > 18;
			struct zt_packet p;
			int n;

			CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(pkt, len),
							      0, &p), ZT_DROP_NONE);
			n = zt_icmp_error(&p, zt_view_make(pkt, len),
					  ZT_ICMP_DEST_UNREACH, 1, 0, &d, 1500,
					  out, sizeof(out));
			if (err) {
				CU_ASSERT_EQUAL(n, -EPERM);
			} else {
				CU_ASSERT_EQUAL(n, (int)(ip_hlen(&s, false) + 8 + len));
			}
		}
	}
}

/* An ICMPv6 message behind extension headers that parse did not walk to
 * the end: one it refused (an option of type 10xxxxxx, a hop-by-hop
 * header not first) or the headers after a first fragment's fragment
 * header. An error message there is still an error message (RFC 4443
 * 2.4(e.1)): nothing about it, while an echo request in the same place
 * is answered. */
static void test_error_about_icmp_behind_ext_hdrs(void)
{
	static const uint8_t chains[][24] = {
		/* destination options, an option of type 0x80 */
		{ 60, 8, 58, 0, 0x80, 4, 0, 0, 0, 0 },
		/* destination options, then hop-by-hop: not first */
		{ 60, 16, 0, 0, 1, 4, 0, 0, 0, 0, 58, 0, 1, 4 },
		/* first fragment (M set), destination options (PadN) */
		{ 44, 16, 60, 0, 0, 1, 0, 0, 0, 7, 58, 0, 1, 4 },
	};
	static const uint8_t types[] = { 1, 2, 3, 4, 137, 128 };
	struct zt_addr s = addr("2001:db8::1"), d = addr("2001:db8::2");
	uint8_t pkt[128], out[BIG];

	for (size_t c = 0; c < sizeof(chains) / sizeof(chains[0]); c++) {
		for (size_t t = 0; t < sizeof(types); t++) {
			size_t ext = chains[c][1], len = 40 + ext + 16;
			struct zt_packet p;
			enum zt_drop why;
			int n;

			memset(pkt, 0, sizeof(pkt));
			pkt[0] = 0x60;
			zt_wr16(pkt + 4, (uint16_t)(len - 40));
			pkt[6] = chains[c][0];
			pkt[7] = 64;
			memcpy(pkt + 8, s.bytes, 16);
			memcpy(pkt + 24, d.bytes, 16);
			memcpy(pkt + 40, chains[c] + 2, ext);
			pkt[40 + ext] = types[t]; /* the ICMPv6 message */
			why = zt_packet_parse(zt_view_make(pkt, len), 0, &p);
			if (c < 2) {
				CU_ASSERT_EQUAL_FATAL(why, ZT_DROP_BAD_EXT_HDR);
				CU_ASSERT_FATAL(p.ip.ip6.param_problem);
				n = zt_icmp_error(&p, zt_view_make(pkt, len),
						  ZT_ICMP_PARAM_PROBLEM,
						  p.ip.ip6.pp_code,
						  p.ip.ip6.pp_pointer, &d, 1500,
						  out, sizeof(out));
			} else {
				CU_ASSERT_EQUAL_FATAL(why, ZT_DROP_NONE);
				CU_ASSERT_FATAL(p.is_fragment);
				n = zt_icmp_error(&p, zt_view_make(pkt, len),
						  ZT_ICMP_TIME_EXCEEDED, 1, 0, &d,
						  1500, out, sizeof(out));
			}
			if (types[t] == 128) {
				CU_ASSERT_EQUAL(n, (int)(40 + 8 + len));
			} else {
				CU_ASSERT_EQUAL(n, -EPERM);
			}
		}
	}
}

static void test_error_bad_args(void)
{
	static uint8_t pkt[BIG], out[BIG];
	struct zt_rng rng;
	struct zt_addr s4 = addr("10.0.0.1"), d4 = addr("10.0.0.2");
	struct zt_addr s6 = addr("2001:db8::1"), d6 = addr("2001:db8::2");
	struct zt_packet p4, p6;
	size_t l4, l6;
	struct zt_view v4, v6;

	zt_rng_seed(&rng, zt_test_seed(0x1c05));
	l4 = make_l4(&rng, &s4, &d4, true, 200, 1, 2, 3, pkt);
	l6 = make_l4(&rng, &s6, &d6, true, 200, 1, 2, 3, pkt + 1000);
	v4 = zt_view_make(pkt, l4);
	v6 = zt_view_make(pkt + 1000, l6);
	CU_ASSERT_EQUAL_FATAL(zt_packet_parse(v4, 0, &p4), ZT_DROP_NONE);
	CU_ASSERT_EQUAL_FATAL(zt_packet_parse(v6, 0, &p6), ZT_DROP_NONE);

	/* baseline */
	CU_ASSERT(zt_icmp_error(&p4, v4, ZT_ICMP_DEST_UNREACH, 1, 0, &d4, 1500,
				out, sizeof(out)) > 0);
	CU_ASSERT(zt_icmp_error(&p6, v6, ZT_ICMP_DEST_UNREACH, 1, 0, &d6, 1500,
				out, sizeof(out)) > 0);
	/* not an error kind */
	CU_ASSERT_EQUAL(zt_icmp_error(&p4, v4, ZT_ICMP_ECHO_REPLY, 0, 0, &d4,
				      1500, out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(zt_icmp_error(&p6, v6, ZT_ICMP_OTHER, 0, 0, &d6,
				      1500, out, sizeof(out)), -EINVAL);
	/* v4 frag-needed spelt as dest unreach */
	CU_ASSERT_EQUAL(zt_icmp_error(&p4, v4, ZT_ICMP_DEST_UNREACH, 4, 0, &d4,
				      1500, out, sizeof(out)), -EINVAL);
	/* MTUs out of range */
	CU_ASSERT_EQUAL(zt_icmp_error(&p4, v4, ZT_ICMP_PACKET_TOO_BIG, 0, 67,
				      &d4, 1500, out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(zt_icmp_error(&p4, v4, ZT_ICMP_PACKET_TOO_BIG, 0, 65536,
				      &d4, 1500, out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(zt_icmp_error(&p6, v6, ZT_ICMP_PACKET_TOO_BIG, 0, 1279,
				      &d6, 1500, out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(zt_icmp_error(&p4, v4, ZT_ICMP_PARAM_PROBLEM, 0, 256,
				      &d4, 1500, out, sizeof(out)), -EINVAL);
	/* link MTU below the protocol minimum */
	CU_ASSERT_EQUAL(zt_icmp_error(&p4, v4, ZT_ICMP_DEST_UNREACH, 1, 0, &d4,
				      67, out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(zt_icmp_error(&p6, v6, ZT_ICMP_DEST_UNREACH, 1, 0, &d6,
				      1279, out, sizeof(out)), -EINVAL);
	/* from: wrong family, or not unicast */
	CU_ASSERT_EQUAL(zt_icmp_error(&p4, v4, ZT_ICMP_DEST_UNREACH, 1, 0, &d6,
				      1500, out, sizeof(out)), -EINVAL);
	{
		struct zt_addr m = addr("ff02::1");

		CU_ASSERT_EQUAL(zt_icmp_error(&p6, v6, ZT_ICMP_DEST_UNREACH, 1,
					      0, &m, 1500, out, sizeof(out)),
				-EINVAL);
	}
	/* raw bytes of the other family, or too short */
	CU_ASSERT_EQUAL(zt_icmp_error(&p4, v6, ZT_ICMP_DEST_UNREACH, 1, 0, &d4,
				      1500, out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(zt_icmp_error(&p6, zt_view_make(v6.data, 39),
				      ZT_ICMP_DEST_UNREACH, 1, 0, &d6, 1500, out,
				      sizeof(out)), -EINVAL);
	/* raw cut short: the quote is what there is */
	CU_ASSERT_EQUAL(zt_icmp_error(&p4, zt_view_make(v4.data, 50),
				      ZT_ICMP_DEST_UNREACH, 1, 0, &d4, 1500, out,
				      sizeof(out)), 20 + 8 + 50);
}

static void test_ratelimit_exact(void)
{
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(0x1c06));
	for (int iter = 0; iter < 300; iter++) {
		uint32_t rate = 1 + (uint32_t)zt_rng_below(&rng, 1000);
		uint32_t burst = 1 + (uint32_t)zt_rng_below(&rng, 50);
		uint64_t t0 = zt_rng_next(&rng) >> 2;
		uint64_t gap = (1000000000ull + rate - 1) / rate;
		uint64_t T = zt_rng_below(&rng, 100ull * 1000000000ull);
		uint64_t want, got;
		struct zt_ratelimit rl;

		/* A full bucket, then nothing; asking whether a token is
		 * there (ready) takes none. */
		zt_ratelimit_init(&rl, rate, burst);
		for (uint32_t i = 0; i < burst; i++) {
			CU_ASSERT_FATAL(zt_ratelimit_ready(&rl, t0));
			CU_ASSERT_FATAL(zt_ratelimit_ready(&rl, t0));
			CU_ASSERT_FATAL(zt_ratelimit_take(&rl, t0));
		}
		CU_ASSERT_FATAL(!zt_ratelimit_ready(&rl, t0));
		CU_ASSERT_FATAL(!zt_ratelimit_take(&rl, t0));
		/* The next token comes exactly ceil(1e9 / rate) ns later. */
		CU_ASSERT_FATAL(!zt_ratelimit_ready(&rl, t0 + gap - 1));
		CU_ASSERT_FATAL(!zt_ratelimit_take(&rl, t0 + gap - 1));
		CU_ASSERT_FATAL(zt_ratelimit_ready(&rl, t0 + gap));
		CU_ASSERT_FATAL(zt_ratelimit_take(&rl, t0 + gap));
		CU_ASSERT_FATAL(!zt_ratelimit_take(&rl, t0 + gap));

		/* After a drain, T ns give floor(T * rate / 1e9), at most burst. */
		zt_ratelimit_init(&rl, rate, burst);
		for (uint32_t i = 0; i < burst; i++)
			CU_ASSERT_FATAL(zt_ratelimit_take(&rl, t0));
		want = T * rate / 1000000000ull;
		if (want > burst)
			want = burst;
		for (got = 0; zt_ratelimit_take(&rl, t0 + T); got++)
			;
		CU_ASSERT_EQUAL_FATAL(got, want);

		/* Polled every ms and drained each time, 10 s grant exactly
		 * burst + 10 * rate: with rate <= 1000 a ms adds at most one
		 * token to less than one left, so a bucket of 2 never caps. */
		zt_ratelimit_init(&rl, rate, burst < 2 ? 2 : burst);
		got = 0;
		for (uint64_t ms = 0; ms <= 10000; ms++)
			while (zt_ratelimit_take(&rl, t0 + ms * 1000000ull))
				got++;
		CU_ASSERT_EQUAL_FATAL(got, (uint64_t)(burst < 2 ? 2 : burst) +
					   10ull * rate);
	}
}

static void test_ratelimit_window(void)
{
	static uint64_t ok_at[4096];
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(0x1c07));
	for (int iter = 0; iter < 40; iter++) {
		uint32_t rate = 1 + (uint32_t)zt_rng_below(&rng, 5000);
		uint32_t burst = 1 + (uint32_t)zt_rng_below(&rng, 20);
		uint64_t now = zt_rng_next(&rng) >> 4;
		uint64_t mean = 2000000000ull / rate;
		size_t n = 0, fails = 0;
		struct zt_ratelimit rl;

		zt_ratelimit_init(&rl, rate, burst);
		for (int k = 0; k < 4000 && n < 4096; k++) {
			switch (zt_rng_below(&rng, 8)) {
			case 0:
				break; /* same instant */
			case 1:
				now += zt_rng_below(&rng, 5ull * burst * mean);
				break;
			default:
				now += zt_rng_below(&rng, mean / 2 + 1);
				break;
			}
			if (zt_ratelimit_take(&rl, now))
				ok_at[n++] = now;
			else
				fails++;
		}
		CU_ASSERT(fails > 0);
		for (size_t i = 0; i < n; i++)
			for (size_t j = i; j < n; j++) {
				uint64_t allowed = burst +
					(ok_at[j] - ok_at[i]) * rate / 1000000000ull;

				CU_ASSERT_FATAL(j - i + 1 <= allowed);
			}
	}
}

static void test_ratelimit_edges(void)
{
	struct zt_ratelimit rl;
	int got = 0;

	/* No refill: the burst, once. */
	zt_ratelimit_init(&rl, 0, 3);
	for (uint64_t t = 0; t < 100; t++)
		got += zt_ratelimit_take(&rl, t * 1000000000000ull);
	CU_ASSERT_EQUAL(got, 3);
	/* No burst: never. */
	zt_ratelimit_init(&rl, 1000, 0);
	CU_ASSERT(!zt_ratelimit_take(&rl, 0));
	CU_ASSERT(!zt_ratelimit_take(&rl, UINT64_MAX));
	/* Time stepping back refills nothing. */
	zt_ratelimit_init(&rl, 1, 1);
	CU_ASSERT(zt_ratelimit_take(&rl, 5000000000ull));
	CU_ASSERT(!zt_ratelimit_take(&rl, 1000));
	CU_ASSERT(!zt_ratelimit_take(&rl, 1000000999ull));
	CU_ASSERT(zt_ratelimit_take(&rl, 1000001000ull));
	CU_ASSERT(!zt_ratelimit_take(&rl, 1000001000ull));
	/* Huge pauses and rates do not overflow. */
	zt_ratelimit_init(&rl, UINT32_MAX, UINT32_MAX);
	CU_ASSERT(zt_ratelimit_take(&rl, UINT64_MAX - 1));
	CU_ASSERT(zt_ratelimit_take(&rl, UINT64_MAX));
	zt_ratelimit_init(&rl, 1, 2);
	CU_ASSERT(zt_ratelimit_take(&rl, 0));
	CU_ASSERT(zt_ratelimit_take(&rl, 0));
	CU_ASSERT(!zt_ratelimit_take(&rl, 0));
	got = 0;
	while (zt_ratelimit_take(&rl, UINT64_MAX))
		got++;
	CU_ASSERT_EQUAL(got, 2);
}

int zt_suite_icmp_reply(void)
{
	static const struct zt_test_case cases[] = {
		{ "echo_reply", test_echo_reply },
		{ "echo_refused", test_echo_refused },
		{ "error_random", test_error_random },
		{ "error_forbidden", test_error_forbidden },
		{ "error_about_icmp", test_error_about_icmp },
		{ "error_about_icmp_behind_ext_hdrs",
		  test_error_about_icmp_behind_ext_hdrs },
		{ "error_bad_args", test_error_bad_args },
		{ "ratelimit_exact", test_ratelimit_exact },
		{ "ratelimit_window", test_ratelimit_window },
		{ "ratelimit_edges", test_ratelimit_edges },
		{ 0 }
	};

	return zt_add_suite("icmp_reply", NULL, NULL, cases);
}
