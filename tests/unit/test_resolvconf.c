/* SPDX-License-Identifier: MIT */
/*
 * test_resolvconf.c - the nameservers of resolv.conf text
 * (sim/real/resolvconf.c), which --auto-route checks for DNS leaks:
 * comments, blanks and other keywords skipped, IPv4 and IPv6 with a
 * zone, bad addresses skipped without stopping the rest, the bound on
 * how many are kept, and text without a final newline. Every input is
 * an exactly-sized heap copy, so ASan catches a read past its end.
 */
#include <stdlib.h>
#include <string.h>

#include "real/resolvconf.h"
#include "test.h"

static int parse_exact(const char *text, struct zr_nameserver *ns, int max)
{
	size_t len = strlen(text);
	uint8_t *copy = zt_test_dup_exact((const uint8_t *)text, len);
	int n = zr_resolv_nameservers((const char *)copy, len, ns, max);

	free(copy);
	return n;
}

static void test_nameservers(void)
{
	static const char text[] =
		"# generated\n"
		"search example.org\n"
		"nameserver\t192.0.2.53  # the LAN's\n"
		"  nameserver 127.0.0.53\n"   /* not at the line's start */
		";nameserver 10.9.9.9\n"
		"#nameserver 10.8.8.8\n"
		"nameserverx 10.7.7.7\n"
		"nameserver 10.0.0.300\n"
		"nameserver\n"
		"options edns0 trust-ad\n"
		"nameserver fe80::1%eth0\n"
		"nameserver 2001:db8::53";
	struct zr_nameserver ns[8];
	struct zt_addr a;
	int n = parse_exact(text, ns, 8);

	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_FATAL(zt_addr_parse("192.0.2.53", &a) == 0);
	CU_ASSERT(zt_addr_eq(&ns[0].addr, &a));
	CU_ASSERT_STRING_EQUAL(ns[0].zone, "");
	CU_ASSERT_STRING_EQUAL(ns[0].text, "192.0.2.53");
	CU_ASSERT_FATAL(zt_addr_parse("fe80::1", &a) == 0);
	CU_ASSERT(zt_addr_eq(&ns[1].addr, &a));
	CU_ASSERT_STRING_EQUAL(ns[1].zone, "eth0");
	CU_ASSERT_STRING_EQUAL(ns[1].text, "fe80::1%eth0");
	CU_ASSERT_FATAL(zt_addr_parse("2001:db8::53", &a) == 0);
	CU_ASSERT(zt_addr_eq(&ns[2].addr, &a)); /* no final newline */
}

/* The resolver (glibc, musl: MAXNS) asks the first three nameservers
 * whose address it takes and ignores the rest, and reads a keyword only
 * at the start of a line: a nameserver it never asks leaks nothing and
 * must not be warned about, nor push one it asks out of the three. */
static void test_resolver_reads(void)
{
	static const char text[] =
		"nameserver 10.0.0.1\n"
		"nameserver 10.0.0.300\n"      /* not taken: does not count */
		" nameserver 10.0.0.9\n"       /* not a keyword line */
		"\tnameserver 10.0.0.8\n"
		"nameserver 10.0.0.2\n"
		"nameserver 10.0.0.3\n"
		"nameserver 10.0.0.4\n";       /* the fourth: never asked */
	struct zr_nameserver ns[8];
	int n = parse_exact(text, ns, 8);

	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_STRING_EQUAL(ns[0].text, "10.0.0.1");
	CU_ASSERT_STRING_EQUAL(ns[1].text, "10.0.0.2");
	CU_ASSERT_STRING_EQUAL(ns[2].text, "10.0.0.3");
}

static void test_bounds(void)
{
	struct zr_nameserver ns[2];
	char big[600];

	CU_ASSERT_EQUAL(parse_exact("", ns, 2), 0);
	CU_ASSERT_EQUAL(parse_exact("\n\n", ns, 2), 0);
	CU_ASSERT_EQUAL(parse_exact("nameserver 10.0.0.1\nnameserver 10.0.0.2\n"
				    "nameserver 10.0.0.3\n", ns, 2), 2);
	CU_ASSERT_EQUAL(parse_exact("nameserver 10.0.0.1\n", ns, 0), 0);
	/* a zone longer than an interface name, an address token longer than
	 * any address: skipped */
	CU_ASSERT_EQUAL(parse_exact("nameserver fe80::1%an-interface-name-too-long\n",
				    ns, 2), 0);
	memset(big, '1', sizeof(big));
	memcpy(big, "nameserver ", 11);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_EQUAL(parse_exact(big, ns, 2), 0);
	/* a NUL ends its line, as the C resolver reads it; the next counts */
	CU_ASSERT_EQUAL_FATAL(zr_resolv_nameservers("nameserver 10.0.0.1\n"
						    "\0nameserver 10.0.0.2\n"
						    "nameserver 10.0.0.3\n",
						    61, ns, 2), 2);
	CU_ASSERT_STRING_EQUAL(ns[1].text, "10.0.0.3");
}

int zt_suite_resolvconf(void)
{
	static const struct zt_test_case cases[] = {
		{ "nameservers", test_nameservers },
		{ "bounds", test_bounds },
		{ "what the resolver reads", test_resolver_reads },
		{ 0 }
	};

	return zt_add_suite("resolvconf", NULL, NULL, cases);
}
