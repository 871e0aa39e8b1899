/* SPDX-License-Identifier: MIT */
/*
 * resolve.h - a proxy's host name to the one address ztun-ref uses: at
 * start, blocking, before the TUN exists; on SIGHUP again, in a thread of
 * its own, so that the event loop goes on serving the TUN that the
 * query itself may have to cross (with --auto-route, or a resolver
 * reached through the TUN).
 *
 * Theory of operation: zr_resolve_name() is getaddrinfo() and the pick
 * both paths share: the name's first IPv4 address if it has one, else
 * its first (the system's order puts IPv6 first, and "localhost" is ::1
 * before 127.0.0.1, where a proxy listening on IPv4 alone refuses every
 * flow). zr_resolver_start() copies the names into a lookup that a
 * detached thread fills; the thread then makes the lookup's eventfd
 * readable. The loop polls that descriptor (zr_resolver_fd()) and takes
 * the results with zr_resolver_take(). The lookup is shared: each side
 * drops its reference when done with it and the last one frees it, so
 * that a run stopped while a lookup waits for the resolver's timeout
 * does not wait for it (zr_resolver_free() only lets go), and the
 * eventfd stays open until the thread no longer writes to it.
 *
 * Ownership: struct zr_resolver is the caller's; a lookup in progress
 * is shared as above. One lookup at a time.
 */
#ifndef ZTUN_REAL_RESOLVE_H
#define ZTUN_REAL_RESOLVE_H

#include <stdbool.h>
#include <sys/socket.h>

#include "real/config.h"

#define ZR_RESOLVE_MAX 2 /* the SOCKS5 and the HTTP proxy */

struct zr_resolve_job {
	char name[ZR_HOST_NAME_MAX + 1];
	int err;                       /* 0, or getaddrinfo()'s EAI_* */
	struct sockaddr_storage addr;  /* the address picked (port 0) */
};

struct zr_lookup;

struct zr_resolver {
	struct zr_lookup *cur;         /* shared with its thread; NULL: idle */
};

/* @name's address as above into @out. Return: 0 or an EAI_* code
 * (gai_strerror() names it). Blocks for as long as the resolver takes. */
int zr_resolve_name(const char *name, struct sockaddr_storage *out);

/* Look @n (<= ZR_RESOLVE_MAX) names up in a thread. Return: 0, -EBUSY
 * while a lookup runs, or a negative errno (no thread, no eventfd). */
int zr_resolver_start(struct zr_resolver *rs, const char *const names[],
		      unsigned n);
/* The running lookup's eventfd (readable once its results are in), or -1. */
int zr_resolver_fd(const struct zr_resolver *rs);
/* Once the eventfd is readable: copy the results into @out (@n of them,
 * in the order given), let the lookup go. Return: how many, 0 if none
 * was done yet. */
unsigned zr_resolver_take(struct zr_resolver *rs, struct zr_resolve_job *out);
/* Let a lookup in progress go (its thread frees it when it ends). */
void zr_resolver_free(struct zr_resolver *rs);

#endif /* ZTUN_REAL_RESOLVE_H */
