/* SPDX-License-Identifier: MIT */
/*
 * test_dgram_out.c - ztun-ref's upstream datagram sends
 * (sim/real/dgram_out.c) on real loopback UDP sockets: what a send does
 * when an ICMP error about an earlier datagram of the same socket is
 * pending. Linux hands such an error (the socket's sk_err, set on a
 * socket with IP_RECVERR as ztun-ref's direct ones have) to the next send
 * call, which then fails with it and sends nothing; on loopback and veth
 * the error arrives within the earlier send itself. Datagrams the core
 * handed over must not be lost to that: sent at once, held and sent in a
 * sendmmsg() batch, and held and sent as one UDP_SEGMENT run. A held
 * datagram that fails for a reason of its own is kept for the host to
 * report. Only 127.0.0.1 (and a broadcast that fails) is used.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "real/dgram_out.h"
#include "test.h"

struct lo {
	int tx, rx;                    /* the sender, a bound receiver */
	struct sockaddr_in open, closed; /* rx's address; one nobody has */
	struct zr_host_stats stats;
	struct zr_dgram_out *o;        /* owned (large) */
	bool gso_off;
};

static struct sockaddr_in lo_bound(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&a, &l) == 0);
	return a;
}

static void lo_open(struct lo *t)
{
	int one = 1, gone = socket(AF_INET, SOCK_DGRAM, 0);

	memset(t, 0, sizeof(*t));
	t->tx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	t->rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	CU_ASSERT_FATAL(t->tx >= 0 && t->rx >= 0 && gone >= 0);
	CU_ASSERT_FATAL(setsockopt(t->tx, IPPROTO_IP, IP_RECVERR, &one,
				   sizeof(one)) == 0);
	t->open = lo_bound(t->rx);
	t->closed = lo_bound(gone); /* a port just freed: nobody there */
	close(gone);
	t->o = malloc(sizeof(*t->o));
	CU_ASSERT_FATAL(t->o != NULL);
	zr_dgram_out_init(t->o, &t->stats);
}

static void lo_close(struct lo *t)
{
	close(t->tx);
	close(t->rx);
	free(t->o);
}

static int send_to(struct lo *t, const struct sockaddr_in *to, const char *s)
{
	return zr_dgram_out_send(t->o, t->tx, &t->gso_off, 0x700000007ull,
				 (const struct sockaddr *)to, sizeof(*to), s,
				 strlen(s));
}

/* A datagram to the closed port, and (checked) its port unreachable
 * pending on the socket before the next send. */
static void make_error_pending(struct lo *t)
{
	struct pollfd p = { .fd = t->tx, .events = 0 };

	CU_ASSERT_EQUAL(send_to(t, &t->closed, "x"), 0);
	CU_ASSERT_FATAL(poll(&p, 1, 1000) == 1 && (p.revents & POLLERR));
}

/* The next datagram rx holds, as a string ("" when none came). */
static const char *got(struct lo *t)
{
	static char buf[64];
	ssize_t n = recv(t->rx, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = 0;
	return buf;
}

/* With an ICMP error pending on the socket, @a and @b held for the end of
 * the wake-up, then sent: both arrive, in order. */
static void held_pair_after_error(struct lo *t, const char *a, const char *b)
{
	make_error_pending(t);
	zr_dgram_out_hold(t->o);
	CU_ASSERT_EQUAL(send_to(t, &t->open, a), 0);
	CU_ASSERT_EQUAL(send_to(t, &t->open, b), 0);
	zr_dgram_out_release(t->o);
	CU_ASSERT_STRING_EQUAL(got(t), a);
	CU_ASSERT_STRING_EQUAL(got(t), b);
}

static void test_send_after_icmp_error(void)
{
	struct lo t;

	lo_open(&t);
	/* at once */
	make_error_pending(&t);
	CU_ASSERT_EQUAL(send_to(&t, &t.open, "now"), 0);
	CU_ASSERT_STRING_EQUAL(got(&t), "now");
	/* held, then sent one by one (sendmmsg: sizes that make no run) */
	held_pair_after_error(&t, "a", "bb");
	/* held, then sent as one UDP_SEGMENT run, which stays on */
	held_pair_after_error(&t, "cc", "dd");
	CU_ASSERT_FALSE(t.gso_off);
	CU_ASSERT_EQUAL(t.stats.dgram_send_errors, 0);
	CU_ASSERT_EQUAL(t.stats.dgram_tx, 3 + 5);
	lo_close(&t);
}

/* A send that fails for its own reason (no route to a broadcast without
 * SO_BROADCAST: EACCES) is counted lost, tried twice at most. */
static void test_real_failure_counted(void)
{
	struct lo t;
	struct sockaddr_in bcast;

	lo_open(&t);
	bcast = t.open;
	bcast.sin_addr.s_addr = htonl(INADDR_BROADCAST);
	CU_ASSERT_EQUAL(send_to(&t, &bcast, "no"), -EACCES);
	CU_ASSERT_EQUAL(t.stats.dgram_send_errors, 1);
	CU_ASSERT(t.stats.dgram_send_calls <= 2);
	lo_close(&t);
}

/* A held datagram lost for a reason of its own is kept, with the
 * caller's tag, its destination and its bytes, for the caller to report
 * after the wake-up; taking them forgets them. One sent at once returns
 * its error instead, and a datagram sent is not kept. */
static void test_failure_kept_for_later(void)
{
	struct zr_dgram_fail f[ZR_DGRAM_OUT_FAILS];
	struct sockaddr_in bcast;
	struct lo t;

	lo_open(&t);
	bcast = t.open;
	bcast.sin_addr.s_addr = htonl(INADDR_BROADCAST);
	zr_dgram_out_hold(t.o);
	CU_ASSERT_EQUAL(send_to(&t, &t.open, "fine"), 0);
	CU_ASSERT_EQUAL(send_to(&t, &bcast, "nowhere"), 0); /* held */
	zr_dgram_out_release(t.o);
	CU_ASSERT_STRING_EQUAL(got(&t), "fine");
	CU_ASSERT_EQUAL_FATAL(zr_dgram_out_take_failures(t.o, f, ZR_DGRAM_OUT_FAILS), 1);
	CU_ASSERT_EQUAL(f[0].tag, 0x700000007ull);
	CU_ASSERT_EQUAL(f[0].err, EACCES);
	CU_ASSERT(f[0].to_len == sizeof(bcast) && !memcmp(&f[0].to, &bcast, sizeof(bcast)));
	CU_ASSERT(f[0].len == 7 && !memcmp(f[0].data, "nowhere", 7));
	CU_ASSERT_EQUAL(zr_dgram_out_take_failures(t.o, f, ZR_DGRAM_OUT_FAILS), 0);
	CU_ASSERT_EQUAL(send_to(&t, &bcast, "now"), -EACCES);
	CU_ASSERT_EQUAL(zr_dgram_out_take_failures(t.o, f, ZR_DGRAM_OUT_FAILS), 0);
	lo_close(&t);
}

int zt_suite_dgram_out(void)
{
	static const struct zt_test_case cases[] = {
		{ "send_after_icmp_error", test_send_after_icmp_error },
		{ "real_failure_counted", test_real_failure_counted },
		{ "failure_kept_for_later", test_failure_kept_for_later },
		{ 0 }
	};

	return zt_add_suite("dgram_out", NULL, NULL, cases);
}
