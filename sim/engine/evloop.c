/* SPDX-License-Identifier: MIT */
/*
 * evloop.c - discrete-event loop with a virtual nanosecond clock.
 *
 * Theory of operation: pending events sit in an intrusive min-heap keyed by
 * (time, seq) (ztun/heap.h); seq comes from the heap's insertion counter,
 * so events at the same time run in the order they were scheduled and a
 * run is a pure function of the seed and the calls made. Running an event
 * unlinks it, sets now to its time and calls it; the clock never moves
 * backwards because scheduling clamps a time in the past to now. The loop
 * never reads a real clock: time advances only through zt_sim_run*().
 *
 * Ownership: caller-owned events are only linked, never freed (at destroy
 * their optional dispose hook is called so the owner can release them);
 * loop-owned one-shot events are malloc'ed by zt_sim_call_at() and freed
 * here after they run or at zt_sim_destroy().
 */
#include "engine/evloop.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

/**
 * zt_sim_init() - start an empty simulation at time 0.
 * @sim:  the loop (caller-owned memory)
 * @seed: seeds the loop's generator, the only randomness of the simulation
 */
void zt_sim_init(struct zt_sim *sim, uint64_t seed)
{
	zt_heap_init(&sim->queue);
	sim->now = 0;
	sim->seed = seed;
	sim->events_run = 0;
	zt_rng_seed(&sim->rng, seed);
	sim->running = false;
}

/**
 * zt_sim_event_init() - prepare a caller-owned event.
 * @ev:  the event (caller-owned)
 * @fn:  called with (sim, @arg) when the event runs
 * @arg: passed through; borrowed
 *
 * The event starts not pending and without a dispose hook. A zero-filled
 * event is also "not pending" (safe to cancel) but has no callback.
 */
void zt_sim_event_init(struct zt_sim_event *ev, zt_sim_fn fn, void *arg)
{
	zt_heap_node_init(&ev->node);
	ev->fn = fn;
	ev->arg = arg;
	ev->dispose = NULL;
	ev->loop_owned = false;
}

/**
 * zt_sim_at() - schedule a caller-owned event at absolute time @t.
 * @sim: the loop
 * @ev:  an initialised event; must stay valid until it runs or is cancelled
 * @t:   virtual time in ns; a time before now means now
 *
 * A pending event is moved: it then orders after every event already at
 * its new time.
 */
void zt_sim_at(struct zt_sim *sim, struct zt_sim_event *ev, uint64_t t)
{
	zt_heap_insert(&sim->queue, &ev->node, t < sim->now ? sim->now : t);
}

/**
 * zt_sim_after() - schedule a caller-owned event @delay ns from now.
 * @sim:   the loop
 * @ev:    as for zt_sim_at()
 * @delay: ns; now + delay saturates at UINT64_MAX
 */
void zt_sim_after(struct zt_sim *sim, struct zt_sim_event *ev, uint64_t delay)
{
	zt_sim_at(sim, ev, zt_sim_time_add(sim->now, delay));
}

/**
 * zt_sim_cancel() - unschedule a caller-owned event.
 * @sim: the loop the event was scheduled on
 * @ev:  the event; safe when it already ran, was cancelled or never
 *       scheduled (including while it runs: it is no longer pending then)
 *
 * Return: true if the event was pending and now is not.
 */
bool zt_sim_cancel(struct zt_sim *sim, struct zt_sim_event *ev)
{
	return zt_heap_remove(&sim->queue, &ev->node);
}

/**
 * zt_sim_call_at() - schedule a loop-owned one-shot call at time @t.
 * @sim: the loop
 * @t:   virtual time in ns; a time before now means now
 * @fn:  the callback
 * @arg: passed through; borrowed (the loop never frees it)
 *
 * The loop allocates the event and frees it after @fn returns, or at
 * zt_sim_destroy() if it never ran. It cannot be cancelled.
 *
 * Return: 0 or -ENOMEM.
 */
int zt_sim_call_at(struct zt_sim *sim, uint64_t t, zt_sim_fn fn, void *arg)
{
	struct zt_sim_event *ev = malloc(sizeof(*ev));

	if (!ev)
		return -ENOMEM;
	zt_sim_event_init(ev, fn, arg);
	ev->loop_owned = true;
	zt_sim_at(sim, ev, t);
	return 0;
}

/**
 * zt_sim_call_after() - zt_sim_call_at() @delay ns from now.
 * @sim:   the loop
 * @delay: ns, saturating
 * @fn:    the callback
 * @arg:   passed through; borrowed
 *
 * Return: 0 or -ENOMEM.
 */
int zt_sim_call_after(struct zt_sim *sim, uint64_t delay, zt_sim_fn fn,
		      void *arg)
{
	return zt_sim_call_at(sim, zt_sim_time_add(sim->now, delay), fn, arg);
}

/**
 * zt_sim_next_time() - time of the earliest pending event.
 * @sim: the loop
 * @t:   set to that time when there is one
 *
 * Return: false when nothing is pending.
 */
bool zt_sim_next_time(const struct zt_sim *sim, uint64_t *t)
{
	const struct zt_heap_node *min = zt_heap_min(&sim->queue);

	if (!min)
		return false;
	*t = zt_heap_node_deadline(min);
	return true;
}

/* Unlink the earliest event, advance the clock to it and run it. */
static void run_next(struct zt_sim *sim)
{
	struct zt_heap_node *node = zt_heap_pop(&sim->queue);
	struct zt_sim_event *ev = zt_heap_entry(node, struct zt_sim_event, node);
	bool loop_owned = ev->loop_owned;

	if (node->deadline > sim->now)
		sim->now = node->deadline;
	sim->events_run++;
	if (ev->fn)
		ev->fn(sim, ev->arg);
	/* A caller-owned event may be rescheduled or freed by its callback:
	 * hands off it from here on. */
	if (loop_owned)
		free(ev);
}

/**
 * zt_sim_run_until() - run every event whose time is <= @t, in order.
 * @sim: the loop (not already running)
 * @t:   the time to advance to
 *
 * Events scheduled by the callbacks at or before @t run too. Afterwards
 * now is exactly @t (or unchanged if @t is before now: time never goes
 * back). An event that keeps rescheduling itself at or before @t keeps
 * this from returning: use zt_sim_run() when a hang is possible.
 *
 * Return: the number of events run.
 */
uint64_t zt_sim_run_until(struct zt_sim *sim, uint64_t t)
{
	uint64_t start = sim->events_run;
	uint64_t next;

	assert(!sim->running);
	sim->running = true;
	while (zt_sim_next_time(sim, &next) && next <= t)
		run_next(sim);
	if (t > sim->now)
		sim->now = t;
	sim->running = false;
	return sim->events_run - start;
}

/**
 * zt_sim_run() - run events in order until idle or a cap is hit.
 * @sim:        the loop (not already running)
 * @max_events: stop after running this many events
 * @max_time:   never run an event later than this
 *
 * Return: ZT_SIM_IDLE when no event is left (now is the time of the last
 * event run); ZT_SIM_TIME_CAP when the next event is after @max_time (now is
 * then @max_time, as with zt_sim_run_until()); ZT_SIM_EVENT_CAP when
 * @max_events ran and an event at or before @max_time is still pending (now
 * is the time of the last event run). The caps turn a livelock into a
 * result instead of a hang.
 */
enum zt_sim_stop zt_sim_run(struct zt_sim *sim, uint64_t max_events,
			    uint64_t max_time)
{
	enum zt_sim_stop stop;
	uint64_t ran = 0;
	uint64_t next;

	assert(!sim->running);
	sim->running = true;
	for (;;) {
		if (!zt_sim_next_time(sim, &next)) {
			stop = ZT_SIM_IDLE;
			break;
		}
		if (next > max_time) {
			if (max_time > sim->now)
				sim->now = max_time;
			stop = ZT_SIM_TIME_CAP;
			break;
		}
		if (ran >= max_events) {
			stop = ZT_SIM_EVENT_CAP;
			break;
		}
		run_next(sim);
		ran++;
	}
	sim->running = false;
	return stop;
}

/**
 * zt_sim_stop_name() - a stop reason as a constant string.
 * @stop: the reason
 *
 * Return: "idle", "event-cap", "time-cap" or "?".
 */
const char *zt_sim_stop_name(enum zt_sim_stop stop)
{
	switch (stop) {
	case ZT_SIM_IDLE:
		return "idle";
	case ZT_SIM_EVENT_CAP:
		return "event-cap";
	case ZT_SIM_TIME_CAP:
		return "time-cap";
	}
	return "?";
}

/**
 * zt_sim_destroy() - discard every pending event.
 * @sim: the loop (not running)
 *
 * Loop-owned events are freed; a caller-owned event is unlinked and its
 * dispose hook, if any, is called (in (time, seq) order) so its owner can
 * release it. The loop is left empty and may be reused; the clock is kept.
 */
void zt_sim_destroy(struct zt_sim *sim)
{
	struct zt_heap_node *node;

	assert(!sim->running);
	while ((node = zt_heap_pop(&sim->queue))) {
		struct zt_sim_event *ev =
			zt_heap_entry(node, struct zt_sim_event, node);

		if (ev->loop_owned)
			free(ev);
		else if (ev->dispose)
			ev->dispose(ev);
	}
}
