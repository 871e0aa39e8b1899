// SPDX-License-Identifier: MIT
//
// bench_util.h - small helpers the benchmark load generators share
// (socks_bench.c, udp_bench.c): a clock, IPv4 address parsing, whole
// reads and writes on a stream, and the SOCKS5 no-auth greeting.

#ifndef ZTUN_BENCH_UTIL_H
#define ZTUN_BENCH_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static inline void die(const char *what)
{
	perror(what);
	exit(1);
}

static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* "A.B.C.D:PORT" into @sa; -1 when it is not one. */
static inline int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static inline int read_full(int fd, void *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static inline int write_full(int fd, const void *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, (const char *)p + done, n - done);
		if (w <= 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

/* A SOCKS5 request (no auth) of @cmd for @dst on the connected @fd; the
 * reply's IPv4 bound address into @bound (family 0 for an IPv6 one).
 * 0, or -1 on any failure. */
static inline int socks5_request(int fd, uint8_t cmd, const struct sockaddr_in *dst,
				 struct sockaddr_in *bound)
{
	unsigned char req[10], rep[10];

	if (write_full(fd, "\x05\x01\x00", 3) < 0 || read_full(fd, rep, 2) < 0 ||
	    rep[0] != 5 || rep[1] != 0)
		return -1;
	req[0] = 5; req[1] = cmd; req[2] = 0; req[3] = 1;
	memcpy(req + 4, &dst->sin_addr, 4);
	memcpy(req + 8, &dst->sin_port, 2);
	if (write_full(fd, req, 10) < 0 || read_full(fd, rep, 4) < 0 || rep[1] != 0)
		return -1;
	memset(bound, 0, sizeof(*bound));
	if (rep[3] == 4) { /* IPv6: read past it; @bound stays family 0 */
		unsigned char v6[18];
		return read_full(fd, v6, sizeof(v6));
	}
	if (rep[3] != 1 || read_full(fd, rep + 4, 6) < 0)
		return -1;
	bound->sin_family = AF_INET;
	memcpy(&bound->sin_addr, rep + 4, 4);
	memcpy(&bound->sin_port, rep + 8, 2);
	return 0;
}

#endif /* ZTUN_BENCH_UTIL_H */
