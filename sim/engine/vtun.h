/* SPDX-License-Identifier: MIT */
/*
 * vtun.h - a virtual TUN device on the simulator's event loop.
 *
 * Theory of operation:
 *
 * A vtun has two sides. The core's side is a struct zt_tun_driver
 * (sim/io/tun_driver.h), exactly what a host would hold for a real device.
 * The client side is the simulated machine behind the TUN (emulated
 * applications, usually zt_tcb endpoints). Between them run two struct
 * zt_link wires, so the link faults (drop, duplicate, reorder, corrupt,
 * rate limit, all seeded by the loop) apply both ways:
 *
 *   core  --write-->  link "to_client"  --deliver-->  client callback
 *   core  <--read---  rx queue  <--  link "to_core"  <--  zt_vtun_inject()
 *
 * A packet the core writes is copied onto the to_client link and handed to
 * the client callback when the link delivers it (always through an event,
 * never from inside write). A packet the client injects crosses the
 * to_core link; when it arrives it is queued (at most rx_queue packets, as
 * a device's transmit queue; beyond that it is dropped and counted) and the
 * readable callback, if set, is told, from that delivery event. The core's
 * read then takes the oldest queued packet, with the virtual time it
 * arrived.
 *
 * Nothing reads a clock but the loop's; every random choice is the loop's
 * generator, inside the links. Two vtuns on one loop are independent
 * devices (each with its own name and index), which is how several ztun
 * nodes live in one process.
 *
 * Ownership: the vtun owns its links, its queue and the packets in them;
 * zt_vtun_free() releases all of it (packets still in flight are dropped).
 * The loop is borrowed and must outlive the vtun.
 *
 * This is host code; it is not part of the pure core.
 */
#ifndef ZTUN_SIM_VTUN_H
#define ZTUN_SIM_VTUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/evloop.h"
#include "engine/link.h"
#include "io/tun_driver.h"

#define ZT_VTUN_MAX_PKT 65535u /* largest packet either side takes */

struct zt_vtun_config {
	char name[16];                /* interface name ("vtun0") */
	unsigned ifindex;             /* interface index (1) */
	struct zt_link_cfg to_client; /* core -> client wire (no faults, 0 latency) */
	struct zt_link_cfg to_core;   /* client -> core wire (likewise) */
	size_t rx_queue;              /* packets waiting for read (1000) */
};

void zt_vtun_config_default(struct zt_vtun_config *cfg);

struct zt_vtun_stats {
	uint64_t written, written_bytes;   /* core writes taken */
	uint64_t injected, injected_bytes; /* client packets taken */
	uint64_t queued;                   /* arrived in the rx queue */
	uint64_t queue_drops;              /* rx queue full */
	uint64_t read, read_bytes;         /* packets the core read */
	uint64_t delivered;                /* packets handed to the client */
	uint64_t too_big;                  /* write/inject over ZT_VTUN_MAX_PKT */
};

struct zt_vtun;

/* A packet for the client side (borrowed for the call). */
typedef void (*zt_vtun_client_fn)(void *ctx, const uint8_t *pkt, size_t len);
/* The core's read would now return a packet. */
typedef void (*zt_vtun_readable_fn)(void *ctx, struct zt_vtun *vt);

/*
 * zt_vtun_new() - a virtual TUN on @sim (borrowed).
 * @cfg:    copied; NULL for the defaults
 * @client: receives every packet the core writes, once the link delivers
 *          it; @client_ctx is borrowed
 * Return: the vtun, or NULL (no memory, or a link config zt_link_init()
 * refuses).
 */
struct zt_vtun *zt_vtun_new(struct zt_sim *sim, const struct zt_vtun_config *cfg,
			    zt_vtun_client_fn client, void *client_ctx);
void zt_vtun_free(struct zt_vtun *vt);

/* Who hears that the rx queue got a packet (NULL to stop hearing). */
void zt_vtun_set_readable(struct zt_vtun *vt, zt_vtun_readable_fn fn, void *ctx);

/* The core's side: @drv is filled with the vtun's ops and ctx. */
void zt_vtun_driver(struct zt_vtun *vt, struct zt_tun_driver *drv);

/*
 * zt_vtun_inject() - the client side sends @pkt (copied) toward the core.
 * Return: 0, -EMSGSIZE (over ZT_VTUN_MAX_PKT), -EBADF (closed) or -ENOMEM.
 */
int zt_vtun_inject(struct zt_vtun *vt, const uint8_t *pkt, size_t len);

/* Packets waiting for the core's read. */
size_t zt_vtun_rx_pending(const struct zt_vtun *vt);

const struct zt_vtun_stats *zt_vtun_stats(const struct zt_vtun *vt);
/* The wires, for their stats or zt_link_set_cfg() (borrowed). */
struct zt_link *zt_vtun_link_to_client(struct zt_vtun *vt);
struct zt_link *zt_vtun_link_to_core(struct zt_vtun *vt);

#endif /* ZTUN_SIM_VTUN_H */
