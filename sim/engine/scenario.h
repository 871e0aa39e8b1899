/* SPDX-License-Identifier: MIT */
/*
 * scenario.h - scenario scripts (docs/scenarios.md): the parser that turns
 * a script's text into a header and a list of typed events, and the
 * executor that runs one against a fresh zt_router in virtual time.
 *
 * Theory of operation:
 *
 * zt_scn_parse() reads the whole text once. Header lines (before the first
 * event, starting with "--") fill a struct zt_scn_header: the router
 * configuration is built and checked right there, so a bad value is a
 * parse error naming its line and token. Every other line becomes one
 * struct zt_scn_event with its absolute time in nanoseconds and its line
 * number. Nothing is interpreted against the router at parse time except
 * rule syntax (zt_rule_parse) and counter names.
 *
 * zt_scn_run() (scenario_run.c) plays the events: inputs are fed at their
 * time, outputs are collected per channel (the TUN, each upstream stream,
 * the datagram sockets) and matched strictly against the expected lines.
 * The first mismatch ends the run with a message in the documented format;
 * a trace hash over every input and output (with its time) shows that two
 * runs with the same seed did the same thing.
 *
 * Ownership: a struct zt_scn owns every event and the buffers in them;
 * zt_scn_free() releases it. Results are plain structs owned by the caller.
 */
#ifndef ZTUN_SIM_SCENARIO_H
#define ZTUN_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ztun/addr.h"
#include "ztun/router.h"
#include "ztun/tcp_wire.h"

#define ZT_SCN_ERR_LEN 2048
#define ZT_SCN_MAX_ROUTES 64
#define ZT_SCN_MAX_SOCKETS 64 /* --max-sockets: at most */
#define ZT_SCN_VAR_LEN 32

enum zt_scn_kind {
	ZT_SCN_TUN_IN = 1,   /* tun< */
	ZT_SCN_TUN_OUT,      /* tun> */
	ZT_SCN_S_IN,         /* sN< */
	ZT_SCN_S_OUT,        /* sN> */
	ZT_SCN_NET_IN,       /* net< */
	ZT_SCN_NET_OUT,      /* net> */
	ZT_SCN_ADVANCE,      /* advance */
	ZT_SCN_ASSERT,       /* assert */
};

/* What a tun< / tun> line describes. */
enum zt_scn_pkt_type {
	ZT_SCN_PKT_TCP = 1,
	ZT_SCN_PKT_UDP,
	ZT_SCN_PKT_ECHO,       /* ICMP/ICMPv6 echo request */
	ZT_SCN_PKT_ECHOREPLY,
	ZT_SCN_PKT_UNREACH,    /* destination unreachable */
	ZT_SCN_PKT_TIMEX,      /* time exceeded */
	ZT_SCN_PKT_TOOBIG,     /* fragmentation needed / packet too big (as
				* input: about a UDP datagram it quotes) */
	ZT_SCN_PKT_RAW,        /* whole packet as hex (input only) */
};

/* A TCP option as written in <...>. */
enum zt_scn_opt_kind {
	ZT_SCN_OPT_MSS = 1,
	ZT_SCN_OPT_WSCALE,
	ZT_SCN_OPT_SACKOK,
	ZT_SCN_OPT_TS,
	ZT_SCN_OPT_SACK,
	ZT_SCN_OPT_NOP,
	ZT_SCN_OPT_EOL,
};

#define ZT_SCN_MAX_OPTS 12

struct zt_scn_opt {
	uint8_t kind;              /* enum zt_scn_opt_kind */
	uint32_t val, ecr;         /* MSS/wscale value; TS val and ecr */
	bool val_any, ecr_any;     /* TS "*": not checked */
	uint8_t nblocks;           /* SACK */
	struct zt_sack_block blocks[ZT_TCP_MAX_SACK]; /* relative to the receiver's ISN */
};

struct zt_scn_pkt {
	uint8_t type;              /* enum zt_scn_pkt_type */
	bool has_addrs;            /* SRC > DST given */
	struct zt_addr src, dst;
	uint16_t sport, dport;
	/* TCP */
	uint8_t flags;             /* ZT_TCP_* */
	uint32_t start, end;       /* relative sequence numbers */
	bool has_ack;
	uint32_t ack;              /* relative */
	bool has_win;
	uint16_t win;
	bool has_opts;             /* <...> given */
	bool opts_more;            /* ... as the last option */
	uint8_t nopts;
	struct zt_scn_opt opts[ZT_SCN_MAX_OPTS];
	bool no_win_check;         /* trailing ... */
	/* UDP (LEN), ICMP echo id/seq, unreach code */
	uint32_t len;
	uint8_t ttl;               /* `ttl N`: tun< sends with it (else 64),
				    * net> checks the socket's; 0: not given */
	bool has_tos;              /* `tos N`: the same for the traffic */
	uint8_t tos;               /* class (IPv4 TOS; tun< else 0) */
	bool df;                   /* `df`: tun< sends with IPv4 DF */
	uint16_t echo_id, echo_seq;
	uint8_t code;
	uint32_t mtu;              /* toobig's */
	/* unreach/timex/toobig: the datagram the error must quote (`quotes ...`) */
	bool has_quote, quote_ports, quote_echo;
	struct zt_addr quote_src, quote_dst;
	uint16_t quote_sport, quote_dport;
	uint16_t quote_echo_id, quote_echo_seq;
	/* payload (TCP, UDP, ICMP echo) or the whole packet (raw) */
	bool has_payload;
	uint8_t *payload;          /* owned */
	size_t payload_len;
};

/* sN< / sN> operations. */
enum zt_scn_sop {
	ZT_SCN_S_CONNECT = 1,      /* sN> connect EP [ttl N] */
	ZT_SCN_S_ACCEPT,           /* sN< accept */
	ZT_SCN_S_REFUSE,           /* sN< refuse */
	ZT_SCN_S_TIMEOUT,          /* sN< timeout */
	ZT_SCN_S_UNREACH,          /* sN< unreach [host|net|prohibited] */
	ZT_SCN_S_TIMEX,            /* sN< timex ADDR (a router's time exceeded) */
	ZT_SCN_S_DATA,             /* sN< / sN> PAYLOAD (sN< may add fin) */
	ZT_SCN_S_FIN,              /* sN< fin / sN> fin */
	ZT_SCN_S_RST,              /* sN< rst (the upstream resets) / sN> rst (ztun does) */
	ZT_SCN_S_CLOSE,            /* sN> close */
	ZT_SCN_S_WINDOW,           /* sN< window N|inf */
	ZT_SCN_S_SILENT,           /* sN< silent (the peer vanished) */
};

enum zt_scn_cmp {
	ZT_SCN_EQ = 1, ZT_SCN_NE, ZT_SCN_LT, ZT_SCN_LE, ZT_SCN_GT, ZT_SCN_GE,
};

/* Which counter an assert reads. */
enum zt_scn_counter {
	ZT_SCN_C_STACK = 1,        /* offset into struct zt_stack_stats */
	ZT_SCN_C_DROP,             /* index: enum zt_drop */
	ZT_SCN_C_ROUTER,           /* offset into struct zt_router_stats */
	ZT_SCN_C_TCP_STATE,        /* state of the current connection */
	ZT_SCN_C_NAT,              /* offset into struct zt_nat_stats */
	ZT_SCN_C_FAKEDNS,          /* offset into struct zt_fakedns_stats
				    * (0 with the resolver off) */
	ZT_SCN_C_TCP,              /* offset into struct zt_tcb_stats, the
				    * flows' summed (zt_stack_tcp_totals()) */
};

/*
 * zt_scn_counter_name() - the @i-th (from 0) counter `assert` takes as a
 * field of a stats struct ("stack.packets_in", "router.tcp_relayed_up",
 * "nat.active", "fakedns.queries"; not drops.*, router.flows.* or
 * tcp.state), written into @buf (@len bytes), for tests.
 * Return: @buf, or NULL when @i is past the last.
 */
const char *zt_scn_counter_name(size_t i, char *buf, size_t len);

struct zt_scn_event {
	unsigned line;
	size_t src_off, src_len;   /* the line's text in zt_scn.src (no newline) */
	uint64_t t;                /* absolute, ns */
	uint8_t kind;              /* enum zt_scn_kind */
	struct zt_scn_pkt pkt;     /* TUN_IN, TUN_OUT */
	/* streams */
	unsigned stream;           /* N of sN, from 1 */
	uint8_t sop;               /* enum zt_scn_sop */
	bool fin;                  /* sN< PAYLOAD fin */
	bool window_inf;
	uint64_t window;
	int unreach_err;           /* sN< unreach: EHOSTUNREACH, ENETUNREACH or EACCES */
	struct zt_endpoint ep;     /* sN> connect; net> destination; net< source */
	/* datagrams */
	char var[ZT_SCN_VAR_LEN];  /* $VAR without the $, or "" */
	bool icmp;                 /* net>/net< icmp: an ICMP echo socket's
				    * message (ep has no port) */
	bool error;                /* net< error: an ICMP error from ep's
				    * address about the datagram to err_to */
	uint8_t err_type, err_code; /* ... in err_to's family's numbering */
	uint32_t err_mtu;          /* ... and a toobig's MTU (0: none given) */
	struct zt_endpoint err_to;
	/* assert */
	uint8_t counter;           /* enum zt_scn_counter */
	size_t counter_off;        /* offset or drop index */
	char counter_name[64];
	uint8_t cmp;               /* enum zt_scn_cmp */
	uint64_t value;            /* number, or enum zt_tcp_state */
};

struct zt_scn_header {
	uint64_t seed;
	bool seed_set;
	struct zt_addr tun, tun6;  /* tun6.family 0: none */
	uint8_t tun_prefix, tun6_prefix;
	struct zt_router_config cfg;    /* stack settings, proxies */
	unsigned nroutes;
	char *routes[ZT_SCN_MAX_ROUTES]; /* owned rule texts, in order */
	enum zt_route_decision def;
	bool def_reject;
	uint64_t tolerance;        /* ns */
	/* The TUN takes offloads (--tun-offload): the router gets a
	 * tun_output_gso and TSO, and the simulated device cuts each such
	 * write into the packets the client sees, as the kernel does. */
	bool tun_offload;
	/* Upstream streams and datagram sockets open at once (--max-sockets):
	 * past it an open fails with -EMFILE, as at a descriptor limit
	 * (0: only the runner's own bound). */
	unsigned max_sockets;
};

struct zt_scn {
	char *file;                /* owned copy of the name given */
	char *src;                 /* owned copy of the text, NUL-terminated */
	struct zt_scn_header hdr;
	struct zt_scn_event *ev;   /* owned, n entries */
	size_t n, cap;
	unsigned last_line;        /* last line of the text */
};

/*
 * zt_scn_parse() - parse script @text (@len bytes, borrowed) named @file.
 * @out: filled on success; on failure it is left empty (nothing to free)
 * @err: on failure "FILE:LINE: message naming the token"
 * Return: 0, -EINVAL (syntax, @err set) or -ENOMEM.
 */
int zt_scn_parse(const char *file, const char *text, size_t len,
		 struct zt_scn *out, char *err, size_t errlen);
void zt_scn_free(struct zt_scn *s);

struct zt_scn_result {
	bool passed;
	unsigned fail_line;        /* the line that failed (0 when passed) */
	uint64_t seed;             /* the seed the run used */
	bool ran;                  /* the script parsed and ran (trace_hash is its) */
	uint64_t trace_hash;       /* FNV-1a over the events and their times */
	uint64_t end_time;         /* virtual ns at the end */
	char msg[ZT_SCN_ERR_LEN];  /* failure text, without a trailing newline */
};

/* How to run: all fields may be zero. */
struct zt_scn_opts {
	bool have_seed;            /* use @seed instead of the script's */
	uint64_t seed;
	FILE *log;                 /* when set, every input and output with its time */
};

/*
 * zt_scn_run() - run @s once against a fresh router.
 * @o: options (borrowed; may be NULL)
 * @res: the outcome (always filled)
 * Return: 0 when it passed, 1 when it failed, -ENOMEM when the router or
 * the host could not be set up (res->msg says so).
 */
int zt_scn_run(const struct zt_scn *s, const struct zt_scn_opts *o,
	       struct zt_scn_result *res);

/*
 * zt_scn_run_file() - read, parse and run @path; a parse error is a failed
 * run with the parse message.
 * Return: as zt_scn_run(), or -ENOENT/-EIO when @path cannot be read
 * (res->msg names it).
 */
int zt_scn_run_file(const char *path, const struct zt_scn_opts *o,
		    struct zt_scn_result *res);

#endif /* ZTUN_SIM_SCENARIO_H */
