/* SPDX-License-Identifier: MIT */
/*
 * dns_tunnel.c - DNS over TCP through a proxy for a UDP flow to port 53
 * (cfg.dns_over_tcp, or cfg.dns_tcp_fallback after a SOCKS5 reply 7).
 *
 * Theory of operation:
 *
 * A UDP flow to port 53 whose decision is SOCKS5 or HTTP gets a
 * dns_tunnel instead of an association (udp_input()); so does one whose
 * SOCKS5 association the proxy refused as a command it does not support,
 * taking the queries that waited for it along (assoc_dns_to_tcp()), and
 * every SOCKS5 one after that refusal. The tunnel is a stream through
 * the flow's proxy to its server's port 53, opened with a query when none
 * is open, whose handshake runs on the same helpers as a TCP flow's
 * (hs_begin(), hs_input(): tcp_relay.c). The flow's queries wait in its
 * queue until the handshake is done (the flow is not ready), then go
 * framed (dns_tcp.h: RFC 7766, answers matched by ID and question and
 * truncated to the asker's UDP size), and each answer reaches the client
 * as a datagram from the server.
 *
 * The stream is closed as soon as no query waits for its answer: a stub
 * resolver asks from a fresh socket each time, and a stream kept for the
 * flow's 30 s would hold a proxy connection per lookup; queries sent
 * together (A and AAAA) share one. When the server closes it with
 * queries waiting, they go again on a new one if it answered any
 * (dns_tunnel_lost()). A stream whose connect or handshake has not
 * ended by the connect timeout a TCP flow through the proxy has fails as
 * a refused one does (dns_timeout(), the router's timer): a proxy that
 * takes the connection and never answers, or never takes it, fails the
 * waiting queries then, not at the flow's idle timeout, which the
 * client's retries would hold off for ever. So does an open stream on
 * which queries wait and no answer came for as long (the deadline moves
 * with each answer): a server that took a query and dropped it would
 * otherwise hold the stream, and the client's retries, which are not
 * framed again, would never reach a server; it is reset and its queries
 * lost or asked again as when the server closes it. A tunnel is owned
 * by its udp_relay and freed with its flow.
 *
 * The fake-IP resolver's TCP client (tcp_relay.c, local_dns_pump()) has a
 * tunnel too once it asks a name the resolver forwards: a direct stream
 * to cfg.fake_dns.upstream (no handshake: OPEN once connected), the same
 * framing, the answers whole (the asker reads TCP, no UDP size), their
 * addresses learned as a forwarded UDP query's are. Its relay sends one
 * message at a time (answers go in the order of the questions), so at
 * most one query waits; the answer is handed to the relay
 * (local_dns_answered()), and a query the tunnel loses (refused, reset,
 * timed out, as above: a server that answered on the stream before gets
 * it again on a new one) is answered SERVFAIL by the relay. Its stream
 * is kept while idle, for the connection's next forwarded message (no
 * deadline runs then), until the server closes it or the relay goes.
 * Every event of such a tunnel's stream ends with local_dns_resume(),
 * the last thing done: the relay sends what came and may free the
 * tunnel. The relay's own calls in (dns_forward()) never call it back.
 */
#include "router_priv.h"

#include <errno.h>
#include <stdlib.h>

/* The stream closed (reset with @abort) and the framing forgotten: the
 * flow's next query opens another (dns_tunnel_open()). Queries the
 * stream had not answered are lost, as datagrams may be; the client asks
 * again. */
static void dns_tunnel_close(struct dns_tunnel *t, bool abort)
{
	struct udp_relay *u = t->u;

	proxy_let_go(t->r, t); /* a probe given up */
	if (t->handle >= 0)
		t->r->up->stream_close(t->r->host, t->handle, abort);
	t->handle = -1;
	zt_heap_remove(&t->r->hs_timers, &t->timer.node);
	free(t->hs);
	t->hs = NULL;
	zt_dns_tcp_destroy(&t->dns);
	zt_dns_tcp_init(&t->dns);
	if (u)
		u->ready = false;
}

/* @t closed and freed, with its flow. */
void dns_tunnel_free(struct dns_tunnel *t)
{
	dns_tunnel_close(t, false);
	free(t);
}

/* Open the stream to the proxy; with @evict making room for its socket
 * by ending idle flows (only while this flow's datagram is being handled:
 * the stack never evicts that one). Return: 0 or a negative errno. */
int dns_tunnel_open(struct dns_tunnel *t, bool evict, uint64_t now)
{
	struct zt_router *r = t->r;
	/* the fake-IP resolver's upstream is reached direct, no proxy */
	enum zt_route_decision d = t->c ? ZT_ROUTE_DIRECT : t->u->decision;
	const struct zt_endpoint *to = t->c ? &r->cfg.fake_dns.upstream :
				       d == ZT_ROUTE_SOCKS5 ?
				       &r->cfg.socks5.server :
				       &r->cfg.http.server;
	unsigned flags = t->c ? ZT_UPSTREAM_DIRECT : 0;
	int h;

	/* a proxy down, its probe under way: refused as a stream whose
	 * connect timed out is (dns_timeout()) */
	if (proxy_refuses(r, d, false))
		return -EHOSTUNREACH;
	h = evict ? open_stream(r, to, flags, t, now) :
		    r->up->stream_open(r->host, to, flags, t, now);
	if (h < 0)
		return h;
	proxy_opened(r, d, t, &t->px_gen);
	t->handle = h;
	t->phase = PH_CONNECTING;
	t->up = false;
	t->answered = 0;
	zt_heap_remove(&r->hs_timers, &t->timer.node); /* a stream lost meanwhile */
	zt_heap_insert(&r->hs_timers, &t->timer.node,
		       now + r->cfg.stack.connect_timeout);
	r->stats.dns_tcp_connections++;
	return 0;
}

/* A tunnel of @r, owned by nobody yet, no stream; NULL without memory. */
static struct dns_tunnel *dns_tunnel_alloc(struct zt_router *r)
{
	struct dns_tunnel *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->kind = CONN_DNS;
	t->timer.kind = CONN_DNS;
	t->r = r;
	t->handle = -1;
	zt_dns_tcp_init(&t->dns);
	return t;
}

/* A tunnel for @u, its stream opening (@evict: dns_tunnel_open()).
 * Return: 0 or a negative errno (nothing left behind). */
int dns_tunnel_new(struct zt_router *r, struct udp_relay *u, bool evict,
		   uint64_t now)
{
	struct dns_tunnel *t = dns_tunnel_alloc(r);
	int err;

	if (!t)
		return -ENOMEM;
	t->u = u;
	u->dns = t;
	err = dns_tunnel_open(t, evict, now);
	if (err < 0) {
		u->dns = NULL;
		free(t);
	}
	return err;
}

/* A tunnel for the fake-IP resolver's TCP client @c, its stream not
 * opened yet (dns_forward()); NULL without memory. */
struct dns_tunnel *dns_tunnel_local(struct zt_router *r, struct tcp_relay *c)
{
	struct dns_tunnel *t = dns_tunnel_alloc(r);

	if (t)
		t->c = c;
	return t;
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

	proxy_let_go(r, t);
	if (t->handle >= 0)
		r->up->stream_close(r->host, t->handle, abort);
	t->handle = -1;
	free(t->hs); /* the lost stream's: a new one has its own */
	t->hs = NULL;
	if (t->u)
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

/* The framed queries, as far as the stream takes them, after what is
 * left of the handshake's request (a proxy may answer before it read all
 * of it): the request's end must not be replaced by a query. */
static void dns_flush(struct dns_tunnel *t, uint64_t now)
{
	struct zt_view out = zt_dns_tcp_output(&t->dns);
	ssize_t n;

	if (t->handle < 0 || t->phase != PH_OPEN)
		return;
	if (t->hs) {
		if (hs_flush(t->r, t->handle, t->hs) < 0) {
			dns_tunnel_lost(t, true, now);
			return;
		}
		if (t->hs->len)
			return; /* the rest on WRITABLE */
		free(t->hs);
		t->hs = NULL;
	}
	if (!out.len)
		return;
	n = t->r->up->stream_send(t->r->host, t->handle, out.data, out.len);
	if (n < 0)
		dns_tunnel_lost(t, true, now);
	else
		zt_dns_tcp_sent(&t->dns, (size_t)n);
}

/* The open stream must answer one of its waiting queries by the connect
 * timeout from @now (dns_timeout()). */
static void dns_answer_deadline(struct dns_tunnel *t, uint64_t now)
{
	zt_heap_remove(&t->r->hs_timers, &t->timer.node);
	zt_heap_insert(&t->r->hs_timers, &t->timer.node,
		       now + t->r->cfg.stack.connect_timeout);
}

/* A query of the flow, framed and sent as far as the stream takes it;
 * one the framer refuses (full, not a query) is counted dropped, and a
 * retry of one that waits, which it does not frame again, not at all. */
void dns_query(struct dns_tunnel *t, const uint8_t *q, size_t len,
	       uint64_t now)
{
	unsigned waiting = t->dns.n_pending;

	if (zt_dns_tcp_query_limit(&t->dns, q, len, t->c ? 65535 : 0) < 0) {
		t->r->stats.dns_tcp_dropped++;
		return;
	}
	if (t->dns.n_pending == waiting)
		return; /* a retry: the first goes, or went, on the stream */
	t->r->stats.dns_tcp_queries++;
	if (!t->c)
		t->r->stats.udp_relayed_up += len;
	if (!waiting && t->handle >= 0 && t->phase == PH_OPEN)
		dns_answer_deadline(t, now); /* a kept stream, idle till now */
	dns_flush(t, now);
}

/* Message @q (@len bytes) that the fake-IP resolver's TCP client @t's
 * relay forwards: framed, its stream opened when none is (without
 * evicting flows: the caller's own could be the one). A query it could
 * not take or send, or whose stream cannot be opened, does not wait
 * when this returns: the relay answers it SERVFAIL. */
void dns_forward(struct dns_tunnel *t, const uint8_t *q, size_t len,
		 uint64_t now)
{
	if (t->handle < 0) {
		if (!zt_dns_tcp_is_query(q, len)) {
			t->r->stats.dns_tcp_dropped++;
			return;
		}
		if (dns_tunnel_open(t, false, now) < 0) {
			t->r->stats.upstream_connect_failed++;
			return;
		}
	}
	dns_query(t, q, len, now);
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
	if (t->c) {
		/* as a forwarded UDP query's answer (fwd_datagrams()) */
		zt_fakedns_learn(r->fake, msg, len);
		local_dns_answered(t->c, msg, len); /* sent on resume */
		return;
	}
	if (zt_stack_udp_send(r->stack, &t->u->flow->key, msg, len, t->now) == 0)
		r->stats.udp_relayed_down += len;
	else /* lost on the way (the framer keeps it within a datagram) */
		r->stats.udp_dropped++;
}

/* The stream failed before the handshake was done (@how): the waiting
 * queries refused as a UDP association's are (udp_fail(), which ends the
 * flow and @t with it); or after it (dns_tunnel_lost()). */
void dns_tunnel_failed(struct dns_tunnel *t, enum zt_refuse how, uint64_t now)
{
	if (t->phase != PH_OPEN) {
		t->r->stats.upstream_connect_failed++;
		if (t->c)
			dns_tunnel_close(t, false); /* its query: SERVFAIL */
		else
			udp_fail(t->u, how, now); /* frees t */
		return;
	}
	dns_tunnel_lost(t, true, now);
}

/* The host reports the stream failed (@how): dns_tunnel_failed(). */
void dns_stream_failed(struct dns_tunnel *t, enum zt_refuse how, uint64_t now)
{
	struct tcp_relay *c = t->c; /* t may be freed with a UDP flow */

	dns_tunnel_failed(t, how, now);
	if (c)
		local_dns_resume(c, now);
}

/* The stream reached the proxy: the handshake begins. */
void dns_connected(struct dns_tunnel *t, uint64_t now)
{
	const struct zt_flow_key *k;

	if (t->u)
		proxy_reached(t->r, t->u->decision, t, t->px_gen);
	if (t->c) { /* direct: no handshake */
		t->phase = PH_OPEN;
		t->up = true;
		dns_answer_deadline(t, now);
		dns_flush(t, now);
		local_dns_resume(t->c, now);
		return;
	}
	k = &t->u->flow->key;
	t->hs = calloc(1, sizeof(*t->hs));
	if (!t->hs ||
	    hs_begin(t->r, t->hs, t->u->decision, t->u->name, &k->server,
		     k->server_port) < 0 ||
	    hs_flush(t->r, t->handle, t->hs) < 0) {
		dns_tunnel_failed(t, ZT_REFUSE_RST, now);
		return;
	}
	t->phase = PH_HANDSHAKE;
	t->up = true;
}

/* Framed answers from the open stream: a UDP flow's stream closes once
 * no query waits, a TCP client's is kept, idle (no deadline). */
static void dns_stream_input(struct dns_tunnel *t, const uint8_t *data,
			     size_t len, uint64_t now)
{
	unsigned answered = t->answered;

	if (t->phase != PH_OPEN || t->handle < 0)
		return;
	t->now = now;
	if (zt_dns_tcp_input(&t->dns, data, len, t->r->scratch,
			     sizeof(t->r->scratch), dns_answer, t) < 0)
		dns_tunnel_close(t, true); /* not DNS: reset */
	else if (zt_dns_tcp_waiting(&t->dns) || zt_dns_tcp_output(&t->dns).len) {
		if (t->answered != answered)
			dns_answer_deadline(t, now); /* it answers: more time */
	} else if (t->c)
		zt_heap_remove(&t->r->hs_timers, &t->timer.node); /* idle */
	else
		dns_tunnel_close(t, false); /* every query answered */
}

/* Bytes from the stream: the proxy's handshake (none on a direct one),
 * then framed answers (dns_stream_input()). */
size_t dns_stream_data(struct dns_tunnel *t, const uint8_t *data, size_t len,
		       uint64_t now)
{
	size_t used = 0;

	if (t->c) {
		dns_stream_input(t, data, len, now);
		local_dns_resume(t->c, now);
		return len;
	}
	if (t->phase == PH_HANDSHAKE) {
		enum zt_refuse how = ZT_REFUSE_RST;

		switch (hs_input(t->r, t->hs, t->u->decision, t->handle, data,
				 len, &used, &how)) {
		case HS_FAILED:
		case HS_BROKEN:
			dns_tunnel_failed(t, how, now);
			return len;
		case HS_MORE:
			return used;
		case HS_READY:
			break;
		}
		t->phase = PH_OPEN; /* hs kept until dns_flush() sent it all */
		dns_answer_deadline(t, now);
		t->u->ready = true;
		dns_flush(t, now); /* queries again after a lost stream */
		udp_flush_queue(t->u, now);
	}
	if (t->phase != PH_OPEN || t->handle < 0)
		return len; /* closed while the queue was sent */
	dns_stream_input(t, data + used, len - used, now);
	return len;
}

/* The stream ended: after OPEN the server closed the connection (RFC
 * 7766 6.2.3); before it the proxy hung up on the request. */
void dns_stream_eof(struct dns_tunnel *t, uint64_t now)
{
	struct tcp_relay *c = t->c; /* t may be freed with a UDP flow */

	if (t->phase == PH_OPEN)
		dns_tunnel_lost(t, false, now);
	else
		dns_tunnel_failed(t, ZT_REFUSE_RST, now);
	if (c)
		local_dns_resume(c, now);
}

/* Room on the stream: the handshake's bytes, else the framed queries. */
void dns_stream_writable(struct dns_tunnel *t, uint64_t now)
{
	struct tcp_relay *c = t->c; /* t may be freed with a UDP flow */

	if (t->hs && t->hs->len && hs_flush(t->r, t->handle, t->hs) < 0)
		dns_tunnel_failed(t, ZT_REFUSE_RST, now);
	else
		dns_flush(t, now);
	if (c)
		local_dns_resume(c, now);
}

/*
 * The router's timer (hs_expire()): a tunnel whose stream has not
 * connected and passed its handshake by its deadline fails (dns_tunnel_failed(), which
 * frees it with its flow), its waiting queries answered as a TCP flow
 * through the proxy is refused: a port unreachable when the proxy took
 * the connection and did not answer (the stack's connect timeout resets
 * a TCP flow's SYN), host unreachable when it never took it. An open
 * stream that answered none of its waiting queries for as long is reset
 * and lost as a server's reset one is (dns_tunnel_lost()).
 */
void dns_timeout(struct dns_tunnel *t, uint64_t now)
{
	if (!t->up && t->u) /* its proxy not reached */
		proxy_unreached(t->r, t->u->decision, t, t->px_gen, -ETIMEDOUT);
	dns_stream_failed(t, t->up ? ZT_REFUSE_RST :
			  refuse_for_errno(-ETIMEDOUT), now);
}
