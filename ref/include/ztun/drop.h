/* SPDX-License-Identifier: MIT */
/*
 * drop.h - why a packet was not accepted.
 *
 * Every parser and every layer that refuses a packet returns one of these;
 * the host adds them to per-reason counters. ZT_DROP_NONE means accepted.
 * New reasons are appended before ZT_DROP__COUNT and named in drop.c.
 */
#ifndef ZTUN_DROP_H
#define ZTUN_DROP_H

enum zt_drop {
	ZT_DROP_NONE = 0,
	ZT_DROP_TRUNCATED,        /* buffer shorter than a header or length says */
	ZT_DROP_BAD_VERSION,      /* IP version is neither 4 nor 6 */
	ZT_DROP_BAD_IHL,          /* IPv4 header length < 20 or past the buffer */
	ZT_DROP_BAD_TOTAL_LEN,    /* IPv4 total length / IPv6 payload length lies */
	ZT_DROP_BAD_CHECKSUM,     /* IPv4 header, TCP, UDP or ICMP checksum wrong */
	ZT_DROP_BAD_DATA_OFFSET,  /* TCP data offset < 5 or past the segment */
	ZT_DROP_BAD_OPTION_LEN,   /* IPv4/TCP/IPv6 option length 0, 1, wrong or overflowing */
	ZT_DROP_BAD_EXT_HDR,      /* IPv6 extension header misplaced or malformed */
	ZT_DROP_EXT_CHAIN_TOO_LONG, /* more IPv6 extension headers than we walk */
	ZT_DROP_BAD_LENGTH,       /* UDP length field < 8 or past the datagram */
	ZT_DROP_BAD_FRAGMENT,     /* fragment offset/length impossible */
	ZT_DROP_BAD_ADDRESS,      /* TCP/UDP or ICMP echo from or to no single host (multicast, broadcast, loopback, unspecified) */
	ZT_DROP_UNSUPPORTED,      /* upper-layer protocol or message type we do not handle */
	/* Fragment reassembly (ref/ip/reasm.c) */
	ZT_DROP_FRAG_OVERLAP,     /* fragment overlaps another (RFC 5722): whole datagram dropped */
	ZT_DROP_FRAG_TIMEOUT,     /* datagram not complete before its timer */
	ZT_DROP_FRAG_NO_MEMORY,   /* reassembly table or byte budget full */
	ZT_DROP_FRAG_TOO_BIG,     /* reassembled datagram would exceed 65535 */
	/* TCP endpoint (ref/tcp) */
	ZT_DROP_TCP_NO_FLOW,      /* segment for no connection (answered with RST unless RST) */
	ZT_DROP_TCP_OUT_OF_WINDOW,/* unacceptable segment (answered with an ACK
				   * unless a RST, a bare ACK failing PAWS, or
				   * a bare ACK within 500 ms of such an
				   * answer: oow_acks_skipped) */
	ZT_DROP_TCP_BAD_ACK,      /* acknowledges data never sent, or (the
				   * handshake's last ACK) echoes a TSval
				   * never sent (answered with an ACK) */
	ZT_DROP_TCP_BAD_FLAGS,    /* illegal flag combination (SYN+FIN, SYN+RST, none), or a
				   * SYN on a synchronized connection (challenge-ACKed) */
	ZT_DROP_TCP_RST_INVALID,  /* RST not exactly at rcv_nxt (challenge ACK sent) */
	ZT_DROP_TCP_OOO_FULL,     /* out-of-order segment beyond the assembler's bound */
	ZT_DROP_TCP_NO_BUFFER,    /* no memory for the receive ring's buffer (not acked) */
	ZT_DROP_FRAG_CHAIN_INCOMPLETE, /* IPv6 first fragment without the whole header chain (RFC 7112) */
	ZT_DROP_BAD_PORT,         /* TCP or UDP to port 0, or TCP from it, with no flow (RFC 6335 6: reserved) */
	ZT_DROP_ICMP_NO_FLOW,     /* ICMP error from the TUN side quoting nothing
				   * we sent: no TCP/UDP flow of its addresses
				   * and ports, or another protocol */
	ZT_DROP_ICMP_NOT_CLIENT,  /* ICMP error about a UDP flow's datagram not
				   * from that flow's client to its server */
	ZT_DROP_ICMP_NOT_IN_FLIGHT, /* ICMP error quoting a TCP flow's segment
				   * outside what is in flight (RFC 5927 4.1:
				   * SND.UNA <= SEG.SEQ < SND.NXT): stale or
				   * forged, believed for nothing */
	ZT_DROP__COUNT
};

/* Stable lower_snake name of @reason for statistics and logs; never NULL. */
const char *zt_drop_name(enum zt_drop reason);

#endif /* ZTUN_DROP_H */
