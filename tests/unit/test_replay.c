/* SPDX-License-Identifier: MIT */
/*
 * test_replay.c - the capture replay (sim/engine/replay.c) over every
 * capture in pcap-fixtures/.
 *
 * Theory of operation:
 *
 * Each fixture is replayed through a fresh stack; every TCP connection
 * whose SYN is in the capture must end as the original did (closed, or
 * reset when the capture shows a RST) with the stack delivering exactly
 * the client's captured payload to the emulated upstream and taking
 * exactly the server's; every UDP flow the capture answers gets its
 * replies. Output captures of two runs with one seed must be identical
 * byte for byte. A copy of a fixture without its first SYN and SYN-ACK
 * (written to a temporary directory, removed afterwards) must replay too,
 * with that connection reported as mid-flow and answered with RSTs.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/replay.h"
#include "io/pcap_io.h"
#include "test.h"
#include "ztun/packet.h"

/* Owned by the suite: a temporary directory made in init, removed in cleanup. */
static char tmpdir[256];

static int replay_init(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/zt-replay-XXXXXX",
		 base && *base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int replay_clean(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[512];

	if (d) {
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(tmpdir);
	return 0;
}

/* Call @fn for every pcap-fixtures/ *.pcap, in name order; returns how many. */
static unsigned for_each_fixture(void (*fn)(const char *path, void *arg),
				 void *arg)
{
	char dir[1024], path[2048];
	struct dirent **names;
	int n;
	unsigned count = 0;

	snprintf(dir, sizeof(dir), "%s/pcap-fixtures", zt_test_srcdir());
	n = scandir(dir, &names, NULL, alphasort);
	CU_ASSERT_FATAL(n >= 0);
	for (int i = 0; i < n; i++) {
		size_t len = strlen(names[i]->d_name);

		if (len >= 5 && strcmp(names[i]->d_name + len - 5, ".pcap") == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			fn(path, arg);
			count++;
		}
		free(names[i]);
	}
	free(names);
	return count;
}

struct totals {
	unsigned tcp_closed, tcp_reset, udp_answered;
	uint64_t echo_replies;
};

static void check_fixture(const char *path, void *arg)
{
	struct totals *t = arg;
	struct zt_replay_opts o;
	struct zt_replay_result r;
	int rc;

	zt_replay_opts_default(&o);
	o.input = path;
	rc = zt_replay_run(&o, &r);
	if (rc != 0)
		fprintf(stderr, "\n  %s: %s\n", path, r.err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT(r.fed > 0);
	CU_ASSERT_EQUAL(r.frames_read,
			r.frames_skipped + r.fed + r.scripted + r.ignored);
	for (size_t i = 0; i < r.n_flows; i++) {
		const struct zt_replay_flow *f = &r.flows[i];

		CU_ASSERT_STRING_EQUAL(f->decision, "accept");
		if (f->proto == ZT_IPPROTO_TCP) {
			CU_ASSERT(f->syn_seen); /* the fixtures hold whole connections */
			CU_ASSERT_EQUAL(f->end, f->cap_rst ? ZT_REPLAY_RESET :
							      ZT_REPLAY_CLOSED);
			CU_ASSERT_EQUAL(f->bytes_up, f->cap_up);
			CU_ASSERT_EQUAL(f->bytes_down, f->cap_down);
			if (f->bytes_up != f->cap_up || f->bytes_down != f->cap_down ||
			    f->end != (f->cap_rst ? ZT_REPLAY_RESET : ZT_REPLAY_CLOSED))
				fprintf(stderr, "\n  %s flow %zu: up %llu/%llu down %llu/%llu end %s\n",
					path, i, (unsigned long long)f->bytes_up,
					(unsigned long long)f->cap_up,
					(unsigned long long)f->bytes_down,
					(unsigned long long)f->cap_down,
					zt_replay_end_name(f->end));
			if (f->end == ZT_REPLAY_CLOSED)
				t->tcp_closed++;
			else
				t->tcp_reset++;
		} else {
			CU_ASSERT_EQUAL(f->proto, ZT_IPPROTO_UDP);
			CU_ASSERT_EQUAL(f->dgrams_up, f->cap_dgrams_up);
			CU_ASSERT_EQUAL(f->bytes_up, f->cap_up);
			CU_ASSERT_EQUAL(f->dgrams_down, f->cap_dgrams_down);
			CU_ASSERT_EQUAL(f->bytes_down, f->cap_down);
			if (f->cap_dgrams_down && f->dgrams_down == f->cap_dgrams_down)
				t->udp_answered++;
		}
	}
	t->echo_replies += r.stats.icmp_echo_replies;
	zt_replay_result_free(&r);
}

static void test_fixtures_replay(void)
{
	struct totals t;

	memset(&t, 0, sizeof(t));
	CU_ASSERT(for_each_fixture(check_fixture, &t) >= 4);
	/* DNS over TCP (v4, v6), HTTP (v4, v6), iperf3 (control + data);
	 * DNS over UDP (v4, v6); ping and ping -6, 3 each. This test must
	 * not pass on nothing. */
	CU_ASSERT(t.tcp_closed >= 6);
	CU_ASSERT(t.udp_answered >= 2);
	CU_ASSERT(t.echo_replies >= 6);
}

static void run_to(const char *in, const char *out, uint64_t seed)
{
	struct zt_replay_opts o;
	struct zt_replay_result r;

	zt_replay_opts_default(&o);
	o.input = in;
	o.output = out;
	o.seed = seed;
	CU_ASSERT_EQUAL_FATAL(zt_replay_run(&o, &r), 0);
	zt_replay_result_free(&r);
}

static void check_deterministic(const char *path, void *arg)
{
	char a[512], b[512];
	uint8_t *pa, *pb;
	size_t la = 0, lb = 0;

	(void)arg;
	snprintf(a, sizeof(a), "%s/a.pcap", tmpdir);
	snprintf(b, sizeof(b), "%s/b.pcap", tmpdir);
	run_to(path, a, 7);
	run_to(path, b, 7);
	pa = zt_test_slurp(a, &la);
	pb = zt_test_slurp(b, &lb);
	CU_ASSERT_FATAL(pa != NULL && pb != NULL);
	CU_ASSERT(la > 24); /* more than the file header */
	CU_ASSERT(la == lb && memcmp(pa, pb, la) == 0);
	free(pa);
	free(pb);
	unlink(a);
	unlink(b);
}

static void test_same_seed_same_output(void)
{
	char path[2048], a[512], b[512];
	uint8_t *pa, *pb;
	size_t la = 0, lb = 0;

	CU_ASSERT(for_each_fixture(check_deterministic, NULL) >= 4);
	/* ... and the seed matters: the ISNs differ. */
	snprintf(path, sizeof(path), "%s/pcap-fixtures/http-eth.pcap",
		 zt_test_srcdir());
	snprintf(a, sizeof(a), "%s/s1.pcap", tmpdir);
	snprintf(b, sizeof(b), "%s/s2.pcap", tmpdir);
	run_to(path, a, 1);
	run_to(path, b, 2);
	pa = zt_test_slurp(a, &la);
	pb = zt_test_slurp(b, &lb);
	CU_ASSERT_FATAL(pa != NULL && pb != NULL);
	CU_ASSERT(la != lb || memcmp(pa, pb, la) != 0);
	free(pa);
	free(pb);
	unlink(a);
	unlink(b);
}

/* Copy @in to @out (LINKTYPE_RAW) without the first TCP SYN and the first
 * SYN-ACK. Returns the number of packets dropped. */
static unsigned write_midflow(const char *in, const char *out)
{
	struct zt_pcap_reader *rd;
	struct zt_pcap_writer *w;
	struct zt_pcap_record rec;
	char err[256];
	bool syn_gone = false, synack_gone = false;
	unsigned dropped = 0;

	CU_ASSERT_FATAL(zt_pcap_open_read(in, &rd, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(zt_pcap_open_write(out, &w, err, sizeof(err)) == 0);
	while (zt_pcap_read_next(rd, &rec) == 1) {
		struct zt_packet pk;

		if (zt_packet_parse(zt_view_make(rec.data, rec.len), ZT_PARSE_NO_CSUM,
				    &pk) == ZT_DROP_NONE &&
		    pk.proto == ZT_IPPROTO_TCP && !pk.is_fragment) {
			uint8_t fl = pk.l4.tcp.flags & (ZT_TCP_SYN | ZT_TCP_ACK);

			if (fl == ZT_TCP_SYN && !syn_gone) {
				syn_gone = true;
				dropped++;
				continue;
			}
			if (fl == (ZT_TCP_SYN | ZT_TCP_ACK) && !synack_gone) {
				synack_gone = true;
				dropped++;
				continue;
			}
		}
		CU_ASSERT(zt_pcap_write(w, rec.ts_ns, rec.data, rec.len) == 0);
	}
	zt_pcap_close_read(rd);
	CU_ASSERT(zt_pcap_close_write(w) == 0);
	return dropped;
}

static void test_midflow(void)
{
	char in[2048], mid[512];
	struct zt_replay_opts o;
	struct zt_replay_result r;
	unsigned midflow = 0, closed = 0;

	snprintf(in, sizeof(in), "%s/pcap-fixtures/http-eth.pcap", zt_test_srcdir());
	snprintf(mid, sizeof(mid), "%s/midflow.pcap", tmpdir);
	CU_ASSERT_EQUAL_FATAL(write_midflow(in, mid), 2);
	zt_replay_opts_default(&o);
	o.input = mid;
	CU_ASSERT_EQUAL_FATAL(zt_replay_run(&o, &r), 0);
	for (size_t i = 0; i < r.n_flows; i++) {
		const struct zt_replay_flow *f = &r.flows[i];

		if (f->end == ZT_REPLAY_MIDFLOW) {
			midflow++;
			CU_ASSERT(!f->syn_seen);
			CU_ASSERT_EQUAL(f->bytes_up, 0);
			CU_ASSERT_EQUAL(f->bytes_down, 0);
			CU_ASSERT(f->cap_up > 0); /* the request is still counted */
			/* The client is the side behind the TUN (curl's port). */
			CU_ASSERT_EQUAL(f->server_port, 8080);
		} else if (f->end == ZT_REPLAY_CLOSED) {
			closed++;
		}
	}
	CU_ASSERT_EQUAL(midflow, 1);
	CU_ASSERT_EQUAL(closed, 1); /* the IPv6 connection is whole */
	/* The stack answered the orphan segments with RSTs. */
	CU_ASSERT(r.stats.drops[ZT_DROP_TCP_NO_FLOW] > 0);
	CU_ASSERT(r.stats.tcp_rst_sent > 0);
	zt_replay_result_free(&r);
	unlink(mid);
}

static void test_errors(void)
{
	struct zt_replay_opts o;
	struct zt_replay_result r;
	char missing[512];

	snprintf(missing, sizeof(missing), "%s/no-such.pcap", tmpdir);
	zt_replay_opts_default(&o);
	o.input = missing;
	CU_ASSERT(zt_replay_run(&o, &r) < 0);
	CU_ASSERT(strstr(r.err, missing) != NULL);
	CU_ASSERT_PTR_NULL(r.flows);
	zt_replay_result_free(&r);

	zt_replay_opts_default(&o);
	o.input = missing;
	o.mtu = 1000;
	CU_ASSERT_EQUAL(zt_replay_run(&o, &r), -EINVAL);
	zt_replay_result_free(&r);
}

/* Replay @in with @out as output: refused with -EINVAL, @in untouched. */
static void check_refused_output(const char *in, const char *out,
				 const uint8_t *want, size_t want_len)
{
	struct zt_replay_opts o;
	struct zt_replay_result r;
	uint8_t *got;
	size_t len = 0;

	zt_replay_opts_default(&o);
	o.input = in;
	o.output = out;
	CU_ASSERT_EQUAL(zt_replay_run(&o, &r), -EINVAL);
	CU_ASSERT(strstr(r.err, "is the input capture") != NULL);
	CU_ASSERT_PTR_NULL(r.flows);
	zt_replay_result_free(&r);
	got = zt_test_slurp(in, &len);
	CU_ASSERT_FATAL(got != NULL);
	CU_ASSERT(len == want_len && memcmp(got, want, len) == 0);
	free(got);
}

/* An output that is the input (by name, or through a hard link) would be
 * truncated before the first record is read: refused, input intact. */
static void test_output_is_input(void)
{
	char fx[2048], same[512], hard[512];
	uint8_t *want;
	size_t len = 0;
	FILE *fp;

	snprintf(fx, sizeof(fx), "%s/pcap-fixtures/http-eth.pcap",
		 zt_test_srcdir());
	snprintf(same, sizeof(same), "%s/same.pcap", tmpdir);
	snprintf(hard, sizeof(hard), "%s/hard.pcap", tmpdir);
	want = zt_test_slurp(fx, &len);
	CU_ASSERT_FATAL(want != NULL && len > 24);
	fp = fopen(same, "wb");
	CU_ASSERT_FATAL(fp != NULL);
	CU_ASSERT(fwrite(want, 1, len, fp) == len);
	CU_ASSERT(fclose(fp) == 0);
	check_refused_output(same, same, want, len);
	CU_ASSERT_FATAL(link(same, hard) == 0);
	check_refused_output(same, hard, want, len);
	unlink(hard);
	unlink(same);
	free(want);
}

/* Append to @w at @ts_ns an IPv4 TCP segment @src:@sp -> @dst:@dp. */
static void put_tcp(struct zt_pcap_writer *w, uint64_t ts_ns,
		    const struct zt_addr *src, uint16_t sp,
		    const struct zt_addr *dst, uint16_t dp, uint32_t seq,
		    uint32_t ack, uint8_t flags, const char *data)
{
	struct zt_ip_hdr_params ip = { 64, 0, true, 1 };
	struct zt_tcp_repr t;
	uint8_t buf[256];
	size_t dlen = strlen(data);
	int l4, hl;

	memset(&t, 0, sizeof(t));
	t.src_port = sp;
	t.dst_port = dp;
	t.seq = seq;
	t.ack = ack;
	t.flags = flags;
	t.window = 65535;
	l4 = zt_tcp_emit(&t, src, dst, (const uint8_t *)data, dlen, buf + 20,
			 sizeof(buf) - 20);
	CU_ASSERT_FATAL(l4 > 0);
	hl = zt_ip_header_emit(src, dst, ZT_IPPROTO_TCP, (size_t)l4, &ip, buf, 20);
	CU_ASSERT_FATAL(hl == 20);
	CU_ASSERT(zt_pcap_write(w, ts_ns, buf, 20 + (size_t)l4) == 0);
}

/* Whether @path holds a TCP segment from @sp whose payload starts with
 * @data. */
static bool has_segment(const char *path, uint16_t sp, const char *data)
{
	struct zt_pcap_reader *rd;
	struct zt_pcap_record rec;
	char err[256];
	bool found = false;

	CU_ASSERT_FATAL(zt_pcap_open_read(path, &rd, err, sizeof(err)) == 0);
	while (!found && zt_pcap_read_next(rd, &rec) == 1) {
		struct zt_packet pk;

		found = zt_packet_parse(zt_view_make(rec.data, rec.len), 0, &pk) ==
				ZT_DROP_NONE &&
			pk.proto == ZT_IPPROTO_TCP && pk.l4.tcp.src_port == sp &&
			pk.payload.len >= strlen(data) &&
			memcmp(pk.payload.data, data, strlen(data)) == 0;
	}
	zt_pcap_close_read(rd);
	return found;
}

/* The addresses of the hand-made captures below. */
static struct zt_addr cli_addr, srv_addr;

/* Start a hand-made capture: @in and @out become tmpdir/@name.pcap and
 * tmpdir/@name-out.pcap, options replay the one into the other. Returns
 * the writer of @in (close it before running). */
static struct zt_pcap_writer *hand_capture(const char *name, char *in,
					   char *out, size_t len,
					   struct zt_replay_opts *o)
{
	struct zt_pcap_writer *w;
	char err[256];

	snprintf(in, len, "%s/%s.pcap", tmpdir, name);
	snprintf(out, len, "%s/%s-out.pcap", tmpdir, name);
	CU_ASSERT_FATAL(zt_addr_parse("10.0.0.2", &cli_addr) == 0);
	CU_ASSERT_FATAL(zt_addr_parse("93.184.216.34", &srv_addr) == 0);
	CU_ASSERT_FATAL(zt_pcap_open_write(in, &w, err, sizeof(err)) == 0);
	zt_replay_opts_default(o);
	o->input = in;
	o->output = out;
	return w;
}

/* Data on a SYN or SYN-ACK (TCP Fast Open) starts at its seq + 1: the SYN
 * takes the first sequence number. Counted whole, handed on whole. */
static void test_syn_data(void)
{
	char in[512], out[512];
	const struct zt_addr *c = &cli_addr, *s = &srv_addr;
	struct zt_replay_opts o;
	struct zt_replay_result r;
	struct zt_pcap_writer *w = hand_capture("tfo", in, out, sizeof(in), &o);

	put_tcp(w, 1000000000u, c, 40000, s, 80, 1000, 0, ZT_TCP_SYN, "xyz");
	put_tcp(w, 1010000000u, s, 80, c, 40000, 5000, 1004,
		ZT_TCP_SYN | ZT_TCP_ACK, "ABCDEF");
	/* The client takes none of it (as the stack, which does no Fast
	 * Open, will not either); its ACK establishes the connection. */
	put_tcp(w, 1020000000u, c, 40000, s, 80, 1004, 5001, ZT_TCP_ACK, "uv");
	put_tcp(w, 1030000000u, s, 80, c, 40000, 5007, 1006, ZT_TCP_ACK, "GH");
	CU_ASSERT_FATAL(zt_pcap_close_write(w) == 0);
	CU_ASSERT_EQUAL_FATAL(zt_replay_run(&o, &r), 0);
	CU_ASSERT_EQUAL_FATAL(r.n_flows, 1);
	CU_ASSERT_EQUAL(r.flows[0].cap_up, 5);   /* "xyz" + "uv" */
	CU_ASSERT_EQUAL(r.flows[0].cap_down, 8); /* "ABCDEF" + "GH" */
	CU_ASSERT_EQUAL(r.flows[0].bytes_down, 8);
	/* The stack sent the server's bytes from the first, not from 'B'. */
	CU_ASSERT(has_segment(out, 80, "ABCDEF"));
	zt_replay_result_free(&r);
	unlink(in);
	unlink(out);
}

/* A SYN in the last second pcap can hold: the stack's SYN-ACK
 * retransmissions fall past 2106, which the output cannot hold. The
 * replay fails saying so, not with "Invalid argument". */
static void test_output_past_2106(void)
{
	char in[512], out[512];
	struct zt_replay_opts o;
	struct zt_replay_result r;
	struct zt_pcap_writer *w = hand_capture("y2106", in, out, sizeof(in), &o);

	put_tcp(w, 4294967295999000000ull, &cli_addr, 40000, &srv_addr, 80,
		1000, 0, ZT_TCP_SYN, "");
	CU_ASSERT_FATAL(zt_pcap_close_write(w) == 0);
	CU_ASSERT_EQUAL(zt_replay_run(&o, &r), -EOVERFLOW);
	CU_ASSERT(strstr(r.err, out) != NULL);
	CU_ASSERT(strstr(r.err, "past 2106") != NULL);
	if (!strstr(r.err, "past 2106"))
		fprintf(stderr, "\n  got '%s'\n", r.err);
	zt_replay_result_free(&r);
	unlink(in);
	unlink(out);
}

/* Append a classic pcap record of @caplen bytes of @data claiming @wirelen. */
static void put_record(FILE *fp, const uint8_t *data, uint32_t caplen,
		       uint32_t wirelen)
{
	uint32_t h[4] = { 1, 0, caplen, wirelen };

	CU_ASSERT(fwrite(h, sizeof(h), 1, fp) == 1);
	CU_ASSERT(fwrite(data, 1, caplen, fp) == caplen);
}

/* Ethernet capture: an ARP frame, an IPv4 UDP datagram and an IPv4 frame
 * claiming more than 65535 bytes. Every frame is read; the ARP frame and
 * the oversized one are skipped, each counted once. */
static void test_totals(void)
{
	static const uint32_t ghdr[6] = { 0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1 };
	uint8_t arp[60] = { 0 }, ip[14 + 28] = { 0 };
	struct zt_addr c, s;
	struct zt_ip_hdr_params iph = { 64, 0, false, 1 };
	struct zt_udp_repr u = { 40000, 53 };
	struct zt_replay_opts o;
	struct zt_replay_result r;
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/totals.pcap", tmpdir);
	CU_ASSERT_FATAL(zt_addr_parse("10.0.0.2", &c) == 0);
	CU_ASSERT_FATAL(zt_addr_parse("192.0.2.53", &s) == 0);
	arp[12] = 0x08, arp[13] = 0x06;
	ip[12] = 0x08, ip[13] = 0x00;
	CU_ASSERT_FATAL(zt_udp_emit(&u, &c, &s, NULL, 0, ip + 34, 8) == 8);
	CU_ASSERT_FATAL(zt_ip_header_emit(&c, &s, ZT_IPPROTO_UDP, 8, &iph,
					  ip + 14, 20) == 20);
	fp = fopen(path, "wb");
	CU_ASSERT_FATAL(fp != NULL);
	CU_ASSERT(fwrite(ghdr, sizeof(ghdr), 1, fp) == 1);
	put_record(fp, arp, sizeof(arp), sizeof(arp));
	put_record(fp, ip, sizeof(ip), sizeof(ip));
	put_record(fp, ip, sizeof(ip), 70000);
	CU_ASSERT_FATAL(fclose(fp) == 0);
	zt_replay_opts_default(&o);
	o.input = path;
	CU_ASSERT_EQUAL_FATAL(zt_replay_run(&o, &r), 0);
	CU_ASSERT_EQUAL(r.frames_read, 3);
	CU_ASSERT_EQUAL(r.frames_skipped, 2);
	CU_ASSERT_EQUAL(r.fed, 1);
	CU_ASSERT_EQUAL(r.frames_read,
			r.frames_skipped + r.fed + r.scripted + r.ignored);
	zt_replay_result_free(&r);
	unlink(path);
}

int zt_suite_replay(void)
{
	static const struct zt_test_case cases[] = {
		{ "fixtures_replay", test_fixtures_replay },
		{ "same_seed_same_output", test_same_seed_same_output },
		{ "midflow", test_midflow },
		{ "errors", test_errors },
		{ "output_is_input", test_output_is_input },
		{ "syn_data", test_syn_data },
		{ "output_past_2106", test_output_past_2106 },
		{ "totals", test_totals },
		{ 0 }
	};

	return zt_add_suite("replay", replay_init, replay_clean, cases);
}
