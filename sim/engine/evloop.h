/* SPDX-License-Identifier: MIT */
/*
 * evloop.h - the simulator's discrete-event loop.
 *
 * Time is virtual: a uint64_t count of nanoseconds that only moves when the
 * loop runs an event (or is told to run until a time). Events run in
 * (time, insertion sequence) order, so two runs that schedule the same
 * events in the same order behave identically. One generator, seeded once
 * at zt_sim_init(), is the only source of randomness for everything the
 * simulator decides (zt_sim_rng()); there is no wall clock anywhere.
 *
 * Events come in two kinds:
 *   - caller-owned: a struct zt_sim_event embedded in the caller's memory,
 *     scheduled with zt_sim_at()/zt_sim_after(). The loop only links it; the
 *     pointer is the handle for zt_sim_cancel() and stays safe to cancel or
 *     reschedule at any time, also after it ran. It must stay valid while
 *     pending.
 *   - loop-owned: zt_sim_call_at()/zt_sim_call_after() allocate a one-shot
 *     event that the loop frees after it runs (or at zt_sim_destroy()); it
 *     has no handle and cannot be cancelled.
 *
 * Callbacks may schedule, reschedule and cancel any events (including the
 * one running, which is no longer pending while it runs), but must not run
 * the loop (no nested zt_sim_run*()) or destroy it.
 *
 * This is host code; it is not part of the pure core.
 */
#ifndef ZTUN_SIM_EVLOOP_H
#define ZTUN_SIM_EVLOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/heap.h"
#include "ztun/rng.h"

struct zt_sim;
struct zt_sim_event;

typedef void (*zt_sim_fn)(struct zt_sim *sim, void *arg);

struct zt_sim_event {
	struct zt_heap_node node; /* time = node.deadline */
	zt_sim_fn fn;
	void *arg;
	/* Optional, set by the owner: called by zt_sim_destroy() for a
	 * caller-owned event still pending, so its owner can release it. */
	void (*dispose)(struct zt_sim_event *ev);
	bool loop_owned;
};

struct zt_sim {
	struct zt_heap queue;  /* pending events */
	uint64_t now;          /* virtual nanoseconds */
	uint64_t seed;
	uint64_t events_run;
	struct zt_rng rng;     /* the simulator's only randomness */
	bool running;
};

enum zt_sim_stop {
	ZT_SIM_IDLE = 0,      /* no event left */
	ZT_SIM_EVENT_CAP = 1, /* max_events ran, events still pending */
	ZT_SIM_TIME_CAP = 2,  /* next event is after max_time; now = max_time */
};

void zt_sim_init(struct zt_sim *sim, uint64_t seed);
void zt_sim_destroy(struct zt_sim *sim);

static inline uint64_t zt_sim_now(const struct zt_sim *sim) { return sim->now; }
static inline uint64_t zt_sim_seed(const struct zt_sim *sim) { return sim->seed; }
static inline struct zt_rng *zt_sim_rng(struct zt_sim *sim) { return &sim->rng; }
/* Events run since zt_sim_init(). */
static inline uint64_t zt_sim_events_run(const struct zt_sim *sim)
{
	return sim->events_run;
}
/* Events pending (both kinds). */
static inline size_t zt_sim_pending_count(const struct zt_sim *sim)
{
	return zt_heap_count(&sim->queue);
}

void zt_sim_event_init(struct zt_sim_event *ev, zt_sim_fn fn, void *arg);
static inline bool zt_sim_event_pending(const struct zt_sim_event *ev)
{
	return zt_heap_node_linked(&ev->node);
}
/* Time the event is (or was last) scheduled for. */
static inline uint64_t zt_sim_event_time(const struct zt_sim_event *ev)
{
	return zt_heap_node_deadline(&ev->node);
}

void zt_sim_at(struct zt_sim *sim, struct zt_sim_event *ev, uint64_t t);
void zt_sim_after(struct zt_sim *sim, struct zt_sim_event *ev, uint64_t delay);
bool zt_sim_cancel(struct zt_sim *sim, struct zt_sim_event *ev);

int zt_sim_call_at(struct zt_sim *sim, uint64_t t, zt_sim_fn fn, void *arg);
int zt_sim_call_after(struct zt_sim *sim, uint64_t delay, zt_sim_fn fn,
		      void *arg);

bool zt_sim_next_time(const struct zt_sim *sim, uint64_t *t);
uint64_t zt_sim_run_until(struct zt_sim *sim, uint64_t t);
enum zt_sim_stop zt_sim_run(struct zt_sim *sim, uint64_t max_events,
			    uint64_t max_time);
const char *zt_sim_stop_name(enum zt_sim_stop stop);

/* now + delay, saturating at UINT64_MAX. */
static inline uint64_t zt_sim_time_add(uint64_t t, uint64_t delay)
{
	return delay > UINT64_MAX - t ? UINT64_MAX : t + delay;
}

#endif /* ZTUN_SIM_EVLOOP_H */
