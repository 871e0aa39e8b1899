/* SPDX-License-Identifier: MIT */
/*
 * refuse.h - how a TUN client is told that its upstream could not be opened.
 *
 * The proxy clients (socks5.h, http_connect.h) map their failure outcomes to
 * one of these; the router then answers the client's pending SYN with a TCP
 * RST or with an ICMP/ICMPv6 destination unreachable of the matching code.
 * The value is family-independent; zt_refuse_icmp_code() picks the code.
 */
#ifndef ZTUN_REFUSE_H
#define ZTUN_REFUSE_H

#include <stdbool.h>
#include <stdint.h>

#include "ztun/addr.h"
#include "ztun/icmp_wire.h"

enum zt_refuse {
	ZT_REFUSE_RST = 0,          /* TCP RST: "connection refused" */
	ZT_REFUSE_NET_UNREACH,      /* ICMP net unreachable / ICMPv6 no route */
	ZT_REFUSE_HOST_UNREACH,     /* ICMP host unreachable / ICMPv6 address unreachable */
	ZT_REFUSE_ADMIN_PROHIBITED, /* ICMP code 13 / ICMPv6 code 1 */
};

/*
 * zt_refuse_icmp_code() - the destination-unreachable code for @r.
 * @r:      the refusal
 * @family: ZT_AF_INET (ICMP type 3) or ZT_AF_INET6 (ICMPv6 type 1)
 *
 * Return: the code, or -1 for ZT_REFUSE_RST (answer with a TCP RST).
 */
static inline int zt_refuse_icmp_code(enum zt_refuse r, uint8_t family)
{
	bool v4 = family == ZT_AF_INET;

	switch (r) {
	case ZT_REFUSE_NET_UNREACH:
		return v4 ? ZT_ICMP4_CODE_NET_UNREACH : ZT_ICMP6_CODE_NO_ROUTE;
	case ZT_REFUSE_HOST_UNREACH:
		return v4 ? ZT_ICMP4_CODE_HOST_UNREACH : ZT_ICMP6_CODE_ADDR_UNREACH;
	case ZT_REFUSE_ADMIN_PROHIBITED:
		return v4 ? ZT_ICMP4_CODE_ADMIN_PROHIBITED :
			    ZT_ICMP6_CODE_ADMIN_PROHIBITED;
	case ZT_REFUSE_RST:
	default:
		return -1;
	}
}

#endif /* ZTUN_REFUSE_H */
