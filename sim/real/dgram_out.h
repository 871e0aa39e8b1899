/* SPDX-License-Identifier: MIT */
/*
 * dgram_out.h - datagrams to upstream UDP sockets, held while the host
 * handles the events of one wake-up (a batch of TUN reads among them) and
 * then sent with as few system calls as the kernel allows.
 *
 * Theory of operation: a datagram the core sends goes out at once, unless
 * the host is holding (zr_dgram_out_hold()): then it is copied here, and
 * zr_dgram_out_release() sends everything held, each socket's datagrams
 * in the order they came. A run of datagrams of one socket to one
 * destination, all of one size but the last (which may be shorter), goes
 * as one sendmsg() with UDP_SEGMENT: the kernel builds one buffer for all
 * of them, takes one route lookup, and cuts it into the same datagrams at
 * the device (or in software), so the wire sees exactly what separate
 * sends would have sent. The rest goes with sendmmsg(). A socket whose
 * UDP_SEGMENT send fails for a reason other than a full buffer (no
 * checksum offload on the route, datagrams larger than its MTU, an old
 * kernel) is not offered another and is sent to one by one.
 *
 * Holding adds no delay: the host releases before it waits again, and
 * flushes a socket's datagrams before that socket is closed
 * (zr_dgram_out_release() too). A send that would block loses its
 * datagrams, as a direct send would (UDP); they are counted as errors.
 * A send that fails with an ICMP error the socket got about an earlier
 * datagram (Linux hands it to the next send call, which sends nothing)
 * is made again once, so that error never costs a later datagram. A held
 * datagram lost for a reason of its own (no route, a firewall: not a full
 * buffer) is kept with the caller's tag and the start of its bytes, for
 * the caller to report once it is out of the core's calls
 * (zr_dgram_out_take_failures()); one sent at once returns its error.
 */
#ifndef ZTUN_REAL_DGRAM_OUT_H
#define ZTUN_REAL_DGRAM_OUT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "real/host.h"

/* Datagrams and bytes held at most; more releases what is held first. */
#define ZR_DGRAM_OUT_MAX 64
#define ZR_DGRAM_OUT_BYTES (256 * 1024)
/* The most one UDP_SEGMENT send carries (the kernel's UDP_MAX_SEGMENTS
 * was 64 before Linux 6.9; an IP packet's length field bounds the bytes) */
#define ZR_DGRAM_OUT_GSO_SEGS 64
#define ZR_DGRAM_OUT_GSO_BYTES 65000

/* A held datagram a send lost for a reason of its own. */
#define ZR_DGRAM_OUT_FAILS 16      /* kept per take; more are only counted */
#define ZR_DGRAM_FAIL_DATA 128     /* of its bytes: enough to quote */
struct zr_dgram_fail {
	uint64_t tag;                  /* the caller's, from zr_dgram_out_send */
	int err;                       /* errno */
	socklen_t to_len;
	struct sockaddr_storage to;
	uint16_t len;                  /* bytes in data */
	uint8_t data[ZR_DGRAM_FAIL_DATA];
};

struct zr_dgram_held {
	uint64_t tag;
	int fd;
	bool *gso_off;            /* borrowed: the socket's "no UDP_SEGMENT" */
	uint32_t off, len;        /* in buf */
	socklen_t to_len;
	struct sockaddr_storage to;
};

struct zr_dgram_out {
	struct zr_host_stats *stats; /* borrowed: dgram_* counters */
	bool holding;
	unsigned n;
	uint32_t used;
	struct zr_dgram_held held[ZR_DGRAM_OUT_MAX];
	unsigned n_failed;
	struct zr_dgram_fail failed[ZR_DGRAM_OUT_FAILS];
	uint8_t buf[ZR_DGRAM_OUT_BYTES];
};

/* Start empty, not holding; counters go to @stats (borrowed). */
void zr_dgram_out_init(struct zr_dgram_out *o, struct zr_host_stats *stats);
/* Hold what is sent from now until zr_dgram_out_release(). */
void zr_dgram_out_hold(struct zr_dgram_out *o);
/* Send everything held and stop holding. */
void zr_dgram_out_release(struct zr_dgram_out *o);
/* Send everything held (a socket is about to close), and go on holding. */
void zr_dgram_out_flush(struct zr_dgram_out *o);
/*
 * zr_dgram_out_send() - send @len bytes of @data (borrowed; copied when
 * held) on UDP socket @fd to @to, whose flag @gso_off (borrowed, must stay
 * valid until the datagram is sent) says UDP_SEGMENT failed on it; @tag
 * names the socket in a failure kept for later.
 * Return: 0 (sent or held), or a negative errno of a send made now.
 */
int zr_dgram_out_send(struct zr_dgram_out *o, int fd, bool *gso_off,
		      uint64_t tag, const struct sockaddr *to,
		      socklen_t to_len, const void *data, size_t len);
/*
 * zr_dgram_out_take_failures() - copy the held datagrams lost since the
 * last call (up to @max of them, the first ones) into @out and forget
 * them all. Return: how many were copied.
 */
unsigned zr_dgram_out_take_failures(struct zr_dgram_out *o,
				    struct zr_dgram_fail *out, unsigned max);

#endif /* ZTUN_REAL_DGRAM_OUT_H */
