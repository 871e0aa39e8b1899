// SPDX-License-Identifier: MIT
/*
 * test_slirp.c - the libslirp egress (sim/slirp/slirp_egress.h) against real
 * servers on 127.0.0.1, without root.
 *
 * Theory of operation: each test starts an echo server (TCP or UDP) on an
 * ephemeral port of 127.0.0.1 in a thread with blocking sockets, then runs
 * a host loop on the test's thread: the egress's slirp descriptors are
 * polled, time is CLOCK_MONOTONIC, and the egress is pumped after each
 * poll. Reaching 127.0.0.1 goes through slirp's gateway 10.0.2.2 (dialled
 * directly, or as 127.0.0.1 through the egress's loopback mapping).
 *
 *   tcp_echo      a stream through the dial API with a test sink: 1 MiB out,
 *                 1 MiB back byte-exact (the sink takes small bites, so the
 *                 egress pauses and resumes; sending waits for writable),
 *                 orderly close, and the egress ends with no stream left.
 *   udp_echo      10 datagrams out, 10 replies back byte-exact.
 *   refused       a stream to a closed port fails with -ECONNREFUSED.
 *   close_in_data a sink that takes all it is given and closes from that
 *                 report: an orderly close (the stream lingers for its
 *                 FIN), not an abort for bytes it took.
 *   no_echo       an ICMP echo socket is refused (-EOPNOTSUPP), not handed
 *                 out as a UDP one that pings cannot leave from.
 *   router        a zt_router whose Direct egress is this backend, a client
 *                 zt_tcb on the TUN side (segments wrapped in IPv4, queued
 *                 both ways so nothing is re-entered) asking for slirp's
 *                 gateway: the same 1 MiB TCP echo and 10 UDP datagrams,
 *                 end to end.
 *
 * Every wait is bounded by a wall-clock budget; a missing libslirp or an
 * unusable loopback prints one SKIP line and passes.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "slirp/slirp_egress.h"
#include "test.h"
#include "ztun/ip4.h"
#include "ztun/packet.h"
#include "ztun/router.h"
#include "ztun/udp_wire.h"

#define TOTAL (1024u * 1024u)
#define NDGRAM 10
#define BUDGET (60 * ZT_SEC)

static const uint8_t GW4[4] = { 10, 0, 2, 2 };
static const uint8_t LO4[4] = { 127, 0, 0, 1 };
static const uint8_t CLI4[4] = { 10, 0, 0, 2 };

static uint64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * ZT_SEC + (uint64_t)ts.tv_nsec;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)((i >> 9) ^ (i * 131u) ^ 0x5a);
}

static uint8_t dgram_byte(unsigned idx, size_t i)
{
	return (uint8_t)(idx * 37u + i * 7u);
}

static size_t dgram_len(unsigned idx)
{
	return 1 + idx * 139u; /* 1 .. 1252 bytes */
}

/* --- echo servers on 127.0.0.1 ------------------------------------------- */

struct echo_srv {
	int fd;
	uint16_t port;
	bool udp;
	volatile bool stop;
	pthread_t th;
	bool started;
};

static void *tcp_echo_main(void *arg)
{
	struct echo_srv *s = arg;
	uint8_t buf[65536];
	int c = -1;

	while (!s->stop && c < 0) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };

		if (poll(&p, 1, 100) > 0)
			c = accept(s->fd, NULL, NULL);
	}
	while (c >= 0 && !s->stop) {
		struct pollfd p = { .fd = c, .events = POLLIN };
		ssize_t n, off = 0;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(c, buf, sizeof(buf));
		if (n <= 0)
			break;
		while (off < n) {
			ssize_t w = write(c, buf + off, (size_t)(n - off));

			if (w <= 0)
				goto out;
			off += w;
		}
	}
out:
	if (c >= 0) {
		shutdown(c, SHUT_WR);
		close(c);
	}
	return NULL;
}

static void *udp_echo_main(void *arg)
{
	struct echo_srv *s = arg;
	uint8_t buf[65536];

	while (!s->stop) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recvfrom(s->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n >= 0)
			sendto(s->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

/* Bind 127.0.0.1:0 (listening for TCP). Return 0, or -1 (loopback unusable). */
static int echo_bind(struct echo_srv *s, bool udp)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->udp = udp;
	s->fd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	if (s->fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (!udp && listen(s->fd, 4) < 0) ||
	    getsockname(s->fd, (struct sockaddr *)&a, &al) < 0) {
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	s->port = ntohs(a.sin_port);
	return 0;
}

static int echo_start(struct echo_srv *s, bool udp)
{
	if (echo_bind(s, udp) < 0)
		return -1;
	if (pthread_create(&s->th, NULL, udp ? udp_echo_main : tcp_echo_main, s)) {
		close(s->fd);
		return -1;
	}
	s->started = true;
	return 0;
}

static void echo_stop(struct echo_srv *s)
{
	s->stop = true;
	if (s->started)
		pthread_join(s->th, NULL);
	if (s->fd >= 0)
		close(s->fd);
}

static bool skip_if_unavailable(const char *test)
{
	if (!zt_slirp_available()) {
		printf("\nSKIP slirp/%s: this build has no libslirp (install libslirp-dev)\n",
		       test);
		return true;
	}
	return false;
}

/* An egress; with @map_loopback, 127.0.0.1 is dialled as slirp's gateway
 * and the gateway's replies come back as from 127.0.0.1. */
static struct zt_slirp_egress *egress_new_map(uint64_t seed, bool map_loopback)
{
	struct zt_slirp_config cfg;

	zt_slirp_config_default(&cfg);
	cfg.seed = seed;
	cfg.map_loopback = map_loopback;
	cfg.tcp.time_wait = 100 * ZT_MS;
	return zt_slirp_egress_new(&cfg, mono());
}

static struct zt_slirp_egress *egress_new(uint64_t seed)
{
	return egress_new_map(seed, true);
}

/*
 * One turn of a host loop: poll slirp's descriptors (at most @max_ms, less
 * when the egress or @extra_deadline needs it sooner), then pump.
 */
static void egress_turn(struct zt_slirp_egress *e, uint64_t extra_deadline,
			int max_ms)
{
	struct pollfd *fds;
	uint64_t now = mono(), dl;
	size_t n = zt_slirp_egress_pollfds(e, &fds, now);
	int timeout = max_ms, rc;

	dl = zt_slirp_egress_deadline(e);
	if (extra_deadline < dl)
		dl = extra_deadline;
	if (dl <= now)
		timeout = 0;
	else if (dl - now < (uint64_t)max_ms * ZT_MS)
		timeout = (int)((dl - now + ZT_MS - 1) / ZT_MS);
	rc = poll(fds, (nfds_t)n, timeout);
	zt_slirp_egress_pollfds_done(e, rc, mono());
	zt_slirp_egress_poll(e, mono());
}

/* --- the dial API with a test sink ---------------------------------------- */

struct dctx {
	struct zt_slirp_egress *e;
	int h;
	bool connected, failed, eof;
	int err;
	size_t sent, got;
	bool same;
	bool blocked;
	unsigned writables;
	bool need_resume;
	unsigned pauses;
	bool close_in_data;       /* take the first bytes whole and close */
	bool closed_in_data;
	/* UDP */
	unsigned replies, good;
	bool seen[NDGRAM];
	struct zt_endpoint from;
};

static void d_connected(void *sink, void *cookie, uint64_t now)
{
	struct dctx *c = sink;

	(void)now;
	CU_ASSERT(cookie == c);
	c->connected = true;
}

static void d_failed(void *sink, void *cookie, int err, uint64_t now)
{
	struct dctx *c = sink;

	(void)now;
	CU_ASSERT(cookie == c);
	c->failed = true;
	c->err = err;
}

static size_t d_data(void *sink, void *cookie, const uint8_t *data, size_t len,
		     uint64_t now)
{
	struct dctx *c = sink;
	size_t take = len < 5000 ? len : 5000; /* small bites: back-pressure */

	(void)cookie;
	(void)now;
	if (c->close_in_data) {
		/* Like the router's DNS tunnel: the answer is in, close. */
		c->got += len;
		c->closed_in_data = true;
		c->close_in_data = false;
		zt_slirp_stream_close(c->e, c->h, false);
		return len;
	}
	CU_ASSERT(!c->eof);
	for (size_t k = 0; k < take; k++)
		if (data[k] != pattern(c->got + k))
			c->same = false;
	c->got += take;
	if (take < len) {
		c->need_resume = true;
		c->pauses++;
	}
	return take;
}

static void d_eof(void *sink, void *cookie, uint64_t now)
{
	struct dctx *c = sink;

	(void)cookie;
	(void)now;
	c->eof = true;
}

static void d_writable(void *sink, void *cookie, uint64_t now)
{
	struct dctx *c = sink;

	(void)cookie;
	(void)now;
	c->blocked = false;
	c->writables++;
}

static void d_dgram(void *sink, void *cookie, const struct zt_endpoint *from,
		    const uint8_t *data, size_t len, uint64_t now)
{
	struct dctx *c = sink;
	unsigned idx;
	bool ok = true;

	(void)cookie;
	(void)now;
	c->replies++;
	c->from = *from;
	if (!len)
		return;
	idx = data[0];
	if (idx >= NDGRAM || len != dgram_len(idx) || c->seen[idx])
		return;
	for (size_t k = 1; k < len; k++)
		if (data[k] != dgram_byte(idx, k))
			ok = false;
	c->seen[idx] = true;
	c->good += ok;
}

static const struct zt_slirp_sink test_sink = {
	.connected = d_connected,
	.failed = d_failed,
	.data = d_data,
	.eof = d_eof,
	.writable = d_writable,
	.dgram_data = d_dgram,
};

static void d_send_more(struct dctx *c)
{
	uint8_t buf[32768];

	while (c->connected && !c->blocked && c->sent < TOTAL) {
		size_t n = TOTAL - c->sent;
		ssize_t w;

		if (n > sizeof(buf))
			n = sizeof(buf);
		for (size_t k = 0; k < n; k++)
			buf[k] = pattern(c->sent + k);
		w = zt_slirp_stream_send(c->e, c->h, buf, n);
		CU_ASSERT_FATAL(w >= 0);
		c->sent += (size_t)w;
		if ((size_t)w < n)
			c->blocked = true;
		if (c->sent == TOTAL)
			zt_slirp_stream_shutdown(c->e, c->h);
	}
}

/* Test @name's TCP echo server in @srv and an egress in @c (seeded
 * @seed, the test sink) with a stream opening to @addr at it; false (SKIP
 * printed) without libslirp or a loopback to listen on. */
static bool tcp_echo_setup(const char *name, struct echo_srv *srv,
			   struct dctx *c, uint64_t seed, const uint8_t addr[4])
{
	struct zt_endpoint ep;

	if (skip_if_unavailable(name))
		return false;
	if (echo_start(srv, false) < 0) {
		printf("\nSKIP slirp/%s: cannot listen on 127.0.0.1 (%s)\n",
		       name, strerror(errno));
		return false;
	}
	memset(c, 0, sizeof(*c));
	c->same = true;
	c->e = egress_new(seed);
	CU_ASSERT_FATAL(c->e != NULL);
	zt_slirp_egress_set_sink(c->e, &test_sink, c);
	memset(&ep, 0, sizeof(ep));
	ep.addr = zt_addr_v4(addr);
	ep.port = srv->port;
	c->h = zt_slirp_stream_open(c->e, &ep, ZT_UPSTREAM_DIRECT, c, mono());
	CU_ASSERT_FATAL(c->h >= 0);
	return true;
}

static void test_tcp_echo(void)
{
	struct echo_srv srv;
	struct dctx c;
	uint64_t end;
	bool closed = false;

	/* slirp's gateway: the host's loopback */
	if (!tcp_echo_setup("tcp_echo", &srv, &c, zt_test_seed(11), GW4))
		return;

	end = mono() + BUDGET;
	while (mono() < end && !c.failed) {
		d_send_more(&c);
		if (c.need_resume) {
			c.need_resume = false;
			zt_slirp_stream_resume(c.e, c.h);
		}
		if (!closed && c.eof && c.got == TOTAL) {
			zt_slirp_stream_close(c.e, c.h, false);
			closed = true;
		}
		if (closed && zt_slirp_egress_streams(c.e) == 0)
			break;
		egress_turn(c.e, ZT_TIME_NEVER, 50);
	}
	CU_ASSERT(c.connected);
	CU_ASSERT(!c.failed);
	CU_ASSERT_EQUAL(c.sent, TOTAL);
	CU_ASSERT_EQUAL(c.got, TOTAL);
	CU_ASSERT(c.same);
	CU_ASSERT(c.eof);
	CU_ASSERT(c.writables > 0);  /* 1 MiB overflows the send ring */
	CU_ASSERT(c.pauses > 0);
	CU_ASSERT(closed);
	CU_ASSERT_EQUAL(zt_slirp_egress_streams(c.e), 0);
	CU_ASSERT_EQUAL(zt_slirp_egress_stats(c.e)->guest_errors, 0);
	if (getenv("ZT_DEBUG")) {
		const struct zt_slirp_stats *st = zt_slirp_egress_stats(c.e);

		fprintf(stderr, "slirp tcp_echo: frames in %llu out %llu dropped %llu "
			"arp %llu no-stream %llu; writables %u pauses %u\n",
			(unsigned long long)st->frames_in,
			(unsigned long long)st->frames_out,
			(unsigned long long)st->frames_dropped,
			(unsigned long long)st->arp_replies,
			(unsigned long long)st->tcp_no_stream, c.writables, c.pauses);
	}
	zt_slirp_egress_free(c.e);
	echo_stop(&srv);
}

static void test_udp_echo(void)
{
	struct echo_srv srv;
	struct zt_endpoint to;
	uint8_t buf[2048];
	struct dctx c;
	uint64_t end;

	if (skip_if_unavailable("udp_echo"))
		return;
	if (echo_start(&srv, true) < 0) {
		printf("\nSKIP slirp/udp_echo: cannot bind 127.0.0.1 (%s)\n",
		       strerror(errno));
		return;
	}
	memset(&c, 0, sizeof(c));
	c.e = egress_new(zt_test_seed(12));
	CU_ASSERT_FATAL(c.e != NULL);
	zt_slirp_egress_set_sink(c.e, &test_sink, &c);
	c.h = zt_slirp_dgram_open(c.e, ZT_AF_INET, 0, ZT_UPSTREAM_DIRECT, &c, mono());
	CU_ASSERT_FATAL(c.h >= 0);
	CU_ASSERT_EQUAL(zt_slirp_dgram_open(c.e, ZT_AF_INET6, 0, 0, &c, mono()),
			-EAFNOSUPPORT);

	memset(&to, 0, sizeof(to));
	to.addr = zt_addr_v4(GW4);
	to.port = srv.port;
	for (unsigned i = 0; i < NDGRAM; i++) {
		size_t len = dgram_len(i);

		buf[0] = (uint8_t)i;
		for (size_t k = 1; k < len; k++)
			buf[k] = dgram_byte(i, k);
		CU_ASSERT_EQUAL(zt_slirp_dgram_send(c.e, c.h, &to, buf, len), 0);
	}
	CU_ASSERT_EQUAL(zt_slirp_dgram_send(c.e, c.h, &to, buf, 1500), -EMSGSIZE);
	end = mono() + BUDGET;
	while (mono() < end && c.replies < NDGRAM)
		egress_turn(c.e, ZT_TIME_NEVER, 50);
	CU_ASSERT_EQUAL(c.replies, NDGRAM);
	CU_ASSERT_EQUAL(c.good, NDGRAM);
	/* Replies from the gateway are reported as from the host's loopback. */
	CU_ASSERT(zt_addr_eq(&c.from.addr, &(struct zt_addr){ 0 }) == false);
	CU_ASSERT(memcmp(c.from.addr.bytes, LO4, 4) == 0);
	CU_ASSERT_EQUAL(c.from.port, srv.port);
	zt_slirp_dgram_close(c.e, c.h);
	CU_ASSERT_EQUAL(zt_slirp_egress_streams(c.e), 0);
	zt_slirp_egress_free(c.e);
	echo_stop(&srv);
}

static void test_refused(void)
{
	struct echo_srv srv;
	struct zt_endpoint ep;
	struct dctx c;
	uint64_t end;

	if (skip_if_unavailable("refused"))
		return;
	/* A port that was just free: bind, note it, close (nobody listens). */
	if (echo_bind(&srv, false) < 0) {
		printf("\nSKIP slirp/refused: cannot bind 127.0.0.1 (%s)\n",
		       strerror(errno));
		return;
	}
	close(srv.fd);
	memset(&c, 0, sizeof(c));
	c.e = egress_new(zt_test_seed(13));
	CU_ASSERT_FATAL(c.e != NULL);
	zt_slirp_egress_set_sink(c.e, &test_sink, &c);
	memset(&ep, 0, sizeof(ep));
	ep.addr = zt_addr_v4(LO4); /* mapped to 10.0.2.2 */
	ep.port = srv.port;
	c.h = zt_slirp_stream_open(c.e, &ep, 0, &c, mono());
	CU_ASSERT_FATAL(c.h >= 0);
	end = mono() + 10 * ZT_SEC;
	while (mono() < end && !c.failed && !c.connected)
		egress_turn(c.e, ZT_TIME_NEVER, 50);
	CU_ASSERT(c.failed);
	CU_ASSERT(!c.connected);
	CU_ASSERT_EQUAL(c.err, -ECONNREFUSED);
	/* Failed streams are gone without a close. */
	egress_turn(c.e, ZT_TIME_NEVER, 0);
	CU_ASSERT_EQUAL(zt_slirp_egress_streams(c.e), 0);
	/* Names and IPv6 are not for this egress. */
	strcpy(ep.name, "localhost");
	CU_ASSERT_EQUAL(zt_slirp_stream_open(c.e, &ep, 0, &c, mono()), -EINVAL);
	zt_slirp_egress_free(c.e);
}

/* --- through a zt_router --------------------------------------------------- */

struct qpkt {
	struct qpkt *next;
	size_t len;
	uint8_t data[];
};

struct pq {
	struct qpkt *head, **tail;
};

static void pq_init(struct pq *q)
{
	q->head = NULL;
	q->tail = &q->head;
}

static void pq_push(struct pq *q, const uint8_t *p, size_t len)
{
	struct qpkt *k = malloc(sizeof(*k) + len);

	CU_ASSERT_FATAL(k != NULL);
	k->next = NULL;
	k->len = len;
	memcpy(k->data, p, len);
	*q->tail = k;
	q->tail = &k->next;
}

static struct qpkt *pq_pop(struct pq *q)
{
	struct qpkt *k = q->head;

	if (k) {
		q->head = k->next;
		if (!q->head)
			q->tail = &q->head;
	}
	return k;
}

struct rbench {
	struct zt_slirp_egress *e;
	struct zt_router *r;
	struct zt_rng rng;
	struct pq to_router, to_client;
	/* the TUN-side client */
	struct zt_tcb tcb;
	struct zt_tcp_config tcfg;
	struct zt_addr cli, srv;
	uint16_t sport, dport, udp_dport;
	size_t sent, got;
	bool same, shut, peer_fin;
	/* UDP */
	unsigned udp_in, udp_good;
	bool seen[NDGRAM];
};

/* The router gives tun_output the egress (its upstream host): the bench is
 * found through this instead (one bench at a time). */
static struct rbench *g_rb;

static void rb_tun_output(void *host, const uint8_t *pkt, size_t len)
{
	(void)host;
	pq_push(&g_rb->to_client, pkt, len);
}

static enum zt_route_decision rb_route(void *user, const struct zt_route_query *q)
{
	(void)user;
	(void)q;
	return ZT_ROUTE_DIRECT;
}

static size_t rb_wrap(struct rbench *b, uint8_t proto, const uint8_t *l4,
		      size_t l4_len, uint8_t *out, size_t cap)
{
	struct zt_ip4_repr ip;
	int hl;

	memset(&ip, 0, sizeof(ip));
	ip.ttl = 64;
	ip.protocol = proto;
	memcpy(ip.src, b->cli.bytes, 4);
	memcpy(ip.dst, b->srv.bytes, 4);
	hl = zt_ip4_emit(&ip, l4_len, out, cap);
	CU_ASSERT_FATAL(hl > 0 && (size_t)hl + l4_len <= cap);
	memmove(out + hl, l4, l4_len);
	return (size_t)hl + l4_len;
}

static void rb_client_output(void *ctx, struct zt_tcb *tcb,
			     const struct zt_tcp_repr *r, const uint8_t *d1,
			     size_t l1, const uint8_t *d2, size_t l2)
{
	struct rbench *b = ctx;
	static uint8_t seg[2048], pkt[2048];
	int hl = zt_tcp_header_len(r), n;
	size_t len;

	(void)tcb;
	CU_ASSERT_FATAL(hl > 0 && (size_t)hl + l1 + l2 <= sizeof(seg));
	if (l1)
		memcpy(seg + hl, d1, l1);
	if (l2)
		memcpy(seg + hl + l1, d2, l2);
	n = zt_tcp_emit(r, &b->cli, &b->srv, seg + hl, l1 + l2, seg, sizeof(seg));
	CU_ASSERT_FATAL(n > 0);
	len = rb_wrap(b, ZT_IPPROTO_TCP, seg, (size_t)n, pkt, sizeof(pkt));
	pq_push(&b->to_router, pkt, len);
}

static const struct zt_tcp_ops rb_client_ops = { .output = rb_client_output };

static void rb_udp_send(struct rbench *b, unsigned idx)
{
	uint8_t data[2048], dg[2048], pkt[2048];
	struct zt_udp_repr u = { .src_port = 5353, .dst_port = b->udp_dport };
	size_t len = dgram_len(idx);
	int n;

	data[0] = (uint8_t)idx;
	for (size_t k = 1; k < len; k++)
		data[k] = dgram_byte(idx, k);
	n = zt_udp_emit(&u, &b->cli, &b->srv, data, len, dg, sizeof(dg));
	CU_ASSERT_FATAL(n > 0);
	len = rb_wrap(b, ZT_IPPROTO_UDP, dg, (size_t)n, pkt, sizeof(pkt));
	pq_push(&b->to_router, pkt, len);
}

/* A packet from the router for the TUN-side client. */
static void rb_to_client(struct rbench *b, const uint8_t *p, size_t len,
			 uint64_t now)
{
	struct zt_packet pk;
	unsigned idx;
	bool ok = true;

	if (zt_packet_parse(zt_view_make(p, len), 0, &pk) != ZT_DROP_NONE) {
		CU_FAIL("router emitted a packet that does not parse");
		return;
	}
	if (pk.proto == ZT_IPPROTO_TCP && pk.l4.tcp.dst_port == b->sport) {
		zt_tcb_input(&b->tcb, &pk.l4.tcp, pk.payload, now);
		return;
	}
	if (pk.proto != ZT_IPPROTO_UDP || pk.l4.udp.dst_port != 5353)
		return;
	b->udp_in++;
	CU_ASSERT(zt_addr_eq(&pk.src, &b->srv));
	CU_ASSERT_EQUAL(pk.l4.udp.src_port, b->udp_dport);
	if (!pk.payload.len)
		return;
	idx = pk.payload.data[0];
	if (idx >= NDGRAM || pk.payload.len != dgram_len(idx) || b->seen[idx])
		return;
	for (size_t k = 1; k < pk.payload.len; k++)
		if (pk.payload.data[k] != dgram_byte(idx, k))
			ok = false;
	b->seen[idx] = true;
	b->udp_good += ok;
}

/* The client's application, the TUN queues and the timers of all but the
 * egress; returns the earliest deadline among them. */
static uint64_t rb_step(struct rbench *b)
{
	uint64_t now = mono(), d;
	uint8_t buf[32768];
	struct qpkt *k;
	size_t n;

	for (int rounds = 0; rounds < 64 && (b->to_router.head || b->to_client.head);
	     rounds++) {
		while ((k = pq_pop(&b->to_router))) {
			zt_router_tun_input(b->r, k->data, k->len, now);
			free(k);
		}
		while ((k = pq_pop(&b->to_client))) {
			rb_to_client(b, k->data, k->len, now);
			free(k);
		}
	}
	if (zt_router_deadline(b->r) <= now)
		zt_router_poll(b->r, now);
	if (zt_tcb_deadline(&b->tcb) <= now)
		zt_tcb_poll(&b->tcb, now);
	if (zt_tcb_events(&b->tcb) & ZT_TCP_EV_PEER_FIN)
		b->peer_fin = true;
	while (b->sent < TOTAL && (b->tcb.state == ZT_TCP_ESTABLISHED ||
				   b->tcb.state == ZT_TCP_CLOSE_WAIT)) {
		n = TOTAL - b->sent < sizeof(buf) ? TOTAL - b->sent : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(b->sent + i);
		n = zt_tcb_send(&b->tcb, buf, n, now);
		if (!n)
			break;
		b->sent += n;
	}
	if (b->sent == TOTAL && !b->shut) {
		b->shut = true;
		zt_tcb_shutdown(&b->tcb, now);
	}
	while ((n = zt_tcb_recv(&b->tcb, buf, sizeof(buf), now)) > 0) {
		for (size_t i = 0; i < n; i++)
			if (buf[i] != pattern(b->got + i))
				b->same = false;
		b->got += n;
	}
	if (zt_tcb_events(&b->tcb) & ZT_TCP_EV_PEER_FIN)
		b->peer_fin = true;
	if (b->to_router.head || b->to_client.head)
		return 0;
	d = zt_router_deadline(b->r);
	if (zt_tcb_deadline(&b->tcb) < d)
		d = zt_tcb_deadline(&b->tcb);
	return d;
}

static void rb_free_queue(struct pq *q)
{
	struct qpkt *k;

	while ((k = pq_pop(q)))
		free(k);
}

static void test_router(void)
{
	struct echo_srv tsrv, usrv;
	struct zt_router_config rcfg;
	struct rbench b;
	uint64_t end;
	const struct zt_router_stats *st;

	if (skip_if_unavailable("router"))
		return;
	if (echo_start(&tsrv, false) < 0) {
		printf("\nSKIP slirp/router: cannot listen on 127.0.0.1 (%s)\n",
		       strerror(errno));
		return;
	}
	if (echo_start(&usrv, true) < 0) {
		printf("\nSKIP slirp/router: cannot bind 127.0.0.1 (%s)\n",
		       strerror(errno));
		echo_stop(&tsrv);
		return;
	}
	memset(&b, 0, sizeof(b));
	g_rb = &b;
	b.same = true;
	pq_init(&b.to_router);
	pq_init(&b.to_client);
	b.cli = zt_addr_v4(CLI4);
	/* the client asks for slirp's gateway, the host's loopback (a flow
	 * to 127.0.0.1 itself is no flow: the stack drops it, bad_address) */
	b.srv = zt_addr_v4(GW4);
	b.sport = 40001;
	b.dport = tsrv.port;
	b.udp_dport = usrv.port;
	zt_rng_seed(&b.rng, zt_test_seed(21));

	b.e = egress_new_map(zt_test_seed(22), false);
	CU_ASSERT_FATAL(b.e != NULL);
	zt_router_config_default(&rcfg);
	rcfg.route = rb_route;
	b.r = zt_router_new(&rcfg, rb_tun_output, &zt_slirp_upstream_ops, b.e,
			    &b.rng);
	CU_ASSERT_FATAL(b.r != NULL);
	zt_slirp_egress_set_router(b.e, b.r);

	zt_tcp_config_default(&b.tcfg);
	b.tcfg.time_wait = 100 * ZT_MS;
	CU_ASSERT_FATAL(zt_tcb_init(&b.tcb, &b.tcfg, &rb_client_ops, &b) == 0);
	zt_tcb_open_active(&b.tcb, b.sport, b.dport, zt_rng_u32(&b.rng), mono());
	for (unsigned i = 0; i < NDGRAM; i++)
		rb_udp_send(&b, i);

	end = mono() + BUDGET;
	while (mono() < end) {
		uint64_t d = rb_step(&b);

		if (b.tcb.state == ZT_TCP_CLOSED && b.udp_in >= NDGRAM)
			break;
		egress_turn(b.e, d, 50);
	}
	CU_ASSERT_EQUAL(b.sent, TOTAL);
	CU_ASSERT_EQUAL(b.got, TOTAL);
	CU_ASSERT(b.same);
	CU_ASSERT(b.peer_fin);
	CU_ASSERT_EQUAL(b.tcb.state, ZT_TCP_CLOSED);
	CU_ASSERT_EQUAL(b.tcb.reset_reason, ZT_TCP_RESET_NONE);
	CU_ASSERT_EQUAL(b.udp_in, NDGRAM);
	CU_ASSERT_EQUAL(b.udp_good, NDGRAM);
	st = zt_router_stats(b.r);
	CU_ASSERT_EQUAL(st->tcp_relayed_up, TOTAL);
	CU_ASSERT_EQUAL(st->tcp_relayed_down, TOTAL);
	CU_ASSERT_EQUAL(st->udp_relayed_up, st->udp_relayed_down);
	CU_ASSERT_EQUAL(st->upstream_connect_failed, 0);
	CU_ASSERT_EQUAL(st->upstream_reset, 0);

	/* The router closes its upstreams as it frees; then the egress. */
	zt_router_free(b.r);
	zt_slirp_egress_free(b.e);
	zt_tcb_destroy(&b.tcb);
	rb_free_queue(&b.to_router);
	rb_free_queue(&b.to_client);
	g_rb = NULL;
	echo_stop(&tsrv);
	echo_stop(&usrv);
}

/* Closing from inside the data report, after taking every byte offered:
 * nothing is left unread, so the close is a FIN (RFC 793 CLOSE; RFC 1122
 * 4.2.2.13 resets only for data not read), and the stream lingers until
 * its orderly close completes. */
static void test_close_in_data(void)
{
	struct echo_srv srv;
	struct dctx c;
	uint64_t end;
	ssize_t w;

	if (!tcp_echo_setup("close_in_data", &srv, &c, zt_test_seed(15), LO4))
		return;
	end = mono() + BUDGET;
	while (mono() < end && !c.connected && !c.failed)
		egress_turn(c.e, ZT_TIME_NEVER, 50);
	CU_ASSERT_FATAL(c.connected);
	c.close_in_data = true;
	w = zt_slirp_stream_send(c.e, c.h, "query", 5);
	CU_ASSERT_EQUAL(w, 5);
	while (mono() < end && !c.closed_in_data)
		egress_turn(c.e, ZT_TIME_NEVER, 50);
	CU_ASSERT_FATAL(c.closed_in_data);
	CU_ASSERT_EQUAL(c.got, 5);
	/* A FIN went: the stream lingers (an abort would have freed it). */
	CU_ASSERT_EQUAL(zt_slirp_egress_streams(c.e), 1);
	while (mono() < end && zt_slirp_egress_streams(c.e))
		egress_turn(c.e, ZT_TIME_NEVER, 50);
	CU_ASSERT_EQUAL(zt_slirp_egress_streams(c.e), 0);
	CU_ASSERT(!c.failed);
	zt_slirp_egress_free(c.e);
	echo_stop(&srv);
}

/* The egress has no ICMP echo sockets: the open fails as upstream.h asks
 * of such a host, and no guest port is taken for it. */
static void test_no_echo(void)
{
	struct zt_slirp_egress *e;
	struct dctx c;

	if (skip_if_unavailable("no_echo"))
		return;
	memset(&c, 0, sizeof(c));
	e = egress_new(zt_test_seed(14));
	CU_ASSERT_FATAL(e != NULL);
	CU_ASSERT_EQUAL(zt_slirp_dgram_open(e, ZT_AF_INET, 0,
					    ZT_UPSTREAM_DIRECT |
						    ZT_UPSTREAM_ICMP_ECHO,
					    &c, mono()),
			-EOPNOTSUPP);
	CU_ASSERT_EQUAL(zt_slirp_egress_streams(e), 0);
	zt_slirp_egress_free(e);
}

int zt_suite_slirp(void)
{
	static const struct zt_test_case cases[] = {
		{ "tcp_echo", test_tcp_echo },
		{ "udp_echo", test_udp_echo },
		{ "refused", test_refused },
		{ "close_in_data", test_close_in_data },
		{ "no_echo", test_no_echo },
		{ "router", test_router },
		{ 0 },
	};

	return zt_add_suite("slirp", NULL, NULL, cases);
}
