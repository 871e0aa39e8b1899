/* SPDX-License-Identifier: MIT */
/*
 * ztun_sim.c - the ztun-sim command line.
 *
 * Theory of operation:
 *
 * Two subcommands: `replay` runs zt_replay_run() (see sim/engine/replay.h)
 * and prints its flow table, the stack's drop counts by reason and the
 * totals; `run` runs scenario scripts (sim/engine/scenario.h) and prints
 * PASS/FAIL per script and a summary. Arguments are parsed by hand; every usage
 * mistake (unknown subcommand or flag, missing or extra argument, a flag
 * value that is not a number in range) prints one line naming it and
 * exits 2; a capture that cannot be read or an output that cannot be
 * written exits 1. The output format is documented in docs/cli.md and
 * must stay in step with it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/replay.h"
#include "engine/scenario.h"
#include "version.h"

#define EXIT_USAGE 2

static const char usage_main[] =
	"usage: ztun-sim COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  replay CAPTURE [-o OUT.pcap] [--seed N] [--mtu N]\n"
	"                 replay a capture through the stack and print its flows\n"
	"  run [--seed=N] [--trace-hash] [-v] FILE.scn...\n"
	"                 run scenario scripts; PASS/FAIL each and a summary\n"
	"\n"
	"ztun-sim --help, ztun-sim COMMAND --help: this text or the command's.\n"
	"ztun-sim --version: the version.\n";

static const char usage_replay[] =
	"usage: ztun-sim replay CAPTURE [-o OUT.pcap] [--seed N] [--mtu N]\n"
	"\n"
	"Feed the TUN side of CAPTURE (pcap or pcapng) into a ztun stack at its\n"
	"capture times, play the far side as the emulated upstream, and print\n"
	"the flow table, the stack's drops by reason and totals.\n"
	"\n"
	"  -o, --output OUT.pcap  write what the stack emits (LINKTYPE_RAW, ns);\n"
	"                         - for stdout (the flow table then goes to stderr)\n"
	"  --seed N               seed of the stack's generator, 0..2^64-1 (default 1)\n"
	"  --mtu N                TUN MTU, 1280..65535 (default 1500)\n"
	"  -h, --help             this text\n"
	"\n"
	"exit status: 0 done, 1 capture unreadable or output unwritable,\n"
	"2 usage error.\n";

static const char usage_run[] =
	"usage: ztun-sim run [--seed=N] [--trace-hash] [-v] FILE.scn...\n"
	"\n"
	"Run each scenario script (docs/scenarios.md) against a fresh router in\n"
	"virtual time. Prints 'PASS FILE' or 'FAIL FILE' and the failure for\n"
	"each, then 'N passed, M failed'.\n"
	"\n"
	"  --seed N      seed for every script, 0..2^64-1 (overrides --seed= in them)\n"
	"  --trace-hash  after each result, print 'HASH FILE 0x...' (the run's trace)\n"
	"  -v, --verbose print every input line and output with its virtual time\n"
	"  -h, --help    this text\n"
	"\n"
	"exit status: 0 all passed, 1 any failed, 2 usage error or unreadable file.\n";

/**
 * parse_u64() - @s as a decimal number in [@min, @max].
 * Return: 0 with *@out set, or -EINVAL.
 */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL; /* no sign, no space, not empty */
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static void fmt_endpoint(const struct zt_addr *a, uint16_t port, char *buf,
			 size_t len)
{
	char ab[ZT_ADDR_STRLEN];

	zt_addr_format(a, ab, sizeof(ab));
	if (a->family == ZT_AF_INET6)
		snprintf(buf, len, "[%s]:%u", ab, port);
	else
		snprintf(buf, len, "%s:%u", ab, port);
}

/* The flow table, drops and totals of @r, to @out, as docs/cli.md
 * describes. */
static void print_result(FILE *out, const struct zt_replay_result *r)
{
	const struct zt_stack_stats *st = &r->stats;
	unsigned n_drops = 0;

	fprintf(out, "%-5s %-24s %-24s %-8s %10s %10s %10s %10s  %s\n", "proto",
	       "client", "server", "decision", "up", "cap_up", "down",
	       "cap_down", "end");
	for (size_t i = 0; i < r->n_flows; i++) {
		const struct zt_replay_flow *f = &r->flows[i];
		char cb[64], sb[64];

		fmt_endpoint(&f->client, f->client_port, cb, sizeof(cb));
		fmt_endpoint(&f->server, f->server_port, sb, sizeof(sb));
		fprintf(out, "%-5s %-24s %-24s %-8s %10" PRIu64 " %10" PRIu64 " %10" PRIu64
		       " %10" PRIu64 "  %s\n",
		       f->proto == ZT_IPPROTO_TCP ? "tcp" : "udp", cb, sb,
		       f->decision, f->bytes_up, f->cap_up, f->bytes_down,
		       f->cap_down,
		       f->proto == ZT_IPPROTO_UDP ? "-" : zt_replay_end_name(f->end));
	}
	fprintf(out, "\ndrops:\n");
	for (unsigned d = 1; d < ZT_DROP__COUNT; d++) {
		if (!st->drops[d])
			continue;
		fprintf(out, "  %-24s %" PRIu64 "\n", zt_drop_name((enum zt_drop)d),
		       st->drops[d]);
		n_drops++;
	}
	if (!n_drops)
		fprintf(out, "  (none)\n");
	fprintf(out, "\ntotals:\n");
	fprintf(out, "  flows %zu, frames read %" PRIu64 ", skipped %" PRIu64
	       ", fed %" PRIu64 ", scripted %" PRIu64 ", ignored %" PRIu64 "\n",
	       r->n_flows, r->frames_read, r->frames_skipped, r->fed, r->scripted,
	       r->ignored);
	fprintf(out, "  stack: packets in %" PRIu64 ", out %" PRIu64
	       ", tcp opened %" PRIu64 ", rst sent %" PRIu64
	       ", udp in %" PRIu64 ", out %" PRIu64 ", echo replies %" PRIu64 "\n",
	       st->packets_in, st->packets_out, st->tcp_flows_opened,
	       st->tcp_rst_sent, st->udp_datagrams_in, st->udp_datagrams_out,
	       st->icmp_echo_replies);
	fprintf(out, "  virtual time %" PRIu64 ".%09" PRIu64 " s\n",
	       (r->end_ns - r->start_ns) / 1000000000u,
	       (r->end_ns - r->start_ns) % 1000000000u);
}

/* The value of flag @argv[*i] ("--f V" or "--f=V"); NULL when missing. */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static bool is_flag(const char *arg, const char *name)
{
	size_t n = strlen(name);

	return strncmp(arg, name, n) == 0 && (arg[n] == 0 || arg[n] == '=');
}

static int cmd_replay(int argc, char **argv)
{
	struct zt_replay_opts o;
	struct zt_replay_result r;
	uint64_t v;
	int rc;

	zt_replay_opts_default(&o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_replay, stdout);
			return 0;
		} else if (!strcmp(a, "-o") || is_flag(a, "--output")) {
			val = flag_value(argc, argv, &i, !strcmp(a, "-o") ? "-o" : "--output");
			if (!val || !*val) {
				fprintf(stderr, "ztun-sim replay: %s needs a file name\n", a);
				return EXIT_USAGE;
			}
			o.output = val;
		} else if (is_flag(a, "--seed")) {
			val = flag_value(argc, argv, &i, "--seed");
			if (parse_u64(val, 0, UINT64_MAX, &v) < 0) {
				fprintf(stderr, "ztun-sim replay: --seed: '%s' is not a number in 0..18446744073709551615\n",
					val ? val : "");
				return EXIT_USAGE;
			}
			o.seed = v;
		} else if (is_flag(a, "--mtu")) {
			val = flag_value(argc, argv, &i, "--mtu");
			if (parse_u64(val, 1280, 65535, &v) < 0) {
				fprintf(stderr, "ztun-sim replay: --mtu: '%s' is not a number in 1280..65535\n",
					val ? val : "");
				return EXIT_USAGE;
			}
			o.mtu = (uint16_t)v;
		} else if (a[0] == '-' && a[1] != 0) {
			fprintf(stderr, "ztun-sim replay: unknown flag '%s' (see ztun-sim replay --help)\n",
				a);
			return EXIT_USAGE;
		} else if (o.input) {
			fprintf(stderr, "ztun-sim replay: extra argument '%s'\n", a);
			return EXIT_USAGE;
		} else {
			o.input = a;
		}
	}
	if (!o.input) {
		fprintf(stderr, "ztun-sim replay: missing CAPTURE argument (see ztun-sim replay --help)\n");
		return EXIT_USAGE;
	}
	if (zt_replay_output_is_input(&o)) {
		fprintf(stderr, "ztun-sim replay: -o: '%s' is the input capture; refusing to overwrite it\n",
			o.output);
		return EXIT_USAGE;
	}
	rc = zt_replay_run(&o, &r);
	if (rc < 0) {
		fprintf(stderr, "ztun-sim replay: %s\n", r.err);
		zt_replay_result_free(&r);
		return 1;
	}
	/* -o - is the pcap on stdout: the table goes to stderr */
	print_result(o.output && !strcmp(o.output, "-") ? stderr : stdout, &r);
	zt_replay_result_free(&r);
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	bool hashes = false;
	struct zt_scn_opts o = { false, 0, NULL };
	unsigned passed = 0, failed = 0, nfiles = 0;
	struct zt_scn_result *res;
	char **files;

	files = calloc((size_t)argc, sizeof(*files));
	if (!files) {
		fprintf(stderr, "ztun-sim run: out of memory\n");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_run, stdout);
			free(files);
			return 0;
		} else if (is_flag(a, "--seed")) {
			val = flag_value(argc, argv, &i, "--seed");
			if (parse_u64(val, 0, UINT64_MAX, &o.seed) < 0) {
				fprintf(stderr, "ztun-sim run: --seed: '%s' is not a number in 0..18446744073709551615\n",
					val ? val : "");
				free(files);
				return EXIT_USAGE;
			}
			o.have_seed = true;
		} else if (!strcmp(a, "--trace-hash")) {
			hashes = true;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			o.log = stdout;
		} else if (a[0] == '-' && a[1] != 0) {
			fprintf(stderr, "ztun-sim run: unknown flag '%s' (see ztun-sim run --help)\n",
				a);
			free(files);
			return EXIT_USAGE;
		} else {
			files[nfiles++] = argv[i];
		}
	}
	if (!nfiles) {
		fprintf(stderr, "ztun-sim run: no FILE.scn given (see ztun-sim run --help)\n");
		free(files);
		return EXIT_USAGE;
	}
	/* Every file must be readable before anything runs. */
	for (unsigned i = 0; i < nfiles; i++) {
		FILE *f = fopen(files[i], "rb");
		struct stat st;

		/* fopen() opens a directory; reading it fails (EISDIR) */
		if (f && !fstat(fileno(f), &st) && S_ISDIR(st.st_mode)) {
			fclose(f);
			f = NULL;
			errno = EISDIR;
		}
		if (!f) {
			fprintf(stderr, "ztun-sim run: cannot read '%s': %s\n", files[i],
				strerror(errno));
			free(files);
			return EXIT_USAGE;
		}
		fclose(f);
	}
	res = malloc(sizeof(*res));
	if (!res) {
		free(files);
		return 1;
	}
	for (unsigned i = 0; i < nfiles; i++) {
		int rc = zt_scn_run_file(files[i], &o, res);

		if (rc == 0) {
			printf("PASS %s\n", files[i]);
			passed++;
		} else {
			printf("FAIL %s\n%s\n", files[i], res->msg);
			failed++;
		}
		if (hashes && rc >= 0 && res->ran)
			printf("HASH %s 0x%016" PRIx64 "\n", files[i], res->trace_hash);
		fflush(stdout);
	}
	printf("%u passed, %u failed\n", passed, failed);
	free(res);
	free(files);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("ztun-sim %s\n", ZTUN_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "replay"))
		return cmd_replay(argc - 1, argv + 1);
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	fprintf(stderr, "ztun-sim: unknown command '%s' (see ztun-sim --help)\n",
		argv[1]);
	return EXIT_USAGE;
}
