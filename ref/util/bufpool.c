/* SPDX-License-Identifier: MIT */
/*
 * bufpool.c - cache of equal-sized stream buffers (see bufpool.h).
 *
 * Theory of operation: a LIFO array of released buffers, so the buffer most
 * recently used (warm in cache, pages already resident) is handed out
 * first. Past @keep cached buffers, releases go straight back to malloc.
 */
#include "ztun/bufpool.h"

#include <errno.h>
#include <stdlib.h>

int zt_bufpool_init(struct zt_bufpool *p, size_t size, uint32_t keep)
{
	p->size = size;
	p->count = 0;
	p->keep = keep;
	p->in_use = 0;
	p->mallocs = 0;
	p->cache = NULL;
	if (!size)
		return -EINVAL;
	if (keep) {
		p->cache = calloc(keep, sizeof(*p->cache));
		if (!p->cache)
			return -ENOMEM;
	}
	return 0;
}

void zt_bufpool_destroy(struct zt_bufpool *p)
{
	while (p->count)
		free(p->cache[--p->count]);
	free(p->cache);
	p->cache = NULL;
	p->keep = 0;
}

void *zt_bufpool_get(struct zt_bufpool *p)
{
	void *b;

	if (p->count) {
		b = p->cache[--p->count];
	} else {
		b = malloc(p->size);
		if (!b)
			return NULL;
		p->mallocs++;
	}
	p->in_use++;
	return b;
}

void zt_bufpool_put(struct zt_bufpool *p, void *buf)
{
	if (!buf)
		return;
	p->in_use--;
	if (p->count < p->keep)
		p->cache[p->count++] = buf;
	else
		free(buf);
}
