// SPDX-License-Identifier: MIT
/*
 * test_simfault.c - whole-path runs of ztun nodes in the simulator, with
 * seeded faults on the TUN wire, and the two TUN drivers of the simulator
 * (sim/engine/vtun.h, sim/io/tun_pcap.h).
 *
 * Theory of operation:
 *
 * A "world" is one struct zt_sim. A node is what a ztun process is: a
 * zt_router whose TUN is a struct zt_tun_driver (here a vtun, whose two
 * zt_links carry the faults) and whose upstream is a vnet with emulated
 * servers (vhosts.h). Behind each vtun sits an emulated client host: a set
 * of real zt_tcb endpoints (struct cli) that emit through the vtun's
 * inject side and are fed what the link delivers. Nothing is re-entered:
 * links deliver through loop events, the vtun tells the node it is
 * readable from such an event, and the node reads its driver until -EAGAIN.
 *
 * The router is the only party whose deadline can move without one of
 * our own callbacks running (the vnet reports to it directly), so
 * world_run() steps the loop one time instant at a time and re-arms each
 * node's poll event after every instant. Client tcbs are re-armed after
 * every call into them (cli_service()).
 *
 * What is run:
 *   - the vtun and pcap drivers on their own;
 *   - faults: 1 MiB each way through client tcb <-> vtun (5% drop, 2%
 *     duplicate, 5% reorder both ways) <-> router (Direct) <-> vnet <-> echo,
 *     byte-exact, over ZT_FAULT_SEEDS seeds (default 50, from
 *     ZT_TEST_SEED on; ZT_FAULT_VERBOSE=1 prints each seed's figures);
 *   - load: 200 concurrent client connections through one router, with
 *     1% loss on the TUN wire, every byte checked;
 *   - two nodes in one process: a client behind node A connects to
 *     203.0.113.10:7; A's router goes Direct into A's vnet, where a gateway
 *     accepts the stream and re-originates it as a client tcb behind node
 *     B's TUN (same client address and port as A's client), through B's
 *     router and B's vnet to an echo server. Both cores terminate TCP, on
 *     faulty TUN wires, and the run twice with one seed gives the same
 *     trace hash (see test_two_nodes()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/evloop.h"
#include "engine/link.h"
#include "engine/vhosts.h"
#include "engine/vnet.h"
#include "engine/vtun.h"
#include "io/pcap_io.h"
#include "io/tun_driver.h"
#include "io/tun_pcap.h"
#include "test.h"
#include "ztun/ip4.h"
#include "ztun/ip6.h"
#include "ztun/packet.h"
#include "ztun/reasm.h"
#include "ztun/router.h"
#include "ztun/tcp.h"
#include "ztun/tcp_wire.h"

#define MAX_NODES 2
#define PKT_MAX 65600

static const uint8_t CLI4[4] = { 10, 0, 0, 2 };
static const uint8_t SRV4[4] = { 203, 0, 113, 10 };

/* --- FNV-1a trace hash ------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* --- the world and its nodes ------------------------------------------- */

struct world;
struct chost;

struct node {
	struct world *w;
	struct zt_rng rng;            /* the router's ISNs */
	struct zt_vnet *vn;           /* owned */
	struct zt_router *r;          /* owned */
	struct zt_router_config cfg;
	struct zt_vtun *vt;           /* owned */
	struct zt_tun_driver drv;     /* over vt */
	struct zt_sim_event poll_ev;
	struct chost *ch;             /* the client host behind the TUN */
	uint8_t buf[PKT_MAX];
	uint64_t hash;                /* every packet read and written, with time */
	uint64_t out_pkts, out_too_big, write_errors;
};

struct world {
	struct zt_sim sim;
	struct node node[MAX_NODES];
	unsigned nnodes;
};

/* A TCP client behind the TUN: its tcb and what its application does. */
struct gw_conn;

struct cli {
	struct chost *h;
	struct zt_tcb tcb;
	struct zt_sim_event tev;
	uint16_t port, dport;
	struct zt_addr server;
	size_t to_send, sent, got;
	bool same;                    /* every byte read matched the pattern */
	bool shut_when_sent, shut;
	bool peer_fin, reset;
	struct gw_conn *gw;           /* gateway client: relays instead */
};

struct chost {
	struct zt_sim *sim;           /* borrowed */
	struct zt_vtun *vt;           /* borrowed: the node's device */
	struct zt_rng rng;            /* client ISNs */
	struct zt_addr addr;
	struct zt_tcp_config tcfg;
	uint16_t base_port;
	struct cli *cl;               /* owned, cap entries */
	size_t n, cap;
	uint8_t pkt[PKT_MAX];
	struct zt_reasm reasm;        /* a real client host reassembles */
	uint64_t bad_in, stray_in, inject_err, frags_in;
};

static struct zt_link_cfg faulty(uint32_t drop, uint32_t dup, uint32_t reorder)
{
	struct zt_link_cfg c;

	memset(&c, 0, sizeof(c));
	c.latency_ns = 100 * 1000;
	c.drop_ppm = drop;
	c.dup_ppm = dup;
	c.reorder_ppm = reorder;
	c.reorder_max_ns = 2 * ZT_MS;
	return c;
}

/* --- the client host ----------------------------------------------------- */


static void cli_output(void *ctx, struct zt_tcb *tcb, const struct zt_tcp_repr *r,
		       const uint8_t *d1, size_t l1, const uint8_t *d2, size_t l2)
{
	struct cli *c = ctx;
	struct chost *h = c->h;
	size_t pl;

	(void)tcb;
	pl = zt_test_tcp_packet(&h->addr, &c->server, r, d1, l1, d2, l2, h->pkt,
				sizeof(h->pkt));
	if (zt_vtun_inject(h->vt, h->pkt, pl))
		h->inject_err++;
}

static const struct zt_tcp_ops cli_tcp_ops = { .output = cli_output };

static void gw_pump(struct gw_conn *g);

static void cli_arm(struct cli *c)
{
	uint64_t d = zt_tcb_deadline(&c->tcb), now = zt_sim_now(c->h->sim);

	if (d == ZT_TIME_NEVER) {
		zt_sim_cancel(c->h->sim, &c->tev);
		return;
	}
	if (d < now)
		d = now;
	if (!zt_sim_event_pending(&c->tev) || zt_sim_event_time(&c->tev) != d)
		zt_sim_at(c->h->sim, &c->tev, d);
}

/* The application of @c: after every call into its tcb. */
static void cli_service(struct cli *c)
{
	uint64_t now = zt_sim_now(c->h->sim);
	uint8_t buf[16384];
	uint32_t ev;
	size_t n;

	ev = zt_tcb_events(&c->tcb);
	if (ev & ZT_TCP_EV_PEER_FIN)
		c->peer_fin = true;
	if (ev & ZT_TCP_EV_RESET)
		c->reset = true;
	if (c->gw) {
		gw_pump(c->gw);
		cli_arm(c);
		return;
	}
	while (c->sent < c->to_send && (c->tcb.state == ZT_TCP_ESTABLISHED ||
					c->tcb.state == ZT_TCP_CLOSE_WAIT)) {
		n = c->to_send - c->sent;
		if (n > sizeof(buf))
			n = sizeof(buf);
		for (size_t k = 0; k < n; k++)
			buf[k] = zt_vhost_pattern(c->sent + k);
		n = zt_tcb_send(&c->tcb, buf, n, now);
		if (!n)
			break;
		c->sent += n;
	}
	if (c->shut_when_sent && !c->shut && c->sent == c->to_send &&
	    (c->tcb.state == ZT_TCP_ESTABLISHED || c->tcb.state == ZT_TCP_CLOSE_WAIT)) {
		c->shut = true;
		zt_tcb_shutdown(&c->tcb, now);
	}
	while ((n = zt_tcb_recv(&c->tcb, buf, sizeof(buf), now)) > 0) {
		for (size_t k = 0; k < n; k++)
			if (buf[k] != zt_vhost_pattern(c->got + k))
				c->same = false;
		c->got += n;
	}
	ev = zt_tcb_events(&c->tcb);
	if (ev & ZT_TCP_EV_PEER_FIN)
		c->peer_fin = true;
	if (ev & ZT_TCP_EV_RESET)
		c->reset = true;
	cli_arm(c);
}

static void cli_timer(struct zt_sim *sim, void *arg)
{
	struct cli *c = arg;

	zt_tcb_poll(&c->tcb, zt_sim_now(sim));
	cli_service(c);
}

/* A packet the vtun delivered to the client side (borrowed). */
static void chost_rx(void *ctx, const uint8_t *pkt, size_t len)
{
	struct chost *h = ctx;
	uint64_t now = zt_sim_now(h->sim);
	struct zt_packet pk;
	struct zt_view whole;
	struct cli *c;
	unsigned idx;

	if (zt_packet_parse(zt_view_make(pkt, len), 0, &pk) != ZT_DROP_NONE) {
		h->bad_in++;
		return;
	}
	if (pk.is_fragment) {
		/* ztun fragments a TCP segment whose SACK option outgrows
		 * the MSS (the core bug in scenarios/pending/
		 * tcp_sack_option_fragments.scn); a real client
		 * reassembles it, and so does this one. */
		h->frags_in++;
		zt_reasm_expire(&h->reasm, now, NULL, NULL);
		if (zt_reasm_input(&h->reasm, &pk, zt_view_make(pkt, len), now,
				   &whole) != ZT_DROP_NONE || !whole.len)
			return;
		if (zt_packet_parse(whole, 0, &pk) != ZT_DROP_NONE) {
			h->bad_in++;
			return;
		}
	}
	if (pk.proto != ZT_IPPROTO_TCP || !zt_addr_eq(&pk.dst, &h->addr)) {
		h->stray_in++;
		return;
	}
	idx = (unsigned)(uint16_t)(pk.l4.tcp.dst_port - h->base_port);
	if (idx >= h->n) {
		h->stray_in++;
		return;
	}
	c = &h->cl[idx];
	if (!zt_addr_eq(&pk.src, &c->server) || pk.l4.tcp.src_port != c->dport) {
		h->stray_in++;
		return;
	}
	zt_tcb_input(&c->tcb, &pk.l4.tcp, pk.payload, now);
	cli_service(c);
}

static void chost_init(struct chost *h, struct zt_sim *sim, uint64_t seed,
		       const struct zt_addr *addr, size_t cap, uint32_t ring)
{
	memset(h, 0, sizeof(*h));
	h->sim = sim;
	zt_rng_seed(&h->rng, seed);
	h->addr = *addr;
	h->base_port = 41000;
	h->cap = cap;
	h->cl = calloc(cap, sizeof(*h->cl));
	CU_ASSERT_FATAL(h->cl != NULL);
	CU_ASSERT_FATAL(zt_reasm_init(&h->reasm, NULL) == 0);
	zt_tcp_config_default(&h->tcfg);
	h->tcfg.rx_buf = ring;
	h->tcfg.tx_buf = ring;
	h->tcfg.time_wait = 2 * ZT_SEC;
}

static void chost_destroy(struct chost *h)
{
	for (size_t i = 0; i < h->n; i++) {
		zt_sim_cancel(h->sim, &h->cl[i].tev);
		zt_tcb_destroy(&h->cl[i].tcb);
	}
	free(h->cl);
	h->cl = NULL;
	zt_reasm_destroy(&h->reasm);
}

/* Open a client connection to @dst:@dport that echoes @to_send bytes. */
static struct cli *cli_open(struct chost *h, const struct zt_addr *dst,
			    uint16_t dport, size_t to_send)
{
	struct cli *c;

	CU_ASSERT_FATAL(h->n < h->cap);
	c = &h->cl[h->n];
	memset(c, 0, sizeof(*c));
	c->h = h;
	c->port = (uint16_t)(h->base_port + h->n);
	h->n++;
	c->server = *dst;
	c->dport = dport;
	c->to_send = to_send;
	c->same = true;
	c->shut_when_sent = true;
	zt_sim_event_init(&c->tev, cli_timer, c);
	CU_ASSERT_FATAL(zt_tcb_init(&c->tcb, &h->tcfg, &cli_tcp_ops, c) == 0);
	zt_tcb_open_active(&c->tcb, c->port, dport, zt_rng_u32(&h->rng),
			   zt_sim_now(h->sim));
	cli_service(c);
	return c;
}

/* --- a node ---------------------------------------------------------------- */

/* The router's host pointer is the node; upstream calls go to its vnet. */
static int up_stream_open(void *host, const struct zt_endpoint *ep,
			  unsigned flags, void *cookie, uint64_t now)
{
	struct node *n = host;

	return zt_vnet_upstream_ops.stream_open(n->vn, ep, flags, cookie, now);
}

static ssize_t up_stream_send(void *host, int handle, const void *data, size_t len)
{
	struct node *n = host;

	return zt_vnet_upstream_ops.stream_send(n->vn, handle, data, len);
}

static void up_stream_shutdown(void *host, int handle)
{
	struct node *n = host;

	zt_vnet_upstream_ops.stream_shutdown(n->vn, handle);
}

static void up_stream_close(void *host, int handle, bool abort)
{
	struct node *n = host;

	zt_vnet_upstream_ops.stream_close(n->vn, handle, abort);
}

static void up_stream_resume(void *host, int handle)
{
	struct node *n = host;

	zt_vnet_upstream_ops.stream_resume(n->vn, handle);
}

static int up_dgram_open(void *host, uint8_t family, uint16_t port,
			 unsigned flags, void *cookie, uint64_t now)
{
	struct node *n = host;

	return zt_vnet_upstream_ops.dgram_open(n->vn, family, port, flags, cookie, now);
}

static int up_dgram_send(void *host, int handle, const struct zt_endpoint *to,
			 const void *data, size_t len)
{
	struct node *n = host;

	return zt_vnet_upstream_ops.dgram_send(n->vn, handle, to, data, len);
}

static void up_dgram_close(void *host, int handle)
{
	struct node *n = host;

	zt_vnet_upstream_ops.dgram_close(n->vn, handle);
}

static const struct zt_upstream_ops node_up_ops = {
	.stream_open = up_stream_open,
	.stream_send = up_stream_send,
	.stream_shutdown = up_stream_shutdown,
	.stream_close = up_stream_close,
	.stream_resume = up_stream_resume,
	.dgram_open = up_dgram_open,
	.dgram_send = up_dgram_send,
	.dgram_close = up_dgram_close,
};

static void node_hash(struct node *n, uint8_t dir, const uint8_t *pkt, size_t len)
{
	uint64_t now = zt_sim_now(&n->w->sim);

	n->hash = fnv(n->hash, &dir, 1);
	n->hash = fnv(n->hash, &now, sizeof(now));
	n->hash = fnv(n->hash, pkt, len);
}

/* The core's tun_output: write to the node's driver. */
static void node_tun_output(void *host, const uint8_t *pkt, size_t len)
{
	struct node *n = host;
	ssize_t rc;

	n->out_pkts++;
	if (len > n->cfg.stack.mtu)
		n->out_too_big++;
	node_hash(n, 'w', pkt, len);
	rc = zt_tun_write(&n->drv, pkt, len);
	if (rc != (ssize_t)len)
		n->write_errors++;
}

static void node_arm(struct node *n)
{
	uint64_t d = zt_router_deadline(n->r), now = zt_sim_now(&n->w->sim);

	if (d == ZT_TIME_NEVER) {
		zt_sim_cancel(&n->w->sim, &n->poll_ev);
		return;
	}
	if (d < now)
		d = now;
	if (!zt_sim_event_pending(&n->poll_ev) || zt_sim_event_time(&n->poll_ev) != d)
		zt_sim_at(&n->w->sim, &n->poll_ev, d);
}

static void node_poll(struct zt_sim *sim, void *arg)
{
	struct node *n = arg;

	zt_router_poll(n->r, zt_sim_now(sim));
	node_arm(n);
}

/* The vtun has packets for the core: read the driver dry. */
static void node_readable(void *ctx, struct zt_vtun *vt)
{
	struct node *n = ctx;
	uint64_t when = 0;
	ssize_t len;

	(void)vt;
	while ((len = zt_tun_read(&n->drv, n->buf, sizeof(n->buf), &when)) >= 0) {
		CU_ASSERT(when == zt_sim_now(&n->w->sim));
		node_hash(n, 'r', n->buf, (size_t)len);
		zt_router_tun_input(n->r, n->buf, (size_t)len, zt_sim_now(&n->w->sim));
	}
	CU_ASSERT_EQUAL(len, -EAGAIN);
	node_arm(n);
}

static enum zt_route_decision route_direct(void *user, const struct zt_route_query *q)
{
	(void)user;
	(void)q;
	return ZT_ROUTE_DIRECT;
}

/*
 * node_start() - node @i of @w: a router with @cfg's stack settings (the
 * route callback is set here), a vtun with @vcfg, and client host @ch
 * (initialised by the caller) behind it.
 */
static struct node *node_start(struct world *w, const struct zt_router_config *cfg,
			       const struct zt_vtun_config *vcfg, struct chost *ch,
			       uint64_t rng_seed)
{
	struct node *n;

	CU_ASSERT_FATAL(w->nnodes < MAX_NODES);
	n = &w->node[w->nnodes++];
	memset(n, 0, sizeof(*n));
	n->w = w;
	n->ch = ch;
	n->hash = 0xcbf29ce484222325ull;
	zt_rng_seed(&n->rng, rng_seed);
	zt_sim_event_init(&n->poll_ev, node_poll, n);
	n->cfg = *cfg;
	n->cfg.route = route_direct;
	n->cfg.route_user = NULL;
	n->vn = zt_vnet_new(&w->sim, NULL);
	CU_ASSERT_FATAL(n->vn != NULL);
	n->vt = zt_vtun_new(&w->sim, vcfg, chost_rx, ch);
	CU_ASSERT_FATAL(n->vt != NULL);
	zt_vtun_driver(n->vt, &n->drv);
	zt_vtun_set_readable(n->vt, node_readable, n);
	ch->vt = n->vt;
	n->r = zt_router_new(&n->cfg, node_tun_output, &node_up_ops, n, &n->rng);
	CU_ASSERT_FATAL(n->r != NULL);
	zt_vnet_set_router(n->vn, n->r);
	return n;
}

static void node_stop(struct node *n)
{
	zt_sim_cancel(&n->w->sim, &n->poll_ev);
	zt_router_free(n->r);
	CU_ASSERT_EQUAL(zt_vnet_stats(n->vn)->bad_handle, 0);
	zt_vtun_free(n->vt);
	zt_vnet_free(n->vn);
}

static void world_init(struct world *w, uint64_t seed)
{
	memset(w, 0, sizeof(*w));
	zt_sim_init(&w->sim, seed);
}

/* Run until @done (checked after every instant) or @max ns; returns done. */
static bool world_run(struct world *w, bool (*done)(struct world *w), uint64_t max)
{
	uint64_t end = zt_sim_time_add(w->sim.now, max), next;

	for (;;) {
		for (unsigned i = 0; i < w->nnodes; i++)
			node_arm(&w->node[i]);
		if (done && done(w))
			return true;
		if (!zt_sim_next_time(&w->sim, &next) || next > end)
			break;
		zt_sim_run_until(&w->sim, next);
	}
	zt_sim_run_until(&w->sim, end);
	return done ? done(w) : true;
}

static void world_destroy(struct world *w)
{
	for (unsigned i = 0; i < w->nnodes; i++)
		chost_destroy(w->node[i].ch);
	for (unsigned i = 0; i < w->nnodes; i++)
		node_stop(&w->node[i]);
	zt_sim_destroy(&w->sim);
}

/* Every pattern client got all its bytes back and the peer's FIN, or died. */
static bool xfer_done(struct world *w)
{
	for (unsigned i = 0; i < w->nnodes; i++) {
		struct chost *h = w->node[i].ch;

		for (size_t k = 0; k < h->n; k++) {
			struct cli *c = &h->cl[k];

			if (!c->gw && !c->reset && !(c->got >= c->to_send && c->peer_fin))
				return false;
		}
	}
	return true;
}

/* Every flow is gone from every stack and vnet, every client tcb is done. */
static bool closed_done(struct world *w)
{
	for (unsigned i = 0; i < w->nnodes; i++) {
		struct node *n = &w->node[i];

		if (zt_stack_stats(zt_router_stack(n->r))->tcp_flows_active ||
		    zt_vnet_stats(n->vn)->streams_open)
			return false;
		for (size_t k = 0; k < n->ch->n; k++)
			if (n->ch->cl[k].tcb.state != ZT_TCP_CLOSED)
				return false;
	}
	return true;
}

static struct zt_vhost *add_echo(struct node *n, const struct zt_addr *a, uint16_t port)
{
	struct zt_vhost_config hc;
	struct zt_vhost *h;

	zt_vhost_config_init(&hc, ZT_VHOST_ECHO);
	h = zt_vhost_add(n->vn, a, port, &hc);
	CU_ASSERT_FATAL(h != NULL);
	return h;
}

/* --- the drivers on their own ------------------------------------------ */

struct rxlog {
	unsigned n, readable;
	size_t len[8];
	uint8_t first[8];
	uint64_t t[8];
	struct zt_sim *sim;
};

static void rxlog_client(void *ctx, const uint8_t *pkt, size_t len)
{
	struct rxlog *l = ctx;

	if (l->n < 8) {
		l->len[l->n] = len;
		l->first[l->n] = len ? pkt[0] : 0;
		l->t[l->n] = zt_sim_now(l->sim);
	}
	l->n++;
}

static void rxlog_readable(void *ctx, struct zt_vtun *vt)
{
	struct rxlog *l = ctx;

	(void)vt;
	l->readable++;
}

static void test_vtun_driver(void)
{
	struct zt_sim sim;
	struct zt_vtun_config vc;
	struct zt_vtun *vt;
	struct zt_tun_driver d;
	struct rxlog cl = { 0 }, rd = { 0 };
	uint8_t p[100], buf[100];
	uint64_t when = 0;

	zt_sim_init(&sim, 5);
	cl.sim = &sim;
	zt_vtun_config_default(&vc);
	snprintf(vc.name, sizeof(vc.name), "zt7");
	vc.ifindex = 7;
	vc.rx_queue = 2;
	vc.to_core.latency_ns = 1000;
	vc.to_client.latency_ns = 2000;
	vt = zt_vtun_new(&sim, &vc, rxlog_client, &cl);
	CU_ASSERT_FATAL(vt != NULL);
	zt_vtun_set_readable(vt, rxlog_readable, &rd);
	zt_vtun_driver(vt, &d);
	CU_ASSERT_STRING_EQUAL(zt_tun_name(&d), "zt7");
	CU_ASSERT_EQUAL(zt_tun_ifindex(&d), 7);
	CU_ASSERT_EQUAL(zt_tun_read(&d, buf, sizeof(buf), &when), -EAGAIN);

	/* Client -> core: queued after the link's latency, read in order;
	 * the third packet overflows the two-packet queue. */
	for (int i = 0; i < 3; i++) {
		memset(p, 0x40 + i, sizeof(p));
		CU_ASSERT_EQUAL(zt_vtun_inject(vt, p, 20 + (size_t)i), 0);
	}
	CU_ASSERT_EQUAL(zt_vtun_rx_pending(vt), 0); /* never synchronous */
	zt_sim_run(&sim, 100, UINT64_MAX);
	CU_ASSERT_EQUAL(rd.readable, 2);
	CU_ASSERT_EQUAL(zt_vtun_rx_pending(vt), 2);
	CU_ASSERT_EQUAL(zt_vtun_stats(vt)->queue_drops, 1);
	CU_ASSERT_EQUAL(zt_tun_read(&d, buf, sizeof(buf), &when), 20);
	CU_ASSERT_EQUAL(buf[0], 0x40);
	CU_ASSERT_EQUAL(when, 1000);
	CU_ASSERT_EQUAL(zt_tun_read(&d, buf, 5, NULL), -EMSGSIZE); /* lost */
	CU_ASSERT_EQUAL(zt_tun_read(&d, buf, sizeof(buf), NULL), -EAGAIN);
	CU_ASSERT_EQUAL(zt_vtun_stats(vt)->read, 1);

	/* Core -> client, through the other link. */
	memset(p, 0x60, sizeof(p));
	CU_ASSERT_EQUAL(zt_tun_write(&d, p, 60), 60);
	CU_ASSERT_EQUAL(zt_tun_write(&d, p, 61), 61);
	CU_ASSERT_EQUAL(cl.n, 0);
	zt_sim_run(&sim, 100, UINT64_MAX);
	CU_ASSERT_EQUAL(cl.n, 2);
	CU_ASSERT_EQUAL(cl.len[0], 60);
	CU_ASSERT_EQUAL(cl.len[1], 61);
	CU_ASSERT_EQUAL(cl.first[1], 0x60);
	CU_ASSERT_EQUAL(cl.t[0], zt_sim_now(&sim));
	CU_ASSERT_EQUAL(zt_link_stats(zt_vtun_link_to_client(vt))->delivered, 2);

	/* Close: both ops fail, injection is refused, a queued packet goes. */
	CU_ASSERT_EQUAL(zt_vtun_inject(vt, p, 10), 0);
	zt_sim_run(&sim, 100, UINT64_MAX);
	CU_ASSERT_EQUAL(zt_vtun_rx_pending(vt), 1);
	zt_tun_close(&d);
	zt_tun_close(&d);
	CU_ASSERT_EQUAL(zt_vtun_rx_pending(vt), 0);
	CU_ASSERT_EQUAL(zt_tun_read(&d, buf, sizeof(buf), NULL), -EBADF);
	CU_ASSERT_EQUAL(zt_tun_write(&d, p, 10), -EBADF);
	CU_ASSERT_EQUAL(zt_vtun_inject(vt, p, 10), -EBADF);
	/* A packet still in flight at free is simply released. */
	zt_vtun_free(vt);
	zt_sim_destroy(&sim);
}

static uint64_t fake_clock(void *arg)
{
	uint64_t *t = arg;

	return *t += 1000;
}

static void tmp_path(char *buf, size_t len)
{
	int fd;

	snprintf(buf, len, "/tmp/ztun-tunpcap-XXXXXX");
	fd = mkstemp(buf);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
}

static void test_pcap_driver(void)
{
	char in[512], out[512], err[256];
	struct zt_tun_pcap_config pc;
	struct zt_tun_pcap *p;
	struct zt_tun_driver d;
	struct zt_pcap_reader *rd;
	struct zt_pcap_record rec;
	static uint8_t buf[70000];
	uint64_t clk = 5000000000ull, when, prev = 0;
	unsigned n = 0, m = 0;
	ssize_t len;

	snprintf(in, sizeof(in), "%s/pcap-fixtures/http-eth.pcap", zt_test_srcdir());
	tmp_path(out, sizeof(out));
	memset(&pc, 0, sizeof(pc));
	pc.input = in;
	pc.output = out;
	pc.name = "cap0";
	pc.ifindex = 3;
	pc.clock = fake_clock;
	pc.clock_arg = &clk;
	CU_ASSERT_FATAL(zt_tun_pcap_open(&pc, &p, &d, err, sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(zt_tun_name(&d), "cap0");
	CU_ASSERT_EQUAL(zt_tun_ifindex(&d), 3);
	/* Every IP packet in order with its capture time; each written back. */
	while ((len = zt_tun_read(&d, buf, sizeof(buf), &when)) > 0) {
		CU_ASSERT(when >= prev);
		prev = when;
		CU_ASSERT(buf[0] >> 4 == 4 || buf[0] >> 4 == 6);
		CU_ASSERT_EQUAL(zt_tun_write(&d, buf, (size_t)len), len);
		n++;
	}
	CU_ASSERT_EQUAL(len, -ENODATA);
	CU_ASSERT(n > 10);
	CU_ASSERT_EQUAL(zt_tun_pcap_stats(p)->read, n);
	CU_ASSERT_EQUAL(zt_tun_pcap_stats(p)->written, n);
	zt_tun_close(&d);
	CU_ASSERT_EQUAL(zt_tun_read(&d, buf, sizeof(buf), NULL), -EBADF);
	CU_ASSERT_EQUAL(zt_tun_write(&d, buf, 20), -EBADF);
	CU_ASSERT_EQUAL(zt_tun_pcap_free(p), 0);

	/* The output holds the same packets, stamped by the host's clock. */
	CU_ASSERT_FATAL(zt_pcap_open_read(out, &rd, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(zt_pcap_linktype(rd), DLT_RAW);
	while (zt_pcap_read_next(rd, &rec) == 1) {
		m++;
		CU_ASSERT_EQUAL(rec.ts_ns, 5000000000ull + 1000ull * m);
	}
	zt_pcap_close_read(rd);
	CU_ASSERT_EQUAL(m, n);
	unlink(out);

	/* A snapped capture: whole packets only; a short buffer loses one. */
	snprintf(in, sizeof(in), "%s/pcap-fixtures/iperf-eth-snap256.pcap",
		 zt_test_srcdir());
	memset(&pc, 0, sizeof(pc));
	pc.input = in;
	CU_ASSERT_FATAL(zt_tun_pcap_open(&pc, &p, &d, err, sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(zt_tun_name(&d), "pcap0");
	CU_ASSERT_EQUAL(zt_tun_read(&d, buf, 10, NULL), -EMSGSIZE);
	while ((len = zt_tun_read(&d, buf, sizeof(buf), NULL)) > 0)
		;
	CU_ASSERT_EQUAL(len, -ENODATA);
	CU_ASSERT(zt_tun_pcap_stats(p)->snapped > 0);
	CU_ASSERT_EQUAL(zt_tun_pcap_stats(p)->too_big, 1);
	/* No output: writes are counted and discarded. */
	CU_ASSERT_EQUAL(zt_tun_write(&d, buf, 20), 20);
	CU_ASSERT_EQUAL(zt_tun_pcap_free(p), 0);

	/* A missing input names the file. */
	pc.input = "/nonexistent/x.pcap";
	CU_ASSERT(zt_tun_pcap_open(&pc, &p, &d, err, sizeof(err)) < 0);
	CU_ASSERT(strstr(err, "/nonexistent/x.pcap") != NULL);
}

/* --- faults: 1 MiB each way ----------------------------------------------- */

#define FAULT_BYTES (1024 * 1024)

static unsigned env_unsigned(const char *name, unsigned fallback)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return fallback;
	v = strtoul(s, &end, 10);
	return *end || v == 0 || v > 100000 ? fallback : (unsigned)v;
}

/* One seed; returns whether every check passed (CUnit asserts too). */
static bool fault_one(uint64_t seed, uint16_t mtu)
{
	struct world *w = calloc(1, sizeof(*w));
	struct chost *ch = calloc(1, sizeof(*ch));
	struct zt_router_config cfg;
	struct zt_vtun_config vc;
	struct zt_addr cli = zt_addr_v4(CLI4), srv = zt_addr_v4(SRV4);
	const struct zt_link_stats *up, *down;
	const struct zt_router_stats *rs;
	struct zt_vhost *echo;
	struct node *n;
	struct cli *c;
	bool ok = true, done, closed;

	CU_ASSERT_FATAL(w && ch);
	world_init(w, seed);
	zt_router_config_default(&cfg);
	cfg.stack.mtu = mtu;
	chost_init(ch, &w->sim, seed ^ 0x5eedc11e47ull, &cli, 1, 256 * 1024);
	ch->tcfg.mss = (uint16_t)(mtu - 40);
	zt_vtun_config_default(&vc);
	vc.to_client = faulty(50000, 20000, 50000);
	vc.to_core = faulty(50000, 20000, 50000);
	n = node_start(w, &cfg, &vc, ch, seed * 7 + 1);
	echo = add_echo(n, &srv, 7);
	c = cli_open(ch, &srv, 7, FAULT_BYTES);
	done = world_run(w, xfer_done, 600 * ZT_SEC);
	closed = world_run(w, closed_done, 60 * ZT_SEC);
	rs = zt_router_stats(n->r);
	up = zt_link_stats(zt_vtun_link_to_core(n->vt));
	down = zt_link_stats(zt_vtun_link_to_client(n->vt));
	ok = done && closed && !c->reset && c->same && c->got == FAULT_BYTES &&
	     c->sent == FAULT_BYTES && zt_vhost_stats(echo)->bytes_in == FAULT_BYTES &&
	     zt_vhost_stats(echo)->bytes_out == FAULT_BYTES &&
	     rs->tcp_relayed_up == FAULT_BYTES && rs->tcp_relayed_down == FAULT_BYTES &&
	     rs->upstream_reset == 0 && n->out_too_big == 0 && n->write_errors == 0 &&
	     ch->bad_in == 0 && ch->inject_err == 0 &&
	     up->drop_loss && up->duplicated && up->reordered &&
	     down->drop_loss && down->duplicated && down->reordered;
	if (!ok)
		printf("\nsimfault: seed %llu mtu %u FAILED: done %d closed %d reset %d "
		       "same %d got %zu sent %zu echo in %llu out %llu up %llu down %llu "
		       "(reproduce: ZT_TEST_SEED=%llu ZT_FAULT_SEEDS=1)\n",
		       (unsigned long long)seed, mtu, done, closed, c->reset, c->same,
		       c->got, c->sent,
		       (unsigned long long)zt_vhost_stats(echo)->bytes_in,
		       (unsigned long long)zt_vhost_stats(echo)->bytes_out,
		       (unsigned long long)rs->tcp_relayed_up,
		       (unsigned long long)rs->tcp_relayed_down,
		       (unsigned long long)seed);
	if (getenv("ZT_FAULT_VERBOSE"))
		printf("\nseed %llu: t=%.3fs events %llu; to_core sent %llu lost %llu "
		       "dup %llu reord %llu; to_client sent %llu lost %llu dup %llu "
		       "reord %llu; client rtx %llu; fragments to the client %llu\n",
		       (unsigned long long)seed, (double)w->sim.now / 1e9,
		       (unsigned long long)zt_sim_events_run(&w->sim),
		       (unsigned long long)up->sent, (unsigned long long)up->drop_loss,
		       (unsigned long long)up->duplicated, (unsigned long long)up->reordered,
		       (unsigned long long)down->sent, (unsigned long long)down->drop_loss,
		       (unsigned long long)down->duplicated,
		       (unsigned long long)down->reordered,
		       (unsigned long long)c->tcb.stats.retransmits,
		       (unsigned long long)ch->frags_in);
	world_destroy(w);
	free(ch);
	free(w);
	return ok;
}

static void test_fault_1mib(void)
{
	unsigned seeds = env_unsigned("ZT_FAULT_SEEDS", 50), failed = 0;
	uint64_t base = zt_test_seed(1);

	for (unsigned i = 0; i < seeds; i++)
		if (!fault_one(base + i, 1500))
			failed++;
	CU_ASSERT_EQUAL(failed, 0);
}

/* --- load: 200 concurrent clients ------------------------------------------ */

#define LOAD_CLIENTS 200
#define LOAD_BYTES (24 * 1024)

static void test_load_200(void)
{
	struct world *w = calloc(1, sizeof(*w));
	struct chost *ch = calloc(1, sizeof(*ch));
	struct zt_router_config cfg;
	struct zt_vtun_config vc;
	struct zt_addr cli = zt_addr_v4(CLI4), srv = zt_addr_v4(SRV4);
	struct zt_vhost *echo;
	struct node *n;
	unsigned good = 0;

	CU_ASSERT_FATAL(w && ch);
	world_init(w, zt_test_seed(200));
	zt_router_config_default(&cfg);
	cfg.stack.tcp.rx_buf = 32 * 1024;
	cfg.stack.tcp.tx_buf = 32 * 1024;
	chost_init(ch, &w->sim, 4242, &cli, LOAD_CLIENTS, 32 * 1024);
	zt_vtun_config_default(&vc);
	vc.to_client = faulty(10000, 0, 10000);
	vc.to_core = faulty(10000, 0, 10000);
	n = node_start(w, &cfg, &vc, ch, 77);
	echo = add_echo(n, &srv, 7);
	for (int i = 0; i < LOAD_CLIENTS; i++)
		cli_open(ch, &srv, 7, LOAD_BYTES + (size_t)i * 97);
	CU_ASSERT(world_run(w, xfer_done, 300 * ZT_SEC));
	CU_ASSERT(world_run(w, closed_done, 60 * ZT_SEC));
	for (int i = 0; i < LOAD_CLIENTS; i++) {
		struct cli *c = &ch->cl[i];

		if (!c->reset && c->same && c->got == c->to_send && c->peer_fin)
			good++;
	}
	CU_ASSERT_EQUAL(good, LOAD_CLIENTS);
	CU_ASSERT_EQUAL(zt_vhost_stats(echo)->accepted, LOAD_CLIENTS);
	CU_ASSERT_EQUAL(zt_vhost_stats(echo)->eofs, LOAD_CLIENTS);
	CU_ASSERT_EQUAL(zt_router_stats(n->r)->flows[ZT_ROUTE_DIRECT], LOAD_CLIENTS);
	CU_ASSERT_EQUAL(zt_router_stats(n->r)->upstream_reset, 0);
	CU_ASSERT_EQUAL(zt_stack_stats(zt_router_stack(n->r))->tcp_flows_opened,
			LOAD_CLIENTS);
	CU_ASSERT_EQUAL(zt_vtun_stats(n->vt)->queue_drops, 0);
	CU_ASSERT_EQUAL(n->out_too_big, 0);
	world_destroy(w);
	free(ch);
	free(w);
}

/* --- two nodes in one process ---------------------------------------------- */

/*
 * The gateway: a listener on node A's vnet that re-originates each stream
 * it accepts as a client tcb behind node B's TUN, and relays bytes, FINs
 * and resets between the two, with back-pressure both ways (a vnet end is
 * paused while B's tcb has no send room; B's bytes stay in the tcb's
 * receive ring, closing its window, while A's vnet pipe is full).
 */
struct gw_conn {
	struct gw *g;
	struct zt_vnet_sock *s;   /* A's vnet end, NULL once gone */
	struct cli *c;            /* B's client */
	bool paused, sock_eof, sock_shut, tcb_shut, closed;
};

struct gw {
	struct chost *chb;        /* node B's client host */
	struct zt_addr dst;
	uint16_t dport;
	struct gw_conn conn[4];
	unsigned n;
};

static bool tcb_open(const struct zt_tcb *t)
{
	return t->state == ZT_TCP_ESTABLISHED || t->state == ZT_TCP_CLOSE_WAIT;
}

static void gw_pump(struct gw_conn *g)
{
	struct cli *c = g->c;
	uint64_t now = zt_sim_now(c->h->sim);
	const uint8_t *p;
	size_t len;

	if (g->closed)
		return;
	if (c->reset) {
		zt_vnet_abort(g->s);
		g->s = NULL;
		g->closed = true;
		return;
	}
	while ((len = zt_tcb_recv_peek(&c->tcb, 0, &p)) > 0) {
		ssize_t k = zt_vnet_send(g->s, p, len);

		if (k <= 0)
			break;
		zt_tcb_recv_consume(&c->tcb, (size_t)k, now);
		if ((size_t)k < len)
			break;
	}
	if (g->paused && tcb_open(&c->tcb) && zt_tcb_send_space(&c->tcb)) {
		g->paused = false;
		zt_vnet_resume(g->s);
	}
	if (c->peer_fin && !zt_tcb_recv_len(&c->tcb) && !g->sock_shut) {
		zt_vnet_shutdown(g->s);
		g->sock_shut = true;
	}
	if (g->sock_eof && !g->tcb_shut && tcb_open(&c->tcb)) {
		zt_tcb_shutdown(&c->tcb, now);
		g->tcb_shut = true;
	}
	if (g->sock_eof && g->sock_shut && g->tcb_shut) {
		zt_vnet_close(g->s);
		g->s = NULL;
		g->closed = true;
	}
}

static void gw_failed(void *ctx, struct zt_vnet_sock *s, int err)
{
	struct gw_conn *g = ctx;

	(void)s;
	(void)err;
	g->s = NULL;
	g->closed = true;
	zt_tcb_abort(&g->c->tcb, zt_sim_now(g->c->h->sim));
	cli_service(g->c);
}

static size_t gw_data(void *ctx, struct zt_vnet_sock *s, const uint8_t *p, size_t n)
{
	struct gw_conn *g = ctx;
	size_t k = 0;

	(void)s;
	if (tcb_open(&g->c->tcb) && !g->tcb_shut)
		k = zt_tcb_send(&g->c->tcb, p, n, zt_sim_now(g->c->h->sim));
	if (k < n)
		g->paused = true;
	cli_service(g->c);
	return k;
}

static void gw_eof(void *ctx, struct zt_vnet_sock *s)
{
	struct gw_conn *g = ctx;

	(void)s;
	g->sock_eof = true;
	cli_service(g->c);
}

static void gw_writable(void *ctx, struct zt_vnet_sock *s)
{
	struct gw_conn *g = ctx;

	(void)s;
	cli_service(g->c);
}

static const struct zt_vnet_sock_ops gw_sock_ops = {
	.failed = gw_failed,
	.data = gw_data,
	.eof = gw_eof,
	.writable = gw_writable,
};

static int gw_accept(void *ctx, struct zt_vnet_sock *s)
{
	struct gw *gw = ctx;
	struct gw_conn *g;

	if (gw->n >= 4)
		return -ECONNREFUSED;
	g = &gw->conn[gw->n++];
	memset(g, 0, sizeof(*g));
	g->g = gw;
	g->s = s;
	zt_vnet_sock_own(s, &gw_sock_ops, g);
	g->c = cli_open(gw->chb, &gw->dst, gw->dport, 0);
	g->c->gw = g;
	return 0;
}

struct two_res {
	uint64_t hash_a, hash_b, events, end;
	bool ok;
};

static void two_nodes_once(uint64_t seed, struct two_res *res)
{
	struct world *w = calloc(1, sizeof(*w));
	struct chost *cha = calloc(1, sizeof(*cha)), *chb = calloc(1, sizeof(*chb));
	struct gw *gw = calloc(1, sizeof(*gw));
	struct zt_router_config cfg;
	struct zt_vtun_config vc;
	struct zt_addr cli = zt_addr_v4(CLI4), srv = zt_addr_v4(SRV4);
	struct zt_vhost *echo;
	struct node *a, *b;
	struct cli *c;
	const size_t total = 256 * 1024;
	bool done, closed;

	CU_ASSERT_FATAL(w && cha && chb && gw);
	world_init(w, seed);
	zt_router_config_default(&cfg);
	/* Both client hosts use the same address and ports: the flow keys
	 * in the two cores are identical, and must not meet. */
	chost_init(cha, &w->sim, seed + 1, &cli, 1, 64 * 1024);
	chost_init(chb, &w->sim, seed + 2, &cli, 4, 64 * 1024);
	zt_vtun_config_default(&vc);
	vc.to_client = faulty(20000, 10000, 20000);
	vc.to_core = faulty(20000, 10000, 20000);
	snprintf(vc.name, sizeof(vc.name), "ztA");
	a = node_start(w, &cfg, &vc, cha, seed * 3 + 1);
	vc.ifindex = 2;
	snprintf(vc.name, sizeof(vc.name), "ztB");
	b = node_start(w, &cfg, &vc, chb, seed * 3 + 2);
	gw->chb = chb;
	gw->dst = srv;
	gw->dport = 7;
	CU_ASSERT_FATAL(zt_vnet_listen(a->vn, &srv, 7, gw_accept, NULL, gw) == 0);
	echo = add_echo(b, &srv, 7);

	c = cli_open(cha, &srv, 7, total);
	done = world_run(w, xfer_done, 300 * ZT_SEC);
	closed = world_run(w, closed_done, 60 * ZT_SEC);
	CU_ASSERT(done);
	CU_ASSERT(closed);
	CU_ASSERT(!c->reset);
	CU_ASSERT(c->same);
	CU_ASSERT_EQUAL(c->got, total);
	CU_ASSERT_EQUAL(gw->n, 1);
	CU_ASSERT(gw->conn[0].closed);
	CU_ASSERT_EQUAL(zt_vhost_stats(echo)->bytes_in, total);
	CU_ASSERT_EQUAL(zt_vhost_stats(echo)->eofs, 1);
	/* Each core saw exactly its own flow, and relayed every byte. */
	for (int i = 0; i < 2; i++) {
		struct node *n = i ? b : a;
		const struct zt_router_stats *rs = zt_router_stats(n->r);

		CU_ASSERT_EQUAL(zt_stack_stats(zt_router_stack(n->r))->tcp_flows_opened, 1);
		CU_ASSERT_EQUAL(rs->flows[ZT_ROUTE_DIRECT], 1);
		CU_ASSERT_EQUAL(rs->tcp_relayed_up, total);
		CU_ASSERT_EQUAL(rs->tcp_relayed_down, total);
		CU_ASSERT_EQUAL(rs->upstream_reset, 0);
		CU_ASSERT_EQUAL(zt_vnet_stats(n->vn)->streams_opened, 1);
		CU_ASSERT_EQUAL(n->ch->stray_in, 0);
		CU_ASSERT_EQUAL(n->ch->bad_in, 0);
		CU_ASSERT(zt_link_stats(zt_vtun_link_to_core(n->vt))->drop_loss > 0);
	}
	CU_ASSERT_STRING_EQUAL(zt_tun_name(&a->drv), "ztA");
	CU_ASSERT_STRING_EQUAL(zt_tun_name(&b->drv), "ztB");
	res->ok = done && closed && c->same && c->got == total;
	res->hash_a = a->hash;
	res->hash_b = b->hash;
	res->events = zt_sim_events_run(&w->sim);
	res->end = w->sim.now;
	world_destroy(w);
	free(gw);
	free(cha);
	free(chb);
	free(w);
}

static void test_two_nodes(void)
{
	uint64_t seed = zt_test_seed(31);
	struct two_res r1, r2, r3;

	two_nodes_once(seed, &r1);
	two_nodes_once(seed, &r2);
	two_nodes_once(seed + 1, &r3);
	CU_ASSERT(r1.ok && r2.ok && r3.ok);
	/* Same seed: the same packets at the same times on both TUNs. */
	CU_ASSERT_EQUAL(r1.hash_a, r2.hash_a);
	CU_ASSERT_EQUAL(r1.hash_b, r2.hash_b);
	CU_ASSERT_EQUAL(r1.events, r2.events);
	CU_ASSERT_EQUAL(r1.end, r2.end);
	/* Another seed: other faults, other traces. */
	CU_ASSERT(r1.hash_a != r3.hash_a || r1.hash_b != r3.hash_b);
}

int zt_suite_simfault(void)
{
	static const struct zt_test_case cases[] = {
		{ "vtun driver", test_vtun_driver },
		{ "pcap driver", test_pcap_driver },
		{ "1 MiB each way under drop/dup/reorder, many seeds", test_fault_1mib },
		{ "200 concurrent clients through one router", test_load_200 },
		{ "two nodes in one process, chained", test_two_nodes },
		{ NULL, NULL },
	};

	return zt_add_suite("simfault", NULL, NULL, cases);
}
