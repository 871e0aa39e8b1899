/* SPDX-License-Identifier: MIT */
/*
 * stats.c - ztun-ref's counters, collected once and written as the text
 * lines of SIGUSR1/exit or as a Prometheus textfile (--stats-file).
 *
 * Theory of operation: zr_stats_collect() is the one list of what is
 * counted and how each counter is named, in print order. The text writer
 * starts a line whenever an item's line changes (or the item wants a line
 * of its own) and prints "label value unit" items joined by ", " (or by a
 * space, for the "rx N packets N bytes" pairs); the Prometheus writer
 * prints "# HELP"/"# TYPE" when the metric name changes and a sample per
 * item, skipping the text-only items (the text's sums of labelled series,
 * "(none)"). Metric names are given explicitly, not derived from the
 * words, so that rewording a line renames nothing a dashboard uses.
 */
#define _GNU_SOURCE /* mkostemp */
#include "real/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ztun/drop.h"
#include "ztun/http_connect.h"
#include "ztun/socks5.h"

enum {
	F_JOINED = 1,   /* text: after the previous item with a space */
	F_OWN_LINE = 2, /* text: a line of its own */
	F_GAUGE = 4,    /* Prometheus: a level */
	F_NO_VALUE = 8, /* text only, no number */
};

static void add(struct zr_stats *st, const char *line, const char *label,
		const char *unit, unsigned flags, const char *metric,
		const char *lkey, const char *lval, uint64_t v)
{
	struct zr_stat *it;

	if (st->n == ZR_STATS_MAX)
		return; /* the list is sized for every counter; never here */
	it = &st->item[st->n++];
	it->line = line;
	it->label = label;
	it->unit = unit;
	it->joined = flags & F_JOINED;
	it->own_line = flags & F_OWN_LINE;
	it->gauge = flags & F_GAUGE;
	it->no_value = flags & F_NO_VALUE;
	it->metric = metric;
	it->lkey = lkey;
	it->lval = lval;
	it->v = v;
}

/* A counter (C), one with a unit word after it (U), a gauge (G), one
 * joined to the item before it in the text (J), and a text-only sum (S). */
#define C(label, metric, v) add(st, line, label, NULL, 0, metric, NULL, NULL, v)
#define U(label, unit, metric, v) add(st, line, label, unit, 0, metric, NULL, NULL, v)
#define G(label, metric, v) add(st, line, label, NULL, F_GAUGE, metric, NULL, NULL, v)
#define J(label, unit, metric, v) add(st, line, label, unit, F_JOINED, metric, NULL, NULL, v)
#define S(label, v) add(st, line, label, NULL, 0, NULL, NULL, NULL, v)

void zr_stats_collect(struct zr_stats *st, const struct zr_host_stats *hs,
		      const struct zt_router_stats *rs,
		      const struct zt_stack_stats *ss,
		      const struct zt_fakedns_stats *fs,
		      const struct zt_nat_stats *ns,
		      const uint32_t tcp_states[ZT_TCP_TIME_WAIT + 1],
		      const struct zt_tcb_stats *tcp,
		      uint64_t dgram_rx_dropped)
{
	uint64_t sfail = 0, hfail = 0, udrop = 0;
	const char *line;
	bool dropped = false;

	st->n = 0;
	for (unsigned i = 0; i < 32; i++)
		sfail += rs->socks5_failures[i];
	for (unsigned i = 0; i < 16; i++)
		hfail += rs->http_failures[i];
	for (unsigned i = 0; i < 8; i++)
		udrop += rs->socks5_udp_dropped[i];

	line = "tun";
	U("rx", "packets", "tun_rx_packets_total", hs->tun_rx_packets);
	J("", "bytes", "tun_rx_bytes_total", hs->tun_rx_bytes);
	U("tx", "packets", "tun_tx_packets_total", hs->tun_tx_packets);
	J("", "bytes", "tun_tx_bytes_total", hs->tun_tx_bytes);
	C("tx errors", "tun_tx_errors_total", hs->tun_tx_errors);
	C("rx too long", "tun_rx_too_long_total", hs->tun_rx_too_long);

	line = "tun offload:";
	C("rx partial", "tun_rx_partial_total", hs->tun_rx_offloaded);
	C("tx tso", "tun_tx_tso_total", hs->tun_tx_gso);
	C("acks coalesced", "tcp_acks_coalesced_total", ss->tcp_acks_coalesced);
	C("rx udp gso", "tun_rx_udp_gso_total", hs->tun_rx_udp_gso);
	C("rx udp gso bad", "tun_rx_udp_gso_bad_total", hs->tun_rx_udp_gso_bad);
	C("rx bad vnet", "tun_rx_bad_vnet_total", hs->tun_rx_bad_vnet);

	line = "stack";
	C("packets in", "stack_packets_in_total", ss->packets_in);
	C("packets out", "stack_packets_out_total", ss->packets_out);
	U("in", "bytes", "stack_in_bytes_total", ss->bytes_in);
	U("out", "bytes", "stack_out_bytes_total", ss->bytes_out);

	line = "flows";
	for (unsigned d = 0; d < ZT_ROUTE__COUNT; d++) {
		const char *name = zt_route_decision_name((enum zt_route_decision)d);

		add(st, line, name, NULL, 0, "flows_total", "decision", name,
		    rs->flows[d]);
	}

	line = "tcp";
	C("opened", "tcp_opened_total", ss->tcp_flows_opened);
	G("active", "tcp_active", ss->tcp_flows_active);
	U("up", "bytes", "tcp_up_bytes_total", rs->tcp_relayed_up);
	U("up direct", "bytes", "tcp_up_direct_bytes_total", rs->tcp_relayed_up_direct);
	U("up early", "bytes", "tcp_up_early_bytes_total", rs->tcp_relayed_up_early);
	C("up sends", "tcp_up_sends_total", rs->tcp_up_sends);
	U("down", "bytes", "tcp_down_bytes_total", rs->tcp_relayed_down);
	C("connect failed", "tcp_connect_failed_total", rs->upstream_connect_failed);
	C("upstream reset", "tcp_upstream_reset_total", rs->upstream_reset);
	C("unsent reset", "tcp_unsent_reset_total", rs->tcp_unsent_reset);
	C("upstream keepalives", "tcp_upstream_keepalives_total", rs->upstream_keepalives);
	C("upstream timeouts", "tcp_upstream_timeouts_total", rs->upstream_timeouts);
	C("refused", "tcp_refused_total", ss->tcp_refused);
	C("connect timeouts", "tcp_connect_timeouts_total", ss->tcp_connect_timeouts);
	C("idle timeouts", "tcp_idle_timeouts_total", ss->tcp_idle_timeouts);
	C("idle evicted", "tcp_idle_evicted_total", ss->tcp_idle_evicted);
	C("rst sent", "tcp_rst_sent_total", ss->tcp_rst_sent);
	C("refused full", "tcp_refused_full_total", ss->tcp_refused_full);
	C("refused memory", "tcp_refused_memory_total", ss->tcp_refused_memory);
	C("early syn-acks", "tcp_early_synacks_total", ss->tcp_early_synacks);
	C("time-wait reopened", "tcp_time_wait_reopened_total", ss->tcp_time_wait_reopened);

	/* the stack answers passively: no flow is ever SYN_SENT, and a
	 * CLOSED one has left its slot */
	line = "tcp-state";
	for (unsigned t = ZT_TCP_SYN_RECEIVED; t <= ZT_TCP_TIME_WAIT; t++) {
		const char *name = zt_tcp_state_name((enum zt_tcp_state)t);

		add(st, line, name, NULL, F_GAUGE, "tcp_flows", "state", name,
		    tcp_states[t]);
	}

	/* what the flows' TCP did, the ended ones' and the open ones' */
	line = "tcp-segs";
	C("in", "tcp_segments_in_total", tcp->segs_in);
	C("out", "tcp_segments_out_total", tcp->segs_out);
	C("retransmits", "tcp_retransmits_total", tcp->retransmits);
	C("rto expiries", "tcp_rto_expiries_total", tcp->rto_expiries);
	C("fast retransmits", "tcp_fast_retransmits_total", tcp->fast_retransmits);
	C("loss probes", "tcp_loss_probes_total", tcp->tlp_probes);
	C("lost retransmits", "tcp_lost_retransmits_total", tcp->lost_retransmits);
	C("rack marked", "tcp_rack_marked_total", tcp->rack_marked);
	C("undos", "tcp_undos_total", tcp->undos);
	C("spurious rtos", "tcp_spurious_rtos_total", tcp->spurious_rtos);
	C("sack reneging", "tcp_sack_reneging_total", tcp->sack_renegings);
	C("dupacks in", "tcp_dupacks_in_total", tcp->dupacks_in);
	C("out of order", "tcp_out_of_order_total", tcp->ooo_segs);
	C("challenge acks", "tcp_challenge_acks_total", tcp->challenge_acks);
	C("oow acks skipped", "tcp_oow_acks_skipped_total", tcp->oow_acks_skipped);

	line = "udp";
	C("in", "udp_in_total", ss->udp_datagrams_in);
	C("out", "udp_out_total", ss->udp_datagrams_out);
	C("flows opened", "udp_flows_opened_total", ss->udp_flows_opened);
	G("active", "udp_flows_active", ss->udp_flows_active);
	C("expired", "udp_flows_expired_total", ss->udp_flows_expired);
	U("up", "bytes", "udp_up_bytes_total", rs->udp_relayed_up);
	U("down", "bytes", "udp_down_bytes_total", rs->udp_relayed_down);
	C("dropped", "udp_dropped_total", rs->udp_dropped);
	C("refused full", "udp_refused_full_total", ss->udp_refused_full);
	C("evicted", "udp_evicted_total", ss->udp_evicted);
	C("reply mismatch", "udp_nat_reply_mismatch_total", rs->nat_reply_mismatch);
	C("spoofed", "udp_socks5_spoofed_total", rs->socks5_udp_spoofed);
	C("relay lost", "udp_socks5_relay_lost_total", rs->socks5_udp_relay_lost);
	C("cone in", "udp_socks5_cone_in_total", rs->socks5_udp_cone_in);
	C("gso runs", "udp_gso_runs_total", ss->udp_gso_out);
	C("nat refused", "udp_nat_refused_total", rs->nat_refused);
	C("nat port taken", "udp_nat_port_taken_total", rs->nat_port_taken);
	C("mappings", "udp_mappings_total", rs->udp_mappings);
	G("mappings active", "udp_mappings_active", rs->udp_mappings_active);
	C("mapping cone in", "udp_mapping_cone_in_total", rs->udp_cone_in);
	C("client unreachable", "udp_flows_client_unreachable_total",
	  ss->udp_flows_unreachable);

	line = "nat";
	G("active", "nat_sessions_active", ns->active);
	C("created", "nat_sessions_created_total", ns->created);
	G("mappings", "nat_mappings", ns->mappings);
	C("mappings created", "nat_mappings_created_total", ns->mappings_created);
	C("expired", "nat_sessions_expired_total", ns->expired);
	C("removed", "nat_sessions_removed_total", ns->removed);
	C("insert failures", "nat_insert_failures_total", ns->insert_failures);
	C("no slot", "nat_insert_no_slot_total", ns->insert_no_slot);
	C("no port", "nat_insert_no_port_total", ns->insert_no_port);
	C("lookups", "nat_lookups_total", ns->lookups);
	C("hits", "nat_hits_total", ns->hits);
	C("reverse lookups", "nat_reverse_lookups_total", ns->reverse_lookups);
	C("reverse hits", "nat_reverse_hits_total", ns->reverse_hits);

	line = "icmp";
	C("echo replies", "icmp_echo_replies_total", ss->icmp_echo_replies);
	C("errors sent", "icmp_errors_sent_total", ss->icmp_errors_sent);
	C("limited", "icmp_errors_limited_total", ss->icmp_errors_limited);
	C("errors in", "icmp_errors_in_total", ss->icmp_errors_in);
	C("matched", "icmp_errors_matched_total", ss->icmp_errors_matched);
	C("too big not believed", "icmp_too_big_not_believed_total", ss->pmtu_not_believed);
	C("dropped", "icmp_dropped_total", rs->icmp_dropped);
	C("echo out", "icmp_echo_out_total", rs->icmp_echo_out);
	C("echo in", "icmp_echo_in_total", rs->icmp_echo_in);
	C("upstream errors relayed", "icmp_upstream_errors_relayed_total", rs->icmp_errors_relayed);
	C("ignored", "icmp_upstream_errors_ignored_total", rs->icmp_errors_ignored);

	if (fs) {
		line = "fake dns";
		C("queries", "fake_dns_queries_total", fs->queries);
		C("answered", "fake_dns_answered_total", fs->answered);
		C("no data", "fake_dns_nodata_total", fs->nodata);
		C("errors", "fake_dns_errors_total", fs->errors);
		C("blocked", "fake_dns_blocked_total", fs->blocked);
		C("policy refused", "fake_dns_policy_refused_total", fs->refused);
		C("forwarded", "fake_dns_forwarded_total", fs->forwarded);
		C("learned", "fake_dns_learned_total", fs->learned);
		C("ignored", "fake_dns_ignored_total", fs->ignored);
		G("names", "fake_dns_names", fs->names);
		G("held", "fake_dns_held", fs->held);
		C("recycled", "fake_dns_recycled_total", fs->recycled);
		C("exhausted", "fake_dns_exhausted_total", fs->exhausted);
		C("lookups", "fake_dns_lookups_total", fs->lookups);
		C("unknown", "fake_dns_unknown_total", fs->unknown);
		C("refused", "fake_ip_refused_total", rs->fake_ip_refused);
	}

	if (rs->dns_tcp_connections || rs->dns_tcp_dropped ||
	    rs->dns_tcp_servfail) {
		line = "dns-tcp";
		C("connections", "dns_tcp_connections_total", rs->dns_tcp_connections);
		C("queries", "dns_tcp_queries_total", rs->dns_tcp_queries);
		C("answers", "dns_tcp_answers_total", rs->dns_tcp_answers);
		C("truncated", "dns_tcp_truncated_total", rs->dns_tcp_truncated);
		C("unmatched", "dns_tcp_unmatched_total", rs->dns_tcp_unmatched);
		C("dropped", "dns_tcp_dropped_total", rs->dns_tcp_dropped);
		C("resent", "dns_tcp_resent_total", rs->dns_tcp_resent);
		C("servfail", "dns_tcp_servfail_total", rs->dns_tcp_servfail);
	}

	line = "proxy";
	C("no proxy", "proxy_missing_total", rs->dropped_no_proxy);
	C("down refused", "proxy_down_refused_total", rs->proxy_down_refused);
	add(st, line, "socks5 down", NULL, F_GAUGE, "proxy_down", "proxy",
	    "socks5", hs->proxy_down[0]);
	add(st, line, "http down", NULL, F_GAUGE, "proxy_down", "proxy", "http",
	    hs->proxy_down[1]);
	S("socks5 failures", sfail);
	S("http failures", hfail);
	C("socks5 udp dropped", "socks5_udp_dropped_total", udrop);
	C("udp associations", "socks5_udp_associations_total", rs->socks5_udp_assocs);
	G("active", "socks5_udp_associations_active", rs->socks5_udp_assocs_active);
	C("udp unsupported", "socks5_udp_unsupported_total", rs->socks5_udp_unsupported);
	C("udp timeouts", "socks5_udp_timeouts_total", rs->socks5_udp_timeouts);
	C("udp closed by proxy", "socks5_udp_closed_by_proxy_total",
	  rs->socks5_udp_proxy_closed);

	line = "socks5";
	for (unsigned i = 0; i < 32; i++)
		if (rs->socks5_failures[i]) {
			const char *name = zt_socks5_outcome_name((enum zt_socks5_outcome)i);

			add(st, line, name, NULL, F_OWN_LINE, "socks5_failures_total",
			    "outcome", name, rs->socks5_failures[i]);
		}
	line = "http";
	for (unsigned i = 0; i < 16; i++)
		if (rs->http_failures[i]) {
			const char *name = zt_http_connect_outcome_name(
				(enum zt_http_connect_outcome)i);

			add(st, line, name, NULL, F_OWN_LINE, "http_failures_total",
			    "outcome", name, rs->http_failures[i]);
		}

	line = "sockets";
	G("open", "sockets_open", hs->sockets_open);
	C("streams opened", "streams_opened_total", hs->streams_opened);
	C("open errors", "stream_open_errors_total", hs->streams_open_errors);
	C("failed", "streams_failed_total", hs->streams_failed);
	C("read pauses", "stream_read_pauses_total", hs->stream_pauses);
	C("short sends", "stream_short_sends_total", hs->stream_short_sends);
	C("dgrams opened", "dgrams_opened_total", hs->dgrams_opened);
	C("dgram rx", "dgram_rx_total", hs->dgram_rx);
	C("dgram rx dropped", "dgram_rx_dropped_total", dgram_rx_dropped);
	C("send errors", "dgram_send_errors_total", hs->dgram_send_errors);
	C("dscp sets", "stream_dscp_sets_total", hs->stream_dscp_sets);
	C("syn ttl sets", "stream_syn_ttl_sets_total", hs->stream_ttl_sets);
	C("out of descriptors", "descriptor_shortages_total", hs->descriptor_shortages);

	line = "dgram";
	C("tx", "dgram_tx_total", hs->dgram_tx);
	J("in", "sends", "dgram_send_calls_total", hs->dgram_send_calls);
	C("gso sends", "dgram_gso_sends_total", hs->dgram_gso_sends);
	J("carrying", NULL, "dgram_gso_segments_total", hs->dgram_gso_segs);
	C("ttl sets", "dgram_ttl_sets_total", hs->dgram_ttl_sets);
	C("tos sets", "dgram_tos_sets_total", hs->dgram_tos_sets);
	C("df sets", "dgram_df_sets_total", hs->dgram_df_sets);
	C("path mtu asks", "dgram_path_mtu_asks_total", hs->dgram_path_mtu_asks);

	line = "busy-poll";
	C("spins", "busy_poll_spins_total", hs->busy_poll_spins);
	C("caught", "busy_poll_caught_total", hs->busy_poll_caught);

	line = "drops";
	for (unsigned d = 1; d < ZT_DROP__COUNT; d++)
		if (ss->drops[d]) {
			const char *name = zt_drop_name((enum zt_drop)d);

			add(st, line, name, NULL, 0, "drops_total", "reason", name,
			    ss->drops[d]);
			dropped = true;
		}
	if (!dropped)
		add(st, line, "(none)", NULL, F_NO_VALUE, NULL, NULL, NULL, 0);
}

#undef C
#undef U
#undef G
#undef J
#undef S

/* @ns as seconds with milliseconds ("12.345"), as both writers give
 * the uptime. */
static void put_seconds(FILE *f, uint64_t ns)
{
	fprintf(f, "%" PRIu64 ".%03" PRIu64, ns / 1000000000u,
		ns / 1000000u % 1000u);
}

void zr_stats_text(FILE *f, const struct zr_stats *st, const char *title,
		   uint64_t uptime_ns)
{
	const char *line = NULL;

	fprintf(f, "ztun-ref: stats: %s, up ", title);
	put_seconds(f, uptime_ns);
	fputs(" s\n", f);
	for (unsigned i = 0; i < st->n; i++) {
		const struct zr_stat *it = &st->item[i];

		if (!line || it->own_line || strcmp(line, it->line) != 0) {
			if (line)
				fputc('\n', f);
			fprintf(f, "ztun-ref: stats: %s ", it->line);
			line = it->line;
		} else {
			fputs(it->joined ? " " : ", ", f);
		}
		fputs(it->label, f);
		if (it->no_value)
			continue;
		fprintf(f, "%s%" PRIu64, it->label[0] ? " " : "", it->v);
		if (it->unit)
			fprintf(f, " %s", it->unit);
	}
	if (line)
		fputc('\n', f);
}

/* A label value as the exposition format quotes it. */
static void put_label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* "# HELP": the words of the item's text line ("tcp up direct bytes"),
 * of a labelled metric the line and its label ("flows by decision"), of
 * an item without words of its own its metric's name ("tun rx bytes"). */
static void put_help(FILE *f, const struct zr_stat *it)
{
	fprintf(f, "# HELP ztun_%s ", it->metric);
	if (it->lkey) {
		fprintf(f, "%s by %s\n", it->line, it->lkey);
	} else if (!it->label[0]) {
		const char *m = it->metric;
		size_t n = strlen(m);

		if (n > 6 && strcmp(m + n - 6, "_total") == 0)
			n -= 6;
		for (size_t i = 0; i < n; i++)
			fputc(m[i] == '_' ? ' ' : m[i], f);
		fputc('\n', f);
	} else {
		fprintf(f, "%s %s%s%s\n", it->line, it->label,
			it->unit ? " " : "", it->unit ? it->unit : "");
	}
}

void zr_stats_prom(FILE *f, const struct zr_stats *st, uint64_t uptime_ns)
{
	const char *metric = NULL;

	fputs("# HELP ztun_uptime_seconds seconds since ztun-ref started\n"
	      "# TYPE ztun_uptime_seconds gauge\n", f);
	fputs("ztun_uptime_seconds ", f);
	put_seconds(f, uptime_ns);
	fputc('\n', f);
	for (unsigned i = 0; i < st->n; i++) {
		const struct zr_stat *it = &st->item[i];

		if (!it->metric)
			continue;
		if (!metric || strcmp(metric, it->metric) != 0) {
			put_help(f, it);
			fprintf(f, "# TYPE ztun_%s %s\n", it->metric,
				it->gauge ? "gauge" : "counter");
			metric = it->metric;
		}
		fprintf(f, "ztun_%s", it->metric);
		if (it->lkey) {
			fprintf(f, "{%s=\"", it->lkey);
			put_label_value(f, it->lval);
			fputs("\"}", f);
		}
		fprintf(f, " %" PRIu64 "\n", it->v);
	}
}

/*
 * The temporary file is a new one of an unpredictable name,
 * "PATH.tmp.XXXXXX" (mkostemp(3): O_CREAT | O_EXCL), as route state
 * files are (routestate.c): a fixed "PATH.tmp" opened with O_TRUNC
 * followed a symbolic link (or a hard link) another user planted there
 * in a shared directory, so that ztun-ref, root, overwrote the file it
 * points to. It gets the mode a plain open(0644) would (readable by a
 * collector running as another user), the umask applied.
 */
int zr_stats_write_file(const char *path, const struct zr_stats *st,
			uint64_t uptime_ns)
{
	char tmp[4096 + 16];
	mode_t mask;
	FILE *f;
	int fd, err = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
	if (fd < 0)
		return -errno;
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0644 & ~mask) != 0) {
		err = -errno;
		close(fd);
		unlink(tmp);
		return err;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		unlink(tmp);
		return err;
	}
	zr_stats_prom(f, st, uptime_ns);
	if (ferror(f))
		err = -EIO;
	if (fclose(f) != 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) != 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
