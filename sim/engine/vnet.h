/* SPDX-License-Identifier: MIT */
/*
 * vnet.h - a virtual upstream network on the simulator's event loop.
 *
 * The vnet is what a zt_router reaches through its zt_upstream_ops in
 * ztun-sim: emulated TCP connections and UDP datagrams between the router's
 * upstream sockets and emulated hosts (vhosts.h), with a one-way latency
 * (1 ms by default) on everything. Nothing is delivered synchronously: every
 * connect outcome, byte, FIN, reset and datagram arrives through an event of
 * the loop, so the router is never re-entered from its own calls.
 *
 * Streams. A connection has two ends (struct zt_vnet_sock): the opener's
 * and the listener's. Each direction is a pipe of at most `buf` bytes
 * (bytes in flight plus bytes arrived and not yet taken): a send takes only
 * what fits, and the writer is told `writable` one latency after the reader
 * freed room. The reader is offered the bytes that arrived; when it takes
 * fewer than offered the end is paused until zt_vnet_resume(). A shutdown
 * sends FIN after the queued bytes (the reader sees eof once it took them
 * all); an abort, or a close with bytes that arrived unread (Linux's
 * close(): "data was lost"), resets the peer, which is told `failed` with
 * -ECONNRESET one latency later; bytes that reach an end that closed
 * (sent after the close, or still in flight at it, behind its FIN) are
 * answered with a reset one latency after they arrive, as a Linux stack
 * answers data after close(). Connecting to
 *   - a blackholed address fails with -ETIMEDOUT after connect_timeout;
 *   - an address with no name or route known, -EHOSTUNREACH after a latency;
 *   - an (address, port) nobody listens on, or a listener that refuses,
 *     -ECONNREFUSED after a latency;
 * and otherwise both ends are connected one latency after the open. A
 * router stream the router asked to keep alive (stream_keepalive) fails
 * with -ETIMEDOUT when its probes find the peer's address blackholed
 * (zt_vnet_blackhole() after the connect: a host that vanished, a NAT
 * on the way that forgot the connection), as keepalive.h times them.
 *
 * Datagrams. Bindings are (address, port) pairs; a datagram is delivered
 * one latency after it was sent to the binding of its destination, or
 * dropped (counted) when there is none, or when the destination is
 * blackholed. When there is none the destination answers with an ICMP port
 * unreachable, and a prefix may be set to answer with an ICMP error of
 * any kind (zt_vnet_icmp_error), or put routers on the way to it
 * (zt_vnet_hops) where a datagram sent with too small a TTL dies with a
 * time exceeded; the error reaches a router socket one latency later as
 * zt_router_dgram_error() (other senders do not hear it, as a socket
 * without IP_RECVERR would not). The router's datagram sockets are bound
 * to the vnet's egress address of their family and an ephemeral port, and
 * send with TTL 64, traffic class 0 and no DF until the router sets
 * others (dgram_set_header); a link of a smaller MTU on the way
 * (zt_vnet_path_mtu) answers what it cannot pass as a router or the
 * egress's kernel would.
 *
 * Ownership: the vnet owns every connection, binding and datagram in
 * flight, and frees them all at zt_vnet_free(), after calling the release
 * hook of each listener (so emulated hosts free their sessions). The
 * simulator loop is borrowed and must outlive the vnet.
 *
 * This is host code; it is not part of the pure core.
 */
#ifndef ZTUN_SIM_VNET_H
#define ZTUN_SIM_VNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/evloop.h"
#include "ztun/router.h"
#include "ztun/upstream.h"

struct zt_vnet_config {
	uint64_t latency;          /* one-way, ns (1 ms) */
	uint64_t connect_timeout;  /* a blackholed connect fails after (20 s) */
	size_t buf;                /* bytes per stream direction (256 KiB) */
	struct zt_addr egress4;    /* source of the router's sockets (192.0.2.1) */
	struct zt_addr egress6;    /* (2001:db8::1) */
	unsigned max_sockets;      /* the router's streams and datagram
				    * sockets open at once; past it opens
				    * fail with -EMFILE, as at a descriptor
				    * limit (0: no limit) */
};

void zt_vnet_config_default(struct zt_vnet_config *cfg);

struct zt_vnet_stats {
	uint64_t streams_opened;   /* router stream_open calls that started */
	uint64_t streams_open;     /* router stream handles open now */
	uint64_t stream_closes;    /* router stream_close calls */
	uint64_t stream_shutdowns; /* router stream_shutdown calls */
	uint64_t dgrams_opened, dgrams_open, dgram_closes;
	uint64_t refused;          /* connects refused (any opener) */
	uint64_t timed_out;        /* connects to a blackhole */
	uint64_t unreachable;      /* connects to an unknown name */
	uint64_t resets;           /* resets delivered to a live end */
	uint64_t bytes_to_hosts;   /* stream bytes the router sent */
	uint64_t bytes_to_router;  /* stream bytes the router took */
	uint64_t max_pipe;         /* most bytes ever held in one pipe */
	uint64_t router_sends;     /* router stream_send calls that took bytes */
	uint64_t max_send;         /* most bytes one of them took */
	uint64_t datagrams_sent, datagrams_delivered, datagrams_dropped;
	uint64_t icmp_errors;      /* ICMP errors sent back to router sockets */
	uint64_t header_sets;      /* router dgram_set_header calls */
	uint8_t last_tclass;       /* the traffic class the latest datagram
				    * or ping of a router socket left with */
	bool last_df;              /* ... and whether with DF (IPv6: not to
				    * be fragmented by the egress) */
	struct zt_endpoint last_to; /* ... and where it went */
	struct zt_endpoint last_from; /* ... and from where (the socket's
				       * egress address and port) */
	uint64_t path_mtu_asks;    /* router dgram_path_mtu calls */
	uint64_t dscp_sets;        /* router stream_set_dscp calls ... */
	uint64_t dscp_opens;       /* ... stream_open with a DSCP ... */
	uint64_t emfile;           /* opens failed at max_sockets */
	uint8_t last_dscp;         /* ... and the latest one's DSCP */
	uint8_t last_stream_ttl;   /* the TTL the latest stream_open's SYN
				    * left with (zt_vnet_hops) */
	uint64_t router_batches;   /* zt_router_dgram_batch() calls ... */
	uint64_t router_batch_datagrams; /* ... and the datagrams in them */
	uint64_t bad_handle;       /* router calls with a handle not open */
	uint64_t keepalive_sets;   /* router stream_keepalive calls ... */
	uint64_t keepalive_timeouts; /* ... and streams they ended: the
				      * peer's address blackholed */
};

struct zt_vnet;
struct zt_vnet_sock;

/* What the owner of one end hears; @ctx is the owner's pointer. */
struct zt_vnet_sock_ops {
	void (*connected)(void *ctx, struct zt_vnet_sock *s);
	/* The end is dead (refused, timed out, reset) and already closed:
	 * the owner must forget @s. */
	void (*failed)(void *ctx, struct zt_vnet_sock *s, int err);
	/* Bytes (borrowed); return how many were taken: fewer pauses the end
	 * until zt_vnet_resume(). */
	size_t (*data)(void *ctx, struct zt_vnet_sock *s, const uint8_t *p,
		       size_t n);
	void (*eof)(void *ctx, struct zt_vnet_sock *s);
	void (*writable)(void *ctx, struct zt_vnet_sock *s);
};

/* Accept @s (set its owner with zt_vnet_sock_own) and return 0, or return
 * a negative errno to refuse the connection. */
typedef int (*zt_vnet_accept_fn)(void *ctx, struct zt_vnet_sock *s);
/* A datagram for a binding, which arrived with traffic class @tclass
 * (zt_vnet_mark): @from and @data are borrowed. */
typedef void (*zt_vnet_recv_fn)(void *ctx, const struct zt_endpoint *from,
				const uint8_t *data, size_t len, uint8_t tclass);

/* The router's upstream ops; the host pointer is the struct zt_vnet. */
extern const struct zt_upstream_ops zt_vnet_upstream_ops;

/* A vnet on @sim (borrowed) with @cfg (copied; NULL for the defaults). */
struct zt_vnet *zt_vnet_new(struct zt_sim *sim, const struct zt_vnet_config *cfg);
/* Free everything (no callbacks except the listeners' release hooks). */
void zt_vnet_free(struct zt_vnet *vn);
/* The router the upstream ops report to (borrowed; NULL to detach). */
void zt_vnet_set_router(struct zt_vnet *vn, struct zt_router *r);
struct zt_sim *zt_vnet_sim(struct zt_vnet *vn);
const struct zt_vnet_config *zt_vnet_config(const struct zt_vnet *vn);
const struct zt_vnet_stats *zt_vnet_stats(const struct zt_vnet *vn);

/* Connects to @prefix/@len (and datagrams to it) go nowhere, and keepalive
 * probes of router streams connected there go unanswered. 0 or -ENOSPC. */
int zt_vnet_blackhole(struct zt_vnet *vn, const struct zt_addr *prefix,
		      uint8_t len);
/* Datagrams and echo requests to @prefix/@len are answered with ICMP error
 * @type/@code (@prefix's family's numbering) from @origin. 0, -EINVAL or
 * -ENOSPC. */
int zt_vnet_icmp_error(struct zt_vnet *vn, const struct zt_addr *prefix,
		       uint8_t len, const struct zt_addr *origin, uint8_t type,
		       uint8_t code);
/* @hops routers stand on the way to @prefix/@len: a router socket's
 * datagram, echo request or connect's SYN sent there with a TTL / hop
 * limit of @hops or less dies at router TTL (address: @first_hop plus
 * TTL - 1 in its last byte), which answers with a time exceeded (a
 * connect fails with it, zt_router_stream_failed_icmp()). Router sockets
 * send with 64 until dgram_set_header, or ZT_UPSTREAM_TTL. 0, -EINVAL or
 * -ENOSPC. */
int zt_vnet_hops(struct zt_vnet *vn, const struct zt_addr *prefix, uint8_t len,
		 uint8_t hops, const struct zt_addr *first_hop);
/* Datagrams from @prefix/@len arrive with traffic class @tclass (IPv4
 * TOS: their senders' DSCP, or ECN marks such as a congested router's CE
 * on the way); others with that of their sender's socket (0 for the
 * emulated servers). 0, -EINVAL or -ENOSPC. */
int zt_vnet_mark(struct zt_vnet *vn, const struct zt_addr *prefix, uint8_t len,
		 uint8_t tclass);
/* A router socket's datagram or echo request to @prefix/@len fails at
 * once with @err (negative: -ENETUNREACH, -EHOSTUNREACH, -EACCES), as the
 * egress's own routing refuses it. 0, -EINVAL or -ENOSPC. */
int zt_vnet_unroutable(struct zt_vnet *vn, const struct zt_addr *prefix,
		       uint8_t len, int err);
/* A link of MTU @mtu on the way to @prefix/@len, at router @at or (NULL)
 * the egress's own: a datagram or echo request larger than it sent with
 * DF (any IPv6 one, past the egress: only the egress fragments those)
 * gets @at's fragmentation needed / packet too big, or fails its send
 * with -EMSGSIZE on the egress's link (dgram_path_mtu: @mtu). 0, -EINVAL
 * or -ENOSPC. */
int zt_vnet_path_mtu(struct zt_vnet *vn, const struct zt_addr *prefix,
		     uint8_t len, uint32_t mtu, const struct zt_addr *at);
/* A name the vnet resolves (copied). 0, -EINVAL or -ENOSPC. */
int zt_vnet_add_name(struct zt_vnet *vn, const char *name,
		     const struct zt_addr *addr);
/* Resolve @ep (an address, or a name added above). 0 or -EHOSTUNREACH. */
int zt_vnet_resolve(const struct zt_vnet *vn, const struct zt_endpoint *ep,
		    struct zt_addr *out);

/* --- streams ---------------------------------------------------------- */

/*
 * zt_vnet_listen() - accept connections to @addr:@port with @accept.
 * @accept:  NULL registers only @release (for hosts that do not listen)
 * @release: optional, called with @ctx at zt_vnet_free()
 * Return: 0, -EADDRINUSE or -ENOMEM.
 */
int zt_vnet_listen(struct zt_vnet *vn, const struct zt_addr *addr,
		   uint16_t port, zt_vnet_accept_fn accept,
		   void (*release)(void *ctx), void *ctx);
/* Open a connection to @ep; the outcome comes through @ops. NULL: no memory. */
struct zt_vnet_sock *zt_vnet_connect(struct zt_vnet *vn,
				     const struct zt_endpoint *ep,
				     const struct zt_vnet_sock_ops *ops,
				     void *ctx);
void zt_vnet_sock_own(struct zt_vnet_sock *s, const struct zt_vnet_sock_ops *ops,
		      void *ctx);
/* Bytes taken (0 when the pipe is full: wait for writable), or -EPIPE. */
ssize_t zt_vnet_send(struct zt_vnet_sock *s, const void *data, size_t len);
/* Bytes the pipe toward the peer can still take. */
size_t zt_vnet_send_space(const struct zt_vnet_sock *s);
void zt_vnet_shutdown(struct zt_vnet_sock *s);
/* Close: FIN (or RST when bytes arrived unread; bytes still in flight
 * bring a reset back behind the FIN); @s is gone after. */
void zt_vnet_close(struct zt_vnet_sock *s);
/* Close with RST. */
void zt_vnet_abort(struct zt_vnet_sock *s);
/* Offer held bytes again (from an event: never re-enters the caller). */
void zt_vnet_resume(struct zt_vnet_sock *s);
/* The address and port of the peer / of this end. */
void zt_vnet_sock_peer(const struct zt_vnet_sock *s, struct zt_endpoint *out);
void zt_vnet_sock_local(const struct zt_vnet_sock *s, struct zt_endpoint *out);

/* --- datagrams --------------------------------------------------------- */

/* Bind @addr:@port (port 0: an ephemeral one). Return the port or -EADDRINUSE. */
int zt_vnet_udp_bind(struct zt_vnet *vn, const struct zt_addr *addr,
		     uint16_t port, zt_vnet_recv_fn recv, void *ctx);
void zt_vnet_udp_unbind(struct zt_vnet *vn, const struct zt_addr *addr,
			uint16_t port);
/* Send @data (copied) from @from to @to. 0, -EHOSTUNREACH or -ENOMEM. */
int zt_vnet_udp_send(struct zt_vnet *vn, const struct zt_endpoint *from,
		     const struct zt_endpoint *to, const void *data, size_t len);

/* Where the router's datagram socket @handle (in opening order, from 0) is
 * bound. 0 or -EBADF (never opened, or closed). */
int zt_vnet_dgram_local(struct zt_vnet *vn, int handle, struct zt_endpoint *out);
/* The router's cookie of datagram socket @handle (for a test that hands
 * the router a batch itself), or NULL. */
void *zt_vnet_dgram_cookie(struct zt_vnet *vn, int handle);

#endif /* ZTUN_SIM_VNET_H */
