/* SPDX-License-Identifier: MIT */
/*
 * ring.h - a fixed-capacity byte ring for stream data.
 *
 * The ring owns one buffer of a fixed capacity, never resized. Data is
 * addressed by offset from the head (the oldest byte). Bytes past the end of
 * the data may be written ahead of time (out-of-order TCP data) and made
 * part of the data later by zt_ring_commit().
 *
 * A ring from zt_ring_init() allocates its buffer at once. A lazy ring
 * (zt_ring_init_lazy()) takes it from a struct zt_bufpool only when bytes
 * are first written, and zt_ring_trim() gives it back once the ring is
 * empty, so an idle connection holds no buffer; the pool recycles buffers,
 * so the data path still calls malloc only when the pool runs dry.
 */
#ifndef ZTUN_RING_H
#define ZTUN_RING_H

#include <stddef.h>
#include <stdint.h>

#include "ztun/bufpool.h"

struct zt_ring {
	uint8_t *buf; /* owned; cap bytes */
	size_t cap;
	size_t head;  /* index of the first data byte */
	size_t len;   /* bytes of data */
	struct zt_bufpool *pool; /* lazy rings: where buf comes from; borrowed */
	int lazy;     /* made by zt_ring_init_lazy(): trim gives buf back */
};

/* Allocate @cap bytes. Return: 0 or -ENOMEM. */
int zt_ring_init(struct zt_ring *r, size_t cap);
/* A ring of @cap bytes with no buffer yet: writes take one from @pool
 * (which must hold buffers of exactly @cap bytes, or be NULL for malloc).
 * Cannot fail. */
void zt_ring_init_lazy(struct zt_ring *r, size_t cap, struct zt_bufpool *pool);
/* Release the buffer (to the pool for a lazy ring); the ring has no
 * capacity left afterwards. */
void zt_ring_free(struct zt_ring *r);
/* Make sure the buffer exists (a lazy ring takes it now).
 * Return: 0 or -ENOMEM. */
int zt_ring_reserve(struct zt_ring *r);
/* A lazy ring that holds no data gives its buffer back. The caller
 * promises nothing is written ahead that it still wants. */
void zt_ring_trim(struct zt_ring *r);

static inline size_t zt_ring_len(const struct zt_ring *r) { return r->len; }
static inline size_t zt_ring_space(const struct zt_ring *r) { return r->cap - r->len; }

/* Append up to @len bytes (copied); returns how many fitted (0 also when a
 * lazy ring could not get its buffer). */
size_t zt_ring_write(struct zt_ring *r, const void *data, size_t len);

/* Copy @len bytes to offset @off past the end of the data without making
 * them data. Returns how many fitted inside the capacity. */
size_t zt_ring_write_ahead(struct zt_ring *r, size_t off, const void *data,
			   size_t len);

/* Where up to @len bytes may be written in place at the end of the data
 * (then zt_ring_commit()): one or two runs (the ring wraps) in @p/@n;
 * returns their total, at most the space (0 also when a lazy ring could
 * not get its buffer). */
size_t zt_ring_free_runs(struct zt_ring *r, size_t len, uint8_t *p[2],
			 size_t n[2]);

/* Make @n bytes written ahead (at the end of the data) part of the data. */
void zt_ring_commit(struct zt_ring *r, size_t n);

/* Copy up to @len bytes starting at data offset @off into @out. */
size_t zt_ring_peek(const struct zt_ring *r, size_t off, void *out, size_t len);

/* Contiguous run of data at offset @off: sets *@p (borrowed, valid until the
 * ring is next changed) and returns its length (0 past the end). */
size_t zt_ring_chunk(const struct zt_ring *r, size_t off, const uint8_t **p);

/* Drop @n bytes from the head (n <= len). */
void zt_ring_consume(struct zt_ring *r, size_t n);

#endif /* ZTUN_RING_H */
