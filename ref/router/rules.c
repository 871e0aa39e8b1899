/* SPDX-License-Identifier: MIT */
/*
 * rules.c - route decisions and the first-match rule table.
 *
 * Theory of operation: a rule is a conjunction of conditions (protocol,
 * source and destination prefix, source and destination port range) and a
 * decision; the table answers a query with the decision of the first rule
 * that matches, or its default. The text syntax (docs/rules.md) is parsed
 * by splitting on blanks and reading tokens left to right; every error
 * message quotes the token it stopped at. zt_rule_format() writes the
 * canonical form, which parses back to an equal rule.
 *
 * Matching cost: the rules are grouped, in order, into segments. A run of
 * consecutive rules that test only the destination (same protocol, no
 * source prefix, no ports) forms one trie segment; everything else sits
 * in linear segments tested rule by rule. A trie segment stores each
 * rule's destination prefix in a longest-prefix matcher, with as value the
 * index of the first rule of the run whose prefix contains it. Since every
 * prefix containing an address lies on one chain of nested prefixes, the
 * longest match of a destination then names the first matching rule of
 * the run. Rules are only appended, so each new prefix's value is its
 * nearest stored ancestor's value, or its own index when it has none (a
 * later rule never beats an earlier one, so values already stored stay
 * right). Segments are tried in order, so first-match semantics hold
 * across them.
 */
#include "ztun/route.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ztun/dns_wire.h"

#define RULE_TEXT_MAX 512
#define RULE_TOKENS_MAX 32

struct zt_rule_seg {
	uint32_t first, count;   /* rules[first .. first + count) */
	bool trie;               /* a run of destination-only rules */
	uint8_t proto;           /* the run's protocol (trie only) */
	struct zt_lpm lpm;       /* dst prefix -> first rule index (trie only) */
};

/* Indexed by enum zt_route_decision. */
static const char *const decision_names[ZT_ROUTE__COUNT] = {
	"direct", "socks5", "http", "drop", "local", "nat",
};

/* Indexed by enum zt_rule_proto. */
static const char *const proto_names[] = { "any", "tcp", "udp", "icmp" };

/**
 * zt_route_decision_name() - the lower-case name of @d.
 * @d: a decision
 *
 * Return: a static string; "?" when @d is out of range.
 */
const char *zt_route_decision_name(enum zt_route_decision d)
{
	if ((unsigned)d >= ZT_ROUTE__COUNT)
		return "?";
	return decision_names[d];
}

/**
 * zt_route_decision_parse() - parse a decision name.
 * @name: "direct", "socks5", "http", "drop", "local", "nat" or "reject"
 * @d: the decision (reject gives ZT_ROUTE_DROP)
 * @reject: true only for "reject" (may be NULL)
 *
 * Return: 0 or -EINVAL (@d and @reject untouched).
 */
int zt_route_decision_parse(const char *name, enum zt_route_decision *d,
			    bool *reject)
{
	if (strcmp(name, "reject") == 0) {
		*d = ZT_ROUTE_DROP;
		if (reject)
			*reject = true;
		return 0;
	}
	for (unsigned i = 0; i < ZT_ROUTE__COUNT; i++) {
		if (strcmp(name, decision_names[i]) == 0) {
			*d = (enum zt_route_decision)i;
			if (reject)
				*reject = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* --- matching --------------------------------------------------------- */

static bool port_any(const struct zt_port_range *p)
{
	return p->lo == 0 && p->hi == 0xffff;
}

static bool proto_matches(uint8_t rule_proto, uint8_t proto)
{
	switch (rule_proto) {
	case ZT_RULE_ANY:
		return true;
	case ZT_RULE_TCP:
		return proto == 6;
	case ZT_RULE_UDP:
		return proto == 17;
	case ZT_RULE_ICMP:
		return proto == 1 || proto == 58;
	}
	return false;
}

/* Whether @d (NUL-terminated, within ZT_RULE_DOMAIN_MAX + 1 bytes) is a
 * domain condition: a host name (zt_dns_name_valid()) in lower case, as
 * the names it is matched against are. */
static bool domain_valid(const char *d)
{
	const char *end = memchr(d, '\0', ZT_RULE_DOMAIN_MAX + 1);

	if (!end)
		return false;
	for (const char *p = d; p < end; p++)
		if (*p >= 'A' && *p <= 'Z')
			return false;
	return zt_dns_name_valid(d);
}

/* Whether @name is @domain or a name under it ("" matches anything). */
static bool domain_matches(const char *domain, const char *name)
{
	size_t dl, nl;

	if (!domain[0])
		return true;
	if (!name)
		return false;
	dl = strlen(domain);
	nl = strlen(name);
	if (nl < dl || strcmp(name + nl - dl, domain) != 0)
		return false;
	return nl == dl || name[nl - dl - 1] == '.';
}

bool zt_cidr_contains(const struct zt_cidr *c, const struct zt_addr *a)
{
	unsigned full = c->len >> 3, rest = c->len & 7;

	if (!c->addr.family)
		return true;
	if (a->family != c->addr.family || memcmp(a->bytes, c->addr.bytes, full))
		return false;
	return !rest ||
	       ((a->bytes[full] ^ c->addr.bytes[full]) & (0xff00 >> rest)) == 0;
}

/**
 * zt_rule_matches() - whether every condition of @r holds for @q.
 * @r: the rule (its is_default flag is ignored)
 * @q: the query
 *
 * Return: true on a match.
 */
bool zt_rule_matches(const struct zt_rule *r, const struct zt_route_query *q)
{
	if (!proto_matches(r->proto, q->proto))
		return false;
	if (!port_any(&r->sport) || !port_any(&r->dport)) {
		/* a query with no destination (the fake-IP resolver's, about
		 * a name) has no ports either: its zeros are none */
		if ((q->proto != 6 && q->proto != 17) || !q->dst.family)
			return false;
		if (q->sport < r->sport.lo || q->sport > r->sport.hi ||
		    q->dport < r->dport.lo || q->dport > r->dport.hi)
			return false;
	}
	return zt_cidr_contains(&r->src, &q->src) &&
	       zt_cidr_contains(&r->dst, &q->dst) &&
	       domain_matches(r->domain, q->name);
}

/**
 * zt_rule_init() - a rule that matches everything and decides DIRECT.
 * @r: the rule to fill
 */
void zt_rule_init(struct zt_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->sport.hi = 0xffff;
	r->dport.hi = 0xffff;
	r->decision = ZT_ROUTE_DIRECT;
}

struct zt_cidr zt_cidr_network(const struct zt_addr *a, uint8_t len)
{
	struct zt_cidr c;
	unsigned full = len >> 3;

	memset(&c, 0, sizeof(c));
	c.addr.family = a->family;
	c.len = len;
	memcpy(c.addr.bytes, a->bytes, full);
	if (len & 7)
		c.addr.bytes[full] = (uint8_t)(a->bytes[full] & (0xff00 >> (len & 7)));
	return c;
}

/* Inside ::ffff:0:0/96: no flow has such an address (the stack drops
 * it), so a condition on it could never hold. */
static bool cidr_never(const struct zt_cidr *c)
{
	return c->len >= 96 && zt_addr_is_v4_mapped(&c->addr);
}

/* "any" as a name would read as no condition, and match nothing. */
static bool domain_never(const char *d)
{
	return !strcmp(d, "any");
}

static bool cidr_valid(const struct zt_cidr *c)
{
	struct zt_cidr net;

	if (!c->addr.family)
		return c->len == 0;
	if (c->addr.family != ZT_AF_INET && c->addr.family != ZT_AF_INET6)
		return false;
	if (c->len > zt_addr_len(&c->addr) * 8)
		return false;
	net = zt_cidr_network(&c->addr, c->len);
	return memcmp(net.addr.bytes, c->addr.bytes, 16) == 0;
}

/**
 * zt_route_carries() - whether decision @d can carry flows of @proto.
 * @proto: an enum zt_rule_proto
 * @d: the decision
 *
 * HTTP CONNECT carries only TCP, SOCKS5 TCP and UDP: a udp rule to http
 * or an icmp rule to a proxy would refuse every flow it matched, so such
 * a rule is a mistake. An "any" rule is not: its TCP goes to the proxy.
 *
 * Return: false for those combinations, else true.
 */
bool zt_route_carries(uint8_t proto, enum zt_route_decision d)
{
	if (proto == ZT_RULE_UDP)
		return d != ZT_ROUTE_HTTP;
	if (proto == ZT_RULE_ICMP)
		return d != ZT_ROUTE_HTTP && d != ZT_ROUTE_SOCKS5;
	return true;
}

/* Whether @r's decision carries what it matches: zt_route_carries(), and
 * UDP to port 53 alone over HTTP CONNECT, which carries DNS as DNS over
 * TCP (the router's dns_over_tcp). */
static bool rule_carried(const struct zt_rule *r)
{
	return zt_route_carries(r->proto, r->decision) ||
	       (r->proto == ZT_RULE_UDP && r->decision == ZT_ROUTE_HTTP &&
		r->dport.lo == 53 && r->dport.hi == 53);
}

bool zt_rule_same(const struct zt_rule *a, const struct zt_rule *b)
{
	return a->proto == b->proto && a->is_default == b->is_default &&
	       a->decision == b->decision && a->reject == b->reject &&
	       a->src.addr.family == b->src.addr.family &&
	       a->dst.addr.family == b->dst.addr.family &&
	       a->src.len == b->src.len && a->dst.len == b->dst.len &&
	       memcmp(a->src.addr.bytes, b->src.addr.bytes, 16) == 0 &&
	       memcmp(a->dst.addr.bytes, b->dst.addr.bytes, 16) == 0 &&
	       a->sport.lo == b->sport.lo && a->sport.hi == b->sport.hi &&
	       a->dport.lo == b->dport.lo && a->dport.hi == b->dport.hi &&
	       strcmp(a->domain, b->domain) == 0;
}

/**
 * zt_rule_validate() - check that @r is a rule zt_rule_parse() could make.
 * @r: the rule
 *
 * Return: 0 or -EINVAL (bad protocol, decision, prefix, reversed ports,
 * ports on ICMP, reject without drop, source and destination families
 * that differ, a decision that cannot carry the protocol, a condition
 * that never holds: an IPv4-mapped prefix, the name 'any').
 */
int zt_rule_validate(const struct zt_rule *r)
{
	if ((unsigned)r->decision >= ZT_ROUTE__COUNT ||
	    (r->reject && r->decision != ZT_ROUTE_DROP))
		return -EINVAL;
	if (r->is_default)
		return 0;
	if (r->proto > ZT_RULE_ICMP || !cidr_valid(&r->src) ||
	    !cidr_valid(&r->dst) || !rule_carried(r))
		return -EINVAL;
	if (r->src.addr.family && r->dst.addr.family &&
	    r->src.addr.family != r->dst.addr.family)
		return -EINVAL;
	if (r->sport.lo > r->sport.hi || r->dport.lo > r->dport.hi)
		return -EINVAL;
	if (r->proto == ZT_RULE_ICMP &&
	    (!port_any(&r->sport) || !port_any(&r->dport) || r->domain[0]))
		return -EINVAL;
	if (r->domain[0] && !domain_valid(r->domain))
		return -EINVAL;
	/* as zt_rule_parse() refuses them: conditions that never hold */
	if (cidr_never(&r->src) || cidr_never(&r->dst) ||
	    domain_never(r->domain))
		return -EINVAL;
	return 0;
}

/* --- text ------------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Parse a decimal number <= @max made of digits only. */
static int parse_uint(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "N", "N-M" or "any" into @p; @tok names the whole token in errors. */
static int parse_ports(const char *s, struct zt_port_range *p, const char *tok,
		       char *err, size_t errlen)
{
	const char *dash = strchr(s, '-');
	unsigned lo, hi;

	if (strcmp(s, "any") == 0) {
		p->lo = 0;
		p->hi = 0xffff;
		return 0;
	}
	if (dash) {
		if (parse_uint(s, (size_t)(dash - s), 0xffff, &lo) ||
		    parse_uint(dash + 1, strlen(dash + 1), 0xffff, &hi))
			return fail(err, errlen, "bad port range '%s'", tok);
		if (lo > hi)
			return fail(err, errlen, "reversed port range '%s'", tok);
	} else {
		if (parse_uint(s, strlen(s), 0xffff, &lo))
			return fail(err, errlen, "bad port '%s'", tok);
		hi = lo;
	}
	p->lo = (uint16_t)lo;
	p->hi = (uint16_t)hi;
	return 0;
}

/* "any", "ADDR" or "ADDR/LEN" (in place: @s is modified) into @c. */
static int parse_cidr(char *s, struct zt_cidr *c, const char *tok, char *err,
		      size_t errlen)
{
	char *slash = strchr(s, '/');
	unsigned len, bits;

	memset(c, 0, sizeof(*c));
	if (strcmp(s, "any") == 0)
		return 0;
	if (slash)
		*slash = '\0';
	if (zt_addr_parse(s, &c->addr))
		return fail(err, errlen, "bad address in '%s'", tok);
	bits = (unsigned)zt_addr_len(&c->addr) * 8;
	if (!slash) {
		len = bits;
	} else if (parse_uint(slash + 1, strlen(slash + 1), bits, &len)) {
		return fail(err, errlen, "bad prefix length in '%s'", tok);
	}
	c->len = (uint8_t)len;
	if (!cidr_valid(c))
		return fail(err, errlen,
			    "host bits set in '%s' (use the network address)",
			    tok);
	if (cidr_never(c))
		return fail(err, errlen,
			    "IPv4-mapped prefix in '%s' matches no flow (write the IPv4 prefix)",
			    tok);
	return 0;
}

int zt_cidr_parse(const char *text, struct zt_cidr *out, char *err,
		  size_t errlen)
{
	char buf[RULE_TEXT_MAX];

	if (strlen(text) >= sizeof(buf) || strcmp(text, "any") == 0)
		return fail(err, errlen, "bad prefix '%s'", text);
	snprintf(buf, sizeof(buf), "%s", text);
	return parse_cidr(buf, out, text, err, errlen);
}

/*
 * An endpoint token: "any", "ADDR[/LEN]", "any:PORTS", "IPV4[/LEN]:PORTS",
 * a bare IPv6 prefix, or "[IPV6[/LEN]]:PORTS". @has_port tells whether
 * PORTS was given.
 */
static int parse_endpoint(const char *tok, struct zt_cidr *c,
			  struct zt_port_range *p, bool *has_port, char *err,
			  size_t errlen)
{
	char buf[RULE_TEXT_MAX];
	char *host = buf, *port = NULL, *colon;
	size_t colons = 0;

	snprintf(buf, sizeof(buf), "%s", tok);
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');

		if (!close || (close[1] && close[1] != ':') ||
		    (close[1] == ':' && !close[2]))
			return fail(err, errlen, "bad bracketed endpoint '%s'",
				    tok);
		*close = '\0';
		host = buf + 1;
		if (close[1] == ':')
			port = close + 2;
		if (!strchr(host, ':'))
			return fail(err, errlen,
				    "brackets are for IPv6 only in '%s'", tok);
	} else {
		for (const char *q = buf; *q; q++)
			colons += *q == ':';
		colon = strchr(buf, ':');
		if (colons == 1) {
			*colon = '\0';
			port = colon + 1;
		}
	}
	if (parse_cidr(host, c, tok, err, errlen))
		return -EINVAL;
	*has_port = port != NULL;
	if (port && parse_ports(port, p, tok, err, errlen))
		return -EINVAL;
	return 0;
}

enum side { SIDE_NONE, SIDE_SRC, SIDE_DST };

struct parse_state {
	struct zt_rule r;
	bool src_set, dst_set, sport_set, dport_set, domain_set;
	enum side last;
	char *err;
	size_t errlen;
};

static int set_endpoint(struct parse_state *st, enum side side,
			const char *tok)
{
	struct zt_cidr c;
	struct zt_port_range p = { 0, 0xffff };
	bool has_port;
	bool *set = side == SIDE_SRC ? &st->src_set : &st->dst_set;
	bool *pset = side == SIDE_SRC ? &st->sport_set : &st->dport_set;
	const struct zt_cidr *other = side == SIDE_SRC ? &st->r.dst : &st->r.src;

	if (*set)
		return fail(st->err, st->errlen, "%s given twice at '%s'",
			    side == SIDE_SRC ? "source" : "destination", tok);
	if (parse_endpoint(tok, &c, &p, &has_port, st->err, st->errlen))
		return -EINVAL;
	if (c.addr.family && other->addr.family &&
	    c.addr.family != other->addr.family)
		return fail(st->err, st->errlen,
			    "source and destination families differ at '%s'",
			    tok);
	if (has_port) {
		if (*pset)
			return fail(st->err, st->errlen,
				    "port given twice at '%s'", tok);
		if (st->r.proto == ZT_RULE_ICMP)
			return fail(st->err, st->errlen,
				    "icmp has no ports: '%s'", tok);
		*pset = true;
		if (side == SIDE_SRC)
			st->r.sport = p;
		else
			st->r.dport = p;
	}
	*set = true;
	if (side == SIDE_SRC)
		st->r.src = c;
	else
		st->r.dst = c;
	st->last = side;
	return 0;
}

static int set_ports(struct parse_state *st, enum side side, const char *kw,
		     const char *tok)
{
	struct zt_port_range p;
	bool *pset = side == SIDE_SRC ? &st->sport_set : &st->dport_set;

	if (!tok)
		return fail(st->err, st->errlen, "missing ports after '%s'", kw);
	if (st->r.proto == ZT_RULE_ICMP)
		return fail(st->err, st->errlen, "icmp has no ports: '%s'", kw);
	if (*pset)
		return fail(st->err, st->errlen, "%s port given twice at '%s'",
			    side == SIDE_SRC ? "source" : "destination", kw);
	if (parse_ports(tok, &p, tok, st->err, st->errlen))
		return -EINVAL;
	*pset = true;
	if (side == SIDE_SRC)
		st->r.sport = p;
	else
		st->r.dport = p;
	return 0;
}

/* "domain NAME": NAME lower-cased into the rule. */
static int set_domain(struct parse_state *st, const char *kw, const char *tok)
{
	size_t n;

	if (!tok)
		return fail(st->err, st->errlen, "missing name after '%s'", kw);
	if (st->r.proto == ZT_RULE_ICMP)
		return fail(st->err, st->errlen, "icmp has no names: '%s'", kw);
	if (st->domain_set)
		return fail(st->err, st->errlen, "domain given twice at '%s'", kw);
	n = strlen(tok);
	if (n > ZT_RULE_DOMAIN_MAX)
		return fail(st->err, st->errlen, "name longer than %d at '%.32s...'",
			    ZT_RULE_DOMAIN_MAX, tok);
	for (size_t i = 0; i <= n; i++)
		st->r.domain[i] = (char)tolower((unsigned char)tok[i]);
	if (domain_never(st->r.domain))
		return fail(st->err, st->errlen,
			    "'%s' is not a name (leave 'domain' out to match any)",
			    tok);
	if (!domain_valid(st->r.domain))
		return fail(st->err, st->errlen,
			    "bad domain '%s' (labels of letters, digits, '-' and '_' joined by dots)",
			    tok);
	st->domain_set = true;
	return 0;
}

/* "DECISION [reject]" or "reject" from @tok[0 .. n). */
static int parse_action(struct parse_state *st, char **tok, int n,
			const char *arrow)
{
	bool reject;

	if (n == 0)
		return fail(st->err, st->errlen, "missing decision after '%s'",
			    arrow);
	if (zt_route_decision_parse(tok[0], &st->r.decision, &reject))
		return fail(st->err, st->errlen, "unknown decision '%s'", tok[0]);
	st->r.reject = reject;
	if (n >= 2 && strcmp(tok[1], "reject") == 0 && !reject) {
		if (st->r.decision != ZT_ROUTE_DROP)
			return fail(st->err, st->errlen,
				    "'reject' needs drop, not '%s'", tok[0]);
		st->r.reject = true;
		tok++;
		n--;
	}
	if (n > 1)
		return fail(st->err, st->errlen,
			    "unexpected '%s' after the decision", tok[1]);
	return 0;
}

/**
 * zt_rule_parse() - parse one rule (grammar in docs/rules.md).
 * @text: the rule text (borrowed)
 * @out: filled with the rule on success only
 * @err: receives a message quoting the offending token (may be NULL)
 * @errlen: size of @err
 *
 * Return: 0 or -EINVAL.
 */
int zt_rule_parse(const char *text, struct zt_rule *out, char *err,
		  size_t errlen)
{
	char buf[RULE_TEXT_MAX];
	char *tok[RULE_TOKENS_MAX];
	int n = 0, i = 0;
	struct parse_state st;
	size_t len = strlen(text);

	if (len >= sizeof(buf))
		return fail(err, errlen, "rule longer than %d bytes",
			    RULE_TEXT_MAX - 1);
	memcpy(buf, text, len + 1);
	for (char *p = buf; *p;) {
		char *start;

		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			*p++ = '\0';
		if (!*p)
			break;
		start = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			p++;
		if (n == RULE_TOKENS_MAX)
			return fail(err, errlen, "too many tokens at '%.*s'",
				    (int)(p - start), start);
		tok[n++] = start;
	}
	if (n == 0)
		return fail(err, errlen, "empty rule");

	memset(&st, 0, sizeof(st));
	zt_rule_init(&st.r);
	st.err = err;
	st.errlen = errlen;

	if (strcmp(tok[0], "default") == 0) {
		st.r.is_default = true;
		if (n < 2 || strcmp(tok[1], "->") != 0)
			return fail(err, errlen, "expected '->' after '%s'",
				    n < 2 ? tok[0] : tok[1]);
		if (parse_action(&st, tok + 2, n - 2, tok[1]))
			return -EINVAL;
		*out = st.r;
		return 0;
	}
	for (i = 0; i < 4; i++)
		if (strcmp(tok[0], proto_names[i]) == 0)
			break;
	if (i == 4)
		return fail(err, errlen, "unknown protocol '%s'", tok[0]);
	st.r.proto = (uint8_t)i;

	for (i = 1; i < n && strcmp(tok[i], "->") != 0; i++) {
		const char *t = tok[i], *next = i + 1 < n ? tok[i + 1] : NULL;
		int rc;

		if (next && strcmp(next, "->") == 0)
			next = NULL;
		if (strcmp(t, "src") == 0 || strcmp(t, "dst") == 0) {
			if (!next)
				return fail(err, errlen,
					    "missing address after '%s'", t);
			rc = set_endpoint(&st, t[0] == 's' ? SIDE_SRC : SIDE_DST,
					  next);
			i++;
		} else if (strcmp(t, "sport") == 0) {
			rc = set_ports(&st, SIDE_SRC, t, next);
			i++;
		} else if (strcmp(t, "dport") == 0) {
			rc = set_ports(&st, SIDE_DST, t, next);
			i++;
		} else if (strcmp(t, "domain") == 0) {
			rc = set_domain(&st, t, next);
			i++;
		} else if (strcmp(t, "port") == 0) {
			rc = set_ports(&st, st.last == SIDE_SRC ? SIDE_SRC :
				       SIDE_DST, t, next);
			i++;
		} else if (!zt_route_decision_parse(t, &st.r.decision, NULL)) {
			return fail(err, errlen, "expected '->' before '%s'", t);
		} else {
			rc = set_endpoint(&st, SIDE_DST, t);
		}
		if (rc)
			return rc;
	}
	if (i == n)
		return fail(err, errlen, "expected '->' after '%s'", tok[n - 1]);
	if (parse_action(&st, tok + i + 1, n - i - 1, tok[i]))
		return -EINVAL;
	if (!rule_carried(&st.r))
		return fail(err, errlen, "'%s' cannot carry %s",
			    tok[i + 1], proto_names[st.r.proto]);
	*out = st.r;
	return 0;
}

__attribute__((format(printf, 4, 5)))
static void app(char *buf, size_t buflen, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(*pos < buflen ? buf + *pos : NULL,
		      *pos < buflen ? buflen - *pos : 0, fmt, ap);
	va_end(ap);
	if (k > 0)
		*pos += (size_t)k;
}

static void app_cidr(char *buf, size_t buflen, size_t *pos, const char *kw,
		     const struct zt_cidr *c)
{
	char a[ZT_ADDR_STRLEN];

	app(buf, buflen, pos, " %s %s/%u", kw,
	    zt_addr_format(&c->addr, a, sizeof(a)), c->len);
}

static void app_ports(char *buf, size_t buflen, size_t *pos, const char *kw,
		      const struct zt_port_range *p)
{
	if (p->lo == p->hi)
		app(buf, buflen, pos, " %s %u", kw, p->lo);
	else
		app(buf, buflen, pos, " %s %u-%u", kw, p->lo, p->hi);
}

/**
 * zt_rule_format() - write @r's canonical text into @buf.
 * @r: the rule
 * @buf: destination (caller-owned), NUL-terminated when @buflen > 0
 * @buflen: its size; ZT_RULE_STRLEN always suffices
 *
 * The form is "PROTO [src CIDR] [sport P] [dst CIDR] [dport P] ->
 * DECISION [reject]" ("PROTO any -> ..." without conditions), or
 * "default -> DECISION [reject]".
 *
 * Return: length of the whole text (as snprintf), or -EINVAL.
 */
int zt_rule_format(const struct zt_rule *r, char *buf, size_t buflen)
{
	size_t pos = 0;

	if (zt_rule_validate(r))
		return -EINVAL;
	if (buflen)
		buf[0] = '\0';
	if (r->is_default) {
		app(buf, buflen, &pos, "default");
	} else {
		bool any = true;

		app(buf, buflen, &pos, "%s", proto_names[r->proto]);
		if (r->src.addr.family) {
			app_cidr(buf, buflen, &pos, "src", &r->src);
			any = false;
		}
		if (!port_any(&r->sport)) {
			app_ports(buf, buflen, &pos, "sport", &r->sport);
			any = false;
		}
		if (r->dst.addr.family) {
			app_cidr(buf, buflen, &pos, "dst", &r->dst);
			any = false;
		}
		if (!port_any(&r->dport)) {
			app_ports(buf, buflen, &pos, "dport", &r->dport);
			any = false;
		}
		if (r->domain[0]) {
			app(buf, buflen, &pos, " domain %s", r->domain);
			any = false;
		}
		if (any)
			app(buf, buflen, &pos, " any");
	}
	app(buf, buflen, &pos, " -> %s%s", zt_route_decision_name(r->decision),
	    r->reject ? " reject" : "");
	return (int)pos;
}

/* --- the table -------------------------------------------------------- */

/**
 * zt_rules_init() - an empty table deciding DIRECT.
 * @t: the table (caller-owned)
 * @max_rules: capacity; 0 for ZT_RULES_DEFAULT_MAX, at most 2^20
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int zt_rules_init(struct zt_rules *t, uint32_t max_rules)
{
	memset(t, 0, sizeof(*t));
	if (!max_rules)
		max_rules = ZT_RULES_DEFAULT_MAX;
	if (max_rules > (1u << 20))
		return -EINVAL;
	t->rules = calloc(max_rules, sizeof(*t->rules));
	t->segs = calloc(max_rules, sizeof(*t->segs));
	if (!t->rules || !t->segs) {
		zt_rules_destroy(t);
		return -ENOMEM;
	}
	t->max_rules = max_rules;
	t->def = ZT_ROUTE_DIRECT;
	return 0;
}

/**
 * zt_rules_destroy() - free everything @t holds; it is left empty.
 * @t: the table
 */
void zt_rules_destroy(struct zt_rules *t)
{
	for (uint32_t i = 0; i < t->nsegs; i++)
		if (t->segs[i].trie)
			zt_lpm_destroy(&t->segs[i].lpm);
	free(t->segs);
	free(t->rules);
	memset(t, 0, sizeof(*t));
}

/**
 * zt_rules_set_default() - the decision when no rule matches.
 * @t: the table
 * @d: the decision
 * @reject: reject instead of a silent drop (only meaningful with DROP)
 */
void zt_rules_set_default(struct zt_rules *t, enum zt_route_decision d,
			  bool reject)
{
	t->def = d;
	t->def_reject = reject && d == ZT_ROUTE_DROP;
}

static bool dst_only(const struct zt_rule *r)
{
	return !r->src.addr.family && port_any(&r->sport) &&
	       port_any(&r->dport) && !r->domain[0];
}

/* Store one prefix of rule @idx in a trie segment; *@added says whether
 * the prefix is new (an equal prefix of an earlier rule keeps its value). */
static int trie_add_one(struct zt_lpm *lpm, const struct zt_addr *a,
			unsigned len, uint32_t idx, bool *added)
{
	uint32_t v = idx;
	int err;

	*added = false;
	if (zt_lpm_find(lpm, a, len, NULL))
		return 0;
	/* The nearest shorter prefix already holds the first rule of every
	 * prefix around it; all of them come before @idx. */
	zt_lpm_lookup_max(lpm, a, len, &v, NULL);
	if (v > idx)
		v = idx;
	err = zt_lpm_insert(lpm, a, len, v);
	*added = err == 0;
	return err;
}

static int trie_add(struct zt_lpm *lpm, const struct zt_cidr *c, uint32_t idx)
{
	struct zt_addr any4, any6;
	bool added4;
	bool added6;
	int err;

	if (c->addr.family)
		return trie_add_one(lpm, &c->addr, c->len, idx, &added4);
	/* "any" destination: both families' /0. */
	memset(&any4, 0, sizeof(any4));
	any4.family = ZT_AF_INET;
	memset(&any6, 0, sizeof(any6));
	any6.family = ZT_AF_INET6;
	err = trie_add_one(lpm, &any4, 0, idx, &added4);
	if (err)
		return err;
	err = trie_add_one(lpm, &any6, 0, idx, &added6);
	if (err && added4)
		zt_lpm_remove(lpm, &any4, 0);
	return err;
}

/**
 * zt_rules_add() - append @r (copied) as the last rule, or set the
 * default when r->is_default.
 * @t: the table
 * @r: the rule (borrowed)
 *
 * Return: 0, -EINVAL (zt_rule_validate), -ENOSPC (max_rules rules) or
 * -ENOMEM; @t is unchanged on error.
 */
int zt_rules_add(struct zt_rules *t, const struct zt_rule *r)
{
	struct zt_rule_seg *seg = t->nsegs ? &t->segs[t->nsegs - 1] : NULL;
	uint32_t idx = t->count;
	bool trie = dst_only(r);
	bool new_seg;
	int err;

	if (zt_rule_validate(r))
		return -EINVAL;
	if (r->is_default) {
		zt_rules_set_default(t, r->decision, r->reject);
		return 0;
	}
	if (t->count >= t->max_rules)
		return -ENOSPC;
	new_seg = !seg || seg->trie != trie || (trie && seg->proto != r->proto);
	if (new_seg) {
		seg = &t->segs[t->nsegs];
		memset(seg, 0, sizeof(*seg));
		seg->first = idx;
		seg->trie = trie;
		seg->proto = r->proto;
		/* At most two prefixes per rule ("any" is one per family). */
		if (trie && zt_lpm_init(&seg->lpm, 2 * t->max_rules))
			return -EINVAL;
	}
	if (trie) {
		err = trie_add(&seg->lpm, &r->dst, idx);
		if (err) {
			if (new_seg)
				zt_lpm_destroy(&seg->lpm);
			return err;
		}
	}
	if (new_seg)
		t->nsegs++;
	seg->count++;
	t->rules[idx] = *r;
	t->count++;
	return 0;
}

/**
 * zt_rules_add_text() - parse one rule and add it.
 * @t: the table
 * @text: the rule text (borrowed)
 * @err: message on failure (may be NULL)
 * @errlen: size of @err
 *
 * Return: 0, -EINVAL (with @err naming the bad token), -ENOSPC or -ENOMEM.
 */
int zt_rules_add_text(struct zt_rules *t, const char *text, char *err,
		      size_t errlen)
{
	struct zt_rule r;
	int rc = zt_rule_parse(text, &r, err, errlen);

	if (rc)
		return rc;
	rc = zt_rules_add(t, &r);
	if (rc == -ENOSPC)
		fail(err, errlen, "too many rules (at most %u) at '%s'",
		     t->max_rules, text);
	else if (rc)
		fail(err, errlen, "cannot add rule '%s'", text);
	return rc;
}

/**
 * zt_rules_lookup() - the first rule of @t matching @q.
 * @t: the table
 * @q: the query
 *
 * Return: the rule (borrowed from @t until it is destroyed), or NULL when
 * none matches and the default applies.
 */
const struct zt_rule *zt_rules_lookup(const struct zt_rules *t,
				      const struct zt_route_query *q)
{
	for (uint32_t s = 0; s < t->nsegs; s++) {
		const struct zt_rule_seg *seg = &t->segs[s];
		uint32_t v;

		/* A query with no destination (the fake-IP resolver's, about a
		 * name) is matched by the segment's "any" rules only, which
		 * the trie files under both families' /0: walk the rules. */
		if (seg->trie && q->dst.family) {
			if (proto_matches(seg->proto, q->proto) &&
			    zt_lpm_lookup(&seg->lpm, &q->dst, &v, NULL))
				return &t->rules[v];
			continue;
		}
		for (uint32_t i = seg->first; i < seg->first + seg->count; i++)
			if (zt_rule_matches(&t->rules[i], q))
				return &t->rules[i];
	}
	return NULL;
}

/**
 * zt_rules_match() - the decision for @q.
 * @t: the table
 * @q: the query
 * @reject: set to whether a Drop should be answered (may be NULL)
 *
 * Return: the first matching rule's decision, or the default.
 */
enum zt_route_decision zt_rules_match(const struct zt_rules *t,
				      const struct zt_route_query *q,
				      bool *reject)
{
	const struct zt_rule *r = zt_rules_lookup(t, q);

	if (reject)
		*reject = r ? r->reject : t->def_reject;
	return r ? r->decision : t->def;
}

/**
 * zt_rules_route() - zt_rules_match() in the shape of a zt_route_fn.
 * @user: the struct zt_rules (only read)
 * @q: the query
 *
 * Return: the decision (a rejecting Drop is reported as plain DROP).
 */
enum zt_route_decision zt_rules_route(void *user,
				      const struct zt_route_query *q)
{
	return zt_rules_match(user, q, NULL);
}
