// SPDX-License-Identifier: MIT
/*
 * vtun.c - a virtual TUN device: two zt_links and a receive queue.
 *
 * Theory of operation: see vtun.h. The receive queue is a singly linked
 * FIFO of one allocation per packet (header and bytes together), filled by
 * the to_core link's deliver callback and emptied by the driver's read op.
 * The to_client link's deliver callback forwards straight to the client
 * callback. After close() the links stay (packets in flight still reach the
 * client, as frames on a wire would) but read and write fail with -EBADF,
 * injected packets are refused and the queue is emptied.
 */
#include "engine/vtun.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vtun_pkt {
	struct vtun_pkt *next;
	uint64_t when;       /* virtual time it arrived */
	size_t len;
	uint8_t data[];
};

struct zt_vtun {
	struct zt_sim *sim;                /* borrowed */
	struct zt_vtun_config cfg;
	struct zt_link to_client, to_core; /* owned */
	zt_vtun_client_fn client;
	void *client_ctx;                  /* borrowed */
	zt_vtun_readable_fn readable;
	void *readable_ctx;                /* borrowed */
	struct vtun_pkt *head, *tail;      /* rx queue, oldest first; owned */
	size_t pending;
	bool closed;
	struct zt_vtun_stats stats;
};

/**
 * zt_vtun_config_default() - a 1000-packet queue and two perfect wires.
 * @cfg: filled
 */
void zt_vtun_config_default(struct zt_vtun_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->name, sizeof(cfg->name), "vtun0");
	cfg->ifindex = 1;
	cfg->rx_queue = 1000;
}

static void deliver_client(void *arg, const uint8_t *pkt, size_t len)
{
	struct zt_vtun *vt = arg;

	vt->stats.delivered++;
	if (vt->client)
		vt->client(vt->client_ctx, pkt, len);
}

static void deliver_core(void *arg, const uint8_t *pkt, size_t len)
{
	struct zt_vtun *vt = arg;
	struct vtun_pkt *p;

	if (vt->closed)
		return;
	if (vt->pending >= vt->cfg.rx_queue) {
		vt->stats.queue_drops++;
		return;
	}
	p = malloc(sizeof(*p) + (len ? len : 1));
	if (!p) {
		vt->stats.queue_drops++;
		return;
	}
	p->next = NULL;
	p->when = zt_sim_now(vt->sim);
	p->len = len;
	memcpy(p->data, pkt, len);
	if (vt->tail)
		vt->tail->next = p;
	else
		vt->head = p;
	vt->tail = p;
	vt->pending++;
	vt->stats.queued++;
	if (vt->readable)
		vt->readable(vt->readable_ctx, vt);
}

static void queue_flush(struct zt_vtun *vt)
{
	while (vt->head) {
		struct vtun_pkt *p = vt->head;

		vt->head = p->next;
		free(p);
	}
	vt->tail = NULL;
	vt->pending = 0;
}

/**
 * zt_vtun_new() - see vtun.h.
 * @sim:        the loop (borrowed, outlives the vtun)
 * @cfg:        copied; NULL for zt_vtun_config_default()
 * @client:     the client side's receive callback (may be NULL: packets
 *              are then counted and discarded)
 * @client_ctx: borrowed
 *
 * Return: the vtun (free with zt_vtun_free()) or NULL.
 */
struct zt_vtun *zt_vtun_new(struct zt_sim *sim, const struct zt_vtun_config *cfg,
			    zt_vtun_client_fn client, void *client_ctx)
{
	struct zt_vtun *vt = calloc(1, sizeof(*vt));

	if (!vt)
		return NULL;
	if (cfg)
		vt->cfg = *cfg;
	else
		zt_vtun_config_default(&vt->cfg);
	vt->cfg.name[sizeof(vt->cfg.name) - 1] = '\0';
	vt->sim = sim;
	vt->client = client;
	vt->client_ctx = client_ctx;
	if (zt_link_init(&vt->to_client, sim, &vt->cfg.to_client,
			 deliver_client, vt) ||
	    zt_link_init(&vt->to_core, sim, &vt->cfg.to_core, deliver_core, vt)) {
		free(vt);
		return NULL;
	}
	return vt;
}

/**
 * zt_vtun_free() - destroy both links (packets in flight are dropped, no
 * callback runs) and the queue, then the vtun.
 * @vt: may be NULL
 */
void zt_vtun_free(struct zt_vtun *vt)
{
	if (!vt)
		return;
	zt_link_destroy(&vt->to_client);
	zt_link_destroy(&vt->to_core);
	queue_flush(vt);
	free(vt);
}

void zt_vtun_set_readable(struct zt_vtun *vt, zt_vtun_readable_fn fn, void *ctx)
{
	vt->readable = fn;
	vt->readable_ctx = ctx;
}

/**
 * zt_vtun_inject() - see vtun.h; the copy belongs to the to_core link.
 * @vt:  the device
 * @pkt: borrowed
 * @len: bytes of @pkt
 *
 * Return: 0 or a negative errno.
 */
int zt_vtun_inject(struct zt_vtun *vt, const uint8_t *pkt, size_t len)
{
	int err;

	if (vt->closed)
		return -EBADF;
	if (len > ZT_VTUN_MAX_PKT) {
		vt->stats.too_big++;
		return -EMSGSIZE;
	}
	err = zt_link_send(&vt->to_core, pkt, len);
	if (err)
		return err;
	vt->stats.injected++;
	vt->stats.injected_bytes += len;
	return 0;
}

size_t zt_vtun_rx_pending(const struct zt_vtun *vt)
{
	return vt->pending;
}

const struct zt_vtun_stats *zt_vtun_stats(const struct zt_vtun *vt)
{
	return &vt->stats;
}

struct zt_link *zt_vtun_link_to_client(struct zt_vtun *vt)
{
	return &vt->to_client;
}

struct zt_link *zt_vtun_link_to_core(struct zt_vtun *vt)
{
	return &vt->to_core;
}

/* --- the driver ops ---------------------------------------------------- */

static ssize_t vtun_read(void *ctx, void *buf, size_t len, uint64_t *when,
			 unsigned *flags)
{
	struct zt_vtun *vt = ctx;
	struct vtun_pkt *p = vt->head;
	ssize_t ret;

	if (flags)
		*flags = 0; /* the virtual wire vouches for nothing */
	if (vt->closed)
		return -EBADF;
	if (!p)
		return -EAGAIN;
	vt->head = p->next;
	if (!vt->head)
		vt->tail = NULL;
	vt->pending--;
	if (p->len > len) {
		ret = -EMSGSIZE;
	} else {
		memcpy(buf, p->data, p->len);
		ret = (ssize_t)p->len;
		if (when)
			*when = p->when;
		vt->stats.read++;
		vt->stats.read_bytes += p->len;
	}
	free(p);
	return ret;
}

static ssize_t vtun_write(void *ctx, const void *pkt, size_t len)
{
	struct zt_vtun *vt = ctx;
	int err;

	if (vt->closed)
		return -EBADF;
	if (len > ZT_VTUN_MAX_PKT) {
		vt->stats.too_big++;
		return -EMSGSIZE;
	}
	err = zt_link_send(&vt->to_client, pkt, len);
	if (err == -ENOMEM)
		return -ENOBUFS;
	vt->stats.written++;
	vt->stats.written_bytes += len;
	return (ssize_t)len;
}

static const char *vtun_name(const void *ctx)
{
	const struct zt_vtun *vt = ctx;

	return vt->cfg.name;
}

static unsigned vtun_ifindex(const void *ctx)
{
	const struct zt_vtun *vt = ctx;

	return vt->cfg.ifindex;
}

static void vtun_close(void *ctx)
{
	struct zt_vtun *vt = ctx;

	vt->closed = true;
	queue_flush(vt);
}

static const struct zt_tun_driver_ops vtun_ops = {
	.read = vtun_read,
	.write = vtun_write,
	.name = vtun_name,
	.ifindex = vtun_ifindex,
	.close = vtun_close,
};

/**
 * zt_vtun_driver() - the core's view of @vt.
 * @vt:  the device (must outlive every use of @drv)
 * @drv: filled
 */
void zt_vtun_driver(struct zt_vtun *vt, struct zt_tun_driver *drv)
{
	drv->ops = &vtun_ops;
	drv->ctx = vt;
}
