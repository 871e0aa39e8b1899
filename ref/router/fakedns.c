/* SPDX-License-Identifier: MIT */
/*
 * fakedns.c - the fake-IP resolver's table.
 *
 * Theory of operation: all fixed memory is taken at init: an array of
 * max_names slots and a power-of-two array of hash bucket heads. Slot i
 * stands for the address at offset i + 1 of each pool (offset 0 is the
 * network's own address; over IPv4 the top one, broadcast, is never
 * reached because a pool must hold max_names + 2 addresses), so an address
 * leads to its slot by subtraction, and one name's A and AAAA answers sit
 * at the same offset of their pools. A slot whose address is one of the
 * server's is reserved: never handed out.
 *
 * A slot in use holds its name (owned, allocated when the name was given
 * the slot: per new name, never per packet), a chain link of its hash
 * bucket, and links of the use list, most recent first. A new name takes
 * the next never-used slot while there is one, then the slot at the tail
 * of the use list (the least recently used name forgets its address).
 * Asking for a name and connecting to its address both move it to the
 * head. A reverse lookup (PTR) of a fake address is answered from its
 * slot, without touching the use list.
 *
 * With a real resolver upstream, the owner forwards the queries its
 * policy does not fake, and passes the answers back through
 * zt_fakedns_learn(): their addresses are kept with the name asked for in
 * ZT_FAKEDNS_LEARN_MAX slots hashed by address, on a list in the order
 * they were last learned (an answer that gives an address again moves it
 * to the head; past the bound, the tail's slot is overwritten), so a flow
 * to such an address can still be routed by its name. Names are hashed with a seed drawn from the owner's rng, so a
 * client choosing names cannot aim at one bucket; chains are walked with
 * a bound of the table's size regardless.
 */
#include "ztun/fakedns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ztun/dns_wire.h"
#include "ztun/hash.h"

#define NIL 0u /* links hold slot + 1 */

struct fake_slot {
	char *name;        /* owned; NULL when free or reserved */
	uint32_t hash;
	uint32_t chain;    /* next slot + 1 in the bucket */
	uint32_t newer, older; /* use list, slot + 1 (neither while held) */
	uint32_t holds;    /* flows going by the name: on no use list
			    * while any */
	bool reserved;     /* a server address: never handed out */
};

/* An address a real resolver's answer gave for a name. */
struct learned {
	struct zt_addr addr;
	char *name;        /* owned; NULL while the slot is unused */
	uint32_t chain;    /* next slot + 1 in the bucket */
	uint32_t newer, older; /* learn list, slot + 1 */
};

struct zt_fakedns {
	struct zt_fakedns_config cfg;
	/* learned addresses (only with an upstream), hashed by address, on
	 * a list by when each was last learned: the least recent
	 * overwritten first */
	struct learned *learn;
	uint32_t *learn_bucket; /* ZT_FAKEDNS_LEARN_MAX heads, slot + 1 */
	uint32_t learn_used;    /* slots below this were handed out once */
	uint32_t learn_newest, learn_oldest; /* list ends, slot + 1 */
	struct fake_slot *slots;
	uint32_t *bucket;  /* slot + 1 of each chain's head */
	uint32_t mask;     /* buckets - 1 */
	uint32_t fresh;    /* slots below this were handed out once */
	uint32_t newest, oldest; /* use list ends, slot + 1 */
	uint64_t seed;
	struct zt_fakedns_stats stats;
};

void zt_fakedns_config_default(struct zt_fakedns_config *cfg)
{
	static const uint8_t pool4[4] = { 198, 18, 0, 0 };

	memset(cfg, 0, sizeof(*cfg));
	cfg->pool4.addr = zt_addr_v4(pool4);
	cfg->pool4.len = 15;
	cfg->max_names = ZT_FAKEDNS_NAMES_DEFAULT;
	cfg->ttl = ZT_FAKEDNS_TTL_DEFAULT;
}

static int fail(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return -EINVAL;
}

int zt_fakedns_parse_servers(const char *text, struct zt_fakedns_config *cfg,
			     char *err, size_t errlen)
{
	struct zt_addr server[2];
	const char *p = text;

	memset(server, 0, sizeof(server));
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char tok[ZT_ADDR_STRLEN];
		struct zt_addr a;
		unsigned slot;

		if (n == 0 || n >= sizeof(tok)) {
			if (err && errlen)
				snprintf(err, errlen, "'%.*s' is not an IP address",
					 (int)(n < 64 ? n : 64), p);
			return -EINVAL;
		}
		memcpy(tok, p, n);
		tok[n] = 0;
		if (zt_addr_parse(tok, &a)) {
			if (err && errlen)
				snprintf(err, errlen, "'%s' is not an IP address", tok);
			return -EINVAL;
		}
		slot = a.family == ZT_AF_INET ? 0 : 1;
		if (server[slot].family)
			return fail(err, errlen,
				    "at most one IPv4 and one IPv6 address");
		server[slot] = a;
		if (!comma)
			break;
		p = comma + 1;
	}
	memcpy(cfg->server, server, sizeof(server));
	cfg->enabled = true;
	return 0;
}

bool zt_fakedns_pool_fits(const struct zt_cidr *c, uint8_t family,
			  uint32_t names)
{
	unsigned host_bits;

	if (!c->addr.family)
		return true;
	if (c->addr.family != family)
		return false;
	host_bits = (unsigned)zt_addr_len(&c->addr) * 8 - c->len;
	return host_bits >= 32 || (1ull << host_bits) >= (uint64_t)names + 2;
}

/* The slot @a stands for, or -1 (in the pool but no slot's) / -2 (not
 * in the pool). */
static long addr_slot(const struct zt_fakedns_config *cfg,
		      const struct zt_addr *a)
{
	const struct zt_cidr *pool = a->family == ZT_AF_INET ? &cfg->pool4
							    : &cfg->pool6;
	size_t n;
	uint32_t off;

	if (!pool->addr.family || !zt_cidr_contains(pool, a))
		return -2;
	n = zt_addr_len(a);
	if (memcmp(a->bytes, pool->addr.bytes, n - 4))
		return -1; /* host bits above the low 32: past every slot */
	off = zt_rd32(a->bytes + n - 4) - zt_rd32(pool->addr.bytes + n - 4);
	if (off == 0 || off > cfg->max_names)
		return -1;
	return (long)off - 1;
}

/* How many slots the server's addresses take (IPv4 and IPv6 ones may
 * share a slot). */
static uint32_t reserved_slots(const struct zt_fakedns_config *cfg)
{
	long s0 = cfg->server[0].family ? addr_slot(cfg, &cfg->server[0]) : -1;
	long s1 = cfg->server[1].family ? addr_slot(cfg, &cfg->server[1]) : -1;

	return (s0 >= 0) + (s1 >= 0 && s1 != s0);
}

int zt_fakedns_config_check(const struct zt_fakedns_config *cfg, char *err,
			    size_t errlen)
{
	if (cfg->max_names < 1 || cfg->max_names > ZT_FAKEDNS_NAMES_MAX)
		return fail(err, errlen, "fake-IP names must be 1..4194304");
	if (!zt_fakedns_pool_fits(&cfg->pool4, ZT_AF_INET, cfg->max_names))
		return fail(err, errlen,
			    "the IPv4 pool must be an IPv4 prefix holding the "
			    "fake-IP names + 2 addresses");
	if (!zt_fakedns_pool_fits(&cfg->pool6, ZT_AF_INET6, cfg->max_names))
		return fail(err, errlen,
			    "the IPv6 pool must be an IPv6 prefix holding the "
			    "fake-IP names + 2 addresses");
	if (!cfg->pool4.addr.family && !cfg->pool6.addr.family)
		return fail(err, errlen, "a fake-IP pool is needed");
	if (cfg->enabled && !cfg->server[0].family && !cfg->server[1].family)
		return fail(err, errlen, "the fake DNS server needs an address");
	if (reserved_slots(cfg) >= cfg->max_names) {
		fail(err, errlen, "the fake DNS server's addresses take every "
			"fake-IP name's: more names are needed");
		return -ENOSPC;
	}
	if (cfg->upstream.addr.family &&
	    ((cfg->upstream.addr.family != ZT_AF_INET &&
	      cfg->upstream.addr.family != ZT_AF_INET6) ||
	     !cfg->upstream.port || cfg->upstream.name[0]))
		return fail(err, errlen,
			    "the upstream resolver must be an IP address and a port");
	return 0;
}

/* The address at offset @off of @pool. */
static struct zt_addr pool_addr(const struct zt_cidr *pool, uint32_t off)
{
	struct zt_addr a = pool->addr;
	uint8_t *low = a.bytes + zt_addr_len(&a) - 4;

	zt_wr32(low, zt_rd32(low) + off); /* host bits of the base are 0 */
	return a;
}

struct zt_fakedns *zt_fakedns_new(const struct zt_fakedns_config *cfg,
				  struct zt_rng *rng)
{
	struct zt_fakedns *t;
	struct zt_rng child;
	uint32_t nb = 1;

	if (zt_fakedns_config_check(cfg, NULL, 0))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cfg = *cfg;
	while (nb < cfg->max_names)
		nb <<= 1;
	t->mask = nb - 1;
	t->slots = calloc(cfg->max_names, sizeof(*t->slots));
	t->bucket = calloc(nb, sizeof(*t->bucket));
	if (cfg->upstream.addr.family) {
		t->learn = calloc(ZT_FAKEDNS_LEARN_MAX, sizeof(*t->learn));
		t->learn_bucket = calloc(ZT_FAKEDNS_LEARN_MAX,
					 sizeof(*t->learn_bucket));
	}
	if (!t->slots || !t->bucket ||
	    (cfg->upstream.addr.family && (!t->learn || !t->learn_bucket))) {
		zt_fakedns_free(t);
		return NULL;
	}
	zt_rng_fork(rng, &child);
	t->seed = zt_rng_next(&child);
	for (unsigned i = 0; i < 2; i++) {
		long s = cfg->server[i].family ? addr_slot(cfg, &cfg->server[i]) : -1;

		if (s >= 0)
			t->slots[s].reserved = true;
	}
	return t;
}

void zt_fakedns_free(struct zt_fakedns *t)
{
	if (!t)
		return;
	if (t->slots)
		for (uint32_t i = 0; i < t->cfg.max_names; i++)
			free(t->slots[i].name);
	if (t->learn)
		for (uint32_t i = 0; i < ZT_FAKEDNS_LEARN_MAX; i++)
			free(t->learn[i].name);
	free(t->learn);
	free(t->learn_bucket);
	free(t->slots);
	free(t->bucket);
	free(t);
}

bool zt_fakedns_is_server(const struct zt_fakedns *t,
			  const struct zt_addr *addr)
{
	return (t->cfg.server[0].family && zt_addr_eq(addr, &t->cfg.server[0])) ||
	       (t->cfg.server[1].family && zt_addr_eq(addr, &t->cfg.server[1]));
}

/* --- the use list ------------------------------------------------------ */

static void use_unlink(struct zt_fakedns *t, uint32_t i)
{
	struct fake_slot *s = &t->slots[i];

	if (s->newer)
		t->slots[s->newer - 1].older = s->older;
	else
		t->newest = s->older;
	if (s->older)
		t->slots[s->older - 1].newer = s->newer;
	else
		t->oldest = s->newer;
	s->newer = s->older = NIL;
}

static void use_push(struct zt_fakedns *t, uint32_t i)
{
	struct fake_slot *s = &t->slots[i];

	s->older = t->newest;
	s->newer = NIL;
	if (t->newest)
		t->slots[t->newest - 1].newer = i + 1;
	else
		t->oldest = i + 1;
	t->newest = i + 1;
}

/* A use of slot @i: to the head of the use list, unless held (on none). */
static void use_touch(struct zt_fakedns *t, uint32_t i)
{
	if (!t->slots[i].holds && t->newest != i + 1) {
		use_unlink(t, i);
		use_push(t, i);
	}
}

/* --- names --------------------------------------------------------------- */

/* A copy of @name the caller owns, or NULL. */
static char *name_copy(const char *name)
{
	size_t n = strlen(name) + 1;
	char *copy = malloc(n);

	if (copy)
		memcpy(copy, name, n);
	return copy;
}

static long name_find(const struct zt_fakedns *t, const char *name,
		      uint32_t hash)
{
	uint32_t i = t->bucket[hash & t->mask];

	for (uint32_t steps = 0; i && steps < t->cfg.max_names; steps++) {
		const struct fake_slot *s = &t->slots[i - 1];

		if (s->hash == hash && strcmp(s->name, name) == 0)
			return (long)i - 1;
		i = s->chain;
	}
	return -1;
}

static void name_unhash(struct zt_fakedns *t, uint32_t i)
{
	uint32_t *link = &t->bucket[t->slots[i].hash & t->mask];

	while (*link && *link != i + 1)
		link = &t->slots[*link - 1].chain;
	if (*link)
		*link = t->slots[i].chain;
	t->slots[i].chain = NIL;
}

/* The slot of @name, given one now if it had none. Return: the slot,
 * -EBUSY when every slot is held (counted), or -ENOMEM. */
static long name_slot(struct zt_fakedns *t, const char *name)
{
	uint32_t hash = zt_hash_bytes(t->seed, name, strlen(name));
	long found = name_find(t, name, hash);
	char *copy;
	uint32_t i;

	if (found >= 0) {
		use_touch(t, (uint32_t)found);
		return found;
	}
	while (t->fresh < t->cfg.max_names && t->slots[t->fresh].reserved)
		t->fresh++;
	if (t->fresh == t->cfg.max_names && !t->oldest) {
		t->stats.exhausted++; /* every slot in use is held */
		return -EBUSY;
	}
	copy = name_copy(name);
	if (!copy)
		return -ENOMEM;
	if (t->fresh < t->cfg.max_names) {
		i = t->fresh++;
		t->stats.names++;
	} else {
		i = t->oldest - 1; /* every slot is in use: the least
				    * recently used unheld one */
		use_unlink(t, i);
		name_unhash(t, i);
		free(t->slots[i].name);
		t->stats.recycled++;
	}
	t->slots[i].name = copy;
	t->slots[i].hash = hash;
	t->slots[i].chain = t->bucket[hash & t->mask];
	t->bucket[hash & t->mask] = i + 1;
	use_push(t, i);
	return i;
}

/* The address of reverse name @name ("4.3.2.1.in-addr.arpa", or 32
 * nibbles then "ip6.arpa", least significant first). 0 or -EINVAL. */
static int reverse_addr(const char *name, struct zt_addr *out)
{
	static const char v4[] = ".in-addr.arpa", v6[] = ".ip6.arpa";
	size_t n = strlen(name);
	const char *p = name;

	memset(out, 0, sizeof(*out));
	if (n == 32 * 2 + sizeof(v6) - 2 && !strcmp(name + 63, v6)) {
		out->family = ZT_AF_INET6;
		for (int i = 31; i >= 0; i--, p += 2) {
			char c = p[0];
			unsigned v = c >= '0' && c <= '9' ? (unsigned)(c - '0') :
				     c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16;

			if (v > 15 || p[1] != '.')
				return -EINVAL;
			out->bytes[i / 2] |= (uint8_t)(i % 2 ? v : v << 4);
		}
		return 0;
	}
	if (n <= sizeof(v4) - 1 || strcmp(name + n - (sizeof(v4) - 1), v4))
		return -EINVAL;
	out->family = ZT_AF_INET;
	for (int i = 3; i >= 0; i--) {
		unsigned v = 0, digits = 0;

		while (*p >= '0' && *p <= '9' && digits < 3) {
			v = v * 10 + (unsigned)(*p++ - '0');
			digits++;
		}
		if (!digits || v > 255 || *p != '.')
			return -EINVAL;
		out->bytes[i] = (uint8_t)v;
		p++;
	}
	return p == name + n - (sizeof(v4) - 2) ? 0 : -EINVAL;
}

/* A reverse lookup of a fake address: its name as a PTR record, NXDOMAIN
 * when it stands for none. Return: the answer's length, or 0 when @q is
 * no such lookup (not PTR, not a reverse name, not in a range). */
static int answer_reverse(struct zt_fakedns *t, const struct zt_dns_query *q,
			  uint8_t *out, size_t cap)
{
	struct zt_addr a;
	long s;

	if (q->qtype != ZT_DNS_TYPE_PTR || reverse_addr(q->name, &a))
		return 0;
	s = addr_slot(&t->cfg, &a);
	if (s == -2)
		return 0;
	if (s < 0 || !t->slots[s].name) {
		t->stats.nodata++;
		return zt_dns_build_answer(q, ZT_DNS_NXDOMAIN, NULL, 0, t->cfg.ttl,
					   out, cap);
	}
	t->stats.answered++;
	return zt_dns_build_ptr(q, t->slots[s].name, t->cfg.ttl, out, cap);
}

int zt_fakedns_answer(struct zt_fakedns *t, const uint8_t *msg, size_t len,
		      zt_fakedns_policy_fn policy, void *user, uint8_t *out,
		      size_t cap)
{
	struct zt_dns_query q;
	const struct zt_cidr *pool = NULL;
	struct zt_addr a;
	int rc = zt_dns_parse_query(zt_view_make(msg, len), &q);
	unsigned n = 0;

	memset(&a, 0, sizeof(a));
	t->stats.queries++;
	if (rc < 0) {
		t->stats.ignored++;
		return rc;
	}
	if (rc == ZT_DNS_NOERROR && q.qclass != ZT_DNS_CLASS_IN)
		rc = ZT_DNS_REFUSED;
	if (rc == ZT_DNS_NOERROR) {
		int rev = answer_reverse(t, &q, out, cap);

		if (rev)
			return rev;
	}
	if (rc == ZT_DNS_NOERROR && q.name[0] && policy) {
		enum zt_fakedns_verdict v = policy(user, q.name);

		if (v == ZT_FAKEDNS_BLOCK) {
			t->stats.blocked++;
			return zt_dns_build_answer(&q, ZT_DNS_NXDOMAIN, NULL, 0,
						   t->cfg.ttl, out, cap);
		}
		if (v == ZT_FAKEDNS_FORWARD && t->cfg.upstream.addr.family) {
			t->stats.forwarded++;
			return 0;
		}
		if (v == ZT_FAKEDNS_REFUSE || v == ZT_FAKEDNS_FORWARD) {
			t->stats.refused++;
			rc = ZT_DNS_REFUSED;
		}
	}
	if (rc == ZT_DNS_NOERROR && q.name[0]) {
		if (q.qtype == ZT_DNS_TYPE_A)
			pool = &t->cfg.pool4;
		else if (q.qtype == ZT_DNS_TYPE_AAAA)
			pool = &t->cfg.pool6;
	}
	if (pool && pool->addr.family) {
		long s = name_slot(t, q.name);

		if (s < 0) {
			rc = ZT_DNS_SERVFAIL;
		} else {
			a = pool_addr(pool, (uint32_t)s + 1);
			n = 1;
		}
	}
	if (rc != ZT_DNS_NOERROR)
		t->stats.errors++;
	else if (n)
		t->stats.answered++;
	else
		t->stats.nodata++;
	return zt_dns_build_answer(&q, (unsigned)rc, &a, n, t->cfg.ttl, out, cap);
}

/* zt_fakedns_peek(), and the slot of the name found in *@slot. */
static int slot_name(const struct zt_fakedns *t, const struct zt_addr *addr,
		     char **name, long *slot)
{
	long s = addr_slot(&t->cfg, addr);

	*name = NULL;
	if (s == -2)
		return 0;
	if (s < 0 || !t->slots[s].name)
		return -ENOENT;
	*name = name_copy(t->slots[s].name);
	if (!*name)
		return -ENOMEM;
	*slot = s;
	return 1;
}

int zt_fakedns_peek(const struct zt_fakedns *t, const struct zt_addr *addr,
		    char **name)
{
	long s;

	return slot_name(t, addr, name, &s);
}

int zt_fakedns_lookup(struct zt_fakedns *t, const struct zt_addr *addr,
		      char **name)
{
	long s;
	int rc = slot_name(t, addr, name, &s);

	if (rc == -ENOENT)
		t->stats.unknown++;
	if (rc != 1)
		return rc;
	use_touch(t, (uint32_t)s);
	t->stats.lookups++;
	return 1;
}

uint32_t zt_fakedns_hold(struct zt_fakedns *t, const struct zt_addr *addr)
{
	long s = addr_slot(&t->cfg, addr);

	if (s < 0 || !t->slots[s].name)
		return 0;
	if (t->slots[s].holds++ == 0) {
		use_unlink(t, (uint32_t)s);
		t->stats.held++;
	}
	return (uint32_t)s + 1;
}

void zt_fakedns_release(struct zt_fakedns *t, uint32_t hold)
{
	struct fake_slot *s;

	if (!hold || hold > t->cfg.max_names)
		return;
	s = &t->slots[hold - 1];
	if (!s->holds)
		return; /* not held: a caller's bug, not worth a corrupt list */
	if (--s->holds == 0) {
		use_push(t, hold - 1);
		t->stats.held--;
	}
}

/* --- learned addresses --------------------------------------------------- */

static uint32_t learn_hash(const struct zt_fakedns *t, const struct zt_addr *a)
{
	return zt_hash_bytes(t->seed ^ 0x6c6561726eull, a, sizeof(*a)) %
	       ZT_FAKEDNS_LEARN_MAX;
}

static long learn_find(const struct zt_fakedns *t, const struct zt_addr *a)
{
	uint32_t i = t->learn_bucket[learn_hash(t, a)];

	for (uint32_t steps = 0; i && steps < ZT_FAKEDNS_LEARN_MAX; steps++) {
		if (zt_addr_eq(&t->learn[i - 1].addr, a))
			return (long)i - 1;
		i = t->learn[i - 1].chain;
	}
	return -1;
}

static void learn_unhash(struct zt_fakedns *t, uint32_t i)
{
	uint32_t *link = &t->learn_bucket[learn_hash(t, &t->learn[i].addr)];

	while (*link && *link != i + 1)
		link = &t->learn[*link - 1].chain;
	if (*link)
		*link = t->learn[i].chain;
	t->learn[i].chain = NIL;
}

/* Slot @i out of the learn list. */
static void learn_unlink(struct zt_fakedns *t, uint32_t i)
{
	struct learned *l = &t->learn[i];

	if (l->newer)
		t->learn[l->newer - 1].older = l->older;
	else
		t->learn_newest = l->older;
	if (l->older)
		t->learn[l->older - 1].newer = l->newer;
	else
		t->learn_oldest = l->newer;
	l->newer = l->older = NIL;
}

/* Slot @i at the head of the learn list (learned last). */
static void learn_push(struct zt_fakedns *t, uint32_t i)
{
	struct learned *l = &t->learn[i];

	l->older = t->learn_newest;
	l->newer = NIL;
	if (t->learn_newest)
		t->learn[t->learn_newest - 1].newer = i + 1;
	else
		t->learn_oldest = i + 1;
	t->learn_newest = i + 1;
}

int zt_fakedns_learn(struct zt_fakedns *t, const uint8_t *msg, size_t len)
{
	char name[ZT_DNS_NAME_MAX + 1];
	struct zt_addr addrs[ZT_DNS_ANSWER_ADDRS_MAX];
	int n;

	if (!t->learn)
		return -EINVAL;
	n = zt_dns_parse_answer(zt_view_make(msg, len), name, addrs,
				ZT_DNS_ANSWER_ADDRS_MAX);
	for (int k = 0; k < n; k++) {
		struct zt_addr a;
		char *copy = name_copy(name);
		long i;

		if (!copy)
			return -ENOMEM;
		memset(&a, 0, sizeof(a)); /* hashed whole: no stray bytes */
		a.family = addrs[k].family;
		memcpy(a.bytes, addrs[k].bytes, zt_addr_len(&addrs[k]));
		i = learn_find(t, &a);
		if (i >= 0) {
			learn_unlink(t, (uint32_t)i); /* learned anew */
		} else {
			if (t->learn_used < ZT_FAKEDNS_LEARN_MAX) {
				i = t->learn_used++;
			} else {
				i = t->learn_oldest - 1; /* every slot is used */
				learn_unlink(t, (uint32_t)i);
				learn_unhash(t, (uint32_t)i);
			}
			t->learn[i].addr = a;
			t->learn[i].chain = t->learn_bucket[learn_hash(t, &a)];
			t->learn_bucket[learn_hash(t, &a)] = (uint32_t)i + 1;
		}
		learn_push(t, (uint32_t)i);
		free(t->learn[i].name);
		t->learn[i].name = copy;
		t->stats.learned++;
	}
	return n;
}

int zt_fakedns_learned(struct zt_fakedns *t, const struct zt_addr *addr,
		       char **name)
{
	struct zt_addr a;
	long i;

	*name = NULL;
	if (!t->learn)
		return 0;
	memset(&a, 0, sizeof(a));
	a.family = addr->family;
	memcpy(a.bytes, addr->bytes, zt_addr_len(addr));
	i = learn_find(t, &a);
	if (i < 0)
		return 0;
	*name = name_copy(t->learn[i].name);
	return *name ? 1 : -ENOMEM;
}

void zt_fakedns_unread(struct zt_fakedns *t)
{
	t->stats.queries++;
	t->stats.ignored++;
}

const struct zt_fakedns_stats *zt_fakedns_stats(const struct zt_fakedns *t)
{
	return &t->stats;
}
