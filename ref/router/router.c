/* SPDX-License-Identifier: MIT */
/*
 * router.c - route decisions and the relay of every flow to its upstream.
 *
 * Theory of operation:
 *
 * The router is the stack's host (zt_stack_ops) and the upstreams' client
 * (zt_upstream_ops). Each TCP flow gets a tcp_relay when its SYN arrives:
 *
 *   CONNECTING  stream_open() to the destination or the proxy; the client
 *               has had no answer yet (the stack holds the flow PENDING)
 *   HANDSHAKE   SOCKS5 or HTTP CONNECT bytes go back and forth through
 *               the byte-in/byte-out machines of socks5.c/http_connect.c
 *   OPEN        the client gets its SYN-ACK; bytes flow both ways
 *
 * A failure before OPEN refuses the client (RST or ICMP, by outcome); a
 * failure after it resets the client. With early_synack the stack answers
 * the SYN as soon as stream_open() succeeded (zt_stack_tcp_accept_early);
 * the client's bytes then wait in the tcb's receive ring until OPEN, and a
 * failure before OPEN resets the client instead of refusing it. Early data:
 * behind a pipelined SOCKS5 handshake (the proxy reads ahead), up to
 * ZT_ROUTER_EARLY_DATA_MAX of them follow the request without waiting for
 * the reply (tcp_up_room()); the FIN still waits for OPEN.
 *
 * Relay: client bytes are peeked from the tcb's receive ring and offered
 * to stream_send(); only what it took is consumed, so the client's window
 * is what the upstream absorbs. In a batch of TUN input
 * (zt_router_tun_batch_begin/end) the bytes of small segments (under
 * ZT_ROUTER_UP_DIRECT_MIN) wait in the ring for the batch's end and go in
 * one send per flow (tcp_gather), up to ZT_ROUTER_UP_GATHER_MAX or a
 * segment with PSH, which ends what the client had to send; larger
 * ones, and any outside a batch, go straight from the packet when the
 * ring is empty (tcp_rx_direct). Upstream bytes go into the tcb's send
 * ring; what does not fit is left with the host (it stops reading) until
 * the ring drains (WRITABLE), then resumed.
 * FINs pass through in order: the client's FIN becomes stream_shutdown()
 * once its bytes were all sent; the upstream's EOF becomes the tcb's FIN
 * after the queued bytes. When both have passed, the upstream is closed
 * at once (if its EOF came first, close() sends our FIN), not when the
 * client's side ends: nothing more can cross it.
 *
 * Lifetime: a relay can be reached from both sides (the flow's user pointer
 * and the upstream cookie). It is freed when the flow ended and the
 * upstream was closed; calls that may end a flow hold a reference (busy)
 * so that a relay is never freed under a caller's feet, and so does a
 * batch's gather list until the batch ends.
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
 * (cone_open()). Datagrams that arrive before a SOCKS5 association
 * is ready wait in each flow's small bounded queue; it ends with its
 * control stream or with an unreachable about the relay (relay_lost),
 * and its flows with it. An association goes when its last flow does.
 * A NAT flow also holds a NAT session, which shares the mapped port of
 * its client endpoint's other sessions (the mapping's socket is bound to
 * it): every datagram refreshes it, answers must pass the reverse
 * lookup, and when the session expires on the router's timer the flow
 * is closed.
 *
 * IP header fields, as a router would pass them: a DIRECT/NAT flow's
 * datagrams and a direct ping leave with the client's TTL, traffic class
 * and IPv4 DF (keep_header: dgram_set_header on a change), and what comes
 * back reaches the client with the class it arrived with
 * (zt_dgram.tclass; the network's ICMP errors are relayed,
 * zt_router_dgram_error, and so is a "packet too big" from the host's
 * own link, too_big()); a
 * DIRECT TCP flow's upstream takes the client's DSCP (keep_dscp). Nothing
 * of the client's header goes toward a proxy: it is about the
 * destination.
 *
 * DNS over TCP (cfg.dns_over_tcp): a UDP flow to port 53 whose decision
 * is SOCKS5 or HTTP gets a dns_tunnel instead of an association: a
 * stream through the proxy to the server's port 53 whose handshake runs
 * on the same helpers as a TCP flow's (hs_begin(), hs_input()); the
 * flow's datagrams wait in its queue until it is done, then go framed
 * (dns_tcp.h), and the answers come back as datagrams from the server.
 *
 * Fake-IP DNS (cfg.fake_dns, fakedns.h): datagrams to the resolver's
 * address never reach a route decision. A query to its port 53 is
 * answered from the table, under the rules' verdict on the name
 * (fake_policy()), or forwarded, when the rules send the name direct,
 * from a datagram socket of the client's flow to the real resolver,
 * whose answers are learned on their way back; a TCP connection to its
 * port 53 is answered here too (local_dns_pump(), no upstream);
 * anything else sent there is refused. A new flow's name (the one behind its fake destination,
 * or one learned for its real one) goes into its route query; a flow to
 * a fake address goes to its proxy by that name, and is refused on any
 * route that connects by address.
 */
#include "ztun/router.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ztun/dns_tcp.h"
#include "ztun/dns_wire.h"
#include "ztun/hash.h"
#include "ztun/http_connect.h"
#include "ztun/refuse.h"
#include "ztun/socks5.h"

#define HS_BUF 2048
#define GATHER_MAX 64 /* relays gathering in one batch; more send at once */
#define UDP_QUEUE_BYTES 16384
#define UDP_QUEUE_MAX 16
#define FWD_IDS 16 /* forwarded DNS queries a client flow may have out */
#define DNS_TCP_MAX 4096 /* a longer DNS-over-TCP query resets the client */

#define ASSOC_BUCKETS 256 /* UDP associations' hash chains */
#define ECHO_SESSIONS 64 /* pings to direct destinations under way */
#define ECHO_IDLE (30 * ZT_SEC) /* a session's socket closes after this */

enum conn_kind {
	CONN_TCP = 1, CONN_UDP = 2, CONN_ECHO = 3, CONN_ASSOC = 4, CONN_DNS = 5,
};
enum phase { PH_CONNECTING, PH_HANDSHAKE, PH_OPEN };

struct tcp_relay {
	uint8_t kind;            /* CONN_TCP: first, shared with udp_relay */
	struct zt_router *r;
	struct zt_flow *flow;    /* NULL once the client side ended */
	int handle;              /* upstream stream, -1 when closed or dead */
	enum zt_route_decision decision;
	uint8_t phase;
	bool up_blocked;         /* stream_send took less than offered */
	bool down_paused;        /* the host holds upstream bytes for us */
	bool client_fin;         /* the client sent FIN */
	bool up_fin_sent;        /* ... and we passed it on */
	bool up_eof;             /* the upstream's EOF was read */
	uint32_t early_left;     /* client bytes that may still go before the
				  * proxy's reply (early data, tcp_connected) */
	unsigned busy;           /* callers inside that may end the relay */
	bool gathering;          /* on the router's gather list (holds busy) */
	struct tcp_handshake *hs; /* owned; only from connect until open */
	char *name;              /* owned: the name behind a fake address */
	bool local_dns;          /* DNS over TCP to the fake-IP resolver:
				  * answered here, no upstream */
	uint8_t dscp;            /* what the upstream sends with (keep_dscp) */
};

/* ICMP echo to a direct destination: one upstream echo socket per
 * (client, destination, the client's identifier), closed after
 * ECHO_IDLE without a request, or for a new session when all are taken
 * (the least recently used). */
struct echo_session {
	uint8_t kind;            /* CONN_ECHO */
	struct zt_router *r;
	bool used;
	struct zt_flow_key key;  /* family, client and server */
	uint16_t ident;          /* the client's identifier */
	int dgram;               /* the echo socket */
	struct zt_fwd_hdr hdr;   /* what it sends with (keep_header) */
	uint64_t last;           /* the last request */
};

static void echo_replies(struct zt_router *r, struct echo_session *e,
			 const struct zt_endpoint *from,
			 const struct zt_dgram *d, unsigned n);

/* A proxy handshake in progress. Kept apart from the relay and freed once
 * the relay opens, so an established flow costs ~80 bytes here, not 3 KB. */
struct tcp_handshake {
	union {
		struct zt_socks5 socks;
		struct zt_http_connect http;
	} st;
	uint8_t out[HS_BUF];     /* handshake bytes not yet taken */
	size_t len, off;
};

/*
 * The upstream of one client endpoint's UDP flows of one decision, shared
 * by them (its members), found by that endpoint and decision in
 * r->assoc, living while one of them does (or a caller holds it: busy):
 *
 *   SOCKS5        a UDP association (RFC 1928 7): a control stream, then
 *                 one datagram socket to the proxy's relay. Each datagram
 *                 names its destination, so one association carries the
 *                 client socket's datagrams to every server it talks to.
 *   DIRECT, NAT   a mapping: one datagram socket (a NAT one bound to the
 *                 mapped port its sessions share), so that every server
 *                 sees the client socket at one address and port
 *                 (endpoint-independent mapping, RFC 4787 REQ-1).
 */
struct udp_assoc {
	uint8_t kind;            /* CONN_ASSOC */
	struct zt_router *r;
	enum zt_route_decision decision;
	uint8_t family;          /* the client endpoint it serves */
	uint16_t client_port;
	struct zt_addr client;
	int ctrl;                /* SOCKS5 control stream, -1 when none */
	int dgram;               /* the socket, -1 until ready */
	struct zt_fwd_hdr hdr;   /* DIRECT/NAT: what it sends with
				  * (keep_header) */
	uint16_t mapped_port;    /* NAT: its sessions' (the socket's) */
	bool ready;              /* the relay is known, its socket open */
	bool dead;               /* failing: no new members */
	unsigned busy;           /* callers inside that may end members */
	struct zt_socks5 socks;
	struct zt_endpoint relay;   /* where the datagrams go (BND, with an
				     * unspecified address made the proxy's),
				     * as dgram_send takes it: built once */
	unsigned bucket;            /* its chain in r->assoc */
	struct udp_relay *members;  /* in the order they joined */
	struct udp_relay **tail;    /* ... the last one's assoc_next */
	unsigned n_named;           /* members to a fake address's name */
	struct udp_assoc *hnext; /* r->assoc bucket chain */
};

/*
 * DNS over TCP for one UDP flow to port 53 (cfg.dns_over_tcp): a stream
 * through the flow's proxy to its server's port 53 (SOCKS5 or HTTP
 * CONNECT), opened with a query when none is open; the flow's queries
 * wait in its queue until the proxy's handshake is done (the flow is not
 * ready), then go framed (dns_tcp.h), and each answer reaches the client
 * as a datagram from the server. The stream is closed as soon as no query
 * waits for its answer: a stub resolver asks from a fresh socket each
 * time, and a stream kept for the flow's 30 s would hold a proxy
 * connection per lookup; queries sent together (A and AAAA) share one.
 * When the server closes it with queries waiting, they go again on a new
 * one if it answered any (dns_tunnel_lost()). Owned by its udp_relay;
 * freed with its flow.
 */
struct dns_tunnel {
	uint8_t kind;            /* CONN_DNS */
	struct zt_router *r;
	struct udp_relay *u;
	int handle;              /* the stream, -1 when closed or dead */
	uint8_t phase;           /* enum phase, while handle >= 0 */
	struct tcp_handshake *hs; /* owned; only until OPEN */
	uint64_t now;            /* for the answers' callback */
	unsigned answered;       /* answers on the current stream */
	struct zt_dns_tcp dns;
};

struct udp_relay {
	uint8_t kind;            /* CONN_UDP */
	struct zt_router *r;
	struct zt_udp_flow *flow;
	enum zt_route_decision decision;
	bool reject;             /* DROP answers each datagram with ICMP */
	int dgram;               /* datagram socket, -1 until open (the
				  * association's, but a forwarded query's) */
	bool ready;              /* datagrams may be sent */
	struct udp_assoc *assoc; /* the upstream it shares (not a query
				  * forwarded to the real resolver) */
	struct udp_relay *assoc_next; /* ... the association's next member */
	struct zt_nat_session *nat; /* NAT decision only */
	struct dns_tunnel *dns;  /* owned: DNS over TCP (a proxy's, port 53) */
	char *name;              /* owned: the name behind a fake address */
	bool forward;            /* the client's queries to the fake-IP
				  * resolver that go to the real one */
	uint8_t fwd_n;           /* ... IDs of those not answered yet */
	uint16_t fwd_ids[FWD_IDS];
	/* datagrams waiting for the association: lengths then bytes */
	uint16_t q_len[UDP_QUEUE_MAX];
	unsigned q_n;
	size_t q_bytes;
	uint8_t q[UDP_QUEUE_BYTES];
};

/* Who asks the resolver (fake_policy()'s user pointer). */
struct fake_ask {
	struct zt_router *r;
	struct zt_addr client;
};

struct zt_router {
	struct zt_router_config cfg;
	struct zt_stack *stack;
	struct zt_stack_ops stack_ops; /* the stack borrows them */
	void (*tun_output)(void *host, const uint8_t *pkt, size_t len);
	const struct zt_upstream_ops *up;
	void *host;
	struct zt_router_stats stats;
	struct zt_nat nat;
	struct zt_fakedns *fake;       /* owned; NULL when off */
	/* zt_router_tun_batch_begin/end: relays whose client bytes wait
	 * for the batch's end (tcp_event), each holding a busy reference */
	bool batching;
	unsigned n_gather;
	struct tcp_relay *gather[GATHER_MAX];
	unsigned n_echo;               /* sessions in use */
	uint64_t echo_due;             /* no session expires before this
					* (a request only postpones one) */
	struct echo_session echo[ECHO_SESSIONS];
	/* UDP associations by client endpoint, hashed with the NAT
	 * table's key (drawn from the seeded rng) */
	struct udp_assoc *assoc[ASSOC_BUCKETS];
	uint8_t scratch[65536 + ZT_SOCKS5_UDP_HDR_MAX];
};

void zt_router_config_default(struct zt_router_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	zt_stack_config_default(&cfg->stack);
	cfg->http_max_header = ZT_HTTP_CONNECT_MAX_HEADER_DEFAULT;
	zt_nat_config_default(&cfg->nat);
	cfg->nat.timeout = 0; /* the flows' (zt_router_new) */
	zt_fakedns_config_default(&cfg->fake_dns);
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
static enum zt_route_decision route_for(struct zt_router *r, uint8_t proto,
					const struct zt_flow_key *k,
					const char *name, bool *reject)
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
static enum zt_route_decision decide(struct zt_router *r, uint8_t proto,
				     const struct zt_flow_key *k,
				     const char *name, bool *reject)
{
	enum zt_route_decision d = route_for(r, proto, k, name, reject);

	r->stats.flows[d]++;
	return d;
}

static int refuse_code(enum zt_refuse how, uint8_t family)
{
	return zt_refuse_icmp_code(how, family);
}

/* What the client gets when the upstream could not be reached. */
static enum zt_refuse refuse_for_errno(int err)
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

enum { NAME_NONE = 0, NAME_FAKE = 1, NAME_LEARNED = 2 };

/*
 * The name of a flow to @dst, with *@name a copy the caller owns (NULL
 * for NAME_NONE): NAME_FAKE when @dst is a fake address (the flow can
 * only go by that name), NAME_LEARNED when a real resolver's answer gave
 * @dst for it (the name only routes); -1 when the flow must be refused
 * (counted): @dst is the resolver's own address, or a fake one that
 * stands for no name.
 */
static int fake_name(struct zt_router *r, const struct zt_addr *dst,
		     char **name)
{
	int rc;

	*name = NULL;
	if (!r->fake)
		return NAME_NONE;
	rc = zt_fakedns_is_server(r->fake, dst) ? -ENOENT :
		zt_fakedns_lookup(r->fake, dst, name);
	if (rc == 0)
		return zt_fakedns_learned(r->fake, dst, name) == 1 ? NAME_LEARNED
								     : NAME_NONE;
	if (rc < 0)
		r->stats.fake_ip_refused++;
	return rc < 0 ? -1 : NAME_FAKE;
}

/* A flow to a fake address (@name) on a route that connects by address
 * cannot be carried: counted, and the caller refuses it. */
static bool fake_unroutable(struct zt_router *r, const char *name, bool by_name)
{
	if (!name || by_name)
		return false;
	r->stats.fake_ip_refused++;
	return true;
}

/* The resolver's question for a name: what would a TCP flow to it get?
 * A proxy carries it by name (a fake address), a Drop makes the name not
 * exist, any other route needs a real address: the real resolver's
 * (forwarded; refused when there is none). */
static enum zt_fakedns_verdict fake_policy(void *user, const char *name)
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

/* Over TCP there is no forwarding (that goes by UDP): such names are
 * refused. */
static enum zt_fakedns_verdict fake_policy_tcp(void *user, const char *name)
{
	enum zt_fakedns_verdict v = fake_policy(user, name);

	return v == ZT_FAKEDNS_FORWARD ? ZT_FAKEDNS_REFUSE : v;
}

/* --- TCP relay --------------------------------------------------------- */

static void tcp_relay_maybe_free(struct tcp_relay *t)
{
	if (t->busy == 0 && !t->flow && t->handle < 0) {
		free(t->hs);
		free(t->name);
		free(t);
	}
}

/* @abort: by a reset, as the client's flow ended (see upstream.h). */
static void tcp_close_upstream(struct tcp_relay *t, bool abort)
{
	if (t->handle >= 0) {
		t->r->up->stream_close(t->r->host, t->handle, abort);
		t->handle = -1;
	}
}

/* Refuse the (still PENDING) client and drop the upstream. */
static void tcp_refuse(struct tcp_relay *t, enum zt_refuse how, uint64_t now)
{
	struct zt_router *r = t->r;

	tcp_close_upstream(t, false);
	if (t->flow)
		zt_stack_tcp_reject(r->stack, t->flow,
				    refuse_code(how, t->flow->key.family), now);
}

/* Offer @hs's pending bytes to stream @handle. Return: 0 (all taken, or
 * the rest waits for WRITABLE) or a negative errno. */
static int hs_flush(struct zt_router *r, int handle, struct tcp_handshake *hs)
{
	while (hs->off < hs->len) {
		ssize_t n = r->up->stream_send(r->host, handle, hs->out + hs->off,
					       hs->len - hs->off);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;
		hs->off += (size_t)n;
	}
	hs->off = hs->len = 0;
	return 0;
}

/* Offer pending handshake bytes to the upstream. */
static int tcp_flush_hs(struct tcp_relay *t)
{
	int err;

	if (!t->hs)
		return 0;
	err = hs_flush(t->r, t->handle, t->hs);
	if (!err && !t->hs->len && t->phase == PH_OPEN) {
		free(t->hs);
		t->hs = NULL;
	}
	return err;
}

static void hs_append(uint8_t *buf, size_t *len, const uint8_t *p, size_t n)
{
	if (*len + n <= HS_BUF) {
		memcpy(buf + *len, p, n);
		*len += n;
	}
}

/* @sent of @offered client bytes went upstream: a short send blocks the
 * relay until stream_writable(). */
static void tcp_sent_up(struct tcp_relay *t, size_t offered, size_t sent)
{
	if (sent < offered)
		t->up_blocked = true;
	if (sent)
		t->r->stats.tcp_up_sends++;
	t->r->stats.tcp_relayed_up += sent;
	if (t->phase != PH_OPEN) { /* early data (tcp_up_room) */
		t->early_left -= (uint32_t)sent;
		t->r->stats.tcp_relayed_up_early += sent;
	}
}

/*
 * How many client bytes may go upstream now: any while OPEN; during a
 * handshake whose bytes all went out, what is left of the early data
 * allowance tcp_connected() gave (a pipelined SOCKS5 handshake after an
 * early SYN-ACK: the proxy reads ahead, and has them when its onward
 * connection opens); else none. A pipelined SOCKS5 client writes nothing
 * after its first flight (socks5.c, out_needed()), so no handshake byte
 * can follow early data. The client's FIN still waits for OPEN.
 */
static size_t tcp_up_room(const struct tcp_relay *t)
{
	if (t->phase == PH_OPEN)
		return SIZE_MAX;
	if (t->phase != PH_HANDSHAKE || !t->hs || t->hs->off < t->hs->len)
		return 0;
	return t->early_left;
}

/* Client -> upstream, as far as the upstream takes. */
static void local_dns_pump(struct tcp_relay *t, uint64_t now);

/*
 * A direct flow's upstream carries the client's DSCP (its QoS class), as
 * the client's own connection would have: the SYN's from the open
 * (ZT_UPSTREAM_DSCP), then whenever the client's segments change it,
 * before the bytes they brought go up. Not
 * toward a proxy (the class is about the destination), and not ECN: the
 * upstream connection negotiates its own.
 */
static void keep_dscp(struct tcp_relay *t)
{
	struct zt_router *r = t->r;
	uint8_t dscp;

	if (t->decision != ZT_ROUTE_DIRECT || !t->flow || t->handle < 0 ||
	    !r->up->stream_set_dscp)
		return;
	dscp = t->flow->tclass & 0xfc;
	if (dscp != t->dscp && r->up->stream_set_dscp(r->host, t->handle, dscp) == 0)
		t->dscp = dscp;
}

static void tcp_pump_up(struct tcp_relay *t, uint64_t now)
{
	struct zt_router *r = t->r;

	if (t->local_dns) {
		local_dns_pump(t, now);
		return;
	}
	if (!t->flow || t->handle < 0)
		return;
	keep_dscp(t);
	while (!t->up_blocked) {
		const uint8_t *p;
		size_t room = tcp_up_room(t);
		size_t n = room ? zt_stack_tcp_peek(r->stack, t->flow, 0, &p) : 0;
		ssize_t sent;

		if (n == 0)
			break;
		if (n > room)
			n = room;
		sent = r->up->stream_send(r->host, t->handle, p, n);
		if (sent < 0) {
			r->stats.upstream_reset++;
			tcp_close_upstream(t, false);
			zt_stack_tcp_abort(r->stack, t->flow, now);
			return;
		}
		tcp_sent_up(t, n, (size_t)sent);
		zt_stack_tcp_consume(r->stack, t->flow, (size_t)sent, now);
		if (!t->flow)
			return;
	}
	if (t->phase == PH_OPEN && t->client_fin && !t->up_fin_sent &&
	    zt_tcb_recv_len(&t->flow->tcb) == 0) {
		/* After its EOF nothing more crosses the upstream: close()
		 * sends the FIN as shutdown() would, and frees it now. */
		if (t->up_eof)
			tcp_close_upstream(t, false);
		else
			r->up->stream_shutdown(r->host, t->handle);
		t->up_fin_sent = true;
	}
}

static void tcp_open_client(struct tcp_relay *t, uint64_t now)
{
	t->phase = PH_OPEN;
	if (t->hs && t->hs->off >= t->hs->len) {
		free(t->hs);
		t->hs = NULL;
	}
	if (t->flow) {
		zt_stack_tcp_accept(t->r->stack, t->flow, now);
		/* what the client sent after an early SYN-ACK, and its FIN */
		tcp_pump_up(t, now);
	}
}

/* Copy @n bytes at @off of @f's receive ring into @out (all there). */
static void recv_copy(struct zt_stack *s, struct zt_flow *f, size_t off,
		      uint8_t *out, size_t n)
{
	while (n) {
		const uint8_t *p;
		size_t run = zt_stack_tcp_peek(s, f, off, &p);

		if (!run)
			return;
		if (run > n)
			run = n;
		memcpy(out, p, run);
		out += run;
		off += run;
		n -= run;
	}
}

/*
 * DNS over TCP to the fake-IP resolver (RFC 1035 4.2.2, RFC 7766): each
 * whole message in the receive ring (a 2-byte length, then the message)
 * is answered in order, once the send ring has room for the answer (else
 * on WRITABLE); a length past DNS_TCP_MAX resets the client. The
 * client's FIN, once everything before it was answered, is answered
 * with ours.
 */
static void local_dns_pump(struct tcp_relay *t, uint64_t now)
{
	struct zt_router *r = t->r;
	uint8_t q[DNS_TCP_MAX];

	while (t->flow) {
		size_t have = zt_tcb_recv_len(&t->flow->tcb), mlen;
		struct fake_ask ask;
		uint8_t len2[2];
		int n;

		if (have < 2)
			break;
		recv_copy(r->stack, t->flow, 0, len2, 2);
		mlen = zt_rd16(len2);
		if (mlen > DNS_TCP_MAX) {
			zt_stack_tcp_abort(r->stack, t->flow, now);
			return;
		}
		if (have < 2 + mlen ||
		    zt_stack_tcp_send_room(r->stack, t->flow) < 2 + mlen + ZT_DNS_UDP_MAX)
			break;
		recv_copy(r->stack, t->flow, 2, q, mlen);
		ask.r = r;
		ask.client = t->flow->key.client;
		n = zt_fakedns_answer(r->fake, q, mlen, fake_policy_tcp, &ask,
				      r->scratch + 2, sizeof(r->scratch) - 2);
		if (n > 0) {
			zt_wr16(r->scratch, (uint16_t)n);
			zt_stack_tcp_send(r->stack, t->flow, r->scratch,
					  (size_t)n + 2, now);
		}
		zt_stack_tcp_consume(r->stack, t->flow, 2 + mlen, now);
	}
	if (t->flow && t->client_fin && !t->up_fin_sent &&
	    zt_tcb_recv_len(&t->flow->tcb) == 0) {
		t->up_fin_sent = true;
		zt_stack_tcp_shutdown(r->stack, t->flow, now);
	}
}

/* A TCP flow to the fake-IP resolver's port 53: answered here. */
static int local_dns_open(struct zt_router *r, struct zt_flow *f, uint64_t now)
{
	struct tcp_relay *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->kind = CONN_TCP;
	t->r = r;
	t->flow = f;
	t->handle = -1;
	t->local_dns = true;
	t->phase = PH_OPEN;
	f->user = t;
	zt_stack_tcp_accept(r->stack, f, now);
	return 0;
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

static int open_stream(struct zt_router *r, const struct zt_endpoint *ep,
		       unsigned flags, void *cookie, uint64_t now)
{
	unsigned tries = 0;
	int h;

	do
		h = r->up->stream_open(r->host, ep, flags, cookie, now);
	while (evicted_for_descriptor(r, h, &tries, now));
	return h;
}

static int open_dgram(struct zt_router *r, uint8_t family, uint16_t port,
		      unsigned flags, void *cookie, uint64_t now)
{
	unsigned tries = 0;
	int h;

	do
		h = r->up->dgram_open(r->host, family, port, flags, cookie, now);
	while (evicted_for_descriptor(r, h, &tries, now));
	return h;
}

static int tcp_new(void *host, struct zt_flow *f, uint64_t now)
{
	struct zt_router *r = host;
	struct zt_endpoint ep;
	struct tcp_relay *t;
	bool reject;
	enum zt_route_decision d;
	const struct zt_proxy_config *px = NULL;
	char *name;
	int named;
	unsigned flags;

	if (r->fake && f->key.server_port == ZT_DNS_PORT &&
	    zt_fakedns_is_server(r->fake, &f->key.server))
		return local_dns_open(r, f, now);
	named = fake_name(r, &f->key.server, &name);
	if (named < 0) {
		zt_stack_tcp_reject(r->stack, f, -1, now);
		return 0;
	}
	d = decide(r, ZT_IPPROTO_TCP, &f->key, name, &reject);
	if (named == NAME_LEARNED) {
		free(name); /* it routed; the flow goes by address */
		name = NULL;
	}
	if (d == ZT_ROUTE_SOCKS5)
		px = &r->cfg.socks5;
	else if (d == ZT_ROUTE_HTTP)
		px = &r->cfg.http;
	if (d == ZT_ROUTE_DROP && !reject) {
		zt_stack_tcp_drop(r->stack, f, now);
		free(name);
		return 0;
	}
	if (px && !px->enabled)
		r->stats.dropped_no_proxy++;
	if (d == ZT_ROUTE_DROP || d == ZT_ROUTE_LOCAL || (px && !px->enabled) ||
	    fake_unroutable(r, name, px != NULL)) {
		zt_stack_tcp_reject(r->stack, f, -1, now);
		free(name);
		return 0;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		free(name);
		return -ENOMEM;
	}
	t->name = name;
	t->kind = CONN_TCP;
	t->r = r;
	t->flow = f;
	t->decision = d;
	t->handle = -1;
	f->user = t;
	if (px) {
		ep = px->server;
	} else {
		memset(&ep, 0, sizeof(ep));
		ep.addr = f->key.server;
		ep.port = f->key.server_port;
	}
	/* Held until the end: a synchronous refusal ends the flow, and the
	 * flow's end (tcp_event) must not free the relay under us. */
	t->busy++;
	flags = px ? 0 : ZT_UPSTREAM_DIRECT | ZT_UPSTREAM_DSCP(f->tclass) |
			 ZT_UPSTREAM_TTL(f->syn_ttl);
	t->handle = open_stream(r, &ep, flags, t, now);
	if (!px && t->handle >= 0 && r->up->stream_set_dscp)
		t->dscp = f->tclass & 0xfc;
	if (t->handle < 0) {
		int err = t->handle;

		t->handle = -1;
		r->stats.upstream_connect_failed++;
		tcp_refuse(t, refuse_for_errno(err), now);
	} else if (r->cfg.early_synack && t->flow && t->phase != PH_OPEN) {
		zt_stack_tcp_accept_early(r->stack, t->flow, now);
	}
	t->busy--;
	tcp_relay_maybe_free(t);
	return 0;
}

/*
 * Begin a CONNECT through the proxy of @decision (SOCKS5 or HTTP) to
 * @name (NULL: @dst) port @port: @hs's machine set up, its first flight in
 * hs->out. Return: 0 or a negative errno (a name no request can carry).
 */
static int hs_begin(struct zt_router *r, struct tcp_handshake *hs,
		    enum zt_route_decision decision, const char *name,
		    const struct zt_addr *dst, uint16_t port)
{
	int n;

	if (decision == ZT_ROUTE_SOCKS5) {
		struct zt_socks5_addr target;
		const struct zt_proxy_config *px = &r->cfg.socks5;

		zt_socks5_init(&hs->st.socks, ZT_SOCKS5_CMD_CONNECT);
		if (name && zt_socks5_addr_name(&target, name, strlen(name),
						port) < 0)
			return -EINVAL;
		if (!name)
			zt_socks5_addr_ip(&target, dst, port);
		zt_socks5_set_target(&hs->st.socks, &target);
		if (px->auth)
			zt_socks5_set_auth(&hs->st.socks, px->username,
					   strlen(px->username), px->password,
					   strlen(px->password));
		if (px->pipelined)
			zt_socks5_set_pipelined(&hs->st.socks);
		n = zt_socks5_start(&hs->st.socks, hs->out, sizeof(hs->out));
	} else {
		const struct zt_proxy_config *px = &r->cfg.http;

		zt_http_connect_init(&hs->st.http, r->cfg.http_max_header);
		if (name && zt_http_connect_set_target_name(&hs->st.http, name,
							    strlen(name),
							    port) < 0)
			return -EINVAL;
		if (!name)
			zt_http_connect_set_target_addr(&hs->st.http, dst, port);
		if (px->auth)
			zt_http_connect_set_auth(&hs->st.http, px->username,
						 strlen(px->username), px->password,
						 strlen(px->password));
		n = zt_http_connect_request(&hs->st.http, hs->out,
					    sizeof(hs->out));
	}
	if (n < 0)
		return n;
	hs->len = (size_t)n;
	hs->off = 0;
	return 0;
}

/* How a proxy handshake stands after its input (hs_input()). */
enum hs_step { HS_MORE, HS_READY, HS_FAILED };

/*
 * The proxy's handshake bytes @data into @hs (decision @decision; its
 * replies, SOCKS5 authentication, go out on @handle), counted as the
 * proxy's failure when it refuses; *@consumed the bytes it took, *@how
 * the refusal a failure maps to.
 */
static enum hs_step hs_input(struct zt_router *r, struct tcp_handshake *hs,
			     enum zt_route_decision decision, int handle,
			     const uint8_t *data, size_t len, size_t *consumed,
			     enum zt_refuse *how)
{
	int st;

	*consumed = 0;
	if (decision == ZT_ROUTE_SOCKS5) {
		uint8_t out[ZT_SOCKS5_OUT_MAX];
		size_t out_len = 0;

		st = zt_socks5_input(&hs->st.socks, data, len, out, sizeof(out),
				     &out_len, consumed);
		if (out_len) {
			hs_append(hs->out, &hs->len, out, out_len);
			if (hs_flush(r, handle, hs) < 0)
				st = ZT_SOCKS5_FAILED;
		}
		if (st == ZT_SOCKS5_FAILED || st < 0) {
			enum zt_socks5_outcome o = zt_socks5_outcome(&hs->st.socks);

			r->stats.socks5_failures[o < 32 ? o : 0]++;
			*how = st < 0 ? ZT_REFUSE_RST : zt_socks5_refuse(o);
			return HS_FAILED;
		}
		return st == ZT_SOCKS5_READY ? HS_READY : HS_MORE;
	}
	st = zt_http_connect_input(&hs->st.http, data, len, consumed);
	if (st == ZT_HTTP_CONNECT_FAILED || st < 0) {
		enum zt_http_connect_outcome o = zt_http_connect_outcome(&hs->st.http);

		r->stats.http_failures[o < 16 ? o : 0]++;
		*how = st < 0 ? ZT_REFUSE_RST : zt_http_connect_refuse(o);
		return HS_FAILED;
	}
	return st == ZT_HTTP_CONNECT_READY ? HS_READY : HS_MORE;
}

static void tcp_connected(struct tcp_relay *t, uint64_t now)
{
	struct zt_router *r = t->r;
	const struct zt_flow_key *k;

	if (!t->flow) {
		tcp_close_upstream(t, false);
		return;
	}
	k = &t->flow->key;
	if (t->decision != ZT_ROUTE_SOCKS5 && t->decision != ZT_ROUTE_HTTP) {
		tcp_open_client(t, now);
		return;
	}
	t->hs = calloc(1, sizeof(*t->hs));
	if (!t->hs ||
	    hs_begin(r, t->hs, t->decision, t->name, &k->server,
		     k->server_port) < 0) {
		tcp_refuse(t, ZT_REFUSE_RST, now);
		return;
	}
	if (t->decision == ZT_ROUTE_SOCKS5 && r->cfg.socks5.pipelined &&
	    r->cfg.early_synack)
		t->early_left = ZT_ROUTER_EARLY_DATA_MAX;
	t->phase = PH_HANDSHAKE;
	if (tcp_flush_hs(t) < 0)
		tcp_refuse(t, ZT_REFUSE_RST, now);
	else
		tcp_pump_up(t, now); /* early data, if any may go (tcp_up_room) */
}

/* Handshake bytes from the proxy; returns bytes consumed by it. */
static size_t tcp_handshake_input(struct tcp_relay *t, const uint8_t *data,
				  size_t len, uint64_t now)
{
	enum zt_refuse how = ZT_REFUSE_RST;
	size_t consumed;

	switch (hs_input(t->r, t->hs, t->decision, t->handle, data, len,
			 &consumed, &how)) {
	case HS_FAILED:
		tcp_refuse(t, how, now);
		return len;
	case HS_READY:
		tcp_open_client(t, now);
		break;
	case HS_MORE:
		break;
	}
	return consumed;
}

static size_t tcp_data(struct tcp_relay *t, const uint8_t *data, size_t len,
		       uint64_t now)
{
	struct zt_router *r = t->r;
	size_t used = 0, n;

	if (!t->flow)
		return len; /* the client is gone: discard */
	if (t->phase == PH_HANDSHAKE) {
		used = tcp_handshake_input(t, data, len, now);
		if (t->phase != PH_OPEN || !t->flow)
			return len;
	}
	if (t->phase != PH_OPEN)
		return len;
	n = zt_stack_tcp_send(r->stack, t->flow, data + used, len - used, now);
	r->stats.tcp_relayed_down += n;
	if (used + n < len)
		t->down_paused = true;
	return used + n;
}

/* Client -> upstream straight from the packet, when the flow's ring is
 * empty (the stack's tcp_rx_direct): the copy into the ring is saved. A
 * send that fails or takes nothing takes nothing here: the data is queued,
 * and tcp_pump_up() meets the error again where it may close the flow, or
 * the full upstream where it blocks the relay (not here: the pump's
 * consume after that send is what tells the client a window it is owed,
 * scenarios/tcp_delayed_ack.scn). */
static size_t tcp_rx_direct(void *host, struct zt_flow *f, const uint8_t *p,
			    size_t len)
{
	struct zt_router *r = host;
	struct tcp_relay *t = f->user;
	size_t room;
	ssize_t sent;

	if (!t || t->handle < 0 || t->up_blocked || t->up_fin_sent)
		return 0;
	if (r->batching && len < ZT_ROUTER_UP_DIRECT_MIN)
		return 0; /* gathered in the ring (tcp_gather) */
	keep_dscp(t);
	room = tcp_up_room(t);
	if (!room)
		return 0;
	if (len > room)
		len = room;
	sent = r->up->stream_send(r->host, t->handle, p, len);
	if (sent <= 0)
		return 0;
	tcp_sent_up(t, len, (size_t)sent);
	r->stats.tcp_relayed_up_direct += (uint64_t)sent;
	return (size_t)sent;
}

/*
 * Whether client bytes that just became readable may wait for the end of
 * the TUN batch (zt_router_tun_batch_end()) to go upstream together with
 * what the batch brings after them: one send per flow and batch, not one
 * per segment. Only while OPEN (early data has its own allowance) and
 * below ZT_ROUTER_UP_GATHER_MAX; a FIN or a PSH (the client has nothing
 * more for now: a request, a keystroke) sends at once, as GRO flushes on
 * PSH, and so does a relay that finds the list full. Listing takes a busy
 * reference: a flow that ends within the batch leaves its relay to the
 * batch's end.
 */
static bool tcp_gather(struct tcp_relay *t)
{
	struct zt_router *r = t->r;

	if (!r->batching || t->phase != PH_OPEN ||
	    zt_tcb_recv_len(&t->flow->tcb) >= ZT_ROUTER_UP_GATHER_MAX)
		return false;
	if (t->gathering)
		return true;
	if (r->n_gather == GATHER_MAX)
		return false;
	t->gathering = true;
	t->busy++;
	r->gather[r->n_gather++] = t;
	return true;
}

static void tcp_event(void *host, struct zt_flow *f, uint32_t ev, uint64_t now)
{
	struct tcp_relay *t = f->user;

	(void)host;
	if (!t)
		return;
	t->busy++;
	if (ev & ZT_TCP_EV_PEER_FIN)
		t->client_fin = true;
	if ((ev & (ZT_TCP_EV_PEER_FIN | ZT_TCP_EV_PUSH)) ||
	    ((ev & ZT_TCP_EV_READABLE) && !tcp_gather(t)))
		tcp_pump_up(t, now);
	if ((ev & ZT_TCP_EV_WRITABLE) && t->local_dns)
		local_dns_pump(t, now);
	if ((ev & ZT_TCP_EV_WRITABLE) && t->down_paused && t->handle >= 0) {
		t->down_paused = false;
		t->r->up->stream_resume(t->r->host, t->handle);
	}
	if (ev & (ZT_TCP_EV_RESET | ZT_TCP_EV_CLOSED)) {
		/* The flow is freed when this returns. A reset (the client's,
		 * a timeout's) goes on as one to a destination the bytes may
		 * already reach; a connect or a proxy handshake is only
		 * dropped. */
		f->user = NULL;
		t->flow = NULL;
		tcp_close_upstream(t, (ev & ZT_TCP_EV_RESET) && t->phase == PH_OPEN);
	}
	t->busy--;
	tcp_relay_maybe_free(t);
}

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

/* The live association of @k's client endpoint for decision @d, or NULL. */
static struct udp_assoc *assoc_find(struct zt_router *r,
				    const struct zt_flow_key *k,
				    enum zt_route_decision d)
{
	struct udp_assoc *a = r->assoc[assoc_bucket(r, k)];

	for (; a; a = a->hnext)
		if (a->decision == d && a->family == k->family &&
		    a->client_port == k->client_port &&
		    zt_addr_eq(&a->client, &k->client))
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
	if (!a->dead)
		assoc_unhash(a);
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
 * host reports on it, assoc_ctrl_*), a mapping's socket (a NAT one bound
 * to @u's mapped port). Return: 0, or a negative errno (nothing left
 * behind).
 */
static int assoc_new(struct zt_router *r, struct udp_relay *u, uint64_t now)
{
	const struct zt_flow_key *k = &u->flow->key;
	struct udp_assoc *a = calloc(1, sizeof(*a));
	int err;

	if (!a)
		return -ENOMEM;
	a->kind = CONN_ASSOC;
	a->r = r;
	a->decision = u->decision;
	a->family = k->family;
	a->client = k->client;
	a->client_port = k->client_port;
	a->dgram = -1;
	a->ctrl = -1;
	if (a->decision == ZT_ROUTE_SOCKS5) {
		a->ctrl = open_stream(r, &r->cfg.socks5.server, 0, a, now);
		err = a->ctrl;
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

static void udp_fail(struct udp_relay *u, enum zt_refuse how, uint64_t now);

/* @a ended (its control stream, its relay lost, a failed handshake):
 * every member fails as @how says (one never ready answers its waiting
 * datagrams) and is forgotten, so that its next datagram asks again. */
static void assoc_fail(struct udp_assoc *a, enum zt_refuse how, uint64_t now)
{
	struct udp_relay *m, *next;

	a->busy++;
	if (!a->dead) {
		a->dead = true;
		assoc_unhash(a);
	}
	for (m = a->members; m; m = next) {
		next = m->assoc_next; /* m leaves the list as its flow ends */
		udp_fail(m, how, now);
	}
	a->busy--;
	assoc_maybe_free(a);
}

/* @u joins the live association of its client endpoint, or a new one.
 * Return: 0 or a negative errno. */
static int assoc_join(struct zt_router *r, struct udp_relay *u, uint64_t now)
{
	struct udp_assoc *a = assoc_find(r, &u->flow->key, u->decision);

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
static void keep_header(struct zt_router *r, int dgram, struct zt_fwd_hdr *cur,
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

static void dns_query(struct dns_tunnel *t, const uint8_t *q, size_t len,
		      uint64_t now);

static void udp_send_one(struct udp_relay *u, const uint8_t *data, size_t len,
			 uint64_t now)
{
	struct zt_router *r = u->r;
	const struct zt_flow_key *k = &u->flow->key;
	struct zt_endpoint to;
	int err;

	if (u->dns) {
		dns_query(u->dns, data, len, now);
		return;
	}
	if (u->decision == ZT_ROUTE_SOCKS5) {
		struct zt_socks5_addr dst;
		int n;

		if (!u->name)
			zt_socks5_addr_ip(&dst, &k->server, k->server_port);
		else if (zt_socks5_addr_name(&dst, u->name, strlen(u->name),
					     k->server_port) < 0)
			return;
		n = zt_socks5_udp_wrap(&dst, data, len, r->scratch, sizeof(r->scratch));
		if (n < 0)
			return;
		if (r->up->dgram_send(r->host, u->dgram, &u->assoc->relay,
				      r->scratch, (size_t)n) == 0)
			r->stats.udp_relayed_up += len;
		return;
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
}

static void udp_flush_queue(struct udp_relay *u, uint64_t now)
{
	size_t off = 0;

	for (unsigned i = 0; i < u->q_n; i++) {
		udp_send_one(u, u->q + off, u->q_len[i], now);
		off += u->q_len[i];
	}
	u->q_n = 0;
	u->q_bytes = 0;
}

static void udp_enqueue(struct udp_relay *u, const uint8_t *data, size_t len)
{
	if (u->q_n == UDP_QUEUE_MAX || u->q_bytes + len > UDP_QUEUE_BYTES) {
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
static void udp_fail(struct udp_relay *u, enum zt_refuse how, uint64_t now)
{
	struct zt_udp_flow *f = u->flow;

	if (!f)
		return;
	if (!u->ready) {
		u->r->stats.udp_dropped += u->q_n;
		zt_stack_udp_unreach(u->r->stack, f,
				     udp_refuse_code(how, f->key.family),
				     u->q_n ? u->q : NULL, u->q_n ? u->q_len[0] : 0,
				     now);
	}
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
		u = udp_relay_new(r, f, ZT_ROUTE_DIRECT);
		if (!u)
			return;
		u->forward = true;
		u->dgram = open_dgram(r, up->addr.family, 0,
				      ZT_UPSTREAM_DIRECT, u, now);
		u->ready = u->dgram >= 0;
		if (!u->ready)
			u->dgram = -1;
	}
	if (!u->ready || len < ZT_DNS_HDR) {
		r->stats.udp_dropped++;
		return;
	}
	/* the oldest unanswered ID makes room */
	if (u->fwd_n == FWD_IDS)
		memmove(u->fwd_ids, u->fwd_ids + 1, sizeof(u->fwd_ids) - sizeof(u->fwd_ids[0]));
	else
		u->fwd_n++;
	u->fwd_ids[u->fwd_n - 1] = zt_rd16(data);
	udp_send_one(u, data, len, now);
}

/* Whether @p (@len bytes) from the real resolver answers a query the
 * client's flow @u forwarded: its ID is one sent and not yet answered
 * (then it is taken). Anything else is a forgery or a stray: it must
 * neither teach the resolver nor reach the client. */
static bool fwd_answers(struct udp_relay *u, const uint8_t *p, size_t len)
{
	if (len < ZT_DNS_HDR)
		return false;
	for (unsigned i = 0; i < u->fwd_n; i++)
		if (u->fwd_ids[i] == zt_rd16(p)) {
			/* keep the rest oldest first */
			memmove(u->fwd_ids + i, u->fwd_ids + i + 1,
				(size_t)(u->fwd_n - i - 1) * sizeof(u->fwd_ids[0]));
			u->fwd_n--;
			return true;
		}
	return false;
}

/* A datagram to the fake-IP resolver's address: a query to its port 53
 * is answered (or forwarded), any other port refused. Return: whether it
 * was one. */
static bool fake_query(struct zt_router *r, struct zt_udp_flow *f,
		       const uint8_t *data, size_t len, uint64_t now)
{
	struct fake_ask ask;
	int n;

	if (!r->fake || !zt_fakedns_is_server(r->fake, &f->key.server))
		return false;
	if (f->key.server_port != ZT_DNS_PORT) {
		r->stats.fake_ip_refused++;
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

/* --- DNS over TCP (cfg.dns_over_tcp) ------------------------------------ */

/* The stream closed (reset with @abort) and the framing forgotten: the
 * flow's next query opens another (dns_tunnel_open()). Queries the
 * stream had not answered are lost, as datagrams may be; the client asks
 * again. */
static void dns_tunnel_close(struct dns_tunnel *t, bool abort)
{
	struct udp_relay *u = t->u;

	if (t->handle >= 0)
		t->r->up->stream_close(t->r->host, t->handle, abort);
	t->handle = -1;
	free(t->hs);
	t->hs = NULL;
	zt_dns_tcp_destroy(&t->dns);
	zt_dns_tcp_init(&t->dns);
	u->ready = false;
}

static void dns_tunnel_free(struct dns_tunnel *t)
{
	dns_tunnel_close(t, false);
	free(t);
}

/* Open the stream to the proxy; with @evict making room for its socket
 * by ending idle flows (only while this flow's datagram is being handled:
 * the stack never evicts that one). Return: 0 or a negative errno. */
static int dns_tunnel_open(struct dns_tunnel *t, bool evict, uint64_t now)
{
	struct zt_router *r = t->r;
	struct udp_relay *u = t->u;
	const struct zt_endpoint *proxy = u->decision == ZT_ROUTE_SOCKS5 ?
					  &r->cfg.socks5.server :
					  &r->cfg.http.server;
	int h = evict ? open_stream(r, proxy, 0, t, now) :
			r->up->stream_open(r->host, proxy, 0, t, now);

	if (h < 0)
		return h;
	t->handle = h;
	t->phase = PH_CONNECTING;
	t->answered = 0;
	r->stats.dns_tcp_connections++;
	return 0;
}

/* A tunnel for @u, its stream opening. Return: 0 or a negative errno
 * (nothing left behind). */
static int dns_tunnel_new(struct zt_router *r, struct udp_relay *u,
			  uint64_t now)
{
	struct dns_tunnel *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return -ENOMEM;
	t->kind = CONN_DNS;
	t->r = r;
	t->u = u;
	t->handle = -1;
	zt_dns_tcp_init(&t->dns);
	u->dns = t;
	err = dns_tunnel_open(t, true, now);
	if (err < 0) {
		u->dns = NULL;
		free(t);
	}
	return err;
}

/*
 * The open stream is gone (the server closed it, it failed; reset with
 * @abort when we end it) with queries waiting: when it answered any, they
 * go again on a new one at once (RFC 7766 6.2.1.1: a server may close a
 * connection after any answer, and the client of an A and AAAA lookup
 * would otherwise wait out its timeout for the second); when it answered
 * none, they are lost (the client asks again), so that a server that
 * answers nothing is not asked forever. The new socket makes no room by
 * eviction: this is no datagram of the flow's, which may be the one
 * evicted.
 */
static void dns_tunnel_lost(struct dns_tunnel *t, bool abort, uint64_t now)
{
	struct zt_router *r = t->r;
	bool progress = t->answered > 0;

	if (t->handle >= 0)
		r->up->stream_close(r->host, t->handle, abort);
	t->handle = -1;
	t->u->ready = false;
	if (progress && zt_dns_tcp_rewind(&t->dns)) {
		unsigned waiting = t->dns.n_pending;

		if (dns_tunnel_open(t, false, now) == 0) {
			r->stats.dns_tcp_resent += waiting;
			return;
		}
	}
	dns_tunnel_close(t, false);
}

/* The framed queries, as far as the stream takes them. */
static void dns_flush(struct dns_tunnel *t, uint64_t now)
{
	struct zt_view out = zt_dns_tcp_output(&t->dns);
	ssize_t n;

	if (!out.len || t->handle < 0 || t->phase != PH_OPEN)
		return;
	n = t->r->up->stream_send(t->r->host, t->handle, out.data, out.len);
	if (n < 0)
		dns_tunnel_lost(t, true, now);
	else
		zt_dns_tcp_sent(&t->dns, (size_t)n);
}

static void dns_query(struct dns_tunnel *t, const uint8_t *q, size_t len,
		      uint64_t now)
{
	if (zt_dns_tcp_query(&t->dns, q, len) < 0) {
		t->r->stats.dns_tcp_dropped++;
		return;
	}
	t->r->stats.dns_tcp_queries++;
	t->r->stats.udp_relayed_up += len;
	dns_flush(t, now);
}

static void dns_answer(void *user, const uint8_t *msg, size_t len,
		       enum zt_dns_tcp_answer how)
{
	struct dns_tunnel *t = user;
	struct zt_router *r = t->r;

	if (how == ZT_DNS_TCP_UNMATCHED) {
		r->stats.dns_tcp_unmatched++;
		return;
	}
	if (how == ZT_DNS_TCP_TRUNCATED)
		r->stats.dns_tcp_truncated++;
	r->stats.dns_tcp_answers++;
	t->answered++;
	if (zt_stack_udp_send(r->stack, &t->u->flow->key, msg, len, t->now) == 0)
		r->stats.udp_relayed_down += len;
}

/* The stream failed before the handshake was done (@how): the waiting
 * queries refused as a UDP association's are (udp_fail(), which ends the
 * flow and @t with it); or after it (dns_tunnel_lost()). */
static void dns_tunnel_failed(struct dns_tunnel *t, enum zt_refuse how,
			      uint64_t now)
{
	if (t->phase != PH_OPEN) {
		t->r->stats.upstream_connect_failed++;
		udp_fail(t->u, how, now); /* frees t */
		return;
	}
	dns_tunnel_lost(t, true, now);
}

static void dns_connected(struct dns_tunnel *t, uint64_t now)
{
	const struct zt_flow_key *k = &t->u->flow->key;

	t->hs = calloc(1, sizeof(*t->hs));
	if (!t->hs ||
	    hs_begin(t->r, t->hs, t->u->decision, t->u->name, &k->server,
		     k->server_port) < 0 ||
	    hs_flush(t->r, t->handle, t->hs) < 0) {
		dns_tunnel_failed(t, ZT_REFUSE_RST, now);
		return;
	}
	t->phase = PH_HANDSHAKE;
}

static size_t dns_stream_data(struct dns_tunnel *t, const uint8_t *data,
			      size_t len, uint64_t now)
{
	size_t used = 0;

	if (t->phase == PH_HANDSHAKE) {
		enum zt_refuse how = ZT_REFUSE_RST;

		switch (hs_input(t->r, t->hs, t->u->decision, t->handle, data,
				 len, &used, &how)) {
		case HS_FAILED:
			dns_tunnel_failed(t, how, now);
			return len;
		case HS_MORE:
			return used;
		case HS_READY:
			break;
		}
		free(t->hs);
		t->hs = NULL;
		t->phase = PH_OPEN;
		t->u->ready = true;
		dns_flush(t, now); /* queries again after a lost stream */
		udp_flush_queue(t->u, now);
	}
	if (t->phase != PH_OPEN || t->handle < 0)
		return len; /* closed while the queue was sent */
	t->now = now;
	if (zt_dns_tcp_input(&t->dns, data + used, len - used, t->r->scratch,
			     sizeof(t->r->scratch), dns_answer, t) < 0)
		dns_tunnel_close(t, true); /* not DNS: reset */
	else if (!zt_dns_tcp_waiting(&t->dns) && !zt_dns_tcp_output(&t->dns).len)
		dns_tunnel_close(t, false); /* every query answered */
	return len;
}

/*
 * The upstream of new UDP relay @u (decision SOCKS5, DIRECT or NAT): a NAT
 * session (which shares the mapped port of its client endpoint's other
 * sessions), then the association of its client endpoint joined.
 * Return: 0, or a negative errno (-ENOSPC: NAT table full) with nothing
 * of it left open but what udp_closed() releases.
 */
static int udp_setup(struct zt_router *r, struct udp_relay *u, uint64_t now)
{
	const struct zt_udp_flow *f = u->flow;
	int err;

	if (u->decision == ZT_ROUTE_NAT) {
		struct zt_nat_key nk;

		memset(&nk, 0, sizeof(nk));
		nk.proto = ZT_IPPROTO_UDP;
		nk.src = f->key.client;
		nk.dst = f->key.server;
		nk.sport = f->key.client_port;
		nk.dport = f->key.server_port;
		err = zt_nat_insert(&r->nat, &nk, now, &u->nat);
		if (err < 0) {
			u->nat = NULL;
			r->stats.nat_refused++;
			return err;
		}
		u->nat->user = u;
	}
	return assoc_join(r, u, now);
}

/* Whether flow @f with decision @d goes as DNS over TCP through its
 * proxy (cfg.dns_over_tcp: UDP to port 53 that a proxy would carry). */
static bool dns_over_tcp(const struct zt_router *r, const struct zt_udp_flow *f,
			 enum zt_route_decision d)
{
	return r->cfg.dns_over_tcp && f->key.server_port == ZT_DNS_PORT &&
	       ((d == ZT_ROUTE_SOCKS5 && r->cfg.socks5.enabled) ||
		(d == ZT_ROUTE_HTTP && r->cfg.http.enabled));
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

static void udp_input(void *host, struct zt_udp_flow *f, const uint8_t *data,
		      size_t len, uint64_t now)
{
	struct zt_router *r = host;
	struct udp_relay *u = f->user;

	if (fake_query(r, f, data, len, now))
		return;
	if (!u) {
		bool reject = false, no_proxy, by_tcp;
		enum zt_route_decision d;
		char *name = NULL;
		int fake = fake_name(r, &f->key.server, &name);

		d = fake < 0 ? ZT_ROUTE_DROP :
			decide(r, ZT_IPPROTO_UDP, &f->key, name, &reject);
		if (fake == NAME_LEARNED) {
			free(name); /* it routed; the flow goes by address */
			name = NULL;
		}
		by_tcp = dns_over_tcp(r, f, d);
		if (fake >= 0 && d != ZT_ROUTE_DROP && d != ZT_ROUTE_LOCAL &&
		    fake_unroutable(r, name, by_tcp ||
						     (d == ZT_ROUTE_SOCKS5 &&
						      r->cfg.socks5.enabled)))
			fake = -1;
		u = udp_relay_new(r, f, d);
		if (!u) {
			free(name);
			return;
		}
		u->name = name;
		u->reject = reject && d == ZT_ROUTE_DROP;
		no_proxy = d == ZT_ROUTE_SOCKS5 && !r->cfg.socks5.enabled;
		if (no_proxy && fake >= 0)
			r->stats.dropped_no_proxy++;
		if (fake >= 0 && by_tcp) {
			int err = dns_tunnel_new(r, u, now);

			if (err < 0) {
				udp_refuse_now(r, f, err, now); /* frees u */
				return;
			}
		} else if (fake < 0 || d == ZT_ROUTE_HTTP || d == ZT_ROUTE_LOCAL ||
			   no_proxy) {
			/* Nothing here carries it (CONNECT is TCP only, nothing
			 * listens locally, no SOCKS5 proxy): answered as a host
			 * with no listener answers, every datagram. */
			u->decision = ZT_ROUTE_DROP;
			u->reject = true;
		} else if (d != ZT_ROUTE_DROP) {
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
		 * by the server): a new one for this query */
		int err = dns_tunnel_open(u->dns, true, now);

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

static void udp_closed(void *host, struct zt_udp_flow *f, uint64_t now)
{
	struct udp_relay *u = f->user;

	(void)host;
	(void)now;
	if (!u)
		return;
	if (u->dns)
		dns_tunnel_free(u->dns);
	udp_close_sockets(u);
	if (u->nat)
		zt_nat_remove(&u->r->nat, u->nat);
	f->user = NULL;
	free(u->name);
	free(u);
}

static void assoc_ctrl_connected(struct udp_assoc *a, uint64_t now)
{
	const struct zt_proxy_config *px = &a->r->cfg.socks5;
	uint8_t out[HS_BUF];
	int n;

	zt_socks5_init(&a->socks, ZT_SOCKS5_CMD_UDP_ASSOCIATE);
	if (px->auth)
		zt_socks5_set_auth(&a->socks, px->username, strlen(px->username),
				   px->password, strlen(px->password));
	n = zt_socks5_start(&a->socks, out, sizeof(out));
	if (n > 0 &&
	    a->r->up->stream_send(a->r->host, a->ctrl, out, (size_t)n) != n)
		n = -EIO; /* a few bytes on a fresh socket always fit */
	if (n < 0)
		assoc_fail(a, ZT_REFUSE_RST, now);
}

/* The relay is known (@a's handshake done): its socket opened, every
 * member's waiting datagrams sent. */
static void assoc_ready(struct udp_assoc *a, uint64_t now)
{
	struct zt_router *r = a->r;
	struct zt_endpoint proxy = r->cfg.socks5.server, peer;
	struct zt_socks5_addr ep;
	struct udp_relay *m;
	uint8_t family;

	/* An unspecified BND.ADDR means the address the control connection
	 * reached: for a proxy given by name, what the host says it resolved
	 * to (so replies can be checked against it), else the name itself. */
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
	for (m = a->members; m; m = m->assoc_next) {
		m->dgram = a->dgram;
		m->ready = true;
		udp_flush_queue(m, now);
	}
	a->busy--;
	assoc_maybe_free(a);
}

static size_t assoc_ctrl_data(struct udp_assoc *a, const uint8_t *data,
			      size_t len, uint64_t now)
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
		st = ZT_SOCKS5_FAILED;
	if (st == ZT_SOCKS5_FAILED || st < 0) {
		enum zt_socks5_outcome o = zt_socks5_outcome(&a->socks);

		r->stats.socks5_failures[o & 31]++;
		if (o == ZT_SOCKS5_CMD_UNSUPPORTED)
			r->stats.socks5_udp_unsupported++;
		assoc_fail(a, st < 0 ? ZT_REFUSE_RST : zt_socks5_refuse(o), now);
		return len;
	}
	if (st == ZT_SOCKS5_READY)
		assoc_ready(a, now);
	return len;
}

/* --- host reports ------------------------------------------------------ */

void zt_router_stream_connected(struct zt_router *r, void *cookie, uint64_t now)
{
	(void)r;
	if (*(uint8_t *)cookie == CONN_TCP) {
		struct tcp_relay *t = cookie;

		t->busy++;
		tcp_connected(t, now);
		t->busy--;
		tcp_relay_maybe_free(t);
	} else if (*(uint8_t *)cookie == CONN_ASSOC) {
		assoc_ctrl_connected(cookie, now);
	} else if (*(uint8_t *)cookie == CONN_DNS) {
		dns_connected(cookie, now);
	}
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
static const struct zt_addr *error_origin(const struct zt_dgram_error *e,
					  const struct zt_addr *server)
{
	return e->origin.family && !zt_addr_eq(&e->origin, &e->to.addr) ?
		       &e->origin : server;
}

/*
 * @t's upstream died with @err: an open flow is aborted, one still
 * connecting refused. A direct flow whose connect ended on an ICMP error
 * @e of @kind (unreachable, time exceeded; ZT_ICMP_OTHER when none) is
 * refused with that error, from the router that sent it, as the client's
 * own SYN would have been; any other as @err says.
 */
static void tcp_upstream_failed(struct tcp_relay *t, int err,
				enum zt_icmp_kind kind,
				const struct zt_dgram_error *e, uint64_t now)
{
	struct zt_router *r = t->r;

	t->busy++;
	t->handle = -1; /* dead: not closed again */
	if (t->phase == PH_OPEN) {
		r->stats.upstream_reset++;
		if (t->flow)
			zt_stack_tcp_abort(r->stack, t->flow, now);
	} else if (t->flow && t->decision == ZT_ROUTE_DIRECT &&
		   (kind == ZT_ICMP_DEST_UNREACH ||
		    kind == ZT_ICMP_TIME_EXCEEDED)) {
		r->stats.upstream_connect_failed++;
		r->stats.icmp_errors_relayed++;
		zt_stack_tcp_reject_icmp(r->stack, t->flow, kind, e->code,
					 error_origin(e, &t->flow->key.server),
					 now);
	} else {
		r->stats.upstream_connect_failed++;
		tcp_refuse(t, refuse_for_errno(err), now);
	}
	t->busy--;
	tcp_relay_maybe_free(t);
}

void zt_router_stream_failed(struct zt_router *r, void *cookie, int err,
			     uint64_t now)
{
	(void)r;
	if (*(uint8_t *)cookie == CONN_TCP) {
		tcp_upstream_failed(cookie, err, ZT_ICMP_OTHER, NULL, now);
	} else if (*(uint8_t *)cookie == CONN_ASSOC) {
		struct udp_assoc *a = cookie;

		a->ctrl = -1; /* dead: not closed again */
		assoc_fail(a, refuse_for_errno(err), now);
	} else if (*(uint8_t *)cookie == CONN_DNS) {
		struct dns_tunnel *t = cookie;

		t->handle = -1; /* dead: not closed again */
		dns_tunnel_failed(t, refuse_for_errno(err), now);
	}
}

size_t zt_router_stream_data(struct zt_router *r, void *cookie,
			     const uint8_t *data, size_t len, uint64_t now)
{
	size_t n;

	(void)r;
	if (*(uint8_t *)cookie == CONN_TCP) {
		struct tcp_relay *t = cookie;

		t->busy++;
		n = tcp_data(t, data, len, now);
		t->busy--;
		tcp_relay_maybe_free(t);
		return n;
	}
	if (*(uint8_t *)cookie == CONN_ASSOC)
		return assoc_ctrl_data(cookie, data, len, now);
	if (*(uint8_t *)cookie == CONN_DNS)
		return dns_stream_data(cookie, data, len, now);
	return len;
}

size_t zt_router_stream_room(struct zt_router *r, void *cookie)
{
	struct tcp_relay *t = cookie;
	size_t n;

	if (*(uint8_t *)cookie != CONN_TCP || t->phase != PH_OPEN || !t->flow)
		return SIZE_MAX;
	n = zt_stack_tcp_send_room(r->stack, t->flow);
	if (n == 0)
		t->down_paused = true; /* WRITABLE resumes the stream */
	return n;
}

size_t zt_router_stream_recv_runs(struct zt_router *r, void *cookie,
				  size_t len, uint8_t *p[2], size_t n[2])
{
	struct tcp_relay *t = cookie;

	p[0] = p[1] = NULL;
	n[0] = n[1] = 0;
	if (*(uint8_t *)cookie != CONN_TCP || t->phase != PH_OPEN || !t->flow)
		return 0;
	return zt_stack_tcp_send_runs(r->stack, t->flow, len, p, n);
}

void zt_router_stream_recv_commit(struct zt_router *r, void *cookie,
				  size_t len, uint64_t now)
{
	struct tcp_relay *t = cookie;

	if (*(uint8_t *)cookie != CONN_TCP || t->phase != PH_OPEN || !t->flow)
		return;
	t->busy++;
	r->stats.tcp_relayed_down += len;
	zt_stack_tcp_send_commit(r->stack, t->flow, len, now);
	t->busy--;
	tcp_relay_maybe_free(t);
}

void zt_router_stream_eof(struct zt_router *r, void *cookie, uint64_t now)
{
	if (*(uint8_t *)cookie == CONN_TCP) {
		struct tcp_relay *t = cookie;

		t->busy++;
		if (t->phase == PH_OPEN) {
			t->up_eof = true;
			if (t->flow)
				zt_stack_tcp_shutdown(r->stack, t->flow, now);
			/* Our FIN went before: the upstream is done both ways. */
			if (t->up_fin_sent)
				tcp_close_upstream(t, false);
		} else {
			/* The proxy hung up in the middle of its handshake. */
			r->stats.upstream_connect_failed++;
			tcp_refuse(t, ZT_REFUSE_RST, now);
		}
		t->busy--;
		tcp_relay_maybe_free(t);
	} else if (*(uint8_t *)cookie == CONN_ASSOC) {
		/* RFC 1928 7: the association ends with its TCP connection
		 * (before it was made: the proxy hung up on the request). */
		assoc_fail(cookie, ZT_REFUSE_RST, now);
	} else if (*(uint8_t *)cookie == CONN_DNS) {
		struct dns_tunnel *t = cookie;

		/* after OPEN the server closed the connection (RFC 7766
		 * 6.2.3); before it the proxy hung up on the request */
		if (t->phase == PH_OPEN)
			dns_tunnel_lost(t, false, now);
		else
			dns_tunnel_failed(t, ZT_REFUSE_RST, now);
	}
}

void zt_router_stream_writable(struct zt_router *r, void *cookie, uint64_t now)
{
	struct tcp_relay *t = cookie;

	(void)r;
	if (t->kind == CONN_DNS) {
		struct dns_tunnel *d = cookie;

		if (d->hs && d->hs->len && hs_flush(r, d->handle, d->hs) < 0)
			dns_tunnel_failed(d, ZT_REFUSE_RST, now);
		else
			dns_flush(d, now);
		return;
	}
	if (t->kind != CONN_TCP)
		return;
	t->busy++;
	if (t->hs && t->hs->len && tcp_flush_hs(t) < 0)
		tcp_refuse(t, ZT_REFUSE_RST, now);
	t->up_blocked = false;
	tcp_pump_up(t, now);
	t->busy--;
	tcp_relay_maybe_free(t);
}

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

/* Whether the relay's header names the flow's server as the source: its
 * address, or behind a fake address any address (what the proxy
 * resolved the name to) or the name itself, with the server's port. */
static bool socks5_source_ok(const struct udp_relay *u,
			     const struct zt_socks5_addr *src)
{
	if (src->port != u->flow->key.server_port)
		return false;
	if (u->name && src->atyp == ZT_SOCKS5_ATYP_DOMAIN) {
		/* our name is lower case; the relay's may not be */
		if (src->name_len != strlen(u->name))
			return false;
		for (size_t i = 0; i < src->name_len; i++)
			if (tolower((unsigned char)src->name[i]) != u->name[i])
				return false;
		return true;
	}
	if (u->name)
		return true;
	return src->atyp != ZT_SOCKS5_ATYP_DOMAIN &&
	       zt_addr_eq(&src->ip, &u->flow->key.server);
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

static void run_flush(struct zt_router *r, struct udp_relay *u,
		      struct dgram_run *run, uint64_t now)
{
	if (run->n && zt_stack_udp_send_run(r->stack, &u->flow->key, run->data,
					    run->len, run->seg, run->tclass,
					    now) == 0)
		r->stats.udp_relayed_down += run->len;
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
 * @src (socks5_source_ok): one of the address first, else one by name. */
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
 * server the rules route the client's datagrams to as @a carries them:
 * one they drop, or send elsewhere, could not be answered this way, and
 * a drop rule keeps its servers out. */
static bool cone_open(struct zt_router *r, const struct udp_assoc *a,
		      const struct zt_addr *addr, uint16_t port,
		      struct zt_flow_key *k)
{
	bool reject;

	if (!r->cfg.udp_full_cone || addr->family != a->family)
		return false;
	zt_flow_key_set(k, a->family, ZT_IPPROTO_UDP, &a->client,
			a->client_port, addr, port);
	return route_for(r, ZT_IPPROTO_UDP, k, NULL, &reject) == a->decision;
}

/* Datagram @p (@len bytes) to @a's client on flow key @k (cone_open()):
 * its answer opens a flow that joins @a. Return: whether it went
 * (counted: cone in). */
static bool cone_send(struct zt_router *r, const struct udp_assoc *a,
		      const struct zt_flow_key *k, const uint8_t *p, size_t len,
		      uint64_t now)
{
	if (zt_stack_udp_send(r->stack, k, p, len, now) != 0)
		return false;
	if (a->decision == ZT_ROUTE_SOCKS5)
		r->stats.socks5_udp_cone_in++;
	else
		r->stats.udp_cone_in++;
	r->stats.udp_relayed_down += len;
	return true;
}

/* Datagrams @d (@n of them) @from @a's relay socket: each unwrapped and
 * passed to the member whose server it names as its source, runs of one
 * member's together. Only the relay may send on this socket, and only a
 * member's server may be a datagram's source (any server with
 * udp_full_cone): anything else would reach a client as if its server had
 * said it (counted, dropped). */
static void assoc_datagrams(struct zt_router *r, struct udp_assoc *a,
			    const struct zt_endpoint *from,
			    const struct zt_dgram *d, unsigned n, uint64_t now)
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
			    !cone_open(r, a, &src.ip, src.port, &k) ||
			    !cone_send(r, a, &k, payload.data, payload.len, now))
				r->stats.socks5_udp_spoofed++;
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
static void mapping_datagrams(struct zt_router *r, struct udp_assoc *a,
			      const struct zt_endpoint *from,
			      const struct zt_dgram *d, unsigned n, uint64_t now)
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
			if (!open || !cone_send(r, a, &k, d[i].data, d[i].len, now)) {
				if (a->decision == ZT_ROUTE_NAT)
					r->stats.nat_reply_mismatch++;
				else
					r->stats.udp_dropped++;
			}
	}
	a->busy--;
	assoc_maybe_free(a);
}

void zt_router_dgram_batch(struct zt_router *r, void *cookie,
			   const struct zt_endpoint *from,
			   const struct zt_dgram *d, unsigned n, uint64_t now)
{
	struct udp_relay *u = cookie;
	struct dgram_run run = { NULL, 0, 0, 0, false, 0 };

	if (u->kind == CONN_ECHO) {
		echo_replies(r, cookie, from, d, n);
		return;
	}
	if (u->kind == CONN_ASSOC) {
		const struct udp_assoc *a = cookie;

		/* a SOCKS5 datagram names its source inside: each checked */
		if (n && a->decision == ZT_ROUTE_SOCKS5)
			assoc_datagrams(r, cookie, from, d, n, now);
		else if (n)
			mapping_datagrams(r, cookie, from, d, n, now);
		return;
	}
	/* else a query forwarded to the real resolver: only it answers */
	if (u->kind != CONN_UDP || !u->flow || !n || !fwd_sender_ok(r, from, n))
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

void zt_router_dgram_data(struct zt_router *r, void *cookie,
			  const struct zt_endpoint *from, const uint8_t *data,
			  size_t len, uint64_t now)
{
	const struct zt_dgram one = { data, len, 0 };

	zt_router_dgram_batch(r, cookie, from, &one, 1, now);
}

/* An error about an echo request session @e sent: its sequence number is
 * in the quoted request (the identifier is the host's). */
static bool echo_error(struct zt_router *r, struct echo_session *e,
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

/* An error about a datagram of direct or NAT flow @u to its server. */
static bool udp_error(struct zt_router *r, struct udp_relay *u,
		      const struct zt_dgram_error *de, enum zt_icmp_kind kind,
		      uint64_t now)
{
	const struct zt_flow_key *k;

	if (!u->flow || u->forward || u->decision == ZT_ROUTE_SOCKS5)
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
static bool assoc_error(struct zt_router *r, struct udp_assoc *a,
			const struct zt_dgram_error *de, enum zt_icmp_kind kind,
			uint64_t now)
{
	struct udp_relay *m;

	if (a->decision == ZT_ROUTE_SOCKS5)
		return relay_lost(r, a, de, kind, now);
	m = de->to.name[0] ? NULL : assoc_flow_member(a, &de->to.addr, de->to.port);
	return m && udp_error(r, m, de, kind, now);
}

void zt_router_dgram_error(struct zt_router *r, void *cookie,
			   const struct zt_dgram_error *e, uint64_t now)
{
	struct udp_relay *u = cookie;
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
		if (u->kind == CONN_ECHO)
			relayed = echo_error(r, cookie, e, kind, now);
		else if (u->kind == CONN_UDP)
			relayed = udp_error(r, u, e, kind, now);
		else if (u->kind == CONN_ASSOC)
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
	const struct udp_relay *u = cookie;
	int dgram = u->kind == CONN_ECHO ?
			    ((const struct echo_session *)cookie)->dgram :
		    u->kind == CONN_ASSOC ?
			    ((const struct udp_assoc *)cookie)->dgram :
			    u->dgram;
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
	if (err == -EMSGSIZE && *(uint8_t *)cookie == CONN_ASSOC &&
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

void zt_router_stream_failed_icmp(struct zt_router *r, void *cookie, int err,
				  const struct zt_dgram_error *e, uint64_t now)
{
	if (*(uint8_t *)cookie != CONN_TCP) {
		zt_router_stream_failed(r, cookie, err, now);
		return;
	}
	tcp_upstream_failed(cookie, err,
			    relayed_error_kind(e->to.addr.family, e->type,
					       e->code),
			    e, now);
}

/* --- ICMP and the rest -------------------------------------------------- */

/* ICMP echo is answered locally (`local`) or refused (`drop reject`);
 * no decision carries it anywhere else, so every other one drops it. */
static enum zt_echo_verdict echo_verdict(void *host, const struct zt_addr *dst)
{
	struct zt_router *r = host;
	struct zt_flow_key k;
	enum zt_route_decision d;
	bool reject = false;

	memset(&k, 0, sizeof(k));
	k.family = dst->family;
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

static void echo_close(struct echo_session *e)
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
static void echo_forward(void *host, const struct zt_flow_key *key,
			 uint16_t ident, uint16_t seq, const struct zt_fwd_hdr *hdr,
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
static void echo_replies(struct zt_router *r, struct echo_session *e,
			 const struct zt_endpoint *from,
			 const struct zt_dgram *d, unsigned n)
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

/* At echo_due: close the sessions idle for ECHO_IDLE, and find when the
 * next one could be (the deadline stays O(1) for the event loop). */
static void echo_expire(struct zt_router *r, uint64_t now)
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
	.tcp_event = tcp_event,
	.udp_input = udp_input,
	.echo_verdict = echo_verdict,
	.udp_closed = udp_closed,
	.udp_error = NULL,
	.tcp_rx_direct = tcp_rx_direct,
	.echo_forward = echo_forward,
};


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
	    !up->dgram_close)
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

/* Empty the gather list, each relay's bytes sent first if @send (the
 * batch's end) or not (the router is being freed), and its reference let
 * go: a relay whose flow ended within the batch is freed here. */
static void tcp_gather_end(struct zt_router *r, bool send, uint64_t now)
{
	for (unsigned i = 0; i < r->n_gather; i++) {
		struct tcp_relay *t = r->gather[i];

		t->gathering = false;
		if (send)
			tcp_pump_up(t, now);
		t->busy--;
		tcp_relay_maybe_free(t);
	}
	r->n_gather = 0;
}

void zt_router_free(struct zt_router *r)
{
	if (!r)
		return;
	/* freed inside a batch: the gather list lets go of its relays, which
	 * the flows' ends below then free */
	tcp_gather_end(r, false, 0);
	zt_stack_free(r->stack); /* each flow's relay closes its upstream */
	for (unsigned i = 0; i < ECHO_SESSIONS && r->n_echo; i++)
		if (r->echo[i].used)
			echo_close(&r->echo[i]);
	zt_nat_destroy(&r->nat);
	zt_fakedns_free(r->fake);
	free(r);
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

/* A NAT session ran out: close its flow (udp_closed frees the relay). */
static void nat_expired(void *ctx, struct zt_nat_session *s, uint64_t now)
{
	struct zt_router *r = ctx;
	struct udp_relay *u = s->user;

	if (!u)
		return;
	u->nat = NULL; /* the table removes the session itself */
	if (u->flow)
		zt_stack_udp_close(r->stack, u->flow, now);
}

void zt_router_poll(struct zt_router *r, uint64_t now)
{
	zt_stack_poll(r->stack, now);
	if (r->n_echo && r->echo_due <= now)
		echo_expire(r, now);
	while (zt_nat_next_deadline(&r->nat) <= now)
		if (zt_nat_expire(&r->nat, now, nat_expired, r) == 0)
			break;
}

uint64_t zt_router_deadline(const struct zt_router *r)
{
	/* The NAT table reschedules lazily refreshed timers when asked; that
	 * changes no observable state, so the router stays const here. */
	struct zt_nat *nat = (struct zt_nat *)&r->nat;
	uint64_t d = zt_stack_deadline(r->stack), n = zt_nat_next_deadline(nat);

	if (n < d)
		d = n;
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
