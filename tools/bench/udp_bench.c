// SPDX-License-Identifier: MIT
//
// udp_bench - a UDP load generator for tools/bench/bench.sh: fixed-size
// datagrams at a fixed rate, plainly or through a SOCKS5 proxy's UDP
// ASSOCIATE (which iperf3 cannot do), sent one per call or in
// UDP_SEGMENT runs (as QUIC stacks send).
//
//   udp_bench server IP:PORT
//       UDP on IP:PORT (bound to that address, so replies come from it).
//       A datagram's first byte: 'U' count it; 'Z' zero the counts and
//       answer 'z'; 'Q' answer "R RXPKTS RXBYTES TXPKTS"; 'D' followed by
//       "RATE LEN MS GSO" sends LEN-byte datagrams back to the sender at
//       RATE bits/s for MS milliseconds (GSO 1: in UDP_SEGMENT runs).
//       Requests are answered to their sender, whatever it is (a SOCKS5
//       relay included).
//
//   udp_bench client -t IP:PORT [-s IP:PORT] -m up|down [-l LEN]
//                    [-b RATE] [-d SECS] [-g]
//       -s  through this SOCKS5 proxy: UDP ASSOCIATE on a TCP connection
//           held for the run, every datagram with its SOCKS UDP header
//       -l  payload bytes per datagram (default 1200)
//       -b  offered payload rate, bits/s, k/M/G suffixes (default 1G)
//       -g  send in UDP_SEGMENT runs (up to 64 datagrams per call)
//       up: the client sends for SECS, then asks the server what it got;
//       down: the server sends for SECS and the client counts. Prints
//       "RESULT gbps=G sent=N got=K bytes=B secs=S" (payload bytes
//       received, G = B * 8 / S).
//
// Only for benchmarks inside network namespaces; IPv4 only.

#define _GNU_SOURCE
#include <errno.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "bench_util.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define MAX_DGRAM 65507
#define GSO_MAX 64
#define SOCKS_HDR 10

/* --- sending at a rate ------------------------------------------------- */

struct blast {
	int fd;
	struct sockaddr_in to;
	const uint8_t *hdr;  /* put before every payload (SOCKS UDP header) */
	size_t hdr_len;
	size_t len;          /* payload bytes per datagram */
	double rate;         /* payload bits/s */
	double secs;
	bool gso;
	unsigned long long sent;
};

/* Send @b->len-byte datagrams (each after @b->hdr) to @b->to at @b->rate
 * for @b->secs: whenever the clock says datagrams are due, send them (in
 * one UDP_SEGMENT call with gso, as far as 64 and 64 KiB allow). Returns
 * the seconds it took. */
static double blast_run(struct blast *b)
{
	static uint8_t buf[GSO_MAX * (MAX_DGRAM + SOCKS_HDR)];
	size_t one = b->hdr_len + b->len;
	unsigned per_call = 1;
	double t0 = now_s(), per_s = b->rate / 8 / (double)b->len, t;

	if (b->gso) {
		int seg = (int)one;
		per_call = (unsigned)(MAX_DGRAM / one);
		if (per_call > GSO_MAX)
			per_call = GSO_MAX;
		if (per_call < 2 || setsockopt(b->fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) < 0)
			per_call = 1;
	}
	for (unsigned i = 0; i < per_call; i++) {
		memcpy(buf + i * one, b->hdr, b->hdr_len);
		memset(buf + i * one + b->hdr_len, 'U', b->len);
	}
	while ((t = now_s()) - t0 < b->secs) {
		unsigned long long due = (unsigned long long)((t - t0) * per_s) + 1;
		if (due <= b->sent) {
			struct timespec ts = { 0, 50000 };
			nanosleep(&ts, NULL);
			continue;
		}
		unsigned n = due - b->sent > per_call ? per_call : (unsigned)(due - b->sent);
		ssize_t w = sendto(b->fd, buf, n * one, 0, (struct sockaddr *)&b->to,
				   sizeof(b->to));
		if (w < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR &&
		    errno != ECONNREFUSED)
			die("sendto");
		b->sent += n; /* offered, as iperf3 counts */
	}
	t = now_s() - t0;
	if (per_call > 1) { /* later sends of the socket go whole again */
		int off = 0;
		setsockopt(b->fd, SOL_UDP, UDP_SEGMENT, &off, sizeof(off));
	}
	return t;
}

/* --- server -------------------------------------------------------------- */

static int udp_socket(const struct sockaddr_in *bind_to)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0), big = 4 << 20;
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (bind_to && bind(fd, (const struct sockaddr *)bind_to, sizeof(*bind_to)) < 0)
		die("bind");
	return fd;
}

struct down_job {
	struct blast b;
	pthread_t th;
	bool running;
};

static void *down_thread(void *arg)
{
	struct down_job *j = arg;
	blast_run(&j->b);
	return NULL;
}

static int run_server(const char *where)
{
	static uint8_t buf[MAX_DGRAM + 1];
	unsigned long long rx_pkts = 0, rx_bytes = 0;
	struct down_job job = { .running = false };
	struct sockaddr_in self;
	int fd;

	if (parse_addr(where, &self) < 0) {
		fprintf(stderr, "udp_bench: bad address '%s'\n", where);
		return 2;
	}
	fd = udp_socket(&self);
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		char reply[96];
		ssize_t r = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &fl);
		int n = 0;

		if (r <= 0)
			continue;
		switch (buf[0]) {
		case 'U':
			rx_pkts++;
			rx_bytes += (unsigned long long)r;
			continue;
		case 'Z':
			rx_pkts = rx_bytes = 0;
			n = snprintf(reply, sizeof(reply), "z");
			break;
		case 'Q':
			n = snprintf(reply, sizeof(reply), "R %llu %llu %llu", rx_pkts,
				     rx_bytes, job.b.sent);
			break;
		case 'D': {
			double rate;
			unsigned len, ms, gso;
			buf[r] = 0;
			if (sscanf((char *)buf + 1, "%lf %u %u %u", &rate, &len, &ms, &gso) != 4 ||
			    len < 1 || len > MAX_DGRAM)
				continue;
			if (job.running)
				pthread_join(job.th, NULL);
			memset(&job.b, 0, sizeof(job.b));
			job.b.fd = fd; /* the replies come from the address asked */
			job.b.to = from;
			job.b.len = len;
			job.b.rate = rate;
			job.b.secs = ms / 1000.0;
			job.b.gso = gso != 0;
			job.running = pthread_create(&job.th, NULL, down_thread, &job) == 0;
			continue;
		}
		default:
			continue;
		}
		sendto(fd, reply, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
}

/* --- client ---------------------------------------------------------------- */

struct path {
	int fd;
	struct sockaddr_in to;      /* the target, or the SOCKS5 relay */
	uint8_t hdr[SOCKS_HDR];     /* SOCKS UDP header naming the target */
	size_t hdr_len;             /* 0: plain */
};

/* Send @req (with the path's header) and wait up to 0.3 s for an answer
 * starting with @want, five times over; its text (header removed) into
 * @out. 0, or -1 when none came. */
static int ask(struct path *p, const char *req, char want, char *out, size_t cap)
{
	static uint8_t buf[MAX_DGRAM + 1];
	struct timeval tv = { 0, 300000 };

	setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int tries = 0; tries < 5; tries++) {
		size_t n = strlen(req);
		memcpy(buf, p->hdr, p->hdr_len);
		memcpy(buf + p->hdr_len, req, n);
		if (sendto(p->fd, buf, p->hdr_len + n, 0, (struct sockaddr *)&p->to,
			   sizeof(p->to)) < 0)
			continue;
		double end = now_s() + 0.3;
		while (now_s() < end) {
			ssize_t r = recv(p->fd, buf, sizeof(buf) - 1, 0);
			if (r < 0)
				break;
			if ((size_t)r <= p->hdr_len || buf[p->hdr_len] != (uint8_t)want)
				continue; /* a late datagram of the run */
			buf[r] = 0;
			snprintf(out, cap, "%s", (char *)buf + p->hdr_len);
			return 0;
		}
	}
	return -1;
}

static double parse_rate(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	switch (*end) {
	case 'k': case 'K': return v * 1e3;
	case 'm': case 'M': return v * 1e6;
	case 'g': case 'G': return v * 1e9;
	case 0: return v;
	default: return -1;
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: udp_bench server IP:PORT\n"
		"       udp_bench client -t IP:PORT [-s IP:PORT] -m up|down "
		"[-l LEN] [-b RATE] [-d SECS] [-g]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct sockaddr_in target, proxy;
	struct path p = { .fd = -1 };
	char mode = 0, txt[128];
	double rate = 1e9, secs = 3;
	size_t len = 1200;
	bool gso = false, have_target = false, have_proxy = false;
	unsigned long long sent = 0, got = 0, bytes = 0;
	int opt, ctl = -1;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "server"))
		return run_server(argv[2]);
	if (argc < 2 || strcmp(argv[1], "client"))
		return usage();
	optind = 2;
	while ((opt = getopt(argc, argv, "t:s:m:l:b:d:g")) != -1) {
		switch (opt) {
		case 't': if (parse_addr(optarg, &target) < 0) return usage(); have_target = true; break;
		case 's': if (parse_addr(optarg, &proxy) < 0) return usage(); have_proxy = true; break;
		case 'm': mode = !strcmp(optarg, "up") ? 'u' : !strcmp(optarg, "down") ? 'd' : 0; break;
		case 'l': len = (size_t)atol(optarg); break;
		case 'b': rate = parse_rate(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'g': gso = true; break;
		default: return usage();
		}
	}
	if (!mode || !have_target || len < 1 || len > MAX_DGRAM - SOCKS_HDR || rate <= 0 ||
	    secs <= 0)
		return usage();
	p.fd = udp_socket(NULL);
	p.to = target;
	if (have_proxy) {
		struct sockaddr_in any = { .sin_family = AF_INET }, relay, local;
		socklen_t ll = sizeof(local);
		ctl = socket(AF_INET, SOCK_STREAM, 0);
		if (ctl < 0 || connect(ctl, (struct sockaddr *)&proxy, sizeof(proxy)) < 0)
			die("connect to the SOCKS5 proxy");
		/* send from the control connection's address, as proxies expect */
		getsockname(ctl, (struct sockaddr *)&local, &ll);
		local.sin_port = 0;
		if (bind(p.fd, (struct sockaddr *)&local, sizeof(local)) < 0)
			die("bind");
		if (socks5_request(ctl, 3, &any, &relay) < 0 || relay.sin_family != AF_INET) {
			fprintf(stderr, "udp_bench: UDP ASSOCIATE refused\n");
			return 1;
		}
		if (relay.sin_addr.s_addr == 0)
			relay.sin_addr = proxy.sin_addr;
		p.to = relay;
		p.hdr[3] = 1;
		memcpy(p.hdr + 4, &target.sin_addr, 4);
		memcpy(p.hdr + 8, &target.sin_port, 2);
		p.hdr_len = SOCKS_HDR;
	}
	if (ask(&p, "Z", 'z', txt, sizeof(txt)) < 0) {
		fprintf(stderr, "udp_bench: no answer from the server\n");
		return 1;
	}
	if (mode == 'u') {
		struct blast b = { .fd = p.fd, .to = p.to, .hdr = p.hdr, .hdr_len = p.hdr_len,
				   .len = len, .rate = rate, .secs = secs, .gso = gso };
		unsigned long long rp, rb, tx;
		secs = blast_run(&b);
		sent = b.sent;
		usleep(200000); /* let the queues drain */
		if (ask(&p, "Q", 'R', txt, sizeof(txt)) < 0 ||
		    sscanf(txt, "R %llu %llu %llu", &rp, &rb, &tx) != 3) {
			fprintf(stderr, "udp_bench: no count from the server\n");
			return 1;
		}
		got = rp;
		bytes = rb;
	} else {
		static uint8_t buf[MAX_DGRAM + 1];
		struct timeval tv = { 0, 100000 };
		unsigned long long rp, rb, tx;
		char req[96];
		snprintf(req, sizeof(req), "D %.0f %zu %u %d", rate, len,
			 (unsigned)(secs * 1000), gso ? 1 : 0);
		memcpy(buf, p.hdr, p.hdr_len);
		memcpy(buf + p.hdr_len, req, strlen(req));
		setsockopt(p.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (sendto(p.fd, buf, p.hdr_len + strlen(req), 0, (struct sockaddr *)&p.to,
			   sizeof(p.to)) < 0)
			die("sendto");
		double end = now_s() + secs + 0.3;
		while (now_s() < end) {
			ssize_t r = recv(p.fd, buf, sizeof(buf), 0);
			if (r < 0)
				continue;
			if ((size_t)r <= p.hdr_len || buf[p.hdr_len] != 'U')
				continue;
			got++;
			bytes += (unsigned long long)r - p.hdr_len;
		}
		if (ask(&p, "Q", 'R', txt, sizeof(txt)) < 0 ||
		    sscanf(txt, "R %llu %llu %llu", &rp, &rb, &tx) != 3) {
			fprintf(stderr, "udp_bench: no count from the server\n");
			return 1;
		}
		sent = tx;
	}
	printf("RESULT gbps=%.3f sent=%llu got=%llu bytes=%llu secs=%.3f\n",
	       (double)bytes * 8 / secs / 1e9, sent, got, bytes, secs);
	if (ctl >= 0)
		close(ctl);
	return 0;
}
