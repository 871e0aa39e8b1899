/* SPDX-License-Identifier: MIT */
/*
 * view.h - bounds-checked read-only views over packet bytes.
 *
 * A view is (pointer, length) over bytes that someone else owns. It is
 * checked once when it is made (zt_view_sub fails if the range does not fit);
 * after that, readers of a checked range use the unchecked zt_rd* helpers.
 * Views are const: received bytes are never modified in place.
 */
#ifndef ZTUN_VIEW_H
#define ZTUN_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zt_view {
	const uint8_t *data; /* borrowed; never written through */
	size_t len;
};

static inline struct zt_view zt_view_make(const void *data, size_t len)
{
	struct zt_view v = { (const uint8_t *)data, len };
	return v;
}

/* Sub-range [off, off+len) of @v into @out; false (and @out untouched) when
 * it does not fit. Written so that off+len cannot overflow. */
static inline bool zt_view_sub(struct zt_view v, size_t off, size_t len,
			       struct zt_view *out)
{
	if (off > v.len || len > v.len - off)
		return false;
	out->data = v.data + off;
	out->len = len;
	return true;
}

/* Everything from @off to the end; false when off > len. */
static inline bool zt_view_tail(struct zt_view v, size_t off, struct zt_view *out)
{
	if (off > v.len)
		return false;
	out->data = v.data + off;
	out->len = v.len - off;
	return true;
}

/* Unchecked big-endian readers: only for ranges a view already checked. */
static inline uint16_t zt_rd16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t zt_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void zt_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void zt_wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif /* ZTUN_VIEW_H */
