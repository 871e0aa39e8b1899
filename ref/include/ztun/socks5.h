/* SPDX-License-Identifier: MIT */
/*
 * socks5.h - SOCKS5 client handshake (RFC 1928) with username/password
 * authentication (RFC 1929), and SOCKS5 UDP encapsulation (RFC 1928 7).
 *
 * A byte-in/byte-out machine: it never touches a socket. The router sends
 * what zt_socks5_start() writes, then feeds every byte received from the
 * proxy to zt_socks5_input() and sends whatever it writes, until the state is
 * ZT_SOCKS5_READY (the tunnel is open; any unconsumed input is tunnel data)
 * or ZT_SOCKS5_FAILED (the outcome says why). Bytes from the proxy are
 * untrusted: input may be split anywhere, and nothing past @len is read.
 *
 * Exchange:
 *   -> 05 NMETHODS METHODS          (00, plus 02 when credentials are set)
 *   <- 05 METHOD
 *   -> 01 ULEN UNAME PLEN PASSWD    (only when the proxy chose 02)
 *   <- 01 STATUS
 *   -> 05 CMD 00 ATYP DST.ADDR DST.PORT
 *   <- 05 REP 00 ATYP BND.ADDR BND.PORT
 *
 * Outcome to what the TUN client gets (zt_socks5_refuse()):
 *   REP 1 general failure              RST
 *   REP 2 not allowed by ruleset       ICMP admin prohibited (13 / v6 1)
 *   REP 3 network unreachable          ICMP net unreachable (0 / v6 0)
 *   REP 4 host unreachable             ICMP host unreachable (1 / v6 3)
 *   REP 5 connection refused           RST
 *   REP 6 TTL expired                  ICMP host unreachable (1 / v6 3)
 *   REP 7 command not supported        RST
 *   REP 8 address type not supported   RST
 *   anything else (unknown REP, no acceptable method, auth failed, bad
 *   version, malformed reply)          RST (a proxy problem, not the
 *                                      destination's: fail fast)
 */
#ifndef ZTUN_SOCKS5_H
#define ZTUN_SOCKS5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/addr.h"
#include "ztun/refuse.h"
#include "ztun/upstream.h"
#include "ztun/view.h"

enum zt_socks5_cmd {
	ZT_SOCKS5_CMD_CONNECT = 1,
	ZT_SOCKS5_CMD_UDP_ASSOCIATE = 3,
};

enum zt_socks5_atyp {
	ZT_SOCKS5_ATYP_IPV4 = 1,
	ZT_SOCKS5_ATYP_DOMAIN = 3,
	ZT_SOCKS5_ATYP_IPV6 = 4,
};

#define ZT_SOCKS5_NAME_MAX 255u  /* domain names, user names, passwords */
/* Most zt_socks5_input() writes in one call: the RFC 1929 request
 * (3 + 255 + 255) then the command request (4 + 1 + 255 + 2). */
#define ZT_SOCKS5_OUT_MAX (3u + 2u * ZT_SOCKS5_NAME_MAX + 7u + ZT_SOCKS5_NAME_MAX)
/* Longest greeting zt_socks5_start() writes. */
#define ZT_SOCKS5_GREETING_MAX 4u
/* zt_socks5_start() of a pipelined handshake: greeting + RFC 1929 request
 * + command request. */
#define ZT_SOCKS5_PIPELINED_MAX (3u + ZT_SOCKS5_OUT_MAX)
/* Longest SOCKS5 UDP header (RSV RSV FRAG ATYP, a domain, the port). */
#define ZT_SOCKS5_UDP_HDR_MAX (4u + 1u + ZT_SOCKS5_NAME_MAX + 2u)

/* A SOCKS address: an IPv4/IPv6 address or a domain name, and a port. */
struct zt_socks5_addr {
	uint8_t atyp;        /* enum zt_socks5_atyp */
	uint8_t name_len;    /* DOMAIN: 1..255 (0 only in a reply's BND) */
	uint16_t port;       /* host order */
	struct zt_addr ip;   /* IPV4/IPV6 */
	/* DOMAIN: name_len bytes, then a NUL. Bytes from the wire are copied
	 * as they are: the name may itself contain NULs; name_len rules. */
	char name[ZT_SOCKS5_NAME_MAX + 1];
};

/* Make @out the address @ip (ZT_AF_INET or ZT_AF_INET6) port @port. */
void zt_socks5_addr_ip(struct zt_socks5_addr *out, const struct zt_addr *ip,
		       uint16_t port);
/* Make @out the domain @name (@len bytes, 1..255, copied). 0 or -EINVAL. */
int zt_socks5_addr_name(struct zt_socks5_addr *out, const char *name,
			size_t len, uint16_t port);

enum zt_socks5_state {
	ZT_SOCKS5_IN_PROGRESS = 0, /* feed more proxy bytes */
	ZT_SOCKS5_READY,           /* tunnel open (CONNECT) / relay known (UDP) */
	ZT_SOCKS5_FAILED,          /* see zt_socks5_outcome() */
};

/* Why the handshake ended. Values 1..8 are the RFC 1928 REP codes. */
enum zt_socks5_outcome {
	ZT_SOCKS5_OK = 0,                /* in progress, or ready */
	ZT_SOCKS5_GENERAL_FAILURE = 1,   /* REP 1 */
	ZT_SOCKS5_NOT_ALLOWED = 2,       /* REP 2: not allowed by ruleset */
	ZT_SOCKS5_NET_UNREACH = 3,       /* REP 3 */
	ZT_SOCKS5_HOST_UNREACH = 4,      /* REP 4 */
	ZT_SOCKS5_CONN_REFUSED = 5,      /* REP 5 */
	ZT_SOCKS5_TTL_EXPIRED = 6,       /* REP 6 */
	ZT_SOCKS5_CMD_UNSUPPORTED = 7,   /* REP 7 */
	ZT_SOCKS5_ATYP_UNSUPPORTED = 8,  /* REP 8 */
	ZT_SOCKS5_UNKNOWN_REPLY,         /* REP 9..255 (zt_socks5.rep has it) */
	ZT_SOCKS5_NO_ACCEPTABLE_METHOD,  /* METHOD 0xFF */
	ZT_SOCKS5_UNOFFERED_METHOD,      /* a METHOD we did not offer */
	ZT_SOCKS5_AUTH_FAILED,           /* RFC 1929 STATUS != 0 */
	ZT_SOCKS5_BAD_VERSION,           /* VER != 5 (RFC 1929 reply: != 1) */
	ZT_SOCKS5_MALFORMED,             /* RSV != 0, bad ATYP */
	ZT_SOCKS5__COUNT
};

/*
 * One client handshake: caller-owned, allocates nothing, holds copies of
 * its configuration. Fields are read-only for the caller; set them through
 * zt_socks5_init() and the setters below, before zt_socks5_start().
 */
struct zt_socks5 {
	/* configuration */
	uint8_t cmd;                  /* enum zt_socks5_cmd */
	bool has_target;
	bool has_auth;
	bool pipelined;
	uint8_t user_len, pass_len;
	uint8_t user[ZT_SOCKS5_NAME_MAX];
	uint8_t pass[ZT_SOCKS5_NAME_MAX];
	struct zt_socks5_addr target;
	/* progress */
	uint8_t phase;                /* private */
	uint8_t state;                /* enum zt_socks5_state */
	uint8_t outcome;              /* enum zt_socks5_outcome */
	uint8_t rep;                  /* last REP byte seen (UNKNOWN_REPLY) */
	uint16_t have, need;          /* private: bytes of the message so far */
	uint8_t buf[4 + 1 + ZT_SOCKS5_NAME_MAX + 2]; /* private */
	/* result, valid when READY */
	struct zt_socks5_addr bnd;    /* BND.ADDR / BND.PORT as the proxy sent them */
	bool bnd_unspecified;         /* BND.ADDR is 0.0.0.0, :: or ::ffff:0.0.0.0: use the proxy's */
};

/*
 * zt_socks5_init() - a fresh handshake for @cmd with no credentials. The
 * target starts unset; UDP ASSOCIATE may leave it so (the request then
 * carries 0.0.0.0:0, "the client's address is not known yet").
 */
void zt_socks5_init(struct zt_socks5 *c, enum zt_socks5_cmd cmd);

/* Copy @target (an IP or a domain) as DST.ADDR/DST.PORT. 0 or -EINVAL. */
int zt_socks5_set_target(struct zt_socks5 *c,
			 const struct zt_socks5_addr *target);

/*
 * zt_socks5_set_auth() - offer RFC 1929 username/password (copied).
 * @user/@user_len: 1..255 bytes; @pass/@pass_len: 0..255 bytes.
 * Return: 0 or -EINVAL.
 */
int zt_socks5_set_auth(struct zt_socks5 *c, const void *user, size_t user_len,
		       const void *pass, size_t pass_len);

/*
 * zt_socks5_set_pipelined() - send everything at once: the greeting
 * offers exactly one method (username/password with credentials, else
 * none), and the RFC 1929 request and the command request follow it in
 * zt_socks5_start()'s output, so the handshake takes one round trip, not
 * two or three; zt_socks5_input() then only reads replies. The proxy must
 * read what follows the greeting (danted does; microsocks discards it).
 */
void zt_socks5_set_pipelined(struct zt_socks5 *c);

/*
 * zt_socks5_start() - write the greeting into @out (caller-owned, @cap
 * bytes, at most ZT_SOCKS5_GREETING_MAX are needed; pipelined, at most
 * ZT_SOCKS5_PIPELINED_MAX).
 * Return: bytes written; -ENOSPC when @cap is too small; -EALREADY when
 * already started; -EDESTADDRREQ for CONNECT without a target.
 */
int zt_socks5_start(struct zt_socks5 *c, uint8_t *out, size_t cap);

/*
 * zt_socks5_input() - consume bytes the proxy sent.
 * @in/@len:   proxy bytes (borrowed; never read past @len); any split works,
 *             down to one byte per call
 * @out/@cap:  caller-owned buffer for what to send next; @cap must hold
 *             everything the rest of the handshake may write (the RFC 1929
 *             request and the command request: ZT_SOCKS5_OUT_MAX always
 *             suffices), else -ENOSPC and nothing is consumed
 * @out_len:   bytes written to @out (send them, in order)
 * @consumed:  bytes of @in that belonged to the handshake. On READY the
 *             rest of @in (@len - @consumed bytes) is tunnel data (CONNECT)
 *             that the caller must keep; while IN_PROGRESS all of @in is
 *             consumed; on FAILED the rest is meaningless.
 *
 * After READY or FAILED further calls consume nothing and return the state.
 * Return: enum zt_socks5_state, or -EINVAL before zt_socks5_start(), or
 * -ENOSPC.
 */
int zt_socks5_input(struct zt_socks5 *c, const uint8_t *in, size_t len,
		    uint8_t *out, size_t cap, size_t *out_len, size_t *consumed);

static inline enum zt_socks5_outcome zt_socks5_outcome(const struct zt_socks5 *c)
{
	return (enum zt_socks5_outcome)c->outcome;
}

/* Stable lower_snake name of @o for logs; never NULL. */
const char *zt_socks5_outcome_name(enum zt_socks5_outcome o);

/* What the TUN client gets for @o (table at the top of this file). */
enum zt_refuse zt_socks5_refuse(enum zt_socks5_outcome o);

/*
 * zt_socks5_relay_endpoint() - where to send SOCKS5 UDP datagrams after a
 * successful UDP ASSOCIATE: BND.ADDR:BND.PORT, except that an unspecified
 * BND.ADDR (0.0.0.0, :: or ::ffff:0.0.0.0, RFC 1928 leaves its meaning
 * to the proxy; in practice "the address you reached me at"), a loopback
 * one (127/8, ::1: the proxy's own side of a NAT or a container) from a
 * proxy that is not on loopback itself, and a domain name (ATYP 3, empty
 * too: in practice the proxy's own host name; a host may not resolve names, and a
 * relay known only by name could not be told from any other sender) are
 * replaced by the proxy as the router reached it: its name when it was
 * given one, else its address. An IPv4-mapped BND.ADDR is the IPv4
 * address it maps.
 * @proxy: the proxy's endpoint as configured (borrowed; port unused)
 * @out:   the relay (an IP, or a domain)
 * Return: 0; -EINVAL unless READY after UDP ASSOCIATE, for a BND.PORT of
 * 0 (no port to send to), for a BND.ADDR no host has (multicast, IPv4
 * class E or broadcast, 0/8), or when @proxy has neither a name nor an
 * address to stand for an unspecified BND.ADDR.
 */
int zt_socks5_relay_endpoint(const struct zt_socks5 *c,
			     const struct zt_endpoint *proxy,
			     struct zt_socks5_addr *out);

/* Why a SOCKS5 UDP datagram from the relay was dropped. */
enum zt_socks5_udp_result {
	ZT_SOCKS5_UDP_OK = 0,
	ZT_SOCKS5_UDP_TRUNCATED,   /* shorter than its header says */
	ZT_SOCKS5_UDP_BAD_RSV,     /* RSV is not 0x0000 */
	ZT_SOCKS5_UDP_FRAGMENTED,  /* FRAG != 0: we do not reassemble (RFC 1928 7 allows dropping) */
	ZT_SOCKS5_UDP_BAD_ATYP,    /* ATYP not 1, 3 or 4 */
	ZT_SOCKS5_UDP_BAD_ADDR,    /* domain of length 0 */
	ZT_SOCKS5_UDP__COUNT
};

/* Stable lower_snake name of @r for counters; never NULL. */
const char *zt_socks5_udp_result_name(enum zt_socks5_udp_result r);

/*
 * zt_socks5_udp_wrap() - encapsulate @len bytes of @payload to @dst.
 * @dst:     destination (IP or domain) and port
 * @payload: borrowed, must not overlap @out
 * @out:     caller-owned, @cap bytes
 * Return: datagram length (header + @len); -ENOSPC when it does not fit;
 * -EINVAL for a bad @dst.
 */
int zt_socks5_udp_wrap(const struct zt_socks5_addr *dst, const uint8_t *payload,
		       size_t len, uint8_t *out, size_t cap);

/*
 * zt_socks5_udp_unwrap() - decapsulate a datagram from the relay.
 * @in/@len:  the datagram (borrowed; never read past @len)
 * @from:     the DST.ADDR/DST.PORT it carries (the remote sender); an
 *            IPv4-mapped IPv6 one (::ffff:a.b.c.d) as its IPv4 address
 * @payload:  view into @in of the data (borrowed from @in)
 * Return: ZT_SOCKS5_UDP_OK or why it must be dropped (@from and @payload
 * are then unspecified).
 */
enum zt_socks5_udp_result zt_socks5_udp_unwrap(const uint8_t *in, size_t len,
					       struct zt_socks5_addr *from,
					       struct zt_view *payload);

#endif /* ZTUN_SOCKS5_H */
