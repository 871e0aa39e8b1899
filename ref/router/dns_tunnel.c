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

	if (t->handle >= 0)
		t->r->up->stream_close(t->r->host, t->handle, abort);
	t->handle = -1;
	zt_heap_remove(&t->r->hs_timers, &t->timer.node);
	free(t->hs);
	t->hs = NULL;
	zt_dns_tcp_destroy(&t->dns);
	zt_dns_tcp_init(&t->dns);
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
	t->up = false;
	t->answered = 0;
	zt_heap_remove(&r->hs_timers, &t->timer.node); /* a stream lost meanwhile */
	zt_heap_insert(&r->hs_timers, &t->timer.node,
		       now + r->cfg.stack.connect_timeout);
	r->stats.dns_tcp_connections++;
	return 0;
}

/* A tunnel for @u, its stream opening (@evict: dns_tunnel_open()).
 * Return: 0 or a negative errno (nothing left behind). */
int dns_tunnel_new(struct zt_router *r, struct udp_relay *u, bool evict,
		   uint64_t now)
{
	struct dns_tunnel *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return -ENOMEM;
	t->kind = CONN_DNS;
	t->timer.kind = CONN_DNS;
	t->r = r;
	t->u = u;
	t->handle = -1;
	zt_dns_tcp_init(&t->dns);
	u->dns = t;
	err = dns_tunnel_open(t, evict, now);
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
	free(t->hs); /* the lost stream's: a new one has its own */
	t->hs = NULL;
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

/* A query of the flow, framed and sent as far as the stream takes it;
 * one the framer refuses (full, not a query) is counted dropped, and a
 * retry of one that waits, which it does not frame again, not at all. */
void dns_query(struct dns_tunnel *t, const uint8_t *q, size_t len,
	       uint64_t now)
{
	unsigned waiting = t->dns.n_pending;

	if (zt_dns_tcp_query(&t->dns, q, len) < 0) {
		t->r->stats.dns_tcp_dropped++;
		return;
	}
	if (t->dns.n_pending == waiting)
		return; /* a retry: the first goes, or went, on the stream */
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
void dns_tunnel_failed(struct dns_tunnel *t, enum zt_refuse how, uint64_t now)
{
	if (t->phase != PH_OPEN) {
		t->r->stats.upstream_connect_failed++;
		udp_fail(t->u, how, now); /* frees t */
		return;
	}
	dns_tunnel_lost(t, true, now);
}

/* The stream reached the proxy: the handshake begins. */
void dns_connected(struct dns_tunnel *t, uint64_t now)
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
	t->up = true;
}

/* The open stream must answer one of its waiting queries by the connect
 * timeout from @now (dns_timeout()). */
static void dns_answer_deadline(struct dns_tunnel *t, uint64_t now)
{
	zt_heap_remove(&t->r->hs_timers, &t->timer.node);
	zt_heap_insert(&t->r->hs_timers, &t->timer.node,
		       now + t->r->cfg.stack.connect_timeout);
}

/* Bytes from the stream: the proxy's handshake, then framed answers;
 * the stream closes once no query waits. */
size_t dns_stream_data(struct dns_tunnel *t, const uint8_t *data, size_t len,
		       uint64_t now)
{
	unsigned answered;
	size_t used = 0;

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
	t->now = now;
	answered = t->answered;
	if (zt_dns_tcp_input(&t->dns, data + used, len - used, t->r->scratch,
			     sizeof(t->r->scratch), dns_answer, t) < 0)
		dns_tunnel_close(t, true); /* not DNS: reset */
	else if (!zt_dns_tcp_waiting(&t->dns) && !zt_dns_tcp_output(&t->dns).len)
		dns_tunnel_close(t, false); /* every query answered */
	else if (t->answered != answered)
		dns_answer_deadline(t, now); /* it answers: more time */
	return len;
}

/* The stream ended: after OPEN the server closed the connection (RFC
 * 7766 6.2.3); before it the proxy hung up on the request. */
void dns_stream_eof(struct dns_tunnel *t, uint64_t now)
{
	if (t->phase == PH_OPEN)
		dns_tunnel_lost(t, false, now);
	else
		dns_tunnel_failed(t, ZT_REFUSE_RST, now);
}

/* Room on the stream: the handshake's bytes, else the framed queries. */
void dns_stream_writable(struct dns_tunnel *t, uint64_t now)
{
	if (t->hs && t->hs->len && hs_flush(t->r, t->handle, t->hs) < 0)
		dns_tunnel_failed(t, ZT_REFUSE_RST, now);
	else
		dns_flush(t, now);
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
	dns_tunnel_failed(t, t->up ? ZT_REFUSE_RST : refuse_for_errno(-ETIMEDOUT),
			  now);
}
