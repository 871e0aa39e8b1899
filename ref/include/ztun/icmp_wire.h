/* SPDX-License-Identifier: MIT */
/*
 * icmp_wire.h - ICMPv4 (RFC 792, 1191) and ICMPv6 (RFC 4443) messages:
 * echo, destination unreachable, time exceeded, packet too big /
 * fragmentation needed, parameter problem, and the datagram an error quotes.
 */
#ifndef ZTUN_ICMP_WIRE_H
#define ZTUN_ICMP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/addr.h"
#include "ztun/drop.h"
#include "ztun/view.h"

#define ZT_ICMP_HDR 8

/* ICMPv4 types/codes we name. */
enum {
	ZT_ICMP4_ECHO_REPLY = 0,
	ZT_ICMP4_DEST_UNREACH = 3,
	ZT_ICMP4_ECHO_REQUEST = 8,
	ZT_ICMP4_TIME_EXCEEDED = 11,
	ZT_ICMP4_PARAM_PROBLEM = 12,
	ZT_ICMP4_CODE_NET_UNREACH = 0,
	ZT_ICMP4_CODE_HOST_UNREACH = 1,
	ZT_ICMP4_CODE_PROTO_UNREACH = 2,
	ZT_ICMP4_CODE_PORT_UNREACH = 3,
	ZT_ICMP4_CODE_FRAG_NEEDED = 4,
	ZT_ICMP4_CODE_ADMIN_PROHIBITED = 13,
};

/* ICMPv6 types/codes we name. */
enum {
	ZT_ICMP6_DEST_UNREACH = 1,
	ZT_ICMP6_PACKET_TOO_BIG = 2,
	ZT_ICMP6_TIME_EXCEEDED = 3,
	ZT_ICMP6_PARAM_PROBLEM = 4,
	ZT_ICMP6_ECHO_REQUEST = 128,
	ZT_ICMP6_ECHO_REPLY = 129,
	ZT_ICMP6_CODE_NO_ROUTE = 0,
	ZT_ICMP6_CODE_ADMIN_PROHIBITED = 1,
	ZT_ICMP6_CODE_ADDR_UNREACH = 3,
	ZT_ICMP6_CODE_PORT_UNREACH = 4,
};

/* What a message is, independent of family. */
enum zt_icmp_kind {
	ZT_ICMP_OTHER = 0,       /* any type we do not interpret (NDP, router ads, ...) */
	ZT_ICMP_ECHO_REQUEST,
	ZT_ICMP_ECHO_REPLY,
	ZT_ICMP_DEST_UNREACH,    /* v4 type 3 except code 4; v6 type 1 */
	ZT_ICMP_PACKET_TOO_BIG,  /* v4 type 3 code 4; v6 type 2 */
	ZT_ICMP_TIME_EXCEEDED,
	ZT_ICMP_PARAM_PROBLEM,
};

/* Host-order representation of an ICMP header (the first 8 bytes). */
struct zt_icmp_repr {
	uint8_t type;
	uint8_t code;
	enum zt_icmp_kind kind; /* derived by parse; ignored by emit */
	uint16_t echo_ident;    /* echo request/reply */
	uint16_t echo_seq;
	uint32_t mtu;           /* packet too big: v6 32-bit MTU, v4 16-bit next-hop MTU */
	uint32_t pointer;       /* parameter problem: v4 8-bit, v6 32-bit */
	uint32_t rest;          /* bytes 4..7 as received, for kinds not named above */
};

/* Set kind from the type/code of @r for family @family (ZT_AF_*). */
enum zt_icmp_kind zt_icmp_classify(uint8_t family, uint8_t type, uint8_t code);

/*
 * Whether destination unreachable code @code (family @family) is a hard
 * error, one that ends what it is about: Linux's "fatal" ones
 * (icmp_err_convert, icmpv6_err_convert), which it reports to a connected
 * UDP socket and with which it ends a TCP handshake. IPv4: protocol and
 * port unreachable, destination network / host unknown, source host
 * isolated, network / host / communication administratively prohibited,
 * host precedence violation, precedence cutoff (2, 3, 6-10, 13-15).
 * IPv6: administratively prohibited, port unreachable, source address
 * failed policy, reject route (1, 4, 5, 6). The rest (network or host
 * unreachable, source route failed, unreachable for the TOS, no route,
 * beyond the source's scope, address unreachable) are soft: transient, as
 * RFC 1122 4.2.3.9 has them. Fragmentation needed is no unreachable here
 * (ZT_ICMP_PACKET_TOO_BIG).
 */
bool zt_icmp_unreach_hard(uint8_t family, uint8_t code);

/*
 * zt_icmp4_parse() / zt_icmp6_parse() - check length (>= 8) and checksum
 * (ICMPv6 with the pseudo-header of @src/@dst) and decode the header.
 * @body: the bytes after the 8-byte header: echo data, or the quoted
 *        datagram of an error message.
 */
enum zt_drop zt_icmp4_parse(struct zt_view msg, unsigned flags,
			    struct zt_icmp_repr *out, struct zt_view *body);
enum zt_drop zt_icmp6_parse(struct zt_view msg, const struct zt_addr *src,
			    const struct zt_addr *dst, unsigned flags,
			    struct zt_icmp_repr *out, struct zt_view *body);

/*
 * zt_icmp4_emit() / zt_icmp6_emit() - write header + @body (copied unless
 * already at buf + 8) and the checksum. Bytes 4..7 come from echo_ident /
 * echo_seq, mtu or pointer by the kind that type/code name, else from rest.
 * Return: total length, -ENOSPC, or -EINVAL (longer than 65535).
 */
int zt_icmp4_emit(const struct zt_icmp_repr *r, const uint8_t *body,
		  size_t body_len, uint8_t *buf, size_t cap);
int zt_icmp6_emit(const struct zt_icmp_repr *r, const struct zt_addr *src,
		  const struct zt_addr *dst, const uint8_t *body,
		  size_t body_len, uint8_t *buf, size_t cap);

/* What an ICMP error quotes of the datagram that caused it: enough to find
 * the flow. The quote is often cut short, so its lengths are not trusted:
 * only the IP header and the first 8 bytes of the upper layer are needed. */
struct zt_icmp_quote {
	struct zt_addr src;
	struct zt_addr dst;
	uint8_t proto;         /* upper-layer protocol of the quoted datagram */
	uint32_t ip_len;       /* its length as its own header gives it (IPv4
				* total length, IPv6 40 + payload length; 0
				* for a jumbogram): what it was, not what
				* was quoted of it */
	uint32_t l4_len;       /* bytes quoted past the IP headers (0 for a
				* non-first fragment, which quotes none) */
	bool has_ports;        /* TCP/UDP with at least 4 bytes quoted */
	uint16_t src_port;
	uint16_t dst_port;
	bool has_seq;          /* TCP with at least 8 bytes quoted */
	uint32_t tcp_seq;
	bool has_icmp_type;    /* ICMP (ICMPv6 over IPv6) with its type quoted */
	uint8_t icmp_type;
	bool has_echo;         /* quoted ICMP echo with at least 8 bytes */
	uint16_t echo_ident;
	uint16_t echo_seq;
};

/* Decode the quoted datagram @quoted (IPv4 or IPv6 by its version nibble;
 * IPv6 extension headers are walked). No checksum or total-length check.
 * Return: ZT_DROP_NONE, ZT_DROP_TRUNCATED when not even the IP header is
 * there, or another reason. */
enum zt_drop zt_icmp_parse_quote(struct zt_view quoted,
				 struct zt_icmp_quote *out);

#endif /* ZTUN_ICMP_WIRE_H */
