// SPDX-License-Identifier: MIT
/*
 * tun_pcap.c - a TUN driver that reads one capture and writes another.
 *
 * Theory of operation: see tun_pcap.h. read pulls records from the
 * pcap_io reader until one holds a whole IP packet (snapped ones are
 * skipped and counted) and copies it out; write stamps a packet with the
 * host's clock (or the last capture time read) and hands it to the
 * pcap_io writer. Failures of the writer are remembered so that
 * zt_tun_pcap_free() reports them even though write itself cannot. After
 * close both ops return -EBADF.
 */
#include "io/tun_pcap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/pcap_io.h"

struct zt_tun_pcap {
	struct zt_pcap_reader *in;   /* owned, NULL when none or closed */
	struct zt_pcap_writer *out;  /* owned, NULL when none or closed */
	char name[32];
	unsigned ifindex;
	uint64_t (*clock)(void *arg);
	void *clock_arg;             /* borrowed */
	uint64_t last_ts;            /* capture time of the last packet read */
	bool closed;
	bool io_error;               /* a write or the flush failed */
	struct zt_tun_pcap_stats stats;
};

static ssize_t tpcap_read(void *ctx, void *buf, size_t len, uint64_t *when,
			  unsigned *flags)
{
	struct zt_tun_pcap *p = ctx;
	struct zt_pcap_record rec;
	int rc;

	if (flags)
		*flags = 0; /* captured packets are checked like any other */
	if (p->closed)
		return -EBADF;
	if (!p->in)
		return -ENODATA;
	for (;;) {
		rc = zt_pcap_read_next(p->in, &rec);
		if (rc < 0)
			return -EIO;
		if (rc == 0)
			return -ENODATA;
		if (rec.len < rec.orig_len) {
			p->stats.snapped++;
			continue;
		}
		break;
	}
	p->last_ts = rec.ts_ns;
	if (rec.len > len) {
		p->stats.too_big++;
		return -EMSGSIZE;
	}
	memcpy(buf, rec.data, rec.len);
	if (when)
		*when = rec.ts_ns;
	p->stats.read++;
	p->stats.read_bytes += rec.len;
	return (ssize_t)rec.len;
}

static ssize_t tpcap_write(void *ctx, const void *pkt, size_t len)
{
	struct zt_tun_pcap *p = ctx;
	uint64_t ts;
	int rc;

	if (p->closed)
		return -EBADF;
	if (p->out) {
		ts = p->clock ? p->clock(p->clock_arg) : p->last_ts;
		rc = zt_pcap_write(p->out, ts, pkt, len);
		if (rc == -EINVAL)
			return -EMSGSIZE;
		if (rc) {
			p->io_error = true;
			p->stats.write_errors++;
			return rc;
		}
	}
	p->stats.written++;
	p->stats.written_bytes += len;
	return (ssize_t)len;
}

static const char *tpcap_name(const void *ctx)
{
	const struct zt_tun_pcap *p = ctx;

	return p->name;
}

static unsigned tpcap_ifindex(const void *ctx)
{
	const struct zt_tun_pcap *p = ctx;

	return p->ifindex;
}

static void tpcap_close(void *ctx)
{
	struct zt_tun_pcap *p = ctx;

	if (p->closed)
		return;
	p->closed = true;
	if (p->in)
		zt_pcap_close_read(p->in);
	if (p->out && zt_pcap_close_write(p->out))
		p->io_error = true;
	p->in = NULL;
	p->out = NULL;
}

static const struct zt_tun_driver_ops tpcap_ops = {
	.read = tpcap_read,
	.write = tpcap_write,
	.name = tpcap_name,
	.ifindex = tpcap_ifindex,
	.close = tpcap_close,
};

/**
 * zt_tun_pcap_open() - see tun_pcap.h.
 * @cfg:    the files and identity (borrowed)
 * @out:    the driver, owned by the caller (zt_tun_pcap_free())
 * @drv:    filled with &tpcap_ops and the driver
 * @err:    message on failure
 * @errlen: room in @err
 *
 * Return: 0 or a negative errno.
 */
int zt_tun_pcap_open(const struct zt_tun_pcap_config *cfg,
		     struct zt_tun_pcap **out, struct zt_tun_driver *drv,
		     char *err, size_t errlen)
{
	struct zt_tun_pcap *p = calloc(1, sizeof(*p));
	int rc;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(p->name, sizeof(p->name), "%s", cfg->name ? cfg->name : "pcap0");
	p->ifindex = cfg->ifindex;
	p->clock = cfg->clock;
	p->clock_arg = cfg->clock_arg;
	if (cfg->input) {
		rc = zt_pcap_open_read(cfg->input, &p->in, err, errlen);
		if (rc) {
			free(p);
			return rc;
		}
	}
	if (cfg->output) {
		rc = zt_pcap_open_write(cfg->output, &p->out, err, errlen);
		if (rc) {
			if (p->in)
				zt_pcap_close_read(p->in);
			free(p);
			return rc;
		}
	}
	*out = p;
	drv->ops = &tpcap_ops;
	drv->ctx = p;
	return 0;
}

/**
 * zt_tun_pcap_free() - close and free @p.
 * @p: may be NULL
 *
 * Return: 0, or -EIO when anything written was lost.
 */
int zt_tun_pcap_free(struct zt_tun_pcap *p)
{
	int rc;

	if (!p)
		return 0;
	tpcap_close(p);
	rc = p->io_error ? -EIO : 0;
	free(p);
	return rc;
}

const struct zt_tun_pcap_stats *zt_tun_pcap_stats(const struct zt_tun_pcap *p)
{
	return &p->stats;
}
