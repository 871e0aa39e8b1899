/* SPDX-License-Identifier: MIT */
/*
 * test_fakedns.c - the fake-IP resolver: a name keeps its address while
 * used, the least recently used one gives its address up, A and AAAA of
 * one name share an offset, the server's own address is never handed
 * out, every kind of query gets the answer (or silence) it is due, and
 * config values out of range are named. A name a flow holds keeps its
 * address whatever else is asked; with every name held a new one gets
 * SERVFAIL.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ztun/dns_wire.h"
#include "ztun/fakedns.h"

static struct zt_addr addr(const char *text)
{
	struct zt_addr a;

	memset(&a, 0, sizeof(a));
	CU_ASSERT_EQUAL_FATAL(zt_addr_parse(text, &a), 0);
	return a;
}

static struct zt_fakedns *make(uint32_t max_names, const char *pool6)
{
	struct zt_fakedns_config cfg;
	struct zt_rng rng;

	zt_rng_seed(&rng, 7);
	zt_fakedns_config_default(&cfg);
	cfg.enabled = true;
	cfg.server[0] = addr("198.18.0.2");
	cfg.max_names = max_names;
	if (pool6)
		CU_ASSERT_EQUAL_FATAL(zt_cidr_parse(pool6, &cfg.pool6, NULL, 0), 0);
	return zt_fakedns_new(&cfg, &rng);
}

/* A resolver with a real one upstream (192.0.2.53:53), to learn from;
 * its config into *@cfg_out when not NULL. */
static struct zt_fakedns *make_upstream(struct zt_fakedns_config *cfg_out)
{
	struct zt_fakedns_config cfg;
	struct zt_rng rng;

	zt_fakedns_config_default(&cfg);
	cfg.enabled = true;
	cfg.server[0] = addr("198.18.0.2");
	cfg.upstream.addr = addr("192.0.2.53");
	cfg.upstream.port = 53;
	zt_rng_seed(&rng, 5);
	if (cfg_out)
		*cfg_out = cfg;
	return zt_fakedns_new(&cfg, &rng);
}

/* Ask @t for @name (@qtype) under @policy; return the rcode and put the
 * answer's one address (family 0 when none) in @out. */
static int ask_with(struct zt_fakedns *t, const char *name, uint16_t qtype,
		    zt_fakedns_policy_fn policy, struct zt_addr *out)
{
	uint8_t msg[300], ans[ZT_DNS_UDP_MAX];
	size_t len = zt_test_dns_query(msg, name, qtype, false);
	int n;

	memset(out, 0, sizeof(*out));
	n = zt_fakedns_answer(t, msg, len, policy, NULL, ans, sizeof(ans));
	CU_ASSERT_FATAL(n >= ZT_DNS_HDR);
	CU_ASSERT_EQUAL(zt_rd16(ans), 0x1234);
	if (zt_rd16(ans + 6) == 1) {
		const uint8_t *rr = ans + len; /* the question is echoed */
		uint16_t rdlen = zt_rd16(rr + 10);

		CU_ASSERT_EQUAL(zt_rd32(rr + 6), ZT_FAKEDNS_TTL_DEFAULT);
		CU_ASSERT_EQUAL((size_t)n, len + 12 + rdlen);
		*out = rdlen == 4 ? zt_addr_v4(rr + 12) : zt_addr_v6(rr + 12);
	}
	return zt_rd16(ans + 2) & 0xf;
}

static int ask(struct zt_fakedns *t, const char *name, uint16_t qtype,
	       struct zt_addr *out)
{
	return ask_with(t, name, qtype, NULL, out);
}

static void expect_name(struct zt_fakedns *t, const char *a, const char *name)
{
	struct zt_addr x = addr(a);
	char *got = NULL;

	CU_ASSERT_EQUAL(zt_fakedns_lookup(t, &x, &got), 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got, name);
	free(got);
}

static void test_config(void)
{
	struct zt_fakedns_config cfg;
	char err[128];

	/* the prefixes of the CLI's --fake-ip-range */
	CU_ASSERT_EQUAL(zt_cidr_parse("10.9.8.1/24", &cfg.pool4, err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "host bits"));
	CU_ASSERT_EQUAL(zt_cidr_parse("any", &cfg.pool4, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(zt_cidr_parse("10.9.8.0/33", &cfg.pool4, err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_EQUAL(zt_cidr_parse("fd00::/8", &cfg.pool4, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.pool4.len, 8);
	CU_ASSERT_EQUAL(zt_cidr_parse("10.9.8.7", &cfg.pool4, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(cfg.pool4.len, 32);

	zt_fakedns_config_default(&cfg);
	CU_ASSERT_FALSE(cfg.enabled);
	CU_ASSERT_EQUAL(zt_fakedns_config_check(&cfg, err, sizeof(err)), 0);
	cfg.max_names = 0;
	CU_ASSERT_EQUAL(zt_fakedns_config_check(&cfg, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "names"));
	zt_fakedns_config_default(&cfg);
	/* a /24 holds 254 names, not 65536 */
	CU_ASSERT_EQUAL(zt_cidr_parse("10.9.8.0/24", &cfg.pool4, NULL, 0), 0);
	CU_ASSERT_EQUAL(zt_fakedns_config_check(&cfg, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "IPv4 pool"));
	cfg.max_names = 254;
	CU_ASSERT_EQUAL(zt_fakedns_config_check(&cfg, err, sizeof(err)), 0);
	/* a pool of the wrong family */
	CU_ASSERT_EQUAL(zt_cidr_parse("fd00::/64", &cfg.pool4, NULL, 0), 0);
	CU_ASSERT_EQUAL(zt_fakedns_config_check(&cfg, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "IPv4 pool"));
	zt_fakedns_config_default(&cfg);
	CU_ASSERT_EQUAL(zt_cidr_parse("10.0.0.0/8", &cfg.pool6, NULL, 0), 0);
	CU_ASSERT_EQUAL(zt_fakedns_config_check(&cfg, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "IPv6 pool"));
	zt_fakedns_config_default(&cfg);
	memset(&cfg.pool4, 0, sizeof(cfg.pool4));
	CU_ASSERT_EQUAL(zt_fakedns_config_check(&cfg, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "pool"));
	zt_fakedns_config_default(&cfg);
	cfg.enabled = true;
	CU_ASSERT_EQUAL(zt_fakedns_config_check(&cfg, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "server"));
	{
		struct zt_rng rng;

		zt_rng_seed(&rng, 1);
		CU_ASSERT_PTR_NULL(zt_fakedns_new(&cfg, &rng));
	}
	/* the server's addresses may take every name's: nothing left to hand
	 * out (the first name asked for would have found no slot) */
	cfg.server[0] = addr("198.18.0.1");
	cfg.max_names = 1;
	CU_ASSERT_EQUAL(zt_fakedns_config_check(&cfg, err, sizeof(err)), -ENOSPC);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "names"));
	cfg.server[1] = addr("fd00::2");
	CU_ASSERT_EQUAL(zt_cidr_parse("fd00::/64", &cfg.pool6, NULL, 0), 0);
	cfg.max_names = 2;
	CU_ASSERT_EQUAL(zt_fakedns_config_check(&cfg, err, sizeof(err)), -ENOSPC);
	{
		struct zt_rng rng;

		zt_rng_seed(&rng, 1);
		CU_ASSERT_PTR_NULL(zt_fakedns_new(&cfg, &rng));
	}
	cfg.max_names = 3; /* one name's address left */
	CU_ASSERT_EQUAL(zt_fakedns_config_check(&cfg, err, sizeof(err)), 0);
	cfg.max_names = 1; /* the server outside the names' addresses */
	cfg.server[0] = addr("198.18.0.5");
	memset(&cfg.server[1], 0, sizeof(cfg.server[1]));
	CU_ASSERT_EQUAL(zt_fakedns_config_check(&cfg, err, sizeof(err)), 0);
}

static void test_names_keep_addresses(void)
{
	struct zt_fakedns *t = make(1000, NULL);
	struct zt_addr a, b, c, x;
	char *name = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(ask(t, "Example.COM", ZT_DNS_TYPE_A, &a), ZT_DNS_NOERROR);
	CU_ASSERT_EQUAL(ask(t, "other.example", ZT_DNS_TYPE_A, &b), ZT_DNS_NOERROR);
	CU_ASSERT_EQUAL(ask(t, "example.com", ZT_DNS_TYPE_A, &c), ZT_DNS_NOERROR);
	x = addr("198.18.0.1");
	CU_ASSERT(zt_addr_eq(&a, &x));
	x = addr("198.18.0.3"); /* .2 is the server's own */
	CU_ASSERT(zt_addr_eq(&b, &x));
	CU_ASSERT(zt_addr_eq(&a, &c));
	expect_name(t, "198.18.0.1", "example.com");
	expect_name(t, "198.18.0.3", "other.example");
	/* in the pool, but given to no name; outside the pool */
	x = addr("198.19.255.254");
	CU_ASSERT_EQUAL(zt_fakedns_lookup(t, &x, &name), -ENOENT);
	x = addr("198.18.0.2");
	CU_ASSERT_EQUAL(zt_fakedns_lookup(t, &x, &name), -ENOENT);
	x = addr("198.18.0.0");
	CU_ASSERT_EQUAL(zt_fakedns_lookup(t, &x, &name), -ENOENT);
	x = addr("10.0.0.1");
	CU_ASSERT_EQUAL(zt_fakedns_lookup(t, &x, &name), 0);
	CU_ASSERT_PTR_NULL(name);
	x = addr("2001:db8::1");
	CU_ASSERT_EQUAL(zt_fakedns_lookup(t, &x, &name), 0);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->names, 2);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->answered, 3);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->lookups, 2);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->unknown, 3);

	/* no IPv6 pool: AAAA has no data, the client falls back to A */
	CU_ASSERT_EQUAL(ask(t, "example.com", ZT_DNS_TYPE_AAAA, &c), ZT_DNS_NOERROR);
	CU_ASSERT_EQUAL(c.family, 0);
	CU_ASSERT_EQUAL(ask(t, "example.com", 15 /* MX */, &c), ZT_DNS_NOERROR);
	CU_ASSERT_EQUAL(c.family, 0);
	CU_ASSERT_EQUAL(ask(t, "", ZT_DNS_TYPE_A, &c), ZT_DNS_NOERROR);
	CU_ASSERT_EQUAL(c.family, 0);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->nodata, 3);
	CU_ASSERT_EQUAL(ask(t, "bad name", ZT_DNS_TYPE_A, &c), ZT_DNS_REFUSED);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->errors, 1);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->queries, 7);
	zt_fakedns_free(t);
}

static void test_ipv6_pool(void)
{
	struct zt_fakedns *t = make(1000, "fd00:ab::/64");
	struct zt_addr a, b, x;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(ask(t, "v6.example", ZT_DNS_TYPE_AAAA, &a), ZT_DNS_NOERROR);
	CU_ASSERT_EQUAL(ask(t, "v6.example", ZT_DNS_TYPE_A, &b), ZT_DNS_NOERROR);
	x = addr("fd00:ab::1");
	CU_ASSERT(zt_addr_eq(&a, &x));
	x = addr("198.18.0.1");
	CU_ASSERT(zt_addr_eq(&b, &x));
	expect_name(t, "fd00:ab::1", "v6.example");
	x = addr("fd00:ab::1:0:0:1"); /* same low word, higher bits set */
	CU_ASSERT_EQUAL(zt_fakedns_lookup(t, &x, &(char *){ NULL }), -ENOENT);
	zt_fakedns_free(t);
}

/* Four slots, one of them the server's: three names fit; the fourth
 * takes the least recently used one's address, and a connection counts
 * as a use. */
static void test_recycle_lru(void)
{
	struct zt_fakedns *t = make(4, NULL);
	struct zt_addr a, x;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	ask(t, "a.test", ZT_DNS_TYPE_A, &a);   /* .1 */
	ask(t, "b.test", ZT_DNS_TYPE_A, &a);   /* .3 */
	ask(t, "c.test", ZT_DNS_TYPE_A, &a);   /* .4 */
	expect_name(t, "198.18.0.1", "a.test"); /* a used again: b is oldest */
	ask(t, "d.test", ZT_DNS_TYPE_A, &a);
	x = addr("198.18.0.3");
	CU_ASSERT(zt_addr_eq(&a, &x));
	expect_name(t, "198.18.0.3", "d.test");
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->recycled, 1);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->names, 3);
	/* b asks again and gets c's (now the oldest) */
	ask(t, "b.test", ZT_DNS_TYPE_A, &a);
	x = addr("198.18.0.4");
	CU_ASSERT(zt_addr_eq(&a, &x));
	expect_name(t, "198.18.0.1", "a.test");
	zt_fakedns_free(t);
}

/* A peek (what a flow to an address would get, zt_stack_ops.tcp_admit)
 * gives the name as a lookup does, but counts nothing and does not count
 * the name as used: the oldest name stays the one recycled next. */
static void test_peek_changes_nothing(void)
{
	struct zt_fakedns *t = make(4, NULL);
	struct zt_addr a, x = addr("198.18.0.1"), y = addr("198.18.0.9");
	struct zt_fakedns_stats before;
	char *got = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	ask(t, "a.test", ZT_DNS_TYPE_A, &a);   /* .1 */
	ask(t, "b.test", ZT_DNS_TYPE_A, &a);   /* .3 */
	ask(t, "c.test", ZT_DNS_TYPE_A, &a);   /* .4 */
	before = *zt_fakedns_stats(t);
	CU_ASSERT_EQUAL(zt_fakedns_peek(t, &x, &got), 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got, "a.test");
	free(got);
	CU_ASSERT_EQUAL(zt_fakedns_peek(t, &y, &got), -ENOENT);
	CU_ASSERT_PTR_NULL(got);
	x = addr("192.0.2.1");
	CU_ASSERT_EQUAL(zt_fakedns_peek(t, &x, &got), 0);
	CU_ASSERT(memcmp(&before, zt_fakedns_stats(t), sizeof(before)) == 0);
	/* a.test, peeked at, is still the oldest: d.test takes .1 */
	ask(t, "d.test", ZT_DNS_TYPE_A, &a);
	x = addr("198.18.0.1");
	CU_ASSERT(zt_addr_eq(&a, &x));
	zt_fakedns_free(t);
}

static void test_server_and_silence(void)
{
	struct zt_fakedns *t = make(10, NULL);
	struct zt_addr s = addr("198.18.0.2");
	uint8_t msg[ZT_DNS_HDR] = { 0x12, 0x34, 0x80, 0, 0, 1 }, out[64];

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT(zt_fakedns_is_server(t, &s));
	s = addr("198.18.0.1");
	CU_ASSERT_FALSE(zt_fakedns_is_server(t, &s));
	/* a response and a runt: no answer */
	CU_ASSERT_EQUAL(zt_fakedns_answer(t, msg, sizeof(msg), NULL, NULL, out, sizeof(out)),
			-EINVAL);
	CU_ASSERT_EQUAL(zt_fakedns_answer(t, msg, 5, NULL, NULL, out, sizeof(out)), -EINVAL);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->ignored, 2);
	/* a question count of 2: FORMERR */
	msg[2] = 0;
	msg[5] = 2;
	CU_ASSERT_EQUAL(zt_fakedns_answer(t, msg, sizeof(msg), NULL, NULL, out, sizeof(out)),
			ZT_DNS_HDR);
	CU_ASSERT_EQUAL(out[3] & 0xf, ZT_DNS_FORMERR);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->errors, 1);
	CU_ASSERT_EQUAL(zt_fakedns_answer(t, msg, sizeof(msg), NULL, NULL, out, 4), -ENOSPC);
	zt_fakedns_free(t);
}

static enum zt_fakedns_verdict test_policy(void *user, const char *name)
{
	(void)user;
	if (strcmp(name, "ads.test") == 0 || strcmp(name, "x.ads.test") == 0)
		return ZT_FAKEDNS_BLOCK;
	if (strcmp(name, "direct.test") == 0)
		return ZT_FAKEDNS_REFUSE;
	return ZT_FAKEDNS_FAKE;
}

/* The owner's policy: a blocked name does not exist (whatever the type),
 * a refused one is REFUSED, neither takes an address. */
static void test_policy_verdicts(void)
{
	struct zt_fakedns *t = make(10, NULL);
	struct zt_addr a, x = addr("198.18.0.1");

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(ask_with(t, "ads.test", ZT_DNS_TYPE_A, test_policy, &a),
			ZT_DNS_NXDOMAIN);
	CU_ASSERT_EQUAL(a.family, 0);
	CU_ASSERT_EQUAL(ask_with(t, "X.Ads.Test", 15, test_policy, &a),
			ZT_DNS_NXDOMAIN);
	CU_ASSERT_EQUAL(ask_with(t, "direct.test", ZT_DNS_TYPE_A, test_policy, &a),
			ZT_DNS_REFUSED);
	CU_ASSERT_EQUAL(a.family, 0);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->blocked, 2);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->refused, 1);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->names, 0);
	/* the first name faked gets the first address */
	CU_ASSERT_EQUAL(ask_with(t, "ok.test", ZT_DNS_TYPE_A, test_policy, &a),
			ZT_DNS_NOERROR);
	CU_ASSERT(zt_addr_eq(&a, &x));
	zt_fakedns_free(t);
}

static enum zt_fakedns_verdict forward_all(void *user, const char *name)
{
	(void)user;
	(void)name;
	return ZT_FAKEDNS_FORWARD;
}

/* Forwarded names: without an upstream REFUSED; with one, the query is
 * the caller's to send, and the answer's addresses are learned with the
 * name (the oldest forgotten past ZT_FAKEDNS_LEARN_MAX). */
static void test_forward_and_learn(void)
{
	struct zt_fakedns_config cfg;
	struct zt_fakedns *t = make(10, NULL);
	struct zt_dns_query q;
	uint8_t msg[300], ans[512];
	size_t qlen = zt_test_dns_query(msg, "Lan.Test", ZT_DNS_TYPE_A, false);
	struct zt_addr a, first = addr("192.0.2.7");
	char *name = NULL;
	int n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(ask_with(t, "lan.test", ZT_DNS_TYPE_A, forward_all, &a),
			ZT_DNS_REFUSED);
	CU_ASSERT_EQUAL(zt_fakedns_learn(t, msg, qlen), -EINVAL);
	zt_fakedns_free(t);

	t = make_upstream(&cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(zt_fakedns_answer(t, msg, qlen, forward_all, NULL, ans,
					  sizeof(ans)), 0);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->forwarded, 1);
	CU_ASSERT_EQUAL(zt_fakedns_learned(t, &first, &name), 0);
	CU_ASSERT_FATAL(zt_dns_parse_query(zt_view_make(msg, qlen), &q) == 0);
	for (unsigned i = 0; i <= ZT_FAKEDNS_LEARN_MAX; i++) {
		struct zt_addr x = first;

		x.bytes[2] = (uint8_t)(2 + (i >> 8));
		x.bytes[3] = (uint8_t)(7 + i);
		n = zt_dns_build_answer(&q, ZT_DNS_NOERROR, &x, 1, 60, ans, sizeof(ans));
		CU_ASSERT_EQUAL(zt_fakedns_learn(t, ans, (size_t)n), 1);
		if (i == 0) {
			CU_ASSERT_EQUAL_FATAL(zt_fakedns_learned(t, &first, &name), 1);
			CU_ASSERT_STRING_EQUAL(name, "lan.test");
			free(name);
		}
	}
	/* the first one learned was overwritten by the last */
	CU_ASSERT_EQUAL(zt_fakedns_learned(t, &first, &name), 0);
	CU_ASSERT_PTR_NULL(name);
	first.bytes[3] = 8;
	CU_ASSERT_EQUAL(zt_fakedns_learned(t, &first, &name), 1);
	free(name);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->learned, ZT_FAKEDNS_LEARN_MAX + 1);
	/* an upstream given by name, or without a port, is refused */
	cfg.upstream.port = 0;
	CU_ASSERT_EQUAL(zt_fakedns_config_check(&cfg, NULL, 0), -EINVAL);
	zt_fakedns_free(t);
}

/* An address the real resolver gives again is learned anew: it is the
 * last one to be forgotten, not the first, although it was first learned
 * before the others (the table keeps the addresses learned last). */
static void test_learn_refresh(void)
{
	struct zt_fakedns *t;
	struct zt_dns_query q;
	uint8_t msg[300], ans[512];
	size_t qlen = zt_test_dns_query(msg, "lan.test", ZT_DNS_TYPE_A, false);
	struct zt_addr first = addr("192.0.2.7"), second = first, x;
	char *name = NULL;
	int n;

	t = make_upstream(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_FATAL(zt_dns_parse_query(zt_view_make(msg, qlen), &q) == 0);
	/* the table full: first, then LEARN_MAX - 1 others */
	for (unsigned i = 0; i < ZT_FAKEDNS_LEARN_MAX; i++) {
		x = first;
		if (i) {
			x.bytes[0] = 10;
			x.bytes[1] = (uint8_t)(i >> 8);
			x.bytes[2] = (uint8_t)i;
		}
		if (i == 1)
			second = x;
		n = zt_dns_build_answer(&q, ZT_DNS_NOERROR, &x, 1, 60, ans, sizeof(ans));
		CU_ASSERT_EQUAL_FATAL(zt_fakedns_learn(t, ans, (size_t)n), 1);
	}
	/* first again, then one new address: the oldest learned (second)
	 * goes, first stays */
	n = zt_dns_build_answer(&q, ZT_DNS_NOERROR, &first, 1, 60, ans, sizeof(ans));
	CU_ASSERT_EQUAL(zt_fakedns_learn(t, ans, (size_t)n), 1);
	x = addr("203.0.113.9");
	n = zt_dns_build_answer(&q, ZT_DNS_NOERROR, &x, 1, 60, ans, sizeof(ans));
	CU_ASSERT_EQUAL(zt_fakedns_learn(t, ans, (size_t)n), 1);
	CU_ASSERT_EQUAL(zt_fakedns_learned(t, &first, &name), 1);
	free(name);
	CU_ASSERT_EQUAL(zt_fakedns_learned(t, &x, &name), 1);
	free(name);
	CU_ASSERT_EQUAL(zt_fakedns_learned(t, &second, &name), 0);
	CU_ASSERT_PTR_NULL(name);
	zt_fakedns_free(t);
}

/* Reverse lookups of fake addresses (dig -x): the name given out, as a
 * PTR record; an address of a range that stands for no name does not
 * exist; malformed reverse names are not the resolver's business. */
static void test_reverse_lookup(void)
{
	struct zt_fakedns *t = make(10, "fd00:ab::/64");
	uint8_t msg[300], ans[512];
	struct zt_addr a;
	size_t len;
	int n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	ask(t, "Host.Example", ZT_DNS_TYPE_A, &a); /* 198.18.0.1, fd00:ab::1 */
	len = zt_test_dns_query(msg, "1.0.18.198.In-Addr.Arpa", ZT_DNS_TYPE_PTR, false);
	n = zt_fakedns_answer(t, msg, len, NULL, NULL, ans, sizeof(ans));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(ans[3] & 0xf, ZT_DNS_NOERROR);
	CU_ASSERT_EQUAL(zt_rd16(ans + 6), 1);
	{
		static const uint8_t rdata[] = { 4, 'h', 'o', 's', 't', 7, 'e', 'x', 'a',
						 'm', 'p', 'l', 'e', 0 };
		const uint8_t *rr = ans + len;

		CU_ASSERT_EQUAL(zt_rd16(rr), 0xc00c);
		CU_ASSERT_EQUAL(zt_rd16(rr + 2), ZT_DNS_TYPE_PTR);
		CU_ASSERT_EQUAL(zt_rd16(rr + 10), sizeof(rdata));
		CU_ASSERT_EQUAL((size_t)n, len + 12 + sizeof(rdata));
		CU_ASSERT_EQUAL(memcmp(rr + 12, rdata, sizeof(rdata)), 0);
	}
	/* the same over IPv6: 32 nibbles, least significant first */
	len = zt_test_dns_query(msg, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
				"b.a.0.0.0.0.d.f.ip6.arpa", ZT_DNS_TYPE_PTR, false);
	n = zt_fakedns_answer(t, msg, len, NULL, NULL, ans, sizeof(ans));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(zt_rd16(ans + 6), 1);
	CU_ASSERT_EQUAL(zt_rd16(ans + len + 2), ZT_DNS_TYPE_PTR);
	/* in the range, but no name: NXDOMAIN */
	len = zt_test_dns_query(msg, "9.0.18.198.in-addr.arpa", ZT_DNS_TYPE_PTR, false);
	n = zt_fakedns_answer(t, msg, len, NULL, NULL, ans, sizeof(ans));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(ans[3] & 0xf, ZT_DNS_NXDOMAIN);
	/* not a fake address, or not an address at all: no data here */
	len = zt_test_dns_query(msg, "1.0.0.10.in-addr.arpa", ZT_DNS_TYPE_PTR, false);
	n = zt_fakedns_answer(t, msg, len, NULL, NULL, ans, sizeof(ans));
	CU_ASSERT_EQUAL(ans[3] & 0xf, ZT_DNS_NOERROR);
	CU_ASSERT_EQUAL(zt_rd16(ans + 6), 0);
	len = zt_test_dns_query(msg, "256.0.18.198.in-addr.arpa", ZT_DNS_TYPE_PTR, false);
	n = zt_fakedns_answer(t, msg, len, NULL, NULL, ans, sizeof(ans));
	CU_ASSERT_EQUAL(zt_rd16(ans + 6), 0);
	len = zt_test_dns_query(msg, "x.0.18.198.in-addr.arpa", ZT_DNS_TYPE_PTR, false);
	n = zt_fakedns_answer(t, msg, len, NULL, NULL, ans, sizeof(ans));
	CU_ASSERT_EQUAL(zt_rd16(ans + 6), 0);
	/* an IPv6 reverse name of the right length with a nibble that is no
	 * hex digit ('g'): not read as fd00:ab::10, an address of the range
	 * with no name (NXDOMAIN), but left alone */
	len = zt_test_dns_query(msg, "g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
				"b.a.0.0.0.0.d.f.ip6.arpa", ZT_DNS_TYPE_PTR, false);
	n = zt_fakedns_answer(t, msg, len, NULL, NULL, ans, sizeof(ans));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(ans[3] & 0xf, ZT_DNS_NOERROR);
	CU_ASSERT_EQUAL(zt_rd16(ans + 6), 0);
	/* the bare suffix: no address before it */
	len = zt_test_dns_query(msg, "in-addr.arpa", ZT_DNS_TYPE_PTR, false);
	n = zt_fakedns_answer(t, msg, len, NULL, NULL, ans, sizeof(ans));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(zt_rd16(ans + 6), 0);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->answered, 3);
	zt_fakedns_free(t);
}

/* A query of another class than IN (dig CH TXT version.bind, a probe
 * of the server's software) is REFUSED: the resolver only knows names
 * of the Internet class, and gives no fake address for it. */
static void test_class_not_in(void)
{
	struct zt_fakedns *t = make(10, NULL);
	uint8_t msg[300], ans[512];
	size_t len;
	int n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	len = zt_test_dns_query(msg, "version.bind", ZT_DNS_TYPE_A, false);
	zt_wr16(msg + len - 2, 3); /* QCLASS CH */
	n = zt_fakedns_answer(t, msg, len, NULL, NULL, ans, sizeof(ans));
	CU_ASSERT_FATAL(n >= ZT_DNS_HDR);
	CU_ASSERT_EQUAL(ans[3] & 0xf, ZT_DNS_REFUSED);
	CU_ASSERT_EQUAL(zt_rd16(ans + 6), 0);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->answered, 0);
	zt_fakedns_free(t);
}

/* Many names through a small table: the address just answered always
 * leads back to the name just asked, and the table never grows past
 * its bound. */
static void test_churn(void)
{
	struct zt_fakedns *t = make(64, "fd00::/120");
	struct zt_rng rng;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	zt_rng_seed(&rng, zt_test_seed(0xfa6e));
	for (int i = 0; i < 5000; i++) {
		char name[32];
		struct zt_addr a;
		char *got = NULL;

		snprintf(name, sizeof(name), "n%u.test",
			 (unsigned)zt_rng_below(&rng, 200));
		ask(t, name, zt_rng_below(&rng, 2) ? ZT_DNS_TYPE_A
						    : ZT_DNS_TYPE_AAAA, &a);
		CU_ASSERT_EQUAL_FATAL(zt_fakedns_lookup(t, &a, &got), 1);
		CU_ASSERT_STRING_EQUAL(got, name);
		free(got);
		CU_ASSERT(zt_fakedns_stats(t)->names <= 64);
	}
	CU_ASSERT(zt_fakedns_stats(t)->recycled > 0);
	zt_fakedns_free(t);
}

/* Four slots, one the server's: a.test's address held (a flow goes by
 * it, idle: nothing touches the name), names churn past the table's size
 * and take the others' turn by turn, a.test keeps its address (asked
 * again, connected to); held
 * twice, it is let go at the second release only, then recycled as the
 * others are. */
static void test_hold_keeps_address(void)
{
	struct zt_fakedns *t = make(4, NULL);
	struct zt_addr a, x, one = addr("198.18.0.1");
	uint32_t h1, h2;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	ask(t, "a.test", ZT_DNS_TYPE_A, &a);     /* .1 */
	ask(t, "b.test", ZT_DNS_TYPE_A, &a);     /* .3 */
	ask(t, "c.test", ZT_DNS_TYPE_A, &a);     /* .4 */
	expect_name(t, "198.18.0.1", "a.test"); /* the flow's lookup */
	h1 = zt_fakedns_hold(t, &one);
	CU_ASSERT_EQUAL(h1, 1);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->held, 1);
	for (int i = 0; i < 6; i++) {
		char name[32];

		snprintf(name, sizeof(name), "n%d.test", i);
		CU_ASSERT_EQUAL(ask(t, name, ZT_DNS_TYPE_A, &a), ZT_DNS_NOERROR);
		CU_ASSERT_FALSE(zt_addr_eq(&a, &one));
	}
	expect_name(t, "198.18.0.1", "a.test"); /* another flow */
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->recycled, 6);
	CU_ASSERT_EQUAL(ask(t, "a.test", ZT_DNS_TYPE_A, &a), ZT_DNS_NOERROR);
	CU_ASSERT(zt_addr_eq(&a, &one));
	/* a second flow, and the first ends: still held */
	h2 = zt_fakedns_hold(t, &one);
	CU_ASSERT_EQUAL(h2, h1);
	zt_fakedns_release(t, h1);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->held, 1);
	ask(t, "p.test", ZT_DNS_TYPE_A, &a);
	ask(t, "q.test", ZT_DNS_TYPE_A, &a);
	expect_name(t, "198.18.0.1", "a.test");
	/* the last ends: a.test is the most recently used, then ages */
	zt_fakedns_release(t, h2);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->held, 0);
	ask(t, "r.test", ZT_DNS_TYPE_A, &a);
	CU_ASSERT_FALSE(zt_addr_eq(&a, &one));
	ask(t, "s.test", ZT_DNS_TYPE_A, &a);
	CU_ASSERT_FALSE(zt_addr_eq(&a, &one));
	ask(t, "t.test", ZT_DNS_TYPE_A, &a);
	CU_ASSERT(zt_addr_eq(&a, &one));
	expect_name(t, "198.18.0.1", "t.test");
	/* an address that stands for no name holds nothing */
	x = addr("198.18.0.2");
	CU_ASSERT_EQUAL(zt_fakedns_hold(t, &x), 0);
	x = addr("10.0.0.1");
	CU_ASSERT_EQUAL(zt_fakedns_hold(t, &x), 0);
	zt_fakedns_release(t, 0);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->held, 0);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->names, 3);
	zt_fakedns_free(t);
}

/* Every name held: a new one gets SERVFAIL (counted exhausted, and as an
 * error), no held name loses its address, a held name asked again is
 * answered; one released, the new name takes its address. */
static void test_hold_all_exhausted(void)
{
	struct zt_fakedns *t = make(4, "fd00:ab::/64");
	struct zt_addr a, b, c, x;
	uint32_t ha, hb, hc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	ask(t, "a.test", ZT_DNS_TYPE_A, &a);
	ask(t, "b.test", ZT_DNS_TYPE_AAAA, &b); /* fd00:ab::3 */
	ask(t, "c.test", ZT_DNS_TYPE_A, &c);
	ha = zt_fakedns_hold(t, &a);
	hb = zt_fakedns_hold(t, &b);
	hc = zt_fakedns_hold(t, &c);
	CU_ASSERT(ha && hb && hc);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->held, 3);
	CU_ASSERT_EQUAL(ask(t, "d.test", ZT_DNS_TYPE_A, &x), ZT_DNS_SERVFAIL);
	CU_ASSERT_EQUAL(x.family, 0);
	CU_ASSERT_EQUAL(ask(t, "d.test", ZT_DNS_TYPE_AAAA, &x), ZT_DNS_SERVFAIL);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->exhausted, 2);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->errors, 2);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->recycled, 0);
	expect_name(t, "198.18.0.1", "a.test");
	expect_name(t, "fd00:ab::3", "b.test");
	expect_name(t, "198.18.0.4", "c.test");
	/* b's A is at its AAAA's offset, held alike */
	CU_ASSERT_EQUAL(ask(t, "b.test", ZT_DNS_TYPE_A, &x), ZT_DNS_NOERROR);
	expect_name(t, "198.18.0.3", "b.test");
	/* b's flow ends: d takes its address */
	zt_fakedns_release(t, hb);
	CU_ASSERT_EQUAL(ask(t, "d.test", ZT_DNS_TYPE_A, &x), ZT_DNS_NOERROR);
	b = addr("198.18.0.3");
	CU_ASSERT(zt_addr_eq(&x, &b));
	expect_name(t, "198.18.0.3", "d.test");
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->recycled, 1);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->exhausted, 2);
	/* freed with holds left: nothing leaks */
	(void)ha;
	(void)hc;
	zt_fakedns_free(t);
}

/* Against a naive model, with random asks, holds and releases (in turns
 * of holding only and of releasing only, so that every slot gets held):
 * a held name always keeps its address, a name is refused only when
 * every slot is held, and the table never holds more names than it has
 * slots. */
static void test_hold_churn(void)
{
	enum { SLOTS = 16, NAMES = 40, HOLDS = 64 };
	struct zt_fakedns *t = make(SLOTS + 1, NULL); /* one is the server's */
	struct {
		uint32_t token;
		struct zt_addr a;
		char name[32];
	} h[HOLDS];
	unsigned nh = 0;
	struct zt_rng rng;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	zt_rng_seed(&rng, zt_test_seed(0x401d));
	for (int i = 0; i < 4000; i++) {
		bool filling = (i / 500) % 2 == 0;
		unsigned op = zt_rng_below(&rng, 4);

		if (op < 2) {
			char name[32];
			struct zt_addr a;
			bool was_held = false;
			int rc;

			snprintf(name, sizeof(name), "n%u.test",
				 (unsigned)zt_rng_below(&rng, NAMES));
			for (unsigned k = 0; k < nh; k++)
				was_held |= strcmp(h[k].name, name) == 0;
			rc = ask(t, name, ZT_DNS_TYPE_A, &a);
			if (rc == ZT_DNS_SERVFAIL) {
				CU_ASSERT_FALSE(was_held);
				CU_ASSERT_EQUAL(zt_fakedns_stats(t)->held, SLOTS);
				continue;
			}
			CU_ASSERT_EQUAL_FATAL(rc, ZT_DNS_NOERROR);
			if (op == 1 && filling && nh < HOLDS) {
				h[nh].token = zt_fakedns_hold(t, &a);
				CU_ASSERT_FATAL(h[nh].token > 0);
				h[nh].a = a;
				snprintf(h[nh].name, sizeof(h[nh].name), "%s", name);
				nh++;
			}
		} else if (op == 2 && !filling && nh) {
			unsigned k = zt_rng_below(&rng, nh);

			zt_fakedns_release(t, h[k].token);
			h[k] = h[--nh];
		} else if (op == 3 && nh) {
			unsigned k = zt_rng_below(&rng, nh);
			char *got = NULL;

			CU_ASSERT_EQUAL_FATAL(zt_fakedns_lookup(t, &h[k].a, &got), 1);
			CU_ASSERT_STRING_EQUAL(got, h[k].name);
			free(got);
		}
		for (unsigned k = 0; k < nh; k++) {
			struct zt_addr a;

			CU_ASSERT_EQUAL_FATAL(ask(t, h[k].name, ZT_DNS_TYPE_A, &a),
					      ZT_DNS_NOERROR);
			CU_ASSERT_FATAL(zt_addr_eq(&a, &h[k].a));
		}
		CU_ASSERT(zt_fakedns_stats(t)->names <= SLOTS);
		CU_ASSERT(zt_fakedns_stats(t)->held <= SLOTS);
	}
	CU_ASSERT(zt_fakedns_stats(t)->recycled > 0);
	CU_ASSERT(zt_fakedns_stats(t)->exhausted > 0);
	while (nh)
		zt_fakedns_release(t, h[--nh].token);
	CU_ASSERT_EQUAL(zt_fakedns_stats(t)->held, 0);
	zt_fakedns_free(t);
}

int zt_suite_fakedns(void)
{
	static const struct zt_test_case cases[] = {
		{ "config", test_config },
		{ "names_keep_addresses", test_names_keep_addresses },
		{ "ipv6_pool", test_ipv6_pool },
		{ "recycle_lru", test_recycle_lru },
		{ "peek_changes_nothing", test_peek_changes_nothing },
		{ "server_and_silence", test_server_and_silence },
		{ "churn", test_churn },
		{ "hold_keeps_address", test_hold_keeps_address },
		{ "hold_all_exhausted", test_hold_all_exhausted },
		{ "hold_churn", test_hold_churn },
		{ "policy_verdicts", test_policy_verdicts },
		{ "forward_and_learn", test_forward_and_learn },
		{ "learn_refresh", test_learn_refresh },
		{ "reverse_lookup", test_reverse_lookup },
		{ "class_not_in", test_class_not_in },
		{ 0 },
	};

	return zt_add_suite("fakedns", NULL, NULL, cases);
}
