/* SPDX-License-Identifier: MIT */
#include "ztun/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

bool zt_addr_is_v4_mapped(const struct zt_addr *a)
{
	static const uint8_t mapped6[12] = { [10] = 0xff, [11] = 0xff };

	return a->family == ZT_AF_INET6 &&
	       memcmp(a->bytes, mapped6, sizeof(mapped6)) == 0;
}

bool zt_addr_is_host(const struct zt_addr *a)
{
	static const uint8_t loop6[16] = { [15] = 1 };
	static const uint8_t zero6[16];

	if (a->family == ZT_AF_INET)
		/* 0/8 this-network, 127/8 loopback, 224/4 multicast, 240/4
		 * class E including 255.255.255.255 */
		return a->bytes[0] != 0 && a->bytes[0] != 127 &&
		       a->bytes[0] < 224;
	if (a->family == ZT_AF_INET6)
		/* ::ffff:0:0/96 never on the wire (RFC 6890): an AF_INET6
		 * socket connects ::ffff:127.0.0.1 over IPv4, to loopback */
		return a->bytes[0] != 0xff && memcmp(a->bytes, zero6, 16) != 0 &&
		       memcmp(a->bytes, loop6, 16) != 0 &&
		       !zt_addr_is_v4_mapped(a);
	return false;
}

int zt_addr_parse(const char *text, struct zt_addr *out)
{
	uint8_t b[16];

	if (inet_pton(AF_INET, text, b) == 1) {
		*out = zt_addr_v4(b);
		return 0;
	}
	if (inet_pton(AF_INET6, text, b) == 1) {
		*out = zt_addr_v6(b);
		return 0;
	}
	return -EINVAL;
}

char *zt_addr_format(const struct zt_addr *a, char *buf, size_t buflen)
{
	int af = a->family == ZT_AF_INET ? AF_INET : AF_INET6;

	if (!inet_ntop(af, a->bytes, buf, (socklen_t)buflen) && buflen)
		buf[0] = '\0';
	return buf;
}
