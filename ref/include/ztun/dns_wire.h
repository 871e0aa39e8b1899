/* SPDX-License-Identifier: MIT */
/*
 * dns_wire.h - DNS queries in, answers out (RFC 1035 4.1, RFC 3596): just
 * what a resolver that answers from a table needs (fakedns.h).
 *
 * A query is one message with one question; the question's name is kept
 * as text (lower case, dotted, no trailing dot) and its bytes as sent, so
 * that the answer echoes the question exactly (0x20 case randomization
 * included). Answers point back at that question's name (compression
 * pointer to offset 12), so they never need the name written twice.
 */
#ifndef ZTUN_DNS_WIRE_H
#define ZTUN_DNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/addr.h"
#include "ztun/view.h"

#define ZT_DNS_PORT 53
#define ZT_DNS_HDR 12
#define ZT_DNS_NAME_MAX 253   /* text form without the trailing dot */
#define ZT_DNS_UDP_MAX 512    /* an answer over UDP without EDNS */
/* The most one UDP datagram carries over IPv4 (65535 less the IPv4 and
 * UDP headers): what any EDNS size comes to. */
#define ZT_DNS_UDP_PAYLOAD_MAX (65535 - 20 - 8)

enum {
	ZT_DNS_TYPE_A = 1,
	ZT_DNS_TYPE_PTR = 12,
	ZT_DNS_TYPE_AAAA = 28,
	ZT_DNS_CLASS_IN = 1,
};

enum zt_dns_rcode {
	ZT_DNS_NOERROR = 0,
	ZT_DNS_FORMERR = 1,   /* the question could not be read */
	ZT_DNS_SERVFAIL = 2,  /* we could not answer (no memory) */
	ZT_DNS_NXDOMAIN = 3,
	ZT_DNS_NOTIMP = 4,    /* an opcode other than QUERY */
	ZT_DNS_REFUSED = 5,   /* a name that is not a host name */
};

struct zt_dns_query {
	uint16_t id;
	uint16_t flags;        /* the query's header flags */
	uint16_t qtype, qclass;
	/* lower case, labels joined by '.', no trailing dot; "" for the root */
	char name[ZT_DNS_NAME_MAX + 1];
	struct zt_view question; /* QNAME QTYPE QCLASS as sent (borrowed
				  * from the message); len 0 when unread */
};

/*
 * zt_dns_parse_query() - read the header and the one question of @msg.
 * Return: a negative errno when no answer can be given (-EINVAL: shorter
 * than a header, or a response, not a query); otherwise the rcode to
 * answer with: ZT_DNS_NOERROR when @q holds the question, ZT_DNS_NOTIMP
 * for an opcode other than QUERY, ZT_DNS_FORMERR when the question count
 * is not 1 or the question is malformed (truncated, a label longer than
 * 63, a name longer than 255 bytes, a compression pointer), and
 * ZT_DNS_REFUSED for a name with bytes other than letters, digits, '-'
 * and '_' (it could not be a host name to connect to). The header fields
 * of @q are filled in every non-negative case; records after the question
 * (an EDNS OPT) are ignored.
 */
int zt_dns_parse_query(struct zt_view msg, struct zt_dns_query *q);

/* Whether NUL-terminated @name is a host name in text form: labels of 1..63
 * letters, digits, '-' and '_' joined by single dots, at most
 * ZT_DNS_NAME_MAX characters, no trailing dot. */
bool zt_dns_name_valid(const char *name);

/*
 * zt_dns_build_answer() - the response to @q with rcode @rcode and @n
 * address records (A for IPv4, AAAA for IPv6 addresses) of @ttl seconds,
 * into @buf (@cap bytes, caller-owned). The question is echoed when @q
 * has one (and only then are records written); RD is copied, RA and AA
 * set. Return: the length, or -ENOSPC.
 */
int zt_dns_build_answer(const struct zt_dns_query *q, unsigned rcode,
			const struct zt_addr *addrs, unsigned n, uint32_t ttl,
			uint8_t *buf, size_t cap);

/*
 * zt_dns_build_ptr() - the NOERROR answer to @q (which has a question)
 * with one PTR record of @ttl seconds pointing at host name @target
 * (text: labels of 1..63 bytes joined by dots, at most ZT_DNS_NAME_MAX).
 * Return: the length, -EINVAL for a bad @target, or -ENOSPC.
 */
int zt_dns_build_ptr(const struct zt_dns_query *q, const char *target,
		     uint32_t ttl, uint8_t *buf, size_t cap);

/* The most addresses zt_dns_parse_answer() collects from one answer. */
#define ZT_DNS_ANSWER_ADDRS_MAX 16

/*
 * zt_dns_parse_answer() - the question's name and the A and AAAA records
 * of a response @msg (an upstream resolver's answer to a forwarded
 * query), for learning which name an address was given for.
 * @name:  the question's name as zt_dns_parse_query() gives it
 * @addrs: up to @max addresses of the answer section, whatever their
 *         owner (a CNAME chain leads from the question's name to them)
 * Return: how many addresses were put in @addrs (0..@max; more are
 * ignored), or -EINVAL: not a response with rcode NOERROR and one
 * question, a host name in it, or a record that runs past the message
 * or a name in one that is none: over 255 octets once its pointers are
 * followed, a pointer into the header or not back before the labels that
 * led to it (RFC 1035 3.1, 4.1.4; so a loop ends).
 */
int zt_dns_parse_answer(struct zt_view msg, char name[ZT_DNS_NAME_MAX + 1],
			struct zt_addr *addrs, unsigned max);

/*
 * zt_dns_udp_limit() - the largest response the sender of query @msg
 * takes over UDP: the payload size its EDNS OPT record advertises (never
 * below 512, RFC 6891 6.2.5, nor above ZT_DNS_UDP_PAYLOAD_MAX), else
 * ZT_DNS_UDP_MAX (RFC 1035 4.2.1).
 * Records are stepped over as zt_dns_parse_answer() does; a message that
 * cannot be read that far reads as one without OPT.
 */
unsigned zt_dns_udp_limit(struct zt_view msg);

/*
 * zt_dns_question() - the question section of message @msg (query or
 * response) when it holds exactly one question whose name is plain
 * labels (no compression pointer), set in @q (borrowed from @msg).
 * Return: 0 or -EINVAL.
 */
int zt_dns_question(struct zt_view msg, struct zt_view *q);

/* Whether questions @a and @b (zt_dns_question()) ask the same: names
 * equal but for ASCII case (RFC 4343), the same type and class. */
bool zt_dns_question_eq(struct zt_view a, struct zt_view b);

/*
 * zt_dns_truncate() - response @msg cut to what fits a client's UDP limit
 * when the whole does not: its header with TC set and no records but its
 * question (RFC 2181 9: a truncated answer is not to be used, the client
 * asks again over TCP) and its EDNS OPT (RFC 6891 7), into @buf (@cap
 * bytes, caller-owned: the client's UDP size at most, so the OPT goes
 * whole if it fits in @cap, else without its options, else not). When
 * @msg's question cannot be copied (none, several, unreadable, or compressed), the
 * one of @query (the message it answers; len 0: none) stands in for it,
 * since a stub drops an answer whose question is not the one it asked;
 * when neither can be, the header goes alone with a question count of 0.
 * Return: the length; -EINVAL when @msg is not a response (or shorter
 * than a header); -ENOSPC.
 */
int zt_dns_truncate(struct zt_view msg, struct zt_view query, uint8_t *buf,
		    size_t cap);

#endif /* ZTUN_DNS_WIRE_H */
