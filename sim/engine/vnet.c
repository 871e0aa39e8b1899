// SPDX-License-Identifier: MIT
/*
 * vnet.c - the virtual upstream network (see vnet.h).
 *
 * Theory of operation:
 *
 * A connection (struct vconn) holds its two ends; each end holds the pipe
 * of bytes flowing toward it. A pipe is a ring of `buf` bytes and three
 * counters of the byte stream: sent (written by the peer), arrived (past
 * the latency, visible) and taken (consumed by this end's owner); the
 * ring holds sent - taken bytes, which is what bounds a send. Arrival
 * times are kept as marks (time, sequence reached, FIN) in a FIFO, and one
 * caller-owned event per pipe fires at the head mark's time. When bytes
 * are taken and the writer was refused room, a second event tells it
 * `writable` one latency later (the ACK's way back).
 *
 * Every report to an owner happens from an event of the loop. An owner
 * may call anything from inside a report, including close on the very end
 * reporting; the connection holds a busy count across reports and is
 * freed only when both ends are closed and nothing is inside it.
 * zt_vnet_resume() schedules a zero-delay event rather than offering at
 * once, so that a resume from inside a data report cannot recurse.
 * A peer's reset (or a router stream's keepalive running out) fails an
 * end only after the bytes that arrived before it are taken: one whose
 * owner paused holds the failure until it resumes and takes them, as
 * recv() returns queued data before the error.
 *
 * The router's sockets are ends (and bindings) whose owner is the vnet
 * itself: the reports become zt_router_stream_* / zt_router_dgram_data,
 * a stream's bytes read into the router as ztun-ref reads them
 * (stream_read.h: room, then straight into the flow's send ring).
 * Handles index a table that never reuses a slot, so a stale handle from
 * the router is caught and counted (bad_handle) instead of hitting
 * another connection. Once the vnet reported a router stream failed, the
 * handle is already closed, as upstream.h requires.
 */
#include "engine/vnet.h"
#include "engine/dgram_batch.h"
#include "engine/keepalive.h"
#include "engine/stream_read.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ztun/icmp_wire.h"

#define MAX_BLACKHOLES 16
#define MAX_ERROR_PREFIXES 16 /* prefix rules: errors, hops, failing sends */
#define VNET_DEFAULT_TTL 64  /* a router socket's TTL / hop limit until set */
/* bytes of a datagram an ICMP error about it gives back (Linux: what the
 * quote held, at most 576 bytes of error over IPv4) */
#define VNET_ERROR_QUOTE 512
#define EPHEMERAL_FIRST 40000

struct mark {
	uint64_t t;      /* arrival time */
	uint64_t seq;    /* sent counter reached by this write */
	bool fin;
};

/* Bytes toward one end. */
struct vpipe {
	uint8_t *ring;
	size_t cap;
	uint64_t sent, arrived, taken;
	uint64_t in_hand;    /* while the reader's data callback runs: the end
			      * of what it was handed (a host has read it) */
	struct mark *marks;  /* FIFO, grown as needed */
	size_t m_head, m_n, m_cap;
	bool fin_sent;       /* the writer shut down ... */
	bool fin_arrived;    /* ... and the FIN arrived after `sent` bytes */
	bool eof_told;
	bool want_writable;  /* the writer was refused room */
	struct zt_sim_event arrive_ev;
	struct zt_sim_event writable_ev;
};

struct vconn;

struct zt_vnet_sock {
	struct vconn *c;
	int side;                      /* 0: opener, 1: acceptor */
	const struct zt_vnet_sock_ops *ops;
	void *ctx;
	void *cookie;                  /* router ends: the core's cookie */
	int handle;                    /* router ends: the handle, else -1 */
	bool open;                     /* owned and not closed */
	bool connected;
	bool paused;
	int err_held;                  /* < 0: the end failed (the peer's
					* reset, its keepalive) behind bytes
					* the owner has not taken: it fails
					* with it once they are (recv()
					* order) */
	struct zt_endpoint local, remote;
	struct vpipe in;
	struct zt_sim_event offer_ev;  /* resume */
	struct zt_sim_event rst_ev;    /* the peer's reset arrives */
	struct zt_sim_keepalive ka;    /* router ends: stream_keepalive's */
	struct zt_sim_event ka_ev;     /* ... next probe (keepalive.h) */
};

struct vconn {
	struct zt_vnet *vn;
	struct vconn *next, *prev;
	struct zt_vnet_sock s[2];
	struct zt_sim_event connect_ev;
	int connect_err;               /* decided at open, 0 = find the listener */
	bool icmp;                     /* ... by an ICMP error: */
	struct zt_addr icmp_origin;    /* its sender, type and code */
	uint8_t icmp_type, icmp_code;
	unsigned busy;
};

struct listener {
	struct listener *next;
	struct zt_addr addr;
	uint16_t port;
	zt_vnet_accept_fn accept;
	void (*release)(void *ctx);
	void *ctx;
};

struct binding {
	struct binding *next;
	struct zt_vnet *vn;
	struct zt_addr addr;
	uint16_t port;
	zt_vnet_recv_fn recv;
	void *ctx;
	void *cookie;                  /* router sockets */
	int handle;
	bool echo;                     /* an ICMP echo socket (its port
					* only tells it apart here) */
	uint8_t ttl;                   /* router sockets: dgram_set_header's
					* (0: VNET_DEFAULT_TTL) ... */
	uint8_t tclass;                /* ... traffic class (0) ... */
	bool df;                       /* ... and IPv4 DF (false) */
	/* router sockets: what arrived at this instant from one sender
	 * (owned, or NULL), handed over at the instant's end */
	struct zt_dgram_batch *batch;
	struct zt_sim_event flush_ev;
};

/* A datagram in flight, or an ICMP error about one (@error: from @from's
 * address, about the datagram to @about, @data its payload as sent). */
struct vdgram {
	struct zt_vnet *vn;
	struct vdgram *next, *prev;
	struct zt_sim_event ev;
	struct zt_endpoint from;
	struct zt_addr to;
	uint16_t to_port;
	bool error;
	uint8_t type, code;
	uint32_t mtu;       /* a packet too big's */
	struct zt_endpoint about;
	uint8_t tclass;     /* the traffic class it travels with */
	size_t len;
	uint8_t data[];
};

/* What a prefix does to the datagrams sent to it. */
enum verror_kind {
	VERR_ANSWER,    /* ICMP @type/@code from @origin (zt_vnet_icmp_error) */
	VERR_HOPS,      /* @hops routers on the way, the first @origin
			 * (zt_vnet_hops) */
	VERR_SEND,      /* a router socket's send fails with @send_err
			 * (zt_vnet_unroutable) */
	VERR_MARK,      /* datagrams from it arrive with @tclass
			 * (zt_vnet_mark) */
	VERR_MTU,       /* a link of @mtu on the way, at router @origin
			 * or (family 0) the egress's own (zt_vnet_path_mtu) */
};

struct verror {
	uint8_t kind;   /* enum verror_kind */
	struct zt_cidr prefix;
	struct zt_addr origin;
	uint8_t type, code;
	uint8_t hops;
	int send_err;
	uint8_t tclass;
	uint32_t mtu;
};

struct vname {
	struct vname *next;
	struct zt_addr addr;
	char name[256];
};

struct zt_vnet {
	struct zt_sim *sim;
	struct zt_vnet_config cfg;
	struct zt_router *router;
	struct zt_vnet_stats stats;
	struct vconn *conns;
	struct listener *listeners;
	struct binding *bindings;
	struct vdgram *dgrams;
	struct vname *names;
	struct zt_cidr blackholes[MAX_BLACKHOLES];
	unsigned n_blackholes;
	struct verror errors[MAX_ERROR_PREFIXES];
	unsigned n_errors;
	uint16_t next_port;
	/* router handles: never reused */
	struct zt_vnet_sock **streams;
	size_t n_streams, cap_streams;
	struct binding **dsocks;
	size_t n_dsocks, cap_dsocks;
};

void zt_vnet_config_default(struct zt_vnet_config *cfg)
{
	static const uint8_t e4[4] = { 192, 0, 2, 1 };
	static const uint8_t e6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

	memset(cfg, 0, sizeof(*cfg));
	cfg->latency = ZT_MS;
	cfg->connect_timeout = 20 * ZT_SEC;
	cfg->buf = 256 * 1024;
	cfg->egress4 = zt_addr_v4(e4);
	cfg->egress6 = zt_addr_v6(e6);
}

/* --- addresses --------------------------------------------------------- */

static bool prefix_match(const struct zt_cidr *c, const struct zt_addr *a)
{
	unsigned full = c->len / 8, rest = c->len % 8;

	if (c->addr.family != a->family)
		return false;
	if (memcmp(c->addr.bytes, a->bytes, full) != 0)
		return false;
	if (rest) {
		uint8_t m = (uint8_t)(0xff << (8 - rest));

		return (c->addr.bytes[full] & m) == (a->bytes[full] & m);
	}
	return true;
}

static bool blackholed(const struct zt_vnet *vn, const struct zt_addr *a)
{
	for (unsigned i = 0; i < vn->n_blackholes; i++)
		if (prefix_match(&vn->blackholes[i], a))
			return true;
	return false;
}

/**
 * zt_vnet_blackhole() - make @prefix/@len unreachable.
 * @vn:     the vnet
 * @prefix: the prefix (copied)
 * @len:    its length in bits
 * Return: 0, -EINVAL or -ENOSPC.
 */
int zt_vnet_blackhole(struct zt_vnet *vn, const struct zt_addr *prefix,
		      uint8_t len)
{
	if (len > (prefix->family == ZT_AF_INET ? 32 : 128))
		return -EINVAL;
	if (vn->n_blackholes == MAX_BLACKHOLES)
		return -ENOSPC;
	vn->blackholes[vn->n_blackholes].addr = *prefix;
	vn->blackholes[vn->n_blackholes++].len = len;
	return 0;
}

/* A new rule of @kind for @prefix/@len (zeroed otherwise), or NULL
 * (*@err: -EINVAL for a bad length, -ENOSPC when the table is full). */
static struct verror *add_rule(struct zt_vnet *vn, enum verror_kind kind,
			       const struct zt_addr *prefix, uint8_t len, int *err)
{
	struct verror *e;

	*err = len > (prefix->family == ZT_AF_INET ? 32 : 128) ? -EINVAL :
	       vn->n_errors == MAX_ERROR_PREFIXES ? -ENOSPC : 0;
	if (*err)
		return NULL;
	e = &vn->errors[vn->n_errors++];
	memset(e, 0, sizeof(*e));
	e->kind = (uint8_t)kind;
	e->prefix.addr = *prefix;
	e->prefix.len = len;
	return e;
}

/**
 * zt_vnet_icmp_error() - answer every datagram and echo request sent to
 * @prefix/@len with an ICMP error @type/@code (in the prefix's family's
 * numbering) from @origin, as a router on the way would.
 * Return: 0, -EINVAL or -ENOSPC.
 */
int zt_vnet_icmp_error(struct zt_vnet *vn, const struct zt_addr *prefix,
		       uint8_t len, const struct zt_addr *origin, uint8_t type,
		       uint8_t code)
{
	struct verror *e;
	int err;

	if (origin->family != prefix->family)
		return -EINVAL;
	e = add_rule(vn, VERR_ANSWER, prefix, len, &err);
	if (e) {
		e->origin = *origin;
		e->type = type;
		e->code = code;
	}
	return err;
}

/**
 * zt_vnet_hops() - put @hops routers on the way to @prefix/@len: a router
 * socket's datagram or echo request to it sent with a TTL / hop limit of
 * @hops or less dies at router TTL, whose address is @first_hop with
 * TTL - 1 added to its last byte, and comes back from there as a time
 * exceeded (in transit); one with more goes on as usual.
 * Return: 0, -EINVAL or -ENOSPC.
 */
int zt_vnet_hops(struct zt_vnet *vn, const struct zt_addr *prefix, uint8_t len,
		 uint8_t hops, const struct zt_addr *first_hop)
{
	bool v4 = prefix->family == ZT_AF_INET;
	struct verror *e;
	int err;

	if (!hops || first_hop->family != prefix->family ||
	    (unsigned)first_hop->bytes[v4 ? 3 : 15] + hops - 1 > 255)
		return -EINVAL;
	e = add_rule(vn, VERR_HOPS, prefix, len, &err);
	if (e) {
		e->origin = *first_hop;
		e->type = v4 ? ZT_ICMP4_TIME_EXCEEDED : ZT_ICMP6_TIME_EXCEEDED;
		e->hops = hops;
	}
	return err;
}

/**
 * zt_vnet_mark() - datagrams from @prefix/@len arrive with traffic class
 * @tclass, as their senders or a router on the way marked them.
 * Return: 0, -EINVAL or -ENOSPC.
 */
int zt_vnet_mark(struct zt_vnet *vn, const struct zt_addr *prefix, uint8_t len,
		 uint8_t tclass)
{
	struct verror *e;
	int err;

	e = add_rule(vn, VERR_MARK, prefix, len, &err);
	if (e)
		e->tclass = tclass;
	return err;
}

/**
 * zt_vnet_path_mtu() - a link of MTU @mtu stands on the way to
 * @prefix/@len: at router @at, or (@at NULL) the egress's own link. A
 * router socket's datagram or echo request larger than @mtu (its IP
 * header counted) that may not be fragmented there - an IPv4 one sent
 * with DF (dgram_set_header), an IPv6 one past the sender's own link -
 * is lost: at router @at, which answers with a fragmentation needed /
 * packet too big of @mtu; on the egress's link its send fails with
 * -EMSGSIZE, and dgram_path_mtu gives @mtu. Anything else passes, in
 * fragments. (Unlike a Linux socket, the vnet learns no path MTU: a
 * router answers every datagram.)
 * Return: 0, -EINVAL or -ENOSPC.
 */
int zt_vnet_path_mtu(struct zt_vnet *vn, const struct zt_addr *prefix,
		     uint8_t len, uint32_t mtu, const struct zt_addr *at)
{
	struct verror *e;
	int err;

	if (mtu < (prefix->family == ZT_AF_INET ? 68u : 1280u) ||
	    (at && at->family != prefix->family))
		return -EINVAL;
	e = add_rule(vn, VERR_MTU, prefix, len, &err);
	if (e) {
		e->mtu = mtu;
		if (at)
			e->origin = *at;
	}
	return err;
}

/**
 * zt_vnet_unroutable() - a router socket's datagram or echo request to
 * @prefix/@len fails at once with @err (a negative errno: -ENETUNREACH
 * for no route, -EHOSTUNREACH, -EACCES for a firewall), as the egress's
 * own routing refuses it.
 * Return: 0, -EINVAL or -ENOSPC.
 */
int zt_vnet_unroutable(struct zt_vnet *vn, const struct zt_addr *prefix,
		       uint8_t len, int err)
{
	struct verror *e;
	int rc;

	if (err >= 0)
		return -EINVAL;
	e = add_rule(vn, VERR_SEND, prefix, len, &rc);
	if (e)
		e->send_err = err;
	return rc;
}

/* The first rule of @kind whose prefix holds @a, or NULL. */
static const struct verror *rule_for(const struct zt_vnet *vn,
				     enum verror_kind kind,
				     const struct zt_addr *a)
{
	for (unsigned i = 0; i < vn->n_errors; i++)
		if (vn->errors[i].kind == kind &&
		    prefix_match(&vn->errors[i].prefix, a))
			return &vn->errors[i];
	return NULL;
}

/**
 * zt_vnet_add_name() - let @name resolve to @addr.
 * @vn:   the vnet
 * @name: NUL-terminated, 1..255 bytes (copied)
 * @addr: copied
 * Return: 0, -EINVAL or -ENOMEM.
 */
int zt_vnet_add_name(struct zt_vnet *vn, const char *name,
		     const struct zt_addr *addr)
{
	size_t len = strlen(name);
	struct vname *n;

	if (len == 0 || len > 255)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	memcpy(n->name, name, len);
	n->addr = *addr;
	n->next = vn->names;
	vn->names = n;
	return 0;
}

/**
 * zt_vnet_resolve() - the address of @ep.
 * @vn:  the vnet
 * @ep:  an address, or a name (borrowed)
 * @out: the address
 * Return: 0 or -EHOSTUNREACH.
 */
int zt_vnet_resolve(const struct zt_vnet *vn, const struct zt_endpoint *ep,
		    struct zt_addr *out)
{
	if (!ep->name[0]) {
		if (ep->addr.family != ZT_AF_INET && ep->addr.family != ZT_AF_INET6)
			return -EHOSTUNREACH;
		*out = ep->addr;
		return 0;
	}
	for (const struct vname *n = vn->names; n; n = n->next) {
		if (strcmp(n->name, ep->name) == 0) {
			*out = n->addr;
			return 0;
		}
	}
	return -EHOSTUNREACH;
}

static const struct zt_addr *egress(const struct zt_vnet *vn, uint8_t family)
{
	return family == ZT_AF_INET6 ? &vn->cfg.egress6 : &vn->cfg.egress4;
}

static uint16_t ephemeral(struct zt_vnet *vn)
{
	uint16_t p = vn->next_port++;

	if (vn->next_port < EPHEMERAL_FIRST)
		vn->next_port = EPHEMERAL_FIRST;
	return p;
}

/* --- connections ------------------------------------------------------- */

static struct zt_vnet_sock *peer_of(struct zt_vnet_sock *s)
{
	return &s->c->s[!s->side];
}

static void pipe_destroy(struct zt_sim *sim, struct vpipe *p)
{
	zt_sim_cancel(sim, &p->arrive_ev);
	zt_sim_cancel(sim, &p->writable_ev);
	free(p->ring);
	free(p->marks);
	p->ring = NULL;
	p->marks = NULL;
}

static void conn_free(struct vconn *c)
{
	struct zt_sim *sim = c->vn->sim;

	zt_sim_cancel(sim, &c->connect_ev);
	for (int i = 0; i < 2; i++) {
		pipe_destroy(sim, &c->s[i].in);
		zt_sim_cancel(sim, &c->s[i].offer_ev);
		zt_sim_cancel(sim, &c->s[i].rst_ev);
		zt_sim_cancel(sim, &c->s[i].ka_ev);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		c->vn->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

/* Free @c once both ends are closed and nobody is inside it. */
static void conn_put(struct vconn *c)
{
	if (c->busy == 0 && !c->s[0].open && !c->s[1].open)
		conn_free(c);
}

/* Forget the router's handle of @s, if it has one. */
static void sock_unlink_handle(struct zt_vnet_sock *s)
{
	struct zt_vnet *vn = s->c->vn;

	if (s->handle >= 0) {
		vn->streams[s->handle] = NULL;
		vn->stats.streams_open--;
		s->handle = -1;
	}
}

static void sock_mark_closed(struct zt_vnet_sock *s)
{
	struct zt_sim *sim = s->c->vn->sim;

	s->open = false;
	sock_unlink_handle(s);
	zt_sim_cancel(sim, &s->offer_ev);
	zt_sim_cancel(sim, &s->rst_ev);
	zt_sim_cancel(sim, &s->ka_ev);
}

static void sock_fail(struct zt_vnet_sock *s, int err)
{
	const struct zt_vnet_sock_ops *ops = s->ops;
	void *ctx = s->ctx;

	if (!s->open)
		return;
	sock_mark_closed(s); /* dead before the owner hears: no close needed */
	if (ops && ops->failed)
		ops->failed(ctx, s, err);
}

static void pipe_push_mark(struct vpipe *p, uint64_t t, uint64_t seq, bool fin)
{
	if (p->m_n && !fin) {
		struct mark *last = &p->marks[(p->m_head + p->m_n - 1) % p->m_cap];

		if (last->t == t && !last->fin) {
			last->seq = seq;
			return;
		}
	}
	if (p->m_n == p->m_cap) {
		size_t ncap = p->m_cap ? p->m_cap * 2 : 16;
		struct mark *m = malloc(ncap * sizeof(*m));

		if (!m)
			abort(); /* the simulator cannot continue consistently */
		for (size_t i = 0; i < p->m_n; i++)
			m[i] = p->marks[(p->m_head + i) % p->m_cap];
		free(p->marks);
		p->marks = m;
		p->m_cap = ncap;
		p->m_head = 0;
	}
	p->marks[(p->m_head + p->m_n) % p->m_cap] = (struct mark){ t, seq, fin };
	p->m_n++;
}

static void offer(struct zt_vnet_sock *s);

static void pipe_schedule(struct zt_sim *sim, struct vpipe *p)
{
	if (p->m_n && !zt_sim_event_pending(&p->arrive_ev))
		zt_sim_at(sim, &p->arrive_ev, p->marks[p->m_head].t);
}

/* Make visible what arrived by now. */
static void pipe_arrive(struct zt_sim *sim, struct vpipe *p)
{
	while (p->m_n && p->marks[p->m_head].t <= sim->now) {
		struct mark *m = &p->marks[p->m_head];

		p->arrived = m->seq;
		if (m->fin)
			p->fin_arrived = true;
		p->m_head = (p->m_head + 1) % p->m_cap;
		p->m_n--;
	}
	pipe_schedule(sim, p);
}

static void arrive_fn(struct zt_sim *sim, void *arg)
{
	struct zt_vnet_sock *s = arg;
	struct vconn *c = s->c;

	pipe_arrive(sim, &s->in);
	c->busy++;
	offer(s);
	c->busy--;
	conn_put(c);
}

static void writable_fn(struct zt_sim *sim, void *arg)
{
	struct zt_vnet_sock *s = arg; /* the writer */
	struct vconn *c = s->c;

	(void)sim;
	if (!s->open || !s->ops || !s->ops->writable)
		return;
	c->busy++;
	s->ops->writable(s->ctx, s);
	c->busy--;
	conn_put(c);
}

/* Bytes of @s->in were taken: tell a refused writer, one latency later. */
static void pipe_room(struct zt_vnet_sock *s)
{
	struct vpipe *p = &s->in;
	struct zt_vnet_sock *w = peer_of(s);

	if (p->want_writable && !zt_sim_event_pending(&p->writable_ev)) {
		p->want_writable = false;
		zt_sim_event_init(&p->writable_ev, writable_fn, w);
		zt_sim_after(s->c->vn->sim, &p->writable_ev, s->c->vn->cfg.latency);
	}
}

/* Offer what arrived to the owner of @s, then the FIN. */
static void offer(struct zt_vnet_sock *s)
{
	struct vpipe *p = &s->in;
	uint64_t before = p->taken;

	if (!s->open) {
		p->taken = p->arrived; /* nobody reads: discard */
	} else {
		while (s->open && !s->paused && p->arrived > p->taken) {
			size_t off = (size_t)(p->taken % p->cap);
			size_t n = (size_t)(p->arrived - p->taken);
			size_t got;

			if (n > p->cap - off)
				n = p->cap - off;
			p->in_hand = p->taken + n;
			got = s->ops && s->ops->data ?
				      s->ops->data(s->ctx, s, p->ring + off, n) : n;
			p->in_hand = 0;
			if (!s->open)
				break; /* closed from inside: the rest is gone */
			if (got > n)
				got = n;
			p->taken += got;
			if (got < n)
				s->paused = true;
		}
	}
	if (p->taken != before)
		pipe_room(s);
	if (s->open && p->fin_arrived && !p->eof_told && p->taken == p->sent) {
		p->eof_told = true;
		if (s->ops && s->ops->eof)
			s->ops->eof(s->ctx, s);
	}
	if (s->open && s->err_held && p->taken == p->arrived)
		sock_fail(s, s->err_held);
}

static void ka_fn(struct zt_sim *sim, void *arg);

static void offer_fn(struct zt_sim *sim, void *arg)
{
	struct zt_vnet_sock *s = arg;
	struct vconn *c = s->c;

	(void)sim;
	c->busy++;
	offer(s);
	c->busy--;
	conn_put(c);
}

/*
 * @s fails with @err (< 0, counted in *@count) behind what its peer sent
 * before: bytes due by now (sent at the same instant, their event not yet
 * run) come first, as TCP delivers in order. An owner that does not take
 * them all now (paused) still gets them, and the failure after the last,
 * as recv() returns queued data before the error: offer() fails it once
 * they are taken.
 */
static void sock_fail_behind_data(struct zt_vnet_sock *s, int err,
				  uint64_t *count)
{
	struct vconn *c = s->c;

	c->busy++;
	pipe_arrive(c->vn->sim, &s->in);
	offer(s);
	if (s->open) {
		(*count)++;
		s->err_held = err;
		offer(s);
	}
	c->busy--;
	conn_put(c);
}

static void rst_fn(struct zt_sim *sim, void *arg)
{
	struct zt_vnet_sock *s = arg;

	(void)sim;
	if (s->open && !s->err_held)
		sock_fail_behind_data(s, -ECONNRESET, &s->c->vn->stats.resets);
}

static int pipe_init(struct vpipe *p, size_t cap, struct zt_vnet_sock *reader)
{
	memset(p, 0, sizeof(*p));
	p->ring = malloc(cap);
	if (!p->ring)
		return -ENOMEM;
	p->cap = cap;
	zt_sim_event_init(&p->arrive_ev, arrive_fn, reader);
	zt_sim_event_init(&p->writable_ev, writable_fn, NULL);
	return 0;
}

static void connect_fn(struct zt_sim *sim, void *arg)
{
	struct vconn *c = arg;
	struct zt_vnet *vn = c->vn;
	struct zt_vnet_sock *a = &c->s[0], *b = &c->s[1];
	int err = c->connect_err;
	struct listener *l = NULL;

	(void)sim;
	c->busy++;
	if (!err) {
		for (l = vn->listeners; l; l = l->next)
			if (l->accept && l->port == a->remote.port &&
			    zt_addr_eq(&l->addr, &a->remote.addr))
				break;
		err = -ECONNREFUSED;
		if (l) {
			b->open = true; /* the listener may close it at once */
			b->connected = true;
			err = l->accept(l->ctx, b);
			if (err < 0) {
				sock_mark_closed(b);
				err = -ECONNREFUSED;
			}
		}
	}
	if (err == -ECONNREFUSED)
		vn->stats.refused++;
	if (err) {
		sock_fail(a, err);
	} else if (a->open) {
		a->connected = true;
		if (a->ops && a->ops->connected)
			a->ops->connected(a->ctx, a);
	}
	c->busy--;
	conn_put(c);
}

/**
 * zt_vnet_connect() - open a connection to @ep.
 * @vn:  the vnet
 * @ep:  where to (borrowed)
 * @ops: the opener's reports (borrowed, must outlive the end)
 * @ctx: passed to @ops
 *
 * The outcome is reported one latency later (connected, or failed with
 * -ECONNREFUSED / -EHOSTUNREACH), or after connect_timeout for a blackhole
 * (-ETIMEDOUT). The end is open until failed or closed.
 * Return: the opener's end (owned by the vnet), or NULL without memory.
 */
struct zt_vnet_sock *zt_vnet_connect(struct zt_vnet *vn,
				     const struct zt_endpoint *ep,
				     const struct zt_vnet_sock_ops *ops,
				     void *ctx)
{
	struct vconn *c = calloc(1, sizeof(*c));
	struct zt_addr dst;
	uint64_t delay = vn->cfg.latency;

	if (!c)
		return NULL;
	c->vn = vn;
	for (int i = 0; i < 2; i++) {
		c->s[i].c = c;
		c->s[i].side = i;
		c->s[i].handle = -1;
		zt_sim_event_init(&c->s[i].offer_ev, offer_fn, &c->s[i]);
		zt_sim_event_init(&c->s[i].rst_ev, rst_fn, &c->s[i]);
		zt_sim_event_init(&c->s[i].ka_ev, ka_fn, &c->s[i]);
		if (pipe_init(&c->s[i].in, vn->cfg.buf, &c->s[i]) < 0) {
			free(c->s[0].in.ring);
			free(c);
			return NULL;
		}
	}
	c->s[0].ops = ops;
	c->s[0].ctx = ctx;
	c->s[0].open = true;
	if (zt_vnet_resolve(vn, ep, &dst) < 0) {
		c->connect_err = -EHOSTUNREACH;
		vn->stats.unreachable++;
		dst = *egress(vn, ZT_AF_INET);
	} else if (blackholed(vn, &dst)) {
		c->connect_err = -ETIMEDOUT;
		vn->stats.timed_out++;
		delay = vn->cfg.connect_timeout;
	}
	c->s[0].local.addr = *egress(vn, dst.family);
	c->s[0].local.port = ephemeral(vn);
	c->s[0].remote.addr = dst;
	c->s[0].remote.port = ep->port;
	c->s[1].local = c->s[0].remote;
	c->s[1].remote = c->s[0].local;
	zt_sim_event_init(&c->connect_ev, connect_fn, c);
	zt_sim_after(vn->sim, &c->connect_ev, delay);
	c->next = vn->conns;
	if (vn->conns)
		vn->conns->prev = c;
	vn->conns = c;
	return &c->s[0];
}

/**
 * zt_vnet_sock_own() - set the owner of an accepted end.
 * @s:   the end
 * @ops: borrowed, must outlive the end
 * @ctx: passed to @ops
 */
void zt_vnet_sock_own(struct zt_vnet_sock *s, const struct zt_vnet_sock_ops *ops,
		      void *ctx)
{
	s->ops = ops;
	s->ctx = ctx;
}

/**
 * zt_vnet_send_space() - bytes a send on @s would take now.
 * @s: the end
 * Return: free room of the pipe toward the peer.
 */
size_t zt_vnet_send_space(const struct zt_vnet_sock *s)
{
	const struct vpipe *p = &s->c->s[!s->side].in;

	return p->cap - (size_t)(p->sent - p->taken);
}

/**
 * zt_vnet_send() - write bytes toward the peer.
 * @s:    an open, connected end that did not shut down
 * @data: borrowed for the call
 * @len:  bytes offered
 *
 * Takes what fits in the pipe; when that is less than @len, the owner
 * hears `writable` once the reader freed room. Bytes for a peer that
 * closed are taken and discarded, and a reset comes back for them one
 * round trip later (failed with -ECONNRESET).
 * Return: bytes taken, or -EPIPE (closed, not connected, or shut down).
 */
ssize_t zt_vnet_send(struct zt_vnet_sock *s, const void *data, size_t len)
{
	struct zt_vnet *vn = s->c->vn;
	struct zt_vnet_sock *peer = peer_of(s);
	struct vpipe *p = &peer->in;
	size_t room, n, off, first;

	if (!s->open || !s->connected || p->fin_sent)
		return -EPIPE;
	if (!peer->open) {
		/* They reach a socket that is gone, whose stack answers with
		 * a reset one round trip later (Linux: data after close()). */
		if (len && !zt_sim_event_pending(&s->rst_ev))
			zt_sim_at(vn->sim, &s->rst_ev,
				  zt_sim_time_add(zt_sim_time_add(vn->sim->now,
								  vn->cfg.latency),
						  vn->cfg.latency));
		return (ssize_t)len;
	}
	room = p->cap - (size_t)(p->sent - p->taken);
	n = len < room ? len : room;
	if (n < len)
		p->want_writable = true;
	if (n == 0)
		return 0;
	off = (size_t)(p->sent % p->cap);
	first = n < p->cap - off ? n : p->cap - off;
	memcpy(p->ring + off, data, first);
	memcpy(p->ring, (const uint8_t *)data + first, n - first);
	p->sent += n;
	if (p->sent - p->taken > vn->stats.max_pipe)
		vn->stats.max_pipe = p->sent - p->taken;
	pipe_push_mark(p, zt_sim_time_add(vn->sim->now, vn->cfg.latency),
		       p->sent, false);
	pipe_schedule(vn->sim, p);
	return (ssize_t)n;
}

/**
 * zt_vnet_shutdown() - send FIN after the bytes already taken.
 * @s: the end
 */
void zt_vnet_shutdown(struct zt_vnet_sock *s)
{
	struct zt_vnet *vn = s->c->vn;
	struct vpipe *p = &peer_of(s)->in;

	if (!s->open || !s->connected || p->fin_sent)
		return;
	p->fin_sent = true;
	pipe_push_mark(p, zt_sim_time_add(vn->sim->now, vn->cfg.latency),
		       p->sent, true);
	pipe_schedule(vn->sim, p);
}

static void sock_close(struct zt_vnet_sock *s, bool rst)
{
	struct vconn *c = s->c;
	struct zt_vnet *vn = c->vn;
	struct zt_vnet_sock *peer = peer_of(s);
	bool in_flight;
	uint64_t late = 0;

	if (!s->open)
		return;
	/* Bytes that arrived unread: RST, as Linux's close() ("data was
	 * lost"); those handed to the data callback that closes were read (a
	 * host reads before it offers). Bytes still in flight do not count:
	 * they reach a socket that is gone, which answers with a reset one
	 * latency after they arrive (behind the FIN). */
	pipe_arrive(vn->sim, &s->in);
	if (s->in.arrived != (s->in.in_hand > s->in.taken ? s->in.in_hand :
							  s->in.taken))
		rst = true;
	in_flight = s->in.sent != s->in.arrived && s->in.m_n;
	if (in_flight) /* the first of them reaches us at the head mark */
		late = zt_sim_time_add(s->in.marks[s->in.m_head].t,
				       vn->cfg.latency);
	sock_mark_closed(s);
	/* What was in flight toward us is discarded (and frees the writer). */
	s->in.taken = s->in.sent;
	if (peer->open && s->connected) {
		if (rst) {
			zt_sim_after(vn->sim, &peer->rst_ev, vn->cfg.latency);
		} else {
			struct vpipe *p = &peer->in;

			if (!p->fin_sent) {
				p->fin_sent = true;
				pipe_push_mark(p, zt_sim_time_add(vn->sim->now,
								  vn->cfg.latency),
					       p->sent, true);
				pipe_schedule(vn->sim, p);
			}
			if (in_flight && !zt_sim_event_pending(&peer->rst_ev))
				zt_sim_at(vn->sim, &peer->rst_ev, late);
		}
	}
	if (!c->s[1].open && !c->s[1].connected)
		zt_sim_cancel(vn->sim, &c->connect_ev); /* never got there */
	conn_put(c);
}

/**
 * zt_vnet_close() - close @s: the peer gets FIN after what was sent, or a
 * reset when bytes that arrived at @s were left unread; bytes still in
 * flight toward @s bring the peer a reset one latency after they arrive.
 * @s is gone on return.
 * @s: the end
 */
void zt_vnet_close(struct zt_vnet_sock *s)
{
	sock_close(s, false);
}

/**
 * zt_vnet_abort() - close @s with a reset; @s is gone on return.
 * @s: the end
 */
void zt_vnet_abort(struct zt_vnet_sock *s)
{
	sock_close(s, true);
}

/**
 * zt_vnet_resume() - offer the held bytes of @s again, from an event.
 * @s: the end
 */
void zt_vnet_resume(struct zt_vnet_sock *s)
{
	if (!s->open)
		return;
	s->paused = false;
	if (!zt_sim_event_pending(&s->offer_ev))
		zt_sim_after(s->c->vn->sim, &s->offer_ev, 0);
}

void zt_vnet_sock_peer(const struct zt_vnet_sock *s, struct zt_endpoint *out)
{
	*out = s->remote;
}

void zt_vnet_sock_local(const struct zt_vnet_sock *s, struct zt_endpoint *out)
{
	*out = s->local;
}

/**
 * zt_vnet_listen() - accept connections to @addr:@port.
 * @vn:      the vnet
 * @addr:    copied
 * @port:    the port
 * @accept:  called for each connection, from an event
 * @release: optional, called with @ctx when the vnet is freed
 * @ctx:     the listener's pointer (borrowed)
 * Return: 0, -EADDRINUSE or -ENOMEM.
 */
int zt_vnet_listen(struct zt_vnet *vn, const struct zt_addr *addr,
		   uint16_t port, zt_vnet_accept_fn accept,
		   void (*release)(void *ctx), void *ctx)
{
	struct listener *l;

	for (l = vn->listeners; l && accept; l = l->next)
		if (l->accept && l->port == port && zt_addr_eq(&l->addr, addr))
			return -EADDRINUSE;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->addr = *addr;
	l->port = port;
	l->accept = accept;
	l->release = release;
	l->ctx = ctx;
	l->next = vn->listeners;
	vn->listeners = l;
	return 0;
}

/* --- datagrams --------------------------------------------------------- */

static struct binding *find_binding(struct zt_vnet *vn, const struct zt_addr *a,
				    uint16_t port)
{
	for (struct binding *b = vn->bindings; b; b = b->next)
		if (b->port == port && zt_addr_eq(&b->addr, a))
			return b;
	return NULL;
}

static struct binding *bind_new(struct zt_vnet *vn, const struct zt_addr *addr,
				uint16_t port, zt_vnet_recv_fn recv, void *ctx)
{
	struct binding *b;

	if (port == 0) {
		do
			port = ephemeral(vn);
		while (find_binding(vn, addr, port));
	} else if (find_binding(vn, addr, port)) {
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->addr = *addr;
	b->port = port;
	b->recv = recv;
	b->ctx = ctx;
	b->handle = -1;
	b->vn = vn;
	b->next = vn->bindings;
	vn->bindings = b;
	return b;
}

/**
 * zt_vnet_udp_bind() - receive datagrams sent to @addr:@port.
 * @vn:   the vnet
 * @addr: copied
 * @port: the port, or 0 for an ephemeral one
 * @recv: called from an event for each datagram
 * @ctx:  passed to @recv (borrowed)
 * Return: the port bound, -EADDRINUSE or -ENOMEM.
 */
int zt_vnet_udp_bind(struct zt_vnet *vn, const struct zt_addr *addr,
		     uint16_t port, zt_vnet_recv_fn recv, void *ctx)
{
	struct binding *b;

	if (port && find_binding(vn, addr, port))
		return -EADDRINUSE;
	b = bind_new(vn, addr, port, recv, ctx);
	return b ? b->port : -ENOMEM;
}

/* Free @b and what it still holds (a closed socket's queue is gone). */
static void binding_free(struct zt_vnet *vn, struct binding *b)
{
	if (b->batch) {
		zt_sim_cancel(vn->sim, &b->flush_ev);
		free(b->batch);
	}
	free(b);
}

static void unbind(struct zt_vnet *vn, struct binding *b)
{
	for (struct binding **pp = &vn->bindings; *pp; pp = &(*pp)->next) {
		if (*pp == b) {
			*pp = b->next;
			binding_free(vn, b);
			return;
		}
	}
}

/**
 * zt_vnet_udp_unbind() - stop receiving on @addr:@port; datagrams still
 * on their way are dropped when they arrive.
 * @vn:   the vnet
 * @addr: the address bound
 * @port: the port bound
 */
void zt_vnet_udp_unbind(struct zt_vnet *vn, const struct zt_addr *addr,
			uint16_t port)
{
	struct binding *b = find_binding(vn, addr, port);

	if (b)
		unbind(vn, b);
}

static void dgram_unlink(struct vdgram *d)
{
	if (d->prev)
		d->prev->next = d->next;
	else
		d->vn->dgrams = d->next;
	if (d->next)
		d->next->prev = d->prev;
}

static void dgram_fn(struct zt_sim *sim, void *arg);
static void r_dgram_error(struct binding *b, const struct vdgram *d);

static void vdgram_queue(struct zt_vnet *vn, struct vdgram *d)
{
	d->vn = vn;
	d->next = vn->dgrams;
	if (vn->dgrams)
		vn->dgrams->prev = d;
	vn->dgrams = d;
	zt_sim_event_init(&d->ev, dgram_fn, d);
	zt_sim_after(vn->sim, &d->ev, vn->cfg.latency);
}

/* The ICMP error @type/@code from @origin about the datagram @data/@len
 * that @sender sent to @about goes back to @sender, one latency later;
 * only router sockets hear it (as a socket with IP_RECVERR would). */
static void error_back(struct zt_vnet *vn, const struct zt_endpoint *sender,
		       const struct zt_endpoint *about,
		       const struct zt_addr *origin, uint8_t type,
		       uint8_t code, uint32_t mtu, const uint8_t *data,
		       size_t len)
{
	const struct binding *b = find_binding(vn, &sender->addr, sender->port);
	struct vdgram *d;

	if (!b || !b->cookie)
		return;
	if (len > VNET_ERROR_QUOTE)
		len = VNET_ERROR_QUOTE;
	d = malloc(sizeof(*d) + (len ? len : 1));
	if (!d)
		return;
	memset(d, 0, sizeof(*d));
	d->error = true;
	d->from.addr = *origin;
	d->to = sender->addr;
	d->to_port = sender->port;
	d->type = type;
	d->code = code;
	d->mtu = mtu;
	d->about = *about;
	d->len = len;
	memcpy(d->data, data, len);
	vn->stats.icmp_errors++;
	vdgram_queue(vn, d);
}

static void dgram_fn(struct zt_sim *sim, void *arg)
{
	struct vdgram *d = arg;
	struct zt_vnet *vn = d->vn;
	struct binding *b = find_binding(vn, &d->to, d->to_port);

	(void)sim;
	dgram_unlink(d);
	if (d->error) {
		if (b && b->cookie && vn->router)
			r_dgram_error(b, d);
	} else if (b) {
		vn->stats.datagrams_delivered++;
		b->recv(b->ctx, &d->from, d->data, d->len, d->tclass);
	} else {
		struct zt_endpoint about = { .addr = d->to, .port = d->to_port };

		/* nobody listens there: the host says so */
		vn->stats.datagrams_dropped++;
		error_back(vn, &d->from, &about, &d->to,
			   d->to.family == ZT_AF_INET ? ZT_ICMP4_DEST_UNREACH :
							ZT_ICMP6_DEST_UNREACH,
			   d->to.family == ZT_AF_INET ? ZT_ICMP4_CODE_PORT_UNREACH :
							ZT_ICMP6_CODE_PORT_UNREACH,
			   0, d->data, d->len);
	}
	free(d);
}

/* What answers a datagram to @dst sent with @ttl, from *@origin: the
 * router on its way where the TTL runs out (zt_vnet_hops), or an error
 * its prefix gets (zt_vnet_icmp_error); NULL when nothing does. */
static const struct verror *error_on_the_way(const struct zt_vnet *vn,
					     const struct zt_addr *dst,
					     uint8_t ttl, struct zt_addr *origin)
{
	const struct verror *e = rule_for(vn, VERR_HOPS, dst);

	if (e && ttl <= e->hops) {
		*origin = e->origin;
		origin->bytes[origin->family == ZT_AF_INET ? 3 : 15] += ttl - 1;
		return e;
	}
	e = rule_for(vn, VERR_ANSWER, dst);
	if (e)
		*origin = e->origin;
	return e;
}

static int udp_send(struct zt_vnet *vn, const struct zt_endpoint *from,
		    const struct zt_endpoint *to, uint8_t ttl, uint8_t tclass,
		    const void *data, size_t len)
{
	const struct verror *err, *mark;
	struct zt_endpoint about;
	struct zt_addr dst, origin;
	struct vdgram *d;

	vn->stats.datagrams_sent++;
	if (zt_vnet_resolve(vn, to, &dst) < 0) {
		vn->stats.datagrams_dropped++;
		return -EHOSTUNREACH;
	}
	if (blackholed(vn, &dst)) {
		vn->stats.datagrams_dropped++;
		return 0;
	}
	err = error_on_the_way(vn, &dst, ttl, &origin);
	if (err) {
		memset(&about, 0, sizeof(about));
		about.addr = dst;
		about.port = to->port;
		vn->stats.datagrams_dropped++;
		error_back(vn, from, &about, &origin, err->type, err->code, 0,
			   data, len);
		return 0;
	}
	d = malloc(sizeof(*d) + (len ? len : 1));
	if (!d)
		return -ENOMEM;
	memset(d, 0, sizeof(*d));
	d->from = *from;
	d->to = dst;
	d->to_port = to->port;
	mark = rule_for(vn, VERR_MARK, &from->addr);
	d->tclass = mark ? mark->tclass : tclass;
	d->len = len;
	memcpy(d->data, data, len);
	vdgram_queue(vn, d);
	return 0;
}

/**
 * zt_vnet_udp_send() - send one datagram.
 * @vn:   the vnet
 * @from: the sender's address and port (borrowed)
 * @to:   an address or a name (borrowed)
 * @data: copied
 * @len:  its length
 * Return: 0 (also when it will be dropped: UDP), -EHOSTUNREACH for an
 * unknown name, or -ENOMEM.
 */
int zt_vnet_udp_send(struct zt_vnet *vn, const struct zt_endpoint *from,
		     const struct zt_endpoint *to, const void *data, size_t len)
{
	return udp_send(vn, from, to, VNET_DEFAULT_TTL, 0, data, len);
}

/* --- the router's sockets ---------------------------------------------- */

static void r_connected(void *ctx, struct zt_vnet_sock *s)
{
	struct zt_vnet *vn = ctx;

	if (vn->router)
		zt_router_stream_connected(vn->router, s->cookie, vn->sim->now);
}

static void r_failed(void *ctx, struct zt_vnet_sock *s, int err)
{
	struct zt_vnet *vn = ctx;
	const struct vconn *c = s->c;
	struct zt_dgram_error e;

	if (!vn->router)
		return;
	if (!c->icmp || s->connected) {
		zt_router_stream_failed(vn->router, s->cookie, err, vn->sim->now);
		return;
	}
	/* what a socket with IP_RECVERR reads about its SYN */
	memset(&e, 0, sizeof(e));
	e.to = s->remote;
	e.origin = c->icmp_origin;
	e.type = c->icmp_type;
	e.code = c->icmp_code;
	zt_router_stream_failed_icmp(vn->router, s->cookie, err, &e,
				     vn->sim->now);
}

static size_t r_data(void *ctx, struct zt_vnet_sock *s, const uint8_t *p,
		     size_t n)
{
	struct zt_vnet *vn = ctx;
	size_t got = 0;
	bool pause = false;

	if (!vn->router)
		return n;
	/* Read as ztun-ref does (stream_read.h): again after a short read,
	 * until all is taken, the router pauses the stream or closes it. */
	while (got < n && !pause && s->open)
		got += zt_stream_read(vn->router, s->cookie, p + got, n - got,
				      vn->sim->now, &pause);
	vn->stats.bytes_to_router += got;
	return got;
}

static void r_eof(void *ctx, struct zt_vnet_sock *s)
{
	struct zt_vnet *vn = ctx;

	if (vn->router)
		zt_router_stream_eof(vn->router, s->cookie, vn->sim->now);
}

static void r_writable(void *ctx, struct zt_vnet_sock *s)
{
	struct zt_vnet *vn = ctx;

	if (vn->router)
		zt_router_stream_writable(vn->router, s->cookie, vn->sim->now);
}

static const struct zt_vnet_sock_ops router_sock_ops = {
	.connected = r_connected,
	.failed = r_failed,
	.data = r_data,
	.eof = r_eof,
	.writable = r_writable,
};

static struct zt_vnet_sock *stream_of(struct zt_vnet *vn, int h)
{
	if (h < 0 || (size_t)h >= vn->n_streams || !vn->streams[h]) {
		vn->stats.bad_handle++;
		return NULL;
	}
	return vn->streams[h];
}

/* The router's descriptors are all in use (cfg.max_sockets). */
static bool sockets_exhausted(struct zt_vnet *vn)
{
	if (!vn->cfg.max_sockets ||
	    vn->stats.streams_open + vn->stats.dgrams_open < vn->cfg.max_sockets)
		return false;
	vn->stats.emfile++;
	return true;
}

static int up_stream_open(void *host, const struct zt_endpoint *ep,
			  unsigned flags, void *cookie, uint64_t now)
{
	struct zt_vnet *vn = host;
	const struct verror *hops;
	struct zt_vnet_sock *s;
	uint8_t ttl;

	(void)now;
	if (sockets_exhausted(vn))
		return -EMFILE;
	if (ZT_UPSTREAM_DSCP_OF(flags)) {
		vn->stats.dscp_opens++;
		vn->stats.last_dscp = ZT_UPSTREAM_DSCP_OF(flags);
	}
	if (vn->n_streams == vn->cap_streams) {
		size_t ncap = vn->cap_streams ? vn->cap_streams * 2 : 64;
		struct zt_vnet_sock **t = realloc(vn->streams, ncap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		vn->streams = t;
		vn->cap_streams = ncap;
	}
	s = zt_vnet_connect(vn, ep, &router_sock_ops, vn);
	if (!s)
		return -ENOMEM;
	ttl = ZT_UPSTREAM_TTL_OF(flags) ? ZT_UPSTREAM_TTL_OF(flags) :
					  VNET_DEFAULT_TTL;
	vn->stats.last_stream_ttl = ttl;
	hops = s->c->connect_err ? NULL :
	       rule_for(vn, VERR_HOPS, &s->remote.addr);
	if (hops && ttl <= hops->hops) {
		/* the SYN dies at router TTL, whose time exceeded comes back */
		s->c->connect_err = -EHOSTUNREACH;
		s->c->icmp = true;
		s->c->icmp_origin = hops->origin;
		s->c->icmp_origin.bytes[hops->origin.family == ZT_AF_INET ? 3 : 15] +=
			ttl - 1;
		s->c->icmp_type = hops->type;
		s->c->icmp_code = 0;
	}
	s->cookie = cookie;
	s->handle = (int)vn->n_streams;
	vn->streams[vn->n_streams++] = s;
	vn->stats.streams_opened++;
	vn->stats.streams_open++;
	return s->handle;
}

static ssize_t up_stream_send(void *host, int handle, const void *data,
			      size_t len)
{
	struct zt_vnet *vn = host;
	struct zt_vnet_sock *s = stream_of(vn, handle);
	ssize_t n;

	if (!s)
		return -EBADF;
	/* Its failure held behind bytes not taken yet (err_held): ztun-ref's
	 * send() would take the error there, and its host holds it for the
	 * end of the reads, taking nothing (sim/real/host.c). */
	if (s->err_held)
		return 0;
	n = zt_vnet_send(s, data, len);
	if (n > 0) {
		vn->stats.bytes_to_hosts += (uint64_t)n;
		vn->stats.router_sends++;
		if ((uint64_t)n > vn->stats.max_send)
			vn->stats.max_send = (uint64_t)n;
	}
	return n;
}

static void up_stream_shutdown(void *host, int handle)
{
	struct zt_vnet *vn = host;
	struct zt_vnet_sock *s = stream_of(vn, handle);

	if (s) {
		vn->stats.stream_shutdowns++;
		/* dead behind held bytes: no FIN leaves (ztun-ref's
		 * shutdown() fails with ENOTCONN) */
		if (!s->err_held)
			zt_vnet_shutdown(s);
	}
}

static void up_stream_close(void *host, int handle, bool abort)
{
	struct zt_vnet *vn = host;
	struct zt_vnet_sock *s = stream_of(vn, handle);

	if (s) {
		vn->stats.stream_closes++;
		if (abort)
			zt_vnet_abort(s);
		else
			zt_vnet_close(s);
	}
}

static void up_stream_resume(void *host, int handle)
{
	struct zt_vnet *vn = host;
	struct zt_vnet_sock *s = stream_of(vn, handle);

	if (s)
		zt_vnet_resume(s);
}

static int up_stream_set_dscp(void *host, int handle, uint8_t dscp)
{
	struct zt_vnet *vn = host;

	if (!stream_of(vn, handle))
		return -EBADF;
	vn->stats.dscp_sets++;
	vn->stats.last_dscp = dscp;
	return 0;
}

/* A keepalive probe of router end @arg is due: a peer whose address is
 * blackholed now (it vanished, or a NAT on the way forgot the
 * connection) does not answer, and its stream fails with -ETIMEDOUT once
 * the probes ran out (keepalive.h). */
static void ka_fn(struct zt_sim *sim, void *arg)
{
	struct zt_vnet_sock *s = arg;
	uint64_t next;

	if (!s->open || s->err_held)
		return; /* dead already: its timers stopped */
	if (zt_sim_keepalive_probe(&s->ka, blackholed(s->c->vn, &s->remote.addr),
				   sim->now, &next)) {
		zt_sim_at(sim, &s->ka_ev, next);
		return;
	}
	/* the bytes it holds first, as ztun-ref reads them before the
	 * error; a paused router takes them once it resumes */
	sock_fail_behind_data(s, -ETIMEDOUT, &s->c->vn->stats.keepalive_timeouts);
}

static int up_stream_keepalive(void *host, int handle,
			       const struct zt_keepalive *ka)
{
	struct zt_vnet *vn = host;
	struct zt_vnet_sock *s = stream_of(vn, handle);

	if (!s)
		return -EBADF;
	if (!s->connected)
		return -ENOTCONN;
	vn->stats.keepalive_sets++;
	zt_sim_at(vn->sim, &s->ka_ev,
		  zt_sim_keepalive_start(&s->ka, ka, vn->sim->now));
	return 0;
}

static int up_stream_peer(void *host, int handle, struct zt_endpoint *out)
{
	struct zt_vnet_sock *s = stream_of(host, handle);

	if (!s)
		return -EBADF;
	zt_vnet_sock_peer(s, out);
	return 0;
}

/* The router socket @handle, or NULL once closed (not a bad handle). */
static struct binding *dsock_open(struct zt_vnet *vn, int handle)
{
	if (handle < 0 || (size_t)handle >= vn->n_dsocks)
		return NULL;
	return vn->dsocks[handle];
}

/* Hand socket @handle's batch to the router. The router may close the
 * socket meanwhile: nothing of it is touched after the call. */
static void rbatch_flush(struct zt_vnet *vn, int handle)
{
	struct binding *b = dsock_open(vn, handle);
	struct zt_dgram_batch *q;

	if (!b || !b->batch)
		return;
	q = b->batch;
	b->batch = NULL;
	zt_sim_cancel(vn->sim, &b->flush_ev);
	vn->stats.router_batches++;
	vn->stats.router_batch_datagrams += q->n;
	if (vn->router)
		zt_router_dgram_batch(vn->router, b->cookie, &q->from, q->d, q->n,
				      vn->sim->now);
	free(q);
}

static void flush_fn(struct zt_sim *sim, void *arg)
{
	struct binding *b = arg;

	(void)sim;
	rbatch_flush(b->vn, b->handle);
}

/* A datagram for router socket @ctx (its binding), which arrived with
 * traffic class @tclass: into the socket's batch of this instant. */
static void r_dgram_recv(void *ctx, const struct zt_endpoint *from,
			 const uint8_t *data, size_t len, uint8_t tclass)
{
	struct binding *b = ctx;
	struct zt_vnet *vn = b->vn;
	int handle = b->handle;
	struct zt_dgram_batch *q = b->batch;

	if (!vn->router)
		return;
	if (q && !zt_dgram_batch_takes(q, from, len)) {
		rbatch_flush(vn, handle);
		b = dsock_open(vn, handle);
		if (!b)
			return; /* closed by the router: its queue went with it */
	}
	q = b->batch;
	if (!q) {
		q = malloc(sizeof(*q));
		if (!q) { /* no batch then: this one alone */
			zt_router_dgram_data(vn->router, b->cookie, from, data, len,
					     vn->sim->now);
			return;
		}
		zt_dgram_batch_clear(q);
		b->batch = q;
		/* after every other event of this instant (scheduled earlier) */
		zt_sim_event_init(&b->flush_ev, flush_fn, b);
		zt_sim_after(vn->sim, &b->flush_ev, 0);
	}
	zt_dgram_batch_add(q, from, data, len, tclass);
}

/* ICMP error @d for router socket @b, after what arrived before it. */
static void r_dgram_error(struct binding *b, const struct vdgram *d)
{
	struct zt_vnet *vn = b->vn;
	int handle = b->handle;
	struct zt_dgram_error e;

	rbatch_flush(vn, handle);
	b = dsock_open(vn, handle);
	if (!b)
		return;
	memset(&e, 0, sizeof(e));
	e.to = d->about;
	e.origin = d->from.addr;
	e.type = d->type;
	e.code = d->code;
	e.mtu = d->mtu;
	e.data = d->data;
	e.len = d->len;
	zt_router_dgram_error(vn->router, b->cookie, &e, vn->sim->now);
}

static int up_dgram_open(void *host, uint8_t family, uint16_t port,
			 unsigned flags, void *cookie, uint64_t now)
{
	struct zt_vnet *vn = host;
	struct binding *b;

	(void)now;
	if (family != ZT_AF_INET && family != ZT_AF_INET6)
		return -EAFNOSUPPORT;
	if (sockets_exhausted(vn))
		return -EMFILE;
	if (flags & ZT_UPSTREAM_ICMP_ECHO)
		port = 0;
	if (vn->n_dsocks == vn->cap_dsocks) {
		size_t ncap = vn->cap_dsocks ? vn->cap_dsocks * 2 : 64;
		struct binding **t = realloc(vn->dsocks, ncap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		vn->dsocks = t;
		vn->cap_dsocks = ncap;
	}
	b = bind_new(vn, egress(vn, family), port, r_dgram_recv, NULL);
	if (!b)
		return port ? -EADDRINUSE : -ENOMEM;
	b->ctx = b;
	b->cookie = cookie;
	b->echo = flags & ZT_UPSTREAM_ICMP_ECHO;
	b->handle = (int)vn->n_dsocks;
	vn->dsocks[vn->n_dsocks++] = b;
	vn->stats.dgrams_opened++;
	vn->stats.dgrams_open++;
	return b->handle;
}

static struct binding *dsock_of(struct zt_vnet *vn, int h)
{
	if (h < 0 || (size_t)h >= vn->n_dsocks || !vn->dsocks[h]) {
		vn->stats.bad_handle++;
		return NULL;
	}
	return vn->dsocks[h];
}

void *zt_vnet_dgram_cookie(struct zt_vnet *vn, int handle)
{
	if (handle < 0 || (size_t)handle >= vn->n_dsocks || !vn->dsocks[handle])
		return NULL;
	return vn->dsocks[handle]->cookie;
}

int zt_vnet_dgram_local(struct zt_vnet *vn, int handle, struct zt_endpoint *out)
{
	const struct binding *b;

	if (handle < 0 || (size_t)handle >= vn->n_dsocks || !vn->dsocks[handle])
		return -EBADF;
	b = vn->dsocks[handle];
	memset(out, 0, sizeof(*out));
	out->addr = b->addr;
	out->port = b->port;
	return 0;
}

/*
 * An echo request from ICMP echo socket @b: every address of the virtual
 * network answers a ping (but a black hole's or a name's), with the same
 * message as an echo reply, one latency later; a prefix given an ICMP
 * error (zt_vnet_icmp_error) answers with that error instead. The reply's
 * checksum is not recomputed: the router does not check it (a kernel's
 * ping socket has checked it already).
 */
static int echo_send(struct zt_vnet *vn, const struct binding *b,
		     const struct zt_endpoint *to, const uint8_t *msg,
		     size_t len)
{
	uint8_t reply[2048];
	struct zt_endpoint from, back;
	const struct verror *err;
	struct zt_addr origin;
	bool v4 = b->addr.family == ZT_AF_INET, hole;

	if (len < ZT_ICMP_HDR || len > sizeof(reply) || to->name[0] ||
	    to->addr.family != b->addr.family ||
	    msg[0] != (v4 ? ZT_ICMP4_ECHO_REQUEST : ZT_ICMP6_ECHO_REQUEST))
		return -EINVAL;
	memset(&back, 0, sizeof(back));
	back.addr = b->addr;
	back.port = b->port;
	hole = blackholed(vn, &to->addr); /* silent, as for a datagram */
	err = hole ? NULL :
	      error_on_the_way(vn, &to->addr, b->ttl ? b->ttl : VNET_DEFAULT_TTL,
			       &origin);
	if (hole || err) {
		vn->stats.datagrams_sent++;
		vn->stats.datagrams_dropped++;
		if (err)
			error_back(vn, &back, to, &origin, err->type,
				   err->code, 0, msg, len);
		return 0;
	}
	memcpy(reply, msg, len);
	reply[0] = v4 ? ZT_ICMP4_ECHO_REPLY : ZT_ICMP6_ECHO_REPLY;
	memset(&from, 0, sizeof(from));
	from.addr = to->addr;
	return zt_vnet_udp_send(vn, &from, &back, reply, len); /* counts it */
}

/* The link of zt_vnet_path_mtu() that datagram @data (@len bytes of UDP
 * payload, or the whole ICMP message of an echo socket) of @b to @to
 * cannot pass unfragmented, or NULL. */
static const struct verror *too_big_for(const struct zt_vnet *vn,
					const struct binding *b,
					const struct zt_endpoint *to,
					size_t len)
{
	bool v4 = b->addr.family == ZT_AF_INET;
	const struct verror *e = to->name[0] ? NULL :
				 rule_for(vn, VERR_MTU, &to->addr);
	size_t ip_len = (v4 ? ZT_IP4_MIN_HDR : ZT_IP6_HDR) +
			(b->echo ? 0 : ZT_UDP_HDR) + len;
	bool local;

	if (!e || ip_len <= e->mtu)
		return NULL;
	local = !e->origin.family;
	/* the egress fragments what may be (IPv6: on its own link only) */
	return b->df || (!v4 && !local) ? e : NULL;
}

static int up_dgram_send(void *host, int handle, const struct zt_endpoint *to,
			 const void *data, size_t len)
{
	struct zt_vnet *vn = host;
	struct binding *b = dsock_of(vn, handle);
	const struct verror *fail;
	struct zt_endpoint from;

	if (!b)
		return -EBADF;
	fail = to->name[0] ? NULL : rule_for(vn, VERR_SEND, &to->addr);
	if (fail)
		return fail->send_err;
	memset(&from, 0, sizeof(from));
	from.addr = b->addr;
	from.port = b->port;
	vn->stats.last_tclass = b->tclass;
	vn->stats.last_df = b->df;
	vn->stats.last_to = *to;
	vn->stats.last_from = from;
	fail = too_big_for(vn, b, to, len);
	if (fail && !fail->origin.family)
		return -EMSGSIZE; /* the egress's own link */
	if (fail) {
		bool v4 = b->addr.family == ZT_AF_INET;

		vn->stats.datagrams_sent++;
		vn->stats.datagrams_dropped++;
		error_back(vn, &from, to, &fail->origin,
			   v4 ? ZT_ICMP4_DEST_UNREACH : ZT_ICMP6_PACKET_TOO_BIG,
			   v4 ? ZT_ICMP4_CODE_FRAG_NEEDED : 0, fail->mtu, data,
			   len);
		return 0;
	}
	if (b->echo)
		return echo_send(vn, b, to, data, len);
	return udp_send(vn, &from, to, b->ttl ? b->ttl : VNET_DEFAULT_TTL,
			b->tclass, data, len);
}

static int up_dgram_set_header(void *host, int handle,
			       const struct zt_fwd_hdr *hdr)
{
	struct zt_vnet *vn = host;
	struct binding *b = dsock_of(vn, handle);

	if (!b)
		return -EBADF;
	if (hdr->ttl)
		b->ttl = hdr->ttl;
	b->tclass = hdr->tclass;
	b->df = hdr->dont_frag;
	vn->stats.header_sets++;
	return 0;
}

/* The egress's own link's MTU toward @to (zt_vnet_path_mtu). */
static int up_dgram_path_mtu(void *host, int handle,
			     const struct zt_endpoint *to)
{
	struct zt_vnet *vn = host;
	const struct verror *e;

	if (!dsock_of(vn, handle))
		return -EBADF;
	e = to->name[0] ? NULL : rule_for(vn, VERR_MTU, &to->addr);
	vn->stats.path_mtu_asks++;
	return e && !e->origin.family ? (int)e->mtu : -ENOENT;
}

static void up_dgram_close(void *host, int handle)
{
	struct zt_vnet *vn = host;
	struct binding *b = dsock_of(vn, handle);

	if (!b)
		return;
	vn->dsocks[handle] = NULL;
	vn->stats.dgrams_open--;
	vn->stats.dgram_closes++;
	unbind(vn, b);
}

const struct zt_upstream_ops zt_vnet_upstream_ops = {
	.stream_open = up_stream_open,
	.stream_send = up_stream_send,
	.stream_shutdown = up_stream_shutdown,
	.stream_close = up_stream_close,
	.stream_resume = up_stream_resume,
	.stream_peer = up_stream_peer,
	.dgram_open = up_dgram_open,
	.dgram_send = up_dgram_send,
	.dgram_close = up_dgram_close,
	.dgram_set_header = up_dgram_set_header,
	.dgram_path_mtu = up_dgram_path_mtu,
	.stream_set_dscp = up_stream_set_dscp,
	.stream_keepalive = up_stream_keepalive,
};

/* --- the vnet ---------------------------------------------------------- */

/**
 * zt_vnet_new() - an empty virtual network.
 * @sim: the loop (borrowed, must outlive the vnet)
 * @cfg: copied; NULL for zt_vnet_config_default()
 * Return: the vnet (free with zt_vnet_free), or NULL.
 */
struct zt_vnet *zt_vnet_new(struct zt_sim *sim, const struct zt_vnet_config *cfg)
{
	struct zt_vnet *vn = calloc(1, sizeof(*vn));

	if (!vn)
		return NULL;
	vn->sim = sim;
	if (cfg)
		vn->cfg = *cfg;
	else
		zt_vnet_config_default(&vn->cfg);
	if (vn->cfg.buf == 0)
		vn->cfg.buf = 256 * 1024;
	vn->next_port = EPHEMERAL_FIRST;
	return vn;
}

/**
 * zt_vnet_free() - release the listeners (their hooks), then free every
 * connection, binding and datagram in flight without any report.
 * @vn: the vnet, or NULL
 */
void zt_vnet_free(struct zt_vnet *vn)
{
	if (!vn)
		return;
	while (vn->listeners) {
		struct listener *l = vn->listeners;

		vn->listeners = l->next;
		if (l->release)
			l->release(l->ctx);
		free(l);
	}
	while (vn->conns) {
		vn->conns->busy = 0;
		conn_free(vn->conns);
	}
	while (vn->bindings) {
		struct binding *b = vn->bindings;

		vn->bindings = b->next;
		binding_free(vn, b);
	}
	while (vn->dgrams) {
		struct vdgram *d = vn->dgrams;

		zt_sim_cancel(vn->sim, &d->ev);
		dgram_unlink(d);
		free(d);
	}
	while (vn->names) {
		struct vname *n = vn->names;

		vn->names = n->next;
		free(n);
	}
	free(vn->streams);
	free(vn->dsocks);
	free(vn);
}

void zt_vnet_set_router(struct zt_vnet *vn, struct zt_router *r)
{
	vn->router = r;
}

struct zt_sim *zt_vnet_sim(struct zt_vnet *vn)
{
	return vn->sim;
}

const struct zt_vnet_config *zt_vnet_config(const struct zt_vnet *vn)
{
	return &vn->cfg;
}

const struct zt_vnet_stats *zt_vnet_stats(const struct zt_vnet *vn)
{
	return &vn->stats;
}
