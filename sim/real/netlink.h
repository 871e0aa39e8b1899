/* SPDX-License-Identifier: MIT */
/*
 * netlink.h - the few rtnetlink requests ztun-ref needs: bring a link up
 * with an MTU, add an address, find the default route's interface.
 *
 * Theory of operation: each call opens a NETLINK_ROUTE socket, sends one
 * request with NLM_F_ACK (or a dump), reads until the kernel's ACK/DONE,
 * and closes the socket; the kernel's error comes back as the negative
 * errno. No `ip` command is run.
 */
#ifndef ZTUN_REAL_NETLINK_H
#define ZTUN_REAL_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/addr.h"

/* RTM_NEWLINK on @ifindex: IFLA_MTU @mtu (0: unchanged) and IFF_UP.
 * Return: 0 or a negative errno. */
int zr_nl_link_up(unsigned ifindex, uint32_t mtu);

/* RTM_NEWADDR: @addr/@prefix on @ifindex (IPv6 without DAD).
 * Return: 0 or a negative errno (-EEXIST when already there). */
int zr_nl_addr_add(unsigned ifindex, const struct zt_addr *addr,
		   uint8_t prefix);

/*
 * zr_nl_default_oif() - the interface of the main table's default route
 * of @family (ZT_AF_INET or ZT_AF_INET6) with the lowest metric, not
 * counting routes through @exclude (0: none).
 * Return: its index (> 0), 0 when there is none, or a negative errno.
 */
int zr_nl_default_oif(uint8_t family, unsigned exclude);

#endif /* ZTUN_REAL_NETLINK_H */
