/* SPDX-License-Identifier: MIT */
/*
 * test_routestate.c - the --auto-route state file (sim/real/routestate.c):
 * format/parse round trips, the file round trip through a temporary
 * directory, and rejection of truncated, garbage and oversized input. Every
 * input is handed over as an exactly-sized heap copy, so ASan catches any
 * read past its end.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "real/routestate.h"
#include "test.h"
#include "ztun/rng.h"

#define BOOT "0f1e2d3c-4b5a-4697-8877-665544332211"
#define HEAD2 "ztun-ref-routes 2\npid 1\nstart 9\nboot " BOOT "\n"

static void route_set(struct zr_route *r, const char *dst, uint8_t prefix,
		      const char *gw, const char *dev)
{
	memset(r, 0, sizeof(*r));
	CU_ASSERT_FATAL(zt_addr_parse(dst, &r->dst) == 0);
	r->prefix = prefix;
	if (gw) {
		CU_ASSERT_FATAL(zt_addr_parse(gw, &r->gateway) == 0);
		r->has_gateway = true;
	}
	strcpy(r->dev, dev);
}

static void sample(struct zr_route_state *s)
{
	memset(s, 0, sizeof(*s));
	s->owner.pid = 4242;
	s->owner.start = 5678901;
	strcpy(s->owner.boot, BOOT);
	route_set(&s->routes[0], "0.0.0.0", 1, NULL, "ztun0");
	route_set(&s->routes[1], "128.0.0.0", 1, NULL, "ztun0");
	route_set(&s->routes[2], "192.0.2.10", 32, "10.0.2.2", "eth0");
	route_set(&s->routes[3], "::", 1, NULL, "ztun0");
	route_set(&s->routes[4], "2001:db8::10", 128, "fe80::1", "wlan-0.1");
	route_set(&s->routes[5], "203.0.113.7", 32, NULL, "eth1");
	s->count = 6;
}

static int parse_exact(const char *text, size_t len, struct zr_route_state *s,
		       unsigned *bad)
{
	uint8_t *copy = zt_test_dup_exact((const uint8_t *)text, len);
	int rc = zr_route_state_parse((const char *)copy, len, s, bad);

	free(copy);
	return rc;
}

static void assert_same(const struct zr_route_state *a,
			const struct zr_route_state *b)
{
	CU_ASSERT_EQUAL(a->owner.pid, b->owner.pid);
	CU_ASSERT_EQUAL(a->owner.start, b->owner.start);
	CU_ASSERT_STRING_EQUAL(a->owner.boot, b->owner.boot);
	CU_ASSERT_EQUAL_FATAL(a->count, b->count);
	for (unsigned i = 0; i < a->count; i++) {
		const struct zr_route *x = &a->routes[i], *y = &b->routes[i];

		CU_ASSERT(zt_addr_eq(&x->dst, &y->dst));
		CU_ASSERT_EQUAL(x->prefix, y->prefix);
		CU_ASSERT_EQUAL(x->has_gateway, y->has_gateway);
		if (x->has_gateway && y->has_gateway)
			CU_ASSERT(zt_addr_eq(&x->gateway, &y->gateway));
		CU_ASSERT_STRING_EQUAL(x->dev, y->dev);
	}
}

static void test_round_trip(void)
{
	static const char head[] = "ztun-ref-routes 2\npid 4242\nstart 5678901\n"
				   "boot " BOOT "\nroute ";
	struct zr_route_state s, back;
	char text[ZR_ROUTE_STATE_BYTES];
	unsigned bad = 99;
	int len;

	sample(&s);
	len = zr_route_state_format(&s, text, sizeof(text));
	CU_ASSERT_FATAL(len > 0);
	CU_ASSERT_EQUAL((size_t)len, strlen(text));
	/* the owner: pid, start time and boot id, before the routes */
	CU_ASSERT_NSTRING_EQUAL(text, head, strlen(head));
	CU_ASSERT(strstr(text, "route 192.0.2.10/32 via 10.0.2.2 dev eth0\n") != NULL);
	CU_ASSERT(strstr(text, "route ::/1 dev ztun0\n") != NULL);
	CU_ASSERT_EQUAL(parse_exact(text, (size_t)len, &back, &bad), 0);
	CU_ASSERT_EQUAL(bad, 0);
	assert_same(&s, &back);

	/* no routes at all is a valid file */
	s.count = 0;
	len = zr_route_state_format(&s, text, sizeof(text));
	CU_ASSERT_FATAL(len > 0);
	CU_ASSERT_EQUAL(parse_exact(text, (size_t)len, &back, NULL), 0);
	CU_ASSERT_EQUAL(back.count, 0);

	/* the most routes a file holds */
	for (unsigned i = 0; i < ZR_ROUTE_STATE_MAX; i++)
		route_set(&s.routes[i], "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128,
			  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "abcdefghijklmno");
	s.count = ZR_ROUTE_STATE_MAX;
	len = zr_route_state_format(&s, text, sizeof(text));
	CU_ASSERT_FATAL(len > 0);
	CU_ASSERT_EQUAL(parse_exact(text, (size_t)len, &back, NULL), 0);
	assert_same(&s, &back);
}

static void test_format_limits(void)
{
	struct zr_route_state s;
	char small[40], text[ZR_ROUTE_STATE_BYTES];

	sample(&s);
	CU_ASSERT_EQUAL(zr_route_state_format(&s, small, sizeof(small)), -ENOSPC);
	s.routes[1].prefix = 33;
	CU_ASSERT_EQUAL(zr_route_state_format(&s, text, sizeof(text)), -EINVAL);
	sample(&s);
	s.routes[2].gateway.family = ZT_AF_INET6;
	CU_ASSERT_EQUAL(zr_route_state_format(&s, text, sizeof(text)), -EINVAL);
	sample(&s);
	s.routes[0].dev[0] = 0;
	CU_ASSERT_EQUAL(zr_route_state_format(&s, text, sizeof(text)), -EINVAL);
	sample(&s);
	s.owner.pid = 0;
	CU_ASSERT_EQUAL(zr_route_state_format(&s, text, sizeof(text)), -EINVAL);
	sample(&s);
	s.owner.boot[3] = 'X';   /* never written as it would not be read */
	CU_ASSERT_EQUAL(zr_route_state_format(&s, text, sizeof(text)), -EINVAL);
	s.owner.boot[0] = 0;
	CU_ASSERT_EQUAL(zr_route_state_format(&s, text, sizeof(text)), -EINVAL);
}

/* Every proper prefix of a valid file is rejected (each is a truncated
 * write), except those ending exactly after a complete line. */
static void test_truncated(void)
{
	struct zr_route_state s, back;
	char text[ZR_ROUTE_STATE_BYTES];
	int len, owner_end;

	sample(&s);
	len = zr_route_state_format(&s, text, sizeof(text));
	CU_ASSERT_FATAL(len > 0);
	owner_end = (int)(strstr(text, "\nroute ") - text) + 1;
	for (int cut = 0; cut < len; cut++) {
		int rc = parse_exact(text, (size_t)cut, &back, NULL);

		if (cut > 0 && text[cut - 1] == '\n' && cut >= owner_end) {
			/* header and owner complete: a shorter, valid file */
			CU_ASSERT_EQUAL(rc, 0);
		} else {
			CU_ASSERT_EQUAL(rc, -EINVAL);
		}
	}
}

/* A file's text that is rejected (-EINVAL) at @line (0: as a whole). */
struct bad_file {
	const char *text;
	unsigned line;
};

static void expect_rejects(const struct bad_file *bad, size_t n)
{
	struct zr_route_state s;

	for (size_t i = 0; i < n; i++) {
		unsigned line = 77;
		int rc = parse_exact(bad[i].text, strlen(bad[i].text), &s, &line);

		if (rc != -EINVAL || line != bad[i].line)
			fprintf(stderr, "\n  case %zu: rc %d line %u\n", i, rc, line);
		CU_ASSERT_EQUAL(rc, -EINVAL);
		CU_ASSERT_EQUAL(line, bad[i].line);
	}
}

static void test_rejects(void)
{
	static const struct bad_file bad[] = {
		{ "", 0 },
		{ "ztun-ref-routes 1\n", 0 },                      /* no pid */
		{ "ztun-ref-routes 0\npid 1\n", 1 },
		{ "ztun-ref-routes 02\npid 1\n", 1 },
		{ "ztun-ref-routes 2x\npid 1\n", 1 },
		{ "ztun-ref-routes -2\npid 1\n", 1 },
		{ "ztun-ref-routes 99999999999\npid 1\n", 1 },
		{ "ztun-ref-routes  2\npid 1\n", 1 },
		{ "ztun-ref-routes 1 \npid 1\n", 1 },
		{ "pid 1\nztun-ref-routes 1\n", 1 },
		{ "ztun-ref-routes 1\npid 0\n", 2 },
		{ "ztun-ref-routes 1\npid -5\n", 2 },
		{ "ztun-ref-routes 1\npid 99999999999\n", 2 },
		{ "ztun-ref-routes 1\npid 12x\n", 2 },
		{ "ztun-ref-routes 1\npid 1 2\n", 2 },
		{ "ztun-ref-routes 1\npid 1\npid 2\n", 3 },
		{ "ztun-ref-routes 1\nroute 0.0.0.0/1 dev a\npid 1\n", 2 },
		{ "ztun-ref-routes 1\npid 1\nroute 0.0.0.0/33 dev a\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroute ::/129 dev a\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroute 0.0.0.0/ dev a\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroute 0.0.0.0/+1 dev a\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroute 0.0.0.0 dev a\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroute 1.2.3/8 dev a\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroute 1.2.3.4/32 dev\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroute 1.2.3.4/32 dev a b\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroute 1.2.3.4/32 dev a/b\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroute 1.2.3.4/32 dev abcdefghijklmnop\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroute 1.2.3.4/32 via ::1 dev a\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroute 1.2.3.4/32 via dev a\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroute 1.2.3.4/32 gw 1.1.1.1 dev a\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroutes 1.2.3.4/32 dev a\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroute 1.2.3.4/32 dev a", 3 }, /* no \n */
		{ "ztun-ref-routes 1\npid 1\n\x01\xff garbage\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nroute 1 2 3 4 5 6 7 8 9\n", 3 },
	};

	expect_rejects(bad, sizeof(bad) / sizeof(bad[0]));
}

/* Format 2's owner lines: pid, start and boot, each exactly once, before
 * any route; start and boot only in format 2. */
static void test_rejects_owner(void)
{
	static const struct bad_file bad[] = {
		{ "ztun-ref-routes 2\npid 1\n", 0 },             /* no start, boot */
		{ "ztun-ref-routes 2\npid 1\nstart 9\n", 0 },
		{ "ztun-ref-routes 2\npid 1\nboot " BOOT "\n", 0 },
		{ "ztun-ref-routes 2\nstart 9\nboot " BOOT "\n", 0 },
		{ "ztun-ref-routes 2\npid 1\nstart 9\nroute 0.0.0.0/1 dev a\n", 4 },
		{ HEAD2 "start 9\n", 5 },
		{ HEAD2 "boot " BOOT "\n", 5 },
		{ HEAD2 "pid 1\n", 5 },
		{ "ztun-ref-routes 2\npid 1\nstart 0\nboot " BOOT "\n", 3 },
		{ "ztun-ref-routes 2\npid 1\nstart 09\nboot " BOOT "\n", 3 },
		{ "ztun-ref-routes 2\npid 1\nstart -9\nboot " BOOT "\n", 3 },
		{ "ztun-ref-routes 2\npid 1\nstart 9x\nboot " BOOT "\n", 3 },
		{ "ztun-ref-routes 2\npid 1\nstart 9 9\nboot " BOOT "\n", 3 },
		{ "ztun-ref-routes 2\npid 1\nstart\nboot " BOOT "\n", 3 },
		{ "ztun-ref-routes 2\npid 1\nstart 18446744073709551616\nboot " BOOT "\n", 3 },
		{ "ztun-ref-routes 2\npid 1\nstart 9\nboot\n", 4 },
		{ "ztun-ref-routes 2\npid 1\nstart 9\nboot " BOOT " x\n", 4 },
		{ "ztun-ref-routes 2\npid 1\nstart 9\nboot " BOOT "0\n", 4 },
		{ "ztun-ref-routes 2\npid 1\nstart 9\nboot 0F1E2D3C-4b5a-4697-8877-665544332211\n", 4 },
		{ "ztun-ref-routes 2\npid 1\nstart 9\nboot 0f1e2d3c4b5a-4697-8877-6655443322110\n", 4 },
		{ "ztun-ref-routes 2\npid 1\nstart 9\nboot 0f1e2d3c-4b5a-4697-8877-66554433221g\n", 4 },
		/* format 1 has no owner but the pid */
		{ "ztun-ref-routes 1\npid 1\nstart 9\n", 3 },
		{ "ztun-ref-routes 1\npid 1\nboot " BOOT "\n", 3 },
	};
	static const char ok[] = "ztun-ref-routes 2\n# c\nboot " BOOT "\n"
				 "start 18446744073709551615\npid 2147483647\n";
	struct zr_route_state s;

	expect_rejects(bad, sizeof(bad) / sizeof(bad[0]));
	/* the largest start time, and the owner lines in any order */
	CU_ASSERT_EQUAL(parse_exact(ok, strlen(ok), &s, NULL), 0);
	CU_ASSERT_EQUAL(s.owner.start, UINT64_MAX);
	CU_ASSERT_EQUAL(s.owner.pid, INT32_MAX);
	CU_ASSERT_STRING_EQUAL(s.owner.boot, BOOT);
}

/* An older ztun-ref's file (format 1: its owner by pid alone) is read,
 * its owner's start unknown (0); such an owner is written as format 1
 * again (a failed start keeps listing a dead run's routes under its
 * pid), byte for byte. */
static void test_format1(void)
{
	static const char old[] = "ztun-ref-routes 1\npid 31337\n"
				  "route 192.0.2.10/32 via 10.0.2.2 dev eth0\n"
				  "route 0.0.0.0/1 dev ztun0\n";
	char text[ZR_ROUTE_STATE_BYTES];
	struct zr_route_state s;

	CU_ASSERT_EQUAL_FATAL(parse_exact(old, strlen(old), &s, NULL), 0);
	CU_ASSERT_EQUAL(s.version, 1);
	CU_ASSERT_EQUAL(s.owner.pid, 31337);
	CU_ASSERT_EQUAL(s.owner.start, 0);
	CU_ASSERT_STRING_EQUAL(s.owner.boot, "");
	CU_ASSERT_EQUAL(s.count, 2);
	CU_ASSERT_EQUAL(zr_route_state_format(&s, text, sizeof(text)),
			(int)strlen(old));
	CU_ASSERT_STRING_EQUAL(text, old);
}

static void test_nul_long_and_too_many(void)
{
	static const char nul[] = "ztun-ref-routes 1\npid 1\nroute 1.2.3.4/32\0 dev a\n";
	char text[ZR_ROUTE_STATE_BYTES * 2];
	struct zr_route_state s;
	unsigned line;
	size_t off;

	CU_ASSERT_EQUAL(parse_exact(nul, sizeof(nul) - 1, &s, &line), -EINVAL);
	CU_ASSERT_EQUAL(line, 3);

	/* a 300-byte line */
	off = (size_t)snprintf(text, sizeof(text), "ztun-ref-routes 1\npid 1\n# ");
	memset(text + off, 'x', 300);
	text[off + 300] = '\n';
	CU_ASSERT_EQUAL(parse_exact(text, off + 301, &s, &line), -EINVAL);
	CU_ASSERT_EQUAL(line, 3);

	/* comments and blank lines are fine; one route too many is not */
	off = (size_t)snprintf(text, sizeof(text), "ztun-ref-routes 1\n\n# c\npid 7\n");
	for (unsigned i = 0; i <= ZR_ROUTE_STATE_MAX; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"route 10.0.0.%u/32 dev a\n", i);
	CU_ASSERT_EQUAL(parse_exact(text, off, &s, &line), -E2BIG);
	CU_ASSERT_EQUAL(line, 4 + ZR_ROUTE_STATE_MAX + 1);
	off -= strlen("route 10.0.0.16/32 dev a\n");
	CU_ASSERT_EQUAL(parse_exact(text, off, &s, &line), 0);
	CU_ASSERT_EQUAL(s.count, ZR_ROUTE_STATE_MAX);
	CU_ASSERT_EQUAL(s.owner.pid, 7);
}

/* A file of a newer format (after a downgrade: its routes are those of a
 * newer ztun-ref) is told apart from a damaged one, whatever follows its
 * first line, and at any length: the caller must leave it alone. */
static void test_newer_format(void)
{
	static const char *const newer[] = {
		"ztun-ref-routes 3\npid 1\n",
		"ztun-ref-routes 3\nowner 1 since 2026\nroute 0.0.0.0/1 dev a table 7\n",
		"ztun-ref-routes 3\n",
		"ztun-ref-routes 3\ngarbage",
	};
	char dir[] = "/tmp/zt-routestate-XXXXXX", path[512];
	struct zr_route_state s;
	unsigned line = 77;
	FILE *f;

	for (size_t i = 0; i < sizeof(newer) / sizeof(newer[0]); i++) {
		CU_ASSERT_EQUAL(parse_exact(newer[i], strlen(newer[i]), &s, &line),
				-EPROTONOSUPPORT);
		CU_ASSERT_EQUAL(s.version, 3);
		CU_ASSERT_EQUAL(line, 1);
	}
	CU_ASSERT_EQUAL(parse_exact("ztun-ref-routes 17\n", 19, &s, NULL),
			-EPROTONOSUPPORT);
	CU_ASSERT_EQUAL(s.version, 17);
	CU_ASSERT_EQUAL(parse_exact("ztun-ref-routes 1\npid 3\n", 24, &s, NULL), 0);
	CU_ASSERT_EQUAL(s.version, 1);
	CU_ASSERT_EQUAL(parse_exact(HEAD2, strlen(HEAD2), &s, NULL), 0);
	CU_ASSERT_EQUAL(s.version, ZR_ROUTE_STATE_VERSION);

	/* a newer file longer than this version's limit: newer, not EFBIG */
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/ztun0.routes", dir);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("ztun-ref-routes 4\n", f);
	for (int i = 0; i < ZR_ROUTE_STATE_BYTES / 8 + 1; i++)
		fputs("# 45678\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(zr_route_state_read(path, &s, &line), -EPROTONOSUPPORT);
	CU_ASSERT_EQUAL(s.version, 4);
	CU_ASSERT_EQUAL(line, 1);
	unlink(path);
	CU_ASSERT_EQUAL(rmdir(dir), 0);
}

/* Random bytes and random mutations of a valid file: never a crash or an
 * over-read (ASan), and a success only with a sane result. */
static void test_garbage(void)
{
	struct zr_route_state s, back;
	char text[ZR_ROUTE_STATE_BYTES], buf[ZR_ROUTE_STATE_BYTES];
	struct zt_rng rng;
	int len;

	zt_rng_seed(&rng, zt_test_seed(0x5eed7a7e));
	sample(&s);
	len = zr_route_state_format(&s, text, sizeof(text));
	CU_ASSERT_FATAL(len > 0);
	for (int iter = 0; iter < 20000; iter++) {
		size_t n;
		int rc;

		if (iter % 2) {
			n = zt_rng_below(&rng, 300);
			for (size_t i = 0; i < n; i++)
				buf[i] = (char)zt_rng_next(&rng);
		} else {
			n = (size_t)len;
			memcpy(buf, text, n);
			for (int k = 0, m = 1 + (int)zt_rng_below(&rng, 4); k < m; k++)
				buf[zt_rng_below(&rng, (uint32_t)n)] =
					(char)zt_rng_next(&rng);
			n -= zt_rng_below(&rng, 3);
		}
		rc = parse_exact(buf, n, &back, NULL);
		CU_ASSERT(rc == 0 || rc == -EINVAL || rc == -E2BIG ||
			  (rc == -EPROTONOSUPPORT &&
			   back.version > ZR_ROUTE_STATE_VERSION));
		if (rc == 0) {
			CU_ASSERT(back.owner.pid > 0);
			CU_ASSERT(back.owner.start == 0 ||
				  zr_boot_id_ok(back.owner.boot));
			CU_ASSERT(back.count <= ZR_ROUTE_STATE_MAX);
			for (unsigned i = 0; i < back.count; i++)
				CU_ASSERT(back.routes[i].dev[0] != 0);
		}
	}
}

static void test_file_round_trip(void)
{
	char dir[] = "/tmp/zt-routestate-XXXXXX", path[512], sub[64];
	struct zr_route_state s, back;
	unsigned line;
	FILE *f;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	/* the state directory itself is created (one level) */
	snprintf(sub, sizeof(sub), "%s/ztun", dir);
	CU_ASSERT_EQUAL(zr_route_state_path(path, sizeof(path), sub, "ztun7"), 0);
	CU_ASSERT_EQUAL(zr_route_state_read(path, &back, &line), -ENOENT);
	sample(&s);
	CU_ASSERT_EQUAL(zr_route_state_write(path, &s), 0);
	CU_ASSERT_EQUAL(zr_route_state_read(path, &back, &line), 0);
	assert_same(&s, &back);
	/* overwrite: the new contents, nothing else left in the directory */
	s.count = 2;
	s.owner.pid = 5;
	CU_ASSERT_EQUAL(zr_route_state_write(path, &s), 0);
	CU_ASSERT_EQUAL(zr_route_state_read(path, &back, &line), 0);
	assert_same(&s, &back);
	/* a damaged file names its line; an oversized one is refused */
	f = fopen(path, "a");
	CU_ASSERT_FATAL(f != NULL);
	fputs("route 1.2.3.4/32 dev", f);
	fclose(f);
	CU_ASSERT_EQUAL(zr_route_state_read(path, &back, &line), -EINVAL);
	CU_ASSERT_EQUAL(line, 7);   /* 4 lines of header and owner, 2 routes */
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	for (int i = 0; i < ZR_ROUTE_STATE_BYTES / 8 + 1; i++)
		fputs("# 45678\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(zr_route_state_read(path, &back, &line), -EFBIG);
	CU_ASSERT_EQUAL(zr_route_state_path(path, 16, sub, "ztun7"), -ENAMETOOLONG);
	snprintf(path, sizeof(path), "%s/ztun7.routes", sub);
	unlink(path);
	rmdir(sub);
	CU_ASSERT_EQUAL(rmdir(dir), 0);
}

/* zr_route_state_read() of @path in a child: its result (a negative errno
 * as a positive exit status), or -1 when it has not returned within 2 s
 * (killed then). */
static int read_in_child(const char *path)
{
	struct zr_route_state back;
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	int status;
	pid_t pid = fork();

	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0)
		_exit(-zr_route_state_read(path, &back, NULL) & 0xff);
	for (int i = 0; i < 200; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		nanosleep(&nap, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* A FIFO (nobody writing) or a directory where the state file should be
 * is refused at once, not read: the FIFO would block the start forever. */
static void test_read_not_regular(void)
{
	char dir[] = "/tmp/zt-routestate-XXXXXX", path[512];

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/fifo.routes", dir);
	CU_ASSERT_FATAL(mkfifo(path, 0600) == 0);
	CU_ASSERT_EQUAL(read_in_child(path), ENXIO);
	CU_ASSERT_EQUAL(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/dir.routes", dir);
	CU_ASSERT_FATAL(mkdir(path, 0700) == 0);
	CU_ASSERT_EQUAL(read_in_child(path), ENXIO);
	CU_ASSERT_EQUAL(rmdir(path), 0);
	CU_ASSERT_EQUAL(rmdir(dir), 0);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The names in @dir (no "." and ".."), sorted into one line. */
static void dir_list(const char *dir, char *out, size_t cap)
{
	char names[8][256];
	unsigned n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	CU_ASSERT_FATAL(d != NULL);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && n < 8)
			snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	out[0] = 0;
	for (unsigned i = 0; i < n; i++)
		snprintf(out + strlen(out), cap - strlen(out), "%s%s",
			 i ? " " : "", names[i]);
}

/* A file that another user could plant under the temporary file's old
 * name (PATH.tmp.PID: a hard link to someone else's file) is neither
 * truncated nor written through, nor renamed into place: the temporary
 * file is a new one (O_EXCL), and nothing but the state file is left. */
static void test_write_temp_exclusive(void)
{
	char dir[] = "/tmp/zt-routestate-XXXXXX", path[512], victim[600],
	     planted[600], got[64] = "", names[1024], want[1024];
	struct zr_route_state s, back;
	FILE *f;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	CU_ASSERT_EQUAL(zr_route_state_path(path, sizeof(path), dir, "ztun7"), 0);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(planted, sizeof(planted), "%s.tmp.%ld", path, (long)getpid());
	f = fopen(victim, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("someone else's\n", f);
	fclose(f);
	CU_ASSERT_FATAL(link(victim, planted) == 0);
	sample(&s);
	CU_ASSERT_EQUAL(zr_route_state_write(path, &s), 0);
	CU_ASSERT_EQUAL(zr_route_state_read(path, &back, NULL), 0);
	assert_same(&s, &back);
	f = fopen(victim, "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT(fgets(got, sizeof(got), f) != NULL);
	fclose(f);
	CU_ASSERT_STRING_EQUAL(got, "someone else's\n");
	dir_list(dir, names, sizeof(names));
	snprintf(want, sizeof(want), "victim ztun7.routes ztun7.routes.tmp.%ld",
		 (long)getpid());
	CU_ASSERT_STRING_EQUAL(names, want);
	unlink(planted);
	unlink(victim);
	unlink(path);
	CU_ASSERT_EQUAL(rmdir(dir), 0);
}

int zt_suite_routestate(void)
{
	static const struct zt_test_case cases[] = {
		{ "round trip", test_round_trip },
		{ "format limits", test_format_limits },
		{ "truncated", test_truncated },
		{ "rejects", test_rejects },
		{ "rejects: owner lines", test_rejects_owner },
		{ "format 1 read and kept", test_format1 },
		{ "nul, long line, too many", test_nul_long_and_too_many },
		{ "newer format", test_newer_format },
		{ "garbage", test_garbage },
		{ "file round trip", test_file_round_trip },
		{ "read refuses a FIFO, a directory", test_read_not_regular },
		{ "write: temporary file exclusive", test_write_temp_exclusive },
		{ 0 },
	};

	return zt_add_suite("routestate", NULL, NULL, cases);
}
