// SPDX-License-Identifier: MIT
/*
 * fuzz_socks5.c - libFuzzer target: the SOCKS5 client fed hostile proxy
 * bytes, and the SOCKS5 UDP decapsulation.
 *
 * Theory of operation: input byte 0 picks the handshake (bit 0: UDP
 * ASSOCIATE, else CONNECT; bit 1: username/password offered; bit 2: a
 * domain target; bit 3: no target for UDP ASSOCIATE; bit 4: pipelined,
 * and then the machine must never write again), byte 1 the size of
 * the pieces the rest is fed in (1..16, so every split is tried). The
 * rest is the proxy's reply stream. Whatever the machine writes is
 * checked against the room it was promised; after READY the relay
 * endpoint is derived, refused exactly when no_relay() says. The whole
 * input is also unwrapped as a SOCKS5 UDP datagram, from an
 * exactly-sized copy (ASan sees any over-read).
 */
#include <stdlib.h>
#include <string.h>

#include "ztun/socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether socks5.h says BND @b names no relay, read apart from its
 * code: BND.PORT 0, or an address no host has (multicast, IPv4 class E
 * and broadcast, 0/8 but 0.0.0.0), an IPv4-mapped one as what it maps;
 * a loopback, unspecified or domain BND.ADDR stands for the proxy. */
static bool no_relay(const struct zt_socks5_addr *b)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	const uint8_t *v4 = b->ip.bytes;

	if (b->port == 0)
		return true;
	if (b->atyp == ZT_SOCKS5_ATYP_DOMAIN)
		return false;
	if (b->atyp == ZT_SOCKS5_ATYP_IPV6) {
		if (memcmp(b->ip.bytes, mapped, sizeof(mapped)) != 0)
			return b->ip.bytes[0] == 0xff;
		v4 += 12;
	}
	if (!v4[0] && !v4[1] && !v4[2] && !v4[3])
		return false;
	return v4[0] == 0 || v4[0] >= 224;
}

static void handshake(const uint8_t *data, size_t size)
{
	static const uint8_t ip4[4] = { 203, 0, 113, 7 };
	struct zt_socks5 c;
	struct zt_socks5_addr target, relay;
	struct zt_addr proxy = zt_addr_v4(ip4);
	struct zt_endpoint proxy_ep = { .addr = proxy, .port = 1080 };
	uint8_t out[ZT_SOCKS5_PIPELINED_MAX];
	uint8_t mode, step;
	size_t off = 2, out_len, consumed;
	int st;

	if (size < 2)
		return;
	mode = data[0];
	step = (uint8_t)(data[1] % 16 + 1);
	zt_socks5_init(&c, (mode & 1) ? ZT_SOCKS5_CMD_UDP_ASSOCIATE :
					ZT_SOCKS5_CMD_CONNECT);
	if (mode & 4)
		zt_socks5_addr_name(&target, "example.test", 12, 443);
	else
		zt_socks5_addr_ip(&target, &proxy, 80);
	if (!((mode & 1) && (mode & 8)))
		zt_socks5_set_target(&c, &target);
	if (mode & 2)
		zt_socks5_set_auth(&c, "user", 4, "secret", 6);
	if (mode & 16)
		zt_socks5_set_pipelined(&c);
	if (zt_socks5_start(&c, out, sizeof(out)) < 0)
		abort();
	while (off < size) {
		size_t n = size - off < step ? size - off : step;

		out_len = consumed = 0;
		st = zt_socks5_input(&c, data + off, n, out, sizeof(out), &out_len,
				     &consumed);
		if (st < 0 || out_len > sizeof(out) || consumed > n)
			abort();
		if ((mode & 16) && out_len)
			abort(); /* pipelined: everything went with the greeting */
		if (st == ZT_SOCKS5_IN_PROGRESS && consumed != n)
			abort();
		if (st != ZT_SOCKS5_IN_PROGRESS)
			break;
		off += n;
	}
	/* READY after UDP ASSOCIATE: a relay, unless socks5.h's contract
	 * refuses one */
	if (c.state == ZT_SOCKS5_READY && c.cmd == ZT_SOCKS5_CMD_UDP_ASSOCIATE &&
	    (zt_socks5_relay_endpoint(&c, &proxy_ep, &relay) != 0) !=
		    no_relay(&c.bnd))
		abort();
	(void)zt_socks5_outcome_name(zt_socks5_outcome(&c));
	(void)zt_socks5_refuse(zt_socks5_outcome(&c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_socks5_addr from;
	struct zt_view payload;
	uint8_t *copy;

	handshake(data, size);
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	if (zt_socks5_udp_unwrap(copy, size, &from, &payload) == ZT_SOCKS5_UDP_OK &&
	    (payload.data < copy || payload.data + payload.len > copy + size))
		abort();
	free(copy);
	return 0;
}
