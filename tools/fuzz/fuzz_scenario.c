// SPDX-License-Identifier: MIT
/*
 * fuzz_scenario.c - libFuzzer target: the scenario script parser
 * (sim/engine/scenario.h, zt_scn_parse) on hostile text.
 *
 * Theory of operation: the input is the script, parsed from an exactly
 * sized copy (the parser takes a length, not a NUL), then freed. Scripts
 * are not run: that is the records target's job.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_scn s;
	char err[256];
	char *text = malloc(size ? size : 1);

	if (!text)
		return 0;
	if (size)
		memcpy(text, data, size);
	memset(&s, 0, sizeof(s));
	if (zt_scn_parse("fuzz.scn", text, size, &s, err, sizeof(err)) == 0)
		zt_scn_free(&s);
	free(text);
	return 0;
}
