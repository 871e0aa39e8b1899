/* SPDX-License-Identifier: MIT */
/*
 * test_owner.c - the owner of an --auto-route state file
 * (sim/real/owner.c): the /proc/PID/stat parser on exactly-sized heap
 * copies (ASan catches a read past the end), the boot id's shape, and
 * whether an owner runs, against real child processes named "vpn" (a
 * ztun-ref started through a symbolic link) and "ztun-ref", living,
 * zombie and reaped.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "real/owner.h"
#include "test.h"

static int stat_exact(const char *text, char *state, uint64_t *start)
{
	size_t len = strlen(text);
	uint8_t *copy = zt_test_dup_exact((const uint8_t *)text, len);
	int rc = zr_proc_stat_parse((const char *)copy, len, state, start);

	free(copy);
	return rc;
}

/* Fields 4 to 21 of a stat line, then field 22 (5678901) and more. */
#define MID " 1 77 77 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 0"
#define TAIL " 5678901 12345678 300 18446744073709551615\n"

static void test_stat_parse(void)
{
	static const char *const bad[] = {
		"",
		"77 (x S" MID TAIL,                      /* no ')' */
		"77 (x)",
		"77 (x) ",
		"77 (x)S" MID TAIL,
		"77 (x) SS" MID TAIL,                    /* a state is one letter */
		"77 (x)  S" MID TAIL,
		"77 (x) S" MID,                          /* no field 22 */
		"77 (x) S" MID " ",
		"77 (x) S" MID "\n",
		"77 (x) S" MID " 56789x1 1\n",
		"77 (x) S" MID " -5678901 1\n",
		"77 (x) S" MID " 18446744073709551616 1\n",  /* 2^64 */
		"77 (x) S 1 77 77 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 5678901\n",
	};
	char state = 0;
	uint64_t start = 0;
	char buf[1024];
	FILE *f;
	size_t n;

	CU_ASSERT_EQUAL(stat_exact("77 (ztun-ref) S" MID TAIL, &state, &start), 0);
	CU_ASSERT_EQUAL(state, 'S');
	CU_ASSERT_EQUAL(start, 5678901);
	/* the name may hold blanks and parentheses: the last ')' counts */
	CU_ASSERT_EQUAL(stat_exact("77 (a) R 1 (b c) Z" MID TAIL, &state, &start), 0);
	CU_ASSERT_EQUAL(state, 'Z');
	CU_ASSERT_EQUAL(start, 5678901);
	CU_ASSERT_EQUAL(stat_exact("77 ()) X" MID " 1", &state, &start), 0);
	CU_ASSERT_EQUAL(state, 'X');
	CU_ASSERT_EQUAL(start, 1);
	CU_ASSERT_EQUAL(stat_exact("77 (x) S" MID " 0\n", &state, &start), 0);
	CU_ASSERT_EQUAL(start, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = stat_exact(bad[i], &state, &start);

		if (rc != -EINVAL)
			fprintf(stderr, "\n  case %zu: rc %d\n", i, rc);
		CU_ASSERT_EQUAL(rc, -EINVAL);
	}
	/* this process's own line */
	f = fopen("/proc/self/stat", "r");
	CU_ASSERT_FATAL(f != NULL);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	CU_ASSERT_FATAL(n > 0 && n < sizeof(buf));
	buf[n] = 0;
	CU_ASSERT_EQUAL(stat_exact(buf, &state, &start), 0);
	CU_ASSERT_EQUAL(state, 'R');
	CU_ASSERT(start > 0);
}

static void test_boot_id(void)
{
	CU_ASSERT(zr_boot_id_ok("0f1e2d3c-4b5a-4697-8877-665544332211"));
	CU_ASSERT(!zr_boot_id_ok(""));
	CU_ASSERT(!zr_boot_id_ok("0f1e2d3c-4b5a-4697-8877-66554433221"));
	CU_ASSERT(!zr_boot_id_ok("0f1e2d3c-4b5a-4697-8877-6655443322110"));
	CU_ASSERT(!zr_boot_id_ok("0F1E2D3C-4B5A-4697-8877-665544332211"));
	CU_ASSERT(!zr_boot_id_ok("0f1e2d3c04b5a-4697-8877-665544332211"));
	CU_ASSERT(!zr_boot_id_ok("0f1e2d3c-4b5a-4697-8877-66554433221-"));
	CU_ASSERT(!zr_boot_id_ok("0f1e2d3c-4b5a-4697-8877-66554433221\n"));
}

/* This process: its pid, its start time as /proc/self/stat has it, the
 * boot id as the kernel has it. */
static void test_self(void)
{
	struct zr_owner o;
	char boot[64] = "", buf[1024], state;
	uint64_t start = 0;
	FILE *f;
	size_t n;

	CU_ASSERT_EQUAL_FATAL(zr_owner_self(&o), 0);
	CU_ASSERT_EQUAL(o.pid, (long)getpid());
	f = fopen("/proc/self/stat", "r");
	CU_ASSERT_FATAL(f != NULL);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(zr_proc_stat_parse(buf, n, &state, &start), 0);
	CU_ASSERT_EQUAL(o.start, start);
	f = fopen("/proc/sys/kernel/random/boot_id", "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT(fgets(boot, sizeof(boot), f) != NULL);
	fclose(f);
	boot[strcspn(boot, "\n")] = 0;
	CU_ASSERT_STRING_EQUAL(o.boot, boot);
	/* our own file names no other run */
	CU_ASSERT(!zr_owner_alive(&o));
}

/* A child named @name (/proc/PID/comm), alive until killed; its owner
 * record into @o. */
static pid_t child_named(const char *name, struct zr_owner *o)
{
	pid_t pid = zt_test_child_named(name, false);

	CU_ASSERT_EQUAL_FATAL(zr_owner_of(pid, o), 0);
	CU_ASSERT_EQUAL_FATAL(o->pid, (long)pid);
	return pid;
}

/* @pid killed, left a zombie (not reaped) */
static void make_zombie(pid_t pid)
{
	siginfo_t si;

	kill(pid, SIGKILL);
	CU_ASSERT_FATAL(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == 0);
}

/* A run started through a symbolic link "vpn" (its name "vpn"): alive
 * by its start time and boot, whatever its name; the same pid with
 * another start time (a process that got the number later), or of
 * another boot, is not; a zombie or a reaped one is not. A format 1
 * owner (start unknown) has only the old test: named "ztun-ref". */
static void test_alive(void)
{
	struct zr_owner o, x;
	pid_t pid;

	pid = child_named("vpn", &o);
	CU_ASSERT(o.start > 0);
	CU_ASSERT(zr_owner_alive(&o));
	x = o;
	x.start++;
	CU_ASSERT(!zr_owner_alive(&x));
	x = o;
	x.start--;
	CU_ASSERT(!zr_owner_alive(&x));
	x = o;
	x.boot[0] = x.boot[0] == '0' ? '1' : '0';
	CU_ASSERT(!zr_owner_alive(&x));
	x = o;
	x.start = 0;
	x.boot[0] = 0;
	CU_ASSERT(!zr_owner_alive(&x));   /* format 1: not "ztun-ref" */
	make_zombie(pid);
	CU_ASSERT(!zr_owner_alive(&o));
	waitpid(pid, NULL, 0);
	CU_ASSERT(!zr_owner_alive(&o));

	/* named ztun-ref: format 1 takes it for alive; format 2 by start */
	pid = child_named("ztun-ref", &o);
	CU_ASSERT(zr_owner_alive(&o));
	x = o;
	x.start = 0;
	x.boot[0] = 0;
	CU_ASSERT(zr_owner_alive(&x));
	x = o;
	x.start += 100;
	CU_ASSERT(!zr_owner_alive(&x));
	make_zombie(pid);
	CU_ASSERT(!zr_owner_alive(&o));
	x = o;
	x.start = 0;
	CU_ASSERT(!zr_owner_alive(&x));
	waitpid(pid, NULL, 0);
	CU_ASSERT(!zr_owner_alive(&o));
}

int zt_suite_owner(void)
{
	static const struct zt_test_case cases[] = {
		{ "stat line parse", test_stat_parse },
		{ "boot id shape", test_boot_id },
		{ "this process", test_self },
		{ "alive: by start time, not by name", test_alive },
		{ 0 },
	};

	return zt_add_suite("owner", NULL, NULL, cases);
}
