// SPDX-License-Identifier: MIT
/*
 * vhosts.c - emulated servers on a vnet (see vhosts.h).
 *
 * Theory of operation:
 *
 * A vhost is a vnet listener (TCP kinds) or binding (UDP kinds). Each
 * accepted connection gets a session that owns the client end and, for
 * the proxies, the onward end. A session writes to its client through an
 * output queue (handshake replies, response heads) followed by a
 * generated stream (SOURCE and HTTP bodies), so a full pipe only delays
 * it: the rest goes out on `writable`. While the queue is not empty, bytes
 * from the onward end are refused (that end is paused), so a proxy's
 * reply always precedes the tunnel's first byte. A queue can be held back
 * (reply_delay) or trickled one byte per event (byte_per_event) by the
 * session's timer, which also refills a slow DISCARD's budget.
 *
 * The SOCKS5 and HTTP CONNECT servers parse the client's bytes with their
 * own small parsers over an accumulated request buffer; they share no code
 * with the core's clients, so a mistake on either side shows up as a
 * failed handshake in the router's tests rather than cancelling out.
 *
 * A session is freed when it holds no end, no relay binding and no pending
 * timer; at zt_vnet_free() the vnet releases each vhost, which frees its
 * sessions without touching the (already doomed) ends.
 */
#define _GNU_SOURCE /* memmem, memrchr */
#include "engine/vhosts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OUT_MAX 8192 /* replies; a DNS server's answers over TCP */
#define IN_MAX 8192 /* a handshake and a client's early bytes */
#define GEN_CHUNK 4096
#define TRICKLE_NS 10000ull /* byte_per_event spacing: 10 us */

enum sess_state {
	ST_SERVE = 0,    /* echo, discard, source, http */
	ST_GREET,        /* SOCKS5 */
	ST_AUTH,
	ST_REQUEST,
	ST_CONNECTING,   /* both proxies */
	ST_RELAY,
	ST_UDP,
	ST_HEAD,         /* HTTP proxy */
	ST_DONE,         /* failed: input ignored, closing */
};

struct zt_vhost {
	struct zt_vnet *vn;
	struct zt_vhost_config cfg;
	struct zt_addr addr;
	uint16_t port;
	struct zt_vhost_stats stats;
	struct sess *sessions;
};

struct sess {
	struct zt_vhost *h;
	struct sess *next, *prev;
	struct zt_vhost_config cfg;  /* as when the session started */
	struct zt_vnet_sock *cli;    /* NULL once closed */
	struct zt_vnet_sock *up;     /* proxies: the onward end */
	enum sess_state st;
	uint64_t rx, relayed;
	uint8_t out[OUT_MAX];
	size_t out_len, out_off;
	size_t gen_left;
	uint64_t gen_off;
	bool close_when_sent;
	bool hold;                   /* reply_delay running */
	bool trickle_wait;           /* byte_per_event: next byte on the timer */
	bool cli_eof, up_eof;
	size_t budget;               /* DISCARD drain */
	bool drained;                /* DISCARD: paused for the budget */
	uint32_t head_match;         /* HTTP: bytes of "\r\n\r\n" matched */
	unsigned answers;            /* DNS over TCP: answers sent */
	bool dns_long;               /* ... a query longer than in[]: its
				      * head is in[], ... */
	size_t dns_skip;             /* ... and this much of its tail is
				      * still to be read past */
	uint8_t in[IN_MAX];
	size_t in_len;
	struct zt_sim_event timer;
	/* SOCKS5 UDP ASSOCIATE */
	bool relay_bound;
	uint16_t relay_port;
	bool have_client;
	struct zt_endpoint udp_client;
	struct zt_addr cli_addr;     /* the control connection's peer */
};

static struct zt_sim *sim_of(const struct sess *s)
{
	return zt_vnet_sim(s->h->vn);
}

void zt_vhost_config_init(struct zt_vhost_config *cfg, enum zt_vhost_kind kind)
{
	static const uint8_t a[4] = { 198, 51, 100, 7 };

	memset(cfg, 0, sizeof(*cfg));
	cfg->kind = kind;
	cfg->dns_answer = zt_addr_v4(a);
}

/* --- session lifetime --------------------------------------------------- */

static void sess_unbind(struct sess *s)
{
	if (s->relay_bound) {
		zt_vnet_udp_unbind(s->h->vn, &s->h->addr, s->relay_port);
		s->relay_bound = false;
	}
}

static void sess_free(struct sess *s)
{
	zt_sim_cancel(sim_of(s), &s->timer);
	if (s->prev)
		s->prev->next = s->next;
	else
		s->h->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->h->stats.sessions--;
	free(s);
}

static void sess_maybe_free(struct sess *s)
{
	if (!s->cli && !s->up && !s->relay_bound &&
	    !zt_sim_event_pending(&s->timer))
		sess_free(s);
}

static void close_cli(struct sess *s, bool rst)
{
	if (!s->cli)
		return;
	if (rst) {
		s->h->stats.resets_sent++;
		zt_vnet_abort(s->cli);
	} else {
		zt_vnet_close(s->cli);
	}
	s->cli = NULL;
}

static void close_up(struct sess *s, bool rst)
{
	if (!s->up)
		return;
	if (rst)
		zt_vnet_abort(s->up);
	else
		zt_vnet_close(s->up);
	s->up = NULL;
}

/* Tear the whole session down (the association with it). */
static void sess_end(struct sess *s, bool rst)
{
	close_cli(s, rst);
	close_up(s, rst);
	sess_unbind(s);
	zt_sim_cancel(sim_of(s), &s->timer);
}

/* hangup_on_request: a FIN and no reply; what the client sends after it is
 * ignored (ST_DONE), its FIN ends the session (cli_eof). */
static void hang_up(struct sess *s)
{
	s->in_len = 0;
	s->st = ST_DONE;
	zt_vnet_shutdown(s->cli);
}

/* --- output toward the client ------------------------------------------- */

static void flush(struct sess *s);

static void timer_fn(struct zt_sim *sim, void *arg)
{
	struct sess *s = arg;

	(void)sim;
	s->hold = false;
	s->trickle_wait = false;
	if (s->drained && s->cli) {
		s->drained = false;
		s->budget = s->cfg.drain_per_ms;
		zt_vnet_resume(s->cli);
	}
	flush(s);
	sess_maybe_free(s);
}

static void queue_out(struct sess *s, const void *p, size_t n)
{
	if (s->out_off == s->out_len)
		s->out_off = s->out_len = 0;
	if (n > sizeof(s->out) - s->out_len)
		n = sizeof(s->out) - s->out_len; /* replies are small: never */
	memcpy(s->out + s->out_len, p, n);
	s->out_len += n;
}

/* Write the queue, then the generated stream; close when asked and done. */
static void flush(struct sess *s)
{
	uint8_t buf[GEN_CHUNK];

	if (!s->cli || s->hold || s->trickle_wait)
		return;
	while (s->out_off < s->out_len) {
		size_t n = s->out_len - s->out_off;
		ssize_t k;

		if (s->cfg.byte_per_event)
			n = 1;
		k = zt_vnet_send(s->cli, s->out + s->out_off, n);
		if (k <= 0)
			return;
		s->out_off += (size_t)k;
		s->h->stats.bytes_out += (uint64_t)k;
		if (s->cfg.byte_per_event && s->out_off < s->out_len) {
			s->trickle_wait = true;
			zt_sim_after(sim_of(s), &s->timer, TRICKLE_NS);
			return;
		}
	}
	if (s->up)
		zt_vnet_resume(s->up); /* the tunnel may flow now */
	if (s->up_eof)
		zt_vnet_shutdown(s->cli); /* the onward FIN, held behind the reply */
	while (s->gen_left) {
		size_t n = s->gen_left < sizeof(buf) ? s->gen_left : sizeof(buf);
		ssize_t k;

		for (size_t i = 0; i < n; i++)
			buf[i] = zt_vhost_pattern(s->gen_off + i);
		k = zt_vnet_send(s->cli, buf, n);
		if (k <= 0)
			return;
		s->gen_off += (uint64_t)k;
		s->gen_left -= (size_t)k;
		s->h->stats.bytes_out += (uint64_t)k;
	}
	if (s->close_when_sent) {
		if (!s->cfg.rst_when_sent)
			zt_vnet_shutdown(s->cli);
		close_cli(s, s->cfg.rst_when_sent);
		close_up(s, false);
		sess_unbind(s);
	}
}

/* The reply queue still holds bytes for the client (written, held back
 * or trickling). */
static bool out_pending(const struct sess *s)
{
	return s->out_off < s->out_len || s->hold || s->trickle_wait;
}

/* Queue @p and write it, held back by reply_delay when configured. */
static void reply(struct sess *s, const void *p, size_t n, bool delay)
{
	queue_out(s, p, n);
	if (delay && s->cfg.reply_delay) {
		s->hold = true;
		zt_sim_after(sim_of(s), &s->timer, s->cfg.reply_delay);
		return;
	}
	flush(s);
}

static void fail_reply(struct sess *s, const void *p, size_t n, bool delay)
{
	s->st = ST_DONE;
	s->close_when_sent = true;
	reply(s, p, n, delay);
}

/* --- relay (both proxies) ------------------------------------------------ */

static bool relay_count(struct sess *s, size_t n)
{
	s->relayed += n;
	if (s->cfg.close_after && s->relayed >= s->cfg.close_after) {
		sess_end(s, true);
		return false;
	}
	return true;
}

static size_t relay_up(struct sess *s, const uint8_t *p, size_t n)
{
	ssize_t k;

	if (!s->up)
		return n;
	k = zt_vnet_send(s->up, p, n);
	if (k < 0)
		return n;
	s->h->stats.bytes_in += (uint64_t)k;
	relay_count(s, (size_t)k);
	return (size_t)k;
}

/* The early tunnel bytes held in s->in, onward first; true once all went. */
static bool relay_early(struct sess *s)
{
	size_t k;

	if (!s->in_len)
		return true;
	k = relay_up(s, s->in, s->in_len);
	memmove(s->in, s->in + k, s->in_len - k);
	s->in_len -= k;
	return s->in_len == 0;
}

static size_t up_data(void *ctx, struct zt_vnet_sock *so, const uint8_t *p,
		      size_t n)
{
	struct sess *s = ctx;
	ssize_t k;

	(void)so;
	if (!s->cli)
		return n;
	if (s->out_off < s->out_len || s->hold)
		return 0; /* the reply goes first; resumed by flush() */
	k = zt_vnet_send(s->cli, p, n);
	if (k < 0)
		return n;
	s->h->stats.bytes_out += (uint64_t)k;
	relay_count(s, (size_t)k);
	return (size_t)k;
}

static void up_eof(void *ctx, struct zt_vnet_sock *so)
{
	struct sess *s = ctx;

	(void)so;
	s->up_eof = true;
	if (out_pending(s)) {
		/* The reply is still queued: flush() passes the FIN on after
		 * it (and closes if the client is done), as a real proxy
		 * answers before it relays anything. */
		if (s->cli_eof)
			s->close_when_sent = true;
		return;
	}
	if (s->cli)
		zt_vnet_shutdown(s->cli);
	if (s->cli_eof) {
		close_up(s, false);
		close_cli(s, false);
	}
	sess_maybe_free(s);
}

static void up_writable(void *ctx, struct zt_vnet_sock *so)
{
	struct sess *s = ctx;

	(void)so;
	if (s->cli && relay_early(s))
		zt_vnet_resume(s->cli);
}

static void socks_reply(struct sess *s, uint8_t rep, const struct zt_endpoint *bnd,
			bool delay);

static void up_connected(void *ctx, struct zt_vnet_sock *so)
{
	struct sess *s = ctx;
	struct zt_endpoint local;

	if (!s->cli) {
		close_up(s, false);
		sess_maybe_free(s);
		return;
	}
	zt_vnet_sock_local(so, &local);
	s->st = ST_RELAY;
	if (s->cfg.kind == ZT_VHOST_SOCKS5) {
		socks_reply(s, 0, &local, true);
	} else {
		static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

		reply(s, ok, sizeof(ok) - 1, true);
	}
	/* early tunnel bytes, then what they held back (hs_read) */
	if (s->up && relay_early(s) && s->cli)
		zt_vnet_resume(s->cli);
}

static void up_failed(void *ctx, struct zt_vnet_sock *so, int err)
{
	struct sess *s = ctx;

	(void)so;
	s->up = NULL;
	if (s->st == ST_CONNECTING && s->cli) {
		if (s->cfg.kind == ZT_VHOST_SOCKS5) {
			uint8_t rep = err == -ECONNREFUSED ? 5 :
				      err == -ENETUNREACH ? 3 :
				      err == -ETIMEDOUT || err == -EHOSTUNREACH ? 4 : 1;

			s->close_when_sent = true;
			socks_reply(s, rep, NULL, true);
			s->st = ST_DONE;
		} else {
			static const char bad[] =
				"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
				"Connection: close\r\n\r\n";

			fail_reply(s, bad, sizeof(bad) - 1, true);
		}
	} else {
		s->h->stats.resets_seen++;
		close_cli(s, true);
		sess_unbind(s);
	}
	sess_maybe_free(s);
}

static const struct zt_vnet_sock_ops up_ops = {
	.connected = up_connected,
	.failed = up_failed,
	.data = up_data,
	.eof = up_eof,
	.writable = up_writable,
};

static void connect_onward(struct sess *s, const struct zt_endpoint *ep)
{
	s->st = ST_CONNECTING;
	s->up = zt_vnet_connect(s->h->vn, ep, &up_ops, s);
	if (!s->up)
		sess_end(s, true);
}

/* --- SOCKS5 server (RFC 1928, RFC 1929) ------------------------------------ */

static void socks_reply(struct sess *s, uint8_t rep, const struct zt_endpoint *bnd,
			bool delay)
{
	uint8_t m[4 + 1 + 255 + 2] = { 5, rep, 0, 1 };
	size_t n = 10;

	if (!rep && s->st == ST_RELAY)
		m[2] = s->cfg.socks_rsv; /* a CONNECT's success */
	if (bnd && bnd->name[0]) {
		size_t len = strnlen(bnd->name, 255);

		m[3] = 3;
		m[4] = (uint8_t)len;
		memcpy(m + 5, bnd->name, len);
		m[5 + len] = (uint8_t)(bnd->port >> 8);
		m[6 + len] = (uint8_t)bnd->port;
		n = 7 + len;
	} else if (bnd && bnd->addr.family == ZT_AF_INET6) {
		m[3] = 4;
		memcpy(m + 4, bnd->addr.bytes, 16);
		m[20] = (uint8_t)(bnd->port >> 8);
		m[21] = (uint8_t)bnd->port;
		n = 22;
	} else if (bnd) {
		memcpy(m + 4, bnd->addr.bytes, 4);
		m[8] = (uint8_t)(bnd->port >> 8);
		m[9] = (uint8_t)bnd->port;
	}
	if (rep)
		s->close_when_sent = true;
	reply(s, m, n, delay);
}

/* Parse ATYP ADDR PORT at @p (@len bytes). Return bytes used, 0 when more
 * are needed, -1 for an unknown ATYP. */
static int socks_parse_addr(const uint8_t *p, size_t len, struct zt_endpoint *ep)
{
	size_t alen;

	if (len < 1)
		return 0;
	memset(ep, 0, sizeof(*ep));
	switch (p[0]) {
	case 1:
		if (len < 7)
			return 0;
		ep->addr = zt_addr_v4(p + 1);
		alen = 4;
		break;
	case 4:
		if (len < 19)
			return 0;
		ep->addr = zt_addr_v6(p + 1);
		alen = 16;
		break;
	case 3:
		if (len < 2)
			return 0;
		alen = 1 + (size_t)p[1];
		if (len < 1 + alen + 2)
			return 0;
		memcpy(ep->name, p + 2, p[1]);
		ep->name[p[1]] = 0;
		break;
	default:
		return -1;
	}
	ep->port = (uint16_t)(p[1 + alen] << 8 | p[2 + alen]);
	return (int)(1 + alen + 2);
}

static void relay_recv(void *ctx, const struct zt_endpoint *from,
		       const uint8_t *data, size_t len, uint8_t tclass);

static void socks_udp_associate(struct sess *s)
{
	struct zt_endpoint bnd;
	int port = zt_vnet_udp_bind(s->h->vn, &s->h->addr, 0, relay_recv, s);

	if (port < 0) {
		socks_reply(s, 1, NULL, true);
		return;
	}
	s->relay_bound = true;
	s->relay_port = (uint16_t)port;
	s->st = ST_UDP;
	memset(&bnd, 0, sizeof(bnd));
	bnd.addr = s->h->addr;
	if (s->cfg.bnd_unspecified)
		memset(bnd.addr.bytes, 0, sizeof(bnd.addr.bytes));
	memcpy(bnd.name, s->cfg.bnd_name, sizeof(s->cfg.bnd_name));
	bnd.name[sizeof(s->cfg.bnd_name) - 1] = 0;
	bnd.port = (uint16_t)port;
	socks_reply(s, 0, &bnd, true);
}

/* Consume what the client sent so far; true while more can be parsed. */
static bool socks_step(struct sess *s)
{
	const uint8_t *p = s->in;
	size_t len = s->in_len, used;

	switch (s->st) {
	case ST_GREET: {
		bool want = false;
		uint8_t rep[2] = { 5, 0xff };

		if (len < 2)
			return false;
		if (p[0] != 5) {
			sess_end(s, false);
			return false;
		}
		if (len < 2u + p[1])
			return false;
		for (size_t i = 0; i < p[1]; i++)
			if (p[2 + i] == (s->cfg.auth ? 2 : 0))
				want = true;
		used = 2u + p[1];
		if (want) {
			rep[1] = s->cfg.auth ? 2 : 0;
			s->st = s->cfg.auth ? ST_AUTH : ST_REQUEST;
			reply(s, rep, 2, false);
		} else {
			fail_reply(s, rep, 2, false);
		}
		break;
	}
	case ST_AUTH: {
		size_t ul, pl;
		uint8_t rep[2] = { 1, 0 };

		if (len < 2)
			return false;
		ul = p[1];
		if (len < 3 + ul)
			return false;
		pl = p[2 + ul];
		if (len < 3 + ul + pl)
			return false;
		used = 3 + ul + pl;
		if (p[0] == 1 && ul == strlen(s->cfg.user) && pl == strlen(s->cfg.pass) &&
		    memcmp(p + 2, s->cfg.user, ul) == 0 &&
		    memcmp(p + 3 + ul, s->cfg.pass, pl) == 0) {
			s->st = ST_REQUEST;
			reply(s, rep, 2, false);
		} else {
			rep[1] = 1;
			s->h->stats.auth_failures++;
			fail_reply(s, rep, 2, false);
		}
		break;
	}
	case ST_REQUEST: {
		struct zt_endpoint ep;
		uint8_t cmd;
		int n;

		if (len < 4)
			return false;
		if (p[0] != 5 || p[2] != 0) {
			sess_end(s, false);
			return false;
		}
		n = socks_parse_addr(p + 3, len - 3, &ep);
		if (n == 0)
			return false;
		s->h->stats.requests++;
		if (n < 0) {
			s->in_len = 0;
			socks_reply(s, 8, NULL, true);
			s->st = ST_DONE;
			return false;
		}
		if (s->cfg.hangup_on_request) {
			hang_up(s);
			return false;
		}
		used = 3 + (size_t)n;
		cmd = p[1]; /* p is s->in: read it before the early tunnel
			     * bytes move to its start */
		memmove(s->in, s->in + used, len - used);
		s->in_len = len - used;
		if (s->cfg.socks_rep) {
			socks_reply(s, s->cfg.socks_rep, NULL, true);
			s->st = ST_DONE;
		} else if (cmd == 1) {
			connect_onward(s, &ep);
		} else if (cmd == 3) {
			socks_udp_associate(s);
		} else {
			socks_reply(s, 7, NULL, true);
			s->st = ST_DONE;
		}
		return false; /* the rest (if any) is tunnel data */
	}
	default:
		return false;
	}
	memmove(s->in, s->in + used, len - used);
	s->in_len = len - used;
	return s->cli != NULL;
}

/* A datagram on the association's relay: from the client (SOCKS header)
 * or from a remote host (to be wrapped for the client). */
static void relay_recv(void *ctx, const struct zt_endpoint *from,
		       const uint8_t *data, size_t len, uint8_t tclass)
{
	struct sess *s = ctx;
	struct zt_endpoint me, to;
	uint8_t buf[65536 + 32];
	int n;

	(void)tclass; /* a relay answers unmarked */
	memset(&me, 0, sizeof(me));
	me.addr = s->h->addr;
	me.port = s->relay_port;
	s->h->stats.datagrams_in++;
	if (!s->have_client) {
		/* RFC 1928 7: only the client's address may send through
		 * the relay; its first datagram gives the port. */
		if (!zt_addr_eq(&from->addr, &s->cli_addr))
			return;
		s->have_client = true;
		s->udp_client = *from;
	}
	if (zt_addr_eq(&from->addr, &s->udp_client.addr) &&
	    from->port == s->udp_client.port) {
		if (len < 4 || data[0] || data[1] || data[2])
			return; /* RSV, or FRAG != 0: dropped */
		n = socks_parse_addr(data + 3, len - 3, &to);
		if (n <= 0)
			return;
		if (zt_vnet_udp_send(s->h->vn, &me, &to, data + 3 + n,
				     len - 3 - (size_t)n) == 0)
			s->h->stats.datagrams_out++;
		return;
	}
	if (len > 65536)
		return;
	buf[0] = buf[1] = buf[2] = 0;
	if (from->addr.family == ZT_AF_INET6) {
		buf[3] = 4;
		memcpy(buf + 4, from->addr.bytes, 16);
		n = 20;
	} else {
		buf[3] = 1;
		memcpy(buf + 4, from->addr.bytes, 4);
		n = 8;
	}
	buf[n++] = (uint8_t)(from->port >> 8);
	buf[n++] = (uint8_t)from->port;
	memcpy(buf + n, data, len);
	if (zt_vnet_udp_send(s->h->vn, &me, &s->udp_client, buf, (size_t)n + len) == 0)
		s->h->stats.datagrams_out++;
}

/* --- HTTP CONNECT proxy ---------------------------------------------------- */

static size_t b64(const uint8_t *in, size_t len, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? tab[v & 63] : '=';
	}
	out[o] = 0;
	return o;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "Connection established";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 405: return "Method Not Allowed";
	case 407: return "Proxy Authentication Required";
	case 502: return "Bad Gateway";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

static void http_fail(struct sess *s, int status)
{
	char m[256];
	int n = snprintf(m, sizeof(m),
			 "HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\n"
			 "Connection: close\r\n\r\n", status, reason(status),
			 status == 407 ? "Proxy-Authenticate: Basic realm=\"ztun\"\r\n" : "");

	fail_reply(s, m, (size_t)n, true);
}

/* Parse "host:port", "[v6]:port" into @ep. 0 or -1. */
static int parse_authority(const char *a, size_t len, struct zt_endpoint *ep)
{
	char host[256];
	const char *colon;
	size_t hl;
	long port;
	char *end;

	memset(ep, 0, sizeof(ep[0]));
	if (len == 0 || len >= sizeof(host))
		return -1;
	colon = memrchr(a, ':', len);
	if (!colon)
		return -1;
	hl = (size_t)(colon - a);
	if (hl >= 2 && a[0] == '[' && a[hl - 1] == ']') {
		memcpy(host, a + 1, hl - 2);
		host[hl - 2] = 0;
	} else {
		memcpy(host, a, hl);
		host[hl] = 0;
	}
	port = strtol(colon + 1, &end, 10);
	if (end != a + len || port <= 0 || port > 65535 || !host[0])
		return -1;
	ep->port = (uint16_t)port;
	if (zt_addr_parse(host, &ep->addr) != 0)
		memcpy(ep->name, host, strlen(host) + 1);
	return 0;
}

static void http_head(struct sess *s, size_t head_len)
{
	char *h = (char *)s->in, *eol, *sp1, *sp2;
	struct zt_endpoint ep;
	bool auth_ok = !s->cfg.auth;

	s->h->stats.requests++;
	if (s->cfg.hangup_on_request) {
		hang_up(s);
		return;
	}
	eol = memmem(h, head_len, "\r\n", 2);
	sp1 = memchr(h, ' ', (size_t)(eol - h));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		http_fail(s, 400);
		return;
	}
	if (s->cfg.auth) {
		char cred[600], want[1024];
		int cn = snprintf(cred, sizeof(cred), "%s:%s", s->cfg.user, s->cfg.pass);
		size_t wl;

		memcpy(want, "\r\nproxy-authorization: basic ", 29);
		wl = 29 + b64((const uint8_t *)cred, (size_t)cn, want + 29);
		memcpy(want + wl, "\r\n", 2);
		wl += 2;
		/* Names and the scheme are case-insensitive; the token is not. */
		for (size_t i = 0; i + wl <= head_len; i++) {
			if (strncasecmp(h + i, want, 29) == 0 &&
			    memcmp(h + i + 29, want + 29, wl - 29) == 0)
				auth_ok = true;
		}
		if (!auth_ok)
			s->h->stats.auth_failures++;
	}
	if (s->cfg.http_status && s->cfg.http_status != 200) {
		http_fail(s, s->cfg.http_status);
		return;
	}
	if ((size_t)(sp1 - h) != 7 || memcmp(h, "CONNECT", 7) != 0) {
		http_fail(s, 405);
		return;
	}
	if (!auth_ok) {
		http_fail(s, 407);
		return;
	}
	if (parse_authority(sp1 + 1, (size_t)(sp2 - sp1 - 1), &ep) < 0) {
		http_fail(s, 400);
		return;
	}
	memmove(s->in, s->in + head_len, s->in_len - head_len);
	s->in_len -= head_len;
	connect_onward(s, &ep);
}

/* --- DNS (UDP, and TCP with a length before each message) ---------------- */

/* The answer to query @data into @r (@cap bytes): the ID and question
 * echoed, dns_records (1 when 0) A records of dns_answer to a type A
 * question. Return: its length, or 0 for no answer (not a query with one
 * readable question, or too large for @cap). */
static size_t dns_build(const struct zt_vhost *h, const uint8_t *data,
			size_t len, uint8_t *r, size_t cap)
{
	static const uint8_t rr[12] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4 };
	unsigned n = h->cfg.dns_records ? h->cfg.dns_records : 1;
	size_t q, qend;

	if (len < 12 || (data[2] & 0x80) || data[4] != 0 || data[5] != 1)
		return 0;
	for (q = 12; q < len && data[q] != 0; q += 1u + data[q])
		if (data[q] > 63)
			return 0;
	qend = q + 1 + 4;
	if (q >= len || qend > len || qend + 16 * n > cap)
		return 0;
	memcpy(r, data, qend);
	r[2] = (uint8_t)(0x80 | (data[2] & 0x01)); /* QR, RD copied */
	r[3] = 0x80;                                 /* RA, NOERROR */
	r[6] = r[7] = r[8] = r[9] = r[10] = r[11] = 0;
	if (data[q + 1] == 0 && data[q + 2] == 1 &&
	    h->cfg.dns_answer.family == ZT_AF_INET) {
		r[6] = (uint8_t)(n >> 8);
		r[7] = (uint8_t)n;
		for (unsigned i = 0; i < n; i++, qend += 16) {
			memcpy(r + qend, rr, sizeof(rr));
			memcpy(r + qend + 12, h->cfg.dns_answer.bytes, 4);
			r[qend + 15] = (uint8_t)(r[qend + 15] + i);
		}
	}
	return qend;
}

/* A DNS session's queries, each behind its length, answered in order
 * while the answers fit the output queue (the rest on WRITABLE). */
static void dns_serve(struct sess *s)
{
	uint8_t r[OUT_MAX];
	bool blocked = false;

	while (s->cli && s->in_len >= 2 && !s->close_when_sent) {
		size_t qlen = (size_t)s->in[0] << 8 | s->in[1], n;

		if (s->in_len < 2 + qlen) {
			if (s->in_len < sizeof(s->in))
				break;
			/* Longer than the buffer: dnsmasq reads a whole
			 * message (up to 65535 bytes); its head (header and
			 * question) is what the answer needs, the tail is
			 * read past (dns_read), then it is answered. */
			if (!s->dns_long) {
				s->dns_long = true;
				s->dns_skip = 2 + qlen - s->in_len;
			}
			if (s->dns_skip)
				break;
			qlen = s->in_len - 2;
		}
		n = dns_build(s->h, s->in + 2, qlen, r + 2, sizeof(r) - 2);
		if (n && n + 2 > sizeof(s->out) - (s->out_len - s->out_off)) {
			blocked = true; /* no room: wait for the queue to drain */
			break;
		}
		if (n) {
			r[0] = (uint8_t)(n >> 8);
			r[1] = (uint8_t)n;
			s->h->stats.requests++;
			queue_out(s, r, n + 2);
			if (++s->answers == s->cfg.dns_close_after)
				s->close_when_sent = true; /* the rest unread */
		}
		memmove(s->in, s->in + 2 + qlen, s->in_len - 2 - qlen);
		s->in_len -= 2 + qlen;
		s->dns_long = false;
	}
	/* The client sent its FIN: close once the answers are out, as
	 * dnsmasq does when a read gives 0 (a partial query is dropped). */
	if (s->cli_eof && !blocked)
		s->close_when_sent = true;
	flush(s);
}

/* A DNS session's bytes: into s->in as far as they fit (fewer taken
 * pauses the end while answers wait for room), the tail of a query
 * longer than s->in read past; each arrival served. Return: bytes taken. */
static size_t dns_read(struct sess *s, const uint8_t *p, size_t n)
{
	size_t took = 0;

	while (s->cli && took < n && !s->close_when_sent) {
		size_t k;

		if (s->dns_skip) {
			k = n - took < s->dns_skip ? n - took : s->dns_skip;
			s->dns_skip -= k;
		} else {
			k = sizeof(s->in) - s->in_len;
			if (k > n - took)
				k = n - took;
			if (k == 0)
				break;
			memcpy(s->in + s->in_len, p + took, k);
			s->in_len += k;
		}
		took += k;
		dns_serve(s);
	}
	s->rx += took;
	s->h->stats.bytes_in += took;
	return took;
}

/* --- the client end --------------------------------------------------------- */

/* Handshake bytes (and the early tunnel bytes behind them) into s->in, as
 * much as fits, parsed as they come. Once the request is in and the proxy
 * connects onward, what does not fit is left unread (the end pauses until
 * up_connected resumes it), as a real proxy stops reading and its
 * kernel's window holds the client back; only a handshake that does not
 * fit at all resets. Return: bytes taken (all, once the session left the
 * handshake: ST_DONE and ST_UDP ignore the rest). */
static size_t hs_read(struct sess *s, const uint8_t *p, size_t n)
{
	size_t took = 0;

	while (s->cli && took < n &&
	       (s->st == ST_GREET || s->st == ST_AUTH || s->st == ST_REQUEST ||
		s->st == ST_HEAD || s->st == ST_CONNECTING)) {
		size_t room = sizeof(s->in) - s->in_len;
		size_t k = n - took < room ? n - took : room;

		if (k == 0) {
			if (s->st == ST_CONNECTING)
				return took; /* back-pressure until connected */
			sess_end(s, true); /* a client flooding the handshake */
			return n;
		}
		memcpy(s->in + s->in_len, p + took, k);
		s->in_len += k;
		took += k;
		if (s->st == ST_HEAD) {
			void *end = memmem(s->in, s->in_len, "\r\n\r\n", 4);

			if (end)
				http_head(s, (size_t)((uint8_t *)end - s->in) + 4);
		} else {
			while (s->cli && socks_step(s))
				;
		}
	}
	return n;
}

static size_t cli_data(void *ctx, struct zt_vnet_sock *so, const uint8_t *p,
		       size_t n)
{
	struct sess *s = ctx;
	struct zt_vhost_stats *st = &s->h->stats;
	size_t take = n;

	(void)so;
	switch (s->st) {
	case ST_SERVE:
		if (s->cfg.kind == ZT_VHOST_DNS) {
			take = dns_read(s, p, n);
			sess_maybe_free(s);
			return take;
		}
		if (s->cfg.reset_after && s->rx + take >= s->cfg.reset_after)
			take = (size_t)(s->cfg.reset_after - s->rx);
		if (s->cfg.kind == ZT_VHOST_ECHO) {
			ssize_t k = zt_vnet_send(s->cli, p, take);

			take = k > 0 ? (size_t)k : 0;
			st->bytes_out += take;
		} else if (s->cfg.kind == ZT_VHOST_DISCARD) {
			if (s->cfg.drain_per_ms) {
				if (take > s->budget)
					take = s->budget;
				s->budget -= take;
				if (s->budget == 0 && !s->drained) {
					s->drained = true;
					zt_sim_after(sim_of(s), &s->timer, ZT_MS);
				}
			}
			for (size_t i = 0; i < take; i++)
				if (p[i] != zt_vhost_pattern(s->rx + i))
					st->pattern_ok = false;
		} else if (s->cfg.kind == ZT_VHOST_HTTP && !s->close_when_sent) {
			for (size_t i = 0; i < take && s->head_match < 4; i++) {
				uint8_t want = "\r\n\r\n"[s->head_match];

				s->head_match = p[i] == want ? s->head_match + 1 :
						p[i] == '\r' ? 1 : 0;
				if (s->head_match == 4) {
					char m[128];
					int hn = snprintf(m, sizeof(m),
							  "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
							  "Connection: close\r\n\r\n", s->cfg.nbytes);

					st->requests++;
					s->gen_left = s->cfg.nbytes;
					s->close_when_sent = true;
					queue_out(s, m, (size_t)hn);
				}
			}
		}
		s->rx += take;
		st->bytes_in += take;
		if (s->cfg.reset_after && s->rx >= s->cfg.reset_after) {
			sess_end(s, true);
			sess_maybe_free(s);
			return n;
		}
		if (s->close_when_sent)
			flush(s);
		return take;
	case ST_GREET:
	case ST_AUTH:
	case ST_REQUEST:
	case ST_HEAD:
	case ST_CONNECTING:
		take = hs_read(s, p, n);
		sess_maybe_free(s);
		return take;
	case ST_RELAY:
		if (s->in_len && !relay_early(s))
			return 0; /* the early bytes go first; up_writable */
		return relay_up(s, p, n);
	case ST_UDP:
	case ST_DONE:
	default:
		return n;
	}
}

static void cli_eof(void *ctx, struct zt_vnet_sock *so)
{
	struct sess *s = ctx;

	(void)so;
	s->cli_eof = true;
	s->h->stats.eofs++;
	switch (s->st) {
	case ST_SERVE:
		if (s->cfg.kind == ZT_VHOST_ECHO || s->cfg.kind == ZT_VHOST_DISCARD) {
			zt_vnet_shutdown(s->cli);
			close_cli(s, false);
		} else if (s->cfg.kind == ZT_VHOST_DNS) {
			dns_serve(s);
		} else if (s->cfg.kind == ZT_VHOST_HTTP && !s->close_when_sent) {
			/* no whole request came: nothing to answer */
			zt_vnet_shutdown(s->cli);
			close_cli(s, false);
		}
		break;
	case ST_RELAY:
		if (s->up)
			zt_vnet_shutdown(s->up);
		if (out_pending(s))
			s->close_when_sent = s->up_eof; /* after the reply */
		else if (s->up_eof || !s->up)
			sess_end(s, false);
		break;
	default:
		/* RFC 1928 7: the association ends with the control connection. */
		sess_end(s, false);
		break;
	}
	sess_maybe_free(s);
}

static void cli_writable(void *ctx, struct zt_vnet_sock *so)
{
	struct sess *s = ctx;

	if (s->cfg.kind == ZT_VHOST_ECHO || s->cfg.kind == ZT_VHOST_DNS)
		zt_vnet_resume(so);
	if (s->cfg.kind == ZT_VHOST_DNS)
		dns_serve(s);
	flush(s);
	if (s->up && s->cli)
		zt_vnet_resume(s->up);
	sess_maybe_free(s);
}

static void cli_failed(void *ctx, struct zt_vnet_sock *so, int err)
{
	struct sess *s = ctx;

	(void)so;
	(void)err;
	s->cli = NULL;
	s->h->stats.resets_seen++;
	sess_end(s, true);
	sess_maybe_free(s);
}

static const struct zt_vnet_sock_ops cli_ops = {
	.failed = cli_failed,
	.data = cli_data,
	.eof = cli_eof,
	.writable = cli_writable,
};

static int vhost_accept(void *ctx, struct zt_vnet_sock *so)
{
	struct zt_vhost *h = ctx;
	struct zt_endpoint peer;
	struct sess *s;

	if (h->cfg.refuse) {
		h->stats.refused++;
		return -ECONNREFUSED;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->h = h;
	s->cfg = h->cfg;
	s->cli = so;
	zt_vnet_sock_peer(so, &peer);
	s->cli_addr = peer.addr;
	s->budget = s->cfg.drain_per_ms;
	zt_sim_event_init(&s->timer, timer_fn, s);
	s->next = h->sessions;
	if (h->sessions)
		h->sessions->prev = s;
	h->sessions = s;
	h->stats.sessions++;
	h->stats.accepted++;
	zt_vnet_sock_own(so, &cli_ops, s);
	switch (s->cfg.kind) {
	case ZT_VHOST_SOCKS5:
		s->st = ST_GREET;
		break;
	case ZT_VHOST_HTTP_PROXY:
		s->st = ST_HEAD;
		break;
	case ZT_VHOST_SOURCE:
		s->gen_left = s->cfg.nbytes;
		s->close_when_sent = true;
		flush(s);
		break;
	default:
		break;
	}
	return 0;
}

/* --- UDP servers ------------------------------------------------------------ */

static void udp_recv(void *ctx, const struct zt_endpoint *from,
		     const uint8_t *data, size_t len, uint8_t tclass)
{
	struct zt_vhost *h = ctx;
	struct zt_endpoint me;
	uint8_t r[4096];
	size_t n;

	(void)tclass; /* servers answer unmarked (zt_vnet_mark marks) */
	memset(&me, 0, sizeof(me));
	me.addr = h->addr;
	me.port = h->port;
	h->stats.datagrams_in++;
	if (h->cfg.kind == ZT_VHOST_UDP_ECHO) {
		if (zt_vnet_udp_send(h->vn, &me, from, data, len) == 0)
			h->stats.datagrams_out++;
		return;
	}
	n = dns_build(h, data, len, r, sizeof(r));
	if (!n)
		return;
	h->stats.requests++;
	if (zt_vnet_udp_send(h->vn, &me, from, r, n) == 0)
		h->stats.datagrams_out++;
}

/* --- the vhost --------------------------------------------------------------- */

static void vhost_release(void *ctx)
{
	struct zt_vhost *h = ctx;

	while (h->sessions)
		sess_free(h->sessions); /* the vnet frees their ends itself */
	free(h);
}

struct zt_vhost *zt_vhost_add(struct zt_vnet *vn, const struct zt_addr *addr,
			      uint16_t port, const struct zt_vhost_config *cfg)
{
	struct zt_vhost *h = calloc(1, sizeof(*h));
	int err;

	if (!h)
		return NULL;
	h->vn = vn;
	h->cfg = *cfg;
	h->addr = *addr;
	h->port = port;
	h->stats.pattern_ok = true;
	if (cfg->kind == ZT_VHOST_UDP_ECHO || cfg->kind == ZT_VHOST_DNS) {
		err = zt_vnet_udp_bind(vn, addr, port, udp_recv, h);
		/* Bindings have no release hook: a listener does (DNS
		 * answers over TCP too; UDP_ECHO's takes no connection). */
		if (err >= 0) {
			err = zt_vnet_listen(vn, addr, port,
					     cfg->kind == ZT_VHOST_DNS ?
					     vhost_accept : NULL,
					     vhost_release, h);
			if (err < 0) /* no binding left pointing at h */
				zt_vnet_udp_unbind(vn, addr, port);
		}
	} else {
		err = zt_vnet_listen(vn, addr, port, vhost_accept, vhost_release, h);
	}
	if (err < 0) {
		free(h);
		return NULL;
	}
	return h;
}

const struct zt_vhost_stats *zt_vhost_stats(const struct zt_vhost *h)
{
	return &h->stats;
}

void zt_vhost_drop_sessions(struct zt_vhost *h, bool rst)
{
	struct sess *s = h->sessions;

	while (s) {
		struct sess *next = s->next;

		sess_end(s, rst);
		sess_maybe_free(s);
		s = next;
	}
}

void zt_vhost_reconfigure(struct zt_vhost *h, const struct zt_vhost_config *cfg)
{
	h->cfg = *cfg;
}
