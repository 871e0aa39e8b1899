/* SPDX-License-Identifier: MIT */
/*
 * test_config.c - the ztun-ref command line's rule table
 * (sim/real/config.c): zr_config_reload_rules() builds it again from the
 * same flags, each --rules file read anew (SIGHUP), and keeps the rules in
 * effect when a file cannot be read or holds a bad rule.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "real/config.h"
#include "test.h"
#include "ztun/route.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
}

/* What the table decides for TCP from 10.0.0.2 to @dst:80. */
static enum zt_route_decision tcp_to(const struct zr_config *c, const char *dst,
				     bool *reject)
{
	struct zt_route_query q;

	memset(&q, 0, sizeof(q));
	q.proto = 6;
	CU_ASSERT_FATAL(zt_addr_parse("10.0.0.2", &q.src) == 0);
	CU_ASSERT_FATAL(zt_addr_parse(dst, &q.dst) == 0);
	q.sport = 40000;
	q.dport = 80;
	return zt_rules_match(&c->rules, &q, reject);
}

static void test_reload_rules(void)
{
	char dir[] = "/tmp/ztun-config-XXXXXX", path[64];
	char *argv[] = { "ztun-ref", "--rules", path, "--udp", "direct", NULL };
	struct zr_config c;
	bool reject = false;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/r.rules", dir);
	write_file(path, "tcp 10.203.1.3 -> reject\n");
	CU_ASSERT_FATAL(zr_config_parse(&c, 5, argv) == ZR_PARSE_RUN);
	CU_ASSERT_EQUAL(c.rules.count, 2); /* and the final UDP rule */
	CU_ASSERT_EQUAL(tcp_to(&c, "10.203.1.3", &reject), ZT_ROUTE_DROP);
	CU_ASSERT(reject);

	/* the file edited: the new table, the same --udp */
	write_file(path, "# edited\ntcp 10.203.1.3 -> direct\ntcp 10.9.9.9 -> drop\n"
			 "default -> drop\n");
	CU_ASSERT_EQUAL(zr_config_reload_rules(&c), 0);
	CU_ASSERT_EQUAL(c.rules.count, 3);
	CU_ASSERT_EQUAL(tcp_to(&c, "10.203.1.3", &reject), ZT_ROUTE_DIRECT);
	CU_ASSERT_EQUAL(tcp_to(&c, "10.9.9.9", &reject), ZT_ROUTE_DROP);
	CU_ASSERT_FALSE(reject);
	CU_ASSERT_EQUAL(c.def, ZT_ROUTE_DROP);
	CU_ASSERT_EQUAL(c.udp, ZT_ROUTE_DIRECT);

	/* a bad rule, a rule for a proxy not given, a file gone: each
	 * keeps the table in effect */
	write_file(path, "tcp 10.203.1.3 -> reject\ntcp 10.203.1.3 -> nowhere\n");
	CU_ASSERT_EQUAL(zr_config_reload_rules(&c), -EINVAL);
	write_file(path, "tcp any -> socks5\n");
	CU_ASSERT_EQUAL(zr_config_reload_rules(&c), -EINVAL);
	CU_ASSERT_EQUAL(unlink(path), 0);
	CU_ASSERT_EQUAL(zr_config_reload_rules(&c), -EINVAL);
	CU_ASSERT_EQUAL(c.rules.count, 3);
	CU_ASSERT_EQUAL(tcp_to(&c, "10.203.1.3", &reject), ZT_ROUTE_DIRECT);
	CU_ASSERT_EQUAL(c.def, ZT_ROUTE_DROP);
	zr_config_free(&c);
	CU_ASSERT_EQUAL(rmdir(dir), 0);
}

/* What the table decides for UDP from 10.0.0.2 to 10.9.9.9:@dport. */
static enum zt_route_decision udp_to(const struct zr_config *c, uint16_t dport)
{
	struct zt_route_query q;
	bool reject;

	memset(&q, 0, sizeof(q));
	q.proto = 17;
	CU_ASSERT_FATAL(zt_addr_parse("10.0.0.2", &q.src) == 0);
	CU_ASSERT_FATAL(zt_addr_parse("10.9.9.9", &q.dst) == 0);
	q.sport = 40000;
	q.dport = dport;
	return zt_rules_match(&c->rules, &q, &reject);
}

/* Parse @argv (NULL-terminated); 0 when it runs, else -EINVAL. */
static int parse(struct zr_config *c, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return zr_config_parse(c, argc, argv) == ZR_PARSE_RUN ? 0 : -EINVAL;
}

/* --dns-over-tcp: DNS that no rule matched goes to the proxy (SOCKS5,
 * else HTTP), whatever --udp says of the rest; a udp rule to HTTP is for
 * port 53 and with the flag alone; without a proxy it is an error. */
static void test_dns_over_tcp_rules(void)
{
	char *http_only[] = { "ztun-ref", "-x", "http://10.9.0.2:3128",
			      "--dns-over-tcp", NULL };
	char *socks_nat[] = { "ztun-ref", "-x", "socks5://10.9.0.2:1080",
			      "--udp", "nat", "--dns-over-tcp", NULL };
	char *ruled[] = { "ztun-ref", "-x", "http://10.9.0.2:3128", "-x",
			  "socks5://10.9.0.2:1080", "--rule",
			  "udp dport 53 -> http", "--dns-over-tcp", NULL };
	char *ruled_no_flag[] = { "ztun-ref", "-x", "http://10.9.0.2:3128",
				  "--rule", "udp dport 53 -> http", NULL };
	char *no_proxy[] = { "ztun-ref", "--dns-over-tcp", NULL };
	char *http_plain[] = { "ztun-ref", "-x", "http://10.9.0.2:3128", NULL };
	struct zr_config c;

	CU_ASSERT_FATAL(parse(&c, http_only) == 0);
	CU_ASSERT(c.dns_over_tcp);
	CU_ASSERT_EQUAL(udp_to(&c, 53), ZT_ROUTE_HTTP);
	CU_ASSERT_EQUAL(udp_to(&c, 54), ZT_ROUTE_DROP);
	zr_config_free(&c);
	CU_ASSERT_FATAL(parse(&c, http_plain) == 0);
	CU_ASSERT_EQUAL(udp_to(&c, 53), ZT_ROUTE_DROP);
	zr_config_free(&c);
	CU_ASSERT_FATAL(parse(&c, socks_nat) == 0);
	CU_ASSERT_EQUAL(udp_to(&c, 53), ZT_ROUTE_SOCKS5);
	CU_ASSERT_EQUAL(udp_to(&c, 123), ZT_ROUTE_NAT);
	zr_config_free(&c);
	CU_ASSERT_FATAL(parse(&c, ruled) == 0);
	CU_ASSERT_EQUAL(udp_to(&c, 53), ZT_ROUTE_HTTP);
	CU_ASSERT_EQUAL(udp_to(&c, 54), ZT_ROUTE_SOCKS5);
	zr_config_free(&c);
	CU_ASSERT_EQUAL(parse(&c, ruled_no_flag), -EINVAL);
	CU_ASSERT_EQUAL(parse(&c, no_proxy), -EINVAL);
}

/* --stats-file and --stats-interval: the file's directory must be there
 * and writable, the interval only with a file. */
static void test_stats_file(void)
{
	char *none[] = { "ztun-ref", NULL };
	char *file[] = { "ztun-ref", "--stats-file", "/tmp/ztun.prom",
			 "--stats-interval", "60", NULL };
	char *here[] = { "ztun-ref", "--stats-file", "ztun.prom", NULL };
	char *no_file[] = { "ztun-ref", "--stats-interval", "60", NULL };
	char *no_dir[] = { "ztun-ref", "--stats-file",
			   "/nonexistent-ztun-dir/ztun.prom", NULL };
	char *a_dir[] = { "ztun-ref", "--stats-file", "/tmp/", NULL };
	char *zero[] = { "ztun-ref", "--stats-file", "/tmp/ztun.prom",
			 "--stats-interval", "0", NULL };
	struct zr_config c;

	CU_ASSERT_FATAL(parse(&c, none) == 0);
	CU_ASSERT_PTR_NULL(c.stats_file);
	CU_ASSERT_EQUAL(c.stats_interval_s, ZR_STATS_INTERVAL_DEFAULT);
	zr_config_free(&c);
	CU_ASSERT_FATAL(parse(&c, file) == 0);
	CU_ASSERT_STRING_EQUAL(c.stats_file, "/tmp/ztun.prom");
	CU_ASSERT_EQUAL(c.stats_interval_s, 60);
	zr_config_free(&c);
	CU_ASSERT_FATAL(parse(&c, here) == 0);
	zr_config_free(&c);
	CU_ASSERT_EQUAL(parse(&c, no_file), -EINVAL);
	CU_ASSERT_EQUAL(parse(&c, no_dir), -EINVAL);
	CU_ASSERT_EQUAL(parse(&c, a_dir), -EINVAL);
	CU_ASSERT_EQUAL(parse(&c, zero), -EINVAL);
}

/* A --rules file is read in whole lines: a comment longer than any
 * buffer stays one comment; a line longer than ZR_RULES_LINE_MAX, a NUL
 * byte in a line or a file that is not a regular file is an error. */
static void test_rules_file_lines(void)
{
	char dir[] = "/tmp/ztun-config-XXXXXX", path[64];
	char *argv[] = { "ztun-ref", "--rules", path, NULL };
	char *devnull[] = { "ztun-ref", "--rules", "/dev/null", NULL };
	char *a_dir[] = { "ztun-ref", "--rules", dir, NULL };
	char text[ZR_RULES_LINE_MAX + 64];
	struct zr_config c;
	FILE *f;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/r.rules", dir);
	for (size_t len = 1000; len < 1100; len++) {
		/* '#', then x up to @len, then what reads as a rule */
		text[0] = '#';
		memset(text + 1, 'x', len - 1);
		snprintf(text + len, sizeof(text) - len, "tcp any -> drop\n");
		write_file(path, text);
		CU_ASSERT_FATAL(parse(&c, argv) == 0);
		CU_ASSERT_EQUAL(c.rules.count, 1); /* the final UDP rule */
		zr_config_free(&c);
	}
	/* the longest line taken, and one byte more */
	memset(text, ' ', ZR_RULES_LINE_MAX);
	memcpy(text, "tcp any -> drop", 15);
	text[ZR_RULES_LINE_MAX] = '\n';
	text[ZR_RULES_LINE_MAX + 1] = 0;
	write_file(path, text);
	CU_ASSERT_FATAL(parse(&c, argv) == 0);
	CU_ASSERT_EQUAL(c.rules.count, 2);
	zr_config_free(&c);
	text[ZR_RULES_LINE_MAX] = ' ';
	text[ZR_RULES_LINE_MAX + 1] = '\n';
	text[ZR_RULES_LINE_MAX + 2] = 0;
	write_file(path, text);
	CU_ASSERT_EQUAL(parse(&c, argv), -EINVAL);
	/* no newline at the end: the last line still counts */
	write_file(path, "tcp any -> drop");
	CU_ASSERT_FATAL(parse(&c, argv) == 0);
	CU_ASSERT_EQUAL(c.rules.count, 2);
	zr_config_free(&c);
	/* a NUL byte cuts nothing off silently */
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fwrite("tcp any -> drop\0garbage\n", 1, 25, f);
	fclose(f);
	CU_ASSERT_EQUAL(parse(&c, argv), -EINVAL);
	CU_ASSERT_EQUAL(parse(&c, a_dir), -EINVAL);
	CU_ASSERT_EQUAL(parse(&c, devnull), -EINVAL);
	CU_ASSERT_EQUAL(unlink(path), 0);
	CU_ASSERT_EQUAL(rmdir(dir), 0);
}

/* Whether zr_config_proxy_loops() takes @addr into the TUN, and why. */
static bool loops(const struct zr_config *c, const char *addr, char *why)
{
	struct zt_addr a;

	CU_ASSERT_FATAL(zt_addr_parse(addr, &a) == 0);
	why[0] = 0;
	return zr_config_proxy_loops(c, &a, why, 128);
}

/* A proxy given by name is looked up at start and on SIGHUP: an address
 * that ztun-ref's own routes take into the TUN (its subnets, the fake
 * ranges and resolver) would loop; the TUN's own address is local, and
 * with --tun-fd the subnets are the parent's (the fake routes are still
 * asked of it). */
static void test_proxy_loops(void)
{
	char *argv[] = { "ztun-ref", "-x", "socks5://proxy.example:1080",
			 "--tun-ip6", "fd00::1/64", "--fake-dns", "192.0.2.53",
			 "--fake-ip6-range", "fd00:ff::/64", NULL, NULL, NULL };
	struct zr_config c;
	char why[128];

	CU_ASSERT_FATAL(parse(&c, argv) == 0);
	CU_ASSERT(loops(&c, "10.0.0.5", why));
	CU_ASSERT_STRING_EQUAL(why, "in the TUN's subnet 10.0.0.0/24 (-i, -p)");
	CU_ASSERT(loops(&c, "fd00::5", why));
	CU_ASSERT_STRING_EQUAL(why, "in the TUN's subnet fd00::/64 (--tun-ip6)");
	CU_ASSERT(loops(&c, "198.19.3.4", why));
	CU_ASSERT_STRING_EQUAL(why, "in the fake range 198.18.0.0/15 (--fake-ip-range)");
	CU_ASSERT(loops(&c, "fd00:ff::9", why));
	CU_ASSERT_STRING_EQUAL(why, "in the fake range fd00:ff::/64 (--fake-ip6-range)");
	CU_ASSERT(loops(&c, "192.0.2.53", why));
	CU_ASSERT_STRING_EQUAL(why, "the fake resolver's address (--fake-dns)");
	CU_ASSERT_FALSE(loops(&c, "10.0.0.1", why));
	CU_ASSERT_FALSE(loops(&c, "fd00::1", why));
	CU_ASSERT_FALSE(loops(&c, "10.0.1.5", why));
	CU_ASSERT_FALSE(loops(&c, "127.0.0.1", why));
	CU_ASSERT_FALSE(loops(&c, "fd01::5", why));
	zr_config_free(&c);

	argv[9] = "--tun-fd";
	argv[10] = "3";
	CU_ASSERT_FATAL(parse(&c, argv) == 0);
	CU_ASSERT_FALSE(loops(&c, "10.0.0.5", why));
	CU_ASSERT_FALSE(loops(&c, "fd00::5", why));
	CU_ASSERT(loops(&c, "198.19.3.4", why));
	zr_config_free(&c);
}

/* Parse "-x @url"; 0 when it runs (then zr_config_free() is the
 * caller's), else -EINVAL. */
static int parse_proxy_url(struct zr_config *c, const char *url)
{
	char *argv[] = { "ztun-ref", "-x", (char *)url, NULL };

	return parse(c, argv);
}

/* @n copies of @unit into @out (@cap bytes, terminated). */
static void repeat(char *out, size_t cap, const char *unit, size_t n)
{
	size_t ul = strlen(unit);

	CU_ASSERT_FATAL(n * ul < cap);
	for (size_t i = 0; i < n; i++)
		memcpy(out + i * ul, unit, ul);
	out[n * ul] = 0;
}

/* -x's USER:PASS@ is split first (the user to the first ':', the
 * userinfo to the last '@'), then each part is percent-decoded (RFC 3986
 * 2.1, 3.2.1), as Go's net/url and the url crate do: a password copied
 * from a provider's URL works as it is. */
static void test_proxy_credentials_decoded(void)
{
	struct zr_config c;

	CU_ASSERT_FATAL(parse_proxy_url(&c, "socks5://bob:p%40ss@127.0.0.1:1080") == 0);
	CU_ASSERT(c.socks5.auth);
	CU_ASSERT_STRING_EQUAL(c.socks5.username, "bob");
	CU_ASSERT_STRING_EQUAL(c.socks5.password, "p@ss");
	CU_ASSERT_EQUAL(c.socks5.server.port, 1080);
	zr_config_free(&c);

	/* a ':' in the user only encoded; hex either case; %25 once */
	CU_ASSERT_FATAL(parse_proxy_url(&c, "socks5://b%3Ab%3ab:p%2F%2f%23%20%2541@127.0.0.1:1080") == 0);
	CU_ASSERT_STRING_EQUAL(c.socks5.username, "b:b:b");
	CU_ASSERT_STRING_EQUAL(c.socks5.password, "p//# %41");
	zr_config_free(&c);

	/* the split is on the raw text: a raw ':' or '@' in the password
	 * stays in it; non-ASCII bytes go as they are */
	CU_ASSERT_FATAL(parse_proxy_url(&c, "socks5://bob:a:b@c%40d@127.0.0.1:1080") == 0);
	CU_ASSERT_STRING_EQUAL(c.socks5.username, "bob");
	CU_ASSERT_STRING_EQUAL(c.socks5.password, "a:b@c@d");
	zr_config_free(&c);
	CU_ASSERT_FATAL(parse_proxy_url(&c, "http://J%C3%BCrgen:%e2%82%AC@127.0.0.1:3128") == 0);
	CU_ASSERT(c.http.auth);
	CU_ASSERT_STRING_EQUAL(c.http.username, "J\xc3\xbcrgen");
	CU_ASSERT_STRING_EQUAL(c.http.password, "\xe2\x82\xac");
	zr_config_free(&c);

	/* the host is not decoded; an IPv6 literal still works */
	CU_ASSERT_FATAL(parse_proxy_url(&c, "socks5://bob:p%40ss@[::1]:1080") == 0);
	CU_ASSERT_EQUAL(c.socks5.server.addr.family, ZT_AF_INET6);
	CU_ASSERT_STRING_EQUAL(c.socks5.password, "p@ss");
	zr_config_free(&c);
	CU_ASSERT_FATAL(parse_proxy_url(&c, "http://bob:p%40ss@proxy.example:3128") == 0);
	CU_ASSERT_STRING_EQUAL(c.http_host, "proxy.example");
	zr_config_free(&c);
	CU_ASSERT_EQUAL(parse_proxy_url(&c, "socks5://bob:pw@%31.2.3.4:1080"), -EINVAL);

	/* an empty password stays empty */
	CU_ASSERT_FATAL(parse_proxy_url(&c, "socks5://bob:@127.0.0.1:1080") == 0);
	CU_ASSERT_STRING_EQUAL(c.socks5.password, "");
	zr_config_free(&c);
}

/* A '%' without two hex digits is an error, not taken literally (as Go
 * does; curl would keep it); %00 too: the fields are C strings, so a NUL
 * could only cut them short. A decoded control character is refused for
 * HTTP (Basic) as a raw one is, and sent to SOCKS5. */
static void test_proxy_credentials_bad_escapes(void)
{
	static const char *bad[] = {
		"socks5://bob:p%@127.0.0.1:1080",
		"socks5://bob:p%4@127.0.0.1:1080",
		"socks5://bob:%zz@127.0.0.1:1080",
		"socks5://bob:%4g@127.0.0.1:1080",
		"socks5://bob:%g4@127.0.0.1:1080",
		"socks5://b%:pw@127.0.0.1:1080",
		"socks5://b%4:pw@127.0.0.1:1080",
		"http://b%zzb:pw@127.0.0.1:3128",
		"socks5://bob:a%00b@127.0.0.1:1080",
		"socks5://b%00b:pw@127.0.0.1:1080",
		"http://bob:a%00b@127.0.0.1:3128",
		"http://bob:a%09b@127.0.0.1:3128",
		"http://b%7Fb:pw@127.0.0.1:3128",
	};
	struct zr_config c;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(parse_proxy_url(&c, bad[i]), -EINVAL);
	}
	CU_ASSERT_FATAL(parse_proxy_url(&c, "socks5://bob:a%09b@127.0.0.1:1080") == 0);
	CU_ASSERT_STRING_EQUAL(c.socks5.password, "a\tb");
	zr_config_free(&c);
}

/* The 1..255-byte bounds are on the decoded bytes: 255 of them written
 * as %XX (765 characters) go; 256 do not, however written. */
static void test_proxy_credentials_decoded_length(void)
{
	char u255[800], u256[800], url[2000];
	struct zr_config c;

	repeat(u255, sizeof(u255), "%75", 255);
	repeat(u256, sizeof(u256), "%75", 256);
	snprintf(url, sizeof(url), "socks5://%s:%s@127.0.0.1:1080", u255, u255);
	CU_ASSERT_FATAL(parse_proxy_url(&c, url) == 0);
	CU_ASSERT_EQUAL(strlen(c.socks5.username), 255);
	CU_ASSERT_EQUAL(strlen(c.socks5.password), 255);
	CU_ASSERT_EQUAL(c.socks5.password[254], 'u');
	zr_config_free(&c);
	snprintf(url, sizeof(url), "http://%s:%s@127.0.0.1:3128", u255, u255);
	CU_ASSERT_FATAL(parse_proxy_url(&c, url) == 0);
	CU_ASSERT_EQUAL(strlen(c.http.password), 255);
	zr_config_free(&c);
	snprintf(url, sizeof(url), "socks5://%s:pw@127.0.0.1:1080", u256);
	CU_ASSERT_EQUAL(parse_proxy_url(&c, url), -EINVAL);
	snprintf(url, sizeof(url), "socks5://bob:%s@127.0.0.1:1080", u256);
	CU_ASSERT_EQUAL(parse_proxy_url(&c, url), -EINVAL);
	snprintf(url, sizeof(url), "http://bob:%sx@127.0.0.1:3128", u255);
	CU_ASSERT_EQUAL(parse_proxy_url(&c, url), -EINVAL);
}

/* What zr_config_proxy_unusable() says of @addr (NULL: usable). */
static const char *unusable(const char *addr)
{
	struct zt_addr a;

	CU_ASSERT_FATAL(zt_addr_parse(addr, &a) == 0);
	return zr_config_proxy_unusable(&a);
}

/* Addresses no connection to a proxy can go to, from -x or a lookup;
 * loopback and ordinary addresses are fine. */
static void test_proxy_unusable(void)
{
	static const char *bad[] = { "0.0.0.0", "224.0.0.1", "239.255.255.255",
				     "255.255.255.255", "::", "ff02::1",
				     "fe80::1", "febf::1" };
	static const char *good[] = { "127.0.0.1", "::1", "10.0.0.5",
				      "223.255.255.255", "240.0.0.1",
				      "2001:db8::1", "fec0::1", "fd00::1" };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_PTR_NOT_NULL(unusable(bad[i]));
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CU_ASSERT_PTR_NULL(unusable(good[i]));
	CU_ASSERT_STRING_EQUAL(unusable("fe80::1"),
			       "a link-local address without a zone");
}

int zt_suite_config(void)
{
	static const struct zt_test_case cases[] = {
		{ "reload_rules", test_reload_rules },
		{ "dns_over_tcp_rules", test_dns_over_tcp_rules },
		{ "stats_file", test_stats_file },
		{ "rules_file_lines", test_rules_file_lines },
		{ "proxy_loops", test_proxy_loops },
		{ "proxy_unusable", test_proxy_unusable },
		{ "proxy_credentials_decoded", test_proxy_credentials_decoded },
		{ "proxy_credentials_bad_escapes", test_proxy_credentials_bad_escapes },
		{ "proxy_credentials_decoded_length", test_proxy_credentials_decoded_length },
		{ 0 },
	};

	return zt_add_suite("config", NULL, NULL, cases);
}
