/* SPDX-License-Identifier: MIT */
/*
 * test_dns_wire.c - DNS queries and answers: a query as a stub resolver
 * sends it (EDNS OPT included) read back, answers compared byte for byte,
 * every malformed question answered with the rcode RFC 1035 gives it,
 * every truncation and random bytes parsed over exactly-sized heap copies.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ztun/dns_wire.h"
#include "ztun/rng.h"

size_t zt_test_dns_query(uint8_t *buf, const char *name, uint16_t qtype,
			 bool edns)
{
	size_t off = ZT_DNS_HDR;
	const char *p = name;

	memset(buf, 0, ZT_DNS_HDR);
	zt_wr16(buf, 0x1234);
	zt_wr16(buf + 2, 0x0100);            /* RD */
	zt_wr16(buf + 4, 1);                 /* QDCOUNT */
	zt_wr16(buf + 10, edns ? 1 : 0);     /* ARCOUNT */
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		buf[off++] = (uint8_t)n;
		memcpy(buf + off, p, n);
		off += n;
		p += n + (dot ? 1 : 0);
	}
	buf[off++] = 0;
	zt_wr16(buf + off, qtype);
	zt_wr16(buf + off + 2, ZT_DNS_CLASS_IN);
	off += 4;
	if (edns) {
		static const uint8_t opt[] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0 };

		memcpy(buf + off, opt, sizeof(opt));
		off += sizeof(opt);
	}
	return off;
}

static int parse_exact(const uint8_t *msg, size_t len, struct zt_dns_query *q)
{
	uint8_t *copy = zt_test_dup_exact(msg, len);
	int rc = zt_dns_parse_query(zt_view_make(copy, len), q);

	free(copy);
	return rc;
}

static void test_parse_query(void)
{
	uint8_t msg[512];
	struct zt_dns_query q;
	size_t len = zt_test_dns_query(msg, "WwW.Example.COM", ZT_DNS_TYPE_A, true);
	uint8_t *copy = zt_test_dup_exact(msg, len);

	CU_ASSERT_EQUAL(zt_dns_parse_query(zt_view_make(copy, len), &q),
			ZT_DNS_NOERROR);
	CU_ASSERT_EQUAL(q.id, 0x1234);
	CU_ASSERT_EQUAL(q.flags, 0x0100);
	CU_ASSERT_EQUAL(q.qtype, ZT_DNS_TYPE_A);
	CU_ASSERT_EQUAL(q.qclass, ZT_DNS_CLASS_IN);
	CU_ASSERT_STRING_EQUAL(q.name, "www.example.com");
	/* the question as sent: 17 name bytes, type and class */
	CU_ASSERT_EQUAL(q.question.len, 17 + 4);
	CU_ASSERT_PTR_EQUAL(q.question.data, copy + ZT_DNS_HDR);
	free(copy);

	len = zt_test_dns_query(msg, "", ZT_DNS_TYPE_AAAA, false);
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_NOERROR);
	CU_ASSERT_STRING_EQUAL(q.name, "");
	CU_ASSERT_EQUAL(q.qtype, ZT_DNS_TYPE_AAAA);

	len = zt_test_dns_query(msg, "_sip._udp.a-b.example", 33, false);
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_NOERROR);
	CU_ASSERT_STRING_EQUAL(q.name, "_sip._udp.a-b.example");
}

static void test_answer_bytes(void)
{
	uint8_t msg[512], out[512];
	struct zt_dns_query q;
	static const uint8_t ip4[4] = { 198, 18, 0, 7 };
	uint8_t ip6[16] = { 0xfc, 0x00, [15] = 7 };
	struct zt_addr a[2];
	size_t qlen = zt_test_dns_query(msg, "WwW.Example.COM", ZT_DNS_TYPE_A, true);
	int n;

	a[0] = zt_addr_v4(ip4);
	a[1] = zt_addr_v6(ip6);
	CU_ASSERT_EQUAL_FATAL(zt_dns_parse_query(zt_view_make(msg, qlen), &q),
			      ZT_DNS_NOERROR);
	n = zt_dns_build_answer(&q, ZT_DNS_NOERROR, a, 1, 300, out, sizeof(out));
	CU_ASSERT_EQUAL_FATAL(n, ZT_DNS_HDR + 21 + 16);
	CU_ASSERT_EQUAL(zt_rd16(out), 0x1234);
	CU_ASSERT_EQUAL(zt_rd16(out + 2), 0x8580); /* QR AA RD RA, NOERROR */
	CU_ASSERT_EQUAL(zt_rd16(out + 4), 1);
	CU_ASSERT_EQUAL(zt_rd16(out + 6), 1);
	CU_ASSERT_EQUAL(zt_rd16(out + 8), 0);
	CU_ASSERT_EQUAL(zt_rd16(out + 10), 0);      /* no OPT echoed */
	/* the question exactly as sent, case included */
	CU_ASSERT_EQUAL(memcmp(out + ZT_DNS_HDR, msg + ZT_DNS_HDR, 21), 0);
	{
		static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 44,
					      0, 4, 198, 18, 0, 7 };

		CU_ASSERT_EQUAL(memcmp(out + ZT_DNS_HDR + 21, rr, sizeof(rr)), 0);
	}

	n = zt_dns_build_answer(&q, ZT_DNS_NOERROR, a + 1, 1, 1, out, sizeof(out));
	CU_ASSERT_EQUAL_FATAL(n, ZT_DNS_HDR + 21 + 28);
	CU_ASSERT_EQUAL(zt_rd16(out + ZT_DNS_HDR + 21 + 2), ZT_DNS_TYPE_AAAA);
	CU_ASSERT_EQUAL(zt_rd32(out + ZT_DNS_HDR + 21 + 6), 1);
	CU_ASSERT_EQUAL(zt_rd16(out + ZT_DNS_HDR + 21 + 10), 16);
	CU_ASSERT_EQUAL(memcmp(out + ZT_DNS_HDR + 21 + 12, ip6, 16), 0);

	/* no records: NODATA (NOERROR, the question, no answer) */
	n = zt_dns_build_answer(&q, ZT_DNS_NOERROR, NULL, 0, 1, out, sizeof(out));
	CU_ASSERT_EQUAL(n, ZT_DNS_HDR + 21);
	CU_ASSERT_EQUAL(zt_rd16(out + 6), 0);

	/* every size short of the whole answer is refused, none overrun */
	for (size_t cap = 0; cap < ZT_DNS_HDR + 21 + 16; cap++) {
		uint8_t *small = malloc(cap ? cap : 1);

		CU_ASSERT_EQUAL(zt_dns_build_answer(&q, ZT_DNS_NOERROR, a, 1, 1,
						    small, cap), -ENOSPC);
		free(small);
	}
}

/* A header-only error answer for a question that could not be read. */
static void test_error_answers(void)
{
	uint8_t msg[512], out[64];
	struct zt_dns_query q;
	size_t len = zt_test_dns_query(msg, "example.com", ZT_DNS_TYPE_A, false);
	int n;

	msg[2] |= 0x10; /* opcode 2 (STATUS) */
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_NOTIMP);
	CU_ASSERT_EQUAL(q.id, 0x1234);
	n = zt_dns_build_answer(&q, ZT_DNS_NOTIMP, NULL, 0, 1, out, sizeof(out));
	CU_ASSERT_EQUAL_FATAL(n, ZT_DNS_HDR);
	CU_ASSERT_EQUAL(zt_rd16(out + 2), 0x9184); /* QR, opcode 2, RD RA, NOTIMP */
	CU_ASSERT_EQUAL(zt_rd16(out + 4), 0);

	len = zt_test_dns_query(msg, "example.com", ZT_DNS_TYPE_A, false);
	zt_wr16(msg + 4, 2);
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_FORMERR);
	zt_wr16(msg + 4, 0);
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_FORMERR);
	n = zt_dns_build_answer(&q, ZT_DNS_FORMERR, NULL, 0, 1, out, sizeof(out));
	CU_ASSERT_EQUAL(n, ZT_DNS_HDR);
	CU_ASSERT_EQUAL(zt_rd16(out + 2) & 0xf, ZT_DNS_FORMERR);

	/* a response is not answered at all */
	len = zt_test_dns_query(msg, "example.com", ZT_DNS_TYPE_A, false);
	msg[2] |= 0x80;
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), -EINVAL);
}

static void test_malformed_names(void)
{
	uint8_t msg[600];
	struct zt_dns_query q;
	char name[300];
	size_t len;

	/* a compression pointer in the question */
	len = zt_test_dns_query(msg, "example.com", ZT_DNS_TYPE_A, false);
	msg[ZT_DNS_HDR + 8] = 0xc0;
	msg[ZT_DNS_HDR + 9] = 0x0c;
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_FORMERR);
	/* the reserved label types 01 and 10 */
	len = zt_test_dns_query(msg, "example.com", ZT_DNS_TYPE_A, false);
	msg[ZT_DNS_HDR] = 0x47;
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_FORMERR);
	msg[ZT_DNS_HDR] = 0x87;
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_FORMERR);

	/* 63-byte labels are fine, and so is a 253-character name */
	memset(name, 'a', 63);
	name[63] = '.';
	memset(name + 64, 'b', 63);
	name[127] = '.';
	memset(name + 128, 'c', 63);
	name[191] = '.';
	memset(name + 192, 'd', 61);
	name[253] = 0;
	len = zt_test_dns_query(msg, name, ZT_DNS_TYPE_A, false);
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_NOERROR);
	CU_ASSERT_STRING_EQUAL(q.name, name);
	/* one more character: 256 bytes on the wire */
	name[253] = 'd';
	name[254] = 0;
	len = zt_test_dns_query(msg, name, ZT_DNS_TYPE_A, false);
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_FORMERR);
	/* a label of 64 */
	memset(name, 'a', 64);
	strcpy(name + 64, ".com");
	len = zt_test_dns_query(msg, name, ZT_DNS_TYPE_A, false);
	msg[ZT_DNS_HDR] = 64;
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_FORMERR);

	/* bytes no host name has */
	len = zt_test_dns_query(msg, "exa mple.com", ZT_DNS_TYPE_A, false);
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_REFUSED);
	CU_ASSERT_EQUAL(q.question.len, 14 + 4); /* still echoed */
	len = zt_test_dns_query(msg, "a/b.com", ZT_DNS_TYPE_A, false);
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_REFUSED);
	len = zt_test_dns_query(msg, "ab.com", ZT_DNS_TYPE_A, false);
	msg[ZT_DNS_HDR + 1] = 0; /* a NUL inside a label */
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_REFUSED);
	len = zt_test_dns_query(msg, "ab.com", ZT_DNS_TYPE_A, false);
	msg[ZT_DNS_HDR + 1] = '.'; /* a dot inside a label */
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_REFUSED);
}

/* A host name in text form (a rule's domain, a proxy's name): labels of
 * 1..63 letters, digits, '-' and '_', single dots, 253 characters. */
static void test_name_valid(void)
{
	static const char *const good[] = {
		"a", "proxy", "Example.COM", "my_svc-1.internal", "1.2.3.4.in-addr",
	};
	static const char *const bad[] = {
		"", ".", ".a", "a.", "a..b", "a b", "a/b", "bad!name", "a\tb",
	};
	char name[300];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CU_ASSERT(zt_dns_name_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT(!zt_dns_name_valid(bad[i]));
	/* labels: 63 is the most */
	memset(name, 'a', 64);
	name[63] = 0;
	CU_ASSERT(zt_dns_name_valid(name));
	name[63] = 'a';
	name[64] = 0;
	CU_ASSERT(!zt_dns_name_valid(name));
	/* the whole name: 253 (four labels of 63 with their dots = 255) */
	for (size_t i = 0; i < 253; i++)
		name[i] = (i + 1) % 64 == 0 ? '.' : 'a';
	name[253] = 0;
	CU_ASSERT(zt_dns_name_valid(name));
	name[253] = 'a';
	name[254] = 0;
	CU_ASSERT(!zt_dns_name_valid(name));
}

/* Every prefix of a query: no header is -EINVAL, a cut question FORMERR. */
static void test_truncated(void)
{
	uint8_t msg[512];
	struct zt_dns_query q;
	size_t len = zt_test_dns_query(msg, "www.example.com", ZT_DNS_TYPE_AAAA, false);

	for (size_t cut = 0; cut < len; cut++)
		CU_ASSERT_EQUAL(parse_exact(msg, cut, &q),
				cut < ZT_DNS_HDR ? -EINVAL : ZT_DNS_FORMERR);
	CU_ASSERT_EQUAL(parse_exact(msg, len, &q), ZT_DNS_NOERROR);
}

/* Random messages: never a crash or an over-read, and a name that parsed
 * is always a host name of at most 253 characters. */
static void test_random(void)
{
	struct zt_rng rng;
	uint8_t msg[300];

	zt_rng_seed(&rng, zt_test_seed(0xd15));
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)zt_rng_below(&rng, sizeof(msg) + 1);
		struct zt_dns_query q;
		int rc;

		for (size_t j = 0; j < len; j++)
			msg[j] = (uint8_t)zt_rng_next(&rng);
		if (len > 5 && i % 2) { /* mostly well-formed headers */
			msg[2] &= 0x07;
			msg[4] = 0;
			msg[5] = 1;
			for (size_t j = ZT_DNS_HDR; j < len; j++)
				if (zt_rng_below(&rng, 4) == 0)
					msg[j] = (uint8_t)zt_rng_below(&rng, 12);
		}
		rc = parse_exact(msg, len, &q);
		if (rc == ZT_DNS_NOERROR) {
			size_t n = strlen(q.name);

			CU_ASSERT(n <= ZT_DNS_NAME_MAX);
			CU_ASSERT(strspn(q.name, "abcdefghijklmnopqrstuvwxyz"
					 "0123456789-_.") == n);
			CU_ASSERT(q.question.len >= 5);
		}
	}
}

/* An upstream's answer: our own (question, one A), and a hand-made one
 * with a CNAME chain and compressed names leading to an A and an AAAA. */
static void test_parse_answer(void)
{
	uint8_t msg[512], out[512];
	struct zt_dns_query q;
	struct zt_addr a[4], got[4];
	static const uint8_t ip4[4] = { 192, 0, 2, 7 };
	char name[ZT_DNS_NAME_MAX + 1];
	size_t qlen = zt_test_dns_query(msg, "Lan.Test", ZT_DNS_TYPE_A, false);
	int n;

	a[0] = zt_addr_v4(ip4);
	CU_ASSERT_FATAL(zt_dns_parse_query(zt_view_make(msg, qlen), &q) == 0);
	n = zt_dns_build_answer(&q, ZT_DNS_NOERROR, a, 1, 60, out, sizeof(out));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(zt_dns_parse_answer(zt_view_make(out, (size_t)n), name, got, 4), 1);
	CU_ASSERT_STRING_EQUAL(name, "lan.test");
	CU_ASSERT(zt_addr_eq(&got[0], &a[0]));
	/* NXDOMAIN, a query, a runt: nothing learned */
	n = zt_dns_build_answer(&q, ZT_DNS_NXDOMAIN, NULL, 0, 60, out, sizeof(out));
	CU_ASSERT_EQUAL(zt_dns_parse_answer(zt_view_make(out, (size_t)n), name, got, 4), -EINVAL);
	CU_ASSERT_EQUAL(zt_dns_parse_answer(zt_view_make(msg, qlen), name, got, 4), -EINVAL);
	CU_ASSERT_EQUAL(zt_dns_parse_answer(zt_view_make(msg, 5), name, got, 4), -EINVAL);
	{
		/* www.a.test CNAME edge.b.test; edge.b.test A 192.0.2.9,
		 * AAAA 2001:db8::9; the CNAME's target written as "edge"
		 * plus a pointer to "b.test" inside an earlier name */
		static const uint8_t m[] = {
			0x00, 0x07, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0,
			/* 12: question www.a.test A IN */
			3, 'w', 'w', 'w', 1, 'a', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1,
			/* 28: CNAME, owner -> 12 */
			0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 9,
			/* 40: edge.b.test: "edge" then b, then pointer to "test" at 18 */
			4, 'e', 'd', 'g', 'e', 1, 'b', 0xc0, 18,
			/* 49: A, owner -> 40 */
			0xc0, 40, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 9,
			/* 65: AAAA, owner -> 40 */
			0xc0, 40, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16,
			0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9,
		};
		uint8_t *copy = zt_test_dup_exact(m, sizeof(m));

		CU_ASSERT_EQUAL(zt_dns_parse_answer(zt_view_make(copy, sizeof(m)),
						    name, got, 4), 2);
		CU_ASSERT_STRING_EQUAL(name, "www.a.test");
		CU_ASSERT_EQUAL(got[0].family, ZT_AF_INET);
		CU_ASSERT_EQUAL(got[0].bytes[3], 9);
		CU_ASSERT_EQUAL(got[1].family, ZT_AF_INET6);
		CU_ASSERT_EQUAL(got[1].bytes[15], 9);
		/* only room for one */
		CU_ASSERT_EQUAL(zt_dns_parse_answer(zt_view_make(copy, sizeof(m)),
						    name, got, 1), 1);
		free(copy);
		/* every cut: never past the bytes (ASan), and an answer
		 * cut short teaches nothing */
		for (size_t cut = 0; cut < sizeof(m); cut++) {
			copy = zt_test_dup_exact(m, cut);
			n = zt_dns_parse_answer(zt_view_make(copy, cut), name, got, 4);
			CU_ASSERT_EQUAL(n, -EINVAL);
			free(copy);
		}
	}
	{
		/* a pointer loop in a record's owner name (a pointer must
		 * point back, RFC 1035 4.1.4) */
		uint8_t m[] = {
			0x00, 0x08, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
			1, 'a', 0, 0, 1, 0, 1,
			0xc0, 19, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4,
		};

		CU_ASSERT_EQUAL(zt_dns_parse_answer(zt_view_make(m, sizeof(m)),
						    name, got, 4), -EINVAL);
	}
}

/* What a client takes over UDP: its OPT's size, else 512; a runt or
 * records that run past the message read as no OPT. */
static void test_udp_limit(void)
{
	uint8_t m[512], *copy;
	size_t n = zt_test_dns_query(m, "big.test", ZT_DNS_TYPE_A, true);

	copy = zt_test_dup_exact(m, n);
	CU_ASSERT_EQUAL(zt_dns_udp_limit(zt_view_make(copy, n)), 1232);
	free(copy);
	zt_wr16(m + n - 8, 100); /* below 512: 512 (RFC 6891 6.2.5) */
	copy = zt_test_dup_exact(m, n);
	CU_ASSERT_EQUAL(zt_dns_udp_limit(zt_view_make(copy, n)), ZT_DNS_UDP_MAX);
	free(copy);
	zt_wr16(m + n - 8, 4096);
	for (size_t cut = 0; cut < n; cut++) { /* the OPT cut: none */
		copy = zt_test_dup_exact(m, cut);
		CU_ASSERT_EQUAL(zt_dns_udp_limit(zt_view_make(copy, cut)),
				ZT_DNS_UDP_MAX);
		free(copy);
	}
	copy = zt_test_dup_exact(m, n);
	CU_ASSERT_EQUAL(zt_dns_udp_limit(zt_view_make(copy, n)), 4096);
	free(copy);
	n = zt_test_dns_query(m, "small.test", ZT_DNS_TYPE_A, false);
	copy = zt_test_dup_exact(m, n);
	CU_ASSERT_EQUAL(zt_dns_udp_limit(zt_view_make(copy, n)), ZT_DNS_UDP_MAX);
	free(copy);
}

/* The answer to the query "many.test" A put in @m (its length at *@qlen,
 * decoded into @q): 40 addresses, more than UDP's 512 bytes, in @resp
 * (1024 bytes). Return: its length. */
static int many_answer(uint8_t m[512], size_t *qlen, struct zt_dns_query *q,
		       uint8_t resp[1024])
{
	struct zt_addr addrs[40];
	int n;

	*qlen = zt_test_dns_query(m, "many.test", ZT_DNS_TYPE_A, true);
	for (unsigned i = 0; i < 40; i++) {
		uint8_t a[4] = { 192, 0, 2, (uint8_t)i };

		addrs[i] = zt_addr_v4(a);
	}
	CU_ASSERT_FATAL(zt_dns_parse_query(zt_view_make(m, *qlen), q) == 0);
	n = zt_dns_build_answer(q, ZT_DNS_NOERROR, addrs, 40, 60, resp, 1024);
	CU_ASSERT_FATAL(n > ZT_DNS_UDP_MAX);
	return n;
}

/* A response too large for UDP is cut to header and question, TC set. */
static void test_truncate(void)
{
	struct zt_dns_query q;
	uint8_t m[512], resp[1024], out[600];
	size_t qlen;
	int n = many_answer(m, &qlen, &q, resp), t;
	struct zt_view none = zt_view_make(m, 0);

	t = zt_dns_truncate(zt_view_make(resp, (size_t)n), none, out, sizeof(out));
	CU_ASSERT_EQUAL(t, (int)(ZT_DNS_HDR + q.question.len));
	CU_ASSERT_EQUAL(zt_rd16(out), 0x1234);
	CU_ASSERT_EQUAL(zt_rd16(out + 2), zt_rd16(resp + 2) | 0x0200); /* TC */
	CU_ASSERT_EQUAL(zt_rd16(out + 4), 1);
	CU_ASSERT_EQUAL(zt_rd16(out + 6), 0);
	CU_ASSERT_EQUAL(zt_rd16(out + 10), 0);
	CU_ASSERT(memcmp(out + ZT_DNS_HDR, q.question.data, q.question.len) == 0);
	CU_ASSERT_EQUAL(zt_dns_truncate(zt_view_make(resp, (size_t)n), none, out,
					20), -ENOSPC);
	/* a query is not a response, nor is a runt */
	CU_ASSERT_EQUAL(zt_dns_truncate(zt_view_make(m, qlen), none, out,
					sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(zt_dns_truncate(zt_view_make(resp, 11), none, out,
					sizeof(out)), -EINVAL);
	/* a question that cannot be copied (cut, two of them, none): the
	 * query's stands in, else the header goes alone */
	for (int k = 0; k < 3; k++) {
		size_t rlen = k == 0 ? ZT_DNS_HDR + 4 : (size_t)n;

		zt_wr16(resp + 4, k == 0 ? 1 : k == 1 ? 2 : 0);
		t = zt_dns_truncate(zt_view_make(resp, rlen), none, out,
				    sizeof(out));
		CU_ASSERT_EQUAL(t, ZT_DNS_HDR);
		CU_ASSERT_EQUAL(zt_rd16(out + 4), 0);
		CU_ASSERT_EQUAL(zt_rd16(out + 2) & 0x0200, 0x0200);
		t = zt_dns_truncate(zt_view_make(resp, rlen),
				    zt_view_make(m, qlen), out, sizeof(out));
		CU_ASSERT_EQUAL_FATAL(t, (int)(ZT_DNS_HDR + q.question.len));
		CU_ASSERT_EQUAL(zt_rd16(out + 4), 1);
		CU_ASSERT_EQUAL(zt_rd16(out + 6), 0);
		CU_ASSERT(memcmp(out + ZT_DNS_HDR, q.question.data,
				 q.question.len) == 0);
	}
}

/* The one question of a message, and two questions compared as a server
 * echoes them: names without case, type and class exactly. */
static void test_question(void)
{
	uint8_t a[512], b[512];
	size_t na = zt_test_dns_query(a, "Mixed.Test", ZT_DNS_TYPE_A, true);
	size_t nb = zt_test_dns_query(b, "mixed.test", ZT_DNS_TYPE_A, false);
	struct zt_view qa, qb;
	uint8_t *copy;

	copy = zt_test_dup_exact(a, na);
	CU_ASSERT_EQUAL_FATAL(zt_dns_question(zt_view_make(copy, na), &qa), 0);
	CU_ASSERT_EQUAL(qa.len, 12 + 4);
	CU_ASSERT_EQUAL_FATAL(zt_dns_question(zt_view_make(b, nb), &qb), 0);
	CU_ASSERT(zt_dns_question_eq(qa, qb));
	b[ZT_DNS_HDR + 2] = 'j'; /* "mjxed" */
	CU_ASSERT_FALSE(zt_dns_question_eq(qa, qb));
	b[ZT_DNS_HDR + 2] = 'I';
	CU_ASSERT(zt_dns_question_eq(qa, qb));
	zt_wr16(b + nb - 4, ZT_DNS_TYPE_AAAA);
	CU_ASSERT_FALSE(zt_dns_question_eq(qa, qb));
	zt_wr16(b + nb - 4, ZT_DNS_TYPE_A);
	b[ZT_DNS_HDR] = 4; /* another label length */
	CU_ASSERT_FALSE(zt_dns_question_eq(qa, qb));
	/* every cut of the question unread; two questions; a pointer */
	for (size_t cut = 0; cut < ZT_DNS_HDR + qa.len; cut++)
		CU_ASSERT_EQUAL(zt_dns_question(zt_view_make(copy, cut), &qb),
				-EINVAL);
	free(copy);
	zt_wr16(a + 4, 2);
	CU_ASSERT_EQUAL(zt_dns_question(zt_view_make(a, na), &qa), -EINVAL);
	zt_wr16(a + 4, 1);
	a[ZT_DNS_HDR] = 0xc0;
	CU_ASSERT_EQUAL(zt_dns_question(zt_view_make(a, na), &qa), -EINVAL);
}

/* A truncated answer keeps the answer's EDNS OPT (RFC 6891 7: header,
 * question and OPT are the minimal response, truncated ones included),
 * whole when it fits, its options left out when only they do not, left
 * out when not even that fits. */
static void test_truncate_keeps_opt(void)
{
	static const uint8_t opt[] = { 0, 0, 41, 0x04, 0xd0, 0x01, 0, 0x80, 0,
				       0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	struct zt_dns_query q;
	uint8_t m[512], resp[1024], out[600];
	size_t qlen, head;
	int n = many_answer(m, &qlen, &q, resp), t;

	memcpy(resp + n, opt, sizeof(opt)); /* BADVERS high bits, DO, a cookie */
	n += (int)sizeof(opt);
	zt_wr16(resp + 10, 1);
	head = ZT_DNS_HDR + q.question.len;
	t = zt_dns_truncate(zt_view_make(resp, (size_t)n), zt_view_make(m, qlen),
			    out, ZT_DNS_UDP_MAX);
	CU_ASSERT_EQUAL_FATAL(t, (int)(head + sizeof(opt)));
	CU_ASSERT_EQUAL(zt_rd16(out + 6), 0);
	CU_ASSERT_EQUAL(zt_rd16(out + 8), 0);
	CU_ASSERT_EQUAL(zt_rd16(out + 10), 1);
	CU_ASSERT(memcmp(out + head, opt, sizeof(opt)) == 0);
	/* room for the OPT but not its options */
	t = zt_dns_truncate(zt_view_make(resp, (size_t)n), zt_view_make(m, qlen),
			    out, head + sizeof(opt) - 1);
	CU_ASSERT_EQUAL_FATAL(t, (int)(head + 11));
	CU_ASSERT_EQUAL(zt_rd16(out + 10), 1);
	CU_ASSERT(memcmp(out + head, opt, 9) == 0);
	CU_ASSERT_EQUAL(zt_rd16(out + head + 9), 0);
	/* no room for it at all */
	t = zt_dns_truncate(zt_view_make(resp, (size_t)n), zt_view_make(m, qlen),
			    out, head + 10);
	CU_ASSERT_EQUAL_FATAL(t, (int)head);
	CU_ASSERT_EQUAL(zt_rd16(out + 10), 0);
	/* an additional record before it: the OPT found after it; the
	 * message cut in the OPT: none read */
	{
		static const uint8_t a_rr[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60,
						0, 4, 192, 0, 2, 99 };

		n -= (int)sizeof(opt);
		memcpy(resp + n, a_rr, sizeof(a_rr));
		memcpy(resp + n + sizeof(a_rr), opt, sizeof(opt));
		n += (int)(sizeof(a_rr) + sizeof(opt));
		zt_wr16(resp + 10, 2);
	}
	t = zt_dns_truncate(zt_view_make(resp, (size_t)n), zt_view_make(m, 0),
			    out, ZT_DNS_UDP_MAX);
	CU_ASSERT_EQUAL(t, (int)(head + sizeof(opt)));
	CU_ASSERT_EQUAL(zt_rd16(out + 10), 1);
	CU_ASSERT(memcmp(out + head, opt, sizeof(opt)) == 0);
	t = zt_dns_truncate(zt_view_make(resp, (size_t)n - 1), zt_view_make(m, 0),
			    out, ZT_DNS_UDP_MAX);
	CU_ASSERT_EQUAL(t, (int)head);
	CU_ASSERT_EQUAL(zt_rd16(out + 10), 0);
}

/* A response for "a" A with one A record whose owner name is @owner
 * (@olen bytes) in @m (at least 64 + @olen); its length. */
static size_t owner_answer(uint8_t *m, const uint8_t *owner, size_t olen)
{
	static const uint8_t head[] = { 0x00, 0x09, 0x81, 0x80, 0, 1, 0, 1,
					0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1 };
	static const uint8_t tail[] = { 0, 1, 0, 1, 0, 0, 0, 60, 0, 4,
					192, 0, 2, 1 };

	memcpy(m, head, sizeof(head));
	memcpy(m + sizeof(head), owner, olen);
	memcpy(m + sizeof(head) + olen, tail, sizeof(tail));
	return sizeof(head) + olen + sizeof(tail);
}

/* @n labels of 63 'x' then one of @last (0: none), at @p; its length. */
static size_t long_labels(uint8_t *p, unsigned n, unsigned last)
{
	size_t o = 0;

	for (unsigned i = 0; i < n + (last ? 1 : 0); i++) {
		unsigned l = i < n ? 63 : last;

		p[o++] = (uint8_t)l;
		memset(p + o, 'x', l);
		o += l;
	}
	return o;
}

/* Record names are names (RFC 1035 3.1, 4.1.4): at most 255 octets with
 * the labels a pointer leads to, a pointer to an earlier name, never into
 * the header, nor to the labels leading to it; else the answer is
 * malformed and teaches nothing. */
static void test_record_names(void)
{
	uint8_t owner[300], m[400], *copy;
	char name[ZT_DNS_NAME_MAX + 1];
	struct zt_addr got[4];
	size_t o, n;

	/* 255 octets: a name; 256: none */
	o = long_labels(owner, 3, 61);
	owner[o++] = 0;
	CU_ASSERT_EQUAL_FATAL(o, 255);
	n = owner_answer(m, owner, o);
	copy = zt_test_dup_exact(m, n);
	CU_ASSERT_EQUAL(zt_dns_parse_answer(zt_view_make(copy, n), name, got, 4), 1);
	free(copy);
	o = long_labels(owner, 3, 62);
	owner[o++] = 0;
	n = owner_answer(m, owner, o);
	CU_ASSERT_EQUAL(zt_dns_parse_answer(zt_view_make(m, n), name, got, 4), -EINVAL);
	/* 252 octets of labels, then a pointer to the question's "a" (3
	 * octets): 255 with it; 254 of labels then the pointer: 257 */
	o = long_labels(owner, 3, 59);
	owner[o++] = 0xc0;
	owner[o++] = 12;
	n = owner_answer(m, owner, o);
	CU_ASSERT_EQUAL(zt_dns_parse_answer(zt_view_make(m, n), name, got, 4), 1);
	o = long_labels(owner, 3, 61);
	owner[o++] = 0xc0;
	owner[o++] = 12;
	n = owner_answer(m, owner, o);
	CU_ASSERT_EQUAL(zt_dns_parse_answer(zt_view_make(m, n), name, got, 4), -EINVAL);
	/* a pointer into the header (offset 5) */
	owner[0] = 0xc0;
	owner[1] = 5;
	n = owner_answer(m, owner, 2);
	CU_ASSERT_EQUAL(zt_dns_parse_answer(zt_view_make(m, n), name, got, 4), -EINVAL);
	/* "b" then a pointer back to that "b" (offset 19): b.b.b... */
	owner[0] = 1;
	owner[1] = 'b';
	owner[2] = 0xc0;
	owner[3] = 19;
	n = owner_answer(m, owner, 4);
	CU_ASSERT_EQUAL(zt_dns_parse_answer(zt_view_make(m, n), name, got, 4), -EINVAL);
	/* a query's OPT behind such an answer-section name is not read */
	n = zt_test_dns_query(m, "q.test", ZT_DNS_TYPE_A, true);
	memmove(m + n - 11 + 16, m + n - 11, 11);
	memcpy(m + n - 11, (const uint8_t[]){ 0xc0, 5, 0, 1, 0, 1, 0, 0, 0, 60,
					      0, 4, 192, 0, 2, 1 }, 16);
	n += 16;
	zt_wr16(m + 6, 1);
	CU_ASSERT_EQUAL(zt_dns_udp_limit(zt_view_make(m, n)), ZT_DNS_UDP_MAX);
	m[n - 11 - 16 + 1] = 12; /* the pointer to the question: read */
	CU_ASSERT_EQUAL(zt_dns_udp_limit(zt_view_make(m, n)), 1232);
}

int zt_suite_dns_wire(void)
{
	static const struct zt_test_case cases[] = {
		{ "parse_query", test_parse_query },
		{ "answer_bytes", test_answer_bytes },
		{ "error_answers", test_error_answers },
		{ "malformed_names", test_malformed_names },
		{ "name_valid", test_name_valid },
		{ "truncated", test_truncated },
		{ "random", test_random },
		{ "parse_answer", test_parse_answer },
		{ "udp_limit", test_udp_limit },
		{ "truncate", test_truncate },
		{ "question", test_question },
		{ "truncate_keeps_opt", test_truncate_keeps_opt },
		{ "record_names", test_record_names },
		{ 0 },
	};

	return zt_add_suite("dns_wire", NULL, NULL, cases);
}
