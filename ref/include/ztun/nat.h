/* SPDX-License-Identifier: MIT */
/*
 * nat.h - the UDP NAT table: which inside flow owns which mapped port.
 *
 * A session maps a forward key (protocol, inside client address:port,
 * remote address:port) to a mapped port from [port_start, port_end] on the
 * egress side. The mapping is endpoint-independent (RFC 4787 REQ-1): every
 * session of one client endpoint (protocol, address, port) shares one
 * mapped port, so every remote sees the client's socket at the same
 * address and port, as STUN and peer-to-peer applications need. A port
 * belongs to one client endpoint at a time; it is free again once the last
 * session of that endpoint is gone.
 *
 * Replies come back to the mapped port from the remote; the reverse lookup
 * finds the session by (mapped port, remote address, remote port), so the
 * filtering stays address- and port-dependent (RFC 4787 5): only a remote
 * the client has a session with may answer, and to that session. A host
 * that wants endpoint-independent filtering adds it on top.
 *
 * Every lookup is O(1): three open-addressing indexes (linear probing,
 * backward-shift deletion, load <= 1/2) into one array of sessions, all
 * allocated at init. Nothing allocates afterwards.
 *
 * Capacity: at most cfg.capacity sessions, and at most one client endpoint
 * per port of the range. An insert past either fails with -ENOSPC, counted
 * in insert_no_slot (table full, checked first) or insert_no_port (a fresh
 * port was needed and the range is exhausted; a further session of an
 * endpoint that has a port never needs one).
 *
 * Time: a session expires timeout ns after it last saw traffic (insert or
 * zt_nat_touch(), either direction): at now >= last_seen + timeout. Only
 * zt_nat_expire() removes expired sessions, so a host calls it (at
 * zt_nat_next_deadline(), or before handling packets at @now) and until
 * then lookups still find them.
 *
 * Ports: a client endpoint's first session takes the first free port at or
 * after a starting point, wrapping around the range. The starting point is
 * drawn from the generator given at init (or, without one, a cursor just
 * past the last port handed out), so the choice is deterministic for a
 * seed.
 */
#ifndef ZTUN_NAT_H
#define ZTUN_NAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/addr.h"
#include "ztun/heap.h"
#include "ztun/rng.h"

#define ZT_NAT_MAX_CAPACITY 65536
#define ZT_NAT_NINDEX 3 /* forward, reverse, client endpoint */

struct zt_nat_config {
	uint32_t capacity;     /* sessions, 1..65536 (8192) */
	uint16_t port_start;   /* first mapped port, >= 1 (10000) */
	uint16_t port_end;     /* last mapped port, inclusive (60000) */
	uint64_t timeout;      /* ns of silence before expiry, > 0 (30 s) */
	uint32_t expire_batch; /* timer entries one zt_nat_expire() handles;
				* 0 = all that are due (0) */
};

void zt_nat_config_default(struct zt_nat_config *cfg);

/* The inside view of a flow; src is the client behind the TUN. */
struct zt_nat_key {
	uint8_t proto;         /* IP protocol (17 for UDP) */
	uint16_t sport, dport; /* client port, remote port */
	struct zt_addr src;    /* client */
	struct zt_addr dst;    /* remote; same family as src */
};

struct zt_nat_session {
	struct zt_nat_key key; /* read-only */
	uint16_t mapped_port;  /* read-only: the egress source port */
	uint64_t created;      /* read-only */
	uint64_t last_seen;    /* read-only: refreshed by zt_nat_touch() */
	void *user;            /* the host's */
	/* private to nat.c */
	uint32_t index;
	uint32_t hash[ZT_NAT_NINDEX]; /* its key's hash in each index */
	uint32_t ep_next, ep_prev; /* ring of its client endpoint's sessions */
	bool live;
	struct zt_heap_node timer; /* scheduled at a past last_seen + timeout */
};

struct zt_nat_stats {
	uint64_t active;          /* sessions now */
	uint64_t created;
	uint64_t mappings;        /* client endpoints with a mapped port now */
	uint64_t mappings_created; /* fresh ports handed out */
	uint64_t expired;         /* removed by zt_nat_expire() */
	uint64_t removed;         /* removed by zt_nat_remove() */
	uint64_t insert_failures; /* every failed insert (-ENOSPC, -EEXIST, -EINVAL) */
	uint64_t insert_no_slot;  /* -ENOSPC: capacity reached */
	uint64_t insert_no_port;  /* -ENOSPC: port range exhausted */
	uint64_t lookups, hits;   /* zt_nat_lookup() */
	uint64_t reverse_lookups, reverse_hits;
};

/* Fields are private to nat.c; use the functions. */
struct zt_nat {
	struct zt_nat_config cfg;
	struct zt_rng *rng;           /* borrowed; NULL: cursor */
	struct zt_nat_session *sessions; /* cfg.capacity slots */
	uint32_t *free_list;
	uint32_t n_free;
	/* Each slot a session index + 1, 0 = empty; the endpoint index holds
	 * one session per client endpoint. */
	uint32_t *idx[ZT_NAT_NINDEX];
	uint32_t mask;                /* every index has mask + 1 slots */
	uint64_t *port_used;          /* bit per port of the range */
	uint32_t nports;
	uint32_t cursor;
	uint64_t hash_key;
	struct zt_heap timers;
	struct zt_nat_stats stats;
};

/*
 * zt_nat_init() - an empty table.
 * @t: the table (caller-owned)
 * @cfg: configuration (copied)
 * @rng: draws the hash key and port starting points (borrowed, must
 *       outlive @t); NULL for a fixed key and a rotating cursor
 * Return: 0, -EINVAL (a value out of range) or -ENOMEM.
 */
int zt_nat_init(struct zt_nat *t, const struct zt_nat_config *cfg,
		struct zt_rng *rng);
/* Free every session silently and the table's memory. */
void zt_nat_destroy(struct zt_nat *t);

/* The session for @key, or NULL. The pointer stays valid until the
 * session is removed or expired. */
struct zt_nat_session *zt_nat_lookup(struct zt_nat *t,
				     const struct zt_nat_key *key);
/*
 * zt_nat_insert() - a new session for @key (copied) at @now, with the
 * mapped port of its client endpoint (@key's proto, src, sport) when that
 * endpoint has a live session, else a fresh one.
 * @out: the session (owned by @t) on success
 * Return: 0, -EEXIST (a session for @key exists), -ENOSPC (table full, or
 * a fresh port needed and the range exhausted) or -EINVAL (families differ
 * or are unknown).
 */
int zt_nat_insert(struct zt_nat *t, const struct zt_nat_key *key,
		  uint64_t now, struct zt_nat_session **out);
/*
 * zt_nat_insert_avoid() - zt_nat_insert(), except that a fresh port is
 * none of the @n ports of @avoid (ports the owner found taken by another
 * socket of its host, so that a retry does not draw one of them again).
 * Return: as zt_nat_insert(); -ENOSPC too when only avoided ports are
 * free.
 */
int zt_nat_insert_avoid(struct zt_nat *t, const struct zt_nat_key *key,
			uint64_t now, const uint16_t *avoid, unsigned n,
			struct zt_nat_session **out);
/* The session mapped to @mapped_port whose remote is exactly
 * @remote:@rport, or NULL. At most one: a port has one client endpoint. */
struct zt_nat_session *zt_nat_reverse_lookup(struct zt_nat *t,
					     uint16_t mapped_port,
					     const struct zt_addr *remote,
					     uint16_t rport);
/* Traffic on @s at @now: it lives until now + timeout. O(1). */
void zt_nat_touch(struct zt_nat *t, struct zt_nat_session *s, uint64_t now);
/* Forget @s now (its port is free again if it was its endpoint's last
 * session); @s is invalid afterwards. */
void zt_nat_remove(struct zt_nat *t, struct zt_nat_session *s);

/* Called for each expiring session before it is freed; @s is valid only
 * during the call, which must not insert into or remove from the table. */
typedef void (*zt_nat_expire_fn)(void *ctx, struct zt_nat_session *s,
				 uint64_t now);
/*
 * zt_nat_expire() - remove the sessions expired at @now, calling @cb (may
 * be NULL) for each. Handles at most cfg.expire_batch timer entries when
 * that is set; zt_nat_next_deadline() is then <= @now while work remains.
 * Return: the number of sessions removed.
 */
size_t zt_nat_expire(struct zt_nat *t, uint64_t now, zt_nat_expire_fn cb,
		     void *ctx);
/* When the next session expires (exactly), or UINT64_MAX with none.
 * Not const: it reschedules timers that touches made late. */
uint64_t zt_nat_next_deadline(struct zt_nat *t);

static inline const struct zt_nat_stats *zt_nat_stats(const struct zt_nat *t)
{
	return &t->stats;
}

/* Verify the three indexes, the endpoints' shared ports, the port bitmap,
 * free list, timers and counts; for tests. Return: 0 or -EINVAL.
 * O(capacity + ports). */
int zt_nat_check(const struct zt_nat *t);

#endif /* ZTUN_NAT_H */
