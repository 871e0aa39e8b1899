/* SPDX-License-Identifier: MIT */
/*
 * test_http_connect.c - the HTTP CONNECT client: request bytes written out
 * by hand, responses whole, byte by byte and split at every position (each
 * piece an exactly sized heap copy so ASan sees any over-read), the header
 * bound against a 1 MB head, malformed status lines, a split-invariance
 * property on seeded garbage, and base64 against the RFC 4648 10 vectors
 * and a decoder written here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ztun/http_connect.h"
#include "ztun/rng.h"

static void target(struct zt_http_connect *h, size_t max_header)
{
	zt_http_connect_init(h, max_header);
	CU_ASSERT_EQUAL_FATAL(zt_http_connect_set_target_name(h, "example.com",
							      11, 443), 0);
}

/* Feed @len bytes in pieces of @step (0: whole), each an exact heap copy.
 * Return the state; *total is the sum of what was consumed. */
static int run(struct zt_http_connect *h, const uint8_t *in, size_t len,
	       size_t step, size_t *total)
{
	size_t p = 0;
	int rc = h->state;

	*total = 0;
	if (!step)
		step = len ? len : 1;
	while (p < len && rc == ZT_HTTP_CONNECT_IN_PROGRESS) {
		size_t n = len - p < step ? len - p : step, used;
		uint8_t *copy = zt_test_dup_exact(in + p, n);

		rc = zt_http_connect_input(h, copy, n, &used);
		free(copy);
		CU_ASSERT(used <= n);
		if (rc == ZT_HTTP_CONNECT_IN_PROGRESS)
			CU_ASSERT_EQUAL(used, n);
		*total += used;
		p += n;
	}
	return rc;
}

static void expect_request(const struct zt_http_connect *h, const char *want)
{
	uint8_t out[ZT_HTTP_CONNECT_REQUEST_MAX];
	int n = zt_http_connect_request(h, out, sizeof(out));

	CU_ASSERT_EQUAL_FATAL(n, (int)strlen(want));
	CU_ASSERT(memcmp(out, want, (size_t)n) == 0);
	/* One byte short: refused. */
	CU_ASSERT_EQUAL(zt_http_connect_request(h, out, (size_t)n - 1), -ENOSPC);
}

static void test_request_bytes(void)
{
	struct zt_http_connect h;
	struct zt_addr a;
	char big[300];

	target(&h, 0);
	expect_request(&h, "CONNECT example.com:443 HTTP/1.1\r\n"
			   "Host: example.com:443\r\n\r\n");
	/* RFC 7617 2 example credentials. */
	CU_ASSERT_EQUAL(zt_http_connect_set_auth(&h, "Aladdin", 7, "open sesame", 11), 0);
	expect_request(&h, "CONNECT example.com:443 HTTP/1.1\r\n"
			   "Host: example.com:443\r\n"
			   "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");

	zt_http_connect_init(&h, 0);
	CU_ASSERT_EQUAL(zt_addr_parse("2001:db8::1", &a), 0);
	CU_ASSERT_EQUAL(zt_http_connect_set_target_addr(&h, &a, 8443), 0);
	expect_request(&h, "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n"
			   "Host: [2001:db8::1]:8443\r\n\r\n");
	CU_ASSERT_EQUAL(zt_addr_parse("192.0.2.1", &a), 0);
	CU_ASSERT_EQUAL(zt_http_connect_set_target_addr(&h, &a, 0), 0);
	expect_request(&h, "CONNECT 192.0.2.1:0 HTTP/1.1\r\n"
			   "Host: 192.0.2.1:0\r\n\r\n");
	CU_ASSERT_EQUAL(zt_http_connect_set_target_addr(&h, &a, 65535), 0);
	CU_ASSERT_EQUAL(zt_http_connect_set_auth(&h, "u", 1, "", 0), 0);
	expect_request(&h, "CONNECT 192.0.2.1:65535 HTTP/1.1\r\n"
			   "Host: 192.0.2.1:65535\r\n"
			   "Proxy-Authorization: Basic dTo=\r\n\r\n");

	/* Longest everything still fits REQUEST_MAX. */
	memset(big, 'a', sizeof(big));
	zt_http_connect_init(&h, 0);
	CU_ASSERT_EQUAL(zt_http_connect_set_target_name(&h, big, 255, 65535), 0);
	CU_ASSERT_EQUAL(zt_http_connect_set_auth(&h, big, 255, big, 255), 0);
	{
		uint8_t out[ZT_HTTP_CONNECT_REQUEST_MAX];

		CU_ASSERT(zt_http_connect_request(&h, out, sizeof(out)) > 0);
	}

	/* Refused configuration. */
	zt_http_connect_init(&h, 0);
	{
		uint8_t out[64];

		CU_ASSERT_EQUAL(zt_http_connect_request(&h, out, sizeof(out)),
				-EDESTADDRREQ);
	}
	CU_ASSERT_EQUAL(zt_http_connect_set_target_name(&h, big, 256, 1), -EINVAL);
	CU_ASSERT_EQUAL(zt_http_connect_set_target_name(&h, big, 0, 1), -EINVAL);
	CU_ASSERT_EQUAL(zt_http_connect_set_target_name(&h, "a\r\nX: y", 7, 1), -EINVAL);
	CU_ASSERT_EQUAL(zt_http_connect_set_target_name(&h, "a b", 3, 1), -EINVAL);
	CU_ASSERT_EQUAL(zt_http_connect_set_target_name(&h, "a:1", 3, 1), -EINVAL);
	CU_ASSERT_EQUAL(zt_http_connect_set_auth(&h, "a:b", 3, "c", 1), -EINVAL);
	CU_ASSERT_EQUAL(zt_http_connect_set_auth(&h, "a", 1, "c\n", 2), -EINVAL);
	CU_ASSERT_EQUAL(zt_http_connect_set_auth(&h, "", 0, "c", 1), -EINVAL);
	CU_ASSERT_EQUAL(zt_http_connect_set_auth(&h, "a", 1, "b:c", 3), 0);
}

struct resp_case {
	const char *text;
	int state;
	enum zt_http_connect_outcome outcome;
	unsigned status;
};

static void check_case(const struct resp_case *rc, size_t step)
{
	struct zt_http_connect h;
	size_t total, len = strlen(rc->text);
	/* A failing status fails at the end of its status line; a 2xx is
	 * consumed up to the blank line. */
	const char *end = strchr(rc->text, '\n') + 1, *blank = rc->text;
	size_t want;

	/* ... after the last blank line (interim responses come first). */
	while (rc->state == ZT_HTTP_CONNECT_READY &&
	       (blank = strstr(blank, "\r\n\r\n")) != NULL) {
		end = blank + 4;
		blank++;
	}
	want = (size_t)(end - rc->text);
	target(&h, 0);
	CU_ASSERT_EQUAL(run(&h, (const uint8_t *)rc->text, len, step, &total),
			rc->state);
	CU_ASSERT_EQUAL(zt_http_connect_outcome(&h), rc->outcome);
	CU_ASSERT_EQUAL(h.status, rc->status);
	CU_ASSERT_EQUAL(total, want);
}

static void test_statuses(void)
{
	static const struct resp_case cases[] = {
		{ "HTTP/1.1 200 Connection established\r\n\r\nTUNNEL",
		  ZT_HTTP_CONNECT_READY, ZT_HTTP_CONNECT_OK, 200 },
		{ "HTTP/1.0 200 OK\r\nProxy-Agent: x/1\r\nVia: 1.1 p\r\n\r\n\x16\x03\x01",
		  ZT_HTTP_CONNECT_READY, ZT_HTTP_CONNECT_OK, 200 },
		{ "HTTP/1.1 204\r\n\r\n", ZT_HTTP_CONNECT_READY, ZT_HTTP_CONNECT_OK, 204 },
		/* a 2xx to CONNECT has no body (RFC 9112 6.3): its framing
		 * headers are ignored, what follows the blank line is tunnel */
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
		  "Transfer-Encoding: chunked\r\n\r\nhello",
		  ZT_HTTP_CONNECT_READY, ZT_HTTP_CONNECT_OK, 200 },
		{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nX",
		  ZT_HTTP_CONNECT_READY, ZT_HTTP_CONNECT_OK, 200 },
		{ "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
		  ZT_HTTP_CONNECT_FAILED, ZT_HTTP_CONNECT_FORBIDDEN, 403 },
		{ "HTTP/1.1 407 Proxy Authentication Required\r\n"
		  "Proxy-Authenticate: Basic realm=\"p\"\r\n\r\n",
		  ZT_HTTP_CONNECT_FAILED, ZT_HTTP_CONNECT_AUTH_REQUIRED, 407 },
		{ "HTTP/1.1 502 Bad Gateway\r\n\r\n",
		  ZT_HTTP_CONNECT_FAILED, ZT_HTTP_CONNECT_BAD_GATEWAY, 502 },
		{ "HTTP/1.1 504 Gateway Timeout\r\n\r\n",
		  ZT_HTTP_CONNECT_FAILED, ZT_HTTP_CONNECT_GATEWAY_TIMEOUT, 504 },
		{ "HTTP/1.1 503 Service Unavailable\r\n\r\n",
		  ZT_HTTP_CONNECT_FAILED, ZT_HTTP_CONNECT_HTTP_ERROR, 503 },
		{ "HTTP/1.1 404 Not Found\r\n\r\n",
		  ZT_HTTP_CONNECT_FAILED, ZT_HTTP_CONNECT_HTTP_ERROR, 404 },
		{ "HTTP/1.1 301 Moved\r\n\r\n",
		  ZT_HTTP_CONNECT_FAILED, ZT_HTTP_CONNECT_HTTP_ERROR, 301 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_case(&cases[i], 0);
		check_case(&cases[i], 1);
		check_case(&cases[i], 3);
	}
}

static void test_bare_lf(void)
{
	static const char r[] = "HTTP/1.1 200 OK\nServer: x\n\nDATA";
	struct zt_http_connect h;
	size_t total;

	for (size_t step = 0; step < 3; step++) {
		target(&h, 0);
		CU_ASSERT_EQUAL(run(&h, (const uint8_t *)r, sizeof(r) - 1, step, &total),
				ZT_HTTP_CONNECT_READY);
		CU_ASSERT_EQUAL(total, sizeof(r) - 1 - 4);
	}
	/* A lone CR inside a header line is content, not a line end. */
	{
		static const char r2[] = "HTTP/1.1 200 OK\r\nA: \r\r\n\r\nZ";

		target(&h, 0);
		CU_ASSERT_EQUAL(run(&h, (const uint8_t *)r2, sizeof(r2) - 1, 1, &total),
				ZT_HTTP_CONNECT_READY);
		CU_ASSERT_EQUAL(total, sizeof(r2) - 2);
	}
}

static void test_split_every_position(void)
{
	static const char r[] =
		"HTTP/1.1 200 Connection established\r\n"
		"Proxy-Agent: tinyproxy/1.11\r\n"
		"X-Empty:\r\n"
		"Via: 1.1 proxy\r\n"
		"\r\n"
		"\x16\x03\x01\x00\x05hello";
	const size_t len = sizeof(r) - 1, head = len - 10;

	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b += 7) {
			struct zt_http_connect h;
			const size_t cuts[4] = { 0, a, b, len };
			size_t total = 0;
			int rc = ZT_HTTP_CONNECT_IN_PROGRESS;

			target(&h, 0);
			for (int k = 0; k < 3 && rc == ZT_HTTP_CONNECT_IN_PROGRESS; k++) {
				if (k == 2) {
					/* Bytes [0, b) in two pieces: ready iff the
					 * whole head is in. */
					CU_ASSERT_EQUAL_FATAL(rc, ZT_HTTP_CONNECT_IN_PROGRESS);
					CU_ASSERT_FATAL(b < head);
					CU_ASSERT_EQUAL_FATAL(total, b);
				}
				size_t n = cuts[k + 1] - cuts[k], used;
				uint8_t *copy = zt_test_dup_exact((const uint8_t *)r + cuts[k], n);

				rc = zt_http_connect_input(&h, copy, n, &used);
				free(copy);
				CU_ASSERT_FATAL(used <= n);
				total += used;
				/* Tunnel data is never consumed. */
				CU_ASSERT_FATAL(cuts[k] + used <= head);
			}
			CU_ASSERT_EQUAL_FATAL(rc, ZT_HTTP_CONNECT_READY);
			CU_ASSERT_EQUAL_FATAL(total, head);
		}
	}
}

static void test_header_bound(void)
{
	const size_t mb = 1 << 20;
	uint8_t *big = malloc(mb);
	static const char status[] = "HTTP/1.1 200 OK\r\n";
	struct zt_http_connect h;
	size_t total;

	CU_ASSERT_FATAL(big != NULL);
	memcpy(big, status, sizeof(status) - 1);
	for (size_t i = sizeof(status) - 1; i < mb; i++)
		big[i] = (i % 64 == 63) ? '\n' : 'x';
	/* Whole, in 4 KiB reads and with a small custom bound. */
	target(&h, 0);
	CU_ASSERT_EQUAL(run(&h, big, mb, 0, &total), ZT_HTTP_CONNECT_FAILED);
	CU_ASSERT_EQUAL(zt_http_connect_outcome(&h), ZT_HTTP_CONNECT_HEADERS_TOO_LARGE);
	CU_ASSERT(total <= ZT_HTTP_CONNECT_MAX_HEADER_DEFAULT);
	CU_ASSERT_EQUAL(h.total, total);
	target(&h, 0);
	CU_ASSERT_EQUAL(run(&h, big, mb, 4096, &total), ZT_HTTP_CONNECT_FAILED);
	CU_ASSERT(total <= ZT_HTTP_CONNECT_MAX_HEADER_DEFAULT);
	target(&h, 100);
	CU_ASSERT_EQUAL(run(&h, big, mb, 1, &total), ZT_HTTP_CONNECT_FAILED);
	CU_ASSERT_EQUAL(zt_http_connect_outcome(&h), ZT_HTTP_CONNECT_HEADERS_TOO_LARGE);
	CU_ASSERT(total <= 100);
	/* A status line alone longer than the bound. */
	memcpy(big, status, sizeof(status) - 3);
	memset(big + sizeof(status) - 3, 'r', mb - sizeof(status));
	target(&h, 0);
	CU_ASSERT_EQUAL(run(&h, big, mb, 0, &total), ZT_HTTP_CONNECT_FAILED);
	CU_ASSERT_EQUAL(zt_http_connect_outcome(&h), ZT_HTTP_CONNECT_HEADERS_TOO_LARGE);
	CU_ASSERT(total <= ZT_HTTP_CONNECT_MAX_HEADER_DEFAULT);
	free(big);

	/* A head of exactly the bound passes; one byte more does not. */
	{
		static const char r[] = "HTTP/1.1 200 OK\r\nA: bc\r\n\r\nT";
		const size_t head = sizeof(r) - 2;

		target(&h, head);
		CU_ASSERT_EQUAL(run(&h, (const uint8_t *)r, sizeof(r) - 1, 0, &total),
				ZT_HTTP_CONNECT_READY);
		CU_ASSERT_EQUAL(total, head);
		target(&h, head - 1);
		CU_ASSERT_EQUAL(run(&h, (const uint8_t *)r, sizeof(r) - 1, 1, &total),
				ZT_HTTP_CONNECT_FAILED);
		CU_ASSERT_EQUAL(zt_http_connect_outcome(&h),
				ZT_HTTP_CONNECT_HEADERS_TOO_LARGE);
		CU_ASSERT_EQUAL(total, head - 1);
	}
}

static void test_malformed_status(void)
{
	static const char *const bad[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"http/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1  200 OK\r\n\r\n",
		"HTTP/1.1 099 x\r\n\r\n",
		"HTTP/1.1 600 x\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.x 200 OK\r\n\r\n",
		"HTTP/1.1 200 O\x01K\r\n\r\n",
		"HTTP/1.1 200 OK\rX\n\r\n",
		"HTTP/1.1 200\r\r\n\r\n",
		"SSH-2.0-OpenSSH_9.6\r\n",
		"\r\nHTTP/1.1 200 OK\r\n\r\n",
		"\x05\x00",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (size_t step = 0; step < 2; step++) {
			struct zt_http_connect h;
			size_t total;

			target(&h, 0);
			CU_ASSERT_EQUAL(run(&h, (const uint8_t *)bad[i], strlen(bad[i]),
					    step, &total), ZT_HTTP_CONNECT_FAILED);
			CU_ASSERT_EQUAL(zt_http_connect_outcome(&h),
					ZT_HTTP_CONNECT_MALFORMED);
			CU_ASSERT(total <= strlen(bad[i]));
		}
	}
	/* A tab in the reason phrase and obs-text are fine. */
	{
		static const char ok[] = "HTTP/1.1 200 O\tK \xe9\r\n\r\n";
		struct zt_http_connect h;
		size_t total;

		target(&h, 0);
		CU_ASSERT_EQUAL(run(&h, (const uint8_t *)ok, sizeof(ok) - 1, 1, &total),
				ZT_HTTP_CONNECT_READY);
	}
}

static void test_garbage_split_invariant(void)
{
	static const char *const prefixes[] = {
		"", "HTTP/1.1 ", "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nA: b\r\n",
	};
	struct zt_rng rng;
	uint8_t s[400];

	zt_rng_seed(&rng, zt_test_seed(0x4771));
	for (int iter = 0; iter < 20000; iter++) {
		const char *pre = prefixes[zt_rng_below(&rng, 4)];
		size_t pl = strlen(pre), len = pl + zt_rng_below(&rng, sizeof(s) - pl);
		size_t bound = 64 + zt_rng_below(&rng, 400);
		struct zt_http_connect whole, split;
		size_t t1, t2;
		int r1, r2;

		memcpy(s, pre, pl);
		for (size_t i = pl; i < len; i++) {
			/* Garbage biased towards the bytes that matter. */
			static const char hot[] = "\r\n\r\n: HTTP/1.12";
			uint32_t k = zt_rng_below(&rng, 3);

			s[i] = k ? (uint8_t)hot[zt_rng_below(&rng, sizeof(hot) - 1)] :
				   (uint8_t)zt_rng_next(&rng);
		}
		zt_http_connect_init(&whole, bound);
		zt_http_connect_init(&split, bound);
		zt_http_connect_set_target_name(&whole, "h", 1, 1);
		zt_http_connect_set_target_name(&split, "h", 1, 1);
		r1 = run(&whole, s, len, 0, &t1);
		r2 = run(&split, s, len, 1 + zt_rng_below(&rng, 8), &t2);
		CU_ASSERT_EQUAL_FATAL(r1, r2);
		CU_ASSERT_EQUAL_FATAL(t1, t2);
		CU_ASSERT_EQUAL_FATAL(whole.outcome, split.outcome);
		CU_ASSERT_FATAL(t1 <= bound && t1 <= len);
		if (r1 == ZT_HTTP_CONNECT_READY) {
			/* Ready only right after an empty line. */
			CU_ASSERT_FATAL(t1 >= 2 && s[t1 - 1] == '\n');
			CU_ASSERT_FATAL(s[t1 - 2] == '\n' ||
					(t1 >= 3 && s[t1 - 2] == '\r' && s[t1 - 3] == '\n'));
		}
	}
}

static void test_refuse_and_names(void)
{
	CU_ASSERT_EQUAL(zt_http_connect_refuse(ZT_HTTP_CONNECT_FORBIDDEN),
			ZT_REFUSE_ADMIN_PROHIBITED);
	CU_ASSERT_EQUAL(zt_http_connect_refuse(ZT_HTTP_CONNECT_BAD_GATEWAY),
			ZT_REFUSE_HOST_UNREACH);
	CU_ASSERT_EQUAL(zt_http_connect_refuse(ZT_HTTP_CONNECT_GATEWAY_TIMEOUT),
			ZT_REFUSE_HOST_UNREACH);
	CU_ASSERT_EQUAL(zt_http_connect_refuse(ZT_HTTP_CONNECT_AUTH_REQUIRED), ZT_REFUSE_RST);
	CU_ASSERT_EQUAL(zt_http_connect_refuse(ZT_HTTP_CONNECT_HTTP_ERROR), ZT_REFUSE_RST);
	CU_ASSERT_EQUAL(zt_http_connect_refuse(ZT_HTTP_CONNECT_MALFORMED), ZT_REFUSE_RST);
	CU_ASSERT_EQUAL(zt_http_connect_refuse(ZT_HTTP_CONNECT_HEADERS_TOO_LARGE),
			ZT_REFUSE_RST);
	CU_ASSERT_EQUAL(zt_refuse_icmp_code(ZT_REFUSE_ADMIN_PROHIBITED, ZT_AF_INET), 13);
	CU_ASSERT_EQUAL(zt_refuse_icmp_code(ZT_REFUSE_HOST_UNREACH, ZT_AF_INET6), 3);
	for (int o = 0; o < ZT_HTTP_CONNECT__COUNT; o++) {
		CU_ASSERT_STRING_NOT_EQUAL(zt_http_connect_outcome_name(o), "unknown");
		for (int p = 0; p < o; p++)
			CU_ASSERT_STRING_NOT_EQUAL(zt_http_connect_outcome_name(o),
						   zt_http_connect_outcome_name(p));
	}
}

/* Base64 decoder for the round trip: -1 on anything invalid. */
static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

static long b64_decode(const char *s, size_t n, uint8_t *out)
{
	size_t o = 0;

	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];

		for (int k = 0; k < 4; k++)
			v[k] = s[i + k] == '=' && i + 4 == n && k >= 2 ? 0 :
							b64_value(s[i + k]);
		if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
			return -1;
		out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (s[i + 2] != '=')
			out[o++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
		if (s[i + 3] != '=')
			out[o++] = (uint8_t)(v[2] << 6 | v[3]);
	}
	return (long)o;
}

static void test_base64(void)
{
	/* RFC 4648 section 10. */
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	struct zt_rng rng;
	char out[64];
	uint8_t in[40], back[40];

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t il = strlen(vec[i][0]), ol = strlen(vec[i][1]);

		CU_ASSERT_EQUAL(zt_base64_encode(vec[i][0], il, out, sizeof(out)), (int)ol);
		CU_ASSERT_STRING_EQUAL(out, vec[i][1]);
		CU_ASSERT_EQUAL(zt_base64_encode(vec[i][0], il, out, ol + 1), (int)ol);
		CU_ASSERT_EQUAL(zt_base64_encode(vec[i][0], il, out, ol), -ENOSPC);
	}
	zt_rng_seed(&rng, zt_test_seed(0xb64));
	for (int iter = 0; iter < 2000; iter++) {
		size_t n = zt_rng_below(&rng, sizeof(in) + 1);
		char *exact = malloc((n + 2) / 3 * 4 + 1);
		long dl;
		int ol;

		CU_ASSERT_FATAL(exact != NULL);
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)zt_rng_next(&rng);
		ol = zt_base64_encode(in, n, exact, (n + 2) / 3 * 4 + 1);
		dl = ol < 0 ? -1 : b64_decode(exact, (size_t)ol, back);
		free(exact);
		CU_ASSERT_EQUAL_FATAL(ol, (int)((n + 2) / 3 * 4));
		CU_ASSERT_EQUAL_FATAL(dl, (long)n);
		CU_ASSERT_FATAL(memcmp(in, back, n) == 0);
	}
}

int zt_suite_http_connect(void)
{
	static const struct zt_test_case cases[] = {
		{ "request_bytes", test_request_bytes },
		{ "statuses", test_statuses },
		{ "bare_lf", test_bare_lf },
		{ "split_every_position", test_split_every_position },
		{ "header_bound", test_header_bound },
		{ "malformed_status", test_malformed_status },
		{ "garbage_split_invariant", test_garbage_split_invariant },
		{ "refuse_and_names", test_refuse_and_names },
		{ "base64", test_base64 },
		{ 0 },
	};

	return zt_add_suite("http_connect", NULL, NULL, cases);
}
