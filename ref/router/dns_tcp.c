/* SPDX-License-Identifier: MIT */
/*
 * dns_tcp.c - DNS over TCP framing for UDP queries (RFC 7766, RFC 1035
 * 4.2.2).
 *
 * Theory of operation: a query is taken whole or not at all (its length
 * prefix and bytes go into the buffer together), so the stream never
 * carries half a message. The buffer holds every query not yet answered,
 * framed, oldest first, with a cursor at what was sent; each query's ID,
 * its sender's UDP size and its length wait in a small table in the same
 * order, with the length of its question (whose bytes stay in the
 * buffer). A query is told by its ID and question together: a client may
 * send another question under an ID that waits (the ID is only unique
 * per socket and in flight, and some stubs reuse one), and taking it for
 * a retry would answer it with the first question's answer. An answer
 * goes to the oldest waiting query of its ID whose question it repeats
 * (names compared without case: RFC 4343), else to the oldest of its
 * ID where either has no question to read (a FORMERR may carry none, a
 * DNS cookie query asks none). It removes its
 * query from both (bytes after it move down, the cursor with them) and
 * goes to the caller, whole or, when larger than that size, truncated.
 * An answer matching no waiting query, or whose query was not sent whole
 * (no server could answer it), is dropped: the connection answers only
 * what was asked on it, and a forged or stale answer must not reach the
 * client's socket. A retry of a query that waits (same ID and question)
 * is not framed again: TCP does not lose the first.
 * When the connection goes, rewinding the cursor sends the waiting ones
 * again on the next. The answer being read is kept in a buffer allocated
 * for its announced length (at most 65535 bytes) and freed once passed,
 * and the queries' buffer is taken with the first query and freed with
 * the last answer, so an idle framer (kept by its flow for the flow's
 * idle timeout after every lookup) holds neither.
 */
#include "ztun/dns_tcp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ztun/dns_wire.h"

void zt_dns_tcp_init(struct zt_dns_tcp *d)
{
	memset(d, 0, sizeof(*d));
}

void zt_dns_tcp_destroy(struct zt_dns_tcp *d)
{
	free(d->msg);
	d->msg = NULL;
	free(d->out);
	d->out = NULL;
}

/* The question of pending query @i, which starts at @off of out. */
static struct zt_view pending_question(const struct zt_dns_tcp *d, unsigned i,
				       size_t off)
{
	return zt_view_make(d->out + off + 2 + ZT_DNS_HDR, d->pending[i].qlen);
}

/* Whether pending query @i at @off of out is @q, which asks @question
 * (len 0: none read): a retry. */
static bool same_query(const struct zt_dns_tcp *d, unsigned i, size_t off,
		       struct zt_view q, struct zt_view question)
{
	if (d->pending[i].id != zt_rd16(q.data) ||
	    !d->pending[i].qlen != !question.len)
		return false;
	if (!question.len) /* nothing to tell them apart but their bytes */
		return d->pending[i].len == q.len + 2 &&
		       memcmp(d->out + off + 2, q.data, q.len) == 0;
	return zt_dns_question_eq(pending_question(d, i, off), question);
}

bool zt_dns_tcp_is_query(const uint8_t *q, size_t len)
{
	return len >= ZT_DNS_HDR && !(q[2] & 0x80);
}

int zt_dns_tcp_query(struct zt_dns_tcp *d, const uint8_t *q, size_t len)
{
	return zt_dns_tcp_query_limit(d, q, len, 0);
}

int zt_dns_tcp_query_limit(struct zt_dns_tcp *d, const uint8_t *q,
			   size_t len, unsigned limit)
{
	struct zt_view v = zt_view_make(q, len), question;
	size_t off = 0;

	if (!zt_dns_tcp_is_query(q, len))
		return -EINVAL;
	if (!limit || limit > 65535)
		limit = limit ? 65535 : zt_dns_udp_limit(v);
	if (zt_dns_question(v, &question))
		question = zt_view_make(q, 0);
	for (unsigned i = 0; i < d->n_pending; off += d->pending[i].len, i++) {
		if (same_query(d, i, off, v, question)) {
			d->pending[i].limit = (uint16_t)limit;
			return 0;
		}
	}
	if (len + 2 > ZT_DNS_TCP_OUT_MAX - d->out_len ||
	    d->n_pending == ZT_DNS_TCP_PENDING)
		return -ENOBUFS;
	if (!d->out && !(d->out = malloc(ZT_DNS_TCP_OUT_MAX)))
		return -ENOMEM;
	d->pending[d->n_pending].id = zt_rd16(q);
	d->pending[d->n_pending].limit = (uint16_t)limit;
	d->pending[d->n_pending].len = (uint16_t)(len + 2);
	d->pending[d->n_pending].qlen = (uint16_t)question.len;
	d->n_pending++;
	zt_wr16(d->out + d->out_len, (uint16_t)len);
	memcpy(d->out + d->out_len + 2, q, len);
	d->out_len += len + 2;
	return 0;
}

struct zt_view zt_dns_tcp_output(const struct zt_dns_tcp *d)
{
	if (!d->out)
		return zt_view_make(NULL, 0);
	return zt_view_make(d->out + d->out_sent, d->out_len - d->out_sent);
}

void zt_dns_tcp_sent(struct zt_dns_tcp *d, size_t n)
{
	if (n > d->out_len - d->out_sent)
		n = d->out_len - d->out_sent;
	d->out_sent += n;
}

bool zt_dns_tcp_waiting(const struct zt_dns_tcp *d)
{
	return d->n_pending > 0;
}

bool zt_dns_tcp_rewind(struct zt_dns_tcp *d)
{
	free(d->msg);
	d->msg = NULL;
	d->msg_len = d->msg_need = 0;
	d->prefix_len = 0;
	d->out_sent = 0;
	return d->n_pending > 0;
}

/* The query response @m (@len bytes, a header at least) answers: its
 * index, its offset in out at *@at; -1: none that was sent whole. */
static int find_pending(const struct zt_dns_tcp *d, const uint8_t *m,
			size_t len, size_t *at)
{
	struct zt_view question;
	uint16_t id = zt_rd16(m);

	if (zt_dns_question(zt_view_make(m, len), &question))
		question.len = 0; /* none to match: by ID alone */
	/* first the query of its ID and question; then, by the ID alone,
	 * the oldest where either side has no question to compare */
	for (int exact = question.len ? 1 : 0; exact >= 0; exact--) {
		size_t off = 0;

		for (unsigned i = 0; i < d->n_pending;
		     off += d->pending[i].len, i++) {
			bool both = question.len && d->pending[i].qlen;

			if (d->pending[i].id != id || (exact && !both) ||
			    (both && !zt_dns_question_eq(pending_question(d, i, off),
							 question)))
				continue;
			if (off + d->pending[i].len > d->out_sent)
				return -1; /* not sent whole: not asked yet */
			*at = off;
			return (int)i;
		}
	}
	return -1;
}

/* Pending query @i, at @off of out, answered: its entry and bytes gone. */
static void drop_pending(struct zt_dns_tcp *d, unsigned i, size_t off)
{
	size_t n = d->pending[i].len;

	memmove(d->out + off, d->out + off + n, d->out_len - off - n);
	d->out_len -= n;
	d->out_sent -= n;
	memmove(&d->pending[i], &d->pending[i + 1],
		(d->n_pending - i - 1) * sizeof(d->pending[0]));
	d->n_pending--;
	if (!d->n_pending) { /* idle: the room goes until the next query */
		free(d->out);
		d->out = NULL;
	}
}

/* The answer in d->msg is whole: pass it on, cut when too large for the
 * asker (with the query's question when its own cannot be copied). */
static void deliver(struct zt_dns_tcp *d, uint8_t *scratch, size_t scratch_cap,
		    zt_dns_tcp_answer_fn answer, void *user)
{
	const uint8_t *m = d->msg;
	size_t len = d->msg_len, off = 0;
	int i = len >= ZT_DNS_HDR && (m[2] & 0x80) ?
		find_pending(d, m, len, &off) : -1;

	if (i < 0) {
		answer(user, NULL, 0, ZT_DNS_TCP_UNMATCHED);
	} else if (len <= d->pending[i].limit) {
		drop_pending(d, (unsigned)i, off);
		answer(user, m, len, ZT_DNS_TCP_WHOLE);
	} else {
		int n = zt_dns_truncate(zt_view_make(m, len),
					zt_view_make(d->out + off + 2,
						     d->pending[i].len - 2u),
					scratch, d->pending[i].limit < scratch_cap ?
						 d->pending[i].limit : scratch_cap);
		drop_pending(d, (unsigned)i, off);
		if (n < 0)
			answer(user, NULL, 0, ZT_DNS_TCP_UNMATCHED);
		else
			answer(user, scratch, (size_t)n, ZT_DNS_TCP_TRUNCATED);
	}
	free(d->msg);
	d->msg = NULL;
	d->msg_len = d->msg_need = 0;
	d->prefix_len = 0;
}

int zt_dns_tcp_input(struct zt_dns_tcp *d, const uint8_t *data, size_t len,
		     uint8_t *scratch, size_t scratch_cap,
		     zt_dns_tcp_answer_fn answer, void *user)
{
	while (len) {
		size_t n;

		if (d->prefix_len < 2) {
			d->prefix[d->prefix_len++] = *data++;
			len--;
			if (d->prefix_len < 2)
				continue;
			d->msg_need = zt_rd16(d->prefix);
			if (!d->msg_need)
				return -EPROTO;
			d->msg = malloc(d->msg_need);
			if (!d->msg)
				return -ENOMEM;
			d->msg_len = 0;
			continue;
		}
		n = d->msg_need - d->msg_len;
		if (n > len)
			n = len;
		memcpy(d->msg + d->msg_len, data, n);
		d->msg_len += n;
		data += n;
		len -= n;
		if (d->msg_len == d->msg_need)
			deliver(d, scratch, scratch_cap, answer, user);
	}
	return 0;
}
