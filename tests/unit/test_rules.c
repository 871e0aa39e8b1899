/* SPDX-License-Identifier: MIT */
/*
 * test_rules.c - route decisions, the rule parser and formatter, the
 * first-match rule table and the longest-prefix matcher.
 *
 * The matcher is run against a linear list of prefixes (longest match by
 * scanning them all) and the rule table against a naive first-match scan
 * with its own condition checks, both under seeded random operations on
 * small address pools so that prefixes nest and matches happen.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "ztun/lpm.h"
#include "ztun/route.h"
#include "ztun/rng.h"

/* --- helpers ---------------------------------------------------------- */

static struct zt_addr A(const char *s)
{
	struct zt_addr a;

	memset(&a, 0, sizeof(a));
	CU_ASSERT_EQUAL_FATAL(zt_addr_parse(s, &a), 0);
	return a;
}

static struct zt_route_query Q(uint8_t proto, const char *src, uint16_t sport,
			       const char *dst, uint16_t dport)
{
	struct zt_route_query q;

	memset(&q, 0, sizeof(q));
	q.proto = proto;
	q.src = A(src);
	q.dst = A(dst);
	q.sport = sport;
	q.dport = dport;
	return q;
}

static unsigned fam_bits(uint8_t family)
{
	return family == ZT_AF_INET ? 32 : 128;
}

/* Naive: does @p/@len contain @a? Bit by bit over whole bytes first. */
static bool pfx_contains(const struct zt_addr *p, unsigned len,
			 const struct zt_addr *a)
{
	if (p->family != a->family)
		return false;
	for (unsigned i = 0; i < len; i++) {
		unsigned byte = i / 8, bit = 7 - i % 8;

		if (((p->bytes[byte] >> bit) & 1) != ((a->bytes[byte] >> bit) & 1))
			return false;
		if (i % 8 == 7 && i + 8 < len &&
		    p->bytes[byte + 1] == a->bytes[byte + 1])
			i += 8; /* skip a whole equal byte */
	}
	return true;
}

static void mask_addr(struct zt_addr *a, unsigned len)
{
	for (unsigned i = len; i < 128; i++)
		a->bytes[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
}

/* --- decisions -------------------------------------------------------- */

static void test_decision_names(void)
{
	static const char *const names[] = { "direct", "socks5", "http",
					     "drop", "local", "nat" };
	enum zt_route_decision d;
	bool rej = true;

	CU_ASSERT_EQUAL(ZT_ROUTE__COUNT, 6);
	for (int i = 0; i < ZT_ROUTE__COUNT; i++) {
		CU_ASSERT_STRING_EQUAL(zt_route_decision_name(i), names[i]);
		CU_ASSERT_EQUAL(zt_route_decision_parse(names[i], &d, &rej), 0);
		CU_ASSERT_EQUAL(d, i);
		CU_ASSERT_FALSE(rej);
	}
	CU_ASSERT_EQUAL(zt_route_decision_parse("reject", &d, &rej), 0);
	CU_ASSERT_EQUAL(d, ZT_ROUTE_DROP);
	CU_ASSERT_TRUE(rej);
	CU_ASSERT_EQUAL(zt_route_decision_parse("Direct", &d, NULL), -EINVAL);
	CU_ASSERT_EQUAL(zt_route_decision_parse("", &d, NULL), -EINVAL);
	CU_ASSERT_STRING_EQUAL(zt_route_decision_name(ZT_ROUTE__COUNT), "?");
}

/* --- parser ----------------------------------------------------------- */

static void test_parse_good(void)
{
	struct zt_rule r;
	char err[128] = "";
	struct zt_addr a;

	CU_ASSERT_EQUAL_FATAL(zt_rule_parse("tcp 93.184.216.34/32 -> socks5",
					    &r, err, sizeof(err)), 0);
	a = A("93.184.216.34");
	CU_ASSERT_EQUAL(r.proto, ZT_RULE_TCP);
	CU_ASSERT_FALSE(r.is_default);
	CU_ASSERT(zt_addr_eq(&r.dst.addr, &a));
	CU_ASSERT_EQUAL(r.dst.len, 32);
	CU_ASSERT_EQUAL(r.src.addr.family, 0);
	CU_ASSERT_EQUAL(r.decision, ZT_ROUTE_SOCKS5);
	CU_ASSERT(r.sport.lo == 0 && r.sport.hi == 65535);
	CU_ASSERT(r.dport.lo == 0 && r.dport.hi == 65535);

	CU_ASSERT_EQUAL_FATAL(zt_rule_parse("udp any:53 -> nat", &r, err,
					    sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.proto, ZT_RULE_UDP);
	CU_ASSERT_EQUAL(r.dst.addr.family, 0);
	CU_ASSERT(r.dport.lo == 53 && r.dport.hi == 53);
	CU_ASSERT_EQUAL(r.decision, ZT_ROUTE_NAT);

	CU_ASSERT_EQUAL_FATAL(zt_rule_parse("any 10.0.0.0/8 -> local", &r, err,
					    sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.proto, ZT_RULE_ANY);
	CU_ASSERT_EQUAL(r.dst.len, 8);
	CU_ASSERT_EQUAL(r.dst.addr.bytes[0], 10);
	CU_ASSERT_EQUAL(r.decision, ZT_ROUTE_LOCAL);

	CU_ASSERT_EQUAL_FATAL(zt_rule_parse(
		"tcp dst 2001:db8::/32 port 80-443 -> http", &r, err,
		sizeof(err)), 0);
	a = A("2001:db8::");
	CU_ASSERT(zt_addr_eq(&r.dst.addr, &a));
	CU_ASSERT_EQUAL(r.dst.len, 32);
	CU_ASSERT(r.dport.lo == 80 && r.dport.hi == 443);
	CU_ASSERT(r.sport.lo == 0 && r.sport.hi == 65535);
	CU_ASSERT_EQUAL(r.decision, ZT_ROUTE_HTTP);

	/* UDP to port 53 alone over HTTP: DNS over TCP */
	CU_ASSERT_EQUAL_FATAL(zt_rule_parse("udp dport 53 -> http", &r, err,
					    sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.proto, ZT_RULE_UDP);
	CU_ASSERT(r.dport.lo == 53 && r.dport.hi == 53);
	CU_ASSERT_EQUAL(r.decision, ZT_ROUTE_HTTP);
	CU_ASSERT_EQUAL(zt_rule_validate(&r), 0);
	r.dport.hi = 54;
	CU_ASSERT_EQUAL(zt_rule_validate(&r), -EINVAL);

	CU_ASSERT_EQUAL_FATAL(zt_rule_parse("icmp any -> drop reject", &r, err,
					    sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.proto, ZT_RULE_ICMP);
	CU_ASSERT_EQUAL(r.decision, ZT_ROUTE_DROP);
	CU_ASSERT_TRUE(r.reject);

	CU_ASSERT_EQUAL_FATAL(zt_rule_parse("tcp any -> reject", &r, err,
					    sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.decision, ZT_ROUTE_DROP);
	CU_ASSERT_TRUE(r.reject);

	CU_ASSERT_EQUAL_FATAL(zt_rule_parse("default -> socks5", &r, err,
					    sizeof(err)), 0);
	CU_ASSERT_TRUE(r.is_default);
	CU_ASSERT_EQUAL(r.decision, ZT_ROUTE_SOCKS5);
	CU_ASSERT_FALSE(r.reject);

	/* "port" after src is the source port; brackets give IPv6 a port. */
	CU_ASSERT_EQUAL_FATAL(zt_rule_parse(
		"  udp\tsrc fd00::/8 port 1000-2000  dst [2001:db8::1]:53 -> direct ",
		&r, err, sizeof(err)), 0);
	a = A("fd00::");
	CU_ASSERT(zt_addr_eq(&r.src.addr, &a));
	CU_ASSERT_EQUAL(r.src.len, 8);
	CU_ASSERT(r.sport.lo == 1000 && r.sport.hi == 2000);
	a = A("2001:db8::1");
	CU_ASSERT(zt_addr_eq(&r.dst.addr, &a));
	CU_ASSERT_EQUAL(r.dst.len, 128);
	CU_ASSERT(r.dport.lo == 53 && r.dport.hi == 53);

	CU_ASSERT_EQUAL_FATAL(zt_rule_parse("tcp src 10.1.2.3 sport 7 dport any -> drop",
					    &r, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.src.len, 32);
	CU_ASSERT(r.sport.lo == 7 && r.sport.hi == 7);
	CU_ASSERT(r.dport.lo == 0 && r.dport.hi == 65535);
	CU_ASSERT_FALSE(r.reject);

	CU_ASSERT_EQUAL_FATAL(zt_rule_parse("any -> drop", &r, err,
					    sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.proto, ZT_RULE_ANY);
	CU_ASSERT_EQUAL(r.dst.addr.family, 0);
	CU_ASSERT_EQUAL_FATAL(zt_rule_parse("udp 0.0.0.0/0 -> nat", &r, err,
					    sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.dst.addr.family, ZT_AF_INET);
	CU_ASSERT_EQUAL(r.dst.len, 0);
}

static void test_parse_bad(void)
{
	/* Each text and the token its error must quote. */
	static const struct {
		const char *text, *token;
	} bad[] = {
		{ "tcpx 1.2.3.4 -> direct", "'tcpx'" },
		{ "tcp 1.2.3.400 -> direct", "'1.2.3.400'" },
		{ "tcp 10.0.0.0/33 -> direct", "'10.0.0.0/33'" },
		{ "tcp 10.0.0.0/ -> direct", "'10.0.0.0/'" },
		{ "tcp 2001:db8::/129 -> direct", "'2001:db8::/129'" },
		{ "tcp 10.0.0.1/8 -> direct", "'10.0.0.1/8'" },
		{ "tcp 10.0.0.0/8 -> proxy", "'proxy'" },
		{ "tcp 10.0.0.0/8 socks5", "'socks5'" },
		{ "tcp any:99999 -> nat", "'any:99999'" },
		{ "tcp any:443-80 -> nat", "'any:443-80'" },
		{ "tcp any:80- -> nat", "'any:80-'" },
		{ "icmp any:53 -> drop", "'any:53'" },
		{ "icmp dport 53 -> drop", "'dport'" },
		{ "tcp src 10.0.0.0/8 dst 2001:db8::/32 -> direct", "'2001:db8::/32'" },
		{ "tcp dst 1.2.3.4 dst 5.6.7.8 -> direct", "'5.6.7.8'" },
		{ "tcp 1.2.3.4 5.6.7.8 -> direct", "'5.6.7.8'" },
		{ "tcp any -> socks5 reject", "'reject'" },
		{ "tcp any -> drop extra", "'extra'" },
		{ "tcp any ->", "'->'" },
		{ "tcp port -> direct", "'port'" },
		{ "tcp port 8o -> direct", "'8o'" },
		{ "tcp dport 80 dport 81 -> http", "'dport'" },
		{ "tcp [10.0.0.1]:80 -> direct", "'[10.0.0.1]:80'" },
		{ "tcp [2001:db8::1 -> direct", "'[2001:db8::1'" },
		{ "tcp [2001:db8::1]: -> direct", "'[2001:db8::1]:'" },
		{ "default socks5", "'socks5'" },
		{ "default", "'default'" },
		{ "tcp src -> direct", "'src'" },
		{ "tcp 1.2.3.4->direct", "'1.2.3.4->direct'" },
		{ "udp any:53", "'any:53'" },
		{ "tcp domain -> http", "'domain'" },
		{ "tcp domain exa_mple..com -> http", "'exa_mple..com'" },
		{ "tcp domain .example.com -> http", "'.example.com'" },
		{ "tcp domain exa/mple.com -> http", "'exa/mple.com'" },
		{ "tcp domain a.test domain b.test -> http", "'domain'" },
		{ "icmp domain a.test -> drop", "'domain'" },
		/* conditions that could never hold: an IPv4-mapped prefix
		 * (no flow has such an address), a name "any" */
		{ "tcp ::ffff:10.0.0.1 -> direct", "'::ffff:10.0.0.1'" },
		{ "tcp [::ffff:10.0.0.0/120]:80 -> direct", "'[::ffff:10.0.0.0/120]:80'" },
		{ "udp src ::ffff:0.0.0.0/96 -> drop", "'::ffff:0.0.0.0/96'" },
		{ "tcp domain any -> http", "'any'" },
		{ "tcp domain ANY -> http", "'ANY'" },
		/* a proxy that cannot carry the protocol */
		{ "udp any:443 -> http", "'http'" },
		{ "udp any -> http", "'http'" },
		{ "udp dport 53-54 -> http", "'http'" },
		{ "udp sport 53 -> http", "'http'" },
		{ "icmp any -> socks5", "'socks5'" },
		{ "icmp 10.0.0.0/8 -> http", "'http'" },
	};
	struct zt_rule r, keep;
	char err[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(err, 0, sizeof(err));
		zt_rule_init(&keep);
		keep.decision = ZT_ROUTE_LOCAL;
		r = keep;
		CU_ASSERT_EQUAL(zt_rule_parse(bad[i].text, &r, err, sizeof(err)),
				-EINVAL);
		if (!strstr(err, bad[i].token)) {
			fprintf(stderr, "\n  '%s': error \"%s\" lacks %s\n",
				bad[i].text, err, bad[i].token);
			CU_FAIL("error does not name the bad token");
		}
		CU_ASSERT(zt_rule_same(&r, &keep)); /* untouched on error */
	}
	CU_ASSERT_EQUAL(zt_rule_parse("", &r, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(zt_rule_parse(" \t ", &r, err, sizeof(err)), -EINVAL);
	{
		/* past the bounds: a name of 254 characters, a rule of 600
		 * bytes, 33 tokens; each error says which bound */
		char text[700], name[256];

		memset(name, 'a', 254);
		for (int i = 63; i < 254; i += 64)
			name[i] = '.';
		name[254] = '\0';
		snprintf(text, sizeof(text), "tcp domain %s -> http", name);
		CU_ASSERT_EQUAL(zt_rule_parse(text, &r, err, sizeof(err)), -EINVAL);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "name longer than 253"));
		name[253] = '\0'; /* 253: the longest name DNS has */
		snprintf(text, sizeof(text), "tcp domain %s -> http", name);
		CU_ASSERT_EQUAL(zt_rule_parse(text, &r, err, sizeof(err)), 0);
		memset(text, ' ', 600);
		memcpy(text, "tcp any -> direct", 17);
		text[600] = '\0';
		CU_ASSERT_EQUAL(zt_rule_parse(text, &r, err, sizeof(err)), -EINVAL);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "rule longer than 511 bytes"));
		strcpy(text, "tcp");
		for (int i = 0; i < 32; i++)
			strcat(text, " x");
		CU_ASSERT_EQUAL(zt_rule_parse(text, &r, err, sizeof(err)), -EINVAL);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "too many tokens at 'x'"));
		/* the 33rd token alone, not the rest of the line after it */
		strcpy(text, "tcp");
		for (int i = 0; i < 31; i++)
			strcat(text, " x");
		strcat(text, " y33 z -> drop");
		CU_ASSERT_EQUAL(zt_rule_parse(text, &r, err, sizeof(err)), -EINVAL);
		CU_ASSERT_STRING_EQUAL(err, "too many tokens at 'y33'");
	}
	/* NULL and tiny error buffers are fine. */
	CU_ASSERT_EQUAL(zt_rule_parse("bogus", &r, NULL, 0), -EINVAL);
	CU_ASSERT_EQUAL(zt_rule_parse("bogus", &r, err, 1), -EINVAL);
	CU_ASSERT_EQUAL(err[0], '\0');
}

static void test_format_examples(void)
{
	static const struct {
		const char *in, *out;
	} ex[] = {
		{ "tcp 93.184.216.34/32 -> socks5", "tcp dst 93.184.216.34/32 -> socks5" },
		{ "udp any:53 -> nat", "udp dport 53 -> nat" },
		{ "any 10.0.0.0/8 -> local", "any dst 10.0.0.0/8 -> local" },
		{ "tcp dst 2001:db8::/32 port 80-443 -> http",
		  "tcp dst 2001:db8::/32 dport 80-443 -> http" },
		{ "icmp any -> drop reject", "icmp any -> drop reject" },
		/* the whole range is no condition (docs/rules.md) */
		{ "any dport 0-65535 -> drop", "any any -> drop" },
		{ "tcp any -> reject", "tcp any -> drop reject" },
		{ "default -> socks5", "default -> socks5" },
		{ "default -> reject", "default -> drop reject" },
		{ "udp src [fd00::]:1-2 -> direct", "udp src fd00::/128 sport 1-2 -> direct" },
		{ "tcp domain Example.COM -> http", "tcp domain example.com -> http" },
		{ "any domain ads.example dport 443 -> drop reject",
		  "any dport 443 domain ads.example -> drop reject" },
	};
	struct zt_rule r, r2;
	char buf[ZT_RULE_STRLEN], small[8];
	int n;

	for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(zt_rule_parse(ex[i].in, &r, NULL, 0), 0);
		n = zt_rule_format(&r, buf, sizeof(buf));
		CU_ASSERT_EQUAL(n, (int)strlen(ex[i].out));
		CU_ASSERT_STRING_EQUAL(buf, ex[i].out);
		CU_ASSERT_EQUAL_FATAL(zt_rule_parse(buf, &r2, NULL, 0), 0);
		CU_ASSERT(zt_rule_same(&r, &r2));
		/* Truncation reports the full length, as snprintf does. */
		CU_ASSERT_EQUAL(zt_rule_format(&r, small, sizeof(small)), n);
		CU_ASSERT_EQUAL(strlen(small), sizeof(small) - 1);
	}
	r.reject = true;
	r.decision = ZT_ROUTE_HTTP;
	CU_ASSERT_EQUAL(zt_rule_format(&r, buf, sizeof(buf)), -EINVAL);
	/* a rule struct the parser would refuse: udp to http */
	zt_rule_init(&r);
	r.proto = ZT_RULE_UDP;
	r.decision = ZT_ROUTE_HTTP;
	CU_ASSERT_EQUAL(zt_rule_validate(&r), -EINVAL);
	r.proto = ZT_RULE_ANY;
	CU_ASSERT_EQUAL(zt_rule_validate(&r), 0);
	/* nor does it make one whose condition never holds: a prefix in
	 * ::ffff:0:0/96, or the name 'any' (its text would not parse back) */
	zt_rule_init(&r);
	r.proto = ZT_RULE_TCP;
	r.decision = ZT_ROUTE_DIRECT;
	CU_ASSERT_EQUAL_FATAL(zt_addr_parse("::ffff:10.0.0.0", &r.dst.addr), 0);
	r.dst.len = 120;
	CU_ASSERT_EQUAL(zt_rule_validate(&r), -EINVAL);
	CU_ASSERT_EQUAL(zt_rule_format(&r, buf, sizeof(buf)), -EINVAL);
	r.src = r.dst;
	r.dst.addr.family = 0;
	r.dst.len = 0;
	CU_ASSERT_EQUAL(zt_rule_validate(&r), -EINVAL);
	r.src.addr.family = 0;
	r.src.len = 0;
	CU_ASSERT_EQUAL(zt_rule_validate(&r), 0);
	strcpy(r.domain, "any");
	CU_ASSERT_EQUAL(zt_rule_validate(&r), -EINVAL);
	CU_ASSERT_EQUAL(zt_rule_format(&r, buf, sizeof(buf)), -EINVAL);
	strcpy(r.domain, "any.example");
	CU_ASSERT_EQUAL(zt_rule_validate(&r), 0);
}

/* --- first match, ports, protocols, IPv6 ------------------------------ */

static struct zt_rules *table_of(struct zt_rules *t, const char *const *lines,
				 size_t n)
{
	char err[128];

	CU_ASSERT_EQUAL_FATAL(zt_rules_init(t, 0), 0);
	for (size_t i = 0; i < n; i++) {
		if (zt_rules_add_text(t, lines[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "\n  rule '%s': %s\n", lines[i], err);
			CU_FAIL_FATAL("rule refused");
		}
	}
	return t;
}

static void test_first_match(void)
{
	static const char *const lines[] = {
		"tcp 10.1.0.0/16 -> drop",
		"tcp 10.0.0.0/8 -> socks5",      /* shorter, later: loses in 10.1/16 */
		"any 10.1.2.0/24 -> local",      /* longer, later: shadowed for tcp */
		"udp any:53 -> direct",
		"udp any -> nat",
		"default -> http",
	};
	struct zt_rules t;
	struct zt_route_query q;
	const struct zt_rule *r;
	bool rej = true;

	table_of(&t, lines, sizeof(lines) / sizeof(lines[0]));
	CU_ASSERT_EQUAL(t.count, 5);
	q = Q(6, "192.168.0.2", 40000, "10.1.2.3", 80);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, &rej), ZT_ROUTE_DROP);
	CU_ASSERT_FALSE(rej);
	r = zt_rules_lookup(&t, &q);
	CU_ASSERT_PTR_EQUAL(r, &t.rules[0]);
	q = Q(6, "192.168.0.2", 40000, "10.2.0.1", 80);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_SOCKS5);
	q = Q(17, "192.168.0.2", 40000, "10.1.2.3", 53);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_LOCAL);
	q = Q(17, "192.168.0.2", 40000, "8.8.8.8", 53);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_DIRECT);
	q = Q(17, "192.168.0.2", 40000, "8.8.8.8", 54);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_NAT);
	q = Q(6, "192.168.0.2", 40000, "8.8.8.8", 443);
	CU_ASSERT_PTR_NULL(zt_rules_lookup(&t, &q));
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, &rej), ZT_ROUTE_HTTP);
	CU_ASSERT_EQUAL(zt_rules_route(&t, &q), ZT_ROUTE_HTTP);
	zt_rules_set_default(&t, ZT_ROUTE_DROP, true);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, &rej), ZT_ROUTE_DROP);
	CU_ASSERT_TRUE(rej);
	zt_rules_destroy(&t);

	/* An empty table decides DIRECT. */
	CU_ASSERT_EQUAL_FATAL(zt_rules_init(&t, 2), 0);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, &rej), ZT_ROUTE_DIRECT);
	CU_ASSERT_FALSE(rej);
	CU_ASSERT_EQUAL(zt_rules_add_text(&t, "tcp any -> nat", NULL, 0), 0);
	CU_ASSERT_EQUAL(zt_rules_add_text(&t, "udp any -> nat", NULL, 0), 0);
	CU_ASSERT_EQUAL(zt_rules_add_text(&t, "icmp any -> nat", NULL, 0), -ENOSPC);
	CU_ASSERT_EQUAL(zt_rules_add_text(&t, "default -> local", NULL, 0), 0);
	CU_ASSERT_EQUAL(t.count, 2);
	zt_rules_destroy(&t);
}

static void test_ports_protocols(void)
{
	static const char *const lines[] = {
		"tcp dport 80-443 -> http",
		"any src 172.16.0.0/12 sport 5000 -> drop reject",
		"icmp any -> local",
		"any dport 7 -> direct",
		"udp any -> nat",
		"default -> socks5",
	};
	struct zt_rules t;
	struct zt_route_query q;
	bool rej;

	table_of(&t, lines, sizeof(lines) / sizeof(lines[0]));
	q = Q(6, "10.0.0.1", 1, "1.1.1.1", 80);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_HTTP);
	q.dport = 443;
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_HTTP);
	q.dport = 79;
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_SOCKS5); /* default */
	q.dport = 444;
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_SOCKS5);
	q = Q(17, "10.0.0.1", 1, "1.1.1.1", 80);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_NAT);
	q = Q(17, "172.20.0.1", 5000, "1.1.1.1", 80);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, &rej), ZT_ROUTE_DROP);
	CU_ASSERT_TRUE(rej);
	q.sport = 5001;
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, &rej), ZT_ROUTE_NAT);
	CU_ASSERT_FALSE(rej);
	/* ICMP: port rules never match it, ICMPv4 and ICMPv6 both "icmp". */
	q = Q(1, "172.20.0.1", 5000, "1.1.1.1", 7);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_LOCAL);
	q = Q(58, "fd00::1", 5000, "2001:db8::1", 7);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_LOCAL);
	/* Another protocol (SCTP) only meets "any" rules without ports. */
	q = Q(132, "10.0.0.1", 1, "1.1.1.1", 7);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_SOCKS5);
	q = Q(6, "10.0.0.1", 1, "1.1.1.1", 7);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_DIRECT);
	zt_rules_destroy(&t);
}

static void test_ipv6(void)
{
	static const char *const lines[] = {
		"any 2001:db8:1::/48 -> drop",
		"any 2001:db8::/32 -> socks5",
		"any 2001:db8:1:2::7f/128 -> local", /* shadowed by the /48 */
		"tcp [2001:db8::]:22 -> direct",
		"any 0.0.0.0/0 -> nat",
		"any 2001:db9::/31 -> http",  /* 2001:db8::/31 is not this: host bits */
		"any ::/0 -> local",
	};
	struct zt_rules t;
	struct zt_route_query q;
	struct zt_rule r;
	char err[128];

	/* 2001:db9::/31 has a host bit set. */
	CU_ASSERT_EQUAL(zt_rule_parse(lines[5], &r, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "'2001:db9::/31'"));
	CU_ASSERT_EQUAL_FATAL(zt_rules_init(&t, 0), 0);
	for (int i = 0; i < 7; i++)
		if (i != 5)
			CU_ASSERT_EQUAL(zt_rules_add_text(&t, lines[i], NULL, 0), 0);
	q = Q(6, "fd00::1", 1, "2001:db8:1:2::7f", 22);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_DROP);
	q = Q(6, "fd00::1", 1, "2001:db8:2::1", 22);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_SOCKS5);
	q = Q(6, "fd00::1", 1, "2001:db9::1", 22);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_LOCAL);
	q = Q(6, "fd00::1", 1, "::", 22);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_LOCAL);
	/* An IPv6 prefix never matches IPv4, and the reverse. */
	q = Q(6, "10.0.0.1", 1, "32.1.13.184", 22); /* 2001:0db8 as IPv4 bytes */
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_NAT);
	/* Odd prefix lengths. */
	CU_ASSERT_EQUAL(zt_rules_add_text(&t, "udp 2001:db9:8000::/33 -> socks5", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(zt_rules_add_text(&t, "udp 0.0.0.0/0 -> drop", err, sizeof(err)), 0);
	zt_rules_destroy(&t);

	CU_ASSERT_EQUAL_FATAL(zt_rules_init(&t, 0), 0);
	CU_ASSERT_EQUAL(zt_rules_add_text(&t, "udp 2001:db9:8000::/33 -> socks5", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(zt_rules_add_text(&t, "udp 10.128.0.0/9 -> drop", err, sizeof(err)), 0);
	q = Q(17, "fd00::1", 1, "2001:db9:ffff::1", 22);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_SOCKS5);
	q = Q(17, "fd00::1", 1, "2001:db9:7fff::1", 22);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_DIRECT);
	q = Q(17, "10.0.0.1", 1, "10.200.0.1", 22);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_DROP);
	q = Q(17, "10.0.0.1", 1, "10.127.0.1", 22);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_DIRECT);
	zt_rules_destroy(&t);
}

/* --- the LPM against a list ------------------------------------------- */

#define POOL 12
#define LPM_MAX 160

struct pools {
	struct zt_addr v4[POOL], v6[POOL];
};

static void pools_init(struct pools *p, struct zt_rng *rng)
{
	for (int i = 0; i < POOL; i++) {
		memset(&p->v4[i], 0, sizeof(p->v4[i]));
		memset(&p->v6[i], 0, sizeof(p->v6[i]));
		p->v4[i].family = ZT_AF_INET;
		p->v6[i].family = ZT_AF_INET6;
		for (int b = 0; b < 16; b++) {
			if (b < 4)
				p->v4[i].bytes[b] = (uint8_t)zt_rng_next(rng);
			p->v6[i].bytes[b] = (uint8_t)zt_rng_next(rng);
		}
		/* Share leading bits between pool entries. */
		if (i && zt_rng_below(rng, 2)) {
			unsigned keep = (unsigned)zt_rng_below(rng, 24);

			for (unsigned k = 0; k < keep; k++) {
				unsigned byte = k / 8, bit = 0x80 >> (k % 8);

				p->v4[i].bytes[byte] = (uint8_t)((p->v4[i].bytes[byte] & ~bit) |
								 (p->v4[0].bytes[byte] & bit));
				p->v6[i].bytes[byte] = (uint8_t)((p->v6[i].bytes[byte] & ~bit) |
								 (p->v6[0].bytes[byte] & bit));
			}
		}
	}
}

/* An address sharing a random number of leading bits with a pool entry. */
static struct zt_addr pool_addr(const struct pools *p, struct zt_rng *rng,
				uint8_t family)
{
	struct zt_addr a = family == ZT_AF_INET ?
				   p->v4[zt_rng_below(rng, POOL)] :
				   p->v6[zt_rng_below(rng, POOL)];
	unsigned bits = fam_bits(family);
	unsigned from = bits - (unsigned)zt_rng_below(rng, 9);

	if (zt_rng_below(rng, 4) == 0)
		from = (unsigned)zt_rng_below(rng, bits + 1);
	for (unsigned i = from; i < bits; i++)
		if (zt_rng_below(rng, 2))
			a.bytes[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
	return a;
}

struct lpm_ent {
	struct zt_addr a;
	unsigned len;
	uint32_t v;
};

static int model_find(const struct lpm_ent *m, int n, const struct zt_addr *a,
		      unsigned len)
{
	for (int i = 0; i < n; i++)
		if (m[i].len == len && m[i].a.family == a->family &&
		    memcmp(m[i].a.bytes, a->bytes, 16) == 0)
			return i;
	return -1;
}

static void test_lpm_vs_model(void)
{
	struct zt_rng rng;
	struct pools pools;
	struct zt_lpm lpm;
	static struct lpm_ent m[LPM_MAX];
	int n = 0;
	unsigned long lookups_hit = 0, deep_hits = 0;

	zt_rng_seed(&rng, zt_test_seed(0x1b3));
	pools_init(&pools, &rng);
	CU_ASSERT_EQUAL_FATAL(zt_lpm_init(&lpm, LPM_MAX), 0);
	CU_ASSERT_EQUAL(zt_lpm_init(&(struct zt_lpm){ 0 }, 0), -EINVAL);

	for (long op = 0; op < 1000000; op++) {
		uint8_t fam = zt_rng_below(&rng, 2) ? ZT_AF_INET : ZT_AF_INET6;
		struct zt_addr a = pool_addr(&pools, &rng, fam);
		unsigned len = (unsigned)zt_rng_below(&rng, fam_bits(fam) + 1);
		/* Phases: grow towards the cap, then shrink. */
		bool grow = (op / 50000) % 2 == 0;
		unsigned r = (unsigned)zt_rng_below(&rng, 100);
		uint32_t v, got_v;
		unsigned got_len;
		int i, rc;

		if (zt_rng_below(&rng, 3) == 0) /* favour short prefixes too */
			len = (unsigned)zt_rng_below(&rng, 17);
		mask_addr(&a, len);
		if (r < (grow ? 35u : 15u)) {
			/* insert (host bits of the stored prefix are ignored) */
			struct zt_addr dirty = a;

			v = zt_rng_u32(&rng);
			if (zt_rng_below(&rng, 2))
				for (unsigned k = len; k < fam_bits(fam); k++)
					if (zt_rng_below(&rng, 2))
						dirty.bytes[k / 8] |= (uint8_t)(0x80 >> (k % 8));
			rc = zt_lpm_insert(&lpm, &dirty, len, v);
			i = model_find(m, n, &a, len);
			if (i >= 0) {
				CU_ASSERT_EQUAL_FATAL(rc, 0);
				m[i].v = v;
			} else if (n == LPM_MAX) {
				CU_ASSERT_EQUAL_FATAL(rc, -ENOSPC);
			} else {
				CU_ASSERT_EQUAL_FATAL(rc, 0);
				m[n].a = a;
				m[n].len = len;
				m[n].v = v;
				n++;
			}
		} else if (r < 55) {
			/* remove: mostly an existing prefix */
			if (n && zt_rng_below(&rng, 4)) {
				i = (int)zt_rng_below(&rng, (uint64_t)n);
				a = m[i].a;
				len = m[i].len;
			}
			rc = zt_lpm_remove(&lpm, &a, len);
			i = model_find(m, n, &a, len);
			CU_ASSERT_EQUAL_FATAL(rc, i >= 0 ? 0 : -ENOENT);
			if (i >= 0)
				m[i] = m[--n];
		} else if (r < 65) {
			/* exact find */
			if (n && zt_rng_below(&rng, 2)) {
				i = (int)zt_rng_below(&rng, (uint64_t)n);
				a = m[i].a;
				len = m[i].len;
			}
			i = model_find(m, n, &a, len);
			CU_ASSERT_EQUAL_FATAL(zt_lpm_find(&lpm, &a, len, &got_v), i >= 0);
			if (i >= 0)
				CU_ASSERT_EQUAL_FATAL(got_v, m[i].v);
		} else {
			/* longest match, sometimes capped */
			struct zt_addr q = pool_addr(&pools, &rng, fam);
			unsigned max = zt_rng_below(&rng, 4) ? 128 :
				       (unsigned)zt_rng_below(&rng, fam_bits(fam) + 1);
			int best = -1;
			bool hit;

			for (i = 0; i < n; i++)
				if (m[i].len <= max && pfx_contains(&m[i].a, m[i].len, &q) &&
				    (best < 0 || m[i].len > m[best].len))
					best = i;
			hit = max == 128 ?
				      zt_lpm_lookup(&lpm, &q, &got_v, &got_len) :
				      zt_lpm_lookup_max(&lpm, &q, max, &got_v, &got_len);
			CU_ASSERT_EQUAL_FATAL(hit, best >= 0);
			if (best >= 0) {
				CU_ASSERT_EQUAL_FATAL(got_len, m[best].len);
				CU_ASSERT_EQUAL_FATAL(got_v, m[best].v);
				lookups_hit++;
				if (m[best].len >= 24)
					deep_hits++;
			}
		}
		CU_ASSERT_EQUAL_FATAL(zt_lpm_count(&lpm), (uint32_t)n);
		if (op % 4096 == 0)
			CU_ASSERT_EQUAL_FATAL(zt_lpm_check(&lpm), 0);
	}
	CU_ASSERT_EQUAL(zt_lpm_check(&lpm), 0);
	/* The pools must make matches happen, deep ones included. */
	CU_ASSERT(lookups_hit > 100000);
	CU_ASSERT(deep_hits > 10000);
	/* Emptying leaves no node behind. */
	while (n) {
		n--;
		CU_ASSERT_EQUAL_FATAL(zt_lpm_remove(&lpm, &m[n].a, m[n].len), 0);
	}
	CU_ASSERT_EQUAL(zt_lpm_count(&lpm), 0);
	CU_ASSERT_EQUAL(lpm.root[0], 0);
	CU_ASSERT_EQUAL(lpm.root[1], 0);
	CU_ASSERT_EQUAL(zt_lpm_check(&lpm), 0);
	zt_lpm_destroy(&lpm);
}

static void test_lpm_edges(void)
{
	struct zt_lpm lpm;
	struct zt_addr a = A("10.0.0.0"), b = A("10.0.0.1"), z = A("0.0.0.0");
	struct zt_addr bad;
	uint32_t v = 0;
	unsigned len = 0;

	CU_ASSERT_EQUAL_FATAL(zt_lpm_init(&lpm, 2), 0);
	CU_ASSERT_FALSE(zt_lpm_lookup(&lpm, &a, &v, &len));
	CU_ASSERT_EQUAL(zt_lpm_insert(&lpm, &a, 33, 1), -EINVAL);
	memset(&bad, 0, sizeof(bad));
	CU_ASSERT_EQUAL(zt_lpm_insert(&lpm, &bad, 0, 1), -EINVAL);
	CU_ASSERT_FALSE(zt_lpm_lookup(&lpm, &bad, &v, &len));
	CU_ASSERT_EQUAL(zt_lpm_insert(&lpm, &z, 0, 7), 0);
	CU_ASSERT_EQUAL(zt_lpm_insert(&lpm, &b, 32, 8), 0);
	CU_ASSERT_EQUAL(zt_lpm_insert(&lpm, &a, 8, 9), -ENOSPC);
	CU_ASSERT_EQUAL(zt_lpm_insert(&lpm, &b, 32, 10), 0); /* replace: no new entry */
	CU_ASSERT_TRUE(zt_lpm_lookup(&lpm, &b, &v, &len));
	CU_ASSERT(v == 10 && len == 32);
	CU_ASSERT_TRUE(zt_lpm_lookup(&lpm, &a, &v, &len));
	CU_ASSERT(v == 7 && len == 0);
	CU_ASSERT_TRUE(zt_lpm_lookup_max(&lpm, &b, 31, &v, &len));
	CU_ASSERT(v == 7 && len == 0);
	CU_ASSERT_EQUAL(zt_lpm_remove(&lpm, &b, 31), -ENOENT);
	CU_ASSERT_EQUAL(zt_lpm_remove(&lpm, &z, 0), 0);
	CU_ASSERT_EQUAL(zt_lpm_remove(&lpm, &z, 0), -ENOENT);
	CU_ASSERT_FALSE(zt_lpm_lookup(&lpm, &a, NULL, NULL));
	CU_ASSERT_TRUE(zt_lpm_lookup(&lpm, &b, NULL, NULL));
	CU_ASSERT_EQUAL(zt_lpm_check(&lpm), 0);
	zt_lpm_destroy(&lpm);
}

/* --- the rule table against a naive first-match scan ------------------ */

static bool naive_proto(uint8_t rp, uint8_t p)
{
	return rp == ZT_RULE_ANY || (rp == ZT_RULE_TCP && p == 6) ||
	       (rp == ZT_RULE_UDP && p == 17) ||
	       (rp == ZT_RULE_ICMP && (p == 1 || p == 58));
}

static bool naive_cidr(const struct zt_cidr *c, const struct zt_addr *a)
{
	return !c->addr.family || pfx_contains(&c->addr, c->len, a);
}

/* A rule with a domain matches the name or any name under it, and only
 * flows that have a name (the ones to fake addresses). */
static void test_domain(void)
{
	struct zt_rules t;
	struct zt_route_query q = Q(6, "10.0.0.2", 40000, "198.18.0.1", 443);
	static const struct {
		const char *name;
		enum zt_route_decision want;
	} cases[] = {
		{ "example.com", ZT_ROUTE_HTTP },
		{ "www.example.com", ZT_ROUTE_HTTP },
		{ "a.b.example.com", ZT_ROUTE_HTTP },
		{ "badexample.com", ZT_ROUTE_SOCKS5 },
		{ "example.com.evil", ZT_ROUTE_SOCKS5 },
		{ "com", ZT_ROUTE_SOCKS5 },
		{ "ads.example", ZT_ROUTE_DROP },
		{ NULL, ZT_ROUTE_SOCKS5 },
	};
	bool reject;

	CU_ASSERT_FATAL(zt_rules_init(&t, 0) == 0);
	zt_rules_set_default(&t, ZT_ROUTE_SOCKS5, false);
	CU_ASSERT(zt_rules_add_text(&t, "tcp domain EXAMPLE.com -> http", NULL, 0) == 0);
	CU_ASSERT(zt_rules_add_text(&t, "any domain ads.example -> drop reject", NULL, 0) == 0);
	/* the flow's address alone never matches a domain rule */
	CU_ASSERT(zt_rules_add_text(&t, "udp domain example.com -> direct", NULL, 0) == 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		q.name = cases[i].name;
		CU_ASSERT_EQUAL(zt_rules_match(&t, &q, &reject), cases[i].want);
		CU_ASSERT_EQUAL(reject, cases[i].want == ZT_ROUTE_DROP);
	}
	q.proto = 17;
	q.name = "www.example.com";
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_DIRECT);
	zt_rules_destroy(&t);

	/* The resolver's question about a name (no destination, so no
	 * ports: its zeros are none) meets no port condition, not even a
	 * range that holds 0; a flow with ports does. */
	CU_ASSERT_FATAL(zt_rules_init(&t, 0) == 0);
	zt_rules_set_default(&t, ZT_ROUTE_SOCKS5, false);
	CU_ASSERT(zt_rules_add_text(&t, "tcp sport 0-1023 -> drop", NULL, 0) == 0);
	CU_ASSERT(zt_rules_add_text(&t, "tcp dport 0-79 -> drop", NULL, 0) == 0);
	memset(&q, 0, sizeof(q));
	q.proto = 6;
	q.src = A("10.0.0.2");
	q.name = "corp.example";
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_SOCKS5);
	q = Q(6, "10.0.0.2", 40000, "198.18.0.1", 25);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_DROP);
	q = Q(6, "10.0.0.2", 1000, "198.18.0.1", 443);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_DROP);
	q = Q(6, "10.0.0.2", 40000, "198.18.0.1", 443);
	CU_ASSERT_EQUAL(zt_rules_match(&t, &q, NULL), ZT_ROUTE_SOCKS5);
	zt_rules_destroy(&t);
}

static bool naive_ports(const struct zt_port_range *r, uint16_t port,
			uint8_t proto)
{
	if (r->lo == 0 && r->hi == 65535)
		return true;
	return (proto == 6 || proto == 17) && port >= r->lo && port <= r->hi;
}

/* A query with no destination (a name's, the fake-IP resolver's) has
 * no ports: only a rule without port conditions can match it. */
static bool naive_match(const struct zt_rule *r, const struct zt_route_query *q)
{
	uint8_t port_proto = q->dst.family ? q->proto : 0;

	return naive_proto(r->proto, q->proto) && naive_cidr(&r->src, &q->src) &&
	       naive_cidr(&r->dst, &q->dst) &&
	       naive_ports(&r->sport, q->sport, port_proto) &&
	       naive_ports(&r->dport, q->dport, port_proto);
}

static struct zt_cidr rand_cidr(const struct pools *p, struct zt_rng *rng,
				uint8_t fam)
{
	struct zt_cidr c;

	memset(&c, 0, sizeof(c));
	if (zt_rng_below(rng, 5) == 0)
		return c; /* any */
	c.addr = pool_addr(p, rng, fam);
	c.len = (uint8_t)zt_rng_below(rng, fam_bits(fam) + 1);
	if (zt_rng_below(rng, 2))
		c.len = (uint8_t)(fam_bits(fam) - zt_rng_below(rng, 12));
	mask_addr(&c.addr, c.len);
	return c;
}

static struct zt_port_range rand_ports(struct zt_rng *rng)
{
	struct zt_port_range p = { 0, 65535 };

	if (zt_rng_below(rng, 3) == 0) {
		p.lo = (uint16_t)zt_rng_below(rng, 12);
		p.hi = (uint16_t)(p.lo + zt_rng_below(rng, 4));
		if (zt_rng_below(rng, 8) == 0)
			p.hi = 65535;
	}
	return p;
}

static void rand_rule(struct zt_rule *r, const struct pools *p,
		      struct zt_rng *rng)
{
	uint8_t fam = zt_rng_below(rng, 2) ? ZT_AF_INET : ZT_AF_INET6;

	zt_rule_init(r);
	r->proto = (uint8_t)zt_rng_below(rng, 4);
	do
		r->decision = (enum zt_route_decision)zt_rng_below(rng, ZT_ROUTE__COUNT);
	while (!zt_route_carries(r->proto, r->decision));
	r->reject = r->decision == ZT_ROUTE_DROP && zt_rng_below(rng, 2);
	r->dst = rand_cidr(p, rng, fam);
	if (zt_rng_below(rng, 10) < 6)
		return; /* destination only: goes to a trie segment */
	r->src = rand_cidr(p, rng, fam);
	if (r->proto != ZT_RULE_ICMP) {
		r->sport = rand_ports(rng);
		r->dport = rand_ports(rng);
	}
}

/* A rule of a trie segment (destination only) whose destination is any. */
static bool dst_only_any(const struct zt_rule *r)
{
	return !r->dst.addr.family && !r->src.addr.family &&
	       r->sport.lo == 0 && r->sport.hi == 65535 &&
	       r->dport.lo == 0 && r->dport.hi == 65535 && !r->domain[0];
}

static void test_rules_vs_naive(void)
{
	static const uint8_t protos[] = { 6, 17, 1, 58, 132 };
	struct zt_rng rng;
	struct pools pools;
	struct zt_rule rules[48];
	unsigned long matched = 0, defaults = 0, trie_hits = 0, any_name_hits = 0;

	zt_rng_seed(&rng, zt_test_seed(0x7a11));
	pools_init(&pools, &rng);
	for (int round = 0; round < 1500; round++) {
		struct zt_rules t;
		int n = 1 + (int)zt_rng_below(&rng, 48);
		enum zt_route_decision def =
			(enum zt_route_decision)zt_rng_below(&rng, ZT_ROUTE__COUNT);

		CU_ASSERT_EQUAL_FATAL(zt_rules_init(&t, 48), 0);
		zt_rules_set_default(&t, def, true);
		for (int i = 0; i < n; i++) {
			char buf[ZT_RULE_STRLEN];
			struct zt_rule back;
			int len;

			rand_rule(&rules[i], &pools, &rng);
			/* Round trip through the text form. */
			len = zt_rule_format(&rules[i], buf, sizeof(buf));
			CU_ASSERT_FATAL(len > 0 && len < (int)sizeof(buf));
			if (zt_rule_parse(buf, &back, NULL, 0) != 0 ||
			    !zt_rule_same(&back, &rules[i])) {
				fprintf(stderr, "\n  round trip failed: %s\n", buf);
				CU_FAIL_FATAL("format/parse round trip");
			}
			CU_ASSERT_EQUAL_FATAL(zt_rules_add(&t, &back), 0);
		}
		for (int k = 0; k < 200; k++) {
			struct zt_route_query q;
			uint8_t fam = zt_rng_below(&rng, 2) ? ZT_AF_INET : ZT_AF_INET6;
			const struct zt_rule *got;
			int want = -1;
			bool rej;

			memset(&q, 0, sizeof(q));
			q.proto = protos[zt_rng_below(&rng, 5)];
			q.src = pool_addr(&pools, &rng, fam);
			q.dst = pool_addr(&pools, &rng, fam);
			q.sport = (uint16_t)zt_rng_below(&rng, 16);
			q.dport = (uint16_t)zt_rng_below(&rng, 16);
			/* the fake-IP resolver's question: a name, no address
			 * (only rules with no destination prefix match it) */
			if (zt_rng_below(&rng, 5) == 0)
				memset(&q.dst, 0, sizeof(q.dst));
			for (int i = 0; i < n && want < 0; i++)
				if (naive_match(&rules[i], &q))
					want = i;
			got = zt_rules_lookup(&t, &q);
			if (want < 0) {
				CU_ASSERT_PTR_NULL_FATAL(got);
				defaults++;
			} else {
				CU_ASSERT_PTR_EQUAL_FATAL(got, &t.rules[want]);
				matched++;
				if (rules[want].dst.addr.family && !rules[want].src.addr.family)
					trie_hits++;
				if (!q.dst.family && dst_only_any(&rules[want]))
					any_name_hits++;
			}
			CU_ASSERT_EQUAL_FATAL(zt_rules_match(&t, &q, &rej),
					      want < 0 ? def : rules[want].decision);
			CU_ASSERT_EQUAL_FATAL(rej, want < 0 ? def == ZT_ROUTE_DROP :
						   rules[want].reject);
		}
		zt_rules_destroy(&t);
	}
	/* Both outcomes must be common for the comparison to mean much. */
	CU_ASSERT(matched > 30000);
	CU_ASSERT(defaults > 30000);
	CU_ASSERT(trie_hits > 10000);
	CU_ASSERT(any_name_hits > 1000);
}

int zt_suite_rules(void)
{
	static const struct zt_test_case cases[] = {
		{ "decision_names", test_decision_names },
		{ "parse_good", test_parse_good },
		{ "parse_bad_names_token", test_parse_bad },
		{ "format_round_trip", test_format_examples },
		{ "first_match", test_first_match },
		{ "ports_protocols", test_ports_protocols },
		{ "ipv6", test_ipv6 },
		{ "lpm_edges", test_lpm_edges },
		{ "lpm_vs_model", test_lpm_vs_model },
		{ "rules_vs_naive", test_rules_vs_naive },
		{ "domain", test_domain },
		{ 0 }
	};

	return zt_add_suite("rules", NULL, NULL, cases);
}
