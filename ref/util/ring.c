/* SPDX-License-Identifier: MIT */
/*
 * ring.c - fixed-capacity byte ring.
 *
 * Theory of operation: a classic head/len ring. Every copy is split into at
 * most two memcpy calls at the wrap point. Nothing here allocates after
 * zt_ring_init().
 */
#include "ztun/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int zt_ring_init(struct zt_ring *r, size_t cap)
{
	r->pool = NULL;
	r->lazy = 0;
	r->buf = cap ? malloc(cap) : NULL;
	if (cap && !r->buf)
		return -ENOMEM;
	r->cap = cap;
	r->head = 0;
	r->len = 0;
	return 0;
}

void zt_ring_init_lazy(struct zt_ring *r, size_t cap, struct zt_bufpool *pool)
{
	r->buf = NULL;
	r->cap = cap;
	r->head = 0;
	r->len = 0;
	r->lazy = 1;
	/* A pool of another size cannot serve this ring: plain malloc then. */
	r->pool = pool && pool->size == cap ? pool : NULL;
}

/* Hand the buffer back; keeps the capacity. */
static void ring_release(struct zt_ring *r)
{
	if (r->pool)
		zt_bufpool_put(r->pool, r->buf);
	else
		free(r->buf);
	r->buf = NULL;
	r->head = r->len = 0;
}

void zt_ring_free(struct zt_ring *r)
{
	ring_release(r);
	r->cap = 0;
}

int zt_ring_reserve(struct zt_ring *r)
{
	if (r->buf || !r->cap)
		return 0;
	r->buf = r->pool ? zt_bufpool_get(r->pool) : malloc(r->cap);
	return r->buf ? 0 : -ENOMEM;
}

void zt_ring_trim(struct zt_ring *r)
{
	if (r->lazy && r->buf && r->len == 0)
		ring_release(r);
}

/* Index in buf of data offset @off (off < cap). */
static size_t ring_index(const struct zt_ring *r, size_t off)
{
	size_t i = r->head + off;

	return i >= r->cap ? i - r->cap : i;
}

static void copy_in(struct zt_ring *r, size_t off, const uint8_t *src, size_t n)
{
	size_t i = ring_index(r, off);
	size_t first = r->cap - i < n ? r->cap - i : n;

	memcpy(r->buf + i, src, first);
	memcpy(r->buf, src + first, n - first);
}

size_t zt_ring_write(struct zt_ring *r, const void *data, size_t len)
{
	size_t n = len < zt_ring_space(r) ? len : zt_ring_space(r);

	if (n && zt_ring_reserve(r) != 0)
		return 0;
	if (n) {
		copy_in(r, r->len, data, n);
		r->len += n;
	}
	return n;
}

size_t zt_ring_write_ahead(struct zt_ring *r, size_t off, const void *data,
			   size_t len)
{
	size_t room;

	if (off >= zt_ring_space(r))
		return 0;
	room = zt_ring_space(r) - off;
	if (len > room)
		len = room;
	if (len && zt_ring_reserve(r) != 0)
		return 0;
	if (len)
		copy_in(r, r->len + off, data, len);
	return len;
}

size_t zt_ring_free_runs(struct zt_ring *r, size_t len, uint8_t *p[2],
			 size_t n[2])
{
	size_t tail, first;

	p[0] = p[1] = NULL;
	n[0] = n[1] = 0;
	if (len > zt_ring_space(r))
		len = zt_ring_space(r);
	if (!len || zt_ring_reserve(r) != 0)
		return 0;
	tail = (r->head + r->len) % r->cap;
	first = r->cap - tail < len ? r->cap - tail : len;
	p[0] = r->buf + tail;
	n[0] = first;
	if (len > first) {
		p[1] = r->buf;
		n[1] = len - first;
	}
	return len;
}

void zt_ring_commit(struct zt_ring *r, size_t n)
{
	if (n > zt_ring_space(r))
		n = zt_ring_space(r);
	if (!r->buf)
		n = 0; /* nothing was written ahead */
	r->len += n;
}

size_t zt_ring_peek(const struct zt_ring *r, size_t off, void *out, size_t len)
{
	uint8_t *dst = out;
	size_t done = 0;

	while (done < len) {
		const uint8_t *p;
		size_t n = zt_ring_chunk(r, off + done, &p);

		if (!n)
			break;
		if (n > len - done)
			n = len - done;
		memcpy(dst + done, p, n);
		done += n;
	}
	return done;
}

size_t zt_ring_chunk(const struct zt_ring *r, size_t off, const uint8_t **p)
{
	size_t i, n;

	if (off >= r->len)
		return 0;
	i = ring_index(r, off);
	n = r->len - off;
	if (n > r->cap - i)
		n = r->cap - i;
	*p = r->buf + i;
	return n;
}

void zt_ring_consume(struct zt_ring *r, size_t n)
{
	if (n > r->len)
		n = r->len;
	/* head moves even when the ring empties: bytes written ahead stay
	 * where zt_ring_write_ahead() put them. */
	r->head = ring_index(r, n);
	r->len -= n;
}
