/* SPDX-License-Identifier: MIT */
/* tcp_priv.h - functions shared by tcp_in.c and tcp_out.c; not public. */
#ifndef ZTUN_TCP_PRIV_H
#define ZTUN_TCP_PRIV_H

#include "ztun/tcp.h"

/* Send what the windows allow (data, FIN) and a pending ACK. */
void tcp_output(struct zt_tcb *t, uint64_t now);
/* The sequence number for a segment without data or FIN (bare ACK, RST):
 * snd_max, kept within the peer's window. */
uint32_t tcp_acceptable_seq(const struct zt_tcb *t);
/* Send a bare ACK now (with SACK blocks and timestamps as negotiated). */
void tcp_send_ack(struct zt_tcb *t, uint64_t now);
/* True when the window field of an ACK sent now would move the right edge
 * we advertised (by at least the SWS threshold). */
bool tcp_rcv_window_opens(const struct zt_tcb *t);
/* Send our SYN (SYN_SENT) or SYN-ACK (SYN_RECEIVED). */
void tcp_send_syn(struct zt_tcb *t, uint64_t now);
/* Send RST with @seq (and ACK of rcv_nxt when @with_ack). */
void tcp_send_rst(struct zt_tcb *t, uint32_t seq, bool with_ack, uint64_t now);
/* Retransmit the next unSACKed hole at or after rtx_next; false if none.
 * @lost_only (with SACK): only a hole found lost, RFC 6675 NextSeg rule 1
 * (IsLost: DupThresh SACKed above it) or RACK's mark, beyond the highest
 * SACK too; else any hole below it (fast retransmit), or without SACK
 * the segment at snd_una when rtx_next is there (NewReno). */
bool tcp_retransmit_hole(struct zt_tcb *t, bool lost_only, uint64_t now);
/* Send one segment of up to @max_len at @seq again (data in the flight,
 * with the FIN when it reaches it); the sequence space it covered. */
uint32_t tcp_resend_at(struct zt_tcb *t, uint32_t seq, uint32_t max_len,
		       uint64_t now);
/* In recovery: bytes SACKed below rtx_next (what went again so far). */
uint32_t tcp_rtx_sacked(const struct zt_tcb *t);
/* The segment at snd_una was retransmitted (or found so) now: watch for
 * SACKs of data sent after it. */
void tcp_lrx_arm(struct zt_tcb *t);
/* In recovery with SACK: when data sent after the retransmission at
 * snd_una was SACKed (new data, or a hole retransmitted after it: this
 * ACK @filled one), that retransmission was lost: send it again. */
bool tcp_lost_rtx(struct zt_tcb *t, bool filled, uint64_t now);
/* A retransmission of data went: counted, and in a fast or RTO recovery
 * for its undo (tcp_undo_dsack). */
static inline void tcp_rtx_count(struct zt_tcb *t)
{
	t->stats.retransmits++;
	if (t->in_recovery || t->undo_loss)
		t->undo_retrans++;
}
/* F-RTO step 2b (RFC 5682): up to two new segments, as the peer's window
 * takes them (cwnd aside: the flight is the RTO's), instead of more of
 * the flight; then snd_nxt is snd_max. How many went. */
unsigned tcp_frto_send(struct zt_tcb *t, uint64_t now);
/* Bytes of the FIN-less send sequence space still in the ring. */
uint32_t tcp_flight(const struct zt_tcb *t);
/* Our timestamp clock (ms) at @now. */
uint32_t tcp_ts_now(const struct zt_tcb *t, uint64_t now);
/* Arm the retransmission timer if data is outstanding, else stop it. */
void tcp_rearm_rtx(struct zt_tcb *t, uint64_t now);
/* Arm the tail loss probe timer when a probe may go (RFC 8985 7.2),
 * else stop it; after t_rtx is set. */
void tcp_arm_tlp(struct zt_tcb *t, uint64_t now);
/* Take an RTT sample of @rtt ns (RFC 6298 2.2/2.3). */
void tcp_rtt_sample(struct zt_tcb *t, uint64_t rtt);
/* Start fast recovery (RFC 6582 3.2 step 2): retransmit the first hole. */
void tcp_enter_recovery(struct zt_tcb *t, uint64_t now);
/* RACK (tcp_rack.c, SACK connections only). @seq/@len (sequence space)
 * went out now. */
void tcp_rack_sent(struct zt_tcb *t, uint32_t seq, uint32_t len, uint64_t now);
/* An RTT sample of @rtt ns taken @now, from a delivery RACK took or
 * from the handshake: min_RTT (6.2 step 2) is the least of the last
 * 300 s. */
void tcp_rack_min_rtt(struct zt_tcb *t, uint64_t rtt, uint64_t now);
/* RFC 8985 6.2 step 2: @seg, come @now, cannot answer a retransmission
 * sent at @sent (it echoes an older TSval, or comes sooner than min_RTT,
 * or min_RTT is unknown): it answers the original. */
bool tcp_rack_too_soon(const struct zt_tcb *t, const struct zt_tcp_repr *seg,
		       uint64_t sent, uint64_t now);
/* An RTO: forget the log of what went before it. */
void tcp_rack_reset(struct zt_tcb *t);
/* An ACK arrived (its SACK blocks already in the scoreboard, snd_una not
 * yet moved): take what it delivered (RFC 8985 6.2 steps 1-3). */
void tcp_rack_update(struct zt_tcb *t, const struct zt_tcp_repr *seg,
		     uint64_t now);
/* After an ACK: mark lost what went before the data delivered, longer
 * ago than RACK.rtt plus the reordering window, retransmit (recovery
 * from there), and (re)arm the reordering timer (6.2 step 5, 6.3). */
void tcp_rack_check(struct zt_tcb *t, uint64_t now);
/* RACK found @seq lost (and it has not gone again since). */
bool tcp_rack_lost(const struct zt_tcb *t, uint32_t seq);
/* The reordering timer expired (6.3). */
void tcp_rack_timer(struct zt_tcb *t, uint64_t now);
/* An ACK (of @ack) carries a D-SACK: a retransmission was needless;
 * widen the reordering window, once a round trip (6.2 step 4). */
void tcp_rack_dsack(struct zt_tcb *t, uint32_t ack);
/* A fast or RTO recovery ended: 16 without a D-SACK narrow the
 * reordering window back to min_RTT / 4 (6.2 step 4). */
void tcp_rack_recovery_end(struct zt_tcb *t);

/* The loss-free path's share of RACK, inline (a few instructions a
 * segment): the calls above only when there is more to do. */
static inline struct zt_tcp_rack_run *tcp_rack_run(struct zt_tcp_rack *r,
						   unsigned i)
{
	return &r->run[(r->head + i) & (ZT_TCP_RACK_RUNS - 1)];
}

/* @seq/@len went out now: new data continuing the newest run (none
 * delivered after it) within an eighth of SRTT of its first send, or
 * any time with the log full, extends it; else tcp_rack_sent(). */
static inline void tcp_rack_on_send(struct zt_tcb *t, uint32_t seq,
				    uint32_t len, uint64_t now)
{
	struct zt_tcp_rack *r = &t->rack;
	struct zt_tcp_rack_run *u = tcp_rack_run(r, r->n - 1u);

	if (r->n && u->end == seq && !u->rtx && seq == t->snd_max &&
	    u->order == r->next_order - 1u &&
	    (now - u->ts0 <= t->srtt / 8 || r->n == ZT_TCP_RACK_RUNS)) {
		u->end = seq + len;
		u->ts = now;
		return;
	}
	tcp_rack_sent(t, seq, len, now);
}

/* An ACK: one without SACK information (none in it, none kept) that
 * stops inside the oldest run only shrinks it; else tcp_rack_update(). */
static inline void tcp_rack_on_ack(struct zt_tcb *t,
				   const struct zt_tcp_repr *seg, uint64_t now)
{
	struct zt_tcp_rack *r = &t->rack;
	struct zt_tcp_rack_run *u = tcp_rack_run(r, 0);

	if (!r->n)
		return;
	if (!seg->sack_count && !t->sacked.count &&
	    zt_seq_lt(seg->ack, u->end)) {
		if (zt_seq_gt(seg->ack, u->start))
			u->start = u->dlv_end = seg->ack;
		return;
	}
	tcp_rack_update(t, seg, now);
}

/* After an ACK: tcp_rack_check() when data went before what was last
 * delivered (the oldest run: the log is in send order) or the timer
 * runs. */
static inline void tcp_rack_after_ack(struct zt_tcb *t, uint64_t now)
{
	struct zt_tcp_rack *r = &t->rack;

	if (r->valid && (r->timer ||
			 (r->n && (int32_t)(tcp_rack_run(r, 0)->order -
					    r->order) <= 0)))
		tcp_rack_check(t, now);
}
/* Enter CLOSED with a reset reason and event. */
void tcp_reset(struct zt_tcb *t, enum zt_tcp_reset_reason why);
/* Enter CLOSED after an orderly close. */
void tcp_closed(struct zt_tcb *t);

/* FIN_WAIT_2's least bound on the peer's silence while it may be probing
 * our closed window: two of the longest gaps between a peer's probes
 * (Linux's TCP_RTO_MAX, 120 s), as one may be lost. */
#define ZT_TCP_PROBE_SILENCE (240 * ZT_SEC)

/* The window we last advertised is zero (or less than one unit of it). */
static inline bool tcp_rcv_window_closed(const struct zt_tcb *t)
{
	return !zt_seq_gt(t->rcv_adv, t->rcv_nxt) ||
	       (t->rcv_adv - t->rcv_nxt) >> t->rcv_wscale == 0;
}

/* Our FIN has been acknowledged. */
static inline bool tcp_fin_acked(const struct zt_tcb *t)
{
	return t->fin_sent && zt_seq_gt(t->snd_una, t->fin_seq);
}

/* A state in which the send side is synchronized. */
static inline bool tcp_synchronized(const struct zt_tcb *t)
{
	return t->state >= ZT_TCP_ESTABLISHED;
}

#endif /* ZTUN_TCP_PRIV_H */
