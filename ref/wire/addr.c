/* SPDX-License-Identifier: MIT */
#include "ztun/addr.h"

#include <arpa/inet.h>
#include <errno.h>

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
