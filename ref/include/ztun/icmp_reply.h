/* SPDX-License-Identifier: MIT */
/*
 * icmp_reply.h - the ICMP responder: echo replies (RFC 792, RFC 4443 4.2),
 * ICMP error generation (RFC 792, RFC 1122 3.2.2, RFC 1812 4.3.2, RFC 4443
 * 2.4) and a token-bucket rate limiter for the errors (RFC 1812 4.3.2.8,
 * RFC 4443 2.4(f)).
 *
 * Every builder writes a complete IP packet (header, ICMP header, body, all
 * checksums) into a caller-owned buffer and returns its length. Nothing here
 * reads a clock or keeps state: the limiter's state is the caller's struct
 * and time is the caller's @now.
 */
#ifndef ZTUN_ICMP_REPLY_H
#define ZTUN_ICMP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/addr.h"
#include "ztun/icmp_wire.h"
#include "ztun/packet.h"
#include "ztun/view.h"

/* TTL / hop limit of everything the responder sends. */
#define ZT_ICMP_REPLY_TTL 64
/* Largest error message: RFC 1812 4.3.2.3 (IPv4), RFC 4443 2.4(c) (IPv6). */
#define ZT_ICMP4_ERROR_MAX 576u
#define ZT_ICMP6_ERROR_MAX 1280u
/* Smallest link MTU zt_icmp_error() accepts: RFC 791, RFC 8200 5. */
#define ZT_IP4_MIN_MTU 68u
#define ZT_IP6_MIN_MTU 1280u

/*
 * zt_icmp_echo_reply() - build the echo reply to an echo request.
 * @req: a packet decoded by zt_packet_parse() (borrowed; its payload view
 *       must still point at the request's bytes)
 * @buf: caller-owned output, must not overlap the request's bytes
 * @cap: bytes available at @buf
 *
 * The reply goes from the request's destination to its source with the same
 * identifier, sequence number and data. IPv4: no options, DSCP copied and ECN
 * cleared, TTL 64, DF set and identification 0 (an atomic datagram, RFC 6864
 * 4.1). IPv6: no extension headers, DSCP copied and ECN cleared, flow label 0,
 * hop limit 64.
 * Return: length of the packet written; -EINVAL if @req is not an
 * unfragmented ICMPv4/ICMPv6 echo request; -EPERM if it came from an address
 * that is not a single host (unspecified, loopback, multicast, broadcast) or
 * went to a multicast/broadcast address (we have no unicast address of our
 * own to answer from, RFC 1122 3.2.2.6, RFC 4443 4.2); -ENOSPC if @cap is
 * smaller than the reply.
 */
int zt_icmp_echo_reply(const struct zt_packet *req, uint8_t *buf, size_t cap);

/*
 * zt_icmp_error() - build an ICMP error about @offender.
 * @offender:       the offending packet as zt_packet_parse() decoded it (the
 *                  IP layer at least must have parsed; a failed upper layer
 *                  is fine)
 * @offender_raw:   its bytes from the IP header on (borrowed; link padding
 *                  past the IP length is not quoted)
 * @kind:           ZT_ICMP_DEST_UNREACH, ZT_ICMP_PACKET_TOO_BIG,
 *                  ZT_ICMP_TIME_EXCEEDED or ZT_ICMP_PARAM_PROBLEM
 * @code:           ICMP code (ignored for PACKET_TOO_BIG: 4 over IPv4, 0 over
 *                  IPv6); over IPv4 DEST_UNREACH code 4 is refused, use
 *                  PACKET_TOO_BIG
 * @mtu_or_pointer: PACKET_TOO_BIG: the MTU (IPv4 68..65535, IPv6 >= 1280);
 *                  PARAM_PROBLEM: the pointer (IPv4 0..255); else ignored
 * @from:           the address we answer as (usually the offender's
 *                  destination); unicast, same family as the offender
 * @link_mtu:       MTU of the link the error leaves by (IPv4 >= 68, IPv6
 *                  >= 1280)
 * @buf:            caller-owned output, must not overlap @offender_raw
 * @cap:            bytes available at @buf
 *
 * The error goes from @from to the offender's source, TTL/hop limit 64,
 * DSCP CS6 (RFC 1812 4.3.2.5), IPv4 with DF and identification 0. It quotes
 * the offending datagram from its IP header on, as much as fits in 576 bytes
 * (IPv4) or 1280 bytes (IPv6) of error packet and never more than @link_mtu.
 * Return: length of the packet written; -EPERM when the rules forbid an
 * error (RFC 1122 3.2.2, RFC 4443 2.4(e)): the offender is an ICMP error
 * (or an ICMPv4 message of a type we do not know), a fragment other than
 * the first, comes from an address that is not a single host (unspecified,
 * loopback, multicast, broadcast, IPv4 0/8 and 240/4), or went to a
 * multicast or broadcast address (except IPv6 Packet Too Big and IPv6
 * Parameter Problem code 2, RFC 4443 2.4(e.3)); -EINVAL for bad arguments;
 * -ENOSPC if @cap is smaller than the error.
 */
int zt_icmp_error(const struct zt_packet *offender, struct zt_view offender_raw,
		  enum zt_icmp_kind kind, uint8_t code, uint32_t mtu_or_pointer,
		  const struct zt_addr *from, uint16_t link_mtu, uint8_t *buf,
		  size_t cap);

/* @from of zt_icmp_error() (and an echo reply's source) must be a single
 * host: zt_addr_is_host() (addr.h). */

/*
 * A token bucket: up to @burst tokens, refilled at @per_second tokens per
 * second with nanosecond resolution and no rounding drift. Caller-owned;
 * no allocation. Fields are private to icmp_reply.c.
 */
struct zt_ratelimit {
	uint64_t credit;   /* tokens * 1e9 (one token per 1e9 units) */
	uint64_t max;      /* burst * 1e9 */
	uint64_t rate;     /* units per nanosecond: per_second */
	uint64_t last;     /* @now of the last refill */
};

/* Start with a full bucket of @burst tokens. @per_second 0 means no refill;
 * @burst 0 means nothing is ever allowed. */
void zt_ratelimit_init(struct zt_ratelimit *rl, uint32_t per_second,
		       uint32_t burst);

/*
 * zt_ratelimit_take() - refill for the time since the last call, then take
 * one token if there is one.
 * @now: nanoseconds of the host's clock; a step backwards refills nothing
 *       and restarts the measurement from @now
 * Return: true if a token was taken (send), false otherwise (suppress).
 */
bool zt_ratelimit_take(struct zt_ratelimit *rl, uint64_t now);
/* zt_ratelimit_take() without the taking: whether a token is there now
 * (after the refill), for a caller that must work to build what it would
 * send. */
bool zt_ratelimit_ready(struct zt_ratelimit *rl, uint64_t now);

#endif /* ZTUN_ICMP_REPLY_H */
