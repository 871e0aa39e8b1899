/* SPDX-License-Identifier: MIT */
/*
 * route.h - route decisions, the application's route callback, and the
 * rule table behind `--rule` and scenario `--route` lines.
 *
 * Every new flow (TCP connection, UDP session, ICMP echo) is described by
 * a struct zt_route_query and answered with one enum zt_route_decision,
 * either by the application's zt_route_fn or by a struct zt_rules.
 *
 * Rule table semantics:
 *   - Rules are tried in the order they were added; the FIRST rule that
 *     matches decides. A default decision (DIRECT unless set) applies when
 *     none matches.
 *   - A rule matches when every one of its conditions holds: protocol
 *     (tcp, udp, icmp = ICMPv4 or ICMPv6, any), source and destination
 *     prefix (IPv4 or IPv6, any length; a prefix matches only addresses of
 *     its own family; "any" matches both), source and destination port
 *     ranges, and a domain (the flow's name, or a name under it). A rule
 *     with a port range matches only TCP and UDP queries; one with a
 *     domain only flows that have a name (to fake addresses, fakedns.h).
 *   - A Drop decision may carry `reject`: answer with a TCP RST or an ICMP
 *     unreachable instead of dropping silently.
 * Runs of consecutive rules that test only the destination (same protocol,
 * no source, no ports) are matched with a longest-prefix trie (lpm.h) that
 * yields the first matching rule of the run, so long lists of destination
 * prefixes cost O(address bits), not O(rules). The text syntax is in
 * docs/rules.md.
 */
#ifndef ZTUN_ROUTE_H
#define ZTUN_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/addr.h"
#include "ztun/lpm.h"

/* What to do with a new flow (order and values as in the design seed). */
enum zt_route_decision {
	ZT_ROUTE_DIRECT = 0, /* forward through the egress interface */
	ZT_ROUTE_SOCKS5,     /* through the SOCKS5 proxy */
	ZT_ROUTE_HTTP,       /* through the HTTP CONNECT proxy */
	ZT_ROUTE_DROP,       /* drop (silently, or rejected: see reject) */
	ZT_ROUTE_LOCAL,      /* answer locally, back into the TUN */
	ZT_ROUTE_NAT,        /* UDP through the NAT table (nat.h) */
	ZT_ROUTE__COUNT
};

/* "direct", "socks5", "http", "drop", "local", "nat"; "?" if out of range. */
const char *zt_route_decision_name(enum zt_route_decision d);
/* Parse a lower-case decision name into @d; "reject" is DROP with
 * *@reject true, every other name sets *@reject false (@reject may be
 * NULL). Return: 0 or -EINVAL. */
int zt_route_decision_parse(const char *name, enum zt_route_decision *d,
			    bool *reject);

/* A new flow as the router sees it: the client (src) behind the TUN asked
 * for dst. Ports are host order; 0 for protocols without ports. */
struct zt_route_query {
	uint8_t proto;       /* IP protocol number: 6, 17, 1, 58, ... */
	struct zt_addr src, dst;
	uint16_t sport, dport;
	/* The host name behind a fake destination (fakedns.h): lower case,
	 * borrowed for the call; NULL when the flow has none. */
	const char *name;
};

/* The application's route callback: @user is the pointer registered with
 * it, @q is borrowed for the call. Must not call back into the router. */
typedef enum zt_route_decision (*zt_route_fn)(void *user,
					      const struct zt_route_query *q);

/* --- rules ----------------------------------------------------------- */

enum zt_rule_proto {
	ZT_RULE_ANY = 0,
	ZT_RULE_TCP,
	ZT_RULE_UDP,
	ZT_RULE_ICMP,        /* ICMPv4 (1) or ICMPv6 (58) */
};

/* addr.family 0 means "any address" (len is then 0). */
struct zt_cidr {
	struct zt_addr addr; /* bits past len are zero */
	uint8_t len;
};

/* Whether @a lies in @c (a @c of family 0 holds every address). */
bool zt_cidr_contains(const struct zt_cidr *c, const struct zt_addr *a);
/* The prefix of length @len (at most @a's bits) that holds @a: @a with
 * the bits past @len cleared. */
struct zt_cidr zt_cidr_network(const struct zt_addr *a, uint8_t len);
/* Parse "ADDR/LEN" or "ADDR" (a host prefix) into @out; bits past LEN
 * must be zero. @err as for zt_rule_parse(). Return: 0 or -EINVAL. */
int zt_cidr_parse(const char *text, struct zt_cidr *out, char *err,
		  size_t errlen);

/* Inclusive; 0-65535 means "any port". */
struct zt_port_range {
	uint16_t lo, hi;
};

/* Longest name of a "domain" condition (a DNS name's text form). */
#define ZT_RULE_DOMAIN_MAX 253

struct zt_rule {
	uint8_t proto;                 /* enum zt_rule_proto */
	bool is_default;               /* "default -> ...": only the decision counts */
	struct zt_cidr src, dst;
	struct zt_port_range sport, dport;
	/* "" for any; else the flow's name must be this one or end in
	 * "." and this one (lower case; only flows that have a name) */
	char domain[ZT_RULE_DOMAIN_MAX + 1];
	enum zt_route_decision decision;
	bool reject;                   /* only with ZT_ROUTE_DROP */
};

/* Longest text zt_rule_format() produces, with its NUL. */
#define ZT_RULE_STRLEN (192 + 8 + ZT_RULE_DOMAIN_MAX)

/* A rule matching everything (any protocol, address and port) -> DIRECT. */
void zt_rule_init(struct zt_rule *r);
/* Whether @r (not a default rule) matches @q. */
bool zt_rule_matches(const struct zt_rule *r, const struct zt_route_query *q);
/* Whether decision @d can carry flows of rule protocol @proto (enum
 * zt_rule_proto): not UDP over HTTP CONNECT, not ICMP over a proxy. */
bool zt_route_carries(uint8_t proto, enum zt_route_decision d);
/* Check @r's fields (zt_route_carries() included, except that a udp rule
 * to HTTP is carried when it matches destination port 53 alone: DNS over
 * TCP, the router's dns_over_tcp). Return: 0 or -EINVAL. */
int zt_rule_validate(const struct zt_rule *r);
/* Whether @a and @b are the same rule: every condition and the decision
 * (the equality zt_rule_format() and zt_rule_parse() keep). */
bool zt_rule_same(const struct zt_rule *a, const struct zt_rule *b);

/*
 * zt_rule_parse() - parse one rule in the syntax of docs/rules.md.
 * @text: the rule (borrowed, NUL-terminated)
 * @out: the rule, filled only on success
 * @err: on failure, a message naming the offending token (may be NULL)
 * @errlen: size of @err
 * Return: 0 or -EINVAL.
 */
int zt_rule_parse(const char *text, struct zt_rule *out, char *err,
		  size_t errlen);
/*
 * zt_rule_format() - the canonical text of @r, which zt_rule_parse() turns
 * back into an equal rule (zt_rule_same()).
 * Return: the length of the full text (as snprintf; it fits when smaller
 * than @buflen, always so for ZT_RULE_STRLEN bytes), or -EINVAL.
 */
int zt_rule_format(const struct zt_rule *r, char *buf, size_t buflen);

struct zt_rule_seg; /* private to rules.c */

struct zt_rules {
	struct zt_rule *rules;         /* max_rules slots */
	uint32_t count, max_rules;
	struct zt_rule_seg *segs;      /* runs of rules, see rules.c */
	uint32_t nsegs;
	enum zt_route_decision def;
	bool def_reject;
};

#define ZT_RULES_DEFAULT_MAX 4096

/* An empty table (default DIRECT) for up to @max_rules rules (0: the
 * default, at most 2^20). Return: 0, -EINVAL or -ENOMEM. */
int zt_rules_init(struct zt_rules *t, uint32_t max_rules);
void zt_rules_destroy(struct zt_rules *t);
/* Append a copy of @r, or set the default when r->is_default.
 * Return: 0, -EINVAL, -ENOSPC (max_rules) or -ENOMEM; unchanged on error. */
int zt_rules_add(struct zt_rules *t, const struct zt_rule *r);
/* zt_rule_parse() then zt_rules_add(); @err as for zt_rule_parse(). */
int zt_rules_add_text(struct zt_rules *t, const char *text, char *err,
		      size_t errlen);
void zt_rules_set_default(struct zt_rules *t, enum zt_route_decision d,
			  bool reject);
/* The first rule matching @q (borrowed from @t), or NULL: the default. */
const struct zt_rule *zt_rules_lookup(const struct zt_rules *t,
				      const struct zt_route_query *q);
/* The decision for @q; *@reject (may be NULL) tells a rejecting Drop. */
enum zt_route_decision zt_rules_match(const struct zt_rules *t,
				      const struct zt_route_query *q,
				      bool *reject);
/* zt_rules_match() as a zt_route_fn; @user is the const struct zt_rules. */
enum zt_route_decision zt_rules_route(void *user,
				      const struct zt_route_query *q);

#endif /* ZTUN_ROUTE_H */
