/* SPDX-License-Identifier: MIT */
/*
 * replay.c - replay a packet capture through a zt_stack (see replay.h).
 *
 * Theory of operation:
 *
 * Flows. Every TCP or UDP packet is matched against a table of rows by its
 * addresses and ports, in either direction; the newest matching row wins.
 * A client SYN (SYN without ACK) opens a new row unless it retransmits the
 * SYN of a live row. Any other TCP packet of no row opens a "mid-flow" row
 * whose client is guessed: the receiver of a SYN-ACK, else the side with
 * the higher port, else the sender. A UDP datagram of no row opens one with
 * its sender as the client. The table is searched linearly from the end:
 * captures worth replaying are small.
 *
 * Client side (fed into the stack at capture time). A snapped frame is
 * zero-filled to its wire length first. TCP segments are parsed, their ACK
 * and SACK blocks mapped from the original server's sequence space (its
 * ISN, from the capture's SYN-ACK) onto the stack's (the flow's tcb.iss,
 * read right after the accept that emits the SYN-ACK), their timestamp
 * echo zeroed (it echoes the original server's clock), and the segment is
 * re-emitted with fresh checksums. UDP datagrams and ICMP echo requests go
 * in as captured (a snapped UDP datagram is re-emitted so its checksum
 * matches the zero fill). Fragments, other protocols and packets that do
 * not parse are fed as captured, so the stack counts their drop reason,
 * unless their addresses say they travel server -> client.
 *
 * Far side (the emulated upstream's script). TCP: the first SYN-ACK gives
 * the original ISN; payload beyond what the server already sent is queued
 * to the stack's flow (a remainder the send ring does not take waits for
 * ZT_TCP_EV_WRITABLE); FIN becomes a shutdown once that queue is empty,
 * RST an abort. UDP: each datagram is sent with zt_stack_udp_send. ICMP
 * echo replies are not needed (the stack answers itself) and other ICMP
 * from the far side cannot be emulated through the stack's API: both are
 * counted as ignored.
 *
 * The stack's side of a flow: tcp_new accepts at once and lifts the
 * congestion window (the captured client acknowledges what the original
 * server sent when it sent it, so the stack must not hold it back);
 * tcp_event reads everything readable into a sink (counted, discarded),
 * and on RESET or CLOSED records how the flow ended and forgets it.
 *
 * Time. `now` only moves forward: to each packet's timestamp (an earlier
 * one is taken as now), after running every stack timer due by then, and
 * finally by opts->linger past the last packet.
 */
#include "engine/replay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/evloop.h"
#include "io/pcap_io.h"
#include "ztun/packet.h"

#define FRAME_LEN 65536
#define PKT_LEN (65536 + 128)
#define SINK_LEN 65536

/* A row of the flow table and what the replay keeps for it. */
struct rflow {
	struct zt_replay_flow pub;
	struct zt_flow *f;       /* the stack's flow while it lives (borrowed) */
	bool ended;              /* TCP: the stack's flow is gone or never was */
	bool have_their_iss, have_our_iss;
	uint32_t their_iss, our_iss;
	bool cli_seq_set, srv_seq_set;
	uint32_t cli_next, srv_next; /* next new payload sequence number */
	uint8_t *pend;           /* owned: server bytes not yet taken by the stack */
	size_t pend_len, pend_cap;
	bool fin_pending;        /* server FIN seen; shutdown once pend is empty */
};

struct replay {
	const struct zt_replay_opts *o;
	struct zt_replay_result *r;
	struct zt_stack *stack;
	struct zt_rng rng;
	struct zt_pcap_writer *w;
	int werr;                /* first write error */
	uint64_t now;
	bool started;
	struct rflow **rows;     /* owned, each row owned */
	size_t n_rows, cap_rows;
	struct rflow *feeding;   /* row whose SYN is being fed */
	bool nomem;
	uint8_t *frame;          /* owned: zero-filled copy of the captured packet */
	uint8_t *pkt;            /* owned: re-emitted packet */
	uint8_t *sink;           /* owned: the upstream's read buffer */
};

enum dir { DIR_NONE = 0, DIR_CLIENT, DIR_SERVER };

const char *zt_replay_end_name(enum zt_replay_end end)
{
	switch (end) {
	case ZT_REPLAY_OPEN:
		return "open";
	case ZT_REPLAY_CLOSED:
		return "closed";
	case ZT_REPLAY_RESET:
		return "reset";
	case ZT_REPLAY_REFUSED:
		return "refused";
	case ZT_REPLAY_MIDFLOW:
		return "mid-flow";
	}
	return "?";
}

void zt_replay_opts_default(struct zt_replay_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->seed = 1;
	o->mtu = 1500;
	o->linger = 5 * ZT_SEC;
}

void zt_replay_result_free(struct zt_replay_result *r)
{
	free(r->flows);
	r->flows = NULL;
	r->n_flows = 0;
}

/* --- flow table ------------------------------------------------------- */

/**
 * row_dir() - which side of @row sent a packet from @src:@sp to @dst:@dp.
 * Return: DIR_CLIENT, DIR_SERVER or DIR_NONE when it is not @row's.
 */
static enum dir row_dir(const struct rflow *row, uint8_t proto,
			const struct zt_addr *src, uint16_t sp,
			const struct zt_addr *dst, uint16_t dp)
{
	const struct zt_replay_flow *p = &row->pub;

	if (p->proto != proto)
		return DIR_NONE;
	if (zt_addr_eq(&p->client, src) && p->client_port == sp &&
	    zt_addr_eq(&p->server, dst) && p->server_port == dp)
		return DIR_CLIENT;
	if (zt_addr_eq(&p->server, src) && p->server_port == sp &&
	    zt_addr_eq(&p->client, dst) && p->client_port == dp)
		return DIR_SERVER;
	return DIR_NONE;
}

/**
 * find_row() - the newest row a packet belongs to, and its direction.
 * Return: the row (owned by @rp) or NULL.
 */
static struct rflow *find_row(struct replay *rp, uint8_t proto,
			      const struct zt_addr *src, uint16_t sp,
			      const struct zt_addr *dst, uint16_t dp,
			      enum dir *dir)
{
	for (size_t i = rp->n_rows; i-- > 0;) {
		*dir = row_dir(rp->rows[i], proto, src, sp, dst, dp);
		if (*dir != DIR_NONE)
			return rp->rows[i];
	}
	*dir = DIR_NONE;
	return NULL;
}

/**
 * new_row() - append a row with @cli:@cp as client and @srv:@spt as server.
 * Return: the row (owned by @rp), or NULL with rp->nomem set.
 */
static struct rflow *new_row(struct replay *rp, uint8_t proto,
			     const struct zt_addr *cli, uint16_t cp,
			     const struct zt_addr *srv, uint16_t spt)
{
	struct rflow *row;

	if (rp->n_rows == rp->cap_rows) {
		size_t cap = rp->cap_rows ? 2 * rp->cap_rows : 16;
		struct rflow **n = realloc(rp->rows, cap * sizeof(*n));

		if (!n) {
			rp->nomem = true;
			return NULL;
		}
		rp->rows = n;
		rp->cap_rows = cap;
	}
	row = calloc(1, sizeof(*row));
	if (!row) {
		rp->nomem = true;
		return NULL;
	}
	row->pub.proto = proto;
	row->pub.client = *cli;
	row->pub.server = *srv;
	row->pub.client_port = cp;
	row->pub.server_port = spt;
	row->pub.decision = "accept";
	row->pub.end = ZT_REPLAY_OPEN;
	rp->rows[rp->n_rows++] = row;
	return row;
}

/* Whether any row has @src as client and @dst as server (@fwd), or the
 * reverse (!@fwd), whatever the ports. */
static bool addrs_match(const struct replay *rp, const struct zt_addr *src,
			const struct zt_addr *dst, bool fwd)
{
	for (size_t i = 0; i < rp->n_rows; i++) {
		const struct zt_replay_flow *p = &rp->rows[i]->pub;
		const struct zt_addr *a = fwd ? &p->client : &p->server;
		const struct zt_addr *b = fwd ? &p->server : &p->client;

		if (zt_addr_eq(a, src) && zt_addr_eq(b, dst))
			return true;
	}
	return false;
}

/* --- the stack's ops -------------------------------------------------- */

static void rp_tun_output(void *host, const uint8_t *pkt, size_t len)
{
	struct replay *rp = host;

	if (rp->w && rp->werr == 0)
		rp->werr = zt_pcap_write(rp->w, rp->now, pkt, len);
}

/**
 * flush() - hand @row's queued server bytes to the stack, then its FIN.
 * May end the flow (row->f becomes NULL through rp_tcp_event).
 */
static void flush(struct replay *rp, struct rflow *row)
{
	while (row->f && row->pend_len) {
		size_t n = zt_stack_tcp_send(rp->stack, row->f, row->pend,
					     row->pend_len, rp->now);

		if (n == 0)
			break;
		row->pub.bytes_down += n;
		memmove(row->pend, row->pend + n, row->pend_len - n);
		row->pend_len -= n;
	}
	if (row->f && row->fin_pending && row->pend_len == 0) {
		row->fin_pending = false;
		zt_stack_tcp_shutdown(rp->stack, row->f, rp->now);
	}
}

static int rp_tcp_new(void *host, struct zt_flow *f, uint64_t now)
{
	struct replay *rp = host;
	struct rflow *row = rp->feeding;

	if (!row || row->f ||
	    row_dir(row, ZT_IPPROTO_TCP, &f->key.client, f->key.client_port,
		    &f->key.server, f->key.server_port) != DIR_CLIENT)
		return -ECONNREFUSED; /* a SYN we did not feed as one */
	row->f = f;
	row->ended = false;
	f->user = row;
	zt_stack_tcp_accept(rp->stack, f, now);
	row->our_iss = f->tcb.iss;
	row->have_our_iss = true;
	/* The captured client acknowledges what the original server sent
	 * when it sent it: congestion control must not hold it back. */
	f->tcb.cwnd = f->tcb.ssthresh = 1u << 30;
	return 0;
}

static void rp_tcp_event(void *host, struct zt_flow *f, uint32_t events,
			 uint64_t now)
{
	struct replay *rp = host;
	struct rflow *row = f->user;
	size_t n;

	if (!row)
		return;
	/* The upstream sink: read everything, count it. */
	while ((n = zt_stack_tcp_recv(rp->stack, f, rp->sink, SINK_LEN, now)) > 0)
		row->pub.bytes_up += n;
	if (events & (ZT_TCP_EV_RESET | ZT_TCP_EV_CLOSED)) {
		if (events & ZT_TCP_EV_RESET)
			row->pub.end = f->tcb.reset_reason == ZT_TCP_RESET_REFUSED ?
					       ZT_REPLAY_REFUSED : ZT_REPLAY_RESET;
		else
			row->pub.end = ZT_REPLAY_CLOSED;
		row->f = NULL;
		row->ended = true;
		row->pend_len = 0;
		f->user = NULL;
		return;
	}
	if (events & ZT_TCP_EV_WRITABLE)
		flush(rp, row);
}

static void rp_udp_input(void *host, struct zt_udp_flow *f,
			 const uint8_t *data, size_t len, uint64_t now)
{
	struct replay *rp = host;
	const struct zt_flow_key *key = &f->key;
	struct rflow *row = f->user;
	enum dir d;

	(void)data; /* the upstream sink only counts */
	(void)now;
	if (!row) {
		row = find_row(rp, ZT_IPPROTO_UDP, &key->client, key->client_port,
			       &key->server, key->server_port, &d);
		if (!row || d != DIR_CLIENT)
			row = new_row(rp, ZT_IPPROTO_UDP, &key->client,
				      key->client_port, &key->server,
				      key->server_port);
		if (!row)
			return;
		f->user = row; /* borrowed: rows outlive the stack */
	}
	row->pub.dgrams_up++;
	row->pub.bytes_up += len;
}

static enum zt_echo_verdict rp_echo_verdict(void *host,
					    const struct zt_addr *src,
					    const struct zt_addr *dst)
{
	(void)host;
	(void)src;
	(void)dst;
	return ZT_ECHO_LOCAL; /* the emulated network answers every ping */
}

static const struct zt_stack_ops rp_ops = {
	.tun_output = rp_tun_output,
	.tcp_new = rp_tcp_new,
	.tcp_event = rp_tcp_event,
	.udp_input = rp_udp_input,
	.echo_verdict = rp_echo_verdict,
};

/* --- time ------------------------------------------------------------- */

/**
 * advance() - run every stack timer due by @t, then set now = @t (never
 * backwards).
 */
static void advance(struct replay *rp, uint64_t t)
{
	uint64_t d;

	if (t < rp->now)
		t = rp->now;
	while ((d = zt_stack_deadline(rp->stack)) <= t) {
		if (d > rp->now)
			rp->now = d;
		zt_stack_poll(rp->stack, rp->now);
		if (zt_stack_deadline(rp->stack) <= rp->now)
			break; /* a timer that does not move: do not spin */
	}
	rp->now = t;
}

/* --- packets ---------------------------------------------------------- */

static void feed(struct replay *rp, const uint8_t *pkt, size_t len)
{
	rp->r->fed++;
	zt_stack_input(rp->stack, pkt, len, rp->now);
}

/**
 * emit_ip() - wrap the @l4_len bytes at rp->pkt + hl in @pk's IP header
 * (options kept for IPv4, extension headers dropped for IPv6).
 * @hl: the header length the caller reserved, from ip_hdr_len()
 * Return: the packet length, or -errno.
 */
static int emit_ip(struct replay *rp, const struct zt_packet *pk, size_t hl,
		   size_t l4_len)
{
	if (pk->family == ZT_AF_INET) {
		struct zt_ip4_repr ip = pk->ip.ip4;
		int n;

		ip.more_frags = false;
		ip.frag_offset = 0;
		n = zt_ip4_emit(&ip, l4_len, rp->pkt, PKT_LEN);
		return n < 0 ? n : (int)(hl + l4_len);
	} else {
		struct zt_ip6_repr ip = pk->ip.ip6;
		int n;

		ip.has_frag = false;
		n = zt_ip6_emit(&ip, l4_len, rp->pkt, PKT_LEN);
		return n < 0 ? n : (int)(hl + l4_len);
	}
}

static size_t ip_hdr_len(const struct zt_packet *pk)
{
	if (pk->family == ZT_AF_INET)
		return zt_ip4_header_len(&pk->ip.ip4);
	return ZT_IP6_HDR;
}

/**
 * count_new() - bytes of [@seq, @seq + @len) past *@next; moves *@next.
 * The first data seen sets *@next when !*@set (mid-flow).
 */
static uint64_t count_new(uint32_t *next, bool *set, uint32_t seq, size_t len)
{
	uint32_t end = seq + (uint32_t)len;
	uint32_t from;

	if (!len)
		return 0;
	if (!*set) {
		*next = seq;
		*set = true;
	}
	if (!zt_seq_gt(end, *next))
		return 0;
	from = zt_seq_lt(seq, *next) ? *next : seq;
	*next = end;
	return end - from;
}

/* The sequence number of @seg's first data byte: a SYN takes its own
 * seq, so data on a SYN or SYN-ACK (TCP Fast Open) starts one later. */
static uint32_t data_seq(const struct zt_tcp_repr *seg)
{
	return seg->seq + ((seg->flags & ZT_TCP_SYN) ? 1u : 0u);
}

/* Queue server bytes for @row's flow (copied) and flush. */
static void push_down(struct replay *rp, struct rflow *row, const uint8_t *d,
		      size_t len)
{
	if (row->pend_len + len > row->pend_cap) {
		size_t cap = (row->pend_len + len) * 2;
		uint8_t *n = realloc(row->pend, cap);

		if (!n) {
			rp->nomem = true;
			return;
		}
		row->pend = n;
		row->pend_cap = cap;
	}
	memcpy(row->pend + row->pend_len, d, len);
	row->pend_len += len;
	flush(rp, row);
}

static void client_tcp(struct replay *rp, struct rflow *row,
		       const struct zt_packet *pk, bool syn)
{
	struct zt_tcp_repr seg = pk->l4.tcp;
	size_t dlen = pk->payload.len, hl = ip_hdr_len(pk);
	int n;

	if (seg.flags & ZT_TCP_RST)
		row->pub.cap_rst = true;
	if (syn) {
		row->cli_next = seg.seq + 1;
		row->cli_seq_set = true;
	}
	row->pub.cap_up += count_new(&row->cli_next, &row->cli_seq_set,
				     data_seq(&seg), dlen);
	if ((seg.flags & ZT_TCP_ACK) && row->have_their_iss && row->have_our_iss) {
		uint32_t delta = row->our_iss - row->their_iss;

		seg.ack += delta;
		for (unsigned i = 0; i < seg.sack_count; i++) {
			seg.sack[i].left += delta;
			seg.sack[i].right += delta;
		}
	}
	seg.ts_ecr = 0; /* echoes the original server's clock, not the stack's */
	n = zt_tcp_emit(&seg, &pk->src, &pk->dst, pk->payload.data, dlen,
			rp->pkt + hl, PKT_LEN - hl);
	if (n >= 0)
		n = emit_ip(rp, pk, hl, (size_t)n);
	if (n < 0) {
		rp->r->ignored++; /* cannot be re-emitted (options too long) */
		return;
	}
	if (syn)
		rp->feeding = row;
	feed(rp, rp->pkt, (size_t)n);
	rp->feeding = NULL;
	if (syn && !row->f && !row->ended && row->pub.end == ZT_REPLAY_OPEN) {
		/* The stack answered the SYN without asking us (full). */
		row->pub.end = ZT_REPLAY_REFUSED;
		row->ended = true;
	}
}

static void server_tcp(struct replay *rp, struct rflow *row,
		       const struct zt_packet *pk)
{
	const struct zt_tcp_repr *seg = &pk->l4.tcp;
	size_t dlen = pk->payload.len;
	uint32_t dseq = data_seq(seg);
	uint32_t before = row->srv_next;
	bool was_set = row->srv_seq_set;
	uint64_t add;

	if (row->f)
		rp->r->scripted++;
	else
		rp->r->ignored++;
	if (seg->flags & ZT_TCP_RST)
		row->pub.cap_rst = true;
	if ((seg->flags & ZT_TCP_SYN) && !row->have_their_iss) {
		row->their_iss = seg->seq;
		row->have_their_iss = true;
		row->srv_next = seg->seq + 1;
		row->srv_seq_set = true;
		before = row->srv_next;
		was_set = true;
	}
	add = count_new(&row->srv_next, &row->srv_seq_set, dseq, dlen);
	if (add) {
		size_t off = was_set && zt_seq_lt(dseq, before) ?
				     (size_t)(before - dseq) : 0;

		row->pub.cap_down += add;
		if (row->f)
			push_down(rp, row, pk->payload.data + off, (size_t)add);
	}
	if ((seg->flags & ZT_TCP_FIN) && row->f) {
		row->fin_pending = true;
		flush(rp, row);
	}
	if ((seg->flags & ZT_TCP_RST) && row->f)
		zt_stack_tcp_abort(rp->stack, row->f, rp->now);
}

static void handle_tcp(struct replay *rp, const struct zt_packet *pk)
{
	const struct zt_tcp_repr *seg = &pk->l4.tcp;
	bool syn = (seg->flags & (ZT_TCP_SYN | ZT_TCP_ACK)) == ZT_TCP_SYN;
	enum dir d;
	struct rflow *row = find_row(rp, ZT_IPPROTO_TCP, &pk->src, seg->src_port,
				     &pk->dst, seg->dst_port, &d);

	if (syn && (!row || d != DIR_CLIENT || !row->pub.syn_seen || row->ended)) {
		row = new_row(rp, ZT_IPPROTO_TCP, &pk->src, seg->src_port,
			      &pk->dst, seg->dst_port);
		if (!row)
			return;
		row->pub.syn_seen = true;
		d = DIR_CLIENT;
	} else if (!row) {
		/* Mid-flow: guess which side is behind the TUN. */
		bool src_is_client;

		if ((seg->flags & (ZT_TCP_SYN | ZT_TCP_ACK)) ==
		    (ZT_TCP_SYN | ZT_TCP_ACK))
			src_is_client = false;
		else
			src_is_client = seg->src_port >= seg->dst_port;
		if (src_is_client)
			row = new_row(rp, ZT_IPPROTO_TCP, &pk->src, seg->src_port,
				      &pk->dst, seg->dst_port);
		else
			row = new_row(rp, ZT_IPPROTO_TCP, &pk->dst, seg->dst_port,
				      &pk->src, seg->src_port);
		if (!row)
			return;
		row->pub.end = ZT_REPLAY_MIDFLOW;
		row->ended = true;
		d = src_is_client ? DIR_CLIENT : DIR_SERVER;
	}
	if (d == DIR_CLIENT)
		client_tcp(rp, row, pk, syn);
	else
		server_tcp(rp, row, pk);
}

static void handle_udp(struct replay *rp, const struct zt_packet *pk,
		       size_t caplen, size_t wirelen)
{
	const struct zt_udp_repr *u = &pk->l4.udp;
	size_t dlen = pk->payload.len;
	enum dir d;
	struct rflow *row = find_row(rp, ZT_IPPROTO_UDP, &pk->src, u->src_port,
				     &pk->dst, u->dst_port, &d);

	if (!row) {
		row = new_row(rp, ZT_IPPROTO_UDP, &pk->src, u->src_port, &pk->dst,
			      u->dst_port);
		if (!row)
			return;
		d = DIR_CLIENT;
	}
	if (d == DIR_CLIENT) {
		size_t hl = ip_hdr_len(pk);
		struct zt_udp_repr ur = *u;
		int n;

		row->pub.cap_dgrams_up++;
		row->pub.cap_up += dlen;
		if (caplen == wirelen) {
			feed(rp, rp->frame, wirelen);
			return;
		}
		/* Snapped: re-emit so the checksum covers the zero fill. */
		n = zt_udp_emit(&ur, &pk->src, &pk->dst, pk->payload.data, dlen,
				rp->pkt + hl, PKT_LEN - hl);
		if (n >= 0)
			n = emit_ip(rp, pk, hl, (size_t)n);
		if (n >= 0)
			feed(rp, rp->pkt, (size_t)n);
		else
			rp->r->ignored++;
	} else {
		struct zt_flow_key key;

		zt_flow_key_set(&key, pk->family, ZT_IPPROTO_UDP, &row->pub.client,
				row->pub.client_port, &row->pub.server,
				row->pub.server_port);
		row->pub.cap_dgrams_down++;
		row->pub.cap_down += dlen;
		rp->r->scripted++;
		if (zt_stack_udp_send(rp->stack, &key, pk->payload.data, dlen,
				      rp->now) == 0) {
			row->pub.dgrams_down++;
			row->pub.bytes_down += dlen;
		}
	}
}

/* Everything that is not a decoded TCP/UDP packet. */
static void handle_other(struct replay *rp, const struct zt_packet *pk,
			 enum zt_drop why, size_t len)
{
	bool icmp = why == ZT_DROP_NONE && !pk->is_fragment &&
		    (pk->proto == ZT_IPPROTO_ICMP || pk->proto == ZT_IPPROTO_ICMPV6);

	if (icmp && pk->l4.icmp.kind == ZT_ICMP_ECHO_REQUEST) {
		feed(rp, rp->frame, len);
	} else if (icmp) {
		/* Replies are the stack's job; errors go in only from a
		 * known client towards its server. */
		if (pk->l4.icmp.kind != ZT_ICMP_ECHO_REPLY &&
		    addrs_match(rp, &pk->src, &pk->dst, true))
			feed(rp, rp->frame, len);
		else
			rp->r->ignored++;
	} else if (pk->family && addrs_match(rp, &pk->src, &pk->dst, false) &&
		   !addrs_match(rp, &pk->src, &pk->dst, true)) {
		rp->r->ignored++; /* far side: nothing to emulate */
	} else {
		feed(rp, rp->frame, len);
	}
}

static void handle_record(struct replay *rp, const struct zt_pcap_record *rec)
{
	struct zt_packet pk;
	enum zt_drop why;

	rp->r->frames_read++;
	if (rec->orig_len > FRAME_LEN - 1 || rec->len > rec->orig_len) {
		rp->r->frames_skipped++;
		return;
	}
	if (!rp->started) {
		rp->started = true;
		rp->now = rec->ts_ns;
		rp->r->start_ns = rec->ts_ns;
	}
	advance(rp, rec->ts_ns);
	memset(rp->frame, 0, rec->orig_len);
	memcpy(rp->frame, rec->data, rec->len);
	memset(&pk, 0, sizeof(pk));
	/* Checksums are the stack's to judge: fed packets are checked there. */
	why = zt_packet_parse(zt_view_make(rp->frame, rec->orig_len),
			      ZT_PARSE_NO_CSUM, &pk);
	if (why == ZT_DROP_NONE && !pk.is_fragment && pk.proto == ZT_IPPROTO_TCP)
		handle_tcp(rp, &pk);
	else if (why == ZT_DROP_NONE && !pk.is_fragment && pk.proto == ZT_IPPROTO_UDP)
		handle_udp(rp, &pk, rec->len, rec->orig_len);
	else
		handle_other(rp, &pk, why, rec->orig_len);
}

/* --- the run ---------------------------------------------------------- */

static void replay_free(struct replay *rp)
{
	for (size_t i = 0; i < rp->n_rows; i++) {
		free(rp->rows[i]->pend);
		free(rp->rows[i]);
	}
	free(rp->rows);
	free(rp->frame);
	free(rp->pkt);
	free(rp->sink);
}

/* r->err = @msg, prefixed with @path unless it names it already. */
static void name_err(struct zt_replay_result *r, const char *path,
		     const char *msg)
{
	if (strstr(msg, path))
		snprintf(r->err, sizeof(r->err), "%s", msg);
	else
		snprintf(r->err, sizeof(r->err), "%s: %s", path, msg);
}

bool zt_replay_output_is_input(const struct zt_replay_opts *o)
{
	struct stat in, out;

	if (!o->input || !o->output || stat(o->input, &in) < 0 ||
	    stat(o->output, &out) < 0)
		return false; /* an output that does not exist yet is not it */
	return in.st_dev == out.st_dev && in.st_ino == out.st_ino;
}

int zt_replay_run(const struct zt_replay_opts *o, struct zt_replay_result *r)
{
	struct zt_stack_config cfg;
	struct zt_pcap_reader *rd = NULL;
	struct zt_pcap_record rec;
	struct replay rp;
	char err[200];
	int rc, got;

	memset(r, 0, sizeof(*r));
	memset(&rp, 0, sizeof(rp));
	if (!o->input || o->mtu < 1280) {
		snprintf(r->err, sizeof(r->err), "%s",
			 !o->input ? "no input capture" : "MTU below 1280");
		return -EINVAL;
	}
	rp.o = o;
	rp.r = r;
	rc = zt_pcap_open_read(o->input, &rd, err, sizeof(err));
	if (rc < 0) {
		name_err(r, o->input, err);
		return rc;
	}
	if (zt_replay_output_is_input(o)) {
		/* Opening it for writing would truncate the capture. */
		snprintf(r->err, sizeof(r->err),
			 "%s: is the input capture; refusing to overwrite it",
			 o->output);
		zt_pcap_close_read(rd);
		return -EINVAL;
	}
	if (o->output) {
		rc = zt_pcap_open_write(o->output, &rp.w, err, sizeof(err));
		if (rc < 0) {
			name_err(r, o->output, err);
			zt_pcap_close_read(rd);
			return rc;
		}
	}
	zt_stack_config_default(&cfg);
	cfg.mtu = o->mtu;
	zt_rng_seed(&rp.rng, o->seed);
	rp.stack = zt_stack_new(&cfg, &rp_ops, &rp, &rp.rng);
	rp.frame = malloc(FRAME_LEN);
	rp.pkt = malloc(PKT_LEN);
	rp.sink = malloc(SINK_LEN);
	if (!rp.stack || !rp.frame || !rp.pkt || !rp.sink) {
		rc = -ENOMEM;
		snprintf(r->err, sizeof(r->err), "out of memory");
		goto out;
	}
	while ((got = zt_pcap_read_next(rd, &rec)) == 1 && !rp.nomem)
		handle_record(&rp, &rec);
	if (got < 0) {
		rc = got;
		name_err(r, o->input, zt_pcap_error(rd));
		goto out;
	}
	advance(&rp, zt_sim_time_add(rp.now, o->linger));
	if (rp.nomem) {
		rc = -ENOMEM;
		snprintf(r->err, sizeof(r->err), "out of memory");
		goto out;
	}
	r->end_ns = rp.now;
	/* The reader passes over non-IP frames itself: read and skipped. */
	r->frames_read += zt_pcap_skipped(rd);
	r->frames_skipped += zt_pcap_skipped(rd);
	r->stats = *zt_stack_stats(rp.stack);
	r->flows = calloc(rp.n_rows ? rp.n_rows : 1, sizeof(*r->flows));
	if (!r->flows) {
		rc = -ENOMEM;
		snprintf(r->err, sizeof(r->err), "out of memory");
		goto out;
	}
	for (size_t i = 0; i < rp.n_rows; i++)
		r->flows[i] = rp.rows[i]->pub;
	r->n_flows = rp.n_rows;
	rc = 0;
out:
	zt_stack_free(rp.stack); /* sends nothing, calls no op */
	zt_pcap_close_read(rd);
	if (rp.w) {
		int wrc = zt_pcap_close_write(rp.w);

		if (rp.werr == 0)
			rp.werr = wrc;
		if (rc == 0 && rp.werr < 0) {
			rc = rp.werr;
			snprintf(r->err, sizeof(r->err), "%s: write failed: %s",
				 o->output, rc == -EOVERFLOW ?
				 "a packet's time is past 2106, which pcap's 32-bit seconds cannot hold (the output ends before it)" :
				 strerror(-rc));
		}
	}
	if (rc < 0)
		zt_replay_result_free(r);
	replay_free(&rp);
	return rc;
}
