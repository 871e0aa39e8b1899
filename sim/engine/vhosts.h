/* SPDX-License-Identifier: MIT */
/*
 * vhosts.h - emulated servers on a vnet (vnet.h): the far side of the
 * router's upstream connections in ztun-sim and the router's tests.
 *
 *   TCP   ECHO        sends back every byte, FIN after the client's FIN
 *         DISCARD     takes bytes (at most drain_per_ms per millisecond
 *                     when set: a slow reader), FIN after the client's
 *         SOURCE      sends nbytes of a known pattern, then closes
 *                     (with a RST behind them when rst_when_sent)
 *         HTTP        answers any request head with a 200 and an
 *                     nbytes body of the pattern, then closes (at
 *                     once when the client's FIN ends the head)
 *         SOCKS5      RFC 1928 server with no-auth or RFC 1929 auth:
 *                     CONNECT to IPv4/IPv6/domain targets (connected
 *                     onward inside the vnet) and UDP ASSOCIATE with a
 *                     relay on the proxy's address
 *         HTTP_PROXY  CONNECT proxy with optional Basic auth
 *         (either proxy can hang up on the request instead of answering:
 *         a proxy out of slots, or one that drops unwelcome clients)
 *   UDP   UDP_ECHO    sends every datagram back to its sender
 *         DNS         answers any query: the ID and question echoed,
 *                     dns_records A records (1 when 0: dns_answer, then
 *                     the next addresses) when the question is type A;
 *                     over TCP too (a length before each message, in
 *                     order, RFC 7766; after the client's FIN, the
 *                     answers then a FIN), on the same port
 *
 * The pattern byte at stream offset i is zt_vhost_pattern(i).
 *
 * These servers are written independently of the core's SOCKS5 and HTTP
 * CONNECT clients (ref/router/socks5.c, http_connect.c) so that each side
 * checks the other: they share no code and no header but the wire format.
 *
 * Ownership: a vhost belongs to its vnet and is freed (with every session
 * it still has) at zt_vnet_free().
 *
 * This is host code; it is not part of the pure core.
 */
#ifndef ZTUN_SIM_VHOSTS_H
#define ZTUN_SIM_VHOSTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/vnet.h"

enum zt_vhost_kind {
	ZT_VHOST_ECHO = 0,
	ZT_VHOST_DISCARD,
	ZT_VHOST_SOURCE,
	ZT_VHOST_HTTP,
	ZT_VHOST_SOCKS5,
	ZT_VHOST_HTTP_PROXY,
	ZT_VHOST_UDP_ECHO,
	ZT_VHOST_DNS,
};

struct zt_vhost_config {
	enum zt_vhost_kind kind;
	bool refuse;             /* TCP: refuse every connection */
	size_t reset_after;      /* TCP: reset after receiving this many (0: never) */
	size_t nbytes;           /* SOURCE / HTTP: bytes to send */
	bool rst_when_sent;      /* SOURCE / HTTP: end with a RST once all
				  * went (SO_LINGER 0, or close() with the
				  * next request unread), not a FIN */
	size_t drain_per_ms;     /* DISCARD: bytes taken per ms (0: all at once) */
	/* proxies */
	bool auth;               /* require user/password (SOCKS5) / Basic (HTTP) */
	char user[256], pass[256];
	uint8_t socks_rep;       /* SOCKS5: answer requests with this REP (0: real) */
	uint8_t socks_rsv;       /* SOCKS5: RSV of a CONNECT's success reply,
				  * sent once connected onward (0: RFC 1928's;
				  * else a broken proxy's, which the client
				  * must refuse) */
	bool bnd_unspecified;    /* SOCKS5: UDP ASSOCIATE answers 0.0.0.0 / :: */
	char bnd_name[64];       /* SOCKS5: ... or this domain name (ATYP 3) */
	uint64_t reply_delay;    /* ns before the command reply / CONNECT response */
	size_t close_after;      /* reset both sides after relaying this many (0: never) */
	int http_status;         /* HTTP_PROXY: answer this status (0: real outcome) */
	bool byte_per_event;     /* HTTP_PROXY: write the response one byte per event */
	bool hangup_on_request;  /* proxies: close (FIN) on the request, no reply */
	/* DNS */
	struct zt_addr dns_answer;
	unsigned dns_records;    /* A records per answer (0: 1) */
	unsigned dns_close_after; /* TCP: close after this many answers (0:
				  * never), the queries after them unread */
};

void zt_vhost_config_init(struct zt_vhost_config *cfg, enum zt_vhost_kind kind);

struct zt_vhost_stats {
	uint64_t accepted;       /* TCP connections (or UDP associations) */
	uint64_t refused;
	uint64_t bytes_in;       /* stream bytes received (relayed for proxies) */
	uint64_t bytes_out;
	uint64_t eofs;           /* client FINs seen */
	uint64_t resets_sent, resets_seen;
	uint64_t auth_failures;
	uint64_t requests;       /* SOCKS5 commands / HTTP requests served */
	uint64_t datagrams_in, datagrams_out;
	uint64_t sessions;       /* sessions alive now */
	bool pattern_ok;         /* DISCARD: every byte matched the pattern */
};

struct zt_vhost;

/*
 * zt_vhost_add() - run a @cfg->kind server on @addr:@port of @vn.
 * @cfg is copied. Return: the host (owned by @vn), or NULL (no memory, or
 * the address is taken).
 */
struct zt_vhost *zt_vhost_add(struct zt_vnet *vn, const struct zt_addr *addr,
			      uint16_t port, const struct zt_vhost_config *cfg);
const struct zt_vhost_stats *zt_vhost_stats(const struct zt_vhost *h);
/* Change the configuration for sessions started from now on (copied). */
void zt_vhost_reconfigure(struct zt_vhost *h, const struct zt_vhost_config *cfg);

/* End every session now: close (FIN) or reset each connection, drop each
 * UDP association. */
void zt_vhost_drop_sessions(struct zt_vhost *h, bool rst);

static inline uint8_t zt_vhost_pattern(uint64_t i)
{
	return (uint8_t)(i * 131 + (i >> 9) + 7);
}

#endif /* ZTUN_SIM_VHOSTS_H */
