/* SPDX-License-Identifier: MIT */
/*
 * assembler.h - which byte ranges past a stream's next expected byte have
 * already arrived (out-of-order TCP data), as a bounded sorted list.
 *
 * Offsets are relative to the next expected byte. The bound keeps memory
 * and work per segment fixed; a segment that would need one more range than
 * the bound is refused (the sender retransmits it later).
 */
#ifndef ZTUN_ASSEMBLER_H
#define ZTUN_ASSEMBLER_H

#include <stdbool.h>
#include <stdint.h>

#define ZT_ASM_MAX_RANGES 8

struct zt_asm_range {
	uint32_t start; /* offset of the first byte */
	uint32_t end;   /* offset just past the last byte */
};

struct zt_assembler {
	uint8_t count;
	struct zt_asm_range r[ZT_ASM_MAX_RANGES]; /* sorted, disjoint, non-adjacent */
	uint32_t last_added; /* index of the range touched last (for SACK block 1) */
};

static inline void zt_asm_init(struct zt_assembler *a)
{
	a->count = 0;
	a->last_added = 0;
}

static inline bool zt_asm_empty(const struct zt_assembler *a)
{
	return a->count == 0;
}

/* Record [off, off+len). Return: 0, or -ENOSPC when it would need a range
 * beyond the bound (nothing recorded). len 0 is a no-op. */
int zt_asm_add(struct zt_assembler *a, uint32_t off, uint32_t len);

/* If a range starts at offset 0, remove it and return its length, shifting
 * every other range down by that much; else 0. */
uint32_t zt_asm_take_front(struct zt_assembler *a);

/* Shift every range down by @n after @n in-order bytes were consumed;
 * ranges (or parts) below 0 vanish. */
void zt_asm_advance(struct zt_assembler *a, uint32_t n);

/* Forget every byte at or past offset @off (ranges past it vanish, one
 * across it is cut there). */
void zt_asm_truncate(struct zt_assembler *a, uint32_t off);

#endif /* ZTUN_ASSEMBLER_H */
