/* SPDX-License-Identifier: MIT */
/*
 * test_dns_tcp.c - DNS over TCP framing for UDP queries: queries framed
 * whole, answers matched by ID in any order and split at every byte,
 * answers too large for the asker truncated, unasked ones dropped, the
 * bounds on what waits.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ztun/dns_tcp.h"
#include "ztun/dns_wire.h"

struct got {
	unsigned n, truncated, unmatched;
	uint16_t ids[64];
	size_t lens[64];
};

static void on_answer(void *user, const uint8_t *msg, size_t len,
		      enum zt_dns_tcp_answer how)
{
	struct got *g = user;

	if (how == ZT_DNS_TCP_UNMATCHED) {
		CU_ASSERT_PTR_NULL(msg);
		g->unmatched++;
		return;
	}
	CU_ASSERT_FATAL(g->n < 64);
	if (how == ZT_DNS_TCP_TRUNCATED) {
		g->truncated++;
		CU_ASSERT(zt_rd16(msg + 2) & 0x0200);
	}
	g->ids[g->n] = zt_rd16(msg);
	g->lens[g->n++] = len;
}

/* A response to a query for @name with ID @id and @n A records, framed
 * (length first) into @buf. Return: the framed length. */
static size_t framed_answer(uint8_t *buf, uint16_t id, const char *name,
			    unsigned n)
{
	struct zt_addr addrs[200];
	struct zt_dns_query q;
	uint8_t m[512];
	size_t qlen = zt_test_dns_query(m, name, ZT_DNS_TYPE_A, false);
	int len;

	zt_wr16(m, id);
	for (unsigned i = 0; i < n; i++) {
		uint8_t a[4] = { 192, 0, 2, (uint8_t)i };

		addrs[i] = zt_addr_v4(a);
	}
	CU_ASSERT_FATAL(zt_dns_parse_query(zt_view_make(m, qlen), &q) == 0);
	len = zt_dns_build_answer(&q, ZT_DNS_NOERROR, addrs, n, 60, buf + 2,
				  8192);
	CU_ASSERT_FATAL(len > 0);
	zt_wr16(buf, (uint16_t)len);
	return (size_t)len + 2;
}

static void query(struct zt_dns_tcp *d, uint16_t id, bool edns)
{
	uint8_t m[512];
	size_t n = zt_test_dns_query(m, "a.test", ZT_DNS_TYPE_A, edns);

	zt_wr16(m, id);
	CU_ASSERT_EQUAL(zt_dns_tcp_query(d, m, n), 0);
}

static void test_frames_queries(void)
{
	struct zt_dns_tcp d;
	struct zt_view out;
	uint8_t m[512];
	size_t n = zt_test_dns_query(m, "a.test", ZT_DNS_TYPE_A, false);

	zt_dns_tcp_init(&d);
	CU_ASSERT_FALSE(zt_dns_tcp_waiting(&d));
	CU_ASSERT_EQUAL(zt_dns_tcp_query(&d, m, n), 0);
	/* a retry of a query that waits: TCP does not lose the first */
	CU_ASSERT_EQUAL(zt_dns_tcp_query(&d, m, n), 0);
	out = zt_dns_tcp_output(&d);
	CU_ASSERT_EQUAL(out.len, n + 2);
	CU_ASSERT_EQUAL(zt_rd16(out.data), n);
	CU_ASSERT(memcmp(out.data + 2, m, n) == 0);
	CU_ASSERT(zt_dns_tcp_waiting(&d));
	zt_dns_tcp_sent(&d, 3);
	CU_ASSERT_EQUAL(zt_dns_tcp_output(&d).len, n + 2 - 3);
	zt_dns_tcp_sent(&d, 9999); /* never past what there is */
	CU_ASSERT_EQUAL(zt_dns_tcp_output(&d).len, 0);
	/* not a query: a runt, a response */
	CU_ASSERT_EQUAL(zt_dns_tcp_query(&d, m, 11), -EINVAL);
	m[2] |= 0x80;
	CU_ASSERT_EQUAL(zt_dns_tcp_query(&d, m, n), -EINVAL);
	zt_dns_tcp_destroy(&d);
}

/* Answers in any order, split anywhere, each to its query once. */
static void test_answers_any_order_any_split(void)
{
	uint8_t stream[4096];
	size_t len = 0;

	len += framed_answer(stream + len, 3, "a.test", 1);
	len += framed_answer(stream + len, 1, "a.test", 2);
	len += framed_answer(stream + len, 1, "a.test", 2); /* answered twice */
	len += framed_answer(stream + len, 2, "a.test", 3);
	for (size_t step = 1; step <= len; step++) {
		struct zt_dns_tcp d;
		struct got g;
		uint8_t scratch[512];

		memset(&g, 0, sizeof(g));
		zt_dns_tcp_init(&d);
		query(&d, 1, false);
		query(&d, 2, false);
		query(&d, 3, false);
		zt_dns_tcp_sent(&d, zt_dns_tcp_output(&d).len);
		for (size_t off = 0; off < len; off += step) {
			size_t n = len - off < step ? len - off : step;
			uint8_t *copy = zt_test_dup_exact(stream + off, n);

			CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, copy, n, scratch,
							 sizeof(scratch),
							 on_answer, &g), 0);
			free(copy);
		}
		CU_ASSERT_EQUAL(g.n, 3);
		CU_ASSERT_EQUAL(g.ids[0], 3);
		CU_ASSERT_EQUAL(g.ids[1], 1);
		CU_ASSERT_EQUAL(g.ids[2], 2);
		CU_ASSERT_EQUAL(g.unmatched, 1);
		CU_ASSERT_EQUAL(g.truncated, 0);
		CU_ASSERT_FALSE(zt_dns_tcp_waiting(&d));
		zt_dns_tcp_destroy(&d);
	}
}

/* Larger than the asker's UDP size: header and question, TC set. */
static void test_truncates_to_asker(void)
{
	uint8_t stream[8192], scratch[512];
	struct zt_dns_tcp d;
	struct got g;
	size_t len = 0;

	memset(&g, 0, sizeof(g));
	zt_dns_tcp_init(&d);
	query(&d, 7, false); /* 512 */
	query(&d, 8, true);  /* EDNS 1232 */
	zt_dns_tcp_sent(&d, zt_dns_tcp_output(&d).len);
	len += framed_answer(stream + len, 7, "a.test", 40); /* 664 bytes */
	len += framed_answer(stream + len, 8, "a.test", 40);
	len += framed_answer(stream + len, 8, "a.test", 1);  /* unasked now */
	CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, stream, len, scratch, sizeof(scratch),
					 on_answer, &g), 0);
	CU_ASSERT_EQUAL(g.n, 2);
	CU_ASSERT_EQUAL(g.truncated, 1);
	CU_ASSERT_EQUAL(g.ids[0], 7);
	CU_ASSERT_EQUAL(g.lens[0], ZT_DNS_HDR + 12); /* "a.test" + type, class */
	CU_ASSERT_EQUAL(g.lens[1], 664);
	CU_ASSERT_EQUAL(g.unmatched, 1);
	zt_dns_tcp_destroy(&d);
}

/* The answer to query @m (its header and the question of "a.test"), 24 +
 * 16 * 4093 = 65512 bytes of A records, framed into @stream (2 + 65535
 * bytes). Return: the answer's length. */
static size_t answer_65512(uint8_t *stream, const uint8_t *m)
{
	static const uint8_t rr[16] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60,
					0, 4, 192, 0, 2, 1 };
	size_t len = ZT_DNS_HDR + 12;

	memcpy(stream + 2, m, len);
	zt_wr16(stream + 2 + 2, 0x8180);
	zt_wr16(stream + 2 + 6, 4093);
	zt_wr16(stream + 2 + 10, 0);
	for (unsigned i = 0; i < 4093; i++, len += 16)
		memcpy(stream + 2 + len, rr, 16);
	zt_wr16(stream, (uint16_t)len);
	return len;
}

/* An asker that takes 65535 bytes over UDP (its OPT says so) still takes
 * no more than one UDP datagram carries over IPv4, 65507 bytes: a larger
 * answer from TCP, which could never reach it whole, is cut with TC (so
 * that it asks over TCP) rather than lost on the way. */
static void test_truncates_past_udp_max(void)
{
	static uint8_t stream[2 + 65535];
	uint8_t m[512], scratch[1024];
	size_t qlen = zt_test_dns_query(m, "a.test", ZT_DNS_TYPE_A, true);
	size_t len;
	struct zt_dns_tcp d;
	struct got g;

	memset(&g, 0, sizeof(g));
	zt_wr16(m + qlen - 8, 65535); /* the OPT's UDP size */
	CU_ASSERT_EQUAL(zt_dns_udp_limit(zt_view_make(m, qlen)),
			ZT_DNS_UDP_PAYLOAD_MAX);
	zt_dns_tcp_init(&d);
	CU_ASSERT_EQUAL(zt_dns_tcp_query(&d, m, qlen), 0);
	zt_dns_tcp_sent(&d, zt_dns_tcp_output(&d).len);
	len = answer_65512(stream, m); /* past 65507 */
	CU_ASSERT_EQUAL(len, 65512);
	CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, stream, len + 2, scratch,
					 sizeof(scratch), on_answer, &g), 0);
	CU_ASSERT_EQUAL(g.n, 1);
	CU_ASSERT_EQUAL(g.truncated, 1);
	CU_ASSERT_EQUAL(g.lens[0], ZT_DNS_HDR + 12);
	zt_dns_tcp_destroy(&d);
}

/* An asker over TCP (the fake-IP resolver's TCP client: limit 65535)
 * takes every answer whole, however large, and whatever UDP size its
 * query names; a retry keeps that limit. */
static void test_whole_for_tcp_asker(void)
{
	static uint8_t stream[2 + 65535];
	uint8_t m[512], scratch[512];
	size_t qlen = zt_test_dns_query(m, "a.test", ZT_DNS_TYPE_A, false);
	size_t len;
	struct zt_dns_tcp d;
	struct got g;

	memset(&g, 0, sizeof(g));
	zt_dns_tcp_init(&d);
	zt_wr16(m, 7);
	CU_ASSERT_EQUAL(zt_dns_tcp_query_limit(&d, m, qlen, 65535), 0);
	CU_ASSERT_EQUAL(zt_dns_tcp_query_limit(&d, m, qlen, 65535), 0);
	zt_wr16(m, 8);
	CU_ASSERT_EQUAL(zt_dns_tcp_query_limit(&d, m, qlen, 65535), 0);
	CU_ASSERT_EQUAL(d.n_pending, 2);
	zt_dns_tcp_sent(&d, zt_dns_tcp_output(&d).len);
	len = framed_answer(stream, 7, "a.test", 40); /* 664 bytes */
	CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, stream, len, scratch,
					 sizeof(scratch), on_answer, &g), 0);
	len = answer_65512(stream, m); /* more than any UDP asker takes */
	CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, stream, len + 2, scratch,
					 sizeof(scratch), on_answer, &g), 0);
	CU_ASSERT_EQUAL(g.n, 2);
	CU_ASSERT_EQUAL(g.truncated, 0);
	CU_ASSERT_EQUAL(g.lens[0], 664);
	CU_ASSERT_EQUAL(g.lens[1], 65512);
	CU_ASSERT_FALSE(zt_dns_tcp_waiting(&d));
	zt_dns_tcp_destroy(&d);
}

/* What waits is bounded, sent or not until answered: the query is
 * refused, nothing is cut; a zero length is no DNS; a partial answer is
 * freed with the connection. */
static void test_bounds(void)
{
	static const uint8_t ans100[] = { 0, 12, 0, 100, 0x81, 0x80,
					  0, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t m[3000], scratch[64], zero[2] = { 0, 0 }, part[4] = { 0, 40, 1, 2 };
	struct zt_dns_tcp d;
	struct got g;
	unsigned i;

	memset(&g, 0, sizeof(g));
	memset(m, 0, sizeof(m));
	zt_dns_tcp_init(&d);
	for (i = 0; i < ZT_DNS_TCP_PENDING; i++)
		query(&d, (uint16_t)(100 + i), false);
	zt_wr16(m, 999);
	CU_ASSERT_EQUAL(zt_dns_tcp_query(&d, m, 20), -ENOBUFS);
	zt_wr16(m, 100); /* its ID waits, but not its question */
	CU_ASSERT_EQUAL(zt_dns_tcp_query(&d, m, 20), -ENOBUFS);
	query(&d, 100, false); /* a retry of one that waits still goes */
	zt_dns_tcp_destroy(&d);

	zt_dns_tcp_init(&d);
	CU_ASSERT_EQUAL(zt_dns_tcp_query(&d, m, 3000), 0);
	zt_wr16(m, 101);
	CU_ASSERT_EQUAL(zt_dns_tcp_query(&d, m, 3000), -ENOBUFS);
	CU_ASSERT_EQUAL(zt_dns_tcp_output(&d).len, 3002);
	zt_dns_tcp_sent(&d, 3002); /* sent, but held until answered */
	CU_ASSERT_EQUAL(zt_dns_tcp_query(&d, m, 3000), -ENOBUFS);
	CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, ans100, sizeof(ans100), scratch,
					 sizeof(scratch), on_answer, &g), 0);
	CU_ASSERT_EQUAL(g.n, 1); /* answered: room again */
	CU_ASSERT_EQUAL(zt_dns_tcp_query(&d, m, 3000), 0);
	CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, zero, 2, scratch, sizeof(scratch),
					 on_answer, &g), -EPROTO);
	zt_dns_tcp_destroy(&d);

	zt_dns_tcp_init(&d);
	CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, part, 4, scratch, sizeof(scratch),
					 on_answer, &g), 0);
	CU_ASSERT_EQUAL(g.n + g.unmatched, 1); /* the one above */
	zt_dns_tcp_destroy(&d); /* ASan: the partial answer is freed */
}

/* Answers to @a then @b, framed, into @stream; their length. */
static size_t two_answers(uint8_t *stream, uint16_t a, uint16_t b)
{
	size_t len = framed_answer(stream, a, "a.test", 1);

	return len + framed_answer(stream + len, b, "a.test", 1);
}

/* A new stream after the last one closed with queries waiting: they go
 * again, in order, the answered ones not; an answer to a query not yet
 * sent whole is no answer to it. */
static void test_rewind_resends_waiting(void)
{
	uint8_t stream[4096], scratch[512];
	struct zt_dns_tcp d;
	struct zt_view out;
	struct got g;
	size_t len, one = 0;

	memset(&g, 0, sizeof(g));
	zt_dns_tcp_init(&d);
	query(&d, 1, false);
	query(&d, 2, false);
	query(&d, 3, false);
	out = zt_dns_tcp_output(&d);
	one = out.len / 3;
	zt_dns_tcp_sent(&d, out.len - 1); /* the third not whole */
	len = two_answers(stream, 2, 3);
	CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, stream, len, scratch,
					 sizeof(scratch), on_answer, &g), 0);
	CU_ASSERT_EQUAL(g.n, 1);
	CU_ASSERT_EQUAL(g.ids[0], 2);
	CU_ASSERT_EQUAL(g.unmatched, 1);
	/* half an answer, then the stream is gone */
	CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, stream, 5, scratch,
					 sizeof(scratch), on_answer, &g), 0);
	CU_ASSERT(zt_dns_tcp_rewind(&d));
	out = zt_dns_tcp_output(&d);
	CU_ASSERT_EQUAL_FATAL(out.len, 2 * one);
	CU_ASSERT_EQUAL(zt_rd16(out.data + 2), 1);
	CU_ASSERT_EQUAL(zt_rd16(out.data + one + 2), 3);
	zt_dns_tcp_sent(&d, out.len);
	len = two_answers(stream, 3, 1);
	CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, stream, len, scratch,
					 sizeof(scratch), on_answer, &g), 0);
	CU_ASSERT_EQUAL(g.n, 3);
	CU_ASSERT_EQUAL(g.ids[1], 3);
	CU_ASSERT_EQUAL(g.ids[2], 1);
	CU_ASSERT_FALSE(zt_dns_tcp_waiting(&d));
	CU_ASSERT_FALSE(zt_dns_tcp_rewind(&d));
	CU_ASSERT_EQUAL(zt_dns_tcp_output(&d).len, 0);
	zt_dns_tcp_destroy(&d);
}

/* Queries of one ID: @name as query(), its ID @id, EDNS 1232 with @edns.
 * Return: its length. */
static int query_name(struct zt_dns_tcp *d, uint16_t id, const char *name,
		      bool edns)
{
	uint8_t m[512];
	size_t n = zt_test_dns_query(m, name, ZT_DNS_TYPE_A, edns);

	zt_wr16(m, id);
	return zt_dns_tcp_query(d, m, n);
}

/* A second query under an ID that waits, for another question, is no
 * retry: it is sent, and each answer goes to the query of its ID and
 * question (here told apart by their UDP sizes: a.test takes 512, b.test
 * 1232). A retry is the same ID and question (names compared without
 * case, RFC 4343); an answer without a question goes to the oldest of
 * its ID. */
static void test_same_id_other_question(void)
{
	uint8_t stream[8192], scratch[512];
	struct zt_dns_tcp d;
	struct zt_view out;
	struct got g;
	size_t len = 0, one;

	memset(&g, 0, sizeof(g));
	zt_dns_tcp_init(&d);
	CU_ASSERT_EQUAL(query_name(&d, 5, "a.test", false), 0);
	one = zt_dns_tcp_output(&d).len;
	CU_ASSERT_EQUAL(query_name(&d, 5, "b.test", true), 0);
	CU_ASSERT_EQUAL(query_name(&d, 5, "A.Test", false), 0); /* a retry */
	CU_ASSERT_EQUAL(query_name(&d, 5, "b.test", true), 0);  /* a retry */
	out = zt_dns_tcp_output(&d);
	CU_ASSERT_EQUAL_FATAL(out.len, 2 * one + 11);
	CU_ASSERT_EQUAL(out.data[2 + one + ZT_DNS_HDR + 1], 'b');
	CU_ASSERT_EQUAL(d.n_pending, 2);
	zt_dns_tcp_sent(&d, out.len);
	len += framed_answer(stream + len, 5, "b.test", 40); /* 664 bytes */
	len += framed_answer(stream + len, 5, "a.test", 40);
	len += framed_answer(stream + len, 5, "a.test", 1);  /* answered */
	CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, stream, len, scratch, sizeof(scratch),
					 on_answer, &g), 0);
	CU_ASSERT_EQUAL(g.n, 2);
	CU_ASSERT_EQUAL(g.lens[0], 664);                  /* b.test: whole */
	CU_ASSERT_EQUAL(g.lens[1], ZT_DNS_HDR + 12);      /* a.test: cut */
	CU_ASSERT_EQUAL(g.truncated, 1);
	CU_ASSERT_EQUAL(g.unmatched, 1);
	CU_ASSERT_FALSE(zt_dns_tcp_waiting(&d));

	/* no question in the answer (a FORMERR): the oldest of its ID */
	CU_ASSERT_EQUAL(query_name(&d, 6, "a.test", false), 0);
	CU_ASSERT_EQUAL(query_name(&d, 6, "b.test", false), 0);
	zt_dns_tcp_sent(&d, zt_dns_tcp_output(&d).len);
	{
		static const uint8_t formerr[] = { 0, 12, 0, 6, 0x81, 0x81,
						   0, 0, 0, 0, 0, 0, 0, 0 };

		CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, formerr, sizeof(formerr),
						 scratch, sizeof(scratch),
						 on_answer, &g), 0);
	}
	CU_ASSERT_EQUAL(g.n, 3);
	CU_ASSERT_EQUAL(d.n_pending, 1);
	CU_ASSERT_EQUAL(d.out_len, one); /* b.test waits */
	CU_ASSERT_EQUAL(d.out[2 + ZT_DNS_HDR + 1], 'b');

	/* an answer with a question goes to the query of that question
	 * first, not to an older one of its ID that has none (a
	 * QDCOUNT=0 query, as a DNS cookie's, RFC 7873 5.4), whose UDP
	 * size (512) would have cut it */
	zt_dns_tcp_sent(&d, zt_dns_tcp_output(&d).len);
	g.n = 0;
	g.truncated = 0;
	{
		static const uint8_t bare[] = { 0, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

		CU_ASSERT_EQUAL(zt_dns_tcp_query(&d, bare, sizeof(bare)), 0);
	}
	CU_ASSERT_EQUAL(query_name(&d, 7, "b.test", true), 0);
	zt_dns_tcp_sent(&d, zt_dns_tcp_output(&d).len);
	len = framed_answer(stream, 7, "b.test", 40);
	CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, stream, len, scratch, sizeof(scratch),
					 on_answer, &g), 0);
	CU_ASSERT_EQUAL(g.n, 1);
	CU_ASSERT_EQUAL(g.lens[0], 664); /* whole: b.test's 1232 */
	CU_ASSERT_EQUAL(g.truncated, 0);
	zt_dns_tcp_destroy(&d);
}

struct kept {
	unsigned n;
	enum zt_dns_tcp_answer how;
	uint8_t msg[512];
	size_t len;
};

static void keep_answer(void *user, const uint8_t *msg, size_t len,
			enum zt_dns_tcp_answer how)
{
	struct kept *k = user;

	k->n++;
	k->how = how;
	k->len = 0;
	if (msg && len <= sizeof(k->msg)) {
		memcpy(k->msg, msg, len);
		k->len = len;
	}
}

/* An answer too large for the asker whose question cannot be copied (two
 * questions, a name that does not parse) still reaches it: header with
 * TC and the question it asked (the query's, which a stub checks the
 * answer against), never nothing; header alone (no question) when the
 * query's cannot be read either. */
static void test_truncate_unreadable_question(void)
{
	for (int mode = 0; mode < 3; mode++) {
		uint8_t stream[8192], scratch[512], m[512];
		size_t qn = zt_test_dns_query(m, "a.test", ZT_DNS_TYPE_A, false);
		struct zt_dns_tcp d;
		struct kept k;
		size_t len;

		memset(&k, 0, sizeof(k));
		zt_dns_tcp_init(&d);
		zt_wr16(m, 9);
		if (mode == 2)
			zt_wr16(m + 4, 2); /* the query's questions unread too */
		CU_ASSERT_EQUAL_FATAL(zt_dns_tcp_query(&d, m, qn), 0);
		zt_dns_tcp_sent(&d, zt_dns_tcp_output(&d).len);
		len = framed_answer(stream, 9, "a.test", 40); /* 664 bytes */
		if (mode == 0)
			zt_wr16(stream + 2 + 4, 2);  /* QDCOUNT 2 */
		else
			stream[2 + ZT_DNS_HDR] = 0x50; /* no label length */
		CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, stream, len, scratch,
						 sizeof(scratch), keep_answer,
						 &k), 0);
		CU_ASSERT_EQUAL(k.n, 1);
		CU_ASSERT_EQUAL(k.how, ZT_DNS_TCP_TRUNCATED);
		CU_ASSERT_FALSE(zt_dns_tcp_waiting(&d));
		if (mode < 2) {
			CU_ASSERT_EQUAL_FATAL(k.len, qn);
			CU_ASSERT_EQUAL(zt_rd16(k.msg + 4), 1);
			CU_ASSERT(memcmp(k.msg + ZT_DNS_HDR, m + ZT_DNS_HDR,
					 qn - ZT_DNS_HDR) == 0);
		} else {
			CU_ASSERT_EQUAL_FATAL(k.len, ZT_DNS_HDR);
			CU_ASSERT_EQUAL(zt_rd16(k.msg + 4), 0);
		}
		CU_ASSERT_EQUAL(zt_rd16(k.msg), 9);
		CU_ASSERT_EQUAL(zt_rd16(k.msg + 2), 0x8580 | 0x0200); /* TC */
		CU_ASSERT_EQUAL(zt_rd16(k.msg + 6), 0);
		CU_ASSERT_EQUAL(zt_rd16(k.msg + 8), 0);
		CU_ASSERT_EQUAL(zt_rd16(k.msg + 10), 0);
		zt_dns_tcp_destroy(&d);
	}
}

/* The OPT of an answer cut for the asker goes with it, within the
 * asker's size: a large option (padding) left out, not the OPT. */
static void test_truncate_keeps_opt_within_limit(void)
{
	static uint8_t stream[8192], scratch[8192];
	struct zt_dns_tcp d;
	struct kept k;
	size_t len = framed_answer(stream, 7, "a.test", 40);
	size_t n = len - 2;
	uint8_t *opt = stream + len;

	memset(&k, 0, sizeof(k));
	zt_dns_tcp_init(&d);
	query(&d, 7, false); /* 512 */
	zt_dns_tcp_sent(&d, zt_dns_tcp_output(&d).len);
	memset(opt, 0, 11 + 4 + 600);
	opt[2] = 41;
	zt_wr16(opt + 3, 1232);
	zt_wr16(opt + 9, 4 + 600);
	zt_wr16(opt + 11, 12); /* PADDING (RFC 7830) */
	zt_wr16(opt + 13, 600);
	n += 11 + 4 + 600;
	zt_wr16(stream, (uint16_t)n);
	zt_wr16(stream + 2 + 10, 1);
	CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, stream, n + 2, scratch,
					 sizeof(scratch), keep_answer, &k), 0);
	CU_ASSERT_EQUAL(k.n, 1);
	CU_ASSERT_EQUAL(k.how, ZT_DNS_TCP_TRUNCATED);
	CU_ASSERT_EQUAL_FATAL(k.len, ZT_DNS_HDR + 12 + 11);
	CU_ASSERT_EQUAL(zt_rd16(k.msg + 10), 1);
	CU_ASSERT_EQUAL(zt_rd16(k.msg + ZT_DNS_HDR + 12 + 1), 41);
	CU_ASSERT_EQUAL(zt_rd16(k.msg + ZT_DNS_HDR + 12 + 3), 1232);
	CU_ASSERT_EQUAL(zt_rd16(k.msg + ZT_DNS_HDR + 12 + 9), 0);
	zt_dns_tcp_destroy(&d);
}


/* A framer is embedded in every DNS-over-TCP flow, which a stub's lookup
 * (a fresh socket each) leaves for the flow's idle timeout once
 * answered: idle, it holds under 1 KiB, heap included (room for 4 KiB of
 * queries inline made 8192 such flows hold 36 MiB they did not use);
 * the room is taken while a query waits and let go with the last answer,
 * and a query still goes when it cannot be had (-ENOMEM, counted
 * dropped). */
static void test_idle_holds_little(void)
{
	uint8_t stream[1024], scratch[512];
	struct zt_dns_tcp d;
	struct got g;
	uint64_t h0;
	size_t len;

	CU_ASSERT(sizeof(d) < 1024);
	memset(&g, 0, sizeof(g));
	zt_dns_tcp_init(&d);
	h0 = zt_test_heap_used();
	query(&d, 1, true);
	query(&d, 2, false);
	CU_ASSERT(zt_test_heap_used() >= h0 + ZT_DNS_TCP_OUT_MAX);
	zt_dns_tcp_sent(&d, zt_dns_tcp_output(&d).len);
	len = two_answers(stream, 2, 1);
	CU_ASSERT_EQUAL(zt_dns_tcp_input(&d, stream, len, scratch,
					 sizeof(scratch), on_answer, &g), 0);
	CU_ASSERT_EQUAL(g.n, 2);
	CU_ASSERT_FALSE(zt_dns_tcp_waiting(&d));
	CU_ASSERT_EQUAL(zt_dns_tcp_output(&d).len, 0);
	CU_ASSERT(zt_test_heap_used() < h0 + 1024); /* (small chunks freed may be
					     * counted, cached) */
	CU_ASSERT_FALSE(zt_dns_tcp_rewind(&d));
	CU_ASSERT_EQUAL(zt_dns_tcp_output(&d).len, 0);
	query(&d, 3, false); /* room again */
	CU_ASSERT(zt_dns_tcp_waiting(&d));
	zt_dns_tcp_destroy(&d);
	CU_ASSERT(zt_test_heap_used() < h0 + 1024);
	zt_dns_tcp_init(&d);
	zt_test_fail_malloc(ZT_DNS_TCP_OUT_MAX);
	{
		uint8_t m[512];
		size_t n = zt_test_dns_query(m, "a.test", ZT_DNS_TYPE_A, false);

		CU_ASSERT_EQUAL(zt_dns_tcp_query(&d, m, n), -ENOMEM);
	}
	zt_test_fail_malloc(0);
	CU_ASSERT_FALSE(zt_dns_tcp_waiting(&d));
	CU_ASSERT_EQUAL(zt_dns_tcp_output(&d).len, 0);
	zt_dns_tcp_destroy(&d);
}

int zt_suite_dns_tcp(void)
{
	static const struct zt_test_case cases[] = {
		{ "frames_queries", test_frames_queries },
		{ "answers_any_order_any_split", test_answers_any_order_any_split },
		{ "truncates_to_asker", test_truncates_to_asker },
		{ "truncates_past_udp_max", test_truncates_past_udp_max },
		{ "whole_for_tcp_asker", test_whole_for_tcp_asker },
		{ "bounds", test_bounds },
		{ "rewind_resends_waiting", test_rewind_resends_waiting },
		{ "same_id_other_question", test_same_id_other_question },
		{ "truncate_unreadable_question", test_truncate_unreadable_question },
		{ "truncate_keeps_opt_within_limit", test_truncate_keeps_opt_within_limit },
		{ "idle_holds_little", test_idle_holds_little },
		{ 0 },
	};

	return zt_add_suite("dns_tcp", NULL, NULL, cases);
}
