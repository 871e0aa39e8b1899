/* SPDX-License-Identifier: MIT */
/*
 * reasm.h - IPv4 (RFC 791, RFC 815) and IPv6 (RFC 8200 4.5, RFC 5722,
 * RFC 7112, RFC 6946) fragment reassembly.
 *
 * A struct zt_reasm is a caller-owned table of datagrams in progress. All of
 * its storage (datagram slots, a pool of fixed-size chunks that is the byte
 * budget, one output buffer) is allocated by zt_reasm_init() and released by
 * zt_reasm_destroy(); feeding fragments allocates nothing. The table keeps no
 * clock: every entry point that needs time takes @now (nanoseconds of the
 * host's clock), and the host runs zt_reasm_expire() when
 * zt_reasm_next_deadline() has passed.
 *
 * Keys: IPv4 datagrams are keyed by (src, dst, protocol, ident) as RFC 791
 * says; IPv6 datagrams by (src, dst, ident) as RFC 8200 says (the Next Header
 * of the fragment headers may differ between fragments, only the offset-0
 * fragment's counts), so the protocol is not part of an IPv6 key.
 *
 * Policies (see the theory of operation in ref/ip/reasm.c):
 * - Any overlap drops the whole datagram (ZT_DROP_FRAG_OVERLAP) and the
 *   table forgets it: later fragments with the same key start a fresh
 *   datagram, which times out unless every fragment comes again.
 * - An exact duplicate (same offset, same length, same bytes) of a fragment
 *   already held is accepted silently: ZT_DROP_NONE, counted in
 *   frags_duplicate, nothing changes. Same range with different bytes is an
 *   overlap.
 * - A last fragment whose end differs from an earlier last fragment's, a last
 *   fragment ending before data already held, or a fragment reaching past a
 *   known end drops the whole datagram as ZT_DROP_BAD_FRAGMENT, at once
 *   and as an overlap does: slot and chunks freed, the fragment not kept.
 * - Refusals that concern only the fragment itself (ZT_DROP_BAD_FRAGMENT for
 *   a non-last fragment whose length is not a multiple of 8 or is 0, or for
 *   an IPv6 first fragment whose header chain no datagram may have;
 *   ZT_DROP_FRAG_CHAIN_INCOMPLETE for one that ends before its header chain
 *   does, RFC 7112; ZT_DROP_FRAG_TOO_BIG;
 *   ZT_DROP_FRAG_NO_MEMORY for one larger than the whole budget) drop that
 *   fragment and keep the datagram.
 * - A fragment that finds every slot taken, or too few bytes of the budget
 *   free, makes room by dropping the datagrams begun longest ago
 *   (datagrams_evicted; each a ZT_DROP_FRAG_NO_MEMORY): fragments that
 *   never complete cannot shut others out until they time out.
 */
#ifndef ZTUN_REASM_H
#define ZTUN_REASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/drop.h"
#include "ztun/packet.h"
#include "ztun/view.h"

#define ZT_REASM_DEFAULT_MAX_DATAGRAMS 64u
#define ZT_REASM_DEFAULT_MAX_BYTES (1024u * 1024u)
/* IPv4: RFC 791 suggests a 15 s initial timer, RFC 1122 3.3.2 60 to 120 s;
 * 30 s is what Linux uses. IPv6: RFC 8200 4.5 says 60 s. */
#define ZT_REASM_DEFAULT_TIMEOUT_IP4 (30ull * 1000000000ull)
#define ZT_REASM_DEFAULT_TIMEOUT_IP6 (60ull * 1000000000ull)
/* The byte budget is handed out in chunks of this many bytes. */
#define ZT_REASM_CHUNK 1024u
/* Most concurrent datagrams a table may be configured for. */
#define ZT_REASM_MAX_DATAGRAMS_LIMIT 65536u
/* Largest output: an IPv6 header plus a 65535-byte payload. */
#define ZT_REASM_MAX_OUTPUT (40u + 65535u)

/* Zero in any field means its default. */
struct zt_reasm_config {
	uint32_t max_datagrams; /* datagrams in progress at once */
	size_t max_bytes;       /* budget for held fragment bytes, in whole
				 * ZT_REASM_CHUNKs (rounded down; at least one) */
	uint64_t timeout_ip4;   /* ns from the first-arriving fragment */
	uint64_t timeout_ip6;   /* ns from the first-arriving fragment */
};

struct zt_reasm_stats {
	uint64_t datagrams_completed; /* complete datagrams handed out */
	uint64_t frags_accepted;      /* fragments stored (duplicates excluded) */
	uint64_t frags_duplicate;     /* exact duplicates silently accepted */
	uint64_t datagrams_evicted;   /* dropped to make room for a fragment */
	/* Refusals by reason, one per refused fragment, plus one
	 * ZT_DROP_FRAG_TIMEOUT per expired datagram and one
	 * ZT_DROP_FRAG_NO_MEMORY per evicted datagram. */
	uint64_t drops[ZT_DROP__COUNT];
	size_t bytes_in_use;          /* chunk bytes held (multiple of ZT_REASM_CHUNK) */
	uint32_t datagrams_in_use;
};

struct zt_reasm_dgram; /* private to ref/ip/reasm.c */

/* Caller-owned; fields are private except @stats, which may be read. */
struct zt_reasm {
	struct zt_reasm_stats stats;
	struct zt_reasm_config cfg;     /* with defaults filled in */
	struct zt_reasm_dgram *slots;   /* cfg.max_datagrams of them */
	uint8_t *pool;                  /* nchunks * ZT_REASM_CHUNK bytes */
	uint32_t *free_chunks;          /* stack of free chunk indices */
	uint32_t nchunks;
	uint32_t nfree;
	uint8_t *out;                   /* ZT_REASM_MAX_OUTPUT bytes */
};

/*
 * zt_reasm_expired_fn - a datagram whose offset-0 fragment had arrived
 * timed out: the host may send ICMP Time Exceeded, code 1 ("fragment
 * reassembly time exceeded", RFC 792 / RFC 4443 3.3) quoting @first.
 * @ctx:    the pointer given to zt_reasm_expire()
 * @family: ZT_AF_INET or ZT_AF_INET6
 * @first:  the offset-0 fragment exactly as it was received (its whole IP
 *          header, IPv6 extension and fragment headers, and all of its
 *          data; link padding excluded). Owned by the table and valid only
 *          during the call; the callback must not call into the table.
 */
typedef void (*zt_reasm_expired_fn)(void *ctx, uint8_t family,
				    struct zt_view first);

/*
 * zt_reasm_init() - allocate the table's storage once: max_bytes (rounded
 * down to whole chunks) for the pool, about 2.5 KiB of bookkeeping per
 * datagram slot, and one ZT_REASM_MAX_OUTPUT-byte output buffer.
 * @t:   caller-owned; written in full
 * @cfg: NULL or a config whose zero fields take their defaults
 * Return: 0, -EINVAL (max_datagrams above ZT_REASM_MAX_DATAGRAMS_LIMIT,
 * max_bytes below one chunk or above 1 GiB) or -ENOMEM (then nothing is held
 * and zt_reasm_destroy() is still safe to call).
 */
int zt_reasm_init(struct zt_reasm *t, const struct zt_reasm_config *cfg);

/* Drop every datagram (no callbacks, no counters) and free all storage.
 * Safe on a zeroed or already destroyed table. */
void zt_reasm_destroy(struct zt_reasm *t);

/*
 * zt_reasm_input() - add one fragment.
 * @t:   the table
 * @pkt: zt_packet_parse()'s decode of @raw, with is_fragment set (an IPv6
 *       atomic fragment, offset 0 without M, is accepted too and handed
 *       back at once without its fragment header, per RFC 6946)
 * @raw: the received packet (borrowed, never written; nothing points into it
 *       after the call: the bytes that are kept are copied)
 * @now: the host's clock in ns; starts the datagram's timer when this is its
 *       first fragment
 * @out: set to {NULL, 0}, or when this fragment completes a datagram, to the
 *       whole reassembled packet: IPv4 with the offset-0 fragment's header
 *       (options included), MF and offset cleared, total length and header
 *       checksum rewritten; IPv6 with the offset-0 fragment's unfragmentable
 *       part, the fragment header removed, the preceding Next Header set to
 *       the fragment header's, the payload length rewritten. ECN as RFC 3168
 *       5.3 says (CE if any fragment had CE). The bytes are owned by the table
 *       and valid until the next zt_reasm_input(), zt_reasm_expire() or
 *       zt_reasm_destroy() on it; the caller re-parses them with
 *       zt_packet_parse().
 * Return: ZT_DROP_NONE if the fragment was stored, was an exact duplicate or
 * completed a datagram; otherwise why it was refused (already counted in
 * t->stats.drops). ZT_DROP_BAD_FRAGMENT is also returned when the completing
 * fragment's datagram mixes Not-ECT with ECT/CE fragments (dropped, RFC 3168).
 */
enum zt_drop zt_reasm_input(struct zt_reasm *t, const struct zt_packet *pkt,
			    struct zt_view raw, uint64_t now,
			    struct zt_view *out);

/*
 * zt_reasm_expire() - drop every datagram whose timer ran out (deadline
 * <= @now), counting each as ZT_DROP_FRAG_TIMEOUT, and call @fn (if not NULL)
 * for each of them whose offset-0 fragment had arrived.
 * Return: the number of datagrams dropped.
 */
unsigned zt_reasm_expire(struct zt_reasm *t, uint64_t now,
			 zt_reasm_expired_fn fn, void *ctx);

/* Earliest deadline of a datagram in progress; UINT64_MAX when none. */
uint64_t zt_reasm_next_deadline(const struct zt_reasm *t);

#endif /* ZTUN_REASM_H */
