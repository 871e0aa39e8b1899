/* SPDX-License-Identifier: MIT */
/*
 * test.h - shared helpers for the CUnit suites.
 *
 * Each tests/unit/test_<name>.c defines `int zt_suite_<name>(void)` that adds
 * its suite and tests to the registry (returning 0, or -1 on a CUnit error),
 * and gets a line SUITE(<name>) in suites.def.
 */
#ifndef ZTUN_TEST_H
#define ZTUN_TEST_H

#include <CUnit/CUnit.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ztun/packet.h"

/* Add suite @name with tests given as {"name", fn} pairs ending in {0}. */
struct zt_test_case {
	const char *name;
	CU_TestFunc fn;
};
int zt_add_suite(const char *name, CU_InitializeFunc init,
		 CU_CleanupFunc clean, const struct zt_test_case *cases);

/* Directory holding pcap-fixtures/ (the source tree root); from $ZT_SRCDIR,
 * else ".". */
const char *zt_test_srcdir(void);

/* Seed for property tests: $ZT_TEST_SEED if set, else @fallback. Printed by
 * the runner so any failure can be reproduced. */
uint64_t zt_test_seed(uint64_t fallback);

/* Make every malloc() of exactly @size bytes, from the tests and the
 * libraries linked in, return NULL until called again with 0 (the unit
 * tests are linked with --wrap=malloc). For a deterministic allocation
 * failure: pick a size nothing else asks for. */
void zt_test_fail_malloc(size_t size);

/* Bytes the heap holds now (ASan's count under ASan, else mallinfo2's):
 * for tests that bound what a structure keeps allocated. */
uint64_t zt_test_heap_used(void);

/* Read @path whole into a heap buffer with a NUL after its last byte
 * (so text can be used as a string); *@len its size. Caller frees; NULL
 * when it cannot be opened or read. */
uint8_t *zt_test_slurp(const char *path, size_t *len);

/* An exactly-sized heap copy of @n bytes, so that ASan's red zone sits
 * right after the last byte and any over-read is caught. Caller frees. */
uint8_t *zt_test_dup_exact(const uint8_t *p, size_t n);

/* A child process named @name (as /proc/PID/comm shows it, prctl
 * PR_SET_NAME): alive until killed, or a zombie (exited, left unreaped)
 * when @zombie. The caller kills (if alive) and reaps it. */
pid_t zt_test_child_named(const char *name, bool zombie);

/* Put an IPv4 or IPv6 header (no options, TTL 64) for @l4_len bytes of
 * protocol @proto from @src to @dst in front of @l4, in @out (caller-owned,
 * at least 40 + @l4_len bytes; @l4 may already sit anywhere in it).
 * Returns the packet length. */
struct zt_addr;
size_t zt_test_wrap_ip(const struct zt_addr *src, const struct zt_addr *dst,
		       uint8_t proto, const uint8_t *l4, size_t l4_len, uint8_t *out);
/* In @out (caller-owned, 400 bytes), the ICMP error (ICMPv6 for IPv6
 * addresses) of @type / @code from @from to @to that a client sends about
 * a UDP datagram @qsrc:@sport -> @qdst:@dport of 4 bytes it got, quoting
 * its first @qlen bytes (0: all). Returns the packet length. */
size_t zt_test_udp_error(const struct zt_addr *from, const struct zt_addr *to,
			 const struct zt_addr *qsrc, uint16_t sport,
			 const struct zt_addr *qdst, uint16_t dport,
			 uint8_t type, uint8_t code, size_t qlen, uint8_t *out);
/* Set the traffic class (IPv4 TOS, with the header checksum) of IP packet
 * @pkt (@len bytes) to @tclass, and its TTL / hop limit to @ttl (0: as it
 * is). */
void zt_test_set_hdr(uint8_t *pkt, size_t len, uint8_t tclass, uint8_t ttl);
/* The same with TTL / hop limit, traffic class (IPv4 TOS) and IPv4 DF
 * @h. */
size_t zt_test_wrap_ip_hdr(const struct zt_addr *src, const struct zt_addr *dst,
			   uint8_t proto, const uint8_t *l4, size_t l4_len,
			   const struct zt_fwd_hdr *h, uint8_t *out);
/* The IPv4 or IPv6 header (no options or extension headers but a fragment
 * header where @frag_off or @mf say it is a fragment) of a packet from @s
 * to @d carrying @l4_len bytes of @proto already at @buf + its length,
 * with TTL / hop limit @ttl, traffic class @tclass, identification
 * @ident; @cap bytes at @buf. Returns the packet's total length. */
size_t zt_test_put_ip(const struct zt_addr *s, const struct zt_addr *d,
		      uint8_t proto, uint8_t ttl, uint8_t tclass, uint32_t ident,
		      uint16_t frag_off, bool mf, size_t l4_len, uint8_t *buf,
		      size_t cap);
/* Fragment @i of an IPv4 or IPv6 packet from @src to @dst carrying @l4
 * (@l4_len bytes of @proto), @chunk bytes of it per fragment (a multiple
 * of 8), into @out (@cap bytes). Returns its length; 0 past the last. */
size_t zt_test_fragment(const struct zt_addr *src, const struct zt_addr *dst,
			uint8_t proto, const uint8_t *l4, size_t l4_len,
			size_t chunk, size_t i, uint8_t *out, size_t cap);

/* The IP packet carrying the segment a tcb hands to its output op (@r,
 * then data @d1/@l1 and @d2/@l2) from @src to @dst, in @out (caller-owned,
 * @cap bytes). Returns the packet length. */
struct zt_tcp_repr;
size_t zt_test_tcp_packet(const struct zt_addr *src, const struct zt_addr *dst,
			  const struct zt_tcp_repr *r, const uint8_t *d1, size_t l1,
			  const uint8_t *d2, size_t l2, uint8_t *out, size_t cap);

/* A DNS query for @name (text, may be mixed case) of @qtype, id 0x1234
 * and RD, with an EDNS OPT record after it when @edns, in @buf (at least
 * 300 bytes). Returns its length. */
size_t zt_test_dns_query(uint8_t *buf, const char *name, uint16_t qtype,
			 bool edns);

/* Every suite's registration function, from suites.def. */
#define SUITE(name) int zt_suite_##name(void);
#include "suites.def"
#undef SUITE

#endif /* ZTUN_TEST_H */
