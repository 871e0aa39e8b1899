// SPDX-License-Identifier: MIT
//
// socks_bench - a small TCP load generator for tools/bench/bench.sh.
//
//   socks_bench server PORT
//       epoll server on 0.0.0.0:PORT. The first byte a client sends picks
//       the connection's mode: 'U' discard everything, 'D' send without
//       end, 'E' echo every later byte, 'H' answer one byte 'h' and idle.
//
//   socks_bench client -t IP:PORT [-s IP:PORT | -c IP:PORT] -m MODE
//                      [-d SECS] [-w SECS] [-P N] [-n N] [-k]
//       -s  go through this SOCKS5 proxy (no auth, CONNECT to -t)
//       -c  go through this HTTP proxy (CONNECT to -t)
//       MODE up | down  -P streams for -d seconds; bytes counted after
//                       -w seconds of warm-up (default 1); prints
//                       "RESULT gbps=G bytes=B secs=S total=T ..." (T:
//                       every byte, warm-up included)
//            rr         -n short connections (-P at a time): connect,
//                       handshake, 32 bytes out, 32 back, close; prints
//                       "RESULT conns=N ok=K cps=R p50_us=X p99_us=Y"
//                       (connect-to-first-byte latency); with -k (one
//                       thread) each connection's TCP connect is made
//                       200 us before its clock starts: the latency a
//                       pool of warm proxy connections could save at
//                       most (cps then counts the wait)
//            hold       open -n connections (each one round trip 'H' ->
//                       'h'), print "HELD reached=K" and hold them -d secs
//
// Only for benchmarks inside network namespaces; no IPv6, no auth.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define BUFSZ (128 * 1024)

/* ---- server ----------------------------------------------------------- */

static char *conn_mode; /* indexed by fd: 0 unknown, else the mode byte */
static size_t conn_cap;

static void srv_close(int ep, int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	if ((size_t)fd < conn_cap)
		conn_mode[fd] = 0;
}

static int run_server(int port)
{
	static char buf[BUFSZ];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct epoll_event ev, evs[256];
	int one = 1, ls, ep;
	struct rlimit rl;

	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	getrlimit(RLIMIT_NOFILE, &rl);
	conn_cap = rl.rlim_cur > (1u << 20) ? (1u << 20) : rl.rlim_cur;
	conn_mode = calloc(conn_cap, 1);
	memset(buf, 'x', sizeof(buf));
	ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (ls < 0)
		die("socket");
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind");
	if (listen(ls, 4096) < 0)
		die("listen");
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = ls;
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ls) {
				int c;
				while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					if ((size_t)c >= conn_cap) {
						close(c);
						continue;
					}
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					conn_mode[c] = 0;
					ev.events = EPOLLIN;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			if (conn_mode[fd] == 'D') {
				if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
					srv_close(ep, fd);
					continue;
				}
				for (;;) {
					ssize_t w = write(fd, buf, sizeof(buf));
					if (w < 0) {
						if (errno != EAGAIN)
							srv_close(ep, fd);
						break;
					}
				}
				continue;
			}
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r <= 0) {
				if (r == 0 || errno != EAGAIN)
					srv_close(ep, fd);
				continue;
			}
			size_t off = 0;
			if (!conn_mode[fd]) {
				conn_mode[fd] = buf[0];
				off = 1;
				if (buf[0] == 'D') {
					ev.events = EPOLLOUT;
					ev.data.fd = fd;
					epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
					continue;
				}
				if (buf[0] == 'H') {
					if (write(fd, "h", 1) != 1)
						srv_close(ep, fd);
					continue;
				}
			}
			if (conn_mode[fd] == 'E' && (size_t)r > off) {
				/* small request/response: a short write is not expected */
				if (write(fd, buf + off, (size_t)r - off) < 0)
					srv_close(ep, fd);
			}
			/* 'U' and 'H': discard */
		}
	}
	return 0;
}

/* ---- client ----------------------------------------------------------- */

static struct sockaddr_in target, proxy;
static int proxy_kind; /* 0 none, 's' SOCKS5, 'c' HTTP CONNECT */
static atomic_int stop_flag;
static atomic_ullong total_bytes;

static int warm_fd = -1; /* -k: the next connection, connected ahead */
static int prewarm;

/* A TCP connection to the proxy (or the target); -1 on failure. */
static int tcp_open(void)
{
	struct timeval tv = { .tv_sec = 5 };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	const struct sockaddr_in *to = proxy_kind ? &proxy : &target;
	if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Connect to the target (through the proxy if any); -1 on failure. */
static int open_conn(void)
{
	int fd = warm_fd >= 0 ? warm_fd : tcp_open();

	warm_fd = -1;
	if (fd < 0)
		return -1;
	if (proxy_kind == 's') {
		struct sockaddr_in bound;
		if (socks5_request(fd, 1, &target, &bound) < 0)
			goto fail;
	} else if (proxy_kind == 'c') {
		char req[160], rep[1024], ip[INET_ADDRSTRLEN];
		size_t got = 0;
		inet_ntop(AF_INET, &target.sin_addr, ip, sizeof(ip));
		int len = snprintf(req, sizeof(req), "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n\r\n",
				   ip, ntohs(target.sin_port), ip, ntohs(target.sin_port));
		if (write_full(fd, req, (size_t)len) < 0)
			goto fail;
		for (;;) {
			ssize_t r = read(fd, rep + got, sizeof(rep) - 1 - got);
			if (r <= 0)
				goto fail;
			got += (size_t)r;
			rep[got] = 0;
			if (strstr(rep, "\r\n\r\n"))
				break;
			if (got == sizeof(rep) - 1)
				goto fail;
		}
		if (strncmp(rep + 8, " 200", 4) != 0)
			goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

struct job {
	char mode;
	int n;           /* rr: connections for this thread */
	double *lat;     /* rr: latencies (us) */
	int ok;
};

static void *stream_thread(void *arg)
{
	static char sbuf[BUFSZ];
	char buf[BUFSZ];
	struct job *j = arg;
	int fd = open_conn();
	if (fd < 0) {
		fprintf(stderr, "socks_bench: connect failed\n");
		return NULL;
	}
	char m = j->mode == 'u' ? 'U' : 'D';
	if (write_full(fd, &m, 1) < 0) {
		close(fd);
		return NULL;
	}
	j->ok = 1;
	while (!atomic_load(&stop_flag)) {
		ssize_t r = j->mode == 'u' ? write(fd, sbuf, sizeof(sbuf)) : read(fd, buf, sizeof(buf));
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0) {
			j->ok = 0;
			break;
		}
		atomic_fetch_add(&total_bytes, (unsigned long long)r);
	}
	close(fd);
	return NULL;
}

static void *rr_thread(void *arg)
{
	struct job *j = arg;
	char req[33], rep[32];
	memset(req, 'q', sizeof(req));
	req[0] = 'E';
	for (int i = 0; i < j->n; i++) {
		if (prewarm) {
			warm_fd = tcp_open();
			usleep(200); /* the proxy takes it in, as a pool's would be */
		}
		double t0 = now_s();
		int fd = open_conn();
		if (fd < 0)
			continue;
		if (write_full(fd, req, sizeof(req)) == 0 && read_full(fd, rep, 1) == 0) {
			double t1 = now_s();
			if (read_full(fd, rep + 1, sizeof(rep) - 1) == 0)
				j->lat[j->ok++] = (t1 - t0) * 1e6;
		}
		close(fd);
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void on_term(int sig)
{
	(void)sig;
	atomic_store(&stop_flag, 1);
}

static int usage(void)
{
	fprintf(stderr, "usage: socks_bench server PORT\n"
		"       socks_bench client -t IP:PORT [-s IP:PORT | -c IP:PORT] "
		"-m up|down|rr|hold [-d SECS] [-w SECS] [-P N] [-n N] [-k]\n");
	return 2;
}

int main(int argc, char **argv)
{
	char mode = 0;
	double secs = 5, warm = 1;
	int par = 1, num = 1000, opt, have_target = 0;

	if (argc >= 3 && strcmp(argv[1], "server") == 0)
		return run_server(atoi(argv[2]));
	if (argc < 2 || strcmp(argv[1], "client") != 0)
		return usage();
	optind = 2;
	while ((opt = getopt(argc, argv, "t:s:c:m:d:w:P:n:k")) != -1) {
		switch (opt) {
		case 't':
			if (parse_addr(optarg, &target) < 0)
				return usage();
			have_target = 1;
			break;
		case 's':
		case 'c':
			if (parse_addr(optarg, &proxy) < 0)
				return usage();
			proxy_kind = opt;
			break;
		case 'm':
			mode = strcmp(optarg, "up") == 0 ? 'u' : strcmp(optarg, "down") == 0 ? 'd' :
			       strcmp(optarg, "rr") == 0 ? 'r' : strcmp(optarg, "hold") == 0 ? 'h' : 0;
			break;
		case 'd': secs = atof(optarg); break;
		case 'w': warm = atof(optarg); break;
		case 'P': par = atoi(optarg); break;
		case 'n': num = atoi(optarg); break;
		case 'k': prewarm = 1; break;
		default: return usage();
		}
	}
	if (!mode || !have_target || par < 1 || par > 1024 || num < 1 ||
	    (prewarm && par != 1))
		return usage();
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);

	pthread_t th[1024];
	struct job jobs[1024];
	memset(jobs, 0, sizeof(jobs));

	if (mode == 'u' || mode == 'd') {
		for (int i = 0; i < par; i++) {
			jobs[i].mode = mode;
			pthread_create(&th[i], NULL, stream_thread, &jobs[i]);
		}
		struct timespec ws = { (time_t)warm, (long)((warm - (double)(time_t)warm) * 1e9) };
		nanosleep(&ws, NULL);
		unsigned long long b0 = atomic_load(&total_bytes);
		double t0 = now_s();
		struct timespec ms = { (time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9) };
		nanosleep(&ms, NULL);
		unsigned long long b1 = atomic_load(&total_bytes);
		double t1 = now_s();
		atomic_store(&stop_flag, 1);
		int ok = 0;
		for (int i = 0; i < par; i++) {
			pthread_join(th[i], NULL);
			ok += jobs[i].ok;
		}
		printf("RESULT gbps=%.3f bytes=%llu secs=%.3f total=%llu streams_ok=%d/%d\n",
		       (double)(b1 - b0) * 8 / (t1 - t0) / 1e9, b1 - b0, t1 - t0,
		       (unsigned long long)atomic_load(&total_bytes), ok, par);
		return ok == par ? 0 : 1;
	}
	if (mode == 'r') {
		double *lat = calloc((size_t)num, sizeof(double));
		int per = num / par, extra = num % par, off = 0;
		double t0 = now_s();
		for (int i = 0; i < par; i++) {
			jobs[i].n = per + (i < extra);
			jobs[i].lat = lat + off;
			off += jobs[i].n;
			pthread_create(&th[i], NULL, rr_thread, &jobs[i]);
		}
		int ok = 0;
		for (int i = 0; i < par; i++)
			pthread_join(th[i], NULL);
		double t1 = now_s();
		/* compact the latencies */
		double *all = calloc((size_t)num, sizeof(double));
		for (int i = 0; i < par; i++) {
			memcpy(all + ok, jobs[i].lat, (size_t)jobs[i].ok * sizeof(double));
			ok += jobs[i].ok;
		}
		qsort(all, (size_t)ok, sizeof(double), cmp_double);
		double p50 = ok ? all[ok / 2] : 0, p99 = ok ? all[(size_t)((ok - 1) * 0.99)] : 0;
		printf("RESULT conns=%d ok=%d cps=%.0f p50_us=%.0f p99_us=%.0f\n", num, ok,
		       ok / (t1 - t0), p50, p99);
		return ok == num ? 0 : 1;
	}
	/* hold */
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	int *fds = calloc((size_t)num, sizeof(int));
	int held = 0, fails = 0;
	for (int i = 0; i < num && fails < 20 && !atomic_load(&stop_flag); i++) {
		char c;
		int fd = open_conn();
		if (fd >= 0 && write_full(fd, "H", 1) == 0 && read_full(fd, &c, 1) == 0 && c == 'h') {
			fds[held++] = fd;
			fails = 0;
		} else {
			if (fd >= 0)
				close(fd);
			fails++;
		}
	}
	printf("HELD reached=%d of %d\n", held, num);
	fflush(stdout);
	double end = now_s() + secs;
	while (!atomic_load(&stop_flag) && now_s() < end)
		usleep(100000);
	for (int i = 0; i < held; i++)
		close(fds[i]);
	return 0;
}
