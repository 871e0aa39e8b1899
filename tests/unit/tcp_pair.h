/* SPDX-License-Identifier: MIT */
/*
 * tcp_pair.h - two TCP endpoints joined by a test wire.
 *
 * Every segment a tcb sends is encoded with zt_tcp_emit (so the wire format
 * is exercised), recorded, and queued for the other side with a delay and
 * seeded faults (loss, duplication, reordering). Time is virtual: the pair
 * advances its clock to the next delivery or timer deadline.
 */
#ifndef ZTUN_TCP_PAIR_H
#define ZTUN_TCP_PAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/rng.h"
#include "ztun/tcp.h"

#define PAIR_MAX_INFLIGHT 4096

struct pair_pkt {
	uint64_t at;      /* delivery time */
	uint64_t order;   /* tie-break: send order */
	int to;           /* 0 or 1 */
	uint8_t *bytes;   /* encoded segment (owned) */
	size_t len;
};

struct pair_side {
	struct zt_tcb tcb;
	struct zt_tcp_config cfg;
	/* the most recent segments this side sent, decoded */
	struct zt_tcp_repr last[64];
	size_t last_len[64];
	unsigned nlast;      /* total sent since pair_clear_log */
	bool drop_next_out;  /* test hook: lose this side's next segment */
	bool listen;         /* a SYN to a CLOSED tcb opens it passively */
	bool auto_accept;    /* ... and answers at once (else pending) */
	uint32_t iss;        /* ISN for the passive open */
	enum zt_drop last_drop; /* what zt_tcb_input said last */
	unsigned drop_base;  /* lose out segment with log index drop_base + b ... */
	uint64_t drop_bits;  /* ... for each bit b set here */
	uint64_t last_at[64]; /* when each logged segment was sent */
	size_t max_data;     /* largest payload sent */
	uint32_t adv_edge;   /* rightmost window edge this side advertised */
	bool adv_valid;      /* ... once it sent an ACK */
};

struct tcp_pair {
	struct pair_side side[2];
	struct zt_tcp_ops ops;
	uint64_t now;
	uint64_t delay;          /* one-way delay */
	uint32_t loss_ppm, dup_ppm, reorder_ppm;
	struct zt_rng rng;
	struct pair_pkt q[PAIR_MAX_INFLIGHT];
	unsigned nq;
	uint64_t order;
	uint64_t delivered, lost;
	/* invariants checked on every segment and poll (CUnit asserts):
	 * no data past the edge the peer advertised (but zero-window
	 * probes), no tail loss probe while persisting or in recovery, no
	 * deadline at or before now after a poll; counted here too */
	unsigned violations;
	struct zt_addr a, b;
};

/* Initialise both sides with @cfg0/@cfg1 (copied). */
void pair_init(struct tcp_pair *p, const struct zt_tcp_config *cfg0,
	       const struct zt_tcp_config *cfg1, uint64_t seed);
void pair_destroy(struct tcp_pair *p);
/* pair_destroy() of a pair from malloc(), then free() of it. */
void pair_free(struct tcp_pair *p);
/* Deliver everything due at or before @until, running timers on the way. */
void pair_run_until(struct tcp_pair *p, uint64_t until);
/* Run until nothing is in flight and no timer is due within @horizon. */
void pair_settle(struct tcp_pair *p, uint64_t horizon);
void pair_clear_log(struct tcp_pair *p, int side);
/* Deliver an arbitrary segment to @side now (as if from the other side). */
enum zt_drop pair_inject(struct tcp_pair *p, int side,
			 const struct zt_tcp_repr *r, const void *data,
			 size_t len);

#endif /* ZTUN_TCP_PAIR_H */
