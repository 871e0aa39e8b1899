/* SPDX-License-Identifier: MIT */
/*
 * tun_driver.h - a TUN device behind a small ops table (the seed's
 * TunDevice): read, write, name, ifindex, close, and the driver's context.
 *
 * Theory of operation:
 *
 * A host moves raw IP packets (no packet-information header) between a TUN
 * device and the core: what it reads goes to zt_router_tun_input(), what the
 * core emits through its tun_output callback is written. The host sees
 * only a struct zt_tun_driver, so the device behind it can be swapped:
 *
 *   vtun      sim/engine/vtun.h: the simulator's virtual wire; writes cross
 *             a struct zt_link (seeded faults) to an emulated client host,
 *             and packets the client side injects are queued for read;
 *   pcap      sim/io/tun_pcap.h: read yields a capture's IP packets in
 *             order with their capture times; write appends to a capture;
 *   Linux     (real mode) /dev/net/tun or an inherited descriptor: the
 *             same ops over a non-blocking fd.
 *
 * Every op gets the driver's ctx first. Errors are negative errnos:
 *   -EAGAIN   read: nothing is waiting now (more may come later);
 *   -ENODATA  read: nothing will ever come again (a capture's end);
 *   -EMSGSIZE read: the next packet is larger than @len (it is consumed
 *             and lost, as a short read(2) of a TUN fd loses its tail);
 *             write: larger than the device takes;
 *   -EBADMSG  read: the device's own header for the packet (Linux's
 *             virtio-net header) is one it never makes: the packet is
 *             consumed and dropped;
 *   -EBADF    either, after close.
 *
 * Ownership: @pkt and @buf are the caller's, borrowed for the call only.
 * The ctx belongs to whoever created the driver; close() releases the
 * device (descriptor, files, queued packets) but never frees ctx itself,
 * which the creator's own free function does.
 *
 * This is host code; the core never calls it.
 */
#ifndef ZTUN_SIM_TUN_DRIVER_H
#define ZTUN_SIM_TUN_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ztun/stack.h"

/*
 * Read flags of a driver beyond the core's ZT_INPUT_* bits, for its host
 * only: the packet is a UDP GSO packet (the datagrams of one UDP_SEGMENT
 * send behind one IP and UDP header whose lengths cover them all), to be
 * cut every ZT_TUN_SEG_SIZE(flags) bytes of payload (sim/io/gso.h) before
 * the core sees it.
 */
#define ZT_TUN_UDP_GSO (1u << 15)
#define ZT_TUN_SEG_SIZE(flags) ((flags) >> 16)

struct zt_tun_driver_ops {
	/*
	 * read() - take one packet into @buf (@len bytes of room).
	 * @when: may be NULL; a driver that knows when the packet arrived
	 *        sets it (pcap: capture time; vtun: the virtual time it was
	 *        delivered), others leave it unchanged
	 * @flags: may be NULL; set to the ZT_INPUT_* flags (ztun/stack.h) the
	 *        device gave the packet (0 from drivers that give none)
	 * Return: the packet's length, or a negative errno (above).
	 */
	ssize_t (*read)(void *ctx, void *buf, size_t len, uint64_t *when,
			unsigned *flags);
	/* write() - send one packet (borrowed). Return: @len or a negative
	 * errno; a packet the device loses on its way (a dropping link) still
	 * counts as written, as with a real TUN. */
	ssize_t (*write)(void *ctx, const void *pkt, size_t len);
	/* The interface name (owned by the driver), "" when it has none. */
	const char *(*name)(const void *ctx);
	/* The interface index, 0 when it has none. */
	unsigned (*ifindex)(const void *ctx);
	/* Close the device: read and write return -EBADF afterwards. Safe to
	 * call twice. */
	void (*close)(void *ctx);
	/* Optional: write one TSO segment (stack.h, tun_output_gso; in
	 * parts, borrowed) that the device cuts into pieces of @seg_size data
	 * bytes itself. NULL when the device cannot; the host then cuts it
	 * (io/gso.h). */
	ssize_t (*write_gso)(void *ctx, const struct zt_pkt_parts *pkt,
			     uint32_t seg_size);
};

struct zt_tun_driver {
	const struct zt_tun_driver_ops *ops; /* static, borrowed */
	void *ctx;                           /* the driver's, borrowed */
};

static inline ssize_t zt_tun_read(const struct zt_tun_driver *d, void *buf,
				  size_t len, uint64_t *when)
{
	return d->ops->read(d->ctx, buf, len, when, NULL);
}

static inline ssize_t zt_tun_read_flags(const struct zt_tun_driver *d,
					void *buf, size_t len, uint64_t *when,
					unsigned *flags)
{
	return d->ops->read(d->ctx, buf, len, when, flags);
}

static inline ssize_t zt_tun_write(const struct zt_tun_driver *d,
				   const void *pkt, size_t len)
{
	return d->ops->write(d->ctx, pkt, len);
}

static inline const char *zt_tun_name(const struct zt_tun_driver *d)
{
	return d->ops->name(d->ctx);
}

static inline unsigned zt_tun_ifindex(const struct zt_tun_driver *d)
{
	return d->ops->ifindex(d->ctx);
}

static inline void zt_tun_close(const struct zt_tun_driver *d)
{
	d->ops->close(d->ctx);
}

#endif /* ZTUN_SIM_TUN_DRIVER_H */
