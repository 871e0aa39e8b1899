/* SPDX-License-Identifier: MIT */
/*
 * test_pcap_io.c - the pcap reader and writer: write/read round trips with
 * nanosecond times, the files checked by tcpdump and tshark when present,
 * one synthesized capture per supported link type (built with libpcap's own
 * writer so the file format is libpcap's, with the link header we prepend),
 * a hand-built pcapng file, and the error paths.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "io/pcap_io.h"


/* A temporary file name under /tmp; the file exists (empty) until removed. */
static void tmp_path(char *buf, size_t len)
{
	int fd;

	snprintf(buf, len, "/tmp/ztun-pcap-test-XXXXXX");
	fd = mkstemp(buf);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
}

/* An IPv4 (@v6 false) or IPv6 header with @len bytes in all, the rest
 * filled from @seed. The reader does not parse IP, but tcpdump and tshark
 * print these more sensibly when they look like IP. */
static size_t make_ip(uint8_t *buf, size_t len, bool v6, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 31 + i * 7);
	if (v6 && len >= 40) {
		buf[0] = 0x60;
		buf[4] = (uint8_t)((len - 40) >> 8);
		buf[5] = (uint8_t)(len - 40);
		buf[6] = 59; /* no next header */
	} else if (!v6 && len >= 20) {
		buf[0] = 0x45;
		buf[2] = (uint8_t)(len >> 8);
		buf[3] = (uint8_t)len;
		buf[6] = 0;
		buf[7] = 0;
		buf[9] = 253; /* experimental */
	} else if (len) {
		buf[0] = v6 ? 0x60 : 0x45;
	}
	return len;
}

/* Count output lines of @cmd; -1 when it cannot run or exits non-zero. */
static long run_count_lines(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char line[4096];
	long n = 0;
	int st;

	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p))
		if (strchr(line, '\n'))
			n++;
	st = pclose(p);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return n;
}

static bool have_program(const char *name)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

/* --- writer -> reader ----------------------------------------------------- */

#define RT_N 8
static const uint64_t rt_ts[RT_N] = {
	1700000000123456789ull, /* sub-microsecond digits must survive */
	1700000000123456790ull,
	1700000001000000000ull,
	1700000001000000001ull,
	1,
	999,
	4294967295999999999ull, /* the last second a pcap file can hold (2106;
				 * libpcap hands it back sign-extended) */
	2147483648000000001ull, /* just past the signed 32-bit rollover */
};
static const size_t rt_len[RT_N] = { 20, 40, 1, 0, 60, 1500, 9000, 65535 };

static void write_sample(const char *path)
{
	static uint8_t pkt[65535];
	struct zt_pcap_writer *w;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(zt_pcap_open_write(path, &w, err, sizeof(err)), 0);
	for (int i = 0; i < RT_N; i++) {
		make_ip(pkt, rt_len[i], i & 1, (unsigned)i);
		CU_ASSERT_EQUAL(zt_pcap_write(w, rt_ts[i], pkt, rt_len[i]), 0);
	}
	CU_ASSERT_EQUAL(zt_pcap_close_write(w), 0);
}

static void test_write_read_roundtrip(void)
{
	static uint8_t want[65535];
	struct zt_pcap_reader *r;
	struct zt_pcap_record rec;
	char path[64], err[256];
	uint8_t hdr[24];
	uint32_t magic, linktype;
	FILE *f;
	int i;

	tmp_path(path, sizeof(path));
	write_sample(path);

	/* The file says nanoseconds (magic a1b23c4d, host order as libpcap
	 * writes it) and LINKTYPE_RAW (101), whatever DLT_RAW is here. */
	f = fopen(path, "rb");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL_FATAL(fread(hdr, 1, sizeof(hdr), f), sizeof(hdr));
	fclose(f);
	memcpy(&magic, hdr, 4);
	memcpy(&linktype, hdr + 20, 4);
	CU_ASSERT_EQUAL(magic, 0xa1b23c4du);
	CU_ASSERT_EQUAL(linktype & 0xffff, 101u);

	CU_ASSERT_EQUAL_FATAL(zt_pcap_open_read(path, &r, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(zt_pcap_linktype(r), DLT_RAW);
	for (i = 0; i < RT_N; i++) {
		CU_ASSERT_EQUAL_FATAL(zt_pcap_read_next(r, &rec), 1);
		make_ip(want, rt_len[i], i & 1, (unsigned)i);
		CU_ASSERT_EQUAL(rec.ts_ns, rt_ts[i]);
		CU_ASSERT_EQUAL(rec.len, rt_len[i]);
		CU_ASSERT_EQUAL(rec.orig_len, rt_len[i]);
		CU_ASSERT_EQUAL(rec.frame_no, (uint32_t)i + 1);
		CU_ASSERT(rec.len == 0 || memcmp(rec.data, want, rec.len) == 0);
	}
	CU_ASSERT_EQUAL(zt_pcap_read_next(r, &rec), 0);
	CU_ASSERT_EQUAL(zt_pcap_read_next(r, &rec), 0); /* EOF is sticky */
	CU_ASSERT_EQUAL(zt_pcap_skipped(r), 0);
	zt_pcap_close_read(r);
	unlink(path);
}

static void test_external_readers(void)
{
	/* Program and options; each prints one line per packet. */
	static const char *const tools[][2] = {
		{ "tcpdump", "-nn" },
		{ "tshark", "" },
	};
	char path[64], cmd[256];

	tmp_path(path, sizeof(path));
	write_sample(path);
	for (size_t t = 0; t < sizeof(tools) / sizeof(tools[0]); t++) {
		if (!have_program(tools[t][0])) {
			printf("\n  SKIP %s: not installed (nothing to check the "
			       "written file against)\n", tools[t][0]);
			continue;
		}
		snprintf(cmd, sizeof(cmd), "%s -r '%s' %s 2>/dev/null",
			 tools[t][0], path, tools[t][1]);
		CU_ASSERT_EQUAL(run_count_lines(cmd), RT_N);
	}
	unlink(path);
}

/* --- every supported link type ------------------------------------------- */

/* One frame of a synthesized capture: a link header, then either an IP
 * packet (ip_len > 0: expected back from the reader) or junk that the
 * reader must skip. */
struct frame {
	uint8_t hdr[32];
	size_t hdr_len;
	size_t ip_len;  /* 0: not IP, expect a skip */
	bool v6;
	size_t snap;    /* caplen when not 0 (< the whole frame) */
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32be(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Ethernet header with @ntags VLAN tags (outer first) before @type. */
static size_t eth_hdr(uint8_t *h, const uint16_t *tags, int ntags,
		      uint16_t type)
{
	size_t off = 12;

	for (int i = 0; i < 12; i++)
		h[i] = (uint8_t)(0x10 + i);
	for (int i = 0; i < ntags; i++) {
		put16(h + off, tags[i]);
		put16(h + off + 2, (uint16_t)(100 + i)); /* TCI: VLAN id */
		off += 4;
	}
	put16(h + off, type);
	return off + 2;
}

static size_t sll_hdr(uint8_t *h, uint16_t proto)
{
	memset(h, 0, 16);
	put16(h, 0);       /* packet to us */
	put16(h + 2, 1);   /* ARPHRD_ETHER */
	put16(h + 4, 6);
	for (int i = 0; i < 6; i++)
		h[6 + i] = (uint8_t)(0x20 + i);
	put16(h + 14, proto);
	return 16;
}

static size_t sll2_hdr(uint8_t *h, uint16_t proto)
{
	memset(h, 0, 20);
	put16(h, proto);
	put32be(h + 4, 7); /* ifindex */
	put16(h + 8, 1);   /* ARPHRD_ETHER */
	h[10] = 4;         /* outgoing */
	h[11] = 6;
	for (int i = 0; i < 6; i++)
		h[12 + i] = (uint8_t)(0x30 + i);
	return 20;
}

/*
 * check_linktype() - write @frames with libpcap as link type @dlt, read them
 * back, and expect exactly the IP packets in order with their times.
 * @micro: write a microsecond file (times then are whole microseconds)
 */
static void check_linktype(int dlt, bool micro, const struct frame *frames,
			   int n)
{
	static uint8_t buf[2048], want[2048];
	struct zt_pcap_reader *r;
	struct zt_pcap_record rec;
	struct pcap_pkthdr h;
	pcap_dumper_t *d;
	pcap_t *p;
	char path[64], err[256];
	uint64_t skips = 0;
	int got, rc;

	tmp_path(path, sizeof(path));
	p = pcap_open_dead_with_tstamp_precision(dlt, 65535,
			micro ? PCAP_TSTAMP_PRECISION_MICRO :
				PCAP_TSTAMP_PRECISION_NANO);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	d = pcap_dump_open(p, path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	for (int i = 0; i < n; i++) {
		const struct frame *f = &frames[i];
		size_t body = f->ip_len ? f->ip_len : 28; /* ARP-sized junk */

		memcpy(buf, f->hdr, f->hdr_len);
		if (f->ip_len)
			make_ip(buf + f->hdr_len, f->ip_len, f->v6, (unsigned)i);
		else
			memset(buf + f->hdr_len, 0xa5, body);
		memset(&h, 0, sizeof(h));
		h.ts.tv_sec = 1700000000 + i;
		h.ts.tv_usec = micro ? 123456 + i : 123456789 + i;
		h.len = (bpf_u_int32)(f->hdr_len + body);
		h.caplen = f->snap ? (bpf_u_int32)f->snap : h.len;
		pcap_dump((u_char *)d, &h, buf);
	}
	pcap_dump_close(d);
	pcap_close(p);

	rc = zt_pcap_open_read(path, &r, err, sizeof(err));
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(zt_pcap_linktype(r), dlt);
	got = 0;
	for (int i = 0; i < n; i++) {
		const struct frame *f = &frames[i];
		size_t caplen = f->snap ? f->snap : f->hdr_len + f->ip_len;

		if (!f->ip_len || caplen < f->hdr_len) {
			skips++;
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(zt_pcap_read_next(r, &rec), 1);
		got++;
		make_ip(want, f->ip_len, f->v6, (unsigned)i);
		CU_ASSERT_EQUAL(rec.frame_no, (uint32_t)i + 1);
		CU_ASSERT_EQUAL(rec.ts_ns, (uint64_t)(1700000000 + i) * 1000000000u +
				(micro ? (123456u + (unsigned)i) * 1000u :
					 123456789u + (unsigned)i));
		CU_ASSERT_EQUAL(rec.len, caplen - f->hdr_len);
		CU_ASSERT_EQUAL(rec.orig_len, f->ip_len);
		CU_ASSERT(memcmp(rec.data, want, rec.len) == 0);
	}
	CU_ASSERT_EQUAL(zt_pcap_read_next(r, &rec), 0);
	CU_ASSERT_EQUAL(zt_pcap_skipped(r), skips);
	CU_ASSERT(got > 0);
	zt_pcap_close_read(r);
	unlink(path);
}

static void test_linktype_raw(void)
{
	const struct frame f[] = {
		{ .ip_len = 20 },
		{ .ip_len = 60, .v6 = true },
		{ .ip_len = 100, .snap = 50 },
		{ .ip_len = 1 },
	};

	check_linktype(DLT_RAW, false, f, 4);
}

static void test_linktype_ipv4_ipv6(void)
{
	const struct frame f4[] = { { .ip_len = 20 }, { .ip_len = 576 } };
	const struct frame f6[] = { { .ip_len = 40, .v6 = true },
				    { .ip_len = 1280, .v6 = true } };

	check_linktype(DLT_IPV4, false, f4, 2);
	check_linktype(DLT_IPV6, false, f6, 2);
}

static void test_linktype_ethernet(void)
{
	static const uint16_t q[] = { 0x8100 };
	static const uint16_t qinq[] = { 0x88a8, 0x8100 };
	static const uint16_t old_qinq[] = { 0x9100, 0x8100 };
	struct frame f[9];

	memset(f, 0, sizeof(f));
	f[0].hdr_len = eth_hdr(f[0].hdr, NULL, 0, 0x0800);
	f[0].ip_len = 40;
	f[1].hdr_len = eth_hdr(f[1].hdr, NULL, 0, 0x0806); /* ARP: skipped */
	f[2].hdr_len = eth_hdr(f[2].hdr, q, 1, 0x86dd);
	f[2].ip_len = 80;
	f[2].v6 = true;
	f[3].hdr_len = eth_hdr(f[3].hdr, qinq, 2, 0x0800);
	f[3].ip_len = 60;
	f[4].hdr_len = eth_hdr(f[4].hdr, old_qinq, 2, 0x86dd);
	f[4].ip_len = 40;
	f[4].v6 = true;
	f[5].hdr_len = eth_hdr(f[5].hdr, q, 1, 0x88cc); /* LLDP in a VLAN */
	f[6].hdr_len = eth_hdr(f[6].hdr, NULL, 0, 0x0800);
	f[6].ip_len = 40;
	f[6].snap = 13;  /* cut inside the link header: skipped */
	f[7].hdr_len = eth_hdr(f[7].hdr, q, 1, 0x0800);
	f[7].ip_len = 40;
	f[7].snap = 17;  /* cut inside the VLAN tag: skipped */
	f[8].hdr_len = eth_hdr(f[8].hdr, NULL, 0, 0x002e); /* 802.3 length */
	check_linktype(DLT_EN10MB, false, f, 9);
}

static void test_linktype_sll(void)
{
	struct frame f[5];

	memset(f, 0, sizeof(f));
	f[0].hdr_len = sll_hdr(f[0].hdr, 0x0800);
	f[0].ip_len = 40;
	f[1].hdr_len = sll_hdr(f[1].hdr, 0x86dd);
	f[1].ip_len = 60;
	f[1].v6 = true;
	f[2].hdr_len = sll_hdr(f[2].hdr, 0x0806);
	/* A VLAN tag that libpcap put back at the protocol field. */
	f[3].hdr_len = sll_hdr(f[3].hdr, 0x8100);
	put16(f[3].hdr + 16, 42);
	put16(f[3].hdr + 18, 0x0800);
	f[3].hdr_len = 20;
	f[3].ip_len = 20;
	f[4].hdr_len = sll_hdr(f[4].hdr, 0x0800);
	f[4].ip_len = 20;
	f[4].snap = 15;
	check_linktype(DLT_LINUX_SLL, false, f, 5);
}

static void test_linktype_sll2(void)
{
	struct frame f[4];

	memset(f, 0, sizeof(f));
	f[0].hdr_len = sll2_hdr(f[0].hdr, 0x86dd);
	f[0].ip_len = 48;
	f[0].v6 = true;
	f[1].hdr_len = sll2_hdr(f[1].hdr, 0x0806);
	f[2].hdr_len = sll2_hdr(f[2].hdr, 0x0800);
	f[2].ip_len = 20;
	f[3].hdr_len = sll2_hdr(f[3].hdr, 0x0800);
	f[3].ip_len = 20;
	f[3].snap = 19;
	check_linktype(DLT_LINUX_SLL2, false, f, 4);
}

/* NULL: the address family in the capturing host's byte order, either way
 * round; IPv6 has a different value on each OS. LOOP: network order. */
static void test_linktype_null_loop(void)
{
	static const uint32_t v6_afs[] = { 10, 24, 28, 30 };
	struct frame f[12];
	int n = 0;

	for (int le = 0; le < 2; le++) {
		memset(f, 0, sizeof(f));
		n = 0;
		(le ? put32le : put32be)(f[n].hdr, 2);
		f[n].hdr_len = 4;
		f[n++].ip_len = 20;
		for (size_t i = 0; i < 4; i++) {
			(le ? put32le : put32be)(f[n].hdr, v6_afs[i]);
			f[n].hdr_len = 4;
			f[n].v6 = true;
			f[n++].ip_len = 40 + i;
		}
		(le ? put32le : put32be)(f[n].hdr, 7); /* AF_ISO-ish: skip */
		f[n++].hdr_len = 4;
		(le ? put32le : put32be)(f[n].hdr, 2);
		f[n].hdr_len = 4;
		f[n].ip_len = 20;
		f[n++].snap = 3;
		check_linktype(DLT_NULL, false, f, n);
	}

	memset(f, 0, sizeof(f));
	n = 0;
	put32be(f[n].hdr, 2);
	f[n].hdr_len = 4;
	f[n++].ip_len = 20;
	put32be(f[n].hdr, 24);
	f[n].hdr_len = 4;
	f[n].v6 = true;
	f[n++].ip_len = 40;
	put32le(f[n].hdr, 2); /* LOOP is network order: this is not IPv4 */
	f[n++].hdr_len = 4;
	check_linktype(DLT_LOOP, false, f, n);
}

static void test_microsecond_file(void)
{
	struct frame f[3];

	memset(f, 0, sizeof(f));
	f[0].hdr_len = eth_hdr(f[0].hdr, NULL, 0, 0x0800);
	f[0].ip_len = 20;
	f[1].ip_len = 0;
	f[1].hdr_len = eth_hdr(f[1].hdr, NULL, 0, 0x0806);
	f[2].hdr_len = eth_hdr(f[2].hdr, NULL, 0, 0x86dd);
	f[2].ip_len = 40;
	f[2].v6 = true;
	check_linktype(DLT_EN10MB, true, f, 3);
}

/* A pcapng file built by hand (libpcap reads pcapng but cannot write it):
 * SHB, IDB for Ethernet with if_tsresol = 9 (nanoseconds), two EPBs (IPv4,
 * ARP). Host byte order, as the byte-order magic says. */
static void test_pcapng(void)
{
	uint8_t file[512];
	uint32_t w;
	size_t off = 0, blk;
	uint64_t ts = 1700000000123456789ull;
	struct zt_pcap_reader *r;
	struct zt_pcap_record rec;
	uint8_t want[40];
	char path[64], err[256];
	FILE *f;

#define W32(v) do { w = (uint32_t)(v); memcpy(file + off, &w, 4); off += 4; } while (0)
#define W16(v) do { uint16_t s_ = (uint16_t)(v); memcpy(file + off, &s_, 2); off += 2; } while (0)
	/* Section header block. */
	W32(0x0a0d0d0a); W32(28); W32(0x1a2b3c4d); W16(1); W16(0);
	W32(0xffffffff); W32(0xffffffff); W32(28);
	/* Interface description block with if_tsresol. */
	blk = off;
	W32(1); W32(0); W16(DLT_EN10MB); W16(0); W32(65535);
	W16(9); W16(1); file[off++] = 9; file[off++] = 0; file[off++] = 0;
	file[off++] = 0;
	W16(0); W16(0);
	W32(0);
	w = (uint32_t)(off - blk);
	memcpy(file + blk + 4, &w, 4);
	memcpy(file + off - 4, &w, 4);
	for (int i = 0; i < 2; i++) {
		size_t flen = i == 0 ? 14 + 40 : 14 + 28;
		uint8_t *fr;

		blk = off;
		W32(6); W32(0); W32(0);
		W32((ts + (uint64_t)i) >> 32); W32((uint32_t)(ts + (uint64_t)i));
		W32(flen); W32(flen);
		fr = file + off;
		eth_hdr(fr, NULL, 0, i == 0 ? 0x0800 : 0x0806);
		if (i == 0)
			make_ip(fr + 14, 40, false, 0);
		else
			memset(fr + 14, 0, 28);
		off += (flen + 3) & ~(size_t)3;
		W32(0);
		w = (uint32_t)(off - blk);
		memcpy(file + blk + 4, &w, 4);
		memcpy(file + off - 4, &w, 4);
	}
#undef W32
#undef W16
	tmp_path(path, sizeof(path));
	f = fopen(path, "wb");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(fwrite(file, 1, off, f), off);
	fclose(f);

	CU_ASSERT_EQUAL_FATAL(zt_pcap_open_read(path, &r, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(zt_pcap_linktype(r), DLT_EN10MB);
	CU_ASSERT_EQUAL_FATAL(zt_pcap_read_next(r, &rec), 1);
	make_ip(want, 40, false, 0);
	CU_ASSERT_EQUAL(rec.ts_ns, ts);
	CU_ASSERT_EQUAL(rec.len, 40);
	CU_ASSERT(memcmp(rec.data, want, 40) == 0);
	CU_ASSERT_EQUAL(zt_pcap_read_next(r, &rec), 0);
	CU_ASSERT_EQUAL(zt_pcap_skipped(r), 1);
	zt_pcap_close_read(r);
	unlink(path);
}

/* --- errors ---------------------------------------------------------------- */

static void test_unsupported_linktype(void)
{
	struct zt_pcap_reader *r = (struct zt_pcap_reader *)&r;
	pcap_dumper_t *d;
	pcap_t *p;
	char path[64], err[256];

	tmp_path(path, sizeof(path));
	p = pcap_open_dead(DLT_IEEE802_11, 65535);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	d = pcap_dump_open(p, path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	pcap_dump_close(d);
	pcap_close(p);

	err[0] = '\0';
	CU_ASSERT_EQUAL(zt_pcap_open_read(path, &r, err, sizeof(err)),
			-EPROTONOSUPPORT);
	CU_ASSERT_PTR_NULL(r);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unsupported link type IEEE802_11 (105)"));
	/* No message buffer at all must be fine too. */
	CU_ASSERT_EQUAL(zt_pcap_open_read(path, &r, NULL, 0), -EPROTONOSUPPORT);
	unlink(path);
}

static void test_open_errors(void)
{
	struct zt_pcap_reader *r;
	struct zt_pcap_writer *w;
	char path[64], err[256];
	static uint8_t big[262145];
	FILE *f;

	err[0] = '\0';
	CU_ASSERT_EQUAL(zt_pcap_open_read("/nonexistent/ztun/none.pcap", &r,
					  err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NULL(r);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/ztun/none.pcap"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, strerror(ENOENT)));

	/* Not a capture at all, and an empty file. */
	tmp_path(path, sizeof(path));
	CU_ASSERT_EQUAL(zt_pcap_open_read(path, &r, err, sizeof(err)), -EIO);
	f = fopen(path, "wb");
	CU_ASSERT_FATAL(f != NULL);
	fputs("this is not a packet capture, just some text\n", f);
	fclose(f);
	err[0] = '\0';
	CU_ASSERT_EQUAL(zt_pcap_open_read(path, &r, err, sizeof(err)), -EIO);
	CU_ASSERT(err[0] != '\0');

	/* Writer: no such directory; a packet over the snap length. */
	CU_ASSERT_EQUAL(zt_pcap_open_write("/nonexistent/ztun/out.pcap", &w,
					   err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NULL(w);
	CU_ASSERT_EQUAL_FATAL(zt_pcap_open_write(path, &w, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(zt_pcap_write(w, 1, big, sizeof(big)), -EINVAL);
	CU_ASSERT_EQUAL(zt_pcap_write(w, 1, big, sizeof(big) - 1), 0);
	/* Past 2106: its own error, for a message that says so. */
	CU_ASSERT_EQUAL(zt_pcap_write(w, 4294967296000000000ull, big, 20), -EOVERFLOW);
	CU_ASSERT_EQUAL(zt_pcap_close_write(w), 0);
	unlink(path);
}

/* A file cut off in the middle of a record: the good records come out, then
 * -EIO with a message, not a silent end of file. */
static void test_truncated_file(void)
{
	struct zt_pcap_reader *r;
	struct zt_pcap_record rec;
	char path[64], err[256];
	long size;
	FILE *f;

	tmp_path(path, sizeof(path));
	write_sample(path);
	f = fopen(path, "rb");
	CU_ASSERT_FATAL(f != NULL);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(truncate(path, size - 100), 0);

	CU_ASSERT_EQUAL_FATAL(zt_pcap_open_read(path, &r, err, sizeof(err)), 0);
	for (int i = 0; i < RT_N - 1; i++)
		CU_ASSERT_EQUAL(zt_pcap_read_next(r, &rec), 1);
	CU_ASSERT_EQUAL(zt_pcap_read_next(r, &rec), -EIO);
	CU_ASSERT(zt_pcap_error(r)[0] != '\0');
	zt_pcap_close_read(r);
	unlink(path);
}

int zt_suite_pcap_io(void)
{
	static const struct zt_test_case cases[] = {
		{ "write_read_roundtrip", test_write_read_roundtrip },
		{ "external_readers", test_external_readers },
		{ "linktype_raw", test_linktype_raw },
		{ "linktype_ipv4_ipv6", test_linktype_ipv4_ipv6 },
		{ "linktype_ethernet_vlan", test_linktype_ethernet },
		{ "linktype_sll", test_linktype_sll },
		{ "linktype_sll2", test_linktype_sll2 },
		{ "linktype_null_loop", test_linktype_null_loop },
		{ "microsecond_file", test_microsecond_file },
		{ "pcapng", test_pcapng },
		{ "unsupported_linktype", test_unsupported_linktype },
		{ "open_errors", test_open_errors },
		{ "truncated_file", test_truncated_file },
		{ 0 }
	};

	return zt_add_suite("pcap_io", NULL, NULL, cases);
}
