/* SPDX-License-Identifier: MIT */
/*
 * fakedns.h - a fake-IP resolver: A and AAAA queries answered with
 * addresses from a reserved pool, each standing for the name it was given
 * out for, so that a flow to one of them can be sent to a proxy by name.
 *
 * The client's resolver (pointed at a server address inside the TUN's
 * routes) asks for a name; the answer is a fake address, and nothing was
 * resolved on this machine, so no query leaks past the proxy and the
 * proxy resolves the name where it stands (remote DNS). When the client
 * then connects to the fake address, the router looks the name up
 * (zt_fakedns_lookup()) and hands it to the SOCKS5 or HTTP CONNECT proxy.
 *
 * A name keeps its address while it is among the max_names most recently
 * used (asked for, or connected to), or while a flow to it lives (held:
 * zt_fakedns_hold()); past that the least recently used unheld name's
 * address goes to the new one, and with every name held the new one is
 * answered SERVFAIL. Answers carry a short TTL, so the client asks again
 * rather than keep an address that may move.
 */
#ifndef ZTUN_FAKEDNS_H
#define ZTUN_FAKEDNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/addr.h"
#include "ztun/route.h"
#include "ztun/rng.h"
#include "ztun/upstream.h"

#define ZT_FAKEDNS_NAMES_DEFAULT 65536u
#define ZT_FAKEDNS_NAMES_MAX (1u << 22)
#define ZT_FAKEDNS_TTL_DEFAULT 1u

struct zt_fakedns_config {
	bool enabled;
	/* The resolver's addresses: UDP queries to them on port 53 are
	 * answered (family 0: unused). */
	struct zt_addr server[2];
	/* Where fake addresses come from: an IPv4 prefix for A answers, an
	 * IPv6 one for AAAA (family 0: none; that type then has no data,
	 * and the client uses the other). Each gives a name the address at
	 * the same offset, so its pool must hold max_names + 2 addresses. */
	struct zt_cidr pool4, pool6;
	uint32_t max_names;        /* 1..ZT_FAKEDNS_NAMES_MAX */
	uint32_t ttl;              /* seconds, in every answer */
	/* A real resolver for the names the owner's policy forwards
	 * (ZT_FAKEDNS_FORWARD); addr.family 0: none (they are REFUSED).
	 * With it, the addresses of its answers are remembered with their
	 * names (zt_fakedns_learn()), up to ZT_FAKEDNS_LEARN_MAX. */
	struct zt_endpoint upstream;
};

#define ZT_FAKEDNS_LEARN_MAX 4096u

/* The servers of "ADDR[,ADDR]" (at most one IPv4 and one IPv6 address)
 * into @cfg->server, and @cfg->enabled set. Return: 0, or -EINVAL with
 * @err naming the token at fault (may be NULL). */
int zt_fakedns_parse_servers(const char *text, struct zt_fakedns_config *cfg,
			     char *err, size_t errlen);

/* Disabled; pool4 198.18.0.0/15 (RFC 2544's benchmarking block, routed
 * nowhere), no pool6, ZT_FAKEDNS_NAMES_DEFAULT names, TTL 1 s. */
void zt_fakedns_config_default(struct zt_fakedns_config *cfg);
/* Whether range @c is of @family (or none: family 0) and holds the
 * addresses @names names need (offsets 1..@names + 1). */
bool zt_fakedns_pool_fits(const struct zt_cidr *c, uint8_t family,
			  uint32_t names);
/* Check @cfg (enabled or not). Return: 0, -ENOSPC when the server's
 * addresses would take every name's (max_names too small), or -EINVAL,
 * with @err naming the field at fault (may be NULL). */
int zt_fakedns_config_check(const struct zt_fakedns_config *cfg, char *err,
			    size_t errlen);

struct zt_fakedns_stats {
	uint64_t queries;     /* messages to the server addresses */
	uint64_t answered;    /* ... answered with an address */
	uint64_t nodata;      /* ... with no address: another type, no pool,
			       * a reverse lookup of a pool address that
			       * stands for no name (NXDOMAIN) */
	uint64_t errors;      /* ... with FORMERR, NOTIMP, REFUSED, SERVFAIL */
	uint64_t blocked;     /* ... with NXDOMAIN: the policy blocks the name */
	uint64_t refused;     /* ... with REFUSED by the policy (in errors too) */
	uint64_t forwarded;   /* ... sent on to the real resolver */
	uint64_t learned;     /* addresses learned from its answers */
	uint64_t ignored;     /* ... not answered: not a query */
	uint64_t recycled;    /* addresses taken from a name to give another */
	uint64_t exhausted;   /* names given no address (SERVFAIL, in errors
			       * too): every one was held by a flow */
	uint64_t lookups;     /* flows to a fake address whose name was known */
	uint64_t unknown;     /* ... whose name was not (forgotten, or never
			       * given out: a restart) */
	uint64_t names;       /* names holding an address now */
	uint64_t held;        /* ... of which held by flows (not recycled) */
};

struct zt_fakedns;

/* A resolver for @cfg (copied; checked). The hash seed is drawn from
 * @rng. Return: NULL on a bad config or no memory. */
struct zt_fakedns *zt_fakedns_new(const struct zt_fakedns_config *cfg,
				  struct zt_rng *rng);
void zt_fakedns_free(struct zt_fakedns *t);

/* Whether @addr is one of the server's addresses (queries go to its
 * UDP port ZT_DNS_PORT). */
bool zt_fakedns_is_server(const struct zt_fakedns *t,
			  const struct zt_addr *addr);

/* What the resolver does with a name it is asked for. */
enum zt_fakedns_verdict {
	ZT_FAKEDNS_FAKE = 0,  /* answer with the name's fake address */
	ZT_FAKEDNS_BLOCK,     /* NXDOMAIN: the name does not exist (a Drop) */
	ZT_FAKEDNS_REFUSE,    /* REFUSED: no route could carry it by name */
	ZT_FAKEDNS_FORWARD,   /* ask the real resolver (cfg.upstream) */
};
/* The owner's policy: @name (lower case, borrowed for the call). */
typedef enum zt_fakedns_verdict (*zt_fakedns_policy_fn)(void *user,
							const char *name);

/*
 * zt_fakedns_answer() - the answer to the DNS message @msg (@len bytes,
 * borrowed) in @out (@cap bytes, caller-owned; ZT_DNS_UDP_MAX always
 * fits an answer to a query that fitted it). @policy (may be NULL: every
 * name is faked) is asked about each name of a well-formed query of
 * class IN, whatever its type.
 * Return: the answer's length; 0 when the policy forwards the query to
 * the real resolver (the caller sends @msg there, and passes its answer
 * through zt_fakedns_learn() on the way back; a forward without an
 * upstream is REFUSED instead); or a negative errno when no answer is due
 * (-EINVAL: not a query) or it does not fit (-ENOSPC).
 */
int zt_fakedns_answer(struct zt_fakedns *t, const uint8_t *msg, size_t len,
		      zt_fakedns_policy_fn policy, void *user, uint8_t *out,
		      size_t cap);

/*
 * zt_fakedns_lookup() - the name fake address @addr stands for.
 * *@name is set to a copy of it, owned by the caller (free()): the
 * address may go to another name unless held (zt_fakedns_hold()); the
 * name counts as used.
 * Return: 1 when found, 0 when @addr is in no pool (not a fake address),
 * -ENOENT when it is in a pool but stands for no name, -ENOMEM; *@name
 * is NULL but on 1.
 */
int zt_fakedns_lookup(struct zt_fakedns *t, const struct zt_addr *addr,
		      char **name);
/* zt_fakedns_peek() - zt_fakedns_lookup() that changes nothing: no
 * counter, and the name not counted as used (for a caller that only asks
 * what a flow would get, zt_stack_ops.tcp_admit). */
int zt_fakedns_peek(const struct zt_fakedns *t, const struct zt_addr *addr,
		    char **name);

/*
 * zt_fakedns_hold() - keep the name fake address @addr stands for on it
 * while a flow goes by that name: a held name's address goes to no other
 * (so the flow's client, which still has it, reaches the same name again
 * through it). Holds count: each is let go by zt_fakedns_release() with
 * the token returned, before zt_fakedns_free().
 * Return: the token (> 0), or 0 when @addr stands for no name (nothing
 * held; releasing 0 does nothing).
 */
uint32_t zt_fakedns_hold(struct zt_fakedns *t, const struct zt_addr *addr);
/* zt_fakedns_release() - let go of a hold (@hold: zt_fakedns_hold()'s
 * token, or 0); the last one makes the name the most recently used. */
void zt_fakedns_release(struct zt_fakedns *t, uint32_t hold);

/*
 * zt_fakedns_learn() - remember the addresses of the real resolver's
 * answer @msg (@len bytes, borrowed) with the name asked for, so that a
 * flow to one of them can be routed by that name (domain rules). An
 * address learned again counts as learned now: past ZT_FAKEDNS_LEARN_MAX
 * the one learned longest ago is forgotten.
 * Return: addresses learned, or -EINVAL (not a usable answer), -ENOMEM.
 */
int zt_fakedns_learn(struct zt_fakedns *t, const uint8_t *msg, size_t len);

/*
 * zt_fakedns_learned() - the name a real resolver's answer last gave
 * @addr for: 1 with *@name a copy the caller owns, 0 when none (*@name
 * NULL), -ENOMEM.
 */
int zt_fakedns_learned(struct zt_fakedns *t, const struct zt_addr *addr,
		       char **name);

/*
 * zt_fakedns_unread() - count a message to the server that its caller
 * could not read (over TCP, a length past what it takes): a query, not
 * answered (ignored).
 */
void zt_fakedns_unread(struct zt_fakedns *t);

const struct zt_fakedns_stats *zt_fakedns_stats(const struct zt_fakedns *t);

#endif /* ZTUN_FAKEDNS_H */
