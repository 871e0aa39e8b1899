// SPDX-License-Identifier: MIT
/*
 * fuzz_records.c - libFuzzer target: the whole core (router, stack, TCP,
 * SOCKS5/HTTP clients, NAT) driven by typed records (sim/engine/fuzzrec.h).
 *
 * Theory of operation: each input runs on a fresh router with the default
 * caps (virtual time, events). Checksums of TUN packets are fixed up and a
 * broken invariant abort()s in every build, as the CUnit replay of the
 * corpus runs them: in fuzz builds (ZT_FUZZING) zt_replay_records() aborts
 * by itself; elsewhere (the afl_driver.c replayer of `make check` and
 * tools/valgrind.sh) the outcome's violation count is checked here, so an
 * input behaves the same under libFuzzer, AFL++ and a plain replay.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/fuzzrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_replay_limits lim;
	struct zt_replay_outcome o;

	zt_replay_limits_default(&lim);
	lim.fix_checksums = true;
	lim.max_events = 50000; /* keep each input well under a second */
	(void)zt_replay_records(data, size, &lim, &o);
	if (o.violations) {
		fprintf(stderr, "fuzz_records: invariant violated: %s\n",
			o.first_violation);
		abort();
	}
	return 0;
}
