/* SPDX-License-Identifier: MIT */
/*
 * test_stack.c - the stack between a TUN and its host: a fake host records
 * what the stack sends to the TUN and plays upstream; on the TUN side either
 * hand-built packets or a real client tcb whose segments are wrapped in IP.
 */
#include <stdlib.h>
#include <string.h>

#include "io/gso.h"
#include "test.h"
#include "ztun/checksum.h"
#include "ztun/stack.h"
#include "ztun/view.h"

#define MAXQ 4096

struct pktq {
	uint8_t *p[MAXQ];
	size_t len[MAXQ];
	unsigned n;
};

/* SINK accepts and leaves what arrives in the ring; DRAIN accepts and
 * consumes all of it at once, as ztun-ref's relay does. */
enum host_mode {
	HOST_PENDING,
	HOST_ACCEPT_ECHO,
	HOST_REFUSE_NOW,
	HOST_ACCEPT_SINK,
	HOST_ACCEPT_DRAIN,
	HOST_REJECT_RST              /* zt_stack_tcp_reject(), -1, at once */
};

struct host {
	enum host_mode mode;
	struct zt_stack *s;
	struct pktq to_tun;          /* what the stack sent */
	struct zt_flow *last_new;
	unsigned n_new, n_reset, n_closed, n_peer_fin;
	uint8_t udp_last[70000];
	size_t udp_last_len;
	struct zt_flow_key udp_key;
	unsigned n_udp, n_udp_new, n_udp_closed, n_udp_error;
	uint8_t udp_error_code;
	enum zt_icmp_kind udp_error_kind;
	struct zt_addr local;        /* answers ping for this address */
	struct zt_addr refused;      /* refuses ping to this one */
	struct zt_addr forwarded;    /* forwards ping to this one */
	unsigned n_echo_fwd;         /* echo_forward calls */
	struct zt_flow_key echo_key; /* ... the last one's */
	uint16_t echo_ident, echo_seq;
	struct zt_fwd_hdr echo_hdr, udp_hdr; /* the last echo request's,
					      * datagram's */
	size_t echo_len;
	uint64_t now;
	unsigned n_gso;              /* TSO segments cut by the host */
	unsigned n_gso_udp;          /* ... of them UDP GSO packets */
	uint32_t gso_max;            /* largest of them */
	size_t direct_take;          /* tcp_rx_direct takes up to this per call */
	unsigned n_direct;           /* tcp_rx_direct calls */
	uint8_t got[65536];          /* stream bytes taken, in order */
	size_t got_len;
	unsigned n_readable;
	bool udp_evicts;             /* udp_input is out of descriptors: it
				      * calls zt_stack_evict_idle() */
	unsigned n_udp_evicted;      /* ... which closed a flow */
	enum zt_tcp_admit admit;     /* tcp_admit's answer (host_ops_admit) */
	enum zt_udp_admit udp_admit; /* udp_admit's */
	unsigned n_admit, n_udp_admit; /* their calls */
};

static void q_push(struct pktq *q, const uint8_t *p, size_t len)
{
	CU_ASSERT_FATAL(q->n < MAXQ);
	q->p[q->n] = malloc(len ? len : 1);
	CU_ASSERT_FATAL(q->p[q->n] != NULL);
	memcpy(q->p[q->n], p, len);
	q->len[q->n++] = len;
}

static void q_clear(struct pktq *q)
{
	for (unsigned i = 0; i < q->n; i++)
		free(q->p[i]);
	q->n = 0;
}

static void h_tun_output(void *host, const uint8_t *pkt, size_t len)
{
	struct host *h = host;

	q_push(&h->to_tun, pkt, len);
}

static int h_tcp_new(void *host, struct zt_flow *f, uint64_t now)
{
	struct host *h = host;

	h->n_new++;
	h->last_new = f;
	if (h->mode == HOST_REFUSE_NOW)
		return -ECONNREFUSED;
	if (h->mode == HOST_REJECT_RST) {
		zt_stack_tcp_reject(h->s, f, -1, now);
		return 0;
	}
	if (h->mode == HOST_ACCEPT_ECHO || h->mode == HOST_ACCEPT_SINK ||
	    h->mode == HOST_ACCEPT_DRAIN)
		zt_stack_tcp_accept(h->s, f, now);
	return 0;
}

static void h_tcp_event(void *host, struct zt_flow *f, uint32_t ev, uint64_t now)
{
	struct host *h = host;
	uint8_t buf[16384];
	size_t n;

	if (ev & ZT_TCP_EV_READABLE)
		h->n_readable++;
	if (ev & ZT_TCP_EV_RESET)
		h->n_reset++;
	if (ev & ZT_TCP_EV_CLOSED)
		h->n_closed++;
	if (h->mode == HOST_ACCEPT_ECHO && (ev & (ZT_TCP_EV_READABLE | ZT_TCP_EV_WRITABLE))) {
		/* Echo what fits; the rest waits in the ring (back-pressure). */
		while (zt_tcb_send_space(&f->tcb) > 0 &&
		       (n = zt_tcb_recv_len(&f->tcb)) > 0) {
			size_t room = zt_tcb_send_space(&f->tcb);

			if (n > room)
				n = room;
			if (n > sizeof(buf))
				n = sizeof(buf);
			n = zt_stack_tcp_recv(h->s, f, buf, n, now);
			CU_ASSERT_EQUAL(zt_stack_tcp_send(h->s, f, buf, n, now), n);
		}
	}
	if (h->mode == HOST_ACCEPT_DRAIN && (ev & ZT_TCP_EV_READABLE)) {
		const uint8_t *p;

		while ((n = zt_stack_tcp_peek(h->s, f, 0, &p)) > 0) {
			if (h->got_len + n <= sizeof(h->got)) {
				memcpy(h->got + h->got_len, p, n);
				h->got_len += n;
			}
			zt_stack_tcp_consume(h->s, f, n, now);
		}
	}
	if (ev & ZT_TCP_EV_PEER_FIN) {
		h->n_peer_fin++;
		if (h->mode == HOST_ACCEPT_ECHO)
			zt_stack_tcp_shutdown(h->s, f, now);
	}
}

static void h_udp_input(void *host, struct zt_udp_flow *f,
			const uint8_t *data, size_t len, uint64_t now)
{
	struct host *h = host;

	h->n_udp++;
	if (f->datagrams_in == 1)
		h->n_udp_new++;
	h->udp_key = f->key;
	h->udp_hdr = f->hdr;
	memcpy(h->udp_last, data, len);
	h->udp_last_len = len;
	if (h->udp_evicts && zt_stack_evict_idle(h->s, now))
		h->n_udp_evicted++;
}

static enum zt_tcp_admit h_tcp_admit(void *host, const struct zt_flow_key *key,
				     uint64_t now)
{
	struct host *h = host;

	(void)key;
	(void)now;
	h->n_admit++;
	return h->admit;
}

static enum zt_udp_admit h_udp_admit(void *host, const struct zt_flow_key *key,
				     const uint8_t *data, size_t len,
				     uint64_t now)
{
	struct host *h = host;

	(void)key;
	(void)data;
	(void)len;
	(void)now;
	h->n_udp_admit++;
	return h->udp_admit;
}

static enum zt_echo_verdict h_echo_verdict(void *host,
					   const struct zt_addr *src,
					   const struct zt_addr *dst)
{
	struct host *h = host;

	(void)src;
	if (zt_addr_eq(dst, &h->local))
		return ZT_ECHO_LOCAL;
	if (zt_addr_eq(dst, &h->forwarded))
		return ZT_ECHO_FORWARD;
	return zt_addr_eq(dst, &h->refused) ? ZT_ECHO_REJECT : ZT_ECHO_DROP;
}

static void h_echo_forward(void *host, const struct zt_flow_key *key,
			   uint16_t ident, uint16_t seq,
			   const struct zt_fwd_hdr *hdr, const uint8_t *data,
			   size_t len, uint64_t now)
{
	struct host *h = host;

	h->echo_hdr = *hdr;
	(void)data;
	(void)now;
	h->n_echo_fwd++;
	h->echo_key = *key;
	h->echo_ident = ident;
	h->echo_seq = seq;
	h->echo_len = len;
}

static void h_udp_closed(void *host, struct zt_udp_flow *f, uint64_t now)
{
	struct host *h = host;

	(void)f;
	(void)now;
	h->n_udp_closed++;
}

static void h_udp_error(void *host, struct zt_udp_flow *f, enum zt_icmp_kind kind,
			uint8_t code, uint64_t now)
{
	struct host *h = host;

	(void)f;
	(void)now;
	h->n_udp_error++;
	h->udp_error_kind = kind;
	h->udp_error_code = code;
}

/* A device that segments TSO segments itself, as Linux GSO would. The
 * data comes apart from the headers, straight from the ring. */
static void h_tun_output_gso(void *host, const struct zt_pkt_parts *parts,
			     uint32_t seg_size)
{
	struct host *h = host;
	static uint8_t piece[1600], pkt[65536];
	size_t len = zt_pkt_parts_flatten(parts, pkt, sizeof(pkt));

	CU_ASSERT_FATAL(len > 0);
	CU_ASSERT(parts->l1 > 0);
	h->n_gso++;
	if (len > h->gso_max)
		h->gso_max = (uint32_t)len;
	CU_ASSERT(len <= 65535);
	/* CHECKSUM_PARTIAL: the TCP or UDP checksum field holds the
	 * pseudo-header sum only; the device (here zt_gso_split) sums the
	 * rest. Headers only in the first part: IP (20 or 40), then TCP
	 * (20..60) or UDP (8). */
	{
		struct zt_addr src, dst;
		bool v4 = (pkt[0] >> 4) == 4;
		size_t iphl = v4 ? (size_t)(pkt[0] & 15) * 4 : 40;
		uint8_t proto = pkt[v4 ? 9 : 6];
		size_t csum_at = proto == ZT_IPPROTO_UDP ? 6 : 16;

		if (proto == ZT_IPPROTO_UDP) {
			h->n_gso_udp++;
			CU_ASSERT_EQUAL(parts->hdr_len, iphl + 8);
		} else {
			CU_ASSERT(parts->hdr_len >= 40 && parts->hdr_len <= 100);
		}
		memset(&src, 0, sizeof(src));
		memset(&dst, 0, sizeof(dst));
		src.family = dst.family = v4 ? ZT_AF_INET : ZT_AF_INET6;
		memcpy(src.bytes, pkt + (v4 ? 12 : 8), v4 ? 4 : 16);
		memcpy(dst.bytes, pkt + (v4 ? 16 : 24), v4 ? 4 : 16);
		CU_ASSERT_EQUAL(zt_rd16(pkt + iphl + csum_at),
				(uint16_t)~zt_csum_fold(zt_csum_pseudo(
					&src, &dst, proto,
					(uint32_t)(len - iphl))));
	}
	CU_ASSERT(zt_gso_split(pkt, len, seg_size, piece, sizeof(piece), 0,
			       h_tun_output, h) > 1);
}

/* A host that forwards from the packet (tcp_rx_direct) up to direct_take
 * bytes per call, into got[] like the drain does. */
static size_t h_tcp_rx_direct(void *host, struct zt_flow *f, const uint8_t *p,
			      size_t len)
{
	struct host *h = host;
	size_t n = len < h->direct_take ? len : h->direct_take;

	(void)f;
	h->n_direct++;
	CU_ASSERT_FATAL(h->got_len + n <= sizeof(h->got));
	memcpy(h->got + h->got_len, p, n);
	h->got_len += n;
	return n;
}

static const struct zt_stack_ops host_ops = {
	h_tun_output, h_tcp_new, h_tcp_event, h_udp_input, h_echo_verdict,
	h_udp_closed, h_udp_error, NULL, NULL, h_echo_forward, NULL, NULL,
};

static const struct zt_stack_ops host_ops_gso = {
	h_tun_output, h_tcp_new, h_tcp_event, h_udp_input, h_echo_verdict,
	h_udp_closed, h_udp_error, h_tun_output_gso, NULL, h_echo_forward, NULL, NULL,
};

static const struct zt_stack_ops host_ops_admit = {
	h_tun_output, h_tcp_new, h_tcp_event, h_udp_input, h_echo_verdict,
	h_udp_closed, h_udp_error, NULL, NULL, h_echo_forward, h_tcp_admit,
	h_udp_admit,
};

static const struct zt_stack_ops host_ops_direct = {
	h_tun_output, h_tcp_new, h_tcp_event, h_udp_input, h_echo_verdict,
	h_udp_closed, h_udp_error, NULL, h_tcp_rx_direct, h_echo_forward, NULL, NULL,
};

static struct zt_addr A4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	const uint8_t x[4] = { a, b, c, d };

	return zt_addr_v4(x);
}

static struct zt_addr A6(uint8_t last)
{
	uint8_t x[16] = { 0xfd, 0, 0, 0x5a };

	x[15] = last;
	return zt_addr_v6(x);
}


static void send_tcp(struct host *h, const struct zt_addr *src, const struct zt_addr *dst,
		     const struct zt_tcp_repr *r, const void *data, size_t len)
{
	static uint8_t seg[70000], pkt[70000];
	int n = zt_tcp_emit(r, src, dst, data, len, seg, sizeof(seg));
	size_t pl;

	CU_ASSERT_FATAL(n > 0);
	pl = zt_test_wrap_ip(src, dst, ZT_IPPROTO_TCP, seg, (size_t)n, pkt);
	zt_stack_input(h->s, pkt, pl, h->now);
}

static struct zt_tcp_repr syn_to(uint16_t sport, uint16_t dport, uint32_t seq)
{
	struct zt_tcp_repr r;

	memset(&r, 0, sizeof(r));
	r.src_port = sport;
	r.dst_port = dport;
	r.seq = seq;
	r.flags = ZT_TCP_SYN;
	r.window = 65535;
	r.has_mss = true;
	r.mss = 1460;
	r.sack_permitted = true;
	return r;
}

static void host_init_ops(struct host *h, enum host_mode mode,
			  struct zt_stack_config *cfg, struct zt_rng *rng,
			  const struct zt_stack_ops *ops)
{
	memset(h, 0, sizeof(*h));
	h->mode = mode;
	h->now = 5 * ZT_SEC;
	h->local = A4(10, 0, 0, 1);
	zt_rng_seed(rng, 42);
	h->s = zt_stack_new(cfg, ops, h, rng);
	CU_ASSERT_FATAL(h->s != NULL);
}

static void host_init(struct host *h, enum host_mode mode, struct zt_stack_config *cfg,
		      struct zt_rng *rng)
{
	host_init_ops(h, mode, cfg, rng, &host_ops);
}

static void host_fini(struct host *h)
{
	zt_stack_free(h->s);
	q_clear(&h->to_tun);
}

/* Decode the stack's @i-th TUN packet. */
static void out_pkt(struct host *h, unsigned i, struct zt_packet *pk)
{
	CU_ASSERT_FATAL(i < h->to_tun.n);
	CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(h->to_tun.p[i], h->to_tun.len[i]),
					      0, pk), ZT_DROP_NONE);
}

static void test_upstream_first_and_mss_clamp(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(93, 184, 216, 34);
	struct zt_tcp_repr syn = syn_to(40000, 80, 1000);
	struct zt_packet pk;

	zt_stack_config_default(&cfg);
	cfg.mtu = 1400;
	host_init(h, HOST_PENDING, &cfg, &rng);
	send_tcp(h, &c, &srv, &syn, NULL, 0);
	CU_ASSERT_EQUAL(h->n_new, 1);
	CU_ASSERT_EQUAL(h->to_tun.n, 0); /* nothing until the upstream says */
	CU_ASSERT(zt_addr_eq(&h->last_new->key.server, &srv));
	CU_ASSERT_EQUAL(h->last_new->key.server_port, 80);
	send_tcp(h, &c, &srv, &syn, NULL, 0); /* retransmitted SYN: absorbed */
	CU_ASSERT_EQUAL(h->n_new, 1);
	CU_ASSERT_EQUAL(h->to_tun.n, 0);
	zt_stack_tcp_accept(h->s, h->last_new, h->now);
	CU_ASSERT_EQUAL(h->to_tun.n, 1);
	out_pkt(h, 0, &pk);
	CU_ASSERT_EQUAL(pk.l4.tcp.flags, ZT_TCP_SYN | ZT_TCP_ACK);
	CU_ASSERT_EQUAL(pk.l4.tcp.ack, 1001);
	CU_ASSERT(pk.l4.tcp.has_mss);
	CU_ASSERT_EQUAL(pk.l4.tcp.mss, 1360); /* MTU 1400 - 40 */
	host_fini(h);
	/* A large MTU raises the MSS too (it is not stuck at 1460), and a
	 * configured MSS is kept when it fits. */
	cfg.mtu = 9000;
	host_init(h, HOST_PENDING, &cfg, &rng);
	send_tcp(h, &c, &srv, &syn, NULL, 0);
	zt_stack_tcp_accept(h->s, h->last_new, h->now);
	out_pkt(h, 0, &pk);
	CU_ASSERT_EQUAL(pk.l4.tcp.mss, 8960);
	host_fini(h);
	cfg.tcp.mss = 4000;
	host_init(h, HOST_PENDING, &cfg, &rng);
	send_tcp(h, &c, &srv, &syn, NULL, 0);
	zt_stack_tcp_accept(h->s, h->last_new, h->now);
	out_pkt(h, 0, &pk);
	CU_ASSERT_EQUAL(pk.l4.tcp.mss, 4000);
	CU_ASSERT(zt_addr_eq(&pk.src, &srv) && zt_addr_eq(&pk.dst, &c));
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 1);
	host_fini(h);
	free(h);
}

/* A SYN without an MSS option: the peer can take 536 bytes a segment over
 * IPv4 and 1220 over IPv6 (RFC 9293 3.7.1; RFC 8200's 1280 minimum MTU
 * less 60), and our segments are cut to that. */
static void test_default_peer_mss(void)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = v6 ? A6(2) : A4(10, 0, 0, 2);
		struct zt_addr srv = v6 ? A6(80) : A4(93, 184, 216, 34);
		struct zt_tcp_repr syn = syn_to(40010, 80, 1000), ack;
		static uint8_t data[4000];
		struct zt_packet pk;

		syn.has_mss = false;
		zt_stack_config_default(&cfg);
		host_init(h, HOST_PENDING, &cfg, &rng);
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		zt_stack_tcp_accept(h->s, h->last_new, h->now);
		CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
		out_pkt(h, 0, &pk);
		memset(&ack, 0, sizeof(ack));
		ack.src_port = 40010;
		ack.dst_port = 80;
		ack.seq = 1001;
		ack.ack = pk.l4.tcp.seq + 1;
		ack.flags = ZT_TCP_ACK;
		ack.window = 65535;
		q_clear(&h->to_tun);
		send_tcp(h, &c, &srv, &ack, NULL, 0);
		CU_ASSERT_EQUAL(zt_stack_tcp_send(h->s, h->last_new, data, sizeof(data), h->now),
				sizeof(data));
		CU_ASSERT_FATAL(h->to_tun.n >= 2);
		out_pkt(h, 0, &pk);
		CU_ASSERT_EQUAL(pk.payload.len, v6 ? 1220 : 536);
		host_fini(h);
		free(h);
	}
}

static void test_refuse_rst_or_icmp(void)
{
	for (int icmp = 0; icmp < 2; icmp++) {
		for (int v6 = 0; v6 < 2; v6++) {
			struct zt_stack_config cfg;
			struct zt_rng rng;
			struct host *h = malloc(sizeof(*h));
			struct zt_addr c = v6 ? A6(2) : A4(10, 0, 0, 2);
			struct zt_addr srv = v6 ? A6(99) : A4(93, 184, 216, 34);
			struct zt_tcp_repr syn = syn_to(40001, 443, 77);
			struct zt_packet pk;

			zt_stack_config_default(&cfg);
			cfg.reject_icmp = icmp;
			host_init(h, HOST_PENDING, &cfg, &rng);
			send_tcp(h, &c, &srv, &syn, NULL, 0);
			zt_stack_tcp_refuse(h->s, h->last_new, h->now);
			CU_ASSERT_EQUAL(h->n_reset, 1);
			CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
			out_pkt(h, 0, &pk);
			if (icmp) {
				struct zt_icmp_quote q;

				CU_ASSERT_EQUAL(pk.l4.icmp.kind, ZT_ICMP_DEST_UNREACH);
				CU_ASSERT_EQUAL(zt_icmp_parse_quote(pk.payload, &q), ZT_DROP_NONE);
				CU_ASSERT(q.has_ports && q.src_port == 40001 && q.dst_port == 443);
				CU_ASSERT(zt_addr_eq(&pk.src, &srv));
			} else {
				CU_ASSERT_EQUAL(pk.l4.tcp.flags, ZT_TCP_RST | ZT_TCP_ACK);
				CU_ASSERT_EQUAL(pk.l4.tcp.ack, 78);
			}
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 0);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_refused, 1);
			host_fini(h);
			free(h);
		}
	}
}

/* A SYN longer than the copy a flow keeps of it (sizeof(f->syn): one
 * carrying data, as TCP Fast Open sends, or a big extension header) is
 * refused with the ICMP error asked for too, quoting what was kept, not
 * with a RST because the kept copy no longer decodes as a whole packet. */
static void test_refuse_icmp_long_syn(void)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = v6 ? A6(2) : A4(10, 0, 0, 2);
		struct zt_addr srv = v6 ? A6(99) : A4(93, 184, 216, 34);
		struct zt_tcp_repr syn = syn_to(40001, 443, 77);
		static const uint8_t data[300] = "GET / HTTP/1.1";
		struct zt_icmp_quote q;
		struct zt_packet pk;

		zt_stack_config_default(&cfg);
		cfg.reject_icmp = true;
		host_init(h, HOST_PENDING, &cfg, &rng);
		send_tcp(h, &c, &srv, &syn, data, sizeof(data));
		CU_ASSERT_FATAL(h->n_new == 1);
		CU_ASSERT(sizeof(data) > sizeof(h->last_new->syn));
		zt_stack_tcp_refuse(h->s, h->last_new, h->now);
		CU_ASSERT_EQUAL(h->n_reset, 1);
		CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
		out_pkt(h, 0, &pk);
		CU_ASSERT_EQUAL(pk.proto, v6 ? ZT_IPPROTO_ICMPV6 : ZT_IPPROTO_ICMP);
		CU_ASSERT_EQUAL(pk.l4.icmp.kind, ZT_ICMP_DEST_UNREACH);
		CU_ASSERT_EQUAL(pk.l4.icmp.code, v6 ? ZT_ICMP6_CODE_PORT_UNREACH :
						      ZT_ICMP4_CODE_PORT_UNREACH);
		CU_ASSERT(zt_addr_eq(&pk.src, &srv) && zt_addr_eq(&pk.dst, &c));
		CU_ASSERT_EQUAL_FATAL(zt_icmp_parse_quote(pk.payload, &q), ZT_DROP_NONE);
		CU_ASSERT(q.has_ports && q.src_port == 40001 && q.dst_port == 443);
		CU_ASSERT(q.has_seq && q.tcp_seq == 77);
		/* the quote is the SYN as it came, its IP length unchanged */
		CU_ASSERT_EQUAL(pk.payload.len, sizeof(h->last_new->syn));
		CU_ASSERT_EQUAL(v6 ? zt_rd16(pk.payload.data + 4) + 40u :
				     zt_rd16(pk.payload.data + 2),
				(v6 ? 40u : 20u) + 28u + sizeof(data));
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 0);
		host_fini(h);
		free(h);
	}
}

static void test_connect_timeout(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
	struct zt_tcp_repr syn = syn_to(40002, 80, 5);
	struct zt_packet pk;
	uint64_t t0;

	zt_stack_config_default(&cfg);
	cfg.connect_timeout = 3 * ZT_SEC;
	host_init(h, HOST_PENDING, &cfg, &rng);
	send_tcp(h, &c, &srv, &syn, NULL, 0);
	t0 = h->now;
	CU_ASSERT_EQUAL(zt_stack_deadline(h->s), t0 + 3 * ZT_SEC);
	zt_stack_poll(h->s, t0 + 3 * ZT_SEC - 1);
	CU_ASSERT_EQUAL(h->to_tun.n, 0);
	zt_stack_poll(h->s, t0 + 3 * ZT_SEC);
	CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
	out_pkt(h, 0, &pk);
	CU_ASSERT_EQUAL(pk.l4.tcp.flags, ZT_TCP_RST | ZT_TCP_ACK);
	CU_ASSERT_EQUAL(h->n_reset, 1);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_connect_timeouts, 1);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 0);
	CU_ASSERT_EQUAL(zt_stack_deadline(h->s), ZT_TIME_NEVER);
	host_fini(h);
	free(h);
}

/*
 * A SYN with another ISN while the flow is PENDING and its SYN unanswered:
 * the client gave up its first attempt and reused the port (or a NAT in
 * front of it did). Nothing was sent for the first SYN, so the new one
 * takes its place at once (a passive SYN-RECEIVED goes back to LISTEN,
 * RFC 9293 3.10.7.4): the upstream attempt the host started serves the
 * same 4-tuple and goes on, and its answer answers the new SYN (its ISN,
 * its options; a refusal quotes it), instead of the SYN being dropped
 * until the upstream answers or the connect timeout.
 */
static void test_pending_syn_new_isn(void)
{
	for (int refuse = 0; refuse < 2; refuse++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = A4(10, 0, 0, 2), srv = A4(93, 184, 216, 34);
		struct zt_tcp_repr syn = syn_to(40010, 80, 1000);
		struct zt_flow *f;
		struct zt_packet pk;

		zt_stack_config_default(&cfg);
		cfg.reject_icmp = refuse;
		host_init(h, HOST_PENDING, &cfg, &rng);
		syn.has_mss = false; /* 536 */
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		CU_ASSERT_EQUAL_FATAL(h->n_new, 1);
		f = h->last_new;
		h->now += 500 * ZT_MS;
		syn = syn_to(40010, 80, 90000); /* MSS 1460, window scale 7 */
		syn.has_wscale = true;
		syn.wscale = 7;
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		CU_ASSERT_EQUAL(h->n_new, 1); /* the same upstream attempt */
		CU_ASSERT_EQUAL(h->n_reset, 0);
		CU_ASSERT_EQUAL(h->to_tun.n, 0);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 1);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_TCP_OUT_OF_WINDOW], 0);
		/* its retransmission is absorbed as the first SYN's was */
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		CU_ASSERT_EQUAL(h->to_tun.n, 0);
		/* the connect timeout still runs from the first SYN */
		CU_ASSERT_EQUAL(zt_stack_deadline(h->s),
				h->now - 500 * ZT_MS + cfg.connect_timeout);
		if (refuse) {
			struct zt_icmp_quote q;

			zt_stack_tcp_refuse(h->s, f, h->now);
			CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
			out_pkt(h, 0, &pk);
			CU_ASSERT_EQUAL(pk.l4.icmp.kind, ZT_ICMP_DEST_UNREACH);
			CU_ASSERT_EQUAL_FATAL(zt_icmp_parse_quote(pk.payload, &q),
					      ZT_DROP_NONE);
			CU_ASSERT(q.has_seq && q.tcp_seq == 90000);
		} else {
			zt_stack_tcp_accept(h->s, f, h->now);
			CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
			out_pkt(h, 0, &pk);
			CU_ASSERT_EQUAL(pk.l4.tcp.flags, ZT_TCP_SYN | ZT_TCP_ACK);
			CU_ASSERT_EQUAL(pk.l4.tcp.ack, 90001);
			CU_ASSERT(pk.l4.tcp.has_wscale && pk.l4.tcp.wscale > 0);
			CU_ASSERT_EQUAL(f->tcb.snd_mss, 1460);
			CU_ASSERT_EQUAL(f->tcb.snd_wscale, 7);
		}
		host_fini(h);
		free(h);
	}
}

/*
 * A PENDING flow waits on its host, not on its client: the connect
 * timeout bounds it, the idle timeout (the client's silence on an open
 * connection, RFC 5382 REQ-5) does not, even when configured shorter. A
 * client whose SYN waits past the idle timeout is refused at the connect
 * timeout as connect_timeout says (an ICMP error with reject_icmp,
 * counted there), or, accepted before it, gets its SYN-ACK and a whole
 * idle timeout from then.
 */
static void test_pending_not_idle(void)
{
	for (int accept = 0; accept < 2; accept++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
		struct zt_tcp_repr syn = syn_to(40012, 80, 5);
		struct zt_packet pk;
		uint64_t t0;

		zt_stack_config_default(&cfg);
		cfg.tcp_idle_timeout = 2 * ZT_SEC;
		cfg.connect_timeout = 5 * ZT_SEC;
		cfg.reject_icmp = true;
		host_init(h, HOST_PENDING, &cfg, &rng);
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		t0 = h->now;
		zt_stack_poll(h->s, t0 + 4 * ZT_SEC);
		CU_ASSERT_EQUAL(h->to_tun.n, 0);
		CU_ASSERT_EQUAL(h->n_reset, 0);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_idle_timeouts, 0);
		CU_ASSERT_EQUAL_FATAL(zt_stack_stats(h->s)->tcp_flows_active, 1);
		if (accept) {
			zt_stack_tcp_accept(h->s, h->last_new, t0 + 4 * ZT_SEC);
			CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
			out_pkt(h, 0, &pk);
			CU_ASSERT_EQUAL(pk.l4.tcp.flags, ZT_TCP_SYN | ZT_TCP_ACK);
			zt_stack_poll(h->s, t0 + 4 * ZT_SEC + 1);
			CU_ASSERT_EQUAL(h->n_reset, 0);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_idle_timeouts, 0);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 1);
		} else {
			zt_stack_poll(h->s, t0 + 5 * ZT_SEC);
			CU_ASSERT_EQUAL(h->n_reset, 1);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_connect_timeouts, 1);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_refused, 1);
			CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
			out_pkt(h, 0, &pk);
			CU_ASSERT_EQUAL(pk.proto, ZT_IPPROTO_ICMP);
		}
		host_fini(h);
		free(h);
	}
}

/*
 * Segments other than a SYN or a RST on a PENDING flow whose SYN is
 * unanswered: its client, in SYN-SENT, has had nothing to acknowledge, so
 * one that carries an ACK acknowledges something never sent and draws the
 * RST <SEQ=SEG.ACK> a listener sends (RFC 9293 3.5.3 (2), 3.10.7.2; as
 * Linux's listener does): a half-open peer learns the connection is gone,
 * while a client in SYN-SENT ignores a RST without an ACK (3.10.7.3). One
 * without an ACK is dropped (3.10.7.4). Neither ends the flow or the
 * host's upstream attempt: the SYN's sender is still waiting for it.
 */
static void test_pending_ack_answered_rst(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
	struct zt_tcp_repr syn = syn_to(40013, 80, 1000), r;
	static const uint8_t flags[] = {
		ZT_TCP_ACK, ZT_TCP_ACK | ZT_TCP_PSH, ZT_TCP_ACK | ZT_TCP_FIN,
	};
	struct zt_packet pk;

	zt_stack_config_default(&cfg);
	host_init(h, HOST_PENDING, &cfg, &rng);
	send_tcp(h, &c, &srv, &syn, NULL, 0);
	CU_ASSERT_EQUAL_FATAL(h->n_new, 1);
	for (unsigned i = 0; i < sizeof(flags); i++) {
		memset(&r, 0, sizeof(r));
		r.src_port = 40013;
		r.dst_port = 80;
		r.seq = 1001;
		r.ack = 777000 + i;
		r.flags = flags[i];
		r.window = 65535;
		send_tcp(h, &c, &srv, &r, "x", i == 1);
		CU_ASSERT_EQUAL_FATAL(h->to_tun.n, i + 1);
		out_pkt(h, i, &pk);
		CU_ASSERT_EQUAL(pk.l4.tcp.flags, ZT_TCP_RST);
		CU_ASSERT_EQUAL(pk.l4.tcp.seq, 777000 + i);
		CU_ASSERT(zt_addr_eq(&pk.src, &srv) && zt_addr_eq(&pk.dst, &c));
	}
	/* without an ACK: dropped, unanswered */
	r.flags = ZT_TCP_FIN;
	send_tcp(h, &c, &srv, &r, NULL, 0);
	r.flags = ZT_TCP_PSH;
	send_tcp(h, &c, &srv, &r, "y", 1);
	CU_ASSERT_EQUAL(h->to_tun.n, sizeof(flags));
	CU_ASSERT_EQUAL(h->n_reset, 0);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 1);
	/* the upstream answers the SYN, which was never disturbed */
	zt_stack_tcp_accept(h->s, h->last_new, h->now);
	CU_ASSERT_EQUAL_FATAL(h->to_tun.n, sizeof(flags) + 1);
	out_pkt(h, sizeof(flags), &pk);
	CU_ASSERT_EQUAL(pk.l4.tcp.flags, ZT_TCP_SYN | ZT_TCP_ACK);
	CU_ASSERT_EQUAL(pk.l4.tcp.ack, 1001);
	host_fini(h);
	free(h);
}

static void test_stray_segments(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
	struct zt_tcp_repr r = syn_to(40003, 80, 5);
	struct zt_packet pk;

	zt_stack_config_default(&cfg);
	host_init(h, HOST_PENDING, &cfg, &rng);
	r.flags = ZT_TCP_ACK;
	r.ack = 123456;
	send_tcp(h, &c, &srv, &r, "x", 1);
	CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
	out_pkt(h, 0, &pk);
	CU_ASSERT_EQUAL(pk.l4.tcp.flags, ZT_TCP_RST);
	CU_ASSERT_EQUAL(pk.l4.tcp.seq, 123456);
	r.flags = ZT_TCP_RST;
	send_tcp(h, &c, &srv, &r, NULL, 0);
	CU_ASSERT_EQUAL(h->to_tun.n, 1); /* a RST is never answered */
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_TCP_NO_FLOW], 2);
	CU_ASSERT_EQUAL(h->n_new, 0);
	host_fini(h);
	free(h);
}

static void test_capacity(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
	unsigned rst = 0;

	zt_stack_config_default(&cfg);
	cfg.tcp.rx_buf = cfg.tcp.tx_buf = 4096; /* memory, not behaviour */
	host_init(h, HOST_PENDING, &cfg, &rng);
	for (uint32_t i = 0; i < 70000; i++) {
		struct zt_tcp_repr syn = syn_to((uint16_t)(1024 + i % 64000), 80, i);

		c.bytes[3] = (uint8_t)(2 + i / 64000);
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		if (h->to_tun.n) {
			rst += h->to_tun.n;
			q_clear(&h->to_tun);
		}
	}
	CU_ASSERT_EQUAL(h->n_new, 4096);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 4096);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_refused_full, 70000 - 4096);
	CU_ASSERT_EQUAL(rst, 70000 - 4096);
	host_fini(h);
	free(h);
}

/* Slots come back: far more connections than capacity, one after another. */
static void test_slots_reused(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);

	zt_stack_config_default(&cfg);
	cfg.max_tcp_flows = 8;
	host_init(h, HOST_PENDING, &cfg, &rng);
	for (uint32_t i = 0; i < 100; i++) {
		struct zt_tcp_repr syn = syn_to((uint16_t)(2000 + i), 80, i);

		send_tcp(h, &c, &srv, &syn, NULL, 0);
		CU_ASSERT_EQUAL_FATAL(h->n_new, i + 1);
		zt_stack_tcp_refuse(h->s, h->last_new, h->now);
	}
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_refused_full, 0);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 0);
	host_fini(h);
	free(h);
}

/* Flows by TCP state, as ztun-ref's statistics print them: a flow
 * waiting for its upstream and one whose SYN-ACK is out are SYN_RECEIVED,
 * the client's ACK makes it ESTABLISHED, a freed slot counts nowhere. */
static void test_tcp_states(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
	struct zt_tcp_repr syn = syn_to(40000, 80, 1000), ack;
	uint32_t n[ZT_TCP_TIME_WAIT + 1];
	struct zt_flow *f1;
	struct zt_packet pk;

	zt_stack_config_default(&cfg);
	host_init(h, HOST_PENDING, &cfg, &rng);
	zt_stack_tcp_states(h->s, n);
	for (unsigned i = 0; i <= ZT_TCP_TIME_WAIT; i++)
		CU_ASSERT_EQUAL(n[i], 0);
	send_tcp(h, &c, &srv, &syn, NULL, 0);
	f1 = h->last_new;
	syn = syn_to(40001, 80, 5000);
	send_tcp(h, &c, &srv, &syn, NULL, 0);
	zt_stack_tcp_states(h->s, n);
	CU_ASSERT_EQUAL(n[ZT_TCP_SYN_RECEIVED], 2);
	zt_stack_tcp_accept(h->s, f1, h->now);
	out_pkt(h, 0, &pk);
	ack = syn_to(40000, 80, 1001);
	ack.flags = ZT_TCP_ACK;
	ack.has_mss = ack.sack_permitted = false;
	ack.ack = pk.l4.tcp.seq + 1;
	send_tcp(h, &c, &srv, &ack, NULL, 0);
	zt_stack_tcp_states(h->s, n);
	CU_ASSERT_EQUAL(n[ZT_TCP_SYN_RECEIVED], 1);
	CU_ASSERT_EQUAL(n[ZT_TCP_ESTABLISHED], 1);
	CU_ASSERT_EQUAL(n[ZT_TCP_CLOSED], 0);
	zt_stack_tcp_refuse(h->s, h->last_new, h->now);
	zt_stack_tcp_states(h->s, n);
	CU_ASSERT_EQUAL(n[ZT_TCP_SYN_RECEIVED], 0);
	CU_ASSERT_EQUAL(n[ZT_TCP_ESTABLISHED], 1);
	host_fini(h);
	free(h);
}

static void test_memory_budget(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);

	zt_stack_config_default(&cfg);
	cfg.tcp.rx_buf = cfg.tcp.tx_buf = 64 * 1024;
	cfg.mem_budget = 10 * 128 * 1024 + 1000; /* room for ten flows */
	host_init(h, HOST_PENDING, &cfg, &rng);
	for (uint32_t i = 0; i < 20; i++) {
		struct zt_tcp_repr syn = syn_to((uint16_t)(3000 + i), 80, i);

		send_tcp(h, &c, &srv, &syn, NULL, 0);
	}
	CU_ASSERT_EQUAL(h->n_new, 10);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_refused_memory, 10);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->mem_reserved, 10 * 128 * 1024);
	CU_ASSERT_EQUAL(h->to_tun.n, 10); /* each refused SYN got its RST */
	/* Closing one frees its share for the next. */
	zt_stack_tcp_refuse(h->s, h->last_new, h->now);
	{
		struct zt_tcp_repr syn = syn_to(4000, 80, 1);

		send_tcp(h, &c, &srv, &syn, NULL, 0);
	}
	CU_ASSERT_EQUAL(h->n_new, 11);
	host_fini(h);
	free(h);
}

static void test_malformed_counted(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	uint8_t pkt[64] = { 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6 };

	zt_stack_config_default(&cfg);
	host_init(h, HOST_PENDING, &cfg, &rng);
	zt_stack_input(h->s, pkt, 0, h->now);      /* empty */
	pkt[0] = 0x55;
	zt_stack_input(h->s, pkt, 40, h->now);     /* version 5 */
	pkt[0] = 0x45;
	zt_stack_input(h->s, pkt, 40, h->now);     /* header checksum wrong */
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_TRUNCATED], 1);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_BAD_VERSION], 1);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_BAD_CHECKSUM], 1);
	CU_ASSERT_EQUAL(h->to_tun.n, 0);
	host_fini(h);
	free(h);
}

static void test_icmp_echo_verdicts(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2);
	struct zt_icmp_repr e;
	uint8_t msg[100], pkt[200];
	struct zt_packet pk;
	int n;
	size_t pl;

	zt_stack_config_default(&cfg);
	host_init(h, HOST_PENDING, &cfg, &rng);
	memset(&e, 0, sizeof(e));
	e.type = ZT_ICMP4_ECHO_REQUEST;
	e.echo_ident = 7;
	e.echo_seq = 9;
	n = zt_icmp4_emit(&e, (const uint8_t *)"pingdata", 8, msg, sizeof(msg));
	CU_ASSERT_FATAL(n > 0);
	pl = zt_test_wrap_ip(&c, &h->local, ZT_IPPROTO_ICMP, msg, (size_t)n, pkt);
	zt_stack_input(h->s, pkt, pl, h->now);
	CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
	out_pkt(h, 0, &pk);
	CU_ASSERT_EQUAL(pk.l4.icmp.kind, ZT_ICMP_ECHO_REPLY);
	CU_ASSERT_EQUAL(pk.l4.icmp.echo_ident, 7);
	CU_ASSERT(pk.payload.len == 8 && memcmp(pk.payload.data, "pingdata", 8) == 0);
	{
		struct zt_addr other = A4(8, 8, 8, 8);

		pl = zt_test_wrap_ip(&c, &other, ZT_IPPROTO_ICMP, msg, (size_t)n, pkt);
		zt_stack_input(h->s, pkt, pl, h->now);
		CU_ASSERT_EQUAL(h->to_tun.n, 1); /* not local: the host routes it */
		/* refused: destination unreachable, administratively
		 * prohibited, from the address pinged, quoting the request */
		h->refused = other;
		zt_stack_input(h->s, pkt, pl, h->now);
		CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 2);
		out_pkt(h, 1, &pk);
		CU_ASSERT_EQUAL(pk.l4.icmp.kind, ZT_ICMP_DEST_UNREACH);
		CU_ASSERT_EQUAL(pk.l4.icmp.code, ZT_ICMP4_CODE_ADMIN_PROHIBITED);
		CU_ASSERT(zt_addr_eq(&pk.src, &other));
		CU_ASSERT(zt_addr_eq(&pk.dst, &c));
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_echo_replies, 1);
		/* forwarded: the host gets the request; its answer goes back
		 * as an echo reply from the address pinged */
		h->forwarded = other;
		pl = zt_test_wrap_ip_hdr(&c, &other, ZT_IPPROTO_ICMP, msg,
					 (size_t)n,
					 &(struct zt_fwd_hdr){ 3, 0xb9, true },
					 pkt);
		zt_stack_input(h->s, pkt, pl, h->now);
		CU_ASSERT_EQUAL(h->to_tun.n, 2);
		CU_ASSERT_EQUAL_FATAL(h->n_echo_fwd, 1);
		CU_ASSERT_EQUAL(h->echo_hdr.ttl, 3); /* the host sends it on so */
		CU_ASSERT_EQUAL(h->echo_hdr.tclass, 0xb9); /* EF, ECT(1) */
		CU_ASSERT(h->echo_hdr.dont_frag); /* ping -M do */
		CU_ASSERT(zt_addr_eq(&h->echo_key.client, &c));
		CU_ASSERT(zt_addr_eq(&h->echo_key.server, &other));
		CU_ASSERT_EQUAL(h->echo_ident, 7);
		CU_ASSERT_EQUAL(h->echo_seq, 9);
		CU_ASSERT_EQUAL(h->echo_len, 8);
		CU_ASSERT_EQUAL(zt_stack_echo_reply(h->s, &h->echo_key, 7, 9,
						    0xb8, "pongdata", 8), 0);
		CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 3);
		out_pkt(h, 2, &pk);
		CU_ASSERT_EQUAL(pk.l4.icmp.kind, ZT_ICMP_ECHO_REPLY);
		CU_ASSERT_EQUAL(pk.l4.icmp.echo_ident, 7);
		CU_ASSERT_EQUAL(pk.l4.icmp.echo_seq, 9);
		CU_ASSERT(zt_addr_eq(&pk.src, &other));
		CU_ASSERT(zt_addr_eq(&pk.dst, &c));
		CU_ASSERT(pk.payload.len == 8 &&
			  memcmp(pk.payload.data, "pongdata", 8) == 0);
		CU_ASSERT_EQUAL(zt_packet_tclass(&pk), 0xb8); /* as it came */
		h->echo_key.family = 0;
		CU_ASSERT_EQUAL(zt_stack_echo_reply(h->s, &h->echo_key, 7, 9, 0,
						    "x", 1), -EINVAL);
	}
	host_fini(h);
	free(h);
}

static void send_udp(struct host *h, const struct zt_addr *src, const struct zt_addr *dst,
		     uint16_t sport, uint16_t dport, const void *data, size_t len);

/* TCP and UDP from or to an address that is no single host are dropped
 * unanswered and counted as bad_address: a SYN to a broadcast or
 * multicast address (RFC 1122 4.2.3.10), UDP to SSDP's or mDNS's group,
 * segments from a group, loopback or unspecified source (RFC 1122
 * 3.2.1.3; a RST to one would be sent from or to no host), and flows to
 * loopback, which would reach the host's own services. The same from and
 * to unicast addresses open flows. */
static void test_martian_addresses(void)
{
	static const char *const bad[][2] = { /* source, destination */
		{ "10.0.0.2", "255.255.255.255" }, { "10.0.0.2", "224.0.0.1" },
		{ "10.0.0.2", "239.255.255.250" }, { "10.0.0.2", "127.0.0.1" },
		{ "10.0.0.2", "0.0.0.0" }, { "10.0.0.2", "240.0.0.1" },
		{ "224.0.0.1", "93.184.216.34" }, { "127.0.0.1", "93.184.216.34" },
		{ "0.0.0.0", "93.184.216.34" }, { "255.255.255.255", "93.184.216.34" },
		{ "fd00:5a::2", "ff02::1" }, { "fd00:5a::2", "ff05::c" },
		{ "fd00:5a::2", "::1" }, { "fd00:5a::2", "::" },
		{ "ff02::1", "2001:db8::80" }, { "::1", "2001:db8::80" },
		{ "::", "2001:db8::80" },
		/* IPv4-mapped (RFC 6890: neither source nor destination):
		 * an AF_INET6 socket connects ::ffff:127.0.0.1 over IPv4,
		 * to the host's own loopback */
		{ "fd00:5a::2", "::ffff:127.0.0.1" },
		{ "fd00:5a::2", "::ffff:93.184.216.34" },
		{ "::ffff:10.0.0.2", "2001:db8::80" },
	};
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	size_t n = sizeof(bad) / sizeof(bad[0]);

	zt_stack_config_default(&cfg);
	host_init(h, HOST_PENDING, &cfg, &rng);
	for (size_t i = 0; i < n; i++) {
		struct zt_addr src, dst;
		struct zt_tcp_repr syn = syn_to((uint16_t)(40000 + i), 80, 1000);
		struct zt_tcp_repr ack = syn;

		CU_ASSERT_FATAL(zt_addr_parse(bad[i][0], &src) == 0);
		CU_ASSERT_FATAL(zt_addr_parse(bad[i][1], &dst) == 0);
		send_tcp(h, &src, &dst, &syn, NULL, 0);
		ack.flags = ZT_TCP_ACK; /* no flow: would draw a RST */
		ack.ack = 77;
		send_tcp(h, &src, &dst, &ack, "x", 1);
		send_udp(h, &src, &dst, (uint16_t)(40000 + i), 1900, "M-SEARCH", 8);
	}
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_BAD_ADDRESS], 3 * n);
	CU_ASSERT_EQUAL(h->n_new, 0);
	CU_ASSERT_EQUAL(h->n_udp, 0);
	CU_ASSERT_EQUAL(h->to_tun.n, 0);
	/* unicast both ways: a flow each */
	{
		struct zt_addr c = A4(10, 0, 0, 2), srv = A4(93, 184, 216, 34);
		struct zt_tcp_repr syn = syn_to(41000, 80, 1000);

		send_tcp(h, &c, &srv, &syn, NULL, 0);
		send_udp(h, &c, &srv, 41000, 1900, "M-SEARCH", 8);
		CU_ASSERT_EQUAL(h->n_new, 1);
		CU_ASSERT_EQUAL(h->n_udp, 1);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_BAD_ADDRESS], 3 * n);
	}
	host_fini(h);
	free(h);
}


/* Port 0 is reserved (RFC 6335 6). TCP to it opens no flow and is
 * refused as a closed port is (a RST; the ICMP port unreachable with
 * reject_icmp), UDP to it is answered with a port unreachable (the host's
 * send to port 0 would fail: the client heard nothing); TCP from it is
 * dropped unanswered, UDP from it (RFC 768: no reply port) is carried.
 * Each counted once as bad_port. */
static void test_port_zero(void)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = v6 ? A6(2) : A4(10, 0, 0, 2);
		struct zt_addr srv = v6 ? A6(99) : A4(93, 184, 216, 34);
		uint8_t unreach = v6 ? ZT_ICMP6_CODE_PORT_UNREACH :
				       ZT_ICMP4_CODE_PORT_UNREACH;
		struct zt_tcp_repr syn = syn_to(40000, 0, 1000);
		const uint64_t *drops;
		struct zt_icmp_quote q;
		struct zt_packet pk;

		zt_stack_config_default(&cfg);
		host_init(h, HOST_ACCEPT_SINK, &cfg, &rng);
		drops = zt_stack_stats(h->s)->drops;
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		CU_ASSERT_EQUAL(h->n_new, 0);
		CU_ASSERT_EQUAL(drops[ZT_DROP_BAD_PORT], 1);
		CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
		out_pkt(h, 0, &pk);
		CU_ASSERT_EQUAL(pk.l4.tcp.flags, ZT_TCP_RST | ZT_TCP_ACK);
		CU_ASSERT_EQUAL(pk.l4.tcp.ack, 1001);
		CU_ASSERT_EQUAL(pk.l4.tcp.dst_port, 40000);
		/* from port 0: a SYN, an ACK, nothing answered */
		syn = syn_to(0, 80, 1000);
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		syn.flags = ZT_TCP_ACK;
		send_tcp(h, &c, &srv, &syn, "x", 1);
		CU_ASSERT_EQUAL(h->n_new, 0);
		CU_ASSERT_EQUAL(h->to_tun.n, 1);
		CU_ASSERT_EQUAL(drops[ZT_DROP_BAD_PORT], 3);
		/* UDP to port 0: a port unreachable quoting it, no flow */
		send_udp(h, &c, &srv, 5000, 0, "x", 1);
		CU_ASSERT_EQUAL(h->n_udp, 0);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_flows_active, 0);
		CU_ASSERT_EQUAL(drops[ZT_DROP_BAD_PORT], 4);
		CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 2);
		out_pkt(h, 1, &pk);
		CU_ASSERT_EQUAL(pk.l4.icmp.kind, ZT_ICMP_DEST_UNREACH);
		CU_ASSERT_EQUAL(pk.l4.icmp.code, unreach);
		CU_ASSERT(zt_addr_eq(&pk.src, &srv) && zt_addr_eq(&pk.dst, &c));
		CU_ASSERT_EQUAL_FATAL(zt_icmp_parse_quote(pk.payload, &q), ZT_DROP_NONE);
		CU_ASSERT(q.has_ports && q.src_port == 5000 && q.dst_port == 0);
		/* UDP from port 0 is carried */
		send_udp(h, &c, &srv, 0, 53, "x", 1);
		CU_ASSERT_EQUAL(h->n_udp, 1);
		CU_ASSERT_EQUAL(drops[ZT_DROP_BAD_PORT], 4);
		/* nothing else counted */
		for (int d = 0; d < ZT_DROP__COUNT; d++)
			if (d != ZT_DROP_BAD_PORT)
				CU_ASSERT_EQUAL(drops[d], 0);
		host_fini(h);
		/* with reject_icmp, a SYN to port 0 gets the port unreachable */
		cfg.reject_icmp = true;
		host_init(h, HOST_ACCEPT_SINK, &cfg, &rng);
		syn = syn_to(40000, 0, 1000);
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		CU_ASSERT_EQUAL(h->n_new, 0);
		CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
		out_pkt(h, 0, &pk);
		CU_ASSERT_EQUAL(pk.l4.icmp.kind, ZT_ICMP_DEST_UNREACH);
		CU_ASSERT_EQUAL(pk.l4.icmp.code, unreach);
		host_fini(h);
		free(h);
	}
}

/* ICMP from the client that is neither an error nor an echo request
 * (an echo reply, a timestamp request, router and neighbour
 * solicitations, a parameter problem) is dropped unanswered, and counted
 * as unsupported like every other refusal. */
static void test_icmp_unhandled_counted(void)
{
	static const struct {
		bool v6;
		uint8_t type;
	} msgs[] = {
		{ false, 0 }, { false, 13 }, { false, 10 }, { false, 12 },
		{ true, 129 }, { true, 133 }, { true, 135 },
	};
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c4 = A4(10, 0, 0, 2), c6 = A6(2);
	uint8_t body[16] = { 0 }, msg[64], pkt[160];

	zt_stack_config_default(&cfg);
	host_init(h, HOST_PENDING, &cfg, &rng);
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		const struct zt_addr *c = msgs[i].v6 ? &c6 : &c4;
		struct zt_addr srv = msgs[i].v6 ? A6(80) : A4(93, 184, 216, 34);
		struct zt_icmp_repr r;
		const struct zt_stack_stats *st = zt_stack_stats(h->s);
		uint64_t total = 0;
		int n;

		memset(&r, 0, sizeof(r));
		r.type = msgs[i].type;
		n = msgs[i].v6 ? zt_icmp6_emit(&r, c, &srv, body, sizeof(body),
					       msg, sizeof(msg)) :
				 zt_icmp4_emit(&r, body, sizeof(body), msg,
					       sizeof(msg));
		CU_ASSERT_FATAL(n > 0);
		zt_stack_input(h->s, pkt,
			       zt_test_wrap_ip(c, &srv, msgs[i].v6 ?
							ZT_IPPROTO_ICMPV6 :
							ZT_IPPROTO_ICMP,
					       msg, (size_t)n, pkt),
			       h->now);
		for (int d = 0; d < ZT_DROP__COUNT; d++)
			total += st->drops[d];
		CU_ASSERT_EQUAL(st->drops[ZT_DROP_UNSUPPORTED], i + 1);
		CU_ASSERT_EQUAL(total, i + 1); /* under that reason alone */
	}
	CU_ASSERT_EQUAL(h->to_tun.n, 0);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_errors_in, 0);
	host_fini(h);
	free(h);
}

/* The refused packet @h->to_tun holds one answer to: an ICMP error of
 * @kind / @code / @pointer from @from, quoting @sent (@len bytes). */
static void check_refusal_answer(struct host *h, const struct zt_addr *from,
				 const struct zt_addr *to, enum zt_icmp_kind kind,
				 uint8_t code, uint32_t pointer,
				 const uint8_t *sent, size_t len)
{
	struct zt_packet pk;

	CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
	out_pkt(h, 0, &pk);
	CU_ASSERT(zt_addr_eq(&pk.src, from));
	CU_ASSERT(zt_addr_eq(&pk.dst, to));
	CU_ASSERT_EQUAL(pk.l4.icmp.kind, kind);
	CU_ASSERT_EQUAL(pk.l4.icmp.code, code);
	if (kind == ZT_ICMP_PARAM_PROBLEM)
		CU_ASSERT_EQUAL(pk.l4.icmp.pointer, pointer);
	CU_ASSERT_FATAL(pk.payload.len >= len);
	CU_ASSERT(memcmp(pk.payload.data, sent, len) == 0);
	q_clear(&h->to_tun);
}

/* A packet of a protocol the stack does not terminate is answered as a
 * host answers it, so its sender fails at once instead of timing out:
 * ICMP Protocol Unreachable over IPv4 (RFC 1122 3.2.2.1), ICMPv6
 * Parameter Problem code 1 at the byte naming it over IPv6 (RFC 8200 4),
 * also once reassembled; an IPv6 option or routing header we may not skip
 * draws the Parameter Problem RFC 8200 4.2 / 4.4 asks, a malformed
 * fragment the one of 4.5, even a later one. "No next header",
 * an option of type 01xxxxxx, and anything to a group address go
 * unanswered. Each is still counted as dropped. */
static void test_refusals_answered(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c4 = A4(10, 0, 0, 2), s4 = A4(93, 184, 216, 34);
	struct zt_addr c6, s6, group4 = A4(224, 0, 0, 9), group6;
	static uint8_t l4[3000], pkt[3200];
	size_t n;

	CU_ASSERT_FATAL(zt_addr_parse("fd00:5a::2", &c6) == 0);
	CU_ASSERT_FATAL(zt_addr_parse("2001:db8::80", &s6) == 0);
	CU_ASSERT_FATAL(zt_addr_parse("ff02::9", &group6) == 0);
	for (size_t i = 0; i < sizeof(l4); i++)
		l4[i] = (uint8_t)i;
	zt_stack_config_default(&cfg);
	host_init(h, HOST_PENDING, &cfg, &rng);

	/* GRE, and ICMPv6 over IPv4 */
	n = zt_test_wrap_ip(&c4, &s4, 47, l4, 24, pkt);
	zt_stack_input(h->s, pkt, n, h->now);
	check_refusal_answer(h, &s4, &c4, ZT_ICMP_DEST_UNREACH,
			     ZT_ICMP4_CODE_PROTO_UNREACH, 0, pkt, n);
	n = zt_test_wrap_ip(&c4, &s4, ZT_IPPROTO_ICMPV6, l4, 24, pkt);
	zt_stack_input(h->s, pkt, n, h->now);
	check_refusal_answer(h, &s4, &c4, ZT_ICMP_DEST_UNREACH,
			     ZT_ICMP4_CODE_PROTO_UNREACH, 0, pkt, n);
	/* GRE in fragments: answered once whole, quoting its start */
	for (size_t i = 0; (n = zt_test_fragment(&c4, &s4, 47, l4, sizeof(l4),
						 1000, i, pkt, sizeof(pkt))) > 0;
	     i++)
		zt_stack_input(h->s, pkt, n, h->now);
	CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
	{
		struct zt_packet pk;

		out_pkt(h, 0, &pk);
		CU_ASSERT_EQUAL(pk.l4.icmp.code, ZT_ICMP4_CODE_PROTO_UNREACH);
		CU_ASSERT_FATAL(pk.payload.len >= ZT_IP4_MIN_HDR + 64);
		CU_ASSERT(pk.payload.data[9] == 47);
		CU_ASSERT(memcmp(pk.payload.data + ZT_IP4_MIN_HDR, l4, 64) == 0);
		q_clear(&h->to_tun);
	}
	/* SCTP over IPv6, straight and after a destination-options header */
	n = zt_test_wrap_ip(&c6, &s6, 132, l4, 24, pkt);
	zt_stack_input(h->s, pkt, n, h->now);
	check_refusal_answer(h, &s6, &c6, ZT_ICMP_PARAM_PROBLEM, 1, 6, pkt, n);
	memset(l4, 0, 8);
	l4[0] = 132; /* dst-opts: next header, length 0, six Pad1 */
	n = zt_test_wrap_ip(&c6, &s6, ZT_IPPROTO_DSTOPTS, l4, 24, pkt);
	zt_stack_input(h->s, pkt, n, h->now);
	check_refusal_answer(h, &s6, &c6, ZT_ICMP_PARAM_PROBLEM, 1, 40, pkt, n);
	/* an option to be reported (10xxxxxx), one to be dropped (01xxxxxx) */
	l4[2] = 0x85;
	l4[3] = 4;
	l4[0] = ZT_IPPROTO_UDP;
	n = zt_test_wrap_ip(&c6, &s6, ZT_IPPROTO_DSTOPTS, l4, 24, pkt);
	zt_stack_input(h->s, pkt, n, h->now);
	check_refusal_answer(h, &s6, &c6, ZT_ICMP_PARAM_PROBLEM, 2, 42, pkt, n);
	l4[2] = 0x45;
	n = zt_test_wrap_ip(&c6, &s6, ZT_IPPROTO_DSTOPTS, l4, 24, pkt);
	zt_stack_input(h->s, pkt, n, h->now);
	CU_ASSERT_EQUAL(h->to_tun.n, 0);
	/* a routing header with a segment left: code 0 at its type */
	memset(l4, 0, 8);
	l4[0] = ZT_IPPROTO_UDP;
	l4[3] = 1;
	n = zt_test_wrap_ip(&c6, &s6, ZT_IPPROTO_ROUTING, l4, 24, pkt);
	zt_stack_input(h->s, pkt, n, h->now);
	check_refusal_answer(h, &s6, &c6, ZT_ICMP_PARAM_PROBLEM, 0, 42, pkt, n);
	/* a later fragment ending past 65535: code 0 at its offset */
	memset(l4, 0, 8);
	l4[0] = ZT_IPPROTO_UDP;
	zt_wr16(l4 + 2, 65520);
	n = zt_test_wrap_ip(&c6, &s6, ZT_IPPROTO_FRAGMENT, l4, 24, pkt);
	zt_stack_input(h->s, pkt, n, h->now);
	check_refusal_answer(h, &s6, &c6, ZT_ICMP_PARAM_PROBLEM, 0, 42, pkt, n);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_BAD_FRAGMENT], 1);
	/* a first fragment without the whole header chain (8 bytes of a TCP
	 * header): code 3, pointer 0 (RFC 8200 4.5, RFC 7112) */
	memset(l4, 0, 16);
	l4[0] = ZT_IPPROTO_TCP;
	l4[3] = 1; /* offset 0, more fragments */
	l4[7] = 42;
	n = zt_test_wrap_ip(&c6, &s6, ZT_IPPROTO_FRAGMENT, l4, 16, pkt);
	zt_stack_input(h->s, pkt, n, h->now);
	check_refusal_answer(h, &s6, &c6, ZT_ICMP_PARAM_PROBLEM, 3, 0, pkt, n);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_FRAG_CHAIN_INCOMPLETE], 1);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_BAD_EXT_HDR], 3);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_UNSUPPORTED], 5);

	/* unanswered: no next header; protocols to a group address */
	n = zt_test_wrap_ip(&c6, &s6, ZT_IPPROTO_NONE, l4, 24, pkt);
	zt_stack_input(h->s, pkt, n, h->now);
	n = zt_test_wrap_ip(&c4, &group4, 47, l4, 24, pkt);
	zt_stack_input(h->s, pkt, n, h->now);
	n = zt_test_wrap_ip(&c6, &group6, 132, l4, 24, pkt);
	zt_stack_input(h->s, pkt, n, h->now);
	/* an option to be reported in front of an ICMPv6 error message: no
	 * error about an error (RFC 4443 2.4(e.1)) */
	memset(l4, 0, 24);
	l4[0] = ZT_IPPROTO_ICMPV6;
	l4[2] = 0x85;
	l4[3] = 4;
	l4[8] = ZT_ICMP6_DEST_UNREACH;
	n = zt_test_wrap_ip(&c6, &s6, ZT_IPPROTO_DSTOPTS, l4, 24, pkt);
	zt_stack_input(h->s, pkt, n, h->now);
	/* the same option in a datagram to a group: RFC 4443 2.4(e.3) lets
	 * it be told, but it would be told from the group's address, and
	 * the stack has no unicast one of its own */
	l4[0] = ZT_IPPROTO_UDP;
	n = zt_test_wrap_ip(&c6, &group6, ZT_IPPROTO_DSTOPTS, l4, 24, pkt);
	zt_stack_input(h->s, pkt, n, h->now);
	CU_ASSERT_EQUAL(h->to_tun.n, 0);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_UNSUPPORTED], 8);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_BAD_EXT_HDR], 5);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_errors_sent, 9);
	host_fini(h);
	free(h);
}

/* A datagram the reassembly table drops to make room for another's
 * fragment is a drop of the stack's (frag_no_memory), as a timed-out one
 * is; the newcomer is reassembled. */
static void test_reasm_eviction_counted(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(93, 184, 216, 34);
	static uint8_t dg[2000], pkt[2100];
	struct zt_udp_repr u = { 5000, 53 };
	int n;
	size_t pl;

	zt_stack_config_default(&cfg);
	cfg.reasm.max_datagrams = 1;
	host_init(h, HOST_PENDING, &cfg, &rng);
	memset(dg + 8, 'q', 1500);
	n = zt_udp_emit(&u, &c, &srv, dg + 8, 1500, dg, sizeof(dg));
	CU_ASSERT_FATAL(n > 0);
	pl = zt_test_fragment(&c, &srv, ZT_IPPROTO_UDP, dg, (size_t)n, 1000, 0,
			      pkt, sizeof(pkt));
	zt_stack_input(h->s, pkt, pl, h->now); /* A's first half */
	srv = A4(93, 184, 216, 35); /* another key: zt_test_fragment's ident is fixed */
	n = zt_udp_emit(&u, &c, &srv, dg + 8, 1500, dg, sizeof(dg));
	CU_ASSERT_FATAL(n > 0);
	for (size_t i = 0; (pl = zt_test_fragment(&c, &srv, ZT_IPPROTO_UDP, dg,
						  (size_t)n, 1000, i, pkt,
						  sizeof(pkt))) > 0; i++)
		zt_stack_input(h->s, pkt, pl, h->now); /* B, whole */
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_FRAG_NO_MEMORY], 1);
	CU_ASSERT_EQUAL(h->n_udp, 1);
	host_fini(h);
	free(h);
}

/* An echo request the host would answer (ZT_ECHO_LOCAL) from an address
 * that is no single host, or to a group, is not answered (RFC 1122
 * 3.2.2.6, RFC 4443 4.2) and counted as bad_address, as one it would
 * forward is. */
static void test_icmp_echo_local_martians(void)
{
	static const char *const bad[][2] = { /* source, destination */
		{ "0.0.0.0", "10.0.0.1" }, { "224.0.0.1", "10.0.0.1" },
		{ "10.0.0.2", "224.0.0.1" }, { "10.0.0.2", "255.255.255.255" },
		{ "::", "fd00:5a::1" }, { "fd00:5a::2", "ff02::1" },
	};
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	size_t nbad = sizeof(bad) / sizeof(bad[0]);

	zt_stack_config_default(&cfg);
	host_init(h, HOST_PENDING, &cfg, &rng);
	for (size_t i = 0; i < nbad; i++) {
		struct zt_addr src, dst;
		struct zt_icmp_repr e;
		uint8_t msg[64], pkt[128];
		size_t pl;
		int n;

		CU_ASSERT_FATAL(zt_addr_parse(bad[i][0], &src) == 0);
		CU_ASSERT_FATAL(zt_addr_parse(bad[i][1], &dst) == 0);
		h->local = dst;
		memset(&e, 0, sizeof(e));
		e.type = src.family == ZT_AF_INET ? ZT_ICMP4_ECHO_REQUEST :
						    ZT_ICMP6_ECHO_REQUEST;
		e.echo_ident = 7;
		n = src.family == ZT_AF_INET ?
			    zt_icmp4_emit(&e, (const uint8_t *)"ping", 4, msg,
					  sizeof(msg)) :
			    zt_icmp6_emit(&e, &src, &dst, (const uint8_t *)"ping",
					  4, msg, sizeof(msg));
		CU_ASSERT_FATAL(n > 0);
		pl = zt_test_wrap_ip(&src, &dst, src.family == ZT_AF_INET ?
						  ZT_IPPROTO_ICMP :
						  ZT_IPPROTO_ICMPV6,
				     msg, (size_t)n, pkt);
		zt_stack_input(h->s, pkt, pl, h->now);
	}
	CU_ASSERT_EQUAL(h->to_tun.n, 0);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_echo_replies, 0);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_BAD_ADDRESS], nbad);
	host_fini(h);
	free(h);
}

/* An echo request that came in fragments is answered whole (RFC 1122
 * 3.2.2.6, RFC 4443 4.2: the data returned entirely): the reply, as big
 * as the reassembled request and so over the MTU, goes out in fragments
 * that reassemble into it, never dropped. */
static void test_icmp_echo_local_fragmented(void)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = v6 ? A6(2) : A4(10, 0, 0, 2);
		struct zt_icmp_repr e;
		static uint8_t data[3000], msg[3100], pkt[3200];
		struct zt_reasm r;
		struct zt_reasm_config rc;
		size_t pl, got = 0;
		int n;

		for (size_t i = 0; i < sizeof(data); i++)
			data[i] = (uint8_t)(i * 13 + v6);
		zt_stack_config_default(&cfg);
		cfg.mtu = 1280;
		host_init(h, HOST_PENDING, &cfg, &rng);
		if (v6)
			h->local = A6(1);
		memset(&e, 0, sizeof(e));
		e.type = v6 ? ZT_ICMP6_ECHO_REQUEST : ZT_ICMP4_ECHO_REQUEST;
		e.echo_ident = 0x4242;
		e.echo_seq = 3;
		n = v6 ? zt_icmp6_emit(&e, &c, &h->local, data, sizeof(data),
				       msg, sizeof(msg)) :
			 zt_icmp4_emit(&e, data, sizeof(data), msg, sizeof(msg));
		CU_ASSERT_FATAL(n > 0);
		for (size_t i = 0;
		     (pl = zt_test_fragment(&c, &h->local, v6 ? ZT_IPPROTO_ICMPV6 :
							 ZT_IPPROTO_ICMP,
					    msg, (size_t)n, 1000, i, pkt,
					    sizeof(pkt))) > 0; i++)
			zt_stack_input(h->s, pkt, pl, h->now);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_echo_replies, 1);
		CU_ASSERT_FATAL(h->to_tun.n >= 3);
		memset(&rc, 0, sizeof(rc));
		CU_ASSERT_FATAL(zt_reasm_init(&r, &rc) == 0);
		for (unsigned i = 0; i < h->to_tun.n; i++) {
			struct zt_packet pk, whole;
			struct zt_view out;

			CU_ASSERT(h->to_tun.len[i] <= cfg.mtu);
			out_pkt(h, i, &pk);
			CU_ASSERT(pk.is_fragment);
			CU_ASSERT_EQUAL(zt_reasm_input(&r, &pk, zt_view_make(h->to_tun.p[i],
					h->to_tun.len[i]), h->now, &out), ZT_DROP_NONE);
			if (!out.data)
				continue;
			/* checksums verified (flags 0): the reply's covers it all */
			CU_ASSERT_EQUAL_FATAL(zt_packet_parse(out, 0,
							      &whole), ZT_DROP_NONE);
			CU_ASSERT(zt_addr_eq(&whole.src, &h->local));
			CU_ASSERT(zt_addr_eq(&whole.dst, &c));
			CU_ASSERT_EQUAL(whole.l4.icmp.kind, ZT_ICMP_ECHO_REPLY);
			CU_ASSERT_EQUAL(whole.l4.icmp.echo_ident, 0x4242);
			CU_ASSERT_EQUAL(whole.l4.icmp.echo_seq, 3);
			got = whole.payload.len;
			CU_ASSERT(got == sizeof(data) &&
				  memcmp(whole.payload.data, data, got) == 0);
		}
		CU_ASSERT_EQUAL(got, sizeof(data));
		zt_reasm_destroy(&r);
		host_fini(h);
		free(h);
	}
}

/* Fragment an IP packet's payload at @chunk bytes (IPv4 or IPv6); send
 * the first fragment when @first, the others when @rest. */
static void send_udp_fragments(struct host *h, const struct zt_addr *src,
			       const struct zt_addr *dst, const uint8_t *data,
			       size_t len, size_t chunk, bool first, bool rest)
{
	static uint8_t dg[70000], pkt[70000];
	struct zt_udp_repr u = { 5353, 53 };
	int n = zt_udp_emit(&u, src, dst, data, len, dg, sizeof(dg));
	size_t pl;

	CU_ASSERT_FATAL(n > 0);
	for (size_t i = 0; (pl = zt_test_fragment(src, dst, ZT_IPPROTO_UDP, dg,
						   (size_t)n, chunk, i, pkt,
						   sizeof(pkt))) > 0; i++)
		if (i == 0 ? first : rest)
			zt_stack_input(h->s, pkt, pl, h->now);
}

static void send_fragmented_udp(struct host *h, const struct zt_addr *src,
				const struct zt_addr *dst, const uint8_t *data,
				size_t len, size_t chunk)
{
	send_udp_fragments(h, src, dst, data, len, chunk, true, true);
}

/* A datagram whose fragments never all come is given up after the
 * reassembly timeout (30 s IPv4, 60 s IPv6, from its first fragment to
 * arrive). When its first fragment came, the sender hears of it: ICMP
 * Time Exceeded, fragment reassembly time exceeded (RFC 792; RFC 8200
 * 4.5), from the address it sent to, quoting that fragment; else nothing
 * is sent (there are no ports to quote). */
static void test_reasm_timeout_icmp(void)
{
	for (int v6 = 0; v6 < 2; v6++) {
		for (int first = 0; first < 2; first++) {
			struct zt_stack_config cfg;
			struct zt_rng rng;
			struct host *h = malloc(sizeof(*h));
			struct zt_addr c = v6 ? A6(2) : A4(10, 0, 0, 2);
			struct zt_addr srv = v6 ? A6(53) : A4(9, 9, 9, 9);
			uint64_t tmo = v6 ? ZT_REASM_DEFAULT_TIMEOUT_IP6 :
					    ZT_REASM_DEFAULT_TIMEOUT_IP4;
			static uint8_t data[3000];
			uint64_t t0;

			zt_stack_config_default(&cfg);
			host_init(h, HOST_PENDING, &cfg, &rng);
			t0 = h->now;
			send_udp_fragments(h, &c, &srv, data, sizeof(data), 1000,
					   first, !first);
			CU_ASSERT_EQUAL(h->n_udp, 0);
			CU_ASSERT_EQUAL(zt_stack_deadline(h->s), t0 + tmo);
			h->now = t0 + tmo - 1;
			zt_stack_poll(h->s, h->now);
			CU_ASSERT_EQUAL(h->to_tun.n, 0);
			h->now = t0 + tmo;
			zt_stack_poll(h->s, h->now);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_FRAG_TIMEOUT], 1);
			CU_ASSERT_EQUAL(zt_stack_deadline(h->s), ZT_TIME_NEVER);
			if (first) {
				struct zt_packet pk;
				struct zt_icmp_quote q;

				CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
				out_pkt(h, 0, &pk);
				CU_ASSERT(zt_addr_eq(&pk.src, &srv) && zt_addr_eq(&pk.dst, &c));
				CU_ASSERT_EQUAL(pk.l4.icmp.kind, ZT_ICMP_TIME_EXCEEDED);
				CU_ASSERT_EQUAL(pk.l4.icmp.code, 1);
				CU_ASSERT_EQUAL_FATAL(zt_icmp_parse_quote(pk.payload, &q),
						      ZT_DROP_NONE);
				CU_ASSERT(zt_addr_eq(&q.src, &c) && zt_addr_eq(&q.dst, &srv));
				CU_ASSERT_EQUAL(q.proto, ZT_IPPROTO_UDP);
				CU_ASSERT(q.has_ports && q.src_port == 5353 && q.dst_port == 53);
				CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_errors_sent, 1);
			} else {
				CU_ASSERT_EQUAL(h->to_tun.n, 0);
				CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_errors_sent, 0);
			}
			host_fini(h);
			free(h);
		}
	}
}

static void test_udp_fragments_both_ways(void)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = v6 ? A6(2) : A4(10, 0, 0, 2);
		struct zt_addr srv = v6 ? A6(53) : A4(9, 9, 9, 9);
		static uint8_t data[6000];
		struct zt_reasm r;
		struct zt_reasm_config rc;
		size_t got = 0;

		for (size_t i = 0; i < sizeof(data); i++)
			data[i] = (uint8_t)(i * 7 + v6);
		zt_stack_config_default(&cfg);
		cfg.mtu = 1280;
		host_init(h, HOST_PENDING, &cfg, &rng);
		send_fragmented_udp(h, &c, &srv, data, 3000, 1000);
		CU_ASSERT_EQUAL_FATAL(h->n_udp, 1);
		CU_ASSERT_EQUAL(h->udp_last_len, 3000);
		CU_ASSERT(memcmp(h->udp_last, data, 3000) == 0);
		CU_ASSERT_EQUAL(h->udp_key.server_port, 53);
		/* The reply is bigger than the MTU: fragments, each <= MTU. */
		CU_ASSERT_EQUAL(zt_stack_udp_send(h->s, &h->udp_key, data, sizeof(data), h->now), 0);
		CU_ASSERT(h->to_tun.n >= 5);
		memset(&rc, 0, sizeof(rc));
		CU_ASSERT_FATAL(zt_reasm_init(&r, &rc) == 0);
		for (unsigned i = 0; i < h->to_tun.n; i++) {
			struct zt_packet pk, whole;
			struct zt_view out;

			CU_ASSERT(h->to_tun.len[i] <= cfg.mtu);
			out_pkt(h, i, &pk);
			CU_ASSERT(pk.is_fragment);
			CU_ASSERT_EQUAL(zt_reasm_input(&r, &pk, zt_view_make(h->to_tun.p[i],
					h->to_tun.len[i]), h->now, &out), ZT_DROP_NONE);
			if (out.data) {
				CU_ASSERT_EQUAL_FATAL(zt_packet_parse(out, 0, &whole), ZT_DROP_NONE);
				CU_ASSERT(zt_addr_eq(&whole.src, &srv) && zt_addr_eq(&whole.dst, &c));
				CU_ASSERT_EQUAL(whole.l4.udp.dst_port, 5353);
				got = whole.payload.len;
				CU_ASSERT(memcmp(whole.payload.data, data, got) == 0);
			}
		}
		CU_ASSERT_EQUAL(got, sizeof(data));
		zt_reasm_destroy(&r);
		host_fini(h);
		free(h);
	}
}

static void send_udp(struct host *h, const struct zt_addr *src, const struct zt_addr *dst,
		     uint16_t sport, uint16_t dport, const void *data, size_t len)
{
	static uint8_t dg[70000], pkt[70000];
	struct zt_udp_repr u = { sport, dport };
	int n = zt_udp_emit(&u, src, dst, data, len, dg, sizeof(dg));
	size_t pl;

	CU_ASSERT_FATAL(n > 0);
	pl = zt_test_wrap_ip(src, dst, ZT_IPPROTO_UDP, dg, (size_t)n, pkt);
	zt_stack_input(h->s, pkt, pl, h->now);
}

/* Each datagram hands the host its own TTL / hop limit, traffic class
 * (DSCP and ECN) and whether it may be fragmented on its way, which a
 * direct flow passes on: IPv4 by its DF; IPv6, which no router fragments,
 * only when its source fragmented it itself (it came in fragments). */
static void test_udp_ip_header_to_host(void)
{
	static uint8_t dg[100], pkt[200], big[1400];
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c6 = A6(2), s6 = A6(9);
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(9, 9, 9, 9);
	struct zt_udp_repr u = { 5000, 53 };
	int n;

	zt_stack_config_default(&cfg);
	host_init(h, HOST_PENDING, &cfg, &rng);
	for (int v6 = 0; v6 < 2; v6++) {
		const struct zt_addr *src = v6 ? &c6 : &c, *dst = v6 ? &s6 : &srv;

		for (int i = 0; i < 2; i++) {
			const struct zt_fwd_hdr sent = {
				i ? 64 : 7, i ? 0 : 0x2e, !i,
			};

			n = zt_udp_emit(&u, src, dst, (const uint8_t *)"q", 1, dg, sizeof(dg));
			CU_ASSERT_FATAL(n > 0);
			zt_stack_input(h->s, pkt,
				       zt_test_wrap_ip_hdr(src, dst, ZT_IPPROTO_UDP, dg,
							   (size_t)n, &sent, pkt),
				       h->now);
			CU_ASSERT_EQUAL(h->udp_hdr.ttl, sent.ttl);
			CU_ASSERT_EQUAL(h->udp_hdr.tclass, sent.tclass); /* AF11, ECT(0) */
			CU_ASSERT_EQUAL(h->udp_hdr.dont_frag, sent.dont_frag || v6);
		}
		/* in fragments: DF clear (IPv4 fragments have none) */
		send_fragmented_udp(h, src, dst, big, sizeof(big), 1000);
		CU_ASSERT_EQUAL(h->udp_hdr.dont_frag, false);
	}
	CU_ASSERT_EQUAL(h->n_udp, 6);
	host_fini(h);
	free(h);
}

/* The key of the UDP flow @c:@cport -> @srv:@sport. */
static struct zt_flow_key udp_key(const struct zt_addr *c, uint16_t cport,
				  const struct zt_addr *srv, uint16_t sport)
{
	struct zt_flow_key k;

	zt_flow_key_set(&k, c->family, ZT_IPPROTO_UDP, c, cport, srv, sport);
	return k;
}

/*
 * A full UDP table: a new flow takes the place of the flow closest to its
 * timeout if that one has been idle udp_evict_idle (10 s) or more - a
 * query answered 20 s ago goes, not a stream idle longer whose timeout is
 * further off; a flow idle 1 s is kept and the newcomer dropped; with
 * udp_evict_idle 0 nothing is evicted.
 */
static void test_udp_evict(void)
{
	for (int off = 0; off < 2; off++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = A4(10, 0, 0, 2), srv = A4(9, 9, 9, 9);
		struct zt_flow_key call = udp_key(&c, 5000, &srv, 4000);
		struct zt_flow_key dns = udp_key(&c, 5001, &srv, 53);
		uint64_t t0;

		zt_stack_config_default(&cfg);
		cfg.max_udp_flows = 2;
		if (off)
			cfg.udp_evict_idle = 0;
		host_init(h, HOST_PENDING, &cfg, &rng);
		t0 = h->now;
		send_udp(h, &c, &srv, 5000, 4000, "hi", 2);
		h->now = t0 + 3 * ZT_SEC; /* answered 3 s later: a stream */
		CU_ASSERT_EQUAL(zt_stack_udp_send(h->s, &call, "yo", 2, h->now), 0);
		h->now = t0 + 40 * ZT_SEC;
		send_udp(h, &c, &srv, 5001, 53, "q", 1);
		CU_ASSERT_EQUAL(zt_stack_udp_send(h->s, &dns, "a", 1, h->now), 0);
		h->now = t0 + 60 * ZT_SEC;
		send_udp(h, &c, &srv, 5002, 53, "q2", 2);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_evicted, off ? 0 : 1);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_refused_full, off ? 1 : 0);
		CU_ASSERT_EQUAL(h->n_udp_closed, off ? 0 : 1);
		CU_ASSERT(zt_stack_udp_lookup(h->s, &call) != NULL);
		CU_ASSERT_EQUAL(zt_stack_udp_lookup(h->s, &dns) == NULL, !off);
		h->now += ZT_SEC;
		send_udp(h, &c, &srv, 5003, 53, "q3", 2);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_evicted, off ? 0 : 1);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_refused_full, off ? 2 : 1);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_flows_active, 2);
		host_fini(h);
		free(h);
	}
}

/* The one packet @h sent to the TUN is an ICMP unreachable with @code;
 * the queue is emptied. */
static void sent_unreach(struct host *h, uint8_t code)
{
	struct zt_packet pk;

	CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
	out_pkt(h, 0, &pk);
	CU_ASSERT_EQUAL(pk.proto, ZT_IPPROTO_ICMP);
	CU_ASSERT_EQUAL(pk.l4.icmp.kind, ZT_ICMP_DEST_UNREACH);
	CU_ASSERT_EQUAL(pk.l4.icmp.code, code);
	q_clear(&h->to_tun);
}

/*
 * The same for UDP (ops->udp_admit): with the table full and a flow idle
 * udp_evict_idle, a datagram the host would refuse at once is answered
 * as udp_input would have it (port unreachable, host unreachable, or
 * nothing), opens no flow and closes none; one admitted takes the idle
 * flow's place.
 */
static void test_udp_admit_before_evict(void)
{
	struct host *h = malloc(sizeof(*h));
	const struct zt_stack_stats *st;
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(9, 9, 9, 9);
	struct zt_flow_key idle = udp_key(&c, 5000, &srv, 53);
	struct zt_flow_key next = udp_key(&c, 5003, &srv, 53);

	zt_stack_config_default(&cfg);
	cfg.max_udp_flows = 1;
	host_init_ops(h, HOST_PENDING, &cfg, &rng, &host_ops_admit);
	st = zt_stack_stats(h->s);
	h->udp_admit = ZT_UDP_ADMIT_REFUSE;
	send_udp(h, &c, &srv, 5000, 53, "q", 1);
	CU_ASSERT_EQUAL(h->n_udp_admit, 0); /* room: not asked */
	/* idle 5 s: nothing to close, nothing asked */
	h->now += 5 * ZT_SEC;
	send_udp(h, &c, &srv, 5001, 9999, "no", 2);
	CU_ASSERT_EQUAL(h->n_udp_admit, 0);
	CU_ASSERT_EQUAL(st->udp_refused_full, 1);
	CU_ASSERT_EQUAL(h->to_tun.n, 0);
	/* idle 15 s: refused, port unreachable, the flow stays */
	h->now += 10 * ZT_SEC;
	send_udp(h, &c, &srv, 5001, 9999, "no", 2);
	CU_ASSERT_EQUAL(h->n_udp_admit, 1);
	sent_unreach(h, ZT_ICMP4_CODE_PORT_UNREACH);
	/* ... or dropped: nothing sent */
	h->udp_admit = ZT_UDP_ADMIT_DROP;
	send_udp(h, &c, &srv, 5002, 9998, "no", 2);
	CU_ASSERT_EQUAL(h->n_udp_admit, 2);
	CU_ASSERT_EQUAL(h->to_tun.n, 0);
	/* ... or refused as unreachable (a proxy down): host unreachable */
	h->udp_admit = ZT_UDP_ADMIT_UNREACH;
	send_udp(h, &c, &srv, 5004, 9997, "no", 2);
	CU_ASSERT_EQUAL(h->n_udp_admit, 3);
	sent_unreach(h, ZT_ICMP4_CODE_HOST_UNREACH);
	/* none reached udp_input, opened a flow or closed one */
	CU_ASSERT(zt_stack_udp_lookup(h->s, &idle) != NULL);
	CU_ASSERT(h->n_udp == 1 && h->n_udp_closed == 0);
	CU_ASSERT(st->udp_flows_opened == 1 && st->udp_flows_active == 1 &&
		  st->udp_evicted == 0);
	CU_ASSERT_EQUAL(st->udp_datagrams_in, 4);
	/* admitted: the idle flow gives way to it */
	h->udp_admit = ZT_UDP_ADMIT;
	send_udp(h, &c, &srv, 5003, 53, "q2", 2);
	CU_ASSERT(zt_stack_udp_lookup(h->s, &idle) == NULL);
	CU_ASSERT(zt_stack_udp_lookup(h->s, &next) != NULL);
	CU_ASSERT(h->n_udp_admit == 4 && h->n_udp == 2 &&
		  h->n_udp_closed == 1);
	CU_ASSERT_EQUAL(st->udp_evicted, 1);
	host_fini(h);
	free(h);
}

/*
 * The host out of descriptors while it handles a new flow's datagram
 * (its socket's open failed, EMFILE): zt_stack_evict_idle() closes the
 * UDP flow closest to its timeout other than that one. The new flow,
 * 30 s from its timeout, is the heap's minimum ahead of a stream quiet
 * 37 s (120 s from its latest datagram): the stream goes (the new flow,
 * passed by, stopped the search and nothing went). Alone, the new flow
 * is never closed.
 */
static void test_udp_evict_past_current(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(9, 9, 9, 9);
	struct zt_flow_key call = udp_key(&c, 5000, &srv, 4000);
	struct zt_flow_key q = udp_key(&c, 5001, &srv, 53);
	uint64_t t0;

	zt_stack_config_default(&cfg);
	cfg.tcp_evict_idle = 0;
	host_init(h, HOST_PENDING, &cfg, &rng);
	h->udp_evicts = true;
	t0 = h->now;
	send_udp(h, &c, &srv, 5000, 4000, "hi", 2); /* alone: stays */
	CU_ASSERT_EQUAL(h->n_udp_evicted, 0);
	h->now = t0 + 3 * ZT_SEC; /* answered 3 s later: a stream */
	CU_ASSERT_EQUAL(zt_stack_udp_send(h->s, &call, "yo", 2, h->now), 0);
	h->now = t0 + 40 * ZT_SEC;
	send_udp(h, &c, &srv, 5001, 53, "q", 1);
	CU_ASSERT_EQUAL(h->n_udp_evicted, 1);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_evicted, 1);
	CU_ASSERT(zt_stack_udp_lookup(h->s, &call) == NULL);
	CU_ASSERT(zt_stack_udp_lookup(h->s, &q) != NULL);
	CU_ASSERT_EQUAL(zt_stack_check(h->s), 0);
	host_fini(h);
	free(h);
}

static void test_udp_flows_life(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(9, 9, 9, 9);
	struct zt_flow_key key;
	uint64_t t0;

	zt_stack_config_default(&cfg);
	cfg.max_udp_flows = 4;
	host_init(h, HOST_PENDING, &cfg, &rng);
	t0 = h->now;
	for (uint16_t p = 0; p < 6; p++)
		send_udp(h, &c, &srv, (uint16_t)(5000 + p), 53, "q", 1);
	send_udp(h, &c, &srv, 5000, 53, "again", 5);
	CU_ASSERT_EQUAL(h->n_udp, 5);      /* 4 flows + 1 repeat */
	CU_ASSERT_EQUAL(h->n_udp_new, 4);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_refused_full, 2);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_flows_active, 4);
	/* A reply keeps flow 5000 alive (and, 20 s after it began, makes it
	 * a stream: 120 s, test_udp_stream_timeout); the others expire after
	 * 30 s. */
	key = udp_key(&c, 5000, &srv, 53);
	h->now = t0 + 20 * ZT_SEC;
	CU_ASSERT_EQUAL(zt_stack_udp_send(h->s, &key, "a", 1, h->now), 0);
	CU_ASSERT_EQUAL(zt_stack_udp_lookup(h->s, &key)->datagrams_out, 1);
	CU_ASSERT_EQUAL(zt_stack_deadline(h->s), t0 + 30 * ZT_SEC);
	zt_stack_poll(h->s, t0 + 30 * ZT_SEC);
	CU_ASSERT_EQUAL(h->n_udp_closed, 3);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_flows_active, 1);
	zt_stack_poll(h->s, t0 + 139 * ZT_SEC);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_flows_active, 1);
	zt_stack_poll(h->s, t0 + 140 * ZT_SEC);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_flows_active, 0);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_flows_expired, 4);
	CU_ASSERT_EQUAL(zt_stack_deadline(h->s), ZT_TIME_NEVER);
	/* Slots came back. */
	send_udp(h, &c, &srv, 6000, 53, "q", 1);
	CU_ASSERT_EQUAL(h->n_udp_new, 5);
	/* The client answers our reply with port unreachable: the host hears. */
	key.client_port = 6000;
	q_clear(&h->to_tun);
	CU_ASSERT_EQUAL(zt_stack_udp_send(h->s, &key, "r", 1, h->now), 0);
	{
		static uint8_t err[2000];
		struct zt_packet off;
		int n;

		out_pkt(h, 0, &off);
		n = zt_icmp_error(&off, zt_view_make(h->to_tun.p[0], h->to_tun.len[0]),
				  ZT_ICMP_DEST_UNREACH, ZT_ICMP4_CODE_PORT_UNREACH, 0, &c,
				  1500, err, sizeof(err));
		CU_ASSERT_FATAL(n > 0);
		zt_stack_input(h->s, err, (size_t)n, h->now);
	}
	CU_ASSERT_EQUAL(h->n_udp_error, 1);
	CU_ASSERT_EQUAL(h->udp_error_kind, ZT_ICMP_DEST_UNREACH);
	CU_ASSERT_EQUAL(h->udp_error_code, ZT_ICMP4_CODE_PORT_UNREACH);
	host_fini(h);
	free(h);
}

/*
 * A UDP flow that carried datagrams both ways and is still active two
 * seconds after it began is a stream (a call, a game, a tunnel; the rule
 * of Linux's conntrack): it idles out after udp_stream_timeout (120 s,
 * RFC 4787 REQ-5's two minutes at least), not udp_idle_timeout (30 s), so
 * a peer that speaks after a minute of silence still gets through. A
 * query and its prompt answer (DNS) and datagrams one way only stay
 * short-lived. A stream timeout below the idle one does not shorten a
 * stream's life.
 */
static void test_udp_stream_timeout(void)
{
	for (int longer_idle = 0; longer_idle < 2; longer_idle++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = A4(10, 0, 0, 2), srv = A4(9, 9, 9, 9);
		struct zt_flow_key dns = udp_key(&c, 5000, &srv, 53);
		struct zt_flow_key call = udp_key(&c, 5001, &srv, 4000);
		struct zt_flow_key oneway = udp_key(&c, 5002, &srv, 4000);
		uint64_t t0, idle, t3;

		zt_stack_config_default(&cfg);
		CU_ASSERT_EQUAL(cfg.udp_idle_timeout, 30 * ZT_SEC);
		CU_ASSERT_EQUAL(cfg.udp_stream_timeout, 120 * ZT_SEC);
		if (longer_idle)
			cfg.udp_idle_timeout = 200 * ZT_SEC;
		idle = cfg.udp_idle_timeout;
		host_init(h, HOST_PENDING, &cfg, &rng);
		t0 = h->now;
		send_udp(h, &c, &srv, 5000, 53, "q", 1);
		send_udp(h, &c, &srv, 5001, 4000, "hi", 2);
		send_udp(h, &c, &srv, 5002, 4000, "x", 1);
		h->now = t0 + 50 * ZT_MS;
		CU_ASSERT_EQUAL(zt_stack_udp_send(h->s, &dns, "a", 1, h->now), 0);
		CU_ASSERT_EQUAL(zt_stack_udp_send(h->s, &call, "yo", 2, h->now), 0);
		/* both ways, but within two seconds: not a stream yet */
		CU_ASSERT_EQUAL(zt_stack_udp_lookup(h->s, &call)->idle_deadline,
				h->now + idle);
		t3 = h->now = t0 + 3 * ZT_SEC;
		send_udp(h, &c, &srv, 5001, 4000, "more", 4);
		send_udp(h, &c, &srv, 5002, 4000, "y", 1);
		CU_ASSERT_EQUAL(zt_stack_udp_lookup(h->s, &dns)->idle_deadline,
				t0 + 50 * ZT_MS + idle);
		CU_ASSERT_EQUAL(zt_stack_udp_lookup(h->s, &oneway)->idle_deadline,
				t3 + idle);
		CU_ASSERT_EQUAL(zt_stack_udp_lookup(h->s, &call)->idle_deadline,
				t3 + (longer_idle ? idle : 120 * ZT_SEC));
		zt_stack_poll(h->s, t3 + idle);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_flows_active,
				longer_idle ? 0 : 1);
		CU_ASSERT_PTR_EQUAL(zt_stack_udp_lookup(h->s, &dns), NULL);
		CU_ASSERT_PTR_EQUAL(zt_stack_udp_lookup(h->s, &oneway), NULL);
		zt_stack_poll(h->s, t3 + 120 * ZT_SEC);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_flows_active, 0);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_flows_expired, 3);
		host_fini(h);
		free(h);
	}
}

/*
 * An upstream that fails after the client's datagram was taken (a SOCKS5
 * proxy refusing UDP ASSOCIATE): the ICMP error quotes the datagram as
 * rebuilt from the flow, so the client's stack finds the socket by its
 * addresses and ports, and comes from the address the client wanted.
 */
static void test_udp_unreach_quotes_the_flow(void)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = v6 ? A6(2) : A4(10, 0, 0, 2);
		struct zt_addr srv = v6 ? A6(99) : A4(8, 8, 8, 8);
		uint8_t code = v6 ? ZT_ICMP6_CODE_PORT_UNREACH : ZT_ICMP4_CODE_PORT_UNREACH;
		static const char data[200] = "a query";
		struct zt_icmp_quote q;
		struct zt_udp_flow *f;
		struct zt_packet pk;

		zt_stack_config_default(&cfg);
		host_init(h, HOST_PENDING, &cfg, &rng);
		send_udp(h, &c, &srv, 5300, 53, data, sizeof(data));
		f = zt_stack_udp_lookup(h->s, &h->udp_key);
		CU_ASSERT_FATAL(f != NULL);
		q_clear(&h->to_tun);
		h->now += ZT_SEC;
		CU_ASSERT_EQUAL(zt_stack_udp_unreach(h->s, f, code, data, sizeof(data),
						     h->now), 0);
		CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
		out_pkt(h, 0, &pk);
		CU_ASSERT_EQUAL(pk.l4.icmp.kind, ZT_ICMP_DEST_UNREACH);
		CU_ASSERT_EQUAL(pk.l4.icmp.code, code);
		CU_ASSERT(zt_addr_eq(&pk.src, &srv) && zt_addr_eq(&pk.dst, &c));
		CU_ASSERT_EQUAL_FATAL(zt_icmp_parse_quote(pk.payload, &q), ZT_DROP_NONE);
		CU_ASSERT_EQUAL(q.proto, ZT_IPPROTO_UDP);
		CU_ASSERT(zt_addr_eq(&q.src, &c) && zt_addr_eq(&q.dst, &srv));
		CU_ASSERT(q.has_ports && q.src_port == 5300 && q.dst_port == 53);
		/* the first bytes of the datagram follow its header */
		{
			bool found = false;

			for (size_t i = 0; i + 7 <= pk.payload.len && !found; i++)
				found = !memcmp(pk.payload.data + i, "a query", 7);
			CU_ASSERT(found);
		}
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_errors_sent, 1);
		/* without its bytes (NULL), the header alone is quoted */
		q_clear(&h->to_tun);
		CU_ASSERT_EQUAL(zt_stack_udp_unreach(h->s, f, code, NULL, 0, h->now), 0);
		CU_ASSERT_EQUAL(h->to_tun.n, 1);
		host_fini(h);
		free(h);
	}
}

/* --- a real client tcb on the TUN side -------------------------------- */

struct client {
	struct zt_tcb tcb;
	struct zt_tcp_config cfg;
	struct zt_addr addr, server;
	struct pktq to_stack;
};

static void client_output(void *ctx, struct zt_tcb *tcb, const struct zt_tcp_repr *r,
			  const uint8_t *d1, size_t l1, const uint8_t *d2, size_t l2)
{
	struct client *c = ctx;
	static uint8_t pkt[70000];
	size_t pl;

	(void)tcb;
	pl = zt_test_tcp_packet(&c->addr, &c->server, r, d1, l1, d2, l2, pkt,
				sizeof(pkt));
	q_push(&c->to_stack, pkt, pl);
}

static const struct zt_tcp_ops client_ops = { .output = client_output };

/* Exchange packets (1 ms one way) and run timers until @until. */
static void pump(struct host *h, struct client *c, uint64_t until)
{
	while (h->now < until) {
		struct pktq in = c->to_stack, out;

		memset(&c->to_stack, 0, sizeof(c->to_stack));
		for (unsigned i = 0; i < in.n; i++)
			zt_stack_input(h->s, in.p[i], in.len[i], h->now);
		q_clear(&in);
		out = h->to_tun;
		memset(&h->to_tun, 0, sizeof(h->to_tun));
		for (unsigned i = 0; i < out.n; i++) {
			struct zt_packet pk;

			CU_ASSERT(out.len[i] <= 1500);
			if (zt_packet_parse(zt_view_make(out.p[i], out.len[i]), 0, &pk) ==
			    ZT_DROP_NONE && pk.proto == ZT_IPPROTO_TCP)
				zt_tcb_input(&c->tcb, &pk.l4.tcp, pk.payload, h->now);
		}
		q_clear(&out);
		h->now += ZT_MS;
		zt_stack_poll(h->s, h->now);
		if (zt_tcb_deadline(&c->tcb) <= h->now)
			zt_tcb_poll(&c->tcb, h->now);
		(void)zt_tcb_events(&c->tcb);
	}
}

/* Free client @c and host @h (both malloc'd by the test). */
static void free_host_client(struct host *h, struct client *c)
{
	zt_tcb_destroy(&c->tcb);
	q_clear(&c->to_stack);
	free(c);
	host_fini(h);
	free(h);
}

/*
 * A client that reuses its port while our side of the old connection is
 * still in TIME_WAIT (the upstream closed first, so we closed first): a
 * SYN beyond the old connection's sequence space (RFC 1122 4.2.2.13), or
 * with a newer timestamp (RFC 6191), ends the TIME_WAIT and opens a new
 * flow at once, as Linux does. An older SYN (an old duplicate) does not:
 * it draws the challenge ACK of any synchronized state.
 */
static void test_syn_reopens_time_wait(void)
{
	for (int ts = 0; ts < 2; ts++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct client *c = calloc(1, sizeof(*c));
		struct zt_addr ca = A4(10, 0, 0, 2);
		struct zt_tcp_repr syn;
		struct zt_packet pk;
		uint32_t old_iss = 1000, old_rcv_nxt, old_snd_max;
		struct zt_flow *old;

		zt_stack_config_default(&cfg);
		host_init(h, HOST_ACCEPT_DRAIN, &cfg, &rng);
		c->addr = ca;
		c->server = A4(93, 184, 216, 34);
		zt_tcp_config_default(&c->cfg);
		c->cfg.timestamps = ts;
		CU_ASSERT_FATAL(zt_tcb_init(&c->tcb, &c->cfg, &client_ops, c) == 0);
		zt_tcb_open_active(&c->tcb, 41003, 80, old_iss, h->now);
		pump(h, c, h->now + 5 * ZT_MS);
		CU_ASSERT_EQUAL_FATAL(c->tcb.state, ZT_TCP_ESTABLISHED);
		old = h->last_new;
		CU_ASSERT_EQUAL(zt_tcb_send(&c->tcb, "req", 3, h->now), 3);
		pump(h, c, h->now + 5 * ZT_MS);
		/* the upstream closes first, then the client */
		zt_stack_tcp_shutdown(h->s, old, h->now);
		pump(h, c, h->now + 5 * ZT_MS);
		zt_tcb_shutdown(&c->tcb, h->now);
		pump(h, c, h->now + 5 * ZT_MS);
		CU_ASSERT_EQUAL_FATAL(old->tcb.state, ZT_TCP_TIME_WAIT);
		CU_ASSERT_EQUAL(c->tcb.state, ZT_TCP_CLOSED);
		old_rcv_nxt = old->tcb.rcv_nxt;
		old_snd_max = old->tcb.snd_max;
		CU_ASSERT_EQUAL(old_rcv_nxt, old_iss + 1 + 3 + 1);
		CU_ASSERT_EQUAL(h->n_new, 1);

		/* an old duplicate SYN (no timestamp, sequence number inside
		 * the old space): challenge ACK, TIME_WAIT goes on */
		syn = syn_to(41003, 80, old_iss);
		send_tcp(h, &ca, &c->server, &syn, NULL, 0);
		CU_ASSERT_EQUAL(h->n_new, 1);
		CU_ASSERT_EQUAL(old->tcb.state, ZT_TCP_TIME_WAIT);
		CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
		out_pkt(h, 0, &pk);
		CU_ASSERT_EQUAL(pk.l4.tcp.flags, ZT_TCP_ACK);
		CU_ASSERT_EQUAL(pk.l4.tcp.ack, old_rcv_nxt);
		q_clear(&h->to_tun);

		if (ts) {
			/* beyond the old space, but an older timestamp:
			 * PAWS says old duplicate */
			syn = syn_to(41003, 80, old_rcv_nxt + 70000);
			syn.has_ts = true;
			syn.ts_val = old->tcb.ts_recent - 1;
			send_tcp(h, &ca, &c->server, &syn, NULL, 0);
			CU_ASSERT_EQUAL(h->n_new, 1);
			CU_ASSERT_EQUAL(old->tcb.state, ZT_TCP_TIME_WAIT);
			q_clear(&h->to_tun);
		}

		/* the client's new connection from the same port: without
		 * timestamps its ISN lies beyond the old space; with them it
		 * need not (here it is below it) when its timestamp is newer
		 * (Linux keeps one timestamp offset per address pair) */
		syn = syn_to(41003, 80, ts ? old_iss - 5000 : old_rcv_nxt + 70000);
		if (ts) {
			syn.has_ts = true;
			syn.ts_val = old->tcb.ts_recent + 1000;
		}
		h->now += 100 * ZT_MS;
		send_tcp(h, &ca, &c->server, &syn, NULL, 0);
		CU_ASSERT_EQUAL(h->n_closed, 1); /* the old flow ended first */
		CU_ASSERT_EQUAL(h->n_new, 2);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 1);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_time_wait_reopened, 1);
		CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
		out_pkt(h, 0, &pk);
		CU_ASSERT_EQUAL(pk.l4.tcp.flags, ZT_TCP_SYN | ZT_TCP_ACK);
		CU_ASSERT_EQUAL(pk.l4.tcp.ack, syn.seq + 1);
		/* RFC 1122 4.2.2.13 (1): the new connection's ISN lies above
		 * every sequence number the old one used, past a window of
		 * them (as Linux: its snd_nxt + 65535 + 2), so no old
		 * duplicate of ours fits the new connection's space */
		CU_ASSERT(zt_seq_gt(pk.l4.tcp.seq, old_snd_max + 65535));
		CU_ASSERT(pk.l4.tcp.seq - old_snd_max <= 65537 + 65536);
		free_host_client(h, c);
	}
}

/*
 * A client echoes 300 KiB through the stack over IPv4 and IPv6; then again
 * with TSO on (tso_segs 16) and a host that cuts the segments in software
 * (io/gso.c): the stack sends multi-MSS segments, every packet reaching the
 * client still fits the MTU, and the stream is intact.
 */
static void test_echo_through_stack(void)
{
	for (int run = 0; run < 4; run++) {
		int v6 = run & 1, tso = run >> 1;
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct client *c = calloc(1, sizeof(*c));
		size_t total = 300 * 1024, sent = 0, got = 0;
		uint8_t buf[4096];
		bool same = true;

		zt_stack_config_default(&cfg);
		cfg.tcp.tso_segs = tso ? 16 : 0;
		host_init_ops(h, HOST_ACCEPT_ECHO, &cfg, &rng,
			      tso ? &host_ops_gso : &host_ops);
		c->addr = v6 ? A6(2) : A4(10, 0, 0, 2);
		c->server = v6 ? A6(80) : A4(93, 184, 216, 34);
		zt_tcp_config_default(&c->cfg);
		CU_ASSERT_FATAL(zt_tcb_init(&c->tcb, &c->cfg, &client_ops, c) == 0);
		zt_tcb_open_active(&c->tcb, 41000, 7, 0xfffffff0u, h->now);
		pump(h, c, h->now + 10 * ZT_MS);
		CU_ASSERT_EQUAL_FATAL(c->tcb.state, ZT_TCP_ESTABLISHED);
		CU_ASSERT_EQUAL(c->tcb.snd_mss, v6 ? 1500 - 60 - 12 : 1500 - 40 - 12);
		while (got < total && h->now < 60 * ZT_SEC) {
			while (sent < total) {
				size_t n = total - sent < sizeof(buf) ? total - sent : sizeof(buf);

				for (size_t i = 0; i < n; i++)
					buf[i] = (uint8_t)((sent + i) * 13);
				n = zt_tcb_send(&c->tcb, buf, n, h->now);
				if (!n)
					break;
				sent += n;
			}
			{
				size_t n;

				while ((n = zt_tcb_recv(&c->tcb, buf, sizeof(buf), h->now)) > 0) {
					for (size_t i = 0; i < n; i++)
						if (buf[i] != (uint8_t)((got + i) * 13))
							same = false;
					got += n;
				}
			}
			pump(h, c, h->now + ZT_MS);
		}
		CU_ASSERT_EQUAL(got, total);
		CU_ASSERT(same);
		if (tso) {
			CU_ASSERT(h->n_gso > 0);
			CU_ASSERT(h->gso_max > 1500);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tso_segments_out, h->n_gso);
		} else {
			CU_ASSERT_EQUAL(h->n_gso, 0);
		}
		/* Close: client FIN, host shuts down on PEER_FIN, flow freed. */
		zt_tcb_shutdown(&c->tcb, h->now);
		pump(h, c, h->now + 5 * ZT_SEC);
		CU_ASSERT_EQUAL(h->n_peer_fin, 1);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 0);
		CU_ASSERT_EQUAL(h->n_closed, 1);
		free_host_client(h, c);
	}
}

/* Pure ACKs the stack sent since the queue was cleared; the highest ACK
 * number among them and how many carried SACK blocks. */
static unsigned count_acks(struct host *h, uint32_t *last_ack, unsigned *sacks)
{
	unsigned n = 0;

	*sacks = 0;
	for (unsigned i = 0; i < h->to_tun.n; i++) {
		struct zt_packet pk;

		out_pkt(h, i, &pk);
		if (pk.proto != ZT_IPPROTO_TCP || pk.payload.len ||
		    pk.l4.tcp.flags != ZT_TCP_ACK)
			continue;
		n++;
		*last_ack = pk.l4.tcp.ack;
		if (pk.l4.tcp.sack_count)
			(*sacks)++;
	}
	return n;
}

/* Connect client @c to host @h (no timestamps; @sack; TSO segments of
 * @tso_segs MSS) and have it send @len bytes in one flight: the segments
 * it sent, not yet given to the stack. */
static struct pktq client_flight(struct host *h, struct client *c, bool sack,
				 uint16_t tso_segs, const uint8_t *data, size_t len)
{
	struct pktq in;

	c->addr = A4(10, 0, 0, 2);
	c->server = A4(93, 184, 216, 34);
	zt_tcp_config_default(&c->cfg);
	c->cfg.timestamps = false;
	c->cfg.sack = sack;
	c->cfg.tso_segs = tso_segs;
	CU_ASSERT_FATAL(zt_tcb_init(&c->tcb, &c->cfg, &client_ops, c) == 0);
	zt_tcb_open_active(&c->tcb, 41000, 7, 1000, h->now);
	pump(h, c, h->now + 10 * ZT_MS);
	CU_ASSERT_EQUAL_FATAL(c->tcb.state, ZT_TCP_ESTABLISHED);
	if (c->tcb.cwnd < len)
		c->tcb.cwnd = (uint32_t)len; /* all of it in one flight */
	CU_ASSERT_EQUAL(zt_tcb_send(&c->tcb, data, len, h->now), len);
	in = c->to_stack;
	memset(&c->to_stack, 0, sizeof(c->to_stack));
	q_clear(&h->to_tun);
	return in;
}

/*
 * Between zt_stack_batch_begin() and zt_stack_batch_end() (a host's batch
 * of TUN reads) a flow holds one pure ACK, and later ones replace it while
 * they acknowledge at most four segments more than the last ACK that went
 * out (a TUN without offloads brings MSS-sized segments: each ACK written
 * runs the client's ACK processing in that write); the first past that
 * goes out and says what all would have, and the end sends what is still
 * held: six full segments read in one batch get one ACK instead of three,
 * for everything. ACKs reporting a hole are never held, with SACK blocks
 * or (run 3: a peer without SACK) as plain duplicates: the peer's loss
 * recovery counts them.
 */
static void test_batch_coalesces_acks(void)
{
	for (int run = 0; run < 4; run++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct client *c = calloc(1, sizeof(*c));
		static uint8_t data[6 * 1460];
		struct pktq in;
		uint32_t last_ack = 0;
		unsigned sacks, acks;

		zt_rng_seed(&rng, 77 + (uint64_t)run);
		zt_stack_config_default(&cfg);
		host_init(h, HOST_ACCEPT_SINK, &cfg, &rng);
		memset(data, 5, sizeof(data));
		in = client_flight(h, c, run != 3, 0, data, sizeof(data));
		CU_ASSERT_EQUAL_FATAL(in.n, 6);
		if (run)
			zt_stack_batch_begin(h->s);
		for (unsigned i = 0; i < in.n; i++)
			if (run < 2 || i % 2 == 0) /* runs 2, 3: holes */
				zt_stack_input(h->s, in.p[i], in.len[i], h->now);
		if (run)
			zt_stack_batch_end(h->s, h->now);
		acks = count_acks(h, &last_ack, &sacks);
		switch (run) {
		case 0:
			CU_ASSERT_EQUAL(acks, 3);
			CU_ASSERT_EQUAL(sacks, 0);
			break;
		case 1:
			CU_ASSERT_EQUAL(acks, 1);
			CU_ASSERT_EQUAL(last_ack, c->tcb.snd_nxt);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_acks_coalesced, 2);
			break;
		case 2:
			/* segments 2 and 4 arrive beyond a hole: each is
			 * answered at once with its SACK block */
			CU_ASSERT_EQUAL(sacks, 2);
			CU_ASSERT_EQUAL(acks, 2);
			break;
		case 3:
			/* the same as two duplicate ACKs */
			CU_ASSERT_EQUAL(sacks, 0);
			CU_ASSERT_EQUAL(acks, 2);
			CU_ASSERT_EQUAL(last_ack, c->tcb.snd_una + 1460);
			break;
		}
		q_clear(&in);
		free_host_client(h, c);
	}
}

/*
 * A host that drains each segment as it arrives (ztun-ref's relay sends
 * it upstream at once) frees the ring behind every one, and each drain
 * would announce the wider window. In a batch, a flow that already holds
 * an ACK lets that one carry the window instead (it is built at the next
 * ACK or the batch end, from the tcb as it is then): eight segments of
 * two MSS (each is ACKed at once) read in one batch get three ACKs, one
 * per six MSS (test_batch_coalesces_acks) and the last at the batch's
 * end, for all of them with the whole ring open. Outside a batch each
 * segment gets its ACK and the update behind it.
 */
static void test_batch_window_update_rides_held_ack(void)
{
	unsigned acks_of[2] = { 0, 0 };

	for (int batch = 0; batch < 2; batch++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct client *c = calloc(1, sizeof(*c));
		static uint8_t data[8 * 2 * 1460];
		struct pktq in;
		struct zt_packet last;
		struct zt_flow *f;
		uint32_t last_ack = 0, open;
		unsigned sacks, ws;

		zt_stack_config_default(&cfg);
		host_init(h, HOST_ACCEPT_DRAIN, &cfg, &rng);
		memset(data, 6, sizeof(data));
		/* segments of two MSS: each is ACKed at once */
		in = client_flight(h, c, true, 2, data, sizeof(data));
		CU_ASSERT_EQUAL_FATAL(in.n, 8);
		if (batch)
			zt_stack_batch_begin(h->s);
		for (unsigned i = 0; i < in.n; i++)
			zt_stack_input(h->s, in.p[i], in.len[i], h->now);
		if (batch)
			zt_stack_batch_end(h->s, h->now);
		acks_of[batch] = count_acks(h, &last_ack, &sacks);
		CU_ASSERT_EQUAL(sacks, 0);
		CU_ASSERT_EQUAL(last_ack, c->tcb.snd_nxt);
		CU_ASSERT_FATAL(h->to_tun.n > 0);
		out_pkt(h, h->to_tun.n - 1, &last);
		f = h->last_new;
		CU_ASSERT_EQUAL(zt_tcb_recv_len(&f->tcb), 0);
		/* the last ACK says the drained ring is open again */
		ws = f->tcb.rcv_wscale;
		open = (uint32_t)f->tcb.rx.cap < (65535u << ws) ?
			       (uint32_t)f->tcb.rx.cap : 65535u << ws;
		CU_ASSERT(((uint32_t)last.l4.tcp.window << ws) + (1u << ws) > open);
		q_clear(&in);
		free_host_client(h, c);
	}
	CU_ASSERT_EQUAL(acks_of[0], 16);
	CU_ASSERT_EQUAL(acks_of[1], 3);
	CU_ASSERT(acks_of[0] > acks_of[1]);
}

/*
 * A host with tcp_rx_direct is offered in-order data that would go into
 * an empty receive ring, straight from the packet. Run 0: it takes all of
 * each segment: nothing enters the ring, no READABLE, the window stays
 * whole. Run 1: it takes 500 bytes of each offer, the rest is queued and
 * READABLE (the host drains it at once, so the next is offered too).
 * Run 2: a segment past a hole is not offered, nor the one that fills it.
 * Run 3: a host that leaves the ring alone: after the first offer the
 * ring holds data, and nothing more is offered (the order would break).
 * In every run the host gets the stream exactly, and the last ACK is for
 * all of it.
 */
static void test_rx_direct_skips_the_ring(void)
{
	for (int run = 0; run < 4; run++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct client *c = calloc(1, sizeof(*c));
		static uint8_t data[4 * 1460];
		struct pktq in;
		struct zt_flow *f;
		uint32_t last_ack = 0;
		unsigned sacks;
		const uint8_t *p;
		size_t n;

		zt_stack_config_default(&cfg);
		host_init_ops(h, run == 3 ? HOST_ACCEPT_SINK : HOST_ACCEPT_DRAIN,
			      &cfg, &rng, &host_ops_direct);
		h->direct_take = run == 1 || run == 3 ? 500 : SIZE_MAX;
		for (size_t i = 0; i < sizeof(data); i++)
			data[i] = (uint8_t)(i * 7 + 3);
		in = client_flight(h, c, true, 0, data, sizeof(data));
		CU_ASSERT_EQUAL_FATAL(in.n, 4);
		f = h->last_new;
		h->n_direct = 0;
		h->n_readable = 0;
		for (unsigned i = 0; i < in.n; i++) {
			/* run 2: segment 1 after 2 and 3 */
			unsigned k = run == 2 ? (i == 0 ? 0 : i == 3 ? 1 : i + 1) : i;

			zt_stack_input(h->s, in.p[k], in.len[k], h->now);
			if (run == 0)
				CU_ASSERT_EQUAL(zt_tcb_recv_len(&f->tcb), 0);
		}
		if (run == 3) {
			CU_ASSERT_EQUAL(zt_tcb_recv_len(&f->tcb), sizeof(data) - 500);
			while ((n = zt_stack_tcp_peek(h->s, f, 0, &p)) > 0) {
				memcpy(h->got + h->got_len, p, n);
				h->got_len += n;
				zt_stack_tcp_consume(h->s, f, n, h->now);
			}
		}
		CU_ASSERT_EQUAL(h->got_len, sizeof(data));
		CU_ASSERT(memcmp(h->got, data, sizeof(data)) == 0);
		CU_ASSERT_EQUAL(zt_tcb_recv_len(&f->tcb), 0);
		count_acks(h, &last_ack, &sacks);
		CU_ASSERT_EQUAL(last_ack, c->tcb.snd_nxt);
		switch (run) {
		case 0:
			CU_ASSERT_EQUAL(h->n_direct, 4);
			CU_ASSERT_EQUAL(h->n_readable, 0);
			CU_ASSERT_EQUAL(f->tcb.stats.bytes_direct, sizeof(data));
			break;
		case 1:
			/* the drain empties the ring at each READABLE, so
			 * every segment is offered and 960 bytes queued */
			CU_ASSERT_EQUAL(h->n_direct, 4);
			CU_ASSERT_EQUAL(h->n_readable, 4);
			CU_ASSERT_EQUAL(f->tcb.stats.bytes_direct, 4 * 500);
			break;
		case 2:
			/* segments 2 and 3 wait behind the hole, segment 1
			 * fills it: only segment 0 was offered */
			CU_ASSERT_EQUAL(h->n_direct, 1);
			CU_ASSERT_EQUAL(f->tcb.stats.bytes_direct, 1460);
			CU_ASSERT(sacks > 0);
			break;
		case 3:
			CU_ASSERT_EQUAL(h->n_direct, 1);
			CU_ASSERT_EQUAL(f->tcb.stats.bytes_direct, 500);
			break;
		}
		q_clear(&in);
		free_host_client(h, c);
	}
}


/* What a flow's tcb drops inside a segment it takes (an out-of-order
 * piece past the assembler's ranges) is a drop of the stack's, as every
 * other: drops.tcp_ooo_full counts it, not the flow alone. */
static void test_tcb_drops_counted(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct client *c = calloc(1, sizeof(*c));
	static uint8_t data[24 * 1460];
	struct pktq in;
	unsigned sent = 0;

	zt_stack_config_default(&cfg);
	host_init_ops(h, HOST_ACCEPT_DRAIN, &cfg, &rng, &host_ops_direct);
	memset(data, 'o', sizeof(data));
	in = client_flight(h, c, true, 0, data, sizeof(data));
	CU_ASSERT_EQUAL_FATAL(in.n, 24);
	/* every other segment after a hole: a range each, past the eighth */
	for (unsigned i = 1; i < in.n; i += 2, sent++)
		zt_stack_input(h->s, in.p[i], in.len[i], h->now);
	CU_ASSERT_EQUAL(sent, 12);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_TCP_OOO_FULL],
			sent - ZT_ASM_MAX_RANGES);
	/* the flows' own counters, summed: the open flow's now, and the
	 * same once it has ended (zt_stack_tcp_totals()) */
	for (int ended = 0; ended < 2; ended++) {
		struct zt_tcb_stats tot;

		zt_stack_tcp_totals(h->s, &tot);
		CU_ASSERT_EQUAL(tot.ooo_segs, ZT_ASM_MAX_RANGES);
		CU_ASSERT_EQUAL(tot.drops[ZT_DROP_TCP_OOO_FULL],
				sent - ZT_ASM_MAX_RANGES);
		CU_ASSERT_EQUAL(tot.segs_in, 2 + sent); /* its SYN and ACK too */
		CU_ASSERT_EQUAL(tot.retransmits, 0);
		if (!ended) {
			zt_stack_tcp_abort(h->s, h->last_new, h->now);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 0);
		}
	}
	q_clear(&in);
	free_host_client(h, c);
}


/* Wrap an ICMP error from the client about the stack's @i-th packet. */
static void client_icmp_error(struct host *h, unsigned i, const struct zt_addr *client,
			      enum zt_icmp_kind kind, uint8_t code, uint32_t mtu)
{
	static uint8_t err[2000];
	struct zt_packet off;
	int n;

	out_pkt(h, i, &off);
	n = zt_icmp_error(&off, zt_view_make(h->to_tun.p[i], h->to_tun.len[i]), kind,
			  code, mtu, client, 1500, err, sizeof(err));
	CU_ASSERT_FATAL(n > 0);
	zt_stack_input(h->s, err, (size_t)n, h->now);
}

/* The same for a Packet Too Big claiming any @mtu, those below the least
 * MTU (that zt_icmp_error() refuses to send) too; the quote as long as
 * ICMP allows (RFC 1812 4.3.2.3, RFC 4443 2.4(c)). */
static void client_too_big(struct host *h, unsigned i,
			   const struct zt_addr *client, uint32_t mtu)
{
	static uint8_t msg[1400], pkt[1500];
	bool v4 = client->family == ZT_AF_INET;
	size_t quote = h->to_tun.len[i];
	struct zt_icmp_repr e;
	struct zt_packet off;
	int n;

	out_pkt(h, i, &off);
	if (quote > (v4 ? 548u : 1232u))
		quote = v4 ? 548u : 1232u;
	memset(&e, 0, sizeof(e));
	e.type = v4 ? ZT_ICMP4_DEST_UNREACH : ZT_ICMP6_PACKET_TOO_BIG;
	e.code = v4 ? ZT_ICMP4_CODE_FRAG_NEEDED : 0;
	e.mtu = mtu;
	n = v4 ? zt_icmp4_emit(&e, h->to_tun.p[i], quote, msg, sizeof(msg)) :
		 zt_icmp6_emit(&e, client, &off.src, h->to_tun.p[i], quote, msg,
			       sizeof(msg));
	CU_ASSERT_FATAL(n > 0);
	zt_stack_input(h->s, pkt,
		       zt_test_wrap_ip(client, &off.src,
				       v4 ? ZT_IPPROTO_ICMP : ZT_IPPROTO_ICMPV6,
				       msg, (size_t)n, pkt),
		       h->now);
}

/* An ICMPv4 error quotes an IPv4 datagram (RFC 792): one quoting an
 * IPv6 flow's segment is malformed and ignored. Read as the flow's own,
 * its code 1 (host unreachable: soft, RFC 1122 4.2.3.9) would be taken
 * from the ICMPv6 table (administratively prohibited: hard) and reset a
 * connection still in its handshake; the same code in an ICMPv6 error
 * does. */
static void test_icmp_error_family_mismatch(void)
{
	for (int same = 0; same < 2; same++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = A6(2), srv = A6(80);
		struct zt_tcp_repr syn = syn_to(41003, 80, 1000);

		zt_stack_config_default(&cfg);
		host_init(h, HOST_PENDING, &cfg, &rng);
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		CU_ASSERT_FATAL(h->last_new != NULL);
		zt_stack_tcp_accept(h->s, h->last_new, h->now);
		CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1); /* the SYN-ACK */
		if (same) {
			client_icmp_error(h, 0, &c, ZT_ICMP_DEST_UNREACH, 1, 0);
		} else {
			struct zt_icmp_repr e;
			struct zt_addr r4 = A4(10, 0, 0, 9), c4 = A4(10, 0, 0, 2);
			static uint8_t msg[200], pkt[300];
			size_t quote = h->to_tun.len[0] < 100 ? h->to_tun.len[0] : 100;
			int n;

			memset(&e, 0, sizeof(e));
			e.type = 3; /* destination unreachable */
			e.code = 1; /* host unreachable */
			n = zt_icmp4_emit(&e, h->to_tun.p[0], quote, msg, sizeof(msg));
			CU_ASSERT_FATAL(n > 0);
			zt_stack_input(h->s, pkt,
				       zt_test_wrap_ip(&r4, &c4, ZT_IPPROTO_ICMP, msg,
						       (size_t)n, pkt),
				       h->now);
		}
		CU_ASSERT_EQUAL(h->n_reset, same ? 1 : 0);
		CU_ASSERT_EQUAL(h->to_tun.n, same ? 2 : 1); /* the RST */
		host_fini(h);
		free(h);
	}
}

/* @c (zeroed) connects from @port to a host of @h's family @v6 (a
 * PENDING host: accepted); the flow, established. */
static struct zt_flow *client_connected(struct host *h, struct client *c,
					bool v6, uint16_t port)
{
	struct zt_flow *f;

	c->addr = v6 ? A6(2) : A4(10, 0, 0, 2);
	c->server = v6 ? A6(80) : A4(93, 184, 216, 34);
	zt_tcp_config_default(&c->cfg);
	CU_ASSERT_FATAL(zt_tcb_init(&c->tcb, &c->cfg, &client_ops, c) == 0);
	zt_tcb_open_active(&c->tcb, port, 80, 1, h->now);
	pump(h, c, h->now + 2 * ZT_MS);
	f = h->last_new;
	zt_stack_tcp_accept(h->s, f, h->now);
	pump(h, c, h->now + 5 * ZT_MS);
	CU_ASSERT_EQUAL_FATAL(c->tcb.state, ZT_TCP_ESTABLISHED);
	return f;
}

static void test_icmp_errors_matched_to_flows(void)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct client *c = calloc(1, sizeof(*c));
		static uint8_t data[8000], got[8000];
		size_t n = 0, mtu = v6 ? 1300 : 1000;
		struct zt_flow *f;
		struct pktq acked;
		unsigned before;

		for (size_t i = 0; i < sizeof(data); i++)
			data[i] = (uint8_t)(i * 3 + 1);
		zt_stack_config_default(&cfg);
		host_init(h, HOST_PENDING, &cfg, &rng);
		f = client_connected(h, c, v6, 41002);
		/* Upstream data goes out in full-size segments... */
		CU_ASSERT_EQUAL(zt_stack_tcp_send(h->s, f, data, sizeof(data), h->now), sizeof(data));
		CU_ASSERT_FATAL(h->to_tun.n >= 5);
		CU_ASSERT(h->to_tun.len[0] > mtu);
		/* ...a router on the way says they are too big: all lost. */
		client_icmp_error(h, 0, &c->addr, ZT_ICMP_PACKET_TOO_BIG, 0, (uint32_t)mtu);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->pmtu_reductions, 1);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_errors_matched, 1);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->pmtu_not_believed, 0);
		before = h->to_tun.n;
		for (unsigned i = 0; i < before; i++) {
			if (h->to_tun.len[i] > mtu)
				h->to_tun.len[i] = 0; /* dropped by the router */
		}
		{
			/* Keep only what fits: the resent, smaller segments. */
			struct pktq keep;

			memset(&keep, 0, sizeof(keep));
			for (unsigned i = 0; i < h->to_tun.n; i++)
				if (h->to_tun.len[i])
					q_push(&keep, h->to_tun.p[i], h->to_tun.len[i]);
			q_clear(&h->to_tun);
			h->to_tun = keep;
		}
		CU_ASSERT_FATAL(h->to_tun.n > 0);
		memset(&acked, 0, sizeof(acked));
		q_push(&acked, h->to_tun.p[0], h->to_tun.len[0]);
		pump(h, c, h->now + 50 * ZT_MS);
		n = zt_tcb_recv(&c->tcb, got, sizeof(got), h->now);
		CU_ASSERT_EQUAL(n, sizeof(data));
		CU_ASSERT(memcmp(got, data, n) == 0);
		/* A quote of data already acknowledged is not believed (RFC
		 * 5927 4.1): a resent segment, quoted once the client acked
		 * it, with a smaller MTU that, believed, would shrink the MSS
		 * again; "y" is in flight meanwhile. */
		CU_ASSERT_EQUAL(zt_stack_tcp_send(h->s, f, "y", 1, h->now), 1);
		{
			unsigned matched = (unsigned)zt_stack_stats(h->s)->icmp_errors_matched;

			q_clear(&h->to_tun);
			h->to_tun = acked;
			client_icmp_error(h, 0, &c->addr, ZT_ICMP_PACKET_TOO_BIG, 0,
					  v6 ? 1280u : 800u);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->pmtu_reductions, 1);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_errors_matched, matched);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_errors_in, 2);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_ICMP_NOT_IN_FLIGHT], 1);
		}
		free_host_client(h, c);
	}
}

/*
 * A Packet Too Big whose quote could not have been too big is not
 * believed: a datagram no larger than the MTU the message claims (or than
 * the least MTU we would take from it, 576 for IPv4) passed that link.
 * So our SYN-ACK (0), well under any MTU, lowers no MSS, as Linux's
 * tcp_v4_err leaves request sockets alone; nor does a quoted data
 * segment that fits the claimed MTU (1). An ICMPv6 one below IPv6's
 * least link MTU (2) is discarded (RFC 8201 4), not taken as 1280.
 * Before, each lowered the MSS (to the floor, to 948, to 1208 bytes).
 * Each is counted in pmtu_not_believed, not in icmp_errors_matched
 * (which counted them as if believed): the stats tell a forged or
 * confused message from one acted on.
 */
static void test_icmp_too_big_not_believed(void)
{
	for (int kind = 0; kind < 3; kind++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct client *c = calloc(1, sizeof(*c));
		static uint8_t data[2000];
		struct zt_addr ca = A4(10, 0, 0, 2);
		struct zt_flow *f;
		uint16_t mss;

		memset(data, 'm', sizeof(data));
		zt_stack_config_default(&cfg);
		host_init(h, HOST_PENDING, &cfg, &rng);
		if (kind == 0) {
			struct zt_addr srv = A4(1, 2, 3, 4);
			struct zt_tcp_repr syn = syn_to(40013, 80, 5);

			send_tcp(h, &ca, &srv, &syn, NULL, 0);
			f = h->last_new;
			zt_stack_tcp_accept(h->s, f, h->now); /* SYN-ACK out */
			CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
		} else {
			f = client_connected(h, c, kind == 2, 41003);
			ca = c->addr;
			CU_ASSERT_EQUAL(zt_stack_tcp_send(h->s, f, data,
							  kind == 1 ? 200 : sizeof(data),
							  h->now),
					kind == 1 ? 200 : sizeof(data));
			CU_ASSERT_FATAL(h->to_tun.n >= 1);
			CU_ASSERT(h->to_tun.len[0] == (kind == 1 ? 252u : 1500u));
		}
		mss = f->tcb.snd_mss;
		client_too_big(h, 0, &ca, kind == 0 ? 40u : 1000u);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->pmtu_reductions, 0);
		CU_ASSERT_EQUAL(f->tcb.snd_mss, mss);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_errors_in, 1);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->pmtu_not_believed, 1);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_errors_matched, 0);
		if (kind == 0) {
			host_fini(h);
			free(h);
			zt_tcb_destroy(&c->tcb);
			free(c);
		} else {
			free_host_client(h, c);
		}
	}
}

/* The client @from's ICMP error (zt_test_udp_error()) into the stack. */
static void udp_error_in(struct host *h, const struct zt_addr *from,
			 const struct zt_addr *to, const struct zt_addr *qsrc,
			 uint16_t sport, const struct zt_addr *qdst,
			 uint16_t dport, uint8_t type, uint8_t code, size_t qlen)
{
	static uint8_t pkt[400];
	size_t n = zt_test_udp_error(from, to, qsrc, sport, qdst, dport, type,
				     code, qlen, pkt);

	zt_stack_input(h->s, pkt, n, h->now);
}

/*
 * The client's hard ICMP unreachable about a datagram of a UDP flow (its
 * socket closed: the kernel answers with a port unreachable) ends that
 * flow at once, as its idle timeout would (udp_closed, the host lets go of
 * its upstream), counted in udp_flows_unreachable: a server streaming on
 * no longer draws an error per datagram until the timeout. Before, the
 * host heard of it (udp_error) and nothing ended. Only an error from the
 * flow's client to its server, quoting the whole UDP header of a
 * datagram the flow sent, is believed; every other one is counted under
 * a drop reason and changes nothing: from another address or to another
 * one (icmp_not_client), about no flow or the client's own datagram
 * (icmp_no_flow), quoting less than the IP header and 8 bytes
 * (truncated). Soft errors (host unreachable, time exceeded, too big)
 * reach the host and end nothing.
 */
static void test_udp_client_unreach_ends_flow(void)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = v6 ? A6(2) : A4(10, 0, 0, 2);
		struct zt_addr other = v6 ? A6(3) : A4(10, 0, 0, 3);
		struct zt_addr srv = v6 ? A6(80) : A4(198, 51, 100, 1);
		uint8_t unreach = v6 ? ZT_ICMP6_DEST_UNREACH : ZT_ICMP4_DEST_UNREACH;
		uint8_t port = v6 ? ZT_ICMP6_CODE_PORT_UNREACH : ZT_ICMP4_CODE_PORT_UNREACH;
		size_t iphl = v6 ? ZT_IP6_HDR : 20;
		struct zt_flow_key key = udp_key(&c, 6000, &srv, 9000);
		const struct zt_stack_stats *st;

		zt_stack_config_default(&cfg);
		host_init(h, HOST_PENDING, &cfg, &rng);
		st = zt_stack_stats(h->s);
		send_udp(h, &c, &srv, 6000, 9000, "q", 1);
		CU_ASSERT_EQUAL_FATAL(st->udp_flows_active, 1);
		/* not from the client, or not to the server */
		udp_error_in(h, &other, &srv, &srv, 9000, &c, 6000, unreach, port, 0);
		udp_error_in(h, &c, &other, &srv, 9000, &c, 6000, unreach, port, 0);
		CU_ASSERT_EQUAL(st->drops[ZT_DROP_ICMP_NOT_CLIENT], 2);
		/* about no flow: another port, the client's own datagram */
		udp_error_in(h, &c, &srv, &srv, 9001, &c, 6000, unreach, port, 0);
		udp_error_in(h, &c, &srv, &c, 6000, &srv, 9000, unreach, port, 0);
		CU_ASSERT_EQUAL(st->drops[ZT_DROP_ICMP_NO_FLOW], 2);
		/* cut short: in the IP header, at the ports, a byte short */
		udp_error_in(h, &c, &srv, &srv, 9000, &c, 6000, unreach, port, iphl - 1);
		udp_error_in(h, &c, &srv, &srv, 9000, &c, 6000, unreach, port, iphl + 4);
		udp_error_in(h, &c, &srv, &srv, 9000, &c, 6000, unreach, port, iphl + 7);
		CU_ASSERT_EQUAL(st->drops[ZT_DROP_TRUNCATED], 3);
		CU_ASSERT_EQUAL(h->n_udp_error, 0);
		CU_ASSERT_EQUAL(st->icmp_errors_matched, 0);
		/* soft: host (address) unreachable, time exceeded, too big */
		udp_error_in(h, &c, &srv, &srv, 9000, &c, 6000, unreach,
			     v6 ? ZT_ICMP6_CODE_ADDR_UNREACH : ZT_ICMP4_CODE_HOST_UNREACH, 0);
		udp_error_in(h, &c, &srv, &srv, 9000, &c, 6000,
			     v6 ? ZT_ICMP6_TIME_EXCEEDED : ZT_ICMP4_TIME_EXCEEDED, 0, 0);
		udp_error_in(h, &c, &srv, &srv, 9000, &c, 6000,
			     v6 ? ZT_ICMP6_PACKET_TOO_BIG : ZT_ICMP4_DEST_UNREACH,
			     v6 ? 0 : ZT_ICMP4_CODE_FRAG_NEEDED, 0);
		CU_ASSERT_EQUAL(h->n_udp_error, 3);
		CU_ASSERT_EQUAL(st->icmp_errors_matched, 3);
		CU_ASSERT_EQUAL(st->icmp_errors_in, 10);
		CU_ASSERT_EQUAL(st->udp_flows_active, 1);
		CU_ASSERT_EQUAL(h->n_udp_closed, 0);
		CU_ASSERT_PTR_NOT_NULL(zt_stack_udp_lookup(h->s, &key));
		/* the socket closed: its port unreachable ends the flow */
		udp_error_in(h, &c, &srv, &srv, 9000, &c, 6000, unreach, port, iphl + 8);
		CU_ASSERT_EQUAL(h->n_udp_error, 4);
		CU_ASSERT_EQUAL(h->udp_error_code, port);
		CU_ASSERT_EQUAL(h->n_udp_closed, 1);
		CU_ASSERT_EQUAL(st->udp_flows_unreachable, 1);
		CU_ASSERT_EQUAL(st->udp_flows_active, 0);
		CU_ASSERT_EQUAL(st->udp_flows_expired, 0);
		CU_ASSERT_PTR_NULL(zt_stack_udp_lookup(h->s, &key));
		CU_ASSERT_EQUAL(zt_stack_deadline(h->s), ZT_TIME_NEVER);
		/* again: the flow is gone */
		udp_error_in(h, &c, &srv, &srv, 9000, &c, 6000, unreach, port, 0);
		CU_ASSERT_EQUAL(st->drops[ZT_DROP_ICMP_NO_FLOW], 3);
		/* a new datagram starts a new flow; administratively
		 * prohibited (a firewall's REJECT on the client) ends it too */
		send_udp(h, &c, &srv, 6000, 9000, "q", 1);
		CU_ASSERT_EQUAL(st->udp_flows_active, 1);
		udp_error_in(h, &c, &srv, &srv, 9000, &c, 6000, unreach,
			     v6 ? ZT_ICMP6_CODE_ADMIN_PROHIBITED : 10, 0);
		CU_ASSERT_EQUAL(st->udp_flows_active, 0);
		CU_ASSERT_EQUAL(st->udp_flows_unreachable, 2);
		CU_ASSERT_EQUAL(h->to_tun.n, 0); /* no error about an error */
		CU_ASSERT_EQUAL(zt_stack_check(h->s), 0);
		host_fini(h);
		free(h);
	}
}

/* A hard unreachable about our SYN-ACK ends the handshake: port
 * unreachable, and the other codes Linux's tcp_v4_err takes as fatal, such
 * as host prohibited (10, iptables' icmp-host-prohibited, which ended
 * nothing before). A host unreachable is soft (RFC 1122 4.2.3.9). */
static void test_icmp_unreach_aborts_handshake(void)
{
	static const uint8_t codes[] = { ZT_ICMP4_CODE_PORT_UNREACH, 10,
					 ZT_ICMP4_CODE_HOST_UNREACH };

	for (unsigned i = 0; i < sizeof(codes); i++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
		struct zt_tcp_repr syn = syn_to(40009, 80, 5);
		bool hard = codes[i] != ZT_ICMP4_CODE_HOST_UNREACH;

		zt_stack_config_default(&cfg);
		host_init(h, HOST_PENDING, &cfg, &rng);
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		zt_stack_tcp_accept(h->s, h->last_new, h->now); /* SYN-ACK out */
		CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
		client_icmp_error(h, 0, &c, ZT_ICMP_DEST_UNREACH, codes[i], 0);
		CU_ASSERT_EQUAL(h->n_reset, hard ? 1u : 0u);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_errors_matched, 1);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, hard ? 0u : 1u);
		host_fini(h);
		free(h);
	}
}

/*
 * A PENDING flow whose SYN went unanswered has sent nothing: an ICMP error
 * quoting it quotes a segment we never sent (RFC 5927 4.1: SND.UNA <= seq
 * < SND.NXT, an empty range), forged or about some older connection, and
 * is believed for none: a port unreachable quoting its ISS does not end
 * it (nor the host's upstream attempt, nor draw a RST), a Packet Too Big
 * does not lower its MSS. With the SYN-ACK sent, the same port unreachable
 * aborts the handshake (icmp_unreach_aborts_handshake).
 */
static void test_icmp_error_pending_ignored(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
	struct zt_tcp_repr syn = syn_to(40011, 80, 5), forged;
	static uint8_t seg[100], pkt[200];
	struct zt_flow *f;
	uint16_t mss;
	int n;

	zt_stack_config_default(&cfg);
	host_init(h, HOST_PENDING, &cfg, &rng);
	send_tcp(h, &c, &srv, &syn, NULL, 0);
	CU_ASSERT_EQUAL_FATAL(h->n_new, 1);
	f = h->last_new;
	mss = f->tcb.snd_mss;
	CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 0);
	/* the SYN-ACK its ISS would start, had one gone */
	memset(&forged, 0, sizeof(forged));
	forged.src_port = 80;
	forged.dst_port = 40011;
	forged.seq = f->tcb.iss;
	forged.ack = 6;
	forged.flags = ZT_TCP_SYN | ZT_TCP_ACK;
	forged.window = 65535;
	n = zt_tcp_emit(&forged, &srv, &c, NULL, 0, seg, sizeof(seg));
	CU_ASSERT_FATAL(n > 0);
	q_push(&h->to_tun, pkt, zt_test_wrap_ip(&srv, &c, ZT_IPPROTO_TCP, seg,
						(size_t)n, pkt));
	client_icmp_error(h, 0, &c, ZT_ICMP_PACKET_TOO_BIG, 0, 576);
	client_icmp_error(h, 0, &c, ZT_ICMP_DEST_UNREACH, ZT_ICMP4_CODE_PORT_UNREACH, 0);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_errors_in, 2);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->icmp_errors_matched, 0);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_ICMP_NOT_IN_FLIGHT], 2);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->pmtu_reductions, 0);
	CU_ASSERT_EQUAL(h->n_reset, 0);
	CU_ASSERT_EQUAL(h->to_tun.n, 1); /* no RST */
	CU_ASSERT_EQUAL_FATAL(zt_stack_stats(h->s)->tcp_flows_active, 1);
	CU_ASSERT_EQUAL(f->tcb.snd_mss, mss);
	/* the upstream answers: the SYN-ACK as if nothing came */
	zt_stack_tcp_accept(h->s, f, h->now);
	CU_ASSERT_EQUAL(h->to_tun.n, 2);
	CU_ASSERT_EQUAL(f->tcb.state, ZT_TCP_SYN_RECEIVED);
	host_fini(h);
	free(h);
}

/* A host (echo) whose TCP idle timeout is 30 s and one client connected
 * to it, sending keepalive probes every @ka_secs (0: none). */
static void idle_setup(struct host **hp, struct client **cp, uint64_t ka_secs)
{
	struct zt_stack_config cfg;
	static struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct client *c = calloc(1, sizeof(*c));

	zt_stack_config_default(&cfg);
	cfg.tcp_idle_timeout = 30 * ZT_SEC;
	host_init(h, HOST_ACCEPT_ECHO, &cfg, &rng);
	c->addr = A4(10, 0, 0, 2);
	c->server = A4(1, 1, 1, 1);
	zt_tcp_config_default(&c->cfg);
	c->cfg.keepalive_idle = ka_secs * ZT_SEC;
	c->cfg.keepalive_intvl = ka_secs * ZT_SEC;
	c->cfg.keepalive_probes = 3;
	CU_ASSERT_FATAL(zt_tcb_init(&c->tcb, &c->cfg, &client_ops, c) == 0);
	zt_tcb_open_active(&c->tcb, 41001, 7, 1, h->now);
	pump(h, c, h->now + 10 * ZT_MS);
	CU_ASSERT_EQUAL_FATAL(zt_stack_stats(h->s)->tcp_flows_active, 1);
	*hp = h;
	*cp = c;
}

static void test_idle_timeout(void)
{
	struct host *h;
	struct client *c;

	idle_setup(&h, &c, 0);
	pump(h, c, h->now + 31 * ZT_SEC);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_idle_timeouts, 1);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 0);
	CU_ASSERT_EQUAL(h->n_reset, 1);
	CU_ASSERT_EQUAL(c->tcb.state, ZT_TCP_CLOSED); /* the client got the RST */
	free_host_client(h, c);
}

/* An established flow from @c:@sport to @srv:80, handshake by hand; @ack
 * is set to the client's ACK (sent again, it is a segment of the flow). */
static struct zt_flow *open_established(struct host *h, const struct zt_addr *c,
					const struct zt_addr *srv, uint16_t sport,
					struct zt_tcp_repr *ack)
{
	struct zt_tcp_repr syn = syn_to(sport, 80, 1000);
	struct zt_flow *f;
	struct zt_packet pk;

	send_tcp(h, c, srv, &syn, NULL, 0);
	f = h->last_new;
	CU_ASSERT_FATAL(f != NULL);
	zt_stack_tcp_accept(h->s, f, h->now);
	out_pkt(h, h->to_tun.n - 1, &pk);
	CU_ASSERT_EQUAL_FATAL(pk.l4.tcp.flags, ZT_TCP_SYN | ZT_TCP_ACK);
	memset(ack, 0, sizeof(*ack));
	ack->src_port = sport;
	ack->dst_port = 80;
	ack->seq = 1001;
	ack->ack = pk.l4.tcp.seq + 1;
	ack->flags = ZT_TCP_ACK;
	ack->window = 65535;
	send_tcp(h, c, srv, ack, NULL, 0);
	CU_ASSERT_EQUAL(f->tcb.state, ZT_TCP_ESTABLISHED);
	q_clear(&h->to_tun);
	return f;
}

/* A segment whose data finds no receive buffer is a drop of the stack's
 * (drops.tcp_no_buffer), as test_tcb_drops_counted's. */
static void test_tcb_drops_counted_no_buffer(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
	struct zt_tcp_repr ack;

	zt_stack_config_default(&cfg);
	/* a receive ring malloc()'d alone at this size (stack.c: one pool
	 * only when both rings are the same size) */
	cfg.tcp.rx_buf = 20480;
	host_init(h, HOST_PENDING, &cfg, &rng);
	(void)open_established(h, &c, &srv, 4001, &ack);
	ack.flags = ZT_TCP_ACK | ZT_TCP_PSH;
	zt_test_fail_malloc(20480);
	send_tcp(h, &c, &srv, &ack, "lost", 4);
	zt_test_fail_malloc(0);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->drops[ZT_DROP_TCP_NO_BUFFER], 1);
	host_fini(h);
	free(h);
}

/*
 * A send the stack cannot keep: the send ring's buffer cannot be
 * allocated, so the flow is reset (the client gets a RST) rather than
 * losing bytes the host was told were taken. The host must hear of it
 * (EV_RESET) like of any end it did not ask for, or it would keep a
 * pointer to a freed slot; and calls on such a stale pointer change
 * nothing (no second free, no count gone wrong).
 */
static void test_send_alloc_failure_resets(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
	struct zt_tcp_repr ack;
	const struct zt_stack_stats *st;
	struct zt_packet pk;
	struct zt_flow *f;

	zt_stack_config_default(&cfg);
	/* unlike the receive ring's, the send ring's buffer is malloc()'d
	 * alone at this size (stack.c: one pool when both are the same) */
	cfg.tcp.tx_buf = 12288;
	host_init(h, HOST_PENDING, &cfg, &rng);
	st = zt_stack_stats(h->s);
	f = open_established(h, &c, &srv, 4000, &ack);

	zt_test_fail_malloc(12288);
	CU_ASSERT_EQUAL(zt_stack_tcp_send(h->s, f, "hello", 5, h->now), 0);
	zt_test_fail_malloc(0);
	CU_ASSERT_EQUAL(h->n_reset, 1);
	CU_ASSERT_EQUAL(st->tcp_flows_active, 0);
	CU_ASSERT_EQUAL(st->mem_reserved, 0);
	CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
	out_pkt(h, 0, &pk);
	CU_ASSERT(pk.l4.tcp.flags & ZT_TCP_RST);
	CU_ASSERT_EQUAL(zt_stack_check(h->s), 0);

	/* A stale pointer to the freed slot: nothing moves. */
	zt_stack_tcp_shutdown(h->s, f, h->now);
	zt_stack_tcp_abort(h->s, f, h->now);
	CU_ASSERT_EQUAL(st->tcp_flows_active, 0);
	CU_ASSERT_EQUAL(st->mem_reserved, 0);
	CU_ASSERT_EQUAL(h->n_reset, 1);
	CU_ASSERT_EQUAL(h->to_tun.n, 1);
	CU_ASSERT_EQUAL(zt_stack_check(h->s), 0);
	host_fini(h);
	free(h);
}

/* The destination port of the only packet the stack sent, which must be
 * a RST (0 if it is not). */
static uint16_t only_rst_port(struct host *h)
{
	struct zt_packet pk;

	CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
	out_pkt(h, 0, &pk);
	q_clear(&h->to_tun);
	return (pk.l4.tcp.flags & ZT_TCP_RST) ? pk.l4.tcp.dst_port : 0;
}

/*
 * A full table: a new SYN takes the place of the flow whose client spoke
 * least recently, if it has been quiet tcp_evict_idle (300 s) or longer;
 * the order is that of the clients' latest segments, not of opening.
 * The evicted flow is reset both ways; with no flow idle long enough the
 * SYN is refused as before.
 */
static void test_idle_evict_lru(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
	struct zt_tcp_repr ack[4], syn;
	static const unsigned touch_order[4] = { 2, 0, 3, 1 };

	zt_stack_config_default(&cfg);
	cfg.max_tcp_flows = 4;
	host_init(h, HOST_PENDING, &cfg, &rng);
	for (unsigned i = 0; i < 4; i++)
		open_established(h, &c, &srv, (uint16_t)(3000 + i), &ack[i]);
	h->now += 100 * ZT_SEC;
	for (unsigned i = 0; i < 4; i++) {
		h->now += ZT_SEC;
		send_tcp(h, &c, &srv, &ack[touch_order[i]], NULL, 0);
	}
	/* 290 s after the last touch of flow 2: nobody has been idle 300 s */
	h->now += 290 * ZT_SEC - 3 * ZT_SEC;
	syn = syn_to(4000, 80, 1);
	send_tcp(h, &c, &srv, &syn, NULL, 0);
	CU_ASSERT_EQUAL(only_rst_port(h), 4000);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_refused_full, 1);
	CU_ASSERT_EQUAL(h->n_reset, 0);
	/* 300 s: flow 2, then flow 0 give their places */
	h->now += 200 * ZT_SEC;
	for (unsigned i = 0; i < 2; i++) {
		syn = syn_to((uint16_t)(4001 + i), 80, 1);
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		CU_ASSERT_EQUAL(only_rst_port(h), 3000 + touch_order[i]);
		CU_ASSERT_EQUAL(h->n_new, 5 + i);
		CU_ASSERT_EQUAL(h->n_reset, 1 + i);
		zt_stack_tcp_accept(h->s, h->last_new, h->now);
		q_clear(&h->to_tun);
	}
	/* flow 3's client speaks: flow 1 is now the one idle longest */
	send_tcp(h, &c, &srv, &ack[3], NULL, 0);
	q_clear(&h->to_tun);
	syn = syn_to(4003, 80, 1);
	send_tcp(h, &c, &srv, &syn, NULL, 0);
	CU_ASSERT_EQUAL(only_rst_port(h), 3001);
	zt_stack_tcp_accept(h->s, h->last_new, h->now);
	q_clear(&h->to_tun);
	/* everyone left spoke just now: refused */
	syn = syn_to(4004, 80, 1);
	send_tcp(h, &c, &srv, &syn, NULL, 0);
	CU_ASSERT_EQUAL(only_rst_port(h), 4004);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_idle_evicted, 3);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_refused_full, 2);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 4);
	CU_ASSERT_EQUAL(h->n_reset, 3);
	host_fini(h);
	free(h);
}

/* A SYN from @c:@sport to @srv:@dport, that tcp_admit answers @a if
 * asked. */
static void send_syn_admit(struct host *h, const struct zt_addr *c,
			   const struct zt_addr *srv, enum zt_tcp_admit a,
			   uint16_t sport, uint16_t dport)
{
	struct zt_tcp_repr syn = syn_to(sport, dport, 1);

	h->admit = a;
	send_tcp(h, c, srv, &syn, NULL, 0);
}

/*
 * With the table full and a flow idle enough to go, and only then, the
 * stack asks ops->tcp_admit before it evicts: a SYN the host would refuse
 * at once is answered as with room (the very RST that tcp_new's
 * zt_stack_tcp_reject() sends, or nothing for a drop) and counted as
 * refused then, tcp_new never called and no flow reset; one admitted
 * evicts the flow idle longest as before.
 */
static void test_admit_before_evict(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
	struct zt_tcp_repr ack[2], syn = syn_to(4000, 9999, 77);
	const struct zt_stack_stats *st;
	uint8_t rst[128];
	size_t rst_len;

	zt_stack_config_default(&cfg);
	cfg.max_tcp_flows = 2;
	host_init_ops(h, HOST_REJECT_RST, &cfg, &rng, &host_ops_admit);
	st = zt_stack_stats(h->s);
	/* with room, tcp_new refuses it; tcp_admit is not asked */
	send_tcp(h, &c, &srv, &syn, NULL, 0);
	CU_ASSERT_EQUAL(h->n_admit, 0);
	CU_ASSERT_EQUAL(h->n_new, 1);
	CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
	rst_len = h->to_tun.len[0];
	CU_ASSERT_FATAL(rst_len <= sizeof(rst));
	memcpy(rst, h->to_tun.p[0], rst_len);
	CU_ASSERT_EQUAL(only_rst_port(h), 4000);
	h->mode = HOST_PENDING;
	for (unsigned i = 0; i < 2; i++)
		open_established(h, &c, &srv, (uint16_t)(3000 + i), &ack[i]);
	/* full, nobody idle 300 s: nothing to evict, nothing asked */
	send_syn_admit(h, &c, &srv, ZT_TCP_ADMIT_RST, 4001, 80);
	CU_ASSERT_EQUAL(only_rst_port(h), 4001);
	CU_ASSERT_EQUAL(h->n_admit, 0);
	CU_ASSERT_EQUAL(st->tcp_refused_full, 1);
	/* 400 s on: the first SYN again, refused by the host, byte for byte */
	h->now += 400 * ZT_SEC;
	send_tcp(h, &c, &srv, &syn, NULL, 0);
	CU_ASSERT_EQUAL(h->n_admit, 1);
	CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
	CU_ASSERT_EQUAL(h->to_tun.len[0], rst_len);
	CU_ASSERT(memcmp(h->to_tun.p[0], rst, rst_len) == 0);
	q_clear(&h->to_tun);
	/* ... or dropped: nothing sent */
	send_syn_admit(h, &c, &srv, ZT_TCP_ADMIT_DROP, 4002, 9998);
	CU_ASSERT_EQUAL(h->n_admit, 2);
	CU_ASSERT_EQUAL(h->to_tun.n, 0);
	CU_ASSERT_EQUAL(h->n_new, 3);
	CU_ASSERT_EQUAL(h->n_reset, 1); /* the first refusal's */
	/* opened and refused, as with room; no flow reset */
	CU_ASSERT(st->tcp_flows_opened == 5 && st->tcp_refused == 3);
	CU_ASSERT(st->tcp_idle_evicted == 0 && st->tcp_refused_full == 1 &&
		  st->tcp_flows_active == 2);
	/* admitted: the flow idle longest goes, tcp_new hears of the SYN */
	send_syn_admit(h, &c, &srv, ZT_TCP_ADMIT, 4003, 80);
	CU_ASSERT_EQUAL(only_rst_port(h), 3000);
	CU_ASSERT_EQUAL(h->n_admit, 3);
	CU_ASSERT_EQUAL(h->n_new, 4);
	/* the idle flow reset both ways for it */
	CU_ASSERT(h->n_reset == 2 && st->tcp_idle_evicted == 1 &&
		  st->tcp_flows_active == 2);
	host_fini(h);
	free(h);
}

/*
 * A flow waiting for its upstream (PENDING, plain or with an early
 * SYN-ACK) may not be evicted; with connect_timeout longer than
 * tcp_evict_idle it can be the flow quiet longest. It must not stand in
 * the way of the idle flows behind it: a new SYN takes the place of the
 * oldest of those (it was refused). Once accepted, a flow's quiet time
 * counts from the accept, as its idle timeout does.
 */
static void test_idle_evict_past_pending(void)
{
	for (int early = 0; early < 2; early++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
		struct zt_tcp_repr ack, syn = syn_to(3000, 80, 1);
		struct zt_flow *pend;
		uint32_t n[ZT_TCP_TIME_WAIT + 1];

		zt_stack_config_default(&cfg);
		cfg.max_tcp_flows = 4;
		cfg.connect_timeout = 900 * ZT_SEC;
		host_init(h, HOST_PENDING, &cfg, &rng);
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		pend = h->last_new;
		if (early)
			zt_stack_tcp_accept_early(h->s, pend, h->now);
		q_clear(&h->to_tun);
		h->now += ZT_SEC;
		for (unsigned i = 1; i < 4; i++) {
			open_established(h, &c, &srv, (uint16_t)(3000 + i), &ack);
			h->now += ZT_SEC;
		}
		h->now += 400 * ZT_SEC;
		syn = syn_to(4000, 80, 1);
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		CU_ASSERT_EQUAL(only_rst_port(h), 3001);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_refused_full, 0);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_idle_evicted, 1);
		CU_ASSERT_EQUAL(h->n_new, 5);
		CU_ASSERT_EQUAL(zt_stack_check(h->s), 0);
		zt_stack_tcp_states(h->s, n);
		CU_ASSERT_EQUAL(n[ZT_TCP_SYN_RECEIVED], 2);
		CU_ASSERT_EQUAL(n[ZT_TCP_ESTABLISHED], 2);
		/* accepted now: quiet since now, the others longer */
		zt_stack_tcp_accept(h->s, pend, h->now);
		zt_stack_tcp_accept(h->s, h->last_new, h->now);
		q_clear(&h->to_tun);
		CU_ASSERT_EQUAL(zt_stack_check(h->s), 0);
		for (unsigned i = 0; i < 2; i++) {
			syn = syn_to((uint16_t)(4001 + i), 80, 1);
			send_tcp(h, &c, &srv, &syn, NULL, 0);
			CU_ASSERT_EQUAL(only_rst_port(h), 3002 + i);
			zt_stack_tcp_accept(h->s, h->last_new, h->now);
			q_clear(&h->to_tun);
		}
		syn = syn_to(4003, 80, 1);
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		CU_ASSERT_EQUAL(only_rst_port(h), 4003);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_idle_evicted, 3);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_refused_full, 1);
		CU_ASSERT_EQUAL(zt_stack_check(h->s), 0);
		host_fini(h);
		free(h);
	}
}

/* The ring budget is a bound like the table: an idle flow makes room
 * there too; tcp_evict_idle 0 turns eviction off. */
static void test_idle_evict_budget(void)
{
	for (int off = 0; off < 2; off++) {
		struct zt_stack_config cfg;
		struct zt_rng rng;
		struct host *h = malloc(sizeof(*h));
		struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
		struct zt_tcp_repr ack, syn = syn_to(4000, 80, 1);

		zt_stack_config_default(&cfg);
		cfg.mem_budget = 2 * (uint64_t)(cfg.tcp.rx_buf + cfg.tcp.tx_buf);
		if (off)
			cfg.tcp_evict_idle = 0;
		host_init(h, HOST_PENDING, &cfg, &rng);
		open_established(h, &c, &srv, 3000, &ack);
		open_established(h, &c, &srv, 3001, &ack);
		h->now += 3600 * ZT_SEC;
		send_tcp(h, &c, &srv, &syn, NULL, 0);
		CU_ASSERT_EQUAL(only_rst_port(h), off ? 4000 : 3000);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_refused_memory, off ? 1 : 0);
		CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_idle_evicted, off ? 0 : 1);
		CU_ASSERT_EQUAL(h->n_new, off ? 2 : 3);
		host_fini(h);
		free(h);
	}
}

/*
 * Churn through a table of 8 with eviction after 5 s: 32 clients open,
 * speak, reset and go quiet at random, time moving on by up to 3 s a
 * step. After every step zt_stack_check() holds (both lists sound: every
 * open flow once, the accepted ones oldest first), and every flow the
 * stack evicts is an accepted one whose client has been quiet longest
 * among those (quiet since its latest segment or its accept), and quiet
 * 5 s at least; a SYN is refused only when none was. With @pending,
 * flows are left PENDING (connect_timeout 20 s, longer than the 5 s of
 * tcp_evict_idle) and accepted later at random: such a flow ends only by
 * its connect timeout, and never shields the accepted ones from eviction.
 */
#define CHURN_CLIENTS 32
struct churn_client {
	int state; /* 0 none, 1 PENDING, 2 open */
	uint64_t spoke;
	struct zt_flow *f;
	struct zt_tcp_repr ack;
};

/* The host accepts @cl's PENDING flow and its client ACKs the SYN-ACK. */
static void churn_accept(struct host *h, const struct zt_addr *c,
			 const struct zt_addr *srv, struct churn_client *cl)
{
	struct zt_packet pk;

	zt_stack_tcp_accept(h->s, cl->f, h->now);
	out_pkt(h, h->to_tun.n - 1, &pk);
	CU_ASSERT_EQUAL_FATAL(pk.l4.tcp.flags, ZT_TCP_SYN | ZT_TCP_ACK);
	cl->ack.flags = ZT_TCP_ACK;
	cl->ack.seq = 1001;
	cl->ack.ack = pk.l4.tcp.seq + 1;
	cl->ack.has_mss = cl->ack.sack_permitted = false;
	send_tcp(h, c, srv, &cl->ack, NULL, 0);
	cl->state = 2;
	cl->spoke = h->now;
}

static void idle_evict_churn(bool pending)
{
	struct zt_stack_config cfg;
	struct zt_rng rng, pick;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
	struct churn_client cl[CHURN_CLIENTS];
	uint64_t evicted = 0, timeouts = 0;

	memset(cl, 0, sizeof(cl));
	zt_stack_config_default(&cfg);
	cfg.max_tcp_flows = 8;
	cfg.tcp_evict_idle = 5 * ZT_SEC;
	cfg.tcp_idle_timeout = 60 * ZT_SEC;
	cfg.connect_timeout = 20 * ZT_SEC;
	host_init(h, HOST_PENDING, &cfg, &rng);
	zt_rng_seed(&pick, pending ? 11 : 7);
	for (int step = 0; step < 20000; step++) {
		unsigned i = zt_rng_u32(&pick) % CHURN_CLIENTS;
		unsigned what = zt_rng_u32(&pick) % 9;
		uint64_t oldest = UINT64_MAX;

		for (unsigned k = 0; k < CHURN_CLIENTS; k++)
			if (cl[k].state == 2 && cl[k].spoke < oldest)
				oldest = cl[k].spoke;
		if (what < 3 && cl[i].state == 0) {
			unsigned n_new = h->n_new;
			struct zt_tcp_repr syn = syn_to((uint16_t)(3000 + i), 80, 1000);

			send_tcp(h, &c, &srv, &syn, NULL, 0);
			if (h->n_new != n_new) {
				cl[i].state = 1;
				cl[i].f = h->last_new;
				cl[i].ack = syn;
				if (!pending)
					churn_accept(h, &c, &srv, &cl[i]);
			} else {
				/* refused: no accepted flow was evictable */
				CU_ASSERT(oldest == UINT64_MAX ||
					  h->now - oldest < 5 * ZT_SEC);
			}
		} else if (what < 5 && cl[i].state == 1) {
			churn_accept(h, &c, &srv, &cl[i]);
		} else if (what < 6 && cl[i].state == 2) {
			send_tcp(h, &c, &srv, &cl[i].ack, NULL, 0);
			cl[i].spoke = h->now;
		} else if (what == 6 && cl[i].state == 2) {
			struct zt_tcp_repr rst = cl[i].ack;

			rst.flags = ZT_TCP_RST;
			send_tcp(h, &c, &srv, &rst, NULL, 0);
			cl[i].state = 0;
		} else if (what >= 7) {
			h->now += zt_rng_u32(&pick) % (3 * ZT_SEC);
			zt_stack_poll(h->s, h->now);
		}
		/* the stack's RSTs: connect timeouts, evictions (idle
		 * timeouts, at 60 s, seldom come first) */
		for (unsigned k = 0; k < h->to_tun.n; k++) {
			struct zt_packet pk;
			unsigned j;

			out_pkt(h, k, &pk);
			j = pk.l4.tcp.dst_port - 3000u;
			if (!(pk.l4.tcp.flags & ZT_TCP_RST) || j >= CHURN_CLIENTS ||
			    cl[j].state == 0)
				continue;
			if (cl[j].state == 1) {
				timeouts++;
			} else if (zt_stack_stats(h->s)->tcp_idle_evicted != evicted) {
				evicted++;
				CU_ASSERT_EQUAL(cl[j].spoke, oldest);
				CU_ASSERT(h->now - cl[j].spoke >= 5 * ZT_SEC);
			}
			cl[j].state = 0;
		}
		q_clear(&h->to_tun);
		CU_ASSERT_EQUAL_FATAL(zt_stack_check(h->s), 0);
	}
	CU_ASSERT_EQUAL(evicted, zt_stack_stats(h->s)->tcp_idle_evicted);
	CU_ASSERT_EQUAL(timeouts, zt_stack_stats(h->s)->tcp_connect_timeouts);
	CU_ASSERT(evicted > 100);
	CU_ASSERT(pending ? timeouts > 10 : timeouts == 0);
	CU_ASSERT(zt_stack_stats(h->s)->tcp_refused_full > 100);
	host_fini(h);
	free(h);
}

static void test_idle_evict_churn(void)
{
	idle_evict_churn(false);
}

static void test_idle_evict_churn_pending(void)
{
	idle_evict_churn(true);
}

/* By default an idle flow lives 2 h 4 min (RFC 5382 REQ-5), not less. */
static void test_idle_default_rfc5382(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
	struct zt_tcp_repr ack;

	zt_stack_config_default(&cfg);
	host_init(h, HOST_PENDING, &cfg, &rng);
	open_established(h, &c, &srv, 3000, &ack);
	h->now += 7439 * ZT_SEC;
	zt_stack_poll(h->s, h->now);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 1);
	CU_ASSERT_EQUAL(h->n_reset, 0);
	h->now += 2 * ZT_SEC;
	zt_stack_poll(h->s, h->now);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_idle_timeouts, 1);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 0);
	CU_ASSERT_EQUAL(h->n_reset, 1);
	host_fini(h);
	free(h);
}

/*
 * TCP keepalives are what keep an idle connection open through a
 * middlebox: a client whose probes (seq = SND.UNA - 1, no data: out of the
 * window on purpose, answered with an ACK) come more often than the idle
 * timeout keeps its flow, as a NAT keeps a mapping; when they stop, the
 * timeout runs again.
 */
static void test_keepalive_keeps_flow(void)
{
	struct host *h;
	struct client *c;

	idle_setup(&h, &c, 10);
	pump(h, c, h->now + 95 * ZT_SEC); /* three idle timeouts' worth */
	CU_ASSERT(c->tcb.stats.segs_out >= 9);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_idle_timeouts, 0);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 1);
	CU_ASSERT_EQUAL(c->tcb.state, ZT_TCP_ESTABLISHED);
	/* the probes stop: the timeout runs from the last one */
	c->cfg.keepalive_idle = 0;
	c->tcb.t_keepalive = ZT_TIME_NEVER;
	pump(h, c, h->now + 31 * ZT_SEC);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_idle_timeouts, 1);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, 0);
	free_host_client(h, c);
}

/*
 * Idle connections hold no ring buffers: 64 clients each echo 32 bytes
 * through the stack and then sit idle with their flows open. Every ring
 * buffer must be back in the pool (lazy rings), so 10,000 idle flows cost
 * their tcbs and nothing more; an echo in flight still has buffers.
 */
#define IDLE_CLIENTS 64
static void test_idle_flows_hold_no_buffers(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct client *c = calloc(IDLE_CLIENTS, sizeof(*c));
	uint8_t msg[32], buf[64];
	unsigned echoed = 0;

	CU_ASSERT_FATAL(h && c);
	zt_stack_config_default(&cfg);
	host_init(h, HOST_ACCEPT_ECHO, &cfg, &rng);
	memset(msg, 'i', sizeof(msg));
	for (unsigned i = 0; i < IDLE_CLIENTS; i++) {
		c[i].addr = A4(10, 0, 0, 2);
		c[i].server = A4(93, 184, 216, 34);
		zt_tcp_config_default(&c[i].cfg);
		CU_ASSERT_FATAL(zt_tcb_init(&c[i].tcb, &c[i].cfg, &client_ops,
					    &c[i]) == 0);
		zt_tcb_open_active(&c[i].tcb, (uint16_t)(42000 + i), 7,
				   1000u * i, h->now);
	}
	for (int step = 0; step < 200; step++) {
		/* Everything the clients sent goes in, everything the stack
		 * sent goes to the client whose port it is for. */
		for (unsigned i = 0; i < IDLE_CLIENTS; i++) {
			struct pktq in = c[i].to_stack;

			memset(&c[i].to_stack, 0, sizeof(c[i].to_stack));
			for (unsigned k = 0; k < in.n; k++)
				zt_stack_input(h->s, in.p[k], in.len[k], h->now);
			q_clear(&in);
		}
		{
			struct pktq out = h->to_tun;

			memset(&h->to_tun, 0, sizeof(h->to_tun));
			for (unsigned k = 0; k < out.n; k++) {
				struct zt_packet pk;
				unsigned i;

				if (zt_packet_parse(zt_view_make(out.p[k], out.len[k]),
						    0, &pk) != ZT_DROP_NONE ||
				    pk.proto != ZT_IPPROTO_TCP)
					continue;
				i = (unsigned)(pk.l4.tcp.dst_port - 42000);
				CU_ASSERT_FATAL(i < IDLE_CLIENTS);
				zt_tcb_input(&c[i].tcb, &pk.l4.tcp, pk.payload, h->now);
			}
			q_clear(&out);
		}
		h->now += ZT_MS;
		zt_stack_poll(h->s, h->now);
		for (unsigned i = 0; i < IDLE_CLIENTS; i++) {
			struct zt_tcb *t = &c[i].tcb;

			if (zt_tcb_deadline(t) <= h->now)
				zt_tcb_poll(t, h->now);
			(void)zt_tcb_events(t);
			if (step == 20 && t->state == ZT_TCP_ESTABLISHED)
				CU_ASSERT_EQUAL(zt_tcb_send(t, msg, sizeof(msg), h->now),
						sizeof(msg));
			if (zt_tcb_recv(t, buf, sizeof(buf), h->now) == sizeof(msg))
				echoed++;
		}
		if (step == 21) /* the echoes are on their way */
			CU_ASSERT(zt_stack_ring_buffers(h->s) > 0);
	}
	CU_ASSERT_EQUAL(echoed, IDLE_CLIENTS);
	CU_ASSERT_EQUAL(zt_stack_stats(h->s)->tcp_flows_active, IDLE_CLIENTS);
	CU_ASSERT_EQUAL(zt_stack_ring_buffers(h->s), 0);
	for (unsigned i = 0; i < IDLE_CLIENTS; i++) {
		zt_tcb_destroy(&c[i].tcb);
		q_clear(&c[i].to_stack);
	}
	free(c);
	host_fini(h);
	free(h);
}

struct pieces {
	unsigned n, fins;
	uint32_t next_seq;
};

static void count_piece(void *ctx, const uint8_t *p, size_t n)
{
	struct pieces *c = ctx;
	struct zt_packet pk;

	CU_ASSERT(n <= 40 + 100);
	CU_ASSERT_EQUAL_FATAL(zt_packet_parse(zt_view_make(p, n), 0, &pk),
			      ZT_DROP_NONE);
	if (c->n)
		CU_ASSERT_EQUAL(pk.l4.tcp.seq, c->next_seq);
	c->next_seq = pk.l4.tcp.seq + (uint32_t)pk.payload.len;
	c->fins += (pk.l4.tcp.flags & ZT_TCP_FIN) != 0;
	if (pk.l4.tcp.flags & ZT_TCP_FIN)
		CU_ASSERT_EQUAL(c->n, 9); /* the last piece only */
	c->n++;
}

/* zt_gso_split() on a hand-made 1000-byte segment: ten valid pieces with
 * FIN only on the last; then every truncation and a few lies refused. */
static void test_gso_split(void)
{
	struct zt_addr a = A4(10, 0, 0, 2), b = A4(93, 184, 216, 34);
	struct zt_tcp_repr r;
	uint8_t data[1000], pkt[1200], piece[200];
	struct pieces n = { 0, 0, 0 };
	size_t len;

	memset(&r, 0, sizeof(r));
	r.src_port = 80;
	r.dst_port = 40000;
	r.seq = 0xfffffe00u; /* wraps inside */
	r.ack = 1;
	r.flags = ZT_TCP_ACK | ZT_TCP_PSH | ZT_TCP_FIN;
	r.window = 1000;
	memset(data, 'g', sizeof(data));
	len = zt_test_tcp_packet(&b, &a, &r, data, sizeof(data), NULL, 0, pkt,
				 sizeof(pkt));
	CU_ASSERT_EQUAL_FATAL(zt_gso_split(pkt, len, 100, piece, sizeof(piece),
					   0, count_piece, &n), 10);
	CU_ASSERT_EQUAL(n.n, 10);
	CU_ASSERT_EQUAL(n.fins, 1);
	CU_ASSERT_EQUAL(n.next_seq, r.seq + 1000u);
	CU_ASSERT_EQUAL(zt_gso_split(pkt, len, 100, piece, 100, 0, count_piece, &n),
			-ENOSPC);
	CU_ASSERT_EQUAL(zt_gso_split(pkt, len, 0, piece, sizeof(piece), 0,
				     count_piece, &n), -EINVAL);
	for (size_t cut = 0; cut < len; cut++)
		CU_ASSERT(zt_gso_split(pkt, cut, 100, piece, sizeof(piece), 0,
				       count_piece, &n) < 0);
	pkt[0] = 0x55;
	CU_ASSERT_EQUAL(zt_gso_split(pkt, len, 100, piece, sizeof(piece), 0,
				     count_piece, &n), -EINVAL);
	CU_ASSERT_EQUAL(n.n, 10);
}

/* What each piece of a split UDP GSO packet looked like. */
struct udp_pieces {
	int n;
	uint16_t csum[8];    /* its UDP checksum field */
	bool csum_ok[8];     /* that field sums the piece right */
	bool ip_ok[8];       /* IPv4 header checksum and lengths right */
	uint8_t first[8];    /* its first payload byte */
};

static void record_udp_piece(void *ctx, const uint8_t *piece, size_t n)
{
	struct udp_pieces *u = ctx;
	struct zt_addr src = { .family = ZT_AF_INET }, dst = src;

	if (u->n >= 8 || n < 29)
		return;
	memcpy(src.bytes, piece + 12, 4);
	memcpy(dst.bytes, piece + 16, 4);
	u->csum[u->n] = zt_rd16(piece + 26);
	u->csum_ok[u->n] = zt_csum_l4(&src, &dst, ZT_IPPROTO_UDP, piece + 20,
				      n - 20) == 0;
	u->ip_ok[u->n] = zt_csum_fold(zt_csum_add(0, piece, 20)) == 0 &&
			 zt_rd16(piece + 2) == n && zt_rd16(piece + 24) == n - 20;
	u->first[u->n] = piece[28];
	u->n++;
}

/* A client's UDP_SEGMENT send read whole (USO): with ZT_GSO_KEEP_L4_CSUM
 * the pieces keep the packet's UDP checksum field (the kernel vouched for
 * the data, ZT_INPUT_CSUM_VALID, so summing 1200 bytes per datagram again
 * is waste), lengths and IPv4 header checksum still per piece; without
 * it every piece gets its own full checksum. */
static void test_gso_split_keep_l4_csum(void)
{
	struct zt_addr a = A4(10, 0, 0, 2), b = A4(93, 184, 216, 34);
	uint8_t l4[8 + 250], pkt[40 + sizeof(l4)], piece[200];
	struct udp_pieces kept = { 0 }, summed = { 0 };
	size_t len;

	zt_wr16(l4, 40000);
	zt_wr16(l4 + 2, 443);
	zt_wr16(l4 + 4, sizeof(l4));
	zt_wr16(l4 + 6, 0xabcd); /* partial, as the kernel leaves it */
	for (size_t i = 8; i < sizeof(l4); i++)
		l4[i] = (uint8_t)((i - 8) / 100 + 'a');
	len = zt_test_wrap_ip(&a, &b, ZT_IPPROTO_UDP, l4, sizeof(l4), pkt);
	CU_ASSERT_EQUAL_FATAL(zt_gso_split(pkt, len, 100, piece, sizeof(piece),
					   ZT_GSO_KEEP_L4_CSUM,
					   record_udp_piece, &kept), 3);
	CU_ASSERT_EQUAL_FATAL(zt_gso_split(pkt, len, 100, piece, sizeof(piece), 0,
					   record_udp_piece, &summed), 3);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(kept.csum[i], 0xabcd);
		CU_ASSERT(kept.ip_ok[i]);
		CU_ASSERT_EQUAL(kept.first[i], 'a' + i);
		CU_ASSERT(summed.csum_ok[i]);
		CU_ASSERT(summed.ip_ok[i]);
		CU_ASSERT_EQUAL(summed.first[i], 'a' + i);
	}
}

/* Datagrams of one size (the last shorter) to the client: one UDP GSO
 * packet when the host cuts them, whose pieces are the same datagrams,
 * each whole with its own checksum, in order; one by one without
 * tun_output_gso, for a single datagram, and when a datagram would not
 * fit the MTU (then fragmented as any other); IPv4 and IPv6; every
 * datagram and fragment with the run's traffic class. */
static uint8_t pkt_tclass(const struct zt_packet *pk)
{
	return zt_packet_tclass(pk);
}

static void test_udp_send_run(void)
{
	for (int v6 = 0; v6 <= 1; v6++) {
		for (int gso = 0; gso <= 1; gso++) {
			struct zt_stack_config cfg;
			struct zt_rng rng;
			struct host *h = malloc(sizeof(*h));
			struct zt_flow_key key;
			uint8_t data[350];

			for (size_t i = 0; i < sizeof(data); i++)
				data[i] = (uint8_t)(i * 13 + v6);
			memset(&key, 0, sizeof(key));
			key.family = v6 ? ZT_AF_INET6 : ZT_AF_INET;
			key.client = v6 ? A6(2) : A4(10, 0, 0, 2);
			key.server = v6 ? A6(53) : A4(9, 9, 9, 9);
			key.client_port = 40000;
			key.server_port = 53;
			zt_stack_config_default(&cfg);
			cfg.mtu = 1280;
			host_init_ops(h, HOST_PENDING, &cfg, &rng,
				      gso ? &host_ops_gso : &host_ops);
			CU_ASSERT_EQUAL(zt_stack_udp_send_run(h->s, &key, data,
					sizeof(data), 100, 0xba, h->now), 0);
			CU_ASSERT_EQUAL(h->n_gso_udp, gso ? 1 : 0);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_gso_out, gso ? 1u : 0u);
			CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_datagrams_out, 4);
			CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 4);
			for (unsigned i = 0; i < 4; i++) {
				struct zt_packet pk;
				size_t want = i < 3 ? 100 : 50;

				out_pkt(h, i, &pk); /* checksums verified */
				CU_ASSERT_EQUAL(pk.proto, ZT_IPPROTO_UDP);
				CU_ASSERT(zt_addr_eq(&pk.src, &key.server));
				CU_ASSERT(zt_addr_eq(&pk.dst, &key.client));
				CU_ASSERT_EQUAL(pk.l4.udp.src_port, 53);
				CU_ASSERT_EQUAL(pk.l4.udp.dst_port, 40000);
				CU_ASSERT_EQUAL_FATAL(pk.payload.len, want);
				CU_ASSERT(memcmp(pk.payload.data, data + 100 * i, want) == 0);
				CU_ASSERT(!pk.is_fragment);
				CU_ASSERT_EQUAL(pkt_tclass(&pk), 0xba); /* EF, ECT(0) */
			}
			q_clear(&h->to_tun);
			/* one datagram is not a run */
			CU_ASSERT_EQUAL(zt_stack_udp_send_run(h->s, &key, data, 80,
					100, 0x03, h->now), 0);
			CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 1);
			{
				struct zt_packet pk;

				out_pkt(h, 0, &pk);
				CU_ASSERT_EQUAL(pkt_tclass(&pk), 0x03); /* CE */
			}
			CU_ASSERT_EQUAL(h->n_gso_udp, gso ? 1 : 0);
			q_clear(&h->to_tun);
			/* 1300-byte datagrams do not fit 1280: fragments */
			{
				static uint8_t big[2600];

				CU_ASSERT_EQUAL(zt_stack_udp_send_run(h->s, &key, big,
						sizeof(big), 1300, 0x2e, h->now), 0);
				CU_ASSERT_EQUAL(h->n_gso_udp, gso ? 1 : 0);
				CU_ASSERT_EQUAL_FATAL(h->to_tun.n, 4);
				for (unsigned i = 0; i < 4; i++) {
					struct zt_packet pk;

					CU_ASSERT_EQUAL(zt_packet_parse(zt_view_make(h->to_tun.p[i],
									    h->to_tun.len[i]),
									ZT_PARSE_NO_CSUM, &pk),
							ZT_DROP_NONE);
					CU_ASSERT_EQUAL(pkt_tclass(&pk), 0x2e);
				}
				CU_ASSERT_EQUAL(zt_stack_stats(h->s)->udp_datagrams_out, 7);
			}
			CU_ASSERT_EQUAL(zt_stack_udp_send_run(h->s, &key, data,
					sizeof(data), 0, 0, h->now), -EINVAL);
			host_fini(h);
			free(h);
		}
	}
}

/*
 * A host that reads nothing (a stalled upstream) while the client fills
 * every byte of the window it was offered, in segments whose size is no
 * multiple of the window scale: the right edge the stack advertises
 * never lies beyond what its receive ring can hold, so that every byte
 * sent into the window is taken (and ACKed), and the window closes when
 * the ring is full (the client then probes, RFC 9293 3.8.6.1) instead of
 * staying open over room that does not exist, where the client's data
 * would be dropped and wait for its RTO. The window is rounded up to the
 * scale only while that fits the ring (RFC 7323 2.4, appendix F).
 */
static void test_window_never_beyond_ring(void)
{
	struct zt_stack_config cfg;
	struct zt_rng rng;
	struct host *h = malloc(sizeof(*h));
	struct zt_addr c = A4(10, 0, 0, 2), srv = A4(1, 2, 3, 4);
	struct zt_tcp_repr syn = syn_to(5555, 80, 1000), seg;
	static uint8_t data[999]; /* no multiple of any scale */
	uint32_t isn = 1001, nxt = isn, ack = isn, edge, srv_seq;
	unsigned shift, idle = 0;
	struct zt_packet pk;
	struct zt_flow *f;

	zt_stack_config_default(&cfg);
	host_init(h, HOST_ACCEPT_SINK, &cfg, &rng);
	syn.has_wscale = true;
	syn.wscale = 7;
	send_tcp(h, &c, &srv, &syn, NULL, 0);
	f = h->last_new;
	CU_ASSERT_FATAL(f != NULL);
	out_pkt(h, h->to_tun.n - 1, &pk);
	CU_ASSERT_FATAL(pk.l4.tcp.has_wscale);
	shift = pk.l4.tcp.wscale;
	CU_ASSERT_FATAL(shift > 0);
	srv_seq = pk.l4.tcp.seq + 1;
	edge = isn + pk.l4.tcp.window; /* SYN-ACK windows are unscaled */
	q_clear(&h->to_tun);
	memset(&seg, 0, sizeof(seg));
	seg.src_port = 5555;
	seg.dst_port = 80;
	seg.ack = srv_seq;
	seg.flags = ZT_TCP_ACK;
	seg.window = 65535;
	for (unsigned iter = 0; iter < 2000 && idle < 3; iter++) {
		uint32_t n = edge - nxt > sizeof(data) ? sizeof(data) : edge - nxt;

		if (zt_seq_lt(nxt, edge)) {
			seg.seq = nxt;
			send_tcp(h, &c, &srv, &seg, data, n);
			nxt += n;
			idle = 0;
		} else {
			h->now += 100 * ZT_MS; /* the delayed ACK */
			zt_stack_poll(h->s, h->now);
			idle++;
		}
		for (unsigned i = 0; i < h->to_tun.n; i++) {
			out_pkt(h, i, &pk);
			if (!(pk.l4.tcp.flags & ZT_TCP_ACK))
				continue;
			ack = pk.l4.tcp.ack;
			edge = ack + ((uint32_t)pk.l4.tcp.window << shift);
			/* within the ring: nothing was read from it */
			CU_ASSERT(edge - isn <= cfg.tcp.rx_buf);
		}
		q_clear(&h->to_tun);
	}
	/* every byte sent into the window was taken, the ring is full to
	 * less than a unit of the scale, and the window closed */
	CU_ASSERT_EQUAL(ack, nxt);
	CU_ASSERT(nxt - isn > cfg.tcp.rx_buf - (1u << shift));
	CU_ASSERT_EQUAL(zt_tcb_recv_len(&f->tcb), nxt - isn);
	CU_ASSERT_EQUAL(edge, ack);
	host_fini(h);
	free(h);
}

int zt_suite_stack(void)
{
	static const struct zt_test_case cases[] = {
		{ "upstream_first_and_mss_clamp", test_upstream_first_and_mss_clamp },
		{ "refuse_rst_or_icmp", test_refuse_rst_or_icmp },
		{ "refuse_icmp_long_syn", test_refuse_icmp_long_syn },
		{ "connect_timeout", test_connect_timeout },
		{ "stray_segments", test_stray_segments },
		{ "capacity_70000_syns", test_capacity },
		{ "slots_reused", test_slots_reused },
		{ "memory_budget", test_memory_budget },
		{ "tcp_states", test_tcp_states },
		{ "window_never_beyond_ring", test_window_never_beyond_ring },
		{ "send_alloc_failure_resets", test_send_alloc_failure_resets },
		{ "malformed_counted", test_malformed_counted },
		{ "icmp_echo_verdicts", test_icmp_echo_verdicts },
		{ "icmp_echo_local_martians", test_icmp_echo_local_martians },
		{ "icmp_unhandled_counted", test_icmp_unhandled_counted },
		{ "icmp_error_family_mismatch", test_icmp_error_family_mismatch },
		{ "martian_addresses", test_martian_addresses },
		{ "port_zero", test_port_zero },
		{ "icmp_echo_local_fragmented", test_icmp_echo_local_fragmented },
		{ "refusals_answered", test_refusals_answered },
		{ "tcb_drops_counted", test_tcb_drops_counted },
		{ "tcb_drops_counted_no_buffer", test_tcb_drops_counted_no_buffer },
		{ "reasm_eviction_counted", test_reasm_eviction_counted },
		{ "udp_fragments_both_ways", test_udp_fragments_both_ways },
		{ "reasm_timeout_icmp", test_reasm_timeout_icmp },
		{ "echo_through_stack", test_echo_through_stack },
		{ "batch_coalesces_acks", test_batch_coalesces_acks },
		{ "batch_window_update_rides_held_ack",
		  test_batch_window_update_rides_held_ack },
		{ "rx_direct_skips_the_ring", test_rx_direct_skips_the_ring },
		{ "idle_timeout", test_idle_timeout },
		{ "idle_evict_lru", test_idle_evict_lru },
		{ "admit_before_evict", test_admit_before_evict },
		{ "idle_evict_budget", test_idle_evict_budget },
		{ "idle_evict_past_pending", test_idle_evict_past_pending },
		{ "idle_evict_churn_pending", test_idle_evict_churn_pending },
		{ "idle_default_rfc5382", test_idle_default_rfc5382 },
		{ "idle_evict_churn", test_idle_evict_churn },
		{ "syn_reopens_time_wait", test_syn_reopens_time_wait },
		{ "default_peer_mss", test_default_peer_mss },
		{ "keepalive_keeps_flow", test_keepalive_keeps_flow },
		{ "icmp_errors_matched_to_flows", test_icmp_errors_matched_to_flows },
		{ "udp_flows_life", test_udp_flows_life },
		{ "udp_evict", test_udp_evict },
		{ "udp_admit_before_evict", test_udp_admit_before_evict },
		{ "udp_evict_past_current", test_udp_evict_past_current },
		{ "udp_stream_timeout", test_udp_stream_timeout },
		{ "udp_ip_header_to_host", test_udp_ip_header_to_host },
		{ "udp_unreach_quotes_the_flow", test_udp_unreach_quotes_the_flow },
		{ "icmp_unreach_aborts_handshake", test_icmp_unreach_aborts_handshake },
		{ "udp_client_unreach_ends_flow", test_udp_client_unreach_ends_flow },
		{ "idle_flows_hold_no_buffers", test_idle_flows_hold_no_buffers },
		{ "gso_split", test_gso_split },
		{ "gso_split_keep_l4_csum", test_gso_split_keep_l4_csum },
		{ "udp_send_run", test_udp_send_run },
		{ "pending_syn_new_isn", test_pending_syn_new_isn },
		{ "icmp_error_pending_ignored", test_icmp_error_pending_ignored },
		{ "icmp_too_big_not_believed", test_icmp_too_big_not_believed },
		{ "pending_not_idle", test_pending_not_idle },
		{ "pending_ack_answered_rst", test_pending_ack_answered_rst },
		{ 0 }
	};

	return zt_add_suite("stack", NULL, NULL, cases);
}
