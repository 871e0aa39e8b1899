// SPDX-License-Identifier: MIT
/*
 * keepalive.h - the simulator's TCP keepalive on a router stream
 * (stream_keepalive in upstream.h), shared by the vnet and the scenario
 * executor so that both end a silent peer at the same instant.
 *
 * Theory of operation: as Linux's keepalive timer, from the moment the
 * router asks. The first probe goes @idle later; a peer that answers
 * puts the next @idle after that one, a silent peer's probes follow
 * each other @interval apart, and when the timer finds @count of them
 * unanswered the stream is dead (the host fails it with -ETIMEDOUT,
 * after the bytes its router has not taken yet, as recv() returns
 * queued data before the error: both hosts hold the error, err_held). A
 * peer silent from the start dies idle + count * interval after the
 * request. Only the silence of the peer is modelled (each host says
 * what silent means: a blackholed address, a script's `sN< silent`),
 * not the data in flight that defers Linux's probes.
 *
 * Ownership: the state lives in the host's stream; nothing is allocated.
 */
#ifndef ZTUN_SIM_KEEPALIVE_H
#define ZTUN_SIM_KEEPALIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "ztun/upstream.h"

struct zt_sim_keepalive {
	struct zt_keepalive ka;  /* as the router asked (on: ka.idle > 0) */
	uint32_t missed;         /* probes in a row unanswered */
};

/* Keepalive on as @ka says, at @now: the first probe's time. */
static inline uint64_t zt_sim_keepalive_start(struct zt_sim_keepalive *k,
					      const struct zt_keepalive *ka,
					      uint64_t now)
{
	k->ka = *ka;
	k->missed = 0;
	return now + ka->idle;
}

/* A probe is due at @now and the peer is @silent or not: false when the
 * stream is dead, else true with the next probe's time in *@next. */
static inline bool zt_sim_keepalive_probe(struct zt_sim_keepalive *k,
					  bool silent, uint64_t now,
					  uint64_t *next)
{
	if (!silent) {
		k->missed = 0;
		*next = now + k->ka.idle;
		return true;
	}
	if (k->missed >= k->ka.count)
		return false;
	k->missed++;
	*next = now + k->ka.interval;
	return true;
}

#endif /* ZTUN_SIM_KEEPALIVE_H */
