// SPDX-License-Identifier: MIT
/*
 * slirp_egress.c - libslirp as an unprivileged Direct/NAT egress: the
 * Ethernet/ARP glue, our tcbs and UDP sockets on the guest side, and the
 * zt_upstream_ops on top.
 *
 * Theory of operation
 * -------------------
 * See slirp_egress.h for the model. Inside:
 *
 *   to slirp    tcb_output() / zt_slirp_dgram_send() build an IPv4 packet
 *               behind a 14-byte Ethernet header in e->tx and call
 *               slirp_input(). libslirp may answer at once (send_packet from
 *               inside slirp_input); that only copies the frame onto e->rxq.
 *   from slirp  pump() drains e->rxq: ARP is answered or learnt from, IPv4
 *               is parsed with zt_packet_parse(); TCP goes to the stream
 *               owning the destination guest port (zt_tcb_input), UDP is
 *               reported for the datagram socket owning it, an ICMP
 *               unreachable fails the stream it quotes.
 *   reports     pump() then walks the streams with work (tcb events, data
 *               the sink has not taken, a pending EOF) and reports. A report
 *               may re-enter the ops (send, close, ...): a stream is pinned
 *               by `busy` while it is reported and freed only by reap().
 *               Reporting may queue more frames, so pump() loops until idle.
 *
 * Ownership: the egress owns libslirp, the frame queue, the timers libslirp
 * creates through its callbacks, every stream (its tcb) and every datagram
 * socket. A stream is freed when it failed (reported, the core forgets it),
 * or when the core closed it and its tcb reached CLOSED; a stream closed
 * with unread data is aborted (RST), otherwise closing sends FIN and the tcb
 * lingers until its orderly close completes. A close from inside the data
 * report is decided once the report returns: the bytes the sink took are
 * read by then, not unread data. Handles are slot indices.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slirp/slirp_egress.h"
#include "ztun/icmp_wire.h"
#include "ztun/ip4.h"
#include "ztun/packet.h"
#include "ztun/rng.h"
#include "ztun/router.h"
#include "ztun/udp_wire.h"

/* Built with libslirp when its header is there (cppcheck: analyse that). */
#if defined(__CPPCHECK__)
#define ZT_HAVE_SLIRP 1
#elif defined(__has_include)
/* cppcheck-suppress preprocessorErrorDirective */
#if __has_include(<slirp/libslirp.h>)
#define ZT_HAVE_SLIRP 1
#endif
#endif

void zt_slirp_config_default(struct zt_slirp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->seed = 1;
	cfg->map_loopback = true;
	cfg->max_frames = 4096;
	zt_tcp_config_default(&cfg->tcp);
	cfg->tcp.mss = 1460;
	cfg->tcp.time_wait = 2 * ZT_SEC;
}

/* Reports to a zt_router. */
static void rt_connected(void *sink, void *cookie, uint64_t now)
{
	zt_router_stream_connected(sink, cookie, now);
}

static void rt_failed(void *sink, void *cookie, int err, uint64_t now)
{
	zt_router_stream_failed(sink, cookie, err, now);
}

static size_t rt_data(void *sink, void *cookie, const uint8_t *data,
		      size_t len, uint64_t now)
{
	return zt_router_stream_data(sink, cookie, data, len, now);
}

static void rt_eof(void *sink, void *cookie, uint64_t now)
{
	zt_router_stream_eof(sink, cookie, now);
}

static void rt_writable(void *sink, void *cookie, uint64_t now)
{
	zt_router_stream_writable(sink, cookie, now);
}

static void rt_dgram_data(void *sink, void *cookie,
			  const struct zt_endpoint *from, const uint8_t *data,
			  size_t len, uint64_t now)
{
	zt_router_dgram_data(sink, cookie, from, data, len, now);
}

static const struct zt_slirp_sink router_sink = {
	.connected = rt_connected,
	.failed = rt_failed,
	.data = rt_data,
	.eof = rt_eof,
	.writable = rt_writable,
	.dgram_data = rt_dgram_data,
};

static int op_stream_open(void *host, const struct zt_endpoint *ep,
			  unsigned flags, void *cookie, uint64_t now)
{
	return zt_slirp_stream_open(host, ep, flags, cookie, now);
}

static ssize_t op_stream_send(void *host, int handle, const void *data,
			      size_t len)
{
	return zt_slirp_stream_send(host, handle, data, len);
}

static void op_stream_shutdown(void *host, int handle)
{
	zt_slirp_stream_shutdown(host, handle);
}

static void op_stream_close(void *host, int handle, bool abort)
{
	zt_slirp_stream_close(host, handle, abort);
}

static void op_stream_resume(void *host, int handle)
{
	zt_slirp_stream_resume(host, handle);
}

static int op_dgram_open(void *host, uint8_t family, uint16_t port,
			 unsigned flags, void *cookie, uint64_t now)
{
	return zt_slirp_dgram_open(host, family, port, flags, cookie, now);
}

static int op_dgram_send(void *host, int handle, const struct zt_endpoint *to,
			 const void *data, size_t len)
{
	return zt_slirp_dgram_send(host, handle, to, data, len);
}

static void op_dgram_close(void *host, int handle)
{
	zt_slirp_dgram_close(host, handle);
}

const struct zt_upstream_ops zt_slirp_upstream_ops = {
	.stream_open = op_stream_open,
	.stream_send = op_stream_send,
	.stream_shutdown = op_stream_shutdown,
	.stream_close = op_stream_close,
	.stream_resume = op_stream_resume,
	.dgram_open = op_dgram_open,
	.dgram_send = op_dgram_send,
	.dgram_close = op_dgram_close,
};

#ifdef ZT_HAVE_SLIRP

#include <slirp/libslirp.h>

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ARP_LEN 28
#define FRAME_MAX 2048            /* slirp's MTU 1500 + Ethernet, rounded */
#define SLIRP_MTU 1500
#define PORT_LO 49152u
#define PORT_SPAN 16384u

static const uint8_t GUEST4[4] = { 10, 0, 2, 15 };
static const uint8_t GATEWAY4[4] = { 10, 0, 2, 2 };
static const uint8_t LOOPBACK4[4] = { 127, 0, 0, 1 };
/* Locally administered, like QEMU's default guest MAC. */
static const uint8_t OUR_MAC[6] = { 0x52, 0x54, 0x00, 0x7a, 0x74, 0x01 };
static const uint8_t BCAST_MAC[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

struct frame {
	struct frame *next;
	size_t len;
	uint8_t data[];
};

struct stimer {
	struct stimer *next;
	struct zt_slirp_egress *e;
	bool opaque_kind;          /* timer_new_opaque (id) or timer_new (cb) */
	SlirpTimerId id;
	SlirpTimerCb cb;
	void *cb_opaque;
	bool armed;
	uint64_t expire;           /* ns */
};

struct stream {
	struct zt_slirp_egress *e;
	int handle;
	void *cookie;              /* the core's; meaningless once closed */
	struct zt_tcb tcb;
	struct zt_addr raddr;      /* on the slirp side (after mapping) */
	uint16_t lport;
	uint32_t ev;               /* events taken, not yet reported */
	int fail_err;              /* an ICMP error to report as failure */
	unsigned busy;             /* pinned while being reported */
	bool connected;            /* reported */
	bool paused;               /* the sink took less; wait for resume */
	bool want_writable;        /* send took less; report writable */
	bool peer_fin;
	bool eof_reported;
	bool closed;               /* the core closed it: no more reports */
	bool lending;              /* inside the data report (bytes lent) */
	bool close_abort;          /* closed while lending: with a RST */
	bool dead;                 /* failure reported: free at reap */
};

struct dgram {
	void *cookie;
	uint16_t lport;
};

struct zt_slirp_egress {
	struct zt_slirp_config cfg;
	Slirp *slirp;
	uint64_t now;
	struct zt_rng rng;
	const struct zt_slirp_sink *sink_ops;
	void *sink;

	uint8_t peer_mac[6];
	bool peer_mac_known;
	struct zt_addr guest, gateway;
	uint16_t ip_id;
	uint8_t tx[FRAME_MAX];

	struct frame *rxq_head, **rxq_tail;
	uint32_t rxq_len;

	struct stimer *timers;

	struct stream **streams;   /* by handle */
	size_t nstreams;           /* slots */
	struct dgram **dgrams;
	size_t ndgrams;
	uint16_t next_port;        /* offset in [0, PORT_SPAN) */

	struct pollfd *pfds;
	size_t npfds, cap_pfds;
	uint64_t slirp_deadline;   /* from slirp's poll timeout */

	bool pumping;
	bool kick;                 /* work for the pump without a frame */
	struct zt_slirp_stats stats;
};

bool zt_slirp_available(void)
{
	return true;
}

/* --- to slirp -------------------------------------------------------------- */

static void eth_send(struct zt_slirp_egress *e, uint8_t *f, size_t len,
		     uint16_t type)
{
	memcpy(f, e->peer_mac_known ? e->peer_mac : BCAST_MAC, 6);
	memcpy(f + 6, OUR_MAC, 6);
	zt_wr16(f + 12, type);
	e->stats.frames_out++;
	slirp_input(e->slirp, f, (int)len);
}

/* Send the @l4_len bytes at e->tx + ETH_HLEN + 20 to @dst as @proto. */
static void ip_send(struct zt_slirp_egress *e, const struct zt_addr *dst,
		    uint8_t proto, size_t l4_len)
{
	struct zt_ip4_repr ip;
	int hl;

	memset(&ip, 0, sizeof(ip));
	ip.ttl = 64;
	ip.protocol = proto;
	ip.dont_frag = true;
	ip.ident = e->ip_id++;
	memcpy(ip.src, e->guest.bytes, 4);
	memcpy(ip.dst, dst->bytes, 4);
	hl = zt_ip4_emit(&ip, l4_len, e->tx + ETH_HLEN, sizeof(e->tx) - ETH_HLEN);
	if (hl != ZT_IP4_MIN_HDR) {
		e->stats.frames_dropped++;
		return;
	}
	eth_send(e, e->tx, ETH_HLEN + ZT_IP4_MIN_HDR + l4_len, ETH_P_IP);
}

static uint8_t *l4_buf(struct zt_slirp_egress *e)
{
	return e->tx + ETH_HLEN + ZT_IP4_MIN_HDR;
}

#define L4_CAP (FRAME_MAX - ETH_HLEN - ZT_IP4_MIN_HDR)

static void tcp_send_repr(struct zt_slirp_egress *e, const struct zt_addr *dst,
			  const struct zt_tcp_repr *r, const uint8_t *d1,
			  size_t l1, const uint8_t *d2, size_t l2)
{
	uint8_t *seg = l4_buf(e);
	int hl = zt_tcp_header_len(r), n;

	if (hl < 0 || (size_t)hl + l1 + l2 > L4_CAP ||
	    ETH_HLEN + ZT_IP4_MIN_HDR + (size_t)hl + l1 + l2 > ETH_HLEN + SLIRP_MTU) {
		e->stats.frames_dropped++;
		return;
	}
	if (l1)
		memcpy(seg + hl, d1, l1);
	if (l2)
		memcpy(seg + hl + l1, d2, l2);
	n = zt_tcp_emit(r, &e->guest, dst, seg + hl, l1 + l2, seg, L4_CAP);
	if (n < 0) {
		e->stats.frames_dropped++;
		return;
	}
	ip_send(e, dst, ZT_IPPROTO_TCP, (size_t)n);
}

/* The tcb's output: never calls back into the tcb (slirp's answers queue). */
static void tcb_output(void *ctx, struct zt_tcb *tcb,
		       const struct zt_tcp_repr *r, const uint8_t *d1,
		       size_t l1, const uint8_t *d2, size_t l2)
{
	struct stream *s = ctx;

	(void)tcb;
	tcp_send_repr(s->e, &s->raddr, r, d1, l1, d2, l2);
}

static const struct zt_tcp_ops stream_tcp_ops = { .output = tcb_output };

static void arp_send(struct zt_slirp_egress *e, uint16_t op,
		     const uint8_t tha[6], const uint8_t tpa[4])
{
	uint8_t f[60];
	uint8_t *a = f + ETH_HLEN;

	memset(f, 0, sizeof(f));
	zt_wr16(a, 1);             /* Ethernet */
	zt_wr16(a + 2, ETH_P_IP);
	a[4] = 6;
	a[5] = 4;
	zt_wr16(a + 6, op);
	memcpy(a + 8, OUR_MAC, 6);
	memcpy(a + 14, e->guest.bytes, 4);
	memcpy(a + 18, tha, 6);
	memcpy(a + 24, tpa, 4);
	eth_send(e, f, sizeof(f), ETH_P_ARP);
}

/* --- from slirp ------------------------------------------------------------ */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct zt_slirp_egress *e = opaque;
	struct frame *f;

	if (e->rxq_len >= e->cfg.max_frames || len > FRAME_MAX) {
		e->stats.frames_dropped++;
		return (ssize_t)len; /* dropped: slirp's TCP retransmits */
	}
	f = malloc(sizeof(*f) + len);
	if (!f) {
		e->stats.frames_dropped++;
		return (ssize_t)len;
	}
	f->next = NULL;
	f->len = len;
	memcpy(f->data, buf, len);
	*e->rxq_tail = f;
	e->rxq_tail = &f->next;
	e->rxq_len++;
	return (ssize_t)len;
}

static struct stream *stream_by_port(struct zt_slirp_egress *e, uint16_t port)
{
	for (size_t i = 0; i < e->nstreams; i++)
		if (e->streams[i] && e->streams[i]->lport == port &&
		    !e->streams[i]->dead)
			return e->streams[i];
	return NULL;
}

static struct dgram *dgram_by_port(struct zt_slirp_egress *e, uint16_t port)
{
	for (size_t i = 0; i < e->ndgrams; i++)
		if (e->dgrams[i] && e->dgrams[i]->lport == port)
			return e->dgrams[i];
	return NULL;
}

static void arp_input(struct zt_slirp_egress *e, const uint8_t *f, size_t len)
{
	const uint8_t *a = f + ETH_HLEN;
	uint16_t op;

	if (len < ETH_HLEN + ARP_LEN || zt_rd16(a) != 1 ||
	    zt_rd16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4) {
		e->stats.frames_dropped++;
		return;
	}
	op = zt_rd16(a + 6);
	if (memcmp(a + 14, e->gateway.bytes, 4) == 0) {
		memcpy(e->peer_mac, a + 8, 6);
		e->peer_mac_known = true;
	}
	if (op == 1 && memcmp(a + 24, e->guest.bytes, 4) == 0) {
		arp_send(e, 2, a + 8, a + 14);
		e->stats.arp_replies++;
	}
}

static void tcp_input(struct zt_slirp_egress *e, const struct zt_packet *pk)
{
	const struct zt_tcp_repr *seg = &pk->l4.tcp;
	struct stream *s = stream_by_port(e, seg->dst_port);
	struct zt_tcp_repr rst;

	if (s && s->tcb.state != ZT_TCP_CLOSED &&
	    zt_addr_eq(&pk->src, &s->raddr) && seg->src_port == s->tcb.remote_port) {
		zt_tcb_input(&s->tcb, seg, pk->payload, e->now);
		return;
	}
	e->stats.tcp_no_stream++;
	if (zt_tcp_reply_rst(seg, pk->payload.len, &rst))
		tcp_send_repr(e, &pk->src, &rst, NULL, 0, NULL, 0);
}

static struct zt_addr map_from_slirp(const struct zt_slirp_egress *e,
				     const struct zt_addr *a)
{
	if (e->cfg.map_loopback && zt_addr_eq(a, &e->gateway))
		return zt_addr_v4(LOOPBACK4);
	return *a;
}

static void udp_input(struct zt_slirp_egress *e, const struct zt_packet *pk)
{
	struct dgram *d = dgram_by_port(e, pk->l4.udp.dst_port);
	struct zt_endpoint from;

	if (!d) {
		e->stats.udp_no_socket++;
		return;
	}
	memset(&from, 0, sizeof(from));
	from.addr = map_from_slirp(e, &pk->src);
	from.port = pk->l4.udp.src_port;
	if (e->sink_ops && e->sink_ops->dgram_data)
		e->sink_ops->dgram_data(e->sink, d->cookie, &from,
					pk->payload.data, pk->payload.len, e->now);
	/* @d may be closed and freed by now. */
}

static void icmp_input(struct zt_slirp_egress *e, const struct zt_packet *pk)
{
	struct zt_icmp_quote q;
	struct stream *s;

	if (pk->l4.icmp.kind != ZT_ICMP_DEST_UNREACH &&
	    pk->l4.icmp.kind != ZT_ICMP_TIME_EXCEEDED)
		return;
	if (zt_icmp_parse_quote(pk->payload, &q) != ZT_DROP_NONE ||
	    !q.has_ports || q.proto != ZT_IPPROTO_TCP)
		return;
	s = stream_by_port(e, q.src_port);
	if (!s || s->closed || s->connected)
		return; /* only a connect attempt fails on an ICMP error */
	switch (pk->l4.icmp.code) {
	case 0:
		s->fail_err = -ENETUNREACH;
		break;
	case 3:
		s->fail_err = -ECONNREFUSED;
		break;
	case 9: case 10: case 13:
		s->fail_err = -EACCES;
		break;
	default:
		s->fail_err = -EHOSTUNREACH;
		break;
	}
}

static void frame_input(struct zt_slirp_egress *e, const uint8_t *f, size_t len)
{
	struct zt_packet pk;
	uint16_t type;

	e->stats.frames_in++;
	if (len < ETH_HLEN) {
		e->stats.frames_dropped++;
		return;
	}
	type = zt_rd16(f + 12);
	if (type == ETH_P_ARP) {
		arp_input(e, f, len);
		return;
	}
	if (type != ETH_P_IP) {
		e->stats.frames_dropped++;
		return;
	}
	memcpy(e->peer_mac, f + 6, 6);
	e->peer_mac_known = true;
	if (zt_packet_parse(zt_view_make(f + ETH_HLEN, len - ETH_HLEN), 0, &pk) !=
	    ZT_DROP_NONE || !zt_addr_eq(&pk.dst, &e->guest)) {
		e->stats.frames_dropped++;
		return;
	}
	if (pk.is_fragment) {
		e->stats.fragments_dropped++;
		return;
	}
	if (pk.proto == ZT_IPPROTO_TCP)
		tcp_input(e, &pk);
	else if (pk.proto == ZT_IPPROTO_UDP)
		udp_input(e, &pk);
	else if (pk.proto == ZT_IPPROTO_ICMP)
		icmp_input(e, &pk);
}

/* --- streams: reports and lifetime ----------------------------------------- */

static void stream_free(struct zt_slirp_egress *e, struct stream *s)
{
	e->streams[s->handle] = NULL;
	zt_tcb_destroy(&s->tcb);
	free(s);
}

/* Free what nobody will report on again. */
static void reap(struct zt_slirp_egress *e)
{
	for (size_t i = 0; i < e->nstreams; i++) {
		struct stream *s = e->streams[i];

		if (!s || s->busy)
			continue;
		if (s->dead || (s->closed && s->tcb.state == ZT_TCP_CLOSED))
			stream_free(e, s);
	}
}

static int reset_errno(const struct zt_tcb *t)
{
	switch (t->reset_reason) {
	case ZT_TCP_RESET_REFUSED:
		return -ECONNREFUSED;
	case ZT_TCP_RESET_TIMEOUT:
	case ZT_TCP_RESET_KEEPALIVE:
	case ZT_TCP_RESET_FIN_WAIT_2:
		return -ETIMEDOUT;
	default:
		return -ECONNRESET;
	}
}

static void report_failed(struct zt_slirp_egress *e, struct stream *s, int err)
{
	s->dead = true;
	if (s->tcb.state != ZT_TCP_CLOSED)
		zt_tcb_abort(&s->tcb, e->now);
	if (!s->closed && e->sink_ops && e->sink_ops->failed)
		e->sink_ops->failed(e->sink, s->cookie, err, e->now);
}

static bool stream_has_work(const struct stream *s)
{
	if (s->dead)
		return false;
	if (s->tcb.events || s->ev || s->fail_err)
		return true;
	if (s->closed || !s->connected)
		return false;
	if (!s->paused && zt_tcb_recv_len(&s->tcb))
		return true;
	return s->peer_fin && !s->eof_reported;
}

/* The core closed @s: a RST when asked or when bytes are left unread
 * (RFC 1122 4.2.2.13) or it never connected, else a FIN after the rest. */
static void close_tcb(struct zt_slirp_egress *e, struct stream *s, bool abort)
{
	if (abort || zt_tcb_recv_len(&s->tcb) || s->tcb.state == ZT_TCP_SYN_SENT)
		zt_tcb_abort(&s->tcb, e->now);
	else if (!s->tcb.fin_queued && s->tcb.state != ZT_TCP_CLOSED)
		zt_tcb_shutdown(&s->tcb, e->now);
}

/* Report what happened on @s; @s is pinned by the caller. */
static void stream_dispatch(struct zt_slirp_egress *e, struct stream *s)
{
	const struct zt_slirp_sink *k = e->sink_ops;
	uint32_t ev = s->ev | zt_tcb_events(&s->tcb);

	s->ev = 0;
	if (s->closed) {
		/* Only the orderly end of a lingering close is left. */
		if (zt_tcb_recv_len(&s->tcb))
			zt_tcb_abort(&s->tcb, e->now);
		return;
	}
	if (s->fail_err) {
		report_failed(e, s, s->fail_err);
		return;
	}
	if (ev & ZT_TCP_EV_RESET) {
		report_failed(e, s, reset_errno(&s->tcb));
		return;
	}
	if ((ev & ZT_TCP_EV_CONNECTED) && !s->connected) {
		s->connected = true;
		if (k && k->connected)
			k->connected(e->sink, s->cookie, e->now);
		if (s->closed || s->dead)
			return;
	}
	if (ev & ZT_TCP_EV_PEER_FIN)
		s->peer_fin = true;
	if (!s->connected)
		return;
	while (!s->paused && k && k->data) {
		const uint8_t *p;
		size_t n = zt_tcb_recv_peek(&s->tcb, 0, &p), took;

		if (n == 0)
			break;
		s->lending = true;
		took = k->data(e->sink, s->cookie, p, n, e->now);
		s->lending = false;
		if (s->dead)
			return;
		if (took > n)
			took = n;
		if (took < n)
			s->paused = true;
		if (took)
			zt_tcb_recv_consume(&s->tcb, took, e->now);
		if (s->closed) {
			/* Closed from the report: what it took is read. */
			close_tcb(e, s, s->close_abort);
			return;
		}
	}
	if (s->peer_fin && !s->eof_reported && zt_tcb_recv_len(&s->tcb) == 0) {
		s->eof_reported = true;
		if (k && k->eof)
			k->eof(e->sink, s->cookie, e->now);
		if (s->closed || s->dead)
			return;
	}
	if ((ev & ZT_TCP_EV_WRITABLE) && s->want_writable &&
	    zt_tcb_send_space(&s->tcb)) {
		s->want_writable = false;
		if (k && k->writable)
			k->writable(e->sink, s->cookie, e->now);
	}
}

/* Drain slirp's frames and report, until nothing moves. */
static void pump(struct zt_slirp_egress *e)
{
	bool progress = true;

	if (e->pumping)
		return;
	e->pumping = true;
	e->kick = false;
	for (unsigned round = 0; progress && round < 100000; round++) {
		progress = false;
		while (e->rxq_head) {
			struct frame *f = e->rxq_head;

			e->rxq_head = f->next;
			if (!e->rxq_head)
				e->rxq_tail = &e->rxq_head;
			e->rxq_len--;
			frame_input(e, f->data, f->len);
			free(f);
			progress = true;
		}
		for (size_t i = 0; i < e->nstreams; i++) {
			struct stream *s = e->streams[i];

			if (!s || !stream_has_work(s))
				continue;
			s->busy++;
			stream_dispatch(e, s);
			s->busy--;
			progress = true;
		}
		reap(e);
	}
	e->pumping = false;
}

/* --- slirp callbacks ------------------------------------------------------- */

static void cb_guest_error(const char *msg, void *opaque)
{
	struct zt_slirp_egress *e = opaque;

	e->stats.guest_errors++;
	if (getenv("ZT_SLIRP_DEBUG"))
		fprintf(stderr, "slirp: guest error: %s\n", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	const struct zt_slirp_egress *e = opaque;

	return (int64_t)e->now;
}

static struct stimer *timer_add(struct zt_slirp_egress *e)
{
	struct stimer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->e = e;
	t->next = e->timers;
	e->timers = t;
	return t;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct stimer *t = timer_add(opaque);

	if (t) {
		t->cb = cb;
		t->cb_opaque = cb_opaque;
	}
	return t;
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct stimer *t = timer_add(opaque);

	if (t) {
		t->opaque_kind = true;
		t->id = id;
		t->cb_opaque = cb_opaque;
	}
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct zt_slirp_egress *e = opaque;
	struct stimer **pp;

	for (pp = &e->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = ((struct stimer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct stimer *t = timer;

	(void)opaque;
	t->armed = true;
	t->expire = expire_ms < 0 ? 0 : (uint64_t)expire_ms * ZT_MS;
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque; /* every fd comes through slirp_pollfds_fill() anyway */
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

static void cb_notify(void *opaque)
{
	struct zt_slirp_egress *e = opaque;

	e->kick = true;
}

static void cb_init_completed(Slirp *slirp, void *opaque)
{
	(void)slirp;
	(void)opaque;
}

static const SlirpCb slirp_cbs = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
	.init_completed = cb_init_completed,
	.timer_new_opaque = cb_timer_new_opaque,
};

static int cb_add_poll(int fd, int events, void *opaque)
{
	struct zt_slirp_egress *e = opaque;
	struct pollfd *p;
	short ev = 0;

	if (e->npfds == e->cap_pfds) {
		size_t cap = e->cap_pfds ? 2 * e->cap_pfds : 16;

		p = realloc(e->pfds, cap * sizeof(*p));
		if (!p)
			return -1;
		e->pfds = p;
		e->cap_pfds = cap;
	}
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	p = &e->pfds[e->npfds];
	p->fd = fd;
	p->events = ev;
	p->revents = 0;
	return (int)e->npfds++;
}

static int cb_get_revents(int idx, void *opaque)
{
	const struct zt_slirp_egress *e = opaque;
	short rev;
	int out = 0;

	if (idx < 0 || (size_t)idx >= e->npfds)
		return 0;
	rev = e->pfds[idx].revents;
	if (rev & POLLIN)
		out |= SLIRP_POLL_IN;
	if (rev & POLLOUT)
		out |= SLIRP_POLL_OUT;
	if (rev & POLLPRI)
		out |= SLIRP_POLL_PRI;
	if (rev & (POLLERR | POLLNVAL))
		out |= SLIRP_POLL_ERR;
	if (rev & POLLHUP)
		out |= SLIRP_POLL_HUP;
	return out;
}

/* --- lifetime -------------------------------------------------------------- */

struct zt_slirp_egress *zt_slirp_egress_new(const struct zt_slirp_config *cfg,
					    uint64_t now)
{
	struct zt_slirp_egress *e = calloc(1, sizeof(*e));
	SlirpConfig sc;

	if (!e)
		return NULL;
	e->cfg = *cfg;
	if (!e->cfg.max_frames)
		e->cfg.max_frames = 4096;
	if (!e->cfg.tcp.mss || e->cfg.tcp.mss > SLIRP_MTU - 40)
		e->cfg.tcp.mss = SLIRP_MTU - 40;
	e->now = now;
	zt_rng_seed(&e->rng, cfg->seed);
	e->next_port = (uint16_t)zt_rng_below(&e->rng, PORT_SPAN);
	e->ip_id = (uint16_t)zt_rng_next(&e->rng);
	e->guest = zt_addr_v4(GUEST4);
	e->gateway = zt_addr_v4(GATEWAY4);
	e->rxq_tail = &e->rxq_head;
	e->slirp_deadline = ZT_TIME_NEVER;

	memset(&sc, 0, sizeof(sc));
	sc.version = 4;
	sc.restricted = 0;
	sc.in_enabled = true;
	sc.vnetwork.s_addr = htonl(0x0a000200);   /* 10.0.2.0 */
	sc.vnetmask.s_addr = htonl(0xffffff00);
	sc.vhost.s_addr = htonl(0x0a000202);      /* 10.0.2.2 */
	sc.vdhcp_start.s_addr = htonl(0x0a00020f); /* 10.0.2.15 */
	sc.vnameserver.s_addr = htonl(0x0a000203); /* 10.0.2.3, unused */
	sc.in6_enabled = false;
	sc.if_mtu = SLIRP_MTU;
	sc.if_mru = SLIRP_MTU;
	sc.disable_host_loopback = false;
	sc.enable_emu = false;
	sc.disable_dns = true;
	sc.disable_dhcp = true;
	e->slirp = slirp_new(&sc, &slirp_cbs, e);
	if (!e->slirp) {
		free(e);
		return NULL;
	}
	/* Tell slirp our MAC and learn its own: who-has 10.0.2.2. */
	{
		static const uint8_t zero_mac[6];

		arp_send(e, 1, zero_mac, GATEWAY4);
	}
	pump(e);
	return e;
}

void zt_slirp_egress_free(struct zt_slirp_egress *e)
{
	if (!e)
		return;
	e->sink_ops = NULL; /* nothing is reported from here on */
	for (size_t i = 0; i < e->nstreams; i++) {
		struct stream *s = e->streams[i];

		if (!s)
			continue;
		if (s->tcb.state != ZT_TCP_CLOSED)
			zt_tcb_abort(&s->tcb, e->now);
		stream_free(e, s);
	}
	for (size_t i = 0; i < e->ndgrams; i++)
		free(e->dgrams[i]);
	slirp_cleanup(e->slirp);
	while (e->rxq_head) {
		struct frame *f = e->rxq_head;

		e->rxq_head = f->next;
		free(f);
	}
	while (e->timers) {
		struct stimer *t = e->timers;

		e->timers = t->next;
		free(t);
	}
	free(e->streams);
	free(e->dgrams);
	free(e->pfds);
	free(e);
}

void zt_slirp_egress_set_sink(struct zt_slirp_egress *e,
			      const struct zt_slirp_sink *sink_ops, void *sink)
{
	e->sink_ops = sink_ops;
	e->sink = sink;
}

void zt_slirp_egress_set_router(struct zt_slirp_egress *e, struct zt_router *r)
{
	zt_slirp_egress_set_sink(e, &router_sink, r);
}

/* --- ops ------------------------------------------------------------------- */

static bool port_in_use(const struct zt_slirp_egress *e, bool tcp, uint16_t port)
{
	if (tcp) {
		for (size_t i = 0; i < e->nstreams; i++)
			if (e->streams[i] && e->streams[i]->lport == port)
				return true;
		return false;
	}
	for (size_t i = 0; i < e->ndgrams; i++)
		if (e->dgrams[i] && e->dgrams[i]->lport == port)
			return true;
	return false;
}

/* A free guest port for @tcp or UDP, or 0. */
static uint16_t port_alloc(struct zt_slirp_egress *e, bool tcp)
{
	for (unsigned i = 0; i < PORT_SPAN; i++) {
		uint16_t p = (uint16_t)(PORT_LO + e->next_port);

		e->next_port = (uint16_t)((e->next_port + 1) % PORT_SPAN);
		if (!port_in_use(e, tcp, p))
			return p;
	}
	return 0;
}

/* A free slot index in *@slots (grown as needed), or -ENOMEM. */
static int slot_alloc(void ***slots, size_t *n)
{
	size_t old = *n, cap;
	void **p;

	for (size_t i = 0; i < *n; i++)
		if (!(*slots)[i])
			return (int)i;
	if (*n >= 65536)
		return -ENOMEM;
	cap = *n ? 2 * *n : 16;
	p = realloc(*slots, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + old, 0, (cap - old) * sizeof(*p));
	*slots = p;
	*n = cap;
	return (int)old;
}

/* Where @ep is on slirp's side; -EINVAL (name) or -EAFNOSUPPORT (IPv6). */
static int map_to_slirp(const struct zt_slirp_egress *e,
			const struct zt_endpoint *ep, struct zt_addr *out)
{
	static const uint8_t any4[4];
	struct zt_addr any = zt_addr_v4(any4);

	if (ep->name[0])
		return -EINVAL;
	if (ep->addr.family != ZT_AF_INET)
		return -EAFNOSUPPORT;
	if (zt_addr_eq(&ep->addr, &any) || !ep->port)
		return -EINVAL;
	*out = ep->addr;
	if (e->cfg.map_loopback && memcmp(ep->addr.bytes, LOOPBACK4, 4) == 0)
		*out = e->gateway;
	return 0;
}

static struct stream *stream_get(const struct zt_slirp_egress *e, int handle)
{
	struct stream *s;

	if (handle < 0 || (size_t)handle >= e->nstreams)
		return NULL;
	s = e->streams[handle];
	return s && !s->closed && !s->dead ? s : NULL;
}

int zt_slirp_stream_open(struct zt_slirp_egress *e,
			 const struct zt_endpoint *ep, unsigned flags,
			 void *cookie, uint64_t now)
{
	struct stream *s;
	struct zt_addr dst;
	uint16_t lport;
	int h, rc;

	(void)flags; /* slirp's sockets never loop into the TUN */
	e->now = now;
	rc = map_to_slirp(e, ep, &dst);
	if (rc < 0)
		return rc;
	lport = port_alloc(e, true);
	if (!lport)
		return -EADDRNOTAVAIL;
	h = slot_alloc((void ***)&e->streams, &e->nstreams);
	if (h < 0)
		return h;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (zt_tcb_init(&s->tcb, &e->cfg.tcp, &stream_tcp_ops, s) < 0) {
		free(s);
		return -ENOMEM;
	}
	s->e = e;
	s->handle = h;
	s->cookie = cookie;
	s->raddr = dst;
	s->lport = lport;
	e->streams[h] = s;
	zt_tcb_open_active(&s->tcb, lport, ep->port, zt_rng_u32(&e->rng), now);
	return h;
}

ssize_t zt_slirp_stream_send(struct zt_slirp_egress *e, int handle,
			     const void *data, size_t len)
{
	struct stream *s = stream_get(e, handle);
	size_t n;

	if (!s)
		return -EBADF;
	switch (s->tcb.state) {
	case ZT_TCP_SYN_SENT:
	case ZT_TCP_ESTABLISHED:
	case ZT_TCP_CLOSE_WAIT:
		break;
	default:
		return -EPIPE;
	}
	if (s->tcb.fin_queued)
		return -EPIPE;
	n = zt_tcb_send(&s->tcb, data, len, e->now);
	if (n < len)
		s->want_writable = true;
	return (ssize_t)n;
}

void zt_slirp_stream_shutdown(struct zt_slirp_egress *e, int handle)
{
	struct stream *s = stream_get(e, handle);

	if (s && !s->tcb.fin_queued && s->tcb.state != ZT_TCP_CLOSED)
		zt_tcb_shutdown(&s->tcb, e->now);
}

void zt_slirp_stream_close(struct zt_slirp_egress *e, int handle, bool abort)
{
	struct stream *s = stream_get(e, handle);

	if (!s)
		return;
	s->closed = true;
	s->cookie = NULL;
	if (s->lending) {
		/* From the data report: the bytes it was lent still count as
		 * unread until it returns how many it took; decided then. */
		s->close_abort = abort;
		return;
	}
	close_tcb(e, s, abort);
	if (!s->busy && s->tcb.state == ZT_TCP_CLOSED)
		stream_free(e, s);
}

void zt_slirp_stream_resume(struct zt_slirp_egress *e, int handle)
{
	struct stream *s = stream_get(e, handle);

	if (s && s->paused) {
		s->paused = false;
		e->kick = true;
	}
}

int zt_slirp_dgram_open(struct zt_slirp_egress *e, uint8_t family,
			uint16_t port, unsigned flags, void *cookie,
			uint64_t now)
{
	struct dgram *d;
	int h;

	e->now = now;
	if (family != ZT_AF_INET)
		return -EAFNOSUPPORT;
	/* No ICMP echo sockets here (upstream.h: such a host fails the
	 * open): a UDP port would take the pings and send none. */
	if (flags & ZT_UPSTREAM_ICMP_ECHO)
		return -EOPNOTSUPP;
	if (port && port_in_use(e, false, port))
		return -EADDRINUSE;
	if (!port)
		port = port_alloc(e, false);
	if (!port)
		return -EADDRNOTAVAIL;
	h = slot_alloc((void ***)&e->dgrams, &e->ndgrams);
	if (h < 0)
		return h;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cookie = cookie;
	d->lport = port;
	e->dgrams[h] = d;
	return h;
}

int zt_slirp_dgram_send(struct zt_slirp_egress *e, int handle,
			const struct zt_endpoint *to, const void *data,
			size_t len)
{
	struct zt_udp_repr u;
	struct zt_addr dst;
	struct dgram *d;
	int rc, n;

	if (handle < 0 || (size_t)handle >= e->ndgrams || !e->dgrams[handle])
		return -EBADF;
	d = e->dgrams[handle];
	rc = map_to_slirp(e, to, &dst);
	if (rc < 0)
		return rc;
	if (len > SLIRP_MTU - ZT_IP4_MIN_HDR - ZT_UDP_HDR)
		return -EMSGSIZE;
	u.src_port = d->lport;
	u.dst_port = to->port;
	n = zt_udp_emit(&u, &e->guest, &dst, data, len, l4_buf(e), L4_CAP);
	if (n < 0)
		return n;
	ip_send(e, &dst, ZT_IPPROTO_UDP, (size_t)n);
	return 0;
}

void zt_slirp_dgram_close(struct zt_slirp_egress *e, int handle)
{
	if (handle < 0 || (size_t)handle >= e->ndgrams)
		return;
	free(e->dgrams[handle]);
	e->dgrams[handle] = NULL;
}

/* --- the host loop --------------------------------------------------------- */

size_t zt_slirp_egress_pollfds(struct zt_slirp_egress *e, struct pollfd **fds,
			       uint64_t now)
{
	uint32_t timeout = UINT32_MAX;

	e->now = now;
	e->npfds = 0;
	slirp_pollfds_fill(e->slirp, &timeout, cb_add_poll, e);
	e->slirp_deadline = timeout == UINT32_MAX ? ZT_TIME_NEVER :
			    now + (uint64_t)timeout * ZT_MS;
	*fds = e->pfds;
	return e->npfds;
}

void zt_slirp_egress_pollfds_done(struct zt_slirp_egress *e, int poll_rc,
				  uint64_t now)
{
	e->now = now;
	slirp_pollfds_poll(e->slirp, poll_rc < 0, cb_get_revents, e);
	e->npfds = 0;
	e->slirp_deadline = ZT_TIME_NEVER;
	pump(e);
}

void zt_slirp_egress_poll(struct zt_slirp_egress *e, uint64_t now)
{
	bool fired = true;

	e->now = now;
	/* A timer callback may free or re-arm timers: rescan after each. */
	for (unsigned n = 0; fired && n < 64; n++) {
		struct stimer *t;

		fired = false;
		for (t = e->timers; t; t = t->next) {
			if (!t->armed || t->expire > now)
				continue;
			t->armed = false;
			if (t->opaque_kind)
				slirp_handle_timer(e->slirp, t->id, t->cb_opaque);
			else if (t->cb)
				t->cb(t->cb_opaque);
			fired = true;
			break;
		}
	}
	for (size_t i = 0; i < e->nstreams; i++) {
		struct stream *s = e->streams[i];

		if (s && !s->dead && zt_tcb_deadline(&s->tcb) <= now)
			zt_tcb_poll(&s->tcb, now);
	}
	pump(e);
}

uint64_t zt_slirp_egress_deadline(const struct zt_slirp_egress *e)
{
	uint64_t d = e->slirp_deadline;

	if (e->rxq_head || e->kick)
		return 0;
	for (const struct stimer *t = e->timers; t; t = t->next)
		if (t->armed && t->expire < d)
			d = t->expire;
	for (size_t i = 0; i < e->nstreams; i++) {
		const struct stream *s = e->streams[i];
		uint64_t td;

		if (!s)
			continue;
		if (stream_has_work(s))
			return 0;
		td = zt_tcb_deadline(&s->tcb);
		if (td < d)
			d = td;
	}
	return d;
}

size_t zt_slirp_egress_streams(const struct zt_slirp_egress *e)
{
	size_t n = 0;

	for (size_t i = 0; i < e->nstreams; i++)
		n += e->streams[i] != NULL;
	for (size_t i = 0; i < e->ndgrams; i++)
		n += e->dgrams[i] != NULL;
	return n;
}

const struct zt_slirp_stats *zt_slirp_egress_stats(const struct zt_slirp_egress *e)
{
	return &e->stats;
}

#else /* !ZT_HAVE_SLIRP: every constructor fails, nothing else is reachable */

struct zt_slirp_egress {
	struct zt_slirp_stats stats;
};

bool zt_slirp_available(void)
{
	return false;
}

struct zt_slirp_egress *zt_slirp_egress_new(const struct zt_slirp_config *cfg,
					    uint64_t now)
{
	(void)cfg;
	(void)now;
	return NULL;
}

void zt_slirp_egress_free(struct zt_slirp_egress *e)
{
	(void)e;
}

void zt_slirp_egress_set_sink(struct zt_slirp_egress *e,
			      const struct zt_slirp_sink *sink_ops, void *sink)
{
	(void)e;
	(void)sink_ops;
	(void)sink;
}

void zt_slirp_egress_set_router(struct zt_slirp_egress *e, struct zt_router *r)
{
	(void)e;
	(void)r;
	(void)router_sink;
}

int zt_slirp_stream_open(struct zt_slirp_egress *e,
			 const struct zt_endpoint *ep, unsigned flags,
			 void *cookie, uint64_t now)
{
	(void)e; (void)ep; (void)flags; (void)cookie; (void)now;
	return -ENOSYS;
}

ssize_t zt_slirp_stream_send(struct zt_slirp_egress *e, int handle,
			     const void *data, size_t len)
{
	(void)e; (void)handle; (void)data; (void)len;
	return -EBADF;
}

void zt_slirp_stream_shutdown(struct zt_slirp_egress *e, int handle)
{
	(void)e; (void)handle;
}

void zt_slirp_stream_close(struct zt_slirp_egress *e, int handle, bool abort)
{
	(void)e; (void)handle; (void)abort;
}

void zt_slirp_stream_resume(struct zt_slirp_egress *e, int handle)
{
	(void)e; (void)handle;
}

int zt_slirp_dgram_open(struct zt_slirp_egress *e, uint8_t family,
			uint16_t port, unsigned flags, void *cookie,
			uint64_t now)
{
	(void)e; (void)family; (void)port; (void)flags; (void)cookie; (void)now;
	return -ENOSYS;
}

int zt_slirp_dgram_send(struct zt_slirp_egress *e, int handle,
			const struct zt_endpoint *to, const void *data,
			size_t len)
{
	(void)e; (void)handle; (void)to; (void)data; (void)len;
	return -EBADF;
}

void zt_slirp_dgram_close(struct zt_slirp_egress *e, int handle)
{
	(void)e; (void)handle;
}

size_t zt_slirp_egress_pollfds(struct zt_slirp_egress *e, struct pollfd **fds,
			       uint64_t now)
{
	(void)e; (void)now;
	*fds = NULL;
	return 0;
}

void zt_slirp_egress_pollfds_done(struct zt_slirp_egress *e, int poll_rc,
				  uint64_t now)
{
	(void)e; (void)poll_rc; (void)now;
}

void zt_slirp_egress_poll(struct zt_slirp_egress *e, uint64_t now)
{
	(void)e; (void)now;
}

uint64_t zt_slirp_egress_deadline(const struct zt_slirp_egress *e)
{
	(void)e;
	return ZT_TIME_NEVER;
}

size_t zt_slirp_egress_streams(const struct zt_slirp_egress *e)
{
	(void)e;
	return 0;
}

const struct zt_slirp_stats *zt_slirp_egress_stats(const struct zt_slirp_egress *e)
{
	return &e->stats;
}

#endif /* ZT_HAVE_SLIRP */
