/* SPDX-License-Identifier: MIT */
/* main.c - the CUnit runner for every unit suite (tests/unit/suites.def).
 * Usage: unit-tests [SUITE...]  (no argument: all suites) */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

struct suite_entry {
	const char *name;
	int (*add)(void);
};

static const struct suite_entry all_suites[] = {
#define SUITE(name) { #name, zt_suite_##name },
#include "suites.def"
#undef SUITE
};

int zt_add_suite(const char *name, CU_InitializeFunc init,
		 CU_CleanupFunc clean, const struct zt_test_case *cases)
{
	CU_pSuite s = CU_add_suite(name, init, clean);

	if (!s)
		return -1;
	for (; cases->name; cases++)
		if (!CU_add_test(s, cases->name, cases->fn))
			return -1;
	return 0;
}

const char *zt_test_srcdir(void)
{
	const char *d = getenv("ZT_SRCDIR");

	return d && *d ? d : ".";
}

uint8_t *zt_test_dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	CU_ASSERT_FATAL(c != NULL);
	if (n)
		memcpy(c, p, n);
	return c;
}

uint64_t zt_test_seed(uint64_t fallback)
{
	const char *s = getenv("ZT_TEST_SEED");

	return s && *s ? strtoull(s, NULL, 0) : fallback;
}

static int wanted(int argc, char **argv, const char *name)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned failed;
	size_t n = sizeof(all_suites) / sizeof(all_suites[0]);

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	for (size_t i = 0; i < n; i++) {
		if (!wanted(argc, argv, all_suites[i].name))
			continue;
		if (all_suites[i].add() != 0) {
			fprintf(stderr, "unit-tests: cannot register suite %s: %s\n",
				all_suites[i].name, CU_get_error_msg());
			CU_cleanup_registry();
			return 2;
		}
	}
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	if (CU_get_error() != CUE_SUCCESS)
		failed++;
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
