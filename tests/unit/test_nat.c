/* SPDX-License-Identifier: MIT */
/*
 * test_nat.c - the UDP NAT table: configuration limits, capacity and port
 * exhaustion, exact expiry, bounded expiry batches, endpoint-independent
 * mapping (RFC 4787 REQ-1: the sessions of one client endpoint share its
 * mapped port, which is freed with the last of them), and long random runs
 * against a naive model (an array searched linearly) that must agree on
 * every result, on every counter and on the mapped ports, which two client
 * endpoints must never share.
 */
#include <errno.h>
#include <string.h>

#include "test.h"
#include "ztun/nat.h"
#include "ztun/rng.h"

static struct zt_addr A(const char *s)
{
	struct zt_addr a;

	memset(&a, 0, sizeof(a));
	CU_ASSERT_EQUAL_FATAL(zt_addr_parse(s, &a), 0);
	return a;
}

static struct zt_nat_key K(const char *src, uint16_t sport, const char *dst,
			   uint16_t dport)
{
	struct zt_nat_key k;

	memset(&k, 0, sizeof(k));
	k.proto = 17;
	k.src = A(src);
	k.dst = A(dst);
	k.sport = sport;
	k.dport = dport;
	return k;
}

static void cfg_small(struct zt_nat_config *c, uint32_t cap, uint16_t p0,
		      uint16_t p1, uint64_t timeout)
{
	zt_nat_config_default(c);
	c->capacity = cap;
	c->port_start = p0;
	c->port_end = p1;
	c->timeout = timeout;
}

static void test_config(void)
{
	struct zt_nat_config c;
	struct zt_nat t;
	struct zt_rng rng;

	zt_nat_config_default(&c);
	CU_ASSERT_EQUAL(c.capacity, 8192);
	CU_ASSERT_EQUAL(c.port_start, 10000);
	CU_ASSERT_EQUAL(c.port_end, 60000);
	CU_ASSERT_EQUAL(c.timeout, 30ull * 1000000000ull);
	zt_rng_seed(&rng, zt_test_seed(5));
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, &rng), 0);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	CU_ASSERT_EQUAL(zt_nat_next_deadline(&t), UINT64_MAX);
	zt_nat_destroy(&t);

	c.capacity = ZT_NAT_MAX_CAPACITY;
	c.port_start = 1;
	c.port_end = 65535;
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, NULL), 0);
	zt_nat_destroy(&t);
	c.capacity = ZT_NAT_MAX_CAPACITY + 1;
	CU_ASSERT_EQUAL(zt_nat_init(&t, &c, NULL), -EINVAL);
	c.capacity = 0;
	CU_ASSERT_EQUAL(zt_nat_init(&t, &c, NULL), -EINVAL);
	zt_nat_config_default(&c);
	c.port_start = 0;
	CU_ASSERT_EQUAL(zt_nat_init(&t, &c, NULL), -EINVAL);
	zt_nat_config_default(&c);
	c.port_start = 2000;
	c.port_end = 1999;
	CU_ASSERT_EQUAL(zt_nat_init(&t, &c, NULL), -EINVAL);
	zt_nat_config_default(&c);
	c.timeout = 0;
	CU_ASSERT_EQUAL(zt_nat_init(&t, &c, NULL), -EINVAL);
	zt_nat_destroy(&t); /* harmless on a failed init */
}

static void test_basic(void)
{
	struct zt_nat_config c;
	struct zt_nat t;
	struct zt_nat_session *s, *s6, *x;
	struct zt_nat_key k = K("10.0.0.2", 12345, "8.8.8.8", 53);
	struct zt_nat_key k6 = K("fd00::2", 12345, "2001:db8::53", 53);
	struct zt_nat_key bad = K("10.0.0.2", 1, "2001:db8::53", 53);
	struct zt_addr r = A("8.8.8.8"), other = A("8.8.4.4");
	const struct zt_nat_stats *st;

	cfg_small(&c, 16, 20000, 20015, 1000);
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, NULL), 0);
	st = zt_nat_stats(&t);
	CU_ASSERT_PTR_NULL(zt_nat_lookup(&t, &k));
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &k, 100, &s), 0);
	CU_ASSERT(s->mapped_port >= 20000 && s->mapped_port <= 20015);
	CU_ASSERT_EQUAL(s->created, 100);
	CU_ASSERT_EQUAL(s->last_seen, 100);
	CU_ASSERT_PTR_EQUAL(zt_nat_lookup(&t, &k), s);
	CU_ASSERT_EQUAL(zt_nat_insert(&t, &k, 101, &x), -EEXIST);
	CU_ASSERT_EQUAL(zt_nat_insert(&t, &bad, 101, &x), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &k6, 102, &s6), 0);
	CU_ASSERT_NOT_EQUAL(s6->mapped_port, s->mapped_port);
	CU_ASSERT_PTR_EQUAL(zt_nat_reverse_lookup(&t, s->mapped_port, &r, 53), s);
	/* Only the session's own remote may answer. */
	CU_ASSERT_PTR_NULL(zt_nat_reverse_lookup(&t, s->mapped_port, &r, 54));
	CU_ASSERT_PTR_NULL(zt_nat_reverse_lookup(&t, s->mapped_port, &other, 53));
	CU_ASSERT_PTR_NULL(zt_nat_reverse_lookup(&t, 19999, &r, 53));
	r = A("2001:db8::53");
	CU_ASSERT_PTR_EQUAL(zt_nat_reverse_lookup(&t, s6->mapped_port, &r, 53), s6);
	CU_ASSERT_EQUAL(st->active, 2);
	CU_ASSERT_EQUAL(st->created, 2);
	CU_ASSERT_EQUAL(st->insert_failures, 2);
	CU_ASSERT_EQUAL(st->lookups, 2);
	CU_ASSERT_EQUAL(st->hits, 1);
	CU_ASSERT_EQUAL(st->reverse_lookups, 5);
	CU_ASSERT_EQUAL(st->reverse_hits, 2);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	zt_nat_remove(&t, s);
	CU_ASSERT_PTR_NULL(zt_nat_lookup(&t, &k));
	CU_ASSERT_EQUAL(st->removed, 1);
	CU_ASSERT_EQUAL(st->active, 1);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	zt_nat_destroy(&t);
}

static void test_full_table(void)
{
	struct zt_nat_config c;
	struct zt_nat t;
	struct zt_nat_session *s[5];
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(6));
	cfg_small(&c, 4, 1000, 60000, 1000);
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, &rng), 0);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(zt_nat_insert(&t, &(struct zt_nat_key){
			.proto = 17, .sport = (uint16_t)(100 + i), .dport = 53,
			.src = A("10.0.0.2"), .dst = A("1.1.1.1") }, 0, &s[i]), 0);
	CU_ASSERT_EQUAL(zt_nat_insert(&t, &(struct zt_nat_key){
		.proto = 17, .sport = 99, .dport = 53, .src = A("10.0.0.2"),
		.dst = A("1.1.1.1") }, 0, &s[4]), -ENOSPC);
	CU_ASSERT_EQUAL(zt_nat_stats(&t)->insert_no_slot, 1);
	CU_ASSERT_EQUAL(zt_nat_stats(&t)->insert_no_port, 0);
	CU_ASSERT_EQUAL(zt_nat_stats(&t)->insert_failures, 1);
	CU_ASSERT_EQUAL(zt_nat_stats(&t)->active, 4);
	zt_nat_remove(&t, s[2]);
	CU_ASSERT_EQUAL(zt_nat_insert(&t, &(struct zt_nat_key){
		.proto = 17, .sport = 99, .dport = 53, .src = A("10.0.0.2"),
		.dst = A("1.1.1.1") }, 0, &s[4]), 0);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	zt_nat_destroy(&t);
}

static void test_port_exhaustion(void)
{
	struct zt_nat_config c;
	struct zt_nat t;
	struct zt_nat_session *s[4], *x;
	struct zt_rng rng;
	unsigned seen = 0;
	uint16_t freed;

	zt_rng_seed(&rng, zt_test_seed(7));
	cfg_small(&c, 16, 65533, 65535, 1000);
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, &rng), 0);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &(struct zt_nat_key){
			.proto = 17, .sport = (uint16_t)(100 + i), .dport = 53,
			.src = A("10.0.0.2"), .dst = A("1.1.1.1") }, 0, &s[i]), 0);
		seen |= 1u << (s[i]->mapped_port - 65533);
	}
	CU_ASSERT_EQUAL(seen, 7); /* every port once */
	CU_ASSERT_EQUAL(zt_nat_insert(&t, &(struct zt_nat_key){
		.proto = 17, .sport = 7, .dport = 53, .src = A("10.0.0.2"),
		.dst = A("1.1.1.1") }, 0, &x), -ENOSPC);
	CU_ASSERT_EQUAL(zt_nat_stats(&t)->insert_no_port, 1);
	CU_ASSERT_EQUAL(zt_nat_stats(&t)->insert_no_slot, 0);
	CU_ASSERT_EQUAL(zt_nat_stats(&t)->insert_failures, 1);
	freed = s[1]->mapped_port;
	zt_nat_remove(&t, s[1]);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &(struct zt_nat_key){
		.proto = 17, .sport = 7, .dport = 53, .src = A("10.0.0.2"),
		.dst = A("1.1.1.1") }, 0, &x), 0);
	CU_ASSERT_EQUAL(x->mapped_port, freed);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	zt_nat_destroy(&t);

	/* Without a generator, ports rotate from the start of the range. */
	cfg_small(&c, 8, 100, 104, 1000);
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, NULL), 0);
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &(struct zt_nat_key){
			.proto = 17, .sport = (uint16_t)(100 + i), .dport = 53,
			.src = A("10.0.0.2"), .dst = A("1.1.1.1") }, 0, &s[i]), 0);
		CU_ASSERT_EQUAL(s[i]->mapped_port, 100 + i);
	}
	zt_nat_remove(&t, s[0]);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &(struct zt_nat_key){
		.proto = 17, .sport = 1, .dport = 53, .src = A("10.0.0.2"),
		.dst = A("1.1.1.1") }, 0, &x), 0);
	CU_ASSERT_EQUAL(x->mapped_port, 104);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &(struct zt_nat_key){
		.proto = 17, .sport = 2, .dport = 53, .src = A("10.0.0.2"),
		.dst = A("1.1.1.1") }, 0, &x), 0);
	CU_ASSERT_EQUAL(x->mapped_port, 100); /* wrapped */
	zt_nat_destroy(&t);
}

struct expired {
	struct zt_nat_session *s[128];
	int n;
	uint64_t timeout;
	bool late;
};

static void on_expire(void *ctx, struct zt_nat_session *s, uint64_t now)
{
	struct expired *e = ctx;

	if (s->last_seen + e->timeout > now)
		e->late = true; /* expired too early */
	if (e->n < 128)
		e->s[e->n] = s;
	e->n++;
}

static void test_expiry_exact(void)
{
	const uint64_t T = 30ull * 1000000000ull;
	struct zt_nat_config c;
	struct zt_nat t;
	struct zt_nat_session *a, *b;
	struct zt_nat_key ka = K("10.0.0.2", 1, "1.1.1.1", 53);
	struct zt_nat_key kb = K("10.0.0.2", 2, "1.1.1.1", 53);
	struct expired e = { .timeout = T };

	zt_nat_config_default(&c);
	c.capacity = 16;
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &ka, 1000, &a), 0);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &kb, 1000, &b), 0);
	CU_ASSERT_EQUAL(zt_nat_next_deadline(&t), 1000 + T);
	/* Traffic on b, in either direction, keeps it. */
	zt_nat_touch(&t, b, 1000 + T / 2);
	zt_nat_touch(&t, b, 1000); /* time never goes back */
	CU_ASSERT_EQUAL(b->last_seen, 1000 + T / 2);
	CU_ASSERT_EQUAL(zt_nat_expire(&t, 1000 + T - 1, on_expire, &e), 0);
	CU_ASSERT_EQUAL(zt_nat_next_deadline(&t), 1000 + T);
	CU_ASSERT_EQUAL(zt_nat_expire(&t, 1000 + T, on_expire, &e), 1);
	CU_ASSERT_EQUAL(e.n, 1);
	CU_ASSERT_PTR_EQUAL(e.s[0], a);
	CU_ASSERT_PTR_NULL(zt_nat_lookup(&t, &ka));
	CU_ASSERT_PTR_EQUAL(zt_nat_lookup(&t, &kb), b);
	CU_ASSERT_EQUAL(zt_nat_next_deadline(&t), 1000 + T / 2 + T);
	CU_ASSERT_EQUAL(zt_nat_expire(&t, 1000 + T / 2 + T - 1, on_expire, &e), 0);
	CU_ASSERT_EQUAL(zt_nat_expire(&t, 1000 + T / 2 + T, NULL, NULL), 1);
	CU_ASSERT_EQUAL(zt_nat_next_deadline(&t), UINT64_MAX);
	CU_ASSERT_EQUAL(zt_nat_stats(&t)->expired, 2);
	CU_ASSERT_EQUAL(zt_nat_stats(&t)->active, 0);
	CU_ASSERT_FALSE(e.late);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	zt_nat_destroy(&t);
}

static void test_expire_batch(void)
{
	struct zt_nat_config c;
	struct zt_nat t;
	struct zt_nat_session *s;
	struct expired e = { .timeout = 100 };
	size_t got[5];

	cfg_small(&c, 32, 1000, 2000, 100);
	c.expire_batch = 3;
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, NULL), 0);
	for (int i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(zt_nat_insert(&t, &(struct zt_nat_key){
			.proto = 17, .sport = (uint16_t)(100 + i), .dport = 53,
			.src = A("10.0.0.2"), .dst = A("1.1.1.1") }, (uint64_t)i, &s), 0);
	for (int i = 0; i < 5; i++)
		got[i] = zt_nat_expire(&t, 1000, on_expire, &e);
	CU_ASSERT(got[0] == 3 && got[1] == 3 && got[2] == 3 && got[3] == 1 &&
		  got[4] == 0);
	CU_ASSERT_EQUAL(e.n, 10);
	/* Oldest first. */
	for (int i = 1; i < 10; i++)
		CU_ASSERT(e.s[i - 1]->created <= e.s[i]->created);
	zt_nat_destroy(&t);
}

static void test_deterministic_ports(void)
{
	struct zt_nat_config c;
	struct zt_nat t1, t2;
	struct zt_rng r1, r2;
	struct zt_nat_session *a, *b;
	int differ = 0;

	cfg_small(&c, 256, 10000, 60000, 1000);
	zt_rng_seed(&r1, zt_test_seed(8));
	zt_rng_seed(&r2, zt_test_seed(8));
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t1, &c, &r1), 0);
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t2, &c, &r2), 0);
	for (int i = 0; i < 200; i++) {
		struct zt_nat_key k = K("10.0.0.2", (uint16_t)i, "1.1.1.1", 53);

		CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t1, &k, 0, &a), 0);
		CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t2, &k, 0, &b), 0);
		CU_ASSERT_EQUAL(a->mapped_port, b->mapped_port);
		differ += i && a->mapped_port != 10000 + i;
	}
	CU_ASSERT(differ > 150); /* drawn, not sequential */
	zt_nat_destroy(&t1);
	zt_nat_destroy(&t2);
}

/* --- endpoint-independent mapping ------------------------------------- */

/* Two sessions of one client endpoint (@ka1, @ka2) into @t at @now:
 * both on one mapped port, which is returned. */
static uint16_t insert_pair(struct zt_nat *t, const struct zt_nat_key *ka1,
			    const struct zt_nat_key *ka2, uint64_t now,
			    struct zt_nat_session **a1,
			    struct zt_nat_session **a2)
{
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(t, ka1, now, a1), 0);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(t, ka2, now, a2), 0);
	CU_ASSERT_EQUAL((*a2)->mapped_port, (*a1)->mapped_port);
	return (*a1)->mapped_port;
}

static void test_eim_shared_port(void)
{
	struct zt_nat_config c;
	struct zt_nat t;
	struct zt_nat_session *a1, *a2, *b, *u, *v6a, *v6b;
	struct zt_nat_key ka1 = K("10.0.0.2", 5000, "1.1.1.1", 53);
	struct zt_nat_key ka2 = K("10.0.0.2", 5000, "8.8.8.8", 123);
	struct zt_nat_key kb = K("10.0.0.2", 5001, "1.1.1.1", 53);
	struct zt_nat_key ku = ka1;
	struct zt_nat_key k6a = K("fd00::2", 5000, "2001:db8::1", 53);
	struct zt_nat_key k6b = K("fd00::2", 5000, "2001:db8::2", 53);
	const struct zt_nat_stats *st;

	cfg_small(&c, 16, 20000, 20015, 1000);
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, NULL), 0);
	st = zt_nat_stats(&t);
	/* One client socket, two servers: both see the same source port. */
	insert_pair(&t, &ka1, &ka2, 0, &a1, &a2);
	CU_ASSERT_PTR_NOT_EQUAL(a1, a2);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &kb, 0, &b), 0);
	CU_ASSERT_NOT_EQUAL(b->mapped_port, a1->mapped_port);
	/* Another protocol is another endpoint. */
	ku.proto = 6;
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &ku, 0, &u), 0);
	CU_ASSERT_NOT_EQUAL(u->mapped_port, a1->mapped_port);
	CU_ASSERT_NOT_EQUAL(u->mapped_port, b->mapped_port);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &k6a, 0, &v6a), 0);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &k6b, 0, &v6b), 0);
	CU_ASSERT_EQUAL(v6a->mapped_port, v6b->mapped_port);
	CU_ASSERT_NOT_EQUAL(v6a->mapped_port, a1->mapped_port);
	CU_ASSERT_PTR_EQUAL(zt_nat_lookup(&t, &ka1), a1);
	CU_ASSERT_PTR_EQUAL(zt_nat_lookup(&t, &ka2), a2);
	CU_ASSERT_EQUAL(st->active, 6);
	CU_ASSERT_EQUAL(st->created, 6);
	CU_ASSERT_EQUAL(st->mappings, 4);
	CU_ASSERT_EQUAL(st->mappings_created, 4);
	CU_ASSERT_EQUAL(st->insert_failures, 0);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	zt_nat_destroy(&t);
}

static void test_eim_reverse(void)
{
	struct zt_nat_config c;
	struct zt_nat t;
	struct zt_nat_session *a1, *a2, *b;
	struct zt_nat_key ka1 = K("10.0.0.2", 5000, "1.1.1.1", 53);
	struct zt_nat_key ka2 = K("10.0.0.2", 5000, "8.8.8.8", 123);
	struct zt_nat_key kb = K("10.0.0.3", 5000, "9.9.9.9", 53);
	struct zt_addr r1 = A("1.1.1.1"), r2 = A("8.8.8.8"), r3 = A("9.9.9.9");
	struct zt_addr r6 = A("::ffff:1.1.1.1");
	const struct zt_nat_stats *st;
	uint16_t p;

	cfg_small(&c, 16, 20000, 20015, 1000);
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, NULL), 0);
	st = zt_nat_stats(&t);
	p = insert_pair(&t, &ka1, &ka2, 0, &a1, &a2);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &kb, 0, &b), 0);
	/* Each remote finds its own session on the shared port. */
	CU_ASSERT_PTR_EQUAL(zt_nat_reverse_lookup(&t, p, &r1, 53), a1);
	CU_ASSERT_PTR_EQUAL(zt_nat_reverse_lookup(&t, p, &r2, 123), a2);
	/* Filtering stays address- and port-dependent. */
	CU_ASSERT_PTR_NULL(zt_nat_reverse_lookup(&t, p, &r3, 53));
	CU_ASSERT_PTR_NULL(zt_nat_reverse_lookup(&t, p, &r1, 123));
	CU_ASSERT_PTR_NULL(zt_nat_reverse_lookup(&t, p, &r2, 53));
	CU_ASSERT_PTR_NULL(zt_nat_reverse_lookup(&t, p, &r6, 53));
	/* b's remote on b's port only. */
	CU_ASSERT_PTR_EQUAL(zt_nat_reverse_lookup(&t, b->mapped_port, &r3, 53), b);
	CU_ASSERT_PTR_NULL(zt_nat_reverse_lookup(&t, b->mapped_port, &r1, 53));
	CU_ASSERT_EQUAL(st->reverse_lookups, 8);
	CU_ASSERT_EQUAL(st->reverse_hits, 3);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	zt_nat_destroy(&t);
}

static void test_eim_release(void)
{
	struct zt_nat_config c;
	struct zt_nat t;
	struct zt_nat_session *a1, *a2, *a3, *b, *x;
	struct zt_nat_key ka1 = K("10.0.0.2", 5000, "1.1.1.1", 53);
	struct zt_nat_key ka2 = K("10.0.0.2", 5000, "8.8.8.8", 53);
	struct zt_nat_key ka3 = K("10.0.0.2", 5000, "9.9.9.9", 53);
	struct zt_nat_key kb = K("10.0.0.3", 5000, "1.1.1.1", 53);
	struct zt_nat_key kc = K("10.0.0.4", 5000, "1.1.1.1", 53);
	struct zt_addr r1 = A("1.1.1.1"), r2 = A("8.8.8.8");
	const struct zt_nat_stats *st;
	uint16_t p;

	/* Two ports: A's and B's. */
	cfg_small(&c, 16, 30000, 30001, 1000);
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, NULL), 0);
	st = zt_nat_stats(&t);
	p = insert_pair(&t, &ka1, &ka2, 0, &a1, &a2);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &kb, 0, &b), 0);
	CU_ASSERT_NOT_EQUAL(b->mapped_port, p);
	CU_ASSERT_EQUAL(zt_nat_insert(&t, &kc, 0, &x), -ENOSPC);
	CU_ASSERT_EQUAL(st->insert_no_port, 1);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);

	/* One of A's two sessions goes: the port stays A's. */
	zt_nat_remove(&t, a1);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	CU_ASSERT_EQUAL(st->mappings, 2);
	CU_ASSERT_PTR_EQUAL(zt_nat_reverse_lookup(&t, p, &r2, 53), a2);
	CU_ASSERT_PTR_NULL(zt_nat_reverse_lookup(&t, p, &r1, 53));
	CU_ASSERT_EQUAL(zt_nat_insert(&t, &kc, 0, &x), -ENOSPC);
	CU_ASSERT_EQUAL(st->insert_no_port, 2);
	/* A itself needs no fresh port with the range exhausted. */
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &ka3, 0, &a3), 0);
	CU_ASSERT_EQUAL(a3->mapped_port, p);
	CU_ASSERT_EQUAL(st->mappings_created, 2);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	zt_nat_remove(&t, a2);
	CU_ASSERT_EQUAL(zt_nat_insert(&t, &kc, 0, &x), -ENOSPC);
	CU_ASSERT_EQUAL(st->insert_no_port, 3);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);

	/* The last one goes: the port is free for another endpoint. */
	zt_nat_remove(&t, a3);
	CU_ASSERT_EQUAL(st->mappings, 1);
	CU_ASSERT_EQUAL(st->active, 1);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &kc, 0, &x), 0);
	CU_ASSERT_EQUAL(x->mapped_port, p);
	CU_ASSERT_PTR_NULL(zt_nat_reverse_lookup(&t, p, &r2, 53));
	CU_ASSERT_PTR_EQUAL(zt_nat_reverse_lookup(&t, p, &r1, 53), x);
	CU_ASSERT_EQUAL(st->mappings, 2);
	CU_ASSERT_EQUAL(st->mappings_created, 3);
	CU_ASSERT_EQUAL(st->insert_no_port, 3);
	CU_ASSERT_EQUAL(st->removed, 3);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	zt_nat_destroy(&t);
}

static void test_eim_expiry(void)
{
	struct zt_nat_config c;
	struct zt_nat t;
	struct zt_nat_session *a1, *a2, *b;
	struct zt_nat_key ka1 = K("10.0.0.2", 5000, "1.1.1.1", 53);
	struct zt_nat_key ka2 = K("10.0.0.2", 5000, "8.8.8.8", 53);
	struct zt_nat_key kb = K("10.0.0.3", 5000, "1.1.1.1", 53);
	struct zt_addr r2 = A("8.8.8.8");
	struct expired e = { .timeout = 100 };
	const struct zt_nat_stats *st;
	uint16_t p;

	/* One port: B can have it only once A's sessions are all gone. */
	cfg_small(&c, 8, 40000, 40000, 100);
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, NULL), 0);
	st = zt_nat_stats(&t);
	p = insert_pair(&t, &ka1, &ka2, 0, &a1, &a2);
	zt_nat_touch(&t, a2, 50);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	CU_ASSERT_EQUAL(zt_nat_expire(&t, 100, on_expire, &e), 1);
	CU_ASSERT_PTR_EQUAL(e.s[0], a1);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	CU_ASSERT_EQUAL(st->mappings, 1);
	CU_ASSERT_PTR_EQUAL(zt_nat_reverse_lookup(&t, p, &r2, 53), a2);
	CU_ASSERT_EQUAL(zt_nat_insert(&t, &kb, 100, &b), -ENOSPC);
	CU_ASSERT_EQUAL(zt_nat_expire(&t, 150, on_expire, &e), 1);
	CU_ASSERT_PTR_EQUAL(e.s[1], a2);
	CU_ASSERT_EQUAL(st->mappings, 0);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);

	/* Both of a mapping's sessions in one expiry. */
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &ka1, 200, &a1), 0);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &ka2, 210, &a2), 0);
	CU_ASSERT_EQUAL(a2->mapped_port, p);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	CU_ASSERT_EQUAL(zt_nat_expire(&t, 310, on_expire, &e), 2);
	CU_ASSERT_EQUAL(e.n, 4);
	CU_ASSERT_EQUAL(st->mappings, 0);
	CU_ASSERT_EQUAL(st->active, 0);
	CU_ASSERT_EQUAL(st->expired, 4);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &kb, 310, &b), 0);
	CU_ASSERT_EQUAL(b->mapped_port, p);
	CU_ASSERT_EQUAL(st->mappings_created, 3);
	CU_ASSERT_FALSE(e.late);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	zt_nat_destroy(&t);
}

static void test_eim_one_port(void)
{
	struct zt_nat_config c;
	struct zt_nat t;
	struct zt_nat_session *a1, *a2, *x;
	struct zt_nat_key ka1 = K("10.0.0.2", 5000, "1.1.1.1", 53);
	struct zt_nat_key ka2 = K("10.0.0.2", 5000, "8.8.8.8", 53);
	struct zt_nat_key ka3 = K("10.0.0.2", 5000, "9.9.9.9", 53);
	struct zt_nat_key kb = K("10.0.0.2", 5001, "1.1.1.1", 53);
	const struct zt_nat_stats *st;
	struct zt_rng rng;

	zt_rng_seed(&rng, zt_test_seed(9));
	cfg_small(&c, 2, 7, 7, 1000);
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, &rng), 0);
	st = zt_nat_stats(&t);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &ka1, 0, &a1), 0);
	CU_ASSERT_EQUAL(a1->mapped_port, 7);
	CU_ASSERT_EQUAL_FATAL(zt_nat_insert(&t, &ka2, 0, &a2), 0);
	CU_ASSERT_EQUAL(a2->mapped_port, 7);
	/* The table is full now: capacity is checked first. */
	CU_ASSERT_EQUAL(zt_nat_insert(&t, &ka3, 0, &x), -ENOSPC);
	CU_ASSERT_EQUAL(st->insert_no_slot, 1);
	CU_ASSERT_EQUAL(st->insert_no_port, 0);
	zt_nat_remove(&t, a2);
	CU_ASSERT_EQUAL(zt_nat_insert(&t, &kb, 0, &x), -ENOSPC);
	CU_ASSERT_EQUAL(st->insert_no_slot, 1);
	CU_ASSERT_EQUAL(st->insert_no_port, 1);
	CU_ASSERT_EQUAL(st->insert_failures, 2);
	CU_ASSERT_EQUAL(zt_nat_insert(&t, &ka1, 0, &x), -EEXIST);
	CU_ASSERT_EQUAL(st->insert_failures, 3);
	CU_ASSERT_EQUAL(st->mappings, 1);
	CU_ASSERT_EQUAL(st->mappings_created, 1);
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	zt_nat_destroy(&t);
}

/* A few endpoints x a few remotes in a small table and port range, with
 * every step checked: the table's invariants, and the mapping against a
 * list of the live sessions. */
#define CH_EP 6    /* client endpoints */
#define CH_RM 4    /* remotes */
#define CH_CAP 12  /* sessions */
#define CH_PORTS 3 /* mapped ports, fewer than the endpoints */

struct ch_sess {
	struct zt_nat_session *s;
	int ep, rm;
	uint16_t port;
	uint64_t last;
};

struct churn {
	struct ch_sess v[CH_CAP];
	int n;
	struct zt_nat_key keys[CH_EP][CH_RM];
	uint64_t timeout;
	unsigned long shared, no_port, released;
};

/* Session @ep -> @rm (any remote for @rm < 0) in the list, or -1. */
static int ch_find(const struct churn *m, int ep, int rm)
{
	for (int i = 0; i < m->n; i++)
		if (m->v[i].ep == ep && (rm < 0 || m->v[i].rm == rm))
			return i;
	return -1;
}

/* The live endpoint holding @port, or -1. */
static int ch_port_owner(const struct churn *m, uint16_t port)
{
	for (int i = 0; i < m->n; i++)
		if (m->v[i].port == port)
			return m->v[i].ep;
	return -1;
}

static int ch_mappings(const struct churn *m)
{
	int n = 0;

	for (int ep = 0; ep < CH_EP; ep++)
		n += ch_find(m, ep, -1) >= 0;
	return n;
}

static void ch_on_expire(void *ctx, struct zt_nat_session *s, uint64_t now)
{
	struct churn *m = ctx;

	for (int i = 0; i < m->n; i++)
		if (m->v[i].s == s) {
			CU_ASSERT_FATAL(m->v[i].last + m->timeout <= now);
			m->v[i] = m->v[--m->n];
			return;
		}
	CU_FAIL_FATAL("expired a session not in the list");
}

/* Insert session @ep -> @rm and check the outcome against the list. */
static void ch_insert(struct zt_nat *t, struct churn *m, int ep, int rm,
		      uint64_t now)
{
	const struct zt_nat_stats *st = zt_nat_stats(t);
	uint64_t created = st->mappings_created;
	int mine = ch_find(m, ep, -1);
	struct zt_nat_session *s;
	int rc = zt_nat_insert(t, &m->keys[ep][rm], now, &s);

	if (ch_find(m, ep, rm) >= 0) {
		CU_ASSERT_EQUAL_FATAL(rc, -EEXIST);
		return;
	}
	if (m->n == CH_CAP) {
		CU_ASSERT_EQUAL_FATAL(rc, -ENOSPC);
		return;
	}
	if (mine < 0 && ch_mappings(m) == CH_PORTS) {
		CU_ASSERT_EQUAL_FATAL(rc, -ENOSPC);
		m->no_port++;
		return;
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	if (mine >= 0) {
		/* The endpoint's port, no fresh one. */
		CU_ASSERT_EQUAL_FATAL(s->mapped_port, m->v[mine].port);
		CU_ASSERT_EQUAL_FATAL(st->mappings_created, created);
		m->shared++;
	} else {
		CU_ASSERT_EQUAL_FATAL(ch_port_owner(m, s->mapped_port), -1);
		CU_ASSERT_EQUAL_FATAL(st->mappings_created, created + 1);
	}
	m->v[m->n++] = (struct ch_sess){ s, ep, rm, s->mapped_port, now };
}

/* The table agrees with the list: invariants, counts, and every live
 * session found forward, and in reverse from its own remote only. */
static void ch_verify(struct zt_nat *t, const struct churn *m)
{
	const struct zt_nat_stats *st = zt_nat_stats(t);

	CU_ASSERT_EQUAL_FATAL(zt_nat_check(t), 0);
	CU_ASSERT_EQUAL_FATAL(st->active, (uint64_t)m->n);
	CU_ASSERT_EQUAL_FATAL(st->mappings, (uint64_t)ch_mappings(m));
	for (int i = 0; i < m->n; i++) {
		const struct ch_sess *x = &m->v[i];
		int orm = (x->rm + 2) % CH_RM; /* another remote */
		const struct zt_nat_key *k = &m->keys[x->ep][x->rm];
		const struct zt_nat_key *o = &m->keys[x->ep][orm];
		int j = ch_find(m, x->ep, orm);

		CU_ASSERT_PTR_EQUAL_FATAL(zt_nat_lookup(t, k), x->s);
		CU_ASSERT_PTR_EQUAL_FATAL(
			zt_nat_reverse_lookup(t, x->port, &k->dst, k->dport), x->s);
		CU_ASSERT_PTR_EQUAL_FATAL(
			zt_nat_reverse_lookup(t, x->port, &o->dst, o->dport),
			j >= 0 ? m->v[j].s : NULL);
	}
}

static void test_eim_churn(void)
{
	static const char *const src[CH_EP] = { "10.0.0.2", "10.0.0.2",
		"10.0.0.3", "10.0.0.3", "fd00::2", "fd00::2" };
	static const uint16_t sport[CH_EP] = { 4000, 4001, 4000, 4001, 4000, 4001 };
	static const char *const dst4[CH_RM] = { "1.1.1.1", "1.1.1.1",
		"8.8.8.8", "9.9.9.9" };
	static const char *const dst6[CH_RM] = { "2001:db8::1", "2001:db8::1",
		"2001:db8::2", "2001:db8::3" };
	static const uint16_t dport[CH_RM] = { 53, 54, 53, 53 };
	static struct churn m;
	struct zt_nat_config c;
	struct zt_nat t;
	struct zt_rng rng, trng;
	uint64_t now = 0;

	memset(&m, 0, sizeof(m));
	m.timeout = 1000;
	for (int ep = 0; ep < CH_EP; ep++)
		for (int rm = 0; rm < CH_RM; rm++)
			m.keys[ep][rm] = K(src[ep], sport[ep],
					   ep < 4 ? dst4[rm] : dst6[rm], dport[rm]);
	zt_rng_seed(&rng, zt_test_seed(0xc4e));
	zt_rng_seed(&trng, zt_test_seed(0xc4f));
	cfg_small(&c, CH_CAP, 50000, 50000 + CH_PORTS - 1, m.timeout);
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, &trng), 0);
	for (int step = 0; step < 20000; step++) {
		unsigned op = (unsigned)zt_rng_below(&rng, 10);
		int i = m.n ? (int)zt_rng_below(&rng, (uint64_t)m.n) : -1;

		now += zt_rng_below(&rng, 60);
		if (op < 5) {
			int ep = (int)zt_rng_below(&rng, CH_EP);

			ch_insert(&t, &m, ep, (int)zt_rng_below(&rng, CH_RM), now);
		} else if (op < 6 && i >= 0) {
			int ep = m.v[i].ep;

			zt_nat_remove(&t, m.v[i].s);
			m.v[i] = m.v[--m.n];
			m.released += ch_find(&m, ep, -1) < 0;
		} else if (op < 8 && i >= 0) {
			zt_nat_touch(&t, m.v[i].s, now);
			m.v[i].last = now;
		} else if (op < 9) {
			zt_nat_expire(&t, now, ch_on_expire, &m);
			for (i = 0; i < m.n; i++)
				CU_ASSERT_FATAL(m.v[i].last + m.timeout > now);
		}
		ch_verify(&t, &m);
	}
	/* The run went through every path. */
	CU_ASSERT(m.shared > 1000);
	CU_ASSERT(m.no_port > 100);
	CU_ASSERT(m.released > 100);
	CU_ASSERT(zt_nat_stats(&t)->expired > 100);
	zt_nat_destroy(&t);
}

/* --- against a naive model -------------------------------------------- */

#define MCAP 128

struct msess {
	struct zt_nat_key key;
	uint16_t port;
	uint64_t last;
	struct zt_nat_session *s;
};

struct model {
	struct msess v[MCAP];
	int n;
	uint16_t refs[65536]; /* live sessions per port offset */
	uint32_t cap, nports, cursor;
	uint16_t p0;
	uint64_t timeout;
	bool cursor_mode;
	struct zt_rng prng;   /* a copy of the table's generator */
	struct zt_nat_stats st;
};

static bool mkey_eq(const struct zt_nat_key *a, const struct zt_nat_key *b)
{
	return a->proto == b->proto && a->sport == b->sport &&
	       a->dport == b->dport && zt_addr_eq(&a->src, &b->src) &&
	       zt_addr_eq(&a->dst, &b->dst);
}

static int m_find(const struct model *m, const struct zt_nat_key *k)
{
	for (int i = 0; i < m->n; i++)
		if (mkey_eq(&m->v[i].key, k))
			return i;
	return -1;
}

static bool m_port_used(const struct model *m, uint16_t port)
{
	return m->refs[port - m->p0] != 0;
}

/* A live session of @k's client endpoint, or -1. */
static int m_find_ep(const struct model *m, const struct zt_nat_key *k)
{
	for (int i = 0; i < m->n; i++)
		if (m->v[i].key.proto == k->proto && m->v[i].key.sport == k->sport &&
		    zt_addr_eq(&m->v[i].key.src, &k->src))
			return i;
	return -1;
}

/* Session @i goes; its port with it when it was its endpoint's last. */
static void m_drop(struct model *m, int i)
{
	if (--m->refs[m->v[i].port - m->p0] == 0)
		m->st.mappings--;
	m->v[i] = m->v[--m->n];
	m->st.active--;
}

static struct zt_nat_key rand_key(struct zt_rng *rng)
{
	static const char *const src4[] = { "10.0.0.2", "10.0.0.3", "192.168.1.9" };
	static const char *const dst4[] = { "1.1.1.1", "8.8.8.8", "9.9.9.9" };
	static const char *const src6[] = { "fd00::2", "fd00::3" };
	static const char *const dst6[] = { "2001:db8::1", "2001:db8::53" };
	struct zt_nat_key k;

	memset(&k, 0, sizeof(k));
	k.proto = zt_rng_below(rng, 4) ? 17 : 6;
	if (zt_rng_below(rng, 3)) {
		zt_addr_parse(src4[zt_rng_below(rng, 3)], &k.src);
		zt_addr_parse(dst4[zt_rng_below(rng, 3)], &k.dst);
	} else {
		zt_addr_parse(src6[zt_rng_below(rng, 2)], &k.src);
		zt_addr_parse(dst6[zt_rng_below(rng, 2)], &k.dst);
	}
	k.sport = (uint16_t)(40000 + zt_rng_below(rng, 12));
	k.dport = (uint16_t)(53 + zt_rng_below(rng, 3));
	return k;
}

static void check_expire(struct zt_nat *t, struct model *m, uint64_t now,
			 uint32_t batch)
{
	struct expired e = { .timeout = m->timeout };
	int want = 0, calls = 0;

	do {
		size_t r = zt_nat_expire(t, now, on_expire, &e);

		if (batch)
			CU_ASSERT_FATAL(r <= batch);
		calls++;
		CU_ASSERT_FATAL(calls < 10000);
	} while (zt_nat_next_deadline(t) <= now);
	CU_ASSERT_FALSE_FATAL(e.late);
	for (int i = 0; i < m->n;) {
		struct msess *x = &m->v[i];
		bool found = false;

		if (x->last + m->timeout > now) {
			i++;
			continue;
		}
		for (int j = 0; j < e.n && j < 128; j++)
			found |= e.s[j] == x->s;
		CU_ASSERT_FATAL(found);
		want++;
		m_drop(m, i);
	}
	CU_ASSERT_EQUAL_FATAL(e.n, want);
	m->st.expired += (uint64_t)want;
}

struct run {
	uint32_t cap;
	uint16_t p0, p1;
	uint64_t timeout;
	uint32_t batch;
	bool use_rng;
	uint64_t step_div;   /* a step is up to timeout / step_div ns */
	long ops;
	bool want_no_slot, want_no_port;
};

static void run_model(uint64_t seed, const struct run *run)
{
	const uint32_t cap = run->cap, batch = run->batch;
	const uint16_t p0 = run->p0, p1 = run->p1;
	const uint64_t timeout = run->timeout;
	const long ops = run->ops;
	static struct model m;
	struct zt_nat_config c;
	struct zt_nat t;
	struct zt_rng rng, prng;
	uint64_t now = 1000;
	unsigned long inserted = 0, rhits = 0, shared = 0;

	memset(&m, 0, sizeof(m));
	CU_ASSERT_FATAL(cap <= MCAP);
	m.cap = cap;
	m.p0 = p0;
	m.nports = (uint32_t)p1 - p0 + 1;
	m.timeout = timeout;
	m.cursor_mode = !run->use_rng;
	zt_rng_seed(&rng, seed);
	zt_rng_seed(&prng, seed ^ 0x5a5a);
	cfg_small(&c, cap, p0, p1, timeout);
	c.expire_batch = batch;
	CU_ASSERT_EQUAL_FATAL(zt_nat_init(&t, &c, run->use_rng ? &prng : NULL), 0);
	m.prng = prng; /* after init drew its hash key */

	for (long op = 0; op < ops; op++) {
		unsigned r = (unsigned)zt_rng_below(&rng, 1000);
		struct zt_nat_key k;
		struct zt_nat_session *s;
		int i, rc;

		if (zt_rng_below(&rng, 1000) == 0)
			now += zt_rng_below(&rng, 3 * timeout);
		else
			now += zt_rng_below(&rng, timeout / run->step_div + 1);

		if (r < 300) {
			int mine;

			k = rand_key(&rng);
			rc = zt_nat_insert(&t, &k, now, &s);
			mine = m_find_ep(&m, &k);
			if (m_find(&m, &k) >= 0) {
				CU_ASSERT_EQUAL_FATAL(rc, -EEXIST);
				m.st.insert_failures++;
			} else if ((uint32_t)m.n == m.cap) {
				CU_ASSERT_EQUAL_FATAL(rc, -ENOSPC);
				m.st.insert_failures++;
				m.st.insert_no_slot++;
			} else if (mine >= 0) {
				/* The endpoint's port: no fresh one, no draw. */
				CU_ASSERT_EQUAL_FATAL(rc, 0);
				CU_ASSERT_EQUAL_FATAL(s->mapped_port, m.v[mine].port);
			} else if (m.st.mappings == m.nports) {
				if (!m.cursor_mode) /* the search starts with a draw */
					zt_rng_below(&m.prng, m.nports);
				CU_ASSERT_EQUAL_FATAL(rc, -ENOSPC);
				m.st.insert_failures++;
				m.st.insert_no_port++;
			} else {
				uint32_t off;

				CU_ASSERT_EQUAL_FATAL(rc, 0);
				CU_ASSERT_FATAL(s->mapped_port >= p0 && s->mapped_port <= p1);
				CU_ASSERT_FALSE_FATAL(m_port_used(&m, s->mapped_port));
				/* First free port from the cursor or a drawn
				 * starting point on, wrapping around. */
				if (m.cursor_mode)
					off = m.cursor;
				else
					off = (uint32_t)zt_rng_below(&m.prng, m.nports);
				{
					while (m_port_used(&m, (uint16_t)(p0 + off)))
						off = (off + 1) % m.nports;
					CU_ASSERT_EQUAL_FATAL(s->mapped_port, p0 + off);
					m.cursor = (off + 1) % m.nports;
				}
				m.st.mappings++;
				m.st.mappings_created++;
			}
			if (rc == 0) {
				CU_ASSERT_FATAL(mkey_eq(&s->key, &k));
				CU_ASSERT_EQUAL_FATAL(s->created, now);
				CU_ASSERT_EQUAL_FATAL(s->last_seen, now);
				m.v[m.n].key = k;
				m.v[m.n].port = s->mapped_port;
				m.v[m.n].last = now;
				m.v[m.n].s = s;
				m.n++;
				m.refs[s->mapped_port - p0]++;
				m.st.created++;
				m.st.active++;
				inserted++;
				shared += mine >= 0;
			}
		} else if (r < 500) {
			if (m.n && zt_rng_below(&rng, 2))
				k = m.v[zt_rng_below(&rng, (uint64_t)m.n)].key;
			else
				k = rand_key(&rng);
			i = m_find(&m, &k);
			s = zt_nat_lookup(&t, &k);
			CU_ASSERT_PTR_EQUAL_FATAL(s, i >= 0 ? m.v[i].s : NULL);
			m.st.lookups++;
			m.st.hits += i >= 0;
		} else if (r < 650) {
			uint16_t port = (uint16_t)(p0 - 2 + zt_rng_below(&rng, m.nports + 4));
			struct zt_addr remote;
			uint16_t rport;
			const struct msess *want = NULL;

			k = rand_key(&rng);
			remote = k.dst;
			rport = k.dport;
			if (m.n && zt_rng_below(&rng, 10) < 7) {
				const struct msess *x = &m.v[zt_rng_below(&rng, (uint64_t)m.n)];

				port = x->port;
				if (zt_rng_below(&rng, 5)) {
					remote = x->key.dst;
					rport = x->key.dport;
				}
			}
			for (i = 0; i < m.n; i++)
				if (m.v[i].port == port &&
				    zt_addr_eq(&m.v[i].key.dst, &remote) &&
				    m.v[i].key.dport == rport)
					want = &m.v[i];
			s = zt_nat_reverse_lookup(&t, port, &remote, rport);
			CU_ASSERT_PTR_EQUAL_FATAL(s, want ? want->s : NULL);
			m.st.reverse_lookups++;
			m.st.reverse_hits += want != NULL;
			rhits += want != NULL;
		} else if (r < 800) {
			if (m.n) {
				i = (int)zt_rng_below(&rng, (uint64_t)m.n);
				zt_nat_touch(&t, m.v[i].s, now);
				m.v[i].last = now;
			}
		} else if (r < 880) {
			if (m.n) {
				i = (int)zt_rng_below(&rng, (uint64_t)m.n);
				zt_nat_remove(&t, m.v[i].s);
				m_drop(&m, i);
				m.st.removed++;
			}
		} else if (r < 950) {
			check_expire(&t, &m, now, batch);
		} else {
			uint64_t want = UINT64_MAX;

			for (i = 0; i < m.n; i++)
				if (m.v[i].last + timeout < want)
					want = m.v[i].last + timeout;
			CU_ASSERT_EQUAL_FATAL(zt_nat_next_deadline(&t), want);
		}
		CU_ASSERT_FATAL(memcmp(zt_nat_stats(&t), &m.st, sizeof(m.st)) == 0);
		if (op % 1024 == 0)
			CU_ASSERT_EQUAL_FATAL(zt_nat_check(&t), 0);
	}
	CU_ASSERT_EQUAL(zt_nat_check(&t), 0);
	/* The run must have exercised the interesting paths. */
	CU_ASSERT(inserted > (unsigned long)ops / 100);
	CU_ASSERT(m.st.expired > 0);
	CU_ASSERT(m.st.removed > 0);
	CU_ASSERT(m.st.insert_failures > 0);
	CU_ASSERT(rhits > 0);
	if (cap > 1) /* one slot holds one endpoint's one session */
		CU_ASSERT(shared > 0);
	if (run->want_no_slot)
		CU_ASSERT(m.st.insert_no_slot > 100);
	if (run->want_no_port)
		CU_ASSERT(m.st.insert_no_port > 100);
	zt_nat_destroy(&t);
}

static void test_model(void)
{
	uint64_t seed = zt_test_seed(0x4a7);

	static const struct run runs[] = {
		/* Capacity runs out first; drawn ports; unbounded expiry. */
		{ 64, 10000, 10099, 1000, 0, true, 400, 250000, true, false },
		/* The port range runs out first; cursor ports; batches of 3. */
		{ 100, 60000, 60049, 5000, 3, false, 400, 250000, false, true },
		/* The same with drawn ports. */
		{ 64, 30000, 30039, 5000, 0, true, 400, 200000, false, true },
		/* A huge range, few sessions, batches of 1. */
		{ 48, 1, 65535, 700, 1, true, 40, 200000, false, false },
		/* One slot, one port. */
		{ 1, 5, 5, 50, 0, true, 2, 100000, true, false },
	};

	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		run_model(seed + i, &runs[i]);
}

int zt_suite_nat(void)
{
	static const struct zt_test_case cases[] = {
		{ "config", test_config },
		{ "basic", test_basic },
		{ "full_table", test_full_table },
		{ "port_exhaustion", test_port_exhaustion },
		{ "expiry_exact", test_expiry_exact },
		{ "expire_batch", test_expire_batch },
		{ "deterministic_ports", test_deterministic_ports },
		{ "eim_shared_port", test_eim_shared_port },
		{ "eim_reverse", test_eim_reverse },
		{ "eim_release", test_eim_release },
		{ "eim_expiry", test_eim_expiry },
		{ "eim_one_port", test_eim_one_port },
		{ "eim_churn", test_eim_churn },
		{ "vs_model", test_model },
		{ 0 }
	};

	return zt_add_suite("nat", NULL, NULL, cases);
}
