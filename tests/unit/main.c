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

/*
 * Leak check at every suite's teardown: under AddressSanitizer, each suite's
 * cleanup asks LeakSanitizer for a (recoverable) leak check, so a leak is
 * pinned to the suite that made it rather than reported once at exit. A
 * suite's own cleanup runs first. Without ASan this is a no-op.
 */
#if defined(__SANITIZE_ADDRESS__)
#define ZT_HAVE_LSAN 1
int __lsan_do_recoverable_leak_check(void);
#endif

#define ZT_MAX_SUITES 64
struct suite_cleanup {
	const char *name;
	CU_CleanupFunc clean;
};
static struct suite_cleanup cleanups[ZT_MAX_SUITES];
static unsigned n_cleanups;
static unsigned leaking_suites;

static int run_cleanup(unsigned i)
{
	int rc = cleanups[i].clean ? cleanups[i].clean() : 0;

#ifdef ZT_HAVE_LSAN
	/* LeakSanitizer reports every leak still alive, so after the first
	 * leaking suite later ones would be blamed for it too: stop there. */
	if (!leaking_suites && __lsan_do_recoverable_leak_check()) {
		fprintf(stderr, "unit-tests: suite %s leaked memory (report above)\n",
			cleanups[i].name);
		leaking_suites++;
		rc = rc ? rc : 1;
	}
#endif
	return rc;
}

/* CUnit cleanups take no argument: one trampoline per slot. */
#define CLEANUP_FN(i) static int cleanup_##i(void) { return run_cleanup(i); }
#define CLEANUP_8(b) CLEANUP_FN(b##0) CLEANUP_FN(b##1) CLEANUP_FN(b##2) \
	CLEANUP_FN(b##3) CLEANUP_FN(b##4) CLEANUP_FN(b##5) CLEANUP_FN(b##6) CLEANUP_FN(b##7)
CLEANUP_FN(0) CLEANUP_FN(1) CLEANUP_FN(2) CLEANUP_FN(3) CLEANUP_FN(4)
CLEANUP_FN(5) CLEANUP_FN(6) CLEANUP_FN(7) CLEANUP_8(1) CLEANUP_8(2)
CLEANUP_8(3) CLEANUP_8(4) CLEANUP_8(5) CLEANUP_8(6) CLEANUP_8(7)
#define CLEANUP_REF8(b) cleanup_##b##0, cleanup_##b##1, cleanup_##b##2, cleanup_##b##3, \
	cleanup_##b##4, cleanup_##b##5, cleanup_##b##6, cleanup_##b##7
static const CU_CleanupFunc cleanup_slots[ZT_MAX_SUITES] = {
	cleanup_0, cleanup_1, cleanup_2, cleanup_3, cleanup_4, cleanup_5,
	cleanup_6, cleanup_7, CLEANUP_REF8(1), CLEANUP_REF8(2), CLEANUP_REF8(3),
	CLEANUP_REF8(4), CLEANUP_REF8(5), CLEANUP_REF8(6), CLEANUP_REF8(7),
};

int zt_add_suite(const char *name, CU_InitializeFunc init,
		 CU_CleanupFunc clean, const struct zt_test_case *cases)
{
	CU_pSuite s;

	if (n_cleanups >= ZT_MAX_SUITES)
		return -1;
	cleanups[n_cleanups].name = name;
	cleanups[n_cleanups].clean = clean;
	s = CU_add_suite(name, init, cleanup_slots[n_cleanups]);
	n_cleanups++;

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
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
		 CU_get_number_of_suites_failed() + leaking_suites;
	if (CU_get_error() != CUE_SUCCESS)
		failed++;
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
