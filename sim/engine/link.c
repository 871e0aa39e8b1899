/* SPDX-License-Identifier: MIT */
/*
 * link.c - unidirectional simulated wire with seeded faults.
 *
 * Theory of operation: each packet sent is copied into one allocation
 * (struct zt_link_pkt) that embeds the loop event which will deliver it, so
 * a packet costs one malloc and the loop needs no memory of its own. The
 * link keeps every packet it owns on a list (send order) so it can free
 * them at destroy; the same allocation carries the dispose hook, so if the
 * loop is destroyed first the packets are released through it instead.
 *
 * The rate limit is a FIFO serialiser: busy_until is when the wire finishes
 * the last admitted packet; a new one starts at max(now, busy_until) and
 * takes ceil(len * 1e9 / rate) ns. The backlog (bytes admitted whose
 * serialisation has not ended) is kept exactly with a second list, the
 * transmit queue, pruned lazily: serialisation ends in admission order, so
 * the packets done by now are always at its head. Tail drop compares the
 * backlog plus the new packet with queue_bytes.
 *
 * Every decision is an integer draw from the loop's generator
 * (zt_rng_below(rng, 1e6) < ppm), made in a fixed order (loss, corruption
 * and its bit, reordering and its delay, duplication) and only for faults
 * whose probability is strictly between 0 and 1, so there is no floating
 * point and runs are bit-identical for a seed.
 */
#include "engine/link.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct zt_link_pkt {
	struct zt_sim_event ev;            /* delivers this packet */
	struct zt_link *link;
	struct zt_link_pkt *prev, *next;   /* link->flight list */
	struct zt_link_pkt *txq_prev, *txq_next;
	bool in_txq;
	uint64_t tx_done;                  /* end of its serialisation */
	size_t len;
	uint8_t data[];
};

static bool cfg_valid(const struct zt_link_cfg *cfg)
{
	if (cfg->drop_ppm > ZT_LINK_PPM_ONE || cfg->dup_ppm > ZT_LINK_PPM_ONE ||
	    cfg->reorder_ppm > ZT_LINK_PPM_ONE ||
	    cfg->corrupt_ppm > ZT_LINK_PPM_ONE)
		return false;
	return !(cfg->reorder_ppm && !cfg->reorder_max_ns);
}

/**
 * zt_link_init() - set up an empty link.
 * @link:    the link (caller-owned memory)
 * @sim:     the loop that carries its events; borrowed, must outlive the
 *           link's packets (destroy the link first, or the loop first and
 *           the link after it)
 * @cfg:     copied
 * @deliver: called with (@arg, bytes, len) for each arriving copy; the
 *           bytes are borrowed for the call only
 * @arg:     borrowed
 *
 * Return: 0, or -EINVAL for a probability above ZT_LINK_PPM_ONE or a
 * reorder probability without reorder_max_ns.
 */
int zt_link_init(struct zt_link *link, struct zt_sim *sim,
		 const struct zt_link_cfg *cfg, zt_link_deliver_fn deliver,
		 void *arg)
{
	if (!cfg_valid(cfg))
		return -EINVAL;
	memset(link, 0, sizeof(*link));
	link->sim = sim;
	link->cfg = *cfg;
	link->deliver = deliver;
	link->deliver_arg = arg;
	return 0;
}

/**
 * zt_link_set_cfg() - change the faults for packets sent from now on.
 * @link: the link
 * @cfg:  copied
 *
 * Packets already in flight keep their fate.
 *
 * Return: 0 or -EINVAL (as zt_link_init(); the old config stays).
 */
int zt_link_set_cfg(struct zt_link *link, const struct zt_link_cfg *cfg)
{
	if (!cfg_valid(cfg))
		return -EINVAL;
	link->cfg = *cfg;
	return 0;
}

static void txq_unlink(struct zt_link *link, struct zt_link_pkt *p)
{
	if (!p->in_txq)
		return;
	if (p->txq_prev)
		p->txq_prev->txq_next = p->txq_next;
	else
		link->txq_head = p->txq_next;
	if (p->txq_next)
		p->txq_next->txq_prev = p->txq_prev;
	else
		link->txq_tail = p->txq_prev;
	p->in_txq = false;
	link->backlog_bytes -= p->len;
}

static void txq_append(struct zt_link *link, struct zt_link_pkt *p)
{
	p->txq_next = NULL;
	p->txq_prev = link->txq_tail;
	if (link->txq_tail)
		link->txq_tail->txq_next = p;
	else
		link->txq_head = p;
	link->txq_tail = p;
	p->in_txq = true;
	link->backlog_bytes += p->len;
}

/* Forget the packets whose serialisation ended by @now. */
static void txq_prune(struct zt_link *link, uint64_t now)
{
	while (link->txq_head && link->txq_head->tx_done <= now)
		txq_unlink(link, link->txq_head);
}

static void flight_append(struct zt_link *link, struct zt_link_pkt *p)
{
	p->next = NULL;
	p->prev = link->flight_tail;
	if (link->flight_tail)
		link->flight_tail->next = p;
	else
		link->flight_head = p;
	link->flight_tail = p;
	link->in_flight++;
}

/* Take @p off both lists; the caller then frees it. */
static void pkt_release(struct zt_link *link, struct zt_link_pkt *p)
{
	txq_unlink(link, p);
	if (p->prev)
		p->prev->next = p->next;
	else
		link->flight_head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		link->flight_tail = p->prev;
	link->in_flight--;
}

/* Loop event: hand the copy to the receiver, then free it. */
static void pkt_deliver(struct zt_sim *sim, void *arg)
{
	struct zt_link_pkt *p = arg;
	struct zt_link *link = p->link;

	(void)sim;
	/* Unlinked first: the callback may send on, or even destroy, the link. */
	pkt_release(link, p);
	link->stats.delivered++;
	link->stats.delivered_bytes += p->len;
	link->deliver(link->deliver_arg, p->data, p->len);
	free(p);
}

/* Loop destroyed with @ev pending: the packet is lost with the loop. */
static void pkt_dispose(struct zt_sim_event *ev)
{
	struct zt_link_pkt *p = zt_heap_entry(ev, struct zt_link_pkt, ev);

	pkt_release(p->link, p);
	p->link->stats.drop_destroy++;
	free(p);
}

static struct zt_link_pkt *pkt_new(struct zt_link *link, const uint8_t *data,
				   size_t len)
{
	struct zt_link_pkt *p = malloc(sizeof(*p) + len);

	if (!p)
		return NULL;
	zt_sim_event_init(&p->ev, pkt_deliver, p);
	p->ev.dispose = pkt_dispose;
	p->link = link;
	p->in_txq = false;
	p->txq_prev = p->txq_next = NULL;
	p->tx_done = 0;
	p->len = len;
	if (len)
		memcpy(p->data, data, len);
	return p;
}

/* One Bernoulli draw at @ppm parts per million; 0 and 1 draw nothing. */
static bool chance(struct zt_rng *rng, uint32_t ppm)
{
	if (ppm == 0)
		return false;
	if (ppm >= ZT_LINK_PPM_ONE)
		return true;
	return zt_rng_below(rng, ZT_LINK_PPM_ONE) < ppm;
}

/* Serialisation time of @len bytes at @rate bytes/s, rounded up. */
static uint64_t ser_ns(size_t len, uint64_t rate)
{
	uint64_t bits = (uint64_t)len * 1000000000u; /* len <= 2^24: no overflow */

	return bits / rate + (bits % rate != 0);
}

/**
 * zt_link_send() - put a copy of @pkt on the link.
 * @link: the link
 * @pkt:  the bytes; borrowed, copied before this returns
 * @len:  their length, at most ZT_LINK_MAX_PKT
 *
 * The copy belongs to the link until it is delivered (through the loop,
 * never from within this call) or dropped. A packet dropped by a simulated
 * fault (loss, tail drop) is still a successful send: senders on a real
 * wire cannot tell either.
 *
 * Return: 0; -EMSGSIZE when @len is too big or -ENOMEM when the copy cannot
 * be allocated (both also counted as drops).
 */
int zt_link_send(struct zt_link *link, const uint8_t *pkt, size_t len)
{
	const struct zt_link_cfg *cfg = &link->cfg;
	struct zt_rng *rng = zt_sim_rng(link->sim);
	uint64_t now = zt_sim_now(link->sim);
	uint64_t tx_done = now, at;
	struct zt_link_pkt *p, *dup;

	link->stats.sent++;
	link->stats.sent_bytes += len;
	if (len > ZT_LINK_MAX_PKT) {
		link->stats.drop_too_big++;
		return -EMSGSIZE;
	}
	if (chance(rng, cfg->drop_ppm)) {
		link->stats.drop_loss++;
		return 0;
	}
	if (cfg->rate_bps) {
		txq_prune(link, now);
		if (cfg->queue_bytes &&
		    (len > cfg->queue_bytes ||
		     link->backlog_bytes > cfg->queue_bytes - len)) {
			link->stats.drop_queue++;
			return 0;
		}
		tx_done = zt_sim_time_add(now > link->busy_until ? now :
					  link->busy_until,
					  ser_ns(len, cfg->rate_bps));
	}
	p = pkt_new(link, pkt, len);
	if (!p) {
		link->stats.drop_nomem++;
		return -ENOMEM;
	}
	p->tx_done = tx_done;
	if (cfg->rate_bps) {
		link->busy_until = tx_done;
		txq_append(link, p);
	}
	if (len && chance(rng, cfg->corrupt_ppm)) {
		uint64_t bit = zt_rng_below(rng, (uint64_t)len * 8);

		p->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		link->stats.corrupted++;
	}
	at = zt_sim_time_add(tx_done, cfg->latency_ns);
	if (chance(rng, cfg->reorder_ppm)) {
		at = zt_sim_time_add(at, 1 + zt_rng_below(rng, cfg->reorder_max_ns));
		link->stats.reordered++;
	}
	flight_append(link, p);
	zt_sim_at(link->sim, &p->ev, at);
	if (chance(rng, cfg->dup_ppm)) {
		/* The duplicate shares the original's slot on the wire: it is
		 * not queued and arrives right after it. */
		dup = pkt_new(link, p->data, len);
		if (dup) {
			dup->tx_done = tx_done;
			link->stats.duplicated++;
			flight_append(link, dup);
			zt_sim_at(link->sim, &dup->ev, at);
		}
	}
	return 0;
}

/**
 * zt_link_destroy() - free every packet still in flight.
 * @link: the link; its memory stays the caller's
 *
 * Pending deliveries are cancelled and counted as drop_destroy. Safe after
 * the loop was destroyed (its dispose hooks already freed the packets).
 */
void zt_link_destroy(struct zt_link *link)
{
	struct zt_link_pkt *p = link->flight_head, *next;

	for (; p; p = next) {
		next = p->next;
		zt_sim_cancel(link->sim, &p->ev);
		link->stats.drop_destroy++;
		free(p);
	}
	link->flight_head = link->flight_tail = NULL;
	link->txq_head = link->txq_tail = NULL;
	link->in_flight = 0;
	link->backlog_bytes = 0;
}
