/* SPDX-License-Identifier: MIT */
/*
 * scenario_run.c - the scenario executor: one script against a fresh
 * zt_router, with the upstreams played by the script.
 *
 * Theory of operation:
 *
 * The host (struct host) is the router's TUN and its zt_upstream_ops.
 * Time is a struct zt_sim event loop: the router's next deadline is one
 * caller-owned event re-armed before every step, and deferred host
 * reports (a connection that succeeds "at once", a delivery resumed after
 * back-pressure) are caller-owned events of their stream, so the router is
 * never re-entered from inside one of its own calls. An upstream's reset
 * (or its keepalive running out) behind bytes the router has not taken
 * (paused) fails the stream only once they are taken, as ztun-ref reads
 * before the error.
 *
 * Everything the router does outward is recorded as an output item with
 * its time, on a channel: the TUN, the datagram sockets (one channel), or
 * upstream stream N. An expected line (tun>, sN>, net>) takes the oldest
 * item of its channel and compares it field by field; sN> PAYLOAD may take
 * its bytes from several items of its stream. When the channel is empty
 * the loop runs on up to the tolerance (never past the next line's time)
 * before failing. At every `advance` and at the end, any item left is an
 * unexpected output and fails the run (strictness).
 *
 * Inputs (tun<, sN<, net<) are built and handed to the router at their
 * line's time, after every event due up to that time ran. TCP sequence
 * numbers in the script are relative: the client's ISN is drawn when its
 * SYN is sent, ztun's is learned from the first packet ztun sends on the
 * connection (its SYN-ACK, or the RST that refuses it).
 *
 * The trace hash is FNV-1a over every input and output (kind, channel,
 * time and bytes), so two runs of one script with one seed can be shown
 * to have done exactly the same thing.
 *
 * Ownership: the host owns the router, the rule table, and a copy of every
 * output's bytes until the run ends; zt_scn_run() frees them all.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/evloop.h"
#include "engine/dgram_batch.h"
#include "engine/keepalive.h"
#include "engine/scenario.h"
#include "engine/stream_read.h"
#include "io/gso.h"
#include "ztun/checksum.h"
#include "ztun/icmp_wire.h"
#include "ztun/ip4.h"
#include "ztun/ip6.h"
#include "ztun/packet.h"
#include "ztun/route.h"
#include "ztun/tcp.h"
#include "ztun/udp_wire.h"

#define MAX_STREAMS 64
#define MAX_DGRAMS 64
#define MAX_CONNS 64
#define STEP_LIMIT 2000000u
#define PKT_MAX 65600
#define DEFAULT_TTL 64 /* of input packets, and of datagram sockets until set */

enum out_kind {
	OUT_DONE = 0,
	OUT_TUN,
	OUT_CONNECT,
	OUT_DATA,
	OUT_FIN,
	OUT_CLOSE,
	OUT_RST,      /* closed by a reset (stream_close with abort) */
	OUT_NET,
};

enum { CHAN_TUN = 0, CHAN_NET = 1, CHAN_STREAM0 = 2 };

struct out_item {
	uint8_t kind;            /* enum out_kind; OUT_DONE once matched */
	unsigned chan;
	uint64_t t;
	uint8_t *data;           /* owned copy */
	size_t len, off;         /* OUT_DATA: bytes before off are matched */
	struct zt_endpoint ep;   /* OUT_CONNECT, OUT_NET */
	int sock;                /* OUT_NET: datagram socket */
	uint8_t ttl, tclass;     /* OUT_NET: the TTL, traffic class it left with */
};

struct host;

struct hstream {
	struct host *h;
	void *cookie;
	unsigned n;              /* N of sN */
	bool connected, dead, closed;
	bool blocked;            /* stream_send took less than offered */
	bool window_inf;
	uint64_t window;
	uint8_t *in;             /* upstream bytes not yet taken (owned) */
	size_t in_len;
	bool in_fin, fin_done, paused;
	int err_held;            /* < 0: the stream failed (sN< rst, its
				  * keepalive) behind bytes not yet taken:
				  * the failure follows them (recv() order) */
	struct zt_endpoint ep;   /* where it connects */
	bool silent;             /* sN< silent: the peer answers nothing */
	struct zt_sim_keepalive ka; /* stream_keepalive's, probing ... */
	struct zt_sim_event ev_connect, ev_deliver, ev_ka; /* ... at ev_ka */
};

struct hdgram {
	void *cookie;
	uint8_t family;          /* ZT_AF_INET / ZT_AF_INET6, as opened */
	bool open;
	bool echo;               /* an ICMP echo socket (net> icmp) */
	uint8_t ttl, tclass;     /* what it sends with (dgram_set_header) */
	char var[ZT_SCN_VAR_LEN];
};

struct conn {
	uint8_t family;
	struct zt_addr client, server;
	uint16_t cport, sport;
	bool have_cisn, have_zisn;
	uint32_t cisn, zisn;
};

struct host {
	const struct zt_scn *s;
	size_t pos;
	struct zt_sim sim;
	struct zt_rng crng;      /* client ISNs */
	struct zt_router *r;
	struct zt_rules rules;
	bool rules_ok;
	bool freeing;
	struct zt_sim_event ev_timer;
	struct hstream st[MAX_STREAMS];
	unsigned nst;
	struct hdgram dg[MAX_DGRAMS];
	unsigned ndg;
	unsigned n_open;         /* streams and datagram sockets open */
	int last_sock;
	struct out_item *out;
	size_t nout, capout;
	struct conn conns[MAX_CONNS];
	unsigned nconn;
	int cur;                 /* current TCP connection, -1 none */
	uint64_t hash;
	uint64_t seed;
	uint16_t ip_id;
	bool failed;
	FILE *log;               /* borrowed, may be NULL */
	struct zt_scn_result *res;
	/* net< lines at one time, on one socket, from one sender: one
	 * batch, handed over at the first line that does not add to it */
	int batch_sock;          /* -1: nothing pending */
	uint64_t batch_t;
	struct zt_dgram_batch batch;
	uint8_t pkt[PKT_MAX], l4[PKT_MAX];
	uint8_t gso_whole[PKT_MAX], gso_piece[PKT_MAX]; /* --tun-offload */
};

/* --- trace hash and failures ------------------------------------------- */

static void hash_bytes(struct host *h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h->hash ^= b[i];
		h->hash *= 0x100000001b3ull;
	}
}

static void trace(struct host *h, uint8_t tag, unsigned chan, const void *p,
		  size_t n)
{
	uint64_t t = zt_sim_now(&h->sim);
	uint32_t c = chan, l = (uint32_t)n;

	hash_bytes(h, &tag, 1);
	hash_bytes(h, &c, sizeof(c));
	hash_bytes(h, &t, sizeof(t));
	hash_bytes(h, &l, sizeof(l));
	if (n)
		hash_bytes(h, p, n);
}

/* An endpoint field by field (no padding bytes in the hash). */
static void trace_ep(struct host *h, unsigned chan, const struct zt_endpoint *ep)
{
	uint8_t b[1 + 16 + 2 + 256];
	size_t nl = strnlen(ep->name, sizeof(ep->name) - 1);

	b[0] = ep->addr.family;
	memcpy(b + 1, ep->addr.bytes, 16);
	b[17] = (uint8_t)(ep->port >> 8);
	b[18] = (uint8_t)ep->port;
	memcpy(b + 19, ep->name, nl);
	trace(h, 0x20, chan, b, 19 + nl);
}

struct sbuf {
	char *b;
	size_t cap, len;
};

__attribute__((format(printf, 2, 3)))
static void sb_add(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (s->len >= s->cap)
		return;
	va_start(ap, fmt);
	k = vsnprintf(s->b + s->len, s->cap - s->len, fmt, ap);
	va_end(ap);
	if (k > 0)
		s->len += (size_t)k;
	if (s->len >= s->cap)
		s->len = s->cap - 1;
}

static void fmt_time(char *b, size_t n, uint64_t t)
{
	snprintf(b, n, "%" PRIu64 ".%06" PRIu64, (uint64_t)(t / ZT_SEC),
		 (uint64_t)((t % ZT_SEC) / 1000));
}

/* The reproduce line every failure ends with. */
static void fail_tail(struct host *h, struct sbuf *sb)
{
	sb_add(sb, "\n  seed %" PRIu64 "; reproduce: ztun-sim run --seed=%" PRIu64
	       " %s", h->seed, h->seed, h->s->file);
}

__attribute__((format(printf, 3, 4)))
static void fail(struct host *h, unsigned line, const char *fmt, ...)
{
	struct sbuf sb = { h->res->msg, sizeof(h->res->msg), 0 };
	va_list ap;
	int k;

	if (h->failed)
		return;
	h->failed = true;
	h->res->fail_line = line;
	sb_add(&sb, "%s:%u: ", h->s->file, line);
	va_start(ap, fmt);
	k = vsnprintf(sb.b + sb.len, sb.cap - sb.len, fmt, ap);
	va_end(ap);
	if (k > 0)
		sb.len += (size_t)k;
	if (sb.len >= sb.cap)
		sb.len = sb.cap - 1;
	fail_tail(h, &sb);
}

/* "FILE:LINE: expected EXP\n<pad>actual   ACT\n  seed ...". */
static void fail_cmp(struct host *h, unsigned line, const char *exp,
		     const char *act)
{
	struct sbuf sb = { h->res->msg, sizeof(h->res->msg), 0 };
	size_t pad;

	if (h->failed)
		return;
	h->failed = true;
	h->res->fail_line = line;
	sb_add(&sb, "%s:%u: ", h->s->file, line);
	pad = sb.len;
	sb_add(&sb, "expected %s\n%*sactual   %s", exp, (int)pad, "", act);
	fail_tail(h, &sb);
}

/* --- formatting ---------------------------------------------------------- */

static void fmt_addr(struct sbuf *sb, const struct zt_addr *a)
{
	char ab[ZT_ADDR_STRLEN];

	sb_add(sb, "%s", zt_addr_format(a, ab, sizeof(ab)));
}

static void fmt_ep(struct sbuf *sb, const struct zt_addr *a, uint16_t port)
{
	char ab[ZT_ADDR_STRLEN];

	zt_addr_format(a, ab, sizeof(ab));
	if (a->family == ZT_AF_INET6)
		sb_add(sb, "[%s]:%u", ab, port);
	else
		sb_add(sb, "%s:%u", ab, port);
}

static void fmt_endpoint(struct sbuf *sb, const struct zt_endpoint *ep)
{
	if (ep->name[0])
		sb_add(sb, "%s:%u", ep->name, ep->port);
	else
		fmt_ep(sb, &ep->addr, ep->port);
}

/* A net> line's destination: ADDR:PORT, or for icmp the address alone. */
static void fmt_net_ep(struct sbuf *sb, const struct zt_endpoint *ep, bool icmp)
{
	char a[ZT_ADDR_STRLEN];

	if (icmp && !ep->name[0])
		sb_add(sb, "%s", zt_addr_format(&ep->addr, a, sizeof(a)));
	else
		fmt_endpoint(sb, ep);
}

/* Bytes as a quoted string when printable, else hex; long ones cut. */
static void fmt_bytes(struct sbuf *sb, const uint8_t *p, size_t n)
{
	bool text = true;
	size_t show = n > 64 ? 64 : n;

	for (size_t i = 0; i < n; i++)
		if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\r' && p[i] != '\n' &&
		    p[i] != '\t')
			text = false;
	if (text) {
		sb_add(sb, "\"");
		for (size_t i = 0; i < show; i++) {
			if (p[i] == '\r')
				sb_add(sb, "\\r");
			else if (p[i] == '\n')
				sb_add(sb, "\\n");
			else if (p[i] == '\t')
				sb_add(sb, "\\t");
			else if (p[i] == '"' || p[i] == '\\')
				sb_add(sb, "\\%c", p[i]);
			else
				sb_add(sb, "%c", p[i]);
		}
		sb_add(sb, "\"");
	} else {
		for (size_t i = 0; i < show; i++)
			sb_add(sb, "%s%02x", i ? " " : "", p[i]);
	}
	if (show < n)
		sb_add(sb, " ...(%zu bytes)", n);
}

static void fmt_flags(struct sbuf *sb, uint8_t f)
{
	static const struct {
		uint8_t bit;
		char c;
	} fl[] = {
		{ ZT_TCP_SYN, 'S' }, { ZT_TCP_FIN, 'F' }, { ZT_TCP_RST, 'R' },
		{ ZT_TCP_PSH, 'P' }, { ZT_TCP_URG, 'U' }, { ZT_TCP_ECE, 'E' },
		{ ZT_TCP_CWR, 'W' }, { ZT_TCP_ACK, '.' },
	};

	for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++)
		if (f & fl[i].bit)
			sb_add(sb, "%c", fl[i].c);
}

static void fmt_exp_opts(struct sbuf *sb, const struct zt_scn_pkt *p)
{
	sb_add(sb, " <");
	for (unsigned i = 0; i < p->nopts; i++) {
		const struct zt_scn_opt *o = &p->opts[i];

		if (i)
			sb_add(sb, ",");
		switch (o->kind) {
		case ZT_SCN_OPT_MSS: sb_add(sb, "mss %u", o->val); break;
		case ZT_SCN_OPT_WSCALE: sb_add(sb, "wscale %u", o->val); break;
		case ZT_SCN_OPT_SACKOK: sb_add(sb, "sackOK"); break;
		case ZT_SCN_OPT_NOP: sb_add(sb, "nop"); break;
		case ZT_SCN_OPT_EOL: sb_add(sb, "eol"); break;
		case ZT_SCN_OPT_TS:
			sb_add(sb, "TS val ");
			if (o->val_any)
				sb_add(sb, "*");
			else
				sb_add(sb, "%u", o->val);
			sb_add(sb, " ecr ");
			if (o->ecr_any)
				sb_add(sb, "*");
			else
				sb_add(sb, "%u", o->ecr);
			break;
		case ZT_SCN_OPT_SACK:
			sb_add(sb, "sack");
			for (unsigned k = 0; k < o->nblocks; k++)
				sb_add(sb, " %u:%u", o->blocks[k].left,
				       o->blocks[k].right);
			break;
		}
	}
	sb_add(sb, "%s>", p->opts_more ? (p->nopts ? ",..." : "...") : "");
}

static void fmt_act_opts(struct sbuf *sb, const struct zt_tcp_repr *r,
			 uint32_t sack_base)
{
	const char *sep = "";

	if (!r->has_mss && !r->sack_permitted && !r->has_ts && !r->has_wscale &&
	    !r->sack_count)
		return;
	sb_add(sb, " <");
	if (r->has_mss) {
		sb_add(sb, "mss %u", r->mss);
		sep = ",";
	}
	if (r->sack_permitted) {
		sb_add(sb, "%ssackOK", sep);
		sep = ",";
	}
	if (r->has_ts) {
		sb_add(sb, "%sTS val %u ecr %u", sep, r->ts_val, r->ts_ecr);
		sep = ",";
	}
	if (r->has_wscale) {
		sb_add(sb, "%swscale %u", sep, r->wscale);
		sep = ",";
	}
	if (r->sack_count) {
		sb_add(sb, "%ssack", sep);
		for (unsigned k = 0; k < r->sack_count; k++)
			sb_add(sb, " %u:%u", r->sack[k].left - sack_base,
			       r->sack[k].right - sack_base);
	}
	sb_add(sb, ">");
}

/* ` quotes SRC[:PORT] > DST[:PORT] [echo ID SEQ]`, as the grammar writes
 * what an ICMP error quotes. */
static void fmt_quote(struct sbuf *sb, const struct zt_addr *src,
		      const struct zt_addr *dst, bool ports, uint16_t sport,
		      uint16_t dport, bool echo, uint16_t id, uint16_t seq)
{
	sb_add(sb, " quotes ");
	if (ports)
		fmt_ep(sb, src, sport);
	else
		fmt_addr(sb, src);
	sb_add(sb, " > ");
	if (ports)
		fmt_ep(sb, dst, dport);
	else
		fmt_addr(sb, dst);
	if (echo)
		sb_add(sb, " echo %u %u", id, seq);
}

/* An expected packet line as the script means it (addresses filled in). */
static void fmt_exp_pkt(struct sbuf *sb, const char *dir,
			const struct zt_scn_pkt *p, const struct conn *c)
{
	sb_add(sb, "%s ", dir);
	if (p->type == ZT_SCN_PKT_TCP) {
		if (c && !p->has_addrs) {
			fmt_ep(sb, &c->server, c->sport);
			sb_add(sb, " > ");
			fmt_ep(sb, &c->client, c->cport);
		} else {
			fmt_ep(sb, &p->src, p->sport);
			sb_add(sb, " > ");
			fmt_ep(sb, &p->dst, p->dport);
		}
		sb_add(sb, " ");
		fmt_flags(sb, p->flags);
		sb_add(sb, " %u:%u(%u)", p->start, p->end, p->end - p->start);
		if (p->has_ack)
			sb_add(sb, " ack %u", p->ack);
		if (p->has_win)
			sb_add(sb, " win %u", p->win);
		if (p->has_opts)
			fmt_exp_opts(sb, p);
		if (p->has_payload) {
			sb_add(sb, " ");
			fmt_bytes(sb, p->payload, p->payload_len);
		}
		if (p->no_win_check)
			sb_add(sb, " ...");
		return;
	}
	if (p->type == ZT_SCN_PKT_UDP) {
		fmt_ep(sb, &p->src, p->sport);
		sb_add(sb, " > ");
		fmt_ep(sb, &p->dst, p->dport);
		sb_add(sb, " udp (%u)", p->len);
	} else {
		fmt_addr(sb, &p->src);
		sb_add(sb, " > ");
		fmt_addr(sb, &p->dst);
		if (p->type == ZT_SCN_PKT_UNREACH || p->type == ZT_SCN_PKT_TIMEX ||
		    p->type == ZT_SCN_PKT_TOOBIG) {
			if (p->type == ZT_SCN_PKT_TOOBIG)
				sb_add(sb, " icmp toobig %u", p->mtu);
			else
				sb_add(sb, " icmp %s %u", p->type == ZT_SCN_PKT_UNREACH ?
							   "unreach" : "timex", p->code);
			if (p->has_quote)
				fmt_quote(sb, &p->quote_src, &p->quote_dst,
					  p->quote_ports, p->quote_sport,
					  p->quote_dport, p->quote_echo,
					  p->quote_echo_id, p->quote_echo_seq);
			return;
		}
		sb_add(sb, " icmp %s %u %u",
		       p->type == ZT_SCN_PKT_ECHO ? "echo" : "echoreply",
		       p->echo_id, p->echo_seq);
	}
	if (p->has_tos)
		sb_add(sb, " tos %u", p->tos);
	if (p->has_payload) {
		sb_add(sb, " ");
		fmt_bytes(sb, p->payload, p->payload_len);
	}
}

static struct conn *conn_find(struct host *h, const struct zt_addr *client,
			      uint16_t cport, const struct zt_addr *server,
			      uint16_t sport, bool create);

/*
 * An actual TUN packet as a line; with @exp, only the fields that line
 * checks (so the two lines read side by side), else every field.
 */
static void fmt_act_pkt(struct host *h, struct sbuf *sb, const uint8_t *pkt,
			size_t len, const struct zt_scn_pkt *exp)
{
	struct zt_packet pk;
	enum zt_drop d = zt_packet_parse(zt_view_make(pkt, len), 0, &pk);

	sb_add(sb, "tun> ");
	if (d != ZT_DROP_NONE) {
		sb_add(sb, "bad packet (%s, %zu bytes)", zt_drop_name(d), len);
		return;
	}
	if (pk.is_fragment) {
		fmt_addr(sb, &pk.src);
		sb_add(sb, " > ");
		fmt_addr(sb, &pk.dst);
		sb_add(sb, " fragment proto %u (%zu bytes)", pk.proto, len);
		return;
	}
	if (pk.proto == ZT_IPPROTO_TCP) {
		const struct zt_tcp_repr *t = &pk.l4.tcp;
		struct conn *c = conn_find(h, &pk.dst, t->dst_port, &pk.src,
					   t->src_port, false);
		uint32_t zisn = c && c->have_zisn ? c->zisn : 0;
		uint32_t cisn = c && c->have_cisn ? c->cisn : 0;
		uint32_t seq = t->seq - zisn;

		fmt_ep(sb, &pk.src, t->src_port);
		sb_add(sb, " > ");
		fmt_ep(sb, &pk.dst, t->dst_port);
		sb_add(sb, " ");
		fmt_flags(sb, t->flags);
		sb_add(sb, " %u:%u(%zu)", seq, seq + (uint32_t)pk.payload.len,
		       pk.payload.len);
		if (t->flags & ZT_TCP_ACK)
			sb_add(sb, " ack %u", t->ack - cisn);
		if (!exp || (exp->has_win && !exp->no_win_check))
			sb_add(sb, " win %u", t->window);
		if (!exp || exp->has_opts)
			fmt_act_opts(sb, t, cisn);
		if (pk.payload.len && (!exp || exp->has_payload)) {
			sb_add(sb, " ");
			fmt_bytes(sb, pk.payload.data, pk.payload.len);
		}
		return;
	}
	if (pk.proto == ZT_IPPROTO_UDP) {
		fmt_ep(sb, &pk.src, pk.l4.udp.src_port);
		sb_add(sb, " > ");
		fmt_ep(sb, &pk.dst, pk.l4.udp.dst_port);
		sb_add(sb, " udp (%zu)", pk.payload.len);
		if (zt_packet_tclass(&pk) || (exp && exp->has_tos))
			sb_add(sb, " tos %u", zt_packet_tclass(&pk));
		if (pk.payload.len && (!exp || exp->has_payload)) {
			sb_add(sb, " ");
			fmt_bytes(sb, pk.payload.data, pk.payload.len);
		}
		return;
	}
	fmt_addr(sb, &pk.src);
	sb_add(sb, " > ");
	fmt_addr(sb, &pk.dst);
	if (pk.proto == ZT_IPPROTO_ICMP || pk.proto == ZT_IPPROTO_ICMPV6) {
		const struct zt_icmp_repr *ic = &pk.l4.icmp;

		switch (ic->kind) {
		case ZT_ICMP_ECHO_REQUEST:
		case ZT_ICMP_ECHO_REPLY:
			sb_add(sb, " icmp %s %u %u",
			       ic->kind == ZT_ICMP_ECHO_REQUEST ? "echo" : "echoreply",
			       ic->echo_ident, ic->echo_seq);
			if (zt_packet_tclass(&pk) || (exp && exp->has_tos))
				sb_add(sb, " tos %u", zt_packet_tclass(&pk));
			if (pk.payload.len && (!exp || exp->has_payload)) {
				sb_add(sb, " ");
				fmt_bytes(sb, pk.payload.data, pk.payload.len);
			}
			return;
		case ZT_ICMP_DEST_UNREACH:
		case ZT_ICMP_TIME_EXCEEDED:
		case ZT_ICMP_PACKET_TOO_BIG: {
			struct zt_icmp_quote q;

			if (ic->kind == ZT_ICMP_PACKET_TOO_BIG)
				sb_add(sb, " icmp toobig %u", ic->mtu);
			else
				sb_add(sb, " icmp %s %u", ic->kind == ZT_ICMP_DEST_UNREACH ?
							   "unreach" : "timex", ic->code);
			if ((!exp || exp->has_quote) &&
			    zt_icmp_parse_quote(pk.payload, &q) == ZT_DROP_NONE)
				fmt_quote(sb, &q.src, &q.dst, q.has_ports,
					  q.src_port, q.dst_port, q.has_echo,
					  q.echo_ident, q.echo_seq);
			return;
		}
		default:
			sb_add(sb, " icmp type %u code %u", ic->type, ic->code);
			return;
		}
	}
	sb_add(sb, " proto %u (%zu bytes)", pk.proto, len);
}

static void fmt_item(struct host *h, struct sbuf *sb, const struct out_item *o)
{
	unsigned n = o->chan - CHAN_STREAM0 + 1;

	switch (o->kind) {
	case OUT_TUN:
		fmt_act_pkt(h, sb, o->data, o->len, NULL);
		break;
	case OUT_CONNECT:
		sb_add(sb, "s%u> connect ", n);
		fmt_endpoint(sb, &o->ep);
		if (o->ttl && o->ttl != DEFAULT_TTL) /* a client's, not the usual */
			sb_add(sb, " ttl %u", o->ttl);
		break;
	case OUT_DATA:
		sb_add(sb, "s%u> ", n);
		fmt_bytes(sb, o->data + o->off, o->len - o->off);
		break;
	case OUT_FIN:
		sb_add(sb, "s%u> fin", n);
		break;
	case OUT_CLOSE:
		sb_add(sb, "s%u> close", n);
		break;
	case OUT_RST:
		sb_add(sb, "s%u> rst", n);
		break;
	case OUT_NET:
		sb_add(sb, "net> %s ", o->sock >= 0 && h->dg[o->sock].echo ?
					       "icmp" : "udp");
		if (o->sock >= 0 && h->dg[o->sock].var[0])
			sb_add(sb, "$%s ", h->dg[o->sock].var);
		fmt_net_ep(sb, &o->ep, o->sock >= 0 && h->dg[o->sock].echo);
		sb_add(sb, " (%zu) ", o->len);
		if (o->ttl != DEFAULT_TTL)
			sb_add(sb, "ttl %u ", o->ttl);
		if (o->tclass)
			sb_add(sb, "tos %u ", o->tclass);
		fmt_bytes(sb, o->data, o->len);
		break;
	}
}

/* --- outputs --------------------------------------------------------------- */

static struct out_item *out_push(struct host *h, uint8_t kind, unsigned chan,
				 const void *data, size_t len)
{
	struct out_item *o;

	if (h->freeing)
		return NULL;
	if (h->nout == h->capout) {
		size_t nc = h->capout ? h->capout * 2 : 64;
		struct out_item *no = realloc(h->out, nc * sizeof(*no));

		if (!no) {
			fail(h, 0, "out of memory");
			return NULL;
		}
		h->out = no;
		h->capout = nc;
	}
	o = &h->out[h->nout];
	memset(o, 0, sizeof(*o));
	o->sock = -1;
	if (len) {
		o->data = malloc(len);
		if (!o->data) {
			fail(h, 0, "out of memory");
			return NULL;
		}
		memcpy(o->data, data, len);
	}
	o->kind = kind;
	o->chan = chan;
	o->t = zt_sim_now(&h->sim);
	o->len = len;
	h->nout++;
	trace(h, (uint8_t)(0x10 + kind), chan, data, len);
	return o;
}

/* With a log, print @o once its fields are filled in. */
static void out_log(struct host *h, const struct out_item *o)
{
	char b[ZT_SCN_ERR_LEN], t[32];
	struct sbuf sb = { b, sizeof(b), 0 };

	if (!h->log || !o)
		return;
	fmt_item(h, &sb, o);
	fmt_time(t, sizeof(t), o->t);
	fprintf(h->log, "%12s  %s\n", t, b);
}

static struct out_item *out_first(struct host *h, unsigned chan)
{
	for (size_t i = 0; i < h->nout; i++)
		if (h->out[i].kind != OUT_DONE && h->out[i].chan == chan)
			return &h->out[i];
	return NULL;
}

static struct out_item *out_any(struct host *h)
{
	for (size_t i = 0; i < h->nout; i++)
		if (h->out[i].kind != OUT_DONE)
			return &h->out[i];
	return NULL;
}

static void out_done(struct out_item *o)
{
	o->kind = OUT_DONE;
	free(o->data);
	o->data = NULL;
}

/* --- the upstream side ------------------------------------------------------ */

static void stream_deliver(struct hstream *st)
{
	struct host *h = st->h;
	uint64_t now = zt_sim_now(&h->sim);

	/* Read as ztun-ref does (stream_read.h): again after a short read,
	 * until all is taken or the router pauses or closes the stream. */
	while (!st->closed && !st->dead && !st->paused && st->in_len) {
		bool pause;
		size_t n = zt_stream_read(h->r, st->cookie, st->in, st->in_len,
					  now, &pause);

		memmove(st->in, st->in + n, st->in_len - n);
		st->in_len -= n;
		if (pause)
			st->paused = true; /* until stream_resume() */
	}
	if (!st->closed && !st->dead && !st->paused && !st->in_len &&
	    st->in_fin && !st->fin_done) {
		st->fin_done = true;
		zt_router_stream_eof(h->r, st->cookie, now);
	}
	if (!st->closed && !st->dead && st->err_held && !st->in_len) {
		st->dead = true;
		zt_router_stream_failed(h->r, st->cookie, st->err_held, now);
	}
}

static void ev_connect_fn(struct zt_sim *sim, void *arg)
{
	struct hstream *st = arg;

	if (st->closed || st->dead || st->connected)
		return;
	st->connected = true;
	zt_router_stream_connected(st->h->r, st->cookie, zt_sim_now(sim));
}

static void ev_deliver_fn(struct zt_sim *sim, void *arg)
{
	(void)sim;
	stream_deliver(arg);
}

/* A keepalive probe of @arg is due: after `sN< silent` unanswered, and
 * when they ran out (keepalive.h) the stream fails with -ETIMEDOUT,
 * after the bytes the router has not taken yet (err_held). */
static void ev_ka_fn(struct zt_sim *sim, void *arg)
{
	struct hstream *st = arg;
	uint64_t next;

	if (st->closed || st->dead || st->err_held)
		return;
	if (zt_sim_keepalive_probe(&st->ka, st->silent, zt_sim_now(sim), &next)) {
		zt_sim_at(sim, &st->ev_ka, next);
		return;
	}
	trace(st->h, 0x35, CHAN_STREAM0 + st->n - 1, NULL, 0);
	if (st->in_len) {
		/* bytes the router has not taken (paused) come first, as
		 * for sN< rst: stream_deliver() fails it after them */
		st->err_held = -ETIMEDOUT;
		return;
	}
	zt_sim_cancel(sim, &st->ev_deliver);
	st->dead = true;
	zt_router_stream_failed(st->h->r, st->cookie, -ETIMEDOUT, zt_sim_now(sim));
}

static void ev_timer_fn(struct zt_sim *sim, void *arg)
{
	struct host *h = arg;

	zt_router_poll(h->r, zt_sim_now(sim));
}

/*
 * Whether stream @n's connection waits for a script line: the first line
 * for sN after its `sN> connect` is accept/refuse/timeout/unreach, or
 * `sN> close` (ztun gave up on a connection that never completed).
 */
static bool stream_waits(struct host *h, unsigned n)
{
	for (size_t i = h->pos; i < h->s->n; i++) {
		const struct zt_scn_event *e = &h->s->ev[i];

		if ((e->kind != ZT_SCN_S_IN && e->kind != ZT_SCN_S_OUT) ||
		    e->stream != n)
			continue;
		if (e->kind == ZT_SCN_S_OUT && e->sop == ZT_SCN_S_CONNECT)
			continue;
		/* ztun closing a stream that never completed: it stays pending */
		if (e->kind == ZT_SCN_S_OUT &&
		    (e->sop == ZT_SCN_S_CLOSE || e->sop == ZT_SCN_S_RST))
			return true;
		return e->kind == ZT_SCN_S_IN &&
		       (e->sop == ZT_SCN_S_ACCEPT || e->sop == ZT_SCN_S_REFUSE ||
			e->sop == ZT_SCN_S_TIMEOUT || e->sop == ZT_SCN_S_UNREACH ||
			e->sop == ZT_SCN_S_TIMEX);
	}
	return false;
}

/* The line being run (the last one once the script is done). */
static unsigned cur_line(const struct host *h)
{
	return h->pos < h->s->n ? h->s->ev[h->pos].line : h->s->last_line;
}

/* At the script's --max-sockets, as at a descriptor limit. */
static bool out_of_sockets(const struct host *h)
{
	return h->s->hdr.max_sockets && h->n_open >= h->s->hdr.max_sockets;
}

static int up_stream_open(void *host, const struct zt_endpoint *ep,
			  unsigned flags, void *cookie, uint64_t now)
{
	struct host *h = host;
	struct hstream *st;
	struct out_item *o;

	if (out_of_sockets(h))
		return -EMFILE;
	if (h->nst == MAX_STREAMS) {
		/* the simulator's table, not a limit ztun should see */
		fail(h, cur_line(h), "ztun opened more than %d upstream streams in one script (the simulator's limit)",
		     MAX_STREAMS);
		return -EMFILE;
	}
	h->n_open++;
	st = &h->st[h->nst];
	memset(st, 0, sizeof(*st));
	st->h = h;
	st->cookie = cookie;
	st->n = ++h->nst;
	st->window_inf = true;
	zt_sim_event_init(&st->ev_connect, ev_connect_fn, st);
	zt_sim_event_init(&st->ev_deliver, ev_deliver_fn, st);
	zt_sim_event_init(&st->ev_ka, ev_ka_fn, st);
	st->ep = *ep;
	o = out_push(h, OUT_CONNECT, CHAN_STREAM0 + st->n - 1, NULL, 0);
	if (o) {
		o->ep = *ep;
		o->ttl = ZT_UPSTREAM_TTL_OF(flags);
		trace_ep(h, o->chan, ep);
	}
	out_log(h, o);
	if (!stream_waits(h, st->n))
		zt_sim_at(&h->sim, &st->ev_connect, now);
	return (int)(st->n - 1);
}

static ssize_t up_stream_send(void *host, int handle, const void *data,
			      size_t len)
{
	struct host *h = host;
	struct hstream *st = &h->st[handle];
	size_t take = len;

	if (st->closed || st->dead || !st->connected)
		return -ENOTCONN;
	if (st->err_held)
		return 0; /* as ztun-ref's host: the error waits for the
			   * reads' end (sim/real/host.c), nothing is sent */
	if (!st->window_inf && take > st->window)
		take = (size_t)st->window;
	if (take < len)
		st->blocked = true;
	if (!st->window_inf)
		st->window -= take;
	if (take)
		out_log(h, out_push(h, OUT_DATA, CHAN_STREAM0 + st->n - 1, data, take));
	return (ssize_t)take;
}

static void up_stream_shutdown(void *host, int handle)
{
	struct host *h = host;

	if (h->st[handle].err_held)
		return; /* dead: ztun-ref's shutdown() fails (ENOTCONN) */
	out_log(h, out_push(h, OUT_FIN, CHAN_STREAM0 + (unsigned)handle, NULL, 0));
}

static void up_stream_close(void *host, int handle, bool abort)
{
	struct host *h = host;
	struct hstream *st = &h->st[handle];

	if (!st->closed)
		h->n_open--;
	st->closed = true;
	zt_sim_cancel(&h->sim, &st->ev_connect);
	zt_sim_cancel(&h->sim, &st->ev_deliver);
	zt_sim_cancel(&h->sim, &st->ev_ka);
	out_log(h, out_push(h, abort ? OUT_RST : OUT_CLOSE,
			    CHAN_STREAM0 + (unsigned)handle, NULL, 0));
}

static void up_stream_resume(void *host, int handle)
{
	struct host *h = host;
	struct hstream *st = &h->st[handle];

	st->paused = false;
	if (!st->closed && !st->dead)
		zt_sim_at(&h->sim, &st->ev_deliver, zt_sim_now(&h->sim));
}

/* Probe @handle's peer as @ka says (keepalive.h); the script sees the
 * request in router.upstream_keepalives, and a silent peer's end. */
static int up_stream_keepalive(void *host, int handle,
			       const struct zt_keepalive *ka)
{
	struct host *h = host;
	struct hstream *st = &h->st[handle];
	uint8_t b[12];

	if (st->closed || st->dead || !st->connected)
		return -ENOTCONN;
	zt_wr32(b, (uint32_t)(ka->idle / ZT_MS));
	zt_wr32(b + 4, (uint32_t)(ka->interval / ZT_MS));
	zt_wr32(b + 8, ka->count);
	trace(h, 0x34, CHAN_STREAM0 + st->n - 1, b, sizeof(b));
	zt_sim_at(&h->sim, &st->ev_ka,
		  zt_sim_keepalive_start(&st->ka, ka, zt_sim_now(&h->sim)));
	return 0;
}

static int up_dgram_open(void *host, uint8_t family, uint16_t port,
			 unsigned flags, void *cookie, uint64_t now)
{
	struct host *h = host;
	struct hdgram *d;
	uint8_t b[3] = { family, (uint8_t)(port >> 8), (uint8_t)port };

	(void)now;
	if (out_of_sockets(h))
		return -EMFILE;
	if (h->ndg == MAX_DGRAMS) {
		fail(h, cur_line(h), "ztun opened more than %d datagram sockets in one script (the simulator's limit)",
		     MAX_DGRAMS);
		return -EMFILE;
	}
	h->n_open++;
	d = &h->dg[h->ndg];
	memset(d, 0, sizeof(*d));
	d->cookie = cookie;
	d->family = family;
	d->echo = flags & ZT_UPSTREAM_ICMP_ECHO; /* net> icmp / net< icmp */
	d->ttl = DEFAULT_TTL;
	d->open = true;
	trace(h, 0x30, CHAN_NET, b, sizeof(b));
	return (int)h->ndg++;
}

static int up_dgram_send(void *host, int handle, const struct zt_endpoint *to,
			 const void *data, size_t len)
{
	struct host *h = host;
	struct out_item *o;

	/* as on Linux: an IPv6 socket also sends to IPv4 (mapped), an IPv4
	 * socket cannot send to IPv6 */
	if (!to->name[0] && h->dg[handle].family == ZT_AF_INET &&
	    to->addr.family == ZT_AF_INET6)
		return -EAFNOSUPPORT;
	o = out_push(h, OUT_NET, CHAN_NET, data, len);
	if (o) {
		o->ep = *to;
		o->sock = handle;
		o->ttl = h->dg[handle].ttl;
		o->tclass = h->dg[handle].tclass;
		trace_ep(h, CHAN_NET, to);
	}
	out_log(h, o);
	return 0;
}

/* The TTL and traffic class later datagrams of @handle leave with
 * (net> ... ttl N tos N), and DF. */
static int up_dgram_set_header(void *host, int handle,
			       const struct zt_fwd_hdr *hdr)
{
	struct host *h = host;
	uint8_t b[3] = { hdr->ttl, hdr->tclass, hdr->dont_frag };

	if (hdr->ttl)
		h->dg[handle].ttl = hdr->ttl;
	h->dg[handle].tclass = hdr->tclass;
	trace(h, 0x32, CHAN_NET, b, sizeof(b));
	return 0;
}

static void up_dgram_close(void *host, int handle)
{
	struct host *h = host;

	if (h->dg[handle].open)
		h->n_open--;
	h->dg[handle].open = false;
	trace(h, 0x31, CHAN_NET, NULL, 0);
}

static void tun_out(void *host, const uint8_t *pkt, size_t len)
{
	out_log(host, out_push(host, OUT_TUN, CHAN_TUN, pkt, len));
}

/* A TSO/GSO write to the --tun-offload TUN: the device cuts it as the
 * kernel would (io/gso.h), and the client sees the pieces. One it cannot
 * cut is a core bug: the run fails. */
static void tun_out_gso(void *host, const struct zt_pkt_parts *pkt,
			uint32_t seg_size)
{
	struct host *h = host;
	size_t len = zt_pkt_parts_flatten(pkt, h->gso_whole, sizeof(h->gso_whole));
	int n = -EINVAL;

	if (len)
		n = zt_gso_split(h->gso_whole, len, seg_size, h->gso_piece,
				 sizeof(h->gso_piece), 0, tun_out, h);
	if (n < 0)
		fail(h, cur_line(h),
		     "ztun wrote a %zu-byte GSO packet (pieces of %u) the TUN cannot cut (%s)",
		     len, seg_size, strerror(-n));
}

static const struct zt_upstream_ops host_ops = {
	.stream_open = up_stream_open,
	.stream_send = up_stream_send,
	.stream_shutdown = up_stream_shutdown,
	.stream_close = up_stream_close,
	.stream_resume = up_stream_resume,
	.stream_keepalive = up_stream_keepalive,
	.dgram_open = up_dgram_open,
	.dgram_send = up_dgram_send,
	.dgram_close = up_dgram_close,
	.dgram_set_header = up_dgram_set_header,
};

/* --- time ------------------------------------------------------------------- */

static void arm_timer(struct host *h)
{
	uint64_t d = zt_router_deadline(h->r), now = zt_sim_now(&h->sim);

	if (d == ZT_TIME_NEVER) {
		zt_sim_cancel(&h->sim, &h->ev_timer);
		return;
	}
	if (d < now)
		d = now;
	if (!zt_sim_event_pending(&h->ev_timer) ||
	    zt_sim_event_time(&h->ev_timer) != d)
		zt_sim_at(&h->sim, &h->ev_timer, d);
}

/* Run every event due at or before @t, then set the clock to @t. */
static void run_until(struct host *h, uint64_t t, unsigned line)
{
	unsigned steps = 0;

	for (;;) {
		uint64_t next;

		arm_timer(h);
		if (!zt_sim_next_time(&h->sim, &next) || next > t)
			break;
		if (++steps > STEP_LIMIT) {
			fail(h, line, "livelock: more than %u events before this line",
			     STEP_LIMIT);
			return;
		}
		zt_sim_run(&h->sim, 1, t);
	}
	zt_sim_run_until(&h->sim, t);
}

/* --- connections and packets -------------------------------------------------- */

static struct conn *conn_find(struct host *h, const struct zt_addr *client,
			      uint16_t cport, const struct zt_addr *server,
			      uint16_t sport, bool create)
{
	struct conn *c;

	for (unsigned i = 0; i < h->nconn; i++) {
		c = &h->conns[i];
		if (c->cport == cport && c->sport == sport &&
		    zt_addr_eq(&c->client, client) && zt_addr_eq(&c->server, server))
			return c;
	}
	if (!create)
		return NULL;
	if (h->nconn == MAX_CONNS) {
		fail(h, cur_line(h), "more than %d TCP connections in one script (the simulator's limit)",
		     MAX_CONNS);
		return NULL;
	}
	c = &h->conns[h->nconn++];
	memset(c, 0, sizeof(*c));
	c->family = client->family;
	c->client = *client;
	c->server = *server;
	c->cport = cport;
	c->sport = sport;
	return c;
}

/* Wrap @l4 in an IP header from @src to @dst into h->pkt, with @sp's TTL
 * / hop limit (0: DEFAULT_TTL) and traffic class. */
static int build_ip(struct host *h, const struct zt_addr *src,
		    const struct zt_addr *dst, uint8_t proto, size_t l4len,
		    const struct zt_scn_pkt *sp)
{
	struct zt_ip_hdr_params p = {
		.ttl = sp->ttl ? sp->ttl : DEFAULT_TTL,
		.tclass = sp->tos,
		.dont_frag = sp->df,
	};
	int hl;

	if (src->family == ZT_AF_INET)
		p.ident = ++h->ip_id;
	hl = zt_ip_header_emit(src, dst, proto, l4len, &p, h->pkt,
			       sizeof(h->pkt));
	if (hl < 0 || (size_t)hl + l4len > sizeof(h->pkt))
		return -EMSGSIZE;
	memcpy(h->pkt + hl, h->l4, l4len);
	return hl + (int)l4len;
}

/* The payload of an input line: as given, or LEN bytes of 'x'. */
static const uint8_t *input_payload(struct host *h, const struct zt_scn_pkt *p,
				    size_t len)
{
	static const uint8_t none[1];

	if (p->has_payload)
		return p->payload;
	if (!len)
		return none;
	memset(h->pkt, 'x', len); /* h->pkt is free until build_ip */
	return h->pkt;
}

static int build_tcp_input(struct host *h, const struct zt_scn_event *e)
{
	const struct zt_scn_pkt *p = &e->pkt;
	struct zt_tcp_repr r;
	struct zt_addr src, dst;
	struct conn *c;
	uint8_t data[PKT_MAX];
	size_t len = p->end - p->start;
	int n;

	if (p->has_addrs) {
		c = conn_find(h, &p->src, p->sport, &p->dst, p->dport, true);
		if (!c)
			return -ENOSPC;
		h->cur = (int)(c - h->conns);
	} else if (h->cur >= 0) {
		c = &h->conns[h->cur];
	} else {
		return -ENOSPC;
	}
	if ((p->flags & ZT_TCP_SYN) && !(p->flags & ZT_TCP_ACK) && !c->have_cisn) {
		c->cisn = zt_rng_u32(&h->crng);
		c->have_cisn = true;
	}
	src = c->client;
	dst = c->server;
	memset(&r, 0, sizeof(r));
	r.src_port = c->cport;
	r.dst_port = c->sport;
	r.seq = p->start + (c->have_cisn ? c->cisn : 0);
	r.ack = p->has_ack ? p->ack + (c->have_zisn ? c->zisn : 0) : 0;
	r.flags = p->flags;
	r.window = p->has_win ? p->win : 65535;
	for (unsigned i = 0; i < p->nopts; i++) {
		const struct zt_scn_opt *o = &p->opts[i];

		switch (o->kind) {
		case ZT_SCN_OPT_MSS:
			r.has_mss = true;
			r.mss = (uint16_t)o->val;
			break;
		case ZT_SCN_OPT_WSCALE:
			r.has_wscale = true;
			r.wscale = (uint8_t)o->val;
			break;
		case ZT_SCN_OPT_SACKOK:
			r.sack_permitted = true;
			break;
		case ZT_SCN_OPT_TS:
			r.has_ts = true;
			r.ts_val = o->val;
			r.ts_ecr = o->ecr;
			break;
		case ZT_SCN_OPT_SACK:
			for (unsigned k = 0; k < o->nblocks; k++) {
				uint32_t base = c->have_zisn ? c->zisn : 0;

				r.sack[k].left = o->blocks[k].left + base;
				r.sack[k].right = o->blocks[k].right + base;
			}
			r.sack_count = o->nblocks;
			break;
		default:
			break;
		}
	}
	if (len > sizeof(data))
		return -EMSGSIZE;
	memcpy(data, input_payload(h, p, len), len);
	n = zt_tcp_emit(&r, &src, &dst, data, len, h->l4, sizeof(h->l4));
	if (n < 0)
		return n;
	return build_ip(h, &src, &dst, ZT_IPPROTO_TCP, (size_t)n, p);
}

/* The client's ICMP error @p about a UDP datagram: it quotes the IP
 * header and the 8 bytes of UDP header (RFC 792) of an empty datagram
 * from the quote's source to its destination (TTL 64, checksums right). */
static int build_error_input(struct host *h, const struct zt_scn_pkt *p)
{
	static const struct zt_scn_pkt q_hdr; /* TTL 64, class 0, no DF */
	static const uint8_t none[1];
	const struct zt_udp_repr u = { p->quote_sport, p->quote_dport };
	bool v4 = p->src.family == ZT_AF_INET;
	struct zt_icmp_repr ic;
	uint8_t q[ZT_IP6_HDR + ZT_UDP_HDR];
	int hl, n;

	if (zt_udp_emit(&u, &p->quote_src, &p->quote_dst, none, 0, h->l4,
			sizeof(h->l4)) != ZT_UDP_HDR)
		return -EINVAL;
	hl = build_ip(h, &p->quote_src, &p->quote_dst, ZT_IPPROTO_UDP,
		      ZT_UDP_HDR, &q_hdr);
	if (hl < 0 || (size_t)hl > sizeof(q))
		return -EMSGSIZE;
	memcpy(q, h->pkt, (size_t)hl);
	memset(&ic, 0, sizeof(ic));
	ic.code = p->code;
	if (p->type == ZT_SCN_PKT_TOOBIG) {
		ic.type = v4 ? ZT_ICMP4_DEST_UNREACH : ZT_ICMP6_PACKET_TOO_BIG;
		ic.code = v4 ? ZT_ICMP4_CODE_FRAG_NEEDED : 0;
		ic.mtu = p->mtu;
	} else if (p->type == ZT_SCN_PKT_UNREACH) {
		ic.type = v4 ? ZT_ICMP4_DEST_UNREACH : ZT_ICMP6_DEST_UNREACH;
	} else {
		ic.type = v4 ? ZT_ICMP4_TIME_EXCEEDED : ZT_ICMP6_TIME_EXCEEDED;
	}
	if (v4)
		n = zt_icmp4_emit(&ic, q, (size_t)hl, h->l4, sizeof(h->l4));
	else
		n = zt_icmp6_emit(&ic, &p->src, &p->dst, q, (size_t)hl, h->l4,
				  sizeof(h->l4));
	if (n < 0)
		return n;
	return build_ip(h, &p->src, &p->dst,
			v4 ? ZT_IPPROTO_ICMP : ZT_IPPROTO_ICMPV6, (size_t)n, p);
}

static int build_input(struct host *h, const struct zt_scn_event *e)
{
	const struct zt_scn_pkt *p = &e->pkt;
	uint8_t data[PKT_MAX];
	int n;

	switch (p->type) {
	case ZT_SCN_PKT_TCP:
		return build_tcp_input(h, e);
	case ZT_SCN_PKT_RAW:
		if (p->payload_len > sizeof(h->pkt))
			return -EMSGSIZE;
		memcpy(h->pkt, p->payload, p->payload_len);
		return (int)p->payload_len;
	case ZT_SCN_PKT_UDP: {
		struct zt_udp_repr u = { p->sport, p->dport };

		memcpy(data, input_payload(h, p, p->len), p->len);
		n = zt_udp_emit(&u, &p->src, &p->dst, data, p->len, h->l4,
				sizeof(h->l4));
		if (n < 0)
			return n;
		return build_ip(h, &p->src, &p->dst, ZT_IPPROTO_UDP, (size_t)n,
				p);
	}
	case ZT_SCN_PKT_ECHO:
	case ZT_SCN_PKT_ECHOREPLY: {
		struct zt_icmp_repr ic;
		bool v4 = p->src.family == ZT_AF_INET;
		bool req = p->type == ZT_SCN_PKT_ECHO;

		memset(&ic, 0, sizeof(ic));
		ic.type = v4 ? (req ? ZT_ICMP4_ECHO_REQUEST : ZT_ICMP4_ECHO_REPLY) :
			       (req ? ZT_ICMP6_ECHO_REQUEST : ZT_ICMP6_ECHO_REPLY);
		ic.echo_ident = p->echo_id;
		ic.echo_seq = p->echo_seq;
		if (v4)
			n = zt_icmp4_emit(&ic, p->payload, p->payload_len, h->l4,
					  sizeof(h->l4));
		else
			n = zt_icmp6_emit(&ic, &p->src, &p->dst, p->payload,
					  p->payload_len, h->l4, sizeof(h->l4));
		if (n < 0)
			return n;
		return build_ip(h, &p->src, &p->dst,
				v4 ? ZT_IPPROTO_ICMP : ZT_IPPROTO_ICMPV6, (size_t)n,
				p);
	}
	case ZT_SCN_PKT_UNREACH:
	case ZT_SCN_PKT_TIMEX:
	case ZT_SCN_PKT_TOOBIG:
		return build_error_input(h, p);
	default:
		return -EINVAL;
	}
}

/* --- matching ----------------------------------------------------------------- */

static bool opts_match(const struct zt_scn_pkt *p, const struct zt_tcp_repr *r,
		       uint32_t sack_base)
{
	bool mss = false, ws = false, sok = false, ts = false, sack = false;

	for (unsigned i = 0; i < p->nopts; i++) {
		const struct zt_scn_opt *o = &p->opts[i];

		switch (o->kind) {
		case ZT_SCN_OPT_MSS:
			if (!r->has_mss || r->mss != o->val)
				return false;
			mss = true;
			break;
		case ZT_SCN_OPT_WSCALE:
			if (!r->has_wscale || r->wscale != o->val)
				return false;
			ws = true;
			break;
		case ZT_SCN_OPT_SACKOK:
			if (!r->sack_permitted)
				return false;
			sok = true;
			break;
		case ZT_SCN_OPT_TS:
			if (!r->has_ts || (!o->val_any && r->ts_val != o->val) ||
			    (!o->ecr_any && r->ts_ecr != o->ecr))
				return false;
			ts = true;
			break;
		case ZT_SCN_OPT_SACK:
			if (r->sack_count != o->nblocks)
				return false;
			for (unsigned k = 0; k < o->nblocks; k++)
				if (r->sack[k].left - sack_base != o->blocks[k].left ||
				    r->sack[k].right - sack_base != o->blocks[k].right)
					return false;
			sack = true;
			break;
		default:
			break;
		}
	}
	if (p->opts_more)
		return true;
	return r->has_mss == mss && r->has_wscale == ws &&
	       r->sack_permitted == sok && r->has_ts == ts &&
	       (r->sack_count != 0) == sack;
}

static bool payload_eq(const struct zt_scn_pkt *p, struct zt_view v)
{
	return !p->has_payload ||
	       (v.len == p->payload_len && !memcmp(v.data, p->payload, v.len));
}

/* Whether ICMP error body @body quotes what @p says (anything without
 * `quotes`). */
static bool quote_match(const struct zt_scn_pkt *p, struct zt_view body)
{
	struct zt_icmp_quote q;

	if (!p->has_quote)
		return true;
	if (zt_icmp_parse_quote(body, &q) != ZT_DROP_NONE ||
	    !zt_addr_eq(&q.src, &p->quote_src) || !zt_addr_eq(&q.dst, &p->quote_dst))
		return false;
	if (p->quote_ports && (!q.has_ports || q.src_port != p->quote_sport ||
			       q.dst_port != p->quote_dport))
		return false;
	return !p->quote_echo || (q.has_echo && q.echo_ident == p->quote_echo_id &&
				  q.echo_seq == p->quote_echo_seq);
}

/* Whether TUN packet @o is what @e expects (learning ztun's ISN). */
static bool tun_match(struct host *h, const struct zt_scn_event *e,
		      const struct out_item *o, struct conn **cp)
{
	const struct zt_scn_pkt *p = &e->pkt;
	struct zt_packet pk;
	struct zt_addr esrc = p->src, edst = p->dst;
	uint16_t esport = p->sport, edport = p->dport;
	struct conn *c = NULL;

	if (p->type == ZT_SCN_PKT_TCP) {
		if (p->has_addrs) {
			c = conn_find(h, &p->dst, p->dport, &p->src, p->sport, true);
			if (c)
				h->cur = (int)(c - h->conns);
		} else if (h->cur >= 0) {
			c = &h->conns[h->cur];
		}
		*cp = c;
		if (!c)
			return false;
		esrc = c->server;
		edst = c->client;
		esport = c->sport;
		edport = c->cport;
	}
	if (zt_packet_parse(zt_view_make(o->data, o->len), 0, &pk) != ZT_DROP_NONE ||
	    pk.is_fragment)
		return false;
	if (!zt_addr_eq(&pk.src, &esrc) || !zt_addr_eq(&pk.dst, &edst))
		return false;
	switch (p->type) {
	case ZT_SCN_PKT_TCP: {
		const struct zt_tcp_repr *t = &pk.l4.tcp;
		uint32_t cisn = c->have_cisn ? c->cisn : 0;

		if (pk.proto != ZT_IPPROTO_TCP || t->src_port != esport ||
		    t->dst_port != edport)
			return false;
		if (!c->have_zisn) {
			c->zisn = t->seq - p->start;
			c->have_zisn = true;
		}
		if (t->flags != p->flags)
			return false;
		if (t->seq - c->zisn != p->start ||
		    pk.payload.len != (size_t)(p->end - p->start))
			return false;
		if (p->has_ack && t->ack - cisn != p->ack)
			return false;
		if (p->has_win && !p->no_win_check && t->window != p->win)
			return false;
		if (p->has_opts && !opts_match(p, t, cisn))
			return false;
		return payload_eq(p, pk.payload);
	}
	case ZT_SCN_PKT_UDP:
		return pk.proto == ZT_IPPROTO_UDP && pk.l4.udp.src_port == esport &&
		       pk.l4.udp.dst_port == edport && pk.payload.len == p->len &&
		       (!p->has_tos || zt_packet_tclass(&pk) == p->tos) &&
		       payload_eq(p, pk.payload);
	case ZT_SCN_PKT_ECHO:
	case ZT_SCN_PKT_ECHOREPLY:
		return (pk.proto == ZT_IPPROTO_ICMP || pk.proto == ZT_IPPROTO_ICMPV6) &&
		       pk.l4.icmp.kind == (p->type == ZT_SCN_PKT_ECHO ?
					   ZT_ICMP_ECHO_REQUEST : ZT_ICMP_ECHO_REPLY) &&
		       pk.l4.icmp.echo_ident == p->echo_id &&
		       pk.l4.icmp.echo_seq == p->echo_seq &&
		       (!p->has_tos || zt_packet_tclass(&pk) == p->tos) &&
		       payload_eq(p, pk.payload);
	case ZT_SCN_PKT_UNREACH:
	case ZT_SCN_PKT_TIMEX:
		return (pk.proto == ZT_IPPROTO_ICMP || pk.proto == ZT_IPPROTO_ICMPV6) &&
		       pk.l4.icmp.kind == (p->type == ZT_SCN_PKT_UNREACH ?
					   ZT_ICMP_DEST_UNREACH :
					   ZT_ICMP_TIME_EXCEEDED) &&
		       pk.l4.icmp.code == p->code && quote_match(p, pk.payload);
	case ZT_SCN_PKT_TOOBIG:
		return (pk.proto == ZT_IPPROTO_ICMP || pk.proto == ZT_IPPROTO_ICMPV6) &&
		       pk.l4.icmp.kind == ZT_ICMP_PACKET_TOO_BIG &&
		       pk.l4.icmp.mtu == p->mtu && quote_match(p, pk.payload);
	default:
		return false;
	}
}

/* The next line's time that is not an expected output (how far a wait for
 * a missing output may run). */
static uint64_t wait_limit(struct host *h, const struct zt_scn_event *e)
{
	uint64_t lim = zt_sim_time_add(e->t, h->s->hdr.tolerance);

	for (size_t i = h->pos + 1; i < h->s->n; i++) {
		const struct zt_scn_event *x = &h->s->ev[i];

		if (x->kind == ZT_SCN_TUN_OUT || x->kind == ZT_SCN_S_OUT ||
		    x->kind == ZT_SCN_NET_OUT)
			continue;
		if (x->t < lim)
			lim = x->t;
		break;
	}
	return lim;
}

static unsigned event_chan(const struct zt_scn_event *e)
{
	if (e->kind == ZT_SCN_TUN_OUT)
		return CHAN_TUN;
	if (e->kind == ZT_SCN_NET_OUT)
		return CHAN_NET;
	return CHAN_STREAM0 + e->stream - 1;
}

/* The oldest output on @e's channel, waiting up to the tolerance. */
static struct out_item *expect_first(struct host *h, const struct zt_scn_event *e)
{
	struct out_item *o = out_first(h, event_chan(e));

	if (!o) {
		run_until(h, wait_limit(h, e), e->line);
		o = out_first(h, event_chan(e));
	}
	return o;
}

static bool time_ok(struct host *h, const struct zt_scn_event *e,
		    const struct out_item *o)
{
	uint64_t tol = h->s->hdr.tolerance;

	/* saturating: a large tolerance late in the clock must not wrap */
	return zt_sim_time_add(o->t, tol) >= e->t &&
	       o->t <= zt_sim_time_add(e->t, tol);
}

static void fail_time(struct host *h, const struct zt_scn_event *e,
		      const char *exp, const char *act, uint64_t at)
{
	char b1[ZT_SCN_ERR_LEN], b2[ZT_SCN_ERR_LEN], t1[32], t2[32];

	fmt_time(t1, sizeof(t1), e->t);
	fmt_time(t2, sizeof(t2), at);
	snprintf(b1, sizeof(b1), "%s at %s", exp, t1);
	snprintf(b2, sizeof(b2), "%s at %s", act, t2);
	fail_cmp(h, e->line, b1, b2);
}

static void expect_tun(struct host *h, const struct zt_scn_event *e)
{
	char eb[ZT_SCN_ERR_LEN], ab[ZT_SCN_ERR_LEN];
	struct sbuf es = { eb, sizeof(eb), 0 }, as = { ab, sizeof(ab), 0 };
	struct out_item *o = expect_first(h, e);
	struct conn *c = NULL;
	bool ok;

	if (h->failed)
		return;
	ok = o && tun_match(h, e, o, &c);
	if (e->pkt.type == ZT_SCN_PKT_TCP && !c && !e->pkt.has_addrs &&
	    h->cur >= 0)
		c = &h->conns[h->cur];
	fmt_exp_pkt(&es, "tun>", &e->pkt, c);
	if (o)
		fmt_act_pkt(h, &as, o->data, o->len, &e->pkt);
	else
		sb_add(&as, "(nothing)");
	if (!ok) {
		fail_cmp(h, e->line, eb, ab);
		return;
	}
	if (!time_ok(h, e, o)) {
		fail_time(h, e, eb, ab, o->t);
		return;
	}
	out_done(o);
}

static void fmt_exp_stream(struct sbuf *sb, const struct zt_scn_event *e)
{
	sb_add(sb, "s%u> ", e->stream);
	switch (e->sop) {
	case ZT_SCN_S_CONNECT:
		sb_add(sb, "connect ");
		fmt_endpoint(sb, &e->ep);
		if (e->pkt.ttl)
			sb_add(sb, " ttl %u", e->pkt.ttl);
		break;
	case ZT_SCN_S_DATA:
		fmt_bytes(sb, e->pkt.payload, e->pkt.payload_len);
		break;
	case ZT_SCN_S_FIN:
		sb_add(sb, "fin");
		break;
	case ZT_SCN_S_CLOSE:
		sb_add(sb, "close");
		break;
	case ZT_SCN_S_RST:
		sb_add(sb, "rst");
		break;
	}
}

static void expect_stream(struct host *h, const struct zt_scn_event *e)
{
	char eb[ZT_SCN_ERR_LEN], ab[ZT_SCN_ERR_LEN];
	struct sbuf es = { eb, sizeof(eb), 0 }, as = { ab, sizeof(ab), 0 };
	struct out_item *o = expect_first(h, e);
	unsigned chan = event_chan(e);
	bool ok = false;

	if (h->failed)
		return;
	fmt_exp_stream(&es, e);
	if (!o) {
		fail_cmp(h, e->line, eb, "(nothing)");
		return;
	}
	if (e->sop == ZT_SCN_S_DATA && o->kind == OUT_DATA) {
		/* Gather the expected number of bytes across pieces. */
		size_t need = e->pkt.payload_len, got = 0;
		uint8_t *buf = malloc(need ? need : 1);
		uint64_t t0 = o->t;

		if (!buf) {
			fail(h, e->line, "out of memory");
			return;
		}
		for (size_t i = (size_t)(o - h->out); i < h->nout && got < need; i++) {
			struct out_item *x = &h->out[i];
			size_t k;

			if (x->kind == OUT_DONE || x->chan != chan)
				continue;
			if (x->kind != OUT_DATA)
				break;
			k = x->len - x->off;
			if (k > need - got)
				k = need - got;
			memcpy(buf + got, x->data + x->off, k);
			got += k;
		}
		ok = got == need && !memcmp(buf, e->pkt.payload, need);
		if (!ok) {
			sb_add(&as, "s%u> ", e->stream);
			fmt_bytes(&as, buf, got);
			if (got < need)
				sb_add(&as, " (then %s)", "nothing more");
			free(buf);
			fail_cmp(h, e->line, eb, ab);
			return;
		}
		free(buf);
		if (zt_sim_time_add(t0, h->s->hdr.tolerance) < e->t ||
		    t0 > zt_sim_time_add(e->t, h->s->hdr.tolerance)) {
			fail_time(h, e, eb, eb, t0);
			return;
		}
		/* Consume. */
		got = 0;
		for (size_t i = (size_t)(o - h->out); i < h->nout && got < need; i++) {
			struct out_item *x = &h->out[i];
			size_t k;

			if (x->kind == OUT_DONE || x->chan != chan)
				continue;
			k = x->len - x->off;
			if (k > need - got)
				k = need - got;
			x->off += k;
			got += k;
			if (x->off == x->len)
				out_done(x);
		}
		return;
	}
	fmt_item(h, &as, o);
	switch (e->sop) {
	case ZT_SCN_S_CONNECT:
		ok = o->kind == OUT_CONNECT && zt_endpoint_same(&o->ep, &e->ep) &&
		     (!e->pkt.ttl || o->ttl == e->pkt.ttl);
		break;
	case ZT_SCN_S_FIN:
		ok = o->kind == OUT_FIN;
		break;
	case ZT_SCN_S_CLOSE:
		ok = o->kind == OUT_CLOSE;
		break;
	case ZT_SCN_S_RST:
		ok = o->kind == OUT_RST;
		break;
	default:
		break;
	}
	if (!ok) {
		fail_cmp(h, e->line, eb, ab);
		return;
	}
	if (!time_ok(h, e, o)) {
		fail_time(h, e, eb, ab, o->t);
		return;
	}
	out_done(o);
}

static int var_sock(struct host *h, const char *var)
{
	for (unsigned i = 0; i < h->ndg; i++)
		if (!strcmp(h->dg[i].var, var))
			return (int)i;
	return -1;
}

static void expect_net(struct host *h, const struct zt_scn_event *e)
{
	char eb[ZT_SCN_ERR_LEN], ab[ZT_SCN_ERR_LEN];
	struct sbuf es = { eb, sizeof(eb), 0 }, as = { ab, sizeof(ab), 0 };
	struct out_item *o = expect_first(h, e);
	bool ok;
	int bound = e->var[0] ? var_sock(h, e->var) : -1;

	if (h->failed)
		return;
	sb_add(&es, "net> %s ", e->icmp ? "icmp" : "udp");
	if (e->var[0])
		sb_add(&es, "$%s ", e->var);
	fmt_net_ep(&es, &e->ep, e->icmp);
	sb_add(&es, " (%u)", e->pkt.len);
	if (e->pkt.ttl)
		sb_add(&es, " ttl %u", e->pkt.ttl);
	if (e->pkt.has_tos)
		sb_add(&es, " tos %u", e->pkt.tos);
	if (e->pkt.has_payload) {
		sb_add(&es, " ");
		fmt_bytes(&es, e->pkt.payload, e->pkt.payload_len);
	}
	if (!o) {
		fail_cmp(h, e->line, eb, "(nothing)");
		return;
	}
	fmt_item(h, &as, o);
	ok = h->dg[o->sock].echo == e->icmp &&
	     (e->icmp ? zt_addr_eq(&o->ep.addr, &e->ep.addr) :
			zt_endpoint_same(&o->ep, &e->ep)) && o->len == e->pkt.len &&
	     (!e->pkt.ttl || o->ttl == e->pkt.ttl) &&
	     (!e->pkt.has_tos || o->tclass == e->pkt.tos) &&
	     (!e->pkt.has_payload || !memcmp(o->data, e->pkt.payload, o->len));
	if (e->var[0]) {
		if (bound >= 0 && bound != o->sock)
			ok = false;
		if (bound < 0 && h->dg[o->sock].var[0])
			ok = false; /* that socket already has another name */
	}
	if (!ok) {
		fail_cmp(h, e->line, eb, ab);
		return;
	}
	if (!time_ok(h, e, o)) {
		fail_time(h, e, eb, ab, o->t);
		return;
	}
	if (e->var[0] && bound < 0)
		memcpy(h->dg[o->sock].var, e->var, sizeof(e->var));
	h->last_sock = o->sock;
	out_done(o);
}

/* --- inputs ---------------------------------------------------------------- */

static void input_tun(struct host *h, const struct zt_scn_event *e)
{
	int n = build_input(h, e);

	if (n < 0) {
		fail(h, e->line, "cannot build this packet (%s)", strerror(-n));
		return;
	}
	trace(h, 1, CHAN_TUN, h->pkt, (size_t)n);
	zt_router_tun_input(h->r, h->pkt, (size_t)n, zt_sim_now(&h->sim));
}

static void input_stream(struct host *h, const struct zt_scn_event *e)
{
	struct hstream *st;
	uint64_t now = zt_sim_now(&h->sim);
	uint8_t tag[2] = { e->sop, (uint8_t)e->fin };
	int err;

	if (e->stream > h->nst) {
		fail(h, e->line, "s%u was never opened by ztun", e->stream);
		return;
	}
	st = &h->st[e->stream - 1];
	if (st->closed || st->dead || st->err_held) {
		fail(h, e->line, "s%u is already %s", e->stream,
		     st->closed ? "closed by ztun" : "dead");
		return;
	}
	if (st->silent) { /* a peer that vanished sends nothing more */
		fail(h, e->line, "s%u is silent", e->stream);
		return;
	}
	trace(h, 2, CHAN_STREAM0 + e->stream - 1, tag, sizeof(tag));
	switch (e->sop) {
	case ZT_SCN_S_ACCEPT:
		if (st->connected) {
			fail(h, e->line, "s%u is already connected", e->stream);
			return;
		}
		zt_sim_cancel(&h->sim, &st->ev_connect);
		st->connected = true;
		zt_router_stream_connected(h->r, st->cookie, now);
		return;
	case ZT_SCN_S_REFUSE:
	case ZT_SCN_S_TIMEOUT:
	case ZT_SCN_S_UNREACH:
	case ZT_SCN_S_RST:
		err = e->sop == ZT_SCN_S_REFUSE ? -ECONNREFUSED :
		      e->sop == ZT_SCN_S_TIMEOUT ? -ETIMEDOUT :
		      e->sop == ZT_SCN_S_UNREACH ? -e->unreach_err : -ECONNRESET;
		if (e->sop != ZT_SCN_S_RST && st->connected) {
			fail(h, e->line, "s%u is already connected", e->stream);
			return;
		}
		if (e->sop == ZT_SCN_S_RST && st->in_len) {
			/* bytes the router has not taken (paused) come
			 * first, as recv() returns them before the error
			 * (ztun-ref reads them too): stream_deliver() fails
			 * the stream once they are taken */
			st->err_held = err;
			return;
		}
		zt_sim_cancel(&h->sim, &st->ev_connect);
		zt_sim_cancel(&h->sim, &st->ev_deliver);
		st->dead = true;
		zt_router_stream_failed(h->r, st->cookie, err, now);
		return;
	case ZT_SCN_S_TIMEX: {
		bool v4 = e->ep.addr.family == ZT_AF_INET;
		struct zt_dgram_error de;

		if (st->connected) {
			fail(h, e->line, "s%u is already connected", e->stream);
			return;
		}
		zt_sim_cancel(&h->sim, &st->ev_connect);
		st->dead = true;
		memset(&de, 0, sizeof(de));
		de.to = st->ep;
		de.origin = e->ep.addr;
		de.type = v4 ? ZT_ICMP4_TIME_EXCEEDED : ZT_ICMP6_TIME_EXCEEDED;
		zt_router_stream_failed_icmp(h->r, st->cookie, -EHOSTUNREACH, &de,
					     now);
		return;
	}
	case ZT_SCN_S_SILENT:
		if (!st->connected) {
			fail(h, e->line, "s%u is not connected yet", e->stream);
			return;
		}
		st->silent = true;
		return;
	case ZT_SCN_S_WINDOW:
		st->window_inf = e->window_inf;
		st->window = e->window;
		if (st->blocked && (st->window_inf || st->window)) {
			st->blocked = false;
			zt_router_stream_writable(h->r, st->cookie, now);
		}
		return;
	case ZT_SCN_S_DATA:
	case ZT_SCN_S_FIN:
		if (!st->connected) {
			fail(h, e->line, "s%u is not connected yet", e->stream);
			return;
		}
		if (st->in_fin) {
			fail(h, e->line, "s%u already sent fin", e->stream);
			return;
		}
		if (e->pkt.payload_len) {
			uint8_t *nb = realloc(st->in, st->in_len + e->pkt.payload_len);

			if (!nb) {
				fail(h, e->line, "out of memory");
				return;
			}
			st->in = nb;
			memcpy(st->in + st->in_len, e->pkt.payload, e->pkt.payload_len);
			st->in_len += e->pkt.payload_len;
			trace(h, 3, CHAN_STREAM0 + e->stream - 1, e->pkt.payload,
			      e->pkt.payload_len);
		}
		if (e->sop == ZT_SCN_S_FIN || e->fin)
			st->in_fin = true;
		stream_deliver(st);
		return;
	default:
		return;
	}
}

/* Hand the pending batch to the router (nothing when the socket closed
 * meanwhile: its queue went with it). */
static void batch_flush(struct host *h)
{
	int s = h->batch_sock;

	if (s >= 0 && h->batch.n && h->dg[s].open)
		zt_router_dgram_batch(h->r, h->dg[s].cookie, &h->batch.from,
				      h->batch.d, h->batch.n, zt_sim_now(&h->sim));
	h->batch_sock = -1;
	zt_dgram_batch_clear(&h->batch);
}

/* net< error: the ICMP error reaches socket @s after the datagrams that
 * came before it (the batch is handed over first). */
static void input_net_error(struct host *h, const struct zt_scn_event *e, int s)
{
	struct zt_dgram_error de;

	if (h->dg[s].echo == (e->err_to.port != 0)) {
		fail(h, e->line, "an error about %s needs %s", h->dg[s].echo ?
		     "an echo request" : "a UDP datagram", h->dg[s].echo ?
		     "'to ADDR' (no port)" : "'to ADDR:PORT'");
		return;
	}
	batch_flush(h);
	memset(&de, 0, sizeof(de));
	de.to = e->err_to;
	de.origin = e->ep.addr;
	de.type = e->err_type;
	de.code = e->err_code;
	de.mtu = e->err_mtu;
	de.data = input_payload(h, &e->pkt, e->pkt.len);
	de.len = e->pkt.len;
	trace_ep(h, CHAN_NET, &de.to);
	trace(h, 5, CHAN_NET, de.data, de.len);
	zt_router_dgram_error(h->r, h->dg[s].cookie, &de, zt_sim_now(&h->sim));
}

static void input_net(struct host *h, const struct zt_scn_event *e)
{
	int s = e->var[0] ? var_sock(h, e->var) : h->last_sock;
	const uint8_t *p;

	if (s < 0) {
		if (e->var[0])
			fail(h, e->line, "no datagram socket is named $%s yet", e->var);
		else
			fail(h, e->line, "no datagram socket was used yet");
		return;
	}
	if (!h->dg[s].open) {
		fail(h, e->line, "datagram socket %s%s is closed",
		     e->var[0] ? "$" : "", e->var);
		return;
	}
	if (e->error) {
		input_net_error(h, e, s);
		return;
	}
	if (h->dg[s].echo != e->icmp) {
		fail(h, e->line, "datagram socket %s%s is %s, not %s",
		     e->var[0] ? "$" : "", e->var, h->dg[s].echo ? "icmp" : "udp",
		     e->icmp ? "icmp" : "udp");
		return;
	}
	if (h->batch_sock >= 0 &&
	    (h->batch_sock != s || h->batch_t != e->t ||
	     !zt_dgram_batch_takes(&h->batch, &e->ep, e->pkt.len)))
		batch_flush(h);
	p = input_payload(h, &e->pkt, e->pkt.len);
	h->batch_sock = s;
	h->batch_t = e->t;
	zt_dgram_batch_add(&h->batch, &e->ep, p, e->pkt.len, e->pkt.tos);
	trace(h, 4, CHAN_NET, p, e->pkt.len);
}

/* --- advance, assert -------------------------------------------------------- */

static void check_quiet(struct host *h, unsigned line)
{
	char ab[ZT_SCN_ERR_LEN];
	struct sbuf as = { ab, sizeof(ab), 0 };
	struct out_item *o = out_any(h);
	char t[32];

	if (!o || h->failed)
		return;
	fmt_item(h, &as, o);
	fmt_time(t, sizeof(t), o->t);
	sb_add(&as, " at %s", t);
	fail_cmp(h, line, "(no more output)", ab);
}

static void do_assert(struct host *h, const struct zt_scn_event *e)
{
	static const char *const ops[] = { "?", "==", "!=", "<", "<=", ">", ">=" };
	uint64_t v = 0;
	bool ok = false;
	char eb[256], ab[256];

	switch (e->counter) {
	case ZT_SCN_C_STACK:
		memcpy(&v, (const uint8_t *)zt_stack_stats(zt_router_stack(h->r)) +
			   e->counter_off, sizeof(v));
		break;
	case ZT_SCN_C_DROP:
		v = zt_stack_stats(zt_router_stack(h->r))->drops[e->counter_off];
		break;
	case ZT_SCN_C_ROUTER:
		memcpy(&v, (const uint8_t *)zt_router_stats(h->r) + e->counter_off,
		       sizeof(v));
		break;
	case ZT_SCN_C_NAT:
		memcpy(&v, (const uint8_t *)&zt_router_nat(h->r)->stats + e->counter_off,
		       sizeof(v));
		break;
	case ZT_SCN_C_FAKEDNS: {
		const struct zt_fakedns_stats *fs = zt_router_fakedns_stats(h->r);

		v = 0;
		if (fs)
			memcpy(&v, (const uint8_t *)fs + e->counter_off, sizeof(v));
		break;
	}
	case ZT_SCN_C_TCP: {
		struct zt_tcb_stats tcp;

		zt_stack_tcp_totals(zt_router_stack(h->r), &tcp);
		memcpy(&v, (const uint8_t *)&tcp + e->counter_off, sizeof(v));
		break;
	}
	case ZT_SCN_C_TCP_STATE: {
		struct zt_flow_key k;
		struct zt_flow *f = NULL;

		if (h->cur >= 0) {
			const struct conn *c = &h->conns[h->cur];

			zt_flow_key_set(&k, c->family, ZT_IPPROTO_TCP, &c->client,
					c->cport, &c->server, c->sport);
			f = zt_stack_tcp_lookup(zt_router_stack(h->r), &k);
		}
		v = f ? (uint64_t)f->tcb.state : ZT_TCP_CLOSED;
		break;
	}
	}
	switch (e->cmp) {
	case ZT_SCN_EQ: ok = v == e->value; break;
	case ZT_SCN_NE: ok = v != e->value; break;
	case ZT_SCN_LT: ok = v < e->value; break;
	case ZT_SCN_LE: ok = v <= e->value; break;
	case ZT_SCN_GT: ok = v > e->value; break;
	case ZT_SCN_GE: ok = v >= e->value; break;
	}
	trace(h, 5, 0, &v, sizeof(v));
	if (ok)
		return;
	if (e->counter == ZT_SCN_C_TCP_STATE) {
		snprintf(eb, sizeof(eb), "%s %s %s", e->counter_name, ops[e->cmp],
			 zt_tcp_state_name((enum zt_tcp_state)e->value));
		snprintf(ab, sizeof(ab), "%s = %s", e->counter_name,
			 zt_tcp_state_name((enum zt_tcp_state)v));
	} else {
		snprintf(eb, sizeof(eb), "%s %s %" PRIu64, e->counter_name,
			 ops[e->cmp], e->value);
		snprintf(ab, sizeof(ab), "%s = %" PRIu64, e->counter_name, v);
	}
	fail_cmp(h, e->line, eb, ab);
}

/* --- the run ------------------------------------------------------------------ */

static int host_setup(struct host *h, const struct zt_scn *s)
{
	struct zt_router_config cfg = s->hdr.cfg;
	char rule[128], ab[ZT_ADDR_STRLEN], err[256];

	if (zt_rules_init(&h->rules, 0))
		return -ENOMEM;
	h->rules_ok = true;
	/* The TUN's own addresses answer ICMP echo (Local). */
	snprintf(rule, sizeof(rule), "icmp %s/32 -> local",
		 zt_addr_format(&s->hdr.tun, ab, sizeof(ab)));
	if (zt_rules_add_text(&h->rules, rule, err, sizeof(err)))
		return -EINVAL;
	if (s->hdr.tun6.family) {
		snprintf(rule, sizeof(rule), "icmp %s/128 -> local",
			 zt_addr_format(&s->hdr.tun6, ab, sizeof(ab)));
		if (zt_rules_add_text(&h->rules, rule, err, sizeof(err)))
			return -EINVAL;
	}
	for (unsigned i = 0; i < s->hdr.nroutes; i++)
		if (zt_rules_add_text(&h->rules, s->hdr.routes[i], err, sizeof(err)))
			return -EINVAL;
	zt_rules_set_default(&h->rules, s->hdr.def, s->hdr.def_reject);
	cfg.route = zt_rules_route;
	cfg.route_user = &h->rules;
	zt_router_config_fit_flows(&cfg); /* as ztun-ref does */
	if (s->hdr.tun_offload) {
		cfg.tun_output_gso = tun_out_gso;
		cfg.stack.tcp.tso_segs = ZT_TCP_TSO_SEGS;
	}
	zt_sim_event_init(&h->ev_timer, ev_timer_fn, h);
	h->r = zt_router_new(&cfg, tun_out, &host_ops, h, zt_sim_rng(&h->sim));
	return h->r ? 0 : -ENOMEM;
}

static void host_teardown(struct host *h)
{
	h->freeing = true;
	zt_sim_cancel(&h->sim, &h->ev_timer);
	for (unsigned i = 0; i < h->nst; i++) {
		zt_sim_cancel(&h->sim, &h->st[i].ev_connect);
		zt_sim_cancel(&h->sim, &h->st[i].ev_deliver);
		zt_sim_cancel(&h->sim, &h->st[i].ev_ka);
	}
	zt_router_free(h->r);
	for (unsigned i = 0; i < h->nst; i++)
		free(h->st[i].in);
	for (size_t i = 0; i < h->nout; i++)
		free(h->out[i].data);
	free(h->out);
	if (h->rules_ok)
		zt_rules_destroy(&h->rules);
	zt_sim_destroy(&h->sim);
}

/**
 * zt_scn_run() - run one parsed scenario against a fresh router.
 * @s: the script (borrowed)
 * @o: options (borrowed, may be NULL): seed override, log
 * @res: the result (caller-owned, always filled)
 *
 * Return: 0 passed, 1 failed, or -ENOMEM (setup failed; @res says so).
 */
int zt_scn_run(const struct zt_scn *s, const struct zt_scn_opts *o,
	       struct zt_scn_result *res)
{
	struct host *h = calloc(1, sizeof(*h));
	int rc;

	memset(res, 0, sizeof(*res));
	res->seed = o && o->have_seed ? o->seed : s->hdr.seed;
	if (!h) {
		snprintf(res->msg, sizeof(res->msg), "%s: out of memory", s->file);
		return -ENOMEM;
	}
	h->s = s;
	h->res = res;
	h->log = o ? o->log : NULL;
	h->seed = res->seed;
	h->cur = -1;
	h->last_sock = -1;
	h->batch_sock = -1;
	h->hash = 0xcbf29ce484222325ull;
	zt_sim_init(&h->sim, h->seed);
	zt_rng_seed(&h->crng, h->seed ^ 0x5ca1ab1e5ca1ab1eull);
	rc = host_setup(h, s);
	if (rc) {
		snprintf(res->msg, sizeof(res->msg), "%s: cannot set up the router (%s)",
			 s->file, strerror(-rc));
		host_teardown(h);
		free(h);
		return -ENOMEM;
	}
	hash_bytes(h, &h->seed, sizeof(h->seed));
	res->ran = true;
	for (h->pos = 0; h->pos < s->n && !h->failed; h->pos++) {
		const struct zt_scn_event *e = &s->ev[h->pos];

		/* a batch ends at the first line that does not add to it */
		if (h->batch_sock >= 0 &&
		    (e->kind != ZT_SCN_NET_IN || e->t != h->batch_t))
			batch_flush(h);
		run_until(h, e->t, e->line);
		if (h->failed)
			break;
		if (h->log) {
			char t[32];

			fmt_time(t, sizeof(t), zt_sim_now(&h->sim));
			fprintf(h->log, "%12s  line %u: %.*s\n", t, e->line,
				(int)e->src_len, s->src + e->src_off);
		}
		switch (e->kind) {
		case ZT_SCN_TUN_IN:
			input_tun(h, e);
			break;
		case ZT_SCN_TUN_OUT:
			expect_tun(h, e);
			break;
		case ZT_SCN_S_IN:
			input_stream(h, e);
			break;
		case ZT_SCN_S_OUT:
			expect_stream(h, e);
			break;
		case ZT_SCN_NET_IN:
			input_net(h, e);
			break;
		case ZT_SCN_NET_OUT:
			expect_net(h, e);
			break;
		case ZT_SCN_ADVANCE:
			check_quiet(h, e->line);
			break;
		case ZT_SCN_ASSERT:
			do_assert(h, e);
			break;
		}
	}
	if (!h->failed)
		batch_flush(h);
	if (!h->failed)
		check_quiet(h, s->n ? s->ev[s->n - 1].line : s->last_line);
	res->passed = !h->failed;
	res->trace_hash = h->hash;
	res->end_time = zt_sim_now(&h->sim);
	host_teardown(h);
	free(h);
	return res->passed ? 0 : 1;
}

/**
 * zt_scn_run_file() - read, parse and run the script at @path.
 * @path: the file (its name appears in every message as given)
 * @o: as for zt_scn_run()
 * @res: the result
 *
 * Return: 0 passed, 1 failed (a parse error is a failure), -ENOENT/-EIO
 * when the file cannot be read, -ENOMEM.
 */
int zt_scn_run_file(const char *path, const struct zt_scn_opts *o,
		    struct zt_scn_result *res)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	size_t len = 0, cap = 0;
	struct zt_scn s;
	int rc;

	memset(res, 0, sizeof(*res));
	if (!f) {
		rc = -errno;
		snprintf(res->msg, sizeof(res->msg), "%s: %s", path, strerror(-rc));
		return rc ? rc : -EIO;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			char *nt = realloc(text, cap ? cap * 2 : 4096);

			if (!nt) {
				free(text);
				fclose(f);
				snprintf(res->msg, sizeof(res->msg), "%s: out of memory", path);
				return -ENOMEM;
			}
			text = nt;
			cap = cap ? cap * 2 : 4096;
		}
		n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		free(text);
		fclose(f);
		snprintf(res->msg, sizeof(res->msg), "%s: read error", path);
		return -EIO;
	}
	fclose(f);
	rc = zt_scn_parse(path, text, len, &s, res->msg, sizeof(res->msg));
	free(text);
	if (rc == -EINVAL) {
		res->passed = false;
		res->seed = o && o->have_seed ? o->seed : 0;
		return 1;
	}
	if (rc)
		return rc;
	if (!s.n) {
		/* it would pass having asserted nothing */
		snprintf(res->msg, sizeof(res->msg),
			 "%s: no steps (a scenario with none asserts nothing)", path);
		res->passed = false;
		res->seed = o && o->have_seed ? o->seed : s.hdr.seed;
		zt_scn_free(&s);
		return 1;
	}
	rc = zt_scn_run(&s, o, res);
	zt_scn_free(&s);
	return rc;
}
