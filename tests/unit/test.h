/* SPDX-License-Identifier: MIT */
/*
 * test.h - shared helpers for the CUnit suites.
 *
 * Each tests/unit/test_<name>.c defines `int zt_suite_<name>(void)` that adds
 * its suite and tests to the registry (returning 0, or -1 on a CUnit error),
 * and gets a line SUITE(<name>) in suites.def.
 */
#ifndef ZTUN_TEST_H
#define ZTUN_TEST_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdint.h>

/* Add suite @name with tests given as {"name", fn} pairs ending in {0}. */
struct zt_test_case {
	const char *name;
	CU_TestFunc fn;
};
int zt_add_suite(const char *name, CU_InitializeFunc init,
		 CU_CleanupFunc clean, const struct zt_test_case *cases);

/* Directory holding pcap-fixtures/ (the source tree root); from $ZT_SRCDIR,
 * else ".". */
const char *zt_test_srcdir(void);

/* Seed for property tests: $ZT_TEST_SEED if set, else @fallback. Printed by
 * the runner so any failure can be reproduced. */
uint64_t zt_test_seed(uint64_t fallback);

/* An exactly-sized heap copy of @n bytes, so that ASan's red zone sits
 * right after the last byte and any over-read is caught. Caller frees. */
uint8_t *zt_test_dup_exact(const uint8_t *p, size_t n);

/* Every suite's registration function, from suites.def. */
#define SUITE(name) int zt_suite_##name(void);
#include "suites.def"
#undef SUITE

#endif /* ZTUN_TEST_H */
