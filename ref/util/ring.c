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
	r->buf = cap ? malloc(cap) : NULL;
	if (cap && !r->buf)
		return -ENOMEM;
	r->cap = cap;
	r->head = 0;
	r->len = 0;
	return 0;
}

void zt_ring_free(struct zt_ring *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->len = r->head = 0;
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
	if (len)
		copy_in(r, r->len + off, data, len);
	return len;
}

void zt_ring_commit(struct zt_ring *r, size_t n)
{
	if (n > zt_ring_space(r))
		n = zt_ring_space(r);
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
