/* SPDX-License-Identifier: MIT */
/*
 * test_socks5.c - the SOCKS5 client against byte strings written out from
 * RFC 1928/1929 by hand, every reply code whole and byte by byte, and a
 * property test: seeded garbage, truncated and oversize proxy streams, split
 * at random points into exactly sized heap copies (so ASan sees any
 * over-read), must give what a separate whole-buffer reference parser says.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ztun/rng.h"
#include "ztun/socks5.h"

static struct zt_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	const uint8_t x[4] = { a, b, c, d };

	return zt_addr_v4(x);
}

static struct zt_addr v6_doc1(void)
{
	const uint8_t x[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				0, 0, 0, 0, 0, 0, 0, 1 };

	return zt_addr_v6(x);
}

/* Feed @len bytes as one exactly sized heap copy; output into an exactly
 * sized ZT_SOCKS5_OUT_MAX buffer. Appends the output to @acc. */
static int feed(struct zt_socks5 *c, const uint8_t *in, size_t len,
		uint8_t *acc, size_t *acc_len, size_t *consumed)
{
	uint8_t *copy = zt_test_dup_exact(in, len);
	uint8_t *out = malloc(ZT_SOCKS5_OUT_MAX);
	size_t olen = 0;
	int rc;

	CU_ASSERT_FATAL(out != NULL);
	rc = zt_socks5_input(c, copy, len, out, ZT_SOCKS5_OUT_MAX, &olen, consumed);
	CU_ASSERT(*consumed <= len);
	CU_ASSERT(olen <= ZT_SOCKS5_OUT_MAX);
	if (acc && olen) {
		memcpy(acc + *acc_len, out, olen);
		*acc_len += olen;
	}
	free(out);
	free(copy);
	return rc;
}

static void start(struct zt_socks5 *c, const uint8_t *want, size_t wlen)
{
	uint8_t g[ZT_SOCKS5_GREETING_MAX];
	int n = zt_socks5_start(c, g, sizeof(g));

	CU_ASSERT_EQUAL_FATAL(n, (int)wlen);
	CU_ASSERT(memcmp(g, want, wlen) == 0);
}

static void test_greeting_and_requests(void)
{
	static const uint8_t g_noauth[] = { 5, 1, 0 };
	static const uint8_t g_auth[] = { 5, 2, 0, 2 };
	static const uint8_t req4[] = { 5, 1, 0, 1, 192, 0, 2, 1, 0x01, 0xbb };
	static const uint8_t req6[] = { 5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8,
					0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
					0x1f, 0x90 };
	static const uint8_t reqd[] = { 5, 1, 0, 3, 11, 'e', 'x', 'a', 'm', 'p',
					'l', 'e', '.', 'c', 'o', 'm', 0, 80 };
	static const uint8_t auth[] = { 1, 4, 'u', 's', 'e', 'r', 5, 's', 'e',
					'c', 'r', 't' };
	static const uint8_t udp[] = { 5, 3, 0, 1, 0, 0, 0, 0, 0, 0 };
	static const uint8_t m_none[] = { 5, 0 }, m_up[] = { 5, 2 };
	static const uint8_t auth_ok[] = { 1, 0 };
	struct zt_socks5 c;
	struct zt_socks5_addr t;
	struct zt_addr a4 = v4(192, 0, 2, 1), a6 = v6_doc1();
	uint8_t acc[2048];
	size_t alen, used;
	int rc;

	/* IPv4 target, no auth. */
	zt_socks5_init(&c, ZT_SOCKS5_CMD_CONNECT);
	zt_socks5_addr_ip(&t, &a4, 443);
	CU_ASSERT_EQUAL(zt_socks5_set_target(&c, &t), 0);
	start(&c, g_noauth, sizeof(g_noauth));
	alen = 0;
	rc = feed(&c, m_none, 2, acc, &alen, &used);
	CU_ASSERT_EQUAL(rc, ZT_SOCKS5_IN_PROGRESS);
	CU_ASSERT_EQUAL(used, 2);
	CU_ASSERT_EQUAL_FATAL(alen, sizeof(req4));
	CU_ASSERT(memcmp(acc, req4, sizeof(req4)) == 0);

	/* IPv6 target. */
	zt_socks5_init(&c, ZT_SOCKS5_CMD_CONNECT);
	zt_socks5_addr_ip(&t, &a6, 8080);
	CU_ASSERT_EQUAL(zt_socks5_set_target(&c, &t), 0);
	start(&c, g_noauth, sizeof(g_noauth));
	alen = 0;
	feed(&c, m_none, 2, acc, &alen, &used);
	CU_ASSERT_EQUAL_FATAL(alen, sizeof(req6));
	CU_ASSERT(memcmp(acc, req6, sizeof(req6)) == 0);

	/* Domain target, user/pass offered and chosen. */
	zt_socks5_init(&c, ZT_SOCKS5_CMD_CONNECT);
	CU_ASSERT_EQUAL(zt_socks5_addr_name(&t, "example.com", 11, 80), 0);
	CU_ASSERT_EQUAL(zt_socks5_set_target(&c, &t), 0);
	CU_ASSERT_EQUAL(zt_socks5_set_auth(&c, "user", 4, "secrt", 5), 0);
	start(&c, g_auth, sizeof(g_auth));
	alen = 0;
	rc = feed(&c, m_up, 2, acc, &alen, &used);
	CU_ASSERT_EQUAL(rc, ZT_SOCKS5_IN_PROGRESS);
	CU_ASSERT_EQUAL_FATAL(alen, sizeof(auth));
	CU_ASSERT(memcmp(acc, auth, sizeof(auth)) == 0);
	alen = 0;
	rc = feed(&c, auth_ok, 2, acc, &alen, &used);
	CU_ASSERT_EQUAL(rc, ZT_SOCKS5_IN_PROGRESS);
	CU_ASSERT_EQUAL_FATAL(alen, sizeof(reqd));
	CU_ASSERT(memcmp(acc, reqd, sizeof(reqd)) == 0);

	/* An empty password goes as PLEN 0 (RFC 1929 asks for 1..255; curl
	 * sends it so, danted hands it to its password check, microsocks
	 * refuses it with status 1: auth_failed), pipelined too. */
	{
		static const uint8_t auth_empty[] = { 1, 3, 'b', 'o', 'b', 0 };
		static const uint8_t g_pipe[] = { 5, 1, 2, 1, 3, 'b', 'o', 'b', 0 };

		for (int pipe = 0; pipe < 2; pipe++) {
			zt_socks5_init(&c, ZT_SOCKS5_CMD_CONNECT);
			zt_socks5_addr_ip(&t, &a4, 443);
			zt_socks5_set_target(&c, &t);
			CU_ASSERT_EQUAL(zt_socks5_set_auth(&c, "bob", 3, NULL, 0), 0);
			if (pipe) {
				zt_socks5_set_pipelined(&c);
				alen = (size_t)zt_socks5_start(&c, acc, sizeof(acc));
				CU_ASSERT_EQUAL_FATAL(alen, sizeof(g_pipe) + sizeof(req4));
				CU_ASSERT(memcmp(acc, g_pipe, sizeof(g_pipe)) == 0);
				continue;
			}
			start(&c, g_auth, sizeof(g_auth));
			alen = 0;
			feed(&c, m_up, 2, acc, &alen, &used);
			CU_ASSERT_EQUAL_FATAL(alen, sizeof(auth_empty));
			CU_ASSERT(memcmp(acc, auth_empty, sizeof(auth_empty)) == 0);
		}
	}

	/* Credentials set, but the proxy picks "no auth": straight to the request. */
	zt_socks5_init(&c, ZT_SOCKS5_CMD_CONNECT);
	zt_socks5_addr_ip(&t, &a4, 443);
	zt_socks5_set_target(&c, &t);
	zt_socks5_set_auth(&c, "user", 4, "secrt", 5);
	start(&c, g_auth, sizeof(g_auth));
	alen = 0;
	feed(&c, m_none, 2, acc, &alen, &used);
	CU_ASSERT_EQUAL_FATAL(alen, sizeof(req4));
	CU_ASSERT(memcmp(acc, req4, sizeof(req4)) == 0);

	/* UDP ASSOCIATE without a target sends 0.0.0.0:0. */
	zt_socks5_init(&c, ZT_SOCKS5_CMD_UDP_ASSOCIATE);
	start(&c, g_noauth, sizeof(g_noauth));
	alen = 0;
	feed(&c, m_none, 2, acc, &alen, &used);
	CU_ASSERT_EQUAL_FATAL(alen, sizeof(udp));
	CU_ASSERT(memcmp(acc, udp, sizeof(udp)) == 0);
}

/*
 * Pipelined (zt_socks5_set_pipelined()): the greeting offers exactly one
 * method and carries the RFC 1929 request (with credentials) and the
 * command request behind it, so the proxy's replies come in one round
 * trip; the replies are then only read, whole or byte by byte, and a
 * proxy choosing another method than the one offered fails the handshake.
 */
static void test_pipelined(void)
{
	static const uint8_t want_noauth[] = { 5, 1, 0,
					       5, 1, 0, 1, 192, 0, 2, 1, 0x01, 0xbb };
	static const uint8_t want_auth[] = { 5, 1, 2,
					     1, 4, 'u', 's', 'e', 'r', 5, 's', 'e', 'c', 'r', 't',
					     5, 1, 0, 1, 192, 0, 2, 1, 0x01, 0xbb };
	static const uint8_t rep_noauth[] = { 5, 0, 5, 0, 0, 1, 10, 0, 0, 1, 0x30, 0x39,
					      'd', 'a', 't', 'a' };
	static const uint8_t rep_auth[] = { 5, 2, 1, 0, 5, 0, 0, 1, 10, 0, 0, 1, 0x30, 0x39 };
	static const uint8_t pick_none[] = { 5, 0 };
	struct zt_socks5_addr t;
	struct zt_addr a4 = v4(192, 0, 2, 1);
	uint8_t g[ZT_SOCKS5_PIPELINED_MAX], acc[64];
	size_t alen, used, total;
	int rc;

	for (int split = 0; split < 2; split++) {
		for (int auth = 0; auth < 2; auth++) {
			struct zt_socks5 c;
			const uint8_t *rep = auth ? rep_auth : rep_noauth;
			size_t rlen = auth ? sizeof(rep_auth) : sizeof(rep_noauth);
			const uint8_t *want = auth ? want_auth : want_noauth;
			size_t wlen = auth ? sizeof(want_auth) : sizeof(want_noauth);

			zt_socks5_init(&c, ZT_SOCKS5_CMD_CONNECT);
			zt_socks5_addr_ip(&t, &a4, 443);
			zt_socks5_set_target(&c, &t);
			if (auth)
				zt_socks5_set_auth(&c, "user", 4, "secrt", 5);
			zt_socks5_set_pipelined(&c);
			CU_ASSERT_EQUAL(zt_socks5_start(&c, g, wlen - 1), -ENOSPC);
			CU_ASSERT_EQUAL_FATAL(zt_socks5_start(&c, g, sizeof(g)), (int)wlen);
			CU_ASSERT(memcmp(g, want, wlen) == 0);
			alen = 0;
			total = 0;
			rc = ZT_SOCKS5_IN_PROGRESS;
			if (split) {
				for (size_t i = 0; i < rlen && rc == ZT_SOCKS5_IN_PROGRESS; i++) {
					rc = feed(&c, rep + i, 1, acc, &alen, &used);
					total += used;
				}
			} else {
				rc = feed(&c, rep, rlen, acc, &alen, &used);
				total = used;
			}
			CU_ASSERT_EQUAL(rc, ZT_SOCKS5_READY);
			CU_ASSERT_EQUAL(alen, 0); /* everything went with the greeting */
			/* without auth, 4 bytes of tunnel data follow the reply */
			CU_ASSERT_EQUAL(total, auth ? rlen : rlen - 4);
		}
	}
	/* Credentials offered alone, the proxy picks "no auth": it would
	 * read our RFC 1929 request as its command request, so fail. */
	{
		struct zt_socks5 c;

		zt_socks5_init(&c, ZT_SOCKS5_CMD_CONNECT);
		zt_socks5_addr_ip(&t, &a4, 443);
		zt_socks5_set_target(&c, &t);
		zt_socks5_set_auth(&c, "user", 4, "secrt", 5);
		zt_socks5_set_pipelined(&c);
		CU_ASSERT_FATAL(zt_socks5_start(&c, g, sizeof(g)) > 0);
		alen = 0;
		rc = feed(&c, pick_none, sizeof(pick_none), acc, &alen, &used);
		CU_ASSERT_EQUAL(rc, ZT_SOCKS5_FAILED);
		CU_ASSERT_EQUAL(zt_socks5_outcome(&c), ZT_SOCKS5_UNOFFERED_METHOD);
		CU_ASSERT_EQUAL(alen, 0);
	}
}

static void test_config_errors(void)
{
	struct zt_socks5 c;
	struct zt_socks5_addr t;
	uint8_t out[ZT_SOCKS5_OUT_MAX], in[2] = { 5, 0 };
	char name[300];
	size_t olen, used;
	struct zt_addr a4 = v4(10, 0, 0, 1);

	memset(name, 'a', sizeof(name));
	CU_ASSERT_EQUAL(zt_socks5_addr_name(&t, name, 0, 1), -EINVAL);
	CU_ASSERT_EQUAL(zt_socks5_addr_name(&t, name, 256, 1), -EINVAL);
	CU_ASSERT_EQUAL(zt_socks5_addr_name(&t, name, 255, 1), 0);

	zt_socks5_init(&c, ZT_SOCKS5_CMD_CONNECT);
	CU_ASSERT_EQUAL(zt_socks5_input(&c, in, 2, out, sizeof(out), &olen, &used),
			-EINVAL);
	CU_ASSERT_EQUAL(zt_socks5_start(&c, out, sizeof(out)), -EDESTADDRREQ);
	CU_ASSERT_EQUAL(zt_socks5_set_auth(&c, name, 0, name, 1), -EINVAL);
	CU_ASSERT_EQUAL(zt_socks5_set_auth(&c, name, 256, name, 1), -EINVAL);
	CU_ASSERT_EQUAL(zt_socks5_set_auth(&c, name, 1, name, 256), -EINVAL);
	CU_ASSERT_EQUAL(zt_socks5_set_auth(&c, name, 255, name, 255), 0);
	zt_socks5_addr_name(&t, name, 255, 1);
	CU_ASSERT_EQUAL(zt_socks5_set_target(&c, &t), 0);
	CU_ASSERT_EQUAL(zt_socks5_start(&c, out, 3), -ENOSPC);
	CU_ASSERT_EQUAL(zt_socks5_start(&c, out, 4), 4);
	CU_ASSERT_EQUAL(zt_socks5_start(&c, out, 4), -EALREADY);
	CU_ASSERT_EQUAL(zt_socks5_set_target(&c, &t), -EINVAL);
	/* Longest possible output: both requests at once must fit OUT_MAX,
	 * and one byte less is refused without consuming anything. */
	CU_ASSERT_EQUAL(zt_socks5_input(&c, in, 2, out, ZT_SOCKS5_OUT_MAX - 1,
					&olen, &used), -ENOSPC);
	CU_ASSERT_EQUAL(used, 0);
	{
		const uint8_t both[] = { 5, 2, 1, 0 };

		CU_ASSERT_EQUAL(zt_socks5_input(&c, both, 4, out, ZT_SOCKS5_OUT_MAX,
						&olen, &used), ZT_SOCKS5_IN_PROGRESS);
		CU_ASSERT_EQUAL(used, 4);
		CU_ASSERT_EQUAL(olen, ZT_SOCKS5_OUT_MAX);
	}
	zt_socks5_init(&c, ZT_SOCKS5_CMD_CONNECT);
	t.atyp = 2;
	CU_ASSERT_EQUAL(zt_socks5_set_target(&c, &t), -EINVAL);
	zt_socks5_addr_ip(&t, &a4, 1);
	t.ip.family = ZT_AF_INET6;
	CU_ASSERT_EQUAL(zt_socks5_set_target(&c, &t), -EINVAL);
}

/* A started no-auth CONNECT to 192.0.2.1:443 that has had its method reply. */
static void at_reply(struct zt_socks5 *c)
{
	static const uint8_t g[] = { 5, 1, 0 }, m[] = { 5, 0 };
	struct zt_socks5_addr t;
	struct zt_addr a4 = v4(192, 0, 2, 1);
	size_t used, alen = 0;
	uint8_t acc[ZT_SOCKS5_OUT_MAX];

	zt_socks5_init(c, ZT_SOCKS5_CMD_CONNECT);
	zt_socks5_addr_ip(&t, &a4, 443);
	zt_socks5_set_target(c, &t);
	start(c, g, sizeof(g));
	CU_ASSERT_EQUAL_FATAL(feed(c, m, 2, acc, &alen, &used), ZT_SOCKS5_IN_PROGRESS);
}

static enum zt_socks5_outcome rep_outcome(uint8_t rep)
{
	static const enum zt_socks5_outcome map[9] = {
		ZT_SOCKS5_OK, ZT_SOCKS5_GENERAL_FAILURE, ZT_SOCKS5_NOT_ALLOWED,
		ZT_SOCKS5_NET_UNREACH, ZT_SOCKS5_HOST_UNREACH,
		ZT_SOCKS5_CONN_REFUSED, ZT_SOCKS5_TTL_EXPIRED,
		ZT_SOCKS5_CMD_UNSUPPORTED, ZT_SOCKS5_ATYP_UNSUPPORTED,
	};

	return rep < 9 ? map[rep] : ZT_SOCKS5_UNKNOWN_REPLY;
}

static void test_reply_codes(void)
{
	static const uint8_t reps[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x7f, 0xff };
	const char *seen[sizeof(reps)];

	for (size_t k = 0; k < sizeof(reps); k++) {
		uint8_t r[] = { 5, reps[k], 0, 1, 10, 0, 0, 1, 0x04, 0x38 };
		enum zt_socks5_outcome want = rep_outcome(reps[k]);
		int want_state = reps[k] ? ZT_SOCKS5_FAILED : ZT_SOCKS5_READY;
		/* A failing REP ends the handshake at its own byte. */
		size_t decisive = reps[k] ? 2 : sizeof(r);
		struct zt_socks5 c;
		size_t used, total = 0;
		int rc;

		/* Whole. */
		at_reply(&c);
		rc = feed(&c, r, sizeof(r), NULL, NULL, &used);
		CU_ASSERT_EQUAL(rc, want_state);
		CU_ASSERT_EQUAL(zt_socks5_outcome(&c), want);
		CU_ASSERT_EQUAL(used, decisive);
		seen[k] = zt_socks5_outcome_name(want);
		if (!reps[k]) {
			struct zt_addr exp = v4(10, 0, 0, 1);

			CU_ASSERT_EQUAL(c.bnd.atyp, ZT_SOCKS5_ATYP_IPV4);
			CU_ASSERT(zt_addr_eq(&c.bnd.ip, &exp));
			CU_ASSERT_EQUAL(c.bnd.port, 1080);
			CU_ASSERT(!c.bnd_unspecified);
		} else {
			CU_ASSERT_EQUAL(c.rep, reps[k]);
		}

		/* Byte by byte. */
		at_reply(&c);
		for (size_t i = 0; i < sizeof(r); i++) {
			rc = feed(&c, r + i, 1, NULL, NULL, &used);
			total += used;
			if (i + 1 < decisive) {
				CU_ASSERT_EQUAL(rc, ZT_SOCKS5_IN_PROGRESS);
				CU_ASSERT_EQUAL(used, 1);
			} else {
				CU_ASSERT_EQUAL(rc, want_state);
			}
		}
		CU_ASSERT_EQUAL(total, decisive);
		CU_ASSERT_EQUAL(zt_socks5_outcome(&c), want);
	}
	/* Every outcome has its own name. */
	for (int o = 0; o < ZT_SOCKS5__COUNT; o++) {
		CU_ASSERT_STRING_NOT_EQUAL(zt_socks5_outcome_name(o), "unknown");
		for (int p = 0; p < o; p++)
			CU_ASSERT_STRING_NOT_EQUAL(zt_socks5_outcome_name(o),
						   zt_socks5_outcome_name(p));
	}
	CU_ASSERT_STRING_EQUAL(zt_socks5_outcome_name(ZT_SOCKS5__COUNT), "unknown");
	CU_ASSERT_STRING_EQUAL(seen[5], "connection_refused");
}

static void test_method_and_auth_failures(void)
{
	static const uint8_t g[] = { 5, 2, 0, 2 };
	struct {
		uint8_t in[4];
		size_t len;
		enum zt_socks5_outcome want;
		size_t used;
	} cases[] = {
		{ { 5, 0xff }, 2, ZT_SOCKS5_NO_ACCEPTABLE_METHOD, 2 },
		{ { 5, 0x01 }, 2, ZT_SOCKS5_UNOFFERED_METHOD, 2 },
		{ { 4, 0x00 }, 2, ZT_SOCKS5_BAD_VERSION, 1 },
		{ { 5, 2, 1, 1 }, 4, ZT_SOCKS5_AUTH_FAILED, 4 },
		{ { 5, 2, 1, 0xff }, 4, ZT_SOCKS5_AUTH_FAILED, 4 },
		{ { 5, 2, 5, 0 }, 4, ZT_SOCKS5_BAD_VERSION, 3 },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		for (int split = 0; split < 2; split++) {
			struct zt_socks5 c;
			struct zt_socks5_addr t;
			struct zt_addr a = v4(1, 2, 3, 4);
			size_t used, total = 0, alen = 0;
			uint8_t acc[2048];
			int rc = -1;

			zt_socks5_init(&c, ZT_SOCKS5_CMD_CONNECT);
			zt_socks5_addr_ip(&t, &a, 80);
			zt_socks5_set_target(&c, &t);
			zt_socks5_set_auth(&c, "u", 1, "p", 1);
			start(&c, g, sizeof(g));
			if (split) {
				for (size_t i = 0; i < cases[k].len; i++) {
					rc = feed(&c, cases[k].in + i, 1, acc, &alen, &used);
					total += used;
				}
			} else {
				rc = feed(&c, cases[k].in, cases[k].len, acc, &alen, &total);
			}
			CU_ASSERT_EQUAL(rc, ZT_SOCKS5_FAILED);
			CU_ASSERT_EQUAL(zt_socks5_outcome(&c), cases[k].want);
			CU_ASSERT_EQUAL(total, cases[k].used);
			CU_ASSERT_EQUAL(zt_socks5_refuse(cases[k].want), ZT_REFUSE_RST);
		}
	}
	/* 0x02 chosen though no credentials were offered. */
	{
		static const uint8_t g1[] = { 5, 1, 0 }, m[] = { 5, 2 };
		struct zt_socks5 c;
		struct zt_socks5_addr t;
		struct zt_addr a = v4(1, 2, 3, 4);
		size_t used;

		zt_socks5_init(&c, ZT_SOCKS5_CMD_CONNECT);
		zt_socks5_addr_ip(&t, &a, 80);
		zt_socks5_set_target(&c, &t);
		start(&c, g1, sizeof(g1));
		CU_ASSERT_EQUAL(feed(&c, m, 2, NULL, NULL, &used), ZT_SOCKS5_FAILED);
		CU_ASSERT_EQUAL(zt_socks5_outcome(&c), ZT_SOCKS5_UNOFFERED_METHOD);
	}
}

static void test_malformed_replies(void)
{
	struct {
		uint8_t in[8];
		size_t len, used;
	} cases[] = {
		{ { 6, 0, 0, 1 }, 4, 1 },       /* VER */
		{ { 5, 0, 1, 1 }, 4, 3 },       /* RSV */
		{ { 5, 0, 0, 2 }, 4, 4 },       /* ATYP */
		{ { 5, 0, 0, 0 }, 4, 4 },
		{ { 5, 0, 0, 5 }, 4, 4 },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct zt_socks5 c;
		size_t used;

		at_reply(&c);
		CU_ASSERT_EQUAL(feed(&c, cases[k].in, cases[k].len, NULL, NULL, &used),
				ZT_SOCKS5_FAILED);
		CU_ASSERT_EQUAL(zt_socks5_outcome(&c),
				k == 0 ? ZT_SOCKS5_BAD_VERSION : ZT_SOCKS5_MALFORMED);
		CU_ASSERT_EQUAL(used, cases[k].used);
		/* Done: nothing more is consumed. */
		CU_ASSERT_EQUAL(feed(&c, cases[k].in, cases[k].len, NULL, NULL, &used),
				ZT_SOCKS5_FAILED);
		CU_ASSERT_EQUAL(used, 0);
	}
}

/* A loopback BND.ADDR (127.0.0.0/8, ::1: a proxy that reports the
 * address it bound on its own side, behind NAT or in a container) means
 * the proxy's own address unless the proxy itself is on loopback. */
static void test_udp_associate_loopback(void)
{
	static const uint8_t g[] = { 5, 1, 0 }, m[] = { 5, 0 };
	static const uint8_t r4[] = { 5, 0, 0, 1, 127, 0, 0, 1, 0x9c, 0x40 };
	static const uint8_t r4b[] = { 5, 0, 0, 1, 127, 9, 8, 7, 0x9c, 0x40 };
	static const uint8_t r6[] = { 5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0,
				      0, 0, 0, 0, 0, 0, 0, 1, 0x9c, 0x40 };
	const struct {
		const uint8_t *r;
		size_t len;
	} cases[] = { { r4, sizeof(r4) }, { r4b, sizeof(r4b) }, { r6, sizeof(r6) } };
	struct zt_endpoint remote = { .addr = v4(203, 0, 113, 7), .port = 1080 };
	struct zt_endpoint local = { .addr = v4(127, 0, 0, 1), .port = 1080 };
	struct zt_endpoint named = { .port = 1080 };

	strcpy(named.name, "proxy.example");
	for (size_t k = 0; k < 3; k++) {
		struct zt_socks5 c;
		struct zt_socks5_addr relay;
		size_t used;

		zt_socks5_init(&c, ZT_SOCKS5_CMD_UDP_ASSOCIATE);
		start(&c, g, sizeof(g));
		feed(&c, m, 2, NULL, NULL, &used);
		CU_ASSERT_EQUAL_FATAL(feed(&c, cases[k].r, cases[k].len, NULL, NULL,
					   &used), ZT_SOCKS5_READY);
		/* a remote proxy: its own address, BND.PORT */
		CU_ASSERT_EQUAL_FATAL(zt_socks5_relay_endpoint(&c, &remote, &relay), 0);
		CU_ASSERT(zt_addr_eq(&relay.ip, &remote.addr));
		CU_ASSERT_EQUAL(relay.port, 0x9c40);
		/* one known by name: that name */
		CU_ASSERT_EQUAL_FATAL(zt_socks5_relay_endpoint(&c, &named, &relay), 0);
		CU_ASSERT_EQUAL(relay.atyp, ZT_SOCKS5_ATYP_DOMAIN);
		/* a proxy on loopback: BND.ADDR as it is */
		CU_ASSERT_EQUAL_FATAL(zt_socks5_relay_endpoint(&c, &local, &relay), 0);
		CU_ASSERT_EQUAL(relay.ip.family, k == 2 ? ZT_AF_INET6 : ZT_AF_INET);
		CU_ASSERT_EQUAL(relay.ip.bytes[k == 2 ? 15 : 3], k == 1 ? 7 : 1);
	}
}

/* A BND.ADDR no relay can have (multicast, IPv4 class E or broadcast,
 * 0/8 other than 0.0.0.0) is refused: datagrams sent there would go to
 * a group or the local network, never to the proxy. An IPv4-mapped IPv6
 * one (::ffff:a.b.c.d) is that IPv4 address: replies come from it. */
static void test_udp_associate_odd_bnd(void)
{
	static const uint8_t g[] = { 5, 1, 0 }, m[] = { 5, 0 };
	static const uint8_t mc4[] = { 5, 0, 0, 1, 224, 0, 0, 251, 0x9c, 0x40 };
	static const uint8_t bc4[] = { 5, 0, 0, 1, 255, 255, 255, 255, 0x9c, 0x40 };
	static const uint8_t e4[] = { 5, 0, 0, 1, 240, 1, 2, 3, 0x9c, 0x40 };
	static const uint8_t tn4[] = { 5, 0, 0, 1, 0, 1, 2, 3, 0x9c, 0x40 };
	static const uint8_t mc6[] = { 5, 0, 0, 4, 0xff, 2, 0, 0, 0, 0, 0, 0,
				       0, 0, 0, 0, 0, 0, 0, 1, 0x9c, 0x40 };
	static const uint8_t mapped[] = { 5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0,
					  0, 0, 0xff, 0xff, 198, 51, 100, 7,
					  0x9c, 0x40 };
	const struct {
		const uint8_t *r;
		size_t len;
	} bad[] = { { mc4, sizeof(mc4) }, { bc4, sizeof(bc4) }, { e4, sizeof(e4) },
		    { tn4, sizeof(tn4) }, { mc6, sizeof(mc6) } };
	struct zt_endpoint proxy = { .addr = v4(203, 0, 113, 7), .port = 1080 };
	struct zt_socks5 c;
	struct zt_socks5_addr relay;
	struct zt_addr exp = v4(198, 51, 100, 7);
	size_t used;

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		zt_socks5_init(&c, ZT_SOCKS5_CMD_UDP_ASSOCIATE);
		start(&c, g, sizeof(g));
		feed(&c, m, 2, NULL, NULL, &used);
		CU_ASSERT_EQUAL_FATAL(feed(&c, bad[k].r, bad[k].len, NULL, NULL,
					   &used), ZT_SOCKS5_READY);
		CU_ASSERT_EQUAL(zt_socks5_relay_endpoint(&c, &proxy, &relay), -EINVAL);
	}
	zt_socks5_init(&c, ZT_SOCKS5_CMD_UDP_ASSOCIATE);
	start(&c, g, sizeof(g));
	feed(&c, m, 2, NULL, NULL, &used);
	CU_ASSERT_EQUAL_FATAL(feed(&c, mapped, sizeof(mapped), NULL, NULL, &used),
			      ZT_SOCKS5_READY);
	CU_ASSERT_EQUAL_FATAL(zt_socks5_relay_endpoint(&c, &proxy, &relay), 0);
	CU_ASSERT_EQUAL(relay.atyp, ZT_SOCKS5_ATYP_IPV4);
	CU_ASSERT(zt_addr_eq(&relay.ip, &exp));
	CU_ASSERT_EQUAL(relay.port, 0x9c40);
}

static void test_udp_associate_unspecified(void)
{
	static const uint8_t g[] = { 5, 1, 0 }, m[] = { 5, 0 };
	static const uint8_t r4[] = { 5, 0, 0, 1, 0, 0, 0, 0, 0x9c, 0x40 };
	static const uint8_t r6[] = { 5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0,
				      0, 0, 0, 0, 0, 0, 0, 0, 0x9c, 0x41 };
	static const uint8_t rset[] = { 5, 0, 0, 1, 198, 51, 100, 7, 0x9c, 0x42 };
	static const uint8_t rdom[] = { 5, 0, 0, 3, 5, 'r', 'e', 'l', 'a', 'y', 0x9c, 0x43 };
	/* ::ffff:0.0.0.0 is 0.0.0.0, as any IPv4-mapped BND.ADDR is its
	 * IPv4 address (a dual-stack proxy's socket may say so) */
	static const uint8_t rmap[] = { 5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0,
					0, 0, 0xff, 0xff, 0, 0, 0, 0, 0x9c, 0x44 };
	const struct {
		const uint8_t *r;
		size_t len;
		bool unspec; /* BND.ADDR unspecified */
		bool proxy;  /* the relay is the proxy's host */
	} cases[] = {
		{ r4, sizeof(r4), true, true }, { r6, sizeof(r6), true, true },
		{ rset, sizeof(rset), false, false },
		/* a name: not resolved, taken for the proxy's own */
		{ rdom, sizeof(rdom), false, true },
		{ rmap, sizeof(rmap), true, true },
	};
	struct zt_endpoint proxy = { .addr = v6_doc1(), .port = 1080 };

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct zt_socks5 c;
		struct zt_socks5_addr relay;
		size_t used;

		zt_socks5_init(&c, ZT_SOCKS5_CMD_UDP_ASSOCIATE);
		start(&c, g, sizeof(g));
		CU_ASSERT_EQUAL(zt_socks5_relay_endpoint(&c, &proxy, &relay), -EINVAL);
		feed(&c, m, 2, NULL, NULL, &used);
		CU_ASSERT_EQUAL(feed(&c, cases[k].r, cases[k].len, NULL, NULL, &used),
				ZT_SOCKS5_READY);
		CU_ASSERT_EQUAL(used, cases[k].len);
		CU_ASSERT_EQUAL(c.bnd_unspecified, cases[k].unspec);
		CU_ASSERT_EQUAL_FATAL(zt_socks5_relay_endpoint(&c, &proxy, &relay), 0);
		CU_ASSERT_EQUAL(relay.port, 0x9c40 + k);
		if (cases[k].proxy) {
			struct zt_endpoint named = { .port = 1080 }, none = { .port = 1080 };

			CU_ASSERT_EQUAL(relay.atyp, ZT_SOCKS5_ATYP_IPV6);
			CU_ASSERT(zt_addr_eq(&relay.ip, &proxy.addr));
			/* a proxy known by name: the relay is that name */
			strcpy(named.name, "proxy.example");
			CU_ASSERT_EQUAL_FATAL(zt_socks5_relay_endpoint(&c, &named, &relay), 0);
			CU_ASSERT_EQUAL(relay.atyp, ZT_SOCKS5_ATYP_DOMAIN);
			CU_ASSERT_EQUAL(relay.name_len, 13);
			CU_ASSERT_STRING_EQUAL(relay.name, "proxy.example");
			CU_ASSERT_EQUAL(relay.port, 0x9c40 + k);
			/* neither a name nor an address: nowhere to send */
			CU_ASSERT_EQUAL(zt_socks5_relay_endpoint(&c, &none, &relay), -EINVAL);
		} else {
			struct zt_addr exp = v4(198, 51, 100, 7);

			CU_ASSERT(zt_addr_eq(&relay.ip, &exp));
		}
	}
	/* BND.PORT 0: no relay to send to (RFC 1928 7), whatever BND.ADDR. */
	for (size_t k = 0; k < 2; k++) {
		static const uint8_t z4[] = { 5, 0, 0, 1, 198, 51, 100, 7, 0, 0 };
		static const uint8_t z0[] = { 5, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
		struct zt_socks5 c;
		struct zt_socks5_addr relay;
		size_t used;

		zt_socks5_init(&c, ZT_SOCKS5_CMD_UDP_ASSOCIATE);
		start(&c, g, sizeof(g));
		feed(&c, m, 2, NULL, NULL, &used);
		CU_ASSERT_EQUAL(feed(&c, k ? z0 : z4, sizeof(z4), NULL, NULL, &used),
				ZT_SOCKS5_READY);
		CU_ASSERT_EQUAL(zt_socks5_relay_endpoint(&c, &proxy, &relay), -EINVAL);
	}
	/* Not for CONNECT. */
	{
		struct zt_socks5 c;
		struct zt_socks5_addr relay;
		size_t used;

		at_reply(&c);
		feed(&c, r4, sizeof(r4), NULL, NULL, &used);
		CU_ASSERT_EQUAL(c.state, ZT_SOCKS5_READY);
		CU_ASSERT_EQUAL(zt_socks5_relay_endpoint(&c, &proxy, &relay), -EINVAL);
	}
}

static void test_tunnel_data_left(void)
{
	static const uint8_t g[] = { 5, 1, 0 };
	/* Method reply, CONNECT reply with a domain BND, then tunnel data. */
	static const uint8_t all[] = { 5, 0, 5, 0, 0, 3, 3, 'b', 'n', 'd', 0, 1,
				       'H', 'T', 'T', 'P', 5, 0 };
	struct zt_socks5 c;
	struct zt_socks5_addr t;
	struct zt_addr a = v4(1, 2, 3, 4);
	uint8_t acc[2048];
	size_t alen = 0, used;

	zt_socks5_init(&c, ZT_SOCKS5_CMD_CONNECT);
	zt_socks5_addr_ip(&t, &a, 80);
	zt_socks5_set_target(&c, &t);
	start(&c, g, sizeof(g));
	CU_ASSERT_EQUAL(feed(&c, all, sizeof(all), acc, &alen, &used), ZT_SOCKS5_READY);
	CU_ASSERT_EQUAL(used, 12);
	CU_ASSERT_EQUAL(alen, 10); /* the CONNECT request */
	CU_ASSERT_EQUAL(c.bnd.atyp, ZT_SOCKS5_ATYP_DOMAIN);
	CU_ASSERT_STRING_EQUAL(c.bnd.name, "bnd");
	CU_ASSERT_EQUAL(c.bnd.port, 1);
	CU_ASSERT(!c.bnd_unspecified);
}

/* A BND.ADDR that is a domain of length 0 (ATYP 3, length 0): RFC 1928
 * gives no meaning to an empty name, but BND is informational for a
 * CONNECT (curl and proxychains-ng read past it), and after a UDP
 * ASSOCIATE a domain stands for the proxy's own host anyway
 * (zt_socks5_relay_endpoint()), which an empty one names no worse. So the
 * reply is taken, its 7 bytes and no more, and the relay is the proxy at
 * BND.PORT. */
static void test_empty_domain_bnd(void)
{
	static const uint8_t g[] = { 5, 1, 0 }, m[] = { 5, 0 };
	static const uint8_t r[] = { 5, 0, 0, 3, 0, 0x1f, 0x90, 'x' };
	struct zt_endpoint proxy = { .addr = v4(203, 0, 113, 7), .port = 1080 };
	struct zt_socks5_addr relay;
	struct zt_socks5 c;
	size_t used;

	at_reply(&c);
	CU_ASSERT_EQUAL(feed(&c, r, sizeof(r), NULL, NULL, &used), ZT_SOCKS5_READY);
	CU_ASSERT_EQUAL(used, 7); /* 'x' is tunnel data */
	CU_ASSERT_EQUAL(c.bnd.atyp, ZT_SOCKS5_ATYP_DOMAIN);
	CU_ASSERT_EQUAL(c.bnd.name_len, 0);
	CU_ASSERT_EQUAL(c.bnd.port, 8080);

	zt_socks5_init(&c, ZT_SOCKS5_CMD_UDP_ASSOCIATE);
	start(&c, g, sizeof(g));
	feed(&c, m, 2, NULL, NULL, &used);
	CU_ASSERT_EQUAL_FATAL(feed(&c, r, 7, NULL, NULL, &used), ZT_SOCKS5_READY);
	CU_ASSERT_EQUAL_FATAL(zt_socks5_relay_endpoint(&c, &proxy, &relay), 0);
	CU_ASSERT_EQUAL(relay.atyp, ZT_SOCKS5_ATYP_IPV4);
	CU_ASSERT(zt_addr_eq(&relay.ip, &proxy.addr));
	CU_ASSERT_EQUAL(relay.port, 8080);
}

static void test_refuse_table(void)
{
	const struct {
		enum zt_socks5_outcome o;
		enum zt_refuse r;
		int icmp4, icmp6;
	} t[] = {
		{ ZT_SOCKS5_GENERAL_FAILURE, ZT_REFUSE_RST, -1, -1 },
		{ ZT_SOCKS5_NOT_ALLOWED, ZT_REFUSE_ADMIN_PROHIBITED, 13, 1 },
		{ ZT_SOCKS5_NET_UNREACH, ZT_REFUSE_NET_UNREACH, 0, 0 },
		{ ZT_SOCKS5_HOST_UNREACH, ZT_REFUSE_HOST_UNREACH, 1, 3 },
		{ ZT_SOCKS5_CONN_REFUSED, ZT_REFUSE_RST, -1, -1 },
		{ ZT_SOCKS5_TTL_EXPIRED, ZT_REFUSE_HOST_UNREACH, 1, 3 },
		{ ZT_SOCKS5_CMD_UNSUPPORTED, ZT_REFUSE_RST, -1, -1 },
		{ ZT_SOCKS5_ATYP_UNSUPPORTED, ZT_REFUSE_RST, -1, -1 },
		{ ZT_SOCKS5_UNKNOWN_REPLY, ZT_REFUSE_RST, -1, -1 },
		{ ZT_SOCKS5_MALFORMED, ZT_REFUSE_RST, -1, -1 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum zt_refuse r = zt_socks5_refuse(t[i].o);

		CU_ASSERT_EQUAL(r, t[i].r);
		CU_ASSERT_EQUAL(zt_refuse_icmp_code(r, ZT_AF_INET), t[i].icmp4);
		CU_ASSERT_EQUAL(zt_refuse_icmp_code(r, ZT_AF_INET6), t[i].icmp6);
	}
}

/*
 * Reference: the whole proxy stream at once, parsed with explicit length
 * checks, for a CONNECT to 192.0.2.1:443 with credentials "u"/"pw" offered
 * when @auth.
 */
struct expect {
	int state;
	enum zt_socks5_outcome outcome;
	size_t consumed;
	uint8_t out[64];
	size_t out_len;
};

static void ref_parse(bool auth, const uint8_t *in, size_t len, struct expect *e)
{
	static const uint8_t areq[] = { 1, 1, 'u', 2, 'p', 'w' };
	static const uint8_t creq[] = { 5, 1, 0, 1, 192, 0, 2, 1, 1, 0xbb };
	size_t p = 0, alen = 0;

	memset(e, 0, sizeof(*e));
	e->state = ZT_SOCKS5_IN_PROGRESS;
	e->consumed = len;
#define NEED(n) do { if (len - p < (n)) return; } while (0)
#define FAIL(o, at) do { e->state = ZT_SOCKS5_FAILED; e->outcome = (o); \
			 e->consumed = (at); return; } while (0)
	NEED(1);
	if (in[0] != 5)
		FAIL(ZT_SOCKS5_BAD_VERSION, 1);
	NEED(2);
	p = 2;
	if (in[1] == 0xff)
		FAIL(ZT_SOCKS5_NO_ACCEPTABLE_METHOD, 2);
	if (auth && in[1] == 2) {
		memcpy(e->out, areq, sizeof(areq));
		e->out_len = sizeof(areq);
		NEED(1);
		if (in[p] != 1)
			FAIL(ZT_SOCKS5_BAD_VERSION, p + 1);
		NEED(2);
		if (in[p + 1] != 0)
			FAIL(ZT_SOCKS5_AUTH_FAILED, p + 2);
		p += 2;
	} else if (in[1] != 0) {
		FAIL(ZT_SOCKS5_UNOFFERED_METHOD, 2);
	}
	memcpy(e->out + e->out_len, creq, sizeof(creq));
	e->out_len += sizeof(creq);
	NEED(1);
	if (in[p] != 5)
		FAIL(ZT_SOCKS5_BAD_VERSION, p + 1);
	NEED(2);
	if (in[p + 1] != 0)
		FAIL(rep_outcome(in[p + 1]), p + 2);
	NEED(3);
	if (in[p + 2] != 0)
		FAIL(ZT_SOCKS5_MALFORMED, p + 3);
	NEED(4);
	if (in[p + 3] == 1) {
		alen = 4;
	} else if (in[p + 3] == 4) {
		alen = 16;
	} else if (in[p + 3] == 3) {
		NEED(5);
		alen = 1 + (size_t)in[p + 4];
	} else {
		FAIL(ZT_SOCKS5_MALFORMED, p + 4);
	}
	NEED(4 + alen + 2);
	e->state = ZT_SOCKS5_READY;
	e->consumed = p + 4 + alen + 2;
#undef NEED
#undef FAIL
}

/* A plausible proxy stream: method, auth status, reply, tunnel bytes. */
static size_t valid_stream(struct zt_rng *rng, bool auth, uint8_t *s)
{
	size_t n = 0;
	uint32_t atyp = zt_rng_below(rng, 3);

	s[n++] = 5;
	s[n++] = auth ? 2 : 0;
	if (auth) {
		s[n++] = 1;
		s[n++] = 0;
	}
	s[n++] = 5;
	s[n++] = 0;
	s[n++] = 0;
	if (atyp == 0) {
		s[n++] = 1;
		for (int i = 0; i < 4; i++)
			s[n++] = (uint8_t)zt_rng_next(rng);
	} else if (atyp == 1) {
		s[n++] = 4;
		for (int i = 0; i < 16; i++)
			s[n++] = (uint8_t)zt_rng_next(rng);
	} else {
		uint8_t l = (uint8_t)(1 + zt_rng_below(rng, 255));

		s[n++] = 3;
		s[n++] = l;
		for (int i = 0; i < l; i++)
			s[n++] = (uint8_t)zt_rng_next(rng);
	}
	s[n++] = (uint8_t)zt_rng_next(rng);
	s[n++] = (uint8_t)zt_rng_next(rng);
	return n;
}

static void test_garbage_every_split(void)
{
	struct zt_rng rng;
	uint8_t s[600];
	uint64_t seed = zt_test_seed(0x50c55);
	unsigned ready = 0, failed = 0, more = 0;

	zt_rng_seed(&rng, seed);
	for (int iter = 0; iter < 100000; iter++) {
		bool auth = zt_rng_below(&rng, 2);
		uint32_t mode = zt_rng_below(&rng, 4);
		size_t len, p = 0, total = 0, alen = 0;
		struct zt_socks5 c;
		struct zt_socks5_addr t;
		struct zt_addr a = v4(192, 0, 2, 1);
		struct expect e;
		uint8_t acc[2 * ZT_SOCKS5_OUT_MAX];
		uint8_t g[4];
		int rc = ZT_SOCKS5_IN_PROGRESS;

		if (mode == 0) {
			/* Pure garbage. */
			len = zt_rng_below(&rng, 300);
			for (size_t i = 0; i < len; i++)
				s[i] = (uint8_t)zt_rng_next(&rng);
		} else {
			len = valid_stream(&rng, auth, s);
			if (mode == 1) {
				/* Truncated anywhere. */
				len = zt_rng_below(&rng, len + 1);
			} else if (mode == 2) {
				/* A few bytes changed. */
				for (uint32_t k = 1 + zt_rng_below(&rng, 3); k; k--)
					s[zt_rng_below(&rng, len)] =
						(uint8_t)zt_rng_next(&rng);
			} else {
				/* Oversize: garbage after a valid reply. */
				size_t extra = zt_rng_below(&rng, 40);

				for (size_t i = 0; i < extra; i++)
					s[len + i] = (uint8_t)zt_rng_next(&rng);
				len += extra;
			}
		}
		ref_parse(auth, s, len, &e);

		zt_socks5_init(&c, ZT_SOCKS5_CMD_CONNECT);
		zt_socks5_addr_ip(&t, &a, 443);
		zt_socks5_set_target(&c, &t);
		if (auth)
			zt_socks5_set_auth(&c, "u", 1, "pw", 2);
		CU_ASSERT_FATAL(zt_socks5_start(&c, g, sizeof(g)) > 0);
		/* Random splits, including empty chunks. */
		while (p < len && rc == ZT_SOCKS5_IN_PROGRESS) {
			size_t chunk = zt_rng_below(&rng, 4) == 0 ?
					       len - p : zt_rng_below(&rng, len - p + 1);
			size_t used;

			rc = feed(&c, s + p, chunk, acc, &alen, &used);
			CU_ASSERT_FATAL(rc >= 0);
			if (rc == ZT_SOCKS5_IN_PROGRESS)
				CU_ASSERT_EQUAL_FATAL(used, chunk);
			total += used;
			p += chunk;
		}
		if (mode == 0)
			CU_ASSERT_NOT_EQUAL_FATAL(rc, ZT_SOCKS5_READY);
		if (rc != e.state || zt_socks5_outcome(&c) != e.outcome ||
		    total != e.consumed || alen != e.out_len ||
		    memcmp(acc, e.out, alen) != 0) {
			CU_FAIL_FATAL("streaming result differs from the reference (seed printed by the runner)");
		}
		if (rc == ZT_SOCKS5_READY)
			ready++;
		else if (rc == ZT_SOCKS5_FAILED)
			failed++;
		else
			more++;
	}
	/* The generator must exercise all three ends. */
	CU_ASSERT(ready > 1000 && failed > 1000 && more > 1000);
}

static void test_truncated_every_split(void)
{
	/* Auth stream with an IPv6 BND, cut at every length and split at
	 * every position of the cut. */
	uint8_t s[] = { 5, 2, 1, 0, 5, 0, 0, 4, 0x20, 1, 0xd, 0xb8, 1, 2, 3, 4,
			5, 6, 7, 8, 9, 10, 11, 12, 0x12, 0x34, 'x', 'y' };
	const size_t full = sizeof(s) - 2;

	for (size_t len = 0; len <= sizeof(s); len++) {
		for (size_t cut = 0; cut <= len; cut++) {
			struct zt_socks5 c;
			struct zt_socks5_addr t;
			struct zt_addr a = v4(192, 0, 2, 1);
			uint8_t g[4], acc[2048];
			size_t alen = 0, u1 = 0, u2 = 0;
			int rc;

			zt_socks5_init(&c, ZT_SOCKS5_CMD_CONNECT);
			zt_socks5_addr_ip(&t, &a, 443);
			zt_socks5_set_target(&c, &t);
			zt_socks5_set_auth(&c, "u", 1, "pw", 2);
			zt_socks5_start(&c, g, sizeof(g));
			rc = feed(&c, s, cut, acc, &alen, &u1);
			if (rc == ZT_SOCKS5_IN_PROGRESS)
				rc = feed(&c, s + cut, len - cut, acc, &alen, &u2);
			CU_ASSERT_EQUAL(rc, len >= full ? ZT_SOCKS5_READY :
							  ZT_SOCKS5_IN_PROGRESS);
			CU_ASSERT_EQUAL(u1 + u2, len >= full ? full : len);
			CU_ASSERT_EQUAL(alen, len >= 2 ? (len >= 4 ? 16u : 6u) : 0u);
			if (len >= full) {
				CU_ASSERT_EQUAL(c.bnd.atyp, ZT_SOCKS5_ATYP_IPV6);
				CU_ASSERT_EQUAL(c.bnd.ip.bytes[15], 12);
				CU_ASSERT_EQUAL(c.bnd.port, 0x1234);
			}
		}
	}
}

static void test_udp_roundtrip(void)
{
	struct zt_rng rng;
	struct zt_addr a4 = v4(203, 0, 113, 9), a6 = v6_doc1();
	char name[255];
	uint8_t payload[512], out[1024];

	zt_rng_seed(&rng, zt_test_seed(77));
	for (size_t i = 0; i < sizeof(name); i++)
		name[i] = (char)('a' + i % 26);
	for (int iter = 0; iter < 600; iter++) {
		struct zt_socks5_addr dst, from;
		struct zt_view pv;
		size_t plen = zt_rng_below(&rng, sizeof(payload) + 1);
		size_t hdr;
		uint16_t port = (uint16_t)zt_rng_next(&rng);
		uint8_t *copy;
		int n;

		for (size_t i = 0; i < plen; i++)
			payload[i] = (uint8_t)zt_rng_next(&rng);
		switch (iter % 3) {
		case 0:
			zt_socks5_addr_ip(&dst, &a4, port);
			hdr = 10;
			break;
		case 1:
			zt_socks5_addr_ip(&dst, &a6, port);
			hdr = 22;
			break;
		default: {
			size_t nl = 1 + zt_rng_below(&rng, 255);

			zt_socks5_addr_name(&dst, name, nl, port);
			hdr = 7 + nl;
			break;
		}
		}
		n = zt_socks5_udp_wrap(&dst, payload, plen, out, sizeof(out));
		CU_ASSERT_EQUAL_FATAL(n, (int)(hdr + plen));
		CU_ASSERT(out[0] == 0 && out[1] == 0 && out[2] == 0);
		CU_ASSERT_EQUAL(out[3], dst.atyp);
		CU_ASSERT_EQUAL(zt_rd16(out + hdr - 2), port);
		/* Too small by one byte. */
		CU_ASSERT_EQUAL(zt_socks5_udp_wrap(&dst, payload, plen, out,
						   (size_t)n - 1), -ENOSPC);
		copy = zt_test_dup_exact(out, (size_t)n);
		CU_ASSERT_EQUAL(zt_socks5_udp_unwrap(copy, (size_t)n, &from, &pv),
				ZT_SOCKS5_UDP_OK);
		CU_ASSERT_EQUAL(from.atyp, dst.atyp);
		CU_ASSERT_EQUAL(from.port, port);
		CU_ASSERT_EQUAL(from.name_len, dst.name_len);
		CU_ASSERT(memcmp(from.name, dst.name, dst.name_len) == 0);
		CU_ASSERT(zt_addr_eq(&from.ip, &dst.ip));
		CU_ASSERT_EQUAL(pv.len, plen);
		CU_ASSERT(pv.data == copy + hdr);
		CU_ASSERT(memcmp(pv.data, payload, plen) == 0);
		free(copy);
		/* Every truncation into the header. */
		for (size_t cut = 0; cut < hdr; cut++) {
			copy = zt_test_dup_exact(out, cut);
			CU_ASSERT_EQUAL(zt_socks5_udp_unwrap(copy, cut, &from, &pv),
					ZT_SOCKS5_UDP_TRUNCATED);
			free(copy);
		}
	}
}

/* The source a relay names as ::ffff:a.b.c.d (a dual-stack socket's view
 * of an IPv4 server) is that IPv4 address, as a BND.ADDR so named is; an
 * IPv6 one stays as it is. */
static void test_udp_unwrap_mapped(void)
{
	static const uint8_t mapped[] = {
		0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
		192, 0, 2, 7, 0, 53, 'x',
	};
	static const uint8_t v4[4] = { 192, 0, 2, 7 };
	uint8_t d[sizeof(mapped)];
	struct zt_socks5_addr from;
	struct zt_addr want = zt_addr_v4(v4);
	struct zt_view pv;

	memcpy(d, mapped, sizeof(d));
	CU_ASSERT_EQUAL_FATAL(zt_socks5_udp_unwrap(d, sizeof(d), &from, &pv),
			      ZT_SOCKS5_UDP_OK);
	CU_ASSERT_EQUAL(from.atyp, ZT_SOCKS5_ATYP_IPV4);
	CU_ASSERT(zt_addr_eq(&from.ip, &want));
	CU_ASSERT_EQUAL(from.port, 53);
	CU_ASSERT(pv.len == 1 && pv.data == d + 22);
	d[14] = 0xfe; /* no longer mapped */
	CU_ASSERT_EQUAL_FATAL(zt_socks5_udp_unwrap(d, sizeof(d), &from, &pv),
			      ZT_SOCKS5_UDP_OK);
	CU_ASSERT_EQUAL(from.atyp, ZT_SOCKS5_ATYP_IPV6);
	CU_ASSERT_EQUAL(from.ip.family, ZT_AF_INET6);
}

static void test_udp_rejects(void)
{
	static const uint8_t good[] = { 0, 0, 0, 1, 10, 0, 0, 1, 0, 53, 'x' };
	struct zt_socks5_addr from, bad;
	struct zt_view pv;
	uint8_t d[sizeof(good)], out[64];

	memcpy(d, good, sizeof(d));
	CU_ASSERT_EQUAL(zt_socks5_udp_unwrap(d, sizeof(d), &from, &pv), ZT_SOCKS5_UDP_OK);
	CU_ASSERT_EQUAL(pv.len, 1);
	for (int frag = 1; frag < 256; frag++) {
		d[2] = (uint8_t)frag;
		CU_ASSERT_EQUAL(zt_socks5_udp_unwrap(d, sizeof(d), &from, &pv),
				ZT_SOCKS5_UDP_FRAGMENTED);
	}
	memcpy(d, good, sizeof(d));
	d[0] = 1;
	CU_ASSERT_EQUAL(zt_socks5_udp_unwrap(d, sizeof(d), &from, &pv), ZT_SOCKS5_UDP_BAD_RSV);
	memcpy(d, good, sizeof(d));
	d[1] = 0x80;
	CU_ASSERT_EQUAL(zt_socks5_udp_unwrap(d, sizeof(d), &from, &pv), ZT_SOCKS5_UDP_BAD_RSV);
	memcpy(d, good, sizeof(d));
	for (int at = 0; at < 256; at++) {
		if (at == 1 || at == 3 || at == 4)
			continue;
		d[3] = (uint8_t)at;
		CU_ASSERT_EQUAL(zt_socks5_udp_unwrap(d, sizeof(d), &from, &pv),
				ZT_SOCKS5_UDP_BAD_ATYP);
	}
	memcpy(d, good, sizeof(d));
	d[3] = 3;
	d[4] = 0;
	CU_ASSERT_EQUAL(zt_socks5_udp_unwrap(d, sizeof(d), &from, &pv), ZT_SOCKS5_UDP_BAD_ADDR);
	d[4] = 200; /* domain longer than the datagram */
	CU_ASSERT_EQUAL(zt_socks5_udp_unwrap(d, sizeof(d), &from, &pv), ZT_SOCKS5_UDP_TRUNCATED);
	memset(&bad, 0, sizeof(bad));
	CU_ASSERT_EQUAL(zt_socks5_udp_wrap(&bad, NULL, 0, out, sizeof(out)), -EINVAL);
	for (int r = 0; r < ZT_SOCKS5_UDP__COUNT; r++)
		CU_ASSERT_STRING_NOT_EQUAL(zt_socks5_udp_result_name(r), "unknown");
}

int zt_suite_socks5(void)
{
	static const struct zt_test_case cases[] = {
		{ "greeting_and_requests", test_greeting_and_requests },
		{ "pipelined", test_pipelined },
		{ "config_errors", test_config_errors },
		{ "reply_codes", test_reply_codes },
		{ "method_and_auth_failures", test_method_and_auth_failures },
		{ "malformed_replies", test_malformed_replies },
		{ "udp_associate_unspecified", test_udp_associate_unspecified },
		{ "udp_associate_loopback", test_udp_associate_loopback },
		{ "udp_associate_odd_bnd", test_udp_associate_odd_bnd },
		{ "tunnel_data_left", test_tunnel_data_left },
		{ "empty_domain_bnd", test_empty_domain_bnd },
		{ "refuse_table", test_refuse_table },
		{ "garbage_every_split", test_garbage_every_split },
		{ "truncated_every_split", test_truncated_every_split },
		{ "udp_roundtrip", test_udp_roundtrip },
		{ "udp_rejects", test_udp_rejects },
		{ "udp_unwrap_mapped", test_udp_unwrap_mapped },
		{ 0 },
	};

	return zt_add_suite("socks5", NULL, NULL, cases);
}
