/* SPDX-License-Identifier: MIT */
/*
 * nat.c - the UDP NAT table.
 *
 * Theory of operation: all memory is taken at init: an array of
 * cfg.capacity sessions with a free list of their indices, two hash
 * indexes of (mask + 1) >= 2 * capacity slots, and a bitmap of the port
 * range. A slot of an index holds a session index + 1, or 0 when empty.
 *
 *   forward  keyed by (family, proto, src, sport, dst, dport), hashed with
 *            a key drawn from the host's generator at init, so a client
 *            choosing its ports cannot aim for long probe runs without
 *            knowing the key (the mixer is not a cryptographic PRF; probe
 *            runs stay bounded by the table size regardless);
 *   reverse  keyed by the mapped port alone, which is unique among live
 *            sessions; the remote address and port are checked after.
 *
 * Both use linear probing at load <= 1/2, and deletion by backward shift:
 * the entries after the hole move back when their home slot allows it, so
 * no tombstones build up under churn and a miss always ends at an empty
 * slot within the run that holds the key.
 *
 * Ports: the bitmap has one bit per port of the range (bits past its end
 * preset), and the first clear bit at or after a starting point is found a
 * 64-bit word at a time, so a pick costs at most nports / 64 word reads.
 *
 * Expiry is lazy: each session is in a timer heap at the deadline it had
 * when last scheduled; zt_nat_touch() only moves last_seen, in O(1). When
 * a timer comes up (in zt_nat_expire() or zt_nat_next_deadline()) the
 * session's real deadline (last_seen + timeout) is compared: a session
 * still alive is rescheduled, so each touch costs at most one heap update,
 * and only for sessions whose old deadline came up. After
 * zt_nat_next_deadline() fixes up the minimum, that minimum is exact: every
 * other entry is scheduled no earlier and real deadlines only grow.
 */
#include "ztun/nat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ztun/hash.h"

#define NAT_NEVER UINT64_MAX

/**
 * zt_nat_config_default() - the defaults of the design: 8192 sessions,
 * ports 10000-60000, 30 s timeout, unbounded expiry batches.
 * @cfg: filled
 */
void zt_nat_config_default(struct zt_nat_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = 8192;
	cfg->port_start = 10000;
	cfg->port_end = 60000;
	cfg->timeout = 30ull * 1000000000ull;
	cfg->expire_batch = 0;
}

/* --- keys and hashes -------------------------------------------------- */

static bool family_ok(uint8_t f)
{
	return f == ZT_AF_INET || f == ZT_AF_INET6;
}

/* A copy of @a with the unused bytes of an IPv4 address zeroed. */
static struct zt_addr addr_norm(const struct zt_addr *a)
{
	struct zt_addr n;

	memset(&n, 0, sizeof(n));
	n.family = a->family;
	memcpy(n.bytes, a->bytes, a->family == ZT_AF_INET ? 4 : 16);
	return n;
}

static int key_norm(const struct zt_nat_key *k, struct zt_nat_key *n)
{
	if (!family_ok(k->src.family) || k->dst.family != k->src.family)
		return -EINVAL;
	memset(n, 0, sizeof(*n));
	n->proto = k->proto;
	n->sport = k->sport;
	n->dport = k->dport;
	n->src = addr_norm(&k->src);
	n->dst = addr_norm(&k->dst);
	return 0;
}

static bool key_eq(const struct zt_nat_key *a, const struct zt_nat_key *b)
{
	return a->proto == b->proto && a->sport == b->sport &&
	       a->dport == b->dport && zt_addr_eq(&a->src, &b->src) &&
	       zt_addr_eq(&a->dst, &b->dst);
}

static uint32_t key_hash(const struct zt_nat *t, const struct zt_nat_key *k)
{
	uint8_t b[40];

	b[0] = k->src.family;
	b[1] = k->proto;
	b[2] = (uint8_t)(k->sport >> 8);
	b[3] = (uint8_t)k->sport;
	b[4] = (uint8_t)(k->dport >> 8);
	b[5] = (uint8_t)k->dport;
	b[6] = b[7] = 0;
	memcpy(b + 8, k->src.bytes, 16);
	memcpy(b + 24, k->dst.bytes, 16);
	return zt_hash_bytes(t->hash_key, b, sizeof(b));
}

static uint32_t port_hash(const struct zt_nat *t, uint16_t port)
{
	uint64_t h = zt_hash_mix64(t->hash_key ^ ((uint64_t)port << 17 | 0x5bd1));

	return (uint32_t)(h ^ (h >> 32));
}

/* --- the two indexes -------------------------------------------------- */

static uint32_t home_of(const struct zt_nat *t, const uint32_t *tab,
			uint32_t ref)
{
	const struct zt_nat_session *s = &t->sessions[ref - 1];

	return (tab == t->fwd ? s->fwd_hash : port_hash(t, s->mapped_port)) &
	       t->mask;
}

static void idx_put(const struct zt_nat *t, uint32_t *tab, uint32_t hash,
		    uint32_t ref)
{
	uint32_t i;

	for (i = hash & t->mask; tab[i]; i = (i + 1) & t->mask)
		;
	tab[i] = ref;
}

/* Empty slot @i and shift back the entries after it that may move. */
static void idx_del(const struct zt_nat *t, uint32_t *tab, uint32_t i)
{
	uint32_t j = i;

	for (;;) {
		uint32_t h;

		j = (j + 1) & t->mask;
		if (!tab[j])
			break;
		h = home_of(t, tab, tab[j]);
		/* The entry at j may fill hole i when its home is not in the
		 * cyclic interval (i, j]. */
		if (i <= j ? (h <= i || h > j) : (h <= i && h > j)) {
			tab[i] = tab[j];
			i = j;
		}
	}
	tab[i] = 0;
}

/* Remove reference @ref from @tab, probing from @hash. */
static void idx_remove(const struct zt_nat *t, uint32_t *tab, uint32_t hash,
		       uint32_t ref)
{
	uint32_t i;

	for (i = hash & t->mask; tab[i] != ref; i = (i + 1) & t->mask)
		;
	idx_del(t, tab, i);
}

static struct zt_nat_session *fwd_find(const struct zt_nat *t,
				       const struct zt_nat_key *k,
				       uint32_t hash)
{
	for (uint32_t i = hash & t->mask; t->fwd[i]; i = (i + 1) & t->mask) {
		struct zt_nat_session *s = &t->sessions[t->fwd[i] - 1];

		if (s->fwd_hash == hash && key_eq(&s->key, k))
			return s;
	}
	return NULL;
}

static struct zt_nat_session *rev_find(const struct zt_nat *t, uint16_t port)
{
	for (uint32_t i = port_hash(t, port) & t->mask; t->rev[i];
	     i = (i + 1) & t->mask) {
		struct zt_nat_session *s = &t->sessions[t->rev[i] - 1];

		if (s->mapped_port == port)
			return s;
	}
	return NULL;
}

/* --- ports ------------------------------------------------------------ */

/* First clear bit in [from, to), or -1. */
static int64_t port_find_free(const uint64_t *bm, uint32_t from, uint32_t to)
{
	while (from < to) {
		uint32_t w = from >> 6;
		uint64_t clear = ~bm[w] & (~0ull << (from & 63));

		if (clear) {
			uint32_t p = (w << 6) + (uint32_t)__builtin_ctzll(clear);

			return p < to ? (int64_t)p : -1;
		}
		from = (w + 1) << 6;
	}
	return -1;
}

static int port_pick(struct zt_nat *t, uint32_t *off)
{
	uint32_t start = t->rng ? (uint32_t)zt_rng_below(t->rng, t->nports) :
				  t->cursor;
	int64_t p = port_find_free(t->port_used, start, t->nports);

	if (p < 0)
		p = port_find_free(t->port_used, 0, start);
	if (p < 0)
		return -ENOSPC;
	*off = (uint32_t)p;
	t->cursor = (uint32_t)p + 1 == t->nports ? 0 : (uint32_t)p + 1;
	return 0;
}

static void port_set(struct zt_nat *t, uint32_t off, bool used)
{
	if (used)
		t->port_used[off >> 6] |= 1ull << (off & 63);
	else
		t->port_used[off >> 6] &= ~(1ull << (off & 63));
}

/* --- lifecycle -------------------------------------------------------- */

/**
 * zt_nat_init() - an empty NAT table.
 * @t: the table (caller-owned)
 * @cfg: configuration, copied
 * @rng: draws the hash key at init and port starting points later
 *       (borrowed, must outlive @t); NULL: fixed key, rotating cursor
 *
 * Return: 0, -EINVAL or -ENOMEM (@t is then empty, destroy is harmless).
 */
int zt_nat_init(struct zt_nat *t, const struct zt_nat_config *cfg,
		struct zt_rng *rng)
{
	uint32_t slots = 16, words;

	memset(t, 0, sizeof(*t));
	if (cfg->capacity == 0 || cfg->capacity > ZT_NAT_MAX_CAPACITY ||
	    cfg->port_start == 0 || cfg->port_start > cfg->port_end ||
	    cfg->timeout == 0)
		return -EINVAL;
	t->cfg = *cfg;
	t->rng = rng;
	t->nports = (uint32_t)cfg->port_end - cfg->port_start + 1;
	while (slots < 2 * cfg->capacity)
		slots *= 2;
	t->mask = slots - 1;
	words = (t->nports + 63) / 64;
	t->sessions = calloc(cfg->capacity, sizeof(*t->sessions));
	t->free_list = calloc(cfg->capacity, sizeof(*t->free_list));
	t->fwd = calloc(slots, sizeof(*t->fwd));
	t->rev = calloc(slots, sizeof(*t->rev));
	t->port_used = calloc(words, sizeof(*t->port_used));
	if (!t->sessions || !t->free_list || !t->fwd || !t->rev ||
	    !t->port_used) {
		zt_nat_destroy(t);
		return -ENOMEM;
	}
	if (t->nports & 63)
		t->port_used[words - 1] = ~0ull << (t->nports & 63);
	/* Hand out low indices first. */
	for (uint32_t i = 0; i < cfg->capacity; i++) {
		t->sessions[i].index = i;
		t->free_list[i] = cfg->capacity - 1 - i;
	}
	t->n_free = cfg->capacity;
	t->hash_key = rng ? zt_rng_next(rng) : 0x9e3779b97f4a7c15ull;
	zt_heap_init(&t->timers);
	return 0;
}

/**
 * zt_nat_destroy() - free @t's memory; its sessions vanish without
 * callbacks. @t is left empty.
 * @t: the table
 */
void zt_nat_destroy(struct zt_nat *t)
{
	free(t->sessions);
	free(t->free_list);
	free(t->fwd);
	free(t->rev);
	free(t->port_used);
	memset(t, 0, sizeof(*t));
}

static uint64_t deadline_of(const struct zt_nat *t,
			    const struct zt_nat_session *s)
{
	return s->last_seen > NAT_NEVER - t->cfg.timeout ?
		       NAT_NEVER : s->last_seen + t->cfg.timeout;
}

/**
 * zt_nat_lookup() - the session of a forward key.
 * @t: the table
 * @key: protocol, client and remote (borrowed)
 *
 * Return: the session (owned by @t), or NULL.
 */
struct zt_nat_session *zt_nat_lookup(struct zt_nat *t,
				     const struct zt_nat_key *key)
{
	struct zt_nat_key k;
	struct zt_nat_session *s;

	t->stats.lookups++;
	if (key_norm(key, &k))
		return NULL;
	s = fwd_find(t, &k, key_hash(t, &k));
	if (s)
		t->stats.hits++;
	return s;
}

/**
 * zt_nat_insert() - open a session for @key at @now.
 * @t: the table
 * @key: the forward key (copied)
 * @now: the host's time in ns; the session expires at now + timeout
 * @out: receives the session (owned by @t) on success
 *
 * Return: 0, -EEXIST, -ENOSPC (capacity first, then ports) or -EINVAL;
 * every failure is counted in insert_failures.
 */
int zt_nat_insert(struct zt_nat *t, const struct zt_nat_key *key,
		  uint64_t now, struct zt_nat_session **out)
{
	struct zt_nat_key k;
	struct zt_nat_session *s;
	uint32_t hash, off;

	if (key_norm(key, &k)) {
		t->stats.insert_failures++;
		return -EINVAL;
	}
	hash = key_hash(t, &k);
	if (fwd_find(t, &k, hash)) {
		t->stats.insert_failures++;
		return -EEXIST;
	}
	if (t->n_free == 0) {
		t->stats.insert_failures++;
		t->stats.insert_no_slot++;
		return -ENOSPC;
	}
	if (port_pick(t, &off)) {
		t->stats.insert_failures++;
		t->stats.insert_no_port++;
		return -ENOSPC;
	}
	s = &t->sessions[t->free_list[--t->n_free]];
	s->key = k;
	s->mapped_port = (uint16_t)(t->cfg.port_start + off);
	s->created = now;
	s->last_seen = now;
	s->user = NULL;
	s->fwd_hash = hash;
	s->live = true;
	zt_heap_node_init(&s->timer);
	port_set(t, off, true);
	idx_put(t, t->fwd, hash, s->index + 1);
	idx_put(t, t->rev, port_hash(t, s->mapped_port), s->index + 1);
	zt_heap_insert(&t->timers, &s->timer, deadline_of(t, s));
	t->stats.created++;
	t->stats.active++;
	*out = s;
	return 0;
}

/**
 * zt_nat_reverse_lookup() - the session a reply belongs to.
 * @t: the table
 * @mapped_port: the egress port the reply was sent to
 * @remote: the reply's source address (borrowed)
 * @rport: the reply's source port
 *
 * Return: the session owning @mapped_port whose remote is @remote:@rport,
 * or NULL.
 */
struct zt_nat_session *zt_nat_reverse_lookup(struct zt_nat *t,
					     uint16_t mapped_port,
					     const struct zt_addr *remote,
					     uint16_t rport)
{
	struct zt_nat_session *s;
	struct zt_addr r;

	t->stats.reverse_lookups++;
	if (mapped_port < t->cfg.port_start || mapped_port > t->cfg.port_end ||
	    !family_ok(remote->family))
		return NULL;
	s = rev_find(t, mapped_port);
	r = addr_norm(remote);
	if (!s || s->key.dport != rport || !zt_addr_eq(&s->key.dst, &r))
		return NULL;
	t->stats.reverse_hits++;
	return s;
}

/**
 * zt_nat_touch() - note traffic on @s at @now (either direction).
 * @t: the table
 * @s: a live session of @t
 * @now: the host's time; earlier than the last touch changes nothing
 */
void zt_nat_touch(struct zt_nat *t, struct zt_nat_session *s, uint64_t now)
{
	(void)t;
	if (now > s->last_seen)
		s->last_seen = now;
}

static void unlink_session(struct zt_nat *t, struct zt_nat_session *s)
{
	idx_remove(t, t->fwd, s->fwd_hash, s->index + 1);
	idx_remove(t, t->rev, port_hash(t, s->mapped_port), s->index + 1);
	port_set(t, (uint32_t)s->mapped_port - t->cfg.port_start, false);
	zt_heap_remove(&t->timers, &s->timer);
	s->live = false;
	t->free_list[t->n_free++] = s->index;
	t->stats.active--;
}

/**
 * zt_nat_remove() - forget @s; its port is free again.
 * @t: the table
 * @s: a live session of @t, invalid after the call
 */
void zt_nat_remove(struct zt_nat *t, struct zt_nat_session *s)
{
	unlink_session(t, s);
	t->stats.removed++;
}

/**
 * zt_nat_expire() - remove every session expired at @now.
 * @t: the table
 * @now: the host's time
 * @cb: told of each session before it goes (may be NULL)
 * @ctx: passed to @cb
 *
 * At most cfg.expire_batch timer entries are handled when that is non-zero
 * (a rescheduled, touched session counts as one); call again while
 * zt_nat_next_deadline() <= @now.
 *
 * Return: the number of sessions removed.
 */
size_t zt_nat_expire(struct zt_nat *t, uint64_t now, zt_nat_expire_fn cb,
		     void *ctx)
{
	struct zt_heap_node *n;
	size_t removed = 0;
	uint32_t work = 0;

	while ((n = zt_heap_min(&t->timers)) &&
	       zt_heap_node_deadline(n) <= now) {
		struct zt_nat_session *s =
			zt_heap_entry(n, struct zt_nat_session, timer);
		uint64_t d = deadline_of(t, s);

		if (t->cfg.expire_batch && work == t->cfg.expire_batch)
			break;
		work++;
		if (d > now) {
			zt_heap_update(&t->timers, n, d);
			continue;
		}
		if (cb)
			cb(ctx, s, now);
		unlink_session(t, s);
		t->stats.expired++;
		removed++;
	}
	return removed;
}

/**
 * zt_nat_next_deadline() - when the next session expires.
 * @t: the table (its timers may be rescheduled)
 *
 * Return: the earliest last_seen + timeout of a live session, exactly, or
 * UINT64_MAX when there is none.
 */
uint64_t zt_nat_next_deadline(struct zt_nat *t)
{
	struct zt_heap_node *n;

	while ((n = zt_heap_min(&t->timers))) {
		struct zt_nat_session *s =
			zt_heap_entry(n, struct zt_nat_session, timer);
		uint64_t d = deadline_of(t, s);

		if (d == zt_heap_node_deadline(n))
			return d;
		zt_heap_update(&t->timers, n, d);
	}
	return NAT_NEVER;
}

/* Whether @tab holds @ref reachable by probing from @hash. */
static bool idx_holds(const struct zt_nat *t, const uint32_t *tab,
		      uint32_t hash, uint32_t ref)
{
	for (uint32_t i = hash & t->mask; tab[i]; i = (i + 1) & t->mask)
		if (tab[i] == ref)
			return true;
	return false;
}

/**
 * zt_nat_check() - verify the table's invariants.
 * @t: the table
 *
 * Every live session is reachable in both indexes from its home slot, its
 * hash and port are right, its port bit is set and its timer is linked no
 * later than its real deadline; the indexes hold nothing else; the free
 * list names exactly the other sessions; the counts agree.
 *
 * Return: 0 or -EINVAL.
 */
int zt_nat_check(const struct zt_nat *t)
{
	uint32_t live = 0, nfwd = 0, nrev = 0, bits = 0;
	uint32_t words = (t->nports + 63) / 64;

	for (uint32_t i = 0; i < t->cfg.capacity; i++) {
		const struct zt_nat_session *s = &t->sessions[i];
		uint32_t off;

		if (s->index != i)
			return -EINVAL;
		if (!s->live)
			continue;
		live++;
		if (s->fwd_hash != key_hash(t, &s->key) ||
		    s->mapped_port < t->cfg.port_start ||
		    s->mapped_port > t->cfg.port_end ||
		    !idx_holds(t, t->fwd, s->fwd_hash, i + 1) ||
		    !idx_holds(t, t->rev, port_hash(t, s->mapped_port), i + 1))
			return -EINVAL;
		off = (uint32_t)s->mapped_port - t->cfg.port_start;
		if (!(t->port_used[off >> 6] >> (off & 63) & 1))
			return -EINVAL;
		if (!zt_heap_node_linked(&s->timer) ||
		    zt_heap_node_deadline(&s->timer) > deadline_of(t, s))
			return -EINVAL;
	}
	for (uint32_t i = 0; i <= t->mask; i++) {
		if (t->fwd[i]) {
			if (t->fwd[i] > t->cfg.capacity ||
			    !t->sessions[t->fwd[i] - 1].live)
				return -EINVAL;
			nfwd++;
		}
		if (t->rev[i]) {
			if (t->rev[i] > t->cfg.capacity ||
			    !t->sessions[t->rev[i] - 1].live)
				return -EINVAL;
			nrev++;
		}
	}
	for (uint32_t w = 0; w < words; w++) {
		uint64_t v = t->port_used[w];

		if (w == words - 1 && (t->nports & 63)) {
			uint64_t pad = ~0ull << (t->nports & 63);

			if ((v & pad) != pad)
				return -EINVAL;
			v &= ~pad;
		}
		for (; v; v &= v - 1) /* no libgcc popcount helper */
			bits++;
	}
	for (uint32_t i = 0; i < t->n_free; i++)
		if (t->free_list[i] >= t->cfg.capacity ||
		    t->sessions[t->free_list[i]].live)
			return -EINVAL;
	if (live != t->stats.active || nfwd != live || nrev != live ||
	    bits != live || t->n_free + live != t->cfg.capacity ||
	    zt_heap_count(&t->timers) != live || zt_heap_check(&t->timers))
		return -EINVAL;
	return 0;
}
