/* SPDX-License-Identifier: MIT */
/*
 * dgram_out.c - upstream datagrams held for one wake-up of the host's
 * loop, then sent as UDP_SEGMENT runs and sendmmsg() batches. Theory of operation in
 * dgram_out.h.
 */
#define _GNU_SOURCE /* sendmmsg */
#include "real/dgram_out.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/uio.h>

#include "real/log.h"

#define SEND_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL)

void zr_dgram_out_init(struct zr_dgram_out *o, struct zr_host_stats *stats)
{
	o->stats = stats;
	o->holding = false;
	o->n = 0;
	o->n_failed = 0;
	o->used = 0;
}

/* A full buffer loses the datagrams (UDP) but says nothing about the
 * socket's UDP_SEGMENT; any other failure of one does. */
static bool transient(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS ||
	       err == ENOMEM || err == EINTR;
}

/*
 * An ICMP error that reached a socket (Linux keeps it as the socket's
 * sk_err, with or without IP_RECVERR) fails the socket's next send call
 * with that error, and that call sends nothing; on loopback and on a veth
 * the error about one datagram arrives within its own send, before the
 * next datagram of a batch goes. The call also clears the error, so a
 * send that failed with one of these is made again, once: a failure of
 * its own fails the second time too.
 */
static bool maybe_stale(int err)
{
	return err == ECONNREFUSED || err == EHOSTUNREACH ||
	       err == ENETUNREACH || err == EHOSTDOWN || err == ENONET ||
	       err == EPROTO || err == ENOPROTOOPT || err == EACCES ||
	       err == EMSGSIZE;
}

/* sendmsg() of @m on @fd, made again once after a maybe_stale() error;
 * every call counted. */
static ssize_t send_msg(struct zr_dgram_out *o, int fd, const struct msghdr *m)
{
	ssize_t r;

	o->stats->dgram_send_calls++;
	r = sendmsg(fd, m, SEND_FLAGS);
	if (r < 0 && maybe_stale(errno)) {
		o->stats->dgram_send_calls++;
		r = sendmsg(fd, m, SEND_FLAGS);
	}
	return r;
}

static void lost(struct zr_dgram_out *o, int err, unsigned count)
{
	o->stats->dgram_send_errors += count;
	zr_debug("dgram: send: %s (%u datagram%s lost)", strerror(err), count,
		 count == 1 ? "" : "s");
}

/* Keep held datagram @d, lost to @err, for zr_dgram_out_take_failures(). */
static void keep_failure(struct zr_dgram_out *o, const struct zr_dgram_held *d,
			 int err)
{
	struct zr_dgram_fail *f;

	if (o->n_failed == ZR_DGRAM_OUT_FAILS)
		return;
	f = &o->failed[o->n_failed++];
	f->tag = d->tag;
	f->err = err;
	f->to_len = d->to_len;
	memcpy(&f->to, &d->to, d->to_len);
	f->len = (uint16_t)(d->len < ZR_DGRAM_FAIL_DATA ? d->len : ZR_DGRAM_FAIL_DATA);
	memcpy(f->data, o->buf + d->off, f->len);
}

unsigned zr_dgram_out_take_failures(struct zr_dgram_out *o,
				    struct zr_dgram_fail *out, unsigned max)
{
	unsigned n = o->n_failed < max ? o->n_failed : max;

	memcpy(out, o->failed, n * sizeof(*out));
	o->n_failed = 0;
	return n;
}

static bool same_dest(const struct zr_dgram_held *a,
		      const struct zr_dgram_held *b)
{
	return a->fd == b->fd && a->to_len == b->to_len &&
	       memcmp(&a->to, &b->to, a->to_len) == 0;
}

/* One datagram, @len bytes at @data to @to, as a message (@iov its
 * buffer's, the caller's). */
static struct msghdr msg_to(const struct sockaddr *to, socklen_t to_len,
			    const void *data, size_t len, struct iovec *iov)
{
	struct msghdr m;

	memset(&m, 0, sizeof(m));
	iov->iov_base = (void *)data;
	iov->iov_len = len;
	m.msg_name = (void *)to;
	m.msg_namelen = to_len;
	m.msg_iov = iov;
	m.msg_iovlen = 1;
	return m;
}

static struct msghdr msg_of(struct zr_dgram_out *o, struct zr_dgram_held *d,
			    struct iovec *iov)
{
	return msg_to((const struct sockaddr *)&d->to, d->to_len,
		      o->buf + d->off, d->len, iov);
}

/* @cnt held datagrams of one socket, one message each, with sendmmsg(). */
static void send_each(struct zr_dgram_out *o, struct zr_dgram_held **d,
		      unsigned cnt)
{
	struct mmsghdr mm[ZR_DGRAM_OUT_MAX];
	struct iovec iov[ZR_DGRAM_OUT_MAX];
	unsigned done = 0;
	bool again = false; /* d[done] failed once with maybe_stale() */

	for (unsigned i = 0; i < cnt; i++) {
		memset(&mm[i], 0, sizeof(mm[i]));
		mm[i].msg_hdr = msg_of(o, d[i], &iov[i]);
	}
	while (done < cnt) {
		int r = sendmmsg(d[0]->fd, mm + done, cnt - done, SEND_FLAGS);

		o->stats->dgram_send_calls++;
		if (r < 0) {
			int err = errno;

			/* the first one failed: a full buffer fails the rest
			 * as well, anything else only that one */
			if (transient(err)) {
				lost(o, err, cnt - done);
				return;
			}
			if (!again && maybe_stale(err)) {
				again = true;
				continue;
			}
			lost(o, err, 1);
			keep_failure(o, d[done], err);
			done++;
			again = false;
			continue;
		}
		o->stats->dgram_tx += (unsigned)r;
		done += (unsigned)r;
		again = false;
	}
}

/* @cnt (>= 2) datagrams of one size but the last, to one destination, as
 * one UDP_SEGMENT send. Return: true when the kernel took or lost them,
 * false when this socket cannot take such sends (then *gso_off is set). */
static bool send_gso(struct zr_dgram_out *o, struct zr_dgram_held **d,
		     unsigned cnt)
{
	struct iovec iov[ZR_DGRAM_OUT_GSO_SEGS];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl;
	struct msghdr m = msg_of(o, d[0], &iov[0]);
	struct cmsghdr *c;
	uint16_t seg = (uint16_t)d[0]->len;

	for (unsigned i = 1; i < cnt; i++) {
		iov[i].iov_base = o->buf + d[i]->off;
		iov[i].iov_len = d[i]->len;
	}
	m.msg_iovlen = cnt;
	memset(&ctl, 0, sizeof(ctl));
	m.msg_control = ctl.buf;
	m.msg_controllen = sizeof(ctl.buf);
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(seg));
	memcpy(CMSG_DATA(c), &seg, sizeof(seg));
	if (send_msg(o, d[0]->fd, &m) >= 0) {
		o->stats->dgram_tx += cnt;
		o->stats->dgram_gso_sends++;
		o->stats->dgram_gso_segs += cnt;
		return true;
	}
	if (transient(errno)) {
		lost(o, errno, cnt);
		return true;
	}
	zr_debug("dgram: UDP_SEGMENT: %s; sending one by one on this socket",
		 strerror(errno));
	*d[0]->gso_off = true;
	return false;
}

/* How many of @d[0..@cnt) go as one UDP_SEGMENT send: a run to one
 * destination, all of the first's size but a shorter last one. */
static unsigned gso_run(struct zr_dgram_held **d, unsigned cnt)
{
	uint32_t seg = d[0]->len, total = seg;
	unsigned k = 1;

	if (*d[0]->gso_off)
		return 1;
	while (k < cnt && k < ZR_DGRAM_OUT_GSO_SEGS && same_dest(d[0], d[k]) &&
	       d[k]->len <= seg && d[k]->len > 0 &&
	       total + d[k]->len <= ZR_DGRAM_OUT_GSO_BYTES) {
		total += d[k]->len;
		if (d[k++]->len < seg)
			break; /* only the last may be shorter */
	}
	return k;
}

/* The held datagrams of one socket, @d[0..@cnt), in order. */
static void send_socket(struct zr_dgram_out *o, struct zr_dgram_held **d,
			unsigned cnt)
{
	unsigned i = 0, each = 0; /* d[each..i) wait for send_each */

	while (i < cnt) {
		unsigned run = gso_run(d + i, cnt - i);

		if (run < 2) {
			i++;
			continue;
		}
		if (each < i)
			send_each(o, d + each, i - each);
		if (!send_gso(o, d + i, run)) {
			each = i; /* one by one, with what follows */
			continue;
		}
		i += run;
		each = i;
	}
	if (each < cnt)
		send_each(o, d + each, cnt - each);
}

void zr_dgram_out_flush(struct zr_dgram_out *o)
{
	struct zr_dgram_held *order[ZR_DGRAM_OUT_MAX];
	unsigned n = o->n < ZR_DGRAM_OUT_MAX ? o->n : ZR_DGRAM_OUT_MAX, i = 0;

	for (unsigned k = 0; k < n; k++)
		order[k] = &o->held[k];
	/* insertion sort by socket: stable, so each socket's datagrams
	 * keep their order */
	for (unsigned k = 1; k < n; k++) {
		struct zr_dgram_held *d = order[k];
		unsigned j = k;

		for (; j > 0 && order[j - 1]->fd > d->fd; j--)
			order[j] = order[j - 1];
		order[j] = d;
	}
	while (i < n) {
		unsigned j = i + 1;

		while (j < n && order[j]->fd == order[i]->fd)
			j++;
		send_socket(o, order + i, j - i);
		i = j;
	}
	o->n = 0;
	o->used = 0;
}

void zr_dgram_out_hold(struct zr_dgram_out *o)
{
	o->holding = true;
}

void zr_dgram_out_release(struct zr_dgram_out *o)
{
	zr_dgram_out_flush(o);
	o->holding = false;
}

int zr_dgram_out_send(struct zr_dgram_out *o, int fd, bool *gso_off,
		      uint64_t tag, const struct sockaddr *to,
		      socklen_t to_len, const void *data, size_t len)
{
	struct zr_dgram_held *d;
	struct msghdr m;
	struct iovec iov;

	if (o->holding && len <= ZR_DGRAM_OUT_BYTES &&
	    to_len <= sizeof(d->to)) {
		if (o->n == ZR_DGRAM_OUT_MAX ||
		    len > ZR_DGRAM_OUT_BYTES - o->used)
			zr_dgram_out_flush(o);
		d = &o->held[o->n++];
		d->tag = tag;
		d->fd = fd;
		d->gso_off = gso_off;
		d->off = o->used;
		d->len = (uint32_t)len;
		d->to_len = to_len;
		memcpy(&d->to, to, to_len);
		memcpy(o->buf + o->used, data, len);
		o->used += (uint32_t)len;
		return 0;
	}
	if (o->n)
		zr_dgram_out_flush(o); /* what was held goes first */
	m = msg_to(to, to_len, data, len, &iov);
	if (send_msg(o, fd, &m) < 0) {
		int err = errno;

		o->stats->dgram_send_errors++;
		return -err;
	}
	o->stats->dgram_tx++;
	return 0;
}
