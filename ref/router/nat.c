/* SPDX-License-Identifier: MIT */
/*
 * nat.c - the UDP NAT table.
 *
 * Theory of operation: all memory is taken at init: an array of
 * cfg.capacity sessions with a free list of their indices, three hash
 * indexes of (mask + 1) >= 2 * capacity slots, and a bitmap of the port
 * range. A slot of an index holds a session index + 1, or 0 when empty.
 *
 * The mapping is endpoint-independent (RFC 4787 REQ-1): the sessions of one
 * client endpoint (proto, src, sport) share one mapped port, so a STUN
 * server and a peer see the same one. The filtering stays address- and
 * port-dependent (RFC 4787 5): a reply is let in only from the remote of a
 * session on its port; the router may add endpoint-independent filtering
 * on top.
 *
 *   forward   keyed by (family, proto, src, sport, dst, dport), hashed with
 *             a key drawn from the host's generator at init, so a client
 *             choosing its ports cannot aim for long probe runs without
 *             knowing the key (the mixer is not a cryptographic PRF; probe
 *             runs stay bounded by the table size regardless);
 *   reverse   keyed by (mapped port, remote address, remote port), unique
 *             among live sessions since a port has one client endpoint;
 *   endpoint  keyed by (family, proto, src, sport), holding one session
 *             per client endpoint, its "leader". The sessions of an
 *             endpoint are on a ring (ep_next, ep_prev): an insert joins
 *             the leader's ring and takes its port; a removal leaves the
 *             ring, hands the index slot to the next session when it was
 *             the leader (same key, same slot), and releases the port only
 *             when it was alone. One entry per endpoint rather than one per
 *             session keeps the probe runs short when a client socket
 *             talks to many remotes: duplicates of one key would all pile
 *             into one run.
 *
 * The three share one key layout (struct nat_ikey, unused fields zero), so
 * one hash, one comparison and one set of probing helpers serve them all.
 * They use linear probing at load <= 1/2, and deletion by backward shift:
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

/* The indexes. */
enum { NAT_FWD, NAT_REV, NAT_EP, NAT_NIDX };
_Static_assert(NAT_NIDX == ZT_NAT_NINDEX, "nat.h sizes the index arrays");

/*
 * An index's key as bytes: family, proto (0 for the reverse index, which a
 * reply does not name), which index, two ports and up to two addresses,
 * zero where unused, so that hashing and memcmp() see defined bytes only.
 */
struct nat_ikey {
	uint8_t b[40];
};

static uint32_t ikey_make(const struct zt_nat *t, int w,
			  const struct zt_nat_key *k, uint16_t mapped,
			  struct nat_ikey *ik)
{
	const struct zt_addr *a1 = w == NAT_REV ? &k->dst : &k->src;
	uint16_t p1 = w == NAT_REV ? mapped : k->sport;
	uint16_t p2 = w == NAT_EP ? 0 : k->dport;

	memset(ik, 0, sizeof(*ik));
	ik->b[0] = a1->family;
	ik->b[1] = w == NAT_REV ? 0 : k->proto;
	ik->b[2] = (uint8_t)w;
	ik->b[4] = (uint8_t)(p1 >> 8);
	ik->b[5] = (uint8_t)p1;
	ik->b[6] = (uint8_t)(p2 >> 8);
	ik->b[7] = (uint8_t)p2;
	memcpy(ik->b + 8, a1->bytes, 16);
	if (w == NAT_FWD)
		memcpy(ik->b + 24, k->dst.bytes, 16);
	/* Only the forward key uses the last 16 bytes. */
	return zt_hash_bytes(t->hash_key, ik->b, w == NAT_FWD ? 40 : 24);
}

/* @s's key in index @w, and its hash. */
static uint32_t sess_ikey(const struct zt_nat *t, int w,
			  const struct zt_nat_session *s, struct nat_ikey *ik)
{
	return ikey_make(t, w, &s->key, s->mapped_port, ik);
}

/* --- the three indexes ------------------------------------------------ */

static uint32_t home_of(const struct zt_nat *t, int w, uint32_t ref)
{
	return t->sessions[ref - 1].hash[w] & t->mask;
}

/* The slot of index @w holding key @ik (hash @hash), or NULL. */
static uint32_t *idx_find(const struct zt_nat *t, int w, uint32_t hash,
			  const struct nat_ikey *ik)
{
	uint32_t *tab = t->idx[w];

	for (uint32_t i = hash & t->mask; tab[i]; i = (i + 1) & t->mask) {
		const struct zt_nat_session *s = &t->sessions[tab[i] - 1];
		struct nat_ikey sk;

		if (s->hash[w] != hash)
			continue;
		sess_ikey(t, w, s, &sk);
		if (!memcmp(&sk, ik, sizeof(sk)))
			return &tab[i];
	}
	return NULL;
}

/* Add @s to index @w at its hash there. */
static void idx_put(struct zt_nat *t, int w, const struct zt_nat_session *s)
{
	uint32_t *tab = t->idx[w], i;

	for (i = s->hash[w] & t->mask; tab[i]; i = (i + 1) & t->mask)
		;
	tab[i] = s->index + 1;
}

/* Empty slot @i of index @w and shift back the entries after it that may
 * move. */
static void idx_del(struct zt_nat *t, int w, uint32_t i)
{
	uint32_t *tab = t->idx[w], j = i;

	for (;;) {
		uint32_t h;

		j = (j + 1) & t->mask;
		if (!tab[j])
			break;
		h = home_of(t, w, tab[j]);
		/* The entry at j may fill hole i when its home is not in the
		 * cyclic interval (i, j]. */
		if (i <= j ? (h <= i || h > j) : (h <= i && h > j)) {
			tab[i] = tab[j];
			i = j;
		}
	}
	tab[i] = 0;
}

/* Remove @s, which is there, from index @w. */
static void idx_remove(struct zt_nat *t, int w, const struct zt_nat_session *s)
{
	uint32_t *tab = t->idx[w], i;

	for (i = s->hash[w] & t->mask; tab[i] != s->index + 1;
	     i = (i + 1) & t->mask)
		;
	idx_del(t, w, i);
}

/* --- client endpoints ------------------------------------------------- */

/* @s joins the ring of leader @l, its endpoint's. */
static void ep_join(struct zt_nat *t, struct zt_nat_session *l,
		   struct zt_nat_session *s)
{
	struct zt_nat_session *n = &t->sessions[l->ep_next];

	s->ep_prev = l->index;
	s->ep_next = n->index;
	n->ep_prev = s->index;
	l->ep_next = s->index;
}

/* @s leaves its endpoint's ring, which others stay on; the endpoint index
 * then names the next one if it named @s (same key, so the same slot). */
static void ep_leave(struct zt_nat *t, struct zt_nat_session *s)
{
	struct zt_nat_session *n = &t->sessions[s->ep_next];
	struct nat_ikey ik;
	uint32_t *slot;

	t->sessions[s->ep_prev].ep_next = n->index;
	n->ep_prev = s->ep_prev;
	sess_ikey(t, NAT_EP, s, &ik);
	slot = idx_find(t, NAT_EP, s->hash[NAT_EP], &ik);
	if (slot && *slot == s->index + 1)
		*slot = n->index + 1;
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

static bool port_bit(const uint64_t *bm, uint32_t off)
{
	return bm[off >> 6] >> (off & 63) & 1;
}

static void port_set(struct zt_nat *t, uint32_t off, bool used)
{
	if (used)
		t->port_used[off >> 6] |= 1ull << (off & 63);
	else
		t->port_used[off >> 6] &= ~(1ull << (off & 63));
}

/* @s's port as an offset into the range (and the bitmap). */
static uint32_t port_off(const struct zt_nat *t, const struct zt_nat_session *s)
{
	return (uint32_t)s->mapped_port - t->cfg.port_start;
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
	t->port_used = calloc(words, sizeof(*t->port_used));
	if (!t->sessions || !t->free_list || !t->port_used)
		goto nomem;
	for (int w = 0; w < NAT_NIDX; w++) {
		t->idx[w] = calloc(slots, sizeof(*t->idx[w]));
		if (!t->idx[w])
			goto nomem;
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
nomem:
	zt_nat_destroy(t);
	return -ENOMEM;
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
	for (int w = 0; w < NAT_NIDX; w++)
		free(t->idx[w]);
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
	struct nat_ikey ik;
	uint32_t *slot;

	t->stats.lookups++;
	if (key_norm(key, &k))
		return NULL;
	slot = idx_find(t, NAT_FWD, ikey_make(t, NAT_FWD, &k, 0, &ik), &ik);
	if (!slot)
		return NULL;
	t->stats.hits++;
	return &t->sessions[*slot - 1];
}

/**
 * zt_nat_insert() - open a session for @key at @now.
 * @t: the table
 * @key: the forward key (copied)
 * @now: the host's time in ns; the session expires at now + timeout
 * @out: receives the session (owned by @t) on success
 *
 * The session takes the mapped port of its client endpoint when that has
 * a live session (RFC 4787 REQ-1), else a fresh one.
 *
 * Return: 0, -EEXIST, -ENOSPC (capacity first, then ports, only when a
 * fresh port is needed) or -EINVAL; every failure is counted in
 * insert_failures.
 */
int zt_nat_insert(struct zt_nat *t, const struct zt_nat_key *key,
		  uint64_t now, struct zt_nat_session **out)
{
	return zt_nat_insert_avoid(t, key, now, NULL, 0, out);
}

/* A fresh port for a new endpoint, none of @avoid's: those free in the
 * bitmap are marked used for the pick and freed right after, so the
 * bitmap's invariant (a bit per held port) holds outside this call. */
static int port_pick_avoid(struct zt_nat *t, const uint16_t *avoid,
			   unsigned n, uint32_t *off)
{
	uint64_t marked[4] = { 0 }; /* which of avoid[0..255] this marked */
	int err;

	if (n > 256)
		n = 256;
	for (unsigned i = 0; i < n; i++) {
		uint32_t o = (uint32_t)avoid[i] - t->cfg.port_start;

		if (avoid[i] < t->cfg.port_start || avoid[i] > t->cfg.port_end ||
		    port_bit(t->port_used, o))
			continue;
		port_set(t, o, true);
		marked[i >> 6] |= 1ull << (i & 63);
	}
	err = port_pick(t, off);
	for (unsigned i = 0; i < n; i++)
		if (marked[i >> 6] >> (i & 63) & 1)
			port_set(t, (uint32_t)avoid[i] - t->cfg.port_start, false);
	return err;
}

int zt_nat_insert_avoid(struct zt_nat *t, const struct zt_nat_key *key,
			uint64_t now, const uint16_t *avoid, unsigned n,
			struct zt_nat_session **out)
{
	struct zt_nat_key k;
	struct nat_ikey ik;
	struct zt_nat_session *s, *leader = NULL;
	uint32_t hash[NAT_NIDX], *slot, off;

	if (key_norm(key, &k)) {
		t->stats.insert_failures++;
		return -EINVAL;
	}
	hash[NAT_FWD] = ikey_make(t, NAT_FWD, &k, 0, &ik);
	if (idx_find(t, NAT_FWD, hash[NAT_FWD], &ik)) {
		t->stats.insert_failures++;
		return -EEXIST;
	}
	if (t->n_free == 0) {
		t->stats.insert_failures++;
		t->stats.insert_no_slot++;
		return -ENOSPC;
	}
	hash[NAT_EP] = ikey_make(t, NAT_EP, &k, 0, &ik);
	slot = idx_find(t, NAT_EP, hash[NAT_EP], &ik);
	if (slot) {
		leader = &t->sessions[*slot - 1];
		off = port_off(t, leader);
	} else if (port_pick_avoid(t, avoid, n, &off)) {
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
	hash[NAT_REV] = ikey_make(t, NAT_REV, &k, s->mapped_port, &ik);
	memcpy(s->hash, hash, sizeof(s->hash));
	s->live = true;
	zt_heap_node_init(&s->timer);
	idx_put(t, NAT_FWD, s);
	idx_put(t, NAT_REV, s);
	if (leader) {
		ep_join(t, leader, s);
	} else {
		/* The endpoint's first session: it leads a ring of one. */
		s->ep_next = s->ep_prev = s->index;
		idx_put(t, NAT_EP, s);
		port_set(t, off, true);
		t->stats.mappings++;
		t->stats.mappings_created++;
	}
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
 * Return: the session mapped to @mapped_port whose remote is exactly
 * @remote:@rport (address- and port-dependent filtering), or NULL.
 */
struct zt_nat_session *zt_nat_reverse_lookup(struct zt_nat *t,
					     uint16_t mapped_port,
					     const struct zt_addr *remote,
					     uint16_t rport)
{
	struct zt_nat_key k;
	struct nat_ikey ik;
	uint32_t *slot;

	t->stats.reverse_lookups++;
	if (mapped_port < t->cfg.port_start || mapped_port > t->cfg.port_end ||
	    !family_ok(remote->family))
		return NULL;
	memset(&k, 0, sizeof(k));
	k.dst = addr_norm(remote);
	k.dport = rport;
	slot = idx_find(t, NAT_REV, ikey_make(t, NAT_REV, &k, mapped_port, &ik),
			&ik);
	if (!slot)
		return NULL;
	t->stats.reverse_hits++;
	return &t->sessions[*slot - 1];
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
	idx_remove(t, NAT_FWD, s);
	idx_remove(t, NAT_REV, s);
	if (s->ep_next == s->index) {
		/* Its endpoint's last session: the port is free again. */
		idx_remove(t, NAT_EP, s);
		port_set(t, port_off(t, s), false);
		t->stats.mappings--;
	} else {
		ep_leave(t, s);
	}
	zt_heap_remove(&t->timers, &s->timer);
	s->live = false;
	t->free_list[t->n_free++] = s->index;
	t->stats.active--;
}

/**
 * zt_nat_remove() - forget @s; its port is free again when it was its
 * client endpoint's last session.
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

/* A session's checks: its hashes, its place in each index, its ring and
 * port, its timer. */
static int check_session(const struct zt_nat *t,
			 const struct zt_nat_session *s)
{
	const struct zt_nat_session *n;
	struct nat_ikey ik, nk;

	if (s->mapped_port < t->cfg.port_start ||
	    s->mapped_port > t->cfg.port_end ||
	    !port_bit(t->port_used, port_off(t, s)))
		return -EINVAL;
	for (int w = 0; w < NAT_NIDX; w++) {
		uint32_t h = sess_ikey(t, w, s, &ik);
		const uint32_t *slot = h == s->hash[w] ?
					       idx_find(t, w, h, &ik) : NULL;

		if (!slot)
			return -EINVAL;
		/* Forward and reverse keys are unique: the first match is @s.
		 * The endpoint's leader has @s's port. */
		if (w != NAT_EP ? *slot != s->index + 1 :
		    t->sessions[*slot - 1].mapped_port != s->mapped_port)
			return -EINVAL;
	}
	/* The ring: links both ways, one endpoint, one port. */
	if (s->ep_next >= t->cfg.capacity || s->ep_prev >= t->cfg.capacity)
		return -EINVAL;
	n = &t->sessions[s->ep_next];
	if (!n->live || n->ep_prev != s->index ||
	    t->sessions[s->ep_prev].ep_next != s->index ||
	    n->mapped_port != s->mapped_port)
		return -EINVAL;
	sess_ikey(t, NAT_EP, s, &ik);
	sess_ikey(t, NAT_EP, n, &nk);
	if (memcmp(&ik, &nk, sizeof(ik)))
		return -EINVAL;
	if (!zt_heap_node_linked(&s->timer) ||
	    zt_heap_node_deadline(&s->timer) > deadline_of(t, s))
		return -EINVAL;
	return 0;
}

/* An endpoint index entry at @slot: the only one of its endpoint, the only
 * endpoint on its port (@seen); adds its ring's length to @ringed. */
static int check_leader(const struct zt_nat *t, uint32_t slot,
			uint64_t *seen, uint32_t *ringed)
{
	const struct zt_nat_session *l = &t->sessions[t->idx[NAT_EP][slot] - 1];
	uint32_t off = port_off(t, l), i = l->index, len = 0;
	struct nat_ikey ik;
	uint32_t h = sess_ikey(t, NAT_EP, l, &ik);

	if (idx_find(t, NAT_EP, h, &ik) != &t->idx[NAT_EP][slot] ||
	    port_bit(seen, off))
		return -EINVAL;
	seen[off >> 6] |= 1ull << (off & 63);
	/* The rings are consistent (check_session()), so this ends; the
	 * bound is for a broken table. */
	do {
		i = t->sessions[i].ep_next;
		if (++len > t->cfg.capacity)
			return -EINVAL;
	} while (i != l->index);
	*ringed += len;
	return 0;
}

/**
 * zt_nat_check() - verify the table's invariants.
 * @t: the table
 *
 * Every live session is found under its own key in the forward and reverse
 * indexes and under its client endpoint's in the endpoint index, its hashes
 * and port are right and its port bit set, its timer is linked no later
 * than its real deadline; it is on a ring of sessions of its endpoint, all
 * of one port, and each endpoint index entry leads a distinct ring, their
 * lengths summing to the live sessions. No two endpoints share a port, and
 * a port's bit is set iff an endpoint holds it; the indexes hold nothing
 * else; the free list names exactly the other sessions; the counts agree.
 *
 * Return: 0 or -EINVAL.
 */
int zt_nat_check(const struct zt_nat *t)
{
	uint64_t seen[65536 / 64]; /* the endpoints' ports; 8 KiB, any range */
	uint32_t live = 0, n[NAT_NIDX] = { 0 }, ringed = 0;
	uint32_t words = (t->nports + 63) / 64;

	memset(seen, 0, sizeof(seen));
	/* Every reference in range first: the probes below follow them. */
	for (uint32_t i = 0; i <= t->mask; i++) {
		for (int w = 0; w < NAT_NIDX; w++) {
			uint32_t ref = t->idx[w][i];

			if (!ref)
				continue;
			if (ref > t->cfg.capacity || !t->sessions[ref - 1].live)
				return -EINVAL;
			n[w]++;
		}
	}
	for (uint32_t i = 0; i < t->cfg.capacity; i++) {
		const struct zt_nat_session *s = &t->sessions[i];

		if (s->index != i)
			return -EINVAL;
		if (!s->live)
			continue;
		live++;
		if (check_session(t, s))
			return -EINVAL;
	}
	for (uint32_t i = 0; i <= t->mask; i++)
		if (t->idx[NAT_EP][i] && check_leader(t, i, seen, &ringed))
			return -EINVAL;
	for (uint32_t w = 0; w < words; w++) {
		uint64_t v = t->port_used[w];

		if (w == words - 1 && (t->nports & 63)) {
			uint64_t pad = ~0ull << (t->nports & 63);

			if ((v & pad) != pad)
				return -EINVAL;
			v &= ~pad;
		}
		if (v != seen[w])
			return -EINVAL;
	}
	for (uint32_t i = 0; i < t->n_free; i++)
		if (t->free_list[i] >= t->cfg.capacity ||
		    t->sessions[t->free_list[i]].live)
			return -EINVAL;
	if (live != t->stats.active || n[NAT_FWD] != live ||
	    n[NAT_REV] != live || n[NAT_EP] != t->stats.mappings ||
	    ringed != live || t->n_free + live != t->cfg.capacity ||
	    zt_heap_count(&t->timers) != live || zt_heap_check(&t->timers))
		return -EINVAL;
	return 0;
}
