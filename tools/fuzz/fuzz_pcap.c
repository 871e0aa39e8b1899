// SPDX-License-Identifier: MIT
/*
 * fuzz_pcap.c - libFuzzer target: the pcap/pcapng reader (sim/io/pcap_io.h)
 * on a hostile capture file.
 *
 * Theory of operation: the input is written to one anonymous memory file
 * (memfd, made once per process and truncated per input) and opened
 * through /proc/self/fd, so no disk is touched. Every record is read (at
 * most 4096, to stay fast) and its bytes touched, so ASan sees a record
 * that claims more than the reader holds.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/pcap_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_pcap_reader *r;
	struct zt_pcap_record rec;
	char err[256];
	int got, n = 0;

	if (memfd < 0) {
		memfd = memfd_create("fuzz_pcap", 0);
		if (memfd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	}
	if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	if (zt_pcap_open_read(path, &r, err, sizeof(err)) < 0)
		return 0;
	while (n++ < 4096 && (got = zt_pcap_read_next(r, &rec)) == 1) {
		volatile uint8_t sink = 0;

		for (size_t i = 0; i < rec.len; i += 64)
			sink ^= rec.data[i];
		if (rec.len)
			sink ^= rec.data[rec.len - 1];
		(void)sink;
	}
	(void)zt_pcap_linktype(r);
	(void)zt_pcap_skipped(r);
	zt_pcap_close_read(r);
	return 0;
}
