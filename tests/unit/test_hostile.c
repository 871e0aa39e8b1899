// SPDX-License-Identifier: MIT
/*
 * test_hostile.c - hostile input and resource exhaustion against the whole
 * core: a zt_router (its stack on the TUN side) with the simulator's vnet as
 * upstream. See docs/robustness.md for what each check asserts and for the
 * measured figures.
 *
 * Theory of operation: the TUN side is synthetic. Every packet is built
 * byte by byte here (own checksum code, independent of ref/wire), copied
 * into an exactly-sized malloc'd buffer (zt_test_dup_exact, so ASan sees
 * any over-read) and fed to zt_router_tun_input(). What the router writes
 * to the TUN is parsed and counted (RST, SYN-ACK, ...); SYN-ACKs are
 * remembered per client port so a handshake can be completed by hand. The
 * upstream is the vnet with emulated servers (vhosts.h) or a scripted server
 * written here (hostile SOCKS5 / HTTP proxies). Each hostile packet must
 * raise exactly one drop counter, the one named, and nothing else.
 *
 * ZT_HOSTILE_VERBOSE=1 prints the measured figures of the exhaustion tests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/evloop.h"
#include "engine/vhosts.h"
#include "engine/vnet.h"
#include "test.h"
#include "ztun/http_connect.h"
#include "ztun/router.h"
#include "ztun/socks5.h"

#define NPORTS 65536

static const uint8_t CLI4[4] = { 10, 0, 0, 2 };
static const uint8_t SRV4[4] = { 203, 0, 113, 10 };
static const uint8_t SOCKS4[4] = { 198, 18, 0, 1 };
static const uint8_t HTTP4[4] = { 198, 18, 0, 2 };
static const uint8_t CLI6[16] = { 0xfd, 0, [15] = 2 };
static const uint8_t SRV6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 0x10 };

struct hb {
	struct zt_sim sim;
	struct zt_rng rng;
	struct zt_vnet *vn;
	struct zt_router *r;
	struct zt_router_config cfg;
	enum zt_route_decision dec[3]; /* tcp, udp, icmp */
	/* what the router wrote to the TUN */
	uint64_t out_pkts, out_bad, out_rst, out_synack, out_echo_reply, out_udp;
	uint64_t out_ack_only, out_icmp_err;
	uint32_t *srv_isn;    /* per client port: the router's ISN + 1 */
	uint8_t *rst_seen;    /* per client port: RSTs received */
	uint32_t last_ack;    /* of the latest segment to the client */
	uint32_t last_wnd;    /* its window, scaled */
	uint8_t wscale;       /* the router's window scale (SYN-ACK) */
};

static struct hb *g_hb;

/* --- checksums and packet building (independent of ref/wire) ------------- */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

/* Checksum of an upper-layer message @l4 of @n bytes at @off16 (where the
 * checksum field sits) over the pseudo-header of @v6. */
static void l4_csum(bool v6, uint8_t proto, uint8_t *l4, size_t n, size_t off16)
{
	uint32_t sum = 0;
	uint8_t ph[8];
	const uint8_t *src = v6 ? CLI6 : CLI4, *dst = v6 ? SRV6 : SRV4;
	size_t al = v6 ? 16 : 4;

	if (proto == ZT_IPPROTO_ICMP) { /* ICMPv4: no pseudo-header */
		wr16(l4 + off16, 0);
		wr16(l4 + off16, csum_fold(csum_add(0, l4, n)));
		return;
	}
	sum = csum_add(sum, src, al);
	sum = csum_add(sum, dst, al);
	wr32(ph, (uint32_t)n);
	wr32(ph + 4, proto);
	sum = csum_add(sum, ph, 8);
	wr16(l4 + off16, 0);
	wr16(l4 + off16, csum_fold(csum_add(sum, l4, n)));
}

/* IPv4 header of @ihl words at @p: total length @total, fragment field
 * @frag, options @opt; header checksum right. Returns the header length. */
static size_t ip4_hdr(uint8_t *p, uint8_t proto, unsigned ihl, uint16_t total,
		      uint16_t frag, uint16_t ident, const uint8_t *opt, size_t optlen)
{
	size_t hl = (size_t)ihl * 4;

	memset(p, 0, hl > 20 ? hl : 20);
	p[0] = (uint8_t)(0x40 | ihl);
	wr16(p + 2, total);
	wr16(p + 4, ident);
	wr16(p + 6, frag);
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, CLI4, 4);
	memcpy(p + 16, SRV4, 4);
	if (optlen)
		memcpy(p + 20, opt, optlen);
	wr16(p + 10, csum_fold(csum_add(0, p, hl > 20 ? hl : 20)));
	return hl;
}

static size_t ip6_hdr(uint8_t *p, uint8_t nh, uint16_t plen)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	wr16(p + 4, plen);
	p[6] = nh;
	p[7] = 64;
	memcpy(p + 8, CLI6, 16);
	memcpy(p + 24, SRV6, 16);
	return 40;
}

/* A TCP segment (no IP) at @p: @doff words of header with options @opt. */
static size_t tcp_seg(uint8_t *p, bool v6, uint16_t sport, uint16_t dport,
		      uint32_t seq, uint32_t ack, uint8_t flags, unsigned doff,
		      const uint8_t *opt, size_t optlen, const void *data, size_t dlen)
{
	size_t hl = optlen ? 20 + optlen : 20;

	memset(p, 0, hl);
	wr16(p, sport);
	wr16(p + 2, dport);
	wr32(p + 4, seq);
	wr32(p + 8, ack);
	p[12] = (uint8_t)((doff ? doff : hl / 4) << 4);
	p[13] = flags;
	wr16(p + 14, 65535);
	if (optlen)
		memcpy(p + 20, opt, optlen);
	if (dlen)
		memcpy(p + hl, data, dlen);
	l4_csum(v6, ZT_IPPROTO_TCP, p, hl + dlen, 16);
	return hl + dlen;
}

/* A whole TCP packet over v4 or v6. */
static size_t tcp_pkt(uint8_t *out, bool v6, uint16_t sport, uint16_t dport,
		      uint32_t seq, uint32_t ack, uint8_t flags,
		      const uint8_t *opt, size_t optlen, const void *data, size_t dlen)
{
	size_t hl = v6 ? 40 : 20;
	size_t n = tcp_seg(out + hl, v6, sport, dport, seq, ack, flags, 0, opt, optlen,
			   data, dlen);

	if (v6)
		ip6_hdr(out, ZT_IPPROTO_TCP, (uint16_t)n);
	else
		ip4_hdr(out, ZT_IPPROTO_TCP, 5, (uint16_t)(20 + n), 0, 1, NULL, 0);
	return hl + n;
}

static size_t syn_pkt(uint8_t *out, bool v6, uint16_t sport, uint16_t dport)
{
	/* MSS 1400, window scale 7 */
	static const uint8_t opt[8] = { 2, 4, 0x05, 0x78, 1, 3, 3, 7 };

	return tcp_pkt(out, v6, sport, dport, 1000, 0, ZT_TCP_SYN, opt, sizeof(opt),
		       NULL, 0);
}

static size_t udp_dgram(uint8_t *p, bool v6, uint16_t sport, uint16_t dport,
			const void *data, size_t dlen)
{
	wr16(p, sport);
	wr16(p + 2, dport);
	wr16(p + 4, (uint16_t)(8 + dlen));
	if (dlen)
		memcpy(p + 8, data, dlen);
	l4_csum(v6, ZT_IPPROTO_UDP, p, 8 + dlen, 6);
	return 8 + dlen;
}

static size_t udp_pkt(uint8_t *out, bool v6, uint16_t sport, uint16_t dport,
		      const void *data, size_t dlen)
{
	size_t hl = v6 ? 40 : 20, n = udp_dgram(out + hl, v6, sport, dport, data, dlen);

	if (v6)
		ip6_hdr(out, ZT_IPPROTO_UDP, (uint16_t)n);
	else
		ip4_hdr(out, ZT_IPPROTO_UDP, 5, (uint16_t)(20 + n), 0, 2, NULL, 0);
	return hl + n;
}

static size_t echo_pkt(uint8_t *out, bool v6)
{
	size_t hl = v6 ? 40 : 20;
	uint8_t *m = out + hl;

	memset(m, 0, 16);
	m[0] = v6 ? 128 : 8;
	wr16(m + 4, 7);
	wr16(m + 6, 1);
	memcpy(m + 8, "pingdata", 8);
	if (v6) {
		ip6_hdr(out, ZT_IPPROTO_ICMPV6, 16);
		l4_csum(true, ZT_IPPROTO_ICMPV6, m, 16, 2);
	} else {
		ip4_hdr(out, ZT_IPPROTO_ICMP, 5, 36, 0, 3, NULL, 0);
		l4_csum(false, ZT_IPPROTO_ICMP, m, 16, 2);
	}
	return hl + 16;
}

/* --- the bench ------------------------------------------------------------ */

static void tun_output(void *host, const uint8_t *pkt, size_t len)
{
	struct hb *t = g_hb;
	struct zt_packet pk;

	(void)host;
	t->out_pkts++;
	if (zt_packet_parse(zt_view_make(pkt, len), 0, &pk) != ZT_DROP_NONE) {
		t->out_bad++;
		return;
	}
	if (pk.proto == ZT_IPPROTO_TCP) {
		const struct zt_tcp_repr *s = &pk.l4.tcp;

		if (s->flags & ZT_TCP_RST) {
			t->out_rst++;
			if (t->rst_seen[s->dst_port] < 255)
				t->rst_seen[s->dst_port]++;
			return;
		}
		if ((s->flags & (ZT_TCP_SYN | ZT_TCP_ACK)) == (ZT_TCP_SYN | ZT_TCP_ACK)) {
			t->out_synack++;
			t->srv_isn[s->dst_port] = s->seq + 1;
			t->wscale = s->has_wscale ? s->wscale : 0;
		} else if (s->flags == ZT_TCP_ACK && pk.payload.len == 0) {
			t->out_ack_only++;
		}
		t->last_ack = s->ack;
		t->last_wnd = (uint32_t)s->window << (s->flags & ZT_TCP_SYN ? 0 : t->wscale);
	} else if (pk.proto == ZT_IPPROTO_UDP) {
		t->out_udp++;
	} else if (pk.l4.icmp.kind == ZT_ICMP_ECHO_REPLY) {
		t->out_echo_reply++;
	} else {
		t->out_icmp_err++;
	}
}

static enum zt_route_decision route_cb(void *user, const struct zt_route_query *q)
{
	struct hb *t = user;

	if (q->proto == ZT_IPPROTO_TCP)
		return t->dec[0];
	if (q->proto == ZT_IPPROTO_UDP)
		return t->dec[1];
	return t->dec[2];
}

static struct hb *hb_new(void)
{
	struct hb *t = calloc(1, sizeof(*t));

	CU_ASSERT_FATAL(t != NULL);
	t->srv_isn = calloc(NPORTS, sizeof(*t->srv_isn));
	t->rst_seen = calloc(NPORTS, 1);
	CU_ASSERT_FATAL(t->srv_isn && t->rst_seen);
	g_hb = t;
	zt_sim_init(&t->sim, zt_test_seed(11));
	zt_rng_seed(&t->rng, 1234);
	t->vn = zt_vnet_new(&t->sim, NULL);
	CU_ASSERT_FATAL(t->vn != NULL);
	zt_router_config_default(&t->cfg);
	t->cfg.route = route_cb;
	t->cfg.route_user = t;
	t->cfg.socks5.enabled = true;
	t->cfg.socks5.server.addr = zt_addr_v4(SOCKS4);
	t->cfg.socks5.server.port = 1080;
	t->cfg.http.enabled = true;
	t->cfg.http.server.addr = zt_addr_v4(HTTP4);
	t->cfg.http.server.port = 3128;
	t->dec[0] = ZT_ROUTE_DIRECT;
	t->dec[1] = ZT_ROUTE_DIRECT;
	t->dec[2] = ZT_ROUTE_LOCAL;
	return t;
}

static void hb_start(struct hb *t)
{
	t->r = zt_router_new(&t->cfg, tun_output, &zt_vnet_upstream_ops, t->vn, &t->rng);
	CU_ASSERT_FATAL(t->r != NULL);
	zt_vnet_set_router(t->vn, t->r);
}

static void hb_free(struct hb *t)
{
	zt_router_free(t->r);
	CU_ASSERT_EQUAL(zt_vnet_stats(t->vn)->streams_open, 0);
	CU_ASSERT_EQUAL(zt_vnet_stats(t->vn)->dgrams_open, 0);
	CU_ASSERT_EQUAL(zt_vnet_stats(t->vn)->bad_handle, 0);
	CU_ASSERT_EQUAL(t->out_bad, 0);
	zt_vnet_free(t->vn);
	zt_sim_destroy(&t->sim);
	free(t->srv_isn);
	free(t->rst_seen);
	g_hb = NULL;
	free(t);
}

/* Run the loop and the router's timers for @dur ns of virtual time. */
static void hb_run(struct hb *t, uint64_t dur)
{
	uint64_t end = t->sim.now + dur, next;

	for (;;) {
		uint64_t d = zt_router_deadline(t->r);

		if (zt_sim_next_time(&t->sim, &next) && next < d)
			d = next;
		if (d > end)
			break;
		zt_sim_run_until(&t->sim, d < t->sim.now ? t->sim.now : d);
		if (zt_router_deadline(t->r) <= t->sim.now)
			zt_router_poll(t->r, t->sim.now);
	}
	zt_sim_run_until(&t->sim, end);
}

static const struct zt_stack_stats *sst(struct hb *t)
{
	return zt_stack_stats(zt_router_stack(t->r));
}

static const struct zt_router_stats *rst(struct hb *t)
{
	return zt_router_stats(t->r);
}

/* Feed @len bytes of @p in an exactly-sized copy. */
static void feed(struct hb *t, const uint8_t *p, size_t len)
{
	uint8_t *c = zt_test_dup_exact(p, len);

	zt_router_tun_input(t->r, c, len, t->sim.now);
	free(c);
}

/* Feed @p and require that drop counter @why (ZT_DROP_NONE: none) and only
 * it went up by one. @what names the case in a failure message. */
static bool expect_drop(struct hb *t, const char *what, const uint8_t *p, size_t len,
			enum zt_drop why)
{
	uint64_t before[ZT_DROP__COUNT];
	bool ok = true;

	memcpy(before, sst(t)->drops, sizeof(before));
	feed(t, p, len);
	for (int i = 0; i < ZT_DROP__COUNT; i++) {
		uint64_t want = before[i] + (i == (int)why && why != ZT_DROP_NONE);

		if (sst(t)->drops[i] != want) {
			fprintf(stderr, "\n  hostile %s (len %zu): drops[%s] %llu, want %llu\n",
				what, len, zt_drop_name((enum zt_drop)i),
				(unsigned long long)sst(t)->drops[i],
				(unsigned long long)want);
			ok = false;
		}
	}
	CU_ASSERT(ok);
	return ok;
}


static bool verbose(void)
{
	const char *v = getenv("ZT_HOSTILE_VERBOSE");

	return v && *v && *v != '0';
}

/* Wall-clock seconds since the previous call (for ZT_HOSTILE_VERBOSE). */
static double lap(void)
{
	static struct timespec prev;
	struct timespec now;
	double d;

	clock_gettime(CLOCK_MONOTONIC, &now);
	d = (double)(now.tv_sec - prev.tv_sec) + (double)(now.tv_nsec - prev.tv_nsec) / 1e9;
	prev = now;
	return d;
}

static void suite_lap(const char *name)
{
	double d = lap();

	if (verbose() && name)
		printf("\n  [%s: %.2f s]", name, d);
}

static int hostile_init(void)
{
	lap();
	return 0;
}

/* --- 1. truncation at every length ---------------------------------------- */

static void truncate_all(struct hb *t, const char *what, const uint8_t *p, size_t len)
{
	for (size_t cut = 0; cut < len; cut++)
		if (!expect_drop(t, what, p, cut, ZT_DROP_TRUNCATED))
			break;
	/* The whole packet is accepted. */
	expect_drop(t, what, p, len, ZT_DROP_NONE);
}

static void test_truncation(void)
{
	struct hb *t = hb_new();
	uint8_t pkt[256];

	hb_start(t);
	for (int v6 = 0; v6 < 2; v6++) {
		size_t n;
		uint64_t flows = sst(t)->tcp_flows_opened, udp = sst(t)->udp_datagrams_in;
		uint64_t echo = t->out_echo_reply;

		n = syn_pkt(pkt, v6, 40000, 7);
		truncate_all(t, v6 ? "tcp syn v6" : "tcp syn v4", pkt, n);
		CU_ASSERT_EQUAL(sst(t)->tcp_flows_opened, flows + 1);
		n = udp_pkt(pkt, v6, 40001, 9, "hostile", 7);
		truncate_all(t, v6 ? "udp v6" : "udp v4", pkt, n);
		CU_ASSERT_EQUAL(sst(t)->udp_datagrams_in, udp + 1);
		n = echo_pkt(pkt, v6);
		truncate_all(t, v6 ? "echo v6" : "echo v4", pkt, n);
		CU_ASSERT_EQUAL(t->out_echo_reply, echo + 1);
	}
	CU_ASSERT_EQUAL(t->out_rst, 0);
	hb_free(t);
	suite_lap(__func__);
}

/* --- 2. lying lengths, bad header lengths, options ------------------------- */

static void test_lying_lengths(void)
{
	struct hb *t = hb_new();
	uint8_t pkt[512], seg[128], opt[40];
	size_t n, m;

	hb_start(t);
	/* IPv4 total length past the buffer: the buffer is short of what the
	 * header says (TRUNCATED, drop.h); below the IHL: BAD_TOTAL_LEN. */
	m = udp_dgram(seg, false, 40100, 9, "x", 1);
	ip4_hdr(pkt, ZT_IPPROTO_UDP, 5, (uint16_t)(20 + m + 1), 0, 9, NULL, 0);
	memcpy(pkt + 20, seg, m);
	expect_drop(t, "ip4 total > buffer", pkt, 20 + m, ZT_DROP_TRUNCATED);
	ip4_hdr(pkt, ZT_IPPROTO_UDP, 5, 19, 0, 9, NULL, 0);
	expect_drop(t, "ip4 total < ihl", pkt, 20 + m, ZT_DROP_BAD_TOTAL_LEN);
	ip4_hdr(pkt, ZT_IPPROTO_UDP, 6, 22, 0, 9, (const uint8_t *)"\1\1\1\1", 4);
	expect_drop(t, "ip4 total < ihl (opts)", pkt, 24 + m, ZT_DROP_BAD_TOTAL_LEN);
	/* IPv6 payload length past the buffer. */
	ip6_hdr(pkt, ZT_IPPROTO_UDP, (uint16_t)(m + 1));
	memcpy(pkt + 40, seg, m);
	expect_drop(t, "ip6 plen > buffer", pkt, 40 + m, ZT_DROP_TRUNCATED);
	/* UDP length field > datagram and < 8, v4 and v6. */
	for (int v6 = 0; v6 < 2; v6++) {
		size_t hl = v6 ? 40 : 20;

		n = udp_pkt(pkt, v6, 40101, 9, "abcd", 4);
		wr16(pkt + hl + 4, 13);
		l4_csum(v6, ZT_IPPROTO_UDP, pkt + hl, 12, 6);
		expect_drop(t, "udp len > datagram", pkt, n, ZT_DROP_BAD_LENGTH);
		for (uint16_t l = 0; l < 8; l++) {
			wr16(pkt + hl + 4, l);
			expect_drop(t, "udp len < 8", pkt, n, ZT_DROP_BAD_LENGTH);
		}
	}
	/* IHL 4, and 15 with a packet shorter than 60 bytes. */
	n = udp_pkt(pkt, false, 40102, 9, "abcd", 4);
	pkt[0] = 0x44;
	expect_drop(t, "ihl 4", pkt, n, ZT_DROP_BAD_IHL);
	pkt[0] = 0x4f;
	expect_drop(t, "ihl 15 short", pkt, n, ZT_DROP_BAD_IHL);
	/* TCP data offset 4 and 15 (a 20-byte segment). */
	for (int v6 = 0; v6 < 2; v6++) {
		size_t hl = v6 ? 40 : 20;

		for (unsigned doff = 4; doff <= 15; doff += 11) {
			m = tcp_seg(seg, v6, 40103, 7, 1, 0, ZT_TCP_SYN, doff, NULL, 0, NULL, 0);
			if (v6)
				ip6_hdr(pkt, ZT_IPPROTO_TCP, (uint16_t)m);
			else
				ip4_hdr(pkt, ZT_IPPROTO_TCP, 5, (uint16_t)(20 + m), 0, 9, NULL, 0);
			memcpy(pkt + hl, seg, m);
			expect_drop(t, "tcp doff", pkt, hl + m, ZT_DROP_BAD_DATA_OFFSET);
		}
	}
	/* IPv4 options: length 0, 1 and past the header. */
	m = udp_dgram(seg, false, 40104, 9, "x", 1);
	for (int k = 0; k < 3; k++) {
		static const uint8_t olen[3] = { 0, 1, 40 };

		memset(opt, 1, sizeof(opt)); /* NOPs */
		opt[0] = 7; /* record route */
		opt[1] = olen[k];
		ip4_hdr(pkt, ZT_IPPROTO_UDP, 6, (uint16_t)(24 + m), 0, 9, opt, 4);
		memcpy(pkt + 24, seg, m);
		expect_drop(t, "ip4 option len", pkt, 24 + m, ZT_DROP_BAD_OPTION_LEN);
	}
	/* TCP options: length 0, 1, past the header. */
	for (int v6 = 0; v6 < 2; v6++) {
		for (int k = 0; k < 3; k++) {
			static const uint8_t olen[3] = { 0, 1, 30 };

			memset(opt, 1, sizeof(opt));
			opt[0] = 8; /* timestamps */
			opt[1] = olen[k];
			n = tcp_pkt(pkt, v6, 40105, 7, 1, 0, ZT_TCP_SYN, opt, 12, NULL, 0);
			expect_drop(t, "tcp option len", pkt, n, ZT_DROP_BAD_OPTION_LEN);
		}
		/* an MSS option whose length is not 4 */
		memset(opt, 1, sizeof(opt));
		opt[0] = 2;
		opt[1] = 3;
		n = tcp_pkt(pkt, v6, 40105, 7, 1, 0, ZT_TCP_SYN, opt, 4, NULL, 0);
		expect_drop(t, "tcp mss len 3", pkt, n, ZT_DROP_BAD_OPTION_LEN);
	}
	/* IPv6 destination options: a TLV of length 0 is legal PadN (accepted);
	 * one overflowing its header is BAD_OPTION_LEN; a header longer than
	 * the payload is BAD_EXT_HDR. */
	for (int k = 0; k < 3; k++) {
		uint8_t *x = pkt + 40;

		m = udp_dgram(seg, true, (uint16_t)(40106 + k), 9, "x", 1);
		ip6_hdr(pkt, ZT_IPPROTO_DSTOPTS, (uint16_t)(8 + m));
		memset(x, 0, 8);
		x[0] = ZT_IPPROTO_UDP;
		x[1] = k == 2 ? 5 : 0;
		x[2] = 1;                 /* PadN */
		x[3] = k == 1 ? 200 : 0;
		x[4] = 1;
		x[5] = 0;
		x[6] = 1;
		x[7] = 0;
		memcpy(pkt + 48, seg, m);
		expect_drop(t, "ip6 dstopt", pkt, 48 + m,
			    k == 0 ? ZT_DROP_NONE : k == 1 ? ZT_DROP_BAD_OPTION_LEN :
							     ZT_DROP_BAD_EXT_HDR);
	}
	CU_ASSERT_EQUAL(sst(t)->tcp_flows_opened, 0);
	CU_ASSERT_EQUAL(sst(t)->udp_datagrams_in, 1);
	CU_ASSERT_EQUAL(t->out_pkts, 0);
	hb_free(t);
	suite_lap(__func__);
}

/* --- 3. IPv6 extension-header chains at the limit -------------------------- */

static size_t ext_chain(uint8_t *pkt, unsigned nhdr, uint16_t sport)
{
	uint8_t seg[64];
	size_t m = udp_dgram(seg, true, sport, 9, "chain", 5), off = 40;

	ip6_hdr(pkt, nhdr ? ZT_IPPROTO_DSTOPTS : ZT_IPPROTO_UDP, (uint16_t)(8 * nhdr + m));
	for (unsigned i = 0; i < nhdr; i++, off += 8) {
		memset(pkt + off, 0, 8);
		pkt[off] = i + 1 < nhdr ? ZT_IPPROTO_DSTOPTS : ZT_IPPROTO_UDP;
		pkt[off + 2] = 1; /* PadN of 4 */
		pkt[off + 3] = 4;
	}
	memcpy(pkt + off, seg, m);
	return off + m;
}

static void test_ext_chain(void)
{
	struct hb *t = hb_new();
	uint8_t pkt[256];
	size_t n;

	hb_start(t);
	n = ext_chain(pkt, ZT_IP6_MAX_EXT_HDRS, 40200);
	expect_drop(t, "8 ext headers", pkt, n, ZT_DROP_NONE);
	CU_ASSERT_EQUAL(sst(t)->udp_datagrams_in, 1);
	n = ext_chain(pkt, ZT_IP6_MAX_EXT_HDRS + 1, 40201);
	expect_drop(t, "9 ext headers", pkt, n, ZT_DROP_EXT_CHAIN_TOO_LONG);
	n = ext_chain(pkt, 20, 40202);
	expect_drop(t, "20 ext headers", pkt, n, ZT_DROP_EXT_CHAIN_TOO_LONG);
	CU_ASSERT_EQUAL(sst(t)->udp_datagrams_in, 1);
	hb_free(t);
	suite_lap(__func__);
}

/* --- 4. fragments ------------------------------------------------------------ */

/* Fragment @off/@len bytes of the UDP datagram @dg as a v4 or v6 packet. */
static size_t frag_pkt(uint8_t *pkt, bool v6, const uint8_t *dg, size_t off,
		       size_t len, bool more, uint32_t ident)
{
	if (!v6) {
		ip4_hdr(pkt, ZT_IPPROTO_UDP, 5, (uint16_t)(20 + len),
			(uint16_t)((more ? 0x2000 : 0) | off / 8), (uint16_t)ident, NULL, 0);
		memcpy(pkt + 20, dg + off, len);
		return 20 + len;
	}
	ip6_hdr(pkt, ZT_IPPROTO_FRAGMENT, (uint16_t)(8 + len));
	memset(pkt + 40, 0, 8);
	pkt[40] = ZT_IPPROTO_UDP;
	wr16(pkt + 42, (uint16_t)(off | (more ? 1 : 0)));
	wr32(pkt + 44, ident);
	memcpy(pkt + 48, dg + off, len);
	return 48 + len;
}

static void test_fragments(void)
{
	struct hb *t = hb_new();
	uint8_t dg[64], pkt[256], data[24];
	size_t n, m;

	hb_start(t);
	memset(data, 'f', sizeof(data));
	for (int v6 = 0; v6 < 2; v6++) {
		uint64_t in = sst(t)->udp_datagrams_in;

		m = udp_dgram(dg, v6, (uint16_t)(40300 + v6), 9, data, sizeof(data));
		/* overlap: [0,16) then [8,24): the whole datagram goes */
		n = frag_pkt(pkt, v6, dg, 0, 16, true, 77);
		expect_drop(t, "frag first", pkt, n, ZT_DROP_NONE);
		n = frag_pkt(pkt, v6, dg, 8, 16, true, 77);
		expect_drop(t, "frag overlap", pkt, n, ZT_DROP_FRAG_OVERLAP);
		n = frag_pkt(pkt, v6, dg, 16, m - 16, false, 77);
		expect_drop(t, "frag after overlap", pkt, n, ZT_DROP_NONE);
		CU_ASSERT_EQUAL(sst(t)->udp_datagrams_in, in);
		/* same bytes, different range at the end */
		n = frag_pkt(pkt, v6, dg, 0, 16, true, 78);
		expect_drop(t, "frag first", pkt, n, ZT_DROP_NONE);
		n = frag_pkt(pkt, v6, dg, 0, 8, true, 78);
		expect_drop(t, "frag overlap head", pkt, n, ZT_DROP_FRAG_OVERLAP);
		/* a non-last fragment not a multiple of 8 */
		n = frag_pkt(pkt, v6, dg, 0, 12, true, 79);
		expect_drop(t, "frag len % 8", pkt, n, ZT_DROP_BAD_FRAGMENT);
		/* tiny fragments: 8 bytes each, reassembled (the UDP header fits
		 * the first one) */
		for (size_t off = 0; off < m; off += 8) {
			n = frag_pkt(pkt, v6, dg, off, m - off > 8 ? 8 : m - off,
				     off + 8 < m, 80);
			expect_drop(t, "tiny frag", pkt, n, ZT_DROP_NONE);
		}
		CU_ASSERT_EQUAL(sst(t)->udp_datagrams_in, in + 1);
	}
	/* IPv6 tiny first fragment whose TCP header does not fit (RFC 7112) */
	m = tcp_seg(dg, true, 40310, 7, 1, 0, ZT_TCP_SYN, 0, NULL, 0, NULL, 0);
	n = frag_pkt(pkt, true, dg, 0, 8, true, 81);
	pkt[40] = ZT_IPPROTO_TCP;
	expect_drop(t, "ip6 tiny first frag", pkt, n, ZT_DROP_FRAG_CHAIN_INCOMPLETE);
	/* IPv4 tiny TCP fragments are reassembled (reasm.c: RFC 1858 is moot
	 * since only whole datagrams are inspected) */
	for (size_t off = 0; off < m; off += 8) {
		ip4_hdr(pkt, ZT_IPPROTO_TCP, 5, (uint16_t)(20 + (m - off > 8 ? 8 : m - off)),
			(uint16_t)((off + 8 < m ? 0x2000 : 0) | off / 8), 82, NULL, 0);
		tcp_seg(dg, false, 40311, 7, 1, 0, ZT_TCP_SYN, 0, NULL, 0, NULL, 0);
		memcpy(pkt + 20, dg + off, m - off > 8 ? 8 : m - off);
		expect_drop(t, "ip4 tiny tcp frag", pkt, 20 + (m - off > 8 ? 8 : m - off),
			    ZT_DROP_NONE);
	}
	CU_ASSERT_EQUAL(sst(t)->tcp_flows_opened, 1);
	hb_free(t);
	suite_lap(__func__);
}

/* --- 5. illegal TCP flag combinations --------------------------------------- */

static struct zt_vhost *add_vhost(struct hb *t, const uint8_t *a, bool v6, uint16_t port,
				  const struct zt_vhost_config *hc)
{
	struct zt_addr ad = v6 ? zt_addr_v6(a) : zt_addr_v4(a);
	struct zt_vhost *h = zt_vhost_add(t->vn, &ad, port, hc);

	CU_ASSERT_FATAL(h != NULL);
	return h;
}

/* Complete a handshake by hand: SYN, wait for the SYN-ACK (upstream
 * first), ACK. Returns whether the SYN-ACK came. */
static bool handshake_start(struct hb *t, bool v6, uint16_t sport, uint16_t dport)
{
	uint8_t pkt[128];
	size_t n = syn_pkt(pkt, v6, sport, dport);

	t->srv_isn[sport] = 0;
	feed(t, pkt, n);
	return true;
}

static bool handshake_finish(struct hb *t, bool v6, uint16_t sport, uint16_t dport)
{
	uint8_t pkt[128];
	size_t n;

	if (!t->srv_isn[sport])
		return false;
	n = tcp_pkt(pkt, v6, sport, dport, 1001, t->srv_isn[sport], ZT_TCP_ACK,
		    NULL, 0, NULL, 0);
	feed(t, pkt, n);
	return true;
}

static bool handshake(struct hb *t, bool v6, uint16_t sport, uint16_t dport)
{
	handshake_start(t, v6, sport, dport);
	for (int i = 0; i < 100 && !t->srv_isn[sport]; i++)
		hb_run(t, ZT_MS);
	return handshake_finish(t, v6, sport, dport);
}

static void test_tcp_flags(void)
{
	static const struct {
		const char *name;
		uint8_t flags;
		bool rst_no_flow; /* answered with RST when there is no flow */
	} cases[] = {
		{ "syn+fin", ZT_TCP_SYN | ZT_TCP_FIN, true },
		{ "syn+rst", ZT_TCP_SYN | ZT_TCP_RST, false },
		{ "no flags", 0, true },
	};
	struct hb *t = hb_new();
	struct zt_vhost_config hc;
	uint8_t pkt[128];
	size_t n;

	hb_start(t);
	zt_vhost_config_init(&hc, ZT_VHOST_ECHO);
	add_vhost(t, SRV4, false, 7, &hc);
	add_vhost(t, SRV6, true, 7, &hc);
	for (int v6 = 0; v6 < 2; v6++) {
		uint16_t port = (uint16_t)(40400 + v6);

		/* to no flow: TCP_NO_FLOW, RST unless the segment is a RST */
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			uint64_t rsts = t->out_rst;

			n = tcp_pkt(pkt, v6, 40410, 7, 5, 0, cases[i].flags, NULL, 0, NULL, 0);
			expect_drop(t, cases[i].name, pkt, n, ZT_DROP_TCP_NO_FLOW);
			CU_ASSERT_EQUAL(t->out_rst, rsts + cases[i].rst_no_flow);
		}
		CU_ASSERT_EQUAL(sst(t)->tcp_flows_active, 0);
		/* to an established flow: TCP_BAD_FLAGS, the flow lives on */
		CU_ASSERT_FATAL(handshake(t, v6, port, 7));
		hb_run(t, 10 * ZT_MS);
		CU_ASSERT_EQUAL(sst(t)->tcp_flows_active, 1);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			uint64_t rsts = t->out_rst;

			n = tcp_pkt(pkt, v6, port, 7, 1001, t->srv_isn[port], cases[i].flags,
				    NULL, 0, NULL, 0);
			expect_drop(t, cases[i].name, pkt, n, ZT_DROP_TCP_BAD_FLAGS);
			CU_ASSERT_EQUAL(t->out_rst, rsts);
			hb_run(t, ZT_MS);
			CU_ASSERT_EQUAL(sst(t)->tcp_flows_active, 1);
		}
		/* a valid RST ends it */
		n = tcp_pkt(pkt, v6, port, 7, 1001, 0, ZT_TCP_RST, NULL, 0, NULL, 0);
		expect_drop(t, "rst", pkt, n, ZT_DROP_NONE);
		hb_run(t, 10 * ZT_MS);
		CU_ASSERT_EQUAL(sst(t)->tcp_flows_active, 0);
		CU_ASSERT_EQUAL(zt_vnet_stats(t->vn)->streams_open, 0);
	}
	hb_free(t);
	suite_lap(__func__);
}

/* --- 6. hostile proxies ------------------------------------------------------ */

/* A scripted server: on the first bytes from the router it sends @prefix
 * then @fill bytes of a repeating @line up to @total, and closes (FIN)
 * after when @close_after. */
struct script {
	struct zt_vnet_sock *s;
	const char *prefix;
	size_t prefix_len;
	const char *line;
	size_t total, sent, taken;
	bool started, close_after;
	unsigned accepted, failed;
};

static uint8_t script_byte(const struct script *sc, size_t i)
{
	if (i < sc->prefix_len)
		return (uint8_t)sc->prefix[i];
	if (!sc->line)
		return 0xee;
	return (uint8_t)sc->line[(i - sc->prefix_len) % strlen(sc->line)];
}

static void script_pump(struct script *sc)
{
	uint8_t buf[4096];

	while (sc->s && sc->sent < sc->total) {
		size_t k, n = sc->total - sc->sent;
		ssize_t w;

		if (n > sizeof(buf))
			n = sizeof(buf);
		for (k = 0; k < n; k++)
			buf[k] = script_byte(sc, sc->sent + k);
		w = zt_vnet_send(sc->s, buf, n);
		if (w <= 0)
			return;
		sc->sent += (size_t)w;
	}
	if (sc->s && sc->sent == sc->total && sc->close_after) {
		zt_vnet_close(sc->s);
		sc->s = NULL;
	}
}

static void sc_connected(void *ctx, struct zt_vnet_sock *s)
{
	(void)ctx;
	(void)s;
}

static void sc_failed(void *ctx, struct zt_vnet_sock *s, int err)
{
	struct script *sc = ctx;

	(void)s;
	(void)err;
	sc->failed++;
	sc->s = NULL;
}

static size_t sc_data(void *ctx, struct zt_vnet_sock *s, const uint8_t *p, size_t n)
{
	struct script *sc = ctx;

	(void)s;
	(void)p;
	sc->taken += n;
	if (!sc->started) {
		sc->started = true;
		script_pump(sc);
	}
	return n;
}

static void sc_eof(void *ctx, struct zt_vnet_sock *s)
{
	struct script *sc = ctx;

	(void)s;
	if (sc->s) {
		zt_vnet_close(sc->s);
		sc->s = NULL;
	}
}

static void sc_writable(void *ctx, struct zt_vnet_sock *s)
{
	(void)s;
	script_pump(ctx);
}

static const struct zt_vnet_sock_ops script_ops = {
	sc_connected, sc_failed, sc_data, sc_eof, sc_writable,
};

static int sc_accept(void *ctx, struct zt_vnet_sock *s)
{
	struct script *sc = ctx;

	if (sc->s)
		return -ECONNREFUSED; /* one session at a time */
	sc->s = s;
	sc->accepted++;
	zt_vnet_sock_own(s, &script_ops, sc);
	return 0;
}

#define MIB (1024 * 1024)

static void test_hostile_socks5(void)
{
	static const struct {
		const char *name;
		const char *prefix;
		size_t prefix_len;
		const char *line;
		size_t total;
		bool close_after;
		int outcome;        /* socks5_failures[] expected, -1: connect_failed */
	} cases[] = {
		{ "garbage", "HTTP/1.0 400 Bad Request\r\n\r\n", 28, NULL, 28, false,
		  ZT_SOCKS5_BAD_VERSION },
		{ "1 MB reply", "\x05\x00\x05\x00\x00\x09", 6, "junk", MIB, false,
		  ZT_SOCKS5_MALFORMED },
		{ "1 MB method", "\x05", 1, "\x05", MIB, false, ZT_SOCKS5_UNOFFERED_METHOD },
		{ "truncated then close", "\x05\x00\x05\x00\x00\x01\xc6", 7, NULL, 7, true,
		  -1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hb *t = hb_new();
		struct script sc;
		struct zt_addr pa = zt_addr_v4(SOCKS4);
		uint16_t port = (uint16_t)(40500 + i);
		uint64_t t0;

		memset(&sc, 0, sizeof(sc));
		sc.prefix = cases[i].prefix;
		sc.prefix_len = cases[i].prefix_len;
		sc.line = cases[i].line;
		sc.total = cases[i].total;
		sc.close_after = cases[i].close_after;
		t->dec[0] = ZT_ROUTE_SOCKS5;
		hb_start(t);
		CU_ASSERT_FATAL(zt_vnet_listen(t->vn, &pa, 1080, sc_accept, NULL, &sc) == 0);
		t0 = zt_test_heap_used();
		handshake_start(t, false, port, 7);
		hb_run(t, 2 * ZT_SEC);
		if (t->rst_seen[port] != 1 || t->out_synack != 0)
			fprintf(stderr, "\n  hostile socks5 %s: rst %u synack %llu\n",
				cases[i].name, t->rst_seen[port],
				(unsigned long long)t->out_synack);
		CU_ASSERT_EQUAL(t->rst_seen[port], 1);
		CU_ASSERT_EQUAL(t->out_synack, 0);
		CU_ASSERT_EQUAL(sc.accepted, 1);
		if (cases[i].outcome >= 0) {
			if (rst(t)->socks5_failures[cases[i].outcome] != 1)
				for (int k = 0; k < ZT_SOCKS5__COUNT; k++)
					if (rst(t)->socks5_failures[k])
						fprintf(stderr, "\n  hostile socks5 %s: %s\n",
							cases[i].name,
							zt_socks5_outcome_name((enum zt_socks5_outcome)k));
			CU_ASSERT_EQUAL(rst(t)->socks5_failures[cases[i].outcome], 1);
		} else {
			CU_ASSERT_EQUAL(rst(t)->upstream_connect_failed, 1);
		}
		CU_ASSERT_EQUAL(sst(t)->tcp_flows_active, 0);
		CU_ASSERT_EQUAL(zt_vnet_stats(t->vn)->streams_open, 0);
		/* the router stops reading at the failure: at most one pipe-full
		 * is taken (and discarded), the server cannot push its 1 MB */
		CU_ASSERT(zt_vnet_stats(t->vn)->bytes_to_router <=
			  zt_vnet_config(t->vn)->buf);
		CU_ASSERT(sc.sent <= cases[i].prefix_len + zt_vnet_config(t->vn)->buf ||
			  sc.sent == cases[i].total);
		/* nothing of the flow is left allocated (vnet pipes drained) */
		CU_ASSERT(zt_test_heap_used() <= t0 + 64 * 1024);
		hb_free(t);
	}
	suite_lap(__func__);
}

static void test_hostile_http_proxy(void)
{
	struct hb *t = hb_new();
	struct script sc;
	struct zt_addr pa = zt_addr_v4(HTTP4);
	uint16_t port = 40600;

	memset(&sc, 0, sizeof(sc));
	sc.prefix = "HTTP/1.1 200 Connection established\r\n";
	sc.prefix_len = strlen(sc.prefix);
	sc.line = "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
	sc.total = MIB;
	t->dec[0] = ZT_ROUTE_HTTP;
	hb_start(t);
	CU_ASSERT_FATAL(zt_vnet_listen(t->vn, &pa, 3128, sc_accept, NULL, &sc) == 0);
	handshake_start(t, false, port, 443);
	hb_run(t, 2 * ZT_SEC);
	CU_ASSERT_EQUAL(t->rst_seen[port], 1);
	CU_ASSERT_EQUAL(t->out_synack, 0);
	CU_ASSERT_EQUAL(rst(t)->http_failures[ZT_HTTP_CONNECT_HEADERS_TOO_LARGE], 1);
	/* refused at the 16 KiB bound (HEADERS_TOO_LARGE above); the router
	 * stopped reading there: it took (and discarded) at most the one
	 * pipe-full the vnet offered, and the server could not push its 1 MB */
	CU_ASSERT(zt_vnet_stats(t->vn)->bytes_to_router <= zt_vnet_config(t->vn)->buf);
	CU_ASSERT(sc.sent < MIB);
	CU_ASSERT_EQUAL(sst(t)->tcp_flows_active, 0);
	CU_ASSERT_EQUAL(zt_vnet_stats(t->vn)->streams_open, 0);
	hb_free(t);
	suite_lap(__func__);
}

/* --- 7. resource exhaustion ------------------------------------------------- */

/*
 * Sizes of the exhaustion tests. Under ASan every 256 KiB ring costs a
 * shadow poisoning at malloc and free, so the full sizes (20,000 SYNs into
 * 4096 flows, 10,000 idle connections) take about a minute there: an ASan
 * build runs them scaled down by 8 unless ZT_EXHAUST_FULL=1. The release
 * build always runs the full sizes (docs/robustness.md has the figures).
 */
static unsigned scale(void)
{
#if defined(__SANITIZE_ADDRESS__)
	const char *v = getenv("ZT_EXHAUST_FULL");

	return v && *v && *v != '0' ? 1 : 8;
#else
	return 1;
#endif
}

/* @nsyn SYNs from distinct ports at one instant. @budget: mem_budget,
 * @max_flows: max_tcp_flows (0: defaults). */
static void syn_flood(unsigned nsyn, uint32_t max_flows, uint64_t budget,
		      uint64_t *flows, uint64_t *full, uint64_t *memory,
		      uint64_t *reserved, uint64_t *heap)
{
	struct hb *t = hb_new();
	uint8_t pkt[128];
	uint64_t h0;

	if (budget)
		t->cfg.stack.mem_budget = budget;
	if (max_flows)
		t->cfg.stack.max_tcp_flows = max_flows;
	hb_start(t);
	h0 = zt_test_heap_used();
	for (unsigned i = 0; i < nsyn; i++) {
		size_t n = syn_pkt(pkt, false, (uint16_t)(1024 + i), 7);

		feed(t, pkt, n);
	}
	*flows = sst(t)->tcp_flows_active;
	*full = sst(t)->tcp_refused_full;
	*memory = sst(t)->tcp_refused_memory;
	*reserved = sst(t)->mem_reserved;
	*heap = zt_test_heap_used() - h0;
	/* every refusal was answered with a RST, nothing else was sent */
	CU_ASSERT_EQUAL(t->out_rst, *full + *memory);
	CU_ASSERT_EQUAL(t->out_pkts, t->out_rst);
	CU_ASSERT_EQUAL(sst(t)->drops[ZT_DROP_TCP_NO_FLOW], 0);
	hb_free(t);
}

static void test_syn_flood(void)
{
	struct zt_stack_config sc;
	struct zt_vnet_config vc;
	uint64_t flows, full, memory, reserved, heap, per_flow, pipes;
	unsigned k = scale(), nsyn = 20000 / k;
	uint32_t cap;

	zt_stack_config_default(&sc);
	zt_vnet_config_default(&vc);
	pipes = 2 * (uint64_t)vc.buf;
	cap = sc.max_tcp_flows / k;
	sc.mem_budget /= k;
	per_flow = (uint64_t)sc.tcp.rx_buf + sc.tcp.tx_buf;
	/* Budget enough for max_tcp_flows: exactly 4096 flows, the rest
	 * refused as full. */
	syn_flood(nsyn, cap, per_flow * cap, &flows, &full, &memory, &reserved, &heap);
	CU_ASSERT_EQUAL(flows, cap);
	CU_ASSERT_EQUAL(full, nsyn - cap);
	CU_ASSERT_EQUAL(memory, 0);
	CU_ASSERT_EQUAL(reserved, per_flow * cap);
	/* per flow: the vnet's two pipes (host side: the upstream connect
	 * is under way) and at most 16 KiB of everything else; the rings
	 * are reserved but, lazy and empty, not allocated */
	CU_ASSERT(heap <= flows * (pipes + 16384));
	if (verbose())
		printf("\n  syn flood, budget %llu: %llu flows, %llu refused full, "
		       "mem_reserved %llu, heap +%llu (%llu/flow beyond vnet pipes)\n",
		       (unsigned long long)(per_flow * cap),
		       (unsigned long long)flows, (unsigned long long)full,
		       (unsigned long long)reserved, (unsigned long long)heap,
		       (unsigned long long)(heap / flows - pipes));
	/* Defaults: the budget (2 GiB) covers max_tcp_flows flows of default
	 * rings, so capacity, not memory, is what refuses. */
	syn_flood(nsyn, cap, sc.mem_budget, &flows, &full, &memory, &reserved, &heap);
	CU_ASSERT_EQUAL(flows, cap);
	CU_ASSERT_EQUAL(full, nsyn - cap);
	CU_ASSERT_EQUAL(memory, 0);
	CU_ASSERT(reserved <= sc.mem_budget);
	/* A budget for half of them: the budget refuses the rest. */
	syn_flood(nsyn, cap, per_flow * (cap / 2), &flows, &full, &memory,
		  &reserved, &heap);
	CU_ASSERT_EQUAL(flows, cap / 2);
	CU_ASSERT_EQUAL(memory, nsyn - cap / 2);
	CU_ASSERT_EQUAL(full, 0);
	CU_ASSERT(reserved <= per_flow * (cap / 2));
	CU_ASSERT(heap <= flows * (pipes + 16384));
	if (verbose())
		printf("  syn flood, half budget: %llu flows, %llu refused memory, "
		       "mem_reserved %llu, heap +%llu\n",
		       (unsigned long long)flows, (unsigned long long)memory,
		       (unsigned long long)reserved, (unsigned long long)heap);
	suite_lap(__func__);
}

/*
 * Many UDP flows of one client socket (a resolver, a peer-to-peer client
 * talking to many peers): each costs its relay and nothing that scales
 * with a datagram's size. The queue a flow needs only while its SOCKS5
 * association or DNS stream opens is taken then, not with every flow
 * (it was 16 KiB inline: 8192 flows held 128 MiB they never used).
 */
static void test_udp_flows_memory(void)
{
	struct hb *t = hb_new();
	uint8_t pkt[128];
	const unsigned n = 2000;
	uint64_t h0, heap;

	t->dec[1] = ZT_ROUTE_NAT;
	hb_start(t);
	h0 = zt_test_heap_used();
	for (unsigned i = 0; i < n; i++) {
		size_t len = udp_pkt(pkt, false, 2000, (uint16_t)(1000 + i), "q", 1);

		feed(t, pkt, len);
	}
	hb_run(t, 10 * ZT_MS);
	heap = zt_test_heap_used() - h0;
	CU_ASSERT_EQUAL(sst(t)->udp_flows_active, n);
	CU_ASSERT_EQUAL(zt_nat_stats(zt_router_nat(t->r))->active, n);
	CU_ASSERT_EQUAL(zt_vnet_stats(t->vn)->dgrams_open, 1); /* one mapping */
	if (verbose())
		printf("\n  %u UDP flows of one socket: heap +%llu bytes (%llu per flow)\n",
		       n, (unsigned long long)heap, (unsigned long long)(heap / n));
	CU_ASSERT(heap / n < 1024);
	hb_free(t);
	suite_lap(__func__);
}

static void test_nat_full(void)
{
	struct hb *t = hb_new();
	uint8_t pkt[128];
	unsigned cap = 1024, n = 1500;

	t->dec[1] = ZT_ROUTE_NAT;
	t->cfg.nat.capacity = cap;
	hb_start(t);
	for (unsigned i = 0; i < n; i++) {
		size_t len = udp_pkt(pkt, false, (uint16_t)(2000 + i), 53, "q", 1);

		feed(t, pkt, len);
	}
	hb_run(t, 10 * ZT_MS);
	CU_ASSERT_EQUAL(rst(t)->flows[ZT_ROUTE_NAT], n);
	CU_ASSERT_EQUAL(rst(t)->nat_refused, n - cap);
	CU_ASSERT_EQUAL(zt_vnet_stats(t->vn)->dgrams_open, cap);
	CU_ASSERT_EQUAL(zt_vnet_stats(t->vn)->dgrams_opened, cap);
	hb_free(t);
	suite_lap(__func__);
}

/* A fast sender into a slow upstream: the bytes the router acknowledged to
 * the client and has not delivered to the upstream stay under the rings
 * plus the vnet pipe. */
static void test_slow_upstream(void)
{
	struct hb *t = hb_new();
	struct zt_vhost_config hc;
	struct zt_vhost *h;
	uint8_t pkt[1600], data[1400];
	uint16_t port = 40700;
	uint32_t nxt, iss;
	uint64_t sent = 0, max_gap = 0, bound;
	size_t n;

	hb_start(t);
	zt_vhost_config_init(&hc, ZT_VHOST_DISCARD);
	hc.drain_per_ms = 10000;
	h = add_vhost(t, SRV4, false, 9, &hc);
	CU_ASSERT_FATAL(handshake(t, false, port, 9));
	iss = 1001;
	nxt = iss;
	for (int ms = 0; ms < 2000; ms++) {
		/* fill the window the router offers, every millisecond */
		while ((uint32_t)(nxt - t->last_ack) + sizeof(data) <= t->last_wnd) {
			for (size_t k = 0; k < sizeof(data); k++)
				data[k] = zt_vhost_pattern(sent + k);
			n = tcp_pkt(pkt, false, port, 9, nxt, t->srv_isn[port], ZT_TCP_ACK,
				    NULL, 0, data, sizeof(data));
			feed(t, pkt, n);
			nxt += sizeof(data);
			sent += sizeof(data);
		}
		hb_run(t, ZT_MS);
		uint64_t gap = (uint32_t)(t->last_ack - iss) - zt_vhost_stats(h)->bytes_in;
		if (gap > max_gap)
			max_gap = gap;
	}
	bound = (uint64_t)t->cfg.stack.tcp.rx_buf + t->cfg.stack.tcp.tx_buf +
		zt_vnet_config(t->vn)->buf;
	CU_ASSERT(max_gap <= bound);
	CU_ASSERT(zt_vnet_stats(t->vn)->max_pipe <= zt_vnet_config(t->vn)->buf);
	CU_ASSERT(zt_vhost_stats(h)->pattern_ok);
	CU_ASSERT(zt_vhost_stats(h)->bytes_in > 10 * MIB);
	CU_ASSERT(sent > zt_vhost_stats(h)->bytes_in); /* the sender was faster */
	if (verbose())
		printf("\n  slow upstream: sent %llu, upstream took %llu, most buffered %llu"
		       " (bound %llu), vnet max_pipe %llu\n",
		       (unsigned long long)sent,
		       (unsigned long long)zt_vhost_stats(h)->bytes_in,
		       (unsigned long long)max_gap, (unsigned long long)bound,
		       (unsigned long long)zt_vnet_stats(t->vn)->max_pipe);
	hb_free(t);
	suite_lap(__func__);
}

#define IDLE (10000 / scale())

/* 10,000 idle connections through the router to an echo server. */
static void test_idle_connections(void)
{
	struct hb *t = hb_new();
	struct zt_vhost_config hc;
	struct zt_vhost *h;
	uint64_t h0, heap, per_flow, est = 0;
	unsigned i;

	per_flow = (uint64_t)t->cfg.stack.tcp.rx_buf + t->cfg.stack.tcp.tx_buf;
	t->cfg.stack.max_tcp_flows = IDLE;
	t->cfg.stack.mem_budget = per_flow * IDLE;
	hb_start(t);
	zt_vhost_config_init(&hc, ZT_VHOST_ECHO);
	h = add_vhost(t, SRV4, false, 7, &hc);
	h0 = zt_test_heap_used();
	for (i = 0; i < IDLE; i++)
		handshake_start(t, false, (uint16_t)(20000 + i), 7);
	hb_run(t, 20 * ZT_MS);
	for (i = 0; i < IDLE; i++)
		est += handshake_finish(t, false, (uint16_t)(20000 + i), 7);
	hb_run(t, 100 * ZT_MS);
	heap = zt_test_heap_used() - h0;
	CU_ASSERT_EQUAL(est, IDLE);
	CU_ASSERT_EQUAL(sst(t)->tcp_flows_active, IDLE);
	CU_ASSERT_EQUAL(zt_vhost_stats(h)->sessions, IDLE);
	CU_ASSERT_EQUAL(sst(t)->mem_reserved, per_flow * IDLE);
	CU_ASSERT_EQUAL(t->out_rst, 0);
	/* bound: the vnet's two pipes (host side) plus 32 KiB a connection
	 * for everything else, the emulated server's session included. No
	 * rings: they are lazy, and an idle connection holds no bytes. */
	CU_ASSERT(heap <= (2 * zt_vnet_config(t->vn)->buf + 32768) * IDLE);
	if (verbose())
		printf("\n  %u idle connections: heap +%llu bytes (%llu per connection; "
		       "vnet pipes %llu, other %llu), mem_reserved %llu\n",
		       IDLE, (unsigned long long)heap, (unsigned long long)(heap / IDLE),
		       (unsigned long long)(2 * zt_vnet_config(t->vn)->buf),
		       (unsigned long long)(heap / IDLE -
					    2 * zt_vnet_config(t->vn)->buf),
		       (unsigned long long)sst(t)->mem_reserved);
	hb_free(t);
	suite_lap(__func__);
}

int zt_suite_hostile(void)
{
	static const struct zt_test_case cases[] = {
		{ "truncation_every_length", test_truncation },
		{ "lying_lengths_ihl_doff_options", test_lying_lengths },
		{ "ip6_ext_chain_limit", test_ext_chain },
		{ "fragments_overlap_tiny", test_fragments },
		{ "tcp_illegal_flags", test_tcp_flags },
		{ "socks5_hostile_server", test_hostile_socks5 },
		{ "http_proxy_1mb_headers", test_hostile_http_proxy },
		{ "syn_flood_capacity", test_syn_flood },
		{ "nat_table_full", test_nat_full },
		{ "udp_flows_memory", test_udp_flows_memory },
		{ "slow_upstream_bounded", test_slow_upstream },
		{ "idle_10000_connections", test_idle_connections },
		{ 0 },
	};

	return zt_add_suite("hostile", hostile_init, NULL, cases);
}
