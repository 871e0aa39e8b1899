/* SPDX-License-Identifier: MIT */
/*
 * reasm.c - IPv4 and IPv6 fragment reassembly.
 *
 * Theory of operation
 *
 * Storage. zt_reasm_init() allocates everything the table will ever use: an
 * array of datagram slots, a pool of ZT_REASM_CHUNK-byte chunks that is the
 * byte budget, a stack of free chunk indices and one output buffer. A slot
 * addresses its bytes through a private linear space of RA_SPACE bytes cut
 * into chunks; a chunk is taken from the pool the first time a fragment
 * touches it and given back when the datagram completes, is dropped or
 * expires. Data byte d of the datagram lives at RA_HDR_ROOM + d, and the
 * offset-0 fragment's headers are stored right-aligned just below it, at
 * [RA_HDR_ROOM - hdr_len, RA_HDR_ROOM). So a datagram holds only the chunks
 * its fragments touch (a lone 8-byte fragment at offset 65000 costs one
 * chunk, not 64 KiB), a short header shares the first data chunk (RA_HDR_ROOM
 * is 64 bytes past a chunk boundary), and the offset-0 fragment as received
 * is one contiguous range, which is what the expiry callback quotes. Nothing
 * is allocated after init, so feeding fragments cannot fail for want of
 * malloc: the budget is the only limit and it is exact.
 *
 * Bookkeeping. Offsets are multiples of 8 and every fragment but the last
 * carries a multiple of 8 bytes, so a datagram's 65536 possible data bytes
 * are 8192 blocks of 8. Each slot keeps two bitmaps over the blocks:
 * "covered" (some fragment holds the block) and "starts" (a fragment starts
 * at the block). Since overlaps are refused, the fragments held are disjoint,
 * and a new fragment [a, b) with blocks [bl, bh) is
 *   - new when no block of [bl, bh) is covered;
 *   - the same range as one held when starts[bl] is set, all of [bl, bh) is
 *     covered, no fragment starts inside (bl, bh), and block bh is free or
 *     starts another fragment (the consistency checks below have already
 *     removed the one case where whole blocks agree and bytes do not: a
 *     last fragment ending inside its final block);
 *   - an overlap otherwise.
 * The byte count received equals the datagram's length exactly when every
 * byte is covered, which with the first and last fragments present means
 * complete (RFC 815's hole list, in counting form).
 *
 * Policies. RFC 5722 and RFC 8200 4.5 say an IPv6 datagram with overlapping
 * fragments is discarded whole; we do the same for IPv4 (overlap is never
 * legitimate and only serves to fool inspection). The slot is freed and
 * nothing of the datagram is remembered: a later fragment with the same key
 * starts a fresh datagram, which lacks the earlier fragments and times out
 * unless they all come again (with the callback only if its own offset-0
 * fragment came), as with Linux.
 * RFC 8200 allows exact duplicates to be accepted: a fragment with the same
 * offset, length and bytes as one held is ignored and counted in
 * frags_duplicate; same range with different bytes is an overlap. Fragments
 * that contradict the datagram's length (two last fragments with different
 * ends, a last fragment ending before data already held, data past a known
 * end) can never complete it either, and are handled as an overlap is: the
 * datagram is dropped whole at once, its slot and chunks freed rather than
 * pinned until the timeout, and the fragment is not kept (Linux's
 * ip_frag_queue and ip6_frag_queue kill the queue the same way), counted
 * as ZT_DROP_BAD_FRAGMENT. Refusals
 * that concern the fragment alone (length not a multiple of 8, empty non-last
 * fragment, RFC 7112 tiny first fragment, too big, larger than the whole
 * budget) drop just that fragment. A fragment that finds every slot taken,
 * or too few chunks free, is not refused: the datagrams begun longest ago
 * are dropped to make room (evicted, counted as no memory), so that a
 * burst of fragments that never complete (a few dozen bytes each can pin
 * a chunk apiece) cannot shut every other datagram out until it times
 * out. A datagram being completed is never the one evicted for its own
 * fragment. "Too big" means the reassembled IPv4 total length or IPv6 payload
 * length would pass 65535, counting the header the datagram will carry: the
 * offset-0 fragment's once it has come, else the smallest possible (IPv4) or
 * the fragment's own unfragmentable part (IPv6, RFC 8200 4.5). IPv4 tiny
 * fragments (RFC 1858) are reassembled normally: the stack inspects only
 * whole datagrams, so splitting a header gains an attacker nothing.
 *
 * The output carries the offset-0 fragment's header (RFC 791: the first
 * fragment's options; RFC 8200: its unfragmentable part) with the lengths,
 * flags and checksum rewritten, and the ECN field combined as RFC 3168 5.3
 * (and Linux's ip_frag_ecn_table) says: CE if any fragment had CE, drop when
 * Not-ECT is mixed with ECT or CE.
 *
 * Lookups scan the slots linearly: the table is small (64 by default) and
 * the scan touches only the slots' keys.
 */
#include "ztun/reasm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ztun/addr.h"
#include "ztun/checksum.h"
#include "ztun/ip4.h"
#include "ztun/ip6.h"

#define RA_DATA_MAX 65536u                    /* data offsets lie below this */
#define RA_BLOCKS (RA_DATA_MAX / 8)
#define RA_WORDS (RA_BLOCKS / 64)
#define RA_HDR_ROOM (16384u + 64u)             /* most header bytes stored */
#define RA_SPACE (RA_HDR_ROOM + RA_DATA_MAX)
#define RA_NIDX ((RA_SPACE + ZT_REASM_CHUNK - 1) / ZT_REASM_CHUNK)
#define RA_MAX_BYTES ((size_t)1 << 30)
#define RA_LEN_MAX 65535u  /* IPv4 total length, IPv6 payload length */

#define IP4_FLAG_MF 0x2000u
#define IP4_OFFSET_MASK 0x1fffu
#define IP4_KEEP_FLAGS 0xc000u /* reserved bit and DF survive reassembly */
#define IP6_FRAG_MORE 0x0001u
#define IP6_FRAG_OFFSET_MASK 0xfff8u
#define IPPROTO_AH_ 51

enum { ECN_NOT_ECT = 0, ECN_CE = 3 };

struct zt_reasm_dgram {
	bool in_use;
	bool have_first;      /* offset-0 fragment held (header stored) */
	bool have_last;       /* fragment without MF held: total known */
	uint8_t family;
	uint8_t proto;        /* IPv4 protocol (key); 0 for IPv6 */
	uint8_t ecn_seen;     /* bit 1 << codepoint for each fragment's ECN */
	uint8_t frag_nh;      /* IPv6: Next Header of the offset-0 fragment header */
	uint16_t hdr_len;     /* stored header bytes (IPv6: with fragment header) */
	uint16_t out_hdr_len; /* header bytes of the output (IPv6: 40 + unfrag) */
	uint16_t nh_off;      /* IPv6: byte of the header naming the fragment header */
	uint32_t room;        /* header bytes that count against RA_LEN_MAX */
	uint32_t ident;
	uint32_t total;       /* data length, once have_last */
	uint32_t max_end;     /* highest data end held */
	uint32_t received;    /* data bytes held */
	uint32_t first_len;   /* data bytes of the offset-0 fragment */
	uint64_t born;        /* when its first-arriving fragment came */
	uint64_t deadline;
	struct zt_addr src;
	struct zt_addr dst;
	uint32_t chunk[RA_NIDX]; /* pool index + 1; 0 = not allocated */
	uint64_t covered[RA_WORDS];
	uint64_t starts[RA_WORDS];
};

/* One fragment, decoded and bounds-checked; pointers borrow the raw view. */
struct frag {
	uint8_t family;
	uint8_t proto;
	uint8_t ecn;
	uint8_t frag_nh;
	bool more;
	uint32_t ident;
	uint32_t offset;
	uint32_t len;
	uint32_t end;
	struct zt_addr src;
	struct zt_addr dst;
	const uint8_t *hdr;   /* start of the packet */
	size_t hdr_len;       /* IPv4: IHL; IPv6: 40 + unfrag + 8 */
	size_t out_hdr_len;   /* IPv4: IHL; IPv6: 40 + unfrag */
	size_t nh_off;        /* IPv6 */
	const uint8_t *data;
};

/* ---- bitmaps over 8-byte blocks ---------------------------------------- */

static uint64_t bits_mask(uint32_t lo, uint32_t hi, uint32_t *n)
{
	uint32_t b = lo % 64;

	*n = 64 - b < hi - lo ? 64 - b : hi - lo;
	return (*n == 64 ? ~0ull : (1ull << *n) - 1) << b;
}

static bool bit_get(const uint64_t *m, uint32_t i)
{
	return (m[i / 64] >> (i % 64)) & 1;
}

/* Is any bit in [lo, hi) set? */
static bool bits_any(const uint64_t *m, uint32_t lo, uint32_t hi)
{
	uint32_t n;

	for (; lo < hi; lo += n)
		if (m[lo / 64] & bits_mask(lo, hi, &n))
			return true;
	return false;
}

/* Is every bit in [lo, hi) set? */
static bool bits_all(const uint64_t *m, uint32_t lo, uint32_t hi)
{
	uint32_t n;

	for (; lo < hi; lo += n) {
		uint64_t mask = bits_mask(lo, hi, &n);

		if ((m[lo / 64] & mask) != mask)
			return false;
	}
	return true;
}

static void bits_set(uint64_t *m, uint32_t lo, uint32_t hi)
{
	uint32_t n;

	for (; lo < hi; lo += n)
		m[lo / 64] |= bits_mask(lo, hi, &n);
}

/* ---- chunked storage ---------------------------------------------------- */

static uint8_t *chunk_at(const struct zt_reasm *t,
			 const struct zt_reasm_dgram *d, size_t pos)
{
	return t->pool + (size_t)(d->chunk[pos / ZT_REASM_CHUNK] - 1) *
			 ZT_REASM_CHUNK + pos % ZT_REASM_CHUNK;
}

/* Chunks of [lo, hi) that @d (NULL: a datagram holding none) does not
 * hold yet. */
static uint32_t span_missing(const struct zt_reasm_dgram *d, size_t lo,
			     size_t hi)
{
	uint32_t n = 0;

	if (lo >= hi)
		return 0;
	for (size_t i = lo / ZT_REASM_CHUNK; i <= (hi - 1) / ZT_REASM_CHUNK; i++)
		n += !d || d->chunk[i] == 0;
	return n;
}

/* Give @d every chunk of [lo, hi) it lacks; the caller checked nfree. */
static void span_alloc(struct zt_reasm *t, struct zt_reasm_dgram *d,
		       size_t lo, size_t hi)
{
	if (lo >= hi)
		return;
	for (size_t i = lo / ZT_REASM_CHUNK; i <= (hi - 1) / ZT_REASM_CHUNK; i++) {
		if (d->chunk[i])
			continue;
		d->chunk[i] = t->free_chunks[--t->nfree] + 1;
		t->stats.bytes_in_use += ZT_REASM_CHUNK;
	}
}

static size_t piece_len(size_t pos, size_t len)
{
	size_t left = ZT_REASM_CHUNK - pos % ZT_REASM_CHUNK;

	return len < left ? len : left;
}

/* Copy @len bytes of @src into @d's space at @pos (chunks allocated). */
static void span_write(struct zt_reasm *t, struct zt_reasm_dgram *d,
		       size_t pos, const uint8_t *src, size_t len)
{
	while (len) {
		size_t n = piece_len(pos, len);

		memcpy(chunk_at(t, d, pos), src, n);
		pos += n;
		src += n;
		len -= n;
	}
}

static void span_read(const struct zt_reasm *t, const struct zt_reasm_dgram *d,
		      size_t pos, uint8_t *dst, size_t len)
{
	while (len) {
		size_t n = piece_len(pos, len);

		memcpy(dst, chunk_at(t, d, pos), n);
		pos += n;
		dst += n;
		len -= n;
	}
}

static bool span_equal(const struct zt_reasm *t, const struct zt_reasm_dgram *d,
		       size_t pos, const uint8_t *src, size_t len)
{
	while (len) {
		size_t n = piece_len(pos, len);

		if (memcmp(chunk_at(t, d, pos), src, n) != 0)
			return false;
		pos += n;
		src += n;
		len -= n;
	}
	return true;
}

/* ---- table -------------------------------------------------------------- */

/**
 * zt_reasm_init() - see reasm.h. Allocates the slots, the chunk pool, the
 * free-chunk stack and the output buffer; nothing else is ever allocated.
 */
int zt_reasm_init(struct zt_reasm *t, const struct zt_reasm_config *cfg)
{
	struct zt_reasm_config c;

	memset(t, 0, sizeof(*t));
	if (cfg)
		c = *cfg;
	else
		memset(&c, 0, sizeof(c));
	if (!c.max_datagrams)
		c.max_datagrams = ZT_REASM_DEFAULT_MAX_DATAGRAMS;
	if (!c.max_bytes)
		c.max_bytes = ZT_REASM_DEFAULT_MAX_BYTES;
	if (!c.timeout_ip4)
		c.timeout_ip4 = ZT_REASM_DEFAULT_TIMEOUT_IP4;
	if (!c.timeout_ip6)
		c.timeout_ip6 = ZT_REASM_DEFAULT_TIMEOUT_IP6;
	if (c.max_datagrams > ZT_REASM_MAX_DATAGRAMS_LIMIT ||
	    c.max_bytes < ZT_REASM_CHUNK || c.max_bytes > RA_MAX_BYTES)
		return -EINVAL;

	t->cfg = c;
	t->nchunks = (uint32_t)(c.max_bytes / ZT_REASM_CHUNK);
	t->slots = calloc(c.max_datagrams, sizeof(*t->slots));
	t->pool = malloc((size_t)t->nchunks * ZT_REASM_CHUNK);
	t->free_chunks = malloc((size_t)t->nchunks * sizeof(*t->free_chunks));
	t->out = malloc(ZT_REASM_MAX_OUTPUT);
	if (!t->slots || !t->pool || !t->free_chunks || !t->out) {
		zt_reasm_destroy(t);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < t->nchunks; i++)
		t->free_chunks[i] = t->nchunks - 1 - i;
	t->nfree = t->nchunks;
	return 0;
}

/**
 * zt_reasm_destroy() - free the table's storage. Datagrams in progress are
 * dropped without callbacks or counters. @t is left zeroed.
 */
void zt_reasm_destroy(struct zt_reasm *t)
{
	free(t->slots);
	free(t->pool);
	free(t->free_chunks);
	free(t->out);
	memset(t, 0, sizeof(*t));
}

/* Return @d's chunks to the pool and clear the slot. */
static void dg_free(struct zt_reasm *t, struct zt_reasm_dgram *d)
{
	for (size_t i = 0; i < RA_NIDX; i++) {
		if (!d->chunk[i])
			continue;
		t->free_chunks[t->nfree++] = d->chunk[i] - 1;
		t->stats.bytes_in_use -= ZT_REASM_CHUNK;
	}
	t->stats.datagrams_in_use--;
	memset(d, 0, sizeof(*d));
}

static enum zt_drop refuse(struct zt_reasm *t, enum zt_drop why)
{
	t->stats.drops[why]++;
	return why;
}

/* Chunks @d holds. */
static uint32_t dg_chunks(const struct zt_reasm_dgram *d)
{
	uint32_t n = 0;

	for (size_t i = 0; i < RA_NIDX; i++)
		n += d->chunk[i] != 0;
	return n;
}

/* Drop the datagram begun longest ago other than @keep, to make room for
 * a fragment: counted as lost for want of memory. Return its slot, now
 * free, or NULL if there was none. */
static struct zt_reasm_dgram *dg_evict_oldest(struct zt_reasm *t,
					      const struct zt_reasm_dgram *keep)
{
	struct zt_reasm_dgram *old = NULL;

	for (uint32_t i = 0; i < t->cfg.max_datagrams; i++) {
		struct zt_reasm_dgram *d = &t->slots[i];

		if (d == keep || !d->in_use)
			continue;
		if (!old || d->born < old->born)
			old = d;
	}
	if (!old)
		return NULL;
	dg_free(t, old);
	t->stats.datagrams_evicted++;
	t->stats.drops[ZT_DROP_FRAG_NO_MEMORY]++;
	return old;
}

/* Drop the whole datagram @d because of the fragment being added. */
static enum zt_drop dg_kill(struct zt_reasm *t, struct zt_reasm_dgram *d,
			    enum zt_drop why)
{
	dg_free(t, d);
	return refuse(t, why);
}

static bool dg_match(const struct zt_reasm_dgram *d, const struct frag *f)
{
	return d->in_use && d->family == f->family && d->ident == f->ident &&
	       d->proto == f->proto && zt_addr_eq(&d->src, &f->src) &&
	       zt_addr_eq(&d->dst, &f->dst);
}

/* ---- decoding a fragment ------------------------------------------------ */

static enum zt_drop decode4(struct zt_view raw, struct frag *f)
{
	const uint8_t *h = raw.data;
	size_t hl, total;
	uint16_t fl;

	if (raw.len < ZT_IP4_MIN_HDR)
		return ZT_DROP_TRUNCATED;
	if (h[0] >> 4 != 4)
		return ZT_DROP_BAD_VERSION;
	hl = (size_t)(h[0] & 0x0f) * 4;
	if (hl < ZT_IP4_MIN_HDR || hl > raw.len)
		return ZT_DROP_BAD_IHL;
	total = zt_rd16(h + 2);
	if (total < hl)
		return ZT_DROP_BAD_TOTAL_LEN;
	if (total > raw.len)
		return ZT_DROP_TRUNCATED;
	fl = zt_rd16(h + 6);
	f->proto = h[9];
	f->ecn = h[1] & 3;
	f->more = (fl & IP4_FLAG_MF) != 0;
	f->offset = (uint32_t)(fl & IP4_OFFSET_MASK) * 8;
	f->ident = zt_rd16(h + 4);
	f->src = zt_addr_v4(h + 12);
	f->dst = zt_addr_v4(h + 16);
	f->hdr_len = hl;
	f->out_hdr_len = hl;
	f->data = h + hl;
	f->len = (uint32_t)(total - hl);
	return ZT_DROP_NONE;
}

static bool ext_hdr_len(uint8_t nh, const uint8_t *p, size_t avail, size_t *len)
{
	if (avail < 2)
		return false;
	if (nh == IPPROTO_AH_)
		*len = ((size_t)p[1] + 2) * 4;
	else
		*len = ((size_t)p[1] + 1) * 8;
	return *len <= avail;
}

/*
 * Locate the fragment header at 40 + @unfrag_len, checking that the headers
 * before it are a well-formed chain that ends in it, and remember which byte
 * names it (that byte takes the fragment header's Next Header on output).
 */
static enum zt_drop decode6(struct zt_view raw, const struct zt_ip6_repr *r,
			    struct frag *f)
{
	const uint8_t *h = raw.data;
	size_t end, fh, pos = ZT_IP6_HDR, nh_off = 6;
	uint8_t nh;
	uint16_t fo;

	if (raw.len < ZT_IP6_HDR)
		return raw.len && h[0] >> 4 != 6 ? ZT_DROP_BAD_VERSION : ZT_DROP_TRUNCATED;
	if (h[0] >> 4 != 6)
		return ZT_DROP_BAD_VERSION;
	end = ZT_IP6_HDR + (size_t)zt_rd16(h + 4);
	if (end > raw.len)
		return ZT_DROP_TRUNCATED;
	if (!r->has_frag)
		return ZT_DROP_BAD_FRAGMENT;
	fh = ZT_IP6_HDR + (size_t)r->unfrag_len;
	if (fh + ZT_IP6_FRAG_HDR > end)
		return ZT_DROP_TRUNCATED;
	if (fh + ZT_IP6_FRAG_HDR > RA_HDR_ROOM)
		return ZT_DROP_BAD_FRAGMENT;
	nh = h[6];
	while (pos < fh) {
		size_t len;

		if (!((nh == ZT_IPPROTO_HOPOPTS && pos == ZT_IP6_HDR) ||
		      nh == ZT_IPPROTO_ROUTING || nh == ZT_IPPROTO_DSTOPTS ||
		      nh == IPPROTO_AH_) ||
		    !ext_hdr_len(nh, h + pos, fh - pos, &len))
			return ZT_DROP_BAD_FRAGMENT;
		nh_off = pos;
		nh = h[pos];
		pos += len;
	}
	if (pos != fh || nh != ZT_IPPROTO_FRAGMENT)
		return ZT_DROP_BAD_FRAGMENT;

	fo = zt_rd16(h + fh + 2);
	f->proto = 0; /* not part of an IPv6 key (RFC 8200 4.5) */
	f->ecn = (h[1] >> 4) & 3;
	f->frag_nh = h[fh];
	f->more = (fo & IP6_FRAG_MORE) != 0;
	f->offset = fo & IP6_FRAG_OFFSET_MASK;
	f->ident = zt_rd32(h + fh + 4);
	f->src = zt_addr_v6(h + 8);
	f->dst = zt_addr_v6(h + 24);
	f->hdr_len = fh + ZT_IP6_FRAG_HDR;
	f->out_hdr_len = fh;
	f->nh_off = nh_off;
	f->data = h + fh + ZT_IP6_FRAG_HDR;
	f->len = (uint32_t)(end - f->hdr_len);
	return ZT_DROP_NONE;
}

/*
 * RFC 7112: the first fragment must hold the whole header chain, i.e. every
 * extension header after the fragment header and the upper-layer header.
 * Minimum upper-layer header sizes are Linux's (ipv6frag_thdr_truncated).
 * Return: ZT_DROP_NONE; ZT_DROP_FRAG_CHAIN_INCOMPLETE when the chain runs
 * past the fragment (answered with a Parameter Problem, code 3); or
 * ZT_DROP_BAD_FRAGMENT for a chain no datagram may have (a second
 * fragment header, a late hop-by-hop, more headers than we walk).
 */
static enum zt_drop ip6_chain_check(uint8_t nh, const uint8_t *p, size_t len)
{
	size_t pos = 0, need;

	for (unsigned n = 0;; n++) {
		size_t hl;

		switch (nh) {
		case ZT_IPPROTO_ROUTING:
		case ZT_IPPROTO_DSTOPTS:
		case IPPROTO_AH_:
			if (n >= ZT_IP6_MAX_EXT_HDRS)
				return ZT_DROP_BAD_FRAGMENT;
			if (!ext_hdr_len(nh, p + pos, len - pos, &hl))
				return ZT_DROP_FRAG_CHAIN_INCOMPLETE;
			nh = p[pos];
			pos += hl;
			continue;
		case ZT_IPPROTO_HOPOPTS:  /* only right after the IPv6 header */
		case ZT_IPPROTO_FRAGMENT: /* one fragment header per packet */
			return ZT_DROP_BAD_FRAGMENT;
		case ZT_IPPROTO_TCP:
			need = 20;
			break;
		case ZT_IPPROTO_UDP:
		case ZT_IPPROTO_ICMPV6:
			need = 8;
			break;
		case ZT_IPPROTO_NONE:
			need = 0;
			break;
		default:
			need = 1;
			break;
		}
		return len - pos >= need ? ZT_DROP_NONE :
					   ZT_DROP_FRAG_CHAIN_INCOMPLETE;
	}
}

/* Header bytes @f would give the datagram, counted against RA_LEN_MAX. */
static uint32_t frag_room(const struct frag *f)
{
	if (f->family == ZT_AF_INET)
		return (uint32_t)f->out_hdr_len;
	return (uint32_t)(f->out_hdr_len - ZT_IP6_HDR);
}

/* Decode and run the checks that need only the fragment itself. */
static enum zt_drop frag_decode(const struct zt_packet *pkt, struct zt_view raw,
				struct frag *f)
{
	enum zt_drop why;
	uint32_t room;

	memset(f, 0, sizeof(*f));
	f->family = pkt->family;
	if (pkt->family == ZT_AF_INET)
		why = decode4(raw, f);
	else if (pkt->family == ZT_AF_INET6)
		why = decode6(raw, &pkt->ip.ip6, f);
	else
		why = ZT_DROP_BAD_VERSION;
	if (why != ZT_DROP_NONE)
		return why;
	f->hdr = raw.data;
	f->end = f->offset + f->len;

	if (f->offset == 0 && !f->more)
		/* Not a fragment; for IPv6 an atomic fragment (RFC 6946). */
		return f->family == ZT_AF_INET ? ZT_DROP_BAD_FRAGMENT : ZT_DROP_NONE;
	if (f->more && (f->len == 0 || f->len % 8 != 0))
		return ZT_DROP_BAD_FRAGMENT;
	if (f->family == ZT_AF_INET)
		room = f->offset == 0 ? frag_room(f) : ZT_IP4_MIN_HDR;
	else
		room = frag_room(f);
	if (room + f->end > RA_LEN_MAX)
		return ZT_DROP_FRAG_TOO_BIG;
	if (f->family == ZT_AF_INET6 && f->offset == 0)
		return ip6_chain_check(f->frag_nh, f->data, f->len);
	return ZT_DROP_NONE;
}

/* ---- output ------------------------------------------------------------- */

/* IPv6 atomic fragment: the packet without its fragment header. */
static size_t build_atomic(struct zt_reasm *t, const struct frag *f)
{
	uint8_t *o = t->out;
	size_t hl = f->out_hdr_len;

	memcpy(o, f->hdr, hl);
	memcpy(o + hl, f->data, f->len);
	zt_wr16(o + 4, (uint16_t)(hl - ZT_IP6_HDR + f->len));
	o[f->nh_off] = f->frag_nh;
	return hl + f->len;
}

/* Write the reassembled datagram into t->out; 0 when RFC 3168 says drop. */
static size_t build_datagram(struct zt_reasm *t, const struct zt_reasm_dgram *d)
{
	uint8_t *o = t->out;
	size_t hl = d->out_hdr_len;
	bool ce = false;

	if ((d->ecn_seen & 1u << ECN_NOT_ECT) && (d->ecn_seen & ~(1u << ECN_NOT_ECT)))
		return 0;
	if (d->ecn_seen & 1u << ECN_CE)
		ce = true;

	span_read(t, d, RA_HDR_ROOM - d->hdr_len, o, hl);
	span_read(t, d, RA_HDR_ROOM, o + hl, d->total);
	if (d->family == ZT_AF_INET) {
		zt_wr16(o + 2, (uint16_t)(hl + d->total));
		zt_wr16(o + 6, zt_rd16(o + 6) & IP4_KEEP_FLAGS);
		if (ce)
			o[1] |= ECN_CE;
		zt_wr16(o + 10, 0);
		zt_wr16(o + 10, zt_csum_fold(zt_csum_add(0, o, hl)));
	} else {
		zt_wr16(o + 4, (uint16_t)(hl - ZT_IP6_HDR + d->total));
		o[d->nh_off] = d->frag_nh;
		if (ce)
			o[1] |= ECN_CE << 4;
	}
	return hl + d->total;
}

/* ---- input -------------------------------------------------------------- */

/* Is [bl, bh) exactly the block range of one fragment held? */
static bool dg_same_range(const struct zt_reasm_dgram *d, uint32_t bl,
			  uint32_t bh)
{
	if (!bit_get(d->starts, bl) || !bits_all(d->covered, bl, bh) ||
	    bits_any(d->starts, bl + 1, bh))
		return false;
	return bh == RA_BLOCKS || !bit_get(d->covered, bh) ||
	       bit_get(d->starts, bh);
}

static struct zt_reasm_dgram *dg_find(struct zt_reasm *t, const struct frag *f,
				      struct zt_reasm_dgram **free_slot)
{
	*free_slot = NULL;
	for (uint32_t i = 0; i < t->cfg.max_datagrams; i++) {
		struct zt_reasm_dgram *d = &t->slots[i];

		if (dg_match(d, f))
			return d;
		if (!d->in_use && !*free_slot)
			*free_slot = d;
	}
	return NULL;
}

/**
 * zt_reasm_input() - see reasm.h.
 *
 * Order of checks: the fragment alone (decode, length, too big, tiny first
 * fragment), then against its datagram (too big with the datagram's header,
 * length contradictions, overlap or duplicate), then memory (a free slot for
 * a new datagram, enough free chunks, made by eviction). Nothing is changed
 * until every check has passed, except that a datagram-killing refusal
 * frees the datagram and eviction frees others.
 */
enum zt_drop zt_reasm_input(struct zt_reasm *t, const struct zt_packet *pkt,
			    struct zt_view raw, uint64_t now,
			    struct zt_view *out)
{
	struct zt_reasm_dgram *d, *slot;
	struct frag f;
	enum zt_drop why;
	uint32_t bl, bh, need;
	size_t lo, hi, len;
	bool store_hdr;

	out->data = NULL;
	out->len = 0;
	why = frag_decode(pkt, raw, &f);
	if (why != ZT_DROP_NONE)
		return refuse(t, why);
	if (f.offset == 0 && !f.more) {
		*out = zt_view_make(t->out, build_atomic(t, &f));
		t->stats.frags_accepted++;
		t->stats.datagrams_completed++;
		return ZT_DROP_NONE;
	}

	bl = f.offset / 8;
	bh = (f.end + 7) / 8;
	d = dg_find(t, &f, &slot);
	if (d) {
		if (d->have_first && d->room + f.end > RA_LEN_MAX)
			return refuse(t, ZT_DROP_FRAG_TOO_BIG);
		if (f.offset == 0 && !d->have_first &&
		    frag_room(&f) + d->max_end > RA_LEN_MAX)
			return refuse(t, ZT_DROP_FRAG_TOO_BIG);
		if (!f.more ? (d->have_last ? f.end != d->total : f.end < d->max_end)
			    : (d->have_last && f.end > d->total))
			return dg_kill(t, d, ZT_DROP_BAD_FRAGMENT);
		if (bl < bh && bits_any(d->covered, bl, bh)) {
			if (!dg_same_range(d, bl, bh) ||
			    !span_equal(t, d, RA_HDR_ROOM + f.offset, f.data, f.len))
				return dg_kill(t, d, ZT_DROP_FRAG_OVERLAP);
			t->stats.frags_duplicate++;
			return ZT_DROP_NONE;
		}
		if (bl == bh && d->have_last) {
			/* an empty last fragment again, at the same end */
			t->stats.frags_duplicate++;
			return ZT_DROP_NONE;
		}
	} else {
		d = slot; /* NULL when every slot is taken */
	}

	/* The offset-0 fragment brings the headers, stored just below the
	 * data so that [lo, hi) is one range. */
	store_hdr = f.offset == 0 && (!d || !d->have_first);
	lo = store_hdr ? RA_HDR_ROOM - f.hdr_len : RA_HDR_ROOM + f.offset;
	hi = RA_HDR_ROOM + f.end;
	need = span_missing(d, lo, hi);
	if (need > t->nfree && need > t->nchunks - (d ? dg_chunks(d) : 0))
		return refuse(t, ZT_DROP_FRAG_NO_MEMORY); /* could never fit */
	/* Room is made by dropping the datagrams begun longest ago: a burst
	 * of fragments that never complete would otherwise shut every
	 * datagram out until it timed out, 30 or 60 s. */
	if (!d && !(d = dg_evict_oldest(t, NULL)))
		return refuse(t, ZT_DROP_FRAG_NO_MEMORY); /* no slot at all */
	while (need > t->nfree)
		if (!dg_evict_oldest(t, d))
			return refuse(t, ZT_DROP_FRAG_NO_MEMORY);

	if (!d->in_use) {
		uint64_t tmo = f.family == ZT_AF_INET ? t->cfg.timeout_ip4
						      : t->cfg.timeout_ip6;

		d->in_use = true;
		d->born = now;
		d->family = f.family;
		d->proto = f.proto;
		d->ident = f.ident;
		d->src = f.src;
		d->dst = f.dst;
		d->deadline = now > UINT64_MAX - tmo ? UINT64_MAX : now + tmo;
		t->stats.datagrams_in_use++;
	}
	span_alloc(t, d, lo, hi);
	if (store_hdr) {
		span_write(t, d, lo, f.hdr, f.hdr_len);
		d->have_first = true;
		d->hdr_len = (uint16_t)f.hdr_len;
		d->out_hdr_len = (uint16_t)f.out_hdr_len;
		d->nh_off = (uint16_t)f.nh_off;
		d->frag_nh = f.frag_nh;
		d->room = frag_room(&f);
		d->first_len = f.len;
	}
	span_write(t, d, RA_HDR_ROOM + f.offset, f.data, f.len);
	bits_set(d->covered, bl, bh);
	if (bl < bh)
		bits_set(d->starts, bl, bl + 1);
	d->received += f.len;
	if (f.end > d->max_end)
		d->max_end = f.end;
	if (!f.more) {
		d->have_last = true;
		d->total = f.end;
	}
	d->ecn_seen |= (uint8_t)(1u << f.ecn);
	t->stats.frags_accepted++;

	if (!d->have_first || !d->have_last || d->received != d->total)
		return ZT_DROP_NONE;
	len = build_datagram(t, d);
	if (!len)
		return dg_kill(t, d, ZT_DROP_BAD_FRAGMENT);
	dg_free(t, d);
	t->stats.datagrams_completed++;
	*out = zt_view_make(t->out, len);
	return ZT_DROP_NONE;
}

/* ---- timers ------------------------------------------------------------- */

/**
 * zt_reasm_expire() - see reasm.h. The callback's view points into t->out,
 * where the offset-0 fragment is rebuilt from the stored header and the
 * first first_len data bytes (which no later fragment can have changed:
 * overlaps are refused and duplicates must be byte-equal).
 */
unsigned zt_reasm_expire(struct zt_reasm *t, uint64_t now,
			 zt_reasm_expired_fn fn, void *ctx)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < t->cfg.max_datagrams; i++) {
		struct zt_reasm_dgram *d = &t->slots[i];

		if (!t->stats.datagrams_in_use)
			break; /* none held any more */
		if (!d->in_use || d->deadline > now)
			continue;
		if (fn && d->have_first) {
			size_t len = d->hdr_len + (size_t)d->first_len;

			span_read(t, d, RA_HDR_ROOM - d->hdr_len, t->out, len);
			fn(ctx, d->family, zt_view_make(t->out, len));
		}
		dg_free(t, d);
		t->stats.drops[ZT_DROP_FRAG_TIMEOUT]++;
		n++;
	}
	return n;
}

uint64_t zt_reasm_next_deadline(const struct zt_reasm *t)
{
	uint64_t next = UINT64_MAX;

	/* The host asks after every batch; most of the time nothing is held,
	 * and the scan would touch a cache line in each of the big slots. */
	if (!t->stats.datagrams_in_use)
		return next;
	for (uint32_t i = 0; i < t->cfg.max_datagrams; i++)
		if (t->slots[i].in_use && t->slots[i].deadline < next)
			next = t->slots[i].deadline;
	return next;
}
