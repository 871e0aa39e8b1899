/* SPDX-License-Identifier: MIT */
/*
 * test_stats.c - ztun-ref's counters (sim/real/stats.c): the text lines of
 * SIGUSR1 and exit keep the format docs/cli.md gives (tests and the
 * benchmark parse them), and the Prometheus file of --stats-file carries
 * the same counters, each metric described once, every sample line
 * well-formed, written whole or not at all.
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "real/stats.h"
#include "test.h"
#include "ztun/drop.h"
#include "ztun/http_connect.h"
#include "ztun/socks5.h"

struct counters {
	struct zr_host_stats hs;
	struct zt_router_stats rs;
	struct zt_stack_stats ss;
	struct zt_fakedns_stats fs;
	struct zt_nat_stats ns;
	uint32_t states[ZT_TCP_TIME_WAIT + 1];
	struct zt_tcb_stats tcp;
};

static char *text_of(const struct zr_stats *st, const char *title,
		     uint64_t up)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CU_ASSERT_FATAL(f != NULL);
	zr_stats_text(f, st, title, up);
	fclose(f);
	return buf;
}

static char *prom_of(const struct zr_stats *st, uint64_t up)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CU_ASSERT_FATAL(f != NULL);
	zr_stats_prom(f, st, up);
	fclose(f);
	return buf;
}

/* @want is one whole line of @text; else the lines that begin alike
 * are shown. */
static void assert_line(const char *text, const char *want)
{
	size_t tl = strlen(text), wl = strlen(want);
	char *hay = malloc(tl + 2), *needle = malloc(wl + 3);
	bool found;

	CU_ASSERT_FATAL(hay && needle);
	snprintf(hay, tl + 2, "\n%s", text);
	snprintf(needle, wl + 3, "\n%s\n", want);
	found = strstr(hay, needle) != NULL;
	if (!found) {
		size_t head = strcspn(want + 17, " ") + 17; /* its first word */
		char *copy = strdup(text), *save = NULL;

		fprintf(stderr, "\nwant: %s\n", want);
		for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
			if (strncmp(l, want, head) == 0)
				fprintf(stderr, " got: %s\n", l);
		free(copy);
	}
	CU_ASSERT(found);
	free(hay);
	free(needle);
}

static void test_text_format(void)
{
	struct counters c;
	struct zr_stats st;
	char *t;

	memset(&c, 0, sizeof(c));
	c.hs.tun_rx_packets = 1;
	c.hs.tun_rx_bytes = 2;
	c.hs.tun_tx_packets = 3;
	c.hs.tun_tx_bytes = 4;
	c.hs.tun_tx_errors = 5;
	c.hs.tun_rx_too_long = 6;
	c.hs.tun_rx_bad_vnet = 7;
	c.hs.dgram_tx = 6;
	c.hs.dgram_send_calls = 7;
	c.hs.dgram_gso_sends = 8;
	c.hs.dgram_gso_segs = 9;
	c.hs.dgram_path_mtu_asks = 13;
	c.hs.sockets_open = 21;
	c.hs.descriptor_shortages = 22;
	c.rs.flows[ZT_ROUTE_SOCKS5] = 30;
	c.rs.flows[ZT_ROUTE_NAT] = 31;
	c.rs.tcp_relayed_up = 40;
	c.rs.tcp_relayed_down = 41;
	c.ss.tcp_flows_opened = 42;
	c.ss.tcp_flows_active = 43;
	c.ss.tcp_time_wait_reopened = 44;
	c.rs.socks5_failures[ZT_SOCKS5_CONN_REFUSED] = 2;
	c.rs.socks5_failures[ZT_SOCKS5_HOST_UNREACH] = 3;
	c.rs.socks5_udp_unsupported = 4;
	c.hs.busy_poll_spins = 50;
	c.hs.busy_poll_caught = 51;
	c.ss.packets_in = 60;
	c.ss.packets_out = 61;
	c.ss.bytes_in = 62;
	c.ss.bytes_out = 63;
	c.ss.pmtu_not_believed = 64;
	c.states[ZT_TCP_ESTABLISHED] = 70;
	c.states[ZT_TCP_TIME_WAIT] = 71;
	c.ns.active = 80;
	c.ns.removed = 81;
	c.ns.reverse_hits = 82;
	c.tcp.segs_in = 90;
	c.tcp.segs_out = 91;
	c.tcp.retransmits = 92;
	c.tcp.rto_expiries = 93;
	c.tcp.fast_retransmits = 94;
	c.tcp.tlp_probes = 95;
	c.tcp.lost_retransmits = 99;
	c.tcp.rack_marked = 89;
	c.tcp.undos = 88;
	c.tcp.spurious_rtos = 87;
	c.tcp.sack_renegings = 86;
	c.tcp.dupacks_in = 96;
	c.tcp.ooo_segs = 97;
	c.tcp.challenge_acks = 98;
	c.tcp.oow_acks_skipped = 85;
	zr_stats_collect(&st, &c.hs, &c.rs, &c.ss, NULL, &c.ns, c.states, &c.tcp, 20);
	t = text_of(&st, "exit", 12345678901ull);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(strncmp(t, "ztun-ref: stats: exit, up 12.345 s\n", 35), 0);
	assert_line(t, "ztun-ref: stats: tun rx 1 packets 2 bytes, tx 3 packets 4 bytes, tx errors 5, rx too long 6");
	assert_line(t, "ztun-ref: stats: tun offload: rx partial 0, tx tso 0, acks coalesced 0, rx udp gso 0, rx udp gso bad 0, rx bad vnet 7");
	assert_line(t, "ztun-ref: stats: stack packets in 60, packets out 61, in 62 bytes, out 63 bytes");
	assert_line(t, "ztun-ref: stats: tcp-state SYN_RECEIVED 0, ESTABLISHED 70, FIN_WAIT_1 0, FIN_WAIT_2 0, CLOSE_WAIT 0, CLOSING 0, LAST_ACK 0, TIME_WAIT 71");
	assert_line(t, "ztun-ref: stats: tcp-segs in 90, out 91, retransmits 92, rto expiries 93, fast retransmits 94, loss probes 95, lost retransmits 99, rack marked 89, undos 88, spurious rtos 87, sack reneging 86, dupacks in 96, out of order 97, challenge acks 98, oow acks skipped 85");
	assert_line(t, "ztun-ref: stats: nat active 80, created 0, mappings 0, mappings created 0, expired 0, removed 81, insert failures 0, no slot 0, no port 0, lookups 0, hits 0, reverse lookups 0, reverse hits 82");
	assert_line(t, "ztun-ref: stats: flows direct 0, socks5 30, http 0, drop 0, local 0, nat 31");
	assert_line(t, "ztun-ref: stats: tcp opened 42, active 43, up 40 bytes, up direct 0 bytes, up early 0 bytes, up sends 0, down 41 bytes, connect failed 0, upstream reset 0, unsent reset 0, upstream keepalives 0, upstream timeouts 0, refused 0, connect timeouts 0, idle timeouts 0, idle evicted 0, rst sent 0, refused full 0, refused memory 0, early syn-acks 0, time-wait reopened 44");
	assert_line(t, "ztun-ref: stats: udp in 0, out 0, flows opened 0, active 0, expired 0, up 0 bytes, down 0 bytes, dropped 0, refused full 0, evicted 0, reply mismatch 0, spoofed 0, relay lost 0, cone in 0, gso runs 0, nat refused 0, nat port taken 0, mappings 0, mappings active 0, mapping cone in 0, client unreachable 0");
	assert_line(t, "ztun-ref: stats: icmp echo replies 0, errors sent 0, limited 0, errors in 0, matched 0, too big not believed 64, dropped 0, echo out 0, echo in 0, upstream errors relayed 0, ignored 0");
	assert_line(t, "ztun-ref: stats: proxy no proxy 0, down refused 0, socks5 down 0, http down 0, socks5 failures 5, http failures 0, socks5 udp dropped 0, udp associations 0, active 0, udp unsupported 4, udp timeouts 0, udp closed by proxy 0");
	assert_line(t, "ztun-ref: stats: sockets open 21, streams opened 0, open errors 0, failed 0, read pauses 0, short sends 0, dgrams opened 0, dgram rx 0, dgram rx dropped 20, send errors 0, dscp sets 0, syn ttl sets 0, out of descriptors 22");
	assert_line(t, "ztun-ref: stats: dgram tx 6 in 7 sends, gso sends 8 carrying 9, ttl sets 0, tos sets 0, df sets 0, path mtu asks 13");
	assert_line(t, "ztun-ref: stats: busy-poll spins 50, caught 51");
	assert_line(t, "ztun-ref: stats: drops (none)");
	/* a line per SOCKS5 failure kind seen, none for HTTP; no fake-IP or
	 * DNS-over-TCP line when they did nothing */
	{
		char want[128];

		snprintf(want, sizeof(want), "ztun-ref: stats: socks5 %s 3\nztun-ref: stats: socks5 %s 2\n",
			 zt_socks5_outcome_name(ZT_SOCKS5_HOST_UNREACH),
			 zt_socks5_outcome_name(ZT_SOCKS5_CONN_REFUSED));
		CU_ASSERT_PTR_NOT_NULL(strstr(t, want));
	}
	CU_ASSERT_PTR_NULL(strstr(t, "stats: http "));
	CU_ASSERT_PTR_NULL(strstr(t, "stats: fake dns"));
	CU_ASSERT_PTR_NULL(strstr(t, "stats: dns-tcp"));
	free(t);
}

static void test_text_optional_lines(void)
{
	struct counters c;
	struct zr_stats st;
	char want[256];
	char *t;

	memset(&c, 0, sizeof(c));
	c.fs.queries = 3;
	c.fs.names = 2;
	c.fs.held = 1;
	c.fs.exhausted = 4;
	c.rs.fake_ip_refused = 1;
	c.rs.dns_tcp_dropped = 1; /* a stream never opened, still shown */
	c.ss.drops[ZT_DROP_BAD_CHECKSUM] = 7;
	c.ss.drops[ZT_DROP_TCP_NO_FLOW] = 8;
	c.rs.http_failures[1] = 9;
	zr_stats_collect(&st, &c.hs, &c.rs, &c.ss, &c.fs, &c.ns, c.states, &c.tcp, 0);
	t = text_of(&st, "SIGUSR1", 0);
	CU_ASSERT_EQUAL(strncmp(t, "ztun-ref: stats: SIGUSR1, up 0.000 s\n", 37), 0);
	assert_line(t, "ztun-ref: stats: fake dns queries 3, answered 0, no data 0, errors 0, blocked 0, policy refused 0, forwarded 0, learned 0, ignored 0, names 2, held 1, recycled 0, exhausted 4, lookups 0, unknown 0, refused 1");
	assert_line(t, "ztun-ref: stats: dns-tcp connections 0, queries 0, answers 0, truncated 0, unmatched 0, dropped 1, resent 0, servfail 0");
	snprintf(want, sizeof(want), "ztun-ref: stats: drops %s 7, %s 8",
		 zt_drop_name(ZT_DROP_BAD_CHECKSUM), zt_drop_name(ZT_DROP_TCP_NO_FLOW));
	assert_line(t, want);
	snprintf(want, sizeof(want), "ztun-ref: stats: http %s 9",
		 zt_http_connect_outcome_name((enum zt_http_connect_outcome)1));
	assert_line(t, want);
	free(t);
}

/* Every line of @p is a comment (# HELP / # TYPE) or a sample; each
 * metric's TYPE comes once, before its samples; no sample twice. */
static void assert_prom_well_formed(const char *p)
{
	regex_t sample, help, type;
	char *copy = strdup(p), *save = NULL;
	char seen_types[192][80];
	char seen_samples[320][120];
	unsigned n_types = 0, n_samples = 0;

	CU_ASSERT_FATAL(regcomp(&sample, "^ztun_[a-z0-9_]+(\\{[a-z]+=\"[^\"\\\\]*\"\\})? [0-9]+(\\.[0-9]+)?$",
				REG_EXTENDED | REG_NOSUB) == 0);
	CU_ASSERT_FATAL(regcomp(&help, "^# HELP ztun_[a-z0-9_]+ [^\n]+$", REG_EXTENDED | REG_NOSUB) == 0);
	CU_ASSERT_FATAL(regcomp(&type, "^# TYPE ztun_[a-z0-9_]+ (counter|gauge)$", REG_EXTENDED | REG_NOSUB) == 0);
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "# HELP ", 7) == 0) {
			CU_ASSERT(regexec(&help, l, 0, NULL, 0) == 0);
		} else if (strncmp(l, "# TYPE ", 7) == 0) {
			char name[80];

			CU_ASSERT(regexec(&type, l, 0, NULL, 0) == 0);
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(l + 7, " "), l + 7);
			for (unsigned i = 0; i < n_types; i++)
				CU_ASSERT(strcmp(seen_types[i], name) != 0);
			CU_ASSERT_FATAL(n_types < 192);
			strcpy(seen_types[n_types++], name);
		} else {
			char key[120];
			size_t k = strcspn(l, " {");

			if (regexec(&sample, l, 0, NULL, 0) != 0)
				fprintf(stderr, "\nbad sample line: %s\n", l);
			CU_ASSERT(regexec(&sample, l, 0, NULL, 0) == 0);
			/* its metric was typed just before (the last TYPE) */
			CU_ASSERT_FATAL(n_types > 0);
			CU_ASSERT(strlen(seen_types[n_types - 1]) == k &&
				  strncmp(seen_types[n_types - 1], l, k) == 0);
			snprintf(key, sizeof(key), "%.*s", (int)strcspn(l, " "), l);
			for (unsigned i = 0; i < n_samples; i++)
				CU_ASSERT(strcmp(seen_samples[i], key) != 0);
			CU_ASSERT_FATAL(n_samples < 320);
			strcpy(seen_samples[n_samples++], key);
		}
	}
	CU_ASSERT(n_samples > 90);
	regfree(&sample);
	regfree(&help);
	regfree(&type);
	free(copy);
}

static void test_prom_format(void)
{
	struct counters c;
	struct zr_stats st;
	char want[128];
	char *p;

	memset(&c, 0, sizeof(c));
	c.ss.tcp_flows_opened = 7;
	c.ss.tcp_flows_active = 2;
	c.rs.flows[ZT_ROUTE_SOCKS5] = 3;
	c.hs.tun_rx_bytes = 1500;
	c.rs.socks5_failures[ZT_SOCKS5_CONN_REFUSED] = 4;
	c.ss.drops[ZT_DROP_BAD_CHECKSUM] = 5;
	c.fs.names = 6;
	c.fs.held = 2;
	c.fs.exhausted = 3;
	c.states[ZT_TCP_CLOSE_WAIT] = 7;
	c.ns.active = 8;
	c.hs.proxy_down[1] = 1;
	zr_stats_collect(&st, &c.hs, &c.rs, &c.ss, &c.fs, &c.ns, c.states, &c.tcp, 0);
	p = prom_of(&st, 12345678901ull);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	assert_prom_well_formed(p);
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "# TYPE ztun_tcp_opened_total counter\nztun_tcp_opened_total 7\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "# TYPE ztun_tcp_active gauge\nztun_tcp_active 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "ztun_tun_rx_bytes_total 1500\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "ztun_flows_total{decision=\"socks5\"} 3\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "ztun_flows_total{decision=\"direct\"} 0\n"));
	snprintf(want, sizeof(want), "ztun_socks5_failures_total{outcome=\"%s\"} 4\n",
		 zt_socks5_outcome_name(ZT_SOCKS5_CONN_REFUSED));
	CU_ASSERT_PTR_NOT_NULL(strstr(p, want));
	snprintf(want, sizeof(want), "ztun_drops_total{reason=\"%s\"} 5\n",
		 zt_drop_name(ZT_DROP_BAD_CHECKSUM));
	CU_ASSERT_PTR_NOT_NULL(strstr(p, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "ztun_fake_dns_names 6\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "# TYPE ztun_fake_dns_held gauge\nztun_fake_dns_held 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "# TYPE ztun_fake_dns_exhausted_total counter\nztun_fake_dns_exhausted_total 3\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "# TYPE ztun_tcp_flows gauge\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "ztun_tcp_flows{state=\"CLOSE_WAIT\"} 7\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "# TYPE ztun_nat_sessions_active gauge\nztun_nat_sessions_active 8\n"));
	/* whether each proxy is down now, for an alert */
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "# TYPE ztun_proxy_down gauge\nztun_proxy_down{proxy=\"socks5\"} 0\nztun_proxy_down{proxy=\"http\"} 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "# TYPE ztun_uptime_seconds gauge\nztun_uptime_seconds 12.345\n"));
	/* the text's sums are Prometheus's to make; "(none)" is no sample */
	CU_ASSERT_PTR_NULL(strstr(p, "failures_sum"));
	CU_ASSERT_PTR_NULL(strstr(p, "none"));
	free(p);
}

/* Whether the file at @path holds exactly the text @text. */
static void expect_file_text(const char *path, const char *text)
{
	size_t n;
	char *got = (char *)zt_test_slurp(path, &n);

	CU_ASSERT_FATAL(got != NULL);
	CU_ASSERT_STRING_EQUAL(got, text);
	free(got);
}

static void test_write_file(void)
{
	char dir[] = "/tmp/ztun-stats-XXXXXX", path[64], tmp[80];
	struct counters c;
	struct zr_stats st;
	char *want;

	memset(&c, 0, sizeof(c));
	c.ss.udp_flows_opened = 11;
	zr_stats_collect(&st, &c.hs, &c.rs, &c.ss, NULL, &c.ns, c.states, &c.tcp, 0);
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/ztun.prom", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	CU_ASSERT_EQUAL(zr_stats_write_file(path, &st, 1000000000ull), 0);
	CU_ASSERT_EQUAL(zr_stats_write_file(path, &st, 2000000000ull), 0);
	want = prom_of(&st, 2000000000ull);
	expect_file_text(path, want);
	free(want);
	CU_ASSERT_EQUAL(access(tmp, F_OK), -1); /* renamed, nothing left */
	CU_ASSERT_EQUAL(unlink(path), 0);
	CU_ASSERT_EQUAL(rmdir(dir), 0);
	/* a directory that does not exist: an error, no file */
	CU_ASSERT_EQUAL(zr_stats_write_file(path, &st, 0), -ENOENT);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
}

/* A file planted at PATH.tmp (here a symbolic link, as another user
 * may make in a shared directory such as /tmp) is neither written
 * through nor renamed over PATH: the statistics go to a new file of
 * their own, readable as a plain open() would make it (0644 less the
 * umask), and the planted link's target keeps its bytes. */
static void test_write_file_planted_tmp(void)
{
	char dir[] = "/tmp/ztun-stats-XXXXXX", path[64], tmp[80], victim[64];
	struct counters c;
	struct zr_stats st;
	char *want;
	struct stat sb;
	mode_t mask;
	FILE *f;

	memset(&c, 0, sizeof(c));
	zr_stats_collect(&st, &c.hs, &c.rs, &c.ss, NULL, &c.ns, c.states, &c.tcp, 0);
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/ztun.prom", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	f = fopen(victim, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("keep\n", f);
	fclose(f);
	CU_ASSERT_FATAL(symlink(victim, tmp) == 0);
	CU_ASSERT_EQUAL(zr_stats_write_file(path, &st, 1000000000ull), 0);
	expect_file_text(victim, "keep\n");
	CU_ASSERT_EQUAL(lstat(path, &sb), 0);
	CU_ASSERT(S_ISREG(sb.st_mode));
	mask = umask(0);
	umask(mask);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0644 & ~mask);
	want = prom_of(&st, 1000000000ull);
	expect_file_text(path, want);
	free(want);
	CU_ASSERT_EQUAL(unlink(path), 0);
	unlink(tmp);
	CU_ASSERT_EQUAL(unlink(victim), 0);
	CU_ASSERT_EQUAL(rmdir(dir), 0); /* no temporary file left */
}

/* Every counter and every failure and drop reason at once: the list
 * holds them all, with room to spare (add() past ZR_STATS_MAX would
 * drop items without a word). */
static void test_every_item_fits(void)
{
	struct counters c;
	struct zr_stats st;

	memset(&c, 0x01, sizeof(c));
	zr_stats_collect(&st, &c.hs, &c.rs, &c.ss, &c.fs, &c.ns, c.states, &c.tcp, 1);
	CU_ASSERT(st.n + 32 <= ZR_STATS_MAX);
	if (st.n + 32 > ZR_STATS_MAX)
		fprintf(stderr, "\n%u of %u stats items\n", st.n, ZR_STATS_MAX);
}

int zt_suite_stats(void)
{
	static const struct zt_test_case cases[] = {
		{ "text lines keep their format", test_text_format },
		{ "text: fake dns, dns-tcp, drops, http lines", test_text_optional_lines },
		{ "prometheus format", test_prom_format },
		{ "file written whole", test_write_file },
		{ "file: a planted PATH.tmp is not written through", test_write_file_planted_tmp },
		{ "every item fits the list", test_every_item_fits },
		{ 0 },
	};

	return zt_add_suite("stats", NULL, NULL, cases);
}
