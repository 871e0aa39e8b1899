/* SPDX-License-Identifier: MIT */
/*
 * link.h - a unidirectional simulated wire.
 *
 * zt_link_send() copies a packet onto the link; the link owns that copy
 * until it is handed to the receiver's deliver callback (through an event of
 * the loop, never synchronously) or dropped. Along the way it applies, in
 * this order:
 *
 *   1. loss: dropped with probability drop_ppm (before the queue, as netem);
 *   2. rate limit: with rate_bps > 0 the packet waits behind the bytes
 *      already queued and takes len * 1e9 / rate_bps ns (rounded up) to
 *      serialise; if the backlog (bytes not yet serialised) plus len would
 *      exceed queue_bytes, it is tail-dropped;
 *   3. corruption: with probability corrupt_ppm one random bit is flipped;
 *   4. reordering: with probability reorder_ppm an extra delay, uniform in
 *      [1, reorder_max_ns], lets later packets overtake it;
 *   5. duplication: with probability dup_ppm a second copy (of the bytes as
 *      sent on the wire) arrives right after the first;
 *
 * and delivers at (end of serialisation) + latency_ns (+ reorder delay).
 * Probabilities are integers in parts per million and decisions use only
 * the loop's generator, so a run is bit-identical for a seed; a fault whose
 * probability is 0 draws nothing from the generator. A link without faults
 * delivers in order, at now + latency_ns (through the loop even when that is
 * now).
 *
 * Every counter only grows; at any moment
 *   sent + duplicated == delivered + zt_link_dropped() + in_flight.
 *
 * This is host code; it is not part of the pure core.
 */
#ifndef ZTUN_SIM_LINK_H
#define ZTUN_SIM_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "engine/evloop.h"

#define ZT_LINK_PPM_ONE 1000000u  /* probability 1 */
#define ZT_LINK_MAX_PKT (1u << 24) /* largest packet zt_link_send() takes */

typedef void (*zt_link_deliver_fn)(void *arg, const uint8_t *pkt, size_t len);

struct zt_link_cfg {
	uint64_t latency_ns;     /* propagation delay */
	uint32_t drop_ppm;
	uint32_t dup_ppm;
	uint32_t reorder_ppm;
	uint64_t reorder_max_ns; /* bound of the extra delay; >0 if reorder_ppm */
	uint32_t corrupt_ppm;
	uint64_t rate_bps;       /* bytes per second; 0 = no rate limit */
	size_t queue_bytes;      /* backlog bound with a rate limit; 0 = none */
};

struct zt_link_stats {
	uint64_t sent;            /* zt_link_send() calls */
	uint64_t sent_bytes;
	uint64_t delivered;       /* copies handed to deliver (dups included) */
	uint64_t delivered_bytes;
	uint64_t drop_loss;       /* drop_ppm */
	uint64_t drop_queue;      /* tail drop: queue_bytes exceeded */
	uint64_t drop_nomem;      /* could not allocate the copy */
	uint64_t drop_too_big;    /* len > ZT_LINK_MAX_PKT (-EMSGSIZE) */
	uint64_t drop_destroy;    /* still in flight at destroy */
	uint64_t duplicated;      /* extra copies made */
	uint64_t reordered;       /* packets given an extra delay */
	uint64_t corrupted;       /* packets with a bit flipped */
};

struct zt_link_pkt;

struct zt_link {
	struct zt_sim *sim;           /* borrowed */
	struct zt_link_cfg cfg;
	zt_link_deliver_fn deliver;
	void *deliver_arg;            /* borrowed */
	struct zt_link_stats stats;
	/* Every packet owned by the link, in send order. */
	struct zt_link_pkt *flight_head, *flight_tail;
	size_t in_flight;
	/* Packets whose serialisation is not known to be over, in send order. */
	struct zt_link_pkt *txq_head, *txq_tail;
	size_t backlog_bytes;         /* bytes of the txq packets */
	uint64_t busy_until;          /* end of the last serialisation */
};

int zt_link_init(struct zt_link *link, struct zt_sim *sim,
		 const struct zt_link_cfg *cfg, zt_link_deliver_fn deliver,
		 void *arg);
int zt_link_set_cfg(struct zt_link *link, const struct zt_link_cfg *cfg);
int zt_link_send(struct zt_link *link, const uint8_t *pkt, size_t len);
void zt_link_destroy(struct zt_link *link);

static inline const struct zt_link_stats *
zt_link_stats(const struct zt_link *link)
{
	return &link->stats;
}

/* Copies owned by the link and not yet delivered. */
static inline size_t zt_link_in_flight(const struct zt_link *link)
{
	return link->in_flight;
}

/* All drops, whatever the cause. */
static inline uint64_t zt_link_dropped(const struct zt_link_stats *s)
{
	return s->drop_loss + s->drop_queue + s->drop_nomem + s->drop_too_big +
	       s->drop_destroy;
}

#endif /* ZTUN_SIM_LINK_H */
