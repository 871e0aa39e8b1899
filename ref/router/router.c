/* SPDX-License-Identifier: MIT */
/*
 * router.c - route decisions, and the host's reports handed to the relay
 * they are about.
 *
 * Theory of operation:
 *
 * The router is the stack's host (zt_stack_ops) and the upstreams' client
 * (zt_upstream_ops). Each flow gets a relay of its kind when it begins: a
 * TCP flow a tcp_relay (tcp_relay.c), a UDP flow a udp_relay that joins
 * the association or mapping of its client endpoint (udp_relay.c) or,
 * DNS over TCP, owns a dns_tunnel (dns_tunnel.c); a ping to a direct
 * destination an echo session (echo.c). Each relay is the cookie of the
 * upstream sockets it opens, and each cookie begins with its kind (enum
 * conn_kind), so that a report of the host (zt_router_stream_*,
 * zt_router_dgram_*) goes to the code of that kind from here.
 *
 * A new flow's route is the rules' decision (route_of()), counted once
 * (decide()). Fake-IP DNS (cfg.fake_dns, fakedns.h): datagrams to the
 * resolver's address never reach a route decision. A query to its port
 * 53 is answered from the table, under the rules' verdict on the name
 * (fake_policy()), or forwarded, when the rules send the name direct,
 * from a datagram socket of the client's flow to the real resolver,
 * whose answers are learned on their way back; a TCP connection to its
 * port 53 is answered in the core too (local_dns_pump(), no upstream);
 * anything else sent there is refused. A new flow's name (the one behind
 * its fake destination, or one learned for its real one) goes into its
 * route query; a flow to a fake address goes to its proxy by that name,
 * and is refused on any route that connects by address. Its relay holds
 * the name's address while it lives (fake_hold()), so that the address
 * goes to no other name under a client that still has it.
 *
 * IP header fields, as a router would pass them: a DIRECT/NAT flow's
 * datagrams and a direct ping leave with the client's TTL, traffic class
 * and IPv4 DF (keep_header: dgram_set_header on a change), and what comes
 * back reaches the client with the class it arrived with
 * (zt_dgram.tclass; the network's ICMP errors are relayed,
 * zt_router_dgram_error, and so is a "packet too big" from the host's
 * own link, too_big()); a DIRECT TCP flow's upstream takes the client's
 * DSCP (keep_dscp). Nothing of the client's header goes toward a proxy:
 * it is about the destination.
 */
#include "router_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void zt_router_config_default(struct zt_router_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	zt_stack_config_default(&cfg->stack);
	cfg->http_max_header = ZT_HTTP_CONNECT_MAX_HEADER_DEFAULT;
	zt_nat_config_default(&cfg->nat);
	cfg->nat.timeout = 0; /* the flows' (zt_router_new) */
	zt_fakedns_config_default(&cfg->fake_dns);
	cfg->dns_tcp_fallback = true;
	cfg->upstream_keepalive.idle = ZT_ROUTER_KEEPALIVE_IDLE;
	cfg->upstream_keepalive.interval = ZT_ROUTER_KEEPALIVE_INTERVAL;
	cfg->upstream_keepalive.count = ZT_ROUTER_KEEPALIVE_COUNT;
}

void zt_router_config_fit_flows(struct zt_router_config *cfg)
{
	cfg->nat.capacity = cfg->stack.max_udp_flows;
	cfg->stack.mem_budget = (uint64_t)cfg->stack.max_tcp_flows *
				((uint64_t)cfg->stack.tcp.rx_buf +
				 cfg->stack.tcp.tx_buf);
}

/* --- decisions -------------------------------------------------------- */

/* The route decision for @q, not counted; *@reject tells a rejecting
 * Drop. */
static enum zt_route_decision route_of(struct zt_router *r,
				       const struct zt_route_query *q,
				       bool *reject)
{
	enum zt_route_decision d;

	*reject = false;
	/* The rule table also knows whether a Drop rejects. */
	if (r->cfg.route == zt_rules_route)
		d = zt_rules_match(r->cfg.route_user, q, reject);
	else
		d = r->cfg.route(r->cfg.route_user, q);
	if ((unsigned)d >= ZT_ROUTE__COUNT)
		d = ZT_ROUTE_DROP;
	return d;
}

/* The rules' decision for flow @k of @proto (@name: the name behind its
 * fake destination, or NULL). */
enum zt_route_decision route_for(struct zt_router *r, uint8_t proto,
				 const struct zt_flow_key *k, const char *name,
				 bool *reject)
{
	struct zt_route_query q;

	memset(&q, 0, sizeof(q));
	q.proto = proto;
	q.src = k->client;
	q.dst = k->server;
	q.sport = k->client_port;
	q.dport = k->server_port;
	q.name = name;
	return route_of(r, &q, reject);
}

/* ... for a new flow, counted. */
enum zt_route_decision decide(struct zt_router *r, uint8_t proto,
			      const struct zt_flow_key *k, const char *name,
			      bool *reject)
{
	enum zt_route_decision d = route_for(r, proto, k, name, reject);

	r->stats.flows[d]++;
	return d;
}

/* What the client gets when the upstream could not be reached. */
enum zt_refuse refuse_for_errno(int err)
{
	switch (err) {
	case -ENETUNREACH:
		return ZT_REFUSE_NET_UNREACH;
	case -EHOSTUNREACH:
	case -ETIMEDOUT:
		return ZT_REFUSE_HOST_UNREACH;
	case -EACCES:
	case -EPERM:
		return ZT_REFUSE_ADMIN_PROHIBITED;
	default:
		return ZT_REFUSE_RST;
	}
}

/*
 * The name of a flow to @dst, with *@name a copy the caller owns (NULL
 * for NAME_NONE): NAME_FAKE when @dst is a fake address (the flow can
 * only go by that name), NAME_LEARNED when a real resolver's answer gave
 * @dst for it (the name only routes); -1 when the flow must be refused
 * (counted): @dst is the resolver's own address, or a fake one that
 * stands for no name. @peek: nothing counted, the name not counted as
 * used (zt_fakedns_peek()).
 */
int fake_name(struct zt_router *r, const struct zt_addr *dst, char **name,
	      bool peek)
{
	int rc;

	*name = NULL;
	if (!r->fake)
		return NAME_NONE;
	if (zt_fakedns_is_server(r->fake, dst))
		rc = -ENOENT;
	else if (peek)
		rc = zt_fakedns_peek(r->fake, dst, name);
	else
		rc = zt_fakedns_lookup(r->fake, dst, name);
	if (rc == 0)
		return zt_fakedns_learned(r->fake, dst, name) == 1 ? NAME_LEARNED
								     : NAME_NONE;
	if (rc < 0 && !peek)
		r->stats.fake_ip_refused++;
	return rc < 0 ? -1 : NAME_FAKE;
}

/* A flow to a fake address (@name) on a route that connects by address
 * cannot be carried: counted (unless @peek), and the caller refuses it. */
bool fake_unroutable(struct zt_router *r, const char *name, bool by_name,
		     bool peek)
{
	if (!name || by_name)
		return false;
	if (!peek)
		r->stats.fake_ip_refused++;
	return true;
}

/* A relay that goes by @name (fake_name()'s NAME_FAKE copy; NULL: none)
 * to fake address @dst holds it until the relay goes (fake_release()):
 * its client still has the address, and a new flow to it must reach the
 * same name, not one the address was recycled to meanwhile. Return: the
 * hold (0: none). */
uint32_t fake_hold(struct zt_router *r, const char *name,
		   const struct zt_addr *dst)
{
	return name && r->fake ? zt_fakedns_hold(r->fake, dst) : 0;
}

void fake_release(struct zt_router *r, uint32_t hold)
{
	if (hold)
		zt_fakedns_release(r->fake, hold);
}

/* The resolver's question for a name: what would a TCP flow to it get?
 * A proxy carries it by name (a fake address), a Drop makes the name not
 * exist, any other route needs a real address: the real resolver's
 * (forwarded; refused when there is none). */
enum zt_fakedns_verdict fake_policy(void *user, const char *name)
{
	const struct fake_ask *ask = user;
	struct zt_router *r = ask->r;
	struct zt_route_query q;
	bool reject;
	enum zt_route_decision d;

	memset(&q, 0, sizeof(q));
	q.proto = ZT_IPPROTO_TCP;
	q.src = ask->client;
	q.name = name;
	d = route_of(r, &q, &reject);
	if (d == ZT_ROUTE_DROP)
		return ZT_FAKEDNS_BLOCK;
	if ((d == ZT_ROUTE_SOCKS5 && r->cfg.socks5.enabled) ||
	    (d == ZT_ROUTE_HTTP && r->cfg.http.enabled))
		return ZT_FAKEDNS_FAKE;
	if (d == ZT_ROUTE_DIRECT || d == ZT_ROUTE_NAT)
		return ZT_FAKEDNS_FORWARD;
	return ZT_FAKEDNS_REFUSE;
}

/*
 * The host's stream_open / dgram_open. Out of descriptors (EMFILE, ENFILE:
 * a limit below the flow tables'), an idle flow gives its socket up as a
 * full table makes room (zt_stack_evict_idle(): a UDP flow idle
 * udp_evict_idle, else a TCP flow idle tcp_evict_idle), and the open is
 * tried again. The flows of one client socket share its mapping, so an
 * eviction may free nothing: at most EVICT_TRIES flows go for one open.
 * Whoever opens keeps what it uses alive across the call (an eviction
 * ends flows and may free their associations).
 */
#define EVICT_TRIES 8

static bool evicted_for_descriptor(struct zt_router *r, int err,
				   unsigned *tries, uint64_t now)
{
	return (err == -EMFILE || err == -ENFILE) && (*tries)++ < EVICT_TRIES &&
	       zt_stack_evict_idle(r->stack, now);
}

/* stream_open, with idle flows evicted for a descriptor as above. */
int open_stream(struct zt_router *r, const struct zt_endpoint *ep,
		unsigned flags, void *cookie, uint64_t now)
{
	unsigned tries = 0;
	int h;

	do
		h = r->up->stream_open(r->host, ep, flags, cookie, now);
	while (evicted_for_descriptor(r, h, &tries, now));
	return h;
}

/* dgram_open, likewise. */
int open_dgram(struct zt_router *r, uint8_t family, uint16_t port,
	       unsigned flags, void *cookie, uint64_t now)
{
	unsigned tries = 0;
	int h;

	do
		h = r->up->dgram_open(r->host, family, port, flags, cookie, now);
	while (evicted_for_descriptor(r, h, &tries, now));
	return h;
}

/* --- proxy health ------------------------------------------------------ */

/*
 * A dead proxy makes new flows fail fast, not hang. One whose process
 * died refuses connects (ECONNREFUSED: a RST at once), but one whose host
 * is gone or behind a firewall that drops answers nothing, and every new
 * flow through it would wait out the whole connect timeout (10 s) before
 * its client is refused, in parallel, and again on each retry. So each
 * proxy has a health (struct proxy_health): a connection to it that fails
 * to open, not reaching it, marks it down; while it is down one new
 * connection at a time may try it (the probe, waiting as any flow does),
 * and every other new flow that would open one is refused at once, as a
 * failed connect to the proxy refuses it (proxy_down_refused). Any
 * connection to it that opens marks it up again, and so does a move of
 * its address. A refusal the proxy sends itself (a SOCKS5 reply, an HTTP
 * status) says it is alive: only the connect's outcome counts.
 */

/* The health of @d's proxy, in r->px_health: the SOCKS5 one's [0], the
 * HTTP one's [1], or, both at one address and port (one listener
 * speaking both), [0] for both; -1 for a decision without a proxy. */
static int health_index(const struct zt_router *r, enum zt_route_decision d)
{
	if (d == ZT_ROUTE_SOCKS5)
		return 0;
	if (d != ZT_ROUTE_HTTP)
		return -1;
	return r->cfg.socks5.enabled &&
	       zt_endpoint_eq(&r->cfg.socks5.server, &r->cfg.http.server) ? 0 : 1;
}

static struct proxy_health *health_of(struct zt_router *r,
				      enum zt_route_decision d)
{
	int i = health_index(r, d);

	return i < 0 ? NULL : &r->px_health[i];
}

/* Whether a new connection to @d's proxy must not be opened: it is down
 * and its probe is under way. Counted (proxy_down_refused) unless @peek;
 * the caller refuses the flow as a failed connect to the proxy would. */
bool proxy_refuses(struct zt_router *r, enum zt_route_decision d, bool peek)
{
	const struct proxy_health *h = health_of(r, d);

	if (!h || !h->down || !h->probe)
		return false;
	if (!peek)
		r->stats.proxy_down_refused++;
	return true;
}

/* @owner (the cookie) began opening a connection to @d's proxy: *@gen
 * notes the proxy's address generation, and, the proxy down with no
 * probe under way, the connection is its probe. */
void proxy_opened(struct zt_router *r, enum zt_route_decision d,
		  const void *owner, uint32_t *gen)
{
	struct proxy_health *h = health_of(r, d);

	if (!h)
		return;
	*gen = r->px_gen[d == ZT_ROUTE_HTTP];
	if (h->down && !h->probe)
		h->probe = owner;
}

/* @owner's connection is no longer being opened (it opened, failed, or
 * was given up): a probe lets its place go. Any owner may call it, as
 * often as it likes. */
void proxy_let_go(struct zt_router *r, const void *owner)
{
	for (unsigned i = 0; i < 2; i++)
		if (r->px_health[i].probe == owner)
			r->px_health[i].probe = NULL;
}

/* @owner's connection to @d's proxy (opened at generation @gen) opened:
 * the proxy is up. */
void proxy_reached(struct zt_router *r, enum zt_route_decision d,
		   const void *owner, uint32_t gen)
{
	struct proxy_health *h = health_of(r, d);

	proxy_let_go(r, owner);
	if (h && gen == r->px_gen[d == ZT_ROUTE_HTTP])
		h->down = false;
}

/* @owner's connection to @d's proxy (generation @gen) failed to open
 * with @err: the proxy is down when it was not reached: the connect
 * timed out (the host's ETIMEDOUT, or the connect timeout's), the
 * network said it is unreachable or forbidden, or it refused (nothing
 * listens: the same answer awaits the next flow, which fails fast
 * anyway; a probe at a time costs it nothing). Another failure (no
 * memory, no socket) says nothing of the proxy. */
void proxy_unreached(struct zt_router *r, enum zt_route_decision d,
		     const void *owner, uint32_t gen, int err)
{
	struct proxy_health *h = health_of(r, d);

	proxy_let_go(r, owner);
	if (!h || gen != r->px_gen[d == ZT_ROUTE_HTTP])
		return;
	switch (err) {
	case -ETIMEDOUT:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ECONNREFUSED:
	case -EACCES:
	case -EPERM:
		h->down = true;
		break;
	default:
		break;
	}
}

bool zt_router_proxy_down(const struct zt_router *r,
			  enum zt_route_decision kind)
{
	int i = health_index(r, kind);

	return i >= 0 && r->px_health[i].down;
}

const struct zt_endpoint *zt_router_proxy_server(const struct zt_router *r,
						 enum zt_route_decision kind)
{
	const struct zt_proxy_config *px = kind == ZT_ROUTE_SOCKS5 ? &r->cfg.socks5 :
					   kind == ZT_ROUTE_HTTP ? &r->cfg.http :
								   NULL;

	return px && px->enabled ? &px->server : NULL;
}

/* --- host reports ------------------------------------------------------ */

/* The kind of the upstream whose cookie is @cookie (enum conn_kind). */
static uint8_t kind_of(const void *cookie)
{
	return *(const uint8_t *)cookie;
}

void zt_router_stream_connected(struct zt_router *r, void *cookie, uint64_t now)
{
	(void)r;
	if (kind_of(cookie) == CONN_TCP)
		tcp_stream_connected(cookie, now);
	else if (kind_of(cookie) == CONN_ASSOC)
		assoc_ctrl_connected(cookie, now);
	else if (kind_of(cookie) == CONN_DNS)
		dns_connected(cookie, now);
}

/*
 * The kind of upstream ICMP error @type/@code (@family's numbering) that a
 * client is told of: unreachable (its datagram cannot arrive), time
 * exceeded (a loop or a path too long) and too big ("fragmentation
 * needed": zt_router_dgram_error keeps those that give an MTU);
 * ZT_ICMP_OTHER for the rest.
 */
static enum zt_icmp_kind relayed_error_kind(uint8_t family, uint8_t type,
					    uint8_t code)
{
	enum zt_icmp_kind k = zt_icmp_classify(family, type, code);

	return k == ZT_ICMP_DEST_UNREACH || k == ZT_ICMP_TIME_EXCEEDED ||
	       k == ZT_ICMP_PACKET_TOO_BIG ? k : ZT_ICMP_OTHER;
}

/* Where an error passed to the client comes from: the router that sent
 * it, or (the destination's own answer) the server as the client knows
 * it; the stack falls back to the server for an origin that cannot be a
 * source. */
const struct zt_addr *error_origin(const struct zt_dgram_error *e,
				   const struct zt_addr *server)
{
	return e->origin.family && !zt_addr_eq(&e->origin, &e->to.addr) ?
		       &e->origin : server;
}

/* Ask the host to keep upstream stream @handle alive, if it can and
 * the config wants it (stream_keepalive in upstream.h). */
void upstream_keepalive(struct zt_router *r, int handle)
{
	if (r->cfg.upstream_keepalive.idle && r->up->stream_keepalive &&
	    r->up->stream_keepalive(r->host, handle,
				    &r->cfg.upstream_keepalive) == 0)
		r->stats.upstream_keepalives++;
}

void zt_router_stream_failed(struct zt_router *r, void *cookie, int err,
			     uint64_t now)
{
	if (kind_of(cookie) == CONN_TCP) {
		if (err == -ETIMEDOUT && ((struct tcp_relay *)cookie)->phase == PH_OPEN)
			r->stats.upstream_timeouts++;
		tcp_upstream_failed(cookie, err, ZT_ICMP_OTHER, NULL, now);
	} else if (kind_of(cookie) == CONN_ASSOC) {
		struct udp_assoc *a = cookie;

		a->ctrl = -1; /* dead: not closed again */
		if (err == -ETIMEDOUT && a->ctrl_up && !a->dead)
			r->stats.upstream_timeouts++;
		if (!a->ctrl_up) /* the proxy not reached */
			proxy_unreached(r, a->decision, a, a->px_gen, err);
		assoc_ctrl_ended(a, refuse_for_errno(err), now);
	} else if (kind_of(cookie) == CONN_DNS) {
		struct dns_tunnel *t = cookie;

		t->handle = -1; /* dead: not closed again */
		if (!t->up && t->u) /* its proxy not reached */
			proxy_unreached(r, t->u->decision, t, t->px_gen, err);
		dns_stream_failed(t, refuse_for_errno(err), now);
	}
}

size_t zt_router_stream_data(struct zt_router *r, void *cookie,
			     const uint8_t *data, size_t len, uint64_t now)
{
	(void)r;
	if (kind_of(cookie) == CONN_TCP)
		return tcp_stream_data(cookie, data, len, now);
	if (kind_of(cookie) == CONN_ASSOC)
		return assoc_ctrl_data(cookie, data, len, now);
	if (kind_of(cookie) == CONN_DNS)
		return dns_stream_data(cookie, data, len, now);
	return len;
}

void zt_router_stream_eof(struct zt_router *r, void *cookie, uint64_t now)
{
	(void)r;
	if (kind_of(cookie) == CONN_TCP)
		tcp_stream_eof(cookie, now);
	else if (kind_of(cookie) == CONN_ASSOC)
		/* RFC 1928 7: the association ends with its TCP connection
		 * (before it was made: the proxy hung up on the request). */
		assoc_ctrl_ended(cookie, ZT_REFUSE_RST, now);
	else if (kind_of(cookie) == CONN_DNS)
		dns_stream_eof(cookie, now);
}

void zt_router_stream_writable(struct zt_router *r, void *cookie, uint64_t now)
{
	(void)r;
	if (kind_of(cookie) == CONN_TCP)
		tcp_stream_writable(cookie, now);
	else if (kind_of(cookie) == CONN_DNS)
		dns_stream_writable(cookie, now);
}

void zt_router_stream_failed_icmp(struct zt_router *r, void *cookie, int err,
				  const struct zt_dgram_error *e, uint64_t now)
{
	if (kind_of(cookie) != CONN_TCP) {
		zt_router_stream_failed(r, cookie, err, now);
		return;
	}
	tcp_upstream_failed(cookie, err,
			    relayed_error_kind(e->to.addr.family, e->type,
					       e->code),
			    e, now);
}

void zt_router_dgram_batch(struct zt_router *r, void *cookie,
			   const struct zt_endpoint *from,
			   const struct zt_dgram *d, unsigned n, uint64_t now)
{
	if (kind_of(cookie) == CONN_ECHO) {
		echo_replies(r, cookie, from, d, n);
	} else if (kind_of(cookie) == CONN_ASSOC) {
		struct udp_assoc *a = cookie;

		/* a SOCKS5 datagram names its source inside: each checked */
		if (n && a->decision == ZT_ROUTE_SOCKS5)
			assoc_datagrams(r, a, from, d, n, now);
		else if (n)
			mapping_datagrams(r, a, from, d, n, now);
	} else if (kind_of(cookie) == CONN_UDP) {
		fwd_datagrams(r, cookie, from, d, n, now);
	}
}

void zt_router_dgram_data(struct zt_router *r, void *cookie,
			  const struct zt_endpoint *from, const uint8_t *data,
			  size_t len, uint64_t now)
{
	const struct zt_dgram one = { data, len, 0 };

	zt_router_dgram_batch(r, cookie, from, &one, 1, now);
}

void zt_router_dgram_error(struct zt_router *r, void *cookie,
			   const struct zt_dgram_error *e, uint64_t now)
{
	enum zt_icmp_kind kind = relayed_error_kind(e->to.addr.family, e->type,
						    e->code);
	bool relayed = false;

	/* an old router's fragmentation needed gives no MTU (RFC 1191):
	 * nothing the client could learn from; nor a below-minimum one */
	if (kind == ZT_ICMP_PACKET_TOO_BIG &&
	    e->mtu < (e->to.addr.family == ZT_AF_INET ? ZT_IP4_MIN_MTU :
							ZT_IP6_MIN_MTU))
		kind = ZT_ICMP_OTHER;

	if (kind != ZT_ICMP_OTHER) {
		if (kind_of(cookie) == CONN_ECHO)
			relayed = echo_error(r, cookie, e, kind, now);
		else if (kind_of(cookie) == CONN_UDP)
			relayed = udp_error(r, cookie, e, kind, now);
		else if (kind_of(cookie) == CONN_ASSOC)
			relayed = assoc_error(r, cookie, e, kind, now);
	}
	if (relayed)
		r->stats.icmp_errors_relayed++;
	else
		r->stats.icmp_errors_ignored++;
}

/*
 * A datagram sent with DF (keep_header) that is larger than the host's
 * own link toward @to, or than the path MTU it learned: the answer a
 * router gives, a "packet too big" with the MTU the host knows
 * (dgram_path_mtu), from the destination (ztun has no address of its own
 * to send it from). Without that MTU, nothing: the loss UDP allows. The
 * host is asked only when the ICMP rate limit lets the answer go: a
 * flood of such datagrams costs no more lookups than answers.
 */
static void too_big(struct zt_router *r, void *cookie,
		    const struct zt_endpoint *to, const uint8_t *data,
		    size_t len, uint64_t now)
{
	int dgram = kind_of(cookie) == CONN_ECHO ?
			    ((const struct echo_session *)cookie)->dgram :
		    kind_of(cookie) == CONN_ASSOC ?
			    ((const struct udp_assoc *)cookie)->dgram :
			    ((const struct udp_relay *)cookie)->dgram;
	bool v4 = to->addr.family == ZT_AF_INET;
	struct zt_dgram_error e;
	int mtu;

	if (zt_stack_icmp_error_limited(r->stack, now))
		return;
	mtu = r->up->dgram_path_mtu ?
		      r->up->dgram_path_mtu(r->host, dgram, to) : -EOPNOTSUPP;
	if (mtu <= 0) {
		r->stats.icmp_errors_ignored++;
		return;
	}
	memset(&e, 0, sizeof(e));
	e.to = *to;
	e.type = v4 ? ZT_ICMP4_DEST_UNREACH : ZT_ICMP6_PACKET_TOO_BIG;
	e.code = v4 ? ZT_ICMP4_CODE_FRAG_NEEDED : 0;
	e.mtu = (uint32_t)mtu;
	e.data = data;
	e.len = len;
	zt_router_dgram_error(r, cookie, &e, now);
}

void zt_router_dgram_send_failed(struct zt_router *r, void *cookie,
				 const struct zt_endpoint *to,
				 const uint8_t *data, size_t len, int err,
				 uint64_t now)
{
	enum zt_refuse how = refuse_for_errno(err);
	struct zt_dgram_error e;

	if (to->name[0])
		return; /* not a flow's destination */
	if (err == -EMSGSIZE && kind_of(cookie) == CONN_ASSOC &&
	    ((struct udp_assoc *)cookie)->decision == ZT_ROUTE_SOCKS5) {
		r->stats.icmp_errors_ignored++; /* the proxy's path, not ours */
		return;
	}
	if (err == -EMSGSIZE) {
		too_big(r, cookie, to, data, len, now);
		return;
	}
	if (how == ZT_REFUSE_RST)
		return; /* not a routing failure */
	memset(&e, 0, sizeof(e));
	e.to = *to; /* e.origin unknown: from the destination */
	e.type = to->addr.family == ZT_AF_INET ? ZT_ICMP4_DEST_UNREACH :
						 ZT_ICMP6_DEST_UNREACH;
	e.code = (uint8_t)zt_refuse_icmp_code(how, to->addr.family);
	e.data = data;
	e.len = len;
	zt_router_dgram_error(r, cookie, &e, now);
}

static void tun_output(void *host, const uint8_t *pkt, size_t len)
{
	struct zt_router *r = host;

	r->tun_output(r->host, pkt, len);
}

static void tun_output_gso(void *host, const struct zt_pkt_parts *pkt,
			   uint32_t seg_size)
{
	struct zt_router *r = host;

	r->cfg.tun_output_gso(r->host, pkt, seg_size);
}

static const struct zt_stack_ops router_stack_ops = {
	.tun_output = tun_output,
	.tun_output_gso = tun_output_gso,
	.tcp_new = tcp_new,
	.tcp_admit = tcp_admit,
	.tcp_event = tcp_event,
	.udp_input = udp_input,
	.udp_admit = udp_admit,
	.echo_verdict = echo_verdict,
	.udp_closed = udp_closed,
	.udp_error = NULL,
	.tcp_rx_direct = tcp_rx_direct,
	.echo_forward = echo_forward,
};

/* Credentials go out as RFC 1929 fields or a Basic token: a user name of
 * 1..255 bytes and a password of at most 255, each terminated in its
 * array; for a Basic token (@http) also no control character, and no
 * ':' in the user name (RFC 7617 2), which zt_http_connect_set_auth()
 * refuses. Anything else would be sent cut short, or not at all. */
static bool proxy_auth_ok(const struct zt_proxy_config *px, bool http)
{
	struct zt_http_connect h;

	if (!px->auth)
		return true;
	if (!px->username[0] || !memchr(px->username, 0, sizeof(px->username)) ||
	    !memchr(px->password, 0, sizeof(px->password)))
		return false;
	zt_http_connect_init(&h, 0);
	return !http ||
	       zt_http_connect_set_auth(&h, px->username, strlen(px->username),
					px->password, strlen(px->password)) == 0;
}

/* @ka off (idle 0), or each figure set and within Linux's bounds. */
static bool keepalive_ok(const struct zt_keepalive *ka)
{
	if (!ka->idle)
		return true;
	return ka->idle <= ZT_ROUTER_KEEPALIVE_MAX_TIME && ka->interval &&
	       ka->interval <= ZT_ROUTER_KEEPALIVE_MAX_TIME && ka->count &&
	       ka->count <= ZT_ROUTER_KEEPALIVE_MAX_COUNT;
}

struct zt_router *zt_router_new(const struct zt_router_config *cfg,
				void (*tun_out)(void *host, const uint8_t *pkt,
						size_t len),
				const struct zt_upstream_ops *up, void *host,
				struct zt_rng *rng)
{
	struct zt_router *r;

	if (!cfg->route || !tun_out || !up || !up->stream_open ||
	    !up->stream_send || !up->stream_shutdown || !up->stream_close ||
	    !up->stream_resume || !up->dgram_open || !up->dgram_send ||
	    !up->dgram_close || !proxy_auth_ok(&cfg->socks5, false) ||
	    !proxy_auth_ok(&cfg->http, true) ||
	    !keepalive_ok(&cfg->upstream_keepalive))
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->cfg = *cfg;
	if (!r->cfg.http_max_header)
		r->cfg.http_max_header = ZT_HTTP_CONNECT_MAX_HEADER_DEFAULT;
	r->tun_output = tun_out;
	r->up = up;
	r->host = host;
	zt_heap_init(&r->hs_timers);
	if (!r->cfg.nat.timeout) {
		/* a session lasts as long as its flow may: never shorter than
		 * the flow's own idle timer, which ends it first */
		const struct zt_stack_config *sc = &cfg->stack;

		r->cfg.nat.timeout = sc->udp_stream_timeout > sc->udp_idle_timeout ?
					     sc->udp_stream_timeout :
					     sc->udp_idle_timeout;
	}
	if (zt_nat_init(&r->nat, &r->cfg.nat, rng) != 0) {
		free(r);
		return NULL;
	}
	/* A device that cannot cut gets neither TSO segments nor UDP runs:
	 * the stack sees no tun_output_gso at all. */
	r->stack_ops = router_stack_ops;
	if (!cfg->tun_output_gso) {
		r->stack_ops.tun_output_gso = NULL;
		r->cfg.stack.tcp.tso_segs = 0;
	}
	if (cfg->fake_dns.enabled) {
		r->fake = zt_fakedns_new(&cfg->fake_dns, rng);
		if (!r->fake) {
			zt_nat_destroy(&r->nat);
			free(r);
			return NULL;
		}
	}
	r->stack = zt_stack_new(&r->cfg.stack, &r->stack_ops, r, rng);
	if (!r->stack) {
		zt_fakedns_free(r->fake);
		zt_nat_destroy(&r->nat);
		free(r);
		return NULL;
	}
	return r;
}

void zt_router_free(struct zt_router *r)
{
	if (!r)
		return;
	/* freed inside a batch: the gather list lets go of its relays, which
	 * the flows' ends below then free */
	tcp_gather_end(r, false, 0);
	/* each flow's relay closes its upstream, and lets go of its fake
	 * address: the table goes after them */
	zt_stack_free(r->stack);
	for (unsigned i = 0; i < ECHO_SESSIONS && r->n_echo; i++)
		if (r->echo[i].used)
			echo_close(&r->echo[i]);
	zt_nat_destroy(&r->nat);
	zt_fakedns_free(r->fake);
	free(r);
}

int zt_router_set_proxy_server(struct zt_router *r, enum zt_route_decision kind,
			       const struct zt_endpoint *server)
{
	struct zt_proxy_config *px = kind == ZT_ROUTE_SOCKS5 ? &r->cfg.socks5 :
				     kind == ZT_ROUTE_HTTP   ? &r->cfg.http :
							       NULL;

	if (!px || !px->enabled ||
	    (!server->name[0] && server->addr.family != ZT_AF_INET &&
	     server->addr.family != ZT_AF_INET6))
		return -EINVAL;
	/* another server may carry UDP where the one that answered reply 7
	 * did not: the next SOCKS5 DNS flow asks for an association again */
	if (!zt_endpoint_eq(&px->server, server)) {
		struct proxy_health *was = health_of(r, kind);
		/* one listener for both until now (px_health[0]): they part */
		bool parting = health_index(r, ZT_ROUTE_HTTP) == 0;
		struct proxy_health one = r->px_health[0];

		if (kind == ZT_ROUTE_SOCKS5)
			r->socks5_no_udp = false;
		/* a new address is up until a connect to it fails; what
		 * connects to the old one tells nothing of it (px_gen) */
		r->px_gen[kind == ZT_ROUTE_HTTP]++;
		px->server = *server;
		*was = (struct proxy_health){ 0 };
		*health_of(r, kind) = (struct proxy_health){ 0 };
		/* the other one stayed at the listener: its health goes on
		 * (not what its own slot held before they were one) */
		if (parting)
			r->px_health[kind == ZT_ROUTE_SOCKS5] = one;
		return 0;
	}
	px->server = *server;
	return 0;
}

void zt_router_tun_input(struct zt_router *r, const uint8_t *pkt, size_t len,
			 uint64_t now)
{
	zt_stack_input(r->stack, pkt, len, now);
}

void zt_router_tun_input_flags(struct zt_router *r, const uint8_t *pkt,
			       size_t len, unsigned flags, uint64_t now)
{
	zt_stack_input_flags(r->stack, pkt, len, flags, now);
}

void zt_router_tun_batch_begin(struct zt_router *r)
{
	r->batching = true;
	zt_stack_batch_begin(r->stack);
}

void zt_router_tun_batch_end(struct zt_router *r, uint64_t now)
{
	r->batching = false;
	/* the gathered bytes first: what they free in the rings rides on
	 * the ACKs the stack held for the batch's end */
	tcp_gather_end(r, true, now);
	zt_stack_batch_end(r->stack, now);
}

/* Proxy handshakes past their deadline fail (assoc_timeout(),
 * dns_timeout()), and drains behind an upstream's reset end
 * (tcp_drain_timeout()), in the order of their deadlines. */
static void hs_expire(struct zt_router *r, uint64_t now)
{
	struct zt_heap_node *n;

	while ((n = zt_heap_min(&r->hs_timers)) &&
	       zt_heap_node_deadline(n) <= now) {
		struct hs_deadline *hd = zt_heap_entry(n, struct hs_deadline, node);

		zt_heap_remove(&r->hs_timers, n);
		if (hd->kind == CONN_ASSOC)
			assoc_timeout(zt_heap_entry(hd, struct udp_assoc, timer), now);
		else if (hd->kind == CONN_TCP)
			tcp_drain_timeout(zt_heap_entry(hd, struct tcp_relay,
							drain_timer), now);
		else
			dns_timeout(zt_heap_entry(hd, struct dns_tunnel, timer), now);
	}
}

void zt_router_poll(struct zt_router *r, uint64_t now)
{
	zt_stack_poll(r->stack, now);
	if (r->n_echo && r->echo_due <= now)
		echo_expire(r, now);
	hs_expire(r, now);
	while (zt_nat_next_deadline(&r->nat) <= now)
		if (zt_nat_expire(&r->nat, now, nat_expired, r) == 0)
			break;
}

uint64_t zt_router_deadline(const struct zt_router *r)
{
	/* The NAT table reschedules lazily refreshed timers when asked; that
	 * changes no observable state, so the router stays const here. */
	struct zt_nat *nat = (struct zt_nat *)&r->nat;
	const struct zt_heap_node *hs = zt_heap_min(&r->hs_timers);
	uint64_t d = zt_stack_deadline(r->stack), n = zt_nat_next_deadline(nat);

	if (n < d)
		d = n;
	if (hs && zt_heap_node_deadline(hs) < d)
		d = zt_heap_node_deadline(hs);
	if (r->n_echo && r->echo_due < d)
		d = r->echo_due;
	return d;
}

const struct zt_router_stats *zt_router_stats(const struct zt_router *r)
{
	return &r->stats;
}

struct zt_nat *zt_router_nat(struct zt_router *r)
{
	return &r->nat;
}

struct zt_stack *zt_router_stack(struct zt_router *r)
{
	return r->stack;
}

const struct zt_fakedns_stats *zt_router_fakedns_stats(const struct zt_router *r)
{
	return r->fake ? zt_fakedns_stats(r->fake) : NULL;
}
