/* SPDX-License-Identifier: MIT */
/* tcp_pair.c - see tcp_pair.h. */
#include "tcp_pair.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ztun/tcp_wire.h"

static int side_of(struct tcp_pair *p, const struct zt_tcb *t)
{
	return t == &p->side[0].tcb ? 0 : 1;
}

static void pair_output(void *ctx, struct zt_tcb *tcb,
			const struct zt_tcp_repr *repr, const uint8_t *d1,
			size_t l1, const uint8_t *d2, size_t l2)
{
	struct tcp_pair *p = ctx;
	int from = side_of(p, tcb);
	struct pair_side *s = &p->side[from];
	uint8_t *buf = malloc(60 + l1 + l2);
	unsigned idx = s->nlast;
	int n, copies = 1;
	uint64_t delay = p->delay;

	CU_ASSERT_FATAL(buf != NULL);
	if (l1)
		memcpy(buf + zt_tcp_header_len(repr), d1, l1);
	if (l2)
		memcpy(buf + zt_tcp_header_len(repr) + l1, d2, l2);
	n = zt_tcp_emit(repr, from ? &p->b : &p->a, from ? &p->a : &p->b,
			buf + zt_tcp_header_len(repr), l1 + l2, buf, 60 + l1 + l2);
	CU_ASSERT_FATAL(n > 0);
	/* The window this side advertises (its right edge never moves
	 * left), and data within the window the other side advertised. */
	if ((repr->flags & ZT_TCP_ACK) && !(repr->flags & ZT_TCP_RST)) {
		uint32_t edge = repr->ack + ((uint32_t)repr->window <<
					     ((repr->flags & ZT_TCP_SYN) ? 0 : tcb->rcv_wscale));

		if (!s->adv_valid || zt_seq_gt(edge, s->adv_edge))
			s->adv_edge = edge;
		s->adv_valid = true;
	}
	if (l1 + l2 && tcb->snd_wnd != 0 && p->side[!from].adv_valid &&
	    zt_seq_gt(repr->seq + (uint32_t)(l1 + l2), p->side[!from].adv_edge)) {
		fprintf(stderr, "pair: side %d sent [%u, %u) past the peer's edge %u"
			" (una %u nxt %u max %u wnd %u wl2 %u rec %d rto %llu tlp %llu persist %d)\n",
			from, repr->seq, repr->seq + (uint32_t)(l1 + l2),
			p->side[!from].adv_edge, tcb->snd_una, tcb->snd_nxt,
			tcb->snd_max, tcb->snd_wnd, tcb->snd_wl2, tcb->in_recovery,
			(unsigned long long)tcb->stats.rto_expiries,
			(unsigned long long)tcb->stats.tlp_probes, tcb->persist);
		p->violations++;
		CU_FAIL("data past the peer's advertised window");
	}
	s->last[idx % 64] = *repr;
	s->last_len[idx % 64] = l1 + l2;
	s->last_at[idx % 64] = p->now;
	if (l1 + l2 > s->max_data)
		s->max_data = l1 + l2;
	s->nlast++;
	if (s->drop_next_out ||
	    (idx >= s->drop_base && idx - s->drop_base < 64 &&
	     (s->drop_bits >> (idx - s->drop_base) & 1))) {
		s->drop_next_out = false;
		p->lost++;
		free(buf);
		return;
	}
	if (p->loss_ppm && zt_rng_below(&p->rng, 1000000) < p->loss_ppm) {
		p->lost++;
		free(buf);
		return;
	}
	if (p->dup_ppm && zt_rng_below(&p->rng, 1000000) < p->dup_ppm)
		copies = 2;
	if (p->reorder_ppm && zt_rng_below(&p->rng, 1000000) < p->reorder_ppm)
		delay += zt_rng_below(&p->rng, 3 * p->delay + 1);
	for (int c = 0; c < copies; c++) {
		struct pair_pkt *q;

		CU_ASSERT_FATAL(p->nq < PAIR_MAX_INFLIGHT);
		q = &p->q[p->nq++];
		q->at = p->now + delay + (uint64_t)c * 1000;
		q->order = p->order++;
		q->to = !from;
		q->len = (size_t)n;
		if (c == 0) {
			q->bytes = buf;
		} else {
			q->bytes = malloc((size_t)n);
			CU_ASSERT_FATAL(q->bytes != NULL);
			memcpy(q->bytes, buf, (size_t)n);
		}
	}
}

void pair_init(struct tcp_pair *p, const struct zt_tcp_config *cfg0,
	       const struct zt_tcp_config *cfg1, uint64_t seed)
{
	static const uint8_t a4[4] = { 10, 0, 0, 2 }, b4[4] = { 93, 184, 216, 34 };

	memset(p, 0, sizeof(*p));
	p->ops.output = pair_output;
	p->side[0].cfg = *cfg0;
	p->side[1].cfg = *cfg1;
	p->delay = 10 * ZT_MS;
	p->now = 1000 * ZT_SEC;
	zt_rng_seed(&p->rng, seed);
	p->a = zt_addr_v4(a4);
	p->b = zt_addr_v4(b4);
	for (int i = 0; i < 2; i++)
		CU_ASSERT_FATAL(zt_tcb_init(&p->side[i].tcb, &p->side[i].cfg,
					    &p->ops, p) == 0);
}

void pair_destroy(struct tcp_pair *p)
{
	for (unsigned i = 0; i < p->nq; i++)
		free(p->q[i].bytes);
	p->nq = 0;
	zt_tcb_destroy(&p->side[0].tcb);
	zt_tcb_destroy(&p->side[1].tcb);
}

void pair_free(struct tcp_pair *p)
{
	pair_destroy(p);
	free(p);
}

static void deliver(struct tcp_pair *p, struct pair_pkt *q)
{
	struct zt_tcp_repr r;
	struct zt_view data;
	int to = q->to;
	enum zt_drop d = zt_tcp_parse(zt_view_make(q->bytes, q->len),
				      to ? &p->a : &p->b, to ? &p->b : &p->a, 0,
				      &r, &data);

	CU_ASSERT_EQUAL_FATAL(d, ZT_DROP_NONE);
	p->delivered++;
	if (p->side[to].tcb.state == ZT_TCP_CLOSED && p->side[to].listen &&
	    (r.flags & ZT_TCP_SYN)) {
		p->side[to].last_drop = zt_tcb_open_passive(&p->side[to].tcb, &r,
							    p->side[to].iss, p->now);
		if (p->side[to].auto_accept)
			zt_tcb_accept(&p->side[to].tcb, p->now);
		return;
	}
	p->side[to].last_drop = zt_tcb_input(&p->side[to].tcb, &r, data, p->now);
}

/* Index of the earliest queued packet, or -1. */
static int next_pkt(const struct tcp_pair *p)
{
	int best = -1;

	for (unsigned i = 0; i < p->nq; i++)
		if (best < 0 || p->q[i].at < p->q[best].at ||
		    (p->q[i].at == p->q[best].at && p->q[i].order < p->q[best].order))
			best = (int)i;
	return best;
}

void pair_run_until(struct tcp_pair *p, uint64_t until)
{
	for (;;) {
		int i = next_pkt(p);
		uint64_t t_pkt = i >= 0 ? p->q[i].at : ZT_TIME_NEVER;
		uint64_t d0 = zt_tcb_deadline(&p->side[0].tcb);
		uint64_t d1 = zt_tcb_deadline(&p->side[1].tcb);
		uint64_t t_tmr = d0 < d1 ? d0 : d1;
		uint64_t t = t_pkt < t_tmr ? t_pkt : t_tmr;

		if (t > until)
			break;
		if (t > p->now)
			p->now = t;
		if (t_pkt <= t_tmr) {
			struct pair_pkt q = p->q[i];

			p->q[i] = p->q[--p->nq];
			deliver(p, &q);
			free(q.bytes);
		} else {
			int s = d0 <= d1 ? 0 : 1;
			struct zt_tcb *tcb = &p->side[s].tcb;
			uint64_t probes = tcb->stats.tlp_probes;
			bool busy = tcb->persist || tcb->in_recovery;

			zt_tcb_poll(tcb, p->now);
			if (tcb->stats.tlp_probes != probes && busy) {
				p->violations++;
				CU_FAIL("tail loss probe while persisting or in recovery");
			}
			if (zt_tcb_deadline(tcb) <= p->now) {
				p->violations++;
				CU_FAIL_FATAL("deadline not past now after a poll");
			}
		}
	}
	if (until > p->now && until != ZT_TIME_NEVER)
		p->now = until;
}

void pair_settle(struct tcp_pair *p, uint64_t horizon)
{
	pair_run_until(p, p->now + horizon);
}

void pair_clear_log(struct tcp_pair *p, int side)
{
	p->side[side].nlast = 0;
}

enum zt_drop pair_inject(struct tcp_pair *p, int side,
			 const struct zt_tcp_repr *r, const void *data,
			 size_t len)
{
	return zt_tcb_input(&p->side[side].tcb, r, zt_view_make(data, len),
			    p->now);
}
