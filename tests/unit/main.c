/* SPDX-License-Identifier: MIT */
/* main.c - the CUnit runner for every unit suite (tests/unit/suites.def).
 * Usage: unit-tests [SUITE...]  (no argument: all suites) */
#include <CUnit/Basic.h>
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ztun/ip4.h"
#include "ztun/ip6.h"
#include "ztun/packet.h"
#include "ztun/addr.h"
#include "ztun/checksum.h"
#include "ztun/icmp_wire.h"
#include "ztun/udp_wire.h"
#include "ztun/tcp_wire.h"

struct suite_entry {
	const char *name;
	int (*add)(void);
};

static const struct suite_entry all_suites[] = {
#define SUITE(name) { #name, zt_suite_##name },
#include "suites.def"
#undef SUITE
};

/*
 * Leak check at every suite's teardown: under AddressSanitizer, each suite's
 * cleanup asks LeakSanitizer for a (recoverable) leak check, so a leak is
 * pinned to the suite that made it rather than reported once at exit. A
 * suite's own cleanup runs first. Without ASan this is a no-op.
 */
#if defined(__SANITIZE_ADDRESS__)
#define ZT_HAVE_LSAN 1
int __lsan_do_recoverable_leak_check(void);
#endif

#define ZT_MAX_SUITES 64
struct suite_cleanup {
	CU_pSuite suite;
	CU_CleanupFunc clean;
};
static struct suite_cleanup cleanups[ZT_MAX_SUITES];
static unsigned n_cleanups;
static unsigned leaking_suites;

/* The one cleanup every suite gets: CUnit says which suite is ending. */
static int suite_cleanup(void)
{
	CU_pSuite cur = CU_get_current_suite();
	int rc = 0;

	for (unsigned i = 0; i < n_cleanups; i++)
		if (cleanups[i].suite == cur && cleanups[i].clean)
			rc = cleanups[i].clean();
#ifdef ZT_HAVE_LSAN
	/* LeakSanitizer reports every leak still alive, so after the first
	 * leaking suite later ones would be blamed for it too: stop there. */
	if (!leaking_suites && __lsan_do_recoverable_leak_check()) {
		fprintf(stderr, "unit-tests: suite %s leaked memory (report above)\n",
			cur ? cur->pName : "?");
		leaking_suites++;
		rc = rc ? rc : 1;
	}
#endif
	return rc;
}

int zt_add_suite(const char *name, CU_InitializeFunc init,
		 CU_CleanupFunc clean, const struct zt_test_case *cases)
{
	CU_pSuite s;

	if (n_cleanups >= ZT_MAX_SUITES)
		return -1;
	s = CU_add_suite(name, init, suite_cleanup);
	cleanups[n_cleanups].suite = s;
	cleanups[n_cleanups].clean = clean;
	n_cleanups++;

	if (!s)
		return -1;
	for (; cases->name; cases++)
		if (!CU_add_test(s, cases->name, cases->fn))
			return -1;
	return 0;
}

const char *zt_test_srcdir(void)
{
	const char *d = getenv("ZT_SRCDIR");

	return d && *d ? d : ".";
}

void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);

static size_t malloc_fail_size; /* 0: none fails */

void zt_test_fail_malloc(size_t size)
{
	malloc_fail_size = size;
}

void *__wrap_malloc(size_t size)
{
	if (malloc_fail_size && size == malloc_fail_size)
		return NULL;
	return __real_malloc(size);
}

#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

uint64_t zt_test_heap_used(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 m = mallinfo2();

	return (uint64_t)m.uordblks + m.hblkhd;
#endif
}

uint8_t *zt_test_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *d = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		d = malloc((size_t)n + 1);
		if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
			free(d);
			d = NULL;
		}
		if (d) {
			d[n] = 0;
			*len = (size_t)n;
		}
	}
	fclose(f);
	return d;
}

uint8_t *zt_test_dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	CU_ASSERT_FATAL(c != NULL);
	if (n)
		memcpy(c, p, n);
	return c;
}

pid_t zt_test_child_named(const char *name, bool zombie)
{
	int pipefd[2];
	char c;
	pid_t pid;

	CU_ASSERT_FATAL(pipe(pipefd) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_NAME, name);
		if (write(pipefd[1], "x", 1) != 1 || zombie)
			_exit(0);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	CU_ASSERT_FATAL(read(pipefd[0], &c, 1) == 1);
	close(pipefd[0]);
	if (zombie) {
		siginfo_t si;

		/* wait until it is a zombie, and leave it one */
		CU_ASSERT_FATAL(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == 0);
	}
	return pid;
}

size_t zt_test_wrap_ip(const struct zt_addr *src, const struct zt_addr *dst,
		       uint8_t proto, const uint8_t *l4, size_t l4_len, uint8_t *out)
{
	const struct zt_fwd_hdr h = { 64, 0, false };

	return zt_test_wrap_ip_hdr(src, dst, proto, l4, l4_len, &h, out);
}

size_t zt_test_wrap_ip_hdr(const struct zt_addr *src, const struct zt_addr *dst,
			   uint8_t proto, const uint8_t *l4, size_t l4_len,
			   const struct zt_fwd_hdr *h, uint8_t *out)
{
	const struct zt_ip_hdr_params p = {
		.ttl = h->ttl, .tclass = h->tclass, .dont_frag = h->dont_frag,
	};
	size_t cap = ZT_IP6_HDR + l4_len;
	int hl;

	/* the header goes first: keep the payload out of its way */
	memmove(out + (src->family == ZT_AF_INET ? ZT_IP4_MIN_HDR : ZT_IP6_HDR),
		l4, l4_len);
	hl = zt_ip_header_emit(src, dst, proto, l4_len, &p, out, cap);
	CU_ASSERT_FATAL(hl > 0);
	return (size_t)hl + l4_len;
}

size_t zt_test_udp_error(const struct zt_addr *from, const struct zt_addr *to,
			 const struct zt_addr *qsrc, uint16_t sport,
			 const struct zt_addr *qdst, uint16_t dport,
			 uint8_t type, uint8_t code, size_t qlen, uint8_t *out)
{
	uint8_t dg[64], q[128], msg[256];
	const struct zt_udp_repr u = { sport, dport };
	bool v4 = from->family == ZT_AF_INET;
	struct zt_icmp_repr e;
	size_t ql;
	int n = zt_udp_emit(&u, qsrc, qdst, (const uint8_t *)"data", 4, dg,
			    sizeof(dg));

	CU_ASSERT_FATAL(n > 0);
	ql = zt_test_wrap_ip(qsrc, qdst, ZT_IPPROTO_UDP, dg, (size_t)n, q);
	if (qlen && qlen < ql)
		ql = qlen;
	memset(&e, 0, sizeof(e));
	e.type = type;
	e.code = code;
	e.mtu = 1280;
	n = v4 ? zt_icmp4_emit(&e, q, ql, msg, sizeof(msg)) :
		 zt_icmp6_emit(&e, from, to, q, ql, msg, sizeof(msg));
	CU_ASSERT_FATAL(n > 0);
	return zt_test_wrap_ip(from, to, v4 ? ZT_IPPROTO_ICMP : ZT_IPPROTO_ICMPV6,
			       msg, (size_t)n, out);
}

size_t zt_test_put_ip(const struct zt_addr *s, const struct zt_addr *d,
		      uint8_t proto, uint8_t ttl, uint8_t tclass, uint32_t ident,
		      uint16_t frag_off, bool mf, size_t l4_len, uint8_t *buf,
		      size_t cap)
{
	int h;

	if (s->family == ZT_AF_INET) {
		struct zt_ip4_repr ip;

		memset(&ip, 0, sizeof(ip));
		ip.ttl = ttl;
		ip.dscp_ecn = tclass;
		ip.protocol = proto;
		ip.ident = (uint16_t)ident;
		ip.frag_offset = frag_off;
		ip.more_frags = mf;
		memcpy(ip.src, s->bytes, 4);
		memcpy(ip.dst, d->bytes, 4);
		h = zt_ip4_emit(&ip, l4_len, buf, cap);
	} else {
		struct zt_ip6_repr ip;

		memset(&ip, 0, sizeof(ip));
		ip.hop_limit = ttl;
		ip.traffic_class = tclass;
		ip.upper_proto = proto;
		ip.has_frag = frag_off || mf;
		ip.frag_offset = frag_off;
		ip.more_frags = mf;
		ip.frag_ident = ident;
		memcpy(ip.src, s->bytes, 16);
		memcpy(ip.dst, d->bytes, 16);
		h = zt_ip6_emit(&ip, l4_len, buf, cap);
	}
	CU_ASSERT_FATAL(h > 0);
	return (size_t)h + l4_len;
}

size_t zt_test_fragment(const struct zt_addr *src, const struct zt_addr *dst,
			uint8_t proto, const uint8_t *l4, size_t l4_len,
			size_t chunk, size_t i, uint8_t *out, size_t cap)
{
	size_t off = i * chunk, m, len;

	if (off >= l4_len)
		return 0;
	m = l4_len - off > chunk ? chunk : l4_len - off;
	len = zt_test_put_ip(src, dst, proto, 64, 0, 4242, (uint16_t)off,
			     off + m < l4_len, m, out, cap);
	CU_ASSERT_FATAL(len <= cap);
	memcpy(out + len - m, l4 + off, m);
	return len;
}

void zt_test_set_hdr(uint8_t *pkt, size_t len, uint8_t tclass, uint8_t ttl)
{
	CU_ASSERT_FATAL(len >= ZT_IP6_HDR || (len >= ZT_IP4_MIN_HDR && pkt[0] >> 4 == 4));
	if (pkt[0] >> 4 == 4) {
		size_t hl = (size_t)(pkt[0] & 15) * 4;

		pkt[1] = tclass;
		if (ttl)
			pkt[8] = ttl;
		pkt[10] = pkt[11] = 0;
		zt_wr16(pkt + 10, zt_csum_fold(zt_csum_add(0, pkt, hl)));
	} else {
		pkt[0] = (uint8_t)(0x60 | tclass >> 4);
		pkt[1] = (uint8_t)((tclass & 15) << 4 | (pkt[1] & 15));
		if (ttl)
			pkt[7] = ttl;
	}
}

size_t zt_test_tcp_packet(const struct zt_addr *src, const struct zt_addr *dst,
			  const struct zt_tcp_repr *r, const uint8_t *d1, size_t l1,
			  const uint8_t *d2, size_t l2, uint8_t *out, size_t cap)
{
	/* The segment is built where the IP header will not overlap it. */
	uint8_t *seg = out + ZT_IP6_HDR;
	int hl = zt_tcp_header_len(r), n;

	CU_ASSERT_FATAL(hl > 0 && ZT_IP6_HDR + (size_t)hl + l1 + l2 <= cap);
	if (l1)
		memcpy(seg + hl, d1, l1);
	if (l2)
		memcpy(seg + hl + l1, d2, l2);
	n = zt_tcp_emit(r, src, dst, seg + hl, l1 + l2, seg, cap - ZT_IP6_HDR);
	CU_ASSERT_FATAL(n > 0);
	return zt_test_wrap_ip(src, dst, ZT_IPPROTO_TCP, seg, (size_t)n, out);
}

uint64_t zt_test_seed(uint64_t fallback)
{
	const char *s = getenv("ZT_TEST_SEED");

	return s && *s ? strtoull(s, NULL, 0) : fallback;
}

static int wanted(int argc, char **argv, const char *name)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned failed;
	size_t n = sizeof(all_suites) / sizeof(all_suites[0]);

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	for (size_t i = 0; i < n; i++) {
		if (!wanted(argc, argv, all_suites[i].name))
			continue;
		if (all_suites[i].add() != 0) {
			fprintf(stderr, "unit-tests: cannot register suite %s: %s\n",
				all_suites[i].name, CU_get_error_msg());
			CU_cleanup_registry();
			return 2;
		}
	}
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
		 CU_get_number_of_suites_failed() + leaking_suites;
	if (CU_get_error() != CUE_SUCCESS)
		failed++;
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
