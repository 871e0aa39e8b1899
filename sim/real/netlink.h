/* SPDX-License-Identifier: MIT */
/*
 * netlink.h - the few rtnetlink requests ztun-ref needs: bring a link up
 * with an MTU, add an address (list and remove those a ztun-ref added),
 * find the default route's interface, and for
 * --auto-route ask the route to an address, add and delete routes.
 *
 * Theory of operation: each call opens a NETLINK_ROUTE socket, sends one
 * request with NLM_F_ACK (or a dump), reads until the kernel's ACK/DONE
 * (only the kernel's replies to this request count; the whole answer
 * waited for at most ZR_NL_TIMEOUT_MS), and closes the socket; the kernel's error comes
 * back as the negative errno (-ETIMEDOUT: no answer). No `ip` command is
 * run.
 */
#ifndef ZTUN_REAL_NETLINK_H
#define ZTUN_REAL_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/addr.h"

struct nlmsghdr;

/* RTM_NEWLINK on @ifindex: IFLA_MTU @mtu and IFLA_TXQLEN @txqlen (each
 * 0: unchanged) and IFF_UP. Return: 0 or a negative errno. */
int zr_nl_link_up(unsigned ifindex, uint32_t mtu, uint32_t txqlen);

/* RTM_GETLINK on @ifindex: 1 when it is up, of type ARPHRD_NONE (a
 * TUN, say) and has carrier (IFLA_CARRIER: a TUN's follows its readers
 * at once, where IFF_RUNNING waits for the link watch), else 0; or a
 * negative errno. */
int zr_nl_link_carrier(unsigned ifindex);

/* RTM_NEWADDR: @addr/@prefix on @ifindex (IPv6 without DAD), tagged
 * IFA_PROTO ZR_RTPROT_ZTUN ("proto 122" in `ip addr`; a kernel before
 * 6.3 drops the tag). Return: 0 or a negative errno (-EEXIST when
 * already there: then it keeps the tag it had, or none). */
int zr_nl_addr_add(unsigned ifindex, const struct zt_addr *addr,
		   uint8_t prefix);

/* RTM_DELADDR of @addr/@prefix on @ifindex (its connected route goes
 * with it, routes through the device stay).
 * Return: 0 or a negative errno. */
int zr_nl_addr_del(unsigned ifindex, const struct zt_addr *addr,
		   uint8_t prefix);

/* An address of an interface. */
struct zr_nl_addr {
	struct zt_addr addr;
	uint8_t prefix;
};

/* The addresses of @ifindex tagged ZR_RTPROT_ZTUN (added by a ztun-ref),
 * into @out (at most @cap), from an RTM_GETADDR dump (interrupted ones
 * done again, as for zr_nl_default_oif()). Addresses of anyone else
 * (untagged) are never listed. Return: how many, or a negative errno
 * (-ENOBUFS: more than @cap; -EAGAIN: every dump was interrupted). */
int zr_nl_addr_ours(unsigned ifindex, struct zr_nl_addr *out, size_t cap);

/*
 * zr_nl_default_oif() - the interface of the main table's default route
 * of @family (ZT_AF_INET or ZT_AF_INET6) with the lowest metric, not
 * counting routes through @exclude (0: none). A route through a nexthop
 * object named by id alone (RTA_NH_ID) has that nexthop's device
 * (RTM_GETNEXTHOP; a group's first member not through @exclude).
 * A dump that the kernel marks interrupted (NLM_F_DUMP_INTR: the table
 * changed during it, so it may miss routes), or that names a nexthop
 * removed before RTM_GETNEXTHOP asked for it, is done again, up to
 * ZR_NL_DUMP_TRIES times in all.
 * Return: its index (> 0), 0 when there is none, or a negative errno
 * (-EAGAIN when every dump was interrupted, -ENOENT when the last one
 * named a nexthop removed since).
 */
#define ZR_NL_DUMP_TRIES 5
int zr_nl_default_oif(uint8_t family, unsigned exclude);

/*
 * zr_nl_host_route_exists() - whether the main table has a route to
 * exactly @addr (a /32 or /128, any metric or protocol: someone's host
 * route), from an RTM_GETROUTE dump (interrupted ones done again, as for
 * zr_nl_default_oif()). Return: 1, 0 or a negative errno.
 */
int zr_nl_host_route_exists(const struct zt_addr *addr);

/* rtm_protocol of every route ztun-ref adds ("proto 122" in `ip route`),
 * and IFA_PROTO of its addresses; deletions match it, so a route or an
 * address of anyone else is never removed. */
#define ZR_RTPROT_ZTUN 122

/* A unicast route of the main table: @dst/@prefix [via @gateway] dev @oif. */
struct zr_nl_route {
	struct zt_addr dst;
	uint8_t prefix;
	bool has_gateway;
	struct zt_addr gateway;     /* same family as dst */
	unsigned oif;
};

/* RTM_NEWROUTE (NLM_F_EXCL), protocol ZR_RTPROT_ZTUN, scope link without a
 * gateway. Return: 0 or a negative errno (-EEXIST when already there). */
int zr_nl_route_add(const struct zr_nl_route *r);

/* RTM_DELROUTE of a route that zr_nl_route_add() added.
 * Return: 0 or a negative errno (-ESRCH when there is no such route). */
int zr_nl_route_del(const struct zr_nl_route *r);

/*
 * zr_nl_route_get() - what the kernel would do now with a packet to @dst
 * (RTM_GETROUTE for one address, like `ip route get`).
 * @oif: 0, or the interface the packet must leave by (`ip route get ...
 *       oif DEV`: what a socket bound to it with SO_BINDTODEVICE gets)
 * @out: dst (= @dst, prefix full length), gateway and oif of the answer
 * @type: the route's RTN_* type (RTN_UNICAST, RTN_LOCAL, ...)
 * Return: 0 or a negative errno (-ENETUNREACH when there is no route,
 * -EOPNOTSUPP for a next hop this cannot express, e.g. RTA_VIA).
 */
int zr_nl_route_get(const struct zt_addr *dst, unsigned oif,
		    struct zr_nl_route *out, uint8_t *type);

/*
 * Tests only: @fn (NULL: the kernel) stands for the NETLINK_ROUTE socket
 * of each request from now on. It gets the request (borrowed, sequence
 * number set) before it is sent and returns a descriptor (given to the
 * caller, who closes it) of a connected SOCK_SEQPACKET socket whose peer
 * plays the kernel: the request goes there, the replies come from there;
 * @port is set to the port they must be addressed to. Return: the
 * descriptor or -errno.
 */
typedef int (*zr_nl_socket_fn)(const struct nlmsghdr *req, uint32_t *port);
void zr_nl_set_socket_hook(zr_nl_socket_fn fn);

/* How long a request waits, from its start, for its whole answer
 * before it fails with -ETIMEDOUT (the kernel answers at once unless
 * rtnl is held that long; stray or forged datagrams do not stretch it);
 * tests only: zr_nl_set_timeout_ms() (0: back to this). */
#define ZR_NL_TIMEOUT_MS 10000
void zr_nl_set_timeout_ms(unsigned ms);

#endif /* ZTUN_REAL_NETLINK_H */
