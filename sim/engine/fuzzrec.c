/* SPDX-License-Identifier: MIT */
/*
 * fuzzrec.c - run a byte string as typed records through a fresh router
 * (see fuzzrec.h for the record format).
 *
 * Theory of operation:
 *
 * One struct fr holds everything a run owns: the router, its generator and
 * (in RULES mode) its rule table, the scripted upstream's stream and
 * datagram tables, and a FIFO of deferred work. The router is built from
 * the first record when that is a CONFIG, else from the defaults, just
 * before the first other record runs.
 *
 * The core is never re-entered: the upstream ops only record what the core
 * asked (bytes taken, shutdown, close, resume) and push whatever would call
 * back into the core (echoed bytes and datagrams, packets looped back to
 * the TUN, resumed reads) onto the FIFO. After each record the FIFO is
 * drained, one derived event at a time, each counted against max_events.
 * A stream's unread upstream bytes (pend) are offered to the core only
 * while it is not paused; the core's short take pauses it until
 * stream_resume(). Buffers passed into the core are never reallocated
 * during the call: appends to pend happen only between calls.
 *
 * Time is virtual nanoseconds from a fixed start (1 s). Before a record
 * runs, its delta is applied: every timer due on the way runs at its
 * deadline (each run counts as an event), then now moves to the target.
 * Past max_time the run stops.
 *
 * Invariants are checked inline (each TUN packet, each upstream op) and
 * after every record and derived event (the counters); see fuzzrec.h.
 * A violation aborts in fuzz builds and is counted otherwise.
 */
#include "engine/fuzzrec.h"
#include "engine/stream_read.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/gso.h"
#include "ztun/checksum.h"
#include "ztun/packet.h"
#include "ztun/route.h"

#define T_START ZT_SEC
#define PKT_MAX 65536
#define MAX_STREAMS 4096
#define MAX_DGRAMS 4096
#define PEND_MAX (256u * 1024u)        /* unread upstream bytes per stream */
#define BUFFERED_MAX (16u * 1024u * 1024u) /* host-side bytes in all */
#define DEFER_MAX 4096
#define DEF_WINDOW (1u << 20)

static const int rec_errnos[8] = { ECONNREFUSED, ENETUNREACH, EHOSTUNREACH,
				   ETIMEDOUT, EACCES, ECONNRESET, EPIPE,
				   EMSGSIZE };

struct stream {
	void *cookie;          /* the core's (borrowed) */
	bool open;             /* not closed by the core */
	bool dead;             /* reported failed */
	bool connected;
	bool eof_wanted;       /* an EOF waits behind pend */
	bool eof_sent;
	bool shut;             /* the core sent FIN */
	bool paused;           /* the core took less than offered */
	uint32_t window;       /* bytes stream_send still takes */
	uint8_t *pend;         /* owned: upstream bytes not yet taken */
	size_t pend_len;
};

struct dgram {
	void *cookie;
	uint8_t family;             /* as opened */
	bool open;
	bool has_to;
	struct zt_endpoint last_to; /* where the core last sent */
	struct zt_fwd_hdr hdr;      /* dgram_set_header's (0: the default) */
};

enum defer_type { D_TUN, D_ECHO, D_RESUME, D_DGRAM };

/* One piece of deferred work, owned by the FIFO. */
struct defer {
	struct defer *next;
	uint8_t type;          /* enum defer_type */
	uint32_t idx;          /* stream or datagram socket */
	struct zt_endpoint from;
	size_t len;
	uint8_t data[];
};

struct fr {
	const struct zt_replay_limits *lim;
	struct zt_replay_outcome *out;
	struct zt_router *r;
	struct zt_router_config cfg;
	struct zt_rng rng;
	struct zt_rules rules;
	bool have_rules;
	uint64_t seed;
	uint8_t mode, flags, xflags;
	uint64_t now;
	bool stopped;          /* a cap was hit */
	bool nomem;
	struct stream *st;     /* owned */
	size_t n_st, cap_st;
	struct dgram *dg;      /* owned */
	size_t n_dg, cap_dg;
	int open_err, dgram_err, send_err; /* next answers, 0 = success */
	unsigned max_open;       /* CONFIG body[8]: sockets at once, 0: any */
	unsigned n_open;         /* streams and datagram sockets open */
	int dgram_send_err;                /* ... of dgram_send */
	uint16_t path_mtu;                 /* what dgram_path_mtu says (0:
					    * none known) */
	uint32_t def_window;
	struct defer *q_head, **q_tail;
	size_t q_n;
	size_t buffered;       /* bytes in pend buffers and the FIFO */
	uint64_t taken_down;   /* bytes zt_router_stream_data() took */
	uint64_t flow_mem;     /* ring bytes per TCP flow, once seen */
	uint8_t *pkt;          /* owned: PKT_MAX bytes for a TUN packet */
	uint8_t *piece;        /* owned: PKT_MAX bytes, one piece of a TSO segment */
	uint8_t *tso;          /* owned: PKT_MAX bytes, a TSO segment put together */
};

/* --- helpers ------------------------------------------------------------- */

__attribute__((format(printf, 2, 3)))
static void violation(struct fr *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
#ifdef ZT_FUZZING
	fprintf(stderr, "fuzzrec: invariant violated: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	(void)h;
	abort();
#else
	if (h->out->violations++ == 0)
		vsnprintf(h->out->first_violation,
			  sizeof(h->out->first_violation), fmt, ap);
	va_end(ap);
#endif
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Byte @i of @rec's body, 0 past its end. */
static uint8_t body_at(const struct zt_rec *rec, size_t i)
{
	return i < rec->len ? rec->body[i] : 0;
}

/* Count one event; false (and the run stopped) when the cap is reached. */
static bool spend(struct fr *h)
{
	if (h->out->events >= h->lim->max_events) {
		h->out->event_cap = true;
		h->stopped = true;
		return false;
	}
	h->out->events++;
	return true;
}

/* Queue deferred work with a copy of @data; dropped when the FIFO is full. */
static void defer(struct fr *h, enum defer_type type, uint32_t idx,
		  const struct zt_endpoint *from, const void *data, size_t len)
{
	struct defer *d;

	if (h->q_n >= DEFER_MAX || h->buffered + len > BUFFERED_MAX)
		return;
	d = malloc(sizeof(*d) + len);
	if (!d) {
		h->nomem = true;
		return;
	}
	d->next = NULL;
	d->type = (uint8_t)type;
	d->idx = idx;
	if (from)
		d->from = *from;
	else
		memset(&d->from, 0, sizeof(d->from));
	d->len = len;
	if (len)
		memcpy(d->data, data, len);
	*h->q_tail = d;
	h->q_tail = &d->next;
	h->q_n++;
	h->buffered += len;
}

static struct defer *defer_pop(struct fr *h)
{
	struct defer *d = h->q_head;

	if (!d)
		return NULL;
	h->q_head = d->next;
	if (!h->q_head)
		h->q_tail = &h->q_head;
	h->q_n--;
	h->buffered -= d->len;
	return d;
}

/* Append upstream bytes to stream @i's unread buffer (bounded). */
static void pend_add(struct fr *h, size_t i, const uint8_t *p, size_t len)
{
	struct stream *s = &h->st[i];
	uint8_t *n;

	if (len > PEND_MAX - s->pend_len)
		len = PEND_MAX - s->pend_len;
	if (len > BUFFERED_MAX - h->buffered)
		len = BUFFERED_MAX - h->buffered;
	if (!len)
		return;
	n = realloc(s->pend, s->pend_len + len);
	if (!n) {
		h->nomem = true;
		return;
	}
	memcpy(n + s->pend_len, p, len);
	s->pend = n;
	s->pend_len += len;
	h->buffered += len;
}

/* --- checksums ------------------------------------------------------------ */

void zt_rec_fix_checksums(uint8_t *pkt, size_t len)
{
	struct zt_view v = zt_view_make(pkt, len), pl;
	struct zt_addr src, dst;
	uint8_t proto;
	uint8_t *l4;
	size_t n;
	uint16_t c;

	if (len < 1)
		return;
	if (pkt[0] >> 4 == 4) {
		struct zt_ip4_repr ip;
		size_t ihl = (size_t)(pkt[0] & 15) * 4;

		if (ihl < ZT_IP4_MIN_HDR || ihl > len)
			return;
		pkt[10] = pkt[11] = 0;
		zt_wr16(pkt + 10, zt_csum_fold(zt_csum_add(0, pkt, ihl)));
		if (zt_ip4_parse(v, ZT_PARSE_NO_CSUM, &ip, &pl) != ZT_DROP_NONE ||
		    ip.more_frags || ip.frag_offset)
			return;
		src = zt_addr_v4(ip.src);
		dst = zt_addr_v4(ip.dst);
		proto = ip.protocol;
	} else if (pkt[0] >> 4 == 6) {
		struct zt_ip6_repr ip;

		if (zt_ip6_parse(v, ZT_PARSE_NO_CSUM, &ip, &pl) != ZT_DROP_NONE ||
		    (ip.has_frag && (ip.more_frags || ip.frag_offset)))
			return;
		src = zt_addr_v6(ip.src);
		dst = zt_addr_v6(ip.dst);
		proto = ip.upper_proto;
	} else {
		return;
	}
	/* pl points into pkt: the same bytes, writable here. */
	l4 = pkt + (pl.data - pkt);
	n = pl.len;
	if (proto == ZT_IPPROTO_TCP && n >= 20) {
		l4[16] = l4[17] = 0;
		zt_wr16(l4 + 16, zt_csum_l4(&src, &dst, proto, l4, n));
	} else if (proto == ZT_IPPROTO_UDP && n >= ZT_UDP_HDR) {
		size_t ulen = zt_rd16(l4 + 4);

		if (ulen < ZT_UDP_HDR || ulen > n)
			return;
		l4[6] = l4[7] = 0;
		c = zt_csum_l4(&src, &dst, proto, l4, ulen);
		zt_wr16(l4 + 6, c ? c : 0xffff);
	} else if (proto == ZT_IPPROTO_ICMP && src.family == ZT_AF_INET &&
		   n >= ZT_ICMP_HDR) {
		l4[2] = l4[3] = 0;
		zt_wr16(l4 + 2, zt_csum_fold(zt_csum_add(0, l4, n)));
	} else if (proto == ZT_IPPROTO_ICMPV6 && src.family == ZT_AF_INET6 &&
		   n >= ZT_ICMP_HDR) {
		l4[2] = l4[3] = 0;
		zt_wr16(l4 + 2, zt_csum_l4(&src, &dst, proto, l4, n));
	}
}

/* --- record coding ---------------------------------------------------------- */

int zt_rec_next(const uint8_t *data, size_t len, size_t *off,
		struct zt_rec *rec)
{
	size_t o = *off, blen;

	if (o >= len)
		return 0;
	if (len - o < ZT_REC_HDR_LEN)
		return -EMSGSIZE;
	blen = (size_t)data[o + 5] | (size_t)data[o + 6] << 8;
	if (len - o - ZT_REC_HDR_LEN < blen)
		return -EMSGSIZE;
	rec->kind = data[o];
	rec->delta_us = le32(data + o + 1);
	rec->len = (uint16_t)blen;
	rec->body = data + o + ZT_REC_HDR_LEN;
	*off = o + ZT_REC_HDR_LEN + blen;
	return 1;
}

int zt_rec_put(uint8_t *buf, size_t cap, uint8_t kind, uint32_t delta_us,
	       const void *body, uint16_t len)
{
	if (cap < (size_t)ZT_REC_HDR_LEN + len)
		return -ENOSPC;
	buf[0] = kind;
	buf[1] = (uint8_t)delta_us;
	buf[2] = (uint8_t)(delta_us >> 8);
	buf[3] = (uint8_t)(delta_us >> 16);
	buf[4] = (uint8_t)(delta_us >> 24);
	buf[5] = (uint8_t)len;
	buf[6] = (uint8_t)(len >> 8);
	if (len)
		memcpy(buf + ZT_REC_HDR_LEN, body, len);
	return ZT_REC_HDR_LEN + len;
}

/* --- the TUN ------------------------------------------------------------------ */

static void on_tun_output(void *host, const uint8_t *pkt, size_t len)
{
	struct fr *h = host;
	struct zt_replay_outcome *o = h->out;
	struct zt_packet pk;
	enum zt_drop d;

	o->tun_out++;
	o->tun_out_bytes += len;
	if (len > h->cfg.stack.mtu)
		violation(h, "TUN packet of %zu bytes above the MTU %u", len,
			  (unsigned)h->cfg.stack.mtu);
	memset(&pk, 0, sizeof(pk));
	d = zt_packet_parse(zt_view_make(pkt, len), 0, &pk);
	if (d != ZT_DROP_NONE)
		violation(h, "TUN packet %llu (%zu bytes) does not parse: %s",
			  (unsigned long long)o->tun_out, len, zt_drop_name(d));
	else if (!pk.is_fragment && pk.proto == ZT_IPPROTO_TCP &&
		 (pk.l4.tcp.flags & (ZT_TCP_SYN | ZT_TCP_ACK)) ==
			 (ZT_TCP_SYN | ZT_TCP_ACK))
		o->syn_acks++;
	else if (!pk.is_fragment && pk.proto == ZT_IPPROTO_TCP &&
		 (pk.l4.tcp.flags & ZT_TCP_RST))
		o->rsts++;
	else if (pk.proto == ZT_IPPROTO_ICMP || pk.proto == ZT_IPPROTO_ICMPV6)
		o->icmp_out++;
	else if (pk.proto == ZT_IPPROTO_UDP)
		o->udp_out++;
	if (h->lim->tap)
		h->lim->tap(h->lim->tap_user, pkt, len);
	if (h->flags & ZT_REC_F_LOOP)
		defer(h, D_TUN, 0, NULL, pkt, len);
}

/* ZT_REC_X_TSO: cut the core's TSO segment as a device would; the pieces
 * go through on_tun_output() and its checks. */
static void on_tun_output_gso(void *host, const struct zt_pkt_parts *parts,
			      uint32_t seg_size)
{
	struct fr *h = host;
	struct zt_replay_outcome *o = h->out;
	uint64_t n0 = o->tun_out, b0 = o->tun_out_bytes;
	size_t len = zt_pkt_parts_flatten(parts, h->tso, PKT_MAX);
	const uint8_t *pkt = h->tso;
	int pieces;

	o->tso_out++;
	o->tso_bytes += len;
	if (len == 0 || len > 65535 || seg_size == 0 ||
	    seg_size > h->cfg.stack.mtu)
		violation(h, "TSO segment of %zu bytes cut at %u", len,
			  (unsigned)seg_size);
	pieces = zt_gso_split(pkt, len, seg_size, h->piece, PKT_MAX, 0,
			      on_tun_output, h);
	if (pieces < 2)
		violation(h, "TSO segment of %zu bytes (cut at %u): %d pieces",
			  len, (unsigned)seg_size, pieces);
	o->tso_pieces += o->tun_out - n0;
	o->tso_piece_bytes += o->tun_out_bytes - b0;
}

/* Feed one TUN packet (borrowed) into the router. */
static void tun_feed(struct fr *h, const uint8_t *pkt, size_t len)
{
	if (len > PKT_MAX)
		len = PKT_MAX;
	memcpy(h->pkt, pkt, len);
	if (h->lim->fix_checksums)
		zt_rec_fix_checksums(h->pkt, len);
	h->out->tun_in++;
	zt_router_tun_input(h->r, h->pkt, len, h->now);
}

/* --- the scripted upstream ------------------------------------------------------ */

/* Stream @handle as the core names it; NULL (a violation) if it never was. */
static struct stream *stream_of(struct fr *h, int handle, const char *op)
{
	struct stream *s;

	if (handle < 0 || (size_t)handle >= h->n_st) {
		violation(h, "%s on unknown stream handle %d", op, handle);
		return NULL;
	}
	s = &h->st[handle];
	if (!s->open || s->dead) {
		violation(h, "%s on stream %d after it was %s", op, handle,
			  s->dead ? "reported failed" : "closed");
		return NULL;
	}
	return s;
}

static struct dgram *dgram_of(struct fr *h, int handle, const char *op)
{
	if (handle < 0 || (size_t)handle >= h->n_dg) {
		violation(h, "%s on unknown datagram handle %d", op, handle);
		return NULL;
	}
	if (!h->dg[handle].open) {
		violation(h, "%s on datagram socket %d after it was closed", op,
			  handle);
		return NULL;
	}
	return &h->dg[handle];
}

static void check_endpoint(struct fr *h, const struct zt_endpoint *ep)
{
	if (!memchr(ep->name, 0, sizeof(ep->name)))
		violation(h, "endpoint name not NUL-terminated");
	else if (!ep->name[0] && ep->addr.family != ZT_AF_INET &&
		 ep->addr.family != ZT_AF_INET6)
		violation(h, "endpoint with neither name nor address family");
}

/* At CONFIG's descriptor bound. */
static bool out_of_sockets(const struct fr *h)
{
	return h->max_open && h->n_open >= h->max_open;
}

static int up_stream_open(void *host, const struct zt_endpoint *ep,
			  unsigned flags, void *cookie, uint64_t now)
{
	struct fr *h = host;
	struct stream *s;
	int e = h->open_err;

	(void)flags;
	(void)now;
	check_endpoint(h, ep);
	h->open_err = 0;
	if (e)
		return -e;
	if (h->n_st == MAX_STREAMS || out_of_sockets(h))
		return -EMFILE;
	if (h->n_st == h->cap_st) {
		size_t cap = h->cap_st ? 2 * h->cap_st : 16;
		struct stream *n = realloc(h->st, cap * sizeof(*n));

		if (!n) {
			h->nomem = true;
			return -ENOMEM;
		}
		h->st = n;
		h->cap_st = cap;
	}
	s = &h->st[h->n_st];
	memset(s, 0, sizeof(*s));
	s->cookie = cookie;
	s->open = true;
	s->window = h->def_window;
	h->n_open++;
	h->out->streams++;
	return (int)h->n_st++;
}

static ssize_t up_stream_send(void *host, int handle, const void *data,
			      size_t len)
{
	struct fr *h = host;
	struct stream *s = stream_of(h, handle, "stream_send");
	int e = h->send_err;

	if (!s)
		return -EBADF;
	if (!s->connected)
		violation(h, "stream_send on stream %d before it connected", handle);
	if (s->shut && len)
		violation(h, "stream_send of %zu bytes on stream %d after shutdown",
			  len, handle);
	h->send_err = 0;
	if (e)
		return -e;
	if (len > s->window)
		len = s->window;
	s->window -= (uint32_t)len;
	h->out->stream_bytes_up += len;
	if (len && (h->flags & ZT_REC_F_ECHO))
		defer(h, D_ECHO, (uint32_t)handle, NULL, data, len);
	return (ssize_t)len;
}

static void up_stream_shutdown(void *host, int handle)
{
	struct fr *h = host;
	struct stream *s = stream_of(h, handle, "stream_shutdown");

	if (s)
		s->shut = true;
}

static void up_stream_close(void *host, int handle, bool abort)
{
	struct fr *h = host;

	(void)abort;
	struct stream *s = stream_of(h, handle, "stream_close");

	if (s) {
		s->open = false;
		h->n_open--;
	}
}

static void up_stream_resume(void *host, int handle)
{
	struct fr *h = host;
	struct stream *s = stream_of(h, handle, "stream_resume");

	if (s)
		defer(h, D_RESUME, (uint32_t)handle, NULL, NULL, 0);
}

static int up_stream_set_dscp(void *host, int handle, uint8_t dscp)
{
	struct fr *h = host;

	if (!stream_of(h, handle, "stream_set_dscp"))
		return -EBADF;
	if (dscp & 3)
		violation(h, "stream_set_dscp with ECN bits 0x%x", dscp);
	return 0;
}

static int up_dgram_open(void *host, uint8_t family, uint16_t port,
			 unsigned flags, void *cookie, uint64_t now)
{
	struct fr *h = host;
	struct dgram *d;
	int e = h->dgram_err;

	(void)port;
	(void)flags;
	(void)now;
	if (family != ZT_AF_INET && family != ZT_AF_INET6)
		violation(h, "dgram_open of family %u", family);
	h->dgram_err = 0;
	if (e)
		return -e;
	if (h->n_dg == MAX_DGRAMS || out_of_sockets(h))
		return -EMFILE;
	if (h->n_dg == h->cap_dg) {
		size_t cap = h->cap_dg ? 2 * h->cap_dg : 16;
		struct dgram *n = realloc(h->dg, cap * sizeof(*n));

		if (!n) {
			h->nomem = true;
			return -ENOMEM;
		}
		h->dg = n;
		h->cap_dg = cap;
	}
	d = &h->dg[h->n_dg];
	memset(d, 0, sizeof(*d));
	d->cookie = cookie;
	d->family = family;
	d->open = true;
	h->n_open++;
	h->out->dgrams++;
	return (int)h->n_dg++;
}

static int up_dgram_send(void *host, int handle, const struct zt_endpoint *to,
			 const void *data, size_t len)
{
	struct fr *h = host;
	struct dgram *d = dgram_of(h, handle, "dgram_send");
	int e = h->dgram_send_err;

	if (!d)
		return -EBADF;
	check_endpoint(h, to);
	h->dgram_send_err = 0;
	if (e)
		return -e; /* the egress's routing refused it, say */
	/* a real IPv4 socket cannot send there (an IPv6 one can reach IPv4) */
	if (!to->name[0] && d->family == ZT_AF_INET &&
	    to->addr.family == ZT_AF_INET6)
		violation(h, "dgram_send to an IPv6 address on an IPv4 socket");
	if (len > 65535)
		violation(h, "dgram_send of %zu bytes", len);
	d->last_to = *to;
	d->has_to = true;
	if (h->flags & ZT_REC_F_ECHO)
		defer(h, D_DGRAM, (uint32_t)handle, to, data, len);
	return 0;
}

static int up_dgram_set_header(void *host, int handle,
			       const struct zt_fwd_hdr *hdr)
{
	struct fr *h = host;
	struct dgram *d = dgram_of(h, handle, "dgram_set_header");

	if (!d)
		return -EBADF;
	if (hdr->ttl == d->hdr.ttl && hdr->tclass == d->hdr.tclass &&
	    hdr->dont_frag == d->hdr.dont_frag)
		violation(h, "dgram_set_header with nothing to change");
	if (hdr->ttl)
		d->hdr.ttl = hdr->ttl;
	d->hdr.tclass = hdr->tclass;
	d->hdr.dont_frag = hdr->dont_frag;
	return 0;
}

static int up_dgram_path_mtu(void *host, int handle,
			     const struct zt_endpoint *to)
{
	struct fr *h = host;

	if (!dgram_of(h, handle, "dgram_path_mtu"))
		return -EBADF;
	check_endpoint(h, to);
	return h->path_mtu ? h->path_mtu : -ENOENT;
}

static void up_dgram_close(void *host, int handle)
{
	struct fr *h = host;
	struct dgram *d = dgram_of(h, handle, "dgram_close");

	if (d) {
		d->open = false;
		h->n_open--;
	}
}

static const struct zt_upstream_ops up_ops = {
	.stream_open = up_stream_open,
	.stream_send = up_stream_send,
	.stream_shutdown = up_stream_shutdown,
	.stream_close = up_stream_close,
	.stream_resume = up_stream_resume,
	.dgram_open = up_dgram_open,
	.dgram_send = up_dgram_send,
	.dgram_close = up_dgram_close,
	.dgram_set_header = up_dgram_set_header,
	.dgram_path_mtu = up_dgram_path_mtu,
	.stream_set_dscp = up_stream_set_dscp,
};

/* Whether the host may still report on stream @i. */
static bool stream_live(const struct fr *h, size_t i)
{
	return i < h->n_st && h->st[i].open && !h->st[i].dead;
}

/*
 * deliver() - offer stream @i's unread bytes to the core while it takes
 * them, then a waiting EOF once they are all taken.
 */
static void deliver(struct fr *h, size_t i)
{
	while (stream_live(h, i) && h->st[i].connected && !h->st[i].paused &&
	       h->st[i].pend_len) {
		struct stream *s = &h->st[i];
		uint8_t *p = s->pend;  /* not reallocated during the call */
		size_t len = s->pend_len, n;

		bool pause;

		if (h->xflags & ZT_REC_X_PULL) {
			n = zt_stream_read(h->r, s->cookie, p, len, h->now,
					   &pause);
		} else {
			n = zt_router_stream_data(h->r, s->cookie, p, len,
						  h->now);
			if (n > len) {
				violation(h, "stream_data took %zu of %zu bytes",
					  n, len);
				n = len;
			}
			pause = n < len;
		}
		s = &h->st[i];         /* the table may have moved */
		h->taken_down += n;
		memmove(s->pend, s->pend + n, s->pend_len - n);
		s->pend_len -= n;
		h->buffered -= n;
		if (pause)
			s->paused = true; /* until stream_resume() */
		if (!stream_live(h, i))
			break;
	}
	if (stream_live(h, i) && h->st[i].connected && h->st[i].eof_wanted &&
	    !h->st[i].eof_sent && !h->st[i].pend_len) {
		h->st[i].eof_sent = true;
		zt_router_stream_eof(h->r, h->st[i].cookie, h->now);
	}
}

/* --- route decisions --------------------------------------------------------------- */

static enum zt_route_decision fr_route(void *user, const struct zt_route_query *q)
{
	struct fr *h = user;

	switch (h->mode) {
	case ZT_REC_ROUTE_SOCKS5:
		return ZT_ROUTE_SOCKS5;
	case ZT_REC_ROUTE_HTTP:
		return ZT_ROUTE_HTTP;
	case ZT_REC_ROUTE_MIXED:
		return (enum zt_route_decision)((q->dport * 31u + q->proto +
						 q->dst.bytes[q->dst.family ==
								      ZT_AF_INET ? 3 : 15]) %
						ZT_ROUTE__COUNT);
	case ZT_REC_ROUTE_DROP:
		return ZT_ROUTE_DROP;
	case ZT_REC_ROUTE_LOCAL:
		return ZT_ROUTE_LOCAL;
	case ZT_REC_ROUTE_RULES:
		return zt_rules_match(&h->rules, q, NULL);
	case ZT_REC_ROUTE_NAT:
		return ZT_ROUTE_NAT;
	default:
		return ZT_ROUTE_DIRECT;
	}
}

/* The RULES table: every decision, reject included, by destination port. */
static const char *const rule_text[] = {
	"tcp dport 0-99 -> reject",
	"udp dport 0-52 -> reject",
	"any dport 100-199 -> socks5",
	"any dport 200-299 -> http",
	"any dport 300-399 -> drop",
	"any dport 400-499 -> local",
	"udp dport 500-599 -> nat",
	"icmp 10.0.0.0/8 -> local",
	"icmp -> drop reject",
	"default -> direct",
};

static void set_proxy(struct zt_proxy_config *px, uint8_t flags, uint8_t last,
		      uint16_t port, bool auth, const char *name)
{
	uint8_t v4[4] = { 198, 18, 0, last };
	uint8_t v6[16] = { 0xfd, 0x00, 0, 0x18, [15] = last };

	memset(px, 0, sizeof(*px));
	px->enabled = true;
	px->server.port = port;
	if (flags & ZT_REC_F_PROXY_NAME)
		snprintf(px->server.name, sizeof(px->server.name), "%s", name);
	else if (flags & ZT_REC_F_PROXY_V6)
		px->server.addr = zt_addr_v6(v6);
	else
		px->server.addr = zt_addr_v4(v4);
	if (auth) {
		px->auth = true;
		snprintf(px->username, sizeof(px->username), "user");
		snprintf(px->password, sizeof(px->password), "pass");
	}
}

/* Build the router from CONFIG @rec, or from the defaults when NULL. */
static int build(struct fr *h, const struct zt_rec *rec)
{
	static const struct zt_rec none = { 0, 0, 0, NULL };
	struct zt_stack_config *sc = &h->cfg.stack;
	uint16_t mtu;
	uint8_t b6;

	if (!rec)
		rec = &none;
	zt_router_config_default(&h->cfg);
	h->mode = body_at(rec, 0) % ZT_REC_ROUTE__COUNT;
	h->flags = body_at(rec, 1);
	mtu = (uint16_t)(body_at(rec, 2) | body_at(rec, 3) << 8);
	sc->mtu = mtu == 0 ? 1500 : mtu < 1280 ? 1280 : mtu;
	sc->max_tcp_flows = body_at(rec, 4) ? body_at(rec, 4) : 64;
	sc->max_udp_flows = body_at(rec, 5) ? body_at(rec, 5) : 64;
	b6 = body_at(rec, 6);
	sc->tcp.rx_buf = sc->tcp.tx_buf = b6 ? 2048u << (b6 % 8) : 65536u;
	sc->reject_icmp = h->flags & ZT_REC_F_REJECT_ICMP;
	h->xflags = body_at(rec, 7);
	h->max_open = body_at(rec, 8);
	if (h->xflags & ZT_REC_X_TSO) {
		sc->tcp.tso_segs = 8;
		h->cfg.tun_output_gso = on_tun_output_gso;
	}
	if (!(h->flags & ZT_REC_F_NO_PROXY)) {
		set_proxy(&h->cfg.socks5, h->flags, 1, 1080,
			  h->flags & ZT_REC_F_SOCKS_AUTH, "socks.proxy.test");
		set_proxy(&h->cfg.http, h->flags, 2, 3128,
			  h->flags & ZT_REC_F_HTTP_AUTH, "http.proxy.test");
		h->cfg.socks5.pipelined = h->xflags & ZT_REC_X_SOCKS_PIPELINED;
	}
	h->cfg.early_synack = h->xflags & ZT_REC_X_EARLY_SYNACK;
	h->cfg.udp_full_cone = h->xflags & ZT_REC_X_UDP_FULL_CONE;
	h->cfg.dns_over_tcp = h->xflags & ZT_REC_X_DNS_OVER_TCP;
	h->cfg.dns_tcp_fallback = !(h->xflags & ZT_REC_X_NO_DNS_TCP_FALLBACK);
	if (h->xflags & ZT_REC_X_FAKE_DNS) {
		struct zt_fakedns_config *fc = &h->cfg.fake_dns;

		if (zt_fakedns_parse_servers("203.0.113.10", fc, NULL, 0) ||
		    zt_cidr_parse("198.18.0.0/24", &fc->pool4, NULL, 0) ||
		    zt_cidr_parse("fd00:f::/120", &fc->pool6, NULL, 0))
			return -EINVAL;
		fc->max_names = 64;
	}
	/* The NAT no bigger than the stack's UDP table: building and
	 * faulting in a default 8192-session NAT for every input took 43%
	 * of a libFuzzer run's time. */
	h->cfg.nat.capacity = sc->max_udp_flows;
	h->cfg.route = fr_route;
	h->cfg.route_user = h;
	if (h->mode == ZT_REC_ROUTE_RULES) {
		if (zt_rules_init(&h->rules, 16) < 0)
			return -ENOMEM;
		h->have_rules = true;
		for (size_t i = 0; i < sizeof(rule_text) / sizeof(rule_text[0]); i++)
			if (zt_rules_add_text(&h->rules, rule_text[i], NULL, 0) < 0)
				return -EINVAL;
		/* The router knows a rejecting Drop only from the table itself. */
		h->cfg.route = zt_rules_route;
		h->cfg.route_user = &h->rules;
	}
	zt_rng_seed(&h->rng, h->seed);
	h->r = zt_router_new(&h->cfg, on_tun_output, &up_ops, h, &h->rng);
	return h->r ? 0 : -EINVAL;
}

/* --- invariants ---------------------------------------------------------------------- */

static void check_counters(struct fr *h)
{
	const struct zt_stack_stats *s = zt_stack_stats(zt_router_stack(h->r));
	const struct zt_router_stats *rs = zt_router_stats(h->r);
	const struct zt_stack_config *c = &h->cfg.stack;

	/* What the core handed over: every packet, a TSO segment as one. */
	uint64_t seen = h->out->tun_out - h->out->tso_pieces + h->out->tso_out;
	uint64_t seen_bytes = h->out->tun_out_bytes - h->out->tso_piece_bytes +
			      h->out->tso_bytes;

	if (s->packets_out != seen || s->bytes_out != seen_bytes ||
	    s->tso_segments_out != h->out->tso_out)
		violation(h, "packets_out %llu/%llu bytes (TSO %llu), TUN saw %llu/%llu (TSO %llu)",
			  (unsigned long long)s->packets_out,
			  (unsigned long long)s->bytes_out,
			  (unsigned long long)s->tso_segments_out,
			  (unsigned long long)seen,
			  (unsigned long long)seen_bytes,
			  (unsigned long long)h->out->tso_out);
	if (s->packets_in != h->out->tun_in)
		violation(h, "packets_in %llu, fed %llu",
			  (unsigned long long)s->packets_in,
			  (unsigned long long)h->out->tun_in);
	if (s->tcp_flows_active > s->tcp_flows_opened ||
	    s->tcp_flows_active > c->max_tcp_flows)
		violation(h, "tcp_flows_active %llu, opened %llu, max %u",
			  (unsigned long long)s->tcp_flows_active,
			  (unsigned long long)s->tcp_flows_opened,
			  c->max_tcp_flows);
	if (s->tcp_flows_active && !h->flow_mem)
		h->flow_mem = s->mem_reserved / s->tcp_flows_active;
	if (s->mem_reserved != s->tcp_flows_active * h->flow_mem &&
	    !(s->tcp_flows_active == 0 && s->mem_reserved == 0))
		violation(h, "mem_reserved %llu for %llu flows of %llu",
			  (unsigned long long)s->mem_reserved,
			  (unsigned long long)s->tcp_flows_active,
			  (unsigned long long)h->flow_mem);
	if (s->mem_reserved > c->mem_budget)
		violation(h, "mem_reserved %llu over the budget",
			  (unsigned long long)s->mem_reserved);
	if (s->udp_flows_active > c->max_udp_flows ||
	    s->udp_flows_active + s->udp_flows_expired > s->udp_flows_opened)
		violation(h, "udp_flows_active %llu, expired %llu, opened %llu, max %u",
			  (unsigned long long)s->udp_flows_active,
			  (unsigned long long)s->udp_flows_expired,
			  (unsigned long long)s->udp_flows_opened,
			  c->max_udp_flows);
	if (zt_stack_check(zt_router_stack(h->r)))
		violation(h, "zt_stack_check: the flows' activity list, timer heaps or counts are broken");
	if (rs->tcp_relayed_up > h->out->stream_bytes_up ||
	    rs->tcp_relayed_down > h->taken_down)
		violation(h, "relayed %llu up / %llu down, upstream took %llu / gave %llu",
			  (unsigned long long)rs->tcp_relayed_up,
			  (unsigned long long)rs->tcp_relayed_down,
			  (unsigned long long)h->out->stream_bytes_up,
			  (unsigned long long)h->taken_down);
}

/* --- running ------------------------------------------------------------------------- */

static void run_deferred(struct fr *h, struct defer *d)
{
	switch (d->type) {
	case D_TUN:
		tun_feed(h, d->data, d->len);
		break;
	case D_ECHO:
		if (stream_live(h, d->idx) && !h->st[d->idx].eof_wanted) {
			pend_add(h, d->idx, d->data, d->len);
			deliver(h, d->idx);
		}
		break;
	case D_RESUME:
		if (stream_live(h, d->idx)) {
			h->st[d->idx].paused = false;
			deliver(h, d->idx);
		}
		break;
	case D_DGRAM:
		if (d->idx < h->n_dg && h->dg[d->idx].open)
			zt_router_dgram_data(h->r, h->dg[d->idx].cookie, &d->from,
					     d->data, d->len, h->now);
		break;
	}
}

/* Run deferred work until none is left or a cap stops the run. */
static void drain(struct fr *h)
{
	struct defer *d;

	while (!h->stopped && h->q_head) {
		if (!spend(h))
			break;
		d = defer_pop(h);
		run_deferred(h, d);
		free(d);
		check_counters(h);
	}
}

/* Move time forward by @dt ns, running every timer due on the way. */
static void advance(struct fr *h, uint64_t dt)
{
	uint64_t limit = T_START + h->lim->max_time;
	uint64_t target = h->now + dt, d;
	bool capped = false;

	if (target < h->now || target > limit) {
		target = limit < h->now ? h->now : limit;
		capped = true;
	}
	while (h->r && !h->stopped && (d = zt_router_deadline(h->r)) <= target) {
		if (!spend(h))
			return;
		if (d > h->now)
			h->now = d;
		zt_router_poll(h->r, h->now);
		if (zt_router_deadline(h->r) <= h->now) {
			violation(h, "a timer is still due at %llu ns after a poll",
				  (unsigned long long)h->now);
			break;
		}
		drain(h);
		check_counters(h);
	}
	if (h->stopped)
		return;
	h->now = target;
	if (capped) {
		h->out->time_cap = true;
		h->stopped = true;
	}
}

static void stream_record(struct fr *h, const struct zt_rec *rec)
{
	size_t i;
	struct stream *s;

	if (!h->n_st || rec->len < 1)
		return;
	i = rec->body[0] % h->n_st;
	if (!stream_live(h, i))
		return;
	s = &h->st[i];
	switch (rec->kind) {
	case ZT_REC_S_CONNECTED:
		if (s->connected)
			return;
		s->connected = true;
		zt_router_stream_connected(h->r, s->cookie, h->now);
		break;
	case ZT_REC_S_FAILED:
		s->dead = true;   /* the host closes a failed socket itself */
		h->n_open--;
		if (body_at(rec, 2)) {
			/* what an error queue said about the SYN */
			struct zt_dgram_error e;

			memset(&e, 0, sizeof(e));
			e.to.addr.family = ZT_AF_INET; /* IPv4 numbering */
			e.type = body_at(rec, 2);
			e.code = body_at(rec, 3);
			if (rec->len >= 8)
				e.origin = zt_addr_v4(rec->body + 4);
			zt_router_stream_failed_icmp(h->r, s->cookie,
						     -rec_errnos[body_at(rec, 1) % 8],
						     &e, h->now);
			break;
		}
		zt_router_stream_failed(h->r, s->cookie,
					-rec_errnos[body_at(rec, 1) % 8], h->now);
		break;
	case ZT_REC_S_DATA:
		if (!s->connected || s->eof_wanted)
			return;
		pend_add(h, i, rec->body + 1, rec->len - 1u);
		deliver(h, i);
		break;
	case ZT_REC_S_EOF:
		if (!s->connected || s->eof_wanted)
			return;
		s->eof_wanted = true;
		deliver(h, i);
		break;
	case ZT_REC_S_WRITABLE:
		if (!s->connected)
			return;
		s->window = rec->len >= 5 ? le32(rec->body + 1) : h->def_window;
		zt_router_stream_writable(h->r, s->cookie, h->now);
		break;
	}
}

static void dgram_record(struct fr *h, const struct zt_rec *rec)
{
	struct zt_endpoint from;
	const uint8_t *p;
	size_t i, n;

	if (!h->n_dg || rec->len < 2)
		return;
	i = rec->body[0] % h->n_dg;
	if (!h->dg[i].open)
		return;
	memset(&from, 0, sizeof(from));
	if (!(rec->body[1] & 1)) {
		if (h->dg[i].has_to)
			from = h->dg[i].last_to;
		p = rec->body + 2;
		n = rec->len - 2u;
	} else {
		if (rec->len < 8)
			return;
		from.addr = zt_addr_v4(rec->body + 2);
		from.port = zt_rd16(rec->body + 6);
		p = rec->body + 8;
		n = rec->len - 8u;
	}
	if (rec->body[1] >> 1) {
		/* a batch, as ztun-ref reads them: pieces of body[1] >> 1
		 * bytes, back to back, the last perhaps shorter; each piece's
		 * first byte's low bits are its ECN marks (a change of class
		 * ends the router's run) */
		struct zt_dgram d[ZT_UDP_GSO_SEGS];
		size_t seg = rec->body[1] >> 1, off = 0;
		unsigned k = 0;

		while (off < n && k < ZT_UDP_GSO_SEGS) {
			d[k].data = p + off;
			d[k].tclass = p[off] & 3;
			d[k].len = n - off < seg ? n - off : seg;
			off += d[k++].len;
		}
		zt_router_dgram_batch(h->r, h->dg[i].cookie, &from, d, k,
				      h->now);
		return;
	}
	zt_router_dgram_data(h->r, h->dg[i].cookie, &from, p, n, h->now);
}

/* DGRAM_ERROR: an ICMP error about what a datagram socket sent. */
static void dgram_error_record(struct fr *h, const struct zt_rec *rec)
{
	struct zt_dgram_error e;
	size_t i, off = 4;

	if (!h->n_dg || rec->len < 4)
		return;
	i = rec->body[0] % h->n_dg;
	if (!h->dg[i].open)
		return;
	memset(&e, 0, sizeof(e));
	e.type = rec->body[1];
	e.code = rec->body[2];
	if (!(rec->body[3] & 1)) {
		if (h->dg[i].has_to)
			e.to = h->dg[i].last_to;
	} else {
		if (rec->len < 10)
			return;
		e.to.addr = zt_addr_v4(rec->body + 4);
		e.to.port = zt_rd16(rec->body + 8);
		off = 10;
	}
	if (!(rec->body[3] & 2)) {
		e.origin = e.to.addr;
	} else {
		if (rec->len < off + 4)
			return;
		e.origin = zt_addr_v4(rec->body + off);
		off += 4;
	}
	if (rec->body[3] & 4) {
		if (rec->len < off + 2)
			return;
		e.mtu = (uint32_t)rec->body[off] | (uint32_t)rec->body[off + 1] << 8;
		off += 2;
	}
	e.data = rec->body + off;
	e.len = rec->len - off;
	zt_router_dgram_error(h->r, h->dg[i].cookie, &e, h->now);
}

static void run_record(struct fr *h, const struct zt_rec *rec)
{
	switch (rec->kind) {
	case ZT_REC_CONFIG:
		/* Only the route mode and the run-time flags change now. */
		if (!h->have_rules)
			h->mode = body_at(rec, 0) % ZT_REC_ROUTE__COUNT;
		h->flags = (uint8_t)((h->flags & ~(ZT_REC_F_LOOP | ZT_REC_F_ECHO)) |
				     (body_at(rec, 1) & (ZT_REC_F_LOOP | ZT_REC_F_ECHO)));
		break;
	case ZT_REC_TUN:
		tun_feed(h, rec->body, rec->len);
		break;
	case ZT_REC_TUN_BATCH: {
		size_t off = 0;

		h->out->batches++;
		zt_router_tun_batch_begin(h->r);
		while (off + 2 <= rec->len) {
			size_t n = (size_t)rec->body[off] | (size_t)rec->body[off + 1] << 8;

			off += 2;
			if (n > rec->len - off)
				break;
			tun_feed(h, rec->body + off, n);
			off += n;
		}
		zt_router_tun_batch_end(h->r, h->now);
		break;
	}
	case ZT_REC_S_CONNECTED:
	case ZT_REC_S_FAILED:
	case ZT_REC_S_DATA:
	case ZT_REC_S_EOF:
	case ZT_REC_S_WRITABLE:
		stream_record(h, rec);
		break;
	case ZT_REC_DGRAM:
		dgram_record(h, rec);
		break;
	case ZT_REC_DGRAM_ERROR:
		dgram_error_record(h, rec);
		break;
	case ZT_REC_ADVANCE:
		break;
	case ZT_REC_HOST:
		h->open_err = body_at(rec, 0) ? rec_errnos[body_at(rec, 0) % 8] : 0;
		h->dgram_err = body_at(rec, 1) ? rec_errnos[body_at(rec, 1) % 8] : 0;
		h->send_err = body_at(rec, 2) ? rec_errnos[body_at(rec, 2) % 8] : 0;
		if (rec->len >= 7)
			h->def_window = le32(rec->body + 3);
		h->dgram_send_err = body_at(rec, 7) ? rec_errnos[body_at(rec, 7) % 8] : 0;
		h->path_mtu = (uint16_t)(body_at(rec, 8) | body_at(rec, 9) << 8);
		break;
	default:
		h->out->unknown++;
		break;
	}
}

/* Free the router, check that it closed every upstream, free the rest. */
static void teardown(struct fr *h)
{
	struct defer *d;

	if (h->r) {
		h->out->stack = *zt_stack_stats(zt_router_stack(h->r));
		h->out->router = *zt_router_stats(h->r);
		zt_router_free(h->r);
		h->r = NULL;
		for (size_t i = 0; i < h->n_st; i++)
			if (h->st[i].open && !h->st[i].dead)
				violation(h, "stream %zu left open by zt_router_free", i);
		for (size_t i = 0; i < h->n_dg; i++)
			if (h->dg[i].open)
				violation(h, "datagram socket %zu left open by zt_router_free",
					  i);
	}
	while ((d = defer_pop(h)) != NULL)
		free(d);
	for (size_t i = 0; i < h->n_st; i++)
		free(h->st[i].pend);
	free(h->st);
	free(h->dg);
	free(h->pkt);
	free(h->piece);
	free(h->tso);
	if (h->have_rules)
		zt_rules_destroy(&h->rules);
}

void zt_replay_limits_default(struct zt_replay_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->max_time = 3600 * ZT_SEC;
	lim->max_events = 200000;
	lim->max_records = UINT64_MAX;
#ifdef ZT_FUZZING
	lim->fix_checksums = true;
#endif
}

int zt_replay_records(const uint8_t *data, size_t len,
		      const struct zt_replay_limits *lim,
		      struct zt_replay_outcome *out)
{
	struct zt_replay_limits def;
	struct zt_replay_outcome scratch;
	struct zt_rec rec;
	struct fr h;
	size_t off = 0;
	int rc = 0, got;
	bool built;

	if (!lim) {
		zt_replay_limits_default(&def);
		lim = &def;
	}
	if (!out)
		out = &scratch;
	memset(out, 0, sizeof(*out));
	memset(&h, 0, sizeof(h));
	h.lim = lim;
	h.out = out;
	h.now = T_START;
	h.def_window = DEF_WINDOW;
	h.q_tail = &h.q_head;
	for (size_t i = 0; i < ZT_REC_SEED_LEN && i < len; i++)
		h.seed |= (uint64_t)data[i] << (8 * i);
	off = len < ZT_REC_SEED_LEN ? len : ZT_REC_SEED_LEN;
	h.pkt = malloc(PKT_MAX);
	h.piece = malloc(PKT_MAX);
	h.tso = malloc(PKT_MAX);
	if (!h.pkt || !h.piece || !h.tso) {
		rc = -ENOMEM;
		goto out;
	}
	while (!h.stopped && !h.nomem) {
		got = zt_rec_next(data, len, &off, &rec);
		if (got == 0)
			break;
		if (got < 0) {
			out->truncated = true;
			break;
		}
		if (out->records >= lim->max_records) {
			out->record_cap = true;
			break;
		}
		if (!spend(&h))
			break;
		out->records++;
		built = false;
		if (!h.r) {
			rc = build(&h, rec.kind == ZT_REC_CONFIG ? &rec : NULL);
			if (rc < 0)
				goto out;
			built = rec.kind == ZT_REC_CONFIG;
		}
		advance(&h, (uint64_t)rec.delta_us * 1000u);
		if (h.stopped)
			break;
		if (!built)
			run_record(&h, &rec);
		drain(&h);
		check_counters(&h);
	}
	if (!h.r)
		rc = build(&h, NULL);
	if (h.nomem)
		rc = -ENOMEM;
out:
	teardown(&h);
	return rc;
}
