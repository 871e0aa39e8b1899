/* SPDX-License-Identifier: MIT */
/*
 * replay.h - replay a packet capture through a zt_stack.
 *
 * Theory of operation:
 *
 * A capture holds both directions of real traffic. The replay splits it in
 * two: the TUN side (the clients: the sender of a TCP connection's SYN, the
 * sender of a UDP flow's first datagram, the sender of an ICMP echo
 * request), whose packets are fed into a zt_stack at their capture time,
 * and the far side, whose packets are the script of an emulated upstream:
 * server payload is pushed with zt_stack_tcp_send when the capture shows
 * the server sending it, a server FIN becomes zt_stack_tcp_shutdown, a
 * server RST zt_stack_tcp_abort, a server UDP datagram zt_stack_udp_send.
 * Every TCP connection is accepted at once, every ICMP echo request is
 * answered by the stack (echo_verdict is always ZT_ECHO_LOCAL), and what the stack
 * emits is written to an optional output capture.
 *
 * Virtual time is capture time: before each packet the stack's timers due
 * by then are run, and after the last one timers run for a bounded extra
 * time (linger) so closes complete. The stack's ISNs come from a generator
 * seeded with the given seed, so one seed gives byte-identical output.
 * No wall clock is read anywhere.
 *
 * See docs/cli.md (ztun-sim replay) for the rules in full: ACK/SACK
 * mapping, mid-flow connections, snapped frames.
 */
#ifndef ZTUN_SIM_REPLAY_H
#define ZTUN_SIM_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/addr.h"
#include "ztun/stack.h"

/* How a replayed flow ended. */
enum zt_replay_end {
	ZT_REPLAY_OPEN = 0,   /* still open when the replay stopped (UDP: always) */
	ZT_REPLAY_CLOSED,     /* orderly close (ZT_TCP_EV_CLOSED) */
	ZT_REPLAY_RESET,      /* reset by either side or by a timer */
	ZT_REPLAY_REFUSED,    /* the stack refused the SYN (full, timeout) */
	ZT_REPLAY_MIDFLOW,    /* the capture lacks the SYN: the stack never had it */
};

/* One row of the flow table. */
struct zt_replay_flow {
	uint8_t proto;             /* ZT_IPPROTO_TCP or ZT_IPPROTO_UDP */
	struct zt_addr client;     /* TUN side */
	struct zt_addr server;     /* the emulated upstream */
	uint16_t client_port, server_port;
	const char *decision;      /* static string; "accept" for every flow today */
	uint64_t bytes_up;         /* client -> upstream: bytes the stack delivered */
	uint64_t bytes_down;       /* upstream -> client: bytes handed to the stack */
	uint64_t cap_up;           /* client payload bytes in the capture (new bytes) */
	uint64_t cap_down;         /* server payload bytes in the capture (new bytes) */
	uint64_t dgrams_up, dgrams_down;         /* UDP: replayed datagrams */
	uint64_t cap_dgrams_up, cap_dgrams_down; /* UDP: datagrams in the capture */
	bool syn_seen;             /* TCP: the client's SYN is in the capture */
	bool cap_rst;              /* TCP: the capture shows a RST on this flow */
	enum zt_replay_end end;
};

struct zt_replay_opts {
	const char *input;         /* capture to replay (any link type the reader takes) */
	const char *output;        /* LINKTYPE_RAW capture of what the stack emits, or NULL */
	uint64_t seed;             /* seeds the stack's generator */
	uint16_t mtu;              /* TUN MTU, 1280..65535 */
	uint64_t linger;           /* ns of timers run after the last packet */
};

struct zt_replay_result {
	struct zt_replay_flow *flows; /* owned; free with zt_replay_result_free() */
	size_t n_flows;
	struct zt_stack_stats stats;  /* the stack's counters at the end */
	/* Every frame read lands in exactly one of the last four:
	 * frames_read == frames_skipped + fed + scripted + ignored. */
	uint64_t frames_read;         /* every frame in the capture */
	uint64_t frames_skipped;      /* ... not replayed: non-IP, or over 65535 bytes */
	uint64_t fed;                 /* ... fed into the stack (TUN side) */
	uint64_t scripted;            /* ... far-side, used as the upstream's script */
	uint64_t ignored;             /* ... with nothing to emulate or not re-emittable */
	uint64_t start_ns, end_ns;    /* virtual time of the first packet and at the end */
	char err[256];                /* message when zt_replay_run() fails */
};

/* Defaults: no output, seed 1, MTU 1500, linger 5 s. @o->input is NULL. */
void zt_replay_opts_default(struct zt_replay_opts *o);

/*
 * zt_replay_run() - replay @o->input through a fresh zt_stack.
 * @o: options (borrowed)
 * @r: filled (zeroed first); on success its flow table is owned by the
 *     caller, to be freed with zt_replay_result_free() (also safe after a
 *     failure)
 * Return: 0; -EINVAL (bad options, among them an output that is the
 * input file: compared by device and inode, so a hard link counts), -ENOENT/-EIO/-EPROTONOSUPPORT (input
 * unreadable), -errno (output not writable; -EOVERFLOW: the stack sent a
 * packet past 2106, which pcap cannot timestamp) or -ENOMEM, with r->err naming
 * the file and the problem.
 */
int zt_replay_run(const struct zt_replay_opts *o, struct zt_replay_result *r);

/* Whether @o->output names the file @o->input names (same device and
 * inode: a hard link or another spelling of the path counts). False when
 * either is NULL or does not exist. */
bool zt_replay_output_is_input(const struct zt_replay_opts *o);

/* Free @r's flow table (the struct itself is the caller's). */
void zt_replay_result_free(struct zt_replay_result *r);

/* "open", "closed", "reset", "refused", "mid-flow"; never NULL. */
const char *zt_replay_end_name(enum zt_replay_end end);

#endif /* ZTUN_SIM_REPLAY_H */
