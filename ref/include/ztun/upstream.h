/* SPDX-License-Identifier: MIT */
/*
 * upstream.h - how the core reaches the world beyond the TUN without doing
 * I/O itself: a stream/datagram ops table the host implements (real
 * non-blocking sockets in ztun-ref, emulated hosts in ztun-sim).
 *
 * Every stream and datagram socket the core opens carries a cookie (the
 * core's pointer for it); the host reports what happens on it by calling
 * the zt_router_stream_* / zt_router_dgram_* functions with that cookie.
 * After stream_close()/dgram_close() the host must not report anything
 * more for that cookie. A stream the host reported failed
 * (zt_router_stream_failed) is dead: the core does not close it again.
 * After an EOF the stream stays open for sending until stream_close().
 *
 * Back-pressure: stream_send() may take fewer bytes than offered (0 when
 * the socket is full); the host then calls zt_router_stream_writable()
 * once it can take more. In the other direction zt_router_stream_data()
 * returns how many bytes the core took; the host keeps the rest, stops
 * reading that socket, and offers them again after the core calls
 * stream_resume().
 *
 * A host that can read the ICMP errors the network sends back about a
 * datagram socket's sends (Linux: IP_RECVERR) reports each with
 * zt_router_dgram_error(); one that cannot simply never does.
 */
#ifndef ZTUN_UPSTREAM_H
#define ZTUN_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "ztun/addr.h"
#include "ztun/packet.h"

/* Where to connect: an address, or (for proxies) a host name. */
struct zt_endpoint {
	struct zt_addr addr;  /* used when name[0] == 0 */
	uint16_t port;
	char name[256];       /* domain name, NUL-terminated, or empty */
};

/* Whether @a and @b are the same endpoint: address, port and name. */
static inline bool zt_endpoint_eq(const struct zt_endpoint *a,
				  const struct zt_endpoint *b)
{
	return a->port == b->port && zt_addr_eq(&a->addr, &b->addr) &&
	       !strcmp(a->name, b->name);
}

/* Flags for stream_open / dgram_open. */
enum {
	ZT_UPSTREAM_DIRECT = 1u << 0, /* egress that can never loop into the TUN */
	/* dgram_open: an ICMP echo ("ping") socket of @family instead of a
	 * UDP one, @port unused. dgram_send sends one echo request to
	 * @to->addr, @data the whole ICMP message, header first; the host
	 * may put its own identifier and checksum in it. The host reports
	 * the echo replies it gets the same way (zt_router_dgram_*, the
	 * identifier the host's), one message per datagram. A host that has
	 * no such sockets fails the open (-EOPNOTSUPP, -EACCES). */
	ZT_UPSTREAM_ICMP_ECHO = 1u << 1,
};
/* stream_open of a direct flow: the DSCP (a traffic class, ECN bits
 * zero) the connection opens with, its SYN included, in bits 8-15 of
 * @flags (0: the host's default). A host with stream_set_dscp honours it. */
#define ZT_UPSTREAM_DSCP(d) (((unsigned)(d) & 0xfcu) << 8)
#define ZT_UPSTREAM_DSCP_OF(flags) ((uint8_t)((flags) >> 8))
/* ... and the TTL / hop limit of the client's SYN in bits 16-23 (0: the
 * host's default), which the upstream SYN leaves with, so that a router
 * on the way answers a SYN whose TTL runs out (traceroute -T, mtr --tcp
 * through the TUN see the path; zt_router_stream_failed_icmp()). The
 * connection keeps it: a SYN that arrived, the rest arrives with too. */
#define ZT_UPSTREAM_TTL(t) (((unsigned)(t) & 0xffu) << 16)
#define ZT_UPSTREAM_TTL_OF(flags) ((uint8_t)((flags) >> 16))

/* TCP keepalive for an upstream stream (stream_keepalive): after @idle
 * of silence from the peer, a probe, then one every @interval while
 * none is answered; @count unanswered end the stream, which the host
 * reports failed with -ETIMEDOUT. */
struct zt_keepalive {
	uint64_t idle;           /* ns, > 0 */
	uint64_t interval;       /* ns, > 0 */
	uint32_t count;          /* > 0 */
};

struct zt_upstream_ops {
	/* Start a TCP connection to @ep. Return a handle >= 0 (the outcome
	 * comes later through zt_router_stream_connected/failed) or a
	 * negative errno when it cannot even start. */
	int (*stream_open)(void *host, const struct zt_endpoint *ep,
			   unsigned flags, void *cookie, uint64_t now);
	/* Queue bytes (borrowed for the call); returns bytes taken (0 when
	 * full) or a negative errno. */
	ssize_t (*stream_send)(void *host, int handle, const void *data,
			       size_t len);
	/* Send FIN after what was taken. */
	void (*stream_shutdown)(void *host, int handle);
	/* Close; no more reports for this handle. With @abort by a reset
	 * (the client's flow ended by one: the far end must not take the end
	 * for a clean one); else a FIN after what was taken (RST if data is
	 * pending). */
	void (*stream_close)(void *host, int handle, bool abort);
	/* The core can take data again on @handle. */
	void (*stream_resume)(void *host, int handle);
	/* Optional (NULL: the host cannot tell): the address and port the
	 * connected stream @handle reached, what a name resolved to. 0 or a
	 * negative errno. */
	int (*stream_peer)(void *host, int handle, struct zt_endpoint *out);

	/* An unconnected UDP socket of @family; @port 0 = any. Return a
	 * handle >= 0 or a negative errno. */
	int (*dgram_open)(void *host, uint8_t family, uint16_t port,
			  unsigned flags, void *cookie, uint64_t now);
	/* Send one datagram (borrowed); returns 0 or a negative errno. */
	int (*dgram_send)(void *host, int handle, const struct zt_endpoint *to,
			  const void *data, size_t len);
	void (*dgram_close)(void *host, int handle);
	/* Optional (NULL: every datagram leaves with the host's defaults):
	 * what @handle sends from now on leaves with IP TTL / hop limit
	 * @hdr->ttl (1-255; 0: leave it as it is), traffic class
	 * @hdr->tclass (the IPv4 TOS byte or IPv6 traffic class: DSCP and
	 * ECN; the host's default is 0) and DF as @hdr->dont_frag says: with
	 * it a datagram larger than the path MTU the host knows fails with
	 * -EMSGSIZE and one larger than a link beyond comes back as that
	 * router's "fragmentation needed" / "packet too big"; without it
	 * (the default of a direct socket) the host fragments what is too
	 * large, and so do the routers on the way (IPv4). The core passes the client's
	 * own for direct and NAT flows, as a router would: the network's
	 * time exceeded names the hop where the datagram died (a traceroute
	 * through the TUN sees the path), the client's DSCP and ECN marks
	 * reach the network, and its path MTU discovery sees the path
	 * beyond the TUN. Called on a change only. Returns 0 or a negative
	 * errno. */
	int (*dgram_set_header)(void *host, int handle,
				const struct zt_fwd_hdr *hdr);
	/* Optional (NULL: a datagram failing with -EMSGSIZE is lost
	 * unanswered): the path MTU the host knows from @handle's socket
	 * toward @to, its own link's or a smaller one learned from the
	 * network; > 0, or a negative errno. */
	int (*dgram_path_mtu)(void *host, int handle,
			      const struct zt_endpoint *to);
	/* Optional (NULL: the host's default, 0): what stream @handle sends
	 * from now on leaves with DSCP @dscp (the traffic class's upper six
	 * bits, in place; ECN is the connection's own). The core passes the
	 * client's for direct flows, at open and whenever it changes (ssh
	 * marks its interactive sessions once they start). Returns 0 or a
	 * negative errno. */
	int (*stream_set_dscp)(void *host, int handle, uint8_t dscp);
	/* Optional (NULL: the host cannot, and a peer that vanishes without
	 * a FIN or RST is noticed only by what the host's stack does with
	 * data it sends): probe stream @handle's peer while it is silent,
	 * as @ka says (Linux: SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL,
	 * TCP_KEEPCNT), and report the stream failed (-ETIMEDOUT) when the
	 * probes go unanswered. Called at most once per stream, on a
	 * connected one: when a relayed flow's client shows that it keeps
	 * its own connection alive (its first keepalive probe; the core
	 * answers those itself, so the client would never learn of a dead
	 * upstream), and for a SOCKS5 UDP association's control connection,
	 * idle by nature. Returns 0 or a negative errno. */
	int (*stream_keepalive)(void *host, int handle,
				const struct zt_keepalive *ka);
};

#endif /* ZTUN_UPSTREAM_H */
