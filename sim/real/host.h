/* SPDX-License-Identifier: MIT */
/*
 * host.h - the real-mode host of the ztun core: an epoll loop over a TUN
 * device, non-blocking sockets (struct zt_upstream_ops), a timerfd at the
 * router's deadline and a signalfd.
 *
 * Theory of operation: zr_host_new() wires a router to a TUN (both
 * borrowed) and owns every upstream socket the router opens. zr_host_run()
 * loops until SIGINT/SIGTERM (or a fatal TUN error): each wake-up reads
 * CLOCK_MONOTONIC once and passes that time to every core call it makes.
 * SIGUSR1 prints statistics (zr_host_print_stats()) and writes the
 * --stats-file, which is also rewritten every --stats-interval. Details
 * of the socket contract are at the top of host.c.
 */
#ifndef ZTUN_REAL_HOST_H
#define ZTUN_REAL_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>
#include <sys/socket.h>

#include "io/tun_driver.h"
#include "ztun/router.h"

struct zr_host_config {
	char egress[IF_NAMESIZE]; /* SO_BINDTODEVICE for direct egress, "" none */
	uint32_t mark;            /* SO_MARK on every upstream socket */
	bool use_mark;
	uint64_t busy_poll_ns;    /* poll this long before sleeping, 0: off */
	uint32_t udp_rcvbuf;      /* SO_RCVBUF(FORCE) of datagram sockets, 0: leave */
	bool dns_over_tcp;        /* --dns-over-tcp (what a warning says) */
	bool dns_tcp_fallback;    /* not --no-dns-tcp-fallback (likewise) */
	const char *stats_file;   /* --stats-file (borrowed), NULL: none */
	uint64_t stats_interval_ns; /* ... rewritten this often */
	/* SIGHUP: called from the loop, between events (NULL: ignored) */
	void (*on_hangup)(void *user);
	void *hangup_user;
	/* Called from the loop every tick_interval_ns, the first time one
	 * interval after start (NULL or 0: never) */
	void (*on_tick)(void *user);
	void *tick_user;
	uint64_t tick_interval_ns;
};

/* Busy polls each new upstream socket grants (a short connection's loop
 * waits about four times: the proxy's reply, the client's data, the
 * target's answer, the close), and the most the loop keeps in hand. */
#define ZR_BUSY_POLL_GRANT 8u
#define ZR_BUSY_POLL_GRANT_MAX 64u

struct zr_host_stats {
	uint64_t tun_rx_packets, tun_rx_bytes;
	uint64_t tun_tx_packets, tun_tx_bytes;
	uint64_t tun_tx_errors;
	uint64_t tun_rx_too_long;  /* reads longer than the buffer: dropped */
	uint64_t tun_rx_bad_vnet;  /* reads with a virtio-net header the
				    * kernel never makes: dropped */
	uint64_t tun_rx_offloaded; /* reads the kernel left partial (vnet) */
	uint64_t tun_tx_gso;       /* TSO segments the kernel cut */
	uint64_t tun_rx_udp_gso;   /* reads of a client's UDP_SEGMENT send */
	uint64_t tun_rx_udp_gso_bad; /* ... that could not be cut: lost */
	uint64_t streams_opened, streams_open_errors, streams_failed;
	uint64_t stream_pauses;    /* the core took less: reading paused */
	uint64_t stream_short_sends; /* stream_send took less: EPOLLOUT */
	uint64_t dgrams_opened, dgram_send_errors, dgram_rx;
	uint64_t dgram_rx_dropped_closed; /* kernel drops of closed sockets */
	uint64_t dgram_tx;         /* datagrams the kernel took */
	uint64_t dgram_send_calls; /* sendto/sendmsg/sendmmsg calls for them */
	uint64_t dgram_gso_sends;  /* UDP_SEGMENT sends ... */
	uint64_t dgram_gso_segs;   /* ... and the datagrams they carried */
	uint64_t dgram_ttl_sets;   /* setsockopt calls for a client's TTL */
	uint64_t dgram_tos_sets;   /* ... and for its traffic class */
	uint64_t dgram_df_sets;    /* ... and for its DF (IP_MTU_DISCOVER) */
	uint64_t dgram_path_mtu_asks; /* path MTUs asked after EMSGSIZE */
	uint64_t stream_dscp_sets; /* ... and for a TCP client's DSCP */
	uint64_t stream_ttl_sets;  /* ... and for a SYN's TTL below the default */
	uint64_t sockets_open;     /* right now */
	uint64_t descriptor_shortages; /* opens that failed with EMFILE/ENFILE */
	uint64_t busy_poll_spins;  /* times the loop polled before sleeping */
	uint64_t busy_poll_caught; /* ... and met an event doing so */
	uint64_t proxy_down[2];    /* SOCKS5, HTTP: 1 while down (a gauge,
				    * as the router said when last asked) */
};

struct zr_host;

/* The upstream ops of every zr_host (pass to zt_router_new with the host). */
extern const struct zt_upstream_ops zr_host_upstream_ops;
/* The tun_output callback for zt_router_new (host as its @host). */
void zr_host_tun_output(void *host, const uint8_t *pkt, size_t len);
/* The tun_output_gso callback (zt_router_config) for the same host. */
void zr_host_tun_output_gso(void *host, const struct zt_pkt_parts *pkt,
			    uint32_t seg_size);

/*
 * zr_host_new() - a host for the TUN behind @tun (copied; its ctx is
 * borrowed and must outlive the host), polled through descriptor @tun_fd.
 * Blocks SIGINT, SIGTERM and SIGUSR1 for the calling thread (they are read
 * from a signalfd) and ignores SIGPIPE.
 * Return: the host, or NULL with errno set.
 */
struct zr_host *zr_host_new(const struct zr_host_config *cfg,
			    const struct zt_tun_driver *tun, int tun_fd);
/* Attach the router (borrowed); call once, before zr_host_run(). */
void zr_host_set_router(struct zr_host *h, struct zt_router *r);
/* Run until a stop signal. Return: 0, or a negative errno on a fatal
 * error (the TUN failed). */
int zr_host_run(struct zr_host *h);
/* Statistics of the host, the router and its stack to stderr. */
void zr_host_print_stats(struct zr_host *h, const char *title);
/* ... and into the --stats-file (nothing without one). */
void zr_host_write_stats(struct zr_host *h);
const struct zr_host_stats *zr_host_stats(const struct zr_host *h);
/* The current CLOCK_MONOTONIC time in ns. */
uint64_t zr_now(void);
/* How many upstream streams are open (or opening) to @addr: ztun-ref's
 * --auto-route keeps a moved proxy's old host route while any is. */
unsigned zr_host_streams_to(const struct zr_host *h, const struct zt_addr *addr);
/* Call @ready(@user) from the loop while @fd (borrowed) is readable; one
 * descriptor at a time, -1 stops. Return: 0 or a negative errno. */
int zr_host_watch(struct zr_host *h, int fd, void (*ready)(void *user),
		  void *user);
/* Close every socket the host still holds and free it. Free the router
 * first: it closes its upstreams through the host. */
void zr_host_free(struct zr_host *h);

/* @ss (AF_INET or AF_INET6) as an endpoint; any other family leaves
 * @ep zeroed. */
void zr_sockaddr_to_ep(const struct sockaddr_storage *ss,
		       struct zt_endpoint *ep);

#endif /* ZTUN_REAL_HOST_H */
