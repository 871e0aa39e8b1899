/* SPDX-License-Identifier: MIT */
/*
 * tcp.h - one TCP endpoint (RFC 9293) as a state machine over reprs.
 *
 * A struct zt_tcb is driven by its owner (the flow table in the core, the
 * simulator's emulated hosts, the unit tests) through four kinds of call:
 *
 *   segments   zt_tcb_input()     a decoded segment for this connection
 *   the app    zt_tcb_send/recv*, zt_tcb_shutdown(), zt_tcb_abort()
 *   opening    zt_tcb_open_passive() + zt_tcb_accept()/zt_tcb_refuse(),
 *              or zt_tcb_open_active()
 *   time       zt_tcb_poll() at or after zt_tcb_deadline()
 *
 * Every call takes `now` (nanoseconds of the host clock) and may emit
 * segments through ops->output; it never calls back into the owner in any
 * other way. What happened for the application (connected, readable, peer
 * closed, reset, ...) is collected as event bits that the owner takes with
 * zt_tcb_events() after each call, so the owner is never re-entered.
 *
 * States and what each allows (RFC 9293 3.3.2):
 *   SYN_RECEIVED  passive open; with `synack_pending` the SYN-ACK waits for
 *                 zt_tcb_accept() (upstream first), else it is in flight
 *   SYN_SENT      active open, our SYN in flight
 *   ESTABLISHED   data both ways
 *   FIN_WAIT_1/2  we shut down sending; peer may still send
 *   CLOSE_WAIT    peer shut down; we may still send
 *   CLOSING, LAST_ACK  both shut down, waiting for our FIN's ACK
 *   TIME_WAIT     2*MSL quiet time (bounded by config), then CLOSED
 *   CLOSED        nothing more happens; the owner frees the tcb
 *
 * Memory: the two rings are allocated by zt_tcb_init() and bound the
 * connection: the receive window advertised is the free space of the
 * receive ring, so a slow reader slows the sender (back-pressure).
 */
#ifndef ZTUN_TCP_H
#define ZTUN_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/assembler.h"
#include "ztun/drop.h"
#include "ztun/ring.h"
#include "ztun/tcp_wire.h"
#include "ztun/view.h"

#define ZT_TIME_NEVER UINT64_MAX
#define ZT_MS 1000000ull
#define ZT_SEC 1000000000ull

enum zt_tcp_state {
	ZT_TCP_CLOSED = 0,
	ZT_TCP_SYN_SENT,
	ZT_TCP_SYN_RECEIVED,
	ZT_TCP_ESTABLISHED,
	ZT_TCP_FIN_WAIT_1,
	ZT_TCP_FIN_WAIT_2,
	ZT_TCP_CLOSE_WAIT,
	ZT_TCP_CLOSING,
	ZT_TCP_LAST_ACK,
	ZT_TCP_TIME_WAIT,
};

/* Event bits returned by zt_tcb_events(). */
enum {
	ZT_TCP_EV_CONNECTED = 1u << 0, /* reached ESTABLISHED */
	ZT_TCP_EV_READABLE = 1u << 1,  /* new in-order data in the receive ring */
	ZT_TCP_EV_WRITABLE = 1u << 2,  /* send ring space freed by an ACK */
	ZT_TCP_EV_PEER_FIN = 1u << 3,  /* peer sent FIN: no more data after the ring */
	ZT_TCP_EV_RESET = 1u << 4,     /* connection reset (see zt_tcb.reset_reason) */
	ZT_TCP_EV_CLOSED = 1u << 5,    /* reached CLOSED after an orderly close */
	ZT_TCP_EV_PUSH = 1u << 6,      /* ... READABLE, and the segment that
					* made it so carried PSH: the sender
					* has no more for now (as GRO, a
					* reader need not wait for more) */
	ZT_TCP_EV_KEEPALIVE = 1u << 7, /* the peer probed an idle connection
					* (RFC 9293 3.8.4: a bare segment at
					* RCV.NXT - 1, or one garbage byte
					* there) while our window is open (a
					* closed one's probes look the same) */
};

/* Why a connection ended in a reset. */
enum zt_tcp_reset_reason {
	ZT_TCP_RESET_NONE = 0,
	ZT_TCP_RESET_BY_PEER,      /* valid RST received */
	ZT_TCP_RESET_REFUSED,      /* SYN_SENT got RST: connection refused */
	ZT_TCP_RESET_TIMEOUT,      /* retransmissions exhausted */
	ZT_TCP_RESET_KEEPALIVE,    /* keepalive probes unanswered */
	ZT_TCP_RESET_FIN_WAIT_2,   /* peer never closed after our FIN */
	ZT_TCP_RESET_ABORTED,      /* zt_tcb_abort() by the owner */
};

struct zt_tcp_config {
	uint32_t rx_buf;          /* receive ring bytes (window bound) */
	uint32_t tx_buf;          /* send ring bytes */
	/* NULL: both rings are allocated by zt_tcb_init(). Otherwise they are
	 * lazy (ring.h): buffers come from this pool while data is in them, so
	 * an idle connection holds none. Borrowed; outlives the tcbs. */
	struct zt_bufpool *pool;
	uint16_t mss;             /* MSS we announce and cap sends at (MTU - headers) */
	uint16_t default_peer_mss; /* the peer's when its SYN has no MSS option:
				    * 536 (IPv4); the stack sets 1220 for IPv6
				    * (RFC 9293 3.7.1) */
	/* TSO: > 1 lets one segment carry up to this many segments' worth of
	 * data (at most 64 KiB) for a device that cuts it to the MSS itself
	 * (zt_tcb_seg_size() is the size to cut at); 0 or 1: off. */
	uint16_t tso_segs;
	bool window_scale;        /* offer RFC 7323 window scaling */
	bool sack;                /* offer RFC 2018 SACK */
	bool timestamps;          /* offer RFC 7323 timestamps */
	uint64_t rto_initial;     /* ns; RFC 6298 says 1 s */
	uint64_t rto_min;         /* ns */
	uint64_t rto_max;         /* ns */
	uint8_t max_retries;      /* RTO expiries in a row before reset */
	uint8_t syn_retries;      /* SYN / SYN-ACK retransmissions before reset */
	uint64_t delack;          /* ns; delayed-ACK timer */
	uint64_t keepalive_idle;  /* ns; 0 = keepalive off */
	uint64_t keepalive_intvl; /* ns */
	uint8_t keepalive_probes;
	uint64_t time_wait;       /* ns in TIME_WAIT (2*MSL, bounded) */
	uint64_t fin_wait_2;      /* ns in FIN_WAIT_2 with no data (nor a
				   * probe) from the peer before giving up
				   * (RST); while our window is closed, at
				   * least 240 s of silence */
};

/* Fill @cfg with the defaults documented in docs/architecture.md. */
void zt_tcp_config_default(struct zt_tcp_config *cfg);

struct zt_tcb;

struct zt_tcp_ops {
	/*
	 * output() - send one segment. @repr is the header to send (ports,
	 * seq, ack, flags, window, options); the data is @d1/@l1 followed by
	 * @d2/@l2 (either may be empty). All borrowed for the call only. The
	 * owner adds the IP header and writes the packet; it must not call
	 * into the tcb from here.
	 */
	void (*output)(void *ctx, struct zt_tcb *tcb,
		       const struct zt_tcp_repr *repr, const uint8_t *d1,
		       size_t l1, const uint8_t *d2, size_t l2);
	/*
	 * rx_direct() - optional: in-order data @p/@len (borrowed) that
	 * would go into an empty receive ring. Returns how many of the first
	 * bytes the owner passed on itself (0 to @len); the rest go into the
	 * ring as usual, and only they raise ZT_TCP_EV_READABLE. Saves the
	 * copy into the ring for an owner that forwards at once. Like
	 * output(), it must not call into the tcb.
	 */
	size_t (*rx_direct)(void *ctx, struct zt_tcb *tcb, const uint8_t *p,
			    size_t len);
};

struct zt_tcb_stats {
	uint64_t segs_in, segs_out;
	uint64_t bytes_in, bytes_out;     /* payload, first transmissions */
	uint64_t bytes_direct;            /* of bytes_in: taken by rx_direct() */
	uint64_t retransmits;             /* segments retransmitted */
	uint64_t rto_expiries;
	uint64_t tlp_probes;              /* tail loss probes sent (RFC 8985 7) */
	uint64_t fast_retransmits;
	uint64_t lost_retransmits;        /* retransmissions found lost by the
					   * SACKs of data sent after them */
	uint64_t rack_marked;             /* segments RACK (RFC 8985 6) found
					   * lost and sent again */
	uint64_t undos;                   /* fast or RTO recoveries undone:
					   * D-SACKs showed every
					   * retransmission needless (RFC
					   * 2883 6) */
	uint64_t spurious_rtos;           /* RTOs F-RTO found spurious (RFC
					   * 5682) and undid (RFC 4015) */
	uint64_t sack_renegings;          /* RTOs that found the segment at
					   * snd_una SACKed: the peer dropped
					   * data it had SACKed (RFC 2018 8),
					   * the scoreboard was forgotten (as
					   * Linux's TCPSACKReneging) */
	uint64_t dupacks_in;
	uint64_t ooo_segs;                /* out-of-order data segments kept */
	uint64_t challenge_acks;
	uint64_t oow_acks_skipped;        /* unacceptable segments without
					   * data (and SYNs in SYN_RECEIVED)
					   * left unanswered: an ACK to one
					   * went less than 500 ms before (as
					   * Linux's TCPACKSkipped*) */
	uint64_t drops[ZT_DROP__COUNT];
};

/* RACK (RFC 8985 6): when the data outstanding went out, as a bounded
 * log of runs in the order they were sent. A run is sequence space sent
 * contiguously within SRTT / 8 (or appended to the newest run once the
 * log is full); a retransmission is a run of its own and takes its bytes
 * out of the older runs. With the log full, the oldest run is forgotten: its
 * bytes are left to DupThresh and the RTO, as without RACK. */
#define ZT_TCP_RACK_RUNS 8 /* a power of two */

/* SACK blocks a receiver remembers having reported: the most an option
 * holds (four, without timestamps), as Linux's selective_acks[]. */
#define ZT_TCP_SACK_HIST 4

struct zt_tcp_rack_run {
	uint64_t ts0, ts;     /* its first and its last send */
	uint32_t start, end;  /* [start, end) */
	uint32_t lost_end;    /* [start, lost_end) was found lost */
	uint32_t dlv_end;     /* delivered (ACKed, SACKed) up to here, so far */
	uint32_t order;       /* send order: a larger one went later */
	bool rtx;             /* a retransmission */
};

/* One sample of a windowed minimum (struct zt_tcp_rack's min). */
struct zt_tcp_min_sample {
	uint64_t at;          /* when it was taken */
	uint64_t rtt;         /* ns */
};

struct zt_tcp_rack {
	struct zt_tcp_rack_run run[ZT_TCP_RACK_RUNS];
	uint8_t head, n;      /* the oldest run, and how many */
	uint32_t next_order;
	/* the most recently sent data delivered (RACK.xmit_ts, .end_seq):
	 * its run's order and the end of what was delivered of it */
	bool valid;
	uint32_t order, end_seq;
	uint64_t rtt;          /* RACK.rtt (ns) */
	/* RACK.min_RTT: min[0].rtt, the least RTT sample of the last 300 s
	 * (Linux's tcp_min_rtt_wlen); min[1], min[2]: the least of later
	 * parts of that window, next when it ages out (Kathleen Nichols'
	 * windowed minimum, as Linux's lib/win_minmax.c) ... */
	struct zt_tcp_min_sample min[3];
	bool min_set;          /* ... once measured */
	uint32_t fack;         /* highest end delivered (RACK.fack) */
	bool reordering_seen;
	bool timer;            /* t_tlp is the reordering timer, not a probe */
	/* 6.2 step 4: reo_wnd is min_RTT / 4 times RACK.reo_wnd_mult ... */
	uint8_t reo_wnd_more;  /* ... less 1: D-SACK rounds that widened it */
	uint8_t reo_wnd_persist; /* recoveries until it is 1 again */
	bool dsack_round_on;   /* a D-SACK widened it while snd_max was
				* dsack_round: none again until snd_una
				* reaches that (once a round trip) */
	uint32_t dsack_round;
};

struct zt_tcb {
	enum zt_tcp_state state;
	uint16_t local_port;
	uint16_t remote_port;
	const struct zt_tcp_config *cfg; /* borrowed, outlives the tcb */
	const struct zt_tcp_ops *ops;    /* borrowed */
	void *ctx;                       /* passed to ops */

	/* send sequence space */
	uint32_t iss;
	uint32_t snd_una;      /* oldest unacknowledged */
	uint32_t snd_nxt;      /* next to send */
	uint32_t snd_max;      /* highest ever sent + 1 */
	uint32_t snd_wnd;      /* peer's window in bytes (scaled) */
	uint32_t max_snd_wnd;  /* largest window the peer ever offered */
	uint32_t snd_wl1, snd_wl2;
	uint16_t snd_mss;      /* data bytes per segment we send */
	uint8_t snd_wscale;    /* peer's shift */
	bool fin_queued;       /* owner called shutdown: FIN after the data */
	bool fin_sent;         /* our FIN went out at least once ... */
	uint32_t fin_seq;      /* ... with this sequence number */
	struct zt_ring tx;     /* bytes from snd_una on (the SYN/FIN take no room) */

	/* receive sequence space */
	uint32_t irs;
	uint32_t rcv_nxt;
	uint32_t rcv_adv;      /* right edge we take data up to (advertised,
				* the field maybe a scale unit short of it);
				* never moves left, never past the ring */
	uint8_t rcv_wscale;    /* our shift */
	uint16_t peer_mss;
	bool peer_fin_seen;    /* a FIN arrived (maybe ahead of a hole) */
	uint32_t peer_fin_seq; /* its sequence number */
	struct zt_ring rx;     /* in-order bytes not yet read by the owner */
	struct zt_assembler ooo; /* ranges past rcv_nxt already in rx (ahead) */
	bool dsack;            /* with SACK: a duplicate arrived, reported as
				* the next ACK's first SACK block (RFC 2883) */
	uint32_t dsack_l, dsack_r; /* ... its sequence space [l, r) */

	/* options in force */
	bool sack_ok;
	bool ts_ok;
	uint8_t sack_hist_n;   /* blocks in sack_hist */
	uint32_t sack_hist[ZT_TCP_SACK_HIST]; /* left edges of the SACK
				* blocks last reported, newest first (the
				* next ACK repeats them, RFC 2018 4) */
	uint32_t ts_recent;
	uint64_t ts_recent_at; /* when it was taken: PAWS trusts it 24 days
				* (RFC 7323 5.5) */
	uint32_t ts_offset;    /* added to our clock so TSvals do not leak it */
	uint32_t last_ack_sent;

	/* RTT and retransmission (RFC 6298) */
	uint64_t srtt, rttvar, rto;
	bool rtt_sampling;
	uint32_t rtt_seq;      /* Karn: time this sequence number's ACK */
	uint64_t rtt_start;
	uint8_t retries;       /* consecutive RTO expiries */

	/* congestion control (RFC 5681, 6582) and SACK scoreboard (RFC 2018) */
	uint32_t cwnd, ssthresh;
	uint32_t dupacks;
	bool in_recovery;
	bool lrx_armed;        /* the segment at snd_una went again in this
				* recovery while snd_max was lrx_mark (or
				* before): a SACK past that shows it lost, as
				* does one of a hole retransmitted after it ... */
	bool lrx_again;        /* ... unless it went again after those */
	uint32_t recover;      /* snd_max when recovery (or an RTO) started;
				* ISS at first, then trailing snd_una */
	uint32_t rtx_next;     /* next hole candidate during recovery */
	struct zt_assembler sacked; /* peer's SACKed ranges, offsets from snd_una */
	/* undo of a needless fast or RTO recovery (RFC 2883 6, RFC 3708) */
	bool undo_on;          /* the last one may still be undone ... */
	uint32_t undo_retrans; /* ... when its retransmissions, less those
				* the peer D-SACKed, come to 0 */
	uint32_t undo_marker;  /* snd_una at its start: they lie above ... */
	uint32_t undo_end;     /* ... and below snd_max at its end */
	bool undo_loss;        /* it is an RTO recovery, under way (until
				* snd_una reaches recover) */
	uint32_t prior_cwnd, prior_ssthresh; /* before it (or its RTO) */
	/* F-RTO (RFC 5682): whether the last RTO was spurious, by what the
	 * next two new ACKs acknowledge; its RecoveryPoint is recover */
	uint8_t frto;          /* 0 no; 1 its retransmission is out (step
				* 2); 2 new data went instead (step 3) */

	/* ACK policy */
	bool ack_now;
	uint32_t segs_unacked; /* full segments received since our last ACK */
	bool synack_pending;   /* passive open waiting for zt_tcb_accept() */
	bool synack_resent;    /* ... sent again for a repeated SYN: no RTT
				* sample from the handshake (Karn) */
	bool syn_ts_set;       /* our first SYN or SYN-ACK went with ... */
	uint32_t syn_tsval;    /* ... this TSval: the handshake's last ACK
				* echoes one from here to our clock */
	bool persist;          /* zero window: probing instead of retransmitting */
	bool rto_closed;       /* an RTO went off while the window was closed */
	bool tlp_out;          /* a tail loss probe went out and its
				* episode is not over (tcp_tlp_end): one
				* per episode */
	bool tlp_rtx;          /* ... and it was a retransmission */
	uint32_t tlp_high;     /* snd_max when the probe was sent: the
				* episode ends when snd_una reaches it (a
				* retransmission: its D-SACK, a pure
				* duplicate ACK at it, or an ACK beyond) */
	uint64_t tlp_at;       /* when the probe was sent */
	uint64_t challenge_start; /* RFC 5961 7: this second's challenge ACKs ... */
	uint32_t challenge_count; /* ... so far */
	uint64_t oow_ack_at;   /* the last ACK to an unacceptable segment
				* without data (tcp_oow_ack_limited), or
				* ZT_TIME_NEVER */
	uint32_t lrx_mark;     /* see lrx_armed (here: it fills a hole) */
	struct zt_tcp_rack rack; /* with SACK only */

	/* timers: absolute deadlines, ZT_TIME_NEVER when off */
	uint64_t t_rtx, t_delack, t_persist, t_keepalive, t_close;
	uint64_t t_tlp;        /* tail loss probe (RFC 8985 7), before t_rtx;
				* or RACK's reordering timer (rack.timer) */
	uint64_t persist_backoff;
	uint8_t ka_sent;
	uint64_t last_heard;

	uint32_t events;       /* ZT_TCP_EV_* not yet taken */
	enum zt_tcp_reset_reason reset_reason;
	struct zt_tcb_stats stats;
};

/*
 * zt_tcb_init() - prepare @t in CLOSED with rings sized by @cfg.
 * @cfg, @ops, @ctx are borrowed and must outlive the tcb.
 * Return: 0 or -ENOMEM.
 */
int zt_tcb_init(struct zt_tcb *t, const struct zt_tcp_config *cfg,
		const struct zt_tcp_ops *ops, void *ctx);
/* Free the rings. Emits nothing. */
void zt_tcb_destroy(struct zt_tcb *t);

/* Add every counter of @s to @sum's (totals over many tcbs). */
void zt_tcb_stats_add(struct zt_tcb_stats *sum, const struct zt_tcb_stats *s);

/*
 * zt_tcb_open_passive() - take a SYN (decoded into @syn) that opened this
 * connection: records the peer's options and enters SYN_RECEIVED with the
 * SYN-ACK pending until zt_tcb_accept() or zt_tcb_refuse().
 * @iss: our initial sequence number, from the host's generator
 * Return: ZT_DROP_NONE, or the reason @syn cannot open a connection.
 */
enum zt_drop zt_tcb_open_passive(struct zt_tcb *t,
				 const struct zt_tcp_repr *syn, uint32_t iss,
				 uint64_t now);
/* Send the pending SYN-ACK (the upstream accepted). */
void zt_tcb_accept(struct zt_tcb *t, uint64_t now);
/* Answer the pending SYN with RST+ACK and go to CLOSED (upstream refused). */
void zt_tcb_refuse(struct zt_tcb *t, uint64_t now);

/* Send a SYN from @lport to @rport and enter SYN_SENT. */
void zt_tcb_open_active(struct zt_tcb *t, uint16_t lport, uint16_t rport,
			uint32_t iss, uint64_t now);

/*
 * zt_tcb_input() - process a segment that belongs to this connection.
 * @seg, @data: decoded header and its payload (borrowed)
 * Return: ZT_DROP_NONE when the segment was acceptable, else why it was not
 * (it may still have been answered, e.g. with a challenge ACK).
 */
enum zt_drop zt_tcb_input(struct zt_tcb *t, const struct zt_tcp_repr *seg,
			  struct zt_view data, uint64_t now);

/* Queue up to @len bytes for sending (copied); returns bytes taken, 0 when
 * the send ring is full or the connection no longer sends. */
size_t zt_tcb_send(struct zt_tcb *t, const void *data, size_t len,
		   uint64_t now);
/* Data bytes per segment on the wire now (the MSS less option room): what
 * a segment larger than this, sent with tso_segs, is to be cut into. */
uint32_t zt_tcb_seg_size(const struct zt_tcb *t);
/* tso_segs for a device that cuts segments itself (ztun-ref's vnet TUN,
 * the simulator's --tun-offload TUN): 64 segments' worth, within 64 KiB. */
#define ZT_TCP_TSO_SEGS 64

/* Send a bare ACK of everything received, now. */
void zt_tcb_send_ack(struct zt_tcb *t, uint64_t now);

/* Write in place instead of zt_tcb_send(): zt_tcb_send_runs() gives up to
 * @len bytes of the send ring's free space as one or two runs (their
 * total, 0 when nothing can be queued now); the caller fills a prefix of
 * them and zt_tcb_send_commit() queues that many bytes and sends. A
 * commit of 0 gives an unused lazy buffer back. */
size_t zt_tcb_send_runs(struct zt_tcb *t, size_t len, uint8_t *p[2],
			size_t n[2]);
void zt_tcb_send_commit(struct zt_tcb *t, size_t len, uint64_t now);

/* Bytes the send ring can still take. */
size_t zt_tcb_send_space(const struct zt_tcb *t);
/* How much to queue now: with TSO (tso_segs > 1) the send space rounded
 * down so that the unsent bytes end on a whole super-segment, when one
 * fits, so that they leave as full segments; else the space itself. */
size_t zt_tcb_send_room(const struct zt_tcb *t);

/* Received in-order bytes waiting: a contiguous run (borrowed until the next
 * call into @t) and its length; zt_tcb_recv_consume() then frees @n bytes
 * and may send a window update. */
size_t zt_tcb_recv_peek(const struct zt_tcb *t, size_t off, const uint8_t **p);
size_t zt_tcb_recv_len(const struct zt_tcb *t);
void zt_tcb_recv_consume(struct zt_tcb *t, size_t n, uint64_t now);
/* The same without the window update, for an owner that has an ACK of
 * @t on its way anyway (zt_tcb_send_ack() builds it with the window as it
 * is then). */
void zt_tcb_recv_consume_quiet(struct zt_tcb *t, size_t n);
/* Copying convenience: peek + consume. */
size_t zt_tcb_recv(struct zt_tcb *t, void *out, size_t len, uint64_t now);

/* Send FIN after the queued data (half-close). */
void zt_tcb_shutdown(struct zt_tcb *t, uint64_t now);
/* Send RST (when synchronized) and go to CLOSED at once. */
void zt_tcb_abort(struct zt_tcb *t, uint64_t now);

/* Run expired timers. */
void zt_tcb_poll(struct zt_tcb *t, uint64_t now);

/*
 * zt_tcb_mss_reduced() - the path takes no more than @mss data bytes a
 * segment (an ICMP Packet Too Big, RFC 1191 6.5, RFC 8201 5.4, its MTU
 * less the headers): when that is below snd_mss, lower snd_mss and send
 * again what the big segments carried. A notice that does not lower it
 * (another for the same flight) does nothing.
 * Return: true when it lowered snd_mss.
 */
bool zt_tcb_mss_reduced(struct zt_tcb *t, uint32_t mss, uint64_t now);
/* Earliest timer, or ZT_TIME_NEVER. */
uint64_t zt_tcb_deadline(const struct zt_tcb *t);

/* Take (and clear) the pending ZT_TCP_EV_* bits. */
uint32_t zt_tcb_events(struct zt_tcb *t);

/* True when every byte queued was acknowledged (and FIN, if sent). */
bool zt_tcb_send_drained(const struct zt_tcb *t);

/*
 * zt_tcb_time_wait_reopen() - let @syn end TIME_WAIT for a new connection.
 * A pure SYN that cannot belong to the old connection may: one whose
 * timestamp is newer than the last seen (RFC 6191), or whose sequence
 * number lies beyond RCV.NXT (RFC 1122 4.2.2.13), unless PAWS rejects it.
 * The tcb then closes at once (ZT_TCP_EV_CLOSED); the owner opens the new
 * connection from @syn.
 * Return: true when it closed.
 */
bool zt_tcb_time_wait_reopen(struct zt_tcb *t, const struct zt_tcp_repr *syn);

/*
 * zt_tcp_reply_rst() - the RST that answers @seg (carrying @data_len data
 * bytes) when no connection owns it (RFC 9293 3.10.7.1). Ports are swapped.
 * Return: false when @seg is itself a RST (never answered).
 */
bool zt_tcp_reply_rst(const struct zt_tcp_repr *seg, size_t data_len,
		      struct zt_tcp_repr *rst);

const char *zt_tcp_state_name(enum zt_tcp_state s);

/* Sequence-space comparisons (RFC 1982 style, mod 2^32). */
static inline bool zt_seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool zt_seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool zt_seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool zt_seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }

#endif /* ZTUN_TCP_H */
