/* SPDX-License-Identifier: MIT */
/*
 * test_tun_linux.c - reads of ztun-ref's Linux TUN driver
 * (sim/real/tun_linux.c) from a fake device: the driver's descriptor is
 * one end of a SOCK_SEQPACKET pair, which keeps packet boundaries and
 * cuts a read short as a TUN does (no flag, the tail lost), and the test
 * writes what the kernel would into the other end. Covers packets longer
 * than the reader's buffer, and virtio-net headers (IFF_VNET_HDR) the
 * driver must refuse: unknown GSO types, ECN without TCP GSO, GSO of the
 * wrong family or protocol or without a segment size, hdr_len or the
 * partial checksum's place past the packet. And the header of a TSO
 * write: VIRTIO_NET_HDR_GSO_ECN exactly when the segment carries CWR.
 */
#include <errno.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "real/tun.h"
#include "test.h"

#define VNET_GSO_UDP_L4 5   /* VIRTIO_NET_HDR_GSO_UDP_L4, Linux 6.2 on */

static struct zr_tun tun;
static int peer = -1;

/* A driver context on a socket pair, with virtio-net headers when @vnet;
 * @uso: the kernel took TUN_F_USO4/6. */
static void fake_open(bool vnet, bool uso)
{
	int sv[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
				   SOCK_NONBLOCK, 0, sv) == 0);
	memset(&tun, 0, sizeof(tun));
	tun.fd = sv[0];
	tun.vnet_len = vnet ? sizeof(struct virtio_net_hdr) : 0;
	tun.offload = vnet;
	tun.uso = uso;
	peer = sv[1];
	/* room for a 64 KiB packet and more in one datagram */
	{
		int sz = 1 << 20;

		(void)setsockopt(peer, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		(void)setsockopt(tun.fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
}

static void fake_close(void)
{
	zr_tun_linux_ops.close(&tun);
	close(peer);
	peer = -1;
}

/* An IPv4 (@v6 false) or IPv6 packet of @len bytes, protocol @proto,
 * whose length field says @len, into @pkt. */
static void make_packet(uint8_t *pkt, size_t len, bool v6, uint8_t proto)
{
	memset(pkt, 0, len);
	if (v6) {
		pkt[0] = 0x60;
		pkt[4] = (uint8_t)((len - 40) >> 8);
		pkt[5] = (uint8_t)(len - 40);
		pkt[6] = proto;
		pkt[7] = 64;
	} else {
		pkt[0] = 0x45;
		pkt[2] = (uint8_t)(len >> 8);
		pkt[3] = (uint8_t)len;
		pkt[8] = 64;
		pkt[9] = proto;
	}
}

/* The kernel's datagram: @vh (when the driver has vnet headers), then
 * @len bytes of @pkt. */
static void kernel_sends(const struct virtio_net_hdr *vh, const uint8_t *pkt,
			 size_t len)
{
	uint8_t *d = malloc(sizeof(*vh) + len);
	size_t off = tun.vnet_len ? sizeof(*vh) : 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	if (off)
		memcpy(d, vh, sizeof(*vh));
	memcpy(d + off, pkt, len);
	CU_ASSERT_FATAL(send(peer, d, off + len, 0) == (ssize_t)(off + len));
	free(d);
}

static ssize_t driver_reads(uint8_t *buf, size_t cap, unsigned *flags)
{
	*flags = 0xdead;
	return zr_tun_linux_ops.read(&tun, buf, cap, NULL, flags);
}

static void test_too_long(void)
{
	static uint8_t pkt[70000], buf[65536];
	struct virtio_net_hdr vh;
	unsigned flags;

	memset(&vh, 0, sizeof(vh));
	for (int vnet = 0; vnet <= 1; vnet++) {
		fake_open(vnet, false);
		/* longer than the buffer (an IPv6 payload length of 65535
		 * makes 65,575 bytes): dropped, never handed over cut */
		make_packet(pkt, 65575, true, 17);
		kernel_sends(&vh, pkt, 65575);
		CU_ASSERT_EQUAL(driver_reads(buf, sizeof(buf), &flags), -EMSGSIZE);
		/* also a plain one past a smaller buffer */
		make_packet(pkt, 1600, false, 17);
		kernel_sends(&vh, pkt, 1600);
		CU_ASSERT_EQUAL(driver_reads(buf, 1500, &flags), -EMSGSIZE);
		/* one that fills the buffer exactly is whole */
		make_packet(pkt, 1500, false, 17);
		kernel_sends(&vh, pkt, 1500);
		CU_ASSERT_EQUAL(driver_reads(buf, 1500, &flags), 1500);
		CU_ASSERT_EQUAL(flags, 0);
		CU_ASSERT_EQUAL(memcmp(buf, pkt, 1500), 0);
		/* the one too long was consumed: nothing else waits */
		CU_ASSERT_EQUAL(driver_reads(buf, sizeof(buf), &flags), -EAGAIN);
		fake_close();
	}
}

struct vnet_case {
	const char *what;
	struct virtio_net_hdr vh;  /* flags, gso_type, hdr_len, gso_size,
				    * csum_start, csum_offset */
	bool v6;
	uint8_t proto;
	bool uso;
	ssize_t want;          /* the read's result: the length, or -errno */
	unsigned want_flags;
};

#define PKT_LEN 3000u
#define CSUM_VALID ZT_INPUT_CSUM_VALID
#define PARTIAL VIRTIO_NET_HDR_F_NEEDS_CSUM
#define TCP4 VIRTIO_NET_HDR_GSO_TCPV4
#define TCP6 VIRTIO_NET_HDR_GSO_TCPV6
#define ECN VIRTIO_NET_HDR_GSO_ECN

static const struct vnet_case vnet_cases[] = {
	/* what the kernel makes (virtio_net_hdr_from_skb()) */
	{ "plain", { 0, 0, 0, 0, 0, 0 }, false, 6, false, PKT_LEN, 0 },
	{ "data valid", { VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0 }, false, 6,
	  false, PKT_LEN, CSUM_VALID },
	{ "partial", { PARTIAL, 0, 0, 0, 20, 16 }, false, 6, false, PKT_LEN,
	  CSUM_VALID },
	{ "tso4", { PARTIAL, TCP4, 54, 1448, 20, 16 }, false, 6, false, PKT_LEN,
	  CSUM_VALID },
	{ "tso4 with CWR", { PARTIAL, TCP4 | ECN, 54, 1448, 20, 16 }, false, 6,
	  false, PKT_LEN, CSUM_VALID },
	{ "tso6", { PARTIAL, TCP6, 74, 1428, 40, 16 }, true, 6, false, PKT_LEN,
	  CSUM_VALID },
	{ "tso6 with CWR", { PARTIAL, TCP6 | ECN, 74, 1428, 40, 16 }, true, 6,
	  false, PKT_LEN, CSUM_VALID },
	{ "hdr_len all of it", { PARTIAL, TCP4, PKT_LEN, 1448, 20, 16 }, false, 6,
	  false, PKT_LEN, CSUM_VALID },
	{ "uso", { PARTIAL, VNET_GSO_UDP_L4, 28, 1000, 20, 6 }, false, 17, true,
	  PKT_LEN, CSUM_VALID | ZT_TUN_UDP_GSO | 1000u << 16 },
	/* what it never makes: refused */
	{ "unknown gso type (UFO)", { PARTIAL, VIRTIO_NET_HDR_GSO_UDP, 28, 1000,
	  20, 6 }, false, 17, true, -EBADMSG, 0 },
	{ "unknown gso type 9", { PARTIAL, 9, 54, 1448, 20, 16 }, false, 6, false,
	  -EBADMSG, 0 },
	{ "ECN without gso", { PARTIAL, ECN, 0, 0, 20, 16 }, false, 6, false,
	  -EBADMSG, 0 },
	{ "ECN on uso", { PARTIAL, VNET_GSO_UDP_L4 | ECN, 28, 1000, 20, 6 }, false,
	  17, true, -EBADMSG, 0 },
	{ "uso not asked for", { PARTIAL, VNET_GSO_UDP_L4, 28, 1000, 20, 6 },
	  false, 17, false, -EBADMSG, 0 },
	{ "tso4 gso_size 0", { PARTIAL, TCP4, 54, 0, 20, 16 }, false, 6, false,
	  -EBADMSG, 0 },
	{ "uso gso_size 0", { PARTIAL, VNET_GSO_UDP_L4, 28, 0, 20, 6 }, false, 17,
	  true, -EBADMSG, 0 },
	{ "tso4 on IPv6", { PARTIAL, TCP4, 74, 1428, 40, 16 }, true, 6, false,
	  -EBADMSG, 0 },
	{ "tso6 on IPv4", { PARTIAL, TCP6, 54, 1448, 20, 16 }, false, 6, false,
	  -EBADMSG, 0 },
	{ "tso4 on UDP", { PARTIAL, TCP4, 28, 1448, 20, 6 }, false, 17, false,
	  -EBADMSG, 0 },
	{ "uso on TCP", { PARTIAL, VNET_GSO_UDP_L4, 54, 1000, 20, 16 }, false, 6,
	  true, -EBADMSG, 0 },
	{ "hdr_len past the end", { PARTIAL, TCP4, PKT_LEN + 1, 1448, 20, 16 },
	  false, 6, false, -EBADMSG, 0 },
	{ "csum_start past the end", { PARTIAL, 0, 0, 0, PKT_LEN, 16 }, false, 6,
	  false, -EBADMSG, 0 },
	{ "csum field past the end", { PARTIAL, 0, 0, 0, 20, PKT_LEN - 21 }, false,
	  6, false, -EBADMSG, 0 },
	{ "csum_start in the IP header", { PARTIAL, 0, 0, 0, 10, 16 }, false, 6,
	  false, -EBADMSG, 0 },
};

static void test_vnet_header(void)
{
	static uint8_t pkt[PKT_LEN], buf[65536];

	for (size_t i = 0; i < sizeof(vnet_cases) / sizeof(vnet_cases[0]); i++) {
		const struct vnet_case *c = &vnet_cases[i];
		unsigned flags;
		ssize_t n;

		fake_open(true, c->uso);
		make_packet(pkt, PKT_LEN, c->v6, c->proto);
		kernel_sends(&c->vh, pkt, PKT_LEN);
		n = driver_reads(buf, sizeof(buf), &flags);
		if (n != c->want || (n > 0 && flags != c->want_flags))
			fprintf(stderr, "\n  vnet case '%s': read %zd flags %#x\n",
				c->what, n, flags);
		CU_ASSERT_EQUAL(n, c->want);
		if (n > 0)
			CU_ASSERT_EQUAL(flags, c->want_flags);
		/* a refused one is consumed, not read again */
		CU_ASSERT_EQUAL(driver_reads(buf, sizeof(buf), &flags), -EAGAIN);
		fake_close();
	}
}

/* A TSO segment of the core's with TCP flags @tcp_flags, IPv4 or IPv6,
 * written with write_gso(): the virtio-net header the kernel gets. */
static struct virtio_net_hdr tso_written(bool v6, uint8_t tcp_flags)
{
	static uint8_t pkt[40 + 20 + 3000], got[sizeof(pkt) + 64];
	size_t iphl = v6 ? 40 : 20;
	struct zt_pkt_parts parts = { .hdr = pkt, .hdr_len = iphl + 20,
				      .d1 = pkt + iphl + 20, .l1 = 3000 };
	struct virtio_net_hdr vh;

	memset(&vh, 0, sizeof(vh));
	make_packet(pkt, iphl + 20 + 3000, v6, 6);
	pkt[iphl + 12] = 5 << 4;
	pkt[iphl + 13] = tcp_flags;
	CU_ASSERT_EQUAL(zr_tun_linux_ops.write_gso(&tun, &parts, 1000),
			(ssize_t)(iphl + 20 + 3000));
	CU_ASSERT_EQUAL(recv(peer, got, sizeof(got), 0),
			(ssize_t)(sizeof(vh) + iphl + 20 + 3000));
	memcpy(&vh, got, sizeof(vh));
	return vh;
}

/* The kernel cuts a TSO write; it puts CWR (RFC 3168: once, on the
 * first piece) right only when told by VIRTIO_NET_HDR_GSO_ECN: without
 * it a device with TSO but no TSO_ECN gets the whole segment, CWR and
 * all, to cut as it may. */
static void test_tso_write_cwr(void)
{
	fake_open(true, true);
	for (int v6 = 0; v6 <= 1; v6++) {
		uint8_t want = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		struct virtio_net_hdr vh = tso_written(v6, 0x10 | 0x08);

		CU_ASSERT_EQUAL(vh.gso_type, want);
		CU_ASSERT_EQUAL(vh.gso_size, 1000);
		vh = tso_written(v6, 0x80 | 0x10);  /* CWR | ACK */
		CU_ASSERT_EQUAL(vh.gso_type, want | VIRTIO_NET_HDR_GSO_ECN);
		vh = tso_written(v6, 0x40 | 0x10);  /* ECE alone: no CWR */
		CU_ASSERT_EQUAL(vh.gso_type, want);
	}
	fake_close();
}

int zt_suite_tun_linux(void)
{
	static const struct zt_test_case cases[] = {
		{ "packet longer than the buffer", test_too_long },
		{ "virtio-net header checks", test_vnet_header },
		{ "TSO write with CWR", test_tso_write_cwr },
		{ 0 }
	};

	return zt_add_suite("tun_linux", NULL, NULL, cases);
}
