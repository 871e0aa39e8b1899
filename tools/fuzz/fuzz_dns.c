// SPDX-License-Identifier: MIT
/*
 * fuzz_dns.c - libFuzzer target: DNS messages from a hostile client and a
 * hostile upstream resolver, through the wire parsers and the fake-IP
 * resolver.
 *
 * Theory of operation: input byte 0 picks the resolver's policy for the
 * message's name (0 fake, 1 block, 2 refuse, 3 forward; bit 2 an IPv6
 * range too), the rest is one DNS message. It is read as a query and as
 * an answer from exactly-sized copies (ASan sees any over-read); a query
 * that parsed must give an answer that fits ZT_DNS_UDP_MAX and echoes
 * its question; a name that parsed must be a host name. The message then
 * goes through a small resolver (16 names, so recycling is reached): as
 * a query, then as the upstream's answer to learn from, and the address
 * each answer gave must lead back to a name. Last, DNS over TCP: the
 * message's UDP size is at least 512, a truncation of it is its header
 * (TC set, no records) and question, and the message sent as a query's
 * answer down a TCP stream, cut at byte 0's offset, comes out whole, cut
 * to TC, or dropped, never longer than the size asked with.
 */
#include <stdlib.h>
#include <string.h>

#include "ztun/dns_tcp.h"
#include "ztun/dns_wire.h"
#include "ztun/fakedns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool host_name(const char *s)
{
	size_t n = strlen(s);

	return n <= ZT_DNS_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-_.") == n;
}

static enum zt_fakedns_verdict policy(void *user, const char *name)
{
	const uint8_t *mode = user;

	if (!host_name(name) || !name[0])
		abort();
	return (enum zt_fakedns_verdict)(*mode & 3);
}

static void wire(const uint8_t *msg, size_t len)
{
	struct zt_dns_query q;
	struct zt_addr addrs[ZT_DNS_ANSWER_ADDRS_MAX];
	char name[ZT_DNS_NAME_MAX + 1];
	uint8_t out[ZT_DNS_UDP_MAX + 64];
	int rc = zt_dns_parse_query(zt_view_make(msg, len), &q);

	if (rc >= 0) {
		int n = zt_dns_build_answer(&q, (unsigned)rc, NULL, 0, 1, out,
					    sizeof(out));

		if (!host_name(q.name))
			abort();
		if (len <= ZT_DNS_UDP_MAX &&
		    (n < ZT_DNS_HDR || (size_t)n > ZT_DNS_UDP_MAX))
			abort();
		if (n > 0 && q.question.len &&
		    memcmp(out + ZT_DNS_HDR, q.question.data, q.question.len))
			abort();
	}
	rc = zt_dns_parse_answer(zt_view_make(msg, len), name, addrs,
				 ZT_DNS_ANSWER_ADDRS_MAX);
	if (rc > ZT_DNS_ANSWER_ADDRS_MAX || (rc >= 0 && !host_name(name)))
		abort();
}

struct over_tcp {
	unsigned limit, answers;
};

static void tcp_answer(void *user, const uint8_t *msg, size_t len,
		       enum zt_dns_tcp_answer how)
{
	struct over_tcp *o = user;

	if (how == ZT_DNS_TCP_UNMATCHED)
		return;
	if (!msg || len > o->limit || len < ZT_DNS_HDR || !(msg[2] & 0x80) ||
	    (how == ZT_DNS_TCP_TRUNCATED && !(msg[2] & 0x02)))
		abort();
	o->answers++;
}

static void over_tcp(uint8_t cut, const uint8_t *msg, size_t len)
{
	static uint8_t query[ZT_DNS_HDR + 4] = { 0, 0, 1, 0, 0, 1 };
	static uint8_t trunc[65536];
	struct over_tcp o = { ZT_DNS_UDP_MAX, 0 };
	struct zt_dns_tcp d;
	unsigned limit = zt_dns_udp_limit(zt_view_make(msg, len));
	int n = zt_dns_truncate(zt_view_make(msg, len), zt_view_make(msg, 0),
				trunc, sizeof(trunc));
	uint8_t prefix[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	size_t at = len ? cut % len : 0;

	if (limit < ZT_DNS_UDP_MAX || limit > 65535)
		abort();
	if (n >= 0 && ((size_t)n > len || n < ZT_DNS_HDR || !(trunc[2] & 0x02) ||
		       trunc[6] | trunc[7] | trunc[8] | trunc[9] | trunc[10] ||
		       trunc[11] > 1))
		abort();
	if (n > ZT_DNS_HDR) { /* the question as it came, then an OPT only */
		struct zt_view tq;
		size_t at_opt = (size_t)n;

		if (trunc[5] == 1 && !zt_dns_question(zt_view_make(trunc, (size_t)n), &tq))
			at_opt = ZT_DNS_HDR + tq.len;
		else if (trunc[5] || trunc[4])
			abort();
		else
			at_opt = ZT_DNS_HDR; /* no question: the OPT at once */
		if (memcmp(trunc + 12, msg + 12, at_opt - 12) ||
		    (trunc[11] ? at_opt + 11 > (size_t)n || trunc[at_opt] ||
				 trunc[at_opt + 1] || trunc[at_opt + 2] != 41 :
				 at_opt != (size_t)n))
			abort();
	}
	if (len < 2 || len > 65535)
		return;
	zt_dns_tcp_init(&d);
	query[0] = msg[0]; /* a query of the message's ID waits */
	query[1] = msg[1];
	if (zt_dns_tcp_query(&d, query, sizeof(query)))
		abort();
	zt_dns_tcp_sent(&d, zt_dns_tcp_output(&d).len);
	if (zt_dns_tcp_input(&d, prefix, 2, trunc, sizeof(trunc), tcp_answer, &o) ||
	    zt_dns_tcp_input(&d, msg, at, trunc, sizeof(trunc), tcp_answer, &o) ||
	    zt_dns_tcp_input(&d, msg + at, len - at, trunc, sizeof(trunc),
			     tcp_answer, &o) || o.answers > 1)
		abort();
	zt_dns_tcp_destroy(&d);
}

static void resolver(uint8_t mode, const uint8_t *msg, size_t len)
{
	struct zt_fakedns_config cfg;
	struct zt_fakedns *t;
	struct zt_rng rng;
	uint8_t out[ZT_DNS_UDP_MAX + 64];
	int n;

	zt_fakedns_config_default(&cfg);
	cfg.enabled = true;
	cfg.max_names = 16;
	if (zt_fakedns_parse_servers("198.18.0.2", &cfg, NULL, 0) ||
	    zt_cidr_parse("198.18.0.0/27", &cfg.pool4, NULL, 0) ||
	    ((mode & 4) && zt_cidr_parse("fd00:f::/120", &cfg.pool6, NULL, 0)) ||
	    zt_addr_parse("192.0.2.53", &cfg.upstream.addr))
		abort();
	cfg.upstream.port = 53;
	zt_rng_seed(&rng, mode);
	t = zt_fakedns_new(&cfg, &rng);
	if (!t)
		abort();
	for (int round = 0; round < 3; round++) {
		n = zt_fakedns_answer(t, msg, len, policy, &mode, out, sizeof(out));
		if (n > 0) {
			struct zt_addr a[ZT_DNS_ANSWER_ADDRS_MAX];
			char name[ZT_DNS_NAME_MAX + 1];
			int k;

			/* our own answer, read back: each address it gave
			 * must lead to a name */
			out[2] |= 0x80;
			k = zt_dns_parse_answer(zt_view_make(out, (size_t)n), name,
						a, ZT_DNS_ANSWER_ADDRS_MAX);
			for (int i = 0; i < k; i++) {
				char *got = NULL;

				if (zt_fakedns_lookup(t, &a[i], &got) != 1 ||
				    strcmp(got, name) != 0)
					abort();
				free(got);
			}
		}
		zt_fakedns_learn(t, msg, len);
	}
	zt_fakedns_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size < 1)
		return 0;
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	wire(copy, size - 1);
	resolver(data[0], copy, size - 1);
	over_tcp(data[0], copy, size - 1);
	free(copy);
	return 0;
}
