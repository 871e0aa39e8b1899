/* SPDX-License-Identifier: MIT */
/*
 * resolvconf.h - the nameservers of resolv.conf(5) text, for the DNS leak
 * check of --auto-route (autoroute.c).
 *
 * Theory of operation: --auto-route sends every address into the TUN but
 * what a more specific route keeps out (the LAN's on-link prefixes, the
 * proxies' pinned routes) and what never routes (this machine's own
 * addresses). A nameserver in one of those is asked around the proxy: a
 * DNS leak. ztun-ref reads the system's nameservers with this parser and
 * asks the kernel where each goes. The parser reads them as the resolver
 * (glibc, musl) does: "nameserver ADDR" lines with the keyword at the
 * line's start ('#' and ';' start comments), an IPv6 address possibly
 * with a "%zone"; a line whose address does not parse is skipped, the
 * rest still read; after the first ZR_RESOLV_MAX (MAXNS) taken, the rest
 * are never asked, so they leak nothing and are not read. Nothing here
 * touches the kernel or the file system.
 */
#ifndef ZTUN_REAL_RESOLVCONF_H
#define ZTUN_REAL_RESOLVCONF_H

#include <net/if.h>
#include <stddef.h>

#include "ztun/addr.h"

/* The largest resolv.conf read; the nameservers the resolver asks at
 * most (MAXNS of <resolv.h>, glibc and musl alike). */
#define ZR_RESOLV_BYTES 65536
#define ZR_RESOLV_MAX 3

struct zr_nameserver {
	struct zt_addr addr;
	char zone[IF_NAMESIZE];   /* "%zone" of a link-local address, or "" */
	char text[64];            /* as written, for messages */
};

/*
 * zr_resolv_nameservers() - the nameservers of resolv.conf text.
 * @text: @len bytes (borrowed; need not end in NUL or newline)
 * @out: up to @max nameservers, in file order (never more than
 *       ZR_RESOLV_MAX: those the resolver asks)
 * Return: how many were stored.
 */
int zr_resolv_nameservers(const char *text, size_t len,
			  struct zr_nameserver *out, int max);

#endif /* ZTUN_REAL_RESOLVCONF_H */
