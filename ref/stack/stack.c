/* SPDX-License-Identifier: MIT */
/*
 * stack.c - TUN intake, flow table and emission for one ztun node.
 *
 * Theory of operation:
 *
 * Intake (zt_stack_input): every packet is decoded with zt_packet_parse();
 * a refusal is counted under its drop reason. Three kinds of refusal are
 * answered as a host would answer them, rate-limited like every ICMP
 * error: a protocol we do not terminate (GRE, SCTP, ESP, ICMPv6 over IPv4
 * ...) draws an ICMP Protocol Unreachable (RFC 1122 3.2.2.1) or an ICMPv6
 * Parameter Problem at its next header byte (RFC 8200 4), so its sender
 * fails at once instead of timing out; an IPv6 extension header we may
 * not skip draws the Parameter Problem RFC 8200 4.2 / 4.4 asks, and a
 * first fragment without the whole header chain the one of 4.5 (code 3).
 *
 * Fragments go to the reassembly table and, once whole, are decoded again
 * (and refused or answered as above). TCP segments are looked up in the
 * flow table by (family, client, server, ports); a SYN for no flow opens
 * one (PENDING) and tells the host, anything else for no flow is answered
 * with the RST RFC 9293 asks for, and so is a segment with an ACK for a
 * PENDING flow that answered nothing yet (as a listener answers it). UDP
 * goes to the host. No flow opens to or from port 0 (reserved): to it is
 * refused as a closed port would be (RST or port unreachable), TCP from
 * it is dropped unanswered. An ICMP echo
 * request is answered, refused (administratively prohibited) or dropped as
 * the host's echo_verdict says; any other ICMP message that is no error
 * (echo reply, timestamp, router or neighbour solicitation, ...) is
 * counted as unsupported and dropped.
 *
 * Flow tables: fixed arrays of TCP and UDP flows indexed by flowtab.c (open
 * addressing, load <= 1/2, a free list of slots), all allocated once.
 * Lookups are O(1) and nothing on the packet path allocates; a TCP flow's
 * two rings are allocated when it opens. A UDP flow is a key, counters and
 * an idle timer; the host hangs its NAT or proxy state on f->user.
 *
 * Time: each flow has one deadline, the earliest of its tcb's timers, its
 * connect timeout (PENDING) and its idle timeout, kept in a heap ordered by
 * (deadline, insertion); zt_stack_poll() pops what is due. The reassembly
 * table's deadline and the heap's minimum make zt_stack_deadline().
 *
 * Idle flows: a flow the client has not sent a segment on for
 * tcp_idle_timeout is reset both ways (an open one: a PENDING flow waits
 * on its host, the connect timeout bounds it, and its idle time counts
 * from zt_stack_tcp_accept()). By default that is 2 h 4 min, what
 * RFC 5382 REQ-5 asks of a NAT for an established connection (an idle SSH
 * session, a push channel's socket between heartbeats): ztun stands where
 * a NAT would, and an idle flow costs a slot and no ring. The slots are
 * what runs out, so a list orders the flows by the client's last segment
 * (O(1) per segment: the flow moves to its tail); when the table or the
 * ring budget is full, a new SYN resets the flow at its head instead of
 * being refused, if that flow has been idle tcp_evict_idle or longer and
 * the host would not refuse the SYN at once anyway (ops->tcp_admit, asked
 * then only: a SYN its rules refuse is answered as with room, and costs
 * no idle connection).
 * PENDING flows, which may not be evicted, wait on a list of their own
 * and join the activity list when accepted (quiet from then on), so none
 * can stand at the head and shield the idle flows behind it.
 * A full UDP table likewise gives up the flow closest to its timeout (the
 * minimum of the UDP timer heap) if it has been idle udp_evict_idle, for
 * a datagram the host would not refuse at once (ops->udp_admit).
 *
 * Emission: every packet is built in one scratch buffer owned by the stack
 * and handed to ops->tun_output. TCP never exceeds the MTU because the MSS
 * is clamped per family (MTU - 40 or MTU - 60). UDP larger than the MTU is
 * fragmented (IPv4 fragments, or an IPv6 fragment header), as the remote
 * host we stand in for would do.
 *
 * ICMP errors from the TUN side quote a segment we sent; the quote names
 * the flow. Each is validated (RFC 5927: the quoted sequence number must
 * lie in the flight; a PENDING flow that answered nothing has none) before
 * it acts: Packet Too Big lowers the flow's MSS
 * and resends from snd_una, unless the datagram it quotes fits the MTU it
 * claims (floored at 576; no IPv6 one below 1280, RFC 8201 4): that one
 * was not too big, so our SYN-ACK's is never believed; a hard unreachable
 * (zt_icmp_unreach_hard(): protocol, port, administratively prohibited,
 * ..., Linux's fatal codes) while the handshake is open aborts the flow;
 * everything else is a soft error (RFC 1122 4.2.3.9) and is counted. A
 * UDP flow's datagram quoted in a hard unreachable from the flow's client
 * to its server ends that flow as its idle timeout would
 * (input_udp_error()). An error quoting less than the IP header and 8
 * bytes, or naming no flow of ours, or about a UDP flow but not from its
 * client, or about a TCP segment not in flight, is dropped under its
 * reason and changes nothing.
 *
 * Events: after every call into a tcb the stack takes its event bits and
 * passes them to ops->tcp_event; on RESET/CLOSED it frees the flow after
 * that call returns. Every end the host did not ask for is reported (a
 * send whose ring could not be allocated resets the flow, and says so);
 * a freed slot (key.family 0) is never settled or freed again. A host
 * that calls back into the stack from tcp_event is safe: the outer
 * dispatch picks up the new events, and the flow is freed only by the
 * outermost dispatch.
 */
#include "ztun/stack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flowtab.h"

#define SCRATCH_LEN (65535 + 64)
#define NO_FLOW UINT32_MAX         /* the end of the flows' LRU list */

/* A held ACK may stand for this many MSS-sized segments past the last ACK
 * sent (RFC 5681 asks for one per two; a GRO receiver sends one per up to
 * 64 KiB). Each ACK written to the TUN runs the client's ACK processing
 * and its next transmission in that write: a one-stream upload without
 * offloads took 8% less CPU with four (docs/performance.md, step 24). */
#define ACK_STRETCH_SEGS 4u

/* Flows that may hold an ACK in one batch; more send theirs at once. */
#define ACK_HOLD_MAX 64

struct zt_stack {
	struct zt_stack_config cfg;
	struct zt_tcp_config tcp4, tcp6;  /* MSS clamped to the MTU */
	const struct zt_stack_ops *ops;
	void *host;
	struct zt_rng *rng;
	struct zt_tcp_ops tcp_ops;
	struct zt_flow *flows;            /* max_tcp_flows slots */
	struct zt_flowtab tcp_tab;
	struct zt_udp_flow *udp;          /* max_udp_flows slots */
	struct zt_flowtab udp_tab;
	struct zt_heap timers;            /* TCP flows */
	uint32_t lru_head, lru_tail;      /* TCP flows by last_active */
	uint32_t pend_head, pend_tail;    /* PENDING flows, by their SYN */
	struct zt_heap udp_timers;        /* UDP flows */
	struct zt_reasm reasm;
	struct zt_ratelimit icmp_limit;
	uint16_t ip4_ident;
	uint32_t frag_ident;
	/* the datagram being handed to ops->udp_input, for udp_reject */
	const struct zt_packet *cur_pk;
	struct zt_view cur_raw;
	const struct zt_udp_flow *cur_udp;
	struct zt_stack_stats stats;
	struct zt_tcb_stats tcp_ended;    /* summed over the flows freed */
	/* a SYN the host refuses while the table is full (tcp_syn_admit):
	 * set up and answered here, in no slot and never looked up */
	struct zt_flow refused;
	uint8_t *scratch;                 /* SCRATCH_LEN bytes for emission */
	uint8_t *scratch2;                /* fragmentation source */
	struct zt_bufpool ring_pool;      /* lazy ring buffers of all flows */
	/* zt_stack_batch_begin/end: flows holding a pure ACK (a flow freed
	 * meanwhile has ack_held cleared, and a new flow in its slot both;
	 * the slot may then be listed twice, and only the first entry acts) */
	bool batching;
	unsigned n_ack_held;
	struct zt_flow *ack_held[ACK_HOLD_MAX];
};

void zt_stack_config_default(struct zt_stack_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mtu = 1500;
	zt_tcp_config_default(&cfg->tcp);
	cfg->tcp.mss = 0; /* from the MTU: 1460 / 1440 at 1500 */
	/* The TUN side is one hop: TIME_WAIT guards against nothing there and
	 * would hold flow slots, so it is short. */
	cfg->tcp.time_wait = 2 * ZT_SEC;
	cfg->max_tcp_flows = 4096;
	cfg->connect_timeout = 10 * ZT_SEC;
	cfg->tcp_idle_timeout = 7440 * ZT_SEC; /* RFC 5382 REQ-5: 2 h 4 min */
	cfg->tcp_evict_idle = 300 * ZT_SEC;
	cfg->icmp_rate = 100;
	cfg->icmp_burst = 50;
	/* Enough to reserve default rings for max_tcp_flows flows: the flow
	 * cap is what binds by default; ring pages are touched only as data
	 * arrives. */
	cfg->mem_budget = (uint64_t)cfg->max_tcp_flows *
			  (cfg->tcp.rx_buf + cfg->tcp.tx_buf);
	cfg->max_udp_flows = 8192;
	cfg->udp_idle_timeout = 30 * ZT_SEC;
	cfg->udp_evict_idle = 10 * ZT_SEC;
	cfg->udp_stream_timeout = 120 * ZT_SEC;
}

static uint64_t flow_mem(const struct zt_stack *s)
{
	return (uint64_t)s->cfg.tcp.rx_buf + s->cfg.tcp.tx_buf;
}

/* --- flow tables ------------------------------------------------------ */

static const struct zt_flow_key *tcp_key_of(void *ctx, uint32_t idx)
{
	return &((struct zt_stack *)ctx)->flows[idx].key;
}

static const struct zt_flow_key *udp_key_of(void *ctx, uint32_t idx)
{
	return &((struct zt_stack *)ctx)->udp[idx].key;
}

struct zt_flow *zt_stack_tcp_lookup(struct zt_stack *s,
				    const struct zt_flow_key *key)
{
	uint32_t i = zt_flowtab_find(&s->tcp_tab, key);

	return i == ZT_FLOWTAB_NONE ? NULL : &s->flows[i];
}

struct zt_udp_flow *zt_stack_udp_lookup(struct zt_stack *s,
					const struct zt_flow_key *key)
{
	uint32_t i = zt_flowtab_find(&s->udp_tab, key);

	return i == ZT_FLOWTAB_NONE ? NULL : &s->udp[i];
}

/* --- emission --------------------------------------------------------- */

static void tun_emit(struct zt_stack *s, const uint8_t *pkt, size_t len)
{
	s->stats.packets_out++;
	s->stats.bytes_out += len;
	s->ops->tun_output(s->host, pkt, len);
}

/* Emit @l4 (@l4_len bytes of protocol @proto) from @src to @dst with
 * traffic class (IPv4 TOS) @tclass, as IPv4 or IPv6 fragments when it
 * does not fit the MTU. @l4 must not be in s->scratch. */
static void emit_ip(struct zt_stack *s, const struct zt_addr *src,
		    const struct zt_addr *dst, uint8_t proto, const uint8_t *l4,
		    size_t l4_len, bool dont_frag, uint8_t tclass)
{
	size_t mtu = s->cfg.mtu, off = 0;

	if (src->family == ZT_AF_INET) {
		struct zt_ip4_repr ip;
		size_t max = (mtu - ZT_IP4_MIN_HDR) & ~(size_t)7;

		memset(&ip, 0, sizeof(ip));
		ip.ttl = 64;
		ip.dscp_ecn = tclass;
		ip.protocol = proto;
		memcpy(ip.src, src->bytes, 4);
		memcpy(ip.dst, dst->bytes, 4);
		if (l4_len + ZT_IP4_MIN_HDR <= mtu) {
			ip.dont_frag = dont_frag;
			ip.ident = dont_frag ? 0 : s->ip4_ident++;
			if (zt_ip4_emit(&ip, l4_len, s->scratch, SCRATCH_LEN) < 0)
				return;
			memcpy(s->scratch + ZT_IP4_MIN_HDR, l4, l4_len);
			tun_emit(s, s->scratch, ZT_IP4_MIN_HDR + l4_len);
			return;
		}
		ip.ident = s->ip4_ident++;
		while (off < l4_len) {
			size_t n = l4_len - off > max ? max : l4_len - off;

			ip.frag_offset = (uint16_t)off;
			ip.more_frags = off + n < l4_len;
			if (zt_ip4_emit(&ip, n, s->scratch, SCRATCH_LEN) < 0)
				return;
			memcpy(s->scratch + ZT_IP4_MIN_HDR, l4 + off, n);
			tun_emit(s, s->scratch, ZT_IP4_MIN_HDR + n);
			s->stats.fragments_out++;
			off += n;
		}
	} else {
		struct zt_ip6_repr ip;
		size_t max = (mtu - ZT_IP6_HDR - ZT_IP6_FRAG_HDR) & ~(size_t)7;
		int hl;

		memset(&ip, 0, sizeof(ip));
		ip.hop_limit = 64;
		ip.traffic_class = tclass;
		ip.upper_proto = proto;
		memcpy(ip.src, src->bytes, 16);
		memcpy(ip.dst, dst->bytes, 16);
		if (l4_len + ZT_IP6_HDR <= mtu) {
			hl = zt_ip6_emit(&ip, l4_len, s->scratch, SCRATCH_LEN);
			if (hl < 0)
				return;
			memcpy(s->scratch + hl, l4, l4_len);
			tun_emit(s, s->scratch, (size_t)hl + l4_len);
			return;
		}
		ip.has_frag = true;
		ip.frag_ident = ++s->frag_ident;
		while (off < l4_len) {
			size_t n = l4_len - off > max ? max : l4_len - off;

			ip.frag_offset = (uint16_t)off;
			ip.more_frags = off + n < l4_len;
			hl = zt_ip6_emit(&ip, n, s->scratch, SCRATCH_LEN);
			if (hl < 0)
				return;
			memcpy(s->scratch + hl, l4 + off, n);
			tun_emit(s, s->scratch, (size_t)hl + n);
			s->stats.fragments_out++;
			off += n;
		}
	}
}

/* In a batch, keep one pure ACK for zt_stack_batch_end(); any segment the
 * flow sends makes the one it held unnecessary. Never held: ACKs while
 * out-of-order data waits (duplicate ACKs and SACK blocks report a hole,
 * and the peer's loss recovery counts them). Returns whether @repr was
 * held. */
static bool flow_hold_ack(struct zt_stack *s, struct zt_flow *f,
			  const struct zt_tcp_repr *repr, size_t len)
{
	bool pure = len == 0 && repr->flags == ZT_TCP_ACK &&
		    repr->sack_count == 0 && zt_asm_empty(&f->tcb.ooo);

	if (f->ack_held) {
		s->stats.tcp_acks_coalesced++; /* one of the two says it all */
		/* Still held while this one only repeats the held one's
		 * number with a wider window (the host drained the ring),
		 * or the held one was such an update, or it acknowledges at
		 * most ACK_STRETCH_SEGS segments past the last ACK sent
		 * (MSS-sized segments from a TUN without offloads). The one
		 * held is built when it goes, so it says the latest window. */
		if (s->batching && pure &&
		    (repr->ack == f->ack_held_no || f->ack_held_no == f->ack_out ||
		     repr->ack - f->ack_out <=
			     (uint32_t)ACK_STRETCH_SEGS * f->tcb.cfg->mss)) {
			f->ack_held_no = repr->ack;
			return true;
		}
		/* this one goes out, saying all would have (at least one
		 * ACK per two TSO segments or per six MSS read, none delayed
		 * past the batch) */
		f->ack_held = false;
		return false;
	}
	if (!s->batching || !pure)
		return false;
	/* listed already if it held one and sent data since */
	if (!f->ack_listed) {
		if (s->n_ack_held == ACK_HOLD_MAX)
			return false;
		s->ack_held[s->n_ack_held++] = f;
		f->ack_listed = true;
	}
	f->ack_held = true;
	f->ack_held_no = repr->ack;
	return true;
}

void zt_stack_batch_begin(struct zt_stack *s)
{
	s->batching = true;
}

void zt_stack_batch_end(struct zt_stack *s, uint64_t now)
{
	unsigned n = s->n_ack_held;

	s->batching = false;
	s->n_ack_held = 0;
	for (unsigned i = 0; i < n; i++) {
		struct zt_flow *f = s->ack_held[i];

		f->ack_listed = false;
		if (!f->ack_held)
			continue; /* superseded, or the flow is gone */
		f->ack_held = false;
		zt_tcb_send_ack(&f->tcb, now);
	}
}

/* The flow a tcb is embedded in (every tcb the stack's ops see is). */
static struct zt_flow *flow_of_tcb(struct zt_tcb *tcb)
{
	return (struct zt_flow *)((char *)tcb - offsetof(struct zt_flow, tcb));
}

/* ops->rx_direct of every tcb when the host has tcp_rx_direct: only for a
 * flow the host accepted (a pending one has no owner to take it). */
static size_t flow_tcp_rx_direct(void *ctx, struct zt_tcb *tcb,
				 const uint8_t *p, size_t len)
{
	struct zt_stack *s = ctx;
	struct zt_flow *f = flow_of_tcb(tcb);

	if (f->pending)
		return 0;
	return s->ops->tcp_rx_direct(s->host, f, p, len);
}

/* The IP header of a packet of @l4_len bytes of @proto from @src to @dst
 * into @buf (@cap bytes): TTL 64, traffic class @tclass, IPv4 with DF, or
 * else identification @ident. Return: its length, or negative. */
static int ip_header(const struct zt_addr *src, const struct zt_addr *dst,
		     uint8_t proto, size_t l4_len, bool dont_frag,
		     uint16_t ident, uint8_t tclass, uint8_t *buf, size_t cap)
{
	const struct zt_ip_hdr_params p = {
		.ttl = 64, .tclass = tclass, .dont_frag = dont_frag,
		.ident = dont_frag ? 0 : ident,
	};

	return zt_ip_header_emit(src, dst, proto, l4_len, &p, buf, cap);
}

/* ops->output of every tcb: the segment goes from the flow's server side
 * to its client, built in place in scratch (IP header, TCP header, data:
 * one copy of the data). TCP never needs fragments (the MSS fits the
 * MTU); a TSO segment larger than that goes to tun_output_gso. */
static void flow_tcp_output(void *ctx, struct zt_tcb *tcb,
			    const struct zt_tcp_repr *repr, const uint8_t *d1,
			    size_t l1, const uint8_t *d2, size_t l2)
{
	struct zt_stack *s = ctx;
	struct zt_flow *f = flow_of_tcb(tcb);
	const struct zt_addr *src = &f->key.server, *dst = &f->key.client;
	size_t iphl = src->family == ZT_AF_INET ? ZT_IP4_MIN_HDR : ZT_IP6_HDR;
	int hl = zt_tcp_header_len(repr), n, ipn;
	uint8_t *l4 = s->scratch + iphl;
	uint32_t seg = zt_tcb_seg_size(tcb);
	bool tso = l1 + l2 > seg && s->ops->tun_output_gso;

	if (hl < 0 || iphl + (size_t)hl + l1 + l2 > SCRATCH_LEN)
		return;
	if (flow_hold_ack(s, f, repr, l1 + l2))
		return;
	if (repr->flags & ZT_TCP_ACK)
		f->ack_out = repr->ack;
	/* A TSO segment's pieces are checksummed by whoever cuts it, and its
	 * data goes to the host straight from the ring (stack.h,
	 * tun_output_gso): only the headers are built here. */
	if (tso) {
		n = zt_tcp_emit_partial(repr, src, dst, NULL, l1 + l2, l4,
					SCRATCH_LEN - iphl);
	} else {
		if (l1)
			memcpy(l4 + hl, d1, l1);
		if (l2)
			memcpy(l4 + hl + l1, d2, l2);
		n = zt_tcp_emit(repr, src, dst, l4 + hl, l1 + l2, l4,
				SCRATCH_LEN - iphl);
	}
	if (n < 0)
		return;
	ipn = ip_header(src, dst, ZT_IPPROTO_TCP, (size_t)n, true, 0, 0,
			s->scratch, iphl);
	if (ipn != (int)iphl)
		return;
	if (tso) {
		struct zt_pkt_parts parts = {
			.hdr = s->scratch, .hdr_len = iphl + (size_t)hl,
			.d1 = d1, .l1 = l1, .d2 = d2, .l2 = l2,
		};

		s->stats.packets_out++;
		s->stats.bytes_out += iphl + (size_t)n;
		s->stats.tso_segments_out++;
		s->ops->tun_output_gso(s->host, &parts, seg);
		return;
	}
	tun_emit(s, s->scratch, iphl + (size_t)n);
}

/* RST for a segment that has no flow (RFC 9293 3.10.7.1). */
static void send_stray_rst(struct zt_stack *s, const struct zt_packet *pk)
{
	struct zt_tcp_repr rst;
	int n;

	if (!zt_tcp_reply_rst(&pk->l4.tcp, pk->payload.len, &rst))
		return;
	n = zt_tcp_emit(&rst, &pk->dst, &pk->src, NULL, 0, s->scratch2, SCRATCH_LEN);
	if (n < 0)
		return;
	s->stats.tcp_rst_sent++;
	emit_ip(s, &pk->dst, &pk->src, ZT_IPPROTO_TCP, s->scratch2, (size_t)n, true,
		0);
}

/* An ICMP error @kind/@code about @raw (already decoded into @pk) from
 * @from to its source, rate-limited. */
static void send_icmp_error_from(struct zt_stack *s, const struct zt_packet *pk,
				 struct zt_view raw, enum zt_icmp_kind kind,
				 uint8_t code, uint32_t arg,
				 const struct zt_addr *from, uint64_t now)
{
	int n = zt_icmp_error(pk, raw, kind, code, arg, from, s->cfg.mtu,
			      s->scratch, SCRATCH_LEN);

	if (n < 0)
		return; /* the rules forbid this error: spend no token */
	if (!zt_ratelimit_take(&s->icmp_limit, now)) {
		s->stats.icmp_errors_limited++;
		return;
	}
	s->stats.icmp_errors_sent++;
	tun_emit(s, s->scratch, (size_t)n);
}

/* The usual case: the error comes from where @pk was going. */
static void send_icmp_error(struct zt_stack *s, const struct zt_packet *pk,
			    struct zt_view raw, enum zt_icmp_kind kind,
			    uint8_t code, uint32_t arg, uint64_t now)
{
	send_icmp_error_from(s, pk, raw, kind, code, arg, &pk->dst, now);
}

/* @pk is answered as a host with no socket at its port answers it: an
 * ICMP port unreachable when @icmp, else (TCP) a RST. */
static void refuse_closed_port(struct zt_stack *s, const struct zt_packet *pk,
			       struct zt_view raw, bool icmp, uint64_t now)
{
	if (icmp)
		send_icmp_error(s, pk, raw, ZT_ICMP_DEST_UNREACH,
				pk->family == ZT_AF_INET ?
					ZT_ICMP4_CODE_PORT_UNREACH :
					ZT_ICMP6_CODE_PORT_UNREACH,
				0, now);
	else
		send_stray_rst(s, pk);
}

/* --- flow lifecycle --------------------------------------------------- */

static void flow_update_timer(struct zt_stack *s, struct zt_flow *f)
{
	uint64_t d = zt_tcb_deadline(&f->tcb);

	/* a PENDING flow waits on the host, not on its client: the connect
	 * timeout bounds it, the idle timeout starts when it opens */
	if (f->pending) {
		if (f->connect_deadline < d)
			d = f->connect_deadline;
	} else if (f->idle_deadline < d) {
		d = f->idle_deadline;
	}
	if (d == ZT_TIME_NEVER) {
		zt_heap_remove(&s->timers, &f->timer);
	} else if (!zt_heap_node_linked(&f->timer) || d != f->timer_deadline) {
		zt_heap_insert(&s->timers, &f->timer, d);
	}
	f->timer_deadline = d;
}

/* --- flows by the client's last segment (oldest at lru_head) ---------- */

/*
 * Every open flow is on one of two lists through its lru_prev/lru_next:
 * the activity list (lru_head/lru_tail) of the flows eviction may take,
 * oldest first; or, while PENDING (f->lru_pending), the list of those it
 * may not (pend_head/pend_tail). A PENDING flow on the activity list
 * could be its head for as long as connect_timeout and stop eviction of
 * every flow behind it; apart, eviction reads the head only.
 */
static void list_unlink(struct zt_stack *s, uint32_t *head, uint32_t *tail,
			struct zt_flow *f)
{
	if (f->lru_prev == NO_FLOW)
		*head = f->lru_next;
	else
		s->flows[f->lru_prev].lru_next = f->lru_next;
	if (f->lru_next == NO_FLOW)
		*tail = f->lru_prev;
	else
		s->flows[f->lru_next].lru_prev = f->lru_prev;
}

static void list_append(struct zt_stack *s, uint32_t *head, uint32_t *tail,
			struct zt_flow *f)
{
	f->lru_next = NO_FLOW;
	f->lru_prev = *tail;
	if (*tail == NO_FLOW)
		*head = f->index;
	else
		s->flows[*tail].lru_next = f->index;
	*tail = f->index;
}

static void lru_unlink(struct zt_stack *s, struct zt_flow *f)
{
	if (f->lru_pending)
		list_unlink(s, &s->pend_head, &s->pend_tail, f);
	else
		list_unlink(s, &s->lru_head, &s->lru_tail, f);
}

/* The client sent a segment on @f at @now, on the activity list (not
 * PENDING: flow_touch_pending()). */
static void flow_touch(struct zt_stack *s, struct zt_flow *f, uint64_t now)
{
	f->idle_deadline = now + s->cfg.tcp_idle_timeout;
	f->last_active = now;
	if (s->lru_tail != f->index) {
		list_unlink(s, &s->lru_head, &s->lru_tail, f);
		list_append(s, &s->lru_head, &s->lru_tail, f);
	}
}

/* ... on PENDING flow @f (or its SYN opened it): it stays where it is,
 * its place on the activity list taken when the host accepts it
 * (flow_activate()). */
static void flow_touch_pending(struct zt_stack *s, struct zt_flow *f,
			       uint64_t now)
{
	f->idle_deadline = now + s->cfg.tcp_idle_timeout;
	f->last_active = now;
}

/* PENDING flow @f was accepted at @now: it may be evicted from now on,
 * its client's quiet time counted from now, as its idle timeout is. */
static void flow_activate(struct zt_stack *s, struct zt_flow *f, uint64_t now)
{
	f->idle_deadline = now + s->cfg.tcp_idle_timeout;
	if (!f->lru_pending)
		return;
	list_unlink(s, &s->pend_head, &s->pend_tail, f);
	f->lru_pending = false;
	f->last_active = now;
	list_append(s, &s->lru_head, &s->lru_tail, f);
}

/* A free slot has key.family 0: freeing it again would unlink it twice
 * and count it twice, so it is left alone (a host holding a stale
 * pointer then corrupts nothing). */
static void flow_free(struct zt_stack *s, struct zt_flow *f)
{
	if (!f->key.family)
		return;
	lru_unlink(s, f);
	zt_heap_remove(&s->timers, &f->timer);
	zt_flowtab_remove(&s->tcp_tab, f->index);
	zt_tcb_stats_add(&s->tcp_ended, &f->tcb.stats);
	zt_tcb_destroy(&f->tcb);
	f->key.family = 0;
	f->ack_held = false; /* a batch that listed it passes it by */
	s->stats.tcp_flows_active--;
	s->stats.mem_reserved -= flow_mem(s);
}

/* Pass the tcb's events to the host; free the flow when it ended. */
static void flow_settle(struct zt_stack *s, struct zt_flow *f, uint64_t now)
{
	uint32_t ev;
	bool ended = false;

	if (f->in_dispatch || !f->key.family)
		return; /* the outer dispatch will see the new events; or a
			 * free slot, whose host heard of its end */
	f->in_dispatch = true;
	while ((ev = zt_tcb_events(&f->tcb)) != 0) {
		if (ev & (ZT_TCP_EV_RESET | ZT_TCP_EV_CLOSED))
			ended = true;
		if (s->ops->tcp_event)
			s->ops->tcp_event(s->host, f, ev, now);
	}
	f->in_dispatch = false;
	if (ended || f->tcb.state == ZT_TCP_CLOSED)
		flow_free(s, f);
	else
		flow_update_timer(s, f);
}

/* Decode @f's SYN as kept into @pk, for an error quoting it. A SYN longer
 * than the copy (data, as TCP Fast Open sends; a long extension header) is
 * decoded from @tmp, the copy with an IP length saying what was kept: the
 * error needs its addresses and protocol only, and quotes the copy as it
 * came. True if its IP header decodes. */
static bool flow_syn_decode(const struct zt_flow *f, uint8_t *tmp,
			    struct zt_packet *pk)
{
	size_t n = f->syn_len;

	memcpy(tmp, f->syn, n);
	if (n >= ZT_IP4_MIN_HDR && tmp[0] >> 4 == 4 && zt_rd16(tmp + 2) > n)
		zt_wr16(tmp + 2, (uint16_t)n);
	else if (n >= ZT_IP6_HDR && tmp[0] >> 4 == 6 &&
		 zt_rd16(tmp + 4) > n - ZT_IP6_HDR)
		zt_wr16(tmp + 4, (uint16_t)(n - ZT_IP6_HDR));
	(void)zt_packet_parse(zt_view_make(tmp, n), ZT_PARSE_NO_CSUM, pk);
	return pk->family != 0 && pk->proto == ZT_IPPROTO_TCP;
}

/* Refuse flow @f with RST (@icmp_code < 0) or an ICMP error @kind /
 * @icmp_code quoting its SYN, from @from (NULL or no source: the server). */
static void flow_refuse_error(struct zt_stack *s, struct zt_flow *f,
			      enum zt_icmp_kind kind, int icmp_code,
			      const struct zt_addr *from, uint64_t now)
{
	uint8_t tmp[sizeof(f->syn)];
	struct zt_packet pk;

	if (f->early) {
		/* The client has our SYN-ACK: too late to refuse, so reset. */
		zt_tcb_abort(&f->tcb, now);
	} else if (icmp_code >= 0 && f->syn_len && flow_syn_decode(f, tmp, &pk)) {
		if (!from || from->family != pk.family || !zt_addr_is_host(from))
			from = &pk.dst;
		send_icmp_error_from(s, &pk, zt_view_make(f->syn, f->syn_len),
				     kind, (uint8_t)icmp_code, 0, from, now);
		f->tcb.state = ZT_TCP_CLOSED;
	} else {
		zt_tcb_refuse(&f->tcb, now);
	}
	f->pending = false;
	f->early = false;
	s->stats.tcp_refused++;
}

static void flow_refuse_how(struct zt_stack *s, struct zt_flow *f,
			    int icmp_code, uint64_t now)
{
	flow_refuse_error(s, f, ZT_ICMP_DEST_UNREACH, icmp_code, NULL, now);
}

static void flow_refuse(struct zt_stack *s, struct zt_flow *f, uint64_t now)
{
	int code = -1;

	if (s->cfg.reject_icmp)
		code = f->key.family == ZT_AF_INET ? ZT_ICMP4_CODE_PORT_UNREACH :
						     ZT_ICMP6_CODE_PORT_UNREACH;
	flow_refuse_how(s, f, code, now);
}

/* An idle flow ends both ways: its client gets a RST, its host EV_RESET
 * (the caller settles it). */
static void flow_idle_reset(struct zt_flow *f, uint64_t now)
{
	zt_tcb_abort(&f->tcb, now);
	f->tcb.events |= ZT_TCP_EV_RESET;
}

/* The flow tcp_evict() would reset at @now: the one idle longest, if it
 * has been idle tcp_evict_idle or longer; else NULL. PENDING flows (the
 * host's until it answers) are on a list of their own; a flow inside
 * ops->tcp_event is passed by (at most the few of a host's nested
 * calls). */
static struct zt_flow *tcp_evict_victim(struct zt_stack *s, uint64_t now)
{
	struct zt_flow *f;
	uint32_t i;

	if (!s->cfg.tcp_evict_idle)
		return NULL;
	for (i = s->lru_head; i != NO_FLOW; i = f->lru_next) {
		f = &s->flows[i];
		if (now - f->last_active < s->cfg.tcp_evict_idle)
			return NULL; /* and so is every flow behind it */
		if (!f->in_dispatch)
			return f;
	}
	return NULL;
}

/* Make room for a new flow (or the host's socket for one) at @now by
 * resetting tcp_evict_victim(). True if a flow was freed. */
static bool tcp_evict(struct zt_stack *s, uint64_t now)
{
	struct zt_flow *f = tcp_evict_victim(s, now);

	if (!f)
		return false;
	s->stats.tcp_idle_evicted++;
	flow_idle_reset(f, now);
	flow_settle(s, f, now);
	return true;
}

static bool flow_room(const struct zt_stack *s)
{
	return s->tcp_tab.n_free != 0 &&
	       s->stats.mem_reserved + flow_mem(s) <= s->cfg.mem_budget;
}

/* Set flow @f (slot @idx) up for the SYN @pk of @key: its tcb in
 * SYN-RECEIVED, its ISN @iss if not NULL (else a random one: drawn either
 * way, so that other flows' do not change), the SYN's copy, class and
 * TTL. False if that failed: answered and counted, @f's tcb gone (a free
 * slot), and the caller releases @idx. */
static bool flow_syn_init(struct zt_stack *s, struct zt_flow *f, uint32_t idx,
			  const struct zt_packet *pk, struct zt_view raw,
			  const struct zt_flow_key *key, const uint32_t *iss,
			  uint64_t now)
{
	uint32_t isn;
	enum zt_drop d;

	memset(f, 0, sizeof(*f));
	f->index = idx;
	f->key = *key;
	zt_flow_key_normalize(&f->key);
	if (zt_tcb_init(&f->tcb, key->family == ZT_AF_INET ? &s->tcp4 : &s->tcp6,
			&s->tcp_ops, s) != 0) {
		f->key.family = 0; /* a free slot */
		s->stats.tcp_refused_memory++;
		send_stray_rst(s, pk);
		return false;
	}
	isn = zt_rng_u32(s->rng);
	if (iss)
		isn = *iss;
	d = zt_tcb_open_passive(&f->tcb, &pk->l4.tcp, isn, now);
	if (d != ZT_DROP_NONE) {
		zt_tcb_destroy(&f->tcb);
		f->key.family = 0;
		s->stats.drops[d]++;
		return false;
	}
	f->syn_len = (uint8_t)(raw.len < sizeof(f->syn) ? raw.len : sizeof(f->syn));
	memcpy(f->syn, raw.data, f->syn_len);
	f->tclass = zt_packet_tclass(pk);
	f->syn_ttl = zt_packet_ttl(pk);
	s->stats.tcp_flows_opened++;
	return true;
}

/*
 * The SYN @pk needs a flow evicted for its own (the table or ring budget
 * is full, and a flow is idle enough): ask the host first whether it
 * would refuse the SYN at once (ops->tcp_admit), so that a SYN its rules
 * refuse costs no idle connection. True if it would: the SYN is answered
 * as when there is room, through a flow set up as a slot's would be
 * (same ISN draw, same RST) but in none, and counted as opened and
 * refused, as then.
 */
static bool tcp_syn_admit(struct zt_stack *s, const struct zt_packet *pk,
			  struct zt_view raw, const struct zt_flow_key *key,
			  const uint32_t *iss, uint64_t now)
{
	struct zt_flow *f = &s->refused;
	struct zt_flow_key k = *key;
	enum zt_tcp_admit a;

	if (!s->ops->tcp_admit || !tcp_evict_victim(s, now))
		return false;
	zt_flow_key_normalize(&k); /* as the host's flows have it */
	a = s->ops->tcp_admit(s->host, &k, now);
	if (a == ZT_TCP_ADMIT)
		return false;
	if (!flow_syn_init(s, f, NO_FLOW, pk, raw, key, iss, now))
		return true;
	if (a == ZT_TCP_ADMIT_RST) {
		flow_refuse_how(s, f, -1, now);
	} else { /* as zt_stack_tcp_drop() */
		f->tcb.state = ZT_TCP_CLOSED;
		s->stats.tcp_refused++;
	}
	zt_tcb_stats_add(&s->tcp_ended, &f->tcb.stats);
	zt_tcb_destroy(&f->tcb);
	f->key.family = 0;
	return true;
}

/* Open a PENDING flow for the SYN @pk, its ISN @iss if not NULL. */
static void tcp_syn_new(struct zt_stack *s, const struct zt_packet *pk,
			struct zt_view raw, const struct zt_flow_key *key,
			const uint32_t *iss, uint64_t now)
{
	struct zt_flow *f;
	uint32_t idx;

	if (!flow_room(s) && tcp_syn_admit(s, pk, raw, key, iss, now))
		return;
	while (!flow_room(s) && tcp_evict(s, now))
		;
	if (!flow_room(s)) {
		if (s->tcp_tab.n_free == 0)
			s->stats.tcp_refused_full++;
		else
			s->stats.tcp_refused_memory++;
		refuse_closed_port(s, pk, raw, s->cfg.reject_icmp, now);
		return;
	}
	idx = zt_flowtab_alloc(&s->tcp_tab);
	f = &s->flows[idx];
	if (!flow_syn_init(s, f, idx, pk, raw, key, iss, now)) {
		zt_flowtab_release(&s->tcp_tab, idx);
		return;
	}
	zt_flowtab_insert(&s->tcp_tab, idx);
	zt_heap_node_init(&f->timer);
	f->pending = true;
	f->early = false;
	f->connect_deadline = now + s->cfg.connect_timeout;
	f->lru_pending = true;
	list_append(s, &s->pend_head, &s->pend_tail, f);
	flow_touch_pending(s, f, now);
	s->stats.tcp_flows_active++;
	s->stats.mem_reserved += flow_mem(s);
	if (s->ops->tcp_new(s->host, f, now) < 0) {
		flow_refuse(s, f, now);
		flow_free(s, f);
		return;
	}
	if (f->key.family) /* the host may have answered at once */
		flow_update_timer(s, f);
}

/* A SYN of another ISN on PENDING flow @f whose SYN went unanswered (no
 * early SYN-ACK): the client gave up its first attempt and reused the
 * port, or a NAT in front of it did. Nothing was sent for the old SYN, so
 * the new one takes its place, as a listener takes a SYN (a passive
 * SYN-RECEIVED returns to LISTEN, RFC 9293 3.10.7.4): a fresh tcb with the
 * same ISS, the SYN's copy, TTL and class. The host's upstream attempt is
 * for the same 4-tuple and goes on, under the same connect deadline;
 * dropping the SYN instead left the client waiting for it. */
static void flow_syn_replace(struct zt_stack *s, struct zt_flow *f,
			     const struct zt_packet *pk, struct zt_view raw,
			     uint64_t now)
{
	struct zt_tcb_stats st = f->tcb.stats;
	uint32_t iss = f->tcb.iss;

	zt_tcb_destroy(&f->tcb);
	/* lazy rings (the stack's pool): init cannot fail, nor can a SYN
	 * that passed the check of the caller be refused */
	if (zt_tcb_init(&f->tcb, f->key.family == ZT_AF_INET ? &s->tcp4 : &s->tcp6,
			&s->tcp_ops, s) != 0 ||
	    zt_tcb_open_passive(&f->tcb, &pk->l4.tcp, iss, now) != ZT_DROP_NONE) {
		zt_stack_tcp_drop(s, f, now);
		return;
	}
	zt_tcb_stats_add(&f->tcb.stats, &st);
	f->syn_len = (uint8_t)(raw.len < sizeof(f->syn) ? raw.len : sizeof(f->syn));
	memcpy(f->syn, raw.data, f->syn_len);
	f->syn_ttl = zt_packet_ttl(pk);
	flow_touch_pending(s, f, now);
	flow_update_timer(s, f);
}

/* --- intake ----------------------------------------------------------- */

/* A TCP segment or UDP datagram must come from one host and go to one
 * (zt_addr_is_host): a SYN to a broadcast or multicast address is
 * silently discarded (RFC 1122 4.2.3.10), nothing is answered to a source
 * that is no single host (RFC 1122 3.2.1.3), and no flow may go to
 * loopback (a guest behind --tun-fd reaching the host's own services) or
 * be answered from a group address. Counted as bad_address. */
static bool flow_addresses_ok(struct zt_stack *s, const struct zt_packet *pk)
{
	if (zt_addr_is_host(&pk->src) && zt_addr_is_host(&pk->dst))
		return true;
	s->stats.drops[ZT_DROP_BAD_ADDRESS]++;
	return false;
}

/* A segment on PENDING flow @f whose SYN was not answered yet: a SYN of
 * another ISN takes the first one's place, an ACK is answered as a
 * listener would. True if it goes on to the tcb. */
static bool pending_syn_checks(struct zt_stack *s, struct zt_flow *f,
			       const struct zt_packet *pk, struct zt_view raw,
			       uint64_t now)
{
	uint8_t fl = pk->l4.tcp.flags;

	if ((fl & (ZT_TCP_SYN | ZT_TCP_ACK | ZT_TCP_RST | ZT_TCP_FIN)) ==
		    ZT_TCP_SYN && pk->l4.tcp.seq != f->tcb.irs) {
		flow_syn_replace(s, f, pk, raw, now);
		return false;
	}
	if ((fl & ZT_TCP_ACK) && !(fl & ZT_TCP_RST)) {
		/* It acknowledges something never sent: the RST
		 * <SEQ=SEG.ACK> of a listener (RFC 9293 3.5.3 (2)), which
		 * tells a half-open peer and leaves the SYN's sender, in
		 * SYN-SENT, alone (it takes no RST without an ACK), nor
		 * the flow. */
		s->stats.drops[ZT_DROP_TCP_BAD_ACK]++;
		send_stray_rst(s, pk);
		return false;
	}
	return true;
}

/* Segment @pk of flow @f (@pending: f->pending, known to the caller) to
 * its tcb. Inline: each caller's copy knows @pending, and the data path
 * tests f->pending once, as it did before PENDING flows had a list. */
static inline void tcp_segment(struct zt_stack *s, struct zt_flow *f,
			       const struct zt_packet *pk, uint64_t now,
			       bool pending)
{
	uint64_t ooo_full, no_buffer;
	enum zt_drop d;

	/* the tcb returns only whole-segment refusals; the data it drops
	 * from a segment it takes (past the assembler's ranges, no buffer)
	 * it counts itself, and those are the stack's drops too */
	ooo_full = f->tcb.stats.drops[ZT_DROP_TCP_OOO_FULL];
	no_buffer = f->tcb.stats.drops[ZT_DROP_TCP_NO_BUFFER];
	d = zt_tcb_input(&f->tcb, &pk->l4.tcp, pk->payload, now);
	if (d != ZT_DROP_NONE)
		s->stats.drops[d]++;
	s->stats.drops[ZT_DROP_TCP_OOO_FULL] +=
		f->tcb.stats.drops[ZT_DROP_TCP_OOO_FULL] - ooo_full;
	s->stats.drops[ZT_DROP_TCP_NO_BUFFER] +=
		f->tcb.stats.drops[ZT_DROP_TCP_NO_BUFFER] - no_buffer;
	/* The client is there: its segments, and what it sends outside the
	 * window on purpose (keepalive probes, seq = SND.UNA - 1: what keeps
	 * an idle connection open through a middlebox) or by mistake (an
	 * old duplicate); both are answered with an ACK. */
	if (d == ZT_DROP_NONE || d == ZT_DROP_TCP_OUT_OF_WINDOW) {
		if (pending)
			flow_touch_pending(s, f, now);
		else
			flow_touch(s, f, now);
	}
	flow_settle(s, f, now);
}

static void input_tcp(struct zt_stack *s, const struct zt_packet *pk,
		      struct zt_view raw, uint64_t now)
{
	const struct zt_tcp_repr *seg = &pk->l4.tcp;
	struct zt_flow_key key;
	struct zt_flow *f;

	if (!flow_addresses_ok(s, pk))
		return;

	zt_flow_key_set(&key, pk->family, ZT_IPPROTO_TCP, &pk->src,
			seg->src_port, &pk->dst, seg->dst_port);
	f = zt_stack_tcp_lookup(s, &key);
	if (f && f->tcb.state == ZT_TCP_TIME_WAIT &&
	    zt_tcb_time_wait_reopen(&f->tcb, seg)) {
		/* The client reused its port for a new connection: the old
		 * one ends now (the host hears EV_CLOSED, the flow is freed)
		 * and the SYN opens the new one, whose ISN lies above every
		 * sequence number the old one used (RFC 1122 4.2.2.13 (1);
		 * past a window of them, as Linux does). */
		uint32_t iss = f->tcb.snd_max + 65535 + 2;

		s->stats.tcp_time_wait_reopened++;
		flow_settle(s, f, now);
		tcp_syn_new(s, pk, raw, &key, &iss, now);
		return;
	}
	if (!f) {
		/* Port 0 is reserved (RFC 6335 6): no flow to it, refused
		 * like a closed port; none from it, and nothing answered to
		 * it. Only here: an open flow never has port 0. */
		if (!seg->dst_port || !seg->src_port) {
			s->stats.drops[ZT_DROP_BAD_PORT]++;
			if (!seg->src_port)
				return;
			refuse_closed_port(s, pk, raw,
					   s->cfg.reject_icmp &&
						   (seg->flags & ZT_TCP_SYN),
					   now);
			return;
		}
		if ((seg->flags & (ZT_TCP_SYN | ZT_TCP_ACK | ZT_TCP_RST | ZT_TCP_FIN)) ==
		    ZT_TCP_SYN) {
			tcp_syn_new(s, pk, raw, &key, NULL, now);
			return;
		}
		s->stats.drops[ZT_DROP_TCP_NO_FLOW]++;
		send_stray_rst(s, pk);
		return;
	}
	f->tclass = zt_packet_tclass(pk);
	if (f->pending) { /* off the activity list */
		if (!f->early && !pending_syn_checks(s, f, pk, raw, now))
			return; /* its SYN not answered yet */
		tcp_segment(s, f, pk, now, true);
		return;
	}
	tcp_segment(s, f, pk, now, false);
}

/*
 * Traffic on @f at @now: its idle timer restarts, for udp_idle_timeout,
 * or, once it is a stream, for udp_stream_timeout (never shorter). A
 * stream carried datagrams both ways and is still active
 * ZT_UDP_STREAM_AFTER after it began, as Linux's conntrack judges: a
 * call, a game or a tunnel, whose peer may speak after a long silence
 * (RFC 4787 REQ-5: a mapping lives two minutes at least), where a query
 * answered at once (DNS) or datagrams one way only are done soon.
 */
static void udp_refresh(struct zt_stack *s, struct zt_udp_flow *f, uint64_t now)
{
	uint64_t t = s->cfg.udp_idle_timeout;

	if (f->datagrams_in && f->datagrams_out &&
	    now - f->created >= ZT_UDP_STREAM_AFTER &&
	    s->cfg.udp_stream_timeout > t)
		t = s->cfg.udp_stream_timeout;
	f->last_active = now;
	f->idle_deadline = now + t;
	zt_heap_insert(&s->udp_timers, &f->timer, f->idle_deadline);
}

/*
 * The flow udp_evict() would close at @now: the one closest to its
 * timeout (the heap's minimum: a query answered long ago goes before a
 * stream) if it has been idle udp_evict_idle or longer; else NULL.
 */
static struct zt_udp_flow *udp_evict_victim(struct zt_stack *s, uint64_t now)
{
	struct zt_heap_node *n = zt_heap_min(&s->udp_timers);
	struct zt_udp_flow *f;

	if (!n || !s->cfg.udp_evict_idle)
		return NULL;
	f = zt_heap_entry(n, struct zt_udp_flow, timer);
	/* the flow whose datagram the host is handling stays, and the one
	 * next closest to its timeout is asked instead: new, it is often
	 * the minimum, ahead of streams idle long (the host's open for it
	 * failed, out of descriptors) */
	if (f == s->cur_udp) {
		n = zt_heap_second(&s->udp_timers);
		if (!n)
			return NULL;
		f = zt_heap_entry(n, struct zt_udp_flow, timer);
	}
	if (now - f->last_active < s->cfg.udp_evict_idle)
		return NULL;
	return f;
}

/* The UDP table is full at @now: close udp_evict_victim(), as Linux's
 * conntrack drops an unreplied entry before refusing a new one. True if
 * it did. */
static bool udp_evict(struct zt_stack *s, uint64_t now)
{
	struct zt_udp_flow *f = udp_evict_victim(s, now);

	if (!f)
		return false;
	s->stats.udp_evicted++;
	zt_stack_udp_close(s, f, now);
	return true;
}

/* The datagram @pk of new flow @key needs a flow closed for its own:
 * ask the host first whether it would refuse it at once
 * (ops->udp_admit), so that one its rules refuse costs no idle flow.
 * True if it would: answered as udp_input would have it answered, and
 * counted in udp_datagrams_in, with no flow opened. */
static bool udp_admit_refused(struct zt_stack *s, const struct zt_packet *pk,
			      struct zt_view raw, const struct zt_flow_key *key,
			      uint64_t now)
{
	struct zt_flow_key k = *key;
	enum zt_udp_admit a;

	if (!s->ops->udp_admit || !udp_evict_victim(s, now))
		return false;
	zt_flow_key_normalize(&k);
	a = s->ops->udp_admit(s->host, &k, pk->payload.data, pk->payload.len,
			      now);
	if (a == ZT_UDP_ADMIT)
		return false;
	s->stats.udp_datagrams_in++;
	if (a == ZT_UDP_ADMIT_REFUSE)
		refuse_closed_port(s, pk, raw, true, now);
	else if (a == ZT_UDP_ADMIT_UNREACH)
		send_icmp_error(s, pk, raw, ZT_ICMP_DEST_UNREACH,
				pk->family == ZT_AF_INET ?
					ZT_ICMP4_CODE_HOST_UNREACH :
					ZT_ICMP6_CODE_ADDR_UNREACH,
				0, now);
	return true;
}

/* The host is out of descriptors: a UDP flow idle long enough goes
 * first (its own timeout is near; a TCP connection may be a session its
 * user comes back to), else a TCP flow. */
bool zt_stack_evict_idle(struct zt_stack *s, uint64_t now)
{
	return udp_evict(s, now) || tcp_evict(s, now);
}

static void input_udp(struct zt_stack *s, const struct zt_packet *pk,
		      struct zt_view raw, uint64_t now)
{
	struct zt_flow_key key;
	struct zt_udp_flow *f;

	if (!flow_addresses_ok(s, pk))
		return;

	zt_flow_key_set(&key, pk->family, ZT_IPPROTO_UDP, &pk->src,
			pk->l4.udp.src_port, &pk->dst, pk->l4.udp.dst_port);
	f = zt_stack_udp_lookup(s, &key);
	if (!f) {
		uint32_t idx;

		/* Port 0 is reserved (RFC 6335 6): a datagram to it has no
		 * socket to go to anywhere (the host's send would fail),
		 * and is answered as a host answers a closed port. From it
		 * is RFC 768's "no reply port": carried. */
		if (!pk->l4.udp.dst_port) {
			s->stats.drops[ZT_DROP_BAD_PORT]++;
			refuse_closed_port(s, pk, raw, true, now);
			return;
		}
		idx = zt_flowtab_alloc(&s->udp_tab);
		if (idx == ZT_FLOWTAB_NONE &&
		    udp_admit_refused(s, pk, raw, &key, now))
			return;
		if (idx == ZT_FLOWTAB_NONE && udp_evict(s, now))
			idx = zt_flowtab_alloc(&s->udp_tab);
		if (idx == ZT_FLOWTAB_NONE) {
			s->stats.udp_refused_full++;
			return;
		}
		f = &s->udp[idx];
		memset(f, 0, sizeof(*f));
		f->index = idx;
		f->key = key;
		f->created = now;
		zt_flow_key_normalize(&f->key);
		zt_heap_node_init(&f->timer);
		zt_flowtab_insert(&s->udp_tab, idx);
		s->stats.udp_flows_opened++;
		s->stats.udp_flows_active++;
	}
	f->datagrams_in++;
	udp_refresh(s, f, now);
	s->stats.udp_datagrams_in++;
	f->hdr = zt_packet_fwd_hdr(pk);
	if (s->ops->udp_input) {
		s->cur_pk = pk;
		s->cur_raw = raw;
		s->cur_udp = f;
		s->ops->udp_input(s->host, f, pk->payload.data, pk->payload.len, now);
		s->cur_pk = NULL;
		s->cur_udp = NULL;
	}
}

int zt_stack_udp_reject(struct zt_stack *s, struct zt_udp_flow *f,
			uint8_t icmp_code, uint64_t now)
{
	if (!s->cur_pk || s->cur_udp != f)
		return -EINVAL;
	send_icmp_error(s, s->cur_pk, s->cur_raw, ZT_ICMP_DEST_UNREACH, icmp_code,
			0, now);
	return 0;
}

/* Bytes of the client's datagram that a rebuilt quote (zt_stack_udp_error(),
 * zt_stack_echo_error()) carries after its headers: the client's stack
 * matches the quote by addresses and ports (or identifier), the rest is
 * for the humans reading a capture. */
#define REBUILT_QUOTE_DATA 64

/* Put the IP header from @k's client to its server in front of the @l4n
 * bytes of @proto at buf + its length, and send the error about that
 * datagram from @from (when it may be a source, else the server). A
 * "packet too big" (@mtu the next hop's) quotes an IPv4 datagram with DF,
 * as only such a one gets it. */
static int send_error_rebuilt(struct zt_stack *s, const struct zt_flow_key *k,
			      uint8_t proto, uint8_t *buf, size_t iphl,
			      int l4n, enum zt_icmp_kind kind, uint8_t code,
			      uint32_t mtu, const struct zt_addr *from,
			      uint64_t now)
{
	bool too_big = kind == ZT_ICMP_PACKET_TOO_BIG;
	struct zt_packet pk;

	if (l4n < 0 || ip_header(&k->client, &k->server, proto, (size_t)l4n,
				 too_big, 0, 0, buf, iphl) != (int)iphl ||
	    zt_packet_parse(zt_view_make(buf, iphl + (size_t)l4n),
			    ZT_PARSE_NO_CSUM, &pk) != ZT_DROP_NONE)
		return -EINVAL;
	if (!from || from->family != k->family || !zt_addr_is_host(from))
		from = &k->server;
	send_icmp_error_from(s, &pk, zt_view_make(buf, iphl + (size_t)l4n),
			     kind, code, too_big ? mtu : 0, from, now);
	return 0;
}

static bool rebuilt_error_ok(const struct zt_flow_key *k,
			     enum zt_icmp_kind kind)
{
	return (k->family == ZT_AF_INET || k->family == ZT_AF_INET6) &&
	       (kind == ZT_ICMP_DEST_UNREACH || kind == ZT_ICMP_TIME_EXCEEDED ||
		kind == ZT_ICMP_PACKET_TOO_BIG);
}

bool zt_stack_icmp_error_limited(struct zt_stack *s, uint64_t now)
{
	if (zt_ratelimit_ready(&s->icmp_limit, now))
		return false;
	s->stats.icmp_errors_limited++;
	return true;
}

int zt_stack_udp_error(struct zt_stack *s, const struct zt_flow_key *k,
		       enum zt_icmp_kind kind, uint8_t code, uint32_t mtu,
		       const struct zt_addr *from, const void *data, size_t len,
		       uint64_t now)
{
	struct zt_udp_repr u = { k->client_port, k->server_port };
	size_t iphl = k->family == ZT_AF_INET ? ZT_IP4_MIN_HDR : ZT_IP6_HDR;
	uint8_t *buf = s->scratch2;

	if (!rebuilt_error_ok(k, kind))
		return -EINVAL;
	if (len > REBUILT_QUOTE_DATA)
		len = REBUILT_QUOTE_DATA;
	return send_error_rebuilt(s, k, ZT_IPPROTO_UDP, buf, iphl,
				  zt_udp_emit(&u, &k->client, &k->server, data,
					      data ? len : 0, buf + iphl,
					      SCRATCH_LEN - iphl),
				  kind, code, mtu, from, now);
}

int zt_stack_udp_unreach(struct zt_stack *s, struct zt_udp_flow *f,
			 uint8_t icmp_code, const void *data, size_t len,
			 uint64_t now)
{
	return zt_stack_udp_error(s, &f->key, ZT_ICMP_DEST_UNREACH, icmp_code, 0,
				  NULL, data, len, now);
}

int zt_stack_echo_error(struct zt_stack *s, const struct zt_flow_key *k,
			uint16_t ident, uint16_t seq, enum zt_icmp_kind kind,
			uint8_t code, uint32_t mtu, const struct zt_addr *from,
			const void *data, size_t len, uint64_t now)
{
	size_t iphl = k->family == ZT_AF_INET ? ZT_IP4_MIN_HDR : ZT_IP6_HDR;
	uint8_t *buf = s->scratch2;
	struct zt_icmp_repr e;
	int n;

	if (!rebuilt_error_ok(k, kind))
		return -EINVAL;
	if (len > REBUILT_QUOTE_DATA)
		len = REBUILT_QUOTE_DATA;
	memset(&e, 0, sizeof(e));
	e.echo_ident = ident;
	e.echo_seq = seq;
	if (k->family == ZT_AF_INET) {
		e.type = ZT_ICMP4_ECHO_REQUEST;
		n = zt_icmp4_emit(&e, data, data ? len : 0, buf + iphl,
				  SCRATCH_LEN - iphl);
	} else {
		e.type = ZT_ICMP6_ECHO_REQUEST;
		n = zt_icmp6_emit(&e, &k->client, &k->server, data,
				  data ? len : 0, buf + iphl, SCRATCH_LEN - iphl);
	}
	return send_error_rebuilt(s, k, k->family == ZT_AF_INET ? ZT_IPPROTO_ICMP :
						ZT_IPPROTO_ICMPV6,
				  buf, iphl, n, kind, code, mtu, from, now);
}

void zt_stack_udp_close(struct zt_stack *s, struct zt_udp_flow *f, uint64_t now)
{
	if (s->ops->udp_closed)
		s->ops->udp_closed(s->host, f, now);
	zt_heap_remove(&s->udp_timers, &f->timer);
	zt_flowtab_remove(&s->udp_tab, f->index);
	f->key.family = 0;
	s->stats.udp_flows_active--;
}

/*
 * An ICMP error from the client about datagram @q of UDP flow @u (@pk its
 * outer packet). Believed only from the flow's client to its server (the
 * quote's own addresses the other way round), with the whole UDP header
 * quoted (RFC 792: the IP header and 8 bytes). A hard unreachable
 * (zt_icmp_unreach_hard()) then ends the flow as its idle timeout would:
 * the client's socket is gone (the kernel answers a closed port so), and
 * every later datagram would go into the void and draw another error. A
 * Linux NAT relays it to the server, whose connected socket takes it as
 * ECONNREFUSED and stops; ztun ends the relay instead, releasing its
 * upstream (socket, NAT session, association member, DNS stream, fake
 * address held): a new datagram of the client's starts a new flow. Soft
 * errors change nothing, as Linux's UDP ignores them.
 */
static void input_udp_error(struct zt_stack *s, const struct zt_packet *pk,
			    const struct zt_icmp_quote *q, struct zt_udp_flow *u,
			    uint64_t now)
{
	if (!zt_addr_eq(&pk->src, &q->dst) || !zt_addr_eq(&pk->dst, &q->src)) {
		s->stats.drops[ZT_DROP_ICMP_NOT_CLIENT]++;
		return;
	}
	s->stats.icmp_errors_matched++;
	if (s->ops->udp_error)
		s->ops->udp_error(s->host, u, pk->l4.icmp.kind, pk->l4.icmp.code,
				  now);
	if (pk->l4.icmp.kind == ZT_ICMP_DEST_UNREACH &&
	    zt_icmp_unreach_hard(u->key.family, pk->l4.icmp.code) &&
	    u->key.family) { /* not ended by the host meanwhile */
		s->stats.udp_flows_unreachable++;
		zt_stack_udp_close(s, u, now);
	}
}

/* An ICMP error from the client's side about a segment or datagram we sent
 * it; one that names nothing of ours is counted and dropped. */
static void input_icmp_error(struct zt_stack *s, const struct zt_packet *pk,
			     uint64_t now)
{
	struct zt_icmp_quote q;
	struct zt_flow_key key;
	struct zt_flow *f;
	struct zt_tcb *t;
	enum zt_drop why;

	s->stats.icmp_errors_in++;
	why = zt_icmp_parse_quote(pk->payload, &q);
	/* An ICMPv4 error quotes an IPv4 datagram and an ICMPv6 one an IPv6
	 * one (RFC 792, RFC 4443 2.1): a quote of the other family is
	 * malformed, and its code would be read from the wrong table. */
	if (why == ZT_DROP_NONE && q.src.family != pk->family)
		why = ZT_DROP_BAD_VERSION;
	else if (why == ZT_DROP_NONE && q.proto != ZT_IPPROTO_TCP &&
		 q.proto != ZT_IPPROTO_UDP)
		why = ZT_DROP_ICMP_NO_FLOW;
	/* the IP header and 8 bytes, as every error quotes (RFC 792) */
	else if (why == ZT_DROP_NONE && q.l4_len < 8)
		why = ZT_DROP_TRUNCATED;
	if (why != ZT_DROP_NONE) {
		s->stats.drops[why]++;
		return;
	}
	memset(&key, 0, sizeof(key));
	key.family = q.src.family;
	key.proto = q.proto;
	key.server = q.src;
	key.client = q.dst;
	key.server_port = q.src_port;
	key.client_port = q.dst_port;
	if (q.proto == ZT_IPPROTO_UDP) {
		struct zt_udp_flow *u = zt_stack_udp_lookup(s, &key);

		if (u)
			input_udp_error(s, pk, &q, u, now);
		else
			s->stats.drops[ZT_DROP_ICMP_NO_FLOW]++;
		return;
	}
	f = zt_stack_tcp_lookup(s, &key);
	if (!f) {
		s->stats.drops[ZT_DROP_ICMP_NO_FLOW]++;
		return;
	}
	t = &f->tcb;
	/* RFC 5927 4.1: only a quote of data in flight is believed; a
	 * PENDING flow whose SYN is unanswered sent nothing to quote. */
	if (!q.has_seq || (f->pending && !f->early) ||
	    zt_seq_lt(q.tcp_seq, t->snd_una) ||
	    !zt_seq_lt(q.tcp_seq, t->snd_max == t->snd_una ? t->snd_una + 1 : t->snd_max)) {
		s->stats.drops[ZT_DROP_ICMP_NOT_IN_FLIGHT]++;
		return;
	}
	if (pk->l4.icmp.kind == ZT_ICMP_PACKET_TOO_BIG) {
		uint32_t hdr = (key.family == ZT_AF_INET ? 40u : 60u) + (t->ts_ok ? 12u : 0u);
		uint32_t floor = key.family == ZT_AF_INET ? 576u : 1280u;
		uint32_t mtu = pk->l4.icmp.mtu < floor ? floor : pk->l4.icmp.mtu;

		/* RFC 8201 4: an IPv6 next-hop MTU below 1280 is discarded.
		 * A quoted datagram that fits the MTU we would take (our
		 * SYN-ACK, a bare ACK, a short segment) was not too big: the
		 * message is forged or confused, and is believed for no
		 * flow (as Linux's tcp_v4_err leaves request sockets be).
		 * Counted apart from those matched, which were believed:
		 * the stats tell a forged or confused one from one taken. */
		if ((key.family == ZT_AF_INET6 && pk->l4.icmp.mtu < floor) ||
		    (q.ip_len && q.ip_len <= mtu)) {
			s->stats.pmtu_not_believed++;
			return;
		}
		s->stats.icmp_errors_matched++;
		if (mtu > hdr && zt_tcb_mss_reduced(t, mtu - hdr, now)) {
			s->stats.pmtu_reductions++;
			flow_settle(s, f, now);
		}
		return;
	}
	s->stats.icmp_errors_matched++;
	if (pk->l4.icmp.kind == ZT_ICMP_DEST_UNREACH &&
	    t->state == ZT_TCP_SYN_RECEIVED &&
	    zt_icmp_unreach_hard(key.family, pk->l4.icmp.code)) {
		zt_tcb_abort(t, now);
		t->events |= ZT_TCP_EV_RESET;
		flow_settle(s, f, now);
	}
}

/* An ICMP echo request: answered, refused or dropped as the host says. */
static void input_echo(struct zt_stack *s, const struct zt_packet *pk,
		       struct zt_view raw, uint64_t now)
{
	enum zt_echo_verdict v = s->ops->echo_verdict(s->host, &pk->src,
						       &pk->dst);
	int n;

	if (v == ZT_ECHO_REJECT) {
		send_icmp_error(s, pk, raw, ZT_ICMP_DEST_UNREACH,
				pk->family == ZT_AF_INET ?
					ZT_ICMP4_CODE_ADMIN_PROHIBITED :
					ZT_ICMP6_CODE_ADMIN_PROHIBITED,
				0, now);
		return;
	}
	if (v == ZT_ECHO_FORWARD && s->ops->echo_forward) {
		struct zt_flow_key key;
		struct zt_fwd_hdr hdr = zt_packet_fwd_hdr(pk);

		/* sent on from the host's own socket, as a flow is: not to
		 * loopback, a group or "this host", nor for a source its
		 * replies could not go back to (flow_addresses_ok()) */
		if (!flow_addresses_ok(s, pk))
			return;

		memset(&key, 0, sizeof(key));
		key.family = pk->family;
		key.proto = pk->proto;
		key.client = pk->src;
		key.server = pk->dst;
		s->ops->echo_forward(s->host, &key, pk->l4.icmp.echo_ident,
				     pk->l4.icmp.echo_seq, &hdr,
				     pk->payload.data, pk->payload.len, now);
		return;
	}
	if (v != ZT_ECHO_LOCAL)
		return;
	n = zt_icmp_echo_reply(pk, s->scratch, SCRATCH_LEN);
	if (n == -EPERM) /* from no single host, or to a group */
		s->stats.drops[ZT_DROP_BAD_ADDRESS]++;
	if (n <= 0)
		return;
	s->stats.icmp_echo_replies++;
	if ((size_t)n <= s->cfg.mtu) {
		tun_emit(s, s->scratch, (size_t)n);
		return;
	}
	/* A request that came in fragments: its reply, as big, goes back in
	 * fragments too, whole (RFC 1122 3.2.2.6, RFC 4443 4.2). The reply
	 * has no IP options or extension headers, so its ICMP message starts
	 * at the fixed header's end. */
	{
		size_t hl = pk->family == ZT_AF_INET ? ZT_IP4_MIN_HDR : ZT_IP6_HDR;

		memcpy(s->scratch2, s->scratch + hl, (size_t)n - hl);
		emit_ip(s, &pk->dst, &pk->src, pk->proto, s->scratch2,
			(size_t)n - hl, false,
			(uint8_t)(zt_packet_tclass(pk) & ~0x03u)); /* ECN not echoed */
	}
}

static void input_decoded(struct zt_stack *s, const struct zt_packet *pk,
			  struct zt_view raw, uint64_t now)
{
	switch (pk->proto) {
	case ZT_IPPROTO_TCP:
		input_tcp(s, pk, raw, now);
		break;
	case ZT_IPPROTO_UDP:
		input_udp(s, pk, raw, now);
		break;
	case ZT_IPPROTO_ICMP:
	case ZT_IPPROTO_ICMPV6:
		if (pk->l4.icmp.kind == ZT_ICMP_DEST_UNREACH ||
		    pk->l4.icmp.kind == ZT_ICMP_PACKET_TOO_BIG ||
		    pk->l4.icmp.kind == ZT_ICMP_TIME_EXCEEDED) {
			input_icmp_error(s, pk, now);
			break;
		}
		if (pk->l4.icmp.kind == ZT_ICMP_ECHO_REQUEST && s->ops->echo_verdict)
			input_echo(s, pk, raw, now);
		else /* echo reply, timestamp, NDP, ...: nothing of ours asked */
			s->stats.drops[ZT_DROP_UNSUPPORTED]++;
		break;
	default:
		break;
	}
}

void zt_stack_input(struct zt_stack *s, const uint8_t *pkt, size_t len,
		    uint64_t now)
{
	zt_stack_input_flags(s, pkt, len, 0, now);
}

/* Tell the source of a packet refused for @why, when a host would (see
 * the theory of operation); every other refusal goes unanswered. */
static void answer_refusal(struct zt_stack *s, const struct zt_packet *pk,
			   struct zt_view raw, enum zt_drop why, uint64_t now)
{
	if (pk->family == ZT_AF_INET6 && pk->ip.ip6.param_problem) {
		send_icmp_error(s, pk, raw, ZT_ICMP_PARAM_PROBLEM,
				pk->ip.ip6.pp_code, pk->ip.ip6.pp_pointer, now);
		return;
	}
	if (why != ZT_DROP_UNSUPPORTED || pk->family == 0)
		return; /* malformed: unanswered */
	if (pk->family == ZT_AF_INET)
		send_icmp_error(s, pk, raw, ZT_ICMP_DEST_UNREACH,
				ZT_ICMP4_CODE_PROTO_UNREACH, 0, now);
	else if (pk->proto != ZT_IPPROTO_NONE) /* "no next header": nothing */
		send_icmp_error(s, pk, raw, ZT_ICMP_PARAM_PROBLEM, 1,
				pk->ip.ip6.nh_offset, now);
}

void zt_stack_input_flags(struct zt_stack *s, const uint8_t *pkt, size_t len,
			  unsigned flags, uint64_t now)
{
	struct zt_packet pk;
	struct zt_view raw = zt_view_make(pkt, len);
	enum zt_drop d;

	s->stats.packets_in++;
	s->stats.bytes_in += len;
	d = zt_packet_parse(raw, (flags & ZT_INPUT_CSUM_VALID) ?
				 ZT_PARSE_NO_CSUM : 0, &pk);
	if (d != ZT_DROP_NONE) {
		s->stats.drops[d]++;
		answer_refusal(s, &pk, raw, d, now);
		return;
	}
	if (pk.is_fragment) {
		struct zt_view whole;
		uint64_t evicted = s->reasm.stats.datagrams_evicted;

		d = zt_reasm_input(&s->reasm, &pk, raw, now, &whole);
		/* datagrams dropped to make room are drops too, as timeouts */
		s->stats.drops[ZT_DROP_FRAG_NO_MEMORY] +=
			s->reasm.stats.datagrams_evicted - evicted;
		if (d != ZT_DROP_NONE) {
			s->stats.drops[d]++;
			/* RFC 8200 4.5: code 3, pointer 0 */
			if (d == ZT_DROP_FRAG_CHAIN_INCOMPLETE)
				send_icmp_error(s, &pk, raw, ZT_ICMP_PARAM_PROBLEM,
						3, 0, now);
			return;
		}
		if (!whole.data)
			return; /* more fragments to come */
		d = zt_packet_parse(whole, 0, &pk);
		if (d != ZT_DROP_NONE) {
			s->stats.drops[d]++;
			answer_refusal(s, &pk, whole, d, now);
			return;
		}
		pk.reassembled = true;
		raw = whole;
	}
	input_decoded(s, &pk, raw, now);
}

/* --- timers ----------------------------------------------------------- */

struct expire_ctx {
	struct zt_stack *s;
	uint64_t now;
};

static void reasm_expired(void *ctx, uint8_t family, struct zt_view first)
{
	struct expire_ctx *e = ctx;
	struct zt_packet pk;

	(void)family;
	if (zt_packet_parse(first, ZT_PARSE_NO_CSUM, &pk) != ZT_DROP_NONE &&
	    pk.family == 0)
		return;
	/* Time Exceeded, code 1: fragment reassembly time exceeded. */
	send_icmp_error(e->s, &pk, first, ZT_ICMP_TIME_EXCEEDED, 1, 0, e->now);
}

void zt_stack_poll(struct zt_stack *s, uint64_t now)
{
	struct zt_heap_node *n;
	struct expire_ctx e = { s, now };

	/* each datagram given up is a drop of the stack's, as the refused
	 * fragments are (zt_stack_input) */
	if (zt_reasm_next_deadline(&s->reasm) <= now)
		s->stats.drops[ZT_DROP_FRAG_TIMEOUT] +=
			zt_reasm_expire(&s->reasm, now, reasm_expired, &e);
	while ((n = zt_heap_min(&s->udp_timers)) && zt_heap_node_deadline(n) <= now) {
		struct zt_udp_flow *u = zt_heap_entry(n, struct zt_udp_flow, timer);

		s->stats.udp_flows_expired++;
		zt_stack_udp_close(s, u, now);
	}
	while ((n = zt_heap_min(&s->timers)) && zt_heap_node_deadline(n) <= now) {
		struct zt_flow *f = zt_heap_entry(n, struct zt_flow, timer);

		zt_heap_remove(&s->timers, n);
		f->timer_deadline = ZT_TIME_NEVER;
		if (f->pending && f->connect_deadline <= now) {
			s->stats.tcp_connect_timeouts++;
			flow_refuse(s, f, now);
			f->tcb.events |= ZT_TCP_EV_RESET;
			f->tcb.reset_reason = ZT_TCP_RESET_TIMEOUT;
		} else if (!f->pending && f->idle_deadline <= now) {
			s->stats.tcp_idle_timeouts++;
			flow_idle_reset(f, now);
		} else {
			zt_tcb_poll(&f->tcb, now);
		}
		flow_settle(s, f, now);
	}
}

uint64_t zt_stack_deadline(const struct zt_stack *s)
{
	const struct zt_heap_node *n = zt_heap_min(&s->timers);
	const struct zt_heap_node *u = zt_heap_min(&s->udp_timers);
	uint64_t d = n ? zt_heap_node_deadline(n) : ZT_TIME_NEVER;
	uint64_t r = zt_reasm_next_deadline(&s->reasm);

	if (u && zt_heap_node_deadline(u) < d)
		d = zt_heap_node_deadline(u);
	return r < d ? r : d;
}

/* --- the host's side of a flow ---------------------------------------- */

void zt_stack_tcp_accept(struct zt_stack *s, struct zt_flow *f, uint64_t now)
{
	if (!f->pending)
		return;
	f->pending = false;
	f->early = false;
	flow_activate(s, f, now);
	zt_tcb_accept(&f->tcb, now);
	flow_settle(s, f, now);
}

void zt_stack_tcp_accept_early(struct zt_stack *s, struct zt_flow *f,
			       uint64_t now)
{
	if (!f->pending || f->early)
		return;
	f->early = true;
	s->stats.tcp_early_synacks++;
	zt_tcb_accept(&f->tcb, now);
	flow_settle(s, f, now);
}

void zt_stack_tcp_refuse(struct zt_stack *s, struct zt_flow *f, uint64_t now)
{
	if (!f->pending)
		return;
	flow_refuse(s, f, now);
	f->tcb.events |= ZT_TCP_EV_RESET;
	f->tcb.reset_reason = ZT_TCP_RESET_REFUSED;
	flow_settle(s, f, now);
}

void zt_stack_tcp_reject_icmp(struct zt_stack *s, struct zt_flow *f,
			      enum zt_icmp_kind kind, uint8_t code,
			      const struct zt_addr *from, uint64_t now)
{
	if (!f->pending)
		return;
	flow_refuse_error(s, f, kind, code, from, now);
	f->tcb.events |= ZT_TCP_EV_RESET;
	f->tcb.reset_reason = ZT_TCP_RESET_REFUSED;
	flow_settle(s, f, now);
}

void zt_stack_tcp_reject(struct zt_stack *s, struct zt_flow *f, int icmp_code,
			 uint64_t now)
{
	if (!f->pending)
		return;
	flow_refuse_how(s, f, icmp_code, now);
	f->tcb.events |= ZT_TCP_EV_RESET;
	f->tcb.reset_reason = ZT_TCP_RESET_REFUSED;
	flow_settle(s, f, now);
}

size_t zt_stack_tcp_send(struct zt_stack *s, struct zt_flow *f,
			 const void *data, size_t len, uint64_t now)
{
	size_t n = zt_tcb_send(&f->tcb, data, len, now);

	flow_settle(s, f, now);
	return n;
}

size_t zt_stack_tcp_send_runs(struct zt_stack *s, struct zt_flow *f,
			      size_t len, uint8_t *p[2], size_t n[2])
{
	(void)s;
	return zt_tcb_send_runs(&f->tcb, len, p, n);
}

void zt_stack_tcp_send_commit(struct zt_stack *s, struct zt_flow *f,
			      size_t len, uint64_t now)
{
	zt_tcb_send_commit(&f->tcb, len, now);
	flow_settle(s, f, now);
}

size_t zt_stack_tcp_send_room(const struct zt_stack *s,
			      const struct zt_flow *f)
{
	(void)s;
	return zt_tcb_send_room(&f->tcb);
}

/* Frees @n received bytes. A flow holding an ACK in a batch lets that one
 * announce the wider window (it is built when it goes, at the flow's next
 * ACK or the batch end), instead of a window update now: a host that
 * drains each TSO segment as it comes would otherwise send two ACKs per
 * segment, the ACK and the update right behind it. */
static void flow_rx_free(struct zt_stack *s, struct zt_flow *f, size_t n,
			 uint64_t now)
{
	if (s->batching && f->ack_held)
		zt_tcb_recv_consume_quiet(&f->tcb, n);
	else
		zt_tcb_recv_consume(&f->tcb, n, now);
	flow_settle(s, f, now);
}

size_t zt_stack_tcp_recv(struct zt_stack *s, struct zt_flow *f, void *out,
			 size_t len, uint64_t now)
{
	size_t n = zt_ring_peek(&f->tcb.rx, 0, out, len);

	flow_rx_free(s, f, n, now);
	return n;
}

size_t zt_stack_tcp_peek(struct zt_stack *s, struct zt_flow *f, size_t off,
			 const uint8_t **p)
{
	(void)s;
	return zt_tcb_recv_peek(&f->tcb, off, p);
}

void zt_stack_tcp_consume(struct zt_stack *s, struct zt_flow *f, size_t n,
			  uint64_t now)
{
	flow_rx_free(s, f, n, now);
}

void zt_stack_tcp_drop(struct zt_stack *s, struct zt_flow *f, uint64_t now)
{
	if (!f->pending)
		return;
	if (f->early) {
		zt_stack_tcp_reject(s, f, -1, now);
		return;
	}
	f->pending = false;
	f->tcb.state = ZT_TCP_CLOSED;
	f->tcb.events |= ZT_TCP_EV_RESET;
	f->tcb.reset_reason = ZT_TCP_RESET_ABORTED;
	s->stats.tcp_refused++;
	flow_settle(s, f, now);
}

void zt_stack_tcp_shutdown(struct zt_stack *s, struct zt_flow *f, uint64_t now)
{
	zt_tcb_shutdown(&f->tcb, now);
	flow_settle(s, f, now);
}

void zt_stack_tcp_abort(struct zt_stack *s, struct zt_flow *f, uint64_t now)
{
	if (f->pending) {
		zt_stack_tcp_refuse(s, f, now);
		return;
	}
	zt_tcb_abort(&f->tcb, now);
	f->tcb.events |= ZT_TCP_EV_RESET;
	flow_settle(s, f, now);
}

/* @count datagrams went to @key's client: the flow's count and idle timer. */
static void udp_sent(struct zt_stack *s, const struct zt_flow_key *key,
		     unsigned count, uint64_t now)
{
	struct zt_udp_flow *f = zt_stack_udp_lookup(s, key);

	if (f) {
		f->datagrams_out += count;
		udp_refresh(s, f, now);
	}
	s->stats.udp_datagrams_out += count;
}

/* One datagram to @key's client with traffic class @tclass. */
static int udp_send(struct zt_stack *s, const struct zt_flow_key *key,
		    const void *data, size_t len, uint8_t tclass, uint64_t now)
{
	struct zt_udp_repr u = { key->server_port, key->client_port };
	size_t max = key->family == ZT_AF_INET ? 65535 - 20 - 8 : 65535 - 8;
	int n;

	if (key->family != ZT_AF_INET && key->family != ZT_AF_INET6)
		return -EINVAL;
	if (len > max)
		return -EMSGSIZE;
	n = zt_udp_emit(&u, &key->server, &key->client, data, len, s->scratch2,
			SCRATCH_LEN);
	if (n < 0)
		return n;
	udp_sent(s, key, 1, now);
	emit_ip(s, &key->server, &key->client, ZT_IPPROTO_UDP, s->scratch2,
		(size_t)n, false, tclass);
	return 0;
}

int zt_stack_udp_send(struct zt_stack *s, const struct zt_flow_key *key,
		      const void *data, size_t len, uint64_t now)
{
	return udp_send(s, key, data, len, 0, now);
}

int zt_stack_echo_reply(struct zt_stack *s, const struct zt_flow_key *key,
			uint16_t ident, uint16_t seq, uint8_t tclass,
			const void *data, size_t len)
{
	struct zt_icmp_repr e;
	size_t max = key->family == ZT_AF_INET ? 65535 - 20 - ZT_ICMP_HDR :
						 65535 - ZT_ICMP_HDR;
	int n;

	if (key->family != ZT_AF_INET && key->family != ZT_AF_INET6)
		return -EINVAL;
	if (len > max)
		return -EMSGSIZE;
	memset(&e, 0, sizeof(e));
	e.echo_ident = ident;
	e.echo_seq = seq;
	if (key->family == ZT_AF_INET) {
		e.type = ZT_ICMP4_ECHO_REPLY;
		n = zt_icmp4_emit(&e, data, len, s->scratch2, SCRATCH_LEN);
	} else {
		e.type = ZT_ICMP6_ECHO_REPLY;
		n = zt_icmp6_emit(&e, &key->server, &key->client, data, len,
				  s->scratch2, SCRATCH_LEN);
	}
	if (n < 0)
		return n;
	emit_ip(s, &key->server, &key->client,
		key->family == ZT_AF_INET ? ZT_IPPROTO_ICMP : ZT_IPPROTO_ICMPV6,
		s->scratch2, (size_t)n, false, tclass);
	return 0;
}

int zt_stack_udp_send_run(struct zt_stack *s, const struct zt_flow_key *key,
			  const void *data, size_t len, size_t seg,
			  uint8_t tclass, uint64_t now)
{
	const uint8_t *p = data;
	struct zt_udp_repr u = { key->server_port, key->client_port };
	size_t iphl = key->family == ZT_AF_INET ? ZT_IP4_MIN_HDR : ZT_IP6_HDR;
	size_t count, off = 0;
	int err = 0, n;

	if (!seg || (key->family != ZT_AF_INET && key->family != ZT_AF_INET6))
		return -EINVAL;
	count = (len + seg - 1) / seg;
	if (!s->ops->tun_output_gso || count < 2 || count > ZT_UDP_GSO_SEGS ||
	    iphl + ZT_UDP_HDR + seg > s->cfg.mtu ||
	    iphl + ZT_UDP_HDR + len > 65535) {
		do { /* one by one; an empty run is one empty datagram */
			size_t l = len - off < seg ? len - off : seg;
			int e = udp_send(s, key, p + off, l, tclass, now);

			if (e && !err)
				err = e;
			off += l;
		} while (off < len);
		return err;
	}
	/* one header for the run; the device cuts and sums each datagram,
	 * numbering IPv4 identifications from this one on */
	n = zt_udp_emit_gso_hdr(&u, &key->server, &key->client, len,
				s->scratch + iphl, SCRATCH_LEN - iphl);
	if (n < 0 || ip_header(&key->server, &key->client, ZT_IPPROTO_UDP,
			       ZT_UDP_HDR + len, false, s->ip4_ident, tclass,
			       s->scratch, iphl) != (int)iphl)
		return -EINVAL;
	s->ip4_ident = (uint16_t)(s->ip4_ident + count);
	udp_sent(s, key, (unsigned)count, now);
	{
		struct zt_pkt_parts parts = {
			.hdr = s->scratch, .hdr_len = iphl + ZT_UDP_HDR,
			.d1 = p, .l1 = len,
		};

		s->stats.packets_out++;
		s->stats.bytes_out += iphl + ZT_UDP_HDR + len;
		s->stats.tso_segments_out++;
		s->stats.udp_gso_out++;
		s->ops->tun_output_gso(s->host, &parts, (uint32_t)seg);
	}
	return 0;
}

const struct zt_stack_stats *zt_stack_stats(const struct zt_stack *s)
{
	return &s->stats;
}

/* --- construction ----------------------------------------------------- */

/* Released ring buffers kept for the next flow with data (16 x 256 KiB by
 * default): enough for a burst of busy flows, little for idle ones. */
#define RING_POOL_KEEP 16

/* Free what zt_stack_new() allocated (all of it may be NULL/zeroed). */
static void stack_release(struct zt_stack *s)
{
	zt_flowtab_destroy(&s->tcp_tab);
	zt_flowtab_destroy(&s->udp_tab);
	zt_bufpool_destroy(&s->ring_pool);
	free(s->flows);
	free(s->udp);
	free(s->scratch);
	free(s->scratch2);
	free(s);
}

struct zt_stack *zt_stack_new(const struct zt_stack_config *cfg,
			      const struct zt_stack_ops *ops, void *host,
			      struct zt_rng *rng)
{
	struct zt_stack *s;
	struct zt_rng seeds; /* the flow index's hash seeds, off the ISNs' path */

	if (cfg->max_tcp_flows == 0 || cfg->max_tcp_flows > 65536 ||
	    cfg->max_udp_flows == 0 || cfg->max_udp_flows > 65536 ||
	    cfg->mtu < 1280 || !ops || !ops->tun_output || !ops->tcp_new || !rng)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cfg = *cfg;
	s->ops = ops;
	s->host = host;
	s->rng = rng;
	zt_rng_fork(rng, &seeds);
	s->tcp_ops.output = flow_tcp_output;
	if (ops->tcp_rx_direct)
		s->tcp_ops.rx_direct = flow_tcp_rx_direct;
	s->tcp4 = cfg->tcp;
	s->tcp6 = cfg->tcp;
	if (!ops->tun_output_gso)
		s->tcp4.tso_segs = s->tcp6.tso_segs = 0; /* nobody to cut them */
	/* MSS 0 (the default) means "what the MTU allows"; a set MSS is
	 * clamped to it. Either way no segment exceeds the MTU. */
	if (!s->tcp4.mss || s->tcp4.mss > cfg->mtu - 40)
		s->tcp4.mss = (uint16_t)(cfg->mtu - 40);
	if (!s->tcp6.mss || s->tcp6.mss > cfg->mtu - 60)
		s->tcp6.mss = (uint16_t)(cfg->mtu - 60);
	s->tcp6.default_peer_mss = 1220; /* 1280, IPv6's least MTU, less 60 */
	s->flows = calloc(cfg->max_tcp_flows, sizeof(*s->flows));
	s->udp = calloc(cfg->max_udp_flows, sizeof(*s->udp));
	s->scratch = malloc(SCRATCH_LEN);
	s->scratch2 = malloc(SCRATCH_LEN);
	/* One pool serves both rings when they are the same size (the
	 * default); otherwise the send ring's lazy buffers come from malloc. */
	s->tcp4.pool = s->tcp6.pool = &s->ring_pool;
	if (zt_bufpool_init(&s->ring_pool, cfg->tcp.rx_buf, RING_POOL_KEEP) ||
	    !s->flows || !s->udp || !s->scratch || !s->scratch2 ||
	    zt_flowtab_init(&s->tcp_tab, cfg->max_tcp_flows, tcp_key_of, s,
			    zt_rng_next(&seeds)) ||
	    zt_flowtab_init(&s->udp_tab, cfg->max_udp_flows, udp_key_of, s,
			    zt_rng_next(&seeds)) ||
	    zt_reasm_init(&s->reasm, &cfg->reasm) != 0) {
		stack_release(s);
		return NULL;
	}
	zt_heap_init(&s->timers);
	zt_heap_init(&s->udp_timers);
	s->lru_head = s->lru_tail = NO_FLOW;
	s->pend_head = s->pend_tail = NO_FLOW;
	zt_ratelimit_init(&s->icmp_limit, cfg->icmp_rate, cfg->icmp_burst);
	return s;
}

int zt_stack_check(const struct zt_stack *s)
{
	uint64_t open = 0, listed = 0, udp_open = 0, last = 0;
	uint32_t prev = NO_FLOW;

	for (uint32_t i = 0; i < s->cfg.max_tcp_flows; i++)
		open += s->flows[i].key.family != 0;
	for (uint32_t i = s->lru_head; i != NO_FLOW; i = s->flows[i].lru_next) {
		const struct zt_flow *f = &s->flows[i];

		if (i >= s->cfg.max_tcp_flows || !f->key.family ||
		    f->lru_pending || f->pending ||
		    f->lru_prev != prev || f->last_active < last ||
		    ++listed > open)
			return -EINVAL;
		last = f->last_active;
		prev = i;
	}
	if (s->lru_tail != prev)
		return -EINVAL;
	prev = NO_FLOW;
	for (uint32_t i = s->pend_head; i != NO_FLOW; i = s->flows[i].lru_next) {
		const struct zt_flow *f = &s->flows[i];

		if (i >= s->cfg.max_tcp_flows || !f->key.family ||
		    !f->lru_pending || !f->pending ||
		    f->lru_prev != prev || ++listed > open)
			return -EINVAL;
		prev = i;
	}
	for (uint32_t i = 0; i < s->cfg.max_udp_flows; i++)
		udp_open += s->udp[i].key.family != 0;
	if (s->pend_tail != prev || listed != open ||
	    open != s->stats.tcp_flows_active ||
	    udp_open != s->stats.udp_flows_active ||
	    zt_heap_check(&s->timers) || zt_heap_check(&s->udp_timers))
		return -EINVAL;
	return 0;
}

uint64_t zt_stack_ring_buffers(const struct zt_stack *s)
{
	uint64_t n = 0;

	/* Counted from the rings themselves, not the pool's books. */
	for (uint32_t i = 0; i < s->cfg.max_tcp_flows; i++) {
		const struct zt_flow *f = &s->flows[i];

		if (f->key.family)
			n += (f->tcb.rx.buf != NULL) + (f->tcb.tx.buf != NULL);
	}
	return n;
}

void zt_stack_tcp_totals(const struct zt_stack *s, struct zt_tcb_stats *out)
{
	*out = s->tcp_ended;
	for (uint32_t i = s->lru_head; i != NO_FLOW; i = s->flows[i].lru_next)
		zt_tcb_stats_add(out, &s->flows[i].tcb.stats);
	for (uint32_t i = s->pend_head; i != NO_FLOW; i = s->flows[i].lru_next)
		zt_tcb_stats_add(out, &s->flows[i].tcb.stats);
}

void zt_stack_tcp_states(const struct zt_stack *s,
			 uint32_t n[ZT_TCP_TIME_WAIT + 1])
{
	memset(n, 0, sizeof(n[0]) * (ZT_TCP_TIME_WAIT + 1));
	/* the two lists hold every open flow: the open ones only are read,
	 * not the whole table (mostly pages never touched) */
	for (int l = 0; l < 2; l++) {
		uint32_t i = l ? s->pend_head : s->lru_head;

		for (; i != NO_FLOW; i = s->flows[i].lru_next) {
			const struct zt_flow *f = &s->flows[i];

			if ((unsigned)f->tcb.state <= ZT_TCP_TIME_WAIT)
				n[f->tcb.state]++;
		}
	}
}

void zt_stack_free(struct zt_stack *s)
{
	if (!s)
		return;
	/* Every flow still alive ends here: its host hears of it (so it can
	 * free what hangs on f->user), no packet is sent. */
	for (uint32_t i = 0; i < s->cfg.max_tcp_flows; i++) {
		struct zt_flow *f = &s->flows[i];

		if (!f->key.family)
			continue;
		if (s->ops->tcp_event && !f->in_dispatch) {
			f->in_dispatch = true;
			s->ops->tcp_event(s->host, f, ZT_TCP_EV_RESET, 0);
		}
		zt_tcb_destroy(&f->tcb);
	}
	for (uint32_t i = 0; i < s->cfg.max_udp_flows; i++)
		if (s->udp[i].key.family && s->ops->udp_closed)
			s->ops->udp_closed(s->host, &s->udp[i], 0);
	zt_reasm_destroy(&s->reasm);
	stack_release(s);
}
