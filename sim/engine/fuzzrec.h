/* SPDX-License-Identifier: MIT */
/*
 * fuzzrec.h - run a byte string as typed records through a fresh router:
 * the one entry point shared by the libFuzzer targets (tools/fuzz/), the
 * CUnit replays of the corpus and the regressions, and AFL++.
 *
 * Theory of operation:
 *
 * An input is a seed and a sequence of records:
 *
 *   input  := seed[8] record*
 *   record := kind:u8  delta_us:u32le  len:u16le  body[len]
 *
 * The seed (little-endian u64; zero-filled when the input is shorter)
 * seeds the router's generator (ISNs). Each record first moves virtual
 * time forward by delta_us microseconds, running every timer due on the
 * way, then does what its kind says:
 *
 *   CONFIG (0)    body[0] route mode (ZT_REC_ROUTE_*, modulo their count);
 *                 body[1] flags (ZT_REC_F_*); body[2..3] MTU (0: 1500,
 *                 else clamped to 1280..65535); body[4] max TCP flows
 *                 (0: 64); body[5] max UDP flows, also the NAT's
 *                 session capacity (0: 64); body[6] TCP ring
 *                 size 2 KiB << (body[6] % 8) (0: 64 KiB); body[7] more
 *                 flags (ZT_REC_X_*: TSO with software segmentation, a
 *                 pull-model host, a pipelined SOCKS5 handshake, early
 *                 SYN-ACKs, the fake-IP resolver, SOCKS5 UDP full
 *                 cone); body[8] the upstream sockets (streams and
 *                 datagram sockets) open at once, past which an open
 *                 fails with EMFILE, as at a descriptor limit (0: no
 *                 bound). Missing bytes count
 *                 as 0. Only a CONFIG
 *                 before any other record shapes the router (MTU,
 *                 tables, rings, proxies, reject_icmp); a later one
 *                 changes the route mode and the host flags.
 *   TUN (1)       body is one IP packet from the TUN side. With
 *                 lim->fix_checksums its IPv4 header, TCP, UDP, ICMP and
 *                 ICMPv6 checksums are made right first (the core's
 *                 parsers are not touched: the fuzzer just gets past them).
 *   S_CONNECTED (2), S_FAILED (3), S_DATA (4), S_EOF (5), S_WRITABLE (6)
 *                 an upstream stream event. body[0] picks the stream: the
 *                 (body[0] mod opened)-th stream the core opened, counting
 *                 from 0. S_FAILED: body[1] picks the errno, modulo 8, in
 *                 the order ECONNREFUSED ENETUNREACH EHOSTUNREACH ETIMEDOUT
 *                 EACCES ECONNRESET EPIPE EMSGSIZE; body[2] != 0: the
 *                 connect ended on an ICMP error of that type (IPv4
 *                 numbering), code body[3], from body[4..7] (IPv4; absent:
 *                 unknown), zt_router_stream_failed_icmp(). S_DATA:
 *                 body[1..] are bytes from the upstream. S_WRITABLE: body[1..4] (u32le) is the new send
 *                 window (absent: the default). Events a real socket could
 *                 not produce are ignored: nothing before connected but
 *                 failed, nothing after failed or closed, one connected,
 *                 one EOF, no data after EOF.
 *   DGRAM (7)     a datagram for the (body[0] mod opened)-th datagram
 *                 socket. body[1] even: from the last address the core
 *                 sent to on it; odd: from body[2..5] (IPv4) port
 *                 body[6..7] (big-endian). The datagram follows (from
 *                 body[2], or body[8] for an explicit address); with
 *                 body[1] >> 1 = S > 0 it is cut into datagrams of S
 *                 bytes (the last shorter, at most 64) handed over as one
 *                 batch (zt_router_dgram_batch(), as ztun-ref reads them).
 *   ADVANCE (8)   nothing but the time step.
 *   HOST (9)      the scripted upstream's next answers: body[0] != 0 makes
 *                 the next stream_open fail (errno by body[0], as for
 *                 S_FAILED), body[1] != 0 the next dgram_open, body[2] != 0
 *                 the next stream_send; body[3..6] (u32le) set the default
 *                 send window of streams opened later; body[7] != 0 makes
 *                 the next dgram_send fail (zt_router_dgram_send_failed's
 *                 path: no route, a firewall, ..., 7: EMSGSIZE, too large
 *                 for the egress's link); body[8..9] (u16le) the path MTU
 *                 dgram_path_mtu gives from then on (0: none known).
 *   TUN_BATCH (10) body is packets, each a u16le length and its bytes (a
 *                 last one cut short is dropped), fed between
 *                 zt_router_tun_batch_begin() and _end(), as ztun-ref
 *                 feeds one batch of TUN reads.
 *   DGRAM_ERROR (11) an ICMP error (zt_router_dgram_error()) for the
 *                 (body[0] mod opened)-th datagram socket: type body[1],
 *                 code body[2]; body[3] bit 0 clear: about the last address
 *                 the core sent to on it, set: about body[4..7] (IPv4) port
 *                 body[8..9]; bit 1 clear: from that address, set: from the
 *                 next 4 bytes (IPv4); bit 2 set: the next 2 bytes (u16le)
 *                 are a packet too big's MTU. The datagram's payload
 *                 follows.
 *
 * Unknown kinds are skipped and counted; a final record cut short is
 * ignored (outcome.truncated). The scripted upstream never does I/O: each
 * stream takes what its send window allows, keeps bytes the core did not
 * take until stream_resume(), and with ZT_REC_F_ECHO echoes every byte and
 * datagram back. With ZT_REC_F_LOOP every packet the core writes to the TUN
 * is fed back into it. Both may feed themselves for ever: derived events
 * (echoes, looped packets, timer runs) count towards lim->max_events,
 * virtual time stops at lim->max_time, so a hang is found, not waited for.
 *
 * Invariants, checked after every record and every derived event: stack
 * counters agree with each other and with what the host saw (packets and
 * bytes out, flows active <= opened and <= the table size, ring memory per
 * flow constant, UDP flows active <= opened - expired), every packet on the
 * TUN is at most the MTU and parses with every checksum verified, no timer
 * is left due after a poll, the core never uses an upstream handle after
 * closing it (or after it failed), and after zt_router_free() no upstream
 * handle is left open. In fuzz builds (ZT_FUZZING) a violation abort()s so
 * the fuzzer reports it; otherwise it is counted in the outcome.
 *
 * Everything is allocated per call and freed before it returns.
 */
#ifndef ZTUN_SIM_FUZZREC_H
#define ZTUN_SIM_FUZZREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ztun/router.h"

enum zt_rec_kind {
	ZT_REC_CONFIG = 0,
	ZT_REC_TUN = 1,
	ZT_REC_S_CONNECTED = 2,
	ZT_REC_S_FAILED = 3,
	ZT_REC_S_DATA = 4,
	ZT_REC_S_EOF = 5,
	ZT_REC_S_WRITABLE = 6,
	ZT_REC_DGRAM = 7,
	ZT_REC_ADVANCE = 8,
	ZT_REC_HOST = 9,
	ZT_REC_TUN_BATCH = 10,
	ZT_REC_DGRAM_ERROR = 11,
	ZT_REC__COUNT
};

#define ZT_REC_SEED_LEN 8
#define ZT_REC_HDR_LEN 7 /* kind, delta_us, len */

/* Route modes (CONFIG body[0]). */
enum zt_rec_route {
	ZT_REC_ROUTE_DIRECT = 0,
	ZT_REC_ROUTE_SOCKS5,
	ZT_REC_ROUTE_HTTP,
	ZT_REC_ROUTE_MIXED,   /* by a hash of the flow's destination port */
	ZT_REC_ROUTE_DROP,
	ZT_REC_ROUTE_LOCAL,
	ZT_REC_ROUTE_RULES,   /* a fixed rule table, reject included */
	ZT_REC_ROUTE_NAT,
	ZT_REC_ROUTE__COUNT
};

/* Host flags (CONFIG body[1]). */
enum {
	ZT_REC_F_SOCKS_AUTH = 1u << 0,  /* SOCKS5 proxy with user/password */
	ZT_REC_F_HTTP_AUTH = 1u << 1,   /* HTTP proxy with Basic auth */
	ZT_REC_F_REJECT_ICMP = 1u << 2, /* stack refuses with ICMP, not RST */
	ZT_REC_F_LOOP = 1u << 3,        /* TUN output fed back into the TUN */
	ZT_REC_F_ECHO = 1u << 4,        /* upstreams echo what they get */
	ZT_REC_F_NO_PROXY = 1u << 5,    /* no proxy configured at all */
	ZT_REC_F_PROXY_NAME = 1u << 6,  /* proxies given by host name */
	ZT_REC_F_PROXY_V6 = 1u << 7,    /* proxies at IPv6 addresses */
};

/* More host flags (CONFIG body[7]). */
enum {
	/* TCP TSO (tso_segs 8) with a device that cuts the segments in
	 * software (sim/io/gso.h); every piece is checked like any packet */
	ZT_REC_X_TSO = 1u << 0,
	/* upstream bytes read as ztun-ref reads them (engine/stream_read.h):
	 * no more than zt_router_stream_room() says, none while it says 0,
	 * a relaying flow's straight into its send ring */
	ZT_REC_X_PULL = 1u << 1,
	ZT_REC_X_SOCKS_PIPELINED = 1u << 2, /* zt_proxy_config.pipelined */
	ZT_REC_X_EARLY_SYNACK = 1u << 3,    /* zt_router_config.early_synack */
	/* the fake-IP resolver at the server address 203.0.113.10 (UDP
	 * port 53), names from 198.18.0.0/24 and fd00:f::/120, 64 of them */
	ZT_REC_X_FAKE_DNS = 1u << 4,
	ZT_REC_X_UDP_FULL_CONE = 1u << 5,   /* zt_router_config.udp_full_cone */
	ZT_REC_X_DNS_OVER_TCP = 1u << 6,    /* zt_router_config.dns_over_tcp */
	/* zt_router_config.dns_tcp_fallback off (it is on by default) */
	ZT_REC_X_NO_DNS_TCP_FALLBACK = 1u << 7,
};

struct zt_replay_limits {
	uint64_t max_time;      /* ns of virtual time past the start (1 h) */
	uint64_t max_events;    /* records + derived events (200000) */
	uint64_t max_records;   /* records run (unbounded: UINT64_MAX) */
	bool fix_checksums;     /* fix TUN packets' checksums (ZT_FUZZING) */
	/* Optional: sees every packet the core writes to the TUN (borrowed
	 * for the call); must not call back in. */
	void (*tap)(void *user, const uint8_t *pkt, size_t len);
	void *tap_user;
};

struct zt_replay_outcome {
	uint64_t records;       /* records run */
	uint64_t unknown;       /* ... of unknown kind (skipped) */
	uint64_t events;        /* records + derived events */
	bool truncated;         /* the last record was cut short (ignored) */
	bool time_cap, event_cap, record_cap; /* a cap stopped the run */
	uint64_t tun_in;        /* packets fed to the TUN (looped ones too) */
	uint64_t tun_out, tun_out_bytes;
	uint64_t syn_acks, rsts, icmp_out, udp_out; /* what tun_out carried */
	uint64_t tso_out, tso_bytes;     /* TSO segments (ZT_REC_X_TSO) ... */
	uint64_t tso_pieces, tso_piece_bytes; /* ... and the pieces cut */
	uint64_t batches;                /* TUN_BATCH records run */
	uint64_t streams, dgrams;        /* upstream sockets the core opened */
	uint64_t stream_bytes_up;        /* bytes stream_send took */
	uint64_t violations;    /* broken invariants (only without ZT_FUZZING) */
	char first_violation[160];
	struct zt_stack_stats stack;     /* counters just before the free */
	struct zt_router_stats router;
};

/* Defaults as documented in struct zt_replay_limits. */
void zt_replay_limits_default(struct zt_replay_limits *lim);

/*
 * zt_replay_records() - run @data as records (format above) through a
 * fresh router and a scripted upstream, then free everything.
 * @data/@len: the input (borrowed; any bytes are valid)
 * @lim:       caps and options (borrowed; NULL: the defaults)
 * @out:       filled (zeroed first); may be NULL
 * Return: 0 (also when a cap stopped the run), -ENOMEM, or -EINVAL when
 * the configuration was refused by the router.
 */
int zt_replay_records(const uint8_t *data, size_t len,
		      const struct zt_replay_limits *lim,
		      struct zt_replay_outcome *out);

/* One decoded record; @body is borrowed from the input. */
struct zt_rec {
	uint8_t kind;
	uint32_t delta_us;
	uint16_t len;
	const uint8_t *body;
};

/*
 * zt_rec_next() - decode the record at *@off in @data/@len.
 * Return: 1 with @rec filled and *@off moved past it; 0 at the end of the
 * input; -EMSGSIZE when the record is cut short (*@off unchanged).
 */
int zt_rec_next(const uint8_t *data, size_t len, size_t *off,
		struct zt_rec *rec);

/*
 * zt_rec_put() - encode one record into @buf (caller-owned, @cap bytes);
 * @body (@len bytes, borrowed) may be NULL when @len is 0.
 * Return: bytes written (ZT_REC_HDR_LEN + @len) or -ENOSPC.
 */
int zt_rec_put(uint8_t *buf, size_t cap, uint8_t kind, uint32_t delta_us,
	       const void *body, uint16_t len);

/*
 * zt_rec_fix_checksums() - make the IPv4 header checksum and the TCP, UDP,
 * ICMP or ICMPv6 checksum of the packet in @pkt (@len bytes, modified in
 * place) right, as far as its headers can be walked. Fragments get only
 * their IPv4 header checksum.
 */
void zt_rec_fix_checksums(uint8_t *pkt, size_t len);

#endif /* ZTUN_SIM_FUZZREC_H */
