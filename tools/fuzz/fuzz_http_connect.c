// SPDX-License-Identifier: MIT
/*
 * fuzz_http_connect.c - libFuzzer target: the HTTP CONNECT client's
 * response parser fed hostile proxy bytes.
 *
 * Theory of operation: input byte 0 picks the bound on the response head
 * (0: the default 16 KiB, else 16 * byte), byte 1 the size of the pieces
 * the rest is fed in (1..32). The machine must consume everything while in
 * progress, never more than it was given, and never more head than its
 * bound.
 */
#include <stdlib.h>

#include "ztun/http_connect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t ip4[4] = { 203, 0, 113, 7 };
	struct zt_http_connect h;
	struct zt_addr a = zt_addr_v4(ip4);
	uint8_t req[ZT_HTTP_CONNECT_REQUEST_MAX];
	size_t off = 2, consumed, max;
	uint8_t step;
	int st;

	if (size < 2)
		return 0;
	max = data[0] ? (size_t)data[0] * 16 : 0;
	step = (uint8_t)(data[1] % 32 + 1);
	zt_http_connect_init(&h, max);
	zt_http_connect_set_target_addr(&h, &a, 443);
	if (data[0] & 1)
		zt_http_connect_set_auth(&h, "user", 4, "secret", 6);
	if (zt_http_connect_request(&h, req, sizeof(req)) < 0)
		abort();
	while (off < size) {
		size_t n = size - off < step ? size - off : step;

		consumed = 0;
		st = zt_http_connect_input(&h, data + off, n, &consumed);
		if (consumed > n || h.total > h.max_header)
			abort();
		if (st == ZT_HTTP_CONNECT_IN_PROGRESS && consumed != n)
			abort();
		if (st != ZT_HTTP_CONNECT_IN_PROGRESS)
			break;
		off += n;
	}
	(void)zt_http_connect_outcome_name(zt_http_connect_outcome(&h));
	(void)zt_http_connect_refuse(zt_http_connect_outcome(&h));
	return 0;
}
