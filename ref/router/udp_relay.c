/* SPDX-License-Identifier: MIT */
/*
 * udp_relay.c - UDP flows relayed to their upstream: a SOCKS5 UDP
 * association, a direct or NAT mapping, the fake-IP resolver's real one.
 *
 * Theory of operation:
 *
 * UDP flows get a udp_relay that joins the association of its client
 * endpoint and decision (udp_assoc), shared by every flow of that client
 * socket: for DIRECT/NAT a mapping, one datagram socket, so that every
 * server sees the client socket at one address and port
 * (endpoint-independent mapping, RFC 4787 REQ-1); for SOCKS5 a UDP
 * ASSOCIATE, a control stream, then a datagram socket to the relay
 * address, each datagram naming its destination. Answers go to the flow
 * of their source (the sender, or the source the relay names); those
 * from a source no flow talks to only with cfg.udp_full_cone
 * (cone_open()). A relay may name the source of a reply to a name (a
 * fake address's) by whatever address it resolved the name to, which
 * tells no names apart: so a member by name is the only one of its
 * association at its server port, and a flow that would share that port
 * with it gets another association of the same client socket
 * (assoc_port_free()). Datagrams that arrive before a SOCKS5 association
 * is ready wait in each flow's small bounded queue (those past it are
 * dropped, counted); it ends with its control stream (the proxy's end
 * counted, assoc_ctrl_ended()), with an
 * unreachable about the relay (relay_lost; so does a send to the relay
 * that the host's routing refuses, at once or reported later), or when
 * its handshake
 * outlasts the connect timeout a TCP flow has (the router's timer,
 * hs_expire()), and its flows with it. An association goes when its
 * last flow does.
 * A NAT flow also holds a NAT session, which shares the mapped port of
 * its client endpoint's other sessions (the mapping's socket is bound to
 * it): every datagram refreshes it, answers must pass the reverse
 * lookup, and when the session expires on the router's timer the flow
 * is closed.
 *
 * A UDP flow to port 53 that a proxy carries gets a dns_tunnel instead
 * of an association when cfg.dns_over_tcp says so (dns_tunnel.c), or,
 * with cfg.dns_tcp_fallback, once the SOCKS5 proxy refused an association
 * with reply 7: then those of the refused association's members move to
 * one (assoc_dns_to_tcp()) instead of failing with it; one to
 * the fake-IP resolver's address is answered here, or forwarded to the
 * real resolver from a socket of its own (fake_query()).
 */
#include "router_priv.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ztun/dns_wire.h"
#include "ztun/hash.h"

/* Mapped ports tried in turn for a new NAT mapping when the host finds
 * each taken by another socket (udp_setup()). */
#define NAT_PORT_TRIES 8

/* --- SOCKS5 UDP associations -------------------------------------------- */

/* The chain of r->assoc for the client endpoint of flow key @k: its key
 * with the server part zeroed, hashed. */
static unsigned assoc_bucket(const struct zt_router *r,
			     const struct zt_flow_key *k)
{
	static const struct zt_addr none;
	struct zt_flow_key ck;

	zt_flow_key_set(&ck, k->family, k->proto, &k->client, k->client_port,
			&none, 0);
	return zt_hash_bytes(r->nat.hash_key, &ck, sizeof(ck)) % ASSOC_BUCKETS;
}

/*
 * Whether a new member to server @port, by @name (NULL: by address),
 * would leave @a's replies unambiguous: a member by name is the only one
 * of @a at its server port. The relay may name a reply's source by the
 * address it resolved the name to (RFC 1928 7), and that address says
 * nothing of the name: with another member at the port (another name, or
 * an address), the reply could be either's.
 */
static bool assoc_port_free(const struct udp_assoc *a, uint16_t port,
			    const char *name)
{
	const struct udp_relay *m;

	if (!name && !a->n_named)
		return true;
	for (m = a->members; m; m = m->assoc_next)
		if ((m->name || name) && m->flow->key.server_port == port)
			return false;
	return true;
}

/* The live association of flow @k's client endpoint and decision @d that
 * a new member of @k by @name may join (assoc_port_free()), or NULL.
 * Changes nothing: udp_admit() asks it too. */
static struct udp_assoc *assoc_find(struct zt_router *r,
				    const struct zt_flow_key *k,
				    enum zt_route_decision d, const char *name)
{
	struct udp_assoc *a = r->assoc[assoc_bucket(r, k)];

	for (; a; a = a->hnext)
		if (a->decision == d && a->family == k->family &&
		    a->client_port == k->client_port &&
		    zt_addr_eq(&a->client, &k->client) &&
		    assoc_port_free(a, k->server_port, name))
			return a;
	return NULL;
}

/* Out of r->assoc (a failing association takes no new members). */
static void assoc_unhash(struct udp_assoc *a)
{
	struct udp_assoc **pp = &a->r->assoc[a->bucket];

	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == a) {
			*pp = a->hnext;
			break;
		}
	a->hnext = NULL;
}

/* Free @a, its sockets closed, once no member and no caller holds it. */
static void assoc_maybe_free(struct udp_assoc *a)
{
	struct zt_router *r = a->r;

	if (a->members || a->busy)
		return;
	proxy_let_go(r, a); /* a probe given up */
	if (!a->dead)
		assoc_unhash(a);
	zt_heap_remove(&r->hs_timers, &a->timer.node);
	if (a->dgram >= 0)
		r->up->dgram_close(r->host, a->dgram);
	if (a->ctrl >= 0)
		r->up->stream_close(r->host, a->ctrl, false);
	if (a->decision == ZT_ROUTE_SOCKS5)
		r->stats.socks5_udp_assocs_active--;
	else
		r->stats.udp_mappings_active--;
	free(a);
}

/* @u joins @a, last; it may send at once when @a is ready. */
static void assoc_add(struct udp_assoc *a, struct udp_relay *u)
{
	u->assoc = a;
	u->assoc_next = NULL;
	*a->tail = u;
	a->tail = &u->assoc_next;
	if (u->name)
		a->n_named++;
	if (a->ready) {
		u->dgram = a->dgram;
		u->ready = true;
	}
}

/*
 * A new association for @u's client endpoint and decision, @u its first
 * member: a SOCKS5 one's control stream opened (the rest follows as the
 * host reports on it, assoc_ctrl_*) and its handshake given the connect
 * timeout a TCP flow through the proxy has (hs_expire()), a mapping's
 * socket (a NAT one bound to @u's mapped port). Return: 0, or a negative
 * errno (nothing left behind).
 */
static int assoc_new(struct zt_router *r, struct udp_relay *u, uint64_t now)
{
	const struct zt_flow_key *k = &u->flow->key;
	struct udp_assoc *a = calloc(1, sizeof(*a));
	int err;

	if (!a)
		return -ENOMEM;
	a->kind = CONN_ASSOC;
	a->timer.kind = CONN_ASSOC;
	a->r = r;
	a->decision = u->decision;
	a->family = k->family;
	a->client = k->client;
	a->client_port = k->client_port;
	a->dgram = -1;
	a->ctrl = -1;
	if (a->decision == ZT_ROUTE_SOCKS5 &&
	    proxy_refuses(r, ZT_ROUTE_SOCKS5, false)) {
		/* down, its probe under way: refused as an association
		 * whose connect timed out is (assoc_timeout()) */
		err = -EHOSTUNREACH;
	} else if (a->decision == ZT_ROUTE_SOCKS5) {
		a->proxy = r->cfg.socks5.server;
		a->ctrl = open_stream(r, &a->proxy, 0, a, now);
		err = a->ctrl;
		if (err >= 0)
			proxy_opened(r, ZT_ROUTE_SOCKS5, a, &a->px_gen);
	} else {
		a->mapped_port = u->nat ? u->nat->mapped_port : 0;
		a->dgram = open_dgram(r, k->family, a->mapped_port,
				      ZT_UPSTREAM_DIRECT, a, now);
		err = a->dgram;
		a->ready = true;
	}
	if (err < 0) {
		free(a);
		return err;
	}
	a->bucket = assoc_bucket(r, k);
	a->hnext = r->assoc[a->bucket];
	r->assoc[a->bucket] = a;
	if (a->decision == ZT_ROUTE_SOCKS5) {
		r->stats.socks5_udp_assocs++;
		r->stats.socks5_udp_assocs_active++;
		zt_heap_insert(&r->hs_timers, &a->timer.node,
			       now + r->cfg.stack.connect_timeout);
	} else {
		r->stats.udp_mappings++;
		r->stats.udp_mappings_active++;
	}
	a->tail = &a->members;
	assoc_add(a, u);
	return 0;
}

/* @u leaves its association, which goes when it was the last. */
static void assoc_leave(struct udp_relay *u)
{
	struct udp_assoc *a = u->assoc;
	struct udp_relay **pp;

	if (!a)
		return;
	for (pp = &a->members; *pp; pp = &(*pp)->assoc_next)
		if (*pp == u) {
			*pp = u->assoc_next;
			if (a->tail == &u->assoc_next)
				a->tail = pp;
			break;
		}
	if (u->name)
		a->n_named--;
	u->assoc = NULL;
	u->assoc_next = NULL;
	u->dgram = -1;
	u->ready = false;
	assoc_maybe_free(a);
}

/* @a ended (its control stream, its relay lost, a failed handshake):
 * every member fails as @how says (one never ready answers its waiting
 * datagrams) and is forgotten, so that its next datagram asks again. */
void assoc_fail(struct udp_assoc *a, enum zt_refuse how, uint64_t now)
{
	struct udp_relay *m, *next;

	a->busy++;
	if (!a->dead) {
		a->dead = true;
		assoc_unhash(a);
		zt_heap_remove(&a->r->hs_timers, &a->timer.node);
	}
	for (m = a->members; m; m = next) {
		next = m->assoc_next; /* m leaves the list as its flow ends */
		udp_fail(m, how, now);
	}
	a->busy--;
	assoc_maybe_free(a);
}

/* The proxy ended @a (RFC 1928 7: an association ends with its control
 * connection), closing or resetting that connection, or the host lost
 * it: counted once it had connected, so that the statistics tell this
 * end from a refused connect; then as assoc_fail(). */
void assoc_ctrl_ended(struct udp_assoc *a, enum zt_refuse how, uint64_t now)
{
	if (a->ctrl_up && !a->dead)
		a->r->stats.socks5_udp_proxy_closed++;
	assoc_fail(a, how, now);
}

/*
 * The router's timer (hs_expire()): a SOCKS5 association whose handshake
 * has not finished by its deadline fails as a refused one does (assoc_fail(): its
 * flows forgotten, so that the next datagram asks again), its waiting
 * datagrams answered as a TCP flow through the proxy is: a port
 * unreachable when the proxy took the control connection and did not
 * answer (the stack's connect timeout resets a TCP flow's SYN), host
 * unreachable when it never took it (a connect that timed out). A dead
 * proxy makes new flows fail fast, not hang.
 */
void assoc_timeout(struct udp_assoc *a, uint64_t now)
{
	a->r->stats.socks5_udp_timeouts++;
	if (!a->ctrl_up) /* the proxy not reached */
		proxy_unreached(a->r, a->decision, a, a->px_gen, -ETIMEDOUT);
	assoc_fail(a, a->ctrl_up ? ZT_REFUSE_RST : refuse_for_errno(-ETIMEDOUT),
		   now);
}

/* @u joins a live association of its client endpoint (assoc_find()), or
 * a new one. Return: 0 or a negative errno. */
static int assoc_join(struct zt_router *r, struct udp_relay *u, uint64_t now)
{
	struct udp_assoc *a = assoc_find(r, &u->flow->key, u->decision, u->name);

	if (!a)
		return assoc_new(r, u, now);
	assoc_add(a, u);
	return 0;
}

/* --- UDP relay --------------------------------------------------------- */

static void udp_close_sockets(struct udp_relay *u)
{
	struct zt_router *r = u->r;

	if (u->assoc) {
		assoc_leave(u);
		return;
	}
	if (u->dgram >= 0)
		r->up->dgram_close(r->host, u->dgram);
	u->dgram = -1;
	u->ready = false;
}

/*
 * A direct or NAT flow's datagrams (and a direct ping) leave with the
 * client's own TTL / hop limit, traffic class and DF, as they would have
 * without the TUN in the way: the network's time exceeded then names the
 * hop where one died and reaches the client (zt_router_dgram_error), so a
 * traceroute through the TUN sees the path beyond it; the client's DSCP
 * (its QoS class) and ECN marks (ECN-capable transport, as QUIC sends)
 * reach the network; and a datagram its sender forbade to fragment is
 * not fragmented but answered with the path's MTU (ping -M do and a
 * QUIC stack's path MTU probes learn the path beyond the TUN),
 * while one it allowed to is. *@cur is what socket @dgram sends with; the
 * host hears only of a change. A TTL of 0 (which no router passes on)
 * leaves the TTL alone. Not for datagrams to a proxy or the real
 * resolver: the client's header is about its destination, not them.
 */
void keep_header(struct zt_router *r, int dgram, struct zt_fwd_hdr *cur,
		 const struct zt_fwd_hdr *want)
{
	struct zt_fwd_hdr h = *want;

	if (h.ttl == cur->ttl)
		h.ttl = 0;
	if ((!h.ttl && h.tclass == cur->tclass &&
	     h.dont_frag == cur->dont_frag) || !r->up->dgram_set_header)
		return;
	if (r->up->dgram_set_header(r->host, dgram, &h) == 0) {
		if (h.ttl)
			cur->ttl = h.ttl;
		cur->tclass = h.tclass;
		cur->dont_frag = h.dont_frag;
	}
}

/*
 * Send one of @u's datagrams upstream. A send that fails at once is
 * handled as one the host reports later (zt_router_dgram_send_failed()):
 * a routing failure toward a SOCKS5 relay loses the relay (relay_lost()),
 * which ends the association and every member's flow, @u's included.
 * Return: false when @u is gone (freed), else true.
 */
static bool udp_send_one(struct udp_relay *u, const uint8_t *data, size_t len,
			 uint64_t now)
{
	struct zt_router *r = u->r;
	const struct zt_flow_key *k = &u->flow->key;
	struct zt_endpoint to;
	int err;

	if (u->dns) {
		dns_query(u->dns, data, len, now);
		return true;
	}
	if (u->decision == ZT_ROUTE_SOCKS5) {
		struct udp_assoc *a = u->assoc;
		struct zt_socks5_addr dst;
		bool dead;
		int n;

		if (!u->name)
			zt_socks5_addr_ip(&dst, &k->server, k->server_port);
		else if (zt_socks5_addr_name(&dst, u->name, strlen(u->name),
					     k->server_port) < 0)
			return true;
		n = zt_socks5_udp_wrap(&dst, data, len, r->scratch, sizeof(r->scratch));
		if (n < 0)
			return true;
		err = r->up->dgram_send(r->host, u->dgram, &a->relay, r->scratch,
					(size_t)n);
		if (!err) {
			r->stats.udp_relayed_up += len;
			return true;
		}
		a->busy++; /* read a->dead after the members are gone */
		zt_router_dgram_send_failed(r, a, &a->relay, r->scratch,
					    (size_t)n, err, now);
		dead = a->dead;
		a->busy--;
		assoc_maybe_free(a);
		return !dead;
	}
	memset(&to, 0, sizeof(to));
	to.addr = k->server;
	to.port = k->server_port;
	if (u->forward)
		to = r->cfg.fake_dns.upstream;
	else
		keep_header(r, u->dgram, &u->assoc->hdr, &u->flow->hdr);
	if (u->nat)
		zt_nat_touch(&r->nat, u->nat, now);
	err = r->up->dgram_send(r->host, u->dgram, &to, data, len);
	if (!err)
		r->stats.udp_relayed_up += len;
	else
		zt_router_dgram_send_failed(r, u, &to, data, len, err, now);
	return true; /* a direct or NAT flow is told, not ended */
}

/* Send the datagrams that waited in @u's queue (its upstream is ready).
 * The queue is taken from @u first: a send that ends the association
 * (udp_send_one()) frees @u. Return: false when @u is gone. */
bool udp_flush_queue(struct udp_relay *u, uint64_t now)
{
	uint16_t q_len[UDP_QUEUE_MAX];
	unsigned q_n = u->q_n;
	uint8_t *q = u->q;
	size_t off = 0;
	bool alive = true;

	memcpy(q_len, u->q_len, q_n * sizeof(q_len[0]));
	u->q_n = 0;
	u->q_bytes = 0;
	u->q = NULL;
	for (unsigned i = 0; i < q_n && alive; i++) {
		alive = udp_send_one(u, q + off, q_len[i], now);
		off += q_len[i];
	}
	free(q);
	return alive;
}

static void udp_enqueue(struct udp_relay *u, const uint8_t *data, size_t len)
{
	if (u->q_n == UDP_QUEUE_MAX || u->q_bytes + len > UDP_QUEUE_BYTES) {
		u->r->stats.udp_dropped++;
		return;
	}
	if (!u->q && !(u->q = malloc(UDP_QUEUE_BYTES))) {
		u->r->stats.udp_dropped++;
		return;
	}
	memcpy(u->q + u->q_bytes, data, len);
	u->q_len[u->q_n++] = (uint16_t)len;
	u->q_bytes += len;
}

/* The ICMP unreachable code that refuses a UDP flow as @how refuses a TCP
 * one: port unreachable where TCP gets a RST. */
static uint8_t udp_refuse_code(enum zt_refuse how, uint8_t family)
{
	int code = zt_refuse_icmp_code(how, family);

	if (code < 0)
		code = family == ZT_AF_INET ? ZT_ICMP4_CODE_PORT_UNREACH :
					      ZT_ICMP6_CODE_PORT_UNREACH;
	return (uint8_t)code;
}

/*
 * The association failed or died: forget the flow (the client's next
 * datagram starts over). One that never became ready also answers the
 * datagrams that waited for it, as a TCP flow is refused: an ICMP
 * unreachable as @how says, port unreachable where a TCP flow gets a RST,
 * so the client fails now instead of at its own timeout.
 */
void udp_fail(struct udp_relay *u, enum zt_refuse how, uint64_t now)
{
	struct zt_udp_flow *f = u->flow;

	if (!f)
		return;
	if (!u->ready) /* its waiting datagrams counted by udp_closed() */
		zt_stack_udp_unreach(u->r->stack, f,
				     udp_refuse_code(how, f->key.family),
				     u->q_n ? u->q : NULL, u->q_n ? u->q_len[0] : 0,
				     now);
	zt_stack_udp_close(u->r->stack, f, now);
}

/* A relay for UDP flow @f with decision @d, no sockets yet; NULL (the
 * datagram dropped, counted) without memory. */
static struct udp_relay *udp_relay_new(struct zt_router *r,
				       struct zt_udp_flow *f,
				       enum zt_route_decision d)
{
	struct udp_relay *u = calloc(1, sizeof(*u));

	if (!u) {
		r->stats.udp_dropped++;
		return NULL;
	}
	u->kind = CONN_UDP;
	u->r = r;
	u->flow = f;
	u->decision = d;
	u->dgram = -1;
	f->user = u;
	return u;
}

static void udp_refuse_now(struct zt_router *r, struct zt_udp_flow *f, int err,
			   uint64_t now);

/* Forget query @i of @w, whose question lies at @off of w->q. */
static void fwd_wait_drop(struct fwd_wait *w, unsigned i, size_t off)
{
	memmove(w->q + off, w->q + off + w->qlen[i], w->len - off - w->qlen[i]);
	w->len -= w->qlen[i];
	memmove(w->id + i, w->id + i + 1, (w->n - i - 1) * sizeof(w->id[0]));
	memmove(w->qlen + i, w->qlen + i + 1,
		(w->n - i - 1) * sizeof(w->qlen[0]));
	w->n--;
}

/* Remember query @q (@len bytes, a header at least) of forwarding flow
 * @u as waiting for its answer: its ID and question; the oldest that
 * waits makes room past FWD_IDS. Return: false (no memory) or true. */
static bool fwd_wait_add(struct udp_relay *u, const uint8_t *q, size_t len)
{
	struct fwd_wait *w = u->fwd;
	struct zt_view question;

	if (zt_dns_question(zt_view_make(q, len), &question))
		question = zt_view_make(q, 0);
	if (w && w->n == FWD_IDS)
		fwd_wait_drop(w, 0, 0);
	w = realloc(w, sizeof(*w) + (w ? w->len : 0) + question.len);
	if (!w)
		return false;
	if (!u->fwd) {
		w->n = 0;
		w->len = 0;
	}
	u->fwd = w;
	w->id[w->n] = zt_rd16(q);
	w->qlen[w->n] = (uint16_t)question.len;
	memcpy(w->q + w->len, question.data, question.len);
	w->len += question.len;
	w->n++;
	return true;
}

/* A query the fake-IP resolver forwards: to the real resolver, from a
 * datagram socket of the client's flow, whose answers come back to the
 * client from the resolver's address (zt_router_dgram_batch() learns
 * their addresses on the way). */
static void fake_forward(struct zt_router *r, struct zt_udp_flow *f,
			 const uint8_t *data, size_t len, uint64_t now)
{
	const struct zt_endpoint *up = &r->cfg.fake_dns.upstream;
	struct udp_relay *u = f->user;

	if (!u) {
		int h;

		u = udp_relay_new(r, f, ZT_ROUTE_DIRECT);
		if (!u)
			return;
		u->forward = true;
		h = open_dgram(r, up->addr.family, 0, ZT_UPSTREAM_DIRECT, u, now);
		if (h < 0) {
			/* refused, as any flow whose socket fails, and
			 * forgotten: the client's retry asks again */
			udp_refuse_now(r, f, h, now); /* frees u */
			return;
		}
		u->dgram = h;
		u->ready = true;
	}
	if (!u->ready || len < ZT_DNS_HDR || !fwd_wait_add(u, data, len)) {
		r->stats.udp_dropped++;
		return;
	}
	udp_send_one(u, data, len, now);
}

/* Whether @p (@len bytes) from the real resolver answers a query the
 * client's flow @u forwarded: the oldest one not answered yet with its
 * ID and question (names compared without case, RFC 4343; by the ID
 * alone when either has no question to read: a FORMERR may carry none),
 * which is then taken. Anything else is a forgery or a stray (RFC 5452
 * 9.1): it must neither teach the resolver nor reach the client, nor use
 * up the query its real answer is still to come for. */
static bool fwd_answers(struct udp_relay *u, const uint8_t *p, size_t len)
{
	struct fwd_wait *w = u->fwd;
	struct zt_view question;
	size_t off = 0;

	if (!w || len < ZT_DNS_HDR)
		return false;
	if (zt_dns_question(zt_view_make(p, len), &question))
		question.len = 0;
	for (unsigned i = 0; i < w->n; off += w->qlen[i], i++) {
		if (w->id[i] != zt_rd16(p) ||
		    (question.len && w->qlen[i] &&
		     !zt_dns_question_eq(zt_view_make(w->q + off, w->qlen[i]),
					 question)))
			continue;
		if (w->n == 1) { /* none waits now: the room goes */
			free(w);
			u->fwd = NULL;
		} else {
			fwd_wait_drop(w, i, off);
		}
		return true;
	}
	return false;
}

/* Flow @k goes to the fake-IP resolver's address (fake_query()). */
static bool fake_server(const struct zt_router *r, const struct zt_flow_key *k)
{
	return r->fake && zt_fakedns_is_server(r->fake, &k->server);
}

/* ... on a port other than 53, where nothing answers: counted, and the
 * caller refuses it. */
static bool fake_port_refused(struct zt_router *r, const struct zt_flow_key *k)
{
	if (k->server_port == ZT_DNS_PORT)
		return false;
	r->stats.fake_ip_refused++;
	return true;
}

/* A datagram to the fake-IP resolver's address: a query to its port 53
 * is answered (or forwarded), any other port refused. Return: whether it
 * was one. */
static bool fake_query(struct zt_router *r, struct zt_udp_flow *f,
		       const uint8_t *data, size_t len, uint64_t now)
{
	struct fake_ask ask;
	int n;

	if (!fake_server(r, &f->key))
		return false;
	if (fake_port_refused(r, &f->key)) {
		zt_stack_udp_reject(r->stack, f,
				    f->key.family == ZT_AF_INET ?
					    ZT_ICMP4_CODE_PORT_UNREACH :
					    ZT_ICMP6_CODE_PORT_UNREACH,
				    now);
		return true;
	}
	ask.r = r;
	ask.client = f->key.client;
	n = zt_fakedns_answer(r->fake, data, len, fake_policy, &ask, r->scratch,
			      sizeof(r->scratch));
	if (n > 0)
		zt_stack_udp_send(r->stack, &f->key, r->scratch, (size_t)n, now);
	else if (n == 0)
		fake_forward(r, f, data, len, now);
	return true;
}

/*
 * The upstream of new UDP relay @u (decision SOCKS5, DIRECT or NAT): a NAT
 * session (which shares the mapped port of its client endpoint's other
 * sessions), then the association of its client endpoint joined.
 * A mapped port that turns out taken on the host is given up for
 * another, up to NAT_PORT_TRIES times.
 * Return: 0, or a negative errno (-ENOSPC: NAT table full) with nothing
 * of it left open but what udp_closed() releases.
 */
static int udp_setup(struct zt_router *r, struct udp_relay *u, uint64_t now)
{
	const struct zt_udp_flow *f = u->flow;
	uint16_t taken[NAT_PORT_TRIES];
	unsigned n_taken = 0;
	struct zt_nat_key nk;
	int err;

	if (u->decision != ZT_ROUTE_NAT)
		return assoc_join(r, u, now);
	memset(&nk, 0, sizeof(nk));
	nk.proto = ZT_IPPROTO_UDP;
	nk.src = f->key.client;
	nk.dst = f->key.server;
	nk.sport = f->key.client_port;
	nk.dport = f->key.server_port;
	for (;;) {
		err = zt_nat_insert_avoid(&r->nat, &nk, now, taken, n_taken,
					  &u->nat);
		if (err < 0) {
			u->nat = NULL;
			r->stats.nat_refused++;
			return err;
		}
		u->nat->user = u;
		err = assoc_join(r, u, now);
		if (err != -EADDRINUSE || n_taken == NAT_PORT_TRIES)
			return err;
		/* Another socket of the host holds the mapped port (the range
		 * overlaps the kernel's ephemeral ports, and applications
		 * bind there too): another port, never one found taken. */
		r->stats.nat_port_taken++;
		taken[n_taken++] = u->nat->mapped_port;
		zt_nat_remove(&r->nat, u->nat);
		u->nat = NULL;
	}
}

/* Whether flow @f with decision @d goes as DNS over TCP through its
 * proxy: UDP to port 53 that a proxy would carry, with cfg.dns_over_tcp,
 * or through a SOCKS5 proxy without UDP ASSOCIATE (cfg.dns_tcp_fallback,
 * assoc_dns_to_tcp()). */
static bool dns_over_tcp(const struct zt_router *r, const struct zt_flow_key *k,
			 enum zt_route_decision d)
{
	if (k->server_port != ZT_DNS_PORT)
		return false;
	if (d == ZT_ROUTE_SOCKS5 && r->cfg.socks5.enabled)
		return r->cfg.dns_over_tcp ||
		       (r->cfg.dns_tcp_fallback && r->socks5_no_udp);
	return d == ZT_ROUTE_HTTP && r->cfg.http.enabled && r->cfg.dns_over_tcp;
}

/*
 * The SOCKS5 proxy refused @a's UDP ASSOCIATE as a command it does not
 * support (reply 7): with cfg.dns_tcp_fallback its DNS goes over TCP from
 * now on, beginning with the queries that waited for @a. Each such member
 * leaves @a for a dns_tunnel of its own and keeps its queue, which goes
 * once the tunnel's stream is through; one whose stream cannot be opened
 * fails as @how says, as it would have with @a. Its socket makes no room
 * by eviction: no datagram of the flow's is being handled, and an evicted
 * flow could be the next member. The caller fails @a right after, which
 * frees it (held here, so it is not freed before).
 */
static void assoc_dns_to_tcp(struct udp_assoc *a, enum zt_refuse how,
			     uint64_t now)
{
	struct zt_router *r = a->r;
	struct udp_relay *m, *next;

	if (!r->cfg.dns_tcp_fallback)
		return;
	r->socks5_no_udp = true;
	a->busy++;
	for (m = a->members; m; m = next) {
		next = m->assoc_next;
		if (m->ready || !m->flow || !dns_over_tcp(r, &m->flow->key, m->decision))
			continue;
		assoc_leave(m);
		if (dns_tunnel_new(r, m, false, now) < 0)
			udp_fail(m, how, now);
	}
	a->busy--;
}

/* Answer the datagram being delivered on @f with the ICMP unreachable
 * @err maps to, and forget the flow (it frees @f's relay), so that the
 * next datagram asks again. */
static void udp_refuse_now(struct zt_router *r, struct zt_udp_flow *f, int err,
			   uint64_t now)
{
	r->stats.udp_dropped++;
	zt_stack_udp_reject(r->stack, f,
			    udp_refuse_code(refuse_for_errno(err), f->key.family),
			    now);
	zt_stack_udp_close(r->stack, f, now);
}

/* What becomes of a new UDP flow, its first datagram decided
 * (udp_decide()). */
enum udp_first {
	UF_FORGET, /* no query for a DNS stream: forgotten, as though never
		    * seen, so a query starts afresh */
	UF_TUNNEL, /* DNS over a TCP stream of its own (dns_tunnel_new()) */
	UF_REFUSE, /* nothing here carries it (CONNECT is TCP only,
		    * nothing listens locally, no SOCKS5 proxy, a fake
		    * address with no name or on a route by address):
		    * answered as a host with no listener answers, every
		    * datagram */
	UF_SETUP,  /* its upstream is set up (udp_setup()) */
	UF_DROP,   /* the rules drop it (every datagram refused when
		    * *@reject) */
};

/*
 * The decision on new UDP flow @k, its first datagram @data: what becomes
 * of it, its route in *@dp, the name it goes by in *@name (the caller's
 * to free; NULL: by address) and in *@reject whether a Drop rejects.
 * Counted, unless @peek: then nothing the router counts or keeps changes
 * (udp_admit() asks before udp_input() does).
 */
static enum udp_first udp_decide(struct zt_router *r,
				 const struct zt_flow_key *k,
				 const uint8_t *data, size_t len, bool peek,
				 enum zt_route_decision *dp, char **name,
				 bool *reject)
{
	enum zt_route_decision d;
	bool by_tcp, no_proxy;
	int fake = fake_name(r, &k->server, name, peek);

	*reject = false;
	if (fake < 0)
		d = ZT_ROUTE_DROP;
	else if (peek)
		d = route_for(r, ZT_IPPROTO_UDP, k, *name, reject);
	else
		d = decide(r, ZT_IPPROTO_UDP, k, *name, reject);
	*dp = d;
	if (fake == NAME_LEARNED) {
		free(*name); /* it routed; the flow goes by address */
		*name = NULL;
	}
	by_tcp = dns_over_tcp(r, k, d);
	if (by_tcp && !zt_dns_tcp_is_query(data, len)) {
		free(*name);
		*name = NULL;
		if (!peek)
			r->stats.dns_tcp_dropped++;
		return UF_FORGET;
	}
	if (fake >= 0 && d != ZT_ROUTE_DROP && d != ZT_ROUTE_LOCAL &&
	    fake_unroutable(r, *name, by_tcp || (d == ZT_ROUTE_SOCKS5 &&
						 r->cfg.socks5.enabled),
			    peek))
		fake = -1;
	no_proxy = d == ZT_ROUTE_SOCKS5 && !r->cfg.socks5.enabled;
	if (no_proxy && fake >= 0 && !peek)
		r->stats.dropped_no_proxy++;
	if (fake >= 0 && by_tcp)
		return UF_TUNNEL;
	if (fake < 0 || d == ZT_ROUTE_HTTP || d == ZT_ROUTE_LOCAL || no_proxy)
		return UF_REFUSE;
	return d == ZT_ROUTE_DROP ? UF_DROP : UF_SETUP;
}

/* Whether new flow @k, its first datagram decided @how with route @d and
 * @name (udp_decide()), would be refused because its proxy is down with
 * its probe under way (proxy_refuses(), counted unless @peek): it would
 * open a new connection to the proxy, a DNS-over-TCP stream of its own
 * (dns_tunnel_open()) or a new SOCKS5 association, not join one of its
 * client endpoint's that is open (assoc_join()). */
static bool udp_proxy_refuses(struct zt_router *r, const struct zt_flow_key *k,
			      enum udp_first how, enum zt_route_decision d,
			      const char *name, bool peek)
{
	if (how == UF_SETUP &&
	    (d != ZT_ROUTE_SOCKS5 || assoc_find(r, k, d, name)))
		return false;
	return (how == UF_TUNNEL || how == UF_SETUP) &&
	       proxy_refuses(r, d, peek);
}

/* The stack's udp_admit: asked, with the UDP table full, whether the
 * first datagram of a flow @key would be refused at once. Peeked first;
 * a refusal is then decided again and counted as udp_input() would have
 * (its datagram dropped), since the stack answers it without one: also
 * one that its proxy, down, would refuse (udp_proxy_refuses()), answered
 * with the host unreachable that udp_input() would send. */
enum zt_udp_admit udp_admit(void *host, const struct zt_flow_key *key,
			    const uint8_t *data, size_t len, uint64_t now)
{
	struct zt_router *r = host;
	enum zt_route_decision d;
	enum udp_first how;
	enum zt_udp_admit a;
	bool reject, down;
	char *name;

	(void)now;
	if (fake_server(r, key))
		return fake_port_refused(r, key) ? ZT_UDP_ADMIT_REFUSE :
						   ZT_UDP_ADMIT;
	how = udp_decide(r, key, data, len, true, &d, &name, &reject);
	down = udp_proxy_refuses(r, key, how, d, name, true);
	free(name);
	if ((how == UF_TUNNEL || how == UF_SETUP) && !down)
		return ZT_UDP_ADMIT;
	a = down ? ZT_UDP_ADMIT_UNREACH :
	    how == UF_REFUSE || (how == UF_DROP && reject) ?
		   ZT_UDP_ADMIT_REFUSE : ZT_UDP_ADMIT_DROP;
	(void)udp_decide(r, key, data, len, false, &d, &name, &reject);
	if (down)
		(void)proxy_refuses(r, d, false); /* counted */
	free(name); /* NULL but when memory ran out in between */
	if (how != UF_FORGET)
		r->stats.udp_dropped++;
	return a;
}

/* The stack's udp_input: a datagram from the client. A new flow's first
 * one takes its decision and sets its upstream up; each goes at once when
 * that is ready, else waits in the flow's queue. */
void udp_input(void *host, struct zt_udp_flow *f, const uint8_t *data,
	       size_t len, uint64_t now)
{
	struct zt_router *r = host;
	struct udp_relay *u = f->user;

	if (fake_query(r, f, data, len, now))
		return;
	if (!u) {
		bool reject;
		enum zt_route_decision d;
		char *name;
		enum udp_first how = udp_decide(r, &f->key, data, len, false,
						&d, &name, &reject);

		if (how == UF_FORGET) {
			zt_stack_udp_close(r->stack, f, now);
			return;
		}
		u = udp_relay_new(r, f, d);
		if (!u) {
			free(name);
			return;
		}
		u->name = name;
		u->fake_hold = fake_hold(r, name, &f->key.server);
		u->reject = reject && d == ZT_ROUTE_DROP;
		if (how == UF_TUNNEL) {
			int err = dns_tunnel_new(r, u, true, now);

			if (err < 0) {
				udp_refuse_now(r, f, err, now); /* frees u */
				return;
			}
		} else if (how == UF_REFUSE) {
			u->decision = ZT_ROUTE_DROP;
			u->reject = true;
		} else if (how == UF_SETUP) {
			int err = udp_setup(r, u, now);

			if (err < 0) {
				/* Can not be set up now: refused, as a TCP flow
				 * whose socket fails, and forgotten, so that the
				 * next datagram asks again. */
				udp_refuse_now(r, f, err, now); /* frees u */
				return;
			}
		}
	} else if (u->dns && u->dns->handle < 0) {
		/* no stream open (closed once every query was answered, or
		 * by the server): a new one for this query, not for a
		 * datagram that is none (the framer would drop it) */
		int err;

		if (!zt_dns_tcp_is_query(data, len)) {
			r->stats.dns_tcp_dropped++;
			return;
		}
		err = dns_tunnel_open(u->dns, true, now);

		if (err < 0) {
			udp_refuse_now(r, f, err, now); /* frees u */
			return;
		}
	}
	if (u->decision == ZT_ROUTE_DROP) {
		r->stats.udp_dropped++;
		if (u->reject)
			zt_stack_udp_reject(r->stack, f,
					    udp_refuse_code(ZT_REFUSE_RST,
							    f->key.family),
					    now);
		return;
	}
	if (u->ready)
		udp_send_one(u, data, len, now);
	else
		udp_enqueue(u, data, len);
}

/* The stack's udp_closed: the flow ended (timeout, eviction, failure);
 * its relay and what it holds are let go, the datagrams that still
 * waited for its upstream counted as dropped (whatever ended it: an
 * eviction as much as a failed association). */
void udp_closed(void *host, struct zt_udp_flow *f, uint64_t now)
{
	struct udp_relay *u = f->user;

	(void)host;
	(void)now;
	if (!u)
		return;
	u->r->stats.udp_dropped += u->q_n;
	if (u->dns)
		dns_tunnel_free(u->dns);
	udp_close_sockets(u);
	if (u->nat)
		zt_nat_remove(&u->r->nat, u->nat);
	f->user = NULL;
	fake_release(u->r, u->fake_hold);
	free(u->name);
	free(u->q);
	free(u->fwd);
	free(u);
}

/* @a's control stream connected: the SOCKS5 greeting for UDP ASSOCIATE. */
void assoc_ctrl_connected(struct udp_assoc *a, uint64_t now)
{
	const struct zt_proxy_config *px = &a->r->cfg.socks5;
	uint8_t out[HS_BUF];
	int n;

	a->ctrl_up = true;
	proxy_reached(a->r, a->decision, a, a->px_gen);
	zt_socks5_init(&a->socks, ZT_SOCKS5_CMD_UDP_ASSOCIATE);
	if (px->auth)
		zt_socks5_set_auth(&a->socks, px->username, strlen(px->username),
				   px->password, strlen(px->password));
	n = zt_socks5_start(&a->socks, out, sizeof(out));
	if (n > 0 &&
	    a->r->up->stream_send(a->r->host, a->ctrl, out, (size_t)n) != n)
		n = -EIO; /* a few bytes on a fresh socket always fit */
	if (n < 0) {
		assoc_fail(a, ZT_REFUSE_RST, now);
		return;
	}
	/* Idle by nature (RFC 1928 7: it only keeps the association): a
	 * proxy that vanished without a FIN or RST would leave the
	 * association open and its datagrams going nowhere. Probed, it
	 * fails (ETIMEDOUT) and the next datagram opens a new one. */
	upstream_keepalive(a->r, a->ctrl);
}

/* The relay is known (@a's handshake done): its socket opened, every
 * member's waiting datagrams sent. */
static void assoc_ready(struct udp_assoc *a, uint64_t now)
{
	struct zt_router *r = a->r;
	struct zt_endpoint proxy = a->proxy, peer;
	struct zt_socks5_addr ep;
	struct udp_relay *m;
	uint8_t family;

	/* An unspecified BND.ADDR (or a domain, taken for the proxy's own
	 * name) means the address the control connection reached: for a
	 * proxy given by name, what the host says it resolved to (so
	 * replies can be checked against it), else the name itself. */
	if (proxy.name[0] && r->up->stream_peer &&
	    r->up->stream_peer(r->host, a->ctrl, &peer) == 0 &&
	    !peer.name[0] && (peer.addr.family == ZT_AF_INET ||
			      peer.addr.family == ZT_AF_INET6))
		proxy = peer;
	if (zt_socks5_relay_endpoint(&a->socks, &proxy, &ep) != 0) {
		assoc_fail(a, ZT_REFUSE_RST, now);
		return;
	}
	if (ep.atyp == ZT_SOCKS5_ATYP_DOMAIN) {
		memcpy(a->relay.name, ep.name, ep.name_len);
		a->relay.name[ep.name_len] = 0;
	} else {
		a->relay.addr = ep.ip;
	}
	a->relay.port = ep.port;
	/* the socket's family is the relay's (a proxy may answer on the
	 * other family), else the proxy's, else the client's */
	family = !a->relay.name[0] ? a->relay.addr.family :
		 proxy.addr.family ? proxy.addr.family : a->family;
	a->busy++; /* making room for the socket may end members */
	a->dgram = open_dgram(r, family, 0, 0, a, now);
	if (a->dgram < 0) {
		a->dgram = -1;
		assoc_fail(a, ZT_REFUSE_RST, now);
		a->busy--;
		assoc_maybe_free(a);
		return;
	}
	a->ready = true;
	zt_heap_remove(&r->hs_timers, &a->timer.node);
	for (m = a->members; m; m = m->assoc_next) {
		m->dgram = a->dgram;
		m->ready = true;
		if (!udp_flush_queue(m, now))
			break; /* the relay is lost: every member is gone */
	}
	a->busy--;
	assoc_maybe_free(a);
}

/* Bytes on @a's control stream: the handshake until the relay is known,
 * then nothing (the stream only has to stay open). */
size_t assoc_ctrl_data(struct udp_assoc *a, const uint8_t *data, size_t len,
		       uint64_t now)
{
	struct zt_router *r = a->r;
	uint8_t out[ZT_SOCKS5_OUT_MAX];
	size_t out_len = 0, consumed = 0;
	int st;

	if (a->ready || a->dead)
		return len; /* nothing more is expected on the control stream */
	st = zt_socks5_input(&a->socks, data, len, out, sizeof(out), &out_len,
			     &consumed);
	if (out_len &&
	    r->up->stream_send(r->host, a->ctrl, out, out_len) != (ssize_t)out_len)
		st = ZT_SOCKS5_FAILED; /* the stream's, not the proxy's: no
					* outcome (OK) to count */
	if (st == ZT_SOCKS5_FAILED || st < 0) {
		enum zt_socks5_outcome o = zt_socks5_outcome(&a->socks);

		if (o != ZT_SOCKS5_OK)
			r->stats.socks5_failures[o & 31]++;
		if (o == ZT_SOCKS5_CMD_UNSUPPORTED) {
			r->stats.socks5_udp_unsupported++;
			assoc_dns_to_tcp(a, zt_socks5_refuse(o), now);
		}
		assoc_fail(a, st < 0 ? ZT_REFUSE_RST : zt_socks5_refuse(o), now);
		return len;
	}
	if (st == ZT_SOCKS5_READY)
		assoc_ready(a, now);
	return len;
}

/* --- datagrams and errors from upstream --------------------------------- */

/* Whether @from is the real resolver that forwarded query flow @u
 * asked. Checked once for a batch of @n datagrams, which are counted as
 * dropped together when it is not. */
static bool fwd_sender_ok(struct zt_router *r, const struct zt_endpoint *from,
			  unsigned n)
{
	const struct zt_endpoint *up = &r->cfg.fake_dns.upstream;

	if (!zt_addr_eq(&from->addr, &up->addr) || from->port != up->port) {
		r->stats.udp_dropped += n;
		return false;
	}
	return true;
}

/* Whether the relay's header names the server of @u, a member by name
 * (behind a fake address), as the source: any address (what the proxy
 * resolved the name to) or the name itself, in any case; either with the
 * server's port. Members by address are found by their flow's key
 * (assoc_flow_member()). */
static bool socks5_source_ok(const struct udp_relay *u,
			     const struct zt_socks5_addr *src)
{
	if (src->port != u->flow->key.server_port)
		return false;
	if (src->atyp != ZT_SOCKS5_ATYP_DOMAIN)
		return true;
	/* our name is lower case; the relay's may not be */
	if (src->name_len != strlen(u->name))
		return false;
	for (size_t i = 0; i < src->name_len; i++)
		if (tolower((unsigned char)src->name[i]) != u->name[i])
			return false;
	return true;
}

/* A run of payloads for one client: datagrams of seg bytes, the last
 * perhaps shorter, at data (the host's buffer while they lie back to back
 * there, else copied into r->scratch), all of traffic class tclass. */
struct dgram_run {
	const uint8_t *data;
	size_t len, seg;
	unsigned n;
	bool closed;          /* a shorter one ended it */
	uint8_t tclass;
};

/* The run to @u's client; one the stack cannot send is counted dropped,
 * whole: only a datagram too large for the client's family fails, and
 * such a one is alone in its run (ZT_ROUTER_UDP_RUN_MAX). */
static void run_flush(struct zt_router *r, struct udp_relay *u,
		      struct dgram_run *run, uint64_t now)
{
	if (run->n && zt_stack_udp_send_run(r->stack, &u->flow->key, run->data,
					    run->len, run->seg, run->tclass,
					    now) == 0)
		r->stats.udp_relayed_down += run->len;
	else
		r->stats.udp_dropped += run->n;
	run->n = 0;
	run->len = 0;
	run->closed = false;
}

/* Payload @p (@len bytes, traffic class @tclass) joins the run, or ends
 * it and starts the next. */
static void run_add(struct zt_router *r, struct udp_relay *u,
		    struct dgram_run *run, const uint8_t *p, size_t len,
		    uint8_t tclass, uint64_t now)
{
	if (run->n && (run->closed || len > run->seg || len == 0 ||
		       tclass != run->tclass || run->n == ZT_UDP_GSO_SEGS ||
		       run->len + len > ZT_ROUTER_UDP_RUN_MAX))
		run_flush(r, u, run, now);
	if (!run->n) {
		run->data = p;
		run->seg = len ? len : 1;
		run->tclass = tclass;
	} else if (run->data + run->len != p) {
		/* not back to back: the run continues in scratch */
		if (run->data != r->scratch)
			memmove(r->scratch, run->data, run->len);
		run->data = r->scratch;
		memcpy(r->scratch + run->len, p, len);
	}
	run->len += len;
	run->n++;
	run->closed = len < run->seg;
	if (len == 0)
		run_flush(r, u, run, now); /* an empty datagram goes alone */
}

/* The member of @a that talks to server @addr:@port by address (the
 * stack's flow table finds it), or NULL. */
static struct udp_relay *assoc_flow_member(const struct udp_assoc *a,
					   const struct zt_addr *addr,
					   uint16_t port)
{
	struct zt_flow_key k;
	struct zt_udp_flow *f;
	struct udp_relay *m;

	if (addr->family != a->family)
		return NULL;
	zt_flow_key_set(&k, a->family, ZT_IPPROTO_UDP, &a->client,
			a->client_port, addr, port);
	f = zt_stack_udp_lookup(a->r->stack, &k);
	m = f ? f->user : NULL;
	return m && m->kind == CONN_UDP && m->assoc == a && !m->name ? m : NULL;
}

/* The member of @a whose server the relay names as a datagram's source
 * @src (socks5_source_ok): one of the address first, else one by name,
 * which is the only member at its port (assoc_port_free()). */
static struct udp_relay *assoc_member(const struct udp_assoc *a,
				      const struct zt_socks5_addr *src)
{
	struct udp_relay *m = NULL;

	if (src->atyp != ZT_SOCKS5_ATYP_DOMAIN)
		m = assoc_flow_member(a, &src->ip, src->port);
	if (m || !a->n_named)
		return m;
	for (m = a->members; m; m = m->assoc_next)
		if (m->name && socks5_source_ok(m, src))
			return m;
	return NULL;
}

/* Whether, with udp_full_cone, @addr:@port, a server no member of @a
 * talks to, may reach @a's client (*@k: the key of that flow). Only a
 * single host (a source on loopback, a group or "this host" would reach
 * the client as a martian it could not answer: the stack refuses such a
 * flow) that the rules route the client's datagrams to as @a carries
 * them: one they drop, or send elsewhere, could not be answered this
 * way, and a drop rule keeps its servers out. */
static bool cone_open(struct zt_router *r, const struct udp_assoc *a,
		      const struct zt_addr *addr, uint16_t port,
		      struct zt_flow_key *k)
{
	bool reject;

	if (!r->cfg.udp_full_cone || addr->family != a->family ||
	    !zt_addr_is_host(addr))
		return false;
	zt_flow_key_set(k, a->family, ZT_IPPROTO_UDP, &a->client,
			a->client_port, addr, port);
	return route_for(r, ZT_IPPROTO_UDP, k, NULL, &reject) == a->decision;
}

/* Datagram @p (@len bytes) to @a's client on flow key @k (cone_open()):
 * its answer opens a flow that joins @a. Counted: cone in, or dropped
 * when the stack cannot send it (too large for the client's family):
 * it was let in, so it is neither spoofed nor a mismatch. */
static void cone_send(struct zt_router *r, const struct udp_assoc *a,
		      const struct zt_flow_key *k, const uint8_t *p, size_t len,
		      uint64_t now)
{
	if (zt_stack_udp_send(r->stack, k, p, len, now) != 0) {
		r->stats.udp_dropped++;
		return;
	}
	if (a->decision == ZT_ROUTE_SOCKS5)
		r->stats.socks5_udp_cone_in++;
	else
		r->stats.udp_cone_in++;
	r->stats.udp_relayed_down += len;
}

/* Datagrams @d (@n of them) @from @a's relay socket: each unwrapped and
 * passed to the member whose server it names as its source, runs of one
 * member's together. Only the relay may send on this socket, and only a
 * member's server may be a datagram's source (any server with
 * udp_full_cone): anything else would reach a client as if its server had
 * said it (counted, dropped). */
void assoc_datagrams(struct zt_router *r, struct udp_assoc *a,
		     const struct zt_endpoint *from, const struct zt_dgram *d,
		     unsigned n, uint64_t now)
{
	struct dgram_run run = { NULL, 0, 0, 0, false, 0 };
	struct udp_relay *cur = NULL;
	bool from_relay = a->relay.name[0] ||
			  (zt_addr_eq(&from->addr, &a->relay.addr) &&
			   from->port == a->relay.port);

	if (!a->ready)
		return;
	a->busy++;
	for (unsigned i = 0; i < n; i++) {
		struct zt_socks5_addr src;
		struct zt_view payload;
		enum zt_socks5_udp_result res =
			zt_socks5_udp_unwrap(d[i].data, d[i].len, &src, &payload);
		struct udp_relay *m;

		if (res != ZT_SOCKS5_UDP_OK) {
			r->stats.socks5_udp_dropped[res & 7]++;
			continue;
		}
		m = from_relay ? assoc_member(a, &src) : NULL;
		if (!m) {
			if (cur)
				run_flush(r, cur, &run, now); /* in order */
			cur = NULL;
			struct zt_flow_key k;

			if (!from_relay || src.atyp == ZT_SOCKS5_ATYP_DOMAIN ||
			    !cone_open(r, a, &src.ip, src.port, &k))
				r->stats.socks5_udp_spoofed++;
			else
				cone_send(r, a, &k, payload.data, payload.len, now);
			continue;
		}
		if (m != cur) {
			if (cur)
				run_flush(r, cur, &run, now);
			cur = m;
		}
		run_add(r, m, &run, payload.data, payload.len, 0, now);
	}
	if (cur)
		run_flush(r, cur, &run, now);
	a->busy--;
	assoc_maybe_free(a);
}

/*
 * Datagrams @d (@n of them, one sender @from) to mapping @a's socket: to
 * the member that talks to @from, with the traffic class each arrived
 * with, its NAT session refreshed. Only the servers of its members may
 * send to a client socket (address- and port-dependent filtering, RFC
 * 4787 5), any server with udp_full_cone (endpoint-independent: an
 * "open NAT"); the rest is counted (NAT: reply mismatch) and dropped.
 */
void mapping_datagrams(struct zt_router *r, struct udp_assoc *a,
		       const struct zt_endpoint *from, const struct zt_dgram *d,
		       unsigned n, uint64_t now)
{
	struct dgram_run run = { NULL, 0, 0, 0, false, 0 };
	struct udp_relay *m = NULL;
	struct zt_flow_key k;
	bool open;

	if (!from->name[0] && a->decision == ZT_ROUTE_NAT) {
		/* the NAT table filters: the session of that remote */
		struct zt_nat_session *s = zt_nat_reverse_lookup(
			&r->nat, a->mapped_port, &from->addr, from->port);

		m = s ? s->user : NULL;
		if (m && m->assoc != a)
			m = NULL;
	} else if (!from->name[0]) {
		m = assoc_flow_member(a, &from->addr, from->port);
	}
	a->busy++;
	if (m) {
		if (m->nat)
			zt_nat_touch(&r->nat, m->nat, now);
		for (unsigned i = 0; i < n; i++)
			run_add(r, m, &run, d[i].data, d[i].len, d[i].tclass, now);
		run_flush(r, m, &run, now);
	} else {
		/* one sender: the rules asked once for the whole batch */
		open = !from->name[0] && cone_open(r, a, &from->addr, from->port, &k);
		for (unsigned i = 0; i < n; i++)
			if (open)
				cone_send(r, a, &k, d[i].data, d[i].len, now);
			else if (a->decision == ZT_ROUTE_NAT)
				r->stats.nat_reply_mismatch++;
			else
				r->stats.udp_dropped++;
	}
	a->busy--;
	assoc_maybe_free(a);
}

/* Datagrams @d (@n of them) @from the real resolver to the socket of
 * flow @u, whose queries the fake-IP resolver forwarded: only answers to
 * them reach the client (fwd_answers()), their addresses learned. */
void fwd_datagrams(struct zt_router *r, struct udp_relay *u,
		   const struct zt_endpoint *from, const struct zt_dgram *d,
		   unsigned n, uint64_t now)
{
	struct dgram_run run = { NULL, 0, 0, 0, false, 0 };

	if (!u->flow || !n || !fwd_sender_ok(r, from, n))
		return;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p = d[i].data;
		size_t len = d[i].len;

		if (!fwd_answers(u, p, len)) {
			r->stats.udp_dropped++;
			continue;
		}
		zt_fakedns_learn(r->fake, p, len);
		run_add(r, u, &run, p, len, 0, now);
	}
	run_flush(r, u, &run, now);
}

/*
 * An ICMP error @de of @kind about a datagram sent to association @a's
 * relay. An unreachable means the relay is gone though the control
 * connection may stand (its port closed by a restarted relay, a BND.ADDR
 * the proxy cannot be reached at): the association is dead (RFC 1928 7),
 * so it ends as when that connection ends, every member with it, and the
 * client of the datagram it quotes (the only member's, when the quote is
 * cut in the header) hears a port unreachable quoting its own datagram
 * (unwrapped: as much of it as the error quoted), as a TCP
 * flow whose proxy fails gets a RST; it fails now, not at its own
 * timeout, and its next datagram asks for a new association. A time
 * exceeded or too big is about one datagram: ignored.
 * Return: whether a client was told.
 */
static bool relay_lost(struct zt_router *r, struct udp_assoc *a,
		       const struct zt_dgram_error *de, enum zt_icmp_kind kind,
		       uint64_t now)
{
	struct zt_socks5_addr dst;
	struct zt_view payload = { NULL, 0 };
	struct udp_relay *m = NULL;

	if (kind != ZT_ICMP_DEST_UNREACH || !a->ready || a->dead ||
	    de->to.name[0] || de->to.port != a->relay.port ||
	    (!a->relay.name[0] && !zt_addr_eq(&de->to.addr, &a->relay.addr)))
		return false;
	if (de->data && zt_socks5_udp_unwrap(de->data, de->len, &dst,
					     &payload) == ZT_SOCKS5_UDP_OK)
		m = assoc_member(a, &dst);
	else
		memset(&payload, 0, sizeof(payload)); /* cut in its header */
	if (!m && a->members && !a->members->assoc_next)
		m = a->members; /* the only one it can be about */
	r->stats.socks5_udp_relay_lost++;
	if (m)
		zt_stack_udp_unreach(r->stack, m->flow,
				     udp_refuse_code(ZT_REFUSE_RST,
						     m->flow->key.family),
				     payload.data, payload.len, now);
	assoc_fail(a, ZT_REFUSE_RST, now);
	return m != NULL;
}

/*
 * An unreachable about a query that forwarding flow @u sent to the real
 * resolver: the resolver cannot be reached, so the client hears a port
 * unreachable from the fake-IP resolver's address quoting its query, as
 * when a relay is lost (relay_lost), and its stub tries its next server
 * now instead of at its timeout. Only an error quoting a query that still
 * waits counts (fwd_answers(), which takes it); a time exceeded or too
 * big is about one datagram: ignored. Return: whether the client was told.
 */
static bool fwd_error(struct zt_router *r, struct udp_relay *u,
		      const struct zt_dgram_error *de, enum zt_icmp_kind kind,
		      uint64_t now)
{
	const struct zt_endpoint *up = &r->cfg.fake_dns.upstream;

	if (kind != ZT_ICMP_DEST_UNREACH || de->to.name[0] ||
	    !zt_addr_eq(&de->to.addr, &up->addr) || de->to.port != up->port ||
	    !de->data || !fwd_answers(u, de->data, de->len))
		return false;
	return zt_stack_udp_unreach(r->stack, u->flow,
				    udp_refuse_code(ZT_REFUSE_RST,
						    u->flow->key.family),
				    de->data, de->len, now) == 0;
}

/* An error about a datagram of direct or NAT flow @u to its server, or
 * of forwarding flow @u to the real resolver. */
bool udp_error(struct zt_router *r, struct udp_relay *u,
	       const struct zt_dgram_error *de, enum zt_icmp_kind kind,
	       uint64_t now)
{
	const struct zt_flow_key *k;

	if (u->flow && u->forward)
		return fwd_error(r, u, de, kind, now);
	if (!u->flow || u->decision == ZT_ROUTE_SOCKS5)
		return false; /* the client talks to someone else */
	k = &u->flow->key;
	if (de->to.name[0] || !zt_addr_eq(&de->to.addr, &k->server) ||
	    de->to.port != k->server_port)
		return false;
	return zt_stack_udp_error(r->stack, k, kind, de->code, de->mtu,
				  error_origin(de, &k->server), de->data,
				  de->len, now) == 0;
}

/* An error about a datagram sent on association @a's socket: a SOCKS5
 * relay's (relay_lost), or one of a mapping's members to its server. */
bool assoc_error(struct zt_router *r, struct udp_assoc *a,
		 const struct zt_dgram_error *de, enum zt_icmp_kind kind,
		 uint64_t now)
{
	struct udp_relay *m;

	if (a->decision == ZT_ROUTE_SOCKS5)
		return relay_lost(r, a, de, kind, now);
	m = de->to.name[0] ? NULL : assoc_flow_member(a, &de->to.addr, de->to.port);
	return m && udp_error(r, m, de, kind, now);
}

/* A NAT session ran out: close its flow (udp_closed frees the relay). */
void nat_expired(void *ctx, struct zt_nat_session *s, uint64_t now)
{
	struct zt_router *r = ctx;
	struct udp_relay *u = s->user;

	if (!u)
		return;
	u->nat = NULL; /* the table removes the session itself */
	if (u->flow)
		zt_stack_udp_close(r->stack, u->flow, now);
}
