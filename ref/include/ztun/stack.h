/* SPDX-License-Identifier: MIT */
/*
 * stack.h - a ztun node's userspace stack: everything between the TUN
 * device and the router.
 *
 * The stack takes raw IP packets from the TUN side (zt_stack_input), checks
 * and reassembles them, terminates TCP in one zt_tcb per flow, hands UDP
 * datagrams and new TCP connections to its host through ops, answers ICMP
 * echo when the host says the destination is local, and sends everything it
 * produces back through ops->tun_output, never larger than the MTU.
 *
 * Flow lifecycle (TCP), and what each allows:
 *   PENDING   a SYN arrived; ops->tcp_new was told; nothing was answered.
 *             The host connects its upstream, then zt_stack_tcp_accept()
 *             (SYN-ACK) or zt_stack_tcp_refuse() (RST or ICMP). If neither
 *             comes within connect_timeout the stack refuses by itself.
 *             zt_stack_tcp_accept_early() answers the SYN at once instead
 *             but keeps the flow PENDING for the host (below). Until a
 *             SYN-ACK went, a SYN of another ISN (the client reused its
 *             port) takes the first one's place: the host's attempt is
 *             for the same 4-tuple and goes on.
 *   OPEN      data both ways through zt_stack_tcp_send/recv_*; events
 *             (ZT_TCP_EV_*) through ops->tcp_event.
 *   gone      after an event with ZT_TCP_EV_RESET or ZT_TCP_EV_CLOSED the
 *             flow is freed when ops->tcp_event returns: the host must drop
 *             its pointer then.
 *
 * Capacity: at most max_tcp_flows flows; a SYN beyond that is refused at
 * once (RST, or ICMP when reject_icmp) and counted in stats.tcp_refused_full,
 * unless the flow whose client has been quiet longest, not PENDING, has
 * been quiet tcp_evict_idle or longer: that one is reset both ways
 * (stats.tcp_idle_evicted) and the SYN takes its place, unless the host
 * says it would refuse that SYN at once anyway (ops->tcp_admit): then it
 * is refused as with room, and no flow goes. A flow's quiet
 * time counts from its client's latest segment, or from the accept.
 * Memory is allocated when a flow opens (its two rings), never per packet;
 * each flow reserves its rings' capacity against mem_budget, and a SYN that
 * would exceed the budget is refused like one past capacity (counted in
 * stats.tcp_refused_memory).
 */
#ifndef ZTUN_STACK_H
#define ZTUN_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ztun/addr.h"
#include "ztun/drop.h"
#include "ztun/heap.h"
#include "ztun/icmp_reply.h"
#include "ztun/packet.h"
#include "ztun/reasm.h"
#include "ztun/rng.h"
#include "ztun/tcp.h"

/* A flow's addresses as seen from the TUN: the client is the application
 * behind the TUN, the server the remote address it asked for. */
struct zt_flow_key {
	uint8_t family;
	uint8_t proto;
	uint16_t client_port;
	uint16_t server_port;
	struct zt_addr client;
	struct zt_addr server;
};

/* *@k: the key of a @proto flow of @family from @client:@client_port to
 * @server:@server_port, its padding zeroed (the tables hash every byte). */
static inline void zt_flow_key_set(struct zt_flow_key *k, uint8_t family,
				   uint8_t proto, const struct zt_addr *client,
				   uint16_t client_port,
				   const struct zt_addr *server,
				   uint16_t server_port)
{
	memset(k, 0, sizeof(*k));
	k->family = family;
	k->proto = proto;
	k->client = *client;
	k->client_port = client_port;
	k->server = *server;
	k->server_port = server_port;
}

struct zt_flow {
	struct zt_flow_key key;
	struct zt_tcb tcb;
	void *user;            /* the host's per-flow pointer */
	uint8_t tclass;        /* traffic class (IPv4 TOS) of the client's
				* latest segment */
	uint8_t syn_ttl;       /* the TTL / hop limit of its SYN */
	/* private to the stack */
	uint32_t index;
	bool pending;          /* waiting for accept/refuse */
	bool early;            /* ... with its SYN-ACK already sent */
	bool in_dispatch;      /* inside ops->tcp_event */
	uint64_t connect_deadline;
	uint64_t idle_deadline;
	uint64_t timer_deadline;
	struct zt_heap_node timer;
	uint64_t last_active;  /* the client's latest segment (or its SYN, or
				* the accept when later) */
	uint32_t lru_prev, lru_next; /* flows by last_active, oldest first */
	bool lru_pending;      /* ... on the PENDING list instead */
	bool ack_held;         /* a pure ACK waits for zt_stack_batch_end() */
	bool ack_listed;       /* ... and the flow is on the batch's list */
	uint32_t ack_held_no;  /* the held ACK's number */
	uint32_t ack_out;      /* the last ACK number that went to the TUN */
	uint8_t syn_len;       /* bytes of the opening SYN kept for an ICMP quote */
	uint8_t syn[128];
};

/* A UDP flow: one (client, server) pair seen on the TUN, alive while
 * datagrams pass either way within udp_idle_timeout. */
struct zt_udp_flow {
	struct zt_flow_key key;
	void *user;            /* the host's per-flow pointer (NAT session, ...) */
	uint64_t datagrams_in, datagrams_out;
	struct zt_fwd_hdr hdr; /* TTL / hop limit, traffic class (IPv4 TOS:
				* DSCP and ECN) and IPv4 DF of the datagram
				* being handed to ops->udp_input */
	/* private to the stack */
	uint32_t index;
	uint64_t created;
	uint64_t last_active;  /* its latest datagram either way */
	uint64_t idle_deadline;
	struct zt_heap_node timer;
};

/* A UDP flow with datagrams both ways still active this long after it
 * began is a stream (zt_stack_config.udp_stream_timeout). */
#define ZT_UDP_STREAM_AFTER (2 * ZT_SEC)

struct zt_stack_config {
	uint16_t mtu;                 /* TUN MTU: nothing larger is emitted */
	struct zt_tcp_config tcp;     /* tcp.mss 0 (default): MTU - 40 / MTU - 60;
				       * a set MSS is clamped to that */
	uint32_t max_tcp_flows;       /* default 4096, at most 65536 */
	uint64_t connect_timeout;     /* ns to wait for accept/refuse (10 s) */
	uint64_t tcp_idle_timeout;    /* ns without a segment before reset
				       * (7440 s: RFC 5382 REQ-5), from
				       * the accept on: not while PENDING */
	uint64_t tcp_evict_idle;      /* table or ring budget full: a new SYN
				       * takes the place of the flow idle
				       * longest if it has been idle this
				       * long (300 s; 0: never) */
	bool reject_icmp;             /* refuse with ICMP unreachable, not RST */
	struct zt_reasm_config reasm;
	uint32_t icmp_rate;           /* ICMP errors per second (100) */
	uint32_t icmp_burst;          /* and burst (50) */
	uint64_t mem_budget;          /* bytes of TCP rings for all flows (2 GiB) */
	uint32_t max_udp_flows;       /* default 8192, at most 65536 */
	uint64_t udp_idle_timeout;    /* ns without a datagram either way (30 s) */
	uint64_t udp_evict_idle;      /* table full: a new flow takes the place
				       * of the one closest to its timeout if
				       * it has been idle this long (10 s;
				       * 0: never) */
	uint64_t udp_stream_timeout;  /* ... for a stream: a flow with datagrams
				       * both ways still active
				       * ZT_UDP_STREAM_AFTER after it began
				       * (120 s; never below udp_idle_timeout) */
};

void zt_stack_config_default(struct zt_stack_config *cfg);

/*
 * A packet handed over in parts, all borrowed for the call: the IP and
 * TCP headers, then the data in up to two runs (a ring's wrap).
 */
struct zt_pkt_parts {
	const uint8_t *hdr;
	size_t hdr_len;
	const uint8_t *d1, *d2;
	size_t l1, l2;
};

static inline size_t zt_pkt_parts_len(const struct zt_pkt_parts *p)
{
	return p->hdr_len + p->l1 + p->l2;
}

/* Copy @p into @buf (@cap bytes); its length, or 0 when it does not fit. */
static inline size_t zt_pkt_parts_flatten(const struct zt_pkt_parts *p,
					  uint8_t *buf, size_t cap)
{
	size_t n = zt_pkt_parts_len(p);

	if (n > cap)
		return 0;
	memcpy(buf, p->hdr, p->hdr_len);
	if (p->l1)
		memcpy(buf + p->hdr_len, p->d1, p->l1);
	if (p->l2)
		memcpy(buf + p->hdr_len + p->l1, p->d2, p->l2);
	return n;
}

/* What becomes of an ICMP echo request (zt_stack_ops.echo_verdict). */
enum zt_echo_verdict {
	ZT_ECHO_DROP = 0,   /* silently */
	ZT_ECHO_LOCAL,      /* the stack answers with an echo reply */
	ZT_ECHO_REJECT,     /* the stack answers with destination unreachable,
			     * administratively prohibited (ICMPv4 code 13,
			     * ICMPv6 code 1), rate-limited as every error */
	ZT_ECHO_FORWARD,    /* handed to ops->echo_forward (dropped without
			     * one): the host pings the destination and
			     * answers with zt_stack_echo_reply() */
};

/* What a host would do at once with a new TCP connection's SYN
 * (zt_stack_ops.tcp_admit). */
enum zt_tcp_admit {
	ZT_TCP_ADMIT,      /* not refused at once: tcp_new decides */
	ZT_TCP_ADMIT_DROP, /* forgotten unanswered (zt_stack_tcp_drop) */
	ZT_TCP_ADMIT_RST,  /* refused with a RST (zt_stack_tcp_reject, -1) */
};

/* ... and with a new UDP flow's first datagram (zt_stack_ops.udp_admit). */
enum zt_udp_admit {
	ZT_UDP_ADMIT,        /* not refused at once: udp_input decides */
	ZT_UDP_ADMIT_DROP,   /* dropped unanswered */
	ZT_UDP_ADMIT_REFUSE, /* answered with an ICMP port unreachable
			      * (zt_stack_udp_reject) */
	ZT_UDP_ADMIT_UNREACH, /* answered with an ICMP host unreachable
			       * (ICMPv6 address unreachable), as a flow
			       * whose upstream cannot be reached is */
};

struct zt_stack_ops {
	/* A packet for the TUN (borrowed for the call). */
	void (*tun_output)(void *host, const uint8_t *pkt, size_t len);
	/* A new TCP connection; answer later with accept/refuse. Return
	 * a negative errno to refuse at once. */
	int (*tcp_new)(void *host, struct zt_flow *f, uint64_t now);
	/* ZT_TCP_EV_* bits happened on @f (see the lifecycle above). */
	void (*tcp_event)(void *host, struct zt_flow *f, uint32_t events,
			  uint64_t now);
	/* A UDP datagram from the TUN side (borrowed) on flow @f, which is
	 * new when f->datagrams_in == 1. */
	void (*udp_input)(void *host, struct zt_udp_flow *f,
			  const uint8_t *data, size_t len, uint64_t now);
	/* What becomes of an ICMP echo request from @src to @dst (enum
	 * zt_echo_verdict): answered by the stack, refused with an ICMP
	 * error, or dropped. */
	enum zt_echo_verdict (*echo_verdict)(void *host,
					     const struct zt_addr *src,
					     const struct zt_addr *dst);
	/* Optional: @f expired or was closed; freed when this returns. */
	void (*udp_closed)(void *host, struct zt_udp_flow *f, uint64_t now);
	/* Optional: the client answered a datagram of @f with an ICMP error
	 * (from its address to the server's). A hard unreachable
	 * (zt_icmp_unreach_hard()) then ends @f: udp_closed follows. */
	void (*udp_error)(void *host, struct zt_udp_flow *f,
			  enum zt_icmp_kind kind, uint8_t code, uint64_t now);
	/* Optional (TSO): a TCP segment larger than the MTU, valid in every
	 * field but the TCP checksum, which holds only the pseudo-header sum
	 * (CHECKSUM_PARTIAL, zt_tcp_emit_partial()), whose data the device
	 * is to cut into segments of @seg_size bytes, each with a copy of
	 * the headers and its own checksum (as Linux GSO does; in software:
	 * sim/io/gso.h). It comes in parts: the headers, then the data
	 * straight from the flow's send ring (no copy in the core). Or a
	 * run of UDP datagrams (zt_stack_udp_send_run()): one IP and UDP
	 * header for all of them (zt_udp_emit_gso_hdr()), the data cut every
	 * @seg_size bytes into datagrams, as Linux's UDP GSO does; the IP
	 * header's protocol tells which. When NULL, tcp.tso_segs is ignored,
	 * every packet fits the MTU and datagrams go one by one. */
	void (*tun_output_gso)(void *host, const struct zt_pkt_parts *pkt,
			       uint32_t seg_size);
	/* Optional: in-order data of @f (borrowed) that would go into its
	 * empty receive ring; returns how many of the first bytes the host
	 * passed on itself, the rest is queued and announced with
	 * ZT_TCP_EV_READABLE as usual. Called while the stack handles a
	 * packet: it must not call into the stack. */
	size_t (*tcp_rx_direct)(void *host, struct zt_flow *f,
				const uint8_t *p, size_t len);
	/* Optional: an echo request that echo_verdict sent on
	 * (ZT_ECHO_FORWARD): from @key->client to @key->server (family and
	 * addresses set, ports 0), its identifier @ident, sequence number
	 * @seq, TTL / hop limit, traffic class (IPv4 TOS) and IPv4 DF @hdr
	 * and data (all borrowed). */
	void (*echo_forward)(void *host, const struct zt_flow_key *key,
			     uint16_t ident, uint16_t seq,
			     const struct zt_fwd_hdr *hdr,
			     const uint8_t *data, size_t len, uint64_t now);
	/* Optional: what tcp_new would do at once with a SYN for @key. Asked
	 * only when the flow table (or ring budget) is full and an idle flow
	 * would be evicted for the SYN: one the host refuses anyway takes
	 * no flow's place, and is answered and counted as it would be with
	 * room (the same RST, or silence; the stack's tcp_flows_opened and
	 * tcp_refused, and the host's own counts, which are its to take
	 * here: no tcp_new, nor tcp_event, follows a refusal). A SYN
	 * admitted goes on to the eviction and tcp_new as usual, so saying
	 * ZT_TCP_ADMIT must change nothing the host counts or keeps. */
	enum zt_tcp_admit (*tcp_admit)(void *host,
				       const struct zt_flow_key *key,
				       uint64_t now);
	/* Optional: the same for the datagram @data (borrowed) that would
	 * open UDP flow @key, asked when the UDP table is full and a flow
	 * idle udp_evict_idle would be closed for it. A refused datagram
	 * opens no flow (the next one of @key asks again) and counts in
	 * udp_datagrams_in; udp_input follows only ZT_UDP_ADMIT. */
	enum zt_udp_admit (*udp_admit)(void *host,
				       const struct zt_flow_key *key,
				       const uint8_t *data, size_t len,
				       uint64_t now);
};

struct zt_stack_stats {
	uint64_t packets_in, packets_out;
	uint64_t bytes_in, bytes_out;
	uint64_t drops[ZT_DROP__COUNT];
	uint64_t tcp_flows_opened;
	uint64_t tcp_flows_active;
	uint64_t tcp_refused_full;
	uint64_t tcp_refused_memory;
	uint64_t mem_reserved;        /* bytes of rings reserved by open flows */
	uint64_t tcp_refused;
	uint64_t tcp_early_synacks;   /* SYN-ACKs sent before the host accepted */
	uint64_t tcp_time_wait_reopened; /* new SYNs that ended a TIME_WAIT flow */
	uint64_t tcp_connect_timeouts;
	uint64_t tcp_idle_timeouts;
	uint64_t tcp_idle_evicted;    /* flows reset to make room for a SYN */
	uint64_t tcp_rst_sent;        /* answers to segments of no flow */
	uint64_t udp_datagrams_in, udp_datagrams_out;
	uint64_t udp_flows_opened, udp_flows_active, udp_flows_expired;
	uint64_t udp_refused_full;    /* datagrams dropped: UDP table full */
	uint64_t udp_evicted;         /* flows closed to make room for one */
	uint64_t udp_flows_unreachable; /* flows ended by their client's hard
					 * ICMP unreachable about a datagram
					 * (its socket is gone) */
	uint64_t tso_segments_out;    /* packets handed to tun_output_gso */
	uint64_t udp_gso_out;         /* ... of them UDP datagram runs */
	uint64_t icmp_echo_replies;
	uint64_t icmp_errors_sent;
	uint64_t icmp_errors_limited;
	uint64_t fragments_out;
	uint64_t icmp_errors_in;      /* ICMP errors from the TUN side */
	uint64_t icmp_errors_matched; /* ... that quoted one of our flows (its
				       * data in flight) and were believed */
	uint64_t pmtu_reductions;     /* Packet Too Big lowered a flow's MSS */
	uint64_t pmtu_not_believed;   /* Packet Too Big about a flow's data in
				       * flight, not believed: the quoted
				       * datagram fits the MTU claimed, or an
				       * IPv6 MTU below 1280 (RFC 8201 4) */
	uint64_t tcp_acks_coalesced;  /* pure ACKs a batch made unnecessary */
};

struct zt_stack;

/*
 * zt_stack_new() - a stack for @cfg (copied). @ops, @host and @rng are
 * borrowed and must outlive it; @rng draws the ISNs (the seeds of the
 * flow index's key hash come from a fork of it, zt_rng_fork(), so that the
 * ISNs a seed gives are the same with or without them).
 * Return: the stack (free with zt_stack_free), or NULL with no memory or a
 * config value out of range.
 */
struct zt_stack *zt_stack_new(const struct zt_stack_config *cfg,
			      const struct zt_stack_ops *ops, void *host,
			      struct zt_rng *rng);
/* Free every flow and the stack. No packet is sent; the host hears of each
 * flow still alive (tcp_event with ZT_TCP_EV_RESET, udp_closed) first. */
void zt_stack_free(struct zt_stack *s);

/* Flags for zt_stack_input_flags(). */
enum {
	/* The device vouches for the TCP/UDP checksum (it verified it, or
	 * the packet came from the local kernel with a partial checksum the
	 * device was to finish, virtio NEEDS_CSUM): not verified again. Such
	 * a TCP segment may also exceed the MTU (the kernel's GSO/GRO). */
	ZT_INPUT_CSUM_VALID = 1u << 0,
};

/* One IP packet from the TUN (borrowed), with ZT_INPUT_* @flags. */
void zt_stack_input_flags(struct zt_stack *s, const uint8_t *pkt, size_t len,
			  unsigned flags, uint64_t now);

/* One IP packet from the TUN (borrowed). Drops are counted by reason. */
void zt_stack_input(struct zt_stack *s, const uint8_t *pkt, size_t len,
		    uint64_t now);
/* Run every timer due at @now. */
void zt_stack_poll(struct zt_stack *s, uint64_t now);
/* Earliest timer, or ZT_TIME_NEVER. */
uint64_t zt_stack_deadline(const struct zt_stack *s);

void zt_stack_tcp_accept(struct zt_stack *s, struct zt_flow *f, uint64_t now);
/* Send a PENDING flow's SYN-ACK now, before the host's upstream is ready.
 * The flow stays PENDING for the host: the connect timeout still runs, the
 * client's bytes wait in the receive ring (its window is the ring), and
 * zt_stack_tcp_accept() ends PENDING as usual. A SYN-ACK cannot be taken
 * back, so refusing it afterwards (refuse, reject, drop, the connect
 * timeout) resets the client instead of answering its SYN. */
void zt_stack_tcp_accept_early(struct zt_stack *s, struct zt_flow *f,
			       uint64_t now);
void zt_stack_tcp_refuse(struct zt_stack *s, struct zt_flow *f, uint64_t now);
/* Refuse a PENDING flow with RST (@icmp_code < 0) or an ICMP destination
 * unreachable of @icmp_code (rate-limited like every ICMP error). */
void zt_stack_tcp_reject(struct zt_stack *s, struct zt_flow *f, int icmp_code,
			 uint64_t now);
/* ... or with an ICMP error of @kind (DEST_UNREACH, TIME_EXCEEDED) and
 * @code quoting its SYN, from @from (NULL, or an address that cannot be
 * a source: from the server): what the network answered the upstream
 * SYN that went with the client's TTL. */
void zt_stack_tcp_reject_icmp(struct zt_stack *s, struct zt_flow *f,
			      enum zt_icmp_kind kind, uint8_t code,
			      const struct zt_addr *from, uint64_t now);
size_t zt_stack_tcp_send(struct zt_stack *s, struct zt_flow *f,
			 const void *data, size_t len, uint64_t now);
/* In place instead of zt_stack_tcp_send() (zt_tcb_send_runs/_commit). */
size_t zt_stack_tcp_send_runs(struct zt_stack *s, struct zt_flow *f,
			      size_t len, uint8_t *p[2], size_t n[2]);
void zt_stack_tcp_send_commit(struct zt_stack *s, struct zt_flow *f,
			      size_t len, uint64_t now);
/* How much zt_stack_tcp_send() should be given now (zt_tcb_send_room()). */
size_t zt_stack_tcp_send_room(const struct zt_stack *s,
			      const struct zt_flow *f);
size_t zt_stack_tcp_recv(struct zt_stack *s, struct zt_flow *f, void *out,
			 size_t len, uint64_t now);
/* Zero-copy read: a contiguous run of received bytes at @off (borrowed
 * until the next call into the stack) and its length; then consume. */
size_t zt_stack_tcp_peek(struct zt_stack *s, struct zt_flow *f, size_t off,
			 const uint8_t **p);
void zt_stack_tcp_consume(struct zt_stack *s, struct zt_flow *f, size_t n,
			  uint64_t now);
/* Forget a PENDING flow without answering the client (silent Drop). */
void zt_stack_tcp_drop(struct zt_stack *s, struct zt_flow *f, uint64_t now);
void zt_stack_tcp_shutdown(struct zt_stack *s, struct zt_flow *f, uint64_t now);
void zt_stack_tcp_abort(struct zt_stack *s, struct zt_flow *f, uint64_t now);

/*
 * zt_stack_udp_send() - send @len bytes from @key->server:server_port to
 * @key->client:client_port into the TUN, fragmented to the MTU if needed;
 * refreshes the matching flow's idle timer.
 * Return: 0, -EMSGSIZE (over 65507/65527 bytes) or -EINVAL.
 */
int zt_stack_udp_send(struct zt_stack *s, const struct zt_flow_key *key,
		      const void *data, size_t len, uint64_t now);

/*
 * zt_stack_echo_reply() - an ICMP echo reply from @key->server to
 * @key->client into the TUN (fragmented to the MTU if needed) with
 * identifier @ident, sequence number @seq, traffic class (IPv4 TOS)
 * @tclass and @len bytes of @data (borrowed): the answer to a request
 * ops->echo_forward was given.
 * Return: 0, -EMSGSIZE or -EINVAL (a family other than IPv4 or IPv6).
 */
int zt_stack_echo_reply(struct zt_stack *s, const struct zt_flow_key *key,
			uint16_t ident, uint16_t seq, uint8_t tclass,
			const void *data, size_t len);

/*
 * zt_stack_udp_send_run() - send @len bytes at @data (borrowed) as
 * datagrams of @seg bytes each (the last may be shorter), as
 * zt_stack_udp_send() would one by one but with traffic class (IPv4 TOS)
 * @tclass: as one UDP GSO packet for the host to cut (ops->tun_output_gso)
 * when there is one, the run has 2 to ZT_UDP_GSO_SEGS datagrams and each
 * fits the MTU; else one by one.
 * Return: 0, or the first error of zt_stack_udp_send(); -EINVAL for @seg 0.
 */
#define ZT_UDP_GSO_SEGS 64
int zt_stack_udp_send_run(struct zt_stack *s, const struct zt_flow_key *key,
			  const void *data, size_t len, size_t seg,
			  uint8_t tclass, uint64_t now);

/*
 * zt_stack_udp_reject() - answer the datagram being delivered to
 * ops->udp_input on @f with an ICMP destination unreachable of @icmp_code
 * (rate-limited like every ICMP error).
 * Return: 0, or -EINVAL when called outside udp_input for @f.
 */
int zt_stack_udp_reject(struct zt_stack *s, struct zt_udp_flow *f,
			uint8_t icmp_code, uint64_t now);
/*
 * zt_stack_icmp_error_limited() - whether an ICMP error to a client now
 * would be suppressed by the rate limit (the tokens icmp_rate and
 * icmp_burst allow are spent); counted as limited when it would. For a
 * caller that must ask the host for what the error says (a path MTU)
 * before it can send one.
 */
bool zt_stack_icmp_error_limited(struct zt_stack *s, uint64_t now);
/*
 * zt_stack_udp_unreach() - zt_stack_udp_error() of a destination
 * unreachable of @icmp_code from the server of @f: an upstream that failed
 * after the client's datagrams were taken.
 */
int zt_stack_udp_unreach(struct zt_stack *s, struct zt_udp_flow *f,
			 uint8_t icmp_code, const void *data, size_t len,
			 uint64_t now);
/*
 * zt_stack_udp_error() - tell the client of UDP flow @key that a datagram
 * it sent earlier met an ICMP error on the way beyond ztun: the datagram
 * is rebuilt from @key around the first bytes of @data (@len bytes,
 * borrowed; NULL: none) and quoted in an error of @kind (DEST_UNREACH,
 * TIME_EXCEEDED, or PACKET_TOO_BIG with the next hop's @mtu: IPv4's
 * "fragmentation needed" quoting a datagram with DF, IPv6's packet too
 * big) and @code (the flow's family's numbering) from @from, or from the
 * flow's server when @from is NULL or cannot be a source (not a single
 * host of the flow's family). Rate-limited like every ICMP error.
 * Return: 0, or -EINVAL for a key without a family or another kind.
 */
int zt_stack_udp_error(struct zt_stack *s, const struct zt_flow_key *key,
		       enum zt_icmp_kind kind, uint8_t code, uint32_t mtu,
		       const struct zt_addr *from, const void *data, size_t len,
		       uint64_t now);
/*
 * zt_stack_echo_error() - the same about the echo request the client of
 * @key sent with identifier @ident and sequence number @seq, rebuilt
 * around the first bytes of its data @data (after the ICMP header).
 */
int zt_stack_echo_error(struct zt_stack *s, const struct zt_flow_key *key,
			uint16_t ident, uint16_t seq, enum zt_icmp_kind kind,
			uint8_t code, uint32_t mtu, const struct zt_addr *from,
			const void *data, size_t len, uint64_t now);
/* Forget UDP flow @f now (ops->udp_closed is called first). */
void zt_stack_udp_close(struct zt_stack *s, struct zt_udp_flow *f, uint64_t now);
struct zt_udp_flow *zt_stack_udp_lookup(struct zt_stack *s,
					const struct zt_flow_key *key);

/*
 * A batch of input (a host's batch of TUN reads): between begin and end a
 * flow holds one pure ACK; a later one replaces it while it acknowledges
 * at most four MSS past the last ACK sent, else it goes out (and says
 * what all would have), and the end sends what is still held: one ACK per
 * two TSO segments, or per up to six MSS-sized ones. A window update (the
 * host drained the ring) rides on the held ACK instead of going out too.
 * ACKs while a hole waits (SACK blocks, duplicate ACKs) go at once. Half
 * the ACK packets or fewer for a host whose every write costs a syscall,
 * none delayed past the end of the batch (holding all of them made a
 * Linux sender at MTU 1500 slower: its ACK clock stretched). A host that
 * never calls these sends every ACK as it comes.
 */
void zt_stack_batch_begin(struct zt_stack *s);
void zt_stack_batch_end(struct zt_stack *s, uint64_t now);

const struct zt_stack_stats *zt_stack_stats(const struct zt_stack *s);

/* Ring buffers TCP flows hold now (rings are lazy: only flows with data
 * in flight or unread hold any). */
uint64_t zt_stack_ring_buffers(const struct zt_stack *s);

/* The TCP counters of every flow since the stack began (those that ended
 * and those open now), summed into @out: retransmits, RTOs, probes,
 * duplicate ACKs, ... (struct zt_tcb_stats; its drops are among the
 * stack's own, zt_stack_stats()). O(open flows): for statistics. */
void zt_stack_tcp_totals(const struct zt_stack *s, struct zt_tcb_stats *out);

/* TCP flows by state now: @n[state] for every enum zt_tcp_state (a flow
 * waiting for its upstream is SYN_RECEIVED). O(open flows): for
 * statistics, not the data path. */
void zt_stack_tcp_states(const struct zt_stack *s,
			 uint32_t n[ZT_TCP_TIME_WAIT + 1]);

/*
 * zt_stack_evict_idle() - the host ran out of something every flow holds
 * (a descriptor for its upstream): close the UDP flow closest to its
 * timeout if idle udp_evict_idle or longer (never the one whose datagram
 * the host is handling: the next closest is asked then), as a full UDP
 * table does; else reset the TCP flow whose client has been quiet
 * longest, both ways, if quiet tcp_evict_idle or longer (never a
 * PENDING one), as a full table does for a SYN. The host
 * hears of it (udp_closed, EV_RESET) before this returns and lets the
 * flow's resources go; flows may share one (a UDP mapping), so one
 * eviction need not free it. Return: true if a flow was closed.
 */
bool zt_stack_evict_idle(struct zt_stack *s, uint64_t now);

/* Verify the TCP flows' two lists (every open flow on one, once: the
 * activity list of those accepted, in the order of last_active, or the
 * PENDING ones' list), the two timer heaps and the active counts; for
 * tests and fuzzing. Return: 0 or -EINVAL. O(max flows). */
int zt_stack_check(const struct zt_stack *s);
/* Look a TCP flow up by its key (NULL when none). */
struct zt_flow *zt_stack_tcp_lookup(struct zt_stack *s,
				    const struct zt_flow_key *key);

#endif /* ZTUN_STACK_H */
