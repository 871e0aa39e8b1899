// SPDX-License-Identifier: MIT
/*
 * pcap2records.c - turn a packet capture into a record file for
 * zt_replay_records() (sim/engine/fuzzrec.h): the seed corpus of the
 * records fuzz target.
 *
 *   pcap2records [-m direct|socks5|http] [-s SEED] [-n MAXPKTS] IN OUT
 *
 * Theory of operation:
 *
 * The capture is split as ztun-sim replay splits it (sim/engine/replay.c):
 * the sender of a TCP SYN, of a UDP flow's first datagram, of an ICMP echo
 * request is the client behind the TUN, its packets become TUN records;
 * the far side becomes the scripted upstream's events. Each TCP flow is
 * the next stream the core will open, each UDP flow the next datagram
 * socket (in socks5 mode a UDP flow opens a control stream first), so the
 * indices are counted in capture order. The server's SYN-ACK becomes
 * S_CONNECTED (in socks5/http mode followed by the proxy's handshake
 * replies), its new payload S_DATA, its FIN S_EOF, its RST S_FAILED;
 * server datagrams become DGRAM records (SOCKS5-wrapped in socks5 mode).
 *
 * The core picks its own ISNs, so the client's ACKs from the capture would
 * acknowledge the wrong sequence space. After each S_CONNECTED the records
 * written so far are replayed (the run is deterministic for a given seed)
 * and the SYN-ACK the core sends is read from the tap; the client's later
 * ACK and SACK numbers are shifted by the difference, its timestamp echo
 * zeroed, and every TUN packet gets correct checksums. Snapped frames are
 * zero-filled to their wire length. The file ends with a 5 s ADVANCE so
 * closes complete. Finally the whole file is replayed once and checked:
 * the core opened as many streams and sockets as counted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/fuzzrec.h"
#include "io/pcap_io.h"
#include "ztun/packet.h"

#define PKT_MAX 65536

struct row {
	uint8_t proto;
	struct zt_addr client, server;
	uint16_t cport, sport;
	uint32_t idx;            /* stream (TCP) or datagram socket (UDP) */
	bool connected, ended, midflow;
	bool have_their, have_ours;
	uint32_t their_iss, our_iss;
	bool srv_set;
	uint32_t srv_next;
};

struct conv {
	const char *mode;
	uint8_t *out;            /* owned: the record file */
	size_t len, cap;
	struct row *rows;        /* owned */
	size_t n_rows, cap_rows;
	uint32_t streams, dgrams;
	uint64_t last_ts;
	bool started;
	uint8_t pkt[PKT_MAX + 128];
	uint8_t frame[PKT_MAX];
	/* ISN probe */
	const struct row *probe;
	bool probe_hit;
	uint32_t probe_seq;
};

static void die(const char *msg)
{
	fprintf(stderr, "pcap2records: %s\n", msg);
	exit(1);
}

/* Room for @n more bytes of output. */
static void grow(struct conv *c, size_t n)
{
	if (c->len + n > c->cap) {
		size_t cap = (c->len + n) * 2;

		c->out = realloc(c->out, cap);
		if (!c->out)
			die("out of memory");
		c->cap = cap;
	}
}

static void put(struct conv *c, uint8_t kind, uint32_t delta_us,
		const void *body, size_t len)
{
	if (len > 65535)
		len = 65535;
	grow(c, ZT_REC_HDR_LEN + len);
	c->len += (size_t)zt_rec_put(c->out + c->len, c->cap - c->len, kind,
				     delta_us, body, (uint16_t)len);
}

/* A record about stream or socket @idx: body = the index byte, then @data. */
static void put_idx(struct conv *c, uint8_t kind, uint32_t delta_us,
		    uint32_t idx, const void *data, size_t len)
{
	uint8_t *b = malloc(len + 1);

	if (!b)
		die("out of memory");
	b[0] = (uint8_t)idx; /* indices past 255 wrap: fine for a seed */
	if (len)
		memcpy(b + 1, data, len);
	put(c, kind, delta_us, b, len + 1);
	free(b);
}

static struct row *find_row(struct conv *c, uint8_t proto,
			    const struct zt_addr *src, uint16_t sp,
			    const struct zt_addr *dst, uint16_t dp, bool *from_client)
{
	for (size_t i = c->n_rows; i-- > 0;) {
		struct row *r = &c->rows[i];

		if (r->proto != proto)
			continue;
		if (zt_addr_eq(&r->client, src) && r->cport == sp &&
		    zt_addr_eq(&r->server, dst) && r->sport == dp) {
			*from_client = true;
			return r;
		}
		if (zt_addr_eq(&r->server, src) && r->sport == sp &&
		    zt_addr_eq(&r->client, dst) && r->cport == dp) {
			*from_client = false;
			return r;
		}
	}
	return NULL;
}

static struct row *new_row(struct conv *c, uint8_t proto,
			   const struct zt_addr *cli, uint16_t cp,
			   const struct zt_addr *srv, uint16_t sp)
{
	struct row *r;

	if (c->n_rows == c->cap_rows) {
		c->cap_rows = c->cap_rows ? 2 * c->cap_rows : 16;
		c->rows = realloc(c->rows, c->cap_rows * sizeof(*c->rows));
		if (!c->rows)
			die("out of memory");
	}
	r = &c->rows[c->n_rows++];
	memset(r, 0, sizeof(*r));
	r->proto = proto;
	r->client = *cli;
	r->server = *srv;
	r->cport = cp;
	r->sport = sp;
	return r;
}

static void probe_tap(void *user, const uint8_t *pkt, size_t len)
{
	struct conv *c = user;
	const struct row *r = c->probe;
	struct zt_packet pk;

	if (zt_packet_parse(zt_view_make(pkt, len), ZT_PARSE_NO_CSUM, &pk) !=
		    ZT_DROP_NONE ||
	    pk.is_fragment || pk.proto != ZT_IPPROTO_TCP)
		return;
	if ((pk.l4.tcp.flags & (ZT_TCP_SYN | ZT_TCP_ACK)) != (ZT_TCP_SYN | ZT_TCP_ACK))
		return;
	if (zt_addr_eq(&pk.src, &r->server) && zt_addr_eq(&pk.dst, &r->client) &&
	    pk.l4.tcp.src_port == r->sport && pk.l4.tcp.dst_port == r->cport) {
		c->probe_hit = true;
		c->probe_seq = pk.l4.tcp.seq;
	}
}

/* Replay what was written so far and learn the core's ISN for @r. */
static void learn_isn(struct conv *c, struct row *r)
{
	struct zt_replay_limits lim;

	zt_replay_limits_default(&lim);
	lim.fix_checksums = true;
	lim.tap = probe_tap;
	lim.tap_user = c;
	c->probe = r;
	c->probe_hit = false;
	if (zt_replay_records(c->out, c->len, &lim, NULL) < 0)
		die("replay of the prefix failed");
	if (c->probe_hit) {
		r->our_iss = c->probe_seq;
		r->have_ours = true;
	}
}

/* The proxy's replies after a TCP connect through it. */
static void proxy_replies(struct conv *c, uint32_t idx, bool udp)
{
	static const uint8_t method[] = { 5, 0 };
	static const uint8_t ok[] = { 5, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
	static const uint8_t relay[] = { 5, 0, 0, 1, 198, 18, 0, 1, 0x04, 0x39 };
	static const char http[] = "HTTP/1.1 200 Connection established\r\n\r\n";

	if (!strcmp(c->mode, "socks5")) {
		put_idx(c, ZT_REC_S_DATA, 200, idx, method, sizeof(method));
		put_idx(c, ZT_REC_S_DATA, 200, idx, udp ? relay : ok,
			udp ? sizeof(relay) : sizeof(ok));
	} else if (!strcmp(c->mode, "http")) {
		put_idx(c, ZT_REC_S_DATA, 200, idx, http, sizeof(http) - 1);
	}
}

static size_t ip_hdr_len(const struct zt_packet *pk)
{
	return pk->family == ZT_AF_INET ? zt_ip4_header_len(&pk->ip.ip4) :
					  ZT_IP6_HDR;
}

/* Re-emit a client TCP segment with its ACK mapped; returns its length. */
static size_t client_tcp(struct conv *c, const struct row *r,
			 const struct zt_packet *pk)
{
	struct zt_tcp_repr seg = pk->l4.tcp;
	size_t hl = ip_hdr_len(pk);
	int n;

	if ((seg.flags & ZT_TCP_ACK) && r->have_their && r->have_ours) {
		uint32_t delta = r->our_iss - r->their_iss;

		seg.ack += delta;
		for (unsigned i = 0; i < seg.sack_count; i++) {
			seg.sack[i].left += delta;
			seg.sack[i].right += delta;
		}
	}
	seg.ts_ecr = 0;
	n = zt_tcp_emit(&seg, &pk->src, &pk->dst, pk->payload.data,
			pk->payload.len, c->pkt + hl, sizeof(c->pkt) - hl);
	if (n < 0)
		return 0;
	if (pk->family == ZT_AF_INET) {
		struct zt_ip4_repr ip = pk->ip.ip4;

		ip.more_frags = false;
		ip.frag_offset = 0;
		if (zt_ip4_emit(&ip, (size_t)n, c->pkt, sizeof(c->pkt)) < 0)
			return 0;
	} else {
		struct zt_ip6_repr ip = pk->ip.ip6;

		ip.has_frag = false;
		if (zt_ip6_emit(&ip, (size_t)n, c->pkt, sizeof(c->pkt)) < 0)
			return 0;
	}
	return hl + (size_t)n;
}

static void server_tcp(struct conv *c, struct row *r, const struct zt_packet *pk,
		       uint32_t dt)
{
	const struct zt_tcp_repr *seg = &pk->l4.tcp;
	const uint8_t *p = pk->payload.data;
	size_t n = pk->payload.len;

	if (r->midflow || r->ended)
		return;
	if ((seg->flags & ZT_TCP_SYN) && !r->have_their) {
		r->their_iss = seg->seq;
		r->have_their = true;
		r->srv_next = seg->seq + 1;
		r->srv_set = true;
	}
	if ((seg->flags & ZT_TCP_SYN) && !r->connected) {
		r->connected = true;
		put_idx(c, ZT_REC_S_CONNECTED, dt, r->idx, NULL, 0);
		dt = 0;
		proxy_replies(c, r->idx, false);
		learn_isn(c, r);
	}
	if (n && r->srv_set) {
		uint32_t end = seg->seq + (uint32_t)n;

		if (zt_seq_gt(end, r->srv_next)) {
			size_t skip = zt_seq_lt(seg->seq, r->srv_next) ?
					      (size_t)(r->srv_next - seg->seq) : 0;

			put_idx(c, ZT_REC_S_DATA, dt, r->idx, p + skip, n - skip);
			dt = 0;
			r->srv_next = end;
		}
	}
	if (seg->flags & ZT_TCP_FIN) {
		put_idx(c, ZT_REC_S_EOF, dt, r->idx, NULL, 0);
		r->ended = true;
	} else if (seg->flags & ZT_TCP_RST) {
		static const uint8_t econnreset = 5;

		put_idx(c, ZT_REC_S_FAILED, dt, r->idx, &econnreset, 1);
		r->ended = true;
	}
}

static void handle(struct conv *c, const uint8_t *frame, size_t len,
		   uint32_t dt)
{
	struct zt_packet pk;
	struct row *r;
	bool from_client = true;

	memset(&pk, 0, sizeof(pk));
	if (zt_packet_parse(zt_view_make(frame, len), ZT_PARSE_NO_CSUM, &pk) !=
		    ZT_DROP_NONE || pk.is_fragment ||
	    (pk.proto != ZT_IPPROTO_TCP && pk.proto != ZT_IPPROTO_UDP)) {
		/* ICMP and the rest: echo requests and errors go in, replies
		 * are the core's job. */
		if (pk.family && !pk.is_fragment &&
		    (pk.proto == ZT_IPPROTO_ICMP || pk.proto == ZT_IPPROTO_ICMPV6) &&
		    pk.l4.icmp.kind == ZT_ICMP_ECHO_REPLY)
			return;
		memcpy(c->pkt, frame, len);
		zt_rec_fix_checksums(c->pkt, len);
		put(c, ZT_REC_TUN, dt, c->pkt, len);
		return;
	}
	if (pk.proto == ZT_IPPROTO_TCP) {
		const struct zt_tcp_repr *seg = &pk.l4.tcp;
		bool syn = (seg->flags & (ZT_TCP_SYN | ZT_TCP_ACK)) == ZT_TCP_SYN;
		size_t n;

		r = find_row(c, ZT_IPPROTO_TCP, &pk.src, seg->src_port, &pk.dst,
			     seg->dst_port, &from_client);
		if (syn && (!r || !from_client || r->ended || r->midflow)) {
			r = new_row(c, ZT_IPPROTO_TCP, &pk.src, seg->src_port,
				    &pk.dst, seg->dst_port);
			r->idx = c->streams++;
			from_client = true;
		} else if (!r) {
			bool cli = seg->src_port >= seg->dst_port &&
				   !(seg->flags & ZT_TCP_SYN);

			r = cli ? new_row(c, ZT_IPPROTO_TCP, &pk.src, seg->src_port,
					  &pk.dst, seg->dst_port) :
				  new_row(c, ZT_IPPROTO_TCP, &pk.dst, seg->dst_port,
					  &pk.src, seg->src_port);
			r->midflow = true;
			from_client = cli;
		}
		if (!from_client) {
			server_tcp(c, r, &pk, dt);
			return;
		}
		n = client_tcp(c, r, &pk);
		if (n)
			put(c, ZT_REC_TUN, dt, c->pkt, n);
		return;
	}
	r = find_row(c, ZT_IPPROTO_UDP, &pk.src, pk.l4.udp.src_port, &pk.dst,
		     pk.l4.udp.dst_port, &from_client);
	if (!r) {
		r = new_row(c, ZT_IPPROTO_UDP, &pk.src, pk.l4.udp.src_port, &pk.dst,
			    pk.l4.udp.dst_port);
		from_client = true;
		if (!strcmp(c->mode, "socks5")) {
			uint32_t ctrl = c->streams++;

			memcpy(c->pkt, frame, len);
			zt_rec_fix_checksums(c->pkt, len);
			put(c, ZT_REC_TUN, dt, c->pkt, len);
			put_idx(c, ZT_REC_S_CONNECTED, 200, ctrl, NULL, 0);
			proxy_replies(c, ctrl, true);
			r->idx = c->dgrams++;
			return;
		}
		if (!strcmp(c->mode, "http")) {
			r->ended = true; /* the router drops UDP sent to HTTP */
		} else {
			r->idx = c->dgrams++;
		}
	}
	if (from_client) {
		memcpy(c->pkt, frame, len);
		zt_rec_fix_checksums(c->pkt, len);
		put(c, ZT_REC_TUN, dt, c->pkt, len);
	} else if (!r->ended) {
		uint8_t b[1 + 1 + 10 + 65536];
		size_t n = pk.payload.len, hl = 0;

		b[0] = (uint8_t)r->idx;
		b[1] = 0; /* from the address the core sent to */
		if (!strcmp(c->mode, "socks5")) {
			/* RSV RSV FRAG ATYP ADDR PORT: the server's own address */
			uint8_t *h = b + 2;

			if (pk.family == ZT_AF_INET) {
				memcpy(h, (const uint8_t[]){ 0, 0, 0, 1 }, 4);
				memcpy(h + 4, pk.src.bytes, 4);
				zt_wr16(h + 8, pk.l4.udp.src_port);
				hl = 10;
			} else {
				memcpy(h, (const uint8_t[]){ 0, 0, 0, 4 }, 4);
				memcpy(h + 4, pk.src.bytes, 16);
				zt_wr16(h + 20, pk.l4.udp.src_port);
				hl = 22;
			}
		}
		if (n > sizeof(b) - 2 - 22)
			n = sizeof(b) - 2 - 22;
		memcpy(b + 2 + hl, pk.payload.data, n);
		put(c, ZT_REC_DGRAM, dt, b, 2 + hl + n);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: pcap2records [-m direct|socks5|http] [-s SEED] "
			"[-n MAXPKTS] IN.pcap OUT.rec\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct conv c;
	struct zt_pcap_reader *rd;
	struct zt_pcap_record rec;
	struct zt_replay_outcome out;
	struct zt_replay_limits lim;
	char err[256];
	uint8_t cfg[7] = { 0 };
	uint64_t seed = 1;
	unsigned long maxpkts = 100000, n = 0;
	FILE *f;
	int opt, got;

	c.mode = "direct";
	while ((opt = getopt(argc, argv, "m:s:n:")) != -1) {
		if (opt == 'm')
			c.mode = optarg;
		else if (opt == 's')
			seed = strtoull(optarg, NULL, 0);
		else if (opt == 'n')
			maxpkts = strtoul(optarg, NULL, 0);
		else
			usage();
	}
	if (argc - optind != 2)
		usage();
	if (!strcmp(c.mode, "socks5"))
		cfg[0] = ZT_REC_ROUTE_SOCKS5;
	else if (!strcmp(c.mode, "http"))
		cfg[0] = ZT_REC_ROUTE_HTTP;
	else if (!strcmp(c.mode, "direct"))
		cfg[0] = ZT_REC_ROUTE_DIRECT;
	else
		usage();
	grow(&c, ZT_REC_SEED_LEN);
	for (int i = 0; i < ZT_REC_SEED_LEN; i++)
		c.out[c.len++] = (uint8_t)(seed >> (8 * i));
	put(&c, ZT_REC_CONFIG, 0, cfg, sizeof(cfg));
	if (zt_pcap_open_read(argv[optind], &rd, err, sizeof(err)) < 0) {
		fprintf(stderr, "pcap2records: %s\n", err);
		return 1;
	}
	while (n++ < maxpkts && (got = zt_pcap_read_next(rd, &rec)) == 1) {
		uint64_t dt_ns;
		uint32_t dt;

		if (rec.orig_len > PKT_MAX - 1 || rec.len > rec.orig_len)
			continue;
		if (!c.started) {
			c.started = true;
			c.last_ts = rec.ts_ns;
		}
		dt_ns = rec.ts_ns > c.last_ts ? rec.ts_ns - c.last_ts : 0;
		dt = dt_ns / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(dt_ns / 1000);
		c.last_ts = rec.ts_ns > c.last_ts ? rec.ts_ns : c.last_ts;
		memset(c.frame, 0, rec.orig_len);
		memcpy(c.frame, rec.data, rec.len);
		handle(&c, c.frame, rec.orig_len, dt);
	}
	zt_pcap_close_read(rd);
	put(&c, ZT_REC_ADVANCE, 5000000, NULL, 0);

	zt_replay_limits_default(&lim);
	lim.fix_checksums = true;
	if (zt_replay_records(c.out, c.len, &lim, &out) < 0)
		die("replay failed");
	if (out.streams != c.streams || out.dgrams != c.dgrams || out.violations)
		fprintf(stderr, "pcap2records: %s: note: core opened %llu streams "
				"(counted %u), %llu sockets (counted %u), %llu "
				"violations %s\n",
			argv[optind], (unsigned long long)out.streams, c.streams,
			(unsigned long long)out.dgrams, c.dgrams,
			(unsigned long long)out.violations, out.first_violation);
	fprintf(stderr, "%s: %llu records, %zu bytes, %llu TUN in, %llu out, "
			"%llu SYN-ACKs, %llu bytes up\n",
		argv[optind + 1], (unsigned long long)out.records, c.len,
		(unsigned long long)out.tun_in, (unsigned long long)out.tun_out,
		(unsigned long long)out.syn_acks,
		(unsigned long long)out.stream_bytes_up);
	f = fopen(argv[optind + 1], "wb");
	if (!f || fwrite(c.out, 1, c.len, f) != c.len || fclose(f) != 0)
		die("cannot write the output");
	free(c.out);
	free(c.rows);
	return 0;
}
