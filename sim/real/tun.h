/* SPDX-License-Identifier: MIT */
/*
 * tun.h - the Linux TUN driver behind the shared TUN ops table
 * (sim/io/tun_driver.h, the seed's TunDevice: read, write, name, ifindex,
 * close).
 *
 * Theory of operation: the event loop only ever moves packets through a
 * struct zt_tun_driver, so another device plugs in without touching the
 * loop; it needs the descriptor (zr_tun.fd, always non-blocking) only to
 * poll it. Packets are raw IP (no packet-information header). The driver
 * (tun_linux.c) either creates the device itself through /dev/net/tun, or
 * adopts a descriptor inherited from its parent and configures nothing.
 */
#ifndef ZTUN_REAL_TUN_H
#define ZTUN_REAL_TUN_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "io/tun_driver.h"

/* The Linux driver's context (the ctx of its struct zt_tun_driver). */
struct zr_tun {
	int fd;                      /* non-blocking; -1 once closed */
	bool inherited;              /* adopted with zr_tun_adopt_fd() */
	size_t vnet_len;             /* virtio-net header per packet, 0: none */
	bool offload;                /* the kernel sends TSO segments and
				      * partial checksums (TUNSETOFFLOAD) */
	bool uso;                    /* ... and whole UDP_SEGMENT sends (USO) */
	bool no_uso;                 /* the kernel refused a UDP GSO write */
	bool existed;                /* the device was there already
				      * (persistent): attached, not created */
	bool persist;                /* made persistent (ZR_TUN_PERSIST):
				      * made not persistent again at close */
	unsigned index;
	char ifname[IF_NAMESIZE];
};

/* The ops of the Linux driver; ctx is a struct zr_tun. */
extern const struct zt_tun_driver_ops zr_tun_linux_ops;

/* @t as a driver (borrowed: @t must outlive it). */
static inline struct zt_tun_driver zr_tun_driver(struct zr_tun *t)
{
	struct zt_tun_driver d = { .ops = &zr_tun_linux_ops, .ctx = t };

	return d;
}

/* Flags for zr_tun_create(). */
enum {
	ZR_TUN_MULTI_QUEUE = 1u << 0, /* IFF_MULTI_QUEUE */
	/* IFF_VNET_HDR with TSO/GSO and checksum offload both ways: reads
	 * may be TCP segments of up to 64 KiB with a partial checksum
	 * (ZT_INPUT_CSUM_VALID), write_gso hands the kernel 64 KiB segments
	 * to cut. Falls back to plain packets when the kernel refuses. */
	ZR_TUN_OFFLOAD = 1u << 1,
	/* TUNSETPERSIST: the device outlives the process should it die (the
	 * kill switch); zr_tun_linux_ops.close clears it again, so a clean
	 * close still removes the device. */
	ZR_TUN_PERSIST = 1u << 2,
};

/*
 * zr_tun_create() - create (or attach to) TUN interface @name through
 * /dev/net/tun with IFF_TUN | IFF_NO_PI (| IFF_VNET_HDR with
 * ZR_TUN_OFFLOAD). Nothing is configured: see
 * netlink.h for addresses, MTU and link state.
 * @t: filled on success (close with zr_tun_linux_ops.close)
 * @name: interface name, at most IF_NAMESIZE - 1 bytes (borrowed)
 * @flags: ZR_TUN_*
 * Return: 0, or a negative errno (-EPERM/-EACCES without CAP_NET_ADMIN,
 * -ENOENT when /dev/net/tun is missing, -EBUSY when @name is in use).
 */
int zr_tun_create(struct zr_tun *t, const char *name, unsigned flags);

/*
 * zr_tun_close_failed() - close @t after a start that failed. A device
 * that was there already (@t->existed: persistent, as a --kill-switch run
 * that died leaves it) stays persistent, as it was found, the kill
 * switch with it; one created here goes, as zr_tun_linux_ops.close lets
 * it. Return: whether the device stays.
 */
bool zr_tun_close_failed(struct zr_tun *t);

/*
 * zr_tun_adopt_fd() - use inherited descriptor @fd as is (it stays the
 * caller's to have opened; @t closes it). The name and index are asked of
 * the kernel (TUNGETIFF) when possible and left empty otherwise; a
 * descriptor opened with IFF_VNET_HDR is read and written with its
 * headers (and TSO used when its offloads are on).
 * Return: 0 or a negative errno (-EBADF when @fd is not open).
 */
int zr_tun_adopt_fd(struct zr_tun *t, int fd);

#endif /* ZTUN_REAL_TUN_H */
