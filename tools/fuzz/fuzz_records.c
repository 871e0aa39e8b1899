// SPDX-License-Identifier: MIT
/*
 * fuzz_records.c - libFuzzer target: the whole core (router, stack, TCP,
 * SOCKS5/HTTP clients, NAT) driven by typed records (sim/engine/fuzzrec.h).
 *
 * Theory of operation: each input runs on a fresh router with the default
 * caps (virtual time, events); checksums of TUN packets are fixed up and
 * the invariants abort() when broken (both from ZT_FUZZING).
 */
#include <stddef.h>
#include <stdint.h>

#include "engine/fuzzrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_replay_limits lim;

	zt_replay_limits_default(&lim);
	lim.max_events = 50000; /* keep each input well under a second */
	(void)zt_replay_records(data, size, &lim, NULL);
	return 0;
}
