/* SPDX-License-Identifier: MIT */
/*
 * host.c - the real-mode host: epoll over the TUN, upstream sockets, a
 * timerfd and a signalfd, driving one zt_router.
 *
 * Theory of operation:
 *
 * Time. Every wake-up of epoll_wait() reads CLOCK_MONOTONIC once (h->now,
 * ns) and passes that value to every core call made while handling it.
 * Afterwards the router is polled if its deadline has come, and the timerfd
 * is re-armed (absolute, CLOCK_MONOTONIC) at zt_router_deadline() when that
 * is earlier than what is armed; a later deadline lets the armed timer fire
 * early once, and the loop re-arms then. Should timerfd_settime() fail,
 * epoll_wait() times out at the deadline instead (and each turn tries
 * again), so that no timer waits for a packet to wake the loop.
 *
 * Sockets. The handle given to the core is an index into a table of
 * socket slots; slots are reused, so each carries a generation that is
 * bumped when it is freed. Epoll events carry (generation, index), and
 * after every call into the router the slot is looked at again: the router
 * may close (stream_close/dgram_close) the very socket whose event is being
 * handled. Slot structs are allocated once and never move, so a pointer to
 * one stays valid; only its generation tells whether it is still ours.
 *
 *   stream   connect() non-blocking; EPOLLOUT alone means
 *            zt_router_stream_connected(), an error bit asks SO_ERROR for
 *            zt_router_stream_failed()
 *            (-errno; the slot is freed first: a failed stream is dead and
 *            the core will not close it). Once open, EPOLLIN reads what
 *            zt_router_stream_room() asks for (whole TSO segments, at most
 *            256 KiB per wake-up; nothing while the flow's ring is full:
 *            EPOLLIN goes off until stream_resume()): once the flow
 *            relays, straight into its send ring (recvmsg into the runs
 *            zt_router_stream_recv_runs() gives, then _commit), during a
 *            proxy handshake into a buffer offered to
 *            zt_router_stream_data();
 *            what it did not take is kept in the slot (held), EPOLLIN goes
 *            off, and the rest is offered again after the core called
 *            stream_resume() - from the main loop, never from inside that
 *            callback. read() == 0 is zt_router_stream_eof() (EPOLLIN
 *            off for good). A reset or other error (EPOLLERR) behind
 *            data still in the socket fails the stream only once that
 *            data is read: recv() returns it before the error; on a
 *            paused stream (one polled for EPOLLOUT alone) once it is
 *            resumed and reads again, no send touching the socket
 *            meanwhile (a send would take the error first), nor the
 *            shutdown() of a client's FIN failing it (ENOTCONN there
 *            only says the connection is over). A paused stream out of
 *            the epoll set hears of no reset; a send may meet it first
 *            (ECONNRESET, ETIMEDOUT...), and Linux's send() clears the
 *            socket's error, so the reads would end in a plain EOF:
 *            when the connection is over (TCP_CLOSE) and bytes may be
 *            unread (held here, or SIOCINQ), the host keeps that error
 *            (err_taken) and fails the stream with it at the reads'
 *            end, as for EPOLLERR, the send taking nothing; otherwise
 *            the stream fails at once.
 *            stream_send() that takes less than offered turns EPOLLOUT
 *            on; its event is zt_router_stream_writable().
 *            A socket with nothing to wait for leaves the epoll set, so
 *            level-triggered EPOLLHUP cannot spin; but a half-open one
 *            (the upstream's FIN read, ours not sent: a client keeping
 *            its half open) stays, registered for no event with
 *            EPOLLONESHOT: EPOLLERR/EPOLLHUP still come, once, so an
 *            upstream that dies under it (a keepalive timeout, a RST)
 *            fails the stream (SO_ERROR) and the client learns it; a
 *            clean hang-up does nothing more. One epoll_ctl() at the
 *            EOF, as the removal was. An open stream that
 *            fails here (a read error, an epoll_ctl() or shutdown() the
 *            core could not be told of at once) is closed with a RST
 *            (SO_LINGER 0), never a FIN that would pass for a whole
 *            stream.
 *   dgram    an unconnected UDP socket; each wake-up reads at most 64
 *            datagrams, back to back into one buffer, and hands each run
 *            from one sender to zt_router_dgram_batch() (runs of one size
 *            reach the TUN as one UDP GSO write). Sends are held to the
 *            end of the wake-up (dgram_out.h); those that would block are
 *            dropped (UDP). Each has IP_RECVERR on: the ICMP errors the
 *            network sends back about its datagrams wait in its error
 *            queue (EPOLLERR), are read first and go to
 *            zt_router_dgram_error(), which tells the client (about a
 *            SOCKS5 relay: ends the association). A direct one (ping
 *            sockets too) also has IP_RECVTOS / IPV6_RECVTCLASS: each
 *            datagram is read with its traffic class, which the core
 *            passes to the client. The
 *            core sets what it sends with (dgram_set_header: TTL, class)
 *            and a direct stream's DSCP (stream_set_dscp), and turns
 *            TCP keepalive on for the streams that need it
 *            (stream_keepalive: a dead peer then fails with ETIMEDOUT).
 *
 * Direct egress (ZT_UPSTREAM_DIRECT) is bound to the egress interface with
 * SO_BINDTODEVICE so that it cannot route back into the TUN; SO_MARK, when
 * set, goes on every upstream socket. Proxy connections are not bound: the
 * proxy may sit on loopback.
 *
 * Busy polling (--busy-poll, off by default): with nothing to do, the loop
 * polls epoll for up to the window, yielding the CPU between polls, before
 * it sleeps in epoll_wait() - but only as often as new upstream sockets
 * granted it (ZR_BUSY_POLL_GRANT each), so that the polls go to the short
 * waits of opening flows, not to bulk transfers or idle trickles; counted
 * as spins and the spins that met an event (caught).
 *
 * Signals SIGINT/SIGTERM stop the loop; SIGUSR1 prints statistics; SIGHUP
 * calls the owner's on_hangup (ztun-ref reloads its rules and looks its
 * proxies' names up again). They are blocked and read from a signalfd,
 * so no handler runs asynchronously: on_hangup runs between events, as
 * any other work of the loop. One more descriptor of the owner's may be
 * polled with the others (zr_host_watch(): the lookup's eventfd), and
 * the owner may ask to be called every so often (on_tick: ztun-ref's
 * --proxy-refresh, and the check of a moved proxy's old address,
 * zr_host_streams_to()), its due time joining the timerfd's deadline.
 */
#include "real/host.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/errqueue.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "io/gso.h"
#include "real/dgram_out.h"
#include "real/log.h"
#include "real/stats.h"

#define READ_CHUNK 65536
/* One recv() from an upstream: four 64 KiB TSO segments' worth. */
#define SOCK_CHUNK (4 * 65536)
#define TUN_BATCH 64
#define DGRAM_BATCH 64
#define MAX_EVENTS 64

/* Epoll tokens of the fixed descriptors (socket slots use their index). */
enum {
	TOK_TUN = 0xffffffffu,
	TOK_TIMER = 0xfffffffeu,
	TOK_SIGNAL = 0xfffffffdu,
	TOK_WATCH = 0xfffffffcu,
};

enum sock_kind { SK_FREE = 0, SK_STREAM, SK_DGRAM };
enum sock_state { ST_CONNECTING = 0, ST_OPEN };

struct zr_sock {
	int fd;               /* -1 when free */
	uint32_t gen;         /* bumped when freed */
	uint8_t kind;         /* enum sock_kind */
	uint8_t state;        /* enum sock_state (streams) */
	uint8_t family;       /* AF_INET or AF_INET6 */
	bool eof;             /* the peer's FIN was read and reported */
	bool paused;          /* held bytes wait for stream_resume() */
	bool resume;          /* on the resume list */
	bool want_write;      /* waiting for EPOLLOUT after a short send */
	bool in_epoll;
	bool gso_off;         /* UDP_SEGMENT failed on this datagram socket */
	uint8_t ttl;          /* datagram sockets: the TTL / hop limit they
			       * send with; 0 until known */
	uint8_t tclass;       /* ... and traffic class (fresh: 0); streams:
			       * their DSCP */
	bool df;              /* datagram sockets: IPv4 DF (fresh: none) */
	bool syn_probe;       /* connecting streams: the SYN went with a
			       * client's TTL below the default, and the
			       * socket has IP_RECVERR until connected */
	int fail_err;         /* streams: a call the core could not be told
			       * of at once failed with it (< 0): the
			       * stream fails from run_resumes() */
	bool err_waits;       /* streams: an error (EPOLLERR) came while
			       * paused, or a send took one, behind data
			       * the socket may still hold: the reads
			       * (after stream_resume(), when paused) meet
			       * it, so no send touches the socket and no
			       * EPOLLOUT is waited for meanwhile */
	int err_taken;        /* streams: the error (< 0) a send took from
			       * the socket for err_waits: Linux cleared
			       * it, so the reads end in EOF, which fails
			       * the stream with it instead */
	bool wr_shut;         /* streams: shutdown(SHUT_WR) passed our FIN */
	uint32_t events;      /* mask registered with epoll */
	void *cookie;         /* the core's, borrowed */
	struct zt_addr peer;  /* streams: the address connected to */
	uint8_t *held;        /* owned: bytes the core did not take yet */
	size_t held_len, held_off;
	int next_free;
};

struct zr_host {
	struct zr_host_config cfg;
	struct zt_tun_driver tun;      /* ctx borrowed */
	struct zt_router *router;      /* borrowed */
	int epfd, tfd, sfd;
	int watch_fd;                  /* zr_host_watch()'s, -1: none */
	void (*watch_ready)(void *user);
	void *watch_user;
	sigset_t oldmask;
	struct zr_sock **socks;        /* owned slots, never moved */
	uint32_t nsocks, cap;
	int free_head;
	uint64_t *resumes;             /* (gen << 32 | index) */
	uint32_t n_resumes, cap_resumes;
	uint64_t now, start, armed;
	uint64_t unarmed;              /* a deadline timerfd_settime() failed
					* to arm: epoll_wait() times out at it
					* instead (NEVER: none) */
	bool warned_timer;             /* said so once */
	uint32_t busy_polls;           /* polls left before sleeping plainly */
	bool warned_ping;              /* said once that ping sockets fail */
	uint64_t fd_warn_next;         /* no "out of descriptors" before */
	bool warned_no_udp;            /* said the proxy has no UDP */
	struct zt_endpoint px_down_at[2]; /* SOCKS5, HTTP: where each was
					   * when it went down (logged) */
	uint64_t stats_due;            /* --stats-file written next, or NEVER */
	uint64_t tick_due;             /* on_tick called next, or NEVER */
	bool stats_file_failing;       /* said so; quiet until it works */
	bool stop;
	int fatal;
	struct zr_host_stats stats;
	uint8_t tunbuf[READ_CHUNK];
	uint8_t gsobuf[READ_CHUNK];  /* one piece of a TSO segment cut here */
	uint8_t tsobuf[READ_CHUNK];  /* a TSO segment put together to cut it */
	uint8_t udpgsobuf[READ_CHUNK]; /* one datagram cut from a UDP GSO read */
	uint8_t sockbuf[SOCK_CHUNK];
	struct zr_dgram_out dgram_out; /* upstream datagrams held */
	uint8_t default_ttl[2];        /* a fresh IPv4, IPv6 datagram socket's
					* TTL (0: not asked yet) */
};

/**
 * zr_now() - CLOCK_MONOTONIC in nanoseconds.
 *
 * Return: the time.
 */
uint64_t zr_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t token(uint32_t gen, uint32_t idx)
{
	return (uint64_t)gen << 32 | idx;
}

/* --- socket slots ------------------------------------------------------- */

static struct zr_sock *sock_get(struct zr_host *h, int handle, uint8_t kind)
{
	struct zr_sock *s;

	if (handle < 0 || (uint32_t)handle >= h->nsocks)
		return NULL;
	s = h->socks[handle];
	return s->kind == kind ? s : NULL;
}

/* A free slot (its index in *@idx), or NULL with no memory. */
static struct zr_sock *sock_alloc(struct zr_host *h, int *idx)
{
	struct zr_sock *s;

	if (h->free_head >= 0) {
		*idx = h->free_head;
		s = h->socks[*idx];
		h->free_head = s->next_free;
		return s;
	}
	if (h->nsocks == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : 64;
		struct zr_sock **n = realloc(h->socks, cap * sizeof(*n));

		if (!n)
			return NULL;
		h->socks = n;
		h->cap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->fd = -1;
	h->socks[h->nsocks] = s;
	*idx = (int)h->nsocks++;
	return s;
}

/* Register the epoll mask slot @idx needs now. Return: 0 or a negative
 * errno (the registration is as it was: a socket not polled for what
 * it waits for would hang its flow). */
static int sock_update(struct zr_host *h, struct zr_sock *s, int idx)
{
	uint32_t want = 0;
	struct epoll_event ev;
	int op;

	if (s->kind == SK_DGRAM)
		want = EPOLLIN;
	else if (s->state == ST_CONNECTING)
		want = EPOLLOUT;
	else
		want = (!s->paused && !s->eof ? EPOLLIN : 0) |
		       (s->want_write ? EPOLLOUT : 0);
	/* Half-open (the upstream's FIN read, ours not sent): nothing to
	 * read or write, but the upstream may still die under a client
	 * that keeps its half open (a keepalive timeout, a RST), which the
	 * client must learn. Registered for no event, EPOLLERR and
	 * EPOLLHUP still come; ONESHOT reports one and disarms, so a hang-up
	 * that stays cannot spin (sock_event() sets events 0 then). */
	if (want == 0 && s->kind == SK_STREAM && s->state == ST_OPEN &&
	    s->eof && !s->wr_shut)
		want = EPOLLONESHOT;
	if (want == 0) {
		if (s->in_epoll)
			epoll_ctl(h->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		s->in_epoll = false;
		s->events = 0;
		return 0;
	}
	if (s->in_epoll && want == s->events)
		return 0;
	op = s->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.u64 = token(s->gen, (uint32_t)idx);
	if (epoll_ctl(h->epfd, op, s->fd, &ev) < 0) {
		int err = -errno;

		zr_debug("epoll_ctl(socket %d): %s", idx, strerror(-err));
		return err;
	}
	s->in_epoll = true;
	s->events = want;
	return 0;
}

/* Put stream @idx on the list run_resumes() goes through after this
 * wake-up's events (once). */
static void resume_later(struct zr_host *h, struct zr_sock *s, int idx)
{
	if (s->resume)
		return;
	if (h->n_resumes == h->cap_resumes) {
		uint32_t cap = h->cap_resumes ? h->cap_resumes * 2 : 64;
		uint64_t *n = realloc(h->resumes, cap * sizeof(*n));

		if (!n) {
			zr_err("no memory for a resume");
			return;
		}
		h->resumes = n;
		h->cap_resumes = cap;
	}
	s->resume = true;
	h->resumes[h->n_resumes++] = token(s->gen, (uint32_t)idx);
}

/* Stream @idx failed with @err (< 0) where the core may be in a call
 * of ours: it fails from run_resumes(), between events (the first
 * error counts). */
static void fail_later(struct zr_host *h, struct zr_sock *s, int idx, int err)
{
	if (s->fail_err)
		return;
	s->fail_err = err;
	resume_later(h, s, idx);
}

/* sock_update() for a stream the core knows: should epoll_ctl() fail,
 * the socket is not polled for what it waits for (its flow would hang)
 * or still for what it no longer reads (a level-triggered event would
 * spin the loop), so the stream fails. */
static void sock_watch(struct zr_host *h, struct zr_sock *s, int idx)
{
	int err = sock_update(h, s, idx);

	if (err)
		fail_later(h, s, idx, err);
}

/* What the kernel dropped on @fd's receive queue (full) so far. */
static uint64_t sock_rx_drops(int fd)
{
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mi);

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len) < 0 ||
	    len <= SK_MEMINFO_DROPS * sizeof(mi[0]))
		return 0;
	return mi[SK_MEMINFO_DROPS];
}

/* Close slot @idx's socket (with RST when @abort) and free the slot. */
static void sock_release(struct zr_host *h, struct zr_sock *s, int idx,
			 bool abort)
{
	uint32_t gen = s->gen + 1;

	if (s->kind == SK_DGRAM)
		h->stats.dgram_rx_dropped_closed += sock_rx_drops(s->fd);

	if (abort && s->kind == SK_STREAM) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	/* close() takes the descriptor out of the epoll set (it is never
	 * duplicated), so no EPOLL_CTL_DEL: one syscall less per flow. */
	close(s->fd);
	free(s->held);
	memset(s, 0, sizeof(*s));
	s->gen = gen;
	s->fd = -1;
	s->kind = SK_FREE;
	s->next_free = h->free_head;
	h->free_head = idx;
	h->stats.sockets_open--;
}

/* --- addresses ---------------------------------------------------------- */

static int ep_to_sockaddr(const struct zt_endpoint *ep,
			  struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (ep->name[0])
		return -EINVAL; /* no resolver in the host: IP literals only */
	if (ep->addr.family == ZT_AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(ep->port);
		memcpy(&sin->sin_addr, ep->addr.bytes, 4);
		*len = sizeof(*sin);
		return 0;
	}
	if (ep->addr.family == ZT_AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(ep->port);
		memcpy(&sin6->sin6_addr, ep->addr.bytes, 16);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EAFNOSUPPORT;
}

void zr_sockaddr_to_ep(const struct sockaddr_storage *ss,
		       struct zt_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		ep->addr.family = ZT_AF_INET;
		memcpy(ep->addr.bytes, &sin->sin_addr, 4);
		ep->port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		ep->addr.family = ZT_AF_INET6;
		memcpy(ep->addr.bytes, &sin6->sin6_addr, 16);
		ep->port = ntohs(sin6->sin6_port);
	}
}

static void ep_format(const struct zt_endpoint *ep, char *buf, size_t len)
{
	char a[ZT_ADDR_STRLEN];

	if (ep->name[0]) {
		snprintf(buf, len, "%s:%u", ep->name, ep->port);
		return;
	}
	zt_addr_format(&ep->addr, a, sizeof(a));
	snprintf(buf, len, ep->addr.family == ZT_AF_INET6 ? "[%s]:%u" : "%s:%u",
		 a, ep->port);
}

/* Egress binding and mark for a new upstream socket. */
static int sock_options(struct zr_host *h, int fd, unsigned flags)
{
	if ((flags & ZT_UPSTREAM_DIRECT) && h->cfg.egress[0] &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, h->cfg.egress,
		       (socklen_t)strlen(h->cfg.egress)) < 0)
		return -errno;
	if (h->cfg.use_mark &&
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &h->cfg.mark,
		       sizeof(h->cfg.mark)) < 0)
		return -errno;
	return 0;
}

/* Socket @fd sends with DF (@df: failing what is larger than the path
 * MTU it knows with EMSGSIZE) or without it: IPv4 fragmenting on the way,
 * IPv6 (RFC 3542 IPV6_DONTFRAG off) fragmenting to the path MTU here. */
static int pmtu_mode(int fd, bool v6, bool df)
{
	int v = v6 ? df : df ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT;

	return setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
			  v6 ? IPV6_DONTFRAG : IP_MTU_DISCOVER, &v,
			  sizeof(v)) < 0 ? -errno : 0;
}

/* --- upstream ops --------------------------------------------------------- */

/*
 * A new upstream socket means a new flow, whose first exchanges (connect,
 * proxy handshake, request, reply) are the short waits busy polling is
 * for; a flow that has been running a while either streams (the loop
 * seldom waits) or trickles (a poll would rarely meet anything). So only
 * new sockets grant polls: ZR_BUSY_POLL_GRANT each, up to
 * ZR_BUSY_POLL_GRANT_MAX banked.
 */
static void grant_busy_polls(struct zr_host *h)
{
	if (!h->cfg.busy_poll_ns)
		return;
	h->busy_polls += ZR_BUSY_POLL_GRANT;
	if (h->busy_polls > ZR_BUSY_POLL_GRANT_MAX)
		h->busy_polls = ZR_BUSY_POLL_GRANT_MAX;
}

static int hdr_set_fd(int fd, bool v6, bool tclass, int v);
static int hdr_opt(int fd, bool v6, bool tclass, int *val, bool set);
static int recv_opt(int fd, int af, int v4, int v6);

/* The system's default TTL / hop limit for @v6, learned once from a
 * fresh socket @fd; 0 while unknown. */
static uint8_t default_ttl(struct zr_host *h, int fd, bool v6)
{
	uint8_t *def = &h->default_ttl[v6];

	if (!*def) {
		int d;

		if (hdr_opt(fd, v6, false, &d, false) == 0 && d > 0 && d < 256)
			*def = (uint8_t)d;
	}
	return *def;
}

/*
 * A direct connect's SYN leaves with the client's SYN's TTL when that is
 * below the default (a TCP traceroute's probe; others need no call): the
 * router where it runs out answers with a time exceeded, which the socket
 * reads from its error queue (IP_RECVERR, until connected: on a
 * connection it would make every ICMP error fatal) and the core passes
 * to the client (stream_fail). Best effort.
 */
static bool syn_ttl(struct zr_host *h, int fd, int af, uint8_t ttl)
{
	bool v6 = af == AF_INET6;

	if (!ttl || ttl >= default_ttl(h, fd, v6) ||
	    hdr_set_fd(fd, v6, false, ttl) < 0)
		return false;
	h->stats.stream_ttl_sets++;
	return recv_opt(fd, af, IP_RECVERR, IPV6_RECVERR) == 0;
}

/* A socket could not be opened for want of descriptors: counted, and
 * said at most once a minute (the core makes room by evicting an idle
 * flow and tries again; what it cannot make room for is refused, which
 * without this line would look like a proxy's fault). */
static void out_of_descriptors(struct zr_host *h, int err)
{
	struct rlimit rl;

	if (err != -EMFILE && err != -ENFILE)
		return;
	h->stats.descriptor_shortages++;
	if (h->now < h->fd_warn_next)
		return;
	h->fd_warn_next = h->now + 60 * ZT_SEC;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		rl.rlim_cur = 0;
	zr_warn("out of descriptors (%s; RLIMIT_NOFILE %llu): idle flows give theirs up (--udp-evict-idle, --tcp-evict-idle), else new flows are refused",
		strerror(-err), (unsigned long long)rl.rlim_cur);
}

static int up_stream_open(void *host, const struct zt_endpoint *ep,
			  unsigned flags, void *cookie, uint64_t now)
{
	struct zr_host *h = host;
	struct sockaddr_storage ss;
	struct zr_sock *s;
	socklen_t len;
	char name[300];
	int fd, err, idx, one = 1;
	uint8_t dscp = ZT_UPSTREAM_DSCP_OF(flags);
	bool probe = false;

	(void)now;
	ep_format(ep, name, sizeof(name));
	err = ep_to_sockaddr(ep, &ss, &len);
	if (err)
		goto fail;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	err = sock_options(h, fd, flags);
	/* the client's DSCP, before connect: the SYN carries it too (best
	 * effort: a marking that cannot be set fails no connection) */
	if (!err && dscp &&
	    hdr_set_fd(fd, ss.ss_family == AF_INET6, true, dscp) < 0)
		dscp = 0;
	probe = !err && (flags & ZT_UPSTREAM_DIRECT) &&
		syn_ttl(h, fd, ss.ss_family, ZT_UPSTREAM_TTL_OF(flags));
	if (!err && connect(fd, (struct sockaddr *)&ss, len) < 0 &&
	    errno != EINPROGRESS)
		err = -errno;
	if (err) {
		close(fd);
		goto fail;
	}
	s = sock_alloc(h, &idx);
	if (!s) {
		close(fd);
		err = -ENOMEM;
		goto fail;
	}
	s->fd = fd;
	s->kind = SK_STREAM;
	s->state = ST_CONNECTING;
	s->family = (uint8_t)ss.ss_family;
	s->tclass = dscp;
	s->syn_probe = probe;
	s->cookie = cookie;
	s->peer = ep->addr; /* an address: ep_to_sockaddr() refused names */
	h->stats.sockets_open++;
	/* not polled, the connect would never be heard of: refused now,
	 * not at the core's connect timeout */
	err = sock_update(h, s, idx);
	if (err) {
		sock_release(h, s, idx, false);
		goto fail;
	}
	h->stats.streams_opened++;
	h->stats.stream_dscp_sets += s->tclass != 0;
	grant_busy_polls(h);
	zr_debug("stream %d: connecting to %s%s", idx, name,
		 flags & ZT_UPSTREAM_DIRECT ? " (direct)" : "");
	return idx;
fail:
	h->stats.streams_open_errors++;
	out_of_descriptors(h, err);
	zr_debug("stream to %s: %s", name, strerror(-err));
	return err;
}

/* Whether @fd's connection is over (reset, timed out: TCP_CLOSE): its
 * reads then end, after what it holds. */
static bool sock_closed(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	       len > 0 && ti.tcpi_state == TCP_CLOSE;
}

/*
 * A send on stream @idx failed with @err (< 0): Linux's send() takes the
 * socket's pending error (a reset, a keepalive's ETIMEDOUT), and a recv()
 * after it returns what the socket still holds, then EOF. Failing now
 * would lose those bytes (the server sent them before its reset); so
 * when the connection is over and bytes may still be unread (held here,
 * or in the socket: SIOCINQ) and the read side is not at its EOF, the
 * error waits for the reads' end, as err_waits does for EPOLLERR, and
 * the send takes nothing. Otherwise the stream fails now (the caller
 * returns @err). Syscalls on this error path only.
 * Return: whether the error is held.
 */
static bool send_error_held(struct zr_host *h, struct zr_sock *s, int idx,
			    int err)
{
	int inq = 0;

	if (s->eof || !sock_closed(s->fd))
		return false;
	if (!(s->held && s->held_off < s->held_len) &&
	    ioctl(s->fd, SIOCINQ, &inq) == 0 && inq <= 0)
		return false;
	zr_debug("stream %d: send: %s, held behind unread data", idx,
		 strerror(-err));
	s->err_waits = true;
	s->err_taken = err;
	s->want_write = false;
	sock_watch(h, s, idx);
	return true;
}

static ssize_t up_stream_send(void *host, int handle, const void *data,
			      size_t len)
{
	struct zr_host *h = host;
	struct zr_sock *s = sock_get(h, handle, SK_STREAM);
	ssize_t n;

	if (!s)
		return -EBADF;
	if (s->state != ST_OPEN)
		return -ENOTCONN;
	if (len == 0 || s->err_waits)
		return 0; /* a send would take the error before the reads */
	do {
		n = send(s->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		int err = -errno;

		return send_error_held(h, s, handle, err) ? 0 : err;
	}
	if (n < 0)
		n = 0;
	if ((size_t)n < len && !s->want_write) {
		h->stats.stream_short_sends++;
		s->want_write = true;
		sock_watch(h, s, handle);
	}
	return n;
}

/* The client's FIN, upstream. Should shutdown() fail, the server would
 * wait for an end that never comes (and the flow with it): the stream
 * fails instead, a reset both ways. Not for ENOTCONN: the connection is
 * over already (a reset, a timeout: no server waits), and its end comes
 * through the reads, behind the data the socket still holds (a paused
 * stream's after its resume); failing it now would lose that data. */
static void up_stream_shutdown(void *host, int handle)
{
	struct zr_host *h = host;
	struct zr_sock *s = sock_get(h, handle, SK_STREAM);

	if (!s)
		return;
	if (shutdown(s->fd, SHUT_WR) < 0) {
		int err = -errno;

		zr_debug("stream %d: shutdown: %s", handle, strerror(-err));
		if (err != -ENOTCONN)
			fail_later(h, s, handle, err);
		return;
	}
	s->wr_shut = true;
	if (s->eof)
		sock_watch(h, s, handle); /* both shut: no half-open watch */
}

static void up_stream_close(void *host, int handle, bool abort)
{
	struct zr_host *h = host;
	struct zr_sock *s = sock_get(h, handle, SK_STREAM);

	if (!s)
		return;
	zr_debug("stream %d: %s", handle, abort ? "reset" : "closed");
	sock_release(h, s, handle,
		     abort || (s->held && s->held_off < s->held_len));
}

static void up_stream_resume(void *host, int handle)
{
	struct zr_host *h = host;
	struct zr_sock *s = sock_get(h, handle, SK_STREAM);

	if (s && s->paused)
		resume_later(h, s, handle);
}

/* Turn on the IPv4 option @v4 of @fd, and on an IPv6 socket also the IPv6
 * option @v6 (the IPv4 one then covers its IPv4-mapped traffic). */
static int recv_opt(int fd, int af, int v4, int v6)
{
	int one = 1;

	if (setsockopt(fd, SOL_IP, v4, &one, sizeof(one)) < 0 ||
	    (af == AF_INET6 && setsockopt(fd, SOL_IPV6, v6, &one, sizeof(one)) < 0))
		return -errno;
	return 0;
}

/* The traffic class in a received message's control data (IP_TOS,
 * IPV6_TCLASS), or 0. */
static uint8_t tclass_of(struct msghdr *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		int v;

		if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_TOS &&
		    c->cmsg_len >= CMSG_LEN(1))
			return *CMSG_DATA(c);
		if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_TCLASS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(v))) {
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			return (uint8_t)v;
		}
	}
	return 0;
}

static int up_dgram_open(void *host, uint8_t family, uint16_t port,
			 unsigned flags, void *cookie, uint64_t now)
{
	struct zr_host *h = host;
	struct sockaddr_storage ss;
	struct zr_sock *s;
	socklen_t len;
	int af = family == ZT_AF_INET6 ? AF_INET6 : AF_INET;
	bool echo = flags & ZT_UPSTREAM_ICMP_ECHO;
	int fd, err, idx;

	(void)now;
	if (family != ZT_AF_INET && family != ZT_AF_INET6)
		return -EAFNOSUPPORT;
	/* an echo socket is the kernel's ping socket: it puts its own
	 * identifier in each request and gives each socket its replies */
	fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    !echo ? 0 : af == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	if (fd < 0) {
		err = -errno;
		out_of_descriptors(h, err);
		if (echo && (err == -EACCES || err == -EPERM) &&
		    !h->warned_ping) {
			h->warned_ping = true;
			zr_warn("ICMP echo: no ping socket (%s): pings routed direct are dropped; net.ipv4.ping_group_range must include group %u",
				strerror(-err), (unsigned)getegid());
		}
		return err;
	}
	err = sock_options(h, fd, flags);
	/* a socket queues the ICMP errors about what it sends (an
	 * unconnected socket hears none otherwise): a direct one's reach
	 * the client; a SOCKS5 relay's unreachable ends its association
	 * (best effort there: without it, the client waits out its own
	 * timeout). A direct one also reads each datagram's (or echo
	 * reply's) traffic class with it, which the core passes on (best
	 * effort: without it, answers come unmarked) */
	if (!err && (flags & ZT_UPSTREAM_DIRECT))
		err = recv_opt(fd, af, IP_RECVERR, IPV6_RECVERR);
	else if (!err)
		(void)recv_opt(fd, af, IP_RECVERR, IPV6_RECVERR);
	if (!err && (flags & ZT_UPSTREAM_DIRECT))
		(void)recv_opt(fd, af, IP_RECVTOS, IPV6_RECVTCLASS);
	/* and sends without DF, as the client's datagrams come until one
	 * has it (dgram_set_header): a router fragments what the sender let
	 * it. (Linux's default would set DF and lose the first datagram
	 * larger than a link beyond.) IPv6: the kernel's own default, which
	 * fragments to the path MTU it knows, until a datagram the client
	 * did not fragment itself comes. Best effort, as the marking:
	 * without it Linux's default stays. */
	if (!err && (flags & ZT_UPSTREAM_DIRECT) && af == AF_INET)
		(void)pmtu_mode(fd, false, false);
	if (!err && !echo && h->cfg.udp_rcvbuf) {
		int sz = (int)h->cfg.udp_rcvbuf;

		/* past rmem_max with CAP_NET_ADMIN, else as far as it allows */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
			(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	if (!err && port) {
		memset(&ss, 0, sizeof(ss));
		if (af == AF_INET) {
			((struct sockaddr_in *)&ss)->sin_family = AF_INET;
			((struct sockaddr_in *)&ss)->sin_port = htons(port);
			len = sizeof(struct sockaddr_in);
		} else {
			((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
			((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
			len = sizeof(struct sockaddr_in6);
		}
		if (bind(fd, (struct sockaddr *)&ss, len) < 0)
			err = -errno;
	}
	if (err) {
		close(fd);
		return err;
	}
	s = sock_alloc(h, &idx);
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->fd = fd;
	s->kind = SK_DGRAM;
	s->family = (uint8_t)af;
	s->gso_off = echo; /* never a UDP_SEGMENT send on it */
	s->cookie = cookie;
	h->stats.sockets_open++;
	/* not polled, its answers would never be read */
	err = sock_update(h, s, idx);
	if (err) {
		sock_release(h, s, idx, false);
		return err;
	}
	h->stats.dgrams_opened++;
	grant_busy_polls(h);
	zr_debug("dgram %d: open (IPv%u%s%s)", idx, family,
		 flags & ZT_UPSTREAM_DIRECT ? ", direct" : "",
		 echo ? ", ICMP echo" : "");
	return idx;
}

static int up_dgram_send(void *host, int handle, const struct zt_endpoint *to,
			 const void *data, size_t len)
{
	struct zr_host *h = host;
	struct zr_sock *s = sock_get(h, handle, SK_DGRAM);
	struct sockaddr_storage ss;
	socklen_t sl;
	int err;

	if (!s)
		return -EBADF;
	err = ep_to_sockaddr(to, &ss, &sl);
	if (!err && ss.ss_family != s->family)
		err = -EAFNOSUPPORT;
	if (err) {
		h->stats.dgram_send_errors++;
	} else {
		/* at once, or held to the end of this wake-up (dgram_out.h) */
		err = zr_dgram_out_send(&h->dgram_out, s->fd, &s->gso_off,
					(uint64_t)s->gen << 32 | (uint32_t)handle,
					(struct sockaddr *)&ss, sl, data, len);
	}
	if (err)
		zr_debug("dgram %d: send: %s", handle, strerror(-err));
	return err;
}

/* A socket's TTL / hop limit (@tclass false) or traffic class (IPv4 TOS)
 * option, IPv4 or IPv6: what it sends with. */
static int hdr_opt(int fd, bool v6, bool tclass, int *val, bool set)
{
	int level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
	int name = tclass ? (v6 ? IPV6_TCLASS : IP_TOS) :
			    (v6 ? IPV6_UNICAST_HOPS : IP_TTL);
	socklen_t len = sizeof(*val);
	int rc = set ? setsockopt(fd, level, name, val, len) :
		       getsockopt(fd, level, name, val, &len);

	return rc < 0 ? -errno : 0;
}

/* Set one of hdr_opt's options of @fd to @v; an IPv6 socket sets the IPv4
 * one too, for what it sends to IPv4-mapped addresses. (A TCP socket
 * keeps its own ECN bits.) */
static int hdr_set_fd(int fd, bool v6, bool tclass, int v)
{
	int err = hdr_opt(fd, v6, tclass, &v, true);

	if (!err && v6)
		(void)hdr_opt(fd, false, tclass, &v, true);
	return err;
}

/* Set socket @s's TTL (@tclass false) or traffic class to @v and count
 * it in *@sets. */
static int hdr_set(struct zr_sock *s, int handle, bool tclass, uint8_t v,
		   uint64_t *sets)
{
	int err = hdr_set_fd(s->fd, s->family == AF_INET6, tclass, v);

	if (err) {
		zr_debug("sock %d: %s %u: %s", handle, tclass ? "tos" : "ttl", v,
			 strerror(-err));
		return err;
	}
	(*sets)++;
	*(tclass ? &s->tclass : &s->ttl) = v;
	return 0;
}

/*
 * What datagram socket @handle sends from now on leaves with TTL / hop
 * limit @hdr->ttl (0: as it is), traffic class @hdr->tclass (IPv4 TOS:
 * DSCP and ECN; Linux keeps a datagram socket's ECN bits as given) and
 * DF @hdr->dont_frag (pmtu_mode). Datagrams held for a batched send go first,
 * with what they were given under. A socket learns its default TTL from
 * the kernel once (a fresh one reports the system's), so that the common
 * case, a client sending with the same default, costs no call after the
 * first socket of each family; a fresh socket's traffic class is 0, and
 * it sends without DF (dgram_open).
 */
static int up_dgram_set_header(void *host, int handle,
			       const struct zt_fwd_hdr *hdr)
{
	struct zr_host *h = host;
	struct zr_sock *s = sock_get(h, handle, SK_DGRAM);
	uint8_t ttl = hdr->ttl, tclass = hdr->tclass;
	bool v6, df;
	int err;

	if (!s)
		return -EBADF;
	v6 = s->family == AF_INET6;
	if (ttl && !s->ttl)
		s->ttl = default_ttl(h, s->fd, v6);
	if (ttl == s->ttl)
		ttl = 0;
	df = hdr->dont_frag;
	if (!ttl && tclass == s->tclass && df == s->df)
		return 0;
	zr_dgram_out_flush(&h->dgram_out);
	err = ttl ? hdr_set(s, handle, false, ttl, &h->stats.dgram_ttl_sets) : 0;
	if (!err && tclass != s->tclass)
		err = hdr_set(s, handle, true, tclass, &h->stats.dgram_tos_sets);
	if (!err && df != s->df) {
		err = pmtu_mode(s->fd, v6, df);
		if (!err) {
			s->df = df;
			h->stats.dgram_df_sets++;
		}
	}
	return err;
}

/*
 * The path MTU toward @to that the kernel knows for what @handle sends
 * (after a send with DF failed with EMSGSIZE): the egress link's, or a
 * smaller one an ICMP error taught it. An unconnected socket has no
 * IP_MTU to ask, so a fresh socket with the same egress options is
 * connected to @to (no packet is sent) and asked; rare enough (the client
 * learns the MTU from the first answer) that three calls do not matter.
 */
static int up_dgram_path_mtu(void *host, int handle,
			     const struct zt_endpoint *to)
{
	struct zr_host *h = host;
	struct zr_sock *s = sock_get(h, handle, SK_DGRAM);
	struct sockaddr_storage ss;
	socklen_t sl, len;
	int fd, err, mtu = 0;

	if (!s)
		return -EBADF;
	err = ep_to_sockaddr(to, &ss, &sl);
	if (err)
		return err;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	h->stats.dgram_path_mtu_asks++;
	len = sizeof(mtu);
	err = sock_options(h, fd, ZT_UPSTREAM_DIRECT);
	if (!err && connect(fd, (struct sockaddr *)&ss, sl) < 0)
		err = -errno;
	if (!err && getsockopt(fd, ss.ss_family == AF_INET6 ? IPPROTO_IPV6 :
							      IPPROTO_IP,
			       ss.ss_family == AF_INET6 ? IPV6_MTU : IP_MTU,
			       &mtu, &len) < 0)
		err = -errno;
	close(fd);
	zr_debug("dgram %d: path MTU: %d", handle, err ? err : mtu);
	return err ? err : mtu > 0 ? mtu : -EINVAL;
}

/* What stream @handle sends from now on leaves with DSCP @dscp. */
static int up_stream_set_dscp(void *host, int handle, uint8_t dscp)
{
	struct zr_host *h = host;
	struct zr_sock *s = sock_get(h, handle, SK_STREAM);

	if (!s)
		return -EBADF;
	return dscp == s->tclass ? 0 :
	       hdr_set(s, handle, true, dscp, &h->stats.stream_dscp_sets);
}

/* A keepalive figure in whole seconds (rounded up) within Linux's
 * bounds for it (1..@max). */
static int ka_secs(uint64_t v, int max)
{
	uint64_t s = (v + ZT_SEC - 1) / ZT_SEC;

	return s < 1 ? 1 : s > (uint64_t)max ? max : (int)s;
}

/*
 * Stream @handle probes its peer while it is silent, as @ka says: the
 * kernel's TCP keepalive (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, then
 * SO_KEEPALIVE). A peer that answers none of the probes ends the socket
 * with ETIMEDOUT, which reaches the core as any socket error does
 * (EPOLLERR, stream_fail()). Four syscalls, only for the streams the core
 * asks (a client that probes, an association's control connection).
 * TCP_USER_TIMEOUT stays unset: it would also bound how long data may
 * wait unacknowledged on a busy stream (a slow but alive server), which
 * is the retransmission timeout's business, not the idle probe's; and
 * Linux probes only a stream with nothing in flight, so the two never
 * overlap.
 */
static int up_stream_keepalive(void *host, int handle,
			       const struct zt_keepalive *ka)
{
	struct zr_host *h = host;
	struct zr_sock *s = sock_get(h, handle, SK_STREAM);
	int idle = ka_secs(ka->idle, 32767), intvl = ka_secs(ka->interval, 32767);
	int cnt = ka->count > 127 ? 127 : ka->count < 1 ? 1 : (int)ka->count;
	int on = 1;

	if (!s)
		return -EBADF;
	if (setsockopt(s->fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) < 0 ||
	    setsockopt(s->fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) < 0 ||
	    setsockopt(s->fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0 ||
	    setsockopt(s->fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) < 0) {
		int err = -errno;

		zr_debug("stream %d: keepalive: %s", handle, strerror(-err));
		return err;
	}
	zr_debug("stream %d: keepalive after %d s, %d probes %d s apart", handle,
		 idle, cnt, intvl);
	return 0;
}

static void up_dgram_close(void *host, int handle)
{
	struct zr_host *h = host;
	struct zr_sock *s = sock_get(h, handle, SK_DGRAM);

	if (!s)
		return;
	zr_debug("dgram %d: closed", handle);
	zr_dgram_out_flush(&h->dgram_out); /* what it holds goes first */
	sock_release(h, s, handle, false);
}

const struct zt_upstream_ops zr_host_upstream_ops = {
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
	.stream_keepalive = up_stream_keepalive,
};

/**
 * zr_host_tun_output() - write one packet from the core to the TUN.
 * @host: the struct zr_host
 * @pkt: the packet, borrowed for the call
 * @len: its length
 *
 * A packet the TUN does not take is counted and dropped (IP is lossy).
 */
void zr_host_tun_output(void *host, const uint8_t *pkt, size_t len)
{
	struct zr_host *h = host;
	ssize_t n = zt_tun_write(&h->tun, pkt, len);

	if (n < 0) {
		h->stats.tun_tx_errors++;
		zr_debug("tun write: %s", strerror((int)-n));
		return;
	}
	h->stats.tun_tx_packets++;
	h->stats.tun_tx_bytes += (uint64_t)n;
}

/**
 * zr_host_tun_output_gso() - write one TSO segment from the core.
 * @host: the struct zr_host
 * @pkt: the segment in parts (borrowed): headers, then the data from the
 *       flow's send ring; larger than the MTU
 * @seg_size: data bytes per piece on the wire
 *
 * The device cuts it when its driver can (write_gso: IFF_VNET_HDR, one
 * writev of the parts); otherwise it is put together and cut here
 * (io/gso.h) and written piece by piece.
 */
void zr_host_tun_output_gso(void *host, const struct zt_pkt_parts *pkt,
			    uint32_t seg_size)
{
	struct zr_host *h = host;
	ssize_t n = -EOPNOTSUPP;
	size_t len;

	if (h->tun.ops->write_gso)
		n = h->tun.ops->write_gso(h->tun.ctx, pkt, seg_size);
	if (n == -EOPNOTSUPP) {
		len = zt_pkt_parts_flatten(pkt, h->tsobuf, sizeof(h->tsobuf));
		if (!len || zt_gso_split(h->tsobuf, len, seg_size, h->gsobuf,
					 sizeof(h->gsobuf), 0, zr_host_tun_output,
					 h) < 0)
			h->stats.tun_tx_errors++;
		return;
	}
	if (n < 0) {
		h->stats.tun_tx_errors++;
		zr_debug("tun write (TSO): %s", strerror((int)-n));
		return;
	}
	h->stats.tun_tx_packets++;
	h->stats.tun_tx_gso++;
	h->stats.tun_tx_bytes += (uint64_t)n;
}

/* --- events ------------------------------------------------------------- */

static int read_error(int fd, uint8_t *data, size_t cap,
		      struct zt_dgram_error *e);

/* The ICMP error a connect with syn_ttl() failed on, from the socket's
 * error queue, into *@e (its data not kept). */
static bool syn_error(struct zr_sock *s, struct zt_dgram_error *e)
{
	uint8_t data[64];
	bool got = read_error(s->fd, data, sizeof(data), e) > 0;

	e->data = NULL;
	e->len = 0;
	return got;
}

/* The stream failed with @err (< 0): free it, then tell the core (with
 * the ICMP error behind it, for a connect with the client's TTL). An
 * open one is reset, as the core resets the client: a FIN would tell
 * the upstream that what it got is all the client sent (the core may
 * still hold bytes it accepted from the client). */
static void stream_fail(struct zr_host *h, struct zr_sock *s, int idx, int err)
{
	void *cookie = s->cookie;
	struct zt_dgram_error e;
	bool icmp = s->syn_probe && syn_error(s, &e);

	zr_debug("stream %d: failed: %s%s", idx, strerror(-err),
		 icmp ? " (ICMP error)" : "");
	h->stats.streams_failed++;
	sock_release(h, s, idx, s->state == ST_OPEN);
	if (icmp)
		zt_router_stream_failed_icmp(h->router, cookie, err, &e, h->now);
	else
		zt_router_stream_failed(h->router, cookie, err, h->now);
}

static int so_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

/* Offer @len bytes to the core; keep what it does not take (copied). */
static void stream_deliver(struct zr_host *h, struct zr_sock *s, int idx,
			   const uint8_t *data, size_t len)
{
	uint32_t gen = s->gen;
	size_t taken = zt_router_stream_data(h->router, s->cookie, data, len,
					     h->now);

	if (s->gen != gen || s->kind != SK_STREAM)
		return; /* closed by the core meanwhile */
	if (taken >= len)
		return;
	s->held = malloc(len - taken);
	if (!s->held) {
		stream_fail(h, s, idx, -ENOMEM);
		return;
	}
	memcpy(s->held, data + taken, len - taken);
	s->held_len = len - taken;
	s->held_off = 0;
	s->paused = true;
	h->stats.stream_pauses++;
	sock_watch(h, s, idx);
}

static void stream_readable(struct zr_host *h, struct zr_sock *s, int idx)
{
	size_t want = zt_router_stream_room(h->router, s->cookie), nr[2];
	uint32_t gen = s->gen;
	uint8_t *run[2];
	ssize_t n;
	int err = 0;

	if (want == 0) {
		/* The flow's send ring is full: leave the bytes in the
		 * socket (its window closes) until stream_resume(). */
		s->paused = true;
		h->stats.stream_pauses++;
		sock_watch(h, s, idx);
		return;
	}
	/* As much as the core would send in whole TSO segments. */
	if (want > sizeof(h->sockbuf))
		want = sizeof(h->sockbuf);
	if (zt_router_stream_recv_runs(h->router, s->cookie, want, run, nr)) {
		/* Relaying: straight into the flow's send ring, no copy. */
		struct iovec iov[2] = { { run[0], nr[0] }, { run[1], nr[1] } };
		struct msghdr mh;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = nr[1] ? 2 : 1;
		do {
			n = recvmsg(s->fd, &mh, MSG_DONTWAIT);
		} while (n < 0 && errno == EINTR);
		err = n < 0 ? errno : 0;
		zt_router_stream_recv_commit(h->router, s->cookie,
					     n > 0 ? (size_t)n : 0, h->now);
		if (s->gen != gen || s->kind != SK_STREAM)
			return; /* closed by the core meanwhile */
		if (n > 0)
			return;
	} else {
		do {
			n = recv(s->fd, h->sockbuf, want, MSG_DONTWAIT);
		} while (n < 0 && errno == EINTR);
		err = n < 0 ? errno : 0;
	}
	if (n < 0) {
		if (err != EAGAIN && err != EWOULDBLOCK)
			stream_fail(h, s, idx, -err);
		return;
	}
	if (n == 0 && s->err_taken) {
		/* the end of the data a send's error was held behind */
		stream_fail(h, s, idx, s->err_taken);
		return;
	}
	if (n == 0) {
		zr_debug("stream %d: eof", idx);
		s->eof = true;
		zt_router_stream_eof(h->router, s->cookie, h->now);
		/* Out of the epoll set, unless the core closed it (it does
		 * when our FIN went before: close() drops it for free). */
		if (s->gen == gen && s->kind == SK_STREAM)
			sock_watch(h, s, idx);
		return;
	}
	stream_deliver(h, s, idx, h->sockbuf, (size_t)n);
}

/* Hand the datagrams read so far (all from @from) to the core at once:
 * runs of one size go to the client as one GSO packet. Return: whether
 * the socket is still ours. */
static bool dgram_deliver(struct zr_host *h, struct zr_sock *s, uint32_t gen,
			  const struct zt_endpoint *from, struct zt_dgram *d,
			  unsigned *n)
{
	if (*n)
		zt_router_dgram_batch(h->router, s->cookie, from, d, *n, h->now);
	*n = 0;
	return s->gen == gen && s->kind == SK_DGRAM;
}

/* The ICMP error an error-queue message @m carries, or NULL (a local
 * error, or none). */
static const struct sock_extended_err *icmp_error_of(struct msghdr *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		const struct sock_extended_err *ee;

		if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
		      (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)))
			continue;
		ee = (const struct sock_extended_err *)(const void *)CMSG_DATA(c);
		if (ee->ee_origin == SO_EE_ORIGIN_ICMP ||
		    ee->ee_origin == SO_EE_ORIGIN_ICMP6)
			return ee;
	}
	return NULL;
}

/* Who sent ICMP error @ee of error-queue message @m, into *@out (family
 * 0: unknown; a cut-off error's offender is not to be trusted). */
static void error_offender(const struct msghdr *m,
			   const struct sock_extended_err *ee,
			   struct zt_addr *out)
{
	const struct sockaddr *offender = SO_EE_OFFENDER(ee);
	struct sockaddr_storage off = { .ss_family = AF_UNSPEC };
	struct zt_endpoint ep;

	if (!(m->msg_flags & MSG_CTRUNC) && offender->sa_family == AF_INET)
		memcpy(&off, offender, sizeof(struct sockaddr_in));
	else if (!(m->msg_flags & MSG_CTRUNC) && offender->sa_family == AF_INET6)
		memcpy(&off, offender, sizeof(struct sockaddr_in6));
	zr_sockaddr_to_ep(&off, &ep);
	*out = ep.addr;
}

/*
 * One message from @fd's error queue, its data into @data (@cap bytes):
 * -1 when none is left, 0 when it is no ICMP error, else 1 with *@e
 * filled (e->data pointing into @data). The kernel puts a datagram's own
 * control data (its traffic class: IP_RECVTOS) before the error: room
 * for both, or the error's offender would be cut off.
 */
static int read_error(int fd, uint8_t *data, size_t cap,
		      struct zt_dgram_error *e)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct sock_extended_err) +
				    sizeof(struct sockaddr_in6)) +
			 2 * CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct sockaddr_storage to = { .ss_family = AF_UNSPEC };
	struct iovec iov = { data, cap };
	struct msghdr m = {
		.msg_name = &to, .msg_namelen = sizeof(to),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	const struct sock_extended_err *ee;
	ssize_t n = recvmsg(fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT);

	if (n < 0)
		return -1;
	ee = icmp_error_of(&m);
	if (!ee)
		return 0;
	memset(e, 0, sizeof(*e));
	zr_sockaddr_to_ep(&to, &e->to);
	error_offender(&m, ee, &e->origin);
	e->type = ee->ee_type;
	e->code = ee->ee_code;
	/* Linux gives a packet too big's MTU as the error's info */
	if ((ee->ee_origin == SO_EE_ORIGIN_ICMP &&
	     ee->ee_type == ZT_ICMP4_DEST_UNREACH &&
	     ee->ee_code == ZT_ICMP4_CODE_FRAG_NEEDED) ||
	    (ee->ee_origin == SO_EE_ORIGIN_ICMP6 &&
	     ee->ee_type == ZT_ICMP6_PACKET_TOO_BIG))
		e->mtu = ee->ee_info;
	e->data = data;
	e->len = (size_t)n < cap ? (size_t)n : cap;
	return 1;
}

/* Up to DGRAM_BATCH ICMP errors from socket @s's error queue, each to the
 * core. Return: whether the socket is still ours. */
static bool dgram_errors(struct zr_host *h, struct zr_sock *s, int idx)
{
	uint32_t gen = s->gen;

	for (int i = 0; i < DGRAM_BATCH; i++) {
		uint8_t data[576];
		struct zt_dgram_error e;
		int got = read_error(s->fd, data, sizeof(data), &e);

		if (got < 0)
			break;
		if (!got)
			continue;
		if (zr_log_enabled(ZR_LOG_DEBUG)) {
			char a[96];

			ep_format(&e.to, a, sizeof(a));
			zr_debug("dgram %d: ICMP error type %u code %u (MTU %u) about %s",
				 idx, e.type, e.code, e.mtu, a);
		}
		zt_router_dgram_error(h->router, s->cookie, &e, h->now);
		if (s->gen != gen || s->kind != SK_DGRAM)
			return false;
	}
	return true;
}

/* Up to DGRAM_BATCH datagrams, read back to back into sockbuf so that a
 * run of them from one sender reaches the core as one batch. */
static void dgram_readable(struct zr_host *h, struct zr_sock *s, int idx)
{
	uint32_t gen = s->gen;
	struct zt_dgram d[DGRAM_BATCH];
	struct sockaddr_storage prev = { .ss_family = AF_UNSPEC };
	socklen_t prev_len = 0;
	struct zt_endpoint from;
	size_t off = 0;
	unsigned n = 0;

	memset(&from, 0, sizeof(from));
	for (int i = 0; i < DGRAM_BATCH; i++) {
		/* AF_UNSPEC unless recvmsg() names the sender */
		struct sockaddr_storage ss = { .ss_family = AF_UNSPEC };
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov;
		struct msghdr m = {
			.msg_name = &ss, .msg_namelen = sizeof(ss),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		socklen_t sl;
		ssize_t r;

		if (sizeof(h->sockbuf) - off < 65536) {
			if (!dgram_deliver(h, s, gen, &from, d, &n))
				return;
			off = 0;
		}
		iov.iov_base = h->sockbuf + off;
		iov.iov_len = sizeof(h->sockbuf) - off;
		r = recvmsg(s->fd, &m, MSG_DONTWAIT | MSG_TRUNC);
		sl = m.msg_namelen;
		if (r < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				zr_debug("dgram %d: recv: %s", idx,
					 strerror(errno));
			break;
		}
		if ((size_t)r > sizeof(h->sockbuf) - off)
			continue; /* truncated */
		h->stats.dgram_rx++;
		if (n && (sl != prev_len || memcmp(&ss, &prev, sl) != 0)) {
			if (!dgram_deliver(h, s, gen, &from, d, &n))
				return; /* another sender: another batch */
		}
		if (!n) {
			zr_sockaddr_to_ep(&ss, &from);
			prev = ss;
			prev_len = sl;
		}
		d[n].data = h->sockbuf + off;
		d[n].tclass = m.msg_controllen ? tclass_of(&m) : 0;
		d[n++].len = (size_t)r;
		off += (size_t)r;
	}
	dgram_deliver(h, s, gen, &from, d, &n);
}

static void sock_event(struct zr_host *h, uint32_t gen, uint32_t idx,
		       uint32_t ev)
{
	struct zr_sock *s;
	int err;

	if (idx >= h->nsocks)
		return;
	s = h->socks[idx];
	if (s->kind == SK_FREE || s->gen != gen)
		return; /* closed earlier in this batch */
	if (s->kind == SK_DGRAM) {
		/* errors first: reading them clears the socket's error, which
		 * would otherwise fail the next receive */
		if ((ev & EPOLLERR) && !dgram_errors(h, s, (int)idx))
			return;
		if (ev & EPOLLIN)
			dgram_readable(h, s, (int)idx);
		return;
	}
	if (s->state == ST_CONNECTING) {
		/* EPOLLOUT alone is a finished connect; only an error bit
		 * needs SO_ERROR (one syscall less per connection). */
		err = 0;
		if (ev & (EPOLLERR | EPOLLHUP)) {
			err = so_error(s->fd);
			if (!err && !(ev & EPOLLOUT))
				err = ECONNRESET;
		}
		if (err) {
			stream_fail(h, s, (int)idx, -err);
			return;
		}
		s->state = ST_OPEN;
		if (s->syn_probe) {
			int off = 0;

			(void)setsockopt(s->fd, s->family == AF_INET6 ?
					 IPPROTO_IPV6 : IPPROTO_IP,
					 s->family == AF_INET6 ? IPV6_RECVERR :
					 IP_RECVERR, &off, sizeof(off));
			s->syn_probe = false;
		}
		sock_watch(h, s, (int)idx);
		zr_debug("stream %u: connected", idx);
		zt_router_stream_connected(h->router, s->cookie, h->now);
		return;
	}
	if (s->events & EPOLLONESHOT) {
		/* The half-open stream's watch (sock_update()) reported, and
		 * is disarmed: its upstream died (a keepalive timeout, a
		 * RST), or the hang-up of an end that closed cleanly, which
		 * leaves nothing more to do. */
		s->events = 0;
		err = so_error(s->fd);
		if (err)
			stream_fail(h, s, (int)idx, -err);
		return;
	}
	/* A reset (or another error) may come behind data the socket still
	 * holds: the data goes to the core first. recv() returns it before
	 * the error, and the error once it is all read (stream_readable()
	 * fails the stream then); SO_ERROR now would clear the error and
	 * lose the data. A paused stream (polled for EPOLLOUT alone, after a
	 * short send) keeps the error for the reads after stream_resume():
	 * until then it waits out of the epoll set. Only a stream that reads
	 * nothing now or again fails at once. */
	if ((ev & EPOLLERR) && s->paused && !s->eof) {
		s->err_waits = true;
		s->want_write = false;
		sock_watch(h, s, (int)idx);
		return;
	}
	if ((ev & EPOLLERR) && (!(ev & EPOLLIN) || s->eof)) {
		err = so_error(s->fd);
		if (err) {
			stream_fail(h, s, (int)idx, -err);
			return;
		}
	}
	if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !s->paused && !s->eof) {
		stream_readable(h, s, (int)idx);
		if (s->gen != gen || s->kind != SK_STREAM)
			return;
	}
	if ((ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && s->want_write) {
		s->want_write = false;
		sock_watch(h, s, (int)idx);
		zt_router_stream_writable(h->router, s->cookie, h->now);
	}
}

/* Offer held bytes again to the streams the core resumed. */
static void run_resumes(struct zr_host *h)
{
	uint32_t n = h->n_resumes;

	if (n == 0)
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = (uint32_t)h->resumes[i];
		uint32_t gen = (uint32_t)(h->resumes[i] >> 32);
		struct zr_sock *s = idx < h->nsocks ? h->socks[idx] : NULL;
		uint8_t *held;
		size_t off, len, taken;

		if (!s || s->kind != SK_STREAM || s->gen != gen)
			continue;
		s->resume = false;
		if (s->fail_err) {
			stream_fail(h, s, (int)idx, s->fail_err);
			continue;
		}
		if (!s->paused)
			continue;
		held = s->held;
		off = s->held_off;
		len = s->held_len;
		s->held = NULL; /* ours while the core reads it */
		taken = held ? zt_router_stream_data(h->router, s->cookie,
						     held + off, len - off,
						     h->now) : 0;
		if (s->gen != gen || s->kind != SK_STREAM) {
			free(held);
			continue;
		}
		if (held && off + taken < len) {
			s->held = held;
			s->held_off = off + taken;
			continue; /* still paused: wait for the next resume */
		}
		free(held);
		s->held_len = s->held_off = 0;
		s->paused = false;
		sock_watch(h, s, (int)idx);
	}
	memmove(h->resumes, h->resumes + n,
		(h->n_resumes - n) * sizeof(*h->resumes));
	h->n_resumes -= n;
}

/* One datagram cut from a UDP GSO read, for the core. */
static void tun_input_piece(void *ctx, const uint8_t *piece, size_t n)
{
	struct zr_host *h = ctx;

	zt_router_tun_input_flags(h->router, piece, n, ZT_INPUT_CSUM_VALID,
				  h->now);
}

/* Up to TUN_BATCH packets as one batch: one ACK per flow for all of them
 * (zt_router_tun_batch_end()), not one per segment read. */
static void tun_read_batch(struct zr_host *h)
{
	for (int i = 0; i < TUN_BATCH; i++) {
		unsigned flags = 0;
		ssize_t n = zt_tun_read_flags(&h->tun, h->tunbuf,
					      sizeof(h->tunbuf), NULL, &flags);

		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return;
		if (n == -EMSGSIZE) {
			/* cut short by the read: dropped, never passed on cut */
			h->stats.tun_rx_too_long++;
			continue;
		}
		if (n == -EBADMSG) {
			h->stats.tun_rx_bad_vnet++;
			continue;
		}
		if (n < 0) {
			zr_err("reading the TUN device: %s", strerror((int)-n));
			h->fatal = (int)n;
			h->stop = true;
			return;
		}
		if (n == 0)
			continue;
		h->stats.tun_rx_packets++;
		h->stats.tun_rx_bytes += (uint64_t)n;
		if (flags & ZT_INPUT_CSUM_VALID)
			h->stats.tun_rx_offloaded++;
		if (flags & ZT_TUN_UDP_GSO) {
			/* a client's UDP_SEGMENT send: its datagrams one by
			 * one (upstream they go out as one again, dgram_out.h),
			 * their checksums left unsummed: tun_input_piece()
			 * passes them on as vouched for */
			h->stats.tun_rx_udp_gso++;
			if (zt_gso_split(h->tunbuf, (size_t)n,
					 ZT_TUN_SEG_SIZE(flags), h->udpgsobuf,
					 sizeof(h->udpgsobuf), ZT_GSO_KEEP_L4_CSUM,
					 tun_input_piece, h) < 0)
				h->stats.tun_rx_udp_gso_bad++;
			continue;
		}
		zt_router_tun_input_flags(h->router, h->tunbuf, (size_t)n, flags,
					  h->now);
	}
}

static void tun_readable(struct zr_host *h)
{
	zt_router_tun_batch_begin(h->router);
	tun_read_batch(h);
	zt_router_tun_batch_end(h->router, h->now);
}

static void signal_readable(struct zr_host *h)
{
	struct signalfd_siginfo si;

	while (read(h->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			zr_host_print_stats(h, "SIGUSR1");
			zr_host_write_stats(h);
			continue;
		}
		if (si.ssi_signo == SIGHUP) {
			if (h->cfg.on_hangup)
				h->cfg.on_hangup(h->cfg.hangup_user);
			continue;
		}
		zr_info("%s: stopping", strsignal((int)si.ssi_signo));
		h->stop = true;
	}
}

static void arm_timer(struct zr_host *h)
{
	uint64_t dl = zt_router_deadline(h->router);
	struct itimerspec its;

	if (h->stats_due < dl)
		dl = h->stats_due;
	if (h->tick_due < dl)
		dl = h->tick_due;

	/* Only an earlier deadline re-arms: a later one (an RTO pushed back
	 * by every ACK, a timer cancelled) lets the armed one fire early once
	 * and the loop re-arms then, one wake-up instead of a
	 * timerfd_settime() per loop turn. */
	if (dl >= h->armed) {
		h->unarmed = ZT_TIME_NEVER; /* the armed timer comes first */
		return;
	}
	memset(&its, 0, sizeof(its));
	if (dl != ZT_TIME_NEVER) {
		if (dl == 0)
			dl = 1; /* 0 would disarm */
		its.it_value.tv_sec = (time_t)(dl / 1000000000u);
		its.it_value.tv_nsec = (long)(dl % 1000000000u);
	}
	if (timerfd_settime(h->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		/* The timers must run all the same (a connect timeout, a
		 * retransmission, the idle timeouts): epoll_wait() wakes up
		 * at the deadline (wait_ms()), and each turn tries again. */
		if (!h->warned_timer)
			zr_warn("timerfd_settime: %s: timers wake the loop by epoll_wait()'s timeout instead",
				strerror(errno));
		h->warned_timer = true;
		h->unarmed = dl;
		return;
	}
	h->armed = dl;
	h->unarmed = ZT_TIME_NEVER;
}

/* How long epoll_wait() may sleep: for ever, but up to a deadline
 * arm_timer() could not arm (rounded up to whole milliseconds). */
static int wait_ms(const struct zr_host *h)
{
	uint64_t now, ms;

	if (h->unarmed == ZT_TIME_NEVER)
		return -1;
	now = zr_now();
	if (h->unarmed <= now)
		return 0;
	ms = (h->unarmed - now + 999999) / 1000000;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* The datagrams held in this wake-up that their sends lost for a reason
 * of their own (dgram_out.h) go to the core now, out of its calls: a
 * routing failure reaches the flow's client as an ICMP unreachable. A
 * socket closed since is skipped (its generation moved on). */
static void report_send_failures(struct zr_host *h)
{
	struct zr_dgram_fail f[ZR_DGRAM_OUT_FAILS];
	unsigned n = zr_dgram_out_take_failures(&h->dgram_out, f,
						ZR_DGRAM_OUT_FAILS);

	for (unsigned i = 0; i < n; i++) {
		int handle = (int)(uint32_t)f[i].tag;
		struct zr_sock *s = sock_get(h, handle, SK_DGRAM);
		struct zt_endpoint to;

		if (!s || s->gen != (uint32_t)(f[i].tag >> 32) || !s->cookie)
			continue;
		zr_sockaddr_to_ep(&f[i].to, &to);
		zt_router_dgram_send_failed(h->router, s->cookie, &to, f[i].data,
					    f[i].len, -f[i].err, h->now);
	}
}

/*
 * The next events, as epoll_wait() returns them. With resumes pending it
 * does not wait. With busy polling on and polls granted (a new upstream
 * socket grants some, grant_busy_polls()), it polls (sched_yield()
 * between polls, so that anything runnable on this CPU goes first) for up
 * to the window before it sleeps: an event that comes within it is met
 * without the wake-up of a sleeping thread, which costs tens of
 * microseconds where an idle CPU halts (a VM's vCPU; docs/performance.md).
 */
static int wait_events(struct zr_host *h, struct epoll_event *evs)
{
	uint64_t window = h->cfg.busy_poll_ns, t0;
	int n;

	if (h->n_resumes || !h->busy_polls)
		return epoll_wait(h->epfd, evs, MAX_EVENTS,
				  h->n_resumes ? 0 : wait_ms(h));
	n = epoll_wait(h->epfd, evs, MAX_EVENTS, 0);
	if (n != 0)
		return n;
	h->busy_polls--;
	h->stats.busy_poll_spins++;
	t0 = zr_now();
	do {
		sched_yield();
		n = epoll_wait(h->epfd, evs, MAX_EVENTS, 0);
	} while (n == 0 && zr_now() - t0 < window);
	if (n == 0)
		return epoll_wait(h->epfd, evs, MAX_EVENTS, wait_ms(h));
	if (n > 0)
		h->stats.busy_poll_caught++;
	return n;
}

/* Once, when the SOCKS5 proxy first refuses a UDP ASSOCIATE as a command
 * it does not support (microsocks): every UDP flow through it will fail
 * but DNS, which goes over TCP from then on (or from the start with
 * --dns-over-tcp; with --no-dns-tcp-fallback it fails too). */
static void warn_no_udp(struct zr_host *h)
{
	if (h->warned_no_udp ||
	    !zt_router_stats(h->router)->socks5_udp_unsupported)
		return;
	h->warned_no_udp = true;
	if (h->cfg.dns_over_tcp)
		zr_warn("the SOCKS5 proxy does not support UDP ASSOCIATE (reply 7): UDP through it other than DNS (--dns-over-tcp) is refused");
	else if (h->cfg.dns_tcp_fallback)
		zr_warn("the SOCKS5 proxy does not support UDP ASSOCIATE (reply 7): UDP through it is refused, but DNS, which goes over TCP through it from now on (--no-dns-tcp-fallback refuses it too)");
	else
		zr_warn("the SOCKS5 proxy does not support UDP ASSOCIATE (reply 7): UDP through it is refused, DNS included (--no-dns-tcp-fallback)");
}

/* Each proxy's health as the router keeps it (zt_router_proxy_down()),
 * logged as it changes: down, new flows through it are refused at once
 * but for a probe, until a connection to it opens again. A down proxy
 * whose address changed (SIGHUP, --proxy-refresh: the router takes the
 * new one as up) is said to have moved, not to answer: nothing did. */
static void watch_proxies(struct zr_host *h)
{
	static const enum zt_route_decision kinds[2] = { ZT_ROUTE_SOCKS5,
							 ZT_ROUTE_HTTP };

	for (unsigned i = 0; i < 2; i++) {
		const struct zt_endpoint *ep =
			zt_router_proxy_server(h->router, kinds[i]);
		bool down = zt_router_proxy_down(h->router, kinds[i]);
		bool was = h->stats.proxy_down[i] != 0;
		const char *what = i ? "HTTP" : "SOCKS5";
		char at[ZT_ADDR_STRLEN + 300], old[ZT_ADDR_STRLEN + 300];
		bool moved;

		if (!ep)
			continue;
		moved = was && !zt_endpoint_eq(ep, &h->px_down_at[i]);
		if (down == was && !moved)
			continue;
		h->stats.proxy_down[i] = down;
		ep_format(ep, at, sizeof(at));
		if (moved) {
			ep_format(&h->px_down_at[i], old, sizeof(old));
			zr_info("the %s proxy moved from %s, which could not be reached, to %s: new flows through it go to %s",
				what, old, at, at);
		}
		if (down) {
			h->px_down_at[i] = *ep;
			zr_warn("the %s proxy %s cannot be reached (a connect to it failed or timed out): new flows through it are refused at once until it answers; one at a time tries it",
				what, at);
		} else if (!moved) {
			zr_info("the %s proxy %s answers again: new flows go through it",
				what, at);
		}
	}
}

/* --stats-file: written when due, then every --stats-interval. */
static void stats_tick(struct zr_host *h)
{
	if (h->stats_due > h->now)
		return;
	zr_host_write_stats(h);
	h->stats_due = h->now + h->cfg.stats_interval_ns;
}

/* The owner's periodic work (ztun-ref: --proxy-refresh, old proxy
 * addresses), when due. */
static void owner_tick(struct zr_host *h)
{
	if (h->tick_due > h->now)
		return;
	h->tick_due = h->now + h->cfg.tick_interval_ns;
	h->cfg.on_tick(h->cfg.tick_user);
}

/**
 * zr_host_run() - the event loop.
 * @h: the host, with its router set
 *
 * Return: 0 after SIGINT/SIGTERM, or a negative errno when the TUN failed.
 */
int zr_host_run(struct zr_host *h)
{
	struct epoll_event evs[MAX_EVENTS];

	h->now = zr_now();
	stats_tick(h); /* the file exists from the start */
	arm_timer(h);
	while (!h->stop) {
		int n = wait_events(h, evs);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			zr_err("epoll_wait: %s", strerror(errno));
			return -errno;
		}
		h->now = zr_now();
		/* datagrams go out in as few sends as they can, before the
		 * loop waits again (dgram_out.h) */
		zr_dgram_out_hold(&h->dgram_out);
		for (int i = 0; i < n && !h->stop; i++) {
			uint32_t idx = (uint32_t)evs[i].data.u64;
			uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);

			if (idx == TOK_TUN) {
				tun_readable(h);
			} else if (idx == TOK_TIMER) {
				uint64_t ticks;

				if (read(h->tfd, &ticks, sizeof(ticks)) < 0 &&
				    errno != EAGAIN)
					zr_debug("timerfd: %s", strerror(errno));
				h->armed = ZT_TIME_NEVER;
			} else if (idx == TOK_SIGNAL) {
				signal_readable(h);
			} else if (idx == TOK_WATCH) {
				if (h->watch_ready)
					h->watch_ready(h->watch_user);
			} else {
				sock_event(h, gen, idx, evs[i].events);
			}
		}
		run_resumes(h);
		if (zt_router_deadline(h->router) <= h->now) {
			zt_router_poll(h->router, h->now);
			run_resumes(h);
		}
		zr_dgram_out_release(&h->dgram_out);
		report_send_failures(h);
		warn_no_udp(h);
		watch_proxies(h);
		stats_tick(h);
		owner_tick(h);
		arm_timer(h);
	}
	return h->fatal;
}

/* --- setup and statistics ----------------------------------------------- */

static int ep_add(int epfd, int fd, uint32_t tok)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = tok;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/**
 * zr_host_new() - a host for a TUN device.
 * @cfg: egress binding and mark (copied)
 * @tun: the TUN driver (copied; its ctx borrowed)
 * @tun_fd: the descriptor to poll for the TUN's packets
 *
 * Return: the host or NULL with errno set.
 */
struct zr_host *zr_host_new(const struct zr_host_config *cfg,
			    const struct zt_tun_driver *tun, int tun_fd)
{
	struct zr_host *h = calloc(1, sizeof(*h));
	sigset_t mask;
	int err;

	if (!h)
		return NULL;
	h->cfg = *cfg;
	h->tun = *tun;
	h->free_head = -1;
	zr_dgram_out_init(&h->dgram_out, &h->stats);
	h->epfd = h->tfd = h->sfd = h->watch_fd = -1;
	h->armed = h->unarmed = ZT_TIME_NEVER;
	h->start = zr_now();
	h->stats_due = cfg->stats_file ? h->start : ZT_TIME_NEVER;
	h->tick_due = cfg->on_tick && cfg->tick_interval_ns ?
			      h->start + cfg->tick_interval_ns :
			      ZT_TIME_NEVER;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, &h->oldmask) < 0)
		goto fail;
	h->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	h->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (h->sfd < 0 || h->epfd < 0 || h->tfd < 0)
		goto fail;
	if (ep_add(h->epfd, tun_fd, TOK_TUN) < 0 ||
	    ep_add(h->epfd, h->tfd, TOK_TIMER) < 0 ||
	    ep_add(h->epfd, h->sfd, TOK_SIGNAL) < 0)
		goto fail;
	return h;
fail:
	err = errno;
	zr_host_free(h);
	errno = err;
	return NULL;
}

/**
 * zr_host_watch() - call @ready(@user) from the loop while @fd is readable.
 * @h: the host
 * @fd: the descriptor (borrowed: the caller closes it, after a call with
 *      another or -1), or -1 to stop watching
 * @ready: called between other events; it must make @fd not readable
 *      (read it, or stop watching it)
 * @user: its argument
 *
 * One descriptor at a time: a call replaces the last one's watch.
 * Return: 0 or a negative errno (then nothing is watched).
 */
int zr_host_watch(struct zr_host *h, int fd, void (*ready)(void *user),
		  void *user)
{
	if (h->watch_fd >= 0)
		epoll_ctl(h->epfd, EPOLL_CTL_DEL, h->watch_fd, NULL);
	h->watch_fd = -1;
	h->watch_ready = NULL;
	if (fd < 0)
		return 0;
	if (ep_add(h->epfd, fd, TOK_WATCH) < 0)
		return -errno;
	h->watch_fd = fd;
	h->watch_ready = ready;
	h->watch_user = user;
	return 0;
}

/**
 * zr_host_set_router() - attach the router the host drives.
 * @h: the host
 * @r: the router (borrowed; free it before the host)
 */
unsigned zr_host_streams_to(const struct zr_host *h, const struct zt_addr *addr)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < h->nsocks; i++) {
		const struct zr_sock *s = h->socks[i];

		n += s->fd >= 0 && s->kind == SK_STREAM &&
		     zt_addr_eq(&s->peer, addr);
	}
	return n;
}

void zr_host_set_router(struct zr_host *h, struct zt_router *r)
{
	h->router = r;
}

/**
 * zr_host_stats() - the host's own counters.
 * @h: the host
 *
 * Return: the counters, borrowed from @h.
 */
const struct zr_host_stats *zr_host_stats(const struct zr_host *h)
{
	return &h->stats;
}

/* Datagrams the kernel dropped on the upstream sockets, closed or open. */
static uint64_t dgram_rx_dropped(const struct zr_host *h)
{
	uint64_t n = h->stats.dgram_rx_dropped_closed;

	for (uint32_t i = 0; i < h->nsocks; i++)
		if (h->socks[i] && h->socks[i]->kind == SK_DGRAM)
			n += sock_rx_drops(h->socks[i]->fd);
	return n;
}

/* The host's, router's, stack's and resolver's counters now (stats.h);
 * the caller frees them. NULL without memory. */
static struct zr_stats *collect_stats(struct zr_host *h)
{
	struct zr_stats *st = malloc(sizeof(*st));
	const struct zt_stack *s = zt_router_stack(h->router);
	uint32_t states[ZT_TCP_TIME_WAIT + 1];
	struct zt_tcb_stats tcp;

	if (!st)
		return NULL;
	zt_stack_tcp_states(s, states);
	zt_stack_tcp_totals(s, &tcp);
	zr_stats_collect(st, &h->stats, zt_router_stats(h->router),
			 zt_stack_stats(s), zt_router_fakedns_stats(h->router),
			 zt_nat_stats(zt_router_nat(h->router)), states, &tcp,
			 dgram_rx_dropped(h));
	return st;
}

/**
 * zr_host_print_stats() - host, router and stack counters to stderr, one
 * "ztun-ref: stats: ..." line per group (format in docs/cli.md), in one
 * write: stderr is unbuffered, and printed piece by piece another
 * writer's line could fall inside it. Piecewise only without memory.
 * @h: the host
 * @title: why they are printed ("SIGUSR1", "exit")
 */
void zr_host_print_stats(struct zr_host *h, const char *title)
{
	struct zr_stats *st = collect_stats(h);
	char *buf = NULL;
	size_t len = 0;
	FILE *text;

	if (!st) {
		zr_err("no memory for the statistics");
		return;
	}
	text = open_memstream(&buf, &len);
	if (text) {
		zr_stats_text(text, st, title, zr_now() - h->start);
		if (fclose(text) == 0)
			fwrite(buf, 1, len, stderr);
		free(buf);
	} else {
		zr_stats_text(stderr, st, title, zr_now() - h->start);
	}
	free(st);
}

/**
 * zr_host_write_stats() - the counters into the --stats-file, if any
 * (stats.h: Prometheus text format, replaced whole); a failure is logged,
 * once until a write succeeds again.
 * @h: the host
 */
void zr_host_write_stats(struct zr_host *h)
{
	struct zr_stats *st;
	int err;

	if (!h->cfg.stats_file)
		return;
	st = collect_stats(h);
	err = st ? zr_stats_write_file(h->cfg.stats_file, st,
				       zr_now() - h->start) : -ENOMEM;
	free(st);
	if (err && !h->stats_file_failing)
		zr_warn("--stats-file %s: %s", h->cfg.stats_file, strerror(-err));
	else if (!err && h->stats_file_failing)
		zr_info("--stats-file %s: written again", h->cfg.stats_file);
	h->stats_file_failing = err != 0;
}

/**
 * zr_host_free() - close every socket still open and free @h.
 * @h: the host, or NULL
 *
 * Restores the signal mask zr_host_new() found.
 */
void zr_host_free(struct zr_host *h)
{
	if (!h)
		return;
	zr_dgram_out_release(&h->dgram_out);
	for (uint32_t i = 0; i < h->nsocks; i++) {
		struct zr_sock *s = h->socks[i];

		if (s->kind != SK_FREE)
			sock_release(h, s, (int)i, false);
		free(s);
	}
	free(h->socks);
	free(h->resumes);
	if (h->epfd >= 0)
		close(h->epfd);
	if (h->tfd >= 0)
		close(h->tfd);
	if (h->sfd >= 0) {
		close(h->sfd);
		sigprocmask(SIG_SETMASK, &h->oldmask, NULL);
	}
	free(h);
}
