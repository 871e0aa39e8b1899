/* SPDX-License-Identifier: MIT */
/*
 * tcp_relay.c - a TCP flow relayed to its upstream: the destination, or
 * a SOCKS5 or HTTP CONNECT proxy.
 *
 * Theory of operation:
 *
 * Each TCP flow gets a tcp_relay when its SYN arrives (tcp_new()):
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
 * the reply (tcp_up_room()); the FIN still waits for OPEN. Handshake
 * bytes the upstream has not taken go before any client byte or FIN,
 * even once OPEN (a proxy may answer before it read all of the request).
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
 * client's side ends: nothing more can cross it. A flow that ends cleanly
 * (TIME_WAIT over or reopened, LAST_ACK done) while client bytes we ACKed
 * still wait in its ring, the upstream not reading them, resets the
 * upstream (tcp_unsent_reset): data accepted is delivered or the flow
 * reset, never cut short behind a clean EOF.
 *
 * An upstream that resets (or fails) behind its bytes, OPEN: what the
 * flow's send ring still holds for the client goes first and the RST
 * after it (tcp_drain_check(), on each ACK that frees ring space), as a
 * direct client reads what came before the server's RST; a RST, not a
 * FIN, since the stream did not end cleanly. Client bytes meanwhile
 * (none can reach the dead upstream) reset the flow at once, and so does
 * ZT_ROUTER_RST_DRAIN_MAX after the upstream's end (tcp_drain_timeout():
 * a client that keeps its window closed and answers our probes is
 * bounded by no tcb limit). A ring already empty resets at once.
 *
 * Lifetime: a relay can be reached from both sides (the flow's user pointer
 * and the upstream cookie). It is freed when the flow ended and the
 * upstream was closed; calls that may end a flow hold a reference (busy)
 * so that a relay is never freed under a caller's feet, and so does a
 * batch's gather list until the batch ends.
 *
 * A flow to the fake-IP resolver's port 53 gets a relay without an
 * upstream: its DNS over TCP is answered here (local_dns_pump()), but
 * for the messages the resolver forwards, which go to the real resolver
 * through a DNS tunnel of the relay's (dns_tunnel.c).
 *
 * The proxy's handshake is started and fed by hs_begin(), hs_input() and
 * hs_flush(), which are bound to no flow: a DNS tunnel (dns_tunnel.c)
 * runs its handshake on them too.
 */
#include "router_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ztun/dns_wire.h"

static void tcp_relay_maybe_free(struct tcp_relay *t)
{
	if (t->busy == 0 && !t->flow && t->handle < 0) {
		if (t->fwd)
			dns_tunnel_free(t->fwd);
		free(t->ans);
		free(t->hs);
		fake_release(t->r, t->fake_hold);
		free(t->name);
		free(t);
	}
}

/* @abort: by a reset, as the client's flow ended (see upstream.h). */
static void tcp_close_upstream(struct tcp_relay *t, bool abort)
{
	proxy_let_go(t->r, t); /* a probe given up */
	if (t->handle >= 0) {
		t->r->up->stream_close(t->r->host, t->handle, abort);
		t->handle = -1;
	}
}

/* Whether client bytes ztun accepted (ACKed) wait in @t's ring unsent:
 * ending the upstream with a FIN would pass what went (maybe nothing) for
 * all the client sent. Before OPEN only after an early SYN-ACK. */
static bool tcp_unsent(const struct tcp_relay *t)
{
	return t->flow && t->handle >= 0 && zt_tcb_recv_len(&t->flow->tcb) > 0;
}

/* Refuse the client and drop the upstream: with a reset once early data
 * went behind the request, or client bytes were accepted (after an early
 * SYN-ACK), since a proxy that answered what we refuse (a malformed
 * reply) may be connected onward already, and must not pass a FIN as
 * the clean end of what the client sent. A client still PENDING is
 * refused as @how says; one that has its SYN-ACK already (a proxy that
 * answered before the rest of the request could be sent) is reset. */
static void tcp_refuse(struct tcp_relay *t, enum zt_refuse how, uint64_t now)
{
	struct zt_router *r = t->r;

	tcp_close_upstream(t, t->early_sent || tcp_unsent(t));
	if (!t->flow)
		return;
	if (t->flow->pending)
		zt_stack_tcp_reject(r->stack, t->flow,
				    zt_refuse_icmp_code(how, t->flow->key.family), now);
	else
		zt_stack_tcp_abort(r->stack, t->flow, now);
}

/* The stream failed @t: counted as a connect that failed while the
 * tunnel was not open yet (as hs_input()'s HS_BROKEN is), as an upstream
 * reset once it was. */
static void tcp_count_broken(struct tcp_relay *t)
{
	if (t->phase == PH_OPEN)
		t->r->stats.upstream_reset++;
	else
		t->r->stats.upstream_connect_failed++;
}

/* The handshake could not begin (no memory, a name no request carries)
 * or its bytes could not be sent (the stream broke). */
static void tcp_hs_broken(struct tcp_relay *t, uint64_t now)
{
	tcp_count_broken(t);
	tcp_refuse(t, ZT_REFUSE_RST, now);
}

/* Offer @hs's pending bytes to stream @handle. Return: 0 (all taken, or
 * the rest waits for WRITABLE) or a negative errno. */
int hs_flush(struct zt_router *r, int handle, struct tcp_handshake *hs)
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

/* Whether handshake bytes wait for the upstream to take them. */
static bool hs_waiting(const struct tcp_relay *t)
{
	return t->hs && t->hs->off < t->hs->len;
}

/* Every byte a handshake writes is written once, and the buffer empties
 * only once all of it was sent, so the most it can hold is all a
 * handshake ever writes: a pipelined SOCKS5 first flight, a greeting and
 * what zt_socks5_input() may add (RFC 1929 request, command request, 779
 * bytes with 255-byte names), or a CONNECT request. The check below can
 * then never drop a byte. */
_Static_assert(HS_BUF >= ZT_SOCKS5_PIPELINED_MAX &&
		       HS_BUF >= ZT_SOCKS5_GREETING_MAX + ZT_SOCKS5_OUT_MAX &&
		       HS_BUF >= ZT_HTTP_CONNECT_REQUEST_MAX,
	       "HS_BUF holds a whole proxy handshake");

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
		t->early_sent |= sent > 0;
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
	/* handshake bytes not yet taken go first, even once OPEN (a proxy
	 * that answered before it read all of the request) */
	if (hs_waiting(t))
		return 0;
	if (t->phase == PH_OPEN)
		return SIZE_MAX;
	if (t->phase != PH_HANDSHAKE || !t->hs)
		return 0;
	return t->early_left;
}

static void local_dns_pump(struct tcp_relay *t, uint64_t now);

/* A relay draining behind its upstream's reset (rst_drain): the client
 * is reset once the send ring is empty (all sent and acknowledged), or
 * at once if it sent bytes that can go nowhere; else the next ACK that
 * frees ring space (WRITABLE, through down_paused) looks again. */
static void tcp_drain_check(struct tcp_relay *t, uint64_t now)
{
	const struct zt_tcb *tcb = &t->flow->tcb;

	if (zt_tcb_recv_len(tcb) == 0 && zt_ring_len(&tcb->tx) > 0) {
		t->down_paused = true;
		return;
	}
	zt_stack_tcp_abort(t->r->stack, t->flow, now);
}

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

/* Client -> upstream, as far as the upstream takes. */
static void tcp_pump_up(struct tcp_relay *t, uint64_t now)
{
	struct zt_router *r = t->r;

	if (t->local_dns) {
		local_dns_pump(t, now);
		return;
	}
	if (!t->flow || t->handle < 0) {
		if (t->rst_drain && t->flow)
			tcp_drain_check(t, now); /* the client's bytes: reset */
		return;
	}
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
			/* a reset both ways: a FIN would tell the upstream
			 * that what it got is all the client sent (early
			 * data's: a connect that failed, no reply came) */
			tcp_count_broken(t);
			tcp_close_upstream(t, true);
			zt_stack_tcp_abort(r->stack, t->flow, now);
			return;
		}
		tcp_sent_up(t, n, (size_t)sent);
		zt_stack_tcp_consume(r->stack, t->flow, (size_t)sent, now);
		if (!t->flow)
			return;
	}
	if (t->phase == PH_OPEN && t->client_fin && !t->up_fin_sent &&
	    zt_tcb_recv_len(&t->flow->tcb) == 0 && !hs_waiting(t)) {
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
 * The message at the head of @t's receive ring (@mlen bytes after its
 * length) went to the real resolver: its answer, as far as the send ring
 * takes it (the rest on WRITABLE). A query the tunnel no longer waits for
 * and has no answer to was lost: refused or reset by the resolver, or
 * timed out (dns_tunnel.c), or never sent (no memory, no socket): it is
 * answered SERVFAIL, as a recursive resolver answers a query its
 * upstreams failed (RFC 1035 4.1.1 "server failure"), so that the
 * client's lookup fails now instead of at its timeout, and its
 * connection still serves the messages behind it. Return: whether the
 * answer went whole (the message may be consumed).
 */
static bool local_dns_fwd_done(struct tcp_relay *t, size_t mlen, uint64_t now)
{
	struct zt_router *r = t->r;
	struct zt_dns_query dq;
	uint8_t q[DNS_TCP_MAX];
	int n;

	if (t->ans) {
		t->ans_off += zt_stack_tcp_send(r->stack, t->flow,
						t->ans + t->ans_off,
						t->ans_len - t->ans_off, now);
		if (!t->flow || t->ans_off < t->ans_len)
			return false; /* reset (no memory), or the rest later */
		free(t->ans);
		t->ans = NULL;
		return true;
	}
	if (t->fwd && zt_dns_tcp_waiting(&t->fwd->dns))
		return false; /* still asked */
	if (zt_stack_tcp_send_room(r->stack, t->flow) < 2 + ZT_DNS_UDP_MAX)
		return false;
	recv_copy(r->stack, t->flow, 2, q, mlen);
	/* the resolver read it to forward it: the question is there */
	if (zt_dns_parse_query(zt_view_make(q, mlen), &dq) < 0)
		return true;
	n = zt_dns_build_answer(&dq, ZT_DNS_SERVFAIL, NULL, 0, 0,
				r->scratch + 2, ZT_DNS_UDP_MAX);
	if (n < 0)
		return true;
	r->stats.dns_tcp_servfail++;
	zt_wr16(r->scratch, (uint16_t)n);
	zt_stack_tcp_send(r->stack, t->flow, r->scratch, (size_t)n + 2, now);
	return t->flow != NULL;
}

/* An answer to the message @t's tunnel forwarded (@msg, @len bytes,
 * borrowed), kept framed until local_dns_resume() sends it: the tunnel
 * is inside its own input, and a send may end the flow. Without memory
 * the message is answered SERVFAIL instead (local_dns_fwd_done()). */
void local_dns_answered(struct tcp_relay *t, const uint8_t *msg, size_t len)
{
	if (t->ans || !t->flow || !t->fwd_wait)
		return; /* not asked (one waits at a time) */
	t->ans = malloc(len + 2);
	if (!t->ans)
		return;
	zt_wr16(t->ans, (uint16_t)len);
	memcpy(t->ans + 2, msg, len);
	t->ans_len = len + 2;
	t->ans_off = 0;
}

/* @t's tunnel had an event (an answer, a lost query, room): the answers
 * go on. The last thing the tunnel's event does: @t may free it. */
void local_dns_resume(struct tcp_relay *t, uint64_t now)
{
	t->busy++;
	local_dns_pump(t, now);
	t->busy--;
	tcp_relay_maybe_free(t);
}

/*
 * DNS over TCP to the fake-IP resolver (RFC 1035 4.2.2, RFC 7766): each
 * whole message in the receive ring (a 2-byte length, then the message)
 * is answered in order, once the send ring has room for the answer (else
 * on WRITABLE); a length past DNS_TCP_MAX resets the client. A message
 * the resolver forwards (a name the rules send direct or nat, with
 * cfg.fake_dns.upstream) goes to the real resolver over TCP (the relay's
 * tunnel, dns_forward()) and stays at the head of the ring, the messages
 * behind it waiting, until its answer is all in the send ring
 * (local_dns_fwd_done()): one at a time, so that the answers keep the
 * questions' order. The client's FIN, once everything before it was
 * answered, is answered with ours (the tunnel closed: nothing more to
 * forward); a message it cut short is dropped (nothing can complete it),
 * so the flow does not wait in CLOSE_WAIT for the idle timeout.
 */
static void local_dns_pump(struct tcp_relay *t, uint64_t now)
{
	struct zt_router *r = t->r;
	uint8_t q[DNS_TCP_MAX];
	bool partial = false;

	while (t->flow) {
		size_t have = zt_tcb_recv_len(&t->flow->tcb), mlen;
		struct fake_ask ask;
		uint8_t len2[2];
		int n;

		if (have < 2) {
			partial = have > 0;
			break;
		}
		recv_copy(r->stack, t->flow, 0, len2, 2);
		mlen = zt_rd16(len2);
		if (mlen > DNS_TCP_MAX) {
			zt_fakedns_unread(r->fake);
			zt_stack_tcp_abort(r->stack, t->flow, now);
			return;
		}
		if (have < 2 + mlen) {
			partial = true;
			break;
		}
		if (t->fwd_wait) {
			if (!local_dns_fwd_done(t, mlen, now))
				break; /* its answer not in yet (or on WRITABLE) */
			t->fwd_wait = false;
			zt_stack_tcp_consume(r->stack, t->flow, 2 + mlen, now);
			continue;
		}
		if (zt_stack_tcp_send_room(r->stack, t->flow) < 2 + mlen + ZT_DNS_UDP_MAX)
			break;
		recv_copy(r->stack, t->flow, 2, q, mlen);
		ask.r = r;
		ask.client = t->flow->key.client;
		n = zt_fakedns_answer(r->fake, q, mlen, fake_policy, &ask,
				      r->scratch + 2, sizeof(r->scratch) - 2);
		if (n == 0) { /* forwarded: answered when its answer comes */
			if (!t->fwd)
				t->fwd = dns_tunnel_local(r, t);
			if (t->fwd)
				dns_forward(t->fwd, q, mlen, now);
			t->fwd_wait = true; /* not waiting in it: SERVFAIL */
			continue;
		}
		if (n > 0) {
			zt_wr16(r->scratch, (uint16_t)n);
			zt_stack_tcp_send(r->stack, t->flow, r->scratch,
					  (size_t)n + 2, now);
			if (!t->flow)
				return; /* reset: no memory to keep the answer */
		}
		zt_stack_tcp_consume(r->stack, t->flow, 2 + mlen, now);
	}
	if (t->flow && t->client_fin && partial)
		zt_stack_tcp_consume(r->stack, t->flow,
				     zt_tcb_recv_len(&t->flow->tcb), now);
	if (t->flow && t->client_fin && !t->up_fin_sent &&
	    zt_tcb_recv_len(&t->flow->tcb) == 0) {
		t->up_fin_sent = true;
		if (t->fwd) { /* nothing more to forward */
			dns_tunnel_free(t->fwd);
			t->fwd = NULL;
		}
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

/* A TCP flow to @k goes to the fake-IP resolver's port 53, answered
 * here (local_dns_open()) with no route decision. */
static bool to_local_dns(const struct zt_router *r, const struct zt_flow_key *k)
{
	return r->fake && k->server_port == ZT_DNS_PORT &&
	       zt_fakedns_is_server(r->fake, &k->server);
}

/* The proxy route @d goes through (NULL: none). */
static const struct zt_proxy_config *proxy_of(const struct zt_router *r,
					      enum zt_route_decision d)
{
	if (d == ZT_ROUTE_SOCKS5)
		return &r->cfg.socks5;
	if (d == ZT_ROUTE_HTTP)
		return &r->cfg.http;
	return NULL;
}

/*
 * The decision on a new TCP flow to @k (not to_local_dns()): ZT_TCP_ADMIT
 * with its route in *@dp and the name it goes by in *@name (the caller's
 * to free; NULL: by address), or how its SYN is refused (*@name NULL).
 * Counted, unless @peek: then nothing the router counts or keeps changes
 * (tcp_admit() asks before tcp_new() does).
 */
static enum zt_tcp_admit tcp_decide(struct zt_router *r,
				    const struct zt_flow_key *k, bool peek,
				    enum zt_route_decision *dp, char **name)
{
	bool reject;
	enum zt_route_decision d;
	const struct zt_proxy_config *px;
	int named = fake_name(r, &k->server, name, peek);

	if (named < 0)
		return ZT_TCP_ADMIT_RST;
	d = peek ? route_for(r, ZT_IPPROTO_TCP, k, *name, &reject) :
		   decide(r, ZT_IPPROTO_TCP, k, *name, &reject);
	if (named == NAME_LEARNED) {
		free(*name); /* it routed; the flow goes by address */
		*name = NULL;
	}
	/* The NAT table is UDP's: TCP under nat is relayed as under direct
	 * (rules.md), the client's DSCP and connect errors passed alike
	 * (keep_dscp(), tcp_upstream_failed()); counted as decided. */
	if (d == ZT_ROUTE_NAT)
		d = ZT_ROUTE_DIRECT;
	*dp = d;
	px = proxy_of(r, d);
	if (d == ZT_ROUTE_DROP && !reject) {
		free(*name);
		*name = NULL;
		return ZT_TCP_ADMIT_DROP;
	}
	if (px && !px->enabled && !peek)
		r->stats.dropped_no_proxy++;
	/* a proxy that is down, its probe under way: refused at once
	 * (proxy_refuses()), as the connect timeout would refuse it */
	if (d == ZT_ROUTE_DROP || d == ZT_ROUTE_LOCAL || (px && !px->enabled) ||
	    fake_unroutable(r, *name, px != NULL, peek) ||
	    (px && proxy_refuses(r, d, peek))) {
		free(*name);
		*name = NULL;
		return ZT_TCP_ADMIT_RST;
	}
	return ZT_TCP_ADMIT;
}

/* The stack's tcp_admit: asked, with the flow table full, whether a SYN
 * to @key would be refused at once. Peeked first; a refusal is then
 * decided again, counted as tcp_new() would have, since the stack answers
 * it without tcp_new(). */
enum zt_tcp_admit tcp_admit(void *host, const struct zt_flow_key *key,
			    uint64_t now)
{
	struct zt_router *r = host;
	enum zt_route_decision d;
	enum zt_tcp_admit a;
	char *name;

	(void)now;
	if (to_local_dns(r, key))
		return ZT_TCP_ADMIT;
	a = tcp_decide(r, key, true, &d, &name);
	free(name);
	if (a != ZT_TCP_ADMIT) {
		(void)tcp_decide(r, key, false, &d, &name);
		free(name); /* NULL but when memory ran out in between */
	}
	return a;
}

/* The stack's tcp_new: a SYN from the client. Its decision taken, the
 * flow is dropped, refused, or gets a relay whose upstream opens; the SYN
 * is answered when the relay is OPEN (with early_synack at once). */
int tcp_new(void *host, struct zt_flow *f, uint64_t now)
{
	struct zt_router *r = host;
	struct zt_endpoint ep;
	struct tcp_relay *t;
	enum zt_route_decision d;
	const struct zt_proxy_config *px;
	char *name;
	unsigned flags;

	if (to_local_dns(r, &f->key))
		return local_dns_open(r, f, now);
	switch (tcp_decide(r, &f->key, false, &d, &name)) {
	case ZT_TCP_ADMIT:
		break;
	case ZT_TCP_ADMIT_DROP:
		zt_stack_tcp_drop(r->stack, f, now);
		return 0;
	default:
		zt_stack_tcp_reject(r->stack, f, -1, now);
		return 0;
	}
	px = proxy_of(r, d);
	t = calloc(1, sizeof(*t));
	if (!t) {
		free(name);
		return -ENOMEM;
	}
	t->name = name;
	t->fake_hold = fake_hold(r, name, &f->key.server);
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
	if (px && t->handle >= 0)
		proxy_opened(r, d, t, &t->px_gen);
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
 * hs->out. Return: 0 or a negative errno (a name or credentials no
 * request can carry).
 */
int hs_begin(struct zt_router *r, struct tcp_handshake *hs,
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
		/* zt_router_new() checked the credentials: never sent
		 * without them */
		if (px->auth &&
		    zt_socks5_set_auth(&hs->st.socks, px->username,
				       strlen(px->username), px->password,
				       strlen(px->password)) < 0)
			return -EINVAL;
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
		if (px->auth &&
		    zt_http_connect_set_auth(&hs->st.http, px->username,
					     strlen(px->username), px->password,
					     strlen(px->password)) < 0)
			return -EINVAL;
		n = zt_http_connect_request(&hs->st.http, hs->out,
					    sizeof(hs->out));
	}
	if (n < 0)
		return n;
	hs->len = (size_t)n;
	hs->off = 0;
	return 0;
}

/*
 * The proxy's handshake bytes @data into @hs (decision @decision; its
 * replies, SOCKS5 authentication, go out on @handle), counted as the
 * proxy's failure when it refuses (HS_FAILED); a send that fails is the
 * stream's, not the proxy's (HS_BROKEN, not counted here: no outcome);
 * *@consumed the bytes it took, *@how the refusal a failure maps to.
 */
enum hs_step hs_input(struct zt_router *r, struct tcp_handshake *hs,
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
			if (hs_flush(r, handle, hs) < 0) {
				*how = ZT_REFUSE_RST;
				return HS_BROKEN;
			}
		}
		if (st == ZT_SOCKS5_FAILED || st < 0) {
			enum zt_socks5_outcome o = zt_socks5_outcome(&hs->st.socks);

			if (o != ZT_SOCKS5_OK)
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
		tcp_hs_broken(t, now);
		return;
	}
	if (t->decision == ZT_ROUTE_SOCKS5 && r->cfg.socks5.pipelined &&
	    r->cfg.early_synack)
		t->early_left = ZT_ROUTER_EARLY_DATA_MAX;
	t->phase = PH_HANDSHAKE;
	if (tcp_flush_hs(t) < 0)
		tcp_hs_broken(t, now);
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
	case HS_BROKEN:
		t->r->stats.upstream_connect_failed++;
		/* fall through */
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
size_t tcp_rx_direct(void *host, struct zt_flow *f, const uint8_t *p,
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

/*
 * The client probed its idle connection (a TCP keepalive, which the
 * stack answers itself): it wants a dead peer found, and its peer is
 * the upstream too. So the upstream stream gets keepalive as well, once
 * per flow (upstream_keepalive()); when it dies that way the host fails
 * it with ETIMEDOUT and the client is reset (tcp_upstream_failed()), as
 * its own probes would have ended a direct connection. A flow whose
 * client sends no probes pays nothing.
 */
static void tcp_keepalive(struct tcp_relay *t)
{
	if (t->ka_asked || t->phase != PH_OPEN || t->handle < 0)
		return;
	t->ka_asked = true;
	upstream_keepalive(t->r, t->handle);
}

/* The stack's tcp_event: the client side readable, writable, at its FIN,
 * probing, or gone. */
void tcp_event(void *host, struct zt_flow *f, uint32_t ev, uint64_t now)
{
	struct tcp_relay *t = f->user;

	(void)host;
	if (!t)
		return;
	t->busy++;
	if (ev & ZT_TCP_EV_PEER_FIN)
		t->client_fin = true;
	if (ev & ZT_TCP_EV_KEEPALIVE)
		tcp_keepalive(t);
	if ((ev & (ZT_TCP_EV_PEER_FIN | ZT_TCP_EV_PUSH)) ||
	    ((ev & ZT_TCP_EV_READABLE) && !tcp_gather(t)))
		tcp_pump_up(t, now);
	if ((ev & ZT_TCP_EV_WRITABLE) && t->local_dns)
		local_dns_pump(t, now);
	if ((ev & ZT_TCP_EV_WRITABLE) && t->down_paused) {
		t->down_paused = false;
		if (t->handle >= 0)
			t->r->up->stream_resume(t->r->host, t->handle);
		else if (t->rst_drain && !(ev & (ZT_TCP_EV_RESET | ZT_TCP_EV_CLOSED)))
			tcp_drain_check(t, now);
	}
	if (ev & (ZT_TCP_EV_RESET | ZT_TCP_EV_CLOSED)) {
		/* The flow is freed when this returns. A reset (the client's,
		 * a timeout's) goes on as one to a destination the bytes may
		 * already reach (through the proxy too, once early data went
		 * behind its request); so does any end that leaves client
		 * bytes we ACKed unsent (the ring goes with the flow: a clean
		 * one, or one before OPEN after an early SYN-ACK, when the
		 * proxy may be connected onward); a connect or a proxy
		 * handshake that carried and holds none is only dropped. */
		bool abort = tcp_unsent(t) ||
			     ((ev & ZT_TCP_EV_RESET) &&
			      (t->phase == PH_OPEN || t->early_sent));

		if (abort && !(ev & ZT_TCP_EV_RESET))
			t->r->stats.tcp_unsent_reset++;
		/* the connect timeout ended a connect to the proxy: not
		 * reached (a client's reset, an eviction only let a probe
		 * go, in tcp_close_upstream()) */
		if (t->phase == PH_CONNECTING && t->handle >= 0 &&
		    f->tcb.reset_reason == ZT_TCP_RESET_TIMEOUT &&
		    now >= f->connect_deadline)
			proxy_unreached(t->r, t->decision, t, t->px_gen,
					-ETIMEDOUT);
		zt_heap_remove(&t->r->hs_timers, &t->drain_timer.node);
		f->user = NULL;
		t->flow = NULL;
		tcp_close_upstream(t, abort);
	}
	t->busy--;
	tcp_relay_maybe_free(t);
}

/*
 * @t's upstream died with @err: an open flow is aborted, one still
 * connecting refused. A direct flow whose connect ended on an ICMP error
 * @e of @kind (unreachable, time exceeded; ZT_ICMP_OTHER when none) is
 * refused with that error, from the router that sent it, as the client's
 * own SYN would have been; any other as @err says.
 */
void tcp_upstream_failed(struct tcp_relay *t, int err, enum zt_icmp_kind kind,
			 const struct zt_dgram_error *e, uint64_t now)
{
	struct zt_router *r = t->r;

	t->busy++;
	t->handle = -1; /* dead: not closed again */
	if (t->phase == PH_OPEN) {
		r->stats.upstream_reset++;
		if (t->flow) {
			/* what came before the reset goes first */
			t->rst_drain = true;
			t->drain_timer.kind = CONN_TCP;
			zt_heap_insert(&r->hs_timers, &t->drain_timer.node,
				       now + ZT_ROUTER_RST_DRAIN_MAX);
			tcp_drain_check(t, now);
		}
	} else if (t->flow && t->decision == ZT_ROUTE_DIRECT &&
		   (kind == ZT_ICMP_DEST_UNREACH ||
		    kind == ZT_ICMP_TIME_EXCEEDED)) {
		r->stats.upstream_connect_failed++;
		/* after an early SYN-ACK the stack resets the client instead:
		 * the error goes no further */
		if (t->flow->early)
			r->stats.icmp_errors_ignored++;
		else
			r->stats.icmp_errors_relayed++;
		zt_stack_tcp_reject_icmp(r->stack, t->flow, kind, e->code,
					 error_origin(e, &t->flow->key.server),
					 now);
	} else {
		r->stats.upstream_connect_failed++;
		if (t->phase == PH_CONNECTING) /* the proxy not reached */
			proxy_unreached(r, t->decision, t, t->px_gen, err);
		tcp_refuse(t, refuse_for_errno(err), now);
	}
	proxy_let_go(r, t);
	t->busy--;
	tcp_relay_maybe_free(t);
}

/* @t's drain behind its upstream's reset ran ZT_ROUTER_RST_DRAIN_MAX:
 * the client is reset with the rest undelivered (hs_expire()). */
void tcp_drain_timeout(struct tcp_relay *t, uint64_t now)
{
	t->busy++;
	if (t->flow)
		zt_stack_tcp_abort(t->r->stack, t->flow, now);
	t->busy--;
	tcp_relay_maybe_free(t);
}

/* The host's reports on @t's upstream (router.c hands them over), each
 * holding a reference across what may end the relay. */

void tcp_stream_connected(struct tcp_relay *t, uint64_t now)
{
	proxy_reached(t->r, t->decision, t, t->px_gen);
	t->busy++;
	tcp_connected(t, now);
	t->busy--;
	tcp_relay_maybe_free(t);
}

size_t tcp_stream_data(struct tcp_relay *t, const uint8_t *data, size_t len,
		       uint64_t now)
{
	size_t n;

	t->busy++;
	n = tcp_data(t, data, len, now);
	t->busy--;
	tcp_relay_maybe_free(t);
	return n;
}

void tcp_stream_eof(struct tcp_relay *t, uint64_t now)
{
	struct zt_router *r = t->r;

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
}

void tcp_stream_writable(struct tcp_relay *t, uint64_t now)
{
	t->busy++;
	if (t->hs && t->hs->len && tcp_flush_hs(t) < 0)
		tcp_hs_broken(t, now);
	t->up_blocked = false;
	tcp_pump_up(t, now);
	t->busy--;
	tcp_relay_maybe_free(t);
}

/* The pull-model host's reads (router.h): only an open TCP relay takes
 * upstream bytes into its flow's send ring. */
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

/* Empty the gather list, each relay's bytes sent first if @send (the
 * batch's end) or not (the router is being freed), and its reference let
 * go: a relay whose flow ended within the batch is freed here. */
void tcp_gather_end(struct zt_router *r, bool send, uint64_t now)
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
