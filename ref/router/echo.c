/* SPDX-License-Identifier: MIT */
/*
 * echo.c - ICMP echo routed by the rules: answered, refused, or sent on
 * to a direct destination from an echo socket of the host.
 *
 * Theory of operation:
 *
 * The stack asks what to do with a ping (echo_verdict()): `local`
 * answers it in the stack, `drop reject` refuses it, direct and NAT
 * forward it (echo_forward()), every other decision drops it: no proxy
 * carries ICMP. A forwarded ping goes out of the echo socket of its
 * session, one per (client, destination, the client's identifier), up to
 * ECHO_SESSIONS at once (the least recently used gives its slot up), each
 * closed after ECHO_IDLE without a request (echo_expire() at
 * r->echo_due, so the router's deadline stays O(1)). Requests leave with
 * the client's TTL, traffic class and DF (keep_header()); replies from
 * the destination go back to the client with its own identifier
 * (echo_replies()), and the network's ICMP errors about a request to it
 * quoting that request (echo_error()).
 */
#include "router_priv.h"

#include <string.h>

/* ICMP echo is answered locally (`local`) or refused (`drop reject`);
 * no decision carries it anywhere else, so every other one drops it.
 * The rules see the ping's source as well as its destination: a rule's
 * `src` condition holds for pings as for flows. */
enum zt_echo_verdict echo_verdict(void *host, const struct zt_addr *src,
				  const struct zt_addr *dst)
{
	struct zt_router *r = host;
	struct zt_flow_key k;
	enum zt_route_decision d;
	bool reject = false;

	memset(&k, 0, sizeof(k));
	k.family = dst->family;
	k.client = *src;
	k.server = *dst;
	d = decide(r, dst->family == ZT_AF_INET ? ZT_IPPROTO_ICMP : ZT_IPPROTO_ICMPV6,
		   &k, NULL, &reject);
	if (d == ZT_ROUTE_LOCAL)
		return ZT_ECHO_LOCAL;
	if (d == ZT_ROUTE_DIRECT || d == ZT_ROUTE_NAT)
		return ZT_ECHO_FORWARD;
	r->stats.icmp_dropped++;
	return d == ZT_ROUTE_DROP && reject ? ZT_ECHO_REJECT : ZT_ECHO_DROP;
}

/* Close session @e's socket and free its slot. */
void echo_close(struct echo_session *e)
{
	e->r->up->dgram_close(e->r->host, e->dgram);
	e->used = false;
	e->r->n_echo--;
}

/* The session of the client's pings to @key->server with @ident: found,
 * or opened in a free slot or the least recently used one; NULL (counted
 * dropped) when no echo socket opens. */
static struct echo_session *echo_session(struct zt_router *r,
					 const struct zt_flow_key *key,
					 uint16_t ident, uint64_t now)
{
	struct echo_session *e, *lru = NULL, *free_slot = NULL;

	for (unsigned i = 0; i < ECHO_SESSIONS; i++) {
		e = &r->echo[i];
		if (!e->used) {
			if (!free_slot)
				free_slot = e;
			continue;
		}
		if (e->ident == ident && zt_addr_eq(&e->key.client, &key->client) &&
		    zt_addr_eq(&e->key.server, &key->server))
			return e;
		if (!lru || e->last < lru->last)
			lru = e;
	}
	e = free_slot;
	if (!e) {
		echo_close(lru);
		e = lru;
	}
	memset(e, 0, sizeof(*e));
	e->kind = CONN_ECHO;
	e->r = r;
	e->key = *key;
	e->ident = ident;
	e->dgram = open_dgram(r, key->family, 0,
			      ZT_UPSTREAM_DIRECT | ZT_UPSTREAM_ICMP_ECHO, e, now);
	if (e->dgram < 0)
		return NULL;
	e->used = true;
	if (!r->n_echo++ || now + ECHO_IDLE < r->echo_due)
		r->echo_due = now + ECHO_IDLE;
	return e;
}

/* An echo request to a direct destination: sent from the session's echo
 * socket; the reply comes back through echo_replies(). */
void echo_forward(void *host, const struct zt_flow_key *key, uint16_t ident,
		  uint16_t seq, const struct zt_fwd_hdr *hdr,
		  const uint8_t *data, size_t len, uint64_t now)
{
	struct zt_router *r = host;
	struct echo_session *e = echo_session(r, key, ident, now);
	struct zt_icmp_repr req;
	struct zt_endpoint to;
	int n, err;

	if (!e) {
		r->stats.icmp_dropped++;
		return;
	}
	e->last = now;
	memset(&req, 0, sizeof(req));
	req.echo_ident = ident;
	req.echo_seq = seq;
	if (key->family == ZT_AF_INET) {
		req.type = ZT_ICMP4_ECHO_REQUEST;
		n = zt_icmp4_emit(&req, data, len, r->scratch, sizeof(r->scratch));
	} else {
		req.type = ZT_ICMP6_ECHO_REQUEST;
		n = zt_icmp6_emit(&req, &key->client, &key->server, data, len,
				  r->scratch, sizeof(r->scratch));
	}
	memset(&to, 0, sizeof(to));
	to.addr = key->server;
	keep_header(r, e->dgram, &e->hdr, hdr);
	err = n < 0 ? n : r->up->dgram_send(r->host, e->dgram, &to, r->scratch,
					    (size_t)n);
	if (err < 0) {
		r->stats.icmp_dropped++;
		if (n > 0)
			zt_router_dgram_send_failed(r, e, &to, r->scratch,
						    (size_t)n, err, now);
		return;
	}
	r->stats.icmp_echo_out++;
}

/* Echo replies on session @e's socket: each from its destination goes to
 * the client with the client's identifier; anything else is dropped. */
void echo_replies(struct zt_router *r, struct echo_session *e,
		  const struct zt_endpoint *from, const struct zt_dgram *d,
		  unsigned n)
{
	uint8_t reply_type = e->key.family == ZT_AF_INET ? ZT_ICMP4_ECHO_REPLY :
							   ZT_ICMP6_ECHO_REPLY;

	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p = d[i].data;

		if (!e->used || from->name[0] ||
		    !zt_addr_eq(&from->addr, &e->key.server) ||
		    d[i].len < ZT_ICMP_HDR || p[0] != reply_type || p[1] != 0) {
			r->stats.icmp_dropped++;
			continue;
		}
		if (zt_stack_echo_reply(r->stack, &e->key, e->ident,
					(uint16_t)(p[6] << 8 | p[7]), d[i].tclass,
					p + ZT_ICMP_HDR,
					d[i].len - ZT_ICMP_HDR) == 0)
			r->stats.icmp_echo_in++;
	}
}

/* An error about an echo request session @e sent: its sequence number is
 * in the quoted request (the identifier is the host's). */
bool echo_error(struct zt_router *r, struct echo_session *e,
		const struct zt_dgram_error *de, enum zt_icmp_kind kind,
		uint64_t now)
{
	uint8_t req = e->key.family == ZT_AF_INET ? ZT_ICMP4_ECHO_REQUEST :
						    ZT_ICMP6_ECHO_REQUEST;
	const uint8_t *p = de->data;

	if (!e->used || de->to.name[0] || !zt_addr_eq(&de->to.addr, &e->key.server) ||
	    !p || de->len < ZT_ICMP_HDR || p[0] != req)
		return false;
	return zt_stack_echo_error(r->stack, &e->key, e->ident,
				   (uint16_t)(p[6] << 8 | p[7]), kind, de->code,
				   de->mtu, error_origin(de, &e->key.server),
				   p + ZT_ICMP_HDR, de->len - ZT_ICMP_HDR, now) == 0;
}

/* At echo_due: close the sessions idle for ECHO_IDLE, and find when the
 * next one could be (the deadline stays O(1) for the event loop). */
void echo_expire(struct zt_router *r, uint64_t now)
{
	r->echo_due = ZT_TIME_NEVER;
	for (unsigned i = 0; i < ECHO_SESSIONS && r->n_echo; i++) {
		struct echo_session *e = &r->echo[i];

		if (!e->used)
			continue;
		if (e->last + ECHO_IDLE <= now)
			echo_close(e);
		else if (e->last + ECHO_IDLE < r->echo_due)
			r->echo_due = e->last + ECHO_IDLE;
	}
}
