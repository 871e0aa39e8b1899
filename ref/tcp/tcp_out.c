/* SPDX-License-Identifier: MIT */
/*
 * tcp_out.c - what a TCP endpoint sends, and its timers.
 *
 * Theory of operation:
 *
 * Everything sent is built here as a zt_tcp_repr plus at most two runs of
 * the send ring, and handed to ops->output; with SACK, what data went
 * when is logged for RACK (tcp_rack_sent, from tcp_send_at). The ring holds every byte from
 * snd_una on, so a retransmission is a read at offset (seq - snd_una);
 * nothing is copied or allocated per segment. Segments without data or
 * FIN (bare ACKs, RSTs) carry snd_max, but never past the peer's right
 * window edge (tcp_acceptable_seq), where the peer would drop them.
 *
 * Sending (tcp_output): new data goes out while the flight is below
 * min(peer window, cwnd), in segments of snd_mss, without Nagle (a proxy
 * forwards what it has) but with sender-side silly-window avoidance
 * (RFC 9293 3.8.6.2.1): a short segment waits when more data is queued and
 * the usable window is under half the largest window the peer offered.
 * The FIN rides on the last data segment or goes alone. In a SACK
 * recovery the flight may also reach ssthresh counted without the
 * SACKed bytes (RFC 6675's pipe), when NewReno's cwnd, inflated once a
 * duplicate ACK, lets less go: lost ACKs do not stall the recovery.
 *
 * A lower MSS (zt_tcb_mss_reduced, from a Packet Too Big) sends the
 * flight again from snd_una as a go-back-N, cut to it; recover moves to
 * snd_max, so the ACKs of what went before start no fast recovery.
 *
 * SACK blocks (tcp_fill_sack): a pending D-SACK first (RFC 2883), then
 * the out-of-order range changed last, then the others; three blocks
 * with timestamps, four without. Blocks on a data segment take room
 * from its data (tcp_eff_mss).
 *
 * Receive window (tcp_window_field): the free space of the receive ring,
 * so the window tracks how fast the owner drains it (back-pressure), and
 * never offers more than the ring holds. The right edge never moves left
 * (RFC 9293 3.8.6; the scaled field may show it up to one unit short,
 * RFC 7323 appendix F, where rounding up would pass the ring's end), and
 * it only moves right by at least min(ring/2, MSS) at a time
 * (receiver-side SWS avoidance), a
 * closed window included: it stays closed until that much is free. The
 * reader's zt_tcb_recv_consume() sends a window update only when that
 * edge would move (tcp_rcv_window_opens), never a copy of the last ACK.
 *
 * Timers, one deadline each, ZT_TIME_NEVER when off:
 *   t_rtx       RFC 6298: RTO with Karn's rule and exponential backoff;
 *               on expiry go back to snd_una with cwnd = 1 MSS (that
 *               segment no larger than the peer's window, unless closed);
 *               the scoreboard stays (RFC 6675 5.1, as Linux), and the
 *               go-back-N in tcp_output skips what it holds SACKed and
 *               counts none of it against cwnd (tcp_gbn_skip), unless
 *               the peer reneged (RFC 2018 8: the segment at snd_una
 *               SACKed at the RTO, which an ACK that stopped at SACKed
 *               data brought to half a round trip): then all goes again
 *               (counted, sack_renegings);
 *               outside a recovery (fast or by an RTO), F-RTO (RFC 5682,
 *               tcp_frto in tcp_in.c) then judges by the next two new
 *               ACKs whether it was spurious, sending new data
 *               (tcp_frto_send) instead of more of the flight between
 *               them, and undoes it if so (RFC 4015); else the D-SACKs
 *               of every retransmission since (its own and go-back-N's,
 *               counted in undo_retrans while undo_loss) undo it
 *               (tcp_undo_dsack, as Linux's tcp_try_undo_loss)
 *   t_tlp       RFC 8985 7 tail loss probe: with SACK, in the open state
 *               with data out, 2 * SRTT after the last new data or advancing ACK
 *               (+200 ms for a peer's delayed ACK with one segment out;
 *               at least 10 ms; never after t_rtx), one segment: new
 *               data if the peer's window takes it, else the last one
 *               again; so that a lost tail draws SACKs or an ACK rather
 *               than waiting for the RTO (a SACK while it is out starts
 *               recovery, tcp_process_ack). One per episode (until an
 *               ACK covers tlp_high); never into a closed window; a
 *               retransmitted probe is taken as a repaired loss (cwnd
 *               halved, 7.4.2) when an ACK goes beyond tlp_high before
 *               the peer's D-SACK, or its pure duplicate ACK at
 *               tlp_high, reports it a duplicate (tcp_tlp_end).
 *               The same slot holds RACK's
 *               reordering timer (rack.timer; tcp_rack.c) while it runs:
 *               no probe is due then
 *   t_persist   zero window: probe with one byte at snd_una, backing off;
 *               the answers (ack = snd_una, window 0) are no duplicate
 *               ACKs, and the probing goes on as long as they come;
 *               max_retries probes in a row unanswered reset the flow
 *   t_delack    delayed ACK (every second full segment is ACKed at once)
 *   t_keepalive idle probes (seq = snd_una - 1) when configured; none
 *               while data is out or queued: t_rtx or t_persist is in
 *               charge then, and this timer only looks again later
 *   t_close     TIME_WAIT and FIN_WAIT_2 bounds (the latter restarted by
 *               the peer's data: it bounds silence, not a one-way transfer;
 *               at least 240 s while our window is closed, as the peer's
 *               probes may be up to 120 s apart)
 */
#include "tcp_priv.h"

#include <string.h>

uint32_t tcp_ts_now(const struct zt_tcb *t, uint64_t now)
{
	return (uint32_t)(now / ZT_MS) + t->ts_offset;
}

uint32_t tcp_flight(const struct zt_tcb *t)
{
	return t->snd_max - t->snd_una;
}

/* The right edge of the receive window to advertise now: the free space
 * of the ring (in what the scaled window field can say), moved right only
 * by a worthwhile amount and never left. */
static uint32_t tcp_rcv_edge(const struct zt_tcb *t)
{
	uint32_t space = (uint32_t)zt_ring_space(&t->rx);
	uint32_t maxwin = (uint32_t)65535 << t->rcv_wscale;
	uint32_t edge, thresh;

	if (space > maxwin)
		space = maxwin;
	space = space >> t->rcv_wscale << t->rcv_wscale;
	edge = t->rcv_nxt + space;
	thresh = (uint32_t)t->rx.cap / 2;
	if (thresh > t->cfg->mss)
		thresh = t->cfg->mss;
	/* Move the edge right only by a worthwhile amount; never left
	 * (RFC 9293 3.8.6.2.2). From a zero window too: reopening it by
	 * less would invite a silly segment. No deadlock: a reader that
	 * empties the ring frees more than thresh (at most half of it). */
	if (zt_seq_le(edge, t->rcv_adv) || edge - t->rcv_adv < thresh)
		edge = zt_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv : t->rcv_nxt;
	return edge;
}

bool tcp_rcv_window_opens(const struct zt_tcb *t)
{
	uint32_t edge = tcp_rcv_edge(t);

	return zt_seq_gt(edge, t->rcv_adv) && zt_seq_gt(edge, t->rcv_nxt);
}

/* The window field for the edge of tcp_rcv_edge(). An edge kept where it
 * was is no multiple of the scale past rcv_nxt: the field rounds up only
 * while that fits the ring, else down (the peer may see the edge
 * retract by less than one unit, RFC 7323 appendix F), and rcv_adv stays
 * the edge we take data up to. Rounding up every time moved the edge
 * past the ring by up to a unit per ACK: a full ring still offered a
 * window, whose data was dropped and waited for the peer's RTO. */
static uint16_t tcp_window_field(struct zt_tcb *t)
{
	uint32_t edge = tcp_rcv_edge(t), adv = edge - t->rcv_nxt, field;
	size_t space = zt_ring_space(&t->rx);

	field = adv >> t->rcv_wscale;
	if ((field << t->rcv_wscale) < adv &&
	    ((size_t)(field + 1) << t->rcv_wscale) <= space)
		field++;
	if (field > 65535)
		field = 65535;
	if (zt_seq_gt(t->rcv_nxt + (field << t->rcv_wscale), edge))
		edge = t->rcv_nxt + (field << t->rcv_wscale);
	t->rcv_adv = edge;
	return (uint16_t)field;
}

/* Fill SACK blocks: a duplicate that arrived since the last ACK first
 * (D-SACK, RFC 2883 4, in this ACK only), then from the out-of-order
 * assembler the most recently changed range (RFC 2018 4; for a D-SACK
 * of data held out of order, the range holding it), then the ranges the
 * last ACKs reported, newest first (RFC 2018 4: so that a block outlives
 * the loss of an ACK; one merged into a range already there counts once,
 * one rcv_nxt passed is gone), then the lowest others, as many as the
 * option space takes (three with timestamps). sack_hist keeps the left
 * edges in the order reported (a range holds its old left edge as it
 * grows or merges). Work: ZT_TCP_SACK_HIST lookups in the assembler,
 * only while data waits behind a hole. */
static void tcp_fill_sack_ooo(struct zt_tcb *t, struct zt_tcp_repr *r)
{
	unsigned max = (r->has_ts ? 3u : 4u) - r->sack_count, n = 0, k, i;
	const struct zt_assembler *a = &t->ooo;
	unsigned idx[ZT_TCP_SACK_HIST];

	idx[n++] = a->last_added;
	for (k = 0; k < t->sack_hist_n && n < ZT_TCP_SACK_HIST; k++) {
		uint32_t off = t->sack_hist[k] - t->rcv_nxt;

		for (i = 0; i < a->count && a->r[i].end <= off; i++)
			;
		if (i == a->count || a->r[i].start > off)
			continue; /* gone: below rcv_nxt, or cut off */
		idx[n] = i;
		for (i = 0; idx[i] != idx[n]; i++)
			;
		if (i == n) /* not merged into one already there */
			n++;
	}
	for (i = 0; i < a->count && n < max; i++) {
		idx[n] = i;
		for (k = 0; idx[k] != i; k++)
			;
		if (k == n)
			n++;
	}
	for (k = 0; k < n; k++) {
		t->sack_hist[k] = t->rcv_nxt + a->r[idx[k]].start;
		if (k < max) {
			r->sack[r->sack_count].left = t->sack_hist[k];
			r->sack[r->sack_count].right =
				t->rcv_nxt + a->r[idx[k]].end;
			r->sack_count++;
		}
	}
	t->sack_hist_n = (uint8_t)n;
}

static void tcp_fill_sack(struct zt_tcb *t, struct zt_tcp_repr *r)
{
	r->sack_count = 0;
	if (t->dsack) {
		t->dsack = false;
		r->sack[0].left = t->dsack_l;
		r->sack[0].right = t->dsack_r;
		r->sack_count = 1;
	}
	if (t->sack_ok && t->ooo.count)
		tcp_fill_sack_ooo(t, r);
}

/* Build and send one segment. @off/@len select data from the send ring
 * (offset from snd_una). */
static void tcp_emit(struct zt_tcb *t, uint8_t flags, uint32_t seq,
		     size_t off, size_t len, uint64_t now)
{
	struct zt_tcp_repr r;
	const uint8_t *d1 = NULL, *d2 = NULL;
	size_t l1 = 0, l2 = 0;

	memset(&r, 0, sizeof(r));
	r.src_port = t->local_port;
	r.dst_port = t->remote_port;
	r.seq = seq;
	r.flags = flags;
	if (flags & ZT_TCP_ACK)
		r.ack = t->rcv_nxt;
	if (flags & ZT_TCP_SYN) {
		uint32_t space = (uint32_t)zt_ring_space(&t->rx);

		/* The window in a SYN is never scaled (RFC 7323 2.2). */
		r.window = space > 65535 ? 65535 : (uint16_t)space;
		t->rcv_adv = t->rcv_nxt + r.window;
		r.has_mss = true;
		r.mss = t->cfg->mss;
		if (t->cfg->window_scale &&
		    (t->state == ZT_TCP_SYN_SENT || t->snd_wscale != 0xff)) {
			r.has_wscale = true;
			r.wscale = t->rcv_wscale;
		}
		r.sack_permitted = t->cfg->sack &&
				   (t->state == ZT_TCP_SYN_SENT || t->sack_ok);
		if (t->cfg->timestamps &&
		    (t->state == ZT_TCP_SYN_SENT || t->ts_ok)) {
			r.has_ts = true;
			r.ts_val = tcp_ts_now(t, now);
			r.ts_ecr = t->state == ZT_TCP_SYN_SENT ? 0 : t->ts_recent;
		}
	} else if (!(flags & ZT_TCP_RST) || (flags & ZT_TCP_ACK)) {
		r.window = tcp_window_field(t);
		if (t->ts_ok) {
			r.has_ts = true;
			r.ts_val = tcp_ts_now(t, now);
			r.ts_ecr = t->ts_recent;
		}
		if (flags & ZT_TCP_ACK)
			tcp_fill_sack(t, &r);
	}
	if (len) {
		l1 = zt_ring_chunk(&t->tx, off, &d1);
		if (l1 > len)
			l1 = len;
		if (l1 < len)
			l2 = zt_ring_chunk(&t->tx, off + l1, &d2);
		if (l2 > len - l1)
			l2 = len - l1;
	}
	if (flags & ZT_TCP_ACK) {
		t->last_ack_sent = t->rcv_nxt;
		t->ack_now = false;
		t->segs_unacked = 0;
		t->t_delack = ZT_TIME_NEVER;
	}
	t->stats.segs_out++;
	t->ops->output(t->ctx, t, &r, d1, l1, d2, l2);
}

void zt_tcb_send_ack(struct zt_tcb *t, uint64_t now)
{
	if (t->state >= ZT_TCP_ESTABLISHED) /* synchronized, not closed */
		tcp_send_ack(t, now);
}

uint32_t tcp_acceptable_seq(const struct zt_tcb *t)
{
	/* snd_max, not snd_nxt: after an RTO rewound snd_nxt, an older
	 * sequence number would be outside the peer's window and the
	 * segment ignored (both sides rewinding then deadlock). But not
	 * past the peer's right window edge either (a zero-window probe's
	 * byte is out): the peer would drop it too. Linux's
	 * tcp_acceptable_seq() does the same (RFC 9293 3.10.7.4's test). */
	uint32_t edge = t->snd_una + t->snd_wnd;

	return zt_seq_gt(t->snd_max, edge) ? edge : t->snd_max;
}

void tcp_send_ack(struct zt_tcb *t, uint64_t now)
{
	tcp_emit(t, ZT_TCP_ACK, tcp_acceptable_seq(t), 0, 0, now);
}

void tcp_send_syn(struct zt_tcb *t, uint64_t now)
{
	uint8_t flags = ZT_TCP_SYN;

	if (t->state == ZT_TCP_SYN_RECEIVED)
		flags |= ZT_TCP_ACK;
	if (!t->syn_ts_set) {
		t->syn_ts_set = true;
		t->syn_tsval = tcp_ts_now(t, now);
	}
	tcp_emit(t, flags, t->iss, 0, 0, now);
	if (zt_seq_lt(t->snd_max, t->iss + 1))
		t->snd_max = t->iss + 1;
	t->snd_nxt = t->iss + 1;
	if (t->t_rtx == ZT_TIME_NEVER)
		t->t_rtx = now + t->rto;
}

void tcp_send_rst(struct zt_tcb *t, uint32_t seq, bool with_ack, uint64_t now)
{
	tcp_emit(t, (uint8_t)(ZT_TCP_RST | (with_ack ? ZT_TCP_ACK : 0)), seq,
		 0, 0, now);
}

void tcp_rearm_rtx(struct zt_tcb *t, uint64_t now)
{
	if (t->snd_max == t->snd_una || t->persist)
		t->t_rtx = ZT_TIME_NEVER;
	else
		t->t_rtx = now + t->rto;
}

/* RFC 8985 7.2: the delayed ACK a peer may hold one segment's ACK for
 * (WCDelAckT), added to the PTO when only one segment is outstanding. */
#define ZT_TCP_TLP_DELACK (200 * ZT_MS)
/* Least PTO, as Linux's: below the timers' and timestamps' granularity a
 * little late ACK would draw a needless probe. */
#define ZT_TCP_TLP_MIN (10 * ZT_MS)

/* A tail loss probe may be scheduled or sent (RFC 8985 7.2): SACK in
 * use (as Linux: without it the probe's duplicate ACK tells nothing of
 * what was lost, and only delays the RTO), the open state (no fast
 * recovery, no RTO recovery: snd_una short of recover or snd_nxt
 * rewound; no zero-window probing, no window closed), data outstanding,
 * an RTT measured, no probe yet for this flight. */
static bool tcp_tlp_ok(const struct zt_tcb *t)
{
	return t->sack_ok && t->srtt && !t->tlp_out && !t->in_recovery &&
	       !t->persist &&
	       t->snd_wnd != 0 && t->snd_max != t->snd_una &&
	       t->snd_nxt == t->snd_max && zt_seq_ge(t->snd_una, t->recover) &&
	       t->t_rtx != ZT_TIME_NEVER;
}

void tcp_arm_tlp(struct zt_tcb *t, uint64_t now)
{
	uint64_t pto;

	if (t->rack.timer && t->t_tlp != ZT_TIME_NEVER)
		return; /* RACK's reordering timer holds the slot */
	t->rack.timer = false;
	t->t_tlp = ZT_TIME_NEVER;
	if (!tcp_tlp_ok(t))
		return;
	pto = 2 * t->srtt;
	if (tcp_flight(t) <= (uint32_t)t->snd_mss + 1) /* one segment (+FIN) */
		pto += ZT_TCP_TLP_DELACK;
	if (pto < ZT_TCP_TLP_MIN)
		pto = ZT_TCP_TLP_MIN;
	/* never after the RTO would fire */
	t->t_tlp = pto < t->t_rtx - now ? now + pto : t->t_rtx;
}

void tcp_rtt_sample(struct zt_tcb *t, uint64_t rtt)
{
	uint64_t var4;

	if (t->srtt == 0) {
		t->srtt = rtt ? rtt : 1;
		t->rttvar = rtt / 2;
	} else {
		uint64_t diff = t->srtt > rtt ? t->srtt - rtt : rtt - t->srtt;

		t->rttvar = (3 * t->rttvar + diff) / 4;
		t->srtt = (7 * t->srtt + rtt) / 8;
	}
	var4 = 4 * t->rttvar;
	if (var4 < ZT_MS) /* clock granularity G: 1 ms */
		var4 = ZT_MS;
	t->rto = t->srtt + var4;
	if (t->rto < t->cfg->rto_min)
		t->rto = t->cfg->rto_min;
	if (t->rto > t->cfg->rto_max)
		t->rto = t->cfg->rto_max;
}

/* Data bytes the next segment may carry: snd_mss already leaves room for
 * timestamps; SACK blocks riding on a data segment take room too (RFC 6691:
 * the MSS bounds data plus options beyond the fixed header). */
static uint32_t tcp_eff_mss(const struct zt_tcb *t)
{
	unsigned n = 0;
	uint32_t room;

	if (t->sack_ok && (t->ooo.count || t->dsack)) {
		n = t->ooo.count + (unsigned)t->dsack; /* a D-SACK too */
		if (n > (t->ts_ok ? 3u : 4u))
			n = t->ts_ok ? 3u : 4u;
	}
	room = n ? 4u + 8u * n : 0u; /* NOP NOP kind len + blocks */
	return t->snd_mss > room ? t->snd_mss - room : 1u;
}

uint32_t zt_tcb_seg_size(const struct zt_tcb *t)
{
	return tcp_eff_mss(t);
}

/* The most data one segment may carry: the effective MSS, or with TSO up
 * to tso_segs of them within a 64 KiB IP packet (20-byte IPv4 header or
 * 40-byte IPv6 header, up to 60 bytes of TCP header). */
static uint32_t tcp_seg_max(const struct zt_tcb *t)
{
	uint32_t mss = tcp_eff_mss(t), segs, fit;

	if (t->cfg->tso_segs <= 1)
		return mss;
	fit = (65535u - 40u - 60u) / mss;
	segs = t->cfg->tso_segs < fit ? t->cfg->tso_segs : fit;
	return segs > 1 ? segs * mss : mss;
}

size_t zt_tcb_send_room(const struct zt_tcb *t)
{
	size_t space = zt_tcb_send_space(t), ring_len = zt_ring_len(&t->tx);
	uint32_t unit = tcp_seg_max(t), off = t->snd_nxt - t->snd_una;
	size_t unsent = off < ring_len ? ring_len - off : 0, whole;

	if (unit <= tcp_eff_mss(t))
		return space;
	whole = (unsent + space) / unit * unit;
	return whole > unsent ? whole - unsent : space;
}

/* Send one segment of up to @max_len (no more than tcp_seg_max()) starting
 * at @seq (within the flight or the first new byte), with FIN when it
 * reaches the queued FIN. Returns the sequence space it covered. */
static uint32_t tcp_send_at(struct zt_tcb *t, uint32_t seq, uint32_t max_len,
			    uint64_t now)
{
	size_t ring_len = zt_ring_len(&t->tx);
	uint32_t off = seq - t->snd_una;
	uint32_t len = 0, seg_max = tcp_seg_max(t);
	uint8_t flags = ZT_TCP_ACK;

	if (off < ring_len) {
		len = (uint32_t)(ring_len - off);
		if (len > max_len)
			len = max_len;
		if (len > seg_max)
			len = seg_max;
	}
	if (t->fin_queued && off + len == ring_len)
		flags |= ZT_TCP_FIN;
	if (len && off + len == ring_len)
		flags |= ZT_TCP_PSH;
	if (!len && !(flags & ZT_TCP_FIN))
		return 0;
	if (flags & ZT_TCP_FIN) {
		t->fin_sent = true;
		t->fin_seq = seq + len;
	}
	tcp_emit(t, flags, seq, off, len, now);
	len += (flags & ZT_TCP_FIN) ? 1 : 0;
	if (t->sack_ok)
		tcp_rack_on_send(t, seq, len, now);
	return len;
}

uint32_t tcp_resend_at(struct zt_tcb *t, uint32_t seq, uint32_t max_len,
		       uint64_t now)
{
	return tcp_send_at(t, seq, max_len, now);
}

/* RFC 6675 NextSeg rule 1, with RACK: whether the first hole from offset
 * *@from on is lost: IsLost (4: DupThresh discontiguous SACKed ranges
 * above it, or more than (DupThresh - 1) * SMSS bytes SACKed above) or
 * marked by RACK (above the highest SACK too: a tail lost behind a
 * delivered retransmission); *@from and *@hole_end, its offsets. None
 * past it is sooner lost (both tests weaken going up: holes above
 * rtx_next went once, in order), so rtx_next stays HighRxt: every hole
 * below it went again. Only in recovery: bounded walks of the scoreboard
 * and the log. *@by_rack: lost by RACK's word alone (rack_marked). */
static bool tcp_next_lost(const struct zt_tcb *t, uint32_t *from,
			  uint32_t *hole_end, bool *by_rack)
{
	const struct zt_assembler *s = &t->sacked;
	uint32_t above = 0, start = 0, off = *from;

	for (unsigned i = 0; i < s->count; i++)
		above += s->r[i].end - s->r[i].start;
	for (unsigned i = 0; i <= s->count; i++) {
		uint32_t end = i < s->count ? s->r[i].start : tcp_flight(t);

		if (off < start)
			off = start;
		if (off < end) {
			*from = off;
			*hole_end = end;
			if (s->count - i >= 3 || above > 2u * t->snd_mss)
				return true;
			*by_rack = tcp_rack_lost(t, t->snd_una + off);
			return *by_rack;
		}
		if (i < s->count) {
			above -= s->r[i].end - s->r[i].start;
			start = s->r[i].end;
		}
	}
	return false;
}

bool tcp_retransmit_hole(struct zt_tcb *t, bool lost_only, uint64_t now)
{
	const struct zt_assembler *s = &t->sacked;
	uint32_t from, hole_end = 0, sent;
	bool found = false, by_rack = false;

	if (zt_seq_lt(t->rtx_next, t->snd_una))
		t->rtx_next = t->snd_una;
	from = t->rtx_next - t->snd_una;
	if (lost_only && t->sack_ok) {
		found = tcp_next_lost(t, &from, &hole_end, &by_rack);
	} else if (s->count == 0) {
		/* No SACK information: NewReno retransmits the first unacked
		 * segment once per recovery step. */
		if (from != 0)
			return false;
		hole_end = tcp_flight(t);
		found = hole_end > 0;
	} else {
		uint32_t start = 0;

		for (unsigned i = 0; i < s->count; i++) {
			if (s->r[i].start > from && s->r[i].start > start) {
				if (from < start)
					from = start;
				hole_end = s->r[i].start;
				found = from < hole_end;
				if (found)
					break;
			}
			start = s->r[i].end;
		}
	}
	if (!found)
		return false;
	/* One segment per hole per ACK, even with TSO (RFC 6675 pacing). */
	if (hole_end - from > tcp_eff_mss(t))
		hole_end = from + tcp_eff_mss(t);
	sent = tcp_send_at(t, t->snd_una + from, hole_end - from, now);
	if (!sent)
		return false;
	if (from == 0) /* data first sent after this shows it lost, if SACKed
			* while snd_una stays (tcp_lost_rtx) */
		tcp_lrx_arm(t);
	t->rtx_next = t->snd_una + from + sent;
	tcp_rtx_count(t);
	if (by_rack)
		t->stats.rack_marked++;
	if (t->rtt_sampling && zt_seq_lt(t->rtt_seq, t->rtx_next))
		t->rtt_sampling = false; /* Karn */
	if (t->t_rtx == ZT_TIME_NEVER)
		t->t_rtx = now + t->rto;
	return true;
}

/* Bytes the peer SACKed below offset @off (from snd_una). */
static uint32_t tcp_sacked_below(const struct zt_tcb *t, uint32_t off)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < t->sacked.count && t->sacked.r[i].start < off; i++)
		n += (t->sacked.r[i].end < off ? t->sacked.r[i].end : off) -
		     t->sacked.r[i].start;
	return n;
}

uint32_t tcp_rtx_sacked(const struct zt_tcb *t)
{
	return tcp_sacked_below(t, t->rtx_next - t->snd_una);
}

void tcp_lrx_arm(struct zt_tcb *t)
{
	t->lrx_armed = true;
	t->lrx_again = false;
	t->lrx_mark = t->snd_max;
}

/*
 * Lost retransmission detection (in the spirit of RFC 8985 6 and of
 * Linux's former tcp_mark_lost_retrans(), without per-segment times).
 * The segment at snd_una was retransmitted when snd_max was lrx_mark
 * (lrx_armed; an ACK that moves snd_una rearms or clears it):
 * every byte from lrx_mark on was first sent after it. A SACK of such a
 * byte while snd_una has not moved shows the retransmission lost (the
 * network lost it, not reordered: the ACKs are cumulative). So does
 * @filled, a SACK that fills part of a hole below rtx_next: holes go
 * again in ascending order, so that one went after the segment at
 * snd_una (its original, sent a round trip or more before, would have to
 * be that late). Then it goes again now rather than at the RTO, and the
 * mark moves to the present (and lrx_again stops @filled from counting:
 * those holes went before this copy), so that it goes again only on a
 * new proof. Cwnd too small for new data to go in recovery leaves only
 * the second proof. Only the segment at snd_una
 * is watched: it is the one that holds the flight; a lost retransmission
 * above it is caught once snd_una reaches it (tcp_ack_advance rearms
 * the mark then, later than the real one: never a wrong proof).
 */
bool tcp_lost_rtx(struct zt_tcb *t, bool filled, uint64_t now)
{
	const struct zt_assembler *s = &t->sacked;
	uint32_t end, sent;

	if (!t->lrx_armed || s->count == 0 || s->r[0].start == 0 ||
	    (!(filled && !t->lrx_again) &&
	     !zt_seq_gt(t->snd_una + s->r[s->count - 1].end, t->lrx_mark)))
		return false;
	end = s->r[0].start;
	if (end > tcp_eff_mss(t))
		end = tcp_eff_mss(t);
	sent = tcp_send_at(t, t->snd_una, end, now);
	if (!sent)
		return false;
	t->lrx_mark = t->snd_max;
	t->lrx_again = true;
	tcp_rtx_count(t);
	t->stats.lost_retransmits++;
	if (zt_seq_lt(t->rtx_next, t->snd_una + sent))
		t->rtx_next = t->snd_una + sent;
	return true;
}

/* RFC 3042 Limited Transmit: each of the first two duplicate ACKs lets
 * one new segment go beyond cwnd (cwnd itself unchanged), so that a loss
 * in a window of a few segments still draws the third duplicate ACK fast
 * retransmit needs, rather than waiting for the RTO. */
static uint32_t tcp_limited_transmit(const struct zt_tcb *t)
{
	if (t->in_recovery || t->dupacks == 0 || t->dupacks > 2 ||
	    t->snd_nxt != t->snd_max)
		return 0;
	return t->dupacks * (uint32_t)t->snd_mss;
}

/* Go-back-N (snd_nxt below snd_max) with the scoreboard kept through
 * the RTO (RFC 6675 5.1): from offset @off, the first byte not SACKed
 * (returned), *@end where the next SACKed range starts (UINT32_MAX: none),
 * *@sacked the bytes SACKed below the returned offset (not in the pipe).
 * A bounded walk, only while a go-back-N has SACK information. */
static uint32_t tcp_gbn_skip(const struct zt_tcb *t, uint32_t off,
			     uint32_t *end, uint32_t *sacked)
{
	const struct zt_assembler *s = &t->sacked;

	*end = UINT32_MAX;
	*sacked = 0;
	for (unsigned i = 0; i < s->count; i++) {
		if (s->r[i].start > off) {
			*end = s->r[i].start;
			break;
		}
		if (s->r[i].end > off)
			off = s->r[i].end;
		*sacked += s->r[i].end - s->r[i].start;
	}
	return off;
}

void tcp_output(struct zt_tcb *t, uint64_t now)
{
	bool sent_any = false;

	if (t->state == ZT_TCP_ESTABLISHED || t->state == ZT_TCP_CLOSE_WAIT ||
	    t->state == ZT_TCP_FIN_WAIT_1 || t->state == ZT_TCP_CLOSING ||
	    t->state == ZT_TCP_LAST_ACK) {
		for (;;) {
			size_t ring_len = zt_ring_len(&t->tx);
			uint32_t off = t->snd_nxt - t->snd_una;
			uint32_t cwnd = t->cwnd + tcp_limited_transmit(t);
			uint32_t hole_end = UINT32_MAX, sacked = 0;
			uint32_t avail, usable, len, pipe, room, covered;
			uint32_t mss = tcp_eff_mss(t), seg_max = tcp_seg_max(t);
			bool fin_due;

			/* Go-back-N resends no data the peer SACKed (RFC
			 * 6675 5.1; a reneging peer's scoreboard is gone,
			 * tcp_on_rto), nor counts it against cwnd. */
			if (t->sacked.count && zt_seq_lt(t->snd_nxt, t->snd_max)) {
				off = tcp_gbn_skip(t, off, &hole_end, &sacked);
				t->snd_nxt = t->snd_una + off;
			}
			pipe = off - sacked;
			avail = off < ring_len ? (uint32_t)(ring_len - off) : 0;
			usable = t->snd_wnd > off ? t->snd_wnd - off : 0;
			room = cwnd > pipe ? cwnd - pipe : 0;
			/* SACK recovery: NewReno's inflation counts duplicate
			 * ACKs, RFC 6675's pipe the bytes still in the network.
			 * Lost ACKs leave the first short (one ACK may SACK
			 * many segments): the flight stalls, and a lost
			 * retransmission with it, until the RTO. Whichever
			 * lets more go: RFC 6675 5's cwnd = ssthresh against
			 * each byte not SACKed once (a hole sent again was
			 * found lost: its copy stands for it; one not sent
			 * again counts though it may be lost: never more than
			 * RFC 6675 allows). */
			if (t->in_recovery && t->sacked.count) {
				uint32_t in_net = off - tcp_sacked_below(t, off);

				if (t->ssthresh > in_net && t->ssthresh - in_net > room)
					room = t->ssthresh - in_net;
			}
			if (usable > room)
				usable = room;
			len = avail < usable ? avail : usable;
			fin_due = t->fin_queued && off <= ring_len &&
				  !(off == ring_len + 1);

			if (len > seg_max)
				len = seg_max;
			if (off > ring_len)
				break; /* FIN already in flight */
			if (len == 0 && !(fin_due && avail == 0))
				break;
			/* Sender SWS avoidance: with data in flight, wait for
			 * a bigger window rather than send a sliver. */
			if (len && len < mss && len < avail &&
			    usable < t->max_snd_wnd / 2 && t->snd_nxt != t->snd_una)
				break;
			/* ... nor one at the end of a super-segment: cwnd and
			 * the window count bytes, and SACK blocks shrink mss
			 * below the unit cwnd grows by, so a TSO length the
			 * window cut would leave the device a sliver to send
			 * while more data waits. Whole segments only (the
			 * rest goes with the next ACK). */
			if (len > mss && len < avail && len < seg_max)
				len -= len % mss;
			/* TSO autocork: a tail shorter than a super-segment
			 * waits while two MSS or more are in flight (the peer
			 * ACKs those at once, RFC 5681 4.2) and the ACK sends
			 * it with what was written meanwhile: one packet, not
			 * a full one and a sliver per write. Never with the
			 * FIN due, nor what limited transmit lets go (it is
			 * to draw duplicate ACKs now); at most one round
			 * trip. */
			if (seg_max > mss && len == avail && len < seg_max &&
			    !t->fin_queued && tcp_flight(t) >= 2u * mss &&
			    cwnd == t->cwnd)
				break;
			/* up to the next SACKed range (after the SWS test:
			 * a short hole is no sliver of the window) */
			if (len > hole_end - off)
				len = hole_end - off;
			covered = tcp_send_at(t, t->snd_nxt, len, now);
			if (!covered)
				break;
			if (!t->rtt_sampling && t->snd_nxt == t->snd_max) {
				t->rtt_sampling = true;
				t->rtt_seq = t->snd_nxt;
				t->rtt_start = now;
			}
			if (t->snd_nxt == t->snd_max) {
				t->stats.bytes_out += len;
			} else {
				/* data sent before: go-back-N after an RTO,
				 * or from snd_una when a window reopens; for
				 * the undo, in segments as D-SACKs count */
				tcp_rtx_count(t);
				if (t->undo_loss && len > t->snd_mss)
					t->undo_retrans +=
						(len - 1) / t->snd_mss;
				if (zt_seq_gt(t->snd_nxt + len, t->snd_max))
					t->stats.bytes_out +=
						t->snd_nxt + len - t->snd_max;
			}
			t->snd_nxt += covered;
			if (zt_seq_gt(t->snd_nxt, t->snd_max))
				t->snd_max = t->snd_nxt;
			if (t->t_rtx == ZT_TIME_NEVER)
				t->t_rtx = now + t->rto;
			sent_any = true;
		}
		/* new data: (re)start the probe timer (RFC 8985 7.2) */
		if (sent_any)
			tcp_arm_tlp(t, now);
		/* Zero window with data waiting and nothing in flight: probe. */
		if (t->snd_wnd == 0 && t->snd_nxt == t->snd_max &&
		    t->snd_max == t->snd_una && zt_ring_len(&t->tx) > 0) {
			if (!t->persist) {
				t->persist = true;
				t->persist_backoff = t->rto;
				t->t_persist = now + t->persist_backoff;
				t->t_rtx = ZT_TIME_NEVER;
			}
		}
	}
	if (t->ack_now && !sent_any && t->state != ZT_TCP_CLOSED &&
	    t->state != ZT_TCP_SYN_SENT)
		tcp_send_ack(t, now);
}

void tcp_reset(struct zt_tcb *t, enum zt_tcp_reset_reason why)
{
	t->state = ZT_TCP_CLOSED;
	t->reset_reason = why;
	t->events |= ZT_TCP_EV_RESET;
	t->t_rtx = t->t_delack = t->t_persist = t->t_keepalive = t->t_close =
		t->t_tlp = ZT_TIME_NEVER;
}

void tcp_closed(struct zt_tcb *t)
{
	t->state = ZT_TCP_CLOSED;
	t->events |= ZT_TCP_EV_CLOSED;
	t->t_rtx = t->t_delack = t->t_persist = t->t_keepalive = t->t_close =
		t->t_tlp = ZT_TIME_NEVER;
}

static void tcp_on_rto(struct zt_tcb *t, uint64_t now)
{
	uint32_t flight = tcp_flight(t);
	uint8_t limit = t->state == ZT_TCP_SYN_SENT ||
				t->state == ZT_TCP_SYN_RECEIVED ?
			t->cfg->syn_retries : t->cfg->max_retries;
	/* F-RTO (RFC 5682 2 step 1, 3.1 step 1): not in a recovery, fast
	 * or by an RTO (RecoveryPoint, recover, at or past snd_una: a
	 * timeout again goes on as before); not into a closed window
	 * (that is probing) */
	bool frto = tcp_synchronized(t) && !t->in_recovery &&
		    zt_seq_ge(t->snd_una, t->recover) && t->snd_wnd != 0;
	/* a probe's retransmission is out: its D-SACK is no proof */
	bool tlp_rtx = t->tlp_rtx;

	t->stats.rto_expiries++;
	t->frto = 0;
	t->t_tlp = ZT_TIME_NEVER;
	t->tlp_rtx = false; /* the RTO's response covers it */
	if (t->snd_wnd == 0)
		t->rto_closed = true; /* what it resends goes into no window */
	if (t->retries >= limit) {
		if (tcp_synchronized(t) || t->state == ZT_TCP_SYN_RECEIVED)
			tcp_send_rst(t, tcp_acceptable_seq(t), true, now);
		tcp_reset(t, ZT_TCP_RESET_TIMEOUT);
		return;
	}
	t->retries++;
	t->rto *= 2;
	if (t->rto > t->cfg->rto_max)
		t->rto = t->cfg->rto_max;
	t->rtt_sampling = false; /* Karn: no sample across a retransmission */
	t->t_rtx = ZT_TIME_NEVER;
	if (t->state == ZT_TCP_SYN_SENT || t->state == ZT_TCP_SYN_RECEIVED) {
		t->stats.retransmits++;
		tcp_send_syn(t, now);
		return;
	}
	if (t->sack_ok && t->retries == 1) /* an RTO recovery begins: it
					     * counts for RACK (6.2 step 4) */
		tcp_rack_recovery_end(t);
	/* Its undo, by F-RTO if it was spurious (RFC 4015), or when
	 * D-SACKs show every retransmission needless (the originals were
	 * late, the RTO's overtook them; Linux's tcp_try_undo_loss). A
	 * fresh one (F-RTO's condition) from the values of before it; one
	 * that ends a fast recovery, or a backed-off one, goes on with
	 * that (whose retransmissions count too). */
	t->frto = frto ? 1 : 0;
	if (!t->in_recovery && zt_seq_ge(t->snd_una, t->recover)) {
		t->prior_cwnd = t->cwnd;
		t->prior_ssthresh = t->ssthresh;
		t->undo_on = t->snd_wnd != 0;
		t->undo_retrans = tlp_rtx ? 1 : 0; /* out still, as Linux's */
		t->undo_marker = t->snd_una;
	}
	t->undo_loss = true;
	/* RFC 5681 3.1 eqn. 4, then go back to snd_una with one segment. */
	t->ssthresh = flight / 2 > 2u * t->snd_mss ? flight / 2 : 2u * t->snd_mss;
	t->cwnd = t->snd_mss;
	t->in_recovery = false;
	t->dupacks = 0;
	t->recover = t->snd_max;
	/* The scoreboard stays (RFC 6675 5.1, as Linux): the go-back-N
	 * skips what the peer holds. Unless it reneged (RFC 2018 8): the
	 * segment at snd_una is SACKed (an ACK stopped at a SACKed range's
	 * start, tcp_process_ack, which brought this timer near, as
	 * Linux's tcp_check_sack_reneging and tcp_timeout_mark_lost):
	 * then all of it goes again. */
	if (t->sacked.count && t->sacked.r[0].start == 0) {
		zt_asm_init(&t->sacked);
		t->stats.sack_renegings++;
	}
	tcp_rack_reset(t); /* what it logged went before the RTO */
	t->snd_nxt = t->snd_una;
	t->rtx_next = t->snd_una;
	{
		/* No more than the peer's window takes (RFC 9293 3.8.6.2.1):
		 * past its edge the bytes are dropped, yet snd_nxt would pass
		 * them as sent, and nothing more go out until the next RTO. A
		 * closed window gets a full segment, as a probe. */
		uint32_t max = tcp_eff_mss(t), covered;

		if (t->snd_wnd && t->snd_wnd < max)
			max = t->snd_wnd;
		if (t->sacked.count && t->sacked.r[0].start < max)
			max = t->sacked.r[0].start; /* up to SACKed data */
		/* What the segment really covered: options may leave it short
		 * of snd_mss, and the next send must start right after it. */
		covered = tcp_send_at(t, t->snd_una, max, now);

		if (covered) {
			tcp_rtx_count(t);
			t->snd_nxt = t->snd_una + covered;
			/* The segment may reach past the old flight (its first
			 * send was shorter): those bytes are sent now, and the
			 * peer's ACK of them must not look like one of data
			 * never sent. */
			if (zt_seq_gt(t->snd_nxt, t->snd_max))
				t->snd_max = t->snd_nxt;
		}
	}
	t->t_rtx = now + t->rto;
}

unsigned tcp_frto_send(struct zt_tcb *t, uint64_t now)
{
	unsigned n = 0;

	while (n < 2) {
		size_t ring_len = zt_ring_len(&t->tx);
		uint32_t flight = tcp_flight(t), len = tcp_eff_mss(t), covered;
		uint32_t unsent = flight < ring_len ? (uint32_t)ring_len - flight : 0;

		if (len > unsent)
			len = unsent;
		if (!len || t->snd_wnd < flight + len)
			break;
		covered = tcp_send_at(t, t->snd_max, len, now);
		if (!covered)
			break;
		if (!t->rtt_sampling) { /* a sample of data sent once */
			t->rtt_sampling = true;
			t->rtt_seq = t->snd_max;
			t->rtt_start = now;
		}
		t->stats.bytes_out += len;
		t->snd_max += covered;
		n++;
	}
	if (n)
		t->snd_nxt = t->snd_max;
	return n;
}

/*
 * The probe timeout expired with no ACK for the tail of the flight
 * (RFC 8985 7.3): send one segment whose ACK shows what was lost. New
 * data when there is some and the peer's window takes it (cwnd aside:
 * the flight is stalled, not growing), else the last segment sent again
 * (with the FIN when that was in it). Then the RTO from now; no second
 * probe until its episode ends (tlp_high; RFC 8985 7.4, tcp_tlp_end).
 */
static void tcp_on_tlp(struct zt_tcb *t, uint64_t now)
{
	size_t ring_len = zt_ring_len(&t->tx);
	uint32_t flight = tcp_flight(t), mss = tcp_eff_mss(t);
	uint32_t unsent = flight < ring_len ? (uint32_t)ring_len - flight : 0;
	uint32_t start, covered;

	if (t->rack.timer) {
		tcp_rack_timer(t, now);
		return;
	}
	t->t_tlp = ZT_TIME_NEVER;
	if (!tcp_tlp_ok(t))
		return;
	if (unsent > mss)
		unsent = mss;
	if (unsent && t->snd_wnd >= flight + unsent) {
		covered = tcp_send_at(t, t->snd_max, unsent, now);
		if (!covered)
			return;
		t->stats.bytes_out += unsent;
	} else {
		uint32_t end = flight < ring_len ? flight : (uint32_t)ring_len;

		start = end > mss ? end - mss : 0;
		covered = tcp_send_at(t, t->snd_una + start, end - start, now);
		if (!covered)
			return;
		t->stats.retransmits++;
		if (t->rtt_sampling &&
		    zt_seq_lt(t->rtt_seq, t->snd_una + start + covered))
			t->rtt_sampling = false; /* Karn */
		covered = start + covered > flight ? start + covered - flight : 0;
		t->tlp_rtx = true;
		/* its D-SACK would pass for one of the last recovery's
		 * retransmissions (data that recovery sent): no undo now */
		t->undo_on = false;
	}
	/* what it covered past snd_max (new data, a FIN not sent before) */
	t->snd_max += covered;
	t->snd_nxt = t->snd_max;
	t->tlp_high = t->snd_max; /* the episode's end, either kind */
	t->stats.tlp_probes++;
	t->tlp_out = true;
	t->tlp_at = now;
	t->t_rtx = now + t->rto;
}

static void tcp_on_persist(struct zt_tcb *t, uint64_t now)
{
	t->t_persist = ZT_TIME_NEVER;
	if (!t->persist)
		return;
	if (t->snd_wnd != 0 || zt_ring_len(&t->tx) == 0) {
		t->persist = false;
		tcp_output(t, now);
		return;
	}
	/* A peer that answers no probe is gone (an answer, ack = snd_una
	 * with the window still closed, zeroes retries in tcp_process_ack):
	 * give up as an RTO would, where RFC 1122 4.2.2.17 allows it. */
	if (t->retries >= t->cfg->max_retries) {
		tcp_send_rst(t, tcp_acceptable_seq(t), true, now);
		tcp_reset(t, ZT_TCP_RESET_TIMEOUT);
		return;
	}
	t->retries++;
	/* One byte at snd_una: accepted once the window opens. */
	tcp_emit(t, ZT_TCP_ACK, t->snd_una, 0, 1, now);
	if (zt_seq_lt(t->snd_nxt, t->snd_una + 1))
		t->snd_nxt = t->snd_una + 1;
	if (zt_seq_lt(t->snd_max, t->snd_nxt))
		t->snd_max = t->snd_nxt;
	t->persist_backoff *= 2;
	if (t->persist_backoff > t->cfg->rto_max)
		t->persist_backoff = t->cfg->rto_max;
	t->t_persist = now + t->persist_backoff;
}

static void tcp_on_keepalive(struct zt_tcb *t, uint64_t now)
{
	/* Keepalives test an idle connection (RFC 1122 4.2.3.6): with data
	 * in flight or waiting behind a closed window, the retransmission
	 * or persist timer watches the peer and gives up by its own count,
	 * so look again an idle time later (as Linux's tcp_keepalive_timer). */
	if (t->snd_max != t->snd_una || zt_ring_len(&t->tx)) {
		t->t_keepalive = now + t->cfg->keepalive_idle;
		return;
	}
	if (t->ka_sent >= t->cfg->keepalive_probes) {
		tcp_send_rst(t, tcp_acceptable_seq(t), true, now);
		tcp_reset(t, ZT_TCP_RESET_KEEPALIVE);
		return;
	}
	t->ka_sent++;
	/* seq = snd_una - 1 makes the peer answer with an ACK. */
	tcp_emit(t, ZT_TCP_ACK, t->snd_una - 1, 0, 0, now);
	t->t_keepalive = now + t->cfg->keepalive_intvl;
}

void zt_tcb_poll(struct zt_tcb *t, uint64_t now)
{
	if (t->t_close <= now) {
		t->t_close = ZT_TIME_NEVER;
		if (t->state == ZT_TCP_TIME_WAIT) {
			tcp_closed(t);
			return;
		}
		/* Behind our closed window the peer is silent between its
		 * probes, which back off further than the bound (Linux: up
		 * to 120 s apart): not a sign that it is gone. */
		if (t->state == ZT_TCP_FIN_WAIT_2 && tcp_rcv_window_closed(t) &&
		    now < t->last_heard + ZT_TCP_PROBE_SILENCE)
			t->t_close = t->last_heard + ZT_TCP_PROBE_SILENCE;
		else if (t->state == ZT_TCP_FIN_WAIT_2) {
			tcp_send_rst(t, tcp_acceptable_seq(t), true, now);
			tcp_reset(t, ZT_TCP_RESET_FIN_WAIT_2);
			return;
		}
	}
	if (t->t_tlp <= now)
		tcp_on_tlp(t, now); /* rearms t_rtx */
	if (t->t_rtx <= now)
		tcp_on_rto(t, now);
	if (t->state == ZT_TCP_CLOSED)
		return;
	if (t->t_persist <= now)
		tcp_on_persist(t, now);
	if (t->t_keepalive <= now)
		tcp_on_keepalive(t, now);
	if (t->state == ZT_TCP_CLOSED)
		return;
	if (t->t_delack <= now) {
		t->t_delack = ZT_TIME_NEVER;
		t->ack_now = true;
	}
	tcp_output(t, now);
}

/*
 * Every segment bigger than @mss was lost at the narrow hop: all of the
 * flight goes again from snd_una, cut to @mss, at once as far as cwnd
 * allows (the go-back-N of tcp_output), cwnd as it was (RFC 1191 6.5:
 * no sign of congestion; the lost bytes are not in the network), as
 * Linux's tcp_simple_retransmit marks lost and resends each segment
 * larger than the new MSS. No length per segment is kept, so what went
 * in segments that fitted (a short tail) goes again too, a duplicate.
 * Karn (RFC 6298 3): the timed segment went again. The ACKs for what
 * went before, that fitted and arrives first (SACKed past the lost
 * ones), are no loss of these copies: no fast recovery, nor RACK's,
 * until snd_una passes what was out, as after an RTO (recover, RFC 6582
 * 3.2 step 1; Linux: CA_Loss, high_seq).
 */
bool zt_tcb_mss_reduced(struct zt_tcb *t, uint32_t mss, uint64_t now)
{
	if (mss >= t->snd_mss)
		return false;
	t->snd_mss = (uint16_t)mss;
	t->snd_nxt = t->snd_una;
	t->rtt_sampling = false;
	if (tcp_synchronized(t) && zt_seq_gt(t->snd_max, t->recover))
		t->recover = t->snd_max;
	zt_tcb_poll(t, now);
	return true;
}

uint64_t zt_tcb_deadline(const struct zt_tcb *t)
{
	uint64_t d = t->t_rtx;

	if (t->t_delack < d)
		d = t->t_delack;
	if (t->t_persist < d)
		d = t->t_persist;
	if (t->t_keepalive < d)
		d = t->t_keepalive;
	if (t->t_close < d)
		d = t->t_close;
	if (t->t_tlp < d)
		d = t->t_tlp;
	return d;
}
