// SPDX-License-Identifier: MIT
/*
 * dgram_batch.h - datagrams from one sender gathered for one
 * zt_router_dgram_batch() call, as ztun-ref hands the router what it read
 * from a socket's queue back to back. The simulator's two upstream hosts
 * (the vnet, the scenario executor) gather with it; each decides when a
 * batch ends (the end of a virtual instant, a script line that does not
 * add to it).
 *
 * Ownership: the batch owns copies of the datagrams; d[i].data points
 * into its buf until zt_dgram_batch_clear().
 */
#ifndef ZTUN_SIM_DGRAM_BATCH_H
#define ZTUN_SIM_DGRAM_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "ztun/router.h"

#define ZT_DGRAM_BATCH_BYTES (128u * 1024u)

struct zt_dgram_batch {
	struct zt_endpoint from;     /* the sender, once n > 0 */
	unsigned n;
	size_t used;                 /* bytes of buf taken */
	struct zt_dgram d[ZT_UDP_GSO_SEGS];
	uint8_t buf[ZT_DGRAM_BATCH_BYTES];
};

/* One endpoint: the same name, or (without names) address and port. */
static inline bool zt_endpoint_same(const struct zt_endpoint *a,
				    const struct zt_endpoint *b)
{
	if (a->port != b->port)
		return false;
	if (a->name[0] || b->name[0])
		return !strcmp(a->name, b->name);
	return zt_addr_eq(&a->addr, &b->addr);
}

/* Can @len bytes from @from join @b (an empty batch takes anything)? */
static inline bool zt_dgram_batch_takes(const struct zt_dgram_batch *b,
					const struct zt_endpoint *from,
					size_t len)
{
	if (!b->n)
		return len <= sizeof(b->buf);
	return zt_endpoint_same(&b->from, from) && b->n < ZT_UDP_GSO_SEGS &&
	       len <= sizeof(b->buf) - b->used;
}

/* Copy @len bytes of @data from @from, which arrived with traffic class
 * @tclass, in; zt_dgram_batch_takes() said so. */
static inline void zt_dgram_batch_add(struct zt_dgram_batch *b,
				      const struct zt_endpoint *from,
				      const void *data, size_t len,
				      uint8_t tclass)
{
	if (!b->n)
		b->from = *from;
	if (len)
		memcpy(b->buf + b->used, data, len);
	b->d[b->n].data = b->buf + b->used;
	b->d[b->n].len = len;
	b->d[b->n].tclass = tclass;
	b->n++;
	b->used += len;
}

static inline void zt_dgram_batch_clear(struct zt_dgram_batch *b)
{
	b->n = 0;
	b->used = 0;
}

#endif /* ZTUN_SIM_DGRAM_BATCH_H */
