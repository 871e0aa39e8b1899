/* SPDX-License-Identifier: MIT */
/*
 * test_scenario.c - the scenario parser and executor (sim/engine/scenario*).
 *
 * Theory of operation:
 *
 * Parser: every line form of docs/scenarios.md is parsed from a small
 * script held in a string and its fields checked; every kind of bad line
 * must fail with "FILE:LINE:" and quote the offending token. Executor: a
 * correct script passes with the same trace hash twice; a script with a
 * deliberately wrong expectation must fail with exactly the documented
 * message shape (line, expected, aligned actual, seed and reproduce
 * command), and an output nobody expected must fail at the next
 * `advance` — so the strictness cannot silently break.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/scenario.h"
#include "test.h"
#include "ztun/fakedns.h"
#include "ztun/nat.h"
#include "ztun/router.h"
#include "ztun/stack.h"
#include "ztun/tcp.h"

static int parse(const char *text, struct zt_scn *s, char *err, size_t errlen)
{
	return zt_scn_parse("t.scn", text, strlen(text), s, err, errlen);
}

static void test_header(void)
{
	struct zt_scn s;
	char err[512];
	const char *text =
		"# comment line\n"
		"--seed=42 --tun=10.9.0.1/16 --tun6=fd00::1/64 --mtu=1400\n"
		"--route=\"tcp 93.184.216.34/32 -> socks5\" --route=\"udp any -> drop\"\n"
		"--default=reject --socks5=127.0.0.1:1080 --socks5-auth=u:p\n"
		"--http=proxy.example:3128 --http-auth=a:b --tolerance=5ms\n"
		"--stack.max_tcp_flows=3 --stack.connect_timeout=2s "
		"--stack.udp_idle_timeout=500ms --stack.reject_icmp=1 "
		"--stack.tcp.sack=0 --stack.tcp.rx_buf=8192\n"
		"0 advance\n";

	CU_ASSERT_EQUAL_FATAL(parse(text, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(s.hdr.seed, 42);
	CU_ASSERT_EQUAL(s.hdr.tun_prefix, 16);
	CU_ASSERT_EQUAL(s.hdr.tun.bytes[1], 9);
	CU_ASSERT_EQUAL(s.hdr.tun6.family, ZT_AF_INET6);
	CU_ASSERT_EQUAL(s.hdr.cfg.stack.mtu, 1400);
	CU_ASSERT_EQUAL(s.hdr.nroutes, 2);
	CU_ASSERT_STRING_EQUAL(s.hdr.routes[0], "tcp 93.184.216.34/32 -> socks5");
	CU_ASSERT_EQUAL(s.hdr.def, ZT_ROUTE_DROP);
	CU_ASSERT(s.hdr.def_reject);
	CU_ASSERT(s.hdr.cfg.socks5.enabled && s.hdr.cfg.socks5.auth);
	CU_ASSERT_STRING_EQUAL(s.hdr.cfg.socks5.username, "u");
	CU_ASSERT_STRING_EQUAL(s.hdr.cfg.http.server.name, "proxy.example");
	CU_ASSERT_EQUAL(s.hdr.cfg.http.server.port, 3128);
	CU_ASSERT_EQUAL(s.hdr.tolerance, 5 * ZT_MS);
	CU_ASSERT_EQUAL(s.hdr.cfg.stack.max_tcp_flows, 3);
	CU_ASSERT_EQUAL(s.hdr.cfg.stack.connect_timeout, 2 * ZT_SEC);
	CU_ASSERT_EQUAL(s.hdr.cfg.stack.udp_idle_timeout, 500 * ZT_MS);
	CU_ASSERT(s.hdr.cfg.stack.reject_icmp);
	CU_ASSERT(!s.hdr.cfg.stack.tcp.sack);
	CU_ASSERT_EQUAL(s.hdr.cfg.stack.tcp.rx_buf, 8192);
	CU_ASSERT_EQUAL(s.n, 1);
	CU_ASSERT_EQUAL(s.ev[0].line, 7);
	CU_ASSERT_EQUAL(s.ev[0].kind, ZT_SCN_ADVANCE);
	zt_scn_free(&s);
}

static void test_events(void)
{
	struct zt_scn s;
	char err[512];
	const struct zt_scn_event *e;
	const char *text =
		"0.5 tun< 10.0.0.2:4000 > 1.2.3.4:80 S 0:0(0) win 1000 <mss 1460,sackOK,TS val 5 ecr 0,nop,wscale 7>\n"
		"+0.010 tun> S. 0:0(0) ack 1 <mss 1460,...>\n"
		"* tun< P. 1:4(3) ack 1 \"a\\x00\\n\" # trailing comment\n"
		"+1 tun> . 1:1(0) ack 4 ...\n"
		"2 tun< 10.0.0.2:53 > 8.8.8.8:53 udp (2) de ad\n"
		"2 tun< 10.0.0.2 > 10.0.0.1 icmp echo 7 9 \"p\"\n"
		"2 tun> 10.0.0.1 > 10.0.0.2 icmp unreach 13\n"
		"2 tun< 10.0.0.2 > 10.0.0.1 raw 4500 00 1c\n"
		"2 s1> connect 127.0.0.1:1080\n"
		"2 s1< accept\n"
		"2 s12< \"xy\" fin\n"
		"2 s1< window 10\n"
		"2 s1< window inf\n"
		"2 s1> close\n"
		"2 net> udp $q 8.8.8.8:53 (3) \"abc\"\n"
		"2 net< udp 8.8.8.8:53 > $q (1)\n"
		"2 assert stack.udp_flows_active == 0\n"
		"2 assert drops.bad_checksum >= 1\n"
		"2 assert router.flows.socks5 != 2\n"
		"2 assert tcp.state == TIME_WAIT\n"
		"2 net< error 192.0.2.9 > $q timex 1 to 8.8.8.8:53 (1) 61\n"
		"2 net< error [2001:db8::9] toobig to [2001:db8::53] (0)\n"
		"2 tun> 192.0.2.9 > 10.0.0.2 icmp timex 0 quotes 10.0.0.2:53 > 8.8.8.8:53\n"
		"2 tun> 192.0.2.9 > 10.0.0.2 icmp unreach 1 quotes 10.0.0.2 > 8.8.8.8 echo 7 9\n"
		"2 tun< 10.0.0.2:53 > 8.8.8.8:53 udp (2) ttl 1 de ad\n"
		"2 tun< 10.0.0.2 > 10.0.0.1 icmp echo 7 9 ttl 255\n"
		"2 net> icmp $p 8.8.8.8 (8) ttl 2 0800 0000 0007 0009\n"
		"2 tun< 10.0.0.2:53 > 8.8.8.8:53 udp (1) tos 184 ttl 9 00\n"
		"2 net> udp $q 8.8.8.8:53 (1) tos 0 00\n"
		"2 net< udp 8.8.8.8:53 > $q (1) tos 3 00\n"
		"2 tun> 8.8.8.8:53 > 10.0.0.2:53 udp (1) tos 3 00\n"
		"2 tun< 10.0.0.2:53 > 8.8.8.8:53 udp (1) df ttl 3 00\n"
		"2 net< error 192.0.2.9 > $q toobig 1400 to 8.8.8.8:53 (0)\n"
		"2 tun> 192.0.2.9 > 10.0.0.2 icmp toobig 1400 quotes 10.0.0.2:53 > 8.8.8.8:53\n"
		"2 tun< 10.0.0.2:40 > 8.8.8.8:80 S 0:0(0) <mss 1460> ttl 2\n"
		"2 s1> connect 8.8.8.8:80 ttl 2\n"
		"2 s1< timex 192.0.2.1\n";

	CU_ASSERT_EQUAL_FATAL(parse(text, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(s.n, 37);
	CU_ASSERT(s.ev[34].pkt.ttl == 2 && s.ev[34].pkt.flags == ZT_TCP_SYN);
	CU_ASSERT(s.ev[35].sop == ZT_SCN_S_CONNECT && s.ev[35].pkt.ttl == 2);
	CU_ASSERT_EQUAL(s.ev[7].pkt.ttl, 0); /* connect without ttl */
	CU_ASSERT(s.ev[36].sop == ZT_SCN_S_TIMEX &&
		  s.ev[36].ep.addr.family == ZT_AF_INET);
	CU_ASSERT(s.ev[31].pkt.df && s.ev[31].pkt.ttl == 3);
	CU_ASSERT(!s.ev[27].pkt.df);
	CU_ASSERT(s.ev[32].err_type == ZT_ICMP4_DEST_UNREACH &&
		  s.ev[32].err_code == ZT_ICMP4_CODE_FRAG_NEEDED &&
		  s.ev[32].err_mtu == 1400);
	CU_ASSERT(s.ev[33].pkt.type == ZT_SCN_PKT_TOOBIG && s.ev[33].pkt.mtu == 1400 &&
		  s.ev[33].pkt.has_quote);
	CU_ASSERT(s.ev[29].pkt.has_tos && s.ev[29].pkt.tos == 3);
	CU_ASSERT(s.ev[30].pkt.has_tos && s.ev[30].pkt.tos == 3);
	CU_ASSERT(!s.ev[24].pkt.has_tos && !s.ev[26].pkt.has_tos);
	CU_ASSERT(s.ev[27].pkt.has_tos && s.ev[27].pkt.tos == 184 &&
		  s.ev[27].pkt.ttl == 9 && s.ev[27].pkt.payload_len == 1);
	CU_ASSERT(s.ev[28].pkt.has_tos && s.ev[28].pkt.tos == 0);
	CU_ASSERT_EQUAL(s.ev[4].pkt.ttl, 0); /* not given */
	CU_ASSERT(s.ev[24].pkt.ttl == 1 && s.ev[24].pkt.payload_len == 2);
	CU_ASSERT(s.ev[25].pkt.ttl == 255 && s.ev[25].pkt.echo_seq == 9);
	CU_ASSERT(s.ev[26].pkt.ttl == 2 && s.ev[26].pkt.payload_len == 8);
	e = &s.ev[20];
	CU_ASSERT(e->error && e->kind == ZT_SCN_NET_IN);
	CU_ASSERT_STRING_EQUAL(e->var, "q");
	CU_ASSERT_EQUAL(e->err_type, ZT_ICMP4_TIME_EXCEEDED);
	CU_ASSERT_EQUAL(e->err_code, 1);
	CU_ASSERT_EQUAL(e->err_to.port, 53);
	CU_ASSERT(e->pkt.has_payload && e->pkt.len == 1);
	e = &s.ev[21];
	CU_ASSERT_EQUAL(e->err_type, ZT_ICMP6_PACKET_TOO_BIG);
	CU_ASSERT_EQUAL(e->err_code, 0);
	CU_ASSERT_EQUAL(e->err_mtu, 0); /* none given */
	CU_ASSERT_EQUAL(e->err_to.port, 0);
	CU_ASSERT_EQUAL(e->var[0], 0);
	e = &s.ev[22];
	CU_ASSERT_EQUAL(e->pkt.type, ZT_SCN_PKT_TIMEX);
	CU_ASSERT(e->pkt.has_quote && e->pkt.quote_ports && !e->pkt.quote_echo);
	CU_ASSERT_EQUAL(e->pkt.quote_sport, 53);
	e = &s.ev[23];
	CU_ASSERT(e->pkt.has_quote && !e->pkt.quote_ports && e->pkt.quote_echo);
	CU_ASSERT_EQUAL(e->pkt.quote_echo_id, 7);
	CU_ASSERT_EQUAL(e->pkt.quote_echo_seq, 9);
	e = &s.ev[0];
	CU_ASSERT_EQUAL(e->t, 500 * ZT_MS);
	CU_ASSERT_EQUAL(e->kind, ZT_SCN_TUN_IN);
	CU_ASSERT(e->pkt.has_addrs);
	CU_ASSERT_EQUAL(e->pkt.sport, 4000);
	CU_ASSERT_EQUAL(e->pkt.dport, 80);
	CU_ASSERT_EQUAL(e->pkt.flags, ZT_TCP_SYN);
	CU_ASSERT(e->pkt.has_win && e->pkt.win == 1000);
	CU_ASSERT_EQUAL(e->pkt.nopts, 5);
	CU_ASSERT_EQUAL(e->pkt.opts[2].kind, ZT_SCN_OPT_TS);
	CU_ASSERT_EQUAL(e->pkt.opts[2].val, 5);
	CU_ASSERT_EQUAL(e->pkt.opts[4].val, 7);
	e = &s.ev[1];
	CU_ASSERT_EQUAL(e->t, 510 * ZT_MS);
	CU_ASSERT_EQUAL(e->kind, ZT_SCN_TUN_OUT);
	CU_ASSERT(!e->pkt.has_addrs);
	CU_ASSERT_EQUAL(e->pkt.flags, ZT_TCP_SYN | ZT_TCP_ACK);
	CU_ASSERT(e->pkt.has_ack && e->pkt.ack == 1);
	CU_ASSERT(e->pkt.opts_more);
	e = &s.ev[2];
	CU_ASSERT_EQUAL(e->t, 510 * ZT_MS);
	CU_ASSERT_EQUAL(e->pkt.payload_len, 3);
	CU_ASSERT(e->pkt.payload && !memcmp(e->pkt.payload, "a\0\n", 3));
	CU_ASSERT(s.ev[3].pkt.no_win_check);
	CU_ASSERT_EQUAL(s.ev[3].t, 1510 * ZT_MS);
	CU_ASSERT_EQUAL(s.ev[4].pkt.type, ZT_SCN_PKT_UDP);
	CU_ASSERT_EQUAL(s.ev[4].pkt.len, 2);
	CU_ASSERT_EQUAL(s.ev[5].pkt.type, ZT_SCN_PKT_ECHO);
	CU_ASSERT_EQUAL(s.ev[5].pkt.echo_id, 7);
	CU_ASSERT_EQUAL(s.ev[5].pkt.echo_seq, 9);
	CU_ASSERT_EQUAL(s.ev[6].pkt.type, ZT_SCN_PKT_UNREACH);
	CU_ASSERT_EQUAL(s.ev[6].pkt.code, 13);
	CU_ASSERT_EQUAL(s.ev[7].pkt.type, ZT_SCN_PKT_RAW);
	CU_ASSERT_EQUAL(s.ev[7].pkt.payload_len, 4);
	CU_ASSERT_EQUAL(s.ev[8].sop, ZT_SCN_S_CONNECT);
	CU_ASSERT_EQUAL(s.ev[8].ep.port, 1080);
	CU_ASSERT_EQUAL(s.ev[9].sop, ZT_SCN_S_ACCEPT);
	CU_ASSERT_EQUAL(s.ev[10].stream, 12);
	CU_ASSERT_EQUAL(s.ev[10].sop, ZT_SCN_S_DATA);
	CU_ASSERT(s.ev[10].fin);
	CU_ASSERT_EQUAL(s.ev[11].window, 10);
	CU_ASSERT(s.ev[12].window_inf);
	CU_ASSERT_EQUAL(s.ev[13].sop, ZT_SCN_S_CLOSE);
	CU_ASSERT_STRING_EQUAL(s.ev[14].var, "q");
	CU_ASSERT_EQUAL(s.ev[14].kind, ZT_SCN_NET_OUT);
	CU_ASSERT_STRING_EQUAL(s.ev[15].var, "q");
	CU_ASSERT_EQUAL(s.ev[15].pkt.len, 1);
	CU_ASSERT_EQUAL(s.ev[16].counter, ZT_SCN_C_STACK);
	CU_ASSERT_EQUAL(s.ev[16].counter_off,
			offsetof(struct zt_stack_stats, udp_flows_active));
	CU_ASSERT_EQUAL(s.ev[17].counter, ZT_SCN_C_DROP);
	CU_ASSERT_EQUAL(s.ev[17].cmp, ZT_SCN_GE);
	CU_ASSERT_EQUAL(s.ev[18].counter, ZT_SCN_C_ROUTER);
	CU_ASSERT_EQUAL(s.ev[19].counter, ZT_SCN_C_TCP_STATE);
	CU_ASSERT_EQUAL(s.ev[19].value, ZT_TCP_TIME_WAIT);
	zt_scn_free(&s);
}

/* Whether docs/scenarios.md names @field in backquotes. */
static bool documented(const char *doc, const char *field)
{
	char q[96];

	snprintf(q, sizeof(q), "`%s`", field);
	return strstr(doc, q) != NULL;
}

/* Mark the 8-byte slots [@from, @to) of a stats struct as not scalar. */
static void skip_slots(bool *seen, size_t from, size_t to)
{
	for (size_t o = from; o < to; o += sizeof(uint64_t))
		seen[o / sizeof(uint64_t)] = true;
}

#define SLOTS(type) (sizeof(struct type) / sizeof(uint64_t))
#define ARRAY_SLOTS(seen, type, field)                                    \
	skip_slots(seen, offsetof(struct type, field),                    \
		   offsetof(struct type, field) +                         \
			   sizeof(((struct type *)0)->field))

/* Every scalar field of the stats structs `assert` reads must be a
 * counter (docs/scenarios.md promises any field of zt_stack_stats), and
 * every router., nat. and fakedns. one must be listed in the docs: a
 * field added to a struct and not to the parser's tables fails here. */
static void test_counters_complete(void)
{
	bool stack[SLOTS(zt_stack_stats)] = { false };
	bool router[SLOTS(zt_router_stats)] = { false };
	bool nat[SLOTS(zt_nat_stats)] = { false };
	bool fakedns[SLOTS(zt_fakedns_stats)] = { false };
	bool tcp[SLOTS(zt_tcb_stats)] = { false };
	const struct {
		uint8_t counter;
		const char *type;
		bool *seen;
		size_t slots;
	} groups[] = {
		{ ZT_SCN_C_STACK, "zt_stack_stats", stack, SLOTS(zt_stack_stats) },
		{ ZT_SCN_C_ROUTER, "zt_router_stats", router, SLOTS(zt_router_stats) },
		{ ZT_SCN_C_NAT, "zt_nat_stats", nat, SLOTS(zt_nat_stats) },
		{ ZT_SCN_C_FAKEDNS, "zt_fakedns_stats", fakedns,
		  SLOTS(zt_fakedns_stats) },
		{ ZT_SCN_C_TCP, "zt_tcb_stats", tcp, SLOTS(zt_tcb_stats) },
	};
	char path[2048], name[96], text[160], *doc;
	const char *nm;
	size_t doclen = 0, n = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/docs/scenarios.md", zt_test_srcdir());
	fp = fopen(path, "rb");
	CU_ASSERT_FATAL(fp != NULL);
	doc = calloc(1, 1 << 20);
	CU_ASSERT_FATAL(doc != NULL);
	doclen = fread(doc, 1, (1 << 20) - 1, fp);
	fclose(fp);
	CU_ASSERT(doclen > 0);
	ARRAY_SLOTS(stack, zt_stack_stats, drops);
	ARRAY_SLOTS(router, zt_router_stats, flows);
	ARRAY_SLOTS(router, zt_router_stats, socks5_failures);
	ARRAY_SLOTS(router, zt_router_stats, http_failures);
	ARRAY_SLOTS(router, zt_router_stats, socks5_udp_dropped);
	ARRAY_SLOTS(tcp, zt_tcb_stats, drops); /* the stack's drops.* */
	for (; (nm = zt_scn_counter_name(n, name, sizeof(name))) != NULL; n++) {
		struct zt_scn s;
		char err[512];
		const char *field = strchr(nm, '.') + 1;
		bool *seen = NULL;
		size_t slots = 0;

		snprintf(text, sizeof(text), "0 assert %s == 0\n", nm);
		CU_ASSERT_EQUAL_FATAL(parse(text, &s, err, sizeof(err)), 0);
		for (size_t k = 0; k < sizeof(groups) / sizeof(groups[0]); k++)
			if (groups[k].counter == s.ev[0].counter)
				seen = groups[k].seen, slots = groups[k].slots;
		if (seen && s.ev[0].counter_off / sizeof(uint64_t) < slots)
			seen[s.ev[0].counter_off / sizeof(uint64_t)] = true;
		else
			CU_FAIL("counter outside its stats struct");
		if (s.ev[0].counter != ZT_SCN_C_STACK && !documented(doc, field)) {
			fprintf(stderr, "\n  %s: not in docs/scenarios.md\n", nm);
			CU_FAIL("counter not documented");
		}
		zt_scn_free(&s);
	}
	CU_ASSERT(n > 80);
	for (size_t k = 0; k < sizeof(groups) / sizeof(groups[0]); k++)
		for (size_t i = 0; i < groups[k].slots; i++)
			if (!groups[k].seen[i]) {
				fprintf(stderr, "\n  struct %s, word %zu: no counter\n",
					groups[k].type, i);
				CU_FAIL("stats field not assertable");
			}
	free(doc);
}

#define BIG_STEP "+1000000000 advance\n"
#define BIG_STEPS_9 BIG_STEP BIG_STEP BIG_STEP BIG_STEP BIG_STEP BIG_STEP \
	BIG_STEP BIG_STEP BIG_STEP

/* Each bad script must fail naming t.scn:LINE and the token. */
static void test_errors(void)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{ "--bogus=1\n", "t.scn:1: unknown option '--bogus'" },
		/* only --route repeats: a second value would silently win */
		{ "--seed=42\n--mtu=1400 --seed=7\n", "t.scn:2: --seed given twice" },
		{ "--stack.tcp.sack=0 --stack.tcp.sack=1\n",
		  "t.scn:1: --stack.tcp.sack given twice" },
		{ "--tun-offload=1\n--tun-offload=0\n", "t.scn:2: --tun-offload given twice" },
		{ "--mtu=100\n", "t.scn:1: --mtu: '100'" },
		{ "--tun-offload=2\n", "t.scn:1: --tun-offload: expected 0 or 1, got '2'" },
		{ "--max-sockets=0\n", "t.scn:1: --max-sockets: '0' is not a number in 1..64" },
		{ "--max-sockets=65\n", "t.scn:1: --max-sockets: '65'" },
		{ "--fake-dns=dns.test\n", "t.scn:1: --fake-dns: 'dns.test' is not an IP address" },
		{ "--fake-dns=1.2.3.4,5.6.7.8\n",
		  "t.scn:1: --fake-dns: at most one IPv4 and one IPv6 address" },
		{ "--fake-ip-range=fd00::/64\n",
		  "t.scn:1: --fake-ip-range: 'fd00::/64' is not an IPv4 prefix" },
		{ "--fake-ip6-range=fd00::1/64\n", "t.scn:1: --fake-ip6-range: host bits set" },
		{ "--fake-dns-names=0\n", "t.scn:1: --fake-dns-names: '0'" },
		{ "--fake-dns-upstream=192.0.2.53\n",
		  "t.scn:1: --fake-dns-upstream: expected ADDR:PORT, got '192.0.2.53'" },
		{ "0 assert fakedns.nothing == 1\n", "unknown counter 'fakedns.nothing'" },
		{ "--route=\"tcp nowhere -> socks5\"\n", "t.scn:1: --route:" },
		{ "\n0 advance\n--seed=1\n", "t.scn:3: header option '--seed=1' after" },
		{ "0 tux< 1.2.3.4:1 > 5.6.7.8:2 S 0:0(0)\n", "t.scn:1: unknown direction 'tux<'" },
		/* a SACK option holds 1 to 4 blocks: said so, not "unknown" */
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 S 0:0(0) <sack 1:2 3:4 5:6 7:8 9:10>\n",
		  "t.scn:1: 'sack' takes 1 to 4 blocks, got 5" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 S 0:0(0) <sack>\n",
		  "t.scn:1: 'sack' takes 1 to 4 blocks, got 0" },
		/* words past the twelfth were dropped unseen */
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 S 0:0(0) <mss 1460 1 2 3 4 5 6 7 8 9 10 11 12>\n",
		  "t.scn:1: too many words in option 'mss'" },
		{ "x tun< 1.2.3.4:1 > 5.6.7.8:2 S 0:0(0)\n", "t.scn:1: bad time 'x'" },
		{ "1 advance\n0.5 advance\n", "t.scn:2: time '0.5' goes backwards" },
		/* 18 steps of 10^18 ns fit in 64 bits, the 19th does not */
		{ BIG_STEPS_9 BIG_STEPS_9 BIG_STEP,
		  "t.scn:19: time '+1000000000' overflows the virtual clock" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 SZ 0:0(0)\n", "bad TCP flags 'SZ'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 S 0:5(4)\n", "bad sequence range '0:5(4)'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 S 0:0(0) <mss x>\n", "unknown TCP option 'mss'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 R. -1:4294967295(0)\n",
		  "t.scn:1: bad sequence range '-1:4294967295(0)'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 S 0:0(0garbage win 100\n",
		  "t.scn:1: bad sequence range '0:0(0garbage'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 R. 0:0(0 ack 1\n",
		  "t.scn:1: bad sequence range '0:0(0'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 S 0:4294967296(4294967296)\n",
		  "t.scn:1: bad sequence range '0:4294967296(4294967296)'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 S +0:+1(1) \"a\"\n",
		  "t.scn:1: bad sequence range '+0:+1(1)'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 . 1:1(0) <sack -7:4294967297>\n",
		  "t.scn:1: bad SACK block '-7:4294967297'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 . 1:1(0) <sack 1:4294967296>\n",
		  "t.scn:1: bad SACK block '1:4294967296'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 . 1:1(0) <sack +1:2>\n",
		  "t.scn:1: bad SACK block '+1:2'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 . 1:1(0) <sack 1:>\n",
		  "t.scn:1: bad SACK block '1:'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 S 0:0(0) bogus\n", "unexpected 'bogus'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 P. 1:3(2) \"abc\"\n", "payload is 3 bytes, '1:3(2)' says 2" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 S 0:0(0) \"abc\n", "unterminated string" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 S 0:0(0) \"\\q\"\n", "bad escape '\\q'" },
		{ "0 tun< S 0:0(0)\n", "the first TCP line needs SRC:PORT > DST:PORT, got 'S'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 udp 3\n", "expected (LEN) after 'udp', got '3'" },
		{ "0 tun> 1.2.3.4 > 5.6.7.8 raw 00\n", "'raw' is for input (tun<) only" },
		{ "0 tun< 1.2.3.4 > 5.6.7.8 icmp unreach 3\n", "an input 'unreach' needs 'quotes SRC:PORT > DST:PORT'" },
		{ "0 tun< 1.2.3.4 > 5.6.7.8 icmp unreach 3 quotes 5.6.7.8 > 1.2.3.4\n", "an input 'unreach' needs 'quotes SRC:PORT > DST:PORT'" },
		{ "0 tun< 1.2.3.4 > 5.6.7.8 icmp toobig 1400 quotes 5.6.7.8 > 1.2.3.4 echo 1 2\n", "an input 'toobig' needs 'quotes SRC:PORT > DST:PORT'" },
		{ "0 tun< 1.2.3.4 > 5.6.7.8 icmp bounce 3\n", "unknown icmp message 'bounce'" },
		{ "0 tun< 1.2.3.x:1 > 5.6.7.8:2 S 0:0(0)\n", "bad address '1.2.3.x:1'" },
		{ "0 s1> accept\n", "t.scn:1: 'accept' is not allowed on s1>" },
		{ "0 s1< close\n", "'close' is not allowed on s1<" },
		{ "0 s1> connect nowhere\n", "expected ADDR:PORT after 'connect', got 'nowhere'" },
		{ "0 s1< window lots\n", "expected N or 'inf' after 'window', got 'lots'" },
		{ "0 s1< unreach far\n",
		  "expected 'host', 'net' or 'prohibited' after 'unreach', got 'far'" },
		{ "0 s1< unreach net host\n", "t.scn:1: unexpected 'host'" },
		{ "0 s1< timex\n", "expected ADDR after 'timex', got ''" },
		{ "0 s1< timex 1.2.3.4:5\n", "expected ADDR after 'timex', got '1.2.3.4:5'" },
		{ "0 s1> connect 1.2.3.4:5 ttl 0\n",
		  "expected 'ttl N' (1-255) after '1.2.3.4:5', got 'ttl'" },
		{ "0 tun> 1.2.3.4:5 > 5.6.7.8:9 S 0:0(0) ttl 3\n",
		  "'ttl' is for tun< and net> lines" },
		{ "0 s1> unreach\n", "'unreach' is not allowed on s1>" },
		{ "0 s1> zz\n", "unexpected 'zz' (not a payload)" },
		{ "0 s1> \"\"\n",
		  "t.scn:1: empty payload on s1> (an expectation of no bytes cannot fail)" },
		{ "0 s1> \"\" \"\"\n", "t.scn:1: empty payload on s1>" },
		{ "0 net> tcp 1.2.3.4:5 (1)\n", "expected 'udp' or 'icmp', got 'tcp'" },
		{ "0 net< tcp 1.2.3.4:5 (1)\n", "expected 'udp', 'icmp' or 'error', got 'tcp'" },
		{ "0 net> error 1.2.3.4 unreach 3 to 5.6.7.8:9 (0)\n",
		  "expected 'udp' or 'icmp', got 'error'" },
		{ "0 net< error 1.2.3.4 bounce 3 to 5.6.7.8:9 (0)\n",
		  "expected unreach, timex, param or toobig, got 'bounce'" },
		{ "0 net< error 1.2.3.4 unreach to 5.6.7.8:9 (0)\n",
		  "expected CODE after 'unreach'" },
		{ "0 net< error 1.2.3.4 toobig to ::1 (0)\n",
		  "expected 'to DST' of the family of '1.2.3.4'" },
		{ "0 net< error 1.2.3.4 toobig big to 5.6.7.8:9 (0)\n",
		  "expected MTU or 'to' after 'toobig', got 'big'" },
		{ "0 tun> 1.2.3.4 > 5.6.7.8 icmp toobig quotes 5.6.7.8 > 1.2.3.4\n",
		  "expected MTU after 'toobig'" },
		{ "0 tun< [::1]:1 > [::2]:2 udp (0) df\n", "'df' is for IPv4 tun< lines" },
		{ "0 net> udp $q 1.2.3.4:5 (0) df\n", "'df' is for IPv4 tun< lines" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 udp (0) df df\n", "'df' given twice" },
		{ "0 net< error 1.2.3.4 timex 0 to 5.6.7.8:9 (2) 00\n",
		  "payload is 1 bytes, '(2)' says 2" },
		{ "0 tun< 1.2.3.4 > 5.6.7.8 icmp timex 0\n", "an input 'timex' needs 'quotes SRC:PORT > DST:PORT'" },
		{ "0 tun> 1.2.3.4 > 5.6.7.8 icmp unreach 3 quoting x\n",
		  "expected 'quotes SRC > DST', got 'quoting'" },
		{ "0 tun> 1.2.3.4 > 5.6.7.8 icmp unreach 3 quotes 5.6.7.8:1 > 1.2.3.4\n",
		  "bad quoted address '1.2.3.4' (ports on both or neither)" },
		{ "0 tun> 1.2.3.4 > 5.6.7.8 icmp unreach 3 quotes 5.6.7.8 > ::1\n",
		  "bad quoted address '::1'" },
		{ "0 tun> 1.2.3.4 > 5.6.7.8 icmp unreach 1 quotes 5.6.7.8 > 1.2.3.4 echo 1\n",
		  "expected ID SEQ after 'echo'" },
		{ "0 net> icmp 1.2.3.4:5 (1)\n", "bad address '1.2.3.4:5' (icmp: an address, no port)" },
		{ "0 net> udp $ 1.2.3.4:5 (1)\n", "bad variable '$'" },
		{ "0 net< udp 1.2.3.4:5 > $v (2) 00\n", "payload is 1 bytes, '(2)' says 2" },
		{ "0 assert stack.nothing == 1\n", "unknown counter 'stack.nothing'" },
		{ "0 assert drops.truncated =~ 1\n", "unknown operator '=~'" },
		{ "0 assert tcp.state == OPEN\n", "unknown TCP state 'OPEN'" },
		{ "0 assert tcp.state < CLOSED\n", "tcp.state takes == or !=, not '<'" },
		{ "0 advance now\n", "unexpected 'now' after 'advance'" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 udp (1) ttl 0 \"a\"\n",
		  "expected a TTL of 1-255 after 'ttl', got '0'" },
		{ "0 tun< 1.2.3.4 > 5.6.7.8 icmp echo 1 2 ttl\n",
		  "expected a TTL of 1-255 after 'ttl', got ''" },
		{ "0 tun> 1.2.3.4:1 > 5.6.7.8:2 udp (1) ttl 9\n",
		  "'ttl' is for tun< and net> lines" },
		{ "0 net< udp 1.2.3.4:5 > $v (1) ttl 9\n", "'ttl' is for tun< and net> lines" },
		{ "0 net> udp 1.2.3.4:5 (1) \"a\" ttl 9\n", "unexpected 'ttl' (not a payload)" },
		{ "0 tun< 1.2.3.4:1 > 5.6.7.8:2 udp (1) tos 256 \"a\"\n",
		  "expected a traffic class of 0-255 after 'tos', got '256'" },
		{ "0 net> udp 1.2.3.4:5 (1) tos 1 ttl 2 tos 1\n", "'tos' given twice" },
		{ "0 tun> 1.2.3.4:1 > 5.6.7.8:2 udp (1) ttl 9 tos 9\n",
		  "'ttl' is for tun< and net> lines" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zt_scn s;
		char err[512];
		int rc = parse(cases[i].text, &s, err, sizeof(err));

		CU_ASSERT_EQUAL(rc, -22);
		if (rc != -22 || !strstr(err, cases[i].want) ||
		    strncmp(err, "t.scn:", 6)) {
			fprintf(stderr, "\ncase %zu: got '%s', want '%s'\n", i,
				rc ? err : "(success)", cases[i].want);
			CU_FAIL("error message");
		}
		if (rc == 0)
			zt_scn_free(&s);
	}
}

static const char good_script[] =
	"--seed=3\n"
	"0      tun< 10.0.0.2:42000 > 203.0.113.9:22 S 0:0(0) <mss 1460>\n"
	"+0     s1> connect 203.0.113.9:22\n"
	"+0.010 s1< accept\n"
	"+0     tun> 203.0.113.9:22 > 10.0.0.2:42000 S. 0:0(0) ack 1 <mss 1460>\n"
	"+0.001 tun< . 1:1(0) ack 1\n"
	"+0     tun< P. 1:4(3) ack 1 \"abc\"\n"
	"+0     s1> \"abc\"\n"
	"+0.040 tun> . 1:1(0) ack 4 ...\n" /* the delayed-ACK timer */
	"+0.050 advance\n"
	"+0     assert tcp.state == ESTABLISHED\n";

static int run_text(const char *text, struct zt_scn_result *res)
{
	struct zt_scn s;
	char err[512];
	int rc = parse(text, &s, err, sizeof(err));

	if (rc) {
		fprintf(stderr, "\nparse: %s\n", err);
		return -1;
	}
	rc = zt_scn_run(&s, NULL, res);
	zt_scn_free(&s);
	return rc;
}

static void test_run_passes_deterministic(void)
{
	struct zt_scn_result r1, r2;

	CU_ASSERT_EQUAL(run_text(good_script, &r1), 0);
	CU_ASSERT(r1.passed);
	CU_ASSERT_EQUAL(run_text(good_script, &r2), 0);
	CU_ASSERT_EQUAL(r1.trace_hash, r2.trace_hash);
	CU_ASSERT_EQUAL(r1.seed, 3);
}

/* Replace the first occurrence of @from in @text by @to (one of two static
 * buffers, so that edit(edit(...)) works). */
static const char *edit(const char *text, const char *from, const char *to)
{
	static char bufs[2][4096];
	static unsigned which;
	char *buf = bufs[which ^= 1];
	const char *p = strstr(text, from);

	if (!p)
		return text;
	snprintf(buf, sizeof(bufs[0]), "%.*s%s%s", (int)(p - text), text, to,
		 p + strlen(from));
	return buf;
}

static void test_wrong_expectation(void)
{
	struct zt_scn_result r;
	const char *text = edit(good_script, "S. 0:0(0) ack 1", "R. 0:0(0) ack 1");
	const char *want =
		"t.scn:5: expected tun> 203.0.113.9:22 > 10.0.0.2:42000 R. 0:0(0) ack 1 <mss 1460>\n"
		"         actual   tun> 203.0.113.9:22 > 10.0.0.2:42000 S. 0:0(0) ack 1 <mss 1460>\n"
		"  seed 3; reproduce: ztun-sim run --seed=3 t.scn";

	CU_ASSERT_EQUAL(run_text(text, &r), 1);
	CU_ASSERT(!r.passed);
	CU_ASSERT_EQUAL(r.fail_line, 5);
	if (strcmp(r.msg, want)) {
		fprintf(stderr, "\ngot:\n%s\nwant:\n%s\n", r.msg, want);
		CU_FAIL("message format");
	}
	/* A wrong payload, a missing output, and a late one fail too. */
	CU_ASSERT_EQUAL(run_text(edit(good_script, "s1> \"abc\"", "s1> \"abd\""), &r), 1);
	CU_ASSERT(strstr(r.msg, "t.scn:8: expected s1> \"abd\"") != NULL);
	CU_ASSERT(strstr(r.msg, "actual   s1> \"abc\"") != NULL);
	CU_ASSERT_EQUAL(run_text(edit(good_script, "+0     s1> \"abc\"\n", ""), &r), 1);
	CU_ASSERT(strstr(r.msg, "t.scn:9: expected (no more output)") != NULL);
	CU_ASSERT(strstr(r.msg, "actual   s1> \"abc\" at 0.011000") != NULL);
	CU_ASSERT_EQUAL(run_text(edit(good_script, "+0.040 tun> . 1:1(0) ack 4 ...",
				      "+0.5   tun> . 1:1(0) ack 4 ..."), &r), 1);
	CU_ASSERT(strstr(r.msg, " at 0.511000") != NULL);
	CU_ASSERT_EQUAL(run_text(edit(good_script, "ESTABLISHED", "CLOSED"), &r), 1);
	CU_ASSERT(strstr(r.msg, "t.scn:11: expected tcp.state == CLOSED") != NULL);
	CU_ASSERT(strstr(r.msg, "actual   tcp.state = ESTABLISHED") != NULL);
}

static void test_unexpected_output(void)
{
	struct zt_scn_result r;
	/* Without the line that expects the ACK, that ACK is unexpected. */
	const char *text = edit(good_script, "+0.040 tun> . 1:1(0) ack 4 ...\n", "");

	CU_ASSERT_EQUAL(run_text(text, &r), 1);
	CU_ASSERT_EQUAL(r.fail_line, 9);
	CU_ASSERT(strstr(r.msg, "t.scn:9: expected (no more output)\n") != NULL);
	CU_ASSERT(strstr(r.msg, "actual   tun> 203.0.113.9:22 > 10.0.0.2:42000 . 1:1(0) ack 4") != NULL);
	/* And at the end of a script without advance. */
	text = edit(good_script, "+0.050 advance\n+0     assert tcp.state == ESTABLISHED\n", "");
	text = edit(text, "+0     s1> \"abc\"\n", "");
	CU_ASSERT_EQUAL(run_text(text, &r), 1);
	CU_ASSERT(strstr(r.msg, "expected (no more output)") != NULL);
}

static void test_seed_override(void)
{
	struct zt_scn s;
	struct zt_scn_result r1, r2;
	struct zt_scn_opts o = { true, 99, NULL };
	char err[256];

	CU_ASSERT_EQUAL_FATAL(parse(good_script, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(zt_scn_run(&s, &o, &r1), 0);
	CU_ASSERT_EQUAL(r1.seed, 99);
	CU_ASSERT_EQUAL(zt_scn_run(&s, NULL, &r2), 0);
	CU_ASSERT_NOT_EQUAL(r1.trace_hash, r2.trace_hash);
	zt_scn_free(&s);
}

/* Regression (found by fuzz_scenario): a script ending inside a "\x"
 * escape made the error message read past the text. The text sits in an
 * exactly-sized buffer so ASan sees any over-read. */
static void test_truncated_escape(void)
{
	static const char *const texts[] = { "\"\\x", "\"\\x4", "0 s1< \"\\x" };

	for (unsigned i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t n = strlen(texts[i]);
		char *t = malloc(n);
		struct zt_scn scn;
		char err[256];

		CU_ASSERT_FATAL(t != NULL);
		memcpy(t, texts[i], n);
		CU_ASSERT_EQUAL(zt_scn_parse("t.scn", t, n, &scn, err, sizeof(err)), -EINVAL);
		CU_ASSERT(strstr(err, "t.scn:1:") != NULL);
		free(t);
	}
}


/* @text fails at line @line with a message holding @words. */
static void expect_run_fails(const char *text, unsigned line, const char *words)
{
	struct zt_scn_result r;

	CU_ASSERT_EQUAL(run_text(text, &r), 1);
	CU_ASSERT_EQUAL(r.fail_line, line);
	if (!strstr(r.msg, words)) {
		fprintf(stderr, "\n%s\n", r.msg);
		CU_FAIL(words);
	}
}

/* The executor's tables (64 TCP connections, 64 upstream streams, 64
 * datagram sockets per script) are the simulator's, not ztun's: a script
 * that outgrows one must fail saying so, not hand ztun an EMFILE it never
 * asked for (--max-sockets is how a script asks) or a packet that "cannot
 * be built". */
static void test_table_limits(void)
{
	static char text[65536];
	size_t n;

	/* 65 connections, each its own stream: the 65th client SYN. */
	n = (size_t)snprintf(text, sizeof(text), "--seed=3\n");
	for (unsigned i = 0; i < 65; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
			"+0 tun< 10.0.0.2:%u > 203.0.113.9:22 S 0:0(0) <mss 1460>\n"
			"+0 s%u> connect 203.0.113.9:22\n"
			"+0 s%u< accept\n"
			"+0 tun> S. 0:0(0) ack 1 <mss 1460>\n",
			40000 + i, i + 1, i + 1);
	expect_run_fails(text, 2 + 64 * 4, "more than 64 TCP connections");

	/* 65 streams of one connection (each connect refused, the SYN sent
	 * again): the 65th stream. */
	n = (size_t)snprintf(text, sizeof(text), "--seed=3\n");
	for (unsigned i = 0; i < 65; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
			"+0.1 tun< 10.0.0.2:43000 > 192.0.2.80:8080 S 0:0(0) <mss 1460>\n"
			"+0 s%u> connect 192.0.2.80:8080\n"
			"+0 s%u< refuse\n"
			"+0 tun> R. 0:0(0) ack 1\n", i + 1, i + 1);
	expect_run_fails(text, 2 + 64 * 4, "more than 64 upstream streams");

	/* 65 UDP flows, each on its own socket: the 65th datagram. */
	n = (size_t)snprintf(text, sizeof(text), "--seed=3\n");
	for (unsigned i = 0; i < 65; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
			"+0 tun< 10.0.0.2:%u > 198.51.100.7:53 udp (4) \"abcd\"\n"
			"+0 net> udp $v%u 198.51.100.7:53 (4) \"abcd\"\n",
			40000 + i, i);
	expect_run_fails(text, 2 + 64 * 2, "more than 64 datagram sockets");
}

/* The tolerance is added to line and output times: a large one (the
 * parser takes up to about 10^10 s) on lines late in the 64-bit clock
 * must not wrap and fail an output that came exactly on time. */
static void test_tolerance_no_overflow(void)
{
	const char *text =
		"--seed=3 --tolerance=10000000000\n"
		"9000000000 tun< 10.0.0.2:42000 > 203.0.113.9:22 S 0:0(0) <mss 1460>\n"
		"+0     s1> connect 203.0.113.9:22\n"
		"+0.010 s1< accept\n"
		"+0     tun> 203.0.113.9:22 > 10.0.0.2:42000 S. 0:0(0) ack 1 <mss 1460>\n"
		"+0.001 tun< . 1:1(0) ack 1\n"
		"+0     tun< P. 1:4(3) ack 1 \"abc\"\n"
		"+0     s1> \"abc\"\n";
	struct zt_scn_result r;

	CU_ASSERT_EQUAL(run_text(text, &r), 0);
	if (!r.passed)
		fprintf(stderr, "\n%s\n", r.msg);
}

/* `ttl N`, `tos N` and `df` on a TCP input, in any order, as on UDP and
 * echo inputs (the TTL alone used to open the way for the other two), and
 * `df` also on a TCP line that leaves out the addresses of its IPv4
 * connection; a TCP expected line does not check its traffic class, so
 * `tos` there is refused rather than ignored. */
static void test_tcp_ip_fields(void)
{
	struct zt_scn s;
	char err[512];
	const char *text =
		"0  tun< 10.0.0.2:40 > 8.8.8.8:80 S 0:0(0) tos 4\n"
		"+0 tun< . 1:1(0) ack 1 df\n"
		"+0 tun< . 1:1(0) ack 1 df tos 184 ttl 3 <nop>\n"
		"+0 tun< [fd00::2]:40 > [fd00::9]:80 S 0:0(0) tos 1 ttl 9\n";
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "0 tun> 8.8.8.8:80 > 10.0.0.2:40 S. 0:0(0) ack 1 tos 4\n",
		  "t.scn:1: 'tos' on a TCP tun> line is not checked" },
		{ "0 tun< [fd00::2]:40 > [fd00::9]:80 S 0:0(0) df\n",
		  "t.scn:1: 'df' is for IPv4 tun< lines" },
		{ "0 tun< [fd00::2]:40 > [fd00::9]:80 S 0:0(0)\n+0 tun< . 1:1(0) df\n",
		  "t.scn:2: 'df' is for IPv4 tun< lines" },
		{ "0 tun< 10.0.0.2:40 > 8.8.8.8:80 S 0:0(0) tos 1 tos 2\n",
		  "t.scn:1: 'tos' given twice" },
	};

	if (parse(text, &s, err, sizeof(err))) {
		fprintf(stderr, "\n%s\n", err);
		CU_FAIL("parse");
		return;
	}
	CU_ASSERT_EQUAL_FATAL(s.n, 4);
	CU_ASSERT(s.ev[0].pkt.has_tos && s.ev[0].pkt.tos == 4 && !s.ev[0].pkt.ttl);
	CU_ASSERT(s.ev[1].pkt.df && !s.ev[1].pkt.has_tos);
	CU_ASSERT(s.ev[2].pkt.df && s.ev[2].pkt.tos == 184 && s.ev[2].pkt.ttl == 3 &&
		  s.ev[2].pkt.nopts == 1);
	CU_ASSERT(s.ev[3].pkt.tos == 1 && s.ev[3].pkt.ttl == 9);
	zt_scn_free(&s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i].text, &s, err, sizeof(err));

		if (rc != -EINVAL || !strstr(err, bad[i].want)) {
			fprintf(stderr, "\ncase %zu: got '%s', want '%s'\n", i,
				rc ? err : "(success)", bad[i].want);
			CU_FAIL("error message");
		}
		if (rc == 0)
			zt_scn_free(&s);
	}
}

/* A UTF-8 byte order mark, which some editors put first in a file, is
 * not part of the first line: it used to make '--seed=5' a bad time
 * whose message quoted the invisible mark. UTF-8 inside strings is bytes
 * like any other. */
static void test_utf8_bom(void)
{
	struct zt_scn s;
	char err[512];
	const char *text = "\xef\xbb\xbf--seed=5\r\n"
			   "0 tun< 10.0.0.2:53 > 8.8.8.8:53 udp (5) \"\xc3\xa9t\xc3\xa9\"\r\n";

	if (parse(text, &s, err, sizeof(err))) {
		fprintf(stderr, "\n%s\n", err);
		CU_FAIL("parse");
		return;
	}
	CU_ASSERT_EQUAL(s.hdr.seed, 5);
	CU_ASSERT_EQUAL_FATAL(s.n, 1);
	CU_ASSERT_EQUAL(s.ev[0].line, 2);
	CU_ASSERT(s.ev[0].pkt.payload_len == 5 &&
		  memcmp(s.ev[0].pkt.payload, "\xc3\xa9t\xc3\xa9", 5) == 0);
	zt_scn_free(&s);
	/* only at the very start: elsewhere it is a token like any other */
	CU_ASSERT_EQUAL(parse("0 advance\n\xef\xbb\xbf" "1 advance\n", &s, err,
			      sizeof(err)), -EINVAL);
	CU_ASSERT(strstr(err, "t.scn:2: bad time") != NULL);
}

/* What follows from a script's flow caps is sized from them, as ztun-ref
 * does (zt_router_config_fit_flows()): with 1 GiB rings the default
 * budget (4096 flows of default rings, 2 GiB) holds one flow, and a
 * script that allows three gets room for three. */
static void test_flow_caps_size_budget(void)
{
	const char *text =
		"--seed=5 --stack.max_tcp_flows=3 --stack.tcp.rx_buf=1073741824"
		" --stack.tcp.tx_buf=1073741824\n"
		"0  tun< 10.0.0.2:40000 > 192.0.2.1:80 S 0:0(0) <mss 1460>\n"
		"+0 s1> connect 192.0.2.1:80\n"
		"+0 s1< accept\n"
		"+0 tun> 192.0.2.1:80 > 10.0.0.2:40000 S. 0:0(0) ack 1 <mss 1460>\n"
		"+0 tun< 10.0.0.2:40001 > 192.0.2.1:80 S 0:0(0) <mss 1460>\n"
		"+0 s2> connect 192.0.2.1:80\n"
		"+0 s2< accept\n"
		"+0 tun> 192.0.2.1:80 > 10.0.0.2:40001 S. 0:0(0) ack 1 <mss 1460>\n"
		"+0 advance\n"
		"+0 assert stack.tcp_flows_active == 2\n";
	struct zt_scn_result r;
	struct zt_router_config cfg;

	CU_ASSERT_EQUAL(run_text(text, &r), 0);
	if (!r.passed)
		fprintf(stderr, "\n%s\n", r.msg);
	CU_ASSERT(r.passed);

	/* and the NAT table holds a session for every UDP flow; the budget
	 * is counted in 64 bits */
	zt_router_config_default(&cfg);
	cfg.stack.max_udp_flows = 20000;
	cfg.stack.max_tcp_flows = 10;
	cfg.stack.tcp.rx_buf = 3u << 30;
	cfg.stack.tcp.tx_buf = 2u << 30;
	zt_router_config_fit_flows(&cfg);
	CU_ASSERT_EQUAL(cfg.nat.capacity, 20000);
	CU_ASSERT_EQUAL(cfg.stack.mem_budget, 10 * (5ull << 30));
}

int zt_suite_scenario(void)
{
	static const struct zt_test_case cases[] = {
		{ "header", test_header },
		{ "flow_caps_size_budget", test_flow_caps_size_budget },
		{ "events", test_events },
		{ "errors", test_errors },
		{ "counters_complete", test_counters_complete },
		{ "run_passes_deterministic", test_run_passes_deterministic },
		{ "wrong_expectation", test_wrong_expectation },
		{ "unexpected_output", test_unexpected_output },
		{ "seed_override", test_seed_override },
		{ "truncated_escape", test_truncated_escape },
		{ "table_limits", test_table_limits },
		{ "tolerance_no_overflow", test_tolerance_no_overflow },
		{ "tcp_ip_fields", test_tcp_ip_fields },
		{ "utf8_bom", test_utf8_bom },
		{ 0 }
	};

	return zt_add_suite("scenario", NULL, NULL, cases);
}
