/* SPDX-License-Identifier: MIT */
/*
 * slirp_egress.h - libslirp as a Direct/NAT egress that needs no privileges.
 *
 * Theory of operation
 * -------------------
 * A struct zt_slirp_egress owns one libslirp instance (the user-mode NAT of
 * QEMU and slirp4netns) on the virtual network 10.0.2.0/24: we are the
 * "guest" 10.0.2.15, slirp is the gateway 10.0.2.2 and reaches the world
 * through the host's ordinary sockets; a connection to the gateway itself
 * goes to the host's loopback (127.0.0.1). libslirp speaks Ethernet, so this
 * glue adds and strips Ethernet headers, answers slirp's ARP requests for
 * our address and learns slirp's MAC from its frames (IPv4 only: no NDP).
 * The TCP emulation of libslirp (enable_emu) is off, as is its DNS/DHCP.
 *
 * On top of that sits a userspace dial API shaped as struct zt_upstream_ops:
 *   TCP  each stream is our own zt_tcb in active open (ISN from a seeded
 *        zt_rng) from its own guest port; its segments are wrapped in IPv4 +
 *        Ethernet and handed to slirp_input(); slirp's frames for that port
 *        are fed to the tcb.
 *   UDP  each datagram socket is a guest port; datagrams are built with
 *        zt_udp_emit() + IPv4 + Ethernet; replies to that port are reported.
 *        There are no ICMP echo sockets: dgram_open with
 *        ZT_UPSTREAM_ICMP_ECHO fails with -EOPNOTSUPP.
 * Reports go to a sink: a zt_router (zt_slirp_egress_set_router(), through
 * the zt_router_stream_* / zt_router_dgram_data functions with the cookie
 * given at open) or any struct zt_slirp_sink.
 *
 * Loopback mapping (config map_loopback, on by default): an endpoint
 * 127.0.0.1 is dialled as 10.0.2.2, which slirp maps back to 127.0.0.1 on
 * the host, and a datagram from 10.0.2.2 is reported as from 127.0.0.1, so
 * the core sees the addresses it asked for. Other IPv4 destinations go
 * through slirp to the host's sockets unchanged. Names and IPv6 endpoints
 * are refused (-EINVAL / -EAFNOSUPPORT).
 *
 * Re-entrancy: frames slirp emits (even from inside slirp_input()) are only
 * queued; they are parsed, and every report is made, in the egress's pump,
 * which runs at the end of zt_slirp_egress_poll() and
 * zt_slirp_egress_pollfds_done() - never inside an ops call, a tcb call or
 * a libslirp call. The sink may call any ops function from a report,
 * including the close of the very stream being reported.
 *
 * Time and the host loop: the egress has no clock; the host passes `now`
 * (nanoseconds, monotonic), and slirp's clock_get_ns callback returns the
 * last `now` given. One turn of the host loop:
 *
 *	n = zt_slirp_egress_pollfds(e, &fds, now);   // slirp's sockets
 *	poll(fds, n, until zt_slirp_egress_deadline(e));
 *	zt_slirp_egress_pollfds_done(e, rc, now);    // read/write them, pump
 *	zt_slirp_egress_poll(e, now);                // timers, pump
 *
 * The deadline is the earliest of the tcbs' timers, slirp's timers, slirp's
 * own poll timeout, and "now" when work is queued (frames, a resumed
 * stream).
 *
 * Limits: IPv4 only; a datagram must fit one 1500-byte frame (no
 * fragmentation either way: fragments from slirp are dropped and counted).
 */
#ifndef ZTUN_SIM_SLIRP_EGRESS_H
#define ZTUN_SIM_SLIRP_EGRESS_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ztun/tcp.h"
#include "ztun/upstream.h"

struct zt_router;

struct zt_slirp_config {
	uint64_t seed;            /* ISNs and guest port choice */
	bool map_loopback;        /* 127.0.0.1 <-> 10.0.2.2 (default on) */
	uint32_t max_frames;      /* frames from slirp queued at most (4096) */
	struct zt_tcp_config tcp; /* our tcbs; MSS 1460 for slirp's MTU 1500 */
};

/* Fill @cfg with the defaults above. */
void zt_slirp_config_default(struct zt_slirp_config *cfg);

/*
 * Where reports go. Same contract as the zt_router_stream_* functions of
 * router.h: after stream_close()/dgram_close() nothing more is reported for
 * that handle, and after failed() the stream is gone (not closed again).
 */
struct zt_slirp_sink {
	void (*connected)(void *sink, void *cookie, uint64_t now);
	void (*failed)(void *sink, void *cookie, int err, uint64_t now);
	/* Bytes from the server (borrowed); returns how many were taken. */
	size_t (*data)(void *sink, void *cookie, const uint8_t *data,
		       size_t len, uint64_t now);
	void (*eof)(void *sink, void *cookie, uint64_t now);
	void (*writable)(void *sink, void *cookie, uint64_t now);
	void (*dgram_data)(void *sink, void *cookie,
			   const struct zt_endpoint *from, const uint8_t *data,
			   size_t len, uint64_t now);
};

struct zt_slirp_stats {
	uint64_t frames_in, frames_out;  /* from / to slirp */
	uint64_t frames_dropped;         /* queue full, bad, not for us */
	uint64_t fragments_dropped;
	uint64_t arp_replies;
	uint64_t tcp_no_stream;          /* segments for no stream (RST sent) */
	uint64_t udp_no_socket;
	uint64_t guest_errors;           /* slirp's guest_error callback */
};

struct zt_slirp_egress;

/* True when this build has libslirp (else every constructor fails). */
bool zt_slirp_available(void);

/*
 * zt_slirp_egress_new() - start a libslirp instance and its glue.
 * @cfg: copied
 * @now: the host's monotonic time in ns
 * Return: the egress (owned by the caller, zt_slirp_egress_free()), or
 * NULL: no memory, libslirp refused, or not built with libslirp.
 */
struct zt_slirp_egress *zt_slirp_egress_new(const struct zt_slirp_config *cfg,
					    uint64_t now);
/* Abort every stream (RST into slirp), shut slirp down and free. Nothing
 * is reported from here on; a router using @e must be freed first (it
 * closes its upstreams as it goes). */
void zt_slirp_egress_free(struct zt_slirp_egress *e);

/* Report to @sink_ops (borrowed, outlives the egress) with @sink. */
void zt_slirp_egress_set_sink(struct zt_slirp_egress *e,
			      const struct zt_slirp_sink *sink_ops, void *sink);
/* Report to @r through the zt_router_stream_* functions. */
void zt_slirp_egress_set_router(struct zt_slirp_egress *e,
				struct zt_router *r);

/* The upstream ops; their `host` argument is the struct zt_slirp_egress. */
extern const struct zt_upstream_ops zt_slirp_upstream_ops;

/* The same operations with a typed first argument (for hosts whose
 * upstream `host` pointer is something else and that forward to these). */
int zt_slirp_stream_open(struct zt_slirp_egress *e,
			 const struct zt_endpoint *ep, unsigned flags,
			 void *cookie, uint64_t now);
ssize_t zt_slirp_stream_send(struct zt_slirp_egress *e, int handle,
			     const void *data, size_t len);
void zt_slirp_stream_shutdown(struct zt_slirp_egress *e, int handle);
/* @abort: with a RST (the client's flow was reset), else a FIN. */
void zt_slirp_stream_close(struct zt_slirp_egress *e, int handle, bool abort);
void zt_slirp_stream_resume(struct zt_slirp_egress *e, int handle);
int zt_slirp_dgram_open(struct zt_slirp_egress *e, uint8_t family,
			uint16_t port, unsigned flags, void *cookie,
			uint64_t now);
int zt_slirp_dgram_send(struct zt_slirp_egress *e, int handle,
			const struct zt_endpoint *to, const void *data,
			size_t len);
void zt_slirp_dgram_close(struct zt_slirp_egress *e, int handle);

/*
 * zt_slirp_egress_pollfds() - the descriptors slirp wants watched.
 * @fds: set to an array owned by @e, valid until the next call; the host
 *       polls it (or copies it and copies the revents back)
 * Return: the number of entries.
 */
size_t zt_slirp_egress_pollfds(struct zt_slirp_egress *e, struct pollfd **fds,
			       uint64_t now);
/* After poll() on that array (@poll_rc: what poll returned): let slirp
 * serve its sockets, then pump. */
void zt_slirp_egress_pollfds_done(struct zt_slirp_egress *e, int poll_rc,
				  uint64_t now);
/* Run the tcbs' and slirp's expired timers, then pump. */
void zt_slirp_egress_poll(struct zt_slirp_egress *e, uint64_t now);
/* Earliest time the egress needs zt_slirp_egress_poll()/pollfds again
 * (ZT_TIME_NEVER: only when a descriptor is ready). */
uint64_t zt_slirp_egress_deadline(const struct zt_slirp_egress *e);

/* Streams and datagram sockets open (closed but lingering ones included). */
size_t zt_slirp_egress_streams(const struct zt_slirp_egress *e);
const struct zt_slirp_stats *zt_slirp_egress_stats(const struct zt_slirp_egress *e);

#endif /* ZTUN_SIM_SLIRP_EGRESS_H */
