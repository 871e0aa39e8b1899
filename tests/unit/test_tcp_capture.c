/* SPDX-License-Identifier: MIT */
/*
 * test_tcp_capture.c - the real Linux TCP, as captured in pcap-fixtures/,
 * talks to our endpoint: every client segment of every captured connection
 * is fed to a passively opened tcb, and must be accepted.
 *
 * We play the captured server. Its bytes are handed to the tcb as upstream
 * data when the capture shows the server sending them, so the client's
 * ACKs (mapped from the server's ISN onto ours, as packetdrill maps ISNs)
 * always acknowledge data we really sent. Snapped frames (iperf capture)
 * are zero-filled to their wire length, on both sides of the comparison.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/pcap_io.h"
#include "test.h"
#include "ztun/packet.h"
#include "ztun/tcp.h"

struct cap_conn {
	struct zt_addr cli, srv;
	uint16_t cport, sport;
	uint32_t their_iss, our_iss;
	bool opened, have_synack, done;
	struct zt_tcb tcb;
	struct zt_tcp_config cfg;
	uint64_t client_bytes;   /* payload the client sent (new bytes) */
	uint32_t cli_next;       /* next new client sequence number */
	uint64_t delivered;      /* bytes our tcb delivered in order */
	bool content_ok;
	uint8_t *expect;         /* client byte stream as captured */
	size_t expect_len, expect_cap;
	unsigned segs, accepted;
};

static void cap_output(void *ctx, struct zt_tcb *tcb, const struct zt_tcp_repr *r,
		       const uint8_t *d1, size_t l1, const uint8_t *d2, size_t l2)
{
	(void)ctx;
	(void)tcb;
	(void)r;
	(void)d1;
	(void)l1;
	(void)d2;
	(void)l2; /* the captured client cannot hear us: nothing to do */
}

static const struct zt_tcp_ops cap_ops = { .output = cap_output };

static bool same_dir(const struct zt_packet *pk, const struct zt_addr *a,
		     uint16_t ap, const struct zt_addr *b, uint16_t bp)
{
	return zt_addr_eq(&pk->src, a) && zt_addr_eq(&pk->dst, b) &&
	       pk->l4.tcp.src_port == ap && pk->l4.tcp.dst_port == bp;
}

static void drain(struct cap_conn *c, uint64_t now)
{
	const uint8_t *p;
	size_t n;

	while ((n = zt_tcb_recv_peek(&c->tcb, 0, &p)) > 0) {
		for (size_t i = 0; i < n; i++) {
			size_t at = c->delivered + i;

			if (at >= c->expect_len || c->expect[at] != p[i])
				c->content_ok = false;
		}
		c->delivered += n;
		zt_tcb_recv_consume(&c->tcb, n, now);
	}
}

/* Replay the connection opened by the first client SYN at or after frame
 * @start in @path. Returns false when there is no further connection. */
static bool replay_one(const char *path, unsigned *skip, unsigned *n_conns,
		       unsigned *n_segs)
{
	struct zt_pcap_reader *rd;
	struct zt_pcap_record rec;
	struct cap_conn c;
	char err[256];
	unsigned syn_seen = 0;
	uint8_t *buf = malloc(65536), *frame = malloc(65536);

	memset(&c, 0, sizeof(c));
	c.content_ok = true;
	CU_ASSERT_FATAL(buf != NULL && frame != NULL);
	CU_ASSERT_FATAL(zt_pcap_open_read(path, &rd, err, sizeof(err)) == 0);
	while (zt_pcap_read_next(rd, &rec) == 1) {
		struct zt_packet pk;
		struct zt_tcp_repr seg;
		size_t dlen;
		uint64_t now = rec.ts_ns;

		/* A snapped frame is zero-filled to its wire length; capture
		 * checksums may be offloaded-partial, so they are not checked. */
		if (rec.orig_len > 65535 || rec.len > rec.orig_len)
			continue;
		memset(frame, 0, rec.orig_len);
		memcpy(frame, rec.data, rec.len);
		if (zt_packet_parse(zt_view_make(frame, rec.orig_len), ZT_PARSE_NO_CSUM,
				    &pk) != ZT_DROP_NONE)
			continue;
		if (pk.proto != ZT_IPPROTO_TCP || pk.is_fragment)
			continue;
		dlen = pk.payload.len;
		memcpy(buf, pk.payload.data, dlen);
		seg = pk.l4.tcp;
		if (!c.opened) {
			if ((seg.flags & (ZT_TCP_SYN | ZT_TCP_ACK)) != ZT_TCP_SYN)
				continue;
			if (syn_seen++ < *skip)
				continue;
			c.cli = pk.src;
			c.srv = pk.dst;
			c.cport = seg.src_port;
			c.sport = seg.dst_port;
			zt_tcp_config_default(&c.cfg);
			c.cfg.rx_buf = c.cfg.tx_buf = 4 << 20;
			CU_ASSERT_FATAL(zt_tcb_init(&c.tcb, &c.cfg, &cap_ops, &c) == 0);
			c.our_iss = 0x80000000u ^ seg.seq;
			CU_ASSERT_EQUAL(zt_tcb_open_passive(&c.tcb, &seg, c.our_iss, now),
					ZT_DROP_NONE);
			c.cli_next = seg.seq + 1;
			c.opened = true;
			c.segs++;
			c.accepted++;
			continue;
		}
		if (same_dir(&pk, &c.srv, c.sport, &c.cli, c.cport)) {
			/* The captured server speaks: it is our upstream. */
			if ((seg.flags & ZT_TCP_SYN) && !c.have_synack) {
				c.their_iss = seg.seq;
				c.have_synack = true;
				zt_tcb_accept(&c.tcb, now);
				/* Acceptance, not congestion control, is under
				 * test: never hold back what the server sent. */
				c.tcb.cwnd = c.tcb.ssthresh = 1u << 30;
			}
			if (dlen)
				CU_ASSERT_EQUAL(zt_tcb_send(&c.tcb, buf, dlen, now), dlen);
			if (seg.flags & ZT_TCP_FIN)
				zt_tcb_shutdown(&c.tcb, now);
			continue;
		}
		if (!same_dir(&pk, &c.cli, c.cport, &c.srv, c.sport) || !c.have_synack)
			continue;
		/* A client segment: map its ACK and SACK onto our ISN. */
		seg.ack = seg.ack - c.their_iss + c.our_iss;
		for (unsigned i = 0; i < seg.sack_count; i++) {
			seg.sack[i].left = seg.sack[i].left - c.their_iss + c.our_iss;
			seg.sack[i].right = seg.sack[i].right - c.their_iss + c.our_iss;
		}
		seg.ts_ecr = 0; /* echoes the old server's clock, not ours */
		if (dlen && zt_seq_ge(seg.seq + (uint32_t)dlen, c.cli_next)) {
			uint32_t skipb = zt_seq_lt(seg.seq, c.cli_next) ? c.cli_next - seg.seq : 0;
			size_t add = dlen - skipb;

			if (c.expect_len + add > c.expect_cap) {
				c.expect_cap = (c.expect_len + add) * 2;
				c.expect = realloc(c.expect, c.expect_cap);
				CU_ASSERT_FATAL(c.expect != NULL);
			}
			memcpy(c.expect + c.expect_len, buf + skipb, add);
			c.expect_len += add;
			c.client_bytes += add;
			c.cli_next = seg.seq + (uint32_t)dlen;
		}
		c.segs++;
		if (c.tcb.state == ZT_TCP_CLOSED) {
			/* Only the last ACK of our FIN can come after CLOSED. */
			CU_ASSERT_EQUAL(dlen, 0);
			continue;
		}
		{
			enum zt_drop why = zt_tcb_input(&c.tcb, &seg,
							 zt_view_make(buf, dlen), now);

			if (why == ZT_DROP_NONE)
				c.accepted++;
			else
				fprintf(stderr, "\n  %s frame %u: segment not accepted: %s "
					"(state %s, seq %u ack %u, rcv_nxt %u snd_una %u snd_max %u)\n",
					path, rec.frame_no, zt_drop_name(why),
					zt_tcp_state_name(c.tcb.state), seg.seq, seg.ack,
					c.tcb.rcv_nxt, c.tcb.snd_una, c.tcb.snd_max);
		}
		drain(&c, now);
	}
	zt_pcap_close_read(rd);
	free(buf);
	free(frame);
	if (!c.opened) {
		free(c.expect);
		return false;
	}
	CU_ASSERT_EQUAL(c.accepted, c.segs);
	CU_ASSERT_EQUAL(c.delivered, c.client_bytes);
	CU_ASSERT(c.content_ok);
	(*n_conns)++;
	*n_segs += c.segs;
	zt_tcb_destroy(&c.tcb);
	free(c.expect);
	(*skip)++;
	return true;
}

static void test_linux_client_segments_accepted(void)
{
	char dir[1024], path[2048];
	DIR *d;
	struct dirent *e;
	unsigned conns = 0, segs = 0;

	snprintf(dir, sizeof(dir), "%s/pcap-fixtures", zt_test_srcdir());
	d = opendir(dir);
	CU_ASSERT_FATAL(d != NULL);
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		unsigned skip = 0;

		if (n < 5 || strcmp(e->d_name + n - 5, ".pcap") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		while (replay_one(path, &skip, &conns, &segs))
			;
	}
	closedir(d);
	/* The fixtures hold HTTP over v4 and v6, DNS over TCP and iperf3:
	 * make sure this test cannot pass on nothing. */
	CU_ASSERT(conns >= 4);
	CU_ASSERT(segs >= 100);
}

int zt_suite_tcp_capture(void)
{
	static const struct zt_test_case cases[] = {
		{ "linux_client_segments_accepted", test_linux_client_segments_accepted },
		{ 0 }
	};

	return zt_add_suite("tcp_capture", NULL, NULL, cases);
}
