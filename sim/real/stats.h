/* SPDX-License-Identifier: MIT */
/*
 * stats.h - ztun-ref's counters as one list, written two ways: the
 * "ztun-ref: stats: ..." lines of SIGUSR1 and exit (docs/cli.md), and the
 * Prometheus text format of --stats-file.
 *
 * zr_stats_collect() reads the host's, the router's, the stack's and the
 * fake-IP resolver's counters into a list of items in print order; both
 * writers walk that list, so a counter added there shows in both. Each
 * item has a line (its group), the words around its value in that line,
 * and a metric name of its own (none for the text's sums of labelled
 * series, which Prometheus sums itself).
 */
#ifndef ZTUN_REAL_STATS_H
#define ZTUN_REAL_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "real/host.h"
#include "ztun/router.h"

struct zr_stat {
	const char *line;    /* the text line it is printed on ("tcp") */
	const char *label;   /* the words before its value ("" none) */
	const char *unit;    /* the word after it ("bytes"), or NULL */
	bool joined;         /* text: after the previous item with a space,
			      * not ", " (rx N packets N bytes) */
	bool own_line;       /* text: a line of its own ("socks5 OUTCOME N") */
	bool no_value;       /* text only, no number: "drops (none)" */
	bool gauge;          /* a level (active flows), not a counter */
	const char *metric;  /* "ztun_" + this in Prometheus; NULL: text only */
	const char *lkey;    /* its one Prometheus label ("decision"), or NULL */
	const char *lval;
	uint64_t v;
};

#define ZR_STATS_MAX 320

struct zr_stats {
	unsigned n;
	struct zr_stat item[ZR_STATS_MAX];
};

/* Every counter, in print order. @fs: NULL without --fake-dns; @ns:
 * the router's UDP NAT table; @tcp_states: TCP flows by state now
 * (zt_stack_tcp_states()); @tcp: the flows' TCP counters summed
 * (zt_stack_tcp_totals()); @dgram_rx_dropped: the kernel's drops on
 * datagram sockets. */
void zr_stats_collect(struct zr_stats *st, const struct zr_host_stats *hs,
		      const struct zt_router_stats *rs,
		      const struct zt_stack_stats *ss,
		      const struct zt_fakedns_stats *fs,
		      const struct zt_nat_stats *ns,
		      const uint32_t tcp_states[ZT_TCP_TIME_WAIT + 1],
		      const struct zt_tcb_stats *tcp,
		      uint64_t dgram_rx_dropped);

/* The "ztun-ref: stats: " lines to @f: "@title, up S s", then @st. */
void zr_stats_text(FILE *f, const struct zr_stats *st, const char *title,
		   uint64_t uptime_ns);

/* @st in the Prometheus text exposition format (0.0.4) to @f: HELP and
 * TYPE once per metric, then its samples, and ztun_uptime_seconds. */
void zr_stats_prom(FILE *f, const struct zr_stats *st, uint64_t uptime_ns);

/* zr_stats_prom() into @path, atomically: written to a new
 * "@path.tmp.XXXXXX" (never a file or link already there), then renamed
 * over @path (a reader never sees half a file). Return: 0 or a negative
 * errno. */
int zr_stats_write_file(const char *path, const struct zr_stats *st,
			uint64_t uptime_ns);

#endif
