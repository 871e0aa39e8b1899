/* SPDX-License-Identifier: MIT */
/*
 * test_resolve.c - ztun-ref's proxy name lookups (sim/real/resolve.c):
 * the pick (an IPv4 address where there is one), and the lookup in a
 * thread: one at a time, its results taken once its eventfd is readable,
 * and a lookup let go while it runs freed by its thread (no leak under
 * LeakSanitizer). Only numeric names: nothing here asks a resolver.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "real/resolve.h"
#include "test.h"

static void test_pick(void)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

	CU_ASSERT_EQUAL_FATAL(zr_resolve_name("127.0.0.1", &ss), 0);
	CU_ASSERT_EQUAL(ss.ss_family, AF_INET);
	CU_ASSERT_EQUAL(in->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	CU_ASSERT_EQUAL(in->sin_port, 0);
	CU_ASSERT_NOT_EQUAL(zr_resolve_name("", &ss), 0);
}

static void test_thread(void)
{
	static const char *const names[] = { "127.0.0.1", "127.0.0.2" };
	struct zr_resolver rs = { .cur = NULL };
	struct zr_resolve_job job[ZR_RESOLVE_MAX];
	struct pollfd pfd;
	const struct sockaddr_in *in;

	CU_ASSERT_EQUAL(zr_resolver_fd(&rs), -1);
	CU_ASSERT_EQUAL(zr_resolver_take(&rs, job), 0);
	CU_ASSERT_EQUAL(zr_resolver_start(&rs, names, 3), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(zr_resolver_start(&rs, names, 2), 0);
	CU_ASSERT_EQUAL(zr_resolver_start(&rs, names, 2), -EBUSY);
	pfd.fd = zr_resolver_fd(&rs);
	pfd.events = POLLIN;
	CU_ASSERT_FATAL(pfd.fd >= 0);
	CU_ASSERT_EQUAL_FATAL(poll(&pfd, 1, 10000), 1);
	CU_ASSERT_EQUAL_FATAL(zr_resolver_take(&rs, job), 2);
	CU_ASSERT_STRING_EQUAL(job[0].name, "127.0.0.1");
	CU_ASSERT_EQUAL(job[0].err, 0);
	CU_ASSERT_EQUAL(job[1].err, 0);
	CU_ASSERT_EQUAL(job[1].addr.ss_family, AF_INET);
	in = (const struct sockaddr_in *)&job[1].addr;
	CU_ASSERT_EQUAL(in->sin_addr.s_addr, htonl(0x7f000002));
	CU_ASSERT_EQUAL(zr_resolver_fd(&rs), -1); /* taken: idle again */
	/* let a lookup go at once: its thread frees it when it ends */
	CU_ASSERT_EQUAL_FATAL(zr_resolver_start(&rs, names, 1), 0);
	zr_resolver_free(&rs);
	CU_ASSERT_EQUAL(zr_resolver_fd(&rs), -1);
	usleep(100 * 1000); /* let it end before the leak check at exit */
}

int zt_suite_resolve(void)
{
	static const struct zt_test_case cases[] = {
		{ "the address picked", test_pick },
		{ "a lookup in a thread", test_thread },
		{ 0 },
	};

	return zt_add_suite("resolve", NULL, NULL, cases);
}
