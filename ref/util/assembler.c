/* SPDX-License-Identifier: MIT */
/*
 * assembler.c - bounded list of received out-of-order ranges.
 *
 * Theory of operation: ranges are kept sorted, disjoint and non-adjacent, so
 * adding a range merges every range it touches into one. At most
 * ZT_ASM_MAX_RANGES exist; each operation is O(ZT_ASM_MAX_RANGES).
 */
#include "ztun/assembler.h"

#include <errno.h>
#include <string.h>

int zt_asm_add(struct zt_assembler *a, uint32_t off, uint32_t len)
{
	uint32_t start = off, end = off + len;
	unsigned first, last, i;

	if (len == 0)
		return 0;
	/* first: first range that ends at or after start (touching merges). */
	for (first = 0; first < a->count && a->r[first].end < start; first++)
		;
	/* last: one past the last range that starts at or before end. */
	for (last = first; last < a->count && a->r[last].start <= end; last++)
		;
	if (first == last) {
		/* No overlap: insert a new range at first. */
		if (a->count == ZT_ASM_MAX_RANGES)
			return -ENOSPC;
		memmove(&a->r[first + 1], &a->r[first],
			(a->count - first) * sizeof(a->r[0]));
		a->r[first].start = start;
		a->r[first].end = end;
		a->count++;
		a->last_added = first;
		return 0;
	}
	/* Merge ranges first..last-1 with [start, end). */
	if (a->r[first].start < start)
		start = a->r[first].start;
	if (a->r[last - 1].end > end)
		end = a->r[last - 1].end;
	a->r[first].start = start;
	a->r[first].end = end;
	i = last - first - 1; /* ranges swallowed */
	if (i) {
		memmove(&a->r[first + 1], &a->r[last],
			(a->count - last) * sizeof(a->r[0]));
		a->count = (uint8_t)(a->count - i);
	}
	a->last_added = first;
	return 0;
}

void zt_asm_advance(struct zt_assembler *a, uint32_t n)
{
	unsigned out = 0, last = a->last_added;

	for (unsigned i = 0; i < a->count; i++) {
		if (a->r[i].end <= n) {
			if (i < a->last_added)
				last--;
			continue;
		}
		a->r[out].start = a->r[i].start > n ? a->r[i].start - n : 0;
		a->r[out].end = a->r[i].end - n;
		out++;
	}
	a->count = (uint8_t)out;
	a->last_added = last < out ? last : 0;
}

void zt_asm_truncate(struct zt_assembler *a, uint32_t off)
{
	unsigned n = 0;

	while (n < a->count && a->r[n].start < off) {
		if (a->r[n].end > off)
			a->r[n].end = off;
		n++;
	}
	a->count = (uint8_t)n;
	if (a->last_added >= n)
		a->last_added = n ? n - 1 : 0;
}

uint32_t zt_asm_take_front(struct zt_assembler *a)
{
	uint32_t n;

	if (a->count == 0 || a->r[0].start != 0)
		return 0;
	n = a->r[0].end;
	zt_asm_advance(a, n);
	return n;
}
