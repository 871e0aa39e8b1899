// SPDX-License-Identifier: MIT
/*
 * fuzz_rules.c - libFuzzer target: the rule language (docs/rules.md)
 * through zt_rules_add_text(), then lookups in the table it built.
 *
 * Theory of operation: the input up to its first NUL byte is a rules
 * file: lines split at '\n', each cut at a '#' (a comment, as ztun-ref's
 * --rules reader does) and at RULE_LINE_MAX bytes, each added to a table
 * of MAX_RULES rules with zt_rules_add_text(). Every line must give 0,
 * -EINVAL with a message that quotes a piece of the line (or says it is
 * empty or too long), or -ENOSPC once the table is full. A line that
 * parsed must be a valid rule, the one the table now ends with (or its
 * new default), and its canonical text (zt_rule_format(), which must fit
 * ZT_RULE_STRLEN) must parse back to the same rule and print the same.
 *
 * The bytes after the NUL are queries, QUERY_BYTES each; with none, the
 * queries are drawn from the rules themselves. A query takes its
 * addresses from a rule's prefixes (the network address, the last
 * address, one bit flipped), its ports from a rule's range (the ends and
 * one past), its name from a rule's domain (equal, one label under it,
 * glued on without a dot, its parent), so that conditions are met and
 * missed by one. For each query every rule's zt_rule_matches() must agree
 * with an independent reading of docs/rules.md (naive_matches()), the
 * table's answer must be the first rule that matches (or none: the
 * default), and zt_rules_match() must give that rule's decision and
 * reject flag, or the default's.
 *
 * The destination prefixes of the rules also go into a zt_lpm of their
 * own; after the inserts and again after removing every other one, the
 * trie must pass zt_lpm_check() and answer each query's destination with
 * the longest prefix a linear scan finds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ztun/lpm.h"
#include "ztun/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RULES 64
#define RULE_LINE_MAX 600   /* past the parser's 511: the long-rule error */
#define MAX_QUERIES 512
#define QUERY_BYTES 8
#define NAME_MAX_TEXT (ZT_RULE_DOMAIN_MAX + 8)

struct ctx {
	struct zt_rules t;
	/* the table's default as the lines set it */
	enum zt_route_decision def;
	bool def_reject;
};

/* Whether some '...'-quoted piece of @err (a trailing "..." cut off)
 * occurs in @line: the message names where the parser stopped. Every
 * pair of quotes is tried, as the token may hold quotes itself; an error
 * with very many is not judged. */
static bool err_quotes_line(const char *err, const char *line)
{
	const char *quote[16];
	unsigned nq = 0;

	if (!strcmp(err, "empty rule") || !strncmp(err, "rule longer than", 16))
		return true;
	for (const char *p = err; (p = strchr(p, '\'')) != NULL; p++) {
		if (nq == sizeof(quote) / sizeof(quote[0]))
			return true;
		quote[nq++] = p;
	}
	for (unsigned i = 0; i < nq; i++) {
		for (unsigned j = i + 1; j < nq; j++) {
			char piece[RULE_LINE_MAX + 1];
			size_t n = (size_t)(quote[j] - quote[i] - 1);

			if (n > 3 && !memcmp(quote[j] - 3, "...", 3))
				n -= 3;
			if (!n || n > RULE_LINE_MAX)
				continue;
			memcpy(piece, quote[i] + 1, n);
			piece[n] = '\0';
			if (strstr(line, piece))
				return true;
		}
	}
	return false;
}

/* The canonical text of @r parses back to @r and prints the same. */
static void check_round_trip(const struct zt_rule *r)
{
	char text[ZT_RULE_STRLEN], again[ZT_RULE_STRLEN], err[256];
	struct zt_rule back;
	int n = zt_rule_format(r, text, sizeof(text));

	if (n <= 0 || (size_t)n >= sizeof(text))
		abort();
	if (zt_rule_parse(text, &back, err, sizeof(err)) || !zt_rule_same(r, &back))
		abort();
	if (zt_rule_format(&back, again, sizeof(again)) != n ||
	    strcmp(text, again))
		abort();
}

static void add_line(struct ctx *c, const char *line)
{
	char err[1024];
	struct zt_rule r, keep;
	uint32_t before = c->t.count;
	int prc, rc;

	zt_rule_init(&keep);
	keep.decision = ZT_ROUTE_LOCAL;
	r = keep;
	err[0] = '\0';
	prc = zt_rule_parse(line, &r, err, sizeof(err));
	if (prc) {
		if (prc != -EINVAL || !zt_rule_same(&r, &keep) || !err[0] ||
		    !err_quotes_line(err, line))
			abort();
	} else {
		if (zt_rule_validate(&r))
			abort();
		check_round_trip(&r);
	}
	err[0] = '\0';
	rc = zt_rules_add_text(&c->t, line, err, sizeof(err));
	if (prc) {
		if (rc != prc || c->t.count != before)
			abort();
		return;
	}
	if (rc == -ENOSPC) {
		if (r.is_default || before != MAX_RULES || c->t.count != before ||
		    !err_quotes_line(err, line))
			abort();
		return;
	}
	if (rc)
		abort();
	if (r.is_default) {
		if (c->t.count != before)
			abort();
		c->def = r.decision;
		c->def_reject = r.reject;
		return;
	}
	if (c->t.count != before + 1 || !zt_rule_same(&c->t.rules[before], &r))
		abort();
}

/* docs/rules.md read once more, condition by condition. */
static bool naive_prefix(const struct zt_cidr *c, const struct zt_addr *a)
{
	if (!c->addr.family)
		return true;
	if (a->family != c->addr.family)
		return false;
	for (unsigned i = 0; i < c->len; i++) {
		unsigned sh = 7 - i % 8;

		if (((a->bytes[i / 8] >> sh) & 1) !=
		    ((c->addr.bytes[i / 8] >> sh) & 1))
			return false;
	}
	return true;
}

static bool naive_matches(const struct zt_rule *r,
			  const struct zt_route_query *q)
{
	bool ports = r->sport.lo != 0 || r->sport.hi != 65535 ||
		     r->dport.lo != 0 || r->dport.hi != 65535;

	switch (r->proto) {
	case ZT_RULE_TCP:
		if (q->proto != 6)
			return false;
		break;
	case ZT_RULE_UDP:
		if (q->proto != 17)
			return false;
		break;
	case ZT_RULE_ICMP:
		if (q->proto != 1 && q->proto != 58)
			return false;
		break;
	default:
		break;
	}
	if (ports) {
		/* only TCP and UDP flows have ports; the resolver's question
		 * (no destination) meets no port condition */
		if ((q->proto != 6 && q->proto != 17) || !q->dst.family)
			return false;
		if (q->sport < r->sport.lo || q->sport > r->sport.hi ||
		    q->dport < r->dport.lo || q->dport > r->dport.hi)
			return false;
	}
	if (!naive_prefix(&r->src, &q->src) || !naive_prefix(&r->dst, &q->dst))
		return false;
	if (r->domain[0]) {
		size_t dl = strlen(r->domain), nl;

		if (!q->name)
			return false;
		nl = strlen(q->name);
		if (nl == dl)
			return !strcmp(q->name, r->domain);
		return nl > dl && q->name[nl - dl - 1] == '.' &&
		       !strcmp(q->name + nl - dl, r->domain);
	}
	return true;
}

/* An address of @c's family: its network address, last address (b & 1),
 * one bit flipped at @bit (b & 2); "any" gives an IPv4 or IPv6 one. */
static struct zt_addr addr_from(const struct zt_cidr *c, uint8_t b,
				uint8_t bit)
{
	struct zt_addr a;
	unsigned bits;

	memset(&a, 0, sizeof(a));
	if (c->addr.family) {
		a = c->addr;
	} else {
		a.family = (b & 4) ? ZT_AF_INET6 : ZT_AF_INET;
		a.bytes[0] = 10;
	}
	bits = a.family == ZT_AF_INET ? 32 : 128;
	if (b & 1)
		for (unsigned i = c->len; i < bits; i++)
			a.bytes[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	if (b & 2)
		a.bytes[(bit % bits) / 8] ^= (uint8_t)(0x80 >> (bit % 8));
	return a;
}

static uint16_t port_from(const struct zt_port_range *p, uint8_t b)
{
	switch (b & 3) {
	case 0:
		return p->lo;
	case 1:
		return p->hi;
	case 2:
		return (uint16_t)(p->lo - 1);
	default:
		return (uint16_t)(p->hi + 1);
	}
}

/* A name from @domain ("" when the rule has none): NULL, itself, one
 * label under it, glued on without a dot, or its parent. */
static const char *name_from(const char *domain, uint8_t b, char *buf)
{
	const char *dot;

	switch (b % 6) {
	case 0:
		return NULL;
	case 1:
		return domain;
	case 2:
		strcpy(buf, "a.");
		break;
	case 3:
		strcpy(buf, "bad");
		break;
	case 4:
		dot = strchr(domain, '.');
		return dot ? dot + 1 : "";
	default:
		strcpy(buf, "x-y.z.");
		break;
	}
	strcat(buf, domain);
	return buf;
}

static const struct zt_rule *rule_at(const struct ctx *c, uint8_t b,
				     struct zt_rule *none)
{
	if (!c->t.count || b % (c->t.count + 1) == c->t.count) {
		zt_rule_init(none);
		return none;
	}
	return &c->t.rules[b % c->t.count];
}

static void query(const struct ctx *c, const uint8_t *b, struct zt_lpm *lpm,
		  const struct zt_cidr *pfx, uint32_t npfx)
{
	static const uint8_t protos[] = { 6, 17, 1, 58, 0, 132 };
	struct zt_route_query q;
	struct zt_rule none_s, none_d, none_n;
	const struct zt_rule *rs = rule_at(c, b[1], &none_s);
	const struct zt_rule *rd = rule_at(c, b[2], &none_d);
	const struct zt_rule *rn = rule_at(c, b[6], &none_n);
	const struct zt_rule *got, *first = NULL;
	char name[NAME_MAX_TEXT];
	enum zt_route_decision d;
	bool reject;

	memset(&q, 0, sizeof(q));
	q.proto = protos[b[0] % sizeof(protos)];
	q.src = addr_from(&rs->src, b[3], b[4]);
	/* no destination: the fake-IP resolver's question about a name */
	if (b[0] / sizeof(protos) % 8 != 7)
		q.dst = addr_from(&rd->dst, (uint8_t)(b[3] >> 3), b[5]);
	if (q.proto == 6 || q.proto == 17) {
		q.sport = port_from(&rs->sport, b[7]);
		q.dport = port_from(&rd->dport, (uint8_t)(b[7] >> 2));
	}
	q.name = name_from(rn->domain, (uint8_t)(b[7] >> 4), name);

	for (uint32_t i = 0; i < c->t.count; i++) {
		bool m = zt_rule_matches(&c->t.rules[i], &q);

		if (m != naive_matches(&c->t.rules[i], &q))
			abort();
		if (m && !first)
			first = &c->t.rules[i];
	}
	got = zt_rules_lookup(&c->t, &q);
	if (got != first)
		abort();
	d = zt_rules_match(&c->t, &q, &reject);
	if (first ? (d != first->decision || reject != first->reject)
		  : (d != c->def || reject != c->def_reject))
		abort();
	if (zt_rules_route((void *)&c->t, &q) != d)
		abort();

	if (q.dst.family) {
		uint32_t v = 0;
		unsigned len = 0, best = 0;
		bool found = zt_lpm_lookup(lpm, &q.dst, &v, &len), any = false;

		for (uint32_t i = 0; i < npfx; i++) {
			if (pfx[i].addr.family &&
			    naive_prefix(&pfx[i], &q.dst) &&
			    (!any || pfx[i].len > best)) {
				any = true;
				best = pfx[i].len;
			}
		}
		if (found != any || (found && len != best))
			abort();
	}
}

/* The rules' destination prefixes, each once, into @lpm with their index
 * as value; *@n of them in @pfx. */
static void lpm_fill(const struct ctx *c, struct zt_lpm *lpm,
		     struct zt_cidr *pfx, uint32_t *n)
{
	*n = 0;
	for (uint32_t i = 0; i < c->t.count; i++) {
		const struct zt_cidr *d = &c->t.rules[i].dst;

		if (!d->addr.family || zt_lpm_find(lpm, &d->addr, d->len, NULL))
			continue;
		if (zt_lpm_insert(lpm, &d->addr, d->len, i))
			abort();
		pfx[(*n)++] = *d;
	}
	if (zt_lpm_check(lpm) || zt_lpm_count(lpm) != *n)
		abort();
}

/* Remove every other prefix (marked as family 0 in @pfx). */
static void lpm_thin(struct zt_lpm *lpm, struct zt_cidr *pfx, uint32_t n)
{
	for (uint32_t i = 0; i < n; i += 2) {
		if (zt_lpm_remove(lpm, &pfx[i].addr, pfx[i].len) ||
		    zt_lpm_find(lpm, &pfx[i].addr, pfx[i].len, NULL))
			abort();
		pfx[i].addr.family = 0;
	}
	if (zt_lpm_check(lpm) || zt_lpm_count(lpm) != n / 2)
		abort();
}

static void queries(const struct ctx *c, const uint8_t *q, size_t qlen,
		    struct zt_lpm *lpm, const struct zt_cidr *pfx, uint32_t n)
{
	unsigned done = 0;

	if (qlen >= QUERY_BYTES) {
		for (size_t off = 0; off + QUERY_BYTES <= qlen &&
		     done < MAX_QUERIES; off += QUERY_BYTES, done++)
			query(c, q + off, lpm, pfx, n);
		return;
	}
	/* none given: each rule's own addresses, ports and names */
	for (uint32_t i = 0; i < c->t.count && done < MAX_QUERIES; i++) {
		for (unsigned v = 0; v < 12; v++, done++) {
			/* every protocol, name form and port end */
			uint8_t b[QUERY_BYTES] = {
				(uint8_t)(v + i), (uint8_t)i, (uint8_t)i,
				(uint8_t)(v * 9), (uint8_t)(v * 37),
				(uint8_t)(v * 53 + i), (uint8_t)i,
				(uint8_t)((v % 6) << 4 | ((v * 5 + i) & 15)),
			};

			query(c, b, lpm, pfx, n);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t text_len = nul ? (size_t)(nul - data) : size;
	struct zt_cidr pfx[MAX_RULES];
	struct zt_lpm lpm;
	struct ctx c;
	uint32_t npfx;
	size_t off = 0;

	memset(&c, 0, sizeof(c));
	if (zt_rules_init(&c.t, MAX_RULES))
		abort();
	c.def = ZT_ROUTE_DIRECT;
	while (off < text_len) {
		const uint8_t *nl = memchr(data + off, '\n', text_len - off);
		size_t end = nl ? (size_t)(nl - data) : text_len;
		size_t n = end - off;
		char line[RULE_LINE_MAX + 1];
		char *hash;

		if (n > RULE_LINE_MAX)
			n = RULE_LINE_MAX;
		memcpy(line, data + off, n);
		line[n] = '\0';
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		add_line(&c, line);
		off = end + 1;
	}
	if (zt_lpm_init(&lpm, MAX_RULES))
		abort();
	lpm_fill(&c, &lpm, pfx, &npfx);
	queries(&c, nul ? nul + 1 : data + size,
		nul ? size - text_len - 1 : 0, &lpm, pfx, npfx);
	lpm_thin(&lpm, pfx, npfx);
	queries(&c, nul ? nul + 1 : data + size,
		nul ? size - text_len - 1 : 0, &lpm, pfx, npfx);
	zt_lpm_destroy(&lpm);
	zt_rules_destroy(&c.t);
	return 0;
}
