/* SPDX-License-Identifier: MIT */
/*
 * dns_tcp.h - DNS over TCP for a client that asks over UDP (RFC 7766,
 * RFC 1035 4.2.2): the framing of one connection that carries one UDP
 * flow's queries, byte-in/byte-out, no I/O (the router's dns tunnels).
 *
 * Each query goes out behind its two-byte length; the answers come back
 * the same way, in any order (RFC 7766 6.2.1.1), and each is matched to
 * the query of its ID and question: a client may ask two questions under
 * one ID (its ID space is its own socket's), and an answer without a
 * question (a FORMERR) goes to the oldest of its ID. An answer larger than its query's sender takes
 * over UDP (zt_dns_udp_limit()) is passed on cut to its question and
 * EDNS OPT with TC set (zt_dns_truncate()): the client asks again over
 * TCP itself. A
 * query is held until answered, so that when the connection closes with
 * queries unanswered they can go again on the next
 * (zt_dns_tcp_rewind(), RFC 7766 6.2.1.1: a server may close one after
 * any answer).
 *
 * Ownership: a struct zt_dns_tcp is the caller's; it owns the buffer of
 * the queries that wait and that of an answer being read, each held only
 * while needed (zt_dns_tcp_destroy() frees them).
 */
#ifndef ZTUN_DNS_TCP_H
#define ZTUN_DNS_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ztun/view.h"

#define ZT_DNS_TCP_OUT_MAX 4096   /* framed queries not yet answered */
#define ZT_DNS_TCP_PENDING 32     /* queries waiting for their answers */

struct zt_dns_tcp {
	uint8_t *out;                    /* owned, ZT_DNS_TCP_OUT_MAX bytes
					  * only while a query waits (a flow
					  * keeps its framer while idle): the
					  * pending queries, framed, in their
					  * order */
	size_t out_len, out_sent;        /* ... of which sent */
	struct {
		uint16_t id;
		uint16_t limit;          /* the asker's UDP size */
		uint16_t len;            /* its bytes in out, framed */
		uint16_t qlen;           /* its question's (after the
					  * header), 0: none to read */
	} pending[ZT_DNS_TCP_PENDING];   /* oldest first */
	unsigned n_pending;
	uint8_t prefix[2];               /* the answer's length, as read */
	size_t prefix_len;
	uint8_t *msg;                    /* owned: the answer being read */
	size_t msg_len, msg_need;
};

void zt_dns_tcp_init(struct zt_dns_tcp *d);
/* Free what @d owns; it may be initialized again. */
void zt_dns_tcp_destroy(struct zt_dns_tcp *d);

/* Whether @q (@len bytes) can be a query: a whole header, QR clear.
 * What zt_dns_tcp_query() refuses with -EINVAL, asked before a stream
 * is opened for it. */
bool zt_dns_tcp_is_query(const uint8_t *q, size_t len);

/*
 * zt_dns_tcp_query() - frame UDP query @q (@len bytes, borrowed) for the
 * connection and wait for its answer.
 * Return: 0; -EINVAL when @q is no query (zt_dns_tcp_is_query());
 * -ENOMEM (no room for the first to wait); -ENOBUFS when
 * ZT_DNS_TCP_OUT_MAX bytes or ZT_DNS_TCP_PENDING
 * queries already wait (the query is lost, as UDP may lose it). A query
 * whose ID and question already wait (a client's retry; without a
 * question to read, the same bytes) only replaces that one's limit: the
 * connection does not lose the first. Another question under that ID is
 * a query of its own.
 */
int zt_dns_tcp_query(struct zt_dns_tcp *d, const uint8_t *q, size_t len);
/* The same for an asker that takes answers up to @limit bytes (0: its
 * UDP size, as zt_dns_tcp_query(); 65535: a TCP asker, to which every
 * answer goes whole). */
int zt_dns_tcp_query_limit(struct zt_dns_tcp *d, const uint8_t *q,
			   size_t len, unsigned limit);

/* The framed bytes to send next (borrowed until the next call on @d). */
struct zt_view zt_dns_tcp_output(const struct zt_dns_tcp *d);
/* @n of them were taken by the upstream. */
void zt_dns_tcp_sent(struct zt_dns_tcp *d, size_t n);

/*
 * zt_dns_tcp_rewind() - the connection is gone: forget the answer being
 * read, and send every query still waiting again, in order, on the next.
 * Return: whether any waits.
 */
bool zt_dns_tcp_rewind(struct zt_dns_tcp *d);

/* Whether a query still waits for its answer. */
bool zt_dns_tcp_waiting(const struct zt_dns_tcp *d);

/* What became of one answer (zt_dns_tcp_input()'s callback). */
enum zt_dns_tcp_answer {
	ZT_DNS_TCP_WHOLE = 0,       /* passed as it came */
	ZT_DNS_TCP_TRUNCATED = 1,   /* too large for the asker: header,
				     * question (the query's when the
				     * answer's cannot be copied, none when
				     * neither can) and the answer's OPT,
				     * TC set */
	ZT_DNS_TCP_UNMATCHED = 2,   /* no query of its ID and question was
				     * sent whole and waits (or a runt):
				     * dropped */
};

typedef void (*zt_dns_tcp_answer_fn)(void *user, const uint8_t *msg,
				     size_t len, enum zt_dns_tcp_answer how);

/*
 * zt_dns_tcp_input() - @len bytes from the connection (borrowed). For each
 * answer completed, @answer gets it (borrowed for the call: @scratch,
 * @scratch_cap bytes of the caller's, holds a truncated one) and how it
 * was passed; an unmatched one is dropped and reported with msg NULL.
 * Return: 0; -EPROTO for a zero length prefix (no DNS message is empty:
 * the connection is not speaking DNS); -ENOMEM.
 */
int zt_dns_tcp_input(struct zt_dns_tcp *d, const uint8_t *data, size_t len,
		     uint8_t *scratch, size_t scratch_cap,
		     zt_dns_tcp_answer_fn answer, void *user);

#endif /* ZTUN_DNS_TCP_H */
