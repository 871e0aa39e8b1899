/* SPDX-License-Identifier: MIT */
/*
 * test_fixtures.c - every capture in pcap-fixtures/ (real traffic from
 * tools/make-fixtures.sh) through the reader and zt_packet_parse.
 *
 * Checksums are verified (flags 0, no ZT_PARSE_NO_CSUM). This is sound
 * because make-fixtures.sh turns transmit checksum offload off on both veth
 * ends; with it on, every locally generated TCP/UDP packet is captured with
 * only the pseudo-header sum in its checksum field (CHECKSUM_PARTIAL) and
 * would fail here as bad_checksum, which is how a fixture captured without
 * that step shows itself.
 *
 * The allow-list of drop reasons for whole packets is empty: ARP, LLDP and
 * other non-IP frames never reach the parser (the reader skips them), NDP and
 * echo are ICMPv6/ICMP messages the parser decodes. Frames cut by the snap
 * length (len < orig_len, the iperf capture) are counted separately and may
 * give only ZT_DROP_TRUNCATED (the IP length says more than is there) or
 * ZT_DROP_NONE (the cut fell in link padding past the IP packet).
 */
#include <dirent.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "io/pcap_io.h"
#include "ztun/packet.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

/* The fixture set is ours (tools/make-fixtures.sh); a test that found no
 * packets would pass vacuously, so demand about what the script makes. */
#define MIN_FILES 4
#define MIN_PACKETS 200

/* Per-file cap for the truncation sweep (every cut of every packet). The
 * current fixtures are far below it (about 330 packets of at most ~400
 * bytes captured); it only keeps run time bounded if larger ones appear. */
#define TRUNC_MAX_PACKETS 1000

#define MAX_FILES 64

struct fixture_list {
	char *path[MAX_FILES];
	int n;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Every *.pcap and *.pcapng in <srcdir>/pcap-fixtures, sorted. */
static void list_fixtures(struct fixture_list *l)
{
	char dir[4096];
	struct dirent *de;
	DIR *d;

	l->n = 0;
	snprintf(dir, sizeof(dir), "%s/pcap-fixtures", zt_test_srcdir());
	d = opendir(dir);
	if (!d) {
		printf("\n  cannot open %s: %s (set ZT_SRCDIR to the source "
		       "root)\n", dir, strerror(errno));
		return;
	}
	while ((de = readdir(d)) && l->n < MAX_FILES) {
		size_t len;

		if (!has_suffix(de->d_name, ".pcap") &&
		    !has_suffix(de->d_name, ".pcapng"))
			continue;
		len = strlen(dir) + strlen(de->d_name) + 2;
		l->path[l->n] = malloc(len);
		if (!l->path[l->n])
			break;
		snprintf(l->path[l->n], len, "%s/%s", dir, de->d_name);
		l->n++;
	}
	closedir(d);
	qsort(l->path, (size_t)l->n, sizeof(l->path[0]), cmp_str);
}

static void free_fixtures(struct fixture_list *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->path[i]);
	l->n = 0;
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Parse @len bytes copied into an exactly-sized heap block, so that any
 * read past the end is an ASan error rather than a silent pass. */
static enum zt_drop parse_exact(const uint8_t *data, size_t len)
{
	struct zt_packet pkt;
	enum zt_drop why;
	uint8_t *copy = malloc(len ? len : 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
	if (len)
		memcpy(copy, data, len);
	why = zt_packet_parse(zt_view_make(copy, len), 0, &pkt);
	free(copy);
	return why;
}

static void test_all_parse(void)
{
	struct fixture_list l;
	uint64_t drops[ZT_DROP__COUNT];
	uint64_t packets = 0, snapped = 0, snapped_trunc = 0, skipped = 0;
	bool seen_eth = false, seen_sll = false, seen_sll2 = false;

	memset(drops, 0, sizeof(drops));
	list_fixtures(&l);
	CU_ASSERT_FATAL(l.n >= MIN_FILES);
	for (int f = 0; f < l.n; f++) {
		struct zt_pcap_reader *r;
		struct zt_pcap_record rec;
		char err[512];
		uint32_t last_frame = 0;
		int rc;

		rc = zt_pcap_open_read(l.path[f], &r, err, sizeof(err));
		if (rc != 0)
			printf("\n  %s\n", err);
		CU_ASSERT_EQUAL_FATAL(rc, 0);
		seen_eth |= zt_pcap_linktype(r) == DLT_EN10MB;
		seen_sll |= zt_pcap_linktype(r) == DLT_LINUX_SLL;
		seen_sll2 |= zt_pcap_linktype(r) == DLT_LINUX_SLL2;
		while ((rc = zt_pcap_read_next(r, &rec)) == 1) {
			enum zt_drop why = parse_exact(rec.data, rec.len);

			CU_ASSERT(rec.frame_no > last_frame);
			last_frame = rec.frame_no;
			CU_ASSERT(rec.orig_len >= rec.len);
			packets++;
			if (rec.len < rec.orig_len) {
				snapped++;
				snapped_trunc += why == ZT_DROP_TRUNCATED;
				CU_ASSERT(why == ZT_DROP_TRUNCATED ||
					  why == ZT_DROP_NONE);
				continue;
			}
			drops[why]++;
			if (why != ZT_DROP_NONE)
				printf("\n  %s frame %u: %s\n", base(l.path[f]),
				       rec.frame_no, zt_drop_name(why));
			CU_ASSERT_EQUAL(why, ZT_DROP_NONE);
		}
		CU_ASSERT_EQUAL(rc, 0);
		skipped += zt_pcap_skipped(r);
		zt_pcap_close_read(r);
	}
	printf("\n  %d files, %llu IP packets (%llu snapped, %llu of them "
	       "truncated), %llu non-IP frames skipped, %llu whole packets "
	       "accepted\n", l.n, (unsigned long long)packets,
	       (unsigned long long)snapped, (unsigned long long)snapped_trunc,
	       (unsigned long long)skipped,
	       (unsigned long long)drops[ZT_DROP_NONE]);
	CU_ASSERT(packets >= MIN_PACKETS);
	CU_ASSERT(snapped > 0);      /* the iperf capture is there and snapped */
	CU_ASSERT(skipped > 0);      /* ARP on the veth captures */
	CU_ASSERT(seen_eth && seen_sll && seen_sll2);
	free_fixtures(&l);
}

/* Length the IP header claims for the whole packet, or 0 if it cannot be
 * read. Bytes past it are link padding, which the parser ignores. */
static size_t ip_claimed_len(const uint8_t *p, size_t len)
{
	if (len >= 20 && p[0] >> 4 == 4)
		return (size_t)p[2] << 8 | p[3];
	if (len >= 40 && p[0] >> 4 == 6)
		return 40 + ((size_t)p[4] << 8 | p[5]);
	return 0;
}

static void test_truncation(void)
{
	struct fixture_list l;
	uint64_t cuts = 0;

	list_fixtures(&l);
	CU_ASSERT_FATAL(l.n >= 1);
	for (int f = 0; f < l.n; f++) {
		struct zt_pcap_reader *r;
		struct zt_pcap_record rec;
		char err[512];
		int n = 0;

		CU_ASSERT_EQUAL_FATAL(zt_pcap_open_read(l.path[f], &r, err,
							sizeof(err)), 0);
		while (n < TRUNC_MAX_PACKETS && zt_pcap_read_next(r, &rec) == 1) {
			size_t claimed = ip_claimed_len(rec.data, rec.len);
			size_t must_fail = claimed && claimed < rec.len ?
					   claimed : rec.len;

			n++;
			for (size_t cut = 0; cut < rec.len; cut++) {
				enum zt_drop why = parse_exact(rec.data, cut);

				cuts++;
				if (cut < must_fail && why == ZT_DROP_NONE) {
					printf("\n  %s frame %u cut at %zu of "
					       "%zu parsed\n", base(l.path[f]),
					       rec.frame_no, cut, rec.len);
					CU_FAIL("truncated packet accepted");
				}
			}
		}
		zt_pcap_close_read(r);
	}
	CU_ASSERT(cuts > 10000);
	free_fixtures(&l);
}

static void test_write_roundtrip(void)
{
	struct fixture_list l;
	char tmp[64] = "/tmp/ztun-fixture-rt-XXXXXX";
	int fd = mkstemp(tmp);

	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	list_fixtures(&l);
	CU_ASSERT_FATAL(l.n >= 1);
	for (int f = 0; f < l.n; f++) {
		struct zt_pcap_reader *a, *b;
		struct zt_pcap_writer *w;
		struct zt_pcap_record ra, rb;
		char err[512];
		uint64_t n = 0;
		int rc;

		CU_ASSERT_EQUAL_FATAL(zt_pcap_open_read(l.path[f], &a, err,
							sizeof(err)), 0);
		CU_ASSERT_EQUAL_FATAL(zt_pcap_open_write(tmp, &w, err,
							 sizeof(err)), 0);
		while (zt_pcap_read_next(a, &ra) == 1)
			CU_ASSERT_EQUAL(zt_pcap_write(w, ra.ts_ns, ra.data,
						      ra.len), 0);
		CU_ASSERT_EQUAL(zt_pcap_close_write(w), 0);
		zt_pcap_close_read(a);

		/* Again from the start, side by side with the copy. Only the
		 * wire length of snapped packets is not carried over: the
		 * writer's records are whole packets. */
		CU_ASSERT_EQUAL_FATAL(zt_pcap_open_read(l.path[f], &a, err,
							sizeof(err)), 0);
		CU_ASSERT_EQUAL_FATAL(zt_pcap_open_read(tmp, &b, err,
							sizeof(err)), 0);
		while ((rc = zt_pcap_read_next(a, &ra)) == 1) {
			CU_ASSERT_EQUAL_FATAL(zt_pcap_read_next(b, &rb), 1);
			CU_ASSERT_EQUAL(rb.ts_ns, ra.ts_ns);
			CU_ASSERT_EQUAL_FATAL(rb.len, ra.len);
			CU_ASSERT(memcmp(rb.data, ra.data, ra.len) == 0);
			CU_ASSERT_EQUAL(rb.orig_len, rb.len);
			CU_ASSERT_EQUAL(rb.frame_no, (uint32_t)++n);
		}
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT_EQUAL(zt_pcap_read_next(b, &rb), 0);
		CU_ASSERT_EQUAL(zt_pcap_skipped(b), 0);
		CU_ASSERT(n > 0);
		zt_pcap_close_read(a);
		zt_pcap_close_read(b);
	}
	unlink(tmp);
	free_fixtures(&l);
}

int zt_suite_fixtures(void)
{
	static const struct zt_test_case cases[] = {
		{ "all_parse", test_all_parse },
		{ "truncation_every_length", test_truncation },
		{ "write_read_roundtrip", test_write_roundtrip },
		{ 0 }
	};

	return zt_add_suite("fixtures", NULL, NULL, cases);
}
