/* SPDX-License-Identifier: MIT */
/*
 * tcp_rack.c - RACK time-based loss detection (RFC 8985 6), with SACK.
 *
 * Theory of operation:
 *
 * Data is lost when data sent after it was delivered (ACKed or SACKed)
 * and more than RACK.rtt plus a reordering window has passed since it
 * went out. That needs the send time of what is outstanding: a log of
 * runs (struct zt_tcp_rack_run, at most ZT_TCP_RACK_RUNS) in the order
 * they were sent, with a send order number each. A send extends the
 * newest run when it continues it within SRTT / 8 of the run's first
 * send (a burst of new data is one run, a round trip's flight about
 * eight), or, with the log full, at any time; the run keeps its first
 * and its last send time (ts0, ts), and each is used where it errs on
 * the late side (below). A retransmission is a run of its own,
 * and takes its bytes out of the older runs (splitting one when there is
 * room; else the older copy forgets the rest of them), so that every
 * byte is timed by its latest send: a lost retransmission is found like
 * any lost segment. A full log forgets its oldest run: those bytes are
 * left to DupThresh, lost retransmission detection and the RTO. Nothing
 * per segment is allocated, and every walk is over at most the log.
 *
 * On each ACK (tcp_rack_update, 6.2 steps 1-3): runs now delivered,
 * wholly (their latest send is known to have arrived: ts) or in part (a
 * byte of it, sent at ts0 or later: the earlier time, so RACK never
 * thinks data newer than it is), move RACK.xmit_ts to the most recently
 * sent of them, and RACK.rtt to the time since; a retransmitted run's
 * delivery is ambiguous when the ACK echoes a timestamp from before it,
 * or comes sooner than min_RTT after it, and is skipped; min_RTT is the
 * least RTT of the deliveries taken and of the handshake over the last
 * 300 s (tcp_rack_min_rtt: Kathleen Nichols' windowed minimum, as
 * Linux's win_minmax.c with tcp_min_rtt_wlen; three samples, the least
 * and the least of later parts of the window, to follow it), so that
 * after a route change that made the round trip longer the reordering
 * window fits the path again once the window has passed. The
 * handshake's sample (Karn's rule kept) seeds it, as Linux's
 * tcp_synack_rtt_meas feeds tcp_update_rtt_min, so that the ACK of an
 * original that comes just after its retransmission, before any data
 * was ACKed, is not taken for the retransmission's; without any sample
 * yet no retransmission's delivery is taken. A run delivered
 * below the highest end delivered (RACK.fack) without being a
 * retransmission shows reordering (reordering_seen). Delivered runs leave
 * the log. An ACK without SACK blocks and with an empty scoreboard looks
 * only at the oldest run, and a send that extends the newest run does
 * nothing else (inline, tcp_priv.h): the loss-free path costs a few
 * dozen instructions a segment.
 *
 * Then (tcp_rack_check, step 5): each run sent before RACK.xmit_ts (by
 * order, and within the same run the bytes below RACK.end_seq) whose
 * bytes are not all SACKed is lost once now >= its ts + RACK.rtt +
 * reo_wnd, where reo_wnd is min_RTT / 4 times RACK.reo_wnd_mult at most
 * SRTT, 0 in recovery (or with three segments SACKed) until reordering
 * was seen. reo_wnd_mult (6.2 step 4) grows by one for each round trip
 * in which the peer's D-SACK shows a retransmission needless
 * (tcp_rack_dsack: its data was only late, as RACK thought it lost),
 * and is 1 again after 16 recoveries (fast or RTO) without one; both
 * run only on an ACK with SACK blocks or at a recovery's end. Runs not
 * yet due set the reordering timer for the longest time left (it takes t_tlp's
 * slot, as Linux keeps one pending timer for both: no probe while it
 * runs). What is lost goes
 * through the recovery of tcp_in.c: out of recovery it starts fast
 * recovery (RFC 8985 allows RACK to), which retransmits the first hole
 * and one hole per ACK after it, of those found lost (IsLost, or marked
 * here: tcp_rack_lost, above the highest SACK too); in recovery a lost
 * retransmission (below rtx_next, where the hole walk no longer goes) is
 * sent again at once.
 * On the timer, one lost segment goes (the first hole from rtx_next when
 * that is where the loss is) and its ACK drives the rest.
 */
#include "tcp_priv.h"

#define RACK_MASK (ZT_TCP_RACK_RUNS - 1)

_Static_assert((ZT_TCP_RACK_RUNS & RACK_MASK) == 0 && ZT_TCP_RACK_RUNS <= 128,
	       "ZT_TCP_RACK_RUNS is a power of two that fits rack.n");

static struct zt_tcp_rack_run *run_at(struct zt_tcp_rack *r, unsigned i)
{
	return tcp_rack_run(r, i);
}

static bool run_dead(const struct zt_tcp_rack_run *u)
{
	return u->start == u->end;
}

/* Drop the runs emptied (start == end), keeping the order of the rest. */
static void rack_compact(struct zt_tcp_rack *r)
{
	unsigned j = 0;

	while (r->n && run_dead(run_at(r, 0))) {
		r->head = (uint8_t)((r->head + 1) & RACK_MASK);
		r->n--;
	}
	for (unsigned i = 0; i < r->n; i++) {
		if (run_dead(run_at(r, i)))
			continue;
		if (i != j)
			*run_at(r, j) = *run_at(r, i);
		j++;
	}
	r->n = (uint8_t)j;
}

/* The first byte of [from, to) the peer has not SACKed (from at or past
 * snd_una), and the end of that gap; false when all of it is SACKed. */
static bool rack_unsacked(const struct zt_tcb *t, uint32_t from, uint32_t to,
			  uint32_t *gap, uint32_t *gap_end)
{
	const struct zt_assembler *s = &t->sacked;
	uint32_t off, end;

	if (zt_seq_lt(from, t->snd_una))
		from = t->snd_una;
	if (!zt_seq_lt(from, to))
		return false;
	off = from - t->snd_una;
	end = to - t->snd_una;
	for (unsigned i = 0; i < s->count && off < end; i++) {
		if (s->r[i].end <= off)
			continue;
		if (s->r[i].start <= off) {
			off = s->r[i].end;
			continue;
		}
		*gap = t->snd_una + off;
		*gap_end = t->snd_una + (s->r[i].start < end ? s->r[i].start : end);
		return true;
	}
	if (off >= end)
		return false;
	*gap = t->snd_una + off;
	*gap_end = to;
	return true;
}

/* Take [s, e), sent again now, out of the older runs. */
static void rack_trim(struct zt_tcp_rack *r, uint32_t s, uint32_t e)
{
	bool dead = false;

	for (unsigned i = 0; i < r->n; i++) {
		struct zt_tcp_rack_run *u = run_at(r, i);

		if (!zt_seq_lt(u->start, e) || !zt_seq_lt(s, u->end))
			continue; /* no overlap */
		if (zt_seq_le(s, u->start) && zt_seq_ge(e, u->end)) {
			u->end = u->start; /* all of it */
			dead = true;
		} else if (zt_seq_le(s, u->start)) {
			u->start = e;
			if (zt_seq_lt(u->dlv_end, e))
				u->dlv_end = e;
		} else if (zt_seq_ge(e, u->end)) {
			u->end = s;
		} else {
			/* from its middle: split it when there is room, else
			 * forget its bytes past the retransmission */
			if (r->n < ZT_TCP_RACK_RUNS) {
				for (unsigned k = r->n; k > i + 1; k--)
					*run_at(r, k) = *run_at(r, k - 1);
				*run_at(r, i + 1) = *u;
				run_at(r, i + 1)->start = e;
				if (zt_seq_lt(run_at(r, i + 1)->dlv_end, e))
					run_at(r, i + 1)->dlv_end = e;
				r->n++;
				i++;
			}
			u->end = s;
		}
	}
	if (dead)
		rack_compact(r);
}

void tcp_rack_sent(struct zt_tcb *t, uint32_t seq, uint32_t len, uint64_t now)
{
	struct zt_tcp_rack *r = &t->rack;
	struct zt_tcp_rack_run *u;
	bool rtx = zt_seq_lt(seq, t->snd_max);

	if (!len)
		return;
	if (rtx)
		rack_trim(r, seq, seq + len);
	if (r->n) {
		u = run_at(r, r->n - 1u);
		/* continue the newest run (none delivered after it: its
		 * order is the latest) within SRTT / 8 of its first send,
		 * or any time when the log is full (tcp_rack_on_send does
		 * so for new data) */
		if (u->end == seq && u->rtx == rtx &&
		    u->order == r->next_order - 1u &&
		    (now - u->ts0 <= t->srtt / 8 || r->n == ZT_TCP_RACK_RUNS)) {
			u->end = seq + len;
			u->ts = now;
			return;
		}
	}
	if (r->n == ZT_TCP_RACK_RUNS) { /* forget the oldest */
		r->head = (uint8_t)((r->head + 1) & RACK_MASK);
		r->n--;
	}
	u = run_at(r, r->n);
	r->n++;
	u->ts0 = u->ts = now;
	u->start = u->lost_end = u->dlv_end = seq;
	u->end = seq + len;
	u->order = r->next_order++;
	u->rtx = rtx;
}

void tcp_rack_reset(struct zt_tcb *t)
{
	t->rack.n = 0;
	t->rack.valid = false;
	t->rack.timer = false;
}

/* min_RTT's window (Linux's tcp_min_rtt_wlen): a path whose round trip
 * grew (a route change) has the new one as min_RTT after it. */
#define RACK_MIN_RTT_WLEN (300 * ZT_SEC)

void tcp_rack_min_rtt(struct zt_tcb *t, uint64_t rtt, uint64_t now)
{
	struct zt_tcp_rack *r = &t->rack;
	struct zt_tcp_min_sample *s = r->min, v = { now, rtt };
	uint64_t dt;

	/* a new least, or none of the window left: it is all three */
	if (!r->min_set || rtt <= s[0].rtt ||
	    now - s[2].at > RACK_MIN_RTT_WLEN) {
		s[0] = s[1] = s[2] = v;
		r->min_set = true;
		return;
	}
	if (rtt <= s[1].rtt)
		s[1] = s[2] = v;
	else if (rtt <= s[2].rtt)
		s[2] = v;
	dt = now - s[0].at;
	if (dt > RACK_MIN_RTT_WLEN) {
		/* the least aged out: the next move up (twice, when the
		 * second is out of the window too) */
		s[0] = s[1];
		s[1] = s[2];
		s[2] = v;
		if (now - s[0].at > RACK_MIN_RTT_WLEN) {
			s[0] = s[1];
			s[1] = s[2];
			s[2] = v;
		}
	} else if (s[1].at == s[0].at && dt > RACK_MIN_RTT_WLEN / 4) {
		/* a quarter of the window with no second: this one, from
		 * the window's second quarter */
		s[1] = s[2] = v;
	} else if (s[2].at == s[1].at && dt > RACK_MIN_RTT_WLEN / 2) {
		s[2] = v; /* likewise a third, from its second half */
	}
}

bool tcp_rack_too_soon(const struct zt_tcb *t, const struct zt_tcp_repr *seg,
		       uint64_t sent, uint64_t now)
{
	const struct zt_tcp_rack *r = &t->rack;

	return (t->ts_ok && seg->has_ts && seg->ts_ecr &&
		(int32_t)(seg->ts_ecr - tcp_ts_now(t, sent)) < 0) ||
	       !r->min_set || now - sent < r->min[0].rtt;
}

/* One run's delivery up to @dlv (wholly when @whole), sent at @ts. */
static void rack_delivered(struct zt_tcb *t, const struct zt_tcp_repr *seg,
			   struct zt_tcp_rack_run *u, uint32_t dlv, uint64_t ts,
			   uint64_t now)
{
	struct zt_tcp_rack *r = &t->rack;
	uint64_t rtt;

	if (!zt_seq_gt(dlv, u->dlv_end))
		return; /* nothing new of it */
	u->dlv_end = dlv;
	/* RACK_detect_reordering (6.2 step 3) */
	if (!r->valid || zt_seq_gt(dlv, r->fack))
		r->fack = dlv;
	else if (!u->rtx)
		r->reordering_seen = true;
	rtt = now - ts;
	/* step 2: an ambiguous retransmission's delivery tells nothing;
	 * min_RTT unknown is infinite (Linux's ~0U) */
	if (u->rtx && tcp_rack_too_soon(t, seg, ts, now))
		return;
	tcp_rack_min_rtt(t, rtt, now);
	if (!r->valid || (int32_t)(u->order - r->order) > 0 ||
	    (u->order == r->order && zt_seq_gt(dlv, r->end_seq))) {
		r->valid = true;
		r->order = u->order;
		r->end_seq = dlv;
		r->rtt = rtt;
	}
}

void tcp_rack_update(struct zt_tcb *t, const struct zt_tcp_repr *seg,
		     uint64_t now)
{
	struct zt_tcp_rack *r = &t->rack;
	uint32_t ack = zt_seq_gt(seg->ack, t->snd_una) ? seg->ack : t->snd_una;
	bool dead = false;

	if (!seg->sack_count && !t->sacked.count) {
		/* No SACK information (the loss-free path): only the oldest
		 * runs can be wholly ACKed (one below ack further on, a
		 * retransmission, goes with a later ACK); one ACKed in part
		 * only shrinks, as nothing went before it */
		while (r->n) {
			struct zt_tcp_rack_run *u = run_at(r, 0);

			if (zt_seq_gt(u->end, ack)) {
				if (zt_seq_lt(u->start, ack))
					u->start = u->dlv_end = ack;
				break;
			}
			rack_delivered(t, seg, u, u->end, u->ts, now);
			r->head = (uint8_t)((r->head + 1) & RACK_MASK);
			r->n--;
		}
		return;
	}
	for (unsigned i = 0; i < r->n; i++) {
		struct zt_tcp_rack_run *u = run_at(r, i);
		const struct zt_assembler *s = &t->sacked;
		uint32_t dlv = u->start, gap, gap_end;

		if (zt_seq_le(u->end, ack)) {
			rack_delivered(t, seg, u, u->end, u->ts, now);
			u->start = u->end;
			dead = true;
			continue;
		}
		if (zt_seq_lt(u->start, ack))
			dlv = ack;
		for (unsigned k = 0; k < s->count; k++) {
			uint32_t ls = t->snd_una + s->r[k].start;
			uint32_t le = t->snd_una + s->r[k].end;

			if (zt_seq_lt(ls, u->end) && zt_seq_gt(le, dlv))
				dlv = zt_seq_lt(le, u->end) ? le : u->end;
		}
		if (!rack_unsacked(t, zt_seq_gt(ack, u->start) ? ack : u->start,
				   u->end, &gap, &gap_end)) {
			rack_delivered(t, seg, u, u->end, u->ts, now);
			u->start = u->end;
			dead = true;
			continue;
		}
		if (zt_seq_gt(dlv, u->start))
			rack_delivered(t, seg, u, dlv, u->ts0, now);
		if (zt_seq_lt(u->start, ack))
			u->start = ack;
	}
	if (dead)
		rack_compact(r);
}

/* RFC 8985 6.2 step 4 */
static uint64_t rack_reo_wnd(const struct zt_tcb *t)
{
	const struct zt_tcp_rack *r = &t->rack;
	uint64_t w;

	if (!r->reordering_seen) {
		uint32_t n = 0;

		if (t->in_recovery || zt_seq_lt(t->snd_una, t->recover))
			return 0;
		for (unsigned i = 0; i < t->sacked.count; i++)
			n += t->sacked.r[i].end - t->sacked.r[i].start;
		if (n >= 3u * t->snd_mss) /* DupThresh segments SACKed */
			return 0;
	}
	w = r->min[0].rtt / 4 * (1u + r->reo_wnd_more);
	return t->srtt && w > t->srtt ? t->srtt : w;
}

/* RFC 8985 6.2 step 4: RACK.reo_wnd_persist, 16 recoveries */
#define RACK_REO_PERSIST 16

void tcp_rack_dsack(struct zt_tcb *t, uint32_t ack)
{
	struct zt_tcp_rack *r = &t->rack;
	uint32_t una = zt_seq_gt(ack, t->snd_una) ? ack : t->snd_una;

	if (r->dsack_round_on && zt_seq_lt(una, r->dsack_round))
		return; /* this round trip widened it already */
	r->dsack_round_on = true;
	r->dsack_round = t->snd_max;
	if (r->reo_wnd_more < UINT8_MAX) /* SRTT caps the window anyway */
		r->reo_wnd_more++;
	r->reo_wnd_persist = RACK_REO_PERSIST;
}

void tcp_rack_recovery_end(struct zt_tcb *t)
{
	struct zt_tcp_rack *r = &t->rack;

	if (r->reo_wnd_persist && --r->reo_wnd_persist == 0)
		r->reo_wnd_more = 0;
}

/* Step 5: mark lost what is; return the time until the next may be
 * (0: none waits). *@lost: something not SACKed is marked lost. */
static uint64_t rack_detect(struct zt_tcb *t, uint64_t now, bool *lost)
{
	struct zt_tcp_rack *r = &t->rack;
	uint64_t timeout = 0, reo = UINT64_MAX;

	*lost = false;
	if (!r->valid || !r->n)
		return 0;
	for (unsigned i = 0; i < r->n; i++) {
		struct zt_tcp_rack_run *u = run_at(r, i);
		int32_t d = (int32_t)(u->order - r->order);
		uint32_t lim, gap, gap_end;
		uint64_t due;

		if (d > 0)
			break; /* sent after: so are all later runs */
		lim = d < 0 || zt_seq_lt(u->end, r->end_seq) ? u->end : r->end_seq;
		if (!zt_seq_lt(u->lost_end, lim))
			continue; /* already lost (or nothing before) */
		if (!rack_unsacked(t, zt_seq_gt(u->lost_end, u->start) ?
					   u->lost_end : u->start,
				   lim, &gap, &gap_end))
			continue;
		if (reo == UINT64_MAX) /* only once needed: not on the
					* loss-free path */
			reo = rack_reo_wnd(t);
		due = u->ts + r->rtt + reo;
		if (due <= now) {
			u->lost_end = lim;
			*lost = true;
		} else if (due - now > timeout) {
			timeout = due - now;
		}
	}
	return timeout;
}

bool tcp_rack_lost(const struct zt_tcb *t, uint32_t seq)
{
	const struct zt_tcp_rack *r = &t->rack;

	for (unsigned i = 0; i < r->n; i++) {
		const struct zt_tcp_rack_run *u = &r->run[(r->head + i) & RACK_MASK];

		if (zt_seq_ge(seq, u->start) && zt_seq_lt(seq, u->lost_end) &&
		    zt_seq_lt(seq, u->end))
			return true;
	}
	return false;
}

/* The lowest byte found lost and not SACKed, and the end of its gap. */
static bool rack_first_lost(struct zt_tcb *t, uint32_t *seq, uint32_t *end)
{
	struct zt_tcp_rack *r = &t->rack;
	bool found = false;

	for (unsigned i = 0; i < r->n; i++) {
		struct zt_tcp_rack_run *u = run_at(r, i);
		uint32_t gap, gap_end;

		if (!zt_seq_gt(u->lost_end, u->start))
			continue;
		if (!rack_unsacked(t, u->start,
				   zt_seq_lt(u->lost_end, u->end) ? u->lost_end : u->end,
				   &gap, &gap_end))
			continue;
		if (!found || zt_seq_lt(gap, *seq)) {
			*seq = gap;
			*end = gap_end;
			found = true;
		}
	}
	return found;
}

/* What RACK found lost goes: fast recovery from the first hole, or in
 * recovery a lost retransmission again (@timer: else the next hole). */
static void rack_act(struct zt_tcb *t, bool timer, uint64_t now)
{
	uint32_t seq, end, mss, sent;

	if (!rack_first_lost(t, &seq, &end))
		return;
	if (!t->in_recovery) {
		if (zt_seq_ge(t->snd_una, t->recover)) {
			uint64_t counted = t->stats.rack_marked;

			tcp_enter_recovery(t, now);
			/* its first retransmission, once (a walk of lost
			 * holes may have counted it) */
			if (t->stats.rack_marked == counted)
				t->stats.rack_marked++;
		}
		return;
	}
	if (zt_seq_ge(seq, t->rtx_next)) {
		if (timer) /* counted in rack_marked if RACK's */
			(void)tcp_retransmit_hole(t, true, now);
		return;
	}
	mss = zt_tcb_seg_size(t);
	if (end - seq > mss)
		end = seq + mss;
	sent = tcp_resend_at(t, seq, end - seq, now);
	if (!sent)
		return;
	tcp_rtx_count(t);
	t->stats.lost_retransmits++;
	t->stats.rack_marked++;
	if (seq == t->snd_una) {
		/* as tcp_lost_rtx does: its proof is from before this copy */
		t->lrx_armed = true;
		t->lrx_mark = t->snd_max;
		t->lrx_again = true;
	}
	if (t->rtt_sampling && zt_seq_lt(t->rtt_seq, seq + sent))
		t->rtt_sampling = false; /* Karn */
	if (t->t_rtx == ZT_TIME_NEVER)
		t->t_rtx = now + t->rto;
}

static void rack_arm(struct zt_tcb *t, uint64_t timeout, uint64_t now)
{
	if (timeout) {
		t->rack.timer = true;
		t->t_tlp = now + timeout;
	} else if (t->rack.timer) {
		t->rack.timer = false;
		t->t_tlp = ZT_TIME_NEVER;
		tcp_arm_tlp(t, now);
	}
}

/* Whether RACK may act: data out into an open window, not probing it. */
static bool rack_ok(const struct zt_tcb *t)
{
	return t->sack_ok && t->rack.valid && t->snd_max != t->snd_una &&
	       t->snd_wnd != 0 && !t->persist && tcp_synchronized(t);
}

void tcp_rack_check(struct zt_tcb *t, uint64_t now)
{
	struct zt_tcp_rack *r = &t->rack;
	uint64_t timeout;
	bool lost;

	/* nothing went before the data last delivered */
	if (!r->n || (int32_t)(run_at(r, 0)->order - r->order) > 0) {
		if (r->timer)
			rack_arm(t, 0, now);
		return;
	}
	if (!rack_ok(t)) {
		rack_arm(t, 0, now);
		return;
	}
	timeout = rack_detect(t, now, &lost);
	if (lost)
		rack_act(t, false, now);
	rack_arm(t, timeout, now);
}

void tcp_rack_timer(struct zt_tcb *t, uint64_t now)
{
	uint64_t timeout;
	bool lost;

	t->rack.timer = false;
	t->t_tlp = ZT_TIME_NEVER;
	if (!rack_ok(t)) {
		tcp_arm_tlp(t, now);
		return;
	}
	timeout = rack_detect(t, now, &lost);
	if (lost)
		rack_act(t, true, now);
	if (timeout)
		rack_arm(t, timeout, now);
	else
		tcp_arm_tlp(t, now);
}
