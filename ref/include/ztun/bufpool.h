/* SPDX-License-Identifier: MIT */
/*
 * bufpool.h - a small cache of equal-sized stream buffers.
 *
 * Theory of operation: a TCP flow needs its two ring buffers only while
 * data sits in them. Rings made with zt_ring_init_lazy() take a buffer from
 * a pool on their first write and give it back when they empty, so an idle
 * connection holds no buffer at all and a busy one recycles the same few.
 * The pool keeps at most @keep released buffers for the next taker and
 * frees the rest, which bounds what idle flows cost after a burst.
 *
 * Ownership: the pool owns the buffers it caches; a buffer handed out by
 * zt_bufpool_get() belongs to the taker until zt_bufpool_put(). The pool
 * must outlive every ring that uses it.
 */
#ifndef ZTUN_BUFPOOL_H
#define ZTUN_BUFPOOL_H

#include <stddef.h>
#include <stdint.h>

struct zt_bufpool {
	size_t size;      /* bytes per buffer */
	void **cache;     /* released buffers, owned; keep slots */
	uint32_t count;   /* buffers in cache */
	uint32_t keep;    /* cache capacity */
	uint64_t in_use;  /* buffers handed out and not yet returned */
	uint64_t mallocs; /* buffers allocated over the pool's life */
};

/* Prepare @p for buffers of @size bytes, caching up to @keep of them.
 * Return: 0 or -ENOMEM (or -EINVAL for size 0). */
int zt_bufpool_init(struct zt_bufpool *p, size_t size, uint32_t keep);
/* Free the cached buffers. Buffers still handed out are the takers'. */
void zt_bufpool_destroy(struct zt_bufpool *p);
/* A buffer of p->size bytes (contents undefined), or NULL when memory is
 * exhausted. */
void *zt_bufpool_get(struct zt_bufpool *p);
/* Give back a buffer from zt_bufpool_get(); NULL is ignored. */
void zt_bufpool_put(struct zt_bufpool *p, void *buf);

#endif /* ZTUN_BUFPOOL_H */
