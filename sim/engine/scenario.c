/* SPDX-License-Identifier: MIT */
/*
 * scenario.c - the scenario script parser (grammar: docs/scenarios.md).
 *
 * Theory of operation:
 *
 * The text is split into lines; each line into tokens by a small
 * shell-like tokenizer: blanks separate tokens, `#` outside a string ends
 * the line, `"..."` groups (with C escapes) and may sit inside a word
 * (`--route="tcp 1.2.3.4 -> socks5"` is one token), and `<...>` (TCP
 * options) is one token up to its `>`. A token remembers whether it began
 * with a quote, which is how a string payload differs from a word.
 *
 * Lines whose first token starts with "--" before the first event are
 * header options; they are applied to a struct zt_router_config at once,
 * so an out-of-range value fails here with its line. Every other line is
 * TIME DIRECTION ARGS...; the direction picks a small parser for the
 * arguments. Every error is "FILE:LINE: message" and quotes the token
 * where parsing stopped.
 *
 * Ownership: events are kept in one growing array owned by struct zt_scn;
 * payload buffers inside them are owned by their event. On any error the
 * half-built script is freed before returning.
 */
#include "engine/scenario.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ztun/drop.h"
#include "ztun/route.h"
#include "ztun/stack.h"
#include "ztun/tcp.h"

#define MAX_TOKS 512

struct tok {
	char *s;       /* NUL-terminated (payload strings may hold NULs too) */
	size_t len;
	bool quoted;   /* began with '"' */
};

struct pstate {
	struct zt_scn *scn;
	const char *file;
	unsigned line;
	size_t line_off, line_len; /* the line in scn->src */
	char *err;
	size_t errlen;
	bool seen_event;
	bool seen_tcp_addrs;   /* a TCP line with addresses came before */
	uint8_t tcp_family;    /* that line's family: address-less lines' */
	char seen_keys[64][64]; /* header options given so far (not --route) */
	unsigned n_seen_keys;
	uint64_t prev_t;
};

__attribute__((format(printf, 2, 3)))
static int perr(struct pstate *ps, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (!ps->err || !ps->errlen)
		return -EINVAL;
	k = snprintf(ps->err, ps->errlen, "%s:%u: ", ps->file, ps->line);
	if (k < 0 || (size_t)k >= ps->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(ps->err + k, ps->errlen - (size_t)k, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* --- tokenizer --------------------------------------------------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * tokenize() - split @line (@n bytes) into @toks, decoding into @arena
 * (at least @n + 1 bytes per token boundary: 2 * n + 2 bytes is enough).
 * Return: the number of tokens, or -EINVAL with the message in @ps.
 */
static int tokenize(struct pstate *ps, const char *line, size_t n, char *arena,
		    struct tok *toks)
{
	size_t i = 0, a = 0;
	int nt = 0;

	for (;;) {
		struct tok *t;

		while (i < n && is_blank(line[i]))
			i++;
		if (i >= n || line[i] == '#')
			break;
		if (nt == MAX_TOKS)
			return perr(ps, "too many tokens");
		t = &toks[nt++];
		t->s = arena + a;
		t->quoted = line[i] == '"';
		if (line[i] == '<' && i + 1 < n && !is_blank(line[i + 1]) &&
		    line[i + 1] != '=') {
			while (i < n && line[i] != '>')
				arena[a++] = line[i++];
			if (i >= n)
				return perr(ps, "unterminated '<' (options end with '>')");
			arena[a++] = line[i++];
		} else {
			while (i < n && !is_blank(line[i]) && line[i] != '#') {
				if (line[i] != '"') {
					arena[a++] = line[i++];
					continue;
				}
				i++;
				while (i < n && line[i] != '"') {
					char c = line[i++];
					int h1, h2;

					if (c != '\\') {
						arena[a++] = c;
						continue;
					}
					if (i >= n)
						break;
					c = line[i++];
					switch (c) {
					case 'r': arena[a++] = '\r'; break;
					case 'n': arena[a++] = '\n'; break;
					case 't': arena[a++] = '\t'; break;
					case '0': arena[a++] = '\0'; break;
					case '\\': arena[a++] = '\\'; break;
					case '"': arena[a++] = '"'; break;
					case 'x':
						h1 = i < n ? hexval(line[i]) : -1;
						h2 = i + 1 < n ? hexval(line[i + 1]) : -1;
						if (h1 < 0 || h2 < 0)
							return perr(ps, "bad escape '\\x%.*s'",
								    (int)(n - i < 2 ? n - i : 2),
								    line + i);
						arena[a++] = (char)(h1 << 4 | h2);
						i += 2;
						break;
					default:
						return perr(ps, "bad escape '\\%c'", c);
					}
				}
				if (i >= n)
					return perr(ps, "unterminated string");
				i++; /* closing quote */
			}
		}
		t->len = (size_t)(arena + a - t->s);
		arena[a++] = '\0';
	}
	return nt;
}

/* --- small value parsers ------------------------------------------------ */

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * take_u32() - the decimal digits at *@s (at least one, no sign) as a
 * number <= UINT32_MAX, which @stop must follow (0: the end of the
 * string). Moves *@s past @stop.
 * Return: 0 with *@out set, or -EINVAL.
 */
static int take_u32(const char **s, char stop, uint32_t *out)
{
	const char *p = *s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	if (*p != stop)
		return -EINVAL;
	*s = stop ? p + 1 : p;
	*out = (uint32_t)v;
	return 0;
}

/* Seconds with up to 9 decimals ("1.5", "0.010"), then an optional unit
 * (ns, us, ms, s) when @units. */
static int parse_time(const char *s, bool units, uint64_t *out)
{
	uint64_t ip = 0, frac = 0, scale = ZT_SEC, v;
	unsigned fd = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	while (*p >= '0' && *p <= '9') {
		if (ip > 1000000000ull)
			return -EINVAL;
		ip = ip * 10 + (uint64_t)(*p++ - '0');
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9') {
			if (fd == 9)
				return -EINVAL;
			frac = frac * 10 + (uint64_t)(*p++ - '0');
			fd++;
		}
	}
	if (units && *p) {
		if (!strcmp(p, "s"))
			scale = ZT_SEC;
		else if (!strcmp(p, "ms"))
			scale = ZT_MS;
		else if (!strcmp(p, "us"))
			scale = 1000;
		else if (!strcmp(p, "ns"))
			scale = 1;
		else
			return -EINVAL;
		p += strlen(p);
	}
	if (*p)
		return -EINVAL;
	while (fd++ < 9)
		frac *= 10;
	v = ip * scale + frac / (ZT_SEC / scale);
	*out = v;
	return 0;
}

/* "A.B.C.D", "v6", or "[v6]" into @a. */
static int parse_addr(const char *s, struct zt_addr *a)
{
	char buf[64];
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		if (n - 2 >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = 0;
		return zt_addr_parse(buf, a);
	}
	return zt_addr_parse(s, a);
}

/* "A.B.C.D:PORT", "[v6]:PORT"; with @names also "host.name:PORT". */
static int parse_ep(const char *s, bool names, struct zt_endpoint *ep)
{
	char buf[300];
	const char *colon;
	uint64_t port;
	size_t hl;

	memset(ep, 0, sizeof(*ep));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
	}
	if (parse_uint(colon + 1, 65535, &port))
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (hl == 0 || hl >= sizeof(buf) || hl > 255)
		return -EINVAL;
	memcpy(buf, s, hl);
	buf[hl] = 0;
	ep->port = (uint16_t)port;
	if (parse_addr(buf, &ep->addr) == 0)
		return 0;
	if (!names || buf[0] == '[')
		return -EINVAL;
	memcpy(ep->name, buf, hl + 1);
	return 0;
}

static int parse_bool(const char *s, bool *b)
{
	if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "on")) {
		*b = true;
		return 0;
	}
	if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "off")) {
		*b = false;
		return 0;
	}
	return -EINVAL;
}

/* Append @n bytes to the event's payload. */
static int buf_append(struct zt_scn_pkt *p, const void *d, size_t n)
{
	uint8_t *nb = realloc(p->payload, p->payload_len + n + 1);

	if (!nb)
		return -ENOMEM;
	memcpy(nb + p->payload_len, d, n);
	p->payload = nb;
	p->payload_len += n;
	p->has_payload = true;
	return 0;
}

static bool is_hex_token(const struct tok *t)
{
	if (t->quoted || t->len == 0 || t->len % 2)
		return false;
	for (size_t i = 0; i < t->len; i++)
		if (hexval(t->s[i]) < 0)
			return false;
	return true;
}

/* A payload token: a string or hex digits (pairs). Return 1 if taken,
 * 0 if @t is not a payload token, or a negative errno. */
static int payload_token(struct zt_scn_pkt *p, const struct tok *t)
{
	uint8_t b[256];

	if (t->quoted)
		return buf_append(p, t->s, t->len) ? -ENOMEM : 1;
	if (!is_hex_token(t))
		return 0;
	for (size_t i = 0; i < t->len; i += 2) {
		size_t k = 0;

		for (; i < t->len && k < sizeof(b); i += 2)
			b[k++] = (uint8_t)(hexval(t->s[i]) << 4 | hexval(t->s[i + 1]));
		if (buf_append(p, b, k))
			return -ENOMEM;
		i -= 2;
	}
	return 1;
}

/* --- header ------------------------------------------------------------ */

static int hdr_time(struct pstate *ps, const char *k, const char *v,
		    uint64_t *out)
{
	if (parse_time(v, true, out))
		return perr(ps, "%s: bad time '%s'", k, v);
	return 0;
}

static int hdr_uint(struct pstate *ps, const char *k, const char *v,
		    uint64_t min, uint64_t max, uint64_t *out)
{
	if (parse_uint(v, max, out) || *out < min)
		return perr(ps, "%s: '%s' is not a number in %llu..%llu", k, v,
			    (unsigned long long)min, (unsigned long long)max);
	return 0;
}

static int hdr_proxy(struct pstate *ps, const char *k, const char *v,
		     struct zt_proxy_config *px)
{
	if (parse_ep(v, true, &px->server))
		return perr(ps, "%s: bad address '%s'", k, v);
	px->enabled = true;
	return 0;
}

static int hdr_auth(struct pstate *ps, const char *k, const char *v,
		    struct zt_proxy_config *px)
{
	const char *c = strchr(v, ':');
	size_t ul, pl;

	if (!c)
		return perr(ps, "%s: expected USER:PASS, got '%s'", k, v);
	ul = (size_t)(c - v);
	pl = strlen(c + 1);
	/* an empty password is sent as PLEN 0, as ztun-ref's USER:@ is */
	if (ul == 0 || ul > 255 || pl > 255)
		return perr(ps, "%s: user must be 1..255 bytes, password 0..255, in '%s'",
			    k, v);
	memcpy(px->username, v, ul);
	px->username[ul] = 0;
	memcpy(px->password, c + 1, pl + 1);
	px->auth = true;
	return 0;
}

static int hdr_prefix(struct pstate *ps, const char *k, const char *v,
		      uint8_t fam, struct zt_addr *a, uint8_t *plen)
{
	char buf[64];
	const char *sl = strchr(v, '/');
	uint64_t n;
	size_t al = sl ? (size_t)(sl - v) : strlen(v);

	if (al >= sizeof(buf))
		return perr(ps, "%s: bad address '%s'", k, v);
	memcpy(buf, v, al);
	buf[al] = 0;
	if (parse_addr(buf, a) || a->family != fam)
		return perr(ps, "%s: bad address '%s'", k, v);
	*plen = fam == ZT_AF_INET ? 32 : 128;
	if (sl) {
		if (parse_uint(sl + 1, *plen, &n))
			return perr(ps, "%s: bad prefix length in '%s'", k, v);
		*plen = (uint8_t)n;
	}
	return 0;
}

static int hdr_stack(struct pstate *ps, const char *k, const char *v)
{
	struct zt_stack_config *c = &ps->scn->hdr.cfg.stack;
	const char *key = k + strlen("--stack.");
	uint64_t n;
	bool b;
	int rc;

	if (!strcmp(key, "max_tcp_flows") || !strcmp(key, "max_udp_flows")) {
		rc = hdr_uint(ps, k, v, 1, 65536, &n);
		if (!rc && key[4] == 't')
			c->max_tcp_flows = (uint32_t)n;
		else if (!rc)
			c->max_udp_flows = (uint32_t)n;
		return rc;
	}
	if (!strcmp(key, "connect_timeout"))
		return hdr_time(ps, k, v, &c->connect_timeout);
	if (!strcmp(key, "tcp_idle_timeout"))
		return hdr_time(ps, k, v, &c->tcp_idle_timeout);
	if (!strcmp(key, "tcp_evict_idle"))
		return hdr_time(ps, k, v, &c->tcp_evict_idle);
	if (!strcmp(key, "udp_idle_timeout"))
		return hdr_time(ps, k, v, &c->udp_idle_timeout);
	if (!strcmp(key, "udp_evict_idle"))
		return hdr_time(ps, k, v, &c->udp_evict_idle);
	if (!strcmp(key, "udp_stream_timeout"))
		return hdr_time(ps, k, v, &c->udp_stream_timeout);
	if (!strcmp(key, "tcp.delack"))
		return hdr_time(ps, k, v, &c->tcp.delack);
	if (!strcmp(key, "tcp.time_wait"))
		return hdr_time(ps, k, v, &c->tcp.time_wait);
	if (!strcmp(key, "tcp.rx_buf") || !strcmp(key, "tcp.tx_buf")) {
		rc = hdr_uint(ps, k, v, 1, UINT32_MAX, &n);
		if (!rc && key[4] == 'r')
			c->tcp.rx_buf = (uint32_t)n;
		else if (!rc)
			c->tcp.tx_buf = (uint32_t)n;
		return rc;
	}
	if (!strcmp(key, "tcp.mss")) {
		rc = hdr_uint(ps, k, v, 64, 65495, &n);
		if (!rc)
			c->tcp.mss = (uint16_t)n;
		return rc;
	}
	if (!strcmp(key, "reject_icmp") || !strcmp(key, "tcp.window_scale") ||
	    !strcmp(key, "tcp.sack") || !strcmp(key, "tcp.timestamps")) {
		if (parse_bool(v, &b))
			return perr(ps, "%s: expected 0 or 1, got '%s'", k, v);
		if (!strcmp(key, "reject_icmp"))
			c->reject_icmp = b;
		else if (!strcmp(key, "tcp.window_scale"))
			c->tcp.window_scale = b;
		else if (!strcmp(key, "tcp.sack"))
			c->tcp.sack = b;
		else
			c->tcp.timestamps = b;
		return 0;
	}
	return perr(ps, "unknown stack setting '%s'", k);
}

/* The header's 0/1 options: where each one's value goes, or NULL. */
static bool *header_flag(struct zt_scn_header *h, const char *key)
{
	if (!strcmp(key, "--early-synack"))
		return &h->cfg.early_synack;
	if (!strcmp(key, "--udp-full-cone"))
		return &h->cfg.udp_full_cone;
	if (!strcmp(key, "--dns-over-tcp"))
		return &h->cfg.dns_over_tcp;
	if (!strcmp(key, "--dns-tcp-fallback"))
		return &h->cfg.dns_tcp_fallback;
	if (!strcmp(key, "--tun-offload"))
		return &h->tun_offload;
	return NULL;
}

static int header_option(struct pstate *ps, const struct tok *t)
{
	struct zt_scn_header *h = &ps->scn->hdr;
	char key[64];
	const char *eq = strchr(t->s, '='), *v;
	size_t kl;
	uint64_t n;
	char rerr[256];
	struct zt_rule rule;
	bool *flag;

	if (!eq)
		return perr(ps, "option '%s' needs a value (--KEY=VALUE)", t->s);
	kl = (size_t)(eq - t->s);
	if (kl >= sizeof(key))
		return perr(ps, "unknown option '%.*s'", (int)kl, t->s);
	memcpy(key, t->s, kl);
	key[kl] = 0;
	v = eq + 1;
	/* a second value would silently replace the first: only rules add up */
	if (strcmp(key, "--route")) {
		for (unsigned i = 0; i < ps->n_seen_keys; i++)
			if (!strcmp(ps->seen_keys[i], key))
				return perr(ps, "%s given twice (only --route repeats)", key);
		if (ps->n_seen_keys < sizeof(ps->seen_keys) / sizeof(ps->seen_keys[0]))
			memcpy(ps->seen_keys[ps->n_seen_keys++], key, kl + 1);
	}
	if (!strcmp(key, "--seed")) {
		if (parse_uint(v, UINT64_MAX, &h->seed))
			return perr(ps, "--seed: '%s' is not a number", v);
		h->seed_set = true;
		return 0;
	}
	if (!strcmp(key, "--tun"))
		return hdr_prefix(ps, key, v, ZT_AF_INET, &h->tun, &h->tun_prefix);
	if (!strcmp(key, "--tun6"))
		return hdr_prefix(ps, key, v, ZT_AF_INET6, &h->tun6, &h->tun6_prefix);
	if (!strcmp(key, "--mtu")) {
		if (hdr_uint(ps, key, v, 1280, 65535, &n))
			return -EINVAL;
		h->cfg.stack.mtu = (uint16_t)n;
		return 0;
	}
	if (!strcmp(key, "--route")) {
		if (zt_rule_parse(v, &rule, rerr, sizeof(rerr)))
			return perr(ps, "--route: %s", rerr);
		/* "default -> D" is --default=D, in the same order (the last
		 * one wins): the runner sets the default after the rules */
		if (rule.is_default) {
			h->def = rule.decision;
			h->def_reject = rule.reject;
			return 0;
		}
		if (h->nroutes == ZT_SCN_MAX_ROUTES)
			return perr(ps, "--route: more than %d rules",
				    ZT_SCN_MAX_ROUTES);
		h->routes[h->nroutes] = strdup(v);
		if (!h->routes[h->nroutes])
			return -ENOMEM;
		h->nroutes++;
		return 0;
	}
	if (!strcmp(key, "--default")) {
		if (zt_route_decision_parse(v, &h->def, &h->def_reject))
			return perr(ps, "--default: unknown decision '%s'", v);
		return 0;
	}
	if (!strcmp(key, "--socks5"))
		return hdr_proxy(ps, key, v, &h->cfg.socks5);
	if (!strcmp(key, "--http"))
		return hdr_proxy(ps, key, v, &h->cfg.http);
	if (!strcmp(key, "--socks5-auth"))
		return hdr_auth(ps, key, v, &h->cfg.socks5);
	if (!strcmp(key, "--http-auth"))
		return hdr_auth(ps, key, v, &h->cfg.http);
	flag = header_flag(h, key);
	if (flag) {
		if (parse_bool(v, flag))
			return perr(ps, "%s: expected 0 or 1, got '%s'", key, v);
		return 0;
	}
	if (!strcmp(key, "--max-sockets")) {
		if (hdr_uint(ps, key, v, 1, ZT_SCN_MAX_SOCKETS, &n))
			return -EINVAL;
		h->max_sockets = (unsigned)n;
		return 0;
	}
	if (!strcmp(key, "--fake-dns")) {
		if (zt_fakedns_parse_servers(v, &h->cfg.fake_dns, rerr, sizeof(rerr)))
			return perr(ps, "--fake-dns: %s", rerr);
		return 0;
	}
	if (!strcmp(key, "--fake-ip-range") || !strcmp(key, "--fake-ip6-range")) {
		bool v6 = key[9] == '6';
		struct zt_cidr *pool = v6 ? &h->cfg.fake_dns.pool6 : &h->cfg.fake_dns.pool4;

		if (zt_cidr_parse(v, pool, rerr, sizeof(rerr)))
			return perr(ps, "%s: %s", key, rerr);
		if (pool->addr.family != (v6 ? ZT_AF_INET6 : ZT_AF_INET))
			return perr(ps, "%s: '%s' is not an IPv%c prefix", key, v,
				    v6 ? '6' : '4');
		return 0;
	}
	if (!strcmp(key, "--fake-dns-upstream")) {
		if (parse_ep(v, false, &h->cfg.fake_dns.upstream))
			return perr(ps, "--fake-dns-upstream: expected ADDR:PORT, got '%s'", v);
		return 0;
	}
	if (!strcmp(key, "--fake-dns-names")) {
		if (hdr_uint(ps, key, v, 1, ZT_FAKEDNS_NAMES_MAX, &n))
			return -EINVAL;
		h->cfg.fake_dns.max_names = (uint32_t)n;
		return 0;
	}
	if (!strcmp(key, "--tolerance"))
		return hdr_time(ps, key, v, &h->tolerance);
	if (!strncmp(key, "--stack.", 8))
		return hdr_stack(ps, key, v);
	return perr(ps, "unknown option '%s'", key);
}

/* --- packets ------------------------------------------------------------ */

static int parse_opts(struct pstate *ps, struct zt_scn_pkt *p, const struct tok *t)
{
	char buf[512];
	char *save = NULL, *item;
	size_t n = t->len;

	if (n < 2 || n - 2 >= sizeof(buf))
		return perr(ps, "bad options '%s'", t->s);
	memcpy(buf, t->s + 1, n - 2);
	buf[n - 2] = 0;
	p->has_opts = true;
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *w[12];
		int nw = 0;
		char *s2 = NULL, *x;
		struct zt_scn_opt *o;
		uint64_t v;

		for (x = strtok_r(item, " \t", &s2); x;
		     x = strtok_r(NULL, " \t", &s2)) {
			if (nw == 12)
				return perr(ps, "too many words in option '%s'", w[0]);
			w[nw++] = x;
		}
		if (nw == 0)
			continue;
		if (p->opts_more)
			return perr(ps, "'...' must be the last option in '%s'", t->s);
		if (!strcmp(w[0], "...") && nw == 1) {
			p->opts_more = true;
			continue;
		}
		if (p->nopts == ZT_SCN_MAX_OPTS)
			return perr(ps, "too many options in '%s'", t->s);
		o = &p->opts[p->nopts];
		memset(o, 0, sizeof(*o));
		if (!strcmp(w[0], "mss") && nw == 2 && !parse_uint(w[1], 65535, &v)) {
			o->kind = ZT_SCN_OPT_MSS;
			o->val = (uint32_t)v;
		} else if (!strcmp(w[0], "wscale") && nw == 2 &&
			   !parse_uint(w[1], 255, &v)) {
			o->kind = ZT_SCN_OPT_WSCALE;
			o->val = (uint32_t)v;
		} else if (!strcmp(w[0], "sackOK") && nw == 1) {
			o->kind = ZT_SCN_OPT_SACKOK;
		} else if (!strcmp(w[0], "nop") && nw == 1) {
			o->kind = ZT_SCN_OPT_NOP;
		} else if (!strcmp(w[0], "eol") && nw == 1) {
			o->kind = ZT_SCN_OPT_EOL;
		} else if (!strcmp(w[0], "TS") && nw == 5 && !strcmp(w[1], "val") &&
			   !strcmp(w[3], "ecr")) {
			o->kind = ZT_SCN_OPT_TS;
			o->val_any = !strcmp(w[2], "*");
			o->ecr_any = !strcmp(w[4], "*");
			if (!o->val_any) {
				if (parse_uint(w[2], UINT32_MAX, &v))
					return perr(ps, "bad TS value '%s'", w[2]);
				o->val = (uint32_t)v;
			}
			if (!o->ecr_any) {
				if (parse_uint(w[4], UINT32_MAX, &v))
					return perr(ps, "bad TS value '%s'", w[4]);
				o->ecr = (uint32_t)v;
			}
		} else if (!strcmp(w[0], "sack")) {
			if (nw < 2 || nw - 1 > ZT_TCP_MAX_SACK)
				return perr(ps, "'sack' takes 1 to %d blocks, got %d",
					    ZT_TCP_MAX_SACK, nw - 1);
			o->kind = ZT_SCN_OPT_SACK;
			for (int i = 1; i < nw; i++) {
				const char *q = w[i];
				uint32_t l, r;

				if (take_u32(&q, ':', &l) || take_u32(&q, 0, &r))
					return perr(ps, "bad SACK block '%s'", w[i]);
				o->blocks[o->nblocks].left = l;
				o->blocks[o->nblocks].right = r;
				o->nblocks++;
			}
		} else {
			return perr(ps, "unknown TCP option '%s'", w[0]);
		}
		p->nopts++;
	}
	return 0;
}

static int parse_flags(const char *s, uint8_t *out)
{
	uint8_t f = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		switch (*s) {
		case 'S': f |= ZT_TCP_SYN; break;
		case 'F': f |= ZT_TCP_FIN; break;
		case 'R': f |= ZT_TCP_RST; break;
		case 'P': f |= ZT_TCP_PSH; break;
		case 'U': f |= ZT_TCP_URG; break;
		case 'E': f |= ZT_TCP_ECE; break;
		case 'W': f |= ZT_TCP_CWR; break;
		case '.': f |= ZT_TCP_ACK; break;
		default: return -EINVAL;
		}
	}
	*out = f;
	return 0;
}

/* "(LEN)" */
static int parse_paren_len(const char *s, uint32_t *out)
{
	char buf[16];
	size_t n = strlen(s);
	uint64_t v;

	if (n < 3 || s[0] != '(' || s[n - 1] != ')' || n - 2 >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s + 1, n - 2);
	buf[n - 2] = 0;
	if (parse_uint(buf, 65535, &v))
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_ttl(struct pstate *ps, const struct zt_scn_event *e,
		     struct zt_scn_pkt *p, const struct tok *t, int *i, int n);

static int parse_tcp(struct pstate *ps, struct zt_scn_event *e,
		     const struct tok *t, int i, int n)
{
	struct zt_scn_pkt *p = &e->pkt;
	const char *q;
	uint32_t a, b, l;
	uint64_t v;
	int rc, seq_tok;

	p->type = ZT_SCN_PKT_TCP;
	if (p->has_addrs) {
		ps->seen_tcp_addrs = true;
		ps->tcp_family = p->dst.family;
	} else if (!ps->seen_tcp_addrs)
		return perr(ps, "the first TCP line needs SRC:PORT > DST:PORT, got '%s'",
			    i < n ? t[i].s : "");
	if (i >= n)
		return perr(ps, "missing TCP flags");
	if (parse_flags(t[i].s, &p->flags))
		return perr(ps, "bad TCP flags '%s'", t[i].s);
	if (++i >= n)
		return perr(ps, "missing START:END(LEN) after '%s'", t[i - 1].s);
	q = t[i].s;
	if (take_u32(&q, ':', &a) || take_u32(&q, '(', &b) ||
	    take_u32(&q, ')', &l) || *q || b - a != l)
		return perr(ps, "bad sequence range '%s'", t[i].s);
	p->start = a;
	p->end = b;
	seq_tok = i;
	for (i++; i < n; i++) {
		const char *s = t[i].s;

		if (p->no_win_check)
			return perr(ps, "unexpected '%s' after '...'", s);
		if (!t[i].quoted && (!strcmp(s, "ack") || !strcmp(s, "win"))) {
			if (i + 1 >= n || parse_uint(t[i + 1].s,
						     s[0] == 'a' ? UINT32_MAX : 65535, &v))
				return perr(ps, "bad value after '%s'", s);
			if (s[0] == 'a') {
				p->has_ack = true;
				p->ack = (uint32_t)v;
			} else {
				p->has_win = true;
				p->win = (uint16_t)v;
			}
			i++;
			continue;
		}
		if (!t[i].quoted && s[0] == '<') {
			rc = parse_opts(ps, p, &t[i]);
			if (rc)
				return rc;
			continue;
		}
		if (!t[i].quoted && !strcmp(s, "...")) {
			p->no_win_check = true;
			continue;
		}
		/* `df` is the flag on an input, as on udp lines; on tun> it
		 * stays the payload byte it always was there */
		if (!t[i].quoted && (!strcmp(s, "ttl") || !strcmp(s, "tos") ||
				     (!strcmp(s, "df") && e->kind == ZT_SCN_TUN_IN))) {
			int j = i;

			/* nothing compares a TCP output's traffic class */
			if (e->kind == ZT_SCN_TUN_OUT && s[1] == 'o')
				return perr(ps, "'tos' on a TCP tun> line is not checked (only on udp and echo lines)");
			if (parse_ttl(ps, e, p, t, &j, n))
				return -EINVAL;
			i = j - 1;
			continue;
		}
		rc = payload_token(p, &t[i]);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return perr(ps, "unexpected '%s'", s);
	}
	if (p->has_payload && p->payload_len != l)
		return perr(ps, "payload is %zu bytes, '%s' says %u", p->payload_len,
			    t[seq_tok].s, l);
	return 0;
}

/* `ttl N` (1-255) and `tos N` (0-255), each at most once, in any order
 * from t[*i] on: a UDP or echo input's IP TTL / hop limit and traffic
 * class (IPv4 TOS), or those a net> datagram must leave with; `tos` also
 * on a net< datagram (it arrives so) and a tun> one (checked). */
static int parse_ttl(struct pstate *ps, const struct zt_scn_event *e,
		     struct zt_scn_pkt *p, const struct tok *t, int *i, int n)
{
	uint64_t v;

	while (*i < n && !t[*i].quoted &&
	       (!strcmp(t[*i].s, "ttl") || !strcmp(t[*i].s, "tos") ||
		!strcmp(t[*i].s, "df"))) {
		bool ttl = t[*i].s[1] == 't';
		const char *val = *i + 1 < n ? t[*i + 1].s : "";

		if (t[*i].s[0] == 'd') {
			uint8_t fam = p->type == ZT_SCN_PKT_TCP && !p->has_addrs ?
				      ps->tcp_family : p->dst.family;

			if (e->kind != ZT_SCN_TUN_IN || fam != ZT_AF_INET)
				return perr(ps, "'df' is for IPv4 tun< lines");
			if (p->df)
				return perr(ps, "'df' given twice");
			p->df = true;
			*i += 1;
			continue;
		}

		if (ttl && e->kind != ZT_SCN_TUN_IN && e->kind != ZT_SCN_NET_OUT)
			return perr(ps, "'ttl' is for tun< and net> lines");
		if (!ttl && e->kind != ZT_SCN_TUN_IN && e->kind != ZT_SCN_NET_OUT &&
		    e->kind != ZT_SCN_TUN_OUT && e->kind != ZT_SCN_NET_IN)
			return perr(ps, "'tos' is for tun<, tun>, net> and net< lines");
		if (ttl ? p->ttl != 0 : p->has_tos)
			return perr(ps, "'%s' given twice", t[*i].s);
		if (ttl && (parse_uint(val, 255, &v) || !v))
			return perr(ps, "expected a TTL of 1-255 after 'ttl', got '%s'",
				    val);
		if (!ttl && parse_uint(val, 255, &v))
			return perr(ps, "expected a traffic class of 0-255 after 'tos', got '%s'",
				    val);
		if (ttl)
			p->ttl = (uint8_t)v;
		else
			p->has_tos = true, p->tos = (uint8_t)v;
		*i += 2;
	}
	return 0;
}

static int parse_payload_rest(struct pstate *ps, struct zt_scn_pkt *p,
			      const struct tok *t, int i, int n)
{
	for (; i < n; i++) {
		int rc = payload_token(p, &t[i]);

		if (rc < 0)
			return rc;
		if (rc == 0)
			return perr(ps, "unexpected '%s' (not a payload)", t[i].s);
	}
	return 0;
}

/* An address with a port or without one (*@port 0, *@has_port false). */
static int parse_addr_port(const char *str, struct zt_addr *a, uint16_t *port,
			   bool *has_port)
{
	struct zt_endpoint ep;

	if (parse_ep(str, false, &ep) == 0) {
		*a = ep.addr;
		*port = ep.port;
		*has_port = true;
		return 0;
	}
	*port = 0;
	*has_port = false;
	return parse_addr(str, a);
}

/* `quotes SRC[:PORT] > DST[:PORT] [echo ID SEQ]` after an ICMP error: the
 * datagram it must quote (ports when given, an echo's identifier and
 * sequence number when given), from t[i] on. */
static int parse_quote(struct pstate *ps, struct zt_scn_pkt *p,
		       const struct tok *t, int i, int n)
{
	bool sp, dp;
	uint64_t v;

	if (t[i].quoted || strcmp(t[i].s, "quotes") || i + 3 >= n ||
	    strcmp(t[i + 2].s, ">"))
		return perr(ps, "expected 'quotes SRC > DST', got '%s'", t[i].s);
	if (parse_addr_port(t[i + 1].s, &p->quote_src, &p->quote_sport, &sp) ||
	    p->quote_src.family != p->src.family)
		return perr(ps, "bad quoted address '%s'", t[i + 1].s);
	if (parse_addr_port(t[i + 3].s, &p->quote_dst, &p->quote_dport, &dp) ||
	    p->quote_dst.family != p->src.family || sp != dp)
		return perr(ps, "bad quoted address '%s' (ports on both or neither)",
			    t[i + 3].s);
	p->has_quote = true;
	p->quote_ports = sp;
	i += 4;
	if (i < n && !sp && !strcmp(t[i].s, "echo")) {
		if (i + 2 >= n || parse_uint(t[i + 1].s, 65535, &v))
			return perr(ps, "expected ID SEQ after 'echo'");
		p->quote_echo_id = (uint16_t)v;
		if (parse_uint(t[i + 2].s, 65535, &v))
			return perr(ps, "bad sequence '%s'", t[i + 2].s);
		p->quote_echo_seq = (uint16_t)v;
		p->quote_echo = true;
		i += 3;
	}
	if (i < n)
		return perr(ps, "unexpected '%s'", t[i].s);
	return 0;
}

static int parse_packet(struct pstate *ps, struct zt_scn_event *e,
			const struct tok *t, int n)
{
	struct zt_scn_pkt *p = &e->pkt;
	int i = 0, len_tok;
	const char *type = NULL;
	uint64_t v;
	int rc;

	/* Find the word after "SRC > DST" (if any). */
	if (n >= 3 && !t[1].quoted && !strcmp(t[1].s, ">"))
		type = n > 3 ? t[3].s : "";
	if (type && (!strcmp(type, "icmp") || !strcmp(type, "raw"))) {
		if (parse_addr(t[0].s, &p->src))
			return perr(ps, "bad address '%s'", t[0].s);
		if (parse_addr(t[2].s, &p->dst) || p->dst.family != p->src.family)
			return perr(ps, "bad address '%s'", t[2].s);
		p->has_addrs = true;
		i = 3;
	} else if (type) {
		struct zt_endpoint s, d;

		if (parse_ep(t[0].s, false, &s))
			return perr(ps, "bad address '%s'", t[0].s);
		if (parse_ep(t[2].s, false, &d) || d.addr.family != s.addr.family)
			return perr(ps, "bad address '%s'", t[2].s);
		p->src = s.addr;
		p->dst = d.addr;
		p->sport = s.port;
		p->dport = d.port;
		p->has_addrs = true;
		i = 3;
	}
	if (i < n && !t[i].quoted && !strcmp(t[i].s, "raw")) {
		p->type = ZT_SCN_PKT_RAW;
		if (e->kind != ZT_SCN_TUN_IN)
			return perr(ps, "'raw' is for input (tun<) only");
		rc = parse_payload_rest(ps, p, t, i + 1, n);
		if (!rc && !p->has_payload)
			return perr(ps, "'raw' needs the packet's bytes");
		return rc;
	}
	if (i < n && !t[i].quoted && !strcmp(t[i].s, "udp")) {
		p->type = ZT_SCN_PKT_UDP;
		if (!p->has_addrs || !p->sport)
			return perr(ps, "udp needs SRC:PORT > DST:PORT");
		if (i + 1 >= n || parse_paren_len(t[i + 1].s, &p->len))
			return perr(ps, "expected (LEN) after 'udp', got '%s'",
				    i + 1 < n ? t[i + 1].s : "");
		len_tok = i + 1;
		i += 2;
		if (parse_ttl(ps, e, p, t, &i, n))
			return -EINVAL;
		rc = parse_payload_rest(ps, p, t, i, n);
		if (!rc && p->has_payload && p->payload_len != p->len)
			return perr(ps, "payload is %zu bytes, '%s' says %u",
				    p->payload_len, t[len_tok].s, p->len);
		return rc;
	}
	if (i < n && !t[i].quoted && !strcmp(t[i].s, "icmp")) {
		const char *what = i + 1 < n ? t[i + 1].s : "";

		if (!p->has_addrs)
			return perr(ps, "icmp needs SRC > DST");
		if (!strcmp(what, "echo") || !strcmp(what, "echoreply")) {
			p->type = what[4] ? ZT_SCN_PKT_ECHOREPLY : ZT_SCN_PKT_ECHO;
			if (i + 3 >= n || parse_uint(t[i + 2].s, 65535, &v))
				return perr(ps, "expected ID SEQ after '%s'", what);
			p->echo_id = (uint16_t)v;
			if (parse_uint(t[i + 3].s, 65535, &v))
				return perr(ps, "bad sequence '%s'", t[i + 3].s);
			p->echo_seq = (uint16_t)v;
			i += 4;
			if (parse_ttl(ps, e, p, t, &i, n))
				return -EINVAL;
			return parse_payload_rest(ps, p, t, i, n);
		}
		if (!strcmp(what, "unreach") || !strcmp(what, "timex") ||
		    !strcmp(what, "toobig")) {
			bool toobig = what[1] == 'o';

			p->type = toobig ? ZT_SCN_PKT_TOOBIG :
				  what[0] == 'u' ? ZT_SCN_PKT_UNREACH : ZT_SCN_PKT_TIMEX;
			if (i + 2 >= n ||
			    parse_uint(t[i + 2].s, toobig ? UINT32_MAX : 255, &v))
				return perr(ps, "expected %s after '%s'",
					    toobig ? "MTU" : "CODE", what);
			if (toobig)
				p->mtu = (uint32_t)v;
			else
				p->code = (uint8_t)v;
			if (i + 3 < n && parse_quote(ps, p, t, i + 3, n))
				return -EINVAL;
			/* the client's error about a datagram it got: built
			 * around that datagram's headers (build_input()) */
			if (e->kind == ZT_SCN_TUN_IN && !p->quote_ports)
				return perr(ps, "an input '%s' needs 'quotes SRC:PORT > DST:PORT' (the UDP datagram it is about)",
					    what);
			return 0;
		}
		return perr(ps, "unknown icmp message '%s'", what);
	}
	return parse_tcp(ps, e, t, i, n);
}

/* --- streams, datagrams, asserts ---------------------------------------- */

static int parse_stream(struct pstate *ps, struct zt_scn_event *e, bool in,
			const struct tok *t, int n)
{
	const char *w = n ? t[0].s : "";
	bool word = n && !t[0].quoted;
	uint64_t v;
	int rc;

	if (word && !in && !strcmp(w, "connect")) {
		e->sop = ZT_SCN_S_CONNECT;
		if (n < 2 || parse_ep(t[1].s, true, &e->ep))
			return perr(ps, "expected ADDR:PORT after 'connect', got '%s'",
				    n > 1 ? t[1].s : "");
		/* the TTL its SYN leaves with (ZT_UPSTREAM_TTL) */
		if (n == 4 && !strcmp(t[2].s, "ttl") &&
		    !parse_uint(t[3].s, 255, &v) && v) {
			e->pkt.ttl = (uint8_t)v;
			return 0;
		}
		if (n != 2)
			return perr(ps, "expected 'ttl N' (1-255) after '%s', got '%s'",
				    t[1].s, t[2].s);
		return 0;
	}
	if (word && in && !strcmp(w, "timex")) {
		/* the connect's SYN died at router ADDR, which said so */
		e->sop = ZT_SCN_S_TIMEX;
		if (n != 2 || parse_addr(t[1].s, &e->ep.addr))
			return perr(ps, "expected ADDR after 'timex', got '%s'",
				    n > 1 ? t[1].s : "");
		return 0;
	}
	if (word && in && !strcmp(w, "unreach")) {
		/* what connect() said: the host (no neighbour answered), the
		 * network (no route) or a policy (a prohibit route, a firewall) */
		static const struct {
			const char *w;
			int err;
		} kinds[] = {
			{ "host", EHOSTUNREACH },
			{ "net", ENETUNREACH },
			{ "prohibited", EACCES },
		};

		e->sop = ZT_SCN_S_UNREACH;
		e->unreach_err = EHOSTUNREACH;
		if (n == 1)
			return 0;
		if (n > 2)
			return perr(ps, "unexpected '%s'", t[2].s);
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			if (!strcmp(t[1].s, kinds[k].w)) {
				e->unreach_err = kinds[k].err;
				return 0;
			}
		}
		return perr(ps, "expected 'host', 'net' or 'prohibited' after 'unreach', got '%s'",
			    t[1].s);
	}
	if (word && n == 1) {
		static const struct {
			const char *w;
			uint8_t op;
			bool in, out;
		} ops[] = {
			{ "accept", ZT_SCN_S_ACCEPT, true, false },
			{ "refuse", ZT_SCN_S_REFUSE, true, false },
			{ "timeout", ZT_SCN_S_TIMEOUT, true, false },
			{ "unreach", ZT_SCN_S_UNREACH, true, false }, /* sN< above; refused on sN> */
			{ "rst", ZT_SCN_S_RST, true, true },
			{ "fin", ZT_SCN_S_FIN, true, true },
			{ "close", ZT_SCN_S_CLOSE, false, true },
			{ "silent", ZT_SCN_S_SILENT, true, false },
		};

		for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
			if (strcmp(w, ops[k].w))
				continue;
			if (in ? !ops[k].in : !ops[k].out)
				return perr(ps, "'%s' is not allowed on s%u%c", w,
					    e->stream, in ? '<' : '>');
			e->sop = ops[k].op;
			return 0;
		}
	}
	if (word && in && !strcmp(w, "window")) {
		e->sop = ZT_SCN_S_WINDOW;
		if (n == 2 && !strcmp(t[1].s, "inf")) {
			e->window_inf = true;
			return 0;
		}
		if (n != 2 || parse_uint(t[1].s, UINT32_MAX, &v))
			return perr(ps, "expected N or 'inf' after 'window', got '%s'",
				    n > 1 ? t[1].s : "");
		e->window = v;
		return 0;
	}
	e->sop = ZT_SCN_S_DATA;
	if (in && n > 1 && !t[n - 1].quoted && !strcmp(t[n - 1].s, "fin")) {
		e->fin = true;
		n--;
	}
	if (n == 0)
		return perr(ps, "missing payload on s%u%c", e->stream, in ? '<' : '>');
	rc = parse_payload_rest(ps, &e->pkt, t, 0, n);
	if (rc)
		return rc;
	if (!in && e->pkt.payload_len == 0)
		return perr(ps, "empty payload on s%u> (an expectation of no bytes cannot fail)",
			    e->stream);
	return 0;
}

static int parse_var(struct pstate *ps, const char *s, char *var)
{
	size_t l = strlen(s);

	if (s[0] != '$' || l < 2 || l - 1 >= ZT_SCN_VAR_LEN)
		return perr(ps, "bad variable '%s'", s);
	memcpy(var, s + 1, l);
	return 0;
}

/* A datagram line's `(LEN) [ttl N] [tos N] [PAYLOAD]`, from t[i] on. */
static int parse_dgram_body(struct pstate *ps, struct zt_scn_event *e,
			    const struct tok *t, int i, int n)
{
	int len_tok = i;

	if (i >= n || parse_paren_len(t[i].s, &e->pkt.len))
		return perr(ps, "expected (LEN), got '%s'", i < n ? t[i].s : "");
	i++;
	if (parse_ttl(ps, e, &e->pkt, t, &i, n) ||
	    parse_payload_rest(ps, &e->pkt, t, i, n))
		return -EINVAL;
	if (e->pkt.has_payload && e->pkt.payload_len != e->pkt.len)
		return perr(ps, "payload is %zu bytes, '%s' says %u",
			    e->pkt.payload_len, t[len_tok].s, e->pkt.len);
	return 0;
}

/*
 * net< error ORIGIN [> $VAR] KIND [CODE] to DST[:PORT] (LEN) [PAYLOAD]:
 * an ICMP error from ORIGIN about the datagram the socket sent to DST
 * (PAYLOAD: that datagram's payload as the error gives it back; an echo
 * socket's, its whole ICMP message). KIND: unreach CODE, timex CODE,
 * param CODE, or toobig [MTU] (the family's own type and code; MTU 0 or
 * none: an old router's, which gives none).
 */
static int parse_net_error(struct pstate *ps, struct zt_scn_event *e,
			   const struct tok *t, int n)
{
	static const struct {
		const char *name;
		uint8_t type4, type6;
		bool code;
	} kinds[] = {
		{ "unreach", ZT_ICMP4_DEST_UNREACH, ZT_ICMP6_DEST_UNREACH, true },
		{ "timex", ZT_ICMP4_TIME_EXCEEDED, ZT_ICMP6_TIME_EXCEEDED, true },
		{ "param", ZT_ICMP4_PARAM_PROBLEM, ZT_ICMP6_PARAM_PROBLEM, true },
		{ "toobig", ZT_ICMP4_DEST_UNREACH, ZT_ICMP6_PACKET_TOO_BIG, false },
	};
	bool v4, port;
	size_t k;
	uint64_t v;
	int i = 1;

	e->error = true;
	memset(&e->ep, 0, sizeof(e->ep));
	if (i >= n || parse_addr(t[i].s, &e->ep.addr))
		return perr(ps, "bad address '%s' (error: the address it comes from)",
			    i < n ? t[i].s : "");
	i++;
	if (i + 1 < n && !strcmp(t[i].s, ">")) {
		if (parse_var(ps, t[i + 1].s, e->var))
			return -EINVAL;
		i += 2;
	}
	for (k = 0; i < n && k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (!strcmp(t[i].s, kinds[k].name))
			break;
	if (i >= n || k == sizeof(kinds) / sizeof(kinds[0]))
		return perr(ps, "expected unreach, timex, param or toobig, got '%s'",
			    i < n ? t[i].s : "");
	v4 = e->ep.addr.family == ZT_AF_INET;
	e->err_type = v4 ? kinds[k].type4 : kinds[k].type6;
	e->err_code = !kinds[k].code && v4 ? ZT_ICMP4_CODE_FRAG_NEEDED : 0;
	i++;
	if (kinds[k].code) {
		if (i >= n || parse_uint(t[i].s, 255, &v))
			return perr(ps, "expected CODE after '%s'", kinds[k].name);
		e->err_code = (uint8_t)v;
		i++;
	} else if (i < n && strcmp(t[i].s, "to")) {
		if (parse_uint(t[i].s, UINT32_MAX, &v))
			return perr(ps, "expected MTU or 'to' after 'toobig', got '%s'",
				    t[i].s);
		e->err_mtu = (uint32_t)v;
		i++;
	}
	if (i + 1 >= n || strcmp(t[i].s, "to") ||
	    parse_addr_port(t[i + 1].s, &e->err_to.addr, &e->err_to.port, &port) ||
	    e->err_to.addr.family != e->ep.addr.family)
		return perr(ps, "expected 'to DST' of the family of '%s'", t[1].s);
	i += 2;
	return parse_dgram_body(ps, e, t, i, n);
}

static int parse_net(struct pstate *ps, struct zt_scn_event *e, bool in,
		     const struct tok *t, int n)
{
	int i = 1;

	if (n >= 1 && in && !strcmp(t[0].s, "error"))
		return parse_net_error(ps, e, t, n);
	if (n < 1 || (strcmp(t[0].s, "udp") && strcmp(t[0].s, "icmp")))
		return perr(ps, "expected %s, got '%s'",
			    in ? "'udp', 'icmp' or 'error'" : "'udp' or 'icmp'",
			    n ? t[0].s : "");
	e->icmp = !strcmp(t[0].s, "icmp");
	if (!in && i < n && t[i].s[0] == '$') {
		if (parse_var(ps, t[i].s, e->var))
			return -EINVAL;
		i++;
	}
	if (e->icmp) {
		memset(&e->ep, 0, sizeof(e->ep));
		if (i >= n || parse_addr(t[i].s, &e->ep.addr))
			return perr(ps, "bad address '%s' (icmp: an address, no port)",
				    i < n ? t[i].s : "");
	} else if (i >= n || parse_ep(t[i].s, false, &e->ep)) {
		return perr(ps, "bad address '%s'", i < n ? t[i].s : "");
	}
	i++;
	if (in && i + 1 < n && !strcmp(t[i].s, ">")) {
		if (parse_var(ps, t[i + 1].s, e->var))
			return -EINVAL;
		i += 2;
	}
	return parse_dgram_body(ps, e, t, i, n);
}

/* A counter `assert` reads by name: a field of a stats struct. */
struct cfield {
	const char *name;
	size_t off;
};

#define SF(name) { #name, offsetof(struct zt_stack_stats, name) }
static const struct cfield stack_fields[] = {
	SF(packets_in), SF(packets_out), SF(bytes_in), SF(bytes_out),
	SF(tcp_flows_opened), SF(tcp_flows_active), SF(tcp_refused_full),
	SF(tcp_refused_memory), SF(mem_reserved), SF(tcp_refused),
	SF(tcp_early_synacks), SF(tcp_time_wait_reopened),
	SF(tcp_connect_timeouts), SF(tcp_idle_timeouts), SF(tcp_idle_evicted),
	SF(tcp_rst_sent),
	SF(udp_datagrams_in), SF(udp_datagrams_out), SF(udp_flows_opened),
	SF(udp_flows_active), SF(udp_flows_expired), SF(udp_refused_full), SF(udp_evicted),
	SF(udp_flows_unreachable),
	SF(icmp_echo_replies), SF(icmp_errors_sent), SF(icmp_errors_limited),
	SF(fragments_out), SF(icmp_errors_in), SF(icmp_errors_matched),
	SF(pmtu_reductions), SF(pmtu_not_believed), SF(tso_segments_out),
	SF(udp_gso_out),
	SF(tcp_acks_coalesced),
};
#undef SF
#define RF(name) { #name, offsetof(struct zt_router_stats, name) }
static const struct cfield router_fields[] = {
	RF(tcp_relayed_up), RF(tcp_relayed_up_direct), RF(tcp_relayed_up_early),
	RF(tcp_up_sends), RF(tcp_relayed_down),
	RF(udp_relayed_up), RF(udp_relayed_down), RF(upstream_connect_failed),
	RF(upstream_reset), RF(tcp_unsent_reset), RF(upstream_keepalives),
	RF(upstream_timeouts),
	RF(dropped_no_proxy), RF(proxy_down_refused), RF(udp_dropped),
	RF(icmp_dropped), RF(icmp_echo_out), RF(icmp_echo_in),
	RF(icmp_errors_relayed), RF(icmp_errors_ignored),
	RF(nat_refused), RF(nat_port_taken), RF(nat_reply_mismatch), RF(socks5_udp_spoofed),
	RF(socks5_udp_relay_lost), RF(socks5_udp_cone_in), RF(socks5_udp_unsupported),
	RF(socks5_udp_assocs), RF(socks5_udp_assocs_active), RF(socks5_udp_timeouts),
	RF(socks5_udp_proxy_closed),
	RF(udp_mappings), RF(udp_mappings_active), RF(udp_cone_in),
	RF(fake_ip_refused),
	RF(dns_tcp_connections), RF(dns_tcp_queries), RF(dns_tcp_answers),
	RF(dns_tcp_truncated), RF(dns_tcp_unmatched), RF(dns_tcp_dropped),
	RF(dns_tcp_resent), RF(dns_tcp_servfail),
};
#undef RF
#define FF(name) { #name, offsetof(struct zt_fakedns_stats, name) }
static const struct cfield fakedns_fields[] = {
	FF(queries), FF(answered), FF(nodata), FF(errors), FF(blocked),
	FF(refused), FF(forwarded), FF(learned), FF(ignored),
	FF(recycled), FF(exhausted), FF(lookups), FF(unknown), FF(names),
	FF(held),
};
#undef FF
#define NF(name) { #name, offsetof(struct zt_nat_stats, name) }
static const struct cfield nat_fields[] = {
	NF(active), NF(created), NF(mappings), NF(mappings_created),
	NF(expired), NF(removed), NF(insert_failures),
	NF(insert_no_slot), NF(insert_no_port), NF(lookups), NF(hits),
	NF(reverse_lookups), NF(reverse_hits),
};
#undef NF
#define TF(name) { #name, offsetof(struct zt_tcb_stats, name) }
static const struct cfield tcp_fields[] = {
	TF(segs_in), TF(segs_out), TF(bytes_in), TF(bytes_out),
	TF(bytes_direct), TF(retransmits), TF(rto_expiries), TF(tlp_probes),
	TF(fast_retransmits), TF(lost_retransmits), TF(rack_marked), TF(undos),
	TF(spurious_rtos), TF(sack_renegings),
	TF(dupacks_in), TF(ooo_segs),
	TF(challenge_acks), TF(oow_acks_skipped),
};
#undef TF
#define CG(prefix, kind, tbl) { prefix, kind, tbl, sizeof(tbl) / sizeof(tbl[0]) }
/* The counters by prefix: COUNTER is "PREFIX" + a table's name. */
static const struct {
	const char *prefix;
	uint8_t counter;            /* enum zt_scn_counter */
	const struct cfield *f;
	size_t n;
} cgroups[] = {
	CG("stack.", ZT_SCN_C_STACK, stack_fields),
	CG("router.", ZT_SCN_C_ROUTER, router_fields),
	CG("nat.", ZT_SCN_C_NAT, nat_fields),
	CG("fakedns.", ZT_SCN_C_FAKEDNS, fakedns_fields),
	CG("tcp.", ZT_SCN_C_TCP, tcp_fields),
};
#undef CG

const char *zt_scn_counter_name(size_t i, char *buf, size_t len)
{
	for (size_t g = 0; g < sizeof(cgroups) / sizeof(cgroups[0]); g++) {
		if (i < cgroups[g].n) {
			snprintf(buf, len, "%s%s", cgroups[g].prefix,
				 cgroups[g].f[i].name);
			return buf;
		}
		i -= cgroups[g].n;
	}
	return NULL;
}

/* Whether @name is one of cgroups' counters; sets @e's counter if so. */
static bool field_counter(struct zt_scn_event *e, const char *name)
{
	for (size_t g = 0; g < sizeof(cgroups) / sizeof(cgroups[0]); g++) {
		size_t pl = strlen(cgroups[g].prefix);

		if (strncmp(name, cgroups[g].prefix, pl))
			continue;
		for (size_t k = 0; k < cgroups[g].n; k++)
			if (!strcmp(name + pl, cgroups[g].f[k].name)) {
				e->counter = cgroups[g].counter;
				e->counter_off = cgroups[g].f[k].off;
				return true;
			}
	}
	return false;
}

static int resolve_counter(struct pstate *ps, struct zt_scn_event *e,
			   const char *name)
{
	if (strlen(name) >= sizeof(e->counter_name))
		return perr(ps, "unknown counter '%s'", name);
	strcpy(e->counter_name, name);
	if (field_counter(e, name))
		return 0;
	if (!strncmp(name, "drops.", 6)) {
		for (unsigned d = 1; d < ZT_DROP__COUNT; d++)
			if (!strcmp(name + 6, zt_drop_name((enum zt_drop)d))) {
				e->counter = ZT_SCN_C_DROP;
				e->counter_off = d;
				return 0;
			}
	} else if (!strncmp(name, "router.flows.", 13)) {
		enum zt_route_decision d;

		if (!zt_route_decision_parse(name + 13, &d, NULL) &&
		    strcmp(name + 13, "reject")) {
			e->counter = ZT_SCN_C_ROUTER;
			e->counter_off = offsetof(struct zt_router_stats, flows) +
					 (size_t)d * sizeof(uint64_t);
			return 0;
		}
	} else if (!strcmp(name, "tcp.state")) {
		e->counter = ZT_SCN_C_TCP_STATE;
		return 0;
	}
	return perr(ps, "unknown counter '%s'", name);
}

static int parse_assert(struct pstate *ps, struct zt_scn_event *e,
			const struct tok *t, int n)
{
	static const char *const ops[] = { "==", "!=", "<", "<=", ">", ">=" };
	unsigned k;

	if (n != 3)
		return perr(ps, "expected COUNTER OP VALUE after 'assert'");
	if (resolve_counter(ps, e, t[0].s))
		return -EINVAL;
	for (k = 0; k < 6; k++)
		if (!strcmp(t[1].s, ops[k]))
			break;
	if (k == 6)
		return perr(ps, "unknown operator '%s'", t[1].s);
	e->cmp = (uint8_t)(ZT_SCN_EQ + k);
	if (e->counter == ZT_SCN_C_TCP_STATE) {
		if (e->cmp != ZT_SCN_EQ && e->cmp != ZT_SCN_NE)
			return perr(ps, "tcp.state takes == or !=, not '%s'", t[1].s);
		for (unsigned s = 0; s <= ZT_TCP_TIME_WAIT; s++)
			if (!strcmp(t[2].s, zt_tcp_state_name((enum zt_tcp_state)s))) {
				e->value = s;
				return 0;
			}
		return perr(ps, "unknown TCP state '%s'", t[2].s);
	}
	if (parse_uint(t[2].s, UINT64_MAX, &e->value))
		return perr(ps, "bad value '%s'", t[2].s);
	return 0;
}

/* --- lines --------------------------------------------------------------- */

static void event_free(struct zt_scn_event *e)
{
	free(e->pkt.payload);
	e->pkt.payload = NULL;
}

static int parse_event(struct pstate *ps, const struct tok *t, int n)
{
	struct zt_scn *s = ps->scn;
	struct zt_scn_event *e;
	const char *ts = t[0].s, *d;
	uint64_t v = 0, tm;
	int rc;

	if (t[0].quoted)
		return perr(ps, "expected a time, got '%s'", ts);
	if (!strcmp(ts, "*")) {
		tm = ps->prev_t;
	} else if (ts[0] == '+') {
		if (parse_time(ts + 1, false, &v))
			return perr(ps, "bad time '%s'", ts);
		if (v >= ZT_TIME_NEVER - ps->prev_t)
			return perr(ps, "time '%s' overflows the virtual clock (%llu ns + %llu ns)",
				    ts, (unsigned long long)ps->prev_t,
				    (unsigned long long)v);
		tm = ps->prev_t + v;
	} else {
		if (parse_time(ts, false, &tm))
			return perr(ps, "bad time '%s'", ts);
		if (tm < ps->prev_t)
			return perr(ps, "time '%s' goes backwards", ts);
	}
	if (n < 2)
		return perr(ps, "missing direction after '%s'", ts);
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 32;
		struct zt_scn_event *ne = realloc(s->ev, nc * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		s->ev = ne;
		s->cap = nc;
	}
	e = &s->ev[s->n];
	memset(e, 0, sizeof(*e));
	e->line = ps->line;
	e->src_off = ps->line_off;
	e->src_len = ps->line_len;
	e->t = tm;
	d = t[1].s;
	t += 2;
	n -= 2;
	if (!strcmp(d, "tun<") || !strcmp(d, "tun>")) {
		e->kind = d[3] == '<' ? ZT_SCN_TUN_IN : ZT_SCN_TUN_OUT;
		rc = parse_packet(ps, e, t, n);
	} else if (!strcmp(d, "net<") || !strcmp(d, "net>")) {
		e->kind = d[3] == '<' ? ZT_SCN_NET_IN : ZT_SCN_NET_OUT;
		rc = parse_net(ps, e, d[3] == '<', t, n);
	} else if (d[0] == 's' && d[1] >= '1' && d[1] <= '9') {
		char *end;
		unsigned long k = strtoul(d + 1, &end, 10);

		if ((*end != '<' && *end != '>') || end[1] || k > 1000)
			return perr(ps, "unknown direction '%s'", d);
		e->kind = *end == '<' ? ZT_SCN_S_IN : ZT_SCN_S_OUT;
		e->stream = (unsigned)k;
		rc = parse_stream(ps, e, *end == '<', t, n);
	} else if (!strcmp(d, "advance")) {
		e->kind = ZT_SCN_ADVANCE;
		rc = n ? perr(ps, "unexpected '%s' after 'advance'", t[0].s) : 0;
	} else if (!strcmp(d, "assert")) {
		e->kind = ZT_SCN_ASSERT;
		rc = parse_assert(ps, e, t, n);
	} else {
		return perr(ps, "unknown direction '%s'", d);
	}
	if (rc) {
		event_free(e);
		return rc;
	}
	s->n++;
	ps->prev_t = tm;
	return 0;
}

static int parse_line(struct pstate *ps, const char *line, size_t len)
{
	struct tok *t;
	char *arena;
	int n, rc = 0;

	t = malloc(sizeof(*t) * MAX_TOKS);
	arena = malloc(2 * len + 2 * MAX_TOKS + 2);
	if (!t || !arena) {
		free(t);
		free(arena);
		return -ENOMEM;
	}
	n = tokenize(ps, line, len, arena, t);
	if (n < 0) {
		rc = n;
	} else if (n > 0 && !t[0].quoted && !strncmp(t[0].s, "--", 2)) {
		if (ps->seen_event)
			rc = perr(ps, "header option '%s' after the first event",
				  t[0].s);
		for (int i = 0; !rc && i < n; i++) {
			if (t[i].quoted || strncmp(t[i].s, "--", 2))
				rc = perr(ps, "expected an option, got '%s'", t[i].s);
			else
				rc = header_option(ps, &t[i]);
		}
	} else if (n > 0) {
		ps->seen_event = true;
		rc = parse_event(ps, t, n);
	}
	free(t);
	free(arena);
	return rc;
}

/**
 * zt_scn_free() - free every event, payload and rule text of @s.
 * @s: a script from zt_scn_parse() (may be NULL); left empty
 */
void zt_scn_free(struct zt_scn *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		event_free(&s->ev[i]);
	for (unsigned i = 0; i < s->hdr.nroutes; i++)
		free(s->hdr.routes[i]);
	free(s->ev);
	free(s->file);
	free(s->src);
	memset(s, 0, sizeof(*s));
}

/**
 * zt_scn_parse() - parse a scenario script.
 * @file: the name used in messages (copied)
 * @text: the script (borrowed, @len bytes; need not be NUL-terminated)
 * @len: its length
 * @out: the script, owned by the caller after success (zt_scn_free)
 * @err: "FILE:LINE: message" on failure
 * @errlen: size of @err
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int zt_scn_parse(const char *file, const char *text, size_t len,
		 struct zt_scn *out, char *err, size_t errlen)
{
	struct pstate ps;
	size_t i = 0;
	int rc = 0;
	static const uint8_t tun_default[4] = { 10, 0, 0, 1 };

	memset(out, 0, sizeof(*out));
	memset(&ps, 0, sizeof(ps));
	if (err && errlen)
		err[0] = 0;
	out->file = strdup(file);
	out->src = malloc(len + 1);
	if (!out->file || !out->src) {
		zt_scn_free(out);
		return -ENOMEM;
	}
	memcpy(out->src, text, len);
	out->src[len] = 0;
	out->hdr.seed = 1;
	out->hdr.tun = zt_addr_v4(tun_default);
	out->hdr.tun_prefix = 24;
	zt_router_config_default(&out->hdr.cfg);
	out->hdr.def = ZT_ROUTE_DIRECT;
	out->hdr.tolerance = ZT_MS;
	ps.scn = out;
	ps.file = file;
	ps.err = err;
	ps.errlen = errlen;
	/* a UTF-8 byte order mark some editors write first is not text */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		i = 3;
	while (i < len && !rc) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - (text + i)) : len - i;

		ps.line++;
		ps.line_off = i;
		ps.line_len = l && text[i + l - 1] == '\r' ? l - 1 : l;
		if (memchr(text + i, '\0', l))
			rc = perr(&ps, "NUL byte in the line");
		else
			rc = parse_line(&ps, text + i, l);
		i += l + 1;
	}
	out->last_line = ps.line;
	if (rc) {
		if (rc == -ENOMEM && err && errlen)
			snprintf(err, errlen, "%s:%u: out of memory", file, ps.line);
		zt_scn_free(out);
		return rc;
	}
	return 0;
}
