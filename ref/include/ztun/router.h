/* SPDX-License-Identifier: MIT */
/*
 * router.h - the forwarding engine: a route decision per flow, and the
 * relay of each flow to its upstream (direct, SOCKS5, HTTP CONNECT, NAT).
 *
 * The router owns a zt_stack (stack.h) for the TUN side and reaches
 * upstreams only through the host's zt_upstream_ops (upstream.h), so the
 * same router runs against emulated hosts in ztun-sim and real sockets in
 * ztun-ref. It stays a fixed engine: which way a flow goes is the route
 * callback's decision (zt_rules_route() serves the CLI's rule table).
 *
 * Decisions, per protocol:
 *   TCP   DIRECT/NAT  connect to the destination (egress, no loop)
 *         SOCKS5      CONNECT through the SOCKS5 proxy (no-auth or RFC 1929)
 *         HTTP        CONNECT through the HTTP proxy (optional Basic auth)
 *         DROP        silently, or RST/ICMP when the rule says reject
 *         LOCAL       RST: nothing listens on the TUN side
 *   UDP   DIRECT      one upstream datagram socket per flow (any port)
 *         NAT         the same, bound to a port the NAT table allocates
 *                     from its range; replies are checked by reverse
 *                     lookup; sessions expire on the core's timer
 *         SOCKS5      UDP ASSOCIATE per flow, torn down with its control
 *                     connection; BND.ADDR 0.0.0.0/:: (and a loopback
 *                     one from a proxy not on loopback) replaced by the
 *                     proxy's address; fragmented SOCKS datagrams dropped
 *         DROP/LOCAL  dropped and counted
 *   ICMP  echo answered by the stack when the decision is LOCAL
 *
 * A TCP flow is answered only once its upstream is ready (upstream first);
 * a refusal becomes RST or ICMP unreachable as zt_socks5_refuse() /
 * zt_http_connect_refuse() map it, within the stack's connect timeout.
 * Upstream bytes and client bytes are relayed with back-pressure both ways:
 * the TCP window to the client is what the upstream can absorb.
 */
#ifndef ZTUN_ROUTER_H
#define ZTUN_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/fakedns.h"
#include "ztun/nat.h"
#include "ztun/route.h"
#include "ztun/stack.h"
#include "ztun/upstream.h"

struct zt_proxy_config {
	bool enabled;
	struct zt_endpoint server;  /* the proxy itself */
	bool auth;                  /* then username is 1..255 bytes and
				     * password 0..255, both terminated:
				     * zt_router_new() refuses others */
	char username[256];
	char password[256];
	bool pipelined;             /* SOCKS5 CONNECT: zt_socks5_set_pipelined() */
};

struct zt_router_config {
	struct zt_stack_config stack;
	zt_route_fn route;          /* required */
	void *route_user;
	struct zt_proxy_config socks5;
	struct zt_proxy_config http;
	size_t http_max_header;     /* bound on a proxy's response head (16 KiB) */
	struct zt_nat_config nat;   /* UDP NAT sessions (nat.h defaults, but
				     * timeout 0: the longer of the stack's
				     * udp_idle_timeout and udp_stream_timeout,
				     * so that the flow's own timer ends it) */
	/* The fake-IP resolver (fakedns.h; off by default): UDP and TCP to a
	 * server address's port 53 are answered by it (UDP queries for names
	 * the rules send direct go to fake_dns.upstream), any other flow to
	 * a server address is refused; a flow to a fake address goes to a
	 * proxy by
	 * the name behind it (TCP by SOCKS5 or HTTP CONNECT, UDP by SOCKS5)
	 * and is refused on any other route, or when the address stands for
	 * no name. */
	struct zt_fakedns_config fake_dns;
	/* Answer a SYN as soon as the upstream socket exists instead of once
	 * the destination (or the proxy's reply) accepted: the client's first
	 * bytes cross the TUN while the upstream handshake runs, saving a TUN
	 * round trip per connection. The price: a destination that refuses
	 * shows as a reset after connect, not as a refused connect. Off.
	 * With a pipelined SOCKS5 handshake as well, the client's first bytes
	 * (up to ZT_ROUTER_EARLY_DATA_MAX) follow the CONNECT request without
	 * waiting for the reply: a proxy that reads ahead has them when its
	 * onward connection opens. */
	bool early_synack;
	/* UDP with endpoint-independent filtering (RFC 4787 5: "full cone",
	 * what P2P applications and games call an open NAT): a datagram
	 * from a server the client socket never sent to, that reaches its
	 * direct or NAT mapping or that its SOCKS5 relay forwards, reaches
	 * the client too (its answer then leaves the same way), not only
	 * those from the servers of its flows, as long as the rules route
	 * the client's datagrams to that server the same way (a drop rule
	 * keeps its servers out). Off: such datagrams are dropped (address-
	 * and port-dependent). */
	bool udp_full_cone;
	/* DNS over TCP (RFC 7766) for UDP queries a proxy would carry: a UDP
	 * flow to port 53 whose decision is SOCKS5 or HTTP goes as a stream
	 * through that proxy (CONNECT to the server's port 53) instead of a
	 * UDP association, or of being refused (HTTP carries no UDP): for
	 * proxies without UDP ASSOCIATE (microsocks), HTTP proxies, and
	 * networks where the proxy's UDP does not pass. Each answer reaches
	 * the client as a datagram; one larger than the client takes over
	 * UDP (512 bytes, or its EDNS size) is cut to its question with TC
	 * set, and the client asks again over TCP. Off. */
	bool dns_over_tcp;
	/* DNS over TCP, as above, once the SOCKS5 proxy answered a UDP
	 * ASSOCIATE with reply 7 (command not supported): the queries that
	 * waited for that association go over TCP instead of being refused,
	 * and so does every later SOCKS5 flow to port 53; other UDP through
	 * the proxy is still refused. On (zt_router_config_default()). */
	bool dns_tcp_fallback;
	/* Keepalive for the upstream of a relayed TCP flow whose client
	 * sends keepalive probes, and for every SOCKS5 UDP association's
	 * control connection (upstream.h, stream_keepalive): a dead
	 * upstream then resets the client, or ends the association, within
	 * idle + interval * count instead of staying up until the idle
	 * timeout. zt_router_config_default(): ZT_ROUTER_KEEPALIVE_IDLE,
	 * _INTERVAL, _COUNT; idle 0: never asked. zt_router_new() refuses
	 * an interval or count of 0, and figures past
	 * ZT_ROUTER_KEEPALIVE_MAX_TIME / _MAX_COUNT. */
	struct zt_keepalive upstream_keepalive;
	/* Optional: the device cuts TCP segments itself (stack.h,
	 * tun_output_gso); with stack.tcp.tso_segs > 1 the stack sends
	 * segments of up to 64 KiB through it. NULL: never. */
	void (*tun_output_gso)(void *host, const struct zt_pkt_parts *pkt,
			       uint32_t seg_size);
};

void zt_router_config_default(struct zt_router_config *cfg);

/*
 * zt_router_config_fit_flows() - size what follows from the flow caps in
 * @cfg->stack (set them, and the rings, first): the NAT table holds a
 * session for every UDP flow, and the memory budget lets every TCP flow
 * fill both its rings (they are lazy: idle flows hold none).
 */
void zt_router_config_fit_flows(struct zt_router_config *cfg);

/* The default upstream keepalive: a dead upstream found 2 minutes after
 * the client's first probe (Linux's own defaults, 2 h + 9 * 75 s, would
 * outlast the flow's idle timeout), for one small segment a minute on
 * an idle upstream that is alive. */
#define ZT_ROUTER_KEEPALIVE_IDLE (60 * ZT_SEC)
#define ZT_ROUTER_KEEPALIVE_INTERVAL (15 * ZT_SEC)
#define ZT_ROUTER_KEEPALIVE_COUNT 4u
/* The largest upstream keepalive zt_router_new() takes: Linux's own
 * bounds (MAX_TCP_KEEPIDLE and MAX_TCP_KEEPINTVL 32767 s, MAX_TCP_KEEPCNT
 * 127), which a host would refuse anyway, and far from where a timer's
 * now + idle could wrap. */
#define ZT_ROUTER_KEEPALIVE_MAX_TIME (32767 * ZT_SEC)
#define ZT_ROUTER_KEEPALIVE_MAX_COUNT 127u

/* Client bytes sent before a pipelined SOCKS5 proxy's reply (early data,
 * early_synack above): a first flight (an HTTP request, a TLS ClientHello)
 * fits; a proxy is not asked to hold more before it answered. */
#define ZT_ROUTER_EARLY_DATA_MAX 4096u

/* In a batch of TUN input (zt_router_tun_batch_begin()), client bytes of
 * segments smaller than ZT_ROUTER_UP_DIRECT_MIN are gathered in the
 * flow's receive ring and go upstream in one send at the batch's end, or
 * as soon as ZT_ROUTER_UP_GATHER_MAX of them wait or a segment with PSH
 * came (the client has no more for now: no wait for interactive bytes):
 * one send per flow and batch instead of one per MSS-sized segment (a
 * TUN without offloads). */
#define ZT_ROUTER_UP_DIRECT_MIN 16384u
#define ZT_ROUTER_UP_GATHER_MAX 65536u

/* An open flow's upstream that resets (or fails) behind bytes the flow's
 * send ring still holds for the client: those go first and the client's
 * RST behind them, as a direct client reads what arrived before the
 * server's RST; the drain ends at once if the client sends (its bytes
 * can reach no one), and within this long of the upstream's end in any
 * case: the tcb's retransmission limits end a client that went silent,
 * but one that keeps its window closed and answers the probes would hold
 * the flow for as long as it likes. */
#define ZT_ROUTER_RST_DRAIN_MAX (60 * ZT_SEC)

struct zt_router_stats {
	uint64_t flows[ZT_ROUTE__COUNT];   /* new flows by decision */
	uint64_t tcp_relayed_up;           /* bytes client -> upstream */
	uint64_t tcp_relayed_up_direct;    /* ... of them sent straight from
					    * the packet (tcp_rx_direct) */
	uint64_t tcp_relayed_up_early;     /* ... of them before the proxy's
					    * reply (early data) */
	uint64_t tcp_up_sends;             /* stream_send() calls that took
					    * client bytes */
	uint64_t tcp_relayed_down;         /* bytes upstream -> client */
	uint64_t udp_relayed_up, udp_relayed_down;
	uint64_t upstream_connect_failed;
	uint64_t upstream_reset;           /* upstream died mid-flow: client RST
					    * (behind what its send ring held) */
	uint64_t tcp_unsent_reset;         /* client flows that ended cleanly with
					    * bytes the upstream had not taken:
					    * upstream RST */
	uint64_t upstream_keepalives;      /* upstream streams the host was
					    * asked to keep alive (a client's
					    * keepalive probe, an association's
					    * control connection) */
	uint64_t upstream_timeouts;        /* open upstreams (flows, association
					    * control connections) that died
					    * with ETIMEDOUT: their peer stopped
					    * answering probes or retransmissions */
	uint64_t socks5_failures[32];      /* by enum zt_socks5_outcome */
	uint64_t http_failures[16];        /* by enum zt_http_connect_outcome */
	uint64_t socks5_udp_dropped[8];    /* by enum zt_socks5_udp_result */
	uint64_t socks5_udp_spoofed;       /* not from the relay, or not from the flow's server */
	uint64_t socks5_udp_assocs;        /* UDP associations opened ... */
	uint64_t socks5_udp_assocs_active; /* ... and alive now (each serves
					    * one client socket's flows) */
	uint64_t socks5_udp_unsupported;   /* associations the proxy refused
					    * as a command it does not
					    * support (REP 7: no UDP) */
	uint64_t socks5_udp_timeouts;      /* associations whose handshake
					    * outlasted the connect timeout
					    * (stack.connect_timeout) */
	uint64_t socks5_udp_relay_lost;    /* associations ended by an ICMP
					    * unreachable about the relay */
	uint64_t socks5_udp_proxy_closed;  /* associations the proxy ended:
					    * it closed or reset their control
					    * connection once connected */
	uint64_t socks5_udp_cone_in;       /* datagrams from a server no flow
					    * talks to, passed (udp_full_cone) */
	uint64_t dropped_no_proxy;         /* decision needs a proxy that is not set */
	uint64_t proxy_down_refused;       /* new flows (TCP, SOCKS5 UDP
					    * associations, DNS-over-TCP
					    * streams) refused at once: their
					    * proxy is down and another's
					    * connect probes it
					    * (zt_router_proxy_down()) */
	uint64_t udp_dropped;              /* DROP/LOCAL decisions, full queues,
					    * a direct flow's datagram from a
					    * server no flow talks to */
	uint64_t udp_mappings;             /* direct/NAT upstream sockets opened,
					    * one per client socket (endpoint-
					    * independent mapping) ... */
	uint64_t udp_mappings_active;      /* ... and open now */
	uint64_t udp_cone_in;              /* datagrams to one from a server no
					    * flow talks to, passed
					    * (udp_full_cone) */
	uint64_t nat_refused;              /* NAT table or port range full */
	uint64_t nat_port_taken;           /* mapped ports another socket of
					    * the host held (another taken) */
	uint64_t nat_reply_mismatch;       /* a NAT mapping's datagram from a
					    * server no flow talks to */
	uint64_t icmp_dropped;
	uint64_t icmp_echo_out;            /* echo requests sent direct */
	uint64_t icmp_echo_in;             /* ... and replies passed back */
	uint64_t icmp_errors_relayed;      /* upstream ICMP errors passed to
					    * the client (zt_router_dgram_error) */
	uint64_t icmp_errors_ignored;      /* ... and those not */
	uint64_t dns_tcp_connections;      /* DNS-over-TCP streams opened (a
					    * UDP flow's through its proxy, or
					    * the fake-IP resolver's to its
					    * upstream for a TCP client) */
	uint64_t dns_tcp_queries;          /* queries sent over them */
	uint64_t dns_tcp_answers;          /* answers passed to the client ... */
	uint64_t dns_tcp_truncated;        /* ... of them cut to TC for UDP */
	uint64_t dns_tcp_unmatched;        /* answers to no waiting query */
	uint64_t dns_tcp_dropped;          /* queries not taken (too many wait) */
	uint64_t dns_tcp_resent;           /* queries sent again on a new stream
					    * after the server closed one */
	uint64_t dns_tcp_servfail;         /* forwarded queries of the fake-IP
					    * resolver's TCP clients answered
					    * SERVFAIL: the upstream failed them */
	uint64_t fake_ip_refused;          /* flows to a fake address the route
					    * cannot carry by name, or that
					    * stands for no name; flows to the
					    * resolver but its UDP port 53 */
};

struct zt_router;

/*
 * zt_router_new() - a router for @cfg (copied).
 * @tun_output: where packets for the TUN go (borrowed for each call)
 * @up:         the host's upstream ops; @host is passed to both
 * @rng:        seeded by the host; draws ISNs
 * Return: the router, or NULL (no memory, or a config value out of range).
 */
struct zt_router *zt_router_new(const struct zt_router_config *cfg,
				void (*tun_output)(void *host, const uint8_t *pkt,
						   size_t len),
				const struct zt_upstream_ops *up, void *host,
				struct zt_rng *rng);
/* Close every upstream (ops->stream_close/dgram_close) and free. */
void zt_router_free(struct zt_router *r);
/* The proxy of @kind (ZT_ROUTE_SOCKS5 or ZT_ROUTE_HTTP, configured) is
 * now at @server (copied; the host looked its name up again): what opens
 * from now on goes there, what is open keeps its connection; a new
 * address is up (zt_router_proxy_down()) until a connect to it fails; a SOCKS5
 * server elsewhere is asked for UDP ASSOCIATE again even if the old one
 * refused it (DNS over TCP after reply 7 ends). Return: 0,
 * or -EINVAL (no such proxy, or @server neither a name nor an IPv4 or
 * IPv6 address). */
int zt_router_set_proxy_server(struct zt_router *r, enum zt_route_decision kind,
			       const struct zt_endpoint *server);

/*
 * zt_router_proxy_down() - whether the proxy of @kind (ZT_ROUTE_SOCKS5 or
 * ZT_ROUTE_HTTP) is down: a connection to it failed to open (timed out,
 * unreachable, refused; not a refusal of the proxy's own, a SOCKS5 reply
 * or an HTTP status) and none has opened since. While it is down, one
 * new connection at a time tries it (a probe, which waits as any flow
 * does, paced by the connect timeout) and every other new flow that
 * would open one (a TCP flow, a SOCKS5 UDP association, a DNS-over-TCP
 * stream) is refused at once, as a failed connect to it refuses it: a
 * RST, an ICMP host unreachable (proxy_down_refused). Flows already open
 * are untouched. Any connection to it that opens makes it up again, and
 * so does a new address (zt_router_set_proxy_server()). A SOCKS5 and an
 * HTTP proxy at one address and port are one listener: one health;
 * when either moves, the one that stays keeps that health. Up
 * at start; false for any other @kind. A host may watch it to log the
 * changes.
 */
bool zt_router_proxy_down(const struct zt_router *r,
			  enum zt_route_decision kind);
/* Where the proxy of @kind is now (borrowed from the router), or NULL
 * when there is none. */
const struct zt_endpoint *zt_router_proxy_server(const struct zt_router *r,
						 enum zt_route_decision kind);

void zt_router_tun_input(struct zt_router *r, const uint8_t *pkt, size_t len,
			 uint64_t now);
/* The same with ZT_INPUT_* flags (stack.h) the device gave the packet. */
void zt_router_tun_input_flags(struct zt_router *r, const uint8_t *pkt,
			       size_t len, unsigned flags, uint64_t now);
/* Around a batch of zt_router_tun_input*() calls: the flows' pure ACKs
 * are held and sent once at the end (zt_stack_batch_begin()), and small
 * segments' bytes go upstream together (ZT_ROUTER_UP_GATHER_MAX). */
void zt_router_tun_batch_begin(struct zt_router *r);
void zt_router_tun_batch_end(struct zt_router *r, uint64_t now);
void zt_router_poll(struct zt_router *r, uint64_t now);
uint64_t zt_router_deadline(const struct zt_router *r);

/* Reports from the host about the socket whose cookie it was given. */
void zt_router_stream_connected(struct zt_router *r, void *cookie, uint64_t now);
void zt_router_stream_failed(struct zt_router *r, void *cookie, int err,
			     uint64_t now);
/* Bytes from the upstream (borrowed); returns how many were taken. */
size_t zt_router_stream_data(struct zt_router *r, void *cookie,
			     const uint8_t *data, size_t len, uint64_t now);
/* How many bytes the host should read from the stream now and offer to
 * zt_router_stream_data(): SIZE_MAX when any amount will do; with TSO a
 * size that leaves the flow's unsent data on whole super-segments; 0 when
 * the flow can take nothing (the host stops reading: stream_resume()
 * follows when it can). A pull-model host's read size; never required. */
size_t zt_router_stream_room(struct zt_router *r, void *cookie);
/* Read in place: where up to @len upstream bytes may be put straight into
 * the flow's send ring (one or two runs; their total, 0 when the stream
 * is not relaying yet: use zt_router_stream_data() then), and how many
 * were put there (0 gives an unused buffer back). */
size_t zt_router_stream_recv_runs(struct zt_router *r, void *cookie,
				  size_t len, uint8_t *p[2], size_t n[2]);
void zt_router_stream_recv_commit(struct zt_router *r, void *cookie,
				  size_t len, uint64_t now);
void zt_router_stream_eof(struct zt_router *r, void *cookie, uint64_t now);
void zt_router_stream_writable(struct zt_router *r, void *cookie, uint64_t now);
void zt_router_dgram_data(struct zt_router *r, void *cookie,
			  const struct zt_endpoint *from, const uint8_t *data,
			  size_t len, uint64_t now);
/* One datagram of a batch (borrowed). */
struct zt_dgram {
	const uint8_t *data;
	size_t len;
	uint8_t tclass;  /* the traffic class (IPv4 TOS: DSCP, ECN) it arrived
			  * with, where the host can say; else 0 */
};
/* The most bytes of payload one run of datagrams to a client carries. */
#define ZT_ROUTER_UDP_RUN_MAX 65000
/*
 * zt_router_dgram_batch() - @n datagrams that arrived one after another on
 * one upstream datagram socket from one sender @from: handled as @n calls
 * of zt_router_dgram_data() would be, except that each run of payloads of
 * one size (the last may be shorter) and one traffic class goes to the
 * client with one zt_stack_udp_send_run(): one UDP GSO packet where the
 * host cuts them. A direct or NAT flow's datagrams reach the client with
 * the traffic class they arrived with, as through a router (ECN marks
 * and DSCP); others (from a SOCKS5 relay, the real resolver) with 0.
 * Payloads that lie back to back in the host's buffer (a NAT's datagrams
 * read one after another) go from there; others are copied once.
 */
void zt_router_dgram_batch(struct zt_router *r, void *cookie,
			   const struct zt_endpoint *from,
			   const struct zt_dgram *d, unsigned n, uint64_t now);

/*
 * An ICMP error that came back about a datagram sent on a datagram socket
 * (ztun-ref: the socket's error queue, IP_RECVERR), in the socket's
 * family's numbering. Borrowed for the call.
 */
struct zt_dgram_error {
	struct zt_endpoint to;  /* where the datagram went (echo: port 0) */
	struct zt_addr origin;  /* who sent the error; family 0: unknown */
	uint8_t type, code;
	uint32_t mtu;           /* a "packet too big"'s next-hop MTU (IPv4:
				 * fragmentation needed), else 0 */
	const uint8_t *data;    /* the start of the datagram's payload as sent
				 * (echo: from its ICMP header on), as much
				 * as came back; may be NULL */
	size_t len;
};
/*
 * zt_router_dgram_error() - the network answered a datagram sent on the
 * socket of @cookie with ICMP error @e. A destination or port unreachable,
 * a time exceeded or a packet too big (IPv4: fragmentation needed, with
 * its MTU: the datagram had DF, as the client's had) about a datagram of
 * a direct or NAT flow, or about a ping routed direct, is passed to its
 * client, quoting the datagram as the client sent it, from @e->origin
 * when the error came from elsewhere than the destination. An unreachable
 * about a datagram sent to a SOCKS5 flow's relay ends the association
 * (the relay is gone) and answers the client with a port unreachable
 * quoting its datagram. Anything else is counted and dropped.
 */
void zt_router_dgram_error(struct zt_router *r, void *cookie,
			   const struct zt_dgram_error *e, uint64_t now);

/*
 * zt_router_dgram_send_failed() - a datagram the host took from
 * dgram_send() on the socket of @cookie (to @to, @data/@len as given)
 * could not leave after all: its send failed with @err (a negative
 * errno), as a host that gathers datagrams for a batched send learns
 * later. A failure of the host's own routing (-ENETUNREACH,
 * -EHOSTUNREACH, -EACCES, -EPERM) reaches a direct or NAT flow's client,
 * or a direct ping's, as the ICMP destination unreachable a router
 * without a route sends (net / host unreachable, administratively
 * prohibited), quoting its datagram, from the destination; the router
 * does the same for a dgram_send() that fails at once. -EMSGSIZE (a
 * datagram with DF larger than the host's path MTU) reaches it as a
 * packet too big (IPv4: fragmentation needed) with the MTU the host's
 * dgram_path_mtu gives. Any other failure (a full buffer) is the loss
 * UDP allows.
 */
void zt_router_dgram_send_failed(struct zt_router *r, void *cookie,
				 const struct zt_endpoint *to,
				 const uint8_t *data, size_t len, int err,
				 uint64_t now);

/*
 * zt_router_stream_failed_icmp() - zt_router_stream_failed() with @err,
 * for a connect that the network answered with ICMP error @e (@e->to the
 * destination; a host with IP_RECVERR reads it from the socket's error
 * queue). The client of a direct flow still waiting for its SYN-ACK gets
 * that error from where it came, quoting its SYN, as it would without
 * ztun in the way: a router's time exceeded (the upstream SYN left with
 * the client's TTL, ZT_UPSTREAM_TTL), a destination unreachable. Any
 * other stream, or kind, fails as zt_router_stream_failed() says.
 */
void zt_router_stream_failed_icmp(struct zt_router *r, void *cookie, int err,
				  const struct zt_dgram_error *e, uint64_t now);

const struct zt_router_stats *zt_router_stats(const struct zt_router *r);
/* The UDP NAT table (read-only use: lookups, stats). */
struct zt_nat *zt_router_nat(struct zt_router *r);
struct zt_stack *zt_router_stack(struct zt_router *r);
/* The fake-IP resolver's statistics, or NULL when it is off. */
const struct zt_fakedns_stats *zt_router_fakedns_stats(const struct zt_router *r);

#endif /* ZTUN_ROUTER_H */
