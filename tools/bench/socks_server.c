// SPDX-License-Identifier: MIT
//
// socks_server.c - a small, fast SOCKS5 server for the benchmark only
// (issue 8 allows "a faster SOCKS5 server you write under tools/"). It
// gives bench.sh a second ceiling, nearer the hev-socks5-server figures
// the field table was measured with than Debian's danted, which
// forks per connection, copies through user space and loses most UDP
// above a few hundred Mb/s.
//
//   socks_server -l IP:PORT [-w WORKERS]
//
// Theory of operation. WORKERS threads (default 2) each own an epoll
// set and a SO_REUSEPORT listener on IP:PORT, so the kernel spreads
// connections over them and no state is shared. Everything is
// non-blocking and edge-triggered; on any event of a connection the
// worker runs it until every socket says EAGAIN.
//
//   handshake  no-auth greeting, then CONNECT or UDP ASSOCIATE for an
//              IPv4 address (other commands and address types get a
//              failure reply). A greeting and request in one segment,
//              and data behind the request (ztun-ref's pipelined
//              handshake with early data), are taken as they come: the
//              handshake is read a step at a time, so the bytes after
//              the request wait in the socket for the relay.
//   CONNECT    non-blocking connect(); the success reply carries the
//              local address; then each direction moves by splice()
//              through its own pipe (socket -> pipe -> socket, no copy
//              to user space). A source's EOF becomes shutdown(SHUT_WR)
//              toward the other side once its pipe is empty; the
//              connection closes when both directions have ended, or
//              at once on an error.
//   UDP        a datagram socket bound to the control connection's local
//              address; datagrams from the client's address (the first
//              one from the control connection's peer IP) lose their
//              SOCKS5 header and go to their target, anything else gets
//              a header naming its source and goes to the client. Reads
//              and sends in batches (recvmmsg/sendmmsg). The association
//              ends with its control connection.
//
// No authentication, no access control, no IPv6, no names: only for
// benchmarks inside the network namespaces bench.sh makes.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"

#define PIPE_BYTES (1 << 20) /* asked of F_SETPIPE_SZ; the default if refused */
#define UDP_BATCH 64
#define UDP_BUF 65536
#define UDP_HDR 10 /* RSV RSV FRAG ATYP=1 ADDR(4) PORT(2) */

enum kind { K_LISTEN, K_CLIENT, K_TARGET, K_UDP };

struct conn;

/* What an epoll entry points at: which socket of which connection. */
struct tag {
	enum kind kind;
	struct conn *c;
};

enum state { S_GREETING, S_REQUEST, S_CONNECTING, S_RELAY, S_UDP };

/* One client connection; owned by the worker that accepted it, freed by
 * conn_close(). */
struct conn {
	struct tag ctag, ttag, utag;
	int cfd, tfd, ufd;
	enum state st;
	unsigned char hs[2 + 255]; /* the current handshake step's bytes */
	size_t hs_len;
	int pipe_fd[2][2];           /* [0]: client -> target, [1]: back */
	size_t pipe_fill[2], pipe_cap[2];
	int eof[2], shut[2];
	struct sockaddr_in udp_client; /* learned from the first datagram */
	int udp_client_known;
	struct in_addr peer_ip; /* the control connection's peer */
	int closed;
};

struct worker {
	int ep;
	struct tag ltag;
	int lfd;
	/* UDP batch buffers, one set per worker */
	unsigned char (*ubuf)[UDP_HDR + UDP_BUF];
	struct mmsghdr msg[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_in from[UDP_BATCH];
	struct mmsghdr out[UDP_BATCH];
	struct iovec oiov[UDP_BATCH];
	struct sockaddr_in to[UDP_BATCH];
};

static void set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int ep_add(int ep, int fd, uint32_t events, struct tag *t)
{
	struct epoll_event ev = { .events = events, .data.ptr = t };
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void conn_close(struct conn *c)
{
	if (c->closed)
		return;
	c->closed = 1;
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->tfd >= 0)
		close(c->tfd);
	if (c->ufd >= 0)
		close(c->ufd);
	for (int d = 0; d < 2; d++)
		for (int e = 0; e < 2; e++)
			if (c->pipe_fd[d][e] >= 0)
				close(c->pipe_fd[d][e]);
	/* Freed at the end of the event batch (other events of this batch
	 * may still point at it). */
}

static int send_all_small(int fd, const void *p, size_t n)
{
	ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
	return w == (ssize_t)n ? 0 : -1; /* a few bytes on a fresh socket */
}

static void reply(struct conn *c, uint8_t rep, const struct sockaddr_in *bnd)
{
	unsigned char r[10] = { 5, rep, 0, 1 };
	if (bnd) {
		memcpy(r + 4, &bnd->sin_addr, 4);
		memcpy(r + 8, &bnd->sin_port, 2);
	}
	if (send_all_small(c->cfd, r, sizeof(r)) < 0 || rep != 0)
		conn_close(c);
}

/* Move what can move in direction @d (0: client -> target). -1 when the
 * connection must close. */
static int pump(struct conn *c, int d)
{
	int src = d == 0 ? c->cfd : c->tfd, dst = d == 0 ? c->tfd : c->cfd;
	for (;;) {
		int moved = 0;
		if (!c->eof[d] && c->pipe_fill[d] < c->pipe_cap[d]) {
			ssize_t n = splice(src, NULL, c->pipe_fd[d][1], NULL,
					   c->pipe_cap[d] - c->pipe_fill[d],
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				c->pipe_fill[d] += (size_t)n;
				moved = 1;
			} else if (n == 0) {
				c->eof[d] = 1;
			} else if (errno != EAGAIN && errno != EINTR) {
				return -1;
			}
		}
		if (c->pipe_fill[d] > 0) {
			ssize_t n = splice(c->pipe_fd[d][0], NULL, dst, NULL, c->pipe_fill[d],
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				c->pipe_fill[d] -= (size_t)n;
				moved = 1;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return -1;
			}
		}
		if (!moved)
			break;
	}
	if (c->eof[d] && c->pipe_fill[d] == 0 && !c->shut[d]) {
		shutdown(dst, SHUT_WR);
		c->shut[d] = 1;
	}
	return 0;
}

static int make_pipes(struct conn *c)
{
	for (int d = 0; d < 2; d++) {
		if (pipe2(c->pipe_fd[d], O_NONBLOCK | O_CLOEXEC) < 0)
			return -1;
		int sz = fcntl(c->pipe_fd[d][1], F_SETPIPE_SZ, PIPE_BYTES);
		if (sz < 0)
			sz = fcntl(c->pipe_fd[d][1], F_GETPIPE_SZ);
		c->pipe_cap[d] = sz > 0 ? (size_t)sz : 65536;
	}
	return 0;
}

static void relay(struct conn *c)
{
	if (pump(c, 0) < 0 || pump(c, 1) < 0 || (c->shut[0] && c->shut[1]))
		conn_close(c);
}

static void start_connect(struct worker *w, struct conn *c, const struct sockaddr_in *dst)
{
	c->tfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->tfd < 0) {
		reply(c, 1, NULL);
		return;
	}
	set_nodelay(c->tfd);
	if (connect(c->tfd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 &&
	    errno != EINPROGRESS) {
		reply(c, errno == ECONNREFUSED ? 5 : 4, NULL);
		return;
	}
	c->st = S_CONNECTING;
	c->ttag = (struct tag){ K_TARGET, c };
	if (ep_add(w->ep, c->tfd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->ttag) < 0)
		conn_close(c);
}

static void connected(struct conn *c)
{
	int err = 0;
	socklen_t el = sizeof(err);
	struct sockaddr_in bnd;
	socklen_t bl = sizeof(bnd);
	if (getsockopt(c->tfd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
		reply(c, err == ECONNREFUSED ? 5 : 4, NULL);
		return;
	}
	if (getsockname(c->tfd, (struct sockaddr *)&bnd, &bl) < 0 || make_pipes(c) < 0) {
		reply(c, 1, NULL);
		return;
	}
	reply(c, 0, &bnd);
	if (c->closed)
		return;
	c->st = S_RELAY;
	relay(c); /* early data behind the request included */
}

static void start_udp(struct worker *w, struct conn *c)
{
	struct sockaddr_in bnd;
	socklen_t bl = sizeof(bnd);
	int big = 4 << 20;
	if (getsockname(c->cfd, (struct sockaddr *)&bnd, &bl) < 0)
		goto fail;
	bnd.sin_port = 0;
	c->ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->ufd < 0)
		goto fail;
	if (setsockopt(c->ufd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(c->ufd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (setsockopt(c->ufd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(c->ufd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	bl = sizeof(bnd);
	if (bind(c->ufd, (struct sockaddr *)&bnd, sizeof(bnd)) < 0 ||
	    getsockname(c->ufd, (struct sockaddr *)&bnd, &bl) < 0)
		goto fail;
	c->utag = (struct tag){ K_UDP, c };
	if (ep_add(w->ep, c->ufd, EPOLLIN | EPOLLET, &c->utag) < 0)
		goto fail;
	c->st = S_UDP;
	reply(c, 0, &bnd);
	return;
fail:
	reply(c, 1, NULL);
}

/* How many handshake bytes the current step needs in all. */
static size_t hs_need(const struct conn *c)
{
	if (c->st == S_GREETING)
		return c->hs_len < 2 ? 2 : 2u + c->hs[1];
	return c->hs_len < 4 || c->hs[3] != 1 ? 4 : 10;
}

/* Read the handshake a step at a time, never past the request: what
 * follows it (early data) stays in the socket for the relay's splice. */
static void handshake(struct worker *w, struct conn *c)
{
	for (;;) {
		size_t need = hs_need(c);
		if (c->hs_len < need) {
			ssize_t r = recv(c->cfd, c->hs + c->hs_len, need - c->hs_len, 0);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
				conn_close(c);
			if (r <= 0)
				return;
			c->hs_len += (size_t)r;
			continue;
		}
		if (c->st == S_GREETING) {
			if (c->hs[0] != 5 || !memchr(c->hs + 2, 0, c->hs[1])) {
				send_all_small(c->cfd, "\x05\xff", 2);
				conn_close(c);
				return;
			}
			if (send_all_small(c->cfd, "\x05\x00", 2) < 0) {
				conn_close(c);
				return;
			}
			c->hs_len = 0;
			c->st = S_REQUEST;
			continue;
		}
		if (c->hs[0] != 5 || c->hs[3] != 1) {
			reply(c, 8, NULL); /* address type not supported */
			return;
		}
		struct sockaddr_in dst = { .sin_family = AF_INET };
		memcpy(&dst.sin_addr, c->hs + 4, 4);
		memcpy(&dst.sin_port, c->hs + 8, 2);
		if (c->hs[1] == 1)
			start_connect(w, c, &dst);
		else if (c->hs[1] == 3)
			start_udp(w, c);
		else
			reply(c, 7, NULL); /* command not supported */
		return;
	}
}

static void udp_pump(struct worker *w, struct conn *c)
{
	for (;;) {
		for (int i = 0; i < UDP_BATCH; i++) {
			w->iov[i] = (struct iovec){ w->ubuf[i] + UDP_HDR, UDP_BUF };
			w->msg[i].msg_hdr = (struct msghdr){
				.msg_name = &w->from[i], .msg_namelen = sizeof(w->from[i]),
				.msg_iov = &w->iov[i], .msg_iovlen = 1,
			};
		}
		int n = recvmmsg(c->ufd, w->msg, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		int k = 0;
		for (int i = 0; i < n; i++) {
			unsigned char *p = w->ubuf[i] + UDP_HDR;
			size_t len = w->msg[i].msg_len;
			const struct sockaddr_in *f = &w->from[i];
			int from_client = c->udp_client_known
				? f->sin_addr.s_addr == c->udp_client.sin_addr.s_addr &&
				  f->sin_port == c->udp_client.sin_port
				: f->sin_addr.s_addr == c->peer_ip.s_addr;
			if (from_client) {
				if (len < UDP_HDR || p[2] != 0 || p[3] != 1)
					continue; /* fragments, names, IPv6: dropped */
				if (!c->udp_client_known) {
					c->udp_client = *f;
					c->udp_client_known = 1;
				}
				w->to[k] = (struct sockaddr_in){ .sin_family = AF_INET };
				memcpy(&w->to[k].sin_addr, p + 4, 4);
				memcpy(&w->to[k].sin_port, p + 8, 2);
				w->oiov[k] = (struct iovec){ p + UDP_HDR, len - UDP_HDR };
			} else {
				if (!c->udp_client_known)
					continue; /* no client to send it to yet */
				unsigned char *h = w->ubuf[i];
				h[0] = h[1] = h[2] = 0;
				h[3] = 1;
				memcpy(h + 4, &f->sin_addr, 4);
				memcpy(h + 8, &f->sin_port, 2);
				w->to[k] = c->udp_client;
				w->oiov[k] = (struct iovec){ h, len + UDP_HDR };
			}
			w->out[k].msg_hdr = (struct msghdr){
				.msg_name = &w->to[k], .msg_namelen = sizeof(w->to[k]),
				.msg_iov = &w->oiov[k], .msg_iovlen = 1,
			};
			k++;
		}
		for (int done = 0; done < k;) {
			int s = sendmmsg(c->ufd, w->out + done, (unsigned)(k - done), 0);
			if (s <= 0)
				break; /* what the kernel will not take is lost, as UDP is */
			done += s;
		}
		if (n < UDP_BATCH)
			return;
	}
}

static void accept_all(struct worker *w)
{
	for (;;) {
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);
		int fd = accept4(w->lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->cfd = fd;
		c->tfd = c->ufd = -1;
		memset(c->pipe_fd, -1, sizeof(c->pipe_fd));
		c->peer_ip = peer.sin_addr;
		set_nodelay(fd);
		c->ctag = (struct tag){ K_CLIENT, c };
		if (ep_add(w->ep, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->ctag) < 0) {
			close(fd);
			free(c);
			continue;
		}
		handshake(w, c); /* a pipelined greeting may be there already */
		if (c->closed)
			free(c);
	}
}

static void on_event(struct worker *w, struct tag *t, uint32_t ev)
{
	struct conn *c = t->c;
	if (c->closed)
		return;
	switch (c->st) {
	case S_GREETING:
	case S_REQUEST:
		if (t->kind == K_CLIENT)
			handshake(w, c);
		break;
	case S_CONNECTING:
		if (t->kind == K_TARGET && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			connected(c);
		else if (t->kind == K_CLIENT && (ev & (EPOLLERR | EPOLLHUP)))
			conn_close(c);
		break;
	case S_RELAY:
		if (ev & EPOLLERR)
			conn_close(c);
		else
			relay(c);
		break;
	case S_UDP:
		if (t->kind == K_UDP) {
			udp_pump(w, c);
		} else {
			char b[256];
			ssize_t r;
			while ((r = recv(c->cfd, b, sizeof(b), 0)) > 0)
				; /* nothing is expected on the control connection */
			if (r == 0 || (r < 0 && errno != EAGAIN) || (ev & (EPOLLERR | EPOLLHUP)))
				conn_close(c);
		}
		break;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	struct conn *dead[256];
	for (;;) {
		int n = epoll_wait(w->ep, evs, 256, -1);
		int nd = 0;
		for (int i = 0; i < n; i++) {
			struct tag *t = evs[i].data.ptr;
			if (t->kind == K_LISTEN) {
				accept_all(w);
				continue;
			}
			int was_open = !t->c->closed;
			on_event(w, t, evs[i].events);
			if (was_open && t->c->closed)
				dead[nd++] = t->c;
		}
		for (int i = 0; i < nd; i++)
			free(dead[i]);
	}
	return NULL;
}

static int open_listener(const struct sockaddr_in *a)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)a, sizeof(*a)) < 0)
		die("bind");
	if (listen(fd, 4096) < 0)
		die("listen");
	return fd;
}

static void usage(void)
{
	fprintf(stderr, "usage: socks_server -l IP:PORT [-w WORKERS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr;
	int have_addr = 0, nworkers = 2, opt;
	while ((opt = getopt(argc, argv, "l:w:")) != -1) {
		switch (opt) {
		case 'l':
			if (parse_addr(optarg, &addr) < 0) {
				fprintf(stderr, "socks_server: -l: not IP:PORT: %s\n", optarg);
				exit(2);
			}
			have_addr = 1;
			break;
		case 'w':
			nworkers = atoi(optarg);
			if (nworkers < 1 || nworkers > 64) {
				fprintf(stderr, "socks_server: -w: 1..64 workers: %s\n", optarg);
				exit(2);
			}
			break;
		default:
			usage();
		}
	}
	if (!have_addr || optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	struct worker *ws = calloc((size_t)nworkers, sizeof(*ws));
	pthread_t *th = calloc((size_t)nworkers, sizeof(*th));
	if (!ws || !th)
		die("calloc");
	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &ws[i];
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		w->ubuf = malloc(sizeof(*w->ubuf) * UDP_BATCH);
		if (w->ep < 0 || !w->ubuf)
			die("worker");
		w->lfd = open_listener(&addr);
		w->ltag = (struct tag){ K_LISTEN, NULL };
		if (ep_add(w->ep, w->lfd, EPOLLIN | EPOLLET, &w->ltag) < 0)
			die("epoll_ctl");
		if (pthread_create(&th[i], NULL, worker_main, w) != 0)
			die("pthread_create");
	}
	for (int i = 0; i < nworkers; i++)
		pthread_join(th[i], NULL);
	return 0;
}
