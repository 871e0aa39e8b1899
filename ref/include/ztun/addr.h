/* SPDX-License-Identifier: MIT */
/*
 * addr.h - an IPv4 or IPv6 address as one value type.
 *
 * Address bytes are kept in network order (they are byte strings, not
 * integers); an IPv4 address sits in bytes[0..3] with the rest zero, so two
 * addresses compare equal with memcmp of the whole struct.
 */
#ifndef ZTUN_ADDR_H
#define ZTUN_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { ZT_AF_INET = 4, ZT_AF_INET6 = 6 };

struct zt_addr {
	uint8_t family; /* ZT_AF_INET or ZT_AF_INET6 */
	uint8_t bytes[16];
};

#define ZT_ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

static inline struct zt_addr zt_addr_v4(const uint8_t b[4])
{
	struct zt_addr a;
	memset(&a, 0, sizeof(a));
	a.family = ZT_AF_INET;
	memcpy(a.bytes, b, 4);
	return a;
}

static inline struct zt_addr zt_addr_v6(const uint8_t b[16])
{
	struct zt_addr a;
	a.family = ZT_AF_INET6;
	memcpy(a.bytes, b, 16);
	return a;
}

static inline size_t zt_addr_len(const struct zt_addr *a)
{
	return a->family == ZT_AF_INET ? 4 : 16;
}

static inline bool zt_addr_eq(const struct zt_addr *a, const struct zt_addr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, 16) == 0;
}

/* Whether @a is an IPv4-mapped IPv6 address, ::ffff:a.b.c.d (RFC 4291
 * 2.5.5.2): an IPv4 address as AF_INET6 sockets write it, never on the
 * wire (its IPv4 address is in bytes 12..15). */
bool zt_addr_is_v4_mapped(const struct zt_addr *a);

/* Whether @a can be one host's address on the wire, as a source or as a
 * flow's destination: not unspecified, this-network (0/8), loopback,
 * multicast, IPv4 class E or limited broadcast, IPv4-mapped IPv6
 * (RFC 1122 3.2.1.3, RFC 4291 2.5.2/2.5.3/2.5.5.2/2.7, RFC 6890).
 * Subnet-directed broadcasts cannot be told without the routing table. */
bool zt_addr_is_host(const struct zt_addr *a);

/* Parse dotted-quad or RFC 4291 text into @out; 0 or -EINVAL. */
int zt_addr_parse(const char *text, struct zt_addr *out);

/* Format @a into @buf (at least ZT_ADDR_STRLEN bytes); returns @buf. */
char *zt_addr_format(const struct zt_addr *a, char *buf, size_t buflen);

#endif /* ZTUN_ADDR_H */
