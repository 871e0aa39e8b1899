/* SPDX-License-Identifier: MIT */
/*
 * tcp_in.c - a TCP endpoint's reaction to segments and to its owner.
 *
 * Theory of operation:
 *
 * zt_tcb_input() follows RFC 9293 3.10.7.4 ("SEGMENT ARRIVES") step by step:
 * sequence acceptability (with PAWS, RFC 7323 5, but for a duplicate ACK
 * the path reordered, as Linux; a TS.Recent 24 days old is trusted no
 * more, 5.5; a bare ACK that fails it is dropped without the reply R1
 * asks, as Linux's PAWS_OLD_ACK, but in TIME_WAIT, where it draws that
 * reply, throttled; in SYN_RECEIVED a TSecr that echoes no TSval we
 * sent is dropped likewise), RST, SYN, ACK, data, FIN.
 * RST and SYN in a synchronized state are validated as RFC 5961 asks: an
 * RST exactly at rcv_nxt resets, one elsewhere in the window only draws a
 * challenge ACK; a SYN always draws a challenge ACK - except in TIME_WAIT,
 * where the owner first asks zt_tcb_time_wait_reopen() whether the SYN is a
 * new connection on a reused port (RFC 6191). Challenge ACKs are throttled
 * to ZT_TCP_CHALLENGE_MAX a second per connection (RFC 5961 7). The ACK
 * an unacceptable segment without data draws (a bare ACK outside the
 * window, in TIME_WAIT too; a SYN repeated in SYN_RECEIVED draws the
 * SYN-ACK again) goes at most once per ZT_TCP_OOW_ACK_INTERVAL (RFC 5961
 * 10: no ACK loop between two ends that disagree, as Linux's
 * tcp_oow_rate_limited); data and a FIN are answered every time, so a
 * retransmission of data we have always draws its D-SACK.
 *
 * Data in order is appended to the receive ring; data past a hole is written
 * ahead in the same ring at its offset and recorded in an assembler, so an
 * out-of-order segment costs no allocation and its bytes are never copied
 * twice. When the hole fills, the assembler hands back the run that became
 * contiguous. Out-of-order data draws an immediate ACK with SACK blocks,
 * and so does the segment that fills the hole (RFC 5681 4.2), a FIN
 * that waited ahead of it (peer_fin_seen) included. Nothing lies past
 * such a FIN: bytes beyond it (held already, or sent after it) and a
 * second FIN further on are not the stream's, so the FIN is taken when
 * the hole fills and the reader never sees a byte after the end; nor
 * are bytes held out of order past a FIN that comes in order (they are
 * forgotten before the segment's data is taken).
 * With SACK, a duplicate (below rcv_nxt, wholly or in part, or of data
 * held out of order) draws an immediate ACK whose first SACK block is
 * the duplicated range (D-SACK, RFC 2883 4; one range, in that ACK
 * only), by which a Linux sender undoes a needless congestion response;
 * the check costs nothing on the in-order path while no data waits
 * behind a hole.
 * An owner with ops->rx_direct is offered in-order data that would go
 * into an empty ring (none waiting behind a hole) first, and only what it
 * did not take is appended: a relay that forwards at once copies nothing.
 *
 * ACKs advance snd_una, free send-ring space, feed the RTT estimator (from
 * timestamps when negotiated, else one timed segment at a time under
 * Karn's rule), grow cwnd (slow start, then congestion avoidance, RFC 5681),
 * and drive loss recovery: three duplicate ACKs (with SACK, any ACK that
 * SACKs new bytes is one, data or window change with it or not, RFC 6675
 * 2), or SACK information that shows the first unACKed segment lost
 * (RFC 6675 4 IsLost: three SACKed ranges above it, or more than two
 * segments' worth of bytes) start NewReno recovery
 * (RFC 6582) that retransmits one hole per ACK, skipping SACKed data:
 * without SACK the segment at snd_una on each partial ACK (RFC 6582 3.2
 * step 3), with SACK only a hole found lost, by IsLost or by RACK (RFC
 * 6675 NextSeg rule 1), as a partial ACK may leave the first unACKed
 * segment in flight (reordering that RACK took for a loss); holes the
 * last episode sent again, if a new one starts at once, are not resent
 * on its start (as Linux's SACKED_RETRANS); once D-SACKs have shown
 * every retransmission of a fast recovery needless (RFC 2883 6, RFC
 * 3708: a count per episode, one off for each D-SACKed segment above
 * snd_una at its start), it is undone: cwnd and ssthresh as before it
 * (tcp_undo_dsack, at its full ACK or after); so is an RTO recovery
 * (undo_loss, to recover: the RTO's, the go-back-N's, a probe's and an
 * ended fast recovery's retransmissions count), at once, and what of
 * the flight has not gone again stays out (tcp_undo_loss, as Linux's
 * tcp_try_undo_loss: the originals were late, the RTO's overtook them);
 * the first two duplicate ACKs each let one new segment go beyond cwnd
 * (RFC 3042 Limited Transmit), so a window of a few segments still
 * draws the third rather than waiting for the RTO; with two or three
 * segments out and nothing new that may go, one less than that suffices
 * (RFC 5827 Early Retransmit). In SACK recovery, a SACK of data first
 * sent after the retransmission of the segment at snd_una (new data, or
 * a hole retransmitted after it) shows that retransmission lost: it goes
 * again at once (tcp_lost_rtx, tcp_out.c),
 * not at the RTO. With SACK, RACK (RFC 8985 6, tcp_rack.c) also finds
 * lost what went before data now delivered, longer ago than a round
 * trip plus a reordering window: that starts recovery, or in recovery
 * sends a lost retransmission again; tcp_rack_update() takes each ACK's
 * deliveries, tcp_rack_check() acts on them, and an ACK whose first
 * SACK block is a D-SACK (a needless retransmission) widens its
 * reordering window (tcp_rack_dsack). An ACK that moves
 * snd_una (like new data sent) restarts the tail loss probe timer
 * (RFC 8985 7, tcp_out.c), whose probe draws an ACK or SACKs when the
 * last segments of a flight are lost.
 * After an RTO outside a recovery, F-RTO (RFC 5682: 3.1 with SACK, 2
 * without; tcp_frto) sends two new segments on the first ACK that moves
 * snd_una, not more of the flight, and when the next ACK acknowledges
 * more data sent before the RTO (and none after) declares it spurious:
 * the flight was late, not lost (a link that stalled longer than the
 * RTO); cwnd and ssthresh go back to their values before it (RFC 4015
 * 3.2, as Linux) and new data goes on. Any other answer is a loss, and
 * the RTO's go-back-N goes on. One byte of state (and the undo's
 * prior_cwnd, prior_ssthresh), nothing per segment. The scoreboard
 * survives the RTO (RFC 6675 5.1): its go-back-N skips SACKed data.
 * An ACK that moves snd_una to SACKed data (a receiver that reneged,
 * RFC 2018 8, or reordered ACKs) brings the RTO to half a round trip,
 * which then, snd_una's segment SACKed still, forgets the scoreboard
 * and sends all again (as Linux's tcp_check_sack_reneging).
 * An ACK with a zero window is never a duplicate: nothing is lost past a
 * closed window, and such ACKs answer our window probes; they also show
 * the peer alive, so they reset the retry count (RFC 1122 4.2.2.17).
 * Data beyond our own window (a zero-window probe) is answered with an
 * ACK at once; in FIN_WAIT_2 it shows the peer alive like any data, and
 * restarts the bound on its silence (fin_wait_2, 240 s by default: RFC
 * 5382 REQ-5's floor for a NAT's half-closed connections), as does a
 * bare ACK below the window (SND.UNA - 1: Linux's zero-window probe, or
 * a keepalive probe), and no other segment outside it (it could be
 * anybody's). When the peer's window
 * reopens after an RTO sent data into it while closed, sending resumes
 * from snd_una at once, not at the next (backed-off) RTO.
 *
 * Passive opens are upstream-first: zt_tcb_open_passive() only records the
 * SYN; the owner answers it with zt_tcb_accept() once the upstream connected
 * or zt_tcb_refuse() when it did not.
 */
#include "tcp_priv.h"

#include <string.h>

/* RFC 6298 5.7: the RTO after a handshake that needed a retransmission. */
#define ZT_TCP_RTO_FALLBACK (3 * ZT_SEC)
/* Least send MSS whatever the peer announces (before option room). */
#define ZT_TCP_MIN_SND_MSS 48

void zt_tcp_config_default(struct zt_tcp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->rx_buf = 256 * 1024;
	cfg->tx_buf = 256 * 1024;
	cfg->mss = 1460;
	cfg->default_peer_mss = 536;
	cfg->window_scale = true;
	cfg->sack = true;
	cfg->timestamps = true;
	cfg->rto_initial = 1 * ZT_SEC;
	cfg->rto_min = 200 * ZT_MS;
	cfg->rto_max = 60 * ZT_SEC;
	cfg->max_retries = 8;
	cfg->syn_retries = 5;
	cfg->delack = 40 * ZT_MS;
	cfg->keepalive_idle = 0;
	cfg->keepalive_intvl = 75 * ZT_SEC;
	cfg->keepalive_probes = 9;
	cfg->time_wait = 60 * ZT_SEC;
	/* RFC 5382 REQ-5: a NAT's "transitory connection idle-timeout"
	 * (a half-closed connection) is 4 minutes at least; ztun stands
	 * where one would */
	cfg->fin_wait_2 = 240 * ZT_SEC;
}

const char *zt_tcp_state_name(enum zt_tcp_state s)
{
	static const char *const names[] = {
		"CLOSED", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED",
		"FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",
		"LAST_ACK", "TIME_WAIT",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

int zt_tcb_init(struct zt_tcb *t, const struct zt_tcp_config *cfg,
		const struct zt_tcp_ops *ops, void *ctx)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->cfg = cfg;
	t->ops = ops;
	t->ctx = ctx;
	if (cfg->pool) {
		zt_ring_init_lazy(&t->rx, cfg->rx_buf, cfg->pool);
		zt_ring_init_lazy(&t->tx, cfg->tx_buf, cfg->pool);
	} else {
		rc = zt_ring_init(&t->rx, cfg->rx_buf);
		if (rc)
			return rc;
		rc = zt_ring_init(&t->tx, cfg->tx_buf);
		if (rc) {
			zt_ring_free(&t->rx);
			return rc;
		}
	}
	zt_asm_init(&t->ooo);
	zt_asm_init(&t->sacked);
	t->state = ZT_TCP_CLOSED;
	t->rto = cfg->rto_initial;
	t->snd_wscale = 0xff; /* "peer did not offer" until a SYN says */
	while (t->rcv_wscale < 14 &&
	       ((uint32_t)65535 << t->rcv_wscale) < cfg->rx_buf)
		t->rcv_wscale++;
	if (!cfg->window_scale)
		t->rcv_wscale = 0;
	t->t_rtx = t->t_delack = t->t_persist = t->t_keepalive = t->t_close =
		t->t_tlp = ZT_TIME_NEVER;
	t->oow_ack_at = ZT_TIME_NEVER;
	return 0;
}

void zt_tcb_destroy(struct zt_tcb *t)
{
	zt_ring_free(&t->rx);
	zt_ring_free(&t->tx);
}

/* every field is summed below: one added to the struct must be too */
_Static_assert(sizeof(struct zt_tcb_stats) ==
		       (18 + ZT_DROP__COUNT) * sizeof(uint64_t),
	       "zt_tcb_stats_add() sums each field of struct zt_tcb_stats");

void zt_tcb_stats_add(struct zt_tcb_stats *sum, const struct zt_tcb_stats *s)
{
	sum->segs_in += s->segs_in;
	sum->segs_out += s->segs_out;
	sum->bytes_in += s->bytes_in;
	sum->bytes_out += s->bytes_out;
	sum->bytes_direct += s->bytes_direct;
	sum->retransmits += s->retransmits;
	sum->rto_expiries += s->rto_expiries;
	sum->tlp_probes += s->tlp_probes;
	sum->fast_retransmits += s->fast_retransmits;
	sum->lost_retransmits += s->lost_retransmits;
	sum->rack_marked += s->rack_marked;
	sum->undos += s->undos;
	sum->spurious_rtos += s->spurious_rtos;
	sum->sack_renegings += s->sack_renegings;
	sum->dupacks_in += s->dupacks_in;
	sum->ooo_segs += s->ooo_segs;
	sum->challenge_acks += s->challenge_acks;
	sum->oow_acks_skipped += s->oow_acks_skipped;
	for (unsigned i = 0; i < ZT_DROP__COUNT; i++)
		sum->drops[i] += s->drops[i];
}

uint32_t zt_tcb_events(struct zt_tcb *t)
{
	uint32_t ev = t->events;

	t->events = 0;
	return ev;
}

/* RFC 6928: min(10 * MSS, max(2 * MSS, 14600)), ten segments at the usual
 * MSS but not ten jumbo ones. */
static uint32_t tcp_initial_window(uint32_t mss)
{
	uint32_t iw = 2u * mss > 14600u ? 2u * mss : 14600u;

	return iw < 10u * mss ? iw : 10u * mss;
}

/* Options from a SYN (or SYN-ACK) that decide what this connection uses. */
static void tcp_take_syn_options(struct zt_tcb *t, const struct zt_tcp_repr *syn,
				 uint64_t now)
{
	uint16_t base;

	t->peer_mss = syn->has_mss ? syn->mss :
		      t->cfg->default_peer_mss ? t->cfg->default_peer_mss : 536;
	if (t->cfg->window_scale && syn->has_wscale) {
		t->snd_wscale = syn->wscale > 14 ? 14 : syn->wscale; /* RFC 7323 2.3 */
	} else {
		t->snd_wscale = 0xff;
		if (t->state == ZT_TCP_SYN_SENT || t->state == ZT_TCP_SYN_RECEIVED)
			t->rcv_wscale = 0;
	}
	t->sack_ok = t->cfg->sack && syn->sack_permitted;
	t->ts_ok = t->cfg->timestamps && syn->has_ts;
	if (t->ts_ok) {
		t->ts_recent = syn->ts_val;
		t->ts_recent_at = now;
	}
	base = t->peer_mss < t->cfg->mss ? t->peer_mss : t->cfg->mss;
	/* A floor, as Linux's TCP_MIN_SND_MSS: an MSS option of 0 or 1 must
	 * not make us send a byte per segment (RFC 9293 3.7.1 leaves the
	 * value to the peer; 48 is 40 bytes of options plus 8 of data). */
	if (base < ZT_TCP_MIN_SND_MSS)
		base = ZT_TCP_MIN_SND_MSS;
	if (t->ts_ok)
		base -= 12; /* room for the timestamp option in every segment */
	t->snd_mss = base;
	t->cwnd = tcp_initial_window(t->snd_mss);
	t->ssthresh = UINT32_MAX;
	t->snd_wnd = syn->window; /* never scaled in a SYN */
	t->max_snd_wnd = t->snd_wnd;
	t->last_heard = now;
}

static uint8_t tcp_shift(const struct zt_tcb *t)
{
	return t->snd_wscale == 0xff ? 0 : t->snd_wscale;
}

enum zt_drop zt_tcb_open_passive(struct zt_tcb *t,
				 const struct zt_tcp_repr *syn, uint32_t iss,
				 uint64_t now)
{
	if ((syn->flags & (ZT_TCP_SYN | ZT_TCP_ACK | ZT_TCP_RST | ZT_TCP_FIN)) !=
	    ZT_TCP_SYN)
		return ZT_DROP_TCP_BAD_FLAGS;
	t->local_port = syn->dst_port;
	t->remote_port = syn->src_port;
	t->state = ZT_TCP_SYN_RECEIVED;
	t->irs = syn->seq;
	t->rcv_nxt = syn->seq + 1;
	t->rcv_adv = t->rcv_nxt;
	t->iss = iss;
	t->snd_una = iss;
	t->snd_nxt = iss;
	t->snd_max = iss;
	t->rtx_next = iss;
	t->recover = iss; /* RFC 6582 3.2 */
	t->ts_offset = iss * 2654435761u; /* not the host clock */
	tcp_take_syn_options(t, syn, now);
	t->snd_wl1 = syn->seq;
	t->snd_wl2 = iss;
	t->synack_pending = true;
	t->stats.segs_in++;
	return ZT_DROP_NONE;
}

void zt_tcb_accept(struct zt_tcb *t, uint64_t now)
{
	if (t->state != ZT_TCP_SYN_RECEIVED || !t->synack_pending)
		return;
	t->synack_pending = false;
	tcp_send_syn(t, now);
}

void zt_tcb_refuse(struct zt_tcb *t, uint64_t now)
{
	if (t->state != ZT_TCP_SYN_RECEIVED)
		return;
	/* Answer the SYN as a closed port would: seq 0, ACK of SYN + 1. */
	tcp_send_rst(t, 0, true, now);
	t->state = ZT_TCP_CLOSED;
	t->t_rtx = ZT_TIME_NEVER;
}

void zt_tcb_open_active(struct zt_tcb *t, uint16_t lport, uint16_t rport,
			uint32_t iss, uint64_t now)
{
	t->local_port = lport;
	t->remote_port = rport;
	t->state = ZT_TCP_SYN_SENT;
	t->iss = iss;
	t->snd_una = iss;
	t->snd_nxt = iss;
	t->snd_max = iss;
	t->rtx_next = iss;
	t->recover = iss; /* RFC 6582 3.2 */
	t->ts_offset = iss * 2654435761u;
	t->snd_mss = t->cfg->mss;
	t->cwnd = tcp_initial_window(t->snd_mss);
	t->ssthresh = UINT32_MAX;
	tcp_send_syn(t, now);
}

static void tcp_enter_established(struct zt_tcb *t, uint64_t now)
{
	t->state = ZT_TCP_ESTABLISHED;
	t->events |= ZT_TCP_EV_CONNECTED;
	/* RFC 6298 5.7: the SYN (or SYN-ACK) timed out, so there is no RTT
	 * sample; data starts with an RTO of at least 3 s. */
	if (t->retries) {
		t->rto = t->cfg->rto_initial < ZT_TCP_RTO_FALLBACK ?
				 ZT_TCP_RTO_FALLBACK : t->cfg->rto_initial;
		if (t->rto > t->cfg->rto_max)
			t->rto = t->cfg->rto_max;
	}
	t->retries = 0;
	if (t->cfg->keepalive_idle)
		t->t_keepalive = now + t->cfg->keepalive_idle;
	if (t->fin_queued)
		t->state = ZT_TCP_FIN_WAIT_1;
}

/* Whether [off, end) lies within one range of @a. */
static bool tcp_asm_covers(const struct zt_assembler *a, uint32_t off,
			   uint32_t end)
{
	for (unsigned i = 0; i < a->count && a->r[i].start <= off; i++)
		if (a->r[i].end >= end)
			return true;
	return false;
}

/* Record SACK blocks of @seg in the scoreboard (offsets from snd_una).
 * Returns whether they SACK bytes not SACKed before (RFC 6675 2);
 * *@dsack: the first block is a D-SACK (RFC 2883 5: below the ACK, or
 * within the second block). */
static bool tcp_take_sack(struct zt_tcb *t, const struct zt_tcp_repr *seg,
			  bool *dsack)
{
	bool news = false;
	/* the probe's data end: tlp_high counts a FIN it carried, which a
	 * D-SACK may cover (Linux's receiver reports a duplicate's sequence
	 * space, so does ours) or not (blocks of data, RFC 2883) */
	uint32_t tlp_data = t->tlp_high -
			    (t->fin_sent && t->tlp_high == t->fin_seq + 1);

	for (unsigned i = 0; i < seg->sack_count && i < ZT_TCP_MAX_SACK; i++) {
		uint32_t l = seg->sack[i].left, r = seg->sack[i].right;

		if (i == 0 && zt_seq_lt(l, r) &&
		    (zt_seq_le(r, seg->ack) ||
		     (seg->sack_count > 1 &&
		      zt_seq_ge(l, seg->sack[1].left) &&
		      zt_seq_le(r, seg->sack[1].right)))) {
			*dsack = true;
			/* of the tail loss probe's retransmission, below
			 * the ACK or above it (a hole below the probe):
			 * the original arrived, nothing was lost, no
			 * congestion response (RFC 8985 7.4.2) */
			if (r == tlp_data || r == t->tlp_high)
				t->tlp_rtx = false;
		}
		if (!zt_seq_lt(l, r) || zt_seq_le(r, t->snd_una) ||
		    zt_seq_gt(r, t->snd_max))
			continue; /* D-SACK or bogus: ignore */
		if (zt_seq_lt(l, t->snd_una))
			l = t->snd_una;
		if (!tcp_asm_covers(&t->sacked, l - t->snd_una, r - t->snd_una))
			news = true;
		(void)zt_asm_add(&t->sacked, l - t->snd_una, r - l);
	}
	return news;
}

/* A tail loss probe is out and @seg may be its answer, so that what it
 * SACKs shows the holes below lost (RFC 8985 7.4.1): not if it came
 * sooner than min_RTT after the probe or echoes a TSval from before it
 * (6.2 step 2): then the originals it SACKs were only late (RACK takes
 * no delivery of the probe from it either), and the holes are left to
 * RACK, IsLost and DupThresh, as with no probe. Nor once the probe is
 * ACKed (an episode waiting at tlp_high for its D-SACK, tcp_tlp_end):
 * SACKs then are of data sent after it. */
static bool tcp_tlp_answer(const struct zt_tcb *t,
			   const struct zt_tcp_repr *seg, uint64_t now)
{
	return t->tlp_out && zt_seq_lt(t->snd_una, t->tlp_high) &&
	       t->sacked.count && !tcp_rack_too_soon(t, seg, t->tlp_at, now);
}

/* RFC 6675 4 IsLost(snd_una) with DupThresh 3: three discontiguous
 * SACKed sequences above the first unACKed byte (three ranges: at least
 * three segments), or more than 2 * SMSS bytes SACKed there. */
static bool tcp_sack_first_lost(const struct zt_tcb *t)
{
	uint32_t n = 0;

	if (t->sacked.count >= 3)
		return true;
	for (unsigned i = 0; i < t->sacked.count; i++)
		n += t->sacked.r[i].end - t->sacked.r[i].start;
	return n > 2u * t->snd_mss;
}

/* Duplicate ACKs that start recovery: three, or by RFC 5827 Early
 * Retransmit one less than the segments outstanding when they are two
 * or three and nothing new may go (none queued, or the peer's window
 * takes none), as then no third duplicate ACK comes (limited transmit
 * has nothing to draw it with). With SACK, only once the scoreboard
 * shows data delivered above snd_una: a duplicate ACK without blocks
 * answers a segment the network duplicated, not a loss. */
static uint32_t tcp_dupthresh(const struct zt_tcb *t)
{
	size_t ring_len = zt_ring_len(&t->tx);
	uint32_t flight = tcp_flight(t), oseg;

	if (t->sack_ok && t->sacked.count == 0)
		return 3;
	if (flight > ring_len)
		flight = (uint32_t)ring_len; /* data only, not the FIN */
	if (flight < ring_len && t->snd_wnd > flight)
		return 3;
	oseg = (flight + t->snd_mss - 1) / t->snd_mss;
	return oseg >= 2 && oseg < 4 ? oseg - 1 : 3;
}

void tcp_enter_recovery(struct zt_tcb *t, uint64_t now)
{
	/* FlightSize without what limited transmit sent past cwnd
	 * (RFC 5681 3.2, RFC 3042 2) */
	uint32_t flight = tcp_flight(t) < t->cwnd ? tcp_flight(t) : t->cwnd;
	/* With SACK, the holes the last episode sent again (up to rtx_next,
	 * above its recover point) and not yet ACKed are out still, as
	 * Linux's SACKED_RETRANS: not sent again at once when a full ACK
	 * ends that episode and the SACKs start this one; only what is
	 * found lost (a lost retransmission: tcp_lost_rtx, RACK). */
	bool again = t->sack_ok && zt_seq_gt(t->rtx_next, t->snd_una) &&
		     zt_seq_le(t->rtx_next, t->snd_max);

	/* for its undo: what it changes, and its retransmissions from
	 * here; none for an episode that starts while the last one's are
	 * out (their D-SACKs would count against it) */
	t->prior_cwnd = t->cwnd;
	t->prior_ssthresh = t->ssthresh;
	t->undo_on = !again;
	t->undo_retrans = 0;
	t->undo_marker = t->snd_una;
	t->ssthresh = flight / 2 > 2u * t->snd_mss ? flight / 2 : 2u * t->snd_mss;
	t->cwnd = t->ssthresh + 3u * t->snd_mss;
	t->in_recovery = true;
	t->recover = t->snd_max;
	if (!again)
		t->rtx_next = t->snd_una;
	t->t_tlp = ZT_TIME_NEVER;
	t->tlp_rtx = false; /* this recovery is the loss's response */
	t->lrx_armed = false;
	t->stats.fast_retransmits++;
	if (again) {
		tcp_lrx_arm(t); /* snd_una's segment went again, before now */
		tcp_retransmit_hole(t, true, now);
		return;
	}
	tcp_retransmit_hole(t, false, now);
}

/* RFC 2883 6, RFC 3708 (Linux's tcp_try_undo_dsack, _recovery): every
 * retransmission of the last fast recovery was needless, its originals
 * only late or reordered: no congestion; cwnd and ssthresh go back to
 * their values before it (or stay, grown past them since). */
static void tcp_undo(struct zt_tcb *t)
{
	if (t->cwnd < t->prior_cwnd)
		t->cwnd = t->prior_cwnd;
	if (t->ssthresh < t->prior_ssthresh)
		t->ssthresh = t->prior_ssthresh;
	t->undo_on = false;
	t->stats.undos++;
}

/* Every retransmission of an RTO recovery under way was needless
 * (Linux's tcp_try_undo_loss): undone, and what of the flight has not
 * gone again stays out (its originals are as late), as after a
 * spurious RTO (tcp_frto). */
static void tcp_undo_loss(struct zt_tcb *t)
{
	tcp_undo(t);
	t->undo_loss = false;
	t->frto = 0;
	t->recover = t->snd_una; /* a loss now is a new one */
	t->snd_nxt = t->snd_max;
}

/* A D-SACK of [@l, @r): a retransmission of the last fast or RTO
 * recovery (one a segment), if the range lies where they went, was
 * needless. At none left, the recovery is undone: a fast one at once
 * when it has ended, else at its full ACK; one by an RTO at once. A few
 * words of state, nothing per segment. */
static void tcp_undo_dsack(struct zt_tcb *t, uint32_t l, uint32_t r)
{
	uint32_t hi = t->in_recovery || t->undo_loss ? t->snd_max : t->undo_end;
	uint32_t n;

	if (!t->undo_on || !t->undo_retrans || !zt_seq_lt(l, r) ||
	    zt_seq_lt(l, t->undo_marker) || zt_seq_gt(r, hi))
		return;
	n = (r - l) / t->snd_mss; /* whole segments; a short one, or one
				   * with the FIN, is one */
	if (n == 0)
		n = 1;
	t->undo_retrans -= n < t->undo_retrans ? n : t->undo_retrans;
	if (t->undo_retrans)
		return;
	if (t->undo_loss)
		tcp_undo_loss(t);
	else if (!t->in_recovery)
		tcp_undo(t);
}

/*
 * A probe's episode ends (RFC 8985 7.4, as Linux's tcp_process_tlp_ack)
 * once snd_una reaches tlp_high; an ACK short of it (a late one of an
 * earlier segment) leaves it open, its tail to the RTO, and no second
 * probe. A retransmitted probe (tlp_rtx) ends it without the congestion
 * response when the peer's D-SACK reports it a duplicate (tcp_take_sack
 * clears tlp_rtx, for a D-SACK below the ACK or above it: one that
 * comes before a late segment below the probe counts once snd_una
 * reaches tlp_high): the original arrived, nothing was lost. Without that
 * D-SACK, only an ACK BEYOND tlp_high shows the probe repaired a loss
 * (the original's, or its own), which calls for the response of any
 * other (7.4.2); one exactly at tlp_high waits, as the original may
 * have been only late and the probe's D-SACK be on its way. A peer
 * that sends no D-SACKs (RFC 2883 is optional) answers the probe with
 * a pure duplicate ACK there (@pure_dup: it moves nothing, carries no
 * data nor window update, SACKs nothing new): both copies arrived, and
 * that ends the episode as the D-SACK would (Linux's "TLP dupack").
 */
static void tcp_tlp_end(struct zt_tcb *t, bool pure_dup)
{
	if (!t->tlp_out || zt_seq_lt(t->snd_una, t->tlp_high))
		return;
	if (t->tlp_rtx) {
		if (t->snd_una == t->tlp_high && !pure_dup)
			return;
		if (t->snd_una != t->tlp_high && !t->in_recovery) {
			t->ssthresh = t->cwnd / 2 > 2u * t->snd_mss ?
					      t->cwnd / 2 : 2u * t->snd_mss;
			t->cwnd = t->ssthresh;
		}
		t->tlp_rtx = false;
	}
	t->tlp_out = false;
}

/* A new cumulative ACK moved snd_una from its old value to @ack. Returns
 * whether it is a partial ACK of SACK recovery: a hole found lost may go
 * (tcp_process_ack sends it, after RACK had its say). */
static bool tcp_ack_advance(struct zt_tcb *t, const struct zt_tcp_repr *seg,
			    uint64_t now)
{
	bool rtx_due = false;
	uint32_t acked = seg->ack - t->snd_una;
	size_t ring_len = zt_ring_len(&t->tx);
	uint32_t data = acked < ring_len ? acked : (uint32_t)ring_len;

	zt_ring_consume(&t->tx, data);
	zt_ring_trim(&t->tx); /* all acked: an idle flow holds no buffer */
	zt_asm_advance(&t->sacked, acked);
	t->snd_una = seg->ack;
	if (zt_seq_lt(t->snd_nxt, t->snd_una))
		t->snd_nxt = t->snd_una;
	if (data)
		t->events |= ZT_TCP_EV_WRITABLE;
	t->retries = 0;

	/* RTT: timestamps when both sides use them, else Karn timing. */
	if (t->ts_ok && seg->has_ts && seg->ts_ecr) {
		uint32_t ms = tcp_ts_now(t, now) - seg->ts_ecr;

		if (ms < 60000)
			tcp_rtt_sample(t, (uint64_t)ms * ZT_MS + ZT_MS / 2);
	} else if (t->rtt_sampling && zt_seq_gt(seg->ack, t->rtt_seq)) {
		tcp_rtt_sample(t, now - t->rtt_start);
	}
	if (t->rtt_sampling && zt_seq_gt(seg->ack, t->rtt_seq))
		t->rtt_sampling = false;

	if (t->in_recovery) {
		if (zt_seq_ge(seg->ack, t->recover)) {
			/* Full ACK (RFC 6582 3.2 step 3): cwnd =
			 * min(ssthresh, max(FlightSize, SMSS) + SMSS). Two
			 * segments at least when it ACKed everything: with
			 * one, its loss (or its ACK's) draws no duplicate
			 * ACK, only the probe at 2 * SRTT + 200 ms or the
			 * RTO. */
			uint32_t flight = tcp_flight(t);

			if (flight < t->snd_mss)
				flight = t->snd_mss;
			t->cwnd = t->ssthresh < flight + t->snd_mss ?
					  t->ssthresh : flight + t->snd_mss;
			t->in_recovery = false;
			t->undo_end = t->snd_max;
			if (t->undo_on && !t->undo_retrans)
				tcp_undo(t); /* all D-SACKed already */
			if (t->sack_ok)
				tcp_rack_recovery_end(t);
		} else {
			/* Partial ACK: deflate, retransmit the next hole:
			 * without SACK the segment at snd_una at once
			 * (RFC 6582 3.2 step 3); with SACK only what is
			 * found lost (RFC 6675 NextSeg, RACK), as the first
			 * unACKed segment may be in flight still (a
			 * spurious recovery's, or one a hole behind). */
			t->cwnd = t->cwnd > acked ? t->cwnd - acked : t->snd_mss;
			if (acked >= t->snd_mss)
				t->cwnd += t->snd_mss;
			t->lrx_armed = false;
			if (zt_seq_le(t->rtx_next, t->snd_una))
				t->rtx_next = t->snd_una;
			else /* the segment now at snd_una went again in
			      * this recovery, before now */
				tcp_lrx_arm(t);
			if (t->sack_ok)
				rtx_due = true;
			else
				tcp_retransmit_hole(t, false, now);
		}
	} else if (t->cwnd < t->ssthresh) {
		/* Slow start, RFC 3465 with L = 2*SMSS. */
		t->cwnd += acked < 2u * t->snd_mss ? acked : 2u * t->snd_mss;
	} else {
		uint32_t inc = (uint32_t)((uint64_t)t->snd_mss * t->snd_mss / t->cwnd);

		t->cwnd += inc ? inc : 1;
	}
	if (t->undo_loss && zt_seq_ge(seg->ack, t->recover)) {
		/* an RTO recovery's end: late D-SACKs may undo it still */
		t->undo_loss = false;
		t->undo_end = t->snd_max;
		if (t->undo_on && !t->undo_retrans)
			tcp_undo(t);
	}
	/* Once past recover, keep it trailing the cumulative ACK: the
	 * modular check "snd_una covers recover" would flip after 2^31
	 * bytes otherwise, and fast retransmit stop working. */
	if (!t->in_recovery && zt_seq_gt(t->snd_una, t->recover))
		t->recover = t->snd_una;
	t->dupacks = 0;
	if (t->persist && t->snd_wnd)
		t->persist = false;
	tcp_tlp_end(t, false);
	tcp_rearm_rtx(t, now);
	tcp_arm_tlp(t, now);
	return rtx_due;
}

/*
 * F-RTO (RFC 5682: 3.1 with SACK, 2 without), after an RTO whose
 * retransmission is out (frto 1): the first ACK that moves snd_una
 * sends up to two new segments rather than more of the flight (step 2
 * b), unless it covers RecoveryPoint (recover: snd_max then), leaves
 * part of the retransmission unACKed, or nothing new may go (the
 * peer's window, no data): then the RTO's go-back-N goes on (2 a).
 * The next ACK (frto 2; one neither new nor a duplicate says nothing)
 * that acknowledges more data sent before the RTO, cumulatively or
 * SACKed below RecoveryPoint, and none above it, shows the RTO spurious:
 * the flight was late, not lost (3 b). The response (RFC 4015 3.2, as
 * Linux's): cwnd and ssthresh as before the RTO, and new data from
 * snd_max; the RTO stays backed off until an RTT sample. Anything else
 * (a duplicate ACK that SACKs nothing new below RecoveryPoint, any
 * without SACK, data above it acknowledged) is a loss: go-back-N from
 * snd_una, cwnd 3 segments at most (3 a). A few words of state.
 * @adv: the ACK moved snd_una (taken already); @dup: a duplicate ACK;
 * @news: it SACKed new bytes; @dsack: its first block is a D-SACK.
 */
static void tcp_frto(struct zt_tcb *t, const struct zt_tcp_repr *seg,
		     bool adv, bool dup, bool news, bool dsack, uint64_t now)
{
	bool spurious;

	if (t->frto == 1) {
		if (!adv) {
			if (dup && !t->sack_ok)
				t->frto = 0; /* 2 a */
			return;
		}
		t->recover = t->snd_max;
		if (t->snd_una == t->snd_max ||
		    zt_seq_lt(t->snd_una, t->snd_nxt) ||
		    !tcp_frto_send(t, now)) {
			t->frto = 0;
			return;
		}
		t->frto = 2;
		t->cwnd = tcp_flight(t); /* nothing more until step 3 */
		return;
	}
	if (!adv && !dup)
		return;
	if (t->sack_ok) {
		bool above = zt_seq_gt(seg->ack, t->recover);

		for (unsigned i = dsack ? 1u : 0u;
		     i < seg->sack_count && i < ZT_TCP_MAX_SACK; i++)
			if (zt_seq_gt(seg->sack[i].right, t->recover))
				above = true;
		spurious = !above && (adv || news);
	} else {
		spurious = adv;
	}
	t->frto = 0;
	if (spurious) {
		t->cwnd = t->prior_cwnd;
		t->ssthresh = t->prior_ssthresh;
		t->recover = t->snd_una; /* a loss now is a new one */
		t->snd_nxt = t->snd_max;
		t->undo_on = t->undo_loss = false; /* undone here */
		t->stats.spurious_rtos++;
	} else {
		if (t->cwnd > 3u * t->snd_mss)
			t->cwnd = 3u * t->snd_mss;
		t->recover = t->snd_max;
		t->snd_nxt = t->snd_una;
	}
}

/* Enter TIME_WAIT: quiet for time_wait, then CLOSED. No keepalive
 * probes there (RFC 1122 4.2.3.6: they test an idle connection, and the
 * peer has closed: they would go unanswered and end it in a reset). */
static void tcp_time_wait(struct zt_tcb *t, uint64_t now)
{
	t->state = ZT_TCP_TIME_WAIT;
	t->t_close = now + t->cfg->time_wait;
	t->t_keepalive = ZT_TIME_NEVER;
}

static bool ts_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* RFC 7323 5.5: a TS.Recent this old is no longer trusted (a peer's
 * millisecond clock moves 2^31 on in 24.8 days, and every TSval of an
 * idle connection's peer would then look older), as Linux's
 * TCP_PAWS_24DAYS. */
#define ZT_TCP_PAWS_IDLE (24ull * 86400 * ZT_SEC)

/* PAWS (RFC 7323 5.3 R1): @seg's TSval is older than TS.Recent, which
 * is still trusted (5.5). */
static bool tcp_paws_old(const struct zt_tcb *t, const struct zt_tcp_repr *seg,
			 uint64_t now)
{
	return ts_before(seg->ts_val, t->ts_recent) &&
	       now - t->ts_recent_at < ZT_TCP_PAWS_IDLE;
}

/* A duplicate ACK that fails PAWS only because the path reordered the
 * peer's ACKs (its TSval older than a later one's): no data, at
 * rcv_nxt, acknowledging snd_una, the same window, within an RTO of
 * TS.Recent. Taken, as Linux's tcp_disordered_ack() does: its SACK
 * blocks are news of what arrived, which recovery needs, and such an
 * ACK can change nothing else; an old duplicate of it repeats blocks
 * already taken. */
static bool tcp_disordered_ack(const struct zt_tcb *t,
			       const struct zt_tcp_repr *seg, uint32_t seg_len)
{
	return seg_len == 0 && (seg->flags & ZT_TCP_ACK) &&
	       seg->seq == t->rcv_nxt && seg->ack == t->snd_una &&
	       ((uint32_t)seg->window << tcp_shift(t)) == t->snd_wnd &&
	       t->ts_recent - seg->ts_val <= t->rto / ZT_MS;
}

/* RFC 5961 7: challenge ACKs (for a SYN, an inexact RST, an ACK outside
 * SND.UNA - MAX.SND.WND .. SND.NXT)
 * are throttled per connection, so that a flood of spoofed segments in
 * the window does not draw as many ACKs. */
#define ZT_TCP_CHALLENGE_MAX 10 /* a second */

static void tcp_challenge_ack(struct zt_tcb *t, uint64_t now)
{
	if (now - t->challenge_start >= ZT_SEC) {
		t->challenge_start = now;
		t->challenge_count = 0;
	}
	if (t->challenge_count >= ZT_TCP_CHALLENGE_MAX)
		return;
	t->challenge_count++;
	t->stats.challenge_acks++;
	t->ack_now = true;
}

/* RFC 9293 3.10.7.4 answers an unacceptable segment with an ACK; two
 * endpoints that disagree on the sequence space (or a spoofer) can then
 * keep each other sending ACKs at line rate (RFC 5961 10). As Linux's
 * tcp_oow_rate_limited (tcp_invalid_ratelimit): one such ACK per
 * interval per connection, and only for segments without data, a SYN
 * aside - a retransmission of data we have is answered at once, its
 * D-SACK (RFC 2883) drives the sender's undo, and data is no ACK loop. */
#define ZT_TCP_OOW_ACK_INTERVAL (500 * ZT_MS)

/* True (counted) when the ACK to an unacceptable segment must not go:
 * one went less than ZT_TCP_OOW_ACK_INTERVAL ago; else it may, now. */
static bool tcp_oow_ack_limited(struct zt_tcb *t, uint64_t now)
{
	if (t->oow_ack_at != ZT_TIME_NEVER &&
	    now - t->oow_ack_at < ZT_TCP_OOW_ACK_INTERVAL) {
		t->stats.oow_acks_skipped++;
		return true;
	}
	t->oow_ack_at = now;
	return false;
}

/* ACK field processing for synchronized states. Returns a drop reason when
 * the segment must not be processed further. */
static enum zt_drop tcp_process_ack(struct zt_tcb *t,
				    const struct zt_tcp_repr *seg,
				    size_t data_len, uint64_t now)
{
	uint32_t wnd = (uint32_t)seg->window << tcp_shift(t);
	bool window_update = false, new_sack = false, filled = false;
	bool dsack = false, rtx_due = false, adv = false, dup = false;
	bool bare; /* no data, SYN, FIN nor window update */

	if (zt_seq_gt(seg->ack, t->snd_max)) {
		/* RFC 9293: ACK it and drop; that ACK is throttled as any
		 * challenge ACK (RFC 5961 5.2 and 7) */
		tcp_challenge_ack(t, now);
		return ZT_DROP_TCP_BAD_ACK;
	}
	/* RFC 5961 5.2: ACKs far below snd_una are blind attacks; the
	 * acceptable range starts at SND.UNA - MAX.SND.WND itself. */
	if (zt_seq_lt(seg->ack, t->snd_una - t->max_snd_wnd)) {
		tcp_challenge_ack(t, now);
		return ZT_DROP_TCP_BAD_ACK;
	}
	/* Timestamps: remember the peer's (RFC 7323 4.3), only now that
	 * the segment's ACK is acceptable too: a blind one with a wrong
	 * ACK must not set a TSval far ahead, or PAWS would drop every
	 * later segment (as Linux's tcp_replace_ts_recent() in tcp_ack()). */
	if (t->ts_ok && seg->has_ts && zt_seq_le(seg->seq, t->last_ack_sent) &&
	    !tcp_paws_old(t, seg, now)) {
		t->ts_recent = seg->ts_val;
		t->ts_recent_at = now;
	}
	if (t->sack_ok && seg->sack_count) {
		/* in recovery: does it fill a hole retransmitted after the
		 * segment at snd_una (tcp_lost_rtx)? */
		bool watch = t->in_recovery && t->lrx_armed && !t->lrx_again;
		uint32_t below = watch ? tcp_rtx_sacked(t) : 0;

		new_sack = tcp_take_sack(t, seg, &dsack);
		filled = watch && new_sack && tcp_rtx_sacked(t) > below;
		if (dsack) { /* a needless retransmission: RACK waits
			      * longer, and a needless recovery is undone */
			tcp_rack_dsack(t, seg->ack);
			tcp_undo_dsack(t, seg->sack[0].left,
				       seg->sack[0].right);
		}
		/* the probe's D-SACK after the ACK at tlp_high */
		tcp_tlp_end(t, false);
	}
	if (t->sack_ok)
		tcp_rack_on_ack(t, seg, now);

	/* Window update (RFC 9293 3.10.7.4, SND.WL1/WL2), and from any ACK
	 * that moves snd_una (as Linux's tcp_may_update_window()): the
	 * window is meant from the ACK it came with, and one that fills a
	 * hole in the peer's data (seq below WL1) kept an older window
	 * that, applied from the new snd_una, reached past the peer's
	 * edge. */
	if (zt_seq_gt(seg->ack, t->snd_una) ||
	    (seg->ack == t->snd_una &&
	     (zt_seq_lt(t->snd_wl1, seg->seq) ||
	      (t->snd_wl1 == seg->seq && zt_seq_le(t->snd_wl2, seg->ack))))) {
		window_update = wnd != t->snd_wnd;
		/* The window reopens after an RTO sent into it while it was
		 * closed: the peer dropped what went there, so resume from
		 * the first unACKed byte now rather than at the backed-off
		 * RTO (up to rto_max away). Not when no RTO went off: what
		 * is in flight was sent while the window was open, and a
		 * window retracted by less than its scale's unit (RFC 7323
		 * appendix F) took it. A probe's byte is handled below. */
		if (t->snd_wnd == 0 && wnd && t->rto_closed && !t->persist &&
		    !t->in_recovery && zt_seq_gt(t->snd_nxt, t->snd_una))
			t->snd_nxt = t->snd_una;
		if (wnd)
			t->rto_closed = false;
		t->snd_wnd = wnd;
		if (wnd > t->max_snd_wnd)
			t->max_snd_wnd = wnd;
		t->snd_wl1 = seg->seq;
		t->snd_wl2 = seg->ack;
		if (wnd && t->persist) {
			t->persist = false;
			t->t_persist = ZT_TIME_NEVER;
			t->retries = 0; /* the probes' count: it answered */
			/* Resume from the first unacked byte. */
			t->snd_nxt = t->snd_una;
		}
	}

	/* The peer answers with its window closed: it is alive, only not
	 * reading, and may stay so indefinitely (RFC 1122 4.2.2.17): what
	 * we (re)sent into the closed window is a probe, not a loss, and
	 * the retries must not run out while such answers come. */
	if (seg->ack == t->snd_una && t->snd_wnd == 0)
		t->retries = 0;

	bare = data_len == 0 && !(seg->flags & (ZT_TCP_SYN | ZT_TCP_FIN)) &&
	       !window_update;
	/* the probe's pure duplicate ACK after the one at tlp_high */
	if (seg->ack == t->snd_una && bare && !new_sack)
		tcp_tlp_end(t, true);
	if (zt_seq_gt(seg->ack, t->snd_una)) {
		adv = true;
		rtx_due = tcp_ack_advance(t, seg, now);
		/* It stopped at SACKed data: the peer reneged (RFC 2018 8)
		 * or ACKs were reordered. As Linux's
		 * tcp_check_sack_reneging: the RTO in half a round trip (10
		 * ms at least) unless an ACK moves on; it finds snd_una's
		 * segment SACKed still and sends all again (tcp_on_rto). */
		if (t->sacked.count && t->sacked.r[0].start == 0) {
			uint64_t d = t->srtt / 2 > 10 * ZT_MS ? t->srtt / 2 :
								10 * ZT_MS;

			if (now + d < t->t_rtx)
				t->t_rtx = now + d;
		}
		/* With SACK, an ACK that moves snd_una may show the new
		 * first hole lost as a duplicate one would: SACKs while a
		 * probe is out (its episode lasts to tlp_high: the probe's
		 * own answer, or a late ACK with it SACKed) that may be its
		 * answer (tcp_tlp_answer), or IsLost
		 * (RFC 6675 4). Only when it SACKs new bytes: nothing is
		 * added to an ACK of the loss-free path. */
		if (new_sack && !t->in_recovery && t->sacked.count &&
		    t->snd_max != t->snd_una && t->snd_wnd != 0 &&
		    zt_seq_ge(t->snd_una, t->recover) &&
		    (tcp_tlp_answer(t, seg, now) || tcp_sack_first_lost(t)))
			tcp_enter_recovery(t, now);
	} else if (seg->ack == t->snd_una && t->snd_max != t->snd_una &&
		   t->snd_wnd != 0 &&
		   (new_sack || bare)) {
		/* Duplicate ACK (RFC 5681 2), or with SACK one that SACKs
		 * bytes not SACKed before, data or a window change with it
		 * or not (RFC 6675 2): a peer that sends too must not make
		 * its losses wait for the RTO. Not with a zero window: no
		 * data can be lost past a closed window, and the answers to
		 * our probes would start a retransmission into it. */
		dup = true;
		t->dupacks++;
		t->stats.dupacks_in++;
		/* A tail loss probe is out (RFC 8985 7.4): what it draws
		 * SACKed shows the hole lost, as RACK would find it - all
		 * that is out went 2 * SRTT or more before the probe - when
		 * the ACK may be the probe's (tcp_tlp_answer). */
		if (!t->in_recovery &&
		    (t->dupacks >= tcp_dupthresh(t) ||
		     (t->sack_ok && (tcp_tlp_answer(t, seg, now) ||
				     tcp_sack_first_lost(t)))) &&
		    zt_seq_ge(t->snd_una, t->recover)) {
			tcp_enter_recovery(t, now);
		} else if (t->in_recovery) {
			t->cwnd += t->snd_mss; /* each dupack: a segment left */
			if (t->sack_ok && !tcp_lost_rtx(t, filled, now))
				rtx_due = true;
		}
	}

	if (t->frto)
		tcp_frto(t, seg, adv, dup, new_sack, dsack, now);
	/* RACK (RFC 8985 6): what went before the data just delivered,
	 * longer ago than a round trip and the reordering window, is lost */
	if (t->sack_ok)
		tcp_rack_after_ack(t, now);
	/* SACK recovery: one hole per ACK, of those found lost (by the
	 * scoreboard, or by RACK just now) */
	if (rtx_due && t->in_recovery)
		tcp_retransmit_hole(t, true, now);

	/* Our FIN acknowledged? */
	if (tcp_fin_acked(t)) {
		switch (t->state) {
		case ZT_TCP_FIN_WAIT_1:
			t->state = ZT_TCP_FIN_WAIT_2;
			t->t_close = now + t->cfg->fin_wait_2;
			break;
		case ZT_TCP_CLOSING:
			tcp_time_wait(t, now);
			break;
		case ZT_TCP_LAST_ACK:
			tcp_closed(t);
			return ZT_DROP_NONE;
		default:
			break;
		}
	}
	return ZT_DROP_NONE;
}

/* The peer's FIN at rcv_nxt: consume it and move the state on. */
static void tcp_take_fin(struct zt_tcb *t, uint64_t now)
{
	t->rcv_nxt++;
	t->peer_fin_seen = false;
	t->events |= ZT_TCP_EV_PEER_FIN;
	switch (t->state) {
	case ZT_TCP_ESTABLISHED:
		/* Delayed like data (Linux does the same in CLOSE_WAIT): the
		 * upstream's EOF usually follows within the delay, and our FIN
		 * then carries this ACK -- one TUN write less per connection. */
		t->state = ZT_TCP_CLOSE_WAIT;
		if (!t->ack_now && t->t_delack == ZT_TIME_NEVER)
			t->t_delack = now + t->cfg->delack;
		return;
	case ZT_TCP_SYN_RECEIVED:
		t->state = ZT_TCP_CLOSE_WAIT;
		break;
	case ZT_TCP_FIN_WAIT_1:
		if (tcp_fin_acked(t)) {
			tcp_time_wait(t, now);
		} else {
			t->state = ZT_TCP_CLOSING;
		}
		break;
	case ZT_TCP_FIN_WAIT_2:
		tcp_time_wait(t, now);
		break;
	default:
		break;
	}
	t->ack_now = true;
}

/* A duplicate of [l, r) arrived: the next ACK reports it (RFC 2883 4).
 * One range only, as Linux keeps: a second that touches the first
 * extends it, another replaces it (the most recent is the one news). */
static void tcp_dsack_note(struct zt_tcb *t, uint32_t l, uint32_t r)
{
	if (!t->sack_ok || !zt_seq_lt(l, r))
		return;
	if (t->dsack && zt_seq_le(l, t->dsack_r) && zt_seq_ge(r, t->dsack_l)) {
		if (zt_seq_lt(l, t->dsack_l))
			t->dsack_l = l;
		if (zt_seq_gt(r, t->dsack_r))
			t->dsack_r = r;
		return;
	}
	t->dsack = true;
	t->dsack_l = l;
	t->dsack_r = r;
}

/* [off, off + len) (from rcv_nxt) is about to be stored: the part of it
 * already held out of order, in the first range it overlaps, is a
 * duplicate (RFC 2883 4.1.2; only while data waits behind a hole). */
static void tcp_dsack_ooo(struct zt_tcb *t, uint32_t off, uint32_t len)
{
	const struct zt_assembler *a = &t->ooo;
	uint32_t end = off + len;

	for (unsigned i = 0; i < a->count && a->r[i].start < end; i++) {
		if (a->r[i].end <= off)
			continue;
		tcp_dsack_note(t, t->rcv_nxt + (a->r[i].start > off ?
							a->r[i].start : off),
			       t->rcv_nxt + (a->r[i].end < end ? a->r[i].end :
								  end));
		return;
	}
}

/* Store data starting at @seq (already trimmed to the window). */
static void tcp_take_data(struct zt_tcb *t, uint32_t seq, const uint8_t *p,
			  uint32_t len, uint64_t now)
{
	uint32_t off = seq - t->rcv_nxt, direct = 0;
	size_t space = zt_ring_space(&t->rx);

	(void)now;
	if (off >= space)
		return;
	if (len > space - off)
		len = (uint32_t)(space - off); /* not acked: the peer resends it */
	/* In order into an empty ring with nothing queued behind a hole:
	 * the owner may pass it on from here (no copy into the ring). */
	if (off == 0 && t->ops->rx_direct && zt_ring_len(&t->rx) == 0 &&
	    zt_asm_empty(&t->ooo)) {
		size_t took = t->ops->rx_direct(t->ctx, t, p, len);

		direct = took < len ? (uint32_t)took : len;
		t->stats.bytes_direct += direct;
	}
	if (direct < len && zt_ring_reserve(&t->rx) != 0) {
		/* Not acked: the peer resends it once memory is back (what
		 * the owner took is, since it is gone). */
		t->stats.drops[ZT_DROP_TCP_NO_BUFFER]++;
		if (direct == 0)
			return;
		len = direct;
	}
	if (off == 0) {
		uint32_t more;

		if (t->ooo.count && t->sack_ok) /* it may run into them */
			tcp_dsack_ooo(t, 0, len);
		if (len > direct)
			zt_ring_write(&t->rx, p + direct, len - direct);
		t->rcv_nxt += len;
		zt_asm_advance(&t->ooo, len);
		more = zt_asm_take_front(&t->ooo);
		if (more || !zt_asm_empty(&t->ooo))
			t->ack_now = true; /* a hole filled or remains: tell now */
		zt_ring_commit(&t->rx, more);
		t->rcv_nxt += more;
		if (zt_ring_len(&t->rx))
			t->events |= ZT_TCP_EV_READABLE;
		t->stats.bytes_in += len;
		/* A segment of two MSS or more (coalesced by the sender's
		 * TSO or the device's GRO) stands for two: ACK it at once. */
		if (len >= 2u * (t->cfg->mss - 40u))
			t->segs_unacked = 2;
		else if (len >= t->cfg->mss - 40u || ++t->segs_unacked >= 2)
			t->segs_unacked++;
		if (t->segs_unacked >= 2)
			t->ack_now = true;
	} else {
		if (t->sack_ok)
			tcp_dsack_ooo(t, off, len);
		if (zt_asm_add(&t->ooo, off, len) != 0) {
			t->stats.drops[ZT_DROP_TCP_OOO_FULL]++;
		} else {
			zt_ring_write_ahead(&t->rx, off, p, len);
			t->stats.ooo_segs++;
		}
		t->ack_now = true; /* RFC 5681 4.2: dup ACK at once */
	}
}

static enum zt_drop tcp_drop(struct zt_tcb *t, enum zt_drop why, uint64_t now)
{
	t->stats.drops[why]++;
	tcp_output(t, now);
	return why;
}

/* The handshake's RTT sample (the caller keeps Karn's rule: our SYN or
 * SYN-ACK went once, at t_rtx - rto): SRTT's first, and RACK's min_RTT
 * from the start, so that a retransmission's ambiguous delivery is known
 * for one before any data was ACKed (RFC 8985 6.2 step 2). */
static void tcp_handshake_rtt(struct zt_tcb *t, uint64_t now)
{
	uint64_t rtt = now - (t->t_rtx - t->rto);

	tcp_rtt_sample(t, rtt);
	tcp_rack_min_rtt(t, rtt, now);
}

static enum zt_drop tcp_input_syn_sent(struct zt_tcb *t,
				       const struct zt_tcp_repr *seg,
				       struct zt_view data, uint64_t now)
{
	bool ack_ok = false;

	if (seg->flags & ZT_TCP_ACK) {
		if (zt_seq_le(seg->ack, t->iss) || zt_seq_gt(seg->ack, t->snd_max)) {
			if (!(seg->flags & ZT_TCP_RST))
				tcp_send_rst(t, seg->ack, false, now);
			t->stats.drops[ZT_DROP_TCP_BAD_ACK]++;
			return ZT_DROP_TCP_BAD_ACK;
		}
		ack_ok = true;
	}
	if (seg->flags & ZT_TCP_RST) {
		if (!ack_ok) {
			t->stats.drops[ZT_DROP_TCP_RST_INVALID]++;
			return ZT_DROP_TCP_RST_INVALID;
		}
		tcp_reset(t, ZT_TCP_RESET_REFUSED);
		return ZT_DROP_NONE;
	}
	if (!(seg->flags & ZT_TCP_SYN)) {
		t->stats.drops[ZT_DROP_TCP_BAD_FLAGS]++;
		return ZT_DROP_TCP_BAD_FLAGS;
	}
	t->irs = seg->seq;
	t->rcv_nxt = seg->seq + 1;
	t->rcv_adv = t->rcv_nxt;
	tcp_take_syn_options(t, seg, now);
	t->snd_wl1 = seg->seq;
	t->snd_wl2 = seg->ack;
	if (ack_ok) {
		t->snd_una = seg->ack;
		if (zt_seq_lt(t->snd_nxt, t->snd_una))
			t->snd_nxt = t->snd_una;
		if (t->retries == 0)
			tcp_handshake_rtt(t, now);
		t->t_rtx = ZT_TIME_NEVER;
		tcp_enter_established(t, now);
		t->ack_now = true;
		/* (a FIN with the SYN never gets here: zt_tcb_input drops it) */
		if (data.len)
			tcp_take_data(t, t->rcv_nxt, data.data, (uint32_t)data.len, now);
		tcp_output(t, now);
		return ZT_DROP_NONE;
	}
	/* Simultaneous open (RFC 9293 3.5 figure 7). */
	t->state = ZT_TCP_SYN_RECEIVED;
	t->t_rtx = ZT_TIME_NEVER;
	tcp_send_syn(t, now);
	return ZT_DROP_NONE;
}

bool zt_tcb_time_wait_reopen(struct zt_tcb *t, const struct zt_tcp_repr *syn)
{
	bool newer_ts = false;

	if (t->state != ZT_TCP_TIME_WAIT ||
	    (syn->flags & (ZT_TCP_SYN | ZT_TCP_ACK | ZT_TCP_RST | ZT_TCP_FIN)) !=
		    ZT_TCP_SYN)
		return false;
	if (t->ts_ok && syn->has_ts) {
		if (ts_before(syn->ts_val, t->ts_recent))
			return false; /* PAWS: an old duplicate */
		newer_ts = ts_before(t->ts_recent, syn->ts_val);
	}
	if (!newer_ts && !zt_seq_gt(syn->seq, t->rcv_nxt))
		return false;
	tcp_closed(t);
	return true;
}

/* States in which a peer's keepalive probe tests a connection that may
 * still carry something: not once both FINs passed (CLOSING, LAST_ACK,
 * TIME_WAIT), nor before it is synchronized. */
/* The peer showed itself alive in FIN_WAIT_2 at @now (data, a probe):
 * the bound on its silence starts again, behind our closed window at
 * ZT_TCP_PROBE_SILENCE at least (its probes may come that far apart). */
static void fin_wait_2_alive(struct zt_tcb *t, uint64_t now)
{
	t->t_close = now + (tcp_rcv_window_closed(t) &&
				    t->cfg->fin_wait_2 < ZT_TCP_PROBE_SILENCE ?
			    ZT_TCP_PROBE_SILENCE : t->cfg->fin_wait_2);
}

static bool tcp_keepalive_state(const struct zt_tcb *t)
{
	return t->state == ZT_TCP_ESTABLISHED || t->state == ZT_TCP_CLOSE_WAIT ||
	       t->state == ZT_TCP_FIN_WAIT_1 || t->state == ZT_TCP_FIN_WAIT_2;
}

enum zt_drop zt_tcb_input(struct zt_tcb *t, const struct zt_tcp_repr *seg,
			  struct zt_view data, uint64_t now)
{
	uint32_t seq = seg->seq;
	uint32_t seg_len, wnd;
	const uint8_t *p = data.data;
	uint32_t len = (uint32_t)data.len;
	bool syn = seg->flags & ZT_TCP_SYN, fin = seg->flags & ZT_TCP_FIN;
	bool acceptable, fin_ahead, paws = false;
	enum zt_drop why;

	if (t->state == ZT_TCP_CLOSED)
		return ZT_DROP_TCP_NO_FLOW;
	t->stats.segs_in++;
	if ((syn && fin) || (syn && (seg->flags & ZT_TCP_RST)) ||
	    !(seg->flags & (ZT_TCP_SYN | ZT_TCP_ACK | ZT_TCP_RST | ZT_TCP_FIN))) {
		t->stats.drops[ZT_DROP_TCP_BAD_FLAGS]++;
		return ZT_DROP_TCP_BAD_FLAGS;
	}
	if (t->state == ZT_TCP_SYN_SENT)
		return tcp_input_syn_sent(t, seg, data, now);

	/* A retransmitted SYN while our SYN-ACK is pending or in flight. */
	if (t->state == ZT_TCP_SYN_RECEIVED && syn && !(seg->flags & ZT_TCP_ACK) &&
	    seq == t->irs) {
		/* throttled as an out-of-window ACK is (Linux's
		 * tcp_check_req): a flood of copies of the SYN draws one
		 * SYN-ACK an interval, a client's own retransmissions
		 * (a second apart and more) each draw one */
		if (!t->synack_pending && !tcp_oow_ack_limited(t, now)) {
			t->stats.retransmits++;
			t->synack_resent = true;
			tcp_send_syn(t, now);
		}
		return ZT_DROP_NONE;
	}
	if (t->state == ZT_TCP_SYN_RECEIVED && t->synack_pending) {
		/* Nothing was sent yet, so nothing else can be valid but the
		 * client's reset of its SYN, at exactly rcv_nxt (taken, not
		 * counted as a drop). */
		if (seg->flags & ZT_TCP_RST && seq == t->rcv_nxt) {
			tcp_reset(t, ZT_TCP_RESET_BY_PEER);
			return ZT_DROP_NONE;
		}
		t->stats.drops[ZT_DROP_TCP_OUT_OF_WINDOW]++;
		return ZT_DROP_TCP_OUT_OF_WINDOW;
	}

	/* A SYN in a synchronized state, whatever its sequence number, draws
	 * a challenge ACK (RFC 5961 4.2). */
	if (syn && !(seg->flags & ZT_TCP_RST)) {
		tcp_challenge_ack(t, now);
		return tcp_drop(t, ZT_DROP_TCP_BAD_FLAGS, now);
	}

	/* The handshake's last ACK echoes a TSval we sent (RFC 7323 3.2),
	 * from our first SYN(-ACK) on: one that echoes none (older, or
	 * ahead of our clock) is forged or confused, and is dropped with
	 * an ACK as one outside the window is, as Linux's tcp_check_req
	 * (TSECR_REJECTED) and FreeBSD's syncache; a TSecr of 0 (some
	 * stacks send it) is taken, as by both. */
	if (t->state == ZT_TCP_SYN_RECEIVED && t->ts_ok && seg->has_ts &&
	    seg->ts_ecr && !(seg->flags & ZT_TCP_RST) &&
	    (ts_before(seg->ts_ecr, t->syn_tsval) ||
	     ts_before(tcp_ts_now(t, now), seg->ts_ecr))) {
		if ((len || fin) || !tcp_oow_ack_limited(t, now))
			t->ack_now = true;
		return tcp_drop(t, ZT_DROP_TCP_BAD_ACK, now);
	}

	/* Step 1: sequence acceptability (RFC 9293 table) and PAWS. */
	seg_len = len + (syn ? 1 : 0) + (fin ? 1 : 0);
	wnd = zt_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	if (seg->flags & ZT_TCP_RST) /* by its sequence number alone, data
				      * or not (RFC 5961 3.2) */
		acceptable = wnd == 0 ? seq == t->rcv_nxt :
			     zt_seq_ge(seq, t->rcv_nxt) &&
				     zt_seq_lt(seq, t->rcv_nxt + wnd);
	else if (seg_len == 0) /* up to the right edge itself, as Linux: a peer
			   * that filled our window sends its ACKs there
			   * (tcp_acceptable_seq), and dropping them while
			   * that data is lost can deadlock both sides */
		acceptable = wnd == 0 ? seq == t->rcv_nxt :
			     zt_seq_ge(seq, t->rcv_nxt) &&
				     zt_seq_le(seq, t->rcv_nxt + wnd);
	else if (wnd == 0)
		acceptable = seq == t->rcv_nxt; /* probe: ACK it, take no data */
	else /* any byte in the window: its first, its last, or (one that
	      * holds all of the window, as Linux takes it) one between;
	      * trimmed to the window below */
		acceptable = zt_seq_lt(seq, t->rcv_nxt + wnd) &&
			     zt_seq_gt(seq + seg_len, t->rcv_nxt);
	/* A segment without a timestamp on a connection that has them is
	 * taken, though RFC 7323 3.2 says SHOULD drop: as Linux and
	 * FreeBSD (tolerate_missing_ts, on by default) do, since some
	 * stacks leave it off after the handshake or on keepalives. */
	if (acceptable && t->ts_ok && seg->has_ts && !(seg->flags & ZT_TCP_RST) &&
	    tcp_paws_old(t, seg, now) && !tcp_disordered_ack(t, seg, seg_len)) {
		acceptable = false; /* PAWS (RFC 7323 5.3, 5.5) */
		paws = true;
	}
	if (!acceptable) {
		/* Neither a RST nor, but in TIME_WAIT, a bare ACK that
		 * fails PAWS is answered: the latter is an old ACK a newer
		 * one overtook (reordered on the way), and the reply would
		 * be a duplicate ACK to a peer sending data (as Linux's
		 * PAWS_OLD_ACK, which Linux limits to one below rcv_nxt).
		 * TIME_WAIT answers it (throttled below), as RFC 7323 5.3
		 * R1 asks and Linux's tcp_timewait_state_process does: no
		 * data flows there for a duplicate ACK to disturb. */
		if ((seg->flags & ZT_TCP_RST) ||
		    (paws && seg_len == 0 && t->state != ZT_TCP_TIME_WAIT)) {
			t->stats.drops[ZT_DROP_TCP_OUT_OF_WINDOW]++;
			return ZT_DROP_TCP_OUT_OF_WINDOW;
		}
		if (t->state == ZT_TCP_TIME_WAIT && fin)
			t->t_close = now + t->cfg->time_wait;
		/* Linux probes a closed window with a bare ACK at SND.UNA -
		 * 1 (tcp_xmit_probe_skb), outside it: in FIN_WAIT_2 that
		 * shows the peer alive as a probe's byte would (zt_tcb_poll
		 * bounds the silence from last_heard). Only that shape: a
		 * segment elsewhere could be anybody's. */
		if (t->state == ZT_TCP_FIN_WAIT_2 && seg_len == 0 &&
		    seq == t->rcv_nxt - 1) {
			t->last_heard = now;
			/* into an open window the same shape is a keepalive
			 * probe: the peer holds its half on purpose */
			fin_wait_2_alive(t, now);
		}
		/* A keepalive probe (RFC 9293 3.8.4; Linux sends it bare,
		 * BSD and Windows with one garbage byte): the owner may
		 * want to know the peer cares whether we are there. Only
		 * with our window open: into a closed one Linux probes with
		 * the same bare segment (tcp_xmit_probe_skb). */
		if (seq == t->rcv_nxt - 1 && (seg_len == 0 || (len == 1 && !fin)) &&
		    wnd > 0 && tcp_keepalive_state(t))
			t->events |= ZT_TCP_EV_KEEPALIVE;
		/* a retransmission of what we have: the ACK says so (RFC
		 * 2883 4), its sequence space as Linux reports it, a FIN
		 * included (the sender's undo matches whole segments) */
		if (seg_len && zt_seq_lt(seq, t->rcv_nxt))
			tcp_dsack_note(t, seq,
				       zt_seq_lt(seq + seg_len, t->rcv_nxt) ?
					       seq + seg_len : t->rcv_nxt);
		/* a bare ACK's answer is throttled (a FIN's or data's not) */
		if (seg_len == 0 && tcp_oow_ack_limited(t, now)) {
			t->stats.drops[ZT_DROP_TCP_OUT_OF_WINDOW]++;
			return ZT_DROP_TCP_OUT_OF_WINDOW;
		}
		t->ack_now = true;
		return tcp_drop(t, ZT_DROP_TCP_OUT_OF_WINDOW, now);
	}
	t->last_heard = now;
	t->ka_sent = 0;
	if (t->cfg->keepalive_idle && t->t_keepalive != ZT_TIME_NEVER)
		t->t_keepalive = now + t->cfg->keepalive_idle;

	/* Step 2: RST (RFC 5961 3.2). */
	if (seg->flags & ZT_TCP_RST) {
		if (seq != t->rcv_nxt) {
			tcp_challenge_ack(t, now);
			return tcp_drop(t, ZT_DROP_TCP_RST_INVALID, now);
		}
		if (t->state == ZT_TCP_TIME_WAIT) {
			/* RFC 1337: TIME_WAIT ignores RST. */
			return ZT_DROP_NONE;
		}
		tcp_reset(t, ZT_TCP_RESET_BY_PEER);
		return ZT_DROP_NONE;
	}

	/* Step 4: ACK. */
	if (!(seg->flags & ZT_TCP_ACK)) {
		t->stats.drops[ZT_DROP_TCP_BAD_FLAGS]++;
		return ZT_DROP_TCP_BAD_FLAGS;
	}
	if (t->state == ZT_TCP_SYN_RECEIVED) {
		if (!zt_seq_gt(seg->ack, t->snd_una) ||
		    zt_seq_gt(seg->ack, t->snd_max)) {
			tcp_send_rst(t, seg->ack, false, now);
			t->stats.drops[ZT_DROP_TCP_BAD_ACK]++;
			return ZT_DROP_TCP_BAD_ACK;
		}
		t->snd_una = seg->ack;
		/* Karn: not when the SYN-ACK went more than once */
		if (t->retries == 0 && !t->synack_resent &&
		    t->t_rtx != ZT_TIME_NEVER)
			tcp_handshake_rtt(t, now);
		t->t_rtx = ZT_TIME_NEVER;
		t->snd_wnd = (uint32_t)seg->window << tcp_shift(t);
		t->max_snd_wnd = t->snd_wnd;
		t->snd_wl1 = seq;
		t->snd_wl2 = seg->ack;
		tcp_enter_established(t, now);
	}
	why = tcp_process_ack(t, seg, len, now);
	if (why != ZT_DROP_NONE)
		return tcp_drop(t, why, now);
	if (t->state == ZT_TCP_CLOSED) /* LAST_ACK finished */
		return ZT_DROP_NONE;

	/* Step 5: data, trimmed to what is new and inside the window. The
	 * FIN_WAIT_2 bound is on the peer's silence (a one-way transfer whose
	 * receiver closed first): any data it sends restarts it, a
	 * zero-window probe that is trimmed to nothing below included, or a
	 * sender waiting on a reader would be cut off while alive. After a
	 * probe the next may be up to 120 s away (Linux's backoff), even
	 * once our window reopened if that update is lost: a probe restarts
	 * it at ZT_TCP_PROBE_SILENCE at least. */
	if (len && t->state == ZT_TCP_FIN_WAIT_2)
		fin_wait_2_alive(t, now);
	if (zt_seq_lt(seq, t->rcv_nxt)) {
		uint32_t skip = t->rcv_nxt - seq;

		if (skip > len) {
			/* Only old data, maybe a FIN we already took. */
			skip = len;
		}
		/* its head is a duplicate: reported at once (RFC 2883 4) */
		if (t->sack_ok) {
			tcp_dsack_note(t, seq, seq + skip);
			t->ack_now = true;
		}
		p += skip;
		len -= skip;
		seq += skip;
		if (len == 0 && !(fin && seq == t->rcv_nxt))
			t->ack_now = true; /* duplicate: tell where we are */
	}
	if (len && zt_seq_gt(seq + len, t->rcv_nxt + wnd)) {
		len = t->rcv_nxt + wnd - seq;
		fin = false; /* the FIN lies beyond the window */
		/* What we cannot take is answered with an ACK at once (RFC
		 * 9293 3.10.7.4): above all a zero-window probe, whose
		 * sender waits for it (RFC 1122 4.2.2.17). */
		t->ack_now = true;
	}
	/* Nothing lies past the peer's FIN (Linux's out-of-order queue ends
	 * there too): what a broken peer sends beyond one that waits ahead
	 * of a hole is not the stream's, nor is a second FIN further on. */
	if (t->peer_fin_seen && zt_seq_gt(seq + len, t->peer_fin_seq)) {
		len = zt_seq_lt(seq, t->peer_fin_seq) ? t->peer_fin_seq - seq : 0;
		fin = false;
	}
	/* A FIN here ends the stream: bytes held out of order past it are
	 * not the stream's (Linux's tcp_fin() purges that queue). Before
	 * the data is taken, or a segment that fills the hole up to the
	 * FIN would join them and carry rcv_nxt past it. */
	if (fin && zt_seq_ge(seq + len, t->rcv_nxt))
		zt_asm_truncate(&t->ooo, seq + len - t->rcv_nxt);
	if (len) {
		switch (t->state) {
		case ZT_TCP_ESTABLISHED:
		case ZT_TCP_FIN_WAIT_1:
		case ZT_TCP_FIN_WAIT_2:
			tcp_take_data(t, seq, p, len, now);
			if ((seg->flags & ZT_TCP_PSH) &&
			    (t->events & ZT_TCP_EV_READABLE))
				t->events |= ZT_TCP_EV_PUSH;
			if (!t->ack_now && t->t_delack == ZT_TIME_NEVER)
				t->t_delack = now + t->cfg->delack;
			break;
		default:
			break; /* after the peer's FIN: ignore */
		}
	}

	/* Step 6: FIN. One seen before this segment waited ahead of a
	 * hole: taken now, the segment filled it (RFC 5681 4.2: ACK now). */
	fin_ahead = t->peer_fin_seen;
	if (fin && zt_seq_ge(seq + len, t->rcv_nxt)) {
		uint32_t fin_seq = seq + len;

		if (t->state == ZT_TCP_TIME_WAIT) {
			t->ack_now = true;
			t->t_close = now + t->cfg->time_wait;
		} else if (t->state != ZT_TCP_CLOSE_WAIT &&
			   t->state != ZT_TCP_CLOSING &&
			   t->state != ZT_TCP_LAST_ACK) {
			t->peer_fin_seen = true;
			t->peer_fin_seq = fin_seq;
			if (fin_seq != t->rcv_nxt)
				t->ack_now = true; /* behind a hole */
		}
	}
	if (t->peer_fin_seen && t->peer_fin_seq == t->rcv_nxt) {
		if (fin_ahead)
			t->ack_now = true;
		tcp_take_fin(t, now);
	}

	tcp_output(t, now);
	return ZT_DROP_NONE;
}

size_t zt_tcb_send_space(const struct zt_tcb *t)
{
	if (t->fin_queued)
		return 0;
	switch (t->state) {
	case ZT_TCP_SYN_SENT:
	case ZT_TCP_SYN_RECEIVED:
	case ZT_TCP_ESTABLISHED:
	case ZT_TCP_CLOSE_WAIT:
		return zt_ring_space(&t->tx);
	default:
		return 0;
	}
}

size_t zt_tcb_send(struct zt_tcb *t, const void *data, size_t len, uint64_t now)
{
	size_t n;

	if (zt_tcb_send_space(t) == 0)
		return 0;
	if (len && zt_ring_reserve(&t->tx) != 0) {
		/* Data we took could not be kept: reset rather than lose it.
		 * The owner asked for a send, not an abort: it must hear of
		 * the reset like any other (zt_tcb_abort() keeps it quiet). */
		zt_tcb_abort(t, now);
		t->events |= ZT_TCP_EV_RESET;
		return 0;
	}
	n = zt_ring_write(&t->tx, data, len);
	tcp_output(t, now);
	return n;
}

size_t zt_tcb_send_runs(struct zt_tcb *t, size_t len, uint8_t *p[2],
			size_t n[2])
{
	size_t space = zt_tcb_send_space(t);

	if (len > space)
		len = space;
	return zt_ring_free_runs(&t->tx, len, p, n);
}

void zt_tcb_send_commit(struct zt_tcb *t, size_t len, uint64_t now)
{
	if (len > zt_tcb_send_space(t))
		len = zt_tcb_send_space(t);
	zt_ring_commit(&t->tx, len);
	if (!zt_ring_len(&t->tx))
		zt_ring_trim(&t->tx); /* nothing was written: an idle flow holds no buffer */
	if (len)
		tcp_output(t, now);
}

size_t zt_tcb_recv_len(const struct zt_tcb *t)
{
	return zt_ring_len(&t->rx);
}

size_t zt_tcb_recv_peek(const struct zt_tcb *t, size_t off, const uint8_t **p)
{
	return zt_ring_chunk(&t->rx, off, p);
}

void zt_tcb_recv_consume_quiet(struct zt_tcb *t, size_t n)
{
	zt_ring_consume(&t->rx, n);
	if (zt_asm_empty(&t->ooo))
		zt_ring_trim(&t->rx); /* drained: an idle flow holds no buffer */
}

void zt_tcb_recv_consume(struct zt_tcb *t, size_t n, uint64_t now)
{
	zt_tcb_recv_consume_quiet(t, n);
	/* No window to open before the handshake, nor after the peer's FIN:
	 * it sends nothing more (and a peer that already forgot us would
	 * answer the update with a RST). */
	if (t->state != ZT_TCP_ESTABLISHED && t->state != ZT_TCP_FIN_WAIT_1 &&
	    t->state != ZT_TCP_FIN_WAIT_2)
		return;
	/* Window update when the advertised edge would move by enough to
	 * matter (RFC 9293 3.8.6.2.2), judged on the window field as it
	 * would be sent (scaled, rounded): an update that moves nothing is
	 * a copy of the last ACK, which a sender with data in flight counts
	 * as a duplicate ACK (RFC 5681 2). */
	if (tcp_rcv_window_opens(t)) {
		t->ack_now = true;
		tcp_output(t, now);
	}
}

size_t zt_tcb_recv(struct zt_tcb *t, void *out, size_t len, uint64_t now)
{
	size_t n = zt_ring_peek(&t->rx, 0, out, len);

	zt_tcb_recv_consume(t, n, now);
	return n;
}

void zt_tcb_shutdown(struct zt_tcb *t, uint64_t now)
{
	if (t->fin_queued)
		return;
	switch (t->state) {
	case ZT_TCP_SYN_SENT:
		tcp_closed(t);
		return;
	case ZT_TCP_SYN_RECEIVED:
		t->fin_queued = true; /* FIN_WAIT_1 once established */
		return;
	case ZT_TCP_ESTABLISHED:
		t->fin_queued = true;
		t->state = ZT_TCP_FIN_WAIT_1;
		break;
	case ZT_TCP_CLOSE_WAIT:
		t->fin_queued = true;
		t->state = ZT_TCP_LAST_ACK;
		break;
	default:
		return;
	}
	tcp_output(t, now);
}

void zt_tcb_abort(struct zt_tcb *t, uint64_t now)
{
	if (t->state == ZT_TCP_CLOSED)
		return;
	if (t->state == ZT_TCP_SYN_RECEIVED && t->synack_pending) {
		zt_tcb_refuse(t, now);
	} else if (t->state != ZT_TCP_SYN_SENT && t->state != ZT_TCP_TIME_WAIT) {
		tcp_send_rst(t, tcp_acceptable_seq(t), true, now);
	}
	tcp_reset(t, ZT_TCP_RESET_ABORTED);
	t->events &= ~(uint32_t)ZT_TCP_EV_RESET; /* the owner knows */
}

bool zt_tcb_send_drained(const struct zt_tcb *t)
{
	return zt_ring_len(&t->tx) == 0 && t->snd_una == t->snd_max;
}

bool zt_tcp_reply_rst(const struct zt_tcp_repr *seg, size_t data_len,
		      struct zt_tcp_repr *rst)
{
	if (seg->flags & ZT_TCP_RST)
		return false;
	memset(rst, 0, sizeof(*rst));
	rst->src_port = seg->dst_port;
	rst->dst_port = seg->src_port;
	if (seg->flags & ZT_TCP_ACK) {
		rst->seq = seg->ack;
		rst->flags = ZT_TCP_RST;
	} else {
		rst->seq = 0;
		rst->ack = seg->seq + (uint32_t)data_len +
			   ((seg->flags & ZT_TCP_SYN) ? 1 : 0) +
			   ((seg->flags & ZT_TCP_FIN) ? 1 : 0);
		rst->flags = ZT_TCP_RST | ZT_TCP_ACK;
	}
	return true;
}
