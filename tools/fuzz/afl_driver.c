// SPDX-License-Identifier: MIT
/*
 * afl_driver.c - main() for the libFuzzer targets of tools/fuzz/: AFL++
 * shared-memory persistent mode, or a plain file replayer.
 *
 * Theory of operation: every target here is one LLVMFuzzerTestOneInput()
 * (fuzz_records.c calls zt_replay_records(), the same function the CUnit
 * suite `fuzzrec` and libFuzzer call). This file is linked with one of
 * them and gives it a main():
 *
 *   - Built by afl-clang-fast / afl-clang-lto (which define
 *     __AFL_FUZZ_TESTCASE_LEN and friends) and run with no argument:
 *     persistent mode. __AFL_FUZZ_INIT() declares the shared-memory test
 *     case, __AFL_INIT() is the deferred fork server (after main's own
 *     set-up), and __AFL_LOOP(N) runs N inputs per fork before AFL++
 *     restarts the process. Each input is copied into a malloc'd buffer
 *     of exactly its size, so that ASan sees any read past its end (the
 *     shared-memory buffer itself is 1 MiB and would hide one).
 *   - Run with arguments (either build): each argument is a file, or a
 *     directory whose regular files (not starting with '.') are run, each
 *     once, in the order given / readdir order. This is how `make check`
 *     keeps the harness compiling and running (plain compiler, ASan build,
 *     over tools/fuzz/regressions/), and how an AFL++ crash is reproduced:
 *     `build/afl/afl_records build/afl/out/default/crashes/id:...`.
 *     Inputs larger than ZT_AFL_MAX_INPUT are skipped (counted).
 *
 * Exit status: 0 when every named file was read (or the persistent loop
 * ended), 1 when one could not be read, 2 on usage errors. A crash in the
 * target is a crash of this process (abort(), a sanitizer report).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ZT_AFL_MAX_INPUT (1u << 20) /* as AFL++'s shared-memory test case */

struct run_counts {
	unsigned files, skipped, failed;
};

/* Run @d (@len bytes, borrowed) from an exactly-sized copy. */
static void run_one(const uint8_t *d, size_t len)
{
	/* malloc(0) may return NULL; one byte keeps the pointer valid while
	 * the target still sees size 0. */
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy) {
		fprintf(stderr, "afl_driver: out of memory\n");
		exit(1);
	}
	if (len)
		memcpy(copy, d, len);
	(void)LLVMFuzzerTestOneInput(copy, len);
	free(copy);
}

/* Read @path whole and run it. */
static void run_file(const char *path, struct run_counts *c)
{
	FILE *f = fopen(path, "rb");
	uint8_t *d = NULL;
	struct stat st;
	size_t n;

	if (!f || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "afl_driver: %s: %s\n", path, strerror(errno));
		c->failed++;
		if (f)
			fclose(f);
		return;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > ZT_AFL_MAX_INPUT) {
		c->skipped++;
		fclose(f);
		return;
	}
	n = (size_t)st.st_size;
	d = malloc(n ? n : 1);
	if (!d || fread(d, 1, n, f) != n) {
		fprintf(stderr, "afl_driver: %s: short read\n", path);
		c->failed++;
		free(d);
		fclose(f);
		return;
	}
	fclose(f);
	run_one(d, n);
	free(d);
	c->files++;
}

/* Run @path: a regular file, or every regular file of a directory. */
static void run_path(const char *path, struct run_counts *c)
{
	struct stat st;
	struct dirent *e;
	DIR *dp;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "afl_driver: %s: %s\n", path, strerror(errno));
		c->failed++;
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		run_file(path, c);
		return;
	}
	dp = opendir(path);
	if (!dp) {
		fprintf(stderr, "afl_driver: %s: %s\n", path, strerror(errno));
		c->failed++;
		return;
	}
	while ((e = readdir(dp)) != NULL) {
		char sub[4096];
		struct stat est;

		if (e->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >=
		    (int)sizeof(sub))
			continue;
		if (stat(sub, &est) == 0 && S_ISREG(est.st_mode))
			run_file(sub, c);
	}
	closedir(dp);
}

static int run_args(int argc, char **argv)
{
	struct run_counts c = { 0, 0, 0 };
	int i;

	for (i = 1; i < argc; i++)
		run_path(argv[i], &c);
	fprintf(stderr, "afl_driver: ran %u input(s), skipped %u over %u bytes, "
		"%u unreadable\n", c.files, c.skipped, ZT_AFL_MAX_INPUT, c.failed);
	return c.failed ? 1 : 0;
}

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-h") == 0) {
		fprintf(stderr, "usage: %s [FILE|DIR]...\n"
			"  no argument: AFL++ persistent mode (afl-fuzz)\n",
			argv[0]);
		return 2;
	}
	if (argc > 1)
		return run_args(argc, argv);
#ifdef __AFL_FUZZ_TESTCASE_LEN
	{
		const unsigned char *buf;

		__AFL_INIT();
		buf = __AFL_FUZZ_TESTCASE_BUF;
		while (__AFL_LOOP(10000)) {
			int len = __AFL_FUZZ_TESTCASE_LEN;

			if (len >= 0)
				run_one(buf, (size_t)len);
		}
	}
	return 0;
#else
	fprintf(stderr, "%s: no input; this build is not AFL++-instrumented, "
		"give files or directories\n", argv[0]);
	return 2;
#endif
}
