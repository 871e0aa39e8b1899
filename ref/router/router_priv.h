/* SPDX-License-Identifier: MIT */
/*
 * router_priv.h - what the router's files share; not public.
 *
 * The router (router.h) is one object in five files, one per kind of
 * upstream it keeps:
 *
 *   router.c      decisions, the host's reports dispatched by the kind
 *                 of their cookie, the router's life
 *   tcp_relay.c   a TCP flow to its upstream, and the proxy handshake
 *                 helpers a DNS tunnel shares (hs_*)
 *   udp_relay.c   UDP flows, the associations and mappings they share,
 *                 the fake-IP resolver's queries, datagrams back
 *   dns_tunnel.c  DNS over TCP for a UDP flow to port 53, and for the
 *                 fake-IP resolver's TCP client's forwarded queries
 *   echo.c        ICMP echo to direct destinations
 *
 * Every upstream's cookie begins with its enum conn_kind, which is how
 * router.c tells them apart. Functions here are called across those
 * files only; each is documented where it is defined.
 */
#ifndef ZTUN_ROUTER_PRIV_H
#define ZTUN_ROUTER_PRIV_H

#include "ztun/router.h"

#include "ztun/dns_tcp.h"
#include "ztun/heap.h"
#include "ztun/http_connect.h"
#include "ztun/refuse.h"
#include "ztun/socks5.h"

#define HS_BUF 2048 /* a proxy handshake's bytes not yet sent */
#define GATHER_MAX 64 /* relays gathering in one batch; more send at once */
#define UDP_QUEUE_BYTES 16384
#define UDP_QUEUE_MAX 16
#define FWD_IDS 16 /* forwarded DNS queries a client flow may have out */
#define DNS_TCP_MAX 4096 /* a longer DNS-over-TCP query resets the client */

#define ASSOC_BUCKETS 256 /* UDP associations' hash chains */
#define ECHO_SESSIONS 64 /* pings to direct destinations under way */
#define ECHO_IDLE (30 * ZT_SEC) /* a session's socket closes after this */

enum conn_kind {
	CONN_TCP = 1, CONN_UDP = 2, CONN_ECHO = 3, CONN_ASSOC = 4, CONN_DNS = 5,
};

enum phase { PH_CONNECTING, PH_HANDSHAKE, PH_OPEN };

/* A proxy handshake's deadline (a SOCKS5 UDP association's, a DNS
 * tunnel's: the connect timeout a TCP flow through the proxy has), in
 * r->hs_timers while the handshake runs, or a TCP relay's drain behind
 * its upstream's reset; hs_expire() fails its owner, which @kind names. */
struct hs_deadline {
	struct zt_heap_node node;
	uint8_t kind;            /* CONN_ASSOC, CONN_DNS or CONN_TCP */
};

struct tcp_relay {
	uint8_t kind;            /* CONN_TCP: first, shared with udp_relay */
	struct zt_router *r;
	struct zt_flow *flow;    /* NULL once the client side ended */
	int handle;              /* upstream stream, -1 when closed or dead */
	enum zt_route_decision decision;
	uint8_t phase;
	bool up_blocked;         /* stream_send took less than offered */
	bool down_paused;        /* the host holds upstream bytes for us */
	bool client_fin;         /* the client sent FIN */
	bool up_fin_sent;        /* ... and we passed it on */
	bool up_eof;             /* the upstream's EOF was read */
	uint32_t early_left;     /* client bytes that may still go before the
				  * proxy's reply (early data, tcp_connected) */
	bool early_sent;         /* ... and some went: the proxy may be
				  * carrying them on already */
	unsigned busy;           /* callers inside that may end the relay */
	bool gathering;          /* on the router's gather list (holds busy) */
	struct tcp_handshake *hs; /* owned; from connect until open and
				   * all its bytes sent (tcp_flush_hs) */
	char *name;              /* owned: the name behind a fake address */
	uint32_t fake_hold;      /* ... whose address it holds (fake_hold()) */
	uint32_t px_gen;         /* its proxy's address generation at the
				  * connect (proxy_opened()) */
	bool local_dns;          /* DNS over TCP to the fake-IP resolver:
				  * answered here, no upstream ... */
	struct dns_tunnel *fwd;  /* ... but, owned, a stream to the real
				  * resolver for the messages it forwards
				  * (from the first until the relay goes) */
	bool fwd_wait;           /* the message at the head of the receive
				  * ring went to it: the rest wait for its
				  * answer (answers go in order) */
	uint8_t *ans;            /* owned: that answer, framed, until all
				  * of it is in the send ring */
	size_t ans_len, ans_off; /* ... its bytes, of which queued */
	uint8_t dscp;            /* what the upstream sends with (keep_dscp) */
	bool ka_asked;           /* the client probed: the upstream's
				  * keepalive was asked for (tcp_keepalive) */
	bool rst_drain;          /* the upstream died behind bytes the send
				  * ring holds: they go, then the client's
				  * RST (tcp_drain_check) ... */
	struct hs_deadline drain_timer; /* ... within ZT_ROUTER_RST_DRAIN_MAX
					 * (r->hs_timers, until the flow ends) */
};

/* ICMP echo to a direct destination: one upstream echo socket per
 * (client, destination, the client's identifier), closed after
 * ECHO_IDLE without a request, or for a new session when all are taken
 * (the least recently used). */
struct echo_session {
	uint8_t kind;            /* CONN_ECHO */
	struct zt_router *r;
	bool used;
	struct zt_flow_key key;  /* family, client and server */
	uint16_t ident;          /* the client's identifier */
	int dgram;               /* the echo socket */
	struct zt_fwd_hdr hdr;   /* what it sends with (keep_header) */
	uint64_t last;           /* the last request */
};

/* A proxy handshake in progress. Kept apart from the relay and freed once
 * the relay opens, so an established flow costs ~80 bytes here, not 3 KB. */
struct tcp_handshake {
	union {
		struct zt_socks5 socks;
		struct zt_http_connect http;
	} st;
	uint8_t out[HS_BUF];     /* handshake bytes not yet taken */
	size_t len, off;
};

/*
 * The upstream of one client endpoint's UDP flows of one decision, shared
 * by them (its members), found by that endpoint and decision in
 * r->assoc, living while one of them does (or a caller holds it: busy).
 * A SOCKS5 member by name is the only member at its server port, so an
 * endpoint may have more than one (udp_relay.c, assoc_port_free()):
 *
 *   SOCKS5        a UDP association (RFC 1928 7): a control stream, then
 *                 one datagram socket to the proxy's relay. Each datagram
 *                 names its destination, so one association carries the
 *                 client socket's datagrams to every server it talks to.
 *   DIRECT, NAT   a mapping: one datagram socket (a NAT one bound to the
 *                 mapped port its sessions share), so that every server
 *                 sees the client socket at one address and port
 *                 (endpoint-independent mapping, RFC 4787 REQ-1).
 */
struct udp_assoc {
	uint8_t kind;            /* CONN_ASSOC */
	struct zt_router *r;
	enum zt_route_decision decision;
	uint8_t family;          /* the client endpoint it serves */
	uint16_t client_port;
	struct zt_addr client;
	int ctrl;                /* SOCKS5 control stream, -1 when none */
	int dgram;               /* the socket, -1 until ready */
	struct zt_fwd_hdr hdr;   /* DIRECT/NAT: what it sends with
				  * (keep_header) */
	uint16_t mapped_port;    /* NAT: its sessions' (the socket's) */
	bool ready;              /* the relay is known, its socket open */
	bool dead;               /* failing: no new members */
	bool ctrl_up;            /* SOCKS5: the control stream connected */
	struct hs_deadline timer; /* SOCKS5: its handshake's */
	unsigned busy;           /* callers inside that may end members */
	struct zt_socks5 socks;
	uint32_t px_gen;            /* SOCKS5: the proxy's address generation
				     * at the connect (proxy_opened()) */
	struct zt_endpoint proxy;   /* SOCKS5: what the control stream went
				     * to (the proxy may move meanwhile:
				     * zt_router_set_proxy_server()) */
	struct zt_endpoint relay;   /* where the datagrams go (BND, with an
				     * unspecified address made the proxy's),
				     * as dgram_send takes it: built once */
	unsigned bucket;            /* its chain in r->assoc */
	struct udp_relay *members;  /* in the order they joined */
	struct udp_relay **tail;    /* ... the last one's assoc_next */
	unsigned n_named;           /* members to a fake address's name */
	struct udp_assoc *hnext; /* r->assoc bucket chain */
};

/* DNS over TCP for one UDP flow to port 53 (cfg.dns_over_tcp), a stream
 * through the flow's proxy that opens while a query waits (dns_tunnel.c),
 * owned by its udp_relay and freed with its flow; or for the messages
 * the fake-IP resolver's TCP client @c has forwarded, a direct stream to
 * cfg.fake_dns.upstream, owned by that tcp_relay (tcp_relay.fwd). */
struct dns_tunnel {
	uint8_t kind;            /* CONN_DNS */
	struct zt_router *r;
	struct udp_relay *u;     /* its UDP flow's, or NULL ... */
	struct tcp_relay *c;     /* ... the fake-IP resolver's TCP client */
	int handle;              /* the stream, -1 when closed or dead */
	uint8_t phase;           /* enum phase, while handle >= 0 */
	struct tcp_handshake *hs; /* owned; until OPEN and all its bytes
				   * sent (dns_flush()) */
	uint64_t now;            /* for the answers' callback */
	unsigned answered;       /* answers on the current stream */
	bool up;                 /* the stream connected (its handshake runs) */
	uint32_t px_gen;         /* its proxy's address generation at the
				  * connect (proxy_opened()) */
	struct hs_deadline timer; /* its stream's and handshake's, until
				   * OPEN; then its next answer's while
				   * queries wait */
	struct zt_dns_tcp dns;
};

struct udp_relay {
	uint8_t kind;            /* CONN_UDP */
	struct zt_router *r;
	struct zt_udp_flow *flow;
	enum zt_route_decision decision;
	bool reject;             /* DROP answers each datagram with ICMP */
	int dgram;               /* datagram socket, -1 until open (the
				  * association's, but a forwarded query's) */
	bool ready;              /* datagrams may be sent */
	struct udp_assoc *assoc; /* the upstream it shares (not a query
				  * forwarded to the real resolver) */
	struct udp_relay *assoc_next; /* ... the association's next member */
	struct zt_nat_session *nat; /* NAT decision only */
	struct dns_tunnel *dns;  /* owned: DNS over TCP (a proxy's, port 53) */
	char *name;              /* owned: the name behind a fake address */
	uint32_t fake_hold;      /* ... whose address it holds (fake_hold()) */
	bool forward;            /* the client's queries to the fake-IP
				  * resolver that go to the real one */
	struct fwd_wait *fwd;    /* owned: ... those not answered yet, only
				  * while some wait */
	/* datagrams waiting for the association: lengths then bytes (q
	 * owned, UDP_QUEUE_BYTES, only while some wait: most flows never
	 * wait, and 16 KiB each made 8192 flows cost 128 MiB) */
	uint16_t q_len[UDP_QUEUE_MAX];
	unsigned q_n;
	size_t q_bytes;
	uint8_t *q;
};

/* The queries a forwarding flow (udp_relay.forward) sent the real
 * resolver and has no answer to yet, oldest first: each one's ID and
 * question, which an answer must repeat (fwd_answers()). The questions
 * lie back to back in q, allocated to what they take (a lookup's two
 * are some 60 bytes, not 16 of the longest). */
struct fwd_wait {
	unsigned n;
	uint16_t id[FWD_IDS];
	uint16_t qlen[FWD_IDS];  /* 0: the query's question could not be read */
	size_t len;              /* bytes of q in use */
	uint8_t q[];
};

/*
 * A proxy's health (router.c, proxy_*()): down once a connection to it
 * failed to open (it was not reached: a connect that timed out, an
 * unreachable, a refusal), up again once any opens. While down, one
 * connection at a time may be opening to it, the probe (@probe, its
 * owner's cookie); every other new flow that would open one is refused
 * at once (proxy_down_refused) instead of waiting out the connect
 * timeout too. No timer: the probe's own connect timeout paces it.
 */
struct proxy_health {
	bool down;
	const void *probe;       /* while down: the probe's owner, or NULL */
};

/* Who asks the resolver (fake_policy()'s user pointer). */
struct fake_ask {
	struct zt_router *r;
	struct zt_addr client;
};

struct zt_router {
	struct zt_router_config cfg;
	struct zt_stack *stack;
	struct zt_stack_ops stack_ops; /* the stack borrows them */
	void (*tun_output)(void *host, const uint8_t *pkt, size_t len);
	const struct zt_upstream_ops *up;
	void *host;
	struct zt_router_stats stats;
	struct zt_nat nat;
	struct zt_fakedns *fake;       /* owned; NULL when off */
	/* the SOCKS5 proxy answered a UDP ASSOCIATE with reply 7: with
	 * cfg.dns_tcp_fallback, its DNS goes over TCP from then on, until
	 * zt_router_set_proxy_server() moves it */
	bool socks5_no_udp;
	/* zt_router_tun_batch_begin/end: relays whose client bytes wait
	 * for the batch's end (tcp_event), each holding a busy reference */
	bool batching;
	unsigned n_gather;
	struct tcp_relay *gather[GATHER_MAX];
	unsigned n_echo;               /* sessions in use */
	uint64_t echo_due;             /* no session expires before this
					* (a request only postpones one) */
	struct echo_session echo[ECHO_SESSIONS];
	/* UDP associations by client endpoint, hashed with the NAT
	 * table's key (drawn from the seeded rng) */
	struct udp_assoc *assoc[ASSOC_BUCKETS];
	/* proxy handshakes that run (SOCKS5 associations, DNS tunnels), by
	 * the deadline the connect timeout gives them, and TCP relays
	 * draining behind an upstream's reset (hs_expire()) */
	struct zt_heap hs_timers;
	/* the SOCKS5 proxy's [0] and the HTTP one's [1] (one listener when
	 * both are at one address and port: [0] serves both) */
	struct proxy_health px_health[2];
	/* ... and each one's address generation, one more at each move
	 * (zt_router_set_proxy_server()): a connect to an old address
	 * tells nothing of the new one */
	uint32_t px_gen[2];
	uint8_t scratch[65536 + ZT_SOCKS5_UDP_HDR_MAX];
};

enum { NAME_NONE = 0, NAME_FAKE = 1, NAME_LEARNED = 2 };

/* How a proxy handshake stands after its input (hs_input()): HS_FAILED
 * the proxy refused, HS_BROKEN the stream failed under it (a send). */
enum hs_step { HS_MORE, HS_READY, HS_FAILED, HS_BROKEN };

/* router.c */
enum zt_route_decision route_for(struct zt_router *r, uint8_t proto,
				 const struct zt_flow_key *k, const char *name,
				 bool *reject);
enum zt_route_decision decide(struct zt_router *r, uint8_t proto,
			      const struct zt_flow_key *k, const char *name,
			      bool *reject);
enum zt_refuse refuse_for_errno(int err);
int fake_name(struct zt_router *r, const struct zt_addr *dst, char **name,
	      bool peek);
bool fake_unroutable(struct zt_router *r, const char *name, bool by_name,
		     bool peek);
uint32_t fake_hold(struct zt_router *r, const char *name,
		   const struct zt_addr *dst);
void fake_release(struct zt_router *r, uint32_t hold);
enum zt_fakedns_verdict fake_policy(void *user, const char *name);
int open_stream(struct zt_router *r, const struct zt_endpoint *ep,
		unsigned flags, void *cookie, uint64_t now);
int open_dgram(struct zt_router *r, uint8_t family, uint16_t port,
	       unsigned flags, void *cookie, uint64_t now);
void upstream_keepalive(struct zt_router *r, int handle);
const struct zt_addr *error_origin(const struct zt_dgram_error *e,
				   const struct zt_addr *server);
bool proxy_refuses(struct zt_router *r, enum zt_route_decision d, bool peek);
void proxy_opened(struct zt_router *r, enum zt_route_decision d,
		  const void *owner, uint32_t *gen);
void proxy_reached(struct zt_router *r, enum zt_route_decision d,
		   const void *owner, uint32_t gen);
void proxy_unreached(struct zt_router *r, enum zt_route_decision d,
		     const void *owner, uint32_t gen, int err);
void proxy_let_go(struct zt_router *r, const void *owner);

/* tcp_relay.c */
enum zt_tcp_admit tcp_admit(void *host, const struct zt_flow_key *key,
			    uint64_t now);
int tcp_new(void *host, struct zt_flow *f, uint64_t now);
void tcp_event(void *host, struct zt_flow *f, uint32_t ev, uint64_t now);
size_t tcp_rx_direct(void *host, struct zt_flow *f, const uint8_t *p,
		     size_t len);
void tcp_gather_end(struct zt_router *r, bool send, uint64_t now);
void tcp_drain_timeout(struct tcp_relay *t, uint64_t now);
void tcp_stream_connected(struct tcp_relay *t, uint64_t now);
void tcp_upstream_failed(struct tcp_relay *t, int err, enum zt_icmp_kind kind,
			 const struct zt_dgram_error *e, uint64_t now);
size_t tcp_stream_data(struct tcp_relay *t, const uint8_t *data, size_t len,
		       uint64_t now);
void tcp_stream_eof(struct tcp_relay *t, uint64_t now);
void tcp_stream_writable(struct tcp_relay *t, uint64_t now);
int hs_begin(struct zt_router *r, struct tcp_handshake *hs,
	     enum zt_route_decision decision, const char *name,
	     const struct zt_addr *dst, uint16_t port);
enum hs_step hs_input(struct zt_router *r, struct tcp_handshake *hs,
		      enum zt_route_decision decision, int handle,
		      const uint8_t *data, size_t len, size_t *consumed,
		      enum zt_refuse *how);
int hs_flush(struct zt_router *r, int handle, struct tcp_handshake *hs);
void local_dns_answered(struct tcp_relay *t, const uint8_t *msg, size_t len);
void local_dns_resume(struct tcp_relay *t, uint64_t now);

/* udp_relay.c */
enum zt_udp_admit udp_admit(void *host, const struct zt_flow_key *key,
			    const uint8_t *data, size_t len, uint64_t now);
void udp_input(void *host, struct zt_udp_flow *f, const uint8_t *data,
	       size_t len, uint64_t now);
void udp_closed(void *host, struct zt_udp_flow *f, uint64_t now);
void udp_fail(struct udp_relay *u, enum zt_refuse how, uint64_t now);
bool udp_flush_queue(struct udp_relay *u, uint64_t now);
void keep_header(struct zt_router *r, int dgram, struct zt_fwd_hdr *cur,
		 const struct zt_fwd_hdr *want);
void assoc_fail(struct udp_assoc *a, enum zt_refuse how, uint64_t now);
void assoc_ctrl_ended(struct udp_assoc *a, enum zt_refuse how, uint64_t now);
void assoc_timeout(struct udp_assoc *a, uint64_t now);
void assoc_ctrl_connected(struct udp_assoc *a, uint64_t now);
size_t assoc_ctrl_data(struct udp_assoc *a, const uint8_t *data, size_t len,
		       uint64_t now);
void assoc_datagrams(struct zt_router *r, struct udp_assoc *a,
		     const struct zt_endpoint *from, const struct zt_dgram *d,
		     unsigned n, uint64_t now);
void mapping_datagrams(struct zt_router *r, struct udp_assoc *a,
		       const struct zt_endpoint *from, const struct zt_dgram *d,
		       unsigned n, uint64_t now);
void fwd_datagrams(struct zt_router *r, struct udp_relay *u,
		   const struct zt_endpoint *from, const struct zt_dgram *d,
		   unsigned n, uint64_t now);
bool udp_error(struct zt_router *r, struct udp_relay *u,
	       const struct zt_dgram_error *de, enum zt_icmp_kind kind,
	       uint64_t now);
bool assoc_error(struct zt_router *r, struct udp_assoc *a,
		 const struct zt_dgram_error *de, enum zt_icmp_kind kind,
		 uint64_t now);
void nat_expired(void *ctx, struct zt_nat_session *s, uint64_t now);

/* dns_tunnel.c */
int dns_tunnel_new(struct zt_router *r, struct udp_relay *u, bool evict,
		   uint64_t now);
int dns_tunnel_open(struct dns_tunnel *t, bool evict, uint64_t now);
struct dns_tunnel *dns_tunnel_local(struct zt_router *r, struct tcp_relay *c);
void dns_forward(struct dns_tunnel *t, const uint8_t *q, size_t len,
		 uint64_t now);
void dns_stream_failed(struct dns_tunnel *t, enum zt_refuse how, uint64_t now);
void dns_tunnel_free(struct dns_tunnel *t);
void dns_query(struct dns_tunnel *t, const uint8_t *q, size_t len,
	       uint64_t now);
void dns_connected(struct dns_tunnel *t, uint64_t now);
void dns_tunnel_failed(struct dns_tunnel *t, enum zt_refuse how, uint64_t now);
size_t dns_stream_data(struct dns_tunnel *t, const uint8_t *data, size_t len,
		       uint64_t now);
void dns_stream_eof(struct dns_tunnel *t, uint64_t now);
void dns_stream_writable(struct dns_tunnel *t, uint64_t now);
void dns_timeout(struct dns_tunnel *t, uint64_t now);

/* echo.c */
enum zt_echo_verdict echo_verdict(void *host, const struct zt_addr *src,
				  const struct zt_addr *dst);
void echo_forward(void *host, const struct zt_flow_key *key, uint16_t ident,
		  uint16_t seq, const struct zt_fwd_hdr *hdr,
		  const uint8_t *data, size_t len, uint64_t now);
void echo_replies(struct zt_router *r, struct echo_session *e,
		  const struct zt_endpoint *from, const struct zt_dgram *d,
		  unsigned n);
bool echo_error(struct zt_router *r, struct echo_session *e,
		const struct zt_dgram_error *de, enum zt_icmp_kind kind,
		uint64_t now);
void echo_close(struct echo_session *e);
void echo_expire(struct zt_router *r, uint64_t now);

#endif
